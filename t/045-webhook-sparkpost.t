# mail_track_webhook sparkpost through the real nginx: the reference
# batch, pings and the test batch sent when a webhook is created,
# credentials (basic, user:password, bearer, rotation, auth off, no key
# refuses to start), batches (CRLFs, temp file, 1000 events, too many,
# a bad element refuses the whole batch), bodies (413, malformed,
# truncated, wrong content type, empty, non-UTF-8), duplicates, and every
# type and bounce_class mapped end to end.

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time);

my $json = JSON::PP->new->canonical;

my $pw  = hex_secret();
my $old = hex_secret();
my $new = hex_secret();

my $http_config = <<'_EOC_';
    mail_track_zone zone=mt:16m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool flush=100ms max_age=200ms;
    log_format mtsp '$status $mail_track_event $mail_track_message_id $mail_track_result';
_EOC_

my $locations = <<"_EOC_";
        location = /sp {
            mail_track_webhook sparkpost;
            mail_track_webhook_key $pw;
            access_log logs/sp.log mtsp;
        }
        location = /sp-user {
            mail_track_webhook sparkpost;
            mail_track_webhook_key sparkpost:$pw;
        }
        location = /sp-rot {
            mail_track_webhook sparkpost;
            mail_track_webhook_key $old;
            mail_track_webhook_key $new;
        }
        location = /sp-off {
            mail_track_webhook sparkpost;
            mail_track_webhook_auth off;
        }
        location = /sp-tol {
            mail_track_webhook sparkpost;
            mail_track_webhook_key $pw;
            mail_track_webhook_tolerance 60s;
        }
        location = /sp-small {
            client_body_buffer_size 1k;
            mail_track_webhook sparkpost;
            mail_track_webhook_key $pw;
        }
        location = /sp-tiny {
            client_max_body_size 1k;
            mail_track_webhook sparkpost;
            mail_track_webhook_key $pw;
        }
        location = /metrics { mail_track_metrics; }
_EOC_

my $n = MailTrack::Test->new(name => 'webhook-sparkpost',
                             http_config => $http_config, config => $locations);
$n->start;
my $spool = $n->servroot . '/spool';
my $t0 = time();

my $auth = basic_auth('sparkpost', $pw);

sub post_to {
    my ($inst, $uri, $body, %o) = @_;
    my @h = ('Content-Type', exists $o{ct} ? $o{ct} : 'application/json');
    @h = () unless defined $h[1];
    push @h, @{ exists $o{auth} ? ($o{auth} || []) : $auth };
    return $inst->request('POST', $uri, headers => \@h, body => $body);
}

sub post { post_to($n, @_) }

sub mv { metric_count($_[1] || $n, $_[0]) }

sub refused { mv(qq{mail_track_refused_total{src="sparkpost",reason="$_[0]"}}) }

my (%want, %refused_mids);
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

# one event: ev(CLASS, TYPE, MID, fields); a fresh event_id unless given
sub ev {
    my ($class, $type, $mid, %f) = @_;
    $seq++;
    my %e = (type => $type, event_id => sprintf('7%016d', $seq),
             timestamp => '1767225600', transmission_id => "tx-$seq",
             message_id => sprintf('%020x', $seq), rcpt_to => "r$seq\@example.com",
             %f);
    $e{rcpt_meta} = { mail_track_id => $mid, other => 'x' } if defined $mid;
    delete $e{$_} for grep { !defined $e{$_} } keys %e;
    return { msys => { $class => \%e } };
}

sub batch { '[' . join(',', map { $json->encode($_) } @_) . ']' }

# --- the reference batch (developers.sparkpost.com bounce example) ----------

my $ref = qq([{"msys":{"message_event":{"type":"bounce","bounce_class":"1","campaign_id":"Example Campaign Name",)
        . qq("error_code":"554","event_id":"92356927693813856","message_id":"000443ee14578172be22",)
        . qq("rcpt_to":"recipient\@example.com","raw_rcpt_to":"recipient\@example.com",)
        . qq("raw_reason":"MAIL REFUSED - IP (\xe2\x80\xa6) is in black list",)
        . qq("timestamp":"1460989507","transmission_id":"65832150921904138","ip_address":"127.0.0.1"}}}]);

