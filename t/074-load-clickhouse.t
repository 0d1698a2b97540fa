# mail-track load into ClickHouse: two real servers from Debian's
# package, started here once for the whole file (as "nobody" when run as
# root), the shards of a cluster, and stopped at the end.  The same spool
# into SQLite and into ClickHouse gives the same messages, suppressions
# and status; exactly once under kills and a connection cut mid-insert;
# a server down, a wrong password, a read-only user and tables of
# another schema refused with nothing moved.  No nginx.

use strict;
use warnings;

use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MailTrack::Load;
use MailTrack::Msgpack qw(:DEFAULT rec);
use File::Copy qw(copy);
use JSON::PP ();
use File::Path qw(make_path);
use IO::Socket::INET;
use IO::Select;
use POSIX ();
use Time::HiRes qw(sleep time);

my $t0 = time;
my @ports = ch_start(2);
is scalar @ports, 2, 'two ClickHouse servers run: ' . join(', ', @ports);
note sprintf 'started in %.1f s', time - $t0;

my $n = 0;

sub dir {
    $n++;
    my $d = "$tmp/s$n";
    make_path($d);
    return $d;
}

sub load { run('load', '--quiet', @_) }

sub createdb {
    my ($db, @p) = @_;
    ch_sql('default', "CREATE DATABASE $db", port => $_) for @p ? @p : ($ports[0]);
}

# the rows of SQLite and of ClickHouse in one form: NULL as ""
sub sq_rows { sq(@_) }

sub ch_rows {
    my ($db, $sql) = @_;
    my $s = ch_sql($db, "$sql FORMAT TSV");
    $s =~ s/\\N//g;
    return $s;
}

my $msg_cols = 'message_id, recipient, state, sent_at, delivered_at, bounce, '
             . 'bounced_at, complained_at, unsubscribed_at, opens, opens_machine, '
             . 'opens_first, opens_last, clicks, clicks_machine, clicks_first, '
             . 'clicks_last, last_url, url_at, sources';
my $sup_cols = 'address, domain, suppressed, reason, src, message_id, event_id, '
             . 'first_at, last_at, events, removed_at, note';

# every table a reader sees, the same in SQLite and in ClickHouse
sub same_as_sqlite {
    my ($sqlite, $db, $what) = @_;
    is ch_rows($db, "SELECT $msg_cols FROM mail_messages ORDER BY message_id"),
       sq_rows($sqlite, "SELECT $msg_cols FROM mail_messages ORDER BY message_id"),
       "$what: mail_messages, row for row";
    is ch_rows($db, "SELECT $sup_cols FROM mail_suppressions ORDER BY address"),
       sq_rows($sqlite, "SELECT $sup_cols FROM mail_suppressions ORDER BY address"),
       "$what: mail_suppressions, row for row";
    is ch_rows($db, 'SELECT id, at, type, coalesce(mid, \'\') FROM mail_events '
                  . 'FINAL ORDER BY id'),
       sq_rows($sqlite, 'SELECT id, at, type, coalesce(mid, \'\') FROM mail_events '
                      . 'ORDER BY id'),
       "$what: mail_events, each event once (FINAL)";
}


# the same spool into SQLite and into ClickHouse

my $sqlite = "$tmp/same.sqlite";
my @mids;

