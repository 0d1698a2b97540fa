# mail_track_webhook brevo through the real nginx: the reference event,
# single objects and batched arrays, proxy opens (machine), the
# X-Mailin-custom id, the time fields, tags, credentials (bearer, basic
# in the URL, user:password, rotation, auth off, no key refuses to
# start), bodies (CRLFs, temp file, 1000 events, too many, 413,
# malformed, truncated, wrong content type, empty, non-UTF-8, an
# inbound-parse payload), duplicates, and every event mapped end to end.

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time);

my $json = JSON::PP->new->canonical;

my $tok = hex_secret();
my $old = hex_secret();
my $new = hex_secret();

my $http_config = <<'_EOC_';
    mail_track_zone zone=mt:16m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool flush=100ms max_age=200ms;
    log_format mtbr '$status $mail_track_event $mail_track_message_id $mail_track_result';
_EOC_

my $config = <<"_EOC_";
        location = /br {
            mail_track_webhook brevo;
            mail_track_webhook_key $tok;
            access_log logs/br.log mtbr;
        }
        location = /br-user {
            mail_track_webhook brevo;
            mail_track_webhook_key brevo:$tok;
        }
        location = /br-rot {
            mail_track_webhook brevo;
            mail_track_webhook_key $old;
            mail_track_webhook_key $new;
        }
        location = /br-off {
            mail_track_webhook brevo;
            mail_track_webhook_auth off;
        }
        location = /br-tol {
            mail_track_webhook brevo;
            mail_track_webhook_key $tok;
            mail_track_webhook_tolerance 60s;
        }
        location = /br-small {
            client_body_buffer_size 1k;
            mail_track_webhook brevo;
            mail_track_webhook_key $tok;
        }
        location = /br-tiny {
            client_max_body_size 1k;
            mail_track_webhook brevo;
            mail_track_webhook_key $tok;
        }
        location = /metrics { mail_track_metrics; }
_EOC_

my $n = MailTrack::Test->new(name => 'webhook-brevo', http_config => $http_config,
                             config => $config);
$n->start;
my $spool = $n->servroot . '/spool';
my $t0 = time();

# "auth": {"type": "bearer", "token": ...} in the webhook definition
my $auth = ['Authorization', "Bearer $tok"];

sub post {
    my ($uri, $body, %o) = @_;
    my @h = ('Content-Type', exists $o{ct} ? $o{ct} : 'application/json');
    @h = () unless defined $h[1];
    push @h, @{ exists $o{auth} ? ($o{auth} || []) : $auth };
    return $n->request('POST', $uri, headers => \@h, body => $body);
}

sub mv { metric_count($n, $_[0]) }

sub refused { mv(qq{mail_track_refused_total{src="brevo",reason="$_[0]"}}) }

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

# an event as Brevo writes it; MID goes into X-Mailin-custom (a JSON string)
sub br {
    my ($event, $mid, %f) = @_;
    $seq++;
    my %e = (event => $event, email => "r$seq\@example.com", id => 1234567,
             date => '2026-01-01 01:00:00', ts => 1767225600, ts_event => 1767225600,
             ts_epoch => 1767225600000 + $seq, subject => 'Hello',
             'message-id' => "<20260101.$seq\@smtp-relay.mailin.fr>", sending_ip => '185.41.28.1',
             template_id => 3, %f);
    $e{'X-Mailin-custom'} = qq({"mail_track_id":"$mid"}) if defined $mid && !exists $f{'X-Mailin-custom'};
    delete $e{$_} for grep { !defined $e{$_} } keys %e;
    my $text = $json->encode(\%e);
    utf8::downgrade($text);
    return $text;
}

sub batch { '[' . join(',', @_) . ']' }

# --- the reference event ------------------------------------------------------------

my $ref = '{"event":"hard_bounce","email":"x@example.com","id":123456,"date":"2024-01-01 10:00:00","ts":1704099600,'
        . '"message-id":"<202401010900.12345678@smtp-relay.mailin.fr>","ts_event":1704099600,"subject":"Hi",'
        . '"tag":"welcome","sending_ip":"192.0.2.10","ts_epoch":1704099600123,"reason":"550 5.1.1 user unknown"}';
accepted_ok(post('/br', $ref), 'the reference hard bounce');
accepted_ok(post('/br', $ref), 'retried by Brevo: a duplicate', 0, 1);
$want{'<202401010900.12345678@smtp-relay.mailin.fr>'} = {
    src => 'brevo', type => 'bounced', esp_type => 'hard_bounce', bounce => 'hard',
    esp_mid => undef, rcpt => 'x@example.com', ts => 1704099600123,
    reason => '550 5.1.1 user unknown', smtp_code => 550, smtp_status => '5.1.1',
    tag => 'welcome', ip => undef, machine => undef,
};

