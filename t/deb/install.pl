# make test-deb: the packages of `make deb` installed on this machine with
# apt-get and used as an operator would: Debian's nginx, started as
# `nginx`, loads the module through the modules-enabled link and serves a
# pixel and a webhook into the spool; the installed tool reads (and, once
# `mail-track load` exists, loads) the spool; lintian; the bad inputs of
# issue 10 (another nginx ABI, a spool directory of other ownership, a
# purge while nginx runs with the module loaded); apt-get purge removes
# what the packages installed.  Afterwards the machine is as it was:
# /etc/nginx, the logs' sizes, policy-rc.d, the mail-track user.
#
#   prove -v -I t/lib t/deb/install.pl      (as root; make test-deb)

use strict;
use warnings;

use Test::More;
use File::Temp ();
use File::Find ();
use HTTP::Tiny;
use JSON::PP ();
use POSIX qw(WNOHANG);
use Time::HiRes qw(sleep time);

use MailTrack::Util qw(repo_root metric hex_secret);
use MailTrack::Sign qw(mailgun_body);
use Test::Nginx::Util qw(reserve_port slurp spew);

BAIL_OUT('make test-deb installs packages: run it as root') if $> != 0;

my $root = repo_root();
my $tmp = File::Temp::tempdir('mt-deb-XXXXXX', TMPDIR => 1, CLEANUP => 1);

my $MOD = 'libnginx-mod-http-mail-track';
my $TOOL = 'mail-track';
my $SO = '/usr/lib/nginx/modules/ngx_http_mail_track_module.so';
my $AVAIL = '/usr/share/nginx/modules-available/mod-http-mail-track.conf';
my $ENABLED = '/etc/nginx/modules-enabled/50-mod-http-mail-track.conf';
my $SPOOL = '/var/spool/mail-track';
my $STATE = '/var/lib/mail-track';
my $UNIT = '/lib/systemd/system/mail-track-load.service';
my $WANTS = '/etc/systemd/system/multi-user.target.wants/'
          . 'mail-track-load.service';
my $POLICY = '/usr/sbin/policy-rc.d';
my $PIDFILE = '/run/nginx.pid';

my ($version) = `sed -n 's/^#define MT_VERSION *"\\(.*\\)"/\\1/p' \\
                 $root/ngx_mail_track_module/core/mt_version.h` =~ /(\S+)/;

my %deb = map { /\/([^\/_]+)_[^\/]+\.deb$/ ? ($1 => $_) : () }
          glob "$root/build/deb/*.deb";

BAIL_OUT("no packages in build/deb (make deb)")
    unless $deb{$MOD} && $deb{$TOOL};

# --- helpers ------------------------------------------------------------

sub run {
    my (@cmd) = @_;
    my $out = `@{[ join ' ', map { quote($_) } @cmd ]} 2>&1`;
    return ($? >> 8, $out);
}

sub quote {
    my ($s) = @_;
    return $s if $s =~ /^[\w.\/:=+,@-]+$/;
    $s =~ s/'/'\\''/g;
    return "'$s'";
}

sub apt {
    local $ENV{DEBIAN_FRONTEND} = 'noninteractive';
    return run('apt-get', '-y', '-q', '-o', 'Dpkg::Use-Pty=0', @_);
}

sub status_of {
    my ($pkg) = @_;
    my ($rc, $out) = run('dpkg-query', '-W', '-f=${Status}', $pkg);
    return $rc == 0 ? $out : '';
}



sub owner {
    my @st = lstat $_[0] or return '';
    return sprintf '%s:%s %o', scalar getpwuid($st[4]) // $st[4],
                   scalar getgrgid($st[5]) // $st[5], $st[2] & 07777;
}

sub alive { $_[0] && kill(0, $_[0]) }

sub master_pid {
    my $p = slurp($PIDFILE);
    return $p && $p =~ /(\d+)/ ? $1 : undef;
}

sub wait_until {
    my ($code, $timeout) = @_;
    my $deadline = time + ($timeout || 15);
    while (1) {
        my $r = $code->();
        return $r if $r || time > $deadline;
        sleep 0.1;
    }
}

