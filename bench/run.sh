#!/bin/bash
# make bench: the module against its baselines and its peers, in one nginx
# (bench/lib.sh): the pixel against empty_gif, against empty_gif with an
# access log of the same facts and against a Lua pixel; the click against
# "return 302" and a Lua click; the status API against empty_gif with
# 100,000 messages in the zone; SendGrid against a Lua webhook; Mailgun;
# the pixel with fsync=on against fsync=off; the pixel with sealed spool
# files (seal=) against plain ones.  wrk -t1 -c64, one worker.
#
# Each group of measures runs one after the other, in the opposite order
# every other round (A B, B A, ...); a ratio is taken within each round
# and the median of the rounds is reported.  Next to req/s, the worker's
# CPU time per request (/proc/PID/stat, its threads included), which
# moves far less with the machine's noise.
#
#   BENCH_SECONDS=8 BENCH_ROUNDS=3 bench/run.sh

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
secs=${BENCH_SECONDS:-8}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNECTIONS:-64}
messages=${BENCH_MESSAGES:-100000}
port_a=${BENCH_PORT:-18080}
port_b=$((port_a + 1))
port_c=$((port_a + 2))

root=$(mktemp -d /tmp/mail-track-bench-XXXXXX)
out=$top/bench/out
mkdir -p "$out"
report=$out/bench-$(date +%Y%m%d-%H%M%S).md

# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"

cleanup() {
    for d in a b c; do
        if [ -f "$root/$d/logs/nginx.pid" ]; then
            "$nginx" -p "$root/$d/" -c conf/nginx.conf -s stop 2>/dev/null || true
        fi
    done
    sleep 0.5
    rm -rf "$root"
}
[ -n "${BENCH_KEEP:-}" ] || trap cleanup EXIT

bench_keys
bench_conf "$root/a" "$port_a" off 1024m
bench_conf "$root/b" "$port_b" on 1024m
bench_conf "$root/c" "$port_c" off 1024m "" "seal=$root/seal.pub"

# Debian's Lua module and ours in one configuration
"$nginx" -t -q -p "$root/a/" -c conf/nginx.conf
"$nginx" -p "$root/a/" -c conf/nginx.conf
"$nginx" -p "$root/b/" -c conf/nginx.conf
"$nginx" -p "$root/c/" -c conf/nginx.conf
sleep 0.5

declare -A worker
for d in a b c; do
    worker[$d]=$(pgrep -P "$(cat "$root/$d/logs/nginx.pid")" | head -1)
done

# the worker's user + system time in clock ticks
ticks() {
    awk '{ print $14 + $15 }' "/proc/$1/stat"
}

hz=$(getconf CLK_TCK)

# wrk KEY INSTANCE SECONDS [MT_REQUESTS] -> wrk's output
load() {
    local key=$1 d=$2 s=$3 n=${4:-0} port=$port_a
    [ "$d" = b ] && port=$port_b
    [ "$d" = c ] && port=$port_c
    # shellcheck disable=SC2046
    env MT_REQUESTS="$n" MT_MID_PREFIX=st- MT_MESSAGES="$messages" \
        $(bench_env "$key") \
        wrk -t1 -c"$conns" -d"${s}s" --latency -H "User-Agent: $ua" \
        -s "$(bench_script "$key")" "$(bench_url "$key" "http://127.0.0.1:$port")" \
        2>&1 || true
}

to_ms() {
    local v=$1
    case $v in
        *us) awk -v x="${v%us}" 'BEGIN { printf "%.3f", x / 1000 }' ;;
        *ms) awk -v x="${v%ms}" 'BEGIN { printf "%.3f", x }' ;;
        *s)  awk -v x="${v%s}" 'BEGIN { printf "%.3f", x * 1000 }' ;;
        *)   echo "$v" ;;
    esac
}

