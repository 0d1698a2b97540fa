#!/usr/bin/perl
# make soak: nginx with 4 workers under wrk load of pixels and signed
# SendGrid and Mailgun webhooks (queued and durable, t/soak/load.lua) for
# SOAK_SECONDS, while this script reloads, upgrades the binary (USR2,
# WINCH, QUIT), SIGKILLs random workers and the ones holding the spool's
# flush role and the zone's lock (t/soak/mt-peek.c), fills and frees the
# spool's disk (a tmpfs mounted here: root only; each time with a reload
# while durable answers wait) and resizes the zone.
# A loader moves sealed files away meanwhile.  At the end:
#
#   - every event answered 200 "accepted" is in the sealed spool exactly
#     once (durable ones counted apart), no event is there twice, none is
#     there that was not sent, every record reads back whole;
#   - no .part file is left once nginx has stopped and started again;
#   - no [alert], [crit] or [emerg] in error.log beyond what the script
#     caused (a killed worker's "exited on signal 9", "was locked by" for
#     a worker killed holding the lock, "No space left on device");
#   - with TEST_NGINX_USE_ASAN, no sanitizer report (MailTrack::Test).
#
# Environment (defaults for the 300 s run; counts scale with the time
# unless given): SOAK_SECONDS, SOAK_RELOADS (100), SOAK_UPGRADES (10),
# SOAK_KILLS (20 random workers), SOAK_ROLE_KILLS (3 flush-role and 3
# lock holders), SOAK_FILLS (6), SOAK_RESIZES (2), SOAK_CONNECTIONS (32),
# SOAK_DELAY (ms between a connection's requests, 10), SOAK_SEED,
# SOAK_FS_SIZE (32m), SOAK_FIGURES (a file for the figures), SOAK_TAMPER,
# MT_PEEK (build/mt-peek), MAIL_TRACK_TOOL, TEST_NGINX_LOAD_MODULES.

use strict;
use warnings;

use FindBin;
use lib "$FindBin::Bin/../lib";

use Test::More;
use File::Copy qw(move);
use File::Path qw(make_path);
use List::Util qw(shuffle);
use MIME::Base64 ();
use POSIX qw(:sys_wait_h ENOSPC);
use Time::HiRes qw(sleep time);

use MailTrack::Test;

my $top  = "$FindBin::Bin/../..";
my $secs = $ENV{SOAK_SECONDS} || 300;
my $k    = $secs / 300;

sub count {
    my ($name, $full) = @_;
    my $v = $ENV{$name};
    return $v if defined $v && length $v;
    my $n = int($full * $k + 0.5);
    return $n < 1 ? 1 : $n;
}

my %plan = (
    reloads    => count('SOAK_RELOADS', 100),
    upgrades   => count('SOAK_UPGRADES', 10),
    kills      => count('SOAK_KILLS', 20),
    role_kills => count('SOAK_ROLE_KILLS', 3),
    fills      => count('SOAK_FILLS', 6),
    resizes    => count('SOAK_RESIZES', 2),
);
my $conns = $ENV{SOAK_CONNECTIONS} || 32;
my $delay = $ENV{SOAK_DELAY} // 10;
my $seed  = $ENV{SOAK_SEED} || time;
my $peek  = $ENV{MT_PEEK} || "$top/build/mt-peek";
my $tool  = $ENV{MAIL_TRACK_TOOL} || "$top/build/mail-track";
my $fill_secs = 4;
my @zone_sizes = (16 * 1024 * 1024, 24 * 1024 * 1024);

srand $seed;

BAIL_OUT('make soak mounts a tmpfs for the spool: run it as root')
    if $> != 0;
BAIL_OUT("no $peek (make soak builds it)") unless -x $peek;
BAIL_OUT("no $tool") unless -x $tool;
BAIL_OUT('no wrk (scripts/deps.sh soak)')
    if system('wrk -v >/dev/null 2>&1') == -1;

# ---------------------------------------------------------------------
# set-up

