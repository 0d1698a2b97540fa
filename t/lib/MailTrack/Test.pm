package MailTrack::Test;

# Scripted nginx control for tests that do not fit the block format:
#
#   my $n = MailTrack::Test->new(name => 'reload', workers => 4,
#                                http_config => ..., config => ...);
#   $n->start;
#   my $r = $n->get('/o/abc.gif', headers => { 'User-Agent' => 'x' });
#   is $r->{status}, 200;
#   $n->reload(config => $new_config);
#   $n->quit;
#
# Reuses Test::Nginx::Util's nginx.conf layout and process control.

use strict;
use warnings;

use Carp qw(croak);
use File::Path qw(remove_tree);
use File::Spec ();
use Scalar::Util qw(refaddr weaken);
use Time::HiRes qw(sleep time);

use Test::Nginx::Util qw(
    gen_conf expand_env reserve_port lock_port claim_servroot name_hash
    http_exchange parse_response slurp spew
);

my %Live;        # refaddr => weak ref, stopped at END
my %Servroots;   # servroots to remove at END when all tests passed
my %Valgrind;    # servroot => 1 when nginx ran under valgrind
my %Asan;        # servroot => 1 when nginx ran with the sanitizers

# TEST_NGINX_USE_VALGRIND: nginx (master, workers, reloads) runs under
# valgrind, one log per process; errors make the test file fail at END.
my $UseValgrind = $ENV{TEST_NGINX_USE_VALGRIND};
my $Slow = $UseValgrind ? 60 : 10;

# TEST_NGINX_USE_ASAN: the module is built with the sanitizers; their
# reports (servroot/asan/) make the test file fail at END.
my $UseAsan = $ENV{TEST_NGINX_USE_ASAN};

my @PARTS = qw(main_config post_main_config http_config config workers
               master log_level worker_connections env server_name
               no_root_location);

# new(name => NAME, main_config, http_config, config, workers (1),
#     master (1), log_level ('info'), worker_connections (1024),
#     env => [names], port, servroot)
# The servroot (default t/servroot-NAME) is emptied here.
sub new {
    my ($class, %a) = @_;
    my $name = defined $a{name} ? $a{name} : 'default';
    croak "bad name '$name'" unless $name =~ /^[\w.-]+$/;
    my $sr = File::Spec->rel2abs($a{servroot} || "t/servroot-$name");
    $sr =~ s{/+$}{};
    $sr = claim_servroot($sr, $a{servroot});
    my $port = $a{port} ? lock_port($a{port})
                        : reserve_port(6000 + name_hash($name) % 2000);
    my $self = bless {
        name => $name, workers => 1, master => 1, log_level => 'info',
        worker_connections => 1024, env => [],
    }, $class;
    $self->set(%a);
    $self->{port} = $port;
    $self->{owner} = $$;
    $self->{server} = Test::Nginx::Util::Server->new(servroot => $sr,
                                                     port => $port);
    if ($UseValgrind) {
        # children too: a binary upgrade execs nginx again
        $self->{server}{wrap} = [Test::Nginx::Util::Server::valgrind_cmd(
            $UseValgrind, "$sr/logs/valgrind.%p.log"),
            '--trace-children=yes'];
        $Valgrind{$sr} = 1;
    }
    $self->{server}->kill_stale;
    remove_tree(grep { !m{/\.lock$} } glob("$sr/* $sr/.[!.]*"));
    $self->{server}->prepare;
    if ($UseAsan) {
        File::Path::make_path("$sr/asan");
        $self->{server}{env} = Test::Nginx::Util::Server::asan_env(
            $UseAsan, "$sr/asan");
        $self->{server}{signal_env} = Test::Nginx::Util::Server::asan_env(
            $UseAsan, "$sr/asan", no_leaks => 1);
        $Asan{$sr} = 1;
    }
    $Servroots{$sr} = $$ unless $a{servroot};
    weaken($Live{ refaddr $self } = $self);
    return $self;
}

sub name      { $_[0]{name} }
sub port      { $_[0]{port} }
sub servroot  { $_[0]{server}->servroot }
sub html_dir  { $_[0]{server}->html_dir }
sub conf_file { $_[0]{server}->conf_file }
sub error_log_file { $_[0]{server}->error_log_file }
sub master_pid  { $_[0]{server}->master_pid }
sub worker_pids { $_[0]{server}->worker_pids }
sub is_running  { $_[0]{server}->running }