# what the packages could leave behind: every path under these, with its
# type, owner and mode (and a link's target)
my @WATCH = qw(/etc/nginx /etc/default /etc/systemd/system
               /lib/systemd/system /usr/lib/nginx /usr/share/nginx
               /usr/share/man/man1 /usr/share/doc/libnginx-mod-http-mail-track
               /usr/share/doc/mail-track /usr/bin/mail-track
               /var/spool/mail-track /var/lib/mail-track);

sub snapshot {
    my %s;
    for my $top (@WATCH) {
        next unless -e $top || -l $top;
        File::Find::find({ no_chdir => 1, wanted => sub {
            my $p = $File::Find::name;
            $s{$p} = owner($p) . (-l $p ? ' -> ' . readlink $p : '');
        } }, $top);
    }
    $s{'user mail-track'} = 1 if getpwnam 'mail-track';
    $s{"package $_"} = status_of($_) for $MOD, $TOOL;
    return \%s;
}

sub http {
    return HTTP::Tiny->new(timeout => 10, max_redirect => 0);
}

# --- the machine before, and how to put it back ------------------------

die "$MOD or $TOOL is installed: purge it before make test-deb\n"
    if status_of($MOD) =~ /installed|config-files/
       || status_of($TOOL) =~ /installed|config-files/;

die "nginx runs (pid " . master_pid() . "): stop it before make test-deb\n"
    if alive(master_pid());

my $before = snapshot();
my $had_user = getpwnam('mail-track') ? 1 : 0;

system('cp', '-a', '/etc/nginx', "$tmp/etc-nginx") == 0
    or die "cannot back up /etc/nginx\n";

my %log_size = map { $_ => -s $_ } glob '/var/log/nginx/*';

my $own_policy = 0;
unless (-e $POLICY) {
    # as scripts/deps.sh: apt must not start services here
    spew($POLICY, "#!/bin/sh\nexit 101\n", 0755);
    $own_policy = 1;
}

my $started_nginx;

my @TOUCHED = ('/etc/nginx/conf.d/mail-track-test.conf',
               '/etc/nginx/mail-track.keys', '/etc/nginx/mailgun.key',
               '/etc/nginx/sites-enabled/default', $ENABLED,
               "$ENABLED.removed");

sub restore {
    if ($started_nginx && alive(master_pid())) {
        my $pid = master_pid();
        kill 'QUIT', $pid;
        wait_until(sub { !alive($pid) }, 20);
        kill 'KILL', $pid if alive($pid);
    }
    undef $started_nginx;

    for my $p ($MOD, $TOOL) {
        apt('purge', $p) if status_of($p) =~ /installed|config-files/;
    }

    run('dpkg-statoverride', '--remove', $SPOOL)
        if `dpkg-statoverride --list $SPOOL 2>/dev/null` ne '';

    # only what this test changes: other work on a shared machine may
    # change the rest meanwhile
    for my $p (@TOUCHED) {
        (my $saved = $p) =~ s{^/etc/nginx}{$tmp/etc-nginx};
        system('rm', '-rf', $p) if -e $p || -l $p;
        system('cp', '-a', $saved, $p) if -e $saved || -l $saved;
    }

    for my $f (glob '/var/log/nginx/*') {
        if (!defined $log_size{$f}) {
            unlink $f;
        } elsif (-s $f != $log_size{$f}) {
            truncate $f, $log_size{$f};
        }
    }

    system('rm', '-rf', $SPOOL, $STATE) unless $before->{$SPOOL};
    run('deluser', '--quiet', '--system', 'mail-track')
        if !$had_user && getpwnam('mail-track');
    run('delgroup', '--quiet', '--system', 'mail-track')
        if !$had_user && getgrnam('mail-track');

    unlink $POLICY if $own_policy;
    $own_policy = 0;
}

END {
    my $rc = $?;
    restore();
    $? = $rc;
}

$SIG{INT} = $SIG{TERM} = sub { exit 1 };

my $port = reserve_port();
my $base = "http://127.0.0.1:$port";

# --- lintian -------------------------------------------------------------

{
    my ($rc, $out) = run('lintian', '--info', '--pedantic', $deb{$MOD},
                         $deb{$TOOL});
    my @tags = $out =~ /^([EWIP]): \S+: (\S+)/mg;
    my (%err, %warn);
    while (my ($level, $tag) = splice @tags, 0, 2) {
        $err{$tag} = 1 if $level eq 'E';
        $warn{$tag} = 1 if $level eq 'W';
    }

    is_deeply [sort keys %err], [], 'lintian: no errors' or diag $out;

    # docs/packaging.md lists the warnings kept, each with its reason
    my $doc = slurp("$root/docs/packaging.md");
    my %kept = map { $_ => 1 } $doc =~ /^\| `([a-z0-9-]+)` \| warning \|/mg;
    is_deeply [grep { !$kept{$_} } sort keys %warn], [],
        'lintian: every warning is listed in docs/packaging.md' or diag $out;
}

