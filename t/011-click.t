# mail_track_click: redirects only to the URL inside a good token

use Test::Nginx::Socket 'no_plan';
use MailTrack::Util;

no_shuffle();

sub main::http_config {
    my $keys = keys_file();
    return <<"_EOC_";
    mail_track_zone zone=mt:1m;
    mail_track_spool \$TEST_NGINX_SERVROOT/spool flush=100ms;
    mail_track_keys $keys;
_EOC_
}

our $config = <<'_EOC_';
    location /c/ { mail_track_click; }
    location /f/ {
        mail_track_click;
        mail_track_click_fallback https://example.com/expired;
    }
    location = /metrics { mail_track_metrics; }
_EOC_

run_tests();

__DATA__

=== TEST 1: a good token redirects to its URL, uncached
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /c/" . main::token('click', url => 'https://example.com/a?b=1&c=%20d#frag'),
 "GET /metrics"]
--- error_code eval
[302, 200]
--- response_headers eval
["Location: https://example.com/a?b=1&c=%20d#frag\nCache-Control: no-store, no-cache, must-revalidate, max-age=0\nContent-Length: 0\n!Content-Type", ""]
--- response_body_like eval
[qr/^\z/, qr/type="clicked"\} 1\n/]
--- no_error_log
[error]



=== TEST 2: HEAD redirects too (and is judged a machine's)
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["HEAD /c/" . main::token('click', url => 'http://example.com/'),
 "GET /metrics"]
--- error_code eval
[302, 200]
--- response_headers eval
["Location: http://example.com/", ""]
--- response_body_like eval
["", qr/type="clicked"\} 1\n.*mail_track_machine_clicks_total 1\n/s]
--- no_error_log
[error]



=== TEST 3: a bad token is 400, no redirect, no event
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /c/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", "GET /metrics"]
--- error_code eval
[400, 200]
--- response_headers eval
["!Location", ""]
--- response_body_like eval
["", qr/type="clicked"\} 0\n/]
--- error_log
(token_



=== TEST 4: never an open redirect: a URL in the path is not a token
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /c/https://evil.example/", "GET /c/?url=https://evil.example/",
 "GET /c//evil.example"]
--- error_code eval
[400, 400, 400]
--- response_headers
!Location
--- error_log
mail_track track



=== TEST 5: expired, wrong purpose, other key: 400
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /c/" . main::token('click', url => 'https://e.example/', expires => 100),
 "GET /c/" . main::token('open'),
 "GET /c/" . main::token('click', url => 'https://e.example/',
                         keys => main::other_keys_file(), kid => 7),
 "GET /metrics"]
--- error_code eval
[400, 400, 400, 200]
--- response_body_like eval
["", "", "", qr/reason="token_tampered"\} 1\n.*reason="token_purpose"\} 1\n.*reason="token_expired"\} 1\n/s]
--- error_log
expired token (token_expired)



=== TEST 6: a token whose URL is not http(s) is refused
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /c/" . main::token('click', url => 'javascript:alert(1)', unsafe_url => 1),
 "GET /c/" . main::token('click', url => 'ftp://example.com/f', unsafe_url => 1),
 "GET /metrics"]
--- error_code eval
[400, 400, 200]
--- response_body_like eval
["", "", qr/reason="token_url"\} 2\n/]
--- error_log
token url is not http(s) (token_url)



=== TEST 7: with mail_track_click_fallback a bad token goes there
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /f/" . main::token('click', url => 'https://e.example/', expires => 100),
 "GET /f/garbage"]
--- error_code eval
[302, 302]
--- response_headers
Location: https://example.com/expired
--- error_log
(token_



=== TEST 8: with the fallback, a good token still goes to its own URL
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
"GET /f/" . main::token('click', url => 'https://good.example/x')
--- error_code: 302
--- response_headers
Location: https://good.example/x
--- no_error_log
[error]



=== TEST 9: a fallback that is not an absolute http(s) URL is refused
--- http_config eval
main::http_config()
--- config
    location /f/ {
        mail_track_click;
        mail_track_click_fallback /relative;
    }
--- must_die
--- error_log
fallback "/relative" is not an absolute http(s) URL



=== TEST 10: POST is not allowed
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
"POST /c/" . main::token('click', url => 'https://e.example/') . "\nx"
--- error_code: 405
--- no_error_log
[alert]
