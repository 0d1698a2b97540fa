package MailTrack::Load;

# Helpers for the loader's tests: run mail-track (and spool-gen), query
# SQLite with the sqlite3 shell, PostgreSQL with psql and ClickHouse over
# HTTP, start and stop a PostgreSQL server and ClickHouse servers of our
# own (t/lib/pg-server.sh, t/lib/ch-server.sh), always stopped at the
# end, even when the test dies.

use strict;
use warnings;

use Exporter 'import';
use File::Temp qw(tempdir);
use FindBin;
use Cwd qw(abs_path);
use POSIX qw(:sys_wait_h);
use Time::HiRes ();
use Test::Nginx::Util qw(slurp spew);
use MailTrack::Msgpack qw(mp);

our @EXPORT = qw(tool run bg wait_err slurp spew sq pg_start pg_url pg_sql
                 pg_createdb ch_start ch_url ch_sql ch_https gen files_in
                 suppression_records $root $tmp);

our $root = abs_path("$FindBin::Bin/..");
our $tool = $ENV{MAIL_TRACK_TOOL} || "$root/build/mail-track";
our $gen = "$root/build/spool-gen";
our $tmp = tempdir('mail-track-load-XXXXXX', TMPDIR => 1, CLEANUP => 1);

chmod 0755, $tmp;

my @wrap = $ENV{TEST_NGINX_USE_VALGRIND}
    ? ('valgrind', '-q', '--error-exitcode=99', '--leak-check=full',
       '--errors-for-leak-kinds=definite,indirect')
    : ();

my ($pg_dir, $pg_port);

sub tool { $tool }

if ($> == 0) {
    system('cp', $tool, "$tmp/mail-track") == 0 && chmod 0755, "$tmp/mail-track"
        or die "cannot copy $tool";
}

# the sealed files of a directory, sorted
sub files_in {
    my ($d) = @_;
    opendir my $dh, $d or return ();
    my @f = sort grep { /\.mtspool$/ } readdir $dh;
    return wantarray ? @f : scalar @f;
}

my $seq = 0;

# mail-track ARGS: { rc, out, err }; { user => 'nobody' } first runs it so
sub run {
    my (@args) = @_;
    my $opts = ref $args[0] eq 'HASH' ? shift @args : {};
    my $pid = bg($opts, @args);
    waitpid $pid, 0;
    return collect($pid, $?);
}

# starts mail-track in the background; collect() after waitpid
sub bg {
    my (@args) = @_;
    my $opts = ref $args[0] eq 'HASH' ? shift @args : {};
    $seq++;
    my ($out, $err) = ("$tmp/.out$seq", "$tmp/.err$seq");

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out;
        open STDERR, '>', $err;
        my @cmd = (@wrap, $opts->{gen} ? $gen : $tool, @args);
        if ($opts->{user} && $> == 0) {
            # a copy another user can reach wherever the checkout is
            $cmd[@wrap] = "$tmp/mail-track";
            unshift @cmd, 'runuser', '-u', $opts->{user}, '--';
        }
        exec(@cmd) or POSIX::_exit(127);
    }

    $MailTrack::Load::files{$pid} = [$out, $err];
    return $pid;
}

our %files;

