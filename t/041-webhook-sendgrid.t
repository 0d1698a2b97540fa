# mail_track_webhook sendgrid through the real nginx: SendGrid's own
# signed test vector, fresh P-256 keys (inline, a base64 file, a wrapped
# base64 file, a PEM file, two keys for a rotation), batches exactly as
# SendGrid sends them (",\r\n" between events, a trailing "\r\n") and
# the same events re-serialized, missing headers and header names in
# any case, stale / future timestamps, one changed byte anywhere, a
# signature over another timestamp, a temp-file body, a 1000-event batch,
# retries with new sg_event_ids, bad bodies, and every event type mapped
# end to end (bounce classes, machine opens, mid / esp_mid, categories).

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use MailTrack::Sign;
use JSON::PP ();
use Time::HiRes ();

# SendGrid's test vector (sendgrid-nodejs eventwebhook.spec.js; the
# reference, section 1)
my $V_KEY = 'MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEEDr2LjtURuePQzplybdC+u4CwrqD'
          . 'qBaWjcMMsTbhdbcwHBcepxo7yAQGhHPTnlvFYPAZFceEu/1FwCM/QmGUhA==';
my $V_SIG = 'MEUCIQCtIHJeH93Y+qpYeWrySphQgpNGNr/U+UyUlBkU6n7RAwIgJTz2C+8a8xonZGi6'
          . 'BpSzoQsbVRamr2nlxFDWYNH2j/0=';
my $V_TS = '1588788367';
my $V_BODY = '{"category":"example_payload","event":"test_event",'
           . '"message_id":"message_id"}';

# fresh key pairs for this run
my ($priv_a, $pub_a) = sendgrid_keypair('sg-a');
my ($priv_b, $pub_b) = sendgrid_keypair('sg-b');
my ($priv_c, $pub_c) = sendgrid_keypair('sg-c');    # configured nowhere

my $pem_a = "-----BEGIN PUBLIC KEY-----\n"
          . join("\n", unpack('(A64)*', $pub_a))
          . "\n-----END PUBLIC KEY-----\n";
my $wrapped_a = join("\n", unpack('(A20)*', $pub_a)) . "\n";

my $http_config = <<'_EOC_';
    mail_track_zone zone=mt:16m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool flush=100ms max_age=200ms;
    log_format mtsg '$request_uri $status $mail_track_result';
_EOC_

my $config = <<"_EOC_";
        access_log logs/sg.log mtsg;

        location = /sg-vector {
            mail_track_webhook sendgrid;
            mail_track_webhook_key $V_KEY;
            mail_track_webhook_tolerance 0;
        }
        location = /sg-vector-default {
            mail_track_webhook sendgrid;
            mail_track_webhook_key $V_KEY;
        }
        location = /sg {
            mail_track_webhook sendgrid;
            mail_track_webhook_key $pub_a;
        }
        location = /sg-b64file {
            mail_track_webhook sendgrid;
            mail_track_webhook_key file:\$TEST_NGINX_SERVROOT/conf/sg-a.key;
        }
        location = /sg-wrapped {
            mail_track_webhook sendgrid;
            mail_track_webhook_key file:\$TEST_NGINX_SERVROOT/conf/sg-a.wrapped;
        }
        location = /sg-pem {
            mail_track_webhook sendgrid;
            mail_track_webhook_key file:\$TEST_NGINX_SERVROOT/conf/sg-a.pem;
        }
        location = /sg-rot {
            mail_track_webhook sendgrid;
            mail_track_webhook_key $pub_a;
            mail_track_webhook_key $pub_b;
        }
        location = /sg-small {
            client_body_buffer_size 1k;
            mail_track_webhook sendgrid;
            mail_track_webhook_key $pub_a;
        }
        location = /sg-tiny {
            client_max_body_size 1k;
            mail_track_webhook sendgrid;
            mail_track_webhook_key $pub_a;
        }
        location = /metrics { mail_track_metrics; }
_EOC_

my $n = MailTrack::Test->new(name => 'webhook-sendgrid',
                             http_config => $http_config, config => $config);
$n->write_file('conf/sg-a.key', "$pub_a\n", 0600);
$n->write_file('conf/sg-a.wrapped', $wrapped_a, 0600);
$n->write_file('conf/sg-a.pem', $pem_a, 0600);
$n->start;
my $spool = $n->servroot . '/spool';

my $json = JSON::PP->new->utf8->canonical;

sub ev { my (%f) = @_; return $json->encode(\%f) }

# a batch as SendGrid posts it: ",\r\n" after each event but the last,
# "\r\n" after the array (these bytes are signed)
sub batch { return '[' . join(",\r\n", @_) . "]\r\n" }

sub mv { metric_count($n, $_[0]) }

