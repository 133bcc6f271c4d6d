//! A plan is a value: what `pumpguard apply` would change, resource by
//! resource and field by field, computed by pure functions from the desired
//! state (the policy) and the observed state (what the account's read calls
//! returned). `plan` prints it; only `apply` carries out its [`Write`]s.

use std::fmt;

use serde::Serialize;

/// What happens to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Action {
    Create,
    Update,
    Delete,
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Action::Create => "create",
            Action::Update => "update",
            Action::Delete => "delete",
        })
    }
}

/// One field's change, rendered for people (`from` → `to`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FieldChange {
    pub field: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
}

impl FieldChange {
    pub fn new(field: impl Into<String>, from: Option<String>, to: Option<String>) -> Self {
        Self {
            field: field.into(),
            from,
            to,
        }
    }
}

/// The write calls that carry out one change, in order. Each resource
/// module defines its own and executes it in its `apply`.
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    Protect(crate::converge::protect::ProtectWrite),
    Spend(crate::converge::spend::SpendWrite),
    Waf(crate::converge::waf::WafWrite),
    Pool(crate::converge::pool::PoolWrite),
    Published(crate::converge::published::PublishedWrite),
}

/// One resource to create, update or delete.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Change {
    /// Kind of resource, e.g. `protect-configuration`, `web-acl`.
    pub resource: String,
    /// Which one: a name or id, never a secret or phone number.
    pub name: String,
    pub action: Action,
    pub fields: Vec<FieldChange>,
    /// Applied in ascending order across a region (safe order).
    #[serde(skip)]
    pub order: u8,
    #[serde(skip)]
    pub writes: Vec<Write>,
}

/// Everything for one region.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RegionPlan {
    pub region: String,
    pub changes: Vec<Change>,
    /// Things the user should know that are not changes (disagreements,
    /// foreign resources left alone, missing permissions).
    pub warnings: Vec<String>,
    /// What is in force now, one line per fact (shown by `status`).
    #[serde(skip)]
    pub in_force: Vec<String>,
    /// What is in force and cannot work (pumpguard's trigger wired where
    /// Cognito may not invoke it), each with its fix: `status` exits 3.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub broken: Vec<String>,
}

/// The whole plan.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Plan {
    pub regions: Vec<RegionPlan>,
}

impl Plan {
    /// No change anywhere (warnings do not count).
    pub fn is_empty(&self) -> bool {
        self.regions.iter().all(|r| r.changes.is_empty())
    }

    /// Number of changes.
    pub fn len(&self) -> usize {
        self.regions.iter().map(|r| r.changes.len()).sum()
    }
}

impl fmt::Display for Plan {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.regions {
            writeln!(f, "region {}:", r.region)?;
            if r.changes.is_empty() {
                writeln!(f, "  no changes")?;
            }
            for c in &r.changes {
                let sign = match c.action {
                    Action::Create => '+',
                    Action::Update => '~',
                    Action::Delete => '-',
                };
                writeln!(f, "  {sign} {} {} ({})", c.resource, c.name, c.action)?;
                for field in &c.fields {
                    match (&field.from, &field.to) {
                        (Some(a), Some(b)) => writeln!(f, "      {}: {a} -> {b}", field.field)?,
                        (None, Some(b)) => writeln!(f, "      {}: {b}", field.field)?,
                        (Some(a), None) => writeln!(f, "      {}: {a} -> (removed)", field.field)?,
                        (None, None) => writeln!(f, "      {}", field.field)?,
                    }
                }
            }
            for w in &r.warnings {
                writeln!(f, "  ! {w}")?;
            }
        }
        let n = self.len();
        if n == 0 {
            write!(f, "No changes: the account matches the policy.")
        } else {
            write!(f, "{n} change{} to apply.", if n == 1 { "" } else { "s" })
        }
    }
}

/// Summarises a set of countries for people: `US, CA, GB` or
/// `AD, AE, AF … (212 countries)`.
pub fn countries_summary<'a>(codes: impl IntoIterator<Item = &'a str>) -> String {
    let codes: Vec<&str> = codes.into_iter().collect();
    match codes.len() {
        0 => "(none)".to_string(),
        n if n <= 12 => codes.join(", "),
        n => format!("{} … ({n} countries)", codes[..8].join(", ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> Plan {
        Plan {
            regions: vec![
                RegionPlan {
                    region: "us-east-1".into(),
                    changes: vec![
                        Change {
                            resource: "published-policy".into(),
                            name: "pumpguard-StateTable".into(),
                            action: Action::Update,
                            fields: vec![FieldChange::new(
                                "sha256",
                                Some("0123456789ab".into()),
                                Some("ba9876543210".into()),
                            )],
                            order: 0,
                            writes: vec![],
                        },
                        Change {
                            resource: "protect-configuration".into(),
                            name: "(new)".into(),
                            action: Action::Create,
                            fields: vec![
                                FieldChange::new(
                                    "SMS countries → ALLOW",
                                    None,
                                    Some(countries_summary(["CA", "GB", "US"])),
                                ),
                                FieldChange::new(
                                    "SMS countries → BLOCK",
                                    None,
                                    Some(countries_summary([
                                        "AD", "AE", "AF", "AG", "AI", "AL", "AM", "AO", "AR", "AS",
                                        "AT", "AU", "AW",
                                    ])),
                                ),
                                FieldChange::new(
                                    "account default",
                                    Some("no".into()),
                                    Some("yes".into()),
                                ),
                            ],
                            order: 10,
                            writes: vec![],
                        },
                    ],
                    warnings: vec![
                        "the pool's web ACL is not pumpguard's: only pumpguard-* rules are managed"
                            .into(),
                    ],
                    in_force: vec![],
                    broken: vec![],
                },
                RegionPlan {
                    region: "eu-west-1".into(),
                    changes: vec![],
                    warnings: vec![],
                    in_force: vec![],
                    broken: vec![],
                },
            ],
        }
    }

    #[test]
    fn rendered_plan() {
        insta::assert_snapshot!(sample().to_string());
        insta::assert_json_snapshot!(sample());
    }

    #[test]
    fn empty_plan() {
        let mut p = sample();
        for r in &mut p.regions {
            r.changes.clear();
        }
        assert!(p.is_empty());
        assert_eq!(p.len(), 0);
        assert!(p
            .to_string()
            .ends_with("No changes: the account matches the policy."));
    }
}
