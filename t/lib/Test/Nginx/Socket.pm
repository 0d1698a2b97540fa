package Test::Nginx::Socket;

# A small, self-contained runner for test files written in the
# openresty/test-nginx "Test::Nginx::Socket" block format.  It covers
# the subset of sections this project uses; see t/lib/README.md.

use strict;
use warnings;

use Test::Base -base;
use Test::More import => [qw(note done_testing explain subtest BAIL_OUT)];
use Test::Base::Filter ();
use Test::LongString ();
use Text::Diff ();
use Carp qw(croak);
use File::Path qw(remove_tree);
use File::Spec ();
use List::Util qw(shuffle);
use Time::HiRes qw(sleep time);

use Test::Nginx::Util qw(
    gen_conf expand_env reserve_port lock_port claim_servroot name_hash
    http_exchange parse_response build_request header_value slurp spew
    parse_time nginx_version
);

our $VERSION = '0.01';

our @EXPORT = qw(
    run_tests run_test repeat_each no_shuffle master_on master_off
    master_process_enabled workers worker_connections log_level
    no_long_string no_root_location add_block_preprocessor
    add_cleanup_handler server_name server_addr server_root html_dir
    server_port server_port_for_client env_to_nginx config_preamble
    timeout is_str bail_out note done_testing explain subtest BAIL_OUT
);

our $RepeatEach     = 1;
our $NoShuffle      = $ENV{TEST_NGINX_NO_SHUFFLE} || 0;
our $Workers        = 1;
our $WorkerConns    = 64;
our $LogLevel       = $ENV{TEST_NGINX_LOG_LEVEL} || 'debug';
our $MasterProcess  = $ENV{TEST_NGINX_MASTER_PROCESS} || 'off';
our $NoRootLocation = 0;
our $ServerName     = 'localhost';
our $ConfigPreamble = '';
our $NoLongString   = 0;
our $Timeout        = $ENV{TEST_NGINX_TIMEOUT} || 3;
our $Sleep          = $ENV{TEST_NGINX_SLEEP} || 0.015;
our $UseValgrind    = $ENV{TEST_NGINX_USE_VALGRIND};
our $UseAsan        = $ENV{TEST_NGINX_USE_ASAN};
our $NoClean        = $ENV{TEST_NGINX_NO_CLEAN};
our @LoadModules    = split ' ', ($ENV{TEST_NGINX_LOAD_MODULES} || '');
our (@EnvToNginx, @BlockPreprocessors, @CleanupHandlers);
our ($ServRoot, $ServerPort, $AutoServRoot);

my $Nginx;          # Test::Nginx::Util::Server
my $ErrPos = 0;     # error.log offset already looked at
my @BlockLog;       # the block's lines so far: checks see all of them

# ---------------------------------------------------------------------
# set-up at load time: servroot and port are per test file so that
# "prove -j N" can run files in parallel.

sub _file_tag {
    my $f = $0;
    $f =~ s{^.*?\bt/}{} or $f =~ s{^.*/}{};
    $f =~ s/\.t$//;
    $f =~ s/[^\w.-]+/-/g;
    return length $f ? $f : 'default';
}

sub _export_env {
    $ENV{TEST_NGINX_SERVER_PORT} = $ENV{TEST_NGINX_PORT} = $ServerPort;
    $ENV{TEST_NGINX_SERVROOT} = $ENV{TEST_NGINX_SERVER_ROOT} = $ServRoot;
    $ENV{TEST_NGINX_HTML_DIR} = "$ServRoot/html";
}

{
    my $tag = _file_tag();
    my $sr = $ENV{TEST_NGINX_SERVROOT};
    $AutoServRoot = !$sr;
    $sr = File::Spec->rel2abs($sr || "t/servroot-$tag");
    $sr =~ s{/+$}{};
    $ServRoot = claim_servroot($sr, !$AutoServRoot);
    my $port = $ENV{TEST_NGINX_SERVER_PORT} || $ENV{TEST_NGINX_PORT};
    $ServerPort = $port ? lock_port($port)
                        : reserve_port(1984 + name_hash($tag) % 2000);
    $Nginx = Test::Nginx::Util::Server->new(servroot => $ServRoot,
                                            port => $ServerPort);
    if ($UseAsan) {
        my $dir = "$ServRoot/asan";
        File::Path::make_path($dir);
        unlink glob("$dir/*");
        $Nginx->{env} = Test::Nginx::Util::Server::asan_env($UseAsan,
                                                            $dir);
        $Nginx->{signal_env} = Test::Nginx::Util::Server::asan_env(
            $UseAsan, $dir, no_leaks => 1);
    }
    _export_env();
}

