//! The cohorts' closed days a store keeps (`HistoryMemo`): a store that
//! keeps them judges exactly as one that reads every day of every baseline,
//! with fewer items read, and a write to a closed day is never lost.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use pumpguard_engine::engine::Decision;
use pumpguard_engine::guards::known::Completion as Kind;
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::presignup::{self, PreSignUpSource};
use pumpguard_engine::stateful::{judge, verified, Completion, Subject};
use pumpguard_engine::store::{HistoryMemo, MemoryStore, Op, OpResult, Store, StoreError};
use pumpguard_engine::{keys, Engine, Policy, TriggerSource, Verdict};

/// 2026-11-21T00:00:00Z.
const T0: i64 = 1_795_219_200;
const DAY: i64 = 86_400;

/// An in-memory store that counts the items it is asked to read, and keeps
/// its closed days or (`memo: false`) reads every day every time.
struct Counted {
    inner: MemoryStore,
    memo: bool,
    read: AtomicUsize,
    /// The number of keys of the last read.
    last_read: AtomicUsize,
    /// Answer the next read with only its first two items.
    short_next: std::sync::atomic::AtomicBool,
}

impl Counted {
    fn new(memo: bool) -> Self {
        Self {
            inner: MemoryStore::new(),
            memo,
            read: AtomicUsize::new(0),
            last_read: AtomicUsize::new(0),
            short_next: std::sync::atomic::AtomicBool::new(false),
        }
    }
}

impl Store for Counted {
    async fn execute(&self, op: Op) -> Result<OpResult, StoreError> {
        if let Op::Read { keys } = &op {
            self.read.fetch_add(keys.len(), Ordering::Relaxed);
            self.last_read.store(keys.len(), Ordering::Relaxed);
        }
        let answer = self.inner.execute(op).await;
        match answer {
            Ok(OpResult::Items(mut items)) if self.short_next.swap(false, Ordering::Relaxed) => {
                items.truncate(2);
                Ok(OpResult::Items(items))
            }
            other => other,
        }
    }

    async fn sleep(&self, d: Duration) {
        self.inner.sleep(d).await;
    }

    fn memo(&self) -> Option<&HistoryMemo> {
        if self.memo {
            self.inner.memo()
        } else {
            None
        }
    }
}

fn engine(baseline_days: u32) -> Engine {
    let text = format!(
        "[countries]\nallow = [\"IE\"]\ncrown-dependencies = \"separate\"\n\
         [cooldown]\nmode = \"off\"\n[user-limits]\nmode = \"off\"\n\
         [prefix-velocity]\nmode = \"off\"\n[country-velocity]\nmode = \"off\"\nconversion-mode = \"off\"\n\
         [known-numbers]\nunknown-max-per-day = 10\n\
         [cohorts]\nbaseline-days = {baseline_days}\n"
    );
    Engine::new(Arc::new(Policy::parse(&text, "memo-test").unwrap()))
}

fn keys() -> PhoneHasher {
    PhoneHasher::new(b"test-key-0123456789").unwrap()
}

/// Distinct Irish mobiles that pass the static guards, in a few dozen
/// blocks of a thousand.
fn ie(i: usize) -> String {
    static ENGINE: std::sync::LazyLock<Engine> = std::sync::LazyLock::new(|| engine(7));
    let e = &*ENGINE;
    (0..)
        .map(|k: usize| {
            let block = (i % 40) * 7_919 % 10_000;
            let n = (i * 104_729 + k * 37 + 4_321) % 1000;
            format!("+35387{block:04}{n:03}")
        })
        .find(|p| e.decide(TriggerSource::SignUp, p).verdict == Verdict::Allow)
        .unwrap()
}

async fn sms(e: &Engine, s: &Counted, source: TriggerSource, i: usize, now: i64) -> Decision {
    let phone = ie(i);
    judge(
        e,
        s,
        &keys(),
        Subject {
            source,
            phone: &phone,
            user: Some(&format!("u{i}")),
            now,
        },
    )
    .await
}

async fn complete(e: &Engine, s: &Counted, kind: Kind, i: usize, now: i64) {
    let phone = ie(i);
    verified(
        e,
        s,
        &keys(),
        Completion {
            phone: &phone,
            user: Some(&format!("u{i}")),
            kind: Some(kind),
        },
        now,
    )
    .await
    .unwrap();
}

/// What a decision says, for comparing two stores' decisions.
fn said(d: &Decision) -> (Verdict, Vec<String>, Vec<String>) {
    (
        d.verdict,
        d.reasons(),
        d.cohort_events
            .iter()
            .map(|c| format!("{} {} {}", c.cohort, c.state, c.due))
            .collect(),
    )
}

