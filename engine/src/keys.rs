//! Every item key of the table, in one place: the schema of
//! [docs/table.md](../../docs/table.md) as typed constructors. A guard
//! builds its keys only through these, so what it stores is what the
//! schema documents (a test below renders each one and finds its pattern
//! in that table).
//!
//! Arguments that derive from a person (phone, user, prefix, number block)
//! are keyed hashes already; countries are ISO codes, `ZZ` for none.

use crate::country::Country;
use crate::store::ItemKey;
use crate::window::Window;

use Part::{N, T};

/// A country as it appears in keys: its ISO code, `ZZ` for none.
pub fn country_code(c: Option<Country>) -> String {
    code(&c).to_string()
}

fn code(c: &Option<Country>) -> &str {
    c.as_ref().map_or("ZZ", Country::as_str)
}

/// A piece of a key: text, or a number in decimal.
enum Part<'a> {
    T(&'a str),
    N(i64),
}

/// The key whose `pk` and `sk` are these parts, written one after the
/// other into the key's one allocation (a decision makes some forty keys;
/// `format!` would parse a template for each).
fn key(pk: &[Part<'_>], sk: &[Part<'_>]) -> ItemKey {
    let mut text = partition(pk);
    let split = text.len();
    push(&mut text, sk);
    ItemKey::joined(text, split)
}

