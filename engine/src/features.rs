//! What the guards see of a phone number: everything they judge by, and
//! nothing the number can be read back from.
//!
//! Every decision is made from [`Features`]: the trigger works them out from
//! the number it is given, `pumpguard replay` reads them from a [`Record`]
//! the trigger logged (`[trigger] record = true`) or an importer wrote. One
//! path from features to verdict serves both, so a record replays to the
//! verdicts its raw event would get, for any policy that needs no more of
//! the number than the record holds ([`Features::missing_for`]).
//!
//! A record holds keyed hashes (HMAC-SHA256 under `PUMPGUARD_PHONE_HASH_KEY`)
//! of the number, of the user and of the number's prefixes at the depths the
//! guards hash (`[prefix-velocity] hidden-digits`, `[cohorts]
//! prefix-hidden-digits`), and the number's country, type, form and longest
//! runs of one digit and of consecutive digits. It holds no digit of the
//! number.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::country::Country;
use crate::hash::PhoneHasher;
use crate::phone::{self, FormProblem, NumberType, Typo};
use crate::policy::{Mode, Policy};

/// The number's form, as the form guard judges it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Form {
    /// A valid number of its region.
    Valid,
    /// Parses, but fits no pattern of its region.
    Invalid,
    /// Not `+` and 7 to 15 digits (after the accepted decoration).
    NotE164,
    /// No country calling code starts the digits.
    UnknownCountryCode,
    /// A trunk `0` after the country code.
    LeadingZero,
    /// The country code typed twice.
    DoubledCountryCode,
}

impl Form {
    /// Whether the number could be read at all (a country calling code and a
    /// national number): the suspicious-digits guard judges only those.
    pub fn readable(self) -> bool {
        !matches!(self, Form::NotE164 | Form::UnknownCountryCode)
    }
}

/// The depths (hidden trailing digits) at which prefixes are hashed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Depths {
    /// `[prefix-velocity] hidden-digits`.
    pub prefix: Vec<u32>,
    /// `[cohorts] prefix-hidden-digits`.
    pub blocks: Vec<u32>,
}

impl Depths {
    /// The depths [`Features::keyed`] hashes at: every depth `p` names
    /// when recording, else those its guards need.
    pub fn keyed(p: &Policy, record: bool) -> Self {
        if record {
            Self::named(p)
        } else {
            Self::needed(p)
        }
    }

    /// The depths the guards `p` runs need (none for a guard that is off).
    pub fn needed(p: &Policy) -> Self {
        let on = |m: Mode| p.effective(m) != Mode::Off;
        Self {
            prefix: if on(p.prefix_velocity.mode) {
                vec![p.prefix_velocity.hidden_digits]
            } else {
                Vec::new()
            },
            blocks: if on(p.cohorts.mode) {
                p.cohorts.prefix_hidden_digits.clone()
            } else {
                Vec::new()
            },
        }
    }

    /// Every depth `p` names, on or off: what a record carries, so that it
    /// can answer a policy that turns a guard on.
    pub fn named(p: &Policy) -> Self {
        Self {
            prefix: vec![p.prefix_velocity.hidden_digits],
            blocks: p.cohorts.prefix_hidden_digits.clone(),
        }
    }
}

/// Everything the guards use of one phone number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Features {
    /// The keyed hash of the number in E.164 (the state's key for it);
    /// `None` for a string that is no E.164 number, or when not hashed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub phone: Option<String>,
    pub form: Form,
    /// The region the number resolves to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<Country>,
    /// The number type; `None` for an unreadable number.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub number_type: Option<NumberType>,
    /// The longest run of one digit in the national number.
    #[serde(default)]
    pub repeat: u8,
    /// The longest ascending or descending run in the national number.
    #[serde(default)]
    pub sequence: u8,
    /// Digits in E.164, the country code included (0 when not E.164).
    #[serde(default)]
    pub digits: u8,
    /// Keyed hashes of the number without its last N digits (`+` kept), by
    /// N: `[prefix-velocity]`'s key.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub prefixes: BTreeMap<u32, String>,
    /// Keyed hashes of the digits without the last N, by N: `[cohorts]`'
    /// number blocks (only for numbers long enough for the depth).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub blocks: BTreeMap<u32, String>,
    /// The number is on `exemptions.allow-numbers` (of the policy that
    /// worked the features out).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub exempt: bool,
}