# Change configuration parts (applied by the next start or reload).
sub set {
    my ($self, %a) = @_;
    for my $k (@PARTS) {
        $self->{$k} = $a{$k} if exists $a{$k};
    }
    return $self;
}

# The nginx.conf text.  $TEST_NGINX_SERVER_PORT / _PORT / _SERVROOT /
# _HTML_DIR refer to this instance; other $TEST_NGINX_* come from %ENV.
sub conf_text {
    my ($self) = @_;
    my $sr = $self->servroot;
    local $ENV{TEST_NGINX_SERVER_PORT} = $self->{port};
    local $ENV{TEST_NGINX_PORT}        = $self->{port};
    local $ENV{TEST_NGINX_SERVROOT}    = $sr;
    local $ENV{TEST_NGINX_HTML_DIR}    = $self->html_dir;
    my $m = $self->{master};
    return gen_conf(
        servroot           => $sr,
        port               => $self->{port},
        load_modules       => [split ' ',
                               ($ENV{TEST_NGINX_LOAD_MODULES} || '')],
        daemon             => 'on',
        master             => ($m && $m ne 'off') ? 'on' : 'off',
        workers            => $self->{workers},
        worker_connections => $self->{worker_connections},
        log_level          => $self->{log_level},
        # a binary upgrade starts nginx with only the variables "env"
        # names: the sanitizers' must reach the new master
        env                => [@{ $self->{env} },
                               $UseAsan ? qw(LD_PRELOAD ASAN_OPTIONS
                                             LSAN_OPTIONS UBSAN_OPTIONS)
                                        : ()],
        server_name        => $self->{server_name},
        no_root_location   => $self->{no_root_location},
        map { $_ => expand_env($self->{$_}, $self->{name}) }
            qw(main_config post_main_config http_config config),
    );
}

sub _log_size { -s $_[0]->error_log_file || 0 }

sub _log_since {
    my ($self, $pos) = @_;
    my $text = slurp($self->error_log_file);
    return '' unless defined $text;
    return length $text >= $pos ? substr($text, $pos) : $text;
}

sub _try_start {
    my ($self) = @_;
    my $srv = $self->{server};
    croak 'nginx is already running' if $srv->running;
    spew($srv->stderr_file, '');
    my $pos = $self->_log_size;
    $srv->write_conf($self->conf_text);
    my ($ok, $why) = $srv->start;
    my $out = (slurp($srv->stderr_file) || '') . $self->_log_since($pos);
    return ($ok, $why, $out, $pos);
}

# Start nginx; dies with nginx's output when it does not come up.
sub start {
    my ($self) = @_;
    my ($ok, $why, $out, $pos) = $self->_try_start;
    croak "nginx failed to start ($why):\n" . _excerpt($out) unless $ok;
    my $m = $self->{master};
    $self->_wait_workers(sub { 1 }, $pos) if $m && $m ne 'off';
    return $self;
}

# Wait until `workers` worker processes for which $is_new returns true
# exist; dies when error.log (from offset $pos) shows an [emerg].
sub _wait_workers {
    my ($self, $is_new, $pos) = @_;
    my $want = $self->{workers} =~ /^\d+$/ ? $self->{workers} : 1;
    my $deadline = time + $Slow;
    while (1) {
        my @new = grep { $is_new->($_) } $self->{server}->worker_pids;
        return @new if @new >= $want;
        my $log = $self->_log_since($pos || 0);
        croak "nginx failed:\n" . _excerpt($log) if $log =~ /\[emerg\]/;
        croak "no new nginx workers after ${Slow}s:\n" . _excerpt($log)
            if time > $deadline;
        sleep 0.01;
    }
}

# Expect the start to fail.  Returns (true if nginx refused to start,
# its stderr plus the new error.log text).  A started nginx is stopped.
sub start_fails {
    my ($self) = @_;
    # a refused start leaves nginx's start-up pool behind (see asan_env)
    local $self->{server}{env} = $self->{server}{signal_env} if $UseAsan;
    my ($ok, undef, $out) = $self->_try_start;
    $self->{server}->stop(signal => 'TERM') if $ok;
    return (!$ok, $out);
}

