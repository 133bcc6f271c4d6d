//! Clock skew between instances: several engines share one store, each
//! deciding with its own clock (`now` is injected: the real time of the
//! attempt plus the instance's offset). What must hold:
//!
//! * nothing panics, whatever the clocks say;
//! * the cooldown: an instance whose clock is ahead of the one that recorded
//!   the last send sees that send as older than it was, so it can let the
//!   next send through early by up to the skew; an instance whose clock is
//!   behind sees it as newer and waits longer. In a retry loop, the k-th
//!   send comes at most the clocks' spread earlier than with one clock (the
//!   early send moves the streak's clock forward, and every later step is
//!   timed from it): skew shifts the ladder, it does not shorten it;
//! * fixed windows: each instance counts into the bucket its own clock names.
//!   Every bucket stays exact (no lost counts) and never lets more than its
//!   limit through; when skewed clocks name different buckets, each bucket
//!   has its own limit, as at any bucket boundary.

#![allow(clippy::panic, clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeMap;
use std::sync::Arc;

use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::stateful::{judge, Subject};
use pumpguard_engine::store::{ItemKey, MemoryStore, Op, OpResult, Store};
use pumpguard_engine::{Decision, Engine, Policy, TriggerSource, Verdict};
use pumpguard_trigger::dynamo::DynamoStore;

/// 2026-11-22 00:00:00 UTC, an hour (and day) boundary.
const T: i64 = 1_795_262_400;
const SKEW: i64 = 120;
const COUNTRIES: &str =
    "[countries]\nallow = [\"US\", \"CA\"]\ncrown-dependencies = \"separate\"\n";

fn engine(extra: &str) -> Engine {
    let text = format!(
        "[state]\ntimeout-ms = 3000\non-store-error = \"fail-closed\"\n{extra}\n{COUNTRIES}\n\
         [known-numbers]\nmode = \"off\"\n[cohorts]\nmode = \"off\"\n"
    );
    Engine::new(Arc::new(common::unhurried(
        Policy::parse(&text, "test").unwrap_or_else(|e| panic!("{e}")),
    )))
}

fn keys() -> PhoneHasher {
    PhoneHasher::new(b"test-key-0123456789").unwrap()
}

/// One attempt by the instance whose clock is `offset` seconds off, at real
/// time `real` (seconds after `base`).
async fn attempt<S: Store>(e: &Engine, store: &S, phone: &str, now: i64) -> Decision {
    let d = judge(
        e,
        store,
        &keys(),
        Subject {
            source: TriggerSource::SignUp,
            phone,
            user: None,
            now,
        },
    )
    .await;
    assert!(!d.store_error, "{d:?}");
    d
}

const COOLDOWN_ONLY: &str =
    "[cooldown]\nladder-seconds = [60, 60, 300]\nreset-after-seconds = 600\n\
     [user-limits]\nmode = \"off\"\n[prefix-velocity]\nmode = \"off\"\n\
     [country-velocity]\nmode = \"off\"\nconversion-mode = \"off\"\n[pool-rate]\nmode = \"off\"\n";

/// A bot retries one phone every `every` seconds for `span` seconds; the
/// attempts land on the instances in turn. Returns the real times of the sends.
async fn retry_loop<S: Store>(store: &S, offsets: &[i64], every: i64, span: i64) -> Vec<i64> {
    let e = engine(COOLDOWN_ONLY);
    let mut sent = Vec::new();
    for (i, real) in (0..span)
        .step_by(usize::try_from(every).unwrap())
        .enumerate()
    {
        let offset = offsets[i % offsets.len()];
        let d = attempt(&e, store, "+14155552671", T + 1800 + real + offset).await;
        if d.verdict != Verdict::Block {
            sent.push(real);
        } else {
            assert_eq!(d.reasons(), ["COOLDOWN"]);
            assert!(d.retry_after().is_some_and(|r| r >= 1));
        }
    }
    sent
}

