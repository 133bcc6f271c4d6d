//! The account-level parts of the policy: the WAF section, and the End User
//! Messaging protect rules derived from the same country lists the trigger
//! uses.
//!
//! The trigger itself never reads these; they live in the one policy file so
//! that one list of countries feeds both the trigger and the account, and so
//! that `pumpguard check` catches a mistake in them before anything is
//! published or applied.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::country::Country;
use crate::policy::{Collector, CrownDependencies, Mode, Policy, Unlisted};

/// Cognito operations whose public calls make Cognito send an SMS, matched in
/// WAF on the `x-amz-target` header.
pub const SMS_OPERATIONS: [&str; 6] = [
    "SignUp",
    "ResendConfirmationCode",
    "ForgotPassword",
    "GetUserAttributeVerificationCode",
    "UpdateUserAttributes",
    "InitiateAuth",
];

/// The windows WAF's rate-based rules accept, in seconds.
pub const WAF_WINDOWS: [u32; 4] = [60, 120, 300, 600];

/// WAF's smallest rate-based limit.
pub const WAF_MIN_LIMIT: u32 = 10;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub(crate) struct WireWaf {
    enabled: bool,
    name_prefix: String,
    default_limit: i64,
    window_seconds: i64,
    limits: BTreeMap<String, i64>,
    ip_reputation: bool,
    anonymous_ip: bool,
    geo_block: Vec<String>,
}

impl Default for WireWaf {
    fn default() -> Self {
        Self {
            enabled: true,
            name_prefix: "pumpguard-".into(),
            default_limit: 100,
            window_seconds: 300,
            limits: BTreeMap::new(),
            ip_reputation: true,
            anonymous_ip: true,
            geo_block: Vec::new(),
        }
    }
}

/// `[waf]`: the web ACL in front of the user pool.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct WafPolicy {
    pub enabled: bool,
    /// Rules pumpguard owns start with this; others are never touched.
    pub name_prefix: String,
    pub window_seconds: u32,
    /// Requests per IP per window, per operation (every one of [`SMS_OPERATIONS`]).
    pub limits: BTreeMap<String, u32>,
    pub ip_reputation: bool,
    pub anonymous_ip: bool,
    /// Block requests from these countries (by IP).
    pub geo_block: BTreeSet<Country>,
}

fn waf_limit(c: &mut Collector, key: &str, v: i64) -> u32 {
    if (i64::from(WAF_MIN_LIMIT)..=2_000_000_000).contains(&v) {
        u32::try_from(v).unwrap_or(WAF_MIN_LIMIT)
    } else {
        c.push(
            key,
            format!("must be between {WAF_MIN_LIMIT} and 2000000000 (WAF's limits), found {v}"),
        );
        WAF_MIN_LIMIT
    }
}

impl crate::policy::Section for WafPolicy {
    const NAME: &'static str = "waf";
    type Wire = WireWaf;

    fn check(w: WireWaf, c: &mut Collector) -> Self {
        check_waf(w, c, crate::policy::country_list)
    }
}

pub(crate) fn check_waf(
    w: WireWaf,
    c: &mut Collector,
    country_list: impl Fn(&[String], &str, &mut Collector) -> BTreeSet<Country>,
) -> WafPolicy {
    let window = u32::try_from(w.window_seconds).unwrap_or(0);
    if !WAF_WINDOWS.contains(&window) {
        c.push(
            "waf.window-seconds",
            format!(
                "must be one of 60, 120, 300 or 600 (WAF's windows), found {}",
                w.window_seconds
            ),
        );
    }
    let valid_name = |s: &str| {
        !s.is_empty()
            && s.len() <= 40
            && s.chars()
                .all(|ch| ch.is_ascii_alphanumeric() || ch == '-' || ch == '_')
    };
    if !valid_name(&w.name_prefix) {
        c.push(
            "waf.name-prefix",
            "must be 1 to 40 letters, digits, '-' or '_' (it starts every rule name)",
        );
    }
    let default = waf_limit(c, "waf.default-limit", w.default_limit);
    let mut limits: BTreeMap<String, u32> = SMS_OPERATIONS
        .iter()
        .map(|op| ((*op).to_string(), default))
        .collect();
    for (op, v) in &w.limits {
        let key = format!("waf.limits.{op}");
        if SMS_OPERATIONS.contains(&op.as_str()) {
            limits.insert(op.clone(), waf_limit(c, &key, *v));
        } else {
            c.push(
                key,
                format!(
                    "is not an SMS-triggering operation; expected one of: {}",
                    SMS_OPERATIONS.join(", ")
                ),
            );
        }
    }
    WafPolicy {
        enabled: w.enabled,
        name_prefix: w.name_prefix,
        window_seconds: window,
        limits,
        ip_reputation: w.ip_reputation,
        anonymous_ip: w.anonymous_ip,
        geo_block: country_list(&w.geo_block, "waf.geo-block", c),
    }
}

