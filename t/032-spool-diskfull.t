# a nearly full disk: what fits is written and sealed, the rest stays
# queued (webhooks get 503 once the queue is full), and is written once
# there is room again; nginx -s quit writes what fits (issue 6, item 2).
#
# The spool is a 64k tmpfs, so this needs root (mount), as CI is.

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use MailTrack::Spool;
use File::Copy qw(move);
use Time::HiRes qw(sleep time);

unless (is_root()) {
    plan skip_all => 'item 2 (a full disk) needs root to mount a 64k tmpfs';
}

my $http_config = spool_http(zone => 'zone=mt:1m queue=256k',
                             spool => 'flush=100ms max_size=16k max_age=1h');

my $config = <<'_EOC_';
        location /o/ { mail_track_open; }
        location = /pm {
            mail_track_webhook postmark;
            mail_track_webhook_key s3cret;
        }
        location = /metrics { mail_track_metrics; }
_EOC_

my @mounted;
END { umount($_) for @mounted }

my $ua = 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 '
       . '(KHTML, like Gecko) Chrome/120.0 Safari/537.36';
my $tok = token('open', mid => 'm-full', rcpt => 'a@example.com');

sub pixels {
    my ($n, $count) = @_;
    my $ok = 0;
    for (1 .. $count) {
        $ok++ if $n->get("/o/$tok.gif",
                         headers => { 'User-Agent' => $ua })->{status} == 200;
    }
    return $ok;
}

sub remount {
    my ($dir, $mode) = @_;
    system('mount', '-o', "remount,$mode", $dir) == 0
        or die "remount $mode $dir failed";
}

sub parts { my @p = glob("$_[0]/*.part"); return scalar @p }

# the writer has done all it can: the disk is full and what is on it sealed
sub stuck {
    my ($n, $spool) = @_;
    my $deadline = time + slow(20);
    while (time < $deadline) {
        return 1 if fs_avail($spool) < 4096 && parts($spool) == 0
                    && metric_count($n, 'mail_track_spool_nospace_total') > 0;
        sleep 0.1;
    }
    return 0;
}

# a loader: moves the sealed files away
sub load {
    my ($spool, $to) = @_;
    mkdir $to;
    my $moved = 0;
    for my $f (glob("$spool/*.mtspool")) {
        (my $b = $f) =~ s{.*/}{};
        move($f, "$to/$b") or die "move $f: $!";
        $moved++;
    }
    return $moved;
}

sub ids {
    my (@dirs) = @_;
    my %ids;
    $ids{ $_->{id} }++ for map { spool_records($_) } @dirs;
    return \%ids;
}

# --- what fits is written, the rest waits; room again: all of it ----------

{
    my $n = MailTrack::Test->new(name => 'diskfull', http_config => $http_config,
                                 config => $config);
    my $sr = $n->servroot;
    my $spool = "$sr/spool";

    mount_tmpfs($spool, '64k');
    push @mounted, $spool;

    $n->start;

    # the 600 wait in the queue, then meet the disk at once (the issue's
    # case): read-only while they come in
    remount($spool, 'ro');
    my $sent = pixels($n, 600);
    is $sent, 600, 'item 2: 600 pixels served';
    is metric_count($n, 'mail_track_queue_records'), 600,
        'item 2: all queued while the disk is read-only';
    remount($spool, 'rw');

    ok stuck($n, $spool), 'item 2: the disk fills up';

    my $written = metric_count($n, 'mail_track_spool_records_total');
    my $queued = metric_count($n, 'mail_track_queue_records');
    my @on_disk = spool_records($spool);

    ok $written > 0, "item 2: records that fit are written ($written)";
    is scalar @on_disk, $written, 'item 2: and sealed, readable';
    is $written + $queued, 600, 'item 2: the rest stays queued';
    ok fs_avail($spool) < 4096,
        'item 2: the disk is as full as records can make it ('
        . fs_avail($spool) . ' bytes left)';

    my @files = glob("$spool/*.mtspool");
    ok !grep({ -s $_ > 16384 } @files), 'item 2: no file over max_size';

    like $n->error_log, qr/write\(\) ".*\.part" failed, \d+ record\(s\) stay queued \(28: No space left on device\)/,
        'item 2: the full disk is logged';
    ok metric_count($n, 'mail_track_spool_errors_total') > 0,
        'item 2: and counted';

    # the queue fills: pixels are still served, webhooks get 503
    my $more = 0;
    for (1 .. 2000) {
        pixels($n, 1);
        $more++;
        last if metric_count($n,
            'mail_track_refused_total{src="track",reason="zone_full"}');
    }
    my $refused = metric_count($n,
        'mail_track_refused_total{src="track",reason="zone_full"}');
    ok $refused > 0, "item 2: the queue filled after $more more pixels";

    my $r = $n->request('POST', '/pm',
        headers => ['Content-Type', 'application/json',
                    @{ basic_auth('postmark', 's3cret') }],
        body => qq({"RecordType":"Delivery","MessageID":"full-1",)
              . qq("Recipient":"a\@example.com","DeliveredAt":"2026-01-01T00:00:00Z"}));
    is $r->{status}, 503, 'item 2: a webhook gets 503 while the queue is full';
    is metric_count($n,
        'mail_track_refused_total{src="postmark",reason="zone_full"}'), 1,
        'item 2: counted';

    my $accepted = 600 + $more - $refused;

    # a loader takes files away: the rest is written as room appears
    my $deadline = time + slow(60);
    while (time < $deadline) {
        load($spool, "$sr/loaded");
        last if metric_count($n, 'mail_track_queue_records') == 0;
        sleep 0.1;
    }
    is metric_count($n, 'mail_track_queue_records'), 0,
        'item 2: with room again, the queue drains';

    $n->quit;
    load($spool, "$sr/loaded");

    my $ids = ids("$sr/loaded");
    is scalar keys %$ids, $accepted, "item 2: every accepted event "
                                     . "($accepted) is in a sealed file";
    is scalar(grep { $_ > 1 } values %$ids), 0, 'item 2: none twice';

    umount($spool);
    @mounted = ();
}

# --- nginx -s quit with the disk full: what fits is written ------------------

{
    my $n = MailTrack::Test->new(name => 'diskfull-quit',
                                 http_config => $http_config,
                                 config => $config);
    my $spool = $n->servroot . '/spool';

    mount_tmpfs($spool, '64k');
    push @mounted, $spool;

    $n->start;

    is pixels($n, 600), 600, 'item 2 (quit): 600 pixels served';
    ok stuck($n, $spool), 'item 2 (quit): the disk fills up';

    my $written = metric_count($n, 'mail_track_spool_records_total');

    $n->quit;

    my @on_disk = spool_records($spool);
    is scalar @on_disk, $written, 'item 2 (quit): what was written is sealed';
    ok fs_avail($spool) < 4096, 'item 2 (quit): the disk is full';
    is parts($spool), 0, 'item 2 (quit): no .part left';

    my ($lost) = $n->error_log
        =~ /(\d+) record\(s\) not written when leaving \(write\(\) .* failed\).*No space left on device/;
    is $lost + @on_disk, 600,
        'item 2 (quit): the rest is named in the log as not written';

    umount($spool);
    @mounted = ();
}

done_testing;
