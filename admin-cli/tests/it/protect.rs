//! The protect-configuration module against a simulated End User Messaging
//! account. No emulator implements the service (AWS-FACTS.md), so the real
//! `aws-sdk-pinpointsmsvoicev2` client runs with `aws-smithy-mocks` rules
//! whose responses come from a small in-memory account: requests go through
//! the SDK's own input validation and serialisation, and every write call is
//! recorded in order. The other clients of [`Clients`] point at moto
//! (`PUMPGUARD_TEST_MOTO`), which these tests require but do not call.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::collections::BTreeMap;

use aws_sdk_pinpointsmsvoicev2 as eum;
use aws_sdk_pinpointsmsvoicev2::operation::describe_protect_configurations::DescribeProtectConfigurationsError;
use aws_sdk_pinpointsmsvoicev2::types::error::AccessDeniedException;
use aws_smithy_mocks::mock;
use common::eum::{mocked_eum, Account, Call, Config};
use pumpguard_cli::converge::protect::{self, ProtectWrite, Target};
use pumpguard_cli::converge::{Clients, Desired, OWNER_TAG};
use pumpguard_cli::plan::{Action, Change, Plan, RegionPlan, Write};
use pumpguard_engine::account::{ProtectStatus, UserPoolPolicy};
use pumpguard_engine::Policy;

const REGION: &str = "us-east-1";
/// 2027-01-15T08:00:00Z.
const NOW: i64 = 1_800_000_000;
/// 2030-01-01T00:00:00Z.
const Y2030: i64 = 1_893_456_000;

/// Numbers of the test policy: none may ever appear in a plan.
const US_NUMBER: &str = "+12025550100";
const GB_NUMBER: &str = "+447911123456";
const EXPIRED_NUMBER: &str = "+13125550123";
const FR_NUMBER: &str = "+33612345678";

const PROTECT: &str = r#"
[protect]
block-status = "block"
# MX is monitored by the trigger; the account blocks it on purpose.
country-overrides = { MX = "block" }

[[protect.number-overrides]]
number = "+1 202 555 0100"
action = "allow"
expires = "2030-01-01T00:00:00Z"

[[protect.number-overrides]]
number = "+447911123456"
action = "block"

[[protect.number-overrides]]
number = "+13125550123"
action = "block"
expires = "2020-01-01T00:00:00Z"
"#;

/// The trigger's side of the test policy (its own, so that edits to the
/// example policy do not move these tests).
const COUNTRIES: &str = r#"
version = 1

[countries]
mode = "enforce"
allow = ["US", "CA", "GB", "FR"]
monitor = ["MX"]
block = ["NG", "PK"]
unlisted = "block"
crown-dependencies = "separate"
"#;

fn policy(protect: &str) -> Policy {
    Policy::parse(&format!("{COUNTRIES}\n{protect}"), "test-policy.toml")
        .unwrap_or_else(|e| panic!("{e}"))
}

fn pool() -> UserPoolPolicy {
    UserPoolPolicy {
        id: "us-east-1_Test123".into(),
        region: REGION.into(),
        trigger_arn: "arn:aws:lambda:us-east-1:123456789012:function:pumpguard".into(),
        table: "pumpguard".into(),
        sms_regions: vec![REGION.into()],
        account_id: None,
        sender_arn: None,
        kms_key_arn: None,
    }
}

fn desired<'a>(policy: &'a Policy, pool: &'a UserPoolPolicy) -> Desired<'a> {
    Desired {
        policy,
        text: "",
        origin: "test-policy.toml",
        pool,
        replace_triggers: false,
        grant_invoke: false,
        now: NOW,
    }
}

/// The SMS rules the test policy wants, as the API spells them.
fn wanted_rules(policy: &Policy) -> BTreeMap<String, String> {
    policy
        .protect_rules(policy.protect.block_status)
        .into_iter()
        .map(|(c, s)| (c.as_str().to_string(), s.as_str().to_string()))
        .collect()
}

/// Clients for the region: `eum` as given, the rest at moto.
async fn clients(eum: eum::Client) -> Clients {
    let mut c = Clients::new(&common::moto::sdk(REGION).await);
    c.eum = eum;
    c
}

async fn plan_for(c: &Clients, d: &Desired<'_>) -> (Vec<Change>, Vec<String>) {
    let observed = protect::read(c, d)
        .await
        .unwrap_or_else(|e| panic!("{e:#}"));
    protect::plan(d, &observed)
}

