//! The pieces both HTML reports are made of (`simulate --report`, `replay
//! --report`): one self-contained page (inline CSS and SVG, no script,
//! nothing fetched), charts drawn by `plotters` into SVG on linear scales
//! with labelled ticks and dates, a legend beside each chart, and the
//! markup written with `maud` (escaped by construction).
//!
//! Each chart is a `<figure class="chart">` with `data-chart` naming it, so
//! that the headless-browser check (`scripts/report-check.py`) can count
//! them on the rendered page.

use maud::{html, Markup, PreEscaped, DOCTYPE};
use plotters::coord::combinators::BindKeyPoints as _;
use plotters::prelude::*;

/// One line of a time chart: its name, colour and a value per bucket.
#[derive(Debug, Clone)]
pub struct Series<'a> {
    pub label: &'a str,
    pub colour: RGBColor,
    pub values: Vec<u64>,
}

/// A colour as CSS.
fn css(c: RGBColor) -> String {
    format!("#{:02x}{:02x}{:02x}", c.0, c.1, c.2)
}

const WIDTH: u32 = 640;
const HEIGHT: u32 = 260;

/// A date and hour for an axis tick: `Dec 02 14:00`, or `Dec 02` at midnight.
fn tick(unix: i64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(unix) else {
        return unix.to_string();
    };
    let month = &t.month().to_string()[..3];
    if t.hour() == 0 && t.minute() == 0 {
        format!("{month} {:02}", t.day())
    } else {
        format!("{month} {:02} {:02}:{:02}", t.day(), t.hour(), t.minute())
    }
}

/// Tick times on whole hours or days (UTC), at most about eight.
fn time_ticks(start: i64, end: i64) -> Vec<i64> {
    const STEPS: [i64; 9] = [
        3_600,
        3 * 3_600,
        6 * 3_600,
        12 * 3_600,
        86_400,
        2 * 86_400,
        7 * 86_400,
        14 * 86_400,
        28 * 86_400,
    ];
    let span = (end - start).max(1);
    let step = STEPS
        .iter()
        .copied()
        .find(|s| span / s <= 8)
        .unwrap_or(span / 8 + 1);
    let first = start.div_euclid(step) * step + if start.rem_euclid(step) == 0 { 0 } else { step };
    (0..)
        .map(|i| first + i * step)
        .take_while(|t| *t <= end)
        .collect()
}

/// A count for an axis tick, without a fraction.
fn count(v: f64) -> String {
    format!("{}", v.round() as i64)
}

/// Lines over time, one per series, on a linear scale from 0; bucket `i`
/// starts at `start + i * bucket` (Unix seconds). The x axis is in UTC.
pub fn time_chart(
    caption: &str,
    y_label: &str,
    start: i64,
    bucket: i64,
    series: &[Series<'_>],
) -> anyhow::Result<String> {
    let n = series
        .iter()
        .map(|s| s.values.len())
        .max()
        .unwrap_or(0)
        .max(1);
    let end = start + bucket * i64::try_from(n).unwrap_or(i64::MAX / bucket.max(1));
    let peak = series
        .iter()
        .flat_map(|s| s.values.iter().copied())
        .max()
        .unwrap_or(0)
        .max(1);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, HEIGHT)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| anyhow::anyhow!("drawing {caption}: {e}"))?;
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 15))
            .margin(8)
            .margin_right(28)
            .x_label_area_size(34)
            .y_label_area_size(52)
            .build_cartesian_2d(
                (start..end).with_key_points(time_ticks(start, end)),
                0f64..(peak as f64 * 1.08),
            )
            .map_err(|e| anyhow::anyhow!("drawing {caption}: {e}"))?;
        chart
            .configure_mesh()
            .y_labels(6)
            .x_label_formatter(&|x| tick(*x))
            .y_label_formatter(&|y| count(*y))
            .y_desc(y_label)
            .x_desc("UTC")
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(|e| anyhow::anyhow!("drawing {caption}: {e}"))?;
        for s in series {
            let points = s
                .values
                .iter()
                .enumerate()
                .map(|(i, v)| (start + bucket * i as i64, *v as f64));
            chart
                .draw_series(LineSeries::new(points, s.colour.stroke_width(2)))
                .map_err(|e| anyhow::anyhow!("drawing {caption}: {e}"))?;
        }
        root.present()
            .map_err(|e| anyhow::anyhow!("drawing {caption}: {e}"))?;
    }
    Ok(svg)
}