# ---------------------------------------------------------------------
# exported settings (same names and prototypes as the real module)

sub repeat_each (@) { $RepeatEach = shift if @_; $RepeatEach }
sub no_shuffle ()   { $NoShuffle = 1 }
sub master_on ()    { $MasterProcess = 'on' }
sub master_off ()   { $MasterProcess = 'off' }
sub workers (@)     { $Workers = shift if @_; $Workers }
sub worker_connections (@) { $WorkerConns = shift if @_; $WorkerConns }
sub log_level (@)   { $LogLevel = shift if @_; $LogLevel }
sub no_long_string () { $NoLongString = 1 }
sub no_root_location () { $NoRootLocation = 1 }
sub server_name (@) { $ServerName = shift if @_; $ServerName }
sub server_addr (@) { '127.0.0.1' }
sub server_root ()  { $ServRoot }
sub html_dir ()     { "$ServRoot/html" }
sub config_preamble ($) { $ConfigPreamble = shift }
sub timeout (@)     { $Timeout = shift if @_; $Timeout }
sub add_block_preprocessor (&) { unshift @BlockPreprocessors, shift }
sub add_cleanup_handler ($)    { unshift @CleanupHandlers, shift }

sub master_process_enabled (@) {
    $MasterProcess = $_[0] ? 'on' : 'off' if @_;
    return $MasterProcess;
}

sub server_port (@) {
    if (@_) {
        $ServerPort = shift;
        $Nginx->{port} = $ServerPort;
        _export_env();
    }
    return $ServerPort;
}

sub server_port_for_client (@) { server_port(@_) }

sub env_to_nginx (@) {
    croak 'env_to_nginx: no arguments specified' unless @_;
    for my $v (@_) {
        croak "env_to_nginx: bad argument value: $v"
            if $v !~ /^[A-Za-z_]/ || $v =~ /\n/;
        push @EnvToNginx, $v =~ /\s/ ? "'$v'" : $v;
    }
}

sub is_str (@) {
    my ($got, $expected, $desc) = @_;
    return Test::More::like($got, $expected, $desc)
        if ref $expected eq 'Regexp';
    return Test::More::is($got, $expected, $desc) if $NoLongString;
    return Test::LongString::is_string($got, $expected, $desc);
}

sub bail_out (@) {
    _cleanup();
    Test::More::BAIL_OUT(join '', @_);
}

# ---------------------------------------------------------------------
# running blocks

sub run_tests () {
    Test::More::plan('no_plan') unless Test::More->builder->has_plan;
    my @blocks = eval { Test::Base::blocks() };
    if ($@) {
        Test::More::fail("cannot read the test blocks: $@");
        return;
    }
    @blocks = shuffle(@blocks) unless $NoShuffle;
    for my $block (@blocks) {
        $_->($block) for @BlockPreprocessors;
        run_test($block);
    }
    $Nginx->stop if !$NoClean && $Nginx->running;
}

sub run_test ($) {
    my ($block) = @_;
    my $name = $block->name;

    if (my ($n, $why) = _skip_spec($block)) {
        SKIP: { Test::More::skip("$name - $why", $n * $RepeatEach) }
        return;
    }

    my $must_die = defined $block->must_die;
    my $valgrind = $must_die ? undef : $UseValgrind;
    local $LogLevel = _scalar($block, 'log_level') || $LogLevel;

    $Nginx->stop if $Nginx->running;
    $Nginx->{valgrind} = $valgrind;
    eval {
        $Nginx->prepare(wipe => 1);
        _write_user_files($block);
        $Nginx->write_conf(_gen_conf($block, $valgrind));
        1;
    } or bail_out("$name - $@");

    if (defined(my $init = $block->init)) {
        _eval_main($init);
        bail_out("$name - init failed: $@") if $@;
    }

    return _run_must_die($block) if $must_die;

    my ($ok, $why) = $Nginx->start;
    if (!$ok) {
        Test::More::fail("$name - nginx failed to start: $why");
        Test::More::diag(_startup_output());
        return;
    }

    $ErrPos = 0;
    @BlockLog = ();
    for my $rep (0 .. $RepeatEach - 1) {
        _write_user_files($block) if $rep > 0;
        _run_requests($block, $rep);
    }

    if (!$Nginx->running) {
        Test::More::fail("$name - nginx is no longer running");
        Test::More::diag(_startup_output());
    }

    if (defined $block->shutdown_error_log
        || defined $block->no_shutdown_error_log || $valgrind || $UseAsan)
    {
        $Nginx->stop;
        _check_shutdown_log($block);
        _check_valgrind($block) if $valgrind;
        _check_asan($block) if $UseAsan;
    }
}

