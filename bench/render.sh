#!/usr/bin/env bash
# Rendering benchmark: `tidegate plan --env ENV` (the whole environment, one process) against
# `kubectl kustomize overlays/ENV/<app>` run once per app (one process per app, which is what
# Argo CD's repo-server does), on a synthetic repository of N apps x 3 environments.
#
#   bench/render.sh [N]                     N apps (default 1000)
#
# Environment:
#   KUSTOMIZE_SAMPLE=K   time kustomize on K apps per environment (seeded random sample) and
#                        extrapolate linearly to N (default: every app, ~0.2 s each here)
#   VERIFY_SAMPLE=M      byte-compare `tidegate build` with `kubectl kustomize` on M random apps
#                        per environment (default 20; `all` for every app)
#   RUNS=R               timed runs of `tidegate plan` per environment; the median wall time and
#                        the largest peak RSS are reported (default 3)
#   SEED=S               generator and sampling seed (default 20240601)
#   KUBECTL=path         kubectl binary (default: kubectl on PATH)
#   SKIP_BUILD=1         do not run `cargo build --release` (use the existing binary)
#
# Targets (from the issue): the whole environment renders >= 100x faster than kustomize per app,
# and a 1,000-app plan stays under 100 MiB peak RSS.
#
# Writes bench/out/repo (the synthetic repository, a git repo so that plan reports a revision),
# bench/out/results.md (the table), bench/out/mismatches/ (diffs, if any). bench/out is gitignored.
# Not a test: CI never runs it.
set -euo pipefail

N="${1:-1000}"
case "$N" in '' | *[!0-9]*) echo "usage: $0 [N]  (N = number of apps, default 1000)" >&2; exit 2 ;; esac
RUNS="${RUNS:-3}"
SEED="${SEED:-20240601}"
VERIFY_SAMPLE="${VERIFY_SAMPLE:-20}"
KUSTOMIZE_SAMPLE="${KUSTOMIZE_SAMPLE:-}"
KUBECTL="${KUBECTL:-kubectl}"
ENVS=(dev qa prod)
RSS_TARGET_MIB=100
RATIO_TARGET=100

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench/out"
REPO="$OUT/repo"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TG="$TARGET_DIR/release/tidegate"

# --- prerequisites --------------------------------------------------------------------------
if ! /usr/bin/time --version 2>&1 | grep -q 'GNU'; then
    echo "error: GNU time is needed at /usr/bin/time (peak RSS); install it: apt-get install -y time" >&2
    exit 2
fi
if ! command -v "$KUBECTL" >/dev/null; then
    echo "error: $KUBECTL not found (set KUBECTL=path)" >&2
    exit 2
fi
command -v python3 >/dev/null || { echo "error: python3 is needed" >&2; exit 2; }

now_ns() { date +%s%N; }

mkdir -p "$OUT"
# What the binary was built from (the work tree at build time).
BUILT_FROM="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
[[ -z "$(git -C "$ROOT" status --porcelain -- src Cargo.toml Cargo.lock 2>/dev/null)" ]] || BUILT_FROM+=" + uncommitted changes"
[[ -z "${SKIP_BUILD:-}" ]] || BUILT_FROM="existing binary, work tree at $BUILT_FROM"
if [[ -z "${SKIP_BUILD:-}" ]]; then
    echo "== cargo build --release" >&2
    (cd "$ROOT" && cargo build --release --quiet)
fi
[[ -x "$TG" ]] || { echo "error: $TG missing (cargo build --release)" >&2; exit 2; }

echo "== generating $N apps into $REPO" >&2
python3 "$ROOT/bench/gen_synthetic_repo.py" "$REPO" --apps "$N" --seed "$SEED" --force
(
    cd "$REPO"
    git init -q
    git add -A
    git -c user.name=bench -c user.email=bench@example.com -c commit.gpgsign=false commit -q -m "synthetic repository: $N apps"
)
REVISION="$(git -C "$REPO" rev-parse HEAD)"