my $n = MailTrack::Test->new(
    name => $ENV{TEST_NGINX_USE_ASAN} ? 'soak-asan' : 'soak', workers => 4,
                             log_level => 'notice');
my $sr      = $n->servroot;
my $fs      = "$sr/spoolfs";
my $spool   = "$fs/spool";
my $loaded  = "$sr/loaded";
my $out     = "$sr/load";
my $actions = "$sr/actions.log";
make_path($fs, $loaded, $out);

my $mounted;
system('mount', '-t', 'tmpfs', '-o', 'size=' . ($ENV{SOAK_FS_SIZE} || '32m'),
       'soak-spool', $fs) == 0 or BAIL_OUT("cannot mount a tmpfs on $fs");
$mounted = 1;
make_path($spool);

END {
    my $st = $?;
    # nginx must be gone before the file system it writes to
    $n->stop if $n && $n->is_running;
    system('umount', '-l', $fs) if $mounted;
    $? = $st;
}

my $keys = "$sr/keys";
system("$tool keygen $keys >/dev/null") == 0 or BAIL_OUT('keygen');
chmod 0644, $keys;
system("openssl ecparam -name prime256v1 -genkey -noout -out $sr/sg.ec.pem "
       . "2>/dev/null && openssl pkcs8 -topk8 -nocrypt -in $sr/sg.ec.pem "
       . "-out $sr/sg.key.pem") == 0 or BAIL_OUT('openssl');
my $sg_pub = qx{openssl ec -in $sr/sg.ec.pem -pubout -outform DER 2>/dev/null}
    or BAIL_OUT('openssl ec');
$sg_pub = MIME::Base64::encode_base64($sg_pub, '');
my $mg_key = 'soak-' . join '', map { sprintf '%02x', rand 256 } 1 .. 16;

my $zone_i = 0;

sub http_config {
    return "    mail_track_zone zone=soak:$zone_sizes[$zone_i];\n"
         . "    mail_track_spool $spool flush=50ms max_size=2m "
         . "max_age=20s;\n"
         . "    mail_track_keys $keys;\n";
}

my $hooks = '';
for my $d ('', '-durable') {
    my $ack = $d ? "mail_track_webhook_ack durable;" : '';
    $hooks .= <<"_EOC_";
        location = /hooks/sendgrid$d {
            mail_track_webhook sendgrid;
            mail_track_webhook_key $sg_pub;
            $ack
        }
        location = /hooks/mailgun$d {
            mail_track_webhook mailgun;
            mail_track_webhook_key $mg_key;
            $ack
        }
_EOC_
}

$n->set(
    # as operators do, old workers get a few seconds to finish: less than
    # a durable answer may wait (5 s) while the disk is full
    main_config => "worker_shutdown_timeout 3s;\n",
    http_config => http_config(),
    config      => <<"_EOC_",
        add_header X-Soak-Sid \$arg_sid always;
        add_header X-Soak-Result \$mail_track_result always;
        location /o/ { mail_track_open; }
$hooks
_EOC_
);
$n->start;

open my $alog, '>', $actions or die "$actions: $!";
$alog->autoflush(1);
my $t0 = time;

sub act {
    my ($what) = @_;
    printf {$alog} "%7.2f %s\n", time - $t0, $what;
}

# ---------------------------------------------------------------------
# the load

my $wrk = fork // die "fork: $!";
if (!$wrk) {
    open STDOUT, '>', "$out/wrk.out";
    open STDERR, '>&', \*STDOUT;
    $ENV{SOAK_OUT}    = $out;
    $ENV{SOAK_KEYS}   = $keys;
    $ENV{SOAK_SG_KEY} = "$sr/sg.key.pem";
    $ENV{SOAK_MG_KEY} = $mg_key;
    $ENV{SOAK_DELAY}  = $delay;
    $ENV{SOAK_RUN}    = sprintf 'r%x', $seed % 65536;
    # stopped by SIGINT once the time is up and every action was done
    exec 'wrk', '-t2', "-c$conns", '-d' . ($secs * 10) . 's',
         '--timeout', '30s',
         '-s', "$FindBin::Bin/load.lua", 'http://127.0.0.1:' . $n->port
        or die "exec wrk: $!";
}

