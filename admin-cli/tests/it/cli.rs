//! `pumpguard` as a user runs it: arguments in, stdout/stderr and exit code out.
//! Exit codes: 0 allow/monitor/valid, 1 error, 2 usage, 3 blocked.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

use serde_json::Value;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

fn pumpguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pumpguard"))
        .args(args)
        .current_dir(root())
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .expect("run pumpguard")
}

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn check_json(phone: &str) -> (i32, Value) {
    let o = pumpguard(&[
        "check",
        phone,
        "--policy",
        "examples/policy.toml",
        "--output",
        "json",
    ]);
    let v = serde_json::from_slice(&o.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}{}", stdout(&o), stderr(&o)));
    (o.status.code().unwrap_or(-1), v)
}

fn reasons(v: &Value) -> Vec<String> {
    v["reasons"]
        .as_array()
        .expect("reasons")
        .iter()
        .map(|r| r.as_str().expect("code").to_string())
        .collect()
}

#[test]
fn jamaica_is_blocked_by_country() {
    let (code, v) = check_json("+18762101234");
    assert_eq!(code, 3);
    assert_eq!(v["verdict"], "block");
    assert_eq!(v["country"], "JM");
    assert_eq!(v["number_type"], "mobile");
    assert_eq!(reasons(&v), ["COUNTRY_NOT_ALLOWED"]);
    // The example answers with the generic code; the reason stays in the output.
    assert_eq!(v["error_code"], "SMS_BLOCKED");
}

#[test]
fn us_900_is_blocked_as_premium_rate() {
    let (code, v) = check_json("+19002345678");
    assert_eq!(code, 3);
    assert_eq!(v["verdict"], "block");
    assert_eq!(v["country"], "US");
    assert_eq!(v["number_type"], "premium-rate");
    assert_eq!(reasons(&v)[0], "NUMBER_TYPE_PREMIUM_RATE");
}

#[test]
fn thai_trunk_zero_is_blocked_as_a_typo() {
    let (code, v) = check_json("+66081234567");
    assert_eq!(code, 3);
    assert_eq!(v["verdict"], "block");
    assert_eq!(v["country"], "TH");
    assert!(
        reasons(&v).contains(&"TYPO_LEADING_ZERO".to_string()),
        "{v}"
    );
}

#[test]
fn allow_and_monitor_exit_zero() {
    let (code, v) = check_json("+1 (415) 555-2671");
    assert_eq!((code, v["verdict"].as_str()), (0, Some("allow")));
    assert_eq!(reasons(&v), Vec::<String>::new());
    let (code, v) = check_json("+52 55 4817 2936");
    assert_eq!((code, v["verdict"].as_str()), (0, Some("monitor")));
    assert_eq!(reasons(&v), ["COUNTRY_MONITORED"]);
}

#[test]
fn default_policy_is_the_embedded_example() {
    let o = pumpguard(&["check", "+18762101234"]);
    assert_eq!(o.status.code(), Some(3));
    assert!(
        stderr(&o).contains("built-in example policy"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn text_output_snapshots() {
    let mut settings = insta::Settings::clone_current();
    settings.add_filter(r"sha256 [0-9a-f]{12}", "sha256 [digest]");
    settings.bind(|| {
        for (name, phone) in [
            ("check_jamaica", "+18762101234"),
            ("check_premium", "+19002345678"),
            ("check_typo", "+66081234567"),
            ("check_allow", "+14155552671"),
        ] {
            let o = pumpguard(&["check", phone, "--policy", "examples/policy.toml"]);
            insta::assert_snapshot!(name, stdout(&o));
        }
    });
}

#[test]
fn source_outside_sms_sources_is_explained() {
    let dir = tempdir();
    let path = dir.join("p.toml");
    std::fs::write(
        &path,
        "[trigger]\nsms-sources = [\"CustomMessage_SignUp\"]\n[countries]\nallow = [\"US\"]\n\
         crown-dependencies = \"separate\"\n",
    )
    .expect("write");
    let o = pumpguard(&[
        "check",
        "+18762101234",
        "--policy",
        path.to_str().expect("path"),
        "--source",
        "CustomMessage_ForgotPassword",
        "--output",
        "json",
    ]);
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&o.stdout).expect("json");
    assert_eq!(v["verdict"], "allow");
    assert!(v["note"]
        .as_str()
        .is_some_and(|n| n.contains("not in trigger.sms-sources")));
}

fn tempdir() -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "pumpguard-cli-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    std::fs::create_dir_all(&dir).expect("mkdir");
    dir
}

#[test]
fn a_broken_policy_lists_every_problem_and_exits_one() {
    let dir = tempdir();
    let path = dir.join("broken.toml");
    std::fs::write(
        &path,
        "[countries]\nallow = [\"UK\", \"US\"]\nblock = [\"US\"]\ncolour = 1\n",
    )
    .expect("write");
    let p = path.to_str().expect("path");
    let o = pumpguard(&["check", "--policy", p]);
    assert_eq!(o.status.code(), Some(1));
    assert!(o.stdout.is_empty());
    let err = stderr(&o);
    assert!(err.contains("has 4 problems"), "{err}");
    for key in [
        "countries.colour: unknown key",
        "countries.allow[0]: \"UK\"",
        "countries.block: US is also in countries.allow",
        "countries.crown-dependencies: must be set",
    ] {
        assert!(err.contains(&format!("{p}: {key}")), "missing {key}: {err}");
    }
}

#[test]
fn a_valid_policy_checks_clean() {
    let o = pumpguard(&["check", "--policy", "examples/policy.toml"]);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(stdout(&o).starts_with("policy is valid"));
    let o = pumpguard(&["check", "--policy", "/nonexistent/policy.toml"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("cannot read the file"));
}

#[test]
fn usage_errors_exit_two() {
    let o = pumpguard(&["check", "+14155552671", "--source", "SignUp"]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("CustomMessage_SignUp"));
}

#[test]
fn an_empty_number_is_a_usage_error_not_a_verdict() {
    for empty in ["", "   "] {
        let o = pumpguard(&["check", empty]);
        assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
        assert!(stderr(&o).contains("the number is empty"), "{}", stderr(&o));
        assert!(stdout(&o).is_empty());
    }
}

#[test]
fn the_version_names_the_commit_and_the_phone_metadata() {
    let o = pumpguard(&["--version"]);
    assert_eq!(o.status.code(), Some(0));
    let out = stdout(&o);
    assert!(
        out.starts_with(&format!("pumpguard {} (commit ", env!("CARGO_PKG_VERSION"))),
        "{out}"
    );
    let commit = out
        .split("(commit ")
        .nth(1)
        .unwrap_or("")
        .split(',')
        .next()
        .unwrap_or("");
    assert!(
        commit == "unknown"
            || (commit.len() == 12 && commit.chars().all(|c| c.is_ascii_hexdigit())),
        "{out}"
    );
    // The phone metadata the classifier uses.
    let metadata = format!(
        ", libphonenumber metadata {})",
        pumpguard_engine::phone::METADATA_VERSION
    );
    assert!(out.trim_end().ends_with(&metadata), "{out}");
}
