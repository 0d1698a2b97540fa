# mail_track_unsubscribe: RFC 8058 one-click POST records, GET never does

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
    location /u/ { mail_track_unsubscribe; }
    location = /metrics { mail_track_metrics; }
_EOC_

sub main::post {
    my ($token, $ct, $body) = @_;
    return "POST /u/$token HTTP/1.1\r\nHost: localhost\r\n"
         . "Connection: close\r\nContent-Type: $ct\r\n"
         . "Content-Length: " . length($body) . "\r\n\r\n$body";
}

run_tests();

__DATA__

=== TEST 1: GET shows a confirmation page and records nothing
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /u/" . main::token('unsubscribe', rcpt => 'a<b>@example.com'),
 "GET /metrics"]
--- response_headers eval
["Content-Type: text/html\nCache-Control: no-store, no-cache, must-revalidate, max-age=0", ""]
--- response_body_like eval
[qr{<form method="post">.*name="List-Unsubscribe" value="One-Click".*a&lt;b&gt;\@example.com}s,
 qr/type="unsubscribed"\} 0\n/]
--- no_error_log
[error]



=== TEST 2: the one-click POST (urlencoded) records and answers 200
--- http_config eval
main::http_config()
--- config eval
$main::config
--- raw_request eval
main::post(main::token('unsubscribe', mid => 'm-7'),
           'application/x-www-form-urlencoded', 'List-Unsubscribe=One-Click')
--- error_code: 200
--- response_headers
!Location
--- response_body_like: unsubscribed
--- no_error_log
[error]



=== TEST 3: multipart/form-data works too
--- http_config eval
main::http_config()
--- config eval
$main::config
--- raw_request eval
main::post(main::token('unsubscribe'), 'multipart/form-data; boundary=XyZ',
           "--XyZ\r\nContent-Disposition: form-data; name=\"List-Unsubscribe\""
           . "\r\n\r\nOne-Click\r\n--XyZ--\r\n")
--- error_code: 200
--- no_error_log
[error]



=== TEST 4: counted once per POST
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
my $t = main::token('unsubscribe');
["POST /u/$t\nList-Unsubscribe=One-Click", "GET /metrics"]
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- response_body_like eval
["unsubscribed", qr/type="unsubscribed"\} 1\n/]
--- no_error_log
[error]



=== TEST 5: a POST without the one-click body is 400
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
my $t = main::token('unsubscribe');
["POST /u/$t\nList-Unsubscribe=Yes", "POST /u/$t\nfoo=bar", "GET /metrics"]
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code eval
[400, 400, 200]
--- response_body_like eval
["", "", qr/type="unsubscribed"\} 0\n/]
--- no_error_log
[alert]



=== TEST 6: bad or foreign tokens are 400 for POST and GET
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["POST /u/" . main::token('open') . "\nList-Unsubscribe=One-Click",
 "POST /u/AAAA\nList-Unsubscribe=One-Click",
 "GET /u/" . main::token('click', url => 'https://e.example/'),
 "GET /metrics"]
--- more_headers
Content-Type: application/x-www-form-urlencoded
--- error_code eval
[400, 400, 400, 200]
--- response_body_like eval
["", "", "", qr/type="unsubscribed"\} 0\n/]
--- error_log
(token_purpose)



=== TEST 7: other methods
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
"PUT /u/" . main::token('unsubscribe') . "\nList-Unsubscribe=One-Click"
--- error_code: 405
--- no_error_log
[alert]
