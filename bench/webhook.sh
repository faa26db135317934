#!/usr/bin/env bash
# Webhook benchmark for `tidegate serve`, on loopback: webhook intake throughput and latency
# (wrk, signed push deliveries), and push-to-apply latency (a signed push for the tracked branch
# to the first apply request the fake API server receives).
#
#   bench/webhook.sh
#
# Set-up: a temporary git repository with one app (the layout of tests/serve.rs), the fake API
# server (crates/fake-kube), and `tidegate serve` with `pollInterval: 1h` (so only webhooks
# trigger work) and one environment, dev. The payload is the sample push delivery in
# webhooks/samples/push.json (a realistic ~10 KB body), compacted, with `ref` (and `after`)
# rewritten; its X-Hub-Signature-256 is computed once with `openssl dgst -sha256 -hmac`.
#
# 1. Intake (wrk, bench/webhook_push.lua: the same signed body, a unique X-GitHub-Delivery per
#    request), one wrk run per row:
#      other-branch        push to refs/heads/feature-x (not tracked): measures intake only
#      tracked-branch      push to refs/heads/main (tracked): every delivery wakes the control loop;
#                          shows that intake keeps up while bursts coalesce into few reconciles
#      other-branch-close  as other-branch with `Connection: close`: a new TCP connection per
#                          delivery, as GitHub makes them
#      other-branch-pinned as other-branch with the server's threads pinned to CPU 0 and wrk
#                          (one thread) to CPU 1 (taskset): what one core of server does without
#                          sharing it with the load generator (2+ CPUs only)
#    Each run is preceded by a short warm-up and is cross-checked against /metrics
#    (tidegate_webhook_deliveries_total): every delivery wrk counted must have been counted by the
#    server as `ignored` (other branch) or `accepted` (tracked branch) — none unauthorized,
#    malformed or duplicate. wrk shares the machine's cores with the server; the CPU time of the
#    server (from /proc/PID/stat), of wrk (GNU time, if installed) and of everything else on the
#    machine (from /proc/stat) during the run is reported, so that a busy machine shows.
#    Then a latency-vs-concurrency sweep (SWEEP): the other-branch run, shorter, at 1 to 64
#    connections — wrk is closed-loop, so at a given throughput latency grows with the number of
#    connections kept busy (Little's law), and p99 is only meaningful together with that number.
# 2. Push-to-apply: APPLY_RUNS times, change the app's image tag in the repository (alternating
#    1.1 / 1.0) and commit, then — in one curl process — send a marker request to the fake API
#    server followed immediately by the signed push for refs/heads/main. From the fake's request
#    log (its own clock): marker → first API request of the reconcile (leases excluded; i.e. after
#    the git fetch and the render), marker → first non-dry-run PATCH of the Deployment (the
#    apply), and marker → the app's inventory ConfigMap written (the reconcile done, after the
#    health wait on the simulated rollout). The marker precedes the webhook, so the figures are
#    slight over-estimates.
#
# Targets (from the issue): >= 10,000 deliveries/s on 2 cores with p99 < 5 ms (judged on the
# other-branch run at CONNECTIONS); push-to-apply < 1 s (every one of the APPLY_RUNS).
#
# Environment:
#   DURATION=D        wrk duration per run (default 15s)
#   THREADS=T         wrk threads (default 2)
#   CONNECTIONS=C     wrk connections (default 32)
#   WARMUP=D          wrk warm-up before each run, not recorded (default 3s)
#   SWEEP="C..."      connection counts of the latency-vs-concurrency sweep (other branch,
#                     keep-alive, shared CPUs; default "1 4 8 16 32 64"; empty: no sweep)
#   SWEEP_DURATION=D  wrk duration per sweep point (default 5s; warm-up 1s)
#   APPLY_RUNS=N      push-to-apply repetitions (default 10)
#   READY_DELAY_MS=D  the fake's simulated rollout time (default 20 ms, as tests/serve.rs)
#   SKIP_BUILD=1      do not run `cargo build --release` (use the existing binaries)
#   KEEP=1            keep the temporary directory (repository, data dir, logs)
#
# Writes (bench/out is gitignored): bench/out/webhook-results.md (the tables),
# bench/out/webhook-<run>.wrk.txt (wrk's output), bench/out/webhook-<run>.metrics-{before,after}.txt,
# bench/out/webhook-apply-<i>.requests.json (the fake's request log per push-to-apply run),
# bench/out/webhook-serve.err and webhook-fake.{out,err} (logs).
#
# Exit status: 0 every step ran and every target was met; 1 a step failed or a target was missed;
# 2 bad usage or a missing prerequisite. Not a test: CI never runs it.
set -euo pipefail

