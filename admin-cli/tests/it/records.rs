//! Records: the trigger, in monitor mode with `[trigger] record = true`,
//! writes the number's features on each decision's log line, never the
//! number. Its log, captured through the Lambda's own log setup, replays to
//! the verdicts the raw events get: under the recording policy, and under
//! changed modes, limits and countries. A policy that needs a prefix depth
//! the records lack is refused with a message that says why.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::store::MemoryStore;
use pumpguard_engine::{Engine, Policy};
use pumpguard_trigger::trigger::{handle, TriggerContext};
use serde_json::Value;

use crate::common::replayed::{assert_no_number, replay_file};

const KEY: &[u8] = b"records-test-key-0123456789";

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn example() -> String {
    std::fs::read_to_string(root().join("examples/policy.toml")).unwrap()
}

/// The example policy with `[trigger] mode` set to `mode`, recording.
fn recording(mode: &str) -> String {
    let text = example();
    let with = text.replacen(
        "mode = \"enforce\"",
        &format!("mode = \"{mode}\"\nrecord = true"),
        1,
    );
    assert_ne!(with, text, "the example policy's [trigger] mode line moved");
    with
}

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(b);
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Runs the trigger on every event of `trace` with the Lambda's log setup
/// and returns what it logged.
fn trigger_log(policy: &str, trace: &str) -> String {
    let engine = Engine::new(Arc::new(Policy::parse(policy, "recording").unwrap()));
    let store = Arc::new(MemoryStore::new());
    let keys = PhoneHasher::new(KEY).unwrap();
    let ctx = TriggerContext::new(Arc::clone(&store), keys.clone(), keys);
    let out = Captured::default();
    let writer = out.clone();
    let sub = pumpguard_trigger::logs::subscriber(Some("info"), move || writer.clone());
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    {
        let _guard = tracing::subscriber::set_default(sub);
        for line in trace.lines() {
            let l: Value = serde_json::from_str(line).unwrap();
            let at = time::OffsetDateTime::parse(
                l["at"].as_str().unwrap(),
                &time::format_description::well_known::Rfc3339,
            )
            .unwrap()
            .unix_timestamp();
            store.expire(at);
            let _ = rt.block_on(handle(&engine, &ctx, l["event"].clone(), at));
        }
    }
    let bytes = out.0.lock().unwrap().clone();
    String::from_utf8(bytes).unwrap()
}

#[test]
fn the_trigger_log_in_monitor_mode_replays_to_the_raw_events_verdicts() {
    let dir = std::env::temp_dir().join(format!("pumpguard-records-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = Command::new("python3")
        .args(["scripts/mixed-trace.py", "8000"])
        .current_dir(root())
        .output()
        .expect("python3 must be on PATH (scripts/test.sh provides it)");
    assert!(trace.status.success());
    let trace = String::from_utf8(trace.stdout).unwrap();
    let raw = dir.join("trace.jsonl");
    std::fs::write(&raw, &trace).unwrap();

    let monitor = recording("monitor");
    let log = trigger_log(&monitor, &trace);
    let logged = dir.join("trigger.log");
    std::fs::write(&logged, &log).unwrap();

    // The log holds records, and no number in any form.
    let records = log.lines().filter(|l| l.contains("\"record\":")).count();
    assert!(
        records > 1000,
        "{records} records in {} lines",
        log.lines().count()
    );
    assert_no_number(&raw, &logged);

    let policies = [
        ("monitor", monitor.clone()),
        // The same policy enforcing: what switching it on would have done.
        ("enforce", example()),
        // Tighter limits and another country list.
        (
            "changed",
            example()
                .replacen("allow = [", "allow = [\"JM\", ", 1)
                .replace("max-phones-per-day = ", "max-phones-per-day = 1 #"),
        ),
    ];
    for (name, text) in policies {
        let path = dir.join(format!("{name}.toml"));
        std::fs::write(&path, &text).unwrap();
        let (mut from_raw, raw_summary) = replay_file(&path, &raw);
        let (mut from_log, log_summary) = replay_file(&path, &logged);
        // A record exists only for what the trigger judged or learnt from.
        from_raw.retain(|(v, _)| v != "pass");
        from_log.retain(|(v, _)| v != "pass");
        assert!(from_raw.len() > 1000, "{name}: {} judged", from_raw.len());
        assert_eq!(
            from_raw.len(),
            from_log.len(),
            "{name}: judged SMS from the raw events and from the log"
        );
        for (i, (a, b)) in from_raw.iter().zip(&from_log).enumerate() {
            assert_eq!(a, b, "{name}: judged SMS {i}");
        }
        for k in ["by_verdict", "by_reason", "by_country", "spend_blocked_usd"] {
            let ignoring_pass = |s: &Value| {
                let mut v = s[k].clone();
                if let Some(m) = v.as_object_mut() {
                    m.remove("pass");
                }
                v
            };
            assert_eq!(
                ignoring_pass(&raw_summary),
                ignoring_pass(&log_summary),
                "{name}: {k}"
            );
        }
        assert!(log_summary["record_lines"].as_u64().unwrap() > 1000);
        if name == "enforce" {
            assert!(
                from_raw.iter().any(|(v, _)| v == "block"),
                "the enforcing policy blocks some of the trace"
            );
        }
    }

    // A prefix depth the records were not written with: refused, and why.
    let deeper = dir.join("deeper.toml");
    std::fs::write(
        &deeper,
        example().replace("prefix-hidden-digits = [", "prefix-hidden-digits = [2, "),
    )
    .unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_pumpguard"))
        .arg("replay")
        .arg("--policy")
        .arg(&deeper)
        .arg("--events")
        .arg(&logged)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "{err}");
    assert!(
        err.contains("prefix-hidden-digits 2") && err.contains("raw events"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
