# the zone survives a reload: 2000 pixels over 4 workers, a reload in the
# middle, exactly 2000 records, none torn, none twice

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use IO::Socket::INET;
use Time::HiRes qw(sleep);

my $keys = keys_file();

my $http_config = <<"_EOC_";
    mail_track_zone zone=mt:4m;
    mail_track_spool \$TEST_NGINX_SERVROOT/spool flush=300ms batch=100
                     max_size=64k max_age=1s;
    mail_track_keys $keys;
_EOC_

my $config = <<'_EOC_';
        location /o/ { mail_track_open; }
        location = /metrics { mail_track_metrics; }
_EOC_

my $n = MailTrack::Test->new(name => 'reload', workers => 4,
                             http_config => $http_config,
                             config => $config);
$n->start;

my $spool = $n->servroot . '/spool';
my $port = $n->port;
my @tokens = map { token('open', mid => "m-$_") } 1 .. 8;

# keep-alive clients in parallel, so that the four workers all take some
sub blast {
    my ($count, $clients) = @_;
    my @pids;

    for my $c (1 .. $clients) {
        my $pid = fork // die "fork: $!";

        if ($pid == 0) {
            my $ok = 0;
            my $sock;

            for my $i (1 .. $count / $clients) {
                $sock ||= IO::Socket::INET->new(PeerAddr => '127.0.0.1',
                                                PeerPort => $port,
                                                Timeout => 5) or exit 1;
                my $tok = $tokens[($c + $i) % @tokens];
                print $sock "GET /o/$tok.gif HTTP/1.1\r\nHost: x\r\n\r\n";

                my $head = '';
                while ($head !~ /\r\n\r\n/) {
                    my $got = sysread($sock, $head, 4096, length $head);
                    last unless $got;
                }

                my ($len) = $head =~ /Content-Length: (\d+)/i;
                my ($body) = $head =~ /\r\n\r\n(.*)$/s;
                $body //= '';
                while (defined $len && length($body) < $len) {
                    my $got = sysread($sock, $body, $len - length $body,
                                      length $body);
                    last unless $got;
                }

                $ok++ if $head =~ m{^HTTP/1.1 200};

                # a new connection now and then: new workers get some too
                if ($i % 25 == 0) {
                    close $sock;
                    undef $sock;
                }
            }

            exit($ok == $count / $clients ? 0 : 1);
        }

        push @pids, $pid;
    }

    my $failed = 0;
    for (@pids) {
        waitpid $_, 0;
        $failed++ if $? != 0;
    }

    return $failed;
}

is blast(1000, 8), 0, 'first 1000 pixels answered';

my @before = $n->worker_pids;
$n->reload;
my @after = $n->worker_pids;
ok !grep({ my $p = $_; grep { $_ == $p } @after } @before),
    'new workers after the reload';

is blast(1000, 8), 0, 'second 1000 pixels answered';

$n->quit;

my @r = spool_records($spool);
is scalar @r, 2000, 'exactly 2000 records spooled';

my %ids;
$ids{ $_->{id} }++ for @r;
is scalar(keys %ids), 2000, 'no record written twice';

my @torn = grep { !($_->{v} && $_->{type} && $_->{type} eq 'opened'
                    && $_->{mid} && $_->{mid} =~ /^m-\d$/) } @r;
is scalar @torn, 0, 'no record torn or interleaved';

my %procs = map { substr($_->{id}, 0, 16) => 1 } @r;
ok keys(%procs) >= 3, 'written by several worker processes ('
                      . scalar(keys %procs) . ')';

my @parts = glob("$spool/*.part");
is scalar @parts, 0, 'every file sealed';

my $log = $n->error_log;
unlike $log, qr/\[(alert|emerg|crit)\]/, 'no alerts';

done_testing;
