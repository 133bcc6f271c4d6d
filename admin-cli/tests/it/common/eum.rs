//! A simulated End User Messaging account for the tests: the real
//! `aws-sdk-pinpointsmsvoicev2` client answered by `aws-smithy-mocks` rules
//! whose responses come from a small in-memory account (protect
//! configurations and the text spend limit). No emulator implements the
//! service, so requests go through the SDK's own input validation and
//! serialisation, and every write call is recorded in order.

#![allow(dead_code, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use aws_sdk_pinpointsmsvoicev2 as eum;
use aws_sdk_pinpointsmsvoicev2::config::{BehaviorVersion, Credentials, Region, SharedInterceptor};
use aws_sdk_pinpointsmsvoicev2::operation::associate_protect_configuration::AssociateProtectConfigurationOutput;
use aws_sdk_pinpointsmsvoicev2::operation::create_configuration_set::CreateConfigurationSetOutput;
use aws_sdk_pinpointsmsvoicev2::operation::create_protect_configuration::CreateProtectConfigurationOutput;
use aws_sdk_pinpointsmsvoicev2::operation::delete_protect_configuration_rule_set_number_override::DeleteProtectConfigurationRuleSetNumberOverrideOutput;
use aws_sdk_pinpointsmsvoicev2::operation::describe_configuration_sets::DescribeConfigurationSetsOutput;
use aws_sdk_pinpointsmsvoicev2::operation::describe_protect_configurations::DescribeProtectConfigurationsOutput;
use aws_sdk_pinpointsmsvoicev2::operation::describe_spend_limits::DescribeSpendLimitsOutput;
use aws_sdk_pinpointsmsvoicev2::operation::disassociate_protect_configuration::DisassociateProtectConfigurationOutput;
use aws_sdk_pinpointsmsvoicev2::operation::get_protect_configuration_country_rule_set::GetProtectConfigurationCountryRuleSetOutput;
use aws_sdk_pinpointsmsvoicev2::operation::list_protect_configuration_rule_set_number_overrides::ListProtectConfigurationRuleSetNumberOverridesOutput;
use aws_sdk_pinpointsmsvoicev2::operation::list_tags_for_resource::ListTagsForResourceOutput;
use aws_sdk_pinpointsmsvoicev2::operation::put_protect_configuration_rule_set_number_override::PutProtectConfigurationRuleSetNumberOverrideOutput;
use aws_sdk_pinpointsmsvoicev2::operation::set_account_default_protect_configuration::SetAccountDefaultProtectConfigurationOutput;
use aws_sdk_pinpointsmsvoicev2::operation::set_text_message_spend_limit_override::SetTextMessageSpendLimitOverrideOutput;
use aws_sdk_pinpointsmsvoicev2::operation::update_protect_configuration_country_rule_set::UpdateProtectConfigurationCountryRuleSetOutput;
use aws_sdk_pinpointsmsvoicev2::types::{
    ConfigurationSetInformation, NumberCapability, ProtectConfigurationCountryRuleSetInformation,
    ProtectConfigurationInformation, ProtectConfigurationRuleSetNumberOverride, SpendLimit,
    SpendLimitName, Tag,
};
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_types::DateTime;
use pumpguard_cli::converge::OWNER_TAG;
use pumpguard_engine::account::all_countries;

pub const REGION: &str = "us-east-1";
/// 2027-01-15T08:00:00Z: the simulated account's clock.
pub const NOW: i64 = 1_800_000_000;

#[derive(Debug, Clone)]
pub struct Config {
    pub id: String,
    pub default: bool,
    pub tags: Vec<(String, String)>,
    pub rules: BTreeMap<String, String>,
    /// number → (action, expiry)
    pub overrides: BTreeMap<String, (String, Option<i64>)>,
}

