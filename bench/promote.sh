#!/usr/bin/env bash
# Promotion benchmark for `tidegate serve`, on loopback, with the real release binaries:
# how long from a webhook to the promotion pull request on (fake) GitHub, and how many GitHub
# API requests each promotion costs.
#
#   bench/promote.sh
#
# Set-up: a bare git repository (origin.git) with two apps, `web` and `api` (one Deployment
# each, namespace shop), environments dev and qa, and apps-of-apps/promotion.yaml: qa is
# `manual` for web (a person comments `/promote web to qa`) and `auto` for api, soak 0, no
# Prometheus queries, no windows (the other gates — the source synced and healthy at the
# promoted images, the step in the pipeline — still run). A work clone plays CI: it commits a
# new tag to the dev overlay and pushes. The fakes share origin.git: fake-kube
# (crates/fake-kube, --ready-delay-ms READY_DELAY_MS) is dev's cluster, and fake-github
# (crates/fake-github) serves it as acme/gitops (token auth; `alice` has `write`), with its
# read-only control port (--control) for the request log. `tidegate serve` tracks origin.git
# (TIDEGATE_REPO), reconciles dev only, pollInterval 1h (webhooks only), and talks to the fake
# GitHub (TIDEGATE_GITHUB_API_URL, GITHUB_TOKEN, TIDEGATE_GITHUB_REPOSITORY).
#
# bench/promote_driver.py then, RUNS times each:
# 1. /promote → PR: (fresh) CI pins web 1.i.0 in dev and a push webhook is sent; once dev shows
#    web healthy at it, a comment `/promote web to qa` is created on a discussion pull request
#    through the API and the signed issue_comment delivery (author alice) is sent; measured
#    until the fake answered `POST /pulls` and the reply comment. (update) the same with 1.i.1
#    while that pull request is open: until `PATCH git/refs/heads/tidegate/promote/web/qa`.
#    (unchanged) the same comment again with nothing new. Then the PR is merged through the
#    API (squash), its branch deleted and the pull_request `closed` (merged) delivery sent, so
#    that the next run is fresh again.
# 2. push → PR: (fresh) CI pins api 2.i.0 in dev, then a marker request to fake-kube and the
#    signed push delivery; measured until `POST /pulls` (tidegate fetches, reconciles dev — the
#    apply and the health wait on the simulated rollout — then evaluates and opens the PR).
#    (update) api 2.i.1 with the PR open: until `PATCH git/refs`. (unchanged) the same push
#    delivery again. Then merged as above.
# Every request the fake received between the delivery and quiet (0.6 s without a request) is
# counted, split into the promotion's own calls and the /promote overhead (reaction, permission
# check, reply comment), reads and writes.
#
# Targets (from the issue): webhook → PR under 2 s excluding soak and query intervals; at most
# 6 API calls for a fresh promotion.
#
# Environment:
#   RUNS=N            repetitions of each case (default 5)
#   READY_DELAY_MS=D  fake-kube's simulated rollout time (default 20 ms, as bench/webhook.sh)
#   LATENCY_MS=L      the fake GitHub delays every answer by L ms (default 0: loopback), to play a
#                     remote GitHub's round trip; the driver's own set-up calls are delayed too
#   SERVE_LOG=FILTER  RUST_LOG of tidegate serve (default warn,tidegate=info; tidegate=debug traces
#                     every GitHub call, at some cost)
#   SKIP_BUILD=1      do not run `cargo build --release --workspace`
#   KEEP=1            keep the temporary directory
#
# Writes (bench/out is gitignored): bench/out/promote-results.{md,json} (tables, per-step
# figures), bench/out/promote-steps.json (every step with the fake's request log) — with
# LATENCY_MS, bench/out/promote-latency<L>ms-{results.md,results.json,steps.json} —
# bench/out/promote-serve.err, promote-{kube,github}.{out,err}.
#
# Exit status: 0 every step ran and both targets were met; 1 a step failed; 2 bad usage or a
# missing prerequisite; 3 a target was missed. Not a test: CI never runs it.
set -euo pipefail

