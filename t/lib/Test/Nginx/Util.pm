package Test::Nginx::Util;

# Shared plumbing for our small Test::Nginx::Socket clone and for
# MailTrack::Test: nginx.conf generation, nginx process control, port
# reservation and a raw HTTP/1.x client.  No TAP output is produced here.

use strict;
use warnings;

use Exporter 'import';
use Digest::SHA ();
use Fcntl qw(:flock);
use File::Path qw(make_path remove_tree);
use File::Spec ();
use IO::Select ();
use IO::Socket::INET ();
use POSIX qw(:sys_wait_h EAGAIN EINTR);
use Time::HiRes qw(sleep time);

our @EXPORT_OK = qw(
    gen_conf expand_env reserve_port lock_port claim_servroot name_hash
    http_exchange
    parse_response build_request header_value is_running child_pids
    slurp spew parse_time run_cmd nginx_version
);

our $NginxBinary = $ENV{TEST_NGINX_BINARY} || '/usr/sbin/nginx';
our $Poll        = 0.01;    # polling step for process/port waits

# ---------------------------------------------------------------------
# small helpers

sub slurp {
    my ($file) = @_;
    open my $fh, '<', $file or return undef;
    binmode $fh;
    local $/;
    my $data = <$fh>;
    return defined $data ? $data : '';
}

sub spew {
    my ($file, $data, $mode) = @_;
    if ($file =~ m{^(.*)/[^/]+$} && length $1 && !-d $1) {
        make_path($1);
    }
    open my $fh, '>', $file or die "cannot write $file: $!\n";
    binmode $fh;
    print {$fh} (defined $data ? $data : '');
    close $fh or die "cannot close $file: $!\n";
    chmod $mode, $file if defined $mode;
    return $file;
}

sub name_hash {
    my ($str) = @_;
    return unpack 'N', Digest::SHA::sha1($str);
}

# "1.5", "500ms", "2s" -> seconds
sub parse_time {
    my ($t) = @_;
    return undef unless defined $t;
    $t =~ s/^\s+|\s+$//g;
    return $1 / 1000 if $t =~ /^([\d.]+)ms$/;
    return $1 if $t =~ /^([\d.]+)s?$/;
    return $t;
}

# Replace $TEST_NGINX_FOO by $ENV{TEST_NGINX_FOO}; dies when unset.
sub expand_env {
    my ($text, $what) = @_;
    return $text unless defined $text;
    $text =~ s{\$(TEST_NGINX_[_A-Z0-9]+)}{
        defined $ENV{$1} ? $ENV{$1}
            : die(($what ? "$what - " : '')
                  . "environment variable $1 is not defined\n")
    }ge;
    return $text;
}

# Run a command, return ($wait_status, $combined_output).
sub run_cmd {
    my (@cmd) = @_;
    my $pid = open(my $fh, '-|');
    die "fork failed: $!\n" unless defined $pid;
    if (!$pid) {
        open STDERR, '>&', \*STDOUT;
        exec { $cmd[0] } @cmd or do {
            print "cannot exec $cmd[0]: $!\n";
            POSIX::_exit(127);
        };
    }
    local $/;
    my $out = <$fh>;
    close $fh;
    return ($?, defined $out ? $out : '');
}

my $NginxVersion;

# nginx version as a comparable number: 1.22.1 -> 1.022001
sub nginx_version {
    return $NginxVersion if defined $NginxVersion;
    my (undef, $out) = run_cmd($NginxBinary, '-v');
    $NginxVersion = $out =~ m{/(\d+)\.(\d+)\.(\d+)}
        ? sprintf('%d.%03d%03d', $1, $2, $3) : 0;
    return $NginxVersion;
}

# ---------------------------------------------------------------------
# processes

sub is_running {
    my ($pid) = @_;
    return 0 unless $pid && kill 0, $pid;
    if (open my $fh, '<', "/proc/$pid/stat") {
        my $stat = <$fh>;
        return 0 if defined $stat && $stat =~ /\)\s+[ZX]\s/;
    }
    return 1;
}