/// [`Features::keyed`] under one policy, key and recording, remembered for
/// the numbers met last. A replay meets one number again and again (its
/// sign-up, its sign-ins, their verifications), and working features out
/// (classification and a keyed hash per depth) costs more than a copy.
/// Holds at most two generations of numbers ([`KeyedMemo::GENERATION`]
/// each): when the newer is full, the older is dropped, so memory stays
/// bounded whatever the traffic.
pub struct KeyedMemo {
    policy: std::sync::Arc<Policy>,
    keys: PhoneHasher,
    record: bool,
    depths: Depths,
    generation: usize,
    /// Numbers met since the last turn, and those met in the generation
    /// before (moved to `newer` when met again).
    newer: MemoMap,
    older: MemoMap,
}

/// Numbers as written in events, so hashed with a seed of this process's
/// own (foldhash's `RandomState`): traffic cannot be chosen to collide.
type MemoMap = std::collections::HashMap<String, Features, foldhash::fast::RandomState>;

impl std::fmt::Debug for KeyedMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Its keys are phone numbers.
        f.debug_struct("KeyedMemo")
            .field("numbers", &self.len())
            .finish_non_exhaustive()
    }
}

impl KeyedMemo {
    /// Numbers per generation.
    pub const GENERATION: usize = 32_768;

    /// For [`Features::keyed`]`(_, policy, keys, record)`.
    pub fn new(policy: std::sync::Arc<Policy>, keys: PhoneHasher, record: bool) -> Self {
        Self::with_generation(policy, keys, record, Self::GENERATION)
    }

    /// [`KeyedMemo::new`] with `generation` numbers per generation (at
    /// least one).
    pub fn with_generation(
        policy: std::sync::Arc<Policy>,
        keys: PhoneHasher,
        record: bool,
        generation: usize,
    ) -> Self {
        let depths = Depths::keyed(&policy, record);
        Self {
            policy,
            keys,
            record,
            depths,
            generation: generation.max(1),
            newer: MemoMap::default(),
            older: MemoMap::default(),
        }
    }

    /// `Features::keyed(raw, policy, keys, record)`.
    pub fn features(&mut self, raw: &str) -> Features {
        if let Some(f) = self.newer.get(raw) {
            return f.clone();
        }
        let f = match self.older.remove(raw) {
            Some(f) => f,
            None => Features::of(raw, &self.policy, Some((&self.keys, &self.depths))),
        };
        if self.newer.len() >= self.generation {
            // Sized for a whole generation at once: grown from empty, it
            // would move every entry several times over.
            let next = MemoMap::with_capacity_and_hasher(self.generation, Default::default());
            self.older = std::mem::replace(&mut self.newer, next);
        }
        self.newer.insert(raw.to_string(), f.clone());
        f
    }

    /// The key the features are hashed under.
    pub fn keys(&self) -> &PhoneHasher {
        &self.keys
    }

    /// Whether the features are made for recording ([`Features::keyed`]).
    pub fn record(&self) -> bool {
        self.record
    }

    /// Numbers held (at most two generations).
    pub fn len(&self) -> usize {
        self.newer.len() + self.older.len()
    }

