//! A burst of decisions against DynamoDB (moto), shared by the load test
//! (`tests/load.rs`, 500 decisions in the suite) and the load bench
//! (`benches/load.rs`, 10,000).
//!
//! Every decision is submitted at once, at one injected time (a burst inside
//! one second); `concurrency` of them are in flight at any moment, as on that
//! many Lambda instances. After the burst, every counter in the table is
//! compared with what the decisions say reached it (no lost update; the
//! shared counters only see attempts the cooldown and user limits let go), and the
//! findings with what an exact count implies (with a limit of K and A
//! attempts, exactly A − K findings; bounds instead, for the items a
//! timed-out decision touched), and the figures (latencies, decisions past
//! their deadline) are returned for `BENCHMARKS.md`, never asserted: the
//! suite must pass on a busy machine.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::StreamExt;
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::stateful::{judge, Subject};
use pumpguard_engine::store::{Op, OpResult, Store, StoreError};
use pumpguard_engine::{Decision, Engine, Policy, TriggerSource, Verdict};
use pumpguard_trigger::dynamo::DynamoStore;

/// 2026-11-22 00:30:00 UTC: mid-hour, so the burst stays in one minute and hour.
pub const NOW: i64 = 1_795_262_400 + 1800;
/// How late a decision may finish past `state.timeout-ms`.
pub const MARGIN: Duration = Duration::from_millis(500);
const TIMEOUT_MS: u64 = 3000;
const MAX_SENDS_PER_HOUR: usize = 10;
const PREFIX_MAX: usize = 20;

/// The table, with every failed call kept for the report.
#[derive(Debug)]
struct Recording {
    inner: DynamoStore,
    errors: std::sync::Mutex<Vec<String>>,
}

impl Store for Recording {
    async fn execute(&self, op: Op) -> Result<OpResult, StoreError> {
        let r = self.inner.execute(op).await;
        if let Err(e) = &r {
            self.errors.lock().unwrap().push(e.to_string());
        }
        r
    }

    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }
}

/// What a burst measured.
#[derive(Debug)]
pub struct Report {
    pub decisions: usize,
    pub concurrency: usize,
    pub wall: Duration,
    /// Per-decision latencies, sorted.
    pub latencies: Vec<Duration>,
    pub deadline: Duration,
    pub by_verdict: BTreeMap<String, usize>,
    pub by_reason: BTreeMap<String, usize>,
    pub reached_store: usize,
    /// Decisions whose stateful phase outlived `state.timeout-ms` (the store
    /// stalled): they answered SMS_UNAVAILABLE (fail-closed).
    pub timed_out: usize,
    pub counters_checked: usize,
}

/// Attempts that reached one counter.
#[derive(Debug, Default)]
struct Tally {
    /// Attempts whose decision completed.
    clean: usize,
    /// Attempts whose decision timed out: applied or not.
    uncertain: usize,
    /// Clean attempts with the limit's finding.
    findings: usize,
    /// Clean attempts whose SMS went out (not blocked by any guard).
    sent: usize,
}

impl Tally {
    fn add(&mut self, uncertain: bool, finding: bool) {
        self.add_sent(uncertain, finding, false);
    }

    fn add_sent(&mut self, uncertain: bool, finding: bool, sent: bool) {
        if uncertain {
            self.uncertain += 1;
        } else {
            self.clean += 1;
            self.findings += usize::from(finding);
            self.sent += usize::from(sent);
        }
    }

    /// A shared counter (prefix, country, pool): a refused attempt gives
    /// its add back, so the table holds the SMS that went out, and no more
    /// than the limit of them went out.
    fn check_shared(&self, what: &str, value: u64, limit: Option<usize>) {
        let value = usize::try_from(value).unwrap();
        assert!(
            self.sent <= value && value <= self.sent + self.uncertain,
            "{what}: counter {value}, {} SMS sent and {} attempts timed out",
            self.sent,
            self.uncertain
        );
        if let Some(k) = limit {
            assert!(
                self.sent <= k,
                "{what}: {} sent over a limit of {k}",
                self.sent
            );
            assert!(
                self.findings <= self.clean - self.sent,
                "{what}: {} findings among {} refused",
                self.findings,
                self.clean - self.sent
            );
        }
    }

