# mail_track_webhook postmark through the real nginx: the reference
# payload, credentials (basic, user:password, bearer, rotation, auth off,
# no key refuses to start), bodies (temp file, 413, malformed, truncated,
# wrong content type, empty, non-UTF-8, CRLF layout, 1000 posts),
# duplicates, and every RecordType / bounce Type mapped end to end.

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use JSON::PP ();
use MIME::Base64 qw(encode_base64);
use Time::HiRes qw(time);

my $json = JSON::PP->new->canonical;

# fresh credentials for every run
my $pw   = hex_secret();
my $old  = hex_secret();
my $new  = hex_secret();
my $fpw  = hex_secret();

my $http_config = <<'_EOC_';
    mail_track_zone zone=mt:16m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool flush=100ms max_age=200ms;
    log_format mtpm '$status $mail_track_event $mail_track_message_id $mail_track_result';
_EOC_

my $config = <<"_EOC_";
        location = /pm {
            mail_track_webhook postmark;
            mail_track_webhook_key $pw;
            access_log logs/pm.log mtpm;
        }
        location = /pm-user {
            mail_track_webhook postmark;
            mail_track_webhook_key postmark:$pw;
        }
        location = /pm-rot {
            mail_track_webhook postmark;
            mail_track_webhook_key $old;
            mail_track_webhook_key $new;
        }
        location = /pm-file {
            mail_track_webhook postmark;
            mail_track_webhook_key file:\$TEST_NGINX_SERVROOT/conf/pm.secret;
        }
        location = /pm-off {
            mail_track_webhook postmark;
            mail_track_webhook_auth off;
        }
        location = /pm-tol {
            mail_track_webhook postmark;
            mail_track_webhook_key $pw;
            mail_track_webhook_tolerance 60s;
        }
        location = /pm-small {
            client_body_buffer_size 1k;
            mail_track_webhook postmark;
            mail_track_webhook_key $pw;
        }
        location = /pm-tiny {
            client_max_body_size 1k;
            mail_track_webhook postmark;
            mail_track_webhook_key $pw;
        }
        location = /metrics { mail_track_metrics; }
_EOC_

my $n = MailTrack::Test->new(name => 'webhook-postmark',
                             http_config => $http_config, config => $config);
$n->write_file('conf/pm.secret', "$fpw\n", 0600);
$n->start;
my $spool = $n->servroot . '/spool';
my $t0 = time();

my $auth = basic_auth('postmark', $pw);

# post(URI, BODY, auth => [...] | undef (none), ct => TYPE)
sub post {
    my ($uri, $body, %o) = @_;
    my @h = ('Content-Type', exists $o{ct} ? $o{ct} : 'application/json');
    @h = () unless defined $h[1];
    push @h, @{ exists $o{auth} ? ($o{auth} || []) : $auth };
    return $n->request('POST', $uri, headers => \@h, body => $body);
}

sub mv { metric_count($n, $_[0]) }

sub refused { mv(qq{mail_track_refused_total{src="postmark",reason="$_[0]"}}) }

# what must be in the spool at the end: mid => { field => value }
my %want;
my $accepted = 0;

sub accepted_ok {
    my ($r, $name, $acc, $dup) = @_;
    $acc //= 1;
    $dup //= 0;
    is $r->{status}, 200, "$name: 200";
    is $r->{body}, answer($acc, $dup), "$name: $acc accepted, $dup duplicates";
    $accepted += $acc if $r->{status} == 200;
}

sub event {
    my (%f) = @_;
    return $json->encode(\%f);
}

# --- the reference payload (postmarkapp.com/email-webhooks), verbatim -------

my $ref = '{"ID":42,"Type":"HardBounce","TypeCode":1,"Name":"Hard bounce","Tag":"Test",'
    . '"MessageID":"883953f4-6105-42a2-a16a-77a8eac79483",'
    . '"Description":"The server was unable to deliver your message (ex: unknown user, mailbox not found).",'
    . '"Details":"Test bounce details","Email":"john@example.com","BouncedAt":"2014-08-01T13:28:10.2735393-04:00",'
    . '"DumpAvailable":true,"Inactive":true,"CanActivate":true,"Subject":"Test subject","Metadata":{"user_id":43}}';