accepted_ok(post('/sp', $ref), 'reference bounce batch');
accepted_ok(post('/sp', $ref), 'the same batch again (retry)', 0, 1);
$want{'65832150921904138'} = {
    src => 'sparkpost', type => 'bounced', esp_type => 'bounce', id => '92356927693813856',
    esp_mid => undef, rcpt => 'recipient@example.com', ts => 1460989507000,
    bounce => 'undetermined', smtp_code => 554, smtp_status => undef,
    reason => "MAIL REFUSED - IP (\xe2\x80\xa6) is in black list",
    tag => 'Example Campaign Name', ip => undef, ua => undef,
};

# --- fields --------------------------------------------------------------------

accepted_ok(post('/sp', batch(
    ev('message_event', 'delivery', 'app-delivery', timestamp => '1767225601', event_id => '123456789012345678',
       rcpt_to => 'jane.doe@example.com', raw_rcpt_to => 'Jane.Doe@Example.com',
       campaign_id => 'spring', rcpt_tags => ['a', 'b'], ip_address => '198.51.100.1',
       raw_reason => undef, reason => undef, error_code => undef),
    ev('track_event', 'click', 'app-click', timestamp => '2026-01-01T00:00:02.500Z',
       target_link_url => 'https://example.com/x?y=1', ip_address => '192.0.2.5',
       user_agent => 'Mozilla/5.0 (X11)', rcpt_tags => ['t1', 't2', 3, '']),
    ev('track_event', 'open', 'app-open', ip_address => '192.0.2.6', user_agent => 'UA-open',
       target_link_url => 'https://ignored.example/'),
    ev('message_event', 'bounce', 'app-bounce', bounce_class => '10', error_code => '550',
       raw_reason => '550 5.1.1 <x@example.com>: Recipient address rejected',
       reason => '550 5.1.1 <...>: Recipient address rejected', ip_address => '198.51.100.2'),
    ev('message_event', 'spam_complaint', 'app-fbl', fbtype => 'abuse'),
    ev('message_event', 'delivery', undef, transmission_id => undef, message_id => 'only-message-id',
       rcpt_to => 'nometa@example.com'),
)), 'a batch of six', 6);

$want{'app-delivery'} = {
    type => 'delivered', esp_type => 'delivery', esp_mid => 'tx-' . ($seq - 5),
    rcpt => 'Jane.Doe@Example.com', tag => 'spring', ts => 1767225601000,
    ip => undef, reason => undef,
};
$want{'app-click'} = {
    type => 'clicked', url => 'https://example.com/x?y=1', ip => '192.0.2.5',
    ua => 'Mozilla/5.0 (X11)', tag => 't1,t2', ts => 1767225602500,
    rcpt => 'r' . ($seq - 4) . '@example.com',
};
$want{'app-open'} = { type => 'opened', ip => '192.0.2.6', ua => 'UA-open', url => undef };
$want{'app-bounce'} = {
    type => 'bounced', bounce => 'hard', smtp_code => 550, smtp_status => '5.1.1',
    reason => '550 5.1.1 <x@example.com>: Recipient address rejected', ip => undef,
};
$want{'app-fbl'} = { type => 'complained', reason => 'abuse', bounce => undef };
$want{'only-message-id'} = { type => 'delivered', rcpt => 'nometa@example.com', esp_mid => undef };

# an event without event_id gets a hash id: the same event twice is one
my $noid = ev('message_event', 'delay', 'app-noid', event_id => undef, raw_reason => '451 4.7.1 greylisted');
accepted_ok(post('/sp', batch($noid, $noid)), 'no event_id: a hash id, the copy is a duplicate', 1, 1);
$want{'app-noid'} = { type => 'deferred', bounce => 'soft', smtp_status => '4.7.1', smtp_code => 451 };

