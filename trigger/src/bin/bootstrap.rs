//! The Lambda `bootstrap`: wires the guard engine to the Lambda runtime.
//!
//! Configuration (environment):
//! - `PUMPGUARD_POLICY` / `PUMPGUARD_POLICY_FILE`: the bootstrap policy
//!   (default: `policy.toml` beside this binary, else the built-in baseline).
//! - `PUMPGUARD_TABLE`: the DynamoDB table holding the published policy.
//! - `PUMPGUARD_POLICY_REFRESH_SECONDS` (30) and `PUMPGUARD_POLICY_FETCH_TIMEOUT_MS` (500).
//! - `PUMPGUARD_PHONE_HASH_KEY`: key (≥ 16 bytes) for the phone hashes in logs.
//! - `RUST_LOG`: log filter (default `info`, without the runtime's per-error line).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lambda_runtime::{service_fn, Error, LambdaEvent};
use pumpguard::hash::PhoneHasher;
use pumpguard::published::{bootstrap_policy, DynamoPolicyStore, PolicyCache};
use pumpguard::trigger::{handle, TriggerError};
use serde_json::Value;
use tokio::sync::Mutex;

fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
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

    let hasher = match env("PUMPGUARD_PHONE_HASH_KEY").and_then(|k| PhoneHasher::new(k.as_bytes()))
    {
        Some(h) => h,
        None => {
            tracing::warn!(
                target: "pumpguard::config",
                "PUMPGUARD_PHONE_HASH_KEY is unset or shorter than 16 bytes; phone hashes in \
                 logs use a per-instance key and cannot be correlated across instances"
            );
            PhoneHasher::ephemeral()
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

    let store = match env("PUMPGUARD_TABLE") {
        Some(table) => {
            let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .timeout_config(
                    aws_config::timeout::TimeoutConfig::builder()
                        .connect_timeout(Duration::from_millis(300))
                        .operation_attempt_timeout(Duration::from_millis(400))
                        .operation_timeout(Duration::from_millis(900))
                        .build(),
                )
                .load()
                .await;
            Some(DynamoPolicyStore::new(
                aws_sdk_dynamodb::Client::new(&config),
                table,
            ))
        }
        None => None,
    };
    let cache = Arc::new(Mutex::new(PolicyCache::new(
        boot.policy,
        store,
        Duration::from_secs(env_u64("PUMPGUARD_POLICY_REFRESH_SECONDS", 30, 300)),
        Duration::from_millis(env_u64("PUMPGUARD_POLICY_FETCH_TIMEOUT_MS", 500, 2000)),
    )));

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let cache = cache.clone();
        let hasher = hasher.clone();
        async move {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default();
            let engine = {
                let mut cache = cache.lock().await;
                cache.refresh(now).await;
                cache.current()
            };
            handle(&engine, &hasher, event.payload).map_err(|e: TriggerError| e)
        }
    }))
    .await
}