mapfile -t APPS < <(cd "$REPO/overlays/dev" && ls | sort)
[[ ${#APPS[@]} -eq $N ]] || { echo "error: expected $N apps, found ${#APPS[@]}" >&2; exit 1; }

# sample K NAME...: K names picked with a seeded RNG (all of them, in order, when K >= count).
sample() {
    local k="$1" salt="$2"
    shift 2
    python3 - "$k" "$SEED$salt" "$@" <<'PY'
import random, sys
k, seed, names = sys.argv[1], sys.argv[2], sys.argv[3:]
k = len(names) if k == "all" else int(k)
picked = names if k >= len(names) else sorted(random.Random(seed).sample(names, k))
print("\n".join(picked))
PY
}

KVER="$("$KUBECTL" version --client 2>/dev/null | grep -i kustomize | awk '{print $NF}' || true)"
CPU="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
echo "machine: $(nproc) CPUs, $CPU; kustomize ${KVER:-?} via $KUBECTL; tidegate $($TG --version | awk '{print $2}')" >&2

# --- correctness: tidegate build == kubectl kustomize, byte for byte --------------------------
rm -rf "$OUT/mismatches"
mkdir -p "$OUT/mismatches"
VERIFIED=0
MISMATCHES=0
echo "== verifying tidegate build against kubectl kustomize (${VERIFY_SAMPLE} apps per env)" >&2
for env in "${ENVS[@]}"; do
    mapfile -t pick < <(sample "$VERIFY_SAMPLE" "verify-$env" "${APPS[@]}")
    for app in "${pick[@]}"; do
        dir="overlays/$env/$app"
        want="$OUT/mismatches/want.yaml"
        got="$OUT/mismatches/got.yaml"
        (cd "$REPO" && "$KUBECTL" kustomize "$dir") >"$want" 2>"$OUT/mismatches/want.err" || {
            echo "  kustomize failed on $dir: $(cat "$OUT/mismatches/want.err")" >&2
        }
        (cd "$REPO" && "$TG" build "$dir") >"$got" 2>"$OUT/mismatches/got.err" || {
            echo "  tidegate build failed on $dir: $(cat "$OUT/mismatches/got.err")" >&2
        }
        VERIFIED=$((VERIFIED + 1))
        if ! cmp -s "$want" "$got"; then
            MISMATCHES=$((MISMATCHES + 1))
            diff -u --label "kubectl kustomize $dir" --label "tidegate build $dir" "$want" "$got" \
                >"$OUT/mismatches/$env-$app.diff" || true
            echo "  MISMATCH $dir (bench/out/mismatches/$env-$app.diff):" >&2
            head -n 20 "$OUT/mismatches/$env-$app.diff" | sed 's/^/    /' >&2
        fi
    done
done
rm -f "$OUT"/mismatches/{want,got}.{yaml,err}
echo "   $VERIFIED builds compared, $MISMATCHES mismatches" >&2

# --- timing ------------------------------------------------------------------------------------
if [[ -n "$KUSTOMIZE_SAMPLE" ]]; then
    KNOTE="kustomize timed on $KUSTOMIZE_SAMPLE random apps per environment, extrapolated linearly to $N"
else
    KNOTE="kustomize timed on every app ($N per environment), no extrapolation"
fi
echo "== $KNOTE" >&2

LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
ROWS=()
ALL_MET=1
for env in "${ENVS[@]}"; do
    # Untimed warm-up run; its output is checked for the expected number of apps.
    (cd "$REPO" && "$TG" plan --env "$env" --repo "$REPO" --output json) >"$OUT/plan-$env.json" 2>"$OUT/plan-$env.err"
    python3 - "$OUT/plan-$env.json" "$N" "$env" "$REVISION" <<'PY'
import json, sys
plan = json.load(open(sys.argv[1]))
apps = [a for w in plan["waves"] for a in w["apps"]]
assert plan["env"] == sys.argv[3], plan["env"]
assert len(apps) == int(sys.argv[2]), f"plan lists {len(apps)} apps, expected {sys.argv[2]}"
assert plan.get("revision") == sys.argv[4], f"revision {plan.get('revision')}"
objects = sum(a["objects"] for a in apps)
print(f"   plan {plan['env']}: {len(plan['waves'])} waves, {len(apps)} apps, {objects} objects", file=sys.stderr)
PY

    walls=()
    rss_max=0
    for ((r = 1; r <= RUNS; r++)); do
        t0=$(now_ns)
        /usr/bin/time -o "$OUT/time.txt" -f '%e %M' \
            "$TG" plan --env "$env" --repo "$REPO" --output json >/dev/null 2>"$OUT/plan-$env.err"
        t1=$(now_ns)
        walls+=($((t1 - t0)))
        rss_kib=$(tail -n 1 "$OUT/time.txt" | awk '{print $2}')
        ((rss_kib > rss_max)) && rss_max=$rss_kib
    done
    tg_ns=$(printf '%s\n' "${walls[@]}" | sort -n | sed -n "$(((RUNS + 1) / 2))p")

    if [[ -n "$KUSTOMIZE_SAMPLE" ]]; then
        mapfile -t kapps < <(sample "$KUSTOMIZE_SAMPLE" "time-$env" "${APPS[@]}")
    else
        kapps=("${APPS[@]}")
    fi
    cd "$REPO"
    "$KUBECTL" kustomize "overlays/$env/${kapps[0]}" >/dev/null # warm-up
    t0=$(now_ns)
    for app in "${kapps[@]}"; do
        "$KUBECTL" kustomize "overlays/$env/$app" >/dev/null
    done
    t1=$(now_ns)
    cd "$ROOT"
    k_ns=$(((t1 - t0) * N / ${#kapps[@]}))

    row=$(python3 - "$env" "$tg_ns" "$rss_max" "$k_ns" "$RATIO_TARGET" "$RSS_TARGET_MIB" "${#kapps[@]}" "$N" <<'PY'
import sys
env, tg_ns, rss_kib, k_ns, rt, mt, timed, n = sys.argv[1:]
tg, k, rss = int(tg_ns) / 1e9, int(k_ns) / 1e9, int(rss_kib) / 1024
ratio = k / tg
ok_ratio, ok_rss = ratio >= float(rt), rss < float(mt)
kcell = f"{k:.1f}" if timed == n else f"{k:.1f} (est., {timed} timed)"
print(f"| {env} | {tg:.3f} | {rss:.1f} | {kcell} | {ratio:.0f}x | {'yes' if ok_ratio else 'NO'} | {'yes' if ok_rss else 'NO'} |"
      + ("" if ok_ratio and ok_rss else " MISSED"))
PY
)
    [[ "$row" == *MISSED ]] && ALL_MET=0
    row="${row% MISSED}"
    ROWS+=("$row")
    echo "   $row" >&2
done
rm -f "$OUT/time.txt"
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

{
    echo "Machine: $(nproc) CPUs, $CPU, $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo); $(date -u '+%Y-%m-%d %H:%M UTC')."
    echo "tidegate $($TG --version | awk '{print $2}') (release build, $BUILT_FROM); kustomize ${KVER:-?} via \`$KUBECTL kustomize\`."
    echo "Repository: $N apps x ${#ENVS[@]} environments (seed $SEED). $KNOTE."
    echo "Load average (1/5/15 min) before the timings: $LOAD_BEFORE; after: $LOAD_AFTER."
    echo "tidegate: median of $RUNS runs (wall), largest peak RSS of those runs (GNU time %M)."
    echo "Correctness: $VERIFIED \`tidegate build\` outputs compared byte for byte with \`kubectl kustomize\`: $MISMATCHES mismatches."
    echo
    echo "| env | tidegate plan wall (s) | tidegate peak RSS (MiB) | kustomize per app, total wall (s) | ratio kustomize/tidegate | ≥ ${RATIO_TARGET}× | < ${RSS_TARGET_MIB} MiB |"
    echo "|---|---:|---:|---:|---:|:-:|:-:|"
    printf '%s\n' "${ROWS[@]}"
} >"$OUT/results.md"

echo >&2
cat "$OUT/results.md"
echo
if ((ALL_MET)); then echo "targets: all met"; else echo "targets: MISSED (see the table)"; fi
if ((MISMATCHES)); then echo "correctness: $MISMATCHES mismatches, diffs in bench/out/mismatches/"; fi
