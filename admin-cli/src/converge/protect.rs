//! The End User Messaging SMS protect configuration: the account-level
//! country filter that applies to every SMS the account sends, Cognito's
//! included, once it is the account default. It is the backstop behind the
//! trigger, so its SMS country rules are derived from the same policy
//! ([`pumpguard_engine::Policy::protect_rules`]).
//!
//! pumpguard owns exactly one configuration per region: the one tagged
//! [`OWNER_TAG`]` = true`, never one guessed by name. `read` finds it and its
//! SMS rules and number overrides; `plan` compares them with the policy and
//! sends only what differs; `apply` carries out one [`ProtectWrite`] at a
//! time. Phone numbers of number overrides never appear in plans, warnings,
//! errors or `Debug` output: only masked, as `+1…0100`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::{Arc, OnceLock};

use anyhow::{anyhow, bail, Context};
use aws_sdk_pinpointsmsvoicev2::types::{
    NumberCapability, ProtectConfigurationCountryRuleSetInformation,
    ProtectConfigurationRuleOverrideAction, Tag,
};
use aws_smithy_types::date_time::Format;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::DateTime;
use pumpguard_engine::account::{PoolScope, ProtectScope, ProtectStatus};
use pumpguard_engine::Country;

use crate::converge::{Clients, Desired, OWNER_TAG};
use crate::plan::{countries_summary, Action, Change, FieldChange, Write};

/// End User Messaging accepts at most this many countries per
/// `UpdateProtectConfigurationCountryRuleSet` call.
pub const MAX_COUNTRIES_PER_UPDATE: usize = 300;

/// `Change::resource` of the configuration itself (create, rules, overrides).
pub const RESOURCE: &str = "protect-configuration";

/// `Change::resource` of making pumpguard's configuration the account default.
pub const DEFAULT_RESOURCE: &str = "account-default-protect-configuration";

/// Order of the changes that create the configuration or change its rules.
pub const ORDER_RULES: u8 = 10;

/// Order of the change that makes it the account default (after its rules).
pub const ORDER_DEFAULT: u8 = 11;

/// `Change::resource` of the configuration set of `scope = "pool"`.
pub const SET_RESOURCE: &str = "sms-configuration-set";

/// The order in which per-status fields are listed for people.
const STATUSES: [ProtectStatus; 4] = [
    ProtectStatus::Allow,
    ProtectStatus::Monitor,
    ProtectStatus::Filter,
    ProtectStatus::Block,
];

// ---------------------------------------------------------------- numbers

/// An E.164 phone number of a number override. `Debug` and `Display` show it
/// masked (see [`mask`]); only [`PhoneNumber::expose`] gives the number, for
/// the API call itself.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    pub fn new(e164: impl Into<String>) -> Self {
        Self(e164.into())
    }

    /// The full number. Only for the API request; never print it.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The number masked for people, e.g. `+1…0100`.
    pub fn masked(&self) -> String {
        mask(&self.0)
    }
}

impl fmt::Debug for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.masked())
    }
}

/// Masks a phone number for plans and logs: the calling code and the last
/// four digits, `+12025550100` → `+1…0100`. Without a known calling code,
/// `+…0100`; with fewer than eight digits, only `+…`.
pub fn mask(e164: &str) -> String {
    let digits: Vec<char> = e164.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 8 {
        return "+…".to_string();
    }
    let last4: String = digits[digits.len() - 4..].iter().collect();
    match pumpguard_engine::phone::classify(e164) {
        Ok(info) => format!("+{}…{last4}", info.calling_code),
        Err(_) => format!("+…{last4}"),
    }
}

// ---------------------------------------------------------------- writes

/// The id of a configuration that a [`ProtectWrite::Create`] of the same plan
/// creates: unknown when the plan is made, filled in by `apply` from the
/// `CreateProtectConfiguration` response, and read by the writes after it
/// (they share it: clones of one `CreatedId` are one cell).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CreatedId(Arc<OnceLock<String>>);

impl CreatedId {
    /// The id, once the configuration was created.
    pub fn get(&self) -> Option<&str> {
        self.0.get().map(String::as_str)
    }
}

/// Which configuration a write applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// An existing configuration, by id.
    Id(String),
    /// The one the change's [`ProtectWrite::Create`] creates.
    Created(CreatedId),
}

