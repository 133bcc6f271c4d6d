//! Known numbers: phones that have proven, over time and repeated use, that
//! the codes sent to them reach a real user.
//!
//! A completion (PostConfirmation, PostAuthentication) credits a phone only
//! when it matches the send pending for that phone: the same user, and a
//! code of the kind the completion verifies (a sign-up or reset code for
//! PostConfirmation, an MFA code for PostAuthentication with
//! `phone_number_verified` true). The phone's item, under its keyed hash,
//! keeps the first and last verification, a count, and how many codes in a
//! row went unused since the last one.
//!
//! A phone is *known* once it has `min-verifications` verifications, the
//! first at least `trusted-after-hours` ago, and fewer than `max-unused`
//! unused codes since the last. A known phone is judged only by its own
//! limits (the cooldown and its daily cap, which grows from
//! `unknown-max-per-day` by one per code it used today up to
//! `known-max-per-day`): cohort limits never refuse it, and the budget keeps
//! a lane for it. Trust is lost on abuse: codes
//! that go unused suspend it until the next verification, and its daily cap
//! bounds what an attacker who owns and verifies numbers can draw from each.

use serde::{Deserialize, Serialize};

use crate::keys;
use crate::policy::{Collector, Mode};
use crate::source::TriggerSource;
use crate::store::{Attr, NumberMap, Op};
use crate::window::Window;

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case", default)]
pub(crate) struct WireKnown {
    mode: Mode,
    trusted_after_hours: i64,
    min_verifications: i64,
    max_unused: i64,
    known_max_per_day: i64,
    unknown_max_per_day: i64,
    suspend_days: i64,
    remember_days: i64,
    mfa_code_minutes: i64,
}

impl Default for WireKnown {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            trusted_after_hours: 24,
            min_verifications: 2,
            max_unused: 3,
            known_max_per_day: 6,
            unknown_max_per_day: 3,
            suspend_days: 7,
            remember_days: 400,
            mfa_code_minutes: 3,
        }
    }
}

/// `[known-numbers]`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct KnownPolicy {
    /// The per-phone daily caps' mode. With `off`, no phone is known either.
    pub mode: Mode,
    pub trusted_after_hours: u32,
    pub min_verifications: u32,
    pub max_unused: u32,
    pub known_max_per_day: u32,
    pub unknown_max_per_day: u32,
    /// A known phone whose codes went unused `max-unused` times in a row
    /// is not known for this many days, whatever it verifies meanwhile.
    pub suspend_days: u32,
    pub remember_days: u32,
    /// How long an MFA code can be used: the app client's
    /// `AuthSessionValidity` (Cognito's default is 3 minutes, at most 15).
    pub mfa_code_minutes: u32,
}

impl crate::policy::Section for KnownPolicy {
    const NAME: &'static str = "known-numbers";
    type Wire = WireKnown;

    fn check(w: WireKnown, c: &mut Collector) -> Self {
        check_known(w, c)
    }
}

pub(crate) fn check_known(w: WireKnown, c: &mut Collector) -> KnownPolicy {
    let b = |c: &mut Collector, key: &str, v: i64, lo: i64, hi: i64| {
        crate::limits::bounded(c, &format!("known-numbers.{key}"), v, lo, hi)
    };
    KnownPolicy {
        mode: w.mode,
        trusted_after_hours: b(c, "trusted-after-hours", w.trusted_after_hours, 0, 24 * 365),
        min_verifications: b(c, "min-verifications", w.min_verifications, 1, 1000),
        max_unused: b(c, "max-unused", w.max_unused, 1, 1000),
        known_max_per_day: b(c, "known-max-per-day", w.known_max_per_day, 1, 10_000),
        unknown_max_per_day: b(c, "unknown-max-per-day", w.unknown_max_per_day, 1, 10_000),
        suspend_days: b(c, "suspend-days", w.suspend_days, 0, 365),
        remember_days: b(c, "remember-days", w.remember_days, 1, 3660),
        mfa_code_minutes: b(c, "mfa-code-minutes", w.mfa_code_minutes, 3, 15),
    }
}

/// Which completion verifies a send, as stored in `sent_kind`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeKind {
    /// SignUp, ResendCode, AdminCreateUser: verified by PostConfirmation_ConfirmSignUp.
    SignUp = 1,
    /// ForgotPassword: verified by PostConfirmation_ConfirmForgotPassword.
    ForgotPassword = 2,
    /// Authentication (MFA): verified by PostAuthentication with a verified phone.
    Mfa = 3,
    /// UpdateUserAttribute / VerifyUserAttribute: Cognito has no trigger for
    /// their completion, so they are never credited.
    Attribute = 4,
}

impl CodeKind {
    pub fn of(source: TriggerSource) -> Self {
        match source {
            TriggerSource::SignUp | TriggerSource::ResendCode | TriggerSource::AdminCreateUser => {
                CodeKind::SignUp
            }
            TriggerSource::ForgotPassword => CodeKind::ForgotPassword,
            TriggerSource::Authentication => CodeKind::Mfa,
            TriggerSource::UpdateUserAttribute | TriggerSource::VerifyUserAttribute => {
                CodeKind::Attribute
            }
        }
    }
}

/// A completion event: what it proves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Completion {
    /// PostConfirmation_ConfirmSignUp.
    ConfirmSignUp,
    /// PostConfirmation_ConfirmForgotPassword.
    ConfirmForgotPassword,
    /// PostAuthentication_Authentication with `phone_number_verified` true.
    Authentication,
}

