#!/bin/sh
# Runs each libFuzzer target for SECONDS (make fuzz; FUZZ_SECONDS=600 for
# a long run).  New inputs go to a scratch corpus; the committed seeds in
# t/fuzz/corpus/<name> are only read.  Crashes are kept in build/fuzz/.
#
#   t/fuzz/run.sh SECONDS build/fuzz/fuzz_x ...

set -eu

secs=$1
shift

top=$(cd "$(dirname "$0")/../.." && pwd)
fail=0

for bin in "$@"; do
    name=$(basename "$bin" | sed 's/^fuzz_//')
    seeds=$top/t/fuzz/corpus/$name
    work=$top/build/fuzz/corpus-$name
    mkdir -p "$work" "$seeds"

    echo "== $name: $secs s"
    if ! "$bin" -max_total_time="$secs" -print_final_stats=1 \
         -artifact_prefix="$top/build/fuzz/$name-" \
         "$work" "$seeds" > "$top/build/fuzz/$name.log" 2>&1
    then
        echo "$name: FAILED, see build/fuzz/$name.log" >&2
        grep -E "ERROR|SUMMARY|artifact" "$top/build/fuzz/$name.log" >&2 || true
        fail=1
    fi

    grep -E "^stat::number_of_executed_units|^Done" "$top/build/fuzz/$name.log" \
        | tail -2
done

exit $fail
