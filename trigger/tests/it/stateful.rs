//! Behaviour tests of the stateful guards (cooldown ladder, verification,
//! per-user limits, prefix and country velocity with adaptive thresholds, pool
//! rate, spend budget, modes, exemptions and TTLs), driven through the public
//! async API (`judge` and `verified`) with the in-memory store and an injected
//! clock. They exist to pin what a sequence of SMS over time actually gets —
//! the reason code, the exact retry-after and the block code a client sees —
//! so that a change to the plan/conclude arithmetic, the store semantics or
//! the policy defaults that moves any of these answers fails here. No test
//! sleeps or reads the wall clock: every `now` is a fixed Unix second, and
//! each test keeps to one fixed bucket (minute, hour, UTC day, UTC month)
//! unless it is testing that bucket's edge.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use pumpguard_engine::engine::{Check, Decision, Finding, Reason};
use pumpguard_engine::guards::known::Completion as KnownCompletion;
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::policy::{Disclosure, Mode};
use pumpguard_engine::prices::PriceTable;
use pumpguard_engine::stateful::{judge, verified, Completion, Subject};
use pumpguard_engine::store::{ItemKey, MemoryStore};
use pumpguard_engine::{Country, Engine, Policy, TriggerSource, Verdict};

/// 2026-11-21T12:00:00Z: an hour (and minute) boundary, noon of a UTC day.
const T0: i64 = 1_795_262_400;
const MINUTE: i64 = 60;
const HOUR: i64 = 3600;
const DAY: i64 = 86_400;
/// Seconds from T0 to the end of its UTC day.
const TO_MIDNIGHT: i64 = 12 * HOUR;
/// 2026-12-01T00:00:00Z, the first second of the next UTC month.
const DEC_1: i64 = T0 + 9 * DAY + TO_MIDNIGHT;

/// The stateful sections; `only` turns off every one it is not given.
const GUARDS: [&str; 8] = [
    "cooldown",
    "user-limits",
    "prefix-velocity",
    "country-velocity",
    "pool-rate",
    "budget",
    "known-numbers",
    "cohorts",
];

const JAMAICA: &str = "+18762101234";
const PREMIUM: &str = "+19002345678";
const CA_1: &str = "+16048723156";
const CA_2: &str = "+14169375820";

/// An engine for `extra` plus a `[countries]` section allowing US, CA and GB.
fn engine(extra: &str) -> Engine {
    let text = format!(
        "{extra}\n[countries]\nallow = [\"US\", \"CA\", \"GB\"]\ncrown-dependencies = \"separate\"\n"
    );
    match Policy::parse(&text, "stateful-test") {
        Ok(p) => Engine::new(Arc::new(p)),
        Err(e) => panic!("{e}\n--- policy ---\n{text}"),
    }
}

/// Policy text with the given stateful sections (name, body) and every other
/// stateful guard off, so that a test sees only the guards it exercises.
fn only(on: &[(&str, &str)]) -> String {
    let mut text = String::new();
    for guard in GUARDS {
        text.push_str(&format!("[{guard}]\n"));
        match on.iter().find(|(name, _)| *name == guard) {
            Some((_, body)) => {
                text.push_str(body);
                text.push('\n');
            }
            None if guard == "country-velocity" || guard == "cohorts" => {
                text.push_str("mode = \"off\"\nconversion-mode = \"off\"\n");
            }
            None => text.push_str("mode = \"off\"\n"),
        }
    }
    text
}

fn keys() -> PhoneHasher {
    PhoneHasher::new(b"test-key-0123456789").unwrap()
}

/// Distinct valid US numbers, +1 201 555 0123, +1 201 555 0160, … (all share
/// the prefix +1 201 555 0 for i < 24; no suspicious digit runs).
fn us(i: usize) -> String {
    format!("+1201555{:04}", 123 + 37 * i)
}

async fn send(e: &Engine, s: &MemoryStore, phone: &str, now: i64) -> Decision {
    send_as(e, s, TriggerSource::SignUp, phone, None, now).await
}

async fn send_by(e: &Engine, s: &MemoryStore, phone: &str, user: &str, now: i64) -> Decision {
    send_as(e, s, TriggerSource::SignUp, phone, Some(user), now).await
}

async fn send_as(
    e: &Engine,
    s: &MemoryStore,
    source: TriggerSource,
    phone: &str,
    user: Option<&str>,
    now: i64,
) -> Decision {
    judge(
        e,
        s,
        &keys(),
        Subject {
            source,
            phone,
            user,
            now,
        },
    )
    .await
}

async fn verify(e: &Engine, s: &MemoryStore, phone: &str, now: i64) -> bool {
    let completion = Completion {
        phone,
        user: None,
        kind: Some(KnownCompletion::ConfirmSignUp),
    };
    match verified(e, s, &keys(), completion, now).await {
        Ok(v) => v,
        Err(err) => panic!("verified({phone}) failed: {err}"),
    }
}

#[track_caller]
fn allowed(d: &Decision) {
    assert_eq!(d.verdict, Verdict::Allow, "{d:#?}");
    assert!(d.findings.is_empty(), "{d:#?}");
    assert_eq!(d.retry_after(), None);
    assert_eq!(d.block_code(Disclosure::Coarse), None);
}

/// Blocked by exactly one finding, `code`, with the given retry-after.
#[track_caller]
fn blocked(d: &Decision, code: &str, retry_after: Option<u64>) {
    assert_eq!(d.verdict, Verdict::Block, "{d:#?}");
    assert_eq!(d.reasons(), [code], "{d:#?}");
    assert_eq!(d.retry_after(), retry_after, "{d:#?}");
}

fn secs(n: i64) -> Option<u64> {
    Some(u64::try_from(n).unwrap())
}

fn us_price() -> u64 {
    PriceTable::shipped().micro_usd(Country::parse("US"))
}

fn ca_price() -> u64 {
    PriceTable::shipped().micro_usd(Country::parse("CA"))
}

/// A micro-USD amount as the policy's USD figure.
fn usd(micro: u64) -> String {
    format!("{:.6}", micro as f64 / 1_000_000.0)
}

// ---------------------------------------------------------------- fixtures

#[tokio::test]
async fn the_clock_and_numbers_used_here_are_what_the_tests_assume() {
    assert_eq!(T0 % HOUR, 0, "T0 starts an hour");
    assert_eq!(T0.rem_euclid(DAY), 12 * HOUR, "T0 is noon UTC");
    assert_eq!(DEC_1.rem_euclid(DAY), 0);
    // Every number used as "an ordinary US/CA mobile" passes the static guards.
    let e = engine(&only(&[]));
    let mut phones: Vec<String> = (0..40).map(us).collect();
    for p in [
        "+14155552671",
        "+14155552601",
        "+14155552614",
        "+14155552638",
        "+14155552650",
        "+14155552693",
        "+14155553671",
        CA_1,
        CA_2,
    ] {
        phones.push(p.to_string());
    }
    let s = MemoryStore::new();
    for p in &phones {
        let d = send(&e, &s, p, T0).await;
        allowed(&d);
    }
    assert_eq!(
        send(&e, &s, CA_1, T0).await.country,
        Country::parse("CA"),
        "CA_1 is Canadian"
    );
    assert_eq!(send(&e, &s, &us(0), T0).await.country, Country::parse("US"));
    assert!(s.is_empty(), "every stateful guard is off");
}