/// Horizontal bars, one row per category, each split by series (stacked on
/// a linear scale: a row's length is its total).
pub fn bar_chart(
    caption: &str,
    x_label: &str,
    rows: &[(String, Vec<u64>)],
    series: &[(&str, RGBColor)],
) -> anyhow::Result<String> {
    let n = rows.len().max(1);
    let peak = rows
        .iter()
        .map(|(_, v)| v.iter().sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let height = u32::try_from(60 + 22 * n).unwrap_or(HEIGHT).max(120);
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (WIDTH, height)).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| anyhow::anyhow!("drawing {caption}: {e}"))?;
        let names: Vec<&str> = rows.iter().map(|(name, _)| name.as_str()).collect();
        let mut chart = ChartBuilder::on(&root)
            .caption(caption, ("sans-serif", 15))
            .margin(8)
            .x_label_area_size(30)
            .y_label_area_size(150)
            .build_cartesian_2d(
                0f64..(peak as f64 * 1.05),
                // Row i spans 10i..10i+10; its label sits at 10i+5.
                (0..rows10(n)).with_key_points((0..rows10(n) / 10).map(|i| i * 10 + 5).collect()),
            )
            .map_err(|e| anyhow::anyhow!("drawing {caption}: {e}"))?;
        chart
            .configure_mesh()
            .disable_y_mesh()
            .x_labels(6)
            .x_label_formatter(&|x| count(*x))
            .y_label_formatter(&|y| {
                usize::try_from(*y / 10)
                    .ok()
                    .and_then(|i| n.checked_sub(1 + i))
                    .and_then(|i| names.get(i))
                    .map_or_else(String::new, |s| (*s).to_string())
            })
            .x_desc(x_label)
            .light_line_style(RGBColor(238, 238, 238))
            .draw()
            .map_err(|e| anyhow::anyhow!("drawing {caption}: {e}"))?;
        for (row, (_, values)) in rows.iter().enumerate() {
            let y = i32::try_from(n - 1 - row).unwrap_or(0) * 10;
            let mut x = 0.0;
            for (v, (_, colour)) in values.iter().zip(series) {
                if *v == 0 {
                    continue;
                }
                let to = x + *v as f64;
                chart
                    .draw_series(std::iter::once(Rectangle::new(
                        [(x, y + 2), (to, y + 8)],
                        colour.filled(),
                    )))
                    .map_err(|e| anyhow::anyhow!("drawing {caption}: {e}"))?;
                x = to;
            }
        }
        root.present()
            .map_err(|e| anyhow::anyhow!("drawing {caption}: {e}"))?;
    }
    Ok(svg)
}

fn rows10(n: usize) -> i32 {
    i32::try_from(n).unwrap_or(i32::MAX / 10).saturating_mul(10)
}

/// A chart with its legend beside it.
pub fn figure(id: &str, svg: &str, legend: &[(&str, RGBColor)], note: Option<&str>) -> Markup {
    html! {
        figure.chart data-chart=(id) {
            div.plot { (PreEscaped(svg)) }
            div.side {
                ul.legend {
                    @for (name, colour) in legend {
                        li { span.swatch style={ "background:" (css(*colour)) } {} (name) }
                    }
                }
                @if let Some(n) = note { figcaption { (n) } }
            }
        }
    }
}

/// A share as a percentage with two decimals.
pub fn pct(part: f64, whole: f64) -> String {
    if whole <= 0.0 {
        "0.00%".into()
    } else {
        format!("{:.2}%", part * 100.0 / whole)
    }
}

/// The page: `headline` (the figures a reader looks for first) above `body`.
pub fn page(title: &str, headline: Markup, body: Markup) -> String {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                title { (title) }
                style { (PreEscaped(STYLE)) }
            }
            body {
                h1 { (title) }
                p.headline id="headline" { (headline) }
                (body)
            }
        }
    }
    .into_string()
}

const STYLE: &str = "\
body{font-family:system-ui,sans-serif;margin:1.5em 2em;color:#111;max-width:none}\
.headline{font-size:1.35em;font-weight:600;background:#f1f5f9;padding:.6em .9em;border-radius:6px}\
table{border-collapse:collapse;margin:.5em 0 1em}\
td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}\
td:first-child,th:first-child{text-align:left}\
.charts{display:grid;grid-template-columns:repeat(auto-fill,minmax(780px,1fr));gap:1em}\
figure.chart{margin:0;display:flex;align-items:flex-start;gap:.8em}\
figure.chart figcaption{font-size:.85em;max-width:13em;margin-top:.8em}\
ul.legend{list-style:none;padding:0;margin:1.5em 0 0;font-size:.85em;min-width:11em}\
ul.legend li{margin:.25em 0}\
.swatch{display:inline-block;width:.9em;height:.9em;margin-right:.4em;vertical-align:middle}\
";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_linear_with_dated_ticks() {
        let svg = time_chart(
            "sends",
            "SMS per hour",
            1_792_886_400,
            3600,
            &[Series {
                label: "sent",
                colour: RGBColor(0, 0, 0),
                values: (0..48).collect(),
            }],
        )
        .unwrap();
        assert!(svg.starts_with("<svg"), "{}", &svg[..80]);
        // 1_792_886_400 is 2026-10-25 00:00 UTC.
        let labels: Vec<&str> = svg
            .split("</text>")
            .filter_map(|t| t.rsplit('>').next())
            .map(str::trim)
            .collect();
        // Evenly spaced counts from 0 (linear), days on the time axis.
        for want in [
            "0",
            "10",
            "20",
            "30",
            "40",
            "Oct 25",
            "Oct 26 12:00",
            "Oct 27",
        ] {
            assert!(labels.contains(&want), "no tick {want}: {labels:?}");
        }
        let bars = bar_chart(
            "reasons",
            "SMS",
            &[
                ("COUNTRY".into(), vec![3, 1]),
                ("COOLDOWN".into(), vec![0, 2]),
            ],
            &[
                ("blocked", RGBColor(1, 2, 3)),
                ("monitored", RGBColor(4, 5, 6)),
            ],
        )
        .unwrap();
        assert!(bars.contains("COUNTRY") && bars.contains("COOLDOWN"));
        assert_eq!(bars.matches("#010203").count(), 1);
    }
}
