//! The WAF web ACL in front of the user pool: per-IP rate limits on the
//! SMS-triggering Cognito operations, optional AWS managed IP lists and a
//! geo block, all defined once in `pumpguard_waf::rules`. Cognito's trigger
//! never sees a client IP, so these per-IP limits can only live here.
//!
//! pumpguard owns the rules whose names start with `[waf] name-prefix` and
//! nothing else. With no web ACL on the pool it creates its own (named
//! [`acl_name`], tagged [`OWNER_TAG`]`=true`) and associates it; with its own
//! ACL associated it updates the rules that differ; with someone else's ACL
//! associated it adds, updates and removes only its prefixed rules and keeps
//! every other rule, priority and setting exactly as it is. It never deletes
//! a web ACL or an association.
//!
//! Priorities: pumpguard's rules go after every rule it does not own. With
//! `kept` the rules not starting with the prefix, each of pumpguard's rules
//! gets `base + RuleDef::priority`, where `base` is 0 when nothing is kept
//! and `max(kept priorities) + 1` otherwise ([`place`]). Kept rules never
//! move, ours never collide with them, and in pumpguard's own ACL the
//! priorities are exactly those of the CloudFormation template. A kept rule
//! that allows a request therefore ends evaluation before pumpguard's rules
//! see it; `plan` warns about such rules.

use std::collections::BTreeMap;
use std::time::Duration;

use aws_sdk_wafv2::error::{BuildError, DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_wafv2::types::{
    AllowAction, BlockAction, ByteMatchStatement, CountAction, CountryCode, DefaultAction,
    FieldToMatch, GeoMatchStatement, ManagedRuleGroupStatement, NoneAction, OverrideAction,
    PositionalConstraint, RateBasedStatement, RateBasedStatementAggregateKeyType, Rule, RuleAction,
    Scope, SingleHeader, Statement, Tag, TextTransformation, TextTransformationType,
    VisibilityConfig, WebAcl,
};
use aws_smithy_types::Blob;
use pumpguard_waf::{capacity, metric_name, RuleDef, RuleKind, TARGET_HEADER, TARGET_PREFIX};

use crate::converge::{Clients, Desired, OWNER_TAG};
use crate::plan::{countries_summary, Action, Change, FieldChange, Write};

/// Web ACL capacity units a web ACL includes; WAF charges for more.
pub const INCLUDED_WCU: i64 = 1_500;

/// How many times `apply` re-reads and retries an update that lost a race
/// (`WAFOptimisticLockException`).
pub const UPDATE_ATTEMPTS: u32 = 5;

/// How many times `apply` tries to associate a web ACL WAF has not finished
/// propagating (`WAFUnavailableEntityException`); waits 1, 2, 3, 4, 5, 5…
/// seconds in between, about 35 s in all.
pub const ASSOCIATE_ATTEMPTS: u32 = 10;

/// The write calls of one change.
#[derive(Debug, Clone, PartialEq)]
pub enum WafWrite {
    /// `CreateWebACL`: pumpguard's own web ACL (REGIONAL, default action
    /// Allow, these rules, tagged [`OWNER_TAG`]`=true`).
    Create {
        name: String,
        description: String,
        rules: Vec<RuleDef>,
    },
    /// `GetWebACL`, then `UpdateWebACL` with the fresh lock token: the rules
    /// named `prefix*` become `rules` (placed with [`place`] against the rules
    /// found then), everything else is sent back unchanged. Retries
    /// [`UPDATE_ATTEMPTS`] times on `WAFOptimisticLockException`.
    UpdateRules {
        name: String,
        id: String,
        prefix: String,
        rules: Vec<RuleDef>,
    },
    /// `AssociateWebACL`: pumpguard's own web ACL `web_acl_name` (looked up
    /// by name and tag at apply time, since it may have just been created)
    /// with the pool, unless the pool has meanwhile got a web ACL.
    Associate {
        web_acl_name: String,
        pool_arn: String,
    },
}

/// One web ACL as the read calls found it.
#[derive(Debug, Clone, PartialEq)]
pub struct ObservedAcl {
    pub name: String,
    pub id: String,
    pub arn: String,
    /// Named [`acl_name`] and tagged [`OWNER_TAG`]`=true`.
    pub owned: bool,
    /// WCUs the whole ACL uses now, as WAF reports it.
    pub capacity: i64,
    pub default_allow: bool,
    pub managed_by_firewall_manager: bool,
    /// Every rule, as WAF returned it. For an ACL pumpguard found by name
    /// only and does not own, nothing is read: no rules, capacity 0, and
    /// `default_allow` false (pumpguard never uses them).
    pub rules: Vec<Rule>,
}

/// What the read calls found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    pub pool_arn: String,
    /// The web ACL associated with the pool.
    pub associated: Option<ObservedAcl>,
    /// The web ACL named [`acl_name`] when it is not the associated one.
    pub named: Option<ObservedAcl>,
}

/// The name of pumpguard's own web ACL for a pool: the prefix and the pool
/// id, reduced to what WAF accepts (`[A-Za-z0-9_-]`, 1 to 128 characters).
pub fn acl_name(prefix: &str, pool_id: &str) -> String {
    format!("{prefix}{pool_id}")
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '-'
            }
        })
        .take(128)
        .collect()
}

