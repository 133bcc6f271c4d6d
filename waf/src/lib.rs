//! The WAF rules pumpguard puts in front of a user pool, defined once.
//!
//! [`rules`] turns the policy's `[waf]` section into typed [`RuleDef`]s; the
//! CloudFormation renderer serialises them with [`RuleDef::to_cloudformation`]
//! and the CLI builds its SDK calls from the same values, so the stack and
//! `pumpguard apply` cannot disagree about what a rule is.
//!
//! Rate rules count requests per client IP for one Cognito operation at a
//! time, matched on the `x-amz-target` header
//! (`AWSCognitoIdentityProviderService.<Operation>`), which WAF sees on the
//! pool's public API calls (not on IAM-signed Admin* calls).

use pumpguard_engine::account::{WafPolicy, SMS_OPERATIONS};
use pumpguard_engine::policy::{Mode, Policy};
use serde_json::{json, Value};

/// The header that names a Cognito API operation.
pub const TARGET_HEADER: &str = "x-amz-target";

/// The prefix of every Cognito user-pool operation in [`TARGET_HEADER`].
pub const TARGET_PREFIX: &str = "AWSCognitoIdentityProviderService.";

/// AWS managed rule groups pumpguard can add (both usable on a user pool).
pub const IP_REPUTATION_GROUP: &str = "AWSManagedRulesAmazonIpReputationList";
pub const ANONYMOUS_IP_GROUP: &str = "AWSManagedRulesAnonymousIpList";

/// What a rule does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RuleKind {
    /// Block an IP that calls `operation` more than `limit` times per `window_seconds`.
    Rate {
        operation: String,
        limit: u32,
        window_seconds: u32,
    },
    /// An AWS managed rule group, with its own actions.
    Managed { name: String },
    /// Block requests from these IP countries.
    Geo { countries: Vec<String> },
}

/// One WAF rule owned by pumpguard.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuleDef {
    /// Starts with the policy's `name-prefix`.
    pub name: String,
    pub priority: i32,
    pub kind: RuleKind,
    /// Monitor: the rule's action is Count (a managed group's override is
    /// Count), so WAF counts and labels what it would block and blocks
    /// nothing. Otherwise Block (a managed group keeps its own actions).
    pub count: bool,
}

/// The rules a policy puts in front of its pool: [`rules`], counting
/// instead of blocking unless `[trigger] mode` is `enforce`, so that a
/// monitored rollout is monitored at the WAF too.
pub fn rules_for(policy: &Policy) -> Vec<RuleDef> {
    let monitor = policy.trigger.mode != Mode::Enforce;
    rules(&policy.waf)
        .into_iter()
        .map(|r| RuleDef {
            count: monitor,
            ..r
        })
        .collect()
}

/// The rules for a policy's `[waf]` section, in priority order, each with
/// a Block action; empty when the section is disabled.
pub fn rules(waf: &WafPolicy) -> Vec<RuleDef> {
    if !waf.enabled {
        return Vec::new();
    }
    let p = &waf.name_prefix;
    let mut out = Vec::new();
    if !waf.geo_block.is_empty() {
        out.push(RuleDef {
            name: format!("{p}geo-block"),
            priority: 0,
            kind: RuleKind::Geo {
                countries: waf.geo_block.iter().map(|c| c.to_string()).collect(),
            },
            count: false,
        });
    }
    if waf.ip_reputation {
        out.push(RuleDef {
            name: format!("{p}ip-reputation"),
            priority: 1,
            kind: RuleKind::Managed {
                name: IP_REPUTATION_GROUP.into(),
            },
            count: false,
        });
    }
    if waf.anonymous_ip {
        out.push(RuleDef {
            name: format!("{p}anonymous-ip"),
            priority: 2,
            kind: RuleKind::Managed {
                name: ANONYMOUS_IP_GROUP.into(),
            },
            count: false,
        });
    }
    for (i, op) in SMS_OPERATIONS.iter().enumerate() {
        let limit = waf.limits.get(*op).copied().unwrap_or(100);
        out.push(RuleDef {
            name: format!("{p}rate-{}", kebab(op)),
            priority: 10 + i32::try_from(i).unwrap_or(0),
            kind: RuleKind::Rate {
                operation: (*op).to_string(),
                limit,
                window_seconds: waf.window_seconds,
            },
            count: false,
        });
    }
    out
}

fn kebab(op: &str) -> String {
    let mut s = String::with_capacity(op.len() + 4);
    for (i, ch) in op.chars().enumerate() {
        if ch.is_ascii_uppercase() && i > 0 {
            s.push('-');
        }
        s.push(ch.to_ascii_lowercase());
    }
    s
}

/// The CloudWatch metric name of a rule: its name without dashes.
pub fn metric_name(name: &str) -> String {
    name.chars().filter(|c| c.is_ascii_alphanumeric()).collect()
}

