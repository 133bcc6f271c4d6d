//! A table of real-format phone numbers judged by the guard engine under the
//! example policy (`examples/policy.toml`). It exists to pin what pumpguard
//! actually decides for the numbers SMS pumping uses (NANP Caribbean islands
//! behind `+1`, the UK's crown dependencies behind `+44`, premium-rate, VoIP
//! and other non-mobile ranges, mobiles in pumped countries) and for the typos
//! real users make, so that a change to the engine, the policy or the
//! libphonenumber metadata that moves any of these answers fails loudly here.
//! Every expectation is libphonenumber's own answer (phonenumber 0.3.10,
//! metadata 9.0.x), not a hand-made prefix guess.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::sync::Arc;

use pumpguard_engine::phone::{classify, NumberType, Typo};
use pumpguard_engine::{Engine, Policy, TriggerSource, Verdict};

use Verdict::{Allow, Block, Monitor};

/// (number as typed, expected region, expected number type, expected verdict,
/// a reason code that must be present — `None` for an allowed number).
type Row = (
    &'static str,
    Option<&'static str>,
    &'static str,
    Verdict,
    Option<&'static str>,
);

const NOT_ALLOWED: Option<&str> = Some("COUNTRY_NOT_ALLOWED");
const BLOCKED: Option<&str> = Some("COUNTRY_BLOCKED");
const UNKNOWN_COUNTRY: Option<&str> = Some("COUNTRY_UNKNOWN");

