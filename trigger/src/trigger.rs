//! The Cognito trigger adapter: event in, event or error out.
//!
//! It works on the raw JSON so that an allowed event goes back to Cognito with
//! every field it came with; the typed `aws_lambda_events` structs are used to
//! check the event's shape, which may be done beforehand ([`Prepared`]).
//! Every path ends in one of:
//!
//! | situation | answer |
//! |---|---|
//! | SMS allowed or monitored | the event, `smsMessage` set if the policy has `sms-message` |
//! | SMS blocked | error `SmsBlocked`, message = the block code (`SMS_BLOCKED_COUNTRY`, `RATE_LIMITED retryAfterSeconds=42` …) |
//! | store failure or timeout | static guards still decide; stateful ones follow `on-store-error` |
//! | source not SMS-bound for this pool (`sms-sources`) | the event, untouched |
//! | no `phone_number` attribute | the event, untouched (there is nowhere to send an SMS) |
//! | PostConfirmation / PostAuthentication | the event, untouched, never blocked; a pending code for the phone is recorded as verified |
//! | PreSignUp (`_SignUp`, `_AdminCreateUser`, `_ExternalProvider`) | the event, or error `SignUpRefused` with the neutral message `SIGN_UP_REFUSED` ([`pumpguard_engine::presignup`]) |
//! | a `CustomMessage_*` source this build does not know | judged by the static guards only: the event, or the block code |
//! | unknown `triggerSource` | the event, untouched, logged (`unknown-source = "pass"`), or `SMS_BLOCKED` |
//! | malformed event | error `MalformedEvent`, message `MALFORMED_EVENT` plus what is wrong |
//!
//! Exactly one structured log line is written per event, and it never holds
//! the phone number: only its keyed hash.

use std::borrow::Cow;
use std::io::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use aws_lambda_events::event::cognito::CognitoEventUserPoolsCustomMessage;
use serde::Deserialize as _;
use serde_json::Value;

use pumpguard_engine::engine::{Decision, Engine, Verdict};
use pumpguard_engine::features::{Features, KeyedMemo, Record, RECORD_VERSION};
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::metrics;
use pumpguard_engine::policy::{Mode, Policy, UnknownSource};
use pumpguard_engine::presignup::{self, PreSignUpSource};
use pumpguard_engine::source::TriggerSource;
use pumpguard_engine::stateful::{self, Case, CompletionCase};
use pumpguard_engine::store::Store;

/// Where the CloudWatch Embedded Metric Format lines go.
#[derive(Debug)]
pub enum MetricsSink {
    /// Standard output, one line each: the Lambda's log stream.
    Stdout,
    /// Kept in memory (tests).
    Capture(Mutex<Vec<String>>),
    /// Nowhere.
    Off,
}

impl MetricsSink {
    fn emit(&self, line: &Value) {
        match self {
            MetricsSink::Stdout => {
                let mut out = std::io::stdout().lock();
                // A lost metric line must never fail the decision.
                let _ = writeln!(out, "{line}");
            }
            MetricsSink::Capture(lines) => {
                if let Ok(mut l) = lines.lock() {
                    l.push(line.to_string());
                }
            }
            MetricsSink::Off => {}
        }
    }

    /// The captured lines (empty unless `Capture`).
    pub fn captured(&self) -> Vec<String> {
        match self {
            MetricsSink::Capture(lines) => lines.lock().map(|l| l.clone()).unwrap_or_default(),
            MetricsSink::Stdout | MetricsSink::Off => Vec::new(),
        }
    }
}

/// What the adapter needs besides the engine: the state store and the two
/// hashers (one for logs, one for store keys).
#[derive(Debug)]
pub struct TriggerContext<S> {
    pub store: S,
    /// Hashes phone numbers for logs.
    pub log_hasher: PhoneHasher,
    /// Hashes phone numbers, users and prefixes for store keys.
    pub store_keys: PhoneHasher,
    /// Decisions and verifications whose store calls failed, this instance.
    store_errors: AtomicU64,
    /// Where EMF metric lines go (`Off` unless set with [`Self::with_metrics`];
    /// the Lambda sends them to stdout).
    pub metrics: MetricsSink,
    /// The Lambda function's name, an extra metric dimension when set.
    pub function_name: Option<String>,
}

impl<S> TriggerContext<S> {
    pub fn new(store: S, log_hasher: PhoneHasher, store_keys: PhoneHasher) -> Self {
        Self {
            store,
            log_hasher,
            store_keys,
            store_errors: AtomicU64::new(0),
            metrics: MetricsSink::Off,
            function_name: None,
        }
    }

