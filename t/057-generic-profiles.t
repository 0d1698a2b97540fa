# mail_track_webhook generic through the real nginx, one profile after the
# other with "include mail-track/<vendor>.conf": the vendor's documented
# example payloads (or, where it publishes none, one built from its
# documented field list: said so below), signed as the vendor signs;
# the records they make; a one-byte change, a replayed nonce, a stale
# timestamp and a missing signature refused; form bodies with
# percent-encoding and "+".  SendCloud, SUBMAIL, EngageLab, Tencent Cloud
# SES, Aliyun DirectMail (EventBridge), AokSend; t/058 has the others.

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use MailTrack::Generic;
use Digest::SHA qw(hmac_sha256_hex);
use Digest::MD5 qw(md5_hex);
use JSON::PP ();
use Time::HiRes ();

my $json = JSON::PP->new->canonical;

my %K = map { $_ => hex_secret(16) }
        qw(sendcloud submail engagelab tencent aliyun aoksend);

my $n = generic_nginx(name => 'generic-profiles',
                      files => { 'conf/sc.key' => "$K{sendcloud}\n" },
                      config => <<"_EOC_");
        location = /sc {
            include mail-track/sendcloud.conf;
            mail_track_webhook_key file:\$TEST_NGINX_SERVROOT/conf/sc.key;
        }
        location = /sm {
            include mail-track/submail.conf;
            mail_track_webhook_key $K{submail};
        }
        location = /el {
            include mail-track/engagelab.conf;
            mail_track_webhook_key $K{engagelab};
        }
        location = /tc {
            include mail-track/tencent-ses.conf;
            mail_track_webhook_key $K{tencent};
        }
        location = /al {
            include mail-track/aliyun-dm.conf;
            mail_track_webhook_key $K{aliyun};
        }
        location = /ak {
            include mail-track/aoksend.conf;
            mail_track_webhook_key $K{aoksend};
        }
_EOC_

my $FORM = ['Content-Type', 'application/x-www-form-urlencoded'];
my $JSON = ['Content-Type', 'application/json'];

sub post {
    my ($uri, $body, @h) = @_;
    return send_hook($n, 'POST', $uri, $body, [map { @$_ } @h]);
}

sub rec { record_where($n, @_) }

# === SendCloud ==========================================================
#
# Built from the documented field list (aurorasendcloud.com/docs/Webhook/
# WebhookEvent): SendCloud publishes no whole example request.  Signed as
# its Python/Java/PHP samples sign: HMAC-SHA256(APP KEY, timestamp token).

sub sc_body {
    my ($fields, %o) = @_;
    my $ts = $o{ts} // time;
    my $token = $o{token} // hex_secret(25);
    my $sig = $o{sig} // hmac_sha256_hex("$ts$token", $o{key} // $K{sendcloud});
    my $b = $fields;
    $b .= "&timestamp=$ts" unless $o{no_ts};
    $b .= "&token=$token";
    $b .= "&signature=$sig" unless $o{no_sig};
    return $b;
}

my $sc_id = '1676615711309_104117_18546_8821.sc-10_43_7_16-inbound0';
my $sc_ts = time - 30;

my $tok = hex_secret(25);
my $deliver = 'event=deliver&message=&apiUser=demo_user&category=demo'
    . '&labelId=0&labelName=&maillistTaskId=0'
    . "&emailId=${sc_id}%24alice%40example.com"
    . '&recipient=alice%40example.com&outIp=192.0.2.7'
    . '&userHeaders=%7B%7D';
accepted_ok(post('/sc', sc_body($deliver, token => $tok, ts => $sc_ts), $FORM),
            'sendcloud: deliver');
accepted_ok(post('/sc', sc_body($deliver, token => $tok, ts => $sc_ts), $FORM),
            'sendcloud: the same request again (a retry)', 0, 1);

my $r = post('/sc', sc_body('event=invalid&emailId=x%24mallory%40example.com'
                            . '&recipient=mallory%40example.com',
                            token => $tok, ts => $sc_ts), $FORM);