async fn apply_all(c: &Clients, changes: &[Change]) {
    let mut changes = changes.to_vec();
    changes.sort_by_key(|ch| ch.order);
    for ch in &changes {
        for w in &ch.writes {
            match w {
                Write::Protect(w) => protect::apply(c, w)
                    .await
                    .unwrap_or_else(|e| panic!("{e:#}")),
                other => panic!("not a protect write: {other:?}"),
            }
        }
    }
}

fn render(changes: &[Change], warnings: &[String]) -> String {
    Plan {
        regions: vec![RegionPlan {
            region: REGION.into(),
            changes: changes.to_vec(),
            warnings: warnings.to_vec(),
            in_force: vec![],
            broken: vec![],
        }],
    }
    .to_string()
}

/// No full number in what people (or CI logs) see, nor in `Debug`.
fn assert_no_number(text: &str) {
    for n in [US_NUMBER, GB_NUMBER, EXPIRED_NUMBER, FR_NUMBER] {
        let digits = &n[n.len() - 8..];
        assert!(!text.contains(digits), "{n} leaked into:\n{text}");
    }
}

/// The owned configuration exactly as the test policy wants it.
fn converged_config(p: &Policy, id: &str, default: bool) -> Config {
    let mut c = Config::owned(id, default, wanted_rules(p));
    c.overrides
        .insert(US_NUMBER.into(), ("ALLOW".into(), Some(Y2030)));
    c.overrides.insert(GB_NUMBER.into(), ("BLOCK".into(), None));
    c
}

// ---------------------------------------------------------------- tests

#[test]
fn numbers_are_masked() {
    assert_eq!(protect::mask("+12025550100"), "+1…0100");
    assert_eq!(protect::mask("+447911123456"), "+44…3456");
    assert_eq!(protect::mask("+123"), "+…");
    let n = protect::PhoneNumber::new(US_NUMBER);
    assert_eq!(format!("{n} {n:?}"), "+1…0100 +1…0100");
    assert_eq!(n.expose(), US_NUMBER);
}

#[tokio::test]
async fn nothing_owned_plans_one_create_and_apply_runs_it_in_order() {
    let p = policy(PROTECT);
    let pool = pool();
    let d = desired(&p, &pool);
    let account = Account::new(vec![Config::foreign("protect-foreign", true)]);
    let c = clients(account.client()).await;

    let (changes, warnings) = plan_for(&c, &d).await;
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let ch = &changes[0];
    assert_eq!(
        (ch.resource.as_str(), ch.action, ch.order),
        ("protect-configuration", Action::Create, 10)
    );
    assert_eq!(account.write_rule_calls(), 0, "plan never writes");

    let text = render(&changes, &warnings);
    insta::assert_snapshot!("create_plan", text);
    assert_no_number(&text);
    assert_no_number(&format!("{changes:?}"));
    assert!(
        warnings.iter().any(|w| w.contains("protect-foreign")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("MX") && w.contains("explicit")),
        "{warnings:?}"
    );
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("+1…0123") && w.contains("expired")),
        "{warnings:?}"
    );

    // The writes, as planned: create, rules, overrides, default.
    let kinds: Vec<&str> = ch
        .writes
        .iter()
        .map(|w| match w {
            Write::Protect(ProtectWrite::Create { .. }) => "create",
            Write::Protect(ProtectWrite::UpdateCountryRules { .. }) => "rules",
            Write::Protect(ProtectWrite::PutNumberOverride { .. }) => "put",
            Write::Protect(ProtectWrite::SetAccountDefault { .. }) => "default",
            other => panic!("unexpected write {other:?}"),
        })
        .collect();
    assert_eq!(kinds.first(), Some(&"create"));
    assert_eq!(&kinds[kinds.len() - 3..], ["put", "put", "default"]);
    assert!(kinds[1..kinds.len() - 3].iter().all(|k| *k == "rules"));

    apply_all(&c, &changes).await;

    let calls = account.writes();
    let Call::Create {
        tags,
        deletion_protection,
    } = &calls[0]
    else {
        panic!("first call is not Create: {calls:#?}");
    };
    assert_eq!(tags, &[(OWNER_TAG.to_string(), "true".to_string())]);
    assert_eq!(*deletion_protection, Some(false));
    let new_id = "protect-new1";
    let mut covered = BTreeMap::new();
    let mut i = 1;
    while let Some(Call::Rules {
        id,
        capability,
        countries,
    }) = calls.get(i)
    {
        assert_eq!(id, new_id, "rule updates use the created id");
        assert_eq!(capability, "SMS");
        assert!(
            !countries.is_empty() && countries.len() <= 300,
            "{}",
            countries.len()
        );
        for (k, v) in countries {
            assert!(
                covered.insert(k.clone(), v.clone()).is_none(),
                "{k} sent twice"
            );
        }
        i += 1;
    }
    assert!(i > 1, "no rule update: {calls:#?}");
    assert_eq!(
        covered,
        wanted_rules(&p),
        "every country is covered, as the policy says"
    );
    assert_eq!(covered["MX"], "BLOCK", "explicit country override");
    assert_eq!(covered["US"], "ALLOW");
    assert_eq!(covered["JM"], "BLOCK");
    assert_eq!(
        calls[i..],
        [
            Call::Put {
                id: new_id.into(),
                number: US_NUMBER.into(),
                action: "ALLOW".into(),
                expires: Some(Y2030)
            },
            Call::Put {
                id: new_id.into(),
                number: GB_NUMBER.into(),
                action: "BLOCK".into(),
                expires: None
            },
            Call::SetDefault { id: new_id.into() },
        ]
    );

    // Converged: reading again plans nothing, and nothing more is written.
    let before = account.write_rule_calls();
    let (changes, warnings) = plan_for(&c, &d).await;
    assert!(changes.is_empty(), "{}", render(&changes, &warnings));
    assert!(
        !warnings.iter().any(|w| w.contains("account default")),
        "{warnings:?}"
    );
    apply_all(&c, &changes).await;
    assert_eq!(account.write_rule_calls(), before);
}