# Direct children of $ppid (nginx workers of a master), from /proc.
sub child_pids {
    my ($ppid) = @_;
    my @kids;
    opendir my $dh, '/proc' or return ();
    for my $pid (grep { /^\d+$/ } readdir $dh) {
        open my $fh, '<', "/proc/$pid/stat" or next;
        my $stat = <$fh>;
        next unless defined $stat;
        my $rest = substr $stat, rindex($stat, ')') + 2;
        my ($state, $parent) = split ' ', $rest;
        push @kids, $pid if $parent == $ppid && $state !~ /^[ZX]$/;
    }
    @kids = sort { $a <=> $b } @kids;
    return @kids;
}

# ---------------------------------------------------------------------
# ports

my %Locks;    # lock file => handle, held for the life of the process

sub _lock_file {
    my ($file, $wait) = @_;
    return 1 if $Locks{$file};
    open my $fh, '>>', $file or return 0;
    if (!flock $fh, LOCK_EX | ($wait ? 0 : LOCK_NB)) {
        close $fh;
        return 0;
    }
    $Locks{$file} = $fh;
    return 1;
}

sub _unlock_file {
    my ($file) = @_;
    close delete $Locks{$file} if $Locks{$file};
}

sub _port_lock_file {
    my ($port) = @_;
    return File::Spec->catfile(File::Spec->tmpdir,
                               "test-nginx-port-$port.lock");
}

# Claim a port chosen by the user: wait while another test process
# holds it, so that runs sharing TEST_NGINX_PORT take turns.
sub lock_port {
    my ($port) = @_;
    _lock_file(_port_lock_file($port), 1);
    return $port;
}

# Claim a servroot directory for this process (lock file DIR/.lock).
# With $wait, wait for other holders; otherwise fall back to DIR-2,
# DIR-3, ... so that one test file can run twice at the same time.
sub claim_servroot {
    my ($dir, $wait) = @_;
    for my $i (1 .. 100) {
        my $d = $i == 1 ? $dir : "$dir-$i";
        make_path($d);
        return $d if _lock_file("$d/.lock", $wait);
    }
    die "cannot claim a servroot like $dir\n";
}

sub _port_is_free {
    my ($port) = @_;
    my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                  LocalPort => $port, Proto => 'tcp',
                                  ReuseAddr => 1, Listen => 1)
        or return 0;
    close $s;
    return 1;
}

# Reserve a TCP port for this process: the first free one from $start
# on (a lock file in the temp dir keeps parallel test files apart), or
# one picked by the kernel when $start is undef.
sub reserve_port {
    my ($start) = @_;
    if (!defined $start) {
        for (1 .. 50) {
            my $s = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                          LocalPort => 0, Proto => 'tcp',
                                          Listen => 1) or next;
            my $port = $s->sockport;
            close $s;
            return $port if _lock_file(_port_lock_file($port));
        }
        die "cannot find a free TCP port\n";
    }
    for my $port ($start .. $start + 500) {
        last if $port > 65535;
        my $lock = _port_lock_file($port);
        next unless _lock_file($lock);
        return $port if _port_is_free($port);
        _unlock_file($lock);
    }
    die "cannot find a free TCP port from $start on\n";
}

# True when something listens on 127.0.0.1:$port or *:$port.
# Returns undef when /proc/net/tcp cannot be read.
sub _port_listening {
    my ($port) = @_;
    my $hex = sprintf ':%04X', $port;
    my $seen;
    for my $f ('/proc/net/tcp', '/proc/net/tcp6') {
        open my $fh, '<', $f or next;
        $seen = 1;
        while (<$fh>) {
            my (undef, $local, undef, $st) = split ' ';
            return 1 if defined $st && $st eq '0A'
                && substr($local, -5) eq $hex;
        }
    }
    return $seen ? 0 : undef;
}

# ---------------------------------------------------------------------
# nginx.conf

