//! The published policy, end to end against DynamoDB (moto in server mode):
//! `publish` writes only valid policies, and a running trigger's cache picks a
//! change up on its next refresh, ignores a broken item, and survives an
//! unreachable or silent store.

#![allow(clippy::panic, clippy::unwrap_used)]

use crate::common;

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use pumpguard_engine::policy::EXAMPLE_POLICY;
use pumpguard_engine::published::{baseline, PolicyCache, PolicyFetch, Refresh};
use pumpguard_engine::{TriggerSource, Verdict};
use pumpguard_trigger::published::{DynamoPolicyStore, PublishError};

const MX: &str = "+525548172936";

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

#[tokio::test]
async fn publish_refuses_a_broken_policy_and_writes_nothing() {
    let client = common::dynamo_at(&common::moto_endpoint());
    let table = common::fresh_table(&client, "policy").await;
    let store = DynamoPolicyStore::new(client, &table);
    let err = store
        .publish("[countries]\nallow = [\"UK\"]\n", "bad.toml", 1)
        .await
        .expect_err("invalid");
    assert!(
        matches!(err, PublishError::Invalid(ref e) if e.problems.len() == 2),
        "{err}"
    );
    assert_eq!(store.fetch().await, Ok(None));
}

#[tokio::test]
async fn a_published_change_reaches_the_trigger_on_its_next_refresh() {
    let client = common::dynamo_at(&common::moto_endpoint());
    let table = common::fresh_table(&client, "policy").await;
    let store = DynamoPolicyStore::new(client.clone(), &table);
    let mut cache = PolicyCache::new(
        baseline(),
        Some(DynamoPolicyStore::new(client.clone(), &table)),
        secs(30),
        Duration::from_secs(2),
    );
    let mx =
        |c: &PolicyCache<DynamoPolicyStore>| c.current().decide(TriggerSource::SignUp, MX).verdict;

    // Nothing published: the bootstrap (here the baseline) decides.
    assert_eq!(cache.refresh(secs(1_000)).await, Refresh::Unchanged);
    assert_eq!(mx(&cache), Verdict::Monitor);

    // Incident response: stop all SMS to Mexico.
    let stop_mx = EXAMPLE_POLICY.replace("monitor = [\"MX\"]", "monitor = []");
    let published = store
        .publish(&stop_mx, "policy.toml", 1_001)
        .await
        .expect("publish");
    let stored = store.fetch().await.expect("read").expect("item");
    assert_eq!(stored.body, stop_mx);
    assert_eq!(stored.digest, published.digest);
    assert_eq!(stored.published_at, 1_001);

    assert_eq!(
        cache.refresh(secs(1_010)).await,
        Refresh::Skipped,
        "not due yet"
    );
    assert_eq!(mx(&cache), Verdict::Monitor);
    assert_eq!(
        cache.refresh(secs(1_030)).await,
        Refresh::Loaded {
            digest: published.digest.clone()
        }
    );
    assert_eq!(mx(&cache), Verdict::Block);
    assert_eq!(cache.refresh(secs(1_060)).await, Refresh::Unchanged);

    // A broken item (written around `publish`) is ignored; the last good policy stays.
    client
        .put_item()
        .table_name(&table)
        .item("pk", AttributeValue::S("policy".into()))
        .item("sk", AttributeValue::S("current".into()))
        .item("body", AttributeValue::S("[countries\n".into()))
        .item("digest", AttributeValue::S("not-a-digest".into()))
        .item("published_at", AttributeValue::N("1100".into()))
        .send()
        .await
        .expect("put");
    assert!(matches!(
        cache.refresh(secs(1_090)).await,
        Refresh::Rejected { .. }
    ));
    assert_eq!(mx(&cache), Verdict::Block);

    // Unpublishing returns the trigger to its bootstrap policy.
    store.unpublish().await.expect("unpublish");
    assert_eq!(cache.refresh(secs(1_120)).await, Refresh::Bootstrap);
    assert_eq!(mx(&cache), Verdict::Monitor);
}

async fn outage(endpoint: &str) {
    let client = common::dynamo_at(endpoint);
    let mut cache = PolicyCache::new(
        baseline(),
        Some(DynamoPolicyStore::new(client, "any-table")),
        secs(30),
        Duration::from_millis(300),
    );
    assert!(
        matches!(cache.refresh(secs(1)).await, Refresh::Failed { .. }),
        "{endpoint}"
    );
    // The policy in use still decides.
    assert_eq!(
        cache
            .current()
            .decide(TriggerSource::SignUp, "+19002345678")
            .verdict,
        Verdict::Block
    );
}

#[tokio::test]
async fn a_closed_port_keeps_the_policy_in_use() {
    // Bind then drop: nothing listens on this port any more.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("port")
        .port();
    outage(&format!("http://127.0.0.1:{port}")).await;
}

#[tokio::test]
async fn a_store_that_never_answers_times_out() {
    // Accepts connections (the kernel backlog does) and never answers.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    outage(&format!("http://127.0.0.1:{port}")).await;
    drop(listener);
}