/// Gives pumpguard's rules priorities after every rule in `kept` (see the
/// module documentation).
pub fn place(defs: &[RuleDef], kept: &[Rule]) -> Vec<RuleDef> {
    let base = kept
        .iter()
        .map(|r| r.priority)
        .max()
        .map_or(0, |m| m.saturating_add(1));
    defs.iter()
        .map(|d| RuleDef {
            priority: base.saturating_add(d.priority),
            ..d.clone()
        })
        .collect()
}

/// The SDK rule for a rule definition, field for field what
/// [`RuleDef::to_cloudformation`] writes.
pub fn to_sdk_rule(def: &RuleDef) -> Result<Rule, BuildError> {
    let visibility = VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name(metric_name(&def.name))
        .build()?;
    let action = || {
        if def.count {
            RuleAction::builder()
                .count(CountAction::builder().build())
                .build()
        } else {
            RuleAction::builder()
                .block(BlockAction::builder().build())
                .build()
        }
    };
    let rule = Rule::builder()
        .name(&def.name)
        .priority(def.priority)
        .visibility_config(visibility);
    let rule = match &def.kind {
        RuleKind::Rate {
            operation,
            limit,
            window_seconds,
        } => {
            let byte_match = ByteMatchStatement::builder()
                .search_string(Blob::new(format!("{TARGET_PREFIX}{operation}")))
                .field_to_match(
                    FieldToMatch::builder()
                        .single_header(SingleHeader::builder().name(TARGET_HEADER).build()?)
                        .build(),
                )
                .text_transformations(
                    TextTransformation::builder()
                        .priority(0)
                        .r#type(TextTransformationType::None)
                        .build()?,
                )
                .positional_constraint(PositionalConstraint::Exactly)
                .build()?;
            let rate = RateBasedStatement::builder()
                .limit(i64::from(*limit))
                .evaluation_window_sec(i64::from(*window_seconds))
                .aggregate_key_type(RateBasedStatementAggregateKeyType::Ip)
                .scope_down_statement(
                    Statement::builder()
                        .byte_match_statement(byte_match)
                        .build(),
                )
                .build()?;
            rule.action(action())
                .statement(Statement::builder().rate_based_statement(rate).build())
        }
        RuleKind::Managed { name } => rule
            .override_action(if def.count {
                OverrideAction::builder()
                    .count(CountAction::builder().build())
                    .build()
            } else {
                OverrideAction::builder()
                    .none(NoneAction::builder().build())
                    .build()
            })
            .statement(
                Statement::builder()
                    .managed_rule_group_statement(
                        ManagedRuleGroupStatement::builder()
                            .vendor_name("AWS")
                            .name(name)
                            .build()?,
                    )
                    .build(),
            ),
        RuleKind::Geo { countries } => {
            let geo = countries
                .iter()
                .fold(GeoMatchStatement::builder(), |b, c| {
                    b.country_codes(CountryCode::from(c.as_str()))
                })
                .build();
            rule.action(action())
                .statement(Statement::builder().geo_match_statement(geo).build())
        }
    };
    rule.build()
}

/// The rule definition an SDK rule is, if it is exactly what [`to_sdk_rule`]
/// writes (statement, action, override action; empty lists count as absent;
/// the visibility settings are not compared), in either mode: Block (a
/// managed group's override None) or Count. Anything else, e.g. a pinned
/// managed-group version or a custom response, is `None`.
pub fn from_sdk_rule(rule: &Rule) -> Option<RuleDef> {
    let rule = normalized(rule);
    if rule.rule_labels.is_some()
        || rule.captcha_config.is_some()
        || rule.challenge_config.is_some()
    {
        return None;
    }
    let st = rule.statement.as_ref()?;
    let kind = if let Some(rate) = &st.rate_based_statement {
        let scope = rate.scope_down_statement.as_deref()?;
        let search = scope.byte_match_statement.as_ref()?.search_string.as_ref();
        let operation = std::str::from_utf8(search)
            .ok()?
            .strip_prefix(TARGET_PREFIX)?;
        RuleKind::Rate {
            operation: operation.to_string(),
            limit: u32::try_from(rate.limit).ok()?,
            window_seconds: u32::try_from(rate.evaluation_window_sec).ok()?,
        }
    } else if let Some(group) = &st.managed_rule_group_statement {
        RuleKind::Managed {
            name: group.name.clone(),
        }
    } else if let Some(geo) = &st.geo_match_statement {
        RuleKind::Geo {
            countries: geo
                .country_codes()
                .iter()
                .map(|c| c.as_str().to_string())
                .collect(),
        }
    } else {
        return None;
    };
    let count = rule.action.as_ref().is_some_and(|a| a.count.is_some())
        || rule
            .override_action
            .as_ref()
            .is_some_and(|a| a.count.is_some());
    let def = RuleDef {
        name: rule.name.clone(),
        priority: rule.priority,
        kind,
        count,
    };
    let want = to_sdk_rule(&def).ok()?;
    (want.statement == rule.statement
        && want.action == rule.action
        && want.override_action == rule.override_action)
        .then_some(def)
}