# gen_conf(servroot => DIR, port => N, plus optional: load_modules
# [paths], daemon, master, workers, worker_connections, log_level, env
# [names], main_config, post_main_config, http_config, config, preamble,
# server_name, no_root_location).
sub gen_conf {
    my (%c) = @_;
    my $sr   = $c{servroot} or die "gen_conf: no servroot\n";
    my $main = defined $c{main_config} ? $c{main_config} : '';
    my $http = defined $c{http_config} ? $c{http_config} : '';
    my $conf = '';

    $conf .= "load_module $_;\n" for @{ $c{load_modules} || [] };
    $conf .= "daemon " . ($c{daemon} || 'on') . ";\n";
    $conf .= "master_process " . ($c{master} || 'off') . ";\n";
    $conf .= "worker_processes " . ($c{workers} || 1) . ";\n";
    $conf .= "error_log logs/error.log " . ($c{log_level} || 'debug')
           . ";\n";
    $conf .= "pid logs/nginx.pid;\n";
    if ($> == 0 && $main !~ /^\s*user\s/m) {
        $conf .= "user root root;\n";
    }
    for my $v (@{ $c{env} || [] }) {
        $conf .= "env $v;\n";
    }
    $conf .= "\n$main\n\n";
    $conf .= "events {\n    accept_mutex off;\n    worker_connections "
           . ($c{worker_connections} || 64) . ";\n}\n\n";

    $conf .= "http {\n    access_log logs/access.log;\n"
           . "    default_type text/plain;\n    keepalive_timeout 68;\n";
    for my $t (qw(client_body proxy fastcgi uwsgi scgi)) {
        next if $http =~ /\b${t}_temp_path\b/;
        $conf .= "    ${t}_temp_path $sr/${t}_temp;\n";
    }
    $conf .= "\n$http\n\n";

    my $sname = defined $c{server_name} ? $c{server_name} : 'localhost';
    $conf .= "    server {\n        listen 127.0.0.1:$c{port};\n"
           . "        server_name '$sname';\n"
           . "        client_max_body_size 30M;\n\n";
    $conf .= "$c{preamble}\n" if defined $c{preamble} && length $c{preamble};
    $conf .= (defined $c{config} ? $c{config} : '') . "\n";
    if (!$c{no_root_location}) {
        $conf .= "        location / {\n            root $sr/html;\n"
               . "            index index.html index.htm;\n        }\n";
    }
    $conf .= "    }\n}\n";
    $conf .= "\n$c{post_main_config}\n" if defined $c{post_main_config};
    return $conf;
}

# ---------------------------------------------------------------------
# HTTP client

# Build request bytes from Test::Nginx's short form: first line
# "METHOD [URI [PROTOCOL]]", the rest is the body.  Returns
# ($bytes, $method).
sub build_request {
    my (%a) = @_;
    my $req = defined $a{request} ? $a{request} : '';
    1 while $req =~ s/\A[ \t]*#[^\n]*\n// || $req =~ s/\A\s+//;
    my ($first, $body) = split /\n/, $req, 2;
    $first = '' unless defined $first;
    $first =~ s/\r$//;
    my ($method, $uri, $proto) = split ' ', $first;
    die "invalid request line \"$first\"\n" unless defined $method;
    $uri   = '/'        unless defined $uri;
    $proto = 'HTTP/1.1' unless defined $proto;
    $body  = ''         unless defined $body;

    my (@hdrs, $chunked);
    my $more = defined $a{more_headers} ? $a{more_headers} : '';
    for my $line (split /\n+/, $more) {
        $line =~ s/\r$//;
        next if $line =~ /^\s*#/ || $line !~ /\S/;
        my ($k, $v) = split /:\s*/, $line, 2;
        $v = '' unless defined $v;
        $chunked = 1 if lc $k eq 'transfer-encoding' && $v =~ /chunked/i;
        push @hdrs, "$k: $v";
    }
    my $has = sub { my $n = shift; grep { /^\Q$n\E\s*:/i } @hdrs };

    my $out = "$method $uri $proto\r\n";
    $out .= "Host: " . ($a{host} || 'localhost') . "\r\n"
        unless $has->('Host');
    $out .= "Connection: " . ($a{connection} || 'close') . "\r\n"
        unless $has->('Connection');
    $out .= "$_\r\n" for @hdrs;
    if (!$chunked && length $body && !$has->('Content-Length')) {
        $body =~ s/^\s+|\s+$//gs;
        $out .= 'Content-Length: ' . length($body) . "\r\n";
    }
    return ($out . "\r\n" . $body, $method);
}

