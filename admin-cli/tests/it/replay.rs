//! `pumpguard replay` on a small recorded stream: one verdict line per input
//! line, the clock from `at` (a resend 30 s later hits the cooldown, 90 s
//! later passes), malformed lines reported and skipped (or fatal with
//! `--strict`), and the summary on stderr or in a file. Phone hashes in its
//! log lines are keyed per run; verdicts are the same every run.

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
            // A CustomMessage source this build does not know, to a Jamaican
            // number: the trigger judges it by the static guards and blocks.
            (8, s("block"), vec![s("COUNTRY_NOT_ALLOWED")]),
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
    assert_eq!(s["by_verdict"]["block"], 3);
    assert_eq!(s["by_verdict"]["pass"], 1);
    assert_eq!(s["by_reason"]["COOLDOWN"], 1);
    assert_eq!(s["by_country"]["US"], 3);
    assert_eq!(s["by_country"]["JM"], 2);
    assert!(s["spend_allowed_usd"].as_f64().unwrap() > 0.0);
    assert!(s["spend_blocked_usd"].as_f64().unwrap() > 0.0);
    // Money prints as the prices add up: at most six decimals (micro-USD).
    for key in ["spend_allowed_usd", "spend_blocked_usd"] {
        let shown = s[key].to_string();
        let decimals = shown.split('.').nth(1).map_or(0, str::len);
        assert!(decimals <= 6, "{key}: {shown}");
    }
}

/// The numbers of [`per_run_hashes`], each sent to twice.
fn numbers() -> Vec<String> {
    (0..16)
        .map(|i| format!("+1415555{:04}", 2600 + i))
        .collect()
}

/// Each number signs up, then asks again 75 s later: with a 60 s first step
/// lengthened by up to 50 % (stable per phone), some resends are blocked and
/// some pass, depending on the phone's store hash.
fn jittered_events(dir: &std::path::Path) -> (PathBuf, PathBuf) {
    let example = std::fs::read_to_string(root().join("examples/policy.toml")).unwrap();
    assert!(
        example.contains("jitter-percent = 0\n"),
        "the example changed"
    );
    let policy = dir.join("jitter.toml");
    std::fs::write(
        &policy,
        example.replace("jitter-percent = 0\n", "jitter-percent = 50\n"),
    )
    .unwrap();
    let fixture: Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("trigger/tests/fixtures/signup-allow.json")).unwrap(),
    )
    .unwrap();
    let start = 1_795_000_000;
    let mut lines = String::new();
    for (i, n) in numbers().iter().enumerate() {
        for (resend, source) in [
            (0, "CustomMessage_SignUp"),
            (75, "CustomMessage_ResendCode"),
        ] {
            let mut e = fixture.clone();
            e["triggerSource"] = serde_json::json!(source);
            e["userName"] = serde_json::json!(format!("user-{i}"));
            e["request"]["userAttributes"]["sub"] = serde_json::json!(format!("user-{i}"));
            e["request"]["userAttributes"]["phone_number"] = serde_json::json!(n);
            let at = time::OffsetDateTime::from_unix_timestamp(start + 900 * i as i64 + resend)
                .unwrap()
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap();
            lines.push_str(&serde_json::json!({"at": at, "event": e}).to_string());
            lines.push('\n');
        }
    }
    let events = dir.join("jitter.jsonl");
    std::fs::write(&events, lines).unwrap();
    (policy, events)
}

/// Every `phone_hash=…` field of the log lines.
fn phone_hashes(log: &str) -> Vec<String> {
    log.match_indices("phone_hash=")
        .map(|(i, k)| {
            log[i + k.len()..]
                .chars()
                .take_while(char::is_ascii_hexdigit)
                .collect()
        })
        .collect()
}