sub refused { mv(qq{mail_track_refused_total{src="sendgrid",reason="$_[0]"}}) }
sub events  { mv(qq{mail_track_events_total{src="sendgrid",type="$_[0]"}}) }

# sg(URI, BODY, ts => T, key => PRIVFILE, sig => S, sign_ts => T2,
#    sign_body => B2, omit => [sig|ts], names => [SIGNAME, TSNAME],
#    ct => TYPE)
my $seq = 0;
my @expect;    # [uri, "status result", name]: checked in the access log

sub sg {
    my ($uri, $body, %o) = @_;
    my $ts = exists $o{ts} ? $o{ts} : int(time());
    my $sig = exists $o{sig} ? $o{sig}
            : sendgrid_sign($o{key} || $priv_a,
                            exists $o{sign_ts} ? $o{sign_ts} : $ts,
                            exists $o{sign_body} ? $o{sign_body} : $body);
    my ($hs, $ht) = @{ $o{names} || ['X-Twilio-Email-Event-Webhook-Signature',
                                     'X-Twilio-Email-Event-Webhook-Timestamp'] };
    my %omit = map { $_ => 1 } @{ $o{omit} || [] };
    my @h;
    push @h, 'Content-Type', (exists $o{ct} ? $o{ct} : 'application/json');
    @h = () unless defined $h[1];
    push @h, $hs, $sig unless $omit{sig};
    push @h, $ht, $ts unless $omit{ts};
    my $path = $uri . '?n=' . ++$seq;
    my $r = $n->request('POST', $path, headers => \@h, body => $body);
    $r->{path} = $path;
    return $r;
}

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
    push @expect, [$r->{path}, "$status $reason", $name];
}

my $now = int(time());
my $MSGID = '14c5d75ce93.dfd.64b469';

# --- SendGrid's test vector ----------------------------------------------

my $r = sg('/sg-vector', $V_BODY, ts => $V_TS, sig => $V_SIG);
accepted_ok($r, 'the public test vector (tolerance 0)');

$r = sg('/sg-vector', $V_BODY, ts => $V_TS, sig => $V_SIG);
accepted_ok($r, 'the test vector again: a duplicate', 0, 1);

$r = sg('/sg-vector-default', $V_BODY, ts => $V_TS, sig => $V_SIG);
refused_ok($r, 401, 'stale', 'the test vector with the default 25h tolerance');

(my $v_changed = $V_BODY) =~ s/example_payload/example_paylaod/;
$r = sg('/sg-vector', $v_changed, ts => $V_TS, sig => $V_SIG);
refused_ok($r, 401, 'bad_signature', 'the test vector with a changed byte');

$r = sg('/sg-vector', $V_BODY, ts => $V_TS + 1, sig => $V_SIG);
refused_ok($r, 401, 'bad_signature', 'the test vector under another timestamp');

$r = sg('/sg', $V_BODY, ts => $V_TS, sig => $V_SIG);
refused_ok($r, 401, 'bad_signature', 'the test vector against another key');

# --- fresh keys: inline, base64 file, wrapped, PEM file, rotation -------------

sub delivered {
    my ($mid, %f) = @_;
    return ev(email => 'a@example.com', event => 'delivered',
              mail_track_id => $mid, 'smtp-id' => "<$mid\@example.com>",
              sg_event_id => "ev-$mid", sg_message_id => "sg-$mid.filter0001.1.2.0",
              timestamp => $now - 10, response => '250 2.0.0 OK', %f);
}

$r = sg('/sg', batch(delivered('key-inline')));
accepted_ok($r, 'a fresh key given inline');

$r = sg('/sg-b64file', batch(delivered('key-file')));
accepted_ok($r, 'the key as file: holding the base64 line');

$r = sg('/sg-wrapped', batch(delivered('key-wrapped')));
accepted_ok($r, 'the key as file: with the base64 wrapped over lines');

$r = sg('/sg-pem', batch(delivered('key-pem')));
accepted_ok($r, 'the key as file: holding a PEM public key');

$r = sg('/sg-pem', batch(delivered('key-pem-b')), key => $priv_b);
refused_ok($r, 401, 'bad_signature', 'the PEM key location, signed by another key');

$r = sg('/sg-rot', batch(delivered('rot-a')), key => $priv_a);
accepted_ok($r, 'two keys: the first verifies');

$r = sg('/sg-rot', batch(delivered('rot-b')), key => $priv_b);
accepted_ok($r, 'two keys: the second verifies');

$r = sg('/sg-rot', batch(delivered('rot-c')), key => $priv_c);
refused_ok($r, 401, 'bad_signature', 'two keys: a third key verifies nothing');

$r = sg('/sg', batch(delivered('rot-b-only')), key => $priv_b);
refused_ok($r, 401, 'bad_signature', 'the second key is not configured on /sg');

