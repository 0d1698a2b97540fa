# mail_track_webhook mandrill through the real nginx: the sample payload
# and its signature, X-Mandrill-Signature = base64(HMAC-SHA1(key,
# mail_track_webhook_url . "mandrill_events" . decoded value)), forged,
# missing and changed-byte signatures, a URL that differs, rotation,
# form decoding ('+', %20, %2b, a bad escape, an encoded name, extra
# fields), HEAD, batches (CRLFs, temp file, 1000 events), bodies (413,
# malformed, truncated, wrong content type, empty, non-UTF-8),
# duplicates, and every event mapped end to end.

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use MailTrack::Sign;
use JSON::PP ();
use Digest::SHA qw(hmac_sha1 hmac_sha256);
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time);

my $json = JSON::PP->new->canonical;

my $URL = 'https://hooks.example.com/mandrill';
my $key = hex_secret(11);
my $old = hex_secret(11);
my $new = hex_secret(11);

# the published sample and a signature made with the openssl CLI
# (t/unit/test_mandrill.c): key TEST_WEBHOOK_KEY, the URL above
my $sample = '[{"event":"send","msg":{"ts":1365109999,"subject":'
    . '"This an example webhook message","email":'
    . '"example.webhook@mandrillapp.com","sender":'
    . '"example.sender@mandrillapp.com","tags":["webhook-example"],'
    . '"opens":[],"clicks":[],"state":"sent","metadata":'
    . '{"user_id":111},"_id":"exampleaaaaaaaaaaaaaaaaaaaaaaaaa",'
    . '"_version":"exampleaaaaaaaaaaaaaaa"},"_id":'
    . '"exampleaaaaaaaaaaaaaaaaaaaaaaaaa","ts":1384954004}]';
my $sample_sig = '98qlArkKRaEEf8/jcmjflDH5vn4=';

my $http_config = <<'_EOC_';
    mail_track_zone zone=mt:16m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool flush=100ms max_age=200ms;
    log_format mtmd '$status $mail_track_event $mail_track_message_id $mail_track_result';
_EOC_

my $config = <<"_EOC_";
        location = /md {
            mail_track_webhook mandrill;
            mail_track_webhook_key $key;
            mail_track_webhook_url $URL;
            access_log logs/md.log mtmd;
        }
        location = /md-sample {
            mail_track_webhook mandrill;
            mail_track_webhook_key TEST_WEBHOOK_KEY;
            mail_track_webhook_url $URL;
        }
        location = /md-rot {
            mail_track_webhook mandrill;
            mail_track_webhook_key $old;
            mail_track_webhook_key $new;
            mail_track_webhook_url $URL;
        }
        location = /md-http {
            mail_track_webhook mandrill;
            mail_track_webhook_key $key;
            mail_track_webhook_url http://hooks.example.com/mandrill;
        }
        location = /md-slash {
            mail_track_webhook mandrill;
            mail_track_webhook_key $key;
            mail_track_webhook_url $URL/;
        }
        location = /md-tol {
            mail_track_webhook mandrill;
            mail_track_webhook_key $key;
            mail_track_webhook_url $URL;
            mail_track_webhook_tolerance 60s;
        }
        location = /md-small {
            client_body_buffer_size 1k;
            mail_track_webhook mandrill;
            mail_track_webhook_key $key;
            mail_track_webhook_url $URL;
        }
        location = /md-tiny {
            client_max_body_size 1k;
            mail_track_webhook mandrill;
            mail_track_webhook_key $key;
            mail_track_webhook_url $URL;
        }
        location = /metrics { mail_track_metrics; }
_EOC_

my $n = MailTrack::Test->new(name => 'webhook-mandrill', http_config => $http_config,
                             config => $config);
$n->start;
my $spool = $n->servroot . '/spool';
my $t0 = time();

my $FORM = 'application/x-www-form-urlencoded';

sub sig { my ($k, $u, $data) = @_; encode_base64(hmac_sha1($u . $data, $k), '') }

# raw(URI, BODY, SIG or undef, ct => TYPE)
sub raw {
    my ($uri, $body, $sig, %o) = @_;
    my @h = ('Content-Type', exists $o{ct} ? $o{ct} : $FORM);
    @h = () unless defined $h[1];
    push @h, 'X-Mandrill-Signature', $sig if defined $sig;
    return $n->request('POST', $uri, headers => \@h, body => $body);
}

