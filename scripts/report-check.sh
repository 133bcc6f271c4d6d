#!/usr/bin/env bash
# Renders the HTML reports of `pumpguard replay --report` and `pumpguard
# simulate --report` in headless Chromium and checks the rendered page:
# Chromium loads it without error, every chart is in the rendered DOM with
# its SVG, the headline holds the figures worked out independently here from
# the command's JSON output, no phone number is on the page, and the
# screenshot is a real picture (a PNG of the requested size, not blank).
# Before that, the imports (SNS delivery logs made from the trace, the End
# User Messaging fixture) and the replays of their records and of the raw
# trace, with the trigger's log lines on, go through the privacy checker.
# Chromium is installed with apt when it is missing (as root, or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

browser=""
find_browser() {
  for b in chromium chromium-browser google-chrome; do
    if command -v "$b" >/dev/null 2>&1; then browser=$(command -v "$b"); return 0; fi
  done
  return 1
}
if ! find_browser; then
  echo "report-check: installing Chromium (apt-get install chromium)"
  if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo -n"; else
    echo "report-check: Chromium is missing and this user cannot install it; install the chromium package" >&2
    exit 1
  fi
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
  find_browser || { echo "report-check: chromium was installed but is not on PATH" >&2; exit 1; }
fi
echo "report-check: $("$browser" --version 2>/dev/null || echo "$browser")"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The build the test step made (same features: nothing is rebuilt).
cargo build --quiet --locked --workspace --all-features --bin pumpguard
bin="${CARGO_TARGET_DIR:-$PWD/target}/debug/pumpguard"
pumpguard() { "$bin" "$@"; }

python3 scripts/mixed-trace.py 20000 >"$work/trace.jsonl"
pumpguard replay --policy examples/policy.toml --events "$work/trace.jsonl" \
  --report "$work/replay.html" --summary "$work/replay-summary.json" >/dev/null
pumpguard simulate --scenario range-pumping --seed 1 --report "$work/simulate.html" \
  --json "$work/simulate.json" >/dev/null

# The imports and the replays of what they write, with the trigger's log
# lines on: no number from their inputs in any output (records, verdicts,
# summaries, logs, the report's text) unless --raw asked for it.
python3 - "$work/trace.jsonl" "$work/sns.jsonl" <<'PY'
import datetime, json, sys
# The trace's SMS as SNS delivery status logs.
with open(sys.argv[1]) as f, open(sys.argv[2], "w") as out:
    for n, line in enumerate(f):
        l = json.loads(line)
        e = l["event"]
        phone = e["request"].get("userAttributes", {}).get("phone_number")
        if not e["triggerSource"].startswith("CustomMessage_") or not phone:
            continue
        t = datetime.datetime.fromisoformat(l["at"].replace("Z", "+00:00"))
        out.write(json.dumps({
            "notification": {"messageId": f"m-{n}", "timestamp": t.strftime("%Y-%m-%d %H:%M:%S.000")},
            "delivery": {"destination": phone, "priceInUSD": 0.00645, "smsType": "Transactional"},
            "status": "SUCCESS"}) + "\n")
PY
export PUMPGUARD_PHONE_HASH_KEY=report-check-key-0123456789
pumpguard import sns-delivery-logs --file "$work/sns.jsonl" --out "$work/sns-records.jsonl" 2>"$work/import-sns.err"
pumpguard import eum-events --file admin-cli/tests/fixtures/eum-events.jsonl \
  --out "$work/eum-records.jsonl" 2>"$work/import-eum.err"
RUST_LOG=info pumpguard replay --policy examples/policy.toml --events "$work/sns-records.jsonl" \
  --report "$work/imported.html" --summary "$work/imported-summary.json" \
  >"$work/imported.out" 2>"$work/imported.err"
RUST_LOG=info pumpguard replay --policy examples/policy.toml --events "$work/trace.jsonl" \
  >"$work/trace.out" 2>"$work/trace.err"
python3 -c 'import re, sys; print(re.sub(r"<svg.*?</svg>", "", open(sys.argv[1]).read(), flags=re.S))' \
  "$work/imported.html" >"$work/imported.text"
unset PUMPGUARD_PHONE_HASH_KEY
if [ "$(wc -l <"$work/sns-records.jsonl")" -lt 1000 ]; then
  echo "FAIL  import: $(wc -l <"$work/sns-records.jsonl") records from the trace's SMS" >&2; exit 1
fi
if python3 scripts/privacy_check.py --secret report-check-key-0123456789 \
  --phones-from "$work/trace.jsonl" --phones-from "$work/sns.jsonl" \
  --phones-from admin-cli/tests/fixtures/eum-events.jsonl \
  "$work"/sns-records.jsonl "$work"/eum-records.jsonl "$work"/import-*.err \
  "$work"/imported.out "$work"/imported.err "$work"/imported-summary.json "$work"/imported.text \
  "$work"/trace.out "$work"/trace.err "$work"/replay-summary.json; then
  echo "ok    import and replay outputs hold no number ($(wc -l <"$work/sns-records.jsonl") SNS records, $(wc -l <"$work/eum-records.jsonl") End User Messaging records)"
else
  echo "FAIL  a number or the key in the import or replay outputs" >&2; exit 1
fi
# The check itself sees numbers where they are: --raw writes them.
pumpguard import eum-events --file admin-cli/tests/fixtures/eum-events.jsonl --raw \
  --out "$work/eum-raw.jsonl" 2>/dev/null
