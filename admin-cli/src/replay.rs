//! `pumpguard replay`: the trigger, on recorded traffic, offline.
//!
//! Input is JSON Lines in time order, each line one of:
//!
//! - a raw event: `{"at": "<RFC 3339>", "event": <a Cognito trigger event as
//!   Lambda receives it>}`, judged by the trigger's own adapter
//!   (`pumpguard_trigger::trigger::handle_judged`);
//! - a record (`pumpguard_engine::features::Record`, `{"v": 1, "at": <Unix
//!   seconds>, "source": …, "number": {…}}`), as `pumpguard import` writes
//!   them, judged on its features (`handle_record`);
//! - a trigger log line carrying a record in its `record` field
//!   (`[trigger] record = true`): the record is replayed, and log lines
//!   without one (pass-throughs, configuration) are skipped.
//!
//! Everything runs on the embedded in-memory store, with the clock set from
//! `at`; verification events feed the stateful guards as they would in
//! production. Output is one JSON line per input line, in order; the summary
//! goes to stderr or a file.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};
use std::sync::Arc;

use pumpguard_engine::country::Country;
use pumpguard_engine::features::{Depths, Features, KeyedMemo, Record, RECORD_VERSION};
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::store::MemoryStore;
use pumpguard_engine::{Decision, Engine, Policy};
use pumpguard_trigger::trigger::{
    handle_judged, handle_prepared, handle_record, Prepared, Spent, TriggerContext, TriggerError,
};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

/// `at`: RFC 3339 in a raw event's line, Unix seconds in a record.
#[derive(Deserialize)]
#[serde(untagged)]
enum At {
    Text(String),
    Unix(i64),
}

/// Any input line: which fields it has says what it is.
#[derive(Deserialize)]
struct Line {
    at: Option<At>,
    event: Option<Value>,
    v: Option<u8>,
    source: Option<String>,
    #[serde(default)]
    user: Option<String>,
    #[serde(default)]
    verified: bool,
    number: Option<Features>,
    /// A trigger log line's record, as a JSON string.
    record: Option<String>,
    /// A log line's level: a trigger log line without a record is skipped.
    level: Option<serde::de::IgnoredAny>,
}

/// Totals of a replay.
#[derive(Debug, Default, Serialize)]
pub struct Summary {
    pub lines: u64,
    pub malformed_lines: u64,
    /// Trigger log lines without a record (pass-throughs, configuration).
    #[serde(skip_serializing_if = "is_zero")]
    pub skipped_lines: u64,
    /// Lines replayed from records rather than raw events.
    #[serde(skip_serializing_if = "is_zero")]
    pub record_lines: u64,
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

/// The trigger's answer to a prepared event and what it is done with
/// ([`Replayer::step_prepared`]): only dropped.
#[derive(Debug)]
pub struct Leftover {
    _answer: Option<Value>,
    _spent: Spent,
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
    /// The number's block, as the report names it, when one was asked for.
    pub block: Option<String>,
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
        self.step_with(now, event, false)
    }

    /// [`Replayer::step`], naming the number's block in the outcome when
    /// `block` is set (for the report).
    pub fn step_with(&mut self, now: i64, event: Value, block: bool) -> Outcome {
        self.store.expire(now);
        let block = block.then(|| self.block_of(&event)).flatten();
        let (result, decision) =
            self.rt
                .block_on(handle_judged(&self.engine, &self.ctx, event, now));
        self.outcome(result.map(drop), decision, block)
    }