impl RuleDef {
    /// The rule as `AWS::WAFv2::WebACL` `Rules` entry (field names are the
    /// WAFv2 API's; `SearchString` is plain text, as CloudFormation takes it).
    pub fn to_cloudformation(&self) -> Value {
        let visibility = json!({
            "SampledRequestsEnabled": true,
            "CloudWatchMetricsEnabled": true,
            "MetricName": metric_name(&self.name),
        });
        let action = if self.count {
            json!({"Count": {}})
        } else {
            json!({"Block": {}})
        };
        let override_action = if self.count {
            json!({"Count": {}})
        } else {
            json!({"None": {}})
        };
        match &self.kind {
            RuleKind::Rate {
                operation,
                limit,
                window_seconds,
            } => json!({
                "Name": self.name,
                "Priority": self.priority,
                "Action": action,
                "Statement": {"RateBasedStatement": {
                    "Limit": limit,
                    "EvaluationWindowSec": window_seconds,
                    "AggregateKeyType": "IP",
                    "ScopeDownStatement": {"ByteMatchStatement": {
                        "FieldToMatch": {"SingleHeader": {"Name": TARGET_HEADER}},
                        "PositionalConstraint": "EXACTLY",
                        "SearchString": format!("{TARGET_PREFIX}{operation}"),
                        "TextTransformations": [{"Priority": 0, "Type": "NONE"}],
                    }},
                }},
                "VisibilityConfig": visibility,
            }),
            RuleKind::Managed { name } => json!({
                "Name": self.name,
                "Priority": self.priority,
                "OverrideAction": override_action,
                "Statement": {"ManagedRuleGroupStatement": {"VendorName": "AWS", "Name": name}},
                "VisibilityConfig": visibility,
            }),
            RuleKind::Geo { countries } => json!({
                "Name": self.name,
                "Priority": self.priority,
                "Action": action,
                "Statement": {"GeoMatchStatement": {"CountryCodes": countries}},
                "VisibilityConfig": visibility,
            }),
        }
    }
}

/// Web ACL capacity units of the rules, per WAF's published costs: a rate rule
/// with a header match scope-down 2 + 2, IP reputation 25, anonymous IP 50,
/// a geo match 1. A web ACL includes 1,500.
pub fn capacity(rules: &[RuleDef]) -> u32 {
    rules
        .iter()
        .map(|r| match &r.kind {
            RuleKind::Rate { .. } => 4,
            RuleKind::Managed { name } if name == IP_REPUTATION_GROUP => 25,
            RuleKind::Managed { .. } => 50,
            RuleKind::Geo { .. } => 1,
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use pumpguard_engine::Policy;

    #[test]
    fn the_example_has_one_rate_rule_per_sms_operation() {
        let rules = rules(&Policy::example().waf);
        let rate: Vec<_> = rules
            .iter()
            .filter_map(|r| match &r.kind {
                RuleKind::Rate { operation, .. } => Some(operation.as_str()),
                _ => None,
            })
            .collect();
        assert_eq!(rate, SMS_OPERATIONS);
        let names: Vec<_> = rules.iter().map(|r| r.name.as_str()).collect();
        assert!(names.contains(&"pumpguard-rate-sign-up"));
        assert!(names.contains(&"pumpguard-rate-get-user-attribute-verification-code"));
        assert!(names
            .iter()
            .all(|n| n.starts_with("pumpguard-") && n.len() <= 128));
        let mut priorities: Vec<_> = rules.iter().map(|r| r.priority).collect();
        priorities.dedup();
        assert_eq!(priorities.len(), rules.len(), "unique priorities");
        assert!(capacity(&rules) <= 1500);
    }

    #[test]
    fn a_rate_rule_matches_its_operation_header() {
        let r = RuleDef {
            name: "p-rate-sign-up".into(),
            priority: 10,
            kind: RuleKind::Rate {
                operation: "SignUp".into(),
                limit: 20,
                window_seconds: 300,
            },
            count: false,
        }
        .to_cloudformation();
        let rbs = &r["Statement"]["RateBasedStatement"];
        assert_eq!(rbs["Limit"], 20);
        assert_eq!(rbs["EvaluationWindowSec"], 300);
        let bm = &rbs["ScopeDownStatement"]["ByteMatchStatement"];
        assert_eq!(bm["FieldToMatch"]["SingleHeader"]["Name"], "x-amz-target");
        assert_eq!(
            bm["SearchString"],
            "AWSCognitoIdentityProviderService.SignUp"
        );
        assert_eq!(r["VisibilityConfig"]["MetricName"], "pratesignup");
    }

    #[test]
    fn a_monitored_policy_counts_and_blocks_nothing() {
        let enforce = Policy::example();
        assert!(rules_for(&enforce).iter().all(|r| !r.count));
        // The first `mode` of the example is `[trigger]`'s.
        let text = pumpguard_engine::policy::EXAMPLE_POLICY.replacen(
            "mode = \"enforce\"",
            "mode = \"monitor\"",
            1,
        );
        let monitor = Policy::parse(&text, "monitor").unwrap_or_else(|e| panic!("{e}"));
        let rules = rules_for(&monitor);
        assert!(!rules.is_empty());
        for r in &rules {
            let cf = r.to_cloudformation();
            assert!(
                cf.get("Action").is_none_or(|a| a.get("Block").is_none()),
                "{cf}"
            );
            match r.kind {
                RuleKind::Managed { .. } => assert_eq!(cf["OverrideAction"], json!({"Count": {}})),
                _ => assert_eq!(cf["Action"], json!({"Count": {}})),
            }
        }
    }
}
