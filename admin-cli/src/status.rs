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

impl Status {
    pub fn from_plan(plan: &Plan) -> Self {
        Self {
            regions: plan
                .regions
                .iter()
                .map(|r| RegionStatus {
                    region: r.region.clone(),
                    in_sync: r.changes.is_empty(),
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
            let state = if r.in_sync {
                "in sync with the policy"
            } else {
                "DRIFTED"
            };
            writeln!(f, "region {}: {state}", r.region)?;
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