# Optionally change configuration parts, then "nginx -s reload" and
# wait until the new workers are up and the old ones are gone (with
# wait_old => 0, only for the new ones: old workers kept busy on purpose).
sub reload {
    my ($self, %parts) = @_;
    my $srv = $self->{server};
    croak 'nginx is not running' unless $srv->running;
    my $wait_old = exists $parts{wait_old} ? delete $parts{wait_old} : 1;
    $self->set(%parts);
    my @old = $srv->worker_pids;
    my %old = map { $_ => 1 } @old;
    my $pos = $self->_log_size;
    $srv->write_conf($self->conf_text);
    my ($ok, $out) = $srv->signal('reload');
    croak "nginx -s reload failed:\n$out" unless $ok;

    $self->_wait_workers(sub { !$old{ $_[0] } }, $pos);
    return $self unless $wait_old;
    my $deadline = time + $Slow;
    while (grep { Test::Nginx::Util::is_running($_) } @old) {
        if (time > $deadline) {
            warn "reload: old workers still running after ${Slow}s\n";
            last;
        }
        sleep 0.01;
    }
    return $self;
}

# Binary upgrade as an operator does it: USR2 starts a new master from
# the same binary (nginx.pid is its pid, nginx.pid.oldbin the old one's),
# then WINCH lets the old workers finish and QUIT ends the old master.
# Waits for each step; returns the new master's pid.
sub upgrade {
    my ($self) = @_;
    my $srv = $self->{server};
    my $old = $srv->master_pid or croak 'nginx is not running';
    my @old = $srv->worker_pids;
    my $pos = $self->_log_size;
    kill 'USR2', $old;

    my ($new, @new);
    my $deadline = time + $Slow;
    while (1) {
        my $p = $srv->read_pid;
        if ($p && $p != $old && Test::Nginx::Util::is_running($p)) {
            $new = $p;
            @new = Test::Nginx::Util::child_pids($new);
            last if @new >= $self->{workers};
        }
        my $log = $self->_log_since($pos);
        croak "upgrade failed:\n" . _excerpt($log) if $log =~ /\[emerg\]/;
        croak "upgrade: no new master with workers after ${Slow}s:\n"
            . _excerpt($log) if time > $deadline;
        sleep 0.01;
    }
    $srv->{pid} = $new;

    kill 'WINCH', $old;
    _wait_gone($Slow, 'upgrade: old workers', @old);
    kill 'QUIT', $old;
    _wait_gone($Slow, 'upgrade: old master', $old);
    return $new;
}

sub _wait_gone {
    my ($secs, $what, @pids) = @_;
    my $deadline = time + $secs;
    while (grep { Test::Nginx::Util::is_running($_) } @pids) {
        if (time > $deadline) {
            warn "$what still running after ${secs}s\n";
            return 0;
        }
        sleep 0.01;
    }
    return 1;
}

# Graceful stop (SIGQUIT), waits for the master and all workers.
sub quit {
    my ($self, %o) = @_;
    return $self->{server}->stop(signal => 'QUIT',
                                 timeout => $o{timeout} || $Slow);
}

# Fast stop (SIGTERM).
sub stop {
    my ($self, %o) = @_;
    return $self->{server}->stop(signal => 'TERM',
                                 timeout => $o{timeout} || $Slow);
}

sub error_log {
    my $text = slurp($_[0]->error_log_file);
    return defined $text ? $text : '';
}

# Write a file under the servroot (directories are created).
sub write_file {
    my ($self, $rel, $content, $mode) = @_;
    croak "write_file: '$rel' must be relative and stay in the servroot"
        if $rel =~ m{^/} || $rel =~ m{(?:^|/)\.\.(?:/|$)};
    return spew($self->servroot . "/$rel", $content, $mode);
}