sub _gen_conf {
    my ($block, $valgrind) = @_;
    my $what = $block->name;
    my $sname = _scalar($block, 'server_name');
    return gen_conf(
        servroot           => $ServRoot,
        port               => $ServerPort,
        load_modules       => \@LoadModules,
        daemon             => $valgrind ? 'off' : 'on',
        master             => $valgrind ? 'off' : $MasterProcess,
        workers            => $Workers,
        worker_connections => $WorkerConns,
        log_level          => $LogLevel,
        env                => \@EnvToNginx,
        preamble           => expand_env($ConfigPreamble, $what),
        server_name        => defined $sname ? $sname : $ServerName,
        no_root_location   => $NoRootLocation,
        map { $_ => expand_env(scalar $block->$_, $what) }
            qw(main_config post_main_config http_config config),
    );
}

sub _write_user_files {
    my ($block) = @_;
    my $files = $block->user_files;
    return unless defined $files;
    my @list;
    if (ref $files eq 'ARRAY') {
        @list = map { [@$_] } @$files;
    } else {
        for my $line (split /^/, $files) {
            if ($line =~ /^>>> (\S+)(?:\s+(.+?))?\s*$/) {
                push @list, [$1, '', $2];
            } elsif (@list) {
                $list[-1][1] .= $line;
            }
        }
    }
    for my $f (@list) {
        my ($fname, $body, $date) = @$f;
        my $path = $fname =~ m{^/} ? $fname : html_dir() . "/$fname";
        spew($path, expand_env(defined $body ? $body : '', $block->name));
        if ($date) {
            local $ENV{TZ} = 'GMT';
            system('touch', '-t', $date, $path) == 0
                or bail_out($block->name . " - cannot touch $path");
        }
    }
}

sub _run_must_die {
    my ($block) = @_;
    my $name = $block->name;
    my $expect = _scalar($block, 'must_die');
    # a refused start leaves nginx's start-up pool behind: errors count,
    # leaks cannot
    local $Nginx->{env} = $Nginx->{signal_env} if $UseAsan;
    for my $rep (0 .. $RepeatEach - 1) {
        spew($_, '') for $Nginx->stderr_file, $Nginx->error_log_file;
        my ($ok, $why, $code) = $Nginx->start;
        if (defined $expect && $expect =~ /^\d+$/) {
            Test::More::is($ok ? 0 : $code, $expect,
                           "$name - die with the expected exit code");
        } else {
            Test::More::ok(!$ok, "$name - die as expected");
        }
        $Nginx->stop if $ok;
        my $text = join '', map { defined $_ ? $_ : '' }
            slurp($Nginx->stderr_file), slurp($Nginx->error_log_file);
        _check_error_log($block, $rep, [split /^/, $text]);
        _check_asan($block) if $UseAsan;
    }
}

# The requests of a block: a list of { data, heads, count, pipelined }.
sub _requests {
    my ($block) = @_;
    my $more = $block->more_headers;

    my $raw = $block->raw_request;
    if (defined $raw) {
        my $bytes = ref $raw eq 'ARRAY' ? join('', @$raw) : $raw;
        my @meth = $bytes =~ m{(?:\A|\n)([A-Z]+) +\S+ +HTTP/\d\.\d\r?\n}g;
        return { data => $raw, count => scalar(@meth) || undef,
                 heads => [map { $_ eq 'HEAD' } @meth] };
    }

    my $pipe = $block->pipelined_requests;
    if (defined $pipe) {
        die "--- pipelined_requests must be an array ref\n"
            unless ref $pipe eq 'ARRAY';
        my ($data, @heads) = ('');
        for my $i (0 .. $#$pipe) {
            my ($bytes, $meth) = build_request(
                request      => $pipe->[$i],
                more_headers => _indexed($more, $i, 1),
                connection   => $i == $#$pipe ? 'close' : 'keep-alive',
                host         => $ServerName);
            $data .= $bytes;
            push @heads, $meth eq 'HEAD';
        }
        return { data => $data, heads => \@heads, count => scalar @$pipe,
                 pipelined => 1 };
    }

    my $req = $block->request;
    return () unless defined $req;
    my @reqs = ref $req eq 'ARRAY' ? @$req : ($req);
    my @out;
    for my $i (0 .. $#reqs) {
        my $r = ref $reqs[$i] eq 'ARRAY' ? join('', @{ $reqs[$i] })
                                          : $reqs[$i];
        my ($bytes, $meth) = build_request(
            request      => $r,
            more_headers => _indexed($more, $i, @reqs > 1),
            host         => $ServerName);
        push @out, { data => $bytes, heads => [$meth eq 'HEAD'],
                     count => 1 };
    }
    return @out;
}

