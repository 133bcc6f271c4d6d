//! `[sender]`: Cognito's Custom SMS Sender trigger, which hands the function
//! the code (encrypted) and lets it send the SMS itself, or not.
//!
//! Cognito invokes a sender asynchronously: the API call answers as if the
//! SMS went out whatever the function does, and Lambda retries a failed
//! invocation twice and may deliver one event more than once. So a refusal
//! is silent (the function returns success and sends nothing: the attacker
//! sees what a real user sees), and every event is claimed in the store
//! before anything else, keyed on its encrypted code, so that a retried or
//! duplicated event neither sends twice nor counts twice.
//!
//! This module holds the policy and the claim's state machine, as pure
//! values ([`Op`]s in, [`Next`] out); the adapter in
//! `pumpguard_trigger::sender` decrypts and delivers.
//!
//! | the claim item says | what the event does |
//! |---|---|
//! | nothing (first delivery) | judged; refused: marked `done`, nothing sent; allowed: marked `allowed`, delivered |
//! | `done` | nothing (a duplicate of an event already sent or dropped) |
//! | `allowed`, not `done` | delivered again without being judged again (a retry after a failed send) |
//! | claimed, not yet `allowed` | nothing: another instance is judging it (or died doing so; that SMS is lost, the user can ask again) |
//! | `sending` held by another delivery | nothing: that delivery sends it, or fails and its own retry comes back here |

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::policy::Collector;
use crate::source::TriggerSource;
use crate::store::{ItemKey, Op, OpResult};

/// How long a claim is kept: longer than Lambda's retries of one event
/// (up to 6 hours) and than a code's life.
pub const CLAIM_SECONDS: i64 = 86_400;

/// The SMS text when `[sender] message` is unset; Cognito's own wording.
pub const DEFAULT_MESSAGE: &str = "Your verification code is {####}";

/// An invitation's text (`CustomSMSSender_AdminCreateUser` carries a
/// temporary password, not a code) when `[sender] message` is unset.
pub const DEFAULT_INVITATION: &str = "Your username is {username} and temporary password is {####}";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", default, deny_unknown_fields)]
pub(crate) struct WireSender {
    enabled: bool,
    configuration_set: Option<String>,
    origination_identity: Option<String>,
    max_price_per_message: Option<String>,
    sns_fallback: bool,
    message: Option<String>,
}

impl Default for WireSender {
    fn default() -> Self {
        Self {
            enabled: false,
            configuration_set: None,
            origination_identity: None,
            max_price_per_message: None,
            sns_fallback: true,
            message: None,
        }
    }
}

/// `[sender]`: how the Custom SMS Sender delivers what the guards allow.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SenderPolicy {
    /// Opt-in: the stack deploys the sender and `apply` wires it only then.
    pub enabled: bool,
    /// End User Messaging configuration set for `SendTextMessage`; unset,
    /// `[protect]`'s pool-scope set when there is one.
    pub configuration_set: Option<String>,
    /// Phone number, pool, sender ID or ARN to send from.
    pub origination_identity: Option<String>,
    /// `MaxPrice` per message part, USD, as End User Messaging takes it
    /// (a decimal string such as "0.10").
    pub max_price_per_message: Option<String>,
    /// Publish through SNS when End User Messaging fails.
    pub sns_fallback: bool,
    /// The SMS text; `{####}` is replaced by the code.
    pub message: String,
    /// `message` was set in the policy (else the defaults above apply,
    /// the invitation's for `AdminCreateUser`).
    pub custom_message: bool,
}

impl Default for SenderPolicy {
    fn default() -> Self {
        let mut c = Collector::detached();
        check_sender(WireSender::default(), &mut c)
    }
}

impl crate::policy::Section for SenderPolicy {
    const NAME: &'static str = "sender";
    type Wire = WireSender;

    fn check(w: WireSender, c: &mut Collector) -> Self {
        check_sender(w, c)
    }
}

