# mail-track load into a real PostgreSQL server, started here (as
# "nobody" when run as root) and stopped at the end: partitions, several
# loaders at once, soft bounces, bad credentials and read-only databases.
# No nginx.

use strict;
use warnings;

use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MailTrack::Load;
use MailTrack::Msgpack qw(:DEFAULT rec);
use File::Copy qw(copy);
use File::Path qw(make_path);
use IO::Socket::INET;
use Time::HiRes qw(sleep time);

my $port = pg_start();
ok $port, "PostgreSQL runs on port $port";

my $n = 0;

sub dir {
    $n++;
    my $d = "$tmp/s$n";
    make_path($d);
    return $d;
}

sub load { run('load', '--quiet', @_) }


# a backlog, partitions by month, exactly once

{
    pg_createdb('backlog');
    my $d = dir();
    gen($d, 8000, 2000, 1500, 1, 2000);
    my $r = load($d, '--db', pg_url('backlog'));
    is $r->{rc}, 0, 'load into PostgreSQL exits 0' or diag $r->{err};
    like $r->{err}, qr/4 files, 8000 events loaded, 0 duplicates/, 'the summary';
    is pg_sql('backlog', 'SELECT count(*), count(DISTINCT id) FROM mail_events'),
        "8000\t8000", 'every event once';
    is pg_sql('backlog', 'SELECT count(*) FROM mail_event_ids'), 8000,
        'the id table has them all';
    is pg_sql('backlog', "SELECT string_agg(c.relname, ',' ORDER BY c.relname) "
                       . "FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       . "WHERE i.inhparent = 'mail_events'::regclass"),
        'mail_events_202511,mail_events_202512,mail_events_202601',
        'one partition per month, made on demand';

    rename "$d/loaded/$_", "$d/$_" for files_in("$d/loaded");
    $r = load($d, '--db', pg_url('backlog'));
    like $r->{err}, qr/0 events loaded, 0 duplicates, 0 not loadable, 0 bad files, 4 loaded before/,
        'the ledger knows the files again';
}


# events loaded before, in files the ledger does not know: the ids go by
# COPY until one was there before, then they are merged; PostgreSQL ends
# where SQLite does

{
    pg_createdb('dups');
    my @urls = (pg_url('dups'), "sqlite:$tmp/dups.sqlite");
    my @steps = (
        # 2000 events in two files, then the same events cut otherwise
        [2000, 1000, 'edge1', '2000 events loaded, 0 duplicates'],
        [2000, 500, 'edge2', '0 events loaded, 2000 duplicates'],
        # the same ids (at other times) and 1000 new ones, in one file
        [3000, 3000, 'edge3', '1000 events loaded, 2000 duplicates'],
        # new events only, after a transaction that met old ones
        [500, 500, 'edge4', '500 events loaded, 0 duplicates'],
    );
    for my $s (@steps) {
        my ($events, $per, $host, $summary) = @$s;
        my $d = dir();
        gen($d, $events, 300, 200, $host eq 'edge4' ? 8 : 7, $per, $host);
        for my $url (@urls) {
            my $c = dir();
            copy("$d/$_", "$c/$_") for files_in($d);
            my $r = load($c, '--db', $url);
            is $r->{rc}, 0, "$host into $url" or diag $r->{err};
            like $r->{err}, qr/\Q$summary\E/, "... $summary";
        }
    }
    is pg_sql('dups', 'SELECT count(*), count(DISTINCT id) FROM mail_events'),
        "3500\t3500", 'each event once';
    is pg_sql('dups', 'SELECT count(*) FROM mail_event_ids'), 3500,
        '... and its id once';
    for my $q ('SELECT id, at, type, mid, file_id FROM mail_events ORDER BY id',
               "SELECT message_id, recipient, state, sent_at, delivered_at, "
               . "bounce, bounced_at, complained_at, unsubscribed_at, opens, "
               . "opens_machine, opens_first, opens_last, clicks, "
               . "clicks_machine, clicks_first, clicks_last, last_url, url_at, "
               . "sources FROM mail_messages ORDER BY message_id",
               'SELECT address, reason, event_id, first_at, last_at, events '
               . 'FROM mail_suppressions ORDER BY address')
    {
        (my $sq = $q) =~ s/ORDER BY (\w+)/ORDER BY $1 COLLATE BINARY/;
        (my $pq = $q) =~ s/ORDER BY (\w+)/ORDER BY $1 COLLATE "C"/;
        is sq("$tmp/dups.sqlite", $sq), pg_sql('dups', $pq),
            "as in SQLite: $q";
    }
}


# the URL may leave everything to libpq's PG* environment variables

{
    pg_createdb('env');
    my $d = dir();
    gen($d, 100, 10, 10, 2, 100);
    local $ENV{PGHOST} = '127.0.0.1';
    local $ENV{PGPORT} = $port;
    local $ENV{PGUSER} = 'mt';
    local $ENV{PGDATABASE} = 'env';
    my $r = load($d, '--db', 'postgresql://');
    is $r->{rc}, 0, 'postgresql:// with PGHOST, PGPORT, PGUSER, PGDATABASE, PGPASSWORD'
        or diag $r->{err};
    is pg_sql('env', 'SELECT count(*) FROM mail_events'), 100, '... loads there';
}


# strings PostgreSQL would refuse: repaired, as in SQLite

{
    pg_createdb('strings');
    my $d = dir();
    spew("$d/e-1-1764000000000-0.mtspool",
         mp([v => 1, id => 'u1', rt => 1764000000001, src => 'track',
             type => 'opened', ua => "a\0b\xffc", newkey => 7]));
    my $r = load($d, '--db', pg_url('strings'));
    is $r->{rc}, 0, 'NUL and invalid UTF-8 load' or diag $r->{err};
    is pg_sql('strings', "SELECT encode(convert_to(ua, 'UTF8'), 'hex'), extra "
                       . "FROM mail_events"),
        unpack('H*', "a\xef\xbf\xbdb\xef\xbf\xbdc") . "\t{\"newkey\":7}",
        '... as U+FFFD, unknown keys kept';
}


# soft bounces: N within the window suppress, in either database

# 3 soft bounces in 7 days, 2 in 30 days, a hard bounce and a complaint
my @soft = suppression_records();

for my $db (['sqlite', "sqlite:$tmp/soft.sqlite"], ['postgresql', pg_url('soft')]) {
    my ($kind, $url) = @$db;
    pg_createdb('soft') if $kind eq 'postgresql';
    is run('db', 'init', '--db', $url, '--soft-bounces', '3/7d')->{rc}, 0,
        "$kind: db init --soft-bounces 3/7d";

    # out of order and in two files: the answer must not care
    my $d = dir();
    spew("$d/e-1-1764000000000-0.mtspool", join '', @soft[2, 4, 6]);
    spew("$d/e-1-1764000000001-1.mtspool", join '', @soft[0, 1, 3, 5]);
    my $r = load($d, '--db', $url);
    is $r->{rc}, 0, "$kind: loaded" or diag $r->{err};

    my $sql = 'SELECT address, domain, suppressed, reason, src, message_id, '
            . 'event_id, first_at, last_at, events FROM mail_suppressions '
            . 'ORDER BY address';
    my $rows = $kind eq 'sqlite' ? sq("$tmp/soft.sqlite", $sql)
                                 : pg_sql('soft', $sql);
    is $rows, join("\n",
        "hard\@example.com\texample.com\t1\thard_bounce\tmailgun\tm-h\thb1\t1764000000005\t1764000000009\t2",
        "soft\@example.com\texample.com\t1\tsoft_bounces\tsendgrid\tm-s2\tsb2\t1764172800000\t1764172800000\t0"),
        "$kind: 3 soft bounces in 7 days suppress, 2 in 30 days do not; "
        . 'the earliest hard event names the reason';
}


# many edges, one database: three loaders at once give what one gives

{
    pg_createdb('conc');
    pg_createdb('one');
    my @d = map { dir() } 1 .. 3;
    my $all = dir();
    for my $i (0 .. 2) {
        # overlapping messages and recipients; one file that all three
        # have; the same 500 events cut into files otherwise on each
        gen($d[$i], 6000, 1500, 1000, 10 + $i, 500, "edge$i");
        gen($d[$i], 500, 1500, 1000, 99, 500, 'shared');
        gen($d[$i], 500, 1500, 1000, 98, 100 + 150 * $i, "cut$i");
        copy("$d[$i]/$_", "$all/$_") for files_in($d[$i]);
    }

    my @pids = map { bg('load', '--quiet', $_, '--db', pg_url('conc')) } @d;
    my @r;
    for (@pids) {
        waitpid $_, 0;
        push @r, MailTrack::Load::collect($_, $?);
    }
    is_deeply [map { $_->{rc} } @r], [0, 0, 0], 'three concurrent loaders exit 0'
        or diag join '', map { $_->{err} } @r;
    unlike join('', map { $_->{err} } @r), qr/deadlock/i, '... no deadlock reported';

    my $r = load($all, '--db', pg_url('one'));
    is $r->{rc}, 0, 'one loader over the same files';

    for my $q ('SELECT count(*), count(DISTINCT id) FROM mail_events',
               'SELECT md5(string_agg(id || at || type || coalesce(mid, \'\'), \',\' ORDER BY id)) FROM mail_events',
               'SELECT md5(string_agg(address || reason || coalesce(event_id, \'\') || first_at || last_at || events, \',\' ORDER BY address)) FROM mail_suppressions',
               'SELECT md5(string_agg(address || at || event_id, \',\' ORDER BY address, at, event_id)) FROM mail_soft_bounces',
               'SELECT md5(string_agg(concat_ws(\'|\', message_id, recipient, state, sent_at, delivered_at, bounce, bounced_at, complained_at, unsubscribed_at, opens, opens_machine, opens_first, opens_last, clicks, clicks_machine, clicks_first, clicks_last, last_url, url_at, sources), \',\' ORDER BY message_id)) FROM mail_messages')
    {
        is pg_sql('conc', $q), pg_sql('one', $q), "the same answer: $q";
    }
    is pg_sql('conc', 'SELECT count(*) FROM mail_events'), 19000,
        'each event once: the shared file loaded once, the events cut '
        . 'otherwise too';
    is pg_sql('conc', 'SELECT count(*), sum(opens + clicks) FROM mail_messages'),
       pg_sql('one', 'SELECT count(*), sum(opens + clicks) FROM mail_messages'),
        'no lost update in mail_messages';
}


# killed at random points: exactly once in PostgreSQL too

{
    pg_createdb('killed');
    my $d = dir();
    gen($d, 10000, 1500, 1000, 50, 500);
    my @files = files_in($d);
    my $kills = 0;
    for (1 .. 8) {
        last unless files_in($d);
        my $pid = bg('load', '--quiet', $d, '--db', pg_url('killed'));
        sleep 0.1 + rand(0.3);
        $kills++ if kill 'KILL', $pid;
        waitpid $pid, 0;
        MailTrack::Load::collect($pid, $?);
    }
    my $r = load($d, '--db', pg_url('killed'));
    is $r->{rc}, 0, "after $kills kills the last run finishes";
    is pg_sql('killed', 'SELECT count(*), count(DISTINCT id) FROM mail_events'),
        "10000\t10000", 'every event exactly once';
    is_deeply [files_in("$d/loaded")], \@files, 'every file in loaded/';
}


# refusals: nothing moved, one line, exit 1; --follow retries

{
    pg_createdb('refuse');
    my $d = dir();
    gen($d, 10, 5, 5, 60, 10);

    my $r = load($d, '--db', pg_url('refuse', password => 'wrong'));
    is $r->{rc}, 1, 'a wrong password: exit 1';
    like $r->{err}, qr/^mail-track: postgresql:\/\/mt\@127\.0\.0\.1:\d+\/refuse: .*password authentication failed for user "mt"$/m,
        '... one line, without the password';
    is scalar(files_in($d)), 1, '... nothing moved';

    my $s = IO::Socket::INET->new(Listen => 1, LocalAddr => '127.0.0.1:0');
    my $closed = $s->sockport;
    close $s;
    $r = load($d, '--db', "postgresql://mt\@127.0.0.1:$closed/x");
    is $r->{rc}, 1, 'an unreachable server: exit 1';
    like $r->{err}, qr/Connection refused/, '... said';

    is run('db', 'init', '--db', pg_url('refuse'))->{rc}, 0, 'db init';
    pg_sql('refuse', 'ALTER DATABASE refuse SET default_transaction_read_only = on');
    $r = load($d, '--db', pg_url('refuse'));
    is $r->{rc}, 1, 'a read-only database: exit 1';
    like $r->{err}, qr/read-only transaction.*nothing of \S+ moved/, '... said';
    is scalar(files_in($d)), 1, '... nothing moved';

    my $f = bg('load', '--follow', '--quiet', $d, '--db', pg_url('refuse'));
    # no fixed sleep: under valgrind the first retry alone takes seconds
    ok wait_err($f, qr/retrying in 2 s/, 120),
        '--follow: a second retry within 120 s';
    kill 'TERM', $f;
    waitpid $f, 0;
    $r = MailTrack::Load::collect($f, $?);
    like $r->{err}, qr/read-only.*\n.*retrying in 1 s\n(?s:.*)retrying in 2 s/,
        '--follow retries with a growing delay';
    is $r->{rc}, 0, '... and exits 0 on SIGTERM';
    is scalar(files_in($d)), 1, '... having moved nothing';

    pg_sql('postgres', 'ALTER DATABASE refuse SET default_transaction_read_only = off');
    pg_sql('refuse', "INSERT INTO mail_schema VALUES (7, 0, 'future')");
    $r = load($d, '--db', pg_url('refuse'));
    is $r->{rc}, 1, 'a newer schema: exit 1';
    like $r->{err}, qr/schema is version 7, newer/, '... said';
}

done_testing;