# --- another nginx build: the ABI dependency refuses the module ---------

my ($nginx_abi) = `dpkg-query -W -f='\${Provides}' nginx` =~ /(nginx-abi-\S+)/;
ok $nginx_abi, "the installed nginx provides $nginx_abi";

like `dpkg-deb -f $deb{$MOD} Depends`, qr/(^|, )\Q$nginx_abi\E(,|$)/m,
    "$MOD depends on $nginx_abi (computed by dh_nginx)";

{
    # the same package, as if built against another nginx
    my $other = 'nginx-abi-1.99.0-1';
    my $dir = "$tmp/other-abi";
    system('dpkg-deb', '-R', $deb{$MOD}, $dir) == 0 or die 'dpkg-deb -R';
    my $control = slurp("$dir/DEBIAN/control");
    $control =~ s/\Q$nginx_abi\E/$other/;
    spew("$dir/DEBIAN/control", $control);
    my ($rc) = run('dpkg-deb', '-b', $dir, "$tmp/other-abi.deb");
    is $rc, 0, "a module package depending on $other";

    my $out;
    ($rc, $out) = apt('install', '-s', "$tmp/other-abi.deb");
    isnt $rc, 0, 'apt refuses to install it next to this nginx';
    like $out, qr/^ \Q$MOD\E : Depends: \Q$other\E but it is not installable$/m,
        'naming the missing ABI' or diag $out;

    my $doc = slurp("$root/docs/packaging.md");
    like $doc, qr/\Q$MOD\E : Depends: nginx-abi-\S+ but it is not installable/,
        'docs/packaging.md shows that message';

    # dpkg -i does unpack it, but stops before the postinst: no
    # modules-enabled link, so nginx never loads it
    ($rc, $out) = run('dpkg', '-i', "$tmp/other-abi.deb");
    isnt $rc, 0, 'dpkg -i fails';
    like $out, qr/depends on \Q$other\E; however:\s+Package \Q$other\E is not installed/,
        'for the missing ABI' or diag $out;
    like status_of($MOD), qr/unpacked|half-configured/,
        'the package stays unconfigured';
    ok !-l $ENABLED, 'without a modules-enabled link';
    ($rc, $out) = run('nginx', '-t');
    is $rc, 0, 'nginx -t is unaffected' or diag $out;
    ($rc, $out) = run('dpkg', '--purge', $MOD);
    is $rc, 0, 'dpkg --purge removes it' or diag $out;
    ok !-e $SO, 'module file and all';

}

# --- a spool directory that already exists with other ownership --------

mkdir $SPOOL or die "mkdir $SPOOL: $!";
chown scalar(getpwnam 'nobody'), scalar(getgrnam 'nogroup'), $SPOOL;
chmod 0755, $SPOOL;
spew("$SPOOL/README", "set up by hand\n", 0644);
chown scalar(getpwnam 'nobody'), scalar(getgrnam 'nogroup'), "$SPOOL/README";

# --- Debian's nginx runs before the packages come -------------------------

unlink '/etc/nginx/sites-enabled/default';   # port 80: not ours

my $log_pos = -s '/var/log/nginx/error.log' || 0;

my ($rc, $out) = run('nginx');
is $rc, 0, 'nginx (Debian\'s, started as `nginx`) runs' or diag $out;
$started_nginx = 1;

my $master = wait_until(sub { alive(master_pid()) && master_pid() });
ok $master, "master $master";

sub workers {
    return grep { /^\d+$/ } split ' ', `pgrep -P $master`;
}

# --- install --------------------------------------------------------------

($rc, $out) = apt('install', $deb{$MOD}, $deb{$TOOL});
is $rc, 0, 'apt-get install ./build/deb/*.deb' or diag $out;
is master_pid(), $master, 'nginx runs on';

like status_of($MOD), qr/install ok installed/, "$MOD installed";
like status_of($TOOL), qr/install ok installed/, "$TOOL installed";