    /// The table's value for this counter, and the findings against `limit`.
    fn check(&self, what: &str, value: u64, limit: Option<usize>) {
        let value = usize::try_from(value).unwrap();
        assert!(
            self.clean <= value && value <= self.clean + self.uncertain,
            "{what}: counter {value}, {} attempts completed and {} timed out",
            self.clean,
            self.uncertain
        );
        if let Some(k) = limit {
            // Each clean attempt read back a distinct count in 1..=value.
            let (low, high) = (self.clean.saturating_sub(k), value.saturating_sub(k));
            assert!(
                low <= self.findings && self.findings <= high,
                "{what}: {} findings, expected {low}..={high}",
                self.findings
            );
        }
    }
}

impl Report {
    pub fn percentile(&self, q: f64) -> Duration {
        let i = ((self.latencies.len() as f64 - 1.0) * q).round() as usize;
        self.latencies[i]
    }
}

/// The policy of the burst: every stateful guard enforced, with limits that
/// bind for a share of the traffic, and `fail-closed`, so that any store
/// failure shows up as a block.
pub fn policy(decisions: usize) -> Policy {
    let pool_minute = decisions / 3;
    let hourly_floor = (decisions / 5).max(1);
    let daily_floor = (decisions / 4).max(hourly_floor);
    let text = format!(
        "[state]\ntimeout-ms = {TIMEOUT_MS}\non-store-error = \"fail-closed\"\n\
         [countries]\nallow = [\"US\", \"CA\", \"GB\"]\ncrown-dependencies = \"separate\"\n\
         [cooldown]\nladder-seconds = [60, 60, 300]\nreset-after-seconds = 600\n\
         [user-limits]\nmax-phones-per-day = 3\nmax-sends-per-hour = {MAX_SENDS_PER_HOUR}\n\
         [prefix-velocity]\nhidden-digits = 3\nwindow-seconds = 3600\nmax-sends = {PREFIX_MAX}\n\
         [country-velocity]\nhourly-floor = {hourly_floor}\ndaily-floor = {daily_floor}\n\
         conversion-mode = \"off\"\n\
         [pool-rate]\nmode = \"enforce\"\nmax-per-minute = {pool_minute}\nmax-per-hour = 1000000\n\
         [budget]\nmode = \"enforce\"\ndaily-usd = 1000000.0\nmonthly-usd = 10000000.0\n\
         [known-numbers]\nmode = \"off\"\n[cohorts]\nmode = \"off\"\n"
    );
    Policy::parse(&text, "load").unwrap_or_else(|e| panic!("{e}"))
}

/// Decision `i`'s phone. Decisions come in pairs (two simultaneous requests
/// for one phone); one pair in ten is for a number the static guards block
/// (Jamaica, premium rate), the others for US, CA and GB numbers.
pub fn phone(i: usize) -> String {
    let v = i / 2;
    if statically_blocked(i) {
        return if v % 20 == 9 {
            format!("+1876210{:04}", v % 10_000)
        } else {
            format!("+1900457{:04}", v % 10_000)
        };
    }
    let n = (v / 10) % 1000;
    match v % 10 {
        0..=5 => {
            let area = [201, 415, 646, 312, 617, 206, 512][v % 7];
            format!("+1{area}5550{n:03}")
        }
        6 | 7 => {
            let area = [416, 604][v % 2];
            format!("+1{area}5550{n:03}")
        }
        _ => format!("+447400{n:03}900"),
    }
}

/// Whether decision `i` is for a number the static guards block.
pub fn statically_blocked(i: usize) -> bool {
    (i / 2) % 10 == 9
}

/// Decision `i`'s user: two phones (four requests) each, and one heavy
/// user with a pair in 25, so that the user limits bind for part of the
/// burst while most requests reach the shared counters.
fn user(i: usize, _decisions: usize) -> String {
    let v = i / 2;
    if v.is_multiple_of(25) {
        "load-user-heavy".to_string()
    } else {
        format!("load-user-{}", v / 2)
    }
}

