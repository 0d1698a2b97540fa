# mail-track load with the overlap (a thread reading transaction k + 1
# while the database writes k), over enough files for several
# transactions, SIGKILLed and SIGTERMed at random moments into SQLite and
# into PostgreSQL: every event exactly once in the end, every file moved
# only after its transaction committed (after a SIGTERM the ledger and
# loaded/ agree file for file), and the tables what --no-overlap gives.
# No nginx.

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
make_path($src);

# 3000 files of 20 events: 12 transactions of at most 256 files a pass;
# the second seed's files share messages and recipients
gen($src, 36000, 3000, 2000, 1, 20, 'edge1');
gen($src, 24000, 3000, 2000, 2, 20, 'edge2');

my @files = files_in($src);
is scalar @files, 3000, '3000 spool files';

my $n = 0;

sub copy_of {
    my @f = @_ ? @_ : @files;
    my $d = "$tmp/c" . ++$n;
    make_path($d);
    copy("$src/$_", "$d/$_") or die for @f;
    return $d;
}

my $port = pg_start();
ok $port, "PostgreSQL runs on port $port";
pg_createdb('killed');
pg_createdb('clean');

my %db = (
    sqlite => { url => "sqlite:$tmp/killed.sqlite",
                clean => "sqlite:$tmp/clean.sqlite",
                sql => sub { sq("$tmp/killed.sqlite", $_[0]) },
                clean_sql => sub { sq("$tmp/clean.sqlite", $_[0]) },
                collate => 'BINARY' },
    postgresql => { url => pg_url('killed'), clean => pg_url('clean'),
                    sql => sub { pg_sql('killed', $_[0]) },
                    clean_sql => sub { pg_sql('clean', $_[0]) },
                    collate => '"C"' },
);

srand($ENV{MT_KILL_SEED} // $$);

my $threads = 0;

for my $name ('sqlite', 'postgresql') {
    my $d = $db{$name};
    my $spool = copy_of();
    my (%kills, $termed_ok, $agree);
    $termed_ok = $agree = 0;

    # the clean load first: its time sets how long a killed run may go,
    # so that a fast machine still needs many runs to finish the job
    my $clean = copy_of();
    my $t0 = Time::HiRes::time();
    my $r = run('load', '--quiet', '--no-overlap', $clean, '--db', $d->{clean});
    my $whole = Time::HiRes::time() - $t0;
    is $r->{rc}, 0, "$name: one clean load without the overlap" or diag $r->{err};
    like $r->{err}, qr/3000 files, 60000 events loaded, 0 duplicates/,
        '... its summary';

    for my $i (1 .. 32) {
        last unless files_in($spool);
        last if $i > 16 && ($kills{KILL} // 0) >= 3 && $termed_ok >= 3;
        my $sig = $i % 2 ? 'KILL' : 'TERM';
        my $pid = bg('load', '--quiet', $spool, '--db', $d->{url});
        sleep 0.02 + rand($whole / 12);

        # the reading thread, seen while it runs
        opendir my $dh, "/proc/$pid/task";
        $threads++ if $dh && grep({ /^\d+$/ } readdir $dh) >= 2;

        $kills{$sig}++ if kill $sig, $pid;
        waitpid $pid, 0;
        my $r = MailTrack::Load::collect($pid, $?);

        next unless $sig eq 'TERM' && $r->{sig} == 0;

        # a clean stop: nothing committed is left in place, nothing
        # moved that is not committed
        $termed_ok++ if $r->{rc} == 0;
        my @ledger = split /\n/,
            $d->{sql}->("SELECT name FROM mail_files ORDER BY name COLLATE $d->{collate}");
        diag "$name $i: rc $r->{rc}, loaded " . scalar(files_in("$spool/loaded")) if $ENV{MT_KILL_DEBUG};
        $agree++ if join(',', @ledger) eq join(',', files_in("$spool/loaded"));
    }

    cmp_ok $kills{KILL} // 0, '>=', 3, "$name: SIGKILLed $kills{KILL} times";
    cmp_ok $termed_ok, '>=', 3, "$name: SIGTERM ended the load with 0 $termed_ok times";
    is $agree, $termed_ok, "$name: after each, the ledger is loaded/";

    $r = run('load', '--quiet', $spool, '--db', $d->{url});
    is $r->{rc}, 0, "$name: the last run finishes the job" or diag $r->{err};

    is $d->{sql}->('SELECT count(*), count(DISTINCT id) FROM mail_events'),
        "60000\t60000", "$name: every event exactly once";
    is_deeply [files_in($spool)], [], "$name: no file left behind";
    is_deeply [files_in("$spool/loaded")], \@files, "$name: every file in loaded/";
    ok !-d "$spool/bad", "$name: none in bad/";
    is $d->{sql}->('SELECT count(*), sum(events) FROM mail_files'),
        "3000\t60000", "$name: one ledger row per file";

    for my $t (['mail_events', 'id', 'id, at, ts, rt, src, type, mid, rcpt, bounce, url, machine, tag'],
               ['mail_messages', 'message_id',
                'message_id, recipient, state, sent_at, delivered_at, bounce, '
                . 'bounced_at, complained_at, unsubscribed_at, opens, '
                . 'opens_machine, opens_first, opens_last, clicks, '
                . 'clicks_machine, clicks_first, clicks_last, last_url, '
                . 'url_at, sources'],
               ['mail_suppressions', 'address',
                'address, reason, event_id, first_at, last_at, events'])
    {
        my ($table, $key, $cols) = @$t;
        my $sql = "SELECT $cols FROM $table ORDER BY $key COLLATE $d->{collate}";
        is $d->{sql}->($sql), $d->{clean_sql}->($sql),
            "$name: $table is what one clean load gives";
    }
}

cmp_ok $threads, '>=', 1, "the reading thread was seen $threads times";


# a damaged file in the second transaction: the others load, it goes to
# bad/ with the same message, as without the overlap

{
    my @runs;
    my $name = $files[400];
    for my $opt ([], ['--no-overlap']) {
        my $d = copy_of(@files[0 .. 599]);
        my $bad = "$d/$name";
        my $size = -s $bad;
        truncate $bad, $size - 7 or die;
        my $r = run('load', '--quiet', @$opt, $d, '--db', "sqlite:$tmp/bad$n.sqlite");
        is $r->{rc}, 1, "a damaged file @$opt: exit 1";
        like $r->{err}, qr/\Q$name\E: damaged from byte \d+: \d+ events loaded.*moved to \S+\/bad\//,
            '... reported, moved to bad/';
        is_deeply [files_in("$d/bad")], [$name], '... it alone in bad/';
        is scalar(files_in("$d/loaded")), 599, '... the others in loaded/';
        (my $err = $r->{err}) =~ s/\Q$d\E//g;
        $err =~ s/, [\d.]+ s, \d+ events\/s$//m;
        push @runs, [$err, sq("$tmp/bad$n.sqlite", 'SELECT count(*) FROM mail_events')];
    }
    is_deeply $runs[0], $runs[1], 'the same messages and events either way';
}

done_testing;