# --- the raw bytes are signed: CRLFs ------------------------------------------

my @three = map { delivered("crlf-$_") } 1 .. 3;
my $crlf_body = batch(@three);
my $crlf_ts = int(time());
my $crlf_sig = sendgrid_sign($priv_a, $crlf_ts, $crlf_body);

like $crlf_body, qr/\},\r\n\{.*\},\r\n\{.*\}\]\r\n\z/s, 'a body laid out as SendGrid sends it';

$r = sg('/sg', $crlf_body, ts => $crlf_ts, sig => $crlf_sig);
accepted_ok($r, 'three events separated by CRLF, trailing CRLF', 3);

my $compact = '[' . join(',', @three) . ']';
is_deeply $json->decode($compact), $json->decode($crlf_body),
    'the re-serialized body holds the same events';

$r = sg('/sg', $compact, ts => $crlf_ts, sig => $crlf_sig);
refused_ok($r, 401, 'bad_signature',
           'the same events re-serialized without CRLFs, original signature');

(my $no_trailer = $crlf_body) =~ s/\r\n\z//;
$r = sg('/sg', $no_trailer, ts => $crlf_ts, sig => $crlf_sig);
refused_ok($r, 401, 'bad_signature', 'the trailing CRLF stripped');

(my $lf_only = $crlf_body) =~ s/\r\n/\n/g;
$r = sg('/sg', $lf_only, ts => $crlf_ts, sig => $crlf_sig);
refused_ok($r, 401, 'bad_signature', 'CRLFs turned into LFs');

$r = sg('/sg', $crlf_body, ts => $crlf_ts, sig => $crlf_sig);
accepted_ok($r, 'the original bytes again: duplicates', 0, 3);

# --- headers ------------------------------------------------------------------------

$r = sg('/sg', batch(delivered('hdr-nosig')), omit => ['sig']);
refused_ok($r, 401, 'signature_missing', 'no signature header');

$r = sg('/sg', batch(delivered('hdr-nots')), omit => ['ts']);
refused_ok($r, 401, 'signature_missing', 'no timestamp header');

$r = sg('/sg', batch(delivered('hdr-none')), omit => ['sig', 'ts']);
refused_ok($r, 401, 'signature_missing', 'no signature headers at all');

$r = sg('/sg', batch(delivered('hdr-empty')), sig => '');
refused_ok($r, 401, 'signature_missing', 'an empty signature header');

$r = sg('/sg', batch(delivered('hdr-lc')),
        names => ['x-twilio-email-event-webhook-signature',
                  'x-twilio-email-event-webhook-timestamp']);
accepted_ok($r, 'header names in lower case');

$r = sg('/sg', batch(delivered('hdr-uc')),
        names => ['X-TWILIO-EMAIL-EVENT-WEBHOOK-SIGNATURE',
                  'X-TWILIO-EMAIL-EVENT-WEBHOOK-TIMESTAMP']);
accepted_ok($r, 'header names in upper case');

$r = sg('/sg', batch(delivered('hdr-notnum')), ts => 'yesterday');
refused_ok($r, 401, 'bad_signature', 'a timestamp header that is not a number');

$r = sg('/sg', batch(delivered('hdr-garbage')), sig => 'not base64 at all!');
refused_ok($r, 401, 'bad_signature', 'a signature header that is not base64');

# --- time --------------------------------------------------------------------------

$r = sg('/sg', batch(delivered('time-stale')), ts => int(time()) - 25 * 3600 - 120);
refused_ok($r, 401, 'stale', 'older than the default 25 hours');

$r = sg('/sg', batch(delivered('time-24h')), ts => int(time()) - 24 * 3600);
accepted_ok($r, 'a retry 24 hours late still verifies');

$r = sg('/sg', batch(delivered('time-future')), ts => int(time()) + 360);
refused_ok($r, 401, 'future', 'six minutes in the future');

$r = sg('/sg', batch(delivered('time-near-future')), ts => int(time()) + 240);
accepted_ok($r, 'four minutes in the future (clock skew)');

my $ts0 = int(time());
$r = sg('/sg', batch(delivered('time-other')), ts => $ts0, sign_ts => $ts0 - 1);
refused_ok($r, 401, 'bad_signature', 'the signature made over another timestamp');

$r = sg('/sg', batch(delivered('time-stale-forged')), ts => int(time()) - 30 * 3600,
        key => $priv_c);
refused_ok($r, 401, 'bad_signature',
           'a stale request with a bad signature is a bad signature, not stale');

# --- one changed byte anywhere ------------------------------------------------------

my $flip_body = batch(map { delivered("flip-$_") } 1 .. 2);
my $flip_ts = int(time());
my $flip_sig = sendgrid_sign($priv_a, $flip_ts, $flip_body);

