//! `[number-types]`: the number-type guard (static).
//!
//! The number's type, from libphonenumber's metadata, against the types
//! the policy blocks: by default every type but mobile (and fixed-line or
//! mobile, where a country's ranges do not tell them apart).

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::Findings;
use crate::engine::{Check, Reason};
use crate::features::Features;
use crate::phone::NumberType;
use crate::policy::{Collector, Mode, Policy, Section};

/// The number types blocked when a policy does not list its own.
pub const DEFAULT_BLOCKED_TYPES: [NumberType; 10] = [
    NumberType::FixedLine,
    NumberType::PremiumRate,
    NumberType::SharedCost,
    NumberType::Voip,
    NumberType::PersonalNumber,
    NumberType::Pager,
    NumberType::Uan,
    NumberType::Voicemail,
    NumberType::TollFree,
    NumberType::Unknown,
];

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", default)]
pub(crate) struct WireNumberTypes {
    mode: Mode,
    block: Option<Vec<String>>,
}

impl Default for WireNumberTypes {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            block: None,
        }
    }
}

/// `[number-types]`: the number-type guard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NumberTypePolicy {
    pub mode: Mode,
    pub block: BTreeSet<NumberType>,
}

impl Section for NumberTypePolicy {
    const NAME: &'static str = "number-types";
    type Wire = WireNumberTypes;

    fn check(w: WireNumberTypes, c: &mut Collector) -> Self {
        let block = match w.block {
            None => DEFAULT_BLOCKED_TYPES.into_iter().collect(),
            Some(list) => {
                let mut set = BTreeSet::new();
                for (i, name) in list.iter().enumerate() {
                    match NumberType::parse(name) {
                        Some(t) => {
                            set.insert(t);
                        }
                        None => c.push(
                            format!("number-types.block[{i}]"),
                            format!(
                                "{name:?} is not a number type; expected one of: {}",
                                NumberType::ALL.map(|t| t.as_str()).join(", ")
                            ),
                        ),
                    }
                }
                set
            }
        };
        for t in [NumberType::Mobile, NumberType::FixedLineOrMobile] {
            if block.contains(&t) && w.mode != Mode::Off {
                c.push(
                    "number-types.block",
                    format!("blocks {t}: most legitimate users would be refused"),
                );
            }
        }
        NumberTypePolicy {
            mode: w.mode,
            block,
        }
    }
}

/// The guard: a finding for a number of a blocked type (an unreadable
/// number is of type `unknown`).
pub(crate) fn find(p: &Policy, n: &Features, f: &mut Findings<'_>) {
    let t = n.number_type.unwrap_or(NumberType::Unknown);
    if p.number_types.mode != Mode::Off && p.number_types.block.contains(&t) {
        f.add(
            Check::NumberType,
            p.number_types.mode,
            Reason::NumberType(t),
            None,
        );
    }
}
