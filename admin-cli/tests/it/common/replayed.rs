//! `pumpguard replay` of a file, and the privacy checker over an output, as
//! the record and import tests run them.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

use serde_json::Value;

use super::moto::root;

/// One verdict line: the verdict and its reasons.
pub type Verdict = (String, Vec<String>);

/// Replays two inputs of the same traffic (records and raw events) under
/// `policy`, asserts they get the same verdicts, and returns them with the
/// first input's summary.
pub fn replay_alike(policy: &Path, records: &Path, raw: &Path) -> (Vec<Verdict>, Value) {
    let (from_records, summary) = replay_file(policy, records);
    let (from_raw, _) = replay_file(policy, raw);
    assert_eq!(
        from_records, from_raw,
        "records and raw events replay alike"
    );
    (from_records, summary)
}

/// Replays `events` under `policy` (paths from the repository's root, or
/// absolute): every verdict line in order, and the summary.
pub fn replay_file(policy: &Path, events: &Path) -> (Vec<Verdict>, Value) {
    let summary = events.with_extension(format!(
        "{}.summary.json",
        policy.file_stem().unwrap().to_string_lossy()
    ));
    let o = Command::new(env!("CARGO_BIN_EXE_pumpguard"))
        .arg("replay")
        .arg("--policy")
        .arg(policy)
        .arg("--events")
        .arg(events)
        .arg("--summary")
        .arg(&summary)
        .current_dir(root())
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let verdicts = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .map(|l| {
            let reasons = l["reasons"].as_array().unwrap().iter();
            (
                l["verdict"].as_str().unwrap().to_string(),
                reasons.map(|r| r.as_str().unwrap().to_string()).collect(),
            )
        })
        .collect();
    let s = serde_json::from_str(&std::fs::read_to_string(summary).unwrap()).unwrap();
    (verdicts, s)
}

/// `scripts/privacy_check.py` finds no number of `numbers` in `file`.
pub fn assert_no_number(numbers: &Path, file: &Path) {
    let o = Command::new("python3")
        .arg("scripts/privacy_check.py")
        .arg("--phones-from")
        .arg(numbers)
        .arg(file)
        .current_dir(root())
        .output()
        .expect("python3 must be on PATH (scripts/test.sh provides it)");
    assert!(
        o.status.success(),
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
}