# ---------------------------------------------------------------------
# what happens meanwhile, spread over the run

my @todo = shuffle(
    ('reload') x $plan{reloads}, ('upgrade') x $plan{upgrades},
    ('kill') x $plan{kills}, ('kill-flusher') x $plan{role_kills},
    ('kill-lock') x $plan{role_kills}, ('fill') x $plan{fills},
    ('resize') x $plan{resizes});
my $span = $secs - 15;
my @when = map { 5 + $span * ($_ + 0.5) / @todo } 0 .. $#todo;

my %done = map { $_ => 0 } qw(reload upgrade kill kill-flusher kill-lock
                              fill resize);
my (%killed, %lock_killed, %missed);
my ($fill_fh, $fill_end, $fill_no) = (undef, 0, 0);
my $moved = 0;

sub zone_size { $zone_sizes[$zone_i] }

sub load_sealed {
    opendir my $dh, $spool or return;
    for my $f (grep { /\.mtspool$/ } readdir $dh) {
        move("$spool/$f", "$loaded/$f") or die "move $f: $!";
        $moved++;
    }
}

# fill the spool's file system; every other time leave 32 KB free, less
# than a batch needs (issue 6, item 2: a nearly full disk)
sub fill_start {
    $fill_no++;
    my $file = "$fs/filler";
    open $fill_fh, '>', $file or die "$file: $!";
    my $chunk = "\0" x 65536;
    while (1) {
        my $w = syswrite $fill_fh, $chunk;
        last if !defined $w && $! == ENOSPC;
        die "filler: $!" unless defined $w;
        last if $w < length $chunk;
    }
    if ($fill_no % 2 == 0) {
        truncate $fill_fh, (-s $file) - 32768;
    }
    $fill_end = time + $fill_secs;
    act("fill $fill_no: " . ($fill_no % 2 ? 'full' : '32k left'));
}

sub fill_stop {
    close $fill_fh;
    unlink "$fs/filler";
    undef $fill_fh;
    act("fill $fill_no: freed");
}

sub kill_role {
    my ($what) = @_;
    my @w = $n->worker_pids;
    my $size = zone_size();
    my $got = `$peek $what $size 5000 @w`;
    if ($? == 0 && $got =~ /^(\d+)/) {
        $killed{$1} = $what;
        $lock_killed{$1} = 1 if $what eq 'lock';
        act("kill -9 $1 (holds the $what)");
        return 1;
    }
    $missed{$what}++;
    act("no $what holder caught in 5 s");
    return 0;
}

sub do_action {
    my ($a) = @_;
    if ($a eq 'reload') {
        $n->reload;
    } elsif ($a eq 'upgrade') {
        my $m = $n->upgrade;
        act("upgraded, master $m");
    } elsif ($a eq 'kill') {
        my @w = $n->worker_pids;
        my $pid = $w[int rand @w];
        kill 'KILL', $pid;
        $killed{$pid} = 'random';
        act("kill -9 $pid");
    } elsif ($a eq 'kill-flusher') {
        kill_role('flusher') or return;
    } elsif ($a eq 'kill-lock') {
        kill_role('lock') or return;
    } elsif ($a eq 'fill') {
        return push @todo, 'fill' if $fill_fh;
        fill_start();
        # and a reload while durable answers wait for the full disk
        $n->reload;
        $done{'full-reload'}++;
        act('reload with the disk full');
    } elsif ($a eq 'resize') {
        $zone_i = 1 - $zone_i;
        $n->reload(http_config => http_config());
        act('zone resized to ' . zone_size());
    }
    $done{$a}++;
    act($a) unless $a =~ /^kill|^fill|^resize/;
}

