//! The policy file: one TOML document, read by the trigger and the CLI.
//!
//! Reading is "parse, don't validate": the wire structs below mirror the file
//! (kebab-case keys), and [`Policy::parse`] turns them into domain types while
//! collecting *every* problem — unknown keys, wrong types, bad values and
//! contradictions — each named by its key, so one run of `pumpguard check`
//! shows all that is wrong with a file.

use std::collections::BTreeSet;
use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::account::{self, ProtectPolicy, SpendPolicy, UserPoolPolicy, WafPolicy};
use crate::country::Country;
use crate::guards::cohort::CohortPolicy;
use crate::guards::cooldown::CooldownPolicy;
use crate::guards::country_velocity::CountryVelocityPolicy;
use crate::guards::form::FormPolicy;
use crate::guards::known::KnownPolicy;
use crate::guards::pool_rate::PoolRatePolicy;
use crate::guards::prefix_velocity::PrefixPolicy;
use crate::guards::spend::BudgetPolicy;
use crate::guards::suspicious::SuspiciousPolicy;
use crate::guards::user_limits::UserLimitsPolicy;
use crate::limits::{Exemptions, StatePolicy};
use crate::presignup::PreSignUpPolicy;
use crate::source::TriggerSource;

pub use crate::guards::countries::{CountryPolicy, CrownDependencies, Unlisted};
pub use crate::guards::number_types::{NumberTypePolicy, DEFAULT_BLOCKED_TYPES};

/// The example policy shipped with pumpguard, also the embedded default.
pub const EXAMPLE_POLICY: &str = include_str!("../../examples/policy.toml");

/// The most characters Cognito accepts in an SMS message.
pub const SMS_MAX_CHARS: usize = 140;

/// What a check does with what it finds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    /// Skip the check.
    Off,
    /// Decide and record, but let the SMS through.
    Monitor,
    /// Block the SMS.
    Enforce,
}

impl Mode {
    /// The weaker of the two: a `monitor` ceiling turns `enforce` into `monitor`.
    pub fn capped_by(self, ceiling: Mode) -> Mode {
        self.min(ceiling)
    }
}

/// What the trigger does with a trigger source it does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum UnknownSource {
    /// Return the event untouched and log it (the default).
    Pass,
    /// Refuse it with `SMS_BLOCKED`.
    Block,
}

/// How much a block error tells the end user.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Disclosure {
    /// Always `SMS_BLOCKED`, for rate limits too (no retry-after).
    Generic,
    /// A category: `SMS_BLOCKED_COUNTRY`, `SMS_BLOCKED_NUMBER`, `RATE_LIMITED` (default).
    Coarse,
    /// The category and the first enforced reason code.
    Detailed,
}

/// One problem with a policy, named by its key (`countries.allow[2]`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub key: String,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.key, self.message)
    }
}

/// A policy that cannot be used, with every problem found in it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct PolicyError {
    /// The file (or other origin) the policy came from.
    pub origin: String,
    pub problems: Vec<Problem>,
}

impl fmt::Display for PolicyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "policy {} has {n} problem{}; fix {} and run `pumpguard check --policy` again:",
            self.origin,
            if n == 1 { "" } else { "s" },
            if n == 1 { "it" } else { "them" },
        )?;
        for p in &self.problems {
            write!(f, "\n  - {}: {p}", self.origin)?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------- wire format

#[derive(Debug, Deserialize, Serialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) struct WireTrigger {
    #[serde(default = "default_mode")]
    mode: Mode,
    #[serde(default)]
    sms_sources: Option<Vec<String>>,
    #[serde(default = "default_unknown_source")]
    unknown_source: UnknownSource,
    #[serde(default = "default_disclosure")]
    disclosure: Disclosure,
    #[serde(default)]
    sms_message: Option<String>,
    #[serde(default)]
    record: bool,
}

impl Default for WireTrigger {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            sms_sources: None,
            unknown_source: UnknownSource::Pass,
            disclosure: Disclosure::Generic,
            sms_message: None,
            record: false,
        }
    }
}