for my $pos (0, 1, int(length($flip_body) / 2), length($flip_body) - 3,
             length($flip_body) - 1)
{
    my $b = $flip_body;
    substr($b, $pos, 1) = substr($b, $pos, 1) eq 'x' ? 'y' : 'x';
    isnt $b, $flip_body, "byte $pos changed";
    $r = sg('/sg', $b, ts => $flip_ts, sig => $flip_sig);
    refused_ok($r, 401, 'bad_signature', "one byte changed at offset $pos");
}

$r = sg('/sg', $flip_body . ' ', ts => $flip_ts, sig => $flip_sig);
refused_ok($r, 401, 'bad_signature', 'one byte appended');

$r = sg('/sg', $flip_body, ts => $flip_ts, sig => $flip_sig);
accepted_ok($r, 'the unchanged body verifies', 2);

is events('delivered'), 6 + 3 + 2 + 2 + 2,
    'only the verified deliveries were queued';

# --- bodies ----------------------------------------------------------------------------

# a body nginx spills to a temp file: 100 events, about 30 KB
my @spill = map {
    delivered(sprintf('spill-%03d', $_), response => '250 2.0.0 OK ' . ('q' x 120))
} 1 .. 100;
my $spill_body = batch(@spill);
ok length($spill_body) > 25000 && length($spill_body) < 40000,
    'the spilled batch is about 30 KB (' . length($spill_body) . ')';

my $logpos = length $n->error_log;
$r = sg('/sg-small', $spill_body);
accepted_ok($r, '100 events read back from a temp file', 100);
like substr($n->error_log, $logpos),
    qr/a client request body is buffered to a temporary file/,
    'nginx did spill that body to a temp file';

# the same bytes, one byte changed at the end of the file part
my $spill_bad = $spill_body;
substr($spill_bad, -10, 1) = 'Q';
$r = sg('/sg-small', $spill_bad, sign_body => $spill_body);
refused_ok($r, 401, 'bad_signature', 'a spilled body with a byte changed near its end');

# 1000 events in one batch
my @bulk = map {
    ev(email => "u$_\@example.com", event => 'delivered',
       mail_track_id => sprintf('bulk-%04d', $_),
       sg_event_id => "bulk-ev-$_", sg_message_id => "bulk$_.filter0001.1.0",
       timestamp => $now - 5, response => '250 OK')
} 1 .. 1000;
my $bulk_body = batch(@bulk);

$r = sg('/sg', $bulk_body);
accepted_ok($r, '1000 events in one batch', 1000);

$r = sg('/sg', $bulk_body);
accepted_ok($r, 'the 1000-event batch retried: all duplicates', 0, 1000);

# a retry where SendGrid assigned new sg_event_ids (sendgrid-nodejs #1435)
my @retry = map {
    ev(email => 'r@example.com', event => $_->[0], mail_track_id => "retry-$_->[1]",
       sg_event_id => "first-$_->[1]", sg_message_id => "retry$_->[1].filter0001.1.0",
       timestamp => $now - 100, %{ $_->[2] })
} ['open', 1, { ip => '198.51.100.7', useragent => 'Mozilla/5.0' }],
  ['click', 2, { ip => '198.51.100.7', useragent => 'Mozilla/5.0',
                 url => 'https://example.com/a' }];
$r = sg('/sg', batch(@retry));
accepted_ok($r, 'an open and a click', 2);

my @retry2 = map { (my $e = $_) =~ s/"first-/"second-/; $e } @retry;
isnt $retry2[0], $retry[0], 'the retry carries other sg_event_ids';

my $dup0 = mv('mail_track_duplicates_total{src="sendgrid"}');
$r = sg('/sg', batch(@retry2));
accepted_ok($r, 'the retry with new sg_event_ids: still duplicates', 0, 2);
is mv('mail_track_duplicates_total{src="sendgrid"}'), $dup0 + 2,
    'duplicates counted';

# events that differ only in what tells them apart are not merged
$r = sg('/sg', batch(
    ev(email => 'r@example.com', event => 'open', mail_track_id => 'retry-1',
       sg_message_id => 'retry1.filter0001.1.0', timestamp => $now - 100,
       ip => '203.0.113.9', useragent => 'Mozilla/5.0'),
    ev(email => 'r@example.com', event => 'open', mail_track_id => 'retry-1',
       sg_message_id => 'retry1.filter0001.1.0', timestamp => $now - 99,
       ip => '198.51.100.7', useragent => 'Mozilla/5.0')));
accepted_ok($r, 'opens from another client, or a second later, are new', 2);

# bad bodies, all signed: each is refused after verifying
$r = sg('/sg', '');
refused_ok($r, 400, 'empty_body', 'an empty body');