my ($wrk_status, $stopping);
while (1) {
    if (waitpid($wrk, WNOHANG) == $wrk) {
        $wrk_status = $?;
        last;
    }
    if (!@todo && !$fill_fh && !$stopping && time - $t0 >= $secs) {
        kill 'INT', $wrk;
        $stopping = 1;
    }
    load_sealed();
    fill_stop() if $fill_fh && time > $fill_end;
    if (@when && time - $t0 >= $when[0]) {
        shift @when;
        my $a = shift @todo;
        do_action($a);
        # an action that could not be done now comes again at the end
        push @when, time - $t0 + 1 if @todo > @when;
    }
    sleep 0.05;
}
fill_stop() if $fill_fh;
act('load done');

is $wrk_status, 0, 'wrk ran until stopped';

# ---------------------------------------------------------------------
# stop, start again (recovers what a killed worker left), stop

$n->quit;
$n->start;
$n->quit;
load_sealed();
act('stopped');

# SOAK_TAMPER=1 proves the checks below can fail: one sealed file is
# lost, another one is there twice
if ($ENV{SOAK_TAMPER}) {
    my @f = sort glob "$loaded/*.mtspool";
    system('cp', $f[0], "$f[0].copy.mtspool");
    unlink $f[-1];
}

opendir my $dh, $spool or die;
my @left = grep { !/^\.\.?$/ } readdir $dh;
is_deeply \@left, [], 'nothing left in the spool directory (no .part)';

# ---------------------------------------------------------------------
# what was sent, what was answered

my (%sent, %answer);
for my $f (glob "$out/load-*.log") {
    open my $fh, '<', $f or die "$f: $!";
    while (<$fh>) {
        if (/^S (\S+)$/) {
            $sent{$1} = 1;
        } elsif (/^R (\S+) (\d+) (\S+)$/) {
            $answer{$1} = [$2, $3];
        }
    }
}

sub mids_of {
    my ($sid) = @_;
    return map { "$sid-$_" } 1 .. 5 if $sid =~ /^[sS]-/;
    return ($sid);
}

# ---------------------------------------------------------------------
# the spool

my %seen;
my $records = 0;
my $bad_spool = '';
{
    my $pid = open my $fh, '-|', $tool, 'spool', 'cat', $loaded
        or die "spool cat: $!";
    while (<$fh>) {
        $records++;
        if (/"mid":"([^"]+)"/) {
            $seen{$1}++;
        } else {
            $bad_spool .= $_;
        }
    }
    close $fh;
    is $?, 0, 'mail-track spool cat reads every sealed file whole';
}
is $bad_spool, '', 'every record has a mid';

my (%n, @missing, @dup, @phantom, @dup_answer);
my %kind_name = (o => 'pixels', s => 'sendgrid', S => 'sendgrid durable',
                 m => 'mailgun', M => 'mailgun durable');
for my $sid (keys %sent) {
    my $k = substr $sid, 0, 1;
    my @m = mids_of($sid);
    $n{sent}{$k} += @m;
    my $a = $answer{$sid};
    next unless $a;
    $n{answered}{$k} += @m;
    next unless $a->[0] == 200;
    if ($a->[1] eq 'duplicate') {
        push @dup_answer, $sid;
        next;
    }
    next unless $a->[1] eq 'accepted';
    $n{accepted}{$k} += @m;
    for my $mid (@m) {
        push @missing, $mid unless $seen{$mid};
    }
}
for my $mid (keys %seen) {
    (my $sid = $mid) =~ s/^([sS]-.*)-\d+$/$1/;
    my $k = substr $mid, 0, 1;
    $n{found}{$k}++;
    push @dup, "$mid ($seen{$mid} times)" if $seen{$mid} > 1;
    push @phantom, $mid unless $sent{$sid};
}

sub first { my @l = sort @_; @l > 20 ? (@l[0 .. 19], '...') : @l }