impl Target {
    fn resolve(&self) -> anyhow::Result<&str> {
        match self {
            Target::Id(id) => Ok(id),
            Target::Created(created) => created.get().ok_or_else(|| {
                anyhow!(
                    "the protect configuration this write belongs to was not created in this run \
                     (its CreateProtectConfiguration write did not run or failed); run \
                     `pumpguard plan` again and apply the new plan"
                )
            }),
        }
    }
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Id(id) => f.write_str(id),
            Target::Created(c) => f.write_str(c.get().unwrap_or("(new)")),
        }
    }
}

/// The write calls of one change, in the order they run.
#[derive(Debug, Clone, PartialEq)]
pub enum ProtectWrite {
    /// `CreateProtectConfiguration`, tagged [`OWNER_TAG`]` = true`, deletion
    /// protection off; stores the new id in `id`.
    Create { id: CreatedId },
    /// `UpdateProtectConfigurationCountryRuleSet` for SMS: at most
    /// [`MAX_COUNTRIES_PER_UPDATE`] countries.
    UpdateCountryRules {
        target: Target,
        rules: Vec<(Country, ProtectStatus)>,
    },
    /// `PutProtectConfigurationRuleSetNumberOverride` (creates or replaces).
    PutNumberOverride {
        target: Target,
        number: PhoneNumber,
        /// ALLOW or BLOCK.
        action: ProtectStatus,
        /// Unix seconds.
        expires: Option<i64>,
    },
    /// `DeleteProtectConfigurationRuleSetNumberOverride`.
    DeleteNumberOverride { target: Target, number: PhoneNumber },
    /// `SetAccountDefaultProtectConfiguration`.
    SetAccountDefault { target: Target },
    /// `CreateConfigurationSet`, tagged [`OWNER_TAG`]` = true` (`scope =
    /// "pool"`).
    CreateConfigurationSet { name: String },
    /// `AssociateProtectConfiguration`: the configuration set's sends are
    /// judged by pumpguard's configuration, ahead of the account default.
    Associate { target: Target, set: String },
    /// `DisassociateProtectConfiguration`: a set takes one protect
    /// configuration, so another one (of a deleted pumpguard configuration)
    /// is taken off first.
    Disassociate { id: String, set: String },
}

// ---------------------------------------------------------------- observed

/// One protect configuration of the account, in this region.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationInfo {
    pub id: String,
    pub arn: String,
    pub account_default: bool,
    /// Tagged [`OWNER_TAG`]` = true`.
    pub owned: bool,
}

/// A number override as End User Messaging reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObservedOverride {
    pub number: PhoneNumber,
    /// `ALLOW` or `BLOCK` (as the API spells it).
    pub action: String,
    /// Unix seconds.
    pub expires: Option<i64>,
}

/// pumpguard's configuration and its contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnedConfiguration {
    pub id: String,
    pub arn: String,
    /// The SMS country rule set: ISO code → status as the API spells it.
    pub sms_rules: BTreeMap<String, String>,
    pub overrides: Vec<ObservedOverride>,
}

/// What the read calls found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {
    /// Every protect configuration in the region.
    pub configurations: Vec<ConfigurationInfo>,
    /// pumpguard's, with its rules and overrides.
    pub owned: Option<OwnedConfiguration>,
    /// With `[protect]` disabled, a failure to list configurations is not an
    /// error (e.g. a region or partition without End User Messaging): it is
    /// kept here and shown as a warning.
    pub unreadable: Option<String>,
    /// With `scope = "pool"`: the configuration set the policy names, if it
    /// exists.
    pub configuration_set: Option<ConfigurationSet>,
    /// This is the pool's region: the one whose End User Messaging the pool
    /// sends through with `scope = "pool"` (the set is made there only).
    pub pool_region: bool,
}

/// A configuration set as End User Messaging describes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigurationSet {
    pub name: String,
    pub arn: String,
    /// Tagged [`OWNER_TAG`]` = true`.
    pub owned: bool,
    /// The protect configuration associated with it.
    pub protect_configuration_id: Option<String>,
}

impl Observed {
    /// The configuration that is the account default, if any.
    pub fn account_default(&self) -> Option<&ConfigurationInfo> {
        self.configurations.iter().find(|c| c.account_default)
    }

    /// Whether pumpguard's configuration is the account default.
    pub fn owned_is_default(&self) -> bool {
        self.configurations
            .iter()
            .any(|c| c.owned && c.account_default)
    }

