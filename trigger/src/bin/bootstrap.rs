//! The Lambda `bootstrap`: wires the guard engine to the Lambda runtime.
//!
//! Configuration (environment):
//! - `PUMPGUARD_POLICY` / `PUMPGUARD_POLICY_FILE`: the bootstrap policy
//!   (default: `policy.toml` beside this binary, else the built-in baseline).
//! - `PUMPGUARD_TABLE`: the DynamoDB table holding the published policy and
//!   the stateful guards' counters. Without it, state lives in this instance's
//!   memory only (not shared: for trials, never production).
//! - `PUMPGUARD_POLICY_REFRESH_SECONDS` (30) and `PUMPGUARD_POLICY_FETCH_TIMEOUT_MS` (200):
//!   how often a decision re-reads the published policy, and its budget for
//!   it. A failed read is tried again 3 s later, not an interval later.
//! - `PUMPGUARD_INIT_BUDGET_MS` (3000): the init phase's budget for opening
//!   the table's connections and reading the published policy.
//! - `PUMPGUARD_PHONE_HASH_KEY`: key (≥ 16 bytes) for the phone hashes in logs
//!   and in the table's keys.
//! - `RUST_LOG`: log filter (default `info`); the runtime's per-error line
//!   and its raw-event trace stay off whatever it says ([`pumpguard_trigger::logs`]).
//!
//! Init (where Lambda gives the function the whole CPU, before the first
//! event) loads the phone metadata, opens the table's connections and reads
//! the published policy, so the first decision of a new instance, which an
//! attack's scale-out makes common, runs with its guards and its policy.
//! A store still unreachable after init is warmed again in the background
//! after each decision that met a store error, never inside a decision.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{service_fn, Error, LambdaEvent};
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::published::{bootstrap_policy, PolicyCache, Refresh};
use pumpguard_engine::store::MemoryStore;
use pumpguard_trigger::dynamo::DynamoStore;
use pumpguard_trigger::published::DynamoPolicyStore;
use pumpguard_trigger::runtime::{env, unix_now, AnyStore};
use pumpguard_trigger::trigger::{handle, MetricsSink, TriggerContext, TriggerError};
use serde_json::Value;
use tokio::sync::Mutex;