// ---------------------------------------------------------------- cooldown

#[tokio::test]
async fn cooldown_seed_defaults_60_60_300_with_a_600_s_reset() {
    let e = engine(&only(&[("cooldown", "")]));
    let s = MemoryStore::new();
    let p = "+14155552671";

    allowed(&send(&e, &s, p, T0).await);
    let d = send(&e, &s, p, T0 + 30).await;
    blocked(&d, "COOLDOWN", Some(30));
    assert_eq!(
        d.findings,
        [Finding {
            reason: Reason::Cooldown,
            check: Check::Cooldown,
            mode: Mode::Enforce,
            retry_after: Some(30),
            would_block: false,
        }]
    );
    assert_eq!(
        d.block_code(Disclosure::Coarse).as_deref(),
        Some("RATE_LIMITED retryAfterSeconds=30")
    );
    assert_eq!(
        d.block_code(Disclosure::Detailed).as_deref(),
        Some("RATE_LIMITED:COOLDOWN retryAfterSeconds=30")
    );
    // A refused attempt does not restart the cooldown.
    blocked(&send(&e, &s, p, T0 + 59).await, "COOLDOWN", Some(1));
    allowed(&send(&e, &s, p, T0 + 60).await); // 2nd send of the streak
    blocked(&send(&e, &s, p, T0 + 60).await, "COOLDOWN", Some(60));
    allowed(&send(&e, &s, p, T0 + 120).await); // 3rd send: next one waits 300 s
    blocked(&send(&e, &s, p, T0 + 120).await, "COOLDOWN", Some(300));
    blocked(&send(&e, &s, p, T0 + 180).await, "COOLDOWN", Some(240));
    blocked(&send(&e, &s, p, T0 + 419).await, "COOLDOWN", Some(1));
    allowed(&send(&e, &s, p, T0 + 420).await); // 4th: the last step repeats
    blocked(&send(&e, &s, p, T0 + 420).await, "COOLDOWN", Some(300));
    // A pause of 599 s does not end the streak...
    allowed(&send(&e, &s, p, T0 + 1019).await);
    blocked(&send(&e, &s, p, T0 + 1019).await, "COOLDOWN", Some(300));
    // ...one of 600 s does: back to 60 s.
    allowed(&send(&e, &s, p, T0 + 1619).await);
    blocked(&send(&e, &s, p, T0 + 1649).await, "COOLDOWN", Some(30));
    allowed(&send(&e, &s, p, T0 + 1679).await);

    // Another phone has its own ladder; another spelling of p is p.
    allowed(&send(&e, &s, &us(0), T0 + 1680).await);
    blocked(
        &send(&e, &s, "tel:+1 (415) 555-2671", T0 + 1680).await,
        "COOLDOWN",
        Some(59),
    );
}

/// Walks one phone's ladder: sends, reads the retry-after at the same
/// second, checks the send is refused one second before it and allowed at it.
/// Returns the waits, one per step.
async fn walk_ladder(e: &Engine, phone: &str, steps: usize) -> Vec<u64> {
    let s = MemoryStore::new();
    let mut t = T0;
    let mut waits = Vec::new();
    allowed(&send(e, &s, phone, t).await);
    for _ in 0..steps {
        let d = send(e, &s, phone, t).await;
        assert_eq!(d.reasons(), ["COOLDOWN"], "{d:#?}");
        let wait = d.retry_after().unwrap();
        let w = i64::try_from(wait).unwrap();
        if w > 1 {
            blocked(&send(e, &s, phone, t + w - 1).await, "COOLDOWN", Some(1));
        }
        t += w;
        allowed(&send(e, &s, phone, t).await);
        waits.push(wait);
    }
    waits
}

const DOUBLING: &str =
    "ladder-seconds = [60, 120, 240, 480, 960, 1920]\nreset-after-seconds = 3600";

#[tokio::test]
async fn exponential_ladder_doubles_and_repeats_its_last_step() {
    let e = engine(&only(&[("cooldown", DOUBLING)]));
    assert_eq!(
        walk_ladder(&e, "+14155552671", 8).await,
        [60, 120, 240, 480, 960, 1920, 1920, 1920]
    );
}

#[tokio::test]
async fn jitter_lengthens_each_step_by_at_most_half_stably_per_phone() {
    let policy = only(&[("cooldown", &format!("{DOUBLING}\njitter-percent = 50"))]);
    let e = engine(&policy);
    let bases = [60u64, 120, 240, 480, 960, 1920, 1920];
    let phones: Vec<String> = (0..4).map(us).chain(["+14155552671".into()]).collect();
    let mut ladders = BTreeSet::new();
    for p in &phones {
        let waits = walk_ladder(&e, p, bases.len()).await;
        for (wait, base) in waits.iter().zip(bases) {
            assert!(
                (base..=base * 3 / 2).contains(wait),
                "{p}: wait {wait} outside [{base}, {}] in {waits:?}",
                base * 3 / 2
            );
        }
        // The repeated last step keeps the last step's jitter.
        assert_eq!(waits[6], waits[5], "{p}: {waits:?}");
        // Deterministic: the same phone gets the same ladder on another run,
        // even from another engine built from the same policy.
        assert_eq!(walk_ladder(&e, p, bases.len()).await, waits, "{p}");
        assert_eq!(
            walk_ladder(&engine(&policy), p, bases.len()).await,
            waits,
            "{p}"
        );
        ladders.insert(waits);
    }
    assert!(
        ladders.len() > 1,
        "jitter should differ between phones: {ladders:?}"
    );
    assert!(
        ladders
            .iter()
            .any(|l| l.iter().zip(bases).any(|(w, b)| *w != b)),
        "jitter never lengthened a step: {ladders:?}"
    );
}

// ---------------------------------------------------------------- verification