/// An End User Messaging protect status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ProtectStatus {
    Allow,
    Monitor,
    Block,
    Filter,
}

impl ProtectStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ProtectStatus::Allow => "ALLOW",
            ProtectStatus::Monitor => "MONITOR",
            ProtectStatus::Block => "BLOCK",
            ProtectStatus::Filter => "FILTER",
        }
    }
}

/// Every ISO 3166-1 country the phone metadata knows (Ascension and Tristan
/// da Cunha, which have no ISO 3166-1 code of their own, and Kosovo's
/// user-assigned XK are left out).
pub fn all_countries() -> Vec<Country> {
    crate::phone::util()
        .get_supported_regions()
        .map(|r| r.as_region_str())
        .filter(|id| !matches!(id.as_str(), "AC" | "TA" | "XK" | "001"))
        .filter_map(|id| Country::parse(id.as_str()))
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

impl Policy {
    /// The protect status of every country, from the trigger's country lists:
    /// allow → ALLOW, monitor → MONITOR, block and unlisted-blocked → BLOCK
    /// (or `block_status`, e.g. FILTER). The account never blocks what the
    /// trigger allows: with the country check in `monitor` mode the account
    /// only monitors, and with it `off` the account allows every country.
    /// `[protect] country-overrides` are the explicit exceptions.
    pub fn protect_rules(&self, block_status: ProtectStatus) -> BTreeMap<Country, ProtectStatus> {
        let c = &self.countries;
        let mode = self.effective(c.mode);
        let block = match mode {
            Mode::Enforce => block_status,
            Mode::Monitor => ProtectStatus::Monitor,
            Mode::Off => ProtectStatus::Allow,
        };
        let gb = Country::parse("GB");
        all_countries()
            .into_iter()
            .map(|country| {
                let judged = match (c.crown_dependencies, gb) {
                    (CrownDependencies::AsGb, Some(gb)) if country.is_crown_dependency() => gb,
                    _ => country,
                };
                let status = if c.block.contains(&judged) {
                    block
                } else if c.allow.contains(&judged) {
                    ProtectStatus::Allow
                } else if c.monitor.contains(&judged) {
                    if mode == Mode::Off {
                        ProtectStatus::Allow
                    } else {
                        ProtectStatus::Monitor
                    }
                } else {
                    match c.unlisted {
                        Unlisted::Block => block,
                        Unlisted::Monitor if mode != Mode::Off => ProtectStatus::Monitor,
                        Unlisted::Monitor | Unlisted::Allow => ProtectStatus::Allow,
                    }
                };
                (country, status)
            })
            .map(|(country, status)| {
                let explicit = self.protect.country_overrides.get(&country).copied();
                (country, explicit.unwrap_or(status))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(text: &str) -> BTreeMap<Country, ProtectStatus> {
        Policy::parse(text, "t")
            .map(|p| p.protect_rules(ProtectStatus::Block))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn get(r: &BTreeMap<Country, ProtectStatus>, c: &str) -> ProtectStatus {
        r[&Country::parse(c).expect("code")]
    }

    #[test]
    fn the_example_maps_onto_protect_statuses() {
        let r = Policy::example().protect_rules(ProtectStatus::Block);
        assert!(r.len() > 230, "{}", r.len());
        assert_eq!(get(&r, "US"), ProtectStatus::Allow);
        assert_eq!(get(&r, "MX"), ProtectStatus::Monitor);
        assert_eq!(get(&r, "NG"), ProtectStatus::Block);
        assert_eq!(get(&r, "JM"), ProtectStatus::Block, "unlisted");
        assert_eq!(
            get(&r, "IM"),
            ProtectStatus::Block,
            "crown dependencies separate"
        );
        let ours = Policy::example();
        for (country, status) in &r {
            // Whatever the trigger allows, the account allows.
            if ours.countries.allow.contains(country) {
                assert_eq!(*status, ProtectStatus::Allow);
            }
        }
    }

    #[test]
    fn monitor_and_off_never_block_at_the_account() {
        let base = "allow = [\"US\"]\ncrown-dependencies = \"as-gb\"\n";
        let r = rules(&format!("[countries]\nmode = \"monitor\"\n{base}"));
        assert_eq!(get(&r, "NG"), ProtectStatus::Monitor);
        let r = rules(&format!("[countries]\nmode = \"off\"\n{base}"));
        assert!(r.values().all(|s| *s == ProtectStatus::Allow));
        let r = rules(&format!(
            "[trigger]\nmode = \"monitor\"\n[countries]\n{base}"
        ));
        assert_eq!(get(&r, "NG"), ProtectStatus::Monitor);
        let r = rules("[countries]\nallow = [\"GB\"]\ncrown-dependencies = \"as-gb\"\n");
        assert_eq!(get(&r, "IM"), ProtectStatus::Allow);
        assert_eq!(get(&r, "JE"), ProtectStatus::Allow);
    }

    #[test]
    fn sender_mode_needs_the_sender_and_its_key_in_the_pools_place() {
        let pool = "[countries]\nallow = [\"US\"]\ncrown-dependencies = \"separate\"\n\
                    [user-pool]\nid = \"us-east-1_Abc123\"\n\
                    trigger-arn = \"arn:aws:lambda:us-east-1:111122223333:function:pg-trigger\"\n\
                    table = \"pg-state\"\n";
        let keys = |text: &str| -> Vec<String> {
            match Policy::parse(text, "p") {
                Ok(_) => Vec::new(),
                Err(e) => e.problems.iter().map(|p| p.key.clone()).collect(),
            }
        };
        assert_eq!(
            keys(&format!("[sender]\nenabled = true\n{pool}")),
            ["user-pool.sender-arn", "user-pool.kms-key-arn"]
        );
        let good = format!(
            "[sender]\nenabled = true\n{pool}\
             sender-arn = \"arn:aws:lambda:us-east-1:111122223333:function:pg-sender\"\n\
             kms-key-arn = \"arn:aws:kms:us-east-1:111122223333:key/1234abcd-12ab-34cd-56ef-1234567890ab\"\n"
        );
        assert_eq!(keys(&good), Vec::<String>::new());
        let elsewhere = good
            .replace(
                "us-east-1:111122223333:function:pg-sender",
                "eu-west-1:111122223333:function:pg-sender",
            )
            .replace("111122223333:key/", "999988887777:key/");
        assert_eq!(
            keys(&elsewhere),
            ["user-pool.sender-arn", "user-pool.kms-key-arn"]
        );
        let alias = good.replace(
            "key/1234abcd-12ab-34cd-56ef-1234567890ab",
            "alias/pumpguard",
        );
        assert_eq!(keys(&alias), ["user-pool.kms-key-arn"]);
    }

    #[test]
    fn waf_limits_are_checked_against_waf() {
        let bad =
            "[waf]\nwindow-seconds = 700\ndefault-limit = 5\nlimits = { SignUp = 3, Login = 50 }\n\
                   name-prefix = \"pump guard\"\n\
                   [countries]\nallow = [\"US\"]\ncrown-dependencies = \"separate\"\n";
        let e = Policy::parse(bad, "p").expect_err("bad");
        let got: Vec<String> = e.problems.iter().map(|p| p.key.clone()).collect();
        assert_eq!(
            got,
            [
                "waf.window-seconds",
                "waf.name-prefix",
                "waf.default-limit",
                "waf.limits.Login",
                "waf.limits.SignUp"
            ]
        );
        let p = Policy::example();
        assert_eq!(p.waf.limits.len(), SMS_OPERATIONS.len());
        assert!(WAF_WINDOWS.contains(&p.waf.window_seconds));
    }
}

// ---------------------------------------------------------------- [user-pool], [protect], [spend]

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct WireUserPool {
    id: String,
    trigger_arn: String,
    table: String,
    #[serde(default)]
    sms_regions: Option<Vec<String>>,
    #[serde(default)]
    account_id: Option<String>,
    #[serde(default)]
    sender_arn: Option<String>,
    #[serde(default)]
    kms_key_arn: Option<String>,
}

/// `[user-pool]`: the pool `plan`/`apply` converge, and where the trigger is.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct UserPoolPolicy {
    /// `us-east-1_AbCdEf123`.
    pub id: String,
    /// The pool's region, from its id.
    pub region: String,
    /// The trigger Lambda's ARN (the stack's `TriggerArn` output).
    pub trigger_arn: String,
    /// The trigger's DynamoDB table (the stack's `TableName` output).
    pub table: String,
    /// Regions whose SMS settings (protect configuration, spend limits) are
    /// converged; the pool's region first.
    pub sms_regions: Vec<String>,
    /// The AWS account `apply` and `publish` must be signed in to, if set:
    /// they refuse to run with credentials of any other account.
    pub account_id: Option<String>,
    /// The Custom SMS Sender Lambda's ARN (the stack's `SenderArn` output),
    /// needed with `[sender] enabled = true`.
    pub sender_arn: Option<String>,
    /// The KMS key Cognito encrypts the sender's codes under (the stack's
    /// `SenderKeyArn` output), needed with `[sender] enabled = true`.
    pub kms_key_arn: Option<String>,
}

/// Whether `arn` is `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE_TYPE<sep>NAME`
/// with a real region and account; returns (region, account).
fn arn_parts<'a>(arn: &'a str, service: &str, resource: &str) -> Option<(&'a str, &'a str)> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    (parts.len() == 6
        && parts[0] == "arn"
        && !parts[1].is_empty()
        && parts[2] == service
        && is_region(parts[3])
        && parts[4].len() == 12
        && parts[4].chars().all(|c| c.is_ascii_digit())
        && parts[5]
            .strip_prefix(resource)
            .is_some_and(|name| name.len() > 1))
    .then(|| (parts[3], parts[4]))
}

fn is_region(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.len() >= 3
        && parts.iter().all(|p| {
            !p.is_empty()
                && p.chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit())
        })
        && parts
            .last()
            .is_some_and(|p| p.chars().all(|c| c.is_ascii_digit()))
}

pub(crate) fn check_user_pool(w: WireUserPool, c: &mut Collector) -> UserPoolPolicy {
    let region = match w.id.split_once('_') {
        Some((region, rest))
            if is_region(region)
                && !rest.is_empty()
                && rest.chars().all(|c| c.is_ascii_alphanumeric()) =>
        {
            region.to_string()
        }
        _ => {
            c.push(
                "user-pool.id",
                format!(
                    "{:?} is not a user pool id such as us-east-1_AbCdEf123",
                    w.id
                ),
            );
            String::new()
        }
    };
    let arn_ok = {
        let parts: Vec<&str> = w.trigger_arn.splitn(7, ':').collect();
        parts.len() == 7
            && parts[0] == "arn"
            && parts[2] == "lambda"
            && is_region(parts[3])
            && parts[4].len() == 12
            && parts[4].chars().all(|c| c.is_ascii_digit())
            && parts[5] == "function"
            && !parts[6].is_empty()
    };
    if !arn_ok {
        c.push(
            "user-pool.trigger-arn",
            "must be a Lambda function ARN, arn:aws:lambda:REGION:ACCOUNT:function:NAME (the stack's TriggerArn output)",
        );
    } else if !region.is_empty() && w.trigger_arn.split(':').nth(3) != Some(region.as_str()) {
        c.push(
            "user-pool.trigger-arn",
            format!("is in another region than the pool ({region}); Cognito invokes triggers in its own region"),
        );
    }
    let table_ok = (3..=255).contains(&w.table.len())
        && w.table
            .chars()
            .all(|ch| ch.is_ascii_alphanumeric() || "_.-".contains(ch));
    if !table_ok {
        c.push(
            "user-pool.table",
            "must be a DynamoDB table name (the stack's TableName output)",
        );
    }
    let mut sms_regions = vec![region.clone()];
    for (i, r) in w.sms_regions.unwrap_or_default().iter().enumerate() {
        if !is_region(r) {
            c.push(
                format!("user-pool.sms-regions[{i}]"),
                format!("{r:?} is not an AWS region"),
            );
        } else if !sms_regions.contains(r) {
            sms_regions.push(r.clone());
        }
    }
    sms_regions.retain(|r| !r.is_empty());
    if let Some(a) = &w.account_id {
        if a.len() != 12 || !a.chars().all(|c| c.is_ascii_digit()) {
            c.push(
                "user-pool.account-id",
                format!("{a:?} is not an AWS account id (12 digits, as a string)"),
            );
        } else if arn_ok && w.trigger_arn.split(':').nth(4) != Some(a.as_str()) {
            c.push(
                "user-pool.account-id",
                format!("is {a}, but user-pool.trigger-arn is in another account"),
            );
        }
    }
    let account = w.trigger_arn.split(':').nth(4).unwrap_or_default();
    let same_place = |key: &str,
                      arn: &str,
                      what: &str,
                      c: &mut Collector,
                      found: Option<(&str, &str)>| {
        match found {
            None => c.push(format!("user-pool.{key}"), what.to_string()),
            Some((r, _)) if !region.is_empty() && r != region => c.push(
                format!("user-pool.{key}"),
                format!("{arn} is in {r}, not the pool's region ({region}); Cognito uses it in its own region"),
            ),
            Some((_, a)) if arn_ok && a != account => c.push(
                format!("user-pool.{key}"),
                format!("{arn} is in account {a}, not the trigger's ({account})"),
            ),
            Some(_) => {}
        }
    };
    if let Some(arn) = &w.sender_arn {
        same_place(
            "sender-arn",
            arn,
            "must be a Lambda function ARN, arn:aws:lambda:REGION:ACCOUNT:function:NAME (the stack's SenderArn output)",
            c,
            arn_parts(arn, "lambda", "function:"),
        );
    }
    if let Some(arn) = &w.kms_key_arn {
        same_place(
            "kms-key-arn",
            arn,
            "must be a KMS key ARN, arn:aws:kms:REGION:ACCOUNT:key/ID (the stack's SenderKeyArn output; Cognito takes no alias)",
            c,
            arn_parts(arn, "kms", "key/"),
        );
    }
    UserPoolPolicy {
        id: w.id,
        region,
        trigger_arn: w.trigger_arn,
        table: w.table,
        sms_regions,
        account_id: w.account_id,
        sender_arn: w.sender_arn,
        kms_key_arn: w.kms_key_arn,
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
pub(crate) struct WireNumberOverride {
    number: String,
    action: String,
    #[serde(default)]
    expires: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", default)]
pub(crate) struct WireProtect {
    enabled: bool,
    block_status: String,
    country_overrides: BTreeMap<String, String>,
    number_overrides: Vec<WireNumberOverride>,
    scope: String,
    configuration_set: Option<String>,
    caller_role_arn: Option<String>,
    origination_identity: Option<String>,
    external_id: Option<String>,
}

impl Default for WireProtect {
    fn default() -> Self {
        Self {
            enabled: true,
            block_status: "block".into(),
            country_overrides: BTreeMap::new(),
            number_overrides: Vec::new(),
            scope: "account-default".into(),
            configuration_set: None,
            caller_role_arn: None,
            origination_identity: None,
            external_id: None,
        }
    }
}

/// `[protect] scope`: which sends pumpguard's protect configuration covers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "scope")]
pub enum ProtectScope {
    /// Made the account default: every SMS the account sends in the region
    /// through SNS or End User Messaging, other applications' included.
    AccountDefault,
    /// Associated with a pumpguard-owned configuration set that the pool
    /// sends through (`SmsConfiguration.EumsSms`); the account default is
    /// left as it is.
    Pool(PoolScope),
}

/// How the pool sends through End User Messaging with `scope = "pool"`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PoolScope {
    /// The configuration set pumpguard creates and owns.
    pub configuration_set: String,
    /// The role Cognito assumes to call `sms-voice:SendTextMessage`.
    pub caller_role_arn: String,
    /// The phone number, pool, sender ID or ARN to send from; `None` lets
    /// End User Messaging choose.
    pub origination_identity: Option<String>,
    /// The external ID in the caller role's trust policy, if it has one.
    pub external_id: Option<String>,
}

/// The configuration set's name when `[protect] configuration-set` is unset.
pub const DEFAULT_CONFIGURATION_SET: &str = "pumpguard";

/// End User Messaging's rule for configuration set names.
fn valid_configuration_set(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// `arn:<partition>:iam::<12 digits>:role/<name>`.
fn valid_role_arn(arn: &str) -> bool {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    matches!(parts.as_slice(),
        ["arn", partition, "iam", "", account, resource]
            if partition.starts_with("aws")
                && account.len() == 12
                && account.bytes().all(|b| b.is_ascii_digit())
                && resource.strip_prefix("role/").is_some_and(|n| !n.is_empty()))
}

fn check_scope(w: &mut WireProtect, c: &mut Collector) -> ProtectScope {
    let pool_only = [
        ("configuration-set", w.configuration_set.is_some()),
        ("caller-role-arn", w.caller_role_arn.is_some()),
        ("origination-identity", w.origination_identity.is_some()),
        ("external-id", w.external_id.is_some()),
    ];
    match w.scope.as_str() {
        "account-default" => {
            for (key, set) in pool_only {
                if set {
                    c.push(
                        format!("protect.{key}"),
                        "applies only with scope = \"pool\"; remove it or set scope = \"pool\"",
                    );
                }
            }
            ProtectScope::AccountDefault
        }
        "pool" => {
            let configuration_set = w
                .configuration_set
                .take()
                .unwrap_or_else(|| DEFAULT_CONFIGURATION_SET.into());
            if !valid_configuration_set(&configuration_set) {
                c.push(
                    "protect.configuration-set",
                    "must be 1 to 64 letters, digits, '_' or '-' (End User Messaging's rule)",
                );
            }
            let caller_role_arn = w.caller_role_arn.take().unwrap_or_default();
            if caller_role_arn.is_empty() {
                c.push(
                    "protect.caller-role-arn",
                    "is required with scope = \"pool\": the role Cognito assumes to send \
                     through End User Messaging (the stack's SmsCallerRoleArn output)",
                );
            } else if !valid_role_arn(&caller_role_arn) {
                c.push(
                    "protect.caller-role-arn",
                    "must be an IAM role ARN such as arn:aws:iam::123456789012:role/pumpguard-sms",
                );
            }
            ProtectScope::Pool(PoolScope {
                configuration_set,
                caller_role_arn,
                origination_identity: w.origination_identity.take().filter(|s| !s.is_empty()),
                external_id: w.external_id.take().filter(|s| !s.is_empty()),
            })
        }
        other => {
            c.push(
                "protect.scope",
                format!("must be \"account-default\" or \"pool\", found {other:?}"),
            );
            ProtectScope::AccountDefault
        }
    }
}

/// A per-number rule on the protect configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NumberOverride {
    /// E.164. Kept out of logs; shown in plans only as a hash.
    #[serde(skip)]
    pub number: String,
    /// ALLOW or BLOCK.
    pub action: ProtectStatus,
    /// Unix seconds.
    pub expires: Option<i64>,
}

/// `[protect]`: the End User Messaging protect configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct ProtectPolicy {
    pub enabled: bool,
    /// What the account does where the trigger blocks: BLOCK or FILTER.
    pub block_status: ProtectStatus,
    /// Deliberate exceptions to the trigger's lists.
    pub country_overrides: BTreeMap<Country, ProtectStatus>,
    pub number_overrides: Vec<NumberOverride>,
    /// Which sends it covers: the account default (the default) or the
    /// pool's own configuration set.
    pub scope: ProtectScope,
}

fn status(s: &str) -> Option<ProtectStatus> {
    match s {
        "allow" => Some(ProtectStatus::Allow),
        "monitor" => Some(ProtectStatus::Monitor),
        "block" => Some(ProtectStatus::Block),
        "filter" => Some(ProtectStatus::Filter),
        _ => None,
    }
}

impl crate::policy::Section for ProtectPolicy {
    const NAME: &'static str = "protect";
    type Wire = WireProtect;

    fn check(w: WireProtect, c: &mut Collector) -> Self {
        check_protect(w, c)
    }
}

pub(crate) fn check_protect(mut w: WireProtect, c: &mut Collector) -> ProtectPolicy {
    let scope = check_scope(&mut w, c);
    let block_status = match status(&w.block_status) {
        Some(s @ (ProtectStatus::Block | ProtectStatus::Filter)) => s,
        _ => {
            c.push(
                "protect.block-status",
                format!(
                    "must be \"block\" or \"filter\", found {:?}",
                    w.block_status
                ),
            );
            ProtectStatus::Block
        }
    };
    let mut country_overrides = BTreeMap::new();
    for (code, s) in &w.country_overrides {
        let key = format!("protect.country-overrides.{code}");
        match (Country::parse(code), status(s)) {
            (Some(country), Some(st)) => {
                country_overrides.insert(country, st);
            }
            (None, _) => c.push(key, "is not an ISO 3166-1 alpha-2 country code"),
            (_, None) => c.push(
                key,
                format!("must be allow, monitor, block or filter, found {s:?}"),
            ),
        }
    }
    let mut number_overrides = Vec::new();
    for (i, o) in w.number_overrides.iter().enumerate() {
        let key = format!("protect.number-overrides[{i}]");
        let number = match crate::phone::normalise(&o.number) {
            Ok(n) => n,
            Err(_) => {
                c.push(format!("{key}.number"), "is not an E.164 number");
                continue;
            }
        };
        let action = match status(&o.action) {
            Some(s @ (ProtectStatus::Allow | ProtectStatus::Block)) => s,
            _ => {
                c.push(
                    format!("{key}.action"),
                    format!("must be \"allow\" or \"block\", found {:?}", o.action),
                );
                continue;
            }
        };
        let expires = match &o.expires {
            None => None,
            Some(t) => {
                match time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                {
                    Ok(t) => Some(t.unix_timestamp()),
                    Err(_) => {
                        c.push(
                            format!("{key}.expires"),
                            format!("{t:?} is not an RFC 3339 time such as 2027-01-01T00:00:00Z"),
                        );
                        continue;
                    }
                }
            }
        };
        number_overrides.push(NumberOverride {
            number,
            action,
            expires,
        });
    }
    ProtectPolicy {
        enabled: w.enabled,
        block_status,
        country_overrides,
        number_overrides,
        scope,
    }
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "kebab-case", default, deny_unknown_fields)]
pub(crate) struct WireSpend {
    text_monthly_usd: Option<i64>,
    sns_monthly_usd: Option<i64>,
}

/// `[spend]`: monthly SMS spend limits, per region (USD, whole dollars).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SpendPolicy {
    /// End User Messaging's text-message monthly limit override.
    pub text_monthly_usd: Option<u64>,
    /// SNS's `MonthlySpendLimit` SMS attribute.
    pub sns_monthly_usd: Option<u64>,
}

impl crate::policy::Section for SpendPolicy {
    const NAME: &'static str = "spend";
    type Wire = WireSpend;

    fn check(w: WireSpend, c: &mut Collector) -> Self {
        check_spend(w, c)
    }
}

pub(crate) fn check_spend(w: WireSpend, c: &mut Collector) -> SpendPolicy {
    let mut usd = |v: Option<i64>, key: &str| match v {
        None => None,
        Some(v) if (0..=1_000_000).contains(&v) => u64::try_from(v).ok(),
        Some(v) => {
            c.push(
                key,
                format!("must be whole US dollars between 0 and 1000000, found {v}"),
            );
            None
        }
    };
    SpendPolicy {
        text_monthly_usd: usd(w.text_monthly_usd, "spend.text-monthly-usd"),
        sns_monthly_usd: usd(w.sns_monthly_usd, "spend.sns-monthly-usd"),
    }
}
