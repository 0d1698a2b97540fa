package MailTrack::Generic;

# What the tests of mail_track_webhook generic share: the profiles of
# conf/mail-track/ installed in a servroot (as the Debian package installs
# them in /etc/nginx/mail-track/), an nginx with a zone and a spool,
# requests, and the records they left.

use strict;
use warnings;

use Exporter 'import';
use File::Copy ();
use Test::More ();
use MailTrack::Test;
use MailTrack::Util;

our @EXPORT = qw(install_profiles generic_nginx send_hook records_of
                 record_where refused_count events_count duplicates_count
                 accepted_ok refused_ok);

# the spool is written a little later than the answer (flush=50ms), and
# much later under valgrind
my $Wait = $ENV{TEST_NGINX_USE_VALGRIND} ? 60 : 10;

# copies conf/mail-track/*.conf into DIR/conf/mail-track
sub install_profiles {
    my ($servroot) = @_;
    my $to = "$servroot/conf/mail-track";
    mkdir $to unless -d $to;
    for my $f (glob(repo_root() . '/conf/mail-track/*.conf')) {
        File::Copy::copy($f, $to) or die "copy $f: $!";
    }
    return $to;
}

# an nginx running CONFIG (server level) with the profiles installed
sub generic_nginx {
    my (%a) = @_;
    my $n = MailTrack::Test->new(
        name => $a{name},
        http_config => ($a{http_config} // '') . '
    mail_track_zone zone=mt:16m;
    mail_track_spool $TEST_NGINX_SERVROOT/spool flush=50ms max_age=100ms;
    log_format mtgen \'$request_uri $status $mail_track_result\';',
        config => "        access_log logs/gen.log mtgen;\n"
                  . $a{config}
                  . "\n        location = /metrics { mail_track_metrics; }"
                  . "\n        location /status/ { mail_track_status; }");
    install_profiles($n->servroot);
    for my $f (keys %{ $a{files} || {} }) {
        $n->write_file($f, $a{files}{$f}, 0600);
    }
    $n->start;
    return $n;
}

# send_hook(N, METHOD, URI, BODY, [headers]): the response, as request()
sub send_hook {
    my ($n, $method, $uri, $body, $headers) = @_;
    return $n->request($method, $uri, headers => $headers || [],
                       body => $body);
}

# every record of the spool whose src is SRC, waiting for at least MIN
sub records_of {
    my ($n, $src, $min) = @_;
    my $deadline = time + $Wait;
    while (1) {
        my @mine = grep { $_->{src} eq $src }
                   spool_records($n->servroot . '/spool');
        return @mine if @mine >= ($min // 1) || time > $deadline;
        select undef, undef, undef, 0.1;
    }
}

# the first record of SRC whose FIELD is VALUE, waiting for it ({} if none)
sub record_where {
    my ($n, $src, $field, $value) = @_;
    my $deadline = time + $Wait;
    while (1) {
        my ($r) = grep { $_->{src} eq $src && ($_->{$field} // '') eq $value }
                  spool_records($n->servroot . '/spool');
        return $r if $r;
        return {} if time > $deadline;
        select undef, undef, undef, 0.1;
    }
}

# a 200 answer with ACC accepted (1) and DUP duplicates (0)
sub accepted_ok {
    my ($r, $name, $acc, $dup) = @_;
    $acc //= 1;
    $dup //= 0;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::is($r->{status}, 200, "$name: 200");
    Test::More::is($r->{body}, answer($acc, $dup),
                   "$name: $acc accepted, $dup duplicates");
}

sub refused_ok {
    my ($r, $status, $name) = @_;
    local $Test::Builder::Level = $Test::Builder::Level + 1;
    Test::More::is($r->{status}, $status, "$name: $status");
}

sub refused_count {
    my ($n, $src, $reason) = @_;
    return metric_count($n,
        qq{mail_track_refused_total{src="$src",reason="$reason"}});
}

sub events_count {
    my ($n, $src, $type) = @_;
    return metric_count($n,
        qq{mail_track_events_total{src="$src",type="$type"}});
}

sub duplicates_count {
    my ($n, $src) = @_;
    return metric_count($n, qq{mail_track_duplicates_total{src="$src"}});
}

1;