accepted_ok(post('/pm', $ref), 'reference bounce (no RecordType)');
is $n->request('POST', '/pm', headers => ['Content-Type', 'application/json', @$auth],
               body => $ref)->{body}, answer(0, 1),
    'the same post again is a duplicate (Postmark ID 42)';

$want{'883953f4-6105-42a2-a16a-77a8eac79483'} = {
    src => 'postmark', type => 'bounced', esp_type => 'Bounce:HardBounce',
    id => '42', rcpt => 'john@example.com', ts => 1406914090273,
    bounce => 'hard', reason => 'Test bounce details', tag => 'Test',
    esp_mid => undef, smtp_status => undef, smtp_code => undef,
};

# the current shape, with RecordType, MessageStream and the app's id

my %ev = (
    RecordType => 'Bounce', MessageStream => 'outbound', ID => 4242000001,
    Type => 'HardBounce', TypeCode => 1, Name => 'Hard bounce', Tag => 'welcome',
    MessageID => 'b7bc2f4a-e38e-4336-af7d-e6c392c2f817',
    ServerID => 23, Description => 'The server was unable to deliver your message.',
    Details => 'smtp;550 5.1.1 The email account that you tried to reach does not exist.',
    Email => 'Jane.Doe@example.com', From => 'sender@example.com',
    BouncedAt => '2026-01-02T03:04:05.678Z', Inactive => JSON::PP::true,
    Metadata => { mail_track_id => 'app-bounce-1', other => 'x' },
);
accepted_ok(post('/pm', event(%ev)), 'RecordType Bounce with metadata');
$want{'app-bounce-1'} = {
    type => 'bounced', esp_type => 'Bounce:HardBounce', id => '4242000001',
    esp_mid => 'b7bc2f4a-e38e-4336-af7d-e6c392c2f817',
    rcpt => 'Jane.Doe@example.com', ts => 1767323045678, bounce => 'hard',
    smtp_status => '5.1.1', smtp_code => 550, tag => 'welcome',
    reason => 'smtp;550 5.1.1 The email account that you tried to reach does not exist.',
};

accepted_ok(post('/pm', event(
    RecordType => 'Delivery', ServerID => 23, MessageStream => 'outbound',
    MessageID => 'd-1', Recipient => 'a@example.com', Tag => 'news',
    DeliveredAt => '2026-01-02T03:04:05Z', Details => '250 2.0.0 OK 1700000000 x-gsmtp',
    Metadata => { mail_track_id => 'app-delivery-1' })), 'Delivery');
$want{'app-delivery-1'} = {
    type => 'delivered', esp_type => 'Delivery', esp_mid => 'd-1',
    rcpt => 'a@example.com', ts => 1767323045000, smtp_code => 250,
    smtp_status => '2.0.0', tag => 'news', bounce => undef,
    reason => '250 2.0.0 OK 1700000000 x-gsmtp',
};

accepted_ok(post('/pm', event(
    RecordType => 'Open', FirstOpen => JSON::PP::true, MessageID => 'o-1',
    Recipient => 'a@example.com', ReceivedAt => '2026-01-02T03:04:06Z',
    UserAgent => 'Mozilla/5.0 (Windows NT 10.0)', Platform => 'Desktop',
    Geo => { IP => '192.0.2.7', Country => 'X' }, Tag => 'news',
    Metadata => { mail_track_id => 'app-open-1' })), 'Open');
$want{'app-open-1'} = {
    type => 'opened', esp_type => 'Open', esp_mid => 'o-1',
    ts => 1767323046000, ip => '192.0.2.7', ua => 'Mozilla/5.0 (Windows NT 10.0)',
    url => undef, machine => undef,
};

accepted_ok(post('/pm', event(
    RecordType => 'Click', MessageID => 'c-1', Recipient => 'a@example.com',
    ReceivedAt => '2026-01-02T03:04:07Z', OriginalLink => 'https://example.com/a?b=c',
    ClickLocation => 'HTML', UserAgent => 'UA-click', Geo => { IP => '192.0.2.8' },
    Metadata => { mail_track_id => 'app-click-1' })), 'Click');
