//! Requests and round trips per decision against DynamoDB in moto, and the
//! wall time of a decision over loopback. A bench command, not a criterion
//! run: it needs moto, so run it with the server `scripts/test.sh` starts, or:
//!
//! ```sh
//! .venv/bin/moto_server -H 127.0.0.1 -p 5055 &
//! PUMPGUARD_TEST_MOTO=http://127.0.0.1:5055 cargo bench -p pumpguard-trigger --bench moto
//! ```
//!
//! A "round trip" is a wave of requests in flight together: requests that
//! start when the same number of earlier requests have completed belong to
//! one wave, so a decision whose requests all start before any answer costs
//! one round trip.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::interceptors::{
    BeforeDeserializationInterceptorContextRef, BeforeTransmitInterceptorContextRef,
};
use aws_sdk_dynamodb::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::stateful::{judge, verified, Subject};
use pumpguard_engine::{Engine, Policy, TriggerSource};
use pumpguard_trigger::dynamo::DynamoStore;

#[derive(Debug, Default)]
struct Waves {
    started: AtomicUsize,
    completed: AtomicUsize,
    /// How many requests had completed when each request started.
    start_points: Mutex<BTreeSet<usize>>,
}

#[derive(Debug, Clone)]
struct Counter(Arc<Waves>);

impl Intercept for Counter {
    fn name(&self) -> &'static str {
        "round-trip counter"
    }
    fn read_before_transmit(
        &self,
        _: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.started.fetch_add(1, Ordering::SeqCst);
        let done = self.0.completed.load(Ordering::SeqCst);
        self.0.start_points.lock().unwrap().insert(done);
        Ok(())
    }
    fn read_after_transmit(
        &self,
        _: &BeforeDeserializationInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.completed.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}

impl Counter {
    fn reset(&self) {
        self.0.started.store(0, Ordering::SeqCst);
        self.0.completed.store(0, Ordering::SeqCst);
        self.0.start_points.lock().unwrap().clear();
    }
    fn requests(&self) -> usize {
        self.0.started.load(Ordering::SeqCst)
    }
    fn round_trips(&self) -> usize {
        self.0.start_points.lock().unwrap().len()
    }
}

fn main() {
    let Ok(endpoint) = std::env::var("PUMPGUARD_TEST_MOTO") else {
        eprintln!("set PUMPGUARD_TEST_MOTO to a moto server (see the file's header)");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(run(&endpoint));
}

async fn run(endpoint: &str) {
    let counter = Counter(Arc::default());
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "bench"))
        .endpoint_url(endpoint)
        .interceptor(counter.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let table = format!("bench-{}", std::process::id());
    let key = |n: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .unwrap()
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    client
        .create_table()
        .table_name(&table)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .send()
        .await
        .unwrap();
    let store = DynamoStore::new(client, &table);
    let engine = Engine::new(Arc::new(Policy::example()));
    let keys = PhoneHasher::new(b"bench-key-0123456789").unwrap();

    let n = 200;
    let mut requests = Vec::new();
    let mut trips = Vec::new();
    let mut times = Vec::new();
    for i in 0..n {
        let phone = format!("+1201555{:04}", 1000 + i * 37);
        counter.reset();
        let started = Instant::now();
        let subject = Subject {
            source: TriggerSource::SignUp,
            phone: &phone,
            user: Some("bench-user"),
            now: 1_795_262_400 + i64::from(i),
        };
        let d = judge(&engine, &store, &keys, subject).await;
        times.push(started.elapsed());
        assert!(!d.store_error, "{d:?}");
        requests.push(counter.requests());
        trips.push(counter.round_trips());
    }
    times.sort();
    let median = |v: &mut Vec<usize>| {
        v.sort_unstable();
        v[v.len() / 2]
    };
    let p = |q: f64| times[((times.len() as f64 - 1.0) * q) as usize];
    println!("decisions (example policy, every guard on): {n}");
    println!(
        "requests per decision: median {}, max {}",
        median(&mut requests.clone()),
        requests.iter().max().unwrap()
    );
    println!(
        "round trips per decision: median {}, max {}",
        median(&mut trips.clone()),
        trips.iter().max().unwrap()
    );
    println!(
        "wall time per decision over loopback: p50 {:?}, p90 {:?}, max {:?}",
        p(0.5),
        p(0.9),
        times.last().copied().unwrap_or(Duration::ZERO)
    );

    counter.reset();
    let completion = pumpguard_engine::stateful::Completion {
        phone: "+12015551000",
        user: Some("bench-user"),
        kind: Some(pumpguard_engine::guards::known::Completion::ConfirmSignUp),
    };
    let ok = verified(&engine, &store, &keys, completion, 1_795_262_500)
        .await
        .unwrap();
    println!(
        "verification (PostConfirmation), counted = {ok}: {} requests, {} round trips",
        counter.requests(),
        counter.round_trips()
    );
}
