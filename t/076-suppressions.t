# mail-track suppressions (list, check, add, remove, export) and forget,
# against SQLite and a real PostgreSQL (started here, stopped at the
# end): the exit statuses a sending script relies on, each provider's
# export format, erasure that leaves no trace of the address but its
# keyed hash, the hash keys, and every bad input.  No nginx.

use strict;
use warnings;

use Test::More;
use FindBin;
use lib "$FindBin::Bin/lib";
use MailTrack::Load;
use MailTrack::Msgpack qw(:DEFAULT);
use MailTrack::Query;
use JSON::PP;
use MIME::Base64 qw(decode_base64);
use Digest::SHA qw(hmac_sha256_hex);
use File::Copy qw(copy);

my $port = pg_start();
ok $port, "PostgreSQL runs on port $port";

my $d = day_ms(3);
my $h = 3600000;

sub t { $d + $_[0] * $h }

my @events = (
    ev(src => 'sendgrid', type => 'bounced', bounce => 'hard', mid => 'h1', rcpt => 'Hard Person <Hard@Example.COM>', ts => t(1)),
    ev(src => 'mailgun', type => 'complained', mid => 'c1', rcpt => 'comp@example.org', ts => t(2)),
    ev(src => 'track', type => 'unsubscribed', mid => 'u1', rcpt => 'unsub@example.net', ts => t(3)),
    (map { ev(src => 'ses', type => 'bounced', bounce => 'soft', mid => "s$_", rcpt => 'soft@example.com', ts => t(4 + $_)) } 1 .. 3),
    ev(src => 'sparkpost', type => 'bounced', bounce => 'hard', mid => 'x1', rcpt => 'undisclosed-recipients', ts => t(8)),

    # the person who asks to be forgotten: two messages of her own, one
    # id shared with another recipient, a soft bounce, an event without
    # a recipient; and someone whose address holds hers
    ev(src => 'sendgrid', type => 'sent', mid => 'a1', rcpt => 'Alice <ALICE@Example.com>', ts => t(10)),
    ev(src => 'sendgrid', type => 'delivered', mid => 'a1', rcpt => 'alice@example.com', ts => t(10.1)),
    ev(src => 'track', type => 'opened', mid => 'a1', rcpt => 'alice@example.com', machine => 0, ts => t(11)),
    ev(src => 'sendgrid', type => 'other', mid => 'a1', ts => t(11.5)),
    ev(src => 'sendgrid', type => 'bounced', bounce => 'soft', mid => 'a3', rcpt => 'alice@example.com', ts => t(12)),
    ev(src => 'mailgun', type => 'bounced', bounce => 'hard', mid => 'a2', rcpt => 'alice@example.com', reason => '550 <alice@example.com> unknown', ts => t(13)),
    ev(src => 'track', type => 'opened', mid => 'camp-1', rcpt => 'alice@example.com', machine => 0, tag => 'spring', ts => t(14)),
    ev(src => 'track', type => 'opened', mid => 'camp-1', rcpt => 'bob@example.com', machine => 0, tag => 'spring', ts => t(15)),
    ev(src => 'track', type => 'clicked', mid => 'camp-1', rcpt => 'bob@example.com', machine => 0, url => 'https://example.com/b', tag => 'spring', ts => t(16)),
    ev(src => 'sendgrid', type => 'delivered', mid => 'm-1', rcpt => 'malice@example.com', ts => t(17)),
);

my @dbs = both_dbs('sup');
for my $db (@dbs) {
    is run('db', 'init', '--db', $db->[1], '--soft-bounces', '3/7d')->{rc}, 0,
        "$db->[0]: db init --soft-bounces 3/7d";
    my $r = run('load', '--quiet', spool_of("$tmp/sup-$db->[0]", @events), '--db', $db->[1]);
    is $r->{rc}, 0, "$db->[0]: loaded" or diag $r->{err};
}

sub sup { run('suppressions', @_) }

my %out;

