//! Phone-number normalisation and classification.
//!
//! Every guard reasons about the same [`PhoneInfo`]: the number in E.164, the
//! region libphonenumber's metadata resolves it to (not a prefix guess: `+1 876`
//! is Jamaica), its number type, and the form problems a typo leaves behind. The
//! metadata comes from the `phonenumber` crate; nothing here is a hand-made
//! prefix table.

use std::fmt;

use rlibphonenumber::{PhoneNumber, PhoneNumberFormat, PhoneNumberType, PhoneNumberUtil};
use serde::Serialize;

use crate::country::Country;

/// Most digits an E.164 number may have, country code included (ITU-T E.164).
const E164_MAX_DIGITS: usize = 15;
/// Fewest digits we accept before asking the metadata (the shortest real
/// numbers, e.g. Niue's, have 7 including the country code).
const E164_MIN_DIGITS: usize = 7;

/// The libphonenumber number type, in the policy's kebab-case spelling.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum NumberType {
    FixedLine,
    Mobile,
    FixedLineOrMobile,
    TollFree,
    PremiumRate,
    SharedCost,
    PersonalNumber,
    Voip,
    Pager,
    Uan,
    Emergency,
    Voicemail,
    ShortCode,
    StandardRate,
    Carrier,
    NoInternational,
    /// Parses, but fits no pattern of its region: not a valid number.
    Unknown,
}

impl NumberType {
    /// Every type, in a stable order (for docs and error messages).
    pub const ALL: [NumberType; 17] = [
        Self::FixedLine,
        Self::Mobile,
        Self::FixedLineOrMobile,
        Self::TollFree,
        Self::PremiumRate,
        Self::SharedCost,
        Self::PersonalNumber,
        Self::Voip,
        Self::Pager,
        Self::Uan,
        Self::Emergency,
        Self::Voicemail,
        Self::ShortCode,
        Self::StandardRate,
        Self::Carrier,
        Self::NoInternational,
        Self::Unknown,
    ];

    /// The kebab-case name used in policies, logs and JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::FixedLine => "fixed-line",
            Self::Mobile => "mobile",
            Self::FixedLineOrMobile => "fixed-line-or-mobile",
            Self::TollFree => "toll-free",
            Self::PremiumRate => "premium-rate",
            Self::SharedCost => "shared-cost",
            Self::PersonalNumber => "personal-number",
            Self::Voip => "voip",
            Self::Pager => "pager",
            Self::Uan => "uan",
            Self::Emergency => "emergency",
            Self::Voicemail => "voicemail",
            Self::ShortCode => "short-code",
            Self::StandardRate => "standard-rate",
            Self::Carrier => "carrier",
            Self::NoInternational => "no-international",
            Self::Unknown => "unknown",
        }
    }

    /// Parses the policy spelling.
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == s)
    }

    fn from_lib(t: PhoneNumberType) -> Self {
        use PhoneNumberType as T;
        match t {
            T::FixedLine => Self::FixedLine,
            T::Mobile => Self::Mobile,
            T::FixedLineOrMobile => Self::FixedLineOrMobile,
            T::TollFree => Self::TollFree,
            T::PremiumRate => Self::PremiumRate,
            T::SharedCost => Self::SharedCost,
            T::PersonalNumber => Self::PersonalNumber,
            T::VoIP => Self::Voip,
            T::Pager => Self::Pager,
            T::UAN => Self::Uan,
            T::VoiceMail => Self::Voicemail,
            T::Unknown => Self::Unknown,
        }
    }

    /// The library's type for a policy type, for the ones libphonenumber
    /// classifies numbers into (the others never come out of `classify`).
    pub fn to_lib(self) -> Option<PhoneNumberType> {
        use PhoneNumberType as T;
        Some(match self {
            Self::FixedLine => T::FixedLine,
            Self::Mobile => T::Mobile,
            Self::FixedLineOrMobile => T::FixedLineOrMobile,
            Self::TollFree => T::TollFree,
            Self::PremiumRate => T::PremiumRate,
            Self::SharedCost => T::SharedCost,
            Self::PersonalNumber => T::PersonalNumber,
            Self::Voip => T::VoIP,
            Self::Pager => T::Pager,
            Self::Uan => T::UAN,
            Self::Voicemail => T::VoiceMail,
            _ => return None,
        })
    }
}

impl fmt::Display for NumberType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a string is not a usable E.164 number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormProblem {
    /// Empty, no leading `+`, stray characters, or a digit count E.164 does not allow.
    NotE164,
    /// The metadata knows no country calling code for the leading digits.
    UnknownCountryCode,
}

/// A typo that the form guard reports with its own reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Typo {
    /// A trunk `0` kept after the country code: `+66 0 81…`.
    LeadingZero,
    /// The country code typed twice: `+66 66 81…`.
    DoubledCountryCode,
}