$want{'app-click-1'} = {
    type => 'clicked', esp_type => 'Click', url => 'https://example.com/a?b=c',
    ip => '192.0.2.8', ua => 'UA-click', ts => 1767323047000,
};

# a Delivery must not take an ip/ua/url even when the fields are there
accepted_ok(post('/pm', event(
    RecordType => 'Delivery', MessageID => 'd-2', Recipient => 'a@example.com',
    DeliveredAt => '2026-01-02T03:04:08Z', UserAgent => 'x', Geo => { IP => '192.0.2.9' },
    OriginalLink => 'https://example.com/', Metadata => { mail_track_id => 'app-delivery-2' })),
    'Delivery with stray engagement fields');
$want{'app-delivery-2'} = { type => 'delivered', ip => undef, ua => undef, url => undef };

# --- the mapping, end to end ------------------------------------------------

# [RecordType or undef, bounce Type or undef, extra fields, type, bounce, esp_type]
my @map = (
    ['Delivery', undef, {}, 'delivered', undef, 'Delivery'],
    ['Open', undef, {}, 'opened', undef, 'Open'],
    ['Click', undef, { OriginalLink => 'https://e.example/' }, 'clicked', undef, 'Click'],
    ['SpamComplaint', 'SpamComplaint', {}, 'complained', undef, 'SpamComplaint'],
    ['SubscriptionChange', undef, { SuppressSending => JSON::PP::true, SuppressionReason => 'HardBounce' },
        'bounced', 'hard', 'SubscriptionChange'],
    ['SubscriptionChange', undef, { SuppressSending => JSON::PP::true, SuppressionReason => 'SpamComplaint' },
        'complained', undef, 'SubscriptionChange'],
    ['SubscriptionChange', undef, { SuppressSending => JSON::PP::true, SuppressionReason => 'ManualSuppression' },
        'unsubscribed', undef, 'SubscriptionChange'],
    ['SubscriptionChange', undef, { SuppressSending => JSON::PP::false, SuppressionReason => 'ManualSuppression' },
        'other', undef, 'SubscriptionChange'],
    ['Inbound', undef, {}, 'other', undef, 'Inbound'],
    ['NewRecordType2031', undef, {}, 'other', undef, 'NewRecordType2031'],
    (map { ['Bounce', $_, {}, 'bounced', 'hard', "Bounce:$_"] }
         qw(HardBounce BadEmailAddress ManuallyDeactivated)),
    ['Bounce', 'SoftBounce', {}, 'bounced', 'soft', 'Bounce:SoftBounce'],
    (map { ['Bounce', $_, {}, 'deferred', 'soft', "Bounce:$_"] } qw(Transient DnsError)),
    (map { ['Bounce', $_, {}, 'bounced', 'block', "Bounce:$_"] }
         qw(Blocked DMARCPolicy SpamNotification VirusNotification)),
    ['Bounce', 'Unknown', {}, 'bounced', 'undetermined', 'Bounce:Unknown'],
    ['Bounce', 'Unknown', { Details => 'smtp;550 5.7.1 Message rejected by policy' },
        'bounced', 'block', 'Bounce:Unknown'],
    ['Bounce', 'Unknown', { Details => '452 4.2.2 Mailbox full' }, 'bounced', 'soft', 'Bounce:Unknown'],
    ['Bounce', 'Unknown', { Details => '550 5.1.1 no such user' }, 'bounced', 'hard', 'Bounce:Unknown'],
    ['Bounce', 'Unknown', { Details => '550 no enhanced status' }, 'bounced', 'undetermined', 'Bounce:Unknown'],
    ['Bounce', 'TypeFrom2031', {}, 'bounced', 'undetermined', 'Bounce:TypeFrom2031'],
    ['Bounce', 'TypeFrom2031', { Details => '550 5.1.1 unknown' }, 'bounced', 'hard', 'Bounce:TypeFrom2031'],
    ['Bounce', 'HardBounce', { Details => '421 4.7.0 try later' }, 'bounced', 'hard', 'Bounce:HardBounce'],
    ['Bounce', 'SpamComplaint', {}, 'complained', undef, 'Bounce:SpamComplaint'],
    (map { ['Bounce', $_, {}, 'unsubscribed', undef, "Bounce:$_"] } qw(Unsubscribe ManualSuppression)),
    (map { ['Bounce', $_, {}, 'rejected', undef, "Bounce:$_"] }
         qw(Unconfirmed SMTPApiError TemplateRenderingFailed)),
    (map { ['Bounce', $_, {}, 'other', undef, "Bounce:$_"] }
         qw(Subscribe AutoResponder AddressChange OpenRelayTest ChallengeVerification InboundError)),
    # payloads from before RecordType: recognized by their fields
    [undef, 'SoftBounce', { BouncedAt => '2026-01-01T00:00:00Z' }, 'bounced', 'soft', 'Bounce:SoftBounce'],
    [undef, 'SpamComplaint', { BouncedAt => '2026-01-01T00:00:00Z' }, 'complained', undef, 'SpamComplaint'],
    [undef, undef, { OriginalLink => 'https://e.example/old' }, 'clicked', undef, 'Click'],
    [undef, undef, { FirstOpen => JSON::PP::false }, 'opened', undef, 'Open'],
    [undef, undef, { DeliveredAt => '2026-01-01T00:00:00Z' }, 'delivered', undef, 'Delivery'],
    [undef, undef, { SuppressSending => JSON::PP::true, SuppressionReason => 'ManualSuppression' },
        'unsubscribed', undef, 'SubscriptionChange'],
    [undef, undef, { FromFull => { Email => 'x@example.com' } }, 'other', undef, 'Inbound'],
);

