# mail_track_status: a message's state, opens, clicks and sources from the
# zone, as DESIGN.md's JSON; 404 when unknown; kept across a reload

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);

my $keys = keys_file();

my $http_config = <<"_EOC_";
    mail_track_zone zone=mt:1m;
    mail_track_spool \$TEST_NGINX_SERVROOT/spool flush=100ms;
    mail_track_keys $keys;
_EOC_

my $config = <<'_EOC_';
        location /o/ { mail_track_open; }
        location /c/ { mail_track_click; }
        location /u/ { mail_track_unsubscribe; }
        location /status/ { mail_track_status; }
        location = /st { mail_track_status; }
        location = /pm {
            mail_track_webhook postmark;
            mail_track_webhook_key s3cret;
        }
        location = /metrics { mail_track_metrics; }
_EOC_

my $n = MailTrack::Test->new(name => 'status', workers => 2,
                             http_config => $http_config, config => $config);
$n->start;

my $json = JSON::PP->new;

sub status { status_json($n, "/status/$_[0]") }

sub pm {
    my ($body) = @_;
    return $n->request('POST', '/pm',
                       headers => ['Content-Type', 'application/json',
                                   'Authorization',
                                   'Basic ' . encode_base64('p:s3cret', '')],
                       body => $body)->{status};
}

sub pm_event {
    my ($type, $mid, $at, %f) = @_;
    $f{id} //= 0;
    my %rec = (
        Delivery => qq("RecordType":"Delivery","DeliveredAt":"$at"),
        Bounce => qq("RecordType":"Bounce","Type":"HardBounce","ID":$f{id},)
                  . qq("BouncedAt":"$at","Details":"550 5.1.1 unknown"),
        SpamComplaint => qq("RecordType":"SpamComplaint","Type":"SpamComplaint",)
                  . qq("ID":$f{id},"BouncedAt":"$at"),
    );
    return '{' . $rec{$type} . qq(,"MessageID":"pm-$mid","Recipient":"a\@example.com",)
         . qq("Email":"a\@example.com","Metadata":{"mail_track_id":"$mid"}});
}

# --- every error is JSON ---------------------------------------------------------