async fn cooldown_under_skew<S: Store, F: Fn() -> S>(
    fresh: F,
    every: i64,
    span: i64,
    clocks: &[&[i64]],
) {
    let single = retry_loop(&fresh(), &[0], every, span).await;
    for &offsets in clocks {
        let spread = offsets.iter().max().unwrap() - offsets.iter().min().unwrap();
        let skewed = retry_loop(&fresh(), offsets, every, span).await;
        // The k-th send comes at most `spread` seconds earlier than with one
        // clock, so skew shifts the ladder; it does not shorten it.
        for (k, (with, without)) in skewed.iter().zip(&single).enumerate() {
            assert!(
                with + spread >= *without,
                "{offsets:?}: send {k} at {with} s, {without} s with one clock"
            );
        }
        let longer = retry_loop(&fresh(), &[0], every, span + spread).await;
        assert!(
            skewed.len() <= longer.len(),
            "{offsets:?}: {} sends in {span} s with skew, {} in {} s with one clock",
            skewed.len(),
            longer.len(),
            span + spread
        );
        assert!(skewed.len() <= single.len() + 2, "{offsets:?}");
    }
    // A first send judged by a clock ahead and a second by one behind: the
    // second waits the step plus the skew.
    let store = fresh();
    let e = engine(COOLDOWN_ONLY);
    let at = T + 1800;
    assert_eq!(
        attempt(&e, &store, "+14155552671", at + SKEW).await.verdict,
        Verdict::Allow
    );
    let d = attempt(&e, &store, "+14155552671", at + 30 - SKEW).await;
    assert_eq!(d.retry_after(), Some(60 - 30 + 2 * 120));
}

