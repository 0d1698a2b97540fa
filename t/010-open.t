# mail_track_open: the pixel, for good and bad tokens

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
    location /o/ { mail_track_open; }
    location = /metrics { mail_track_metrics; }
_EOC_

run_tests();

__DATA__

=== TEST 1: a good token gets the GIF, the no-cache headers, and an event
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /o/" . main::token('open', mid => 'm-1') . ".gif", "GET /metrics"]
--- more_headers
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:120.0) Firefox/120.0
--- response_headers eval
["Content-Type: image/gif\nContent-Length: 43\nCache-Control: no-store, no-cache, must-revalidate, max-age=0\nExpires: Thu, 01 Jan 1970 00:00:01 GMT\n!Location", "Content-Type: text/plain; version=0.0.4"]
--- response_body_like eval
["^GIF89a\x01\x00\x01\x00.*;\$", qr/mail_track_events_total\{src="track",type="opened"\} 1\n/]
--- no_error_log
[error]
[alert]



=== TEST 2: the .gif suffix is optional, a query string is ignored
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /o/" . main::token('open') . "?utm=x", "GET /metrics"]
--- response_body_like eval
["^GIF89a", qr/type="opened"\} 1\n/]
--- no_error_log
[error]



=== TEST 3: HEAD gets the headers, and the event is marked as a machine's
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["HEAD /o/" . main::token('open') . ".gif", "GET /metrics"]
--- response_headers eval
["Content-Type: image/gif\nContent-Length: 43", ""]
--- response_body_like eval
["^\$", qr/type="opened"\} 1\n.*mail_track_machine_opens_total 1\n/s]
--- no_error_log
[error]



=== TEST 4: an older key still verifies (rotation)
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /o/" . main::token('open', kid => 3) . ".gif", "GET /metrics"]
--- response_body_like eval
["^GIF89a", qr/type="opened"\} 1\n/]
--- no_error_log
[error]



=== TEST 5: POST is not allowed
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
"POST /o/" . main::token('open') . ".gif\nx"
--- error_code: 405
--- no_error_log
[alert]



=== TEST 6: empty token: the GIF, no event, the reason logged and counted
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /o/", "GET /metrics"]
--- response_body_like eval
["^GIF89a", qr/type="opened"\} 0\n.*reason="token_empty"\} 1\n/s]
--- error_log
empty token (token_empty)



=== TEST 7: a token over 4 KiB
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /o/" . ("A" x 4100) . ".gif", "GET /metrics"]
--- response_body_like eval
["^GIF89a", qr/type="opened"\} 0\n.*reason="token_length"\} 1\n/s]
--- error_log
token too long (token_length)



=== TEST 8: not base64url
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /o/AQd*.gif", "GET /metrics"]
--- response_body_like eval
["^GIF89a", qr/type="opened"\} 0\n/]
--- error_log
token is not base64url (token_encoding)



=== TEST 9: an unknown key id, and a known id with another key
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
my $other = main::other_keys_file();
["GET /o/" . main::token('open', keys => $other, kid => 9) . ".gif",
 "GET /o/" . main::token('open', keys => $other, kid => 7) . ".gif",
 "GET /metrics"]
--- response_body_like eval
["^GIF89a", "^GIF89a",
 qr/type="opened"\} 0\n.*reason="token_key"\} 1\n.*reason="token_tampered"\} 1\n/s]
--- error_log
unknown token key id (token_key)



=== TEST 10: truncated
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
my $t = main::token('open');
["GET /o/" . substr($t, 0, length($t) - 4) . ".gif",
 "GET /o/" . substr($t, 0, 20) . ".gif", "GET /metrics"]
--- response_body_like eval
["^GIF89a", "^GIF89a", qr/type="opened"\} 0\n/]
--- error_log eval
[qr/\((token_tampered|token_truncated|token_encoding)\)/]



=== TEST 11: tampered: one character changed in the middle and at the end
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
my $t = main::token('open');
my $m = $t;
substr($m, 30, 1) = substr($m, 30, 1) eq 'A' ? 'B' : 'A';
my $e = $t;
substr($e, -1, 1) = substr($e, -1, 1) eq 'A' ? 'Q' : 'A';
["GET /o/$m.gif", "GET /o/$e.gif", "GET /metrics"]
--- response_body_like eval
["^GIF89a", "^GIF89a", qr/type="opened"\} 0\n/]
--- error_log eval
[qr/token fails authentication \(token_tampered\)/]



=== TEST 12: expired
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /o/" . main::token('open', expires => time() - 10) . ".gif",
 "GET /metrics"]
--- response_body_like eval
["^GIF89a", qr/type="opened"\} 0\n.*reason="token_expired"\} 1\n/s]
--- error_log
expired token (token_expired)



=== TEST 13: a click token on the pixel
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /o/" . main::token('click', url => 'https://example.com/') . ".gif",
 "GET /metrics"]
--- response_body_like eval
["^GIF89a", qr/type="opened"\} 0\n.*reason="token_purpose"\} 1\n/s]
--- error_log
token minted for another purpose (token_purpose)



=== TEST 14: a future expiry is fine
--- http_config eval
main::http_config()
--- config eval
$main::config
--- request eval
["GET /o/" . main::token('open', ttl => '1h') . ".gif", "GET /metrics"]
--- response_body_like eval
["^GIF89a", qr/type="opened"\} 1\n/]
--- no_error_log
[error]



=== TEST 15: variables for the access log
--- http_config eval
main::http_config() . q{
    log_format mt '$mail_track_event|$mail_track_message_id|$mail_track_result';
}
--- config eval
$main::config . q{
    location /v/ {
        mail_track_open;
        access_log logs/mt.log mt;
    }
    location = /log { alias $TEST_NGINX_SERVROOT/logs/mt.log; }
}
--- request eval
["GET /v/" . main::token('open', expires => 5) . ".gif",
 "GET /v/" . main::token('open', mid => 'msg-42') . ".gif", "GET /log"]
--- response_body_like eval
["^GIF89a", "^GIF89a", "^-\\|-\\|token_expired\nopened\\|msg-42\\|accepted\n\$"]
--- error_log
expired token