    /// The same context with the function's name as a metric dimension.
    pub fn with_function_name(mut self, name: Option<String>) -> Self {
        self.function_name = name;
        self
    }

    /// Emits the metric line `make` builds; it is not built when metrics are off.
    fn emit(&self, make: impl FnOnce() -> Value) {
        if matches!(self.metrics, MetricsSink::Off) {
            return;
        }
        let line = make();
        let line = match &self.function_name {
            Some(name) => metrics::with_function(line, name),
            None => line,
        };
        self.metrics.emit(&line);
    }

    /// The same context with another metrics sink.
    pub fn with_metrics(mut self, metrics: MetricsSink) -> Self {
        self.metrics = metrics;
        self
    }

    /// Emits the `PolicyFetchFailed` metric (a failed or rejected read of
    /// the published policy).
    pub fn emit_policy_fetch_failed(&self, now: i64) {
        self.emit(|| metrics::policy_fetch_failed_emf(now.saturating_mul(1000)));
    }

    /// Store failures seen by this instance since it started.
    pub fn store_errors(&self) -> u64 {
        self.store_errors.load(Ordering::Relaxed)
    }
}

/// A trigger failure as Lambda reports it: `errorType` and `errorMessage`.
/// Cognito shows the message to the client as
/// `CustomMessage failed with error <message>.`, so it is short and safe.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct TriggerError {
    pub error_type: &'static str,
    pub message: String,
}

impl TriggerError {
    fn malformed(what: impl Into<String>) -> Self {
        Self {
            error_type: "MalformedEvent",
            message: format!("MALFORMED_EVENT: {}", what.into()),
        }
    }

    fn blocked(code: String) -> Self {
        Self {
            error_type: "SmsBlocked",
            message: code,
        }
    }

    /// A PreSignUp refusal: never says why.
    fn sign_up_refused() -> Self {
        Self {
            error_type: "SignUpRefused",
            message: presignup::REFUSAL.into(),
        }
    }

    /// The answer to a CustomMessage decision: the block code at the
    /// policy's disclosure for a block, `None` (send it) otherwise.
    fn refusing(d: &Decision, disclosure: pumpguard_engine::policy::Disclosure) -> Option<Self> {
        (d.verdict == Verdict::Block).then(|| {
            Self::blocked(
                d.block_code(disclosure)
                    .unwrap_or_else(|| "SMS_BLOCKED".into()),
            )
        })
    }
}

impl From<TriggerError> for lambda_runtime::Diagnostic {
    fn from(e: TriggerError) -> Self {
        lambda_runtime::Diagnostic {
            error_type: e.error_type.to_string(),
            error_message: e.message,
        }
    }
}

/// The trigger families the Lambda is wired for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    CustomMessage(TriggerSource),
    /// PostConfirmation / PostAuthentication: proof a code was used.
    Verification,
    /// PreSignUp: a registration, before the user exists.
    PreSignUp(PreSignUpSource),
    /// A `CustomMessage_*` source this build does not know (a later Cognito
    /// release may add one): judged by the static guards, never passed.
    NewCustomMessage,
    Unknown,
}

fn family(source: &str) -> Family {
    if let Some(s) = TriggerSource::parse(source) {
        Family::CustomMessage(s)
    } else if source.starts_with("PostConfirmation_") || source.starts_with("PostAuthentication_") {
        Family::Verification
    } else if let Some(s) = PreSignUpSource::parse(source) {
        Family::PreSignUp(s)
    } else if source.starts_with("CustomMessage_") {
        Family::NewCustomMessage
    } else {
        Family::Unknown
    }
}

/// Handles one Cognito event with the given engine; `now` is Unix seconds.
pub async fn handle<S: Store>(
    engine: &Engine,
    ctx: &TriggerContext<S>,
    event: Value,
    now: i64,
) -> Result<Value, TriggerError> {
    handle_judged(engine, ctx, event, now).await.0
}

/// [`handle`], also returning the engine's decision when one was made (a
/// CustomMessage event for an SMS-bound source with a phone number); `None`
/// for every pass-through and error. Used by `pumpguard replay`.
pub async fn handle_judged<S: Store>(
    engine: &Engine,
    ctx: &TriggerContext<S>,
    event: Value,
    now: i64,
) -> (Result<Value, TriggerError>, Option<Decision>) {
    let given = Given::of(&event);
    handle_given(engine, ctx, event, now, &given, &mut None).await
}