    /// How many SMS countries the owned configuration has per status.
    pub fn sms_rule_counts(&self) -> BTreeMap<String, usize> {
        let mut counts = BTreeMap::new();
        if let Some(owned) = &self.owned {
            for status in owned.sms_rules.values() {
                *counts.entry(status.clone()).or_insert(0) += 1;
            }
        }
        counts
    }
}

// ---------------------------------------------------------------- read

fn sdk_err(e: impl std::error::Error) -> String {
    DisplayErrorContext(e).to_string()
}

/// Lists every protect configuration, finds pumpguard's by its tag, and reads
/// its SMS country rules and number overrides. Read calls only.
pub async fn read(c: &Clients, d: &Desired<'_>) -> anyhow::Result<Observed> {
    let infos = match describe_all(c).await {
        Ok(infos) => infos,
        Err(e) if !d.policy.protect.enabled => {
            return Ok(Observed {
                unreadable: Some(format!("{e:#}")),
                ..Observed::default()
            })
        }
        Err(e) => return Err(e),
    };
    let mut configurations = Vec::with_capacity(infos.len());
    for (id, arn, account_default) in infos {
        let owned = is_owned(c, &arn).await?;
        configurations.push(ConfigurationInfo {
            id,
            arn,
            account_default,
            owned,
        });
    }
    let owned: Vec<&ConfigurationInfo> = configurations.iter().filter(|c| c.owned).collect();
    let owned = match owned.as_slice() {
        [] => None,
        [one] => Some(read_owned(c, one).await?),
        many => {
            let ids: Vec<&str> = many.iter().map(|c| c.id.as_str()).collect();
            bail!(
                "{} protect configurations in {} carry the tag {OWNER_TAG}=true: {}; pumpguard \
                 owns exactly one per region. Delete all but one (or remove the tag from all but \
                 one), then run `pumpguard plan` again",
                many.len(),
                c.region,
                ids.join(", ")
            );
        }
    };
    let pool_region = c.region == d.pool.region;
    let configuration_set = match &d.policy.protect.scope {
        ProtectScope::Pool(scope) if d.policy.protect.enabled && pool_region => {
            read_configuration_set(c, &scope.configuration_set).await?
        }
        _ => None,
    };
    Ok(Observed {
        configurations,
        owned,
        unreadable: None,
        configuration_set,
        pool_region,
    })
}

/// `DescribeConfigurationSets` for one name; `None` when there is none.
async fn read_configuration_set(
    c: &Clients,
    name: &str,
) -> anyhow::Result<Option<ConfigurationSet>> {
    let out = match c
        .eum
        .describe_configuration_sets()
        .configuration_set_names(name)
        .send()
        .await
    {
        Ok(out) => out,
        Err(e)
            if e.as_service_error()
                .is_some_and(|e| e.is_resource_not_found_exception()) =>
        {
            return Ok(None)
        }
        Err(e) => bail!(
            "cannot describe End User Messaging configuration set {name} in {}: {}; check \
             that the credentials allow sms-voice:DescribeConfigurationSets in this region",
            c.region,
            sdk_err(e)
        ),
    };
    let Some(set) = out
        .configuration_sets()
        .iter()
        .find(|s| s.configuration_set_name() == name)
    else {
        return Ok(None);
    };
    Ok(Some(ConfigurationSet {
        name: name.to_string(),
        arn: set.configuration_set_arn().to_string(),
        owned: is_owned(c, set.configuration_set_arn()).await?,
        protect_configuration_id: set.protect_configuration_id().map(str::to_string),
    }))
}

/// `DescribeProtectConfigurations`, every page: (id, arn, account default).
async fn describe_all(c: &Clients) -> anyhow::Result<Vec<(String, String, bool)>> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = c
            .eum
            .describe_protect_configurations()
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot list End User Messaging protect configurations in {}: {}; check that \
                     the credentials allow sms-voice:DescribeProtectConfigurations in this region",
                    c.region,
                    sdk_err(e)
                )
            })?;
        for p in page.protect_configurations() {
            out.push((
                p.protect_configuration_id().to_string(),
                p.protect_configuration_arn().to_string(),
                p.account_default(),
            ));
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return Ok(out),
        }
    }
}