#[tokio::test]
async fn converged_account_plans_nothing_and_writes_nothing() {
    let p = policy(PROTECT);
    let pool = pool();
    let d = desired(&p, &pool);
    let account = Account::new(vec![
        Config::foreign("protect-a", false),
        converged_config(&p, "protect-ours", true),
        Config::foreign("protect-z", false),
    ]);
    let c = clients(account.client()).await;

    let observed = protect::read(&c, &d).await.unwrap();
    assert_eq!(observed.configurations.len(), 3, "all pages read");
    assert!(observed.owned_is_default());
    let owned = observed.owned.as_ref().expect("owned");
    assert_eq!(owned.id, "protect-ours");
    assert_eq!(owned.overrides.len(), 2);
    assert_eq!(
        account.reads[0].num_calls(),
        3,
        "one DescribeProtectConfigurations per page"
    );
    assert_eq!(
        account.reads[1].num_calls(),
        3,
        "one ListTagsForResource per configuration"
    );

    let (changes, warnings) = protect::plan(&d, &observed);
    assert!(changes.is_empty(), "{}", render(&changes, &warnings));
    apply_all(&c, &changes).await;
    assert_eq!(account.write_rule_calls(), 0);
    assert!(account.writes().is_empty());
}

#[tokio::test]
async fn a_partial_difference_sends_only_what_differs() {
    let p = policy(PROTECT);
    let pool = pool();
    let d = desired(&p, &pool);
    let mut ours = converged_config(&p, "protect-ours", true);
    ours.rules.insert("JM".into(), "ALLOW".into()); // wanted BLOCK
    ours.rules.insert("US".into(), "MONITOR".into()); // wanted ALLOW
    ours.rules.remove("ZW"); // not reported: wanted BLOCK
    ours.overrides
        .insert(US_NUMBER.into(), ("ALLOW".into(), Some(Y2030 + 86_400))); // other expiry
    ours.overrides.remove(GB_NUMBER); // missing
    ours.overrides
        .insert(FR_NUMBER.into(), ("ALLOW".into(), None)); // not in the policy
    let account = Account::new(vec![ours]);
    let c = clients(account.client()).await;

    let (changes, warnings) = plan_for(&c, &d).await;
    assert_eq!(changes.len(), 1, "{}", render(&changes, &warnings));
    let ch = &changes[0];
    assert_eq!(
        (ch.action, ch.order, ch.name.as_str()),
        (Action::Update, 10, "protect-ours")
    );
    let text = render(&changes, &warnings);
    assert!(
        text.contains("SMS countries → BLOCK: JM, ZW (now ALLOW, not set)"),
        "{text}"
    );
    assert!(
        text.contains("SMS countries → ALLOW: US (now MONITOR)"),
        "{text}"
    );
    assert!(
        text.contains("number override +33…5678: ALLOW -> (removed)"),
        "{text}"
    );
    assert_no_number(&text);

    apply_all(&c, &changes).await;
    let id = || "protect-ours".to_string();
    let rules = |v: &[(&str, &str)]| {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    assert_eq!(
        account.writes(),
        [
            Call::Rules {
                id: id(),
                capability: "SMS".into(),
                countries: rules(&[("JM", "BLOCK"), ("US", "ALLOW"), ("ZW", "BLOCK")]),
            },
            Call::Put {
                id: id(),
                number: US_NUMBER.into(),
                action: "ALLOW".into(),
                expires: Some(Y2030)
            },
            Call::Put {
                id: id(),
                number: GB_NUMBER.into(),
                action: "BLOCK".into(),
                expires: None
            },
            Call::Delete {
                id: id(),
                number: FR_NUMBER.into()
            },
        ]
    );
    let (changes, _) = plan_for(&c, &d).await;
    assert!(changes.is_empty(), "converged after apply: {changes:#?}");
}

#[tokio::test]
async fn two_owned_configurations_are_an_error_naming_both() {
    let p = policy(PROTECT);
    let pool = pool();
    let d = desired(&p, &pool);
    let account = Account::new(vec![
        converged_config(&p, "protect-one", true),
        Config::foreign("protect-foreign", false),
        converged_config(&p, "protect-two", false),
    ]);
    let c = clients(account.client()).await;
    let e = protect::read(&c, &d)
        .await
        .expect_err("ambiguous ownership");
    let msg = format!("{e:#}");
    assert!(
        msg.contains("protect-one") && msg.contains("protect-two"),
        "{msg}"
    );
    assert!(!msg.contains("protect-foreign"), "{msg}");
    assert!(msg.contains("Delete all but one"), "{msg}");
    assert!(msg.contains(OWNER_TAG), "{msg}");
}

#[tokio::test]
async fn a_foreign_account_default_is_replaced_with_a_warning() {
    let p = policy(PROTECT);
    let pool = pool();
    let d = desired(&p, &pool);
    let account = Account::new(vec![
        Config::foreign("protect-theirs", true),
        converged_config(&p, "protect-ours", false),
    ]);
    let c = clients(account.client()).await;

    let (changes, warnings) = plan_for(&c, &d).await;
    assert_eq!(changes.len(), 1, "{changes:#?}");
    let ch = &changes[0];
    assert_eq!(ch.order, 11);
    assert_eq!(ch.resource, "account-default-protect-configuration");
    assert_eq!(
        ch.writes,
        [Write::Protect(ProtectWrite::SetAccountDefault {
            target: Target::Id("protect-ours".into())
        })]
    );
    let w = warnings
        .iter()
        .find(|w| w.contains("protect-theirs"))
        .unwrap_or_else(|| panic!("no warning about the foreign default: {warnings:?}"));
    assert!(w.contains("protect-ours") && w.contains("default"), "{w}");

    apply_all(&c, &changes).await;
    assert_eq!(
        account.writes(),
        [Call::SetDefault {
            id: "protect-ours".into()
        }]
    );
    let (changes, warnings) = plan_for(&c, &d).await;
    assert!(changes.is_empty(), "{changes:#?}");
    assert!(
        !warnings.iter().any(|w| w.contains("protect-theirs")),
        "{warnings:?}"
    );
}

#[tokio::test]
async fn expired_overrides_are_not_put_and_are_removed() {
    let p = policy(PROTECT);
    let pool = pool();
    let d = desired(&p, &pool);
    let mut ours = converged_config(&p, "protect-ours", true);
    // Still listed by the account although the policy says it expired.
    ours.overrides
        .insert(EXPIRED_NUMBER.into(), ("BLOCK".into(), Some(1_577_836_800)));
    let account = Account::new(vec![ours]);
    let c = clients(account.client()).await;

    let (changes, warnings) = plan_for(&c, &d).await;
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("+1…0123") && w.contains("expired at 2020-01-01T00:00:00Z")),
        "{warnings:?}"
    );
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(
        changes[0].writes,
        [Write::Protect(ProtectWrite::DeleteNumberOverride {
            target: Target::Id("protect-ours".into()),
            number: protect::PhoneNumber::new(EXPIRED_NUMBER),
        })]
    );

    // A later expiry than the account's is a change; a past one is never put.
    let later = PROTECT.replace("2030-01-01T00:00:00Z", "2031-01-01T00:00:00Z");
    let p2 = policy(&later);
    let d2 = desired(&p2, &pool);
    let (changes, _) = plan_for(&c, &d2).await;
    let puts: Vec<&ProtectWrite> = changes
        .iter()
        .flat_map(|c| &c.writes)
        .filter_map(|w| match w {
            Write::Protect(w @ ProtectWrite::PutNumberOverride { .. }) => Some(w),
            _ => None,
        })
        .collect();
    assert_eq!(
        puts,
        [&ProtectWrite::PutNumberOverride {
            target: Target::Id("protect-ours".into()),
            number: protect::PhoneNumber::new(US_NUMBER),
            action: ProtectStatus::Allow,
            expires: Some(Y2030 + 365 * 86_400),
        }]
    );
    assert_eq!(account.write_rule_calls(), 0);
}

