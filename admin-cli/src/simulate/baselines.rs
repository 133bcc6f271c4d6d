//! The other approaches `pumpguard simulate` compares against, each written
//! as a policy for the same engine so that only the rules differ:
//!
//! - **a. no guard**: every check off.
//! - **b. country allowlist**: seed 004's first layer, a list of allowed
//!   calling codes checked with `startsWith`. Modelled as every region that
//!   shares a calling code with the compared policy's allowed countries, so
//!   "+1 is allowed" lets every Caribbean +1 number through, as it does there.
//! - **c. cooldown + blocklist**: seed 000: 60 s cooldown, 5 minutes after
//!   three sends in ten minutes, its eight default blocked calling codes,
//!   number validation, typo and repeated/sequential digit checks.
//! - **d. global rate + exponential delay**: seeds 002/003: one pool-wide
//!   limit (30 a minute, about 15 times this pool's legitimate peak) and a
//!   per-phone delay that doubles from 30 s, reset after an hour.
//! - **e. prefix velocity + number types**: seed 001: at most 10 sends a day
//!   per number prefix (all but the last 3 digits), phone types LANDLINE,
//!   VOIP, INVALID and OTHER refused, its example blocked countries (SB, MH).
//!   Its WAF rules and IP risk score act before the trigger and are not
//!   modelled.

use pumpguard_engine::Policy;

/// Every check off; the sections a baseline turns on are appended after.
const ALL_OFF: &str = r#"version = 1
[number-types]
mode = "off"
[form]
mode = "off"
[suspicious]
mode = "off"
[cooldown]
mode = "off"
[user-limits]
mode = "off"
[prefix-velocity]
mode = "off"
[country-velocity]
mode = "off"
conversion-mode = "off"
[pool-rate]
mode = "off"
[budget]
mode = "off"
[known-numbers]
mode = "off"
[cohorts]
mode = "off"
conversion-mode = "off"
"#;

const OPEN_COUNTRIES: &str = r#"[countries]
mode = "off"
allow = []
unlisted = "allow"
crown-dependencies = "separate"
"#;

/// A baseline: its short name and policy.
#[derive(Debug, Clone)]
pub struct Baseline {
    pub name: &'static str,
    pub policy: Policy,
}

fn parse(name: &'static str, sections: &str) -> anyhow::Result<Baseline> {
    // Later sections replace the all-off ones of the same name.
    let mut text = String::new();
    let replaced: Vec<&str> = sections.lines().filter(|l| l.starts_with('[')).collect();
    let mut skip = false;
    for line in ALL_OFF.lines() {
        if line.starts_with('[') {
            skip = replaced.contains(&line);
        }
        if !skip {
            text.push_str(line);
            text.push('\n');
        }
    }
    text.push_str(sections);
    let policy = Policy::parse(&text, &format!("baseline {name}"))?;
    Ok(Baseline { name, policy })
}

/// Every region sharing a calling code with one of `allowed`.
fn regions_sharing_codes(allowed: &[String]) -> Vec<String> {
    let util = pumpguard_engine::phone::util();
    let mut out: Vec<String> = allowed
        .iter()
        .filter_map(|r| rlibphonenumber::Region::from_code(r).ok())
        .filter_map(|r| util.get_country_code_for_region(r))
        .filter_map(|code| util.get_regions_for_country_calling_code(code))
        .flatten()
        .map(|r| r.as_region_str().as_str().to_string())
        .filter(|r| r != "001")
        .collect();
    out.sort();
    out.dedup();
    out
}

fn quoted(list: &[String]) -> String {
    list.iter()
        .map(|c| format!("{c:?}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The five baselines; (b) is built from `ours`' allowed countries.
pub fn all(ours: &Policy) -> anyhow::Result<Vec<Baseline>> {
    let allowed: Vec<String> = ours
        .countries
        .allow
        .iter()
        .map(|c| c.as_str().to_string())
        .collect();
    let by_code = regions_sharing_codes(&allowed);
    Ok(vec![
        parse("a. no guard", OPEN_COUNTRIES)?,
        parse(
            "b. country allowlist",
            &format!(
                "[countries]\nmode = \"enforce\"\nallow = [{}]\nunlisted = \"block\"\ncrown-dependencies = \"separate\"\n",
                quoted(&by_code)
            ),
        )?,
        parse(
            "c. cooldown + blocklist",
            r#"[countries]
mode = "enforce"
allow = []
block = ["TG", "KG", "TJ", "UZ", "TM", "AZ", "BD", "PK"]
unlisted = "allow"
crown-dependencies = "separate"
[form]
mode = "enforce"
[suspicious]
mode = "enforce"
max-repeated-digits = 6
max-sequential-digits = 7
[cooldown]
mode = "enforce"
ladder-seconds = [60, 60, 300]
reset-after-seconds = 600
"#,
        )?,
        parse(
            "d. global rate + delay",
            &format!(
                "{OPEN_COUNTRIES}{}",
                r#"[pool-rate]
mode = "enforce"
max-per-minute = 30
max-per-hour = 1000000
[cooldown]
mode = "enforce"
ladder-seconds = [30, 60, 120, 240, 480, 960, 1920]
reset-after-seconds = 3600
"#
            ),
        )?,
        parse(
            "e. prefix velocity + types",
            r#"[countries]
mode = "enforce"
allow = []
block = ["SB", "MH"]
unlisted = "allow"
crown-dependencies = "separate"
[form]
mode = "enforce"
[number-types]
mode = "enforce"
block = [
  "fixed-line", "voip", "unknown", "toll-free", "premium-rate", "shared-cost",
  "personal-number", "pager", "uan", "voicemail",
]
[prefix-velocity]
mode = "enforce"
hidden-digits = 3
window-seconds = 86400
max-sends = 10
"#,
        )?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guard added to the engine with its own mode, but not turned off
    /// here, would run at its defaults inside every baseline.
    #[test]
    fn all_off_turns_every_guard_off() {
        let text = format!("{ALL_OFF}{OPEN_COUNTRIES}");
        let policy = Policy::parse(&text, "all off").unwrap_or_else(|e| panic!("{e}"));
        let value = serde_json::to_value(&policy).unwrap_or_default();
        // Not guards: the ceiling, the registration gate and account resources.
        let not_guards = [
            "trigger",
            "pre-sign-up",
            "waf",
            "protect",
            "spend",
            "user-pool",
        ];
        let mut left = Vec::new();
        for (section, body) in value.as_object().into_iter().flatten() {
            if not_guards.contains(&section.as_str()) {
                continue;
            }
            for (key, v) in body.as_object().into_iter().flatten() {
                if key.ends_with("mode") && v != "off" {
                    left.push(format!("{section}.{key} = {v}"));
                }
            }
        }
        assert!(left.is_empty(), "ALL_OFF leaves these on: {left:?}");
    }
}
