//! `pumpguard check`: the trigger's engine, run offline on one number.
//!
//! The JSON output is the serialized [`CheckOutput`]; the text output renders
//! the same value.

use std::fmt::Write as _;
use std::sync::Arc;

use pumpguard_engine::engine::Finding;
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::stateful::{judge as judge_with_state, Subject};
use pumpguard_engine::store::MemoryStore;
use pumpguard_engine::{Engine, Policy, TriggerSource, Verdict};
use serde::Serialize;

use crate::Output;

/// What `check` reports.
#[derive(Debug, Serialize)]
pub struct CheckOutput {
    /// `allow`, `monitor` or `block`; absent when only a policy was checked.
    #[serde(skip_serializing_if = "Option::is_none")]
    verdict: Option<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    source: Option<TriggerSource>,
    /// The region the number resolves to, `null` when none.
    #[serde(skip_serializing_if = "Option::is_none")]
    country: Option<Option<String>>,
    /// The libphonenumber type, `null` when the number does not parse.
    #[serde(skip_serializing_if = "Option::is_none")]
    number_type: Option<Option<String>>,
    /// Stable reason codes of every finding.
    #[serde(skip_serializing_if = "Option::is_none")]
    reasons: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    findings: Option<Vec<Finding>>,
    /// The code the trigger would return to Cognito.
    #[serde(skip_serializing_if = "Option::is_none")]
    error_code: Option<String>,
    /// Set when the trigger would not judge this send at all.
    #[serde(skip_serializing_if = "Option::is_none")]
    note: Option<String>,
    policy: PolicySummary,
}

#[derive(Debug, Serialize)]
struct PolicySummary {
    origin: String,
    sha256: String,
}

impl CheckOutput {
    pub fn blocked(&self) -> bool {
        self.verdict == Some(Verdict::Block)
    }

    pub fn render(&self, output: Output) -> anyhow::Result<String> {
        Ok(match output {
            Output::Json => serde_json::to_string_pretty(self)? + "\n",
            Output::Text => self.text(),
        })
    }

    fn text(&self) -> String {
        let mut s = String::new();
        let opt = |v: &Option<Option<String>>| {
            v.clone().flatten().unwrap_or_else(|| "(none)".to_string())
        };
        if let Some(v) = self.verdict {
            let _ = writeln!(s, "verdict:      {v}");
            if let Some(src) = self.source {
                let _ = writeln!(s, "source:       {src}");
            }
            let _ = writeln!(s, "country:      {}", opt(&self.country));
            let _ = writeln!(s, "number type:  {}", opt(&self.number_type));
            match self.findings.as_deref() {
                Some([]) | None => {
                    let _ = writeln!(s, "reasons:      (none)");
                }
                Some(findings) => {
                    for (i, f) in findings.iter().enumerate() {
                        let label = if i == 0 { "reasons:" } else { "" };
                        let action = match f.mode {
                            pumpguard_engine::policy::Mode::Enforce => "blocks",
                            _ => "monitored",
                        };
                        let _ = writeln!(s, "{label:<14}{} ({action})", f.reason.code());
                    }
                }
            }
            if let Some(code) = &self.error_code {
                let _ = writeln!(s, "error code:   {code}");
            }
            if let Some(note) = &self.note {
                let _ = writeln!(s, "note:         {note}");
            }
        } else {
            let _ = writeln!(s, "policy is valid");
        }
        let _ = writeln!(
            s,
            "policy:       {} (sha256 {})",
            self.policy.origin,
            &self.policy.sha256[..12]
        );
        s
    }
}

fn summary(policy: &Policy, origin: &str) -> PolicySummary {
    PolicySummary {
        origin: origin.to_string(),
        sha256: policy.digest.clone(),
    }
}

/// `check --policy FILE` without a number.
pub fn validate(policy: &Policy, origin: &str) -> CheckOutput {
    CheckOutput {
        verdict: None,
        source: None,
        country: None,
        number_type: None,
        reasons: None,
        findings: None,
        error_code: None,
        note: None,
        policy: summary(policy, origin),
    }
}

/// `check PHONE`: what the trigger would do for a first SMS to this number,
/// with every guard, the stateful ones on an empty in-memory store.
pub fn judge(
    policy: &Policy,
    origin: &str,
    source: TriggerSource,
    phone: &str,
    now: i64,
) -> anyhow::Result<CheckOutput> {
    let engine = Engine::new(Arc::new(policy.clone()));
    let store = MemoryStore::new();
    let subject = Subject {
        source,
        phone,
        user: None,
        now,
    };
    let d = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()?
        .block_on(judge_with_state(
            &engine,
            &store,
            &PhoneHasher::unkeyed(),
            subject,
        ));
    let sms_bound = policy.trigger.sms_sources.contains(&source);
    let (verdict, note, error_code) = if sms_bound {
        (d.verdict, None, d.block_code(policy.trigger.disclosure))
    } else {
        (
            Verdict::Allow,
            Some(format!(
                "{source} is not in trigger.sms-sources: the trigger passes it untouched; the \
                 findings show what it would decide if it were"
            )),
            None,
        )
    };
    Ok(CheckOutput {
        verdict: Some(verdict),
        source: Some(source),
        country: Some(d.country.map(|c| c.to_string())),
        number_type: Some(d.number_type.map(|t| t.as_str().to_string())),
        reasons: Some(d.reasons()),
        findings: Some(d.findings.clone()),
        error_code,
        note,
        policy: summary(policy, origin),
    })
}
