//! Faults the trigger must survive with its documented answer: the table
//! throttling or half-answering (through the real SDK, against a scripted
//! local endpoint), items of the wrong shape in the table (moto), and a
//! missing or corrupt policy at cold start. Refused connections and a silent
//! table are in `dynamo_guards.rs`; clock skew is in `clock_skew.rs`.
//!
//! The documented behaviour (`docs/failure.md`): a store call that fails, or
//! a stateful phase that outlives `state.timeout-ms`, leaves the static
//! guards deciding and the stateful ones following `on-store-error`:
//! `fail-open` sends, `fail-closed` answers `SMS_UNAVAILABLE`.

#![allow(clippy::panic, clippy::unwrap_used)]

use crate::common;

use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use common::fake_dynamo::{error, FakeDynamo};
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::policy::Disclosure;
use pumpguard_engine::published::{bootstrap_policy, PolicyCache, Refresh};
use pumpguard_engine::stateful::{judge, Subject};
use pumpguard_engine::store::Store;
use pumpguard_engine::{Decision, Engine, Policy, TriggerSource, Verdict};
use pumpguard_trigger::dynamo::DynamoStore;
use pumpguard_trigger::published::DynamoPolicyStore;
use pumpguard_trigger::trigger::{handle, TriggerContext};
use serde_json::{json, Value};

const T: i64 = 1_795_262_400;
const US: &str = "+14155552671";
const PREMIUM: &str = "+19004571829";
const COUNTRIES: &str =
    "[countries]\nallow = [\"US\", \"CA\"]\ncrown-dependencies = \"separate\"\n";
/// An engine whose stateful phase may take 400 ms (scripted endpoints answer at once).
fn engine(on_store_error: &str, extra: &str) -> Engine {
    engine_with(on_store_error, extra, 400)
}

/// An engine for moto, which a busy machine can make slow: a budget no
/// store call can exceed ([`common::unhurried`]), so that only a real fault
/// is a store error.
fn moto_engine(on_store_error: &str, extra: &str) -> Engine {
    Engine::new(Arc::new(common::unhurried(policy_with(
        on_store_error,
        extra,
        3000,
    ))))
}

fn engine_with(on_store_error: &str, extra: &str, timeout_ms: u64) -> Engine {
    Engine::new(Arc::new(policy_with(on_store_error, extra, timeout_ms)))
}

/// These faults are injected into the first version's ops; the known-number
/// and cohort ops are covered by the store contract on moto.
const OLD_GUARDS_ONLY: &str = "[known-numbers]\nmode = \"off\"\n[cohorts]\nmode = \"off\"\n";

fn policy_with(on_store_error: &str, extra: &str, timeout_ms: u64) -> Policy {
    let text = format!(
        "[state]\ntimeout-ms = {timeout_ms}\non-store-error = \"{on_store_error}\"\n{extra}\n{COUNTRIES}\n{OLD_GUARDS_ONLY}"
    );
    Policy::parse(&text, "test").unwrap_or_else(|e| panic!("{e}"))
}

fn keys() -> PhoneHasher {
    PhoneHasher::new(b"test-key-0123456789").unwrap()
}

fn subject(phone: &str, now: i64) -> Subject<'_> {
    Subject {
        source: TriggerSource::SignUp,
        phone,
        user: Some("u1"),
        now,
    }
}

/// Judges one SMS. That it ends within `state.timeout-ms` is the engine's
/// own timeout (a stalled store is answered as a store error, which the
/// tests below check); how long it takes is measured by the benches, never
/// asserted here.
async fn timed<S: Store>(e: &Engine, store: &S, phone: &str, now: i64) -> Decision {
    common::warm_up();
    judge(e, store, &keys(), subject(phone, now)).await
}

/// The documented answers for a store failure, under both settings.
async fn follows_on_store_error<S: Store>(store: &S, extra: &str) {
    follows_on_store_error_with(store, extra, engine).await;
}