ok -f $SO, $SO;
is slurp($AVAIL), "load_module modules/ngx_http_mail_track_module.so;\n",
    $AVAIL;
is readlink($ENABLED), $AVAIL, "$ENABLED, by dh_nginx's postinst";

is `mail-track --version`, "mail-track $version\n",
    'the installed mail-track --version';
is `dpkg-query -W -f='\${Version}' $TOOL`, $version,
    'the package version is the same';

my @pw = getpwnam 'mail-track';
ok @pw, 'the system user mail-track';
ok @pw && $pw[2] < 1000, 'a system uid';
is $pw[7], $STATE, 'its home is the state directory';
like $pw[8] // '', qr/nologin|false/, 'no login shell';

is owner($SPOOL), 'www-data:mail-track 2770',
    "$SPOOL: www-data writes, group mail-track reads and moves, setgid";
is owner($STATE), 'mail-track:mail-track 750', "$STATE: the loader's";
like $out, qr/mail-track: \Q$SPOOL\E was nobody:nogroup 755, now (?x)
              www-data:mail-track\ 2770/,
    'the pre-existing spool directory: the change is reported';
is owner("$SPOOL/README"), 'nobody:nogroup 644',
    'and the files in it are left alone';

ok -f $UNIT, $UNIT;
is readlink($WANTS), $UNIT, 'the unit is enabled (deb-systemd-helper)';

($rc, $out) = run('systemd-analyze', 'verify', $UNIT);
is $rc, 0, 'systemd-analyze verify mail-track-load.service' or diag $out;

for my $k (qw(ProtectSystem=strict NoNewPrivileges=yes User=mail-track
              EnvironmentFile=/etc/default/mail-track)) {
    like slurp($UNIT), qr/^\Q$k\E$/m, "unit: $k";
}
like slurp($UNIT), qr{^ReadWritePaths=.*\Q$SPOOL\E}m,
    'unit: ReadWritePaths= the spool';
like slurp($UNIT), qr{^ReadWritePaths=.*\Q$STATE\E}m,
    'unit: ReadWritePaths= the database directory';

like `man -P cat mail-track 2>&1`, qr/mail-track\s+-\s+keys,\s+tokens\s+and\s+spool/,
    'man mail-track';
like `whatis mail-track 2>&1`, qr/^mail-track \(1\)/m, 'whatis mail-track';

# --- a statoverride is the administrator's choice ------------------------

run('dpkg-statoverride', '--update', '--add', 'www-data', 'mail-track',
    '3770', $SPOOL);
is owner($SPOOL), 'www-data:mail-track 3770', 'a statoverride on the spool';
($rc, $out) = run('dpkg', '-i', $deb{$TOOL});
is $rc, 0, 'reinstall (dpkg -i)' or diag $out;
is owner($SPOOL), 'www-data:mail-track 3770', 'the postinst keeps it';
run('dpkg-statoverride', '--remove', $SPOOL);
chmod 02770, $SPOOL;

# --- nginx: the README's configuration through the modules-enabled link --

my $KEY = hex_secret(16);
spew('/etc/nginx/mailgun.key', "$KEY\n", 0600);

is `mail-track keygen /etc/nginx/mail-track.keys`, "1\n",
    'mail-track keygen /etc/nginx/mail-track.keys';

spew('/etc/nginx/conf.d/mail-track-test.conf', <<"_EOC_");
# written by make test-deb (t/deb/install.pl): the README's configuration,
# with max_age=1s so that the test need not wait a minute for a file
mail_track_zone  zone=mail_track:64m;
mail_track_spool /var/spool/mail-track max_age=1s;
mail_track_keys  /etc/nginx/mail-track.keys;

server {
    listen 127.0.0.1:$port;

    location /o/ { mail_track_open; }
    location /c/ { mail_track_click; }
    location /u/ { mail_track_unsubscribe; }

    location = /hooks/mailgun {
        mail_track_webhook     mailgun;
        mail_track_webhook_key file:/etc/nginx/mailgun.key;
    }

    location = /metrics {
        mail_track_metrics;
        allow 127.0.0.1;
        deny  all;
    }
}
_EOC_

($rc, $out) = run('nginx', '-t');
is $rc, 0, 'nginx -t' or diag $out;
like $out, qr/test is successful/, 'nginx -t: test is successful';

