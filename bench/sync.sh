#!/usr/bin/env bash
# Sync benchmark: `tidegate sync --env dev` of a synthetic N-app repository against the fake API
# server (crates/fake-kube), on loopback.
#
#   bench/sync.sh [N]                       N apps (default 1000)
#
# Steps, each one `tidegate sync` process timed with GNU time, the fake's request log reset before it:
#   1. first sync          an empty cluster: every object is created, then waited on, wave by wave
#   2. no-op re-sync       immediately after, nothing changed (NOOP_RUNS times)
#   3. one app changed     one business app's image tag in its dev overlay changed and committed
#                          (what CI does), then a sync: one app out of N applied
#   and, for reference, `tidegate plan --env dev` alone (rendering only, no cluster).
#
# Per step: exit status, wall time, CPU time (user + sys), peak RSS (GNU time %M), the requests and
# writes the fake counted (cross-checked with the numbers on tidegate's own summary line), a
# breakdown of the requests, and the fake's own CPU time.
#
# Targets (from the issue): a no-op re-sync makes zero write requests and costs under 1 s of CPU;
# peak RSS under 64 MiB (every sync step).
#
# Environment:
#   READY_DELAY_MS=D   the fake's simulated rollout time for Deployments & co. (default 5 ms: small,
#                      so the benchmark measures tidegate rather than simulated rollouts)
#   CRD_DELAY_MS=D     the fake's delay before a CRD is Established (default 5 ms; the synthetic
#                      repository has no CRDs)
#   NOOP_RUNS=R        number of no-op re-syncs (default 3)
#   WAVE_TIMEOUT=T     --wave-timeout of every sync (default 10m)
#   SEED=S             generator seed (default 20240601)
#   SKIP_BUILD=1       do not run `cargo build --release` (use the existing binaries)
#
# Writes (bench/out is gitignored): bench/out/sync-repo (the repository, a git repo; reused when
# N, seed and the generator are unchanged), bench/out/sync-results.md (the table),
# bench/out/sync-<step>.{out,err,time,stats.json,requests.json} (raw data per step),
# bench/out/sync-fake.{out,err}, bench/out/sync-kubeconfig.
#
# Exit status: 0 every step ran and every target was met; 1 a sync failed or a target was missed;
# 2 bad usage or a missing prerequisite. Not a test: CI never runs it.
set -euo pipefail

N="${1:-1000}"
case "$N" in '' | *[!0-9]* | 0) echo "usage: $0 [N]  (N = number of apps, default 1000)" >&2; exit 2 ;; esac
READY_DELAY_MS="${READY_DELAY_MS:-5}"
CRD_DELAY_MS="${CRD_DELAY_MS:-5}"
NOOP_RUNS="${NOOP_RUNS:-3}"
WAVE_TIMEOUT="${WAVE_TIMEOUT:-10m}"
SEED="${SEED:-20240601}"
ENV_NAME=dev
CPU_TARGET_S=1
RSS_TARGET_MIB=64

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench/out"
REPO="$OUT/sync-repo"
STAMP="$OUT/sync-repo.stamp"
KC="$OUT/sync-kubeconfig"
ROWS="$OUT/sync-rows.jsonl"
RESULTS="$OUT/sync-results.md"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TG="$TARGET_DIR/release/tidegate"
FAKE="$TARGET_DIR/release/fake-kube"
GEN="$ROOT/bench/gen_synthetic_repo.py"

# --- prerequisites --------------------------------------------------------------------------
if ! /usr/bin/time --version 2>&1 | grep -q 'GNU'; then
    echo "error: GNU time is needed at /usr/bin/time (CPU time and peak RSS); install it: apt-get install -y time" >&2
    exit 2
fi
for tool in python3 git curl; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 2; }
done

mkdir -p "$OUT"
if [[ -z "${SKIP_BUILD:-}" ]]; then
    echo "== cargo build --release -p tidegate -p fake-kube" >&2
    (cd "$ROOT" && cargo build --release --quiet -p tidegate -p fake-kube)
