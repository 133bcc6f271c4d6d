#!/usr/bin/env bash
# Runs the real `bootstrap` binary under cargo lambda's Lambda emulator, with
# its DynamoDB table in moto, and invokes it with the trigger fixtures: allow,
# block (country, number type, cooldown), pass-through of an unknown source, of
# an event without a phone number and of a verification trigger. A policy is
# published to the table first, so the run also proves the function reads it.
# Needs cargo-lambda and moto's Python packages on PATH and PUMPGUARD_TEST_MOTO
# (scripts/test.sh provides all three).
set -euo pipefail
cd "$(dirname "$0")/.."

fixtures=trigger/tests/fixtures
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$work/watch.log"
: "${PUMPGUARD_TEST_MOTO:?run this from scripts/test.sh, which starts moto}"
table="e2e-$$"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1

# The stack's table: pk/sk strings, TTL on expires_at.
python3 - "$PUMPGUARD_TEST_MOTO" "$table" <<'PY'
import sys, boto3
ddb = boto3.client("dynamodb", endpoint_url=sys.argv[1], region_name="us-east-1")
ddb.create_table(TableName=sys.argv[2], BillingMode="PAY_PER_REQUEST",
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}])
ddb.update_time_to_live(TableName=sys.argv[2],
    TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"})
PY

# Publish a policy that monitors Jamaica instead of blocking it (as unlisted).
sed 's/^monitor = \["MX"\]/monitor = ["MX", "JM"]/' examples/policy.toml >"$work/published.toml"
grep -q '"JM"' "$work/published.toml"
cargo run --quiet -p pumpguard-cli -- publish --policy "$work/published.toml" --table "$table" \
  --region us-east-1 --endpoint-url "$PUMPGUARD_TEST_MOTO"

cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$port" \
  -p pumpguard-trigger --bin bootstrap \
  --env-var PUMPGUARD_POLICY_FILE="$PWD/examples/policy.toml" \
  --env-var PUMPGUARD_PHONE_HASH_KEY=e2e-test-key-0123456789 \
  --env-var PUMPGUARD_TABLE="$table" \
  --env-var AWS_ENDPOINT_URL="$PUMPGUARD_TEST_MOTO" \
  --env-var AWS_ACCESS_KEY_ID=testing --env-var AWS_SECRET_ACCESS_KEY=e2e-aws-secret-key-Qm4 \
  --env-var AWS_REGION=us-east-1 --env-var AWS_EC2_METADATA_DISABLED=true \
  --env-var RUST_LOG=trace \
  >"$log" 2>&1 &
watch_pid=$!
cleanup() {
  kill "$watch_pid" 2>/dev/null || true
  pkill -P "$watch_pid" 2>/dev/null || true
  wait "$watch_pid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

for _ in $(seq 1 600); do
  if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  if ! kill -0 "$watch_pid" 2>/dev/null; then cat "$log"; echo "cargo lambda watch exited"; exit 1; fi
  sleep 0.5
done

passed=0
failed=0
invoke() { # fixture -> stdout in $work/out, stderr in $work/err, status in $rc
  set +e
  local file="$fixtures/$1"
  case "$1" in /*) file="$1" ;; esac
  cargo lambda invoke bootstrap -A 127.0.0.1 -P "$port" --data-file "$file" \
    >"$work/out" 2>"$work/err"
  rc=$?
  set -e
  cat "$work/err" >>"$work/errors.log"
}
ok() { passed=$((passed + 1)); echo "ok    $1"; }
fail() { failed=$((failed + 1)); echo "FAIL  $1"; sed 's/^/      /' "$work/out" "$work/err"; }
same_json() { python3 -c 'import json,sys; sys.exit(json.load(open(sys.argv[1])) != json.load(open(sys.argv[2])))' "$1" "$2"; }

expect_unchanged() {
  invoke "$1"
  if [ "$rc" -eq 0 ] && same_json "$work/out" "$fixtures/$1"; then ok "$1 -> returned unchanged"; else fail "$1 -> expected the event back unchanged"; fi
}
expect_blocked() {
  invoke "$1"
  if [ "$rc" -ne 0 ] && grep -q "SmsBlocked" "$work/err" && grep -q "$2" "$work/err"; then ok "$1 -> $2"; else fail "$1 -> expected $2"; fi
}

expect_unchanged signup-allow.json
# The same phone again at once: the cooldown, counted in the table.
expect_blocked signup-allow.json SMS_BLOCKED
# The bootstrap policy blocks Jamaica; the published one only monitors it.
expect_unchanged resend-block-jamaica.json
expect_blocked forgot-block-premium.json SMS_BLOCKED
expect_unchanged unknown-source.json
# A CustomMessage source this build does not know: judged by the static
# guards, never passed (a premium-rate number is refused; the fixture's
# Jamaican number is only monitored by the published policy).
sed 's/+18762101234/+19002345678/' "$fixtures/new-custom-message-source.json" >"$work/new-source-premium.json"
expect_blocked "$work/new-source-premium.json" SMS_BLOCKED
expect_unchanged custommessage-sample.json
expect_unchanged postconfirmation-sample.json

# One decision line per judged event, and never a phone number in the log.
decisions=$(grep -c '"message":"decision"' "$log" || true)
if [ "$decisions" -eq 5 ]; then ok "5 decision log lines"; else failed=$((failed + 1)); echo "FAIL  expected 5 decision log lines, got $decisions"; fi
emf=$(grep -c '"_aws":' "$log" || true)
if [ "$emf" -eq 6 ]; then ok "6 EMF metric lines (5 decisions, 1 verification)"; else failed=$((failed + 1)); echo "FAIL  expected 6 EMF lines, got $emf"; fi
if grep -q '"message":"published policy loaded"' "$log"; then ok "published policy loaded from the table"; else failed=$((failed + 1)); echo "FAIL  the function did not load the published policy"; fi
if grep -q '"store_error":true' "$log"; then failed=$((failed + 1)); echo "FAIL  a store error was logged"; grep store_error "$log" | head -3; else ok "no store errors"; fi
# No test number (trigger/tests/fixtures/test-phones.txt) in any format, and
# neither the phone-hash key nor the AWS secret key, in the function's log
# (decision lines, EMF lines, the runtime's own) or in the errors returned.
# The checker is checked first: it must catch planted leaks.
if python3 scripts/privacy_check.py --self-test >/dev/null; then ok "privacy checker catches planted leaks"; else failed=$((failed + 1)); echo "FAIL  privacy checker self-test"; fi
if python3 scripts/privacy_check.py --secret e2e-test-key-0123456789 --secret e2e-aws-secret-key-Qm4 \
  "$log" "$work/errors.log"; then
  ok "no phone number or secret in the function's log or errors"
else
  failed=$((failed + 1)); echo "FAIL  a phone number or a secret appears in the function's log or errors"
fi

echo "lambda-e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