fn default_mode() -> Mode {
    Mode::Enforce
}
fn default_unknown_source() -> UnknownSource {
    UnknownSource::Pass
}
fn default_disclosure() -> Disclosure {
    Disclosure::Generic
}

// ---------------------------------------------------------------- domain

/// `[trigger]`: how the Lambda treats the events it gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct TriggerPolicy {
    /// A ceiling on every check's mode: `monitor` here turns every `enforce` into `monitor`.
    pub mode: Mode,
    /// The CustomMessage sources that deliver by SMS in this pool.
    pub sms_sources: BTreeSet<TriggerSource>,
    pub unknown_source: UnknownSource,
    pub disclosure: Disclosure,
    /// SMS text with `{####}`, at most 140 characters.
    pub sms_message: Option<String>,
    /// Whether each decision's log line carries its replayable record
    /// ([`crate::features::Record`]): the number's features, never the number.
    pub record: bool,
}

/// A checked policy. Only [`Policy::parse`] makes one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Policy {
    pub trigger: TriggerPolicy,
    pub countries: CountryPolicy,
    pub number_types: NumberTypePolicy,
    pub form: FormPolicy,
    pub suspicious: SuspiciousPolicy,
    pub state: StatePolicy,
    pub cooldown: CooldownPolicy,
    pub user_limits: UserLimitsPolicy,
    pub prefix_velocity: PrefixPolicy,
    pub country_velocity: CountryVelocityPolicy,
    pub pool_rate: PoolRatePolicy,
    pub budget: BudgetPolicy,
    pub known_numbers: KnownPolicy,
    pub cohorts: CohortPolicy,
    pub pre_sign_up: PreSignUpPolicy,
    /// `[sender]`: the Custom SMS Sender's delivery (opt-in).
    pub sender: crate::sender::SenderPolicy,
    pub exemptions: Exemptions,
    pub waf: WafPolicy,
    pub protect: ProtectPolicy,
    pub spend: SpendPolicy,
    /// `None` when the policy names no pool (then `plan`/`apply` cannot run).
    pub user_pool: Option<UserPoolPolicy>,
    /// SHA-256 of the source text: which policy made a decision.
    pub digest: String,
}

/// The top-level sections a policy may have.
const SECTIONS: [&str; 22] = [
    "version",
    "trigger",
    "countries",
    "number-types",
    "form",
    "suspicious",
    "state",
    "cooldown",
    "user-limits",
    "prefix-velocity",
    "country-velocity",
    "pool-rate",
    "budget",
    "known-numbers",
    "cohorts",
    "pre-sign-up",
    "sender",
    "exemptions",
    "waf",
    "protect",
    "spend",
    "user-pool",
];

/// One section of a policy: its name, its wire form (whose `Default` is
/// what a missing section or key means) and the check that turns it into
/// the domain value, reporting every problem by key. Each guard's file
/// implements it for its section.
pub(crate) trait Section: Sized {
    const NAME: &'static str;
    /// Whether a policy must have the section (else the wire's defaults apply).
    const REQUIRED: bool = false;
    type Wire: DeserializeOwned + Default;

    fn check(w: Self::Wire, c: &mut Collector) -> Self;
}

/// Gathers every problem of a policy, each with its key.
pub(crate) struct Collector {
    problems: Vec<Problem>,
    /// The policy text, for the line and column of a problem.
    text: String,
}

impl Collector {
    /// A collector for checking a section on its own (defaults, tests).
    pub(crate) fn detached() -> Self {
        Self {
            problems: Vec::new(),
            text: String::new(),
        }
    }

    /// The keys of the problems found so far.
    #[cfg(test)]
    pub(crate) fn problem_keys(&self) -> Vec<String> {
        self.problems.iter().map(|p| p.key.clone()).collect()
    }

    pub(crate) fn push(&mut self, key: impl Into<String>, message: impl Into<String>) {
        self.problems.push(Problem {
            key: key.into(),
            message: message.into(),
        });
    }

