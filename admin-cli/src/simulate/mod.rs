//! `pumpguard simulate`: labelled traffic (a legitimate week with one attack
//! per scenario, [`traffic`]) replayed through the trigger for the policy
//! under test and for the baselines that model other approaches
//! ([`baselines`]), on the same events. Per scenario and policy it counts
//! fraudulent SMS sent and blocked, the fraud cost let through, and the
//! legitimate SMS blocked (false positives).
//!
//! A legitimate user's mistyped number (`+44 07…`, a dropped digit) cannot
//! receive an SMS whatever the policy does; such sends are counted apart
//! ("typos blocked"), not as false positives.

pub mod baselines;
pub mod report;
pub mod traffic;

use std::fmt::Write as _;

use pumpguard_engine::phone::classify;
use pumpguard_engine::prices::PriceTable;
use pumpguard_engine::Policy;
use serde::Serialize;

use crate::replay::Replayer;
use traffic::{Label, SimEvent, SCENARIOS};

/// The results of one policy on one scenario.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    pub fraud_sms: u64,
    pub fraud_blocked: u64,
    pub fraud_cost_usd: f64,
    pub fraud_cost_allowed_usd: f64,
    pub legit_sms: u64,
    pub legit_blocked: u64,
    pub legit_cost_allowed_usd: f64,
    /// Of the legitimate SMS: those to returning users' known numbers.
    pub legit_known_sms: u64,
    pub legit_known_blocked: u64,
    pub typo_sms: u64,
    pub typo_blocked: u64,
    /// Per hour of the week, [`HOURLY`]'s series: legitimate sent and
    /// blocked, mistyped numbers sent and blocked (apart: no SMS reaches a
    /// mistyped number, so blocking one is no false positive), fraud sent and
    /// blocked.
    pub hourly: Vec<[u32; 6]>,
}

/// The series of [`Stats::hourly`], in order.
pub const HOURLY: [&str; 6] = [
    "legitimate sent",
    "legitimate blocked",
    "mistyped sent",
    "mistyped blocked",
    "fraud sent",
    "fraud blocked",
];

impl Stats {
    /// Share of the fraud cost blocked, 0–1 (1 when there was none).
    pub fn fraud_cost_blocked_share(&self) -> f64 {
        if self.fraud_cost_usd <= 0.0 {
            1.0
        } else {
            1.0 - self.fraud_cost_allowed_usd / self.fraud_cost_usd
        }
    }

    /// Share of legitimate (deliverable) SMS blocked, 0–1.
    pub fn false_positive_share(&self) -> f64 {
        if self.legit_sms == 0 {
            0.0
        } else {
            self.legit_blocked as f64 / self.legit_sms as f64
        }
    }

    fn add(&mut self, o: &Stats) {
        self.fraud_sms += o.fraud_sms;
        self.fraud_blocked += o.fraud_blocked;
        self.fraud_cost_usd += o.fraud_cost_usd;
        self.fraud_cost_allowed_usd += o.fraud_cost_allowed_usd;
        self.legit_sms += o.legit_sms;
        self.legit_blocked += o.legit_blocked;
        self.legit_cost_allowed_usd += o.legit_cost_allowed_usd;
        self.legit_known_sms += o.legit_known_sms;
        self.legit_known_blocked += o.legit_known_blocked;
        self.typo_sms += o.typo_sms;
        self.typo_blocked += o.typo_blocked;
    }
}

/// One scenario's results, one entry per policy in [`Simulation::policies`] order.
#[derive(Debug, Clone, Serialize)]
pub struct ScenarioResult {
    pub name: &'static str,
    pub description: &'static str,
    pub events: usize,
    pub stats: Vec<Stats>,
}

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Simulation {
    pub seed: u64,
    /// The policy under test first, then the baselines.
    pub policies: Vec<String>,
    pub scenarios: Vec<ScenarioResult>,
}

impl Simulation {
    /// Every scenario summed, per policy (hourly series left empty).
    pub fn totals(&self) -> Vec<Stats> {
        let mut t = vec![Stats::default(); self.policies.len()];
        for s in &self.scenarios {
            for (sum, st) in t.iter_mut().zip(&s.stats) {
                sum.add(st);
            }
        }
        t
    }
}

