# the flush role: one writer at a time, also when a worker leaving on a
# reload and a new one both want it; a holder that died is recognized
# even when its pid belongs to another process now; workers of an old
# configuration write where the new one says (issue 6, items 4, 10, 14)

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use MailTrack::Spool;
use Time::HiRes qw(sleep time);

my $config = $pixel_config;

my $hooks = 'env MAIL_TRACK_TEST_HOOKS=1;';
my $tok = token('open');

sub pixels {
    my ($n, $count) = @_;
    my $ok = 0;
    for (1 .. $count) {
        $ok++ if $n->get("/o/$tok.gif")->{status} == 200;
    }
    return $ok;
}

sub once {
    my ($dir, $sent, $what) = @_;
    my @r = spool_records($dir);
    my %ids;
    $ids{ $_->{id} }++ for @r;
    is scalar @r, $sent, "$what: every record written";
    is scalar(grep { $_ > 1 } values %ids), 0, "$what: none twice";
}

sub gone {
    my (@pids) = @_;
    my $deadline = time + slow(15);
    sleep 0.05 while grep({ kill 0, $_ } @pids) && time < $deadline;
    return !grep { kill 0, $_ } @pids;
}

# --- item 4: a worker leaving writes only with the role held ----------------
#
# The leaving worker writes a batch, gives the role up and is held there
# (test hook); a new worker takes the role and is held in its write; the
# leaving one goes on: it must wait for the role, not write the same
# batch beside the holder.

{
    my $n = MailTrack::Test->new(name => 'role-exit',
                                 main_config => $hooks,
                                 http_config => spool_http(
                                     spool => 'flush=1h batch=100000 '
                                              . 'max_size=4k max_age=1h'),
                                 config => $config);
    my $spool = $n->servroot . '/spool';
    $n->start;

    my $sent = pixels($n, 60);
    is metric_count($n, 'mail_track_queue_records'), 60,
        'item 4: sixty records queued';

    pause($spool, 'exit');
    my @old = $n->worker_pids;
    my $pos = length $n->error_log;

    $n->reload(http_config => spool_http(spool => 'flush=1h batch=1 '
                                                   . 'max_size=4k max_age=1h'),
               wait_old => 0);

    ok wait_log($n, qr/\[notice\] $old[0]#\d+: mail_track spool: test hook: exit paused/,
                from => $pos),
        'item 4: the leaving worker wrote a batch and paused without the role';

    pause($spool, 'write');
    $sent += pixels($n, 1);

    my ($holder) = wait_log($n, qr/\[notice\] (\d+)#\d+: mail_track spool: test hook: write paused/,
                            from => $pos);
    ok $holder && $holder != $old[0], 'item 4: a new worker holds the role';

    resume($spool, 'exit');

    # the leaving worker now wants the role back while the new one has it
    sleep 0.3;
    resume($spool, 'write');

    ok gone(@old), 'item 4: the old worker is gone';
    $n->quit;

    once($spool, $sent, 'item 4');
    unlike $n->error_log, qr/\[alert\]/, 'item 4: no alert';
}

# --- item 10: a changed spool path is where old workers write too -----------

{
    my $n = MailTrack::Test->new(name => 'role-path',
                                 http_config => spool_http(
                                     dir => 'spool-a',
                                     spool => 'flush=1h batch=100000 '
                                              . 'max_age=1h'),
                                 config => $config);
    my $sr = $n->servroot;
    $n->start;

    my @old = $n->worker_pids;
    hold_worker($n);
    my $sent = pixels($n, 10);

    $n->reload(http_config => spool_http(dir => 'spool-b',
                                          spool => 'flush=1h batch=100000 '
                                                   . 'max_age=1h'),
               wait_old => 0);

    ok wait_log($n, qr/writing to "\Q$sr\E\/spool-b" from now on/),
        'item 10: the new workers switched the zone to the new path';

    $sent += pixels($n, 10);

    # the old worker leaves: it writes the queue as it leaves
    release_workers();
    ok gone(@old), 'item 10: the old worker is gone';

    my @a = spool_records("$sr/spool-a");
    is scalar @a, 0, 'item 10: nothing written to the old path after '
                     . 'the reload';
    ok !glob("$sr/spool-a/*.part"), 'item 10: no .part there either';
    my @b = spool_records("$sr/spool-b");
    ok @b > 0, 'item 10: the leaving worker wrote to the new path';

    $n->quit;
    once("$sr/spool-b", $sent, 'item 10');
}

# --- item 14: the role holder died and its pid was given to another process --

SKIP: {
    skip 'item 14: needs root to give a pid away (ns_last_pid)', 5
        unless is_root();

    my $n = MailTrack::Test->new(name => 'role-pid', workers => 2,
                                 main_config => $hooks,
                                 http_config => spool_http(
                                     spool => 'flush=100ms batch=1 '
                                              . 'max_age=300ms'),
                                 config => $config);
    my $spool = $n->servroot . '/spool';
    $n->start;

    pause($spool, 'write');
    my $sent = pixels($n, 1);

    my ($holder) = wait_log($n, qr/\[notice\] (\d+)#\d+: mail_track spool: test hook: write paused/);
    ok $holder, 'item 14: a worker holds the role, held in its write';

    kill 'KILL', $holder;
    ok gone($holder), 'item 14: it is killed';
    resume($spool, 'write');

    my $sleeper = take_pid($holder);

  SKIP: {
        skip "item 14: pid $holder could not be given away", 3
            unless $sleeper;

        $sent += pixels($n, 5);

        my @r = wait_records($spool, $sent, slow(15));
        is scalar @r, $sent, 'item 14: another worker took the role over '
                             . 'and wrote everything';
        like $n->error_log, qr/taking over from exited process $holder/,
            'item 14: the take-over is logged';

        kill 'KILL', $sleeper;
        waitpid $sleeper, 0;

        $n->quit;
        once($spool, $sent, 'item 14');
    }
}

done_testing;
