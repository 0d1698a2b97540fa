# Self test of MailTrack::Test against plain nginx (no module needed).

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use Test::Nginx::Util ();

# kill 0 is not enough: an exited daemon may linger as a zombie until
# init reaps it.
sub alive { Test::Nginx::Util::is_running($_[0]) }

my $config = <<'_EOC_';
        location = /pid { return 200 "pid=$pid\n"; }
        location = /len { return 200 "len=$content_length\n"; }
        location = /hdr { return 200 "x-foo=$http_x_foo\n"; }
        location = /port { return 200 "$TEST_NGINX_SERVER_PORT"; }
        location = /multi {
            add_header X-Multi a;
            add_header X-Multi b;
            return 204;
        }
        location = /ver { return 200 "one\n"; }
_EOC_

my $n = MailTrack::Test->new(name => 'helper-selftest', workers => 2,
                             config => $config);

like $n->port, qr/^\d+$/, 'port chosen';
like $n->servroot, qr{/t/servroot-helper-selftest(?:-\d+)?$},
    'servroot per name';
is $n->html_dir, $n->servroot . '/html', 'html dir';

$n->write_file('html/hello.txt', "hello file\n", 0644);
ok -f $n->servroot . '/html/hello.txt', 'write_file';

$n->start;
ok $n->is_running, 'started';
my @workers = $n->worker_pids;
is scalar @workers, 2, 'two workers';

my $r = $n->get('/pid');
is $r->{status}, 200, 'GET status';
like $r->{body}, qr/^pid=\d+$/, 'GET body';
is $r->{headers}{'content-type'}, 'text/plain', 'lower-cased header name';

$r = $n->get('/hello.txt');
is $r->{body}, "hello file\n", 'file written by write_file is served';

$r = $n->post('/len', "12345");
is $r->{body}, "len=5\n", 'POST body sent with Content-Length';

$r = $n->get('/hdr', headers => { 'X-Foo' => 'bar' });
is $r->{body}, "x-foo=bar\n", 'request headers (hash)';
$r = $n->request('GET', '/hdr', headers => ['X-Foo', 'baz']);
is $r->{body}, "x-foo=baz\n", 'request headers (list)';

$r = $n->get('/multi');
is $r->{status}, 204, '204 status';
is_deeply $r->{headers}{'x-multi'}, ['a', 'b'], 'repeated header';

$r = $n->request('HEAD', '/pid');
is $r->{status}, 200, 'HEAD status';
is $r->{body}, '', 'HEAD has no body';

is $n->get('/port')->{body}, $n->port, '$TEST_NGINX_SERVER_PORT expanded';

my %seen;
for (1 .. 200) {
    my $res = $n->get('/pid');
    $seen{ $res->{body} }++ if ($res->{status} || 0) == 200;
}
is eval { my $t = 0; $t += $_ for values %seen; $t }, 200,
    '200 requests answered';

# reload with a new config: new workers, old ones gone
(my $config2 = $config) =~ s/"one\\n"/"two\\n"/;
is $n->get('/ver')->{body}, "one\n", 'config before reload';
$n->reload(config => $config2);
my @new = $n->worker_pids;
is scalar @new, 2, 'two workers after reload';
my %old = map { $_ => 1 } @workers;
ok !(grep { $old{$_} } @new), 'all workers replaced';
ok !(grep { alive($_) } @workers), 'old workers exited';
is $n->get('/ver')->{body}, "two\n", 'config after reload';
like $n->error_log, qr/reconfiguring/, 'error log shows the reload';

# binary upgrade: a new master and new workers, the old ones gone
my $before = $n->master_pid;
my $after = $n->upgrade;
isnt $after, $before, 'upgrade: a new master';
is $n->master_pid, $after, 'upgrade: master_pid is the new one';
ok !alive($before), 'upgrade: the old master exited';
ok !(grep { alive($_) } @new), 'upgrade: the old workers exited';
@new = $n->worker_pids;
is scalar @new, 2, 'upgrade: two new workers';
is $n->get('/ver')->{body}, "two\n", 'upgrade: serves';
ok !-e $n->servroot . '/logs/nginx.pid.oldbin', 'upgrade: no .oldbin left';

my $master = $n->master_pid;
ok $n->quit, 'graceful quit';
ok !alive($master), 'master exited';
ok !(grep { alive($_) } @new), 'workers exited';
ok !$n->is_running, 'not running';

# a configuration nginx refuses
$n->set(config => "        no_such_directive_here on;\n");
my ($failed, $out) = $n->start_fails;
ok $failed, 'start_fails: nginx refused to start';
like $out, qr/unknown directive "no_such_directive_here"/,
    'start_fails returns the error';

# and a start failure from start() dies with the reason
eval { $n->start };
like $@, qr/failed to start.*no_such_directive_here/s,
    'start dies with the error';

# restart with a good config, then a fast stop
$n->set(config => $config, workers => 1, master => 0);
$n->start;
is scalar $n->worker_pids, 0, 'master off: no worker processes';
is $n->get('/ver')->{body}, "one\n", 'restarted';
ok $n->stop, 'fast stop';
ok !$n->is_running, 'stopped';

# a second instance gets its own port and servroot
my $m = MailTrack::Test->new(name => 'helper-selftest-2', config => $config);
isnt $m->port, $n->port, 'second instance: own port';
$m->start;
is $m->get('/ver')->{body}, "one\n", 'second instance serves';
my $mpid = $m->master_pid;
undef $m;
ok !alive($mpid), 'nginx stopped when the object goes away';

done_testing();
