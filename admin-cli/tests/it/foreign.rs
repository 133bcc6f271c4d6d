//! Nothing pumpguard does not own is deleted or overwritten, all at once, by
//! a whole `plan` / `apply` on one account: a foreign web ACL with its own
//! rules already on the pool, foreign triggers in a slot pumpguard wires
//! (CustomMessage) and in one it does not (PreSignUp), and foreign End User
//! Messaging protect configurations, one of them the account default.
//!
//! Without `--replace-triggers` the plan is refused and nothing is written.
//! With it, apply converges, and afterwards: the pool keeps the foreign ACL,
//! whose own rules, default action, description and tags are as they were
//! (pumpguard's rules are added beside them); PreSignUp still holds the
//! foreign trigger; the foreign protect configurations keep their rules,
//! overrides and tags and no write names them (only the account default
//! moves to pumpguard's, with a warning, as documented). The per-resource
//! details are in `waf.rs`, `pool.rs` and `protect.rs`. moto serves the
//! pool, web ACL, table and SNS (`PUMPGUARD_TEST_MOTO`, required).

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use aws_sdk_cognitoidentityprovider::types::{LambdaConfigType, VerifiedAttributeType};
use aws_sdk_wafv2::types::{AllowAction, DefaultAction, Rule, Scope, Tag};
use common::eum::{Call, Config};
use common::moto::{geo_rule, sms_configuration, visibility};
use common::world::World;
use pumpguard_cli::account::apply;

/// A region of its own on the shared moto server.
const REGION: &str = "eu-north-1";

