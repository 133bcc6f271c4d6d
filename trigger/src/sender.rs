//! The Custom SMS Sender adapter: Cognito's `CustomSMSSender_*` event in,
//! success out, and the SMS sent only when the guards allow it.
//!
//! Cognito invokes the sender asynchronously and answers the API call as
//! if the SMS went out, so a refusal here is silent: the attacker sees what
//! a real user sees. Every path (see [`pumpguard_engine::sender`] for the
//! claim that makes retries and duplicates harmless):
//!
//! | situation | answer | sent |
//! |---|---|---|
//! | allowed or monitored | success, provider logged | once, through End User Messaging, else SNS (`sns-fallback`) |
//! | refused by a guard | success, logged and counted as `dropped` | nothing |
//! | a duplicate or retry of an event already sent or dropped | success, logged as `duplicate` | nothing more |
//! | both providers fail, or the code cannot be decrypted | error, so Lambda retries (twice); the retry delivers without judging again | at most once |
//! | the claim cannot be made (store down) | error, so Lambda retries; nothing was judged or counted | nothing yet |
//! | malformed event, unknown source, another pool's event | success, logged | nothing (a retry cannot mend it) |
//!
//! The code is decrypted with the AWS Encryption SDK (KMS keyring, the
//! encryption context's `userpool-id` checked against the event's pool) only
//! when the SMS is to be sent, and it appears in no log, error or metric.

use std::collections::HashMap;
use std::time::Instant;

use aws_esdk::material_providers::client as mpl_client;
use aws_esdk::material_providers::types::keyring::KeyringRef;
use aws_esdk::material_providers::types::material_providers_config::MaterialProvidersConfig;
use aws_esdk::material_providers::types::EsdkCommitmentPolicy;
use aws_esdk::types::aws_encryption_sdk_config::AwsEncryptionSdkConfig;
use serde::Deserialize;
use serde_json::Value;

use pumpguard_engine::engine::{Engine, Verdict};
use pumpguard_engine::sender::{self as plan, Next, Provider, DROPPED};
use pumpguard_engine::stateful::{self, Subject};
use pumpguard_engine::store::{ItemKey, Store};

use crate::trigger::{elapsed_us, TriggerContext};

/// Decrypts the codes Cognito encrypts under the pool's KMS key.
#[derive(Clone)]
pub struct Crypto {
    esdk: aws_esdk::Client,
    keyring: KeyringRef,
}

impl std::fmt::Debug for Crypto {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Crypto { .. }")
    }
}

/// What failed in a sender event; never holds the code or the number.
#[derive(Debug, thiserror::Error)]
pub enum SenderError {
    #[error("cannot set up decryption: {0}")]
    Setup(String),
    #[error("cannot decrypt the code: {0}")]
    Decrypt(String),
    #[error("the store failed: {0}")]
    Store(String),
    #[error("no provider delivered the SMS: {0}")]
    Delivery(String),
}

impl Crypto {
    /// A KMS keyring on `key_arn`. Cognito's messages use a non-committing
    /// algorithm suite (v1, ECDSA P-384 signed), so decryption allows them.
    pub async fn new(kms: aws_sdk_kms::Client, key_arn: &str) -> Result<Self, SenderError> {
        let setup = |e: &dyn std::fmt::Display| SenderError::Setup(e.to_string());
        let config = AwsEncryptionSdkConfig::builder()
            .commitment_policy(EsdkCommitmentPolicy::RequireEncryptAllowDecrypt)
            .build()
            .map_err(|e| setup(&e))?;
        let esdk = aws_esdk::Client::from_conf(config).map_err(|e| setup(&e))?;
        let mpl = mpl_client::Client::from_conf(
            MaterialProvidersConfig::builder()
                .build()
                .map_err(|e| setup(&e))?,
        )
        .map_err(|e| setup(&e))?;
        let keyring = mpl
            .create_aws_kms_keyring()
            .kms_key_id(key_arn)
            .kms_client(kms)
            .send()
            .await
            .map_err(|e| setup(&e))?;
        Ok(Self { esdk, keyring })
    }

