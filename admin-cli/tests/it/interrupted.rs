//! `apply` cut short after any one of its writes converges when run again.
//!
//! A full apply on a fresh account is run once to learn its writes (published
//! policy, protect configuration, its rules, number overrides and account
//! default, spend limits, web ACL and association, the pool's triggers).
//! Then, for every N, a fresh account gets the same apply with its N-th write
//! failed right after it took effect (the call reaches the account, the
//! command sees an error). The report names the failure; a second `plan` and
//! `apply` finish the job; a third `plan` is empty; and the account ends up
//! exactly as after the uninterrupted apply, with the foreign protect
//! configuration never written to. moto serves the pool, table, web ACL and
//! SNS; End User Messaging is the simulated account of `common::eum`.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use common::eum::{Call, Config};
use common::world::World;
use pumpguard_cli::account::apply;

/// A region of its own on the shared moto server (SNS's limit is per region).
const REGION: &str = "eu-west-3";

fn foreign() -> Config {
    let mut c = Config::foreign("protect-theirs", true);
    c.overrides
        .insert("+15550000000".into(), ("ALLOW".into(), None));
    c
}

/// What the account holds, with the world's own names replaced, so that two
/// worlds can be compared.
async fn snapshot(w: &World) -> String {
    let c = w.clients();
    let mut out = Vec::new();
    {
        let st = w.protect.state.lock().unwrap();
        for cfg in &st.configs {
            out.push(format!("{cfg:?}"));
        }
    }
    out.push(format!("text limit {:?}", *w.limit.state.lock().unwrap()));
    let sns = c
        .sns
        .get_sms_attributes()
        .attributes("MonthlySpendLimit")
        .send()
        .await
        .unwrap();
    out.push(format!("sns {:?}", sns.attributes));
    let pool = c
        .cognito
        .describe_user_pool()
        .user_pool_id(&w.pool_id)
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap();
    out.push(format!("lambda config {:?}", pool.lambda_config));
    out.push(format!("auto-verified {:?}", pool.auto_verified_attributes));
    let acl = c
        .waf
        .get_web_acl_for_resource()
        .resource_arn(&w.pool_arn)
        .send()
        .await
        .unwrap()
        .web_acl;
    out.push(match acl {
        Some(a) => format!(
            "web ACL {} rules {:?}",
            a.name,
            a.rules()
                .iter()
                .map(|r| (r.name.clone(), r.priority))
                .collect::<Vec<_>>()
        ),
        None => "no web ACL".into(),
    });
    let item = c
        .dynamodb
        .get_item()
        .table_name(&w.table)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S("policy".into()),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("current".into()),
        )
        .send()
        .await
        .unwrap()
        .item;
    out.push(format!(
        "published {:?}",
        item.and_then(|i| i.get("body").and_then(|b| b.as_s().ok()).cloned())
    ));
    out.join("\n")
        .replace(&w.pool_id, "POOL")
        .replace(&w.pool_id.replace('_', "-"), "POOL")
        .replace(&w.table, "TABLE")
}

/// The foreign configuration is as it was, and no write named it.
fn foreign_untouched(w: &World, context: &str) {
    let st = w.protect.state.lock().unwrap();
    let theirs = st
        .configs
        .iter()
        .find(|c| c.id == "protect-theirs")
        .unwrap_or_else(|| panic!("{context}: the foreign configuration is gone"));
    let want = foreign();
    assert_eq!(theirs.rules, want.rules, "{context}");
    assert_eq!(theirs.overrides, want.overrides, "{context}");
    assert_eq!(theirs.tags, want.tags, "{context}");
    for call in &st.writes {
        let id = match call {
            Call::Create { .. } | Call::CreateSet { .. } => continue,
            Call::Rules { id, .. }
            | Call::Put { id, .. }
            | Call::Delete { id, .. }
            | Call::SetDefault { id }
            | Call::Associate { id, .. }
            | Call::Disassociate { id, .. } => id,
        };
        assert_ne!(id, "protect-theirs", "{context}: wrote to it: {call:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_apply_cut_after_any_write_reruns_to_the_same_account() {
    // The uninterrupted apply.
    let full = World::new(REGION, "full", vec![foreign()]).await;
    let p = full.policy();
    let plan = full.plan(&p, false).await.unwrap();
    full.fail_write(None);
    let report = apply(&plan, &[full.clients()]).await;
    assert!(report.failed.is_none(), "{report:?}");
    let writes = full.writes();
    let again = full.plan(&p, false).await.unwrap();
    assert!(again.is_empty(), "{again}");
    foreign_untouched(&full, "uninterrupted");
    let converged = snapshot(&full).await;
    // Every kind of write a fresh account needs is there.
    for op in [
        "dynamodb:PutItem",
        "sms-voice:CreateProtectConfiguration",
        "sms-voice:UpdateProtectConfigurationCountryRuleSet",
        "sms-voice:PutProtectConfigurationRuleSetNumberOverride",
        "sms-voice:SetAccountDefaultProtectConfiguration",
        "sms-voice:SetTextMessageSpendLimitOverride",
        "sns:SetSMSAttributes",
        "wafv2:CreateWebACL",
        "wafv2:AssociateWebACL",
        "cognito-idp:UpdateUserPool",
    ] {
        assert!(writes.iter().any(|w| w == op), "{op} missing: {writes:?}");
    }
    assert!(converged.contains("web ACL pumpguard-"), "{converged}");

    for n in 1..=writes.len() {
        let w = World::new(REGION, &format!("cut{n}"), vec![foreign()]).await;
        let p = w.policy();
        let plan = w.plan(&p, false).await.unwrap();
        w.fail_write(Some(n));
        let report = apply(&plan, &[w.clients()]).await;
        let context = format!("cut after write {n} ({})", writes[n - 1]);
        assert!(
            report
                .failed
                .as_deref()
                .is_some_and(|f| f.contains(&format!("simulated failure after write {n}"))),
            "{context}: {report:?}"
        );
        assert_eq!(
            w.writes(),
            writes[..n],
            "{context}: the same writes, in order"
        );
        assert_eq!(
            report.applied.len() + 1 + report.not_applied.len(),
            plan.len(),
            "{context}: every change is reported: {report:?}"
        );

        w.fail_write(None);
        let rest = w
            .plan(&p, false)
            .await
            .unwrap_or_else(|e| panic!("{context}: the rerun cannot plan: {e:#}"));
        assert!(rest.len() <= plan.len(), "{context}: {rest}");
        let report = apply(&rest, &[w.clients()]).await;
        assert!(report.failed.is_none(), "{context}: {report:?}");
        let done = w.plan(&p, false).await.unwrap();
        assert!(done.is_empty(), "{context}: still pending:\n{done}");
        foreign_untouched(&w, &context);
        assert_eq!(snapshot(&w).await, converged, "{context}");
    }
    eprintln!(
        "interrupted after each of {} writes: {writes:?}",
        writes.len()
    );
}