#[tokio::test]
async fn verification_resets_the_ladder_once_per_send() {
    let e = engine(&only(&[("cooldown", "")]));
    let s = MemoryStore::new();
    let p = "+14155552671";

    // Nothing was sent: nothing to verify, and nothing is written.
    assert!(!verify(&e, &s, p, T0 - 10).await);
    assert!(!verify(&e, &s, "not a number", T0 - 10).await);
    assert!(s.is_empty());

    allowed(&send(&e, &s, p, T0).await);
    allowed(&send(&e, &s, p, T0 + 60).await);
    allowed(&send(&e, &s, p, T0 + 120).await);
    blocked(&send(&e, &s, p, T0 + 130).await, "COOLDOWN", Some(290));

    assert!(verify(&e, &s, p, T0 + 150).await);
    // Verified again without a new send: not counted.
    assert!(!verify(&e, &s, p, T0 + 151).await);
    assert!(!verify(&e, &s, "tel:+1 415-555-2671", T0 + 152).await);

    // Back to the first step: 60 s after the last send, not 300.
    blocked(&send(&e, &s, p, T0 + 179).await, "COOLDOWN", Some(1));
    allowed(&send(&e, &s, p, T0 + 180).await);
    // ...and the streak climbs again from there: 2nd send waits 60 s, 3rd 300 s.
    blocked(&send(&e, &s, p, T0 + 180).await, "COOLDOWN", Some(60));
    allowed(&send(&e, &s, p, T0 + 240).await);
    blocked(&send(&e, &s, p, T0 + 240).await, "COOLDOWN", Some(300));

    // The new send is pending again, so a verification counts again.
    assert!(verify(&e, &s, p, T0 + 250).await);
    blocked(&send(&e, &s, p, T0 + 250).await, "COOLDOWN", Some(50));
}

// ---------------------------------------------------------------- user limits

#[tokio::test]
async fn user_max_phones_per_day_counts_distinct_phones() {
    let e = engine(&only(&[(
        "user-limits",
        "max-phones-per-day = 3\nmax-sends-per-hour = 1000",
    )]));
    let s = MemoryStore::new();
    let (a, b, c, d4) = (us(0), us(1), us(2), us(3));

    allowed(&send_by(&e, &s, &a, "user-1", T0).await);
    allowed(&send_by(&e, &s, &b, "user-1", T0 + 10).await);
    allowed(&send_by(&e, &s, &c, "user-1", T0 + 20).await);
    // Already counted phones do not count twice.
    allowed(&send_by(&e, &s, &a, "user-1", T0 + 30).await);
    allowed(&send_by(&e, &s, &c, "user-1", T0 + 40).await);
    // The 4th distinct phone of the day: refused until midnight UTC.
    let d = send_by(&e, &s, &d4, "user-1", T0 + 50).await;
    blocked(&d, "USER_PHONES_PER_DAY", secs(TO_MIDNIGHT - 50));
    assert_eq!(d.findings[0].check, Check::UserLimits);
    assert_eq!(
        d.block_code(Disclosure::Coarse),
        Some(format!(
            "RATE_LIMITED retryAfterSeconds={}",
            TO_MIDNIGHT - 50
        ))
    );
    // The limit is per user; an event without a user is not limited.
    allowed(&send_by(&e, &s, &d4, "user-2", T0 + 60).await);
    allowed(&send(&e, &s, &d4, T0 + 70).await);
    // Attempts count (see the module doc of `stateful`): the refused 4th
    // phone joined the day's set, so the user's earlier phones are refused
    // too for the rest of the day.
    blocked(
        &send_by(&e, &s, &a, "user-1", T0 + 80).await,
        "USER_PHONES_PER_DAY",
        secs(TO_MIDNIGHT - 80),
    );
    // A new UTC day starts a new set.
    allowed(&send_by(&e, &s, &d4, "user-1", T0 + TO_MIDNIGHT).await);
}

#[tokio::test]
async fn user_max_sends_per_hour_waits_for_the_next_hour() {
    let e = engine(&only(&[(
        "user-limits",
        "max-phones-per-day = 1000\nmax-sends-per-hour = 3",
    )]));
    let s = MemoryStore::new();
    let p = "+14155552671";
    allowed(&send_by(&e, &s, p, "user-1", T0 + 10).await);
    allowed(&send_by(&e, &s, p, "user-1", T0 + 20).await);
    allowed(&send_by(&e, &s, &us(0), "user-1", T0 + 30).await);
    let d = send_by(&e, &s, p, "user-1", T0 + 40).await;
    blocked(&d, "USER_SENDS_PER_HOUR", Some(3560));
    assert_eq!(
        d.block_code(Disclosure::Coarse).as_deref(),
        Some("RATE_LIMITED retryAfterSeconds=3560")
    );
    blocked(
        &send_by(&e, &s, p, "user-1", T0 + HOUR - 1).await,
        "USER_SENDS_PER_HOUR",
        Some(1),
    );
    allowed(&send_by(&e, &s, p, "user-2", T0 + 50).await);
    allowed(&send_by(&e, &s, p, "user-1", T0 + HOUR).await);
}

#[tokio::test]
async fn retry_after_is_the_longest_enforced_wait() {
    let e = engine(&only(&[
        ("cooldown", ""),
        ("user-limits", "max-sends-per-hour = 1"),
    ]));
    let s = MemoryStore::new();
    let p = "+14155552671";
    allowed(&send_by(&e, &s, p, "user-1", T0).await);
    let d = send_by(&e, &s, p, "user-1", T0 + 30).await;
    assert_eq!(d.verdict, Verdict::Block);
    assert_eq!(d.reasons(), ["COOLDOWN", "USER_SENDS_PER_HOUR"]);
    assert_eq!(d.findings[0].retry_after, Some(30));
    assert_eq!(d.findings[1].retry_after, Some(3570));
    assert_eq!(d.retry_after(), Some(3570));
    assert_eq!(
        d.block_code(Disclosure::Coarse).as_deref(),
        Some("RATE_LIMITED retryAfterSeconds=3570")
    );
}

// ---------------------------------------------------------------- prefix velocity

#[tokio::test]
async fn prefix_velocity_counts_numbers_sharing_all_but_the_hidden_digits() {
    let e = engine(&only(&[(
        "prefix-velocity",
        "hidden-digits = 3\nmax-sends = 4\nwindow-seconds = 3600",
    )]));
    let s = MemoryStore::new();
    // All +1 415 555 2xxx: the same prefix once the last 3 digits are hidden.
    let same = [
        "+14155552601",
        "+14155552614",
        "+14155552638",
        "+14155552650",
        "+14155552693",
    ];
    for (i, p) in same[..4].iter().enumerate() {
        allowed(&send(&e, &s, p, T0 + i64::try_from(i).unwrap()).await);
    }
    let d = send(&e, &s, same[4], T0 + 4).await;
    blocked(&d, "PREFIX_VELOCITY", Some(3596));
    assert_eq!(d.findings[0].check, Check::PrefixVelocity);
    // A number whose 4th-last digit differs has another prefix.
    allowed(&send(&e, &s, "+14155553671", T0 + 5).await);
    // The same prefix in the next window.
    allowed(&send(&e, &s, same[4], T0 + HOUR).await);
}

// ---------------------------------------------------------------- country velocity