#[test]
fn per_run_hashes_in_logs_and_the_same_verdicts_every_run() {
    let dir = std::env::temp_dir().join(format!("pumpguard-replay-keys-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let (policy, events) = jittered_events(&dir);
    let run = || {
        let o = Command::new(env!("CARGO_BIN_EXE_pumpguard"))
            .arg("replay")
            .arg("--policy")
            .arg(&policy)
            .arg("--events")
            .arg(&events)
            .current_dir(root())
            .env("RUST_LOG", "debug")
            .output()
            .unwrap();
        assert_eq!(
            o.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&o.stderr)
        );
        (
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    let (verdicts, log) = run();
    let (verdicts_again, log_again) = run();

    // The verdicts: identical, and the jitter decided some resends.
    assert_eq!(verdicts, verdicts_again);
    let resends: Vec<Value> = verdicts
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .skip(1)
        .step_by(2)
        .collect();
    assert_eq!(resends.len(), numbers().len(), "{verdicts}");
    let blocked = resends.iter().filter(|v| v["verdict"] == "block").count();
    assert!(
        blocked > 0 && blocked < resends.len(),
        "the jitter decided no resend: {verdicts}"
    );
    assert!(!verdicts.contains("phone_hash"), "{verdicts}");

    // The hashes: one per number within a run, none shared between runs,
    // none under the public unkeyed key.
    let unkeyed: Vec<String> = numbers()
        .iter()
        .map(|n| pumpguard_engine::hash::PhoneHasher::unkeyed().hash(n))
        .collect();
    let mut seen = Vec::new();
    for log in [&log, &log_again] {
        let hashes = phone_hashes(log);
        assert_eq!(hashes.len(), 2 * numbers().len(), "{log}");
        assert!(hashes.iter().all(|h| h.len() == 32), "{hashes:?}");
        let distinct: std::collections::BTreeSet<&String> = hashes.iter().collect();
        assert_eq!(distinct.len(), numbers().len(), "{hashes:?}");
        for h in &unkeyed {
            assert!(!log.contains(h.as_str()), "an unkeyed hash in the log: {h}");
        }
        seen.push(distinct.into_iter().cloned().collect::<Vec<_>>());
    }
    assert!(
        seen[0].iter().all(|h| !seen[1].contains(h)),
        "a hash repeats across runs: {seen:?}"
    );
}

#[test]
fn the_output_flag_is_spelled_as_on_every_other_command() {
    let text = replay(&["--output", "text"]);
    assert_eq!(text.status.code(), Some(0));
    let out = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(out.starts_with("line 1: allow"), "{out}");
    // The old spelling still works, with the same result.
    let old = replay(&["--output-format", "text"]);
    assert_eq!(String::from_utf8_lossy(&old.stdout), out);
}

/// The example policy sized for the mixed trace's pool (tens of thousands
/// of SMS a day): the budget and pool rate raised, as `BENCHMARKS.md`'s
/// replay bench does with `sed`, so that every guard, not only the budget,
/// decides.
fn large_pool_policy() -> String {
    let text = std::fs::read_to_string(root().join("examples/policy.toml")).unwrap();
    let mut out = text.clone();
    for (from, to) in [
        ("\nmax-per-minute = 100\n", "\nmax-per-minute = 300\n"),
        ("\nmax-per-hour = 1000\n", "\nmax-per-hour = 6000\n"),
        ("\ndaily-usd = 50.0\n", "\ndaily-usd = 3000.0\n"),
        ("\nmonthly-usd = 500.0\n", "\nmonthly-usd = 60000.0\n"),
    ] {
        assert!(
            out.contains(from),
            "examples/policy.toml no longer has {from:?}"
        );
        out = out.replace(from, to);
    }
    out
}

/// The first 30,000 events of `scripts/mixed-trace.py` (21 countries,
/// sign-ups, resends, MFA, resets and their completions, attack waves)
/// replay to the verdicts recorded in
/// `tests/fixtures/mixed-trace-30k.expected.json`: the summary in full and
/// the SHA-256 of every verdict line. A change to the engine or the store
/// that changes any verdict fails here; when the change is meant, rerun
/// with `PUMPGUARD_RECORD=1` to rewrite the file and review its diff.
#[test]
fn the_mixed_trace_replays_to_its_recorded_verdicts() {
    use sha2::Digest;
    let trace = Command::new("python3")
        .args(["scripts/mixed-trace.py", "30000"])
        .current_dir(root())
        .output()
        .expect("python3 must be on PATH to generate the trace (scripts/test.sh provides it)");
    assert!(
        trace.status.success(),
        "{}",
        String::from_utf8_lossy(&trace.stderr)
    );
    assert_eq!(trace.stdout.iter().filter(|&&b| b == b'\n').count(), 30_000);

    let policy = pumpguard_engine::Policy::parse(&large_pool_policy(), "large pool").unwrap();
    let mut verdicts = Vec::new();
    let summary =
        pumpguard_cli::replay::replay(&policy, &trace.stdout[..], &mut verdicts, true, |_| {})
            .unwrap();
    let got = serde_json::json!({
        "events": 30_000,
        "verdict_lines_sha256": hex::encode(sha2::Sha256::digest(&verdicts)),
        "summary": summary,
    });
    let path = root().join("admin-cli/tests/fixtures/mixed-trace-30k.expected.json");
    if std::env::var_os("PUMPGUARD_RECORD").is_some() {
        std::fs::write(&path, serde_json::to_string_pretty(&got).unwrap() + "\n").unwrap();
    }
    let want: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(
        got["summary"], want["summary"],
        "the totals changed (PUMPGUARD_RECORD=1 rewrites the file when that is meant)"
    );
    assert_eq!(
        got["verdict_lines_sha256"], want["verdict_lines_sha256"],
        "the totals match but some verdict lines changed"
    );
    // The trace exercises what it says it does.
    let by = |k: &str| summary.by_verdict.get(k).copied().unwrap_or(0);
    assert!(
        by("allow") > 5_000 && by("block") > 1_000 && by("pass") > 5_000,
        "{summary:?}"
    );
    assert!(summary.by_country.len() >= 16, "{:?}", summary.by_country);
}

/// `replay --report` on a mixed trace: one page with the three charts, a
/// headline whose figures are the summary's, the monitored SMS of a
/// monitor-mode policy shown as such, and no number of the trace in it.
#[test]
fn the_report_shows_the_summary_and_no_number() {
    let dir = std::env::temp_dir().join(format!("pumpguard-replay-report-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let trace = Command::new("python3")
        .args(["scripts/mixed-trace.py", "6000"])
        .current_dir(root())
        .output()
        .expect("python3 must be on PATH (scripts/test.sh provides it)");
    assert!(trace.status.success());
    let events = dir.join("trace.jsonl");
    std::fs::write(&events, &trace.stdout).unwrap();
    let page = dir.join("report.html");
    let summary = dir.join("summary.json");
    let o = Command::new(env!("CARGO_BIN_EXE_pumpguard"))
        .args(["replay", "--policy", "examples/policy.toml", "--events"])
        .arg(&events)
        .arg("--report")
        .arg(&page)
        .arg("--summary")
        .arg(&summary)
        .current_dir(root())
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    let s: Value = serde_json::from_str(&std::fs::read_to_string(&summary).unwrap()).unwrap();

    assert!(html.starts_with("<!DOCTYPE html>"));
    assert!(!html.contains("<script") && !html.contains("src="));
    for chart in ["over-time", "by-reason", "by-country"] {
        assert!(html.contains(&format!("data-chart=\"{chart}\"")), "{chart}");
    }
    let judged: u64 = s["by_country"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_u64().unwrap())
        .sum();
    let refused = s["by_verdict"]["block"].as_u64().unwrap_or(0);
    assert!(refused > 0 && judged > refused, "{s}");
    let spend_refused = format!("${:.2}", s["spend_blocked_usd"].as_f64().unwrap());
    let headline = html
        .split("id=\"headline\">")
        .nth(1)
        .and_then(|h| h.split("</p>").next())
        .unwrap();
    assert!(
        headline.contains(&format!("({refused} of {judged} judged)")),
        "{headline}"
    );
    assert!(
        headline.contains(&spend_refused),
        "{headline} {spend_refused}"
    );
    // Every reason of the summary is on the reasons chart.
    for reason in s["by_reason"].as_object().unwrap().keys().take(15) {
        assert!(html.contains(reason.as_str()), "{reason}");
    }
    // No number of the trace, in any part longer than its block.
    let text = String::from_utf8_lossy(&trace.stdout);
    let mut phones = std::collections::BTreeSet::new();
    for line in text.lines() {
        let v: Value = serde_json::from_str(line).unwrap();
        if let Some(p) = v
            .pointer("/event/request/userAttributes/phone_number")
            .and_then(Value::as_str)
        {
            phones.insert(p.to_string());
        }
    }
    assert!(phones.len() > 100);
    for p in &phones {
        let digits = p.trim_start_matches('+');
        assert!(!html.contains(digits), "a number is in the report");
        assert!(
            !html.contains(&digits[digits.len() - 6..]),
            "a number's tail is in the report"
        );
    }
    // A monitor-mode policy's would-be refusals are monitored, not refused.
    let monitor = dir.join("monitor.toml");
    let example = std::fs::read_to_string(root().join("examples/policy.toml")).unwrap();
    let at = example.find("[trigger]").unwrap();
    let (head, tail) = example.split_at(at);
    let tail = tail.replacen("mode = \"enforce\"", "mode = \"monitor\"", 1);
    std::fs::write(&monitor, format!("{head}{tail}")).unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_pumpguard"))
        .args(["replay", "--policy"])
        .arg(&monitor)
        .arg("--events")
        .arg(&events)
        .arg("--report")
        .arg(&page)
        .current_dir(root())
        .env("RUST_LOG", "error")
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let html = std::fs::read_to_string(&page).unwrap();
    assert!(
        html.contains("SMS refused 0.00% (0 of"),
        "monitor mode refuses nothing"
    );
    assert!(
        html.contains("<td>US</td>"),
        "the cohorts table lists monitored blocks"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}