async fn is_owned(c: &Clients, arn: &str) -> anyhow::Result<bool> {
    let tags = c
        .eum
        .list_tags_for_resource()
        .resource_arn(arn)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "cannot read the tags of {arn}: {}; check that the credentials allow \
                 sms-voice:ListTagsForResource (pumpguard finds what it owns by the tag \
                 {OWNER_TAG})",
                sdk_err(e)
            )
        })?;
    Ok(tags
        .tags()
        .iter()
        .any(|t| t.key() == OWNER_TAG && t.value() == "true"))
}

async fn read_owned(c: &Clients, info: &ConfigurationInfo) -> anyhow::Result<OwnedConfiguration> {
    let rules = c
        .eum
        .get_protect_configuration_country_rule_set()
        .protect_configuration_id(&info.id)
        .number_capability(NumberCapability::Sms)
        .send()
        .await
        .map_err(|e| {
            anyhow!(
                "cannot read the SMS country rules of protect configuration {} in {}: {}; check \
                 that the credentials allow sms-voice:GetProtectConfigurationCountryRuleSet",
                info.id,
                c.region,
                sdk_err(e)
            )
        })?;
    let sms_rules = rules
        .country_rule_set()
        .iter()
        .map(|(code, rule)| (code.clone(), rule.protect_status().as_str().to_string()))
        .collect();

    let mut overrides = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = c
            .eum
            .list_protect_configuration_rule_set_number_overrides()
            .protect_configuration_id(&info.id)
            .set_next_token(token.take())
            .send()
            .await
            .map_err(|e| {
                anyhow!(
                    "cannot list the number overrides of protect configuration {} in {}: {}; \
                     check that the credentials allow \
                     sms-voice:ListProtectConfigurationRuleSetNumberOverrides",
                    info.id,
                    c.region,
                    sdk_err(e)
                )
            })?;
        for o in page.rule_set_number_overrides() {
            overrides.push(ObservedOverride {
                number: PhoneNumber::new(o.destination_phone_number()),
                action: o.action().as_str().to_string(),
                expires: o.expiration_timestamp().map(DateTime::secs),
            });
        }
        match page.next_token() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => break,
        }
    }
    Ok(OwnedConfiguration {
        id: info.id.clone(),
        arn: info.arn.clone(),
        sms_rules,
        overrides,
    })
}

// ---------------------------------------------------------------- plan

/// A number override as the policy wants it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct WantedOverride {
    action: ProtectStatus,
    expires: Option<i64>,
}

fn time(secs: i64) -> String {
    DateTime::from_secs(secs)
        .fmt(Format::DateTime)
        .unwrap_or_else(|_| format!("{secs} (unix seconds)"))
}

fn describe_override(action: &str, expires: Option<i64>) -> String {
    match expires {
        Some(t) => format!("{action} until {}", time(t)),
        None => action.to_string(),
    }
}

/// The policy's number overrides that are still in force, by number; warns
/// about expired and repeated ones.
fn wanted_overrides(
    d: &Desired<'_>,
    warnings: &mut Vec<String>,
) -> BTreeMap<PhoneNumber, WantedOverride> {
    let mut wanted = BTreeMap::new();
    let mut expired = BTreeSet::new();
    for o in &d.policy.protect.number_overrides {
        let number = PhoneNumber::new(o.number.clone());
        if let Some(t) = o.expires.filter(|t| *t < d.now) {
            warnings.push(format!(
                "protect.number-overrides: the override for {} expired at {}; it is not put \
                 (and is removed from the account if still there). Remove it from the policy",
                number.masked(),
                time(t)
            ));
            wanted.remove(&number);
            expired.insert(number);
            continue;
        }
        let w = WantedOverride {
            action: o.action,
            expires: o.expires,
        };
        if wanted.insert(number.clone(), w).is_some() || expired.contains(&number) {
            warnings.push(format!(
                "protect.number-overrides lists {} more than once; the last entry wins",
                number.masked()
            ));
        }
    }
    wanted
}

/// Warnings for the countries where `[protect] country-overrides` makes the
/// account disagree with the trigger's country lists.
fn country_override_warnings(
    d: &Desired<'_>,
    rules: &BTreeMap<Country, ProtectStatus>,
) -> Vec<String> {
    let p = &d.policy.protect;
    if p.country_overrides.is_empty() {
        return Vec::new();
    }
    let mut plain = d.policy.clone();
    plain.protect.country_overrides.clear();
    let derived = plain.protect_rules(p.block_status);
    let mut groups: BTreeMap<(ProtectStatus, ProtectStatus), Vec<&str>> = BTreeMap::new();
    for (country, status) in rules {
        match derived.get(country) {
            Some(from) if from != status => groups
                .entry((*from, *status))
                .or_default()
                .push(country.as_str()),
            _ => {}
        }
    }
    groups
        .into_iter()
        .map(|((from, to), countries)| {
            format!(
                "protect.country-overrides sets {} to {} at the account while the trigger's \
                 country lists give {}: the account and the trigger disagree there on purpose \
                 (explicit override)",
                countries_summary(countries),
                to.as_str(),
                from.as_str()
            )
        })
        .collect()
}

