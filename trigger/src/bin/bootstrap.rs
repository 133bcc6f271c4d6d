//! The Lambda `bootstrap`: wires the guard engine to the Lambda runtime.
//!
//! Configuration (environment):
//! - `PUMPGUARD_POLICY` / `PUMPGUARD_POLICY_FILE`: the bootstrap policy
//!   (default: `policy.toml` beside this binary, else the built-in baseline).
//! - `PUMPGUARD_TABLE`: the DynamoDB table holding the published policy and
//!   the stateful guards' counters. Without it, state lives in this instance's
//!   memory only (not shared: for trials, never production).
//! - `PUMPGUARD_POLICY_REFRESH_SECONDS` (30) and `PUMPGUARD_POLICY_FETCH_TIMEOUT_MS` (200).
//! - `PUMPGUARD_PHONE_HASH_KEY`: key (≥ 16 bytes) for the phone hashes in logs
//!   and in the table's keys.
//! - `RUST_LOG`: log filter (default `info`, without the runtime's per-error line).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, Error, LambdaEvent};
use pumpguard::dynamo::DynamoStore;
use pumpguard::hash::PhoneHasher;
use pumpguard::published::{bootstrap_policy, DynamoPolicyStore, PolicyCache};
use pumpguard::store::{MemoryStore, Op, OpResult, Store, StoreError};
use pumpguard::trigger::{handle, MetricsSink, TriggerContext, TriggerError};
use serde_json::Value;
use tokio::sync::Mutex;

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// The state store: the table when configured, else this instance's memory.
#[derive(Debug)]
enum AnyStore {
    Dynamo(DynamoStore),
    Memory(MemoryStore),
}

impl Store for AnyStore {
    async fn execute(&self, op: Op) -> Result<OpResult, StoreError> {
        match self {
            AnyStore::Dynamo(s) => s.execute(op).await,
            AnyStore::Memory(s) => s.execute(op).await,
        }
    }
}

fn env_u64(key: &str, default: u64, max: u64) -> u64 {
    env(key)
        .and_then(|v| v.parse().ok())
        .map_or(default, |v: u64| v.clamp(1, max))
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // A block is logged once, by pumpguard; the runtime's own error
                // line for each returned error would only repeat it.
                .unwrap_or_else(|_| {
                    tracing_subscriber::EnvFilter::new("info,lambda_runtime::layers::panic=off")
                }),
        )
        .with_ansi(false)
        .init();

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
    // Load the phone metadata now, not in the first user's request.
    let _ = pumpguard::phone::classify("+14155552671");

    let (policy_store, state_store) = match env("PUMPGUARD_TABLE") {
        Some(table) => {
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .timeout_config(
                    aws_config::timeout::TimeoutConfig::builder()
                        .connect_timeout(Duration::from_millis(200))
                        .operation_attempt_timeout(Duration::from_millis(300))
                        .operation_timeout(Duration::from_millis(650))
                        .build(),
                )
                .load()
                .await;
            let client = aws_sdk_dynamodb::Client::new(&config);
            (
                Some(DynamoPolicyStore::new(client.clone(), table.clone())),
                AnyStore::Dynamo(DynamoStore::new(client, table)),
            )
        }
        None => {
            tracing::warn!(
                target: "pumpguard::config",
                "PUMPGUARD_TABLE is unset: cooldowns and limits are counted in this instance's \
                 memory only, and policy changes need a redeploy"
            );
            (None, AnyStore::Memory(MemoryStore::new()))
        }
    };
    let cache = Arc::new(Mutex::new(PolicyCache::new(
        boot.policy,
        policy_store,
        Duration::from_secs(env_u64("PUMPGUARD_POLICY_REFRESH_SECONDS", 30, 300)),
        Duration::from_millis(env_u64("PUMPGUARD_POLICY_FETCH_TIMEOUT_MS", 200, 1000)),
    )));

    let ctx = Arc::new(
        TriggerContext::new(state_store, log_hasher, store_keys)
            .with_metrics(MetricsSink::Stdout)
            .with_function_name(env("AWS_LAMBDA_FUNCTION_NAME")),
    );

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let cache = cache.clone();
        let ctx = ctx.clone();
        async move {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let engine = {
                let mut cache = cache.lock().await;
                cache.refresh(now).await;
                cache.current()
            };
            let unix = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
            handle(&engine, &ctx, event.payload, unix)
                .await
                .map_err(|e: TriggerError| e)
        }
    }))
    .await
}