/// `rule` with empty optional lists replaced by `None`, so a rule read back
/// compares equal to the one written whichever way WAF renders "none".
fn normalized(rule: &Rule) -> Rule {
    fn none_if_empty<T>(v: &mut Option<Vec<T>>) {
        if v.as_ref().is_some_and(Vec::is_empty) {
            *v = None;
        }
    }
    let mut r = rule.clone();
    none_if_empty(&mut r.rule_labels);
    if let Some(st) = r.statement.as_mut() {
        if let Some(rate) = st.rate_based_statement.as_mut() {
            none_if_empty(&mut rate.custom_keys);
            if let Some(bm) = rate
                .scope_down_statement
                .as_deref_mut()
                .and_then(|s| s.byte_match_statement.as_mut())
            {
                none_if_empty(&mut bm.pre_parse_text_transformations);
            }
        }
        if let Some(group) = st.managed_rule_group_statement.as_mut() {
            none_if_empty(&mut group.excluded_rules);
            none_if_empty(&mut group.managed_rule_group_configs);
            none_if_empty(&mut group.rule_action_overrides);
        }
    }
    r
}

/// `existing` with the rules named `prefix*` replaced by `defs`, placed
/// after the others; every other rule is kept exactly. Sorted by priority.
pub fn merge(existing: &[Rule], defs: &[RuleDef], prefix: &str) -> Result<Vec<Rule>, BuildError> {
    let kept: Vec<Rule> = existing
        .iter()
        .filter(|r| !r.name.starts_with(prefix))
        .cloned()
        .collect();
    let mut out = kept.clone();
    for def in place(defs, &kept) {
        out.push(to_sdk_rule(&def)?);
    }
    Ok(sorted(out))
}

fn sorted(mut rules: Vec<Rule>) -> Vec<Rule> {
    rules.sort_by(|a, b| (a.priority, &a.name).cmp(&(b.priority, &b.name)));
    rules
}

/// A rule for people, e.g. `block an IP over 20 SignUp requests per 300 s,
/// priority 10`.
pub fn describe_rule(def: &RuleDef) -> String {
    let what = match &def.kind {
        RuleKind::Rate {
            operation,
            limit,
            window_seconds,
        } => format!("block an IP over {limit} {operation} requests per {window_seconds} s"),
        RuleKind::Managed { name } => format!("AWS managed rule group {name}"),
        RuleKind::Geo { countries } => format!(
            "block requests from {}",
            countries_summary(countries.iter().map(String::as_str))
        ),
    };
    if def.count {
        format!("{what}, priority {} (monitor: count only)", def.priority)
    } else {
        format!("{what}, priority {}", def.priority)
    }
}

fn rule_fields(have: &RuleDef, want: &RuleDef) -> Vec<FieldChange> {
    let n = &want.name;
    let field =
        |f: &str, a: String, b: String| FieldChange::new(format!("{n} {f}"), Some(a), Some(b));
    let mut out = Vec::new();
    match (&have.kind, &want.kind) {
        (
            RuleKind::Rate {
                operation: o1,
                limit: l1,
                window_seconds: w1,
            },
            RuleKind::Rate {
                operation: o2,
                limit: l2,
                window_seconds: w2,
            },
        ) => {
            if o1 != o2 {
                out.push(field("operation", o1.clone(), o2.clone()));
            }
            if l1 != l2 {
                out.push(field("limit", l1.to_string(), l2.to_string()));
            }
            if w1 != w2 {
                out.push(field("window-seconds", w1.to_string(), w2.to_string()));
            }
        }
        (RuleKind::Managed { name: a }, RuleKind::Managed { name: b }) => {
            if a != b {
                out.push(field("group", a.clone(), b.clone()));
            }
        }
        (RuleKind::Geo { countries: a }, RuleKind::Geo { countries: b }) => {
            if a != b {
                let s = |c: &[String]| countries_summary(c.iter().map(String::as_str));
                out.push(field("countries", s(a), s(b)));
            }
        }
        _ => {
            return vec![FieldChange::new(
                n.clone(),
                Some(describe_rule(have)),
                Some(describe_rule(want)),
            )]
        }
    }
    if have.priority != want.priority {
        out.push(field(
            "priority",
            have.priority.to_string(),
            want.priority.to_string(),
        ));
    }
    if have.count != want.count {
        let action = |d: &RuleDef| action_word(d).to_string();
        out.push(field("action", action(have), action(want)));
    }
    out
}

/// What a rule does with what it matches: `count` (monitor) or `block`.
fn action_word(def: &RuleDef) -> &'static str {
    if def.count {
        "count"
    } else {
        "block"
    }
}

/// Field changes turning the prefixed rules `ours` into `want`: one per
/// rule added or removed, one per attribute changed.
fn rules_diff(ours: &[&Rule], want: &[RuleDef]) -> Vec<FieldChange> {
    let have: BTreeMap<&str, Option<RuleDef>> = ours
        .iter()
        .map(|r| (r.name.as_str(), from_sdk_rule(r)))
        .collect();
    let mut fields = Vec::new();
    for w in want {
        match have.get(w.name.as_str()) {
            None => fields.push(FieldChange::new(
                w.name.clone(),
                None,
                Some(describe_rule(w)),
            )),
            Some(None) => fields.push(FieldChange::new(
                w.name.clone(),
                Some("(not as pumpguard writes it)".into()),
                Some(describe_rule(w)),
            )),
            Some(Some(h)) if h != w => fields.extend(rule_fields(h, w)),
            Some(Some(_)) => {}
        }
    }
    for (name, h) in &have {
        if !want.iter().any(|w| w.name == *name) {
            let from = h
                .as_ref()
                .map_or_else(|| "(unrecognised rule)".to_string(), describe_rule);
            fields.push(FieldChange::new(*name, Some(from), None));
        }
    }
    fields
}

