#!/bin/sh
# Installs the Debian packages a target needs, when they are missing.
# As root it runs apt-get; otherwise it prints the command and fails.
#
#   scripts/deps.sh build|test|run|bench|bench-load|fuzz|deb|deb-test|soak

set -e

build="nginx nginx-dev make gcc g++ libc6-dev pkg-config libmsgpack-dev
       libsimdjson-dev libssl-dev openssl libsqlite3-dev
       libpq-dev libcurl4-openssl-dev"
fuzz="clang-14 libfuzzer-14-dev libclang-rt-14-dev"
test="$build perl libtest-base-perl libipc-run-perl libtext-diff-perl
      libtest-longstring-perl procps curl prometheus
      postgresql sqlite3 clickhouse-server clickhouse-client $fuzz
      python3 python3-cryptography"
deb="$build debhelper dpkg-dev lowdown"

case "${1:-build}" in
    build) pkgs="$build" ;;
    test)  pkgs="$test" ;;
    run)   pkgs="$build curl" ;;
    bench) pkgs="$test wrk valgrind libnginx-mod-http-lua lua-cjson" ;;
    bench-load) pkgs="$test" ;;
    soak)  pkgs="$test wrk util-linux" ;;
    fuzz)  pkgs="$build $fuzz" ;;
    deb)   pkgs="$deb" ;;
    deb-test) pkgs="$test $deb lintian systemd" ;;
    *)     echo "usage: $0 build|test|run|bench|bench-load|fuzz|deb|deb-test|soak" >&2
           exit 2 ;;
esac

missing=
for p in $pkgs; do
    s=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
    case "$s" in
        *" installed") ;;
        *) missing="$missing $p" ;;
    esac
done

[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "missing Debian packages; as root, run:" >&2
    echo "  apt-get update && apt-get install -y$missing" >&2
    exit 1
fi

echo "installing:$missing"

# Debian's nginx package starts its service on install; the project runs
# its own instances, so keep the system one down.
policy=/usr/sbin/policy-rc.d
own_policy=
if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' > "$policy"
    chmod 755 "$policy"
    own_policy=1
fi

export DEBIAN_FRONTEND=noninteractive
rc=0
{ apt-get update -qq && apt-get install -y -qq --no-install-recommends $missing; } \
    || rc=$?

[ -n "$own_policy" ] && rm -f "$policy"
exit $rc
