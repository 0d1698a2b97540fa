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

my $msg_cols = 'message_id, recipient, state, sent_at, delivered_at, bounce, '
             . 'bounced_at, complained_at, unsubscribed_at, opens, opens_machine, '
             . 'opens_first, opens_last, clicks, clicks_machine, clicks_first, '
             . 'clicks_last, last_url, url_at, sources';

for my $t (['mail_events', 'id', 'id, at, ts, rt, src, type, mid, rcpt, bounce, url, machine, tag'],
           ['mail_messages', 'message_id', $msg_cols],
           ['mail_suppressions', 'address', '*']) {
    my ($table, $key, $cols) = @$t;
    my $sql = "SELECT $cols FROM $table ORDER BY $key";
    is sq($db, $sql), sq("$tmp/clean.sqlite", $sql),
        "$table is what one clean load gives";
}

is sq($db, 'SELECT count(*) FROM mail_messages'), 3000, 'a row per message';

# the same files in another order: the same rows (the rules are order-free)
my $rev = "$tmp/rev";
make_path($rev);
my $i = 0;
copy("$src/$_", sprintf("$rev/r-1-%d-0.mtspool", 1000 + $i++)) for reverse @files;
$r = run('load', '--quiet', $rev, '--db', "sqlite:$tmp/rev.sqlite");
is $r->{rc}, 0, 'the files loaded newest first';
my $sql = "SELECT $msg_cols FROM mail_messages ORDER BY message_id";
is sq("$tmp/rev.sqlite", $sql), sq("$tmp/clean.sqlite", $sql),
    '... give the same mail_messages';

$r = run('status', 'm-42', '--db', "sqlite:$db");
is $r->{rc}, 0, 'status of a loaded message';
like $r->{out}, qr/^\{"message_id":"m-42","recipient":"user42\@example42\.com",.*"sources":\[[^]]*"track"\]\}\n\z/,
    '... its JSON';

done_testing;