impl Config {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:sms-voice:us-east-1:123456789012:protect-configuration/{}",
            self.id
        )
    }

    pub fn foreign(id: &str, default: bool) -> Self {
        Self {
            id: id.into(),
            default,
            tags: vec![("team".into(), "other".into())],
            rules: fresh_rules(),
            overrides: BTreeMap::new(),
        }
    }

    pub fn owned(id: &str, default: bool, rules: BTreeMap<String, String>) -> Self {
        Self {
            id: id.into(),
            default,
            tags: vec![(OWNER_TAG.into(), "true".into())],
            rules,
            overrides: BTreeMap::new(),
        }
    }
}

/// A new configuration allows every country.
pub fn fresh_rules() -> BTreeMap<String, String> {
    all_countries()
        .into_iter()
        .map(|c| (c.as_str().to_string(), "ALLOW".to_string()))
        .collect()
}

/// A write call, as the account received it.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Create {
        tags: Vec<(String, String)>,
        deletion_protection: Option<bool>,
    },
    Rules {
        id: String,
        capability: String,
        countries: BTreeMap<String, String>,
    },
    Put {
        id: String,
        number: String,
        action: String,
        expires: Option<i64>,
    },
    Delete {
        id: String,
        number: String,
    },
    SetDefault {
        id: String,
    },
    CreateSet {
        name: String,
        tags: Vec<(String, String)>,
    },
    Associate {
        id: String,
        set: String,
    },
    Disassociate {
        id: String,
        set: String,
    },
}

/// A configuration set of the simulated account.
#[derive(Debug, Clone)]
pub struct Set {
    pub name: String,
    pub tags: Vec<(String, String)>,
    pub protect: Option<String>,
}

impl Set {
    pub fn arn(&self) -> String {
        format!(
            "arn:aws:sms-voice:us-east-1:123456789012:configuration-set/{}",
            self.name
        )
    }
}

#[derive(Debug, Default)]
pub struct State {
    pub configs: Vec<Config>,
    pub sets: Vec<Set>,
    pub writes: Vec<Call>,
    pub created: u32,
}

/// The account plus the mock rules serving it.
pub struct Account {
    pub state: Arc<Mutex<State>>,
    pub reads: Vec<Rule>,
    pub writes: Vec<Rule>,
}

