package MailTrack::Spool;

# For the spool writer's tests: names as nginx makes them, records, the
# writer's test hooks, waiting for a log line, connections that keep an
# old worker alive, and the root-only tools (a small tmpfs, chattr, a
# pid given to another process).

use strict;
use warnings;

use Exporter 'import';
use MailTrack::Util ();
use IO::Socket::INET;
use POSIX ();
use Sys::Hostname ();
use Time::HiRes qw(sleep time);

our @EXPORT = qw(nginx_host part_name record pause resume wait_log
                 hold_worker release_workers is_root mount_tmpfs umount
                 chattr take_pid fs_avail locked_by slow spool_http
                 $pixel_config);

# the http{} part of a spool test: zone, spool (DIR under the servroot,
# its parameters), keys
sub spool_http {
    my (%o) = @_;
    my $zone = $o{zone} || 'zone=mt:1m';
    my $dir = $o{dir} || 'spool';
    my $spool = $o{spool} || 'flush=100ms max_age=1h';
    my $keys = MailTrack::Util::keys_file();
    return <<"_EOC_";
    mail_track_zone $zone;
    mail_track_spool \$TEST_NGINX_SERVROOT/$dir $spool;
    mail_track_keys $keys;
_EOC_
}

# the server{} part: a pixel and the metrics
our $pixel_config = <<'_EOC_';
        location /o/ { mail_track_open; }
        location = /metrics { mail_track_metrics; }
_EOC_

# a time to wait, longer under valgrind
sub slow { $_[0] * ($ENV{TEST_NGINX_USE_VALGRIND} ? 6 : 1) }

# nginx's $hostname: gethostname(), lower case
sub nginx_host { lc Sys::Hostname::hostname() }

sub part_name {
    my (%o) = @_;
    return join('-', $o{host} // nginx_host(), $o{pid} // 999999,
                $o{ms} // 1700000000000, $o{seq} // 1) . '.part';
}

# a record as the module writes one: {"v":1,"id":ID,"src":"track",...}
sub record {
    my ($id) = @_;
    return "\x84\xa1v\x01\xa2id" . chr(0xa0 | length $id) . $id
         . "\xa3src\xa5track\xa4type\xa6opened";
}

# the writer's test hooks (MAIL_TRACK_TEST_HOOKS): it waits while
# "<spool>/.mt-test-pause-<name>" exists
sub pause {
    my ($spool, $name) = @_;
    open my $fh, '>', "$spool/.mt-test-pause-$name" or die "pause: $!";
    close $fh;
}

sub resume {
    my ($spool, $name) = @_;
    unlink "$spool/.mt-test-pause-$name";
}

# waits until the error log (from byte $from) matches $re; returns the
# match list (or the whole match), () after $timeout seconds
sub wait_log {
    my ($n, $re, %o) = @_;
    my $deadline = time + slow($o{timeout} // 10);
    my $from = $o{from} // 0;
    while (1) {
        my $log = substr($n->error_log, $from);
        if (my @m = $log =~ $re) {
            return @m;
        }
        return () if time > $deadline;
        sleep 0.02;
    }
}

# a connection with half a request: the worker that took it does not
# exit on a reload or quit until it is closed
my @held;

sub hold_worker {
    my ($n) = @_;
    my $s = IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                  PeerPort => $n->port, Timeout => 5)
        or die "connect: $!";
    print $s "GET /held HTTP/1.1\r\nHost: x\r\n";
    push @held, $s;
    return $s;
}

sub release_workers {
    close $_ for @held;
    @held = ();
}

sub is_root { $> == 0 }

sub mount_tmpfs {
    my ($dir, $size) = @_;
    mkdir $dir;
    system('mount', '-t', 'tmpfs', '-o', "size=$size,mode=0755", 'tmpfs',
           $dir) == 0 or die "mount tmpfs on $dir failed";
}

sub umount {
    my ($dir) = @_;
    system('umount', $dir) == 0 or warn "umount $dir failed\n";
}

sub chattr {
    my ($flag, @files) = @_;
    system('chattr', $flag, @files) == 0 or die "chattr $flag failed";
}

# free bytes on the file system holding $dir
sub fs_avail {
    my ($dir) = @_;
    my $out = `stat -f -c '%a %S' '$dir'`;
    my ($blocks, $bsize) = $out =~ /(\d+)\s+(\d+)/ or die "stat -f $dir";
    return $blocks * $bsize;
}

# a process (sleep) that gets $pid, once it is free: pid reuse on
# purpose, through /proc/sys/kernel/ns_last_pid (root); undef if the
# kernel would not give it
sub take_pid {
    my ($pid) = @_;
    for my $try (1 .. 50) {
        open my $fh, '>', '/proc/sys/kernel/ns_last_pid' or return undef;
        print $fh $pid - 1;
        close $fh or return undef;
        my $child = fork // die "fork: $!";
        if ($child == 0) {
            { exec 'sleep', '60' }
            POSIX::_exit(1);
        }
        return $child if $child == $pid;
        kill 'KILL', $child;
        waitpid $child, 0;
        sleep 0.01;
    }
    return undef;
}

# the pids holding a flock() on $file (from /proc/locks)
sub locked_by {
    my ($file) = @_;
    my @st = stat $file or return ();
    my $ino = $st[1];
    my @pids;
    open my $fh, '<', '/proc/locks' or return ();
    while (<$fh>) {
        # 1: FLOCK  ADVISORY  READ 1234 fd:01:5678 0 EOF
        my ($type, $pid, $i) = /^\d+:\s+(\S+)\s+\S+\s+\S+\s+(\d+)\s+[0-9a-f]+:[0-9a-f]+:(\d+)/
            or next;
        push @pids, $pid if $type eq 'FLOCK' && $i == $ino;
    }
    return @pids;
}

1;
