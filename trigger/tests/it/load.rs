//! A burst of 500 simultaneous decisions against DynamoDB (moto): exact
//! counters, exact limits, no store error. Counts and invariants only: how
//! fast the decisions were is the bench's figure, not an assertion. The
//! 10,000-decision version is the bench command
//! `cargo bench -p pumpguard-trigger --bench load` (see `BENCHMARKS.md`).

#![allow(clippy::panic, clippy::unwrap_used)]

use crate::common;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_500_decisions_keeps_every_count_exact() {
    let client = common::dynamo_at(&common::moto_endpoint());
    let table = common::fresh_table(&client, "load").await;
    let report = common::load::run(client, &table, 500, 16).await;
    assert_eq!(report.decisions, 500);
    assert_eq!(report.reached_store, 450);
    assert!(report.counters_checked > 250, "{}", report.counters_checked);
    // Every limit bound for part of the burst, so the exactness checks ran.
    for code in [
        "COOLDOWN",
        "POOL_RATE_MINUTE",
        "PREFIX_VELOCITY",
        "USER_SENDS_PER_HOUR",
        "COUNTRY_VELOCITY_HOUR",
    ] {
        assert!(
            report.by_reason.get(code).is_some_and(|&n| n > 0),
            "{code}: {report:?}"
        );
    }
}
