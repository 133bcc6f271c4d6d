#!/usr/bin/env python3
"""Searches text (files, or stdin) for the test phone numbers of
trigger/tests/fixtures/test-phones.txt and for given secrets, with the rules of
trigger/tests/support/privacy.rs: a digit run (spaces, dashes, dots, slashes,
parentheses and + between digits ignored; hex tokens of 12+ characters with a
letter skipped) leaks a number when it holds its national number, or shows
five or more of its digits in place (the policy allows the country code and
the last four). In JSON lines only strings are read that way; a JSON number
leaks only by holding a whole national number.

usage: privacy_check.py [--secret S]... FILE...   exit 0: clean, 1: leaks
       privacy_check.py --self-test                 the checker catches planted leaks
"""
import json
import os
import re
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
SEPARATORS = set(" -.()/+\u00a0")


def test_phones():
    phones = []
    with open(os.path.join(ROOT, "trigger/tests/fixtures/test-phones.txt")) as f:
        for line in f:
            if not line.strip() or line.startswith("#"):
                continue
            cc, national = line.split()[:2]
            phones.append((cc.lstrip("+"), national))
    return phones


def blank_hex(text):
    def repl(m):
        t = m.group(0)
        if len(t) >= 12 and re.fullmatch(r"[0-9A-Fa-f-]+", t) and re.search(r"[A-Fa-f]", t):
            return " " * len(t)
        return t
    return re.sub(r"[0-9A-Za-z-]+", repl, text)


def digit_runs(text):
    runs, run, i = [], "", 0
    while i < len(text):
        c = text[i]
        if c.isascii() and c.isdigit():
            run += c
            i += 1
            continue
        j = i
        while j < len(text) and j - i < 2 and text[j] in SEPARATORS:
            j += 1
        if run and j > i and j < len(text) and text[j].isascii() and text[j].isdigit():
            i = j
            continue
        if run:
            runs.append(run)
            run = ""
        i += 1
    if run:
        runs.append(run)
    return runs


def shown(run, cc, national):
    best = 0
    for whole, offset in ((cc + national, len(cc)), ("0" + national, 1)):
        start = whole.find(run)
        while start >= 0:
            best = max(best, sum(1 for k in range(start, start + len(run)) if k >= offset))
            start = whole.find(run, start + 1)
    return best


def check_text(text, phones, strict, found, what):
    for run in digit_runs(blank_hex(text)):
        for cc, national in phones:
            if national in run:
                found.append(f"+{cc}{national} in clear ({run}) in {what}")
            elif strict and len(run) >= 5 and shown(run, cc, national) >= 5:
                found.append(f"+{cc}{national} shown beyond the last four digits ({run}) in {what}")


def check_json(v, phones, found, what):
    if isinstance(v, str):
        check_text(v, phones, True, found, what)
    elif isinstance(v, bool) or v is None:
        pass
    elif isinstance(v, (int, float)):
        check_text(str(v), phones, False, found, what)
    elif isinstance(v, list):
        for x in v:
            check_json(x, phones, found, what)
    elif isinstance(v, dict):
        for k, x in v.items():
            check_text(k, phones, True, found, what)
            check_json(x, phones, found, what)


def leaks(text, phones, secrets, what):
    found = [f"a secret ({s[:3]}...) in {what}" for s in secrets if s in text]
    for line in text.splitlines():
        try:
            v = json.loads(line.strip())
        except ValueError:
            v = None
        if isinstance(v, (dict, list)):
            check_json(v, phones, found, what)
        else:
            check_text(line, phones, True, found, what)
    return found


def self_test():
    phones = test_phones()
    for cc, n in phones:
        a, b, c = n[:3], n[3:6], n[6:]
        for f in (f"+{cc}{n}", f"+{cc} {a} {b} {c}", f"+{cc}-{a}-{b}-{c}", f"+{cc}.{a}.{b}.{c}",
                  f"+{cc} ({a}) {b}-{c}", f"tel:+{cc}{n}", f"00{cc}{n}", f"0{n}", n):
            for planted in (f"to {f} now", json.dumps({"phone": f, "latency_us": 12})):
                assert leaks(planted, phones, [], "planted"), planted
        for planted in (f"+{cc} {n[:-4]}****", f"+{cc}...{n[-5:]}", json.dumps({"n": int(cc + n)})):
            assert leaks(planted, phones, [], "planted"), planted
        allowed = f"override +{cc}\u2026{n[-4:]} set"
        assert not leaks(allowed, phones, [], "allowed"), allowed
    assert leaks("key=planted-secret-0123", phones, ["planted-secret-0123"], "planted")
    clean = ('{"phone_hash":"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",'
             '"latency_us":41555}\nrequest 3f2a1b4c-5e6f-4a8b-9c0d-1e2f3a4b5c6d +1\u20262671')
    assert not leaks(clean, phones, [], "clean"), leaks(clean, phones, [], "clean")
    print(f"privacy_check self-test: {len(phones)} numbers, planted leaks caught")


def main(argv):
    if argv == ["--self-test"]:
        self_test()
        return 0
    secrets, files = [], []
    it = iter(argv)
    for a in it:
        if a == "--secret":
            secrets.append(next(it))
        else:
            files.append(a)
    phones = test_phones()
    found = []
    for path in files:
        with open(path, encoding="utf-8", errors="replace") as f:
            found += leaks(f.read(), phones, secrets, path)
    for line in found:
        print(line)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