rename $ENABLED, "$tmp/link" or die "rename: $!";
($rc, $out) = run('nginx', '-t');
isnt $rc, 0, 'without the modules-enabled link nginx -t fails';
like $out, qr/unknown directive "mail_track_zone"/,
    'so the module comes through the link';
rename "$tmp/link", $ENABLED or die "rename: $!";

# the README's last step: a reload loads the module into the running nginx

my %old = map { $_ => 1 } workers();

($rc, $out) = run('nginx', '-s', 'reload');
is $rc, 0, 'nginx -s reload' or diag $out;

my @workers = @{ wait_until(sub {
    my @w = grep { !$old{$_} } workers();
    return @w && !grep({ alive($_) } keys %old) ? \@w : undef;
}, 20) || [] };
ok @workers, 'new workers';
is `ps -o user= -p $workers[0]` =~ s/\s+//gr, 'www-data',
    'they run as www-data' if @workers;
ok wait_until(sub { http()->get("$base/metrics")->{status} == 200 }),
    "listening on $base";
like slurp("/proc/$master/maps") // '', qr/\Q$SO\E/,
    'the master has loaded the module';

my $open = `mail-track token open --keys /etc/nginx/mail-track.keys --mid deb-1 --rcpt a\@example.com --base $base/o/`;
chomp $open;

my $r = http()->get($open);
is $r->{status}, 200, 'the pixel: 200';
is $r->{headers}{'content-type'}, 'image/gif', 'a GIF';
is length $r->{content}, 43, 'of 43 bytes';

my $ed = '{"event":"delivered","id":"deb-ev-1","timestamp":1764000000.5,'
       . '"recipient":"a@example.com","user-variables":'
       . '{"mail_track_id":"deb-1"},"message":{"headers":'
       . '{"message-id":"deb-1@mg.example.com"}}}';

$r = http()->post("$base/hooks/mailgun", {
    headers => { 'Content-Type' => 'application/json' },
    content => mailgun_body($KEY, $ed) });
is $r->{status}, 200, 'the Mailgun webhook: 200' or diag $r->{content};

my $file = wait_until(sub { (glob "$SPOOL/*.mtspool")[0] }, 20);
ok $file, 'a sealed spool file' or diag `ls -la $SPOOL`;

is owner($file), 'www-data:mail-track 640',
    'owned www-data:mail-track, mode 0640 (the setgid directory), as '
    . 'docs/packaging.md says';

my @recs = map { JSON::PP->new->decode($_) }
           split /\n/, `mail-track spool cat $SPOOL`;
is_deeply [sort map { "$_->{src} $_->{type} $_->{mid}" } @recs],
          ['mailgun delivered deb-1', 'track opened deb-1'],
          'mail-track spool cat: the open and the delivery';

$r = http()->get("$base/metrics");
is metric($r->{content}, 'mail_track_events_total{src="track",type="opened"}'),
    1, 'metrics: one open';

# --- the loader, as the unit runs it --------------------------------------

my ($help_rc) = run('mail-track', 'load', '--help');
is $help_rc, 0, 'the installed mail-track has "load"';

# the unit's ExecStart, with /etc/default/mail-track, as its User=
my $unit = slurp($UNIT);
my ($exec) = $unit =~ /^ExecStart=(.*)$/m;
my ($user) = $unit =~ /^User=(\S+)$/m;
my %env = slurp('/etc/default/mail-track') =~ /^(\w+)=(.*)$/mg;
$exec =~ s/\$\{(\w+)\}|\$(\w+)/$env{$1 \/\/ $2} \/\/ ''/ge;
my @cmd = split ' ', $exec;

my $pid = fork // die "fork: $!";
if ($pid == 0) {
    open STDOUT, '>', "$tmp/loader.log";
    open STDERR, '>&', \*STDOUT;
    exec('setpriv', "--reuid=$user", "--regid=$user", '--init-groups',
         '--', @cmd) or POSIX::_exit(127);
}

ok wait_until(sub { !-e $file && -e "$SPOOL/loaded" }, 30),
    "@cmd: the file is loaded and moved"
    or diag slurp("$tmp/loader.log");

kill 'TERM', $pid;
my $done = wait_until(sub { waitpid($pid, WNOHANG) == $pid }, 30);
ok $done, 'the loader stops on SIGTERM';
is $? >> 8, 0, 'with status 0' if $done;
kill 'KILL', $pid unless $done;

