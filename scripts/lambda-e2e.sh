#!/usr/bin/env bash
# Runs the real `bootstrap` binary under cargo lambda's Lambda emulator and
# invokes it with the trigger fixtures: allow, block (country and number type),
# pass-through of an unknown source and of an event without a phone number.
# Needs cargo-lambda on PATH (scripts/test.sh installs it into .venv).
set -euo pipefail
cd "$(dirname "$0")/.."

fixtures=trigger/tests/fixtures
work=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log="$work/watch.log"

cargo lambda watch --ignore-changes -A 127.0.0.1 -P "$port" \
  -p pumpguard-trigger --bin bootstrap \
  --env-var PUMPGUARD_POLICY_FILE="$PWD/examples/policy.toml" \
  --env-var PUMPGUARD_PHONE_HASH_KEY=e2e-test-key-0123456789 \
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
  cargo lambda invoke bootstrap -A 127.0.0.1 -P "$port" --data-file "$fixtures/$1" \
    >"$work/out" 2>"$work/err"
  rc=$?
  set -e
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
expect_blocked resend-block-jamaica.json SMS_BLOCKED_COUNTRY
expect_blocked forgot-block-premium.json SMS_BLOCKED_NUMBER
expect_unchanged unknown-source.json
expect_unchanged custommessage-sample.json
expect_unchanged postconfirmation-sample.json

# One decision line per judged event, and never a phone number in the log.
decisions=$(grep -c '"message":"decision"' "$log" || true)
if [ "$decisions" -eq 3 ]; then ok "3 decision log lines"; else failed=$((failed + 1)); echo "FAIL  expected 3 decision log lines, got $decisions"; fi
if grep -qE '8762101234|9002345678|4155552671' "$log"; then
  failed=$((failed + 1)); echo "FAIL  a phone number appears in the function's log"
else
  ok "no phone number in the function's log"
fi

echo "lambda-e2e: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