sub error_ok {
    my ($r, $code, $error, $mid, $name) = @_;
    is $r->{status}, $code, "$name: $code";
    is $r->{headers}{'content-type'}, 'application/json',
       "$name: application/json";
    my $e = eval { $json->decode($r->{body} // '') };
    is_deeply $e, { error => $error, message_id => $mid },
       "$name: {\"error\":\"$error\",...}" or diag $r->{body};
}

my ($st, $s, $r) = status('never-seen');
error_ok($r, 404, 'not found', 'never-seen', 'an unknown message');
is $r->{body}, qq({"error":"not found","message_id":"never-seen"}\n),
   'the body, byte for byte';

error_ok($n->get('/status/'), 404, 'no message id', undef, 'no message id');
error_ok($n->get('/st'), 404, 'not found', 'st',
         'an exact location: the last segment');

$r = $n->request('POST', '/status/x', body => 'x');
error_ok($r, 405, 'method not allowed', 'x', 'POST');
is $r->{headers}{allow}, 'GET, HEAD', 'POST: Allow: GET, HEAD';

# (a bad escape never gets here: nginx refuses the request line itself)

$r = $n->request('HEAD', '/status/never-seen');
is $r->{status}, 404, 'HEAD of an unknown message: 404';
is $r->{headers}{'content-type'}, 'application/json', 'HEAD: application/json';
is $r->{body} // '', '', 'HEAD: no body';

# --- the tracking endpoints ----------------------------------------------

my $open = token('open', mid => 'm-1', rcpt => 'a@example.com');
my $click = token('click', mid => 'm-1', rcpt => 'a@example.com',
                  url => 'https://example.com/a?x="1"');

$n->get("/o/$open.gif", headers => { 'User-Agent' => 'Firefox/120' });
$n->get("/o/$open.gif", headers => { 'User-Agent' => 'Mozilla/5.0' });
$n->request('HEAD', "/o/$open.gif");
$n->get("/c/$click", headers => { 'User-Agent' => 'Firefox/120' });

($st, $s) = status('m-1');
is $st, 200, 'known after opens and a click';
is $s->{message_id}, 'm-1', 'message_id';
is $s->{recipient}, 'a@example.com', 'recipient';
is $s->{state}, undef, 'no delivery state from opens alone';
is $s->{opens}{count}, 3, 'three opens';
is $s->{opens}{machine}, 2, 'two by machines (Apple MPP look, HEAD)';
ok $s->{opens}{first_at} > 1.7e12 && $s->{opens}{first_at} <= $s->{opens}{last_at},
    'first_at and last_at in ms';
is $s->{clicks}{count}, 1, 'one click';
is $s->{clicks}{machine}, 0, 'by a person';
is $s->{clicks}{last_url}, 'https://example.com/a?x="1"', 'last_url, escaped in JSON';
is_deeply $s->{sources}, ['track'], 'sources';
is $s->{bounce}, undef, 'no bounce';

# --- the delivery state only moves forward; failures override ----------------

is pm(pm_event('Delivery', 'm-2', '2026-01-01T00:00:00Z')), 200, 'delivered';
($st, $s) = status('m-2');
is $s->{state}, 'delivered', 'state delivered';
is $s->{delivered_at}, 1767225600000, 'delivered_at';
is $s->{sent_at}, undef, 'sent_at unknown';

is pm(pm_event('Bounce', 'm-2', '2026-01-01T00:05:00Z', id => 7)), 200,
    'then a bounce';
($st, $s) = status('m-2');
is $s->{state}, 'bounced', 'a bounce overrides delivered';
is $s->{bounce}, 'hard', 'bounce class';

is pm(pm_event('SpamComplaint', 'm-2', '2026-01-01T00:09:00Z', id => 8)), 200,
    'then a complaint';
($st, $s) = status('m-2');
is $s->{state}, 'complained', 'a complaint overrides';
is $s->{complained_at}, 1767226140000, 'complained_at';

$open = token('open', mid => 'm-2', rcpt => 'a@example.com');
$n->get("/o/$open.gif", headers => { 'User-Agent' => 'Firefox/120' });
($st, $s) = status('m-2');
is_deeply $s->{sources}, ['postmark', 'track'], 'sources in name order';
is $s->{state}, 'complained', 'an open changes no state';

my $u = token('unsubscribe', mid => 'm-2');
is $n->request('POST', "/u/$u",
               headers => ['Content-Type', 'application/x-www-form-urlencoded'],
               body => 'List-Unsubscribe=One-Click')->{status}, 200,
    'unsubscribed';
($st, $s) = status('m-2');
ok $s->{unsubscribed_at}, 'unsubscribed_at';

# a message id with a slash and other bytes
my $odd = token('open', mid => 'a/b c"d', rcpt => 'x@example.com');
$n->get("/o/$odd.gif");
($st, $s) = status('a/b%20c%22d');
is $st, 200, 'a message id with a slash, a space and a quote';
is $s->{message_id}, 'a/b c"d', 'returned exactly';

# --- the same events in another order give the same answer ----------------------

# bounce ids are unique per bounce: each message gets its own
my $bounce_id = 100;

sub pm_rec {
    my ($mid, $rec, $rcpt) = @_;
    $rec =~ s/"ID":\d+/'"ID":' . $bounce_id++/e;
    $rcpt = $rcpt // 'o@example.com';
    $rcpt = $rcpt eq '' ? '' : qq("Recipient":"$rcpt","Email":"$rcpt",);
    return '{' . $rec . qq(,"MessageID":"pm-$mid",$rcpt)
         . qq("Metadata":{"mail_track_id":"$mid"}});
}

my @order_events = (
    [Delivery => q("RecordType":"Delivery","DeliveredAt":"2026-01-02T00:00:00Z")],
    [Soft => q("RecordType":"Bounce","Type":"SoftBounce","ID":21,)
             . q("BouncedAt":"2026-01-02T00:10:00Z","Details":"452 4.2.2 full")],
    [Hard => q("RecordType":"Bounce","Type":"HardBounce","ID":22,)
             . q("BouncedAt":"2026-01-02T00:05:00Z","Details":"550 5.1.1 unknown")],
    [Click1 => q("RecordType":"Click","ReceivedAt":"2026-01-02T01:00:00Z",)
               . q("OriginalLink":"https://example.com/b")],
    [Click2 => q("RecordType":"Click","ReceivedAt":"2026-01-02T01:00:00Z",)
               . q("OriginalLink":"https://example.com/a")],
    [Click3 => q("RecordType":"Click","ReceivedAt":"2026-01-02T00:30:00Z",)
               . q("OriginalLink":"https://example.com/z")],
    [Open => q("RecordType":"Open","ReceivedAt":"2026-01-02T00:20:00Z")],
);

my %body;
for my $run (['ord-a', [0 .. $#order_events]],
             ['ord-b', [reverse 0 .. $#order_events]],
             ['ord-c', [3, 1, 6, 0, 5, 2, 4]])
{
    my ($mid, $order) = @$run;
    is pm(pm_rec($mid, $order_events[$_][1])), 200,
       "$mid: $order_events[$_][0]" for @$order;
    my $r = $n->get("/status/$mid");
    is $r->{status}, 200, "$mid: known";
    ($body{$mid} = $r->{body}) =~ s/"message_id":"\Q$mid\E"/"message_id":"X"/;
}

is $body{'ord-b'}, $body{'ord-a'}, 'reversed: the same answer, byte for byte';
is $body{'ord-c'}, $body{'ord-a'}, 'shuffled: the same answer, byte for byte';
$s = $json->decode($body{'ord-a'});
is $s->{state}, 'bounced', 'state bounced';
is $s->{bounce}, 'soft', 'the latest bounce is shown (soft, at 00:10)';
is $s->{bounced_at}, 1767312600000, 'and its time';
is $s->{clicks}{last_url}, 'https://example.com/b',
   'of two latest clicks at once, the greater url';
is $s->{clicks}{count}, 3, 'three clicks';

# no recipient named: null
is pm(pm_rec('no-rcpt', $order_events[0][1], '')), 200,
   'a delivery without a recipient';
($st, $s) = status('no-rcpt');
is $st, 200, 'known';
ok exists $s->{recipient} && !defined $s->{recipient}, 'recipient null';

# a recipient that comes later than the message, longer than the room left
# beside the id: the state moves to a larger chunk and stays findable
my $roomy = 'r' x 90;
is pm(pm_rec($roomy, $order_events[0][1], '')), 200, 'a 90-byte id, no recipient';
is pm(pm_rec($roomy, $order_events[6][1], 'someone.with.a.long.name@example.com')),
   200, 'then an open naming a long recipient';
is pm(pm_rec($roomy, $order_events[3][1], 'a.shorter.one@example.com')), 200,
   'then a click naming another';
($st, $s) = status($roomy);
is $st, 200, 'still known';
is $s && $s->{recipient}, 'a.shorter.one@example.com', 'the least recipient';
is $s && $s->{opens}{count} + $s->{clicks}{count}, 2, 'with its open and click';
is $s && $s->{state}, 'delivered', 'and its delivery';

# --- ids as the client sent them: "//", "/./", "/../", escapes, a query ----------

for my $id ('a//b', 'a/./b', 'a/../b', '/lead', 'end/', 'q?x=1', 'pct%2Fx') {
    (my $path = $id) =~ s/([?%])/sprintf '%%%02X', ord $1/ge;
    is pm(pm_event('Delivery', $id, '2026-01-01T00:00:00Z')), 200,
       "an event for \"$id\"";
    ($st, $s) = status($path);
    is $st, 200, "\"$id\" asked as /status/$path";
    is $s && $s->{message_id}, $id, "\"$id\": its own status";
}

($st, $s) = status('a//b?format=x');
is $s && $s->{message_id}, 'a//b', 'the query string is not part of the id';
($st, $s) = status('%61%2f%2fb');
is $s && $s->{message_id}, 'a//b', 'percent-encoded, in either case';

# --- long ids: the whole id counts, up to 512 bytes ------------------------------

my $long_a = ('x' x 255) . 'A' . ('y' x 100);
my $long_b = ('x' x 255) . 'B' . ('y' x 100);
my $max = 'z' x 512;

for my $id ($long_a, $long_b, $max) {
    is pm(pm_event('Delivery', $id, '2026-01-01T00:00:00Z')), 200,
       'an event for an id of ' . length($id) . ' bytes';
}

($st, $s) = status($long_a);
is $st, 200, 'a 356-byte id';
is $s && $s->{message_id}, $long_a, 'answers its own status';
($st, $s) = status($long_b);
is $s && $s->{message_id}, $long_b,
   'and one sharing its first 255 bytes answers its own';
error_ok($n->get('/status/' . ('x' x 255) . 'C'), 404, 'not found',
         ('x' x 255) . 'C', 'a third sharing them is not found');

($st, $s) = status($max);
is $s && $s->{message_id}, $max, 'an id of 512 bytes';
error_ok($n->get("/status/${max}z"), 414, 'message id too long', "${max}z",
         'an id of 513 bytes');

# --- kept across a reload, counted in the metrics ---------------------------------

$n->reload;
($st, $s) = status('m-2');
is $s->{state}, 'complained', 'kept across a reload';

like $n->get('/metrics')->{body}, qr/^mail_track_status_entries 18$/m,
    'status entries in the metrics';

$n->quit;

# --- configuration ----------------------------------------------------------------

my $bad = MailTrack::Test->new(name => 'status-nozone', http_config => '',
                               config => 'location /s/ { mail_track_status; }');
my ($ok, $out) = $bad->start_fails;
ok $ok, 'mail_track_status without a zone refuses to start';
like $out, qr/"mail_track_status" and "mail_track_metrics" require "mail_track_zone"/,
    'and says why';

done_testing;