/// A partition written from its parts, with room for a sort key after it.
fn partition(parts: &[Part<'_>]) -> String {
    let mut text = String::with_capacity(64);
    push(&mut text, parts);
    text
}

fn push(text: &mut String, parts: &[Part<'_>]) {
    for p in parts {
        match p {
            Part::T(t) => text.push_str(t),
            Part::N(n) => text.push_str(itoa::Buffer::new().format(*n)),
        }
    }
}

/// The phone's cooldown item (also where a pending send is found when the
/// known-number guard is off).
pub fn cooldown(phone_hash: &str) -> ItemKey {
    key(&[T("phone#"), T(phone_hash)], &[T("cooldown")])
}

/// The phone's known-number item.
pub fn known(phone_hash: &str) -> ItemKey {
    key(&[T("phone#"), T(phone_hash)], &[T("known")])
}

/// The phone's sends in the UTC day of `now`.
pub fn phone_day(phone_hash: &str, now: i64) -> ItemKey {
    key(
        &[T("phone#"), T(phone_hash)],
        &[T("d"), N(Window::DAY.bucket(now))],
    )
}

/// The distinct phones a user asked for in the UTC day of `now`.
pub fn user_phones(user_hash: &str, now: i64) -> ItemKey {
    key(
        &[T("user#"), T(user_hash)],
        &[T("phones#d"), N(Window::DAY.bucket(now))],
    )
}

/// A user's sends in the hour of `now`.
pub fn user_sends(user_hash: &str, now: i64) -> ItemKey {
    key(
        &[T("user#"), T(user_hash)],
        &[T("sends#h"), N(Window::HOUR.bucket(now))],
    )
}

/// A Custom SMS Sender event's claim, by the digest of its encrypted code
/// (`pumpguard_engine::sender`).
pub fn sender_claim(code_digest: &str) -> ItemKey {
    key(&[T("sender#"), T(code_digest)], &[T("claim")])
}

/// The End User Messaging id of the last `kind` message (`sign-up`,
/// `reset`, `mfa`) the sender sent to a user, until the code is used
/// (`pumpguard_engine::sender::feedback`).
pub fn sent_message(user_hash: &str, kind: &str) -> ItemKey {
    key(&[T("user#"), T(user_hash)], &[T("message#"), T(kind)])
}

/// Sends to one number prefix in the `window` of `now`.
pub fn prefix(prefix_hash: &str, window: Window, now: i64) -> ItemKey {
    key(
        &[T("prefix#"), T(prefix_hash)],
        &[
            T("w"),
            N(window.seconds_long()),
            T("#"),
            N(window.bucket(now)),
        ],
    )
}

/// A country's counts in the hour of `now`.
pub fn country_hour(c: Option<Country>, now: i64) -> ItemKey {
    key(
        &[T("country#"), T(code(&c))],
        &[T("h"), N(Window::HOUR.bucket(now))],
    )
}

/// A country's counts on UTC day number `day`.
pub fn country_day(c: Option<Country>, day: i64) -> ItemKey {
    key(&[T("country#"), T(code(&c))], &[T("d"), N(day)])
}

/// The pool's sends in the minute of `now`.
pub fn pool_minute(now: i64) -> ItemKey {
    key(&[T("pool")], &[T("m"), N(Window::MINUTE.bucket(now))])
}

/// The pool's sends in the hour of `now`.
pub fn pool_hour(now: i64) -> ItemKey {
    key(&[T("pool")], &[T("h"), N(Window::HOUR.bucket(now))])
}

/// The partition of a country cohort.
pub fn cohort_country(c: Option<Country>) -> String {
    partition(&[T("cohort#"), T(code(&c))])
}

/// The partition of a country's sign-in cohort (MFA and reset codes).
pub fn cohort_sign_in(c: Option<Country>) -> String {
    partition(&[T("cohort#"), T(code(&c)), T("#in")])
}

/// The partition of a number-block cohort: the block hides `hidden`
/// trailing digits, `block_hash` is the keyed hash of the digits shown.
pub fn cohort_block(c: Option<Country>, hidden: u32, block_hash: &str) -> String {
    partition(&[
        T("cohort#"),
        T(code(&c)),
        T("#p"),
        N(i64::from(hidden)),
        T("#"),
        T(block_hash),
    ])
}

/// A cohort's counts on UTC day number `day`.
pub fn cohort_day(partition: &str, day: i64) -> ItemKey {
    key(&[T(partition)], &[T("d"), N(day)])
}

/// A cohort's throttle state.
pub fn cohort_state(partition: &str) -> ItemKey {
    ItemKey::new(partition, "state")
}

/// Estimated spend on UTC day number `day`, in total or for one country.
pub fn spend_day(day: i64, country: Option<&str>) -> ItemKey {
    match country {
        None => key(&[T("spend")], &[T("d"), N(day)]),
        Some(cc) => key(&[T("spend")], &[T("d"), N(day), T("#"), T(cc)]),
    }
}

/// Estimated spend in a UTC month (`yyyymm`), in total or for one country.
pub fn spend_month(yyyymm: &str, country: Option<&str>) -> ItemKey {
    match country {
        None => key(&[T("spend")], &[T("m"), T(yyyymm)]),
        Some(cc) => key(&[T("spend")], &[T("m"), T(yyyymm), T("#"), T(cc)]),
    }
}

/// The published policy.
pub fn published_policy() -> ItemKey {
    ItemKey::new("policy", "current")
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCHEMA: &str = include_str!("../../docs/table.md");

    /// A rendered key back in the schema's notation: each run of the
    /// placeholder's characters replaced by the name the table uses.
    fn documented(row: &str, rendered: &str, placeholders: &[(&str, &str)]) {
        let mut text = rendered.to_string();
        for (value, name) in placeholders {
            text = text.replacen(value, name, 1);
        }
        let line = SCHEMA
            .lines()
            .find(|l| l.starts_with(&format!("| {row} |")))
            .unwrap_or_else(|| panic!("docs/table.md has no row {row:?}"));
        assert!(
            line.contains(&format!("`{text}`")),
            "{row}: `{text}` is not in docs/table.md's row: {line}"
        );
    }

    #[test]
    fn every_key_is_the_documented_one() {
        let gb = Country::parse("GB");
        let now = 1_800_000_000;
        let (minute, hour, day) = (now / 60, now / 3600, now / 86_400);
        let (m, h, d) = (minute.to_string(), hour.to_string(), day.to_string());
        let hash = "h4sh";
        let ph = [("h4sh", "<hash>")];
        let k = cooldown(hash);
        documented("phone cooldown", k.pk(), &ph);
        documented("phone cooldown", k.sk(), &[]);
        documented("known number", known(hash).sk(), &[]);
        documented(
            "phone sends per day",
            phone_day(hash, now).sk(),
            &[(&d, "<day>")],
        );
        let up = user_phones(hash, now);
        documented("user phones / sends", up.pk(), &ph);
        documented("user phones / sends", up.sk(), &[(&d, "<day>")]);
        let us = user_sends(hash, now);
        documented("user phones / sends", us.sk(), &[(&h, "<hour>")]);
        let sc = sender_claim(hash);
        documented("sender claim", sc.pk(), &ph);
        documented("sender claim", sc.sk(), &[]);
        let sm = sent_message(hash, "mfa");
        documented("sent message", sm.pk(), &ph);
        documented("sent message", sm.sk(), &[("mfa", "<kind>")]);
        let w = Window::seconds(600);
        let bucket = (now / 600).to_string();
        let pk = prefix(hash, w, now);
        documented("number prefix", pk.pk(), &ph);
        documented(
            "number prefix",
            pk.sk(),
            &[("600", "<window>"), (&bucket, "<bucket>")],
        );
        let cc = [("GB", "<CC>")];
        documented("country", country_hour(gb, now).pk(), &cc);
        documented("country", country_hour(gb, now).sk(), &[(&h, "<hour>")]);
        documented("country", country_day(gb, day).sk(), &[(&d, "<day>")]);
        assert_eq!(country_day(None, day).pk(), "country#ZZ");
        documented("pool", pool_minute(now).sk(), &[(&m, "<minute>")]);
        documented("pool", pool_hour(now).sk(), &[(&h, "<hour>")]);
        documented("cohort day", &cohort_country(gb), &cc);
        documented("cohort day", &cohort_sign_in(gb), &cc);
        documented(
            "cohort day",
            &cohort_block(gb, 3, hash),
            &[
                ("GB", "<CC>"),
                ("3", "<hidden>"),
                (hash, "<hash of prefix>"),
            ],
        );
        documented(
            "cohort day",
            cohort_day("cohort#GB", day).sk(),
            &[(&d, "<day>")],
        );
        documented("cohort state", cohort_state("cohort#GB").sk(), &[]);
        documented("spend", spend_day(day, None).sk(), &[(&d, "<day>")]);
        documented(
            "spend",
            spend_day(day, Some("GB")).sk(),
            &[(&d, "<day>"), ("GB", "<CC>")],
        );
        documented(
            "spend",
            spend_month("202701", None).sk(),
            &[("202701", "<yyyymm>")],
        );
        documented(
            "spend",
            spend_month("202701", Some("GB")).sk(),
            &[("202701", "<yyyymm>"), ("GB", "<CC>")],
        );
        let p = published_policy();
        documented("published policy", p.pk(), &[]);
        documented("published policy", p.sk(), &[]);
    }
}
