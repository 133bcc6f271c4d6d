//! No output of the `pumpguard` command shows a phone number or a secret.
//!
//! The numbers of `trigger/tests/fixtures/test-phones.txt` go through every
//! command that can meet one: `check` (every number in every format, text
//! and JSON, with the example policy and with one that names numbers in
//! `allow-numbers` and `[protect] number-overrides`, and a broken policy
//! holding numbers), `replay` (every number for every source, plus broken
//! lines holding numbers, with and without `--summary`), `publish`, and
//! `plan` / `apply` / `status` against moto (`PUMPGUARD_TEST_MOTO`,
//! required), all with `RUST_LOG=debug`. Then, through the library with End
//! User Messaging simulated, the plan, apply report and status of an account
//! whose number overrides are created, changed and removed, as text and
//! JSON, with the library's log lines. stdout and stderr of every run are
//! searched for the numbers and for the AWS secret key by
//! `support/privacy.rs` (shared with the trigger's privacy test).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use crate::common;
use pumpguard_testkit::privacy;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, Once};

use common::eum::{Config, NOW};
use common::moto::{moto, root};
use common::world::World;
use pumpguard_cli::account::apply;
use pumpguard_cli::converge::OWNER_TAG;
use pumpguard_cli::status::Status;
use serde_json::json;

use privacy::{assert_no_leaks, formats, leaks, test_phones, TestPhone};

const AWS_SECRET: &str = "privacy-test-aws-secret-key-Zr8w";
/// A region of its own on the shared moto server.
const REGION: &str = "sa-east-1";

fn pumpguard(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_pumpguard"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "privacy-test")
        .env("AWS_SECRET_ACCESS_KEY", AWS_SECRET)
        .env("AWS_REGION", REGION)
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env("RUST_LOG", "debug")
        .env_remove("AWS_PROFILE")
        .current_dir(root())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Fed from another thread: the command writes while it reads.
    let mut input = child.stdin.take().unwrap();
    let text = stdin.unwrap_or("").to_string();
    let feeder = std::thread::spawn(move || {
        let _ = input.write_all(text.as_bytes());
    });
    let out = child.wait_with_output().unwrap();
    feeder.join().unwrap();
    out
}

/// Runs the command and keeps its stdout and stderr for the search.
fn record(outputs: &mut Vec<(String, String)>, args: &[&str], stdin: Option<&str>) -> Output {
    let o = pumpguard(args, stdin);
    let name = format!("pumpguard {}", args.join(" "));
    outputs.push((
        format!("stdout of {name}"),
        String::from_utf8_lossy(&o.stdout).into_owned(),
    ));
    outputs.push((
        format!("stderr of {name}"),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    ));
    o
}

fn note(phones: &[TestPhone], what: &str) -> String {
    phones
        .iter()
        .find(|p| p.note.contains(what))
        .unwrap_or_else(|| panic!("no test number for {what}"))
        .e164()
}

/// The example policy naming test numbers: an exemption and overrides.
fn policy_with_numbers(phones: &[TestPhone], user_pool: &str) -> String {
    let example = std::fs::read_to_string(root().join("examples/policy.toml")).unwrap();
    let overrides = format!(
        "\n[[protect.number-overrides]]\nnumber = \"{}\"\naction = \"allow\"\nexpires = \"2030-01-01T00:00:00Z\"\n\n\
         [[protect.number-overrides]]\nnumber = \"{}\"\naction = \"block\"\n\n\
         [[protect.number-overrides]]\nnumber = \"{}\"\naction = \"block\"\nexpires = \"2020-01-01T00:00:00Z\"\n\n[spend]\n",
        note(phones, "a protect number override"),
        note(phones, "Guernsey"),
        note(phones, "expired"),
    );
    let text = example
        .replace(
            "allow-numbers = []",
            &format!("allow-numbers = [\"{}\"]", note(phones, "allow-numbers")),
        )
        .replace("\n[spend]\n", &overrides)
        + user_pool;
    assert!(
        text.contains("expires = \"2020"),
        "the example policy changed shape"
    );
    text
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path.to_str().unwrap().to_string()
}

