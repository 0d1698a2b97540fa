# The mail-track command-line tool: keygen, token, spool cat.  No nginx.
#
# Runs $ENV{MAIL_TRACK_TOOL} (default build/mail-track); with
# TEST_NGINX_USE_VALGRIND set, every run goes through valgrind and a
# memory error or a leak fails the test.

use strict;
use warnings;

use Test::More;
use File::Temp qw(tempdir);
use FindBin;
use Cwd qw(abs_path);
use JSON::PP;
use MailTrack::Msgpack;
use MIME::Base64 qw(encode_base64);
use POSIX qw(:sys_wait_h);
use Time::HiRes qw(sleep time);

my $root = abs_path("$FindBin::Bin/..");
my $tool = $ENV{MAIL_TRACK_TOOL} || "$root/build/mail-track";

ok -x $tool, "tool binary $tool exists (make tool)"
    or BAIL_OUT("no mail-track binary");

my @wrap = $ENV{TEST_NGINX_USE_VALGRIND}
    ? ('valgrind', '-q', '--error-exitcode=99', '--leak-check=full',
       '--errors-for-leak-kinds=definite,indirect')
    : ();

my $dir = tempdir('mail-track-XXXXXX', TMPDIR => 1, CLEANUP => 1);
my $json = JSON::PP->new->utf8;

sub slurp {
    my ($f) = @_;
    open my $fh, '<:raw', $f or return '';
    local $/;
    my $s = <$fh>;
    return defined $s ? $s : '';
}

sub spew {
    my ($f, $data, $mode) = @_;
    open my $fh, '>:raw', $f or die "$f: $!";
    print $fh $data;
    close $fh or die "$f: $!";
    chmod $mode, $f if defined $mode;
}

# runs the tool: { rc, out, err }
sub run {
    my (@args) = @_;
    my $opts = ref $args[0] eq 'HASH' ? shift @args : {};
    my ($out, $err) = ("$dir/.out", "$dir/.err");

    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        umask $opts->{umask} if defined $opts->{umask};
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out;
        open STDERR, '>', $err;
        exec @wrap, $tool, @args;
        exit 127;
    }

    waitpid $pid, 0;

    return { rc => $? >> 8, sig => $? & 127, out => slurp($out),
             err => slurp($err) };
}

sub mode_of { (stat $_[0])[2] & 07777 }


# usage

{
    my $r = run('--help');
    is $r->{rc}, 0, '--help exits 0';
    like $r->{out}, qr/keygen.*token.*spool/s, '--help lists the commands';

    $r = run('frobnicate');
    is $r->{rc}, 2, 'unknown command: exit 2';
    like $r->{err}, qr/unknown command/, 'unknown command named';

    $r = run();
    is $r->{rc}, 2, 'no command: exit 2';

    for my $cmd (['keygen'], ['token'], ['spool']) {
        $r = run(@$cmd, '--help');
        is $r->{rc}, 0, "@$cmd --help exits 0";
        like $r->{out}, qr/^usage: mail-track \Q$cmd->[0]\E/,
            "@$cmd --help prints usage";
    }

    $r = run('keygen', '--bogus', "$dir/x");
    is $r->{rc}, 2, 'keygen: unknown option: exit 2';
    like $r->{err}, qr/unknown option "--bogus"/, 'unknown option named';
    ok !-e "$dir/x", 'nothing written after a usage error';

    $r = run('spool', 'cat', '--bogus', $dir);
    is $r->{rc}, 2, 'spool cat: unknown option: exit 2';

    $r = run('token', 'decode', '--keys');
    is $r->{rc}, 2, 'option without its value: exit 2';
    like $r->{err}, qr/needs a value/, 'missing value reported';
}


# keygen

my $b64key = qr{[A-Za-z0-9+/]{43}=};

