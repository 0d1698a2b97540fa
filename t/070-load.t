# mail-track load into SQLite: exactly once, the ledger, the moves, and
# every bad input the loader must answer clearly.  No nginx.

use strict;
use warnings;

use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MailTrack::Load;
use MailTrack::Msgpack qw(:DEFAULT rec);
use File::Copy qw(copy);
use File::Path qw(make_path);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

ok -x tool(), 'mail-track is built' or BAIL_OUT('no build/mail-track');

my $n = 0;

# a fresh spool directory and database
sub fresh {
    $n++;
    my $d = "$tmp/s$n";
    make_path($d);
    return ($d, "$tmp/db$n.sqlite");
}

sub load { run('load', '--quiet', @_) }

sub count { my $c = sq($_[0], "SELECT count(*) FROM mail_events"); $c eq "" ? -1 : $c }


# usage

{
    my $r = run('load', '--help');
    is $r->{rc}, 0, 'load --help exits 0';
    like $r->{out}, qr/--follow.*--delete.*--wait.*--quiet/s,
        'load --help lists the options';

    $r = run('load', "$tmp");
    is $r->{rc}, 2, 'load without --db is a usage error';
    like $r->{err}, qr/--db URL is required/, '... and says so';

    $r = run('load', '--db', 'mysql://x', $tmp);
    is $r->{rc}, 1, 'an unknown URL scheme is refused';
    like $r->{err}, qr/expected sqlite:PATH, postgresql/, '... naming those known';
}


# a backlog, exactly once

{
    my ($d, $db) = fresh();
    gen($d, 6000, 1000, 700, 1, 1000);
    my @files = files_in($d);
    is scalar @files, 6, 'six sealed files';

    my $r = load($d, '--db', "sqlite:$db");
    is $r->{rc}, 0, 'load exits 0' or diag $r->{err};
    like $r->{err}, qr/^mail-track load: 6 files, 6000 events loaded, 0 duplicates/m,
        'the one-line summary';
    is count($db), 6000, 'every event in mail_events';
    is_deeply [files_in($d)], [], 'nothing left in the spool directory';
    is_deeply [files_in("$d/loaded")], \@files, 'every file in loaded/';
    is sq($db, 'SELECT count(*), sum(events) FROM mail_files'), "6\t6000",
        'a ledger row per file, with its count';
    is sq($db, "SELECT count(*) FROM mail_files WHERE host = 'edge1' "
              . "AND length(sha256) = 64"), 6, 'the ledger has host and SHA-256';
    is sq($db, 'SELECT max(version) FROM mail_schema'), 1, 'schema version 1';

    $r = load($d, '--db', "sqlite:$db");
    is $r->{rc}, 0, 'a second run with nothing to do exits 0';
    like $r->{err}, qr/load: 0 files, 0 events/, '... and loads nothing';

    # as after a crash between the commit and the move
    rename "$d/loaded/$_", "$d/$_" for @files[0, 3];
    $r = load($d, '--db', "sqlite:$db");
    is $r->{rc}, 0, 'files loaded before are found in the ledger';
    like $r->{err}, qr/0 events loaded, 0 duplicates, 0 not loadable, 0 bad files, 2 loaded before/,
        '... counted as loaded before, not read again';
    is count($db), 6000, '... no event twice';
    is_deeply [files_in($d)], [], '... and moved';

    # the same events under other file names: duplicates
    copy("$d/loaded/$files[1]", "$d/renamed-1-1-1.mtspool") or die;
    spew("$d/renamed-1-1-2.mtspool", slurp("$d/loaded/$files[2]") . "\n");
    $r = load($d, '--db', "sqlite:$db");
    is $r->{rc}, 1, 'a file with a stray byte is loaded, and exits 1';
    like $r->{err}, qr/1 files, 0 events loaded, 1000 duplicates, 0 not loadable, 1 bad files, 1 loaded before/,
        'events already there are duplicates; a copy of a file, loaded before';
    is count($db), 6000, '... and skipped';
}


# on a terminal: the live line; --quiet turns it off