    /// The plaintext code of `encrypted` (base64, as Cognito sends it),
    /// which must carry the encryption context `userpool-id = pool_id`.
    pub async fn decrypt(&self, encrypted: &str, pool_id: &str) -> Result<String, SenderError> {
        let bytes = aws_smithy_types::base64::decode(encrypted)
            .map_err(|_| SenderError::Decrypt("the code is not base64".into()))?;
        let out = self
            .esdk
            .decrypt()
            .ciphertext(aws_smithy_types::Blob::new(bytes))
            .keyring(self.keyring.clone())
            .encryption_context(HashMap::from([(
                "userpool-id".to_string(),
                pool_id.to_string(),
            )]))
            .send()
            .await
            // The SDK's message names the failing check, never the plaintext.
            .map_err(|e| SenderError::Decrypt(e.to_string()))?;
        let plaintext = out
            .plaintext
            .ok_or_else(|| SenderError::Decrypt("no plaintext".into()))?;
        String::from_utf8(plaintext.into_inner())
            .map_err(|_| SenderError::Decrypt("the code is not text".into()))
    }
}

/// End User Messaging, and SNS behind it.
#[derive(Debug, Clone)]
pub struct Delivery {
    pub eum: aws_sdk_pinpointsmsvoicev2::Client,
    pub sns: aws_sdk_sns::Client,
}

impl Delivery {
    /// Sends `text` to `phone`: End User Messaging first, then SNS when it
    /// fails and `[sender] sns-fallback` allows. Returns who sent it.
    pub async fn send(
        &self,
        p: &plan::SenderPolicy,
        configuration_set: Option<&str>,
        phone: &str,
        text: &str,
    ) -> Result<(Provider, Option<String>), SenderError> {
        let eum = self
            .eum
            .send_text_message()
            .destination_phone_number(phone)
            .message_body(text)
            .message_type(aws_sdk_pinpointsmsvoicev2::types::MessageType::Transactional)
            .set_configuration_set_name(configuration_set.map(str::to_string))
            .set_origination_identity(p.origination_identity.clone())
            .set_max_price(p.max_price_per_message.clone())
            .message_feedback_enabled(true)
            .send()
            .await;
        let eum_error = match eum {
            Ok(out) => return Ok((Provider::EndUserMessaging, out.message_id)),
            Err(e) => redact(&sdk_code(&e), phone),
        };
        if !p.sns_fallback {
            return Err(SenderError::Delivery(format!(
                "End User Messaging: {eum_error} (sns-fallback is off)"
            )));
        }
        tracing::warn!(
            target: "pumpguard::sender",
            provider = "end-user-messaging",
            error = %eum_error,
            "End User Messaging failed; falling back to SNS"
        );
        let sms_type = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value("Transactional")
            .build()
            .map_err(|e| SenderError::Delivery(e.to_string()))?;
        match self
            .sns
            .publish()
            .phone_number(phone)
            .message(text)
            .message_attributes("AWS.SNS.SMS.SMSType", sms_type)
            .send()
            .await
        {
            Ok(out) => Ok((Provider::Sns, out.message_id)),
            Err(e) => Err(SenderError::Delivery(format!(
                "End User Messaging: {eum_error}; SNS: {}",
                redact(&sdk_code(&e), phone)
            ))),
        }
    }
}

impl Delivery {
    /// `PutMessageFeedback` RECEIVED: the code of message `message_id` was
    /// used, which End User Messaging's fraud model learns from.
    pub async fn received(&self, message_id: &str) -> Result<(), SenderError> {
        self.eum
            .put_message_feedback()
            .message_id(message_id)
            .message_feedback_status(
                aws_sdk_pinpointsmsvoicev2::types::MessageFeedbackStatus::Received,
            )
            .send()
            .await
            .map(|_| ())
            .map_err(|e| SenderError::Delivery(sdk_code(&e)))
    }
}

/// `Code: message` of an SDK error, else its kind.
fn sdk_code<
    E: aws_smithy_types::error::metadata::ProvideErrorMetadata + std::error::Error + 'static,
>(
    e: &aws_smithy_runtime_api::client::result::SdkError<E, aws_smithy_runtime_api::http::Response>,
) -> String {
    match e.as_service_error() {
        Some(s) => format!(
            "{}: {}",
            s.code().unwrap_or("error"),
            s.message().unwrap_or_default()
        ),
        None => aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
    }
}

