//! Every guard, one file each, and the one place each is registered.
//!
//! A guard's file owns its policy section (the wire struct with its
//! defaults, and the check that reports every problem by key:
//! `Section`), the store operations it needs (keys from [`crate::keys`])
//! and what their answers mean. There are three kinds, by what a guard
//! needs to decide:
//!
//! * **Static** (`STATIC`): the number alone. [`countries`], [`form`],
//!   [`number_types`], [`suspicious`]. [`crate::Engine::decide`] runs them.
//! * **Counters** (`COUNTERS`): ops planned from the subject, run on the
//!   store, their answers read into findings. [`cooldown`],
//!   [`user_limits`], [`prefix_velocity`], [`pool_rate`],
//!   [`country_velocity`]. [`crate::stateful`] runs them, per-subject ones
//!   first.
//! * **Admitted** ([`Shared`]): one read of what they need, then
//!   conditional adds that admit the SMS only under each limit. [`known`]
//!   numbers, [`cohort`] baselines and the [`spend`] budget.
//!
//! The reason codes every guard answers with are one list,
//! [`crate::engine::Reason`]: the stable vocabulary of logs, metrics and
//! docs. `ARCHITECTURE.md` says what adding a guard takes.

pub mod cohort;
pub mod cooldown;
pub mod countries;
pub mod country_velocity;
pub mod form;
pub mod known;
pub mod number_types;
pub mod pool_rate;
pub mod prefix_velocity;
mod shared;
pub mod spend;
pub mod suspicious;
pub mod user_limits;

use crate::store::NumberMap;

pub use shared::{Admission, CohortEvent, Shared};

use crate::engine::{Check, Decision, Finding, Reason};
use crate::features::Features;
use crate::policy::{Mode, Policy};
use crate::stateful::{Step, SubjectKeys};
use crate::store::{Op, OpResult};

/// A static guard: the findings the number's features alone give.
pub(crate) type Static = fn(&Policy, &Features, &mut Findings<'_>);

/// The static guards, in the order their findings are listed.
pub(crate) const STATIC: [Static; 4] = [
    countries::find,
    form::find,
    number_types::find,
    suspicious::find,
];

/// The counters, in the order they are planned and their findings listed.
pub(crate) const COUNTERS: [&dyn Counter; 5] = [
    &cooldown::Cooldown,
    &user_limits::UserLimits,
    &prefix_velocity::PrefixVelocity,
    &pool_rate::PoolRate,
    &country_velocity::CountryVelocity,
];

/// The findings of one decision as they are made: each under the policy's
/// `[trigger] mode` ceiling, and none for a guard that ends up off.
pub(crate) struct Findings<'p> {
    policy: &'p Policy,
    pub(crate) list: Vec<Finding>,
}

impl<'p> Findings<'p> {
    pub(crate) fn new(policy: &'p Policy) -> Self {
        Self {
            policy,
            list: Vec::new(),
        }
    }

    pub(crate) fn add(
        &mut self,
        check: Check,
        mode: Mode,
        reason: Reason,
        retry_after: Option<u64>,
    ) {
        self.list.extend(Finding::under(
            self.policy,
            check,
            mode,
            reason,
            retry_after,
        ));
    }
}

/// What a counter plans from: the policy, the static decision, the
/// subject's hashes, the number's features and the time.
pub(crate) struct PlanCx<'a> {
    pub p: &'a Policy,
    pub d: &'a Decision,
    pub k: &'a SubjectKeys,
    pub f: &'a Features,
    pub now: i64,
}

impl PlanCx<'_> {
    /// Whether a check in `mode` runs under the policy's ceiling.
    pub fn on(&self, mode: Mode) -> bool {
        self.p.effective(mode) != Mode::Off
    }
}

/// Where a counter puts its ops, each tagged with a part of its own
/// numbering, which it gets back with the op's answer.
pub(crate) struct Ops<'a> {
    guard: u8,
    steps: &'a mut Vec<(Step, Op)>,
}

impl Ops<'_> {
    pub(crate) fn push(&mut self, part: u8, op: Op) {
        self.steps.push((
            Step {
                guard: self.guard,
                part,
            },
            op,
        ));
    }
}

/// A counter answered with a result of the wrong kind for its op: a store
/// error.
#[derive(Debug)]
pub(crate) struct WrongAnswer;

/// A guard that counts: it plans store ops for an SMS and reads their
/// answers into findings.
pub(crate) trait Counter: Sync {
    /// Whether its ops concern only this phone or this user. Those run in
    /// the first wave; the shared counters only for SMS the first wave
    /// allows, so a bombed phone cannot use up everyone's allowance. A
    /// shared counter's adds are given back when the SMS is refused.
    fn per_subject(&self) -> bool;

    /// Its ops for one SMS (none when it is off).
    fn plan(&self, cx: &PlanCx<'_>, ops: &mut Ops<'_>);

    /// Reads the answers of its ops that answered, as `(part, answer)` in
    /// plan order, into findings.
    fn conclude(
        &self,
        p: &Policy,
        now: i64,
        answers: &[(u8, OpResult)],
        f: &mut Findings<'_>,
    ) -> Result<(), WrongAnswer>;
}

/// Every counter's ops for one SMS, in [`COUNTERS`] order.
pub(crate) fn plan_counters(cx: &PlanCx<'_>, steps: &mut Vec<(Step, Op)>) {
    for (guard, counter) in (0_u8..).zip(COUNTERS) {
        counter.plan(cx, &mut Ops { guard, steps });
    }
}

/// The counter a step belongs to.
pub(crate) fn counter(step: Step) -> &'static dyn Counter {
    COUNTERS[usize::from(step.guard) % COUNTERS.len()]
}

/// A numeric attribute of an item, 0 when missing.
pub(crate) fn count(item: &NumberMap, attr: &str) -> i64 {
    item.get(attr).copied().unwrap_or(0)
}
