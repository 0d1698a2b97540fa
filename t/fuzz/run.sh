#!/bin/sh
# Runs each libFuzzer target for SECONDS (make fuzz; FUZZ_SECONDS=600 for
# a long run).  New inputs go to a scratch corpus; the committed seeds in
# t/fuzz/corpus/<name> are only read.  Crashes are kept in build/fuzz/.
#
# --regress (make test): first every seed once (-runs=0), so an input that
# crashed once and was added to the seeds stays fixed, then SECONDS of new
# inputs from an empty scratch corpus, so each run costs the same.
#
#   t/fuzz/run.sh [--regress] SECONDS build/fuzz/fuzz_x ...

set -eu

regress=
if [ "${1:-}" = --regress ]; then
    regress=1
    shift
fi

secs=$1
shift

top=$(cd "$(dirname "$0")/../.." && pwd)
fail=0

for bin in "$@"; do
    name=$(basename "$bin" | sed 's/^fuzz_//')
    seeds=$top/t/fuzz/corpus/$name
    out=$(dirname "$bin")
    log=$out/$name.log
    work=$out/corpus-$name
    mkdir -p "$seeds"

    if [ -n "$regress" ]; then
        work=$out/regress-$name
        rm -rf "$work"
        nseeds=$(find "$seeds" -type f | wc -l)
        if ! "$bin" -runs=0 -artifact_prefix="$out/$name-" "$seeds" \
             > "$log" 2>&1
        then
            echo "$name: a seed FAILED, see $log" >&2
            grep -E "ERROR|SUMMARY|Test unit written" "$log" >&2 || true
            fail=1
            continue
        fi
        printf '%-10s %3d seeds ok, ' "$name" "$nseeds"
    else
        echo "== $name: $secs s"
    fi

    mkdir -p "$work"
    if ! "$bin" -max_total_time="$secs" -print_final_stats=1 \
         -artifact_prefix="$out/$name-" \
         "$work" "$seeds" > "$log" 2>&1
    then
        echo "$name: FAILED, see $log" >&2
        grep -E "ERROR|SUMMARY|artifact" "$log" >&2 || true
        fail=1
    fi

    if [ -n "$regress" ]; then
        awk '/^stat::number_of_executed_units/ { printf "%d runs", $2 }' \
            "$log"
        echo " in $secs s"
        rm -rf "$work"
    else
        grep -E "^stat::number_of_executed_units|^Done" "$log" | tail -2
    fi
done

exit $fail