/// An event with what the adapter works out from it before any state is
/// read: whether a CustomMessage event fits Cognito's shape, the number's
/// features and the user's keyed hash. Pure, so a caller that judges many
/// events (`pumpguard replay`) makes them on another thread and hands them
/// to [`handle_prepared`], which answers exactly as [`handle_judged`] does
/// on the event alone.
#[derive(Debug, Clone)]
pub struct Prepared {
    event: Value,
    keys: PhoneHasher,
    record: bool,
    given: Given,
}

/// What the adapter works out from an event before it reads any state.
/// Its fields are read once, on either path, so that every line after
/// reads the same values; what depends on the keys is used only under the
/// same keys and the same recording as the adapter's.
#[derive(Debug, Clone)]
struct Given {
    fields: Fields,
    /// For a known CustomMessage source: whether the event fits Cognito's
    /// shape, else the kind of error; `None` when not worked out yet.
    shape: Option<Result<(), serde_json::error::Category>>,
    /// What was worked out under the prepared keys, if they are the
    /// adapter's.
    keyed: Option<Keyed>,
}

/// What [`Prepared::of`] works out under its keys.
#[derive(Debug, Clone)]
struct Keyed {
    /// The features of `request.userAttributes.phone_number`, if a string.
    number: Option<Features>,
    /// The keyed hash of the user the event names ([`Fields`]'s `user`).
    user: Option<String>,
}

impl Given {
    /// Only the event's fields, as the Lambda path starts.
    fn of(event: &Value) -> Self {
        Self {
            fields: Fields::of(event),
            shape: None,
            keyed: None,
        }
    }
}

/// `request.userAttributes.phone_number`, told apart as the adapter does.
#[derive(Debug, Clone, PartialEq, Eq)]
enum PhoneField {
    /// Missing or `null`.
    Absent,
    Text(String),
    /// Of another type: judged as an invalid number (a verification event
    /// counts it as no phone).
    Other,
}

impl PhoneField {
    /// The number as judged: another type is judged as the empty string.
    fn judged(&self) -> Option<&str> {
        match self {
            PhoneField::Absent => None,
            PhoneField::Text(s) => Some(s),
            PhoneField::Other => Some(""),
        }
    }

    fn text(&self) -> Option<&str> {
        match self {
            PhoneField::Text(s) => Some(s),
            PhoneField::Absent | PhoneField::Other => None,
        }
    }
}

/// Everything the adapter reads from an event, read in one pass over it:
/// afterwards the event is only handed back (and, for a configured SMS
/// text, written to).
#[derive(Debug, Clone)]
struct Fields {
    /// `triggerSource`, if a string.
    source: Option<String>,
    /// Whether `request.userAttributes` is an object.
    attributes: bool,
    phone: PhoneField,
    /// `phone_number_verified` is `"true"` or `true`.
    phone_verified: bool,
    /// The user the event names: `request.userAttributes.sub`, else
    /// `userName`.
    user: Option<String>,
    /// `userPoolId`, or empty.
    pool: String,
    /// `request.codeParameter` and `request.usernameParameter`, if strings.
    code_parameter: Option<String>,
    username_parameter: Option<String>,
}

impl Fields {
    fn of(event: &Value) -> Self {
        let request = event.get("request");
        let attrs = request.and_then(|r| r.get("userAttributes"));
        let text = |v: Option<&Value>, name: &str| {
            v.and_then(|v| v.get(name))
                .and_then(Value::as_str)
                .map(str::to_string)
        };
        Self {
            source: text(Some(event), "triggerSource"),
            attributes: attrs.is_some_and(Value::is_object),
            phone: match attrs.and_then(|a| a.get("phone_number")) {
                None | Some(Value::Null) => PhoneField::Absent,
                Some(Value::String(s)) => PhoneField::Text(s.clone()),
                Some(_) => PhoneField::Other,
            },
            phone_verified: attrs
                .and_then(|a| a.get("phone_number_verified"))
                .is_some_and(|v| v.as_str() == Some("true") || v.as_bool() == Some(true)),
            user: text(attrs, "sub").or_else(|| text(Some(event), "userName")),
            pool: text(Some(event), "userPoolId").unwrap_or_default(),
            code_parameter: text(request, "codeParameter"),
            username_parameter: text(request, "usernameParameter"),
        }
    }
}