{
    createdb('same');
    my $d = dir();
    gen($d, 6000, 1200, 900, 1, 1500);
    my $copy = dir();
    copy("$d/$_", "$copy/$_") for files_in($d);

    is run('db', 'init', '--db', "sqlite:$sqlite", '--soft-bounces', '2/30d')->{rc}, 0,
        'SQLite: db init --soft-bounces 2/30d';
    my $r = run('db', 'init', '--db', ch_url('same'), '--soft-bounces', '2/30d');
    is $r->{rc}, 0, 'ClickHouse: db init --soft-bounces 2/30d' or diag $r->{err};
    like $r->{out}, qr{^clickhouse://default\@127\.0\.0\.1:\d+/same: schema version 1$},
        '... said, without the password';

    $r = load($copy, '--db', "sqlite:$sqlite");
    is $r->{rc}, 0, 'loaded into SQLite';

    $r = load($d, '--db', ch_url('same'));
    is $r->{rc}, 0, 'loaded into ClickHouse' or diag $r->{err};
    like $r->{err}, qr/4 files, 6000 events loaded, 0 duplicates/, '... the summary';
    is scalar(files_in("$d/loaded")), 4, '... every file in loaded/';

    same_as_sqlite($sqlite, 'same', 'one spool');

    @mids = split /\n/, sq($sqlite, 'SELECT message_id FROM mail_messages '
                                   . 'ORDER BY random() LIMIT 25');
    my $diff = 0;
    for my $mid (@mids) {
        my $a = run('status', $mid, '--db', "sqlite:$sqlite");
        my $b = run('status', $mid, '--db', ch_url('same'));
        $diff++ if $a->{out} ne $b->{out} || $b->{rc} != 0;
    }
    is $diff, 0, 'status prints the same JSON for 25 messages';

    my $r1 = run('status', 'no-such', '--db', "sqlite:$sqlite");
    my $r2 = run('status', 'no-such', '--db', ch_url('same'));
    is_deeply [$r2->{rc}, $r2->{out}], [$r1->{rc}, $r1->{out}],
        'an unknown message: the same answer and exit status';

    rename "$d/loaded/$_", "$d/$_" for files_in("$d/loaded");
    $r = load($d, '--db', ch_url('same'));
    like $r->{err}, qr/0 events loaded, 0 duplicates, 0 not loadable, 0 bad files, 4 loaded before/,
        'the ledger knows the files again';
}


# the same events in two files, and a file loaded twice under other names:
# the reader sees each event once

{
    createdb('dups');
    my $d = dir();
    my $sd = dir();
    gen($d, 3000, 500, 400, 7, 3000);
    my ($f) = files_in($d);
    copy("$d/$f", "$d/copy-1-1764000000000-0.mtspool");
    copy("$d/$f", "$sd/$f");
    copy("$d/$f", "$sd/copy-1-1764000000000-0.mtspool");

    my $r = load($d, '--db', ch_url('dups'));
    is $r->{rc}, 0, 'a file and its copy under another name' or diag $r->{err};
    like $r->{err}, qr/1 loaded before/, '... the copy is known by its content';
    load($sd, '--db', "sqlite:$tmp/dups.sqlite");

    # a second copy of the events with other bytes: one event more
    my $d2 = dir();
    spew("$d2/other-1-1764000000000-0.mtspool",
         join '', map { mp([v => 1, id => "x$_", ts => 1764000000000 + $_,
                            rt => 1764000000000, src => 'track', type => 'opened',
                            mid => 'm-1', rcpt => 'user1@example1.com']) } 0 .. 2);
    spew("$d2/other-1-1764000000001-1.mtspool",
         join '', map { mp([v => 1, id => "x$_", ts => 1764000000000 + $_,
                            rt => 1764000000000, src => 'track', type => 'opened',
                            mid => 'm-1', rcpt => 'user1@example1.com']) } 1 .. 3);
    my $s2 = dir();
    copy("$d2/$_", "$s2/$_") for files_in($d2);
    is load($d2, '--db', ch_url('dups'))->{rc}, 0, 'events in two files';
    load($s2, '--db', "sqlite:$tmp/dups.sqlite");

    same_as_sqlite("$tmp/dups.sqlite", 'dups', 'copies of events');
    is ch_sql('dups', 'SELECT opens FROM mail_messages WHERE message_id = \'m-1\''),
       sq("$tmp/dups.sqlite", 'SELECT opens FROM mail_messages WHERE message_id = \'m-1\''),
       '... the opens of a message counted once per event';
}


# soft bounces, hard ones, complaints: the suppressions of 072, here too

{
    my @soft = suppression_records();

    createdb('soft');
    for my $url ("sqlite:$tmp/soft.sqlite", ch_url('soft')) {
        is run('db', 'init', '--db', $url, '--soft-bounces', '3/7d')->{rc}, 0,
            "$url: db init --soft-bounces 3/7d";
        my $d = dir();
        spew("$d/e-1-1764000000000-0.mtspool", join '', @soft[2, 4, 6]);
        spew("$d/e-1-1764000000001-1.mtspool", join '', @soft[0, 1, 3, 5]);
        is load($d, '--db', $url)->{rc}, 0, "$url: loaded";
    }
    same_as_sqlite("$tmp/soft.sqlite", 'soft', 'soft bounces over two files');
    is ch_rows('soft', "SELECT address, reason, event_id, first_at, last_at, events "
                     . "FROM mail_suppressions ORDER BY address"),
       join("\n", "hard\@example.com\thard_bounce\thb1\t1764000000005\t1764000000009\t2",
                  "soft\@example.com\tsoft_bounces\tsb2\t1764172800000\t1764172800000\t0"),
       '3 soft bounces in 7 days suppress, 2 in 30 days do not';
}


# strings with NUL and invalid UTF-8: U+FFFD, as in the SQL databases

{
    createdb('strings');
    my $d = dir();
    my $s = dir();
    my $rec = mp([v => 1, id => 'u1', rt => 1764000000001, src => 'track',
                  type => 'clicked', mid => "m\xffx", url => "https://e.com/\0a",
                  ua => "a\0b\xffc", newkey => 7]);
    spew("$d/e-1-1764000000000-0.mtspool", $rec);
    spew("$s/e-1-1764000000000-0.mtspool", $rec);
    my $r = load($d, '--db', ch_url('strings'));
    is $r->{rc}, 0, 'NUL and invalid UTF-8 load' or diag $r->{err};
    load($s, '--db', "sqlite:$tmp/strings.sqlite");
    my $fffd = "\xef\xbf\xbd";
    is ch_sql('strings', 'SELECT hex(ua), hex(mid), extra FROM mail_events'),
       join("\t", uc(unpack('H*', "a${fffd}b${fffd}c")), uc(unpack('H*', "m${fffd}x")),
            '{"newkey":7}'),
       '... as U+FFFD, unknown keys kept';
    my $st = run('status', "m${fffd}x", '--db', ch_url('strings'));
    is $st->{out}, run('status', "m${fffd}x", '--db', "sqlite:$tmp/strings.sqlite")->{out},
       '... and the status is what SQLite says';
    like $st->{out}, qr{"last_url":"https://e\.com/\Q$fffd\Ea"}, '... the url repaired';
}


# killed at random points: every event once, the views as one clean load

{
    createdb('killed');
    my $d = dir();
    gen($d, 12000, 1500, 1000, 50, 400);
    my @files = files_in($d);
    my $s = dir();
    copy("$d/$_", "$s/$_") for @files;
    my $kills = 0;
    for (1 .. 8) {
        last unless files_in($d);
        my $pid = bg('load', '--quiet', $d, '--db', ch_url('killed'));
        sleep 0.05 + rand(0.25);
        $kills++ if kill 'KILL', $pid;
        waitpid $pid, 0;
        MailTrack::Load::collect($pid, $?);
    }
    my $r = load($d, '--db', ch_url('killed'));
    is $r->{rc}, 0, "after $kills kills the last run finishes" or diag $r->{err};
    is_deeply [files_in("$d/loaded")], \@files, 'every file in loaded/';
    is ch_sql('killed', 'SELECT uniqExact(id) FROM mail_events'), 12000,
        'every event is there';
    load($s, '--db', "sqlite:$tmp/killed.sqlite");
    same_as_sqlite("$tmp/killed.sqlite", 'killed', 'after kills');
}


# a proxy that cuts the connection after so many bytes towards the
# server, then drops every new connection (libcurl would send the
# request again on a new one) until it gets SIGUSR1

sub cutting_proxy {
    my ($to, $cut) = @_;
    my $l = IO::Socket::INET->new(Listen => 16, LocalAddr => '127.0.0.1:0',
                                  ReuseAddr => 1) or die "listen: $!";
    my $port = $l->sockport;
    my $pid = fork // die "fork: $!";
    if ($pid) {
        close $l;
        return ($pid, $port);
    }
    # not the test's handlers: they stop the servers
    $SIG{TERM} = $SIG{INT} = 'DEFAULT';
    my ($sent, $cutting, $healed) = (0, 0, 0);
    $SIG{USR1} = sub { $healed = 1 };
    my $sel = IO::Select->new($l);
    my %peer;
    my $deadline = time + 300;
    while (time < $deadline) {
        for my $h ($sel->can_read(0.2)) {
            if ($h == $l) {
                my $c = $l->accept or next;
                if ($cutting && !$healed) {
                    close $c;
                    next;
                }
                my $u = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$to") or next;
                $peer{$c} = [$u, 1];
                $peer{$u} = [$c, 0];
                $sel->add($c, $u);
                next;
            }
            my ($o, $up) = @{ $peer{$h} // next };
            my $n = sysread($h, my $buf, 65536);
            if ($n && $up && !$cutting && $sent + $n > $cut) {
                # the first part of it, then both ends cut
                syswrite($o, substr($buf, 0, $cut - $sent)) if $cut > $sent;
                $cutting = 1;
                $n = 0;
            }
            if (!$n) {
                $sel->remove($h, $o);
                delete $peer{$h};
                delete $peer{$o};
                close $h;
                close $o;
                next;
            }
            $sent += $n if $up;
            syswrite($o, $buf);
        }
    }
    POSIX::_exit(0);
}

# an INSERT cut by a dropped connection: nothing of the block is in, the
# file stays; loaded again, each event once

{
    createdb('cut');
    is run('db', 'init', '--db', ch_url('cut'))->{rc}, 0, 'db init';
    my $d = dir();
    gen($d, 3000, 600, 500, 61, 3000);
    my @files = files_in($d);
    my $s = dir();
    copy("$d/$_", "$s/$_") for @files;

    # past the first requests (a few kB), in the middle of the events block
    my ($pid, $pport) = cutting_proxy($ports[0], 150000);
    my $url = "clickhouse://default:mt-secret\@127.0.0.1:$pport/cut";
    my $r = load($d, '--db', $url);
    is $r->{rc}, 1, 'a connection cut mid-insert: exit 1';
    like $r->{err}, qr/(?:reset|closed|recv|send|Empty reply|failure)/i, '... said'
        or diag $r->{err};
    is scalar(files_in($d)), scalar(@files), '... nothing moved';
    is ch_sql('cut', 'SELECT count() FROM mail_events'), 0,
        '... and nothing of the cut block inserted (Native: a block whole or not at all)';

    kill 'USR1', $pid;
    $r = load($d, '--db', $url);
    is $r->{rc}, 0, 'loaded again through the same proxy' or diag $r->{err};
    kill 'TERM', $pid;
    waitpid $pid, 0;
    load($s, '--db', "sqlite:$tmp/cut.sqlite");
    same_as_sqlite("$tmp/cut.sqlite", 'cut', 'after the cut');
}


# refusals: nothing moved, one line, exit 1; --follow retries

{
    createdb('refuse');
    my $d = dir();
    gen($d, 10, 5, 5, 60, 10);

    my $r = load($d, '--db', ch_url('refuse', password => 'wrong'));
    is $r->{rc}, 1, 'a wrong password: exit 1';
    like $r->{err}, qr/^mail-track: clickhouse:\/\/default\@127\.0\.0\.1:\d+\/refuse: .*(?:Wrong password|Authentication failed).*$/m,
        '... one line, without the password';
    is scalar(files_in($d)), 1, '... nothing moved';

    {
        local $ENV{CLICKHOUSE_USER} = 'default';
        local $ENV{CLICKHOUSE_PASSWORD} = 'mt-secret';
        $r = run('db', 'init', '--db', ch_url('refuse', nouser => 1));
        is $r->{rc}, 0, 'CLICKHOUSE_USER and CLICKHOUSE_PASSWORD' or diag $r->{err};
    }

    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1:0');
    my $closed = $s->sockport;
    close $s;
    my $down = "clickhouse://default\@127.0.0.1:$closed/refuse";
    $r = load($d, '--db', $down);
    is $r->{rc}, 1, 'a server down: exit 1';
    like $r->{err}, qr/Could not connect|Connection refused|Couldn't connect/i, '... said'
        or diag $r->{err};
    is scalar(files_in($d)), 1, '... nothing moved';

    my $f = bg('load', '--follow', '--quiet', $d, '--db', $down);
    ok wait_err($f, qr/retrying in 2 s/, 30), '--follow retries with a growing delay';
    kill 'TERM', $f;
    waitpid $f, 0;
    $r = MailTrack::Load::collect($f, $?);
    like $r->{err}, qr/retrying in 1 s\n(?s:.*)retrying in 2 s/, '... 1 s, then 2 s';
    is $r->{rc}, 0, '... and exits 0 on SIGTERM';
    is scalar(files_in($d)), 1, '... having moved nothing';

    $r = load($d, '--db', ch_url('refuse', user => 'reader'));
    is $r->{rc}, 1, 'a read-only user: exit 1';
    like $r->{err}, qr/readonly|read-only|Cannot (?:execute|insert)/i, '... said'
        or diag $r->{err};
    is scalar(files_in($d)), 1, '... nothing moved';

    ch_sql('refuse', "INSERT INTO mail_schema VALUES (7, 0, 'future')");
    $r = load($d, '--db', ch_url('refuse'));
    is $r->{rc}, 1, 'a newer schema: exit 1';
    like $r->{err}, qr/schema is version 7, newer/, '... said';
    is scalar(files_in($d)), 1, '... nothing moved';
}


# HTTPS: the server's certificate verified, against the CA given

{
    createdb('tls');
    my ($hport, $ca) = ch_https(1);
    my $d = dir();
    gen($d, 200, 50, 50, 63, 200);
    my $url = "clickhouse://default:mt-secret\@127.0.0.1:$hport/tls?secure=1";
    my $r = load($d, '--db', $url);
    is $r->{rc}, 1, 'HTTPS to a server whose CA is not trusted: exit 1';
    like $r->{err}, qr/certificate/i, '... said' or diag $r->{err};
    is scalar(files_in($d)), 1, '... nothing moved';
    $r = load($d, '--db', "$url&cafile=$ca");
    is $r->{rc}, 0, 'HTTPS with cafile= its CA: loaded' or diag $r->{err};
    is ch_sql('tls', 'SELECT count() FROM mail_events'), 200, '... every event';
}


# tables of another schema: refused, never altered

{
    createdb('other');
    ch_sql('other', 'CREATE TABLE mail_events (x UInt8) ENGINE = Memory');
    my $d = dir();
    gen($d, 10, 5, 5, 62, 10);
    my $r = load($d, '--db', ch_url('other'));
    is $r->{rc}, 1, 'a mail_events of another schema: exit 1';
    like $r->{err}, qr/not made by mail-track/, '... said';
    $r = run('db', 'init', '--db', ch_url('other'));
    is $r->{rc}, 1, '... db init refuses too';
    is ch_sql('other', 'SELECT name, type FROM system.columns WHERE database = '
                     . "'other' ORDER BY table, name"),
       "x\tUInt8", '... and the table is as it was, alone';

    createdb('extra');
    is run('db', 'init', '--db', ch_url('extra'))->{rc}, 0, 'a schema of ours';
    ch_sql('extra', 'ALTER TABLE mail_files ADD COLUMN y UInt8');
    $r = load($d, '--db', ch_url('extra'));
    is $r->{rc}, 1, 'a column added to one of its tables: exit 1';
    like $r->{err}, qr/mail_files has a column y that schema version 1 does not/, '... said';
    is scalar(files_in($d)), 1, '... nothing moved';
}


# two shards: local tables on each, a Distributed table over them

{
    createdb('fleet', @ports);
    my $r = run('db', 'init', '--cluster', 'mt_test', '--db',
                ch_url('fleet', ports => \@ports));
    is $r->{rc}, 0, 'db init --cluster mt_test on both nodes' or diag $r->{err};

    createdb('fleet2');
    $r = run('db', 'init', '--cluster', 'mt_test', '--db', ch_url('fleet2'));
    is $r->{rc}, 1, 'a cluster of two shards and one node named: refused';
    like $r->{err}, qr/has 2 shards and the URL names 1 nodes/, '... said';

    for my $p (@ports) {
        is ch_sql('fleet', "SELECT engine FROM system.tables WHERE database = 'fleet' "
                         . "AND name IN ('mail_events', 'mail_events_local') ORDER BY name",
                  port => $p),
           "Distributed\nReplacingMergeTree", "node $p: mail_events over mail_events_local";
    }

    my $d = dir();
    gen($d, 8000, 1500, 1000, 70, 2000);
    my $s = dir();
    copy("$d/$_", "$s/$_") for files_in($d);
    $r = load($d, '--db', ch_url('fleet'));
    is $r->{rc}, 0, 'loaded through node 1' or diag $r->{err};
    load($s, '--db', "sqlite:$tmp/fleet.sqlite");

    my @local = map { ch_sql('fleet', 'SELECT count() FROM mail_events_local', port => $_) } @ports;
    ok $local[0] > 1000 && $local[1] > 1000, "events on both shards: @local";
    is $local[0] + $local[1], 8000, '... 8000 in all';
    is ch_sql('fleet', 'SELECT count() FROM mail_events', port => $ports[1]), 8000,
        'the Distributed table on node 2 has them all';

    my %seen;
    for my $p (@ports) {
        $seen{$_}++ for split /\n/, ch_sql('fleet', 'SELECT DISTINCT message_id '
                                           . 'FROM mail_message_events_local', port => $p);
    }
    is scalar(grep { $_ > 1 } values %seen), 0, "a message's events on one shard only";

    same_as_sqlite("$tmp/fleet.sqlite", 'fleet', 'two shards');

    # prune on two shards: each node's local tables, or nothing at all

    $r = run('prune', '--before', '2025-12-15', '--format', 'json', '--db', ch_url('fleet'));
    is $r->{rc}, 1, 'prune naming one node of two shards: refused';
    like $r->{err}, qr/nodes hold \d+ of the cluster's 8000 events: name one node of each shard/,
        '... said';
    is ch_sql('fleet', 'SELECT count() FROM mail_events'), 8000, '... nothing changed';

    my $sr = run('prune', '--before', '2025-12-15', '--format', 'json', '--db', "sqlite:$tmp/fleet.sqlite");
    $r = run('prune', '--before', '2025-12-15', '--format', 'json', '--db', ch_url('fleet', ports => \@ports));
    is $r->{rc}, 0, 'prune naming both shards' or diag $r->{err};
    my ($js, $jc) = map { JSON::PP::decode_json($_->{out}) } $sr, $r;
    is "@$jc{qw(events messages soft_bounces)}", "@$js{qw(events messages soft_bounces)}",
        "... the same events, messages, soft bounces deleted as SQLite: @$js{qw(events messages soft_bounces)}";
    is "$jc->{partitions} $jc->{first_partition}", '1 202511', '... November dropped on each shard';
    for my $p (@ports) {
        is ch_sql('fleet', "SELECT count() FROM mail_events_local WHERE at < $jc->{before}", port => $p), 0,
            "node $p: no event before the cutoff left";
    }
    same_as_sqlite("$tmp/fleet.sqlite", 'fleet', 'two shards, pruned');

    # forget on two shards: the same answer and rows as SQLite's

    my $key = "$tmp/fleet.key";
    is run('keygen', '--hash', $key)->{rc}, 0, 'a hash key';
    my $who = sq("$tmp/fleet.sqlite", "SELECT address FROM mail_suppressions "
                                    . "WHERE address LIKE 'user%' ORDER BY address LIMIT 1");
    my ($fs, $fc) = map { run('forget', $who, '--hash-key', $key, '--format', 'json', '--db', $_) }
        "sqlite:$tmp/fleet.sqlite", ch_url('fleet', ports => \@ports);
    is $fc->{rc}, 0, "forget $who on both shards" or diag $fc->{err};
    is $fc->{out}, $fs->{out}, "... the same answer as SQLite's: $fs->{out}";
    same_as_sqlite("$tmp/fleet.sqlite", 'fleet', 'two shards, an address forgotten');
}

note sprintf 'this file: %.1f s', time - $t0;

done_testing;
