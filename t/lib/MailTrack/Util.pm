package MailTrack::Util;

# Shared by the module's tests: fixed token keys, minting tokens with the
# real mail-track tool, reading spool files back with it.

use strict;
use warnings;

use Exporter 'import';
use File::Temp ();
use File::Basename ();
use File::Spec ();
use JSON::PP ();
use MIME::Base64 ();
use Time::HiRes ();

our @EXPORT = qw(tool keys_file other_keys_file token spool_records
                 wait_records metric metric_count repo_root answer hex_secret
                 basic_auth status_json);

my $root = File::Spec->rel2abs(
    File::Basename::dirname(__FILE__) . '/../../..');

sub repo_root { $root }

sub tool {
    my $t = $ENV{MAIL_TRACK_TOOL} || "$root/build/mail-track";
    die "mail-track tool not found at $t (run make)\n" unless -x $t;
    return $t;
}

# two keys: 7 (the current one) and 3 (an older one, still valid)
our $KEY_3 = 'H+5oTL0w7nHrQzmhfW1mNf1P6bMc9gV03t34vPFj4xQ=';
our $KEY_7 = 'AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=';

my $keys_file;

sub keys_file {
    return $keys_file if $keys_file && -f $keys_file;

    my $dir = File::Temp::tempdir('mt-keys-XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);
    $keys_file = "$dir/keys.txt";

    open my $fh, '>', $keys_file or die "$keys_file: $!";
    print $fh "# test keys\n3 $KEY_3\n7 $KEY_7\n";
    close $fh;
    chmod 0600, $keys_file;

    return $keys_file;
}

# keys the module under test does not know: ids 9, and 7 with another key
sub other_keys_file {
    my $dir = File::Temp::tempdir('mt-keys-XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);
    my $f = "$dir/other.txt";

    open my $fh, '>', $f or die "$f: $!";
    print $fh "9 $KEY_3\n7 $KEY_3\n";
    close $fh;
    chmod 0600, $f;

    return $f;
}

# token('open', mid => 'm-1', rcpt => 'a@example.com', url => ...,
#       ttl => '30d', tag => 't', kid => 3, keys => FILE)
sub token {
    my ($purpose, %a) = @_;

    my @cmd = (tool(), 'token', $purpose,
               '--keys', $a{keys} || keys_file(),
               '--mid', $a{mid} // 'm-1',
               '--rcpt', $a{rcpt} // 'a@example.com',
               '--base', 'http://localhost', '--raw');

    push @cmd, '--url', $a{url} if defined $a{url};
    push @cmd, '--ttl', $a{ttl} if defined $a{ttl};
    push @cmd, '--tag', $a{tag} if defined $a{tag};
    push @cmd, '--kid', $a{kid} if defined $a{kid};
    push @cmd, '--expires', $a{expires} if defined $a{expires};
    push @cmd, '--unsafe-url' if $a{unsafe_url};

    open my $fh, '-|', @cmd or die "@cmd: $!";
    my $out = do { local $/; <$fh> };
    close $fh;

    die "mail-track token failed: @cmd\n" if $? != 0;

    chomp $out;
    return $out;
}

# all records of the sealed files in DIR, decoded by `mail-track spool cat`
sub spool_records {
    my ($dir) = @_;

    return () unless -d $dir;

    my @files = glob("$dir/*.mtspool");
    return () unless @files;

    open my $fh, '-|', tool(), 'spool', 'cat', $dir
        or die "spool cat: $!";

    my @recs;
    my $json = JSON::PP->new;

    while (my $line = <$fh>) {
        push @recs, $json->decode($line);
    }

    close $fh;

    return @recs;
}

# waits until DIR holds at least N sealed records (or the timeout)
sub wait_records {
    my ($dir, $n, $timeout) = @_;

    $timeout //= 10;

    my $deadline = Time::HiRes::time() + $timeout;
    my @recs;

    while (1) {
        @recs = spool_records($dir);
        last if @recs >= $n || Time::HiRes::time() > $deadline;
        Time::HiRes::sleep(0.05);
    }

    return @recs;
}

# a value from Prometheus text: metric($text, 'name{label="x"}')
sub metric {
    my ($text, $name) = @_;

    for my $line (split /\n/, $text) {
        next if $line =~ /^#/;
        my ($k, $v) = $line =~ /^(\S+)\s+(\S+)$/ or next;
        return $v + 0 if $k eq $name;
    }

    return undef;
}

# the same from an instance's metrics location (/metrics), 0 when absent
sub metric_count {
    my ($n, $name) = @_;
    my $v = metric($n->get('/metrics')->{body}, $name);
    return defined $v ? $v : 0;
}

# a message's status from an instance: (code, the decoded JSON on 200,
# the response); PATH is the request path, "/status/<mid>"
sub status_json {
    my ($n, $path) = @_;
    my $r = $n->get($path);
    return ($r->{status},
            $r->{status} == 200 ? JSON::PP->new->decode($r->{body}) : undef,
            $r);
}

# a webhook's 200 body: answer(accepted, duplicates)
sub answer { qq({"accepted":$_[0],"duplicates":$_[1]}\n) }

# a fresh credential: BYTES (24) random bytes in hex
sub hex_secret {
    my ($bytes) = @_;
    return join '', map { sprintf '%02x', int rand 256 } 1 .. ($bytes || 24);
}

# an Authorization: Basic header, as a [name, value] pair
sub basic_auth {
    my ($user, $pass) = @_;
    return ['Authorization',
            'Basic ' . MIME::Base64::encode_base64("$user:$pass", '')];
}

1;