sub _run_requests {
    my ($block, $rep) = @_;
    my $name = $block->name;
    my @reqs = eval { _requests($block) };
    if ($@) {
        Test::More::fail("$name - bad request: $@");
        return;
    }
    my $timeout = parse_time(_scalar($block, 'timeout'));
    $timeout = $Timeout unless defined $timeout;
    $timeout *= 10 if $UseValgrind;
    my $wait  = parse_time(_scalar($block, 'wait'));
    my $delay = parse_time(_scalar($block, 'raw_request_middle_delay'));
    my $need_array = @reqs > 1;

    for my $i (0 .. $#reqs) {
        my $spec = $reqs[$i];
        my $x = http_exchange(port => $ServerPort, data => $spec->{data},
                              timeout => $timeout, delay => $delay,
                              expect => $spec->{count},
                              heads => $spec->{heads});
        if ($x->{timed_out} && !defined $block->abort) {
            Test::More::fail("ERROR: client socket timed out - $name");
        }
        Test::More::diag("$name - $x->{error}")
            if $x->{error} && !length $x->{raw};

        if (!defined $block->ignore_response) {
            my @res = _parse_all($block, $x, $spec);
            if ($spec->{pipelined}) {
                _check_pipelined($block, \@res, $rep);
            } else {
                _check_response($block, $res[0], $i, $rep, $need_array);
            }
        }
        if ($i < $#reqs) {
            sleep $wait if $wait;
            _check_error_log($block, $rep);
        }
    }
    sleep $wait if $wait;
    _check_error_log($block, $rep);
}

sub _parse_all {
    my ($block, $x, $spec) = @_;
    my $raw = $x->{raw};
    my $n = $spec->{pipelined} ? $spec->{count} : 1;
    my @res;
    for my $k (0 .. $n - 1) {
        my ($res, $rest) = parse_response($raw, $spec->{heads}[$k]);
        Test::More::fail($block->name . " - $res->{error}")
            if $res->{error};
        push @res, $res;
        $raw = $rest;
    }
    if (length $raw && ($spec->{count} || 1) == 1) {
        warn 'WARNING: ', $block->name, ' - unexpected extra bytes after',
            ' the response: "', _fmt(substr($raw, 0, 80)), "\"\n";
    }
    return @res;
}

# Pipelined requests: array expectations are checked per response,
# a plain response body (or pattern) against the concatenated bodies.
sub _check_pipelined {
    my ($block, $res, $rep) = @_;
    my $name = $block->name;
    for my $k (0 .. $#$res) {
        _check_response($block, $res->[$k], $k, $rep, 1, 1);
    }
    my $all = join '', map { $_->{body} } @$res;
    my $sfx = "(repeated req $rep, pipelined)";
    my $body = $block->response_body;
    if (defined $body && ref $body ne 'ARRAY') {
        _check_body($body, $all, "$name - response_body", $sfx);
    }
    for my $t (qw(like unlike)) {
        my $pat = $block->${\"response_body_$t"};
        next unless defined $pat && ref $pat ne 'ARRAY';
        _check_body_like($t, $pat, $all, $name);
    }
}

