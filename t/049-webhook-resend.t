# mail_track_webhook resend (Svix, "Standard Webhooks") through the real
# nginx: the Standard Webhooks test vector, fresh secrets (whsec_, bare
# base64, a file, two for a rotation), both header sets, several
# signatures in one header (the sender's rotation), v2 signatures
# ignored, the 5 minute tolerance both ways, svix-id dedupe, missing
# headers, changed bytes, bad bodies, a temp-file body, 413, non-UTF-8,
# 1000 posts, and every email.* type mapped end to end.

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use MailTrack::Sign;
use Digest::SHA qw(hmac_sha256);
use MIME::Base64 qw(encode_base64 decode_base64);
use JSON::PP ();

# the Standard Webhooks test vector (the reference, section 9)
my $V_SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
my $V_ID     = 'msg_p5jXN8AQM9LWM0D4loKWxJek';
my $V_TS     = 1614265330;
my $V_BODY   = '{"test": 2432232314}';
my $V_SIG    = 'v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=';

sub secret { 'whsec_' . encode_base64(join('', map { chr int rand 256 } 1 .. 32), '') }

my $S1   = secret();    # /rs
my $S2   = secret();    # second key of /rs-rot
my $SOLD = secret();    # configured nowhere: the sender's old secret
my $S3   = secret();    # /rs-bare, configured without "whsec_"
my $S4   = secret();    # /rs-file
(my $S3_bare = $S3) =~ s/^whsec_//;

my $http_config = <<'_EOC_';
    mail_track_zone zone=mt:16m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool flush=100ms max_age=200ms;
    log_format mtrs '$request_uri $status $mail_track_result';
_EOC_

my $config = <<"_EOC_";
        access_log logs/rs.log mtrs;

        location = /rs-vector {
            mail_track_webhook resend;
            mail_track_webhook_key $V_SECRET;
            mail_track_webhook_tolerance 0;
        }
        location = /rs-vector-default {
            mail_track_webhook resend;
            mail_track_webhook_key $V_SECRET;
        }
        location = /rs {
            mail_track_webhook resend;
            mail_track_webhook_key $S1;
        }
        location = /rs-rot {
            mail_track_webhook resend;
            mail_track_webhook_key $S1;
            mail_track_webhook_key $S2;
        }
        location = /rs-bare {
            mail_track_webhook resend;
            mail_track_webhook_key $S3_bare;
        }
        location = /rs-file {
            mail_track_webhook resend;
            mail_track_webhook_key file:\$TEST_NGINX_SERVROOT/conf/rs.secret;
        }
        location = /rs-small {
            client_body_buffer_size 1k;
            mail_track_webhook resend;
            mail_track_webhook_key $S1;
        }
        location = /rs-tiny {
            client_max_body_size 1k;
            mail_track_webhook resend;
            mail_track_webhook_key $S1;
        }
        location = /metrics { mail_track_metrics; }
_EOC_

my $n = MailTrack::Test->new(name => 'webhook-resend',
                             http_config => $http_config, config => $config);
$n->write_file('conf/rs.secret', "$S4\n", 0600);
$n->start;
my $spool = $n->servroot . '/spool';

my $json = JSON::PP->new->utf8->canonical;

sub mv { metric_count($n, $_[0]) }

sub refused { mv(qq{mail_track_refused_total{src="resend",reason="$_[0]"}}) }
sub events  { mv(qq{mail_track_events_total{src="resend",type="$_[0]"}}) }

# "v1,<base64 HMAC-SHA256(key, id.ts.body)>", the key the decoded secret
sub svix_sig {
    my ($secret, $id, $ts, $body) = @_;
    (my $b64 = $secret) =~ s/^whsec_//;
    return 'v1,' . encode_base64(hmac_sha256("$id.$ts.$body", decode_base64($b64)), '');
}

is svix_sig($V_SECRET, $V_ID, $V_TS, $V_BODY), $V_SIG,
    'the test computes the vector signature';
