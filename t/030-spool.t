# the spool: batches, sealing, shutdown, an unwritable directory, a full
# zone, recovery of unsealed files, record fields

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use MailTrack::Spool;
use Time::HiRes qw(sleep time);

my $keys = keys_file();

sub http_config {
    my (%o) = @_;
    my $zone = $o{zone} || 'zone=mt:1m';
    my $spool = $o{spool} || 'flush=100ms';
    my $extra = $o{extra} || '';
    return <<"_EOC_";
    mail_track_zone $zone;
    mail_track_spool \$TEST_NGINX_SERVROOT/spool $spool;
    mail_track_keys $keys;
    $extra
_EOC_
}

my $config = <<'_EOC_';
        location /o/ { mail_track_open; }
        location /c/ { mail_track_click; }
        location /t/ { mail_track_open; mail_track_ip truncate; }
        location /n/ { mail_track_open; mail_track_ip off; }
        location = /metrics { mail_track_metrics; }
_EOC_

sub parts { my @p = glob("$_[0]/*.part"); return scalar @p }
sub nrecs { my @r = spool_records($_[0]); return scalar @r }

sub pixel {
    my ($n, $tok, %h) = @_;
    my $r = $n->get("/o/$tok.gif", %h);
    return $r->{status};
}

# --- a record has the DESIGN.md fields -------------------------------------

{
    my $n = MailTrack::Test->new(name => 'spool-fields',
                                 http_config => http_config(),
                                 config => $config);
    $n->start;

    my $spool = $n->servroot . '/spool';
    my $open = token('open', mid => 'm-1', rcpt => 'a@example.com',
                     tag => 'spring');
    my $click = token('click', mid => 'm-2', rcpt => 'b@example.com',
                      url => 'https://example.com/x?y=1');

    my $t0 = int(time() * 1000);
    is pixel($n, $open, headers => { 'User-Agent' => 'TestAgent/1.0' }), 200,
        'pixel served';
    is $n->get("/c/$click")->{status}, 302, 'click redirected';
    is $n->get('/t/' . $open . '.gif')->{status}, 200, 'truncating location';
    is $n->get('/n/' . $open . '.gif')->{status}, 200, 'ip off location';

    $n->quit;

    my @r = spool_records($spool);
    is scalar @r, 4, 'four records after quit';

    my ($o, $c, $tr, $off) = @r;
    is $o->{v}, 1, 'v';
    like $o->{id}, qr/^[0-9a-f]{32}$/, 'id';

    # the id is the worker's salt, then a counter: one more for each event
    my @ids = map { $_->{id} } @r;
    is scalar(grep { substr($_, 0, 16) eq substr($ids[0], 0, 16) } @ids), 4,
        'ids share the salt';
    is join(',', map { hex(substr($_, 24)) - hex(substr($ids[0], 24)) } @ids),
        '0,1,2,3', 'ids count up';
    is $o->{src}, 'track', 'src';
    is $o->{type}, 'opened', 'type';
    is $o->{mid}, 'm-1', 'mid';
    is $o->{rcpt}, 'a@example.com', 'rcpt';
    is $o->{tag}, 'spring', 'tag';
    is $o->{ip}, '127.0.0.1', 'ip (full)';
    is $o->{ua}, 'TestAgent/1.0', 'ua';
    ok $o->{rt} >= $t0 && $o->{rt} < $t0 + 60000, 'rt in ms';
    is $o->{ts}, $o->{rt}, 'ts = rt for own endpoints';
    ok exists $o->{machine}, 'machine judged';
    ok !exists $o->{url}, 'no url on an open';
    ok !exists $o->{bounce}, 'no bounce on an open';

    is $c->{type}, 'clicked', 'click type';
    is $c->{url}, 'https://example.com/x?y=1', 'click url';
    is $c->{mid}, 'm-2', 'click mid';
    isnt $c->{id}, $o->{id}, 'ids differ';

    is $tr->{ip}, '127.0.0.0', 'ip truncated to /24';
    ok !exists $off->{ip}, 'ip off: none';

    my @files = glob("$spool/*");
    ok @files >= 1, 'files written';
    for (@files) {
        like $_, qr{/[\w.-]+-\d+-\d{13}-\d+\.mtspool$},
            "name <host>-<pid>-<ms>-<seq>.mtspool: $_";
    }
}

# --- flushed on the timer, sealed by age; nothing read from .part ---------