sub _check_response {
    my ($block, $res, $i, $rep, $need_array, $pipelined) = @_;
    my $name = $block->name;
    my $idx = sub { _indexed($_[0], $i, $need_array) };

    # status code
    my $code = defined $res->{status} ? $res->{status} : '';
    my $like = $idx->(scalar $block->error_code_like);
    if (defined $like) {
        $like =~ s/^\s+|\s+$//g unless ref $like;
        Test::More::like($code, qr/$like/sm, "$name - status code ok");
    } else {
        my $exp = $idx->(scalar $block->error_code);
        $exp = 200 unless defined $exp;
        $exp =~ s/^\s+|\s+$//g;
        Test::More::is($code, $exp, "$name - status code ok");
    }

    # headers
    for my $t (qw(like unlike)) {
        my $pat = $idx->(scalar $block->${\"raw_response_headers_$t"});
        next unless defined $pat;
        my $f = $t eq 'like' ? \&Test::More::like : \&Test::More::unlike;
        $f->($res->{raw_headers}, qr/$pat/s,
             "$name - raw resp headers $t");
    }
    if (defined(my $spec = $idx->(scalar $block->response_headers))) {
        for my $h (_header_spec($spec)) {
            my ($k, $v) = @$h;
            if (!defined $v) {
                Test::More::unlike($res->{raw_headers}, qr/^\s*\Q$k\E\s*:/mi,
                    "$name - header $k not present in the raw headers");
                next;
            }
            $v =~ s/\$ServerPort\b/$ServerPort/g;
            my $got = header_value($res, $k);
            Test::More::is(defined $got ? $got : '', $v,
                           "$name - header $k ok");
        }
    }
    if (defined(my $spec = $idx->(scalar $block->response_headers_like))) {
        for my $h (_header_spec($spec)) {
            my ($k, $v) = @$h;
            my $got = header_value($res, $k);
            $v = '' unless defined $v;
            Test::More::like(defined $got ? $got : '', qr/^$v$/,
                             "$name - header $k like ok");
        }
    }

    # body (pipelined scalars are checked on the concatenation instead)
    my $body = $res->{body};
    my $exp = $block->response_body;
    if (defined $exp && !($pipelined && ref $exp ne 'ARRAY')) {
        $exp = $idx->($exp);
        _check_body($exp, $body, "$name - response_body",
                    "(repeated req $rep, req $i)") if defined $exp;
    }
    for my $t (qw(like unlike)) {
        my $pat = $block->${\"response_body_$t"};
        next unless defined $pat;
        next if $pipelined && ref $pat ne 'ARRAY';
        $pat = $idx->($pat);
        _check_body_like($t, $pat, $body, $name) if defined $pat;
    }
}

sub _check_body {
    my ($exp, $got, $prefix, $sfx) = @_;
    if (ref $exp eq 'Regexp') {
        return Test::More::like($got, $exp, "$prefix - like $sfx");
    }
    $exp =~ s/\$ServerPort\b/$ServerPort/g;
    _is_text($got, $exp, "$prefix - response is expected $sfx");
}

sub _check_body_like {
    my ($type, $pat, $got, $name) = @_;
    $pat =~ s/\$ServerPort\b/$ServerPort/g unless ref $pat;
    my $summary = defined $got ? $got : '';
    $summary =~ s/^\s+|\s+$//g;
    $summary =~ s/\s+/ /g;
    $summary = _fmt(length $summary > 60
                    ? substr($summary, 0, 57) . '...' : $summary);
    my $f = $type eq 'like' ? \&Test::More::like : \&Test::More::unlike;
    $f->($got, qr/$pat/s,
         "$name - response_body_$type - response is expected ($summary)");
}

# Compare text; on a multi-line mismatch show a unified diff.
sub _is_text {
    my ($got, $exp, $desc) = @_;
    if (defined $got && defined $exp && $got eq $exp) {
        return Test::More::pass($desc);
    }
    if (defined $got && defined $exp && !$ENV{TEST_SHOW_NO_DIFFS}
        && ($got =~ /\n./ || $exp =~ /\n./))
    {
        Test::More::ok(0, $desc);
        Test::More::diag(Text::Diff::diff(\$exp, \$got,
            { STYLE => 'Unified', FILENAME_A => 'expected',
              FILENAME_B => 'got' }));
        return 0;
    }
    return is_str($got, $exp, $desc);
}

# ---------------------------------------------------------------------
# error log checks

sub _new_log_lines {
    open my $fh, '<', $Nginx->error_log_file or return [];
    seek $fh, $ErrPos, 0;
    my @lines = <$fh>;
    my $pos = tell $fh;
    if (@lines && $lines[-1] !~ /\n\z/) {    # line still being written
        $pos -= length pop @lines;
    }
    $ErrPos = $pos;
    return \@lines;
}

