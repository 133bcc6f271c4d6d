//! One contract for every [`Store`]: the in-memory store and the DynamoDB
//! store (against moto in server mode) must give the same answers to the same
//! ops. Each contract is an async function over `&impl Store`; the macro at
//! the bottom runs each against both stores.

#![allow(clippy::panic, clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeMap;

use pumpguard_engine::store::{ItemKey, MemoryStore, Op, OpResult, Store};

const T: i64 = 1_795_262_400;

fn key(pk: &str) -> ItemKey {
    ItemKey::new(pk, "sk")
}

async fn cooldown<S: Store>(s: &S, pk: &str, now: i64) -> (bool, i64) {
    cooldown_by(s, pk, now, now).await
}

async fn cooldown_by<S: Store>(s: &S, pk: &str, now: i64, attempt: i64) -> (bool, i64) {
    match s
        .execute(Op::Cooldown {
            key: key(pk),
            now,
            ladder: vec![60, 60, 300],
            reset_after: 600,
            expires_at: now + 700,
            attempt,
        })
        .await
    {
        Ok(OpResult::Cooldown {
            allowed,
            retry_after,
        }) => (allowed, retry_after),
        other => panic!("{other:?}"),
    }
}

async fn cooldown_ladder<S: Store>(s: &S) {
    assert_eq!(cooldown(s, "phone#a", T).await, (true, 0));
    assert_eq!(cooldown(s, "phone#a", T + 1).await, (false, 59));
    assert_eq!(cooldown(s, "phone#a", T + 59).await, (false, 1));
    assert_eq!(cooldown(s, "phone#a", T + 60).await, (true, 0));
    assert_eq!(cooldown(s, "phone#a", T + 120).await, (true, 0));
    // Three sends in the streak: 300 s now.
    assert_eq!(cooldown(s, "phone#a", T + 180).await, (false, 240));
    assert_eq!(cooldown(s, "phone#a", T + 420).await, (true, 0));
    assert_eq!(cooldown(s, "phone#a", T + 719).await, (false, 1));
    // A quiet pause of 600 s starts a new streak: 60 s again.
    assert_eq!(cooldown(s, "phone#a", T + 1020).await, (true, 0));
    assert_eq!(cooldown(s, "phone#a", T + 1050).await, (false, 30));
    // Another phone is independent.
    assert_eq!(cooldown(s, "phone#b", T + 1050).await, (true, 0));
}

async fn release<S: Store>(s: &S, pk: &str, attempt: i64) {
    let r = s
        .execute(Op::Release {
            key: key(pk),
            attempt,
            expires_at: T + 700,
        })
        .await;
    assert_eq!(r, Ok(OpResult::Done));
}

/// A released step counts as no send, whether the release lands after the
/// step or before it; a release of another attempt changes nothing.
async fn released_steps_do_not_count<S: Store>(s: &S) {
    assert_eq!(cooldown_by(s, "phone#r", T, 11).await, (true, 0));
    release(s, "phone#r", 11).await;
    assert_eq!(cooldown_by(s, "phone#r", T + 1, 12).await, (true, 0));
    // Not released: the cooldown holds.
    assert_eq!(cooldown_by(s, "phone#r", T + 2, 13).await, (false, 59));
    release(s, "phone#r", 99).await;
    assert_eq!(cooldown_by(s, "phone#r", T + 3, 14).await, (false, 58));
    // The release first, then the step it releases (answers can cross).
    release(s, "phone#q", 21).await;
    assert_eq!(cooldown_by(s, "phone#q", T, 21).await, (true, 0));
    assert_eq!(cooldown_by(s, "phone#q", T + 1, 22).await, (true, 0));
    assert_eq!(cooldown_by(s, "phone#q", T + 2, 23).await, (false, 59));
}

async fn add<S: Store>(s: &S, pk: &str, attr: &str, n: i64) -> BTreeMap<String, i64> {
    match s
        .execute(Op::Add {
            key: key(pk),
            attr: attr.into(),
            amount: n,
            expires_at: T + 100,
        })
        .await
    {
        Ok(OpResult::Numbers(m)) => m,
        other => panic!("{other:?}"),
    }
}

async fn counters<S: Store>(s: &S) {
    assert_eq!(add(s, "c#1", "sent", 1).await.get("sent"), Some(&1));
    assert_eq!(add(s, "c#1", "sent", 1).await.get("sent"), Some(&2));
    let m = add(s, "c#1", "verified", 5).await;
    assert_eq!(
        (m.get("sent"), m.get("verified"), m.get("expires_at")),
        (Some(&2), Some(&5), Some(&(T + 100)))
    );
}

async fn sets<S: Store>(s: &S) {
    let member = |m: &str| Op::AddMember {
        key: key("u#1"),
        attr: "phones".into(),
        member: m.into(),
        expires_at: T + 100,
    };
    assert_eq!(s.execute(member("p1")).await, Ok(OpResult::SetSize(1)));
    assert_eq!(s.execute(member("p2")).await, Ok(OpResult::SetSize(2)));
    assert_eq!(s.execute(member("p1")).await, Ok(OpResult::SetSize(2)));
}