DURATION="${DURATION:-15s}"
THREADS="${THREADS:-2}"
CONNECTIONS="${CONNECTIONS:-32}"
WARMUP="${WARMUP:-3s}"
SWEEP="${SWEEP-1 4 8 16 32 64}"
SWEEP_DURATION="${SWEEP_DURATION:-5s}"
APPLY_RUNS="${APPLY_RUNS:-10}"
READY_DELAY_MS="${READY_DELAY_MS:-20}"
[[ $# -eq 0 ]] || { sed -n '2,64p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//' >&2; exit 2; }
for v in THREADS CONNECTIONS APPLY_RUNS READY_DELAY_MS; do
    case "${!v}" in '' | *[!0-9]* | 0) [[ "$v" == READY_DELAY_MS && "${!v}" == 0 ]] || { echo "error: $v must be a positive integer" >&2; exit 2; } ;; esac
done
TARGET_RPS=10000
TARGET_P99_MS=5
TARGET_APPLY_MS=1000
SECRET="bench-webhook-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench/out"
RESULTS="$OUT/webhook-results.md"
LUA="$ROOT/bench/webhook_push.lua"
SAMPLE="$ROOT/webhooks/samples/push.json"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TG="$TARGET_DIR/release/tidegate"
FAKE="$TARGET_DIR/release/fake-kube"

# --- prerequisites --------------------------------------------------------------------------
if ! command -v wrk >/dev/null; then
    echo "error: wrk is needed (the HTTP load generator); install it: apt-get install -y wrk" >&2
    exit 2
fi
for tool in curl git jq openssl python3 awk od; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 2; }
done
[[ -f "$SAMPLE" ]] || { echo "error: $SAMPLE missing" >&2; exit 2; }
[[ -f "$LUA" ]] || { echo "error: $LUA missing" >&2; exit 2; }

mkdir -p "$OUT"
if [[ -z "${SKIP_BUILD:-}" ]]; then
    echo "== cargo build --release; cargo build --release -p fake-kube" >&2
    (cd "$ROOT" && cargo build --release --quiet && cargo build --release --quiet -p fake-kube)
fi
[[ -x "$TG" ]] || { echo "error: $TG missing (cargo build --release)" >&2; exit 2; }
[[ -x "$FAKE" ]] || { echo "error: $FAKE missing (cargo build --release -p fake-kube)" >&2; exit 2; }

# --- machine -------------------------------------------------------------------------------------
CPU_MODEL="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
MACHINE="$(nproc) CPUs ($CPU_MODEL), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), $(uname -sr)"
TG_VERSION="$("$TG" --version | awk '{print $2}')"
TG_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
[[ -z "$(git -C "$ROOT" status --porcelain -- src crates Cargo.toml Cargo.lock 2>/dev/null)" ]] || TG_COMMIT="$TG_COMMIT + uncommitted changes"
# With SKIP_BUILD the binary need not match the tree: say when it was built instead.
[[ -z "${SKIP_BUILD:-}" ]] || TG_COMMIT="binary $TG built $(date -u -r "$TG" '+%Y-%m-%d %H:%M UTC'); tree at $TG_COMMIT"
WRK_VERSION="$({ wrk -v 2>&1 || true; } | head -n 1 | awk '{print $1, $2}')"
echo "machine: $MACHINE; tidegate $TG_VERSION ($TG_COMMIT); $WRK_VERSION" >&2
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"

# --- processes and clean-up ----------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tidegate-webhook-bench.XXXXXX")"
FAKE_PID=""
TG_PID=""
stop() { # stop PID: SIGTERM, then wait (up to 10 s), then SIGKILL
    local pid="$1" i
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 0
    kill "$pid" 2>/dev/null || true
    for ((i = 0; i < 100; i++)); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}
