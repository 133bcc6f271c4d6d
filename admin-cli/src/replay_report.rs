//! `replay --report FILE.html`: what a policy did, or would do, to recorded
//! traffic, for a person to read. Gathered while the replay runs
//! ([`ReportData::add`]), drawn with `crate::report`:
//!
//! - the headline: judged SMS refused, and the estimated spend (price
//!   table) refused, of the total;
//! - judged SMS over time by verdict (sent, monitored: sent but an
//!   enforcing guard would refuse it, refused);
//! - refusals by reason and by country;
//! - the top cohorts (country and number block) by refused volume.
//!
//! A number block is the number without its last digits (the first depth of
//! `[cohorts] prefix-hidden-digits` of 4 or more, else the deepest), named
//! as the trigger's cohort log lines name it: its keyed hash
//! (`block of 1e4 #3f9a2c1b0d4e`), the same whether the replay read raw
//! events or records. No digit of a number appears.

use std::collections::{BTreeMap, HashMap};

use maud::html;
use plotters::style::RGBColor;

use crate::replay::{Outcome, Summary};
use crate::report::{bar_chart, figure, page, pct, time_chart, Series};

const HOUR: i64 = 3_600;
const DAY: i64 = 86_400;

/// How many hours a chart shows hour by hour; longer traffic is drawn by day.
const MAX_HOURLY: i64 = 21 * 24;

/// What one verdict counts as on the charts.
const VERDICTS: [(&str, RGBColor); 3] = [
    ("sent", RGBColor(100, 116, 139)),
    ("monitored (would be refused)", RGBColor(245, 158, 11)),
    ("refused", RGBColor(220, 38, 38)),
];

/// The report's figures, gathered as the replay runs.
#[derive(Debug, Default)]
pub struct ReportData {
    /// Judged SMS per hour (its Unix start): sent, monitored, refused.
    hours: BTreeMap<i64, [u64; 3]>,
    /// Per reason: refused, monitored.
    reasons: BTreeMap<String, [u64; 2]>,
    /// Per destination country: sent, monitored, refused.
    countries: BTreeMap<String, [u64; 3]>,
    /// Refused or monitored SMS per (country, number block).
    cohorts: HashMap<(String, String), [u64; 2]>,
    judged: u64,
    refused: u64,
    micro_usd: [u64; 2],
}

impl ReportData {
    /// Counts one event: `block` names the number's block, if it has one.
    pub fn add(&mut self, now: i64, o: &Outcome, block: Option<&str>) {
        if !o.judged {
            return;
        }
        let k = match o.verdict {
            "block" => 2,
            "monitor" => 1,
            _ => 0,
        };
        self.judged += 1;
        self.hours.entry(now.div_euclid(HOUR) * HOUR).or_default()[k] += 1;
        let country = o
            .country
            .as_ref()
            .map_or("unknown", |c| c.as_str())
            .to_string();
        self.countries.entry(country.clone()).or_default()[k] += 1;
        if k == 2 {
            self.refused += 1;
            self.micro_usd[1] = self.micro_usd[1].saturating_add(o.cost_micro_usd);
        } else {
            self.micro_usd[0] = self.micro_usd[0].saturating_add(o.cost_micro_usd);
        }
        if k > 0 {
            for r in &o.reasons {
                self.reasons.entry(r.clone()).or_default()[2 - k] += 1;
            }
            if let Some(block) = block {
                self.cohorts
                    .entry((country, block.to_string()))
                    .or_default()[2 - k] += 1;
            }
        }
    }
}

/// The label of a number's block in the report, from its keyed block
/// hashes by hidden digits: the first depth of 4 or more, else the deepest.
pub fn block_label(blocks: &BTreeMap<u32, String>) -> Option<String> {
    let (hidden, hash) = blocks
        .iter()
        .find(|(d, _)| **d >= 4)
        .or_else(|| blocks.iter().next_back())?;
    Some(format!(
        "block of 1e{hidden} #{}",
        hash.get(..12).unwrap_or(hash)
    ))
}

fn usd(micro: u64) -> String {
    format!("${:.2}", micro as f64 / 1e6)
}

