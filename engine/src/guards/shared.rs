//! The admission of the guards built around who is asking and what their
//! cohort normally does: [`known`](super::known) numbers,
//! [`cohort`](super::cohort) baselines and the [`spend`](super::spend)
//! budget, each in its own file. [`Shared`] is their part of one decision:
//!
//! 1. with the phone's and user's own guards (first wave), one read of
//!    everything they need: the phone's known-number item and today's
//!    count, and each cohort's days and state;
//! 2. from what was read, [`Shared::admit`] works out the limits and the
//!    conditional adds of the second wave: the per-phone daily cap, the
//!    cohorts (unknown numbers only), the budget, and the send recorded as
//!    pending for verification;
//! 3. [`Admission::conclude`] turns the answers into findings. A refused
//!    SMS gives back what its admitted adds counted ([`Admission::undo`]),
//!    so only what goes out counts.

use serde::Serialize;

use crate::country::Country;
use crate::engine::{Check, Decision, Finding, Reason, Verdict};
use crate::keys;
use crate::policy::{Mode, Policy};
use crate::source::TriggerSource;
use crate::stateful::{Case, SubjectKeys};
use crate::store::{Attr, ItemKey, Op, OpResult, StoreError};
use crate::window::Window;

use super::cohort::{self, Assessment, Closed, Cohort, HistoryMemo, Recalled};
use super::known::{self, CodeKind};
use super::spend;

type Item = crate::store::Numbers;

/// A cohort that changed state with this decision: logged and counted as a
/// metric by the adapter.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CohortEvent {
    /// `GB`, or a block such as `GB block of 1e3 numbers #3f9a2c1b0d4e`.
    pub cohort: String,
    /// `throttled` or `recovered`.
    pub state: &'static str,
    pub conversion_permille: i64,
    pub baseline_permille: i64,
    /// Codes the conversion was measured on.
    pub due: i64,
}

/// The new guards' part of one decision, before anything is read.
#[derive(Debug, Clone)]
pub struct Shared {
    phone_hash: String,
    user: i64,
    kind: CodeKind,
    country: Option<Country>,
    cohorts: Vec<Cohort>,
    cost: i64,
    rate_exempt: bool,
    /// The cohorts' closed days the store already knew of
    /// ([`Shared::recall`]): those are not read again.
    recalled: Recalled,
}

/// What the second wave does for one gate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Gate {
    PhoneDay { limit: i64 },
    Cohort(usize),
    Spend(spend::Counter, i64),
    Pending,
    Change(usize),
}

/// The second wave's ops and how to read their answers.
#[derive(Debug, Clone)]
pub struct Admission {
    pub known: bool,
    pub ops: Vec<Op>,
    gates: Vec<Gate>,
    cohorts: Vec<Cohort>,
    assessments: Vec<Assessment>,
    /// The pending-send record as it was, restored if the SMS is refused.
    pending_before: Vec<(Attr, i64)>,
    now: i64,
}

/// The mode a cohort's limit runs in and the reason it refuses with: a
/// throttled cohort answers to `conversion-mode` (within `mode`) with
/// `COHORT_LOW_CONVERSION`, any other to `mode` with `COHORT_VOLUME`.
fn cohort_gate(p: &Policy, throttled: bool) -> (Mode, Reason) {
    if throttled {
        (
            p.cohorts.conversion_mode.min(p.cohorts.mode),
            Reason::CohortLowConversion,
        )
    } else {
        (p.cohorts.mode, Reason::CohortVolume)
    }
}