sub header_value {
    my ($res, $name) = @_;
    return undef unless $res && $res->{headers};
    my @v = map { $_->[1] } grep { lc $_->[0] eq lc $name }
        @{ $res->{headers} };
    return @v ? join(', ', @v) : undef;
}

# Parse one response off the front of $raw.  Returns ($res, $rest).
# $res: status, protocol, reason, headers [[name, value], ...],
# raw_headers, body, complete (0 when more bytes are needed or the body
# is delimited by EOF), error (malformed chunked data).
sub parse_response {
    my ($raw, $is_head) = @_;
    my $res = { headers => [], body => '', raw_headers => '',
                complete => 0 };
    my $end = index $raw, "\r\n\r\n";
    if ($end < 0) {
        $res->{raw_headers} = $raw;
        _parse_head($res, $raw);
        return ($res, '');
    }
    my $head = substr $raw, 0, $end + 2;
    my $rest = substr $raw, $end + 4;
    $res->{raw_headers} = $head;
    _parse_head($res, $head);

    my $code = $res->{status} || 0;
    if ($is_head || $code == 204 || $code == 304
        || ($code >= 100 && $code < 200))
    {
        $res->{complete} = 1;
        return ($res, $rest);
    }

    my $te = header_value($res, 'Transfer-Encoding');
    my $cl = header_value($res, 'Content-Length');
    if (defined $te && $te =~ /chunked/i) {
        return _parse_chunked($res, $rest);
    }
    if (defined $cl && $cl =~ /^\s*(\d+)/) {
        my $len = $1;
        if (length $rest >= $len) {
            $res->{body} = substr $rest, 0, $len;
            $res->{complete} = 1;
            return ($res, substr $rest, $len);
        }
        $res->{body} = $rest;
        $res->{truncated} = 1;
        return ($res, '');
    }
    $res->{body} = $rest;    # delimited by EOF
    return ($res, '');
}

sub _parse_head {
    my ($res, $head) = @_;
    my ($status_line, @lines) = split /\r\n/, $head;
    return unless defined $status_line;
    if ($status_line =~ m{^(HTTP/\d+(?:\.\d+)?)\s+(\d{3})(?:\s+(.*))?}) {
        @$res{qw(protocol status reason)} = ($1, $2, $3);
    }
    for my $line (@lines) {
        my ($k, $v) = split /:[ \t]*/, $line, 2;
        next unless defined $k && length $k;
        $v = '' unless defined $v;
        $v =~ s/\s+$//;
        push @{ $res->{headers} }, [$k, $v];
    }
}

sub _parse_chunked {
    my ($res, $raw) = @_;
    my ($pos, $body) = (0, '');
    while (1) {
        my $nl = index $raw, "\r\n", $pos;
        last if $nl < 0;
        my $line = substr $raw, $pos, $nl - $pos;
        if ($line !~ /^\s*([0-9a-fA-F]+)\s*(?:;.*)?$/) {
            $res->{error} = "invalid chunk size line \"$line\"";
            last;
        }
        my $size = hex $1;
        my $p = $nl + 2;
        if ($size == 0) {    # last chunk, then trailers up to CRLF
            while (1) {
                my $e = index $raw, "\r\n", $p;
                last if $e < 0;
                if ($e == $p) {
                    $res->{body} = $body;
                    $res->{complete} = 1;
                    return ($res, substr $raw, $e + 2);
                }
                $p = $e + 2;
            }
            last;
        }
        last if length($raw) < $p + $size + 2;
        $body .= substr $raw, $p, $size;
        $p += $size;
        if (substr($raw, $p, 2) ne "\r\n") {
            $res->{error} = 'invalid chunked data (CRLF expected)';
            last;
        }
        $pos = $p + 2;
    }
    $res->{body} = $body;
    return ($res, '');
}

sub _count_complete {
    my ($raw, $heads) = @_;
    my $n = 0;
    while (length $raw) {
        my ($res, $rest) = parse_response($raw, $heads->[$n]);
        last unless $res->{complete};
        $n++;
        $raw = $rest;
    }
    return $n;
}

