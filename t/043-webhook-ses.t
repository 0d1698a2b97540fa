# mail_track_webhook ses: Amazon SES events in signed Amazon SNS envelopes,
# through the real nginx.  The SNS signing certificates come from a test CA
# (t/lib/sns-certs.sh); the certificate fetch location proxies to a second
# server on a unix socket that serves them (and answers confirmations), so
# every fetch the module makes is seen in that server's access log.

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use MailTrack::Sign;
use JSON::PP ();
use Time::Local qw(timegm);

my $certs = sns_certs();

my $TOPIC = 'arn:aws:sns:us-east-1:123456789012:ses-events';

my $http_config = <<'_EOC_';
    mail_track_zone zone=mt:8m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool flush=100ms max_age=200ms;

    log_format mt '$status $mail_track_event $mail_track_message_id $mail_track_result';
    log_format sns_fetch '$uri|$args|$mail_track_sns_url|$status';
    log_format sns_served '$http_x_sns_mode|$http_x_sns_url|$arg_url|$status';

    # the stand-in for AWS: the file named as the URL's last segment, a
    # confirmation answer, nothing else; "noint" fails the issuer
    map "$http_x_sns_mode|$http_x_sns_url" $sns_file {
        default                                        none;
        "~^noint\|.*\.cer$"                            none;
        "~^[^|]*\|https://sns\.[a-z0-9-]+\.amazonaws\.com/\?Action=ConfirmSubscription&"
                                                       confirm.xml;
        "~/(?<sns_name>[A-Za-z0-9._-]+)$"              $sns_name;
    }

    server {
        listen unix:$TEST_NGINX_SERVROOT/fetch.sock;
        access_log logs/served.log sns_served;
        root $TEST_NGINX_SERVROOT/served;

        location = /fetch {
            try_files /$sns_file =404;
        }
    }
_EOC_

my $ses_common = <<'_EOC_';
            mail_track_webhook ses;
            mail_track_sns_topic arn:aws:sns:us-east-1:123456789012:ses-events;
            mail_track_sns_topic arn:aws:sns:eu-west-1:123456789012:other;
_EOC_

my $config = <<'_EOC_';
        location = /ses {
            COMMON
            mail_track_sns_cert_dir $TEST_NGINX_SERVROOT/certs;
            mail_track_sns_cert_fetch /_sns_fetch;
            mail_track_sns_ca $TEST_NGINX_SERVROOT/ca/ca.pem;
            access_log logs/mt.log mt;
        }
        location = /ses-dir {
            COMMON
            mail_track_sns_cert_dir $TEST_NGINX_SERVROOT/certs;
            mail_track_sns_ca $TEST_NGINX_SERVROOT/ca/ca.pem;
        }
        location = /ses-confirm {
            COMMON
            mail_track_sns_cert_dir $TEST_NGINX_SERVROOT/certs;
            mail_track_sns_cert_fetch /_sns_fetch;
            mail_track_sns_ca $TEST_NGINX_SERVROOT/ca/ca.pem;
            mail_track_sns_confirm on;
        }
        location = /ses-dead {
            COMMON
            mail_track_sns_cert_dir $TEST_NGINX_SERVROOT/certs;
            mail_track_sns_cert_fetch /_sns_fetch_dead;
            mail_track_sns_ca $TEST_NGINX_SERVROOT/ca/ca.pem;
            mail_track_sns_confirm on;
        }
        location = /ses-noint {
            COMMON
            mail_track_sns_cert_fetch /_sns_fetch_noint;
            mail_track_sns_ca $TEST_NGINX_SERVROOT/ca/ca.pem;
        }
        location = /ses-intca {
            COMMON
            mail_track_sns_cert_fetch /_sns_fetch;
            mail_track_sns_ca $TEST_NGINX_SERVROOT/ca/int.pem;
        }
        location = /ses-small {
            client_body_buffer_size 1k;
            COMMON
            mail_track_sns_cert_dir $TEST_NGINX_SERVROOT/certs;
            mail_track_sns_ca $TEST_NGINX_SERVROOT/ca/ca.pem;
        }
        location = /ses-tiny {
            client_max_body_size 1k;
            COMMON
            mail_track_sns_cert_dir $TEST_NGINX_SERVROOT/certs;
            mail_track_sns_ca $TEST_NGINX_SERVROOT/ca/ca.pem;
        }

        location = /_sns_fetch {
            internal;
            proxy_pass http://unix:$TEST_NGINX_SERVROOT/fetch.sock:/fetch;
            proxy_set_header X-SNS-URL $mail_track_sns_url;
            subrequest_output_buffer_size 16k;
            log_subrequest on;
            access_log logs/fetch.log sns_fetch;
        }
        location = /_sns_fetch_noint {
            internal;
            proxy_pass http://unix:$TEST_NGINX_SERVROOT/fetch.sock:/fetch;
            proxy_set_header X-SNS-URL $mail_track_sns_url;
            proxy_set_header X-SNS-Mode noint;
            subrequest_output_buffer_size 16k;
        }
        location = /_sns_fetch_dead {
            internal;
            proxy_pass http://unix:$TEST_NGINX_SERVROOT/nothing-here.sock:/fetch;
            subrequest_output_buffer_size 16k;
        }

        location = /metrics { mail_track_metrics; }
_EOC_

$config =~ s/^\s*COMMON\n/$ses_common/mg;

my $n = MailTrack::Test->new(name => 'webhook-ses', http_config => $http_config,
                             config => $config);

sub slurp_file {
    my ($f) = @_;
    open my $fh, '<', $f or return '';
    binmode $fh;
    local $/;
    return scalar <$fh>;
}

# the CA files, the provisioned directory and what "AWS" serves
$n->write_file('ca/ca.pem', slurp_file($certs->{ca}));
$n->write_file('ca/int.pem', slurp_file($certs->{int}));

my %dir = (main => 'sns', evil => 'sns', dirrogue => 'rogue');
$n->write_file("certs/SimpleNotificationService-$_.pem",
               slurp_file($certs->{ $dir{$_} })) for keys %dir;
$n->write_file('certs/SimpleNotificationService-dirchain.pem',
               slurp_file($certs->{leaf}) . slurp_file($certs->{int}));

my %served = (fetch1 => 'sns', fetch2 => 'sns', fetch3 => 'sns',
              fetch9 => 'sns', topic1 => 'sns', rogue => 'rogue',
              leaf => 'leaf', leaf2 => 'leaf');
$n->write_file("served/SimpleNotificationService-$_.pem",
               slurp_file($certs->{ $served{$_} })) for keys %served;
$n->write_file('served/int.cer', slurp_file($certs->{int_der}));
$n->write_file('served/confirm.xml',
               "<ConfirmSubscriptionResponse><ConfirmSubscriptionResult>"
               . "<SubscriptionArn>arn:aws:sns:us-east-1:123456789012:"
               . "ses-events:1</SubscriptionArn></ConfirmSubscriptionResult>"
               . "</ConfirmSubscriptionResponse>\n");

$n->start;

my $spool = $n->servroot . '/spool';
my $JSON = JSON::PP->new->canonical;

# --- helpers -------------------------------------------------------------------

sub cert_url { "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-$_[0].pem" }

sub mv {
    my ($name) = @_;
    return metric($n->get('/metrics')->{body}, $name);
}

