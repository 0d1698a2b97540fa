# mail_track_metrics scraped by Debian's real Prometheus: the counters the
# test produced, read back through Prometheus' HTTP API; a metrics
# location protected by allow/deny refuses the scrape (403); the shipped
# alerts (docs/prometheus/alerts.yml) pass promtool and load, and the
# Grafana dashboard's queries run and name only metrics the module exports

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use Test::Nginx::Util qw(slurp);
use MailTrack::Prometheus;
use MailTrack::Sign qw(mailgun_body);
use JSON::PP ();

my $root = repo_root();


my $alerts = slurp("$root/docs/prometheus/alerts.yml");
my $dashboard = JSON::PP->new->decode(
    slurp("$root/docs/grafana/mail-track.json"));
my $monitoring = slurp("$root/docs/monitoring.md");

# --- the rules: promtool's syntax check and its unit tests ------------------

my $promtool = '/usr/bin/promtool';
ok -x $promtool, 'promtool is installed';

my $out = `$promtool check rules $root/docs/prometheus/alerts.yml 2>&1`;
is $?, 0, 'promtool check rules docs/prometheus/alerts.yml'
    or diag $out;
like $out, qr/SUCCESS: 7 rules found/, 'seven rules';

{
    my $dir = File::Temp::tempdir('mt-promtool-XXXXXX', TMPDIR => 1,
                                  CLEANUP => 1);
    system('cp', "$root/docs/prometheus/alerts.yml",
           "$root/t/prometheus/alerts-test.yml", $dir) == 0 or die 'cp';
    $out = `cd $dir && $promtool test rules alerts-test.yml 2>&1`;
    is $?, 0, 'promtool test rules: each alert fires on its series only'
        or diag $out;
}

# --- nginx: events of known counts, two metrics locations ------------------

my $KEY = hex_secret(16);
my $keys = keys_file();

my $n = MailTrack::Test->new(name => 'prometheus', http_config => <<"_EOC_",
    mail_track_zone zone=mt:1m;
    mail_track_spool \$TEST_NGINX_SERVROOT/spool flush=100ms;
    mail_track_keys $keys;
_EOC_
    config => <<"_EOC_");
        location /o/ { mail_track_open; }
        location /c/ { mail_track_click; }

        location = /hooks/mailgun {
            mail_track_webhook     mailgun;
            mail_track_webhook_key $KEY;
        }

        # as docs/monitoring.md shows it: Prometheus' address only
        location = /metrics {
            mail_track_metrics;
            allow 127.0.0.1;
            deny  all;
        }

        # the same for a Prometheus elsewhere: this one is refused
        location = /metrics-remote {
            mail_track_metrics;
            allow 192.0.2.10;
            deny  all;
        }
_EOC_

$n->start;

my $tok = token('open', mid => 'prom-1');
is $n->get("/o/$tok.gif")->{status}, 200, "open $_" for 1 .. 3;

my $click = token('click', mid => 'prom-1', url => 'https://example.com/a');
is $n->get("/c/$click")->{status}, 302, "click $_" for 1 .. 2;

my $ed = '{"event":"delivered","id":"prom-ev-1","timestamp":1764000000.5,'
       . '"recipient":"a@example.com","message":{"headers":'
       . '{"message-id":"prom-1@mg.example.com"}}}';

is $n->post('/hooks/mailgun', mailgun_body($KEY, $ed),
            headers => ['Content-Type' => 'application/json'])->{status},
    200, 'a signed Mailgun event';

is $n->post('/hooks/mailgun', mailgun_body(hex_secret(16), $ed),
            headers => ['Content-Type' => 'application/json'])->{status},
    406, 'a forged one';

is $n->get('/metrics-remote')->{status}, 403,
    'the protected location refuses this address';

my $scrape = $n->get('/metrics')->{body};

