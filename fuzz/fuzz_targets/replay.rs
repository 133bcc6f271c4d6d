//! `pumpguard replay`'s line reader on arbitrary bytes as the JSONL input.
#![no_main]

use libfuzzer_sys::fuzz_target;
use pumpguard_engine::Policy;
use std::sync::OnceLock;

fuzz_target!(|data: &[u8]| {
    static POLICY: OnceLock<Policy> = OnceLock::new();
    let policy = POLICY.get_or_init(Policy::example);
    let Some((&flags, input)) = data.split_first() else {
        return;
    };
    let strict = flags & 1 == 1;
    let mut out = Vec::new();
    let result = pumpguard_cli::replay::replay(policy, input, &mut out, strict, |_| {});
    // Every output line is JSON.
    let text = String::from_utf8(out).unwrap_or_else(|e| panic!("output not UTF-8: {e}"));
    for line in text.lines() {
        serde_json::from_str::<serde_json::Value>(line)
            .unwrap_or_else(|e| panic!("output line is not JSON: {e}"));
    }
    if let Ok(summary) = result {
        // At most one output line per input line; strict runs stop at the first bad one.
        assert!(summary.malformed_lines <= summary.lines);
        assert!(text.lines().count() as u64 <= summary.lines);
    }
});