for my $db (@dbs) {
    my ($kind, $url) = @$db;

    # list

    my $r = sup('list', '--db', $url, '--format', 'csv');
    is $r->{rc}, 0, "$kind: list exits 0";
    is join(' ', map { join ':', (split /,/)[0, 3] } grep { !/^address,/ } split /\n/, $r->{out}),
       'alice@example.com:hard_bounce comp@example.org:complaint hard@example.com:hard_bounce '
       . 'soft@example.com:soft_bounces undisclosed-recipients:hard_bounce unsub@example.net:unsubscribe',
       "$kind: the suppressed addresses, normalized, by bytes";
    $out{$kind}{list} = $r->{out};

    $r = sup('list', '--db', $url, '--reason', 'complaint', '--format', 'json');
    my $j = decode_json($r->{out});
    is_deeply [map { "$_->{address} $_->{src} $_->{message_id}" } @$j], ['comp@example.org mailgun c1'],
        "$kind: list --reason, as JSON";

    # check: 0 suppressed, 1 not, 2 on any error

    $r = sup('check', 'HARD <hard@example.com>', '--db', $url, '--format', 'table');
    is $r->{rc}, 0, "$kind: check exits 0 for a suppressed address";
    like $r->{out}, qr/^hard\@example\.com is suppressed: hard_bounce \(sendgrid\) since \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC, message h1$/,
        '... and says why (any spelling of it)';

    $r = sup('check', 'soft@example.com', '--db', $url);
    is $r->{rc}, 0, "$kind: three soft bounces in 7 days: suppressed";
    $j = decode_json($r->{out});
    is "$j->{suppressed} $j->{reason} $j->{src} $j->{query}", '1 soft_bounces ses soft@example.com',
        '... JSON when not on a terminal';

    $r = sup('check', 'nobody@example.com', '--db', $url, '--format', 'table');
    is $r->{rc}, 1, "$kind: check exits 1 for an address that may be mailed";
    is $r->{out}, "nobody\@example.com is not suppressed\n", '... and says so';

    for my $bad ('alice', 'alice@localhost', 'al ice@example.com', "a\xff\@example.com", '') {
        $r = sup('check', $bad, '--db', $url);
        is $r->{rc}, 2, "$kind: check \"$bad\": not an address, exit 2";
        like $r->{err}, qr/is not an email address/, '... said';
    }

    # add and remove

    $r = sup('add', 'New Person <NEW@Example.org>', '--db', $url, '--note', 'asked by phone', '--format', 'table');
    is $r->{rc}, 0, "$kind: add exits 0";
    like $r->{out}, qr/^new\@example\.org: added; new\@example\.org is suppressed: manual since .* \(asked by phone\)$/,
        '... and says it was added';
    $r = sup('check', 'new@example.org', '--db', $url);
    is $r->{rc}, 0, '... suppressed now';
    $r = sup('add', 'new@example.org', '--db', $url, '--reason', 'complaint');
    is decode_json($r->{out})->{action}, 'already', 'add again: nothing to add';
    is decode_json($r->{out})->{reason}, 'manual', '... the earliest reason stays';

    $r = sup('remove', 'new@example.org', '--db', $url, '--format', 'table');
    is $r->{rc}, 0, "$kind: remove exits 0";
    like $r->{out}, qr/^new\@example\.org: removed; new\@example\.org is not suppressed \(removed by hand /,
        '... and says it was removed';
    is sup('check', 'new@example.org', '--db', $url)->{rc}, 1, '... may be mailed now';
    $r = sup('remove', 'new@example.org', '--db', $url);
    is $r->{rc}, 0, 'remove again: exit 0';
    is decode_json($r->{out})->{action}, 'none', '... nothing to remove';

    # a removed address: an older event is ignored, a later one suppresses
    is sup('remove', 'comp@example.org', '--db', $url)->{rc}, 0, "$kind: remove comp\@example.org";
    my $late = db_sql($db, "SELECT removed_at FROM mail_suppressions WHERE address = 'new\@example.org'") + 1000;
    $r = run('load', '--quiet', spool_of("$tmp/late-$kind",
             ev(src => 'mailgun', type => 'complained', mid => 'c0', rcpt => 'comp@example.org', ts => t(-10)),
             ev(src => 'sendgrid', type => 'bounced', bounce => 'hard', mid => 'n2', rcpt => 'new@example.org', ts => $late)),
             '--db', $url);
    is $r->{rc}, 0, '... events before and after the removals loaded';
    is sup('check', 'comp@example.org', '--db', $url)->{rc}, 1, '... an older complaint does not suppress again';
    $r = sup('check', 'new@example.org', '--db', $url);
    is $r->{rc}, 0, '... a later hard bounce does';
    is decode_json($r->{out})->{reason}, 'hard_bounce', '... for its own reason';
    is sup('add', 'comp@example.org', '--db', $url, '--reason', 'complaint')->{rc}, 0,
        '... added back by hand';

    # exports, before any address is hashed

    for my $x (['sendgrid'], ['ses'], ['ses', '--format', 'json'], ['postmark'],
               map { ['mailgun', '--list', $_] } qw(bounces complaints unsubscribes))
    {
        $r = sup('export', '--db', $url, '--for', @$x);
        is $r->{rc}, 0, "$kind: export --for @$x";
        $out{$kind}{"export @$x"} = $r->{out};
    }

    $r = sup('export', '--db', $url, '--for', 'sendgrid', '--output', "$tmp/sg-$kind.csv");
    is $r->{rc}, 0, "$kind: export --output FILE";
    is slurp("$tmp/sg-$kind.csv"), $out{$kind}{'export sendgrid'}, '... the same file';
    is((stat "$tmp/sg-$kind.csv")[2] & 07777, 0600, '... mode 0600: addresses');
    ok !-e "$tmp/sg-$kind.csv.tmp", '... no temporary file left';
    like $r->{err}, qr/^mail-track suppressions export: 6 addresses for sendgrid in .*sg-$kind\.csv; left out: 0 hashed, 1 not a plain address$/m,
        '... a summary line: what was left out';

    $r = sup('export', '--db', $url);
    like $r->{out}, qr/^address,domain,reason,src,first_at,last_at,events,message_id\nalice\@example\.com,example\.com,hard_bounce,mailgun,\d{4}-/,
        "$kind: export without --for: every column, CSV";
}

# each provider's format, exactly

is $out{sqlite}{'export sendgrid'},
   "email\nalice\@example.com\ncomp\@example.org\nhard\@example.com\nnew\@example.org\nsoft\@example.com\nunsub\@example.net\n",
   'sendgrid: "email", then an address a line, no quotes';
is $out{sqlite}{'export ses'},
   "alice\@example.com,BOUNCE\ncomp\@example.org,COMPLAINT\nhard\@example.com,BOUNCE\n"
   . "new\@example.org,BOUNCE\nsoft\@example.com,BOUNCE\nunsub\@example.net,COMPLAINT\n",
   'ses: address,BOUNCE|COMPLAINT without a header';
like $out{sqlite}{'export ses --format json'},
   qr/\A\{"emailAddress":"alice\@example\.com","reason":"BOUNCE"\}\n(\{"emailAddress":"[^"]+","reason":"(BOUNCE|COMPLAINT)"\}\n){5}\z/,
   'ses --format json: JSON lines';
is $out{sqlite}{'export postmark'},
   '{"Suppressions":[' . join(',', map { qq({"EmailAddress":"$_"}) }
       qw(alice@example.com comp@example.org hard@example.com new@example.org soft@example.com unsub@example.net))
   . "]}\n", 'postmark: the API\'s request body';
like $out{sqlite}{'export mailgun --list bounces'},
   qr/\Aaddress,code,error,created_at\nalice\@example\.com,,mail-track hard_bounce from mailgun,"\w\w\w, \d\d \w\w\w \d{4} \d\d:\d\d:\d\d \+0000"\n.*\nsoft\@example\.com,,mail-track soft_bounces from ses,"[^"]+"\n\z/s,
   'mailgun bounces: its headers, an RFC 2822 date';
like $out{sqlite}{'export mailgun --list complaints'}, qr/\Aaddress,created_at\ncomp\@example\.org,"[^"]+"\n\z/,
   'mailgun complaints';
