//! The spend-limits module: End User Messaging's text-message limit through
//! the real SDK client answered by `aws-smithy-mocks` rules (no emulator
//! implements that service), and SNS's `MonthlySpendLimit` against moto in
//! server mode (`PUMPGUARD_TEST_MOTO`, required). The moto server is shared,
//! so the SNS test sets the attribute itself before it plans.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aws_sdk_pinpointsmsvoicev2 as eum;
use common::eum::{mocked_eum, TextLimit};
use pumpguard_cli::converge::spend::{self, SpendStatus, SpendWrite};
use pumpguard_cli::converge::{Clients, Desired};
use pumpguard_cli::plan::{Action, Change, Plan, RegionPlan, Write};
use pumpguard_engine::account::UserPoolPolicy;
use pumpguard_engine::Policy;

/// A region of its own on the shared moto server, so other suites' SNS
/// settings do not meet this one's.
const REGION: &str = "eu-central-2";

fn policy(spend: &str) -> Policy {
    let text = format!(
        "version = 1\n[countries]\nallow = [\"US\"]\ncrown-dependencies = \"separate\"\n{spend}"
    );
    Policy::parse(&text, "test-policy.toml").unwrap_or_else(|e| panic!("{e}"))
}

fn pool() -> UserPoolPolicy {
    UserPoolPolicy {
        id: "eu-central-2_Test123".into(),
        region: REGION.into(),
        trigger_arn: "arn:aws:lambda:eu-central-2:123456789012:function:pumpguard".into(),
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
        now: 1_800_000_000,
    }
}

/// Clients for the region: `eum` as given, the rest (SNS) at moto.
async fn clients(eum: eum::Client) -> Clients {
    let mut c = Clients::new(&common::moto::sdk(REGION).await);
    c.eum = eum;
    c
}

async fn plan_for(c: &Clients, d: &Desired<'_>) -> (spend::Observed, Vec<Change>, Vec<String>) {
    let o = spend::read(c, d).await.unwrap_or_else(|e| panic!("{e:#}"));
    let (changes, warnings) = spend::plan(d, &o);
    (o, changes, warnings)
}

async fn apply_all(c: &Clients, changes: &[Change]) {
    for ch in changes {
        for w in &ch.writes {
            match w {
                Write::Spend(w) => spend::apply(c, w).await.unwrap_or_else(|e| panic!("{e:#}")),
                other => panic!("not a spend write: {other:?}"),
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

async fn sns_limit(c: &Clients) -> Option<String> {
    c.sns
        .get_sms_attributes()
        .attributes(spend::SNS_ATTRIBUTE)
        .send()
        .await
        .expect("GetSMSAttributes in moto")
        .attributes()
        .and_then(|a| a.get(spend::SNS_ATTRIBUTE).cloned())
}

async fn set_sns_limit(c: &Clients, value: &str) {
    c.sns
        .set_sms_attributes()
        .attributes(spend::SNS_ATTRIBUTE, value)
        .send()
        .await
        .expect("SetSMSAttributes in moto");
}

#[tokio::test]
async fn a_different_text_limit_is_set_then_converged() {
    let p = policy("[spend]\ntext-monthly-usd = 50\n");
    let pool = pool();
    let d = desired(&p, &pool);
    let text = TextLimit::new(1, 100, false);
    let c = clients(text.client()).await;

    let (o, changes, warnings) = plan_for(&c, &d).await;
    assert_eq!(
        o.text,
        Some(SpendStatus {
            enforced_usd: 1,
            max_usd: 100,
            overridden: false
        }),
        "found on the second page"
    );
    assert_eq!(text.describe.num_calls(), 2);
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!((changes[0].action, changes[0].order), (Action::Update, 20));
    assert_eq!(
        changes[0].writes,
        [Write::Spend(SpendWrite::SetTextMonthlyLimit { usd: 50 })]
    );
    let shown = render(&changes, &warnings);
    assert!(shown.contains("monthly USD: 1 (default) -> 50"), "{shown}");
    assert_eq!(text.set.num_calls(), 0, "plan never writes");

    apply_all(&c, &changes).await;
    assert_eq!(text.set.num_calls(), 1);
    assert_eq!(*text.state.lock().unwrap(), (50, 100, true));

    let (_, changes, warnings) = plan_for(&c, &d).await;
    assert!(changes.is_empty(), "{}", render(&changes, &warnings));
    apply_all(&c, &changes).await;
    assert_eq!(text.set.num_calls(), 1, "a converged account gets no write");
}

#[tokio::test]
async fn a_text_limit_above_the_maximum_is_a_warning_not_a_change() {
    let p = policy("[spend]\ntext-monthly-usd = 500\n");
    let pool = pool();
    let d = desired(&p, &pool);
    let text = TextLimit::new(20, 100, true);
    let c = clients(text.client()).await;

    let (_, changes, warnings) = plan_for(&c, &d).await;
    assert!(changes.is_empty(), "{changes:#?}");
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    let w = &warnings[0];
    assert!(
        w.contains("500") && w.contains("100") && w.contains("quota increase"),
        "{w}"
    );
    assert!(w.contains("stays at 20"), "{w}");
    assert_eq!(text.set.num_calls(), 0);
}

#[tokio::test]
async fn an_unset_text_limit_never_calls_end_user_messaging() {
    let p = policy("");
    let pool = pool();
    let d = desired(&p, &pool);
    let text = TextLimit::new(1, 100, false);
    let c = clients(text.client()).await;

    let (o, changes, warnings) = plan_for(&c, &d).await;
    assert!(
        changes.is_empty() && warnings.is_empty(),
        "{changes:?} {warnings:?}"
    );
    assert_eq!(o.text, None);
    assert!(!o.text_read);
    assert_eq!(text.describe.num_calls() + text.set.num_calls(), 0);
}

#[tokio::test]
async fn the_sns_limit_converges_against_moto() {
    let p = policy("[spend]\nsns-monthly-usd = 7\n");
    let pool = pool();
    let d = desired(&p, &pool);
    // No End User Messaging rule: a call would panic.
    let c = clients(mocked_eum([])).await;

    // Shared server: start from a known, different value.
    set_sns_limit(&c, "3").await;
    let (o, changes, warnings) = plan_for(&c, &d).await;
    assert_eq!(o.sns_monthly_usd.as_deref(), Some("3"));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(changes.len(), 1, "{changes:#?}");
    assert_eq!(changes[0].order, 20);
    assert_eq!(
        changes[0].writes,
        [Write::Spend(SpendWrite::SetSnsMonthlyLimit { usd: 7 })]
    );
    let shown = render(&changes, &warnings);
    assert!(shown.contains("monthly USD: 3 -> 7"), "{shown}");

    apply_all(&c, &changes).await;
    assert_eq!(sns_limit(&c).await.as_deref(), Some("7"));
    let (o, changes, warnings) = plan_for(&c, &d).await;
    assert_eq!(o.sns_monthly_usd.as_deref(), Some("7"));
    assert!(changes.is_empty(), "{}", render(&changes, &warnings));

    // Unset in the policy: left alone whatever it is.
    let unset = policy("");
    let (_, changes, _) = plan_for(&c, &desired(&unset, &pool)).await;
    assert!(changes.is_empty(), "{changes:#?}");
    assert_eq!(sns_limit(&c).await.as_deref(), Some("7"));
}
