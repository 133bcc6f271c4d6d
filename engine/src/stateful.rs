//! How the stateful guards run for one SMS. Each guard lives in its own
//! file under [`guards`]; this module runs them together.
//!
//! [`Engine::plan_keyed`] asks every counter (`guards::COUNTERS`) for its
//! [`Op`]s (pure: the time comes in as a value); a [`Store`] runs them all
//! at once; [`Engine::conclude`] hands each counter its answers, to read
//! into findings (pure again). [`judge`] and [`verified`] are the async glue
//! the Lambda and the CLI share.
//!
//! Counters count *attempts* that passed the static guards (a number blocked
//! by country or type never touches the store). The store is asked in two
//! waves: first the phone's cooldown and the user's limits; the shared
//! counters (prefix, country, pool, spend) only for attempts that wave
//! allows, so a bombed phone cannot exhaust everyone's allowance. Windows are fixed buckets
//! (this minute, this hour, this UTC day, this UTC month). Each limit is exact
//! under concurrency: every counter increment is atomic and returns its new
//! value, so with a limit of K exactly K concurrent attempts see a count ≤ K.

use std::time::Duration;

use futures_util::future::join_all;

use crate::engine::{Check, Decision, Engine, Finding, Reason, Verdict};
use crate::features::Features;
use crate::guards::{self, country_velocity};
use crate::hash::PhoneHasher;
use crate::keys;
use crate::limits::OnStoreError;
use crate::policy::{Mode, Policy};
use crate::source::TriggerSource;
use crate::store::{within, Op, OpResult, Store, StoreError};
use crate::window::Window;

/// One op's place in a plan: the counter it serves (its index in
/// `guards::COUNTERS`) and the counter's own number for the op.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Step {
    pub guard: u8,
    pub part: u8,
}

impl Step {
    /// Whether the step concerns only this phone or this user (run first;
    /// the shared counters are only touched when these allow the SMS).
    pub fn per_subject(self) -> bool {
        guards::counter(self).per_subject()
    }
}

/// The ops for one decision, each tagged with its guard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Plan {
    pub steps: Vec<(Step, Op)>,
    pub now: i64,
}

/// Who and what one SMS is for, beyond the number.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    pub source: TriggerSource,
    pub phone: &'a str,
    /// A stable user id (`sub`, else the username), if the event has one.
    pub user: Option<&'a str>,
    /// Unix seconds, from the caller's clock.
    pub now: i64,
}

/// One SMS as the guards see it: the number's [`Features`] in place of the
/// number, the user's keyed hash in place of the user. What the trigger
/// judges, and what a [`crate::features::Record`] replays.
#[derive(Debug, Clone, Copy)]
pub struct Case<'a> {
    pub source: TriggerSource,
    pub number: &'a Features,
    /// The user's keyed hash, if the event names a user.
    pub user: Option<&'a str>,
    /// Unix seconds, from the caller's clock.
    pub now: i64,
}

/// `on-store-error = "fail-closed"`: a decision with a failed store call is
/// refused with `STORE_UNAVAILABLE`, once, under the policy's mode ceiling.
fn follow_on_store_error(p: &Policy, d: &mut Decision) {
    if d.store_error
        && p.state.on_store_error == OnStoreError::FailClosed
        && !d
            .findings
            .iter()
            .any(|f| f.reason == Reason::StoreUnavailable)
    {
        d.findings.extend(Finding::under(
            p,
            Check::Store,
            Mode::Enforce,
            Reason::StoreUnavailable,
            None,
        ));
    }
    d.settle();
}

/// The keyed hashes one decision needs, shared by the first version's
/// guards ([`Engine::plan_keyed`]) and [`guards::Shared`].
#[derive(Debug, Clone)]
pub struct SubjectKeys {
    /// The phone's keyed hash.
    pub phone: String,
    /// The user's keyed hash, if the event names a user.
    pub user: Option<String>,
}