median() {
    sort -g | awk '{ a[NR] = $1 }
                   END { if (NR == 0) print "-";
                         else if (NR % 2) print a[(NR + 1) / 2];
                         else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

declare -A rps p99 cpu

# measure KEY INSTANCE: one run, its req/s, p99 and worker µs/request
measure() {
    local key=$1 d=$2 o t0 t1 r p n c
    t0=$(ticks "${worker[$d]}")
    o=$(load "$key" "$d" "$secs")
    t1=$(ticks "${worker[$d]}")

    r=$(echo "$o" | awk '/Requests\/sec/ { print $2 }')
    p=$(to_ms "$(echo "$o" | awk '$1 == "99%" { print $2 }')")
    n=$(echo "$o" | awk '/requests in/ { print $1 }')
    c=$(awk -v t="$((t1 - t0))" -v n="${n:-0}" -v hz="$hz" \
            'BEGIN { if (n > 0) printf "%.2f", t * 1e6 / hz / n; else print 0 }')

    # a refused request (a 503 of a full queue) is no work done: req/s
    # counts the answers that succeeded
    if echo "$o" | grep -q "Non-2xx or 3xx"; then
        echo "$o" | grep "Non-2xx" >&2
        r=$(echo "$o" | awk -v r="$r" -v n="${n:-0}" \
                '/Non-2xx/ { if (n > 0) printf "%.2f", r * (n - $NF) / n }')
    fi
    echo "$o" | grep -E "status [0-9]+" >&2 || true

    rps[$key]="${rps[$key]:-} ${r:-0}"
    p99[$key]="${p99[$key]:-} ${p:-0}"
    cpu[$key]="${cpu[$key]:-} $c"

    printf '  %-18s %10s req/s  p99 %8s ms  %7s µs CPU/request\n' \
        "$key" "${r:-0}" "${p:-0}" "$c" >&2

    # keep the disk from filling during long runs
    find "$root" -name '*.mtspool' -delete 2>/dev/null || true
    : > "$root/a/logs/pixel.log"
}

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'), load $(cut -d' ' -f1-3 /proc/loadavg)" >&2
echo "$secs s per run, $rounds rounds, 1 worker, $conns connections" >&2

# the message statuses the status measure reads, st-1 .. st-N: put into
# the zone before each status run, since the SendGrid runs (all new
# messages) evict old states
put_messages() {
    echo "putting $messages messages into the zone (Mailgun events)" >&2
    load mailgun a 120 "$messages" > /dev/null
    stored=$(curl -s "http://127.0.0.1:$port_a/status/st-$((messages + 1))" | grep -c '"message_id"' || true)
}

# each group: "KEY:INSTANCE ..."; the first of a group is its baseline
groups=(
    "empty_gif:a pixel:a log_gif:a lua_pixel:a status:a"
    "return302:a click:a lua_click:a"
    "sendgrid:a lua_sendgrid:a mailgun:a mailersend:a"
    "pixel_fsync_off:a pixel_fsync_on:b sendgrid_durable:b"
    "pixel_seal_off:a pixel_seal_on:c"
)

bench_path[pixel_fsync_off]=${bench_path[pixel]}
bench_path[pixel_fsync_on]=${bench_path[pixel]}
bench_path[pixel_seal_off]=${bench_path[pixel]}
bench_path[pixel_seal_on]=${bench_path[pixel]}

for i in $(seq 1 "$rounds"); do
    echo "round $i" >&2
    for g in "${groups[@]}"; do
        items=($g)
        if [ $((i % 2)) = 0 ]; then
            # shellcheck disable=SC2207
            items=($(printf '%s\n' "${items[@]}" | tac))
        fi
        for it in "${items[@]}"; do
            [ "${it%:*}" = status ] && put_messages
            measure "${it%:*}" "${it#*:}"
        done
    done
done

col() { echo "$1" | tr ' ' '\n' | grep -v '^$'; }
med() { col "${rps[$1]}" | median; }
medp() { col "${p99[$1]}" | median; }
medc() { col "${cpu[$1]}" | median; }

# per-round ratios of A to B (req/s), of B to A (CPU), of A to B (p99)
ratios() {
    local arr=$3
    local -n m=$arr
    paste -d' ' <(col "${m[$1]}") <(col "${m[$2]}") \
        | awk -v inv="${4:-0}" '$1 > 0 && $2 > 0 {
              printf "%s%.3f", (NR > 1 ? " " : ""), inv ? $2 / $1 : $1 / $2 }'
}
ratio() { ratios "$@" | tr ' ' '\n' | median; }

verdict() {
    awk -v v="$1" -v t="$2" -v op="$3" 'BEGIN {
        if (v == "-") print "-";
        else if ((op == ">=" && v >= t) || (op == "<=" && v <= t)) print "met";
        else print "**not met**" }'
}

