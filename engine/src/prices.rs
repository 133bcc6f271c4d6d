//! The price table that turns a destination country into an estimated cost.
//!
//! The shipped table (`data/sms-prices.toml`) states its date and source; a
//! policy's `[budget] prices` and `default-price-usd` override entries. Money
//! is held in micro-USD so that spend counters are exact integers.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::country::Country;

/// The shipped table's text.
pub const SHIPPED_PRICES: &str = include_str!("../../data/sms-prices.toml");

/// Used if the shipped table could not be read (a unit test keeps that from happening).
const FALLBACK_MICRO_USD: u64 = 300_000;

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case", deny_unknown_fields)]
struct WirePrices {
    date: String,
    source: String,
    default_usd: f64,
    usd: BTreeMap<String, f64>,
}

/// Estimated USD cost of one SMS by destination country, in micro-USD.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PriceTable {
    pub date: String,
    pub source: String,
    pub default_micro_usd: u64,
    pub by_country: BTreeMap<Country, u64>,
}

fn to_micro(usd: f64) -> Option<u64> {
    if usd.is_finite() && usd > 0.0 && usd < 1000.0 {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        let micro = (usd * 1_000_000.0).round() as u64;
        Some(micro)
    } else {
        None
    }
}

impl PriceTable {
    /// Parses a table in the shipped format; `Err` lists what is wrong.
    pub fn parse(text: &str) -> Result<PriceTable, String> {
        let w: WirePrices = toml::from_str(text).map_err(|e| e.to_string())?;
        let mut problems = Vec::new();
        let mut by_country = BTreeMap::new();
        for (code, usd) in &w.usd {
            match (Country::parse(code), to_micro(*usd)) {
                (Some(c), Some(m)) => {
                    by_country.insert(c, m);
                }
                (None, _) => problems.push(format!("usd.{code}: not an ISO 3166-1 alpha-2 code")),
                (_, None) => problems.push(format!("usd.{code}: not a positive price")),
            }
        }
        let default_micro_usd = to_micro(w.default_usd).unwrap_or_else(|| {
            problems.push("default-usd: not a positive price".into());
            FALLBACK_MICRO_USD
        });
        if problems.is_empty() {
            Ok(PriceTable {
                date: w.date,
                source: w.source,
                default_micro_usd,
                by_country,
            })
        } else {
            Err(problems.join("; "))
        }
    }

    /// The table shipped with pumpguard.
    pub fn shipped() -> PriceTable {
        Self::parse(SHIPPED_PRICES).unwrap_or_else(|_| PriceTable {
            date: String::new(),
            source: "fallback: the shipped table did not parse".into(),
            default_micro_usd: FALLBACK_MICRO_USD,
            by_country: BTreeMap::new(),
        })
    }

    /// The estimated cost of one SMS to `country` (the default when unknown).
    pub fn micro_usd(&self, country: Option<Country>) -> u64 {
        country
            .and_then(|c| self.by_country.get(&c).copied())
            .unwrap_or(self.default_micro_usd)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_table_parses_and_covers_the_usual_countries() {
        let t = match PriceTable::parse(SHIPPED_PRICES) {
            Ok(t) => t,
            Err(e) => panic!("data/sms-prices.toml: {e}"),
        };
        assert!(!t.date.is_empty() && !t.source.is_empty());
        for code in ["US", "CA", "GB", "DE", "JM", "NG", "YE", "TN"] {
            let c = Country::parse(code).expect("code");
            assert!(t.by_country.contains_key(&c), "{code} missing");
        }
        assert!(t.by_country.len() >= 60);
        let us = t.micro_usd(Country::parse("US"));
        assert!(us > 0 && us < t.default_micro_usd);
        assert_eq!(t.micro_usd(None), t.default_micro_usd);
    }

    #[test]
    fn bad_tables_are_refused() {
        let e = PriceTable::parse(
            "date = \"x\"\nsource = \"y\"\ndefault-usd = 0.1\n[usd]\nUK = 0.1\nUS = -1.0\n",
        )
        .expect_err("bad");
        assert!(e.contains("usd.UK") && e.contains("usd.US"), "{e}");
    }
}
