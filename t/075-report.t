# mail-track report against SQLite and a real PostgreSQL (started here,
# stopped at the end): the definitions on events whose answers are known,
# the same output from both databases for the same spool, every format,
# the ready queries of docs/loading.md, and every bad input.  No nginx.

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

my $port = pg_start();
ok $port, "PostgreSQL runs on port $port";

my $json = JSON::PP->new->canonical;

my $h = 3600000;
my ($d0, $d1) = (day_ms(2), day_ms(1));
my @events = report_events();

sub at { $_[0] + $_[1] * $h + ($_[2] // 0) * 60000 }

my @dbs = both_dbs('rep');
for my $db (@dbs) {
    my $d = spool_of("$tmp/spool-$db->[0]", @events);
    my $r = run('load', '--quiet', $d, '--db', $db->[1]);
    is $r->{rc}, 0, "$db->[0]: loaded" or diag $r->{err};
}

sub report {
    my ($db, @args) = @_;
    my $r = run('report', '--db', $db->[1], @args);
    return $r;
}

sub counts {
    my ($row) = @_;
    return join ' ', map { $row->{$_} // 'null' }
        qw(sent delivered deferred bounced hard soft block rejected
           complained unsubscribed human_opens machine_opens human_clicks
           delivery_rate bounce_rate complaint_rate open_rate click_rate);
}

my ($sq, $pg) = @dbs;

# the definitions, on events whose answers are known

{
    my $r = report($sq);
    is $r->{rc}, 0, 'report exits 0' or diag $r->{err};
    my $j = eval { decode_json($r->{out}) };
    ok $j, 'JSON when stdout is not a terminal' or diag $r->{out};
    is $j->{by}, undef, '... "by" null without --by';
    ok !exists $j->{groups}, '... no groups without --by';
    ok abs($j->{until} - time() * 1000) < 600000 && $j->{until} - $j->{since} == 7 * 86400000,
        '... the window is the last 7 days';
    is counts($j->{total}),
       '6 2 1 2 1 1 1 1 1 1 2 1 1 0.333333 0.333333 0.5 1 0.5',
       'the total: distinct messages, rates over sent and delivered';

    $r = report($sq, '--by', 'day');
    $j = decode_json($r->{out});
    is_deeply [map { $_->{day} } @{ $j->{groups} }],
        [map { my @t = gmtime($_ / 1000); sprintf '%04d-%02d-%02d', $t[5] + 1900, $t[4] + 1, $t[3] } $d0, $d1],
        '--by day: UTC days, in order';
    is counts($j->{groups}[0]), '3 1 0 1 0 1 0 1 0 0 1 1 0 0.333333 0.333333 0 1 0',
        '... the first day: an event counts in its own day';
    is counts($j->{groups}[1]), '3 1 1 2 1 0 1 0 1 1 2 0 1 0.333333 0.666667 1 2 1',
        '... the second day (a rate may pass 1 within a day)';
    is counts($j->{total}), '6 2 1 2 1 1 1 1 1 1 2 1 1 0.333333 0.333333 0.5 1 0.5',
        '... the total is not the sum of the days: m1 opened on both is one';

    $r = report($sq, '--by', 'domain');
    $j = decode_json($r->{out});
    is_deeply [map { $_->{domain} } @{ $j->{groups} }], ['example.com', 'other.org'],
        '--by domain: "Bob <BOB@Example.com>" is example.com';
    is counts($j->{groups}[0]), '4 1 0 2 1 1 1 1 0 1 1 1 1 0.25 0.5 0 1 1', '... example.com';
    is counts($j->{groups}[1]), '2 1 1 0 0 0 0 0 1 0 1 0 0 0.5 0 1 1 0', '... other.org';

    $r = report($sq, '--by', 'tag');
    $j = decode_json($r->{out});
    is_deeply [map { $_->{tag} } @{ $j->{groups} }], ['autumn', 'spring', undef],
        '--by tag: names by bytes, no tag last (null)';
    is counts($j->{groups}[2]), '3 0 1 1 0 0 1 1 0 1 0 0 0 0 0.333333 null null null',
        '... a rate over 0 deliveries is null';

    $r = report($sq, '--by', 'src');
    $j = decode_json($r->{out});
    is_deeply { map { $_->{src} => counts($_) } @{ $j->{groups} } },
        { sendgrid => '3 1 0 1 1 1 0 1 0 0 0 0 0 0.333333 0.333333 0 0 0',
          mailgun => '2 1 1 0 0 0 0 0 1 0 0 0 0 0.5 0 1 0 0',
          ses => '1 0 0 1 0 0 1 0 0 0 0 0 0 0 1 null null null',
          track => '0 0 0 0 0 0 0 0 0 1 2 1 1 null null null null null' },
        '--by src: track is the module, the rest the providers';

    $r = report($sq, '--by', 'hour');
    $j = decode_json($r->{out});
    ok((grep { $_->{hour} =~ /T09:00Z$/ } @{ $j->{groups} }), '--by hour: ...T09:00Z');

    # a window given as UTC times: the first day only
    my @t = gmtime($d0 / 1000);
    my $day0 = sprintf '%04d-%02d-%02d', $t[5] + 1900, $t[4] + 1, $t[3];
    @t = gmtime($d1 / 1000);
    my $day1 = sprintf '%04d-%02d-%02d', $t[5] + 1900, $t[4] + 1, $t[3];
    $r = report($sq, '--since', $day0, '--until', "${day1}T00:00:00Z");
    $j = decode_json($r->{out});
    is $j->{since}, $d0, '--since DATE is 00:00 UTC';
    is counts($j->{total}), '3 1 0 1 0 1 0 1 0 0 1 1 0 0.333333 0.333333 0 1 0',
        '--until is not included';
}

# the formats

{
    my $r = report($sq, '--by', 'domain', '--format', 'csv');
    my @l = split /\n/, $r->{out};
    is $l[0], 'domain,sent,delivered,deferred,bounced,hard,soft,block,rejected,complained,'
            . 'unsubscribed,human_opens,machine_opens,human_clicks,delivery_rate,'
            . 'bounce_rate,complaint_rate,open_rate,click_rate', 'CSV: a header';
    is $l[1], 'example.com,4,1,0,2,1,1,1,1,0,1,1,1,1,0.25,0.5,0,1,1', '... a line per group';
    is scalar @l, 3, '... the groups only';

    $r = report($sq, '--by', 'tag', '--format', 'csv');
    like $r->{out}, qr/^,3,0,1,1,0,0,1,1,0,1,0,0,0,0,0.333333,,,$/m, '... no tag and no rate are empty';

    $r = report($sq, '--format', 'csv');
    is $r->{out}, "sent,delivered,deferred,bounced,hard,soft,block,rejected,complained,"
        . "unsubscribed,human_opens,machine_opens,human_clicks,delivery_rate,bounce_rate,"
        . "complaint_rate,open_rate,click_rate\n6,2,1,2,1,1,1,1,1,1,2,1,1,0.333333,0.333333,0.5,1,0.5\n",
        '... without --by, the total';

    $r = report($sq, '--by', 'day', '--format', 'table');
    like $r->{out}, qr/^\S.* UTC, by day\n\nday +sent +deliv .*click%\n/, 'a table: the window, a header';
    like $r->{out}, qr/\n-{20,}\ntotal +6 +2 +1 +2 .* 33\.33% +33\.33% +50\.00% +100\.00% +50\.00%\n\z/,
        '... a rule, the total, rates in percent';

    my $t = tool();
    my $out = `script -qefc '$t report --db $sq->[1] --by src' /dev/null`;
    like $out, qr/src +sent +deliv/, 'a table by default on a terminal';

    $r = run('status', 'm1', '--db', $sq->[1]);
    like $r->{out}, qr/^\{"message_id":"m1","recipient":"alice\@example.com","state":"delivered"/,
        'status: the status API\'s JSON';
    $out = `script -qefc '$t status m1 --db $sq->[1]' /dev/null`;
    like $out, qr/^\{"message_id":"m1"/, '... on a terminal too';
    $r = run('status', 'm1', '--db', $sq->[1], '--format', 'csv');
    like $r->{out}, qr/^message_id,recipient,state,sent_at,.*\nm1,alice\@example.com,delivered,\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ,/s,
        'status --format csv: the row';
    $r = run('status', 'm1', '--db', $sq->[1], '--format', 'table');
    like $r->{out}, qr/^message_id +recipient +state/, 'status --format table';
    $r = run('status', 'm1', '--db', $sq->[1], '--format', 'xml');
    is $r->{rc}, 2, 'status --format xml: a usage error';
}

# SQLite and PostgreSQL: the same output, byte for byte

sub same_output {
    my ($what, @args) = @_;
    for my $by (undef, qw(day hour tag src domain)) {
        for my $f (qw(json csv table)) {
            my @a = (@args, defined $by ? ('--by', $by) : (), '--format', $f,
                     '--until', 'now');
            my ($a, $b) = map { report($_, @a) } $sq, $pg;
            # "now" is a few ms apart: the windows printed differ
            for ($a->{out}, $b->{out}) {
                s/"(since|until)":\d+//g;
                s/^.* UTC.*\n//;
            }
            is $b->{out}, $a->{out}, "$what: the same " . ($by // 'total') . " in $f"
                or diag $b->{err};
        }
    }
}

same_output('known events', '--since', '7d');

# a realistic spool, and recipients the normalization takes apart

{
    my @odd = odd_events(at($d1, 20));

    for my $db (@dbs) {
        my $d = "$tmp/gen-$db->[0]";
        mkdir $d;
        gen($d, 20000, 3000, 2000, 7, 5000);
        spool_of($d, @odd);
        my $r = run('load', '--quiet', $d, '--db', $db->[1]);
        is $r->{rc}, 0, "$db->[0]: a realistic spool loaded" or diag $r->{err};
    }

    same_output('spool-gen and odd recipients', '--since', '2025-01-01');

    my $r = report($sq, '--by', 'domain', '--since', '30d', '--format', 'csv');
    like $r->{out}, qr/^sub\.example\.net,/m, 'white space and a display name: the domain';
    like $r->{out}, qr/^c\.org,/m, 'a quoted local part with "@"';
    like $r->{out}, qr/^\xc3\x96\.de,/m, 'non-ASCII letters kept as they are';
    like $r->{out}, qr/^b\.example,/m, 'a line break in the display name';
}

# the ready queries of docs/loading.md, in both databases

{
    my $q = ready_queries();
    is_deeply [sort keys %$q],
        [qw(bounce-rate bounce-reasons not-delivered opens-per-tag suppression-growth)],
        'docs/loading.md has the five ready queries';

    for my $name (sort keys %$q) {
        for my $db (@dbs) {
            ok defined $q->{$name}{$db->[0]}, "$name: a $db->[0] version";
        }
    }

    # a database of the known events only
    my @k = both_dbs('ready');
    for my $db (@k) {
        my $d = spool_of("$tmp/ready-$db->[0]", @events);
        is run('load', '--quiet', $d, '--db', $db->[1])->{rc}, 0, "$db->[0]: known events";
    }

    my %res;
    for my $name (sort keys %$q) {
        for my $db (@k) {
            my $out = eval { db_sql($db, $q->{$name}{$db->[0]}) };
            ok defined $out, "$name runs in $db->[0]" or diag $@;
            # numbers as numbers: PostgreSQL's numeric keeps its scale
            $out = join "\n", sort map { join "\t", map { /^-?\d+\.\d+$/ ? 0 + $_ : $_ } split /\t/, $_, -1 }
                split /\n/, $out // '';
            $res{$name}{$db->[0]} = $out;
        }
        is $res{$name}{postgresql}, $res{$name}{sqlite}, "$name: the same rows in both";
    }

    # bounce rate per day and provider = report --by src, one day at a time
    my %want;
    for my $day ($d0, $d1) {
        my $r = report($k[0], '--by', 'src', '--since', iso($day),
                       '--until', iso($day + 86400000));
        for my $g (@{ decode_json($r->{out})->{groups} }) {
            next if $g->{src} eq 'track';
            $want{ymd($day) . "\t$g->{src}"} = join "\t", $g->{sent}, $g->{bounced},
                defined $g->{bounce_rate} ? 0 + sprintf('%.4f', $g->{bounce_rate}) : '';
        }
    }
    is $res{'bounce-rate'}{sqlite},
       join("\n", map { "$_\t$want{$_}" } sort keys %want),
       'bounce-rate: what report --by src says, day by day';

    my $r = report($k[0], '--by', 'tag', '--since', '30d');
    is $res{'opens-per-tag'}{sqlite},
       join("\n", sort map { ($_->{tag} // '') . "\t$_->{human_opens}" }
                       grep { $_->{human_opens} } @{ decode_json($r->{out})->{groups} }),
       'opens-per-tag: what report --by tag says';

    is join(',', map { (split /\t/)[0] } split /\n/, $res{'not-delivered'}{sqlite}),
       'm2,m3,m4,m5,m9', 'not-delivered: late, never, failed; not m1, delivered at once';

    is $res{'bounce-reasons'}{sqlite},
       join("\n", sort "example.com\t452 mailbox full\t1",
                       "example.com\t550 5.1.1 user unknown\t1",
                       "example.com\t554 blocked\t1"),
       'bounce-reasons: per domain (a display name taken apart)';

    my $sup = db_sql($k[0], 'SELECT count(*) FROM mail_suppressions WHERE suppressed = 1');
    my $total = 0;
    my %last;
    $last{(split /\t/)[1]} = (split /\t/)[3] for split /\n/, db_sql($k[0], $q->{'suppression-growth'}{sqlite});
    $total += $_ for values %last;
    is $total, $sup, 'suppression-growth: the running totals add up to the list';
    like $res{'suppression-growth'}{sqlite}, qr/^\d{4}-\d\d-\d\d\t(complaint|hard_bounce|unsubscribe)\t\d+\t\d+$/m,
        '... weeks from Monday, per reason';
}

sub iso { my @t = gmtime($_[0] / 1000); sprintf '%04d-%02d-%02dT%02d:%02d:%02dZ', $t[5] + 1900, $t[4] + 1, @t[3, 2, 1, 0] }
sub ymd { my @t = gmtime($_[0] / 1000); sprintf '%04d-%02d-%02d', $t[5] + 1900, $t[4] + 1, $t[3] }

# bad input: a clear message, nothing touched

{
    my %bad = (
        'unknown --by'      => [['--by', 'week'], 2, qr/--by "week": expected day, hour, tag, src or domain/],
        'a bad duration'    => [['--since', '7x'], 2, qr/--since "7x": expected a duration/],
        'a bad date'        => [['--until', '2026-13-45'], 2, qr/--until "2026-13-45"/],
        'since after until' => [['--since', '1d', '--until', '2d'], 2, qr/--since 1d is not before --until 2d/],
        'a bad format'      => [['--format', 'xml'], 2, qr/--format "xml": expected table, json or csv/],
        'an argument'       => [['extra'], 2, qr/unexpected argument "extra"/],
    );
    for my $what (sort keys %bad) {
        my ($args, $rc, $re) = @{ $bad{$what} };
        my $r = report($sq, @$args);
        is $r->{rc}, $rc, "$what: exit $rc";
        like $r->{err}, $re, '... and says why';
    }

    my $r = run('report');
    is $r->{rc}, 2, 'no --db: exit 2';
    like $r->{err}, qr/--db URL is required/, '... said';

    $r = run('report', '--db', "sqlite:$tmp/none.sqlite");
    is $r->{rc}, 1, 'a SQLite file that is not there: exit 1';
    like $r->{err}, qr/none\.sqlite: No such file or directory/, '... said';
    ok !-e "$tmp/none.sqlite", '... and not made';

    sq("$tmp/noschema.sqlite", 'CREATE TABLE t (x int)');
    $r = run('report', '--db', "sqlite:$tmp/noschema.sqlite");
    is $r->{rc}, 1, 'a database without the schema: exit 1';
    like $r->{err}, qr/no mail-track schema in the database; run "mail-track db init/, '... said';

    pg_createdb('noschema');
    $r = run('report', '--db', pg_url('noschema'));
    is $r->{rc}, 1, 'PostgreSQL without the schema: exit 1';
    like $r->{err}, qr/no mail-track schema/, '... said';

    for my $db (both_dbs('empty')) {
        is run('db', 'init', '--db', $db->[1])->{rc}, 0, "$db->[0]: an empty database";
        $r = report($db, '--by', 'day');
        is $r->{rc}, 0, "$db->[0]: report on no events exits 0";
        is counts(decode_json($r->{out})->{total}),
           '0 0 0 0 0 0 0 0 0 0 0 0 0 null null null null null', '... zeros, no rate';
        is_deeply decode_json($r->{out})->{groups}, [], '... no groups';
    }

    $r = run('report', '--db', pg_url('rep', password => 'wrong'));
    is $r->{rc}, 1, 'a wrong password: exit 1';
    like $r->{err}, qr/password authentication failed/, '... said';

    # a newer schema: refused, untouched
    copy("$tmp/rep.sqlite", "$tmp/newer.sqlite");
    sq("$tmp/newer.sqlite", "INSERT INTO mail_schema VALUES (99, 0, 'future')");
    my $md5 = file_md5("$tmp/newer.sqlite");
    $r = run('report', '--db', "sqlite:$tmp/newer.sqlite");
    is $r->{rc}, 1, 'a newer schema: exit 1';
    like $r->{err}, qr/schema is version 99, newer than this mail-track .*not changed/, '... said';
    is file_md5("$tmp/newer.sqlite"), $md5, '... the file untouched';

    pg_sql('rep', "INSERT INTO mail_schema VALUES (99, 0, 'future')");
    $r = report($pg);
    is $r->{rc}, 1, 'PostgreSQL, a newer schema: exit 1';
    like $r->{err}, qr/schema is version 99, newer/, '... said';
    pg_sql('rep', 'DELETE FROM mail_schema WHERE version = 99');
}

done_testing;
