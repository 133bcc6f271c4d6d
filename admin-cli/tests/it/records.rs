//! Records: the trigger, in monitor mode with `[trigger] record = true`,
//! writes the number's features on each decision's log line, never the
//! number. Its log, captured through the Lambda's own log setup, replays to
//! the verdicts the raw events get: under the recording policy, and under
//! changed modes, limits and countries. A policy that needs a prefix depth
//! the records lack is refused with a message that says why. The same log,
//! put into CloudWatch Logs (moto) as two instances' streams, imports with
//! `import trigger-logs` in time order and replays alike.

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
    imported_from_cloudwatch_logs_replays_alike(&dir, &log, &raw, &monitor);
    let _ = std::fs::remove_dir_all(&dir);
}

/// The log as CloudWatch Logs holds it: two instances' streams, Lambda's
/// own text lines among the trigger's. `import trigger-logs` reads the group
/// and puts the records back in time order, and they replay as the raw
/// events do.
fn imported_from_cloudwatch_logs_replays_alike(
    dir: &std::path::Path,
    log: &str,
    raw: &std::path::Path,
    policy: &str,
) {
    use aws_sdk_cloudwatchlogs::types::InputLogEvent;
    let group = format!("/aws/lambda/pumpguard-records-{}", std::process::id());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let base_ms = rt.block_on(async {
        let config = crate::common::moto::sdk("us-east-1").await;
        let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
        logs.create_log_group()
            .log_group_name(&group)
            .send()
            .await
            .unwrap();
        // Log events must be recent, and before now for the import's
        // default end: they are logged from an hour before the group's
        // creation, by the server's clock. Their times are not what orders
        // the records (the records' `at` is).
        let base_ms = logs
            .describe_log_groups()
            .log_group_name_prefix(&group)
            .send()
            .await
            .unwrap()
            .log_groups()
            .iter()
            .find(|g| g.log_group_name() == Some(group.as_str()))
            .and_then(|g| g.creation_time())
            .expect("the group's creation time")
            - 3_600_000;
        // Instance a logs the even lines, instance b the odd ones: read
        // stream by stream, the records are out of time order.
        for (n, stream) in ["2026/12/01/[$LATEST]a", "2026/12/01/[$LATEST]b"]
            .iter()
            .enumerate()
        {
            logs.create_log_stream()
                .log_group_name(&group)
                .log_stream_name(*stream)
                .send()
                .await
                .unwrap();
            // (when logged, line): a line is logged as the trigger judges.
            let mut lines: Vec<(usize, String)> =
                vec![(0, "START RequestId: 0 Version: $LATEST".into())];
            lines.extend(
                log.lines()
                    .enumerate()
                    .filter(|(i, _)| i % 2 == n)
                    .map(|(i, l)| (i + 1, l.to_string())),
            );
            lines.push((log.lines().count() + 1, "END RequestId: 0".into()));
            for batch in lines.chunks(500) {
                let mut put = logs
                    .put_log_events()
                    .log_group_name(&group)
                    .log_stream_name(*stream);
                for (i, l) in batch {
                    put = put.log_events(
                        InputLogEvent::builder()
                            .timestamp(base_ms + i64::try_from(*i).unwrap())
                            .message(l)
                            .build()
                            .unwrap(),
                    );
                }
                put.send().await.unwrap();
            }
        }
        base_ms
    });
    let start = time::OffsetDateTime::from_unix_timestamp(base_ms / 1000 - 60)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let imported = dir.join("imported.jsonl");
    let o = Command::new(env!("CARGO_BIN_EXE_pumpguard"))
        .args([
            "import",
            "trigger-logs",
            "--log-group",
            &group,
            "--start",
            &start,
        ])
        .args(["--region", "us-east-1", "--endpoint-url"])
        .arg(crate::common::moto::moto())
        .arg("--out")
        .arg(&imported)
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    let records = log.lines().filter(|l| l.contains("\"record\":")).count();
    assert!(
        err.contains(&format!("{records} records read")),
        "{records} records logged: {err}"
    );
    let text = std::fs::read_to_string(&imported).unwrap();
    let ats: Vec<i64> = text
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["at"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(ats.len(), records);
    assert!(ats.windows(2).all(|w| w[0] <= w[1]), "in time order");
    assert_no_number(raw, &imported);

    let path = dir.join("imported-policy.toml");
    std::fs::write(&path, policy).unwrap();
    let (mut from_raw, _) = replay_file(&path, raw);
    let (mut from_import, _) = replay_file(&path, &imported);
    from_raw.retain(|(v, _)| v != "pass");
    from_import.retain(|(v, _)| v != "pass");
    assert_eq!(from_raw.len(), from_import.len());
    assert!(
        from_raw == from_import,
        "the imported records replay to the raw events' verdicts"
    );

    // What does not apply to trigger logs is refused, before any read.
    let o = Command::new(env!("CARGO_BIN_EXE_pumpguard"))
        .args(["import", "trigger-logs", "--file"])
        .arg(&imported)
        .arg("--raw")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        !o.status.success() && err.contains("--raw does not apply"),
        "{err}"
    );
}
