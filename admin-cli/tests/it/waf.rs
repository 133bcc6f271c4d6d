//! The web ACL module (`converge::waf`) against moto in server mode with the
//! real SDK: a fresh pool gets pumpguard's ACL and association and then
//! plans nothing; a limit change is one field of one update; someone else's
//! ACL keeps every rule of its own while pumpguard's are added; a disabled
//! `[waf]` plans nothing; and `read` only ever makes Get/List/Describe calls,
//! recorded from the `x-amz-target` header of every request.

#![allow(clippy::panic, clippy::unwrap_used)]

use crate::common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_sdk_wafv2::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_wafv2::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_wafv2::error::BoxError;
use aws_sdk_wafv2::types::{
    AllowAction, BlockAction, ByteMatchStatement, DefaultAction, FieldToMatch,
    PositionalConstraint, Rule, RuleAction, Scope, SingleHeader, Statement, Tag,
    TextTransformation, TextTransformationType,
};
use aws_smithy_types::body::SdkBody;
use aws_smithy_types::Blob;
use pumpguard_cli::converge::waf::{self, Observed, ObservedAcl};
use pumpguard_cli::converge::{Clients, Desired, OWNER_TAG};
use pumpguard_cli::plan::{Action, Change, Plan, RegionPlan, Write};
use pumpguard_engine::Policy;
use pumpguard_waf::RuleDef;

use common::moto::{geo_rule, visibility, Recorder};

/// When armed, replaces the `LockToken` of the next `UpdateWebACL` request
/// with one WAF never issued, as if someone else had updated the ACL between
/// pumpguard's `GetWebACL` and its `UpdateWebACL`. moto then really answers
/// `WAFOptimisticLockException`, and `apply` has to re-read and retry.
#[derive(Debug, Clone, Default)]
struct StaleLockToken(Arc<AtomicBool>);

impl Intercept for StaleLockToken {
    fn name(&self) -> &'static str {
        "StaleLockToken"
    }

    fn modify_before_signing(
        &self,
        ctx: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = ctx.request_mut();
        if req.headers().get("x-amz-target") != Some("AWSWAF_20190729.UpdateWebACL")
            || !self.0.swap(false, Ordering::SeqCst)
        {
            return Ok(());
        }
        let mut body: serde_json::Value =
            serde_json::from_slice(req.body().bytes().unwrap()).unwrap();
        body["LockToken"] = "00000000-0000-4000-8000-000000000000".into();
        let bytes = serde_json::to_vec(&body).unwrap();
        req.headers_mut()
            .insert("content-length", bytes.len().to_string());
        *req.body_mut() = SdkBody::from(bytes);
        Ok(())
    }
}

struct Env {
    clients: Clients,
    ops: Recorder,
    stale: StaleLockToken,
}

async fn env() -> Env {
    let sdk = common::moto::sdk("us-east-1").await;
    let ops = Recorder::default();
    let stale = StaleLockToken::default();
    let mut clients = Clients::new(&sdk);
    clients.waf = aws_sdk_wafv2::Client::from_conf(
        aws_sdk_wafv2::config::Builder::from(&sdk)
            .interceptor(ops.clone())
            .interceptor(stale.clone())
            .build(),
    );
    clients.cognito = aws_sdk_cognitoidentityprovider::Client::from_conf(
        aws_sdk_cognitoidentityprovider::config::Builder::from(&sdk)
            .interceptor(ops.clone())
            .build(),
    );
    Env {
        clients,
        ops,
        stale,
    }
}

/// A fresh user pool: (id, ARN).
async fn fresh_pool(c: &Clients, label: &str) -> (String, String) {
    let out = c
        .cognito
        .create_user_pool()
        .pool_name(format!("waf-{label}-{}", std::process::id()))
        .send()
        .await
        .unwrap();
    let pool = out.user_pool.unwrap();
    (pool.id.unwrap(), pool.arn.unwrap())
}

