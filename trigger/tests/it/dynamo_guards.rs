//! The whole decision against DynamoDB (moto in server mode): exactness
//! under concurrency, the RATE_LIMITED answer through the trigger, and what
//! happens when the store is down or silent.

#![allow(clippy::panic, clippy::unwrap_used)]

use crate::common;

use std::sync::Arc;

use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::policy::Disclosure;
use pumpguard_engine::stateful::{judge, Subject};
use pumpguard_engine::{Engine, Policy, TriggerSource, Verdict};
use pumpguard_trigger::dynamo::DynamoStore;
use pumpguard_trigger::trigger::{handle, TriggerContext};
use serde_json::json;

const T: i64 = 1_795_262_400;
const COUNTRIES: &str =
    "[countries]\nallow = [\"US\", \"CA\"]\ncrown-dependencies = \"separate\"\n";

fn engine(extra: &str) -> Arc<Engine> {
    // A shared test server can be slow under a parallel suite: give the store
    // room, and fail closed so that a timeout can never pass for an allow.
    let state = if extra.contains("[state]") {
        ""
    } else {
        "[state]\ntimeout-ms = 3000\non-store-error = \"fail-closed\"\n"
    };
    let policy = Policy::parse(&format!("{state}{extra}\n{COUNTRIES}"), "test")
        .unwrap_or_else(|e| panic!("{e}"));
    let policy = if extra.contains("[state]") {
        policy
    } else {
        common::unhurried(policy)
    };
    Arc::new(Engine::new(Arc::new(policy)))
}

fn keys() -> PhoneHasher {
    PhoneHasher::new(b"test-key-0123456789").unwrap()
}

async fn table() -> DynamoStore {
    let client = common::dynamo_at(&common::moto_endpoint());
    let name = common::fresh_table(&client, "guards").await;
    DynamoStore::new(client, name)
}

