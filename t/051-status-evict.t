# mail_track_status when the zone is full: making room for what a click
# brings (its url) must never evict the very message the click is for
# (issue 6, defect 5: the state was written after it was freed, and the
# message answered 404).  A small zone is filled with messages, each
# opened and then clicked with a long url; every message must be answered
# right after its click, with its open, its click and its url, while
# older messages make room.

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;

my $keys = keys_file();

my $http_config = <<"_EOC_";
    mail_track_zone zone=mt:128k queue=64k;
    mail_track_spool \$TEST_NGINX_SERVROOT/spool flush=50ms;
    mail_track_keys $keys;
_EOC_

my $config = <<'_EOC_';
        location /o/ { mail_track_open; }
        location /c/ { mail_track_click; }
        location /status/ { mail_track_status; }
        location = /metrics { mail_track_metrics; }
_EOC_

my $n = MailTrack::Test->new(name => 'status-evict', workers => 1,
                             http_config => $http_config, config => $config);
$n->start;

sub status { status_json($n, "/status/$_[0]") }

my $messages = 40;
my ($lost, $evicted) = (0, 0);

for my $i (1 .. $messages) {
    my $mid = "m-$i";
    my $url = "https://example.com/$i/" . ('a' x 2000);

    my $open = token('open', mid => $mid);
    my $click = token('click', mid => $mid, url => $url);

    my $o = $n->get("/o/$open")->{status};
    my $c = $n->get("/c/$click")->{status};

    my ($st, $s) = status($mid);

    my $good = $o == 200 && $c == 302 && $st == 200
               && $s->{opens}{count} == 1 && $s->{clicks}{count} == 1
               && $s->{clicks}{last_url} eq $url;

    if (!$good) {
        $lost++;
        diag "message $i: open $o, click $c, status $st"
             . ($s ? ", opens $s->{opens}{count}, clicks $s->{clicks}{count}"
                     . ', url ' . length($s->{clicks}{last_url} // '')
                   : '');
    }

    $evicted++
        if metric_count($n, 'mail_track_status_entries') < $i && !$evicted;
}

ok $evicted, 'the zone filled up: older messages were evicted';
is $lost, 0, "each of $messages messages answered with its open, click "
             . 'and url right after its click';

my ($st) = status("m-$messages");
is $st, 200, 'the last message is known';
($st) = status('m-1');
is $st, 404, 'the first one made room';

unlike $n->error_log, qr/\[(?:alert|crit|emerg)\]/, 'no alert';

$n->stop;

done_testing;
