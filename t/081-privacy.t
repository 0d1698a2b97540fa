# data minimisation (issue 9 items 2 and 3): mail_track_rcpt full|hash|off
# with mail_track_rcpt_key, mail_track_ua full|class|off, mail_track_url
# full|host|off, and mail_track_ip for what providers report; for the own
# endpoints and a provider alike, in the records and the status API; the
# key files refused (readable by others, missing, bad, missing at reload);
# mail-track hash gives what the records carry

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use MailTrack::Spool;
use File::Temp ();
use JSON::PP ();
use Time::HiRes qw(sleep time);

my $tool = tool();
my $dir = File::Temp::tempdir('mt-priv-XXXXXX', TMPDIR => 1, CLEANUP => 1);
chmod 0755, $dir;

sub put {
    my ($file, $data, $mode) = @_;
    open my $fh, '>', $file or die "$file: $!";
    print $fh $data;
    close $fh;
    chmod $mode, $file if defined $mode;
}

sub run3 {
    my (@cmd) = @_;
    my $out = `@cmd 2>$dir/err`;
    my $rc = $? >> 8;
    open my $fh, '<', "$dir/err" or die;
    return ($rc, $out, do { local $/; <$fh> });
}

# the hash key: bytes 0..31, one line of base64 (keygen --hash's form)
my $hk = "$dir/rcpt.key";
put($hk, "# recipients\nAAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0600);

# HMAC-SHA256(bytes 0..31, "alice@example.com"), as python3 hmac says
my $alice = 'a59fc578d4cb46faab1d6eb348e7c74b33b85122d6459fdb7bf5654b333acab4';

my ($rc, $out, $err) = run3($tool, 'hash', '--key', $hk,
                            "'Alice <ALICE\@Example.com>'", 'bob@example.com');
is $rc, 0, 'mail-track hash' or diag $err;
my ($h_alice, $h_bob) = split /\n/, $out;
is $h_alice, $alice, '... normalizes, then HMAC-SHA256 in hex';
like $h_bob, qr/^[0-9a-f]{64}$/, '... one line per address';

put("$dir/open.key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0644);
($rc, $out, $err) = run3($tool, 'hash', '--key', "$dir/open.key", 'a@b.c');
is $rc, 1, 'a key others may read is refused';
like $err, qr/mode 0644 lets others read the key/, '... and says why';

put("$dir/group.key", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0640);
($rc, $out, $err) = run3($tool, 'hash', '--key', "$dir/group.key", 'a@b.c');
is $rc, 0, 'a key its group may read (a loader\'s group): taken' or diag $err;

($rc, $out, $err) = run3($tool, 'hash', 'a@b.c');
is $rc, 2, 'no --key: usage error';

my $http_config = <<"_EOC_";
    mail_track_zone zone=mt:1m;
    mail_track_spool \$TEST_NGINX_SERVROOT/spool flush=100ms max_age=200ms;
    mail_track_keys ${\ keys_file()};
    mail_track_rcpt_key $hk;
_EOC_

my $config = <<'_EOC_';
        location /o/ { mail_track_open; }
        location /oh/ { mail_track_open; mail_track_rcpt hash;
                        mail_track_ua class; }
        location /ooff/ { mail_track_open; mail_track_rcpt off;
                          mail_track_ua off; }
        location /c/ { mail_track_click; }
        location /ch/ { mail_track_click; mail_track_url host; }
        location /coff/ { mail_track_click; mail_track_url off; }
        location = /pm { mail_track_webhook postmark;
                         mail_track_webhook_auth off; }
        location = /pm-min { mail_track_webhook postmark;
                             mail_track_webhook_auth off;
                             mail_track_rcpt hash; mail_track_ua class;
                             mail_track_url host; mail_track_ip truncate; }
        location = /pm-off { mail_track_webhook postmark;
                             mail_track_webhook_auth off;
                             mail_track_rcpt off; mail_track_ip off; }
        location /status/ { mail_track_status; }
_EOC_

my $n = MailTrack::Test->new(name => 'privacy', http_config => $http_config,
                             config => $config);
$n->start;
my $spool = $n->servroot . '/spool';

my $chrome = 'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 '
           . '(KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36';

sub open_via {
    my ($loc, $mid, $rcpt, $ua) = @_;
    my $t = token('open', mid => $mid, rcpt => $rcpt);
    return $n->get("/$loc/$t.gif", headers => { 'User-Agent' => $ua })
        ->{status};
}

is open_via('o', 'm-full', 'Alice@Example.com', $chrome), 200, 'open, full';
is open_via('oh', 'm-hash', 'Alice@Example.com', $chrome), 200,
    'open, rcpt hash, ua class';
is open_via('oh', 'm-mpp', 'alice@example.com', 'Mozilla/5.0'), 200,
    'an Apple MPP open, ua class';
is open_via('ooff', 'm-off', 'alice@example.com', $chrome), 200,
    'open, rcpt and ua off';

my $url = 'https://user:secret@shop.example.net:8443/p/q?email=alice%40x#top';
for my $loc (qw(c ch coff)) {
    my $t = token('click', mid => "m-click-$loc", rcpt => 'alice@example.com',
                  url => $url);
    my $r = $n->get("/$loc/$t");
    is $r->{status}, 302, "click via /$loc/";
    is $r->{headers}{location}, $url, '... to the whole URL all the same';
}

my $bounce = '{"RecordType":"Bounce","ID":42,"Type":"HardBounce",'
    . '"MessageID":"pm-1","Email":"Bounce@Example.com",'
    . '"Details":"smtp;550 5.1.1 <bounce@example.com>: no such user '
    . '(BOUNCE@EXAMPLE.COM)","BouncedAt":"2024-04-27T16:28:50Z",'
    . '"Metadata":{"mail_track_id":"m-pm"}}';
my $click = '{"RecordType":"Click","UserAgent":"' . $chrome . '",'
    . '"OriginalLink":"https://example.com/a?b=c","Geo":{"IP":"8.8.4.4"},'
    . '"MessageID":"pm-2","ReceivedAt":"2024-10-25T15:21:11Z",'
    . '"Recipient":"carol@example.com"}';

sub pm {
    my ($loc, $body) = @_;
    return $n->post("/$loc", $body,
                    headers => { 'Content-Type' => 'application/json' });
}

my $id = 42;
for my $loc (qw(pm pm-min pm-off)) {
    (my $b = $bounce) =~ s/"ID":42/'"ID":' . $id++/e;
    (my $c = $click) =~ s/"pm-2"/"pm-3"/ if $loc eq 'pm-off';
    is pm($loc, $b)->{body}, answer(1, 0), "a bounce to /$loc";
    is pm($loc, $c ? $c : $click)->{body}, answer(1, 0), "a click to /$loc";
}

is pm('pm-min', $click)->{body}, answer(0, 1),
    'the same click again: a duplicate (a keyed id is as stable)';
is pm('pm-off', $click)->{body}, answer(0, 1),
    "/pm's click at a location without the key: the same plain id, a "
    . 'duplicate; /pm-min\'s was not';

my ($code, $st) = status_json($n, '/status/m-hash');
is $code, 200, 'status of the hashed message';
is $st->{recipient}, $alice, '... names the recipient by its hash';
($code, $st) = status_json($n, '/status/m-off');
ok !defined $st->{recipient}, 'status with rcpt off: no recipient';
($code, $st) = status_json($n, '/status/m-click-ch');
is $st->{clicks}{last_url}, 'https://shop.example.net:8443',
    'status of a click with url host: the host only';

$n->quit;

my %rec = map { ($_->{mid} // '') . '/' . $_->{src} . '/' . $_->{type} => $_ }
          spool_records($spool);
my @pm = grep { $_->{src} eq 'postmark' } spool_records($spool);

my $o = $rec{'m-full/track/opened'};
is $o->{rcpt}, 'Alice@Example.com', 'full: the address as it came';
is $o->{ua}, $chrome, 'full: the whole user agent';

$o = $rec{'m-hash/track/opened'};
is $o->{rcpt}, $alice, 'hash: what mail-track hash gives';
is $o->{ua}, 'chrome', 'ua class: the family';
is $rec{'m-mpp/track/opened'}{ua}, 'apple_mpp',
    'ua class of a machine open: the verdict';

$o = $rec{'m-off/track/opened'};
ok !exists $o->{rcpt}, 'rcpt off: none';
ok !exists $o->{ua}, 'ua off: none';
is $o->{why} // '', '', 'the verdict stays where it is';

is $rec{'m-click-c/track/clicked'}{url}, $url, 'url full';
is $rec{'m-click-ch/track/clicked'}{url}, 'https://shop.example.net:8443',
    'url host: scheme, host and port; no user, path or query';
ok !exists $rec{'m-click-coff/track/clicked'}{url}, 'url off: none';

# a provider's events

my @b = grep { $_->{type} eq 'bounced' } @pm;
my @c = grep { $_->{type} eq 'clicked' } @pm;
is scalar @b, 3, 'three bounces';
is scalar @c, 3, 'three clicks, the duplicate not among them';

my ($hash_bounce) = split /\n/, `$tool hash --key $hk bounce\@example.com`;
is $b[0]{rcpt}, 'Bounce@Example.com', 'provider, full: the address';
like $b[0]{reason}, qr/<bounce\@example.com>/, '... in the reason too';
is $b[1]{rcpt}, $hash_bounce, 'provider, hash: the hash';
is $b[1]{reason},
    "smtp;550 5.1.1 <$hash_bounce>: no such user ($hash_bounce)",
    '... and each mention in the reason, any case, is the hash';
ok !exists $b[2]{rcpt}, 'provider, off: no recipient';
is $b[2]{reason}, 'smtp;550 5.1.1 <(recipient)>: no such user ((recipient))',
    '... and the reason names none';
is $b[1]{id}, 43, "the provider's own event id is kept";

is $c[0]{ip}, '8.8.4.4', 'provider, ip full';
is $c[1]{ip}, '8.8.4.0', 'provider, ip truncate: the /24';
ok !exists $c[2]{ip}, 'provider, ip off: none';
is $c[1]{url}, 'https://example.com', 'provider, url host';
is $c[1]{ua}, 'chrome', 'provider, ua class';
isnt $c[1]{id}, $c[0]{id},
    'an id made of the fields is keyed when recipients are hashed';

# --- the loader: the database records which key made the hashes ------------

{
    my $ld = "$dir/load";
    mkdir $ld;
    system("cp $spool/*.mtspool $ld/") == 0 or die 'cp';
    my $db = "sqlite:$dir/mt.db";
    my @files = glob "$ld/*.mtspool";

    ($rc, $out, $err) = run3($tool, 'load', $ld, '--db', $db, '--quiet');
    is $rc, 1, 'load of hashed recipients without the hash key: refused';
    like $err, qr/records carry recipients hashed by the module .*--hash-key FILE/,
        '... saying the key is wanted';
    is scalar(() = glob "$ld/*.mtspool"), scalar @files,
        '... every file left where it was';

    put("$dir/other.key", "ISIjJCUmJygpKissLS4vMDEyMzQ1Njc4OTo7PD0+P0A=\n",
        0600);
    ($rc, $out, $err) = run3($tool, 'load', $ld, '--db', $db, '--quiet',
                             '--hash-key', $hk);
    is $rc, 0, 'load --hash-key: loaded' or diag $err;
    is scalar(() = glob "$ld/*.mtspool"), 0, '... every file';

    ($rc, $out, $err) = run3($tool, 'suppressions', 'check',
                             'bounce@example.com', '--db', $db);
    is $rc, 2, 'check of an address without the key: an error, not "may '
        . 'be mailed"';
    like $err, qr/hashed with a key file \(key id [0-9a-f]{16}\)/,
        '... naming the key the loader recorded';

    ($rc, $out, $err) = run3($tool, 'suppressions', 'check',
                             "'Bounce <BOUNCE\@example.com>'", '--db', $db,
                             '--hash-key', $hk);
    is $rc, 0, 'check with the key: the bounce the module hashed suppresses'
        or diag $err;

    ($rc, $out, $err) = run3($tool, 'suppressions', 'check',
                             'bounce@example.com', '--db', $db,
                             '--hash-key', "$dir/other.key");
    is $rc, 2, 'check with another key: refused';

    # a database whose hashes another key made (forget with it), or its
    # own secret (forget without one): the module's hashes are refused
    my %db2 = (other => [ '--hash-key', "$dir/other.key" ], own => []);
    for my $which (sort keys %db2) {
        my $l2 = "$dir/load-$which";
        mkdir $l2;
        system("cp $spool/*.mtspool $l2/") == 0 or die 'cp';
        my $db2 = "sqlite:$dir/mt-$which.db";
        ($rc, $out, $err) = run3($tool, 'db', 'init', '--db', $db2);
        ($rc, $out, $err) = run3($tool, 'forget', 'gone@example.com',
                                 '--suppress', '--db', $db2,
                                 @{ $db2{$which} });
        is $rc, 0, "forget in a database keyed with the $which key"
            or diag $err;
        ($rc, $out, $err) = run3($tool, 'load', $l2, '--db', $db2,
                                 '--quiet', '--hash-key', $hk);
        is $rc, 1, "load into it: refused ($which key)";
        like $err, $which eq 'other'
            ? qr/the hash key given has id [0-9a-f]{16}, but the database's/
            : qr/the database hashes addresses with a secret of its own/,
            '... saying why';
        is scalar(() = glob "$l2/*.mtspool"), scalar @files,
            '... every file left where it was';
    }

    ($rc, $out, $err) = run3($tool, 'load', $ld,
                             '--db', $db, '--quiet',
                             '--hash-key', "$dir/open.key");
    is $rc, 1, 'a hash key others may read: refused before loading';
}

# --- configuration refused ----------------------------------------------------

my %bad = (
    'rcpt hash, no key' => [ '', 'mail_track_rcpt hash;',
        qr/"mail_track_rcpt hash" requires "mail_track_rcpt_key"/ ],
    'a missing key file' => [ "mail_track_rcpt_key $dir/none.key;", '',
        qr/cannot read hash key file "[^"]+none\.key"/ ],
    'a key others may read' => [ "mail_track_rcpt_key $dir/open.key;", '',
        qr/hash key file "[^"]+open\.key" is readable by others \(mode 0644\)/ ],
    'not a key' => [ "mail_track_rcpt_key $dir/bad.key;", '',
        qr/invalid hash key "[^"]+bad\.key": expected one line of base64, 32 bytes/ ],
    'token keys others may read' => [ "mail_track_keys $dir/tokens.keys;", '',
        qr/key file "[^"]+tokens\.keys" is readable by others/ ],
);

put("$dir/bad.key", "AAEC\n", 0600);
put("$dir/tokens.keys", "1 AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n",
    0644);

for my $what (sort keys %bad) {
    my ($http, $loc, $re) = @{ $bad{$what} };
    my $m = MailTrack::Test->new(name => 'privacy-bad',
        http_config => <<"_EOC_",
    mail_track_zone zone=mt:1m;
    mail_track_spool \$TEST_NGINX_SERVROOT/spool;
    $http
_EOC_
        config => "location /o/ { mail_track_open; $loc }");
    my ($refused, $output) = $m->start_fails;
    ok $refused, "refused: $what";
    like $output, $re, '... naming the cause';
}

# --- the hash key missing at reload: refused, the old one runs on -----------

{
    my $key = "$dir/reload.key";
    put($key, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\n", 0600);

    my $m = MailTrack::Test->new(name => 'privacy-reload',
        http_config => <<"_EOC_",
    mail_track_zone zone=mt:1m;
    mail_track_spool \$TEST_NGINX_SERVROOT/spool flush=100ms max_age=200ms;
    mail_track_keys ${\ keys_file()};
    mail_track_rcpt hash;
    mail_track_rcpt_key $key;
_EOC_
        config => 'location /o/ { mail_track_open; }');
    $m->start;

    my @workers = $m->worker_pids;
    unlink $key;

    my $srv = $m->{server};
    my ($ok, $output) = $srv->signal('reload');
    ok !$ok, 'nginx -s reload with the key gone: refused';
    like $output, qr/cannot read hash key file "[^"]+reload\.key"/,
        '... naming the file';

    # what a SIGHUP from elsewhere meets: the master reads it again

    my $pos = -s $m->error_log_file;
    kill 'HUP', $m->master_pid;
    my ($line) = wait_log($m, qr/(\[emerg\][^\n]*)/, from => $pos);
    like $line, qr/cannot read hash key file "[^"]+reload\.key"/,
        'SIGHUP with the key gone: the master refuses the new configuration';
    sleep 0.3;
    is_deeply [ sort $m->worker_pids ], [ sort @workers ],
        '... the old workers run on';

    my $t = token('open', mid => 'm-reload', rcpt => 'alice@example.com');
    is $m->get("/o/$t.gif")->{status}, 200, '... and serve';
    $m->quit;

    my ($rec) = grep { $_->{mid} eq 'm-reload' }
                spool_records($m->servroot . '/spool');
    is $rec->{rcpt}, $alice, '... hashing with the key they read at start';
}

done_testing;