impl Account {
    pub fn new(configs: Vec<Config>) -> Self {
        let state = Arc::new(Mutex::new(State {
            configs,
            ..State::default()
        }));
        let s = state.clone();
        // One configuration per page, to exercise pagination.
        let describe =
            mock!(eum::Client::describe_protect_configurations).then_compute_output(move |req| {
                let st = s.lock().unwrap();
                let start: usize = req.next_token().map_or(0, |t| t.parse().unwrap());
                let page: Vec<ProtectConfigurationInformation> = st
                    .configs
                    .iter()
                    .skip(start)
                    .take(1)
                    .map(|c| {
                        ProtectConfigurationInformation::builder()
                            .protect_configuration_id(&c.id)
                            .protect_configuration_arn(c.arn())
                            .created_timestamp(DateTime::from_secs(NOW - 86_400))
                            .account_default(c.default)
                            .deletion_protection_enabled(false)
                            .build()
                            .unwrap()
                    })
                    .collect();
                let next = (start + 1 < st.configs.len()).then(|| (start + 1).to_string());
                DescribeProtectConfigurationsOutput::builder()
                    .set_protect_configurations(Some(page))
                    .set_next_token(next)
                    .build()
            });
        let s = state.clone();
        let tags = mock!(eum::Client::list_tags_for_resource).then_compute_output(move |req| {
            let st = s.lock().unwrap();
            let arn = req.resource_arn().unwrap_or_default();
            let tags = st
                .configs
                .iter()
                .find(|c| c.arn() == arn)
                .map(|c| &c.tags)
                .or_else(|| st.sets.iter().find(|s| s.arn() == arn).map(|s| &s.tags))
                .expect("tags of a known configuration or set");
            let tags = tags
                .iter()
                .map(|(k, v)| Tag::builder().key(k).value(v).build().unwrap())
                .collect();
            ListTagsForResourceOutput::builder()
                .resource_arn(arn)
                .set_tags(Some(tags))
                .build()
        });
        let s = state.clone();
        let get_rules = mock!(eum::Client::get_protect_configuration_country_rule_set)
            .then_compute_output(move |req| {
                assert_eq!(req.number_capability(), Some(&NumberCapability::Sms));
                let st = s.lock().unwrap();
                let c = find(&st, req.protect_configuration_id());
                let mut out = GetProtectConfigurationCountryRuleSetOutput::builder()
                    .protect_configuration_arn(c.arn())
                    .protect_configuration_id(&c.id)
                    .number_capability(NumberCapability::Sms);
                for (code, status) in &c.rules {
                    out = out.country_rule_set(code, info(status));
                }
                out.build().unwrap()
            });
        let s = state.clone();
        // Two overrides per page.
        let list_overrides =
            mock!(eum::Client::list_protect_configuration_rule_set_number_overrides)
                .then_compute_output(move |req| {
                    let st = s.lock().unwrap();
                    let c = find(&st, req.protect_configuration_id());
                    let start: usize = req.next_token().map_or(0, |t| t.parse().unwrap());
                    let page = c
                        .overrides
                        .iter()
                        .skip(start)
                        .take(2)
                        .map(|(number, (action, expires))| {
                            ProtectConfigurationRuleSetNumberOverride::builder()
                                .destination_phone_number(number)
                                .created_timestamp(DateTime::from_secs(NOW - 3600))
                                .action(action.as_str().into())
                                .set_expiration_timestamp(expires.map(DateTime::from_secs))
                                .build()
                                .unwrap()
                        })
                        .collect();
                    let next = (start + 2 < c.overrides.len()).then(|| (start + 2).to_string());
                    ListProtectConfigurationRuleSetNumberOverridesOutput::builder()
                        .protect_configuration_arn(c.arn())
                        .protect_configuration_id(&c.id)
                        .set_rule_set_number_overrides(Some(page))
                        .set_next_token(next)
                        .build()
                        .unwrap()
                });

        let s = state.clone();
        let create =
            mock!(eum::Client::create_protect_configuration).then_compute_output(move |req| {
                let mut st = s.lock().unwrap();
                st.created += 1;
                let tags: Vec<(String, String)> = req
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect();
                st.writes.push(Call::Create {
                    tags: tags.clone(),
                    deletion_protection: req.deletion_protection_enabled(),
                });
                let mut c =
                    Config::owned(&format!("protect-new{}", st.created), false, fresh_rules());
                c.tags = tags;
                let out = CreateProtectConfigurationOutput::builder()
                    .protect_configuration_arn(c.arn())
                    .protect_configuration_id(&c.id)
                    .created_timestamp(DateTime::from_secs(NOW))
                    .account_default(false)
                    .deletion_protection_enabled(false)
                    .build()
                    .unwrap();
                st.configs.push(c);
                out
            });
        let s = state.clone();
        let update = mock!(eum::Client::update_protect_configuration_country_rule_set)
            .then_compute_output(move |req| {
                let mut st = s.lock().unwrap();
                let countries: BTreeMap<String, String> = req
                    .country_rule_set_updates()
                    .expect("updates")
                    .iter()
                    .map(|(k, v)| (k.clone(), v.protect_status().as_str().to_string()))
                    .collect();
                let id = req.protect_configuration_id().unwrap().to_string();
                st.writes.push(Call::Rules {
                    id: id.clone(),
                    capability: req.number_capability().unwrap().as_str().to_string(),
                    countries: countries.clone(),
                });
                let c = find_mut(&mut st, Some(&id));
                c.rules.extend(countries);
                let mut out = UpdateProtectConfigurationCountryRuleSetOutput::builder()
                    .protect_configuration_arn(c.arn())
                    .protect_configuration_id(&c.id)
                    .number_capability(NumberCapability::Sms);
                for (code, status) in &c.rules {
                    out = out.country_rule_set(code, info(status));
                }
                out.build().unwrap()
            });
        let s = state.clone();
        let put = mock!(eum::Client::put_protect_configuration_rule_set_number_override)
            .then_compute_output(move |req| {
                let mut st = s.lock().unwrap();
                let id = req.protect_configuration_id().unwrap().to_string();
                let number = req.destination_phone_number().unwrap().to_string();
                let action = req.action().unwrap().as_str().to_string();
                let expires = req.expiration_timestamp().map(DateTime::secs);
                st.writes.push(Call::Put {
                    id: id.clone(),
                    number: number.clone(),
                    action: action.clone(),
                    expires,
                });
                let c = find_mut(&mut st, Some(&id));
                c.overrides
                    .insert(number.clone(), (action.clone(), expires));
                PutProtectConfigurationRuleSetNumberOverrideOutput::builder()
                    .protect_configuration_arn(c.arn())
                    .protect_configuration_id(&c.id)
                    .destination_phone_number(number)
                    .created_timestamp(DateTime::from_secs(NOW))
                    .action(action.as_str().into())
                    .set_expiration_timestamp(expires.map(DateTime::from_secs))
                    .build()
                    .unwrap()
            });
        let s = state.clone();
        let delete = mock!(eum::Client::delete_protect_configuration_rule_set_number_override)
            .then_compute_output(move |req| {
                let mut st = s.lock().unwrap();
                let id = req.protect_configuration_id().unwrap().to_string();
                let number = req.destination_phone_number().unwrap().to_string();
                st.writes.push(Call::Delete {
                    id: id.clone(),
                    number: number.clone(),
                });
                let c = find_mut(&mut st, Some(&id));
                let (action, expires) = c.overrides.remove(&number).expect("existing override");
                DeleteProtectConfigurationRuleSetNumberOverrideOutput::builder()
                    .protect_configuration_arn(c.arn())
                    .protect_configuration_id(&c.id)
                    .destination_phone_number(number)
                    .created_timestamp(DateTime::from_secs(NOW))
                    .action(action.as_str().into())
                    .set_expiration_timestamp(expires.map(DateTime::from_secs))
                    .build()
                    .unwrap()
            });
        let s = state.clone();
        let set_default = mock!(eum::Client::set_account_default_protect_configuration)
            .then_compute_output(move |req| {
                let mut st = s.lock().unwrap();
                let id = req.protect_configuration_id().unwrap().to_string();
                st.writes.push(Call::SetDefault { id: id.clone() });
                for c in &mut st.configs {
                    c.default = c.id == id;
                }
                let c = find(&st, Some(&id));
                SetAccountDefaultProtectConfigurationOutput::builder()
                    .default_protect_configuration_arn(c.arn())
                    .default_protect_configuration_id(&c.id)
                    .build()
                    .unwrap()
            });
        let s = state.clone();
        // An unknown name is answered with no set (the code also takes
        // ResourceNotFoundException as none).
        let describe_sets =
            mock!(eum::Client::describe_configuration_sets).then_compute_output(move |req| {
                let st = s.lock().unwrap();
                let names = req.configuration_set_names();
                let sets = st
                    .sets
                    .iter()
                    .filter(|set| names.is_empty() || names.contains(&set.name))
                    .map(|set| {
                        ConfigurationSetInformation::builder()
                            .configuration_set_arn(set.arn())
                            .configuration_set_name(&set.name)
                            .set_event_destinations(Some(Vec::new()))
                            .created_timestamp(DateTime::from_secs(NOW - 86_400))
                            .set_protect_configuration_id(set.protect.clone())
                            .build()
                            .unwrap()
                    })
                    .collect();
                DescribeConfigurationSetsOutput::builder()
                    .set_configuration_sets(Some(sets))
                    .build()
            });
        let s = state.clone();
        let create_set =
            mock!(eum::Client::create_configuration_set).then_compute_output(move |req| {
                let mut st = s.lock().unwrap();
                let name = req.configuration_set_name().unwrap().to_string();
                assert!(
                    !st.sets.iter().any(|set| set.name == name),
                    "ConflictException: set {name} exists"
                );
                let tags: Vec<(String, String)> = req
                    .tags()
                    .iter()
                    .map(|t| (t.key().to_string(), t.value().to_string()))
                    .collect();
                st.writes.push(Call::CreateSet {
                    name: name.clone(),
                    tags: tags.clone(),
                });
                let set = Set {
                    name: name.clone(),
                    tags,
                    protect: None,
                };
                let arn = set.arn();
                st.sets.push(set);
                CreateConfigurationSetOutput::builder()
                    .configuration_set_arn(arn)
                    .configuration_set_name(name)
                    .created_timestamp(DateTime::from_secs(NOW))
                    .build()
            });
        let s = state.clone();
        let associate =
            mock!(eum::Client::associate_protect_configuration).then_compute_output(move |req| {
                let mut st = s.lock().unwrap();
                let id = req.protect_configuration_id().unwrap().to_string();
                let name = req.configuration_set_name().unwrap().to_string();
                let arn = find(&st, Some(&id)).arn();
                st.writes.push(Call::Associate {
                    id: id.clone(),
                    set: name.clone(),
                });
                let set = st
                    .sets
                    .iter_mut()
                    .find(|set| set.name == name)
                    .expect("ResourceNotFoundException: no such set");
                assert!(
                    set.protect.is_none(),
                    "ConflictException: the set has one already"
                );
                set.protect = Some(id.clone());
                let set_arn = set.arn();
                AssociateProtectConfigurationOutput::builder()
                    .configuration_set_arn(set_arn)
                    .configuration_set_name(name)
                    .protect_configuration_arn(arn)
                    .protect_configuration_id(id)
                    .build()
                    .unwrap()
            });
        let s = state.clone();
        let disassociate = mock!(eum::Client::disassociate_protect_configuration)
            .then_compute_output(move |req| {
                let mut st = s.lock().unwrap();
                let id = req.protect_configuration_id().unwrap().to_string();
                let name = req.configuration_set_name().unwrap().to_string();
                st.writes.push(Call::Disassociate {
                    id: id.clone(),
                    set: name.clone(),
                });
                let set = st
                    .sets
                    .iter_mut()
                    .find(|set| set.name == name)
                    .expect("ResourceNotFoundException: no such set");
                assert_eq!(set.protect.as_deref(), Some(id.as_str()));
                set.protect = None;
                let set_arn = set.arn();
                DisassociateProtectConfigurationOutput::builder()
                    .configuration_set_arn(set_arn)
                    .configuration_set_name(name)
                    .protect_configuration_arn(format!(
                        "arn:aws:sms-voice:us-east-1:123456789012:protect-configuration/{id}"
                    ))
                    .protect_configuration_id(id)
                    .build()
                    .unwrap()
            });
        Self {
            state,
            reads: vec![describe, tags, get_rules, list_overrides, describe_sets],
            writes: vec![
                create,
                update,
                put,
                delete,
                set_default,
                create_set,
                associate,
                disassociate,
            ],
        }
    }