async fn follows_on_store_error_with<S: Store>(
    store: &S,
    extra: &str,
    engine: fn(&str, &str) -> Engine,
) {
    let open = engine("fail-open", extra);
    let d = timed(&open, store, US, T).await;
    assert!(d.store_error, "{d:?}");
    assert_eq!(d.verdict, Verdict::Allow, "fail-open sends: {d:?}");
    // Static guards still decide, without touching the store.
    let d = timed(&open, store, PREMIUM, T).await;
    assert_eq!(d.verdict, Verdict::Block);
    assert!(!d.store_error);

    let closed = engine("fail-closed", extra);
    let d = timed(&closed, store, US, T).await;
    assert!(d.store_error, "{d:?}");
    assert_eq!(d.verdict, Verdict::Block);
    assert_eq!(d.reasons(), ["STORE_UNAVAILABLE"]);
    assert_eq!(
        d.block_code(Disclosure::Coarse).as_deref(),
        Some("SMS_UNAVAILABLE")
    );
}

fn custom_message(phone: &str) -> Value {
    json!({
        "version": "1", "triggerSource": "CustomMessage_SignUp", "region": "us-east-1",
        "userPoolId": "us-east-1_EXAMPLE", "userName": "u1",
        "callerContext": {"awsSdkVersion": "x", "clientId": "y"},
        "request": {"userAttributes": {"phone_number": phone, "sub": "u1"}, "codeParameter": "{####}"},
        "response": {}
    })
}

// ---------------------------------------------------------------- throttling

const THROTTLED: &str = "ProvisionedThroughputExceededException";

#[tokio::test]
async fn a_throttling_table_follows_on_store_error_within_the_deadline() {
    let fake = FakeDynamo::start(|_, _| {
        (
            400,
            error(
                THROTTLED,
                "Rate of requests exceeds the allowed throughput.",
            ),
        )
    });
    let store = DynamoStore::new(common::dynamo_at(&fake.url), "pumpguard");
    follows_on_store_error(&store, "").await;
    let seen = fake.seen();
    // The real SDK made the calls (and retried some: throttling is
    // retryable). The shared counters' wave (with the BatchGetItem) only
    // starts once the phone's wave has answered, which the retries can push
    // past the deadline.
    assert!(
        seen.iter().filter(|op| *op == "UpdateItem").count() >= 2,
        "{seen:?}"
    );
}

#[tokio::test]
async fn the_trigger_answers_sms_unavailable_when_throttled_and_fail_closed() {
    let fake = FakeDynamo::start(|_, _| (400, error(THROTTLED, "slow down")));
    let ctx = TriggerContext::new(
        DynamoStore::new(common::dynamo_at(&fake.url), "pumpguard"),
        keys(),
        keys(),
    );
    let closed = engine("fail-closed", "[trigger]\ndisclosure = \"coarse\"\n");
    let err = handle(&closed, &ctx, custom_message(US), T)
        .await
        .unwrap_err();
    assert_eq!(
        (err.error_type, err.message.as_str()),
        ("SmsBlocked", "SMS_UNAVAILABLE")
    );
    assert_eq!(ctx.store_errors(), 1);
    // Verification triggers are never blocked, throttled or not.
    let mut confirm = custom_message(US);
    confirm["triggerSource"] = json!("PostConfirmation_ConfirmSignUp");
    assert_eq!(
        handle(&closed, &ctx, confirm.clone(), T + 5).await.unwrap(),
        confirm
    );
    assert_eq!(ctx.store_errors(), 2);
    let open = engine("fail-open", "");
    let event = custom_message(US);
    assert_eq!(handle(&open, &ctx, event.clone(), T).await.unwrap(), event);
    assert_eq!(ctx.store_errors(), 3);
}

/// Answers every update as applied (the attributes every op reads back), and
/// batch reads either fully or with every key left unprocessed.
fn half_answering(unprocessed: bool) -> FakeDynamo {
    FakeDynamo::start(move |op, request| match op {
        "UpdateItem" => (
            200,
            json!({"Attributes": {
                "sends": {"N": "1"}, "sent": {"N": "1"}, "micro_usd": {"N": "1"},
                "phones": {"SS": ["h"]}, "expires_at": {"N": "1"}
            }})
            .to_string(),
        ),
        "BatchGetItem" => {
            let items = request["RequestItems"].clone();
            let tables: Vec<String> = items.as_object().unwrap().keys().cloned().collect();
            let responses: serde_json::Map<String, Value> =
                tables.iter().map(|t| (t.clone(), json!([]))).collect();
            let left = if unprocessed { items } else { json!({}) };
            (
                200,
                json!({"Responses": responses, "UnprocessedKeys": left}).to_string(),
            )
        }
        _ => (400, error("ValidationException", "unexpected operation")),
    })
}

