# files and permissions (issue 9 item 4): spool files 0600, or 0640 in a
# setgid directory shared with a loader's group, or as mode= says; the
# spool directory refused when it is a symbolic link or writable beyond
# the two documented layouts

use strict;
use warnings;

use Test::More;
use MailTrack::Test;
use MailTrack::Util;
use MailTrack::Spool;
use Time::HiRes qw(sleep time);

sub mode_of { sprintf '%04o', (stat $_[0])[2] & 07777 }

# the spool directory made beforehand with MODE; nginx started on it
sub spool_with {
    my ($name, $mode, $params) = @_;
    my $n = MailTrack::Test->new(name => $name,
        http_config => spool_http(dir => 'sp',
                                  spool => "flush=100ms max_age=1h $params"),
        config => $pixel_config);
    my $dir = $n->servroot . '/sp';
    mkdir $dir;
    chmod $mode, $dir;
    return ($n, $dir);
}

# --- the mode of new files ---------------------------------------------------

for my $case ([0755, '', '0600', 'the workers\' own directory'],
              [02770, '', '0640', 'a setgid directory (a loader\'s group)'],
              [0700, 'mode=0640', '0640', 'mode=0640'],
              [02770, 'mode=0600', '0600', 'mode=0600 in a setgid one'])
{
    my ($dmode, $params, $want, $what) = @$case;
    my ($n, $dir) = spool_with('perms-mode', $dmode, $params);
    $n->start;
    is $n->get('/o/' . token('open') . '.gif')->{status}, 200, "pixel: $what";
    $n->quit;
    my ($file) = glob("$dir/*.mtspool");
    ok $file, '... a file written';
    is mode_of($file), $want, "... mode $want";
}

# --- directories refused ------------------------------------------------------

{
    my ($n, $dir) = spool_with('perms-bad', 0757, '');
    my ($refused, $out) = $n->start_fails;
    ok $refused, 'a directory others may write to: refused';
    like $out, qr/mail_track_spool "[^"]+\/sp" is writable by others \(mode 0757\)/,
        '... naming it and its mode';

    chmod 0775, $dir;
    ($refused, $out) = $n->start_fails;
    ok $refused, 'group-writable without setgid: refused';
    like $out, qr/is writable by its group without the setgid bit \(mode 0775\)/,
        '... saying what the shared layout is';

    rmdir $dir;
    mkdir $n->servroot . '/real';
    symlink $n->servroot . '/real', $dir or die "symlink: $!";
    ($refused, $out) = $n->start_fails;
    ok $refused, 'a symbolic link: refused';
    like $out, qr/mail_track_spool "[^"]+\/sp" is a symbolic link/,
        '... so named';
}

{
    my $n = MailTrack::Test->new(name => 'perms-param',
        http_config => spool_http(spool => 'mode=0644'),
        config => $pixel_config);
    my ($refused, $out) = $n->start_fails;
    ok $refused, 'mode=0644: refused';
    like $out, qr/invalid parameter "mode=0644"/, '... as an invalid parameter';
}

done_testing;
