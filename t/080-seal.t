# sealed spool files (mail_track_spool ... seal=, issue 9 item 1): the
# edge writes what it cannot read; every reader takes --seal-key; keys
# that are not X25519 public keys are refused; a flipped byte, a wrong
# key, no key, a torn last chunk; the Python decryptor of
# docs/spool-unseal.py against the document's vector and a file nginx
# wrote

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
my $keydir = File::Temp::tempdir('mt-seal-XXXXXX', TMPDIR => 1,
                                 CLEANUP => 1);
chmod 0755, $keydir;

sub run {
    my (@cmd) = @_;
    my $out = `@cmd 2>&1`;
    return ($? >> 8, $out);
}

# stdout and stderr apart
sub run3 {
    my (@cmd) = @_;
    my $err = "$keydir/stderr";
    my $out = `@cmd 2>$err`;
    my $rc = $? >> 8;
    open my $fh, '<', $err or die;
    my $e = do { local $/; <$fh> };
    return ($rc, $out, $e);
}

sub slurp {
    open my $fh, '<', $_[0] or return undef;
    binmode $fh;
    local $/;
    return <$fh>;
}

sub put {
    my ($file, $data, $mode) = @_;
    open my $fh, '>', $file or die "$file: $!";
    binmode $fh;
    print $fh $data;
    close $fh;
    chmod $mode, $file if defined $mode;
}

my ($rc, $out) = run($tool, 'keygen', '--seal', "$keydir/seal.key",
                     "$keydir/seal.pub");
is $rc, 0, 'keygen --seal' or diag $out;
is sprintf('%04o', (stat "$keydir/seal.key")[2] & 07777), '0600',
    'the private key is 0600';
like slurp("$keydir/seal.pub"), qr/^-----BEGIN PUBLIC KEY-----\n/,
    'the public key is PEM';

($rc, $out) = run($tool, 'keygen', '--seal', "$keydir/seal.key",
                  "$keydir/other.pub");
is $rc, 1, 'keygen --seal never replaces a key';
like $out, qr/never replaced/, '... and says why';

($rc, $out) = run($tool, 'keygen', '--seal', "$keydir/other.key",
                  "$keydir/other.pub");
is $rc, 0, 'another key pair';

my $pub = "$keydir/seal.pub";
my $priv = "$keydir/seal.key";

my $config = <<'_EOC_';
        location /o/ { mail_track_open; }
        location /c/ { mail_track_click; }
        location = /metrics { mail_track_metrics; }
_EOC_

# --- keys a reader refuses: --seal-key ---------------------------------------

{
    my $ecpriv = "$keydir/p256.key";
    system("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
           . "-out $ecpriv 2>/dev/null");
    chmod 0600, $ecpriv;
    put("$keydir/garbage.key", "not a key\n");
    chmod 0600, "$keydir/garbage.key";
    system("cp $priv $keydir/open.key");
    chmod 0644, "$keydir/open.key";
    system("cp $pub $keydir/pub.key");
    chmod 0600, "$keydir/pub.key";

    my %bad = (
        "$keydir/pub.key" => qr/pub\.key: not a seal key: no PEM private key in it/,
        $ecpriv => qr/p256\.key: not a seal key: it is a EC key, not an X25519 key/,
        "$keydir/garbage.key" => qr/garbage\.key: not a seal key: no PEM private key/,
        "$keydir/open.key" => qr/open\.key: mode 0644 lets others read the key/,
        "$keydir/missing.key" => qr/missing\.key: No such file or directory/,
    );

    for my $k (sort keys %bad) {
        for my $cmd ([ 'spool', 'cat' ], [ 'load', '--db', "sqlite:$keydir/r.db" ]) {
            my ($r, $o, $e) = run3($tool, @$cmd, '--seal-key', $k, $keydir);
            is $r, 1, "@$cmd[0] --seal-key $k: refused";
            like $e, $bad{$k}, '... naming the cause';
        }
    }
    ok !-e "$keydir/r.db", 'no database touched';
}

# --- keys an edge refuses at configuration time ------------------------------

