# mail-track prune against SQLite and a real PostgreSQL (started here,
# stopped at the end): whole monthly partitions dropped, the boundary
# month's rows deleted, the same rows left in both databases, what is
# kept (suppressions, the ledger), a loader that made a dropped partition
# going on, and every bad input.  No nginx.

use strict;
use warnings;

use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MailTrack::Load;
use MailTrack::Msgpack qw(:DEFAULT);
use MailTrack::Query;
use JSON::PP;
use File::Copy qw(copy);
use File::Path qw(make_path);
use Time::HiRes qw(sleep);

my $port = pg_start();
ok $port, "PostgreSQL runs on port $port";

# spool-gen's times: 2025-11-24 to 2026-01-22, three months

my $q = 'SELECT (SELECT count(*) FROM mail_events), (SELECT min(at) FROM mail_events), '
      . '(SELECT count(*) FROM mail_messages), (SELECT count(*) FROM mail_soft_bounces), '
      . '(SELECT count(*) FROM mail_suppressions), (SELECT count(*) FROM mail_files)';

my @dbs = both_dbs('prune');
my %before;

for my $db (@dbs) {
    my $d = "$tmp/spool-$db->[0]";
    make_path($d);
    gen($d, 12000, 3000, 2000, 3, 3000);
    my $r = run('load', '--quiet', $d, '--db', $db->[1]);
    is $r->{rc}, 0, "$db->[0]: loaded" or diag $r->{err};
    $before{$db->[0]} = db_sql($db, $q);
}

is $before{postgresql}, $before{sqlite}, 'the same rows in both';

my ($sq, $pg) = @dbs;
my $dec = 1764547200000;    # 2025-12-01T00:00:00Z
my $mid = 1765756800000;    # 2025-12-15T00:00:00Z

is pg_sql('prune', "SELECT string_agg(c.relname, ',' ORDER BY c.relname) FROM pg_inherits i "
                 . "JOIN pg_class c ON c.oid = i.inhrelid WHERE i.inhparent = 'mail_events'::regclass"),
   'mail_events_202511,mail_events_202512,mail_events_202601', 'three monthly partitions';

# a month's boundary: the whole of November goes as a partition

my %r;
for my $db (@dbs) {
    my $want = db_sql($db, "SELECT count(*) FROM mail_events WHERE at < $dec");
    my $r = run('prune', '--db', $db->[1], '--before', '2025-12-01', '--format', 'json');
    is $r->{rc}, 0, "$db->[0]: prune --before 2025-12-01 exits 0" or diag $r->{err};
    my $j = decode_json($r->{out});
    is $j->{events}, $want, "$db->[0]: ... says how many events went ($want)";
    is $j->{before}, $dec, '... and the cutoff';
    $r{$db->[0]} = $j;
}

is "$r{postgresql}{partitions} $r{postgresql}{first_partition} $r{postgresql}{last_partition}",
   '1 mail_events_202511 mail_events_202511', 'PostgreSQL: November dropped as a partition';
is pg_sql('prune', "SELECT to_regclass('mail_events_202511') IS NULL"), 't', '... the table is gone';
is $r{sqlite}{partitions}, 0, 'SQLite: no partitions';
is "$r{postgresql}{messages} $r{postgresql}{soft_bounces}", "$r{sqlite}{messages} $r{sqlite}{soft_bounces}",
   'the same messages and soft bounces deleted in both';
ok $r{sqlite}{messages} > 0 && $r{sqlite}{soft_bounces} > 0, '... some of each';
is pg_sql('prune', "SELECT count(*) FROM mail_event_ids WHERE at < $dec"), 0,
   'PostgreSQL: the ids of the events gone, gone';

# within a month: the rows before the cutoff

for my $db (@dbs) {
    my $r = run('prune', '--db', $db->[1], '--before', '2025-12-15', '--format', 'table');
    is $r->{rc}, 0, "$db->[0]: prune --before 2025-12-15";
    like $r->{out}, qr/^before 2025-12-15 00:00:00 UTC: \d+ events, \d+ messages, \d+ soft bounces deleted; suppressions and the file ledger kept$/,
        '... a line on a terminal';
}
is pg_sql('prune', "SELECT to_regclass('mail_events_202512') IS NOT NULL"), 't',
   'PostgreSQL: the month of the cutoff stays';

my %after = map { $_->[0] => db_sql($_, $q) } @dbs;
is $after{postgresql}, $after{sqlite}, 'the same rows left in both';
my @a = split /\t/, $after{sqlite};
my @b = split /\t/, $before{sqlite};
ok $a[1] >= $mid, 'no event older than the cutoff left';
is "$a[4] $a[5]", "$b[4] $b[5]", 'suppressions and the file ledger kept';
is db_sql($sq, "SELECT count(*) FROM mail_messages WHERE coalesce(sent_at, 0) < $mid "
             . "AND coalesce(delivered_at, 0) < $mid AND coalesce(bounced_at, 0) < $mid "
             . "AND coalesce(complained_at, 0) < $mid AND coalesce(unsubscribed_at, 0) < $mid "
             . "AND coalesce(opens_last, 0) < $mid AND coalesce(clicks_last, 0) < $mid"),
   0, 'no message whose every time is older left';
ok db_sql($sq, "SELECT count(*) FROM mail_messages WHERE sent_at < $mid") > 0,
   '... one with an older sending and a later event stays';

# a loader that made a partition prune dropped makes it again

