//! The policy parser on arbitrary text. A policy that parses must also run:
//! the engine judges a few numbers with it, the stateful guards included.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pumpguard_engine::policy::Disclosure;
use pumpguard_engine::stateful::{judge, Subject};
use pumpguard_engine::store::MemoryStore;
use pumpguard_engine::{Engine, Policy, TriggerSource};
use pumpguard_fuzz::{runtime, T};
use std::sync::Arc;

fuzz_target!(|text: &str| {
    let policy = match Policy::parse(text, "fuzz.toml") {
        Ok(p) => p,
        Err(e) => {
            assert!(!e.problems.is_empty(), "an error lists its problems");
            let _ = e.to_string();
            return;
        }
    };
    // Parsing is deterministic.
    let again = Policy::parse(text, "fuzz.toml").unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(again.digest, policy.digest);
    let engine = Engine::new(Arc::new(policy));
    let store = MemoryStore::new();
    let keys = pumpguard_engine::hash::PhoneHasher::unkeyed();
    for (i, phone) in [
        "+14155552671",
        "+18762101234",
        "+447700900123",
        "+19004571829",
    ]
    .iter()
    .enumerate()
    {
        for step in 0..3i64 {
            let subject = Subject {
                source: TriggerSource::SignUp,
                phone,
                user: Some("u1"),
                now: T + step * 59 + i as i64,
            };
            let d = runtime().block_on(judge(&engine, &store, &keys, subject));
            let _ = d.block_code(Disclosure::Coarse);
            let _ = d.retry_after();
        }
    }
});
