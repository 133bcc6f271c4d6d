#!/usr/bin/env bash
# Runs the real `sender` binary under cargo lambda's Lambda emulator with
# KMS, SNS and DynamoDB in moto. Codes are encrypted as Cognito does
# (trigger/examples/cognito-encrypt.rs). End User Messaging, which moto does
# not serve, fails, so an allowed code goes out through the SNS fallback.
# Checks: an allowed code is sent (once, despite a duplicate), a refused one
# is dropped with success, a completion is answered, and no phone number,
# code or secret appears in the function's log or errors.
# Needs what scripts/lambda-e2e.sh needs (scripts/test.sh provides it).
set -euo pipefail
cd "$(dirname "$0")/.."

fixtures=trigger/tests/fixtures
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$work/watch.log"
: "${PUMPGUARD_TEST_MOTO:?run this from scripts/test.sh, which starts moto}"
table="sender-e2e-$$"
pool="us-east-1_SenderE2e"
export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_REGION=us-east-1 AWS_EC2_METADATA_DISABLED=true

key=$(python3 - "$PUMPGUARD_TEST_MOTO" "$table" <<'PY'
import sys, boto3
ddb = boto3.client("dynamodb", endpoint_url=sys.argv[1], region_name="us-east-1")
ddb.create_table(TableName=sys.argv[2], BillingMode="PAY_PER_REQUEST",
    KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
    AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}, {"AttributeName": "sk", "AttributeType": "S"}])
kms = boto3.client("kms", endpoint_url=sys.argv[1], region_name="us-east-1")
print(kms.create_key()["KeyMetadata"]["Arn"])
PY
)

encrypt() { # code -> base64 Encryption SDK message
  AWS_ENDPOINT_URL="$PUMPGUARD_TEST_MOTO" cargo run --quiet -p pumpguard-trigger --features sender \
    --example cognito-encrypt -- "$key" "$pool" "$1"
}
event() { # source phone code file
  python3 - "$@" "$pool" <<'PY'
import json, sys
source, phone, code, path, pool = sys.argv[1:]
json.dump({"version": "1", "triggerSource": source, "region": "us-east-1",
  "userPoolId": pool, "userName": "e2e-user-" + phone[-4:],
  "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "1example23456789"},
  "request": {"type": "customSMSSenderRequestV1", "code": code, "clientMetadata": {},
    "userAttributes": {"sub": "e2e-user-" + phone[-4:], "phone_number": phone,
      "phone_number_verified": "false"}}}, open(path, "w"))
PY
}
event CustomSMSSender_SignUp +14155552671 "$(encrypt 482916)" "$work/allow.json"
event CustomSMSSender_ResendCode +18762101234 "$(encrypt 550113)" "$work/refuse.json"

cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$port" \
  -p pumpguard-trigger --features sender --bin sender \
  --env-var PUMPGUARD_POLICY_FILE="$PWD/examples/policy.toml" \
  --env-var PUMPGUARD_PHONE_HASH_KEY=e2e-test-key-0123456789 \
  --env-var PUMPGUARD_TABLE="$table" \
  --env-var PUMPGUARD_KMS_KEY_ARN="$key" \
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

for _ in $(seq 1 1200); do
  if (echo >"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then break; fi
  if ! kill -0 "$watch_pid" 2>/dev/null; then cat "$log"; echo "cargo lambda watch exited"; exit 1; fi
  sleep 0.5
done

passed=0
failed=0
invoke() { # file -> status in $rc
  set +e
  cargo lambda invoke sender -A 127.0.0.1 -P "$port" --data-file "$1" >"$work/out" 2>"$work/err"
  rc=$?
  set -e
  cat "$work/err" >>"$work/errors.log"
}
ok() { passed=$((passed + 1)); echo "ok    $1"; }
fail() { failed=$((failed + 1)); echo "FAIL  $1"; sed 's/^/      /' "$work/out" "$work/err"; }
outcome() { # n -> the n-th sender outcome logged
  grep '"message":"sender event"' "$log" | sed -n "$1p" | python3 -c 'import json,sys; l=json.loads(sys.stdin.read()); print(l.get("outcome", l.get("fields", {}).get("outcome")), l.get("detail", l.get("fields", {}).get("detail")))'
}

invoke "$work/allow.json"
if [ "$rc" -eq 0 ] && [ "$(outcome 1)" = "sent sns" ]; then ok "allowed code -> sent through the SNS fallback"; else fail "allowed code -> expected sent sns, got $(outcome 1)"; fi
invoke "$work/allow.json"
if [ "$rc" -eq 0 ] && [ "$(outcome 2)" = "duplicate " ]; then ok "the same event again -> duplicate, nothing sent"; else fail "duplicate -> got $(outcome 2)"; fi
invoke "$work/refuse.json"
if [ "$rc" -eq 0 ] && [ "$(outcome 3)" = "dropped " ]; then ok "refused number -> success, dropped"; else fail "refused -> got $(outcome 3)"; fi
sed 's/<phone_number>/+14155552671/; s/<userPoolId>/'"$pool"'/' "$fixtures/postconfirmation-sample.json" >"$work/confirm.json"
invoke "$work/confirm.json"
if [ "$rc" -eq 0 ] && grep -q PostConfirmation_ConfirmSignUp "$work/out"; then ok "completion -> answered"; else fail "completion -> expected the event back"; fi
publishes=$(grep -c '"provider":"sns"' "$log" || true)
if grep -q '"message":"End User Messaging failed; falling back to SNS"' "$log"; then ok "End User Messaging failure logged, SNS behind it"; else failed=$((failed + 1)); echo "FAIL  no fallback line"; fi

if python3 scripts/privacy_check.py --secret e2e-test-key-0123456789 --secret e2e-aws-secret-key-Qm4 \
  --secret 482916 --secret 550113 "$log" "$work/errors.log"; then
  ok "no phone number, code or secret in the sender's log or errors"
else
  failed=$((failed + 1)); echo "FAIL  a phone number, code or secret appears in the sender's log or errors"
fi

echo "sender-e2e: $passed passed, $failed failed ($publishes sns lines)"
[ "$failed" -eq 0 ]
