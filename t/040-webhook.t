# mail_track_webhook, what all providers share: bodies in memory and in
# temp files, 413, duplicates, methods, credentials, status codes, the
# variables, a full zone, durable acknowledgements (Postmark and Mailgun
# as the examples)

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use MailTrack::Sign;
use Time::HiRes qw(sleep time);

my $http_config = <<'_EOC_';
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool flush=100ms max_age=200ms;
    log_format mt '$status $mail_track_event $mail_track_message_id $mail_track_result';
_EOC_

my $config = <<'_EOC_';
        location = /pm {
            mail_track_webhook postmark;
            mail_track_webhook_key s3cret;
            access_log logs/mt.log mt;
        }
        location = /pm-small {
            client_body_buffer_size 1k;
            mail_track_webhook postmark;
            mail_track_webhook_key s3cret;
        }
        location = /pm-tiny {
            client_max_body_size 1k;
            mail_track_webhook postmark;
            mail_track_webhook_key s3cret;
        }
        location = /pm-durable {
            mail_track_webhook postmark;
            mail_track_webhook_key s3cret;
            mail_track_webhook_ack durable;
        }
        location = /mg {
            mail_track_webhook mailgun;
            mail_track_webhook_key mg-key;
        }
        location = /metrics { mail_track_metrics; }
_EOC_

sub delivery {
    my ($mid, $pad) = @_;
    $pad //= '';
    return qq({"RecordType":"Delivery","MessageID":"$mid",)
         . qq("Recipient":"a\@example.com","DeliveredAt":"2026-01-01T00:00:00Z",)
         . qq("Details":"250 2.0.0 OK$pad","Metadata":{"mail_track_id":"app-$mid"}});
}

my $auth = ['Authorization', 'Basic ' . MIME::Base64::encode_base64('postmark:s3cret', '')];