{
    my $ec = "$keydir/p256.pub";
    system("openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 "
           . "2>/dev/null | openssl pkey -pubout -out $ec 2>/dev/null");
    ok -s $ec, 'a P-256 public key';
    put("$keydir/garbage.pub", "not a key\n");

    my %bad = (
        "$priv" => qr/invalid seal key "[^"]+seal\.key": it holds a private key/,
        "$ec" => qr/invalid seal key "[^"]+p256\.pub": it is a EC key, not an X25519 key/,
        "$keydir/garbage.pub" => qr/invalid seal key "[^"]+garbage\.pub": no PEM public key/,
        "$keydir/missing.pub" => qr/cannot read seal key "[^"]+missing\.pub"/,
    );

    for my $k (sort keys %bad) {
        my $n = MailTrack::Test->new(name => 'seal-bad',
            http_config => spool_http(spool => "flush=100ms seal=$k"),
            config => $config);
        my ($refused, $output) = $n->start_fails;
        ok $refused, "refused: $k";
        like $output, $bad{$k}, '... naming the cause';
    }
}

# the chunks of a sealed file: offset, end, index, counter
sub chunks {
    my ($data) = @_;
    my ($off, @c) = (48);
    while ($off + 16 <= length $data) {
        my ($i, $len, $hi, $lo) = unpack 'NNNN', substr($data, $off, 16);
        push @c, { off => $off, end => $off + 32 + $len, index => $i,
                   counter => $hi * 2**32 + $lo };
        $off += 32 + $len;
    }
    return @c;
}

sub flushes { metric_count($_[0], 'mail_track_spool_flushes_total') }

# one pixel, and its batch written (a chunk of its own)
sub pixel {
    my ($n, %t) = @_;
    my $before = flushes($n);
    my $r = $n->get('/o/' . token('open', %t) . '.gif',
                    headers => { 'User-Agent' => 'SecretAgent/1.0' });
    my $deadline = time + slow(5);
    sleep 0.02 while flushes($n) == $before && time < $deadline;
    return $r->{status};
}

sub cat_json { [ map { JSON::PP->new->decode($_) } split /\n/, $_[0] ] }

my $python = '/usr/bin/python3';
my $unseal = repo_root() . '/docs/spool-unseal.py';

# --- the document's vector, by the Python decryptor --------------------------

($rc, $out) = run($python, $unseal, '--vector',
                  repo_root() . '/docs/spool-format.md');
is $rc, 0, 'docs/spool-unseal.py checks the test vector of spool-format.md'
    or diag $out;
unlike $out, qr/^not ok/m, '... every check passes';
like $out, qr/^1\.\.\d+$/m, '... and it ran them all';

# --- what nginx writes: sealed, unreadable without the key -------------------

my $sealed_file;

