#!/bin/sh
# A throw-away PostgreSQL server from Debian's packages, for the tests and
# the bench: initdb in DIR, a free port on 127.0.0.1, password auth (user
# "mt", password "mt-secret"); as root, the server runs as "nobody".
#
#   t/lib/pg-server.sh start DIR [fsync]   prints the port
#   t/lib/pg-server.sh stop DIR

set -eu

bin=${PG_BIN:-$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1)}

if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "pg-server.sh: no PostgreSQL server (scripts/deps.sh test installs it)" >&2
    exit 1
fi

as() {
    if [ "$(id -u)" = 0 ]; then
        runuser -u nobody -- "$@"
    else
        "$@"
    fi
}

cmd=${1:-}
dir=${2:-}

[ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 2; }

case "$cmd" in
start)
    mkdir -p "$dir"
    printf 'mt-secret\n' > "$dir/pw"
    if [ "$(id -u)" = 0 ]; then
        chown -R nobody:nogroup "$dir"
    fi
    as "$bin/initdb" -D "$dir/data" -U mt --pwfile="$dir/pw" \
        -A scram-sha-256 -E UTF8 --locale=C.UTF-8 --no-sync > "$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; exit 1; }

    fsync=off
    [ "${3:-}" = fsync ] && fsync=on

    # a free port: the kernel's pick, handed over (a race only with
    # another process binding it in the next few milliseconds)
    port=$(perl -MIO::Socket::INET -e \
        'print IO::Socket::INET->new(Listen => 1, LocalAddr => "127.0.0.1:0")->sockport')

    as "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c fsync=$fsync -c max_connections=50 -c shared_buffers=128MB" \
        start > /dev/null || { cat "$dir/server.log" >&2; exit 1; }
    echo "$port" > "$dir/port"
    echo "$port"
    ;;
stop)
    if [ -f "$dir/data/postmaster.pid" ]; then
        as "$bin/pg_ctl" -D "$dir/data" -m immediate -w stop > /dev/null 2>&1 || true
    fi
    ;;
*)
    echo "usage: $0 start|stop DIR" >&2
    exit 2
    ;;
esac