fi
[[ -x "$TG" ]] || { echo "error: $TG missing (cargo build --release)" >&2; exit 2; }
[[ -x "$FAKE" ]] || { echo "error: $FAKE missing (cargo build --release -p fake-kube)" >&2; exit 2; }

git_c() { git -C "$REPO" -c user.name=bench -c user.email=bench@example.com -c commit.gpgsign=false "$@"; }

# --- the repository ---------------------------------------------------------------------------
WANT_STAMP="apps=$N seed=$SEED generator=$(sha256sum "$GEN" | cut -c1-16)"
if [[ -d "$REPO/.git" && -f "$STAMP" && "$(cat "$STAMP")" == "$WANT_STAMP" ]] &&
    git -C "$REPO" rev-parse -q --verify refs/tags/sync-bench-base >/dev/null; then
    echo "== reusing $REPO ($WANT_STAMP); reset to its generated commit" >&2
    git -C "$REPO" reset -q --hard sync-bench-base
    git -C "$REPO" clean -qfdx
else
    echo "== generating $N apps into $REPO" >&2
    rm -f "$STAMP"
    python3 "$GEN" "$REPO" --apps "$N" --seed "$SEED" --force >&2
    git -C "$REPO" init -q
    git -C "$REPO" add -A
    git_c commit -q -m "synthetic repository: $N apps"
    git -C "$REPO" tag sync-bench-base
    echo "$WANT_STAMP" >"$STAMP"
fi

# The app changed in step 3: the last app of the business wave (the last wave), so only one app
# of one wave differs.
CHANGED_APP="$(find "$REPO/apps-of-apps/business" -mindepth 1 -maxdepth 1 -type d -printf '%f\n' | sort | tail -n 1)"
[[ -n "$CHANGED_APP" && -f "$REPO/overlays/$ENV_NAME/$CHANGED_APP/kustomization.yaml" ]] ||
    { echo "error: no business app with a $ENV_NAME overlay in $REPO" >&2; exit 1; }

# --- machine -------------------------------------------------------------------------------------
CPU_MODEL="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
MACHINE="$(nproc) CPUs ($CPU_MODEL), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), $(uname -sr)"
TG_VERSION="$("$TG" --version | awk '{print $2}')"
TG_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
[[ -z "$(git -C "$ROOT" status --porcelain -- src crates Cargo.toml Cargo.lock 2>/dev/null)" ]] || TG_COMMIT="$TG_COMMIT + uncommitted changes"
echo "machine: $MACHINE; tidegate $TG_VERSION ($TG_COMMIT)" >&2

# --- the fake API server ------------------------------------------------------------------------
FAKE_PID=""
cleanup() {
    if [[ -n "$FAKE_PID" ]] && kill -0 "$FAKE_PID" 2>/dev/null; then
        kill "$FAKE_PID" 2>/dev/null || true
        wait "$FAKE_PID" 2>/dev/null || true
    fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

rm -f "$KC"
: >"$OUT/sync-fake.out" # before the fake starts: no stale "listening" line from an earlier run
"$FAKE" --listen 127.0.0.1:0 --kubeconfig "$KC" --ready-delay-ms "$READY_DELAY_MS" --crd-delay-ms "$CRD_DELAY_MS" \
    >"$OUT/sync-fake.out" 2>"$OUT/sync-fake.err" &
FAKE_PID=$!
URL=""
deadline=$((SECONDS + 30))
while [[ -z "$URL" ]]; do
    URL="$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$OUT/sync-fake.out" | head -n 1)"
    [[ -n "$URL" ]] && break
    if ! kill -0 "$FAKE_PID" 2>/dev/null; then
        echo "error: fake-kube exited before listening:" >&2
        tail -n 20 "$OUT/sync-fake.err" >&2
        exit 1
    fi
    if ((SECONDS >= deadline)); then
        echo "error: fake-kube did not print 'listening on' within 30 s" >&2
        tail -n 20 "$OUT/sync-fake.err" >&2
        exit 1
    fi
    sleep 0.05
done
[[ -s "$KC" ]] || { echo "error: fake-kube wrote no kubeconfig at $KC" >&2; exit 1; }
echo "== fake-kube at $URL (pid $FAKE_PID, --ready-delay-ms $READY_DELAY_MS --crd-delay-ms $CRD_DELAY_MS)" >&2