#[tokio::test]
async fn a_batch_read_left_unprocessed_by_throttling_is_a_store_error() {
    // The control: the same endpoint, every key processed, decides cleanly.
    let fake = half_answering(false);
    let store = DynamoStore::new(common::dynamo_at(&fake.url), "pumpguard");
    let d = timed(&engine("fail-closed", ""), &store, US, T).await;
    assert!(!d.store_error, "{d:?}");
    assert_eq!(d.verdict, Verdict::Allow);

    let fake = half_answering(true);
    let store = DynamoStore::new(common::dynamo_at(&fake.url), "pumpguard");
    follows_on_store_error(&store, "").await;
}

// ----------------------------------------------------- malformed items (fake)

/// Every conditional cooldown update fails, returning `old` as the item.
fn cooldown_refused_with(old: Value) -> FakeDynamo {
    cooldown_refused_with_each(old.clone(), old)
}

/// Both cooldown updates fail: the new-streak one returns `fresh_old`, the
/// next-step one (`ADD level`) returns `streak_old`.
fn cooldown_refused_with_each(fresh_old: Value, streak_old: Value) -> FakeDynamo {
    FakeDynamo::start(move |op, request| {
        let conditional = request.get("ConditionExpression").is_some();
        let streak = request["UpdateExpression"]
            .as_str()
            .is_some_and(|u| u.contains("ADD"));
        match op {
            "UpdateItem" if conditional => {
                let mut body: Value = serde_json::from_str(&error(
                    "ConditionalCheckFailedException",
                    "The conditional request failed",
                ))
                .unwrap();
                let old = if streak { &streak_old } else { &fresh_old };
                if !old.is_null() {
                    body["Item"] = old.clone();
                }
                (400, body.to_string())
            }
            _ => (400, error("ValidationException", "only the cooldown is on")),
        }
    })
}

const COOLDOWN_ONLY: &str = "[user-limits]\nmode = \"off\"\n[prefix-velocity]\nmode = \"off\"\n\
     [country-velocity]\nmode = \"off\"\nconversion-mode = \"off\"\n[pool-rate]\nmode = \"off\"\n";

#[tokio::test]
async fn a_cooldown_item_of_the_wrong_shape_never_blocks_the_phone_for_good() {
    // The control: a well-formed item in cooldown blocks, with its retry-after.
    let fake = cooldown_refused_with(json!({
        "pk": {"S": "phone#x"}, "sk": {"S": "cooldown"},
        "last_at": {"N": (T - 10).to_string()}, "level": {"N": "1"}
    }));
    let store = DynamoStore::new(common::dynamo_at(&fake.url), "pumpguard");
    let d = timed(&engine("fail-closed", COOLDOWN_ONLY), &store, US, T).await;
    assert!(!d.store_error, "{d:?}");
    assert_eq!(d.reasons(), ["COOLDOWN"]);
    assert_eq!(d.retry_after(), Some(50));

    // Two first requests for one phone at once: the next-step update ran
    // before the other request created the item and saw no item at all; the
    // new-streak update ran after. A cooldown, not a store error.
    let fake = cooldown_refused_with_each(
        json!({"last_at": {"N": T.to_string()}, "level": {"N": "1"}}),
        Value::Null,
    );
    let store = DynamoStore::new(common::dynamo_at(&fake.url), "pumpguard");
    let d = timed(&engine("fail-closed", COOLDOWN_ONLY), &store, US, T).await;
    assert!(!d.store_error, "{d:?}");
    assert_eq!(
        (d.reasons(), d.retry_after()),
        (vec!["COOLDOWN".to_string()], Some(60))
    );

    // DynamoDB evaluates a comparison between a string and a number as false,
    // so an item whose `last_at` is a string refuses both updates. That is not
    // a cooldown (it used to answer `RATE_LIMITED retryAfterSeconds=1` to
    // every attempt until the item expired): it is a store error.
    for bad in [
        json!({"last_at": {"S": "yesterday"}, "level": {"N": "1"}}),
        json!({"level": {"N": "2"}}),
        json!({"last_at": {"N": (T - 10).to_string()}, "level": {"S": "two"}}),
        json!({"last_at": {"N": "1e30"}}),
    ] {
        let fake = cooldown_refused_with(bad.clone());
        let store = DynamoStore::new(common::dynamo_at(&fake.url), "pumpguard");
        follows_on_store_error(&store, COOLDOWN_ONLY).await;
        assert!(fake.seen().iter().all(|op| op == "UpdateItem"), "{bad}");
    }
}