{
    my $f = "$dir/keys";

    my $r = run({ umask => 022 }, 'keygen', $f);
    is $r->{rc}, 0, 'keygen creates a key file';
    is $r->{out}, "1\n", 'first key id is 1';
    is mode_of($f), 0600, 'created with mode 0600';

    $r = run({ umask => 022 }, 'keygen', $f);
    is $r->{out}, "2\n", 'next key id is 2';
    $r = run('keygen', $f);
    is $r->{out}, "3\n", 'then 3';

    my @lines = split /\n/, slurp($f);
    is scalar @lines, 3, 'three lines';
    like $lines[$_], qr/^\Q@{[$_ + 1]}\E $b64key$/, "line $_ is KID BASE64"
        for 0 .. 2;
    isnt +(split / /, $lines[0])[1], (split / /, $lines[1])[1],
        'keys differ';
    is mode_of($f), 0600, 'still 0600';

    my $g = "$dir/keys-umask";
    $r = run({ umask => 0277 }, 'keygen', $g);
    is $r->{rc}, 0, 'keygen under umask 0277';
    is mode_of($g), 0600, 'mode 0600 regardless of the umask';

    # a comment-only file counts as empty; the last line needs no newline
    my $c = "$dir/keys-comment";
    spew($c, "# our keys\n\n# none yet", 0600);
    $r = run('keygen', $c);
    is $r->{out}, "1\n", 'comment-only file: id 1';
    like slurp($c), qr/\A# our keys\n\n# none yet\n1 $b64key\n\z/,
        'appended on a line of its own';

    my $bad = "$dir/keys-bad";
    my $content = "1 ${\ ('A' x 43)}=\n# comment\nnot a key line at all\n";
    spew($bad, $content, 0600);
    $r = run('keygen', $bad);
    is $r->{rc}, 1, 'bad line: exit 1';
    like $r->{err}, qr/line 3/, 'the bad line is named';
    is slurp($bad), $content, 'bad file left alone';

    my $open = "$dir/keys-open";
    spew($open, "1 ${\ ('A' x 43)}=\n", 0640);
    $r = run('keygen', $open);
    is $r->{rc}, 1, 'group-readable file refused';
    like $r->{err}, qr/0640.*group or others/, 'with a clear message';
    is slurp($open), "1 ${\ ('A' x 43)}=\n", 'and left alone';

    chmod 0604, $open;
    $r = run('keygen', $open);
    is $r->{rc}, 1, 'world-readable file refused';

    # the id after the last line's, wrapping, skipping ids in use
    my $wrap = "$dir/keys-wrap";
    spew($wrap, join('', map { "$_ " . encode_base64(chr($_) x 32, '') . "\n" }
                          0, 1, 255), 0600);
    $r = run('keygen', $wrap);
    is $r->{out}, "2\n", 'after 255 come 0 and 1 (in use), so 2';

    my $full = "$dir/keys-full";
    spew($full, join('', map { "$_ " . encode_base64(chr($_) x 32, '') . "\n" }
                          0 .. 255), 0600);
    $r = run('keygen', $full);
    is $r->{rc}, 1, 'all 256 ids in use: error';
    like $r->{err}, qr/all 256/, 'said so';

    $r = run('keygen');
    is $r->{rc}, 2, 'keygen without FILE: exit 2';
}


# tokens

my $keys = "$dir/keys";     # ids 1, 2, 3 from above
my %purpose = (open => 'o', click => 'c', unsubscribe => 'u');

sub decode_ok {
    my ($r, $name) = @_;
    is $r->{rc}, 0, "$name: exit 0" or diag $r->{err};
    my $obj = eval { $json->decode($r->{out}) };
    ok $obj, "$name: JSON out" or diag $r->{out};
    return $obj || {};
}

