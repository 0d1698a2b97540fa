# The query commands against a real ClickHouse server (started here,
# stopped at the end): the same spool loaded into SQLite and ClickHouse
# gives the same report, suppression list, check and exports, output for
# output; what ClickHouse cannot do yet (add, remove, forget, prune) is
# refused in one line, the database untouched.  No nginx.

use strict;
use warnings;

use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MailTrack::Load;
use MailTrack::Msgpack qw(:DEFAULT);
use MailTrack::Query;
use File::Path qw(make_path);

my ($port) = ch_start(1);
ok $port, "ClickHouse runs on port $port";

ch_sql('default', 'CREATE DATABASE q');
my $ch = ch_url('q');
my $sq = "sqlite:$tmp/q.sqlite";

my @records = (report_events(), odd_events(day_ms(1) + 20 * 3600000));

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

for my $c (['suppressions', 'add', 'x@example.com'], ['suppressions', 'remove', $addr],
           ['forget', $addr], ['prune', '--older-than', '1d'])
{
    my $r = run(@$c, '--db', $ch);
    is $r->{rc}, 1, "@$c[0 .. 1] on ClickHouse: exit 1";
    like $r->{err}, qr/^mail-track: clickhouse:\/\/default\@127\.0\.0\.1:\d+\/q: .*is not available for clickhouse databases yet/,
        '... said in one line';
}

is ch_sql('q', 'SELECT count() FROM mail_suppression_claims') . ' '
   . ch_sql('q', 'SELECT count() FROM mail_events') . ' '
   . ch_sql('q', 'SELECT count() FROM mail_settings_log'),
   $before, '... nothing changed';

done_testing;