impl SubjectKeys {
    /// `None` for a number that does not normalise to E.164 (or features
    /// worked out without a key).
    pub fn of(c: &Case<'_>) -> Option<Self> {
        Some(Self {
            phone: c.number.phone.clone()?,
            user: c.user.map(str::to_string),
        })
    }
}

impl Engine {
    /// The ops a static decision needs, or an empty plan when it needs none
    /// (blocked already, exempt, or every stateful guard off).
    pub fn plan_keyed(&self, d: &Decision, s: &Case<'_>, k: &SubjectKeys) -> Plan {
        let p = &**self.policy();
        let mut steps = Vec::new();
        let rate_exempt =
            s.source == TriggerSource::AdminCreateUser && p.exemptions.admin_create_user;
        if d.verdict != Verdict::Block && !d.exempt && !rate_exempt {
            let cx = guards::PlanCx {
                p,
                d,
                k,
                f: s.number,
                now: s.now,
            };
            guards::plan_counters(&cx, &mut steps);
        }
        Plan { steps, now: s.now }
    }

    /// Reads the results of `plan`'s ops (same order) into `d`'s findings.
    pub fn conclude(
        &self,
        d: &mut Decision,
        plan: &Plan,
        results: Vec<Result<OpResult, StoreError>>,
    ) {
        let p = &**self.policy();
        d.cost_micro_usd = Some(p.budget.prices.micro_usd(d.country));
        // Each counter's answers, in plan order; a failed call is a store
        // error and leaves its counter without that answer.
        let mut answers: [Vec<(u8, OpResult)>; guards::COUNTERS.len()] =
            std::array::from_fn(|_| Vec::new());
        for ((step, _), result) in plan.steps.iter().zip(results) {
            match (answers.get_mut(usize::from(step.guard)), result) {
                (Some(list), Ok(r)) => list.push((step.part, r)),
                _ => d.store_error = true,
            }
        }
        let mut found = guards::Findings::new(p);
        for (counter, answers) in guards::COUNTERS.iter().zip(&answers) {
            if !answers.is_empty() && counter.conclude(p, plan.now, answers, &mut found).is_err() {
                d.store_error = true;
            }
        }
        d.findings.extend(found.list);
        follow_on_store_error(p, d);
    }
}

/// Judges one SMS: the static guards, then (unless they block) the stateful
/// ones, with every store call of a wave run at once and the whole stateful
/// phase held to `state.timeout-ms`. Never fails: store trouble follows
/// `on-store-error`.
///
/// Wave 1: the guards of this phone and user, and one read of what the
/// shared guards need ([`guards::Shared`]). Wave 2, only when wave 1 does
/// not block: the shared counters, each added only if under its limit, so
/// that attempts refused by the cooldown (one phone bombed) or by another
/// limit never use up a cohort's or the budget's allowance for everyone else.
pub async fn judge<S: Store>(
    engine: &Engine,
    store: &S,
    keys: &PhoneHasher,
    subject: Subject<'_>,
) -> Decision {
    let number = Features::keyed(subject.phone, engine.policy(), keys, false);
    let user = subject.user.map(|u| keys.hash_text(u));
    let case = Case {
        source: subject.source,
        number: &number,
        user: user.as_deref(),
        now: subject.now,
    };
    judge_case(engine, store, case).await
}