fn subject(phone: &str, now: i64) -> Subject<'_> {
    Subject {
        source: TriggerSource::SignUp,
        phone,
        user: None,
        now,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn twenty_simultaneous_requests_for_one_phone_send_one_sms() {
    let e = engine("");
    let store = Arc::new(table().await);
    let keys = keys();
    let decisions = futures_util::future::join_all(
        (0..20).map(|_| judge(&e, &store, &keys, subject("+14155552671", T))),
    )
    .await;
    let allowed = decisions
        .iter()
        .filter(|d| d.verdict != Verdict::Block)
        .count();
    assert_eq!(allowed, 1, "{decisions:#?}");
    for d in decisions.iter().filter(|d| d.verdict == Verdict::Block) {
        assert_eq!(d.reasons(), ["COOLDOWN"]);
        assert_eq!(d.retry_after(), Some(60));
        assert!(!d.store_error);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_prefix_limit_of_five_lets_exactly_five_through() {
    let e = engine(
        "[prefix-velocity]\nmax-sends = 5\nhidden-digits = 3\n[cooldown]\nmode = \"off\"\n\
                [cohorts]\nmode = \"off\"\n[known-numbers]\nmode = \"off\"\n",
    );
    let store = table().await;
    let keys = keys();
    // One range, +1 415 555 2xxx: twenty numbers that differ in the last 3 digits.
    let phones: Vec<String> = (0..20)
        .map(|i| format!("+1415555{}", 2100 + i * 37))
        .collect();
    let decisions = futures_util::future::join_all(
        phones
            .iter()
            .map(|p| judge(&e, &store, &keys, subject(p, T))),
    )
    .await;
    let allowed = decisions
        .iter()
        .filter(|d| d.verdict == Verdict::Allow)
        .count();
    assert_eq!(allowed, 5, "{decisions:#?}");
    assert!(decisions
        .iter()
        .filter(|d| d.verdict == Verdict::Block)
        .all(|d| d.reasons() == ["PREFIX_VELOCITY"]));
    // Another range is unaffected.
    let other = judge(&e, &store, &keys, subject("+12015550123", T)).await;
    assert_eq!(other.verdict, Verdict::Allow);
}

#[tokio::test]
async fn the_trigger_answers_rate_limited_with_a_correct_retry_after() {
    let e = engine("[trigger]\ndisclosure = \"coarse\"\n");
    let ctx = TriggerContext::new(table().await, keys(), keys());
    let event = json!({
        "version": "1", "triggerSource": "CustomMessage_ResendCode", "region": "us-east-1",
        "userPoolId": "us-east-1_EXAMPLE", "userName": "u1",
        "callerContext": {"awsSdkVersion": "x", "clientId": "y"},
        // Caller-controlled metadata never skips a check.
        "request": {"userAttributes": {"phone_number": "+14155552671", "sub": "u1"},
                    "codeParameter": "{####}", "clientMetadata": {"skipRateLimit": "true"}},
        "response": {}
    });
    assert_eq!(handle(&e, &ctx, event.clone(), T).await.unwrap(), event);
    let err = handle(&e, &ctx, event.clone(), T + 17).await.unwrap_err();
    assert_eq!(err.error_type, "SmsBlocked");
    assert_eq!(err.message, "RATE_LIMITED retryAfterSeconds=43");
    assert!(handle(&e, &ctx, event, T + 60).await.is_ok());
}

async fn outage_at(endpoint: &str) {
    let store = DynamoStore::new(common::dynamo_at(endpoint), "any");
    let keys = keys();
    let open = engine("[state]\ntimeout-ms = 300\n");
    let us = judge(&open, &store, &keys, subject("+14155552671", T)).await;
    assert_eq!(us.verdict, Verdict::Allow, "fail-open lets it through");
    assert!(us.store_error);
    // Static guards still apply.
    let premium = judge(&open, &store, &keys, subject("+19004571829", T)).await;
    assert_eq!(premium.verdict, Verdict::Block);
    assert!(
        !premium.store_error,
        "a static block never reaches the store"
    );

    let closed = engine("[state]\ntimeout-ms = 300\non-store-error = \"fail-closed\"\n");
    let us = judge(&closed, &store, &keys, subject("+14155552671", T)).await;
    assert_eq!(us.verdict, Verdict::Block);
    assert_eq!(us.reasons(), ["STORE_UNAVAILABLE"]);
    assert_eq!(
        us.block_code(Disclosure::Coarse).as_deref(),
        Some("SMS_UNAVAILABLE")
    );
}

#[tokio::test]
async fn a_closed_port_follows_on_store_error() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    outage_at(&format!("http://127.0.0.1:{port}")).await;
}

#[tokio::test]
async fn a_silent_store_times_out_and_follows_on_store_error() {
    // Accepts connections (the kernel's backlog does) and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    outage_at(&format!("http://127.0.0.1:{port}")).await;
    drop(listener);
}

#[tokio::test]
async fn store_failures_are_counted_by_the_trigger() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .unwrap()
        .port();
    let store = DynamoStore::new(
        common::dynamo_at(&format!("http://127.0.0.1:{port}")),
        "any",
    );
    let ctx = TriggerContext::new(store, keys(), keys());
    let e = engine("[state]\ntimeout-ms = 300\n");
    let event = json!({
        "version": "1", "triggerSource": "CustomMessage_SignUp", "region": "us-east-1",
        "userPoolId": "us-east-1_EXAMPLE", "userName": "u1",
        "callerContext": {"awsSdkVersion": "x", "clientId": "y"},
        "request": {"userAttributes": {"phone_number": "+14155552671"}, "codeParameter": "{####}"},
        "response": {}
    });
    // Fail-open: the SMS goes, and the failure is counted.
    assert_eq!(handle(&e, &ctx, event.clone(), T).await.unwrap(), event);
    assert_eq!(ctx.store_errors(), 1);
    let mut confirm = event.clone();
    confirm["triggerSource"] = json!("PostConfirmation_ConfirmSignUp");
    assert_eq!(
        handle(&e, &ctx, confirm.clone(), T + 5).await.unwrap(),
        confirm
    );
    assert_eq!(ctx.store_errors(), 2);
}
