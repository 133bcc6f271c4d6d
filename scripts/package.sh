#!/usr/bin/env bash
# Builds the trigger's Lambda zip for provided.al2023:
#   scripts/package.sh [--arm64] [--policy FILE]
# The zip holds `bootstrap` and, with --policy, that policy as `policy.toml`
# (the bootstrap policy; checked first, so a broken one is never packaged).
# Needs cargo-lambda and ziglang (pip install cargo-lambda ziglang; the .venv
# that scripts/test.sh makes has both). arm64 needs the aarch64 Rust target.
# Prints the zip's path.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -x .venv/bin/cargo-lambda ]; then export PATH="$PWD/.venv/bin:$PATH"; fi

arch_flag=()
policy=""
while [ $# -gt 0 ]; do
  case "$1" in
    --arm64) arch_flag=(--arm64); shift ;;
    --policy) policy="$2"; shift 2 ;;
    *) echo "usage: scripts/package.sh [--arm64] [--policy FILE]" >&2; exit 2 ;;
  esac
done

if [ -n "$policy" ]; then
  cargo run --quiet -p pumpguard-cli -- check --policy "$policy" >&2
fi

cargo lambda build --release -p pumpguard-trigger --bin bootstrap --output-format zip \
  "${arch_flag[@]}" >&2
zip="${CARGO_TARGET_DIR:-target}/lambda/bootstrap/bootstrap.zip"
test -s "$zip"
if [ -n "$policy" ]; then
  # Beside bootstrap, where it looks for its bootstrap policy.
  python3 - "$zip" "$policy" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], "a", zipfile.ZIP_DEFLATED) as z:
    if "policy.toml" in z.namelist():
        sys.exit("the zip already holds a policy.toml")
    z.write(sys.argv[2], "policy.toml")
PY
fi
echo "$zip"