# --- single objects and a batched array ------------------------------------------------

accepted_ok(post('/br', br('delivered', 'app-single', tags => ['welcome', 'eu'])), 'a single object');
$want{'app-single'} = { type => 'delivered', esp_mid => "<20260101.$seq\@smtp-relay.mailin.fr>",
                        tag => 'welcome,eu', ts => 1767225600000 + $seq, rcpt => "r$seq\@example.com" };

accepted_ok(post('/br', batch(
    br('proxy_open', 'app-proxy', ip => '66.249.84.1', user_agent => 'Mozilla/5.0 (via ggpht.com GoogleImageProxy)',
       tag => ['p', 'q']),
    br('unique_proxy_open', 'app-uproxy', ip => '17.58.0.1'),
    br('opened', 'app-open', ip => '192.0.2.40', user_agent => 'Mozilla/5.0 (Windows)', device_used => 'DESKTOP'),
    br('click', 'app-click', link => 'https://example.com/x?utm=1', ip => '192.0.2.41', user_agent => 'UA-click'),
    br('soft_bounce', 'app-soft', reason => '452 4.2.2 The email account is over quota'),
    br('deferred', 'app-deferred', reason => '550 5.1.1 mailbox unavailable'),
)), 'a batched array', 6);
$want{'app-proxy'} = { type => 'opened', esp_type => 'proxy_open', machine => 1, why => 'brevo_proxy_open',
                       ip => '66.249.84.1', ua => 'Mozilla/5.0 (via ggpht.com GoogleImageProxy)', tag => 'p,q' };
$want{'app-uproxy'} = { type => 'opened', esp_type => 'unique_proxy_open', machine => 1,
                        why => 'brevo_proxy_open' };
$want{'app-open'} = { type => 'opened', machine => undef, why => undef, ip => '192.0.2.40',
                      ua => 'Mozilla/5.0 (Windows)' };
$want{'app-click'} = { type => 'clicked', url => 'https://example.com/x?utm=1', ip => '192.0.2.41',
                       ua => 'UA-click', machine => undef };
$want{'app-soft'} = { type => 'bounced', bounce => 'soft', smtp_code => 452, smtp_status => '4.2.2',
                      ip => undef };
# a deferral stays soft whatever its text says: the hard bounce comes later
$want{'app-deferred'} = { type => 'deferred', bounce => 'soft', smtp_code => 550, smtp_status => '5.1.1' };

is mv('mail_track_machine_opens_total'), 2, 'proxy opens counted as machine opens';

# --- the application's id -----------------------------------------------------------------

accepted_ok(post('/br', batch(
    br('delivered', undef, 'X-Mailin-custom' => '{"mail_track_id":"app-custom-string","u":7}'),
    br('delivered', undef, 'X-Mailin-custom' => { mail_track_id => 'app-custom-object' }),
    br('delivered', undef, 'X-Mailin-custom' => 'campaign-7', 'message-id' => '<plain@relay>'),
    br('delivered', undef, 'X-Mailin-custom' => '{"user":"x"}', 'message-id' => '<other-json@relay>'),
    br('delivered', undef, 'X-Mailin-custom' => '["mail_track_id"]', 'message-id' => '<array@relay>'),
    br('delivered', undef, 'X-Mailin-custom' => '{broken', 'message-id' => '<broken@relay>'),
)), 'X-Mailin-custom in its shapes', 6);
$want{'app-custom-string'} = { esp_mid => '<20260101.' . ($seq - 5) . '@smtp-relay.mailin.fr>' };
$want{'app-custom-object'} = { esp_mid => '<20260101.' . ($seq - 4) . '@smtp-relay.mailin.fr>' };
$want{$_} = { esp_mid => undef, type => 'delivered' } for qw(<plain@relay> <other-json@relay> <array@relay>
                                                              <broken@relay>);

# --- time fields and tags -----------------------------------------------------------