my $st = `mail-track status deb-1 --db $env{MAIL_TRACK_DB}`;
my $j = eval { JSON::PP->new->decode($st) } || {};
is $j->{state}, 'delivered', 'mail-track status: delivered' or diag $st;
is $j->{opens}{count}, 1, 'and opened once';

# one more event, in a file the loader has not seen: purge keeps it

my %seen = map { $_ => 1 } glob "$SPOOL/*.mtspool";
is http()->get($open)->{status}, 200, 'another pixel';
my $unloaded = wait_until(sub {
    (grep { !$seen{$_} } glob "$SPOOL/*.mtspool")[0] }, 20);
ok $unloaded, 'in a new spool file';

# --- purge while nginx runs with the module loaded -----------------------

($rc, $out) = apt('purge', $MOD, $TOOL);
is $rc, 0, 'apt-get purge, nginx running' or diag $out;

ok !-e $SO, 'the module file is gone';
ok !-e $AVAIL, 'its modules-available file';
ok !-e $ENABLED && !-e "$ENABLED.removed" && !-l $ENABLED,
    'and the modules-enabled link (no .removed left)';
ok !-e '/usr/bin/mail-track', 'the tool';
ok !-e '/usr/share/man/man1/mail-track.1.gz', 'the man page';
ok !-e $UNIT && !-l $WANTS, 'the unit and its enable link';
ok !-e '/etc/default/mail-track', 'the conffile';
ok !-e $STATE, "$STATE";
like $out, qr/mail-track: kept \Q$SPOOL\E with \d+ spool file\(s\) not loaded yet/,
    'the spool directory is kept for its unloaded files, and said so';
ok -e $unloaded, 'the unloaded file is there';
ok !-e "$SPOOL/README" && !-e "$SPOOL/loaded",
    'everything else in the spool directory is gone';
ok getpwnam('mail-track'), 'the system user stays (docs/packaging.md)';

is master_pid(), $master, 'nginx still runs, the same master';
$r = http()->get($open);
is $r->{status}, 200, 'and still serves the pixel: the module stays mapped';

my $maps = slurp("/proc/$master/maps") // '';
like $maps, qr{\Q$SO\E \(deleted\)}, 'from the deleted file';

# what `systemctl reload nginx` (nginx -s reload) does now: refused, and
# the running nginx goes on with its configuration
($rc, $out) = run('nginx', '-s', 'reload');
isnt $rc, 0, 'a reload with the directives still in nginx.conf fails';
like $out, qr/unknown directive "mail_track_zone"/, 'naming the directive';
is master_pid(), $master, 'nginx keeps running';
is http()->get($open)->{status}, 200, 'and serving';

unlink '/etc/nginx/conf.d/mail-track-test.conf';
($rc, $out) = run('nginx', '-s', 'reload');
is $rc, 0, 'without them the reload works' or diag $out;

ok wait_until(sub { !grep { alive($_) } @workers }, 20),
    'the old workers exit';
ok wait_until(sub {
        (slurp("/proc/$master/maps") // '') !~ /mail_track/ }, 10),
    'and the master has unloaded the module';

my $errors = substr(slurp('/var/log/nginx/error.log') // '', $log_pos);
unlike $errors, qr/\[(alert|crit)\]|signal \d+\b.*exited/,
    'no alert or crash in nginx\'s error log' or diag $errors;

kill 'QUIT', $master;
ok wait_until(sub { !alive($master) }, 20), 'nginx -s quit';
undef $started_nginx;

# --- what is left: the kept spool files and the user, nothing else ------

system('rm', '-rf', $SPOOL);
unlink '/etc/nginx/mail-track.keys', '/etc/nginx/mailgun.key';

# a purge with nothing left to load removes the spool directory too
# (dpkg alone: apt's part was shown above)
($rc, $out) = run('dpkg', '-i', $deb{$TOOL});
is $rc, 0, 'mail-track installed again' or diag $out;
ok -d $SPOOL, 'with its spool directory';
($rc, $out) = run('dpkg', '--purge', $TOOL);
is $rc, 0, 'and purged' or diag $out;
ok !-e $SPOOL && !-e $STATE, 'which leaves no directory behind';
unlike $out, qr/kept/, 'and says nothing about kept files';

restore();

is_deeply snapshot(), $before, 'the machine is as it was';

done_testing;