{
    my $n = MailTrack::Test->new(name => 'spool-age',
                                 http_config => http_config(
                                     spool => 'flush=100ms max_age=1s'),
                                 config => $config);
    $n->start;

    my $spool = $n->servroot . '/spool';
    my $tok = token('open');

    pixel($n, $tok) for 1 .. 3;

    sleep 0.5;
    my @part = glob("$spool/*.part");
    is scalar @part, 1, 'a .part file while the batch is young';
    is nrecs($spool), 0, 'nothing sealed yet';

    my @r = wait_records($spool, 3, 5);
    is scalar @r, 3, 'sealed by max_age, within a few seconds';
    is parts($spool), 0, 'no .part left';

    $n->stop;
}

# --- a full batch flushes without waiting for the timer; size seals -------

{
    my $n = MailTrack::Test->new(name => 'spool-batch',
                                 http_config => http_config(
                                     spool => 'flush=1h batch=10 '
                                              . 'max_size=4k max_age=1h'),
                                 config => $config);
    $n->start;

    my $spool = $n->servroot . '/spool';
    my $tok = token('open');

    pixel($n, $tok) for 1 .. 60;

    my @r = wait_records($spool, 30, 5);
    ok @r >= 30, 'batches written and files sealed by size '
                 . 'with an hour-long timer (' . scalar(@r) . ')';

    my @files = glob("$spool/*.mtspool");
    ok @files >= 2, 'several files sealed by max_size';

    for my $f (@files) {
        ok -s $f < 4096 + 2000, "file under max_size plus a batch: $f";
    }

    $n->quit;
    @r = spool_records($spool);
    is scalar @r, 60, 'all 60 after quit';

    my %ids = map { $_->{id} => 1 } @r;
    is scalar keys %ids, 60, 'no record twice';
}

# --- quit loses nothing ---------------------------------------------------

{
    my $n = MailTrack::Test->new(name => 'spool-quit', workers => 4,
                                 http_config => http_config(
                                     spool => 'flush=1h max_age=1h'),
                                 config => $config);
    $n->start;

    my $spool = $n->servroot . '/spool';
    my $tok = token('open');

    pixel($n, $tok) for 1 .. 200;

    is nrecs($spool), 0, 'nothing sealed while running';

    $n->quit;

    my @r = spool_records($spool);
    is scalar @r, 200, 'nginx -s quit: every event written';
    is parts($spool), 0, 'and sealed';
}

# --- fsync=on --------------------------------------------------------------

{
    my $n = MailTrack::Test->new(name => 'spool-fsync',
                                 http_config => http_config(
                                     spool => 'flush=50ms max_age=200ms '
                                              . 'fsync=on'),
                                 config => $config);
    $n->start;

    my $spool = $n->servroot . '/spool';
    pixel($n, token('open')) for 1 .. 5;

    my @r = wait_records($spool, 5, 5);
    is scalar @r, 5, 'fsync=on writes';

    my $m = $n->get('/metrics')->{body};
    ok metric($m, 'mail_track_spool_fsyncs_total') >= 1, 'fsyncs counted';

    $n->stop;
}

# --- the spool becomes unwritable: events stay queued, one error line per
#     interval, written once it is writable again ----------------------------

SKIP: {
    skip 'needs root to run workers as nobody', 10 if $> != 0;

    my $n = MailTrack::Test->new(name => 'spool-ro',
                                 main_config => 'user nobody nogroup;',
                                 http_config => http_config(
                                     spool => 'flush=200ms max_age=300ms'),
                                 config => $config);

    my $spool = $n->servroot . '/spool';
    mkdir $spool;
    chown scalar(getpwnam('nobody')), scalar(getgrnam('nogroup')), $spool;
    chmod 0755, $n->servroot;

    $n->start;

    my $tok = token('open');
    pixel($n, $tok) for 1 .. 5;
    my @r = wait_records($spool, 5, 5);
    is scalar @r, 5, 'written while writable';

    chmod 0555, $spool;

    # from the first event on, every write fails: no progress after it
    pixel($n, $tok);
    my $t_queued = time;
    pixel($n, $tok) for 2 .. 7;
    sleep 1.5;

    my $log = $n->error_log;
    my @errs = $log =~ /mail_track spool: open\(\) ".*?" failed, \d+ record\(s\) stay queued/g;
    ok @errs >= 1, 'the failure is logged, naming the file and the count';
    ok @errs <= 10, 'about one line per interval, not per event ('
                    . scalar(@errs) . ')';
    like $log, qr/stay queued.*Permission denied|Permission denied.*stay queued/,
        'with the cause';

    my $m = $n->get('/metrics')->{body};
    ok metric($m, 'mail_track_spool_errors_total') >= 1, 'errors counted';
    is metric($m, 'mail_track_queue_records'), 7, 'seven events queued';

    my $stalled = metric($m, 'mail_track_spool_progress_timestamp_seconds');
    ok $stalled > 0 && $stalled <= $t_queued,
        'the writer made no progress since the events came';

    my $t_writable = time;
    chmod 0755, $spool;

    @r = wait_records($spool, 12, 5);
    is scalar @r, 12, 'all twelve written once writable again';

    ok metric_count($n, 'mail_track_spool_progress_timestamp_seconds')
       >= int($t_writable), 'and progress since it is writable';

    $n->quit;
    @r = spool_records($spool);
    is scalar @r, 12, 'and nothing twice';
}