accepted_ok(post('/br', batch(
    br('error', 'time-epoch-seconds', ts_epoch => 1704099600, ts_event => 1704000000),
    br('delivered', 'time-epoch-string', ts_epoch => '1704099600456'),
    br('delivered', 'time-ts-event', ts_epoch => undef, ts_event => 1704099601, ts => 1704000000),
    br('delivered', 'time-ts', ts_epoch => undef, ts_event => undef, ts => 1704099602),
    br('delivered', 'tag-string', tag => 'welcome'),
    br('delivered', 'tag-json-string', tag => '["a","b"]'),
    br('delivered', 'tag-json-broken', tag => '[not json'),
    br('delivered', 'tag-array', tag => ['x', 'y', 5, '']),
    br('delivered', 'tags-win', tags => ['t1'], tag => 'loses'),
)), 'time fields and tags', 9);
$want{'time-epoch-seconds'} = { ts => 1704099600000, type => 'rejected', esp_type => 'error' };
$want{'time-epoch-string'} = { ts => 1704099600456 };
$want{'time-ts-event'} = { ts => 1704099601000 };
$want{'time-ts'} = { ts => 1704099602000 };
$want{'tag-string'} = { tag => 'welcome' };
$want{'tag-json-string'} = { tag => 'a,b' };
$want{'tag-json-broken'} = { tag => '[not json' };
$want{'tag-array'} = { tag => 'x,y' };
$want{'tags-win'} = { tag => 't1' };

# two clicks in one second on two links are two events
accepted_ok(post('/br', batch(
    br('click', 'two-clicks', ts_epoch => 1767229999000, email => 'c@example.com', 'message-id' => '<c@relay>',
       link => 'https://example.com/1'),
    br('click', 'two-clicks', ts_epoch => 1767229999000, email => 'c@example.com', 'message-id' => '<c@relay>',
       link => 'https://example.com/2'),
)), 'two clicks in one second', 2);

# --- the mapping, end to end -----------------------------------------------------------