fn check_sender(w: WireSender, c: &mut Collector) -> SenderPolicy {
    let custom_message = w.message.is_some();
    let message = w.message.unwrap_or_else(|| DEFAULT_MESSAGE.into());
    if !message.contains("{####}") {
        c.push("sender.message", "must contain {####}, where the code goes");
    }
    if let Some(price) = &w.max_price_per_message {
        let ok = price.parse::<f64>().is_ok_and(|p| p > 0.0 && p < 100.0)
            && price.bytes().all(|b| b.is_ascii_digit() || b == b'.');
        if !ok {
            c.push(
                "sender.max-price-per-message",
                format!("must be a price in USD such as \"0.10\", found {price:?}"),
            );
        }
    }
    SenderPolicy {
        enabled: w.enabled,
        configuration_set: w.configuration_set.filter(|s| !s.is_empty()),
        origination_identity: w.origination_identity.filter(|s| !s.is_empty()),
        max_price_per_message: w.max_price_per_message,
        sns_fallback: w.sns_fallback,
        message,
        custom_message,
    }
}

/// The CustomMessage source a sender source is judged as: the same
/// message, the same guards. The account-takeover notification carries no
/// code and goes to a user's own number; it is judged as a sign-in.
pub fn source(trigger_source: &str) -> Option<TriggerSource> {
    let rest = trigger_source.strip_prefix("CustomSMSSender_")?;
    match rest {
        "AccountTakeOverNotification" => Some(TriggerSource::Authentication),
        _ => TriggerSource::parse(&format!("CustomMessage_{rest}")),
    }
}

/// The SMS text for `code` of an event judged as `source`.
pub fn render(
    p: &SenderPolicy,
    source: TriggerSource,
    code: &str,
    username: Option<&str>,
) -> String {
    let template = match (source, p.custom_message, username) {
        (TriggerSource::AdminCreateUser, false, Some(_)) => DEFAULT_INVITATION,
        _ => p.message.as_str(),
    };
    let text = template.replace("{####}", code);
    match username {
        Some(u) => text.replace("{username}", u),
        None => text,
    }
}

/// The claim item of one event: its encrypted code (unique per message
/// Cognito sends, the same in every retry and duplicate), hashed.
pub fn claim_key(encrypted_code: &str) -> ItemKey {
    let digest = Sha256::digest(encrypted_code.as_bytes());
    crate::keys::sender_claim(&hex::encode(&digest[..16]))
}

/// Claim the event: applies once per key.
pub fn claim(key: &ItemKey, now: i64) -> Op {
    Op::AddIf {
        key: key.clone(),
        adds: vec![("claimed".into(), 1)],
        below: vec![("claimed".into(), 1)],
        set: vec![("claimed_at".into(), now)],
        expires_at: now.saturating_add(CLAIM_SECONDS),
    }
}

/// Record a step of the event (`allowed`, `done`), with a value (the
/// provider that sent it, as [`Provider::code`]).
pub fn mark(key: &ItemKey, attr: &'static str, value: i64, now: i64) -> Op {
    Op::AddIf {
        key: key.clone(),
        adds: Vec::new(),
        below: Vec::new(),
        set: vec![(attr.into(), value)],
        expires_at: now.saturating_add(CLAIM_SECONDS),
    }
}

/// Take the right to deliver: one delivery at a time per event.
pub fn lease(key: &ItemKey, now: i64) -> Op {
    Op::AddIf {
        key: key.clone(),
        adds: vec![("sending".into(), 1)],
        below: vec![("sending".into(), 1)],
        set: Vec::new(),
        expires_at: now.saturating_add(CLAIM_SECONDS),
    }
}

/// Give the delivery back after a failed send, so the retry may deliver.
pub fn release(key: &ItemKey, now: i64) -> Op {
    Op::AddIf {
        key: key.clone(),
        adds: vec![("sending".into(), -1)],
        below: Vec::new(),
        set: Vec::new(),
        expires_at: now.saturating_add(CLAIM_SECONDS),
    }
}

/// What an event does after its claim (the table in the module's docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// First delivery: judge it.
    Judge,
    /// Allowed before, not sent yet: deliver without judging again.
    Deliver,
    /// Nothing to do; `why` for the log.
    Skip { why: &'static str },
}