is scalar @missing, 0, 'every event answered 200 is in the spool'
    or diag "missing: @{[ first(@missing) ]}";
is scalar(grep { /^[SM]-/ } @missing), 0,
    'every durable event answered 200 is in the spool';
is scalar @dup, 0, 'no event is in the spool twice'
    or diag "twice: @{[ first(@dup) ]}";
is scalar @phantom, 0, 'no event in the spool that was not sent'
    or diag "not sent: @{[ first(@phantom) ]}";
is scalar @dup_answer, 0, 'no fresh event answered "duplicate"'
    or diag "duplicate: @{[ first(@dup_answer) ]}";

# ---------------------------------------------------------------------
# the error log

my @unexpected;
my %why;
for my $line (split /\n/, $n->error_log) {
    next unless $line =~ /\[(alert|crit|emerg)\]/;
    if ($line =~ /worker process (\d+) exited on signal 9\b/
        && $killed{$1})
    {
        $why{'killed worker'}++;
    } elsif ($line =~ /shared memory zone "soak" was locked by (\d+)/
             && $killed{$1})
    {
        $why{'lock of a killed worker'}++;
    } elsif ($line =~ /No space left on device/) {
        $why{'disk full'}++;
    } else {
        push @unexpected, $line;
    }
}
is scalar @unexpected, 0,
    'no alert, crit or emerg beyond those the soak caused'
    or diag join "\n", first(@unexpected);

# ---------------------------------------------------------------------
# the figures

my $dur = time - $t0;
my @kinds = qw(o s S m M);
my $fig = sprintf "soak: %d s, seed %s, %d connections\n", $dur, $seed,
    $conns;
$fig .= sprintf "  %-18s %9s %9s %9s %9s\n", 'events', 'sent',
    'answered', '200', 'in spool';
for my $k (@kinds) {
    $fig .= sprintf "  %-18s %9d %9d %9d %9d\n", $kind_name{$k},
        map { $n{$_}{$k} || 0 } qw(sent answered accepted found);
}
$fig .= sprintf "  %-18s %9d %9d %9d %9d\n", 'all',
    map { my $t = $_; my $s = 0; $s += $n{$t}{$_} || 0 for @kinds; $s }
        qw(sent answered accepted found);
$fig .= sprintf "  records %d in %d sealed files; missing %d, twice %d, "
    . "not sent %d\n", $records, $moved, scalar @missing, scalar @dup,
    scalar @phantom;
$fig .= sprintf "  reloads %d (and %d with the disk full), upgrades %d, "
    . "zone resizes %d, disk-full cycles %d\n",
    map { $done{$_} || 0 } qw(reload full-reload upgrade resize fill);
$fig .= sprintf "  kills: %d random, %d holding the flush role, "
    . "%d holding the zone lock (missed: flusher %d, lock %d)\n",
    $done{kill}, $done{'kill-flusher'}, $done{'kill-lock'},
    $missed{flusher} || 0, $missed{lock} || 0;
$fig .= sprintf "  expected alerts: %s\n",
    join(', ', map { "$why{$_} $_" } sort keys %why) || 'none';
$fig .= '  ' . join '', grep { /Requests\/sec|requests in|errors|Non-2xx/ }
    split /^/, `cat $out/wrk.out`;
print STDERR $fig;
if (my $f = $ENV{SOAK_FIGURES}) {
    open my $ff, '>', $f or die "$f: $!";
    print {$ff} $fig;
}

cmp_ok $done{reload}, '==', $plan{reloads}, "$plan{reloads} reloads";
cmp_ok $done{upgrade}, '==', $plan{upgrades}, "$plan{upgrades} upgrades";
cmp_ok $done{'kill-flusher'}, '>', 0, 'a flush-role holder was killed';
cmp_ok $done{'kill-lock'}, '>', 0, 'a zone-lock holder was killed';
cmp_ok $n{accepted}{$_} || 0, '>', 0, "some $kind_name{$_} answered 200"
    for @kinds;

done_testing;