const ROWS: &[Row] = &[
    // Allowed countries, ordinary numbers.
    (
        "+1 415 823 7741",
        Some("US"),
        "fixed-line-or-mobile",
        Allow,
        None,
    ),
    (
        "+1 (212) 736-4190",
        Some("US"),
        "fixed-line-or-mobile",
        Allow,
        None,
    ),
    (
        "tel:+1-604-872-3156",
        Some("CA"),
        "fixed-line-or-mobile",
        Allow,
        None,
    ),
    (
        "+1 416 937 5820",
        Some("CA"),
        "fixed-line-or-mobile",
        Allow,
        None,
    ),
    ("+44 7400 918362", Some("GB"), "mobile", Allow, None),
    (
        "+44 20 7946 0958",
        Some("GB"),
        "fixed-line",
        Block,
        Some("NUMBER_TYPE_FIXED_LINE"),
    ),
    // 7911 0… is British; 7911 1… and 7911 7… are Guernsey (below).
    ("+44 7911 023845", Some("GB"), "mobile", Allow, None),
    ("+353 85 174 2903", Some("IE"), "mobile", Allow, None),
    (
        "+353 1 437 2590",
        Some("IE"),
        "fixed-line",
        Block,
        Some("NUMBER_TYPE_FIXED_LINE"),
    ),
    ("+49 151 2473 9016", Some("DE"), "mobile", Allow, None),
    (
        "+49 30 9027 4815",
        Some("DE"),
        "fixed-line",
        Block,
        Some("NUMBER_TYPE_FIXED_LINE"),
    ),
    ("+33 6 47 18 29 35", Some("FR"), "mobile", Allow, None),
    (
        "+33 1 42 68 53 00",
        Some("FR"),
        "fixed-line",
        Block,
        Some("NUMBER_TYPE_FIXED_LINE"),
    ),
    ("+31 6 4817 2935", Some("NL"), "mobile", Allow, None),
    ("+34 612 47 83 90", Some("ES"), "mobile", Allow, None),
    ("+39 347 182 9036", Some("IT"), "mobile", Allow, None),
    // Italy keeps its leading 0: not a trunk-prefix typo.
    (
        "+39 06 4829 1735",
        Some("IT"),
        "fixed-line",
        Block,
        Some("NUMBER_TYPE_FIXED_LINE"),
    ),
    // Vatican City shares +39 and Rome's 06 698 range.
    (
        "+39 06 6988 3712",
        Some("VA"),
        "fixed-line",
        Block,
        NOT_ALLOWED,
    ),
    ("+61 412 738 590", Some("AU"), "mobile", Allow, None),
    (
        "tel:+61-2-9374-4000",
        Some("AU"),
        "fixed-line",
        Block,
        Some("NUMBER_TYPE_FIXED_LINE"),
    ),
    // Monitored country: sent, but logged.
    (
        "+52 55 4817 2936",
        Some("MX"),
        "fixed-line-or-mobile",
        Monitor,
        Some("COUNTRY_MONITORED"),
    ),
    // NANP Caribbean islands resolve to their own regions, not to US.
    ("+1 876 210 4387", Some("JM"), "mobile", Block, NOT_ALLOWED),
    (
        "+1 876 926 3815",
        Some("JM"),
        "fixed-line",
        Block,
        NOT_ALLOWED,
    ),
    (
        "+1 809 947 2381",
        Some("DO"),
        "fixed-line-or-mobile",
        Block,
        NOT_ALLOWED,
    ),
    (
        "+1-829-471-3865",
        Some("DO"),
        "fixed-line-or-mobile",
        Block,
        NOT_ALLOWED,
    ),
    ("+1 242 359 1874", Some("BS"), "mobile", Block, NOT_ALLOWED),
    ("+1 246 250 8341", Some("BB"), "mobile", Block, NOT_ALLOWED),
    ("+1 868 291 7425", Some("TT"), "mobile", Block, NOT_ALLOWED),
    ("+1 345 323 9518", Some("KY"), "mobile", Block, NOT_ALLOWED),
    ("+1 441 370 5286", Some("BM"), "mobile", Block, NOT_ALLOWED),
    (
        "tel:+1-787-945-3816",
        Some("PR"),
        "fixed-line-or-mobile",
        Block,
        NOT_ALLOWED,
    ),
    // The UK's crown dependencies share +44 but are regions of their own.
    ("+44 7624 381902", Some("IM"), "mobile", Block, NOT_ALLOWED),
    (
        "+44 1624 683207",
        Some("IM"),
        "fixed-line",
        Block,
        NOT_ALLOWED,
    ),
    ("+44 7781 452093", Some("GG"), "mobile", Block, NOT_ALLOWED),
    ("+44 7911 174520", Some("GG"), "mobile", Block, NOT_ALLOWED),
    (
        "+44 1481 723590",
        Some("GG"),
        "fixed-line",
        Block,
        NOT_ALLOWED,
    ),
    ("+44 7797 438105", Some("JE"), "mobile", Block, NOT_ALLOWED),
    (
        "+44 1534 872940",
        Some("JE"),
        "fixed-line",
        Block,
        NOT_ALLOWED,
    ),
    // 7924 is a Manx mobile range in the IM metadata, but GB is tried first
    // and its mobile pattern covers 79[024-9]: libphonenumber says GB.
    ("+44 7924 381560", Some("GB"), "mobile", Allow, None),
    // Premium rate.
    (
        "+1 900 438 2715",
        Some("US"),
        "premium-rate",
        Block,
        Some("NUMBER_TYPE_PREMIUM_RATE"),
    ),
    (
        "+44 909 873 1520",
        Some("GB"),
        "premium-rate",
        Block,
        Some("NUMBER_TYPE_PREMIUM_RATE"),
    ),
    // 0845 (once "local rate") is premium rate in libphonenumber.
    (
        "+44 845 720 3918",
        Some("GB"),
        "premium-rate",
        Block,
        Some("NUMBER_TYPE_PREMIUM_RATE"),
    ),
    (
        "+49 900 3 847291",
        Some("DE"),
        "premium-rate",
        Block,
        Some("NUMBER_TYPE_PREMIUM_RATE"),
    ),
    (
        "+33 8 91 72 38 45",
        Some("FR"),
        "premium-rate",
        Block,
        Some("NUMBER_TYPE_PREMIUM_RATE"),
    ),
    (
        "+61 1900 847 362",
        Some("AU"),
        "premium-rate",
        Block,
        Some("NUMBER_TYPE_PREMIUM_RATE"),
    ),
    (
        "+39 899 483716",
        Some("IT"),
        "premium-rate",
        Block,
        Some("NUMBER_TYPE_PREMIUM_RATE"),
    ),
    (
        "+254 900 483726",
        Some("KE"),
        "premium-rate",
        Block,
        Some("NUMBER_TYPE_PREMIUM_RATE"),
    ),
    (
        "+979 3 4837 2619",
        None,
        "premium-rate",
        Block,
        Some("NUMBER_TYPE_PREMIUM_RATE"),
    ),
    // VoIP.
    (
        "+44 56 4718 2930",
        Some("GB"),
        "voip",
        Block,
        Some("NUMBER_TYPE_VOIP"),
    ),
    (
        "+33 9 47 18 29 36",
        Some("FR"),
        "voip",
        Block,
        Some("NUMBER_TYPE_VOIP"),
    ),
    (
        "+31 85 483 7261",
        Some("NL"),
        "voip",
        Block,
        Some("NUMBER_TYPE_VOIP"),
    ),
    (
        "+353 76 173 8294",
        Some("IE"),
        "voip",
        Block,
        Some("NUMBER_TYPE_VOIP"),
    ),
    (
        "+39 55 1273 8496",
        Some("IT"),
        "voip",
        Block,
        Some("NUMBER_TYPE_VOIP"),
    ),
    (
        "+61 1471 38260",
        Some("AU"),
        "voip",
        Block,
        Some("NUMBER_TYPE_VOIP"),
    ),
    (
        "+1 246 310 5827",
        Some("BB"),
        "voip",
        Block,
        Some("NUMBER_TYPE_VOIP"),
    ),
    (
        "+1 600 482 7391",
        Some("CA"),
        "voip",
        Block,
        Some("NUMBER_TYPE_VOIP"),
    ),
    (
        "+66 60 483 7261",
        Some("TH"),
        "voip",
        Block,
        Some("NUMBER_TYPE_VOIP"),
    ),
    (
        "+883 5100 48372",
        None,
        "voip",
        Block,
        Some("NUMBER_TYPE_VOIP"),
    ),
    // Toll-free.
    (
        "+1 800 457 1829",
        Some("US"),
        "toll-free",
        Block,
        Some("NUMBER_TYPE_TOLL_FREE"),
    ),
    (
        "+44 800 048 7391",
        Some("GB"),
        "toll-free",
        Block,
        Some("NUMBER_TYPE_TOLL_FREE"),
    ),
    (
        "+49 800 7391 048",
        Some("DE"),
        "toll-free",
        Block,
        Some("NUMBER_TYPE_TOLL_FREE"),
    ),
    (
        "+61 1800 483 927",
        Some("AU"),
        "toll-free",
        Block,
        Some("NUMBER_TYPE_TOLL_FREE"),
    ),
    // Spain's 900 is freephone, not premium.
    (
        "+34 900 48 37 26",
        Some("ES"),
        "toll-free",
        Block,
        Some("NUMBER_TYPE_TOLL_FREE"),
    ),
    (
        "+800 4837 2619",
        None,
        "toll-free",
        Block,
        Some("NUMBER_TYPE_TOLL_FREE"),
    ),
    // Shared cost.
    (
        "+34 901 48 37 26",
        Some("ES"),
        "shared-cost",
        Block,
        Some("NUMBER_TYPE_SHARED_COST"),
    ),
    (
        "+33 8 10 48 37 26",
        Some("FR"),
        "shared-cost",
        Block,
        Some("NUMBER_TYPE_SHARED_COST"),
    ),
    (
        "+49 180 5 483726",
        Some("DE"),
        "shared-cost",
        Block,
        Some("NUMBER_TYPE_SHARED_COST"),
    ),
    (
        "+61 1300 483 726",
        Some("AU"),
        "shared-cost",
        Block,
        Some("NUMBER_TYPE_SHARED_COST"),
    ),
    (
        "+353 1850 483 726",
        Some("IE"),
        "shared-cost",
        Block,
        Some("NUMBER_TYPE_SHARED_COST"),
    ),
    // Personal numbers.
    (
        "+44 70 4837 2619",
        Some("GB"),
        "personal-number",
        Block,
        Some("NUMBER_TYPE_PERSONAL_NUMBER"),
    ),
    (
        "+49 700 4837 2619",
        Some("DE"),
        "personal-number",
        Block,
        Some("NUMBER_TYPE_PERSONAL_NUMBER"),
    ),
    (
        "+34 70 148 3726",
        Some("ES"),
        "personal-number",
        Block,
        Some("NUMBER_TYPE_PERSONAL_NUMBER"),
    ),
    (
        "+1 500 634 2917",
        Some("US"),
        "personal-number",
        Block,
        Some("NUMBER_TYPE_PERSONAL_NUMBER"),
    ),
    (
        "+1 622 483 7261",
        Some("CA"),
        "personal-number",
        Block,
        Some("NUMBER_TYPE_PERSONAL_NUMBER"),
    ),
    // Pagers.
    (
        "+44 7640 483726",
        Some("GB"),
        "pager",
        Block,
        Some("NUMBER_TYPE_PAGER"),
    ),
    (
        "+49 164 8372619",
        Some("DE"),
        "pager",
        Block,
        Some("NUMBER_TYPE_PAGER"),
    ),
    (
        "+31 66 483 7261",
        Some("NL"),
        "pager",
        Block,
        Some("NUMBER_TYPE_PAGER"),
    ),
    // UAN: GB 03… ("charged as geographic") and 055… numbers.
    (
        "+44 300 483 7261",
        Some("GB"),
        "uan",
        Block,
        Some("NUMBER_TYPE_UAN"),
    ),
    (
        "+44 55 4837 2619",
        Some("GB"),
        "uan",
        Block,
        Some("NUMBER_TYPE_UAN"),
    ),
    (
        "+1 242 225 0193",
        Some("BS"),
        "uan",
        Block,
        Some("NUMBER_TYPE_UAN"),
    ),
    // Canada's 310-xxxx: seven national digits, yet a valid +1 number.
    (
        "+1 310 4837",
        Some("CA"),
        "uan",
        Block,
        Some("NUMBER_TYPE_UAN"),
    ),
    // Voicemail access.
    (
        "+49 177 99 4837261",
        Some("DE"),
        "voicemail",
        Block,
        Some("NUMBER_TYPE_VOICEMAIL"),
    ),
    // Mobiles in countries the example policy blocks.
    ("+234 803 451 7892", Some("NG"), "mobile", Block, BLOCKED),
    ("+254 712 483 926", Some("KE"), "mobile", Block, BLOCKED),
    ("+63 917 483 2619", Some("PH"), "mobile", Block, BLOCKED),
    ("+92 300 483 2619", Some("PK"), "mobile", Block, BLOCKED),
    ("+880 1712 483926", Some("BD"), "mobile", Block, BLOCKED),
    ("+233 24 483 2619", Some("GH"), "mobile", Block, BLOCKED),
    ("+228 90 48 37 26", Some("TG"), "mobile", Block, BLOCKED),
    ("+998 91 483 26 19", Some("UZ"), "mobile", Block, BLOCKED),
    ("+255 754 483 926", Some("TZ"), "mobile", Block, BLOCKED),
    ("+256 772 483926", Some("UG"), "mobile", Block, BLOCKED),
    ("+996 700 483 926", Some("KG"), "mobile", Block, BLOCKED),
    ("+994 50 483 26 19", Some("AZ"), "mobile", Block, BLOCKED),
    ("+992 917 48 37 26", Some("TJ"), "mobile", Block, BLOCKED),
    ("+993 65 48 37 26", Some("TM"), "mobile", Block, BLOCKED),
    // Mobiles in unlisted countries.
    ("+66 81 457 1829", Some("TH"), "mobile", Block, NOT_ALLOWED),
    ("+91 98204 83726", Some("IN"), "mobile", Block, NOT_ALLOWED),
    (
        "+55 11 96483 7261",
        Some("BR"),
        "mobile",
        Block,
        NOT_ALLOWED,
    ),
    ("+27 71 483 2619", Some("ZA"), "mobile", Block, NOT_ALLOWED),
    ("+81 90 4837 2619", Some("JP"), "mobile", Block, NOT_ALLOWED),
    (
        "+86 139 4837 2619",
        Some("CN"),
        "mobile",
        Block,
        NOT_ALLOWED,
    ),
    // +7 is shared like +1: Kazakhstan's 70x mobiles are KZ, 9xx is RU.
    ("+7 916 483 2619", Some("RU"), "mobile", Block, NOT_ALLOWED),
    ("+7 701 483 2619", Some("KZ"), "mobile", Block, NOT_ALLOWED),
    // Typos: a trunk 0 kept after the country code.
    (
        "+66 0 81 457 1829",
        Some("TH"),
        "unknown",
        Block,
        Some("TYPO_LEADING_ZERO"),
    ),
    (
        "+44 0 7400 918362",
        None,
        "unknown",
        Block,
        Some("TYPO_LEADING_ZERO"),
    ),
    (
        "+33 0 6 47 18 29 35",
        Some("FR"),
        "unknown",
        Block,
        Some("TYPO_LEADING_ZERO"),
    ),
    (
        "+49 0151 2473 9016",
        Some("DE"),
        "unknown",
        Block,
        Some("TYPO_LEADING_ZERO"),
    ),
    (
        "+234 0803 451 7892",
        Some("NG"),
        "unknown",
        Block,
        Some("TYPO_LEADING_ZERO"),
    ),
    // Typos: the country code typed twice.
    (
        "+66 66 81 457 1829",
        Some("TH"),
        "unknown",
        Block,
        Some("TYPO_DOUBLED_COUNTRY_CODE"),
    ),
    (
        "+44 44 7400 918362",
        None,
        "unknown",
        Block,
        Some("TYPO_DOUBLED_COUNTRY_CODE"),
    ),
    (
        "+1 1 415 823 7741",
        None,
        "unknown",
        Block,
        Some("TYPO_DOUBLED_COUNTRY_CODE"),
    ),
    // +61 is shared with Christmas Island and Cocos: an invalid number gets no region.
    (
        "+61 61 412 738 590",
        None,
        "unknown",
        Block,
        Some("TYPO_DOUBLED_COUNTRY_CODE"),
    ),
    // Invalid: no exchange starts with 0 in NANP; too short for GB.
    (
        "+1 212 055 7381",
        None,
        "unknown",
        Block,
        Some("INVALID_NUMBER"),
    ),
    (
        "+44 7400 9183",
        None,
        "unknown",
        Block,
        Some("INVALID_NUMBER"),
    ),
    // IM's leading digits (7624) but outside its mobile range: invalid, no region.
    ("+44 7624 581902", None, "unknown", Block, UNKNOWN_COUNTRY),
    // Suspicious digit runs in otherwise valid numbers.
    (
        "+1 415 555 5555",
        Some("US"),
        "fixed-line-or-mobile",
        Block,
        Some("SUSPICIOUS_REPEATED_DIGITS"),
    ),
    (
        "+44 7345 678901",
        Some("GB"),
        "mobile",
        Block,
        Some("SUSPICIOUS_SEQUENTIAL_DIGITS"),
    ),
    (
        "+49 176 9876 5432",
        Some("DE"),
        "mobile",
        Block,
        Some("SUSPICIOUS_SEQUENTIAL_DIGITS"),
    ),
];

