#!/bin/bash
# make bench: wrk against the module and, in the same run and on the same
# nginx, against empty_gif and "return 302", alternating, 1 worker, 64
# connections.  Prints req/s, ratios, p99 latency, webhook events/s.
#
#   BENCH_SECONDS=10 BENCH_ROUNDS=3 bench/run.sh

set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
nginx=${NGINX_BIN:-/usr/sbin/nginx}
tool=$top/build/mail-track
export MT_BENCH=$top/bench
module=$top/build/ngx_http_mail_track_module.so
secs=${BENCH_SECONDS:-10}
rounds=${BENCH_ROUNDS:-3}
conns=${BENCH_CONNECTIONS:-64}
port_a=${BENCH_PORT:-18080}
port_b=$((port_a + 1))

root=$(mktemp -d /tmp/mail-track-bench-XXXXXX)
out=$top/bench/out
mkdir -p "$out"
report=$out/bench-$(date +%Y%m%d-%H%M%S).md

cleanup() {
    for d in a b; do
        if [ -f "$root/$d/logs/nginx.pid" ]; then
            "$nginx" -p "$root/$d/" -c conf/nginx.conf -s stop 2>/dev/null || true
        fi
    done
    sleep 0.5
    rm -rf "$root"
}
[ -n "${BENCH_KEEP:-}" ] || trap cleanup EXIT

"$tool" keygen "$root/keys.txt" > /dev/null

# a SendGrid-style key pair: the module gets the public key as base64 DER
openssl ecparam -name prime256v1 -genkey -noout -out "$root/sg.ec.pem" 2>/dev/null
openssl pkcs8 -topk8 -nocrypt -in "$root/sg.ec.pem" -out "$root/sg.key.pem"
sg_pub=$(openssl ec -in "$root/sg.ec.pem" -pubout -outform DER 2>/dev/null | base64 -w0)
mg_key=key-bench-$(head -c 8 /dev/urandom | od -An -tx1 | tr -d ' \n')

instance() {
    local name=$1 port=$2 fsync=$3
    local dir=$root/$name

    mkdir -p "$dir/conf" "$dir/logs" "$dir/spool" "$dir/temp"

    cat > "$dir/conf/nginx.conf" <<EOC
load_module $module;
worker_processes 1;
error_log logs/error.log warn;
pid logs/nginx.pid;
$( [ "$(id -u)" = 0 ] && echo "user root root;" )
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path temp/body;
    proxy_temp_path temp/proxy;
    fastcgi_temp_path temp/fastcgi;
    uwsgi_temp_path temp/uwsgi;
    scgi_temp_path temp/scgi;
    client_body_buffer_size 64k;
    keepalive_requests 1000000;

    mail_track_zone zone=mt:1024m;
    mail_track_spool $dir/spool flush=1s max_size=64m max_age=5s fsync=$fsync;
    mail_track_keys $root/keys.txt;

    server {
        listen 127.0.0.1:$port backlog=4096;

        location /o/ { mail_track_open; }
        location = /gif { empty_gif; }
        location /c/ { mail_track_click; }
        location = /r { return 302 https://example.com/landing?utm=x; }

        location = /hooks/sendgrid {
            mail_track_webhook sendgrid;
            mail_track_webhook_key $sg_pub;
        }
        location = /hooks/sendgrid-durable {
            mail_track_webhook sendgrid;
            mail_track_webhook_key $sg_pub;
            mail_track_webhook_ack durable;
        }
        location = /hooks/mailgun {
            mail_track_webhook mailgun;
            mail_track_webhook_key $mg_key;
        }
    }
}
EOC
    "$nginx" -p "$dir/" -c conf/nginx.conf
}

instance a "$port_a" off
instance b "$port_b" on
sleep 0.5

pixel=$("$tool" token open --keys "$root/keys.txt" --mid bench-1 \
        --rcpt someone@example.com --tag bench --raw)
click=$("$tool" token click --keys "$root/keys.txt" --mid bench-1 \
        --rcpt someone@example.com --url "https://example.com/landing?utm=x" \
        --raw)

ua="Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36"

# run URL [script] -> "req/s p99_ms"
run() {
    local url=$1 script=${2:-}
    local args=(-t1 -c"$conns" -d"${secs}s" --latency -H "User-Agent: $ua")
    [ -n "$script" ] && args+=(-s "$script")
    local o
    o=$(wrk "${args[@]}" "$url" 2>&1)
    local rps p99
    rps=$(echo "$o" | awk '/Requests\/sec/ {print $2}')
    p99=$(echo "$o" | awk '$1 == "99%" {print $2}')
    if echo "$o" | grep -q "Non-2xx or 3xx"; then
        echo "$o" | grep "Non-2xx" >&2
    fi
    echo "$rps $(to_ms "$p99")"
    # keep the disk from filling during long runs
    find "$root" -name '*.mtspool' -delete 2>/dev/null || true
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
    sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2];
                                        else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'
}

