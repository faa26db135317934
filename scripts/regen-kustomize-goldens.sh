#!/usr/bin/env bash
# Regenerate the kustomize golden files used by tidegate's tests.
#
#   scripts/regen-kustomize-goldens.sh [EXTRA_DIR...]
#
# Section 1: tests/kustomize/cases/<name>/   -> tests/kustomize/golden/<name>.yaml
#            (stdout of `kubectl kustomize`, byte for byte; stderr warnings are dropped)
# Section 2: tests/kustomize/errors/<name>/  -> tests/kustomize/errors/<name>.kustomize.txt
#            (kustomize's stderr when it refuses the case, with the klog prefix and the
#            repository's absolute path removed; its stdout when the case is valid in
#            kustomize and only tidegate refuses it, which the .expect file must declare
#            on its first line with "# valid in kustomize; tidegate refuses it as unsupported")
# Section 3: every directory holding a kustomization.yaml under apps-of-apps/ and overlays/
#            (those that exist) and under each EXTRA_DIR given on the command line
#            (relative to the repository root)
#            -> tests/kustomize/golden-example/<path with / replaced by __>.yaml
#
# Files are only rewritten when their content changes, so running the script twice
# changes nothing. Goldens whose case directory is gone are deleted.
#
# Environment:
#   KUBECTL                        kubectl binary to use (default: kubectl)
#   EXPECTED_KUSTOMIZE_VERSION     kustomize version the goldens are made with (default: v5.5.0)
#   ALLOW_KUSTOMIZE_VERSION_MISMATCH=1   proceed with another kustomize version
set -euo pipefail
export LC_ALL=C

KUBECTL=${KUBECTL:-kubectl}
EXPECTED_KUSTOMIZE_VERSION=${EXPECTED_KUSTOMIZE_VERSION:-v5.5.0}
VALID_MARKER='# valid in kustomize; tidegate refuses it as unsupported'

case "${1:-}" in
  -h|--help)
    sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
    exit 0
    ;;
esac

ROOT_LOGICAL=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ROOT=$(cd "$ROOT_LOGICAL" && pwd -P)
cd "$ROOT"

KDIR=tests/kustomize
CASES=$KDIR/cases
GOLDEN=$KDIR/golden
ERRORS=$KDIR/errors
GOLDEN_EXAMPLE=$KDIR/golden-example

if ! command -v "$KUBECTL" >/dev/null 2>&1; then
  echo "error: '$KUBECTL' not found; kubectl with kustomize $EXPECTED_KUSTOMIZE_VERSION is required" >&2
  exit 2
fi
kustomize_version=$("$KUBECTL" version --client 2>/dev/null | sed -n 's/^Kustomize Version: *//p')
if [[ "$kustomize_version" != "$EXPECTED_KUSTOMIZE_VERSION" ]]; then
  if [[ "${ALLOW_KUSTOMIZE_VERSION_MISMATCH:-}" == 1 ]]; then
    echo "warning: kustomize is '${kustomize_version:-unknown}', goldens are meant for $EXPECTED_KUSTOMIZE_VERSION" >&2
  else
    echo "error: kustomize is '${kustomize_version:-unknown}', expected $EXPECTED_KUSTOMIZE_VERSION" >&2
    echo "       (set ALLOW_KUSTOMIZE_VERSION_MISMATCH=1 to proceed anyway)" >&2
    exit 2
  fi
fi

TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT

failures=()
n_new=0 n_updated=0 n_unchanged=0 n_removed=0

# install SRC DEST: move SRC to DEST only when the content differs
install_if_changed() {
  local src=$1 dest=$2
  if [[ -f "$dest" ]] && cmp -s "$src" "$dest"; then
    n_unchanged=$((n_unchanged + 1))
    rm -f "$src"
  else
    if [[ -f "$dest" ]]; then
      n_updated=$((n_updated + 1))
      echo "  updated $dest"
    else
      n_new=$((n_new + 1))
      echo "  new     $dest"
    fi
    mkdir -p "$(dirname "$dest")"
    mv "$src" "$dest"
  fi
}

remove_stale() {
  local f=$1
  rm -f "$f"
  n_removed=$((n_removed + 1))
  echo "  removed $f (its source is gone)"
}

# Make kustomize's stderr stable: drop the klog header (date, time, pid) and the
# absolute path of the repository.
normalize_stderr() {
  sed -E \
    -e 's/^[IWEF][0-9]{4} [0-9:.]+ +[0-9]+ [^ ]+:[0-9]+\] //' \
    -e "s#${ROOT}/##g" \
    -e "s#${ROOT_LOGICAL}/##g" \
    -e "s#${ROOT}#.#g" \
    -e "s#${ROOT_LOGICAL}#.#g"
}