if python3 scripts/privacy_check.py --phones-from admin-cli/tests/fixtures/eum-events.jsonl \
  "$work/eum-raw.jsonl" >/dev/null; then
  echo "FAIL  the privacy check does not see the numbers of --raw" >&2; exit 1
fi
echo "ok    the privacy check sees the numbers --raw writes"

render() { # page -> $work/<name>.dom, .png, .log
  local page=$1 name
  name=$(basename "$page" .html)
  local flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
    --disable-background-networking --disable-component-update --disable-sync
    --disable-extensions --hide-scrollbars --enable-logging=stderr --v=0
    --user-data-dir="$work/profile-$name" --window-size=1800,2400)
  "$browser" "${flags[@]}" --dump-dom "file://$page" >"$work/$name.dom" 2>"$work/$name.log"
  "$browser" "${flags[@]}" --screenshot="$work/$name.png" "file://$page" >/dev/null 2>>"$work/$name.log"
}
render "$work/replay.html"
render "$work/simulate.html"

python3 - "$work" <<'PY'
import html, json, os, re, struct, subprocess, sys, zlib
work = sys.argv[1]
failed = []

def check(ok, what):
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        failed.append(what)

def pct(part, whole):
    return "0.00%" if whole <= 0 else f"{part * 100.0 / whole:.2f}%"

def headline(dom):
    m = re.search(r'<p class="headline" id="headline">(.*?)</p>', dom, re.S)
    return html.unescape(re.sub(r"<[^>]+>", "", m.group(1))).strip() if m else None

def png(path):
    """Width, height and whether the picture has more than one colour."""
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        return None
    w, h = struct.unpack(">II", data[16:24])
    idat, pos = b"", 8
    while pos < len(data):
        n, kind = struct.unpack(">I4s", data[pos:pos + 8])
        if kind == b"IDAT":
            idat += data[pos + 8:pos + 8 + n]
        pos += 12 + n
    raw = zlib.decompress(idat)
    # Distinct byte values across the rows: a blank page has a handful.
    return w, h, len(set(raw[:: max(1, len(raw) // 200000)])) > 16

def page(name, charts, expected):
    dom = open(os.path.join(work, name + ".dom")).read()
    log = open(os.path.join(work, name + ".log")).read()
    check("</html>" in dom and "<body" in dom, f"{name}: Chromium rendered the page")
    errors = [l for l in log.splitlines() if ":CONSOLE(" in l or "Uncaught" in l]
    check(not errors, f"{name}: no console error ({errors[:2]})")
    for c in charts:
        attr = re.escape(html.escape(c, quote=True).replace("&#x27;", "'"))
        m = re.search(rf'<figure class="chart" data-chart="{attr}">(.*?)</figure>', dom, re.S)
        drawn = m is not None and "<svg" in m.group(1) and any(
            t in m.group(1) for t in ("<polyline", "<rect", "<path", "<line"))
        check(drawn, f"{name}: chart {c} is drawn")
    got = headline(dom)
    check(got is not None and got.startswith(expected), f"{name}: headline {got!r} starts with {expected!r}")
    # The charts' SVG is coordinates and counts; the text around them is checked.
    text = os.path.join(work, name + ".text")
    with open(text, "w") as f:
        f.write(re.sub(r"<svg.*?</svg>", "", dom, flags=re.S))
    leak = subprocess.run([sys.executable, "scripts/privacy_check.py", text],
                          capture_output=True, text=True)
    check(leak.returncode == 0, f"{name}: no phone number on the page {leak.stdout.strip()[:200]}")
    shot = png(os.path.join(work, name + ".png"))
    check(shot is not None and shot[:2] == (1800, 2400) and shot[2],
          f"{name}: screenshot 1800x2400 with content ({shot})")

s = json.load(open(os.path.join(work, "replay-summary.json")))
judged = sum(s["by_country"].values())
refused = s["by_verdict"].get("block", 0)
allowed, blocked = round(s["spend_allowed_usd"] * 1e6), round(s["spend_blocked_usd"] * 1e6)
check(judged > refused > 0, f"replay: the trace has refusals ({refused} of {judged})")
page("replay", ["over-time", "by-reason", "by-country"],
     f"SMS refused {pct(refused, judged)} ({refused} of {judged} judged), estimated spend refused "
     f"{pct(blocked, allowed + blocked)} (${blocked / 1e6:.2f} of ${(allowed + blocked) / 1e6:.2f})")

sim = json.load(open(os.path.join(work, "simulate.json")))
under_test = sim["policies"][0]
t = {"fraud_cost_usd": 0.0, "fraud_cost_allowed_usd": 0.0, "legit_sms": 0, "legit_blocked": 0}
for sc in sim["scenarios"]:
    r = sc["stats"][0]
    for k in t:
        t[k] += r[k]
fraud = 1.0 if t["fraud_cost_usd"] <= 0 else 1.0 - t["fraud_cost_allowed_usd"] / t["fraud_cost_usd"]
fp = 0.0 if t["legit_sms"] == 0 else t["legit_blocked"] / t["legit_sms"]
check(len(sim["scenarios"]) >= 1, f"simulate: {len(sim['scenarios'])} scenario(s)")
page("simulate", [f"{sc['name']}/{p}" for sc in sim["scenarios"] for p in sim["policies"]],
     f"{under_test}: fraud cost blocked {pct(fraud, 1.0)}, legitimate SMS blocked {pct(fp, 1.0)}")

print(f"report-check: {len(failed)} failed")
sys.exit(1 if failed else 0)
PY