$r = sg('/sg', "\r\n");
refused_ok($r, 400, 'empty_body', 'a body of a CRLF alone');

$r = sg('/sg', 'this is not json');
refused_ok($r, 400, 'bad_json', 'malformed JSON');

$r = sg('/sg', substr($crlf_body, 0, int(length($crlf_body) / 2)));
refused_ok($r, 400, 'bad_json', 'truncated JSON');

$r = sg('/sg', batch(delivered('ct-text')), ct => 'text/plain');
refused_ok($r, 400, 'content_type', 'text/plain');

$r = sg('/sg', batch(delivered('ct-form')), ct => 'application/x-www-form-urlencoded');
refused_ok($r, 400, 'content_type', 'a form content type');

$r = sg('/sg', batch(delivered('ct-none')), ct => undef);
refused_ok($r, 400, 'content_type', 'no content type');

$r = sg('/sg', batch(delivered('ct-charset')), ct => 'application/json; charset=utf-8');
accepted_ok($r, 'application/json with a charset');

$r = sg('/sg', '"a string"');
refused_ok($r, 400, 'bad_payload', 'a JSON string');

$r = sg('/sg', batch(delivered('shape-1'), '{"email":"x@example.com"}'));
refused_ok($r, 400, 'bad_payload', 'a batch with an event without a name');

$r = sg('/sg', batch(delivered('shape-2'), '42'));
refused_ok($r, 400, 'bad_payload', 'a batch with a number in it');

$r = sg('/sg', "[]\r\n");
accepted_ok($r, 'an empty array', 0);

my $too_many = '[' . join(",\r\n", ('{"event":"processed"}') x 10001) . "]\r\n";
$r = sg('/sg', $too_many);
refused_ok($r, 400, 'too_many', '10001 events');

$r = sg('/sg-tiny', batch(map { delivered("tiny-$_") } 1 .. 10));
is $r->{status}, 413, 'larger than client_max_body_size: 413';
my $tiny_path = $r->{path};
my $chunked_path;

# the same, chunked: nginx finds out while the module reads the body
{
    my $b = batch(map { delivered("tiny-chunked-$_") } 1 .. 10);
    my $chunked = join('', map { sprintf("%x\r\n%s\r\n", length $_, $_) }
                           unpack('(a500)*', $b)) . "0\r\n\r\n";
    my $ts = int(time());
    my $path = '/sg-tiny?n=' . ++$seq;
    $r = $n->request('POST', $path, body => $chunked, headers => [
        'Content-Type' => 'application/json', 'Transfer-Encoding' => 'chunked',
        'X-Twilio-Email-Event-Webhook-Signature' => sendgrid_sign($priv_a, $ts, $b),
        'X-Twilio-Email-Event-Webhook-Timestamp' => $ts]);
    is $r->{status}, 413, 'a chunked body larger than client_max_body_size: 413';
    $chunked_path = $path;
}

is $n->get('/sg')->{status}, 405, 'GET: 405';

# non-UTF-8 bytes (a Latin-1 diagnostic): verified over the raw bytes,
# then repaired
my $latin = batch(ev(email => 'l@example.com', event => 'bounce', type => 'bounce',
                     mail_track_id => 'latin1', sg_message_id => 'latin.filter0001',
                     timestamp => $now - 30, status => '5.1.1',
                     reason => '550 5.1.1 caf-PLACEHOLDER unknown'));
$latin =~ s/caf-PLACEHOLDER/caf\xe9/;
ok !utf8::is_utf8($latin) && $latin =~ /caf\xe9 /, 'a Latin-1 byte in the body';
$r = sg('/sg', $latin);
accepted_ok($r, 'non-UTF-8 bytes: accepted');

# --- every event type, as one batch ---------------------------------------------------

my $MT = 1700000000;

