//! `pumpguard publish` against DynamoDB in moto: a valid policy lands as the
//! published item the trigger reads; a broken one is refused before any AWS call.

#![allow(clippy::panic, clippy::unwrap_used)]

use crate::common;

use std::process::Command;

use aws_sdk_dynamodb::types::AttributeValue;
use common::moto::{create_table, moto, ACCOUNT};

/// An attribute of the published item, as a string or a number's digits.
async fn published(client: &aws_sdk_dynamodb::Client, name: &str, attr: &str) -> Option<String> {
    let out = client
        .get_item()
        .table_name(name)
        .key("pk", AttributeValue::S("policy".into()))
        .key("sk", AttributeValue::S("current".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("get");
    out.item.and_then(|i| match i.get(attr)? {
        AttributeValue::S(v) | AttributeValue::N(v) => Some(v.clone()),
        _ => None,
    })
}

async fn published_body(client: &aws_sdk_dynamodb::Client, name: &str) -> Option<String> {
    published(client, name, "body").await
}

fn publish(policy: &str, table: &str) -> std::process::Output {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    Command::new(env!("CARGO_BIN_EXE_pumpguard"))
        .args(["publish", "--policy", policy, "--table", table])
        .args(["--region", "us-east-1", "--endpoint-url", &moto()])
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .current_dir(root)
        .output()
        .expect("run pumpguard")
}

#[tokio::test]
async fn publish_writes_valid_policies_only() {
    let config = common::moto::sdk("us-east-1").await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let name = format!("publish-{}", std::process::id());
    create_table(&config, &name).await;

    let broken = std::env::temp_dir().join(format!("pumpguard-broken-{}.toml", std::process::id()));
    std::fs::write(&broken, "[countries]\nallow = [\"UK\"]\n").expect("write");
    let o = publish(broken.to_str().expect("path"), &name);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("\"UK\" is not an ISO 3166-1"), "{err}");
    assert_eq!(published_body(&client, &name).await, None);

    let o = publish("examples/policy.toml", &name);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policy.toml"),
    )
    .expect("example");
    assert_eq!(published_body(&client, &name).await, Some(example));

    let o = publish("examples/policy.toml", "no-such-table");
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("could not write the policy to table no-such-table"),
        "{err}"
    );
}

async fn published_at(client: &aws_sdk_dynamodb::Client, name: &str) -> Option<String> {
    published(client, name, "published_at").await
}

#[tokio::test]
async fn publishing_the_same_policy_twice_writes_once() {
    let config = common::moto::sdk("us-east-1").await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let name = format!("publish-twice-{}", std::process::id());
    create_table(&config, &name).await;

    let o = publish("examples/policy.toml", &name);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(String::from_utf8_lossy(&o.stderr).contains("published"));
    // Mark the item, so a second write would show.
    client
        .update_item()
        .table_name(&name)
        .key("pk", AttributeValue::S("policy".into()))
        .key("sk", AttributeValue::S("current".into()))
        .update_expression("SET published_at = :one")
        .expression_attribute_values(":one", AttributeValue::N("1".into()))
        .send()
        .await
        .expect("mark");

    let o = publish("examples/policy.toml", &name);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("nothing written"), "{err}");
    assert_eq!(published_at(&client, &name).await.as_deref(), Some("1"));

    // A different policy is written.
    let changed =
        std::env::temp_dir().join(format!("pumpguard-changed-{}.toml", std::process::id()));
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policy.toml"),
    )
    .expect("example");
    std::fs::write(&changed, format!("{example}\n# edited\n")).expect("write");
    let o = publish(changed.to_str().expect("path"), &name);
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert_ne!(published_at(&client, &name).await.as_deref(), Some("1"));
    assert_eq!(
        published_body(&client, &name).await,
        Some(format!("{example}\n# edited\n"))
    );
}

#[tokio::test]
async fn publish_names_the_account_and_refuses_another_one() {
    let config = common::moto::sdk("us-east-1").await;
    let client = aws_sdk_dynamodb::Client::new(&config);
    let name = format!("publish-account-{}", std::process::id());
    create_table(&config, &name).await;
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../examples/policy.toml"),
    )
    .expect("example");
    let with_account = |account: &str| {
        let path = std::env::temp_dir().join(format!(
            "pumpguard-account-{account}-{}.toml",
            std::process::id()
        ));
        let text = format!(
            "{example}\n[user-pool]\nid = \"us-east-1_Acct\"\n\
             trigger-arn = \"arn:aws:lambda:us-east-1:{account}:function:t\"\n\
             table = \"{name}\"\naccount-id = \"{account}\"\n"
        );
        std::fs::write(&path, text).expect("write");
        path
    };

    // Another account: refused before any write, both accounts named.
    let o = publish(with_account("210987654321").to_str().expect("path"), &name);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!("AWS account {ACCOUNT} as arn:aws:")),
        "the identity comes first: {err}"
    );
    assert!(
        err.contains("account-id is 210987654321") && err.contains("nothing was changed"),
        "{err}"
    );
    assert_eq!(published_body(&client, &name).await, None);

    // The account the credentials are for: published.
    let o = publish(with_account(ACCOUNT).to_str().expect("path"), &name);
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{err}");
    assert!(err.contains(&format!("AWS account {ACCOUNT}")), "{err}");
    assert!(published_body(&client, &name).await.is_some());
}