const CV_HOUR: &str = "hourly-floor = 5\ndaily-floor = 1000\nverified-multiplier = 2.0\n\
                       lookback-days = 7\nconversion-mode = \"off\"";

#[tokio::test]
async fn country_velocity_hourly_floor() {
    let e = engine(&only(&[("country-velocity", CV_HOUR)]));
    let s = MemoryStore::new();
    for i in 0..5 {
        allowed(&send(&e, &s, &us(i), T0 + 10 * i64::try_from(i).unwrap()).await);
    }
    let d = send(&e, &s, &us(5), T0 + 100).await;
    blocked(&d, "COUNTRY_VELOCITY_HOUR", Some(3500));
    assert_eq!(d.findings[0].check, Check::CountryVelocity);
    assert_eq!(
        d.block_code(Disclosure::Coarse).as_deref(),
        Some("RATE_LIMITED retryAfterSeconds=3500")
    );
    // Per country: Canada is not affected.
    allowed(&send(&e, &s, CA_1, T0 + 110).await);
    // The next hour starts a new count.
    allowed(&send(&e, &s, &us(6), T0 + HOUR).await);
}

/// Sends to `n` distinct US numbers (starting at `us(first)`) within one hour
/// starting at `at`, each verified five seconds later.
async fn verified_traffic(e: &Engine, s: &MemoryStore, first: usize, n: usize, at: i64) {
    for i in 0..n {
        let t = at + 10 * i64::try_from(i).unwrap();
        allowed(&send(e, s, &us(first + i), t).await);
        assert!(
            verify(e, s, &us(first + i), t + 5).await,
            "us({})",
            first + i
        );
    }
}

/// How many sends to distinct US numbers in the hour starting at `at` pass
/// before the first refusal (which must be `code`). At most `cap`.
async fn sends_until_blocked(
    e: &Engine,
    s: &MemoryStore,
    first: usize,
    at: i64,
    step: i64,
    code: &str,
    cap: usize,
) -> usize {
    for i in 0..cap {
        let d = send(e, s, &us(first + i), at + step * i64::try_from(i).unwrap()).await;
        if d.verdict == Verdict::Block {
            assert_eq!(d.reasons(), [code], "{d:#?}");
            return i;
        }
        allowed(&d);
    }
    cap
}

#[tokio::test]
async fn country_hourly_threshold_grows_with_verified_traffic() {
    // Verification needs the cooldown record of the send (see the BUG test
    // below), so the cooldown guard is on; every phone is distinct.
    let e = engine(&only(&[("cooldown", ""), ("country-velocity", CV_HOUR)]));
    let hour_code = "COUNTRY_VELOCITY_HOUR";

    // No history: the floor (5).
    let s = MemoryStore::new();
    assert_eq!(
        sends_until_blocked(&e, &s, 20, T0, 1, hour_code, 20).await,
        5
    );

    // Yesterday, 4 verified SMS in one hour: threshold max(5, 2 × 4) = 8.
    let s = MemoryStore::new();
    verified_traffic(&e, &s, 0, 4, T0 - DAY).await;
    assert_eq!(
        sends_until_blocked(&e, &s, 20, T0, 1, hour_code, 20).await,
        8
    );
    let d = send(&e, &s, &us(39), T0 + 100).await;
    blocked(&d, hour_code, Some(3500));

    // Sends without verifications raise nothing.
    let s = MemoryStore::new();
    for i in 0..4 {
        allowed(&send(&e, &s, &us(i), T0 - DAY + 10 * i64::try_from(i).unwrap()).await);
    }
    assert_eq!(
        sends_until_blocked(&e, &s, 20, T0, 1, hour_code, 20).await,
        5
    );

    // Verified traffic six days ago is still within the 7-day lookback; the
    // hourly peak, not the day's total, sets the hourly threshold.
    let s = MemoryStore::new();
    verified_traffic(&e, &s, 0, 3, T0 - 6 * DAY).await;
    verified_traffic(&e, &s, 3, 3, T0 - 6 * DAY + 2 * HOUR).await;
    assert_eq!(
        sends_until_blocked(&e, &s, 20, T0, 1, hour_code, 20).await,
        6
    );
}

#[tokio::test]
async fn country_history_older_than_lookback_days_is_ignored() {
    let cv = "hourly-floor = 5\ndaily-floor = 1000\nlookback-days = 2\nconversion-mode = \"off\"";
    let e = engine(&only(&[("cooldown", ""), ("country-velocity", cv)]));
    let hour_code = "COUNTRY_VELOCITY_HOUR";

    let s = MemoryStore::new();
    verified_traffic(&e, &s, 0, 4, T0 - 2 * DAY).await;
    assert_eq!(
        sends_until_blocked(&e, &s, 20, T0, 1, hour_code, 20).await,
        8
    );

    let s = MemoryStore::new();
    verified_traffic(&e, &s, 0, 4, T0 - 3 * DAY).await;
    assert_eq!(
        sends_until_blocked(&e, &s, 20, T0, 1, hour_code, 20).await,
        5
    );
}

#[tokio::test]
async fn country_daily_threshold_and_its_growth() {
    let cv = "hourly-floor = 1000\ndaily-floor = 4\nverified-multiplier = 2.0\n\
              conversion-mode = \"off\"";
    let e = engine(&only(&[("cooldown", ""), ("country-velocity", cv)]));
    let day_code = "COUNTRY_VELOCITY_DAY";

    // Spread over hours of one UTC day: the 5th is refused until midnight.
    let s = MemoryStore::new();
    assert_eq!(
        sends_until_blocked(&e, &s, 0, T0, HOUR, day_code, 10).await,
        4
    );
    let d = send(&e, &s, &us(30), T0 + 5 * HOUR).await;
    blocked(&d, day_code, secs(TO_MIDNIGHT - 5 * HOUR));
    // The next UTC day starts a new count.
    allowed(&send(&e, &s, &us(31), T0 + TO_MIDNIGHT).await);

    // 3 verified yesterday (in different hours): max(4, 2 × 3) = 6 today.
    let s = MemoryStore::new();
    for i in 0..3 {
        verified_traffic(&e, &s, i, 1, T0 - DAY + i64::try_from(i).unwrap() * HOUR).await;
    }
    assert_eq!(
        sends_until_blocked(&e, &s, 10, T0, HOUR, day_code, 10).await,
        6
    );
}

const CONVERSION: &str = "mode = \"off\"\nconversion-mode = \"enforce\"\nmin-conversion = 0.5\n\
                          conversion-min-sends = 4";

#[tokio::test]
async fn country_low_conversion_blocks_once_enough_sends_go_unverified() {
    let e = engine(&only(&[("country-velocity", CONVERSION)]));
    let s = MemoryStore::new();
    for i in 0..3 {
        allowed(&send(&e, &s, &us(i), T0 + i64::try_from(i).unwrap()).await);
    }
    let d = send(&e, &s, &us(3), T0 + 3).await;
    blocked(&d, "COUNTRY_LOW_CONVERSION", secs(TO_MIDNIGHT - 3));
    assert_eq!(d.findings[0].check, Check::CountryVelocity);
    // Canada's own day has too few sends to judge.
    allowed(&send(&e, &s, CA_1, T0 + 4).await);
}

