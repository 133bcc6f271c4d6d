#!/usr/bin/env python3
"""Writes a mixed trace of N recorded Cognito events (JSON Lines for
`pumpguard replay`) to stdout: the replay benchmark's input.

Deterministic: the same N gives the same file (Python's `random.Random` with
a fixed seed; standard library only).

What is in it, from 2026-11-02T00:00:00Z, with a daily rhythm:
  * real users in 21 countries (10 the example policy allows, the others
    refused by country, as a pool serving some markets sees): sign-ups with
    their confirmations (most), resent codes, MFA sign-ins with their
    PostAuthentication, password resets with their confirmations;
  * attack waves: sign-up and resend floods to premium-rate numbers, to
    countries the policy refuses and to consecutive numbers of one block in
    an allowed country, almost never confirmed.
About 85 % of the lines are real users', and the phones and users are many
and distinct (a fresh number per new user).

    scripts/mixed-trace.py 1000000 > trace-1m.jsonl
"""
import datetime
import heapq
import json
import math
import random
import sys


def digits(rng, n):
    return "".join(str(rng.randrange(10)) for _ in range(n))


def nanp(areas):
    return lambda rng: f"+1{rng.choice(areas)}{rng.randint(2, 9)}{digits(rng, 6)}"


def fixed(*prefixes, rest):
    return lambda rng: rng.choice(prefixes) + digits(rng, rest)


