//! `pumpguard plan`, `apply` and `status`: read the account region by region,
//! plan with the pure per-resource planners, and apply in a safe order.
//!
//! Per region: the pool's region gets everything (published policy, protect
//! configuration, spend limits, web ACL, user-pool triggers); every other
//! `sms-regions` entry gets the protect configuration and spend limits.
//! Within a region, changes apply in ascending `order`: the trigger's policy
//! first (so it runs with it from its first call), then the account's SMS
//! protections, the web ACL, and the pool's triggers last. A failure stops
//! the run and reports what was applied and what was not; running `apply`
//! again plans from what is there, so it converges.

use std::io::IsTerminal;

use anyhow::{bail, Context};
use pumpguard_engine::account::{ProtectScope, UserPoolPolicy};
use pumpguard_engine::Policy;
use serde::Serialize;

use crate::converge::{self, Clients, Desired};
use crate::plan::{Change, Plan, RegionPlan, Write};

/// How to reach AWS: the standard credential chain plus these overrides.
#[derive(Debug, Clone, Default)]
pub struct Connection {
    pub profile: Option<String>,
    /// Only this region of the policy's regions.
    pub region: Option<String>,
    /// Endpoint override for every service (local servers).
    pub endpoint_url: Option<String>,
}

impl Connection {
    /// The SDK configuration for one region.
    pub async fn config(&self, region: &str) -> aws_config::SdkConfig {
        self.config_in(Some(region)).await
    }

    /// The SDK configuration, in `region` or the one the standard chain
    /// finds. An explicit profile wins over keys in the environment, as in
    /// the AWS CLI: `--profile prod` must never sign with whatever
    /// `AWS_ACCESS_KEY_ID` the shell happens to hold.
    pub async fn config_in(&self, region: Option<&str>) -> aws_config::SdkConfig {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(r) = region {
            loader = loader.region(aws_config::Region::new(r.to_string()));
        }
        if let Some(p) = &self.profile {
            loader = loader.profile_name(p).credentials_provider(
                aws_config::profile::ProfileFileCredentialsProvider::builder()
                    .profile_name(p)
                    .build(),
            );
        }
        if let Some(url) = &self.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        loader.load().await
    }
}

/// The policy's `[user-pool]`, or an error saying how to add it.
pub fn user_pool(policy: &Policy) -> anyhow::Result<&UserPoolPolicy> {
    policy.user_pool.as_ref().context(
        "the policy has no [user-pool] section: add `id` (the pool id), `trigger-arn` (the \
         stack's TriggerArn output) and `table` (its TableName output)",
    )
}

/// The regions to work on, the pool's first.
pub fn regions(pool: &UserPoolPolicy, only: Option<&str>) -> anyhow::Result<Vec<String>> {
    match only {
        None => Ok(pool.sms_regions.clone()),
        Some(r) if pool.sms_regions.iter().any(|x| x == r) => Ok(vec![r.to_string()]),
        Some(r) => bail!(
            "--region {r} is not one of the policy's regions ({}); add it to user-pool.sms-regions",
            pool.sms_regions.join(", ")
        ),
    }
}