#[tokio::test]
async fn disabled_protect_changes_nothing_and_warns_about_what_is_left() {
    let p = policy("[protect]\nenabled = false\n");
    let pool = pool();
    let d = desired(&p, &pool);

    let account = Account::new(vec![
        Config::foreign("protect-theirs", false),
        converged_config(&policy(PROTECT), "protect-ours", true),
    ]);
    let c = clients(account.client()).await;
    let (changes, warnings) = plan_for(&c, &d).await;
    assert!(changes.is_empty(), "{changes:#?}");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("protect-ours") && warnings[0].contains("account default"),
        "{warnings:?}"
    );

    // Nothing owned: nothing to say.
    let account = Account::new(vec![Config::foreign("protect-theirs", true)]);
    let c = clients(account.client()).await;
    let (changes, warnings) = plan_for(&c, &d).await;
    assert!(
        changes.is_empty() && warnings.is_empty(),
        "{changes:?} {warnings:?}"
    );

    // Disabled, and End User Messaging cannot be read: a warning, not an error.
    let denied = mock!(eum::Client::describe_protect_configurations).then_error(|| {
        DescribeProtectConfigurationsError::AccessDeniedException(
            AccessDeniedException::builder()
                .message("not allowed")
                .build(),
        )
    });
    let c = clients(mocked_eum([&denied])).await;
    let (changes, warnings) = plan_for(&c, &d).await;
    assert!(changes.is_empty(), "{changes:?}");
    assert!(
        warnings.len() == 1 && warnings[0].contains("not allowed"),
        "{warnings:?}"
    );

    // Enabled, the same failure is an error that says what to check.
    let p = policy(PROTECT);
    let d = desired(&p, &pool);
    let e = protect::read(&c, &d)
        .await
        .expect_err("enabled needs the read");
    let msg = format!("{e:#}");
    assert!(
        msg.contains("sms-voice:DescribeProtectConfigurations") && msg.contains("not allowed"),
        "{msg}"
    );
}