    /// Deserializes one section, recording unknown keys and type errors,
    /// each with the key's path, its line and column, and for a near-miss
    /// key the one that was probably meant.
    pub(crate) fn section<T: DeserializeOwned>(
        &mut self,
        table: &toml::de::DeTable<'_>,
        name: &str,
        missing: impl FnOnce() -> Option<T>,
    ) -> Option<T> {
        let Some(value) = table.get(name) else {
            let v = missing();
            if v.is_none() {
                self.push(name, "this section is required");
            }
            return v;
        };
        let mut unknown = Vec::new();
        let de = toml::de::ValueDeserializer::from(value.clone());
        let result: Result<T, toml::de::Error> =
            serde_ignored::deserialize(de, |path| unknown.push(path.to_string()));
        for path in unknown {
            let at = key_span(value, &path).map(|span| self.at(span.start));
            let hint = if path.contains('.') {
                String::new()
            } else {
                did_you_mean(&path, fields_of::<T>())
            };
            self.push(
                format!("{name}.{path}"),
                format!("unknown key{hint}{}", at.unwrap_or_default()),
            );
        }
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                let (key, at) = match e.span() {
                    Some(span) => (key_at(value, name, span.start), self.at(span.start)),
                    None => (name.to_string(), String::new()),
                };
                self.push(key, format!("{}{at}", e.message().trim()));
                None
            }
        }
    }

    /// Reads and checks one section: `None` when it could not be read (the
    /// problems are recorded), else the checked value (its problems, if any,
    /// recorded too).
    pub(crate) fn read<S: Section>(&mut self, table: &toml::de::DeTable<'_>) -> Option<S> {
        let wire =
            self.section::<S::Wire>(table, S::NAME, || (!S::REQUIRED).then(S::Wire::default))?;
        Some(S::check(wire, self))
    }

    /// ` (line L, column C)` of a byte offset in the policy text.
    fn at(&self, offset: usize) -> String {
        format!(" ({})", line_col(&self.text, offset))
    }
}

/// The span of the key at `path` (`a.b`) inside a section's value.
fn key_span(
    value: &toml::Spanned<toml::de::DeValue<'_>>,
    path: &str,
) -> Option<std::ops::Range<usize>> {
    let mut here = value;
    let mut span = None;
    for part in path.split('.') {
        let toml::de::DeValue::Table(t) = here.get_ref() else {
            break;
        };
        let (k, v) = t.iter().find(|(k, _)| k.get_ref().as_ref() == part)?;
        span = Some(k.span());
        here = v;
    }
    span
}

/// The path (`section.key`, `section.table.key`) of the deepest key whose
/// value holds byte `offset`.
fn key_at(value: &toml::Spanned<toml::de::DeValue<'_>>, name: &str, offset: usize) -> String {
    let mut path = name.to_string();
    let mut here = value;
    loop {
        let toml::de::DeValue::Table(t) = here.get_ref() else {
            return path;
        };
        let Some((k, v)) = t
            .iter()
            .find(|(k, v)| k.span().contains(&offset) || v.span().contains(&offset))
        else {
            return path;
        };
        path.push('.');
        path.push_str(k.get_ref().as_ref());
        here = v;
    }
}

/// `; did you mean `x`?` when a known key is within two edits of `key`.
fn did_you_mean(key: &str, known: &[&str]) -> String {
    known
        .iter()
        .map(|k| (strsim::levenshtein(key, k), *k))
        .filter(|(d, k)| *d <= 2 && *d < k.len())
        .min()
        .map(|(_, k)| format!("; did you mean `{k}`?"))
        .unwrap_or_default()
}

