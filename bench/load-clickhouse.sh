# Sourced by bench/load.sh: the spool into ClickHouse (one server of our
# own, t/lib/ch-server.sh), then what the choices rest on, measured on the
# loaded events: the input format, the ordering of mail_events under the
# report queries, a two-shard cluster written through its Distributed
# table or straight to the shards.  Appends to "$report"; adds the URL to
# $urls.

TIMEFORMAT="%R %U %S"
CHQ_ARGS=

# a statement: PORT DB SQL [curl options]
chq() {
    local port=$1 db=$2 sql=$3
    shift 3
    curl -sS --fail-with-body -u default:mt-secret \
        "http://127.0.0.1:$port/?database=$db&max_query_size=67108864$CHQ_ARGS" \
        --data-binary "$sql" "$@"
}

# an INSERT of a file: PORT DB QUERY FILE
chi() {
    curl -sS --fail-with-body -u default:mt-secret \
        "http://127.0.0.1:$1/?database=$2$CHQ_ARGS" --url-query "query=$3" \
        --data-binary "@$4"
}

# CPU seconds of the servers started in a directory (user + system)
ch_cpu() {
    local p s=0
    for p in "$1"/*/pid; do
        s=$(awk -v s="$s" -v t="$(getconf CLK_TCK)" \
            '{ print s + ($14 + $15) / t }' "/proc/$(cat "$p")/stat")
    done
    echo "$s"
}

# wall seconds of a command, to stdout; its output to /dev/null
wall() {
    local t
    t=$( { time "$@" > /dev/null; } 2>&1 )
    echo "${t%% *}"
}

# the fastest of 3 runs of a command, as "wall_s cpu_s" (the CPU of the
# servers in DIR); $setup, when set, is run ahead of each
setup=
best3() {
    local dir=$1 best= w c b i
    shift
    for i in 1 2 3; do
        [ -z "$setup" ] || $setup
        b=$(ch_cpu "$dir")
        w=$(wall "$@")
        c=$(awk -v a="$b" -v b="$(ch_cpu "$dir")" 'BEGIN { print b - a }')
        if [ -z "$best" ] || awk -v a="$w" -v b="${best%% *}" 'BEGIN { exit !(a < b) }'; then
            best="$w $c"
        fi
    done
    echo "$best"
}

chdir=$root/ch
chport=$("$top/t/lib/ch-server.sh" start "$chdir" 1)
chq "$chport" default "CREATE DATABASE bench"
churl="clickhouse://default:mt-secret@127.0.0.1:$chport/bench"
"$tool" db init --db "$churl" > /dev/null

before=$(ch_cpu "$chdir")
read -r wall user sys < <(timed "$root/ch" "$tool" load --quiet \
    "${load_args[@]}" "$root/spool" --db "$churl")
server=$(awk -v a="$before" -v b="$(ch_cpu "$chdir")" 'BEGIN { print b - a }')

# the size once merged (what the parts come to after the engine's merges)
for t in mail_events mail_message_events mail_soft_bounces \
         mail_suppression_claims mail_files; do
    chq "$chport" bench "OPTIMIZE TABLE $t FINAL"
done
size=$(chq "$chport" bench "SELECT sum(bytes_on_disk) FROM system.parts
                            WHERE active AND database = 'bench'")
line ClickHouse "$wall" "$user" "$sys" "$size" "$server" >> "$report"
back
urls="$urls $churl"

[ "${BENCH_MORE:-1}" = 1 ] || return 0

{
    echo
    echo "ClickHouse, MiB per million events by table, merged:"
    echo
    chq "$chport" bench "SELECT table, round(sum(bytes_on_disk) / 1048576
        / ($events / 1000000), 1) FROM system.parts WHERE active AND
        database = 'bench' GROUP BY table ORDER BY table FORMAT TSV" |
        awk -F'\t' '{ printf "- %s: %s\n", $1, $2 }'
} >> "$report"


# what FINAL costs, and reading the views

# the wall s of the fastest of 3 runs
best_of() {
    local b
    b=$(best3 "$chdir" "$@")
    echo "${b%% *}"
}

mid=$(chq "$chport" bench "SELECT any(message_id) FROM mail_message_events")
{
    echo
    echo "ClickHouse reads over the $events events, best of 3 wall s:"
    echo
    echo "- \`SELECT uniqExact(id) FROM mail_events\`: $(best_of chq "$chport" bench "SELECT uniqExact(id) FROM mail_events")"
    echo "- \`SELECT count() FROM mail_events FINAL\`: $(best_of chq "$chport" bench "SELECT count() FROM mail_events FINAL")"
    echo "- \`SELECT count(), sum(opens) FROM mail_messages\` (every message merged): $(best_of chq "$chport" bench "SELECT count(), sum(opens) FROM mail_messages")"
    echo "- \`SELECT count() FROM mail_suppressions\`: $(best_of chq "$chport" bench "SELECT count() FROM mail_suppressions")"
    echo "- \`mail-track status\` of one message (the process, the connection, the view): $(best_of "$tool" status "$mid" --db "$churl")"
} >> "$report"


# the input formats: the same rows of mail_events, into a table like it

chq "$chport" bench "CREATE TABLE fmt AS mail_events"
truncate_fmt() { chq "$chport" bench "TRUNCATE TABLE fmt"; }
for f in Native RowBinary JSONEachRow; do
    chq "$chport" bench "SELECT * FROM mail_events FORMAT $f" \
        -o "$root/events.$f"
done

{
    echo
    echo "ClickHouse input formats, $events rows of mail_events, best of 3:"
    echo
    echo "| format | MiB | wall s | server CPU s | rows per server CPU s |"
    echo "|---|---|---|---|---|"
    for f in Native RowBinary JSONEachRow; do
        setup=truncate_fmt
        best=$(best3 "$chdir" chi "$chport" bench "INSERT INTO fmt FORMAT $f" \
               "$root/events.$f")
        setup=
        n=$(chq "$chport" bench "SELECT count() FROM fmt")
        [ "$n" = "$events" ] || echo "fmt: $n rows, not $events" >&2
        set -- $best
        awk -v f="$f" -v s="$(stat -c %s "$root/events.$f")" -v w="$1" -v c="$2" \
            -v e="$events" 'BEGIN { printf "| %s | %.0f | %.2f | %.2f | %.0f |\n",
            f, s / 1048576, w, c, e / (c > 0 ? c : 0.001) }'
    done
} >> "$report"
chq "$chport" bench "DROP TABLE fmt"


# the orderings of mail_events under the report queries

q_metrics="uniqExactIf(m, type = 'sent'), uniqExactIf(m, type = 'delivered'),
    uniqExactIf(m, type = 'deferred'), uniqExactIf(m, type = 'bounced'),
    uniqExactIf(m, type = 'bounced' AND bounce = 'hard'),
    uniqExactIf(m, type = 'bounced' AND bounce = 'soft'),
    uniqExactIf(m, type = 'bounced' AND bounce = 'block'),
    uniqExactIf(m, type = 'rejected'), uniqExactIf(m, type = 'complained'),
    uniqExactIf(m, type = 'unsubscribed'),
    uniqExactIf(m, type = 'opened' AND (machine IS NULL OR machine = 0)),
    uniqExactIf(m, type = 'opened' AND machine = 1),
    uniqExactIf(m, type = 'clicked' AND (machine IS NULL OR machine = 0))"
last=$(chq "$chport" bench "SELECT max(at) FROM mail_events")

report_q() {
    local table=$1 by=$2 since=${3:-0}
    local g
    case "$by" in
    day) g="intDiv(at, 86400000)" ;;
    domain) g="lower(arrayElement(splitByChar('@', ifNull(rcpt, '')), -1))" ;;
    esac
    echo "SELECT $g AS g, $q_metrics FROM (SELECT at, type, bounce, machine,
          rcpt, ifNull(mid, id) AS m FROM $table WHERE at >= $since)
          GROUP BY g ORDER BY g FORMAT Null"
}

chq "$chport" bench "CREATE TABLE ev_mid AS mail_events ENGINE =
    ReplacingMergeTree PARTITION BY toYYYYMM(toDateTime(intDiv(at, 1000), 'UTC'))
    ORDER BY (ifNull(mid, ''), at, id)"
chq "$chport" bench "CREATE TABLE ev_day AS mail_events ENGINE =
    ReplacingMergeTree PARTITION BY toYYYYMM(toDateTime(intDiv(at, 1000), 'UTC'))
    ORDER BY (intDiv(at, 86400000), src, id)"
for t in ev_mid ev_day; do
    chq "$chport" bench "INSERT INTO $t SELECT * FROM mail_events"
    chq "$chport" bench "OPTIMIZE TABLE $t FINAL"
done

{
    echo
    echo "ClickHouse, mail_events ordered three ways: the report queries"
    echo "(distinct messages per metric), best of 3 wall s and the server CPU s"
    echo "of that run; the last 7 days are those before the latest event:"
    echo
    echo "| ORDER BY | MiB | by day | by domain | by day, last 7 days |"
    echo "|---|---|---|---|---|"
    for t in mail_events ev_mid ev_day; do
        case $t in
        mail_events) o="(at, id) (the schema's)" ;;
        ev_mid) o="(mid, at, id)" ;;
        ev_day) o="(day, src, id)" ;;
        esac
        cells=
        for q in "day" "domain" "day $((last - 7 * 86400000))"; do
            best=$(best3 "$chdir" chq "$chport" bench "$(report_q $t $q)")
            set -- $best
            cells="$cells $(printf '%.2f s (%.2f CPU s) |' "$1" "$2")"
        done
        mib=$(chq "$chport" bench "SELECT round(sum(bytes_on_disk) / 1048576)
              FROM system.parts WHERE active AND database = 'bench' AND table = '$t'")
        echo "| $o | $mib |$cells"
    done
} >> "$report"
chq "$chport" bench "DROP TABLE ev_mid"
chq "$chport" bench "DROP TABLE ev_day"


# two shards: the loader through the Distributed table; the same rows
# through the Distributed table and straight to each shard's local table

ch2=$root/ch2
set -- $("$top/t/lib/ch-server.sh" start "$ch2" 2)
p1=$1
p2=$2
chq "$p1" default "CREATE DATABASE bench"
chq "$p2" default "CREATE DATABASE bench"
curl2="clickhouse://default:mt-secret@127.0.0.1:$p1,127.0.0.1:$p2/bench"
"$tool" db init --cluster mt_test --db "$curl2" > /dev/null

before=$(ch_cpu "$ch2")
read -r wall user sys < <(timed "$root/ch2load" "$tool" load --quiet \
    "$root/spool" --db "clickhouse://default:mt-secret@127.0.0.1:$p1/bench")
server=$(awk -v a="$before" -v b="$(ch_cpu "$ch2")" 'BEGIN { print b - a }')
size=$(( $(chq "$p1" bench "SELECT sum(bytes_on_disk) FROM system.parts
                            WHERE active AND database = 'bench'")
       + $(chq "$p2" bench "SELECT sum(bytes_on_disk) FROM system.parts
                            WHERE active AND database = 'bench'") ))
line "ClickHouse, 2 shards (through the Distributed tables)" "$wall" "$user" \
    "$sys" "$size" "$server" >> "$report"
back
n1=$(chq "$p1" bench "SELECT count() FROM mail_events_local")
n2=$(chq "$p2" bench "SELECT count() FROM mail_events_local")

# shard 1 takes the rows whose key % 2 is 0 (weights 1 and 1)
for k in 0 1; do
    chq "$chport" bench "SELECT * FROM mail_events
        WHERE sipHash64(ifNull(mid, id)) % 2 = $k FORMAT Native" \
        -o "$root/shard.$k"
done

both_shards() {
    chi "$p1" bench "INSERT INTO mail_events_local FORMAT Native" \
        "$root/shard.0" &
    chi "$p2" bench "INSERT INTO mail_events_local FORMAT Native" \
        "$root/shard.1" &
    wait
}

truncate2() {
    local t
    for t in mail_events_local; do
        chq "$p1" bench "TRUNCATE TABLE $t"
        chq "$p2" bench "TRUNCATE TABLE $t"
    done
}

{
    echo
    echo "ClickHouse, two shards: the loader through node 1's Distributed tables"
    echo "put $n1 and $n2 events on the shards.  The same $events rows of"
    echo "mail_events (Native), best of 3:"
    echo
    echo "| written | wall s | servers' CPU s |"
    echo "|---|---|---|"
    setup=truncate2
    best=$(CHQ_ARGS='&insert_distributed_sync=1' best3 "$ch2" chi "$p1" bench \
           "INSERT INTO mail_events FORMAT Native" "$root/events.Native")
    set -- $best
    echo "| through the Distributed table (insert_distributed_sync=1) | $1 | $2 |"
    best=$(best3 "$ch2" both_shards)
    setup=
    set -- $best
    echo "| straight to each shard's local table, both at once | $1 | $2 |"
    m=$(( $(chq "$p1" bench "SELECT count() FROM mail_events_local")
        + $(chq "$p2" bench "SELECT count() FROM mail_events_local") ))
    [ "$m" = "$events" ] || echo "shards: $m rows, not $events" >&2
} >> "$report"
