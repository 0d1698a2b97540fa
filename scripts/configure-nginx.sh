#!/bin/bash
# Configures an nginx source tree for building this module dynamically.
#
#   scripts/configure-nginx.sh NGINX_SRC BUILD_DIR MODULE_DIR
#
# With Debian's nginx-dev (/usr/share/nginx/src) the tree is configured with
# Debian's own flags (conf_flags) plus --with-compat, so the module loads
# into /usr/sbin/nginx.  Any other tree gets --with-compat --with-threads.
# NGX_EXTRA_CC_OPT and NGX_EXTRA_LD_OPT add compiler and linker flags
# (make asan: the sanitizers).

set -e

src=$1
dst=$2
mod=$3

[ -f "$src/auto/configure" ] || [ -f "$src/configure" ] || {
    echo "$src is not an nginx source tree (no configure)" >&2
    exit 1
}

rm -rf "$dst"
mkdir -p "$dst"
cp -a "$src"/. "$dst"/

cd "$dst"

if [ -x ./configure ]; then
    conf=./configure
else
    conf=./auto/configure
fi

if [ -f conf_flags ]; then
    . ./conf_flags
    flags=("${NGX_CONF_FLAGS[@]}")
else
    flags=(--with-compat --with-threads)
fi

has_compat=
for f in "${flags[@]}"; do
    [ "$f" = --with-compat ] && has_compat=1
done
[ -n "$has_compat" ] || flags+=(--with-compat)

"$conf" "${flags[@]}" \
    --with-cc-opt="-g -O2 -fPIC -Wall -Wextra -Werror ${NGX_EXTRA_CC_OPT:-}" \
    ${NGX_EXTRA_LD_OPT:+--with-ld-opt="$NGX_EXTRA_LD_OPT"} \
    --add-dynamic-module="$mod" > configure.log 2>&1 || {
    tail -30 configure.log >&2
    exit 1
}
