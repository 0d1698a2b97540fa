# Self test of our Test::Nginx::Socket clone against plain nginx (no
# module needed).  The blocks exercise every supported section; the
# code after run_tests() runs small generated test files to prove that
# broken expectations really fail.

use Test::Nginx::Socket 'no_plan';

use File::Temp qw(tempdir);
use IO::Socket::INET;
use Test::Nginx::Util qw(run_cmd is_running slurp);

repeat_each(2);
no_shuffle();
config_preamble("        add_header X-Preamble yes;\n");
env_to_nginx('MT_SELFTEST_ENV');

$ENV{TEST_NGINX_MT_CUSTOM} = 'custom-value';

# A port that accepts connections but never answers: proxying to it
# makes a request hang, to exercise --- timeout / --- abort.
my $blackhole = IO::Socket::INET->new(LocalAddr => '127.0.0.1',
                                      LocalPort => 0, Listen => 16)
    or die "cannot listen: $!";
my $bh_port = $ENV{TEST_NGINX_MT_BLACKHOLE} = $blackhole->sockport;

# Blocks without a request (and not must_die) get "GET /t".
add_block_preprocessor(sub {
    my $block = shift;
    if (!defined $block->request && !defined $block->raw_request
        && !defined $block->pipelined_requests
        && !defined $block->must_die)
    {
        $block->set_value('request', "GET /t\n");
    }
});

run_tests();

# ---------------------------------------------------------------------
# Meta tests: run generated test files and look at their TAP output.

my $tmp = tempdir(CLEANUP => 1);
my $n = 0;

sub run_t {
    my ($code, %env) = @_;
    my $file = "$tmp/meta-" . ++$n . ".t";
    open my $fh, '>', $file or die "$file: $!";
    print {$fh} $code;
    close $fh;
    local %ENV = %ENV;
    delete @ENV{grep { /^TEST_NGINX_/ } keys %ENV};
    $ENV{TEST_NGINX_SERVROOT} = "$tmp/servroot-$n";
    $ENV{$_} = $env{$_} for keys %env;
    my ($status, $out) = run_cmd($^X, '-It/lib', $file);
    return ($status, $out, "$tmp/servroot-$n");
}

my $head = "use Test::Nginx::Socket 'no_plan';\nno_shuffle();\n"
         . "run_tests();\n__DATA__\n\n";

my ($st, $out) = run_t($head . <<'_EOT_');
=== TEST 1: wrong body
--- config
    location = /t { return 200 "a\nb\nc\n"; }
--- request
GET /t
--- response_body
a
X
c
_EOT_
isnt $st, 0, 'meta: a wrong body makes the file fail';
like $out, qr/^not ok 2 - TEST 1: wrong body - response_body - response is/m,
    'meta: the body test is reported as not ok';
like $out, qr/^# [-+]{3} (?:expected|got)/m, 'meta: a diff is shown';
like $out, qr/^# \+b$/m, 'meta: the diff shows the real line';

