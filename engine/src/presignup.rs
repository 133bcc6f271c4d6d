//! PreSignUp: a registration judged before the user exists.
//!
//! A refused registration creates no user, so an attack of scripted
//! sign-ups costs no monthly active users and leaves no UNCONFIRMED users
//! behind. The `phone_number` attribute meets the static guards (country,
//! number type, form, suspicious digits) and, read-only, the stateful ones
//! that make sense before any SMS exists: the phone's daily cap already
//! reached, or a cohort of unknown numbers already at its limit (or
//! throttled for low conversion). Nothing is counted here: the SMS that
//! follows an allowed registration is judged, and counted, by the
//! CustomMessage trigger as before.
//!
//! | situation | answer |
//! |---|---|
//! | `mode = "off"` | the event, untouched |
//! | no `phone_number` | the event, or refused with `missing-phone = "refuse"` |
//! | a guard refuses (enforce) | refused with [`REFUSAL`], whatever the guard |
//! | a guard would refuse (monitor) | the event; the log says what would have happened |
//! | the store fails or times out | the static guards decide; the SMS is judged again at CustomMessage, which follows `on-store-error` |
//!
//! The refusal never says why: the same neutral code for every guard and
//! every `[trigger] disclosure`, so scripted sign-ups learn nothing from it.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::engine::{Decision, Engine, Verdict};
use crate::features::Features;
use crate::guards::Shared;
use crate::hash::PhoneHasher;
use crate::policy::{Collector, Mode};
use crate::source::TriggerSource;
use crate::stateful::{Case, SubjectKeys};
use crate::store::{within, OpResult, Store};

/// The message of a refused registration. Cognito shows it to the caller
/// as `PreSignUp failed with error SIGN_UP_REFUSED.`
pub const REFUSAL: &str = "SIGN_UP_REFUSED";

/// What to do with a registration that has no `phone_number`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum MissingPhone {
    /// Let it through (an e-mail-only sign-up sends no SMS).
    Allow,
    /// Refuse it: for pools where every user must have a phone.
    Refuse,
}

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", default)]
pub(crate) struct WirePreSignUp {
    mode: Mode,
    missing_phone: MissingPhone,
}

impl Default for WirePreSignUp {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            missing_phone: MissingPhone::Allow,
        }
    }
}

/// `[pre-sign-up]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PreSignUpPolicy {
    /// Capped by `[trigger] mode`, as every check is.
    pub mode: Mode,
    pub missing_phone: MissingPhone,
}

impl crate::policy::Section for PreSignUpPolicy {
    const NAME: &'static str = "pre-sign-up";
    type Wire = WirePreSignUp;

    fn check(w: WirePreSignUp, c: &mut Collector) -> Self {
        check_pre_sign_up(w, c)
    }
}

pub(crate) fn check_pre_sign_up(w: WirePreSignUp, _c: &mut Collector) -> PreSignUpPolicy {
    PreSignUpPolicy {
        mode: w.mode,
        missing_phone: w.missing_phone,
    }
}

/// The PreSignUp trigger sources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PreSignUpSource {
    /// `PreSignUp_SignUp`: a user signing up.
    SignUp,
    /// `PreSignUp_AdminCreateUser`: an administrator creating a user.
    AdminCreateUser,
    /// `PreSignUp_ExternalProvider`: a first sign-in through a federated provider.
    ExternalProvider,
}

impl PreSignUpSource {
    pub fn parse(source: &str) -> Option<Self> {
        match source {
            "PreSignUp_SignUp" => Some(Self::SignUp),
            "PreSignUp_AdminCreateUser" => Some(Self::AdminCreateUser),
            "PreSignUp_ExternalProvider" => Some(Self::ExternalProvider),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignUp => "PreSignUp_SignUp",
            Self::AdminCreateUser => "PreSignUp_AdminCreateUser",
            Self::ExternalProvider => "PreSignUp_ExternalProvider",
        }
    }

    /// The SMS this registration leads to, whose limits it is judged by.
    fn sms_source(self) -> TriggerSource {
        match self {
            Self::AdminCreateUser => TriggerSource::AdminCreateUser,
            Self::SignUp | Self::ExternalProvider => TriggerSource::SignUp,
        }
    }
}

/// Judges a registration's phone number (see the module's table). The
/// decision's findings carry `[pre-sign-up] mode` where it is stricter than
/// their own, so a monitored PreSignUp never refuses.
pub async fn judge<S: Store>(
    engine: &Engine,
    store: &S,
    keys: &PhoneHasher,
    source: PreSignUpSource,
    phone: &str,
    now: i64,
) -> Decision {
    let number = Features::keyed(phone, engine.policy(), keys, false);
    judge_features(engine, store, source, &number, now).await
}

/// [`judge`] on the number's features.
pub async fn judge_features<S: Store>(
    engine: &Engine,
    store: &S,
    source: PreSignUpSource,
    number: &Features,
    now: i64,
) -> Decision {
    let p = &**engine.policy();
    let sms = source.sms_source();
    let mut d = engine.decide_features(sms, number);
    let subject = Case {
        source: sms,
        number,
        user: None,
        now,
    };
    let shared = SubjectKeys::of(&subject).and_then(|hashes| Shared::new(p, &d, &subject, &hashes));
    if let Some(mut shared) = shared {
        shared.recall(p, store.memo(), now);
        let read = shared.reads(p, now);
        let timeout = Duration::from_millis(p.state.timeout_ms);
        match within(store, timeout, store.execute(read)).await {
            Some(Ok(OpResult::Items(items))) => {
                d.findings
                    .extend(shared.precheck(p, &items, now, store.memo()));
            }
            // The SMS is judged again, with `on-store-error`, at CustomMessage.
            _ => d.store_error = true,
        }
    }
    let ceiling = p.effective(p.pre_sign_up.mode);
    for f in &mut d.findings {
        f.mode = f.mode.min(ceiling);
    }
    d.settle();
    d
}

/// Whether a registration without a phone number is refused.
pub fn refuses_missing_phone(engine: &Engine) -> Verdict {
    let p = engine.policy();
    match (p.pre_sign_up.missing_phone, p.effective(p.pre_sign_up.mode)) {
        (MissingPhone::Refuse, Mode::Enforce) => Verdict::Block,
        (MissingPhone::Refuse, Mode::Monitor) => Verdict::Monitor,
        _ => Verdict::Allow,
    }
}