#[tokio::test]
async fn cooldown_under_two_minutes_of_skew_memory() {
    cooldown_under_skew(
        MemoryStore::new,
        5,
        2 * 3600,
        &[
            &[0, SKEW],
            &[0, -SKEW],
            &[SKEW, 0],
            &[-SKEW, 0, SKEW],
            &[SKEW, 0, -SKEW],
        ],
    )
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cooldown_under_two_minutes_of_skew_dynamodb() {
    let client = common::dynamo_at(&common::moto_endpoint());
    let mut tables = Vec::new();
    for _ in 0..7 {
        tables.push(common::fresh_table(&client, "skew").await);
    }
    let tables = std::sync::Mutex::new(tables);
    cooldown_under_skew(
        || DynamoStore::new(client.clone(), tables.lock().unwrap().pop().unwrap()),
        15,
        30 * 60,
        &[&[0, SKEW], &[-SKEW, 0, SKEW]],
    )
    .await;
}

fn pool_only(per_minute: u32, per_hour: u32) -> String {
    format!(
        "[cooldown]\nmode = \"off\"\n[user-limits]\nmode = \"off\"\n\
         [prefix-velocity]\nmode = \"off\"\n[country-velocity]\nmode = \"off\"\n\
         conversion-mode = \"off\"\n\
         [pool-rate]\nmode = \"enforce\"\nmax-per-minute = {per_minute}\nmax-per-hour = {per_hour}\n"
    )
}

/// Reads one pool counter.
async fn pool_count<S: Store>(store: &S, sk: String) -> i64 {
    let Ok(OpResult::Items(items)) = store
        .execute(Op::Read {
            keys: vec![ItemKey::new("pool", sk)],
        })
        .await
    else {
        panic!("read failed");
    };
    items[0].get("sends").copied().unwrap_or(0)
}

/// `n` attempts (distinct phones) at one real instant `real`, on instances in turn.
async fn burst<S: Store>(
    store: &S,
    e: &Engine,
    offsets: &[i64],
    real: i64,
    n: usize,
) -> BTreeMap<i64, (i64, i64)> {
    // Per instance clock's minute bucket: (attempts, sends).
    let mut by_minute: BTreeMap<i64, (i64, i64)> = BTreeMap::new();
    let phones: Vec<String> = (0..n)
        .map(|i| format!("+1201555{:04}", 1000 + i * 37))
        .collect();
    let decisions = futures_util::future::join_all(phones.iter().enumerate().map(|(i, phone)| {
        let now = real + offsets[i % offsets.len()];
        async move { (now, attempt(e, store, phone, now).await) }
    }))
    .await;
    for (now, d) in decisions {
        let entry = by_minute.entry(now.div_euclid(60)).or_default();
        entry.0 += 1;
        if d.verdict == Verdict::Allow {
            entry.1 += 1;
        } else {
            assert!(
                d.reasons().iter().all(|r| r.starts_with("POOL_RATE_")),
                "{d:?}"
            );
        }
    }
    for (minute, (_, sends)) in &by_minute {
        assert_eq!(
            pool_count(store, format!("m{minute}")).await,
            *sends,
            "the minute counter holds every SMS that went out in the minute its clock named \
             (refused attempts give theirs back)"
        );
    }
    by_minute
}

async fn windows_under_skew<S: Store>(store: &S) {
    let offsets = [-SKEW, 0, SKEW];
    let sent = |m: &BTreeMap<i64, (i64, i64)>| m.values().map(|(_, s)| s).sum::<i64>();

    // Per minute: each clock names its own minute, and each minute bucket
    // lets exactly its limit through: 3 × 5 in one real instant.
    let per_minute = engine(&pool_only(5, 100_000));
    let minutes = burst(store, &per_minute, &offsets, T + 1800, 30).await;
    assert_eq!(minutes.len(), 3);
    assert!(
        minutes.values().all(|&(a, s)| (a, s) == (10, 5)),
        "{minutes:?}"
    );

    // Per hour, mid-hour: every clock names the same hour, so the hourly
    // limit holds exactly across the instances.
    let per_hour = engine(&pool_only(100_000, 8));
    let mid = T + 2 * 3600 + 1800;
    let minutes = burst(store, &per_hour, &offsets, mid, 30).await;
    assert_eq!(sent(&minutes), 8, "{minutes:?}");
    assert_eq!(
        pool_count(store, format!("h{}", mid.div_euclid(3600))).await,
        8,
        "the hour counter holds the SMS that went out"
    );

    // Per hour, 30 s (real) before the boundary: the clock ahead already
    // names the next hour. Each hour bucket holds its limit, as at any
    // boundary (where even one clock can send 2 × the limit within a minute).
    let edge = T + 4 * 3600 - 30;
    let minutes = burst(store, &per_hour, &offsets, edge, 30).await;
    let hour = edge.div_euclid(3600);
    let old = pool_count(store, format!("h{hour}")).await;
    let new = pool_count(store, format!("h{}", hour + 1)).await;
    // 20 attempts named the old hour and 10 the new one; each bucket let
    // its limit through and holds only those.
    assert_eq!((old, new), (8, 8), "{minutes:?}");
    assert_eq!(sent(&minutes), 8 + 8, "{minutes:?}");
}

#[tokio::test]
async fn fixed_windows_under_two_minutes_of_skew_memory() {
    windows_under_skew(&MemoryStore::new()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fixed_windows_under_two_minutes_of_skew_dynamodb() {
    let client = common::dynamo_at(&common::moto_endpoint());
    let table = common::fresh_table(&client, "skew").await;
    windows_under_skew(&DynamoStore::new(client, table)).await;
}

#[tokio::test]
async fn any_clock_decides_without_panicking() {
    // Instances whose clocks disagree wildly (a year either way, the epoch,
    // year 9999) on one phone, one user and one range, every guard on.
    let e = Engine::new(Arc::new(Policy::example()));
    let store = MemoryStore::new();
    let keys = keys();
    for now in [
        T,
        T - 366 * 86_400,
        T + 366 * 86_400,
        0,
        -1,
        253_402_300_799,
        T,
    ] {
        for phone in ["+14155552671", "+14155552672"] {
            let d = judge(
                &e,
                &store,
                &keys,
                Subject {
                    source: TriggerSource::ResendCode,
                    phone,
                    user: Some("u1"),
                    now,
                },
            )
            .await;
            assert!(!d.store_error);
            if let Some(r) = d.retry_after() {
                assert!(r >= 1);
            }
        }
    }
}
