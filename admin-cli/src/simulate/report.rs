//! The `--report` page: one self-contained HTML file (inline CSS and SVG, no
//! script, nothing fetched) with, per scenario, the comparison table and a
//! chart per policy of SMS per hour by verdict and label.

use std::fmt::Write as _;

use super::{Simulation, Stats};

const COLOURS: [(&str, &str); 4] = [
    ("legitimate sent", "#94a3b8"),
    ("legitimate blocked", "#f59e0b"),
    ("fraud sent", "#dc2626"),
    ("fraud blocked", "#16a34a"),
];

fn esc(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// The page.
pub fn html(sim: &Simulation) -> String {
    let mut o = String::new();
    o.push_str("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n");
    let _ = writeln!(o, "<title>pumpguard simulation, seed {}</title>", sim.seed);
    o.push_str(
        "<style>\nbody{font-family:system-ui,sans-serif;margin:2em;color:#111}\n\
         table{border-collapse:collapse;margin:.5em 0 1em}\n\
         td,th{border:1px solid #ccc;padding:.25em .6em;text-align:right}\n\
         td:first-child,th:first-child{text-align:left}\n\
         .charts{display:flex;flex-wrap:wrap;gap:1em}\n\
         figure{margin:0}figcaption{font-size:.85em}\n\
         .key span{display:inline-block;width:.9em;height:.9em;margin:0 .3em 0 1em;vertical-align:middle}\n\
         </style>\n</head>\n<body>\n",
    );
    let _ = writeln!(
        o,
        "<h1>pumpguard simulation</h1>\n<p>Seed {}. Policies: {}. Every policy sees the same events; \
         costs use the shipped SMS price table. Charts: SMS per hour over the simulated week \
         (square-root scale).</p>",
        sim.seed,
        esc(&sim.policies.join(", "))
    );
    o.push_str("<p class=\"key\">");
    for (name, colour) in COLOURS {
        let _ = write!(o, "<span style=\"background:{colour}\"></span>{name}");
    }
    o.push_str("</p>\n");
    if sim.scenarios.len() > 1 {
        o.push_str("<h2>All scenarios</h2>\n");
        table(&mut o, &sim.policies, &sim.totals());
    }
    for sc in &sim.scenarios {
        let _ = writeln!(
            o,
            "<section id=\"{}\">\n<h2>{}</h2>\n<p>{} ({} events)</p>",
            esc(sc.name),
            esc(sc.name),
            esc(sc.description),
            sc.events
        );
        table(&mut o, &sim.policies, &sc.stats);
        o.push_str("<div class=\"charts\">\n");
        for (name, s) in sim.policies.iter().zip(&sc.stats) {
            chart(&mut o, name, s);
        }
        o.push_str("</div>\n</section>\n");
    }
    o.push_str("</body>\n</html>\n");
    o
}

fn table(o: &mut String, policies: &[String], stats: &[Stats]) {
    o.push_str(
        "<table>\n<tr><th>policy</th><th>fraud SMS</th><th>fraud blocked</th>\
         <th>fraud cost</th><th>fraud cost allowed</th><th>legitimate SMS</th>\
         <th>legitimate blocked</th><th>typos blocked</th></tr>\n",
    );
    for (name, s) in policies.iter().zip(stats) {
        let _ = writeln!(
            o,
            "<tr><td>{}</td><td>{}</td><td>{} ({:.2}%)</td><td>${:.2}</td><td>${:.2}</td>\
             <td>{}</td><td>{} ({:.2}%)</td><td>{} of {}</td></tr>",
            esc(name),
            s.fraud_sms,
            s.fraud_blocked,
            if s.fraud_sms == 0 {
                0.0
            } else {
                s.fraud_blocked as f64 * 100.0 / s.fraud_sms as f64
            },
            s.fraud_cost_usd,
            s.fraud_cost_allowed_usd,
            s.legit_sms,
            s.legit_blocked,
            s.false_positive_share() * 100.0,
            s.typo_blocked,
            s.typo_sms
        );
    }
    o.push_str("</table>\n");
}

/// Stacked bars, one per hour.
fn chart(o: &mut String, name: &str, s: &Stats) {
    const W: f64 = 420.0;
    const H: f64 = 140.0;
    let n = s.hourly.len().max(1);
    let peak = s
        .hourly
        .iter()
        .map(|h| h.iter().map(|&v| u64::from(v)).sum::<u64>())
        .max()
        .unwrap_or(0)
        .max(1);
    let scale = H / (peak as f64).sqrt();
    let bw = W / n as f64;
    let _ = writeln!(
        o,
        "<figure><svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{}\" height=\"{}\" \
         viewBox=\"0 0 {} {}\" role=\"img\" aria-label=\"{}\">",
        W + 40.0,
        H + 20.0,
        W + 40.0,
        H + 20.0,
        esc(name)
    );
    let _ = writeln!(
        o,
        "<line x1=\"40\" y1=\"{H}\" x2=\"{}\" y2=\"{H}\" stroke=\"#999\"/>\
         <text x=\"36\" y=\"10\" font-size=\"10\" text-anchor=\"end\">{peak}</text>\
         <text x=\"36\" y=\"{H}\" font-size=\"10\" text-anchor=\"end\">0</text>",
        W + 40.0
    );
    for day in 0..=(n / 24) {
        let x = 40.0 + (day * 24) as f64 * bw;
        let _ = write!(
            o,
            "<text x=\"{x:.1}\" y=\"{}\" font-size=\"9\">d{day}</text>",
            H + 14.0
        );
    }
    for (i, h) in s.hourly.iter().enumerate() {
        let total: u64 = h.iter().map(|&v| u64::from(v)).sum();
        if total == 0 {
            continue;
        }
        // Stack in sqrt space: the whole bar is sqrt(total), split by share.
        let bar = (total as f64).sqrt() * scale;
        let mut y = H;
        let x = 40.0 + i as f64 * bw;
        for (k, &v) in h.iter().enumerate() {
            if v == 0 {
                continue;
            }
            let part = bar * f64::from(v) / total as f64;
            y -= part;
            let _ = write!(
                o,
                "<rect x=\"{x:.2}\" y=\"{y:.2}\" width=\"{:.2}\" height=\"{part:.2}\" fill=\"{}\">\
                 <title>hour {i}: {v} {}</title></rect>",
                bw.max(0.5),
                COLOURS[k].1,
                COLOURS[k].0
            );
        }
    }
    let _ = writeln!(
        o,
        "</svg><figcaption>{}: fraud cost allowed ${:.2}, legitimate blocked {}</figcaption></figure>",
        esc(name),
        s.fraud_cost_allowed_usd,
        s.legit_blocked
    );
}