impl Prepared {
    /// Works out what the adapter would from `event` with `store_keys`
    /// (`record`: whether it records, [`TriggerContext::records`]).
    pub fn of(policy: &Policy, store_keys: &PhoneHasher, record: bool, event: Value) -> Self {
        Self::made(store_keys, record, event, |phone| {
            Features::keyed(phone, policy, store_keys, record)
        })
    }

    /// [`Prepared::of`] under `memo`'s policy, keys and recording, with the
    /// number's features from `memo`.
    pub fn of_memo(memo: &mut KeyedMemo, event: Value) -> Self {
        let (keys, record) = (memo.keys().clone(), memo.record());
        Self::made(&keys, record, event, |phone| memo.features(phone))
    }

    /// `number(phone)` is the number's `Features::keyed` under `store_keys`
    /// and `record`.
    fn made(
        store_keys: &PhoneHasher,
        record: bool,
        event: Value,
        number: impl FnOnce(&str) -> Features,
    ) -> Self {
        let fields = Fields::of(&event);
        let shape = fields
            .source
            .as_deref()
            .and_then(TriggerSource::parse)
            .map(|_| custom_message_shape(&event));
        let number = fields.phone.text().map(number);
        let user = fields.user.as_deref().map(|u| store_keys.hash_text(u));
        Self {
            event,
            keys: store_keys.clone(),
            record,
            given: Given {
                fields,
                shape,
                keyed: Some(Keyed { number, user }),
            },
        }
    }

    /// The event it was made from.
    pub fn event(&self) -> &Value {
        &self.event
    }
}

/// Whether a CustomMessage event fits Cognito's shape (the typed
/// `aws_lambda_events` struct), else the kind of error: serde's message
/// can quote a value (a phone number), so only its kind is kept.
fn custom_message_shape(event: &Value) -> Result<(), serde_json::error::Category> {
    CognitoEventUserPoolsCustomMessage::deserialize(event)
        .map(drop)
        .map_err(|e| e.classify())
}

/// The features of `phone`, the event's phone number: `given`'s when it
/// has them (the number was a string), else worked out here.
fn features<'g, S>(
    ctx: &TriggerContext<S>,
    policy: &Policy,
    phone: &str,
    recording: bool,
    given: &'g Given,
) -> Cow<'g, Features> {
    match given.keyed.as_ref().and_then(|k| k.number.as_ref()) {
        Some(number) => Cow::Borrowed(number),
        None => Cow::Owned(Features::keyed(phone, policy, &ctx.store_keys, recording)),
    }
}

/// The keyed hash of the user the event names: `given`'s, else worked out
/// here.
fn user_hash<'g, S>(ctx: &TriggerContext<S>, given: &'g Given) -> Option<Cow<'g, str>> {
    match given.keyed.as_ref() {
        Some(k) => k.user.as_deref().map(Cow::Borrowed),
        None => given
            .fields
            .user
            .as_deref()
            .map(|u| Cow::Owned(ctx.store_keys.hash_text(u))),
    }
}

/// What [`handle_prepared`] is done with: what was prepared, and the event
/// when it is not the answer (a refused one). Only dropped, by a caller
/// that prepares on one thread and judges on another where it was made,
/// which is cheaper for the allocator and off the judging thread.
#[derive(Debug)]
pub struct Spent {
    _given: Given,
    _event: Option<Value>,
}

/// [`handle_judged`] on a [`Prepared`] event: the same answer and the same
/// decision, with what was prepared used when it was made under the
/// adapter's keys and recording; and what the adapter is done with.
pub async fn handle_prepared<S: Store>(
    engine: &Engine,
    ctx: &TriggerContext<S>,
    prepared: Prepared,
    now: i64,
) -> (Result<Value, TriggerError>, Option<Decision>, Spent) {
    let Prepared {
        event,
        keys,
        record,
        mut given,
    } = prepared;
    if !(keys.same_key(&ctx.store_keys) && record == ctx.records(engine)) {
        given.keyed = None;
    }
    let mut unused = None;
    let (answer, decision) = handle_given(engine, ctx, event, now, &given, &mut unused).await;
    let spent = Spent {
        _given: given,
        _event: unused,
    };
    (answer, decision, spent)
}

