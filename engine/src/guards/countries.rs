//! `[countries]`: the destination-country guard (static).
//!
//! The destination's country, from the number, against three lists: allow,
//! monitor, block, and what to do with a country on none (`unlisted`).
//! Guernsey, the Isle of Man and Jersey share +44 with GB; the policy says
//! whether they are judged as their own regions or as GB.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::Findings;
use crate::country::Country;
use crate::engine::{Check, Reason};
use crate::features::Features;
use crate::policy::{country_list, Collector, Mode, Policy, Section};

/// What happens to a destination country that is on no list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unlisted {
    Block,
    Monitor,
    Allow,
}

/// How Guernsey, the Isle of Man and Jersey (+44, regions of their own) are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrownDependencies {
    /// As their own regions GG, IM and JE: each must be listed to be allowed.
    Separate,
    /// As GB: they follow whatever GB's list says.
    AsGb,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", default)]
pub(crate) struct WireCountries {
    mode: Mode,
    allow: Vec<String>,
    monitor: Vec<String>,
    block: Vec<String>,
    unlisted: Unlisted,
    crown_dependencies: Option<CrownDependencies>,
}

impl Default for WireCountries {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            allow: Vec::new(),
            monitor: Vec::new(),
            block: Vec::new(),
            unlisted: Unlisted::Block,
            crown_dependencies: None,
        }
    }
}

/// `[countries]`: the destination-country guard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CountryPolicy {
    pub mode: Mode,
    pub allow: BTreeSet<Country>,
    pub monitor: BTreeSet<Country>,
    pub block: BTreeSet<Country>,
    pub unlisted: Unlisted,
    pub crown_dependencies: CrownDependencies,
}

impl CountryPolicy {
    /// Whether `country` is named in one of the lists (allow, monitor, block).
    pub fn lists(&self, country: Country) -> bool {
        self.allow.contains(&country)
            || self.monitor.contains(&country)
            || self.block.contains(&country)
    }

    /// The mode and reason of the finding for a destination (`None`: no
    /// finding).
    fn judge(&self, country: Option<Country>) -> (Mode, Option<Reason>) {
        let unlisted = |reason| match self.unlisted {
            Unlisted::Block => (self.mode, Some(reason)),
            Unlisted::Monitor => (Mode::Monitor.min(self.mode), Some(reason)),
            Unlisted::Allow => (self.mode, None),
        };
        let Some(mut country) = country else {
            return unlisted(Reason::CountryUnknown);
        };
        if self.crown_dependencies == CrownDependencies::AsGb && country.is_crown_dependency() {
            if let Some(gb) = Country::parse("GB") {
                country = gb;
            }
        }
        if self.block.contains(&country) {
            (self.mode, Some(Reason::CountryBlocked))
        } else if self.allow.contains(&country) {
            (self.mode, None)
        } else if self.monitor.contains(&country) {
            (Mode::Monitor.min(self.mode), Some(Reason::CountryMonitored))
        } else {
            unlisted(Reason::CountryNotAllowed)
        }
    }
}

impl Section for CountryPolicy {
    const NAME: &'static str = "countries";
    const REQUIRED: bool = true;
    type Wire = WireCountries;

    fn check(w: WireCountries, c: &mut Collector) -> Self {
        let allow = country_list(&w.allow, "countries.allow", c);
        let monitor = country_list(&w.monitor, "countries.monitor", c);
        let block = country_list(&w.block, "countries.block", c);
        let lists: [(&str, &BTreeSet<Country>); 3] =
            [("allow", &allow), ("monitor", &monitor), ("block", &block)];
        let mut seen: BTreeMap<Country, &str> = BTreeMap::new();
        for (name, set) in lists {
            for country in set {
                if let Some(first) = seen.insert(*country, name) {
                    c.push(
                        format!("countries.{name}"),
                        format!(
                            "{country} is also in countries.{first}; a country belongs to one list"
                        ),
                    );
                }
            }
        }
        let crown = match w.crown_dependencies {
            Some(v) => v,
            None => {
                c.push(
                    "countries.crown-dependencies",
                    "must be set: \"separate\" judges GG, IM and JE (which share +44) as their \
                     own countries, \"as-gb\" judges them as GB",
                );
                CrownDependencies::Separate
            }
        };
        if crown == CrownDependencies::AsGb {
            for (name, set) in lists {
                for country in set.iter().filter(|c| c.is_crown_dependency()) {
                    c.push(
                        format!("countries.{name}"),
                        format!(
                            "{country} is listed, but crown-dependencies = \"as-gb\" judges it as \
                             GB; remove it or set crown-dependencies = \"separate\""
                        ),
                    );
                }
            }
        }
        // Judged on the lists as written, so a bad code does not also report "empty".
        if w.mode != Mode::Off
            && w.unlisted == Unlisted::Block
            && w.allow.is_empty()
            && w.monitor.is_empty()
        {
            c.push(
                "countries.allow",
                "is empty while unlisted = \"block\": every SMS would be blocked; list the \
                 countries you serve",
            );
        }
        CountryPolicy {
            mode: w.mode,
            allow,
            monitor,
            block,
            unlisted: w.unlisted,
            crown_dependencies: crown,
        }
    }
}

/// The guard: a finding for a destination the lists do not allow.
pub(crate) fn find(p: &Policy, n: &Features, f: &mut Findings<'_>) {
    if p.countries.mode == Mode::Off {
        return;
    }
    if let (mode, Some(reason)) = p.countries.judge(n.country) {
        f.add(Check::Country, mode, reason, None);
    }
}