# [mail_track_id, event fields, expected record fields (undef: absent)]
my @map = (
    ['map-processed', { event => 'processed' },
     { type => 'sent', esp_type => 'processed', bounce => undef }],
    ['map-delivered', { event => 'delivered', response => '250 2.0.0 OK queued as 12345',
                        ip => '167.89.0.1', tls => 1 },
     { type => 'delivered', smtp_code => 250, smtp_status => '2.0.0',
       reason => '250 2.0.0 OK queued as 12345', ip => undef }],
    ['map-deferred', { event => 'deferred', attempt => '3',
                       response => '421 4.7.0 Try again later' },
     { type => 'deferred', bounce => 'soft', smtp_code => 421, smtp_status => '4.7.0' }],
    ['map-bounce-hard', { event => 'bounce', type => 'bounce', status => '5.1.1',
                          reason => '550 5.1.1 The email account does not exist',
                          bounce_classification => 'Invalid Address' },
     { type => 'bounced', esp_type => 'bounce', bounce => 'hard', smtp_code => 550,
       smtp_status => '5.1.1', reason => '550 5.1.1 The email account does not exist' }],
    ['map-blocked', { event => 'bounce', type => 'blocked', status => '5.0.0',
                      reason => '550 5.0.0 Message rejected' },
     { type => 'bounced', bounce => 'block', smtp_code => 550, smtp_status => '5.0.0' }],
    ['map-reputation', { event => 'bounce', type => 'bounce', status => '5.0.0',
                         reason => '550 rejected', bounce_classification => 'Reputation' },
     { type => 'bounced', bounce => 'block' }],
    ['map-content', { event => 'bounce', type => 'bounce', status => '5.0.0',
                      reason => '550 rejected', bounce_classification => 'Content' },
     { type => 'bounced', bounce => 'block' }],
    ['map-frequency', { event => 'bounce', type => 'bounce', status => '5.0.0',
                        reason => '550 too many',
                        bounce_classification => 'Frequency or Volume Too High' },
     { type => 'bounced', bounce => 'soft' }],
    ['map-invalid-lc', { event => 'bounce', type => 'bounce', status => '4.0.0',
                         reason => '450 try later', bounce_classification => 'invalid address' },
     { type => 'bounced', bounce => 'hard', smtp_status => '4.0.0', smtp_code => 450 }],
    ['map-mailbox', { event => 'bounce', type => 'bounce',
                      reason => 'mailbox unavailable',
                      bounce_classification => 'Mailbox Unavailable' },
     { type => 'bounced', bounce => 'soft', smtp_code => undef, smtp_status => undef }],
    ['map-technical-5xx', { event => 'bounce', type => 'bounce', status => '5.4.4',
                            reason => '550 5.4.4 unrouteable',
                            bounce_classification => 'Technical Failure' },
     { type => 'bounced', bounce => 'hard', smtp_status => '5.4.4' }],
    ['map-unclassified-full', { event => 'bounce', type => 'bounce', status => '5.2.2',
                                reason => '552 5.2.2 mailbox full',
                                bounce_classification => 'Unclassified' },
     { type => 'bounced', bounce => 'soft', smtp_status => '5.2.2', smtp_code => 552 }],
    ['map-policy', { event => 'bounce', type => 'bounce', status => '5.7.1',
                     reason => '550 5.7.1 spam' },
     { type => 'bounced', bounce => 'block', smtp_status => '5.7.1' }],
    ['map-code-only', { event => 'bounce', type => 'bounce', reason => '550 no such user' },
     { type => 'bounced', bounce => 'hard', smtp_code => 550, smtp_status => undef }],
    ['map-no-status', { event => 'bounce', type => 'bounce', reason => 'it bounced' },
     { type => 'bounced', bounce => 'undetermined' }],
    ['map-dropped', { event => 'dropped', reason => 'Bounced Address', status => '5.0.0' },
     { type => 'rejected', esp_type => 'dropped', reason => 'Bounced Address',
       bounce => undef }],
    ['map-open-machine', { event => 'open', ip => '17.58.0.1', sg_machine_open => JSON::PP::true,
                           useragent => 'Mozilla/5.0' },
     { type => 'opened', machine => 1, why => 'sg_machine_open', ip => '17.58.0.1',
       ua => 'Mozilla/5.0' }],
    ['map-open-human', { event => 'open', ip => '198.51.100.1', sg_machine_open => JSON::PP::false,
                         useragent => 'Thunderbird' },
     { type => 'opened', machine => 0, why => undef, ua => 'Thunderbird' }],
    ['map-open-unknown', { event => 'open', ip => '198.51.100.2', useragent => 'X' },
     { type => 'opened', machine => undef, why => undef }],
    ['map-click', { event => 'click', ip => '198.51.100.3', useragent => 'Safari',
                    url => 'https://example.com/landing?a=1&b=2',
                    url_offset => { index => 0, type => 'html' } },
     { type => 'clicked', url => 'https://example.com/landing?a=1&b=2',
       ip => '198.51.100.3', ua => 'Safari' }],
    ['map-spam', { event => 'spamreport' }, { type => 'complained' }],
    ['map-unsub', { event => 'unsubscribe' }, { type => 'unsubscribed' }],
    ['map-group-unsub', { event => 'group_unsubscribe', asm_group_id => 42 },
     { type => 'unsubscribed', esp_type => 'group_unsubscribe' }],
    ['map-group-resub', { event => 'group_resubscribe', asm_group_id => 42 },
     { type => 'other', esp_type => 'group_resubscribe' }],
    ['map-account', { event => 'account_status_change', type => 'compliance_suspend' },
     { type => 'other', esp_type => 'account_status_change' }],
    ['map-unknown', { event => 'a_new_kind_of_event' },
     { type => 'other', esp_type => 'a_new_kind_of_event' }],
    ['map-cat-array', { event => 'processed', category => ['welcome', 'onboarding'] },
     { type => 'sent', tag => 'welcome,onboarding' }],
    ['map-cat-string', { event => 'processed', category => 'cat facts' },
     { type => 'sent', tag => 'cat facts' }],
    ['map-filterdrecv', { event => 'processed',
                          sg_message_id => 'aBcD123.filterdrecv-p3mdw1-756b745b58-kmzbl-18-5F5FC1BC-48.0' },
     { type => 'sent', esp_mid => 'aBcD123' }],
);