# row LABEL A B TARGET: the req/s and CPU ratios of A to B
row() {
    local r c
    r=$(ratio "$2" "$3" rps)
    c=$(ratio "$2" "$3" cpu 1)
    if [ -n "$4" ]; then
        echo "| $1 | $r | $c | ≥ $4 | $(verdict "$r" "$4" ">=") |"
    else
        echo "| $1 | $r | $c | (peer) | |"
    fi
}

sg_events=$(awk -v r="$(med sendgrid)" 'BEGIN { printf "%d", r * 100 }')
sgd_events=$(awk -v r="$(med sendgrid_durable)" 'BEGIN { printf "%d", r * 100 }')
lua_events=$(awk -v r="$(med lua_sendgrid)" 'BEGIN { printf "%d", r * 100 }')
fsync_p99=$(ratio pixel_fsync_on pixel_fsync_off p99)

{
    echo "# make bench, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'),"
    echo "$(uname -sr), $("$nginx" -v 2>&1), wrk -t1 -c$conns -d${secs}s,"
    echo "median of $rounds rounds; load average at the end $(cut -d' ' -f1-3 /proc/loadavg);"
    echo "status: $messages messages put into the zone, the last one $( [ "$stored" = 1 ] && echo found || echo "NOT found")"
    echo
    echo "| measure | req/s | p99 ms | worker CPU µs/request |"
    echo "|---|---|---|---|"
    for k in empty_gif log_gif lua_pixel pixel status return302 lua_click \
             click lua_sendgrid sendgrid mailgun mailersend pixel_fsync_off \
             pixel_fsync_on sendgrid_durable pixel_seal_off pixel_seal_on; do
        echo "| $k | $(med "$k") | $(medp "$k") | $(medc "$k") |"
    done
    echo
    echo "SendGrid (100 events a request): $sg_events events/s, ack durable"
    echo "with fsync=on $sgd_events events/s; the Lua peer $lua_events events/s."
    echo
    echo "| ratio | req/s | by CPU | target | |"
    echo "|---|---|---|---|---|"
    row "pixel / access-log pixel" pixel log_gif 1.0
    row "pixel / empty_gif" pixel empty_gif 0.90
    row "pixel / Lua pixel" pixel lua_pixel ""
    row "click / return 302" click return302 0.90
    row "click / Lua click" click lua_click ""
    row "status / empty_gif" status empty_gif 0.8
    row "SendGrid / Lua SendGrid" sendgrid lua_sendgrid 1.0
    echo "| SendGrid events/s | $sg_events | | ≥ 250000 | $(verdict "$sg_events" 250000 ">=") |"
    row "Mailgun / pixel" mailgun pixel 0.6
    row "generic (MailerSend profile) / Mailgun" mailersend mailgun 0.9
    echo "| p99 pixel fsync=on / off | $fsync_p99 | | ≤ 1.2 | $(verdict "$fsync_p99" 1.2 "<=") |"
    echo "| p99 SendGrid, ack durable, fsync=on | $(medp sendgrid_durable) ms | | reported | |"
    row "pixel seal= / plain" pixel_seal_on pixel_seal_off 0.95
    echo
    echo "\"by CPU\" is the baseline's worker CPU time per request over the"
    echo "module's: the ratio of throughputs if the worker were the only limit."
    echo "Ratios per round (req/s):"
    echo
    for pr in "pixel log_gif" "pixel empty_gif" "pixel lua_pixel" \
              "click return302" "click lua_click" "status empty_gif" \
              "sendgrid lua_sendgrid" "mailgun pixel" "mailersend mailgun" \
              "pixel_seal_on pixel_seal_off"; do
        set -- $pr
        echo "- $1 / $2: $(ratios "$1" "$2" rps)"
    done
    echo "- p99 pixel_fsync_on / pixel_fsync_off: $(ratios pixel_fsync_on pixel_fsync_off p99)"
} | tee "$report"

for d in a b c; do
    if grep -E '\[(alert|emerg|crit)\]' "$root/$d/logs/error.log" >&2; then
        echo "bench: alerts in the error log of instance $d" >&2
    fi
done

echo "report: $report" >&2