CLK_TCK="$(getconf CLK_TCK)"
# CPU time (user + sys, clock ticks) the fake has used so far.
fake_ticks() { awk '{print $14 + $15}' "/proc/$FAKE_PID/stat"; }

# --- steps ---------------------------------------------------------------------------------------
: >"$ROWS"
FAILED_STEP=""

# run_step SLUG LABEL KIND COMMAND...: runs COMMAND under GNU time with the fake's request log reset;
# appends one JSON row to $ROWS. KIND is sync or plan.
run_step() {
    local slug="$1" label="$2" kind="$3"
    shift 3
    local base="$OUT/sync-$slug"
    curl -fsS -X POST "$URL/_fake/reset-requests" >/dev/null
    local t0 t1 rc=0
    t0="$(fake_ticks)"
    KUBECONFIG="$KC" /usr/bin/time -o "$base.time" -f '%e %U %S %M' "$@" >"$base.out" 2>"$base.err" || rc=$?
    t1="$(fake_ticks)"
    curl -fsS "$URL/_fake/stats" >"$base.stats.json"
    curl -fsS "$URL/_fake/requests" >"$base.requests.json"
    python3 - "$slug" "$label" "$kind" "$rc" "$base" "$(((t1 - t0)))" "$CLK_TCK" "$ENV_NAME" >>"$ROWS" <<'PY'
import json, re, sys
slug, label, kind, rc, base, fake_ticks, clk, env = sys.argv[1:]
wall, user, sys_, rss = open(base + ".time").read().split("\n")[-2].split()
stats = json.load(open(base + ".stats.json"))
reqs = json.load(open(base + ".requests.json"))
summary = None
for line in open(base + ".out", encoding="utf-8", errors="replace"):
    m = re.match(rf"^{re.escape(env)}: (\d+) objects in (\d+) waves; (.*); (\d+) requests, (\d+) writes$", line.rstrip("\n"))
    if m:
        summary = {"objects": int(m[1]), "waves": int(m[2]), "changes": m[3], "requests": int(m[4]), "writes": int(m[5])}
def category(r):
    m, p, q = r["method"], r["path"], r.get("query") or {}
    if m == "GET":
        if re.fullmatch(r"/(api|apis|version|openapi/.*|api/v1|apis/[^/]+/[^/]+)/?", p):
            return "discovery"
        if q.get("watch") in ("true", "1"):
            return "watch"
        return "get/list"
    if r.get("dry_run"):
        return "dry-run"
    return {"PATCH": "apply/patch", "POST": "create", "PUT": "update", "DELETE": "delete"}.get(m, m)
breakdown = {}
for r in reqs:
    c = category(r)
    breakdown[c] = breakdown.get(c, 0) + 1
errors = sum(1 for r in reqs if r.get("status", 0) >= 400)
print(json.dumps({
    "slug": slug, "label": label, "kind": kind, "rc": int(rc),
    "wall": float(wall), "cpu": float(user) + float(sys_), "user": float(user), "sys": float(sys_),
    "rss_kib": int(rss), "fake_requests": stats["requests"], "fake_writes": stats["writes"],
    "fake_objects": stats["objects"], "fake_cpu": int(fake_ticks) / int(clk),
    "breakdown": breakdown, "error_responses": errors, "summary": summary,
}))
PY
    if ((rc != 0)); then
        FAILED_STEP="$label"
        {
            echo
            echo "!! step '$label' failed with exit status $rc"
            echo "!! command: KUBECONFIG=$KC $*"
            echo "!! last lines of its stderr ($base.err):"
            tail -n 30 "$base.err" | sed 's/^/   /'
            echo "!! last lines of its stdout ($base.out):"
            tail -n 5 "$base.out" | sed 's/^/   /'
        } >&2
        return 1
    fi
    echo "   $label: done ($(cat "$base.time" | tail -n 1))" >&2
}

SYNC=("$TG" sync --env "$ENV_NAME" --repo "$REPO" --wave-timeout "$WAVE_TIMEOUT")
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
DATE="$(date -u '+%Y-%m-%d %H:%M UTC')"