// ------------------------------------------------------ malformed items (moto)

async fn moto_table() -> (aws_sdk_dynamodb::Client, String) {
    let client = common::dynamo_at(&common::moto_endpoint());
    let table = common::fresh_table(&client, "faults").await;
    (client, table)
}

async fn put(
    client: &aws_sdk_dynamodb::Client,
    table: &str,
    pk: &str,
    sk: &str,
    attrs: &[(&str, AttributeValue)],
) {
    let mut req = client
        .put_item()
        .table_name(table)
        .item("pk", AttributeValue::S(pk.into()))
        .item("sk", AttributeValue::S(sk.into()));
    for (k, v) in attrs {
        req = req.item(*k, v.clone());
    }
    req.send().await.unwrap();
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.into())
}

#[tokio::test]
async fn counters_of_the_wrong_type_or_size_follow_on_store_error() {
    let hour = T.div_euclid(3600);
    let day = T.div_euclid(86_400);
    let user = format!("user#{}", keys().hash_text("u1"));
    let phone = format!("phone#{}", keys().hash(US));
    let cases: Vec<(&str, String, String, &str, AttributeValue)> = vec![
        (
            "a counter stored as a string",
            "pool".into(),
            format!("m{}", T.div_euclid(60)),
            "sends",
            s("12"),
        ),
        (
            "a counter past 2^63",
            "pool".into(),
            format!("h{hour}"),
            "sends",
            n("100000000000000000000"),
        ),
        (
            "a fractional counter",
            "country#US".into(),
            format!("d{day}"),
            "sent",
            n("1.5"),
        ),
        (
            "a counter stored as a boolean",
            "country#US".into(),
            format!("h{hour}"),
            "sent",
            AttributeValue::Bool(true),
        ),
        (
            "a phone set stored as a string",
            user,
            format!("phones#d{day}"),
            "phones",
            s("abc"),
        ),
        (
            "a cooldown level that is not whole",
            phone.clone(),
            "cooldown".into(),
            "level",
            n("2.5"),
        ),
        (
            "a send time stored as a string",
            phone,
            "cooldown".into(),
            "last_at",
            s("yesterday"),
        ),
    ];
    let extra = "[pool-rate]\nmode = \"enforce\"\n";
    for (what, pk, sk, attr, value) in cases {
        let (client, table) = moto_table().await;
        // The cooldown case: a last send 100 s ago, past the first step.
        let last_at = ("last_at", n(T - 100));
        let mut attrs = vec![(attr, value)];
        if sk == "cooldown" && attr != "last_at" {
            attrs.push(last_at);
        }
        put(&client, &table, &pk, &sk, &attrs).await;
        let store = DynamoStore::new(client.clone(), &table);
        let open = moto_engine("fail-open", extra);
        let d = timed(&open, &store, US, T).await;
        assert!(d.store_error, "{what}: {d:?}");
        assert_eq!(d.verdict, Verdict::Allow, "{what}: fail-open sends");
        let closed = moto_engine("fail-closed", extra);
        // The first run sent to US: its cooldown now refuses US before the
        // shared counters are read, so those cases ask for another phone.
        let again = if sk == "cooldown" { US } else { "+14155552672" };
        let d = timed(&closed, &store, again, T).await;
        assert!(d.store_error, "{what}: {d:?}");
        assert!(
            d.reasons().contains(&"STORE_UNAVAILABLE".to_string()),
            "{what}: {d:?}"
        );
        assert_eq!(d.verdict, Verdict::Block, "{what}");
    }
}