// ---------------------------------------------------------------- scope = "pool"

/// The test policy's `[protect]` with `scope = "pool"`.
fn pool_scope() -> Policy {
    policy(&PROTECT.replace(
        "[protect]\n",
        "[protect]\nscope = \"pool\"\n\
         caller-role-arn = \"arn:aws:iam::123456789012:role/pumpguard-sms\"\n",
    ))
}

fn any_set_default(changes: &[Change]) -> bool {
    changes
        .iter()
        .flat_map(|c| &c.writes)
        .any(|w| matches!(w, Write::Protect(ProtectWrite::SetAccountDefault { .. })))
}

/// The account default belongs to another team: with `scope = "pool"`
/// pumpguard creates its configuration, a configuration set of its own, and
/// the association, and never calls SetAccountDefaultProtectConfiguration.
/// Then the account is converged: a second plan is empty.
#[tokio::test]
async fn pool_scope_associates_a_set_of_its_own_and_leaves_the_account_default() {
    let p = pool_scope();
    let pool = pool();
    let d = desired(&p, &pool);
    let account = Account::new(vec![Config::foreign("protect-foreign", true)]);
    let c = clients(account.client()).await;

    let (changes, warnings) = plan_for(&c, &d).await;
    assert!(!any_set_default(&changes), "{changes:#?}");
    let resources: Vec<(&str, Action)> = changes
        .iter()
        .map(|c| (c.resource.as_str(), c.action))
        .collect();
    assert_eq!(
        resources,
        [
            ("protect-configuration", Action::Create),
            ("sms-configuration-set", Action::Create)
        ]
    );
    let text = render(&changes, &warnings);
    assert!(
        text.contains("the account default is left as it is"),
        "{text}"
    );
    assert!(
        !warnings.iter().any(|w| w.contains("account default")),
        "{warnings:?}"
    );

    apply_all(&c, &changes).await;
    let writes = account.writes();
    assert!(
        !writes.iter().any(|w| matches!(w, Call::SetDefault { .. })),
        "{writes:#?}"
    );
    let tail: Vec<&Call> = writes.iter().rev().take(2).rev().collect();
    match tail.as_slice() {
        [Call::CreateSet { name, tags }, Call::Associate { id, set }] => {
            assert_eq!(name, "pumpguard");
            assert_eq!(tags, &[(OWNER_TAG.to_string(), "true".to_string())]);
            assert_eq!((id.as_str(), set.as_str()), ("protect-new1", "pumpguard"));
        }
        other => panic!("expected the set created then associated, got {other:#?}"),
    }
    {
        let st = account.state.lock().unwrap();
        let default: Vec<&str> = st
            .configs
            .iter()
            .filter(|c| c.default)
            .map(|c| c.id.as_str())
            .collect();
        assert_eq!(
            default,
            ["protect-foreign"],
            "the account default is untouched"
        );
    }

    let (again, _) = plan_for(&c, &d).await;
    assert!(again.is_empty(), "converged, yet: {again:#?}");
}