/// `unused` is given the event when it is not the answer.
async fn handle_given<S: Store>(
    engine: &Engine,
    ctx: &TriggerContext<S>,
    event: Value,
    now: i64,
    given: &Given,
    unused: &mut Option<Value>,
) -> (Result<Value, TriggerError>, Option<Decision>) {
    let started = Instant::now();
    let Some(source) = given.fields.source.as_deref() else {
        tracing::warn!(
            target: "pumpguard::decision",
            outcome = "malformed",
            "event has no triggerSource string"
        );
        return (
            Err(TriggerError::malformed("the event has no triggerSource")),
            None,
        );
    };
    let result = match family(source) {
        Family::Verification => {
            verification(engine, ctx, source, now, started, given).await;
            Ok(event)
        }
        Family::NewCustomMessage => {
            return new_custom_message(engine, ctx, source, event, now, started, given, unused);
        }
        Family::PreSignUp(kind) => {
            pre_sign_up(engine, ctx, kind, event, now, started, given, unused).await
        }
        Family::Unknown => match engine.policy().trigger.unknown_source {
            UnknownSource::Pass => {
                let shown = loggable_source(source);
                tracing::warn!(
                    target: "pumpguard::decision",
                    outcome = "pass",
                    why = "unknown-trigger-source",
                    trigger_source = %shown,
                    latency_us = elapsed_us(started),
                    "unknown trigger source passed through"
                );
                Ok(event)
            }
            UnknownSource::Block => {
                tracing::warn!(
                    target: "pumpguard::decision",
                    outcome = "block",
                    why = "unknown-trigger-source",
                    latency_us = elapsed_us(started),
                    "unknown trigger source blocked"
                );
                Err(TriggerError::blocked("SMS_BLOCKED".into()))
            }
        },
        Family::CustomMessage(src) => {
            return custom_message(engine, ctx, src, event, now, started, given, unused).await;
        }
    };
    (result, None)
}

/// Replays one [`Record`]: what [`handle_judged`] did with the event it was
/// written for, on the record's features, with the same answer (`Ok` for an
/// event that would go back to Cognito) and the same decision. Writes no log
/// line and no metric. The caller checks first that the record has what
/// the policy's guards need ([`Features::missing_for`]).
pub async fn handle_record<S: Store>(
    engine: &Engine,
    ctx: &TriggerContext<S>,
    r: &Record,
) -> (Result<(), TriggerError>, Option<Decision>) {
    let policy = engine.policy();
    let now = r.at;
    match family(&r.source) {
        Family::Verification => {
            let completion = CompletionCase {
                number: &r.number,
                user: r.user.as_deref(),
                kind: pumpguard_engine::guards::known::Completion::parse(&r.source, r.verified),
            };
            let _ = stateful::verified_case(engine, &ctx.store, completion, now).await;
            (Ok(()), None)
        }
        Family::NewCustomMessage => {
            let d = engine.decide_features(TriggerSource::SignUp, &r.number);
            let answer = TriggerError::refusing(&d, policy.trigger.disclosure).map_or(Ok(()), Err);
            (answer, Some(d))
        }
        Family::PreSignUp(kind) => {
            if policy.effective(policy.pre_sign_up.mode) == Mode::Off {
                return (Ok(()), None);
            }
            let d = presignup::judge_features(engine, &ctx.store, kind, &r.number, now).await;
            match d.verdict {
                Verdict::Block => (Err(TriggerError::sign_up_refused()), None),
                Verdict::Allow | Verdict::Monitor => (Ok(()), None),
            }
        }
        Family::Unknown => match policy.trigger.unknown_source {
            UnknownSource::Pass => (Ok(()), None),
            UnknownSource::Block => (Err(TriggerError::blocked("SMS_BLOCKED".into())), None),
        },
        Family::CustomMessage(source) => {
            if !policy.trigger.sms_sources.contains(&source) {
                return (Ok(()), None);
            }
            let case = Case {
                source,
                number: &r.number,
                user: r.user.as_deref(),
                now,
            };
            let d = stateful::judge_case(engine, &ctx.store, case).await;
            let answer = TriggerError::refusing(&d, policy.trigger.disclosure).map_or(Ok(()), Err);
            (answer, Some(d))
        }
    }
}