my @map = (
    [request => 'sent'], [delivered => 'delivered'], [hard_bounce => 'bounced', 'hard'],
    [soft_bounce => 'bounced', 'soft'], [invalid_email => 'bounced', 'hard'],
    [blocked => 'rejected'], [error => 'rejected'], [deferred => 'deferred', 'soft'],
    [spam => 'complained'], [complaint => 'complained'],
    [opened => 'opened'], [unique_opened => 'opened'],
    [proxy_open => 'opened', undef, 1], [unique_proxy_open => 'opened', undef, 1],
    [click => 'clicked'], [unsubscribe => 'unsubscribed'],
    [list_addition => 'other'], [contact_updated => 'other'], [brand_new_event_2031 => 'other'],
);
my @ev;
my $others = 0;
for my $m (@map) {
    my ($event, $type, $bounce, $machine) = @$m;
    push @ev, br($event, "map-$event");
    $want{"map-$event"} = { type => $type, bounce => $bounce, esp_type => $event, machine => $machine };
    $others++ if $type eq 'other';
}
my $half = int(@ev / 2);
for my $e (@ev[0 .. $half - 1]) {
    my $r = post('/br', $e);
    $accepted++ if $r->{status} == 200 && $r->{body} eq answer(1, 0);
}
accepted_ok(post('/br', batch(@ev[$half .. $#ev])), 'the rest of the mapping batched', @ev - $half);
is mv('mail_track_events_total{src="brevo",type="other"}'), $others, "unknown events counted as other ($others)";

# --- credentials -------------------------------------------------------------------

my $never = 0;
sub never { $never++; br('delivered', "never-$never") }

my $r = post('/br', never(), auth => undef);
is $r->{status}, 401, 'no credential: 401';
is $r->{headers}{'www-authenticate'}, 'Basic realm="mail_track"', 'with a Basic challenge';
$r = post('/br', never(), auth => ['Authorization', "Bearer ${tok}0"]);
is $r->{status}, 401, 'wrong bearer token: 401';
is $r->{headers}{'www-authenticate'}, 'Basic realm="mail_track"', 'challenged';
is post('/br', never(), auth => ['Authorization', 'Bearer ' . substr($tok, 1)])->{status}, 401,
    'a shorter token: 401';
is post('/br', never(), auth => ['Authorization', $tok])->{status}, 401, 'a token without a scheme: 401';
is post('/br', never(), auth => ['X-Sib-Token', $tok])->{status}, 401, 'the token in a custom header: 401';
is post('/br-user', never(), auth => basic_auth('other', $tok))->{status}, 401, 'user:password key, other user: 401';
is post('/br-user', never())->{status}, 401, 'user:password key, a bearer token: 401';
is post('/br-rot', never())->{status}, 401, 'rotation: a third secret: 401';

accepted_ok(post('/br', br('delivered', 'cred-basic'), auth => basic_auth('brevo', $tok)),
    'basic auth from the URL');
accepted_ok(post('/br-user', br('delivered', 'cred-user'), auth => basic_auth('brevo', $tok)), 'user:password key');
accepted_ok(post('/br-rot', br('delivered', 'cred-old'), auth => ['Authorization', "Bearer $old"]),
    'rotation: the old key');
accepted_ok(post('/br-rot', br('delivered', 'cred-new'), auth => basic_auth('brevo', $new)), 'rotation: the new key');
accepted_ok(post('/br-off', br('delivered', 'cred-off'), auth => undef), 'auth off: no credential needed');

is refused('auth_missing'), 2, 'auth_missing counted';
is refused('auth_failed'), 6, 'auth_failed counted';
like $n->error_log, qr/mail_track brevo: credential does not match \(auth_failed\)/, 'the log names the reason';

accepted_ok(post('/br-tol', batch(br('delivered', 'tol-old', ts_epoch => 1262304000000),
                                  br('delivered', 'tol-future', ts_epoch => 4102444800000))),
    'events from 2010 and 2100 with tolerance 60s', 2);
$want{'tol-old'} = { ts => 1262304000000 };
$want{'tol-future'} = { ts => 4102444800000 };

# --- bodies -----------------------------------------------------------------------------

my %bad = (
    'an event without event'        => [br(undef, 'never-noev'), 'bad_payload'],
    'an empty event name'           => [br('', 'never-emptyev'), 'bad_payload'],
    'an inbound-parse payload'      => ['{"items":[{"Uuid":["x"],"Subject":"hi","RawHtmlBody":"<p>"}]}', 'bad_payload'],
    'a batch with a bad element'    => [batch(br('delivered', 'never-b1'), '{"email":"x@example.com"}'), 'bad_payload'],
    'a batch with a number'         => [batch(br('delivered', 'never-b2'), '7'), 'bad_payload'],
    'a string'                      => ['"delivered"', 'bad_payload'],
    'malformed JSON'                => ['{"event":"delivered" "email":"x"}', 'bad_json'],
    'truncated JSON'                => [substr(br('delivered', 'never-tr'), 0, 50), 'bad_json'],
    'two objects'                   => [br('delivered', 'never-2a') . "\r\n" . br('delivered', 'never-2b'), 'bad_json'],
    'empty body'                    => ['', 'empty_body'],
    'blanks only'                   => ["\r\n", 'empty_body'],
);
my %reasons;
for my $name (sort keys %bad) {
    my ($body, $reason) = @{ $bad{$name} };
    is post('/br', $body)->{status}, 400, "$name: 400";
    $reasons{$reason}++;
}
for my $ct ('text/plain', 'application/x-www-form-urlencoded', undef) {
    is post('/br', br('delivered', 'never-ct'), ct => $ct)->{status}, 400,
        'content type ' . ($ct // '(none)') . ': 400';
    $reasons{content_type}++;
}
for my $reason (sort keys %reasons) {
    is refused($reason), $reasons{$reason}, "$reason counted ($reasons{$reason})";
    like $n->error_log, qr/mail_track brevo: [^\n]*\($reason\)/, "the log names $reason";
}

accepted_ok(post('/br', '[]'), 'an empty batch', 0, 0);
accepted_ok(post('/br', br('delivered', 'ct-charset'), ct => 'application/json; charset=utf-8'),
    'json with a charset');

accepted_ok(post('/br', "[\r\n" . join(",\r\n", map { br('opened', "crlf-$_") } 1 .. 3) . "\r\n]\r\n"),
    'a batch with CRLFs', 3);
$want{"crlf-$_"} = { type => 'opened' } for 1 .. 3;

accepted_ok(post('/br', br('blocked', 'latin1', reason => "adresse bloqu\xe9e")), 'invalid UTF-8 accepted');
$want{latin1} = { reason => "adresse bloqu\xef\xbf\xbde", type => 'rejected' };

my @spill = map { br('opened', "spill-$_", user_agent => 'u' x 400) } 1 .. 20;
accepted_ok(post('/br-small', batch(@spill)), 'a batch through a temp file', 20);
like $n->error_log, qr/a client request body is buffered to a temporary file/, 'nginx buffered it to a file';
$want{"spill-$_"} = { type => 'opened' } for 1, 20;

is post('/br-tiny', batch(@spill))->{status}, 413, 'over client_max_body_size: 413';
is refused('too_large'), 1, '413 counted as a refusal';

my @bulk = map { br('delivered', "bulk-$_") } 1 .. 1000;
my $bulk = "[\r\n" . join(",\r\n", @bulk) . "\r\n]";
accepted_ok(post('/br', $bulk), '1000 events', 1000);
accepted_ok(post('/br', $bulk), 'the 1000 retried', 0, 1000);

my @huge = map { br('delivered', undef, email => "h$_\@example.com") } 1 .. 10001;
is post('/br', batch(@huge))->{status}, 400, '10001 events: 400';
is refused('too_many'), 1, 'too_many counted';

is mv('mail_track_duplicates_total{src="brevo"}'), 1 + 1000, 'duplicates counted';

is $n->get('/br')->{status}, 405, 'GET: 405';
is refused('method'), 1, 'the method refusal counted';
is $n->request('HEAD', '/br')->{status}, 200, 'HEAD: 200';

my $metrics = $n->get('/metrics')->{body};
my $total = 0;
$total += $1 while $metrics =~ /^mail_track_events_total\{src="brevo",type="\w+"\} (\d+)$/mg;
is $total, $accepted, "mail_track_events_total for brevo = events accepted ($accepted)";

$n->quit;
my $t1 = time();

# --- the spool ------------------------------------------------------------------------

my @recs = spool_records($spool);
is scalar(@recs), $accepted, "every accepted event spooled once ($accepted)";

my (%by, %ids);
push @{ $by{ $_->{mid} // '' } }, $_ for @recs;
$ids{ $_->{id} }++ for @recs;
is_deeply [grep { $ids{$_} > 1 } sort keys %ids], [], 'no event id twice';
is_deeply [grep { @{ $by{$_} } > 1 && $_ ne 'two-clicks' } sort keys %by], [], 'no message twice';
is scalar(@{ $by{'two-clicks'} || [] }), 2, 'two clicks, two records';

for my $k (sort keys %want) {
    my $rec = $by{$k} ? $by{$k}[0] : undef;
    ok $rec, "spooled: $k" or next;
    for my $f (sort keys %{ $want{$k} }) {
        my $got = $rec->{$f};
        $got = $got ? 1 : 0 if JSON::PP::is_bool($got);
        is $got, $want{$k}{$f}, "$k: $f";
    }
}
like $by{'<202401010900.12345678@smtp-relay.mailin.fr>'}[0]{id}, qr/^[0-9a-f]{32}$/,
    "a hash id (Brevo's id is the webhook's)";

is scalar(grep { ($_->{mid} // '') =~ /^bulk-\d+$/ } @recs), 1000, 'all 1000 bulk events spooled';
is scalar(grep { ($_->{mid} // '') =~ /^never/ } @recs), 0, 'nothing from a refused request';
is scalar(grep { ($_->{rcpt} // '') =~ /^h\d+\@/ } @recs), 0, 'nothing from the oversized batch';
is scalar(grep { $_->{src} ne 'brevo' } @recs), 0, 'src is brevo everywhere';
is scalar(grep { ($_->{ip} // '') eq '185.41.28.1' } @recs), 0, "sending_ip (Brevo's MTA) is never the ip";
is scalar(grep { !$_->{rt} || $_->{rt} < ($t0 - 5) * 1000 || $_->{rt} > ($t1 + 5) * 1000 } @recs), 0,
    'rt is the time nginx received the event';

my $raw = '';
for my $f (glob("$spool/*.mtspool")) {
    open my $fh, '<:raw', $f or next;
    local $/;
    $raw .= <$fh>;
}
ok index($raw, "bloqu\xef\xbf\xbde") >= 0, 'U+FFFD in the spool file itself';

my $acc_log = do { local $/; open my $fh, '<', $n->servroot . '/logs/br.log'; <$fh> };
like $acc_log, qr/^200 bounced <202401010900.12345678\@smtp-relay.mailin.fr> accepted$/m,
    'the log variables: accepted';
like $acc_log, qr/^401 - - auth_failed$/m, 'the log variables: auth_failed';

# --- no key and no "auth off": nginx refuses to start -------------------------------------

my $nokey = MailTrack::Test->new(name => 'webhook-brevo-nokey', http_config => <<'_EOC_', config => <<'_EOC2_');
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
_EOC_
        location = /br {
            mail_track_webhook brevo;
        }
_EOC2_
my ($refused, $out) = $nokey->start_fails;
ok $refused, 'no key, no "mail_track_webhook_auth off": nginx refuses to start';
like $out, qr/\[emerg\].*"mail_track_webhook brevo" requires "mail_track_webhook_key"/, 'and says why';

done_testing;