my $i = 0;
my (%map_ok, %others);
for my $m (@map) {
    my ($rt, $bt, $extra, $type, $bounce, $esp) = @$m;
    $i++;
    my $mid = join '-', 'map', $i, $rt // 'noRecordType', $bt // (), $extra->{Details} ? 'details' : ();
    my %e = (MessageID => "map-msg-$i", Recipient => "map$i\@example.com",
             Metadata => { mail_track_id => $mid }, %$extra);
    $e{RecordType} = $rt if defined $rt;
    if (defined $bt) {
        $e{Type} = $bt;
        $e{ID} = 900000 + $i;
        $e{BouncedAt} //= '2026-01-01T00:00:00Z' if ($rt // '') eq 'Bounce' || $rt && $rt eq 'SpamComplaint';
    }
    my $r = post('/pm', event(%e));
    $map_ok{$i} = $r->{status} == 200 && $r->{body} eq answer(1, 0);
    $accepted++ if $map_ok{$i};
    $want{$mid} = { type => $type, bounce => $bounce, esp_type => $esp,
                        esp_mid => "map-msg-$i", rcpt => "map$i\@example.com" };
    $others{$i} = 1 if $type eq 'other';
}
is_deeply [grep { !$map_ok{$_} } sort { $a <=> $b } keys %map_ok], [],
    'every mapping case accepted once';

# --- credentials -----------------------------------------------------------

my $r = post('/pm', event(RecordType => 'Delivery', MessageID => 'x-1', Recipient => 'a@example.com',
                          Metadata => { mail_track_id => 'never-1' }), auth => undef);
is $r->{status}, 401, 'no credential: 401';
is $r->{headers}{'www-authenticate'}, 'Basic realm="mail_track"', 'with a Basic challenge';

$r = post('/pm', event(RecordType => 'Delivery', MessageID => 'x-2', Metadata => { mail_track_id => 'never-2' }),
          auth => basic_auth('postmark', $pw . 'x'));
is $r->{status}, 401, 'wrong password: 401';
is $r->{headers}{'www-authenticate'}, 'Basic realm="mail_track"', 'challenged';

(my $flipped = $pw) =~ s/^(.)/$1 eq 'a' ? 'b' : 'a'/e;
is post('/pm', event(RecordType => 'Delivery', MessageID => 'x-3', Metadata => { mail_track_id => 'never-3' }),
        auth => basic_auth('postmark', $flipped))->{status}, 401, 'one byte of the password changed: 401';
is post('/pm', event(RecordType => 'Delivery', MessageID => 'x-4', Metadata => { mail_track_id => 'never-4' }),
        auth => basic_auth('postmark', substr($pw, 0, -1)))->{status}, 401, 'a prefix of the password: 401';