/// A `CustomMessage_*` source this build does not know: the static guards
/// (country, number type, form) decide; the stateful ones, whose limits are
/// per source, are not run. No phone number: passed, as for known sources.
// The adapter's own steps: every argument is one the caller holds already.
#[allow(clippy::too_many_arguments)]
fn new_custom_message<S: Store>(
    engine: &Engine,
    ctx: &TriggerContext<S>,
    source: &str,
    event: Value,
    now: i64,
    started: Instant,
    given: &Given,
    unused: &mut Option<Value>,
) -> (Result<Value, TriggerError>, Option<Decision>) {
    let Some(phone) = given.fields.phone.judged() else {
        log_pass(source, "no-phone-number", started);
        return (Ok(event), None);
    };
    // The source only names the decision; static guards do not depend on it.
    let recording = ctx.records(engine);
    let number = features(ctx, engine.policy(), phone, recording, given);
    let decision = engine.decide_features(TriggerSource::SignUp, &number);
    let policy = engine.policy();
    let record = recording.then(|| record(loggable_source(source), &number, None, false, now));
    tracing::info!(
        target: "pumpguard::decision",
        outcome = %decision.verdict,
        verdict = %decision.verdict,
        why = "new-custom-message-source",
        reasons = %decision.reasons().join(","),
        trigger_source = loggable_source(source),
        country = decision.country.as_ref().map_or("unknown", |c| c.as_str()),
        phone_hash = %ctx.log_hasher.hash(phone),
        policy = &policy.digest[..12],
        latency_us = elapsed_us(started),
        record = record.as_deref(),
        "decision"
    );
    emit_decision(ctx, engine, &decision, &given.fields.pool, now, started);
    match TriggerError::refusing(&decision, policy.trigger.disclosure) {
        Some(refusal) => {
            *unused = Some(event);
            (Err(refusal), Some(decision))
        }
        None => (Ok(event), Some(decision)),
    }
}

/// PreSignUp: the registration's phone number judged before the user exists
/// ([`presignup`]). Never says why it refused.
// The adapter's own steps: every argument is one the caller holds already.
#[allow(clippy::too_many_arguments)]
async fn pre_sign_up<S: Store>(
    engine: &Engine,
    ctx: &TriggerContext<S>,
    kind: PreSignUpSource,
    event: Value,
    now: i64,
    started: Instant,
    given: &Given,
    unused: &mut Option<Value>,
) -> Result<Value, TriggerError> {
    let source = kind.as_str();
    let policy = engine.policy();
    if policy.effective(policy.pre_sign_up.mode) == Mode::Off {
        log_pass(source, "pre-sign-up-off", started);
        return Ok(event);
    }
    if !given.fields.attributes {
        tracing::warn!(
            target: "pumpguard::decision",
            outcome = "malformed",
            trigger_source = source,
            "PreSignUp event has no request.userAttributes object"
        );
        return Err(TriggerError::malformed(format!(
            "the {source} event has no request.userAttributes object"
        )));
    }
    let pool = &given.fields.pool;
    let verdict = match given.fields.phone.judged() {
        None => {
            let verdict = presignup::refuses_missing_phone(engine);
            tracing::info!(
                target: "pumpguard::decision",
                outcome = %verdict,
                verdict = %verdict,
                why = "no-phone-number",
                trigger_source = source,
                policy = &policy.digest[..12],
                latency_us = elapsed_us(started),
                "pre-sign-up"
            );
            verdict
        }
        Some(phone) => {
            // A phone_number that is not a string is judged as an invalid number.
            let recording = ctx.records(engine);
            let number = features(ctx, policy, phone, recording, given);
            let d = presignup::judge_features(engine, &ctx.store, kind, &number, now).await;
            let record = recording.then(|| record(source, &number, None, false, now));
            if d.store_error {
                ctx.store_errors.fetch_add(1, Ordering::Relaxed);
            }
            tracing::info!(
                target: "pumpguard::decision",
                outcome = %d.verdict,
                verdict = %d.verdict,
                reasons = %d.reasons().join(","),
                trigger_source = source,
                country = d.country.as_ref().map_or("unknown", |c| c.as_str()),
                number_type = d.number_type.map_or("unparsable", |t| t.as_str()),
                phone_hash = %ctx.log_hasher.hash(phone),
                known = d.known,
                exempt = d.exempt,
                store_error = d.store_error,
                store_errors_total = ctx.store_errors(),
                policy = &policy.digest[..12],
                user_pool_id = %pool,
                latency_us = elapsed_us(started),
                record = record.as_deref(),
                "pre-sign-up"
            );
            d.verdict
        }
    };
    ctx.emit(|| {
        metrics::pre_sign_up_emf(
            verdict == Verdict::Block,
            verdict == Verdict::Monitor,
            now.saturating_mul(1000),
            pool,
        )
    });
    match verdict {
        Verdict::Block => {
            *unused = Some(event);
            Err(TriggerError::sign_up_refused())
        }
        Verdict::Allow | Verdict::Monitor => Ok(event),
    }
}

