#!/bin/bash
# make bench-load: a million realistic events (70 % opens and clicks, 30 %
# webhook events, 200,000 messages, 150,000 recipients) from spool files
# into SQLite, into PostgreSQL (a server of our own, fsync on) and into
# ClickHouse (one server of our own; then two shards): events/s by the
# wall clock and per CPU second of the loader and the server, the
# database size per million events, and the times of "report --by day"
# and "--by domain".  For ClickHouse also: Native against RowBinary and
# JSONEachRow, three orderings of mail_events under the report queries,
# writing through the Distributed table against straight to the shards.
#
#   BENCH_EVENTS=1000000 BENCH_DBS="sqlite postgresql clickhouse" bench/load.sh
#
# BENCH_LOAD_ARGS: more options of each load (--no-overlap: the loader
# reads a transaction only after the last one committed, as before the
# reading thread); BENCH_MORE=0: only the loads and sizes (no reports,
# none of ClickHouse's other measures).

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
tool=$top/build/mail-track
gen=$top/build/spool-gen
events=${BENCH_EVENTS:-1000000}
dbs=${BENCH_DBS:-sqlite postgresql clickhouse}
read -r -a load_args <<< "${BENCH_LOAD_ARGS:-}"
messages=$((events / 5))
rcpts=$((events * 3 / 20))

root=$(mktemp -d /tmp/mail-track-bench-load-XXXXXX)
chmod 755 "$root"
out=$top/bench/out
mkdir -p "$out"
report=$out/bench-load-$(date +%Y%m%d-%H%M%S).md

cleanup() {
    "$top/t/lib/pg-server.sh" stop "$root/pg" || true
    "$top/t/lib/ch-server.sh" stop "$root/ch" || true
    "$top/t/lib/ch-server.sh" stop "$root/ch2" || true
    rm -rf "$root"
}
trap cleanup EXIT

TIMEFORMAT='%R %U %S'

# wall user sys of a command, its output to a file
timed() {
    local f=$1
    shift
    { time "$@" > "$f.out" 2> "$f.err"; } 2> "$f.time"
    cat "$f.time"
}

echo "generating $events events ($messages messages, $rcpts recipients)"
mkdir -p "$root/spool"
"$gen" "$root/spool" "$events" "$messages" "$rcpts" 1 50000 edge1
bytes=$(du -sb "$root/spool" | cut -f1)

# CPU seconds of a server's exited children (its backends)
server_cpu() {
    local pid
    pid=$(head -1 "$root/pg/data/postmaster.pid")
    awk -v t="$(getconf CLK_TCK)" '{ print ($16 + $17) / t }' "/proc/$pid/stat"
}

line() {
    local name=$1 wall=$2 user=$3 sys=$4 size=$5 server=${6:-0}
    awk -v n="$name" -v e="$events" -v w="$wall" -v u="$user" -v s="$sys" \
        -v b="$size" -v d="$server" 'BEGIN {
        printf "| %s | %.1f | %.0f | %.1f | %.1f | %.0f | %.0f |\n",
            n, w, e / w, u + s, d, e / (u + s + d),
            b / 1048576 / (e / 1000000) }'
}

{
    echo "# mail-track load: $events events"
    echo
    echo "spool: $((bytes / 1048576)) MiB in $(ls "$root/spool" | wc -l) files;" \
         "$(nproc) cores; load average $(cut -d' ' -f1-3 /proc/loadavg);" \
         "load options: ${BENCH_LOAD_ARGS:-none}"
    echo
    echo "| database | wall s | events/s | loader CPU s | server CPU s | events per CPU s | MiB per million events |"
    echo "|---|---|---|---|---|---|---|"
} > "$report"

has() { case " $dbs " in *" $1 "*) return 0 ;; esac; return 1; }

back() {
    if [ -d "$root/spool/loaded" ]; then
        mv "$root/spool/loaded/"* "$root/spool/" 2>/dev/null || true
    fi
}

urls=

# SQLite

if has sqlite; then
read -r wall user sys < <(timed "$root/sqlite" "$tool" load --quiet \
    "${load_args[@]}" "$root/spool" --db "sqlite:$root/bench.sqlite")
size=$(du -cb "$root"/bench.sqlite* | tail -1 | cut -f1)
line SQLite "$wall" "$user" "$sys" "$size" >> "$report"
back
urls="$urls sqlite:$root/bench.sqlite"
fi

# PostgreSQL, fsync on

if has postgresql; then
port=$("$top/t/lib/pg-server.sh" start "$root/pg" fsync)
export PGPASSWORD=mt-secret
psql -q -h 127.0.0.1 -p "$port" -U mt -d postgres -c 'CREATE DATABASE bench'
url="postgresql://mt@127.0.0.1:$port/bench"

before=$(server_cpu)
read -r wall user sys < <(timed "$root/pg" "$tool" load --quiet \
    "${load_args[@]}" "$root/spool" --db "$url")
sleep 0.5
server=$(awk -v a="$before" -v b="$(server_cpu)" 'BEGIN { print b - a }')
size=$(psql -At -h 127.0.0.1 -p "$port" -U mt -d bench \
       -c "SELECT pg_database_size('bench')")
line PostgreSQL "$wall" "$user" "$sys" "$size" "$server" >> "$report"
back
urls="$urls $url"
fi

# ClickHouse: one server

if has clickhouse; then
    . "$top/bench/load-clickhouse.sh"
fi

# the report over those events, once the query commands exist

[ "${BENCH_MORE:-1}" = 0 ] || {
    echo
    if "$tool" report --help > /dev/null 2>&1; then
        echo "| report | database | wall s | tool CPU s |"
        echo "|---|---|---|---|"
        for by in day domain; do
            for db in $urls; do
                read -r wall user sys < <(timed "$root/report" "$tool" report \
                    --by "$by" --since 3650d --db "$db")
                awk -v b="$by" -v d="${db%%:*}" -v w="$wall" -v u="$user" \
                    -v s="$sys" 'BEGIN { printf "| --by %s | %s | %.2f | %.2f |\n",
                                                b, d, w, u + s }'
            done
        done
    else
        echo "report --by day: not measured (this mail-track has no report)"
    fi
} >> "$report"

cat "$report"
echo "written to $report"