sub _patterns {
    my ($v) = @_;
    return () unless defined $v;
    return @$v if ref $v eq 'ARRAY';
    return ($v) if ref $v;
    chomp(my $s = $v);
    return grep { length } split /\n+/, $s;
}

sub _match {
    my ($line, $pat) = @_;
    return ref $pat ? $line =~ $pat : index($line, $pat) >= 0;
}

sub _check_patterns {
    my ($name, $lines, $must, $pats, $sfx) = @_;
    for my $pat (_patterns($pats)) {
        next unless defined $pat;
        my ($hit) = grep { _match($_, $pat) } @$lines;
        my $p = _fmt("$pat");
        if ($must && defined $hit) {
            Test::More::pass(
                "$name - pattern \"$p\" matches a line in error.log$sfx");
        } elsif ($must) {
            Test::More::fail(
                "$name - pattern \"$p\" should match a line in error.log"
                . $sfx);
            Test::More::diag(_tail($lines));
        } elsif (defined $hit) {
            Test::More::fail("$name - pattern \"$p\" should not match any "
                . "line in error.log but matches line \"" . _fmt($hit)
                . "\"$sfx");
        } else {
            Test::More::pass(
                "$name - pattern \"$p\" does not match a line in error.log"
                . $sfx);
        }
    }
}

