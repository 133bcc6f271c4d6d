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
    phonenumber::metadata::DATABASE
        .iter()
        .map(|m| m.id())
        .filter(|id| !matches!(*id, "AC" | "TA" | "XK" | "001"))
        .filter_map(Country::parse)
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
