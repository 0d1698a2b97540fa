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
                 file_md5 day_ms);

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

1;