/// The field names a derived `Deserialize` struct accepts (serde hands
/// them to `deserialize_struct`); empty for anything else.
fn fields_of<T: DeserializeOwned>() -> &'static [&'static str] {
    use serde::de::{Error as _, Visitor};
    use serde::forward_to_deserialize_any;

    struct Probe<'a>(&'a mut &'static [&'static str]);

    impl<'de> serde::Deserializer<'de> for Probe<'_> {
        type Error = serde::de::value::Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            Err(Self::Error::custom("probe"))
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _name: &'static str,
            fields: &'static [&'static str],
            _visitor: V,
        ) -> Result<V::Value, Self::Error> {
            *self.0 = fields;
            Err(Self::Error::custom("probe"))
        }

        forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
            bytes byte_buf option unit unit_struct newtype_struct seq tuple
            tuple_struct map enum identifier ignored_any
        }
    }

    let mut fields: &'static [&'static str] = &[];
    let _ = T::deserialize(Probe(&mut fields));
    fields
}

impl Policy {
    /// Reads and checks a policy file.
    pub fn load(path: &Path) -> Result<Policy, PolicyError> {
        let origin = path.display().to_string();
        match std::fs::read_to_string(path) {
            Ok(text) => Self::parse(&text, &origin),
            Err(e) => Err(PolicyError {
                origin,
                problems: vec![Problem {
                    key: "(file)".into(),
                    message: format!("cannot read the file: {e}"),
                }],
            }),
        }
    }

    /// The example policy compiled into the binaries.
    pub fn example() -> Policy {
        match Self::parse(EXAMPLE_POLICY, "examples/policy.toml") {
            Ok(p) => p,
            // A test (`example_policy_is_valid`) keeps this unreachable.
            Err(e) => unreachable_policy(e),
        }
    }

    /// Parses and checks policy text; `origin` names it in errors.
    pub fn parse(text: &str, origin: &str) -> Result<Policy, PolicyError> {
        let err = |problems| PolicyError {
            origin: origin.to_string(),
            problems,
        };
        let table: toml::Table = toml::from_str(text).map_err(|e| {
            let key = match e.span() {
                Some(span) => line_col(text, span.start),
                None => "(syntax)".into(),
            };
            err(vec![Problem {
                key,
                message: format!("not valid TOML: {}", e.message().trim()),
            }])
        })?;

        // The same text with every key's and value's position, for errors.
        let de = toml::de::DeTable::parse(text).map_err(|e| {
            err(vec![Problem {
                key: e
                    .span()
                    .map_or_else(|| "(syntax)".into(), |s| line_col(text, s.start)),
                message: format!("not valid TOML: {}", e.message().trim()),
            }])
        })?;
        let de = de.get_ref();
        let mut c = Collector {
            problems: Vec::new(),
            text: text.to_string(),
        };
        for (key, _) in de.iter() {
            let key_name: &str = key.get_ref().as_ref();
            if !SECTIONS.contains(&key_name) {
                let hint = did_you_mean(key_name, &SECTIONS);
                let hint = if hint.is_empty() {
                    format!("; expected one of: {}", SECTIONS.join(", "))
                } else {
                    hint
                };
                c.push(
                    key_name.to_string(),
                    format!("unknown key{hint}{}", c.at(key.span().start)),
                );
            }
        }
        match table.get("version") {
            None => {}
            Some(toml::Value::Integer(1)) => {}
            Some(other) => c.push(
                "version",
                format!("must be 1 (this pumpguard reads version 1), found {other}"),
            ),
        }

        let trigger = c.read::<TriggerPolicy>(de);
        let countries = c.read::<CountryPolicy>(de);
        let number_types = c.read::<NumberTypePolicy>(de);
        let form = c.read::<FormPolicy>(de);
        let suspicious = c.read::<SuspiciousPolicy>(de);
        let state = c.read::<StatePolicy>(de);
        let cooldown = c.read::<CooldownPolicy>(de);
        let user_limits = c.read::<UserLimitsPolicy>(de);
        let prefix_velocity = c.read::<PrefixPolicy>(de);
        let country_velocity = c.read::<CountryVelocityPolicy>(de);
        let pool_rate = c.read::<PoolRatePolicy>(de);
        let budget = c.read::<BudgetPolicy>(de);
        let known_numbers = c.read::<KnownPolicy>(de);
        let cohorts = c.read::<CohortPolicy>(de);
        let pre_sign_up = c.read::<PreSignUpPolicy>(de);
        let sender = c.read::<crate::sender::SenderPolicy>(de);
        let exemptions = c.read::<Exemptions>(de);
        let waf = c.read::<WafPolicy>(de);
        let protect = c.read::<ProtectPolicy>(de);
        let spend = c.read::<SpendPolicy>(de);
        let user_pool = if table.contains_key("user-pool") {
            c.section::<account::WireUserPool>(de, "user-pool", || None)
                .map(|w| Some(account::check_user_pool(w, &mut c)))
        } else {
            Some(None)
        };

        if let (Some(s), Some(Some(pool))) = (&sender, &user_pool) {
            if s.enabled {
                for (key, v) in [
                    ("sender-arn", &pool.sender_arn),
                    ("kms-key-arn", &pool.kms_key_arn),
                ] {
                    if v.is_none() {
                        c.push(
                            format!("user-pool.{key}"),
                            "is required with [sender] enabled = true, so that apply can wire \
                             the Custom SMS Sender (the stack's SenderArn and SenderKeyArn outputs)",
                        );
                    }
                }
            }
        }
        let built = (|| {
            Some(Policy {
                trigger: trigger?,
                countries: countries?,
                number_types: number_types?,
                form: form?,
                suspicious: suspicious?,
                state: state?,
                cooldown: cooldown?,
                user_limits: user_limits?,
                prefix_velocity: prefix_velocity?,
                country_velocity: country_velocity?,
                pool_rate: pool_rate?,
                budget: budget?,
                known_numbers: known_numbers?,
                cohorts: cohorts?,
                pre_sign_up: pre_sign_up?,
                sender: sender?,
                exemptions: exemptions?,
                waf: waf?,
                protect: protect?,
                spend: spend?,
                user_pool: user_pool?,
                digest: hex::encode(Sha256::digest(text.as_bytes())),
            })
        })();
        match built {
            Some(policy) if c.problems.is_empty() => Ok(policy),
            _ => Err(err(c.problems)),
        }
    }