declare -A rps p99

measure() {
    local key=$1 url=$2 script=${3:-}
    local r
    r=$(run "$url" "$script")
    rps[$key]="${rps[$key]:-} ${r% *}"
    p99[$key]="${p99[$key]:-} ${r#* }"
    printf '  %-22s %10s req/s  p99 %8s ms\n' "$key" "${r% *}" "${r#* }" >&2
}

a=http://127.0.0.1:$port_a
b=http://127.0.0.1:$port_b

echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//')" >&2
echo "$secs s per run, $rounds rounds, 1 worker, $conns connections" >&2

for i in $(seq 1 "$rounds"); do
    echo "round $i" >&2
    measure empty_gif "$a/gif"
    measure pixel "$a/o/$pixel.gif"
    measure return302 "$a/r"
    measure click "$a/c/$click"
    measure pixel_fsync_off "$a/o/$pixel.gif"
    measure pixel_fsync_on "$b/o/$pixel.gif"
    MT_SENDGRID_KEY=$root/sg.key.pem MT_PATH=/hooks/sendgrid \
        measure sendgrid "$a/hooks/sendgrid" "$top/bench/sendgrid.lua"
    MT_SENDGRID_KEY=$root/sg.key.pem MT_PATH=/hooks/sendgrid-durable \
        measure sendgrid_durable "$b/hooks/sendgrid-durable" "$top/bench/sendgrid.lua"
    MT_MAILGUN_KEY=$mg_key MT_PATH=/hooks/mailgun \
        measure mailgun "$a/hooks/mailgun" "$top/bench/mailgun.lua"
done

med() { echo "${rps[$1]}" | tr ' ' '\n' | grep -v '^$' | median; }

# the ratio of each round (the two measures of a round ran one after the
# other, so drift of a noisy machine cancels out), and their median
pratios() {
    paste -d' ' <(echo "${rps[$1]}" | tr ' ' '\n' | grep -v '^$') \
                <(echo "${rps[$2]}" | tr ' ' '\n' | grep -v '^$') \
        | awk '$2 > 0 { printf "%s%.3f", (NR > 1 ? " " : ""), $1 / $2 }'
}
pratio() { pratios "$1" "$2" | tr ' ' '\n' | median; }
medp() { echo "${p99[$1]}" | tr ' ' '\n' | grep -v '^$' | median; }

{
    echo "# make bench, $(date -u +%Y-%m-%dT%H:%MZ)"
    echo
    echo "machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ *//'),"
    echo "$(uname -sr), $("$nginx" -v 2>&1), wrk -t1 -c$conns -d${secs}s, median of $rounds"
    echo
    echo "| measure | req/s | p99 ms | ratio |"
    echo "|---|---|---|---|"
    echo "| empty_gif | $(med empty_gif) | $(medp empty_gif) | |"
    echo "| mail_track_open | $(med pixel) | $(medp pixel) | $(pratio pixel empty_gif) × empty_gif |"
    echo "| return 302 | $(med return302) | $(medp return302) | |"
    echo "| mail_track_click | $(med click) | $(medp click) | $(pratio click return302) × return 302 |"
    echo "| pixel, fsync=off | $(med pixel_fsync_off) | $(medp pixel_fsync_off) | |"
    echo "| pixel, fsync=on | $(med pixel_fsync_on) | $(medp pixel_fsync_on) | |"
    echo
    echo "| webhook | req/s | events/s | p99 ms |"
    echo "|---|---|---|---|"
    echo "| sendgrid, 100 events (ECDSA), ack queued | $(med sendgrid) | $(awk -v r="$(med sendgrid)" 'BEGIN { printf "%d", r * 100 }') | $(medp sendgrid) |"
    echo "| sendgrid, 100 events (ECDSA), ack durable, fsync=on | $(med sendgrid_durable) | $(awk -v r="$(med sendgrid_durable)" 'BEGIN { printf "%d", r * 100 }') | $(medp sendgrid_durable) |"
    echo "| mailgun, 1 event (HMAC) | $(med mailgun) | $(med mailgun) | $(medp mailgun) |"
    echo
    echo "Ratios per round (a round's measures ran one after the other, so"
    echo "drift cancels; the table gives their median):"
    echo
    echo "- pixel / empty_gif: $(pratios pixel empty_gif)"
    echo "- click / return 302: $(pratios click return302)"
    echo "- mailgun / pixel: $(pratios mailgun pixel), median $(pratio mailgun pixel)"
} | tee "$report"

for d in a b; do
    if grep -E '\[(alert|emerg|crit)\]' "$root/$d/logs/error.log" >&2; then
        echo "bench: alerts in the error log of instance $d" >&2
    fi
done

echo "report: $report" >&2