#[tokio::test]
async fn country_conversion_counts_todays_verifications() {
    let e = engine(&only(&[("cooldown", ""), ("country-velocity", CONVERSION)]));
    let s = MemoryStore::new();
    verified_traffic(&e, &s, 0, 2, T0).await; // 2 sent, 2 verified
    allowed(&send(&e, &s, &us(2), T0 + 100).await); // 3 sent
    allowed(&send(&e, &s, &us(3), T0 + 101).await); // 4 sent, 2 verified: 50 %
    let d = send(&e, &s, &us(4), T0 + 102).await; // 5 sent, 2 verified: 40 %
    blocked(&d, "COUNTRY_LOW_CONVERSION", secs(TO_MIDNIGHT - 102));
}

// ---------------------------------------------------------------- pool rate

#[tokio::test]
async fn pool_rate_per_minute_and_per_hour() {
    let e = engine(&only(&[(
        "pool-rate",
        "mode = \"enforce\"\nmax-per-minute = 3\nmax-per-hour = 1000",
    )]));
    let s = MemoryStore::new();
    allowed(&send(&e, &s, &us(0), T0).await);
    allowed(&send(&e, &s, &us(1), T0 + 10).await);
    allowed(&send(&e, &s, CA_1, T0 + 20).await);
    let d = send(&e, &s, &us(2), T0 + 30).await;
    blocked(&d, "POOL_RATE_MINUTE", Some(30));
    assert_eq!(d.findings[0].check, Check::PoolRate);
    blocked(
        &send(&e, &s, &us(3), T0 + 59).await,
        "POOL_RATE_MINUTE",
        Some(1),
    );
    allowed(&send(&e, &s, &us(2), T0 + MINUTE).await);

    let e = engine(&only(&[(
        "pool-rate",
        "mode = \"enforce\"\nmax-per-minute = 100\nmax-per-hour = 5",
    )]));
    let s = MemoryStore::new();
    for i in 0..5 {
        allowed(&send(&e, &s, &us(i), T0 + MINUTE * i64::try_from(i).unwrap()).await);
    }
    blocked(
        &send(&e, &s, &us(5), T0 + 300).await,
        "POOL_RATE_HOUR",
        Some(3300),
    );
    allowed(&send(&e, &s, &us(5), T0 + HOUR).await);
}

// ---------------------------------------------------------------- budget

#[tokio::test]
async fn daily_budget_blocks_with_sms_unavailable() {
    let price = us_price();
    assert!(price > 0);
    // Room for three US SMS and a half.
    let body = format!(
        "mode = \"enforce\"\ndaily-usd = {}\ncountry-share = 1.0",
        usd(price * 7 / 2)
    );
    let e = engine(&only(&[("budget", &body)]));
    let s = MemoryStore::new();
    for i in 0..3 {
        let d = send(&e, &s, &us(i), T0 + i64::try_from(i).unwrap()).await;
        allowed(&d);
        assert_eq!(d.cost_micro_usd, Some(price));
    }
    let d = send(&e, &s, &us(3), T0 + 3).await;
    blocked(&d, "BUDGET_DAILY", None);
    assert_eq!(d.findings[0].check, Check::Budget);
    assert_eq!(
        d.block_code(Disclosure::Coarse).as_deref(),
        Some("SMS_UNAVAILABLE")
    );
    assert_eq!(
        d.block_code(Disclosure::Detailed).as_deref(),
        Some("SMS_UNAVAILABLE:BUDGET_DAILY")
    );
    blocked(
        &send(&e, &s, &us(4), T0 + TO_MIDNIGHT - 1).await,
        "BUDGET_DAILY",
        None,
    );
    // A new UTC day, a new budget.
    allowed(&send(&e, &s, &us(4), T0 + TO_MIDNIGHT).await);
}

#[tokio::test]
async fn core_only_keeps_core_countries_going_once_the_budget_is_spent() {
    let (us_p, ca_p) = (us_price(), ca_price());
    // Room for one CA and two and a half US SMS.
    let body = format!(
        "mode = \"enforce\"\ndaily-usd = {}\nwhen-exhausted = \"core-only\"\n\
         core-countries = [\"US\"]\ncountry-share = 1.0",
        usd(ca_p + us_p * 5 / 2)
    );
    let e = engine(&only(&[("budget", &body)]));
    let s = MemoryStore::new();
    let d = send(&e, &s, CA_1, T0).await;
    allowed(&d);
    assert_eq!(d.cost_micro_usd, Some(ca_p));
    allowed(&send(&e, &s, &us(0), T0 + 1).await);
    allowed(&send(&e, &s, &us(1), T0 + 2).await);
    // Spent: US (core) still goes, CA does not.
    allowed(&send(&e, &s, &us(2), T0 + 3).await);
    allowed(&send(&e, &s, &us(3), T0 + 4).await);
    let d = send(&e, &s, CA_2, T0 + 5).await;
    blocked(&d, "BUDGET_DAILY", None);
    assert_eq!(
        d.block_code(Disclosure::Coarse).as_deref(),
        Some("SMS_UNAVAILABLE")
    );
    allowed(&send(&e, &s, &us(4), T0 + 6).await);
}

#[tokio::test]
async fn monthly_budget_spans_days_and_resets_with_the_month() {
    let price = us_price();
    let body = format!(
        "mode = \"enforce\"\nmonthly-usd = {}\ncountry-share = 1.0",
        usd(price * 7 / 2)
    );
    let e = engine(&only(&[("budget", &body)]));
    let s = MemoryStore::new();
    allowed(&send(&e, &s, &us(0), T0).await);
    allowed(&send(&e, &s, &us(1), T0 + DAY).await);
    allowed(&send(&e, &s, &us(2), T0 + 2 * DAY).await);
    let d = send(&e, &s, &us(3), T0 + 3 * DAY).await;
    blocked(&d, "BUDGET_MONTHLY", None);
    assert_eq!(
        d.block_code(Disclosure::Detailed).as_deref(),
        Some("SMS_UNAVAILABLE:BUDGET_MONTHLY")
    );
    blocked(
        &send(&e, &s, &us(3), DEC_1 - 1).await,
        "BUDGET_MONTHLY",
        None,
    );
    allowed(&send(&e, &s, &us(3), DEC_1).await);
}