/// Fields "SMS countries → STATUS" for people, one per target status.
fn rule_fields(
    rules: &[(Country, ProtectStatus)],
    before: Option<&BTreeMap<String, String>>,
) -> Vec<FieldChange> {
    STATUSES
        .iter()
        .filter_map(|status| {
            let codes: Vec<&str> = rules
                .iter()
                .filter(|(_, s)| s == status)
                .map(|(c, _)| c.as_str())
                .collect();
            if codes.is_empty() {
                return None;
            }
            let mut to = countries_summary(codes.iter().copied());
            if let Some(before) = before {
                let was: BTreeSet<&str> = codes
                    .iter()
                    .map(|c| before.get(*c).map_or("not set", String::as_str))
                    .collect();
                to.push_str(&format!(
                    " (now {})",
                    was.into_iter().collect::<Vec<_>>().join(", ")
                ));
            }
            Some(FieldChange::new(
                format!("SMS countries → {}", status.as_str()),
                None,
                Some(to),
            ))
        })
        .collect()
}

fn chunks(target: &Target, rules: &[(Country, ProtectStatus)]) -> Vec<Write> {
    rules
        .chunks(MAX_COUNTRIES_PER_UPDATE)
        .map(|chunk| {
            Write::Protect(ProtectWrite::UpdateCountryRules {
                target: target.clone(),
                rules: chunk.to_vec(),
            })
        })
        .collect()
}

fn put(target: &Target, number: &PhoneNumber, w: WantedOverride) -> Write {
    Write::Protect(ProtectWrite::PutNumberOverride {
        target: target.clone(),
        number: number.clone(),
        action: w.action,
        expires: w.expires,
    })
}

fn override_field(number: &PhoneNumber, from: Option<String>, to: Option<String>) -> FieldChange {
    FieldChange::new(format!("number override {}", number.masked()), from, to)
}

