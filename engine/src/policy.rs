//! The policy file: one TOML document, read by the trigger and the CLI.
//!
//! Reading is "parse, don't validate": the wire structs below mirror the file
//! (kebab-case keys), and [`Policy::parse`] turns them into domain types while
//! collecting *every* problem — unknown keys, wrong types, bad values and
//! contradictions — each named by its key, so one run of `pumpguard check`
//! shows all that is wrong with a file.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::path::Path;

use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::account::{self, ProtectPolicy, SpendPolicy, UserPoolPolicy, WafPolicy};
use crate::country::Country;
use crate::limits::{
    self, BudgetPolicy, CooldownPolicy, CountryVelocityPolicy, Exemptions, PoolRatePolicy,
    PrefixPolicy, StatePolicy, UserLimitsPolicy,
};
use crate::phone::NumberType;
use crate::source::TriggerSource;

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

/// What happens to a destination country that is on no list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Unlisted {
    Block,
    Monitor,
    Allow,
}

/// How Guernsey, the Isle of Man and Jersey (+44, regions of their own) are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CrownDependencies {
    /// As their own regions GG, IM and JE: each must be listed to be allowed.
    Separate,
    /// As GB: they follow whatever GB's list says.
    AsGb,
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct WireTrigger {
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
}

impl Default for WireTrigger {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            sms_sources: None,
            unknown_source: UnknownSource::Pass,
            disclosure: Disclosure::Generic,
            sms_message: None,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct WireCountries {
    #[serde(default = "default_mode")]
    mode: Mode,
    #[serde(default)]
    allow: Vec<String>,
    #[serde(default)]
    monitor: Vec<String>,
    #[serde(default)]
    block: Vec<String>,
    #[serde(default = "default_unlisted")]
    unlisted: Unlisted,
    crown_dependencies: Option<CrownDependencies>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct WireNumberTypes {
    #[serde(default = "default_mode")]
    mode: Mode,
    #[serde(default)]
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

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct WireForm {
    #[serde(default = "default_mode")]
    mode: Mode,
}

impl Default for WireForm {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
        }
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "kebab-case")]
struct WireSuspicious {
    #[serde(default = "default_mode")]
    mode: Mode,
    #[serde(default = "default_max_repeated")]
    max_repeated_digits: i64,
    #[serde(default = "default_max_sequential")]
    max_sequential_digits: i64,
}

impl Default for WireSuspicious {
    fn default() -> Self {
        Self {
            mode: Mode::Enforce,
            max_repeated_digits: default_max_repeated(),
            max_sequential_digits: default_max_sequential(),
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
fn default_unlisted() -> Unlisted {
    Unlisted::Block
}
fn default_max_repeated() -> i64 {
    6
}
fn default_max_sequential() -> i64 {
    7
}

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
}

/// `[countries]`: the destination-country guard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct CountryPolicy {
    pub mode: Mode,
    pub allow: BTreeSet<Country>,
    pub monitor: BTreeSet<Country>,
    pub block: BTreeSet<Country>,
    pub unlisted: Unlisted,
    pub crown_dependencies: CrownDependencies,
}

impl CountryPolicy {
    /// Whether `country` is named in one of the lists (allow, monitor, block).
    pub fn lists(&self, country: Country) -> bool {
        self.allow.contains(&country)
            || self.monitor.contains(&country)
            || self.block.contains(&country)
    }
}

/// `[number-types]`: the number-type guard.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NumberTypePolicy {
    pub mode: Mode,
    pub block: BTreeSet<NumberType>,
}

/// `[form]`: E.164 validity and typos.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FormPolicy {
    pub mode: Mode,
}

/// `[suspicious]`: digit patterns in the subscriber number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct SuspiciousPolicy {
    pub mode: Mode,
    /// Flag a run of this many identical digits or more.
    pub max_repeated_digits: usize,
    /// Flag an ascending or descending run of this many digits or more.
    pub max_sequential_digits: usize,
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
    pub known_numbers: crate::guards::known::KnownPolicy,
    pub cohorts: crate::guards::cohort::CohortPolicy,
    pub pre_sign_up: crate::presignup::PreSignUpPolicy,
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
const SECTIONS: [&str; 21] = [
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
    "exemptions",
    "waf",
    "protect",
    "spend",
    "user-pool",
];

/// Gathers every problem of a policy, each with its key.
pub(crate) struct Collector {
    problems: Vec<Problem>,
    /// The policy text, for the line and column of a problem.
    text: String,
}

impl Collector {
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

        let trigger = c.section::<WireTrigger>(de, "trigger", || Some(WireTrigger::default()));
        let countries = c.section::<WireCountries>(de, "countries", || None);
        let types = c.section::<WireNumberTypes>(de, "number-types", || Some(Default::default()));
        let form = c.section::<WireForm>(de, "form", || Some(Default::default()));
        let suspicious = c.section::<WireSuspicious>(de, "suspicious", || Some(Default::default()));