like $out{sqlite}{'export mailgun --list unsubscribes'},
   qr/\Aaddress,tags,created_at\nunsub\@example\.net,\*,"[^"]+"\n\z/, 'mailgun unsubscribes: tags *';

# the same but for the times of the entries made by hand, a few ms apart
for my $k (sort keys %{ $out{sqlite} }) {
    my ($s, $p) = map { $out{$_}{$k} =~ s/"\w\w\w, [^"]+"|,\d{4}-[^,]*Z//gr } qw(sqlite postgresql);
    is $p, $s, "$k: the same from PostgreSQL";
}

# postmark: 50 addresses a request
{
    pg_createdb('many');
    my $url = pg_url('many');
    is run('db', 'init', '--db', $url)->{rc}, 0, 'a list of 120';
    sup('add', "p$_\@example.com", '--db', $url) for 1 .. 3;
    pg_sql('many', "INSERT INTO mail_suppressions (address, domain, suppressed, reason, first_at, last_at, events) "
                 . "SELECT 'q' || i || '\@example.com', 'example.com', 1, 'manual', 0, 0, 0 FROM generate_series(1, 117) i");
    my $r = sup('export', '--db', $url, '--for', 'postmark');
    my @lines = split /\n/, $r->{out};
    is_deeply [map { scalar @{ decode_json($_)->{Suppressions} } } @lines], [50, 50, 20],
        'postmark: requests of 50 addresses';
}