my @map_events = map {
    my ($mid, $f) = @$_;
    ev(email => "$mid\@example.com", timestamp => $MT, mail_track_id => $mid,
       'smtp-id' => "<$mid\@ismtpd-555>", sg_event_id => "sgev-$mid",
       sg_message_id => "$MSGID.filter0001.16648.5515E0B88.0", %$f)
} @map;

# no custom argument: mid is sg_message_id without ".filter..."
push @map_events, ev(email => 'nomid@example.com', event => 'delivered',
                     timestamp => $MT, sg_message_id => 'NoMid42.filter0001.1.0');
# an integer custom argument beyond 2^53
push @map_events, ev(email => 'int@example.com', event => 'delivered',
                     timestamp => $MT, mail_track_id => 9007199254740993,
                     sg_message_id => 'IntMid.filter0001.1.0');

my %ev0 = map { $_ => events($_) }
          qw(sent delivered deferred bounced rejected opened clicked complained
             unsubscribed other);

$r = sg('/sg', batch(@map_events));
accepted_ok($r, 'one batch with every event type', scalar @map_events);

my %count;
$count{ $_->[2]{type} }++ for @map;
$count{delivered} += 2;
for my $t (sort keys %ev0) {
    is events($t) - $ev0{$t}, $count{$t} // 0, "events_total type=$t";
}

# --- refusals are counted and logged ---------------------------------------------------

my %reasons;
$reasons{ (split ' ', $_->[1])[1] }++ for grep { $_->[1] !~ /^(200|413) / } @expect;

for my $reason (sort keys %reasons) {
    is refused($reason), $reasons{$reason}, "refused_total reason=$reason";
}

is refused('too_large'), 2, 'refused_total reason=too_large (both 413s)';
like $n->error_log,
    qr/mail_track sendgrid: body larger than client_max_body_size \(too_large\)/,
    'log: too_large';

my $log = $n->error_log;
like $log, qr/mail_track sendgrid: signature does not verify \(bad_signature\): no configured key verifies the signature/,
    'log: bad_signature';
like $log, qr/mail_track sendgrid: signature or its headers missing \(signature_missing\)/,
    'log: signature_missing';
like $log, qr/mail_track sendgrid: timestamp too old \(stale\)/, 'log: stale';
like $log, qr/mail_track sendgrid: timestamp in the future \(future\)/, 'log: future';
like $log, qr/mail_track sendgrid: too many events \(too_many\)/, 'log: too_many';
like $log, qr/mail_track sendgrid: .*\(bad_signature\): timestamp header is not a number/,
    'log: a timestamp that is not a number';

$n->quit;

# --- the access log: every answer and its $mail_track_result -------------------------

my %alog;
open my $fh, '<', $n->servroot . '/logs/sg.log' or die "sg.log: $!";
while (<$fh>) {
    chomp;
    my ($uri, $rest) = split / /, $_, 2;
    $alog{$uri} = $rest;
}
close $fh;

for my $e (@expect) {
    is $alog{ $e->[0] }, $e->[1], "$e->[2]: access log '$e->[1]'";
}

is $alog{$tiny_path}, '413 too_large', '413 (Content-Length): access log';
is $alog{$chunked_path}, '413 too_large', '413 (chunked): access log';

# --- the spool --------------------------------------------------------------------------