# several classes inside one msys object: taken event by event
my $two = ev('message_event', 'injection', 'app-multi-1');
$two->{msys}{track_event} = ev('track_event', 'initial_open', 'app-multi-2')->{msys}{track_event};
accepted_ok(post('/sp', batch($two)), 'two classes in one msys object', 2);
$want{'app-multi-1'} = { type => 'sent', esp_type => 'injection' };
$want{'app-multi-2'} = { type => 'opened', esp_type => 'initial_open' };

# --- pings ---------------------------------------------------------------------------

accepted_ok(post('/sp', '[{"msys":{}}]'), 'a ping', 0, 0);
accepted_ok(post('/sp', "[\r\n {\"msys\": {}},\r\n {\"msys\": {}}\r\n]"), 'two pings', 0, 0);
accepted_ok(post('/sp', '[]'), 'an empty batch', 0, 0);
accepted_ok(post('/sp', batch({ msys => {} }, ev('message_event', 'delivery', 'app-after-ping'))),
    'a ping next to an event');
$want{'app-after-ping'} = { type => 'delivered' };
is post('/sp', '[{"msys":{}}]', auth => undef)->{status}, 401, 'a ping needs the credential too';

# --- the mapping, end to end -------------------------------------------------------

my @types = (
    [qw(message_event injection sent)], [qw(message_event delivery delivered)],
    [qw(message_event delay deferred soft)], [qw(message_event policy_rejection rejected)],
    [qw(gen_event generation_failure rejected)], [qw(gen_event generation_rejection rejected)],
    [qw(message_event spam_complaint complained)],
    [qw(track_event open opened)], [qw(track_event initial_open opened)],
    [qw(track_event amp_open opened)], [qw(track_event amp_initial_open opened)],
    [qw(track_event click clicked)], [qw(track_event amp_click clicked)],
    [qw(unsubscribe_event list_unsubscribe unsubscribed)],
    [qw(unsubscribe_event link_unsubscribe unsubscribed)],
    [qw(relay_event relay_injection other)], [qw(relay_event relay_delivery other)],
    [qw(message_event sms_status other)], [qw(ab_test_event ab_test_completed other)],
    [qw(brand_new_event brand_new_type_2031 other)],
);

# bounce_class => [type, bounce], with the reply where it matters
my @classes = (
    ['1', undef, 'bounced', 'undetermined'],
    ['1', '550 5.7.1 blocked by policy', 'bounced', 'block'],
    ['1', '452 4.2.2 mailbox full', 'bounced', 'soft'],
    ['1', '552 5.2.2 mailbox full', 'bounced', 'soft'],
    ['1', '550 5.1.1 no such user', 'bounced', 'hard'],
    ['10', undef, 'bounced', 'hard'],
    (map { [$_, undef, 'bounced', 'soft'] } qw(20 21 22 23 24 40 70)),
    (map { [$_, undef, 'bounced', 'block'] } qw(25 26 50 51 52 53 54)),
    ['30', undef, 'bounced', 'hard'],
    ['60', undef, 'other', undef], ['80', undef, 'other', undef], ['100', undef, 'other', undef],
    ['90', undef, 'unsubscribed', undef],
    ['999', undef, 'bounced', 'undetermined'],
    [undef, undef, 'bounced', 'undetermined'],
    [undef, '550 5.1.1 user unknown', 'bounced', 'hard'],
    ['10', '421 4.4.1 timeout', 'bounced', 'hard'],
    ['20', '550 5.1.1 user unknown', 'bounced', 'soft'],
);

my @events;
my $others = 0;
for my $t (@types) {
    my ($class, $type, $norm, $bounce) = @$t;
    my $mid = "map-$type";
    push @events, ev($class, $type, $mid, raw_reason => undef);
    $want{$mid} = { type => $norm, bounce => $bounce, esp_type => $type };
    $others++ if $norm eq 'other';
}
for my $c (@classes) {
    my ($class, $reply, $norm, $bounce) = @$c;
    for my $type (qw(bounce out_of_band)) {
        my $mid = join '-', 'class', $class // 'none', $type, $reply ? ('reply', substr($reply, 4, 5)) : ();
        push @events, ev('message_event', $type, $mid, bounce_class => $class, raw_reason => $reply);
        $want{$mid} = { type => $norm, bounce => $bounce, esp_type => $type };
        $others++ if $norm eq 'other';
    }
}
# bounce_class given as a number is read the same way
push @events, ev('message_event', 'bounce', 'class-numeric-50', bounce_class => 50);
$want{'class-numeric-50'} = { type => 'bounced', bounce => 'block' };

