//! The IAM policy documented for the `pumpguard` command
//! (`docs/iam/pumpguard-cli.json`) grants exactly what the command calls.
//!
//! Every client carries a recorder (`common::world::Tap`), and the command's
//! library runs `plan`, `apply`, `plan` again, `status` and `publish` on a
//! fresh account, then again after drift that takes the update paths (an
//! expired number override to delete, a changed web ACL, a new published
//! policy). The recorded operations, plus the few actions IAM checks without
//! an API call of their own, must equal the policy's actions. Wildcard
//! actions are refused, and `"Resource": "*"` is allowed only for the actions
//! listed below with the reason AWS needs it.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};

use common::eum::{Config, NOW};
use common::moto::root;
use common::world::World;
use pumpguard::published::DynamoPolicyStore;
use pumpguard_cli::account::apply;
use pumpguard_cli::converge::OWNER_TAG;
use pumpguard_cli::status::Status;
use serde_json::Value;

/// A region of its own on the shared moto server.
const REGION: &str = "ap-south-1";

/// Actions IAM authorises although the command makes no call of that name.
const AUTHORISATION_ONLY: [(&str, &str); 4] = [
    (
        "sms-voice:TagResource",
        "CreateProtectConfiguration sends the pumpguard:owned tag; tagging on create needs it",
    ),
    (
        "wafv2:TagResource",
        "CreateWebACL sends the pumpguard:owned tag; tagging on create needs it",
    ),
    (
        "cognito-idp:AssociateWebACL",
        "wafv2:AssociateWebACL on a user pool also needs the pool's permission",
    ),
    (
        "cognito-idp:GetWebACLForResource",
        "wafv2:GetWebACLForResource on a user pool also needs the pool's permission",
    ),
];

/// Calls the code makes that no emulator can provoke, with the source that
/// makes them (checked below).
const UNREACHED: [(&str, &str, &str); 1] = [(
    "cognito-idp:SetUserPoolMfaConfig",
    "set_user_pool_mfa_config()",
    "restores the pool's MFA settings if UpdateUserPool moved them; moto never moves them",
)];

/// Actions allowed on `"Resource": "*"`, and why.
const ANY_RESOURCE: [(&str, &str); 3] = [
    (
        "sms-voice:",
        "protect configurations get their ids from AWS when created and are found by tag; \
         spend limits and the account default are account settings; every sms-region",
    ),
    (
        "sns:",
        "GetSMSAttributes/SetSMSAttributes act on the account's SMS settings: no resource",
    ),
    (
        "wafv2:ListWebACLs",
        "listing takes no resource ARN (pumpguard finds its own ACL by name and tag)",
    ),
];

fn documented() -> Value {
    let path = root().join("docs/iam/pumpguard-cli.json");
    let text = std::fs::read_to_string(&path).unwrap();
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a.iter().flat_map(strings).collect(),
        other => panic!("expected strings, found {other}"),
    }
}