like resend_headers($V_SECRET, $V_ID, $V_TS, $V_BODY),
    qr/^svix-signature: \Q$V_SIG\E$/m, 'and so does MailTrack::Sign';

my $seq = 0;
my @expect;

# rs(URI, BODY, secret => S, id => ID, ts => T, sig => "v1,...",
#    prefix => svix|webhook, omit => [id|timestamp|signature],
#    names => { id => NAME, ... }, ct => TYPE)
sub rs {
    my ($uri, $body, %o) = @_;
    my $id = exists $o{id} ? $o{id} : 'msg_' . join('', map { ('a'..'z', 'A'..'Z', 0..9)[rand 62] } 1 .. 24);
    my $ts = exists $o{ts} ? $o{ts} : int(time());
    my $sig = exists $o{sig} ? $o{sig}
            : svix_sig($o{secret} || $S1, $o{sign_id} // $id, $o{sign_ts} // $ts,
                       $o{sign_body} // $body);
    my $p = $o{prefix} || 'svix';
    my %name = (id => "$p-id", timestamp => "$p-timestamp", signature => "$p-signature",
                %{ $o{names} || {} });
    my %val = (id => $id, timestamp => $ts, signature => $sig);
    my %omit = map { $_ => 1 } @{ $o{omit} || [] };
    my @h = ('Content-Type', exists $o{ct} ? $o{ct} : 'application/json');
    @h = () unless defined $h[1];
    for my $k (qw(id timestamp signature)) {
        push @h, $name{$k}, $val{$k} unless $omit{$k};
    }
    push @h, @{ $o{extra} || [] };
    my $path = $uri . '?n=' . ++$seq;
    my $r = $n->request('POST', $path, headers => \@h, body => $body);
    $r->{path} = $path;
    $r->{id} = $id;
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

# a Resend event; mid "app-$key" through the mail_track_id tag
my $CREATED = '2024-11-22T23:41:12.126Z';
my $CREATED_MS = 1732318872126;

sub rev {
    my ($type, $key, %d) = @_;
    my %top = (type => $type, created_at => $CREATED);
    $top{$_} = delete $d{"top_$_"} for map { /^top_(.*)/ ? $1 : () } keys %d;
    defined $top{$_} or delete $top{$_} for keys %top;
    return $json->encode({
        %top,
        data => {
            email_id => "em-$key",
            created_at => '2024-11-22T23:41:11.894719+00:00',
            from => 'Acme <onboarding@resend.dev>',
            to => ["Jane Doe <$key\@example.com>"],
            subject => 'Sending this example',
            broadcast_id => '8b146471-e88e-4322-86af-016cd36fd216',
            tags => [{ name => 'category', value => 'confirm_email' },
                     { name => 'mail_track_id', value => "app-$key" }],
            %d,
        },
    });
}

# --- the Standard Webhooks test vector ------------------------------------------

my $r = rs('/rs-vector', $V_BODY, id => $V_ID, ts => $V_TS, sig => $V_SIG);
isnt $r->{status}, 401, 'the test vector: its signature verifies (not 401)';
refused_ok($r, 400, 'bad_payload',
           'the test vector: 400, its body is not a Resend event');
like $n->error_log,
    qr/mail_track resend: unexpected payload \(bad_payload\): not an object with a "type" name and a "data" object/,
    'the test vector: refused for its shape, after verifying';

$r = rs('/rs-vector', $V_BODY, id => $V_ID, ts => $V_TS, sig => $V_SIG, prefix => 'webhook');
refused_ok($r, 400, 'bad_payload', 'the test vector with webhook-* headers: 400 too');

(my $v_changed = $V_BODY) =~ s/2432232314/2432232315/;
$r = rs('/rs-vector', $v_changed, id => $V_ID, ts => $V_TS, sig => $V_SIG);
refused_ok($r, 401, 'bad_signature', 'the test vector with a changed byte');

$r = rs('/rs-vector', $V_BODY, id => $V_ID, ts => $V_TS + 1, sig => $V_SIG);
refused_ok($r, 401, 'bad_signature', 'the test vector under another timestamp');

$r = rs('/rs-vector', $V_BODY, id => 'msg_p5jXN8AQM9LWM0D4loKWxJel', ts => $V_TS, sig => $V_SIG);
refused_ok($r, 401, 'bad_signature', 'the test vector under another id');

$r = rs('/rs-vector-default', $V_BODY, id => $V_ID, ts => $V_TS, sig => $V_SIG);
refused_ok($r, 401, 'stale', 'the test vector with the default 5 min tolerance');

$r = rs('/rs', $V_BODY, id => $V_ID, ts => $V_TS, sig => $V_SIG);
refused_ok($r, 401, 'bad_signature', 'the test vector against another secret');

# a real event under the vector's secret and old timestamp: tolerance 0
$r = rs('/rs-vector', rev('email.delivered', 'vector-secret'), ts => $V_TS,
        secret => $V_SECRET);
accepted_ok($r, "a Resend event under the vector's secret, tolerance 0");

# --- fresh secrets --------------------------------------------------------------------

$r = rs('/rs', rev('email.delivered', 'ok-1'));
accepted_ok($r, 'email.delivered');
my $ok1_id = $r->{id};

$r = rs('/rs-bare', rev('email.delivered', 'bare'), secret => $S3);
accepted_ok($r, 'the secret configured as bare base64');
$r = rs('/rs-file', rev('email.delivered', 'file'), secret => $S4);
accepted_ok($r, 'the secret from a file');
$r = rs('/rs-rot', rev('email.delivered', 'rot-1'), secret => $S1);
accepted_ok($r, 'two secrets: the first verifies');
$r = rs('/rs-rot', rev('email.delivered', 'rot-2'), secret => $S2);
accepted_ok($r, 'two secrets: the second verifies');
$r = rs('/rs-rot', rev('email.delivered', 'rot-old'), secret => $SOLD);
refused_ok($r, 401, 'bad_signature', 'two secrets: a third verifies nothing');

# the secret's text used as the key (a classic mistake) does not verify
{
    my $id = 'msg_ascii_key';
    my $ts = int(time());
    my $b = rev('email.delivered', 'ascii-key');
    my $sig = 'v1,' . encode_base64(hmac_sha256("$id.$ts.$b", $S1), '');
    $r = rs('/rs', $b, id => $id, ts => $ts, sig => $sig);
    refused_ok($r, 401, 'bad_signature', 'signed with the secret text as the key');
}

# --- header sets ------------------------------------------------------------------------

$r = rs('/rs', rev('email.delivered', 'hdr-webhook'), prefix => 'webhook');
accepted_ok($r, 'webhook-id, webhook-timestamp, webhook-signature');

$r = rs('/rs', rev('email.delivered', 'hdr-upper'),
        names => { id => 'Svix-Id', timestamp => 'SVIX-TIMESTAMP', signature => 'Svix-Signature' });
accepted_ok($r, 'header names in any case');

$r = rs('/rs', rev('email.delivered', 'hdr-mixed'),
        names => { timestamp => 'webhook-timestamp', signature => 'webhook-signature' });
refused_ok($r, 401, 'signature_missing', 'svix-id with webhook-* timestamp and signature: never mixed');

$r = rs('/rs', rev('email.delivered', 'hdr-mixed2'),
        names => { id => 'webhook-id' }, prefix => 'svix');
refused_ok($r, 401, 'signature_missing', 'webhook-id with svix-* timestamp and signature');

for my $h (qw(id timestamp signature)) {
    $r = rs('/rs', rev('email.delivered', "hdr-no-$h"), omit => [$h]);
    refused_ok($r, 401, 'signature_missing', "no svix-$h");
}
$r = rs('/rs', rev('email.delivered', 'hdr-none'), omit => [qw(id timestamp signature)]);
refused_ok($r, 401, 'signature_missing', 'no headers at all');

$r = rs('/rs', rev('email.delivered', 'hdr-ts-word'), ts => 'now');
refused_ok($r, 401, 'bad_signature', 'a timestamp that is not a number');

$r = rs('/rs', rev('email.delivered', 'hdr-ts-ms'), ts => int(time()) * 1000);
refused_ok($r, 401, 'future', 'a timestamp in milliseconds');

# --- several signatures: the sender's rotation ------------------------------------------

{
    my $id = 'msg_multi_1';
    my $ts = int(time());
    my $b = rev('email.delivered', 'multi-1');
    my $good = svix_sig($S1, $id, $ts, $b);
    my $old = svix_sig($SOLD, $id, $ts, $b);
    (my $v2 = $good) =~ s/^v1,/v2,/;
    (my $v1a = $good) =~ s/^v1,/v1a,/;
    my $bad = svix_sig($S1, $id, $ts, "$b ");

    $r = rs('/rs', $b, id => $id, ts => $ts, sig => "$old $good");
    accepted_ok($r, 'two v1 signatures, the second matches');

    $r = rs('/rs', $b, id => $id, ts => $ts, sig => "$v2 $bad");
    refused_ok($r, 401, 'bad_signature', 'the right bytes as v2, a wrong v1');

    $r = rs('/rs', $b, id => $id, ts => $ts, sig => $v2);
    refused_ok($r, 401, 'bad_signature', 'a v2 signature alone is ignored');

    $r = rs('/rs', $b, id => $id, ts => $ts, sig => $v1a);
    refused_ok($r, 401, 'bad_signature', 'a "v1a," signature is not v1');

    $r = rs('/rs', $b, id => $id, ts => $ts, sig => "$old $bad");
    refused_ok($r, 401, 'bad_signature', 'two v1 signatures, neither matches');

    $r = rs('/rs', $b, id => $id, ts => $ts, sig => "v1,!!!notbase64 $v2 $good");
    accepted_ok($r, 'garbage, v2, then the right v1', 0, 1);

    $r = rs('/rs', $b, id => $id, ts => $ts, sig => "  $good  ");
    accepted_ok($r, 'spaces around the signature', 0, 1);

    $r = rs('/rs', $b, id => $id, ts => $ts, sig => substr($good, 0, -4));
    refused_ok($r, 401, 'bad_signature', 'a truncated signature');

    $r = rs('/rs', $b, id => $id, ts => $ts, sig => '');
    refused_ok($r, 401, 'signature_missing', 'an empty signature header');
}

# --- time ----------------------------------------------------------------------------------

$r = rs('/rs', rev('email.delivered', 'time-stale'), ts => int(time()) - 360);
refused_ok($r, 401, 'stale', 'six minutes old');
$r = rs('/rs', rev('email.delivered', 'time-4m'), ts => int(time()) - 240);
accepted_ok($r, 'four minutes old');
$r = rs('/rs', rev('email.delivered', 'time-future'), ts => int(time()) + 360);
refused_ok($r, 401, 'future', 'six minutes in the future');
$r = rs('/rs', rev('email.delivered', 'time-near-future'), ts => int(time()) + 240);
accepted_ok($r, 'four minutes in the future');
$r = rs('/rs', rev('email.delivered', 'time-stale-forged'), ts => int(time()) - 3600,
        secret => $SOLD);
refused_ok($r, 401, 'bad_signature', 'stale and forged: the signature is checked first');
{
    my $ts = int(time());
    $r = rs('/rs', rev('email.delivered', 'time-other'), ts => $ts, sign_ts => $ts - 1);
    refused_ok($r, 401, 'bad_signature', 'the signature over another timestamp');
    $r = rs('/rs', rev('email.delivered', 'id-other'), id => 'msg_one', sign_id => 'msg_two');
    refused_ok($r, 401, 'bad_signature', 'the signature over another svix-id');
}

# --- dedupe on svix-id --------------------------------------------------------------------

{
    my $b = rev('email.opened', 'dedupe', open => { ipAddress => '198.51.100.1',
                                                    userAgent => 'Mozilla/5.0' });
    my $id = 'msg_dedupe_1';
    accepted_ok(rs('/rs', $b, id => $id), 'an event');
    # Svix signs every attempt afresh: a new timestamp, the same svix-id
    accepted_ok(rs('/rs', $b, id => $id, ts => int(time()) - 30),
                'the same svix-id re-signed: a duplicate', 0, 1);
    accepted_ok(rs('/rs', $b, id => $id, prefix => 'webhook'),
                'the same id as webhook-id: a duplicate', 0, 1);
    accepted_ok(rs('/rs-rot', $b, id => $id, secret => $S2),
                'the same id at another location: a duplicate', 0, 1);
    accepted_ok(rs('/rs', $b, id => 'msg_dedupe_2'),
                'the same body under another svix-id is another delivery');
}

# --- every email.* type ------------------------------------------------------------------------

# [key, type, data fields, expected record fields (undef: absent)]
my @map = (
    ['map-sent', 'email.sent', {}, { type => 'sent' }],
    ['map-delivered', 'email.delivered', {}, { type => 'delivered', bounce => undef }],
    ['map-delayed', 'email.delivery_delayed', {},
     { type => 'deferred', bounce => 'soft' }],
    ['map-permanent', 'email.bounced',
     { bounce => { type => 'Permanent', subType => 'General',
                   message => "The recipient's email provider sent a hard bounce message.",
                   diagnosticCode => ['smtp; 550 5.1.1 user unknown'] } },
     { type => 'bounced', bounce => 'hard', smtp_code => 550, smtp_status => '5.1.1',
       reason => 'smtp; 550 5.1.1 user unknown' }],
    ['map-permanent-policy', 'email.bounced',
     { bounce => { type => 'Permanent', subType => 'General', message => 'm',
                   diagnosticCode => ['smtp; 550 5.7.1 rejected by policy'] } },
     { type => 'bounced', bounce => 'block', smtp_status => '5.7.1' }],
    ['map-permanent-nodiag', 'email.bounced',
     { bounce => { type => 'Permanent', subType => 'Suppressed',
                   message => 'The recipient is on the suppression list.' } },
     { type => 'bounced', bounce => 'hard', smtp_code => undef,
       reason => 'The recipient is on the suppression list.' }],
    ['map-transient', 'email.bounced',
     { bounce => { type => 'Transient', subType => 'MailboxFull', message => 'full',
                   diagnosticCode => ['smtp; 552 5.2.2 mailbox full'] } },
     { type => 'bounced', bounce => 'soft', smtp_code => 552, smtp_status => '5.2.2' }],
    ['map-transient-5xx', 'email.bounced',
     { bounce => { type => 'Transient', subType => 'General', message => 'x',
                   diagnosticCode => ['smtp; 550 5.1.1 no'] } },
     { type => 'bounced', bounce => 'soft' }],
    ['map-undetermined', 'email.bounced',
     { bounce => { type => 'Undetermined', message => 'x',
                   diagnosticCode => 'smtp; 450 4.2.0 try later' } },
     { type => 'bounced', bounce => 'soft', smtp_code => 450, smtp_status => '4.2.0' }],
    ['map-bounce-notype', 'email.bounced', { bounce => { message => 'bounced' } },
     { type => 'bounced', bounce => 'undetermined', reason => 'bounced' }],
    ['map-complained', 'email.complained', {}, { type => 'complained' }],
    ['map-opened', 'email.opened',
     { open => { ipAddress => '198.51.100.9', userAgent => 'Thunderbird',
                 timestamp => '2024-11-22T23:45:00.000Z' } },
     { type => 'opened', ip => '198.51.100.9', ua => 'Thunderbird', machine => undef }],
    ['map-clicked', 'email.clicked',
     { click => { ipAddress => '122.115.53.11', link => 'https://resend.com/a?b=1',
                  timestamp => '2024-11-24T05:00:57.163Z',
                  userAgent => 'Mozilla/5.0 (Macintosh)' } },
     { type => 'clicked', url => 'https://resend.com/a?b=1', ip => '122.115.53.11',
       ua => 'Mozilla/5.0 (Macintosh)', machine => undef }],
    ['map-failed', 'email.failed', { failed => { reason => 'reached_daily_quota' } },
     { type => 'rejected', reason => 'reached_daily_quota', bounce => undef }],
    ['map-suppressed', 'email.suppressed', {}, { type => 'rejected' }],
    ['map-scheduled', 'email.scheduled', {}, { type => 'other' }],
    ['map-received', 'email.received', {}, { type => 'other' }],
    ['map-contact', 'contact.created', {}, { type => 'other' }],
    ['map-domain', 'domain.updated', {}, { type => 'other' }],
    ['map-unknown', 'email.something_new', {}, { type => 'other' }],
);

my %ev0 = map { $_ => events($_) }
          qw(sent delivered deferred bounced rejected opened clicked complained
             unsubscribed other);

for my $m (@map) {
    my ($key, $type, $d) = @$m;
    accepted_ok(rs('/rs', rev($type, $key, %$d)), $type . " ($key)");
}

my %count;
$count{ $_->[3]{type} }++ for @map;
for my $t (sort keys %ev0) {
    is events($t) - $ev0{$t}, $count{$t} // 0, "events_total type=$t";
}

# ids, recipients, times
accepted_ok(rs('/rs', rev('email.delivered', 'tags-object',
                          tags => { mail_track_id => 'app-tags-object', x => 'y' })),
            'tags as an object');
accepted_ok(rs('/rs', rev('email.delivered', 'no-tag', tags => [{ name => 'x', value => 'y' }])),
            'no mail_track_id tag');
accepted_ok(rs('/rs', rev('email.delivered', 'rcpt-many',
                          to => ['a@example.com', 'b@example.com'])),
            'two recipients');
accepted_ok(rs('/rs', rev('email.delivered', 'rcpt-cc', cc => ['c@example.com'])),
            'a cc');
accepted_ok(rs('/rs', rev('email.delivered', 'rcpt-string', to => 'plain@example.com')),
            'to as a string');
accepted_ok(rs('/rs', rev('email.delivered', 'rcpt-quoted',
                          to => ['"Doe, Jane" <jane@example.com>'])),
            'one recipient, a quoted display name with a comma');
accepted_ok(rs('/rs', rev('email.delivered', 'rcpt-list',
                          to => 'a@example.com, b@example.com')),
            'two addresses in one string');
accepted_ok(rs('/rs', rev('email.delivered', 'rcpt-list2',
                          to => ['a@example.com, Bob <b@example.com>'])),
            'an address and a named address in one list element');
accepted_ok(rs('/rs', rev('email.delivered', 'no-top-time', top_created_at => undef)),
            'no top-level created_at');

# --- bodies --------------------------------------------------------------------------------------

$r = rs('/rs', '');
refused_ok($r, 400, 'empty_body', 'an empty body');
$r = rs('/rs', 'this is not json');
refused_ok($r, 400, 'bad_json', 'malformed JSON');
my $whole = rev('email.delivered', 'truncated');
$r = rs('/rs', substr($whole, 0, length($whole) - 10));
refused_ok($r, 400, 'bad_json', 'truncated JSON');
$r = rs('/rs', '[' . rev('email.delivered', 'array') . ']');
refused_ok($r, 400, 'bad_payload', 'an array');
$r = rs('/rs', '{"type":"email.sent","data":[]}');
refused_ok($r, 400, 'bad_payload', 'data not an object');
$r = rs('/rs', '{"type":"","data":{}}');
refused_ok($r, 400, 'bad_payload', 'an empty type');
$r = rs('/rs', rev('email.delivered', 'ct-text'), ct => 'text/plain');
refused_ok($r, 400, 'content_type', 'text/plain');
$r = rs('/rs', rev('email.delivered', 'ct-none'), ct => undef);
refused_ok($r, 400, 'content_type', 'no content type');
$r = rs('/rs', rev('email.delivered', 'ct-charset'), ct => 'application/json; charset=utf-8');
accepted_ok($r, 'application/json with a charset');

{
    my $b = rev('email.bounced', 'latin1',
                bounce => { type => 'Permanent', message => 'm',
                            diagnosticCode => ['smtp; 550 5.1.1 caf-PLACEHOLDER unknown'] });
    $b =~ s/caf-PLACEHOLDER/caf\xe9/;
    accepted_ok(rs('/rs', $b), 'non-UTF-8 bytes: verified over the raw bytes, accepted');
}

{
    my $b = rev('email.delivered', 'spill', subject => 'S' x 20000);
    my $pos = length $n->error_log;
    accepted_ok(rs('/rs-small', $b), 'an event read back from a temp file');
    like substr($n->error_log, $pos),
        qr/a client request body is buffered to a temporary file/,
        'nginx did spill that body';
    my $bad = $b;
    substr($bad, -5, 1) = 'X';
    refused_ok(rs('/rs-small', $bad, sign_body => $b), 401, 'bad_signature',
               'the spilled body with a byte changed near its end');
}

$r = rs('/rs-tiny', rev('email.delivered', 'tiny', subject => 'S' x 2000));
is $r->{status}, 413, 'larger than client_max_body_size: 413';
my $tiny_path = $r->{path};

is $n->get('/rs')->{status}, 405, 'GET: 405';

# 1000 posts, each spooled once
{
    my $ok = 0;
    for my $i (1 .. 1000) {
        my $res = rs('/rs', rev('email.delivered', sprintf('bulk-%04d', $i)));
        $ok++ if $res->{status} == 200 && $res->{body} eq answer(1, 0);
    }
    is $ok, 1000, '1000 posts accepted';
}

# --- counted and logged ----------------------------------------------------------------------------

my %reasons;
$reasons{ (split ' ', $_->[1])[1] }++ for grep { $_->[1] !~ /^200 / } @expect;
for my $reason (sort keys %reasons) {
    is refused($reason), $reasons{$reason}, "refused_total reason=$reason";
}

is refused('too_large'), 1, 'refused_total reason=too_large';

my $log = $n->error_log;
like $log, qr/mail_track resend: body larger than client_max_body_size \(too_large\)/,
    'log: too_large';
like $log, qr/mail_track resend: signature does not verify \(bad_signature\): no configured secret verifies a signature/,
    'log: bad_signature';
like $log, qr/mail_track resend: signature or its headers missing \(signature_missing\)/,
    'log: signature_missing';
like $log, qr/mail_track resend: timestamp too old \(stale\)/, 'log: stale';
like $log, qr/mail_track resend: timestamp in the future \(future\)/, 'log: future';

$n->quit;

my %alog;
open my $fh, '<', $n->servroot . '/logs/rs.log' or die "rs.log: $!";
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

# --- the spool --------------------------------------------------------------------------------------

my @recs = spool_records($spool);
my (%by_mid, %seen);
for my $rec (@recs) {
    push @{ $by_mid{ $rec->{mid} // '' } }, $rec;
    $seen{"$rec->{src}:$rec->{id}"}++;
}
is_deeply [grep { $seen{$_} > 1 } sort keys %seen], [], 'no event id spooled twice';
is scalar(grep { $_->{src} ne 'resend' } @recs), 0, 'every record is from resend';
is scalar(grep { /^app-bulk-\d+$/ && @{ $by_mid{$_} } == 1 } keys %by_mid), 1000,
    '1000 posts: 1000 records, once each';

my $d = $by_mid{'app-ok-1'}[0];
is $d->{src}, 'resend', 'delivered: src';
is $d->{type}, 'delivered', 'delivered: type';
is $d->{esp_type}, 'email.delivered', 'delivered: esp_type';
is $d->{id}, $ok1_id, 'delivered: id is svix-id';
is $d->{esp_mid}, 'em-ok-1', 'delivered: esp_mid is email_id';
is $d->{rcpt}, 'ok-1@example.com', 'delivered: rcpt without the display name';
is $d->{ts}, $CREATED_MS, 'delivered: ts from the top-level created_at';
ok !exists $d->{tag}, 'delivered: no tag';

for my $m (@map) {
    my ($key, $type, $dd, $want) = @$m;
    my $got = $by_mid{"app-$key"};
    is scalar @{ $got || [] }, 1, "$key: spooled once" or next;
    my $rec = $got->[0];
    my %w = (src => 'resend', esp_type => $type, rcpt => "$key\@example.com",
             ts => $CREATED_MS, esp_mid => "em-$key", %$want);
    for my $k (sort keys %w) {
        if (defined $w{$k}) {
            is $rec->{$k}, $w{$k}, "$key: $k = $w{$k}";
        } else {
            ok !exists $rec->{$k}, "$key: no $k";
        }
    }
}

ok $by_mid{'app-tags-object'}, 'tags as an object: mid';
ok $by_mid{'em-no-tag'}, 'no tag: mid is email_id';
ok !exists $by_mid{'em-no-tag'}[0]{esp_mid}, 'and no esp_mid';
ok $by_mid{'app-rcpt-many'} && !exists $by_mid{'app-rcpt-many'}[0]{rcpt}, 'two recipients: no rcpt';
ok $by_mid{'app-rcpt-cc'} && !exists $by_mid{'app-rcpt-cc'}[0]{rcpt}, 'a cc: no rcpt';
is $by_mid{'app-rcpt-string'}[0]{rcpt}, 'plain@example.com', 'to as a string: rcpt';
is $by_mid{'app-rcpt-quoted'}[0]{rcpt}, 'jane@example.com',
    'one recipient with a quoted "Doe, Jane" display name: rcpt';
ok $by_mid{'app-rcpt-list'} && !exists $by_mid{'app-rcpt-list'}[0]{rcpt}, 'two addresses in one "to" string: no rcpt';
ok $by_mid{'app-rcpt-list2'} && !exists $by_mid{'app-rcpt-list2'}[0]{rcpt},
    'an address, then a named one, in one string: no rcpt';
is $by_mid{'app-no-top-time'}[0]{ts}, 1732318871894,
    "no top-level created_at: data.created_at";
is scalar @{ $by_mid{'app-dedupe'} || [] }, 2, 'the svix-id dedupe: two deliveries';
is $by_mid{'app-latin1'}[0]{reason}, "smtp; 550 5.1.1 caf\xef\xbf\xbd unknown",
    'the Latin-1 byte repaired to U+FFFD';
is $by_mid{'app-latin1'}[0]{bounce}, 'hard', 'and classified';

for my $key (qw(ok-1 bare file rot-1 rot-2 hdr-webhook hdr-upper multi-1 time-4m
                time-near-future ct-charset spill vector-secret))
{
    is scalar @{ $by_mid{"app-$key"} || [] }, 1, "$key spooled once";
}
for my $key (qw(rot-old ascii-key hdr-mixed hdr-mixed2 hdr-no-id hdr-no-timestamp
                hdr-no-signature hdr-none hdr-ts-word hdr-ts-ms time-stale time-future
                time-stale-forged time-other id-other truncated array ct-text ct-none
                tiny))
{
    ok !$by_mid{"app-$key"}, "$key (refused) not spooled";
}

# --- secrets nginx must refuse ------------------------------------------------------------------------

for my $bad (['a secret under 16 bytes', 'whsec_' . encode_base64('short-key', '')],
             ['a secret that is not base64', 'whsec_!!!not*base64!!!'],
             ['"whsec_" alone', 'whsec_'])
{
    my $b = MailTrack::Test->new(name => 'webhook-resend-badkey',
                                 http_config => $http_config, config => <<"_EOC_");
        location = /rs {
            mail_track_webhook resend;
            mail_track_webhook_key $bad->[1];
        }
_EOC_
    my ($refused, $out) = $b->start_fails;
    ok $refused, "nginx refuses to start with $bad->[0]";
    like $out, qr/invalid resend webhook key/, "$bad->[0]: the reason";
}

done_testing;