    pub fn client(&self) -> eum::Client {
        mocked_eum(self.reads.iter().chain(&self.writes))
    }

    pub fn writes(&self) -> Vec<Call> {
        self.state.lock().unwrap().writes.clone()
    }

    pub fn write_rule_calls(&self) -> usize {
        self.writes.iter().map(Rule::num_calls).sum()
    }
}

pub fn info(status: &str) -> ProtectConfigurationCountryRuleSetInformation {
    ProtectConfigurationCountryRuleSetInformation::builder()
        .protect_status(status.into())
        .build()
        .unwrap()
}

pub fn find<'a>(st: &'a State, id: Option<&str>) -> &'a Config {
    st.configs
        .iter()
        .find(|c| Some(c.id.as_str()) == id)
        .expect("a known configuration id")
}

pub fn find_mut<'a>(st: &'a mut State, id: Option<&str>) -> &'a mut Config {
    st.configs
        .iter_mut()
        .find(|c| Some(c.id.as_str()) == id)
        .expect("a known configuration id")
}

/// The real End User Messaging client, answered by `rules`. An unmatched
/// request panics (the interceptor's default), so an unexpected call fails
/// the test. (`mock_client!` needs the SDK's `test-util` feature; this is
/// what it expands to, minus the test defaults.)
pub fn mocked_eum<'a>(rules: impl IntoIterator<Item = &'a Rule>) -> eum::Client {
    mocked_eum_with(rules, Vec::new())
}

