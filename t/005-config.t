# configuration: what nginx refuses to start with, and says why

use Test::Nginx::Socket 'no_plan';
use MailTrack::Util;
use MailTrack::Generic ();

no_shuffle();
run_tests();

sub main::keys { keys_file() }

sub main::bad_keys {
    my ($content) = @_;
    my $f = File::Temp->new(SUFFIX => '.keys', UNLINK => 0)->filename;
    open my $fh, '>', $f or die $!;
    print $fh $content;
    close $fh;
    return $f;
}

__DATA__

=== TEST 1: a complete configuration starts
--- http_config eval
"mail_track_zone zone=mt:1m dedupe=12h;
 mail_track_spool \$TEST_NGINX_SERVROOT/spool flush=250ms batch=10
                  max_size=1m max_age=10s fsync=on;
 mail_track_keys " . main::keys() . ";
 mail_track_ip truncate;
 mail_track_id_field app_id;"
--- config
    location /o/ { mail_track_open; }
    location /c/ { mail_track_click; mail_track_ip off; }
--- request
GET /o/x.gif
--- response_body_like: ^GIF89a
--- no_error_log
[alert]
[emerg]



=== TEST 2: a key file with a bad line names the line
--- http_config eval
"mail_track_zone zone=mt:1m;
 mail_track_spool \$TEST_NGINX_SERVROOT/spool;
 mail_track_keys " . main::bad_keys("# keys\n1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n2 not-base64!\n") . ";"
--- config
    location /o/ { mail_track_open; }
--- must_die
--- error_log eval
[qr/invalid key file ".*\.keys": line 3: key is not base64 of 32 bytes/]



=== TEST 3: a key id out of range
--- http_config eval
"mail_track_zone zone=mt:1m;
 mail_track_spool \$TEST_NGINX_SERVROOT/spool;
 mail_track_keys " . main::bad_keys("300 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n") . ";"
--- config
    location /o/ { mail_track_open; }
--- must_die
--- error_log
line 1: key id "300" is not 0..255



=== TEST 4: a missing key file
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
    mail_track_keys /nonexistent/keys.txt;
--- config
    location /o/ { mail_track_open; }
--- must_die
--- error_log
cannot read key file "/nonexistent/keys.txt" (2: No such file or directory)



=== TEST 5: a tracking location without keys
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /c/ { mail_track_click; }
--- must_die
--- error_log
"mail_track_click" requires "mail_track_keys"



=== TEST 6: handlers without a zone
--- http_config eval
"mail_track_spool \$TEST_NGINX_SERVROOT/spool;
 mail_track_keys " . main::keys() . ";"
--- config
    location /o/ { mail_track_open; }
--- must_die
--- error_log
mail_track_spool" requires "mail_track_zone"



=== TEST 7: handlers without a spool
--- http_config eval
"mail_track_zone zone=mt:1m;
 mail_track_keys " . main::keys() . ";"
--- config
    location /o/ { mail_track_open; }
--- must_die
--- error_log
mail_track handlers require "mail_track_spool"



=== TEST 8: zone parameters
--- http_config
    mail_track_zone zone=mt:64k;
--- config
--- must_die
--- error_log
is too small, the minimum is 128k



=== TEST 9: unknown zone parameter
--- http_config
    mail_track_zone zone=mt:1m colour=blue;
--- config
--- must_die
--- error_log
invalid parameter "colour=blue"



=== TEST 10: spool parameters
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool flush=0;
--- config
--- must_die
--- error_log
invalid parameter "flush=0"



=== TEST 11: a missing spool directory whose parent exists is created
--- http_config eval
"mail_track_zone zone=mt:1m;
 mail_track_spool \$TEST_NGINX_SERVROOT/newspool;
 mail_track_keys " . main::keys() . ";"
--- config
    location /o/ { mail_track_open; }
    location = /t { return 200 "ok"; }
--- request
GET /t
--- response_body: ok
--- no_error_log
[emerg]



=== TEST 12: a spool directory whose parent is missing
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool /nonexistent/parent/spool;
--- config
--- must_die
--- error_log
mail_track_spool "/nonexistent/parent/spool" cannot be created



=== TEST 13: a spool directory the worker user cannot write
--- init
mkdir "$ENV{TEST_NGINX_SERVROOT}/rospool";
chmod 0755, "$ENV{TEST_NGINX_SERVROOT}/rospool";
--- main_config
    user nobody nogroup;
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/rospool;
--- config
--- must_die
--- error_log eval
[qr/mail_track_spool ".*\/rospool" is not writable by user "nobody"/]