fn create_description(pool_id: &str) -> String {
    format!("pumpguard: per-IP limits on SMS-sending Cognito calls for user pool {pool_id}")
}

/// The update of `acl` (ours or foreign), if its prefixed rules differ.
fn update_change(
    acl: &ObservedAcl,
    defs: &[RuleDef],
    prefix: &str,
    warnings: &mut Vec<String>,
) -> Option<Change> {
    let (ours, kept): (Vec<&Rule>, Vec<&Rule>) =
        acl.rules.iter().partition(|r| r.name.starts_with(prefix));
    let kept: Vec<Rule> = kept.into_iter().cloned().collect();
    let want = place(defs, &kept);

    // Capacity: what WAF reports for the whole ACL, minus what our current
    // rules are known to use, plus what ours will use. Our rules that do not
    // convert back stay counted (an overestimate, never an underestimate).
    let ours_now: Vec<RuleDef> = ours.iter().filter_map(|r| from_sdk_rule(r)).collect();
    let others = acl
        .capacity
        .saturating_sub(i64::from(capacity(&ours_now)))
        .max(0);
    let total = others.saturating_add(i64::from(capacity(&want)));
    if total > INCLUDED_WCU {
        warnings.push(format!(
            "web ACL {} would use about {total} WCUs (about {others} for rules pumpguard does \
             not own, {} for pumpguard's), over the {INCLUDED_WCU} a web ACL includes: WAF \
             charges for the excess or refuses the update; set [waf] ip-reputation or \
             anonymous-ip to false, or remove rules from the ACL",
            acl.name,
            capacity(&want)
        ));
    }
    for r in &kept {
        if r.action.as_ref().is_some_and(|a| a.allow.is_some()) {
            warnings.push(format!(
                "rule {} (priority {}) in web ACL {} allows the requests it matches before \
                 pumpguard's rules run: those requests skip pumpguard's rate limits",
                r.name, r.priority, acl.name
            ));
        }
    }
    if acl.managed_by_firewall_manager {
        warnings.push(format!(
            "web ACL {} is managed by AWS Firewall Manager, which may undo pumpguard's changes",
            acl.name
        ));
    }

    let fields = rules_diff(&ours, &want);
    if fields.is_empty() {
        return None;
    }
    Some(Change {
        resource: "web-acl".into(),
        name: acl.name.clone(),
        action: Action::Update,
        fields,
        order: 30,
        writes: vec![Write::Waf(WafWrite::UpdateRules {
            name: acl.name.clone(),
            id: acl.id.clone(),
            prefix: prefix.to_string(),
            rules: defs.to_vec(),
        })],
    })
}

fn association_change(pool_id: &str, acl: &str, pool_arn: &str) -> Change {
    Change {
        resource: "web-acl-association".into(),
        name: pool_id.to_string(),
        action: Action::Create,
        fields: vec![FieldChange::new("web-acl", None, Some(acl.to_string()))],
        order: 31,
        writes: vec![Write::Waf(WafWrite::Associate {
            web_acl_name: acl.to_string(),
            pool_arn: pool_arn.to_string(),
        })],
    }
}

fn disabled_warnings(o: &Observed, prefix: &str, pool_id: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(acl) = &o.associated {
        if acl.owned {
            out.push(format!(
                "[waf] enabled = false, but pumpguard's web ACL {} is still associated with \
                 user pool {pool_id} and keeps enforcing its rules; pumpguard never deletes it: \
                 run `aws wafv2 disassociate-web-acl --resource-arn {}` and delete the ACL, or \
                 set [waf] enabled = true",
                acl.name, o.pool_arn
            ));
        } else {
            let ours: Vec<&str> = acl
                .rules
                .iter()
                .filter(|r| r.name.starts_with(prefix))
                .map(|r| r.name.as_str())
                .collect();
            if !ours.is_empty() {
                out.push(format!(
                    "[waf] enabled = false, but web ACL {} on user pool {pool_id} still has \
                     pumpguard's rules {}; pumpguard does not remove them while disabled: \
                     remove them in the WAF console, or set [waf] enabled = true",
                    acl.name,
                    ours.join(", ")
                ));
            }
        }
    }
    if let Some(acl) = o.named.as_ref().filter(|a| a.owned) {
        out.push(format!(
            "[waf] enabled = false; pumpguard's web ACL {} exists but protects nothing \
             associated with user pool {pool_id}: delete it (aws wafv2 delete-web-acl) if \
             nothing else uses it",
            acl.name
        ));
    }
    out
}