    /// The effective mode of a check after the `[trigger] mode` ceiling.
    pub fn effective(&self, mode: Mode) -> Mode {
        mode.capped_by(self.trigger.mode)
    }
}

#[cold]
fn unreachable_policy(e: PolicyError) -> ! {
    // The embedded example is checked by a unit test; reaching this is a build defect.
    #[allow(clippy::panic)]
    {
        panic!("the embedded example policy is invalid: {e}")
    }
}

fn line_col(text: &str, offset: usize) -> String {
    let before = &text[..offset.min(text.len())];
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
    format!("line {line}, column {col}")
}

impl Section for TriggerPolicy {
    const NAME: &'static str = "trigger";
    type Wire = WireTrigger;

    fn check(w: WireTrigger, c: &mut Collector) -> Self {
        check_trigger(w, c)
    }
}

fn check_trigger(w: WireTrigger, c: &mut Collector) -> TriggerPolicy {
    let sms_sources = match w.sms_sources {
        None => TriggerSource::ALL.into_iter().collect(),
        Some(list) => {
            let mut set = BTreeSet::new();
            for (i, name) in list.iter().enumerate() {
                match TriggerSource::parse(name) {
                    Some(s) => {
                        set.insert(s);
                    }
                    None => c.push(
                        format!("trigger.sms-sources[{i}]"),
                        format!(
                            "{name:?} is not a CustomMessage trigger source; expected one of: {}",
                            TriggerSource::ALL.map(|s| s.as_str()).join(", ")
                        ),
                    ),
                }
            }
            set
        }
    };
    if let Some(msg) = &w.sms_message {
        if !msg.contains("{####}") {
            c.push(
                "trigger.sms-message",
                "must contain the code placeholder {####}, or Cognito rejects the message",
            );
        }
        let n = msg.chars().count();
        if n > SMS_MAX_CHARS {
            c.push(
                "trigger.sms-message",
                format!("is {n} characters; Cognito allows at most {SMS_MAX_CHARS}"),
            );
        }
    }
    TriggerPolicy {
        mode: w.mode,
        sms_sources,
        unknown_source: w.unknown_source,
        disclosure: w.disclosure,
        sms_message: w.sms_message,
        record: w.record,
    }
}

