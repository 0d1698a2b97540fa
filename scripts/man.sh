#!/bin/sh
# Writes the man page mail-track(1) from docs/tool.md, so that the two
# never differ: the title becomes NAME and DESCRIPTION, each "## command"
# a section, links plain text naming the guide (installed in
# /usr/share/doc), and FILES and SEE ALSO are added.
#
#   scripts/man.sh docs/tool.md VERSION > mail-track.1

set -e

src=$1
version=$2

date=$(date -u ${SOURCE_DATE_EPOCH:+-d @$SOURCE_DATE_EPOCH} +%Y-%m-%d)

{
    sed -e '1s/^# .*$/# NAME\n\nmail-track - keys, tokens and spool files of the nginx mail_track module\n\n# DESCRIPTION/' \
        -e 's/^## /# /' \
        -e 's/^### /## /' \
        -e 's/\[\([^]]*\)\](#[^)]*)/\1/g' \
        -e 's/\[\([^]]*\)\](\([^)#]*\)\(#[^)]*\)\{0,1\})/\1 (\2)/g' \
        "$src"

    cat <<'_EOF_'

# FILES

`/etc/default/mail-track`
: settings of `mail-track-load.service`, the loader: the spool
  directory, the database, more options

`/var/spool/mail-track`
: the spool directory: nginx's workers (`www-data`) write it, the
  loader (user `mail-track`) reads and moves the files

`/var/lib/mail-track`
: the loader's database directory (`sqlite:` databases)

# SEE ALSO

**nginx**(8), **systemctl**(1); the module's documentation in
`/usr/share/doc/libnginx-mod-http-mail-track/` (`directives.md`,
`tokens.md`, `monitoring.md`) and this tool's in
`/usr/share/doc/mail-track/` (`spool-format.md`, `packaging.md`).
_EOF_
} | lowdown -s -Tman -M title=mail-track -M section=1 -M date="$date" \
      -M source="mail-track $version" -M volume="mail-track manual"
