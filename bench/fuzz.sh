#!/usr/bin/env bash
# Fuzzing run: every property test target `tests/fuzz_<target>.rs` (proptest), release build,
# with PROPTEST_CASES=CASES (default 1,000,000) for each of its properties, so that every target
# runs at least CASES cases (properties x CASES in all). For each target: properties, cases,
# wall time, peak RSS, failed properties, crashes, hangs.
#
#   bench/fuzz.sh [CASES]                  cases per property (default 1000000)
#
# Environment:
#   TARGETS="yaml chatops …"   the targets to run (default: every tests/fuzz_*.rs)
#   TIMEOUT=SECONDS            a target still running after this long is a hang (default 14400)
#   THREADS=N                  test threads per target, i.e. properties run at once (default 2)
#   SKIP_BUILD=1               do not build (use the test binaries of the last build)
#
# A failing property (a panic in the code under test, or a property that does not hold) is
# shrunk by proptest and the log holds the minimal input; a signal (stack overflow, abort) is a
# crash; the timeout is a hang. Writes bench/out/fuzz/<target>.log and
# bench/out/fuzz/results.md (the table); bench/out is gitignored. Not a test: CI runs the same
# properties with proptest's default 256 cases each (`cargo test`).
set -euo pipefail

CASES="${1:-1000000}"
case "$CASES" in '' | *[!0-9]*) echo "usage: $0 [CASES]  (cases per property, default 1000000)" >&2; exit 2 ;; esac
TIMEOUT="${TIMEOUT:-14400}"
THREADS="${THREADS:-2}"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench/out/fuzz"
mkdir -p "$OUT"

if ! /usr/bin/time -v true 2>&1 | grep -q 'Maximum resident set size'; then
    echo "error: GNU time is needed at /usr/bin/time (peak RSS); install it: apt-get install -y time" >&2
    exit 2
fi

if [ -z "${TARGETS:-}" ]; then
    TARGETS="$(cd "$ROOT/tests" && ls fuzz_*.rs | sed 's/^fuzz_//; s/\.rs$//' | tr '\n' ' ')"
fi

# --- build ------------------------------------------------------------------------------------
declare -A EXE
args=()
for t in $TARGETS; do args+=(--test "fuzz_$t"); done
if [ -z "${SKIP_BUILD:-}" ]; then
    (cd "$ROOT" && cargo test --release --locked --no-run "${args[@]}") >&2
fi
# The binaries cargo just built (or would build): one per target.
while IFS= read -r line; do
    t="$(sed -n 's/.*"name":"fuzz_\([a-z_]*\)".*/\1/p' <<<"$line")"
    exe="$(sed -n 's/.*"executable":"\([^"]*\)".*/\1/p' <<<"$line")"
    [ -n "$t" ] && [ -n "$exe" ] && EXE[$t]="$exe"
done < <(cd "$ROOT" && cargo test --release --locked --no-run --message-format=json "${args[@]}" 2>/dev/null |
    grep '"reason":"compiler-artifact"' | grep '"executable":"/')

# --- run --------------------------------------------------------------------------------------
results="$OUT/results.md"
{
    echo "| target | properties | cases per property | cases | wall time | peak RSS | failed properties | crashes (signal) | hangs | outcome |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"
} >"$results"
status=0
for t in $TARGETS; do
    exe="${EXE[$t]:-}"
    if [ -z "$exe" ]; then
        echo "error: no test binary for fuzz_$t" >&2
        exit 2
    fi
    props="$("$exe" --list 2>/dev/null | grep -c ': test$' || true)"
    per="$CASES"
    total=$((per * props))
    log="$OUT/$t.log"
    echo "fuzz_$t: $props properties x $per cases = $total cases" >&2
    set +e
    PROPTEST_CASES="$per" /usr/bin/time -v -o "$OUT/$t.time" \
        timeout --signal=KILL "$TIMEOUT" "$exe" --test-threads="$THREADS" >"$log" 2>&1
    rc=$?
    set -e
    wall="$(sed -n 's/.*Elapsed (wall clock) time (h:mm:ss or m:ss): //p' "$OUT/$t.time")"
    rss_kib="$(sed -n 's/.*Maximum resident set size (kbytes): //p' "$OUT/$t.time")"
    rss="$(awk -v k="${rss_kib:-0}" 'BEGIN { printf "%.1f MiB", k / 1024 }')"
    failed="$(sed -n 's/^test result: .* \([0-9]*\) failed.*/\1/p' "$log" | tail -1)"
    failed="${failed:-0}"
    crashes=0
    hangs=0
    if grep -q 'Command terminated by signal 9' "$OUT/$t.time" || [ "$rc" = 137 ]; then
        hangs=1
        outcome="hang (killed after ${TIMEOUT}s)"
    elif grep -q 'Command terminated by signal' "$OUT/$t.time"; then
        crashes=1
        outcome="crash: $(sed -n 's/.*Command terminated by signal/signal/p' "$OUT/$t.time")"
    elif [ "$rc" = 0 ]; then
        outcome="pass"
    else
        outcome="FAILED (exit $rc; see bench/out/fuzz/$t.log)"
    fi
    [ "$rc" = 0 ] || status=1
    printf '| fuzz_%s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
        "$t" "$props" "$per" "$total" "$wall" "$rss" "$failed" "$crashes" "$hangs" "$outcome" | tee -a "$results" >&2
done

echo
cat "$results"
exit "$status"