pub(crate) fn country_list(list: &[String], key: &str, c: &mut Collector) -> BTreeSet<Country> {
    let mut out = BTreeSet::new();
    for (i, code) in list.iter().enumerate() {
        match Country::parse(code) {
            Some(country) => {
                if !out.insert(country) {
                    c.push(format!("{key}[{i}]"), format!("{code} is listed twice"));
                }
            }
            None => {
                let hint = match code.to_ascii_uppercase().as_str() {
                    "UK" => " (the United Kingdom is GB)".to_string(),
                    up if Country::parse(up).is_some() => format!(" (write it upper-case: {up})"),
                    _ => String::new(),
                };
                c.push(
                    format!("{key}[{i}]"),
                    format!("{code:?} is not an ISO 3166-1 alpha-2 country code{hint}"),
                );
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::phone::NumberType;

    const POLICY_DOC: &str = include_str!("../../docs/policy.md");

    /// A default as the docs write it: numbers, words and lists of numbers;
    /// `None` for what the table describes in prose (absent, empty, maps).
    fn rendered(v: &serde_json::Value) -> Option<String> {
        match v {
            serde_json::Value::Bool(b) => Some(b.to_string()),
            serde_json::Value::Number(n) => Some(n.to_string()),
            serde_json::Value::String(s) => Some(s.clone()),
            serde_json::Value::Array(a) if !a.is_empty() && a.iter().all(|x| x.is_number()) => {
                let items: Vec<String> = a.iter().map(ToString::to_string).collect();
                Some(format!("[{}]", items.join(", ")))
            }
            _ => None,
        }
    }

    /// Where `token` stands alone in `text` at or after `from`.
    fn token_at(text: &str, token: &str, from: usize) -> Option<usize> {
        let word = |c: char| c.is_ascii_alphanumeric() || c == '.' || c == '-';
        let mut at = from;
        while let Some(i) = text.get(at..).and_then(|t| t.find(token)) {
            let start = at + i;
            let end = start + token.len();
            let before = text[..start].chars().next_back().is_none_or(|c| !word(c));
            let after = text[end..].chars().next().is_none_or(|c| !word(c));
            if before && after {
                return Some(end);
            }
            at = start + 1;
        }
        None
    }

    /// docs/policy.md's row for a section: the keys it lists are the
    /// section's keys, and each default the code gives them appears in the
    /// default column, in the keys' order.
    fn row_matches_code<S: Section>()
    where
        S::Wire: Serialize,
    {
        let name = S::NAME;
        let row = POLICY_DOC
            .lines()
            .find(|l| l.starts_with(&format!("| `[{name}]`")))
            .unwrap_or_else(|| panic!("docs/policy.md has no row for [{name}]"));
        let cells: Vec<&str> = row.split(" | ").collect();
        assert_eq!(cells.len(), 3, "{row}");
        // The keys: backticked names outside parentheses.
        let mut keys = Vec::new();
        let mut depth = 0;
        for (i, part) in cells[1].split('`').enumerate() {
            if i % 2 == 0 {
                depth += part.matches('(').count();
                depth -= part.matches(')').count().min(depth);
            } else if depth == 0 {
                keys.push(part);
            }
        }
        let mut fields = fields_of::<S::Wire>().to_vec();
        let mut listed = keys.clone();
        fields.sort_unstable();
        listed.sort_unstable();
        assert_eq!(listed, fields, "[{name}]: the keys docs/policy.md lists");
        let wire = serde_json::to_value(S::Wire::default()).unwrap_or_default();
        let defaults = cells[2].trim_end_matches(" |");
        let mut at = 0;
        for key in keys {
            let Some(value) = wire.get(key).and_then(rendered) else {
                continue;
            };
            at = token_at(defaults, &value, at).unwrap_or_else(|| {
                panic!("[{name}] {key}: the default {value} is not in docs/policy.md's row, in order: {defaults}")
            });
        }
    }

    #[test]
    fn the_documented_keys_and_defaults_are_the_codes() {
        use crate::guards::countries::CountryPolicy as Countries;
        row_matches_code::<TriggerPolicy>();
        row_matches_code::<Countries>();
        row_matches_code::<NumberTypePolicy>();
        row_matches_code::<FormPolicy>();
        row_matches_code::<SuspiciousPolicy>();
        row_matches_code::<StatePolicy>();
        row_matches_code::<CooldownPolicy>();
        row_matches_code::<UserLimitsPolicy>();
        row_matches_code::<KnownPolicy>();
        row_matches_code::<CohortPolicy>();
        row_matches_code::<PrefixPolicy>();
        row_matches_code::<CountryVelocityPolicy>();
        row_matches_code::<PoolRatePolicy>();
        row_matches_code::<BudgetPolicy>();
        row_matches_code::<PreSignUpPolicy>();
        row_matches_code::<Exemptions>();
    }

    /// A section added to [`Policy`] but not to [`SECTIONS`] would be
    /// refused as an unknown key; one in [`SECTIONS`] but not read would be
    /// accepted and ignored.
    #[test]
    fn every_policy_field_is_a_known_section() {
        let value = serde_json::to_value(Policy::example()).unwrap_or_default();
        let mut fields: Vec<&str> = value
            .as_object()
            .map(|o| o.keys().map(String::as_str).collect())
            .unwrap_or_default();
        fields.retain(|f| *f != "digest");
        fields.push("version");
        fields.sort_unstable();
        let mut sections = SECTIONS.to_vec();
        sections.sort_unstable();
        assert_eq!(fields, sections);
    }

    fn problems(text: &str) -> Vec<String> {
        match Policy::parse(text, "p.toml") {
            Ok(_) => panic!("expected problems"),
            Err(e) => e.problems.iter().map(|p| p.to_string()).collect(),
        }
    }

    const MINIMAL: &str = r#"
[countries]
allow = ["US", "CA"]
crown-dependencies = "separate"
"#;

    #[test]
    fn example_policy_is_valid() {
        let p = Policy::example();
        assert!(p
            .countries
            .allow
            .contains(&Country::parse("US").expect("US")));
        assert_eq!(p.countries.block.len(), 14);
    }

    #[test]
    fn minimal_policy_gets_safe_defaults() {
        let p = Policy::parse(MINIMAL, "p.toml").expect("valid");
        assert_eq!(p.trigger.mode, Mode::Enforce);
        assert_eq!(p.trigger.sms_sources.len(), 7);
        assert_eq!(p.trigger.disclosure, Disclosure::Generic);
        assert_eq!(p.trigger.unknown_source, UnknownSource::Pass);
        assert_eq!(p.countries.unlisted, Unlisted::Block);
        assert_eq!(p.number_types.block.len(), 10);
        assert!(p.number_types.block.contains(&NumberType::PremiumRate));
        assert_eq!(p.digest.len(), 64);
    }

    #[test]
    fn reports_every_problem_at_once() {
        let text = r#"
version = 2
colour = "blue"
[trigger]
mode = "enforse"
[countries]
allow = ["US", "UK", "us", "US"]
block = ["CA"]
monitor = ["CA"]
crown-dependencies = "as-gb"
typo-key = 1
[number-types]
block = ["premium", "mobile"]
[suspicious]
max-repeated-digits = 1
"#;
        let got = problems(text);
        let expect = [
            "colour: unknown key",
            "version: must be 1",
            "trigger.mode: unknown variant `enforse`",
            "countries.typo-key: unknown key",
            "countries.allow[1]: \"UK\" is not an ISO 3166-1 alpha-2 country code (the United Kingdom is GB)",
            "countries.allow[2]: \"us\" is not an ISO 3166-1 alpha-2 country code (write it upper-case: US)",
            "countries.allow[3]: US is listed twice",
            "countries.block: CA is also in countries.monitor",
            "number-types.block[0]: \"premium\" is not a number type",
            "number-types.block: blocks mobile",
            "suspicious.max-repeated-digits: must be between 3 and 15",
        ];
        for e in expect {
            assert!(
                got.iter().any(|g| g.starts_with(e)),
                "missing {e:?} in {got:#?}"
            );
        }
        assert_eq!(got.len(), expect.len(), "{got:#?}");
    }

    #[test]
    fn error_display_names_the_file() {
        let e = Policy::parse("[countries]\nallow = 3\n[form]\nmode = 1\n", "policy.toml")
            .expect_err("bad");
        let s = e.to_string();
        assert!(s.starts_with("policy policy.toml has 2 problems"), "{s}");
        assert!(
            s.contains("policy.toml: countries.allow: invalid type: integer `3`, expected a sequence (line 2, column 9)"),
            "{s}"
        );
        assert!(s.contains("policy.toml: form.mode: "), "{s}");
        assert!(s.contains("(line 4, column 8)"), "{s}");
    }

    #[test]
    fn type_errors_and_unknown_keys_name_the_key_its_line_and_a_near_miss() {
        let text = "[trigger]\nmode = \"monitor\"\n[countries]\nallow = [\"US\"]\n\
                    crown-dependencies = \"separate\"\n[suspicious]\nmax-repeated-digits = \"six\"\n\
                    [cooldwn]\nmode = \"off\"\n[cooldown]\nladder-second = [60]\n";
        let got = problems(text);
        let expect = [
            "suspicious.max-repeated-digits: invalid type: string \"six\", expected i64 (line 7, column 23)",
            "cooldwn: unknown key; did you mean `cooldown`? (line 8, column 2)",
            "cooldown.ladder-second: unknown key; did you mean `ladder-seconds`? (line 11, column 1)",
        ];
        for e in expect {
            assert!(got.iter().any(|g| g == e), "missing {e:?} in {got:#?}");
        }
        // A type error does not hide the others: every problem at once.
        assert_eq!(got.len(), expect.len(), "{got:#?}");
    }

    #[test]
    fn syntax_error_has_a_position() {
        let got = problems("[countries\nallow = []\n");
        assert!(got[0].starts_with("line 1, column"), "{got:?}");
    }

    #[test]
    fn countries_section_is_required_and_not_empty() {
        assert_eq!(problems(""), vec!["countries: this section is required"]);
        let got = problems("[countries]\ncrown-dependencies = \"separate\"\n");
        assert!(got[0].contains("every SMS would be blocked"), "{got:?}");
    }

    #[test]
    fn crown_dependencies_as_gb_forbids_listing_them() {
        let got =
            problems("[countries]\nallow = [\"GB\", \"IM\"]\ncrown-dependencies = \"as-gb\"\n");
        assert!(
            got[0].starts_with("countries.allow: IM is listed"),
            "{got:?}"
        );
    }

    #[test]
    fn sms_message_needs_code_and_length() {
        let long = "x".repeat(141);
        let got = problems(&format!("[trigger]\nsms-message = \"{long}\"\n{MINIMAL}"));
        assert_eq!(got.len(), 2, "{got:?}");
        let ok = Policy::parse(
            &format!("[trigger]\nsms-message = \"Your code is {{####}}\"\n{MINIMAL}"),
            "p",
        );
        assert!(ok.is_ok());
    }

    #[test]
    fn monitor_ceiling_caps_enforce() {
        assert_eq!(Mode::Enforce.capped_by(Mode::Monitor), Mode::Monitor);
        assert_eq!(Mode::Off.capped_by(Mode::Enforce), Mode::Off);
        assert_eq!(Mode::Enforce.capped_by(Mode::Enforce), Mode::Enforce);
    }
}
