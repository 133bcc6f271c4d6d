//! The committed CloudFormation template agrees with what `pumpguard render
//! cloudformation` produces from `waf/` and the example policy, and `--check`
//! catches drift.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::path::PathBuf;
use std::process::{Command, Output};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn pumpguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pumpguard"))
        .args(args)
        .current_dir(root())
        .output()
        .unwrap()
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pumpguard-render-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_committed_template_is_rendered_from_the_example_policy() {
    let o = pumpguard(&[
        "render",
        "cloudformation",
        "--policy",
        "examples/policy.toml",
        "--template",
        "cloudformation/template.yaml",
        "--check",
    ]);
    assert_eq!(
        o.status.code(),
        Some(0),
        "the template drifted: run `pumpguard render cloudformation --policy examples/policy.toml --write`\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
}

#[test]
fn check_catches_a_policy_change_and_write_fixes_it() {
    let dir = scratch("drift");
    let template = dir.join("template.yaml");
    std::fs::copy(root().join("cloudformation/template.yaml"), &template).unwrap();
    let policy = dir.join("policy.toml");
    let text = std::fs::read_to_string(root().join("examples/policy.toml"))
        .unwrap()
        .replace("monitor = [\"MX\"]", "monitor = []");
    std::fs::write(&policy, text).unwrap();
    let (p, t) = (policy.to_str().unwrap(), template.to_str().unwrap());
    let args = |extra: &str| {
        vec![
            "render",
            "cloudformation",
            "--policy",
            p,
            "--template",
            t,
            extra,
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>()
    };
    let run = |a: Vec<String>| pumpguard(&a.iter().map(String::as_str).collect::<Vec<_>>());
    let o = run(args("--check"));
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("is out of date"));
    assert_eq!(run(args("--write")).status.code(), Some(0));
    assert_eq!(run(args("--check")).status.code(), Some(0));
    let rendered = std::fs::read_to_string(&template).unwrap();
    assert!(rendered.contains(r#"{"CountryCode":"MX","ProtectStatus":"BLOCK"}"#));
}

#[test]
fn a_template_without_its_markers_is_refused() {
    let dir = scratch("markers");
    let template = dir.join("template.yaml");
    std::fs::write(&template, "Resources: {}\n").unwrap();
    let o = pumpguard(&[
        "render",
        "cloudformation",
        "--policy",
        "examples/policy.toml",
        "--template",
        template.to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&o.stderr).contains("# BEGIN GENERATED waf-rules"));
}