=== TEST 14: a spool path that is a file
--- init
open my $fh, '>', "$ENV{TEST_NGINX_SERVROOT}/afile" or die;
close $fh;
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/afile;
--- config
--- must_die
--- error_log
is not a directory



=== TEST 15: an unknown webhook provider
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h { mail_track_webhook sendmail; }
--- must_die
--- error_log
unknown provider "sendmail"



=== TEST 16: a signing provider needs a key
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h { mail_track_webhook mailgun; }
--- must_die
--- error_log
"mail_track_webhook mailgun" requires "mail_track_webhook_key"



=== TEST 17: a provider that signs nothing needs a credential, or auth off
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h { mail_track_webhook postmark; }
--- must_die
--- error_log
or "mail_track_webhook_auth off" to accept unauthenticated requests



=== TEST 18: auth off is explicit, and starts
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h { mail_track_webhook postmark; mail_track_webhook_auth off; }
    location = /t { return 200 "ok"; }
--- request
GET /t
--- response_body: ok
--- no_error_log
[emerg]



=== TEST 19: mandrill needs the URL it signs
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h { mail_track_webhook mandrill; mail_track_webhook_key k; }
--- must_die
--- error_log
requires "mail_track_webhook_url"



=== TEST 20: ses needs a topic allowlist and a way to get certificates
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h { mail_track_webhook ses; mail_track_sns_cert_dir /tmp; }
--- must_die
--- error_log
"mail_track_webhook ses" requires "mail_track_sns_topic"



=== TEST 21: ses without a certificate source
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h {
        mail_track_webhook ses;
        mail_track_sns_topic arn:aws:sns:us-east-1:123456789012:ses;
    }
--- must_die
--- error_log
requires "mail_track_sns_cert_dir" or "mail_track_sns_cert_fetch"



=== TEST 22: a sendgrid key that is not a P-256 public key
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h { mail_track_webhook sendgrid; mail_track_webhook_key bm90LWEta2V5; }
--- must_die
--- error_log
invalid sendgrid webhook key



=== TEST 23: webhook key from a file that does not exist
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h { mail_track_webhook mailgun; mail_track_webhook_key file:/nonexistent/key; }
--- must_die
--- error_log
cannot read key file "/nonexistent/key" (2: No such file or directory)



=== TEST 24: two zones
--- http_config
    mail_track_zone zone=a:1m;
    mail_track_zone zone=b:1m;
--- config
--- must_die
--- error_log
"mail_track_zone" directive is duplicate



=== TEST 25: generic: a signature over neither the body nor a nonce or a time
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h {
        mail_track_webhook generic;
        mail_track_webhook_key k;
        mail_track_generic_digest hmac-sha256 hex header:X-Sig;
        mail_track_generic_message "{header:X-Event-Id}";
        mail_track_generic_event default other;
    }
--- must_die
--- error_log
"mail_track_webhook generic": the signed message does not contain {body} and neither "mail_track_generic_nonce" nor "mail_track_generic_timestamp" is set: one captured request would authorize any event



=== TEST 26: generic: the same, accepted with mail_track_webhook_auth off
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h {
        mail_track_webhook generic;
        mail_track_webhook_key k;
        mail_track_webhook_auth off;
        mail_track_generic_digest hmac-sha256 hex header:X-Sig;
        mail_track_generic_message "{header:X-Event-Id}";
        mail_track_generic_event default other;
    }
--- request
GET /h
--- error_code: 401
--- no_error_log
[emerg]



=== TEST 27: generic: auth none without mail_track_webhook_auth off
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h {
        mail_track_webhook generic;
        mail_track_generic_auth none;
        mail_track_generic_event default other;
    }
--- must_die
--- error_log
"mail_track_generic_auth none" requires "mail_track_webhook_auth off"



=== TEST 28: generic: no event type can ever be produced
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h {
        mail_track_webhook generic;
        mail_track_webhook_key k;
        mail_track_generic_field esp_type /event;
    }
--- must_die
--- error_log
no "mail_track_generic_event": no event type can be produced



=== TEST 29: generic: an event table but no event name and no default
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h {
        mail_track_webhook generic;
        mail_track_webhook_key k;
        mail_track_generic_event deliver delivered;
    }
--- must_die
--- error_log
neither "mail_track_generic_field esp_type" nor "mail_track_generic_event default": no event type can be produced



=== TEST 30: generic: a malformed pointer names its line
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h {
        mail_track_webhook generic;
        mail_track_webhook_key k;
        mail_track_generic_field esp_type /event~2name;
    }
--- must_die
--- error_log eval
qr/"mail_track_generic_field": malformed JSON pointer "\/event~2name": "~" must be followed by "0" or "1" in \S+nginx.conf:\d+/