RUNS="${RUNS:-5}"
READY_DELAY_MS="${READY_DELAY_MS:-20}"
LATENCY_MS="${LATENCY_MS:-0}"
SERVE_LOG="${SERVE_LOG:-warn,tidegate=info}"
[[ $# -eq 0 ]] || { sed -n '2,/^set -euo pipefail/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
for v in RUNS READY_DELAY_MS LATENCY_MS; do
    case "${!v}" in '' | *[!0-9]*) echo "error: $v must be a non-negative integer" >&2; exit 2 ;; esac
done
((RUNS > 0)) || { echo "error: RUNS must be at least 1" >&2; exit 2; }

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/bench/out"
PREFIX="promote"
TARGET_DIR="${CARGO_TARGET_DIR:-$ROOT/target}"
TG="$TARGET_DIR/release/tidegate"
KUBE="$TARGET_DIR/release/fake-kube"
GHB="$TARGET_DIR/release/fake-github"
for tool in curl git jq python3 od; do
    command -v "$tool" >/dev/null || { echo "error: $tool is needed" >&2; exit 2; }
done

mkdir -p "$OUT"
if [[ -z "${SKIP_BUILD:-}" ]]; then
    echo "== cargo build --release --workspace" >&2
    (cd "$ROOT" && cargo build --release --workspace --quiet)
fi
for b in "$TG" "$KUBE" "$GHB"; do
    [[ -x "$b" ]] || { echo "error: $b missing (cargo build --release --workspace)" >&2; exit 2; }
done
"$GHB" --help | grep -q -- --latency-ms || { echo "error: $GHB has no --control (rebuild it)" >&2; exit 2; }

# --- machine -------------------------------------------------------------------------------------
CPU_MODEL="$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
MACHINE="$(nproc) CPUs ($CPU_MODEL), $(awk '/MemTotal/ {printf "%.0f GiB RAM", $2/1048576}' /proc/meminfo), $(uname -sr)"
TG_VERSION="$("$TG" --version | awk '{print $2}')"
TG_COMMIT="$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo '?')"
[[ -z "$(git -C "$ROOT" status --porcelain -- src crates Cargo.toml Cargo.lock 2>/dev/null)" ]] || TG_COMMIT="$TG_COMMIT + uncommitted changes"
[[ -z "${SKIP_BUILD:-}" ]] || TG_COMMIT="binary built $(date -u -r "$TG" '+%Y-%m-%d %H:%M UTC'); tree at $TG_COMMIT"
LOAD_BEFORE="$(cut -d' ' -f1-3 /proc/loadavg)"
STARTED="$(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $MACHINE; tidegate $TG_VERSION ($TG_COMMIT); load $LOAD_BEFORE" >&2

# --- processes and clean-up ----------------------------------------------------------------------
WORK="$(mktemp -d "${TMPDIR:-/tmp}/tidegate-promote-bench.XXXXXX")"
KUBE_PID=""
GH_PID=""
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
    stop "$GH_PID"
    stop "$KUBE_PID"
    if [[ -n "${KEEP:-}" ]]; then echo "kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
die() { echo "error: $*" >&2; exit 1; }
wait_until() { # wait_until WHAT SECONDS COMMAND...
    local what="$1" secs="$2"
    shift 2
    local deadline=$((SECONDS + secs))
    until "$@"; do
        ((SECONDS < deadline)) || die "timed out after ${secs} s waiting for $what"
        [[ -z "$TG_PID" ]] || kill -0 "$TG_PID" 2>/dev/null || { tail -n 20 "$OUT/promote-serve.err" >&2; die "tidegate serve exited"; }
        sleep 0.05
    done
}

# --- the repository --------------------------------------------------------------------------------
ORIGIN="$WORK/origin.git"
WT="$WORK/ci"
git_c() { git -C "$WT" -c user.name=ci -c user.email=ci@example.com -c commit.gpgsign=false "$@"; }
wfile() { mkdir -p "$(dirname "$WT/$1")"; printf '%b' "$2" >"$WT/$1"; }
git init -q --bare -b main "$ORIGIN"
git init -q -b main "$WT"
wfile apps-of-apps/root.yaml 'apiVersion: tidegate.dev/v1alpha1\nkind: Root\nmetadata: {name: bench}\nspec:\n  environments: [{name: dev}, {name: qa}]\n  waves: [{name: business}]\n'
wfile apps-of-apps/promotion.yaml 'apiVersion: tidegate.dev/v1alpha1\nkind: PromotionPolicy\nmetadata: {name: bench}\nspec:\n  pipeline: [dev, qa]\n  labels: [tidegate/promotion]\n  environments:\n    qa: {mode: manual, soak: 0s, permission: write}\n  apps:\n    api:\n      environments:\n        qa: {mode: auto}\n'
for app in web api; do
    wfile "apps-of-apps/$app/app.yaml" "apiVersion: tidegate.dev/v1alpha1\nkind: App\nmetadata: {name: $app}\nspec:\n  wave: business\n  namespace: shop\n"
    wfile "apps-of-apps/$app/base/kustomization.yaml" 'resources: [all.yaml]\n'
    wfile "apps-of-apps/$app/base/all.yaml" "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: $app}\nspec:\n  selector: {matchLabels: {app: $app}}\n  template:\n    metadata: {labels: {app: $app}}\n    spec:\n      containers: [{name: $app, image: example/$app:1.0.0}]\n"
    for env in dev qa; do
        wfile "overlays/$env/$app/kustomization.yaml" "resources: [../../../apps-of-apps/$app/base]\nimages:\n- name: example/$app\n  newTag: \"1.0.0\"\n"
    done
done
git_c add -A
git_c commit -qm first
git_c remote add origin "$ORIGIN"
git_c push -q origin main
# A branch for the pull request the /promote comments are written on.
git_c checkout -q -b bench/notes
wfile NOTES.md '# Release notes\n'
git_c add NOTES.md
git_c commit -qm notes
git_c push -q origin bench/notes
git_c checkout -q main
"$TG" check --repo "$WT" >/dev/null 2>"$WORK/check.err" || { cat "$WORK/check.err" >&2; die "tidegate check refused the bench repository"; }

# --- fake-kube and fake-github ---------------------------------------------------------------------
KC="$WORK/kubeconfig"
"$KUBE" --listen 127.0.0.1:0 --kubeconfig "$KC" --ready-delay-ms "$READY_DELAY_MS" \
    >"$OUT/promote-kube.out" 2>"$OUT/promote-kube.err" &
KUBE_PID=$!
TOKEN="ghp_bench$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
"$GHB" --listen 127.0.0.1:0 --control 127.0.0.1:0 --repo "acme/gitops=$ORIGIN" --token "$TOKEN" --latency-ms "$LATENCY_MS" \
    --user tidegate-bot --collaborator acme/gitops:alice=write \
    >"$OUT/promote-github.out" 2>"$OUT/promote-github.err" &
GH_PID=$!
KUBE_URL=""
GH_URL=""
CTL_URL=""
fakes_listening() {
    kill -0 "$KUBE_PID" 2>/dev/null || { cat "$OUT/promote-kube.err" >&2; die "fake-kube exited"; }
    kill -0 "$GH_PID" 2>/dev/null || { cat "$OUT/promote-github.err" >&2; die "fake-github exited"; }
    KUBE_URL="$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$OUT/promote-kube.out" | head -n 1)"
    GH_URL="$(sed -n 's/^listening on \(http:[^ ]*\).*/\1/p' "$OUT/promote-github.out" | head -n 1)"
    CTL_URL="$(sed -n 's/^control on \(http:[^ ]*\).*/\1/p' "$OUT/promote-github.out" | head -n 1)"
    [[ -n "$KUBE_URL" && -n "$GH_URL" && -n "$CTL_URL" && -s "$KC" ]]
}
wait_until "the fakes to listen" 30 fakes_listening
echo "== fake-kube $KUBE_URL (pid $KUBE_PID); fake-github $GH_URL, control $CTL_URL (pid $GH_PID)" >&2