/// Reads the claim's answer.
pub fn after_claim(r: &OpResult) -> Next {
    match r {
        OpResult::Admitted { admitted: true, .. } => Next::Judge,
        OpResult::Admitted { numbers, .. } => {
            let has = |a: &str| numbers.get(a).copied().unwrap_or(0) > 0;
            if has("done") {
                Next::Skip { why: "duplicate" }
            } else if has("allowed") {
                Next::Deliver
            } else {
                Next::Skip {
                    why: "being-judged",
                }
            }
        }
        _ => Next::Skip {
            why: "unexpected-store-answer",
        },
    }
}

/// Whether a lease was granted.
pub fn leased(r: &OpResult) -> bool {
    matches!(r, OpResult::Admitted { admitted: true, .. })
}

/// Who delivered an SMS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Provider {
    /// End User Messaging `SendTextMessage`.
    EndUserMessaging,
    /// SNS `Publish`, after End User Messaging failed.
    Sns,
}

impl Provider {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::EndUserMessaging => "end-user-messaging",
            Self::Sns => "sns",
        }
    }

    /// Kept in the claim item as `done`: 1 dropped, 2 and 3 sent.
    pub fn code(self) -> i64 {
        match self {
            Self::EndUserMessaging => 2,
            Self::Sns => 3,
        }
    }
}

/// `done` of a refused (dropped) event.
pub const DROPPED: i64 = 1;

// ---------------------------------------------------------------- feedback

/// How long a sent message's id waits for the code's use: End User
/// Messaging marks a message sent with feedback enabled `FAILED` when no
/// feedback came within an hour, so later feedback would be wasted.
pub const FEEDBACK_SECONDS: i64 = 3_600;

/// Which completion proves a message's code reached the phone, by the
/// kind of message: a sign-up (or resent) code is used by
/// `PostConfirmation_ConfirmSignUp`, a reset code by
/// `PostConfirmation_ConfirmForgotPassword`, a sign-in code by
/// `PostAuthentication_Authentication`. Attribute verifications and
/// invitations have no completion trigger, and get no feedback.
/// (The account-takeover notification carries no code to use.)
pub fn message_kind(sender_trigger_source: &str) -> Option<&'static str> {
    match sender_trigger_source {
        "CustomSMSSender_SignUp" | "CustomSMSSender_ResendCode" => Some("sign-up"),
        "CustomSMSSender_ForgotPassword" => Some("reset"),
        "CustomSMSSender_Authentication" => Some("mfa"),
        _ => None,
    }
}

/// The kind of message a completion trigger source proves delivered.
pub fn completion_kind(trigger_source: &str) -> Option<&'static str> {
    match trigger_source {
        "PostConfirmation_ConfirmSignUp" => Some("sign-up"),
        "PostConfirmation_ConfirmForgotPassword" => Some("reset"),
        "PostAuthentication_Authentication" => Some("mfa"),
        _ => None,
    }
}

/// Remember the id of a message sent to `user_hash` until its code is used
/// (a later message of the same kind replaces it: only the last code works).
pub fn remember_message(user_hash: &str, kind: &str, message_id: &str, now: i64) -> Op {
    Op::PutText {
        key: crate::keys::sent_message(user_hash, kind),
        attr: "message_id".into(),
        text: message_id.into(),
        expires_at: now.saturating_add(FEEDBACK_SECONDS),
    }
}

/// Take the id of the message a completion proves delivered: once, so a
/// retried or duplicated completion gives no second feedback.
pub fn take_message(user_hash: &str, kind: &str) -> Op {
    Op::TakeText {
        key: crate::keys::sent_message(user_hash, kind),
        attr: "message_id".into(),
    }
}