/// [`judge`] on the number's features: what the trigger and a replayed
/// record share.
pub async fn judge_case<S: Store>(engine: &Engine, store: &S, subject: Case<'_>) -> Decision {
    let p = &**engine.policy();
    let mut d = engine.decide_features(subject.source, subject.number);
    let Some(hashes) = SubjectKeys::of(&subject) else {
        return d;
    };
    let mut plan = engine.plan_keyed(&d, &subject, &hashes);
    let mut shared = guards::Shared::new(p, &d, &subject, &hashes);
    if plan.steps.is_empty() && shared.is_none() {
        return d;
    }
    let now = subject.now;
    if let Some(sh) = &mut shared {
        sh.recall(p, store.memo(), now);
    }
    let attempt = next_attempt();
    for (_, op) in &mut plan.steps {
        if let Op::Cooldown { attempt: a, .. } = op {
            *a = attempt;
        }
    }
    let timeout_ms = p.state.timeout_ms;
    let Plan { steps, now: _ } = plan;
    let (first, second): (Vec<_>, Vec<_>) =
        steps.into_iter().partition(|(step, _)| step.per_subject());
    let mut first = Plan { steps: first, now };
    let second = Plan { steps: second, now };
    let read = shared.as_ref().map(|s| s.reads(p, now));
    let run = |p: &Plan| join_all(p.steps.iter().map(|(_, op)| store.execute(op.clone())));
    let waves = async {
        // The shared read names every cohort's fortnight of items: moved,
        // not copied.
        let reading = async {
            match read {
                Some(op) => Some(store.execute(op).await),
                None => None,
            }
        };
        let (r1, items) = futures_util::future::join(run(&first), reading).await;
        let mut probe = d.clone();
        engine.conclude(&mut probe, &first, r1.clone());
        if probe.verdict == Verdict::Block {
            return (r1, None, Vec::new(), None, false);
        }
        let admission = match (&shared, items) {
            (Some(sh), Some(Ok(OpResult::Items(items)))) => {
                Some(sh.admit(p, &items, now, store.memo()))
            }
            (Some(_), Some(_)) => return (r1, None, Vec::new(), None, true),
            _ => None,
        };
        let admits = async {
            match &admission {
                Some(a) => join_all(a.ops.iter().map(|op| store.execute(op.clone()))).await,
                None => Vec::new(),
            }
        };
        let (r2, r3) = futures_util::future::join(run(&second), admits).await;
        (r1, Some(r2), r3, admission, false)
    };
    let (ran, results, admission, admitted, read_failed) =
        match within(store, Duration::from_millis(timeout_ms), waves).await {
            Some((r1, None, _, _, read_failed)) => (first, r1, None, Vec::new(), read_failed),
            Some((mut r1, Some(r2), r3, admission, _)) => {
                first.steps.extend(second.steps);
                r1.extend(r2);
                (first, r1, admission, r3, false)
            }
            None => {
                first.steps.extend(second.steps);
                let results = first
                    .steps
                    .iter()
                    .map(|_| Err(StoreError::Timeout(timeout_ms)))
                    .collect();
                (first, results, None, Vec::new(), shared.is_some())
            }
        };
    // Only a decision with a failed call can be refused for it: the undo
    // ops are worked out before `conclude` takes the results, and only then,
    // so an answered decision does no extra work.
    let failed = read_failed || results.iter().chain(&admitted).any(Result::is_err);
    let undo = failed.then(|| releases(&ran, &results));
    // Which calls answered, one bit per step (a plan has about ten), so that
    // what the older guards added to shared counters can be given back if
    // the SMS is refused after all, without working it out for every SMS.
    let answered = results
        .iter()
        .take(64)
        .enumerate()
        .filter(|(_, r)| r.is_ok())
        .fold(0_u64, |bits, (i, _)| bits | 1 << i);
    engine.conclude(&mut d, &ran, results);
    if read_failed {
        d.store_error = true;
    }
    if let Some(a) = &admission {
        a.conclude(p, &mut d, &admitted);
    }
    follow_on_store_error(p, &mut d);
    // Refused after all: what this attempt counted in the shared limits is
    // given back, so only SMS that go out count.
    let mut give_back = match &admission {
        Some(a) if d.verdict == Verdict::Block => a.undo(&admitted),
        _ => Vec::new(),
    };
    if d.verdict == Verdict::Block {
        let store_refusal = d
            .findings
            .iter()
            .any(|f| f.reason == Reason::StoreUnavailable);
        match undo {
            // Refused because the store failed: what this attempt wrote must
            // not count against the user's next try (nor anyone's limits).
            Some(ops) if store_refusal => give_back.extend(ops),
            // Refused by a guard: the shared counters count only SMS that
            // go out, so a flood of refused attempts cannot fill a pool,
            // country or prefix limit and lock real users out. (These
            // counters add first and give back, so for a moment a
            // concurrent decision can see the attempt; the cohort and budget
            // limits, which admit with a conditional add, are exact.)
            _ => give_back.extend(shared_releases(&ran, answered)),
        }
    }
    if !give_back.is_empty() {
        let _ = within(
            store,
            Duration::from_millis(timeout_ms),
            join_all(give_back.into_iter().map(|op| store.execute(op))),
        )
        .await;
    }
    d
}