=== TEST 31: generic: a pointer without its slash
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h {
        mail_track_webhook generic;
        mail_track_generic_events events;
    }
--- must_die
--- error_log
malformed JSON pointer "events": it must be empty or start with "/"



=== TEST 32: generic directives without mail_track_webhook generic
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h {
        mail_track_webhook mailgun;
        mail_track_webhook_key k;
        mail_track_generic_field esp_type /event;
    }
--- must_die
--- error_log
"mail_track_generic_*" directives require "mail_track_webhook generic" in the same location



=== TEST 33: generic: a built-in provider's name
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h { mail_track_webhook generic; mail_track_generic_name mailgun; }
--- must_die
--- error_log
"mail_track_generic_name": "mailgun" is the name of a built-in provider



=== TEST 34: generic: a plain digest without the key in the message
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h {
        mail_track_webhook generic;
        mail_track_webhook_key k;
        mail_track_generic_digest md5 hex field:/signature;
        mail_track_generic_nonce field:/token;
        mail_track_generic_message "{field:/token}";
        mail_track_generic_event default other;
    }
--- must_die
--- error_log
a plain md5 digest authenticates nothing without {key}



=== TEST 35: generic: a digest without a key
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h {
        mail_track_webhook generic;
        mail_track_generic_digest hmac-sha256 hex header:Signature;
        mail_track_generic_event default other;
    }
--- must_die
--- error_log
"mail_track_generic_digest" requires "mail_track_webhook_key"



=== TEST 36: generic: a form holds flat fields
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h {
        mail_track_webhook generic;
        mail_track_webhook_key k;
        mail_track_generic_format form;
        mail_track_generic_field rcpt /data/email;
        mail_track_generic_event default other;
    }
--- must_die
--- error_log
the pointer "/data/email" of "rcpt" is not one field of a form



=== TEST 37: generic: a timestamp with no tolerance to check it against
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h {
        mail_track_webhook generic;
        mail_track_webhook_key k;
        mail_track_webhook_tolerance 0;
        mail_track_generic_digest hmac-sha256 hex header:Signature;
        mail_track_generic_timestamp header:X-Ts s;
        mail_track_generic_event default other;
    }
--- must_die
--- error_log
"mail_track_generic_timestamp" is set but "mail_track_webhook_tolerance" is 0



=== TEST 38: generic: a bounce class on a type that has none
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h {
        mail_track_webhook generic;
        mail_track_generic_event delivered delivered hard;
    }
--- must_die
--- error_log
"mail_track_generic_event": a bounce class needs the type bounced or deferred



=== TEST 39: generic: a whsec key that is not base64
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location /h {
        include mail-track/loops.conf;
        mail_track_webhook_key whsec_not*base64;
    }
--- init
MailTrack::Generic::install_profiles(server_root());
--- must_die
--- error_log
"mail_track_webhook generic": key 1 is not base64 (after "whsec_")



=== TEST 40: generic: every shipped profile starts, side by side
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config
    location = /aliyun { include mail-track/aliyun-dm.conf; mail_track_webhook_key k; }
    location = /aoksend { include mail-track/aoksend.conf; mail_track_webhook_key k; }
    location = /engagelab { include mail-track/engagelab.conf; mail_track_webhook_key k; }
    location = /loops { include mail-track/loops.conf; mail_track_webhook_key whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw; }
    location = /mailersend { include mail-track/mailersend.conf; mail_track_webhook_key k; }
    location = /mailtrap { include mail-track/mailtrap.conf; mail_track_webhook_key k; }
    location = /sendcloud { include mail-track/sendcloud.conf; mail_track_webhook_key k; }
    location = /smtp2go { include mail-track/smtp2go.conf; mail_track_webhook_key k; }
    location = /socketlabs { include mail-track/socketlabs.conf; mail_track_webhook_key k; }
    location = /submail { include mail-track/submail.conf; mail_track_webhook_key k; }
    location = /tencent { include mail-track/tencent-ses.conf; mail_track_webhook_key k; }
--- init
MailTrack::Generic::install_profiles(server_root());
--- request
POST /sendcloud
--- error_code: 400
--- no_error_log
[emerg]
[alert]



=== TEST 41: generic: at most 16 names
--- http_config
    mail_track_zone zone=mt:1m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool;
--- config eval
join "\n", map { "location = /g$_ { mail_track_webhook generic;
    mail_track_generic_name g$_; mail_track_webhook_key k;
    mail_track_generic_event default other; }" } 1 .. 17
--- must_die
--- error_log
more than 16 names of "mail_track_webhook generic" locations