# forget: nothing left of the address but its keyed hash

for my $db (@dbs) {
    my ($kind, $url) = @$db;

    my $before = all_rows($db);
    like $before, qr/(?<![a-z])alice\@example\.com/i, "$kind: the address is there before";

    my $r = run('forget', 'Alice <Alice@EXAMPLE.com>', '--db', $url, '--format', 'json');
    is $r->{rc}, 0, "$kind: forget exits 0" or diag $r->{err};
    my $j = decode_json($r->{out});
    is "$j->{address} $j->{events} $j->{messages} $j->{messages_rebuilt} $j->{soft_bounces} $j->{suppression}",
       'alice@example.com 7 3 1 1 kept as its hash',
       '... and says what it removed: 6 events of hers and 1 without a recipient, '
       . '3 messages, 1 rebuilt, the soft bounce';
    like $j->{hash}, qr/^[0-9a-f]{64}$/, '... the hash kept';

    my $after = all_rows($db);
    unlike $after, qr/(?<![a-z])alice\@example\.com/i, "$kind: no table holds the address any more";
    like $after, qr/malice\@example\.com/, '... someone whose address holds hers is still there';
    like $after, qr/\Q$j->{hash}\E/, '... its hash is';

    $r = sup('check', 'alice@example.com', '--db', $url, '--format', 'table');
    is $r->{rc}, 0, "$kind: check still says suppressed";
    like $r->{out}, qr/is suppressed: hard_bounce \(mailgun\) since .* UTC, as its hash$/, '... as its hash';
    is sup('check', $j->{hash}, '--db', $url)->{rc}, 0, '... and so does the hash itself';

    is run('status', 'a1', '--db', $url)->{rc}, 1, '... her message is gone';
    $r = run('status', 'camp-1', '--db', $url);
    like $r->{out}, qr/"recipient":"bob\@example\.com".*"opens":\{"count":1,.*"clicks":\{"count":1/,
        '... the shared message rebuilt from the other recipient\'s events';

    $r = sup('export', '--db', $url, '--for', 'sendgrid');
    unlike $r->{out}, qr/[0-9a-f]{64}/, '... a hash is not exported';
    like $r->{err}, qr/left out: 1 hashed, 1 not a plain address/, '... and is counted';

    $r = run('forget', 'alice@example.com', '--db', $url, '--format', 'table');
    is $r->{rc}, 0, "$kind: forget again exits 0";
    like $r->{out}, qr/^alice\@example\.com: erased 0 events, 0 messages .*suppression: kept as its hash [0-9a-f]{64}$/,
        '... nothing more to erase';

    # a suppression removed by hand is deleted; --suppress keeps one
    is sup('remove', 'unsub@example.net', '--db', $url)->{rc}, 0, "$kind: unsub\@example.net removed";
    $r = run('forget', 'unsub@example.net', '--db', $url, '--format', 'json');
    is decode_json($r->{out})->{suppression}, 'deleted (it was removed by hand)',
        'forget: a removed suppression is deleted';
    is sup('check', 'unsub@example.net', '--db', $url)->{rc}, 1, '... and it may be mailed';

    $r = run('forget', 'bob@example.com', '--db', $url, '--suppress', '--format', 'json');
    is decode_json($r->{out})->{suppression}, 'added as its hash', 'forget --suppress: suppressed as its hash';
    $r = sup('check', 'bob@example.com', '--db', $url);
    is $r->{rc}, 0, '... check says so';
    is decode_json($r->{out})->{reason}, 'manual', '... by hand';
    unlike all_rows($db), qr/bob\@example\.com/i, '... and nothing holds bob any more';

    like db_sql($db, "SELECT value FROM mail_settings WHERE name = 'rcpt_hash_key'"),
         qr/^db:[A-Za-z0-9+\/]{43}=$/, "$kind: without a key file, the database's own secret";
}

# a key file: made once, needed for every lookup of hashed addresses

{
    my $key = "$tmp/hash.key";
    my $r = run('keygen', '--hash', $key);
    is $r->{rc}, 0, 'keygen --hash exits 0';
    like $r->{out}, qr/^[0-9a-f]{16}\n\z/, '... and prints the key id';
    is((stat $key)[2] & 07777, 0600, '... mode 0600');
    like slurp($key), qr/^[A-Za-z0-9+\/]{43}=\n\z/, '... one line of base64';
    my $kid = $r->{out} =~ s/\n//r;
    my $k = decode_base64(slurp($key));
    is substr(hmac_sha256_hex('mail-track key id', $k), 0, 16), $kid, '... the id: its HMAC of "mail-track key id"';

    $r = run('keygen', '--hash', $key);
    is $r->{rc}, 1, 'keygen --hash of an existing file: exit 1';
    like $r->{err}, qr/exists; a hash key is made once and never replaced/, '... said';

    my $other = "$tmp/other.key";
    is run('keygen', '--hash', $other)->{rc}, 0, 'another key';

    for my $db (both_dbs('keyed')) {
        my ($kind, $url) = @$db;
        $r = run('load', '--quiet', spool_of("$tmp/keyed-$kind",
                 ev(src => 'postmark', type => 'complained', mid => 'd1', rcpt => 'dana@example.com', ts => t(1))),
                 '--db', $url);
        is $r->{rc}, 0, "$kind: loaded";

        $r = run('forget', 'dana@example.com', '--db', $url, '--hash-key', $key, '--format', 'json');
        is $r->{rc}, 0, "$kind: forget --hash-key" or diag $r->{err};
        is decode_json($r->{out})->{hash}, hmac_sha256_hex('dana@example.com', $k),
            '... the hash is HMAC-SHA256(key, normalized address)';
        is db_sql($db, "SELECT value FROM mail_settings WHERE name = 'rcpt_hash_key'"), "file:$kid",
            '... the database records the key\'s id, not the key';

        $r = sup('check', 'dana@example.com', '--db', $url);
        is $r->{rc}, 2, "$kind: check without the key file: exit 2, never \"may be mailed\"";
        like $r->{err}, qr/hashed with a key file \(key id $kid\): give it with --hash-key FILE/, '... said';
        is sup('check', 'dana@example.com', '--db', $url, '--hash-key', $key)->{rc}, 0,
            '... with it: suppressed';
        {
            local $ENV{MAIL_TRACK_HASH_KEY} = $key;
            is sup('check', 'dana@example.com', '--db', $url)->{rc}, 0, '... MAIL_TRACK_HASH_KEY too';
        }
        $r = sup('check', 'dana@example.com', '--db', $url, '--hash-key', $other);
        is $r->{rc}, 2, '... another key: exit 2';
        like $r->{err}, qr/key id [0-9a-f]{16}, but the database's hashed addresses were made with the key of id $kid/,
            '... said';
        is sup('check', hmac_sha256_hex('dana@example.com', $k), '--db', $url)->{rc}, 0,
            '... the hash itself needs no key';
    }

    chmod 0644, $key;
    $r = sup('check', 'dana@example.com', '--db', "sqlite:$tmp/keyed.sqlite", '--hash-key', $key);
    is $r->{rc}, 2, 'a key file others may read: exit 2';
    like $r->{err}, qr/mode 0644 lets others read the key/, '... said';
    chmod 0600, $key;

    spew("$tmp/bad.key", "not base64!\n");
    chmod 0600, "$tmp/bad.key";
    $r = sup('check', 'dana@example.com', '--db', "sqlite:$tmp/keyed.sqlite", '--hash-key', "$tmp/bad.key");
    is $r->{rc}, 2, 'a key file that is not one: exit 2';
    like $r->{err}, qr/expected one line of base64, 32 bytes/, '... said';

    $r = run('forget', 'x@example.com', '--db', "sqlite:$tmp/sup.sqlite", '--hash-key', $key, '--suppress');
    is $r->{rc}, 1, 'a key file for a database with a secret of its own: exit 1';
    like $r->{err}, qr/hashes addresses with a secret of its own: leave out --hash-key/, '... said';
}

# bad input

{
    my $url = "sqlite:$tmp/sup.sqlite";
    my @cases = (
        [['frobnicate', '--db', $url], 2, qr/unknown subcommand "frobnicate"/],
        [['list', 'x@example.com', '--db', $url], 2, qr/unexpected argument/],
        [['check', '--db', $url], 2, qr/expected one ADDR/],
        [['check', 'a@example.com'], 2, qr/--db URL is required/],
        [['check', 'a@example.com', '--db', $url, '--frob'], 2, qr/unknown option "--frob"/],
        [['check', 'a@example.com', '--db', "sqlite:$tmp/none.sqlite"], 2, qr/No such file/],
        [['check', 'a@example.com', '--db', pg_url('sup', password => 'wrong')], 2, qr/password authentication failed/],
        [['add', 'a@example.com', '--db', $url, '--reason', 'bogus'], 2, qr/--reason "bogus": expected manual/],
        [['add', 'a@example.com', '--db', $url, '--reason', 'soft_bounces'], 2, qr/--reason "soft_bounces"/],
        [['remove', 'a@example.com', '--db', $url, '--note', 'x'], 2, qr/an option that "suppressions remove" does not take/],
        [['export', '--db', $url, '--for', 'sendmail'], 2, qr/--for "sendmail": expected sendgrid, mailgun, ses or postmark/],
        [['export', '--db', $url, '--for', 'mailgun'], 2, qr/--for mailgun needs --list bounces, complaints or unsubscribes/],
        [['export', '--db', $url, '--for', 'ses', '--list', 'bounces'], 2, qr/--list is for --for mailgun only/],
        [['export', '--db', $url, '--for', 'postmark', '--format', 'csv'], 2, qr/--for postmark writes JSON/],
        [['export', '--db', $url, '--for', 'sendgrid', '--output', "$tmp/no/such/dir/x.csv"], 1, qr/No such file or directory/],
    );
    for my $c (@cases) {
        my ($args, $rc, $re) = @$c;
        my $r = sup(@$args);
        is $r->{rc}, $rc, "suppressions @$args[0 .. 1]: exit $rc";
        like $r->{err}, $re, '... said';
    }

    my $r = run('forget', 'alice', '--db', $url);
    is $r->{rc}, 2, 'forget of something that is not an address: exit 2';
    like $r->{err}, qr/"alice" is not an email address/, '... said';
    $r = run('forget', 'a@example.com');
    is $r->{rc}, 2, 'forget without --db: exit 2';

    # a newer schema: refused, untouched (forget makes no key there)
    copy("$tmp/keyed.sqlite", "$tmp/newer.sqlite");
    sq("$tmp/newer.sqlite", "INSERT INTO mail_schema VALUES (99, 0, 'future')");
    my $md5 = file_md5("$tmp/newer.sqlite");
    for my $cmd (['forget', 'z@example.com', '--suppress'], ['suppressions', 'add', 'z@example.com'],
                 ['suppressions', 'remove', 'dana@example.com'], ['suppressions', 'list'])
    {
        $r = run(@$cmd, '--db', "sqlite:$tmp/newer.sqlite");
        is $r->{rc}, 1, "@$cmd[0 .. 1], a newer schema: exit 1";
        like $r->{err}, qr/schema is version 99, newer than this mail-track/, '... said';
    }
    $r = sup('check', 'dana@example.com', '--db', "sqlite:$tmp/newer.sqlite");
    is $r->{rc}, 2, 'check, a newer schema: exit 2';
    is file_md5("$tmp/newer.sqlite"), $md5, '... the file untouched';
}

done_testing;
