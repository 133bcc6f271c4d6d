#!/usr/bin/env python3
"""Peak memory of the trigger: runs `bootstrap` against a local Lambda
runtime API that hands it N CustomMessage_SignUp events to numbers of many
countries (allowed, blocked, premium, invalid), then reads the process's
resident memory from /proc.

    cargo build --release -p pumpguard-trigger --bin bootstrap
    scripts/bootstrap-memory.py target/release/bootstrap 20000

No table is configured, so the per-instance memory store holds the state
(an upper bound: with PUMPGUARD_TABLE the state lives in DynamoDB).
"""
import http.server
import json
import pathlib
import random
import subprocess
import sys
import threading
import time

binary = sys.argv[1] if len(sys.argv) > 1 else "target/release/bootstrap"
total = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
root = pathlib.Path(__file__).resolve().parent.parent
base = json.loads((root / "trigger/tests/fixtures/signup-allow.json").read_text())
rng = random.Random(7)
# (prefix, digits to add): allowed, monitored, blocked and island countries,
# premium ranges and malformed input, so that many countries' patterns load.
ranges = [
    ("+1212555", 4), ("+1415555", 4), ("+447911", 6), ("+4915123", 6), ("+336", 8),
    ("+3161", 7), ("+34612", 6), ("+39312", 7), ("+35385", 7), ("+61412", 6),
    ("+5215512", 6), ("+1876210", 4), ("+1268464", 4), ("+1809555", 4), ("+23480", 8),
    ("+88017", 8), ("+9230", 8), ("+63917", 7), ("+96777", 7), ("+21620", 6),
    ("+9199", 8), ("+8613", 9), ("+5511", 9), ("+7916", 7), ("+1900234", 4),
    ("+44909", 7), ("+4990012", 6), ("+0000", 3), ("+12", 2), ("+8823", 8),
]
state = {"served": 0, "ready": None, "done": threading.Event()}


def event():
    prefix, digits = rng.choice(ranges)
    e = json.loads(json.dumps(base))
    e["request"]["userAttributes"]["phone_number"] = prefix + "".join(
        str(rng.randrange(10)) for _ in range(digits)
    )
    e["request"]["userAttributes"]["sub"] = f"u{rng.randrange(5000)}"
    return json.dumps(e).encode()


class Api(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        if state["ready"] is None:
            state["ready"] = rss(child.pid)
        if state["served"] >= total:
            state["done"].set()
            time.sleep(30)  # the process is measured and killed meanwhile
            return
        state["served"] += 1
        body = event()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Lambda-Runtime-Aws-Request-Id", f"req-{state['served']}")
        self.send_header("Lambda-Runtime-Deadline-Ms", str(int(time.time() * 1000) + 4000))
        self.send_header(
            "Lambda-Runtime-Invoked-Function-Arn",
            "arn:aws:lambda:us-east-1:123456789012:function:pumpguard",
        )
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        self.rfile.read(length)
        self.send_response(202)
        self.send_header("Content-Length", "0")
        self.end_headers()


def rss(pid):
    fields = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        k, _, v = line.partition(":")
        fields[k] = v.strip()
    return fields.get("VmRSS"), fields.get("VmHWM")


server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Api)
threading.Thread(target=server.serve_forever, daemon=True).start()
child = subprocess.Popen(
    [binary],
    env={
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{server.server_address[1]}",
        "AWS_LAMBDA_FUNCTION_NAME": "pumpguard-memory",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "PUMPGUARD_POLICY_FILE": str(root / "examples/policy.toml"),
        "PUMPGUARD_PHONE_HASH_KEY": "memory-bench-key-0123456789",
        "RUST_LOG": "error",
    },
    stdout=subprocess.DEVNULL,
    stderr=subprocess.DEVNULL,
)
started = time.time()
state["done"].wait(timeout=600)
after = rss(child.pid)
child.kill()
child.wait()
server.shutdown()
print(f"events: {state['served']} in {time.time() - started:.1f} s")
print(f"ready (first next): VmRSS {state['ready'][0]}, peak {state['ready'][1]}")
print(f"after {state['served']} events: VmRSS {after[0]}, peak {after[1]}")