# ---------------------------------------------------------------- 1. success cases
echo "== success cases ($CASES)"
mkdir -p "$GOLDEN"
n_cases=0
for dir in "$CASES"/*/; do
  [[ -d "$dir" ]] || continue
  name=$(basename "$dir")
  n_cases=$((n_cases + 1))
  if [[ ! -f "$dir/kustomization.yaml" ]]; then
    failures+=("case $name: no kustomization.yaml")
    continue
  fi
  if "$KUBECTL" kustomize "$CASES/$name" >"$TMP/out" 2>"$TMP/err"; then
    install_if_changed "$TMP/out" "$GOLDEN/$name.yaml"
  else
    failures+=("case $name: kustomize failed: $(normalize_stderr <"$TMP/err" | tr '\n' ' ')")
  fi
done
for golden in "$GOLDEN"/*.yaml; do
  [[ -f "$golden" ]] || continue
  [[ -d "$CASES/$(basename "$golden" .yaml)" ]] || remove_stale "$golden"
done

# ---------------------------------------------------------------- 2. error cases
echo "== error cases ($ERRORS)"
n_errors=0 n_errors_valid=0
for dir in "$ERRORS"/*/; do
  [[ -d "$dir" ]] || continue
  name=$(basename "$dir")
  n_errors=$((n_errors + 1))
  expect="$ERRORS/$name.expect"
  if [[ ! -f "$expect" ]]; then
    failures+=("error case $name: missing $expect")
    continue
  fi
  if ! grep -v '^#' "$expect" | grep -q '[^[:space:]]'; then
    failures+=("error case $name: $expect lists no expected substring")
  fi
  marked_valid=0
  [[ "$(head -n 1 "$expect")" == "$VALID_MARKER" ]] && marked_valid=1
  if "$KUBECTL" kustomize "$ERRORS/$name" >"$TMP/out" 2>"$TMP/err"; then
    n_errors_valid=$((n_errors_valid + 1))
    if [[ $marked_valid == 0 ]]; then
      failures+=("error case $name: kustomize accepts it, but $expect does not start with '$VALID_MARKER'")
    fi
    install_if_changed "$TMP/out" "$ERRORS/$name.kustomize.txt"
  else
    if [[ $marked_valid == 1 ]]; then
      failures+=("error case $name: $expect says it is valid in kustomize, but kustomize refuses it")
    fi
    normalize_stderr <"$TMP/err" >"$TMP/norm"
    install_if_changed "$TMP/norm" "$ERRORS/$name.kustomize.txt"
  fi
done
for f in "$ERRORS"/*.kustomize.txt "$ERRORS"/*.expect; do
  [[ -f "$f" ]] || continue
  base=$(basename "$f")
  base=${base%.kustomize.txt}
  base=${base%.expect}
  [[ -d "$ERRORS/$base" ]] || remove_stale "$f"
done

# ---------------------------------------------------------------- 3. example tree
roots=()
for r in apps-of-apps overlays; do
  [[ -d "$r" ]] && roots+=("$r")
done
for r in "$@"; do
  r=${r%/}
  r=${r#"$ROOT/"}
  r=${r#"$ROOT_LOGICAL/"}
  r=${r#./}
  if [[ ! -d "$r" ]]; then
    failures+=("extra directory '$r' does not exist (paths are relative to the repository root)")
    continue
  fi
  roots+=("$r")
done

n_examples=0
if ((${#roots[@]} > 0)); then
  echo "== example tree (${roots[*]}) -> $GOLDEN_EXAMPLE"
  mkdir -p "$GOLDEN_EXAMPLE"
  while IFS= read -r kfile; do
    dir=$(dirname "$kfile")
    dir=${dir#./}
    out="$GOLDEN_EXAMPLE/${dir//\//__}.yaml"
    n_examples=$((n_examples + 1))
    if "$KUBECTL" kustomize "$dir" >"$TMP/out" 2>"$TMP/err"; then
      install_if_changed "$TMP/out" "$out"
    else
      failures+=("example $dir: kustomize failed: $(normalize_stderr <"$TMP/err" | tr '\n' ' ')")
    fi
  done < <(find "${roots[@]}" -type f -name kustomization.yaml | sort -u)
fi
if [[ -d "$GOLDEN_EXAMPLE" ]]; then
  for golden in "$GOLDEN_EXAMPLE"/*.yaml; do
    [[ -f "$golden" ]] || continue
    src=$(basename "$golden" .yaml)
    src=${src//__//}
    [[ -f "$src/kustomization.yaml" ]] || remove_stale "$golden"
  done
fi

# ---------------------------------------------------------------- summary
echo
echo "kustomize $kustomize_version"
echo "success cases:  $n_cases (goldens in $GOLDEN)"
echo "error cases:    $n_errors ($n_errors_valid valid in kustomize, $((n_errors - n_errors_valid)) refused by kustomize)"
echo "example dirs:   $n_examples"
echo "files: $n_new new, $n_updated updated, $n_unchanged unchanged, $n_removed removed"
if ((${#failures[@]} > 0)); then
  echo
  echo "FAILED (${#failures[@]}):" >&2
  for f in "${failures[@]}"; do
    echo "  - $f" >&2
  done
  exit 1
fi
echo "OK"