fn foreign_configs() -> Vec<Config> {
    let mut theirs = Config::foreign("protect-theirs", true);
    theirs
        .overrides
        .insert("+15550000000".into(), ("ALLOW".into(), None));
    theirs.rules.insert("GB".into(), "BLOCK".into());
    let other = Config::foreign("protect-other", false);
    vec![theirs, other]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_whole_apply_keeps_everything_it_does_not_own() {
    let w = World::new(REGION, "foreign", foreign_configs()).await;
    let waf = aws_sdk_wafv2::Client::new(&w.sdk);
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&w.sdk);

    // The app team's web ACL, on the pool.
    let acl_name = format!("app-team-{}", w.pool_id.replace('_', "-"));
    let summary = waf
        .create_web_acl()
        .name(&acl_name)
        .scope(Scope::Regional)
        .description("the app team's ACL")
        .default_action(
            DefaultAction::builder()
                .allow(AllowAction::builder().build())
                .build(),
        )
        .visibility_config(visibility("appteam"))
        .rules(geo_rule("office-allow", 0, "NZ", false))
        .rules(geo_rule("block-kp", 1, "KP", true))
        .tags(Tag::builder().key("team").value("app").build().unwrap())
        .send()
        .await
        .unwrap()
        .summary
        .unwrap();
    let acl_arn = summary.arn.unwrap();
    waf.associate_web_acl()
        .web_acl_arn(&acl_arn)
        .resource_arn(&w.pool_arn)
        .send()
        .await
        .unwrap();
    let before = waf
        .get_web_acl_for_resource()
        .resource_arn(&w.pool_arn)
        .send()
        .await
        .unwrap()
        .web_acl
        .unwrap();

    // The app team's triggers: CustomMessage (pumpguard's slot) and PreSignUp.
    let presignup = format!("arn:aws:lambda:{REGION}:123456789012:function:app-pre-sign-up");
    let custom = format!("arn:aws:lambda:{REGION}:123456789012:function:app-custom-message");
    cognito
        .update_user_pool()
        .user_pool_id(&w.pool_id)
        .auto_verified_attributes(VerifiedAttributeType::PhoneNumber)
        .sms_configuration(sms_configuration())
        .lambda_config(
            LambdaConfigType::builder()
                .pre_sign_up(&presignup)
                .custom_message(&custom)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let p = w.policy();
    w.fail_write(None);
    let refused = w.plan(&p, false).await.unwrap_err();
    let msg = format!("{refused:#}");
    assert!(
        msg.contains("--replace-triggers") && msg.contains(&custom),
        "{msg}"
    );
    assert!(w.writes().is_empty(), "{:?}", w.writes());

    let plan = w.plan(&p, true).await.unwrap();
    let warnings = plan.regions[0].warnings.join("\n");
    assert!(warnings.contains("protect-theirs"), "{warnings}");
    let report = apply(&plan, &[w.clients()]).await;
    assert!(report.failed.is_none(), "{report:?}");
    let again = w.plan(&p, true).await.unwrap();
    assert!(again.is_empty(), "{again}");
    assert!(
        w.plan(&p, false).await.unwrap().is_empty(),
        "ours now: no refusal"
    );

    // The web ACL: the same one, their rules and settings as they were.
    let after = waf
        .get_web_acl_for_resource()
        .resource_arn(&w.pool_arn)
        .send()
        .await
        .unwrap()
        .web_acl
        .unwrap();
    assert_eq!(after.arn, before.arn, "the pool keeps the app team's ACL");
    assert_eq!(after.default_action, before.default_action);
    assert_eq!(after.description, before.description);
    assert_eq!(after.visibility_config, before.visibility_config);
    let theirs = |a: &aws_sdk_wafv2::types::WebAcl| -> Vec<Rule> {
        a.rules()
            .iter()
            .filter(|r| !r.name.starts_with("pumpguard-"))
            .cloned()
            .collect()
    };
    assert_eq!(theirs(&before).len(), 2);
    assert_eq!(theirs(&after), theirs(&before), "their rules are untouched");
    assert!(after
        .rules()
        .iter()
        .any(|r| r.name == "pumpguard-rate-sign-up"));
    let tags = waf
        .list_tags_for_resource()
        .resource_arn(&acl_arn)
        .send()
        .await
        .unwrap()
        .tag_info_for_resource
        .unwrap()
        .tag_list
        .unwrap_or_default();
    assert_eq!(tags.len(), 1, "{tags:?}");
    assert_eq!(
        (tags[0].key.as_str(), tags[0].value.as_str()),
        ("team", "app")
    );
    let acls = waf
        .list_web_acls()
        .scope(Scope::Regional)
        .send()
        .await
        .unwrap()
        .web_acls
        .unwrap_or_default();
    let for_this_pool: Vec<&str> = acls
        .iter()
        .filter_map(|a| a.name.as_deref())
        .filter(|n| n.contains(&w.pool_id) || n.contains(&w.pool_id.replace('_', "-")))
        .collect();
    assert_eq!(
        for_this_pool,
        [acl_name.as_str()],
        "no ACL of pumpguard's own was made beside theirs"
    );

    // The pool: PreSignUp kept, the three slots ours, other settings kept.
    let pool = cognito
        .describe_user_pool()
        .user_pool_id(&w.pool_id)
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap();
    let lc = pool.lambda_config.clone().unwrap();
    assert_eq!(lc.pre_sign_up.as_deref(), Some(presignup.as_str()));
    assert_eq!(lc.custom_message.as_deref(), Some(w.trigger.as_str()));
    assert_eq!(lc.post_confirmation.as_deref(), Some(w.trigger.as_str()));
    assert_eq!(lc.post_authentication.as_deref(), Some(w.trigger.as_str()));
    assert_eq!(
        pool.auto_verified_attributes(),
        [VerifiedAttributeType::PhoneNumber]
    );

    // End User Messaging: theirs as they were, never written to.
    let st = w.protect.state.lock().unwrap();
    for want in foreign_configs() {
        let got = st.configs.iter().find(|c| c.id == want.id).unwrap();
        assert_eq!(
            (&got.rules, &got.overrides, &got.tags),
            (&want.rules, &want.overrides, &want.tags),
            "{}",
            want.id
        );
    }
    assert_eq!(
        st.configs.len(),
        3,
        "one configuration of pumpguard's added"
    );
    for call in &st.writes {
        if let Call::Rules { id, .. }
        | Call::Put { id, .. }
        | Call::Delete { id, .. }
        | Call::SetDefault { id } = call
        {
            assert!(id.starts_with("protect-new"), "a write to {id}: {call:?}");
        }
    }
}