my %expect = (
    'mail_track_events_total{src="track",type="opened"}'           => 3,
    'mail_track_events_total{src="track",type="clicked"}'          => 2,
    'mail_track_events_total{src="mailgun",type="delivered"}'      => 1,
    'mail_track_refused_total{src="mailgun",reason="bad_signature"}' => 1,
);

for my $m (sort keys %expect) {
    is metric($scrape, $m), $expect{$m}, "nginx says $m $expect{$m}";
}

# --- Prometheus scrapes both, and evaluates the shipped rules --------------

my $port = $n->port;

my $p = MailTrack::Prometheus->new(
    files => { 'alerts.yml' => $alerts },
    config => <<"_EOC_");
global:
  scrape_interval: 1s
  evaluation_interval: 1s

rule_files:
  - \$DIR/alerts.yml

scrape_configs:
  - job_name: mail-track
    metrics_path: /metrics
    static_configs:
      - targets: ['127.0.0.1:$port']

  - job_name: mail-track-remote
    metrics_path: /metrics-remote
    static_configs:
      - targets: ['127.0.0.1:$port']
_EOC_

$p->start;

for my $m (sort keys %expect) {
    is $p->wait_value($m, $expect{$m}), $expect{$m},
        "Prometheus has $m $expect{$m}";
}

is $p->wait_value('mail_track_build_info{version!=""}', 1), 1,
    'and the build info';

my $targets = $p->wait_for(sub {
    my %t = map { $_->{labels}{job} => $_ }
            @{ $p->api('targets')->{activeTargets} };
    return (($t{'mail-track-remote'}{lastError} || '') ne ''
            && $t{'mail-track'}{health} eq 'up') ? \%t : undef;
});

is $targets->{'mail-track'}{health}, 'up', 'the allowed scrape is up';
is $targets->{'mail-track-remote'}{health}, 'down',
    'the denied scrape is down';
like $targets->{'mail-track-remote'}{lastError}, qr/\b403\b/,
    'because nginx answered 403';

like $n->error_log,
     qr/access forbidden by rule, client: 127\.0\.0\.1, .*"GET \/metrics-remote HTTP\/1\.1"/,
     'and logged why';

my $rules = $p->wait_for(sub {
    my @r = map { @{ $_->{rules} } } @{ $p->api('rules')->{groups} };
    return (@r && !grep { $_->{lastEvaluation} =~ /^0001-/ } @r)
           ? \@r : undef;
});

is scalar(@{ $rules || [] }), 7, 'Prometheus loaded the seven rules';

for my $r (@{ $rules || [] }) {
    is $r->{health}, 'ok', "rule $r->{name} evaluates"
        or diag $r->{lastError};
    like $monitoring, qr/^### \Q$r->{name}\E$/m,
        "docs/monitoring.md explains $r->{name}";
}

# --- the dashboard's queries, against the same server ----------------------

my %exported = map { $_ => 1 } $scrape =~ /^# TYPE (\w+) /mg;

my @panels = @{ $dashboard->{panels} };
ok @panels >= 8, scalar(@panels) . ' panels';

for my $panel (@panels) {
    my $title = $panel->{title};

    like $monitoring, qr/^### \Q$title\E$/m,
        "docs/monitoring.md explains \"$title\"";

    for my $t (@{ $panel->{targets} }) {
        my $q = $t->{expr};

        for my $name ($q =~ /\b(mail_track_\w+)/g) {
            ok $exported{$name}, "\"$title\": $name is exported";
        }

        $q =~ s/\$__rate_interval/1m/g;
        $q =~ s/\$instance/.*/g;

        my $d = eval { $p->api('query', query => $q) };
        ok $d, "\"$title\": $t->{refId} runs" or diag $@;
    }
}

(my $rules_text = $alerts) =~ s/^\s*#.*\n//mg;

for my $name ($rules_text =~ /\b(mail_track_\w+)/g) {
    ok $exported{$name}, "alerts.yml: $name is exported";
}

$p->stop;
$n->quit;

done_testing;
