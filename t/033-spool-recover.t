# recovery of unsealed .part files: only this host's, only dead ones
# (no writer holds their lock, whatever pid the name carries), never
# through a symlink or into a file of another owner; a new spool path
# is looked at too; a new zone leaves the old zone's live file alone
# (issue 6, items 6, 7, 8, 11)

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use MailTrack::Spool;
use Fcntl qw(:flock);
use Time::HiRes qw(sleep time);

my $config = $pixel_config;

my $whole = record('r-1') . record('r-2');
my $torn = $whole . substr(record('r-3'), 0, 9);

sub put {
    my ($file, $data) = @_;
    open my $fh, '>', $file or die "$file: $!";
    binmode $fh;
    print $fh $data;
    close $fh;
}

sub slurp_file {
    my ($file) = @_;
    open my $fh, '<', $file or return undef;
    binmode $fh;
    local $/;
    return <$fh>;
}

sub sealed { (my $s = $_[0]) =~ s/\.part$/.mtspool/; return $s }

# --- items 6 and 7: what recovery touches at start ---------------------------

{
    my $n = MailTrack::Test->new(name => 'recover-which',
                                 http_config => spool_http(),
                                 config => $config);
    my $sr = $n->servroot;
    my $spool = "$sr/spool";
    mkdir $spool;

    my $dead = "$spool/" . part_name(pid => 999999, seq => 1);
    my $mine = "$spool/" . part_name(pid => $$, seq => 2);
    my $other = "$spool/" . part_name(host => 'other-edge', pid => 999999,
                                      seq => 3);
    my $link = "$spool/" . part_name(pid => 999999, seq => 4);
    my $held = "$spool/" . part_name(pid => 999999, seq => 5);
    my $outside = "$sr/outside.dat";

    put($dead, $torn);
    put($mine, $whole);
    put($other, $torn);
    put($outside, $torn);
    symlink $outside, $link or die "symlink: $!";
    put($held, $torn);

    # a live writer elsewhere holds its lock
    open my $lock, '<', $held or die;
    flock $lock, LOCK_SH or die;

    my $foreign_owner;
    if (is_root()) {
        $foreign_owner = "$spool/" . part_name(pid => 999999, seq => 6);
        put($foreign_owner, $whole);
        chown scalar(getpwnam('nobody')), scalar(getgrnam('nogroup')),
              $foreign_owner;
    }

    $n->start;

    ok wait_log($n, qr/looked for unsealed files in "\Q$spool\E"/),
        'recovery ran';

    is slurp_file(sealed($dead)), $whole,
        'a dead .part of this host: cut to its whole records and sealed';
    is slurp_file(sealed($mine)), $whole,
        'item 7: a .part named with a live (unrelated) pid but not locked '
        . 'is recovered';
    is slurp_file($other), $torn,
        'item 7: a .part of another host is left as it is';
    ok !-e sealed($other), 'item 7: and not sealed';
    is slurp_file($held), $torn, 'a .part whose lock is held is left alone';

    ok -l $link, 'item 6: the symlinked .part is still a symlink';
    is slurp_file($outside), $torn,
        'item 6: the file it points at is untouched';
    ok !-e sealed($link), 'item 6: nothing sealed through it';
    like $n->error_log,
        qr/leaving "\Q$link\E" alone: it is a symbolic link/,
        'item 6: the log names it';

  SKIP: {
        skip 'a file of another owner needs root', 2 unless $foreign_owner;
        ok -e $foreign_owner, 'item 6: a .part of another owner is left';
        like $n->error_log,
            qr/leaving "\Q$foreign_owner\E" alone: it belongs to uid \d+/,
            'item 6: and named in the log';
    }

    like $n->error_log, qr/: 2 sealed, 0 removed, 1 in use, \d+ left alone, 1 of other hosts/,
        'the summary counts each kind';

    is metric_count($n, 'mail_track_spool_recovered_files_total'), 2,
        'recovered files counted';

    close $lock;
    $n->stop;
}

# --- item 11: a spool path changed on reload is looked at too -----------------

{
    my $n = MailTrack::Test->new(name => 'recover-newpath',
                                 http_config => spool_http(dir => 'spool-a'),
                                 config => $config);
    my $sr = $n->servroot;
    $n->start;

    ok wait_log($n, qr/looked for unsealed files in "\Q$sr\E\/spool-a"/),
        'item 11: the first path looked at';

    mkdir "$sr/spool-b";
    my $left = "$sr/spool-b/" . part_name(pid => 999999);
    put($left, $torn);

    $n->reload(http_config => spool_http(dir => 'spool-b'));

    ok wait_log($n, qr/looked for unsealed files in "\Q$sr\E\/spool-b"/),
        'item 11: the new path is looked at after the reload';
    is slurp_file(sealed($left)), $whole,
        'item 11: the file left there is sealed';

    $n->stop;
}

# --- item 8: a new zone (resize) while the worker that created the old
#     zone's .part was killed: the .part is still live (its replacement,
#     kept busy by a connection, holds the lock) ----------------------------

{
    my $n = MailTrack::Test->new(name => 'recover-resize',
                                 http_config => spool_http(),
                                 config => $config);
    my $spool = $n->servroot . '/spool';
    $n->start;

    my $tok = token('open');
    my $sent = 0;

    for (1 .. 5) {
        $sent++ if $n->get("/o/$tok.gif")->{status} == 200;
    }

    my $deadline = time + slow(5);
    sleep 0.05 while !glob("$spool/*.part") && time < $deadline;
    my ($part) = glob("$spool/*.part");
    ok $part, 'item 8: a .part';

    my ($creator) = $part =~ /-(\d+)-\d+-\d+\.part$/;
    is join(',', $n->worker_pids), $creator, 'item 8: made by the worker';
    is join(',', locked_by($part)), $creator, 'item 8: which holds its lock';

    kill 'KILL', $creator;

    my $new;
    $deadline = time + slow(10);
    while (time < $deadline) {
        ($new) = grep { $_ != $creator } $n->worker_pids;
        last if $new && grep { $_ == $new } locked_by($part);
        sleep 0.05;
    }
    ok $new && grep({ $_ == $new } locked_by($part)),
        'item 8: the worker that replaced it holds the lock from its start';

    hold_worker($n);
    my $pos = length $n->error_log;

    $n->reload(http_config => spool_http(zone => 'zone=mt:2m'),
               wait_old => 0);

    ok wait_log($n, qr/looked for unsealed files in "\Q$spool\E": 0 sealed, 0 removed, 1 in use/,
                from => $pos),
        'item 8: the new zone leaves the old zone\'s live .part alone';
    ok -e $part, 'item 8: it is still there, for the old worker';

    for (1 .. 5) {
        $sent++ if $n->get("/o/$tok.gif")->{status} == 200;
    }

    release_workers();

    $n->quit;

    my @r = spool_records($spool);
    is scalar @r, $sent, 'item 8: every event spooled';
    my %ids = map { $_->{id} => 1 } @r;
    is scalar keys %ids, $sent, 'item 8: none twice';
    ok !glob("$spool/*.part"), 'item 8: every file sealed';
    unlike $n->error_log, qr/are lost|\[alert\](?!.*exited on signal 9)/,
        'item 8: no false "are lost" alert';
    unlike $n->error_log, qr/exited on signal (?!9)/, 'item 8: no crash';
}

done_testing;
