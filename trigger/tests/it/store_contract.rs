//! One contract for every [`Store`]: the in-memory store and the DynamoDB
//! store (against moto in server mode) must give the same answers to the same
//! ops. Each contract is an async function over `&impl Store`; the macro at
//! the bottom runs each against both stores.

#![allow(clippy::panic, clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeMap;

use pumpguard_engine::store::{Attr, ItemKey, MemoryStore, NumberMap, Op, OpResult, Store};

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
            attr: attr.to_string().into(),
            amount: n,
            expires_at: T + 100,
        })
        .await
    {
        Ok(OpResult::Numbers(m)) => plain(&m),
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

async fn take<S: Store>(s: &S, pk: &str) -> Option<String> {
    match s
        .execute(Op::TakeText {
            key: key(pk),
            attr: "message_id".into(),
        })
        .await
    {
        Ok(OpResult::Text(t)) => t,
        other => panic!("{other:?}"),
    }
}

/// A text is taken once: the second take, and a take of an item never
/// written, find nothing; a take leaves the item's numbers alone.
async fn texts_are_taken_once<S: Store>(s: &S) {
    assert_eq!(take(s, "fb#none").await, None);
    assert_eq!(read_one(s, "fb#none").await, BTreeMap::new());
    add(s, "fb#u", "n", 3).await;
    let put = s
        .execute(Op::PutText {
            key: key("fb#u"),
            attr: "message_id".into(),
            text: "m-1".into(),
            expires_at: T + 3600,
        })
        .await;
    assert_eq!(put, Ok(OpResult::Done));
    // A later send replaces the id.
    let put = s
        .execute(Op::PutText {
            key: key("fb#u"),
            attr: "message_id".into(),
            text: "m-2".into(),
            expires_at: T + 3600,
        })
        .await;
    assert_eq!(put, Ok(OpResult::Done));
    assert_eq!(take(s, "fb#u").await.as_deref(), Some("m-2"));
    assert_eq!(take(s, "fb#u").await, None);
    assert_eq!(read_one(s, "fb#u").await.get("n"), Some(&3));
}

async fn concurrent_takes_get_the_text_once<S: Store>(s: &S) {
    let put = s
        .execute(Op::PutText {
            key: key("fb#race"),
            attr: "message_id".into(),
            text: "m-race".into(),
            expires_at: T + 3600,
        })
        .await;
    assert_eq!(put, Ok(OpResult::Done));
    let takes = (0..10).map(|_| take(s, "fb#race"));
    let got: Vec<String> = futures_util::future::join_all(takes)
        .await
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(got, vec!["m-race".to_string()]);
}

type Attrs<'a> = &'a [(&'a str, i64)];

fn attrs(a: Attrs<'_>) -> Vec<(Attr, i64)> {
    a.iter()
        .map(|(k, v)| ((*k).to_string().into(), *v))
        .collect()
}

async fn add_if<S: Store>(
    s: &S,
    pk: &str,
    adds: Attrs<'_>,
    below: Attrs<'_>,
    set: Attrs<'_>,
) -> (bool, BTreeMap<String, i64>) {
    match s
        .execute(Op::AddIf {
            key: key(pk),
            adds: attrs(adds),
            below: attrs(below),
            set: attrs(set),
            expires_at: T + 100,
        })
        .await
    {
        Ok(OpResult::Admitted { admitted, numbers }) => (admitted, plain(&numbers)),
        other => panic!("{other:?}"),
    }
}

async fn read_one<S: Store>(s: &S, pk: &str) -> BTreeMap<String, i64> {
    match s
        .execute(Op::Read {
            keys: vec![key(pk)],
        })
        .await
    {
        Ok(OpResult::Items(items)) if items.len() == 1 => plain(&items[0]),
        other => panic!("{other:?}"),
    }
}

/// An answer's attributes with plain names, to compare with expectations.
fn plain(m: &NumberMap) -> BTreeMap<String, i64> {
    m.iter().map(|(k, v)| (k.to_string(), v)).collect()
}

fn nums(a: Attrs<'_>) -> BTreeMap<String, i64> {
    attrs(a)
        .into_iter()
        .map(|(k, v)| (k.into_owned(), v))
        .collect()
}

/// Admitted below the bound (the answer is the item afterwards, `set`
/// included); refused at it, with nothing changed (the answer is the item as
/// it was); a missing attribute is under any bound; every `below` must hold;
/// an empty `below` always applies, and a negative amount gives back.
async fn add_if_respects_its_bounds<S: Store>(s: &S) {
    let (ok, m) = add_if(s, "a#1", &[("sent", 1)], &[("sent", 2)], &[("last", T)]).await;
    assert!(ok);
    assert_eq!(
        m,
        nums(&[("sent", 1), ("last", T), ("expires_at", T + 100)])
    );
    let (ok, m) = add_if(s, "a#1", &[("sent", 1)], &[("sent", 2)], &[("last", T + 1)]).await;
    assert!(ok);
    assert_eq!(
        m,
        nums(&[("sent", 2), ("last", T + 1), ("expires_at", T + 100)])
    );

    // At the bound: refused, and the item is as it was.
    let was = nums(&[("sent", 2), ("last", T + 1), ("expires_at", T + 100)]);
    let (ok, m) = add_if(s, "a#1", &[("sent", 1)], &[("sent", 2)], &[("last", T + 2)]).await;
    assert!(!ok);
    assert_eq!(m, was);
    assert_eq!(read_one(s, "a#1").await, was);
    // Above the bound too.
    let (ok, m) = add_if(s, "a#1", &[("sent", 1)], &[("sent", 1)], &[]).await;
    assert!(!ok);
    assert_eq!(m, was);

    // A missing attribute is under any bound, on an existing item or a new one.
    let (ok, m) = add_if(s, "a#1", &[("verified", 1)], &[("nothing", i64::MIN)], &[]).await;
    assert!(ok);
    assert_eq!(m.get("verified"), Some(&1));
    assert_eq!(m.get("sent"), Some(&2));
    let (ok, m) = add_if(s, "a#2", &[("sent", 3)], &[("sent", 0)], &[]).await;
    assert!(ok);
    assert_eq!(m, nums(&[("sent", 3), ("expires_at", T + 100)]));

    // Every bound must hold: `verified` (1) is at its bound of 1.
    let was = read_one(s, "a#1").await;
    let (ok, m) = add_if(
        s,
        "a#1",
        &[("sent", 1), ("verified", 1)],
        &[("sent", 10), ("verified", 1)],
        &[],
    )
    .await;
    assert!(!ok);
    assert_eq!(m, was);
    let (ok, m) = add_if(
        s,
        "a#1",
        &[("sent", 1), ("verified", 1)],
        &[("sent", 10), ("verified", 2)],
        &[],
    )
    .await;
    assert!(ok);
    assert_eq!((m.get("sent"), m.get("verified")), (Some(&3), Some(&2)));

    // No bound: always applies, even past every bound above; a negative
    // amount gives back.
    let (ok, m) = add_if(s, "a#1", &[("sent", -1)], &[], &[]).await;
    assert!(ok);
    assert_eq!(m.get("sent"), Some(&2));
    let (ok, m) = add_if(s, "a#1", &[("sent", 5)], &[], &[("last", T + 9)]).await;
    assert!(ok);
    assert_eq!((m.get("sent"), m.get("last")), (Some(&7), Some(&(T + 9))));
    let (ok, m) = add_if(s, "a#3", &[], &[], &[("only", 4)]).await;
    assert!(ok);
    assert_eq!(m, nums(&[("only", 4), ("expires_at", T + 100)]));
    assert_eq!(
        read_one(s, "a#1").await,
        m_with(&was, &[("sent", 7), ("verified", 2), ("last", T + 9)])
    );
}

fn m_with(base: &BTreeMap<String, i64>, changes: Attrs<'_>) -> BTreeMap<String, i64> {
    let mut m = base.clone();
    m.extend(attrs(changes).into_iter().map(|(k, v)| (k.into_owned(), v)));
    m
}

async fn concurrent_add_if_admits_exactly_the_bound<S: Store>(s: &S) {
    let ops = (0..20).map(|_| add_if(s, "a#race", &[("sent", 1)], &[("sent", 7)], &[]));
    let results = futures_util::future::join_all(ops).await;
    let mut admitted: Vec<i64> = results
        .iter()
        .filter(|(ok, _)| *ok)
        .map(|(_, m)| m["sent"])
        .collect();
    admitted.sort_unstable();
    assert_eq!(admitted, (1..=7).collect::<Vec<_>>());
    // Every refusal saw the counter at the bound.
    assert!(results
        .iter()
        .filter(|(ok, _)| !ok)
        .all(|(_, m)| m["sent"] == 7));
    assert_eq!(read_one(s, "a#race").await.get("sent"), Some(&7));
}

async fn confirm<S: Store>(
    s: &S,
    now: i64,
    user: i64,
    kinds: &[i64],
) -> Option<BTreeMap<String, i64>> {
    confirm_within(s, now, user, kinds, 1_000).await
}

/// A completion whose code lives `lifetime` seconds.
async fn confirm_within<S: Store>(
    s: &S,
    now: i64,
    user: i64,
    kinds: &[i64],
    lifetime: i64,
) -> Option<BTreeMap<String, i64>> {
    match s
        .execute(Op::Confirm {
            key: key("phone#c"),
            now,
            user,
            kinds: kinds.to_vec(),
            sent_after: now - lifetime,
            expires_at: now + 100,
        })
        .await
    {
        Ok(OpResult::Confirmed(before)) => before.map(|b| plain(&b)),
        other => panic!("{other:?}"),
    }
}

async fn send<S: Store>(s: &S, at: i64, user: i64, kind: i64) {
    let set = [("sent_at", at), ("sent_user", user), ("sent_kind", kind)];
    let (ok, _) = add_if(s, "phone#c", &[("unused", 1)], &[], &set).await;
    assert!(ok);
}

/// A completion counts once per pending send, and only for the user and a
/// kind of that send.
async fn confirm_matches_only_the_pending_send<S: Store>(s: &S) {
    // No item: nothing pending, and nothing written.
    assert_eq!(confirm(s, T, 11, &[1]).await, None);
    assert!(read_one(s, "phone#c").await.is_empty());

    send(s, T, 11, 1).await;
    let pending = read_one(s, "phone#c").await;
    assert_eq!(confirm(s, T + 10, 12, &[1]).await, None, "another user");
    assert_eq!(confirm(s, T + 10, 11, &[2, 3]).await, None, "another kind");
    assert_eq!(confirm(s, T + 10, 11, &[]).await, None, "no kind");
    assert_eq!(
        read_one(s, "phone#c").await,
        pending,
        "refusals change nothing"
    );

    let before = confirm(s, T + 10, 11, &[2, 1])
        .await
        .expect("the pending send");
    assert_eq!(before, pending);
    assert_eq!(before.get("sent_at"), Some(&T));
    assert_eq!(before.get("verified_at"), None);
    let after = read_one(s, "phone#c").await;
    assert_eq!(
        (
            after.get("verified_at"),
            after.get("first_verified"),
            after.get("last_verified"),
            after.get("vcount"),
            after.get("unused"),
            after.get("expires_at"),
        ),
        (
            Some(&(T + 10)),
            Some(&(T + 10)),
            Some(&(T + 10)),
            Some(&1),
            Some(&0),
            Some(&(T + 110)),
        )
    );

    // Verified already: no newer send, nothing pending.
    assert_eq!(confirm(s, T + 20, 11, &[1]).await, None);
    // A send at the very second of the verification is not newer.
    send(s, T + 10, 11, 1).await;
    assert_eq!(confirm(s, T + 20, 11, &[1]).await, None);

    // A newer send, unused twice: pending again.
    send(s, T + 30, 11, 1).await;
    let before = confirm(s, T + 40, 11, &[1]).await.expect("the newer send");
    assert_eq!(
        (
            before.get("sent_at"),
            before.get("verified_at"),
            before.get("vcount"),
            before.get("unused"),
        ),
        (Some(&(T + 30)), Some(&(T + 10)), Some(&1), Some(&2))
    );
    let after = read_one(s, "phone#c").await;
    assert_eq!(
        (
            after.get("verified_at"),
            after.get("first_verified"),
            after.get("last_verified"),
            after.get("vcount"),
            after.get("unused"),
            after.get("sent_at"),
        ),
        (
            Some(&(T + 40)),
            Some(&(T + 10)),
            Some(&(T + 40)),
            Some(&2),
            Some(&0),
            Some(&(T + 30)),
        )
    );
    assert_eq!(confirm(s, T + 50, 11, &[1]).await, None);

    // A completion after its code's lifetime is not using that send: the
    // send stays pending, for a completion within the lifetime.
    send(s, T + 100, 11, 3).await;
    let pending = read_one(s, "phone#c").await;
    assert_eq!(confirm_within(s, T + 1_001, 11, &[3], 900).await, None);
    assert_eq!(read_one(s, "phone#c").await, pending, "nothing written");
    let before = confirm_within(s, T + 1_000, 11, &[3], 900).await;
    assert_eq!(
        before.and_then(|b| b.get("sent_at").copied()),
        Some(T + 100),
        "a completion at the lifetime's last second counts"
    );
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
    add_if_respects_its_bounds,
    concurrent_add_if_admits_exactly_the_bound,
    confirm_matches_only_the_pending_send,
    texts_are_taken_once,
    concurrent_takes_get_the_text_once,
);

#[tokio::test]
async fn memory_items_all_expire() {
    let s = MemoryStore::new();
    cooldown_ladder(&s).await;
    counters(&s).await;
    sets(&s).await;
    raise(&s).await;
    released_steps_do_not_count(&s).await;
    add_if_respects_its_bounds(&s).await;
    confirm_matches_only_the_pending_send(&s).await;
    let expiries = s.expiries();
    assert!(!expiries.is_empty());
    for (k, e) in expiries {
        assert!(e.is_some_and(|e| e > T), "{k:?} has no expiry");
    }
}