impl Shared {
    /// `None` when no guard here applies (blocked already, exempt, or an
    /// unreadable number).
    pub fn new(p: &Policy, d: &Decision, s: &Case<'_>, hashes: &SubjectKeys) -> Option<Self> {
        if d.verdict == Verdict::Block || d.exempt {
            return None;
        }
        let on = |m: Mode| p.effective(m) != Mode::Off;
        if !on(p.known_numbers.mode) && !on(p.cohorts.mode) && !on(p.budget.mode) {
            return None;
        }
        let rate_exempt =
            s.source == TriggerSource::AdminCreateUser && p.exemptions.admin_create_user;
        let cohorts = if p.effective(p.cohorts.mode) != Mode::Off && !rate_exempt {
            cohort::cohorts(
                &p.cohorts,
                d.country,
                &s.number.blocks,
                cohort::Flow::of(CodeKind::of(s.source)),
            )
        } else {
            Vec::new()
        };
        Some(Self {
            phone_hash: hashes.phone.clone(),
            user: known::user_tag(hashes.user.as_deref()),
            kind: CodeKind::of(s.source),
            country: d.country,
            cohorts,
            cost: i64::try_from(p.budget.prices.micro_usd(d.country)).unwrap_or(i64::MAX),
            rate_exempt,
            recalled: Recalled::default(),
        })
    }

    /// Takes the cohorts' closed days the store keeps (`memo`), so that
    /// [`Shared::reads`] leaves them out.
    pub fn recall(&mut self, p: &Policy, memo: Option<&HistoryMemo>, now: i64) {
        if let Some(m) = memo.filter(|_| !self.cohorts.is_empty()) {
            self.recalled = m.recall(&p.cohorts, &self.cohorts, now);
        }
    }

    fn closed(&self, i: usize) -> Option<&Closed> {
        self.recalled.closed.get(i).and_then(|c| c.as_deref())
    }