# request($method, $path, headers => {..} or [..], body => $bytes,
#         timeout => $s)
# Returns { status, headers (lower-case names; array ref when repeated),
# body, raw, error }.
sub request {
    my ($self, $method, $path, %o) = @_;
    my @h;
    if (ref $o{headers} eq 'HASH') {
        @h = map { [$_, $o{headers}{$_}] } sort keys %{ $o{headers} };
    } elsif (ref $o{headers} eq 'ARRAY') {
        my @l = @{ $o{headers} };
        push @h, [splice @l, 0, 2] while @l;
    }
    my %has = map { lc $_->[0] => 1 } @h;
    my $body = $o{body};
    utf8::encode($body) if defined $body && utf8::is_utf8($body);

    my $req = "$method $path HTTP/1.1\r\n";
    $req .= "Host: localhost\r\n" unless $has{host};
    $req .= "Connection: close\r\n" unless $has{connection};
    $req .= "$_->[0]: $_->[1]\r\n" for @h;
    $req .= 'Content-Length: ' . length($body) . "\r\n"
        if defined $body && !$has{'content-length'}
           && !$has{'transfer-encoding'};
    $req .= "\r\n" . (defined $body ? $body : '');

    my $head = uc $method eq 'HEAD';
    my $x = http_exchange(port => $self->{port}, data => $req,
                          timeout => $o{timeout} || 10, expect => 1,
                          heads => [$head]);
    my ($res) = parse_response($x->{raw}, $head);
    my %headers;
    for my $h (@{ $res->{headers} }) {
        my $k = lc $h->[0];
        if (!exists $headers{$k}) {
            $headers{$k} = $h->[1];
        } elsif (ref $headers{$k}) {
            push @{ $headers{$k} }, $h->[1];
        } else {
            $headers{$k} = [$headers{$k}, $h->[1]];
        }
    }
    my $err = $x->{error} || ($x->{timed_out} ? 'timed out' : undef)
        || $res->{error};
    return { status => $res->{status}, headers => \%headers,
             body => $res->{body}, raw => $x->{raw}, error => $err };
}

sub get {
    my ($self, $path, %o) = @_;
    return $self->request('GET', $path, %o);
}

sub post {
    my ($self, $path, $body, %o) = @_;
    return $self->request('POST', $path, %o, body => $body);
}

sub _excerpt {
    my ($text) = @_;
    my @l = split /^/, defined $text ? $text : '';
    @l = @l[-30 .. -1] if @l > 30;
    return @l ? join('', @l) : "(no output)\n";
}

sub _cleanup {
    my ($self) = @_;
    return if !$self->{server} || $self->{owner} != $$;
    return if $ENV{TEST_NGINX_NO_CLEAN};
    $self->{server}->stop(signal => 'QUIT', timeout => $Slow)
        if $self->{server}->running;
}

sub DESTROY {
    my ($self) = @_;
    local ($@, $!, $?);
    $self->_cleanup;
    delete $Live{ refaddr $self };
}

# The valgrind logs of every process that ran in this servroot.
sub _valgrind_errors {
    my ($sr) = @_;
    my $out = '';
    for my $f (sort glob("$sr/logs/valgrind.*.log")) {
        my $log = slurp($f);
        next unless defined $log
            && Test::Nginx::Util::Server::valgrind_bad($log);
        $out .= "== $f\n$log";
    }
    return $out;
}

END {
    my $status = $?;
    $_->_cleanup for grep { defined } values %Live;
    for my $sr (sort keys %Valgrind) {
        my $err = _valgrind_errors($sr) or next;
        print STDERR "# valgrind reported errors:\n",
            map { "# $_\n" } split /\n/, $err;
        $status ||= 99;
        delete $Servroots{$sr};
    }
    for my $sr (sort keys %Asan) {
        my $err = Test::Nginx::Util::Server::asan_reports("$sr/asan",
            "$sr/logs/error.log", "$sr/logs/stderr.log") or next;
        print STDERR "# AddressSanitizer or UndefinedBehaviorSanitizer "
            . "reported errors:\n", map { "# $_\n" } split /\n/, $err;
        $status ||= 99;
        delete $Servroots{$sr};
    }
    my $passing = eval { Test::More->builder->is_passing } // 1;
    if ($passing && !$ENV{TEST_NGINX_NO_CLEAN}) {
        for my $sr (grep { $Servroots{$_} == $$ } keys %Servroots) {
            remove_tree($sr);
        }
    }
    $? = $status;
}

1;