fn policy_text(pool_id: &str, waf: &str) -> String {
    format!(
        "version = 1\n\
         [countries]\n\
         allow = [\"US\", \"CA\"]\n\
         crown-dependencies = \"separate\"\n\
         [waf]\n\
         {waf}\n\
         [user-pool]\n\
         id = \"{pool_id}\"\n\
         trigger-arn = \"arn:aws:lambda:us-east-1:123456789012:function:pumpguard-trigger\"\n\
         table = \"pumpguard-t1\"\n"
    )
}

fn parse(text: &str) -> Policy {
    Policy::parse(text, "test").unwrap_or_else(|e| panic!("test policy: {e}"))
}

fn desired<'a>(policy: &'a Policy, text: &'a str) -> Desired<'a> {
    Desired {
        policy,
        text,
        origin: "test",
        pool: policy.user_pool.as_ref().unwrap(),
        replace_triggers: false,
        grant_invoke: false,
        now: 1_700_000_000,
    }
}

/// Reads and plans, asserting that reading made read calls only.
async fn read_and_plan(e: &Env, d: &Desired<'_>) -> (Observed, Vec<Change>, Vec<String>) {
    e.ops.take();
    let o = waf::read(&e.clients, d).await.unwrap();
    let ops = e.ops.take_operations();
    assert!(!ops.is_empty());
    for op in &ops {
        assert!(
            ["Get", "List", "Describe"]
                .iter()
                .any(|p| op.starts_with(p)),
            "read made the call {op} (all: {ops:?})"
        );
    }
    let (changes, warnings) = waf::plan(d, &o);
    (o, changes, warnings)
}

/// Applies the changes in `order`, returning the operations called.
async fn apply(e: &Env, mut changes: Vec<Change>) -> Vec<String> {
    changes.sort_by_key(|c| c.order);
    e.ops.take();
    for c in &changes {
        for w in &c.writes {
            match w {
                Write::Waf(w) => waf::apply(&e.clients, w).await.unwrap(),
                other => panic!("the WAF planner planned a foreign write: {other:?}"),
            }
        }
    }
    e.ops.take_operations()
}

fn render(changes: &[Change], warnings: &[String]) -> String {
    Plan {
        regions: vec![RegionPlan {
            region: "us-east-1".into(),
            changes: changes.to_vec(),
            warnings: warnings.to_vec(),
            in_force: vec![],
            broken: vec![],
        }],
    }
    .to_string()
}

async fn acl_of(c: &Clients, pool_arn: &str) -> aws_sdk_wafv2::types::WebAcl {
    c.waf
        .get_web_acl_for_resource()
        .resource_arn(pool_arn)
        .send()
        .await
        .unwrap()
        .web_acl
        .expect("a web ACL is associated with the pool")
}

/// The rules of `acl` named `prefix*`, converted back, sorted by priority.
fn ours(acl: &aws_sdk_wafv2::types::WebAcl, prefix: &str) -> Vec<RuleDef> {
    let mut out: Vec<RuleDef> = acl
        .rules()
        .iter()
        .filter(|r| r.name.starts_with(prefix))
        .map(|r| waf::from_sdk_rule(r).unwrap_or_else(|| panic!("{} converts back", r.name)))
        .collect();
    out.sort_by_key(|r| r.priority);
    out
}

