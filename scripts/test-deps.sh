#!/usr/bin/env bash
# Installs what the test suite needs beyond the Rust toolchain: git, OpenSSL headers, the
# pinned npm fixtures (GitHub's example webhook payloads), Debian's headless Chromium
# (status page test) and Debian's Prometheus (`prometheus` and `promtool`, for the Prometheus
# gate test). Idempotent; installs only what is missing. Used by the README's test command
# and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  if ((${#missing[@]})); then
    echo "==> installing ${missing[*]}"
    local sudo=()
    [ "$(id -u)" -eq 0 ] || sudo=(sudo)
    export DEBIAN_FRONTEND=noninteractive
    "${sudo[@]}" apt-get update -qq && "${sudo[@]}" apt-get install -y -qq "${missing[@]}"
  fi
}

need=(git pkg-config libssl-dev)
command -v npm >/dev/null 2>&1 || need+=(npm)
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v promtool >/dev/null 2>&1 || need+=(prometheus)
apt_install "${need[@]}"

if [ ! -d tests/fixtures/npm/node_modules/@octokit/webhooks-examples ]; then
  echo "==> test fixtures: npm ci --prefix tests/fixtures/npm"
  npm ci --prefix tests/fixtures/npm --no-audit --no-fund
fi