pub fn plan(d: &Desired<'_>, o: &Observed) -> (Vec<Change>, Vec<String>) {
    let p = &d.policy.protect;
    let mut warnings = Vec::new();
    if !p.enabled {
        if let Some(e) = &o.unreadable {
            warnings.push(format!(
                "[protect] is disabled and the protect configurations could not be read ({e}); \
                 nothing is changed"
            ));
        }
        if let Some(owned) = &o.owned {
            let default = if o.owned_is_default() {
                ", and it is still the account default, so its country rules still apply to \
                 every SMS the account sends"
            } else {
                ""
            };
            warnings.push(format!(
                "[protect] is disabled: pumpguard leaves its protect configuration {} as it \
                 is{default}; delete it yourself if you no longer want it",
                owned.id
            ));
        }
        return (Vec::new(), warnings);
    }

    let rules = d.policy.protect_rules(p.block_status);
    warnings.extend(country_override_warnings(d, &rules));
    let wanted = wanted_overrides(d, &mut warnings);
    let foreign_default = o.account_default().filter(|c| !c.owned);

    let Some(owned) = &o.owned else {
        let id = CreatedId::default();
        let target = Target::Created(id.clone());
        let all: Vec<(Country, ProtectStatus)> = rules.into_iter().collect();
        let mut writes = vec![Write::Protect(ProtectWrite::Create { id })];
        writes.extend(chunks(&target, &all));
        let mut fields = vec![FieldChange::new(
            format!("tag {OWNER_TAG}"),
            None,
            Some("true".into()),
        )];
        fields.extend(rule_fields(&all, None));
        for (number, w) in &wanted {
            writes.push(put(&target, number, *w));
            fields.push(override_field(
                number,
                None,
                Some(describe_override(w.action.as_str(), w.expires)),
            ));
        }
        match &p.scope {
            ProtectScope::AccountDefault => {
                writes.push(Write::Protect(ProtectWrite::SetAccountDefault {
                    target: target.clone(),
                }));
                fields.push(FieldChange::new(
                    "account default",
                    foreign_default.map(|c| c.id.clone()),
                    Some("this configuration".into()),
                ));
                if let Some(f) = foreign_default {
                    warnings.push(format!(
                        "the account default protect configuration is {}, which pumpguard does \
                         not own; apply makes pumpguard's new configuration the default instead \
                         ({} is left as it is, but no longer applies as the default)",
                        f.id, f.id
                    ));
                }
            }
            ProtectScope::Pool(_) => fields.push(FieldChange::new(
                "scope",
                None,
                Some("pool (the account default is left as it is)".into()),
            )),
        }
        let mut changes = vec![Change {
            resource: RESOURCE.into(),
            name: "(new)".into(),
            action: Action::Create,
            fields,
            order: ORDER_RULES,
            writes,
        }];
        if let (ProtectScope::Pool(scope), true) = (&p.scope, o.pool_region) {
            changes.extend(plan_configuration_set(
                scope,
                o,
                &target,
                None,
                &mut warnings,
            ));
        }
        return (changes, warnings);
    };

    let target = Target::Id(owned.id.clone());
    let mut changes = Vec::new();

    // Country rules: only those whose status differs.
    let differing: Vec<(Country, ProtectStatus)> = rules
        .into_iter()
        .filter(|(c, s)| owned.sms_rules.get(c.as_str()).map(String::as_str) != Some(s.as_str()))
        .collect();
    let mut fields = rule_fields(&differing, Some(&owned.sms_rules));
    let mut writes = chunks(&target, &differing);

    // Number overrides: put what is missing or different, delete the rest.
    let observed: BTreeMap<&PhoneNumber, &ObservedOverride> =
        owned.overrides.iter().map(|o| (&o.number, o)).collect();
    for (number, w) in &wanted {
        let before = observed.get(number);
        let same = before.is_some_and(|b| b.action == w.action.as_str() && b.expires == w.expires);
        if !same {
            writes.push(put(&target, number, *w));
            fields.push(override_field(
                number,
                before.map(|b| describe_override(&b.action, b.expires)),
                Some(describe_override(w.action.as_str(), w.expires)),
            ));
        }
    }
    for (number, before) in &observed {
        if !wanted.contains_key(*number) {
            writes.push(Write::Protect(ProtectWrite::DeleteNumberOverride {
                target: target.clone(),
                number: (*number).clone(),
            }));
            fields.push(override_field(
                number,
                Some(describe_override(&before.action, before.expires)),
                None,
            ));
        }
    }
    if !writes.is_empty() {
        changes.push(Change {
            resource: RESOURCE.into(),
            name: owned.id.clone(),
            action: Action::Update,
            fields,
            order: ORDER_RULES,
            writes,
        });
    }

    if let ProtectScope::Pool(scope) = &p.scope {
        if o.owned_is_default() {
            warnings.push(format!(
                "scope = \"pool\", but pumpguard's protect configuration {} is still the account \
                 default (from an earlier apply with scope = \"account-default\"), so it still \
                 judges every SMS the account sends; pumpguard does not remove an account \
                 default on its own. To release it: aws pinpoint-sms-voice-v2 \
                 delete-account-default-protect-configuration --region {}",
                owned.id, d.pool.region
            ));
        }
        if o.pool_region {
            changes.extend(plan_configuration_set(
                scope,
                o,
                &target,
                Some(&owned.id),
                &mut warnings,
            ));
        }
        return (changes, warnings);
    }

    // The account default.
    if !o.owned_is_default() {
        if let Some(f) = foreign_default {
            warnings.push(format!(
                "the account default protect configuration is {}, which pumpguard does not own; \
                 apply makes pumpguard's {} the default instead ({} is left as it is, but no \
                 longer applies as the default)",
                f.id, owned.id, f.id
            ));
        }
        changes.push(Change {
            resource: DEFAULT_RESOURCE.into(),
            name: owned.id.clone(),
            action: if foreign_default.is_some() {
                Action::Update
            } else {
                Action::Create
            },
            fields: vec![FieldChange::new(
                "protect configuration",
                foreign_default.map(|c| c.id.clone()),
                Some(owned.id.clone()),
            )],
            order: ORDER_DEFAULT,
            writes: vec![Write::Protect(ProtectWrite::SetAccountDefault { target })],
        });
    }
    (changes, warnings)
}

