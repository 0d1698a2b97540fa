# JSON bodies as every webhook provider parses them (core/mt_json.h on
# simdjson), through the real nginx: truncated bodies, invalid UTF-8,
# lone surrogates in \u escapes, numbers beyond 64 bits, nesting past
# the depth cap, keys there twice (the first wins), and a body of 10 MB
# of '['.  Each refusal is a 400 with a log line naming the cause and is
# counted; nothing of a refused batch is queued; the next body parses.

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use MailTrack::Sign;

my ($priv, $pub) = sendgrid_keypair('sg-json');

my $http_config = <<'_EOC_';
    mail_track_zone zone=mt:4m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool flush=100ms max_age=200ms;
_EOC_

my $config = <<"_EOC_";
        location = /pm {
            mail_track_webhook postmark;
            mail_track_webhook_key s3cret;
        }
        location = /pm-big {
            client_max_body_size 16m;
            mail_track_webhook postmark;
            mail_track_webhook_key s3cret;
        }
        location = /sg {
            mail_track_webhook sendgrid;
            mail_track_webhook_key $pub;
        }
        location = /metrics { mail_track_metrics; }
_EOC_

my $n = MailTrack::Test->new(name => 'webhook-json', http_config => $http_config,
                             config => $config);
$n->start;
my $spool = $n->servroot . '/spool';

sub pm {
    my ($uri, $body) = @_;
    return $n->request('POST', $uri, body => $body,
                       headers => ['Content-Type', 'application/json',
                                   'Authorization', 'Basic '
                                   . MIME::Base64::encode_base64('postmark:s3cret', '')]);
}

sub sg {
    my ($body) = @_;
    my $ts = int(time());
    return $n->request('POST', '/sg', body => $body,
                       headers => ['Content-Type', 'application/json',
                                   'X-Twilio-Email-Event-Webhook-Signature',
                                   sendgrid_sign($priv, $ts, $body),
                                   'X-Twilio-Email-Event-Webhook-Timestamp', $ts]);
}