# md(URI, JSON, key => K, url => U): what Mandrill sends
sub md {
    my ($uri, $events, %o) = @_;
    my $sig = mandrill_signature($o{key} // $key, $o{url} // $URL, mandrill_events => $events);
    return raw($uri, 'mandrill_events=' . urlencode($events), $sig, %o);
}

sub mv { metric_count($n, $_[0]) }

sub refused { mv(qq{mail_track_refused_total{src="mandrill",reason="$_[0]"}}) }

my %want;
my $accepted = 0;
my $seq = 0;

sub accepted_ok {
    my ($r, $name, $acc, $dup) = @_;
    $acc //= 1;
    $dup //= 0;
    is $r->{status}, 200, "$name: 200";
    is $r->{body}, answer($acc, $dup), "$name: $acc accepted, $dup duplicates";
    $accepted += $acc if $r->{status} == 200 && $r->{body} eq answer($acc, $dup);
}

# a message event: mev(EVENT, MID, top-level fields, msg => {fields})
sub mev {
    my ($event, $mid, %f) = @_;
    $seq++;
    my %msg = (_id => "msg$seq", email => "r$seq\@example.com", ts => 1767225600,
               state => 'sent', sender => 'sender@example.com', subject => 'Hello',
               tags => [], opens => [], clicks => [], smtp_events => [], _version => 'v1',
               %{ delete $f{msg} || {} });
    $msg{metadata} = { mail_track_id => $mid, user_id => 7 } if defined $mid;
    delete $msg{$_} for grep { !defined $msg{$_} } keys %msg;
    my %e = (event => $event, _id => $msg{_id} // "msg$seq", ts => 1767225600 + $seq,
             msg => \%msg, %f);
    delete $e{$_} for grep { !defined $e{$_} } keys %e;
    return \%e;
}

sub events { '[' . join(',', map { $json->encode($_) } @_) . ']' }

# --- the sample payload, its signature ---------------------------------------

is mandrill_signature('TEST_WEBHOOK_KEY', $URL, mandrill_events => $sample), $sample_sig,
    'the signing helper reproduces the sample signature';

accepted_ok(raw('/md-sample', 'mandrill_events=' . urlencode($sample), $sample_sig), 'the sample');
accepted_ok(raw('/md-sample', 'mandrill_events=' . urlencode($sample), $sample_sig),
    'the sample again (no timestamp: a replay is a duplicate)', 0, 1);
$want{'exampleaaaaaaaaaaaaaaaaaaaaaaaaa'} = {
    src => 'mandrill', type => 'sent', esp_type => 'send', esp_mid => undef,
    rcpt => 'example.webhook@mandrillapp.com', ts => 1384954004000,
    tag => 'webhook-example', bounce => undef, reason => undef,
};

# --- fresh events with the application's id ------------------------------------

accepted_ok(md('/md', events(
    mev('hard_bounce', 'app-bounce', msg => {
        state => 'bounced', bounce_description => 'bad_mailbox', tags => ['welcome', 'eu'],
        diag => 'smtp;550 5.1.1 The email account that you tried to reach does not exist.',
        email => 'Jane.Doe@example.com' }),
    mev('deferral', 'app-deferral', msg => {
        state => 'deferred', smtp_events => [
            { ts => 1767225601, type => 'deferred', diag => '421 4.7.0 Try again later', source_ip => '198.51.100.1' },
            { ts => 1767225602, type => 'deferred', diag => '451 4.3.0 Mail server temporarily rejected message' } ] }),
    mev('click', 'app-click', url => 'https://example.com/p?q=1', ip => '192.0.2.10',
        user_agent => 'Mozilla/5.0 (Macintosh)', location => { country => 'X' }),
    mev('open', 'app-open', ip => '192.0.2.11', user_agent => 'UA-open', url => 'https://ignored.example/'),
    mev('delivered', 'app-delivered', ip => '192.0.2.12', msg => {
        smtp_events => [{ ts => 1767225601, type => 'sent', diag => '250 2.0.0 OK 1767225601 gsmtp' }] }),
    mev('send', undef, msg => { _id => 'only-mandrill-id' }),
)), 'a batch of six', 6);

my $s = $seq - 5;
$want{'app-bounce'} = {
    type => 'bounced', esp_type => 'hard_bounce', bounce => 'hard', esp_mid => "msg$s",
    rcpt => 'Jane.Doe@example.com', ts => (1767225600 + $s) * 1000, tag => 'welcome,eu',
    reason => 'bad_mailbox: smtp;550 5.1.1 The email account that you tried to reach does not exist.',
    smtp_status => '5.1.1', smtp_code => 550,
};
$want{'app-deferral'} = {
    type => 'deferred', bounce => 'soft', smtp_code => 451, smtp_status => '4.3.0',
    reason => '451 4.3.0 Mail server temporarily rejected message',
};
$want{'app-click'} = { type => 'clicked', url => 'https://example.com/p?q=1', ip => '192.0.2.10',
                       ua => 'Mozilla/5.0 (Macintosh)' };
$want{'app-open'} = { type => 'opened', ip => '192.0.2.11', ua => 'UA-open', url => undef };
$want{'app-delivered'} = { type => 'delivered', ip => undef, smtp_code => 250 };
$want{'only-mandrill-id'} = { type => 'sent', esp_mid => undef };

# Mandrill has no event id: two clicks in one second from two clients are
# two events, the same click twice is one
my $c1 = mev('click', 'app-click2', ts => 1767229999, url => 'https://example.com/', ip => '192.0.2.20',
             msg => { _id => 'click2' });
my %c2 = (%$c1, ip => '192.0.2.21');
accepted_ok(md('/md', events($c1, \%c2, $c1)), 'two clicks in one second and a copy', 2, 1);

# --- the signature ---------------------------------------------------------------

my $never = 0;
sub nev { $never++; events(mev('send', "never-$never")) }

my $ev = nev();
my $body = 'mandrill_events=' . urlencode($ev);
my $r = raw('/md', $body, mandrill_signature(hex_secret(11), $URL, mandrill_events => $ev));
is $r->{status}, 401, 'signed with another key: 401';
ok !exists $r->{headers}{'www-authenticate'}, 'no Basic challenge: Mandrill signs';
is raw('/md', $body, undef)->{status}, 401, 'no X-Mandrill-Signature: 401';
is raw('/md', $body, '')->{status}, 401, 'an empty X-Mandrill-Signature: 401';

my $good = mandrill_signature($key, $URL, mandrill_events => $ev);
(my $changed = $body) =~ s/send/sene/;
is raw('/md', $changed, $good)->{status}, 401, 'one body byte changed: 401';
is raw('/md', "$body&x=1", $good)->{status}, 401, 'an unsigned field added: 401';
is raw('/md', $body, sig($key, $URL, 'mandrill_events' . urlencode($ev)))->{status}, 401,
    'signed over the encoded value instead of the decoded one: 401';
is raw('/md', $body, sig($key, $URL, $ev))->{status}, 401, 'field name left out of the signed data: 401';
is raw('/md', $body, sig($key, '', "mandrill_events$ev"))->{status}, 401, 'URL left out: 401';
is raw('/md', $body, encode_base64(hmac_sha256("${URL}mandrill_events$ev", $key), ''))->{status}, 401,
    'HMAC-SHA256 instead of SHA-1: 401';
is raw('/md', $body, 'not base64 at all!')->{status}, 401, 'garbage signature: 401';
is raw('/md', $body, substr($good, 0, -4))->{status}, 401, 'truncated signature: 401';
is raw('/md', $body, lc $good)->{status}, 401, 'signature in the wrong case: 401';

# the URL Mandrill signs is the configured one, byte for byte
is md('/md-http', $ev)->{status}, 401, 'mail_track_webhook_url http:// while Mandrill signed https://: 401';
is md('/md-slash', $ev)->{status}, 401, 'mail_track_webhook_url with a trailing slash: 401';
is md('/md', $ev, url => 'https://hooks.example.com:443/mandrill')->{status}, 401,
    'signed for another spelling of the URL: 401';
accepted_ok(md('/md-http', events(mev('send', 'url-http')), url => 'http://hooks.example.com/mandrill'),
    'the same location with the URL it is configured with');

# rotation
accepted_ok(md('/md-rot', events(mev('send', 'rot-old')), key => $old), 'rotation: the old key');
accepted_ok(md('/md-rot', events(mev('send', 'rot-new')), key => $new), 'rotation: the new key');
is md('/md-rot', nev())->{status}, 401, 'rotation: a third key: 401';

is refused('signature_missing'), 2, 'signature_missing counted';
is refused('bad_signature'), 14, 'bad_signature counted';
like $n->error_log, qr/mail_track mandrill: signature does not verify \(bad_signature\)/,
    'the log names bad_signature';
like $n->error_log, qr/mail_track mandrill: signature or its headers missing \(signature_missing\)/,
    'the log names signature_missing';

# --- form decoding -----------------------------------------------------------------

# spaces as '+' or %20, '+' as %2B or %2b: the same decoded events
my $fe = events(mev('send', 'form-plus', msg => { subject => 'a b+c', tags => ['summer sale', 'c+d'] }));
my $enc = urlencode($fe);
(my $plus = $enc) =~ s/%20/+/g;
$plus =~ s/%2B/%2b/g;
my $fsig = mandrill_signature($key, $URL, mandrill_events => $fe);
isnt $plus, $enc, 'two encodings of the same value';
accepted_ok(raw('/md', "mandrill_events=$plus", $fsig), "spaces as '+', '+' as %2b");
accepted_ok(raw('/md', "mandrill_events=$enc", $fsig), 'the same events with %20 and %2B: a duplicate', 0, 1);
$want{'form-plus'} = { tag => 'summer sale,c+d' };

# a '%' that is no escape stays as it is (and is signed as it is)
my $pe = events(mev('send', 'form-percent', msg => { tags => ['100%zz', '50%'] }));
(my $penc = urlencode($pe)) =~ s/%25/%/g;
like $penc, qr/100%zz/, 'a raw bad escape in the body';
accepted_ok(raw('/md', "mandrill_events=$penc", mandrill_signature($key, $URL, mandrill_events => $pe)),
    'a malformed escape kept');
$want{'form-percent'} = { tag => '100%zz,50%' };

# an encoded field name; extra fields signed in sorted order; && skipped
my $xe = events(mev('send', 'form-extra'));
accepted_ok(raw('/md', 'mandrill%5Fevents=' . urlencode($xe),
                mandrill_signature($key, $URL, mandrill_events => $xe)), 'an encoded field name');
my $ye = events(mev('send', 'form-sorted'));
accepted_ok(raw('/md', 'zeta=1&&mandrill_events=' . urlencode($ye) . '&alpha=x+y',
                mandrill_signature($key, $URL, mandrill_events => $ye, zeta => '1', alpha => 'x y')),
    'extra fields, signed sorted by name');
# a CRLF between the events, as the encoded JSON carries it
my @ce = (mev('send', 'crlf-1'), mev('send', 'crlf-2'), mev('send', 'crlf-3'));
my $ceo = "[\r\n" . join(",\r\n", map { $json->encode($_) } @ce) . "\r\n]";
accepted_ok(md('/md', $ceo), 'CRLFs inside the encoded batch', 3);
$want{"crlf-$_"} = { type => 'sent' } for 1 .. 3;

# --- HEAD, methods ------------------------------------------------------------------

$r = $n->request('HEAD', '/md');
is $r->{status}, 200, 'HEAD (Mandrill checks a new URL): 200 without a signature';
is $n->request('HEAD', '/md-http')->{status}, 200, 'HEAD at any mandrill location: 200';
is $n->get('/md')->{status}, 405, 'GET: 405';
is refused('method'), 1, 'the method refusal counted';

# --- bodies -----------------------------------------------------------------------

# a signature over the URL alone: the body is empty
$r = raw('/md', '', sig($key, $URL, ''));
is $r->{status}, 400, 'empty body, validly signed: 400';
is raw('/md', '', sig(hex_secret(11), $URL, ''))->{status}, 401, 'empty body, badly signed: 401';
is raw('/md', 'foo=bar', mandrill_signature($key, $URL, foo => 'bar'))->{status}, 400,
    'no mandrill_events field: 400';

my %bad = (
    'malformed JSON'               => ['[{"event":"send",}]', 'bad_json'],
    'truncated JSON'               => [substr(events(mev('send', 'never-tr')), 0, 60), 'bad_json'],
    'not JSON'                     => ['hello', 'bad_json'],
    'an object, not an array'      => [$json->encode(mev('send', 'never-obj')), 'bad_payload'],
    'an element that is a string'  => ['[' . $json->encode(mev('send', 'never-s')) . ',"x"]', 'bad_payload'],
    'an element without event/type' => [events(mev('send', 'never-ok'), { _id => 'x', ts => 1 }), 'bad_payload'],
    'an event name that is empty'  => [events(mev('', 'never-empty')), 'bad_payload'],
);
my %reasons = (empty_body => 1, bad_payload => 1);
for my $name (sort keys %bad) {
    my ($val, $reason) = @{ $bad{$name} };
    is md('/md', $val)->{status}, 400, "$name (signed): 400";
    $reasons{$reason}++;
}
is md('/md', $fe, ct => 'application/json')->{status}, 400, 'application/json: 400';
is md('/md', $fe, ct => 'multipart/form-data; boundary=x')->{status}, 400, 'multipart: 400';
is md('/md', $fe, ct => undef)->{status}, 400, 'no content type: 400';
$reasons{content_type} += 3;
for my $reason (sort keys %reasons) {
    is refused($reason), $reasons{$reason}, "$reason counted ($reasons{$reason})";
    like $n->error_log, qr/mail_track mandrill: [^\n]*\($reason\)/, "the log names $reason";
}
is raw('/md', 'mandrill_events=' . urlencode($fe), undef, ct => 'application/json')->{status}, 401,
    'unsigned with a wrong content type: 401 (the signature first)';

accepted_ok(md('/md', '[]'), 'an empty batch', 0, 0);
accepted_ok(md('/md', events(mev('send', 'ct-charset')), ct => "$FORM; charset=UTF-8"),
    'form content type with a charset');

# non-UTF-8 bytes in the decoded events: repaired after the signature
my $le = events(mev('soft_bounce', 'latin1', msg => { diag => "452 4.2.2 bo\xeete pleine",
                                                      bounce_description => 'mailbox_full' }));
accepted_ok(md('/md', $le), 'invalid UTF-8 (%EE): accepted');
$want{latin1} = { reason => "mailbox_full: 452 4.2.2 bo\xef\xbf\xbdte pleine", bounce => 'soft',
                  type => 'bounced' };

# spilled to a temp file
my @sp = map { mev('send', "spill-$_", msg => { subject => 'z' x 300 }) } 1 .. 20;
accepted_ok(md('/md-small', events(@sp)), 'a batch through a temp file', 20);
like $n->error_log, qr/a client request body is buffered to a temporary file/, 'nginx buffered it to a file';
$want{"spill-$_"} = { type => 'sent' } for 1, 20;

is md('/md-tiny', events(@sp))->{status}, 413, 'over client_max_body_size: 413';
is refused('too_large'), 1, '413 counted as a refusal';

# the largest batch Mandrill sends
my @bulk = map { mev('open', "bulk-$_", ip => '192.0.2.1', user_agent => 'UA') } 1 .. 1000;
my $bulk = events(@bulk);
accepted_ok(md('/md', $bulk), '1000 events', 1000);
accepted_ok(md('/md', $bulk), 'the batch retried', 0, 1000);

# the event time is not a signed timestamp: old batches verify
accepted_ok(md('/md-tol', events(mev('send', 'tol-old', ts => 1262304000))), 'an event from 2010, tolerance 60s');
$want{'tol-old'} = { ts => 1262304000000 };

# --- the mapping, end to end -----------------------------------------------------

my @map = (
    [send => 'sent'], [deferral => 'deferred', 'soft'], [hard_bounce => 'bounced', 'hard'],
    [soft_bounce => 'bounced', 'soft'], [delivered => 'delivered'], [open => 'opened'],
    [click => 'clicked'], [spam => 'complained'], [unsub => 'unsubscribed'], [reject => 'rejected'],
    [inbound => 'other'], [brand_new_event_2031 => 'other'],
);
my @mev;
my $others = 0;
for my $m (@map) {
    my ($event, $type, $bounce) = @$m;
    push @mev, mev($event, "map-$event");
    $want{"map-$event"} = { type => $type, bounce => $bounce, esp_type => $event };
    $others++ if $type eq 'other';
}
# sync events: "type", "action" and "reject" instead of "event" and "msg"
for my $sync (qw(whitelist blacklist allowlist denylist)) {
    push @mev, { type => $sync, action => 'add',
                 reject => { email => "sync-$sync\@example.com", reason => 'hard-bounce',
                             detail => "550 5.1.1 $sync", last_event_at => '2026-01-01 00:00:05',
                             created_at => '2026-01-01 00:00:00', expired => JSON::PP::false } };
    $want{"sync-$sync\@example.com"} = { type => 'other', esp_type => $sync, mid => undef,
                                          reason => "add: 550 5.1.1 $sync", ts => 1767225605000 };
    $others++;
}
accepted_ok(md('/md', events(@mev)), 'one event per Mandrill event and sync type', scalar @mev);
is mv('mail_track_events_total{src="mandrill",type="other"}'), $others,
    "inbound, unknown and sync events counted as other ($others)";
is mv('mail_track_duplicates_total{src="mandrill"}'), 1 + 1 + 1 + 1000, 'duplicates counted';

my $metrics = $n->get('/metrics')->{body};
my $total = 0;
$total += $1 while $metrics =~ /^mail_track_events_total\{src="mandrill",type="\w+"\} (\d+)$/mg;
is $total, $accepted, "mail_track_events_total for mandrill = events accepted ($accepted)";

$n->quit;
my $t1 = time();

# --- the spool --------------------------------------------------------------------

my @recs = spool_records($spool);
is scalar(@recs), $accepted, "every accepted event spooled once ($accepted)";

my (%by, %ids);
push @{ $by{ $_->{mid} // $_->{rcpt} // '' } }, $_ for @recs;
$ids{ $_->{id} }++ for @recs;
is_deeply [grep { $ids{$_} > 1 } sort keys %ids], [], 'no event id twice';
is_deeply [grep { @{ $by{$_} } > 1 && $_ ne 'app-click2' } sort keys %by], [], 'no message twice';
is scalar(@{ $by{'app-click2'} || [] }), 2, 'the two clicks in one second: two records';

for my $k (sort keys %want) {
    my $rec = $by{$k} ? $by{$k}[0] : undef;
    ok $rec, "spooled: $k" or next;
    for my $f (sort keys %{ $want{$k} }) {
        is $rec->{$f}, $want{$k}{$f}, "$k: $f";
    }
}
like $by{'app-bounce'}[0]{id}, qr/^[0-9a-f]{32}$/, 'a hash id';

is scalar(grep { ($_->{mid} // '') =~ /^bulk-\d+$/ } @recs), 1000, 'all 1000 bulk events spooled';
is scalar(grep { ($_->{mid} // '') =~ /^never/ } @recs), 0, 'nothing from a refused request';
is scalar(grep { $_->{src} ne 'mandrill' } @recs), 0, 'src is mandrill everywhere';
is scalar(grep { !$_->{rt} || $_->{rt} < ($t0 - 5) * 1000 || $_->{rt} > ($t1 + 5) * 1000 } @recs), 0,
    'rt is the time nginx received the event';

my $raw = '';
for my $f (glob("$spool/*.mtspool")) {
    open my $fh, '<:raw', $f or next;
    local $/;
    $raw .= <$fh>;
}
ok index($raw, "bo\xef\xbf\xbdte pleine") >= 0, 'U+FFFD in the spool file itself';

my $acc_log = do { local $/; open my $fh, '<', $n->servroot . '/logs/md.log'; <$fh> };
like $acc_log, qr/^200 bounced app-bounce accepted$/m, 'the log variables: accepted';
like $acc_log, qr/^401 - - bad_signature$/m, 'the log variables: bad_signature';

# --- what refuses to start -------------------------------------------------------------

my $bad_http = <<'_EOC_';
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
_EOC_
my %nostart = (
    'no key' => ["mail_track_webhook_url $URL;", qr/"mail_track_webhook mandrill" requires "mail_track_webhook_key"/],
    'no key, auth off' => ["mail_track_webhook_url $URL; mail_track_webhook_auth off;",
                           qr/"mail_track_webhook mandrill" requires "mail_track_webhook_key"/],
    'no URL' => ["mail_track_webhook_key $key;",
                 qr/"mail_track_webhook mandrill" requires "mail_track_webhook_url"/],
);
my $ns = 0;
for my $name (sort keys %nostart) {
    my ($dirs, $re) = @{ $nostart{$name} };
    $ns++;
    my $x = MailTrack::Test->new(name => "webhook-mandrill-nostart$ns", http_config => $bad_http,
                                 config => "        location = /md { mail_track_webhook mandrill; $dirs }\n");
    my ($refused, $out) = $x->start_fails;
    ok $refused, "$name: nginx refuses to start";
    like $out, $re, "$name: and says why";
}

done_testing;