#[tokio::test]
async fn a_cooldown_item_missing_fields_is_read_as_what_it_has() {
    let (client, table) = moto_table().await;
    let store = DynamoStore::new(client.clone(), &table);
    let e = moto_engine("fail-closed", COOLDOWN_ONLY);
    let pk = format!("phone#{}", keys().hash(US));

    // Only an expiry: no send recorded, so the send goes and starts a streak.
    put(
        &client,
        &table,
        &pk,
        "cooldown",
        &[("expires_at", n(T + 9_999))],
    )
    .await;
    let d = timed(&e, &store, US, T).await;
    assert!(!d.store_error && d.verdict == Verdict::Allow, "{d:?}");
    let d = timed(&e, &store, US, T + 1).await;
    assert_eq!(
        (d.reasons(), d.retry_after()),
        (vec!["COOLDOWN".to_string()], Some(59))
    );

    // A send but no level (e.g. written by MarkSent with the cooldown off):
    // level 1, so 60 s after it the next send goes and the second step follows.
    put(&client, &table, &pk, "cooldown", &[("last_at", n(T - 60))]).await;
    let d = timed(&e, &store, US, T).await;
    assert!(!d.store_error && d.verdict == Verdict::Allow, "{d:?}");
    let d = timed(&e, &store, US, T + 30).await;
    assert_eq!(
        (d.reasons(), d.retry_after()),
        (vec!["COOLDOWN".to_string()], Some(30))
    );

    // A verification against a broken item never blocks the event.
    put(
        &client,
        &table,
        &pk,
        "cooldown",
        &[("last_at", s("yesterday"))],
    )
    .await;
    let ctx = TriggerContext::new(DynamoStore::new(client, &table), keys(), keys());
    let mut confirm = custom_message(US);
    confirm["triggerSource"] = json!("PostConfirmation_ConfirmSignUp");
    assert_eq!(handle(&e, &ctx, confirm.clone(), T).await.unwrap(), confirm);
}

#[tokio::test]
async fn unreadable_country_history_counts_as_no_verified_traffic() {
    // History only ever raises a country's thresholds; a history item of the
    // wrong shape raises nothing, so the floors apply (stricter, not looser).
    let (client, table) = moto_table().await;
    let day = T.div_euclid(86_400);
    put(
        &client,
        &table,
        "country#US",
        &format!("d{}", day - 1),
        &[
            ("verified", s("5000")),
            ("peak_hour", AttributeValue::Ss(vec!["x".into()])),
        ],
    )
    .await;
    let store = DynamoStore::new(client, &table);
    let e = moto_engine(
        "fail-closed",
        "[country-velocity]\nhourly-floor = 2\nconversion-mode = \"off\"\n[cooldown]\nmode = \"off\"\n\
         [user-limits]\nmode = \"off\"\n[prefix-velocity]\nmode = \"off\"\n",
    );
    for i in 0..2 {
        let d = timed(&e, &store, &format!("+1201555{:04}", 1000 + i * 37), T).await;
        assert!(!d.store_error && d.verdict == Verdict::Allow, "{d:?}");
    }
    let d = timed(&e, &store, "+12015559001", T).await;
    assert!(!d.store_error, "{d:?}");
    assert_eq!(d.reasons(), ["COUNTRY_VELOCITY_HOUR"]);
}

// ------------------------------------------------- the policy at cold start