/// Runs every account command the CLI has, twice over, and returns the
/// operations made.
async fn operations_the_cli_makes() -> BTreeSet<String> {
    let w = World::new(REGION, "iam", vec![Config::foreign("protect-theirs", true)]).await;
    let p = w.policy();
    w.take_calls();

    // A fresh account: plan, apply, plan, status, publish.
    let plan = w.plan(&p, false).await.unwrap();
    let report = apply(&plan, &[w.clients()]).await;
    assert!(report.failed.is_none(), "{report:?}");
    let after = w.plan(&p, false).await.unwrap();
    assert!(after.is_empty(), "{after}");
    let status = Status::from_plan(&w.plan(&p, false).await.unwrap());
    assert!(status.to_string().contains("in sync"), "{status}");
    DynamoPolicyStore::new(w.clients().dynamodb, &w.table)
        .publish(&w.text, "policy.toml", NOW)
        .await
        .unwrap();

    // Drift: an expired override in pumpguard's configuration, and a policy
    // with a geo block (the web ACL's rules change, the policy is published).
    {
        let mut st = w.protect.state.lock().unwrap();
        let ours = st
            .configs
            .iter_mut()
            .find(|c| c.tags.iter().any(|(k, _)| k == OWNER_TAG))
            .unwrap();
        ours.overrides
            .insert("+13125550123".into(), ("BLOCK".into(), Some(NOW - 3600)));
    }
    assert!(w.text.contains("geo-block = []"));
    let text = w.text.replace("geo-block = []", "geo-block = [\"KP\"]");
    let p2 = pumpguard::Policy::parse(&text, "policy.toml").unwrap();
    let plan = w.plan_text(&p2, &text, false).await.unwrap();
    let resources: BTreeSet<&str> = plan.regions[0]
        .changes
        .iter()
        .map(|c| c.resource.as_str())
        .collect();
    assert!(resources.contains("web-acl"), "{plan}");
    let report = apply(&plan, &[w.clients()]).await;
    assert!(report.failed.is_none(), "{report:?}");
    assert!(w.plan_text(&p2, &text, false).await.unwrap().is_empty());

    w.take_calls().into_iter().collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_cli_policy_grants_exactly_what_the_cli_calls() {
    let doc = documented();
    assert_eq!(doc["Version"], "2012-10-17");
    let mut granted = BTreeSet::new();
    let mut on_any_resource = BTreeMap::new();
    for s in doc["Statement"].as_array().unwrap() {
        let sid = s["Sid"].as_str().unwrap_or_default();
        assert_eq!(s["Effect"], "Allow", "{sid}");
        assert!(
            s.get("NotAction").is_none() && s.get("NotResource").is_none(),
            "{sid}"
        );
        let actions = strings(&s["Action"]);
        for a in &actions {
            assert!(
                !a.contains('*') && !a.contains('?'),
                "{sid}: wildcard action {a}"
            );
            assert!(granted.insert(a.clone()), "{sid}: {a} granted twice");
        }
        let resources = strings(&s["Resource"]);
        if resources.iter().any(|r| r == "*") {
            assert!(sid.starts_with("AccountLevel"), "{sid}: Resource \"*\"");
            for a in actions {
                on_any_resource.insert(a, sid.to_string());
            }
        } else {
            for r in resources {
                assert!(r.starts_with("arn:aws:"), "{sid}: {r}");
            }
        }
    }
    for (action, sid) in &on_any_resource {
        assert!(
            ANY_RESOURCE.iter().any(|(p, _)| action.starts_with(p)),
            "{action} ({sid}) is granted on any resource without a reason"
        );
    }

    // Unreached calls are really in the code.
    let src: String = [
        "account.rs",
        "converge/pool.rs",
        "converge/protect.rs",
        "converge/waf.rs",
    ]
    .iter()
    .map(|f| std::fs::read_to_string(root().join("admin-cli/src").join(f)).unwrap())
    .collect();
    for (action, call, _) in UNREACHED {
        assert!(
            src.contains(call),
            "{action}: {call} is no longer in the code"
        );
    }

    let called = operations_the_cli_makes().await;
    for (action, _) in AUTHORISATION_ONLY {
        assert!(!called.contains(action), "{action} is a call after all");
    }
    let mut needed = called.clone();
    needed.extend(AUTHORISATION_ONLY.iter().map(|(a, _)| a.to_string()));
    needed.extend(UNREACHED.iter().map(|(a, _, _)| a.to_string()));
    let missing: Vec<_> = needed.difference(&granted).collect();
    let unused: Vec<_> = granted.difference(&needed).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "the documented policy lacks {missing:?} and grants unused {unused:?} (called: {called:?})"
    );
    eprintln!(
        "{} actions documented: {} called, {} authorisation-only, {} unreached",
        granted.len(),
        called.len(),
        AUTHORISATION_ONLY.len(),
        UNREACHED.len()
    );
}