refused_ok($r, 401, 'sendcloud: the same token on another event (replay)');

(my $deliver1 = $deliver) =~ s/recipient=alice/recipient=alicf/;
$r = post('/sc', sc_body($deliver1, token => $tok, ts => $sc_ts), $FORM);
refused_ok($r, 401, 'sendcloud: one byte of the event changed, same token');

# a field the record does not keep may change: the event is the same one
(my $deliver2 = $deliver) =~ s/outIp=192.0.2.7/outIp=192.0.2.8/;
accepted_ok(post('/sc', sc_body($deliver2, token => $tok, ts => $sc_ts), $FORM),
            'sendcloud: another outIp, the same event: a duplicate', 0, 1);

{
    my $t2 = hex_secret(25);
    my $b = sc_body($deliver, token => $t2);
    $b =~ s/(signature=[0-9a-f])([0-9a-f])/$1 . ($2 eq 'a' ? 'b' : 'a')/e;
    refused_ok(post('/sc', $b, $FORM), 401,
               'sendcloud: one byte of the signature changed');
    refused_ok(post('/sc', sc_body($deliver, no_sig => 1), $FORM), 401,
               'sendcloud: no signature');
    refused_ok(post('/sc', sc_body($deliver, ts => time - 7200), $FORM), 401,
               'sendcloud: two hours old (tolerance 1h)');
    accepted_ok(post('/sc', sc_body('event=open&emailId=late&recipient='
                                    . 'late%40example.com', ts => time - 3000),
                     $FORM), 'sendcloud: fifty minutes old, within the hour');
}

# a click: the URL percent-encoded, "+" in the labelName (the click URL
# field is not documented; "url" is the profile's guess)
accepted_ok(post('/sc', sc_body('event=click&emailId=' . $sc_id
                                . '%24bob%40example.com&recipient=bob%40example.com'
                                . '&ip=198.51.100.4&labelName=spring+sale%2B2026'
                                . '&url=https%3A%2F%2Fshop.example%2Fa%3Fq%3D1%2B2'
                                . '%26r%3Dx+y'), $FORM),
            'sendcloud: click');
accepted_ok(post('/sc', sc_body("event=soft_bounce&emailId=${sc_id}%24carol%40example.com"
                                . '&recipient=carol%40example.com'), $FORM),
            'sendcloud: soft_bounce');
accepted_ok(post('/sc', sc_body("event=invalid&emailId=${sc_id}%24dan%40example.com"
                                . '&recipient=dan%40example.com'), $FORM),
            'sendcloud: invalid');

{
    my $d = rec('sendcloud', 'rcpt', 'alice@example.com');
    is $d->{type}, 'delivered', 'sendcloud deliver: type';
    is $d->{esp_type}, 'deliver', 'sendcloud deliver: esp_type';
    is $d->{mid}, "$sc_id\$alice\@example.com",
        'sendcloud deliver: mid is the emailId (no application id is echoed)';
    is $d->{ts}, $sc_ts * 1000, 'sendcloud deliver: ts from timestamp';
    ok !exists $d->{ip}, 'sendcloud deliver: outIp is no client address';

    my $c = rec('sendcloud', 'rcpt', 'bob@example.com');
    is $c->{type}, 'clicked', 'sendcloud click: type';
    is $c->{url}, 'https://shop.example/a?q=1+2&r=x y',
        'sendcloud click: %2B is "+", "+" is a space';
    is $c->{tag}, 'spring sale+2026', 'sendcloud click: labelName';
    is $c->{ip}, '198.51.100.4', 'sendcloud click: ip';

    my $s = rec('sendcloud', 'rcpt', 'carol@example.com');
    is "$s->{type} $s->{bounce}", 'bounced soft', 'sendcloud soft_bounce';
    my $i = rec('sendcloud', 'rcpt', 'dan@example.com');
    is "$i->{type} $i->{bounce}", 'bounced hard', 'sendcloud invalid';
}

