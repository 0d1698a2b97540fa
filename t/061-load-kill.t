# mail-track load, SIGKILLed at random points again and again: in the end
# every event is in the database exactly once, every file is in loaded/,
# and the tables say what one clean load says.  No nginx.

use strict;
use warnings;

use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MailTrack::Load;
use File::Copy qw(copy);
use File::Path qw(make_path);
use Time::HiRes qw(sleep);

my $src = "$tmp/src";
my $spool = "$tmp/spool";
my $clean = "$tmp/clean";
make_path($src, $spool, $clean);

# 40 files; the second seed's files share messages and recipients
gen($src, 36000, 3000, 2000, 1, 1500, 'edge1');
gen($src, 24000, 3000, 2000, 2, 1500, 'edge2');

my @files = files_in($src);
is scalar @files, 40, '40 spool files';

for (@files) {
    copy("$src/$_", "$spool/$_") or die;
    copy("$src/$_", "$clean/$_") or die;
}

my $db = "$tmp/killed.sqlite";
my $kills = 0;
srand($ENV{MT_KILL_SEED} // $$);

for my $i (1 .. 25) {
    last unless files_in($spool);
    my $pid = bg('load', '--quiet', $spool, '--db', "sqlite:$db");
    sleep rand(0.25);
    $kills++ if kill 'KILL', $pid;
    waitpid $pid, 0;
    MailTrack::Load::collect($pid, $?);
}

cmp_ok $kills, '>=', 3, "the loader was killed $kills times";

my $r = run('load', '--quiet', $spool, '--db', "sqlite:$db");
is $r->{rc}, 0, 'the last run finishes the job' or diag $r->{err};

$r = run('load', '--quiet', $clean, '--db', "sqlite:$tmp/clean.sqlite");
is $r->{rc}, 0, 'one clean load of the same files';

is sq($db, 'SELECT count(*), count(DISTINCT id) FROM mail_events'),
    "60000\t60000", 'every event exactly once';
is_deeply [files_in($spool)], [], 'no file left behind';
is_deeply [files_in("$spool/loaded")], \@files, 'every file in loaded/';
ok !-d "$spool/bad", 'none in bad/';
is sq($db, 'SELECT count(*), sum(events) FROM mail_files'), "40\t60000",
    'one ledger row per file, each event counted for one file';

for my $t (['mail_events', 'id', 'id, at, ts, rt, src, type, mid, rcpt, bounce, url, machine, tag'],
           ['mail_suppressions', 'address', '*']) {
    my ($table, $key, $cols) = @$t;
    my $sql = "SELECT $cols FROM $table ORDER BY $key";
    is sq($db, $sql), sq("$tmp/clean.sqlite", $sql),
        "$table is what one clean load gives";
}

done_testing;
