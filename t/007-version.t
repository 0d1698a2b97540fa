# one version everywhere: core/mt_version.h, the module's start-up notice
# and metrics, `mail-track --version`, debian/changelog, docs/changelog.md;
# a reload after the module file was replaced says that the old code runs on

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use Test::Nginx::Util qw(slurp);
use File::Copy qw(copy);
use File::Temp ();
use Time::HiRes qw(time);

my $root = repo_root();


my ($version) = slurp("$root/ngx_mail_track_module/core/mt_version.h")
    =~ /^#define MT_VERSION\s+"([^"]+)"/m;

like $version, qr/^\d+\.\d+\.\d+$/, "core/mt_version.h: $version";

my $out = `${\ tool()} --version`;
is $out, "mail-track $version\n", 'mail-track --version';

my ($deb) = slurp("$root/debian/changelog") =~ /^\S+ \(([^)]+)\)/;
is $deb, $version, 'debian/changelog, first entry';

my ($doc) = slurp("$root/docs/changelog.md") =~ /^## (\S+)/m;
is $doc, $version, 'docs/changelog.md, first entry';

# the module from a file of its own, so that the test can replace it

my $so = $ENV{TEST_NGINX_LOAD_MODULES}
    || "$root/build/ngx_http_mail_track_module.so";
my $dir = File::Temp::tempdir('mt-version-XXXXXX', TMPDIR => 1,
                              CLEANUP => 1);
my $mod = "$dir/ngx_http_mail_track_module.so";

copy($so, $mod) or die "copy $so: $!";
$ENV{TEST_NGINX_LOAD_MODULES} = $mod;

my $keys = keys_file();

my $n = MailTrack::Test->new(name => 'version', log_level => 'notice',
                             http_config => <<"_EOC_",
    mail_track_zone zone=mt:1m;
    mail_track_spool \$TEST_NGINX_SERVROOT/spool flush=30s;
    mail_track_keys $keys;
_EOC_
                             config => <<'_EOC_');
        location = /metrics { mail_track_metrics; }
_EOC_

my $t_start = time;
$n->start;

my $notice = qr/\[notice\] .*ngx_http_mail_track_module\/\Q$version\E$/m;

like $n->error_log, $notice, 'the version at start, at notice level';
my $m = $n->get('/metrics')->{body};
is metric($m, qq(mail_track_build_info{version="$version"})), 1,
    'mail_track_build_info';

# flush=30s: the writer's first tick is 15 s away, the zone's start counts
my $progress = metric($m, 'mail_track_spool_progress_timestamp_seconds');
ok $progress >= int($t_start) && $progress <= time,
    "spool progress before the writer's first tick: the zone's start"
    or diag "$progress, started at $t_start";

# a reload of the same file: the version again, no warning

my $pos = length $n->error_log;
$n->reload;
my $log = substr $n->error_log, $pos;

like $log, $notice, 'the version after a reload';
unlike $log, qr/was replaced/, 'no warning for the same file';

# a package upgrade renames a new file into place: a reload keeps the
# loaded object, and the module says so

copy($so, "$mod.new") or die "copy: $!";
rename "$mod.new", $mod or die "rename: $!";

$pos = length $n->error_log;
$n->reload;
$log = substr $n->error_log, $pos;

like $log, qr/\[warn\] .*mail_track: module file "\Q$mod\E" was replaced, version \Q$version\E runs on until nginx is restarted/,
    'a replaced module file is named at reload';

is $n->get('/metrics')->{status}, 200, 'and the module still answers';

$n->quit;

# a fresh start loads the file anew: no warning

$pos = length $n->error_log;
$n->start;
$log = substr $n->error_log, $pos;

like $log, $notice, 'the version after a restart';
unlike $log, qr/was replaced/, 'no warning after a restart';

$n->quit;

done_testing;