fn scratch(label: &str) -> PathBuf {
    let dir =
        std::env::temp_dir().join(format!("pumpguard-privacy-{label}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn the_checker_catches_planted_leaks() {
    privacy::self_test();
}

#[test]
fn check_and_replay_never_show_a_number() {
    let phones = test_phones();
    let dir = scratch("offline");
    let mut outputs = Vec::new();
    let numbers_text = policy_with_numbers(&phones, "");
    let numbers = write(&dir, "numbers.toml", &numbers_text);

    // The command's own rendering, in process, for every format; the binary
    // for one format per number (each run loads libphonenumber's metadata).
    let with_numbers = pumpguard_engine::Policy::parse(&numbers_text, "numbers.toml").unwrap();
    for p in &phones {
        for f in formats(p) {
            for (policy, origin) in [
                (pumpguard_engine::Policy::example(), "example"),
                (with_numbers.clone(), "numbers.toml"),
            ] {
                for source in pumpguard_engine::TriggerSource::ALL {
                    let out =
                        pumpguard_cli::check::judge(&policy, origin, source, &f, NOW).unwrap();
                    for output in [pumpguard_cli::Output::Text, pumpguard_cli::Output::Json] {
                        outputs.push((
                            format!("check {f} ({origin}, {source:?}, {output:?})"),
                            out.render(output).unwrap(),
                        ));
                    }
                }
            }
        }
        for output in ["text", "json"] {
            let o = record(
                &mut outputs,
                &["check", &p.e164(), "--policy", &numbers, "--output", output],
                None,
            );
            assert!(matches!(o.status.code(), Some(0 | 3)), "{o:?}");
        }
    }
    record(&mut outputs, &["check", "--policy", &numbers], None);
    // A broken policy holding numbers: the problems name keys, not values.
    let broken = numbers_text
        .replace("action = \"allow\"", "action = \"maybe\"")
        .replace(
            &format!("allow-numbers = [\"{}\"]", note(&phones, "allow-numbers")),
            &format!("allow-numbers = [\"{} x\", 15]", phones[0].e164()),
        );
    assert_ne!(broken, numbers_text);
    let broken = write(&dir, "broken.toml", &broken);
    let o = record(
        &mut outputs,
        &["check", "--policy", &broken, "+14155552671"],
        None,
    );
    assert_eq!(o.status.code(), Some(1), "{o:?}");

    // replay: every number for every source, and lines that do not parse.
    let mut events = String::new();
    let fixture: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(root().join("trigger/tests/fixtures/signup-allow.json")).unwrap(),
    )
    .unwrap();
    let mut second = 0;
    for p in &phones {
        for f in formats(p) {
            for source in [
                "CustomMessage_SignUp",
                "CustomMessage_ForgotPassword",
                "PostConfirmation_ConfirmSignUp",
                "CustomMessage_Unheard",
            ] {
                let mut e = fixture.clone();
                e["triggerSource"] = json!(source);
                e["userName"] = json!(f);
                e["request"]["userAttributes"]["phone_number"] = json!(f);
                e["request"]["clientMetadata"] = json!({ "phone": f });
                second += 7;
                let at = time::OffsetDateTime::from_unix_timestamp(NOW + second)
                    .unwrap()
                    .format(&time::format_description::well_known::Rfc3339)
                    .unwrap();
                events.push_str(&json!({"at": at, "event": e}).to_string());
                events.push('\n');
            }
        }
        let n = p.e164();
        events.push_str(&format!("{{\"at\": \"{n}\", \"event\": {{}}}}\n"));
        events.push_str(&format!(
            "{{\"at\": \"2026-11-21T12:00:00Z\", \"event\": \"{n}\"}}\n"
        ));
        events.push_str(&format!(
            "{{\"at\": \"2026-11-21T12:00:00Z\", \"event\": {{\"phone\": \"{n}\"\n"
        ));
        events.push_str(&format!("{n}\n"));
    }
    let file = write(&dir, "events.jsonl", &events);
    let summary = dir.join("summary.json");
    let o = record(
        &mut outputs,
        &["replay", "--policy", &numbers, "--events", &file],
        None,
    );
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let verdicts = String::from_utf8_lossy(&o.stdout);
    assert!(verdicts.lines().count() > 400, "{verdicts}");
    assert!(verdicts.contains("\"block\"") && verdicts.contains("\"error\""));
    let o = record(
        &mut outputs,
        &[
            "replay",
            "--events",
            "-",
            "--summary",
            summary.to_str().unwrap(),
        ],
        Some(&events),
    );
    assert_eq!(o.status.code(), Some(0));
    outputs.push((
        "replay summary".into(),
        std::fs::read_to_string(&summary).unwrap(),
    ));
    let o = record(
        &mut outputs,
        &["replay", "--events", &file, "--strict"],
        None,
    );
    assert_eq!(o.status.code(), Some(1));

    // The search would see a number in these outputs.
    let planted = format!("{}\n{}", outputs[0].1, phones[0].e164());
    assert!(outputs.len() > 2000, "{} outputs", outputs.len());
    assert!(!leaks(&planted, &phones, &[AWS_SECRET], "planted").is_empty());
    assert_no_leaks(&outputs, &phones, &[AWS_SECRET]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_plan_apply_and_status_never_show_a_number_or_the_secret_key() {
    let phones = test_phones();
    let dir = scratch("account");
    let mut outputs = Vec::new();
    // moto's pool and table; End User Messaging is off (moto lacks it).
    let w = World::new(REGION, "privacy", vec![]).await;
    let user_pool = format!(
        "\n[user-pool]\nid = \"{}\"\ntrigger-arn = \"{}\"\ntable = \"{}\"\n",
        w.pool_id, w.trigger, w.table
    );
    let text = policy_with_numbers(&phones, &user_pool)
        .replace(
            "\nenabled = true\n# What the account does",
            "\nenabled = false\n# What the account does",
        )
        .replace("text-monthly-usd = 100\n", "");
    assert!(text.contains("enabled = false"));
    let policy = write(&dir, "policy.toml", &text);
    let url = moto();
    let o = record(
        &mut outputs,
        &[
            "publish",
            "--policy",
            &policy,
            "--table",
            &w.table,
            "--region",
            REGION,
            "--endpoint-url",
            &url,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    for args in [
        vec!["plan", "--policy", &policy],
        vec!["plan", "--policy", &policy, "--output", "json"],
        vec!["apply", "--policy", &policy, "--yes"],
        vec!["plan", "--policy", &policy],
        vec!["status", "--policy", &policy],
        vec!["status", "--policy", &policy, "--output", "json"],
    ] {
        let mut args = args.clone();
        args.extend(["--endpoint-url", &url]);
        let o = record(&mut outputs, &args, None);
        assert!(matches!(o.status.code(), Some(0 | 2)), "{args:?}: {o:?}");
    }
    let applied = outputs
        .iter()
        .find(|(n, _)| n.starts_with("stderr of pumpguard apply"))
        .unwrap();
    assert!(applied.1.contains("applied"), "{}", applied.1);
    // Debug logging was on: the search sees the SDK's lines too.
    assert!(
        outputs
            .iter()
            .any(|(n, t)| n.starts_with("stderr") && t.contains("DEBUG")),
        "no debug lines captured"
    );
    assert_no_leaks(&outputs, &phones, &[AWS_SECRET]);
}

static LOG: Mutex<Vec<u8>> = Mutex::new(Vec::new());

struct Capture;

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        LOG.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn number_overrides_are_masked_in_plans_reports_and_status() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_env_filter(tracing_subscriber::EnvFilter::new("debug"))
            .with_writer(|| Capture)
            .init();
    });
    let phones = test_phones();
    let w = World::new(
        "me-south-1",
        "privacy-eum",
        vec![Config::foreign("protect-theirs", true)],
    )
    .await;
    let user_pool = format!(
        "\n[user-pool]\nid = \"{}\"\ntrigger-arn = \"{}\"\ntable = \"{}\"\n",
        w.pool_id, w.trigger, w.table
    );
    let text = policy_with_numbers(&phones, &user_pool);
    let p = pumpguard_engine::Policy::parse(&text, "policy.toml").unwrap();
    let mut outputs = Vec::new();
    let mut show = |name: &str, plan: &pumpguard_cli::plan::Plan| {
        outputs.push((format!("{name}: plan"), plan.to_string()));
        outputs.push((
            format!("{name}: plan JSON"),
            serde_json::to_string_pretty(plan).unwrap(),
        ));
        let status = Status::from_plan(plan);
        outputs.push((format!("{name}: status"), status.to_string()));
        outputs.push((
            format!("{name}: status JSON"),
            serde_json::to_string_pretty(&status).unwrap(),
        ));
    };

    let plan = w.plan_text(&p, &text, false).await.unwrap();
    let shown = plan.to_string();
    assert!(shown.contains("number override"), "{shown}");
    show("fresh", &plan);
    let report = apply(&plan, &[w.clients()]).await;
    assert!(report.failed.is_none(), "{report:?}");
    let mut reports = vec![
        format!("{report:?}"),
        serde_json::to_string(&report).unwrap(),
    ];

    // Drift on the numbers: one override changed, one expired left behind.
    {
        let mut st = w.protect.state.lock().unwrap();
        let ours = st
            .configs
            .iter_mut()
            .find(|c| c.tags.iter().any(|(k, _)| k == OWNER_TAG))
            .unwrap();
        assert!(ours
            .overrides
            .keys()
            .any(|n| n == &note(&phones, "Guernsey")));
        ours.overrides
            .insert(note(&phones, "Guernsey"), ("ALLOW".into(), None));
        ours.overrides
            .insert(note(&phones, "expired"), ("BLOCK".into(), Some(NOW - 60)));
    }
    let plan = w.plan_text(&p, &text, false).await.unwrap();
    assert!(!plan.is_empty(), "the drift is planned");
    show("drift", &plan);
    let report = apply(&plan, &[w.clients()]).await;
    assert!(report.failed.is_none(), "{report:?}");
    reports.push(format!("{report:?}"));
    // A failed write: the report carries the error.
    {
        let mut st = w.protect.state.lock().unwrap();
        let ours = st
            .configs
            .iter_mut()
            .find(|c| c.tags.iter().any(|(k, _)| k == OWNER_TAG))
            .unwrap();
        ours.overrides.clear();
    }
    let plan = w.plan_text(&p, &text, false).await.unwrap();
    w.fail_write(Some(1));
    let report = apply(&plan, &[w.clients()]).await;
    assert!(report.failed.is_some(), "{report:?}");
    reports.push(format!("{report:?}"));
    w.fail_write(None);
    outputs.push(("apply reports".into(), reports.join("\n")));
    let log = String::from_utf8(std::mem::take(&mut *LOG.lock().unwrap())).unwrap();
    assert!(
        log.contains("DEBUG"),
        "the library's debug lines were captured"
    );
    outputs.push(("library log".into(), log));
    assert_no_leaks(&outputs, &phones, &[AWS_SECRET]);
}