/// A token for one attempt, unique across instances in practice: a random
/// per-process base (the standard library's per-process hash keys) plus a
/// counter. Never 0 (the plan's placeholder).
fn next_attempt() -> i64 {
    use std::hash::{BuildHasher, Hasher};
    use std::sync::atomic::{AtomicI64, Ordering};
    use std::sync::OnceLock;
    static BASE: OnceLock<i64> = OnceLock::new();
    static NEXT: AtomicI64 = AtomicI64::new(0);
    let base = *BASE.get_or_init(|| {
        let mut h = std::collections::hash_map::RandomState::new().build_hasher();
        h.write_u64(u64::from(std::process::id()));
        i64::from_ne_bytes(h.finish().to_ne_bytes())
    });
    let token = base.wrapping_add(NEXT.fetch_add(1, Ordering::Relaxed)) & i64::MAX;
    token.max(1)
}

/// The ops that undo what a refused attempt wrote: the cooldown step is
/// released (whether or not its answer came back: a release is
/// order-independent), and every counter that answered is decremented.
/// Counters whose answer was lost are left as they are: at most one count
/// too many, which expires with its window.
pub fn releases(plan: &Plan, results: &[Result<OpResult, StoreError>]) -> Vec<Op> {
    plan.steps
        .iter()
        .zip(results)
        .filter_map(|((_, op), result)| match (op, result) {
            (
                Op::Cooldown {
                    key,
                    attempt,
                    expires_at,
                    ..
                },
                r,
            ) if !matches!(r, Ok(OpResult::Cooldown { allowed: false, .. })) => Some(Op::Release {
                key: key.clone(),
                attempt: *attempt,
                expires_at: *expires_at,
            }),
            (op, Ok(_)) => take_back(op),
            _ => None,
        })
        .collect()
}

/// What a refused SMS gives back of the shared counters' adds (prefix and
/// country velocity, the pool rate) whose calls answered (`answered`, one
/// bit per step of `plan`).
fn shared_releases(plan: &Plan, answered: u64) -> Vec<Op> {
    plan.steps
        .iter()
        .enumerate()
        .filter(|(i, (step, _))| !step.per_subject() && *i < 64 && answered >> i & 1 == 1)
        .filter_map(|(_, (_, op))| take_back(op))
        .collect()
}

/// The `Add` that takes back `op`, if it is one.
fn take_back(op: &Op) -> Option<Op> {
    match op {
        Op::Add {
            key,
            attr,
            amount,
            expires_at,
        } => Some(Op::Add {
            key: key.clone(),
            attr: attr.clone(),
            amount: -*amount,
            expires_at: *expires_at,
        }),
        _ => None,
    }
}

/// Records that a code sent to `phone` was used (PostConfirmation /
/// PostAuthentication). It counts only when it matches the send pending for
/// the phone: the same `user`, and a code of the kind `completion` verifies
/// ([`guards::known`]). Then the phone's known-number record is updated,
/// the code is credited to the cohorts it was counted in, the phone's
/// ladder is reset and, with `[country-velocity]` on, a verified SMS is
/// counted for its country. Returns whether it counted.
pub async fn verified<S: Store>(
    engine: &Engine,
    store: &S,
    keys: &PhoneHasher,
    completion: Completion<'_>,
    now: i64,
) -> Result<bool, StoreError> {
    let number = Features::keyed(completion.phone, engine.policy(), keys, false);
    let user = completion.user.map(|u| keys.hash_text(u));
    let case = CompletionCase {
        number: &number,
        user: user.as_deref(),
        kind: completion.kind,
    };
    verified_case(engine, store, case, now).await
}

