# The same events through nginx's status API (the zone) and through the
# spool, mail-track load and mail-track status (the database): the same
# JSON, byte for byte, for every message.

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use MIME::Base64 qw(encode_base64);
use File::Temp qw(tempdir);

my $keys = keys_file();

my $n = MailTrack::Test->new(name => 'load-status', workers => 2,
                             http_config => <<"_EOC_", config => <<'_EOC_');
    mail_track_zone zone=mt:1m;
    mail_track_spool \$TEST_NGINX_SERVROOT/spool flush=100ms max_age=1s;
    mail_track_keys $keys;
_EOC_
        location /o/ { mail_track_open; }
        location /c/ { mail_track_click; }
        location /u/ { mail_track_unsubscribe; }
        location /status/ { mail_track_status; }
        location = /pm {
            mail_track_webhook postmark;
            mail_track_webhook_key s3cret;
        }
_EOC_

$n->start;

my $spool = $n->servroot . '/spool';
my $events = 0;

sub pm {
    my ($body) = @_;
    $events++;
    return $n->request('POST', '/pm',
                       headers => ['Content-Type', 'application/json',
                                   'Authorization',
                                   'Basic ' . encode_base64('p:s3cret', '')],
                       body => $body)->{status};
}

my %ua = (human => 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0',
          proxy => 'Mozilla/5.0 (Windows NT 5.1; rv:11.0) Gecko Firefox/11.0 (via ggpht.com GoogleImageProxy)');

my @mids = map { "st-$_" } 1 .. 6;

for my $i (0 .. $#mids) {
    my $mid = $mids[$i];
    my $rcpt = "user$i\@example.com";

    for my $k (0 .. $i % 3) {
        my $t = token('open', mid => $mid, rcpt => $rcpt, keys => $keys);
        $n->get("/o/$t.gif", headers => ['User-Agent', $k ? $ua{proxy} : $ua{human}]);
        $events++;
    }

    if ($i % 2) {
        my $t = token('click', mid => $mid, rcpt => $rcpt, keys => $keys,
                      url => "https://example.com/p/$i");
        $n->get("/c/$t", headers => ['User-Agent', $ua{human}]);
        $events++;
    }

    my $day = $i + 1;
    is pm(qq({"RecordType":"Delivery","DeliveredAt":"2026-01-0${day}T00:00:00Z",)
          . qq("MessageID":"pm-$mid","Recipient":"$rcpt","Metadata":{"mail_track_id":"$mid"}})),
       200, "$mid: delivered";

    if ($i == 2) {
        is pm(qq({"RecordType":"Bounce","Type":"HardBounce","ID":77,"BouncedAt":"2026-01-05T00:00:00Z",)
              . qq("Details":"550 5.1.1 unknown","MessageID":"pm-$mid","Email":"$rcpt",)
              . qq("Metadata":{"mail_track_id":"$mid"}})), 200, "$mid: bounced";
    }

    if ($i == 4) {
        is pm(qq({"RecordType":"SpamComplaint","Type":"SpamComplaint","ID":78,)
              . qq("BouncedAt":"2026-01-06T00:00:00Z","MessageID":"pm-$mid","Email":"$rcpt",)
              . qq("Metadata":{"mail_track_id":"$mid"}})), 200, "$mid: complained";
    }
}

my @recs = wait_records($spool, $events, 15);
is scalar @recs, $events, "all $events events are in sealed spool files";

my %api;
for my $mid (@mids) {
    my $r = $n->get("/status/$mid");
    is $r->{status}, 200, "$mid: the status API knows it";
    $api{$mid} = $r->{body};
}

$n->stop;

my $tmp = tempdir('mail-track-063-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $db = "sqlite:$tmp/db.sqlite";

my $out = `@{[tool()]} load --quiet $spool --db $db 2>&1`;
is $?, 0, 'mail-track load' or diag $out;
like $out, qr/ $events events loaded/, "... $events events";

for my $mid (@mids) {
    my $got = `@{[tool()]} status $mid --db $db`;
    is $got, $api{$mid}, "$mid: mail-track status prints what the status API printed";
    note $got;
}

done_testing;
