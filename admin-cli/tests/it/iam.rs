//! The IAM policies documented for the `pumpguard` command grant exactly what
//! the command calls, split by what it does:
//!
//! - `docs/iam/pumpguard-cli-read.json`: `plan` and `status` (`check`,
//!   `render`, `replay` and `simulate` make no AWS call at all);
//! - `docs/iam/pumpguard-cli-apply.json`: what `apply` and `publish` add,
//!   attached together with the read policy (`apply` plans first).
//!
//! Every client carries a recorder (`common::world::Tap`), and the command's
//! library runs `plan`, `apply`, `plan` again, `status` and `publish` on a
//! fresh account, then again after drift that takes the update paths (an
//! expired number override to delete, a changed web ACL, a new published
//! policy), keeping apart what `plan`/`status` called from what
//! `apply`/`publish` called. The read policy must equal what `plan` and
//! `status` called, plus the authorisation-only actions of those calls, and
//! hold only reads with no condition; the apply policy must equal everything
//! else the run needed. No action is in both, wildcard actions are refused,
//! `"Resource": "*"` is allowed only for the actions listed below with the
//! reason AWS needs it, and the End User Messaging writes carry the
//! `pumpguard:owned` tag conditions.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::{BTreeMap, BTreeSet};

use common::eum::{Config, NOW};
use common::moto::root;
use common::world::World;
use pumpguard_cli::account::apply;
use pumpguard_cli::converge::OWNER_TAG;
use pumpguard_cli::status::Status;
use pumpguard_trigger::published::DynamoPolicyStore;
use serde_json::{json, Value};

/// For `plan` and `status`.
const READ_POLICY: &str = "docs/iam/pumpguard-cli-read.json";
/// For `apply` and `publish`, with the read policy.
const APPLY_POLICY: &str = "docs/iam/pumpguard-cli-apply.json";

/// A region of its own on the shared moto server.
const REGION: &str = "ap-south-1";

/// Actions IAM authorises although the command makes no call of that name:
/// the action, the call that needs it (the action belongs to the policy of
/// whichever command makes that call), and why.
const AUTHORISATION_ONLY: [(&str, &str, &str); 4] = [
    (
        "sms-voice:TagResource",
        "sms-voice:CreateProtectConfiguration",
        "CreateProtectConfiguration sends the pumpguard:owned tag; tagging on create needs it",
    ),
    (
        "wafv2:TagResource",
        "wafv2:CreateWebACL",
        "CreateWebACL sends the pumpguard:owned tag; tagging on create needs it",
    ),
    (
        "cognito-idp:AssociateWebACL",
        "wafv2:AssociateWebACL",
        "wafv2:AssociateWebACL on a user pool also needs the pool's permission",
    ),
    (
        "cognito-idp:GetWebACLForResource",
        "wafv2:GetWebACLForResource",
        "wafv2:GetWebACLForResource on a user pool also needs the pool's permission",
    ),
];

/// Calls the code makes that no emulator can provoke, with the source that
/// makes them (checked below). All are `apply`'s.
const UNREACHED: [(&str, &str, &str); 2] = [
    (
        "cognito-idp:SetUserPoolMfaConfig",
        "set_user_pool_mfa_config()",
        "restores the pool's MFA settings if UpdateUserPool moved them; moto never moves them",
    ),
    (
        "lambda:AddPermission",
        "add_permission()",
        "only with --grant-invoke when Cognito may not invoke the trigger; the recorded run's \
         trigger is the stack's, which grants it",
    ),
];

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

/// End User Messaging writes granted on a tag condition: creating (and
/// tagging on create) only with `pumpguard:owned = true` as the one tag.
const TAGGED_ON_CREATE: [&str; 2] = [
    "sms-voice:CreateProtectConfiguration",
    "sms-voice:TagResource",
];