{
    pg_createdb('follow');
    my $url = pg_url('follow');
    my $d = "$tmp/follow";
    make_path($d);
    my $nov = 1764000000000;    # 2025-11-24

    spool_of($d, ev(src => 'track', type => 'opened', mid => 'f1', rcpt => 'f@example.com', ts => $nov));
    my $pid = bg('load', '--follow', '--quiet', $d, '--db', $url);
    my $tries = 0;
    sleep 0.2 while files_in($d) && ++$tries < 300;
    is scalar(files_in($d)), 0, 'a loader follows the spool: November loaded';

    my $r = run('prune', '--db', $url, '--before', '2025-12-01', '--format', 'json');
    is decode_json($r->{out})->{partitions}, 1, '... prune drops November meanwhile';

    spool_of($d, ev(src => 'track', type => 'opened', mid => 'f2', rcpt => 'f@example.com', ts => $nov + 1000));
    $tries = 0;
    sleep 0.2 while files_in($d) && ++$tries < 300;
    is scalar(files_in($d)), 0, '... a late November event is loaded by the same loader';
    is pg_sql('follow', "SELECT count(*) FROM mail_events WHERE mid = 'f2'"), 1,
        '... into November made anew';

    kill 'TERM', $pid;
    waitpid $pid, 0;
    my $c = MailTrack::Load::collect($pid, $?);
    is $c->{rc}, 0, '... and exits 0 on SIGTERM';
    unlike $c->{err}, qr/no partition|nothing of .* moved/, '... without a failed transaction said';
}

# a detach cut short is finished by the next run

{
    pg_createdb('pending');
    my $url = pg_url('pending');
    my $d = "$tmp/pending";
    make_path($d);
    gen($d, 2000, 500, 400, 4, 2000);
    is run('load', '--quiet', $d, '--db', $url)->{rc}, 0, 'loaded';

    # a reader holds November; DETACH CONCURRENTLY waits for it and is
    # cancelled meanwhile: the partition stays "detach pending"
    my $t = 'psql -X -q -h 127.0.0.1 -p ' . $port . ' -U mt -d pending';
    my $holder = open(my $hfh, '|-', "$t > /dev/null 2>&1") or die;
    print $hfh "BEGIN; SELECT count(*) FROM mail_events; SELECT pg_sleep(30);\n";
    $hfh->flush;
    my $n = 0;
    sleep 0.1 until pg_sql('pending', "SELECT count(*) FROM pg_stat_activity WHERE state = 'active' "
                                    . "AND query LIKE '%pg_sleep(30)%' AND pid <> pg_backend_pid()")
                    || ++$n > 600;
    system("$t -c \"SET statement_timeout = '2s'\" "
           . "-c 'ALTER TABLE mail_events DETACH PARTITION mail_events_202511 CONCURRENTLY' > /dev/null 2>&1");
    kill 'TERM', $holder;
    close $hfh;
    pg_sql('pending', "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = 'pending' AND pid <> pg_backend_pid()");
    is pg_sql('pending', "SELECT i.inhdetachpending FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                       . "WHERE c.relname = 'mail_events_202511'"), 't', 'a partition left detach pending';

    my $r = run('prune', '--db', $url, '--before', '2025-12-01', '--format', 'json');
    is $r->{rc}, 0, 'prune exits 0' or diag $r->{err};
    is decode_json($r->{out})->{partitions}, 1, '... finishes the detach and drops it';
    is pg_sql('pending', "SELECT to_regclass('mail_events_202511') IS NULL"), 't', '... gone';
}

# bad input

{
    my @cases = (
        [['--older-than', '0'], 2, qr/--older-than "0": expected a duration longer than 0/],
        [['--older-than', '400x'], 2, qr/--older-than "400x"/],
        [['--older-than', '400d', '--before', '2025-01-01'], 2, qr/expected --older-than DURATION or --before WHEN/],
        [[], 2, qr/expected --older-than DURATION or --before WHEN/],
        [['--before', 'yesterday-ish'], 2, qr/--before "yesterday-ish"/],
        [['--older-than', '400d', '--format', 'xml'], 2, qr/--format "xml"/],
    );
    for my $c (@cases) {
        my ($args, $rc, $re) = @$c;
        my $r = run('prune', '--db', $sq->[1], @$args);
        is $r->{rc}, $rc, "prune @$args: exit $rc";
        like $r->{err}, $re, '... said';
    }

    my $r = run('prune', '--older-than', '400d');
    is $r->{rc}, 2, 'no --db: exit 2';

    sq("$tmp/noschema.sqlite", 'CREATE TABLE t (x int)');
    $r = run('prune', '--db', "sqlite:$tmp/noschema.sqlite", '--older-than', '400d');
    is $r->{rc}, 1, 'a database without the schema: exit 1';
    like $r->{err}, qr/no mail-track schema/, '... said';

    copy("$tmp/prune.sqlite", "$tmp/newer.sqlite");
    sq("$tmp/newer.sqlite", "INSERT INTO mail_schema VALUES (99, 0, 'future')");
    my $md5 = file_md5("$tmp/newer.sqlite");
    $r = run('prune', '--db', "sqlite:$tmp/newer.sqlite", '--older-than', '1d');
    is $r->{rc}, 1, 'a newer schema: exit 1';
    like $r->{err}, qr/newer than this mail-track/, '... said';
    is file_md5("$tmp/newer.sqlite"), $md5, '... untouched';

    pg_createdb('pnewer');
    is run('db', 'init', '--db', pg_url('pnewer'))->{rc}, 0, 'PostgreSQL';
    pg_sql('pnewer', "INSERT INTO mail_schema VALUES (99, 0, 'future')");
    my $rows = pg_sql('pnewer', 'SELECT count(*) FROM mail_events');
    $r = run('prune', '--db', pg_url('pnewer'), '--older-than', '1d');
    is $r->{rc}, 1, 'PostgreSQL, a newer schema: exit 1';
    like $r->{err}, qr/newer than this mail-track/, '... said';
}

done_testing;