/// Pure: the web ACL changes (order 30, `web-acl`) and the association
/// (order 31, `web-acl-association`) that make the account match `[waf]`,
/// and warnings (someone else's ACL, allow rules running first, capacity,
/// an untagged ACL under pumpguard's name, leftovers while disabled).
pub fn plan(d: &Desired<'_>, o: &Observed) -> (Vec<Change>, Vec<String>) {
    let waf = &d.policy.waf;
    let prefix = waf.name_prefix.as_str();
    let pool_id = d.pool.id.as_str();
    let name = acl_name(prefix, pool_id);
    if !waf.enabled {
        return (Vec::new(), disabled_warnings(o, prefix, pool_id));
    }
    let defs = pumpguard_waf::rules_for(d.policy);
    let mut changes = Vec::new();
    let mut warnings = Vec::new();
    match (&o.associated, &o.named) {
        (Some(acl), named) => {
            if !acl.owned {
                warnings.push(format!(
                    "web ACL {} on user pool {pool_id} is not pumpguard's (pumpguard's is named \
                     {name} and tagged {OWNER_TAG}=true): pumpguard manages only the rules \
                     named {prefix}* in it, keeps every other rule and setting, and never \
                     deletes it",
                    acl.name
                ));
                if let Some(own) = named.as_ref().filter(|n| n.owned) {
                    warnings.push(format!(
                        "pumpguard's web ACL {} exists but user pool {pool_id} uses {}: it \
                         protects nothing there; delete it (aws wafv2 delete-web-acl) if \
                         nothing else uses it",
                        own.name, acl.name
                    ));
                }
            } else if !acl.default_allow {
                warnings.push(format!(
                    "pumpguard's web ACL {} does not allow by default: every request that no \
                     rule matches is blocked; pumpguard leaves the default action as it is",
                    acl.name
                ));
            }
            changes.extend(update_change(acl, &defs, prefix, &mut warnings));
        }
        (None, Some(acl)) if acl.owned => {
            changes.extend(update_change(acl, &defs, prefix, &mut warnings));
            changes.push(association_change(pool_id, &acl.name, &o.pool_arn));
        }
        (None, Some(acl)) => warnings.push(format!(
            "a web ACL named {} exists without the tag {OWNER_TAG}=true, so pumpguard neither \
             adopts it (it never guesses ownership) nor can create its own under that name; \
             user pool {pool_id} stays without WAF rules: tag it {OWNER_TAG}=true if pumpguard \
             created it, associate it with the pool to have pumpguard add its rules to it, or \
             rename or delete it",
            acl.name
        )),
        (None, None) => {
            let mut fields = vec![FieldChange::new(
                "default-action",
                None,
                Some("allow".into()),
            )];
            fields.extend(
                defs.iter()
                    .map(|r| FieldChange::new(r.name.clone(), None, Some(describe_rule(r)))),
            );
            fields.push(FieldChange::new(
                "tag",
                None,
                Some(format!("{OWNER_TAG}=true")),
            ));
            if i64::from(capacity(&defs)) > INCLUDED_WCU {
                warnings.push(format!(
                    "web ACL {name} would use {} WCUs, over the {INCLUDED_WCU} a web ACL \
                     includes",
                    capacity(&defs)
                ));
            }
            changes.push(Change {
                resource: "web-acl".into(),
                name: name.clone(),
                action: Action::Create,
                fields,
                order: 30,
                writes: vec![Write::Waf(WafWrite::Create {
                    name: name.clone(),
                    description: create_description(pool_id),
                    rules: defs,
                })],
            });
            changes.push(association_change(pool_id, &name, &o.pool_arn));
        }
    }
    (changes, warnings)
}

// ------------------------------------------------------------------ reads

/// An AWS error with what to do next.
fn aws_error<E, R>(call: &str, permission: &str, region: &str, e: &SdkError<E, R>) -> anyhow::Error
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    let next = match e.code() {
        Some(code) if code.contains("AccessDenied") || code.contains("Unauthorized") => {
            format!("grant the caller {permission}")
        }
        Some("WAFLimitsExceededException") => {
            "a WAF limit was reached (web ACLs per account, or WCUs per web ACL): remove unused \
             web ACLs, or set [waf] ip-reputation or anonymous-ip to false"
                .to_string()
        }
        _ => format!("check the credentials, the region ({region}) and {permission}"),
    };
    anyhow::anyhow!("{call} failed: {}; {next}", DisplayErrorContext(e))
}

async fn pool_arn(c: &Clients, pool_id: &str) -> anyhow::Result<String> {
    let out = c
        .cognito
        .describe_user_pool()
        .user_pool_id(pool_id)
        .send()
        .await
        .map_err(|e| {
            if e.code() == Some("ResourceNotFoundException") {
                anyhow::anyhow!(
                    "user pool {pool_id} does not exist in {}: check [user-pool] id",
                    c.region
                )
            } else {
                aws_error(
                    "cognito-idp DescribeUserPool",
                    "cognito-idp:DescribeUserPool",
                    &c.region,
                    &e,
                )
            }
        })?;
    out.user_pool
        .and_then(|p| p.arn)
        .ok_or_else(|| anyhow::anyhow!("DescribeUserPool for {pool_id} returned no pool ARN"))
}

async fn web_acl_for(c: &Clients, resource: &str) -> anyhow::Result<Option<WebAcl>> {
    match c
        .waf
        .get_web_acl_for_resource()
        .resource_arn(resource)
        .send()
        .await
    {
        Ok(out) => Ok(out.web_acl),
        // What WAF answers for a resource without a web ACL (the pool exists:
        // DescribeUserPool found it).
        Err(e) if e.code() == Some("WAFNonexistentItemException") => Ok(None),
        Err(e) => Err(aws_error(
            "WAF GetWebACLForResource",
            "wafv2:GetWebACLForResource and cognito-idp:GetWebACLForResource",
            &c.region,
            &e,
        )),
    }
}