# --- tidegate serve ------------------------------------------------------------------------------
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
TG_URL="http://127.0.0.1:$PORT"
SECRET="bench-promote-secret-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
printf 'pollInterval: 1h\nenvironments:\n- {name: dev, waveTimeout: 30s}\ngithub:\n  botLogin: tidegate-bot\n' >"$WORK/tidegate.yaml"
env TIDEGATE_LISTEN="127.0.0.1:$PORT" TIDEGATE_WEBHOOK_SECRET="$SECRET" TIDEGATE_REPO="$ORIGIN" \
    TIDEGATE_BRANCH=main TIDEGATE_DATA_DIR="$WORK/data" KUBECONFIG="$KC" RUST_LOG="$SERVE_LOG" \
    TIDEGATE_GITHUB_API_URL="$GH_URL" GITHUB_TOKEN="$TOKEN" TIDEGATE_GITHUB_REPOSITORY=acme/gitops \
    "$TG" serve --config "$WORK/tidegate.yaml" >/dev/null 2>"$OUT/promote-serve.err" &
TG_PID=$!
ready() { [[ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$TG_URL/readyz")" == 200 ]]; }
HEAD="$(git -C "$WT" rev-parse main)"
first_sync() {
    curl -s --max-time 5 "$TG_URL/api/v1/status" |
        jq -e --arg c "$HEAD" '.environments.dev.state == "Synced" and .source.commit == $c' >/dev/null 2>&1
}
wait_until "/readyz" 30 ready
wait_until "dev Synced at the first commit" 60 first_sync
echo "== tidegate serve $TG_URL (pid $TG_PID)" >&2

