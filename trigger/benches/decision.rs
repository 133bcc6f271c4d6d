//! Decision latency of the guard engine with a static-only policy, the
//! adapter path on a real-shaped event, and whole decisions (static and every
//! stateful guard) against the in-memory store.
//! Run: `cargo bench -p pumpguard-trigger --bench decision`.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::hint::black_box;
use std::sync::Arc;

use criterion::{criterion_group, criterion_main, Criterion};
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::policy::EXAMPLE_POLICY;
use pumpguard_engine::stateful::{judge, Subject};
use pumpguard_engine::store::MemoryStore;
use pumpguard_engine::{Engine, Policy, TriggerSource};
use pumpguard_trigger::trigger::TriggerContext;

const NUMBERS: [(&str, &str); 5] = [
    ("allow_us", "+14155552671"),
    ("block_jamaica", "+18762101234"),
    ("block_premium", "+19002345678"),
    ("block_typo", "+66081234567"),
    ("allow_gb_mobile", "+447700900123"),
];

/// The example policy's static part, every stateful guard off.
fn static_only() -> Policy {
    let head = EXAMPLE_POLICY
        .split("# ---------------------------------------------------------------- stateful")
        .next()
        .unwrap();
    let off = [
        "cooldown",
        "user-limits",
        "prefix-velocity",
        "country-velocity",
        "pool-rate",
        "budget",
    ]
    .map(|s| format!("[{s}]\nmode = \"off\"\n"))
    .join("");
    Policy::parse(&format!("{head}\n{off}"), "static-only").unwrap()
}

fn decide(c: &mut Criterion) {
    let engine = Engine::new(Arc::new(static_only()));
    let mut g = c.benchmark_group("decide");
    for (name, phone) in NUMBERS {
        g.bench_function(name, |b| {
            b.iter(|| engine.decide(TriggerSource::SignUp, black_box(phone)))
        });
    }
    g.finish();

    let mut g = c.benchmark_group("classify");
    g.bench_function("parse_and_type_us", |b| {
        b.iter(|| pumpguard_engine::phone::classify(black_box("+14155552671")))
    });
    g.finish();

    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    let hasher = PhoneHasher::new(b"bench-key-0123456789").expect("key");
    let ctx = TriggerContext::new(MemoryStore::new(), hasher.clone(), hasher.clone());
    let event: serde_json::Value =
        serde_json::from_str(include_str!("../tests/fixtures/signup-allow.json")).unwrap();
    c.bench_function("handle_event_allow_static_only", |b| {
        b.iter(|| {
            rt.block_on(pumpguard_trigger::trigger::handle(
                &engine,
                &ctx,
                black_box(event.clone()),
                1_795_262_400,
            ))
        })
    });

    // Every guard on (the example policy), against the in-memory store: 1,000
    // phones in one range, the clock moving 7 s per decision, so the run mixes
    // allows with cooldown and prefix-velocity blocks.
    let full = Engine::new(Arc::new(Policy::example()));
    let store = MemoryStore::new();
    let phones: Vec<String> = (0..1000)
        .map(|i| format!("+1415555{:04}", 1000 + i * 7))
        .collect();
    let mut i = 0usize;
    c.bench_function("judge_all_guards_memory_store", |b| {
        b.iter(|| {
            i += 1;
            let subject = Subject {
                source: TriggerSource::SignUp,
                phone: &phones[i % phones.len()],
                user: Some("bench-user"),
                now: 1_795_262_400 + 7 * i64::try_from(i).unwrap(),
            };
            rt.block_on(judge(&full, &store, &hasher, subject))
        })
    });
}

criterion_group!(benches, decide);
criterion_main!(benches);