/// The REGIONAL web ACL named exactly `name`: (id, arn).
async fn find_by_name(c: &Clients, name: &str) -> anyhow::Result<Option<(String, String)>> {
    let mut marker: Option<String> = None;
    // A bound, in case a marker never ends (100 pages of 100 is far more
    // web ACLs than an account may have).
    for _ in 0..100 {
        let out = c
            .waf
            .list_web_acls()
            .scope(Scope::Regional)
            .limit(100)
            .set_next_marker(marker.clone())
            .send()
            .await
            .map_err(|e| aws_error("WAF ListWebACLs", "wafv2:ListWebACLs", &c.region, &e))?;
        let page = out.web_acls.unwrap_or_default();
        if let Some(hit) = page.iter().find(|s| s.name.as_deref() == Some(name)) {
            return match (&hit.id, &hit.arn) {
                (Some(id), Some(arn)) => Ok(Some((id.clone(), arn.clone()))),
                _ => Err(anyhow::anyhow!(
                    "ListWebACLs returned web ACL {name} without its id or ARN"
                )),
            };
        }
        match out.next_marker {
            Some(m) if !m.is_empty() && !page.is_empty() => marker = Some(m),
            _ => return Ok(None),
        }
    }
    Ok(None)
}

/// Whether `arn` carries [`OWNER_TAG`]`=true`.
async fn owner_tagged(c: &Clients, arn: &str) -> anyhow::Result<bool> {
    let mut marker: Option<String> = None;
    for _ in 0..100 {
        let out = c
            .waf
            .list_tags_for_resource()
            .resource_arn(arn)
            .limit(100)
            .set_next_marker(marker.clone())
            .send()
            .await
            .map_err(|e| {
                aws_error(
                    "WAF ListTagsForResource",
                    "wafv2:ListTagsForResource",
                    &c.region,
                    &e,
                )
            })?;
        let tags: Vec<Tag> = out
            .tag_info_for_resource
            .and_then(|t| t.tag_list)
            .unwrap_or_default();
        if tags.iter().any(|t| t.key == OWNER_TAG && t.value == "true") {
            return Ok(true);
        }
        match out.next_marker {
            Some(m) if !m.is_empty() && !tags.is_empty() => marker = Some(m),
            _ => return Ok(false),
        }
    }
    Ok(false)
}

fn observed(acl: WebAcl, owned: bool) -> ObservedAcl {
    ObservedAcl {
        default_allow: acl
            .default_action
            .as_ref()
            .is_some_and(|a| a.allow.is_some()),
        name: acl.name,
        id: acl.id,
        arn: acl.arn,
        owned,
        capacity: acl.capacity,
        managed_by_firewall_manager: acl.managed_by_firewall_manager,
        rules: acl.rules.unwrap_or_default(),
    }
}

async fn get_web_acl(
    c: &Clients,
    name: &str,
    id: &str,
) -> anyhow::Result<(WebAcl, Option<String>)> {
    let out = c
        .waf
        .get_web_acl()
        .name(name)
        .scope(Scope::Regional)
        .id(id)
        .send()
        .await
        .map_err(|e| {
            if e.code() == Some("WAFNonexistentItemException") {
                anyhow::anyhow!(
                    "web ACL {name} no longer exists in {}: run `pumpguard plan` again",
                    c.region
                )
            } else {
                aws_error("WAF GetWebACL", "wafv2:GetWebACL", &c.region, &e)
            }
        })?;
    let acl = out
        .web_acl
        .ok_or_else(|| anyhow::anyhow!("GetWebACL for {name} returned no web ACL"))?;
    Ok((acl, out.lock_token))
}

/// Read calls only: DescribeUserPool, GetWebACLForResource, ListWebACLs,
/// ListTagsForResource, GetWebACL.
pub async fn read(c: &Clients, d: &Desired<'_>) -> anyhow::Result<Observed> {
    let pool_arn = pool_arn(c, &d.pool.id).await?;
    let name = acl_name(&d.policy.waf.name_prefix, &d.pool.id);
    let associated = match web_acl_for(c, &pool_arn).await? {
        Some(acl) => {
            let owned = acl.name == name && owner_tagged(c, &acl.arn).await?;
            Some(observed(acl, owned))
        }
        None => None,
    };
    let named = if associated.as_ref().is_some_and(|a| a.name == name) {
        None
    } else {
        match find_by_name(c, &name).await? {
            Some((id, arn)) => {
                if owner_tagged(c, &arn).await? {
                    let (acl, _) = get_web_acl(c, &name, &id).await?;
                    Some(observed(acl, true))
                } else {
                    Some(ObservedAcl {
                        name: name.clone(),
                        id,
                        arn,
                        owned: false,
                        capacity: 0,
                        default_allow: false,
                        managed_by_firewall_manager: false,
                        rules: Vec::new(),
                    })
                }
            }
            None => None,
        }
    };
    Ok(Observed {
        pool_arn,
        associated,
        named,
    })
}

// ----------------------------------------------------------------- writes

/// Carries out one write (see [`WafWrite`] for the calls of each).
pub async fn apply(c: &Clients, w: &WafWrite) -> anyhow::Result<()> {
    match w {
        WafWrite::Create {
            name,
            description,
            rules,
        } => create(c, name, description, rules).await,
        WafWrite::UpdateRules {
            name,
            id,
            prefix,
            rules,
        } => update_rules(c, name, id, prefix, rules).await,
        WafWrite::Associate {
            web_acl_name,
            pool_arn,
        } => associate(c, web_acl_name, pool_arn).await,
    }
}