/// PostConfirmation / PostAuthentication: never blocks, whatever happens.
async fn verification<S: Store>(
    engine: &Engine,
    ctx: &TriggerContext<S>,
    source: &str,
    now: i64,
    started: Instant,
    given: &Given,
) {
    let Some(phone) = given.fields.phone.text() else {
        log_pass(source, "verification-without-phone", started);
        return;
    };
    let phone_verified = given.fields.phone_verified;
    let recording = ctx.records(engine);
    let number = features(ctx, engine.policy(), phone, recording, given);
    let user = user_hash(ctx, given);
    let completion = CompletionCase {
        number: &number,
        user: user.as_deref(),
        kind: pumpguard_engine::guards::known::Completion::parse(source, phone_verified),
    };
    let outcome = stateful::verified_case(engine, &ctx.store, completion, now).await;
    let record = recording.then(|| {
        record(
            loggable_source(source),
            &number,
            user.as_deref(),
            phone_verified,
            now,
        )
    });
    let (recorded, store_error) = match &outcome {
        Ok(v) => (*v, false),
        Err(_) => (false, true),
    };
    if store_error {
        ctx.store_errors.fetch_add(1, Ordering::Relaxed);
    }
    tracing::info!(
        target: "pumpguard::decision",
        outcome = "pass",
        why = "verification-trigger",
        trigger_source = loggable_source(source),
        verification_recorded = recorded,
        store_error,
        store_errors_total = ctx.store_errors(),
        phone_hash = %ctx.log_hasher.hash(phone),
        latency_us = elapsed_us(started),
        record = record.as_deref(),
        "verification"
    );
    let pool = &given.fields.pool;
    ctx.emit(|| metrics::verification_emf(recorded, store_error, now.saturating_mul(1000), pool));
}

// The adapter's own steps: every argument is one the caller holds already.
#[allow(clippy::too_many_arguments)]
async fn custom_message<S: Store>(
    engine: &Engine,
    ctx: &TriggerContext<S>,
    source: TriggerSource,
    mut event: Value,
    now: i64,
    started: Instant,
    given: &Given,
    unused: &mut Option<Value>,
) -> (Result<Value, TriggerError>, Option<Decision>) {
    let shape = match given.shape {
        Some(shape) => shape,
        None => custom_message_shape(&event),
    };
    if let Err(category) = shape {
        tracing::warn!(
            target: "pumpguard::decision",
            outcome = "malformed",
            trigger_source = source.as_str(),
            "CustomMessage event does not match Cognito's shape"
        );
        return (
            Err(TriggerError::malformed(format!(
                "the {source} event does not match Cognito's shape ({category:?} error)"
            ))),
            None,
        );
    }
    let policy = engine.policy();
    // A phone_number that is not a string is judged as an invalid number.
    let Some(phone) = given.fields.phone.judged() else {
        log_pass(source.as_str(), "no-phone-number", started);
        return (Ok(event), None);
    };
    if !policy.trigger.sms_sources.contains(&source) {
        log_pass(source.as_str(), "not-an-sms-source", started);
        return (Ok(event), None);
    }

    let recording = ctx.records(engine);
    let number = features(ctx, policy, phone, recording, given);
    let user = user_hash(ctx, given);
    let case = Case {
        source,
        number: &number,
        user: user.as_deref(),
        now,
    };
    let decision = stateful::judge_case(engine, &ctx.store, case).await;
    let record = recording.then(|| record(source.as_str(), &number, user.as_deref(), false, now));
    if decision.store_error {
        ctx.store_errors.fetch_add(1, Ordering::Relaxed);
    }
    let refusal = TriggerError::refusing(&decision, policy.trigger.disclosure);
    tracing::info!(
        target: "pumpguard::decision",
        outcome = %decision.verdict,
        verdict = %decision.verdict,
        reasons = %decision.reasons().join(","),
        trigger_source = source.as_str(),
        country = decision.country.as_ref().map_or("unknown", |c| c.as_str()),
        number_type = decision.number_type.map_or("unparsable", |t| t.as_str()),
        phone_hash = %ctx.log_hasher.hash(phone),
        retry_after = decision.retry_after(),
        // Present only when an enforcing guard is held at monitor by
        // `[trigger] mode`: what enforcing would block.
        would_block = decision.would_block().then_some(true),
        exempt = decision.exempt,
        store_error = decision.store_error,
        store_errors_total = ctx.store_errors(),
        cost_micro_usd = decision.cost_micro_usd,
        policy = &policy.digest[..12],
        user_pool_id = given.fields.pool.as_str(),
        latency_us = elapsed_us(started),
        record = record.as_deref(),
        "decision"
    );
    emit_decision(ctx, engine, &decision, &given.fields.pool, now, started);
    if let Some(refusal) = refusal {
        *unused = Some(event);
        return (Err(refusal), Some(decision));
    }
    if let Some(template) = &policy.trigger.sms_message {
        set_sms_message(&mut event, &given.fields, template, source);
    }
    (Ok(event), Some(decision))
}