fn engine() -> Engine {
    Engine::new(Arc::new(Policy::example()))
}

#[test]
fn every_row_gets_libphonenumbers_answer() {
    let engine = engine();
    let mut failures = Vec::new();
    for &(number, country, number_type, verdict, reason) in ROWS {
        let d = engine.decide(TriggerSource::SignUp, number);
        let got_country = d.country.as_ref().map(|c| c.as_str().to_string());
        let got_type = d.number_type.map(NumberType::as_str);
        let reasons = d.reasons();
        let reason_ok = match reason {
            Some(r) => reasons.iter().any(|got| got == r),
            None => reasons.is_empty(),
        };
        if got_country.as_deref() != country
            || got_type != Some(number_type)
            || d.verdict != verdict
            || !reason_ok
        {
            failures.push(format!(
                "{number:?}: expected ({country:?}, {number_type}, {verdict}, {reason:?}), \
                 got ({got_country:?}, {got_type:?}, {}, {reasons:?})",
                d.verdict
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        ROWS.len(),
        failures.join("\n")
    );
}

#[test]
fn typo_rows_are_classified_as_typos() {
    for &(number, _, _, _, reason) in ROWS {
        let expected = match reason {
            Some("TYPO_LEADING_ZERO") => Some(Typo::LeadingZero),
            Some("TYPO_DOUBLED_COUNTRY_CODE") => Some(Typo::DoubledCountryCode),
            _ => None,
        };
        let info = classify(number);
        assert!(info.is_ok(), "{number:?} does not parse: {info:?}");
        let typo = info.as_ref().ok().and_then(|i| i.typo);
        assert_eq!(typo, expected, "{number:?}: {info:?}");
        if expected.is_some() {
            assert!(
                info.is_ok_and(|i| !i.valid),
                "{number:?} is a typo yet valid"
            );
        }
    }
}

#[test]
fn table_covers_what_pumping_uses() {
    assert!(ROWS.len() >= 55, "only {} rows", ROWS.len());
    let countries: BTreeSet<&str> = ROWS.iter().filter_map(|r| r.1).collect();
    assert!(
        countries.len() >= 28,
        "only {} countries: {countries:?}",
        countries.len()
    );
    for needed in ["JM", "IM"] {
        assert!(countries.contains(needed), "no row for {needed}");
    }
    assert!(
        countries.contains("GG") || countries.contains("JE"),
        "no row for Guernsey or Jersey"
    );
    for needed in ["premium-rate", "voip"] {
        assert!(
            ROWS.iter().any(|r| r.2 == needed),
            "no row of type {needed}"
        );
    }
}
