//! `pumpguard replay`: the trigger, on recorded traffic, offline.
//!
//! Input is JSON Lines in time order, `{"at": "<RFC 3339>", "event": <a
//! Cognito trigger event as Lambda receives it>}`. Each event goes through
//! the trigger's own adapter (`pumpguard_trigger::trigger::handle_judged`) on the
//! embedded in-memory store, with the clock set from `at`; verification
//! events feed the stateful guards as they would in production. Output is one
//! JSON line per input line, in order; the summary goes to stderr or a file.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Arc;

use pumpguard_engine::country::Country;
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::store::MemoryStore;
use pumpguard_engine::{Engine, Policy};
use pumpguard_trigger::trigger::{handle_judged, TriggerContext};
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
    /// The same sums in micro-USD, exact: the USD figures are made from
    /// them once, so they print as the prices add up (`0.04735`, not
    /// `0.047349999999999996`).
    #[serde(skip)]
    micro_usd: (u64, u64),
}

impl Summary {
    fn add_spend(&mut self, micro_usd: u64, sent: bool) {
        if sent {
            self.micro_usd.0 = self.micro_usd.0.saturating_add(micro_usd);
        } else {
            self.micro_usd.1 = self.micro_usd.1.saturating_add(micro_usd);
        }
        self.spend_allowed_usd = self.micro_usd.0 as f64 / 1e6;
        self.spend_blocked_usd = self.micro_usd.1 as f64 / 1e6;
    }
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

/// What the trigger made of one event.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `allow`, `block`, `monitor` or `pass`.
    pub verdict: &'static str,
    pub reasons: Vec<String>,
    /// Whether the engine judged an SMS (not a pass-through or a refused event).
    pub judged: bool,
    /// The destination's region, for judged SMS.
    pub country: Option<Country>,
    /// Estimated cost of the SMS (price table), micro-USD; 0 when not judged.
    pub cost_micro_usd: u64,
}

impl Outcome {
    /// Whether Cognito would send the SMS (allowed or only monitored).
    pub fn sent(&self) -> bool {
        matches!(self.verdict, "allow" | "monitor")
    }
}

/// The trigger on the embedded store with a clock the caller sets: one
/// event at a time, in time order, exactly as the Lambda would judge them.
#[allow(missing_debug_implementations)]
pub struct Replayer {
    engine: Engine,
    store: Arc<MemoryStore>,
    ctx: TriggerContext<Arc<MemoryStore>>,
    rt: tokio::runtime::Runtime,
}

impl Replayer {
    /// `phone_hash` in the trigger's log lines (shown with `RUST_LOG=info`)
    /// is keyed by a key made at random for this replayer: within a run one
    /// number's lines correlate, but a hash cannot be reversed by hashing
    /// candidate numbers under a known key, nor matched across runs. The
    /// in-memory store's keys stay under the fixed public key: they never
    /// leave the process, and the cooldown's jitter is derived from them, so
    /// a per-run key would make verdicts (and `simulate`'s seeded results)
    /// differ between runs when `jitter-percent` is set.
    pub fn new(policy: &Policy) -> anyhow::Result<Self> {
        let store = Arc::new(MemoryStore::new());
        Ok(Self {
            engine: Engine::new(Arc::new(policy.clone())),
            ctx: TriggerContext::new(
                Arc::clone(&store),
                PhoneHasher::ephemeral(),
                PhoneHasher::unkeyed(),
            ),
            store,
            rt: tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()?,
        })
    }

    /// Judges `event` as received at `now` (Unix seconds).
    pub fn step(&mut self, now: i64, event: Value) -> Outcome {
        self.store.expire(now);
        let (result, decision) =
            self.rt
                .block_on(handle_judged(&self.engine, &self.ctx, event, now));
        match (&result, decision) {
            (_, Some(d)) => Outcome {
                verdict: d.verdict.as_str(),
                reasons: d.reasons(),
                judged: true,
                country: d.country,
                cost_micro_usd: self.engine.policy().budget.prices.micro_usd(d.country),
            },
            (Ok(_), None) => Outcome {
                verdict: "pass",
                reasons: Vec::new(),
                judged: false,
                country: None,
                cost_micro_usd: 0,
            },
            // The trigger refused the event itself (malformed, unknown source blocked).
            (Err(e), None) => Outcome {
                verdict: "block",
                reasons: vec![e.message.split(':').next().unwrap_or("ERROR").to_string()],
                judged: false,
                country: None,
                cost_micro_usd: 0,
            },
        }
    }
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

/// One input line, parsed off the engine's thread.
enum Parsed {
    Blank,
    Event(i64, Value),
    Malformed(String),
}

fn parse_line(text: &str) -> Parsed {
    if text.trim().is_empty() {
        return Parsed::Blank;
    }
    let parsed = serde_json::from_str::<Line>(text)
        // Neither message quotes the line: recorded events hold phone numbers.
        .map_err(|e| format!("not a {{\"at\", \"event\"}} object ({})", json_problem(&e)))
        .and_then(|l| {
            time::OffsetDateTime::parse(&l.at, &time::format_description::well_known::Rfc3339)
                .map(|t| (t.unix_timestamp(), l.event))
                .map_err(|_| "\"at\" is not an RFC 3339 time".to_string())
        });
    match parsed {
        Ok((now, event)) => Parsed::Event(now, event),
        Err(why) => Parsed::Malformed(why),
    }
}

/// Lines handed from the reader thread to the engine at a time.
const BATCH: usize = 2048;

/// Reads and parses `input` on its own thread, in batches, so that JSON
/// parsing overlaps the engine; stops early when the receiver hangs up.
fn read_batches(input: impl BufRead, tx: std::sync::mpsc::SyncSender<Result<Vec<Parsed>, String>>) {
    let mut batch = Vec::with_capacity(BATCH);
    for (i, line) in input.lines().enumerate() {
        match line {
            Ok(text) => batch.push(parse_line(&text)),
            Err(e) => {
                let _ = tx.send(Ok(std::mem::take(&mut batch)));
                let _ = tx.send(Err(format!("cannot read line {}: {e}", i + 1)));
                return;
            }
        }
        if batch.len() == BATCH
            && tx
                .send(Ok(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))))
                .is_err()
        {
            return;
        }
    }
    let _ = tx.send(Ok(batch));
}