my @recs = spool_records($spool);
my (%by_mid, %seen);
for my $rec (@recs) {
    push @{ $by_mid{ $rec->{mid} // '' } }, $rec;
    $seen{"$rec->{src}:$rec->{id}"}++;
}
is_deeply [grep { $seen{$_} > 1 } sort keys %seen], [], 'no event id spooled twice';
is scalar(grep { $_->{src} ne 'sendgrid' } @recs), 0, 'every record is from sendgrid';

# the vector
my @vec = grep { ($_->{esp_type} // '') eq 'test_event' } @recs;
is scalar @vec, 1, 'the test vector spooled once';
is $vec[0]{type}, 'other', 'vector: type other';
is $vec[0]{tag}, 'example_payload', 'vector: category as tag';
ok !exists $vec[0]{mid} && !exists $vec[0]{ts}, 'vector: no mid, no ts';
like $vec[0]{id}, qr/^[0-9a-f]{32}$/, 'vector: a hashed id';

for my $mid (qw(key-inline key-file key-wrapped key-pem rot-a rot-b hdr-lc hdr-uc
                time-24h time-near-future ct-charset latin1))
{
    is scalar @{ $by_mid{$mid} || [] }, 1, "$mid spooled once";
}
for my $mid (qw(key-pem-b rot-c rot-b-only hdr-nosig hdr-nots hdr-none hdr-empty
                hdr-notnum hdr-garbage time-stale time-future time-other
                time-stale-forged shape-1 shape-2 ct-text ct-form ct-none tiny-1))
{
    ok !$by_mid{$mid}, "$mid (refused) not spooled";
}

is scalar(grep { /^crlf-/ } keys %by_mid), 3, 'the CRLF batch: 3 records';
is scalar(grep { /^flip-/ } keys %by_mid), 2, 'the byte-flip batch: only the genuine one';
is scalar(grep { /^spill-\d+$/ && @{ $by_mid{$_} } == 1 } keys %by_mid), 100,
    'the spilled batch: 100 records, once each';
is scalar(grep { /^bulk-\d+$/ && @{ $by_mid{$_} } == 1 } keys %by_mid), 1000,
    'the 1000-event batch: 1000 records, once each';
is scalar @{ $by_mid{'retry-1'} || [] }, 3, 'retry-1: the first open, two distinct opens';
is scalar @{ $by_mid{'retry-2'} || [] }, 1, 'retry-2: the click once';

my $l = $by_mid{latin1}[0];
is $l->{reason}, "550 5.1.1 caf\xef\xbf\xbd unknown",
    'the Latin-1 byte repaired to U+FFFD (UTF-8 bytes)';
is $l->{bounce}, 'hard', 'and classified';

my $d = $by_mid{'key-inline'}[0];
is $d->{type}, 'delivered', 'delivered: type';
is $d->{esp_type}, 'delivered', 'delivered: esp_type';
is $d->{rcpt}, 'a@example.com', 'delivered: rcpt';
is $d->{esp_mid}, 'sg-key-inline', 'delivered: esp_mid is sg_message_id before .filter';
is $d->{ts}, ($now - 10) * 1000, 'delivered: ts in ms';
ok $d->{rt} >= $d->{ts}, 'delivered: rt';
is $d->{v}, 1, 'record version 1';

for my $m (@map) {
    my ($mid, $f, $want) = @$m;
    my $got = $by_mid{$mid};
    is scalar @{ $got || [] }, 1, "$mid: spooled once" or next;
    my $rec = $got->[0];
    my %w = (src => 'sendgrid', esp_type => $f->{event}, rcpt => "$mid\@example.com",
             ts => $MT * 1000, esp_mid => $MSGID, %$want);
    for my $k (sort keys %w) {
        if (defined $w{$k}) {
            is $rec->{$k}, $w{$k}, "$mid: $k = $w{$k}";
        } else {
            ok !exists $rec->{$k}, "$mid: no $k";
        }
    }
}

my ($nomid) = @{ $by_mid{NoMid42} || [] };
ok $nomid, 'no custom argument: mid is the sg_message_id before .filter';
ok $nomid && !exists $nomid->{esp_mid}, 'and no esp_mid';
ok $by_mid{'9007199254740993'}, 'an integer custom argument beyond 2^53, exactly';
is $by_mid{'9007199254740993'}[0]{esp_mid}, 'IntMid', 'with its esp_mid';

# --- keys nginx must refuse --------------------------------------------------------------

my $p384 = `openssl ecparam -name secp384r1 -genkey -noout 2>/dev/null | openssl ec -pubout -outform DER 2>/dev/null | base64 -w0`;
ok length $p384 > 100, 'a P-384 public key';

for my $bad (['a P-384 key', $p384, qr/not an EC P-256/],
             ['not base64', 'this-is-not-a-key', qr/invalid sendgrid webhook key/],
             ['a PEM armour line alone', '"-----BEGIN PUBLIC KEY-----"',
              qr/invalid sendgrid webhook key/])
{
    my $b = MailTrack::Test->new(name => 'webhook-sendgrid-badkey',
                                 http_config => $http_config, config => <<"_EOC_");
        location = /sg {
            mail_track_webhook sendgrid;
            mail_track_webhook_key $bad->[1];
        }
_EOC_
    my ($refused, $out) = $b->start_fails;
    ok $refused, "nginx refuses to start with $bad->[0]";
    like $out, $bad->[2], "$bad->[0]: the reason";
}

done_testing;
