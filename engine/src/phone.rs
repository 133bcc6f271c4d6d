//! Phone-number normalisation and classification.
//!
//! Every guard reasons about the same [`PhoneInfo`]: the number in E.164, the
//! region libphonenumber's metadata resolves it to (not a prefix guess: `+1 876`
//! is Jamaica), its number type, and the form problems a typo leaves behind. The
//! metadata comes from the `phonenumber` crate; nothing here is a hand-made
//! prefix table.

use std::fmt;

use phonenumber::{Mode, PhoneNumber};
use serde::Serialize;

use crate::country::Country;

/// Most digits an E.164 number may have, country code included (ITU-T E.164).
const E164_MAX_DIGITS: usize = 15;
/// Fewest digits we accept before asking the metadata (the shortest real
/// numbers, e.g. Niue's, have 7 including the country code).
const E164_MIN_DIGITS: usize = 7;

/// The libphonenumber number type, in the policy's kebab-case spelling.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
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

    fn from_lib(t: phonenumber::Type) -> Self {
        use phonenumber::Type as T;
        match t {
            T::FixedLine => Self::FixedLine,
            T::Mobile => Self::Mobile,
            T::FixedLineOrMobile => Self::FixedLineOrMobile,
            T::TollFree => Self::TollFree,
            T::PremiumRate => Self::PremiumRate,
            T::SharedCost => Self::SharedCost,
            T::PersonalNumber => Self::PersonalNumber,
            T::Voip => Self::Voip,
            T::Pager => Self::Pager,
            T::Uan => Self::Uan,
            T::Emergency => Self::Emergency,
            T::Voicemail => Self::Voicemail,
            T::ShortCode => Self::ShortCode,
            T::StandardRate => Self::StandardRate,
            T::Carrier => Self::Carrier,
            T::NoInternational => Self::NoInternational,
            T::Unknown => Self::Unknown,
        }
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

fn parse_e164(e164: &str) -> Option<PhoneNumber> {
    phonenumber::parse(None, e164).ok()
}

fn formatted_e164(n: &PhoneNumber) -> String {
    n.format().mode(Mode::E164).to_string()
}

/// Patterns phonenumber keeps compiled. Its default, 100, is fewer than the
/// patterns of a handful of countries (about a dozen per region, and +1 alone
/// has 25 regions), so traffic to many countries recompiled patterns on most
/// lookups: a decision then cost milliseconds instead of microseconds. Only
/// the patterns of countries actually seen are ever compiled.
pub const PATTERN_CACHE: usize = 4096;

fn enlarge_pattern_cache() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        if let Ok(mut cache) = phonenumber::metadata::DATABASE.cache().lock() {
            if cache.capacity() < PATTERN_CACHE {
                *cache = regex_cache::RegexCache::new(PATTERN_CACHE);
            }
        }
    });
}