/// The scenario names `--scenario` accepts.
pub fn scenario_names() -> Vec<&'static str> {
    SCENARIOS.iter().map(|(n, _)| *n).collect()
}

/// Runs `scenarios` (names, or `all`) for `policy` (named `label`) and the
/// baselines. `progress` is told each finished (scenario, policy) run.
pub fn run(
    policy: &Policy,
    label: &str,
    scenario: &str,
    seed: u64,
    progress: &(dyn Fn(&str, &str) + Sync),
) -> anyhow::Result<Simulation> {
    let chosen: Vec<(&'static str, &'static str)> = if scenario == "all" {
        SCENARIOS.to_vec()
    } else {
        let found = SCENARIOS.iter().find(|(n, _)| *n == scenario).copied();
        vec![found.ok_or_else(|| {
            anyhow::anyhow!(
                "unknown scenario {scenario:?}; use one of: all, {}",
                scenario_names().join(", ")
            )
        })?]
    };
    let mut policies = vec![(label.to_string(), policy.clone())];
    for b in baselines::all(policy)? {
        policies.push((b.name.to_string(), b.policy));
    }
    let prices = PriceTable::shipped();
    let mut scenarios = Vec::new();
    for (name, description) in chosen {
        let events = traffic::generate(name, seed)
            .ok_or_else(|| anyhow::anyhow!("no generator for scenario {name}"))?;
        // One price per event for every policy: the shipped table.
        let costs: Vec<u64> = events
            .iter()
            .map(|e| prices.micro_usd(classify(&e.phone).ok().and_then(|i| i.country)))
            .collect();
        let stats = run_policies(&policies, &events, &costs, &|p| progress(name, p))?;
        scenarios.push(ScenarioResult {
            name,
            description,
            events: events.len(),
            stats,
        });
    }
    Ok(Simulation {
        seed,
        policies: policies.into_iter().map(|(n, _)| n).collect(),
        scenarios,
    })
}

/// Each policy on its own replayer, spread over the machine's cores.
fn run_policies(
    policies: &[(String, Policy)],
    events: &[SimEvent],
    costs: &[u64],
    progress: &(dyn Fn(&str) + Sync),
) -> anyhow::Result<Vec<Stats>> {
    let next = std::sync::atomic::AtomicUsize::new(0);
    let workers = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(policies.len());
    let mut results: Vec<Option<anyhow::Result<Stats>>> = Vec::new();
    results.resize_with(policies.len(), || None);
    let results = std::sync::Mutex::new(results);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                let Some((name, policy)) = policies.get(i) else {
                    break;
                };
                let r = run_one(policy, events, costs);
                progress(name);
                if let Ok(mut all) = results.lock() {
                    all[i] = Some(r);
                }
            });
        }
    });
    results
        .into_inner()
        .map_err(|_| anyhow::anyhow!("a simulation worker failed"))?
        .into_iter()
        .map(|r| r.unwrap_or_else(|| Err(anyhow::anyhow!("a simulation worker stopped early"))))
        .collect()
}

fn run_one(policy: &Policy, events: &[SimEvent], costs: &[u64]) -> anyhow::Result<Stats> {
    let mut replayer = Replayer::new(policy)?;
    let hours = usize::try_from(traffic::DAYS * 24).unwrap_or(0);
    let mut s = Stats {
        hourly: vec![[0; 6]; hours],
        ..Stats::default()
    };
    for (e, &cost) in events.iter().zip(costs) {
        let o = replayer.step(e.at, e.to_cognito());
        // Before the week: the history that made returning users known.
        if !e.is_sms() || e.at < traffic::START {
            continue;
        }
        let sent = o.sent();
        let usd = cost as f64 / 1e6;
        let slot = usize::try_from((e.at - traffic::START) / traffic::HOUR)
            .unwrap_or(0)
            .min(hours.saturating_sub(1));
        let kind = match e.label {
            Label::Legit => 0,
            Label::LegitTypo => 1,
            Label::Fraud => 2,
        };
        let series = kind * 2 + usize::from(!sent);
        if let Some(h) = s.hourly.get_mut(slot) {
            h[series] += 1;
        }
        match e.label {
            Label::Fraud => {
                s.fraud_sms += 1;
                s.fraud_cost_usd += usd;
                if sent {
                    s.fraud_cost_allowed_usd += usd;
                } else {
                    s.fraud_blocked += 1;
                }
            }
            Label::Legit => {
                s.legit_sms += 1;
                s.legit_known_sms += u64::from(e.returning);
                if sent {
                    s.legit_cost_allowed_usd += usd;
                } else {
                    s.legit_blocked += 1;
                    s.legit_known_blocked += u64::from(e.returning);
                }
            }
            Label::LegitTypo => {
                s.typo_sms += 1;
                if !sent {
                    s.typo_blocked += 1;
                }
            }
        }
    }
    Ok(s)
}

