#!/bin/bash
# make bench-callgrind: instructions per request in user space, for each
# measure of make bench, under callgrind.  One nginx process (no master),
# CG_WARMUP requests, the counters zeroed, CG_REQUESTS requests over one
# keep-alive connection, the counters dumped.  Timers that fire meanwhile
# (the spool flush, the peers' queue drain) are counted too: they are part
# of the cost.  The counts repeat to within a fraction of a percent from
# one run to the next, on a machine where req/s move by 20%, which makes
# them the measure to compare two versions of the code with.
#
#   bench/callgrind.sh [measure...]          (default: all of them)
#   CG_REQUESTS=2000 CG_WARMUP=200 CG_MESSAGES=10000 bench/callgrind.sh
#   CG_SEAL=1 bench/callgrind.sh pixel       (spool files sealed: seal=)
#
# Profiles of each measure are kept in bench/out/callgrind-*/ for
# callgrind_annotate.

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
requests=${CG_REQUESTS:-2000}
warmup=${CG_WARMUP:-200}
messages=${CG_MESSAGES:-10000}
port=${BENCH_PORT:-18590}

root=$(mktemp -d /tmp/mail-track-callgrind-XXXXXX)
stamp=$(date +%Y%m%d-%H%M%S)
keep=$top/bench/out/callgrind-$stamp
mkdir -p "$keep"

# shellcheck source=bench/lib.sh
. "$top/bench/lib.sh"

vg=

cleanup() {
    if [ -n "$vg" ] && kill -0 "$vg" 2>/dev/null; then
        kill -QUIT "$vg" 2>/dev/null || true
        wait "$vg" 2>/dev/null || true
    fi
    rm -rf "$root"
}
trap cleanup EXIT

bench_keys
bench_conf "$root/n" "$port" off 256m "master_process off; daemon off;" \
    "${CG_SEAL:+seal=$root/seal.pub}"

valgrind --tool=callgrind --callgrind-out-file="$root/cg.out" \
    "$nginx" -p "$root/n/" -c conf/nginx.conf > "$root/valgrind.log" 2>&1 &
vg=$!

for i in $(seq 1 300); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/gif"; then
        break
    fi
    if ! kill -0 "$vg" 2>/dev/null; then
        cat "$root/valgrind.log" "$root/n/logs/error.log" >&2
        exit 1
    fi
    sleep 0.2
done

base=http://127.0.0.1:$port

# send KEY N: N requests of measure KEY over one connection
send() {
    local key=$1 n=$2 url script
    url=$(bench_url "$key" "$base")
    script=$(bench_script "$key")
    # shellcheck disable=SC2046
    env MT_REQUESTS="$n" MT_MID_PREFIX=st- MT_MESSAGES="$messages" \
        $(bench_env "$key") \
        wrk -t1 -c1 -d600s -H "User-Agent: $ua" -s "$script" "$url" \
        > /dev/null
}

# the message statuses the status measure reads
send mailgun "$messages"

dumps() { find "$root" -maxdepth 1 -name "cg.out.*" | wc -l; }

measures=("$@")
[ ${#measures[@]} -gt 0 ] || measures=(empty_gif log_gif pixel lua_pixel
    return302 click lua_click status mailgun mailersend sendgrid lua_sendgrid)

declare -A ir

for key in "${measures[@]}"; do
    # a batch of 100 events is some 400 requests' worth of work
    n=$requests w=$warmup
    case $key in
        *sendgrid*) n=$(( (requests + 19) / 20 )) w=$(( (warmup + 19) / 20 )) ;;
    esac
    send "$key" "$w"
    callgrind_control -z "$vg" > /dev/null 2>&1
    send "$key" "$n"
    d=$(dumps)
    callgrind_control -d "$vg" > /dev/null 2>&1
    while [ "$(dumps)" = "$d" ]; do sleep 0.1; done
    f=$(ls -t "$root"/cg.out.* | head -1)
    sleep 0.2
    cp "$f" "$keep/$key.out"
    total=$(awk '/^(summary|totals):/ { print $2; exit }' "$f")
    ir[$key]=$((total / n))
    printf '  %-18s %8d instructions/request\n' "$key" "${ir[$key]}" >&2
done

ratio() {
    if [ -n "${ir[$1]:-}" ] && [ -n "${ir[$2]:-}" ]; then
        awk -v a="${ir[$1]}" -v b="${ir[$2]}" \
            'BEGIN { printf "%.2f × %s", a / b, "'"$2"'" }'
    fi
}

{
    echo "# make bench-callgrind, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "instructions per request in user space (callgrind), $requests"
    echo "requests after $warmup (a twentieth of that for SendGrid), one"
    echo "connection, $messages message statuses in the zone"
    echo "${CG_SEAL:+(spool files sealed: seal=)}"
    echo
    echo "| measure | instructions | ratio |"
    echo "|---|---|---|"
    for key in "${measures[@]}"; do
        case $key in
            pixel) r="$(ratio pixel empty_gif), $(ratio pixel log_gif)" ;;
            lua_pixel|log_gif) r=$(ratio "$key" empty_gif) ;;
            click|lua_click) r=$(ratio "$key" return302) ;;
            status) r=$(ratio status empty_gif) ;;
            mailgun) r=$(ratio mailgun pixel) ;;
            mailersend) r=$(ratio mailersend mailgun) ;;
            sendgrid) r=$(ratio sendgrid lua_sendgrid) ;;
            *) r= ;;
        esac
        echo "| $key | ${ir[$key]} | $r |"
    done
    echo
    echo "profiles: callgrind_annotate --inclusive=yes $keep/MEASURE.out"
} | tee "$keep/report.md"