/// Normalises and classifies one number.
pub fn classify(raw: &str) -> Result<PhoneInfo, FormProblem> {
    enlarge_pattern_cache();
    let e164 = normalise(raw)?;
    let parsed = parse_e164(&e164).ok_or(FormProblem::UnknownCountryCode)?;
    let calling_code = parsed.code().value();
    let cc = calling_code.to_string();
    let national = e164
        .get(1 + cc.len()..)
        .ok_or(FormProblem::NotE164)?
        .to_string();
    // libphonenumber silently drops a trunk prefix ("+44 (0)20…"); compare the
    // round trip with what was typed to know whether the number is exact.
    let exact = formatted_e164(&parsed) == e164;
    // One region lookup serves region, type and validity (see `resolve`).
    let resolved = resolve(calling_code, &national);
    let valid = exact && resolved.is_some_and(|(_, t)| t != phonenumber::Type::Unknown);

    let typo = if valid {
        None
    } else if national.starts_with('0') {
        Some(Typo::LeadingZero)
    } else if national.starts_with(&cc) && stripped_is_valid(&cc, &national[cc.len()..]) {
        Some(Typo::DoubledCountryCode)
    } else {
        None
    };

    let number_type = match resolved {
        Some((_, t)) if valid => NumberType::from_lib(t),
        _ => NumberType::Unknown,
    };
    // An invalid number under a shared calling code (+1, +44, +7 …) has no
    // trustworthy region: do not let it borrow one.
    let shared_code = phonenumber::metadata::DATABASE
        .region(&calling_code)
        .is_some_and(|regions| regions.len() > 1);
    let country = match resolved {
        Some((meta, _)) if valid || !shared_code => Country::parse(meta.id()),
        _ => None,
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

/// The region metadata and number type of `national` under calling code
/// `code`, by libphonenumber's rules: a code's only region; else the first
/// region whose leading digits match, or (for regions without leading digits)
/// whose patterns fit. Non-geographic codes (+800, +882 …) resolve to their
/// "001" metadata, whose id is not a country.
///
/// `phonenumber` 0.3.10 has this logic too, but looks the region up on the
/// national number as an integer, which drops an Italian-style leading zero
/// (+39 06… came back with no region and type unknown), and its
/// `is_valid`, `country` and `number_type` each repeat the lookup. Here the
/// digits are used as typed, once.
fn resolve(
    code: u16,
    national: &str,
) -> Option<(&'static phonenumber::Metadata, phonenumber::Type)> {
    let db = &*phonenumber::metadata::DATABASE;
    let regions = db.region(&code)?;
    if let [only] = regions.as_slice() {
        let meta = if *only == "001" {
            db.by_code(&code)?.into_iter().next()?
        } else {
            db.by_id(*only)?
        };
        return Some((meta, type_of(meta, national)));
    }
    for region in regions {
        let meta = db.by_id(region)?;
        match meta.leading_digits() {
            Some(re) => {
                if re.find(national).is_some_and(|m| m.start() == 0) {
                    return Some((meta, type_of(meta, national)));
                }
            }
            None => {
                let t = type_of(meta, national);
                if t != phonenumber::Type::Unknown {
                    return Some((meta, t));
                }
            }
        }
    }
    None
}

fn type_of(meta: &'static phonenumber::Metadata, national: &str) -> phonenumber::Type {
    use phonenumber::Type as T;
    let fits =
        |d: Option<&phonenumber::metadata::Descriptor>| d.is_some_and(|d| d.is_match(national));
    let meta = meta.descriptors();
    if !meta.general().is_match(national) {
        return T::Unknown;
    }
    for t in [
        T::PremiumRate,
        T::TollFree,
        T::SharedCost,
        T::Voip,
        T::PersonalNumber,
        T::Pager,
        T::Uan,
        T::Voicemail,
    ] {
        if fits(meta.get(t)) {
            return t;
        }
    }
    if fits(meta.fixed_line()) {
        let same = meta.fixed_line().map(|d| d.national_number().as_str())
            == meta.mobile().map(|d| d.national_number().as_str());
        return if same || fits(meta.mobile()) {
            T::FixedLineOrMobile
        } else {
            T::FixedLine
        };
    }
    if fits(meta.mobile()) {
        T::Mobile
    } else {
        T::Unknown
    }
}

fn stripped_is_valid(cc: &str, rest: &str) -> bool {
    let candidate = format!("+{cc}{rest}");
    parse_e164(&candidate).is_some_and(|n| formatted_e164(&n) == candidate && n.is_valid())
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
    fn runs() {
        assert_eq!(longest_repeat("2015550000"), 4);
        assert_eq!(longest_repeat(""), 0);
        assert_eq!(longest_sequence("7123456780"), 8);
        assert_eq!(longest_sequence("4512345670"), 7);
        assert_eq!(longest_sequence("9876501"), 5);
        assert_eq!(longest_sequence("1357"), 1);
    }
}