# waits until a background run's stderr matches (or the timeout)
sub wait_err {
    my ($pid, $re, $timeout) = @_;
    my $deadline = Time::HiRes::time() + ($timeout // 60);
    while (Time::HiRes::time() < $deadline) {
        return 1 if (slurp($files{$pid}[1]) // '') =~ $re;
        Time::HiRes::sleep(0.05);
    }
    return 0;
}

sub collect {
    my ($pid, $status) = @_;
    my ($out, $err) = @{ delete $files{$pid} };
    my $r = { rc => $status >> 8, sig => $status & 127,
              out => slurp($out) // '', err => slurp($err) // '' };
    unlink $out, $err;
    return $r;
}

# spool-gen DIR EVENTS ...
sub gen {
    my (@args) = @_;
    system($gen, @args) == 0 or die "spool-gen @args failed";
}

# one value (or the rows, tab-separated) from SQLite
sub sq {
    my ($db, $sql) = @_;
    open my $fh, '-|', 'sqlite3', '-cmd', '.timeout 10000', '-separator', "\t", $db, $sql
        or die "sqlite3: $!";
    local $/;
    my $s = <$fh>;
    close $fh;
    $s = '' unless defined $s;
    $s =~ s/\n\z//;
    return $s;
}

sub pg_start {
    return $pg_port if $pg_port;
    $pg_dir = tempdir('mail-track-pg-XXXXXX', TMPDIR => 1);
    chmod 0755, $pg_dir;
    $pg_port = `$root/t/lib/pg-server.sh start $pg_dir`;
    die "PostgreSQL did not start\n" unless $? == 0 && $pg_port =~ /^\d+$/;
    chomp $pg_port;
    $ENV{PGPASSWORD} = 'mt-secret';
    return $pg_port;
}

sub pg_stop {
    return unless $pg_dir;
    system("$root/t/lib/pg-server.sh", 'stop', $pg_dir);
    system('rm', '-rf', $pg_dir);
    undef $pg_dir;
}

sub pg_url {
    my ($db, %o) = @_;
    my $pw = exists $o{password} ? $o{password} : 'mt-secret';
    return "postgresql://mt:$pw\@127.0.0.1:$pg_port/$db";
}

sub pg_sql {
    my ($db, $sql) = @_;
    open my $fh, '-|', 'psql', '-X', '-q', '-A', '-t', '-F', "\t",
        '-h', '127.0.0.1', '-p', $pg_port, '-U', 'mt', '-d', $db,
        '-v', 'ON_ERROR_STOP=1', '-c', $sql
        or die "psql: $!";
    local $/;
    my $s = <$fh>;
    close $fh;
    die "psql failed: $sql\n" if $?;
    $s = '' unless defined $s;
    $s =~ s/\n\z//;
    return $s;
}

sub pg_createdb {
    my ($db) = @_;
    pg_sql('postgres', "CREATE DATABASE $db");
}

# records that suppress, or not: soft@example.com bounces soft 3 times in
# 3 days (3/7d suppresses it), twice@example.com twice 30 days apart (it
# does not), hard@example.com bounces hard, then complains
sub suppression_records {
    my @r;
    for my $i (0 .. 2) {
        push @r, mp([v => 1, id => "sb$i", ts => 1764000000000 + $i * 86400000,
                     rt => 1764000000000, src => 'sendgrid', type => 'bounced',
                     mid => "m-s$i", rcpt => 'Soft@Example.COM', bounce => 'soft']);
    }
    push @r, mp([v => 1, id => 'sb9', ts => 1764000000000, rt => 1764000000000,
                 src => 'ses', type => 'bounced', mid => 'm-t',
                 rcpt => 'twice@example.com', bounce => 'soft']);
    push @r, mp([v => 1, id => 'sb10', ts => 1764000000000 + 30 * 86400000,
                 rt => 1764000000000, src => 'ses', type => 'bounced',
                 mid => 'm-t2', rcpt => 'twice@example.com', bounce => 'soft']);
    push @r, mp([v => 1, id => 'hb1', ts => 1764000000005, rt => 1764000000005,
                 src => 'mailgun', type => 'bounced', mid => 'm-h',
                 rcpt => 'Name <Hard@Example.com>', bounce => 'hard']);
    push @r, mp([v => 1, id => 'cp1', ts => 1764000000009, rt => 1764000000009,
                 src => 'postmark', type => 'complained', mid => 'm-h',
                 rcpt => 'hard@example.com']);
    return @r;
}

# N ClickHouse servers (default 2), the shards of the cluster "mt_test":
# their HTTP ports
my ($ch_dir, @ch_ports);

sub ch_start {
    my ($n) = @_;
    return @ch_ports if @ch_ports;
    $ch_dir = tempdir('mail-track-ch-XXXXXX', TMPDIR => 1);
    chmod 0755, $ch_dir;
    my $out = `$root/t/lib/ch-server.sh start $ch_dir @{[$n // 2]}`;
    die "ClickHouse did not start\n" unless $? == 0;
    @ch_ports = grep { /^\d+$/ } split /\n/, $out;
    return @ch_ports;
}

# server i's HTTPS port (from 1), and the CA file that trusts it
sub ch_https {
    my ($i) = @_;
    my $p = slurp("$ch_dir/$i/https_port");
    chomp $p;
    return ($p, "$ch_dir/ca.crt");
}

sub ch_stop {
    return unless $ch_dir;
    system("$root/t/lib/ch-server.sh", 'stop', $ch_dir);
    system('rm', '-rf', $ch_dir);
    undef $ch_dir;
}

# clickhouse://default:mt-secret@127.0.0.1:PORT[,...]/DB
sub ch_url {
    my ($db, %o) = @_;
    my $pw = exists $o{password} ? $o{password} : 'mt-secret';
    my $user = $o{user} // 'default';
    my @p = $o{ports} ? @{ $o{ports} } : ($ch_ports[0]);
    my $auth = $o{nouser} ? '' : "$user:$pw\@";
    return "clickhouse://$auth" . join(',', map { "127.0.0.1:$_" } @p) . "/$db";
}

# a statement on a server (the first unless port =>): its TSV, chomped
sub ch_sql {
    my ($db, $sql, %o) = @_;
    my $port = $o{port} // $ch_ports[0];
    require HTTP::Tiny;
    my $r = HTTP::Tiny->new(timeout => 60)->post(
        "http://127.0.0.1:$port/?database=$db",
        { content => $sql,
          headers => { Authorization => 'Basic ZGVmYXVsdDptdC1zZWNyZXQ=' } });
    die "ClickHouse: $r->{status} $r->{content}: $sql\n" unless $r->{success};
    my $s = $r->{content};
    $s =~ s/\n\z//;
    return $s;
}

# stopped whatever happens to the test
END { pg_stop(); ch_stop() }
$SIG{INT} = $SIG{TERM} = sub { pg_stop(); ch_stop(); exit 1 };

1;
