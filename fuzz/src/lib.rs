//! Shared pieces of the fuzz targets: the policies the trigger runs under,
//! a runtime, and the invariants every handled event must keep.

use std::sync::{Arc, OnceLock};

use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::store::MemoryStore;
use pumpguard_trigger::trigger::{handle_judged, TriggerContext, TriggerError};
use pumpguard_engine::{Decision, Engine, Policy};
use serde_json::Value;

/// A fixed "now" (2026-11-22) for targets that do not choose the time.
pub const T: i64 = 1_795_262_400;

/// The policies the event targets run under, picked by one input byte.
const POLICIES: &[&str] = &[
    // 0: the example policy, every guard on.
    "",
    // 1: monitor ceiling, SMS text rewritten, unknown sources blocked, detailed codes.
    "[trigger]\nmode = \"monitor\"\nunknown-source = \"block\"\ndisclosure = \"detailed\"\n\
     sms-message = \"Code {####} for {username}\"\n\
     [countries]\nallow = [\"US\", \"GB\"]\ncrown-dependencies = \"as-gb\"\n",
    // 2: tight limits, jitter, fail-closed, generic codes, AdminCreateUser exempt.
    "[trigger]\ndisclosure = \"generic\"\nsms-message = \"Your code is {####}\"\n\
     sms-sources = [\"CustomMessage_SignUp\", \"CustomMessage_ResendCode\", \"CustomMessage_AdminCreateUser\"]\n\
     [countries]\nallow = [\"US\", \"CA\", \"JM\"]\nunlisted = \"monitor\"\ncrown-dependencies = \"separate\"\n\
     [state]\non-store-error = \"fail-closed\"\n\
     [cooldown]\nladder-seconds = [1, 5, 120]\nreset-after-seconds = 200\njitter-percent = 50\n\
     [user-limits]\nmax-phones-per-day = 1\nmax-sends-per-hour = 2\n\
     [prefix-velocity]\nhidden-digits = 6\nwindow-seconds = 60\nmax-sends = 2\n\
     [pool-rate]\nmode = \"enforce\"\nmax-per-minute = 3\nmax-per-hour = 5\n\
     [budget]\nmode = \"enforce\"\ndaily-usd = 0.05\nmonthly-usd = 0.1\nwhen-exhausted = \"core-only\"\ncore-countries = [\"US\"]\n\
     [exemptions]\nadmin-create-user = true\nallow-numbers = [\"+14155552671\"]\n",
    // 3: the built-in baseline (what runs when the bootstrap policy is unusable).
    pumpguard_engine::published::BASELINE_POLICY,
];

/// The engines for [`POLICIES`], parsed once.
pub fn engines() -> &'static [Arc<Engine>] {
    static ENGINES: OnceLock<Vec<Arc<Engine>>> = OnceLock::new();
    ENGINES.get_or_init(|| {
        POLICIES
            .iter()
            .map(|text| {
                let policy = if text.is_empty() {
                    Policy::example()
                } else {
                    Policy::parse(text, "fuzz").unwrap_or_else(|e| panic!("fuzz policy: {e}"))
                };
                Arc::new(Engine::new(Arc::new(policy)))
            })
            .collect()
    })
}

/// One engine by index (wrapping).
pub fn engine(i: u8) -> Arc<Engine> {
    let all = engines();
    all[usize::from(i) % all.len()].clone()
}

/// A single-threaded runtime with a timer (the stateful phase has a timeout).
pub fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap_or_else(|e| panic!("runtime: {e}"))
    })
}

/// A fresh in-memory trigger context.
pub fn context() -> TriggerContext<MemoryStore> {
    let keys = PhoneHasher::new(b"fuzz-key-0123456789").unwrap_or_else(PhoneHasher::unkeyed);
    TriggerContext::new(MemoryStore::new(), keys.clone(), keys)
}

/// Runs one event through the real adapter and checks the invariants.
pub fn handle_and_check(
    engine: &Engine,
    ctx: &TriggerContext<MemoryStore>,
    event: Value,
    now: i64,
) -> (Result<Value, TriggerError>, Option<Decision>) {
    let input = event.clone();
    let out = runtime().block_on(handle_judged(engine, ctx, event, now));
    check(&input, &out.0, engine);
    out
}

/// The longest run of ASCII digits in `s`.
fn digit_runs(s: &str) -> Vec<&str> {
    s.split(|c: char| !c.is_ascii_digit())
        .filter(|r| r.len() >= 7)
        .collect()
}

/// What every answer must satisfy, whatever the event.
pub fn check(input: &Value, result: &Result<Value, TriggerError>, engine: &Engine) {
    match result {
        Ok(out) => {
            // An event goes back as it came, except `response.smsMessage`
            // when the policy sets the SMS text.
            if engine.policy().trigger.sms_message.is_none() {
                assert_eq!(out, input, "an allowed event must come back unchanged");
            } else {
                let strip = |v: &Value| {
                    let mut v = v.clone();
                    if let Some(o) = v.as_object_mut() {
                        o.remove("response");
                    }
                    v
                };
                assert_eq!(strip(out), strip(input), "only the response may change");
                if out.get("response") != input.get("response") {
                    let sms = out.pointer("/response/smsMessage").and_then(Value::as_str);
                    assert!(sms.is_some(), "a changed response carries smsMessage");
                }
            }
        }
        Err(e) => {
            match e.error_type {
                "MalformedEvent" => assert!(e.message.starts_with("MALFORMED_EVENT: ")),
                "SmsBlocked" => assert!(
                    ["SMS_BLOCKED", "SMS_UNAVAILABLE", "RATE_LIMITED"]
                        .iter()
                        .any(|p| e.message.starts_with(p)),
                    "unexpected block code {:?}",
                    e.message
                ),
                other => panic!("unexpected error type {other}"),
            }
            // The message goes to the client: it never quotes the number.
            let phone = input
                .pointer("/request/userAttributes/phone_number")
                .and_then(Value::as_str)
                .unwrap_or("");
            for run in digit_runs(phone) {
                assert!(
                    !e.message.contains(run),
                    "the error message quotes the number"
                );
            }
            assert!(e.message.len() <= 200, "error message too long");
        }
    }
}