    /// Each cohort with its items in the answer to [`Shared::reads`] and its
    /// assessment; closed days worked out from the items are kept in `memo`.
    fn assessed<'a>(
        &'a self,
        p: &'a Policy,
        items: &'a [Item],
        now: i64,
        memo: Option<&'a HistoryMemo>,
    ) -> impl Iterator<Item = (usize, &'a Cohort, &'a [Item], Assessment)> + 'a {
        let mut from = 2;
        self.cohorts.iter().enumerate().map(move |(i, c)| {
            let closed = self.closed(i);
            let per = cohort::reads_per_cohort(&p.cohorts, closed.is_some());
            let slice = items.get(from..from + per).unwrap_or(&[]);
            from += per;
            let (a, learned) = cohort::assess(&p.cohorts, c, slice, closed, now);
            // Only what was read in full is kept: a short answer is judged
            // (missing items read empty) but teaches nothing.
            if let (Some(m), Some(l), true) = (memo, learned, slice.len() == per) {
                m.learn(&p.cohorts, &c.pk, now, &self.recalled, l);
            }
            (i, c, slice, a)
        })
    }

    /// Everything the second wave needs, in one read.
    pub fn reads(&self, p: &Policy, now: i64) -> Op {
        let mut keys: Vec<ItemKey> = vec![
            keys::known(&self.phone_hash),
            keys::phone_day(&self.phone_hash, now),
        ];
        for (i, c) in self.cohorts.iter().enumerate() {
            keys.extend(cohort::read_keys(
                &p.cohorts,
                c,
                now,
                self.closed(i).is_some(),
            ));
        }
        Op::Read { keys }
    }

    /// Before any SMS exists (PreSignUp): the findings the SMS that would
    /// follow would already meet, from the answer to [`Shared::reads`].
    /// Nothing is written: the per-phone daily cap already reached, and for
    /// an unknown number a cohort already at its limit.
    pub fn precheck(
        &self,
        p: &Policy,
        items: &[Item],
        now: i64,
        memo: Option<&HistoryMemo>,
    ) -> Vec<Finding> {
        let empty = Item::default();
        let known_item = items.first().unwrap_or(&empty);
        let known = known::is_known(&p.known_numbers, known_item, now);
        let mut out = Vec::new();
        let km = p.effective(p.known_numbers.mode);
        if km != Mode::Off && !self.rate_exempt {
            let today = items.get(1).unwrap_or(&empty);
            let limit = known::daily_cap(&p.known_numbers, known, today);
            if today.get("sends").copied().unwrap_or(0) >= limit {
                out.extend(Finding::under(
                    p,
                    Check::PhoneLimits,
                    p.known_numbers.mode,
                    Reason::PhoneDailyCap,
                    Some(Window::DAY.secs_left(now)),
                ));
            }
        }
        if known {
            return out;
        }
        for (_, _, slice, a) in self.assessed(p, items, now, memo) {
            if !a.full(now, slice.first().unwrap_or(&empty)) {
                continue;
            }
            let (mode, reason) = cohort_gate(p, a.throttled);
            out.extend(Finding::under(
                p,
                Check::Cohort,
                mode,
                reason,
                Some(Window::HOUR.secs_left(now)),
            ));
        }
        out
    }

    /// The second wave, from the answer to [`Shared::reads`].
    pub fn admit(
        &self,
        p: &Policy,
        items: &[Item],
        now: i64,
        memo: Option<&HistoryMemo>,
    ) -> Admission {
        let empty = Item::default();
        let known_item = items.first().unwrap_or(&empty);
        let known = known::is_known(&p.known_numbers, known_item, now);
        let enforce = |m: Mode| p.effective(m) == Mode::Enforce;
        let mut ops = Vec::new();
        let mut gates = Vec::new();

        let km = p.effective(p.known_numbers.mode);
        if km != Mode::Off && !self.rate_exempt {
            let today = items.get(1).unwrap_or(&empty);
            let limit = known::daily_cap(&p.known_numbers, known, today);
            let key = keys::phone_day(&self.phone_hash, now);
            ops.push(Op::AddIf {
                key,
                adds: vec![("sends".into(), 1)],
                below: if enforce(km) {
                    vec![("sends".into(), limit)]
                } else {
                    Vec::new()
                },
                set: Vec::new(),
                expires_at: Window::DAY.end(now) + 86_400,
            });
            gates.push(Gate::PhoneDay { limit });
        }

        let mut assessments = Vec::new();
        let judged = !known && !self.cohorts.is_empty();
        for (i, c, _, a) in self.assessed(p, items, now, memo) {
            if let Some(op) = a.change(c, now) {
                ops.push(op);
                gates.push(Gate::Change(i));
            }
            if judged {
                let (mode, _) = cohort_gate(p, a.throttled);
                ops.push(a.admit(c, now, enforce(mode)));
                gates.push(Gate::Cohort(i));
            }
            assessments.push(a);
        }

        let bm = p.effective(p.budget.mode);
        if bm != Mode::Off {
            for (counter, op, limit) in
                spend::ops(&p.budget, self.country, self.cost, known, now, enforce(bm))
            {
                ops.push(op);
                gates.push(Gate::Spend(counter, limit));
            }
        }

        let feedback = km != Mode::Off || !self.cohorts.is_empty();
        if feedback {
            ops.push(known::pending(
                &p.known_numbers,
                known_item,
                &self.phone_hash,
                now,
                (self.user, self.kind),
                known,
                judged,
            ));
            gates.push(Gate::Pending);
        }
        Admission {
            known,
            ops,
            gates,
            cohorts: self.cohorts.clone(),
            assessments,
            pending_before: known::pending_record(known_item),
            now,
        }
    }
}