    /// Whether no number is held.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A number too short for a cohort block of `hidden` digits: the block keeps
/// the calling code and at least two more digits.
fn too_short_for_block(digits: usize, hidden: u32) -> bool {
    digits
        < usize::try_from(hidden)
            .unwrap_or(usize::MAX)
            .saturating_add(4)
}

impl Features {
    /// Works out the features of `raw` under policy `p`. With `keys`, the
    /// number and its prefixes at `depths` are hashed; without, only what
    /// the static guards need is there.
    pub fn of(raw: &str, p: &Policy, keys: Option<(&PhoneHasher, &Depths)>) -> Self {
        let classified = phone::classify(raw);
        // `classify` normalises first: a classified number's E.164 is the
        // normalised one; only a refused one is normalised again (it may
        // still be `+` and digits, with state of its own).
        let normalised = match &classified {
            Ok(_) => None,
            Err(_) => phone::normalise(raw).ok(),
        };
        let e164 = match &classified {
            Ok(i) => Some(i.e164.as_str()),
            Err(_) => normalised.as_deref(),
        };
        let (form, country, number_type, national) = match &classified {
            Ok(i) => (
                match (i.valid, i.typo) {
                    (true, _) => Form::Valid,
                    (false, Some(Typo::LeadingZero)) => Form::LeadingZero,
                    (false, Some(Typo::DoubledCountryCode)) => Form::DoubledCountryCode,
                    (false, None) => Form::Invalid,
                },
                i.country,
                Some(i.number_type),
                i.national.as_str(),
            ),
            Err(FormProblem::NotE164) => (Form::NotE164, None, None, ""),
            Err(FormProblem::UnknownCountryCode) => (Form::UnknownCountryCode, None, None, ""),
        };
        let run = |n: usize| u8::try_from(n).unwrap_or(u8::MAX);
        let mut f = Features {
            phone: None,
            form,
            country,
            number_type,
            repeat: run(phone::longest_repeat(national)),
            sequence: run(phone::longest_sequence(national)),
            digits: e164.map_or(0, |e| run(e.len().saturating_sub(1))),
            prefixes: BTreeMap::new(),
            blocks: BTreeMap::new(),
            exempt: e164.is_some_and(|e| p.exemptions.allow_numbers.contains(e)),
        };
        if let (Some(e164), Some((keys, depths))) = (e164, keys) {
            f.phone = Some(keys.hash_text(e164));
            for hidden in &depths.prefix {
                let cut = usize::try_from(*hidden).unwrap_or(usize::MAX);
                let prefix = &e164[..e164.len().saturating_sub(cut)];
                f.prefixes.insert(*hidden, keys.hash_text(prefix));
            }
            let digits = &e164[1..];
            for hidden in &depths.blocks {
                if too_short_for_block(digits.len(), *hidden) {
                    continue;
                }
                let cut = usize::try_from(*hidden).unwrap_or(0);
                f.blocks
                    .insert(*hidden, keys.hash_text(&digits[..digits.len() - cut]));
            }
        }
        f
    }

    /// The features of `raw` for the trigger: hashed under `keys` at the
    /// depths the guards of `p` need, or with `record` at every depth `p`
    /// names (so that a replay can turn a guard on).
    pub fn keyed(raw: &str, p: &Policy, keys: &PhoneHasher, record: bool) -> Self {
        Self::of(raw, p, Some((keys, &Depths::keyed(p, record))))
    }

    /// What the guards of `p` need that these features lack: the prefix
    /// depths a record was not written with. `None` when nothing is missing.
    pub fn missing_for(&self, p: &Policy) -> Option<String> {
        self.missing(&Depths::needed(p))
    }

    /// [`Features::missing_for`] with the policy's needs worked out once.
    pub fn missing(&self, need: &Depths) -> Option<String> {
        // An unhashed number (no E.164) has no state to need depths for.
        self.phone.as_ref()?;
        let mut missing = Vec::new();
        for d in &need.prefix {
            if !self.prefixes.contains_key(d) {
                missing.push(format!("[prefix-velocity] hidden-digits = {d}"));
            }
        }
        for d in &need.blocks {
            if !self.blocks.contains_key(d) && !too_short_for_block(usize::from(self.digits), *d) {
                missing.push(format!("[cohorts] prefix-hidden-digits {d}"));
            }
        }
        (!missing.is_empty()).then(|| missing.join(", "))
    }
}

/// The first version of the record format.
pub const RECORD_VERSION: u8 = 1;

/// One event as the trigger saw it, with the number's [`Features`] in
/// place of the number: replay input that keeps phones private.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Record {
    /// [`RECORD_VERSION`].
    pub v: u8,
    /// Unix seconds: the trigger's clock when it judged the event.
    pub at: i64,
    /// The trigger source, as Cognito names it (`CustomMessage_SignUp`,
    /// `PostConfirmation_ConfirmSignUp`, `PreSignUp_SignUp` …).
    pub source: String,
    /// The user's keyed hash (`sub`, else the username).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<String>,
    /// On a PostConfirmation / PostAuthentication event: the user's
    /// `phone_number_verified`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub verified: bool,
    pub number: Features,
}

