//! `[form]`: E.164 validity and typos (static).
//!
//! A number that is not E.164, names no country, is not a valid number for
//! its country, or looks mistyped (a leading trunk zero kept after the
//! country code, the country code written twice) is refused: no SMS could
//! reach a real user there.

use serde::{Deserialize, Serialize};

use super::Findings;
use crate::engine::{Check, Reason};
use crate::features::{Features, Form};
use crate::policy::{Collector, Mode, Policy, Section};

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", default)]
pub(crate) struct WireForm {
    mode: Mode,
}

impl Default for WireForm {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
        }
    }
}

/// `[form]`: E.164 validity and typos.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormPolicy {
    pub mode: Mode,
}

impl Section for FormPolicy {
    const NAME: &'static str = "form";
    type Wire = WireForm;

    fn check(w: WireForm, _: &mut Collector) -> Self {
        FormPolicy { mode: w.mode }
    }
}

/// The guard: a finding for a number no SMS could reach as written.
pub(crate) fn find(p: &Policy, n: &Features, f: &mut Findings<'_>) {
    if p.form.mode == Mode::Off {
        return;
    }
    let reason = match n.form {
        Form::NotE164 | Form::UnknownCountryCode | Form::Invalid => Reason::InvalidNumber,
        Form::LeadingZero => Reason::TypoLeadingZero,
        Form::DoubledCountryCode => Reason::TypoDoubledCountryCode,
        Form::Valid => return,
    };
    f.add(Check::Form, p.form.mode, reason, None);
}
