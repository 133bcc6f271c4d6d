#!/usr/bin/env bash
# The whole test suite, runnable on a fresh machine with only Rust and Python:
# installs the Python tools into .venv, starts moto (the AWS emulator) on
# 127.0.0.1, runs formatting, lints, unit/integration tests, docs and the
# Lambda end-to-end test under cargo lambda, and stops moto at the end.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD

step() { printf '\n==> %s\n' "$*"; }

# A build of the suite from empty writes about 8 GB (BENCHMARKS.md, "Disk and
# time of the whole suite"); say so up front rather than fail at a link step.
target_dir="${CARGO_TARGET_DIR:-$root/target}"
mkdir -p "$target_dir"
free_kb=$(df -Pk "$target_dir" | awk 'NR == 2 { print $4 }')
if [ "${free_kb:-0}" -lt $((10 * 1024 * 1024)) ]; then
  echo "warning: $((free_kb / 1024)) MB free under $target_dir; a build from empty needs about 8 GB." \
    "Free some space (for example: cargo clean) or point CARGO_TARGET_DIR elsewhere." >&2
fi

step "Python tools (.venv)"
if [ ! -x .venv/bin/python ]; then python3 -m venv .venv; fi
.venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-test.txt
export PATH="$root/.venv/bin:$PATH"
# checkov pins boto3 below what moto needs, so it gets a venv of its own.
if [ ! -x .venv-checkov/bin/python ]; then python3 -m venv .venv-checkov; fi
.venv-checkov/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements-checkov.txt

step "moto server on 127.0.0.1 (scripts/moto_server.py: requests handled one at a time, as DynamoDB's conditional writes are atomic)"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
moto_log=$(mktemp)
python scripts/moto_server.py 127.0.0.1 "$port" >"$moto_log" 2>&1 &
moto_pid=$!
stop_moto() { kill "$moto_pid" 2>/dev/null || true; wait "$moto_pid" 2>/dev/null || true; rm -f "$moto_log"; }
trap stop_moto EXIT
for _ in $(seq 1 120); do
  if python3 -c "import urllib.request,sys; urllib.request.urlopen('http://127.0.0.1:$port/moto-api/', timeout=1)" 2>/dev/null; then break; fi
  if ! kill -0 "$moto_pid" 2>/dev/null; then cat "$moto_log"; echo "the moto server exited"; exit 1; fi
  sleep 0.5
done
export PUMPGUARD_TEST_MOTO="http://127.0.0.1:$port"
# The SDK must never fall through to instance metadata in tests.
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy (warnings are errors)"
# --all-features: the Custom SMS Sender (feature `sender` of pumpguard-trigger) too.
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings

step "the engine and the WAF definitions link no runtime, no AWS SDK and no Lambda runtime"
for crate in pumpguard-engine pumpguard-waf; do
  if cargo tree -p "$crate" -e normal --locked | grep -E 'aws-sdk-|lambda_runtime|tokio'; then
    echo "$crate must not depend on the crates above (see ARCHITECTURE.md)"; exit 1
  fi
done

step "cargo test"
cargo test --workspace --all-features --locked

step "cargo doc"
RUSTDOCFLAGS="-D warnings" cargo doc --workspace --all-features --no-deps --locked --quiet

step "cfn-lint cloudformation/template.yaml"
cfn-lint cloudformation/template.yaml

step "checkov (CloudFormation security checks; each skip is justified in the template)"
# --skip-download: no calls to the vendor's platform; the checks ship with the package.
.venv-checkov/bin/checkov -f cloudformation/template.yaml --framework cloudformation \
  --quiet --compact --skip-download

step "Lambda zip (scripts/package.sh)"
zip=$(scripts/package.sh --policy examples/policy.toml)
python3 - "$zip" <<'PY'
import stat, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
names = {i.filename: i for i in z.infolist()}
assert set(names) == {"bootstrap", "policy.toml"}, sorted(names)
assert stat.S_IMODE(names["bootstrap"].external_attr >> 16) & 0o111, "bootstrap is not executable"
print(f"{sys.argv[1]}: bootstrap {names['bootstrap'].file_size} bytes, policy.toml; zip {sum(i.compress_size for i in z.infolist())} bytes")
PY

step "Lambda end to end (cargo lambda watch / invoke)"
scripts/lambda-e2e.sh

step "Custom SMS Sender end to end (cargo lambda watch / invoke; KMS, SNS, DynamoDB on moto)"
scripts/sender-e2e.sh

step "HTML reports in headless Chromium (replay --report, simulate --report)"
scripts/report-check.sh

step "done"
du -sh "$target_dir" | awk '{ print "build output: " $1 " in " $2 }'
