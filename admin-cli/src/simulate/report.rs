//! The `--report` page of `simulate`: the headline for the policy under
//! test (fraud cost blocked, legitimate SMS blocked), the comparison table,
//! and per scenario a chart per policy of SMS per hour by verdict and label,
//! mistyped numbers kept apart from legitimate ones (`crate::report` draws
//! them).

use maud::{html, Markup};
use plotters::style::RGBColor;

use super::{Simulation, Stats, HOURLY};
use crate::report::{figure, page, pct, time_chart, Series};

const COLOURS: [RGBColor; 6] = [
    RGBColor(100, 116, 139),
    RGBColor(245, 158, 11),
    RGBColor(167, 139, 250),
    RGBColor(109, 40, 217),
    RGBColor(220, 38, 38),
    RGBColor(22, 163, 74),
];

fn legend() -> Vec<(&'static str, RGBColor)> {
    HOURLY.iter().copied().zip(COLOURS).collect()
}

/// The headline figures of `s`: "fraud cost blocked 99.20%, legitimate SMS
/// blocked 0.04%".
pub fn headline(s: &Stats) -> String {
    format!(
        "fraud cost blocked {}, legitimate SMS blocked {}",
        pct(s.fraud_cost_blocked_share(), 1.0),
        pct(s.false_positive_share(), 1.0)
    )
}

/// The page.
pub fn html(sim: &Simulation) -> String {
    let totals = sim.totals();
    let under_test = totals.first().cloned().unwrap_or_default();
    let lead = html! {
        (sim.policies.first().map_or("", String::as_str)) ": " (headline(&under_test))
        span.sub { " (mistyped numbers blocked: " (under_test.typo_blocked) " of " (under_test.typo_sms) ", counted apart)" }
    };
    let charts = sim
        .scenarios
        .iter()
        .map(|sc| {
            sim.policies
                .iter()
                .zip(&sc.stats)
                .map(|(name, s)| chart(sc.name, name, s))
                .collect::<anyhow::Result<Vec<Markup>>>()
        })
        .collect::<anyhow::Result<Vec<Vec<Markup>>>>();
    let body = match charts {
        Ok(charts) => html! {
            p {
                "Seed " (sim.seed) ". Every policy sees the same events; costs use the shipped SMS \
                 price table. Charts: SMS per hour over the simulated week, linear scale."
            }
            @if sim.scenarios.len() > 1 {
                h2 { "All scenarios" }
                (table(&sim.policies, &totals))
            }
            @for (sc, figures) in sim.scenarios.iter().zip(charts) {
                section id=(sc.name) {
                    h2 { (sc.name) }
                    p { (sc.description) " (" (sc.events) " events)" }
                    (table(&sim.policies, &sc.stats))
                    div.charts { @for f in figures { (f) } }
                }
            }
        },
        Err(e) => html! { p.error { "The charts could not be drawn: " (e.to_string()) } },
    };
    page(
        &format!("pumpguard simulation, seed {}", sim.seed),
        lead,
        body,
    )
}

fn table(policies: &[String], stats: &[Stats]) -> Markup {
    html! {
        table {
            tr {
                th { "policy" } th { "fraud SMS" } th { "fraud blocked" } th { "fraud cost" }
                th { "fraud cost allowed" } th { "legitimate SMS" } th { "legitimate blocked" }
                th { "mistyped blocked" }
            }
            @for (name, s) in policies.iter().zip(stats) {
                tr {
                    td { (name) }
                    td { (s.fraud_sms) }
                    td { (s.fraud_blocked) " (" (pct(s.fraud_blocked as f64, s.fraud_sms as f64)) ")" }
                    td { (format!("${:.2}", s.fraud_cost_usd)) }
                    td { (format!("${:.2}", s.fraud_cost_allowed_usd)) }
                    td { (s.legit_sms) }
                    td { (s.legit_blocked) " (" (pct(s.false_positive_share(), 1.0)) ")" }
                    td { (s.typo_blocked) " of " (s.typo_sms) }
                }
            }
        }
    }
}

fn chart(scenario: &str, name: &str, s: &Stats) -> anyhow::Result<Markup> {
    let series: Vec<Series<'_>> = HOURLY
        .iter()
        .zip(COLOURS)
        .enumerate()
        .map(|(k, (label, colour))| Series {
            label,
            colour,
            values: s.hourly.iter().map(|h| u64::from(h[k])).collect(),
        })
        .collect();
    let svg = time_chart(
        &format!("{scenario}: {name}"),
        "SMS per hour",
        super::traffic::START,
        super::traffic::HOUR,
        &series,
    )?;
    let note = format!(
        "{name}: fraud cost allowed ${:.2}, legitimate blocked {}, mistyped blocked {}",
        s.fraud_cost_allowed_usd, s.legit_blocked, s.typo_blocked
    );
    Ok(figure(
        &format!("{scenario}/{name}"),
        &svg,
        &legend(),
        Some(&note),
    ))
}