/// Reads one region and plans it.
pub async fn plan_region(clients: &Clients, d: &Desired<'_>) -> anyhow::Result<RegionPlan> {
    let pool_region = clients.region == d.pool.region;
    let mut changes: Vec<Change> = Vec::new();
    let mut warnings: Vec<String> = Vec::new();
    let mut in_force: Vec<String> = Vec::new();
    let mut broken: Vec<String> = Vec::new();
    let mut add = |(c, w): (Vec<Change>, Vec<String>)| {
        changes.extend(c);
        warnings.extend(w);
    };
    let region = &clients.region;
    if pool_region {
        let o = converge::published::read(clients, d).await?;
        in_force.push(match &o.published {
            Some(p) => format!(
                "published policy: sha256 {} ({})",
                &p.digest.chars().take(12).collect::<String>(),
                if p.digest == d.policy.digest {
                    "this policy"
                } else {
                    "another policy"
                }
            ),
            None => "published policy: none (triggers use their bootstrap policy)".into(),
        });
        add(converge::published::plan(d, &o));
    }
    if d.policy.protect.enabled {
        let o = converge::protect::read(clients, d)
            .await
            .with_context(|| format!("reading the protect configuration in {region}"))?;
        in_force.push(match o.account_default() {
            Some(c) if c.owned => format!("protect account default: {} (pumpguard's)", c.id),
            Some(c) => format!("protect account default: {} (not pumpguard's)", c.id),
            None => "protect account default: none (every country allowed)".into(),
        });
        in_force.push(match (&d.policy.protect.scope, &o.configuration_set) {
            (ProtectScope::AccountDefault, _) => {
                "protect scope: account-default (pumpguard's configuration judges every SMS \
                 the account sends in this region)"
                    .to_string()
            }
            (ProtectScope::Pool(_), _) if !o.pool_region => format!(
                "protect scope: pool (the pool sends through End User Messaging in {}; \
                 nothing here is associated with it)",
                d.pool.region
            ),
            (ProtectScope::Pool(_), Some(set)) => format!(
                "protect scope: pool (configuration set {}{})",
                set.name,
                match (&set.protect_configuration_id, &o.owned) {
                    (Some(id), Some(owned)) if *id == owned.id => {
                        format!(", associated with pumpguard's {id}")
                    }
                    (Some(id), _) => format!(", associated with {id}, not pumpguard's"),
                    (None, _) => ", no protect configuration associated".into(),
                }
            ),
            (ProtectScope::Pool(s), None) => format!(
                "protect scope: pool (configuration set {} not created yet)",
                s.configuration_set
            ),
        });
        let counts = o.sms_rule_counts();
        if !counts.is_empty() {
            let parts: Vec<String> = counts.iter().map(|(s, n)| format!("{s} {n}")).collect();
            in_force.push(format!(
                "pumpguard's SMS country rules: {}",
                parts.join(", ")
            ));
        }
        add(converge::protect::plan(d, &o));
    }
    let o = converge::spend::read(clients, d)
        .await
        .with_context(|| format!("reading the spend limits in {region}"))?;
    if let Some(t) = &o.text {
        in_force.push(format!(
            "End User Messaging text monthly limit: ${} (maximum ${}{})",
            t.enforced_usd,
            t.max_usd,
            if t.overridden { ", overridden" } else { "" }
        ));
    }
    in_force.push(format!(
        "SNS MonthlySpendLimit: {} (month-to-date spend: CloudWatch AWS/SNS SMSMonthToDateSpentUSD)",
        o.sns_monthly_usd
            .as_deref()
            .map_or_else(|| "not readable or not set".to_string(), |v| format!("${v}"))
    ));
    add(converge::spend::plan(d, &o));
    if pool_region {
        let o = converge::waf::read(clients, d)
            .await
            .with_context(|| format!("reading the web ACL of {} in {region}", d.pool.id))?;
        in_force.push(match &o.associated {
            Some(acl) => format!(
                "web ACL on the pool: {} ({}, {} rules)",
                acl.name,
                if acl.owned {
                    "pumpguard's"
                } else {
                    "not pumpguard's"
                },
                acl.rules.len()
            ),
            None => "web ACL on the pool: none".into(),
        });
        add(converge::waf::plan(d, &o));
        let o = converge::pool::read(clients, d)
            .await
            .with_context(|| format!("reading user pool {} in {region}", d.pool.id))?;
        for slot in converge::pool::TriggerSlot::ALL {
            in_force.push(format!(
                "{slot} trigger: {}",
                o.triggers.get(&slot).map_or("(none)", String::as_str)
            ));
        }
        in_force.push(format!(
            "CustomSMSSender trigger: {} (KMSKeyID {})",
            o.other_triggers
                .get("CustomSMSSender")
                .map_or("(none)", String::as_str),
            o.other_triggers
                .get("KMSKeyID")
                .map_or("(none)", String::as_str)
        ));
        in_force.push(format!(
            "invoke permission for the pool: {:?}",
            o.permission
        ));
        if o.sender_permission != converge::pool::InvokePermission::NotChecked {
            in_force.push(format!(
                "invoke permission for the Custom SMS Sender: {:?}",
                o.sender_permission
            ));
        }
        broken.extend(converge::pool::broken(d, &o));
        add(converge::pool::plan(d, &o)?);
    }
    changes.sort_by_key(|c| c.order);
    Ok(RegionPlan {
        region: region.clone(),
        changes,
        warnings,
        in_force,
        broken,
    })
}