/// [`verified`] on the number's features.
pub async fn verified_case<S: Store>(
    engine: &Engine,
    store: &S,
    completion: CompletionCase<'_>,
    now: i64,
) -> Result<bool, StoreError> {
    let Some(kind) = completion.kind else {
        return Ok(false);
    };
    let info = completion.number;
    let (Some(phone_key), true) = (&info.phone, info.form.readable()) else {
        return Ok(false);
    };
    let p = &**engine.policy();
    let timeout_ms = p.state.timeout_ms;
    let feedback =
        p.effective(p.known_numbers.mode) != Mode::Off || p.effective(p.cohorts.mode) != Mode::Off;
    let work = async {
        if !feedback {
            // Neither known numbers nor cohorts: only the ladder and
            // `[country-velocity]` learn from the completion.
            let v = store
                .execute(Op::Verify {
                    key: keys::cooldown(phone_key),
                    now,
                })
                .await?;
            let counted = v == OpResult::Verified(true);
            let cv = &p.country_velocity;
            if counted && cv.any_on() {
                country_velocity::verified(store, cv, info.country, now).await?;
            }
            return Ok(counted);
        }
        let confirmed = store
            .execute(Op::Confirm {
                key: keys::known(phone_key),
                now,
                user: guards::known::user_tag(completion.user),
                kinds: kind.kinds(),
                sent_after: now.saturating_sub(kind.code_lifetime_secs(&p.known_numbers)),
                expires_at: now
                    + i64::from(p.known_numbers.remember_days) * Window::DAY.seconds_long(),
            })
            .await?;
        let OpResult::Confirmed(Some(sent)) = confirmed else {
            return Ok(false);
        };
        let mut ops = vec![
            Op::Verify {
                key: keys::cooldown(phone_key),
                now,
            },
            guards::known::used_today(phone_key, now),
        ];
        if sent.get("sent_cohort").copied().unwrap_or(0) == 1 {
            let sent_at = sent.get("sent_at").copied().unwrap_or(now);
            let flow = guards::cohort::Flow::of(kind.code_kind());
            for c in guards::cohort::cohorts(&p.cohorts, info.country, &info.blocks, flow) {
                ops.push(guards::cohort::credit(&c, sent_at));
            }
        }
        let results = join_all(ops.into_iter().map(|op| store.execute(op))).await;
        let ladder_reset = matches!(results.first(), Some(Ok(OpResult::Verified(true))));
        for r in results {
            r?;
        }
        let cv = &p.country_velocity;
        if ladder_reset && cv.any_on() {
            country_velocity::verified(store, cv, info.country, now).await?;
        }
        Ok(true)
    };
    match within(store, Duration::from_millis(timeout_ms), work).await {
        Some(r) => r,
        None => Err(StoreError::Timeout(timeout_ms)),
    }
}

/// A completion on the number's features: the user's keyed hash in place
/// of the user.
#[derive(Debug, Clone, Copy)]
pub struct CompletionCase<'a> {
    pub number: &'a Features,
    pub user: Option<&'a str>,
    pub kind: Option<guards::known::Completion>,
}

/// A completion event, as the adapter read it.
#[derive(Debug, Clone, Copy)]
pub struct Completion<'a> {
    pub phone: &'a str,
    /// `sub`, else the username: the same id the SMS was judged with.
    pub user: Option<&'a str>,
    /// What it verifies; `None` for an event that verifies no SMS code.
    pub kind: Option<guards::known::Completion>,
}