{
    my $n = MailTrack::Test->new(name => 'seal',
        http_config => spool_http(spool => "flush=100ms max_age=1h seal=$pub"),
        config => $config);
    $n->start;

    my $spool = $n->servroot . '/spool';

    for my $i (1 .. 3) {
        is pixel($n, mid => "m-$i", rcpt => "alice$i\@example.com"), 200,
            "pixel $i, its own batch";
    }

    my $click = token('click', mid => 'm-4', rcpt => 'alice4@example.com',
                      url => 'https://shop.example.net/p?email=alice4%40x');
    is $n->get("/c/$click")->{status}, 302, 'a click';

    $n->quit;

    my @files = glob("$spool/*.mtspool");
    is scalar @files, 1, 'one sealed file';
    $sealed_file = "$keydir/nginx.mtspool";
    system('cp', $files[0], $sealed_file);

    my $data = slurp($files[0]);
    is substr($data, 0, 8), "MTSEAL\x01\x01", 'it starts with the header';
    my @c = chunks($data);
    is scalar @c, 4, 'four chunks: one per batch';
    is $c[-1]{end}, length $data, '... ending where the file ends';
    is join(',', map { $_->{index} } @c), '0,1,2,3', 'indexes in order';
    ok !grep({ $c[$_]{counter} <= $c[$_ - 1]{counter} } 1 .. $#c),
        'counters increase';

    is sprintf('%04o', (stat $files[0])[2] & 07777), '0600',
        'created 0600 (the directory is not a shared group\'s)';

    my $strings = `strings -n 4 $files[0]`;
    unlike $strings, qr/alice|example|SecretAgent|m-\d|opened|rcpt/,
        'strings shows no address, agent, id or field name';

    # no key, the wrong key, the key

    my ($r, $o, $e) = run3($tool, 'spool', 'cat', $spool);
    is $r, 1, 'spool cat without --seal-key: exit 1';
    is $o, '', '... no records';
    like $e, qr/\.mtspool: sealed file \(for key id [0-9a-f]{16}\) read without --seal-key at byte 0/,
        '... and says what is missing';

    ($r, $o, $e) = run3($tool, 'spool', 'cat', '--seal-key',
                        "$keydir/other.key", $spool);
    is $r, 1, 'with another key: exit 1';
    like $e, qr/sealed file for key id ([0-9a-f]{16}), not for --seal-key's key id (?!\1)[0-9a-f]{16}/,
        '... naming both key ids';

    ($r, $o, $e) = run3($tool, 'spool', 'cat', '--seal-key', $priv, $spool);
    is $r, 0, 'with the key: exit 0' or diag $e;
    my $recs = cat_json($o);
    is scalar @$recs, 4, 'four records';
    is join(',', map { $_->{rcpt} } @$recs),
        join(',', map { "alice$_\@example.com" } 1 .. 4), 'the recipients';
    is $recs->[3]{url}, 'https://shop.example.net/p?email=alice4%40x',
        'the clicked URL';
    is $recs->[0]{ua}, 'SecretAgent/1.0', 'the user agent';

    # the Python decryptor gives the same records

    my $plain = "$keydir/plain.mtspool";
    ($r, $e) = run("$python $unseal --key $priv $files[0] > $plain");
    is $r, 0, 'spool-unseal.py opens the file nginx wrote' or diag $e;
    ($r, my $o2) = run3($tool, 'spool', 'cat', $plain);
    is $o2, $o, '... to the very records mail-track reads';

    # the loader

    my $db = "$keydir/seal.sqlite";
    my $name = (split m{/}, $files[0])[-1];

    # not damaged, only not readable here: left in place, not recorded

    ($r, $o, $e) = run3($tool, 'load', '--quiet', '--db', "sqlite:$db",
                        $spool);
    is $r, 1, 'load without --seal-key: exit 1';
    like $e, qr/\Q$name\E: sealed file \(for key id [0-9a-f]{16}\) read without --seal-key\n.*\Q$name\E: left where it is/s,
        '... saying the key is missing and the file stays';
    ok -e $files[0], '... the file where it was, not in bad/';

    ($r, $o, $e) = run3($tool, 'load', '--quiet', '--db', "sqlite:$db",
                        '--seal-key', "$keydir/other.key", $spool);
    is $r, 1, 'load with another key: exit 1';
    like $e, qr/sealed file for key id [0-9a-f]{16}, not for --seal-key's/,
        '... naming both key ids';
    ok -e $files[0], '... the file where it was';

    my $newer = "$keydir/newer";
    mkdir $newer;
    put("$newer/x-1-1-1.mtspool", "MTSEAL\x02\x01" . substr($data, 8));
    ($r, $o, $e) = run3($tool, 'load', '--quiet', '--db', "sqlite:$db",
                        '--seal-key', $priv, $newer);
    is $r, 1, 'a sealed file of a newer version: exit 1';
    like $e, qr/unknown version \(2, suite 1\): a newer mail-track reads it/,
        '... saying so';
    ok -e "$newer/x-1-1-1.mtspool", '... and leaving it where it was';

    ($r, $o, $e) = run3($tool, 'load', '--quiet', '--db', "sqlite:$db",
                        '--seal-key', $priv, $spool);
    is $r, 0, 'load --seal-key' or diag $e;
    is `sqlite3 $db "SELECT count(*) FROM mail_events"`, "4\n",
        '... loads the four events (none of the refused runs counted it)';
    ok -e "$spool/loaded/" . (split m{/}, $files[0])[-1],
        '... and moves the file to loaded/';
}

# --- a flipped byte in any chunk ----------------------------------------------

{
    my $data = slurp($sealed_file);
    my @c = chunks($data);

    for my $k (0 .. $#c) {
        my $dir = "$keydir/flip$k";
        mkdir $dir;
        my $bad = $data;
        my $at = $c[$k]{off} + 20 + $k;        # inside its ciphertext
        substr($bad, $at, 1) = chr(ord(substr($bad, $at, 1)) ^ 0x10);
        put("$dir/x-1-1-1.mtspool", $bad);

        my ($r, $o, $e) = run3($tool, 'spool', 'cat', '--seal-key', $priv,
                               "$dir/x-1-1-1.mtspool");
        is $r, 1, "flipped in chunk $k: exit 1";
        is scalar @{ cat_json($o) }, $k, "... the $k record(s) before it";
        like $e, qr/chunk $k: authentication failed \(damaged, or another file's key\) at byte $c[$k]{off}\n/,
            "... chunk $k named, and its byte";

        ($r, undef, $e) = run3($python, $unseal, '--key', $priv,
                               "$dir/x-1-1-1.mtspool");
        is $r, 1, "... spool-unseal.py refuses it too";
        like $e, qr/chunk $k at byte $c[$k]{off}: authentication failed/,
            '... naming the same chunk';

        my $db = "$keydir/flip$k.sqlite";
        ($r, $o, $e) = run3($tool, 'load', '--quiet', '--db', "sqlite:$db",
                            '--seal-key', $priv, $dir);
        is $r, 1, "load: exit 1";
        is `sqlite3 $db "SELECT count(*) FROM mail_events"`, "$k\n",
            "... the $k good record(s) loaded";
        ok -e "$dir/bad/x-1-1-1.mtspool", '... the file moved to bad/';
    }

    # a flipped byte in the header: the key id or the ephemeral key

    my $bad = $data;
    substr($bad, 30, 1) = chr(ord(substr($bad, 30, 1)) ^ 1);
    put("$keydir/hdr.mtspool", $bad);
    my ($r, $o, $e) = run3($tool, 'spool', 'cat', '--seal-key', $priv,
                           "$keydir/hdr.mtspool");
    is $r, 1, 'a flipped byte in the ephemeral key: exit 1';
    is $o, '', '... nothing read';
    like $e, qr/chunk 0: authentication failed/, '... chunk 0 fails';

    # a dropped chunk, swapped chunks

    put("$keydir/drop.mtspool", substr($data, 0, $c[1]{off})
        . substr($data, $c[2]{off}));
    ($r, $o, $e) = run3($tool, 'spool', 'cat', '--seal-key', $priv,
                        "$keydir/drop.mtspool");
    is scalar @{ cat_json($o) }, 1, 'chunk 1 dropped: chunk 0 read';
    like $e, qr/chunk 1: out of place/, '... chunk 1 is out of place';

    put("$keydir/swap.mtspool", substr($data, 0, $c[1]{off})
        . substr($data, $c[2]{off}, $c[2]{end} - $c[2]{off})
        . substr($data, $c[1]{off}, $c[1]{end} - $c[1]{off})
        . substr($data, $c[3]{off}));
    ($r, $o, $e) = run3($tool, 'spool', 'cat', '--seal-key', $priv,
                        "$keydir/swap.mtspool");
    is scalar @{ cat_json($o) }, 1, 'chunks 1 and 2 swapped: chunk 0 read';
    like $e, qr/chunk 1: out of place/, '... the swap found';
}

# --- a torn last chunk: nginx killed, its .part cut inside a chunk -----------

{
    my $n = MailTrack::Test->new(name => 'seal-torn',
        http_config => spool_http(spool => "flush=100ms max_age=1h seal=$pub"),
        config => $config);
    $n->start;

    my $spool = $n->servroot . '/spool';

    is pixel($n, mid => "t-$_", rcpt => "bob$_\@example.com"), 200,
        "pixel $_" for 1 .. 3;

    my @pids = ($n->master_pid, $n->worker_pids);
    kill 'KILL', @pids;
    my $deadline = time + slow(10);
    sleep 0.05 while grep({ kill 0, $_ } @pids) && time < $deadline;

    my ($part) = glob("$spool/*.part");
    ok $part, 'nginx killed: its .part is left';

    # what a write cut short by the kill leaves: part of the last chunk

    my $data = slurp($part);
    my @c = chunks($data);
    is scalar @c, 3, 'three whole chunks in it';
    truncate $part, $c[2]{off} + 20 or die "truncate: $!";

    my ($r, $o, $e) = run3($tool, 'spool', 'cat', '--seal-key', $priv, $part);
    is $r, 1, 'spool cat of the torn .part: exit 1';
    is scalar @{ cat_json($o) }, 2, '... the two whole chunks read';
    like $e, qr/chunk 2 torn \(the file ends inside it\) at byte $c[2]{off}/,
        '... the torn one named';

    # the next start recovers it without the key

    my $pos = -s $n->error_log_file;
    $n->start;
    my ($line) = wait_log($n, qr/(sealed "[^"]+" left by an earlier run[^\n]*)/,
                          from => $pos);
    like $line, qr/$c[2]{off} byte\(s\) of it whole, 20 cut/,
        'recovery cut it after the last whole chunk, and sealed it';
    $n->quit;

    (my $done = $part) =~ s/\.part$/.mtspool/;
    ($r, $o, $e) = run3($tool, 'spool', 'cat', '--seal-key', $priv, $done);
    is $r, 0, 'the recovered file reads clean' or diag $e;
    is join(',', map { $_->{rcpt} } @{ cat_json($o) }),
        'bob1@example.com,bob2@example.com', '... both records';

    my $db = "$keydir/torn.sqlite";
    ($r, $o, $e) = run3($tool, 'load', '--quiet', '--db', "sqlite:$db",
                        '--seal-key', $priv, $spool);
    is $r, 0, 'and loads' or diag $e;
    is `sqlite3 $db "SELECT count(*) FROM mail_events"`, "2\n",
        '... its two events';
}

# --- a worker killed: the next writer cuts its unfinished chunk --------------

{
    my $n = MailTrack::Test->new(name => 'seal-respawn',
        http_config => spool_http(spool => "flush=100ms max_age=1h seal=$pub"),
        config => $config);
    $n->start;

    my $spool = $n->servroot . '/spool';

    is pixel($n, mid => 'w-1', rcpt => 'carol1@example.com'), 200, 'pixel 1';

    my ($part) = glob("$spool/*.part");
    my $data = slurp($part);
    my @c = chunks($data);

    # the worker dies; what it was writing: a prefix of a chunk

    my ($old) = $n->worker_pids;
    kill 'KILL', $old;
    my $deadline = time + slow(10);
    sleep 0.05 while (!grep { $_ != $old } $n->worker_pids)
                     && time < $deadline;
    open my $fh, '>>', $part or die;
    print $fh substr($data, $c[0]{off}, 30);
    close $fh;

    is pixel($n, mid => 'w-2', rcpt => 'carol2@example.com'), 200,
        'pixel 2, by the new worker';
    $n->quit;

    my ($r, $o, $e) = run3($tool, 'spool', 'cat', '--seal-key', $priv,
                           $spool);
    is $r, 0, 'the tail was cut before the next chunk' or diag $e;
    is join(',', map { $_->{mid} } @{ cat_json($o) }), 'w-1,w-2',
        '... both records, in one file';
    like $n->error_log, qr/dropped an unfinished write at the end of/,
        '... and the cut was logged';
}

# --- seal= set, changed and cleared on reload --------------------------------

{
    my $n = MailTrack::Test->new(name => 'seal-reload',
        http_config => spool_http(spool => 'flush=100ms max_age=1h'),
        config => $config);
    $n->start;

    my $spool = $n->servroot . '/spool';
    my @keys = ('', $pub, "$keydir/other.pub", '');

    for my $i (0 .. $#keys) {
        if ($i) {
            my $seal = $keys[$i] ? "seal=$keys[$i]" : '';
            $n->reload(http_config => spool_http(
                           spool => "flush=100ms max_age=1h $seal"));
        }
        is pixel($n, mid => "r-$i", rcpt => "dave$i\@example.com"), 200,
            "pixel after reload $i";
    }

    $n->quit;

    my @files = sort glob("$spool/*.mtspool");
    is scalar @files, 4, 'a file for each configuration';

    my @head = map { substr(slurp($_), 0, 6) } @files;
    is_deeply [ map { $_ eq 'MTSEAL' ? 'sealed' : 'plain' } @head ],
        [qw(plain sealed sealed plain)], 'plain, sealed, sealed, plain';

    my ($r, $o, $e) = run3($tool, 'spool', 'cat', '--seal-key', $priv,
                           @files[0, 1, 3]);
    is $r, 0, 'plain files and the first key\'s file read with its key';
    is join(',', map { $_->{mid} } @{ cat_json($o) }), 'r-0,r-1,r-3',
        '... their records';

    ($r, $o, $e) = run3($tool, 'spool', 'cat', '--seal-key',
                        "$keydir/other.key", $files[2]);
    is $r, 0, 'the second key\'s file with that key';
    is join(',', map { $_->{mid} } @{ cat_json($o) }), 'r-2', '... its record';
}

# --- a full disk: halved batches, each attempt its own nonce (root) --------

SKIP: {
    skip 'a full disk needs root to mount a tmpfs', 12 unless is_root();

    # a batch is 30 records: flushed when they wait, not on a timer
    my $n = MailTrack::Test->new(name => 'seal-full',
        http_config => spool_http(zone => 'zone=mt:1m queue=256k',
            spool => "flush=10m batch=30 max_age=1h seal=$pub"),
        config => $config);
    my $sr = $n->servroot;
    my $spool = "$sr/spool";
    mount_tmpfs($spool, '64k');
    my $mounted = $spool;

    $n->start;

    my $tok = token('open', mid => 'm-full', rcpt => 'erin@example.com');
    my $px = sub {
        my $ok = 0;
        for (1 .. $_[0]) {
            $ok++ if $n->get("/o/$tok.gif",
                             headers => { 'User-Agent' => 'SecretAgent/1.0' })
                         ->{status} == 200;
        }
        return $ok;
    };
    my $wait = sub {
        my ($cond) = @_;
        my $deadline = time + slow(20);
        sleep 0.05 while !$cond->() && time < $deadline;
        return $cond->();
    };

    is $px->(30), 30, '30 pixels: a batch';
    ok $wait->(sub { flushes($n) == 1 }), '... written, one chunk';

    # the disk filled but for the rest of the last page of the file

    system("dd if=/dev/zero of=$spool/filler bs=4096 count=64 2>/dev/null");

    is $px->(30), 30, '30 more: a batch that does not fit';
    ok $wait->(sub { !glob("$spool/*.part") }),
        'halved until what fit was written, then sealed';
    ok metric_count($n, 'mail_track_spool_nospace_total') > 0,
        '... the full disk counted';

    my @files = glob("$spool/*.mtspool");
    is scalar @files, 1, 'one file, sealed when not even a record fit'
        or diag `ls -l $spool`;
    my @c = chunks(slurp($files[0]));
    my %seen;
    is scalar(grep { $seen{ $_->{counter} }++ } @c), 0,
        'no counter twice in the file';
    ok scalar(grep { $c[$_]{counter} > $c[$_ - 1]{counter} + 1 } 1 .. $#c),
        'counters skipped: each rolled back attempt kept its own ('
        . join(',', map { $_->{counter} } @c) . ')';

    my ($r, $o, $e) = run3($tool, 'spool', 'cat', '--seal-key', $priv,
                           $files[0]);
    is $r, 0, 'the file reads clean' or diag $e;

    # room again: the rest is written as nginx leaves

    unlink "$spool/filler";
    mkdir "$sr/loaded";
    $n->quit;
    system("mv $spool/*.mtspool $sr/loaded/");
    system('umount', $mounted);

    ($r, $o, $e) = run3($tool, 'spool', 'cat', '--seal-key', $priv,
                        "$sr/loaded");
    is $r, 0, 'then everything reads clean' or diag $e;
    my %ids;
    $ids{ $_->{id} }++ for @{ cat_json($o) };
    is scalar keys %ids, 60, '... all 60 events';
    is scalar(grep { $_ > 1 } values %ids), 0, '... each once';
}

done_testing;