/// `scope = "pool"`: the configuration set pumpguard owns, created if
/// missing and associated with pumpguard's protect configuration (`owned_id`,
/// `None` while that is still to be created). A set of that name that
/// pumpguard does not own is never taken over: the plan says so and leaves
/// it alone.
fn plan_configuration_set(
    scope: &PoolScope,
    o: &Observed,
    target: &Target,
    owned_id: Option<&str>,
    warnings: &mut Vec<String>,
) -> Vec<Change> {
    let name = &scope.configuration_set;
    let associate = Write::Protect(ProtectWrite::Associate {
        target: target.clone(),
        set: name.clone(),
    });
    let association = |from: Option<String>| {
        FieldChange::new(
            "protect configuration",
            from,
            Some(owned_id.map_or("pumpguard's (new)".into(), str::to_string)),
        )
    };
    match &o.configuration_set {
        None => vec![Change {
            resource: SET_RESOURCE.into(),
            name: name.clone(),
            action: Action::Create,
            fields: vec![
                FieldChange::new(format!("tag {OWNER_TAG}"), None, Some("true".into())),
                association(None),
            ],
            order: ORDER_DEFAULT,
            writes: vec![
                Write::Protect(ProtectWrite::CreateConfigurationSet { name: name.clone() }),
                associate,
            ],
        }],
        Some(set) if !set.owned => {
            warnings.push(format!(
                "configuration set {name} exists and is not pumpguard's (no tag {OWNER_TAG}=true): \
                 pumpguard does not associate its protect configuration with a set other \
                 senders may use. Name another set in [protect] configuration-set, or tag this \
                 one {OWNER_TAG}=true if it is meant for this pool alone"
            ));
            Vec::new()
        }
        Some(set) => {
            if owned_id.is_some() && set.protect_configuration_id.as_deref() == owned_id {
                return Vec::new();
            }
            let mut writes = Vec::new();
            if let Some(other) = &set.protect_configuration_id {
                writes.push(Write::Protect(ProtectWrite::Disassociate {
                    id: other.clone(),
                    set: name.clone(),
                }));
            }
            writes.push(associate);
            vec![Change {
                resource: SET_RESOURCE.into(),
                name: name.clone(),
                action: Action::Update,
                fields: vec![association(set.protect_configuration_id.clone())],
                order: ORDER_DEFAULT,
                writes,
            }]
        }
    }
}

// ---------------------------------------------------------------- apply

fn again() -> &'static str {
    "then run `pumpguard plan` and `pumpguard apply` again (they pick up where this stopped)"
}

