# The query commands against a real ClickHouse server (started here,
# stopped at the end): the same spool loaded into SQLite and ClickHouse
# gives the same report, suppression list, check and exports, output for
# output; prune deletes what SQLite's deletes, and the same answers
# follow; what ClickHouse cannot do yet (add, remove, forget) is refused
# in one line, the database untouched.  No nginx.

use strict;
use warnings;

use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MailTrack::Load;
use MailTrack::Msgpack qw(:DEFAULT);
use MailTrack::Query;
use File::Path qw(make_path);
use JSON::PP;

my ($port) = ch_start(1);
ok $port, "ClickHouse runs on port $port";

ch_sql('default', 'CREATE DATABASE q');
my $ch = ch_url('q');
my $sq = "sqlite:$tmp/q.sqlite";

# sh1: one message id, two recipients (forget rebuilds it from the other's)
my @records = (report_events(), odd_events(day_ms(1) + 20 * 3600000),
               ev(src => 'sendgrid', type => 'sent', mid => 'sh1', rcpt => 'ann@example.com',
                  ts => day_ms(1) + 3600000),
               ev(src => 'track', type => 'opened', mid => 'sh1', rcpt => 'ben@example.com',
                  machine => 0, ts => day_ms(1) + 7200000));

for my $url ($sq, $ch) {
    my $d = "$tmp/spool-" . ($url =~ /^(\w+)/)[0];
    make_path($d);
    gen($d, 20000, 3000, 2000, 11, 5000);
    spool_of($d, @records);
    my $r = run('load', '--quiet', $d, '--db', $url);
    is $r->{rc}, 0, "loaded into $url" or diag $r->{err};
}

# what reads: the same answers

