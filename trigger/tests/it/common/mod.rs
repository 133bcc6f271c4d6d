//! Shared helpers for tests that talk to moto, the AWS emulator that
//! `scripts/test.sh` starts on 127.0.0.1 and exports as `PUMPGUARD_TEST_MOTO`.

#![allow(clippy::panic, clippy::unwrap_used)]
#![allow(dead_code)]

#[cfg(feature = "sender")]
pub mod esdk;

use aws_sdk_dynamodb::config::{BehaviorVersion, Credentials, Region};
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};

/// The moto endpoint. Tests that need it fail, not skip, without it.
pub fn moto_endpoint() -> String {
    match std::env::var("PUMPGUARD_TEST_MOTO") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "PUMPGUARD_TEST_MOTO is not set: run the suite with scripts/test.sh, which starts \
             moto in server mode and sets it"
        ),
    }
}

/// A DynamoDB client for `endpoint` with fixed test credentials.
pub fn dynamo_at(endpoint: &str) -> aws_sdk_dynamodb::Client {
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(endpoint)
        .build();
    aws_sdk_dynamodb::Client::from_conf(config)
}

/// Loads libphonenumber's metadata once per test process, as `bootstrap`
/// does during the Lambda's init phase. Loading it takes over a second in a
/// debug build and happens in the static decision, before the stateful
/// phase's timeout starts, so tests that hold a whole decision to its
/// deadline call this first.
pub fn warm_up() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let _ = pumpguard_engine::phone::classify("+14155552671");
    });
}

/// Creates a fresh table with the trigger's key schema and returns its name.
pub async fn fresh_table(client: &aws_sdk_dynamodb::Client, prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let name = format!(
        "{prefix}-{}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    );
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .expect("key schema")
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .expect("attribute")
    };
    client
        .create_table()
        .table_name(&name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .send()
        .await
        .expect("create table in moto");
    name
}

pub mod fake_dynamo;
pub mod load;
pub mod proxy;

/// The policy with a stateful budget no shared test server can exceed.
/// Tests against moto check counts and answers, not speed (that is the
/// benches' job): a busy machine may make moto slow, and a decision that
/// timed out would be a store error where the test expects an answer.
/// Tests of the timeout itself set their own small budget instead.
pub fn unhurried(mut policy: pumpguard_engine::Policy) -> pumpguard_engine::Policy {
    policy.state.timeout_ms = 600_000;
    policy
}
pub mod logs;

/// The stack's template, as JSON.
pub fn template() -> serde_json::Value {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../cloudformation/template.yaml"
    );
    let text = std::fs::read_to_string(path).unwrap();
    serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A template value that is a string or a list of strings, as a set.
pub fn strings(v: &serde_json::Value) -> std::collections::BTreeSet<String> {
    match v {
        serde_json::Value::String(s) => std::collections::BTreeSet::from([s.clone()]),
        serde_json::Value::Array(a) => a.iter().flat_map(strings).collect(),
        other => panic!("expected strings, found {other}"),
    }
}