# (region, weight among new users, a valid mobile number of it)
COUNTRIES = [
    ("US", 38, nanp(["212", "415", "646", "303", "617", "312", "206", "512", "305", "702"])),
    ("CA", 5, nanp(["416", "604", "514", "403"])),
    ("GB", 8, fixed("+447701", "+447400", "+447555", "+447822", "+447956", rest=6)),
    ("IE", 1, fixed("+35385", "+35387", rest=7)),
    ("DE", 5, fixed("+49151", "+49170", rest=8)),
    ("FR", 5, fixed("+336", rest=8)),
    ("NL", 2, fixed("+3161", "+3162", rest=7)),
    ("ES", 3, fixed("+346", rest=8)),
    ("IT", 3, fixed("+39333", "+39347", rest=7)),
    ("AU", 3, fixed("+6140", "+6141", rest=7)),
    ("BR", 5, fixed("+551198", rest=7)),
    ("MX", 4, fixed("+5255", rest=8)),
    ("IN", 6, fixed("+9198", rest=8)),
    ("JP", 2, fixed("+8190", rest=8)),
    ("PL", 2, fixed("+4850", rest=7)),
    ("SE", 1, fixed("+4670", rest=7)),
    ("ZA", 1, fixed("+2782", rest=7)),
    ("PH", 1, fixed("+63917", rest=7)),
    ("NG", 1, fixed("+234803", rest=7)),
    ("JM", 1, nanp(["876"])),
    ("UZ", 1, fixed("+99890", rest=7)),
]
REGIONS = [c[0] for c in COUNTRIES]
WEIGHTS = [c[1] for c in COUNTRIES]
NUMBER = {c[0]: c[2] for c in COUNTRIES}


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    rng = random.Random(20261202)
    start = datetime.datetime(2026, 11, 2, tzinfo=datetime.timezone.utc)
    out = sys.stdout
    pending = []  # (time, order, source, user, phone, verified)
    order = 0
    users = 0
    confirmed = []  # (user, phone) of users who can sign in
    written = 0
    t = 0.0
    next_attack = rng.uniform(3600, 6 * 3600)

    def later(at, source, user, phone, verified):
        nonlocal order
        order += 1
        heapq.heappush(pending, (at, order, source, user, phone, verified))

    def new_user():
        nonlocal users
        users += 1
        return f"u{users:07d}"

    def attack(at):
        kind = rng.choice(["premium", "refused", "block", "resend"])
        size = rng.randint(300, 3000)
        every = rng.uniform(0.2, 3.0)
        if kind == "premium":
            number = lambda i: f"+44909{rng.randrange(10_000_000):07d}"
        elif kind == "refused":
            region = rng.choice(["JM", "UZ", "PH", "NG"])
            number = lambda i: NUMBER[region](rng)
        elif kind == "block":
            block = NUMBER[rng.choice(["GB", "DE", "FR", "ES"])](rng)[:-4]
            number = lambda i: f"{block}{i % 10_000:04d}"
        else:
            region = rng.choice(["US", "GB", "IT"])
            victims = [NUMBER[region](rng) for _ in range(20)]
            number = lambda i: victims[i % len(victims)]
        for i in range(size):
            user = new_user()
            phone = number(i)
            when = at + i * every
            source = "CustomMessage_ResendCode" if kind == "resend" else "CustomMessage_SignUp"
            later(when, source, user, phone, False)
            if rng.random() < 0.02:
                later(when + rng.uniform(20, 300), "PostConfirmation_ConfirmSignUp", user, phone, True)

    def session(at):
        r = rng.random()
        if r < 0.45 or not confirmed:
            user = new_user()
            phone = NUMBER[rng.choices(REGIONS, WEIGHTS)[0]](rng)
            later(at, "CustomMessage_SignUp", user, phone, False)
            u = rng.random()
            if u < 0.86:
                later(at + rng.uniform(20, 300), "PostConfirmation_ConfirmSignUp", user, phone, True)
                confirmed.append((user, phone))
            elif u < 0.93:
                resent = at + rng.uniform(60, 240)
                later(resent, "CustomMessage_ResendCode", user, phone, False)
                if rng.random() < 0.6:
                    later(resent + rng.uniform(20, 200), "PostConfirmation_ConfirmSignUp", user, phone, True)
                    confirmed.append((user, phone))
        elif r < 0.92:
            user, phone = rng.choice(confirmed)
            later(at, "CustomMessage_Authentication", user, phone, True)
            if rng.random() < 0.97:
                later(at + rng.uniform(8, 90), "PostAuthentication_Authentication", user, phone, True)
        else:
            user, phone = rng.choice(confirmed)
            later(at, "CustomMessage_ForgotPassword", user, phone, True)
            if rng.random() < 0.85:
                later(at + rng.uniform(30, 400), "PostConfirmation_ConfirmForgotPassword", user, phone, True)

    def write(at, source, user, phone, verified):
        status = "CONFIRMED" if verified else "UNCONFIRMED"
        event = {
            "version": "1",
            "region": "us-east-1",
            "userPoolId": "us-east-1_EXAMPLE",
            "userName": user,
            "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "1example23456789"},
            "triggerSource": source,
            "request": {
                "userAttributes": {
                    "sub": user,
                    "cognito:user_status": status,
                    "phone_number_verified": "true" if verified else "false",
                    "phone_number": phone,
                },
                "clientMetadata": {},
            },
            "response": {},
        }
        if source.startswith("CustomMessage_"):
            event["request"]["codeParameter"] = "{####}"
            event["request"]["usernameParameter"] = None
            event["response"] = {"smsMessage": None, "emailMessage": None, "emailSubject": None}
        stamp = (start + datetime.timedelta(seconds=int(at))).strftime("%Y-%m-%dT%H:%M:%SZ")
        out.write(json.dumps({"at": stamp, "event": event}, separators=(",", ":")) + "\n")

    while written < n:
        # Sessions arrive at about 0.6 a second, fewer at night (UTC).
        rate = 0.6 * (0.55 + 0.45 * math.sin(2 * math.pi * (t / 86400 - 0.25)))
        t += rng.expovariate(max(rate, 0.05))
        if t >= next_attack:
            attack(next_attack)
            next_attack += rng.uniform(4 * 3600, 14 * 3600)
        session(t)
        while pending and pending[0][0] <= t and written < n:
            at, _, source, user, phone, verified = heapq.heappop(pending)
            write(at, source, user, phone, verified)
            written += 1


if __name__ == "__main__":
    main()