impl Record {
    /// The record as one line of JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> Policy {
        Policy::parse(
            "[countries]\nallow = [\"US\", \"TH\"]\ncrown-dependencies = \"separate\"\n\
             [exemptions]\nallow-numbers = [\"+14155550100\"]\n",
            "t",
        )
        .expect("valid")
    }

    #[test]
    fn the_memo_answers_as_keyed_and_stays_bounded() {
        let p = std::sync::Arc::new(policy());
        let keys = PhoneHasher::new(b"0123456789abcdef").expect("key");
        let numbers: Vec<String> = (0..40)
            .map(|i| format!("+1415555{:04}", 2600 + i))
            .chain(
                [
                    "+14155550100",
                    "+66 81 234 5678",
                    "tel:+14155552671",
                    "",
                    "12",
                    "+999",
                ]
                .map(String::from),
            )
            .collect();
        for record in [false, true] {
            let mut memo = KeyedMemo::with_generation(p.clone(), keys.clone(), record, 8);
            // Near numbers come back soon and far ones after the memo has
            // turned over, so answers come from the newer map, the older one
            // and fresh work.
            for step in 0..600usize {
                let n = &numbers[(step * 7 + step / 13) % numbers.len()];
                assert_eq!(
                    memo.features(n),
                    Features::keyed(n, &p, &keys, record),
                    "{n:?} record={record}"
                );
                assert!(memo.len() <= 16, "holds {}", memo.len());
            }
            assert!(!memo.is_empty());
            assert_eq!(memo.record(), record);
            assert!(memo.keys().same_key(&keys));
        }
    }

    #[test]
    fn a_record_holds_no_digit_of_the_number() {
        let p = policy();
        let keys = PhoneHasher::new(b"0123456789abcdef").expect("key");
        let f = Features::of("+1 415-555-2671", &p, Some((&keys, &Depths::named(&p))));
        assert_eq!(f.form, Form::Valid);
        assert_eq!(f.country.map(|c| c.to_string()).as_deref(), Some("US"));
        assert_eq!(f.digits, 11);
        assert_eq!(f.phone.as_deref(), Some(keys.hash("+14155552671").as_str()));
        assert_eq!(f.prefixes.get(&3), Some(&keys.hash_text("+14155552")));
        assert_eq!(f.blocks.get(&4), Some(&keys.hash_text("1415555")));
        let r = Record {
            v: RECORD_VERSION,
            at: 1,
            source: "CustomMessage_SignUp".into(),
            user: Some(keys.hash_text("u")),
            verified: false,
            number: f.clone(),
        };
        let json = r.to_json();
        for leak in ["4155552671", "415555", "2671"] {
            assert!(!json.contains(leak), "{json}");
        }
        let back: Record = serde_json::from_str(&json).expect("parses");
        assert_eq!(back, r);
    }

    #[test]
    fn forms_and_exemptions() {
        let p = policy();
        assert_eq!(
            Features::of("+66081234567", &p, None).form,
            Form::LeadingZero
        );
        assert_eq!(Features::of("call me", &p, None).form, Form::NotE164);
        assert_eq!(Features::of("call me", &p, None).number_type, None);
        assert!(Features::of("+14155550100", &p, None).exempt);
        assert_eq!(Features::of("+14155555555", &p, None).repeat, 8);
    }

    #[test]
    fn a_policy_that_needs_a_depth_the_record_lacks_is_named() {
        let p = policy();
        let keys = PhoneHasher::new(b"0123456789abcdef").expect("key");
        let f = Features::of("+14155552671", &p, Some((&keys, &Depths::named(&p))));
        assert_eq!(f.missing_for(&p), None);
        let deeper = Policy::parse(
            "[countries]\nallow = [\"US\"]\ncrown-dependencies = \"separate\"\n\
             [prefix-velocity]\nhidden-digits = 2\n",
            "t",
        )
        .expect("valid");
        let missing = f.missing_for(&deeper).expect("depth 2 is missing");
        assert!(missing.contains("hidden-digits = 2"), "{missing}");
    }
}