sub pm {
    my ($n, $uri, $body, %o) = @_;
    my @h = ('Content-Type', $o{ct} // 'application/json');
    push @h, @{ exists $o{auth} ? ($o{auth} || []) : $auth };
    @h = grep { defined } @h;
    return $n->request('POST', $uri, headers => \@h, body => $body);
}

sub mg {
    my ($n, $event_data, %o) = @_;
    return $n->request('POST', '/mg',
                       headers => ['Content-Type', 'application/json'],
                       body => mailgun_body($o{key} || 'mg-key', $event_data,
                                            %o));
}

sub mv { my ($n, $name) = @_; return metric($n->get('/metrics')->{body}, $name) }

sub access_log {
    my ($n) = @_;
    open my $fh, '<', $n->servroot . '/logs/mt.log' or return '';
    local $/;
    return <$fh>;
}

my $n = MailTrack::Test->new(name => 'webhook', http_config => $http_config,
                             config => $config);
$n->start;
my $spool = $n->servroot . '/spool';

# --- accepted, duplicate -------------------------------------------------

my $r = pm($n, '/pm', delivery('m-1'));
is $r->{status}, 200, 'accepted';
is $r->{headers}{'content-type'}, 'application/json', 'json answer';
is $r->{body}, qq({"accepted":1,"duplicates":0}\n), 'one accepted';

$r = pm($n, '/pm', delivery('m-1'));
is $r->{status}, 200, 'a duplicate is 200 too';
is $r->{body}, qq({"accepted":0,"duplicates":1}\n), 'counted as duplicate';

is mv($n, 'mail_track_events_total{src="postmark",type="delivered"}'), 1,
    'queued once';
is mv($n, 'mail_track_duplicates_total{src="postmark"}'), 1,
    'duplicate counted';

my @recs = wait_records($spool, 1, 5);
is scalar @recs, 1, 'spooled once';
is $recs[0]{src}, 'postmark', 'src';
is $recs[0]{type}, 'delivered', 'type';
is $recs[0]{mid}, 'app-m-1', 'mid from the custom argument';
is $recs[0]{esp_mid}, 'm-1', "the provider's id in esp_mid";
is $recs[0]{smtp_code}, 250, 'smtp code';

like access_log($n), qr/^200 delivered app-m-1 accepted\n200 delivered app-m-1 duplicate\n/,
    '$mail_track_event, $mail_track_message_id, $mail_track_result';

# --- bodies ----------------------------------------------------------------

$r = pm($n, '/pm-small', delivery('m-3', 'x' x 20000));
is $r->{status}, 200, 'a body nginx spilled to a temp file';
is $r->{body}, qq({"accepted":1,"duplicates":0}\n), 'read whole';

$r = pm($n, '/pm-tiny', delivery('m-4', 'x' x 2000));
is $r->{status}, 413, 'over client_max_body_size: 413';

$r = pm($n, '/pm', delivery('m-10', "caf\xe9"));
is $r->{status}, 200, 'invalid UTF-8: repaired, accepted';

# --- credentials -----------------------------------------------------------

$r = pm($n, '/pm', delivery('m-5'),
        auth => ['Authorization', 'Basic ' . MIME::Base64::encode_base64('postmark:nope', '')]);
is $r->{status}, 401, 'wrong password: 401';
is $r->{headers}{'www-authenticate'}, 'Basic realm="mail_track"',
    'with a basic challenge';

$r = pm($n, '/pm', delivery('m-6'), auth => undef);
is $r->{status}, 401, 'no credential: 401';
is $r->{headers}{'www-authenticate'}, 'Basic realm="mail_track"',
    'challenged (clients that send credentials only when asked)';

$r = pm($n, '/pm', delivery('m-7'), auth => ['Authorization', 'Bearer s3cret']);
is $r->{status}, 200, 'a bearer token';

like access_log($n), qr/^401 - - auth_failed$/m, 'auth_failed in the log variable';
is mv($n, 'mail_track_refused_total{src="postmark",reason="auth_failed"}'), 1,
    'refusal counted';
is mv($n, 'mail_track_refused_total{src="postmark",reason="auth_missing"}'), 1,
    'and the other';
like $n->error_log, qr/mail_track postmark: credential does not match \(auth_failed\)/,
    'the log line names the reason';

# --- bad bodies --------------------------------------------------------------

is pm($n, '/pm', '')->{status}, 400, 'empty body: 400';
is pm($n, '/pm', '{"RecordType":')->{status}, 400, 'truncated JSON: 400';
is pm($n, '/pm', 'not json at all')->{status}, 400, 'malformed: 400';
is pm($n, '/pm', '[1,2]')->{status}, 400, 'valid JSON, wrong shape: 400';
is pm($n, '/pm', delivery('m-8'), ct => 'application/x-www-form-urlencoded')->{status},
    400, 'wrong content type: 400';
is mv($n, 'mail_track_refused_total{src="postmark",reason="bad_json"}'), 2,
    'bad_json counted';
is mv($n, 'mail_track_refused_total{src="postmark",reason="empty_body"}'), 1,
    'empty_body counted';
is mv($n, 'mail_track_refused_total{src="postmark",reason="content_type"}'), 1,
    'content_type counted';
like $n->error_log, qr/malformed json \(bad_json\)/, 'logged';

# --- methods -----------------------------------------------------------------

is $n->get('/pm')->{status}, 405, 'GET: 405';
is $n->request('HEAD', '/pm')->{status}, 200,
    'HEAD: 200 (Mandrill checks a new URL with HEAD)';

# --- Mailgun: 406, replay ------------------------------------------------------

my $ed = '{"event":"delivered","id":"%s","recipient":"a@example.com","timestamp":1700000000}';

is mg($n, sprintf($ed, 'e1'), key => 'wrong')->{status}, 406,
    'mailgun forged signature: 406, so it stops retrying';
is mg($n, sprintf($ed, 'e2'), timestamp => time() - 86400)->{status}, 406,
    'mailgun stale timestamp: 406';
is mg($n, sprintf($ed, 'e3'), timestamp => time() + 3600)->{status}, 406,
    'mailgun future timestamp: 406';
is mg($n, sprintf($ed, 'e4'), timestamp => time() - 3 * 3600)->{status}, 200,
    'a retry three hours late still verifies';

my $tok = 'a' x 50;
my $ts = int(time());
is mg($n, sprintf($ed, 'r1'), token => $tok, timestamp => $ts)->{status}, 200,
    'mailgun accepted';
$r = mg($n, sprintf($ed, 'r1'), token => $tok, timestamp => $ts);
is $r->{status}, 200, 'the same request again';
like $r->{body}, qr/"duplicates":1/, 'is a duplicate';
is mg($n, '{"event":"failed","severity":"permanent","id":"forged","recipient":"a@example.com","timestamp":1700000000}',
      token => $tok, timestamp => $ts)->{status}, 406,
    'the token replayed with other event data: 406';
is mv($n, 'mail_track_events_total{src="mailgun",type="bounced"}'), undef,
    'the forged bounce is not queued';
is mv($n, 'mail_track_refused_total{src="mailgun",reason="replay"}'), 1,
    'replay counted';
is mv($n, 'mail_track_refused_total{src="mailgun",reason="bad_signature"}'), 1,
    'bad signature counted';
is mv($n, 'mail_track_refused_total{src="mailgun",reason="stale"}'), 1,
    'stale counted';

# --- durable: the answer waits for the fsync -------------------------------------

my $fs0 = mv($n, 'mail_track_spool_fsyncs_total');
my $t0 = time();
$r = pm($n, '/pm-durable', delivery('d-1'));
is $r->{status}, 200, 'durable: 200';
ok mv($n, 'mail_track_spool_fsyncs_total') > $fs0, 'after an fsync';

my $found = 0;
for my $f (glob("$spool/*")) {
    open my $fh, '<', $f or next;
    local $/;
    $found++ if <$fh> =~ /app-d-1/;
}
ok $found, 'the event is in a spool file when the 200 is sent';

$n->quit;

@recs = spool_records($spool);
my %seen;
$seen{"$_->{src}:$_->{id}"}++ for @recs;
is_deeply [sort grep { $seen{$_} > 1 } keys %seen], [], 'nothing spooled twice';

# --- a full zone: 503 + Retry-After, the retry is accepted later ---------------

SKIP: {
    skip 'needs root to run workers as nobody', 9 if $> != 0;

    my $f = MailTrack::Test->new(name => 'webhook-full',
                                 main_config => 'user nobody nogroup;',
                                 http_config => <<'_EOC_',
    mail_track_zone zone=mt:256k queue=64k;
    mail_track_spool $TEST_NGINX_SERVROOT/spool flush=100ms max_age=200ms;
    log_format mt '$status $mail_track_result';
_EOC_
                                 config => $config);

    my $sp = $f->servroot . '/spool';
    mkdir $sp;
    chown scalar(getpwnam('nobody')), scalar(getgrnam('nogroup')), $sp;
    chmod 0755, $f->servroot;

    $f->start;
    chmod 0555, $sp;

    my (%st, @refused);
    for my $i (1 .. 60) {
        my $res = pm($f, '/pm', delivery("full-$i", 'y' x 1500));
        $st{ $res->{status} }++;
        if ($res->{status} == 503) {
            push @refused, $i;
            is $res->{headers}{'retry-after'}, '30', 'Retry-After' if @refused == 1;
        }
    }

    ok $st{200} && $st{503}, "some accepted ($st{200}), then 503 ($st{503})";
    is $st{200} + $st{503}, 60, 'nothing else';
    is mv($f, 'mail_track_refused_total{src="postmark",reason="zone_full"}'),
        $st{503}, 'each refusal counted';

    chmod 0755, $sp;

    my @got = wait_records($sp, $st{200}, 10);
    is scalar @got, $st{200}, 'everything accepted is written';

    # the provider retries what got 503
    my $ok = 0;
    for my $i (@refused) {
        $ok++ if pm($f, '/pm', delivery("full-$i", 'y' x 1500))->{status} == 200;
        sleep 0.01;
    }
    is $ok, scalar @refused, 'the retries are accepted';

    # durable with a spool that cannot be written (nor its open part file,
    # which the workers hold open: immutable, not just read-only): 503
    # once the wait is over
    my @files = glob("$sp/*.part");
    system('chattr', '+i', @files) if @files;    # unless sealed meanwhile
    chmod 0555, $sp;
    my $t = time();
    my $res = pm($f, '/pm-durable', delivery('never-written'));
    is $res->{status}, 503, 'durable, spool unwritable: 503';
    ok time() - $t >= 4, 'after waiting for the spool';
    system('chattr', '-i', @files) if @files;
    chmod 0755, $sp;

    $f->quit;

    my @all = spool_records($sp);
    is scalar @all, 61, 'all 60 and the durable one, once each';
}

done_testing;
