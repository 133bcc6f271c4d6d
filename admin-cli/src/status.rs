//! `pumpguard status`: what is in force, per region, and how it drifts from
//! the policy. Drift is exactly the plan: a resource with a pending change
//! has drifted; warnings explain what pumpguard leaves alone.

use std::fmt;

use serde::Serialize;

use crate::plan::{Change, Plan};

/// One region's status.
#[derive(Debug, Serialize)]
pub struct RegionStatus {
    pub region: String,
    pub in_sync: bool,
    /// What is in force and cannot work, each with its fix.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub broken: Vec<String>,
    /// What is in force now.
    pub in_force: Vec<String>,
    pub drift: Vec<Change>,
    pub notes: Vec<String>,
}

/// The status of every region.
#[derive(Debug, Serialize)]
pub struct Status {
    pub regions: Vec<RegionStatus>,
}

/// Exit code of `status` when a region has drifted from the policy.
pub const EXIT_DRIFTED: u8 = 2;
/// Exit code of `status` when what is in force cannot work (it outranks
/// drift).
pub const EXIT_BROKEN: u8 = 3;

impl Status {
    /// 0 in sync, [`EXIT_DRIFTED`], or [`EXIT_BROKEN`].
    pub fn exit_code(&self) -> u8 {
        if self.regions.iter().any(|r| !r.broken.is_empty()) {
            EXIT_BROKEN
        } else if self.regions.iter().any(|r| !r.in_sync) {
            EXIT_DRIFTED
        } else {
            0
        }
    }

    pub fn from_plan(plan: &Plan) -> Self {
        Self {
            regions: plan
                .regions
                .iter()
                .map(|r| RegionStatus {
                    region: r.region.clone(),
                    in_sync: r.changes.is_empty(),
                    broken: r.broken.clone(),
                    in_force: r.in_force.clone(),
                    drift: r.changes.clone(),
                    notes: r.warnings.clone(),
                })
                .collect(),
        }
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for r in &self.regions {
            let state = match (r.broken.is_empty(), r.in_sync) {
                (false, _) => "BROKEN",
                (true, true) => "in sync with the policy",
                (true, false) => "DRIFTED",
            };
            writeln!(f, "region {}: {state}", r.region)?;
            for b in &r.broken {
                writeln!(f, "  broken: {b}")?;
            }
            for line in &r.in_force {
                writeln!(f, "  {line}")?;
            }
            for c in &r.drift {
                writeln!(f, "  drift: {} {} needs {}", c.resource, c.name, c.action)?;
                for field in &c.fields {
                    writeln!(
                        f,
                        "    {}: is {}, policy wants {}",
                        field.field,
                        field.from.as_deref().unwrap_or("(absent)"),
                        field.to.as_deref().unwrap_or("(absent)")
                    )?;
                }
            }
            for n in &r.notes {
                writeln!(f, "  note: {n}")?;
            }
        }
        Ok(())
    }
}