is post('/pm', event(RecordType => 'Delivery', MessageID => 'x-5', Metadata => { mail_track_id => 'never-5' }),
        auth => ['Authorization', 'Basic ' . encode_base64($pw, '')])->{status}, 401,
    'basic credential without a colon: 401';
is post('/pm', event(RecordType => 'Delivery', MessageID => 'x-6', Metadata => { mail_track_id => 'never-6' }),
        auth => ['Authorization', 'Basic %%%not-base64'])->{status}, 401, 'not base64: 401';
is post('/pm', event(RecordType => 'Delivery', MessageID => 'x-7', Metadata => { mail_track_id => 'never-7' }),
        auth => ['Authorization', "Digest $pw"])->{status}, 401, 'another scheme: 401';
is post('/pm', event(RecordType => 'Delivery', MessageID => 'x-8', Metadata => { mail_track_id => 'never-8' }),
        auth => ['Authorization', 'Bearer ' . $pw . 'x'])->{status}, 401, 'wrong bearer token: 401';
is post('/pm', event(RecordType => 'Delivery', MessageID => 'x-9', Metadata => { mail_track_id => 'never-9' }),
        auth => ['X-Postmark-Secret', $pw])->{status}, 401, 'the secret in another header: 401';

accepted_ok(post('/pm', event(RecordType => 'Delivery', MessageID => 'cred-1',
                              Metadata => { mail_track_id => 'cred-bearer' }),
                 auth => ['Authorization', "Bearer $pw"]), 'bearer token');
accepted_ok(post('/pm', event(RecordType => 'Delivery', MessageID => 'cred-2',
                              Metadata => { mail_track_id => 'cred-anyuser' }),
                 auth => basic_auth('whoever', $pw)), 'a password-only key ignores the user name');
accepted_ok(post('/pm', event(RecordType => 'Delivery', MessageID => 'cred-3',
                              Metadata => { mail_track_id => 'cred-lower' }),
                 auth => ['authorization', 'basic ' . encode_base64("postmark:$pw", '')]),
    'scheme and header name in lower case');

# user:password keys compare the user name too
accepted_ok(post('/pm-user', event(RecordType => 'Delivery', MessageID => 'cred-4',
                                   Metadata => { mail_track_id => 'cred-user' })), 'user:password key');
is post('/pm-user', event(RecordType => 'Delivery', MessageID => 'x-10', Metadata => { mail_track_id => 'never-10' }),
        auth => basic_auth('someone', $pw))->{status}, 401, 'user:password key, other user: 401';

# rotation: either key verifies, nothing else does
accepted_ok(post('/pm-rot', event(RecordType => 'Delivery', MessageID => 'rot-1',
                                  Metadata => { mail_track_id => 'rot-old' }), auth => basic_auth('postmark', $old)),
    'rotation: the old key');
accepted_ok(post('/pm-rot', event(RecordType => 'Delivery', MessageID => 'rot-2',
                                  Metadata => { mail_track_id => 'rot-new' }), auth => ['Authorization', "Bearer $new"]),
    'rotation: the new key');
is post('/pm-rot', event(RecordType => 'Delivery', MessageID => 'x-11', Metadata => { mail_track_id => 'never-11' }),
        auth => basic_auth('postmark', $pw))->{status}, 401, 'rotation: a third secret: 401';

accepted_ok(post('/pm-file', event(RecordType => 'Delivery', MessageID => 'file-1',
                                   Metadata => { mail_track_id => 'cred-file' }), auth => basic_auth('postmark', $fpw)),
    'key from file: (first line, newline trimmed)');

# auth off without a key: accepted without a credential, no challenge
$r = post('/pm-off', event(RecordType => 'Delivery', MessageID => 'off-1',
                           Metadata => { mail_track_id => 'cred-off' }), auth => undef);
accepted_ok($r, 'mail_track_webhook_auth off, no credential');
ok !exists $r->{headers}{'www-authenticate'}, 'no challenge on a 200';

is refused('auth_missing'), 2, 'auth_missing counted (no header, another header)';
is refused('auth_failed'), 9, 'auth_failed counted (each wrong credential)';
like $n->error_log, qr/mail_track postmark: credential missing \(auth_missing\)/,
    'the log names auth_missing';