cleanup() {
    stop "$TG_PID"
    stop "$FAKE_PID"
    if [[ -n "${KEEP:-}" ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "error: $*" >&2; exit 1; }

# wait_until WHAT SECONDS COMMAND...: polls COMMAND every 50 ms until it succeeds or the deadline.
wait_until() {
    local what="$1" secs="$2"
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@"; do
        ((SECONDS < deadline)) || die "timed out after ${secs} s waiting for $what"
        [[ -z "$TG_PID" ]] || kill -0 "$TG_PID" 2>/dev/null || { tail -n 20 "$OUT/webhook-serve.err" >&2; die "tidegate serve exited"; }
        sleep 0.05
    done
}

# --- the repository (the layout of tests/serve.rs) -----------------------------------------------
REPO="$WORK/repo"
git_c() { git -C "$REPO" -c user.name=bench -c user.email=bench@example.com -c commit.gpgsign=false "$@"; }
wfile() { mkdir -p "$(dirname "$REPO/$1")"; printf '%b' "$2" >"$REPO/$1"; }
overlay() { wfile overlays/dev/web/kustomization.yaml "resources: [../../../apps-of-apps/web/base]\nimages:\n- name: example/web\n  newTag: \"$1\"\n"; }
mkdir -p "$REPO"
wfile apps-of-apps/root.yaml 'apiVersion: tidegate.dev/v1alpha1\nkind: Root\nmetadata: {name: t}\nspec:\n  environments: [{name: dev}]\n  waves: [{name: business}]\n'
wfile apps-of-apps/web/app.yaml 'apiVersion: tidegate.dev/v1alpha1\nkind: App\nmetadata: {name: web}\nspec:\n  wave: business\n  namespace: shop\n'
wfile apps-of-apps/web/base/kustomization.yaml 'resources: [all.yaml]\n'
wfile apps-of-apps/web/base/all.yaml 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n  selector: {matchLabels: {app: web}}\n  template:\n    metadata: {labels: {app: web}}\n    spec:\n      containers: [{name: web, image: example/web:1.0}]\n'
overlay 1.0
git -C "$REPO" init -q -b main
git_c add -A
git_c commit -qm first

# --- the fake API server -------------------------------------------------------------------------
KC="$WORK/kubeconfig"
: >"$OUT/webhook-fake.out"
"$FAKE" --listen 127.0.0.1:0 --kubeconfig "$KC" --ready-delay-ms "$READY_DELAY_MS" \
    >"$OUT/webhook-fake.out" 2>"$OUT/webhook-fake.err" &
FAKE_PID=$!
FAKE_URL=""
fake_listening() {
    kill -0 "$FAKE_PID" 2>/dev/null || { tail -n 20 "$OUT/webhook-fake.err" >&2; die "fake-kube exited"; }
    FAKE_URL="$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$OUT/webhook-fake.out" | head -n 1)"
    [[ -n "$FAKE_URL" && -s "$KC" ]]
}
wait_until "fake-kube to listen" 30 fake_listening
echo "== fake-kube at $FAKE_URL (pid $FAKE_PID, --ready-delay-ms $READY_DELAY_MS)" >&2

# --- tidegate serve ------------------------------------------------------------------------------
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
TG_URL="http://127.0.0.1:$PORT"
HOOK_URL="$TG_URL/webhooks/github"
printf 'pollInterval: 1h\nenvironments:\n- {name: dev, waveTimeout: 30s}\n' >"$WORK/tidegate.yaml"
env TIDEGATE_LISTEN="127.0.0.1:$PORT" TIDEGATE_WEBHOOK_SECRET="$SECRET" TIDEGATE_REPO="$REPO" \
    TIDEGATE_BRANCH=main TIDEGATE_DATA_DIR="$WORK/data" KUBECONFIG="$KC" RUST_LOG=warn \
    "$TG" serve --config "$WORK/tidegate.yaml" >/dev/null 2>"$OUT/webhook-serve.err" &
TG_PID=$!
healthy() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$TG_URL/healthz")" == 200 ]]; }
wait_until "/healthz" 20 healthy
echo "== tidegate serve at $TG_URL (pid $TG_PID)" >&2

