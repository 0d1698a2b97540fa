package MailTrack::Prometheus;

# Debian's Prometheus server for a test: its own temporary directory and
# free port, run as "nobody" when the test runs as root, stopped when the
# object goes away or the test exits (also after a failure).
#
#   my $p = MailTrack::Prometheus->new(config => $yaml,
#                                      files => { 'alerts.yml' => $text });
#   $p->start;
#   my $r = $p->api('query', query => 'up');    # the decoded JSON
#   my @v = $p->wait_value('mail_track_build_info', 1);
#   $p->stop;
#
# In `config`, $DIR stands for the directory that holds `files`.

use strict;
use warnings;

use Carp qw(croak);
use File::Temp ();
use HTTP::Tiny;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Scalar::Util qw(refaddr weaken);
use Time::HiRes qw(sleep time);

use Test::Nginx::Util qw(reserve_port slurp spew);

our $BINARY = $ENV{MAIL_TRACK_PROMETHEUS} || '/usr/bin/prometheus';

my %Live;

sub new {
    my ($class, %a) = @_;

    croak "$BINARY not found (scripts/deps.sh test installs prometheus)"
        unless -x $BINARY;

    my $dir = File::Temp::tempdir('mt-prometheus-XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);
    my $self = bless { dir => $dir, port => reserve_port(),
                       owner => $$ }, $class;

    my $config = $a{config};
    $config =~ s/\$DIR\b/$dir/g;

    spew("$dir/prometheus.yml", $config);
    spew("$dir/$_", $a{files}{$_}) for keys %{ $a{files} || {} };
    mkdir "$dir/data" or croak "mkdir: $!";

    # a server that must not run as root: give it the directory
    if ($> == 0) {
        my ($uid, $gid) = (getpwnam 'nobody')[2, 3];
        croak 'no user nobody' unless defined $uid;
        chown $uid, $gid, $dir, "$dir/data", glob("$dir/*");
        $self->{user} = ['setpriv', "--reuid=$uid", "--regid=$gid",
                         '--clear-groups', '--'];
    }

    weaken($Live{ refaddr $self } = $self);

    return $self;
}

sub port { $_[0]{port} }
sub dir  { $_[0]{dir} }
sub url  { "http://127.0.0.1:$_[0]{port}" }
sub log_text { slurp("$_[0]{dir}/prometheus.log") // '' }

sub start {
    my ($self) = @_;
    my $dir = $self->{dir};

    my @cmd = (@{ $self->{user} || [] }, $BINARY,
               "--config.file=$dir/prometheus.yml",
               "--storage.tsdb.path=$dir/data",
               "--web.listen-address=127.0.0.1:$self->{port}",
               '--log.level=info');

    my $pid = fork // croak "fork: $!";

    if ($pid == 0) {
        open STDIN, '<', '/dev/null';
        open STDOUT, '>', "$dir/prometheus.log";
        open STDERR, '>&', \*STDOUT;
        exec @cmd or POSIX::_exit(127);
    }

    $self->{pid} = $pid;

    # ready: the server answers /-/ready with 200
    my $http = HTTP::Tiny->new(timeout => 2);
    my $deadline = time + 60;

    while (time < $deadline) {
        if (waitpid($pid, WNOHANG) == $pid) {
            delete $self->{pid};
            croak "prometheus exited:\n" . $self->log_text;
        }

        return $self if $http->get($self->url . '/-/ready')->{status} == 200;
        sleep 0.1;
    }

    croak "prometheus not ready after 60 s:\n" . $self->log_text;
}

# GET /api/v1/NAME?params: the decoded answer (dies unless "success")
sub api {
    my ($self, $name, %params) = @_;

    my $http = HTTP::Tiny->new(timeout => 10);
    my $url = $self->url . "/api/v1/$name";
    $url .= '?' . $http->www_form_urlencode(\%params) if %params;

    my $r = $http->get($url);
    my $j = eval { JSON::PP->new->decode($r->{content}) };

    croak "prometheus $name: $r->{status} $r->{content}"
        unless $j && $j->{status} eq 'success';

    return $j->{data};
}

# waits until the instant query QUERY gives EXPECTED (a number) in its
# one sample, or the timeout (30 s); returns the last value seen
sub wait_value {
    my ($self, $query, $expected, $timeout) = @_;
    my $deadline = time + ($timeout || 30);
    my $v;

    while (1) {
        my $d = $self->api('query', query => $query);
        $v = @{ $d->{result} } == 1 ? $d->{result}[0]{value}[1] : undef;
        return $v if defined $v && $v == $expected;
        return $v if time > $deadline;
        sleep 0.2;
    }
}

# waits until CODE returns true, polling every 200 ms (30 s at most)
sub wait_for {
    my ($self, $code, $timeout) = @_;
    my $deadline = time + ($timeout || 30);

    while (1) {
        my $r = $code->();
        return $r if $r || time > $deadline;
        sleep 0.2;
    }
}

sub stop {
    my ($self) = @_;
    my $pid = delete $self->{pid} or return;

    kill 'TERM', $pid;

    my $deadline = time + 20;
    while (waitpid($pid, WNOHANG) == 0) {
        if (time > $deadline) {
            kill 'KILL', $pid;
            waitpid($pid, 0);
            last;
        }
        sleep 0.05;
    }
}

sub DESTROY {
    my ($self) = @_;
    $self->stop if $self->{owner} && $self->{owner} == $$;
}

END {
    for my $p (values %Live) {
        $p->stop if $p && $p->{owner} == $$;
    }
}

1;