# Send bytes (a string or an array of packets) to 127.0.0.1:port and
# read the reply until EOF, or until `expect` complete responses have
# arrived (so keep-alive connections do not hang).  Arguments: port,
# data, host, timeout (seconds of inactivity, default 3), delay
# (between packets), expect, heads (per response: was it a HEAD
# request).  Returns { raw, eof, timed_out, error }.
sub http_exchange {
    my (%a) = @_;
    local $SIG{PIPE} = 'IGNORE';
    my $timeout  = defined $a{timeout} ? $a{timeout} : 3;
    my $host     = $a{host} || '127.0.0.1';
    my @packets  = ref $a{data} ? @{ $a{data} } : ($a{data});
    my $deadline = time + ($timeout < 1 ? $timeout : 1);  # for connect
    my $ret      = { raw => '' };

    my $sock;
    while (1) {
        $sock = IO::Socket::INET->new(PeerAddr => $host,
                                      PeerPort => $a{port},
                                      Proto => 'tcp', Timeout => $timeout);
        last if $sock;
        if (time > $deadline) {
            $ret->{error} = "cannot connect to $host:$a{port}: $!";
            return $ret;
        }
        sleep $Poll;
    }
    $sock->blocking(0);

    my $out = shift @packets;
    $out = '' unless defined $out;
    my $sel = IO::Select->new($sock);
    while (1) {
        if (!length $out && @packets) {
            sleep $a{delay} if $a{delay};
            $out = shift @packets;
            $out = '' unless defined $out;
            next;
        }
        my @ready = IO::Select->select($sel, length $out ? $sel : undef,
                                       undef, $timeout);
        if (!@ready) {
            next if $!{EINTR};
            $ret->{timed_out} = 1;
            last;
        }
        my ($r, $w) = @ready;
        if ($w && @$w) {
            my $n = syswrite $sock, $out;
            if (defined $n) {
                substr($out, 0, $n, '');
            } elsif ($! != EAGAIN) {
                $ret->{error} = "write failed: $!";
                ($out, @packets) = ('');
            }
        }
        if ($r && @$r) {
            my $n = sysread $sock, my $buf, 65536;
            if (!defined $n) {
                next if $! == EAGAIN || $! == EINTR;
                $ret->{error} = "read failed: $!";
                $ret->{eof} = 1;
                last;
            }
            if ($n == 0) {
                $ret->{eof} = 1;
                last;
            }
            $ret->{raw} .= $buf;
            if ($a{expect} && !length $out && !@packets
                && _count_complete($ret->{raw}, $a{heads} || [])
                    >= $a{expect})
            {
                last;
            }
        }
    }
    close $sock;
    return $ret;
}

# ---------------------------------------------------------------------
# Test::Nginx::Util::Server: one servroot and the nginx running in it.

package Test::Nginx::Util::Server;

use strict;
use warnings;

use File::Path qw(make_path remove_tree);
use File::Spec ();
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

for my $f (qw(slurp spew is_running child_pids run_cmd)) {
    no strict 'refs';
    *$f = \&{"Test::Nginx::Util::$f"};
}

# new(servroot => DIR, port => N, binary => PATH, valgrind => OPTS,
#     wrap => [command prefix for a daemonised start],
#     env => {environment of nginx}, signal_env => {that of nginx -s})
sub new {
    my ($class, %a) = @_;
    my $self = bless { %a }, $class;
    $self->{binary} ||= $Test::Nginx::Util::NginxBinary;
    $self->{servroot} = File::Spec->rel2abs($self->{servroot});
    $self->{servroot} =~ s{/+$}{};
    return $self;
}

sub servroot   { $_[0]{servroot} }
sub port       { $_[0]{port} }
sub html_dir   { "$_[0]{servroot}/html" }
sub log_dir    { "$_[0]{servroot}/logs" }
sub conf_file  { "$_[0]{servroot}/conf/nginx.conf" }
sub pid_file   { "$_[0]{servroot}/logs/nginx.pid" }
sub error_log_file  { "$_[0]{servroot}/logs/error.log" }
sub stderr_file     { "$_[0]{servroot}/logs/stderr.log" }
sub valgrind_file   { "$_[0]{servroot}/logs/valgrind.log" }

sub read_pid {
    my ($self) = @_;
    my $pid = slurp($self->pid_file);
    return undef unless defined $pid && $pid =~ /^\s*(\d+)/;
    return $1;
}