like $n->error_log, qr/mail_track postmark: credential does not match \(auth_failed\)/,
    'the log names auth_failed';

# Postmark signs no time: the events' own times are not held against a
# tolerance (a retry is old by design)
accepted_ok(post('/pm-tol', event(RecordType => 'Delivery', MessageID => 'tol-1',
                                  DeliveredAt => '2014-01-01T00:00:00Z',
                                  Metadata => { mail_track_id => 'tol-old' })), 'a 2014 event with tolerance 60s');
accepted_ok(post('/pm-tol', event(RecordType => 'Delivery', MessageID => 'tol-2',
                                  DeliveredAt => '2099-01-01T00:00:00Z',
                                  Metadata => { mail_track_id => 'tol-future' })), 'a 2099 event with tolerance 60s');
$want{'tol-old'} = { ts => 1388534400000 };
$want{'tol-future'} = { ts => 4070908800000 };

# --- bodies ------------------------------------------------------------------

# a big bounce (Content included) goes to a temp file
my $big = event(RecordType => 'Bounce', ID => 777001, Type => 'SoftBounce', MessageID => 'big-1',
                Email => 'big@example.com', BouncedAt => '2026-01-01T00:00:00Z',
                Content => 'x' x 50000, Details => '452 4.2.2 over quota',
                Metadata => { mail_track_id => 'body-temp-file' });
accepted_ok(post('/pm-small', $big), 'a 50 KB body spilled to a temp file');
like $n->error_log, qr/a client request body is buffered to a temporary file/,
    'nginx did buffer it to a file';
$want{'body-temp-file'} = { type => 'bounced', bounce => 'soft', smtp_status => '4.2.2' };

$r = post('/pm-tiny', $big);
is $r->{status}, 413, 'over client_max_body_size: 413';
is refused('too_large'), 1, '413 counted as a refusal';

# the exact bytes with CRLFs and indentation (pretty-printed JSON)
my $crlf = "{\r\n  \"RecordType\": \"Delivery\",\r\n  \"MessageID\": \"crlf-1\",\r\n"
         . "  \"Recipient\": \"crlf\@example.com\",\r\n  \"DeliveredAt\": \"2026-01-01T00:00:01Z\",\r\n"
         . "  \"Metadata\": {\r\n    \"mail_track_id\": \"body-crlf\"\r\n  }\r\n}\r\n";
accepted_ok(post('/pm', $crlf), 'pretty-printed with CRLFs');
$want{'body-crlf'} = { rcpt => 'crlf@example.com', type => 'delivered' };

# non-UTF-8 bytes: repaired, kept
accepted_ok(post('/pm', '{"RecordType":"Bounce","ID":777002,"Type":"HardBounce","MessageID":"latin1-1",'
                 . qq("Email":"l1\@example.com","BouncedAt":"2026-01-01T00:00:00Z",)
                 . qq("Details":"550 5.1.1 caf\xe9 inconnu","Metadata":{"mail_track_id":"body-latin1"}})),
    'invalid UTF-8 accepted');
$want{'body-latin1'} = { reason => "550 5.1.1 caf\xef\xbf\xbd inconnu", smtp_status => '5.1.1' };

# content types
accepted_ok(post('/pm', event(RecordType => 'Delivery', MessageID => 'ct-1',
                              Metadata => { mail_track_id => 'ct-charset' }),
                 ct => 'application/json; charset=utf-8'), 'application/json; charset=utf-8');
accepted_ok(post('/pm', event(RecordType => 'Delivery', MessageID => 'ct-2',
                              Metadata => { mail_track_id => 'ct-suffix' }),
                 ct => 'application/vnd.postmark+json'), 'a +json media type');
accepted_ok(post('/pm', event(RecordType => 'Delivery', MessageID => 'ct-3',
                              Metadata => { mail_track_id => 'ct-case' }),
                 ct => 'Application/JSON'), 'media type case-insensitive');