/// Runs the burst and checks it; panics on any violation.
pub async fn run(
    client: aws_sdk_dynamodb::Client,
    table: &str,
    decisions: usize,
    concurrency: usize,
) -> Report {
    let engine = Arc::new(Engine::new(Arc::new(policy(decisions))));
    let store = Arc::new(Recording {
        inner: DynamoStore::new(client.clone(), table),
        errors: std::sync::Mutex::new(Vec::new()),
    });
    let keys = PhoneHasher::new(b"load-key-0123456789").unwrap();
    let deadline = Duration::from_millis(TIMEOUT_MS) + MARGIN;
    // libphonenumber's metadata, loaded in the Lambda's init phase.
    let _ = pumpguard_engine::phone::classify("+14155552671");

    // The workload is what it says: the numbers meant to pass the static
    // guards do, the others do not.
    let wrong: Vec<String> = (0..decisions)
        .filter(|&i| {
            let blocked = engine.decide(TriggerSource::SignUp, &phone(i)).verdict == Verdict::Block;
            blocked != statically_blocked(i)
        })
        .map(phone)
        .collect();
    assert!(
        wrong.is_empty(),
        "numbers misclassified by the workload: {wrong:?}"
    );

    let started = Instant::now();
    let results: Vec<(usize, Decision, Duration)> = futures_util::stream::iter(0..decisions)
        .map(|i| {
            let (engine, store, keys) = (engine.clone(), store.clone(), keys.clone());
            async move {
                let (phone, user) = (phone(i), user(i, decisions));
                let t = Instant::now();
                let d = judge(
                    &engine,
                    &*store,
                    &keys,
                    Subject {
                        source: TriggerSource::SignUp,
                        phone: &phone,
                        user: Some(&user),
                        now: NOW,
                    },
                )
                .await;
                (i, d, t.elapsed())
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let wall = started.elapsed();
    let errors = store.errors.lock().unwrap().clone();
    assert!(
        errors.is_empty(),
        "{} store errors under load, e.g. {:?}",
        errors.len(),
        &errors[..errors.len().min(3)]
    );

    let mut by_verdict = BTreeMap::new();
    let mut by_reason = BTreeMap::new();
    let mut latencies = Vec::with_capacity(decisions);
    // What reached each counter, from the static decisions (pure, no store).
    // A decision whose stateful phase timed out (the store stalled past
    // `state.timeout-ms`) is "uncertain": its updates may or may not have
    // been applied. Every other one is "clean".
    let mut timed_out = 0usize;
    let mut reached_store = 0usize;
    let mut reached = Tally::default();
    let mut per_phone: BTreeMap<String, Tally> = BTreeMap::new();
    let mut per_user: BTreeMap<String, (Tally, std::collections::BTreeSet<String>)> =
        BTreeMap::new();
    let mut per_prefix: BTreeMap<String, Tally> = BTreeMap::new();
    let mut per_country: BTreeMap<String, Tally> = BTreeMap::new();
    let mut spend = (0u64, 0u64);
    let prices = &engine.policy().budget.prices;
    for (i, d, latency) in &results {
        // Latency is reported (the bench prints it), never asserted: a test
        // must not depend on how busy the machine is.
        latencies.push(*latency);
        *by_verdict.entry(d.verdict.to_string()).or_default() += 1;
        let reasons = d.reasons();
        for r in &reasons {
            *by_reason.entry(r.clone()).or_default() += 1;
        }
        let has = |code: &str| reasons.iter().any(|r| r == code);
        let phone = phone(*i);
        if statically_blocked(*i) {
            assert_eq!(d.verdict, Verdict::Block);
            assert!(!d.store_error, "a static block never reaches the store");
            continue;
        }
        if d.store_error {
            // Only a timeout can get here (a failed call is asserted above):
            // fail-closed answers SMS_UNAVAILABLE.
            timed_out += 1;
            assert_eq!(d.verdict, Verdict::Block);
            assert_eq!(d.reasons(), ["STORE_UNAVAILABLE"], "decision {i}");
        }
        let uncertain = d.store_error;
        reached_store += 1;
        // The shared counters (prefix, country, pool, spend) are only asked
        // when the phone's cooldown and the user's limits let the SMS go.
        let shared = uncertain
            || !(has("COOLDOWN") || has("USER_SENDS_PER_HOUR") || has("USER_PHONES_PER_DAY"));
        per_phone
            .entry(phone.clone())
            .or_default()
            .add(uncertain, has("COOLDOWN"));
        let u = per_user.entry(user(*i, decisions)).or_default();
        u.0.add(uncertain, has("USER_SENDS_PER_HOUR"));
        u.1.insert(phone.clone());
        if !shared {
            continue;
        }
        let sent = d.verdict != Verdict::Block;
        reached.add_sent(uncertain, has("POOL_RATE_MINUTE"), sent);
        per_prefix
            .entry(phone[..phone.len() - 3].to_string())
            .or_default()
            .add_sent(uncertain, has("PREFIX_VELOCITY"), sent);
        let country = engine.decide(TriggerSource::SignUp, &phone).country;
        let code = country.map_or_else(|| "ZZ".to_string(), |c| c.to_string());
        per_country.entry(code).or_default().add_sent(
            uncertain,
            has("COUNTRY_VELOCITY_HOUR"),
            sent,
        );
        // The budget counts only what was sent: a refused SMS gives back.
        let cost = prices.micro_usd(country);
        if uncertain {
            spend.1 += cost;
        } else if d.verdict != Verdict::Block {
            spend.0 += cost;
        }
    }
    latencies.sort();

    // The per-subject counters hold what reached them (exactly, when no
    // decision touching the item timed out), and every limit's findings are
    // what exact counts imply: each clean attempt read back its own count,
    // so with a limit of K, exactly max(A − K, 0) of A clean attempts saw
    // more than K. The shared counters hold the SMS that went out, never
    // more than their limit.
    let p = engine.policy();
    let (minute, hour, day) = (
        NOW.div_euclid(60),
        NOW.div_euclid(3600),
        NOW.div_euclid(86_400),
    );
    let mut checked = 0usize;
    let number = |item: &Option<std::collections::HashMap<String, AttributeValue>>, attr: &str| {
        item.as_ref()
            .and_then(|i| i.get(attr))
            .and_then(|v| v.as_n().ok())
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let get = |pk: String, sk: String| {
        let client = client.clone();
        async move {
            client
                .get_item()
                .table_name(table)
                .key("pk", AttributeValue::S(pk))
                .key("sk", AttributeValue::S(sk))
                .consistent_read(true)
                .send()
                .await
                .unwrap()
                .item
        }
    };
    let per_minute = usize::try_from(p.pool_rate.max_per_minute).unwrap();
    for sk in [format!("m{minute}"), format!("h{hour}")] {
        let value = number(&get("pool".into(), sk.clone()).await, "sends");
        reached.check_shared(&format!("pool {sk}"), value, None);
        checked += 1;
    }
    let minute_value = number(&get("pool".into(), format!("m{minute}")).await, "sends");
    reached.check_shared("pool minute limit", minute_value, Some(per_minute));
    for sk in [format!("d{day}"), format!("m{}", month(NOW))] {
        let value = number(&get("spend".into(), sk.clone()).await, "micro_usd");
        assert!(
            spend.0 <= value && value <= spend.0 + spend.1,
            "spend {sk}: {value} outside {spend:?}"
        );
        checked += 1;
    }
    let hourly = usize::try_from(p.country_velocity.hourly_floor).unwrap();
    for (country, tally) in &per_country {
        let pk = format!("country#{country}");
        let h = number(&get(pk.clone(), format!("h{hour}")).await, "sent");
        tally.check_shared(&format!("{country} hour"), h, Some(hourly));
        let d = number(&get(pk, format!("d{day}")).await, "sent");
        tally.check_shared(&format!("{country} day"), d, None);
        checked += 2;
    }
    for (prefix, tally) in &per_prefix {
        let item = get(
            format!("prefix#{}", keys.hash_text(prefix)),
            format!("w3600#{}", NOW.div_euclid(3600)),
        )
        .await;
        tally.check_shared("a prefix", number(&item, "sends"), Some(PREFIX_MAX));
        checked += 1;
    }
    for (user, (tally, phones)) in &per_user {
        let pk = format!("user#{}", keys.hash_text(user));
        let sends = get(pk.clone(), format!("sends#h{hour}")).await;
        tally.check(user, number(&sends, "sends"), Some(MAX_SENDS_PER_HOUR));
        let set = get(pk, format!("phones#d{day}")).await;
        let size = set
            .as_ref()
            .and_then(|i| i.get("phones"))
            .and_then(|v| v.as_ss().ok())
            .map_or(0, Vec::len);
        if tally.uncertain == 0 {
            assert_eq!(size, phones.len(), "{user} phones");
        } else {
            assert!(size <= phones.len(), "{user} phones");
        }
        checked += 2;
    }
    for (phone, tally) in &per_phone {
        let item = get(format!("phone#{}", keys.hash(phone)), "cooldown".into()).await;
        let state = (number(&item, "last_at"), number(&item, "level"));
        // One send per burst: one clean attempt passes the cooldown, the
        // others wait (with a timed-out attempt, at most one passes).
        if tally.uncertain == 0 {
            assert_eq!(tally.findings, tally.clean - 1, "one send per phone");
            assert_eq!(state, (NOW as u64, 1), "a cooldown item: one send");
        } else {
            assert!(
                tally.findings + 1 >= tally.clean,
                "at most one send per phone"
            );
            assert!(item.is_none() || state == (NOW as u64, 1));
        }
        checked += 1;
    }

    Report {
        decisions,
        concurrency,
        wall,
        latencies,
        deadline,
        by_verdict,
        by_reason,
        reached_store,
        timed_out,
        counters_checked: checked,
    }
}

fn month(now: i64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp(now).unwrap();
    format!("{:04}{:02}", t.year(), u8::from(t.month()))
}