sub master_pid {
    my ($self) = @_;
    my $pid = $self->{pid} || $self->read_pid;
    return $pid && is_running($pid) ? $pid : undef;
}

sub running { defined $_[0]->master_pid }

# Create the directory tree.  With wipe => 1, remove what a previous
# run left (conf, html, logs, temp dirs) first, like the real
# Test::Nginx does for every block; other files are left alone.
sub prepare {
    my ($self, %o) = @_;
    my $sr = $self->{servroot};
    $self->kill_stale;
    if ($o{wipe} && -d $sr) {
        remove_tree(map { "$sr/$_" } qw(conf html logs),
                    glob("$sr/*_temp"));
    }
    make_path(map { "$sr/$_" } qw(conf html logs),
              map { "${_}_temp" } qw(client_body proxy fastcgi uwsgi scgi));
    my $index = $self->html_dir . '/index.html';
    spew($index, '<html><head><title>It works!</title></head>'
                 . '<body>It works!</body></html>') unless -e $index;
}

# An nginx left running in this servroot by an aborted earlier run.
sub kill_stale {
    my ($self) = @_;
    return if $self->{pid} || $self->{checked_stale}++;
    my $pid = $self->read_pid or return;
    return unless is_running($pid);
    my $cmd = slurp("/proc/$pid/cmdline");
    return unless defined $cmd && $cmd =~ /nginx|valgrind/;
    $self->{pid} = $pid;
    $self->stop(signal => 'TERM');
}

sub write_conf {
    my ($self, $text) = @_;
    spew($self->conf_file, $text);
}

sub _cmd {
    my ($self, @extra) = @_;
    return ($self->{binary}, '-p', "$self->{servroot}/",
            '-c', $self->conf_file, @extra);
}

# The valgrind command line: OPTS is "1" or extra valgrind options;
# LOG may hold %p (one file per process).
sub valgrind_cmd {
    my ($opts, $log) = @_;
    my @vg = ('valgrind', '-q', '--leak-check=full',
              '--errors-for-leak-kinds=definite',
              '--show-possibly-lost=no', '--error-exitcode=99',
              '--num-callers=50', "--log-file=$log");
    (my $own = $INC{'Test/Nginx/Util.pm'})
        =~ s{Util\.pm$}{valgrind.suppress};
    push @vg, "--suppressions=$_"
        for grep { -f } $own, 'valgrind.suppress';
    push @vg, split ' ', $opts if $opts !~ /^\d+$/;
    return @vg;
}

# What in a valgrind log is a failure.
sub valgrind_bad {
    my ($log) = @_;
    return $log =~ /\b(?:Invalid (?:read|write|free)|uninitialised
                      |definitely\ lost|Mismatched\ free|Syscall\ param
                      |Source\ and\ destination\ overlap
                      |Process\ terminating)\b/x;
}

# TEST_NGINX_USE_ASAN: the module is built with -fsanitize=address,
# undefined.  The environment for every nginx process: ASan's reports go
# to DIR/asan.<pid>, the first error ends the process (exit code 99),
# leaks are looked for when a process exits.  UBSan (gcc's, next to ASan)
# always writes to stderr, which nginx sends to its error log.  An nginx
# binary without libasan (Debian's) gets it through LD_PRELOAD: the value
# of TEST_NGINX_USE_ASAN when it names a file, else gcc's libasan.so.
# no_leaks => 1: for a process that does not end cleanly by design (nginx
# -s, a refused configuration): stock nginx leaves its start-up pool.
my $AsanLib;

