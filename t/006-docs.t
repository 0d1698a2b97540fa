# every directive in the ngx_command_t tables, and every variable, is
# documented in docs/directives.md in the nginx.org form

use strict;
use warnings;

use Test::More;
use MailTrack::Util qw(repo_root);

my $root = repo_root();

sub slurp {
    open my $fh, '<', $_[0] or die "$_[0]: $!";
    local $/;
    return <$fh>;
}

my $doc = slurp("$root/docs/directives.md");

my (%directives, %variables);

for my $f (glob "$root/ngx_mail_track_module/*.c") {
    my $src = slurp($f);

    while ($src =~ /static ngx_command_t\s+\w+\[\]\s*=\s*\{(.*?)ngx_null_command/sg) {
        my $table = $1;
        $directives{$1} = 1 while $table =~ /ngx_string\("(\w+)"\)/g;
    }

    while ($src =~ /ngx_string\("(mail_track_\w+)"\)/g) {
        $variables{$1} = 1 unless $directives{$1};
    }
}

ok keys(%directives) >= 20, scalar(keys %directives) . ' directives found';

for my $d (sort keys %directives) {
    my ($section) = $doc =~ /^### \Q$d\E\n(.*?)(?=^### |^## |\z)/ms;

    ok defined $section, "$d has a section";
    next unless defined $section;

    like $section, qr/^\*\*Syntax:\*\* `\Q$d\E[ ;]/m, "$d: Syntax";
    like $section, qr/^\*\*Default:\*\* /m, "$d: Default";
    like $section, qr/^\*\*Context:\*\* (http|server|location)/m,
        "$d: Context";
    ok length($section) > 200, "$d: prose";
}

for my $v (sort keys %variables) {
    next if $directives{$v};
    like $doc, qr/^`\$\Q$v\E`$/m, "variable \$$v documented";
}

done_testing;