sub fetches { mv('mail_track_sns_cert_fetches_total') // 0 }
sub refused { mv(qq{mail_track_refused_total{src="ses",reason="$_[0]"}}) // 0 }

sub log_file { slurp_file($n->servroot . "/logs/$_[0]") }

# what the stand-in for AWS was asked for, one URL per line; with $want
# (a count, or a test of the URLs) waits for it a little: that server's
# log line may be written after the module has its answer
sub served_urls {
    my ($want) = @_;
    my @u;
    for (1 .. 100) {
        @u = map { (split /\|/)[1] } split /\n/, log_file('served.log');
        last if !$want || (ref $want ? $want->(@u) : @u >= $want);
        select undef, undef, undef, 0.02;
    }
    return @u;
}

# POST an envelope: post(URI, BODY, ct => ..., headers => [...])
sub post {
    my ($uri, $body, %o) = @_;
    my @h;
    push @h, 'Content-Type', $o{ct} // 'text/plain; charset=UTF-8'
        unless exists $o{ct} && !defined $o{ct};
    push @h, @{ $o{headers} || [] };
    return $n->request('POST', $uri, headers => \@h, body => $body);
}

# the headers SNS adds, from an envelope
sub sns_headers {
    my ($m) = @_;
    my @h = ('x-amz-sns-message-type', $m->{Type},
             'x-amz-sns-message-id', $m->{MessageId},
             'x-amz-sns-topic-arn', $m->{TopicArn});
    my @set;
    while (my ($k, $v) = splice @h, 0, 2) {
        push @set, $k, $v if defined $v;
    }
    return [@set, 'x-amz-sns-subscription-arn', "$TOPIC:sub-1",
            'User-Agent', 'Amazon Simple Notification Service Agent'];
}

# sign and post: env(uri => '/ses', cert => 'main', <sns_envelope args>)
sub env {
    my (%a) = @_;
    my $uri = delete $a{uri} // '/ses';
    my $ct = exists $a{ct} ? delete $a{ct} : 'text/plain; charset=UTF-8';
    my $cert = delete $a{cert} // 'main';
    my $headers = delete $a{headers};
    $a{cert_url} //= cert_url($cert);
    my ($body, $m) = sns_envelope(%a);
    my $r = post($uri, $body, ct => $ct,
                 headers => $headers // sns_headers($m));
    return wantarray ? ($r, $m, $body) : $r;
}

sub iso {
    my @t = gmtime($_[0]);
    return sprintf('%04d-%02d-%02dT%02d:%02d:%02d.000Z', $t[5] + 1900,
                   $t[4] + 1, @t[3, 2, 1, 0]);
}

sub ms {
    my ($iso) = @_;
    my ($y, $mo, $d, $h, $mi, $s, $f) =
        $iso =~ /^(\d+)-(\d+)-(\d+)T(\d+):(\d+):(\d+)(?:\.(\d+))?Z$/ or die $iso;
    return timegm($s, $mi, $h, $d, $mo - 1, $y) * 1000
           + substr(($f // 0) . '000', 0, 3);
}

my $MAIL_TS = '2026-01-10T10:00:00.000Z';

# an SES mail object tagged with the application's id
sub mail {
    my ($mid, $esp, %o) = @_;
    my %m = (timestamp => $MAIL_TS, messageId => $esp,
             source => 'app@example.com',
             sourceArn => 'arn:aws:ses:us-east-1:123456789012:identity/example.com',
             sendingAccountId => '123456789012',
             destination => $o{dest} || ['a@example.com'],
             headersTruncated => JSON::PP::false,
             commonHeaders => { from => ['app@example.com'],
                                to => $o{dest} || ['a@example.com'],
                                subject => $o{subject} // 'Hello' });
    $m{tags} = { mail_track_id => [$mid],
                 'ses:configuration-set' => ['cs1'],
                 'ses:from-domain' => ['example.com'],
                 %{ $o{tags} || {} } }
        if defined $mid;
    return \%m;
}

sub event {
    my (%e) = @_;
    return $JSON->encode(\%e);
}

sub accepted { qq({"accepted":$_[0],"duplicates":) . ($_[1] // 0) . "}\n" }

# --- 1. SigningCertURL: refused before anything is fetched or opened ------------

is fetches(), 0, 'no certificate fetched yet';

# a valid certificate sits in the directory under the name each of these
# URLs ends with: a check made after the lookup would let them through
my @bad_urls = (
    'http://sns.us-east-1.amazonaws.com/SimpleNotificationService-evil.pem',
    'https://evil.example/SimpleNotificationService-evil.pem',
    'https://sns.evil.example/SimpleNotificationService-evil.pem',
    'https://sns.us-east-1.amazonaws.com.evil.example/SimpleNotificationService-evil.pem',
    'https://sns.s3.amazonaws.com/SimpleNotificationService-evil.pem',
    'https://sns.s3-us-west-2.amazonaws.com/SimpleNotificationService-evil.pem',
    'https://s3.amazonaws.com/sns/SimpleNotificationService-evil.pem',
    'https://s3.us-east-1.amazonaws.com/SimpleNotificationService-evil.pem',
    'https://sns.us-east-1.amazonaws.com/x/SimpleNotificationService-evil.pem',
    'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-evil.pem?x=1',
    'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-evil.pem#x',
    'https://sns.us-east-1.amazonaws.com/evil.pem',
    'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-/../evil.pem',
    'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-%65vil.pem',
    'https://sns.us-east-1.amazonaws.com:8443/SimpleNotificationService-evil.pem',
    'https://sns.us-east-1.amazonaws.com./SimpleNotificationService-evil.pem',
    'https://user@sns.us-east-1.amazonaws.com/SimpleNotificationService-evil.pem',
    'https://sns.us-east-1.amazonaws.com@evil.example/SimpleNotificationService-evil.pem',
    'https://sns.us-east-1.amazonaws.com\\@evil.example/SimpleNotificationService-evil.pem',
    'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-evil.pem.pem',
    'https://sns.us-east-1.amazonaws.com/SimpleNotificationService-evil.PEM',
    'file:///SimpleNotificationService-evil.pem',
    ' ',
);
my $n_bad_urls = @bad_urls;
for my $url (@bad_urls) {
    my ($r) = env(cert_url => $url, Message => event(eventType => 'Send',
                  mail => mail('cu-1', 'esp-cu-1')));
    is $r->{status}, 401, "SigningCertURL \"$url\": 401";
}

my ($r, $m, $body);

is fetches(), 0, 'none of them fetched';
is_deeply [served_urls()], [], 'nothing asked of the certificate server';
is refused('cert_url'), $n_bad_urls, 'each counted as cert_url';
like $n->error_log,
    qr/mail_track ses: signing certificate url not allowed \(cert_url\): SigningCertURL is not/,
    'the log line names the reason';
like log_file('mt.log'), qr/^401 - - cert_url$/m, '$mail_track_result is cert_url';

# the good one, for contrast: the same body with the real URL
($r) = env(cert => 'evil', Message => event(eventType => 'Send',
           mail => mail('cu-ok', 'esp-cu-ok')));
is $r->{status}, 200, 'the valid URL for that file is accepted';
is $r->{body}, accepted(1), 'one event';

# regions and partitions the URL rule allows
for my $host ('sns.eu-central-1.amazonaws.com', 'sns.us-gov-west-1.amazonaws.com',
              'sns.cn-north-1.amazonaws.com.cn', 'SNS.US-EAST-1.AMAZONAWS.COM') {
    ($r) = env(cert_url => "https://$host/SimpleNotificationService-main.pem",
               Message => event(eventType => 'Send', mail => mail('cu-r', 'esp-cu-r')));
    is $r->{status}, 200, "$host is an SNS host";
}

# --- 2. topics: 403 before any fetch ---------------------------------------------

for my $arn ('arn:aws:sns:us-east-1:999999999999:ses-events',
             'arn:aws:sns:us-east-1:123456789012:ses-events-2',
             'arn:aws:sns:us-east-1:123456789012:SES-EVENTS',
             'arn:aws:sns:us-east-1:123456789012') {
    ($r) = env(TopicArn => $arn, cert => 'topic1',
               Message => event(eventType => 'Send', mail => mail('tp-1', 'esp-tp-1')));
    is $r->{status}, 403, "topic $arn: 403";
}
is fetches(), 0, 'not fetched for a foreign topic';
is_deeply [served_urls()], [], 'nothing asked of the certificate server';
is refused('topic'), 4, 'counted as topic';
like $n->error_log,
    qr/topic not allowed \(topic\): arn:aws:sns:us-east-1:999999999999:ses-events/,
    'the log names the topic';

($r) = env(TopicArn => 'arn:aws:sns:eu-west-1:123456789012:other',
           Message => event(eventType => 'Send', mail => mail('tp-2', 'esp-tp-2')));
is $r->{status}, 200, 'the second allowed topic';

# --- 3. a certificate from mail_track_sns_cert_dir; versions 1 and 2 ----------------

($r, $m) = env(Subject => 'Amazon SES Email Event Notification',
               Message => event(eventType => 'Delivery',
                   mail => mail('v2-mid', 'esp-v2'),
                   delivery => { timestamp => '2026-01-10T10:00:01.234Z',
                                 processingTimeMillis => 1234,
                                 recipients => ['a@example.com'],
                                 smtpResponse => '250 2.6.0 Message received',
                                 reportingMTA => 'a8-1.smtp-out.amazonses.com' }));
is $r->{status}, 200, 'SignatureVersion 2 (RSA-SHA256), certificate from the directory';
is $r->{body}, accepted(1), 'one event';
is $r->{headers}{'content-type'}, 'application/json', 'JSON answer';
my $v2_id = $m->{MessageId};

($r) = env(version => '1', Message => event(eventType => 'Delivery',
           mail => mail('v1-mid', 'esp-v1'),
           delivery => { timestamp => '2026-01-10T10:00:02.000Z',
                         recipients => ['b@example.com'],
                         smtpResponse => '250 ok' }));
is $r->{status}, 200, 'SignatureVersion 1 (RSA-SHA1)';

is fetches(), 0, 'the directory needs no fetch';

($r) = env(cert => 'dirchain', key => $certs->{leaf_key},
           Message => event(eventType => 'Send', mail => mail('dirchain', 'esp-dirchain')));
is $r->{status}, 200,
    'a leaf followed by its intermediate in the directory file chains';

($r) = env(cert => 'dirrogue', Message => event(eventType => 'Send',
           mail => mail('dirrogue', 'esp-dirrogue')),
           key => $certs->{rogue_key});
is $r->{status}, 401, 'a self-signed look-alike in the directory: 401';
is fetches(), 0, 'and not fetched instead';

($r) = env(uri => '/ses-dir', cert => 'fetch3', Message => event(eventType => 'Send',
           mail => mail('nocert', 'esp-nocert')));
is $r->{status}, 503, 'directory only, no such file: 503 (SNS retries)';
like $n->error_log,
    qr/signing certificate "https:\/\/sns\.us-east-1\.amazonaws\.com\/SimpleNotificationService-fetch3\.pem" is not available/,
    'logged';

# --- 4. fetched through mail_track_sns_cert_fetch, then cached ------------------------

($r) = env(cert => 'fetch1', Message => event(eventType => 'Send',
           mail => mail('fetched-1', 'esp-fetched-1')));
is $r->{status}, 200, 'a certificate fetched through the fetch location';
is fetches(), 1, 'one fetch';
is_deeply [served_urls(1)], [cert_url('fetch1')],
    '$mail_track_sns_url is the SigningCertURL';
like log_file('fetch.log'),
    qr{^/_sns_fetch\|url=https(?::|%3A)//sns\.us-east-1\.amazonaws\.com/SimpleNotificationService-fetch1\.pem\|https://sns\.us-east-1\.amazonaws\.com/SimpleNotificationService-fetch1\.pem\|200$}m,
    'the subrequest has url=<escaped URL>';

for my $i (2 .. 3) {
    ($r) = env(cert => 'fetch1', Message => event(eventType => 'Send',
               mail => mail("fetched-$i", "esp-fetched-$i")));
    is $r->{status}, 200, "the same certificate again ($i)";
}
is fetches(), 1, 'no new fetch: cached';
is scalar(served_urls()), 1, 'the server was asked once';

# --- 5. a certificate that does not chain: 401, not cached -------------------------------

($r) = env(cert => 'rogue', key => $certs->{rogue_key},
           Message => event(eventType => 'Send', mail => mail('rogue-1', 'esp-rogue-1')));
is $r->{status}, 401, 'a self-signed certificate: 401';
like $n->error_log,
    qr/signing certificate not trusted \(cert\): certificate does not chain to a trusted CA/,
    'logged: does not chain';
is fetches(), 2, 'it was fetched';

($r) = env(cert => 'rogue', key => $certs->{rogue_key},
           Message => event(eventType => 'Send', mail => mail('rogue-2', 'esp-rogue-2')));
is $r->{status}, 401, 'again: 401';
is fetches(), 3, 'fetched again: an untrusted certificate is not cached';
is refused('cert'), 3, 'counted as cert (directory once, fetched twice)';

# --- 6. a leaf whose intermediate is fetched through its AIA -----------------------------

($r) = env(cert => 'leaf', key => $certs->{leaf_key},
           Message => event(eventType => 'Send', mail => mail('leaf-1', 'esp-leaf-1')));
is $r->{status}, 200, 'a leaf issued by an intermediate the CA file lacks';
is fetches(), 5, 'the leaf and its issuer fetched';
is_deeply [(served_urls(5))[-2, -1]],
    [cert_url('leaf'), 'http://crt.test.amazontrust.com/int.cer'],
    'the issuer from the Authority Information Access, through the same location';

($r) = env(cert => 'leaf', key => $certs->{leaf_key},
           Message => event(eventType => 'Send', mail => mail('leaf-2', 'esp-leaf-2')));
is $r->{status}, 200, 'again';
is fetches(), 5, 'the chain is cached';

# --- 7. fetches that fail: 503, so SNS retries ----------------------------------------------

($r) = env(uri => '/ses-dead', cert => 'fetch3',
           Message => event(eventType => 'Send', mail => mail('dead-1', 'esp-dead-1')));
is $r->{status}, 503, 'the fetch location fails: 503';
is $r->{headers}{'retry-after'}, '30', 'with Retry-After';
like $n->error_log, qr/fetching "https:\/\/sns\.us-east-1\.amazonaws\.com\/SimpleNotificationService-fetch3\.pem" failed with status 502/,
    'logged with the status';
is refused('need_cert'), 2, 'counted as need_cert (directory miss, dead fetch)';

($r) = env(uri => '/ses-noint', cert => 'leaf2', key => $certs->{leaf_key},
           Message => event(eventType => 'Send', mail => mail('noint-1', 'esp-noint-1')));
is $r->{status}, 503, 'the issuer fetch fails: 503';
is_deeply [(served_urls(7))[-2, -1]],
    [cert_url('leaf2'), 'http://crt.test.amazontrust.com/int.cer'],
    'both were asked for';

# --- 8. the trust anchors are the location's own -------------------------------------------

($r) = env(uri => '/ses-intca', cert => 'fetch9',
           Message => event(eventType => 'Send', mail => mail('intca-1', 'esp-intca-1')));
is $r->{status}, 401, 'a certificate outside this location\'s mail_track_sns_ca: 401';

($r) = env(uri => '/ses-intca', cert => 'fetch1',
           Message => event(eventType => 'Send', mail => mail('intca-2', 'esp-intca-2')));
is $r->{status}, 401,
    'the same certificate, trusted by /ses, is still not trusted here';

# --- 9. signatures ---------------------------------------------------------------------------

my $send = event(eventType => 'Send', mail => mail('sig', 'esp-sig'));

($r) = env(Message => $send, key => $certs->{rogue_key});
is $r->{status}, 401, 'signed with another key: 401';

($body) = sns_envelope(Message => $send, cert_url => cert_url('main'));
$body =~ s/esp-sig/esp-siG/ or die;
$r = post('/ses', $body);
is $r->{status}, 401, 'one byte of Message changed: 401';

($body) = sns_envelope(Message => $send, cert_url => cert_url('main'));
(my $b2 = $body) =~ s/("Timestamp":"\d{4}-\d\d-\d\dT\d\d:\d\d:\d)(\d)/$1 . (($2 + 1) % 10)/e or die;
is post('/ses', $b2)->{status}, 401, 'the Timestamp changed: 401';

is refused('bad_signature'), 3, 'counted as bad_signature';

for my $k (qw(Signature SigningCertURL SignatureVersion)) {
    ($r) = env(Message => $send, omit => [$k]);
    is $r->{status}, 401, "$k missing: 401";
}
is refused('signature_missing'), 3, 'counted as signature_missing';

($r) = env(Message => $send, Signature => '');
is $r->{status}, 401, 'an empty Signature: 401';

($r) = env(Message => $send, version => '3');
is $r->{status}, 401, 'SignatureVersion 3: 401';

($r) = env(Message => $send, raw => { SignatureVersion => '2' });
is $r->{status}, 401, 'SignatureVersion as a JSON number: 401';

# signed with SHA-256 but announced as version 1
($body) = sns_envelope(Message => $send, cert_url => cert_url('main'),
                                     version => '2');
($b2 = $body) =~ s/"SignatureVersion":"2"/"SignatureVersion":"1"/ or die;
is post('/ses', $b2)->{status}, 401, 'version 1 with a SHA-256 signature: 401';

($r) = env(Message => $send, Signature => '!!!not base64!!!');
is $r->{status}, 401, 'a Signature that is not base64: 401';

($r) = env(Message => $send, Subject => 'added', sign => { Subject => undef });
is $r->{status}, 401, 'a Subject added to a message signed without one: 401';

($r) = env(Message => $send, omit => ['Subject'], sign => { Subject => 'gone' });
is $r->{status}, 401, 'the signed Subject removed: 401';

# a null Subject (Lambda style) is no Subject
($r) = env(Message => event(eventType => 'Send', mail => mail('subj-null', 'esp-subj-null')),
           raw => { Subject => 'null' });
is $r->{status}, 200, 'Subject null, signed without it: 200';

($r) = env(Message => event(eventType => 'Send', mail => mail('subj-none', 'esp-subj-none')));
is $r->{status}, 200, 'no Subject: 200';

# Lambda's spelling of the key
($r) = env(Message => event(eventType => 'Send', mail => mail('lambda', 'esp-lambda')),
           omit => ['SigningCertURL'],
           raw => { SigningCertUrl => '"' . cert_url('main') . '"' });
is $r->{status}, 200, 'SigningCertUrl (Lambda style): 200';

# the unsigned parts may change
($r) = env(Message => event(eventType => 'Send', mail => mail('unsigned', 'esp-unsigned')),
           raw => { UnsubscribeURL => '"https://example.com/elsewhere"' });
is $r->{status}, 200, 'an unsigned field changed: still 200';

# --- 10. escapes and non-ASCII text --------------------------------------------------------

# the values are signed decoded: "\u00fc" in the body and "ü" in the
# string to sign; Message is JSON too, with escapes of its own
my $diag = "smtp; 550 5.1.1 Empf\x{e4}nger unbekannt \x{2709} \x{1f600}";
my $subj = "Zustellung \x{2013} \x{fc}ber \x{1f4ec}";
my $escaped_body;
for my $ascii (0, 1) {
    for my $inner (0, 1) {
        my $msg = ($inner ? JSON::PP->new->canonical->ascii : $JSON)->encode({
            eventType => 'Bounce',
            mail => mail("uni-$ascii-$inner", "esp-uni", subject => $subj),
            bounce => { bounceType => 'Permanent', bounceSubType => 'General',
                        timestamp => '2026-01-10T10:00:05.000Z',
                        bouncedRecipients => [{ emailAddress => "j\x{f6}rg\@example.com",
                                                status => '5.1.1',
                                                diagnosticCode => $diag }] } });
        ($r, $m, $body) = env(Message => $msg, Subject => $subj, ascii => $ascii);
        is $r->{status}, 200,
            'Message and Subject ' . ($ascii ? '\\uXXXX-escaped' : 'raw UTF-8')
            . ', inner JSON ' . ($inner ? 'escaped' : 'raw');
        $escaped_body = $body if $ascii && !$inner;
    }
}
$body = $escaped_body;
like $body, qr/\\u00fcber \\ud83d\\udcec/, 'the body did carry \\u escapes (surrogate pair too)';
unlike $body, qr/[\x80-\xff]/, 'and no raw UTF-8';

# --- 11. headers, content types, bodies --------------------------------------------------------

($r, $m) = env(Message => event(eventType => 'Send', mail => mail('hdr-ok', 'esp-hdr-ok')));
is $r->{status}, 200, 'SNS headers that agree';

for my $h (['x-amz-sns-message-type', 'SubscriptionConfirmation'],
           ['x-amz-sns-message-id', 'another-id'],
           ['x-amz-sns-topic-arn', 'arn:aws:sns:us-east-1:123456789012:other']) {
    ($body, $m) = sns_envelope(cert_url => cert_url('main'),
        Message => event(eventType => 'Send', mail => mail('hdr', 'esp-hdr')));
    my %h = @{ sns_headers($m) };
    $h{ $h->[0] } = $h->[1];
    $r = post('/ses', $body, headers => [%h]);
    is $r->{status}, 400, "$h->[0] disagreeing with the body: 400";
}
like $n->error_log, qr/unexpected payload \(bad_payload\): x-amz-sns-message-type/,
    'the log names the header';

($body) = sns_envelope(cert_url => cert_url('main'),
    Message => event(eventType => 'Send', mail => mail('nohdr', 'esp-nohdr')));
is post('/ses', $body)->{status}, 200, 'no SNS headers at all: 200';

# pretty-printed, with CRLFs between the members
($body) = sns_envelope(cert_url => cert_url('main'),
    Message => event(eventType => 'Send', mail => mail('crlf', 'esp-crlf')));
$body =~ s/(?<!\\)","(?=[A-Z]\w*":)/",\r\n  "/g;
$body =~ s/^\{/{\r\n  /;
$body =~ s/\}$/\r\n}\r\n/;
is scalar(() = $body =~ /\r\n/g), 11, 'an envelope over 11 lines';
$r = post('/ses', $body);
is $r->{status}, 200, 'with CRLFs between the members: 200';
is $r->{body}, accepted(1), 'one event';

for my $ct ('text/plain; charset=UTF-8', 'text/plain', 'application/json',
            'Application/JSON; charset=utf-8') {
    ($r) = env(ct => $ct, Message => event(eventType => 'Send',
               mail => mail('ct', 'esp-ct')));
    is $r->{status}, 200, "Content-Type $ct: 200";
}
for my $ct ('application/x-www-form-urlencoded', 'text/html', 'application/jsonx',
            undef) {
    ($r) = env(ct => $ct, Message => event(eventType => 'Send',
               mail => mail('ct-bad', 'esp-ct-bad')));
    is $r->{status}, 400, 'Content-Type ' . ($ct // '(none)') . ': 400';
}
is refused('content_type'), 4, 'counted as content_type';

is post('/ses', '')->{status}, 400, 'empty body: 400';
is post('/ses', " \r\n")->{status}, 400, 'blank body: 400';
is refused('empty_body'), 2, 'counted as empty_body';

($body) = sns_envelope(cert_url => cert_url('main'),
    Message => event(eventType => 'Send', mail => mail('trunc', 'esp-trunc')));
is post('/ses', substr($body, 0, length($body) - 20))->{status}, 400,
    'truncated JSON: 400';
is post('/ses', '{"Type":"Notification",,}')->{status}, 400, 'malformed JSON: 400';
is refused('bad_json'), 2, 'counted as bad_json';

is post('/ses', event(eventType => 'Send', mail => mail('raw', 'esp-raw')))->{status},
    400, 'raw message delivery (the bare SES event): 400';
like $n->error_log, qr/not an SNS message \(is raw message delivery enabled/,
    'logged with the hint';
is post('/ses', '[1,2]')->{status}, 400, 'a JSON array: 400';

($r) = env(Type => 'Whatever', Message => $send);
is $r->{status}, 400, 'an unknown Type: 400';
($r) = env(Timestamp => 'yesterday', Message => $send);
is $r->{status}, 400, 'a Timestamp that is not ISO 8601: 400';
($r) = env(Message => $send, omit => ['MessageId']);
is $r->{status}, 400, 'MessageId missing: 400';
($r) = env(Message => $send, raw => { Message => '{"eventType":"Send"}' });
is $r->{status}, 400, 'Message an object, not a string: 400';

is $n->get('/ses')->{status}, 405, 'GET: 405';

($r) = env(uri => '/ses-tiny', Message => event(eventType => 'Send',
           mail => mail('tiny', 'esp-tiny', subject => 'y' x 1000)));
is $r->{status}, 413, 'larger than client_max_body_size: 413';

my @dest = map { "r$_\@example.com" } 1 .. 50;
($r) = env(uri => '/ses-small', Message => event(eventType => 'Send',
           mail => mail('spilled', 'esp-spilled', dest => \@dest,
                        subject => 'x' x 20000)));
is $r->{status}, 200, 'a body nginx spilled to a temp file';
is $r->{body}, accepted(50), 'read whole: 50 recipients';

# invalid UTF-8 is repaired before decoding; the signature covers the
# repaired text, as for every other decoded value
my $bad = event(eventType => 'Send', mail => mail('badutf', 'esp-badutf',
                                                   subject => 'cafeX'));
utf8::encode($bad) if utf8::is_utf8($bad);
(my $bad_raw = $bad) =~ s/cafeX/caf\xe9/ or die;
(my $bad_fixed = $bad) =~ s/cafeX/caf\xef\xbf\xbd/ or die;
($body, $m) = sns_envelope(cert_url => cert_url('main'), Message => $bad_raw,
                                  sign => { Message => $bad_fixed });
$r = post('/ses', $body);
is $r->{status}, 200, 'non-UTF-8 bytes: repaired, accepted';
($body, $m) = sns_envelope(cert_url => cert_url('main'), Message => $bad_raw);
is post('/ses', $body)->{status}, 401,
    'signed over the raw bytes instead: does not verify';

# --- 12. time -------------------------------------------------------------------------

($r) = env(Timestamp => iso(time() - 3 * 3600), Message => $send);
is $r->{status}, 401, 'Timestamp 3 hours old: 401 (tolerance 2h)';
is refused('stale'), 1, 'counted as stale';

($r) = env(Timestamp => iso(time() + 3600), Message => $send);
is $r->{status}, 401, 'Timestamp an hour ahead: 401';
is refused('future'), 1, 'counted as future';

($r) = env(Timestamp => iso(time() - 3600), Message => event(eventType => 'Send',
           mail => mail('late', 'esp-late')));
is $r->{status}, 200, 'an hour old (an SNS retry): 200';

($r) = env(Timestamp => iso(time() + 60), Message => event(eventType => 'Send',
           mail => mail('skew', 'esp-skew')));
is $r->{status}, 200, 'a minute ahead (clock skew): 200';

# --- 13. every SES event type ------------------------------------------------------------

my $T = '2026-01-10T10:05:00.123Z';
my $two = ['a@example.com', 'b@example.com'];

my @types = (
    # [ name, SES event, records expected [ { fields } ] ]
    [ 'Send', { eventType => 'Send', send => {},
                mail => mail('ev-send', 'esp-send', dest => $two,
                             tags => { campaign => ['spring', 'promo'] }) },
      [ { type => 'sent', rcpt => 'a@example.com', ts => ms($MAIL_TS),
          tag => 'spring,promo' },
        { type => 'sent', rcpt => 'b@example.com', tag => 'spring,promo' } ] ],
    [ 'Delivery', { eventType => 'Delivery',
                    mail => mail('ev-delivery', 'esp-delivery', dest => $two,
                                 tags => { tag => ['t1'] }),
                    delivery => { timestamp => $T, processingTimeMillis => 500,
                                  recipients => $two,
                                  smtpResponse => '250 2.6.0 Message received',
                                  reportingMTA => 'a8-1.smtp-out.amazonses.com' } },
      [ { type => 'delivered', rcpt => 'a@example.com', ts => ms($T),
          smtp_code => 250, smtp_status => '2.6.0', tag => 't1',
          reason => '250 2.6.0 Message received' },
        { type => 'delivered', rcpt => 'b@example.com' } ] ],
    [ 'Bounce Permanent', { eventType => 'Bounce',
                    mail => mail('ev-b-perm', 'esp-b-perm'),
                    bounce => { bounceType => 'Permanent', bounceSubType => 'General',
                                timestamp => $T, feedbackId => 'f1',
                                reportingMTA => 'dsn; mta.example.com',
                                bouncedRecipients => [{
                                    emailAddress => 'a@example.com', action => 'failed',
                                    status => '5.1.1',
                                    diagnosticCode => 'smtp; 550 5.1.1 user unknown' }] } },
      [ { type => 'bounced', bounce => 'hard', rcpt => 'a@example.com',
          smtp_status => '5.1.1', smtp_code => 550, ts => ms($T),
          reason => 'smtp; 550 5.1.1 user unknown' } ] ],
    [ 'Bounce Permanent Suppressed', { eventType => 'Bounce',
                    mail => mail('ev-b-supp', 'esp-b-supp'),
                    bounce => { bounceType => 'Permanent', bounceSubType => 'Suppressed',
                                timestamp => $T,
                                bouncedRecipients => [{ emailAddress => 'a@example.com' }] } },
      [ { type => 'bounced', bounce => 'hard', reason => 'Permanent/Suppressed' } ] ],
    [ 'Bounce Transient', { eventType => 'Bounce',
                    mail => mail('ev-b-trans', 'esp-b-trans', dest => $two),
                    bounce => { bounceType => 'Transient', bounceSubType => 'MailboxFull',
                                timestamp => $T,
                                bouncedRecipients => [
                                    { emailAddress => 'a@example.com', status => '4.2.2',
                                      diagnosticCode => 'smtp; 452 4.2.2 mailbox full' },
                                    { emailAddress => 'b@example.com', status => '4.2.2',
                                      diagnosticCode => 'smtp; 452 4.2.2 mailbox full' } ] } },
      [ { type => 'bounced', bounce => 'soft', rcpt => 'a@example.com',
          smtp_status => '4.2.2', smtp_code => 452 },
        { type => 'bounced', bounce => 'soft', rcpt => 'b@example.com' } ] ],
    [ 'Bounce Transient ContentRejected', { eventType => 'Bounce',
                    mail => mail('ev-b-block', 'esp-b-block'),
                    bounce => { bounceType => 'Transient', bounceSubType => 'ContentRejected',
                                timestamp => $T,
                                bouncedRecipients => [
                                    { emailAddress => 'a@example.com', status => '5.7.1',
                                      diagnosticCode => 'smtp; 554 5.7.1 spam' } ] } },
      [ { type => 'bounced', bounce => 'block', smtp_status => '5.7.1',
          smtp_code => 554 } ] ],
    [ 'Bounce Undetermined', { eventType => 'Bounce',
                    mail => mail('ev-b-und', 'esp-b-und'),
                    bounce => { bounceType => 'Undetermined', bounceSubType => 'Undetermined',
                                timestamp => $T,
                                bouncedRecipients => [{ emailAddress => 'a@example.com' }] } },
      [ { type => 'bounced', bounce => 'undetermined',
          reason => 'Undetermined/Undetermined' } ] ],
    [ 'Bounce of an unknown bounceType', { eventType => 'Bounce',
                    mail => mail('ev-b-new', 'esp-b-new'),
                    bounce => { bounceType => 'Novel', timestamp => $T,
                                bouncedRecipients => [{ emailAddress => 'a@example.com',
                                                        status => '5.1.1' }] } },
      [ { type => 'bounced', bounce => 'hard', smtp_status => '5.1.1' } ] ],
    [ 'Complaint', { eventType => 'Complaint',
                    mail => mail('ev-complaint', 'esp-complaint'),
                    complaint => { complaintFeedbackType => 'abuse', timestamp => $T,
                                   feedbackId => 'f2', userAgent => 'ARF',
                                   complainedRecipients => [{ emailAddress => 'a@example.com' }] } },
      [ { type => 'complained', rcpt => 'a@example.com', reason => 'abuse',
          ts => ms($T) } ] ],
    [ 'Complaint without a feedback type', { eventType => 'Complaint',
                    mail => mail('ev-complaint2', 'esp-complaint2'),
                    complaint => { complaintSubType => 'OnAccountSuppressionList',
                                   timestamp => $T,
                                   complainedRecipients => [{ emailAddress => 'a@example.com' }] } },
      [ { type => 'complained', reason => 'OnAccountSuppressionList' } ] ],
    [ 'Reject', { eventType => 'Reject',
                  mail => mail('ev-reject', 'esp-reject', dest => $two),
                  reject => { reason => 'Bad content' } },
      [ { type => 'rejected', rcpt => 'a@example.com', reason => 'Bad content',
          ts => ms($MAIL_TS) },
        { type => 'rejected', rcpt => 'b@example.com', reason => 'Bad content' } ] ],
    [ 'DeliveryDelay', { eventType => 'DeliveryDelay',
                    mail => mail('ev-delay', 'esp-delay'),
                    deliveryDelay => { delayType => 'TransientCommunicationFailure',
                                       timestamp => $T,
                                       expirationTime => '2026-01-11T10:00:00.000Z',
                                       delayedRecipients => [{
                                           emailAddress => 'a@example.com', status => '4.4.7',
                                           diagnosticCode => 'smtp; 421 4.4.7 try later' }] } },
      [ { type => 'deferred', bounce => 'soft', rcpt => 'a@example.com',
          smtp_status => '4.4.7', smtp_code => 421,
          reason => 'TransientCommunicationFailure', ts => ms($T) } ] ],
    [ 'Open', { eventType => 'Open', mail => mail('ev-open', 'esp-open'),
                open => { ipAddress => '192.0.2.1', timestamp => $T,
                          userAgent => 'Mozilla/5.0 (test)' } },
      [ { type => 'opened', rcpt => 'a@example.com', ip => '192.0.2.1',
          ua => 'Mozilla/5.0 (test)', ts => ms($T) } ] ],
    [ 'Click', { eventType => 'Click', mail => mail('ev-click', 'esp-click'),
                 click => { ipAddress => '192.0.2.2', timestamp => $T,
                            userAgent => 'Mozilla/5.0 (click)',
                            link => 'https://example.com/a?b=c',
                            linkTags => { samplekey0 => ['samplevalue0'] } } },
      [ { type => 'clicked', rcpt => 'a@example.com', ip => '192.0.2.2',
          ua => 'Mozilla/5.0 (click)', url => 'https://example.com/a?b=c' } ] ],
    [ 'Rendering Failure', { eventType => 'Rendering Failure',
                    mail => mail('ev-render', 'esp-render'),
                    failure => { errorMessage => "Attribute 'name' is not present",
                                 templateName => 'welcome' } },
      [ { type => 'rejected', reason => "Attribute 'name' is not present",
          rcpt => 'a@example.com' } ] ],
    [ 'Subscription opt-out of all', { eventType => 'Subscription',
                    mail => mail('ev-sub-all', 'esp-sub-all'),
                    subscription => { contactList => 'newsletter', timestamp => $T,
                                      source => 'UnsubscribeHeader',
                                      newTopicPreferences => { unsubscribeAll => JSON::PP::true },
                                      oldTopicPreferences => { unsubscribeAll => JSON::PP::false } } },
      [ { type => 'unsubscribed', reason => 'newsletter: all topics',
          rcpt => 'a@example.com', ts => ms($T) } ] ],
    [ 'Subscription opt-out of a topic', { eventType => 'Subscription',
                    mail => mail('ev-sub-topic', 'esp-sub-topic'),
                    subscription => { contactList => 'newsletter', timestamp => $T,
                        newTopicPreferences => { unsubscribeAll => JSON::PP::false,
                            topicSubscriptionStatus => [
                                { topicName => 'news', subscriptionStatus => 'OptOut' },
                                { topicName => 'deals', subscriptionStatus => 'OptOut' } ] },
                        oldTopicPreferences => { unsubscribeAll => JSON::PP::false,
                            topicSubscriptionStatus => [
                                { topicName => 'news', subscriptionStatus => 'OptIn' },
                                { topicName => 'deals', subscriptionStatus => 'OptOut' } ] } } },
      [ { type => 'unsubscribed', reason => 'newsletter: news' } ] ],
    [ 'Subscription opt-in', { eventType => 'Subscription',
                    mail => mail('ev-sub-in', 'esp-sub-in'),
                    subscription => { contactList => 'newsletter', timestamp => $T,
                        newTopicPreferences => { unsubscribeAll => JSON::PP::false,
                            topicSubscriptionStatus => [
                                { topicName => 'news', subscriptionStatus => 'OptIn' } ] },
                        oldTopicPreferences => { unsubscribeAll => JSON::PP::false,
                            topicSubscriptionStatus => [
                                { topicName => 'news', subscriptionStatus => 'OptOut' } ] } } },
      [ { type => 'other', reason => 'newsletter' } ] ],
    [ 'an unknown eventType', { eventType => 'Teleport',
                    mail => mail('ev-unknown', 'esp-unknown'),
                    teleport => { timestamp => $T } },
      [ { type => 'other', rcpt => 'a@example.com', esp_type => 'Teleport' } ] ],
    [ 'an identity notification (no tags)', { notificationType => 'Bounce',
                    mail => mail(undef, 'esp-identity'),
                    bounce => { bounceType => 'Permanent', bounceSubType => 'NoEmail',
                                timestamp => $T,
                                bouncedRecipients => [{ emailAddress => 'a@example.com',
                                                        status => '5.1.1' }] } },
      [ { type => 'bounced', bounce => 'hard', esp_type => 'Bounce',
          mid => 'esp-identity', esp_mid => undef } ] ],
);

my %sent_ids;
for my $t (@types) {
    my ($name, $ev, $want) = @$t;
    ($r, $m) = env(Message => event(%$ev));
    is $r->{status}, 200, "$name: 200";
    is $r->{body}, accepted(scalar @$want), "$name: " . scalar(@$want) . ' record(s)';
    $sent_ids{$name} = $m->{MessageId};
}

# a Notification that is not an SES event: another publisher on the topic
($r, $m) = env(Message => 'plain words from another publisher', Subject => 'hi');
is $r->{status}, 200, 'a non-SES Message: 200';
is $r->{body}, accepted(1), 'kept as one record';
my $opaque_id = $m->{MessageId};

# nothing to record
($r) = env(Message => 'Successfully validated SNS topic for Amazon SES event publishing.');
is $r->{status}, 200, "SES's test notification: 200";
is $r->{body}, accepted(0), 'nothing recorded';

($r) = env(Message => event(notificationType => 'AmazonSnsSubscriptionSucceeded',
                            message => 'You have successfully subscribed'));
is $r->{status}, 200, 'AmazonSnsSubscriptionSucceeded: 200';
is $r->{body}, accepted(0), 'nothing recorded';

is mv('mail_track_events_total{src="ses",type="unsubscribed"}'), 2,
    'unsubscribes counted';
is mv('mail_track_events_total{src="ses",type="other"}'), 3,
    'the opt-in, the unknown eventType and the non-SES Message counted as other';

# --- 14. duplicates -------------------------------------------------------------------------

my $dup = event(eventType => 'Bounce', mail => mail('dup', 'esp-dup'),
                bounce => { bounceType => 'Permanent', bounceSubType => 'General',
                            timestamp => $T,
                            bouncedRecipients => [{ emailAddress => 'a@example.com' },
                                                  { emailAddress => 'b@example.com' }] });
($body, $m) = sns_envelope(cert_url => cert_url('main'), Message => $dup,
                                  MessageId => 'dup-0001');
$r = post('/ses', $body, headers => sns_headers($m));
is $r->{body}, accepted(2), 'two recipients accepted';
$r = post('/ses', $body, headers => sns_headers($m));
is $r->{status}, 200, 'the same message again (an SNS retry): 200';
is $r->{body}, accepted(0, 2), 'both duplicates';
is mv('mail_track_duplicates_total{src="ses"}'), 2, 'duplicates counted';
like log_file('mt.log'), qr/^200 bounced dup duplicate$/m, '$mail_track_result duplicate';

# --- 15. a thousand recipients --------------------------------------------------------------

my @many = map { { emailAddress => "bulk$_\@example.com", status => '5.1.1' } } 1 .. 1000;
($r) = env(Message => event(eventType => 'Bounce', mail => mail('bulk', 'esp-bulk'),
                            bounce => { bounceType => 'Permanent', timestamp => $T,
                                        bouncedRecipients => \@many }));
is $r->{status}, 200, 'an event naming 1000 recipients';
is $r->{body}, accepted(1000), 'all accepted';

# --- 16. subscription confirmations -----------------------------------------------------------

my $sub_url = 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription'
            . "&TopicArn=$TOPIC&Token=2336412f37fb687f5d51e6e2425a8a58";
my $sub_text = "You have chosen to subscribe to the topic $TOPIC.\n"
             . 'To confirm the subscription, visit the SubscribeURL included in this message.';

my $f0 = fetches();
($r, $m) = env(Type => 'SubscriptionConfirmation', SubscribeURL => $sub_url,
               Token => '2336412f37fb687f5d51e6e2425a8a58', Message => $sub_text,
               MessageId => 'confirm-off');
is $r->{status}, 200, 'SubscriptionConfirmation: 200';
is $r->{body}, accepted(1), 'recorded';
like $n->error_log,
    qr/\[notice\].*mail_track ses: subscription confirmation, SubscribeURL "\Q$sub_url\E", not confirmed: mail_track_sns_confirm is off/,
    'the SubscribeURL logged at notice';
ok !grep({ /ConfirmSubscription/ } served_urls()), 'confirm off: nothing fetched';
is mv('mail_track_sns_confirmations_total') // 0, 0, 'no confirmation counted';

($r) = env(Type => 'SubscriptionConfirmation', SubscribeURL => $sub_url,
           Message => $sub_text, MessageId => 'confirm-forged',
           sign => { SubscribeURL => 'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x' });
is $r->{status}, 401, 'a SubscribeURL that was not signed: 401';

($r) = env(uri => '/ses-confirm', Type => 'SubscriptionConfirmation',
           SubscribeURL => $sub_url, Message => $sub_text, MessageId => 'confirm-on');
is $r->{status}, 200, 'confirm on: 200';
is $r->{body}, accepted(1), 'recorded';
is mv('mail_track_sns_confirmations_total'), 1, 'one confirmation counted';
is_deeply [grep { /ConfirmSubscription/ }
              served_urls(sub { grep { /ConfirmSubscription/ } @_ })], [$sub_url],
    'the SubscribeURL was fetched through the fetch location';
like log_file('fetch.log'), qr/^\/_sns_fetch\|url=[^|]+\|\Q$sub_url\E\|200$/m,
    'as a subrequest with url= and $mail_track_sns_url';

# url= carries the same URL, escaped
my @fl = map { [split /\|/] } split /\n/, log_file('fetch.log');
my @mismatch = grep { my $u = $_->[1]; $u =~ s/^url=// && $u =~ s/%([0-9A-Fa-f]{2})/chr hex $1/ge;
                      $u ne $_->[2] } @fl;
ok @fl >= 6, scalar(@fl) . ' fetches in the fetch location\'s log';
is_deeply \@mismatch, [], 'in each, url= unescaped is $mail_track_sns_url';
like $fl[-1][1], qr/%26Token=/, 'the &s of the SubscribeURL escaped';
like $n->error_log, qr/mail_track ses: subscription confirmed/, 'logged';
is fetches(), $f0, 'not counted as a certificate fetch';

for my $bad ('https://evil.example/?Action=ConfirmSubscription&Token=x',
             'https://sns.us-east-1.amazonaws.com.evil.example/?Action=ConfirmSubscription&Token=x',
             'http://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x',
             'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Action=Publish&Token=x',
             'https://sns.us-east-1.amazonaws.com/?Action=Publish&Token=x',
             'https://sns.us-east-1.amazonaws.com/x?Action=ConfirmSubscription&Token=x',
             'https://sns.us-east-1.amazonaws.com/?Action=ConfirmSubscription&Token=x#y') {
    ($r) = env(uri => '/ses-confirm', Type => 'SubscriptionConfirmation',
               SubscribeURL => $bad, Message => $sub_text);
    is $r->{status}, 200, "SubscribeURL $bad: recorded (200)";
}
is mv('mail_track_sns_confirmations_total'), 1, 'but none of them confirmed';
is scalar(grep { /ConfirmSubscription|Publish/ } served_urls()), 1, 'nor fetched';
like $n->error_log, qr/SubscribeURL is not an https:\/\/sns\.<region>\.amazonaws\.com\/\?Action=ConfirmSubscription URL, not confirming/,
    'logged';

($r) = env(uri => '/ses-confirm', Type => 'UnsubscribeConfirmation',
           SubscribeURL => $sub_url, Message => 'You have unsubscribed',
           MessageId => 'unsub-confirm');
is $r->{status}, 200, 'UnsubscribeConfirmation: 200';
is mv('mail_track_sns_confirmations_total'), 1,
    'its SubscribeURL (which would subscribe again) is not followed';

($r) = env(uri => '/ses-dead', Type => 'SubscriptionConfirmation',
           SubscribeURL => $sub_url, Message => $sub_text, MessageId => 'confirm-dead');
is $r->{status}, 503, 'confirming fails: 503, so SNS sends it again';
like $n->error_log, qr/confirming the subscription failed with status 502/, 'logged';

# --- 17. the zone cache outlives the worker ------------------------------------------------------

my $fetched = fetches();
$n->reload;

# first, before anything puts a key into the new worker's own cache
($r) = env(uri => '/ses-intca', cert => 'fetch1',
           Message => event(eventType => 'Send', mail => mail('intca-3', 'esp-intca-3')));
is $r->{status}, 401, 'the zone\'s copy is checked against this location\'s CA: 401';
is fetches(), $fetched + 1, 'and fetched again for it (then refused)';
$fetched = fetches();

($r) = env(cert => 'fetch1', Message => event(eventType => 'Send',
           mail => mail('after-reload', 'esp-after-reload')));
is $r->{status}, 200, 'after a reload (a new worker with no parsed keys)';
($r) = env(cert => 'leaf', key => $certs->{leaf_key},
           Message => event(eventType => 'Send', mail => mail('after-reload-leaf', 'esp-arl')));
is $r->{status}, 200, 'the leaf too';
is fetches(), $fetched, 'served from the zone: no new fetch';

# --- 18. what was spooled ---------------------------------------------------------------------

$n->quit;

my @recs = spool_records($spool);
my %by_mid;
push @{ $by_mid{ $_->{mid} // '' } }, $_ for @recs;

my %ids;
$ids{ $_->{id} }++ for @recs;
is_deeply [grep { $ids{$_} > 1 } sort keys %ids], [], 'no record spooled twice';
ok !(grep { $_->{src} ne 'ses' } @recs), 'every record has src ses';

my $v2 = $by_mid{'v2-mid'} || [];
is scalar @$v2, 1, 'the version 2 delivery: one record';
is_deeply { map { $_ => $v2->[0]{$_} } qw(src type esp_type mid esp_mid rcpt ts id
                                          smtp_code smtp_status reason) },
    { src => 'ses', type => 'delivered', esp_type => 'Delivery', mid => 'v2-mid',
      esp_mid => 'esp-v2', rcpt => 'a@example.com', ts => ms('2026-01-10T10:00:01.234Z'),
      id => "$v2_id#0", smtp_code => 250, smtp_status => '2.6.0',
      reason => '250 2.6.0 Message received' },
    'its fields';
ok $v2->[0]{rt} >= (time() - 600) * 1000, 'rt is the receive time in ms';

for my $t (@types) {
    my ($name, $ev, $want) = @$t;
    my $mid = exists $want->[0]{mid} ? $want->[0]{mid}
                                     : $ev->{mail}{tags}{mail_track_id}[0];
    my @got = sort { $a->{id} cmp $b->{id} } @{ $by_mid{$mid} || [] };
    is scalar @got, scalar @$want, "$name: " . scalar(@$want) . ' spooled';
    for my $i (0 .. $#$want) {
        my %w = (esp_type => $ev->{eventType} // $ev->{notificationType},
                 mid => $mid, esp_mid => $ev->{mail}{messageId},
                 id => "$sent_ids{$name}#$i", %{ $want->[$i] });
        my %g = map { $_ => $got[$i]{$_} } keys %w;
        is_deeply \%g, \%w, "$name: record $i";
    }
}

my ($op) = grep { $_->{id} eq "$opaque_id#0" } @recs;
is_deeply { map { $_ => $op->{$_} } qw(type esp_type reason tag) },
    { type => 'other', esp_type => 'Notification',
      reason => 'plain words from another publisher', tag => $TOPIC },
    'the non-SES notification: other, the text as reason, the topic as tag';

ok !(grep { ($_->{reason} // '') =~ /Successfully validated/ } @recs),
    "SES's test notification is not spooled";

my @uni = grep { ($_->{mid} // '') =~ /^uni-/ } @recs;
is scalar @uni, 4, 'the four non-ASCII bounces';
# spool_records() gives the UTF-8 bytes
my ($diag8, $rcpt8) = ($diag, "j\x{f6}rg\@example.com");
utf8::encode($_) for $diag8, $rcpt8;
is scalar(grep { $_->{reason} eq $diag8 && $_->{rcpt} eq $rcpt8 } @uni), 4,
    'each with the decoded text';

my ($fixed) = @{ $by_mid{badutf} || [] };
ok $fixed, 'the repaired message was spooled';

is scalar @{ $by_mid{dup} || [] }, 2, 'the duplicate: spooled once per recipient';
is_deeply [sort map { $_->{id} } @{ $by_mid{dup} || [] }], ['dup-0001#0', 'dup-0001#1'],
    'ids MessageId#n';

my @bulk = @{ $by_mid{bulk} || [] };
is scalar @bulk, 1000, '1000 recipients: 1000 records';
my %bulk_rcpt = map { $_->{rcpt} => 1 } @bulk;
is scalar keys %bulk_rcpt, 1000, 'each recipient once';

is scalar @{ $by_mid{spilled} || [] }, 50, 'the spilled body: 50 records';

my %conf = map { $_->{id} => $_ } grep { ($_->{esp_type} // '') =~ /Confirmation$/ } @recs;
is_deeply { map { $_ => $conf{'confirm-off'}{$_} } qw(type esp_type url tag reason) },
    { type => 'other', esp_type => 'SubscriptionConfirmation', url => $sub_url,
      tag => $TOPIC, reason => $sub_text },
    'the confirmation: other, url SubscribeURL, tag topic, id MessageId';
ok $conf{'confirm-on'}, 'the confirmed one too';
is $conf{'unsub-confirm'}{esp_type}, 'UnsubscribeConfirmation',
    'the UnsubscribeConfirmation as other';
ok $conf{'confirm-dead'}, 'the one whose confirmation failed is kept';
ok !$conf{'confirm-forged'}, 'the forged one is not';

ok !(grep { ($_->{mid} // '') =~ /^(?:cu-1|tp-1|dirrogue|rogue-|sig$|nocert|dead-|noint-|intca-[13]|tiny|raw|hdr$|ct-bad|trunc)/ } @recs),
    'nothing refused was spooled';

done_testing;