#[tokio::test]
async fn budget_prices_override_the_shipped_table() {
    let body =
        "mode = \"enforce\"\ndaily-usd = 0.12\ncountry-share = 1.0\n[budget.prices]\nUS = 0.05";
    let e = engine(&only(&[("budget", body)]));
    assert_eq!(
        e.policy().budget.prices.micro_usd(Country::parse("US")),
        50_000
    );
    let s = MemoryStore::new();
    let d = send(&e, &s, &us(0), T0).await;
    allowed(&d);
    assert_eq!(d.cost_micro_usd, Some(50_000));
    allowed(&send(&e, &s, &us(1), T0 + 1).await);
    blocked(&send(&e, &s, &us(2), T0 + 2).await, "BUDGET_DAILY", None);
    // Other countries keep the shipped price.
    let d = send(&e, &s, CA_1, T0 + 3).await;
    assert_eq!(d.cost_micro_usd, Some(ca_price()));
}

// ---------------------------------------------------------------- modes

#[tokio::test]
async fn a_guard_in_monitor_mode_records_but_sends() {
    let e = engine(&only(&[("cooldown", "mode = \"monitor\"")]));
    let s = MemoryStore::new();
    let p = "+14155552671";
    allowed(&send(&e, &s, p, T0).await);
    let d = send(&e, &s, p, T0 + 30).await;
    assert_eq!(d.verdict, Verdict::Monitor, "{d:#?}");
    assert_eq!(
        d.findings,
        [Finding {
            reason: Reason::Cooldown,
            check: Check::Cooldown,
            mode: Mode::Monitor,
            retry_after: Some(30),
            would_block: false,
        }]
    );
    assert_eq!(d.retry_after(), None);
    assert_eq!(d.block_code(Disclosure::Coarse), None);

    // The pool-rate guard is in monitor mode by default.
    let e = engine(&only(&[("pool-rate", "max-per-minute = 2")]));
    let s = MemoryStore::new();
    allowed(&send(&e, &s, &us(0), T0).await);
    allowed(&send(&e, &s, &us(1), T0 + 1).await);
    let d = send(&e, &s, &us(2), T0 + 2).await;
    assert_eq!(d.verdict, Verdict::Monitor, "{d:#?}");
    assert_eq!(d.reasons(), ["POOL_RATE_MINUTE"]);
    assert_eq!(d.findings[0].mode, Mode::Monitor);
}

#[tokio::test]
async fn trigger_monitor_mode_caps_every_stateful_guard() {
    let budget = format!(
        "mode = \"enforce\"\ndaily-usd = {}\ncountry-share = 1.0",
        usd(us_price() * 3 / 2)
    );
    let policy = format!(
        "{}[trigger]\nmode = \"monitor\"\n",
        only(&[("cooldown", ""), ("budget", &budget)])
    );
    let e = engine(&policy);
    let s = MemoryStore::new();
    let p = "+14155552671";
    allowed(&send(&e, &s, p, T0).await);
    let d = send(&e, &s, p, T0 + 30).await;
    assert_eq!(d.verdict, Verdict::Monitor, "{d:#?}");
    assert_eq!(d.reasons(), ["COOLDOWN", "BUDGET_DAILY"]);
    assert!(d.findings.iter().all(|f| f.mode == Mode::Monitor), "{d:#?}");
    assert_eq!(d.block_code(Disclosure::Coarse), None);
    assert_eq!(d.retry_after(), None);

    // `off` turns every guard off: nothing is counted.
    let policy = format!(
        "{}[trigger]\nmode = \"off\"\n",
        only(&[("cooldown", ""), ("budget", &budget)])
    );
    let e = engine(&policy);
    let s = MemoryStore::new();
    allowed(&send(&e, &s, p, T0).await);
    allowed(&send(&e, &s, p, T0 + 1).await);
    assert!(s.is_empty());
}

// ---------------------------------------------------------------- exemptions

#[tokio::test]
async fn admin_create_user_exemption_skips_the_rate_limits_only() {
    let admin = TriggerSource::AdminCreateUser;
    let p = "+14155552671";

    let e = engine(&format!(
        "{}[exemptions]\nadmin-create-user = true\n",
        only(&[("cooldown", "")])
    ));
    let s = MemoryStore::new();
    allowed(&send_as(&e, &s, admin, p, Some("u"), T0).await);
    allowed(&send_as(&e, &s, admin, p, Some("u"), T0 + 1).await);
    assert!(s.is_empty(), "exempt sends are not counted");
    // Other sources to the same phone are still limited.
    allowed(&send(&e, &s, p, T0 + 2).await);
    blocked(&send(&e, &s, p, T0 + 3).await, "COOLDOWN", Some(59));

    let e = engine(&format!(
        "{}[exemptions]\nadmin-create-user = false\n",
        only(&[("cooldown", "")])
    ));
    let s = MemoryStore::new();
    allowed(&send_as(&e, &s, admin, p, Some("u"), T0).await);
    blocked(
        &send_as(&e, &s, admin, p, Some("u"), T0 + 1).await,
        "COOLDOWN",
        Some(59),
    );

    // The budget still applies to exempt sources.
    let budget = format!(
        "mode = \"enforce\"\ndaily-usd = {}\ncountry-share = 1.0",
        usd(us_price() * 3 / 2)
    );
    let e = engine(&format!(
        "{}[exemptions]\nadmin-create-user = true\n",
        only(&[("cooldown", ""), ("budget", &budget)])
    ));
    let s = MemoryStore::new();
    allowed(&send_as(&e, &s, admin, p, None, T0).await);
    blocked(
        &send_as(&e, &s, admin, p, None, T0 + 1).await,
        "BUDGET_DAILY",
        None,
    );
}

/// Every stateful guard on, with limits low enough to trip.
fn everything(extra: &str) -> Engine {
    everything_with(extra, 6, us_price() * 9 / 2)
}

/// [`everything`] with the prefix limit and the daily budget (micro-USD) given.
fn everything_with(extra: &str, prefix_max: u32, daily_micro_usd: u64) -> Engine {
    let budget = format!(
        "mode = \"enforce\"\ndaily-usd = {}\nmonthly-usd = {}\ncountry-share = 1.0",
        usd(daily_micro_usd),
        usd(us_price() * 40)
    );
    engine(&format!(
        "{}{extra}",
        only(&[
            ("cooldown", ""),
            (
                "user-limits",
                "max-phones-per-day = 2\nmax-sends-per-hour = 3"
            ),
            (
                "prefix-velocity",
                &format!("hidden-digits = 3\nmax-sends = {prefix_max}"),
            ),
            (
                "country-velocity",
                "hourly-floor = 5\ndaily-floor = 7\nconversion-mode = \"enforce\"\n\
                 min-conversion = 0.3\nconversion-min-sends = 5"
            ),
            (
                "pool-rate",
                "mode = \"enforce\"\nmax-per-minute = 3\nmax-per-hour = 1000"
            ),
            ("budget", &budget),
        ])
    ))
}

