package MailTrack::Query;

# Helpers for the query commands' tests (report, suppressions, forget,
# prune): the same events in SQLite and in PostgreSQL, a statement run in
# either, every row of every table as text, the ready queries of
# docs/loading.md.

use strict;
use warnings;

use Exporter 'import';
use MailTrack::Load;
use MailTrack::Msgpack qw(:DEFAULT);
use File::Path qw(make_path);
use Digest::MD5 qw(md5_hex);

our @EXPORT = qw(ev spool_of both_dbs db_sql all_rows ready_queries
                 file_md5 day_ms report_events odd_events);

my $nfile = 0;
my $nev = 0;

# an event record: v, id, rt first, then the fields given (undef: absent)
sub ev {
    my (%f) = @_;
    my $id = delete $f{id} // 'e' . ++$nev;
    my $rt = delete $f{rt} // $f{ts};
    my @kv = (v => 1, id => S($id), rt => $rt);
    for my $k (qw(ts src type mid rcpt bounce reason smtp_status smtp_code
                  url machine tag esp_type)) {
        next unless defined $f{$k};
        my $v = $f{$k};
        $v = $v ? \1 : \0 if $k eq 'machine';
        $v = S($v) if $k ne 'machine' && $k ne 'ts' && $k ne 'smtp_code';
        push @kv, $k => $v;
    }
    return mp(\@kv);
}

# a spool directory holding these records in one sealed file
sub spool_of {
    my ($dir, @records) = @_;
    make_path($dir);
    $nfile++;
    spew("$dir/edge1-1-" . (1764000000000 + $nfile) . "-$nfile.mtspool",
         join '', @records);
    return $dir;
}

# [kind, url, name] for a new SQLite file and a new PostgreSQL database
sub both_dbs {
    my ($name) = @_;
    pg_createdb($name);
    return (['sqlite', "sqlite:$tmp/$name.sqlite", $name],
            ['postgresql', pg_url($name), $name]);
}

# a statement's rows, tab-separated, in either database
sub db_sql {
    my ($db, $sql) = @_;
    my ($kind, undef, $name) = @$db;
    return $kind eq 'sqlite' ? sq("$tmp/$name.sqlite", $sql)
                             : pg_sql($name, $sql);
}

# every row of every mail_* table as text, one line each
sub all_rows {
    my ($db) = @_;
    my ($kind, undef, $name) = @$db;
    my @out;

    if ($kind eq 'sqlite') {
        my @t = split /\n/, sq("$tmp/$name.sqlite",
            "SELECT name FROM sqlite_master WHERE type = 'table' "
            . "AND name LIKE 'mail%' ORDER BY name");
        for my $t (@t) {
            push @out, map { "$t: $_" }
                split /\n/, sq("$tmp/$name.sqlite", "SELECT * FROM $t");
        }
    } else {
        my @t = split /\n/, pg_sql($name,
            "SELECT tablename FROM pg_tables WHERE schemaname = "
            . "current_schema() AND tablename LIKE 'mail%' ORDER BY 1");
        for my $t (@t) {
            push @out, map { "$t: $_" }
                split /\n/, pg_sql($name, "SELECT x::text FROM $t x");
        }
    }

    return join "\n", @out;
}

# the ready queries: { name => { sqlite => SQL, postgresql => SQL } }
sub ready_queries {
    my $doc = slurp("$root/docs/loading.md");
    my %q;
    while ($doc =~ /<!-- ready: (\S+) (sqlite|postgresql) -->\n```sql\n(.*?)```/sg) {
        $q{$1}{$2} = $3;
    }
    return \%q;
}

sub file_md5 { md5_hex(slurp($_[0])) }

# the first ms of the UTC day $n days before today's
sub day_ms {
    my ($n) = @_;
    my $today = int(time() / 86400) * 86400;
    return ($today - $n * 86400) * 1000;
}