        let state = c.section(de, "state", || Some(Default::default()));
        let cooldown = c.section(de, "cooldown", || Some(Default::default()));
        let user = c.section(de, "user-limits", || Some(Default::default()));
        let prefix = c.section(de, "prefix-velocity", || Some(Default::default()));
        let cv = c.section(de, "country-velocity", || Some(Default::default()));
        let pool = c.section(de, "pool-rate", || Some(Default::default()));
        let budget = c.section(de, "budget", || Some(Default::default()));
        let known = c.section(de, "known-numbers", || Some(Default::default()));
        let cohorts = c.section(de, "cohorts", || Some(Default::default()));
        let pre_sign_up = c.section(de, "pre-sign-up", || Some(Default::default()));
        let exemptions = c.section(de, "exemptions", || Some(Default::default()));
        let waf = c.section(de, "waf", || Some(Default::default()));
        let protect = c.section(de, "protect", || Some(Default::default()));
        let spend = c.section(de, "spend", || Some(Default::default()));
        let user_pool = if table.contains_key("user-pool") {
            c.section::<account::WireUserPool>(de, "user-pool", || None)
                .map(|w| Some(account::check_user_pool(w, &mut c)))
        } else {
            Some(None)
        };

        let trigger = trigger.map(|t| check_trigger(t, &mut c));
        let countries = countries.map(|w| check_countries(w, &mut c));
        let number_types = types.map(|w| check_types(w, &mut c));
        let suspicious = suspicious.map(|w| check_suspicious(w, &mut c));
        let state = state.map(|w| limits::check_state(w, &mut c));
        let cooldown = cooldown.map(|w| limits::check_cooldown(w, &mut c));
        let user_limits = user.map(|w| limits::check_user(w, &mut c));
        let prefix_velocity = prefix.map(|w| limits::check_prefix(w, &mut c));
        let country_velocity = cv.map(|w| limits::check_country_velocity(w, &mut c));
        let pool_rate = pool.map(|w| limits::check_pool(w, &mut c));
        let budget = budget.map(|w| limits::check_budget(w, &mut c, country_list));
        let known_numbers = known.map(|w| crate::guards::known::check_known(w, &mut c));
        let cohorts = cohorts.map(|w| crate::guards::cohort::check_cohorts(w, &mut c));
        let pre_sign_up = pre_sign_up.map(|w| crate::presignup::check_pre_sign_up(w, &mut c));
        let exemptions = exemptions.map(|w| limits::check_exemptions(w, &mut c));
        let waf = waf.map(|w| account::check_waf(w, &mut c, country_list));
        let protect = protect.map(|w| account::check_protect(w, &mut c));
        let spend = spend.map(|w| account::check_spend(w, &mut c));

        let built = (|| {
            Some(Policy {
                trigger: trigger?,
                countries: countries?,
                number_types: number_types?,
                form: FormPolicy { mode: form?.mode },
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

fn check_countries(w: WireCountries, c: &mut Collector) -> CountryPolicy {
    let allow = country_list(&w.allow, "countries.allow", c);
    let monitor = country_list(&w.monitor, "countries.monitor", c);
    let block = country_list(&w.block, "countries.block", c);
    let lists: [(&str, &BTreeSet<Country>); 3] =
        [("allow", &allow), ("monitor", &monitor), ("block", &block)];
    let mut seen: BTreeMap<Country, &str> = BTreeMap::new();
    for (name, set) in lists {
        for country in set {
            if let Some(first) = seen.insert(*country, name) {
                c.push(
                    format!("countries.{name}"),
                    format!(
                        "{country} is also in countries.{first}; a country belongs to one list"
                    ),
                );
            }
        }
    }
    let crown = match w.crown_dependencies {
        Some(v) => v,
        None => {
            c.push(
                "countries.crown-dependencies",
                "must be set: \"separate\" judges GG, IM and JE (which share +44) as their own \
                 countries, \"as-gb\" judges them as GB",
            );
            CrownDependencies::Separate
        }
    };
    if crown == CrownDependencies::AsGb {
        for (name, set) in lists {
            for country in set.iter().filter(|c| c.is_crown_dependency()) {
                c.push(
                    format!("countries.{name}"),
                    format!(
                        "{country} is listed, but crown-dependencies = \"as-gb\" judges it as GB; \
                         remove it or set crown-dependencies = \"separate\""
                    ),
                );
            }
        }
    }
    // Judged on the lists as written, so a bad code does not also report "empty".
    if w.mode != Mode::Off
        && w.unlisted == Unlisted::Block
        && w.allow.is_empty()
        && w.monitor.is_empty()
    {
        c.push(
            "countries.allow",
            "is empty while unlisted = \"block\": every SMS would be blocked; list the countries \
             you serve",
        );
    }
    CountryPolicy {
        mode: w.mode,
        allow,
        monitor,
        block,
        unlisted: w.unlisted,
        crown_dependencies: crown,
    }
}

fn check_types(w: WireNumberTypes, c: &mut Collector) -> NumberTypePolicy {
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

fn check_suspicious(w: WireSuspicious, c: &mut Collector) -> SuspiciousPolicy {
    let mut bound = |v: i64, key: &str| -> usize {
        if (3..=15).contains(&v) {
            usize::try_from(v).unwrap_or(15)
        } else {
            c.push(
                format!("suspicious.{key}"),
                format!("must be between 3 and 15 digits, found {v}"),
            );
            15
        }
    };
    let max_repeated_digits = bound(w.max_repeated_digits, "max-repeated-digits");
    let max_sequential_digits = bound(w.max_sequential_digits, "max-sequential-digits");
    SuspiciousPolicy {
        mode: w.mode,
        max_repeated_digits,
        max_sequential_digits,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