fn env_u64(key: &str, default: u64, max: u64) -> u64 {
    env(key)
        .and_then(|v| v.parse().ok())
        .map_or(default, |v: u64| v.clamp(1, max))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::subscriber::set_global_default(pumpguard_trigger::logs::subscriber(
        env("RUST_LOG").as_deref(),
        std::io::stdout,
    ))?;

    let (log_hasher, store_keys) =
        match env("PUMPGUARD_PHONE_HASH_KEY").and_then(|k| PhoneHasher::new(k.as_bytes())) {
            Some(h) => (h.clone(), h),
            None => {
                tracing::warn!(
                    target: "pumpguard::config",
                    "PUMPGUARD_PHONE_HASH_KEY is unset or shorter than 16 bytes; phone hashes \
                     in logs use a per-instance key, and table keys a public one"
                );
                (PhoneHasher::ephemeral(), PhoneHasher::unkeyed())
            }
        };

    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()));
    let boot = bootstrap_policy(env, exe_dir.as_deref());
    if let Some(error) = &boot.error {
        tracing::error!(
            target: "pumpguard::policy",
            error = %error,
            "bootstrap policy unusable; the built-in baseline is in use"
        );
    }
    tracing::info!(
        target: "pumpguard::policy",
        origin = %boot.origin,
        digest = %boot.policy.digest,
        "bootstrap policy loaded"
    );
    // Decode the phone metadata now, not in the first user's request (a
    // region's patterns compile when its first number is judged).
    pumpguard_engine::phone::warm_up();
    let init_budget = Duration::from_millis(env_u64("PUMPGUARD_INIT_BUDGET_MS", 3000, 8000));

    let (policy_store, state_store, warmer) = match env("PUMPGUARD_TABLE") {
        Some(table) => {
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .load()
                .await;
            let store = DynamoStore::for_lambda(&config, table.clone());
            // Connections first, then the policy read, which reuses one.
            match store
                .warm(
                    pumpguard_trigger::dynamo::CONNECTIONS_PER_DECISION,
                    init_budget,
                )
                .await
            {
                Ok(()) => {
                    tracing::info!(target: "pumpguard::store", "table connections open")
                }
                Err(e) => tracing::warn!(
                    target: "pumpguard::store",
                    error = %e,
                    "could not open the table's connections during init; retrying in the \
                     background, decisions follow on-store-error meanwhile"
                ),
            }
            (
                Some(DynamoPolicyStore::new(store.client().clone(), table)),
                AnyStore::Dynamo(store.clone()),
                Some(Warmer::new(store)),
            )
        }
        None => {
            tracing::warn!(
                target: "pumpguard::config",
                "PUMPGUARD_TABLE is unset: cooldowns and limits are counted in this instance's \
                 memory only, and policy changes need a redeploy"
            );
            (None, AnyStore::Memory(MemoryStore::new()), None)
        }
    };
    let ctx = Arc::new(
        TriggerContext::new(state_store, log_hasher, store_keys)
            .with_metrics(MetricsSink::Stdout)
            .with_function_name(env("AWS_LAMBDA_FUNCTION_NAME")),
    );
    let mut cache = PolicyCache::new(
        boot.policy,
        policy_store,
        Duration::from_secs(env_u64("PUMPGUARD_POLICY_REFRESH_SECONDS", 30, 300)),
        Duration::from_millis(env_u64("PUMPGUARD_POLICY_FETCH_TIMEOUT_MS", 200, 1000)),
    );
    let now = unix_now();
    let loaded = cache.load_now(now, init_budget).await;
    report_refresh(&ctx, &loaded, now);
    let cache = Arc::new(Mutex::new(cache));

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let cache = cache.clone();
        let ctx = ctx.clone();
        let warmer = warmer.clone();
        async move {
            let now = unix_now();
            let engine = {
                let mut cache = cache.lock().await;
                let refreshed = cache.refresh(now).await;
                report_refresh(&ctx, &refreshed, now);
                cache.current()
            };
            let unix = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
            let errors_before = ctx.store_errors();
            let answer = handle(&engine, &ctx, event.payload, unix).await;
            if ctx.store_errors() > errors_before {
                if let Some(w) = &warmer {
                    w.kick();
                }
            }
            answer.map_err(|e: TriggerError| e)
        }
    }))
    .await
}

/// A failed or rejected read of the published policy is a metric (and an
/// alarm in the stack): until it succeeds, a newer policy is not in force.
fn report_refresh<S>(ctx: &TriggerContext<S>, r: &Refresh, now: Duration) {
    if matches!(r, Refresh::Failed { .. } | Refresh::Rejected { .. }) {
        ctx.emit_policy_fetch_failed(i64::try_from(now.as_secs()).unwrap_or(i64::MAX));
    }
}

/// Re-opens the table's connections in the background after a decision met
/// a store error, one warm-up at a time, so the next decisions find a
/// connection without paying for it inside their budget.
#[derive(Debug, Clone)]
struct Warmer {
    store: DynamoStore,
    running: Arc<AtomicBool>,
}

impl Warmer {
    fn new(store: DynamoStore) -> Self {
        Self {
            store,
            running: Arc::new(AtomicBool::new(false)),
        }
    }

    fn kick(&self) {
        if self.running.swap(true, Ordering::AcqRel) {
            return;
        }
        let this = self.clone();
        tokio::spawn(async move {
            let r = this
                .store
                .warm(
                    pumpguard_trigger::dynamo::CONNECTIONS_PER_DECISION,
                    Duration::from_secs(3),
                )
                .await;
            if let Err(e) = r {
                tracing::warn!(target: "pumpguard::store", error = %e, "background warm-up failed");
            }
            this.running.store(false, Ordering::Release);
        });
    }
}
