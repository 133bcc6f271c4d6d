//! Decision latency of the guard engine with a static-only policy (the example
//! policy), and of the whole adapter path on a real-shaped event.
//! Run: `cargo bench -p pumpguard-trigger --bench decision`.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use pumpguard::hash::PhoneHasher;
use pumpguard::{Engine, Policy, TriggerSource};

const NUMBERS: [(&str, &str); 5] = [
    ("allow_us", "+14155552671"),
    ("block_jamaica", "+18762101234"),
    ("block_premium", "+19002345678"),
    ("block_typo", "+66081234567"),
    ("allow_gb_mobile", "+447700900123"),
];

fn decide(c: &mut Criterion) {
    let engine = Engine::new(Arc::new(Policy::example()));
    let mut g = c.benchmark_group("decide");
    for (name, phone) in NUMBERS {
        g.bench_function(name, |b| {
            b.iter(|| engine.decide(TriggerSource::SignUp, black_box(phone)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("classify");
    g.bench_function("parse_and_type_us", |b| {
        b.iter(|| pumpguard::phone::classify(black_box("+14155552671")))
    });
    g.finish();

    let hasher = PhoneHasher::new(b"bench-key-0123456789").expect("key");
    let event: serde_json::Value =
        serde_json::from_str(include_str!("../tests/fixtures/signup-allow.json")).expect("fixture");
    c.bench_function("handle_event_allow", |b| {
        b.iter(|| pumpguard::trigger::handle(&engine, &hasher, black_box(event.clone())))
    });
}

criterion_group!(benches, decide);
criterion_main!(benches);