/// Everything the guards need to know about one destination number.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneInfo {
    /// `+` and digits, exactly as normalised from the input (never logged).
    pub e164: String,
    /// The country calling code, e.g. 1 or 44.
    pub calling_code: u16,
    /// The region the metadata resolves the number to; `None` for
    /// non-geographic codes (+800, +882 …) and numbers that fit no region.
    pub country: Option<Country>,
    /// The number type; [`NumberType::Unknown`] for a number that is not valid.
    pub number_type: NumberType,
    /// Whether libphonenumber considers the number valid as typed.
    pub valid: bool,
    /// The national (subscriber) significant number, as typed after the calling code.
    pub national: String,
    /// A recognised typo, if the number as typed is wrong in a known way.
    pub typo: Option<Typo>,
}

/// Strips the accepted decoration (a `tel:` prefix, spaces, dashes, dots,
/// parentheses) and returns `+digits`, or why that is impossible.
pub fn normalise(raw: &str) -> Result<String, FormProblem> {
    let trimmed = raw.trim();
    let body = match trimmed.get(..4) {
        Some(p) if p.eq_ignore_ascii_case("tel:") => &trimmed[4..],
        _ => trimmed,
    };
    let mut out = String::with_capacity(body.len());
    for (i, c) in body.chars().enumerate() {
        match c {
            '+' if i == 0 => out.push('+'),
            '0'..='9' => out.push(c),
            ' ' | '\u{a0}' | '-' | '.' | '(' | ')' => {}
            _ => return Err(FormProblem::NotE164),
        }
    }
    let digits = out.len().saturating_sub(1);
    if !out.starts_with('+') || !(E164_MIN_DIGITS..=E164_MAX_DIGITS).contains(&digits) {
        return Err(FormProblem::NotE164);
    }
    if out.as_bytes().get(1) == Some(&b'0') {
        // No country calling code starts with 0.
        return Err(FormProblem::UnknownCountryCode);
    }
    Ok(out)
}

/// The phone metadata: libphonenumber's, compiled into the binary by
/// `rlibphonenumber` and decoded once. A region's patterns are compiled the
/// first time a number of it is judged.
pub fn util() -> &'static PhoneNumberUtil {
    &rlibphonenumber::PHONE_NUMBER_UTIL
}

/// The libphonenumber metadata version the classifier uses: the one
/// `rlibphonenumber` [`PHONE_LIBRARY`] ships (its README says which).
pub const METADATA_VERSION: &str = "9.0.42";

/// The crate and version the metadata comes with (checked against
/// `Cargo.lock` by a test, so a bump cannot leave [`METADATA_VERSION`] stale
/// unnoticed).
pub const PHONE_LIBRARY: &str = "rlibphonenumber 2.2.15";

/// Decodes the metadata now (the Lambda's init phase does, so the first
/// request does not pay for it).
pub fn warm_up() {
    let _ = util();
}

fn parse_e164(e164: &str) -> Option<PhoneNumber> {
    util().parse(e164, None).ok()
}

fn formatted_e164(n: &PhoneNumber) -> String {
    n.format_as(PhoneNumberFormat::E164).into_owned()
}

/// Whether more than one region shares calling code `code` (+1, +44, +7 …).
fn shared_code(code: i32) -> bool {
    util()
        .get_regions_for_country_calling_code(code)
        .is_some_and(|regions| regions.len() > 1)
}

/// Normalises and classifies one number.
pub fn classify(raw: &str) -> Result<PhoneInfo, FormProblem> {
    let e164 = normalise(raw)?;
    let parsed = parse_e164(&e164).ok_or(FormProblem::UnknownCountryCode)?;
    let code = parsed.country_code;
    let calling_code = u16::try_from(code).map_err(|_| FormProblem::UnknownCountryCode)?;
    let cc = calling_code.to_string();
    let national = e164
        .get(1 + cc.len()..)
        .ok_or(FormProblem::NotE164)?
        .to_string();
    // libphonenumber silently drops a trunk prefix ("+44 (0)20…"); compare the
    // round trip with what was typed to know whether the number is exact.
    let exact = formatted_e164(&parsed) == e164;
    // One region lookup serves validity and the country (`is_valid_number`
    // would repeat it; only the number type needs its own).
    let region = util().get_region_for_number(&parsed);
    let valid = exact && region.is_some_and(|r| util().is_valid_number_for_region(&parsed, r));

    let typo = if valid {
        None
    } else if national.starts_with('0') {
        Some(Typo::LeadingZero)
    } else if national.starts_with(&cc) && stripped_is_valid(&cc, &national[cc.len()..]) {
        Some(Typo::DoubledCountryCode)
    } else {
        None
    };

    let number_type = if valid {
        NumberType::from_lib(util().get_number_type(&parsed))
    } else {
        NumberType::Unknown
    };
    // An invalid number under a shared calling code has no trustworthy
    // region: do not let it borrow one. Non-geographic codes (+800, +882 …)
    // resolve to the "001" entity, which is no country.
    let country = if valid || !shared_code(code) {
        region.and_then(|r| Country::parse(r.as_region_str().as_str()))
    } else {
        None
    };
    Ok(PhoneInfo {
        e164,
        calling_code,
        country,
        number_type,
        valid,
        national,
        typo,
    })
}