# --- a full zone refuses new events and keeps what it has --------------------

SKIP: {
    skip 'needs root to run workers as nobody', 7 if $> != 0;

    my $n = MailTrack::Test->new(name => 'spool-full',
                                 main_config => 'user nobody nogroup;',
                                 http_config => http_config(
                                     zone => 'zone=mt:256k queue=64k',
                                     spool => 'flush=100ms max_age=200ms'),
                                 config => $config);

    my $spool = $n->servroot . '/spool';
    mkdir $spool;
    chown scalar(getpwnam('nobody')), scalar(getgrnam('nogroup')), $spool;
    chmod 0755, $n->servroot;

    $n->start;

    # the spool cannot take anything: the queue fills up
    chmod 0555, $spool;

    my $tok = token('open');
    my $ua = 'x' x 1000;
    my ($ok, $fail) = (0, 0);

    for (1 .. 120) {
        my $r = $n->get("/o/$tok.gif", headers => { 'User-Agent' => $ua });
        $r->{status} == 200 ? $ok++ : $fail++;
    }

    is $fail, 0, 'the pixel is served even when the zone is full';

    my $m = $n->get('/metrics')->{body};
    my $refused = metric($m, 'mail_track_refused_total{src="track",reason="zone_full"}');
    ok $refused && $refused > 0, "refusals counted ($refused)";
    my $queued = metric($m, 'mail_track_queue_records');
    is $queued + $refused, 120, 'queued + refused = requests';
    like $n->error_log, qr/zone full \(zone_full\)/, 'the refusal is logged';

    my $big = 'https://example.com/' . ('x' x 2500);
    my $click = token('click', url => $big);
    my $r = $n->get("/c/$click", headers => { 'User-Agent' => $ua });
    is $r->{status}, 302, 'a click still redirects when the zone is full';
    is $r->{headers}{location}, $big, 'to its URL';

    $m = $n->get('/metrics')->{body};
    is metric($m, 'mail_track_queue_records'), $queued,
        'the click was refused, not queued';

    chmod 0755, $spool;

    my @r = wait_records($spool, $queued, 10);
    is scalar @r, $queued, 'what was queued is written, nothing overwritten';

    $n->quit;
    @r = spool_records($spool);
    is scalar @r, $queued, 'exactly the accepted events';
}

# --- a .part file left by a crash is cut to its last whole record and
#     sealed at start -------------------------------------------------------

{
    my $n = MailTrack::Test->new(name => 'spool-recover',
                                 http_config => http_config(),
                                 config => $config);
    my $spool = $n->servroot . '/spool';
    mkdir $spool;

    # two records and half of a third, from a process long gone
    my $rec = "\x84\xa1v\x01\xa2id\xa3r-1\xa3src\xa5track\xa4type\xa6opened";
    (my $rec2 = $rec) =~ s/r-1/r-2/;
    open my $fh, '>', "$spool/" . part_name(pid => 999999) or die;
    binmode $fh;
    print $fh $rec, $rec2, substr($rec, 0, 9);
    close $fh;

    $n->start;

    my @r = wait_records($spool, 2, 5);
    is scalar @r, 2, 'the two whole records are recovered';
    is join(',', map { $_->{id} } @r), 'r-1,r-2', 'in order';
    is parts($spool), 0, 'the .part file is sealed';
    like $n->error_log, qr/sealed ".*\.mtspool" left by an earlier run/,
        'and logged';

    $n->stop;
}

done_testing;
