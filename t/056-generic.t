# mail_track_webhook generic through the real nginx, configured inline:
# every bad input of the engine with its answer and its log line (empty,
# not the format, not UTF-8, too large, too many events, nested too deep,
# a template piece missing, a signature header repeated or of the wrong
# encoding or length, a nonce over 256 bytes, a field that is an object,
# a body with the query format), a body read back from a temporary file,
# a query string by GET, other methods, several names counted apart, the
# status API's sources by name, and nothing queued by a refused batch.

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use MailTrack::Generic;
use Digest::SHA qw(hmac_sha256_hex hmac_sha1_hex);
use JSON::PP ();

my $json = JSON::PP->new->utf8->canonical;
my $KEY = hex_secret(16);

my $n = generic_nginx(name => 'generic', config => <<"_EOC_");
        location = /body {
            mail_track_webhook generic;
            mail_track_generic_name acme;
            mail_track_webhook_key $KEY;
            mail_track_generic_format json;
            mail_track_generic_events /events;
            mail_track_generic_digest hmac-sha256 hex header:X-Sig;
            mail_track_generic_message "{header:X-Ts}.{body}";
            mail_track_generic_timestamp header:X-Ts s;
            mail_track_generic_nonce header:X-Delivery;
            mail_track_generic_field id /id;
            mail_track_generic_field esp_type /type;
            mail_track_generic_field mid "/meta/{id_field}";
            mail_track_generic_field esp_mid /message_id;
            mail_track_generic_field rcpt /to;
            mail_track_generic_field reason /detail;
            mail_track_generic_field url /link;
            mail_track_generic_event open opened;
            mail_track_generic_event click clicked;
            mail_track_generic_event bounce bounced;
            client_body_buffer_size 1k;
        }
        location = /tiny {
            client_max_body_size 1k;
            mail_track_webhook generic;
            mail_track_generic_name acme;
            mail_track_webhook_key $KEY;
            mail_track_generic_events /events;
            mail_track_generic_digest hmac-sha256 hex header:X-Sig;
            mail_track_generic_field esp_type /type;
            mail_track_generic_event default other;
        }
        location = /query {
            mail_track_webhook generic;
            mail_track_generic_name elastic;
            mail_track_webhook_key $KEY;
            mail_track_generic_format query;
            mail_track_generic_token query:secret;
            mail_track_generic_field esp_type /status;
            mail_track_generic_field esp_mid /messageid;
            mail_track_generic_field rcpt /to;
            mail_track_generic_field url /target;
            mail_track_generic_event Sent delivered;
            mail_track_generic_event Clicked clicked;
        }
        location = /sha1 {
            mail_track_webhook generic;
            mail_track_generic_name sha1-vendor;
            mail_track_webhook_key $KEY;
            mail_track_generic_digest hmac-sha1 base64 header:X-Sig prefix=sha1=;
            mail_track_generic_field esp_type /e;
            mail_track_generic_event default other;
        }
_EOC_

my $JSON = ['Content-Type', 'application/json'];