/// Days of real users (sign-ups confirmed, MFA codes used, a pre-sign-up
/// check first), busier on some days than others, and a flood of sign-ups
/// nobody confirms on days 9 and 10. Each step is judged on every store in
/// `stores`, in the same order; what each decided is returned per store.
async fn days_of_traffic(
    e: &Engine,
    stores: &[&Counted],
) -> Vec<Vec<(Verdict, Vec<String>, Vec<String>)>> {
    let mut out = vec![Vec::new(); stores.len()];
    let mut bot = 100_000;
    for day in 0..12_i64 {
        let users = 30 + (day as usize * 17) % 40;
        for k in 0..users {
            let i = (day as usize * 53 + k * 11) % 2_000;
            let t = T0 + day * DAY + 600 + (k as i64 * 1_499) % (20 * 3600);
            for (n, s) in stores.iter().enumerate() {
                let pre =
                    presignup::judge(e, *s, &keys(), PreSignUpSource::SignUp, &ie(i), t).await;
                out[n].push(said(&pre));
                let d = sms(e, s, TriggerSource::SignUp, i, t + 1).await;
                out[n].push(said(&d));
                if k % 5 != 0 {
                    complete(e, s, Kind::ConfirmSignUp, i, t + 300).await;
                }
                let m = sms(e, s, TriggerSource::Authentication, i, t + 900).await;
                out[n].push(said(&m));
                if k % 4 != 0 {
                    complete(e, s, Kind::Authentication, i, t + 960).await;
                }
            }
        }
        if day >= 9 {
            for k in 0..150 {
                let t = T0 + day * DAY + 7 * 3600 + k * 20;
                for (n, s) in stores.iter().enumerate() {
                    let d = sms(e, s, TriggerSource::SignUp, bot, t).await;
                    out[n].push(said(&d));
                }
                bot += 1;
            }
        }
    }
    out
}

#[tokio::test]
async fn kept_closed_days_judge_as_reading_every_day() {
    for baseline_days in [1, 2, 7, 14] {
        let e = engine(baseline_days);
        let (kept, read) = (Counted::new(true), Counted::new(false));
        let said = days_of_traffic(&e, &[&kept, &read]).await;
        assert_eq!(said[0].len(), said[1].len());
        for (n, (a, b)) in said[0].iter().zip(&said[1]).enumerate() {
            assert_eq!(a, b, "baseline-days {baseline_days}, step {n}");
        }
        // The baselines decided something: the flood met its cohorts.
        assert!(
            said[0]
                .iter()
                .any(|(_, r, _)| r.iter().any(|r| r.starts_with("COHORT_"))),
            "baseline-days {baseline_days}: no cohort refused anything"
        );
        let (k, r) = (
            kept.read.load(Ordering::Relaxed),
            read.read.load(Ordering::Relaxed),
        );
        if baseline_days >= 7 {
            assert!(
                k * 2 < r,
                "baseline-days {baseline_days}: {k} items read, against {r}"
            );
        } else {
            assert!(
                k <= r,
                "baseline-days {baseline_days}: {k} items read, against {r}"
            );
        }
    }
}

/// Sign-ups nobody confirms, to `n` fresh numbers from `from`: how many
/// were allowed.
async fn flood(e: &Engine, s: &Counted, first: usize, n: usize, from: i64) -> usize {
    let mut allowed = 0;
    for k in 0..n {
        let d = sms(e, s, TriggerSource::SignUp, first + k, from + k as i64 * 10).await;
        allowed += usize::from(d.verdict == Verdict::Allow);
    }
    allowed
}

#[tokio::test]
async fn a_write_to_a_closed_day_is_not_lost() {
    let e = engine(7);
    let day = T0 / DAY + 5;
    let noon = day * DAY + 12 * 3600;
    let (kept, read, unseeded) = (Counted::new(true), Counted::new(false), Counted::new(true));
    // The day's first decisions: the kept store learns that Ireland has no
    // history.
    for s in [&kept, &read, &unseeded] {
        flood(&e, s, 10_000, 5, noon).await;
    }
    // Then a busy closed day appears (a replay whose clock went back, an
    // import): three days ago, 500 codes sent and 450 used.
    for s in [&kept, &read] {
        let r = s
            .execute(Op::AddIf {
                key: keys::cohort_day(
                    &keys::cohort_country(e.decide(TriggerSource::SignUp, &ie(0)).country),
                    day - 3,
                ),
                adds: vec![("sent".into(), 500), ("verified".into(), 450)],
                below: Vec::new(),
                set: Vec::new(),
                expires_at: noon + 40 * DAY,
            })
            .await
            .unwrap();
        assert!(matches!(r, OpResult::Admitted { admitted: true, .. }));
    }
    let kept_allowed = flood(&e, &kept, 20_000, 300, noon + 60).await;
    let read_allowed = flood(&e, &read, 20_000, 300, noon + 60).await;
    let unseeded_allowed = flood(&e, &unseeded, 20_000, 300, noon + 60).await;
    assert_eq!(kept_allowed, read_allowed);
    // The day written matters: without it, the flood meets the floors of a
    // cohort with no history.
    assert!(
        kept_allowed > unseeded_allowed,
        "{kept_allowed} allowed with the closed day, {unseeded_allowed} without"
    );
}

#[tokio::test]
async fn a_short_answer_teaches_the_memo_nothing() {
    let e = engine(7);
    let noon = (T0 / DAY + 5) * DAY + 12 * 3600;
    let (normal, short) = (Counted::new(true), Counted::new(true));
    short.short_next.store(true, Ordering::Relaxed);
    for s in [&normal, &short] {
        sms(&e, s, TriggerSource::SignUp, 7, noon).await;
    }
    let first = normal.last_read.load(Ordering::Relaxed);
    assert_eq!(first, short.last_read.load(Ordering::Relaxed));
    for s in [&normal, &short] {
        sms(&e, s, TriggerSource::SignUp, 7, noon + 60).await;
    }
    // The cohorts' closed days were learned from the full answer only.
    assert!(normal.last_read.load(Ordering::Relaxed) < first);
    assert_eq!(short.last_read.load(Ordering::Relaxed), first);
}