fn stripped_is_valid(cc: &str, rest: &str) -> bool {
    let candidate = format!("+{cc}{rest}");
    parse_e164(&candidate)
        .is_some_and(|n| formatted_e164(&n) == candidate && util().is_valid_number(&n))
}

/// The longest run of one repeated digit in `digits`.
pub fn longest_repeat(digits: &str) -> usize {
    longest_run(digits.as_bytes(), |a, b| a == b)
}

/// The longest run of consecutive ascending or descending digits (`3456`, `9876`).
pub fn longest_sequence(digits: &str) -> usize {
    let b = digits.as_bytes();
    let up = longest_run(b, |a, b| b == a.wrapping_add(1));
    let down = longest_run(b, |a, b| a == b.wrapping_add(1));
    up.max(down)
}

fn longest_run(b: &[u8], step: impl Fn(u8, u8) -> bool) -> usize {
    let mut best = usize::from(!b.is_empty());
    let mut cur = best;
    for w in b.windows(2) {
        if step(w[0], w[1]) {
            cur += 1;
            best = best.max(cur);
        } else {
            cur = 1;
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(s: &str) -> PhoneInfo {
        match classify(s) {
            Ok(i) => i,
            Err(e) => panic!("{s}: {e:?}"),
        }
    }

    #[test]
    fn normalises_decorations() {
        assert_eq!(normalise("tel:+1-415-555-2671"), Ok("+14155552671".into()));
        assert_eq!(
            normalise(" +44 (20) 7946.0958 "),
            Ok("+442079460958".into())
        );
        assert_eq!(
            normalise("TEL:+33 6 12 34 56 78"),
            Ok("+33612345678".into())
        );
    }

    #[test]
    fn rejects_non_e164() {
        for bad in [
            "",
            "4155552671",
            "+",
            "+1 415 555 2671 ext 3",
            "++14155552671",
            "+1415555267112345",
            "+12",
            "00 44 20 7946 0958",
            "+4420794609ab",
        ] {
            assert_eq!(normalise(bad), Err(FormProblem::NotE164), "{bad:?}");
        }
        assert_eq!(
            classify("+0123456789"),
            Err(FormProblem::UnknownCountryCode)
        );
    }

    #[test]
    fn resolves_nanp_islands_and_crown_dependencies() {
        assert_eq!(info("+18762101234").country, Country::parse("JM"));
        assert_eq!(info("+447624123456").country, Country::parse("IM"));
        assert_eq!(info("+12015550123").country, Country::parse("US"));
        // Invalid under a shared code: no region rather than the main one.
        assert_eq!(info("+11115550123").country, None);
    }

    #[test]
    fn types_premium_and_voip() {
        assert_eq!(info("+19002345678").number_type, NumberType::PremiumRate);
        assert_eq!(info("+445612345678").number_type, NumberType::Voip);
        assert_eq!(info("+447911123456").number_type, NumberType::Mobile);
    }

    #[test]
    fn detects_typos() {
        let lz = info("+66081234567");
        assert!(!lz.valid);
        assert_eq!(lz.typo, Some(Typo::LeadingZero));
        assert_eq!(lz.number_type, NumberType::Unknown);
        let dbl = info("+6666812345678");
        assert_eq!(dbl.typo, Some(Typo::DoubledCountryCode));
        // A valid number whose national part happens to start with its code is fine.
        assert_eq!(info("+444420794609").typo, None);
        assert_eq!(info("+66812345678").typo, None);
        // Italy keeps its leading zero: not a typo.
        let it = info("+390648291735");
        assert!(it.valid, "{it:?}");
        assert_eq!(it.typo, None);
        assert_eq!(it.country, Country::parse("IT"));
        assert_eq!(it.number_type, NumberType::FixedLine);
        // Vatican City shares +39 and its 06 698 range.
        assert_eq!(info("+390669812345").country, Country::parse("VA"));
    }

    #[test]
    fn the_named_phone_library_is_the_one_built() {
        let lock = include_str!("../../Cargo.lock");
        let (name, version) = PHONE_LIBRARY.split_once(' ').unwrap_or_default();
        let entry = format!("name = \"{name}\"\nversion = \"{version}\"");
        assert!(
            lock.contains(&entry),
            "{PHONE_LIBRARY} is not in Cargo.lock"
        );
    }

    #[test]
    fn runs() {
        assert_eq!(longest_repeat("2015550000"), 4);
        assert_eq!(longest_repeat(""), 0);
        assert_eq!(longest_sequence("7123456780"), 8);
        assert_eq!(longest_sequence("4512345670"), 7);
        assert_eq!(longest_sequence("9876501"), 5);
        assert_eq!(longest_sequence("1357"), 1);
    }
}