pub async fn apply(c: &Clients, w: &ProtectWrite) -> anyhow::Result<()> {
    match w {
        ProtectWrite::Create { id } => {
            if let Some(existing) = id.get() {
                bail!(
                    "this plan already created protect configuration {existing}; run `pumpguard \
                     plan` again instead of applying the same plan twice"
                );
            }
            let tag = Tag::builder()
                .key(OWNER_TAG)
                .value("true")
                .build()
                .context("building the owner tag")?;
            let out = c
                .eum
                .create_protect_configuration()
                .deletion_protection_enabled(false)
                .tags(tag)
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "cannot create a protect configuration in {}: {}; check that the \
                         credentials allow sms-voice:CreateProtectConfiguration and \
                         sms-voice:TagResource and that the account is below its limit of \
                         protect configurations (25 by default), {}",
                        c.region,
                        sdk_err(e),
                        again()
                    )
                })?;
            let new_id = out.protect_configuration_id().to_string();
            id.0.set(new_id.clone()).map_err(|_| {
                anyhow!(
                    "protect configuration {new_id} was created but this plan already had one; \
                     delete {new_id} and run `pumpguard plan` again"
                )
            })?;
            tracing::info!(region = %c.region, id = %new_id, "created protect configuration");
            Ok(())
        }
        ProtectWrite::UpdateCountryRules { target, rules } => {
            let id = target.resolve()?;
            if rules.is_empty() {
                return Ok(());
            }
            if rules.len() > MAX_COUNTRIES_PER_UPDATE {
                bail!(
                    "internal error: {} countries in one rule-set update (End User Messaging \
                     takes at most {MAX_COUNTRIES_PER_UPDATE}); please report this",
                    rules.len()
                );
            }
            let mut req = c
                .eum
                .update_protect_configuration_country_rule_set()
                .protect_configuration_id(id)
                .number_capability(NumberCapability::Sms);
            for (country, status) in rules {
                let rule = ProtectConfigurationCountryRuleSetInformation::builder()
                    .protect_status(status.as_str().into())
                    .build()
                    .context("building a country rule")?;
                req = req.country_rule_set_updates(country.as_str(), rule);
            }
            req.send().await.map_err(|e| {
                anyhow!(
                    "cannot update the SMS country rules ({}) of protect configuration {id} in \
                     {}: {}; check that the credentials allow \
                     sms-voice:UpdateProtectConfigurationCountryRuleSet (if End User Messaging \
                     rejects a country code, report it to pumpguard), {}",
                    countries_summary(rules.iter().map(|(c, _)| c.as_str())),
                    c.region,
                    sdk_err(e),
                    again()
                )
            })?;
            Ok(())
        }
        ProtectWrite::PutNumberOverride {
            target,
            number,
            action,
            expires,
        } => {
            let id = target.resolve()?;
            c.eum
                .put_protect_configuration_rule_set_number_override()
                .protect_configuration_id(id)
                .destination_phone_number(number.expose())
                .action(ProtectConfigurationRuleOverrideAction::from(
                    action.as_str(),
                ))
                .set_expiration_timestamp(expires.map(DateTime::from_secs))
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "cannot put the number override for {} on protect configuration {id} in \
                         {}: {}; check that the credentials allow \
                         sms-voice:PutProtectConfigurationRuleSetNumberOverride and that the \
                         expiry is in the future, {}",
                        number.masked(),
                        c.region,
                        // The error may echo the number: mask it.
                        sdk_err(e).replace(number.expose(), &number.masked()),
                        again()
                    )
                })?;
            Ok(())
        }
        ProtectWrite::DeleteNumberOverride { target, number } => {
            let id = target.resolve()?;
            c.eum
                .delete_protect_configuration_rule_set_number_override()
                .protect_configuration_id(id)
                .destination_phone_number(number.expose())
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "cannot delete the number override for {} from protect configuration \
                         {id} in {}: {}; check that the credentials allow \
                         sms-voice:DeleteProtectConfigurationRuleSetNumberOverride, {}",
                        number.masked(),
                        c.region,
                        sdk_err(e).replace(number.expose(), &number.masked()),
                        again()
                    )
                })?;
            Ok(())
        }
        ProtectWrite::SetAccountDefault { target } => {
            let id = target.resolve()?;
            c.eum
                .set_account_default_protect_configuration()
                .protect_configuration_id(id)
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "cannot make protect configuration {id} the account default in {}: {}; \
                         check that the credentials allow \
                         sms-voice:SetAccountDefaultProtectConfiguration, {}",
                        c.region,
                        sdk_err(e),
                        again()
                    )
                })?;
            Ok(())
        }
        ProtectWrite::CreateConfigurationSet { name } => {
            let tag = Tag::builder()
                .key(OWNER_TAG)
                .value("true")
                .build()
                .context("building the owner tag")?;
            c.eum
                .create_configuration_set()
                .configuration_set_name(name)
                .tags(tag)
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "cannot create configuration set {name} in {}: {}; check that the \
                         credentials allow sms-voice:CreateConfigurationSet and \
                         sms-voice:TagResource, {}",
                        c.region,
                        sdk_err(e),
                        again()
                    )
                })?;
            tracing::info!(region = %c.region, set = %name, "created configuration set");
            Ok(())
        }
        ProtectWrite::Disassociate { id, set } => {
            c.eum
                .disassociate_protect_configuration()
                .protect_configuration_id(id)
                .configuration_set_name(set)
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "cannot take protect configuration {id} off configuration set {set} in \
                         {}: {}; check that the credentials allow \
                         sms-voice:DisassociateProtectConfiguration, {}",
                        c.region,
                        sdk_err(e),
                        again()
                    )
                })?;
            Ok(())
        }
        ProtectWrite::Associate { target, set } => {
            let id = target.resolve()?;
            c.eum
                .associate_protect_configuration()
                .protect_configuration_id(id)
                .configuration_set_name(set)
                .send()
                .await
                .map_err(|e| {
                    anyhow!(
                        "cannot associate protect configuration {id} with configuration set \
                         {set} in {}: {}; check that the credentials allow \
                         sms-voice:AssociateProtectConfiguration (a set can have only one \
                         protect configuration: if another is associated, disassociate it \
                         first), {}",
                        c.region,
                        sdk_err(e),
                        again()
                    )
                })?;
            Ok(())
        }
    }
}