deployment_image() {
    curl -s --max-time 5 "$FAKE_URL/apis/apps/v1/namespaces/shop/deployments/web" |
        jq -r '.spec.template.spec.containers[0].image // empty' 2>/dev/null || true
}
image_is() { [[ "$(deployment_image)" == "$1" ]]; }
synced_at() { # synced_at COMMIT: the status says dev is Synced at COMMIT
    curl -s --max-time 5 "$TG_URL/api/v1/status" |
        jq -e --arg c "$1" '.environments.dev.state == "Synced" and .source.commit == $c' >/dev/null 2>&1
}
ready() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$TG_URL/readyz")" == 200 ]]; }
HEAD="$(git -C "$REPO" rev-parse HEAD)"
wait_until "the first reconcile (example/web:1.0 applied)" 60 image_is example/web:1.0
wait_until "dev Synced at the first commit" 30 synced_at "$HEAD"
wait_until "/readyz 200" 30 ready

# --- helpers: metrics, CPU, signing ----------------------------------------------------------------
CLK_TCK="$(getconf CLK_TCK)"
# The server's CPU ticks, its reaped children (git) included.
tg_ticks() { awk '{print $14 + $15 + $16 + $17}' "/proc/$TG_PID/stat"; }
# Busy clock ticks of the whole machine (user, nice, system, irq, softirq, steal).
busy_ticks() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
# wrk's own CPU time comes from GNU time when it is installed (else it is reported as "?").
TIME_CMD=()
if /usr/bin/time --version 2>&1 | grep -q GNU; then TIME_CMD=(/usr/bin/time -f '%U %S' -o); fi
# metric FILE NAME [LABEL=VALUE...]: the sum of the samples of NAME carrying every given label.
metric() {
    local file="$1" name="$2"
    shift 2
    awk -v name="$name" -v labels="$*" '
        BEGIN { n = split(labels, want, " ") }
        {
            split($1, parts, "{")
            if (parts[1] != name) next
            ok = 1
            for (i = 1; i <= n; i++) {
                split(want[i], kv, "=")
                if (index($1, kv[1] "=\"" kv[2] "\"") == 0) ok = 0
            }
            if (ok) sum += $NF
        }
        END { printf "%d\n", sum }' "$file"
}
reconciles() { curl -s "$TG_URL/metrics" >"$WORK/m.txt"; metric "$WORK/m.txt" tidegate_reconcile_duration_seconds_count env=dev; }
# quiet: the control loop has not started a reconcile for 1 s and dev is Synced at HEAD.
quiet() {
    local a b
    a="$(reconciles)"
    sleep 1
    b="$(reconciles)"
    [[ "$a" == "$b" ]] && synced_at "$HEAD"
}
# make_body FILE REF AFTER: the sample push, compact, with ref and after replaced.
make_body() { jq -c --arg ref "$2" --arg after "$3" '.ref = $ref | .after = $after' "$SAMPLE" | tr -d '\n' >"$1"; }
sign() { echo "sha256=$(openssl dgst -sha256 -hmac "$SECRET" -r <"$1" | cut -d' ' -f1)"; }
# send FILE DELIVERY: one signed push with curl; prints "<status> <body>".
send() {
    local code
    code="$(curl -s -o "$WORK/resp.txt" -w '%{http_code}' -X POST "$HOOK_URL" \
        -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: $2" \
        -H "X-Hub-Signature-256: $(sign "$1")" --data-binary @"$1")"
    echo "$code $(tr -d '\n' <"$WORK/resp.txt")"
}