accepted_ok(post('/sp', batch(@events)), 'one event per type and bounce class', scalar @events);
is mv('mail_track_events_total{src="sparkpost",type="other"}'), $others,
    "unknown types and non-failure classes counted as other ($others)";

# --- credentials -----------------------------------------------------------------

my $never = 0;
sub never { $never++; batch(ev('message_event', 'delivery', "never-$never")) }

my $r = post('/sp', never(), auth => undef);
is $r->{status}, 401, 'no credential: 401';
is $r->{headers}{'www-authenticate'}, 'Basic realm="mail_track"', 'with a Basic challenge';
$r = post('/sp', never(), auth => basic_auth('sparkpost', "x$pw"));
is $r->{status}, 401, 'wrong password: 401';
is $r->{headers}{'www-authenticate'}, 'Basic realm="mail_track"', 'challenged';
is post('/sp', never(), auth => ['Authorization', "Bearer x$pw"])->{status}, 401, 'wrong bearer token: 401';
is post('/sp', never(), auth => ['Authorization', 'Bearer'])->{status}, 401, 'empty bearer: 401';
is post('/sp', never(), auth => ['X-MessageSystems-Webhook-Token', $pw])->{status}, 401,
    'the deprecated token header is no credential: 401';
is post('/sp-user', never(), auth => basic_auth('other', $pw))->{status}, 401, 'user:password key, other user: 401';
is post('/sp-rot', never(), auth => basic_auth('sparkpost', $pw))->{status}, 401, 'rotation: a third secret: 401';

accepted_ok(post('/sp', batch(ev('message_event', 'delivery', 'cred-bearer')),
                 auth => ['Authorization', "Bearer $pw"]), 'OAuth2 bearer token');
accepted_ok(post('/sp-user', batch(ev('message_event', 'delivery', 'cred-user'))), 'user:password key');
accepted_ok(post('/sp-rot', batch(ev('message_event', 'delivery', 'cred-old')),
                 auth => basic_auth('sparkpost', $old)), 'rotation: the old key');
accepted_ok(post('/sp-rot', batch(ev('message_event', 'delivery', 'cred-new')),
                 auth => basic_auth('sparkpost', $new)), 'rotation: the new key');
$r = post('/sp-off', batch(ev('message_event', 'delivery', 'cred-off')), auth => undef);
accepted_ok($r, 'auth off: no credential needed');

is refused('auth_missing'), 3, 'auth_missing counted';
is refused('auth_failed'), 5, 'auth_failed counted';
like $n->error_log, qr/mail_track sparkpost: credential does not match \(auth_failed\)/,
    'the log names the reason';

# nothing signed carries a time: old and future events pass any tolerance
accepted_ok(post('/sp-tol', batch(ev('message_event', 'delivery', 'tol-old', timestamp => '1262304000'),
                                  ev('message_event', 'delivery', 'tol-future', timestamp => '4102444800'))),
    'events from 2010 and 2100 with tolerance 60s', 2);
$want{'tol-old'} = { ts => 1262304000000 };
$want{'tol-future'} = { ts => 4102444800000 };

# --- batches ----------------------------------------------------------------------