/// An error text with the number masked, should a service echo it.
fn redact(text: &str, phone: &str) -> String {
    if phone.len() > 4 {
        text.replace(phone, "+…")
    } else {
        text.to_string()
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SenderEvent {
    trigger_source: String,
    user_pool_id: Option<String>,
    user_name: Option<String>,
    request: SenderRequest,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SenderRequest {
    code: Option<String>,
    #[serde(default)]
    user_attributes: HashMap<String, Value>,
}

/// What became of one sender event (for the log line and the tests).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Sent(Provider),
    Dropped,
    Duplicate,
    /// Not judged: `why`.
    Ignored(&'static str),
}

/// Everything the sender needs beyond the engine and the store.
#[derive(Debug)]
pub struct Sender {
    pub crypto: Crypto,
    pub delivery: Delivery,
}

impl Sender {
    /// Handles one event at `now` (Unix seconds). `Err` only where a retry
    /// can help (the table above).
    pub async fn handle<S: Store>(
        &self,
        engine: &Engine,
        ctx: &TriggerContext<S>,
        event: &Value,
        now: i64,
    ) -> Result<Outcome, SenderError> {
        let started = Instant::now();
        let outcome = self.run(engine, ctx, event, now).await;
        let (result, detail) = match &outcome {
            Ok(Outcome::Sent(p)) => ("sent", p.as_str()),
            Ok(Outcome::Dropped) => ("dropped", ""),
            Ok(Outcome::Duplicate) => ("duplicate", ""),
            Ok(Outcome::Ignored(why)) => ("ignored", *why),
            Err(_) => ("error", ""),
        };
        match &outcome {
            Err(e) => tracing::error!(
                target: "pumpguard::sender",
                outcome = result,
                error = %e,
                latency_us = elapsed_us(started),
                "sender event failed; Lambda retries it"
            ),
            Ok(_) => tracing::info!(
                target: "pumpguard::sender",
                outcome = result,
                detail = detail,
                latency_us = elapsed_us(started),
                "sender event"
            ),
        }
        outcome
    }

    async fn run<S: Store>(
        &self,
        engine: &Engine,
        ctx: &TriggerContext<S>,
        event: &Value,
        now: i64,
    ) -> Result<Outcome, SenderError> {
        let Ok(e) = SenderEvent::deserialize(event) else {
            return Ok(Outcome::Ignored("malformed-event"));
        };
        let Some(source) = plan::source(&e.trigger_source) else {
            return Ok(Outcome::Ignored("unknown-trigger-source"));
        };
        let policy = engine.policy();
        let pool_id = e.user_pool_id.as_deref().unwrap_or_default();
        if let Some(pool) = &policy.user_pool {
            if pool.id != pool_id {
                return Ok(Outcome::Ignored("another-pool"));
            }
        }
        let (Some(code), Some(Value::String(phone))) = (
            e.request.code.as_deref(),
            e.request.user_attributes.get("phone_number"),
        ) else {
            return Ok(Outcome::Ignored("no-code-or-phone"));
        };
        let user = match e.request.user_attributes.get("sub") {
            Some(Value::String(sub)) => Some(sub.as_str()),
            _ => e.user_name.as_deref(),
        };
        let key = plan::claim_key(code);
        let claimed = ctx
            .store
            .execute(plan::claim(&key, now))
            .await
            .map_err(|e| SenderError::Store(e.to_string()))?;
        match plan::after_claim(&claimed) {
            Next::Skip { why: "duplicate" } => return Ok(Outcome::Duplicate),
            Next::Skip { why } => return Ok(Outcome::Ignored(why)),
            Next::Deliver => {}
            Next::Judge => {
                let subject = Subject {
                    source,
                    phone,
                    user,
                    now,
                };
                let decision = stateful::judge(engine, &ctx.store, &ctx.store_keys, subject).await;
                tracing::info!(
                    target: "pumpguard::decision",
                    outcome = %decision.verdict,
                    verdict = %decision.verdict,
                    reasons = %decision.reasons().join(","),
                    trigger_source = %e.trigger_source,
                    country = decision.country.as_ref().map_or("unknown", |c| c.as_str()),
                    phone_hash = %ctx.log_hasher.hash(phone),
                    store_error = decision.store_error,
                    policy = &policy.digest[..12],
                    "decision"
                );
                if decision.verdict == Verdict::Block {
                    self.mark(ctx, &key, "done", DROPPED, now).await;
                    return Ok(Outcome::Dropped);
                }
                self.mark(ctx, &key, "allowed", 1, now).await;
            }
        }
        let leased = ctx
            .store
            .execute(plan::lease(&key, now))
            .await
            .map_err(|e| SenderError::Store(e.to_string()))?;
        if !plan::leased(&leased) {
            return Ok(Outcome::Ignored("being-delivered"));
        }
        match self
            .deliver(engine, source, code, pool_id, phone, e.user_name.as_deref())
            .await
        {
            Ok((provider, message_id)) => {
                self.mark(ctx, &key, "done", provider.code(), now).await;
                if let (Provider::EndUserMessaging, Some(id), Some(kind), Some(user)) = (
                    provider,
                    message_id.as_deref(),
                    plan::message_kind(&e.trigger_source),
                    user,
                ) {
                    let user_hash = ctx.store_keys.hash_text(user);
                    let op = plan::remember_message(&user_hash, kind, id, now);
                    if let Err(err) = ctx.store.execute(op).await {
                        tracing::warn!(target: "pumpguard::sender", error = %err, "cannot keep the message id for feedback");
                    }
                }
                Ok(Outcome::Sent(provider))
            }
            Err(err) => {
                let _ = ctx.store.execute(plan::release(&key, now)).await;
                Err(err)
            }
        }
    }

    async fn deliver(
        &self,
        engine: &Engine,
        source: pumpguard_engine::source::TriggerSource,
        code: &str,
        pool_id: &str,
        phone: &str,
        username: Option<&str>,
    ) -> Result<(Provider, Option<String>), SenderError> {
        let policy = engine.policy();
        let plaintext = self.crypto.decrypt(code, pool_id).await?;
        let text = plan::render(&policy.sender, source, &plaintext, username);
        let set = policy
            .sender
            .configuration_set
            .as_deref()
            .or(match &policy.protect.scope {
                pumpguard_engine::account::ProtectScope::Pool(s) => {
                    Some(s.configuration_set.as_str())
                }
                pumpguard_engine::account::ProtectScope::AccountDefault => None,
            });
        let (provider, message_id) = self
            .delivery
            .send(&policy.sender, set, phone, &text)
            .await?;
        tracing::info!(
            target: "pumpguard::sender",
            provider = provider.as_str(),
            message_id = message_id.as_deref().unwrap_or(""),
            "SMS sent"
        );
        Ok((provider, message_id))
    }

    /// Records a step; a failure is logged (the next retry re-judges at
    /// worst: the claim already stops a second count).
    async fn mark<S: Store>(
        &self,
        ctx: &TriggerContext<S>,
        key: &ItemKey,
        attr: &'static str,
        v: i64,
        now: i64,
    ) {
        if let Err(e) = ctx.store.execute(plan::mark(key, attr, v, now)).await {
            tracing::warn!(target: "pumpguard::sender", error = %e, step = attr, "cannot record the step");
        }
    }
}

/// A completion (`PostConfirmation_*`, `PostAuthentication_*`) wired to
/// the sender: judged by the CustomMessage trigger's own handler, then,
/// when it proves a code sent through End User Messaging reached the
/// phone, `PutMessageFeedback` RECEIVED for that message, once. The
/// feedback is best effort within `budget`: the completion's answer
/// never waits longer, and never fails because of it (the user's
/// sign-up or sign-in must not).
pub async fn complete<S: Store>(
    delivery: &Delivery,
    engine: &Engine,
    ctx: &TriggerContext<S>,
    event: Value,
    now: i64,
    budget: std::time::Duration,
) -> Result<Value, crate::trigger::TriggerError> {
    let kind = event
        .get("triggerSource")
        .and_then(Value::as_str)
        .and_then(plan::completion_kind);
    let user = event
        .get("request")
        .and_then(|r| r.get("userAttributes"))
        .and_then(|a| a.get("sub"))
        .and_then(Value::as_str)
        .or_else(|| event.get("userName").and_then(Value::as_str))
        .map(str::to_string);
    let answer = crate::trigger::handle(engine, ctx, event, now).await;
    if let (Ok(_), Some(kind), Some(user)) = (&answer, kind, user) {
        let user_hash = ctx.store_keys.hash_text(&user);
        let feedback = async {
            let taken = ctx
                .store
                .execute(plan::take_message(&user_hash, kind))
                .await
                .map_err(|e| SenderError::Store(e.to_string()))?;
            match plan::taken(&taken) {
                Some(id) => delivery.received(id).await.map(|()| true),
                None => Ok(false),
            }
        };
        match tokio::time::timeout(budget, feedback).await {
            Ok(Ok(sent)) => tracing::info!(
                target: "pumpguard::sender",
                feedback = if sent { "received" } else { "none-pending" },
                kind = kind,
                "message feedback"
            ),
            Ok(Err(e)) => tracing::warn!(
                target: "pumpguard::sender",
                error = %e,
                kind = kind,
                "message feedback failed"
            ),
            Err(_) => tracing::warn!(
                target: "pumpguard::sender",
                kind = kind,
                budget_ms = u64::try_from(budget.as_millis()).unwrap_or(u64::MAX),
                "message feedback timed out"
            ),
        }
    }
    answer
}