impl Completion {
    /// The completion a Cognito trigger source stands for, if any.
    /// PostAuthentication counts only with the phone verified.
    pub fn parse(source: &str, phone_verified: bool) -> Option<Self> {
        match source {
            "PostConfirmation_ConfirmSignUp" => Some(Completion::ConfirmSignUp),
            "PostConfirmation_ConfirmForgotPassword" => Some(Completion::ConfirmForgotPassword),
            "PostAuthentication_Authentication" if phone_verified => {
                Some(Completion::Authentication)
            }
            _ => None,
        }
    }

    /// How long the code this completion uses stays valid in Cognito, so
    /// the longest a real completion can follow its send: a sign-up code
    /// 24 hours, a password-reset code one hour, an MFA code the
    /// authentication session (`mfa-code-minutes`, the app client's
    /// `AuthSessionValidity`). A completion later than that cannot be using
    /// the pending send: the SMS that would have carried its code was
    /// refused, or never asked for. It credits nothing.
    pub fn code_lifetime_secs(self, p: &KnownPolicy) -> i64 {
        match self {
            Completion::ConfirmSignUp => 86_400,
            Completion::ConfirmForgotPassword => 3_600,
            Completion::Authentication => i64::from(p.mfa_code_minutes) * 60,
        }
    }

    /// The kind of code this completion verifies.
    pub fn code_kind(self) -> CodeKind {
        match self {
            Completion::ConfirmSignUp => CodeKind::SignUp,
            Completion::ConfirmForgotPassword => CodeKind::ForgotPassword,
            Completion::Authentication => CodeKind::Mfa,
        }
    }

    /// The code kinds this completion verifies, as stored in `sent_kind`.
    pub fn kinds(self) -> Vec<i64> {
        vec![self.code_kind() as i64]
    }
}

/// A user as the number kept in `sent_user`: 60 bits of its keyed hash
/// (`PhoneHasher::hash_text`); 0 for none.
pub fn user_tag(user_hash: Option<&str>) -> i64 {
    let Some(h) = user_hash else { return 0 };
    h.get(..15)
        .and_then(|x| i64::from_str_radix(x, 16).ok())
        .unwrap_or(0)
}

/// Whether the item says the phone is known at `now`.
pub fn is_known(p: &KnownPolicy, item: &NumberMap, now: i64) -> bool {
    if p.mode == Mode::Off {
        return false;
    }
    let get = |k: &str| item.get(k).copied();
    let (Some(count), Some(first)) = (get("vcount"), get("first_verified")) else {
        return false;
    };
    let suspended = get("suspended_at")
        .is_some_and(|at| now.saturating_sub(at) < i64::from(p.suspend_days) * 86_400);
    count >= i64::from(p.min_verifications)
        && now.saturating_sub(first) >= i64::from(p.trusted_after_hours) * 3600
        && get("unused").unwrap_or(0) < i64::from(p.max_unused)
        && !suspended
}

/// The per-phone daily cap. An unknown phone gets `unknown-max-per-day`. A
/// known phone gets as much plus one for each of its codes used today less
/// one for each it left unused, up to `known-max-per-day`: a real user who
/// asks for more codes uses them, while an account that asks for codes it
/// mostly never uses (an owned number drawing MFA codes, confirming a share
/// of them to look real) stays at the lower cap, however it became known.
pub fn daily_cap(p: &KnownPolicy, known: bool, today: &NumberMap) -> i64 {
    let base = i64::from(p.unknown_max_per_day);
    if !known {
        return base;
    }
    let count = |a: &str| today.get(a).copied().unwrap_or(0).max(0);
    let (sends, used) = (count("sends"), count("used"));
    let used = used.min(sends);
    let unused = sends - used;
    base.saturating_add(used - unused)
        .min(i64::from(p.known_max_per_day))
        .max(base)
}

/// Counts a used code on the phone's day item (see [`daily_cap`]).
pub fn used_today(phone_hash: &str, now: i64) -> Op {
    Op::AddIf {
        key: keys::phone_day(phone_hash, now),
        adds: vec![("used".into(), 1)],
        below: Vec::new(),
        set: Vec::new(),
        expires_at: Window::DAY.end(now) + 86_400,
    }
}

/// The attributes [`pending`] sets, as `item` holds them: what a refused
/// SMS restores. A phone with no send before gets `sent_kind = 0`, which no
/// completion verifies, and `suspended_at = 0`, which suspends nothing.
pub fn pending_record(item: &NumberMap) -> Vec<(Attr, i64)> {
    [
        "sent_at",
        "sent_user",
        "sent_kind",
        "sent_cohort",
        "suspended_at",
    ]
    .into_iter()
    .map(|a| (a.into(), item.get(a).copied().unwrap_or(0)))
    .collect()
}

/// Records a send as pending for verification: who it was for, which
/// completion verifies it, whether it counted in its cohorts, and one more
/// code not yet used. A known phone whose unused codes reach `max-unused`
/// with this one is suspended (`suspended_at`).
pub fn pending(
    p: &KnownPolicy,
    item: &NumberMap,
    phone_hash: &str,
    now: i64,
    (user, kind): (i64, CodeKind),
    known: bool,
    counted_in_cohorts: bool,
) -> Op {
    let mut set = vec![
        ("sent_at".into(), now),
        ("sent_user".into(), user),
        ("sent_kind".into(), kind as i64),
        ("sent_cohort".into(), i64::from(counted_in_cohorts)),
    ];
    let unused = item.get("unused").copied().unwrap_or(0);
    if known && unused.saturating_add(1) >= i64::from(p.max_unused) {
        set.push(("suspended_at".into(), now));
    }
    Op::AddIf {
        key: keys::known(phone_hash),
        adds: vec![("unused".into(), 1)],
        below: Vec::new(),
        set,
        expires_at: now + i64::from(p.remember_days) * 86_400,
    }
}