impl Admission {
    /// Adds the findings of the second wave's answers to `d`.
    pub fn conclude(&self, p: &Policy, d: &mut Decision, results: &[Result<OpResult, StoreError>]) {
        d.known = Some(self.known);
        let now = self.now;
        let mut push = |check, mode: Mode, reason, retry_after| {
            d.findings
                .extend(Finding::under(p, check, mode, reason, retry_after));
        };
        let mut store_error = false;
        let mut events = Vec::new();
        for (gate, result) in self.gates.iter().zip(results) {
            let (admitted, numbers) = match result {
                Ok(OpResult::Admitted { admitted, numbers }) => (*admitted, numbers),
                Ok(_) | Err(_) => {
                    store_error = true;
                    continue;
                }
            };
            match *gate {
                Gate::PhoneDay { limit } => {
                    let over = !admitted || numbers.get("sends").copied().unwrap_or(0) > limit;
                    if over {
                        push(
                            Check::PhoneLimits,
                            p.known_numbers.mode,
                            Reason::PhoneDailyCap,
                            Some(Window::DAY.secs_left(now)),
                        );
                    }
                }
                Gate::Cohort(i) => {
                    let a = &self.assessments[i];
                    if !admitted || a.over(now, numbers) {
                        let (mode, reason) = cohort_gate(p, a.throttled);
                        push(
                            Check::Cohort,
                            mode,
                            reason,
                            Some(Window::HOUR.secs_left(now)),
                        );
                    }
                }
                Gate::Spend(counter, limit) => {
                    let spent = numbers.get("micro_usd").copied().unwrap_or(0);
                    // Unbounded (monitor): over when this SMS took it past the limit.
                    if !admitted || spent > limit {
                        push(Check::Budget, p.budget.mode, counter.reason(), None);
                    }
                }
                Gate::Change(i) => {
                    if admitted {
                        let a = &self.assessments[i];
                        events.push(CohortEvent {
                            cohort: self.cohorts[i].label(),
                            state: if a.throttled {
                                "throttled"
                            } else {
                                "recovered"
                            },
                            conversion_permille: a.conversion_permille,
                            baseline_permille: a.baseline_conversion_permille,
                            due: a.due,
                        });
                    }
                }
                Gate::Pending => {}
            }
        }
        // A spent budget names itself; the country share adds nothing then.
        let total_spent = d
            .findings
            .iter()
            .any(|f| matches!(f.reason, Reason::BudgetDaily | Reason::BudgetMonthly));
        if total_spent {
            d.findings
                .retain(|f| f.reason != Reason::BudgetCountryShare);
        }
        d.cohort_events = events;
        if store_error {
            d.store_error = true;
        }
    }

    /// What to write when the SMS was refused after all: every add that was
    /// admitted, negated (state changes stay: they happened), and for each
    /// cohort that refused it, one more refused attempt, which keeps a
    /// throttled cohort throttled while the attack goes on.
    pub fn undo(&self, results: &[Result<OpResult, StoreError>]) -> Vec<Op> {
        self.ops
            .iter()
            .zip(&self.gates)
            .zip(results)
            .filter_map(|((op, gate), r)| match (op, gate, r) {
                (_, Gate::Change(_), _) => None,
                (
                    _,
                    Gate::Cohort(i),
                    Ok(OpResult::Admitted {
                        admitted: false, ..
                    }),
                ) => Some(cohort::refused(&self.cohorts[*i], self.now)),
                // No code went out: the phone's pending send is the one before.
                (
                    Op::AddIf {
                        key, expires_at, ..
                    },
                    Gate::Pending,
                    Ok(OpResult::Admitted { admitted: true, .. }),
                ) => Some(Op::AddIf {
                    key: key.clone(),
                    adds: vec![("unused".into(), -1)],
                    below: Vec::new(),
                    set: self.pending_before.clone(),
                    expires_at: *expires_at,
                }),
                (
                    Op::AddIf {
                        key,
                        adds,
                        expires_at,
                        ..
                    },
                    _,
                    Ok(OpResult::Admitted { admitted: true, .. }),
                ) => Some(Op::AddIf {
                    key: key.clone(),
                    adds: adds.iter().map(|(a, n)| (a.clone(), -n)).collect(),
                    below: Vec::new(),
                    set: Vec::new(),
                    expires_at: *expires_at,
                }),
                _ => None,
            })
            .collect()
    }
}