steps_ok=1
echo "== 1. first sync: ${SYNC[*]}" >&2
run_step first "first sync" sync "${SYNC[@]}" || steps_ok=0
if ((steps_ok)); then
    for ((r = 1; r <= NOOP_RUNS; r++)); do
        echo "== 2. no-op re-sync #$r" >&2
        run_step "noop-$r" "no-op re-sync #$r" sync "${SYNC[@]}" || { steps_ok=0; break; }
    done
fi
if ((steps_ok)); then
    kfile="$REPO/overlays/$ENV_NAME/$CHANGED_APP/kustomization.yaml"
    old_tag="$(sed -n 's/^ *newTag: *"\{0,1\}\([^" ]*\)"\{0,1\}.*/\1/p' "$kfile" | head -n 1)"
    [[ -n "$old_tag" ]] || { echo "error: no newTag in $kfile" >&2; exit 1; }
    new_tag="${old_tag%%-*}-sync-bench.1"
    sed -i "0,/newTag:/s|\(newTag: *\)\"\{0,1\}$old_tag\"\{0,1\}|\1\"$new_tag\"|" "$kfile"
    git -C "$REPO" diff --quiet && { echo "error: the tag change in $kfile did not apply" >&2; exit 1; }
    git_c commit -q -am "$CHANGED_APP: $old_tag -> $new_tag in $ENV_NAME"
    echo "== 3. one app changed: $CHANGED_APP $old_tag -> $new_tag (committed)" >&2
    run_step one-app "one app changed" sync "${SYNC[@]}" || steps_ok=0
fi
echo "== plan only (rendering, no cluster): $TG plan --env $ENV_NAME --repo $REPO --output json" >&2
run_step plan "plan only (no cluster)" plan "$TG" plan --env "$ENV_NAME" --repo "$REPO" --output json || steps_ok=0
FAKE_HWM_KIB="$(awk '/VmHWM/ {print $2}' "/proc/$FAKE_PID/status")"
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- the table and the verdicts -----------------------------------------------------------------
set +e
python3 - "$ROWS" "$OUT/sync-plan.out" "$CHANGED_APP" "$N" "$CPU_TARGET_S" "$RSS_TARGET_MIB" >"$OUT/sync-verdict.md" <<'PY'
import json, sys
rows_path, plan_path, changed, n, cpu_t, rss_t = sys.argv[1:]
rows = [json.loads(l) for l in open(rows_path)]
cpu_t, rss_t = float(cpu_t), float(rss_t)
app_objects = total_objects = None
try:
    plan = json.load(open(plan_path))
    apps = [a for w in plan["waves"] for a in w["apps"]]
    total_objects = sum(a["objects"] for a in apps)
    app_objects = next((a["objects"] for a in apps if a["name"] == changed), None)
except Exception:
    apps = []
print("| step | exit | wall (s) | CPU user+sys (s) | peak RSS (MiB) | requests (fake / tidegate) | writes (fake / tidegate) | requests by kind | fake CPU (s) | tidegate's summary |")
print("|---|:-:|---:|---:|---:|---:|---:|---|---:|---|")
for r in rows:
    s = r["summary"]
    if r["kind"] == "plan":
        req, wr, summ = f"{r['fake_requests']} / –", f"{r['fake_writes']} / –", "–"
    else:
        req = f"{r['fake_requests']} / {s['requests'] if s else '?'}"
        wr = f"{r['fake_writes']} / {s['writes'] if s else '?'}"
        summ = s["changes"] if s else "(no summary line)"
    kinds = ", ".join(f"{v} {k}" for k, v in sorted(r["breakdown"].items(), key=lambda kv: -kv[1])) or "–"
    if r["error_responses"]:
        kinds += f" ({r['error_responses']} answered ≥ 400)"
    print(f"| {r['label']} | {r['rc']} | {r['wall']:.2f} | {r['cpu']:.2f} ({r['user']:.2f} + {r['sys']:.2f}) | "
          f"{r['rss_kib'] / 1024:.1f} | {req} | {wr} | {kinds} | {r['fake_cpu']:.2f} | {summ} |")
print()
checks = []
def check(ok, text):
    checks.append(ok)
    print(f"- {'PASS' if ok else 'FAIL'}: {text}")
syncs = [r for r in rows if r["kind"] == "sync"]
noops = [r for r in syncs if r["slug"].startswith("noop")]
for r in rows:
    if r["rc"] != 0:
        check(False, f"{r['label']} exited with status {r['rc']}")
for r in noops:
    s = r["summary"] or {}
    check(r["fake_writes"] == 0 and s.get("writes") == 0,
          f"{r['label']}: zero write requests (fake counted {r['fake_writes']}, tidegate reported {s.get('writes', '?')})")
    check(r["cpu"] < cpu_t, f"{r['label']}: CPU {r['cpu']:.2f} s < {cpu_t:g} s")
for r in syncs:
    check(r["rss_kib"] / 1024 < rss_t, f"{r['label']}: peak RSS {r['rss_kib'] / 1024:.1f} MiB < {rss_t:g} MiB")
for r in syncs:
    s = r["summary"]
    same = s is not None and s["requests"] == r["fake_requests"] and s["writes"] == r["fake_writes"]
    check(same, f"{r['label']}: tidegate's summary line agrees with the fake's counts"
          + ("" if same else f" (fake {r['fake_requests']} requests / {r['fake_writes']} writes, tidegate "
                             + (f"{s['requests']} / {s['writes']}" if s else "no summary line") + ")"))
# Sanity, not targets: what the writes should be.
first = next((r for r in syncs if r["slug"] == "first"), None)
if first and total_objects is not None:
    want = total_objects + len(apps) + 1
    print(f"- note: first sync wrote {first['fake_writes']}; expected {want} = {total_objects} objects "
          f"+ {len(apps)} inventories + the inventory namespace")
plan_row = next((r for r in rows if r["kind"] == "plan"), None)
if plan_row and noops:
    best = min(noops, key=lambda r: r["cpu"])
    print(f"- note: rendering alone (`tidegate plan`) took {plan_row['cpu']:.2f} s CPU and {plan_row['rss_kib'] / 1024:.1f} MiB; "
          f"the fastest no-op re-sync spent {best['cpu'] - plan_row['cpu']:.2f} s CPU beyond that (cluster I/O, drift and health checks)")
one = next((r for r in syncs if r["slug"] == "one-app"), None)
if one and app_objects is not None:
    want = app_objects + 1
    ok = one["fake_writes"] <= want
    check(ok, f"one app changed: {one['fake_writes']} writes ≤ {want} = the changed app's {app_objects} objects "
              f"(re-applied whole) + its inventory")
sys.exit(0 if all(checks) else 1)
PY
VERDICT_RC=$?
set -e

{
    echo "Machine: $MACHINE; $DATE."
    echo "tidegate $TG_VERSION (release build, $TG_COMMIT); fake-kube with --ready-delay-ms $READY_DELAY_MS --crd-delay-ms $CRD_DELAY_MS, on loopback, same machine."
    echo "Repository: $N apps x 3 environments (seed $SEED), environment \`$ENV_NAME\`; step 3 changed the image tag of \`$CHANGED_APP\` (business wave) in its $ENV_NAME overlay and committed it."
    echo "Command: \`bench/sync.sh $N\`; every sync is \`tidegate sync --env $ENV_NAME --repo bench/out/sync-repo --wave-timeout $WAVE_TIMEOUT\`."
    echo "Load average (1/5/15 min) before: $LOAD_BEFORE; after: $LOAD_AFTER. The fake's own peak RSS: $((FAKE_HWM_KIB / 1024)) MiB."
    echo
    cat "$OUT/sync-verdict.md"
} >"$RESULTS"
rm -f "$OUT/sync-verdict.md"

echo >&2
cat "$RESULTS"
echo
if [[ -n "$FAILED_STEP" ]]; then
    echo "result: a step FAILED ($FAILED_STEP); see the stderr tail above and $OUT/sync-*.err"
    exit 1
fi
if ((VERDICT_RC == 0)); then echo "result: all targets met"; else echo "result: FAIL (see the list above)"; exit 1; fi