/// Puts the policy's SMS text into `response.smsMessage`. AdminCreateUser
/// messages must also carry `{username}`, so a template without it is not
/// used there.
fn set_sms_message(event: &mut Value, fields: &Fields, template: &str, source: TriggerSource) {
    if source == TriggerSource::AdminCreateUser && !template.contains("{username}") {
        return;
    }
    // The event fits Cognito's shape: each is a string or absent.
    let code = fields.code_parameter.as_deref().unwrap_or("{####}");
    let mut text = template.replace("{####}", code);
    if let Some(user) = &fields.username_parameter {
        text = text.replace("{username}", user);
    }
    if let Some(obj) = event.as_object_mut() {
        let response = obj
            .entry("response")
            .or_insert_with(|| Value::Object(Default::default()));
        if !response.is_object() {
            *response = Value::Object(Default::default());
        }
        if let Some(r) = response.as_object_mut() {
            r.insert("smsMessage".into(), Value::String(text));
        }
    }
}

impl<S> TriggerContext<S> {
    /// Whether this event's log line carries its record (and what
    /// [`Prepared::of`] is given): `[trigger] record` is on and the hash key
    /// is configured. Without a configured key the table's hashes are under
    /// a public key, which a record must never carry (a phone number's hash
    /// under a known key is reversed by trying every number), so no record
    /// is written and the instance says so once.
    pub fn records(&self, engine: &Engine) -> bool {
        static WARNED: std::sync::Once = std::sync::Once::new();
        if !engine.policy().trigger.record {
            return false;
        }
        if !self.store_keys.is_configured() {
            WARNED.call_once(|| {
                tracing::warn!(
                    target: "pumpguard::config",
                    "[trigger] record is on but PUMPGUARD_PHONE_HASH_KEY is unset: no records are \
                     written (set the key to record)"
                );
            });
            return false;
        }
        true
    }
}

/// The record of one event, as one JSON string for its log line.
fn record(source: &str, number: &Features, user: Option<&str>, verified: bool, now: i64) -> String {
    Record {
        v: RECORD_VERSION,
        at: now,
        source: source.to_string(),
        user: user.map(str::to_string),
        verified,
        number: number.clone(),
    }
    .to_json()
}

/// A trigger source name as logged: Cognito's names are letters and
/// underscores. Anything else (the name is not checked against a list for
/// verification and unknown sources) is not written to the log, so that no
/// value from an event, such as a phone number, can reach it.
fn loggable_source(source: &str) -> &str {
    if !source.is_empty()
        && source.len() <= 64
        && source.chars().all(|c| c.is_ascii_alphabetic() || c == '_')
    {
        source
    } else {
        "(not a trigger source name)"
    }
}

/// The decision's EMF line.
fn emit_decision<S>(
    ctx: &TriggerContext<S>,
    engine: &Engine,
    decision: &Decision,
    pool: &str,
    now: i64,
    started: Instant,
) {
    let policy = engine.policy();
    for e in &decision.cohort_events {
        // "GB: throttled, conversion 4% against 91%": a state change, once.
        tracing::warn!(
            target: "pumpguard::cohort",
            cohort = %e.cohort,
            state = e.state,
            conversion_permille = e.conversion_permille,
            baseline_permille = e.baseline_permille,
            due_codes = e.due,
            "{}: {}, conversion {}% against {}%",
            e.cohort,
            e.state,
            e.conversion_permille / 10,
            e.baseline_permille / 10
        );
        ctx.emit(|| metrics::cohort_emf(e, now.saturating_mul(1000), pool));
    }
    ctx.emit(|| {
        metrics::decision_emf(
            decision,
            |c| policy.countries.lists(c),
            elapsed_us(started),
            now.saturating_mul(1000),
            pool,
            ctx.store_errors(),
        )
    });
}

fn log_pass(source: &str, why: &'static str, started: Instant) {
    tracing::info!(
        target: "pumpguard::decision",
        outcome = "pass",
        why,
        trigger_source = loggable_source(source),
        latency_us = elapsed_us(started),
        "passed through"
    );
}

/// Microseconds since `started`, for the log lines' `latency_us`.
pub(crate) fn elapsed_us(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX)
}
