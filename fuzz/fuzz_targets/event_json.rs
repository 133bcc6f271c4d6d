//! Arbitrary bytes as the Lambda's event JSON, through the real adapter on
//! the in-memory store. The first byte picks the policy and the time.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pumpguard_fuzz::{context, engine, handle_and_check, T};

fuzz_target!(|data: &[u8]| {
    let Some((&pick, json)) = data.split_first() else {
        return;
    };
    let Ok(event) = serde_json::from_slice::<serde_json::Value>(json) else {
        return;
    };
    let engine = engine(pick & 0x0f);
    let ctx = context();
    let now = T + i64::from(pick >> 4) * 61;
    // Twice on one store: the second sees the first's counters.
    let _ = handle_and_check(&engine, &ctx, event.clone(), now);
    let _ = handle_and_check(&engine, &ctx, event, now + 1);
});