/// What the baseline does, checked through the real adapter.
async fn runs_the_baseline(policy: Policy) {
    let engine = Engine::new(Arc::new(policy));
    let ctx = TriggerContext::new(pumpguard_engine::store::MemoryStore::new(), keys(), keys());
    // Premium-rate and invalid numbers blocked, countries only monitored.
    let premium = handle(&engine, &ctx, custom_message(PREMIUM), T)
        .await
        .unwrap_err();
    // The fallback policies answer with the generic code.
    assert_eq!(premium.message, "SMS_BLOCKED");
    let invalid = handle(&engine, &ctx, custom_message("+1415555"), T)
        .await
        .unwrap_err();
    assert_eq!(invalid.message, "SMS_BLOCKED");
    let jamaica = custom_message("+18762101234");
    assert_eq!(
        handle(&engine, &ctx, jamaica.clone(), T).await.unwrap(),
        jamaica
    );
    let us = custom_message(US);
    assert_eq!(handle(&engine, &ctx, us.clone(), T).await.unwrap(), us);
}

#[tokio::test]
async fn a_missing_or_corrupt_bootstrap_policy_gives_way_to_the_baseline() {
    let dir = std::env::temp_dir().join(format!("pumpguard-faults-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let write = |name: &str, bytes: &[u8]| {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p.display().to_string()
    };
    let broken = write("broken.toml", b"[countries\nallow = [\"US\"]\n");
    let invalid = write("invalid.toml", b"[countries]\nallow = [\"UK\"]\n");
    let empty = write("empty.toml", b"");
    let binary = write("binary.toml", &[0xff, 0xfe, 0x00, 0x5b, 0x80]);
    let missing = dir.join("missing.toml").display().to_string();
    let truncated = pumpguard_engine::policy::EXAMPLE_POLICY[..700].to_string();
    let cases: Vec<(&str, &str, String)> = vec![
        ("file missing", "PUMPGUARD_POLICY_FILE", missing),
        ("not TOML", "PUMPGUARD_POLICY_FILE", broken),
        ("invalid values", "PUMPGUARD_POLICY_FILE", invalid),
        ("empty file", "PUMPGUARD_POLICY_FILE", empty),
        ("not UTF-8", "PUMPGUARD_POLICY_FILE", binary),
        ("truncated inline policy", "PUMPGUARD_POLICY", truncated),
        (
            "inline garbage",
            "PUMPGUARD_POLICY",
            "\u{0}\u{1}[[[".to_string(),
        ),
    ];
    for (what, var, value) in cases {
        let boot = bootstrap_policy(|k| (k == var).then(|| value.clone()), None);
        assert_eq!(boot.origin, "built-in baseline", "{what}");
        let error = boot
            .error
            .clone()
            .unwrap_or_else(|| panic!("{what}: no error reported"));
        assert!(error.len() < 4_000, "{what}");
        assert_eq!(
            boot.policy.digest,
            pumpguard_engine::published::baseline().digest,
            "{what}"
        );
        runs_the_baseline(boot.policy).await;
    }
    // A broken policy.toml beside `bootstrap` (the zip's) is no different.
    let beside = dir.join("zip");
    std::fs::create_dir_all(&beside).unwrap();
    std::fs::write(
        beside.join("policy.toml"),
        "[countries]\nunlisted = \"maybe\"\n",
    )
    .unwrap();
    let boot = bootstrap_policy(|_| None, Some(&beside));
    assert_eq!(boot.origin, "built-in baseline");
    assert!(boot.error.is_some());
    runs_the_baseline(boot.policy).await;
    // No policy at all: the baseline, and no error to report.
    let boot = bootstrap_policy(|_| None, Some(&dir.join("nowhere")));
    assert!(boot.origin.starts_with("built-in baseline (no policy"));
    assert!(boot.error.is_none());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_corrupt_published_policy_at_cold_start_leaves_the_bootstrap_policy() {
    let (client, table) = moto_table().await;
    let boot = bootstrap_policy(
        |k| (k == "PUMPGUARD_POLICY").then(|| "[countries".to_string()),
        None,
    );
    let mut cache = PolicyCache::new(
        boot.policy,
        Some(DynamoPolicyStore::new(client.clone(), &table)),
        Duration::from_secs(30),
        Duration::from_secs(2),
    );
    let baseline_digest = pumpguard_engine::published::baseline().digest;
    let item = |body: AttributeValue, digest: AttributeValue| {
        let client = client.clone();
        let table = table.clone();
        async move {
            client
                .put_item()
                .table_name(&table)
                .item("pk", s("policy"))
                .item("sk", s("current"))
                .item("body", body)
                .item("digest", digest)
                .send()
                .await
                .unwrap();
        }
    };
    let mut now = 1_000;
    let mut next = || {
        now += 30;
        Duration::from_secs(now)
    };
    // A body that is not a policy.
    item(s("[countries\n"), s("d1")).await;
    assert!(matches!(
        cache.refresh(next()).await,
        Refresh::Rejected { .. }
    ));
    assert_eq!(cache.current().policy().digest, baseline_digest);
    // Attributes of the wrong type: the read fails, nothing changes.
    item(n(42), s("d2")).await;
    assert!(matches!(
        cache.refresh(next()).await,
        Refresh::Failed { .. }
    ));
    item(
        s(pumpguard_engine::policy::EXAMPLE_POLICY),
        AttributeValue::Bool(true),
    )
    .await;
    assert!(matches!(
        cache.refresh(next()).await,
        Refresh::Failed { .. }
    ));
    assert_eq!(cache.current().policy().digest, baseline_digest);
    runs_the_baseline((**cache.current().policy()).clone()).await;
    // A good item afterwards is taken.
    item(s(pumpguard_engine::policy::EXAMPLE_POLICY), s("d3")).await;
    assert!(matches!(
        cache.refresh(next()).await,
        Refresh::Loaded { .. }
    ));
    assert_eq!(cache.current().policy().digest, Policy::example().digest);
}

/// The example policy with `on-store-error` and a budget; `None` for a
/// budget no store call can exceed ([`common::unhurried`]).
fn example_with(on_store_error: &str, timeout_ms: Option<u64>) -> Engine {
    let text = pumpguard_engine::policy::EXAMPLE_POLICY.replace(
        "on-store-error = \"fail-open\"",
        &format!("on-store-error = \"{on_store_error}\""),
    );
    let mut policy = Policy::parse(&text, "test").unwrap_or_else(|e| panic!("{e}"));
    policy = match timeout_ms {
        Some(ms) => {
            policy.state.timeout_ms = ms;
            policy
        }
        None => common::unhurried(policy),
    };
    Engine::new(Arc::new(policy))
}

/// A new instance whose connections are slow to set up (a TLS handshake of
/// 0 to 800 ms, on the first connection or on every one): init opens them
/// (`DynamoStore::warm`, as `bootstrap` does), and the decisions after it
/// open none, so they never pay a setup inside their budget; the cooldown
/// then refuses the second SMS to a phone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_init_a_slow_connection_setup_never_turns_the_guards_off() {
    use common::proxy::{start, Faults};
    common::warm_up();
    for every_connection in [false, true] {
        for setup_ms in [0u64, 200, 400, 800] {
            let what = format!("setup {setup_ms} ms, every connection: {every_connection}");
            let (_, table) = moto_table().await;
            let faults = Faults {
                setup: Duration::from_millis(setup_ms),
                every_connection,
                hold_answer: None,
            };
            let proxy = start(&common::moto_endpoint(), faults).await;
            let store = common::proxy::lambda_store(&proxy, &table).await;
            store
                .warm(
                    pumpguard_trigger::dynamo::CONNECTIONS_PER_DECISION,
                    Duration::from_secs(20),
                )
                .await
                .unwrap_or_else(|e| panic!("{what}: warm-up: {e}"));
            let opened = proxy.connections();
            assert_eq!(
                opened,
                pumpguard_trigger::dynamo::CONNECTIONS_PER_DECISION,
                "{what}"
            );
            // A budget no store call can exceed, so that only the connection
            // count, not the machine's speed, decides the test.
            let e = example_with("fail-open", None);
            let first = judge(&e, &store, &keys(), subject(US, T)).await;
            let second = judge(&e, &store, &keys(), subject(US, T + 1)).await;
            assert_eq!(
                proxy.connections(),
                opened,
                "{what}: a decision opened a connection"
            );
            assert!(!first.store_error && !second.store_error, "{what}");
            assert_eq!(first.verdict, Verdict::Allow, "{what}: {first:?}");
            assert_eq!(second.verdict, Verdict::Block, "{what}: {second:?}");
            assert_eq!(second.reasons(), ["COOLDOWN"], "{what}");
        }
    }
}

/// One answer held past the decision's budget (the request landed; its
/// answer did not come back in time): the decision follows `on-store-error`
/// without an SDK retry, so the first SMS is never refused by its own
/// cooldown and no counter counts twice; in fail-closed the refused
/// attempt's cooldown is released, so the user's next try goes through.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_answer_never_counts_twice_nor_rate_limits_a_first_sms() {
    use common::proxy::{start, Faults};
    common::warm_up();
    let k = keys();
    let phone_key = format!("phone#{}", k.hash(US));
    let user_key = format!("user#{}", k.hash_text("u1"));
    let hour = T.div_euclid(3600);
    let day = T.div_euclid(86_400);
    for on_store_error in ["fail-open", "fail-closed"] {
        // Wave 1 opens four connections at once (the cooldown's two
        // updates, the user's phones and sends): hold each one's answer.
        for held in 0..4 {
            let what = format!("{on_store_error}, answer on connection {held} held");
            let (client, table) = moto_table().await;
            let faults = Faults {
                hold_answer: Some((held, Duration::from_millis(1500))),
                ..Faults::default()
            };
            let proxy = start(&common::moto_endpoint(), faults).await;
            let store = common::proxy::lambda_store(&proxy, &table).await;
            let e = example_with(on_store_error, Some(400));
            let first = judge(&e, &store, &k, subject(US, T)).await;
            assert!(first.store_error, "{what}: {first:?}");
            assert!(
                !first.reasons().iter().any(|r| r == "COOLDOWN"),
                "{what}: the first SMS refused by its own cooldown: {first:?}"
            );
            tokio::time::timeout(Duration::from_secs(60), proxy.held_answer_delivered())
                .await
                .unwrap_or_else(|_| panic!("{what}: the held answer never went out"));
            let item = |pk: String, sk: String| {
                let client = client.clone();
                let table = table.clone();
                async move {
                    client
                        .get_item()
                        .table_name(table)
                        .key("pk", s(&pk))
                        .key("sk", s(&sk))
                        .consistent_read(true)
                        .send()
                        .await
                        .unwrap()
                        .item
                        .unwrap_or_default()
                }
            };
            let number = |i: &std::collections::HashMap<String, AttributeValue>, a: &str| {
                i.get(a)
                    .and_then(|v| v.as_n().ok())
                    .and_then(|v| v.parse::<i64>().ok())
            };
            let sends = item(user_key.clone(), format!("sends#h{hour}")).await;
            let cooldown = item(phone_key.clone(), "cooldown".into()).await;
            let phones = item(user_key.clone(), format!("phones#d{day}")).await;
            let set = phones
                .get("phones")
                .and_then(|v| v.as_ss().ok())
                .map(Vec::len);
            if on_store_error == "fail-open" {
                assert_eq!(first.verdict, Verdict::Allow, "{what}");
                assert_eq!(number(&sends, "sends"), Some(1), "{what}: {sends:?}");
                assert_eq!(number(&cooldown, "level"), Some(1), "{what}: {cooldown:?}");
                assert_eq!(set, Some(1), "{what}");
            } else {
                assert_eq!(first.reasons(), ["STORE_UNAVAILABLE"], "{what}");
                // The answered counters were taken back; the held one may
                // keep its single count (its answer never came), never two.
                assert!(
                    number(&sends, "sends").unwrap_or(0) <= 1,
                    "{what}: {sends:?}"
                );
                let next = judge(
                    &example_with(on_store_error, None),
                    &store,
                    &k,
                    subject(US, T + 1),
                )
                .await;
                assert!(!next.store_error, "{what}: {next:?}");
                assert_eq!(
                    next.verdict,
                    Verdict::Allow,
                    "{what}: the next try: {next:?}"
                );
                let sends = item(user_key.clone(), format!("sends#h{hour}")).await;
                assert!(
                    (1..=2).contains(&number(&sends, "sends").unwrap_or(0)),
                    "{what}: {sends:?}"
                );
            }
        }
    }
}