{
    my ($d, $db) = fresh();
    gen($d, 20000, 2000, 1500, 12, 2000);
    my $cmd = join ' ', tool(), 'load', $d, '--db', "sqlite:$db";
    my $out = `script -qefc '$cmd' /dev/null`;
    like $out, qr/\r\e\[Kloading: \d+\/10 files, \d+ events, \d+ events\/s, ETA \d+:\d\d/,
        'on a terminal, a live progress line';
    like $out, qr/\r\e\[Kmail-track load: 10 files, 20000 events loaded/,
        '... cleared before the summary';

    rename "$d/loaded/$_", "$d/$_" for files_in("$d/loaded");
    $out = `script -qefc '$cmd --quiet' /dev/null`;
    unlike $out, qr/loading:/, '--quiet: no live line';
    like $out, qr/mail-track load: 0 files, 0 events loaded.* 10 loaded before/,
        '... the summary still';
}


# two edges' copies of one file, --delete

{
    my ($a) = fresh();
    my ($b, $db) = fresh();
    gen($a, 500, 100, 80, 7, 500);
    gen($b, 500, 100, 80, 7, 500);
    my $r = load($a, $b, '--db', "sqlite:$db", '--delete');
    is $r->{rc}, 0, 'two copies of a file load' or diag $r->{err};
    like $r->{err}, qr/1 files, 500 events loaded, 0 duplicates.* 1 loaded before/,
        '... once';
    is count($db), 500, '... every event once';
    ok !-d "$a/loaded" && !-d "$b/loaded" && !files_in($a) && !files_in($b),
        '--delete removes both, moves none';
}


# .part files are never touched

{
    my ($d, $db) = fresh();
    gen($d, 100, 10, 10, 3, 100);
    spew("$d/edge1-9-1764000000000-0.part", mp(rec('p1')));
    my $r = load($d, '--db', "sqlite:$db");
    is $r->{rc}, 0, 'a directory with a .part loads';
    ok -f "$d/edge1-9-1764000000000-0.part", 'the .part is still there';
    is sq($db, "SELECT count(*) FROM mail_events WHERE id = 'p1'"), 0,
        '... and was not read';
}


# damage: what is whole loads, the file goes to bad/, the rest loads

{
    my ($d, $db) = fresh();
    gen($d, 300, 50, 40, 11, 300);
    my $good = mp(rec('c1')) . mp(rec('c2'));
    my $off = length $good;
    my $bad = $good . "\xc1\xc1\xc1garbage" . mp(rec('c3'));
    spew("$d/edge2-1-1700000000000-0.mtspool", $bad);

    my $cut = mp(rec('t1')) . mp(rec('t2'));
    my $toff = length mp(rec('t1'));
    spew("$d/edge2-1-1700000000001-1.mtspool", substr($cut, 0, -3));

    my $r = load($d, '--db', "sqlite:$db");
    is $r->{rc}, 1, 'damaged files: exit 1';
    like $r->{err}, qr/edge2-1-1700000000000-0\.mtspool: corrupt record at byte $off$/m,
        'the corrupt record is reported with its offset';
    like $r->{err}, qr/edge2-1-1700000000000-0\.mtspool: damaged from byte $off: 3 events loaded.*moved to \S+\/bad\//,
        '... and the file moved to bad/';
    like $r->{err}, qr/edge2-1-1700000000001-1\.mtspool: truncated record at byte $toff$/m,
        'the truncated record is reported with its offset';
    is sq($db, "SELECT group_concat(id) FROM (SELECT id FROM mail_events "
              . "WHERE id LIKE 'c%' OR id LIKE 't%' ORDER BY id)"), 'c1,c2,c3,t1',
        'every whole record loaded, before and after the damage';
    is count($db), 304, 'the other file of the directory loaded too';
    is_deeply [files_in("$d/bad")],
        ['edge2-1-1700000000000-0.mtspool', 'edge2-1-1700000000001-1.mtspool'],
        'both damaged files in bad/';
    is scalar(files_in("$d/loaded")), 1, 'the good one in loaded/';
    is sq($db, 'SELECT damaged_at FROM mail_files WHERE name LIKE '
              . "'edge2-1-1700000000000%'"), $off, 'the ledger keeps the offset';
}


# records: unknown keys kept, bad strings repaired, over-long ids refused

{
    my ($d, $db) = fresh();
    my $recs = mp([v => 1, id => 'x1', rt => 1764000000001, src => 'sendgrid',
                   type => 'delivered', mid => 'm-x', newkey => 'new',
                   nested => [a => 1]])
             . mp([v => 1, id => 'x2', rt => 1764000000002, src => 'track',
                   type => 'opened', ua => "bad \xff\xfe utf8", reason => "nul\0here"])
             . mp([v => 1, id => ('L' x 300), rt => 1764000000003,
                   src => 'track', type => 'opened'])
             . mp([v => 2, id => 'x4', rt => 1764000000004, src => 'track',
                   type => 'opened'])
             . mp([v => 1, id => 'x5', src => 'track', type => 'opened'])
             . mp([v => 1, id => 'x6', rt => 1764000000006, src => 'track',
                   type => 'opened']);
    spew("$d/edge3-1-1764000000000-0.mtspool", $recs);

    my $r = load($d, '--db', "sqlite:$db");
    is $r->{rc}, 1, 'records that cannot be loaded: exit 1';
    like $r->{err}, qr/record at byte \d+ not loaded: id longer than 256 bytes/,
        'an over-long id is refused, with its offset';
    like $r->{err}, qr/not loaded: unknown record version/, 'so is another version';
    like $r->{err}, qr/not loaded: v, id, rt, src or type missing/,
        'so is a record without rt';
    like $r->{err}, qr/1 files, 3 events loaded, 0 duplicates, 3 not loadable, 1 bad files/,
        'the summary counts them';
    is sq($db, "SELECT extra FROM mail_events WHERE id = 'x1'"),
        '{"newkey":"new","nested":{"a":1}}', 'unknown keys are kept as JSON';
    is sq($db, "SELECT extra IS NULL FROM mail_events WHERE id = 'x2'"), 1,
        '... and absent when there are none';
    is sq($db, "SELECT hex(ua), hex(reason) FROM mail_events WHERE id = 'x2'"),
        uc(unpack('H*', "bad \xef\xbf\xbd\xef\xbf\xbd utf8")) . "\t"
        . uc(unpack('H*', "nul\xef\xbf\xbdhere")),
        'invalid UTF-8 and NUL become U+FFFD';
    is sq($db, "SELECT repaired, invalid FROM mail_files"), "2\t3",
        'the ledger counts repaired strings and refused records';
    is_deeply [files_in("$d/bad")], ['edge3-1-1764000000000-0.mtspool'],
        'the file is set aside in bad/';
}


# a schema newer than the tool: refused, nothing changed or moved

{
    my ($d, $db) = fresh();
    gen($d, 100, 10, 10, 5, 100);
    is run('db', 'init', '--db', "sqlite:$db")->{rc}, 0, 'db init';
    sq($db, "INSERT INTO mail_schema VALUES (99, 0, 'future')");
    my $r = load($d, '--db', "sqlite:$db");
    is $r->{rc}, 1, 'a newer schema: exit 1';
    like $r->{err}, qr/schema is version 99, newer than this mail-track .*not changed/,
        '... said in one line';
    is scalar(files_in($d)), 1, '... nothing moved';
    is count($db), 0, '... nothing loaded';

    my ($d2, $db2) = fresh();
    sq($db2, 'CREATE TABLE mail_events (x int)');
    $r = run('db', 'init', '--db', "sqlite:$db2");
    is $r->{rc}, 1, 'tables of ours without a version: refused';
    like $r->{err}, qr/without mail_schema: not made by mail-track, left alone/,
        '... and left alone';
}


# an unreachable or read-only database: nothing moved, one line, exit 1

{
    my ($d) = fresh();
    gen($d, 100, 10, 10, 6, 100);
    my $r = load($d, '--db', "sqlite:$tmp/no/such/dir/x.db");
    is $r->{rc}, 1, 'a database that cannot be opened: exit 1';
    like $r->{err}, qr/^mail-track: sqlite:\S+x\.db: open: unable to open database file$/m,
        '... one clear line';
    is scalar(files_in($d)), 1, '... nothing moved';

    SKIP: {
        skip 'read-only and unreadable need another user than root', 6
            unless $> == 0;

        my $db = "$tmp/ro.sqlite";
        is run('db', 'init', '--db', "sqlite:$db")->{rc}, 0, 'db init';
        chmod 0777, $d;
        $r = run({ user => 'nobody' }, 'load', '--quiet', $d, '--db', "sqlite:$db");
        is $r->{rc}, 1, 'a read-only database: exit 1';
        like $r->{err}, qr/readonly database|read-only/i, '... said';
        is scalar(files_in($d)), 1, '... nothing moved';

        my ($u) = fresh();
        gen($u, 10, 2, 2, 8, 10);
        chmod 0700, $u;
        $r = run({ user => 'nobody' }, 'load', '--quiet', $u, '--db',
                 "sqlite:$tmp/nobody.sqlite");
        is $r->{rc}, 1, 'a spool directory without permission: exit 1';
        like $r->{err}, qr/\Q$u\E.*Permission denied/, '... said';
    }
}


# a file that vanishes between the listing and its turn

{
    my ($d, $db) = fresh();
    gen($d, 150000, 20000, 15000, 21, 150000, 'a-edge');
    gen($d, 10, 5, 5, 22, 10, 'z-edge');
    my ($last) = grep { /^z-edge/ } files_in($d);
    spew("$d/$last", slurp("$d/$last"));
    utime 1, 1, "$d/$last";
    my $pid = bg('load', '--quiet', $d, '--db', "sqlite:$db");
    # the first file is open: the listing is done
    my $open = sub {
        grep { (readlink($_) // '') =~ /a-edge/ } glob("/proc/$pid/fd/*");
    };
    my $t0 = time;
    sleep 0.01 until $open->() || time - $t0 > 60;
    ok $open->(), 'the loader reads the first file';
    unlink "$d/$last";
    waitpid $pid, 0;
    my $r = MailTrack::Load::collect($pid, $?);
    is $r->{rc}, 0, 'a file that vanished is no error';
    like $r->{err}, qr/\Q$last\E: gone before it was read, skipped/,
        '... it is said';
    is count($db), 150000, '... the others loaded';
}


# one loader per spool directory; --wait; --follow; SIGTERM

{
    my ($d, $db) = fresh();
    my $f = bg('load', '--follow', '--quiet', $d, '--db', "sqlite:$db");
    my $t0 = time;
    sleep 0.1 until -f "$d/.mail-track-load.lock" && -s _ || time - $t0 > 10;
    sleep 0.3;

    my $r = load($d, '--db', "sqlite:$db");
    is $r->{rc}, 1, 'a second loader on the directory: exit 1';
    like $r->{err}, qr/another loader holds it \(pid $f on \S+ since [0-9T:-]+Z\)/,
        '... saying who holds it';

    gen($d, 200, 20, 20, 31, 200);
    $t0 = time;
    sleep 0.1 until count($db) == 200 || time - $t0 > 20;
    is count($db), 200, '--follow loads a file sealed while it runs';
    ok !files_in($d), '... and moves it';

    my $w = bg('load', '--wait', '--quiet', $d, '--db', "sqlite:$db");
    ok wait_err($w, qr/waiting for another loader/), '--wait says it waits';
    is waitpid($w, WNOHANG), 0, '... and waits for the lock';

    kill 'TERM', $f;
    waitpid $f, 0;
    $r = MailTrack::Load::collect($f, $?);
    is $r->{rc}, 0, 'SIGTERM: --follow exits 0';
    like $r->{err}, qr/load: 1 files, 200 events loaded/, '... with its summary';

    waitpid $w, 0;
    $r = MailTrack::Load::collect($w, $?);
    is $r->{rc}, 0, 'the waiting loader ran when the lock was free';
}


# --follow with a database that is not there yet: retried, then loaded

{
    my ($d) = fresh();
    gen($d, 50, 5, 5, 41, 50);
    my $dir = "$tmp/later";
    my $f = bg('load', '--follow', '--quiet', $d, '--db', "sqlite:$dir/x.db");
    ok wait_err($f, qr/unable to open database file.*\n.*retrying in 1 s/),
        '--follow says why and retries';
    ok -f "$d/" . (files_in($d))[0], 'nothing moved while the database is away';
    make_path($dir);
    my $t0 = time;
    sleep 0.2 until (-f "$dir/x.db" && count("$dir/x.db") == 50) || time - $t0 > 15;
    kill 'TERM', $f;
    waitpid $f, 0;
    my $r = MailTrack::Load::collect($f, $?);
    is count("$dir/x.db"), 50, '... and loads once the database is there';
    is $r->{rc}, 0, '... and exits 0 on SIGTERM';
}

done_testing;