for my $by (undef, qw(day hour tag src domain)) {
    for my $f (qw(json csv table)) {
        my @a = ('report', '--since', '2025-01-01', '--until', '2027-01-01',
                 defined $by ? ('--by', $by) : (), '--format', $f);
        my ($s, $c) = map { run(@a, '--db', $_) } $sq, $ch;
        is $c->{rc}, 0, 'report ' . ($by // 'total') . " $f on ClickHouse"
            or diag $c->{err};
        is $c->{out}, $s->{out}, '... the same output as SQLite';
    }
}

my $addr;
for my $a (['list', '--format', 'csv'], ['list', '--format', 'json'],
           ['list', '--reason', 'complaint'], ['export'],
           ['export', '--for', 'sendgrid'], ['export', '--for', 'ses'],
           ['export', '--for', 'postmark'],
           ['export', '--for', 'mailgun', '--list', 'bounces'])
{
    my ($s, $c) = map { run('suppressions', @$a, '--db', $_) } $sq, $ch;
    is $c->{rc}, 0, "suppressions @$a on ClickHouse" or diag $c->{err};
    is $c->{out}, $s->{out}, '... the same output as SQLite';
    ($addr) = $s->{out} =~ /^([^,\n]+\@[^,\n]+),/m if $a->[0] eq 'list' && $a->[2] eq 'csv';
}

ok $addr, "a suppressed address: $addr";
for my $q (uc($addr), 'nobody@example.com', 'Bob <bob@example.com>') {
    my ($s, $c) = map { run('suppressions', 'check', $q, '--db', $_) } $sq, $ch;
    is $c->{rc}, $s->{rc}, "check $q: exit $s->{rc} in both";
    is $c->{out}, $s->{out}, '... the same answer';
}

# what changes rows: refused, nothing changed

my $before = ch_sql('q', 'SELECT count() FROM mail_suppression_claims') . ' '
           . ch_sql('q', 'SELECT count() FROM mail_events') . ' '
           . ch_sql('q', 'SELECT count() FROM mail_settings_log');

# bad input to prune: the same refusals as SQL's, nothing changed

for my $a (['--older-than', '0d'], ['--older-than', 'x'], ['--before', 'soon'], [])
{
    my ($s, $c) = map { run('prune', @$a, '--db', $_) } $sq, $ch;
    is $c->{rc}, 2, "prune @$a on ClickHouse: exit 2";
    is $c->{err}, $s->{err}, '... the same message as SQLite';
}

is ch_sql('q', 'SELECT count() FROM mail_suppression_claims') . ' '
   . ch_sql('q', 'SELECT count() FROM mail_events') . ' '
   . ch_sql('q', 'SELECT count() FROM mail_settings_log'),
   $before, '... nothing changed';

# what a command reads, in both: the same (a mutation awaited)

my @mids = split /\n/, sq("$tmp/q.sqlite", 'SELECT message_id FROM mail_messages '
                            . 'ORDER BY message_id LIMIT 3');
push @mids, qw(m1 m2 m3 m9 sh1);

sub same_answers {
    my ($what) = @_;
    my @a = (['report', '--since', '2025-01-01', '--until', '2027-01-01', '--by', 'day'],
             ['report', '--since', '2025-01-01', '--until', '2027-01-01', '--by', 'domain'],
             ['suppressions', 'list', '--all'],
             map { ['status', $_] } @mids);
    my $diff = 0;
    for my $c (@a) {
        my ($s, $c2) = map { now_is(run(@$c, '--format', 'json', '--db', $_)) } $sq, $ch;
        next if $c2->{rc} == $s->{rc} && $c2->{out} eq $s->{out};
        my %in = map { $_ => 1 } split /\n/, $c2->{out};
        my %is = map { $_ => 1 } split /\n/, $s->{out};
        diag "@$c: exit $s->{rc} vs $c2->{rc}$c2->{err}\n"
            . join("\n", (map { "SQLite: $_" } grep { !$in{$_} } split /\n/, $s->{out}),
                          (map { "ClickHouse: $_" } grep { !$is{$_} } split /\n/, $c2->{out}));
        $diff++;
    }
    is $diff, 0, "$what: report, suppressions and status the same as SQLite's";
}

# suppressions add and remove: the same answers, then the same list and
# checks; a time of this run (a hand's) is NOW in both

my $t0 = time() * 1000 - 1000;
sub now_is {
    my ($r) = @_;
    $r->{out} =~ s/\b(\d{13})\b/$1 >= $t0 ? 'NOW' : $1/ge;
    return $r;
}

my ($bob) = 'bob@example.com';
my @hand = (['add', 'new@example.com', '--note', 'hello'], ['add', 'new@example.com'],
            ['add', $bob, '--reason', 'complaint'], ['check', $bob],
            ['remove', $bob], ['check', $bob], ['remove', $bob],
            ['add', $bob, '--reason', 'unsubscribe', '--note', 'asked'], ['check', $bob],
            ['remove', 'new@example.com'], ['add', 'new@example.com', '--reason', 'hard_bounce'],
            ['check', 'new@example.com'], ['remove', 'nobody@example.com'],
            ['remove', $addr], ['check', $addr], ['add', $addr]);
for my $a (@hand) {
    my ($s, $c) = map { now_is(run('suppressions', @$a, '--format', 'json', '--db', $_)) } $sq, $ch;
    is $c->{rc}, $s->{rc}, "suppressions @$a on ClickHouse: exit $s->{rc} as SQLite's" or diag $c->{err};
    is $c->{out}, $s->{out}, '... the same answer';
}
like run('suppressions', 'check', $bob, '--format', 'json', '--db', $ch)->{out},
     qr/"reason":"unsubscribe".*"removed_at":\d+.*"note":"asked"/, 'bob: suppressed again after a removal, by hand';

for my $a (['add', 'not an address'], ['add', 'x@example.com', '--reason', 'soft_bounces'],
           ['remove', $bob, '--note', 'x'], ['add'])
{
    my ($s, $c) = map { run('suppressions', @$a, '--db', $_) } $sq, $ch;
    is $c->{rc}, 2, "suppressions @$a on ClickHouse: exit 2";
    is $c->{err}, $s->{err}, '... the same message as SQLite';
}

same_answers('after suppressions add and remove');

# events loaded after a removal: one older than it suppresses nothing, a
# later one suppresses anew, in both

for my $a (['remove', 'carol@other.org'], ['remove', 'erin@example.com']) {
    my ($s, $c) = map { run('suppressions', @$a, '--db', $_) } $sq, $ch;
    is $c->{rc} . $s->{rc}, '00', "suppressions @$a in both";
}
my @late = (ev(src => 'mailgun', type => 'bounced', bounce => 'hard', mid => 'late1',
               rcpt => 'carol@other.org', ts => day_ms(1) + 23 * 3600000),
            ev(src => 'ses', type => 'complained', mid => 'late2',
               rcpt => 'erin@example.com', ts => time() * 1000 + 3600000));
for my $url ($sq, $ch) {
    my $d = "$tmp/late-" . ($url =~ /^(\w+)/)[0];
    spool_of($d, @late);
    my $r = run('load', '--quiet', $d, '--db', $url);
    is $r->{rc}, 0, "late events loaded into $url" or diag $r->{err};
}
for my $a (['carol@other.org', 1, 'not'], ['erin@example.com', 0, 'complaint']) {
    my ($s, $c) = map { run('suppressions', 'check', $a->[0], '--format', 'json', '--db', $_) } $sq, $ch;
    is "$c->{rc} $s->{rc}", "$a->[1] $a->[1]", "check $a->[0]: exit $a->[1] in both";
    my ($js, $jc) = map { decode_json($_->{out}) } $s, $c;
    is "$jc->{suppressed} $jc->{reason}", "$js->{suppressed} $js->{reason}", '... the same row';
}

# forget: the same erasures, the same answers after them (one key file
# for both, so the hashes are the same)

my $key = "$tmp/hash.key";
is run('keygen', '--hash', $key)->{rc}, 0, 'a hash key';
my ($user) = sq("$tmp/q.sqlite", "SELECT address FROM mail_suppressions WHERE address LIKE 'user%' "
                                 . "ORDER BY address LIMIT 1");
my $shared = 'ann@example.com';
ok $user, "a suppressed address of the spool: $user";
my $bobhash = `$FindBin::Bin/../build/mail-track hash --key $key $bob`;
chomp $bobhash;
for my $a ([$bob], ['carol@other.org'], ['alice@example.com'], ['dave@other.org', '--suppress'],
           [$user], [$shared], ['nobody@example.com'], [$bob], [$bobhash], ['frank@example.com', '--suppress'],
           ['frank@example.com'])
{
    my ($s, $c) = map { run('forget', @$a, '--hash-key', $key, '--format', 'json', '--db', $_) } $sq, $ch;
    is $c->{rc}, $s->{rc}, "forget @$a on ClickHouse: exit $s->{rc} as SQLite's" or diag $c->{err};
    is $c->{out}, $s->{out}, "... the same answer: $s->{out}" or diag $c->{err};
}
is ch_sql('q', "SELECT count() FROM mail_events WHERE positionCaseInsensitive(ifNull(rcpt, ''), '$bob') > 0"),
   0, "bob's events are gone";
is ch_sql('q', "SELECT count() FROM mail_suppression_claims WHERE address = '$bob'") . ' '
   . ch_sql('q', "SELECT count() FROM mail_suppression_hand WHERE address = '$bob'"),
   '0 0', '... and his claims and removals, as an address';
for my $q ($bob, $user, 'dave@other.org', 'carol@other.org') {
    my ($s, $c) = map { now_is(run('suppressions', 'check', $q, '--hash-key', $key, '--format', 'json', '--db', $_)) } $sq, $ch;
    is $c->{rc}, $s->{rc}, "check $q after forget: exit $s->{rc} in both";
    is $c->{out}, $s->{out}, '... the same row (the hash\'s)';
}
for my $a (['not an address'], [], [$bob, '--suppress', 'x'])
{
    my ($s, $c) = map { run('forget', @$a, '--hash-key', $key, '--db', $_) } $sq, $ch;
    is $c->{rc}, 2, "forget @$a on ClickHouse: exit 2";
    is $c->{err}, $s->{err}, '... the same message as SQLite';
}

same_answers('after forget');

# prune: a month as a partition, then rows within a month, then nothing

for my $w ('2025-12-01', '2025-12-15', '2025-12-15') {
    my ($s, $c) = map { run('prune', '--before', $w, '--format', 'json', '--db', $_) } $sq, $ch;
    is $c->{rc}, 0, "prune --before $w on ClickHouse" or diag $c->{err};
    my ($js, $jc) = map { decode_json($_->{out}) } $s, $c;
    is "@$jc{qw(before events messages soft_bounces)}", "@$js{qw(before events messages soft_bounces)}",
        "... the same events, messages, soft bounces deleted as SQLite: @$js{qw(events messages soft_bounces)}";
    if ($w eq '2025-12-01') {
        ok $js->{events} > 0 && $js->{messages} > 0 && $js->{soft_bounces} > 0, '... some of each';
        is "$jc->{partitions} $jc->{first_partition} $jc->{last_partition}", '1 202511 202511',
            '... November dropped as a partition';
    }
    is ch_sql('q', "SELECT count() FROM mail_events WHERE at < " . ($jc->{before})), 0,
        '... no event before the cutoff left';
    is ch_sql('q', "SELECT count() FROM system.mutations WHERE database = 'q' AND is_done = 0"), 0,
        '... no mutation left running: the answer was awaited';
    same_answers("after prune --before $w");
}

my ($s, $c) = map { run('prune', '--before', '2025-12-20', '--format', 'table', '--db', $_) } $sq, $ch;
is $c->{out}, $s->{out}, 'prune: the same sentence on a terminal format';

done_testing;