/// The id [`take_message`] took, if any.
pub fn taken(r: &OpResult) -> Option<&str> {
    match r {
        OpResult::Text(Some(t)) if !t.is_empty() => Some(t),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{MemoryStore, Store};

    #[test]
    fn sender_sources_map_onto_the_custom_message_ones() {
        assert_eq!(
            source("CustomSMSSender_SignUp"),
            Some(TriggerSource::SignUp)
        );
        assert_eq!(
            source("CustomSMSSender_ForgotPassword"),
            Some(TriggerSource::ForgotPassword)
        );
        assert_eq!(
            source("CustomSMSSender_Authentication"),
            Some(TriggerSource::Authentication)
        );
        assert_eq!(
            source("CustomSMSSender_AccountTakeOverNotification"),
            Some(TriggerSource::Authentication)
        );
        assert_eq!(source("CustomSMSSender_Unknown"), None);
        assert_eq!(source("CustomMessage_SignUp"), None);
    }

    #[tokio::test]
    async fn a_claim_applies_once_and_its_steps_decide_what_a_repeat_does() {
        let store = MemoryStore::new();
        let key = claim_key("AYADeB...ciphertext");
        let first = store.execute(claim(&key, 100)).await.unwrap();
        assert_eq!(after_claim(&first), Next::Judge);
        let again = store.execute(claim(&key, 101)).await.unwrap();
        assert_eq!(
            after_claim(&again),
            Next::Skip {
                why: "being-judged"
            }
        );
        store.execute(mark(&key, "allowed", 1, 101)).await.unwrap();
        let retry = store.execute(claim(&key, 102)).await.unwrap();
        assert_eq!(after_claim(&retry), Next::Deliver);
        // One delivery at a time; a failed one gives the lease back.
        assert!(leased(&store.execute(lease(&key, 102)).await.unwrap()));
        assert!(!leased(&store.execute(lease(&key, 102)).await.unwrap()));
        store.execute(release(&key, 102)).await.unwrap();
        assert!(leased(&store.execute(lease(&key, 103)).await.unwrap()));
        store
            .execute(mark(&key, "done", Provider::Sns.code(), 103))
            .await
            .unwrap();
        let dup = store.execute(claim(&key, 104)).await.unwrap();
        assert_eq!(after_claim(&dup), Next::Skip { why: "duplicate" });
        // Another event's code is another claim.
        let other = store
            .execute(claim(&claim_key("other"), 104))
            .await
            .unwrap();
        assert_eq!(after_claim(&other), Next::Judge);
    }

    #[tokio::test]
    async fn a_completion_takes_the_id_of_the_message_it_proves_once() {
        let store = MemoryStore::new();
        let kind = message_kind("CustomSMSSender_ResendCode").unwrap();
        store
            .execute(remember_message("u1", kind, "m-1", 100))
            .await
            .unwrap();
        // A reset does not prove a sign-up code.
        let reset = completion_kind("PostConfirmation_ConfirmForgotPassword").unwrap();
        let r = store.execute(take_message("u1", reset)).await.unwrap();
        assert_eq!(taken(&r), None);
        let sign_up = completion_kind("PostConfirmation_ConfirmSignUp").unwrap();
        let r = store.execute(take_message("u1", sign_up)).await.unwrap();
        assert_eq!(taken(&r), Some("m-1"));
        let again = store.execute(take_message("u1", sign_up)).await.unwrap();
        assert_eq!(taken(&again), None);
        assert_eq!(message_kind("CustomSMSSender_AdminCreateUser"), None);
        assert_eq!(
            message_kind("CustomSMSSender_AccountTakeOverNotification"),
            None
        );
        assert_eq!(
            completion_kind("PostAuthentication_Authentication"),
            Some("mfa")
        );
        assert_eq!(completion_kind("CustomMessage_SignUp"), None);
    }

    #[test]
    fn the_message_needs_the_code_placeholder() {
        let p = SenderPolicy::default();
        assert_eq!(
            render(&p, TriggerSource::SignUp, "123456", None),
            "Your verification code is 123456"
        );
        assert_eq!(
            render(&p, TriggerSource::AdminCreateUser, "Tmp#Pass1", Some("ana")),
            "Your username is ana and temporary password is Tmp#Pass1"
        );
        let mut c = Collector::detached();
        check_sender(
            WireSender {
                message: Some("hello".into()),
                max_price_per_message: Some("ten".into()),
                ..WireSender::default()
            },
            &mut c,
        );
        let keys: Vec<String> = c.problem_keys();
        assert_eq!(keys, ["sender.message", "sender.max-price-per-message"]);
    }
}