/// How verdict lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OutputFormat {
    /// One JSON object per line.
    #[default]
    Json,
    /// `line N: verdict REASON,...`, for reading.
    Text,
}

/// Replays `input` into `out` (one line per input line); stops at the first
/// malformed line when `strict`. `progress` is called every 10,000 lines.
pub fn replay(
    policy: &Policy,
    input: impl BufRead + Send,
    out: impl Write,
    strict: bool,
    progress: impl FnMut(u64),
) -> anyhow::Result<Summary> {
    replay_as(policy, input, out, OutputFormat::Json, strict, progress)
}

/// [`replay`] with a choice of output format.
pub fn replay_as(
    policy: &Policy,
    input: impl BufRead + Send,
    out: impl Write,
    format: OutputFormat,
    strict: bool,
    progress: impl FnMut(u64),
) -> anyhow::Result<Summary> {
    replay_with(policy, input, out, format, strict, progress, None)
}

/// [`replay_as`], also gathering what `--report` draws into `report`.
pub fn replay_with(
    policy: &Policy,
    input: impl BufRead + Send,
    mut out: impl Write,
    format: OutputFormat,
    strict: bool,
    mut progress: impl FnMut(u64),
    mut report: Option<&mut crate::replay_report::ReportData>,
) -> anyhow::Result<Summary> {
    let mut replayer = Replayer::new(policy)?;
    let mut s = Summary::default();
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        scope.spawn(move || read_batches(input, tx));
        let mut n: u64 = 0;
        // Dropping `rx` on an early return stops the reader.
        for batch in rx {
            let batch = batch.map_err(|e| anyhow::anyhow!(e))?;
            for parsed in batch {
                n += 1;
                s.lines = n;
                if n.is_multiple_of(10_000) {
                    progress(n);
                }
                let (now, event) = match parsed {
                    Parsed::Blank => continue,
                    Parsed::Event(now, event) => (now, event),
                    Parsed::Malformed(why) => {
                        s.malformed_lines += 1;
                        if strict {
                            anyhow::bail!("line {n}: {why} (stopping: --strict)");
                        }
                        eprintln!("line {n}: {why}; skipped");
                        match format {
                            OutputFormat::Json => {
                                writeln!(out, "{}", json!({"line": n, "error": why}))?
                            }
                            OutputFormat::Text => writeln!(out, "line {n}: error {why}")?,
                        }
                        continue;
                    }
                };
                let phone = report.as_ref().and_then(|_| {
                    event
                        .pointer("/request/userAttributes/phone_number")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
                let o = replayer.step(now, event);
                if let Some(r) = report.as_deref_mut() {
                    r.add(now, &o, phone.as_deref());
                }
                if o.judged {
                    s.add_spend(o.cost_micro_usd, o.sent());
                    let country = o.country.as_ref().map_or("unknown", |c| c.as_str());
                    bump(&mut s.by_country, country);
                }
                bump(&mut s.by_verdict, o.verdict);
                for r in &o.reasons {
                    bump(&mut s.by_reason, r);
                }
                match format {
                    OutputFormat::Json => {
                        serde_json::to_writer(
                            &mut out,
                            &Verdicts {
                                line: n,
                                verdict: o.verdict,
                                reasons: o.reasons,
                            },
                        )?;
                        out.write_all(b"\n")?;
                    }
                    OutputFormat::Text => {
                        writeln!(out, "line {n}: {} {}", o.verdict, o.reasons.join(","))?
                    }
                }
            }
        }
        Ok(())
    })?;
    out.flush()?;
    Ok(s)
}

fn bump(map: &mut BTreeMap<String, u64>, key: &str) {
    match map.get_mut(key) {
        Some(v) => *v += 1,
        None => {
            map.insert(key.to_string(), 1);
        }
    }
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