# the whole batch is refused when one element is bad: nothing queued
my $good = ev('message_event', 'delivery', 'never-in-bad-batch');
my %badbatch = (
    'an element without msys'     => [batch($good, { other => {} }), 'bad_payload'],
    'msys not an object'          => [batch($good, { msys => [] }), 'bad_payload'],
    'an element that is a number' => ['[' . $json->encode($good) . ',1]', 'bad_payload'],
    'an event without type'       => [batch($good, ev('message_event', undef, 'never-notype')), 'bad_payload'],
    'an event with an empty type' => [batch($good, ev('message_event', '', 'never-emptytype')), 'bad_payload'],
    'an object, not an array'     => [$json->encode($good), 'bad_payload'],
    'malformed JSON'              => ['[{"msys":{"message_event":{"type":"delivery",}}}]', 'bad_json'],
    'truncated JSON'              => [substr(batch($good, $good), 0, 100), 'bad_json'],
    'two arrays'                  => [batch($good) . "\r\n" . batch($good), 'bad_json'],
    'empty body'                  => ['', 'empty_body'],
    'CRLF only'                   => ["\r\n\r\n", 'empty_body'],
);
my %reasons;
for my $name (sort keys %badbatch) {
    my ($body, $reason) = @{ $badbatch{$name} };
    $r = post('/sp', $body);
    is $r->{status}, 400, "$name: 400";
    $reasons{$reason}++;
}
for my $ct ('text/plain', 'application/x-www-form-urlencoded', undef, 'application/json-seq') {
    $r = post('/sp', batch(ev('message_event', 'delivery', 'never-ct')), ct => $ct);
    is $r->{status}, 400, 'content type ' . ($ct // '(none)') . ': 400';
    $reasons{content_type}++;
}
for my $reason (sort keys %reasons) {
    is refused($reason), $reasons{$reason}, "$reason counted ($reasons{$reason})";
    like $n->error_log, qr/mail_track sparkpost: [^\n]*\($reason\)/, "the log names $reason";
}
like $n->error_log, qr/\(bad_payload\): element without an msys object/, 'the detail is logged';

accepted_ok(post('/sp', batch(ev('message_event', 'delivery', 'ct-vnd')), ct => 'application/vnd.sparkpost+json'),
    'a +json media type');

# CRLFs between the events
my @crlf = map { ev('message_event', 'delivery', "crlf-$_") } 1 .. 3;
accepted_ok(post('/sp', "[\r\n  " . join(",\r\n  ", map { $json->encode($_) } @crlf) . "\r\n]\r\n"),
    'a batch with CRLFs', 3);
$want{"crlf-$_"} = { type => 'delivered' } for 1 .. 3;

# a batch spilled to a temp file
my @spill = map { ev('message_event', 'delivery', "spill-$_", subject => 'y' x 500) } 1 .. 50;
accepted_ok(post('/sp-small', batch(@spill)), 'a 30 KB batch through a temp file', 50);
like $n->error_log, qr/a client request body is buffered to a temporary file/, 'nginx buffered it to a file';
$want{"spill-$_"} = { type => 'delivered' } for 1, 25, 50;

is post('/sp-tiny', batch(@spill))->{status}, 413, 'over client_max_body_size: 413';
is refused('too_large'), 1, '413 counted as a refusal';

# non-UTF-8 bytes: repaired and kept
accepted_ok(post('/sp', qq([{"msys":{"message_event":{"type":"bounce","bounce_class":"10","event_id":"8000000000000001",)
                       . qq("raw_reason":"550 5.1.1 Empf\xe4nger unbekannt","rcpt_meta":{"mail_track_id":"latin1"}}}}])),
    'invalid UTF-8 accepted');
$want{latin1} = { reason => "550 5.1.1 Empf\xef\xbf\xbdnger unbekannt", bounce => 'hard' };

# 1000 events in one batch, all spooled once
my @bulk = map { ev('message_event', 'delivery', "bulk-$_", rcpt_to => "bulk$_\@example.com") } 1 .. 1000;
my $bulk = "[\r\n" . join(",\r\n", map { $json->encode($_) } @bulk) . "\r\n]";
accepted_ok(post('/sp', $bulk), '1000 events', 1000);
accepted_ok(post('/sp', $bulk), 'the 1000 again: duplicates', 0, 1000);

# a retried batch with new events next to old ones: only the new are queued
accepted_ok(post('/sp', batch(@bulk[0 .. 9], ev('message_event', 'delivery', 'bulk-extra'))),
    'a batch half old', 1, 10);
$want{'bulk-extra'} = { type => 'delivered' };

# beyond the module's batch limit: refused whole
my @huge = map { ev('message_event', 'delivery', undef, rcpt_to => "h$_\@example.com") } 1 .. 10001;
$r = post('/sp', batch(@huge));
is $r->{status}, 400, '10001 events: 400';
is refused('too_many'), 1, 'too_many counted';

is mv('mail_track_duplicates_total{src="sparkpost"}'), 1 + 1 + 1000 + 10, 'duplicates counted';

# --- methods ---------------------------------------------------------------------

is $n->get('/sp')->{status}, 405, 'GET: 405';
is refused('method'), 1, 'the method refusal counted';
is $n->request('HEAD', '/sp')->{status}, 200, 'HEAD: 200';

my $metrics = $n->get('/metrics')->{body};
my $total = 0;
$total += $1 while $metrics =~ /^mail_track_events_total\{src="sparkpost",type="\w+"\} (\d+)$/mg;
is $total, $accepted, "mail_track_events_total for sparkpost = events accepted ($accepted)";

$n->quit;
my $t1 = time();

# --- the spool ---------------------------------------------------------------------

my @recs = spool_records($spool);
is scalar(@recs), $accepted, "every accepted event spooled once ($accepted)";

my (%by_mid, %ids);
push @{ $by_mid{ $_->{mid} // '' } }, $_ for @recs;
$ids{ $_->{id} }++ for @recs;
is_deeply [grep { $ids{$_} > 1 } sort keys %ids], [], 'no event id twice';
is_deeply [grep { @{ $by_mid{$_} } > 1 } sort keys %by_mid], [], 'no message twice';

for my $mid (sort keys %want) {
    my $rec = $by_mid{$mid} ? $by_mid{$mid}[0] : undef;
    ok $rec, "spooled: $mid" or next;
    for my $f (sort keys %{ $want{$mid} }) {
        is $rec->{$f}, $want{$mid}{$f}, "$mid: $f";
    }
}
like $by_mid{'app-noid'}[0]{id}, qr/^[0-9a-f]{32}$/, 'no event_id: a 32-hex hash id';
is $by_mid{'app-delivery'}[0]{id}, '123456789012345678', 'event_id is the id';

is scalar(grep { ($_->{mid} // '') =~ /^bulk-\d+$/ } @recs), 1000, 'all 1000 bulk events spooled';
is scalar(grep { ($_->{mid} // '') =~ /^never/ } @recs), 0, 'nothing from a refused request';
is scalar(grep { ($_->{rcpt} // '') =~ /^h\d+\@/ } @recs), 0, 'nothing from the oversized batch';
is scalar(grep { $_->{src} ne 'sparkpost' } @recs), 0, 'src is sparkpost everywhere';
is scalar(grep { !$_->{rt} || $_->{rt} < ($t0 - 5) * 1000 || $_->{rt} > ($t1 + 5) * 1000 } @recs), 0,
    'rt is the time nginx received the event';

my $raw = '';
for my $f (glob("$spool/*.mtspool")) {
    open my $fh, '<:raw', $f or next;
    local $/;
    $raw .= <$fh>;
}
ok index($raw, "Empf\xef\xbf\xbdnger") >= 0, 'U+FFFD in the spool file itself';

my $acc_log = do { local $/; open my $fh, '<', $n->servroot . '/logs/sp.log'; <$fh> };
like $acc_log, qr/^200 bounced 65832150921904138 accepted$/m, 'the log variables: accepted';
like $acc_log, qr/^200 bounced 65832150921904138 duplicate$/m, 'the log variables: duplicate';
like $acc_log, qr/^200 - - accepted$/m, 'a ping: accepted, no event';

# --- creating the webhook: SparkPost posts its sample batch and needs a 200 --------

# the sample events of api.sparkpost.com/api/v1/webhooks/events/samples:
# every one carries the same event_id and message ids
my %sample = (
    campaign_id => 'Example Campaign Name', customer_id => '1', event_id => '92356927693813856',
    friendly_from => 'sender@example.com', ip_pool => 'Example-Ip-Pool',
    message_id => '000443ee14578172be22', msg_from => 'sender@example.com', msg_size => '1337',
    rcpt_meta => { customKey => 'customValue' }, rcpt_tags => ['male', 'US'],
    rcpt_to => 'recipient@example.com', raw_rcpt_to => 'recipient@example.com', rcpt_type => 'cc',
    routing_domain => 'example.com', sending_ip => '127.0.0.1', subaccount_id => '101',
    subject => 'Summer deals are here!', template_id => 'templ-1234', template_version => '1',
    timestamp => '1454442600', transmission_id => '65832150921904138',
);
my @sample = (
    { msys => { message_event => { %sample, type => 'injection' } } },
    { msys => { message_event => { %sample, type => 'delivery', ip_address => '127.0.0.1', queue_time => '12' } } },
    { msys => { message_event => { %sample, type => 'bounce', bounce_class => '1', error_code => '554',
                                   raw_reason => 'MAIL REFUSED - IP (17.99.99.99) is in black list' } } },
    { msys => { message_event => { %sample, type => 'delay', error_code => '421',
                                   raw_reason => '421 - Unable to connect to remote host' } } },
    { msys => { track_event => { %sample, type => 'open', ip_address => '127.0.0.1',
                                 user_agent => 'Mozilla/5.0' } } },
    { msys => { track_event => { %sample, type => 'click', ip_address => '127.0.0.1',
                                 target_link_url => 'http://example.com' } } },
    { msys => { gen_event => { %sample, type => 'generation_failure', error_code => '554' } } },
    { msys => { unsubscribe_event => { %sample, type => 'list_unsubscribe' } } },
    { msys => { relay_event => { type => 'relay_injection', event_id => '92356927693813856',
                                 relay_id => '123456', timestamp => '1454442600' } } },
);
my $samples = "[\n" . join(",\n", map { $json->encode($_) } @sample) . "\n]";

my $c = MailTrack::Test->new(name => 'webhook-sparkpost-create', http_config => $http_config,
                             config => $locations);
$c->start;
$r = post_to($c, '/sp', '[{"msys":{}}]');
is $r->{status}, 200, 'a new webhook: the ping gets 200';
$r = post_to($c, '/sp', $samples);
is $r->{status}, 200, 'the test batch on webhook creation gets 200';
my ($acc, $dup) = ($r->{body} // '') =~ /^\{"accepted":(\d+),"duplicates":(\d+)\}$/;
ok defined $acc && $acc >= 1 && $acc + $dup == @sample,
    'every sample event accounted for (accepted or, sharing one event_id, duplicate)';
is post_to($c, '/sp', $samples)->{status}, 200, 'the test batch again (target changed): 200';
is post_to($c, '/sp', $samples, auth => undef)->{status}, 401,
    'the test batch without the credential: 401 (the API call would fail, as it should)';
$c->quit;
my @crecs = spool_records($c->servroot . '/spool');
is scalar(@crecs), $acc // -1, 'what was accepted is spooled, once';
is scalar(grep { ($_->{rcpt} // '') ne 'recipient@example.com' && $_->{type} ne 'other' } @crecs), 0,
    'sample recipients';

# --- no key and no "auth off": nginx refuses to start -------------------------------

my $nokey = MailTrack::Test->new(name => 'webhook-sparkpost-nokey', http_config => <<'_EOC_', config => <<'_EOC2_');
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
_EOC_
        location = /sp {
            mail_track_webhook sparkpost;
            mail_track_webhook_auth on;
        }
_EOC2_
my ($refused, $out) = $nokey->start_fails;
ok $refused, 'no key, auth on: nginx refuses to start';
like $out, qr/\[emerg\].*"mail_track_webhook sparkpost" requires "mail_track_webhook_key"/, 'and says why';

done_testing;