/// The page for one replay of `source` under `policy`.
pub fn html(data: &ReportData, summary: &Summary, policy: &str, source: &str) -> String {
    let total_usd = data.micro_usd[0].saturating_add(data.micro_usd[1]);
    let headline = format!(
        "SMS refused {} ({} of {} judged), estimated spend refused {} ({} of {})",
        pct(data.refused as f64, data.judged as f64),
        data.refused,
        data.judged,
        pct(data.micro_usd[1] as f64, total_usd as f64),
        usd(data.micro_usd[1]),
        usd(total_usd)
    );
    let charts = charts(data);
    let mut cohorts: Vec<(&(String, String), &[u64; 2])> = data.cohorts.iter().collect();
    cohorts.sort_by(|a, b| (b.1[0] + b.1[1], a.0).cmp(&(a.1[0] + a.1[1], b.0)));
    cohorts.truncate(15);
    let body = html! {
        p {
            "Policy " (policy) ", events " (source) ": " (summary.lines) " lines, "
            (summary.malformed_lines) " malformed. Costs are estimates from the shipped SMS \
             price table. Monitored SMS were sent; an enforcing guard would have refused them."
        }
        table {
            tr { th { "" } th { "SMS" } th { "estimated spend" } }
            tr { td { "sent (allowed or monitored)" } td { (data.judged - data.refused) } td { (usd(data.micro_usd[0])) } }
            tr { td { "refused" } td { (data.refused) } td { (usd(data.micro_usd[1])) } }
        }
        @match charts {
            Ok(figures) => div.charts { @for f in figures { (f) } },
            Err(e) => p.error { "The charts could not be drawn: " (e.to_string()) },
        }
        h2 { "Top cohorts by refused volume" }
        @if cohorts.is_empty() {
            p { "Nothing was refused or monitored." }
        } @else {
            table {
                tr { th { "country" } th { "number block" } th { "refused" } th { "monitored" } }
                @for ((country, block), [refused, monitored]) in cohorts {
                    tr { td { (country) } td { (block) } td { (refused) } td { (monitored) } }
                }
            }
        }
    };
    page("pumpguard replay", html! { (headline) }, body)
}

fn charts(data: &ReportData) -> anyhow::Result<Vec<maud::Markup>> {
    let legend: Vec<(&str, RGBColor)> = VERDICTS.to_vec();
    let mut out = Vec::new();
    let (first, last) = match (data.hours.keys().next(), data.hours.keys().next_back()) {
        (Some(f), Some(l)) => (*f, *l),
        _ => (0, 0),
    };
    let bucket = if (last - first) / HOUR < MAX_HOURLY {
        HOUR
    } else {
        DAY
    };
    let start = first.div_euclid(bucket) * bucket;
    let n = usize::try_from((last - start) / bucket + 1).unwrap_or(1);
    let mut values = vec![vec![0u64; n]; 3];
    for (hour, counts) in &data.hours {
        let i = usize::try_from((hour - start) / bucket)
            .unwrap_or(0)
            .min(n - 1);
        for k in 0..3 {
            values[k][i] += counts[k];
        }
    }
    let series: Vec<Series<'_>> = VERDICTS
        .iter()
        .zip(values)
        .map(|((label, colour), values)| Series {
            label,
            colour: *colour,
            values,
        })
        .collect();
    let per = if bucket == HOUR {
        "SMS per hour"
    } else {
        "SMS per day"
    };
    out.push(figure(
        "over-time",
        &time_chart(
            "Judged SMS over time, by verdict",
            per,
            start,
            bucket,
            &series,
        )?,
        &legend,
        None,
    ));
    let mut reasons: Vec<(String, Vec<u64>)> = data
        .reasons
        .iter()
        .map(|(r, [refused, monitored])| (r.clone(), vec![*refused, *monitored]))
        .collect();
    reasons.sort_by(|a, b| (b.1.iter().sum::<u64>(), &a.0).cmp(&(a.1.iter().sum::<u64>(), &b.0)));
    reasons.truncate(15);
    out.push(figure(
        "by-reason",
        &bar_chart(
            "Refusals by reason",
            "SMS",
            &reasons,
            &[VERDICTS[2], VERDICTS[1]],
        )?,
        &[VERDICTS[2], VERDICTS[1]],
        Some("An SMS refused for two reasons counts under each."),
    ));
    let mut countries: Vec<(String, Vec<u64>)> = data
        .countries
        .iter()
        .map(|(c, v)| (c.clone(), v.to_vec()))
        .collect();
    countries.sort_by(|a, b| (b.1[1] + b.1[2], b.1[0], &a.0).cmp(&(a.1[1] + a.1[2], a.1[0], &b.0)));
    countries.truncate(15);
    out.push(figure(
        "by-country",
        &bar_chart(
            "Judged SMS by country (most refused first)",
            "SMS",
            &countries,
            &legend,
        )?,
        &legend,
        None,
    ));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_is_named_by_its_hash_at_four_hidden_digits_or_more() {
        let blocks: BTreeMap<u32, String> = [
            (3, "aaaaaaaaaaaaaaaa".to_string()),
            (4, "0123456789abcdef".to_string()),
            (5, "ffffffffffffffff".to_string()),
        ]
        .into();
        assert_eq!(
            block_label(&blocks).as_deref(),
            Some("block of 1e4 #0123456789ab")
        );
        let shallow: BTreeMap<u32, String> = [(2, "bbbbbbbbbbbbbbbb".to_string())].into();
        assert_eq!(
            block_label(&shallow).as_deref(),
            Some("block of 1e2 #bbbbbbbbbbbb")
        );
        assert_eq!(block_label(&BTreeMap::new()), None);
    }
}