# a Postmark delivery; $extra is JSON text spliced into the object
sub delivery {
    my ($mid, $extra) = @_;
    return qq({"RecordType":"Delivery","MessageID":"$mid",)
         . qq("Recipient":"a\@example.com","DeliveredAt":"2026-01-01T00:00:00Z",)
         . qq("Details":"250 OK") . ($extra // '') . '}';
}

sub sg_event {
    my ($id, $extra) = @_;
    return qq({"event":"delivered","email":"a\@example.com","timestamp":1764000000,)
         . qq("sg_message_id":"$id.filter1") . ($extra // '') . '}';
}

my $bad = 0;

# the last line a provider logged (the spool logs on its own schedule)
sub last_logged {
    my @l = grep { /mail_track (postmark|sendgrid): / } split /\n/, $n->error_log;
    return @l ? $l[-1] : '';
}

sub refused_ok {
    my ($r, $cause, $name) = @_;
    $bad++;
    is $r->{status}, 400, "$name: 400";
    like last_logged(), qr/mail_track \w+: malformed json \(bad_json\): .*\Q$cause\E/,
        "$name: the log names the cause";
}

# the provider's id is the record's mid when no application id is set
sub records_of {
    my ($mid) = @_;
    return grep { ($_->{mid} // '') eq $mid } spool_records($spool);
}

# --- truncated ---------------------------------------------------------------

my $r = pm('/pm', '{"RecordType":"Delivery","MessageID":"trunc",');
refused_ok($r, 'improper structure', 'a truncated object');

$r = sg('[' . sg_event('sg-t1') . ",\r\n" . substr(sg_event('sg-t2'), 0, 21));
refused_ok($r, 'improper structure', 'a signed batch cut in its second event');

$r = pm('/pm', delivery('trunc-str', ',"Tag":"abc'));
refused_ok($r, 'a string without its closing quote', 'cut inside a string');

# --- invalid UTF-8: repaired, not refused ------------------------------------

$r = sg('[' . sg_event('sg-latin1', qq(,"response":"250 gr\xfc\xdf")) . ']');
is $r->{status}, 200, 'Latin-1 bytes in a signed batch: 200 (verified as sent)';

# --- \u escapes ----------------------------------------------------------------

$r = pm('/pm', delivery('sur-1', ',"Tag":"\ud800"'));
refused_ok($r, 'a bad escape or a lone surrogate', 'a lone high surrogate');

$r = pm('/pm', delivery('sur-2', ',"Tag":"x\udc00y"'));
refused_ok($r, 'a bad escape or a lone surrogate', 'a lone low surrogate');

$r = pm('/pm', delivery('sur-3', ',"Tag":"\ud83d\u0041"'));
refused_ok($r, 'a bad escape or a lone surrogate',
           'a high surrogate followed by no low one');

$r = pm('/pm', delivery('sur-ok', ',"Tag":"\ud83d\ude00 \u00e9\u0000!"'));
is $r->{status}, 200, 'a surrogate pair, an accent and \u0000: 200';

# --- numbers -------------------------------------------------------------------

$r = pm('/pm', delivery('num-1', ',"Extra":18446744073709551616'));
refused_ok($r, 'out of the 64-bit range', 'an integer of 65 bits');

$r = pm('/pm', delivery('num-2', ',"Extra":-9223372036854775809'));
refused_ok($r, 'out of the 64-bit range', 'below -2^63');

$r = pm('/pm', delivery('num-3', ',"Extra":1e400'));
refused_ok($r, 'out of the 64-bit range', 'a double beyond its range');

(my $big_id = delivery('x')) =~ s/"MessageID":"x"/"MessageID":18446744073709551615/;
$r = pm('/pm', $big_id);
is $r->{status}, 200, 'a MessageID of 2^64 - 1: 200';

# --- nesting -------------------------------------------------------------------

$r = pm('/pm', delivery('deep-1', ',"Extra":' . ('[' x 70) . (']' x 70)));
refused_ok($r, 'nested deeper than 64 levels', '70 levels');

$r = pm('/pm', delivery('deep-ok', ',"Extra":' . ('[' x 60) . (']' x 60)));
is $r->{status}, 200, '61 levels: 200';

# --- a key there twice: the first wins, for every provider --------------------

$r = pm('/pm', '{"RecordType":"Delivery","MessageID":"dup-first",'
             . '"Recipient":"first@example.com","DeliveredAt":"2026-01-01T00:00:00Z",'
             . '"Recipient":"second@example.com","RecordType":"Bounce"}');
is $r->{status}, 200, 'postmark, keys twice: 200';

$r = sg('[{"event":"delivered","email":"a@example.com","timestamp":1764000000,'
      . '"sg_message_id":"sg-dup.filter1","event":"bounce","email":"b@example.com"}]');
is $r->{status}, 200, 'sendgrid, keys twice: 200';

# --- 10 MB of '[' ---------------------------------------------------------------

$r = pm('/pm-big', '[' x (10 * 1024 * 1024));
refused_ok($r, 'improper structure', "10 MB of '['");

$r = pm('/pm-big', delivery('after-big'));
is $r->{status}, 200, 'the next body parses';

unlike $n->error_log, qr/\[(alert|emerg|crit)\]|signal \d+/,
    'no worker crashed, nothing critical logged';

# --- counted, and nothing of a refused body queued ------------------------------

is metric_count($n, 'mail_track_refused_total{src="postmark",reason="bad_json"}')
   + metric_count($n, 'mail_track_refused_total{src="sendgrid",reason="bad_json"}'),
   $bad, "every refusal counted as bad_json ($bad)";

my @recs = wait_records($spool, 7, 5);

is scalar(records_of('sg-t1')), 0, 'the first event of the cut batch: not queued';

my ($latin) = records_of('sg-latin1');
# spool_records() decodes bytes: U+FFFD is its UTF-8 form here
like $latin->{reason} // '', qr/^250 gr\xef\xbf\xbd\xef\xbf\xbd$/,
    'Latin-1 bytes kept as U+FFFD';

my ($sur) = records_of('sur-ok');
is $sur->{tag}, "\xf0\x9f\x98\x80 \xc3\xa9\x{0}!", 'the escapes decoded, \u0000 kept';

my @ids = map { $_->{mid} // '' } @recs;
ok((grep { $_ eq '18446744073709551615' } @ids), 'the 64-bit MessageID exact');

my ($dup) = records_of('dup-first');
is $dup->{type}, 'delivered', 'postmark: the first RecordType';
is $dup->{rcpt}, 'first@example.com', 'postmark: the first Recipient';

my ($sgdup) = records_of('sg-dup');
is $sgdup->{type}, 'delivered', 'sendgrid: the first event name';
is $sgdup->{rcpt}, 'a@example.com', 'sendgrid: the first email';

ok(scalar(records_of('after-big')), 'the body after the 10 MB one: queued');
is scalar(grep { /^(trunc|sur-\d|num-|deep-1)/ } @ids), 0,
   'no refused body queued';

$n->stop;

done_testing();