sub asan_env {
    my ($use, $dir, %o) = @_;
    my $lsan = $INC{'Test/Nginx/Util.pm'};
    $lsan =~ s{Util\.pm$}{lsan.suppress};
    my %env = (
        ASAN_OPTIONS => join(':', grep { length }
            $ENV{ASAN_OPTIONS} || '',
            "log_path=$dir/asan", 'halt_on_error=1', 'exitcode=99',
            'detect_leaks=' . ($o{no_leaks} ? 0 : 1),
            # nginx has no frame pointers: full stacks need the slow
            # unwinder, or a leak's stack ends at ngx_alloc
            'fast_unwind_on_malloc=0'),
        LSAN_OPTIONS => join(':', grep { length }
            $ENV{LSAN_OPTIONS} || '', "suppressions=$lsan"),
        UBSAN_OPTIONS => join(':', grep { length }
            $ENV{UBSAN_OPTIONS} || '', 'halt_on_error=1',
            'print_stacktrace=1'),
    );
    $AsanLib = _asan_lib($use) unless defined $AsanLib;
    # the modules too: nginx unloads them as a process exits, and a leak
    # in a module that is gone would be reported without its stack
    my @pre = grep { length } $AsanLib,
        split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
    $env{LD_PRELOAD} = join ' ', @pre if @pre;
    return \%env;
}

sub _asan_lib {
    my ($use) = @_;
    return $use if $use =~ m{/};
    my (undef, $ldd) = run_cmd('ldd', $Test::Nginx::Util::NginxBinary);
    return '' if $ldd =~ /libasan/;
    my (undef, $lib) = run_cmd($ENV{CC} || 'gcc',
                               '-print-file-name=libasan.so');
    chomp $lib;
    die "TEST_NGINX_USE_ASAN: no libasan.so to preload\n"
        unless $lib =~ m{^/} && -e $lib;
    return $lib;
}

# What in a sanitizer's report is a failure: any ASan or UBSan error, and
# a direct leak.  A report of indirect leaks alone is stock nginx's worker
# exit (the connections and events of ngx_event_process_init point at
# each other once the cycle pool is gone); valgrind's
# --errors-for-leak-kinds=definite leaves those out too.
sub asan_bad {
    my ($log) = @_;
    # nginx's start-up pool, made in main() and left when the
    # configuration is refused: this exact stack and no other
    my $pool = join '', map { ".*\\b$_\\b.*\\n" }
        qw(__interceptor_posix_memalign ngx_memalign ngx_create_pool),
        'in main', '__libc_start_call_main', '__libc_start_main_impl',
        'in _start';
    $log =~ s/^Direct leak of 1024 byte.*\n$pool//mg;
    return $log =~ /ERROR: (?:AddressSanitizer|UndefinedBehaviorSanitizer)/
        || $log =~ /^\S+:\d+:\d+: runtime error: /m
        || $log =~ /^Direct leak of/m
        || $log =~ /ERROR: LeakSanitizer: (?!detected memory leaks)/;
}

# The failing reports not looked at before: ASan's files in DIR (renamed
# *.seen once read) and UBSan's lines in the LOGS (error.log, stderr),
# each with the stack printed under it.
sub asan_reports {
    my ($dir, @logs) = @_;
    my $out = '';
    for my $f (sort glob("$dir/asan.*")) {
        next if $f =~ /\.seen$/;
        my $log = slurp($f);
        rename $f, "$f.seen";
        next unless defined $log && asan_bad($log);
        $out .= "== $f\n$log";
    }
    for my $f (@logs) {
        my $log = slurp($f);
        next unless defined $log;
        my $start = qr/\S+:\d+:\d+: runtime error: |==\d+==ERROR: /;
        while ($log =~ /^((?:$start).*\n(?:[ \t0].*\n){0,40})/mg) {
            $out .= "== $f\n$1";
        }
    }
    return $out;
}