{
    for my $p (qw(open click unsubscribe)) {
        my @url = $p eq 'click' ? ('--url', 'https://example.com/a?b=1') : ();
        my $r = run('token', $p, '--keys', $keys, '--mid', "m-$p",
                    '--rcpt', 'a@example.com', '--tag', 'spring', @url,
                    '--raw');
        is $r->{rc}, 0, "mint $p" or diag $r->{err};
        chomp(my $tok = $r->{out});
        like $tok, qr/^AQ[A-Za-z0-9_-]+$/, "$p token is base64url, version 1";

        $r = run('token', 'decode', '--keys', $keys, '--purpose', $p, $tok);
        my $o = decode_ok($r, "decode $p");
        is_deeply $o, { purpose => $p, kid => 3, mid => "m-$p",
                        rcpt => 'a@example.com',
                        url => $p eq 'click' ? 'https://example.com/a?b=1'
                                             : undef,
                        tag => 'spring', expires => undef },
            "$p roundtrip: all fields";
        like $r->{out}, qr/^\{"purpose":"\Q$p\E","kid":3,"mid":"m-\Q$p\E",
                             "rcpt":"a\@example.com","url":.*,"tag":"spring",
                             "expires":null\}\n\z/x, 'keys in order';

        $r = run('token', 'decode', '--keys', $keys, $tok);
        is decode_ok($r, "decode $p without --purpose")->{purpose}, $p,
            'purpose found by trying all three';

        my $wrong = $p eq 'open' ? 'click' : 'open';
        $r = run('token', 'decode', '--keys', $keys, '--purpose', $wrong,
                 $tok);
        is $r->{rc}, 1, "$p token rejected as $wrong";
        like $r->{err}, qr/^token_purpose/, 'as token_purpose';
        is $r->{out}, '', 'nothing on stdout';
    }

    # URLs
    my $r = run('token', 'open', '--keys', $keys, '--mid', 'm-1', '--rcpt',
                'a@example.com', '--base', 'https://t.example.com/o/');
    like $r->{out}, qr{^https://t\.example\.com/o/AQ[A-Za-z0-9_-]+\.gif\n\z},
        'open URL: base, one slash, .gif';
    chomp(my $url = $r->{out});

    $r = run('token', 'decode', '--keys', $keys, "$url?utm=x#frag");
    is decode_ok($r, 'decode an open URL')->{mid}, 'm-1',
        'token taken from the URL';

    $r = run('token', 'click', '--keys', $keys, '--mid', 'm-1', '--rcpt',
             'r', '--url', 'http://example.com/', '--base',
             'https://t.example.com/c');
    like $r->{out}, qr{^https://t\.example\.com/c/AQ[A-Za-z0-9_-]+\n\z},
        'click URL: slash added, no .gif';

    $r = run('token', 'open', '--keys', $keys, '--mid', 'm', '--rcpt', 'r');
    is $r->{rc}, 2, 'no --base and no --raw: exit 2';

    # refusals
    $r = run('token', 'click', '--keys', $keys, '--mid', 'm', '--rcpt', 'r',
             '--raw');
    is $r->{rc}, 2, 'click without --url refused';
    like $r->{err}, qr/needs --url/, 'with a message';

    for my $bad ('javascript:alert(1)', 'ftp://example.com/',
                 'https:///path', 'https://exa mple.com/', '//example.com/')
    {
        $r = run('token', 'click', '--keys', $keys, '--mid', 'm', '--rcpt',
                 'r', '--url', $bad, '--raw');
        is $r->{rc}, 1, "--url $bad refused";
        is $r->{out}, '', 'no token printed';
    }

    $r = run('token', 'open', '--keys', $keys, '--mid', 'm', '--rcpt', 'r',
             '--url', 'https://example.com/', '--raw');
    is $r->{rc}, 2, '--url on an open token refused';
    like $r->{err}, qr/click tokens only/, 'with a message';

    $r = run('token', 'open', '--keys', $keys, '--mid', '', '--rcpt', 'r',
             '--raw');
    is $r->{rc}, 1, 'empty --mid refused';

    # expiry
    my $t0 = time;
    $r = run('token', 'unsubscribe', '--keys', $keys, '--mid', 'm',
             '--rcpt', 'r', '--ttl', '2h', '--raw');
    chomp(my $tok = $r->{out});
    my $o = decode_ok(run('token', 'decode', '--keys', $keys, $tok),
                      'decode with --ttl');
    ok defined $o->{expires}
       && $o->{expires} >= int($t0) + 7200 - 1
       && $o->{expires} <= int(time) + 7200 + 1,
       '--ttl 2h: expires is now + 7200' or diag explain $o;

    $r = run('token', 'open', '--keys', $keys, '--mid', 'm', '--rcpt', 'r',
             '--ttl', 'soon', '--raw');
    is $r->{rc}, 1, 'bad --ttl refused';

    $r = run('token', 'open', '--keys', $keys, '--mid', 'm', '--rcpt', 'r',
             '--expires', '1000', '--raw');
    is $r->{rc}, 0, '--expires in the past mints (for tests)';
    like $r->{err}, qr/warning: .*already expired/, 'with a warning';
    chomp(my $old = $r->{out});
    is run('token', 'decode', '--keys', $keys, $old)->{rc}, 1,
        'and the token does not decode';

    # key choice
    $r = run('token', 'open', '--keys', $keys, '--mid', 'm', '--rcpt', 'r',
             '--kid', '1', '--raw');
    chomp($tok = $r->{out});
    is decode_ok(run('token', 'decode', '--keys', $keys, $tok),
                 'decode --kid 1')->{kid}, 1, '--kid 1 used';

    $r = run('token', 'open', '--keys', $keys, '--mid', 'm', '--rcpt', 'r',
             '--kid', '9', '--raw');
    is $r->{rc}, 1, 'unknown --kid refused';

    # bad tokens
    my $flipped = $tok;
    substr($flipped, 30, 1) = substr($flipped, 30, 1) eq 'A' ? 'B' : 'A';
    $r = run('token', 'decode', '--keys', $keys, $flipped);
    is $r->{rc}, 1, 'tampered token: exit 1';
    like $r->{err}, qr/^token_tampered/, 'as token_tampered';

    # keys-umask holds id 1 only; a token of key 3
    $r = run('token', 'open', '--keys', $keys, '--mid', 'm', '--rcpt', 'r',
             '--raw');
    chomp(my $tok3 = $r->{out});
    $r = run('token', 'decode', '--keys', "$dir/keys-umask", $tok3);
    like $r->{err}, qr/^token_key/, 'unknown key id: token_key';

    # key 1 of keys-umask is another key than key 1 of $keys
    $r = run('token', 'decode', '--keys', "$dir/keys-umask", $tok);
    like $r->{err}, qr/^token_tampered/, 'another key: token_tampered';

    $r = run('token', 'decode', '--keys', $keys, 'not*base64');
    like $r->{err}, qr/^token_encoding/, 'garbage: token_encoding';

    $r = run('token', 'decode', '--keys', "$dir/keys-bad", $tok);
    is $r->{rc}, 1, 'bad key file: exit 1';
    like $r->{err}, qr/keys-bad: line 3/, 'bad key file line named';
}


# the test vectors of docs/tokens.md, byte for byte

{
    my $doc = slurp("$root/docs/tokens.md");
    my @vectors;

    while ($doc =~ /^### (Vector \d+[^\n]*)\n.*?```\n(.*?)```/gms) {
        my %v = (title => $1);
        for (split /\n/, $2) {
            $v{$1} = $2 if /^([^:]+): (.*)$/;
        }
        push @vectors, \%v;
    }

    cmp_ok scalar @vectors, '>=', 3, 'docs/tokens.md has 3 or more vectors';

    for my $v (@vectors) {
        my $t = $v->{title};
        my $kf = "$dir/vector-keys";
        spew($kf, "$v->{'key id'} $v->{'key (base64)'}\n", 0600);

        my $f = $json->decode($v->{'plaintext (json)'});
        my @args = ('token', $v->{purpose}, '--keys', $kf,
                    '--kid', $v->{'key id'}, '--mid', $f->{m},
                    '--rcpt', $f->{r}, '--nonce', $v->{'nonce (hex)'},
                    '--raw');
        push @args, '--url', $f->{u} if defined $f->{u};
        push @args, '--expires', $f->{x} if defined $f->{x};
        push @args, '--tag', $f->{t} if defined $f->{t};

        my $r = run(@args);
        is $r->{out}, "$v->{token}\n", "$t: the tool mints the same token"
            or diag $r->{err};

        is unpack('H*', mp_token_plain($f)), $v->{'plaintext (hex)'},
            "$t: plaintext hex is the msgpack of its JSON";
        is $v->{'aad (hex)'},
            sprintf('01%02x%s', $v->{'key id'},
                    unpack('H*', $purpose{$v->{purpose}})),
            "$t: aad is 01 kid purpose";

        my $o = decode_ok(run('token', 'decode', '--keys', $kf,
                              $v->{token}), "$t: decode");
        is_deeply [ @$o{qw(purpose kid mid rcpt url tag expires)} ],
            [ $v->{purpose}, $v->{'key id'}, @$f{qw(m r u t x)} ],
            "$t: decodes to its fields";
    }
}


# msgpack, written by hand: MailTrack::Msgpack

sub mp_token_plain {
    my ($f) = @_;
    return mp([ map { defined $f->{$_} ? ($_, $f->{$_}) : () }
                qw(m r u x t) ]);
}

# a record as the module writes it: v first
sub rec {
    my ($id, %more) = @_;
    my @kv = (v => 1, id => $id, rt => 1764000000000 + $id, src => 'track',
              type => 'opened');
    push @kv, map { ($_, $more{$_}) } sort keys %more;
    return \@kv;
}

sub rec_json {
    my ($r) = @_;
    my %h = @$r;
    for (values %h) {
        $_ = ${$_} ? JSON::PP::true : JSON::PP::false if ref $_ eq 'SCALAR';
        $_ = ${$_} if ref $_ eq 'S';
        utf8::decode($_) if defined $_ && !ref $_;
    }
    return \%h;
}

sub cat_lines {
    my ($r) = @_;
    return [ map { $json->decode($_) } split /\n/, $r->{out} ];
}


# spool cat

{
    my $sd = "$dir/spool";
    mkdir $sd;

    my @recs = (
        rec(1, mid => 'm-1', rcpt => 'a@example.com', machine => \1,
            smtp_code => 550, smtp_status => S('5.1.1')),
        rec(2, reason => "quote \" backslash \\ newline \n tab \t nul \0 "
                         . "bell \x07 del \x7f",
            tag => "caf\xc3\xa9 \xe2\x82\xac",
            machine => \0, url => 'https://example.com/' . ('x' x 300)),
        rec(3, big => 18446744073709551615, neg => -9000000000,
            small => -5, nil => undef, f => F(1.5), bin => B("\x00\xff"),
            ts => 1764000000123),
    );

    my $data = join '', map { mp($_) } @recs;
    my $f = "$sd/host-1-1764000000000-1.mtspool";
    spew($f, $data);

    my $r = run('spool', 'cat', $f);
    is $r->{rc}, 0, 'spool cat a file: exit 0';
    is $r->{err}, '', 'nothing on stderr';
    my @lines = split /\n/, $r->{out};
    is scalar @lines, 3, 'one line per record';

    my $got = eval { cat_lines($r) } || [];
    is_deeply $got->[0], rec_json($recs[0]), 'record 1';
    is_deeply $got->[1], rec_json($recs[1]), 'record 2: escapes, UTF-8';
    like $lines[1], qr/\\u0000.*\\u0007.*\\u007f/,
        'control characters escaped as \u00XX';

    # JSON::PP reads a uint64 as a float: compared as text below
    my %r3 = (%{ rec_json($recs[2]) }, f => 1.5, bin => 'AP8=');
    delete $r3{big};
    my %g3 = %{ $got->[2] || {} };
    delete $g3{big};
    is_deeply \%g3, \%r3, 'record 3: negative, nil, float, bin';
    like $lines[2], qr/"big":18446744073709551615[,}]/, 'uint64 exact';
    like $lines[2], qr/"neg":-9000000000[,}]/, 'int64 exact';

    my @order = $lines[0] =~ /"(\w+)":/g;
    is_deeply \@order, [ grep { !ref } map { $recs[0][$_] }
                         grep { $_ % 2 == 0 } 0 .. $#{ $recs[0] } ],
        'keys in record order';
    like $lines[0], qr/^\{"v":1,"id":1,"rt":/, 'v first';

    # truncated: the first two records whole, the third cut
    my $off3 = length(mp($recs[0])) + length(mp($recs[1]));
    my $cut = "$sd/cut.part";
    spew($cut, substr($data, 0, $off3 + 10));
    $r = run('spool', 'cat', $cut);
    is $r->{rc}, 1, 'truncated file: exit 1';
    is $r->{err}, "$cut: truncated record at byte $off3\n",
        'truncation reported with its offset';
    $got = eval { cat_lines($r) } || [];
    is scalar @$got, 2, 'records before it printed';
    is $got->[1]{id}, 2, 'up to the second';

    # corrupt bytes in the middle, then resync
    my @four = (rec(10), rec(11, rcpt => 'b@example.com'), rec(12), rec(13));
    my @enc = map { mp($_) } @four;
    my $off2 = length $enc[0];

    my %damage = (
        'first byte of a record' => sub { substr($_[0], $off2, 1) = "\xc1" },
        # the header of the key "id": a2 becomes c1, which is never used
        'byte inside a record'   => sub {
            substr($_[0], $off2 + 4, 1) = "\xc1";
        },
        'map count too large'    => sub { substr($_[0], $off2, 1) = "\x8f" },
        'string length too long' => sub {
            # the "id" key (a2 69 64) becomes a str32 of 2^32-1 bytes
            my $i = index($_[0], "\xa2id", $off2);
            substr($_[0], $i, 3) = "\xdb\xff\xff\xff\xff";
        },
    );

    for my $what (sort keys %damage) {
        my $bytes = join '', @enc;
        $damage{$what}->($bytes);
        my $c = "$sd/damaged.bin";
        spew($c, $bytes);
        $r = run('spool', 'cat', $c);
        is $r->{rc}, 1, "$what: exit 1";
        is $r->{err}, "$c: corrupt record at byte $off2\n",
            "$what: reported at the record's offset";
        $got = eval { cat_lines($r) } || [];
        is_deeply [ map { $_->{id} } @$got ], [ 10, 12, 13 ],
            "$what: records before and after printed";
    }

    # garbage between records, and several files: the others still read
    my $g = "$sd/garbage.bin";
    spew($g, $enc[0] . "\x00\x01\x02junk" . $enc[1]);
    $r = run('spool', 'cat', $g, $f);
    is $r->{rc}, 1, 'garbage between records: exit 1';
    is $r->{err}, "$g: corrupt record at byte $off2\n", 'reported once';
    $got = eval { cat_lines($r) } || [];
    is_deeply [ map { $_->{id} } @$got ], [ 10, 11, 1, 2, 3 ],
        'both records and the next file printed';

    $r = run('spool', 'cat', "$sd/missing.mtspool", $f);
    is $r->{rc}, 1, 'missing file: exit 1';
    like $r->{err}, qr/missing\.mtspool: No such file/, 'named';
    is scalar(split /\n/, $r->{out}), 3, 'the other file still printed';

    # invalid UTF-8 in a string: valid JSON, U+FFFD
    my $u = "$sd/utf8.bin";
    spew($u, mp(rec(20, reason => "ab\xff\xfecd\xc3", ua => "\xed\xa0\x80x")));
    $r = run('spool', 'cat', $u);
    is $r->{rc}, 0, 'invalid UTF-8: exit 0';
    $got = eval { cat_lines($r) } || [];
    is $got->[0]{reason}, "ab\x{fffd}\x{fffd}cd\x{fffd}",
        'invalid bytes replaced by U+FFFD';
    is $got->[0]{ua}, "\x{fffd}\x{fffd}\x{fffd}x", 'surrogates too';

    # a file larger than the read window: records across chunk boundaries
    my $many = '';
    $many .= mp(rec($_, reason => 'r' x ($_ % 300))) for 1 .. 4000;
    my $mf = "$sd/many.bin";
    spew($mf, $many);
    cmp_ok length $many, '>', 2 * 256 * 1024, 'test file spans chunks';
    $r = run('spool', 'cat', $mf);
    is $r->{rc}, 0, 'big file: exit 0';
    $got = eval { cat_lines($r) } || [];
    is scalar @$got, 4000, 'every record';
    is_deeply [ grep { $got->[$_ - 1]{id} != $_ } 1 .. 4000 ], [],
        'in order';

    # damage far into it: the offset counts from the start of the file
    my $at = 0;
    $at += length mp(rec($_, reason => 'r' x ($_ % 300))) for 1 .. 3000;
    substr($many, $at, 1) = "\xc1";
    spew($mf, $many);
    $r = run('spool', 'cat', $mf);
    is $r->{err}, "$mf: corrupt record at byte $at\n",
        'damage past the first chunks: right offset';
    $got = eval { cat_lines($r) } || [];
    is scalar @$got, 3999, 'all other records';
    is $got->[3000]{id}, 3002, 'resynced on the next record';
}


# directories: sealed files only, by name

my $d2 = "$dir/spool2";
mkdir $d2;

{
    spew("$d2/b-1-1764000000002-2.mtspool", mp(rec(3)));
    spew("$d2/a-1-1764000000001-1.mtspool", mp(rec(1)) . mp(rec(2)));
    spew("$d2/c-1-1764000000003-3.part", mp(rec(99)));
    spew("$d2/notes.txt", "not a spool file");

    my $r = run('spool', 'cat', $d2);
    is $r->{rc}, 0, 'spool cat DIR: exit 0';
    my $got = eval { cat_lines($r) } || [];
    is_deeply [ map { $_->{id} } @$got ], [ 1, 2, 3 ],
        'sealed files in name order, no .part';

    $r = run('spool', 'cat', "$d2/c-1-1764000000003-3.part");
    $got = eval { cat_lines($r) } || [];
    is_deeply [ map { $_->{id} } @$got ], [ 99 ], 'a .part named is read';
}


# --follow

{
    my ($out, $err) = ("$dir/follow.out", "$dir/follow.err");
    my $pid = fork // die "fork: $!";

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', $out;
        open STDERR, '>', $err;
        exec @wrap, $tool, 'spool', 'cat', '--follow', $d2;
        exit 127;
    }

    my $ids = sub {
        return [ map { $_->{id} } @{ cat_lines({ out => slurp($out) }) } ];
    };
    my $wait = sub {
        my ($n) = @_;
        for (1 .. 150) {
            return 1 if @{ $ids->() } >= $n;
            sleep 0.1;
        }
        return 0;
    };

    ok $wait->(3), '--follow prints what is there' or diag slurp($err);

    # written as .part first, then sealed by rename, as the module does
    my $part = "$d2/d-1-1764000000004-4.part";
    spew($part, mp(rec(4)) . mp(rec(5)));
    spew("$d2/e-1-1764000000005-5.part", mp(rec(98)));
    sleep 0.5;
    is_deeply $ids->(), [ 1, 2, 3 ], '.part files are not read';

    rename $part, "$d2/d-1-1764000000004-4.mtspool" or die $!;
    ok $wait->(5), 'a newly sealed file is printed';
    is_deeply $ids->(), [ 1, 2, 3, 4, 5 ], 'its records, once';

    spew("$d2/f-1-1764000000006-6.mtspool", mp(rec(6)));
    ok $wait->(6), 'and the next one';

    ok kill('TERM', $pid), 'SIGTERM sent';
    my $gone = 0;
    my $status = -1;
    for (1 .. 100) {
        if (waitpid($pid, WNOHANG) == $pid) { $status = $?; $gone = 1; last }
        sleep 0.1;
    }
    ok $gone, '--follow stops on SIGTERM' or kill 'KILL', $pid;
    is $status, 0, 'exit 0';
    is_deeply $ids->(), [ 1, 2, 3, 4, 5, 6 ], 'no record twice, none lost';
    is slurp($err), '', 'nothing on stderr';

    my $r = run('spool', 'cat', '--follow', "$d2/a-1-1764000000001-1.mtspool");
    is $r->{rc}, 2, '--follow without a DIR: usage error';
}

done_testing;
