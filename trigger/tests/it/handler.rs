//! Behaviour of the Cognito trigger adapter, driven by real-shaped events.
//!
//! `custommessage-sample.json` and the Post* samples are the sample events
//! shipped by aws-lambda-rust-runtime (`lambda-events/src/fixtures`); the other
//! fixtures are CustomMessage events as Cognito sends them, one per case. Each
//! test goes through `trigger::handle`, the function the Lambda binary calls.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::sync::Arc;

use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::store::MemoryStore;
use pumpguard_engine::{Engine, Policy, TriggerSource};
use pumpguard_trigger::trigger::{handle, TriggerContext, TriggerError};
use serde_json::{json, Value};

fn fixture(name: &str) -> Value {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn engine_with(extra: &str) -> Engine {
    let text = format!(
        "{extra}\n[countries]\nallow = [\"US\", \"CA\", \"GB\"]\ncrown-dependencies = \"separate\"\n"
    );
    let policy = Policy::parse(&text, "test").unwrap_or_else(|e| panic!("{e}"));
    Engine::new(Arc::new(policy))
}

/// The example policy at `coarse` disclosure, so that an answer names the
/// guard that refused (the example itself answers `SMS_BLOCKED`).
fn example() -> Engine {
    let text = pumpguard_engine::policy::EXAMPLE_POLICY
        .replace("disclosure = \"generic\"", "disclosure = \"coarse\"");
    Engine::new(Arc::new(
        Policy::parse(&text, "example").unwrap_or_else(|e| panic!("{e}")),
    ))
}

fn hasher() -> PhoneHasher {
    PhoneHasher::new(b"test-key-0123456789").expect("key")
}

/// A fixed clock: 2026-11-21T12:00:00Z.
const NOW: i64 = 1_795_262_400;

/// One event through the adapter, with a fresh in-memory store.
fn run(engine: &Engine, event: Value) -> Result<Value, TriggerError> {
    let ctx = TriggerContext::new(MemoryStore::new(), hasher(), hasher());
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime")
        .block_on(handle(engine, &ctx, event, NOW))
}

fn with_source(mut event: Value, source: &str, phone: &str) -> Value {
    event["triggerSource"] = json!(source);
    event["request"]["userAttributes"]["phone_number"] = json!(phone);
    event
}

fn blocked(r: Result<Value, TriggerError>) -> TriggerError {
    match r {
        Ok(v) => panic!("expected a block, got {v}"),
        Err(e) => e,
    }
}

#[test]
fn real_sample_event_without_phone_passes_untouched() {
    let event = fixture("custommessage-sample.json");
    let out = run(&example(), event.clone()).expect("pass");
    assert_eq!(out, event);
}

#[test]
fn real_sample_event_with_a_jamaican_number_is_blocked() {
    let mut event = fixture("custommessage-sample.json");
    event["request"]["userAttributes"]["phone_number"] = json!("+18762101234");
    let e = blocked(run(&example(), event));
    assert_eq!(e.error_type, "SmsBlocked");
    assert_eq!(e.message, "SMS_BLOCKED_COUNTRY");
}

#[test]
fn every_custom_message_source_is_judged() {
    let base = fixture("signup-allow.json");
    for source in TriggerSource::ALL {
        let allowed = with_source(base.clone(), source.as_str(), "+14155552671");
        let out = run(&example(), allowed.clone()).unwrap_or_else(|e| panic!("{source}: {e}"));
        assert_eq!(
            out, allowed,
            "{source}: an allowed event comes back unchanged"
        );

        let premium = with_source(base.clone(), source.as_str(), "+19002345678");
        let e = blocked(run(&example(), premium));
        assert_eq!(e.message, "SMS_BLOCKED_NUMBER", "{source}");

        let jm = with_source(base.clone(), source.as_str(), "+1 876 210 1234");
        let e = blocked(run(&example(), jm));
        assert_eq!(e.message, "SMS_BLOCKED_COUNTRY", "{source}");
    }
}

#[test]
fn fixtures_used_by_the_lambda_end_to_end_test() {
    let e = example();
    let allow = fixture("signup-allow.json");
    assert_eq!(run(&e, allow.clone()).expect("allow"), allow);
    assert_eq!(
        blocked(run(&e, fixture("resend-block-jamaica.json"))).message,
        "SMS_BLOCKED_COUNTRY"
    );
    assert_eq!(
        blocked(run(&e, fixture("forgot-block-premium.json"))).message,
        "SMS_BLOCKED_NUMBER"
    );
    let unknown = fixture("unknown-source.json");
    assert_eq!(run(&e, unknown.clone()).expect("pass"), unknown);
    assert_eq!(
        blocked(run(&e, fixture("new-custom-message-source.json"))).message,
        "SMS_BLOCKED_COUNTRY"
    );
}

#[test]
fn a_custom_message_source_this_build_does_not_know_is_judged_not_passed() {
    // A later Cognito release may add a CustomMessage_* source: the static
    // guards judge it whatever `unknown-source` says.
    let event = fixture("new-custom-message-source.json");
    for policy in ["", "[trigger]\nunknown-source = \"pass\"\n"] {
        let e = engine_with(policy);
        let blocked_us = with_source(event.clone(), "CustomMessage_FutureSource", "+19002345678");
        assert!(run(&e, blocked_us).is_err(), "premium-rate is refused");
        let fine = with_source(event.clone(), "CustomMessage_FutureSource", "+14155552671");
        assert_eq!(run(&e, fine.clone()).expect("allowed"), fine);
    }
    let lines = logged(|| {
        let _ = run(&example(), fixture("new-custom-message-source.json"));
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["why"], "new-custom-message-source");
    assert_eq!(lines[0]["verdict"], "block");
    assert!(!lines[0].to_string().contains("8762101234"));
}

#[test]
fn sources_outside_sms_sources_pass_untouched() {
    let e = engine_with("[trigger]\nsms-sources = [\"CustomMessage_SignUp\"]\n");
    let forgot = with_source(
        fixture("signup-allow.json"),
        "CustomMessage_ForgotPassword",
        "+18762101234",
    );
    assert_eq!(run(&e, forgot.clone()).expect("pass"), forgot);
    let signup = with_source(forgot, "CustomMessage_SignUp", "+18762101234");
    assert!(run(&e, signup).is_err());
}

#[test]
fn verification_triggers_are_never_blocked() {
    for name in [
        "postconfirmation-sample.json",
        "postauthentication-sample.json",
    ] {
        let mut event = fixture(name);
        event["request"]["userAttributes"]["phone_number"] = json!("+19002345678");
        assert_eq!(run(&example(), event.clone()).expect(name), event);
    }
}

#[test]
fn unknown_source_follows_the_policy() {
    let event = fixture("unknown-source.json");
    assert_eq!(run(&engine_with(""), event.clone()).expect("pass"), event);
    let strict = engine_with("[trigger]\nunknown-source = \"block\"\n");
    let e = blocked(run(&strict, event));
    assert_eq!(e.message, "SMS_BLOCKED");
}

#[test]
fn malformed_events_get_a_clear_error_without_the_number() {
    let cases = [
        json!("not an object"),
        json!({}),
        json!({"triggerSource": 7}),
        json!({"triggerSource": "CustomMessage_SignUp", "request": "+18762101234"}),
        json!({"triggerSource": "CustomMessage_SignUp", "callerContext": {},
               "request": {"userAttributes": {"phone_number": "+18762101234"},
                           "codeParameter": ["+18762101234"]},
               "response": {}}),
    ];
    for event in cases {
        let e = run(&example(), event.clone()).expect_err("malformed");
        assert_eq!(e.error_type, "MalformedEvent", "{event}");
        assert!(e.message.starts_with("MALFORMED_EVENT: "), "{}", e.message);
        assert!(!e.message.contains("8762101234"), "{}", e.message);
    }
}

#[test]
fn a_non_string_phone_is_judged_invalid() {
    let mut event = fixture("signup-allow.json");
    event["request"]["userAttributes"]["phone_number"] = json!(14155552671u64);
    let e = blocked(run(&example(), event));
    assert_eq!(e.message, "SMS_BLOCKED_COUNTRY");
}

#[test]
fn configured_sms_message_keeps_the_code() {
    let e = engine_with("[trigger]\nsms-message = \"Your Example code is {####}\"\n");
    let out = run(&e, fixture("signup-allow.json")).expect("allow");
    assert_eq!(
        out["response"]["smsMessage"],
        json!("Your Example code is {####}")
    );
    // The rest of the event is untouched.
    let mut expected = fixture("signup-allow.json");
    expected["response"]["smsMessage"] = out["response"]["smsMessage"].clone();
    assert_eq!(out, expected);
    // AdminCreateUser needs {username} too: a template without it is not used.
    let admin = with_source(
        fixture("signup-allow.json"),
        "CustomMessage_AdminCreateUser",
        "+14155552671",
    );
    let out = run(&e, admin.clone()).expect("allow");
    assert_eq!(out, admin);
    // With {username}: the event's code and username parameters go in.
    let e = engine_with("[trigger]\nsms-message = \"Hi {username}, code {####}\"\n");
    let mut admin = admin;
    admin["request"]["codeParameter"] = json!("{##}");
    admin["request"]["usernameParameter"] = json!("{u}");
    let out = run(&e, admin).expect("allow");
    assert_eq!(out["response"]["smsMessage"], json!("Hi {u}, code {##}"));
}

#[test]
fn disclosure_levels() {
    let jm = fixture("resend-block-jamaica.json");
    let generic = engine_with("[trigger]\ndisclosure = \"generic\"\n");
    assert_eq!(blocked(run(&generic, jm.clone())).message, "SMS_BLOCKED");
    let shipped = Engine::new(Arc::new(Policy::example()));
    assert_eq!(blocked(run(&shipped, jm.clone())).message, "SMS_BLOCKED");
    let detailed = engine_with("[trigger]\ndisclosure = \"detailed\"\n");
    assert_eq!(
        blocked(run(&detailed, jm)).message,
        "SMS_BLOCKED_COUNTRY:COUNTRY_NOT_ALLOWED"
    );
}

#[test]
fn monitor_mode_sends_and_records() {
    let e = engine_with("[trigger]\nmode = \"monitor\"\n");
    let jm = fixture("resend-block-jamaica.json");
    assert_eq!(run(&e, jm.clone()).expect("monitor"), jm);
}

/// Runs `f` and returns the JSON log lines this thread wrote meanwhile.
fn logged(f: impl FnOnce()) -> Vec<Value> {
    crate::common::logs::thread_lines(f)
        .lines()
        .map(|l| serde_json::from_str(l).expect("json line"))
        .collect()
}

#[test]
fn one_json_log_line_per_decision_with_a_hash_not_the_number() {
    let h = hasher();
    let lines = logged(|| {
        let _ = run(&example(), fixture("resend-block-jamaica.json"));
    });
    assert_eq!(lines.len(), 1, "{lines:?}");
    let l = &lines[0];
    assert_eq!(l["verdict"], "block");
    assert_eq!(l["reasons"], "COUNTRY_NOT_ALLOWED");
    assert_eq!(l["trigger_source"], "CustomMessage_ResendCode");
    assert_eq!(l["country"], "JM");
    assert_eq!(l["number_type"], "mobile");
    assert_eq!(l["phone_hash"], json!(h.hash("+18762101234")));
    assert!(l["latency_us"].is_u64());
    let text = l.to_string();
    assert!(!text.contains("8762101234"), "{text}");

    for (name, why) in [
        ("custommessage-sample.json", "no-phone-number"),
        ("unknown-source.json", "unknown-trigger-source"),
    ] {
        let lines = logged(|| {
            let _ = run(&example(), fixture(name));
        });
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert_eq!(lines[0]["why"], why);
        assert!(!lines[0].to_string().contains("8762101234"));
    }
}

#[test]
fn every_decision_and_verification_emits_one_emf_line() {
    use pumpguard_trigger::trigger::MetricsSink;
    let ctx = TriggerContext::new(MemoryStore::new(), hasher(), hasher())
        .with_metrics(MetricsSink::Capture(Default::default()));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let e = example();
    let _ = rt.block_on(handle(&e, &ctx, fixture("resend-block-jamaica.json"), NOW));
    let _ = rt.block_on(handle(&e, &ctx, fixture("signup-allow.json"), NOW));
    let _ = rt.block_on(handle(
        &e,
        &ctx,
        fixture("postconfirmation-sample.json"),
        NOW,
    ));
    // No line for a pass-through.
    let _ = rt.block_on(handle(&e, &ctx, fixture("unknown-source.json"), NOW));
    // A CustomMessage source this build does not know is a decision.
    let _ = rt.block_on(handle(
        &e,
        &ctx,
        fixture("new-custom-message-source.json"),
        NOW,
    ));
    let lines: Vec<Value> = ctx
        .metrics
        .captured()
        .iter()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    assert_eq!(lines.len(), 4, "{lines:#?}");
    assert_eq!(lines[3]["Verdict"], "block");
    assert_eq!(
        lines[0]["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "pumpguard"
    );
    assert_eq!(lines[0]["_aws"]["Timestamp"], json!(NOW * 1000));
    assert_eq!(lines[0]["Verdict"], "block");
    assert_eq!(
        lines[0]["Country"], "OTHER",
        "JM is on no list of the example"
    );
    assert_eq!(lines[0]["Reason"], "COUNTRY_NOT_ALLOWED");
    assert_eq!(lines[1]["Verdict"], "allow");
    assert_eq!(lines[1]["Country"], "US");
    assert!(lines[1]["EstimatedSpendUSD"]
        .as_f64()
        .is_some_and(|v| v > 0.0));
    assert_eq!(lines[2]["Verifications"], 0);
    for l in &lines {
        assert!(!l.to_string().contains("8762101234") && !l.to_string().contains("4155552671"));
    }
}

/// Events prepared beforehand (`Prepared`, as `pumpguard replay` does on
/// its reader thread) get the answers and decisions the adapter gets on its
/// own, malformed ones included, and what was prepared under other keys or
/// another recording is not used: a phone's state stays under the
/// adapter's keys (its cooldown holds across events prepared either way).
#[test]
fn prepared_events_get_the_same_answers_and_use_only_what_fits() {
    use pumpguard_trigger::trigger::{handle_judged, handle_prepared, Prepared};
    let engine = example();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .expect("runtime");
    let phones = [
        "+14155552671",
        "+18762101234",
        "+19002345678",
        "+447700900123",
        "12",
    ];
    let sources = [
        "CustomMessage_SignUp",
        "CustomMessage_ResendCode",
        "CustomMessage_Authentication",
        "PostAuthentication_Authentication",
        "PreSignUp_SignUp",
        "CustomMessage_SomethingNew",
        "CustomMessage_ForgotPassword",
    ];
    let events: Vec<Value> = (0..70)
        .map(|i| {
            let source = sources[i % sources.len()];
            let base = if source.starts_with("Post") {
                fixture("postauthentication-sample.json")
            } else if source.starts_with("PreSignUp") {
                fixture("presignup-signup.json")
            } else {
                fixture("signup-allow.json")
            };
            let mut event = with_source(base, source, phones[i % phones.len()]);
            match i % 11 {
                // Not Cognito's shape.
                3 => event["callerContext"] = json!("none"),
                5 => event["request"]["codeParameter"] = json!(7),
                // The user named by `userName` alone.
                7 => {
                    if let Some(a) = event["request"]["userAttributes"].as_object_mut() {
                        a.remove("sub");
                    }
                }
                // A phone number that is not a string.
                9 => event["request"]["userAttributes"]["phone_number"] = json!(14155552671_i64),
                _ => {}
            }
            event
        })
        .collect();
    let own = TriggerContext::new(MemoryStore::new(), hasher(), hasher());
    let prepared = TriggerContext::new(MemoryStore::new(), hasher(), hasher());
    let other_keys = PhoneHasher::new(b"another-key-0123456789").expect("key");
    let policy = engine.policy();
    let mut malformed = 0;
    for (i, event) in events.iter().enumerate() {
        let now = NOW + i64::try_from(i).unwrap_or(0) * 7;
        let given = match i % 3 {
            0 => Prepared::of(policy, &prepared.store_keys, false, event.clone()),
            // Made for recording, which this adapter does not do.
            1 => Prepared::of(policy, &prepared.store_keys, true, event.clone()),
            // Under other keys: its state would be elsewhere.
            _ => Prepared::of(policy, &other_keys, false, event.clone()),
        };
        let a = rt.block_on(handle_judged(&engine, &own, event.clone(), now));
        let b = rt.block_on(handle_prepared(&engine, &prepared, given, now));
        assert_eq!(
            format!("{:?}", a.0),
            format!("{:?}", b.0),
            "event {i}: the same answer"
        );
        assert_eq!(
            a.1.map(|d| (d.verdict, d.reasons())),
            b.1.map(|d| (d.verdict, d.reasons())),
            "event {i}: the same decision"
        );
        malformed += usize::from(a.0.is_err_and(|e| e.error_type == "MalformedEvent"));
    }
    assert!(malformed >= 4, "{malformed} malformed events");
}