sub _check_error_log {
    my ($block, $rep, $lines) = @_;
    my $name = $block->name;
    my $startup = defined $lines;
    my $new = $lines;
    if (!$lines) {
        sleep $UseValgrind ? 10 * $Sleep : $Sleep
            if defined $block->error_log
            || defined $block->no_error_log
            || defined $block->grep_error_log;
        # like the real module: every request's check sees the whole log
        # of the block so far, not only the lines since the last check;
        # grep_error_log still takes each repetition's own lines
        $new = _new_log_lines();
        push @BlockLog, @$new;
        $lines = [@BlockLog];
    }
    my $sfx = " (req $rep)";

    my $gp = $block->grep_error_log;
    if (defined $gp) {
        $gp = $gp->[$rep] if ref $gp eq 'ARRAY';
        my $exp = $block->grep_error_log_out;
        $exp = $exp->[$rep] if ref $exp eq 'ARRAY';
        bail_out("$name - --- grep_error_log without --- grep_error_log_out")
            unless defined $exp;
        my $got = '';
        for my $line (@$new) {
            if (ref $gp) {
                $got .= "$&\n" if $line =~ $gp && $& !~ /\n/;
            } elsif (index($line, $gp) >= 0) {
                $got .= "$gp\n";
            }
        }
        if (ref $exp eq 'Regexp') {
            Test::More::like($got, $exp, "$name - grep_error_log_out$sfx");
        } else {
            _is_text($got, $exp, "$name - grep_error_log_out$sfx");
        }
    }

    _check_patterns($name, $lines, 1, scalar $block->error_log, $sfx);
    _check_patterns($name, $lines, 0, scalar $block->no_error_log, $sfx);

    my $mentioned = join "\n", map { "$_" }
        _patterns(scalar $block->error_log),
        _patterns(scalar $block->no_error_log);
    for my $line (@$lines) {
        Test::More::fail("$name - " . _fmt($line))
            if $line =~ /\bAssertion .*?failed\b/
            || ($line =~ /exited on signal \d+/
                && $mentioned !~ /exited on signal/);
    }
    return if $startup;
    for my $lvl (qw(alert crit emerg)) {
        next if $mentioned =~ /\[\Q$lvl\E/;
        warn "WARNING: $name - $_" for grep { /\[$lvl\]/ } @$lines;
    }
}

sub _check_shutdown_log {
    my ($block) = @_;
    my $lines = _new_log_lines();
    _check_patterns($block->name, $lines, 0,
                    scalar $block->no_shutdown_error_log, '');
    _check_patterns($block->name, $lines, 1,
                    scalar $block->shutdown_error_log, '');
}

sub _check_valgrind {
    my ($block) = @_;
    my $log = slurp($Nginx->valgrind_file);
    $log = '' unless defined $log;
    my $st = $Nginx->{exit_status};
    my $bad = (defined $st && ($st >> 8) == 99)
        || Test::Nginx::Util::Server::valgrind_bad($log);
    return unless $bad;
    Test::More::fail($block->name . ' - valgrind reported errors');
    Test::More::diag($log);
}

sub _check_asan {
    my ($block) = @_;
    my $log = Test::Nginx::Util::Server::asan_reports("$ServRoot/asan",
        $Nginx->error_log_file, $Nginx->stderr_file);
    return unless length $log;
    Test::More::fail($block->name . ' - AddressSanitizer or '
                     . 'UndefinedBehaviorSanitizer reported errors');
    Test::More::diag($log);
}

# ---------------------------------------------------------------------
# helpers

sub _scalar {
    my ($block, $section) = @_;
    my $v = $block->$section;
    return $v unless defined $v && !ref $v;
    $v =~ s/^\s+|\s+$//g;
    return $v;
}

sub _indexed {
    my ($v, $i, $need_array) = @_;
    return $v unless ref $v eq 'ARRAY';
    return $need_array ? $v->[$i] : $v->[0];
}

sub _header_spec {
    my ($spec) = @_;
    my @out;
    for my $line (split /\n/, $spec) {
        $line =~ s/^\s+|\s+$//g;
        next unless length $line;
        if ($line =~ s/^!\s*//) {
            push @out, [$line, undef];
        } else {
            my ($k, $v) = split /\s*:\s*/, $line, 2;
            push @out, [$k, defined $v ? $v : ''];
        }
    }
    return @out;
}

sub _skip_spec {
    my ($block) = @_;
    my $name = $block->name;
    if (defined(my $s = _scalar($block, 'skip_nginx'))) {
        $s =~ /^(\d+)\s*:\s*([<>]=?)\s*(\d+)\.(\d+)\.(\d+)\s*(?::\s*(.*))?$/
            or bail_out("$name - invalid --- skip_nginx spec: $s");
        my ($n, $op, $reason) = ($1, $2, $6);
        my $want = sprintf '%d.%03d%03d', $3, $4, $5;
        return ($n, $reason || "nginx version $op $3.$4.$5")
            if eval(nginx_version() . " $op $want");
    }
    if (defined(my $s = _scalar($block, 'skip_eval'))) {
        $s =~ /^(\d+)\s*:\s*(.*)$/s
            or bail_out("$name - invalid --- skip_eval spec: $s");
        my ($n, $code) = ($1, $2);
        my $yes = _eval_main($code);
        bail_out("$name - skip_eval failed: $@") if $@;
        return ($n, 'skip_eval') if $yes;
    }
    return;
}

sub _fmt {
    my ($s) = @_;
    chomp $s;
    $s =~ s/"/\\"/g;
    $s =~ s/\r/\\r/g;
    $s =~ s/\n/\\n/g;
    $s =~ s/([\x00-\x08\x0b-\x1f\x7f-\xff])/sprintf '\\x%02x', ord $1/ge;
    return $s;
}

sub _tail {
    my ($lines, $n) = @_;
    $n ||= 15;
    my @t = @$lines > $n ? @$lines[-$n .. -1] : @$lines;
    return @t ? "last error.log lines:\n" . join('', @t)
              : 'error.log has no new lines';
}

sub _startup_output {
    my $out = '';
    for my $f ($Nginx->stderr_file, $Nginx->error_log_file) {
        my $text = slurp($f);
        next unless defined $text && length $text;
        my @l = split /^/, $text;
        @l = @l[-20 .. -1] if @l > 20;
        $out .= "--- $f:\n" . join '', @l;
    }
    return length $out ? $out : 'no output from nginx';
}

sub _eval_main {
    my ($code) = @_;
    ## no critic
    return eval "package main; no strict;\n#line 1 \"section\"\n$code";
}

sub _cleanup {
    $_->() for @CleanupHandlers;
    @CleanupHandlers = ();
}

END {
    my $status = $?;
    _cleanup();
    if ($Nginx && !$NoClean) {
        $Nginx->stop if $Nginx->running;
        remove_tree($ServRoot)
            if $AutoServRoot && -d $ServRoot
               && Test::More->builder->is_passing;
    }
    $? = $status;
}

# ---------------------------------------------------------------------
# Filter class: "eval" sections run in package main and die loudly.

package Test::Nginx::Socket::Filter;

our @ISA = ('Test::Base::Filter');

sub eval {
    my $self = shift;
    my $code = shift;
    my @r = do {
        package main;
        no strict;
        CORE::eval($code);
    };
    if ($@) {
        my $b = $self->current_block;
        die 'failed to evaluate an "eval" section'
            . ($b ? ' in ' . $b->name : '') . ": $@";
    }
    return @r;
}

1;