# --- 1. intake throughput and latency --------------------------------------------------------------
ROWS="$WORK/intake.tsv"
: >"$ROWS"
FAILED=""
# run_wrk SLUG REF CLOSE EXPECTED_OUTCOME EXPECTED_STATUS [PIN]
# PIN=1: every thread of the server on CPU 0 and wrk (one thread) on CPU 1, for the length of the run.
run_wrk() {
    local slug="$1" ref="$2" close="$3" outcome="$4" status="$5" pin="${6:-}"
    # RUN_CONNS, RUN_DURATION, RUN_WARMUP, RUN_THREADS: per-call overrides (the sweep).
    local conns="${RUN_CONNS:-$CONNECTIONS}" dur="${RUN_DURATION:-$DURATION}" warm="${RUN_WARMUP:-$WARMUP}"
    local threads="${RUN_THREADS:-$THREADS}" wrk_cmd=(wrk)
    if [[ -n "$pin" ]]; then
        threads=1
        wrk_cmd=(taskset -c 1 wrk)
        taskset -a -p -c 0 "$TG_PID" >/dev/null
    fi
    local body="$WORK/body-$slug.json" sig answer
    make_body "$body" "$ref" "$HEAD"
    sig="$(sign "$body")"
    answer="$(send "$body" "check-$slug-$RANDOM$RANDOM")"
    [[ "${answer%% *}" == "$status" ]] || die "$slug: a single signed delivery got '$answer', expected $status"
    echo "== intake: $slug ($ref, $(wc -c <"$body") B body${close:+, Connection: close}); one delivery answered: $answer" >&2
    local lua_env=(WEBHOOK_BODY_FILE="$body" WEBHOOK_SIGNATURE="$sig" WEBHOOK_CONNECTION_CLOSE="$close")
    env "${lua_env[@]}" WEBHOOK_DELIVERY_PREFIX="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')" \
        "${wrk_cmd[@]}" -t"$threads" -c"$conns" -d"$warm" -s "$LUA" "$HOOK_URL" >"$OUT/webhook-$slug.warmup.txt" 2>&1 ||
        die "$slug: wrk warm-up failed: $(tail -n 5 "$OUT/webhook-$slug.warmup.txt")"
    [[ "$ref" == refs/heads/main ]] && wait_until "the control loop to go quiet after the warm-up" 60 quiet
    local before="$OUT/webhook-$slug.metrics-before.txt" after="$OUT/webhook-$slug.metrics-after.txt"
    curl -fsS -X POST "$FAKE_URL/_fake/reset-requests" >/dev/null
    curl -fsS "$TG_URL/metrics" >"$before"
    local t0 t1 b0 b1 wrk_time="$OUT/webhook-$slug.wrk.time"
    rm -f "$wrk_time"
    t0="$(tg_ticks)"
    b0="$(busy_ticks)"
    env "${lua_env[@]}" WEBHOOK_DELIVERY_PREFIX="$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')" \
        ${TIME_CMD[@]+"${TIME_CMD[@]}" "$wrk_time"} "${wrk_cmd[@]}" -t"$threads" -c"$conns" -d"$dur" --latency -s "$LUA" "$HOOK_URL" >"$OUT/webhook-$slug.wrk.txt" 2>&1 ||
        die "$slug: wrk failed: $(tail -n 5 "$OUT/webhook-$slug.wrk.txt")"
    t1="$(tg_ticks)"
    b1="$(busy_ticks)"
    [[ -z "$pin" ]] || taskset -a -p -c "0-$(($(nproc) - 1))" "$TG_PID" >/dev/null
    curl -fsS "$TG_URL/metrics" >"$after"
    local line
    line="$(grep '^WRK_RESULT ' "$OUT/webhook-$slug.wrk.txt")" || die "$slug: no WRK_RESULT line in $OUT/webhook-$slug.wrk.txt"
    local -A r=()
    local kv
    for kv in ${line#WRK_RESULT }; do r[${kv%%=*}]="${kv#*=}"; done
    local o counted=0 others=0
    delta() { echo $(($(metric "$after" "$@") - $(metric "$before" "$@"))); }
    for o in accepted ignored duplicate unauthorized malformed too_large; do
        if [[ "$o" == "$outcome" ]]; then counted="$(delta tidegate_webhook_deliveries_total event=push outcome="$o")"
        else others=$((others + $(delta tidegate_webhook_deliveries_total outcome="$o"))); fi
    done
    local recs fetched writes
    recs="$(delta tidegate_reconcile_duration_seconds_count env=dev)"
    fetched="$(delta tidegate_fetches_total)"
    # Writes to the cluster other than the leader Lease's renewals.
    writes="$(curl -fsS "$FAKE_URL/_fake/requests" | jq '[.[] | select((.method | IN("POST", "PUT", "PATCH", "DELETE")) and (.dry_run | not) and (.path | contains("/leases") | not))] | length')"
    local errs=$((r[errors_connect] + r[errors_read] + r[errors_write] + r[errors_status] + r[errors_timeout]))
    # wrk stops counting at the deadline: the server may have answered up to $conns more.
    local check=ok
    if ((errs > 0 || others > 0 || counted < r[requests] || counted > r[requests] + conns)); then
        check="MISMATCH"
        FAILED="$FAILED $slug(metrics)"
    fi
    local cpu wrk_cpu='?' other_cpu='?'
    cpu="$(awk -v t=$((t1 - t0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz }')"
    if [[ -s "$wrk_time" ]]; then
        wrk_cpu="$(awk 'END { printf "%.1f", $1 + $2 }' "$wrk_time")"
        # Everything else on the machine meanwhile (other processes, the fake, the kernel's share).
        other_cpu="$(awk -v b=$((b1 - b0)) -v t=$((t1 - t0)) -v w="$wrk_cpu" -v hz="$CLK_TCK" 'BEGIN { o = (b - t) / hz - w; printf "%.1f", o < 0 ? 0 : o }')"
    fi
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$slug" "$ref" "${close:-0}" "${pin:-0}" \
        "${r[requests]}" "${r[duration_us]}" "${r[p50_us]}" "${r[p90_us]}" "${r[p99_us]}" "${r[p999_us]}" "${r[max_us]}" \
        "$errs" "$outcome" "$counted" "$others" "$cpu" "$recs/$fetched/$writes" "$check" "$wrk_cpu" "$other_cpu" "$conns" "$threads" >>"$ROWS"
    awk -F'\t' -v s="$slug" '$1 == s { printf "   %s: %.0f req/s, p50 %.2f ms, p90 %.2f ms, p99 %.2f ms; server %s: %s (other outcomes %s); server CPU %s s (%.0f µs/delivery), wrk %s s, everything else %s s; reconciles/fetches/writes %s; %s\n", s, $5 / ($6 / 1e6), $7 / 1000, $8 / 1000, $9 / 1000, $13, $14, $15, $16, $16 * 1e6 / ($14 > 0 ? $14 : 1), $19, $20, $17, $18 }' "$ROWS" >&2
}

run_wrk other-branch refs/heads/feature-x "" ignored 202
run_wrk tracked-branch refs/heads/main "" accepted 202
wait_until "the control loop to go quiet after the tracked-branch run" 60 quiet
run_wrk other-branch-close refs/heads/feature-x 1 ignored 202
if (($(nproc) >= 2)); then
    run_wrk other-branch-pinned refs/heads/feature-x "" ignored 202 1
fi
SWEEP_ROWS="$WORK/sweep.tsv"
: >"$SWEEP_ROWS"
for c in $SWEEP; do
    ROWS="$SWEEP_ROWS" RUN_CONNS="$c" RUN_DURATION="$SWEEP_DURATION" RUN_WARMUP=1s RUN_THREADS=$((c < THREADS ? c : THREADS)) \
        run_wrk "sweep-c$c" refs/heads/feature-x "" ignored 202
done

# --- 2. push-to-apply ---------------------------------------------------------------------------
APPLY="$WORK/apply.tsv"
: >"$APPLY"
echo "== push-to-apply: $APPLY_RUNS pushes" >&2
for ((i = 1; i <= APPLY_RUNS; i++)); do
    wait_until "the control loop to go quiet" 60 quiet
    if ((i % 2)); then tag=1.1; else tag=1.0; fi
    overlay "$tag"
    git_c commit -qam "bench: web $tag ($i)"
    HEAD="$(git -C "$REPO" rev-parse HEAD)"
    body="$WORK/body-apply-$i.json"
    make_body "$body" refs/heads/main "$HEAD"
    curl -fsS -X POST "$FAKE_URL/_fake/reset-requests" >/dev/null
    # One curl process: the marker request to the fake, then at once the webhook.
    out="$(curl -s -o /dev/null -w 'marker %{http_code}\n' "$FAKE_URL/bench-marker/$i" \
        --next -s -o "$WORK/resp.txt" -w 'hook %{http_code} %{time_total}\n' -X POST "$HOOK_URL" \
        -H 'Content-Type: application/json' -H 'X-GitHub-Event: push' -H "X-GitHub-Delivery: apply-$i-$RANDOM$RANDOM" \
        -H "X-Hub-Signature-256: $(sign "$body")" --data-binary @"$body")"
    hook_code="$(awk '$1 == "hook" {print $2}' <<<"$out")"
    hook_secs="$(awk '$1 == "hook" {print $3}' <<<"$out")"
    [[ "$hook_code" == 202 ]] || die "push-to-apply $i: the webhook got $hook_code: $(cat "$WORK/resp.txt")"
    reqs="$OUT/webhook-apply-$i.requests.json"
    applied() {
        curl -s "$FAKE_URL/_fake/requests" >"$reqs"
        jq -e 'any(.[]; .method == "PATCH" and (.path | endswith("/namespaces/shop/deployments/web")) and (.dry_run | not))' "$reqs" >/dev/null
    }
    wait_until "push-to-apply $i: the apply of example/web:$tag" 30 applied
    wait_until "push-to-apply $i: example/web:$tag in the fake" 30 image_is "example/web:$tag"
    wait_until "push-to-apply $i: dev Synced" 30 synced_at "$HEAD"
    curl -s "$FAKE_URL/_fake/requests" >"$reqs"
    jq -r --arg i "$i" --arg hook "$hook_secs" '
        (map(select(.path == "/bench-marker/" + $i)) | first | .micros) as $m
        | (map(select(.micros >= $m and (.path | startswith("/bench-marker/") | not) and (.path | contains("/leases") | not))) | first | .micros) as $first
        | (map(select(.method == "PATCH" and (.path | endswith("/namespaces/shop/deployments/web")) and (.dry_run | not))) | first | .micros) as $apply
        | (map(select(.method == "PATCH" and (.path | endswith("/configmaps/tidegate-dev-web")) and (.dry_run | not))) | last | .micros) as $inv
        | [$i, (($first - $m) / 1000), (($apply - $m) / 1000), ($hook | tonumber * 1000), (if $inv then ($inv - $m) / 1000 else -1 end)] | @tsv' "$reqs" >>"$APPLY"
    tail -n 1 "$APPLY" | awk -F'\t' -v tag="$tag" '{ printf "   %d: example/web:%s: webhook answered in %.2f ms; first API request after %.1f ms; first apply after %.1f ms; inventory written after %.1f ms\n", $1, tag, $4, $2, $3, $5 }' >&2
done

# --- results ---------------------------------------------------------------------------------------
python3 - "$ROWS" "$SWEEP_ROWS" "$APPLY" "$RESULTS" "$MACHINE" "$TG_VERSION ($TG_COMMIT)" "$WRK_VERSION" "$THREADS" "$CONNECTIONS" \
    "$DURATION" "$READY_DELAY_MS" "$(wc -c <"$WORK/body-other-branch.json")" "$TARGET_RPS" "$TARGET_P99_MS" "$TARGET_APPLY_MS" \
    "$FAILED" "$SWEEP_DURATION" "$LOAD_BEFORE" "$(cut -d' ' -f1-3 /proc/loadavg)" <<'PY'
import statistics, sys, datetime
(rows_f, sweep_f, apply_f, results, machine, version, wrk_version, threads, conns, duration, ready_delay, body_bytes,
 target_rps, target_p99, target_apply, failed, sweep_duration, load_before, load_after) = sys.argv[1:]
target_rps, target_p99, target_apply = int(target_rps), float(target_p99), float(target_apply)
ok = not failed.strip()
out = []
out.append(f"Date: {datetime.datetime.now(datetime.timezone.utc):%Y-%m-%d %H:%M} UTC. Machine: {machine}. tidegate {version}; {wrk_version}.")
out.append(f"Load average (1, 5, 15 min) before: {load_before}; after: {load_after}.")
out.append(f"wrk -t{threads} -c{conns} -d{duration} --latency, {body_bytes}-byte signed push body; the fake's rollout delay {ready_delay} ms.")
out.append("")
out.append("| run | ref | connection | CPUs | deliveries/s | p50 | p90 | p99 | p99.9 | max | wrk errors | server counted | server CPU (per delivery) | wrk CPU | other CPU | reconciles / fetches / writes | check |")
out.append("|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---|---|")
for line in open(rows_f):
    (slug, ref, close, pin, reqs, dur, p50, p90, p99, p999, mx, errs, outcome, counted, others, cpu, work, check, wrk_cpu, other_cpu, _conns, _threads) = line.rstrip("\n").split("\t")
    rps = int(reqs) / (int(dur) / 1e6)
    ms = lambda us: f"{int(us) / 1000:.2f} ms"
    cpus = "server CPU 0, wrk (-t1) CPU 1" if pin == "1" else "shared"
    per = float(cpu) * 1e6 / max(int(counted), 1)
    out.append(f"| {slug} | `{ref}` | {'close' if close == '1' else 'keep-alive'} | {cpus} | {rps:,.0f} | {ms(p50)} | {ms(p90)} | {ms(p99)} | {ms(p999)} | {ms(mx)} | {errs} "
               f"| {int(counted):,} {outcome}, {others} other | {cpu} s ({per:.0f} µs) | {wrk_cpu} s | {other_cpu} s | {work} | {check} |")
    if slug == "other-branch":
        met = rps >= target_rps and int(p99) / 1000 < target_p99
        ok = ok and met
        out.append(f"|  | target: ≥ {target_rps:,}/s, p99 < {target_p99:g} ms | | | {'met' if rps >= target_rps else 'MISSED'} | | | {'met' if int(p99) / 1000 < target_p99 else 'MISSED'} |" + " |" * 9)
out.append("")
sweep = [l.rstrip("\n").split("\t") for l in open(sweep_f)]
if sweep:
    out.append("Latency vs concurrency (other branch, keep-alive, shared CPUs; wrk -d" + sweep_duration + " per point):")
    out.append("")
    out.append("| connections | wrk threads | deliveries/s | p50 | p90 | p99 | p99.9 | server CPU per delivery | wrk CPU | other CPU | check |")
    out.append("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in sweep:
        rps = int(r[4]) / (int(r[5]) / 1e6)
        per = float(r[15]) * 1e6 / max(int(r[13]), 1)
        out.append(f"| {r[20]} | {r[21]} | {rps:,.0f} | {int(r[6]) / 1000:.2f} ms | {int(r[7]) / 1000:.2f} ms | {int(r[8]) / 1000:.2f} ms "
                   f"| {int(r[9]) / 1000:.2f} ms | {per:.0f} µs | {r[18]} s | {r[19]} s | {r[17]} |")
    out.append("")
rows = [l.rstrip("\n").split("\t") for l in open(apply_f)]
first = [float(r[1]) for r in rows]
apply = [float(r[2]) for r in rows]
hook = [float(r[3]) for r in rows]
done = [float(r[4]) for r in rows if float(r[4]) >= 0]
def mmm(xs):
    return f"{min(xs):.1f} ms | {statistics.median(xs):.1f} ms | {max(xs):.1f} ms"
out.append(f"Push-to-apply, {len(rows)} pushes (alternating tags):")
out.append("")
out.append("| measure | min | median | max |")
out.append("|---|---:|---:|---:|")
out.append(f"| webhook answered (curl, incl. connect) | {mmm(hook)} |")
out.append(f"| push → first API request of the reconcile (after fetch + render) | {mmm(first)} |")
out.append(f"| **push → first apply** (non-dry-run PATCH of the Deployment) | {mmm(apply)} |")
if done:
    out.append(f"| push → reconcile done (inventory ConfigMap written after the rollout wait) | {mmm(done)} |")
out.append("| Argo CD default 3-minute poll, no webhook (stated, not measured) | 0 s | 90 s | 180 s |")
met = max(apply) < target_apply
ok = ok and met
out.append(f"| target: < {target_apply / 1000:g} s | | | {'met' if met else 'MISSED'} |")
text = "\n".join(out) + "\n"
open(results, "w").write(text)
print(text)
sys.exit(0 if ok else 1)
PY