fn pct(x: f64) -> String {
    format!("{:.2}%", x * 100.0)
}

/// The comparison table, one block per scenario and a total.
pub fn table(sim: &Simulation) -> String {
    let mut out = String::new();
    let width = sim
        .policies
        .iter()
        .map(String::len)
        .max()
        .unwrap_or(10)
        .max(10);
    let header = format!(
        "  {:<width$}  {:>9}  {:>17}  {:>10}  {:>11}  {:>13}  {:>9}  {:>18}  {:>11}\n",
        "policy",
        "fraud SMS",
        "blocked",
        "fraud sent",
        "fraud cost",
        "cost allowed",
        "legit SMS",
        "legit blocked (FP)",
        "known / new"
    );
    let row = |out: &mut String, name: &str, s: &Stats| {
        let _ = writeln!(
            out,
            "  {:<width$}  {:>9}  {:>8} {:>8}  {:>10}  {:>11}  {:>13}  {:>9}  {:>7} {:>10}  {:>11}",
            name,
            s.fraud_sms,
            s.fraud_blocked,
            format!("({})", pct(ratio(s.fraud_blocked, s.fraud_sms))),
            s.fraud_sms - s.fraud_blocked,
            format!("${:.2}", s.fraud_cost_usd),
            format!("${:.2}", s.fraud_cost_allowed_usd),
            s.legit_sms,
            s.legit_blocked,
            format!("({})", pct(s.false_positive_share())),
            format!(
                "{} / {}",
                s.legit_known_blocked,
                s.legit_blocked - s.legit_known_blocked
            ),
        );
    };
    let _ = writeln!(out, "pumpguard simulate, seed {}\n", sim.seed);
    for sc in &sim.scenarios {
        let _ = writeln!(
            out,
            "{} ({} events): {}",
            sc.name, sc.events, sc.description
        );
        out.push_str(&header);
        for (name, s) in sim.policies.iter().zip(&sc.stats) {
            row(&mut out, name, s);
        }
        if let Some(s) = sc.stats.first() {
            if s.typo_sms > 0 {
                let _ = writeln!(
                    out,
                    "  (typos: {} legitimate SMS to mistyped, undeliverable numbers; {} blocked by {})",
                    s.typo_sms, s.typo_blocked, sim.policies[0]
                );
            }
        }
        out.push('\n');
    }
    if sim.scenarios.len() > 1 {
        let _ = writeln!(
            out,
            "all scenarios: fraud cost blocked / legitimate SMS blocked"
        );
        out.push_str(&header);
        for (name, s) in sim.policies.iter().zip(sim.totals()) {
            row(&mut out, name, &s);
        }
        out.push('\n');
        for (name, s) in sim.policies.iter().zip(sim.totals()) {
            let _ = writeln!(
                out,
                "  {:<width$}  fraud cost blocked {:>8}   legitimate SMS blocked {:>6}",
                name,
                pct(s.fraud_cost_blocked_share()),
                pct(s.false_positive_share())
            );
        }
    }
    out
}

fn ratio(a: u64, b: u64) -> f64 {
    if b == 0 {
        0.0
    } else {
        a as f64 / b as f64
    }
}