# the events of t/075-report.t, whose report is known: two days ago and
# yesterday (UTC), inside --since 7d whenever the test runs
sub report_events {
    my ($d0, $d1) = (day_ms(2), day_ms(1));
    my $at = sub { $_[0] + $_[1] * 3600000 + ($_[2] // 0) * 60000 };

    return (
        # m1: delivered, opened by a person twice (two days), by a
        # machine once, clicked by a person
        ev(src => 'sendgrid', type => 'sent', mid => 'm1', rcpt => 'alice@example.com', tag => 'spring', ts => $at->($d0, 10)),
        ev(src => 'sendgrid', type => 'delivered', mid => 'm1', rcpt => 'alice@example.com', tag => 'spring', ts => $at->($d0, 10, 1)),
        ev(src => 'track', type => 'opened', mid => 'm1', rcpt => 'alice@example.com', tag => 'spring', machine => 0, ts => $at->($d0, 11)),
        ev(src => 'track', type => 'opened', mid => 'm1', rcpt => 'alice@example.com', tag => 'spring', machine => 1, ts => $at->($d0, 10, 30)),
        ev(src => 'track', type => 'opened', mid => 'm1', rcpt => 'alice@example.com', tag => 'spring', machine => 0, ts => $at->($d1, 9)),
        ev(src => 'track', type => 'clicked', mid => 'm1', rcpt => 'alice@example.com', tag => 'spring', machine => 0, url => 'https://example.com/a', ts => $at->($d1, 9, 5)),
        # m2: a soft bounce, then a hard one the next day; a display name
        ev(src => 'sendgrid', type => 'sent', mid => 'm2', rcpt => 'Bob <BOB@Example.com>', tag => 'spring', ts => $at->($d0, 10)),
        ev(src => 'sendgrid', type => 'bounced', bounce => 'soft', mid => 'm2', rcpt => 'Bob <BOB@Example.com>', tag => 'spring', reason => '452 mailbox full', ts => $at->($d0, 10, 5)),
        ev(src => 'sendgrid', type => 'bounced', bounce => 'hard', mid => 'm2', rcpt => 'Bob <BOB@Example.com>', tag => 'spring', reason => '550 5.1.1 user unknown', ts => $at->($d1, 10)),
        # m3: delivered the next day, a complaint, an open with no
        # machine flag
        ev(src => 'mailgun', type => 'sent', mid => 'm3', rcpt => 'carol@other.org', tag => 'autumn', ts => $at->($d0, 12)),
        ev(src => 'mailgun', type => 'delivered', mid => 'm3', rcpt => 'carol@other.org', tag => 'autumn', ts => $at->($d1, 8)),
        ev(src => 'mailgun', type => 'complained', mid => 'm3', rcpt => 'carol@other.org', tag => 'autumn', ts => $at->($d1, 9)),
        ev(src => 'track', type => 'opened', mid => 'm3', rcpt => 'carol@other.org', tag => 'autumn', ts => $at->($d1, 8, 30)),
        # m4: deferred
        ev(src => 'mailgun', type => 'sent', mid => 'm4', rcpt => 'dave@other.org', ts => $at->($d1, 12)),
        ev(src => 'mailgun', type => 'deferred', bounce => 'soft', mid => 'm4', rcpt => 'dave@other.org', ts => $at->($d1, 12, 10)),
        # m5: blocked, then unsubscribed through the module
        ev(src => 'ses', type => 'sent', mid => 'm5', rcpt => 'erin@example.com', ts => $at->($d1, 13)),
        ev(src => 'ses', type => 'bounced', bounce => 'block', mid => 'm5', rcpt => 'erin@example.com', reason => '554 blocked', ts => $at->($d1, 13, 1)),
        ev(src => 'track', type => 'unsubscribed', mid => 'm5', rcpt => 'erin@example.com', ts => $at->($d1, 14)),
        # no message id: counted by its event id
        ev(src => 'sendgrid', type => 'sent', rcpt => 'frank@example.com', ts => $at->($d1, 16)),
        # rejected by the provider
        ev(src => 'sendgrid', type => 'rejected', mid => 'm7', rcpt => 'grace@example.com', ts => $at->($d0, 15)),
        # a machine click only; an event of no counted type
        ev(src => 'track', type => 'clicked', mid => 'm8', rcpt => 'alice2@example.com', machine => 1, url => 'https://example.com/b', ts => $at->($d1, 9)),
        ev(src => 'sendgrid', type => 'other', mid => 'm8', rcpt => 'alice2@example.com', ts => $at->($d1, 9)),
        # outside the window
        ev(src => 'sendgrid', type => 'sent', mid => 'm9', rcpt => 'old@example.com', ts => day_ms(40) + 10 * 3600000),
    );
}

# hard bounces at $ts of recipients the normalization takes apart
sub odd_events {
    my ($ts) = @_;
    return map { ev(src => 'sendgrid', type => 'bounced', bounce => 'hard',
                    mid => "odd$_->[1]", rcpt => $_->[0], ts => $ts) }
        [" Tab\t<X\@Sub.Example.NET> ", 1], ['a@b.c>', 2], ['x<y<Z@Q.io>', 3],
        ['nodomain', 4], ['"a@b"@C.org', 5], ["\xc3\x84LICE\@\xc3\x96.DE", 6],
        ['<>', 7], ['trailing@', 8], ["Line\nBreak <L\@B.example>", 9];
}

1;