#[tokio::test]
async fn allow_numbers_skip_every_check_and_the_store() {
    let e = everything(&format!("[exemptions]\nallow-numbers = [\"{PREMIUM}\"]\n"));
    let s = MemoryStore::new();
    for (i, spelling) in [PREMIUM, PREMIUM, PREMIUM, "+1 900 234 5678"]
        .iter()
        .enumerate()
    {
        let d = send_by(&e, &s, spelling, "user-1", T0 + i64::try_from(i).unwrap()).await;
        allowed(&d);
        assert!(d.exempt, "{d:#?}");
        assert_eq!(d.cost_micro_usd, None);
    }
    assert!(s.is_empty(), "{:?}", s.expiries());
    // Another premium-rate number is not exempt.
    let d = send(&e, &s, "+19004571829", T0 + 10).await;
    assert_eq!(d.verdict, Verdict::Block);
    assert_eq!(d.reasons(), ["NUMBER_TYPE_PREMIUM_RATE"]);
    assert!(!d.exempt);
}

#[tokio::test]
async fn static_blocks_never_touch_the_store() {
    let e = everything("");
    let s = MemoryStore::new();
    let d = send_by(&e, &s, JAMAICA, "user-1", T0).await;
    assert_eq!(d.verdict, Verdict::Block);
    assert_eq!(d.reasons(), ["COUNTRY_NOT_ALLOWED"]);
    assert_eq!(
        d.block_code(Disclosure::Coarse).as_deref(),
        Some("SMS_BLOCKED_COUNTRY")
    );
    assert_eq!(d.cost_micro_usd, None);
    let d = send_by(&e, &s, "+19004571829", "user-1", T0 + 1).await;
    assert_eq!(d.verdict, Verdict::Block);
    let d = send_by(&e, &s, "call me", "user-1", T0 + 2).await;
    assert_eq!(d.verdict, Verdict::Block);
    assert!(s.is_empty(), "{:?}", s.expiries());
    // Nor does a verification for a number that was never sent to.
    assert!(!verify(&e, &s, JAMAICA, T0 + 3).await);
    assert!(s.is_empty());
    // The same policy does count an allowed number.
    allowed(&send_by(&e, &s, &us(0), "user-1", T0 + 4).await);
    assert!(!s.is_empty());
}

// ---------------------------------------------------------------- TTL

/// Records each item's `expires_at` when a write sets or changes it, and
/// checks it is set and lies well after that write.
#[derive(Default)]
struct TtlWatch {
    seen: HashMap<ItemKey, i64>,
    checked: usize,
}

impl TtlWatch {
    #[track_caller]
    fn after(&mut self, s: &MemoryStore, now: i64) {
        for (key, expires) in s.expiries() {
            let Some(expires) = expires else {
                panic!("{key:?} has no expires_at after a write at {now}");
            };
            if self.seen.get(&key) != Some(&expires) {
                // The shortest lifetime is the pool's minute bucket + 1 h.
                assert!(
                    expires >= now + HOUR,
                    "{key:?} expires at {expires}, {} s after its write at {now}",
                    expires - now
                );
                self.seen.insert(key, expires);
                self.checked += 1;
            }
        }
    }
}

#[tokio::test]
async fn every_item_gets_an_expiry_after_its_window() {
    // Refused attempts give back the shared counters, so each limit is
    // reached by SMS that went out: a budget that is not the first to bind,
    // a tighter prefix limit for the block phase and a tight budget at the end.
    let e = everything_with("", 6, us_price() * 30);
    let s = MemoryStore::new();
    let mut watch = TtlWatch::default();
    let mut reasons = BTreeSet::new();

    // Yesterday: verified traffic (country history, peak hour, verify ops).
    let y = T0 - DAY;
    for i in 0..3 {
        let t = y + 10 * i64::try_from(i).unwrap();
        allowed(&send_by(&e, &s, &us(i), &format!("old-{i}"), t).await);
        watch.after(&s, t);
        assert!(verify(&e, &s, &us(i), t + 5).await);
        watch.after(&s, t + 5);
    }
    // Early today, fresh phones of one 1,000-number block, no user: past
    // every per-phone guard, they run the block's counter over its limit.
    let block = everything_with("", 2, us_price() * 30);
    for k in 0..4usize {
        let now = T0 - 7200 + i64::try_from(k).unwrap();
        let d = send(&block, &s, &us(12 + k), now).await;
        reasons.extend(d.reasons());
        watch.after(&s, now);
        // Their codes are used, so the country's conversion stays good.
        if d.verdict == Verdict::Allow {
            assert!(verify(&block, &s, &us(12 + k), now + 1).await);
            watch.after(&s, now + 1);
        }
    }
    // An hour later, fresh phones of other blocks, four a minute (over the
    // pool's 3) for four minutes (over the country's hourly limit: twice
    // yesterday's peak hour of 3 verified, as one code in three is used).
    let mut hour_sent = 0;
    for k in 0..16usize {
        let k64 = i64::try_from(k).unwrap();
        let now = T0 - 3600 + k64 + 60 * (k64 / 4);
        let phone = format!("+1{}555{:04}", [415, 646][k % 2], 200 + 37 * k);
        let d = send(&e, &s, &phone, now).await;
        reasons.extend(d.reasons());
        watch.after(&s, now);
        if d.verdict == Verdict::Allow {
            hour_sent += 1;
            if hour_sent % 3 == 1 {
                assert!(verify(&e, &s, &phone, now + 1).await);
                watch.after(&s, now + 1);
            }
        }
    }
    // Today: a mixed run over a few minutes, users rotating phones, repeats,
    // Canada, AdminCreateUser and a verification in between.
    let users = [Some("u1"), Some("u2"), None, Some("u1")];
    let mut sent_today = Vec::new();
    for i in 0..24usize {
        let now = T0 + 10 * i64::try_from(i).unwrap();
        let phone = match i % 6 {
            0 => CA_1.to_string(),
            5 => us(i / 3),
            _ => us(i % 4 + 3),
        };
        let source = if i % 7 == 6 {
            TriggerSource::AdminCreateUser
        } else {
            TriggerSource::ResendCode
        };
        let d = send_as(&e, &s, source, &phone, users[i % 4], now).await;
        reasons.extend(d.reasons());
        if d.verdict == Verdict::Allow && source != TriggerSource::AdminCreateUser {
            sent_today.push(phone);
        }
        watch.after(&s, now);
        if i == 10 {
            verify(&e, &s, &us(4), now + 1).await;
            watch.after(&s, now + 1);
        }
    }
    // A late verification of a phone sent to today (writes the country items).
    let t = T0 + 3000;
    let first = sent_today.first().expect("some SMS went out today");
    assert!(verify(&e, &s, first, t).await, "{first}");
    watch.after(&s, t);
    // Then a budget below what today spent.
    let tight = everything_with("", 2, us_price() / 2);
    let now = T0 + 3 * 3600;
    let d = send(&tight, &s, &us(30), now).await;
    reasons.extend(d.reasons());
    watch.after(&s, now);

    for code in [
        "COOLDOWN",
        "USER_PHONES_PER_DAY",
        "USER_SENDS_PER_HOUR",
        "PREFIX_VELOCITY",
        "COUNTRY_VELOCITY_HOUR",
        "COUNTRY_VELOCITY_DAY",
        "POOL_RATE_MINUTE",
        "BUDGET_DAILY",
    ] {
        assert!(reasons.contains(code), "{code} never tripped: {reasons:?}");
    }

    let items = s.expiries();
    assert_eq!(items.len(), s.len());
    assert!(watch.checked >= items.len());
    let mut kinds = BTreeSet::new();
    for (key, expires) in &items {
        let expires = expires.unwrap_or_else(|| panic!("{key:?} has no expires_at"));
        let kind = key.pk().split('#').next().unwrap().to_string();
        // Items a later decision reads must outlive the window they count.
        match (kind.as_str(), key.sk().chars().next()) {
            ("country", Some('d')) => {
                let day: i64 = key.sk()[1..].parse().unwrap();
                // Read back as history for `lookback-days` (7) more days.
                assert!(expires >= (day + 1 + 7) * DAY, "{key:?} {expires}");
            }
            ("spend", Some('m')) => assert!(expires >= DEC_1, "{key:?} {expires}"),
            ("spend", Some('d')) => {
                assert!(expires >= T0 + TO_MIDNIGHT, "{key:?} {expires}");
            }
            ("phone", _) => assert!(expires >= T0 + 600, "{key:?} {expires}"),
            _ => {}
        }
        kinds.insert(kind);
    }
    assert_eq!(
        kinds,
        ["country", "phone", "pool", "prefix", "spend", "user"]
            .map(String::from)
            .into_iter()
            .collect::<BTreeSet<_>>()
    );
}

