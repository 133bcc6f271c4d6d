//! `pumpguard render cloudformation`: writes the generated blocks of the
//! CloudFormation template from `waf/` and the policy.
//!
//! The template is hand-written except for blocks between
//! `# BEGIN GENERATED <name>` and `# END GENERATED <name>`; rendering replaces
//! each block's body (JSON, which is valid YAML) at the block's indentation.
//! Rendering the committed template with the example policy must give the
//! committed template back (a test checks it).

use anyhow::{bail, Context};
use pumpguard_engine::account::ProtectStatus;
use pumpguard_engine::Policy;
use serde_json::{json, Value};

/// The value with every object's keys in sorted order, whatever the
/// `serde_json` features of the build (`preserve_order` keeps insertion order).
fn sorted(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut entries: Vec<(String, Value)> = map.into_iter().collect();
            entries.sort_by(|a, b| a.0.cmp(&b.0));
            Value::Object(entries.into_iter().map(|(k, v)| (k, sorted(v))).collect())
        }
        Value::Array(items) => Value::Array(items.into_iter().map(sorted).collect()),
        other => other,
    }
}

/// The generated blocks, by name.
pub fn blocks(policy: &Policy) -> anyhow::Result<Vec<(&'static str, String)>> {
    let rules: Vec<Value> = pumpguard_waf::rules_for(policy)
        .iter()
        .map(|r| sorted(r.to_cloudformation()))
        .collect();
    let protect: Vec<String> = policy
        .protect_rules(ProtectStatus::Block)
        .iter()
        .map(|(country, status)| {
            serde_json::to_string(
                &json!({"CountryCode": country.as_str(), "ProtectStatus": status.as_str()}),
            )
        })
        .collect::<Result<_, _>>()?;
    let protect = if protect.is_empty() {
        "[]".to_string()
    } else {
        format!("[\n  {}\n]", protect.join(",\n  "))
    };
    Ok(vec![
        ("waf-rules", serde_json::to_string_pretty(&rules)?),
        ("protect-sms-rules", protect),
    ])
}

/// Replaces every generated block of `template`; errors name a missing or
/// unterminated block.
pub fn render(template: &str, policy: &Policy) -> anyhow::Result<String> {
    let mut out = template.to_string();
    for (name, body) in blocks(policy)? {
        let begin = format!("# BEGIN GENERATED {name}");
        let end = format!("# END GENERATED {name}");
        let Some(b) = out.find(&begin) else {
            bail!("the template has no `{begin}` line; restore it from the repository");
        };
        let line_start = out[..b].rfind('\n').map_or(0, |i| i + 1);
        let indent = &out[line_start..b];
        if !indent.chars().all(|c| c == ' ') {
            bail!("`{begin}` must be alone on its line");
        }
        let body_start = b + begin.len() + 1;
        let Some(e) = out[body_start..].find(&end) else {
            bail!("`{begin}` has no matching `{end}`");
        };
        let e = body_start + e;
        let end_line_start = out[..e].rfind('\n').map_or(0, |i| i + 1);
        let indented: String = body.lines().map(|l| format!("{indent}{l}\n")).collect();
        out.replace_range(body_start..end_line_start, &indented);
    }
    Ok(out)
}

/// The command: print, write in place, or check.
pub fn run(policy: &Policy, template_path: &std::path::Path, mode: Mode) -> anyhow::Result<bool> {
    let template = std::fs::read_to_string(template_path)
        .with_context(|| format!("cannot read {}", template_path.display()))?;
    let rendered = render(&template, policy)?;
    match mode {
        Mode::Print => {
            print!("{rendered}");
            Ok(true)
        }
        Mode::Write => {
            if rendered != template {
                std::fs::write(template_path, &rendered)
                    .with_context(|| format!("cannot write {}", template_path.display()))?;
                eprintln!("updated {}", template_path.display());
            } else {
                eprintln!("{} is up to date", template_path.display());
            }
            Ok(true)
        }
        Mode::Check => {
            if rendered == template {
                eprintln!("{} is up to date", template_path.display());
                Ok(true)
            } else {
                eprintln!(
                    "{} is out of date with the policy or waf/; run `pumpguard render \
                     cloudformation --policy POLICY --template {} --write`",
                    template_path.display(),
                    template_path.display()
                );
                Ok(false)
            }
        }
    }
}

/// What `render` does with the result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Print,
    Write,
    Check,
}
