//! The PreSignUp trigger: a registration refused before the user exists,
//! with one neutral answer whatever refused it, and nothing counted.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::sync::Arc;

use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::store::MemoryStore;
use pumpguard_engine::{Engine, Policy};
use pumpguard_trigger::trigger::{handle, MetricsSink, TriggerContext, TriggerError};
use serde_json::{json, Value};

/// 2026-11-21T12:00:00Z.
const NOW: i64 = 1_795_262_400;

fn fixture() -> Value {
    let path = format!(
        "{}/tests/fixtures/presignup-signup.json",
        env!("CARGO_MANIFEST_DIR")
    );
    serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
}

fn event(source: &str, phone: Option<&str>) -> Value {
    let mut e = fixture();
    e["triggerSource"] = json!(source);
    match phone {
        Some(p) => e["request"]["userAttributes"]["phone_number"] = json!(p),
        None => {
            e["request"]["userAttributes"]
                .as_object_mut()
                .unwrap()
                .remove("phone_number");
        }
    }
    e
}

/// The example policy at `detailed` disclosure: even then, a refused
/// registration says nothing about why.
fn engine(extra: &str) -> Engine {
    let mut example = pumpguard_engine::policy::EXAMPLE_POLICY
        .replace("disclosure = \"generic\"", "disclosure = \"detailed\"");
    // `extra` may bring its own `[pre-sign-up]`: drop the example's.
    if extra.contains("[pre-sign-up]") {
        let from = example.find("[pre-sign-up]").unwrap();
        let to = from + example[from..].find("\n[exemptions]").unwrap();
        example.replace_range(from..to, "");
    }
    let text = format!("{example}\n{extra}");
    Engine::new(Arc::new(
        Policy::parse(&text, "test").unwrap_or_else(|e| panic!("{e}")),
    ))
}

fn ctx() -> TriggerContext<MemoryStore> {
    let k = || PhoneHasher::new(b"test-key-0123456789").unwrap();
    TriggerContext::new(MemoryStore::new(), k(), k())
        .with_metrics(MetricsSink::Capture(std::sync::Mutex::new(Vec::new())))
}

fn rt() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap()
}

fn refused(r: Result<Value, TriggerError>) -> TriggerError {
    match r {
        Ok(v) => panic!("expected a refusal, got {v}"),
        Err(e) => e,
    }
}

#[test]
fn a_blocked_number_is_refused_with_a_neutral_message() {
    let e = engine("");
    let c = ctx();
    let rt = rt();
    // Jamaica (a blocked country), a premium-rate number and a malformed one:
    // three different guards, one answer.
    for phone in ["+18762101234", "+19002345678", "+1415"] {
        for source in [
            "PreSignUp_SignUp",
            "PreSignUp_AdminCreateUser",
            "PreSignUp_ExternalProvider",
        ] {
            let err = refused(rt.block_on(handle(&e, &c, event(source, Some(phone)), NOW)));
            assert_eq!(err.error_type, "SignUpRefused");
            assert_eq!(err.message, "SIGN_UP_REFUSED", "{source}");
        }
    }
}

#[test]
fn an_allowed_number_passes_untouched() {
    let e = engine("");
    let c = ctx();
    let ev = event("PreSignUp_SignUp", Some("+14155552671"));
    assert_eq!(rt().block_on(handle(&e, &c, ev.clone(), NOW)).unwrap(), ev);
}

#[test]
fn a_missing_number_follows_the_policy() {
    let c = ctx();
    let ev = event("PreSignUp_SignUp", None);
    let allow = engine("");
    assert_eq!(
        rt().block_on(handle(&allow, &c, ev.clone(), NOW)).unwrap(),
        ev
    );
    let strict = engine("[pre-sign-up]\nmissing-phone = \"refuse\"\n");
    let err = refused(rt().block_on(handle(&strict, &c, ev.clone(), NOW)));
    assert_eq!(err.message, "SIGN_UP_REFUSED");
    let monitored = engine("[pre-sign-up]\nmode = \"monitor\"\nmissing-phone = \"refuse\"\n");
    assert_eq!(
        rt().block_on(handle(&monitored, &c, ev.clone(), NOW))
            .unwrap(),
        ev
    );
}

#[test]
fn monitor_and_off_never_refuse_but_monitor_counts_what_it_would_have() {
    let ev = event("PreSignUp_SignUp", Some("+18762101234"));
    let c = ctx();
    let monitored = engine("[pre-sign-up]\nmode = \"monitor\"\n");
    assert_eq!(
        rt().block_on(handle(&monitored, &c, ev.clone(), NOW))
            .unwrap(),
        ev
    );
    let lines = match &c.metrics {
        MetricsSink::Capture(l) => l.lock().unwrap().clone(),
        _ => unreachable!(),
    };
    let last: Value = serde_json::from_str(lines.last().unwrap()).unwrap();
    assert_eq!(last["PreSignUpWouldRefuse"], json!(1));
    assert_eq!(last["PreSignUpRefused"], json!(0));
    let off = engine("[pre-sign-up]\nmode = \"off\"\n");
    assert_eq!(
        rt().block_on(handle(&off, &c, ev.clone(), NOW)).unwrap(),
        ev
    );
}

#[test]
fn a_cohort_at_its_limit_refuses_registrations_and_nothing_is_counted() {
    let e = engine("");
    let c = ctx();
    let rt = rt();
    // Irish numbers (allowed in the example) in one 1,000-number block.
    let phone = |i: usize| format!("+35387123{:04}", 1000 + i * 7);
    let sms = |i: usize| {
        let mut ev = fixture();
        ev["triggerSource"] = json!("CustomMessage_SignUp");
        ev["request"]["userAttributes"]["phone_number"] = json!(phone(i));
        ev["request"]["userAttributes"]["sub"] = json!(format!("bot{i}"));
        ev["request"]["codeParameter"] = json!("{####}");
        ev["response"] = json!({"smsMessage": null, "emailMessage": null, "emailSubject": null});
        ev
    };
    // Registrations before any SMS: many, all allowed, none counted.
    for i in 0..50 {
        let ev = event("PreSignUp_SignUp", Some(&phone(i)));
        assert!(
            rt.block_on(handle(&e, &c, ev, NOW + i as i64)).is_ok(),
            "{i}"
        );
    }
    // So the block's SMS limit is all there: its SMS go out until it is full.
    let mut sent = 0;
    for i in 0..50 {
        if rt
            .block_on(handle(&e, &c, sms(i), NOW + 100 + i as i64))
            .is_ok()
        {
            sent += 1;
        } else {
            break;
        }
    }
    assert!((1..50).contains(&sent), "{sent} sent");
    // Now the block is full: a new registration in it is refused, neutrally.
    let err = refused(rt.block_on(handle(
        &e,
        &c,
        event("PreSignUp_SignUp", Some(&phone(60))),
        NOW + 200,
    )));
    assert_eq!(err.message, "SIGN_UP_REFUSED");
    // A number elsewhere in the country is not.
    let ev = event("PreSignUp_SignUp", Some("+353861234580"));
    assert!(rt.block_on(handle(&e, &c, ev, NOW + 201)).is_ok());
}

#[test]
fn an_event_without_user_attributes_is_malformed() {
    let mut ev = fixture();
    ev["request"] = json!({});
    let err = refused(rt().block_on(handle(&engine(""), &ctx(), ev, NOW)));
    assert_eq!(err.error_type, "MalformedEvent");
}
