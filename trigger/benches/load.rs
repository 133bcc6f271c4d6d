//! A burst of 10,000 decisions against DynamoDB in moto: exact counters and
//! limits, no store error (checked as in `tests/it/load.rs`, which runs 500 in
//! the suite), every decision within its deadline (checked here only), and
//! the figures for
//! `BENCHMARKS.md`. A bench command, not a criterion run: it needs moto.
//!
//! ```sh
//! .venv/bin/python scripts/moto_server.py 127.0.0.1 5055 &
//! PUMPGUARD_TEST_MOTO=http://127.0.0.1:5055 cargo bench -p pumpguard-trigger --bench load
//! ```
//!
//! `PUMPGUARD_LOAD_DECISIONS` (10000) and `PUMPGUARD_LOAD_CONCURRENCY` (10:
//! decisions in flight at once, as on that many Lambda instances) change the
//! burst.

#![allow(clippy::panic, clippy::unwrap_used)]

#[path = "../tests/it/common/mod.rs"]
mod common;

fn env_usize(key: &str, default: usize) -> usize {
    std::env::var(key)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    if std::env::var("PUMPGUARD_TEST_MOTO").is_err() {
        eprintln!("set PUMPGUARD_TEST_MOTO to a moto server (see the file's header)");
        std::process::exit(2);
    }
    let decisions = env_usize("PUMPGUARD_LOAD_DECISIONS", 10_000);
    let concurrency = env_usize("PUMPGUARD_LOAD_CONCURRENCY", 10);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let r = rt.block_on(async {
        let client = common::dynamo_at(&common::moto_endpoint());
        let table = common::fresh_table(&client, "load").await;
        common::load::run(client, &table, decisions, concurrency).await
    });
    let secs = r.wall.as_secs_f64();
    println!(
        "burst: {} decisions, {} in flight at a time, one injected time",
        r.decisions, r.concurrency
    );
    println!(
        "wall time: {:.1} s ({:.0} decisions/s; {} reached the table: 4 requests each, \
         12 for those the cooldown and user limits let go)",
        secs,
        r.decisions as f64 / secs,
        r.reached_store
    );
    println!(
        "latency per decision: p50 {:?}, p90 {:?}, p99 {:?}, max {:?} (deadline {:?})",
        r.percentile(0.5),
        r.percentile(0.9),
        r.percentile(0.99),
        r.latencies.last().unwrap(),
        r.deadline
    );
    let late = r.latencies.iter().filter(|l| **l > r.deadline).count();
    println!(
        "timed out (store stalled past state.timeout-ms, answered SMS_UNAVAILABLE): {}; \
         past the deadline: {late}",
        r.timed_out
    );
    // The deadline is the bench's check (the test suite asserts counts only).
    assert_eq!(late, 0, "{late} decisions finished past their deadline");
    println!("verdicts: {:?}", r.by_verdict);
    println!("reasons: {:?}", r.by_reason);
    println!(
        "checked: {} table items against the decisions that reached them (exact where no \
         decision touching the item timed out); every limit's findings against its count; \
         0 failed store calls; 0 panics",
        r.counters_checked
    );
}
