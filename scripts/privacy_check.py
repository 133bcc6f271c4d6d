#!/usr/bin/env python3
"""Searches text (files, or stdin) for the test phone numbers of
trigger/tests/fixtures/test-phones.txt and for given secrets, with the rules of
trigger/tests/support/privacy.rs: a digit run (spaces, dashes, dots, slashes,
parentheses and + between digits ignored; hex tokens of 12+ characters with a
letter skipped) leaks a number when it holds its national number, or shows
five or more of its digits in place (the policy allows the country code and
the last four). In JSON lines only strings are read that way; a JSON number
leaks only by holding a whole national number, as does an integer field of a
text log line (`name=123`).

With --phones-from F (JSON lines holding "phone_number", "destination" or
"destinationPhoneNumber"
strings: replay input, SNS delivery logs, End User Messaging events; or one
number per line), every number in F is also searched for,
in clear: its whole national number in any digit run. (The stricter rule,
five digits in place, is kept for the test numbers: among thousands of
real-looking numbers, dates and counters would match it by chance.)

usage: privacy_check.py [--secret S]... [--phones-from F]... FILE...   exit 0: clean, 1: leaks
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


# Country calling codes of one and two digits (ITU-T E.164); all others have three.
CC1 = {"1", "7"}
CC2 = {"20", "27", "30", "31", "32", "33", "34", "36", "39", "40", "41", "43", "44", "45",
       "46", "47", "48", "49", "51", "52", "53", "54", "55", "56", "57", "58", "60", "61",
       "62", "63", "64", "65", "66", "81", "82", "84", "86", "90", "91", "92", "93", "94",
       "95", "98"}


def split_e164(digits):
    n = 1 if digits[:1] in CC1 else 2 if digits[:2] in CC2 else 3
    return digits[:n], digits[n:]


def phones_from(path):
    """The national numbers of every phone_number in a replay input file."""
    found = set()

    def walk(v):
        if isinstance(v, dict):
            for k, x in v.items():
                if k in ("phone_number", "destinationPhoneNumber", "destination") and isinstance(x, str):
                    add(x)
                else:
                    walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)

    def add(text):
        digits = re.sub(r"\D", "", text)
        if text.strip().startswith("+") and 7 <= len(digits) <= 15:
            national = split_e164(digits)[1]
            if len(national) >= 6:
                found.add(national)

    with open(path, encoding="utf-8", errors="replace") as f:
        for line in f:
            try:
                walk(json.loads(line))
            except ValueError:
                add(line)
    return found


def bulk_leaks(run, nationals, lengths):
    for n in lengths:
        for i in range(0, len(run) - n + 1):
            if run[i:i + n] in nationals:
                return run[i:i + n]
    return None


BULK = (set(), [])


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
        hit = BULK[0] and bulk_leaks(run, BULK[0], BULK[1])
        if hit:
            found.append(f"a number of the input ({hit[:2]}...{hit[-2:]}) in clear in {what}")
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
            # A text log line's integer field (`retry_after=55010`) is a
            # count, read as a JSON number is; the rest of the line strictly.
            for m in FIELD_INTEGER.finditer(line):
                check_text(m.group(1), phones, False, found, what)
            check_text(FIELD_INTEGER.sub(" ", line), phones, True, found, what)
    return found


FIELD_INTEGER = re.compile(r"(?<=[a-z_]=)([0-9]+)(?=\s|$)")


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
    cc, n = phones[0]
    counter = f"INFO decision retry_after={n[2:7]} sends=3"
    assert not leaks(counter, phones, [], "counter"), counter
    for planted in (f"INFO decision to={n}", f"INFO decision to=+{cc}{n}", f"INFO to={n[:-4]}x"):
        assert leaks(planted, phones, [], "planted"), planted
    BULK[0].add("5550187342")
    BULK[1].append(10)
    assert leaks('{"message":"sent to 15550187342"}', [], [], "planted bulk")
    assert leaks("+1 555 018 7342", [], [], "planted bulk")
    assert not leaks('{"record":"{\\"digits\\":11,\\"repeat\\":2}"}', [], [], "clean bulk")
    BULK[0].clear()
    BULK[1].clear()
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
        elif a == "--phones-from":
            BULK[0].update(phones_from(next(it)))
        else:
            files.append(a)
    BULK[1].extend(sorted({len(n) for n in BULK[0]}))
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
