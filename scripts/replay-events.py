#!/usr/bin/env python3
"""Writes N recorded SignUp events (JSON Lines for `pumpguard replay`) to stdout.

Deterministic: the same N gives the same file. 20 events per second of
recorded time from 2026-11-21T12:00:00Z; 80 % US numbers over 7 area codes,
10 % Jamaica, 10 % UK; 200,000 users. Built on the recorded event in
trigger/tests/fixtures/signup-allow.json.

    scripts/replay-events.py 1000000 > events-1m.jsonl
"""
import copy
import datetime
import json
import pathlib
import random
import sys

n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
base = json.loads((pathlib.Path(__file__).parent.parent / "trigger/tests/fixtures/signup-allow.json").read_text())
rng = random.Random(20261121)
start = datetime.datetime(2026, 11, 21, 12, tzinfo=datetime.timezone.utc)
areas = ["212", "415", "646", "303", "617", "312", "206"]
out = sys.stdout
for i in range(n):
    r = rng.random()
    if r < 0.8:
        phone = f"+1{rng.choice(areas)}555{rng.randrange(10000):04d}"
    elif r < 0.9:
        phone = f"+1876210{rng.randrange(10000):04d}"
    else:
        phone = f"+447911{rng.randrange(1000000):06d}"
    event = copy.deepcopy(base)
    event["request"]["userAttributes"]["phone_number"] = phone
    event["request"]["userAttributes"]["sub"] = f"u{rng.randrange(200000)}"
    at = start + datetime.timedelta(seconds=i // 20)
    out.write(json.dumps({"at": at.strftime("%Y-%m-%dT%H:%M:%SZ"), "event": event}) + "\n")