my %bad = (
    'empty body'                 => ['', 'application/json', 'empty_body'],
    'whitespace only'            => [" \r\n\t ", 'application/json', 'empty_body'],
    'malformed JSON'             => ['{"RecordType":"Delivery",,}', 'application/json', 'bad_json'],
    'truncated JSON'             => [substr(event(RecordType => 'Delivery', MessageID => 'tr-1',
                                                  Metadata => { mail_track_id => 'never-tr' }), 0, 30),
                                     'application/json', 'bad_json'],
    'two objects in one body'    => [event(RecordType => 'Delivery', MessageID => 'two-1')
                                     . "\r\n" . event(RecordType => 'Delivery', MessageID => 'two-2'),
                                     'application/json', 'bad_json'],
    'an array'                   => ['[' . event(RecordType => 'Delivery', MessageID => 'arr-1') . ']',
                                     'application/json', 'bad_payload'],
    'a string'                   => ['"Delivery"', 'application/json', 'bad_payload'],
    'no RecordType, no known field' => ['{"MessageID":"nort-1","Recipient":"a@example.com"}',
                                     'application/json', 'bad_payload'],
    'RecordType not a string'    => ['{"RecordType":7,"MessageID":"nort-2"}', 'application/json', 'bad_payload'],
    'form content type'          => [event(RecordType => 'Delivery', MessageID => 'ct-9'),
                                     'application/x-www-form-urlencoded', 'content_type'],
    'text/plain'                 => [event(RecordType => 'Delivery', MessageID => 'ct-10'),
                                     'text/plain', 'content_type'],
    'no content type'            => [event(RecordType => 'Delivery', MessageID => 'ct-11'), undef, 'content_type'],
    'application/jsonx'          => [event(RecordType => 'Delivery', MessageID => 'ct-12'),
                                     'application/jsonx', 'content_type'],
);
my %reasons;
for my $name (sort keys %bad) {
    my ($body, $ct, $reason) = @{ $bad{$name} };
    $r = post('/pm', $body, ct => $ct);
    is $r->{status}, 400, "$name: 400";
    $reasons{$reason}++;
}
for my $reason (sort keys %reasons) {
    is refused($reason), $reasons{$reason}, "$reason counted ($reasons{$reason})";
    like $n->error_log, qr/mail_track postmark: [^\n]*\($reason\)/, "the log names $reason";
}

# a credential is checked before the body: a bad body without one is 401
is post('/pm', 'garbage', auth => undef)->{status}, 401, 'credential first, then the body';

# --- duplicates -----------------------------------------------------------------

my $dup = event(RecordType => 'Open', MessageID => 'dup-1', Recipient => 'a@example.com',
                ReceivedAt => '2026-01-03T00:00:00Z', Metadata => { mail_track_id => 'dup-open' });
accepted_ok(post('/pm', $dup), 'first delivery');
my $dups0 = mv('mail_track_duplicates_total{src="postmark"}');
accepted_ok(post('/pm', $dup), 'retried delivery', 0, 1);
accepted_ok(post('/pm-rot', $dup, auth => basic_auth('postmark', $new)), 'retried at another location', 0, 1);
is mv('mail_track_duplicates_total{src="postmark"}'), $dups0 + 2, 'duplicates counted';

# another open of the same message at another time is no duplicate
accepted_ok(post('/pm', event(RecordType => 'Open', MessageID => 'dup-1', Recipient => 'a@example.com',
                              ReceivedAt => '2026-01-03T00:00:01Z',
                              Metadata => { mail_track_id => 'dup-open-2' })), 'a second open');

# --- methods ---------------------------------------------------------------------

is $n->get('/pm')->{status}, 405, 'GET: 405';
is $n->request('PUT', '/pm', body => '{}', headers => $auth)->{status}, 405, 'PUT: 405';
is $n->request('HEAD', '/pm')->{status}, 200, 'HEAD: 200';
is refused('method'), 2, 'method refusals counted';

# --- 1000 events (Postmark posts one per request) --------------------------------

my $ok = 0;
for my $k (1 .. 1000) {
    my $res = post('/pm', event(RecordType => 'Delivery', MessageID => "bulk-msg-$k",
                                Recipient => "bulk$k\@example.com", DeliveredAt => '2026-01-04T00:00:00Z',
                                Metadata => { mail_track_id => "bulk-$k" }));
    $ok++ if $res->{status} == 200 && $res->{body} eq answer(1, 0);
}
is $ok, 1000, '1000 posts accepted';
$accepted += $ok;