    /// Works out what [`Replayer::step_prepared`] is given for an event
    /// beforehand, on any thread.
    pub fn preparer(&self) -> impl FnMut(Value) -> Prepared + Send + 'static {
        let mut memo = KeyedMemo::new(
            Arc::clone(self.engine.policy()),
            self.ctx.store_keys.clone(),
            self.ctx.records(&self.engine),
        );
        move |event| Prepared::of_memo(&mut memo, event)
    }

    /// [`Replayer::step_with`] on an event prepared beforehand
    /// ([`Replayer::preparer`]): the same outcome. The trigger's answer and
    /// what it is done with are handed back, for the caller to drop where
    /// it costs the least.
    pub fn step_prepared(
        &mut self,
        now: i64,
        prepared: Prepared,
        block: bool,
    ) -> (Outcome, Leftover) {
        self.store.expire(now);
        let block = block.then(|| self.block_of(prepared.event())).flatten();
        // Pinned where it is made: the decision's future is some 3.5 KB,
        // which `block_on` would otherwise copy for each event.
        let future = std::pin::pin!(handle_prepared(&self.engine, &self.ctx, prepared, now));
        let (result, decision, spent) = self.rt.block_on(future);
        let (result, answer) = match result {
            Ok(answer) => (Ok(()), Some(answer)),
            Err(e) => (Err(e), None),
        };
        (
            self.outcome(result, decision, block),
            Leftover {
                _answer: answer,
                _spent: spent,
            },
        )
    }

    /// The block of `event`'s number, as the report names it.
    fn block_of(&self, event: &Value) -> Option<String> {
        let phone = event
            .pointer("/request/userAttributes/phone_number")
            .and_then(Value::as_str)?;
        let depths = Depths {
            prefix: Vec::new(),
            blocks: self.engine.policy().cohorts.prefix_hidden_digits.clone(),
        };
        let f = Features::of(
            phone,
            self.engine.policy(),
            Some((&self.ctx.store_keys, &depths)),
        );
        crate::replay_report::block_label(&f.blocks)
    }

    /// Judges one record. The record must have what the policy's guards
    /// need ([`Features::missing_for`]); [`replay_with`] checks.
    pub fn step_record(&mut self, r: &Record, block: bool) -> Outcome {
        self.store.expire(r.at);
        let future = std::pin::pin!(handle_record(&self.engine, &self.ctx, r));
        let (result, decision) = self.rt.block_on(future);
        let block = block
            .then(|| crate::replay_report::block_label(&r.number.blocks))
            .flatten();
        self.outcome(result, decision, block)
    }

    fn outcome(
        &self,
        result: Result<(), TriggerError>,
        decision: Option<Decision>,
        block: Option<String>,
    ) -> Outcome {
        match (&result, decision) {
            (_, Some(d)) => Outcome {
                verdict: d.verdict.as_str(),
                reasons: d.reasons(),
                judged: true,
                country: d.country,
                cost_micro_usd: self.engine.policy().budget.prices.micro_usd(d.country),
                block,
            },
            (Ok(_), None) => Outcome {
                verdict: "pass",
                reasons: Vec::new(),
                judged: false,
                country: None,
                cost_micro_usd: 0,
                block: None,
            },
            // The trigger refused the event itself (malformed, unknown source blocked).
            (Err(e), None) => Outcome {
                verdict: "block",
                reasons: vec![e.message.split(':').next().unwrap_or("ERROR").to_string()],
                judged: false,
                country: None,
                cost_micro_usd: 0,
                block: None,
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
        serde_json::error::Category::Data => "a field of the wrong type",
    };
    format!("{what} at line {} column {}", e.line(), e.column())
}

/// One input line, parsed off the engine's thread.
enum Parsed {
    Blank,
    /// An event, prepared for the trigger ([`Replayer::preparer`]).
    Event(i64, Box<Prepared>),
    Record(Box<Record>),
    /// A trigger log line without a record.
    LogLine,
    Malformed(String),
}

/// What is wrong with a record's version `v`, if anything.
fn version_problem(v: Option<u8>) -> Option<String> {
    (v != Some(RECORD_VERSION)).then(|| {
        format!(
            "a record of version {} (this build reads version {RECORD_VERSION})",
            v.map_or("none".to_string(), |v| v.to_string())
        )
    })
}

fn parse_record(text: &str) -> Result<Record, String> {
    let r: Record = serde_json::from_str(text)
        .map_err(|e| format!("a record that does not parse ({})", json_problem(&e)))?;
    match version_problem(Some(r.v)) {
        Some(why) => Err(why),
        None => Ok(r),
    }
}

fn parse_line(text: &str, prepare: impl FnOnce(Value) -> Prepared) -> Parsed {
    if text.trim().is_empty() {
        return Parsed::Blank;
    }
    // No message quotes the line: recorded events hold phone numbers.
    let line = match serde_json::from_str::<Line>(text) {
        Ok(l) => l,
        Err(e) => {
            return Parsed::Malformed(format!(
                "not a {{\"at\", \"event\"}} object, a record or a trigger log line ({})",
                json_problem(&e)
            ))
        }
    };
    match line {
        Line {
            event: Some(event),
            at: Some(At::Text(at)),
            ..
        } => match time::OffsetDateTime::parse(&at, &time::format_description::well_known::Rfc3339)
        {
            Ok(t) => Parsed::Event(t.unix_timestamp(), Box::new(prepare(event))),
            Err(_) => Parsed::Malformed("\"at\" is not an RFC 3339 time".into()),
        },
        Line { event: Some(_), .. } => {
            Parsed::Malformed("an event without \"at\", an RFC 3339 time".into())
        }
        Line {
            number: Some(number),
            at: Some(At::Unix(at)),
            source: Some(source),
            v,
            user,
            verified,
            ..
        } => {
            if let Some(why) = version_problem(v) {
                return Parsed::Malformed(why);
            }
            Parsed::Record(Box::new(Record {
                v: RECORD_VERSION,
                at,
                source,
                user,
                verified,
                number,
            }))
        }
        Line {
            record: Some(r), ..
        } => match parse_record(&r) {
            Ok(r) => Parsed::Record(Box::new(r)),
            Err(why) => Parsed::Malformed(why),
        },
        Line { level: Some(_), .. } => Parsed::LogLine,
        _ => Parsed::Malformed(
            "not a {\"at\", \"event\"} object, a record or a trigger log line".into(),
        ),
    }
}

/// Lines handed from the reader thread to the engine at a time. Small, so
/// that what is in flight between the threads (up to six batches of
/// prepared events and answers, a few kilobytes each) stays in the shared
/// cache: batches of 2,048 held some 60 MB more at the peak, for no
/// measurable gain in speed.
const BATCH: usize = 128;

/// Reads and parses `input` on its own thread, in batches, and works out
/// each event's number features there (`prepare`), so that JSON parsing and
/// the phone's classification and hashing overlap the engine's stateful
/// work; stops early when the receiver hangs up.
fn read_batches(
    mut input: impl BufRead,
    tx: std::sync::mpsc::SyncSender<Result<Vec<Parsed>, String>>,
    mut prepare: impl FnMut(Value) -> Prepared,
    spent: std::sync::mpsc::Receiver<Vec<Leftover>>,
) {
    let mut batch = Vec::with_capacity(BATCH);
    // One buffer for every line, as `BufRead::lines` splits them (a
    // trailing `\n` or `\r\n` removed), without a new string for each.
    let mut text = String::new();
    for i in 1_u64.. {
        text.clear();
        match input.read_line(&mut text) {
            Ok(0) => break,
            Ok(_) => {
                let line = match text.strip_suffix('\n') {
                    Some(l) => l.strip_suffix('\r').unwrap_or(l),
                    None => &text,
                };
                batch.push(parse_line(line, &mut prepare));
            }
            Err(e) => {
                let _ = tx.send(Ok(std::mem::take(&mut batch)));
                let _ = tx.send(Err(format!("cannot read line {i}: {e}")));
                return;
            }
        }
        if batch.len() == BATCH {
            // The trigger's answers to earlier batches and what it was done
            // with, dropped here, where they were made, rather than on the
            // engine's thread.
            spent.try_iter().for_each(drop);
            if tx
                .send(Ok(std::mem::replace(&mut batch, Vec::with_capacity(BATCH))))
                .is_err()
            {
                return;
            }
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
    let needs = Depths::needed(policy);
    std::thread::scope(|scope| -> anyhow::Result<()> {
        let (tx, rx) = std::sync::mpsc::sync_channel(4);
        let prepare = replayer.preparer();
        let (spent_tx, spent_rx) = std::sync::mpsc::channel();
        scope.spawn(move || read_batches(input, tx, prepare, spent_rx));
        let mut n: u64 = 0;
        // Dropping `rx` on an early return stops the reader.
        for batch in rx {
            let batch = batch.map_err(|e| anyhow::anyhow!(e))?;
            let mut answers = Vec::with_capacity(batch.len());
            for parsed in batch {
                n += 1;
                s.lines = n;
                if n.is_multiple_of(10_000) {
                    progress(n);
                }
                let o = match parsed {
                    Parsed::Blank => continue,
                    Parsed::LogLine => {
                        s.skipped_lines += 1;
                        continue;
                    }
                    Parsed::Event(now, prepared) => {
                        let (o, leftover) =
                            replayer.step_prepared(now, *prepared, report.is_some());
                        answers.push(leftover);
                        (now, o)
                    }
                    Parsed::Record(r) => {
                        if let Some(missing) = r.number.missing(&needs) {
                            anyhow::bail!(
                                "line {n}: the record was written for other prefix depths than \
                                 this policy's ({missing} is not in it); a record answers changes \
                                 to limits, modes and countries, but changing a prefix depth needs \
                                 the raw events"
                            );
                        }
                        s.record_lines += 1;
                        (r.at, replayer.step_record(&r, report.is_some()))
                    }
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
                let (now, o) = o;
                if let Some(r) = report.as_deref_mut() {
                    r.add(now, &o, o.block.as_deref());
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
            // The reader drops them; it may have stopped already.
            let _ = spent_tx.send(answers);
        }
        Ok(())
    })?;
    out.flush()?;
    Ok(s)
}

fn is_zero(n: &u64) -> bool {
    *n == 0
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
        if self.record_lines > 0 {
            writeln!(f, "  replayed from records: {}", self.record_lines)?;
        }
        if self.skipped_lines > 0 {
            writeln!(
                f,
                "  log lines without a record (skipped): {}",
                self.skipped_lines
            )?;
        }
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