fn redact_pool(s: &str, pool_id: &str) -> String {
    s.replace(pool_id, "us-east-1_POOL")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fresh_pool_gets_pumpguards_acl_then_converges() {
    let e = env().await;
    let (pool_id, pool_arn) = fresh_pool(&e.clients, "fresh").await;
    let text = policy_text(&pool_id, "");
    let policy = parse(&text);
    let d = desired(&policy, &text);

    let (o, changes, warnings) = read_and_plan(&e, &d).await;
    assert_eq!(o.pool_arn, pool_arn);
    assert_eq!(o.associated, None);
    assert!(warnings.is_empty(), "{warnings:?}");
    let kinds: Vec<_> = changes
        .iter()
        .map(|c| (c.resource.as_str(), c.action, c.order))
        .collect();
    assert_eq!(
        kinds,
        [
            ("web-acl", Action::Create, 30),
            ("web-acl-association", Action::Create, 31)
        ]
    );
    insta::assert_snapshot!(
        "waf_create_plan",
        redact_pool(&render(&changes, &warnings), &pool_id)
    );

    let calls = apply(&e, changes).await;
    assert!(calls.contains(&"CreateWebACL".to_string()), "{calls:?}");
    assert!(calls.contains(&"AssociateWebACL".to_string()), "{calls:?}");

    let acl = acl_of(&e.clients, &pool_arn).await;
    assert_eq!(acl.name, waf::acl_name("pumpguard-", &pool_id));
    assert!(acl.default_action.as_ref().unwrap().allow.is_some());
    assert_eq!(ours(&acl, "pumpguard-"), pumpguard_waf::rules(&policy.waf));
    let tags = e
        .clients
        .waf
        .list_tags_for_resource()
        .resource_arn(&acl.arn)
        .send()
        .await
        .unwrap()
        .tag_info_for_resource
        .unwrap()
        .tag_list
        .unwrap_or_default();
    assert!(tags.iter().any(|t| t.key == OWNER_TAG && t.value == "true"));

    // Converged: nothing to do, and reading wrote nothing.
    let (o, changes, warnings) = read_and_plan(&e, &d).await;
    assert!(o.associated.as_ref().unwrap().owned);
    assert!(changes.is_empty(), "{}", render(&changes, &warnings));
    assert!(warnings.is_empty(), "{warnings:?}");
    assert_eq!(apply(&e, changes).await, Vec::<String>::new());

    // A limit change is one field of one update.
    let text = policy_text(&pool_id, "limits = { SignUp = 20 }");
    let policy = parse(&text);
    let d = desired(&policy, &text);
    let (_, changes, warnings) = read_and_plan(&e, &d).await;
    assert_eq!(changes.len(), 1, "{}", render(&changes, &warnings));
    let c = &changes[0];
    assert_eq!(
        (c.resource.as_str(), c.name.as_str(), c.action, c.order),
        ("web-acl", acl.name.as_str(), Action::Update, 30)
    );
    assert_eq!(c.fields.len(), 1);
    assert_eq!(c.fields[0].field, "pumpguard-rate-sign-up limit");
    assert_eq!(c.fields[0].from.as_deref(), Some("100"));
    assert_eq!(c.fields[0].to.as_deref(), Some("20"));
    insta::assert_snapshot!(
        "waf_limit_plan",
        redact_pool(&render(&changes, &warnings), &pool_id)
    );
    let calls = apply(&e, changes).await;
    assert_eq!(calls, ["GetWebACL", "UpdateWebACL"]);
    let acl = acl_of(&e.clients, &pool_arn).await;
    assert_eq!(ours(&acl, "pumpguard-"), pumpguard_waf::rules(&policy.waf));
    let (_, changes, warnings) = read_and_plan(&e, &d).await;
    assert!(changes.is_empty(), "{}", render(&changes, &warnings));

    // Disabled: nothing planned, and a warning that the ACL is still there.
    let text = policy_text(&pool_id, "enabled = false");
    let policy = parse(&text);
    let d = desired(&policy, &text);
    let (_, changes, warnings) = read_and_plan(&e, &d).await;
    assert!(changes.is_empty(), "{}", render(&changes, &warnings));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("enabled = false"), "{warnings:?}");
    assert!(warnings[0].contains(&acl.name), "{warnings:?}");
}