async fn create(
    c: &Clients,
    name: &str,
    description: &str,
    defs: &[RuleDef],
) -> anyhow::Result<()> {
    let rules = defs
        .iter()
        .map(to_sdk_rule)
        .collect::<Result<Vec<_>, _>>()?;
    let visibility = VisibilityConfig::builder()
        .sampled_requests_enabled(true)
        .cloud_watch_metrics_enabled(true)
        .metric_name(metric_name(name))
        .build()?;
    c.waf
        .create_web_acl()
        .name(name)
        .scope(Scope::Regional)
        .description(description)
        .default_action(
            DefaultAction::builder()
                .allow(AllowAction::builder().build())
                .build(),
        )
        .visibility_config(visibility)
        .set_rules(Some(rules))
        .tags(Tag::builder().key(OWNER_TAG).value("true").build()?)
        .send()
        .await
        .map_err(|e| match e.code() {
            // The second code is moto's spelling.
            Some("WAFDuplicateItemException" | "WafV2DuplicateItem") => anyhow::anyhow!(
                "a web ACL named {name} already exists in {} (an earlier apply may have stopped \
                 after creating it): run `pumpguard plan` again",
                c.region
            ),
            _ => aws_error(
                "WAF CreateWebACL",
                "wafv2:CreateWebACL and wafv2:TagResource",
                &c.region,
                &e,
            ),
        })?;
    Ok(())
}

async fn update_rules(
    c: &Clients,
    name: &str,
    id: &str,
    prefix: &str,
    defs: &[RuleDef],
) -> anyhow::Result<()> {
    for attempt in 1..=UPDATE_ATTEMPTS {
        let (acl, lock) = get_web_acl(c, name, id).await?;
        let lock =
            lock.ok_or_else(|| anyhow::anyhow!("GetWebACL for {name} returned no lock token"))?;
        let current = sorted(acl.rules.clone().unwrap_or_default());
        let merged = merge(&current, defs, prefix)?;
        if merged == current {
            return Ok(());
        }
        let result = c
            .waf
            .update_web_acl()
            .name(name)
            .scope(Scope::Regional)
            .id(id)
            .lock_token(lock)
            .set_rules(Some(merged))
            // UpdateWebACL replaces the whole ACL: send every setting back as
            // read. ApplicationConfig is left out, which WAF documents as
            // "keep"; an empty description is what "none" reads as in some
            // servers and is not a valid value to send.
            .set_default_action(acl.default_action)
            .set_description(acl.description.filter(|s| !s.is_empty()))
            .set_visibility_config(acl.visibility_config)
            .set_data_protection_config(acl.data_protection_config)
            .set_custom_response_bodies(acl.custom_response_bodies)
            .set_captcha_config(acl.captcha_config)
            .set_challenge_config(acl.challenge_config)
            .set_token_domains(acl.token_domains)
            .set_association_config(acl.association_config)
            .set_on_source_d_do_s_protection_config(acl.on_source_d_do_s_protection_config)
            .set_monetization_config(acl.monetization_config)
            .send()
            .await;
        match result {
            Ok(_) => return Ok(()),
            Err(e)
                if e.code() == Some("WAFOptimisticLockException") && attempt < UPDATE_ATTEMPTS =>
            {
                tokio::time::sleep(Duration::from_millis(200 * u64::from(attempt))).await;
            }
            Err(e) if e.code() == Some("WAFOptimisticLockException") => {
                return Err(anyhow::anyhow!(
                    "web ACL {name} kept changing while pumpguard updated it ({UPDATE_ATTEMPTS} \
                     attempts): wait until whoever else edits it is done, then run `pumpguard \
                     apply` again"
                ))
            }
            Err(e) => {
                return Err(aws_error(
                    "WAF UpdateWebACL",
                    "wafv2:UpdateWebACL and wafv2:GetWebACL",
                    &c.region,
                    &e,
                ))
            }
        }
    }
    Ok(())
}