# a request to /body, signed: sign(BODY, ts => T, delivery => D, ...)
sub signed {
    my ($body, %o) = @_;
    my $ts = $o{ts} // time;
    my $d = exists $o{delivery} ? $o{delivery} : 'dlv-' . hex_secret(8);
    my @h = (@$JSON);
    push @h, 'X-Ts', $ts unless $o{no_ts};
    push @h, 'X-Delivery', $d if defined $d;
    push @h, 'X-Sig', $o{sig} // hmac_sha256_hex("$ts.$body", $KEY)
        unless $o{no_sig};
    push @h, @{ $o{headers} || [] };
    return send_hook($n, 'POST', $o{uri} // '/body', $body, \@h);
}

sub ev {
    my (%f) = @_;
    return { type => 'open', to => 'a@example.com', message_id => 'm-1', %f };
}

sub batch { $json->encode({ events => [@_] }) }

sub answer_is {
    my ($r, $status, $reason, $name) = @_;
    is $r->{status}, $status, "$name: $status";
}

my $log_before = length $n->error_log;

sub log_has {
    my ($re, $name) = @_;
    like substr($n->error_log, $log_before), $re, "log: $name";
}

# --- the good case, and its records ------------------------------------

my $r = signed(batch(ev(id => 'ok-1', meta => { mail_track_id => 'app-1' }),
                     ev(id => 'ok-2', type => 'click', link => 'https://e.x/?a=1')));
is $r->{status}, 200, 'two events: 200';
is $r->{body}, answer(2, 0), 'two accepted';

# --- bad bodies ----------------------------------------------------------

answer_is(signed(''), 400, 'empty_body', 'an empty body');
answer_is(signed("  \r\n"), 400, 'empty_body', 'whitespace only');
answer_is(signed('{"events":[{"type":'), 400, 'bad_json', 'truncated JSON');
answer_is(signed('type=open&to=a'), 400, 'bad_json', 'a form where JSON is configured');
answer_is(signed('{"events":' . ('[' x 100) . (']' x 100) . '}'), 400, 'bad_json',
          'nested 100 deep');
answer_is(signed('{"events":{"type":"open"},"x":' . ('{"a":' x 70) . '1' . ('}' x 70)
                 . '}'), 400, 'bad_json', 'nested 70 deep beside the events');
answer_is(signed(batch(map { ev(id => "many-$_") } 1 .. 10001)), 400, 'too_many',
          '10001 events');
answer_is(signed($json->encode({ events => 'open' })), 400, 'bad_payload',
          'the events pointer on a string');
answer_is(signed(batch(ev(id => 'b-1'), 42)), 400, 'bad_payload',
          'an event that is not an object');
answer_is(signed(batch(ev(id => 'b-2'), { to => 'x@example.com' })), 400,
          'bad_payload', 'an event without a name');
log_has(qr/mail_track acme: unexpected payload \(bad_payload\): an event without a name \(\/type\)/,
        'the missing event name');

{
    my $b = batch(ev(id => 'latin1', to => 'caf-PLACEHOLDER@example.com'));
    $b =~ s/caf-PLACEHOLDER/caf\xe9/;
    $r = signed($b);
    is $r->{status}, 200, 'not UTF-8: repaired and accepted, as every provider';
}

{
    my $big = batch(ev(id => 'big', detail => 'x' x 2000));
    my $ts = time;
    $r = send_hook($n, 'POST', '/tiny', $big,
                   [@$JSON, 'X-Sig', hmac_sha256_hex($big, $KEY)]);
    is $r->{status}, 413, 'larger than client_max_body_size: 413';
}

# --- authentication ----------------------------------------------------

answer_is(signed(batch(ev(id => 'a-1')), no_sig => 1), 401, 'signature_missing',
          'no signature');
answer_is(signed(batch(ev(id => 'a-2')), no_ts => 1), 401, 'signature_missing',
          'the template piece {header:X-Ts} missing');
log_has(qr/mail_track acme: signature or its headers missing \(signature_missing\): the signed header x-ts is missing/,
        'the missing piece named');
{
    my $b = batch(ev(id => 'a-3'));
    my $ts = time;
    my $sig = hmac_sha256_hex("$ts.$b", $KEY);
    answer_is(signed($b, ts => $ts, headers => ['X-Sig', $sig]), 401, 'bad_signature',
              'the signature header twice');
    log_has(qr/signature does not verify \(bad_signature\): the signature header x-sig came 2 times/,
            'a repeated header');
    answer_is(signed($b, ts => $ts, sig => substr($sig, 0, 63)), 401, 'bad_signature',
              '63 hex digits');
    answer_is(signed($b, ts => $ts, sig => $sig . 'a'), 401, 'bad_signature',
              '65 hex digits');
    {
        my $bad = $sig;
        substr($bad, 10, 1) = substr($bad, 10, 1) eq 'a' ? 'b' : 'a';
        answer_is(signed($b, ts => $ts, sig => $bad), 401, 'bad_signature',
                  'one digit changed');
    }
    answer_is(signed($b, ts => $ts, sig => 'zz' . substr($sig, 2)), 401, 'bad_signature',
              'not hex');
    log_has(qr/the signature is not 64 hex digits/, 'the wrong encoding or length');
    answer_is(signed($b, ts => $ts, sig => uc $sig), 200, 'accepted',
              'upper-case hex verifies');
    answer_is(signed($b . ' ', ts => $ts, sig => $sig), 401, 'bad_signature',
              'a byte added to the body');
}
answer_is(signed(batch(ev(id => 'a-4')), ts => time - 400), 401, 'stale',
          'older than 5 minutes');
answer_is(signed(batch(ev(id => 'a-5')), ts => time + 400), 401, 'future',
          'from the future');
answer_is(signed(batch(ev(id => 'a-6')), ts => 'now'), 401, 'bad_signature',
          'a timestamp that is not a number');
answer_is(signed(batch(ev(id => 'a-7')), delivery => 'n' x 257), 401, 'bad_signature',
          'a nonce of 257 bytes');
log_has(qr/the nonce is longer than 256 bytes/, 'the long nonce');
answer_is(signed(batch(ev(id => 'a-8')), delivery => 'n' x 256), 200, 'accepted',
          'a nonce of 256 bytes');
answer_is(signed(batch(ev(id => 'a-9')), delivery => undef), 401, 'signature_missing',
          'no nonce');

# the nonce: a retry, then the same nonce on other events
{
    my $b = batch(ev(id => 'n-1'));
    my $ts = time;
    $r = signed($b, ts => $ts, delivery => 'dlv-fixed');
    is $r->{body}, answer(1, 0), 'a nonce: first';
    $r = signed($b, ts => $ts, delivery => 'dlv-fixed');
    is $r->{body}, answer(0, 1), 'the same request: a duplicate';
    my $b2 = batch(ev(id => 'n-2', type => 'bounce'));
    answer_is(signed($b2, ts => $ts, delivery => 'dlv-fixed'), 401, 'replay',
              'the same nonce on another event');
    my $b3 = batch(ev(id => 'n-1'), ev(id => 'n-3'));
    answer_is(signed($b3, ts => $ts, delivery => 'dlv-fixed'), 401, 'replay',
              'the same nonce with one event more');
}

# --- fields ----------------------------------------------------------------

$r = signed(batch(ev(id => 'f-1', to => { address => 'x@example.com' },
                     message_id => ['m-array'], detail => { text => 'no' },
                     meta => { mail_track_id => 'app-f-1' })));
is $r->{status}, 200, 'fields that are an object or an array: accepted';

# --- a body nginx wrote to a temporary file ------------------------------

{
    my $b = batch(map { ev(id => "spill-$_", detail => 'd' x 100) } 1 .. 20);
    my $pos = length $n->error_log;
    $r = signed($b);
    is $r->{body}, answer(20, 0), 'a body from a temporary file: verified';
    like substr($n->error_log, $pos), qr/a client request body is buffered to a temporary file/,
        'nginx did spill it';
}

# --- the query string format ------------------------------------------------

$r = send_hook($n, 'GET', "/query?secret=$KEY&status=Clicked&messageid=eq-1"
               . '&to=q%40example.com&target=https%3A%2F%2Fe.x%2F%3Fa%3D1%2B1+2', '');
is $r->{status}, 200, 'a GET with the event in the query string';
$r = send_hook($n, 'POST', "/query?secret=$KEY&status=Sent&messageid=eq-2&to=p%40x", 'a=1',
               ['Content-Type', 'application/x-www-form-urlencoded']);
is $r->{status}, 400, 'the query format with a body: 400';
$r = send_hook($n, 'GET', '/query?secret=nope&status=Sent', '');
is $r->{status}, 401, 'a wrong secret: 401';
$r = send_hook($n, 'GET', '/body', '');
is $r->{status}, 401, 'GET of a JSON location: refused (no signature first)';
$r = send_hook($n, 'PUT', '/body', '{}', $JSON);
is $r->{status}, 405, 'PUT: 405';
$r = send_hook($n, 'HEAD', '/body', '');
is $r->{status}, 200, 'HEAD: 200';

# --- HMAC-SHA1, base64, a prefix ---------------------------------------------

{
    require MIME::Base64;
    my $b = '{"e":"x"}';
    my $sig = MIME::Base64::encode_base64(Digest::SHA::hmac_sha1($b, $KEY), '');
    $r = send_hook($n, 'POST', '/sha1', $b, [@$JSON, 'X-Sig', "sha1=$sig"]);
    is $r->{status}, 200, 'hmac-sha1 base64 with a prefix';
    $r = send_hook($n, 'POST', '/sha1', $b, [@$JSON, 'X-Sig', $sig]);
    is $r->{status}, 401, 'without its prefix: 401';
}

# --- the records -------------------------------------------------------------

my @recs = records_of($n, 'acme', 27);
my %by = map { $_->{id} => $_ } @recs;
is $by{'ok-1'}{type}, 'opened', 'acme: opened';
is $by{'ok-1'}{mid}, 'app-1', 'acme: mid from meta/{id_field}';
is $by{'ok-1'}{esp_mid}, 'm-1', 'acme: esp_mid';
is $by{'ok-2'}{url}, 'https://e.x/?a=1', 'acme: url of the click';
ok exists $by{'f-1'}, 'the event with structured fields';
ok !exists $by{'f-1'}{rcpt}, 'an object where a string is expected: left out';
ok !exists $by{'f-1'}{esp_mid}, 'an array where a string is expected: left out';
ok !exists $by{'f-1'}{reason}, 'no reason stringified';
is $by{'f-1'}{mid}, 'app-f-1', 'the other fields kept';
ok !exists $by{'b-1'}, 'nothing of a refused batch queued';
ok !exists $by{'n-2'}, 'nothing of a replayed nonce queued';
ok !exists $by{'many-1'}, 'nothing of a batch too large queued';
is scalar(grep { /^spill-/ } keys %by), 20, 'the spilled batch: 20 records';
like $by{latin1}{rcpt}, qr/^caf\xef\xbf\xbd\@example\.com$/, 'U+FFFD for the bad byte';

my @q = records_of($n, 'elastic');
is $q[0]{url}, 'https://e.x/?a=1+1 2', 'elastic: the query string decoded';
is $q[0]{type}, 'clicked', 'elastic: clicked';
is scalar(records_of($n, 'sha1-vendor')), 1, 'sha1-vendor: one record';

# --- metrics and status by name -----------------------------------------------

is events_count($n, 'acme', 'opened') > 0 ? 1 : 0, 1, 'metrics: acme events';
is events_count($n, 'elastic', 'clicked'), 1, 'metrics: elastic apart';
is refused_count($n, 'acme', 'replay'), 2, 'metrics: acme replays';
is refused_count($n, 'acme', 'too_large'), 1, 'metrics: acme 413 counted';
is refused_count($n, 'elastic', 'auth_failed'), 1, 'metrics: elastic auth_failed';
is refused_count($n, 'elastic', 'bad_payload'), 1, 'metrics: elastic bad_payload';
is refused_count($n, 'acme', 'method'), 1, 'metrics: acme 405';
is duplicates_count($n, 'acme'), 1, 'metrics: acme duplicates';
unlike $n->get('/metrics')->{body}, qr/src="generic"/, 'no "generic" label';

$r = $n->get('/status/app-1');
like $r->{body}, qr/"sources":\["acme"\]/, 'status: the source by its name';

# a reload that adds a name before the others: each keeps its counters
# and the message states that name it

{
    my $acme = events_count($n, 'acme', 'opened');
    $n->reload(config => "        access_log logs/gen.log mtgen;\n"
               . "        location = /zeta { mail_track_webhook generic;\n"
               . "            mail_track_generic_name zeta; mail_track_webhook_key $KEY;\n"
               . "            mail_track_generic_format query; mail_track_generic_token query:secret;\n"
               . "            mail_track_generic_event default other; }\n"
               . "        location = /body2 { mail_track_webhook generic;\n"
               . "            mail_track_generic_name acme; mail_track_webhook_key $KEY;\n"
               . "            mail_track_generic_field esp_type /type;\n"
               . "            mail_track_generic_event open opened; }\n"
               . "        location = /metrics { mail_track_metrics; }\n"
               . "        location /status/ { mail_track_status; }");
    is events_count($n, 'acme', 'opened'), $acme, 'reload: acme keeps its count';
    is events_count($n, 'elastic', 'clicked'), 1,
        'reload: a name no longer configured keeps its count until its slot is needed';
    $r = send_hook($n, 'GET', "/zeta?secret=$KEY&x=1", '');
    is $r->{status}, 200, 'reload: the new name';
    is events_count($n, 'zeta', 'other'), 1, 'reload: zeta counts apart';
    is events_count($n, 'acme', 'opened'), $acme, 'reload: acme untouched by zeta';
    $r = send_hook($n, 'POST', '/body2', '{"type":"open","to":"z@example.com"}',
                   ['Content-Type', 'application/json', 'Authorization',
                    "Bearer $KEY"]);
    is $r->{status}, 200, 'reload: acme again';
    is events_count($n, 'acme', 'opened'), $acme + 1, 'reload: acme counts on';
    like $n->get('/status/app-1')->{body}, qr/"sources":\["acme"\]/,
        'reload: the status still names acme';
}

unlike $n->error_log, qr/\[(alert|crit|emerg)\]/, 'no alert';

$n->quit;

done_testing;