/// End User Messaging writes without a tag condition, and why.
const UNTAGGED_WRITES: [(&str, &str); 1] = [(
    "sms-voice:SetTextMessageSpendLimitOverride",
    "an account setting: the action has no resource type and no condition key",
)];

/// Modules of the commands that make no AWS call, so need no permission.
const OFFLINE: [&str; 7] = [
    "check.rs",
    "render.rs",
    "replay.rs",
    "simulate/mod.rs",
    "simulate/baselines.rs",
    "simulate/report.rs",
    "simulate/traffic.rs",
];

/// An operation that only reads: `Get*`, `List*`, `Describe*`, `BatchGet*`.
fn is_read(action: &str) -> bool {
    let op = action.split_once(':').map_or(action, |(_, op)| op);
    ["Get", "List", "Describe", "BatchGet"]
        .iter()
        .any(|p| op.starts_with(p))
}

fn documented(file: &str) -> Value {
    let path = root().join(file);
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

/// The checks every documented policy passes; returns its actions, each
/// with its statement.
fn granted(file: &str, doc: &Value) -> BTreeMap<String, Value> {
    assert_eq!(doc["Version"], "2012-10-17", "{file}");
    let mut granted = BTreeMap::new();
    let mut on_any_resource = BTreeMap::new();
    for s in doc["Statement"].as_array().unwrap() {
        let sid = s["Sid"].as_str().unwrap_or_default();
        assert!(!sid.is_empty(), "{file}: a statement without a Sid");
        assert_eq!(s["Effect"], "Allow", "{file}: {sid}");
        assert!(
            s.get("NotAction").is_none() && s.get("NotResource").is_none(),
            "{file}: {sid}"
        );
        let actions = strings(&s["Action"]);
        for a in &actions {
            assert!(
                !a.contains('*') && !a.contains('?'),
                "{file}: {sid}: wildcard action {a}"
            );
            assert!(
                granted.insert(a.clone(), s.clone()).is_none(),
                "{file}: {sid}: {a} granted twice"
            );
        }
        let resources = strings(&s["Resource"]);
        if resources.iter().any(|r| r == "*") {
            assert!(
                sid.starts_with("AccountLevel"),
                "{file}: {sid}: Resource \"*\""
            );
            for a in actions {
                on_any_resource.insert(a, sid.to_string());
            }
        } else {
            for r in resources {
                assert!(r.starts_with("arn:aws:"), "{file}: {sid}: {r}");
            }
        }
    }
    for (action, sid) in &on_any_resource {
        assert!(
            ANY_RESOURCE.iter().any(|(p, _)| action.starts_with(p)),
            "{file}: {action} ({sid}) is granted on any resource without a reason"
        );
    }
    granted
}

/// What the run called, by the command that made the call.
#[derive(Debug, Default)]
struct Calls {
    /// By `plan` and `status`.
    read: BTreeSet<String>,
    /// By `apply` and `publish`.
    write: BTreeSet<String>,
}

/// Runs every account command the CLI has, twice over, and returns the
/// operations made, by command.
async fn operations_the_cli_makes() -> Calls {
    let w = World::new(REGION, "iam", vec![Config::foreign("protect-theirs", true)]).await;
    let p = w.policy();
    w.take_calls();
    let mut calls = Calls::default();

    // A fresh account: plan, apply, plan, status, publish.
    let plan = w.plan(&p, false).await.unwrap();
    calls.read.extend(w.take_calls());
    let report = apply(&plan, &[w.clients()]).await;
    assert!(report.failed.is_none(), "{report:?}");
    calls.write.extend(w.take_calls());
    let after = w.plan(&p, false).await.unwrap();
    assert!(after.is_empty(), "{after}");
    // `status` is the plan, shown as what is in force.
    let status = Status::from_plan(&w.plan(&p, false).await.unwrap());
    assert!(status.to_string().contains("in sync"), "{status}");
    calls.read.extend(w.take_calls());
    DynamoPolicyStore::new(w.clients().dynamodb, &w.table)
        .publish(&w.text, "policy.toml", NOW)
        .await
        .unwrap();
    calls.write.extend(w.take_calls());

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
    let p2 = pumpguard_engine::Policy::parse(&text, "policy.toml").unwrap();
    let plan = w.plan_text(&p2, &text, false).await.unwrap();
    let resources: BTreeSet<&str> = plan.regions[0]
        .changes
        .iter()
        .map(|c| c.resource.as_str())
        .collect();
    assert!(resources.contains("web-acl"), "{plan}");
    calls.read.extend(w.take_calls());
    let report = apply(&plan, &[w.clients()]).await;
    assert!(report.failed.is_none(), "{report:?}");
    calls.write.extend(w.take_calls());
    assert!(w.plan_text(&p2, &text, false).await.unwrap().is_empty());
    calls.read.extend(w.take_calls());

    // pumpguard's web ACL left unassociated, as by an apply that stopped
    // between creating and associating it: plan reads it by id.
    aws_sdk_wafv2::Client::new(&w.sdk)
        .disassociate_web_acl()
        .resource_arn(&w.pool_arn)
        .send()
        .await
        .unwrap();
    let plan = w.plan_text(&p2, &text, false).await.unwrap();
    assert!(
        plan.regions[0]
            .changes
            .iter()
            .any(|c| c.resource == "web-acl-association"),
        "{plan}"
    );
    calls.read.extend(w.take_calls());
    let report = apply(&plan, &[w.clients()]).await;
    assert!(report.failed.is_none(), "{report:?}");
    calls.write.extend(w.take_calls());
    assert!(w.plan_text(&p2, &text, false).await.unwrap().is_empty());
    calls.read.extend(w.take_calls());

    calls
}

/// The authorisation-only actions that `calls` need.
fn authorised_with(calls: &BTreeSet<String>) -> BTreeSet<String> {
    AUTHORISATION_ONLY
        .iter()
        .filter(|(_, call, _)| calls.contains(*call))
        .map(|(a, _, _)| a.to_string())
        .collect()
}

fn assert_same(file: &str, granted: &BTreeSet<String>, needed: &BTreeSet<String>, calls: &Calls) {
    let missing: Vec<_> = needed.difference(granted).collect();
    let unused: Vec<_> = granted.difference(needed).collect();
    assert!(
        missing.is_empty() && unused.is_empty(),
        "{file} lacks {missing:?} and grants unused {unused:?} (plan/status called {:?}; \
         apply/publish called {:?})",
        calls.read,
        calls.write
    );
}

/// The `Condition` entry `op` → `key` of a statement.
fn condition<'a>(s: &'a Value, op: &str, key: &str) -> &'a Value {
    &s["Condition"][op][key]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_cli_policies_grant_exactly_what_the_cli_calls() {
    let read_doc = documented(READ_POLICY);
    let apply_doc = documented(APPLY_POLICY);
    let read = granted(READ_POLICY, &read_doc);
    let applied = granted(APPLY_POLICY, &apply_doc);
    let read_actions: BTreeSet<String> = read.keys().cloned().collect();
    let apply_actions: BTreeSet<String> = applied.keys().cloned().collect();

    // No action in both files.
    let both: Vec<_> = read_actions.intersection(&apply_actions).collect();
    assert!(
        both.is_empty(),
        "granted by both {READ_POLICY} and {APPLY_POLICY}: {both:?}"
    );

    // The read policy: reads only, and no condition (pumpguard lists and
    // reads every protect configuration and web ACL to find its own by tag,
    // and to notice two carrying the tag).
    for (action, s) in &read {
        assert!(is_read(action), "{READ_POLICY}: {action} is not a read");
        assert!(
            s.get("Condition").is_none(),
            "{READ_POLICY}: {}: a read with a condition",
            s["Sid"]
        );
    }

    // The End User Messaging writes: on pumpguard's own configuration only.
    let mut tag_checked = BTreeSet::new();
    for (action, s) in &applied {
        if !action.starts_with("sms-voice:") || is_read(action) {
            continue;
        }
        let sid = &s["Sid"];
        if TAGGED_ON_CREATE.contains(&action.as_str()) {
            assert_eq!(
                condition(s, "StringEquals", &format!("aws:RequestTag/{OWNER_TAG}")),
                "true",
                "{APPLY_POLICY}: {sid}: {action} without the owner tag on the request"
            );
            assert_eq!(
                condition(s, "ForAllValues:StringEquals", "aws:TagKeys"),
                &json!([OWNER_TAG]),
                "{APPLY_POLICY}: {sid}: {action} admits tags other than {OWNER_TAG}"
            );
        } else if UNTAGGED_WRITES.iter().any(|(a, _)| a == action) {
            assert!(
                s.get("Condition").is_none(),
                "{APPLY_POLICY}: {sid}: {action} has no condition key to use"
            );
            continue;
        } else {
            assert_eq!(
                condition(s, "StringEquals", &format!("aws:ResourceTag/{OWNER_TAG}")),
                "true",
                "{APPLY_POLICY}: {sid}: {action} without the owner tag on the resource"
            );
            for r in strings(&s["Resource"]) {
                assert!(
                    r.contains(":protect-configuration/"),
                    "{APPLY_POLICY}: {sid}: {action} on {r}"
                );
            }
        }
        tag_checked.insert(action.clone());
    }
    assert!(
        TAGGED_ON_CREATE.iter().all(|a| tag_checked.contains(*a)),
        "{tag_checked:?}"
    );
    assert!(
        tag_checked.len() > TAGGED_ON_CREATE.len(),
        "{tag_checked:?}"
    );

    // Unreached calls are really in the code, and are apply's writes.
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
        assert!(!is_read(action), "{action}");
    }
    // The offline commands make no AWS call.
    for f in OFFLINE {
        let text = std::fs::read_to_string(root().join("admin-cli/src").join(f)).unwrap();
        assert!(
            !text.contains("aws_sdk") && !text.contains("aws_config"),
            "admin-cli/src/{f} calls AWS: give its command a policy"
        );
    }

    let calls = operations_the_cli_makes().await;
    let all: BTreeSet<String> = calls.read.union(&calls.write).cloned().collect();
    for (action, call, _) in AUTHORISATION_ONLY {
        assert!(!all.contains(action), "{action} is a call after all");
        assert!(all.contains(call), "{action}: {call} was never called");
    }
    for (action, _, _) in UNREACHED {
        assert!(!all.contains(action), "{action} is reached after all");
    }
    for call in &calls.read {
        assert!(is_read(call), "plan or status called {call}");
    }

    // plan and status: exactly the read policy.
    let mut read_needed = calls.read.clone();
    read_needed.extend(authorised_with(&calls.read));
    assert_same(READ_POLICY, &read_actions, &read_needed, &calls);

    // apply and publish: the rest, in the apply policy.
    let mut needed = all.clone();
    needed.extend(authorised_with(&all));
    needed.extend(UNREACHED.iter().map(|(a, _, _)| a.to_string()));
    let apply_needed: BTreeSet<String> = needed.difference(&read_needed).cloned().collect();
    assert_same(APPLY_POLICY, &apply_actions, &apply_needed, &calls);

    // Together: everything the run needed, nothing else.
    let union: BTreeSet<String> = read_actions.union(&apply_actions).cloned().collect();
    assert_eq!(union, needed);
    eprintln!(
        "{} actions documented ({} read, {} apply): {} called, {} authorisation-only, {} unreached",
        union.len(),
        read_actions.len(),
        apply_actions.len(),
        all.len(),
        AUTHORISATION_ONLY.len(),
        UNREACHED.len()
    );
}