async fn associate(c: &Clients, acl: &str, pool_arn: &str) -> anyhow::Result<()> {
    let (_, arn) = find_by_name(c, acl).await?.ok_or_else(|| {
        anyhow::anyhow!(
            "pumpguard's web ACL {acl} does not exist in {}: run `pumpguard plan` again",
            c.region
        )
    })?;
    if !owner_tagged(c, &arn).await? {
        anyhow::bail!(
            "web ACL {acl} is not tagged {OWNER_TAG}=true, so pumpguard will not associate it: \
             run `pumpguard plan` again"
        );
    }
    if let Some(current) = web_acl_for(c, pool_arn).await? {
        if current.arn == arn {
            return Ok(());
        }
        anyhow::bail!(
            "user pool {pool_arn} now uses web ACL {}; pumpguard does not replace it: run \
             `pumpguard plan` again (it will add its rules to that ACL)",
            current.name
        );
    }
    for attempt in 1..=ASSOCIATE_ATTEMPTS {
        match c
            .waf
            .associate_web_acl()
            .web_acl_arn(&arn)
            .resource_arn(pool_arn)
            .send()
            .await
        {
            Ok(_) => return Ok(()),
            Err(e)
                if e.code() == Some("WAFUnavailableEntityException")
                    && attempt < ASSOCIATE_ATTEMPTS =>
            {
                tokio::time::sleep(Duration::from_secs(u64::from(attempt.min(5)))).await;
            }
            Err(e) if e.code() == Some("WAFUnavailableEntityException") => {
                anyhow::bail!(
                    "web ACL {acl} is still not available for association after \
                     {ASSOCIATE_ATTEMPTS} attempts (WAF can take minutes to propagate a new \
                     ACL): run `pumpguard apply` again in a few minutes"
                )
            }
            Err(e) => {
                return Err(aws_error(
                    "WAF AssociateWebACL",
                    "wafv2:AssociateWebACL and cognito-idp:AssociateWebACL",
                    &c.region,
                    &e,
                ))
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pumpguard_engine::Policy;

    #[test]
    fn every_rule_converts_back_to_itself() {
        let mut waf = Policy::example().waf;
        waf.geo_block = ["KP", "IR"]
            .iter()
            .filter_map(|c| pumpguard_engine::country::Country::parse(c))
            .collect();
        let defs = pumpguard_waf::rules(&waf);
        assert!(defs.iter().any(|d| matches!(d.kind, RuleKind::Geo { .. })));
        assert!(defs
            .iter()
            .any(|d| matches!(d.kind, RuleKind::Managed { .. })));
        for d in &defs {
            let rule = to_sdk_rule(d).expect("builds");
            assert_eq!(from_sdk_rule(&rule).as_ref(), Some(d), "{}", d.name);
        }
    }

    #[test]
    fn a_changed_action_converts_back_as_a_different_rule() {
        let defs = pumpguard_waf::rules(&Policy::example().waf);
        let def = defs
            .iter()
            .find(|d| matches!(d.kind, RuleKind::Rate { .. }))
            .expect("a rate rule");
        let mut rule = to_sdk_rule(def).expect("builds");
        rule.action = Some(
            RuleAction::builder()
                .count(aws_sdk_wafv2::types::CountAction::builder().build())
                .build(),
        );
        rule.override_action = None;
        // Counting is the monitored rule: not the one an enforcing policy
        // wants, so plan puts Block back.
        let back = from_sdk_rule(&rule).expect("a counting rule of pumpguard's");
        assert!(back.count);
        assert_ne!(&back, def);
        // Neither action: not pumpguard's.
        rule.action = None;
        assert_eq!(from_sdk_rule(&rule), None);
    }

    #[test]
    fn monitored_rules_round_trip() {
        let text = pumpguard_engine::policy::EXAMPLE_POLICY.replacen(
            "mode = \"enforce\"",
            "mode = \"monitor\"",
            1,
        );
        let p = Policy::parse(&text, "monitor").expect("parses");
        let defs = pumpguard_waf::rules_for(&p);
        assert!(defs.iter().all(|d| d.count));
        for d in &defs {
            let rule = to_sdk_rule(d).expect("builds");
            assert!(rule.action.as_ref().is_none_or(|a| a.block.is_none()));
            assert_eq!(from_sdk_rule(&rule).as_ref(), Some(d), "{}", d.name);
        }
    }

    #[test]
    fn the_sdk_rule_matches_the_cloudformation_rule() {
        for d in pumpguard_waf::rules(&Policy::example().waf) {
            let cf = d.to_cloudformation();
            let rule = to_sdk_rule(&d).expect("builds");
            assert_eq!(cf["Name"], rule.name.as_str());
            assert_eq!(cf["Priority"], rule.priority);
            let st = rule.statement.expect("statement");
            if let Some(rate) = st.rate_based_statement {
                let c = &cf["Statement"]["RateBasedStatement"];
                assert_eq!(c["Limit"], rate.limit);
                assert_eq!(c["EvaluationWindowSec"], rate.evaluation_window_sec);
                assert_eq!(c["AggregateKeyType"], rate.aggregate_key_type.as_str());
                let bm = rate
                    .scope_down_statement
                    .and_then(|s| s.byte_match_statement)
                    .expect("byte match");
                let c = &c["ScopeDownStatement"]["ByteMatchStatement"];
                assert_eq!(
                    c["SearchString"],
                    std::str::from_utf8(bm.search_string.as_ref()).expect("utf-8")
                );
                assert_eq!(c["PositionalConstraint"], bm.positional_constraint.as_str());
                assert_eq!(
                    c["FieldToMatch"]["SingleHeader"]["Name"],
                    bm.field_to_match
                        .and_then(|f| f.single_header)
                        .expect("header")
                        .name
                        .as_str()
                );
            } else if let Some(group) = st.managed_rule_group_statement {
                let c = &cf["Statement"]["ManagedRuleGroupStatement"];
                assert_eq!(c["Name"], group.name.as_str());
                assert_eq!(c["VendorName"], group.vendor_name.as_str());
            }
        }
    }

    #[test]
    fn ours_go_after_every_kept_rule() {
        let defs = pumpguard_waf::rules(&Policy::example().waf);
        assert_eq!(place(&defs, &[]), defs);
        let foreign = Rule::builder()
            .name("theirs")
            .priority(40)
            .build()
            .expect("rule");
        let placed = place(&defs, std::slice::from_ref(&foreign));
        for (p, d) in placed.iter().zip(&defs) {
            assert_eq!(p.priority, 41 + d.priority);
        }
    }

    #[test]
    fn acl_names_are_valid_waf_names() {
        assert_eq!(
            acl_name("pumpguard-", "us-east-1_AbC"),
            "pumpguard-us-east-1_AbC"
        );
        assert_eq!(acl_name("p.", "x y"), "p-x-y");
        assert_eq!(acl_name(&"a".repeat(200), "x").len(), 128);
    }
}