/// [`mocked_eum`] with more interceptors after the mock's (recorders, faults).
pub fn mocked_eum_with<'a>(
    rules: impl IntoIterator<Item = &'a Rule>,
    extra: Vec<SharedInterceptor>,
) -> eum::Client {
    let mut interceptor = MockResponseInterceptor::new().rule_mode(RuleMode::MatchAny);
    for rule in rules {
        interceptor = interceptor.with_rule(rule);
    }
    let config = eum::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new(REGION))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .http_client(create_mock_http_client())
        .interceptor(interceptor);
    let config = extra
        .into_iter()
        .fold(config, |mut c, i| {
            c.push_interceptor(i);
            c
        })
        .build();
    eum::Client::from_conf(config)
}

/// A simulated End User Messaging account's text limit: (enforced, max,
/// overridden). DescribeSpendLimits answers in two pages, the text limit on
/// the second; SetTextMessageSpendLimitOverride updates it.
pub struct TextLimit {
    pub state: Arc<Mutex<(i64, i64, bool)>>,
    pub describe: Rule,
    pub set: Rule,
}

impl TextLimit {
    pub fn new(enforced: i64, max: i64, overridden: bool) -> Self {
        let state = Arc::new(Mutex::new((enforced, max, overridden)));
        let s = state.clone();
        let limit = |name: SpendLimitName, enforced, max, overridden| {
            SpendLimit::builder()
                .name(name)
                .enforced_limit(enforced)
                .max_limit(max)
                .overridden(overridden)
                .build()
                .unwrap()
        };
        let describe = mock!(eum::Client::describe_spend_limits).then_compute_output(move |req| {
            let (enforced, max, overridden) = *s.lock().unwrap();
            match req.next_token() {
                None => DescribeSpendLimitsOutput::builder()
                    .spend_limits(limit(
                        SpendLimitName::VoiceMessageMonthlySpendLimit,
                        1,
                        10,
                        false,
                    ))
                    .next_token("page2")
                    .build(),
                Some(_) => DescribeSpendLimitsOutput::builder()
                    .spend_limits(limit(
                        SpendLimitName::MediaMessageMonthlySpendLimit,
                        1,
                        10,
                        false,
                    ))
                    .spend_limits(limit(
                        SpendLimitName::TextMessageMonthlySpendLimit,
                        enforced,
                        max,
                        overridden,
                    ))
                    .build(),
            }
        });
        let s = state.clone();
        let set = mock!(eum::Client::set_text_message_spend_limit_override).then_compute_output(
            move |req| {
                let mut st = s.lock().unwrap();
                st.0 = req.monthly_limit().expect("a limit");
                st.2 = true;
                SetTextMessageSpendLimitOverrideOutput::builder()
                    .monthly_limit(st.0)
                    .build()
            },
        );
        Self {
            state,
            describe,
            set,
        }
    }

    pub fn client(&self) -> eum::Client {
        mocked_eum([&self.describe, &self.set])
    }
}