# === SUBMAIL ============================================================
#
# The documented example (www.mysubmail.com/documents/jEtHf), with a fresh
# token, timestamp and the signature SUBMAIL's rule gives for our key:
# MD5(token key).  SUBMAIL signs no time: there is no stale request, only
# a token spent once.

sub sm_sign {
    my ($ev, $key) = @_;
    $ev->{signature} = md5_hex($ev->{token} . ($key // $K{submail}));
    return $ev;
}

my %sm = (events => 'delivered', email => 'leo@submail.cn',
          message_id => '<6b472f5f207f7777ce59c9e1fe9884ab>', app => 10034,
          send_id => 'oiidJ3', tag => 'testtag', timestamp => 1415014855,
          token => hex_secret(16));
my $smb = $json->encode(sm_sign({%sm}));
accepted_ok(post('/sm', $smb, $JSON), 'submail: the documented example');
accepted_ok(post('/sm', $smb, $JSON), 'submail: again (a retry)', 0, 1);
refused_ok(post('/sm', $json->encode(sm_sign({ %sm, events => 'dropped',
                                               send_id => 'x' })), $JSON),
           401, 'submail: the same token on another event (replay)');
{
    (my $b = $smb) =~ s/leo\@/lea\@/;
    refused_ok(post('/sm', $b, $JSON), 401,
               'submail: one byte changed, same token');
    my $t2 = { %sm, token => hex_secret(16) };
    sm_sign($t2);
    $t2->{signature} =~ s/^(.)/$1 eq '0' ? '1' : '0'/e;
    refused_ok(post('/sm', $json->encode($t2), $JSON), 401,
               'submail: one byte of the signature changed');
    my $t3 = { %sm, token => hex_secret(16) };
    refused_ok(post('/sm', $json->encode($t3), $JSON), 401,
               'submail: no signature');
}

# the console's form format: the same fields, percent-encoded, "+" spaces
{
    my $t = hex_secret(16);
    my $sig = md5_hex($t . $K{submail});
    my $b = 'events=bounced&email=bounce%2Btag%40example.com&app=10034'
          . '&send_id=b0unce&tag=q4+promo'
          . '&message_id=%3Cabc%40submail.cn%3E'
          . '&reason=550+5.1.1+user+unknown&timestamp=' . time
          . "&token=$t&signature=" . uc $sig;
    accepted_ok(post('/sm', $b, $FORM), 'submail: a form, hex in upper case');
    my $d = rec('submail', 'rcpt', 'bounce+tag@example.com');
    is $d->{type}, 'bounced', 'submail form: bounced';
    is $d->{bounce}, 'hard', 'submail form: hard from 5.1.1';
    is $d->{smtp_code}, 550, 'submail form: smtp_code';
    is $d->{tag}, 'q4 promo', 'submail form: tag with "+"';
    is $d->{mid}, 'b0unce', 'submail form: mid is send_id';
}
{
    my $d = rec('submail', 'rcpt', 'leo@submail.cn');
    is $d->{type}, 'delivered', 'submail: delivered';
    is $d->{mid}, 'oiidJ3', 'submail: mid is send_id (no application id)';
    is $d->{ts}, 1415014855000, 'submail: ts';
    is $d->{tag}, 'testtag', 'submail: tag';
}

# === EngageLab ==========================================================
#
# The documented "target" example (www.engagelab.com/docs/email/webhook/
# webhook), the application's id added under custom_args, and a "sent"
# built from its documented field list; signed as documented: hex
# HMAC-SHA256(app key, X-WebHook-Timestamp), milliseconds (inferred).

sub el_post {
    my ($body, %o) = @_;
    my $ts = $o{ts} // int(Time::HiRes::time * 1000);
    my @h = (['Content-Type', 'application/json; charset=utf-8'],
             ['X-WebHook-AppKey', 'email']);
    push @h, ['X-WebHook-Timestamp', $ts] unless $o{no_ts};
    push @h, ['X-WebHook-Signature',
              $o{sig} // hmac_sha256_hex("$ts", $o{key} // $K{engagelab})]
        unless $o{no_sig};
    return post('/el', $body, @h);
}

my $el_target = '{"server":"email","message_id":"1676615711309_104117_18546_8821.sc-10_43_7_16-inbound","itime":1676615711325,"status":{"message_status":"target","status_data":{"email_ids":["1676615711309_104117_18546_8821.sc-10_43_7_16-inbound0$12345@hotmail.com"],"tos":["12345@hotmail.com"],"task_id":"-1","api_user":"scgp_email_system_trigger","message":"successfully request","label_id":0}},"custom_args":{"mail_track_id":"app-el-1"}}';
my $el_ts = int(Time::HiRes::time * 1000);
accepted_ok(el_post($el_target, ts => $el_ts), 'engagelab: the target example');
accepted_ok(el_post($el_target, ts => $el_ts), 'engagelab: again (a retry)', 0, 1);
refused_ok(el_post('{"message_id":"x","to":"y@example.com","itime":1,'
                   . '"status":{"message_status":"sent"}}', ts => $el_ts),
           401, 'engagelab: the same signature on another message (replay)');
refused_ok(el_post($el_target, ts => int(Time::HiRes::time * 1000) - 600_000), 401,
           'engagelab: ten minutes old');
refused_ok(el_post($el_target, no_sig => 1), 401, 'engagelab: no signature');
refused_ok(el_post($el_target, no_ts => 1), 401, 'engagelab: no timestamp');
{
    my $ts = int(Time::HiRes::time * 1000);
    refused_ok(el_post($el_target, ts => $ts + 1,
                       sig => hmac_sha256_hex("$ts", $K{engagelab})), 401,
               'engagelab: one byte of the timestamp changed');
}
accepted_ok(el_post('{"server":"email","message_id":"mid-el-2","from":"a@b.c",'
                    . '"subject":"s","to":"eve@example.com","itime":'
                    . int(Time::HiRes::time * 1000) . ',"status":{"message_status":"sent",'
                    . '"status_data":{"message":"Successfully sent","email_id":'
                    . '"mid-el-2$eve@example.com"}},"custom_args":{}}'),
            'engagelab: sent');
{
    my $d = rec('engagelab', 'mid', 'app-el-1');
    is $d->{type}, 'sent', 'engagelab target: sent';
    is $d->{rcpt}, '12345@hotmail.com', 'engagelab target: rcpt from tos/0';
    is $d->{esp_mid}, '1676615711309_104117_18546_8821.sc-10_43_7_16-inbound',
        'engagelab target: esp_mid';
    is $d->{ts}, 1676615711325, 'engagelab target: ts from itime (ms)';
    my $s = rec('engagelab', 'rcpt', 'eve@example.com');
    is $s->{type}, 'delivered', 'engagelab sent: delivered';
    is $s->{mid}, 'mid-el-2$eve@example.com',
        'engagelab sent: no custom id, mid is the email_id';
}

# === Tencent Cloud SES ==================================================
#
# The documented example (www.tencentcloud.com/document/product/1084/
# 39492, 2025 version) and a click built from its field table; no
# authentication is documented: the secret travels in the URL (so nothing
# is signed, and there is no nonce or time to refuse: a replay is a
# duplicate at most).

my $tc_bounce = '{"event":"bounce","email":"example@example.com","bulkId":"qcloudses-30-251200670-date-20220601142439-8jolHvR2XcXC1","timestamp":1654064683,"reason":"551 5.1.1 recipient is not exist","bounceType":"hard_bounce","username":"251200670","from":"test@fromexample.com","fromDomain":"fromexample.com","templateId":123456,"subject":"example subject","messageId":"ea2783c1-7704-48a8-af36-2b9e83e767ec@fromexample.com","sentTimestamp":1761555487,"X-Tencentcloudses-Cb-Custom":"ses callback"}';
accepted_ok(post("/tc?token=$K{tencent}", $tc_bounce, $JSON),
            'tencent: the documented bounce');
refused_ok(post('/tc', $tc_bounce, $JSON), 401, 'tencent: no token');
refused_ok(post('/tc?token=' . substr($K{tencent}, 1), $tc_bounce, $JSON), 401,
           'tencent: one byte of the token missing');
accepted_ok(post("/tc?token=$K{tencent}",
                 '{"event":"click","email":"u@example.com","link":"https://t.example/x?a=1&b=2",'
                 . '"bulkId":"qcloudses-click-1","timestamp":1654064700,'
                 . '"useragent":"Mozilla/5.0","eventid":5}', $JSON),
            'tencent: a click');
accepted_ok(post("/tc?token=$K{tencent}",
                 '{"event":"bounce","email":"s@example.com","bulkId":"qcloudses-soft",'
                 . '"timestamp":1654064800,"reason":"452 4.2.2 mailbox full",'
                 . '"bounceType":"soft"}', $JSON),
            'tencent: a 2021-style soft bounce');
{
    my $d = rec('tencent-ses', 'rcpt', 'example@example.com');
    is "$d->{type} $d->{bounce}", 'bounced hard', 'tencent: hard_bounce';
    is $d->{mid}, 'qcloudses-30-251200670-date-20220601142439-8jolHvR2XcXC1',
        'tencent: mid is bulkId, the MessageId SendEmail answered';
    is $d->{smtp_status}, '5.1.1', 'tencent: the status from reason';
    is $d->{ts}, 1654064683000, 'tencent: ts';
    my $c = rec('tencent-ses', 'rcpt', 'u@example.com');
    is $c->{url}, 'https://t.example/x?a=1&b=2', 'tencent click: url';
    is $c->{ua}, 'Mozilla/5.0', 'tencent click: ua';
    my $s = rec('tencent-ses', 'rcpt', 's@example.com');
    is "$s->{type} $s->{bounce}", 'bounced soft', 'tencent: soft';
}

# === Aliyun DirectMail (EventBridge) ===================================
#
# Built from the documented CloudEvents fields (alibabacloud.com/help/en/
# eventbridge/user-guide/events-of-the-direct-mail-type): no whole example
# of a DirectMail event was published.

my %al = (id => '45ef4dewdwe1-7c35-447a-bd93-fab****', source => 'acs.dm',
          specversion => '1.0', subject => 'acs.dm:cn-hangzhou:123456789098****:215672',
          type => 'dm:Deliver:Fail', time => '2024-04-29T11:07:04.000+08:00',
          aliyunaccountid => '123456789098****', datacontenttype => 'application/json',
          data => { header => { 'X-Notify-Message-ID' => 'app-al-1' },
                    env_id => '215672', account => 'test@dm.example.com',
                    from => 'test@dm.example.com', rcpt => 'nobody@example.com',
                    msg_id => '<20240429110703.1.X@dm.example.com>',
                    status => 'failed', err_code => '554',
                    err_msg => '554 5.1.1 mailbox not found', failed_type => 'SmtpNxBox',
                    send_time => '2024-04-29T11:07:03', tag => 'welcome' });
accepted_ok(post("/al?token=$K{aliyun}", $json->encode(\%al), $JSON),
            'aliyun: dm:Deliver:Fail');
accepted_ok(post("/al?token=$K{aliyun}", $json->encode(\%al), $JSON),
            'aliyun: again: a duplicate by the CloudEvents id', 0, 1);
refused_ok(post("/al?token=$K{aliyun}x", $json->encode(\%al), $JSON), 401,
           'aliyun: one byte more in the token');
refused_ok(post('/al', $json->encode(\%al), $JSON), 401, 'aliyun: no token');
accepted_ok(post("/al?token=$K{aliyun}",
                 $json->encode({ %al, id => 'open-1', type => 'dm:Trace:Open',
                                 time => '2024-04-29T11:08:00',
                                 data => { rcpt => 'o@example.com', msg_id => 'm-o' } }),
                 $JSON), 'aliyun: an open, a time without its zone');
{
    my $d = rec('aliyun-dm', 'rcpt', 'nobody@example.com');
    is "$d->{type} $d->{bounce}", 'bounced hard', 'aliyun: SmtpNxBox is hard';
    is $d->{mid}, 'app-al-1', 'aliyun: mid from X-Notify-Message-ID';
    is $d->{esp_mid}, '<20240429110703.1.X@dm.example.com>', 'aliyun: esp_mid';
    is $d->{smtp_code}, 554, 'aliyun: smtp_code';
    is $d->{ts}, 1714360024000, 'aliyun: ts with its offset';
    is $d->{id}, '45ef4dewdwe1-7c35-447a-bd93-fab****', 'aliyun: id';
    is $d->{tag}, 'welcome', 'aliyun: tag';
    my $o = rec('aliyun-dm', 'rcpt', 'o@example.com');
    is $o->{type}, 'opened', 'aliyun: opened';
    is $o->{ts}, 1714360080000, 'aliyun: a time without zone is +08:00';
}

# === AokSend: the unverified starting point ===========================
#
# No callback of AokSend's is documented: this only shows the starting
# profile doing what its comments say (a flat body, a token in the URL).

accepted_ok(post("/ak?token=$K{aoksend}",
                 '{"event":"delivered","email":"a@example.com","message_id":"ak-1",'
                 . '"timestamp":1700000000}', $JSON), 'aoksend: JSON');
accepted_ok(post("/ak?token=$K{aoksend}",
                 'event=bounce&email=b%2B1%40example.com&message_id=ak-2'
                 . '&reason=550+5.1.1+no+such+user', $FORM), 'aoksend: a form');
refused_ok(post('/ak', '{"event":"delivered"}', $JSON), 401, 'aoksend: no token');
{
    my $b = rec('aoksend', 'rcpt', 'b+1@example.com');
    is "$b->{type} $b->{bounce}", 'bounced hard', 'aoksend: bounce';
}

# === counted under each name ==========================================

is events_count($n, 'sendcloud', 'delivered'), 1, 'metrics: sendcloud delivered';
is events_count($n, 'sendcloud', 'opened'), 1, 'metrics: sendcloud opened';
is duplicates_count($n, 'sendcloud'), 2, 'metrics: sendcloud duplicates';
is refused_count($n, 'sendcloud', 'replay'), 2, 'metrics: sendcloud replays';
is refused_count($n, 'sendcloud', 'stale'), 1, 'metrics: sendcloud stale';
is refused_count($n, 'sendcloud', 'signature_missing'), 1,
    'metrics: sendcloud signature_missing';
is refused_count($n, 'engagelab', 'replay'), 1, 'metrics: engagelab replay';
is refused_count($n, 'tencent-ses', 'auth_missing'), 1,
    'metrics: tencent-ses auth_missing';
is events_count($n, 'aliyun-dm', 'bounced'), 1, 'metrics: aliyun-dm bounced';

{
    my $st = $n->get('/status/app-el-1');
    is $st->{status}, 200, 'status: the EngageLab message';
    like $st->{body}, qr/"sources":\["engagelab"\]/, 'status: sources by name';
}

my $log = $n->error_log;
like $log, qr/mail_track sendcloud: replayed request \(replay\)/,
    'log: sendcloud replay';
like $log, qr/mail_track sendcloud: signature or its headers missing \(signature_missing\): no signature in field \/signature/,
    'log: the missing signature field named';
like $log, qr/mail_track engagelab: signature or its headers missing \(signature_missing\): the signed header x-webhook-timestamp is missing/,
    'log: the missing timestamp header named';
unlike $log, qr/\[(alert|crit|emerg)\]/, 'no alert';

$n->quit;

done_testing;