# --- the measurements --------------------------------------------------------------------------------
((LATENCY_MS == 0)) || PREFIX="promote-latency${LATENCY_MS}ms"
set +e
env OUT="$OUT" PREFIX="$PREFIX" RUNS="$RUNS" SECRET="$SECRET" TOKEN="$TOKEN" GH_REPO=acme/gitops TG_URL="$TG_URL" GH_URL="$GH_URL" \
    CTL_URL="$CTL_URL" KUBE_URL="$KUBE_URL" WORKTREE="$WT" PROMOTER=alice DISCUSSION_BRANCH=bench/notes \
    TG_PID="$TG_PID" python3 "$ROOT/bench/promote_driver.py" >"$WORK/tables.md"
rc=$?
set -e
LOAD_AFTER="$(cut -d' ' -f1-3 /proc/loadavg)"
((rc == 0 || rc == 3)) || { tail -n 30 "$OUT/promote-serve.err" >&2; die "the driver failed (exit $rc)"; }
{
    echo "# Promotion benchmark — $STARTED"
    echo
    echo "Machine: $MACHINE. tidegate $TG_VERSION ($TG_COMMIT). Load average before $LOAD_BEFORE, after $LOAD_AFTER."
    echo "fake-kube --ready-delay-ms $READY_DELAY_MS; fake-github --latency-ms $LATENCY_MS; tidegate RUST_LOG=$SERVE_LOG."
    echo
    cat "$WORK/tables.md"
} >"$OUT/$PREFIX-results.md"
cat "$OUT/$PREFIX-results.md"
if grep -q 'ERROR\|panicked' "$OUT/promote-serve.err"; then
    echo "note: tidegate serve logged errors (bench/out/promote-serve.err)" >&2
fi
exit "$rc"