# --- the counters against what was sent ------------------------------------------

is mv('mail_track_events_total{src="postmark",type="other"}'), scalar(keys %others),
    'unknown and non-delivery records counted as other';

my $metrics = $n->get('/metrics')->{body};
my $total = 0;
$total += $1 while $metrics =~ /^mail_track_events_total\{src="postmark",type="\w+"\} (\d+)$/mg;
is $total, $accepted, 'mail_track_events_total for postmark = events accepted';

$n->quit;

my @recs = spool_records($spool);
my $t1 = time();
is scalar(@recs), $accepted, "every accepted event spooled ($accepted)";

my (%by_mid, %ids);
push @{ $by_mid{ $_->{mid} // '' } }, $_ for @recs;
$ids{ $_->{id} }++ for @recs;
is_deeply [grep { $ids{$_} > 1 } sort keys %ids], [], 'no event id spooled twice';
is_deeply [grep { @{ $by_mid{$_} } > 1 } sort keys %by_mid], [], 'no message spooled twice';

for my $mid (sort keys %want) {
    my $rec = $by_mid{$mid} ? $by_mid{$mid}[0] : undef;
    ok $rec, "spooled: $mid" or next;
    for my $f (sort keys %{ $want{$mid} }) {
        is $rec->{$f}, $want{$mid}{$f}, "$mid: $f";
    }
}

like $by_mid{'app-delivery-1'}[0]{id}, qr/^[0-9a-f]{32}$/,
    'a record without a Postmark ID gets a hash id';
isnt $by_mid{'dup-open'}[0]{id}, $by_mid{'dup-open-2'}[0]{id}, 'two opens, two ids';

is scalar(grep { ($_->{mid} // '') =~ /^bulk-\d+$/ } @recs), 1000, 'all 1000 bulk events spooled';
is scalar(grep { ($_->{mid} // '') =~ /^never-/ } @recs), 0, 'nothing refused was spooled';
is scalar(grep { $_->{src} ne 'postmark' } @recs), 0, 'src is postmark everywhere';
is scalar(grep { !defined $_->{v} || $_->{v} != 1 } @recs), 0, 'record version 1';

is scalar(grep { !$_->{rt} || $_->{rt} < ($t0 - 5) * 1000 || $_->{rt} > ($t1 + 5) * 1000 } @recs), 0,
    'rt is the time nginx received the event';

# the raw spool bytes hold the repaired text, not the Latin-1 byte
my $raw = '';
for my $f (glob("$spool/*.mtspool")) {
    open my $fh, '<:raw', $f or next;
    local $/;
    $raw .= <$fh>;
}
ok index($raw, "caf\xef\xbf\xbd inconnu") >= 0, 'U+FFFD in the spool file itself';
ok index($raw, "caf\xe9 ") < 0, 'the invalid byte is not in the spool file';

my $acc_log = do { local $/; open my $fh, '<', $n->servroot . '/logs/pm.log'; <$fh> };
like $acc_log, qr/^200 bounced 883953f4-6105-42a2-a16a-77a8eac79483 accepted$/m,
    '$mail_track_event, $mail_track_message_id, $mail_track_result';
like $acc_log, qr/^200 bounced 883953f4-6105-42a2-a16a-77a8eac79483 duplicate$/m, 'duplicate';
like $acc_log, qr/^401 - - auth_missing$/m, 'auth_missing';

# --- a location without a key and without "auth off" refuses to start --------------

my $nokey = MailTrack::Test->new(name => 'webhook-postmark-nokey', http_config => <<'_EOC_', config => <<'_EOC2_');
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
_EOC_
        location = /pm {
            mail_track_webhook postmark;
        }
_EOC2_
my ($refused, $out) = $nokey->start_fails;
ok $refused, 'no key, no "mail_track_webhook_auth off": nginx refuses to start';
like $out, qr/\[emerg\].*"mail_track_webhook postmark" requires "mail_track_webhook_key".*"mail_track_webhook_auth off"/,
    'and says why';

done_testing;