($st, $out) = run_t($head . <<'_EOT_', TEST_NGINX_MT_BLACKHOLE => $bh_port);
=== TEST 1: timeout
--- config
    location = /t { proxy_pass http://127.0.0.1:$TEST_NGINX_MT_BLACKHOLE; }
--- request
GET /t
--- timeout: 0.3
_EOT_
like $out, qr/^not ok \d+ - ERROR: client socket timed out - TEST 1/m,
    'meta: a timeout is a failure';

($st, $out) = run_t($head . <<'_EOT_');
=== TEST 1: log checks
--- config
    location = /t { return 200 "ok\n"; }
--- request
GET /nothing-here
--- error_code: 404
--- error_log
this line is never logged
--- no_error_log
[error]
_EOT_
like $out, qr/^not ok \d+ - .*"this line is never logged" should match/m,
    'meta: a missing error_log line fails';
like $out, qr/^not ok \d+ - .*"\[error\]" should not match any line/m,
    'meta: an unexpected error_log line fails';

($st, $out) = run_t($head . <<'_EOT_');
=== TEST 1: must die but does not
--- config
    location = /t { return 200; }
--- must_die
_EOT_
like $out, qr/^not ok 1 - TEST 1: must die but does not - die as expected/m,
    'meta: must_die fails when nginx starts';

($st, $out) = run_t($head . <<'_EOT_');
=== TEST 1: not run
--- request
GET /
--- error_code: 599

=== TEST 2: the only one
--- request
GET /
--- ONLY
_EOT_
is $st, 0, 'meta: ONLY passes';
unlike $out, qr/TEST 1/, 'meta: ONLY skips the other blocks';
like $out, qr/^ok 1 - TEST 2: the only one - status code ok$/m,
    'meta: ONLY runs its block';

($st, $out) = run_t(<<'_EOT_');
use Test::Nginx::Socket;
master_on();
workers(2);
repeat_each(2);
plan tests => repeat_each() * (blocks() * 2);
run_tests();
__DATA__

=== TEST 1: master and two workers
--- config
    location = /t { return 200; }
--- request
GET /t
--- grep_error_log eval: qr/start worker process \d+/
--- grep_error_log_out eval
[qr/\A(?:start worker process \d+\n){2}\z/, qr/\A\z/]
_EOT_
is $st, 0, 'meta: master_on/workers(2) and a fixed plan pass'
    or diag $out;

($st, $out) = run_t(<<'_EOT_');
use Test::Nginx::Socket 'no_plan';
no_root_location();
server_name('mt.test');
run_tests();
__DATA__

=== TEST 1: no root location, custom server name
--- config
    location / { return 200 "$host $server_name\n"; }
--- request
GET /index.html
--- response_body
mt.test mt.test
_EOT_
is $st, 0, 'meta: no_root_location and server_name' or diag $out;

my $sr;
($st, $out, $sr) = run_t($head . <<'_EOT_', TEST_NGINX_NO_CLEAN => 1);
=== TEST 1: left running
--- config
    location = /t { return 200; }
--- request
GET /t
_EOT_
is $st, 0, 'meta: TEST_NGINX_NO_CLEAN run passes' or diag $out;
my $pid = slurp("$sr/logs/nginx.pid");
ok $pid && is_running($pid =~ /(\d+)/ && $1),
    'meta: TEST_NGINX_NO_CLEAN leaves nginx running';
kill 'QUIT', $1 if $pid && $pid =~ /(\d+)/;

# TEST_NGINX_USE_ASAN with stock nginx (libasan preloaded): nginx's own
# exit is clean, and a sanitizer's report (planted by init, as an
# instrumented module would write it) fails the block.
my @plant = (
    ['clean'],
    ['an ASan report', 'asan/asan.1',
     "==1==ERROR: AddressSanitizer: heap-buffer-overflow\n"],
    ['a direct leak', 'asan/asan.2',
     "==2==ERROR: LeakSanitizer: detected memory leaks\n\n"
     . "Direct leak of 77 byte(s) in 1 object(s) allocated from:\n"],
    ["indirect leaks and nginx's start-up pool only", 'asan/asan.3',
     "==3==ERROR: LeakSanitizer: detected memory leaks\n\n"
     . "Direct leak of 1024 byte(s) in 1 object(s) allocated from:\n"
     . join('', map { "    #$_\n" }
            '0 0x1 in __interceptor_posix_memalign a.cpp:145',
            '1 0x2 in ngx_memalign (/usr/sbin/nginx+0x4cdd0)',
            '2 0x3 in ngx_create_pool (/usr/sbin/nginx+0x2799b)',
            '3 0x4 in main (/usr/sbin/nginx+0x24a00)',
            '4 0x5 in __libc_start_call_main b.h:58',
            '5 0x6 in __libc_start_main_impl c.c:360',
            '6 0x7 in _start (/usr/sbin/nginx+0x25430)')
     . "\nIndirect leak of 6144 byte(s) in 1 object(s) allocated from:\n"],
    ['a UBSan report in error.log', 'logs/error.log',
     "x.c:12:3: runtime error: signed integer overflow\n"],
);
my $asan = '';
for my $i (0 .. $#plant) {
    my ($title, $file, $text) = @{ $plant[$i] };
    $asan .= "=== TEST " . ($i + 1) . ": $title\n";
    if (defined $file) {
        # the report is written as a Perl string literal into init
        (my $lit = $text) =~ s/([\\"\$\@])/\\$1/g;
        $lit =~ s/\n/\\n/g;
        $asan .= "--- init\nopen my \$fh, '>>', "
            . "\"\$ENV{TEST_NGINX_SERVROOT}/$file\" or die;\n"
            . "print {\$fh} \"$lit\";\n";
    }
    $asan .= "--- config\n    location = /t { return 200; }\n"
           . "--- request\nGET /t\n\n";
}
($st, $out) = run_t($head . $asan, TEST_NGINX_USE_ASAN => 1);
like $out, qr/^ok 1 - TEST 1: clean - status code ok$/m,
    'meta: asan: stock nginx runs with libasan';
unlike $out, qr/^not ok \d+ - TEST [14]: /m,
    'meta: asan: stock nginx exit and indirect leaks are not errors'
    or diag $out;
like $out, qr/^not ok \d+ - TEST $_: .* - AddressSanitizer or /m,
    "meta: asan: report $_ fails the block" for 2, 3, 5;

__DATA__

=== TEST 1: return 200 with body and headers
--- config
    location = /t { return 200 "hi\n"; }
--- request
GET /t
--- error_code: 200
--- response_body
hi
--- response_headers
Content-Type: text/plain
Content-Length: 3
X-Preamble: yes
!Location
--- no_error_log
[error]
[alert]



=== TEST 2: redirect
--- config
    location = /r { return 302 http://x/; }
--- request
GET /r
--- error_code: 302
--- response_headers
Location: http://x/
--- response_headers_like
Content-Type: text/h.*
--- response_body_like: 302 Found
--- response_body_unlike: 200 OK



=== TEST 3: add_header, raw headers, chomp
--- config
    location = /t {
        add_header X-Foo bar;
        add_header X-Num 42;
        return 200 "ok";
    }
--- response_headers
X-Foo: bar
x-num: 42
!X-Preamble
--- raw_response_headers_like: ^HTTP/1\.1 200 OK\r\n
--- raw_response_headers_unlike: X-Preamble
--- response_body chomp
ok



=== TEST 4: more_headers are sent
--- config
    location = /t {
        return 200 "foo=$http_x_foo ua=$http_user_agent host=$host\n";
    }
--- more_headers
X-Foo: bar
User-Agent: Foo/1.0
--- response_body
foo=bar ua=Foo/1.0 host=localhost



=== TEST 5: more_headers eval
--- config
    location = /t { return 200 "$http_x_long\n"; }
--- more_headers eval
"X-Long: " . ("ab" x 5)
--- response_body
ababababab



=== TEST 6: POST body gets a Content-Length
--- config
    location = /echo {
        client_body_in_single_buffer on;
        proxy_set_header X-Body $request_body;
        proxy_set_header X-Len $content_length;
        proxy_pass http://127.0.0.1:$TEST_NGINX_SERVER_PORT/back;
    }
    location = /back { return 200 "len=$http_x_len body=$http_x_body\n"; }
--- request
POST /echo
hello world
--- response_body
len=11 body=hello world



=== TEST 7: explicit HTTP/1.0 request line
--- config
    location = /t { return 200 "$server_protocol\n"; }
--- request
GET /t HTTP/1.0
--- response_body
HTTP/1.0



=== TEST 8: HEAD has no body
--- config
    location = /t { return 200 "body\n"; }
--- request
HEAD /t
--- response_headers
Content-Length: 5
--- response_body



=== TEST 9: chunked response is decoded
--- user_files
>>> chunked.txt
foo and foo
--- config
    location = /chunked.txt {
        root $TEST_NGINX_HTML_DIR;
        sub_filter foo bar;
        sub_filter_once off;
        sub_filter_types *;
    }
--- request
GET /chunked.txt
--- response_headers
Transfer-Encoding: chunked
!Content-Length
--- response_body
bar and bar



=== TEST 10: user_files with a date, served by the default location
--- user_files
>>> a.txt
file a
>>> dir/b.txt 202001020304.05
file b for $TEST_NGINX_MT_CUSTOM
--- request eval
["GET /a.txt", "GET /dir/b.txt"]
--- response_body eval
["file a\n", "file b for custom-value\n"]
--- response_headers eval
["", "Last-Modified: Thu, 02 Jan 2020 03:04:05 GMT"]



=== TEST 11: a missing file logs an error
--- request
GET /missing.html
--- error_code: 404
--- error_log eval
[qr/open\(\) ".*?missing\.html" failed/, "No such file or directory"]
--- no_error_log
[alert]
[crit]



=== TEST 12: no_error_log eval with regexes
--- config
    location = /t { return 200 "ok\n"; }
--- no_error_log eval
[qr/\[(?:error|alert|crit|emerg)\]/, "No such file"]
--- response_body
ok



=== TEST 13: grep_error_log with a regex
--- request
GET /missing-1
--- error_code: 404
--- grep_error_log eval: qr{/missing-\d+" failed}
--- grep_error_log_out
/missing-1" failed



=== TEST 14: grep_error_log with a string, per repetition
--- request
GET /missing-2
--- error_code: 404
--- grep_error_log chop
No such file or directory
--- grep_error_log_out eval
["No such file or directory\n", "No such file or directory\n"]



=== TEST 15: log_level section
--- log_level: warn
--- config
    location = /t { return 200 "ok\n"; }
--- no_error_log
[debug]
[info]



=== TEST 16: default log level is debug
--- config
    location = /t { return 200 "ok\n"; }
--- error_log
[debug]



=== TEST 17: must_die with an unknown directive
--- config
    location = /t { no_such_directive_xyz on; }
--- must_die
--- error_log
unknown directive "no_such_directive_xyz"
--- no_error_log
[alert]



=== TEST 18: must_die with an exit code
--- http_config
    this_is_not_valid;
--- must_die: 1
--- error_log eval
qr/\[emerg\].*this_is_not_valid/



=== TEST 19: request eval array
--- config
    location = /a { return 200 "a\n"; }
    location = /b { return 404; }
--- request eval
["GET /a", "GET /b"]
--- error_code eval
[200, 404]
--- response_body_like eval
["^a\$", "404 Not Found"]



=== TEST 20: pipelined requests, concatenated bodies
--- config
    location = /a { return 200 "a\n"; }
    location = /b { return 200 "b\n"; }
--- pipelined_requests eval
["GET /a", "GET /b", "GET /a"]
--- response_body
a
b
a



=== TEST 21: pipelined requests, per-response expectations
--- config
    location = /a { return 200 "a\n"; }
--- pipelined_requests eval
["GET /a", "HEAD /a", "GET /nope"]
--- error_code eval
[200, 200, 404]
--- response_body eval
["a\n", "", qr/404 Not Found/]



=== TEST 22: raw_request
--- config
    location = /t { return 200 "raw\n"; }
--- raw_request eval
"GET /t HTTP/1.0\r\nHost: localhost\r\n\r\n"
--- response_body
raw



=== TEST 23: keep-alive raw_request does not wait for a close
--- config
    location = /t { return 200 "ka\n"; }
--- raw_request eval
"GET /t HTTP/1.1\r\nHost: localhost\r\n\r\n"
--- timeout: 2
--- response_headers
Connection: keep-alive
--- response_body
ka



=== TEST 24: config eval, http_config, main_config
--- main_config
    pcre_jit on;
--- http_config
    map $arg_x $mt_mapped {
        default none;
        a       alpha;
    }
--- config eval
"location = /t { return 200 '\$mt_mapped " . ("x" x 3) . "\\n'; }"
--- request
GET /t?x=a
--- response_body
alpha xxx



=== TEST 25: $TEST_NGINX_* substitution
--- config
    location = /t {
        set $a "$TEST_NGINX_SERVER_PORT $TEST_NGINX_PORT";
        set $b "$TEST_NGINX_SERVROOT $TEST_NGINX_HTML_DIR";
        return 200 "$a $b $TEST_NGINX_MT_CUSTOM\n";
    }
--- response_body eval
join(' ', server_port(), $ENV{TEST_NGINX_PORT}, server_root(), html_dir(),
     "custom-value\n")



=== TEST 26: init runs before nginx starts
--- init
my $f = html_dir() . "/from-init.txt";
open my $fh, '>', $f or die "cannot write $f: $!";
print $fh "made by init\n";
close $fh;
--- request
GET /from-init.txt
--- response_body
made by init



=== TEST 27: env_to_nginx and config_preamble reach nginx.conf
--- init
my $conf = do { local (@ARGV, $/) = (server_root() . '/conf/nginx.conf'); <> };
Test::More::like($conf, qr/^env MT_SELFTEST_ENV;$/m, 'env in nginx.conf');
--- config
    location = /t { return 200 "ok\n"; }
--- response_headers
X-Preamble: yes



=== TEST 28: wait, shutdown_error_log
--- config
    location = /t { return 200 "ok\n"; }
--- wait: 0.05
--- shutdown_error_log
signal 3 (SIGQUIT) received
--- no_shutdown_error_log eval
[qr/\[(?:alert|crit|emerg)\]/]



=== TEST 29: timeout with abort is not a failure
--- config
    location = /t {
        proxy_pass http://127.0.0.1:$TEST_NGINX_MT_BLACKHOLE;
    }
--- timeout: 0.2
--- abort
--- ignore_response
--- error_log
http proxy header:



=== TEST 30: SKIP
--- SKIP
--- error_code: 599



=== TEST 31: skip_nginx
--- skip_nginx: 2: < 999.0.0
--- error_code: 599



=== TEST 32: skip_eval
--- skip_eval: 1: 1 + 1 == 2
--- error_code: 599



=== TEST 33: error_code_like, no_check_leak
--- config
    location = /t { return 201 "created\n"; }
--- error_code_like: ^20[01]$
--- no_check_leak
--- response_body
created



=== TEST 34: LAST
--- config
    location = /t { return 200 "last\n"; }
--- response_body
last
--- LAST



=== TEST 35: after LAST, never run
--- error_code: 599