// ---------------------------------------------------------------- edge cases

#[tokio::test]
async fn verification_counts_even_with_the_cooldown_guard_off() {
    // Country velocity on, cooldown off: a send is allowed and its code used.
    let e = engine(&only(&[("country-velocity", CV_HOUR)]));
    let s = MemoryStore::new();
    allowed(&send(&e, &s, &us(0), T0 - DAY).await);
    let counted = verify(&e, &s, &us(0), T0 - DAY + 5).await;
    assert!(counted, "an allowed, then verified, SMS was not counted");
    // Once only per send.
    assert!(!verify(&e, &s, &us(0), T0 - DAY + 6).await);
}

#[tokio::test]
async fn jitter_must_fit_inside_the_reset() {
    // A jittered step longer than the reset would end the streak before the
    // promised retry-after: the policy is refused.
    let bad =
        "[cooldown]\nladder-seconds = [300]\nreset-after-seconds = 300\njitter-percent = 100\n\
               [countries]\nallow = [\"US\"]\ncrown-dependencies = \"separate\"\n";
    let err = Policy::parse(bad, "p").expect_err("refused");
    assert!(
        err.problems[0]
            .message
            .contains("longest step with its jitter (600 s)"),
        "{err}"
    );
    // With room for the jitter, no send gets through before its retry-after.
    let e = engine(&only(&[(
        "cooldown",
        "ladder-seconds = [300]\nreset-after-seconds = 600\njitter-percent = 100",
    )]));
    let s = MemoryStore::new();
    let p = "+14155552671";
    allowed(&send(&e, &s, p, T0).await);
    let d = send(&e, &s, p, T0).await;
    let wait = i64::try_from(d.retry_after().unwrap()).unwrap();
    assert!(
        wait > 300,
        "this phone's jitter is 0: pick another ({wait})"
    );
    let d = send(&e, &s, p, T0 + wait - 1).await;
    assert_eq!(d.verdict, Verdict::Block, "allowed before its retry-after");
    allowed(&send(&e, &s, p, T0 + wait).await);
}

#[tokio::test]
async fn generic_disclosure_hides_even_the_rate_limit() {
    let e = engine(&only(&[("cooldown", "")]));
    let s = MemoryStore::new();
    let p = "+14155552671";
    allowed(&send(&e, &s, p, T0).await);
    let d = send(&e, &s, p, T0 + 30).await;
    blocked(&d, "COOLDOWN", Some(30));
    assert_eq!(
        d.block_code(Disclosure::Generic).as_deref(),
        Some("SMS_BLOCKED")
    );
    assert_eq!(
        d.block_code(Disclosure::Coarse).as_deref(),
        Some("RATE_LIMITED retryAfterSeconds=30")
    );
}

#[tokio::test]
async fn a_budget_block_outranks_a_rate_limit_in_the_code() {
    let e = engine(&only(&[
        ("pool-rate", "mode = \"enforce\"\nmax-per-minute = 1"),
        // Room for one US SMS ($0.00847), not two.
        (
            "budget",
            "mode = \"enforce\"\ndaily-usd = 0.015\ncountry-share = 1.0",
        ),
    ]));
    let s = MemoryStore::new();
    let first = send(&e, &s, "+14155552671", T0).await;
    assert_eq!(first.verdict, Verdict::Allow, "{first:?}");
    let d = send(&e, &s, "+14155552672", T0 + 30).await;
    assert_eq!(d.reasons(), ["POOL_RATE_MINUTE", "BUDGET_DAILY"]);
    assert_eq!(
        d.block_code(Disclosure::Coarse).as_deref(),
        Some("SMS_UNAVAILABLE")
    );
    assert_eq!(d.retry_after(), None);
}

#[tokio::test]
async fn a_refused_phone_does_not_use_up_the_shared_allowance() {
    // One phone hammered: the cooldown refuses the repeats, and they never
    // reach the country, pool or prefix counters, so other phones still go.
    let e = engine(&only(&[
        ("cooldown", ""),
        ("prefix-velocity", "hidden-digits = 3\nmax-sends = 3"),
        ("country-velocity", "hourly-floor = 3\ndaily-floor = 1000"),
        (
            "pool-rate",
            "mode = \"enforce\"\nmax-per-minute = 3\nmax-per-hour = 1000",
        ),
    ]));
    let s = MemoryStore::new();
    let victim = us(0);
    allowed(&send(&e, &s, &victim, T0).await);
    for i in 1..50 {
        let d = send(&e, &s, &victim, T0 + i).await;
        assert_eq!(d.reasons(), ["COOLDOWN"], "attempt {i}");
    }
    allowed(&send(&e, &s, &us(1), T0 + 50).await);
    allowed(&send(&e, &s, &us(2), T0 + 51).await);
    // The fourth distinct phone in the minute is over the pool's 3.
    let d = send(&e, &s, &us(3), T0 + 52).await;
    assert_eq!(d.verdict, Verdict::Block);
    assert!(d.reasons().contains(&"POOL_RATE_MINUTE".to_string()));
}
