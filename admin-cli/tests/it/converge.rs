//! `pumpguard plan`, `apply --yes`, `plan` against moto in server mode: exit
//! codes 2, 0, 0; afterwards the web ACL is associated with the pool, the
//! trigger is wired, and the policy is published. End User Messaging, which
//! moto lacks, is off in this policy (it is covered by SDK replays in
//! `tests/protect.rs` and `tests/spend.rs`).

#![allow(clippy::panic, clippy::unwrap_used)]

use crate::common;

use std::process::{Command, Output};

use aws_sdk_cognitoidentityprovider::types::VerifiedAttributeType;
use aws_sdk_dynamodb::types::AttributeValue;
use common::moto::{create_sms_pool, create_table, moto, root, sms_configuration};

async fn sdk() -> aws_config::SdkConfig {
    common::moto::sdk("us-east-1").await
}

fn pumpguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pumpguard"))
        .args(args)
        .args(["--endpoint-url", &moto()])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_PROFILE")
        .current_dir(root())
        .output()
        .unwrap()
}

fn show(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// A fresh table and pool in moto, and a policy for them (End User
/// Messaging off). Returns (policy text, pool id, table, trigger ARN).
async fn setup(config: &aws_config::SdkConfig, n: &str) -> (String, String, String, &'static str) {
    // The stack's table, and a pool that sends SMS for sign-up and recovery.
    let table = format!("converge-{n}");
    create_table(config, &table).await;
    let pool_id = create_sms_pool(config, &format!("converge-{n}"))
        .await
        .id
        .unwrap();

    let trigger = "arn:aws:lambda:us-east-1:123456789012:function:pumpguard-trigger";
    let example = std::fs::read_to_string(root().join("examples/policy.toml")).unwrap();
    let text = example
        .replace(
            "[protect]\n",
            "[protect]\n# Off here: moto has no End User Messaging.\n",
        )
        .replace(
            "\nenabled = true\n# What the account does",
            "\nenabled = false\n# What the account does",
        )
        .replace("text-monthly-usd = 100\n", "")
        + &format!(
            "\n[user-pool]\nid = \"{pool_id}\"\ntrigger-arn = \"{trigger}\"\ntable = \"{table}\"\n"
        );
    assert!(
        text.contains("enabled = false"),
        "the protect section changed shape"
    );
    (text, pool_id, table, trigger)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plan_apply_plan_converges_against_moto() {
    let config = sdk().await;
    let n = format!("{}", std::process::id());
    let (text, pool_id, table, trigger) = setup(&config, &n).await;
    let ddb = aws_sdk_dynamodb::Client::new(&config);
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&config);
    let dir = std::env::temp_dir().join(format!("pumpguard-converge-{n}"));
    std::fs::create_dir_all(&dir).unwrap();
    let policy = dir.join("policy.toml");
    std::fs::write(&policy, &text).unwrap();
    let p = policy.to_str().unwrap();

    let first = pumpguard(&["plan", "--policy", p]);
    assert_eq!(first.status.code(), Some(2), "{}", show(&first));
    let out = String::from_utf8_lossy(&first.stdout);
    for resource in ["published-policy", "web-acl", "user-pool-triggers"] {
        assert!(
            out.contains(resource),
            "{resource} missing from the plan:\n{out}"
        );
    }

    let json = pumpguard(&["plan", "--policy", p, "--output", "json"]);
    assert_eq!(json.status.code(), Some(2), "{}", show(&json));
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    assert!(!v["regions"][0]["changes"].as_array().unwrap().is_empty());

    // Not on a terminal: apply refuses without --yes.
    let refused = pumpguard(&["apply", "--policy", p]);
    assert_eq!(refused.status.code(), Some(1), "{}", show(&refused));
    assert!(String::from_utf8_lossy(&refused.stderr).contains("--yes"));

    let applied = pumpguard(&["apply", "--policy", p, "--yes"]);
    assert_eq!(applied.status.code(), Some(0), "{}", show(&applied));

    let second = pumpguard(&["plan", "--policy", p]);
    assert_eq!(second.status.code(), Some(0), "{}", show(&second));
    assert!(String::from_utf8_lossy(&second.stdout).contains("No changes"));

    // A second apply right after has nothing to do.
    let again = pumpguard(&["apply", "--policy", p, "--yes"]);
    assert_eq!(again.status.code(), Some(0), "{}", show(&again));
    assert!(!String::from_utf8_lossy(&again.stderr).contains("applying"));

    // What apply did.
    let described = cognito
        .describe_user_pool()
        .user_pool_id(&pool_id)
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap();
    let lc = described.lambda_config.clone().unwrap();
    assert_eq!(lc.custom_message.as_deref(), Some(trigger));
    assert_eq!(lc.post_confirmation.as_deref(), Some(trigger));
    assert_eq!(lc.post_authentication.as_deref(), Some(trigger));
    assert_eq!(
        described.auto_verified_attributes(),
        [VerifiedAttributeType::PhoneNumber],
        "other settings survive"
    );

    let waf = aws_sdk_wafv2::Client::new(&config);
    let acl = waf
        .get_web_acl_for_resource()
        .resource_arn(described.arn.unwrap())
        .send()
        .await
        .unwrap()
        .web_acl
        .expect("a web ACL is associated with the pool");
    assert!(acl
        .rules()
        .iter()
        .any(|r| r.name() == "pumpguard-rate-sign-up"));

    let item = ddb
        .get_item()
        .table_name(&table)
        .key("pk", AttributeValue::S("policy".into()))
        .key("sk", AttributeValue::S("current".into()))
        .send()
        .await
        .unwrap()
        .item
        .expect("the policy is published");
    assert_eq!(item["body"].as_s().unwrap(), &text);

    let status = pumpguard(&["status", "--policy", p]);
    assert_eq!(status.status.code(), Some(0), "{}", show(&status));
    let shown = String::from_utf8_lossy(&status.stdout);
    assert!(shown.contains("in sync"), "{shown}");
    assert!(
        shown.contains(&format!("CustomMessage trigger: {trigger}")),
        "{shown}"
    );
    assert!(shown.contains("web ACL on the pool: pumpguard-"), "{shown}");
    assert!(shown.contains("published policy: sha256"), "{shown}");
    assert!(shown.contains("SNS MonthlySpendLimit: $100"), "{shown}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failure_midway_is_reported_and_a_rerun_converges() {
    use pumpguard_cli::account::{apply, plan, Connection};
    use pumpguard_cli::converge::Desired;

    let config = sdk().await;
    let n = format!("midway-{}", std::process::id());
    let (text, pool_id, _table, _trigger) = setup(&config, &n).await;
    let policy = pumpguard_engine::Policy::parse(&text, "policy.toml").unwrap();
    let pool = policy.user_pool.clone().unwrap();
    let conn = Connection {
        endpoint_url: Some(moto()),
        ..Connection::default()
    };
    let regions = vec![pool.region.clone()];
    let desired = |replace_triggers| Desired {
        policy: &policy,
        text: &text,
        origin: "policy.toml",
        pool: &pool,
        replace_triggers,
        grant_invoke: false,
        now: 1_795_262_400,
    };
    std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
    std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
    let (first, clients) = plan(&conn, &desired(false), &regions).await.unwrap();
    // Published policy, web ACL, association, triggers (and the account-wide
    // SNS limit when another test has not set it yet): the triggers come last.
    assert!(first.len() >= 4, "{first}");
    assert_eq!(
        first.regions[0].changes.last().map(|c| c.resource.as_str()),
        Some("user-pool-triggers"),
        "{first}"
    );

    // Someone wires another CustomMessage trigger between plan and apply.
    let foreign = "arn:aws:lambda:us-east-1:123456789012:function:someone-else";
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&config);
    cognito
        .update_user_pool()
        .user_pool_id(&pool_id)
        .auto_verified_attributes(VerifiedAttributeType::PhoneNumber)
        .sms_configuration(sms_configuration())
        .lambda_config(
            aws_sdk_cognitoidentityprovider::types::LambdaConfigType::builder()
                .custom_message(foreign)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let report = apply(&first, &clients).await;
    assert_eq!(report.applied.len(), first.len() - 1, "{report:?}");
    assert!(
        report
            .failed
            .as_deref()
            .is_some_and(|f| f.contains("user-pool-triggers")),
        "{report:?}"
    );
    assert!(report.not_applied.is_empty());

    // A rerun plans only what is left, and refuses the foreign trigger...
    let err = plan(&conn, &desired(false), &regions).await.unwrap_err();
    assert!(format!("{err:#}").contains("--replace-triggers"), "{err:#}");
    // ...until told to replace it; then it converges.
    let (rest, clients) = plan(&conn, &desired(true), &regions).await.unwrap();
    assert_eq!(rest.len(), 1, "{rest}");
    let report = apply(&rest, &clients).await;
    assert!(report.failed.is_none(), "{report:?}");
    let (done, _) = plan(&conn, &desired(true), &regions).await.unwrap();
    assert!(done.is_empty(), "{done}");
}