/// Reads every region and plans it.
pub async fn plan(
    conn: &Connection,
    d: &Desired<'_>,
    regions: &[String],
) -> anyhow::Result<(Plan, Vec<Clients>)> {
    let mut out = Vec::new();
    let mut clients = Vec::new();
    for (i, region) in regions.iter().enumerate() {
        if regions.len() > 1 {
            eprintln!("reading {region} ({}/{})", i + 1, regions.len());
        }
        let c = Clients::new(&conn.config(region).await);
        out.push(plan_region(&c, d).await?);
        clients.push(c);
    }
    Ok((Plan { regions: out }, clients))
}

/// What `apply` did.
#[derive(Debug, Default, Serialize)]
pub struct ApplyReport {
    pub applied: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub failed: Option<String>,
    pub not_applied: Vec<String>,
}

fn label(region: &str, c: &Change) -> String {
    format!("{region}: {} {} {}", c.action, c.resource, c.name)
}

async fn run_write(clients: &Clients, w: &Write) -> anyhow::Result<()> {
    match w {
        Write::Published(w) => converge::published::apply(clients, w).await,
        Write::Protect(w) => converge::protect::apply(clients, w).await,
        Write::Spend(w) => converge::spend::apply(clients, w).await,
        Write::Waf(w) => converge::waf::apply(clients, w).await,
        Write::Pool(w) => converge::pool::apply(clients, w).await,
    }
}

/// Carries out a plan, region by region, change by change, stopping at the
/// first failure.
pub async fn apply(plan: &Plan, clients: &[Clients]) -> ApplyReport {
    let mut report = ApplyReport::default();
    let all: Vec<(&RegionPlan, &Change)> = plan
        .regions
        .iter()
        .flat_map(|r| r.changes.iter().map(move |c| (r, c)))
        .collect();
    for (i, (r, c)) in all.iter().enumerate() {
        let Some(cl) = clients.iter().find(|cl| cl.region == r.region) else {
            report.failed = Some(format!("{}: no client for the region", label(&r.region, c)));
            report.not_applied = all[i + 1..]
                .iter()
                .map(|(r, c)| label(&r.region, c))
                .collect();
            return report;
        };
        eprintln!("applying {}", label(&r.region, c));
        for w in &c.writes {
            if let Err(e) = run_write(cl, w).await {
                report.failed = Some(format!("{}: {e:#}", label(&r.region, c)));
                report.not_applied = all[i + 1..]
                    .iter()
                    .map(|(r, c)| label(&r.region, c))
                    .collect();
                return report;
            }
        }
        report.applied.push(label(&r.region, c));
    }
    report
}

/// Asks for confirmation on a terminal; `--yes` skips it; without a terminal
/// and without `--yes` nothing is applied.
pub fn confirm(changes: usize, yes: bool) -> anyhow::Result<bool> {
    if yes {
        return Ok(true);
    }
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        bail!(
            "not on a terminal, so apply cannot ask for confirmation: review `pumpguard plan`, then \
             run `pumpguard apply --yes`"
        );
    }
    eprint!(
        "Apply {changes} change{}? Type `yes` to continue: ",
        if changes == 1 { "" } else { "s" }
    );
    let mut answer = String::new();
    stdin.read_line(&mut answer)?;
    Ok(answer.trim() == "yes")
}
