# mail_track_webhook mailgun through the real nginx: correct requests and
# the record fields, every event type / severity / reason mapped end to
# end, key rotation, parent-signature (subaccounts), the timestamp as a
# JSON number and as a string, the token cache (a retry of the same
# event, the token on other event data, a token not spent by a refused
# shape), the 9 hour tolerance, 406 for every refusal (never 401/403),
# bad bodies (400), a temp-file body, 413, non-UTF-8, 1000 posts.
# t/040-webhook.t has the basics (forged, stale, future, a replay).

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use Digest::SHA qw(hmac_sha256_hex);
use JSON::PP ();
use Time::HiRes ();

sub rnd_hex { join '', map { sprintf '%02x', int rand 256 } 1 .. $_[0] }

# fresh signing keys for this run (Mailgun's look like 32 hex digits)
my $KEY     = rnd_hex(16);
my $OLD     = rnd_hex(16);
my $NEW     = rnd_hex(16);
my $PRIMARY = rnd_hex(16);
my $SUB     = rnd_hex(16);    # a subaccount's key: configured nowhere
my $FKEY    = rnd_hex(16);
my $OTHER   = rnd_hex(16);

my $http_config = <<'_EOC_';
    mail_track_zone zone=mt:16m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool flush=100ms max_age=200ms;
    log_format mtmg '$request_uri $status $mail_track_result';
_EOC_

my $config = <<"_EOC_";
        access_log logs/mg.log mtmg;

        location = /mg {
            mail_track_webhook mailgun;
            mail_track_webhook_key $KEY;
        }
        location = /mg-rot {
            mail_track_webhook mailgun;
            mail_track_webhook_key $OLD;
            mail_track_webhook_key $NEW;
        }
        location = /mg-parent {
            mail_track_webhook mailgun;
            mail_track_webhook_key $PRIMARY;
        }
        location = /mg-file {
            mail_track_webhook mailgun;
            mail_track_webhook_key file:\$TEST_NGINX_SERVROOT/conf/mg.key;
        }
        location = /mg-small {
            client_body_buffer_size 1k;
            mail_track_webhook mailgun;
            mail_track_webhook_key $KEY;
        }
        location = /mg-tiny {
            client_max_body_size 1k;
            mail_track_webhook mailgun;
            mail_track_webhook_key $KEY;
        }
        location = /metrics { mail_track_metrics; }
_EOC_

my $n = MailTrack::Test->new(name => 'webhook-mailgun',
                             http_config => $http_config, config => $config);
$n->write_file('conf/mg.key', "  $FKEY\n", 0600);
$n->start;
my $spool = $n->servroot . '/spool';

my $json = JSON::PP->new->utf8->canonical;

sub mv { metric_count($n, $_[0]) }

sub refused { mv(qq{mail_track_refused_total{src="mailgun",reason="$_[0]"}}) }
sub events  { mv(qq{mail_track_events_total{src="mailgun",type="$_[0]"}}) }

# Mailgun's event-data for event $id; mid "app-$id" through user-variables
my $ETS = 1534110422.25;

sub ed {
    my ($event, $id, %f) = @_;
    return {
        event => $event, id => $id, timestamp => $ETS,
        recipient => "$id\@example.com", 'log-level' => 'info',
        message => { headers => { to => "$id\@example.com",
                                  'message-id' => "$id.msg\@mg.example.com",
                                  from => 'Sender <s@mg.example.com>',
                                  subject => 'Hello' },
                     attachments => [], size => 1234 },
        'user-variables' => { mail_track_id => "app-$id" },
        tags => ['welcome', 'b2b'],
        envelope => { transport => 'smtp', 'sending-ip' => '209.61.151.1' },
        %f,
    };
}

