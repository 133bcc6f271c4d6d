//! `pumpguard replay` on a small recorded stream: one verdict line per input
//! line, the clock from `at` (a resend 30 s later hits the cooldown, 90 s
//! later passes), malformed lines reported and skipped (or fatal with
//! `--strict`), and the summary on stderr or in a file.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn replay(extra: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pumpguard"))
        .args(["replay", "--policy", "examples/policy.toml"])
        .args(["--events", "admin-cli/tests/fixtures/replay.jsonl"])
        .args(extra)
        .current_dir(root())
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

#[test]
fn one_verdict_line_per_event_in_order() {
    let o = replay(&[]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lines: Vec<Value> = String::from_utf8_lossy(&o.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let got: Vec<(u64, String, Vec<String>)> = lines
        .iter()
        .map(|l| {
            (
                l["line"].as_u64().unwrap(),
                l["verdict"].as_str().unwrap_or("error").to_string(),
                l["reasons"]
                    .as_array()
                    .map(|r| r.iter().map(|x| x.as_str().unwrap().to_string()).collect())
                    .unwrap_or_default(),
            )
        })
        .collect();
    let s = |v: &str| v.to_string();
    assert_eq!(
        got,
        vec![
            (1, s("allow"), vec![]),
            (2, s("block"), vec![s("COOLDOWN")]),
            (3, s("block"), vec![s("COUNTRY_NOT_ALLOWED")]),
            (4, s("error"), vec![]),
            (5, s("error"), vec![]),
            (6, s("pass"), vec![]),
            (7, s("allow"), vec![]),
            (8, s("pass"), vec![]),
        ]
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("line 4: \"at\" is not an RFC 3339 time"),
        "{err}"
    );
    assert!(
        err.contains("line 5: not a {\"at\", \"event\"} object"),
        "{err}"
    );
    assert!(err.contains("lines: 8 (2 malformed)"), "{err}");
    assert!(!String::from_utf8_lossy(&o.stdout).contains("4155552671"));
}

#[test]
fn strict_stops_at_the_first_bad_line() {
    let o = replay(&["--strict"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("line 4:"));
}

#[test]
fn the_summary_can_go_to_a_file() {
    let path = std::env::temp_dir().join(format!("pumpguard-replay-{}.json", std::process::id()));
    let o = replay(&["--summary", path.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(0));
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(s["lines"], 8);
    assert_eq!(s["malformed_lines"], 2);
    assert_eq!(s["by_verdict"]["allow"], 2);
    assert_eq!(s["by_verdict"]["block"], 2);
    assert_eq!(s["by_verdict"]["pass"], 2);
    assert_eq!(s["by_reason"]["COOLDOWN"], 1);
    assert_eq!(s["by_country"]["US"], 3);
    assert_eq!(s["by_country"]["JM"], 1);
    assert!(s["spend_allowed_usd"].as_f64().unwrap() > 0.0);
    assert!(s["spend_blocked_usd"].as_f64().unwrap() > 0.0);
}