/// Moving from the account default to the pool: the association is made,
/// pumpguard's configuration stays the account default (it never removes
/// one on its own), and the plan says how to release it.
#[tokio::test]
async fn pool_scope_after_account_default_warns_and_does_not_touch_the_default() {
    let p = pool_scope();
    let pool = pool();
    let d = desired(&p, &pool);
    let account = Account::new(vec![converged_config(&p, "protect-ours", true)]);
    let c = clients(account.client()).await;

    let (changes, warnings) = plan_for(&c, &d).await;
    assert!(!any_set_default(&changes), "{changes:#?}");
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("still the account") && w.contains("delete-account-default")),
        "{warnings:?}"
    );
    apply_all(&c, &changes).await;
    let writes = account.writes();
    assert!(
        matches!(writes.as_slice(), [Call::CreateSet { .. }, Call::Associate { id, .. }] if id == "protect-ours"),
        "{writes:#?}"
    );
}

/// A configuration set of the policy's name that pumpguard does not own is
/// never associated: its other senders would fall under pumpguard's rules.
#[tokio::test]
async fn pool_scope_does_not_take_over_a_foreign_set() {
    let p = pool_scope();
    let pool = pool();
    let d = desired(&p, &pool);
    let account = Account::new(vec![converged_config(&p, "protect-ours", false)]);
    account.state.lock().unwrap().sets.push(common::eum::Set {
        name: "pumpguard".into(),
        tags: vec![],
        protect: None,
    });
    let c = clients(account.client()).await;
    let (changes, warnings) = plan_for(&c, &d).await;
    assert!(changes.is_empty(), "{changes:#?}");
    assert!(
        warnings.iter().any(|w| w.contains("is not pumpguard's")),
        "{warnings:?}"
    );
}

#[test]
fn pool_scope_needs_a_caller_role_and_account_default_takes_no_pool_keys() {
    let err = |protect: &str| {
        Policy::parse(&format!("{COUNTRIES}\n{protect}"), "test-policy.toml")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default()
    };
    let e = err("[protect]\nscope = \"pool\"\n");
    assert!(
        e.contains("protect.caller-role-arn") && e.contains("required"),
        "{e}"
    );
    let e = err("[protect]\nscope = \"pool\"\ncaller-role-arn = \"pumpguard-sms\"\n");
    assert!(e.contains("must be an IAM role ARN"), "{e}");
    let e = err("[protect]\nconfiguration-set = \"mine\"\n");
    assert!(
        e.contains("protect.configuration-set") && e.contains("only with scope"),
        "{e}"
    );
    let e = err("[protect]\nscope = \"everything\"\n");
    assert!(e.contains("protect.scope"), "{e}");
    assert_eq!(
        policy("").protect.scope,
        pumpguard_engine::account::ProtectScope::AccountDefault,
        "the default scope"
    );
}