# a signed body: mg_body(EVENT_DATA (hash or JSON text), key => K,
#   ts => T, token => TOK, number => 1 (timestamp as a JSON number),
#   parent => KEY (parent-signature), signature => HEX, omit => [fields],
#   sig_json => RAW (the whole signature block))
sub mg_body {
    my ($ed, %o) = @_;
    my $ts = exists $o{ts} ? $o{ts} : int(time());
    my $token = $o{token} // rnd_hex(25);
    my %sig = (token => $token,
               timestamp => $o{number} ? 0 + $ts : "$ts",
               signature => exists $o{signature} ? $o{signature}
                          : hmac_sha256_hex("$ts$token", $o{key} // $KEY));
    $sig{'parent-signature'} = hmac_sha256_hex("$ts$token", $o{parent})
        if $o{parent};
    delete @sig{ @{ $o{omit} || [] } };
    my $sj = exists $o{sig_json} ? $o{sig_json} : $json->encode(\%sig);
    my $ej = ref $ed ? $json->encode($ed) : $ed;
    return defined $sj ? qq({"signature":$sj,"event-data":$ej})
                       : qq({"event-data":$ej});
}

my $seq = 0;
my @expect;    # [path, "status result", name]: checked in the access log

sub post {
    my ($uri, $body, %o) = @_;
    my $path = $uri . '?n=' . ++$seq;
    my @h = ('Content-Type', exists $o{ct} ? $o{ct} : 'application/json');
    @h = () unless defined $h[1];
    my $r = $n->request('POST', $path, headers => \@h, body => $body);
    $r->{path} = $path;
    return $r;
}

sub mg { my ($uri, $ed, %o) = @_; return post($uri, mg_body($ed, %o), %o) }

sub accepted_ok {
    my ($r, $name, $acc, $dup) = @_;
    $acc //= 1;
    $dup //= 0;
    is $r->{status}, 200, "$name: 200";
    is $r->{body}, answer($acc, $dup), "$name: $acc accepted, $dup duplicates";
    push @expect, [$r->{path}, '200 ' . ($acc || !$dup ? 'accepted' : 'duplicate'),
                   $name];
}

sub refused_ok {
    my ($r, $status, $reason, $name) = @_;
    is $r->{status}, $status, "$name: $status";
    ok !exists $r->{headers}{'www-authenticate'}, "$name: no challenge"
        if $status == 406;
    push @expect, [$r->{path}, "$status $reason", $name];
}

# --- a correct request ------------------------------------------------------

my $r = mg('/mg', ed('delivered', 'ok-1',
                     'delivery-status' => { code => 250, message => 'OK',
                                            description => '', 'attempt-no' => 1,
                                            tls => JSON::PP::true }));
accepted_ok($r, 'a delivered event');
is $r->{headers}{'content-type'}, 'application/json', 'a JSON answer';

$r = mg('/mg', ed('failed', 'perm-1', severity => 'permanent', reason => 'bounce',
                  'log-level' => 'error',
                  'delivery-status' => {
                      code => 550, 'enhanced-code' => '5.1.1', 'attempt-no' => 1,
                      message => '5.1.1 The email account that you tried to reach '
                               . 'does not exist. Please try double-checking the '
                               . "recipient's email address for typos",
                      description => '' }));
accepted_ok($r, 'failed, permanent');

$r = mg('/mg', ed('failed', 'temp-1', severity => 'temporary', reason => 'generic',
                  'log-level' => 'warn',
                  'delivery-status' => {
                      code => 452, 'attempt-no' => 2, 'retry-seconds' => 600,
                      message => '4.2.2 The email account that you tried to reach '
                               . 'is over quota.',
                      description => '' }));
accepted_ok($r, 'failed, temporary');

# --- every event type ------------------------------------------------------------

# [id, event, extra event-data fields, expected record fields (undef: absent)]
my @map = (
    ['map-accepted', 'accepted', {}, { type => 'sent' }],
    ['map-delivered', 'delivered',
     { 'delivery-status' => { code => 250, message => 'OK' } },
     { type => 'delivered', smtp_code => 250, reason => 'OK', bounce => undef }],
    ['map-suppress-bounce', 'failed',
     { severity => 'permanent', reason => 'suppress-bounce',
       'delivery-status' => { code => 605,
                              description => 'Not delivering to previously bounced address' } },
     { type => 'bounced', bounce => 'hard', smtp_code => undef,
       reason => 'Not delivering to previously bounced address' }],
    ['map-suppress-unsub', 'failed',
     { severity => 'permanent', reason => 'suppress-unsubscribe',
       'delivery-status' => { code => 607,
                              description => 'Not delivering to unsubscribed address' } },
     { type => 'bounced', bounce => 'block', smtp_code => undef }],
    ['map-suppress-complaint', 'failed',
     { severity => 'permanent', reason => 'suppress-complaint',
       'delivery-status' => { code => 607, description => 'complained' } },
     { type => 'bounced', bounce => 'block' }],
    ['map-espblock', 'failed',
     { severity => 'permanent', reason => 'espblock',
       'delivery-status' => { code => 550, message => '550 5.1.1 no such user' } },
     { type => 'bounced', bounce => 'block', smtp_code => 550, smtp_status => '5.1.1' }],
    ['map-old', 'failed',
     { severity => 'permanent', reason => 'old',
       'delivery-status' => { code => 451, message => '4.4.1 connection timed out' } },
     { type => 'bounced', bounce => 'soft' }],
    ['map-policy', 'failed',
     { severity => 'permanent', reason => 'generic',
       'delivery-status' => { code => 550,
                              message => '5.7.1 Message rejected as spam' } },
     { type => 'bounced', bounce => 'block', smtp_code => 550, smtp_status => '5.7.1' }],
    ['map-full', 'failed',
     { severity => 'permanent', reason => 'bounce',
       'delivery-status' => { code => 552, message => '5.2.2 mailbox full' } },
     { type => 'bounced', bounce => 'soft', smtp_status => '5.2.2' }],
    ['map-nostatus', 'failed',
     { severity => 'permanent', reason => 'bounce',
       'delivery-status' => { message => 'something went wrong' } },
     { type => 'bounced', bounce => 'undetermined', smtp_code => undef,
       smtp_status => undef, reason => 'something went wrong' }],
    ['map-noseverity', 'failed',
     { 'delivery-status' => { code => 550, message => '5.1.1 user unknown' } },
     { type => 'bounced', bounce => 'hard', smtp_status => '5.1.1' }],
    ['map-temporary', 'failed',
     { severity => 'temporary', reason => 'greylisted',
       'delivery-status' => { code => 421, message => '4.7.0 greylisted, try again' } },
     { type => 'deferred', esp_type => 'failed', bounce => 'soft', smtp_code => 421,
       smtp_status => '4.7.0' }],
    ['map-rejected', 'rejected',
     { reject => { reason => 'Sandbox subdomains are for test purposes only',
                   description => '' } },
     { type => 'rejected', reason => 'Sandbox subdomains are for test purposes only' }],
    ['map-open-apple', 'opened',
     { ip => '17.58.1.2', 'client-info' => { 'client-type' => 'mobile browser',
                                             'user-agent' => 'Mozilla/5.0 (iPhone)',
                                             bot => 'apple' },
       geolocation => { country => 'US' } },
     { type => 'opened', machine => 1, why => 'mailgun_bot_apple', ip => '17.58.1.2',
       ua => 'Mozilla/5.0 (iPhone)' }],
    ['map-open-gmail', 'opened',
     { ip => '66.249.1.2', 'client-info' => { 'user-agent' => 'GoogleImageProxy',
                                              bot => 'gmail' } },
     { type => 'opened', machine => 1, why => 'mailgun_bot_gmail' }],
    ['map-open-human', 'opened',
     { ip => '198.51.100.4', 'client-info' => { 'user-agent' => 'Thunderbird',
                                                bot => '' } },
     { type => 'opened', machine => 0, why => undef, ua => 'Thunderbird' }],
    ['map-open-unknown', 'opened',
     { ip => '198.51.100.5', 'client-info' => { 'user-agent' => 'X' } },
     { type => 'opened', machine => undef, why => undef }],
    ['map-click', 'clicked',
     { ip => '198.51.100.6', url => 'https://example.com/landing?x=1',
       'client-info' => { 'user-agent' => 'Scanner/1.0', bot => 'generic' } },
     { type => 'clicked', url => 'https://example.com/landing?x=1', ip => '198.51.100.6',
       ua => 'Scanner/1.0', machine => 1, why => 'mailgun_bot_generic' }],
    ['map-complained', 'complained', {}, { type => 'complained' }],
    ['map-unsubscribed', 'unsubscribed', { ip => '198.51.100.7' },
     { type => 'unsubscribed', ip => undef }],
    ['map-stored', 'stored', { storage => { key => 'k', url => 'https://x' } },
     { type => 'other', esp_type => 'stored' }],
    ['map-list', 'list_member_uploaded', {},
     { type => 'other', esp_type => 'list_member_uploaded' }],
    ['map-unknown', 'a_new_kind_of_event', {},
     { type => 'other', esp_type => 'a_new_kind_of_event' }],
    ['map-tag-string', 'accepted', { tags => 'solo' }, { type => 'sent', tag => 'solo' }],
    ['map-no-tags', 'accepted', { tags => [] }, { type => 'sent', tag => undef }],
);

my %ev0 = map { $_ => events($_) }
          qw(sent delivered deferred bounced rejected opened clicked complained
             unsubscribed other);

for my $m (@map) {
    my ($id, $event, $extra) = @$m;
    $r = mg('/mg', ed($event, $id, %$extra));
    accepted_ok($r, "event $id");
}

# the application's id: an integer; none (mid is Mailgun's Message-ID,
# angle brackets removed); another variable name only
$r = mg('/mg', ed('delivered', 'mid-int',
                  'user-variables' => { mail_track_id => 12345678901234567 }));
accepted_ok($r, 'an integer user variable');
$r = mg('/mg', ed('delivered', 'mid-none', 'user-variables' => {},
                  message => { headers => { 'message-id' => '<20180812214658.1.ABC@mg.example.com>' } }));
accepted_ok($r, 'no user variable, bracketed Message-ID');
$r = mg('/mg', ed('delivered', 'mid-other',
                  'user-variables' => { my_id => 'x', MAIL_TRACK_ID => 'y' },
                  message => { headers => { 'message-id' => 'other@mg.example.com' } }));
accepted_ok($r, 'other user variables only');

my %count = (delivered => 3);    # the three user-variable cases
$count{ $_->[3]{type} }++ for @map;
for my $t (sort keys %ev0) {
    is events($t) - $ev0{$t}, $count{$t} // 0, "events_total type=$t";
}

# --- keys: rotation, subaccounts, a key file -----------------------------------------

$r = mg('/mg-rot', ed('delivered', 'rot-old'), key => $OLD);
accepted_ok($r, 'rotation: the old key verifies');
$r = mg('/mg-rot', ed('delivered', 'rot-new'), key => $NEW);
accepted_ok($r, 'rotation: the new key verifies');
$r = mg('/mg-rot', ed('delivered', 'rot-other'), key => $OTHER);
refused_ok($r, 406, 'bad_signature', 'rotation: a third key verifies nothing');
$r = mg('/mg', ed('delivered', 'rot-not-here'), key => $NEW);
refused_ok($r, 406, 'bad_signature', 'the new key is not configured on /mg');

$r = mg('/mg-parent', ed('delivered', 'sub-1'), key => $SUB, parent => $PRIMARY);
accepted_ok($r, "a subaccount's event: parent-signature by the primary key");
$r = mg('/mg-parent', ed('delivered', 'sub-2'), key => $PRIMARY);
accepted_ok($r, "the primary account's own event");
$r = mg('/mg-parent', ed('delivered', 'sub-3'), key => $SUB, parent => $OTHER);
refused_ok($r, 406, 'bad_signature', 'neither signature by a configured key');
$r = mg('/mg-parent', ed('delivered', 'sub-4'), parent => $PRIMARY, omit => ['signature']);
accepted_ok($r, 'a parent-signature alone');
$r = mg('/mg', ed('delivered', 'sub-5'), key => $SUB, parent => $PRIMARY);
refused_ok($r, 406, 'bad_signature', 'the primary key is not configured on /mg');

$r = mg('/mg-file', ed('delivered', 'file-1'), key => $FKEY);
accepted_ok($r, 'the key from a file (whitespace around it ignored)');
$r = mg('/mg-file', ed('delivered', 'file-2'), key => "  $FKEY\n");
refused_ok($r, 406, 'bad_signature', 'the whitespace is not part of the key');

# --- the timestamp: a string or a JSON number ------------------------------------------

my $tsn = int(time());
my $b = mg_body(ed('delivered', 'ts-number'), number => 1, ts => $tsn);
like $b, qr/"timestamp":$tsn[,}]/, 'the timestamp as a JSON number';
accepted_ok(post('/mg', $b), 'a JSON number timestamp');

$b = mg_body(ed('delivered', 'ts-string'), ts => $tsn);
like $b, qr/"timestamp":"$tsn"/, 'the timestamp as a JSON string';
accepted_ok(post('/mg', $b), 'a string timestamp');

$r = mg('/mg', ed('delivered', 'ts-real'), ts => "$tsn.5", number => 1);
refused_ok($r, 406, 'bad_signature', 'a timestamp with a fraction');

$r = mg('/mg', ed('delivered', 'ts-word'), ts => 'now');
refused_ok($r, 406, 'bad_signature', 'a timestamp that is not a number');

$r = mg('/mg', ed('delivered', 'ts-stale10'), ts => int(time()) - 10 * 3600);
refused_ok($r, 406, 'stale', '10 hours old (default tolerance 9 h)');
$r = mg('/mg', ed('delivered', 'ts-8h'), ts => int(time()) - 8 * 3600);
accepted_ok($r, '8 hours old: a late retry');
$r = mg('/mg', ed('delivered', 'ts-future'), ts => int(time()) + 360);
refused_ok($r, 406, 'future', 'six minutes in the future');
$r = mg('/mg', ed('delivered', 'ts-near-future'), ts => int(time()) + 240);
accepted_ok($r, 'four minutes in the future');
$r = mg('/mg', ed('delivered', 'ts-stale-forged'), ts => int(time()) - 10 * 3600,
        key => $OTHER);
refused_ok($r, 406, 'bad_signature', 'stale and forged: the signature is checked first');

# --- the token: retries and replays -------------------------------------------------------

my $tok = rnd_hex(25);
my $tts = int(time());
my $ev_a = ed('delivered', 'tok-a');
my $body_a = mg_body($ev_a, token => $tok, ts => $tts);

accepted_ok(post('/mg', $body_a), 'token: first use');
accepted_ok(post('/mg', $body_a), 'token: the same request again (a retry)', 0, 1);

$r = mg('/mg', ed('failed', 'tok-forged', severity => 'permanent',
                  'delivery-status' => { code => 550, message => '5.1.1 unknown' }),
        token => $tok, ts => $tts);
refused_ok($r, 406, 'replay', 'token: on other event data');

# the same event id, other content: a duplicate, nothing queued
my $bounced0 = events('bounced');
$r = mg('/mg', ed('failed', 'tok-a', severity => 'permanent',
                  'delivery-status' => { code => 550, message => '5.1.1 unknown' }),
        token => $tok, ts => $tts);
accepted_ok($r, 'token: with the same event id but altered content', 0, 1);
is events('bounced'), $bounced0, 'the altered event is not queued';

# the same event id re-signed with a new token (if Mailgun re-signs a retry)
accepted_ok(mg('/mg', $ev_a), 'the same event with a new token', 0, 1);

# a token whose request failed on its shape is not spent
my $tok2 = rnd_hex(25);
$r = post('/mg', mg_body({ id => 'shape-x', recipient => 'x@example.com' },
                         token => $tok2, ts => $tts));
refused_ok($r, 400, 'bad_payload', 'a signed event-data without an event name');
accepted_ok(post('/mg', mg_body(ed('delivered', 'tok-after-shape'), token => $tok2,
                                ts => $tts)),
            'the same token then carries an event');

# a refused (forged) request does not spend the token either
my $tok3 = rnd_hex(25);
$r = mg('/mg', ed('delivered', 'tok-forged-first'), token => $tok3, ts => $tts,
        key => $OTHER);
refused_ok($r, 406, 'bad_signature', 'a forged use of a token');
accepted_ok(mg('/mg', ed('delivered', 'tok-genuine'), token => $tok3, ts => $tts),
            'the genuine request with that token');

# without event-data.id the id is a hash: a retry is still a duplicate,
# other content is a replay
my $tok4 = rnd_hex(25);
my $noid = ed('opened', 'noid', ip => '198.51.100.8',
              'client-info' => { 'user-agent' => 'X' });
delete $noid->{id};
accepted_ok(mg('/mg', $noid, token => $tok4, ts => $tts), 'an event without an id');
accepted_ok(mg('/mg', $noid, token => $tok4, ts => $tts), 'its retry', 0, 1);
$noid->{url} = 'https://evil.example/';
$noid->{event} = 'clicked';
refused_ok(mg('/mg', $noid, token => $tok4, ts => $tts), 406, 'replay',
           'the token on altered content without an id');

# --- every refusal is 406, never 401 or 403 -----------------------------------------------

my $good = ed('delivered', 'refuse');
$r = mg('/mg', $good, key => $OTHER);
refused_ok($r, 406, 'bad_signature', 'a forged signature');
$r = post('/mg', qq({"event-data":) . $json->encode($good) . '}');
refused_ok($r, 406, 'signature_missing', 'no signature block');
$r = mg('/mg', $good, sig_json => '"abc"');
refused_ok($r, 406, 'signature_missing', 'a signature block that is a string');
$r = mg('/mg', $good, sig_json => 'null');
refused_ok($r, 406, 'signature_missing', 'a null signature block');
$r = mg('/mg', $good, omit => ['token']);
refused_ok($r, 406, 'signature_missing', 'no token');
$r = mg('/mg', $good, omit => ['timestamp']);
refused_ok($r, 406, 'signature_missing', 'no timestamp');
$r = mg('/mg', $good, omit => ['signature']);
refused_ok($r, 406, 'signature_missing', 'no signature');
$r = mg('/mg', $good, signature => '');
refused_ok($r, 406, 'signature_missing', 'an empty signature');
$r = mg('/mg', $good, signature => 'zz' x 32);
refused_ok($r, 406, 'bad_signature', 'a signature that is not hex');
{
    my $t = rnd_hex(25);
    my $ts = int(time());
    my $sig = hmac_sha256_hex("$ts$t", $KEY);
    $r = mg('/mg', $good, token => $t, ts => $ts, signature => substr($sig, 0, 63));
    refused_ok($r, 406, 'bad_signature', 'a signature one digit short');
    $r = mg('/mg', $good, token => $t, ts => $ts, signature => $sig . '0');
    refused_ok($r, 406, 'bad_signature', 'a signature one digit long');
    $r = mg('/mg', $good, token => rnd_hex(25), ts => $ts, signature => $sig);
    refused_ok($r, 406, 'bad_signature', 'the signature of another token');
    $r = mg('/mg', $good, token => $t, ts => $ts + 1, signature => $sig);
    refused_ok($r, 406, 'bad_signature', 'the signature of another timestamp');
    $r = mg('/mg', ed('delivered', 'upper-hex'), token => $t, ts => $ts,
            signature => uc $sig);
    accepted_ok($r, 'the signature in upper-case hex');
}
$r = mg('/mg', $good, key => '');
refused_ok($r, 406, 'bad_signature', 'a signature made with an empty key');

# --- bodies -------------------------------------------------------------------------------

$r = post('/mg', '');
refused_ok($r, 400, 'empty_body', 'an empty body');
$r = post('/mg', 'this is not json');
refused_ok($r, 400, 'bad_json', 'malformed JSON');
my $whole = mg_body(ed('delivered', 'truncated'));
$r = post('/mg', substr($whole, 0, length($whole) - 20));
refused_ok($r, 400, 'bad_json', 'truncated JSON');
$r = post('/mg', '[' . mg_body(ed('delivered', 'array')) . ']');
refused_ok($r, 400, 'bad_payload', 'an array');
$r = post('/mg', mg_body(ed('delivered', 'ct-text')), ct => 'text/plain');
refused_ok($r, 400, 'content_type', 'text/plain');
$r = post('/mg', mg_body(ed('delivered', 'ct-none')), ct => undef);
refused_ok($r, 400, 'content_type', 'no content type');
{
    # a legacy form-encoded webhook, correctly signed
    my $t = rnd_hex(25);
    my $ts = int(time());
    my $sig = hmac_sha256_hex("$ts$t", $KEY);
    $r = post('/mg', "token=$t&timestamp=$ts&signature=$sig&event=delivered"
                   . '&recipient=a%40example.com',
              ct => 'application/x-www-form-urlencoded');
    refused_ok($r, 400, 'content_type', 'a legacy form-encoded webhook');
}
$r = post('/mg', mg_body(ed('delivered', 'ct-charset')),
          ct => 'application/json; charset=utf-8');
accepted_ok($r, 'application/json with a charset');

$r = post('/mg', mg_body('null'));
refused_ok($r, 400, 'bad_payload', 'signed, event-data null');
$r = post('/mg', mg_body('[]'));
refused_ok($r, 400, 'bad_payload', 'signed, event-data an array');
$r = post('/mg', mg_body({ %{ ed('delivered', 'empty-event') }, event => '' }));
refused_ok($r, 400, 'bad_payload', 'signed, an empty event name');

# non-UTF-8 bytes in the MTA's text
{
    my $b = mg_body(ed('failed', 'latin1', severity => 'permanent',
                       'delivery-status' => { code => 550,
                                              message => '5.1.1 caf-PLACEHOLDER unknown' }));
    $b =~ s/caf-PLACEHOLDER/caf\xe9/;
    accepted_ok(post('/mg', $b), 'non-UTF-8 bytes: accepted');
}

# a body nginx spills to a temp file: an event with 20 KB of headers
{
    my $e = ed('delivered', 'spill');
    $e->{message}{headers}{subject} = 'S' x 20000;
    my $pos = length $n->error_log;
    accepted_ok(post('/mg-small', mg_body($e)), 'an event read back from a temp file');
    like substr($n->error_log, $pos),
        qr/a client request body is buffered to a temporary file/,
        'nginx did spill that body';
}

$r = post('/mg-tiny', mg_body(ed('delivered', 'tiny', padding => 'p' x 2000)));
is $r->{status}, 413, 'larger than client_max_body_size: 413';
my $tiny_path = $r->{path};

is $n->get('/mg')->{status}, 405, 'GET: 405';

# 1000 posts, as Mailgun sends 1000 events: each spooled once
{
    my ($ok, $bad) = (0, 0);
    for my $i (1 .. 1000) {
        my $res = post('/mg', mg_body(ed('delivered', sprintf('bulk-%04d', $i))));
        $res->{status} == 200 && $res->{body} eq answer(1, 0) ? $ok++ : $bad++;
    }
    is $ok, 1000, '1000 posts accepted';
}

# --- counted and logged -----------------------------------------------------------------------

my %reasons;
$reasons{ (split ' ', $_->[1])[1] }++ for grep { $_->[1] !~ /^200 / } @expect;
for my $reason (sort keys %reasons) {
    is refused($reason), $reasons{$reason}, "refused_total reason=$reason";
}

is refused('too_large'), 1, 'refused_total reason=too_large';

my $log = $n->error_log;
like $log, qr/mail_track mailgun: body larger than client_max_body_size \(too_large\)/,
    'log: too_large';
like $log, qr/mail_track mailgun: signature does not verify \(bad_signature\): no configured key verifies the signature/,
    'log: bad_signature';
like $log, qr/mail_track mailgun: signature or its headers missing \(signature_missing\)/,
    'log: signature_missing';
like $log, qr/mail_track mailgun: timestamp too old \(stale\)/, 'log: stale';
like $log, qr/mail_track mailgun: timestamp in the future \(future\)/, 'log: future';
like $log, qr/mail_track mailgun: replayed request \(replay\)/, 'log: replay';
like $log, qr/mail_track mailgun: .*\(bad_signature\): signature timestamp is not a number/,
    'log: a timestamp that is not a number';

$n->quit;

# --- the access log ---------------------------------------------------------------------------

my %alog;
open my $fh, '<', $n->servroot . '/logs/mg.log' or die "mg.log: $!";
while (<$fh>) {
    chomp;
    my ($uri, $rest) = split / /, $_, 2;
    $alog{$uri} = $rest;
}
close $fh;

for my $e (@expect) {
    is $alog{ $e->[0] }, $e->[1], "$e->[2]: access log '$e->[1]'";
}
is $alog{$tiny_path}, '413 too_large', '413: access log';

# --- the spool -----------------------------------------------------------------------------------

my @recs = spool_records($spool);
my (%by_mid, %seen);
for my $rec (@recs) {
    push @{ $by_mid{ $rec->{mid} // '' } }, $rec;
    $seen{"$rec->{src}:$rec->{id}"}++;
}
is_deeply [grep { $seen{$_} > 1 } sort keys %seen], [], 'no event id spooled twice';
is scalar(grep { $_->{src} ne 'mailgun' } @recs), 0, 'every record is from mailgun';
is scalar(grep { /^app-bulk-\d+$/ && @{ $by_mid{$_} } == 1 } keys %by_mid), 1000,
    '1000 posts: 1000 records, once each';

my $d = $by_mid{'app-ok-1'}[0];
is $d->{src}, 'mailgun', 'delivered: src';
is $d->{type}, 'delivered', 'delivered: type';
is $d->{esp_type}, 'delivered', 'delivered: esp_type';
is $d->{id}, 'ok-1', 'delivered: id is event-data.id';
is $d->{esp_mid}, 'ok-1.msg@mg.example.com', 'delivered: esp_mid is the Message-ID';
is $d->{rcpt}, 'ok-1@example.com', 'delivered: rcpt';
is $d->{ts}, 1534110422250, 'delivered: ts in ms from float seconds';
is $d->{smtp_code}, 250, 'delivered: smtp_code';
is $d->{tag}, 'welcome,b2b', 'delivered: tags joined';
ok !exists $d->{bounce}, 'delivered: no bounce';

my $p = $by_mid{'app-perm-1'}[0];
is $p->{type}, 'bounced', 'failed permanent: bounced';
is $p->{esp_type}, 'failed', 'failed permanent: esp_type failed';
is $p->{bounce}, 'hard', 'failed permanent: hard';
is $p->{smtp_code}, 550, 'failed permanent: smtp_code 550';
is $p->{smtp_status}, '5.1.1', 'failed permanent: smtp_status 5.1.1';
like $p->{reason}, qr/^5\.1\.1 The email account that you tried to reach does not exist/,
    "failed permanent: reason is the MTA's text";

my $t = $by_mid{'app-temp-1'}[0];
is $t->{type}, 'deferred', 'failed temporary: deferred';
is $t->{bounce}, 'soft', 'failed temporary: soft';
is $t->{smtp_code}, 452, 'failed temporary: smtp_code';
is $t->{smtp_status}, '4.2.2', 'failed temporary: smtp_status';

for my $m (@map) {
    my ($id, $event, $extra, $want) = @$m;
    my $got = $by_mid{"app-$id"};
    is scalar @{ $got || [] }, 1, "$id: spooled once" or next;
    my $rec = $got->[0];
    my %w = (src => 'mailgun', esp_type => $event, rcpt => "$id\@example.com",
             ts => 1534110422250, esp_mid => "$id.msg\@mg.example.com", id => $id,
             %$want);
    for my $k (sort keys %w) {
        if (defined $w{$k}) {
            is $rec->{$k}, $w{$k}, "$id: $k = $w{$k}";
        } else {
            ok !exists $rec->{$k}, "$id: no $k";
        }
    }
}

ok $by_mid{'12345678901234567'}, 'an integer user variable, exactly';
ok $by_mid{'20180812214658.1.ABC@mg.example.com'},
    'no user variable: mid is the Message-ID without brackets';
ok !exists $by_mid{'20180812214658.1.ABC@mg.example.com'}[0]{esp_mid}, 'and no esp_mid';
ok $by_mid{'other@mg.example.com'}, 'other variables only: the Message-ID';

for my $id (qw(rot-old rot-new sub-1 sub-2 sub-4 file-1 ts-number ts-string ts-8h
               ts-near-future tok-a tok-after-shape tok-genuine upper-hex ct-charset
               latin1 spill))
{
    is scalar @{ $by_mid{"app-$id"} || [] }, 1, "$id spooled once";
}
for my $id (qw(rot-other rot-not-here sub-3 sub-5 file-2 ts-real ts-word ts-stale10
               ts-future ts-stale-forged tok-forged tok-forged-first refuse truncated
               array ct-text ct-none empty-event tiny))
{
    ok !$by_mid{"app-$id"}, "$id (refused) not spooled";
}
is $by_mid{'app-tok-a'}[0]{type}, 'delivered', 'tok-a kept its first content';
is scalar @{ $by_mid{'app-noid'} || [] }, 1, 'the event without an id: once';
like $by_mid{'app-noid'}[0]{id}, qr/^[0-9a-f]{32}$/, 'with a hashed id';
is $by_mid{'app-latin1'}[0]{reason}, "5.1.1 caf\xef\xbf\xbd unknown",
    'the Latin-1 byte repaired to U+FFFD';

done_testing;
