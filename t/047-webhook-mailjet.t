# mail_track_webhook mailjet through the real nginx: the reference event,
# single objects (version 1) and grouped arrays (version 2), MessageIDs
# beyond 2^53 kept exact, CustomID / EventPayload, credentials (basic in
# the URL, user:password, bearer, rotation, auth off, no key refuses to
# start), bodies (CRLFs, temp file, 1000 events, too many, 413,
# malformed, truncated, wrong content type, empty, non-UTF-8),
# duplicates, and every event mapped end to end.

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
    log_format mtmj '$status $mail_track_event $mail_track_message_id $mail_track_result';
_EOC_

my $config = <<"_EOC_";
        location = /mj {
            mail_track_webhook mailjet;
            mail_track_webhook_key $pw;
            access_log logs/mj.log mtmj;
        }
        location = /mj-user {
            mail_track_webhook mailjet;
            mail_track_webhook_key mailjet:$pw;
        }
        location = /mj-rot {
            mail_track_webhook mailjet;
            mail_track_webhook_key $old;
            mail_track_webhook_key $new;
        }
        location = /mj-off {
            mail_track_webhook mailjet;
            mail_track_webhook_auth off;
        }
        location = /mj-tol {
            mail_track_webhook mailjet;
            mail_track_webhook_key $pw;
            mail_track_webhook_tolerance 60s;
        }
        location = /mj-small {
            client_body_buffer_size 1k;
            mail_track_webhook mailjet;
            mail_track_webhook_key $pw;
        }
        location = /mj-tiny {
            client_max_body_size 1k;
            mail_track_webhook mailjet;
            mail_track_webhook_key $pw;
        }
        location = /metrics { mail_track_metrics; }
_EOC_

my $n = MailTrack::Test->new(name => 'webhook-mailjet', http_config => $http_config,
                             config => $config);
$n->start;
my $spool = $n->servroot . '/spool';
my $t0 = time();

# https://mailjet:SECRET@edge/... arrives as basic auth
my $auth = basic_auth('mailjet', $pw);

sub post {
    my ($uri, $body, %o) = @_;
    my @h = ('Content-Type', exists $o{ct} ? $o{ct} : 'application/json');
    @h = () unless defined $h[1];
    push @h, @{ exists $o{auth} ? ($o{auth} || []) : $auth };
    return $n->request('POST', $uri, headers => \@h, body => $body);
}

sub mv { metric_count($n, $_[0]) }

sub refused { mv(qq{mail_track_refused_total{src="mailjet",reason="$_[0]"}}) }

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