/// Someone else's rules: an allow-list that runs first, a user-agent block,
/// and a stale rule in pumpguard's namespace.
fn foreign_rules() -> Vec<Rule> {
    let office = geo_rule("office-allow", 5, "NZ", false);
    let bots = Rule::builder()
        .name("block-bad-bots")
        .priority(20)
        .action(
            RuleAction::builder()
                .block(BlockAction::builder().build())
                .build(),
        )
        .statement(
            Statement::builder()
                .byte_match_statement(
                    ByteMatchStatement::builder()
                        .search_string(Blob::new("badbot"))
                        .field_to_match(
                            FieldToMatch::builder()
                                .single_header(
                                    SingleHeader::builder().name("user-agent").build().unwrap(),
                                )
                                .build(),
                        )
                        .text_transformations(
                            TextTransformation::builder()
                                .priority(0)
                                .r#type(TextTransformationType::Lowercase)
                                .build()
                                .unwrap(),
                        )
                        .positional_constraint(PositionalConstraint::Contains)
                        .build()
                        .unwrap(),
                )
                .build(),
        )
        .visibility_config(visibility("badbots"))
        .build()
        .unwrap();
    let stale = geo_rule("pumpguard-old-rule", 1, "KP", true);
    vec![office, bots, stale]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_foreign_acl_keeps_its_own_rules() {
    let e = env().await;
    let (pool_id, pool_arn) = fresh_pool(&e.clients, "foreign").await;
    let foreign_name = format!("someone-elses-{}", pool_id.replace('_', "-"));
    let created = e
        .clients
        .waf
        .create_web_acl()
        .name(&foreign_name)
        .scope(Scope::Regional)
        .description("the app team's ACL")
        .default_action(
            DefaultAction::builder()
                .allow(AllowAction::builder().build())
                .build(),
        )
        .visibility_config(visibility("someoneelses"))
        .set_rules(Some(foreign_rules()))
        .tags(Tag::builder().key("team").value("app").build().unwrap())
        .send()
        .await
        .unwrap()
        .summary
        .unwrap();
    let foreign_arn = created.arn.unwrap();
    e.clients
        .waf
        .associate_web_acl()
        .web_acl_arn(&foreign_arn)
        .resource_arn(&pool_arn)
        .send()
        .await
        .unwrap();
    let before = acl_of(&e.clients, &pool_arn).await;
    let theirs_before: Vec<Rule> = before
        .rules()
        .iter()
        .filter(|r| !r.name.starts_with("pumpguard-"))
        .cloned()
        .collect();
    assert_eq!(theirs_before.len(), 2);

    let text = policy_text(&pool_id, "geo-block = [\"KP\", \"IR\"]");
    let policy = parse(&text);
    let d = desired(&policy, &text);
    let (o, changes, warnings) = read_and_plan(&e, &d).await;
    assert!(!o.associated.as_ref().unwrap().owned);
    assert_eq!(changes.len(), 1, "{}", render(&changes, &warnings));
    let c = &changes[0];
    assert_eq!(
        (c.resource.as_str(), c.name.as_str(), c.action, c.order),
        ("web-acl", foreign_name.as_str(), Action::Update, 30)
    );
    assert!(
        c.fields.iter().all(|f| f.field.starts_with("pumpguard-")),
        "only pumpguard's rules change: {:?}",
        c.fields
    );
    assert!(c
        .fields
        .iter()
        .any(|f| f.field == "pumpguard-old-rule" && f.to.is_none()));
    assert!(
        warnings.iter().any(|w| w.contains("is not pumpguard's")),
        "{warnings:?}"
    );
    assert!(
        warnings.iter().any(|w| w.contains("office-allow")),
        "{warnings:?}"
    );

    // Someone else updates the ACL between pumpguard's read and its write:
    // apply re-reads and retries with the fresh lock token.
    e.stale.0.store(true, Ordering::SeqCst);
    let calls = apply(&e, changes).await;
    assert_eq!(
        calls,
        ["GetWebACL", "UpdateWebACL", "GetWebACL", "UpdateWebACL"]
    );

    let after = acl_of(&e.clients, &pool_arn).await;
    assert_eq!(after.arn, foreign_arn, "the pool keeps its ACL");
    assert_eq!(after.default_action, before.default_action);
    assert_eq!(after.description, before.description);
    assert_eq!(after.visibility_config, before.visibility_config);
    let theirs_after: Vec<Rule> = after
        .rules()
        .iter()
        .filter(|r| !r.name.starts_with("pumpguard-"))
        .cloned()
        .collect();
    assert_eq!(theirs_after, theirs_before, "their rules are untouched");
    // Ours come after theirs (highest: 20), in the template's order.
    let want: Vec<RuleDef> = pumpguard_waf::rules(&policy.waf)
        .into_iter()
        .map(|r| RuleDef {
            priority: 21 + r.priority,
            ..r
        })
        .collect();
    assert_eq!(ours(&after, "pumpguard-"), want);
    let tags = e
        .clients
        .waf
        .list_tags_for_resource()
        .resource_arn(&foreign_arn)
        .send()
        .await
        .unwrap()
        .tag_info_for_resource
        .unwrap()
        .tag_list
        .unwrap_or_default();
    assert!(!tags.iter().any(|t| t.key == OWNER_TAG), "{tags:?}");

    let (_, changes, warnings) = read_and_plan(&e, &d).await;
    assert!(changes.is_empty(), "{}", render(&changes, &warnings));
    assert!(warnings.iter().any(|w| w.contains("is not pumpguard's")));

    // Disabled: pumpguard leaves its rules in the foreign ACL and says so.
    let text = policy_text(&pool_id, "enabled = false");
    let policy = parse(&text);
    let d = desired(&policy, &text);
    let (_, changes, warnings) = read_and_plan(&e, &d).await;
    assert!(changes.is_empty());
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].contains("pumpguard-rate-sign-up"),
        "{warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_apply_resumes_and_never_replaces_an_acl() {
    let e = env().await;
    let (pool_id, pool_arn) = fresh_pool(&e.clients, "resume").await;
    let text = policy_text(&pool_id, "");
    let policy = parse(&text);
    let d = desired(&policy, &text);

    // Only the creation is applied (as if apply stopped after it): the next
    // plan finds pumpguard's ACL by name and tag and only associates it.
    let (_, changes, _) = read_and_plan(&e, &d).await;
    apply(&e, changes[..1].to_vec()).await;
    let (o, changes, warnings) = read_and_plan(&e, &d).await;
    assert!(o.named.as_ref().unwrap().owned);
    let kinds: Vec<_> = changes.iter().map(|c| c.resource.as_str()).collect();
    assert_eq!(
        kinds,
        ["web-acl-association"],
        "{}",
        render(&changes, &warnings)
    );

    // Meanwhile someone associates another ACL: the association is refused.
    let other = e
        .clients
        .waf
        .create_web_acl()
        .name(format!("other-{}", pool_id.replace('_', "-")))
        .scope(Scope::Regional)
        .default_action(
            DefaultAction::builder()
                .allow(AllowAction::builder().build())
                .build(),
        )
        .visibility_config(visibility("other"))
        .send()
        .await
        .unwrap()
        .summary
        .unwrap();
    e.clients
        .waf
        .associate_web_acl()
        .web_acl_arn(other.arn.as_deref().unwrap())
        .resource_arn(&pool_arn)
        .send()
        .await
        .unwrap();
    let Write::Waf(w) = &changes[0].writes[0] else {
        panic!("a WAF write")
    };
    let err = waf::apply(&e.clients, w).await.unwrap_err().to_string();
    assert!(err.contains("now uses web ACL other-"), "{err}");
    assert_eq!(acl_of(&e.clients, &pool_arn).await.arn, other.arn.unwrap());

    // And the next plan adds pumpguard's rules to that ACL instead, while
    // pointing at the unused one.
    let (_, changes, warnings) = read_and_plan(&e, &d).await;
    assert_eq!(changes.len(), 1);
    assert_eq!(changes[0].action, Action::Update);
    assert!(
        warnings.iter().any(|w| w.contains("protects nothing")),
        "{warnings:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_on_a_fresh_pool_plans_nothing() {
    let e = env().await;
    let (pool_id, _) = fresh_pool(&e.clients, "disabled").await;
    let text = policy_text(&pool_id, "enabled = false");
    let policy = parse(&text);
    let d = desired(&policy, &text);
    let (_, changes, warnings) = read_and_plan(&e, &d).await;
    assert!(changes.is_empty(), "{}", render(&changes, &warnings));
    assert!(warnings.is_empty(), "{warnings:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_untagged_acl_with_pumpguards_name_is_not_adopted() {
    let e = env().await;
    let (pool_id, _) = fresh_pool(&e.clients, "untagged").await;
    e.clients
        .waf
        .create_web_acl()
        .name(waf::acl_name("pumpguard-", &pool_id))
        .scope(Scope::Regional)
        .default_action(
            DefaultAction::builder()
                .allow(AllowAction::builder().build())
                .build(),
        )
        .visibility_config(visibility("lookalike"))
        .send()
        .await
        .unwrap();
    let text = policy_text(&pool_id, "");
    let policy = parse(&text);
    let d = desired(&policy, &text);
    let (o, changes, warnings) = read_and_plan(&e, &d).await;
    assert!(!o.named.as_ref().unwrap().owned);
    assert!(changes.is_empty(), "{}", render(&changes, &warnings));
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(warnings[0].contains("without the tag"), "{warnings:?}");
}

/// Pure: an ACL whose other rules already use most of the capacity.
#[test]
fn plan_warns_when_the_acl_would_exceed_its_capacity() {
    let text = policy_text("us-east-1_AbCdEf123", "");
    let policy = parse(&text);
    let d = desired(&policy, &text);
    let o = Observed {
        pool_arn: "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_AbCdEf123".into(),
        associated: Some(ObservedAcl {
            name: "big".into(),
            id: "1".into(),
            arn: "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/big/1".into(),
            owned: false,
            capacity: 1_490,
            default_allow: true,
            managed_by_firewall_manager: false,
            rules: vec![Rule::builder().name("theirs").priority(0).build().unwrap()],
        }),
        named: None,
    };
    let (changes, warnings) = waf::plan(&d, &o);
    assert_eq!(changes.len(), 1);
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("WCUs") && w.contains("1500")),
        "{warnings:?}"
    );
    // Ours go after theirs.
    let Write::Waf(waf::WafWrite::UpdateRules { rules, .. }) = &changes[0].writes[0] else {
        panic!("an update: {:?}", changes[0].writes);
    };
    assert_eq!(rules, &pumpguard_waf::rules(&policy.waf));
    assert!(changes[0]
        .fields
        .iter()
        .any(|f| f.field == "pumpguard-rate-sign-up"
            && f.to.as_deref().is_some_and(|t| t.ends_with("priority 11"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_monitored_policy_creates_no_blocking_rule_until_it_enforces() {
    let e = env().await;
    let (pool_id, pool_arn) = fresh_pool(&e.clients, "monitor").await;
    let waf = "ip-reputation = true\nanonymous-ip = true\ngeo-block = [\"KP\"]";
    let monitored = policy_text(&pool_id, waf).replacen(
        "version = 1\n",
        "version = 1\n[trigger]\nmode = \"monitor\"\n",
        1,
    );
    let policy = parse(&monitored);
    let d = desired(&policy, &monitored);
    let (_, changes, _) = read_and_plan(&e, &d).await;
    apply(&e, changes).await;

    let acl = acl_of(&e.clients, &pool_arn).await;
    let rules: Vec<_> = acl
        .rules()
        .iter()
        .filter(|r| r.name.starts_with("pumpguard-"))
        .collect();
    assert!(rules.len() >= 3 + 5, "{rules:?}");
    for r in &rules {
        assert!(
            r.action.as_ref().is_none_or(|a| a.block.is_none()),
            "{} blocks: {:?}",
            r.name,
            r.action
        );
        let counts = r.action.as_ref().is_some_and(|a| a.count.is_some())
            || r.override_action
                .as_ref()
                .is_some_and(|a| a.count.is_some());
        assert!(counts, "{} does not count: {r:?}", r.name);
    }
    // Converged while monitoring.
    let (_, changes, _) = read_and_plan(&e, &d).await;
    assert!(changes.is_empty(), "{changes:?}");

    // Enforcing puts Block back on every rule (a managed group's own actions).
    let enforced = policy_text(&pool_id, waf);
    let policy = parse(&enforced);
    let d = desired(&policy, &enforced);
    let (_, changes, _) = read_and_plan(&e, &d).await;
    assert_eq!(changes.len(), 1, "{changes:?}");
    apply(&e, changes).await;
    let acl = acl_of(&e.clients, &pool_arn).await;
    for r in acl
        .rules()
        .iter()
        .filter(|r| r.name.starts_with("pumpguard-"))
    {
        let def = waf::from_sdk_rule(r).expect("pumpguard's");
        assert!(!def.count, "{} still counts", r.name);
    }
}