# Start nginx.  Returns (1) or (0, $reason, $exit_code).
# Daemonised by default: the launcher's exit status tells whether the
# configuration was accepted.  With valgrind, nginx runs in the
# foreground as our child (the conf must say "daemon off").
sub start {
    my ($self) = @_;
    my @cmd = $self->_cmd;
    my $fg  = $self->{valgrind};
    if ($fg) {
        unshift @cmd, valgrind_cmd($fg, $self->valgrind_file);
    } elsif ($self->{wrap}) {
        unshift @cmd, @{ $self->{wrap} };
    }
    unlink $self->pid_file;
    delete @$self{qw(pid child exit_status)};

    my $pid = fork;
    return (0, "fork failed: $!") unless defined $pid;
    if (!$pid) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', '/dev/null';
        open STDERR, '>>', $self->stderr_file;
        @ENV{ keys %{ $self->{env} } } = values %{ $self->{env} }
            if $self->{env};
        exec { $cmd[0] } @cmd or do {
            print STDERR "cannot exec $cmd[0]: $!\n";
            POSIX::_exit(127);
        };
    }

    my $deadline = time + ($fg || $self->{wrap} ? 60 : 10);
    if (!$fg) {
        my $st = _wait_pid($pid, $deadline);
        if (!defined $st) {
            kill 'KILL', $pid;
            waitpid $pid, 0;
            return (0, 'nginx did not return from daemonising');
        }
        return (0, "nginx exited with status " . ($st >> 8), $st >> 8)
            if $st != 0;
    } else {
        $self->{child} = $pid;
    }

    # The pid file appears after the listening sockets are open.
    my $step = 0.002;
    while (1) {
        my $mp = $self->read_pid;
        if ($mp && is_running($mp)) {
            $self->{pid} = $mp;
            last;
        }
        if ($fg && waitpid($pid, WNOHANG) == $pid) {
            $self->{exit_status} = $?;
            delete $self->{child};
            return (0, "nginx exited with status " . ($? >> 8), $? >> 8);
        }
        return (0, 'nginx did not write its pid file') if time > $deadline;
        sleep $step;
        $step = $Test::Nginx::Util::Poll;
    }
    if (defined $self->{port}) {
        while (!Test::Nginx::Util::_port_listening($self->{port})) {
            if (time > $deadline) {
                $self->stop(signal => 'KILL');
                return (0, "nginx does not listen on port $self->{port}");
            }
            sleep $Test::Nginx::Util::Poll;
        }
    }
    return (1);
}

sub _wait_pid {
    my ($pid, $deadline) = @_;
    my $step = 0.001;
    while (1) {
        my $r = waitpid $pid, WNOHANG;
        return $? if $r == $pid;
        return 0 if $r < 0;
        return undef if time > $deadline;
        sleep $step;
        $step = $Test::Nginx::Util::Poll if ($step *= 2) > 0.01;
    }
}

# Stop nginx (master and workers).  signal: QUIT (graceful, default),
# TERM or KILL; after `timeout` seconds (default 5) everything left is
# killed.  Returns true when nginx stopped without SIGKILL.
sub stop {
    my ($self, %o) = @_;
    my $sig     = $o{signal}  || 'QUIT';
    my $timeout = $o{timeout} || ($self->{child} ? 60 : 5);
    my $pid     = $self->{pid} || $self->read_pid;
    my $child   = $self->{child};
    my $clean   = 1;

    if ($pid && is_running($pid)) {
        my @procs = ($pid, child_pids($pid));
        kill $sig, $pid;
        my $deadline = time + $timeout;
        my $resend = time + 0.2;
        while (1) {
            # nginx without a master can miss a signal that arrives
            # just before it blocks in epoll_wait(): repeat it.
            if (time > $resend && $clean) {
                kill $sig, $pid;
                $resend = time + 0.2;
            }
            if ($child && waitpid($child, WNOHANG) == $child) {
                $self->{exit_status} = $?;
                undef $child;
            }
            @procs = grep { is_running($_) } @procs;
            last unless @procs;
            if (time > $deadline) {
                last unless $clean;    # even SIGKILL did not help
                warn "nginx ($pid) did not stop in ${timeout}s, killing\n"
                    unless $sig eq 'KILL';
                kill 'KILL', @procs;
                $clean = 0;
                $deadline = time + 5;
            }
            sleep $Test::Nginx::Util::Poll;
        }
    }
    if ($child) {
        waitpid $child, 0;
        $self->{exit_status} = $?;
    }
    delete @$self{qw(pid child)};
    unlink $self->pid_file;
    return $clean;
}

sub worker_pids {
    my ($self) = @_;
    my $pid = $self->master_pid or return ();
    return child_pids($pid);
}

# nginx -s SIGNAL with our prefix/conf.  Returns ($ok, $output).
sub signal {
    my ($self, $sig) = @_;
    my $env = $self->{signal_env} || $self->{env} || {};
    local @ENV{ keys %$env } = values %$env;
    my ($st, $out) = run_cmd($self->_cmd('-s', $sig));
    return ($st == 0, $out);
}

1;
