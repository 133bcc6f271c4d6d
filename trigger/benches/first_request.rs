//! The first decision of a new instance, after init, with the connection
//! setup (the TLS handshake on a cold Lambda) slowed by a proxy in front of
//! moto: its latency and whether its store calls made the budget, with and
//! without init's warm-up (`DynamoStore::warm`, as `bootstrap` does). The
//! example policy, `state.timeout-ms = 700`. A bench command: it needs moto.
//!
//! ```sh
//! .venv/bin/python scripts/moto_server.py 127.0.0.1 5055 &
//! PUMPGUARD_TEST_MOTO=http://127.0.0.1:5055 cargo bench -p pumpguard-trigger --bench first_request
//! ```

#![allow(clippy::panic, clippy::unwrap_used)]

#[path = "../tests/it/common/mod.rs"]
mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use common::proxy::{start, Faults};
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::stateful::{judge, Subject};
use pumpguard_engine::{Engine, Policy, TriggerSource};
use pumpguard_trigger::dynamo::CONNECTIONS_PER_DECISION;

const T: i64 = 1_795_262_400 + 1800;

fn main() {
    if std::env::var("PUMPGUARD_TEST_MOTO").is_err() {
        eprintln!("set PUMPGUARD_TEST_MOTO to a moto server (see the file's header)");
        std::process::exit(2);
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    common::warm_up();
    let engine = Engine::new(Arc::new(Policy::example()));
    let keys = PhoneHasher::new(b"bench-key-0123456789").unwrap();
    println!("| setup delay | on | init warm-up | init | first decision | store error | second SMS to the phone |");
    println!("|---|---|---|---|---|---|---|");
    rt.block_on(async {
        for every_connection in [false, true] {
            for setup_ms in [0u64, 200, 400, 800] {
                for warm in [true, false] {
                    let client = common::dynamo_at(&common::moto_endpoint());
                    let table = common::fresh_table(&client, "first").await;
                    let proxy = start(
                        &common::moto_endpoint(),
                        Faults {
                            setup: Duration::from_millis(setup_ms),
                            every_connection,
                            hold_answer: None,
                        },
                    )
                    .await;
                    let store = common::proxy::lambda_store(&proxy, &table).await;
                    let init = Instant::now();
                    if warm {
                        let _ = store
                            .warm(CONNECTIONS_PER_DECISION, Duration::from_secs(3))
                            .await;
                    }
                    let init = init.elapsed();
                    let subject = |now| Subject {
                        source: TriggerSource::SignUp,
                        phone: "+14155552671",
                        user: Some("u1"),
                        now,
                    };
                    let t = Instant::now();
                    let first = judge(&engine, &store, &keys, subject(T)).await;
                    let latency = t.elapsed();
                    let second = judge(&engine, &store, &keys, subject(T + 1)).await;
                    println!(
                        "| {setup_ms} ms | {} | {} | {:.0} ms | {:.1} ms | {} | {} |",
                        if every_connection {
                            "every connection"
                        } else {
                            "first connection"
                        },
                        if warm { "yes" } else { "no" },
                        init.as_secs_f64() * 1000.0,
                        latency.as_secs_f64() * 1000.0,
                        if first.store_error {
                            "yes (fail-open: allowed)"
                        } else {
                            "no"
                        },
                        if second.store_error {
                            "store error: allowed".to_string()
                        } else {
                            format!("{} {}", second.verdict, second.reasons().join(","))
                        },
                    );
                }
            }
        }
    });
}