async fn reads<S: Store>(s: &S) {
    add(s, "r#1", "verified", 3).await;
    let out = s
        .execute(Op::Read {
            keys: vec![key("r#missing"), key("r#1")],
        })
        .await;
    match out {
        Ok(OpResult::Items(items)) => {
            assert_eq!(items.len(), 2);
            assert!(items[0].is_empty());
            assert_eq!(items[1].get("verified"), Some(&3));
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(
        s.execute(Op::Read { keys: vec![] }).await,
        Ok(OpResult::Items(vec![]))
    );
}

async fn verification<S: Store>(s: &S) {
    let verify = |now| Op::Verify {
        key: key("phone#v"),
        now,
    };
    // Nothing sent yet: nothing to verify.
    assert_eq!(s.execute(verify(T)).await, Ok(OpResult::Verified(false)));
    for t in [T, T + 60, T + 120] {
        assert!(cooldown(s, "phone#v", t).await.0);
    }
    assert_eq!(cooldown(s, "phone#v", T + 180).await, (false, 240));
    assert_eq!(
        s.execute(verify(T + 150)).await,
        Ok(OpResult::Verified(true))
    );
    assert_eq!(
        s.execute(verify(T + 151)).await,
        Ok(OpResult::Verified(false))
    );
    // The ladder is back at its first step: 60 s after the last send.
    assert_eq!(cooldown(s, "phone#v", T + 180).await, (true, 0));
}

async fn marked_sends_can_be_verified<S: Store>(s: &S) {
    let mark = |now| Op::MarkSent {
        key: key("phone#m"),
        now,
        expires_at: now + 100,
    };
    let verify = |now| Op::Verify {
        key: key("phone#m"),
        now,
    };
    assert_eq!(s.execute(mark(T)).await, Ok(OpResult::Done));
    assert_eq!(s.execute(verify(T + 5)).await, Ok(OpResult::Verified(true)));
    assert_eq!(
        s.execute(verify(T + 6)).await,
        Ok(OpResult::Verified(false))
    );
    assert_eq!(s.execute(mark(T + 10)).await, Ok(OpResult::Done));
    assert_eq!(
        s.execute(verify(T + 11)).await,
        Ok(OpResult::Verified(true))
    );
}

async fn raise<S: Store>(s: &S) {
    let raise = |v| Op::RaiseTo {
        key: key("d#1"),
        attr: "peak_hour".into(),
        value: v,
        expires_at: T + 100,
    };
    assert_eq!(s.execute(raise(4)).await, Ok(OpResult::Done));
    assert_eq!(s.execute(raise(2)).await, Ok(OpResult::Done));
    assert_eq!(s.execute(raise(7)).await, Ok(OpResult::Done));
    let out = s
        .execute(Op::Read {
            keys: vec![key("d#1")],
        })
        .await;
    match out {
        Ok(OpResult::Items(items)) => assert_eq!(items[0].get("peak_hour"), Some(&7)),
        other => panic!("{other:?}"),
    }
}

async fn concurrent_counts_are_exact<S: Store>(s: &S) {
    let ops = (0..25).map(|_| add(s, "c#race", "sent", 1));
    let mut seen: Vec<i64> = futures_util::future::join_all(ops)
        .await
        .into_iter()
        .map(|m| m["sent"])
        .collect();
    seen.sort_unstable();
    assert_eq!(seen, (1..=25).collect::<Vec<_>>());
}

async fn concurrent_cooldown_lets_one_through<S: Store>(s: &S) {
    let ops = (0..20).map(|_| cooldown(s, "phone#race", T));
    let allowed = futures_util::future::join_all(ops)
        .await
        .into_iter()
        .filter(|(a, _)| *a)
        .count();
    assert_eq!(allowed, 1);
}

async fn dynamo() -> pumpguard_trigger::dynamo::DynamoStore {
    let client = common::dynamo_at(&common::moto_endpoint());
    let table = common::fresh_table(&client, "contract").await;
    pumpguard_trigger::dynamo::DynamoStore::new(client, table)
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name(&pumpguard_engine::store::MemoryStore::new()).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $name() {
                    super::$name(&super::dynamo().await).await;
                }
            )*
        }
    };
}

contract!(
    cooldown_ladder,
    counters,
    sets,
    reads,
    verification,
    marked_sends_can_be_verified,
    raise,
    concurrent_counts_are_exact,
    concurrent_cooldown_lets_one_through,
    released_steps_do_not_count,
);

#[tokio::test]
async fn memory_items_all_expire() {
    let s = MemoryStore::new();
    cooldown_ladder(&s).await;
    counters(&s).await;
    sets(&s).await;
    raise(&s).await;
    released_steps_do_not_count(&s).await;
    let expiries = s.expiries();
    assert!(!expiries.is_empty());
    for (k, e) in expiries {
        assert!(e.is_some_and(|e| e > T), "{k:?} has no expiry");
    }
}