# an event as Mailjet writes it; MessageID stays a bare 64-bit number
sub mj {
    my ($event, $custom, %f) = @_;
    $seq++;
    my %e = (event => $event, time => 1767225600 + $seq, email => "r$seq\@example.com",
             mj_campaign_id => 7173, mj_contact_id => 320 + $seq, customcampaign => '',
             CustomID => $custom // '', Payload => '', Message_GUID => "guid-$seq", %f);
    delete $e{$_} for grep { !defined $e{$_} } keys %e;
    my $mid = exists $f{MessageID} ? $f{MessageID} : 19421777396000000 + $seq;
    delete $e{MessageID};
    my $text = $json->encode(\%e);
    $text =~ s/^\{/{"MessageID":$mid,/ if defined $mid;
    utf8::downgrade($text);   # bytes as given: \xe0 stays one byte
    return $text;
}

sub group { '[' . join(',', @_) . ']' }

# --- the reference event (Mailjet's sample), version 1 ---------------------------

my $ref = '{"event":"open","time":1433103519,"MessageID":19421777396190490,"email":"api@mailjet.com",'
        . '"mj_campaign_id":7173,"mj_contact_id":320,"customcampaign":"","CustomID":"","Payload":"",'
        . qq("ip":"192.0.2.1","geo":"US","agent":"Mozilla/5.0 (\xe2\x80\xa6)"});
accepted_ok(post('/mj', $ref), 'the reference open');
accepted_ok(post('/mj', $ref), 'retried by Mailjet: a duplicate', 0, 1);
$want{'19421777396190490'} = {
    src => 'mailjet', type => 'opened', esp_type => 'open', esp_mid => undef,
    rcpt => 'api@mailjet.com', ts => 1433103519000, ip => '192.0.2.1',
    ua => "Mozilla/5.0 (\xe2\x80\xa6)", tag => undef, url => undef,
};

# --- MessageID beyond 2^53 ----------------------------------------------------------

# two events that differ only beyond a double's precision are two events
accepted_ok(post('/mj', group(
    mj('sent', 'big-490', MessageID => '19421777396190490', time => 1767000000, email => 'big@example.com'),
    mj('sent', 'big-491', MessageID => '19421777396190491', time => 1767000000, email => 'big@example.com'),
    mj('sent', 'big-2p53', MessageID => '9007199254740993'),
    mj('sent', 'big-max', MessageID => '9223372036854775807'),
    mj('sent', 'big-string', MessageID => '"19421777396190492"'),
)), 'MessageIDs past 2^53, grouped', 5);
$want{'big-490'} = { esp_mid => '19421777396190490' };
$want{'big-491'} = { esp_mid => '19421777396190491' };
$want{'big-2p53'} = { esp_mid => '9007199254740993' };
$want{'big-max'} = { esp_mid => '9223372036854775807' };
$want{'big-string'} = { esp_mid => '19421777396190492' };

accepted_ok(post('/mj', mj('open', undef, MessageID => '19421777396190493')), 'no app id: mid is the MessageID');
$want{'19421777396190493'} = { esp_mid => undef, type => 'opened' };

# --- the application's id -----------------------------------------------------------

accepted_ok(post('/mj', group(
    mj('sent', undef, Payload => '{"mail_track_id":"app-payload","x":1}'),
    mj('sent', 'app-custom', Payload => '{"mail_track_id":"loses"}'),
    mj('sent', undef, Payload => { mail_track_id => 'app-payload-object' }),
    mj('sent', undef, Payload => 'just text', MessageID => '19421777396199001'),
    mj('sent', undef, Payload => '{"other":"x"}', MessageID => '19421777396199002'),
    mj('sent', undef, Payload => '{not json', MessageID => '19421777396199003'),
)), 'CustomID and EventPayload', 6);
$want{'app-payload'} = { esp_mid => 19421777396000000 + $seq - 5 };
$want{'app-custom'} = { esp_mid => 19421777396000000 + $seq - 4 };
$want{'app-payload-object'} = { esp_mid => 19421777396000000 + $seq - 3 };
$want{$_} = { esp_mid => undef } for qw(19421777396199001 19421777396199002 19421777396199003);

# --- fields ---------------------------------------------------------------------------

accepted_ok(post('/mj', group(
    mj('sent', 'app-sent', smtp_reply => 'sent (250 2.0.0 OK 1433333948 fa5si855896wjc.199 - gsmtp)',
       mj_message_id => '19421777396190490', customcampaign => 'spring', ip => '203.0.113.9'),
    mj('click', 'app-click', url => 'https://example.com/x?y=z', ip => '192.0.2.30',
       agent => 'Mozilla/5.0 (iPhone)', geo => 'FR'),
    mj('bounce', 'app-bounce', blocked => JSON::PP::false, hard_bounce => JSON::PP::true,
       error_related_to => 'recipient', error => 'user unknown',
       comment => '550 5.1.1 <x@example.com>: Recipient address rejected'),
    mj('blocked', 'app-blocked', error_related_to => 'recipient', error => 'preblocked'),
    mj('spam', 'app-spam', source => 'JMRPP'),
)), 'fields', 5);
$want{'app-sent'} = {
    type => 'delivered', esp_type => 'sent', smtp_code => 250, smtp_status => '2.0.0',
    reason => 'sent (250 2.0.0 OK 1433333948 fa5si855896wjc.199 - gsmtp)', tag => 'spring', ip => undef,
};
$want{'app-click'} = { type => 'clicked', url => 'https://example.com/x?y=z', ip => '192.0.2.30',
                       ua => 'Mozilla/5.0 (iPhone)' };
$want{'app-bounce'} = {
    type => 'bounced', bounce => 'hard', smtp_code => 550, smtp_status => '5.1.1',
    reason => 'recipient: user unknown (550 5.1.1 <x@example.com>: Recipient address rejected)',
};
$want{'app-blocked'} = { type => 'rejected', reason => 'recipient: preblocked', bounce => undef };
$want{'app-spam'} = { type => 'complained', reason => 'JMRPP' };

# --- the mapping, end to end -----------------------------------------------------------

my @map = (
    ['sent', {}, 'delivered'], ['open', {}, 'opened'], ['click', { url => 'https://e.example/' }, 'clicked'],
    ['bounce', { hard_bounce => JSON::PP::true }, 'bounced', 'hard'],
    ['bounce', { hard_bounce => JSON::PP::false }, 'bounced', 'soft'],
    ['bounce', { hard_bounce => JSON::PP::false, blocked => JSON::PP::true }, 'bounced', 'soft'],
    ['bounce', { hard_bounce => JSON::PP::true, error_related_to => 'spam', error => 'sender blocked' },
        'bounced', 'block'],
    ['bounce', { hard_bounce => JSON::PP::false, error_related_to => 'content', error => 'spam' },
        'bounced', 'soft'],
    ['bounce', { hard_bounce => JSON::PP::false, error_related_to => 'spam', error => 'policy issue' },
        'bounced', 'block'],
    ['bounce', { hard_bounce => JSON::PP::false, error_related_to => 'recipient', error => 'greylisted' },
        'deferred', 'soft'],
    ['bounce', { hard_bounce => JSON::PP::true, error_related_to => 'recipient', error => 'greylisted' },
        'bounced', 'hard'],
    ['blocked', {}, 'rejected'], ['spam', {}, 'complained'], ['unsub', { mj_list_id => 1 }, 'unsubscribed'],
    ['newsletter_forwarded_2031', {}, 'other'], ['sms_delivered', {}, 'other'],
);
my @ev;
my ($i, $others) = (0, 0);
for my $m (@map) {
    my ($event, $f, $type, $bounce) = @$m;
    $i++;
    my $mid = join '-', 'map', $i, $event, map { "$_=$f->{$_}" } sort keys %$f;
    push @ev, mj($event, $mid, %$f);
    $want{$mid} = { type => $type, bounce => $bounce, esp_type => $event };
    $others++ if $type eq 'other';
}
# single objects (version 1) for half of them, the rest grouped
my $half = int(@ev / 2);
for my $e (@ev[0 .. $half - 1]) {
    my $r = post('/mj', $e);
    $accepted++ if $r->{status} == 200 && $r->{body} eq answer(1, 0);
}
accepted_ok(post('/mj', group(@ev[$half .. $#ev])), 'the rest of the mapping grouped', @ev - $half);
is mv('mail_track_events_total{src="mailjet",type="other"}'), $others, "unknown events counted as other ($others)";

# --- credentials ---------------------------------------------------------------------

my $never = 0;
sub never { $never++; mj('sent', "never-$never") }

my $r = post('/mj', never(), auth => undef);
is $r->{status}, 401, 'no credential: 401';
is $r->{headers}{'www-authenticate'}, 'Basic realm="mail_track"', 'with a Basic challenge';
$r = post('/mj', never(), auth => basic_auth('mailjet', "${pw}0"));
is $r->{status}, 401, 'wrong password: 401';
is $r->{headers}{'www-authenticate'}, 'Basic realm="mail_track"', 'challenged';
is post('/mj', never(), auth => basic_auth('mailjet', uc $pw))->{status}, 401, 'password in another case: 401';
is post('/mj', never(), auth => basic_auth("mailjet:$pw", ''))->{status}, 401, 'the secret as the user name: 401';
is post('/mj', never(), auth => ['Authorization', "Bearer ${pw}0"])->{status}, 401, 'wrong bearer: 401';
is post('/mj-user', never(), auth => basic_auth('api', $pw))->{status}, 401, 'user:password key, other user: 401';
is post('/mj-rot', never(), auth => basic_auth('mailjet', $pw))->{status}, 401, 'rotation: a third secret: 401';

accepted_ok(post('/mj', mj('sent', 'cred-bearer'), auth => ['Authorization', "Bearer $pw"]),
    'bearer token (a proxy in front adds one)');
accepted_ok(post('/mj', mj('sent', 'cred-anyuser'), auth => basic_auth('anyone', $pw)),
    'a password-only key ignores the user name');
accepted_ok(post('/mj-user', mj('sent', 'cred-user')), 'user:password key');
accepted_ok(post('/mj-rot', mj('sent', 'cred-old'), auth => basic_auth('mailjet', $old)), 'rotation: the old key');
accepted_ok(post('/mj-rot', mj('sent', 'cred-new'), auth => basic_auth('mailjet', $new)), 'rotation: the new key');
accepted_ok(post('/mj-off', mj('sent', 'cred-off'), auth => undef), 'auth off: no credential needed');

is refused('auth_missing'), 1, 'auth_missing counted';
is refused('auth_failed'), 6, 'auth_failed counted';
like $n->error_log, qr/mail_track mailjet: credential does not match \(auth_failed\)/, 'the log names the reason';

accepted_ok(post('/mj-tol', group(mj('sent', 'tol-old', time => 1262304000),
                                  mj('sent', 'tol-future', time => 4102444800))),
    'events from 2010 and 2100 with tolerance 60s', 2);
$want{'tol-old'} = { ts => 1262304000000 };
$want{'tol-future'} = { ts => 4102444800000 };

# --- bodies ---------------------------------------------------------------------------

my %bad = (
    'an event without event'        => [mj(undef, 'never-noev'), 'bad_payload'],
    'an empty event name'           => [mj('', 'never-emptyev'), 'bad_payload'],
    'a grouped element without event' => [group(mj('sent', 'never-g1'), '{"time":1}'), 'bad_payload'],
    'a grouped element that is a string' => [group(mj('sent', 'never-g2'), '"sent"'), 'bad_payload'],
    'a number'                      => ['19421777396190490', 'bad_payload'],
    'malformed JSON'                => ['{"event":"sent",,"time":1}', 'bad_json'],
    'truncated JSON'                => [substr(mj('sent', 'never-tr'), 0, 40), 'bad_json'],
    'two objects'                   => [mj('sent', 'never-two-1') . "\r\n" . mj('sent', 'never-two-2'), 'bad_json'],
    'empty body'                    => ['', 'empty_body'],
    'blanks only'                   => ["\r\n \t", 'empty_body'],
);
my %reasons;
for my $name (sort keys %bad) {
    my ($body, $reason) = @{ $bad{$name} };
    is post('/mj', $body)->{status}, 400, "$name: 400";
    $reasons{$reason}++;
}
for my $ct ('text/plain', 'application/x-www-form-urlencoded', undef) {
    is post('/mj', mj('sent', 'never-ct'), ct => $ct)->{status}, 400, 'content type ' . ($ct // '(none)') . ': 400';
    $reasons{content_type}++;
}
for my $reason (sort keys %reasons) {
    is refused($reason), $reasons{$reason}, "$reason counted ($reasons{$reason})";
    like $n->error_log, qr/mail_track mailjet: [^\n]*\($reason\)/, "the log names $reason";
}

accepted_ok(post('/mj', '[]'), 'an empty group', 0, 0);
accepted_ok(post('/mj', mj('sent', 'ct-charset'), ct => 'application/json; charset=UTF-8'), 'json with a charset');

# CRLFs between grouped events
accepted_ok(post('/mj', "[\r\n" . join(",\r\n", map { mj('open', "crlf-$_") } 1 .. 3) . "\r\n]\r\n"),
    'a group with CRLFs', 3);
$want{"crlf-$_"} = { type => 'opened' } for 1 .. 3;

# non-UTF-8 bytes: repaired, kept
accepted_ok(post('/mj', mj('bounce', 'latin1', hard_bounce => JSON::PP::true, error_related_to => 'recipient',
                           error => "utilisateur inconnu \xe0 ce domaine")),
    'invalid UTF-8 accepted');
$want{latin1} = { reason => "recipient: utilisateur inconnu \xef\xbf\xbd ce domaine", bounce => 'hard' };

# a group spilled to a temp file
my @spill = map { mj('open', "spill-$_", agent => 'a' x 400) } 1 .. 20;
accepted_ok(post('/mj-small', group(@spill)), 'a group through a temp file', 20);
like $n->error_log, qr/a client request body is buffered to a temporary file/, 'nginx buffered it to a file';
$want{"spill-$_"} = { type => 'opened' } for 1, 20;

is post('/mj-tiny', group(@spill))->{status}, 413, 'over client_max_body_size: 413';
is refused('too_large'), 1, '413 counted as a refusal';

# 1000 grouped events
my @bulk = map { mj('open', "bulk-$_", ip => '192.0.2.1') } 1 .. 1000;
my $bulk = "[\r\n" . join(",\r\n", @bulk) . "\r\n]";
accepted_ok(post('/mj', $bulk), '1000 events', 1000);
accepted_ok(post('/mj', $bulk), 'the 1000 retried', 0, 1000);

my @huge = map { mj('open', undef, email => "h$_\@example.com") } 1 .. 10001;
is post('/mj', group(@huge))->{status}, 400, '10001 events: 400';
is refused('too_many'), 1, 'too_many counted';

is mv('mail_track_duplicates_total{src="mailjet"}'), 1 + 1000, 'duplicates counted';

is $n->get('/mj')->{status}, 405, 'GET: 405';
is refused('method'), 1, 'the method refusal counted';
is $n->request('HEAD', '/mj')->{status}, 200, 'HEAD: 200';

my $metrics = $n->get('/metrics')->{body};
my $total = 0;
$total += $1 while $metrics =~ /^mail_track_events_total\{src="mailjet",type="\w+"\} (\d+)$/mg;
is $total, $accepted, "mail_track_events_total for mailjet = events accepted ($accepted)";

$n->quit;
my $t1 = time();

# --- the spool --------------------------------------------------------------------------

my @recs = spool_records($spool);
is scalar(@recs), $accepted, "every accepted event spooled once ($accepted)";

my (%by, %ids);
push @{ $by{ $_->{mid} // '' } }, $_ for @recs;
$ids{ $_->{id} }++ for @recs;
is_deeply [grep { $ids{$_} > 1 } sort keys %ids], [], 'no event id twice';
is_deeply [grep { @{ $by{$_} } > 1 } sort keys %by], [], 'no message twice';

for my $k (sort keys %want) {
    my $rec = $by{$k} ? $by{$k}[0] : undef;
    ok $rec, "spooled: $k" or next;
    for my $f (sort keys %{ $want{$k} }) {
        is $rec->{$f}, $want{$k}{$f}, "$k: $f";
    }
}
like $by{'app-sent'}[0]{id}, qr/^[0-9a-f]{32}$/, 'a hash id';

is scalar(grep { ($_->{mid} // '') =~ /^bulk-\d+$/ } @recs), 1000, 'all 1000 bulk events spooled';
is scalar(grep { ($_->{mid} // '') =~ /^never/ } @recs), 0, 'nothing from a refused request';
is scalar(grep { ($_->{rcpt} // '') =~ /^h\d+\@/ } @recs), 0, 'nothing from the oversized group';
is scalar(grep { $_->{src} ne 'mailjet' } @recs), 0, 'src is mailjet everywhere';
is scalar(grep { !$_->{rt} || $_->{rt} < ($t0 - 5) * 1000 || $_->{rt} > ($t1 + 5) * 1000 } @recs), 0,
    'rt is the time nginx received the event';

# the ids as the spool file holds them: strings, digit for digit
my $raw = '';
for my $f (glob("$spool/*.mtspool")) {
    open my $fh, '<:raw', $f or next;
    local $/;
    $raw .= <$fh>;
}
for my $id (qw(19421777396190490 19421777396190491 9007199254740993 9223372036854775807)) {
    ok index($raw, $id) >= 0, "$id in the spool file";
}
ok index($raw, "\xef\xbf\xbd ce domaine") >= 0, 'U+FFFD in the spool file itself';

my $acc_log = do { local $/; open my $fh, '<', $n->servroot . '/logs/mj.log'; <$fh> };
like $acc_log, qr/^200 opened 19421777396190490 accepted$/m, 'the log variables: accepted';
like $acc_log, qr/^200 opened 19421777396190490 duplicate$/m, 'the log variables: duplicate';

# --- no key and no "auth off": nginx refuses to start ------------------------------------

my $nokey = MailTrack::Test->new(name => 'webhook-mailjet-nokey', http_config => <<'_EOC_', config => <<'_EOC2_');
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
_EOC_
        location = /mj {
            mail_track_webhook mailjet;
        }
_EOC2_
my ($refused, $out) = $nokey->start_fails;
ok $refused, 'no key, no "mail_track_webhook_auth off": nginx refuses to start';
like $out, qr/\[emerg\].*"mail_track_webhook mailjet" requires "mail_track_webhook_key"/, 'and says why';

done_testing;
