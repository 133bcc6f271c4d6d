//! The Custom SMS Sender Lambda: `CustomSMSSender_*` events judged by the
//! same engine as the CustomMessage trigger, allowed SMS delivered through
//! End User Messaging (SNS behind it), refused ones dropped silently
//! ([`pumpguard_trigger::sender`]).
//!
//! Wired into `PostConfirmation` and `PostAuthentication` too (in sender
//! mode, `apply` does so), it handles those completions as `bootstrap` does
//! and then gives End User Messaging the feedback that the code arrived
//! ([`pumpguard_trigger::sender::complete`]).
//!
//! Configuration (environment), as `bootstrap`'s, plus:
//! - `PUMPGUARD_KMS_KEY_ARN` (required): the KMS key Cognito encrypts the
//!   codes under (`LambdaConfig.KMSKeyID`).
//!
//! Without `PUMPGUARD_KMS_KEY_ARN`, or when the keyring cannot be made, every
//! sender event fails (and Lambda retries it): no code can be read, so no SMS
//! could be sent, and an error is what the alarms see. Completions still
//! work.

use std::sync::Arc;
use std::time::Duration;

use lambda_runtime::{service_fn, Diagnostic, Error, LambdaEvent};
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::published::{bootstrap_policy, PolicyCache};
use pumpguard_engine::store::MemoryStore;
use pumpguard_trigger::dynamo::DynamoStore;
use pumpguard_trigger::published::DynamoPolicyStore;
use pumpguard_trigger::runtime::{env, unix_now, AnyStore};
use pumpguard_trigger::sender::{complete, Crypto, Delivery, Sender};
use pumpguard_trigger::trigger::TriggerContext;
use serde_json::{json, Value};
use tokio::sync::Mutex;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    tracing::subscriber::set_global_default(pumpguard_trigger::logs::subscriber(
        env("RUST_LOG").as_deref(),
        std::io::stdout,
    ))?;
    let (log_hasher, store_keys) =
        match env("PUMPGUARD_PHONE_HASH_KEY").and_then(|k| PhoneHasher::new(k.as_bytes())) {
            Some(h) => (h.clone(), h),
            None => (PhoneHasher::ephemeral(), PhoneHasher::unkeyed()),
        };
    let exe_dir = std::env::current_exe()
        .ok()
        .and_then(|p| p.parent().map(|d| d.to_path_buf()));
    let boot = bootstrap_policy(env, exe_dir.as_deref());
    if let Some(error) = &boot.error {
        tracing::error!(target: "pumpguard::policy", error = %error, "bootstrap policy unusable; the built-in baseline is in use");
    }
    pumpguard_engine::phone::warm_up();
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let (policy_store, store) = match env("PUMPGUARD_TABLE") {
        Some(table) => {
            let store = DynamoStore::for_lambda(&config, table.clone());
            (
                Some(DynamoPolicyStore::new(store.client().clone(), table)),
                AnyStore::Dynamo(store),
            )
        }
        None => (None, AnyStore::Memory(MemoryStore::new())),
    };
    let crypto = match env("PUMPGUARD_KMS_KEY_ARN") {
        Some(arn) => Crypto::new(aws_sdk_kms::Client::new(&config), &arn)
            .await
            .map_err(|e| e.to_string()),
        None => Err("PUMPGUARD_KMS_KEY_ARN is unset".to_string()),
    };
    if let Err(e) = &crypto {
        tracing::error!(target: "pumpguard::config", error = %e, "the sender cannot decrypt codes; every event fails until this is fixed");
    }
    let delivery = Delivery {
        eum: aws_sdk_pinpointsmsvoicev2::Client::new(&config),
        sns: aws_sdk_sns::Client::new(&config),
    };
    let sender = crypto.map(|crypto| {
        Arc::new(Sender {
            crypto,
            delivery: delivery.clone(),
        })
    });
    let delivery = Arc::new(delivery);
    let ctx = Arc::new(TriggerContext::new(store, log_hasher, store_keys));
    let mut cache = PolicyCache::new(
        boot.policy,
        policy_store,
        Duration::from_secs(30),
        Duration::from_millis(200),
    );
    cache.load_now(unix_now(), Duration::from_secs(3)).await;
    let cache = Arc::new(Mutex::new(cache));

    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        let cache = cache.clone();
        let ctx = ctx.clone();
        let sender = sender.clone();
        let delivery = delivery.clone();
        async move {
            let now = unix_now();
            let engine = {
                let mut cache = cache.lock().await;
                cache.refresh(now).await;
                cache.current()
            };
            let unix = i64::try_from(now.as_secs()).unwrap_or(i64::MAX);
            let is_sender_event = event
                .payload
                .get("triggerSource")
                .and_then(Value::as_str)
                .is_some_and(|s| s.starts_with("CustomSMSSender_"));
            if !is_sender_event {
                // Cognito waits 5 s for a completion; the feedback gets a
                // small share of it.
                return complete(
                    &delivery,
                    &engine,
                    &ctx,
                    event.payload,
                    unix,
                    Duration::from_millis(500),
                )
                .await
                .map_err(Diagnostic::from);
            }
            let failed = |message: String| Diagnostic {
                error_type: "SenderFailed".into(),
                error_message: message,
            };
            let sender = sender.map_err(failed)?;
            sender
                .handle(&engine, &ctx, &event.payload, unix)
                .await
                .map(|_| json!({}))
                .map_err(|e| failed(e.to_string()))
        }
    }))
    .await
}
