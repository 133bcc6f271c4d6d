//! `pumpguard replay`: the trigger, on recorded traffic, offline.
//!
//! Input is JSON Lines in time order, `{"at": "<RFC 3339>", "event": <a
//! Cognito trigger event as Lambda receives it>}`. Each event goes through
//! the trigger's own adapter (`pumpguard::trigger::handle_judged`) on the
//! embedded in-memory store, with the clock set from `at`; verification
//! events feed the stateful guards as they would in production. Output is one
//! JSON line per input line, in order; the summary goes to stderr or a file.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Arc;

use anyhow::Context;
use pumpguard::hash::PhoneHasher;
use pumpguard::store::MemoryStore;
use pumpguard::trigger::{handle_judged, TriggerContext};
use pumpguard::{Engine, Policy, Verdict};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

#[derive(Deserialize)]
struct Line {
    at: String,
    event: Value,
}

/// Totals of a replay.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub lines: u64,
    pub malformed_lines: u64,
    pub by_verdict: BTreeMap<String, u64>,
    pub by_reason: BTreeMap<String, u64>,
    /// Judged SMS by destination country (`unknown` when none).
    pub by_country: BTreeMap<String, u64>,
    /// Estimated cost (price table) of SMS let through, USD.
    pub spend_allowed_usd: f64,
    /// Estimated cost of SMS blocked, USD.
    pub spend_blocked_usd: f64,
}

/// What one input line became.
#[derive(Debug, Serialize)]
pub struct Verdicts {
    pub line: u64,
    /// `allow`, `block`, `monitor` or `pass` (not judged: email-only source,
    /// no phone, verification trigger, unknown source passed through).
    pub verdict: &'static str,
    pub reasons: Vec<String>,
}

/// What is wrong with a line, without quoting it: serde's data errors quote
/// the offending value (`invalid type: string "+1…"`).
fn json_problem(e: &serde_json::Error) -> String {
    let what = match e.classify() {
        serde_json::error::Category::Io => "unreadable",
        serde_json::error::Category::Syntax => "invalid JSON",
        serde_json::error::Category::Eof => "incomplete JSON",
        serde_json::error::Category::Data => "\"at\" (a string) and \"event\" are required",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// Replays `input` into `out` (one line per input line); stops at the first
/// malformed line when `strict`. `progress` is called every 10,000 lines.
pub fn replay(
    policy: &Policy,
    input: impl BufRead,
    mut out: impl Write,
    strict: bool,
    mut progress: impl FnMut(u64),
) -> anyhow::Result<Summary> {
    let engine = Engine::new(Arc::new(policy.clone()));
    let keys = PhoneHasher::unkeyed();
    let ctx = TriggerContext::new(MemoryStore::new(), keys.clone(), keys);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?;
    let mut s = Summary::default();
    for (i, line) in input.lines().enumerate() {
        let n = u64::try_from(i).unwrap_or(u64::MAX) + 1;
        s.lines = n;
        if n % 10_000 == 0 {
            progress(n);
        }
        let text = line.with_context(|| format!("cannot read line {n}"))?;
        if text.trim().is_empty() {
            continue;
        }
        // Neither message quotes the line: recorded events hold phone numbers.
        let parsed = serde_json::from_str::<Line>(&text)
            .map_err(|e| format!("not a {{\"at\", \"event\"}} object ({})", json_problem(&e)))
            .and_then(|l| {
                time::OffsetDateTime::parse(&l.at, &time::format_description::well_known::Rfc3339)
                    .map(|t| (t.unix_timestamp(), l.event))
                    .map_err(|_| "\"at\" is not an RFC 3339 time".to_string())
            });
        let (now, event) = match parsed {
            Ok(p) => p,
            Err(why) => {
                s.malformed_lines += 1;
                if strict {
                    anyhow::bail!("line {n}: {why} (stopping: --strict)");
                }
                eprintln!("line {n}: {why}; skipped");
                writeln!(out, "{}", json!({"line": n, "error": why}))?;
                continue;
            }
        };
        let (result, decision) = rt.block_on(handle_judged(&engine, &ctx, event, now));
        let v = match (&result, &decision) {
            (_, Some(d)) => {
                let country = d
                    .country
                    .map_or_else(|| "unknown".to_string(), |c| c.to_string());
                *s.by_country.entry(country).or_default() += 1;
                let cost = policy.budget.prices.micro_usd(d.country) as f64 / 1e6;
                if d.verdict == Verdict::Block {
                    s.spend_blocked_usd += cost;
                } else {
                    s.spend_allowed_usd += cost;
                }
                Verdicts {
                    line: n,
                    verdict: match d.verdict {
                        Verdict::Allow => "allow",
                        Verdict::Monitor => "monitor",
                        Verdict::Block => "block",
                    },
                    reasons: d.reasons(),
                }
            }
            (Ok(_), None) => Verdicts {
                line: n,
                verdict: "pass",
                reasons: Vec::new(),
            },
            // The trigger refused the event itself (malformed, unknown source blocked).
            (Err(e), None) => Verdicts {
                line: n,
                verdict: "block",
                reasons: vec![e.message.split(':').next().unwrap_or("ERROR").to_string()],
            },
        };
        *s.by_verdict.entry(v.verdict.to_string()).or_default() += 1;
        for r in &v.reasons {
            *s.by_reason.entry(r.clone()).or_default() += 1;
        }
        serde_json::to_writer(&mut out, &v)?;
        out.write_all(b"\n")?;
    }
    out.flush()?;
    Ok(s)
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(
            f,
            "lines: {} ({} malformed)",
            self.lines, self.malformed_lines
        )?;
        for (k, v) in &self.by_verdict {
            writeln!(f, "  {k}: {v}")?;
        }
        writeln!(f, "reasons:")?;
        for (k, v) in &self.by_reason {
            writeln!(f, "  {k}: {v}")?;
        }
        writeln!(f, "countries:")?;
        for (k, v) in &self.by_country {
            writeln!(f, "  {k}: {v}")?;
        }
        writeln!(
            f,
            "estimated spend: allowed ${:.2}, blocked ${:.2}",
            self.spend_allowed_usd, self.spend_blocked_usd
        )
    }
}
