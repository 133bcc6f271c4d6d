//! The user pool's side of pumpguard: wiring the trigger into the pool's
//! `CustomMessage`, `PostConfirmation` and `PostAuthentication` slots (and
//! `PreSignUp`, when it is empty and `[pre-sign-up]` is not off), checking
//! that Cognito may invoke it, and checking the policy's idea of which
//! messages go by SMS against what the pool's settings allow.
//!
//! # Wiring without losing settings
//!
//! `UpdateUserPool` resets every setting it is not given, so [`apply`]
//! describes the pool afresh, copies every member `UpdateUserPoolInput` has
//! ([`UPDATE_USER_POOL_MEMBERS`]) from the description, changes only the trigger
//! slots (every other `LambdaConfig` member is kept as described), and sends it
//! all back. The SDK's schema for `UpdateUserPoolInput` is compared with that
//! list before any write: a newer SDK with a member this module does not copy
//! makes `apply` refuse rather than reset it. `apply` then describes the pool
//! again and fails loudly if anything outside the trigger slots differs. MFA has
//! its own API (`SetUserPoolMfaConfig`): the MFA configuration is read before
//! and after the update and restored if the update changed it.
//!
//! Two details of the copy: `AcrConfiguration` is left out on `LITE` pools
//! (custom ACR names need Essentials or Plus, so a Lite pool only has the
//! defaults, which is what leaving it out gives), and when Cognito refuses the
//! deprecated `AdminCreateUserConfig.UnusedAccountValidityDays` ("Please use
//! TemporaryPasswordValidityDays"), the update is retried without it.
//!
//! # Which sources may go by SMS
//!
//! A CustomMessage event does not say its channel; it follows from the pool's
//! settings. [`PoolSms::channel`] applies these rules:
//!
//! - No `SmsConfiguration` (and no `CustomSMSSender` trigger): the pool sends
//!   no SMS at all, so no source goes by SMS.
//! - `CustomMessage_SignUp`, `CustomMessage_ResendCode`: by SMS when
//!   `phone_number` is in `AutoVerifiedAttributes`.
//! - `CustomMessage_ForgotPassword`: by SMS when `AccountRecoverySetting` lists
//!   `verified_phone_number`, or when there is no (or an empty) recovery
//!   setting (Cognito's legacy behaviour then prefers SMS). `admin_only` and
//!   `verified_email` alone never go by SMS.
//! - `CustomMessage_Authentication`: by SMS when MFA is `ON` or `OPTIONAL` with
//!   SMS MFA enabled (`GetUserPoolMfaConfig` shows an `SmsMfaConfiguration`;
//!   when it cannot be read, any MFA counts), or when `SMS_OTP` is an allowed
//!   first sign-in factor (passwordless SMS codes).
//! - `CustomMessage_UpdateUserAttribute`, `CustomMessage_VerifyUserAttribute`:
//!   by SMS whenever the pool can send SMS, because any user can change or
//!   verify a `phone_number`.
//! - `CustomMessage_AdminCreateUser`: by SMS whenever the pool can send SMS,
//!   because each `AdminCreateUser` call chooses its `DesiredDeliveryMediums`.
//!
//! A source the pool may send by SMS that `trigger.sms-sources` leaves out is
//! *unguarded*: a warning per source. A source `sms-sources` lists that the
//! pool never sends by SMS gets a milder warning: the trigger judges those
//! email messages by the user's phone number, and may block them.
//!
//! # Invoke permission
//!
//! Cognito needs `lambda:InvokeFunction` on the trigger for principal
//! `cognito-idp.amazonaws.com`, scoped with `AWS:SourceArn` = the pool's ARN.
//! The CloudFormation stack grants it; [`read`] looks at the function's
//! resource policy (`GetPolicy`). When it is missing, [`plan`] never wires
//! the trigger (every message would fail): with `--grant-invoke` the plan
//! adds the scoped permission first (`AddPermission`, a change of its own,
//! shown in the plan); without it, planning stops before any write with
//! the exact `aws lambda add-permission` command. A trigger already wired
//! without the permission is a warning, and `status` reports the pool as
//! broken. An unscoped permission, or one `GetPolicy` cannot read (access
//! denied, function not found), is a warning with the same command:
//! pumpguard cannot tell that Cognito is refused.
//!
//! # Unconfirmed on a real account
//!
//! moto does not reproduce these, so they rest on documentation and on what
//! other tools do: that `GetUserPoolMfaConfig` shows an `SmsMfaConfiguration`
//! exactly when SMS MFA is enabled; that `UpdateUserPool` accepts the pool's
//! current `MfaConfiguration` of `ON` (it refuses turning MFA on; if it refused
//! this too, `apply` fails before changing anything); and that a `LITE` pool
//! refuses `AcrConfiguration`.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use anyhow::Context as _;
use aws_sdk_cognitoidentityprovider as cognito;
use cognito::error::ProvideErrorMetadata as _;
use cognito::operation::get_user_pool_mfa_config::GetUserPoolMfaConfigOutput;
use cognito::operation::set_user_pool_mfa_config::builders::SetUserPoolMfaConfigFluentBuilder;
use cognito::operation::set_user_pool_mfa_config::SetUserPoolMfaConfigInput;
use cognito::operation::update_user_pool::builders::UpdateUserPoolFluentBuilder;
use cognito::operation::update_user_pool::UpdateUserPoolInput;
use cognito::types::{
    AuthFactorType, EmailMfaConfigType, EumsSmsConfigurationType, LambdaConfigType,
    SmsConfigurationType, SmsMfaConfigType, SoftwareTokenMfaConfigType, UserPoolMfaType,
    UserPoolTierType, UserPoolType, VerifiedAttributeType, WebAuthnConfigurationType,
};
use pumpguard_engine::account::{PoolScope, ProtectScope};
use pumpguard_engine::policy::Mode;
use pumpguard_engine::TriggerSource;
use serde::Serialize;

use crate::converge::{sdk_reason, Clients, Desired};
use crate::plan::{Action, Change, FieldChange, Write};

/// The `resource` of this module's changes.
pub const RESOURCE: &str = "user-pool-triggers";

/// Where this module's change goes among a region's changes.
pub const ORDER: u8 = 40;

/// `Change::resource` of the pool's SMS configuration (`scope = "pool"`).
pub const SMS_RESOURCE: &str = "user-pool-sms";

/// After the configuration set exists and is associated (protect's
/// changes), before the triggers.
const SMS_ORDER: u8 = ORDER - 2;

/// The `resource` of the invoke-permission change.
pub const PERMISSION_RESOURCE: &str = "trigger-invoke-permission";

/// The plan's resource name for the Custom SMS Sender wiring.
pub const SENDER_RESOURCE: &str = "user-pool-sender";

/// The invoke permission is granted before the trigger is wired.
const PERMISSION_ORDER: u8 = ORDER - 1;

/// Every member of `UpdateUserPoolInput` that [`apply`] sends, copied from
/// `DescribeUserPool` (`PoolName` from `Name`, `UserPoolId` from `Id`).
pub const UPDATE_USER_POOL_MEMBERS: [&str; 24] = [
    "UserPoolId",
    "Policies",
    "DeletionProtection",
    "LambdaConfig",
    "AutoVerifiedAttributes",
    "SmsVerificationMessage",
    "EmailVerificationMessage",
    "EmailVerificationSubject",
    "VerificationMessageTemplate",
    "SmsAuthenticationMessage",
    "UserAttributeUpdateSettings",
    "MfaConfiguration",
    "DeviceConfiguration",
    "EmailConfiguration",
    "SmsConfiguration",
    "UserPoolTags",
    "AdminCreateUserConfig",
    "UserPoolAddOns",
    "AccountRecoverySetting",
    "PoolName",
    "UserPoolTier",
    "KeyConfiguration",
    "IssuerConfiguration",
    "AcrConfiguration",
];

/// Every member of `SetUserPoolMfaConfigInput` that [`apply`] restores from
/// `GetUserPoolMfaConfig` when an update changed the MFA configuration.
pub const SET_MFA_CONFIG_MEMBERS: [&str; 6] = [
    "UserPoolId",
    "SmsMfaConfiguration",
    "SoftwareTokenMfaConfiguration",
    "EmailMfaConfiguration",
    "MfaConfiguration",
    "WebAuthnConfiguration",
];

/// Members of `UpdateUserPoolInput` (in the SDK this was built with) that
/// [`apply`] does not copy. Empty, or `apply` refuses to update the pool.
pub fn uncopied_update_members() -> Vec<String> {
    UpdateUserPoolInput::SCHEMA
        .members()
        .iter()
        .filter_map(|m| m.member_name())
        .filter(|n| !UPDATE_USER_POOL_MEMBERS.contains(n))
        .map(str::to_string)
        .collect()
}

/// Members of `SetUserPoolMfaConfigInput` that [`apply`] could not restore.
/// Empty, or `apply` refuses to update the pool.
pub fn uncopied_mfa_members() -> Vec<String> {
    SetUserPoolMfaConfigInput::SCHEMA
        .members()
        .iter()
        .filter_map(|m| m.member_name())
        .filter(|n| !SET_MFA_CONFIG_MEMBERS.contains(n))
        .map(str::to_string)
        .collect()
}

// ---------------------------------------------------------------- types

/// One of the trigger slots pumpguard wires. `PreSignUp` is wired only
/// into an empty slot: a PreSignUp function already there (auto-confirm,
/// domain checks) holds the pool's own sign-up logic, which pumpguard
/// cannot run for it, so it is kept, even with `--replace-triggers`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
pub enum TriggerSlot {
    CustomMessage,
    PostConfirmation,
    PostAuthentication,
    PreSignUp,
}

impl TriggerSlot {
    pub const ALL: [TriggerSlot; 4] = [
        TriggerSlot::CustomMessage,
        TriggerSlot::PostConfirmation,
        TriggerSlot::PostAuthentication,
        TriggerSlot::PreSignUp,
    ];

    /// The `LambdaConfig` member's name.
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerSlot::CustomMessage => "CustomMessage",
            TriggerSlot::PostConfirmation => "PostConfirmation",
            TriggerSlot::PostAuthentication => "PostAuthentication",
            TriggerSlot::PreSignUp => "PreSignUp",
        }
    }

    /// The ARN wired in this slot.
    pub fn get(self, l: &LambdaConfigType) -> Option<&str> {
        match self {
            TriggerSlot::CustomMessage => l.custom_message.as_deref(),
            TriggerSlot::PostConfirmation => l.post_confirmation.as_deref(),
            TriggerSlot::PostAuthentication => l.post_authentication.as_deref(),
            TriggerSlot::PreSignUp => l.pre_sign_up.as_deref(),
        }
        .filter(|s| !s.is_empty())
    }

    fn set(self, l: &mut LambdaConfigType, arn: Option<String>) {
        let slot = match self {
            TriggerSlot::CustomMessage => &mut l.custom_message,
            TriggerSlot::PostConfirmation => &mut l.post_confirmation,
            TriggerSlot::PostAuthentication => &mut l.post_authentication,
            TriggerSlot::PreSignUp => &mut l.pre_sign_up,
        };
        *slot = arn;
    }
}

impl fmt::Display for TriggerSlot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The write calls of one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PoolWrite {
    /// Describe the pool, put `trigger_arn` in `slots`, and send every
    /// updatable setting back with `UpdateUserPool`. `replace` holds the
    /// foreign ARNs the plan agreed to replace; a slot holding anything else
    /// at apply time (another trigger wired since the plan) stops the apply.
    WireTriggers {
        pool_id: String,
        trigger_arn: String,
        slots: Vec<TriggerSlot>,
        replace: BTreeMap<TriggerSlot, String>,
    },
    /// `AddPermission`: let `cognito-idp.amazonaws.com` invoke `function`,
    /// scoped with `AWS:SourceArn` = `pool_arn`.
    GrantInvoke {
        function: String,
        statement_id: String,
        pool_arn: String,
    },
    /// Describe the pool, set `SmsConfiguration.EumsSms` to `eums` (the SNS
    /// role and the rest of `SmsConfiguration` as they are), and send every
    /// updatable setting back with `UpdateUserPool` (`[protect] scope =
    /// "pool"`).
    SendThroughEum { pool_id: String, eums: EumsSending },
    /// `[sender] enabled`: describe the pool, set
    /// `LambdaConfig.CustomSMSSender` (`V1_0`, `sender_arn`) and `KMSKeyID`,
    /// point `PostConfirmation` and `PostAuthentication` at the sender
    /// (which gives End User Messaging its feedback), empty `CustomMessage`
    /// when it holds `trigger_arn` (else each SMS would be judged twice),
    /// and send every updatable setting back. `replace` holds the foreign
    /// values the plan agreed to replace, by `LambdaConfig` member; any other
    /// value found at apply time stops the apply.
    WireSender {
        pool_id: String,
        sender_arn: String,
        kms_key_arn: String,
        trigger_arn: String,
        replace: BTreeMap<String, String>,
    },
}

/// Whether Cognito may invoke the trigger, from the function's resource policy.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case", tag = "state")]
pub enum InvokePermission {
    /// Not looked at (the pool's ARN was unknown).
    #[default]
    NotChecked,
    /// A statement allows `lambda:InvokeFunction` to `cognito-idp.amazonaws.com`
    /// with `AWS:SourceArn` matching the pool's ARN.
    Granted { statement: Option<String> },
    /// Cognito may invoke it, but with no `AWS:SourceArn` condition: any pool,
    /// in any account, may.
    Unscoped { statement: Option<String> },
    /// No statement lets this pool's Cognito invoke it (or no policy at all).
    Missing,
    /// `GetPolicy` failed: function not found, access denied, ...
    Unreadable { reason: String },
}

/// The pool settings that decide which messages go by SMS.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct PoolSms {
    /// `SmsConfiguration` with an SNS caller role.
    pub sms_configured: bool,
    /// A `CustomSMSSender` trigger (it delivers the pool's SMS).
    pub custom_sms_sender: bool,
    /// `phone_number` is in `AutoVerifiedAttributes`.
    pub phone_auto_verified: bool,
    /// `AccountRecoverySetting`'s mechanisms in priority order; `None` when
    /// the pool has none, or an empty one (legacy behaviour: SMS preferred).
    pub recovery: Option<Vec<String>>,
    /// `OFF`, `ON` or `OPTIONAL` (from `GetUserPoolMfaConfig` when readable).
    pub mfa: String,
    /// SMS MFA enabled; `None` when `GetUserPoolMfaConfig` failed.
    pub sms_mfa: Option<bool>,
    /// Why `GetUserPoolMfaConfig` failed.
    pub mfa_read_error: Option<String>,
    /// `SMS_OTP` is an allowed first sign-in factor.
    pub sms_otp_sign_in: bool,
}

/// How the pool may deliver one CustomMessage source, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case", tag = "channel", content = "why")]
pub enum SmsChannel {
    MaySms(String),
    NeverSms(String),
}

impl PoolSms {
    /// Whether the pool can send SMS at all.
    pub fn sends_sms(&self) -> bool {
        self.sms_configured || self.custom_sms_sender
    }

    /// The rules in the module documentation.
    pub fn channel(&self, source: TriggerSource) -> SmsChannel {
        use SmsChannel::{MaySms, NeverSms};
        if !self.sends_sms() {
            return NeverSms("the pool has no SMS configuration, so it sends no SMS".into());
        }
        match source {
            TriggerSource::SignUp | TriggerSource::ResendCode => {
                if self.phone_auto_verified {
                    MaySms("phone_number is auto-verified, so confirmation codes go by SMS".into())
                } else {
                    NeverSms("phone_number is not auto-verified".into())
                }
            }
            TriggerSource::ForgotPassword => match &self.recovery {
                None => MaySms(
                    "the pool has no account recovery setting, and Cognito's legacy behaviour \
                     prefers SMS"
                        .into(),
                ),
                Some(list) if list.iter().any(|m| m == "verified_phone_number") => {
                    MaySms("account recovery includes verified_phone_number".into())
                }
                Some(list) => NeverSms(format!("account recovery uses only {}", list.join(", "))),
            },
            TriggerSource::Authentication => {
                if self.sms_otp_sign_in {
                    return MaySms("SMS_OTP is an allowed first sign-in factor".into());
                }
                if self.mfa == "OFF" || self.mfa.is_empty() {
                    return NeverSms("MFA is OFF and SMS_OTP is not a sign-in factor".into());
                }
                match self.sms_mfa {
                    Some(true) => MaySms(format!("MFA is {} with SMS MFA enabled", self.mfa)),
                    Some(false) => NeverSms(format!(
                        "MFA is {} but SMS MFA is not enabled, and SMS_OTP is not a sign-in factor",
                        self.mfa
                    )),
                    None => MaySms(format!(
                        "MFA is {} and its configuration could not be read, so SMS MFA may be on",
                        self.mfa
                    )),
                }
            }
            TriggerSource::UpdateUserAttribute => {
                MaySms("a user who changes phone_number gets a code by SMS".into())
            }
            TriggerSource::VerifyUserAttribute => {
                MaySms("verifying a phone_number sends a code by SMS".into())
            }
            TriggerSource::AdminCreateUser => {
                MaySms("each AdminCreateUser call may ask for SMS in DesiredDeliveryMediums".into())
            }
        }
    }

    /// [`channel`](Self::channel) for all seven sources.
    pub fn channels(&self) -> BTreeMap<TriggerSource, SmsChannel> {
        TriggerSource::ALL
            .into_iter()
            .map(|s| (s, self.channel(s)))
            .collect()
    }
}

/// What the read calls found. Also what `pumpguard status` shows.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct Observed {
    pub pool_id: String,
    pub pool_name: Option<String>,
    pub pool_arn: Option<String>,
    /// What each trigger slot holds (absent: nothing wired).
    pub triggers: BTreeMap<TriggerSlot, String>,
    /// The pool's other triggers (`PreSignUp`, `CustomSMSSender`, ...), kept as they are.
    pub other_triggers: BTreeMap<String, String>,
    pub sms: PoolSms,
    /// Whether Cognito may invoke the policy's `trigger-arn`.
    pub permission: InvokePermission,
    /// Whether Cognito may invoke `[user-pool] sender-arn` (in sender mode).
    pub sender_permission: InvokePermission,
    /// `SmsConfiguration.EumsSms`: the pool sends through End User
    /// Messaging (`None`: through SNS, or no SMS).
    pub eums: Option<EumsSending>,
}

/// How a pool sends its SMS through End User Messaging
/// (`SmsConfiguration.EumsSms`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub struct EumsSending {
    pub caller_arn: String,
    pub configuration_set: Option<String>,
    pub origination_identity: Option<String>,
    pub region: Option<String>,
    pub external_id: Option<String>,
}

impl EumsSending {
    /// What `[protect] scope = "pool"` asks of the pool in `region`.
    pub fn wanted(scope: &PoolScope, region: &str) -> Self {
        Self {
            caller_arn: scope.caller_role_arn.clone(),
            configuration_set: Some(scope.configuration_set.clone()),
            origination_identity: scope.origination_identity.clone(),
            region: Some(region.to_string()),
            external_id: scope.external_id.clone(),
        }
    }

    fn observed(e: &EumsSmsConfigurationType) -> Self {
        Self {
            caller_arn: e.caller_arn().to_string(),
            configuration_set: e.configuration_set_name().map(str::to_string),
            origination_identity: e.origination_identity().map(str::to_string),
            region: e.region().map(str::to_string),
            external_id: e.external_id().map(str::to_string),
        }
    }

    fn describe(&self) -> String {
        format!(
            "End User Messaging, configuration set {}, caller role {}{}",
            self.configuration_set.as_deref().unwrap_or("(none)"),
            self.caller_arn,
            self.origination_identity
                .as_deref()
                .map(|o| format!(", from {o}"))
                .unwrap_or_default()
        )
    }

    fn to_sdk(&self) -> anyhow::Result<EumsSmsConfigurationType> {
        EumsSmsConfigurationType::builder()
            .caller_arn(&self.caller_arn)
            .set_configuration_set_name(self.configuration_set.clone())
            .set_origination_identity(self.origination_identity.clone())
            .set_region(self.region.clone())
            .set_external_id(self.external_id.clone())
            .build()
            .map_err(|e| anyhow::anyhow!("building EumsSms: {e}"))
    }
}

impl Observed {
    /// The ARN wired in `slot`.
    pub fn wired(&self, slot: TriggerSlot) -> Option<&str> {
        self.triggers.get(&slot).map(String::as_str)
    }
}

// ---------------------------------------------------------------- read

/// Read calls only: `DescribeUserPool`, `GetUserPoolMfaConfig` and Lambda
/// `GetPolicy`.
pub async fn read(c: &Clients, d: &Desired<'_>) -> anyhow::Result<Observed> {
    let pool = describe(&c.cognito, &d.pool.id).await?;
    let mfa = c
        .cognito
        .get_user_pool_mfa_config()
        .user_pool_id(&d.pool.id)
        .send()
        .await;
    let (mfa, mfa_read_error) = match mfa {
        Ok(m) => (Some(MfaSnapshot::from(m)), None),
        Err(e) => (None, Some(sdk_reason(&e))),
    };
    let permission = match pool.arn.as_deref() {
        Some(arn) if !arn.is_empty() => read_permission(&c.lambda, &d.pool.trigger_arn, arn).await,
        _ => InvokePermission::NotChecked,
    };
    let mut observed = observe(&pool, mfa.as_ref(), mfa_read_error, permission);
    if let (Some(sender), Some(arn)) = (sender_wanted(d), pool.arn.as_deref()) {
        if !arn.is_empty() {
            observed.sender_permission = read_permission(&c.lambda, sender.0, arn).await;
        }
    }
    Ok(observed)
}

/// `[sender] enabled` with its function and key named: (sender ARN, key ARN).
pub fn sender_wanted<'a>(d: &Desired<'a>) -> Option<(&'a str, &'a str)> {
    if !d.policy.sender.enabled {
        return None;
    }
    Some((
        d.pool.sender_arn.as_deref()?,
        d.pool.kms_key_arn.as_deref()?,
    ))
}

/// In sender mode these slots are the sender's business, not the trigger's.
fn sender_slot(slot: TriggerSlot) -> bool {
    matches!(
        slot,
        TriggerSlot::CustomMessage
            | TriggerSlot::PostConfirmation
            | TriggerSlot::PostAuthentication
    )
}

async fn describe(client: &cognito::Client, id: &str) -> anyhow::Result<UserPoolType> {
    let out = client
        .describe_user_pool()
        .user_pool_id(id)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error()
                .is_some_and(|s| s.is_resource_not_found_exception())
            {
                anyhow::anyhow!(
                    "user pool {id} does not exist in this account and region; check \
                     user-pool.id"
                )
            } else {
                anyhow::anyhow!(
                    "cannot describe user pool {id}: {}; check cognito-idp:DescribeUserPool \
                     permission",
                    sdk_reason(&e)
                )
            }
        })?;
    out.user_pool
        .with_context(|| format!("DescribeUserPool returned no pool for {id}"))
}

fn observe(
    pool: &UserPoolType,
    mfa: Option<&MfaSnapshot>,
    mfa_read_error: Option<String>,
    permission: InvokePermission,
) -> Observed {
    let lambda = pool.lambda_config.as_ref();
    let triggers = TriggerSlot::ALL
        .into_iter()
        .filter_map(|slot| {
            lambda
                .and_then(|l| slot.get(l))
                .map(|arn| (slot, arn.to_string()))
        })
        .collect();
    let sms = PoolSms {
        sms_configured: pool
            .sms_configuration
            .as_ref()
            .is_some_and(|s| !s.sns_caller_arn.is_empty()),
        custom_sms_sender: lambda.is_some_and(|l| l.custom_sms_sender.is_some()),
        phone_auto_verified: pool
            .auto_verified_attributes()
            .contains(&VerifiedAttributeType::PhoneNumber),
        // An empty list is treated like no setting: Cognito's legacy behaviour.
        recovery: pool
            .account_recovery_setting
            .as_ref()
            .filter(|r| !r.recovery_mechanisms().is_empty())
            .map(|r| {
                let mut m: Vec<_> = r.recovery_mechanisms().iter().collect();
                m.sort_by_key(|o| o.priority);
                m.iter().map(|o| o.name.as_str().to_string()).collect()
            }),
        mfa: mfa
            .and_then(|m| m.mfa_configuration.as_ref())
            .or(pool.mfa_configuration.as_ref())
            .map_or("OFF", UserPoolMfaType::as_str)
            .to_string(),
        sms_mfa: mfa.map(|m| m.sms_mfa_configuration.is_some()),
        mfa_read_error,
        sms_otp_sign_in: pool
            .policies
            .as_ref()
            .and_then(|p| p.sign_in_policy.as_ref())
            .is_some_and(|s| {
                s.allowed_first_auth_factors()
                    .contains(&AuthFactorType::SmsOtp)
            }),
    };
    Observed {
        pool_id: pool.id.clone().unwrap_or_default(),
        pool_name: pool.name.clone(),
        pool_arn: pool.arn.clone(),
        triggers,
        other_triggers: lambda.map(other_triggers).unwrap_or_default(),
        sms,
        permission,
        sender_permission: InvokePermission::NotChecked,
        eums: pool
            .sms_configuration
            .as_ref()
            .and_then(|s| s.eums_sms.as_ref())
            .map(EumsSending::observed),
    }
}

fn other_triggers(l: &LambdaConfigType) -> BTreeMap<String, String> {
    let plain = [
        ("PreAuthentication", &l.pre_authentication),
        ("DefineAuthChallenge", &l.define_auth_challenge),
        ("CreateAuthChallenge", &l.create_auth_challenge),
        (
            "VerifyAuthChallengeResponse",
            &l.verify_auth_challenge_response,
        ),
        ("PreTokenGeneration", &l.pre_token_generation),
        ("UserMigration", &l.user_migration),
        ("KMSKeyID", &l.kms_key_id),
    ];
    let mut out: BTreeMap<String, String> = plain
        .into_iter()
        .filter_map(|(k, v)| v.clone().map(|v| (k.to_string(), v)))
        .collect();
    if let Some(p) = &l.pre_token_generation_config {
        out.insert("PreTokenGenerationConfig".into(), p.lambda_arn.clone());
    }
    if let Some(s) = &l.custom_sms_sender {
        out.insert("CustomSMSSender".into(), s.lambda_arn.clone());
    }
    if let Some(s) = &l.custom_email_sender {
        out.insert("CustomEmailSender".into(), s.lambda_arn.clone());
    }
    if let Some(s) = &l.inbound_federation {
        out.insert("InboundFederation".into(), s.lambda_arn.clone());
    }
    out
}

async fn read_permission(
    lambda: &aws_sdk_lambda::Client,
    function: &str,
    pool_arn: &str,
) -> InvokePermission {
    match lambda.get_policy().function_name(function).send().await {
        Ok(out) => match out.policy.as_deref() {
            Some(text) => permission_in(text, pool_arn),
            None => InvokePermission::Missing,
        },
        Err(e) => {
            let not_found = e
                .as_service_error()
                .filter(|s| s.is_resource_not_found_exception());
            match not_found {
                // Lambda answers ResourceNotFound both for a missing function
                // ("Function not found: ...") and for a function without a
                // resource policy.
                Some(s)
                    if s.message()
                        .is_some_and(|m| m.starts_with("Function not found")) =>
                {
                    InvokePermission::Unreadable {
                        reason: "function not found".into(),
                    }
                }
                Some(_) => InvokePermission::Missing,
                None => InvokePermission::Unreadable {
                    reason: sdk_reason(&e),
                },
            }
        }
    }
}

/// Judges a Lambda resource policy document for `pool_arn`.
pub fn permission_in(policy: &str, pool_arn: &str) -> InvokePermission {
    let Ok(doc) = serde_json::from_str::<serde_json::Value>(policy) else {
        return InvokePermission::Unreadable {
            reason: "the function's resource policy is not JSON".into(),
        };
    };
    let statements = match doc.get("Statement") {
        Some(serde_json::Value::Array(a)) => a.iter().collect(),
        Some(one) => vec![one],
        None => Vec::new(),
    };
    let mut unscoped = None;
    for s in statements {
        let sid = s.get("Sid").and_then(|v| v.as_str()).map(str::to_string);
        let allow = s.get("Effect").and_then(|v| v.as_str()) == Some("Allow");
        let principal = s
            .get("Principal")
            .and_then(|p| p.get("Service"))
            .is_some_and(|v| strings(v).contains(&"cognito-idp.amazonaws.com"));
        let action = s.get("Action").is_some_and(|v| {
            strings(v).iter().any(|a| {
                let a = a.to_ascii_lowercase();
                a == "lambda:invokefunction" || a == "lambda:*" || a == "*"
            })
        });
        if !(allow && principal && action) {
            continue;
        }
        match source_arn_condition(s.get("Condition")) {
            None => {
                unscoped.get_or_insert(sid);
            }
            Some(conds) => {
                if conds.iter().any(|(like, v)| {
                    if *like {
                        glob(v, pool_arn)
                    } else {
                        *v == pool_arn
                    }
                }) {
                    return InvokePermission::Granted { statement: sid };
                }
            }
        }
    }
    match unscoped {
        Some(statement) => InvokePermission::Unscoped { statement },
        None => InvokePermission::Missing,
    }
}

/// The `AWS:SourceArn` values a condition block restricts to, with whether
/// each is a pattern (`ArnLike`/`StringLike`); `None` when it does not
/// restrict `AWS:SourceArn`.
fn source_arn_condition(cond: Option<&serde_json::Value>) -> Option<Vec<(bool, &str)>> {
    let ops = cond?.as_object()?;
    let mut out = Vec::new();
    for (op, keys) in ops {
        let like = match op.as_str() {
            "ArnLike" | "StringLike" => true,
            "ArnEquals" | "StringEquals" => false,
            _ => continue,
        };
        let Some(keys) = keys.as_object() else {
            continue;
        };
        for (k, v) in keys {
            if k.eq_ignore_ascii_case("aws:SourceArn") {
                out.extend(strings(v).into_iter().map(|s| (like, s)));
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

fn strings(v: &serde_json::Value) -> Vec<&str> {
    match v {
        serde_json::Value::String(s) => vec![s.as_str()],
        serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect(),
        _ => Vec::new(),
    }
}

/// IAM `*` / `?` matching.
fn glob(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        match p.get(pi) {
            Some('*') => {
                star = Some((pi, ti));
                pi += 1;
            }
            Some(c) if *c == '?' || *c == t[ti] => {
                pi += 1;
                ti += 1;
            }
            _ => match star {
                Some((sp, st)) => {
                    pi = sp + 1;
                    ti = st + 1;
                    star = Some((sp, st + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

// ---------------------------------------------------------------- plan

/// Pure: the change wiring the trigger, and the warnings about the invoke
/// permission and the SMS channel mapping. Err when a different trigger holds
/// a slot and `--replace-triggers` was not given.
pub fn plan(d: &Desired<'_>, o: &Observed) -> anyhow::Result<(Vec<Change>, Vec<String>)> {
    let want = &d.pool.trigger_arn;
    let mut fields = Vec::new();
    let mut replace = BTreeMap::new();
    let mut slots = Vec::new();
    let mut kept = Vec::new();
    let pre_sign_up = d.policy.effective(d.policy.pre_sign_up.mode) != Mode::Off;
    let sender = sender_wanted(d);
    for slot in TriggerSlot::ALL {
        if slot == TriggerSlot::PreSignUp && !pre_sign_up {
            continue;
        }
        if sender.is_some() && sender_slot(slot) {
            continue;
        }
        match o.wired(slot) {
            Some(arn) if arn == want => continue,
            Some(arn) if slot == TriggerSlot::PreSignUp => {
                kept.push(format!(
                    "user pool {}'s PreSignUp trigger is {arn}, which pumpguard keeps (it holds \
                     the pool's own sign-up logic), so registrations are not judged before the \
                     user exists; have that function call {want} with the same event first \
                     (docs/guards.md, \"PreSignUp\"), or empty the slot and run apply again",
                    d.pool.id
                ));
                continue;
            }
            Some(arn) => {
                replace.insert(slot, arn.to_string());
                fields.push(FieldChange::new(
                    format!("LambdaConfig.{slot}"),
                    Some(arn.to_string()),
                    Some(want.clone()),
                ));
            }
            None => fields.push(FieldChange::new(
                format!("LambdaConfig.{slot}"),
                None,
                Some(want.clone()),
            )),
        }
        slots.push(slot);
    }
    if !replace.is_empty() && !d.replace_triggers {
        let held: Vec<String> = replace
            .iter()
            .map(|(slot, arn)| format!("{slot} holds {arn}"))
            .collect();
        anyhow::bail!(
            "user pool {} already has a different trigger wired: {}; pumpguard would replace \
             it with {want}. Pass --replace-triggers to replace it (chain the other function \
             from pumpguard's trigger yourself if it is still needed)",
            d.pool.id,
            held.join(", ")
        );
    }
    let mut changes = Vec::new();
    let grant = o.permission == InvokePermission::Missing && d.grant_invoke;
    if grant {
        let pool_arn = o.pool_arn.clone().unwrap_or_default();
        let statement_id = statement_id(&d.pool.id);
        changes.push(Change {
            resource: PERMISSION_RESOURCE.into(),
            name: want.clone(),
            action: Action::Create,
            fields: vec![FieldChange::new(
                format!("Policy.Statement {statement_id}"),
                None,
                Some(format!(
                    "lambda:InvokeFunction by cognito-idp.amazonaws.com, AWS:SourceArn {pool_arn}"
                )),
            )],
            order: PERMISSION_ORDER,
            writes: vec![Write::Pool(PoolWrite::GrantInvoke {
                function: want.clone(),
                statement_id,
                pool_arn,
            })],
        });
    } else if o.permission == InvokePermission::Missing && !slots.is_empty() {
        anyhow::bail!(
            "Cognito may not invoke {want} for user pool {}: no statement of its resource policy \
             allows lambda:InvokeFunction to cognito-idp.amazonaws.com with AWS:SourceArn {}. \
             Wiring it would make every message the pool sends fail, so nothing is written. \
             Pass --grant-invoke to add the scoped permission before the trigger is wired, or \
             run: {}",
            d.pool.id,
            o.pool_arn.as_deref().unwrap_or_default(),
            grant_command(d, o)
        );
    }
    let mut warnings = if grant {
        Vec::new()
    } else {
        permission_warnings(d, o)
    };
    warnings.extend(kept);
    warnings.extend(channel_warnings(d, o));
    if !fields.is_empty() {
        changes.push(Change {
            resource: RESOURCE.into(),
            name: d.pool.id.clone(),
            action: Action::Update,
            fields,
            order: ORDER,
            writes: vec![Write::Pool(PoolWrite::WireTriggers {
                pool_id: d.pool.id.clone(),
                trigger_arn: want.clone(),
                slots,
                replace,
            })],
        });
    }
    if let Some((sender_arn, kms_key_arn)) = sender {
        let (change, grant, more) = plan_sender(d, o, sender_arn, kms_key_arn)?;
        changes.extend(grant);
        changes.extend(change);
        warnings.extend(more);
    }
    if let (true, ProtectScope::Pool(scope)) = (d.policy.protect.enabled, &d.policy.protect.scope) {
        let eums = EumsSending::wanted(scope, &d.pool.region);
        if o.eums.as_ref() != Some(&eums) {
            let from = o.eums.as_ref().map_or_else(
                || {
                    if o.sms.sms_configured {
                        "SNS".to_string()
                    } else {
                        "no SMS configuration".to_string()
                    }
                },
                EumsSending::describe,
            );
            if o.eums.is_none() {
                warnings.push(format!(
                    "user pool {}'s SMS switch from {from} to End User Messaging (configuration \
                     set {}): review before applying. End User Messaging's origination \
                     identities, registrations and spend limit ([spend] text-monthly-usd) then \
                     apply to the pool's SMS, and destinations that need a registered number \
                     (such as the US) get none until the account has one",
                    d.pool.id, scope.configuration_set
                ));
            }
            changes.push(Change {
                resource: SMS_RESOURCE.into(),
                name: d.pool.id.clone(),
                action: Action::Update,
                fields: vec![FieldChange::new(
                    "SmsConfiguration",
                    Some(from),
                    Some(eums.describe()),
                )],
                order: SMS_ORDER,
                writes: vec![Write::Pool(PoolWrite::SendThroughEum {
                    pool_id: d.pool.id.clone(),
                    eums,
                })],
            });
        }
    }
    Ok((changes, warnings))
}

/// The sender's wiring: its change, the invoke permission it needs (with
/// `--grant-invoke`), and warnings.
fn plan_sender(
    d: &Desired<'_>,
    o: &Observed,
    sender_arn: &str,
    kms_key_arn: &str,
) -> anyhow::Result<(Option<Change>, Option<Change>, Vec<String>)> {
    let mut fields = Vec::new();
    let mut replace = BTreeMap::new();
    let mut warnings = Vec::new();
    let other = |k: &str| o.other_triggers.get(k).map(String::as_str);
    let mut want = |member: &str, now: Option<&str>, to: &str, ours: &[&str]| {
        if now == Some(to) {
            return;
        }
        if let Some(held) = now.filter(|h| !ours.contains(h)) {
            replace.insert(member.to_string(), held.to_string());
        }
        fields.push(FieldChange::new(
            format!("LambdaConfig.{member}"),
            now.map(str::to_string),
            Some(to.to_string()),
        ));
    };
    if let (Some(held), Some(email)) = (other("KMSKeyID"), other("CustomEmailSender")) {
        if held != kms_key_arn {
            anyhow::bail!(
                "user pool {} encrypts its custom senders' codes under {held}, which its \
                 CustomEmailSender ({email}) decrypts with; a pool has one key for both, so \
                 replacing it would break that sender. Set user-pool.kms-key-arn = \"{held}\" \
                 and give the Custom SMS Sender's role kms:Decrypt on it, then plan again",
                d.pool.id
            );
        }
    }
    want("CustomSMSSender", other("CustomSMSSender"), sender_arn, &[]);
    want("KMSKeyID", other("KMSKeyID"), kms_key_arn, &[]);
    for slot in [
        TriggerSlot::PostConfirmation,
        TriggerSlot::PostAuthentication,
    ] {
        want(
            slot.as_str(),
            o.wired(slot),
            sender_arn,
            &[d.pool.trigger_arn.as_str()],
        );
    }
    match o.wired(TriggerSlot::CustomMessage) {
        Some(arn) if arn == d.pool.trigger_arn => fields.push(FieldChange::new(
            "LambdaConfig.CustomMessage",
            Some(arn.to_string()),
            None,
        )),
        Some(arn) => warnings.push(format!(
            "user pool {}'s CustomMessage trigger {arn} is kept; with the Custom SMS Sender, \
             pumpguard judges each SMS in the sender, so make sure {arn} refuses nothing by SMS",
            d.pool.id
        )),
        None => {}
    }
    if !replace.is_empty() && !d.replace_triggers {
        let held: Vec<String> = replace
            .iter()
            .map(|(member, v)| format!("{member} holds {v}"))
            .collect();
        anyhow::bail!(
            "user pool {} already has: {}; the Custom SMS Sender needs those members. Pass \
             --replace-triggers to replace them",
            d.pool.id,
            held.join(", ")
        );
    }
    let mut grant = None;
    if o.sender_permission == InvokePermission::Missing {
        let pool_arn = o.pool_arn.clone().unwrap_or_default();
        let command = add_permission_command(&d.pool.region, sender_arn, &d.pool.id, &pool_arn);
        if !d.grant_invoke {
            anyhow::bail!(
                "Cognito may not invoke the Custom SMS Sender {sender_arn} for user pool {}: \
                 wiring it would lose every SMS the pool sends, so nothing is written. Pass \
                 --grant-invoke, or run: {command}",
                d.pool.id
            );
        }
        let statement_id = statement_id(&d.pool.id);
        grant = Some(Change {
            resource: PERMISSION_RESOURCE.into(),
            name: sender_arn.to_string(),
            action: Action::Create,
            fields: vec![FieldChange::new(
                format!("Policy.Statement {statement_id}"),
                None,
                Some(format!(
                    "lambda:InvokeFunction by cognito-idp.amazonaws.com, AWS:SourceArn {pool_arn}"
                )),
            )],
            order: PERMISSION_ORDER,
            writes: vec![Write::Pool(PoolWrite::GrantInvoke {
                function: sender_arn.to_string(),
                statement_id,
                pool_arn,
            })],
        });
    } else if let InvokePermission::Unreadable { reason } = &o.sender_permission {
        warnings.push(format!(
            "cannot check that Cognito may invoke the Custom SMS Sender {sender_arn}: \
             lambda:GetPolicy failed ({reason})"
        ));
    }
    if fields.is_empty() {
        return Ok((None, grant, warnings));
    }
    let change = Change {
        resource: SENDER_RESOURCE.into(),
        name: d.pool.id.clone(),
        action: Action::Update,
        fields,
        order: ORDER,
        writes: vec![Write::Pool(PoolWrite::WireSender {
            pool_id: d.pool.id.clone(),
            sender_arn: sender_arn.to_string(),
            kms_key_arn: kms_key_arn.to_string(),
            trigger_arn: d.pool.trigger_arn.clone(),
            replace,
        })],
    };
    Ok((Some(change), grant, warnings))
}

/// Whether the pool is broken as it stands: pumpguard's trigger is wired in
/// a slot, and Cognito may not invoke it.
pub fn broken(d: &Desired<'_>, o: &Observed) -> Option<String> {
    let wired = o.triggers.values().any(|arn| *arn == d.pool.trigger_arn);
    (wired && o.permission == InvokePermission::Missing).then(|| {
        format!(
            "user pool {} has {} wired, but Cognito may not invoke it: every message it sends \
             fails; run apply --grant-invoke, or: {}",
            d.pool.id,
            d.pool.trigger_arn,
            grant_command(d, o)
        )
    })
}

/// The statement id pumpguard gives the invoke permission for a pool.
fn statement_id(pool_id: &str) -> String {
    format!("pumpguard-cognito-{pool_id}")
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .take(100)
        .collect()
}

/// The command that grants Cognito the scoped invoke permission.
pub fn add_permission_command(
    region: &str,
    trigger_arn: &str,
    pool_id: &str,
    pool_arn: &str,
) -> String {
    let sid = statement_id(pool_id);
    format!(
        "aws lambda add-permission --region {region} --function-name {trigger_arn} \
         --statement-id {sid} --action lambda:InvokeFunction \
         --principal cognito-idp.amazonaws.com --source-arn {pool_arn}"
    )
}

/// [`add_permission_command`] for the policy's trigger and the pool as read.
fn grant_command(d: &Desired<'_>, o: &Observed) -> String {
    add_permission_command(
        &d.pool.region,
        &d.pool.trigger_arn,
        &d.pool.id,
        o.pool_arn.as_deref().unwrap_or_default(),
    )
}

fn permission_warnings(d: &Desired<'_>, o: &Observed) -> Vec<String> {
    let arn = &d.pool.trigger_arn;
    let pool_arn = o.pool_arn.as_deref().unwrap_or_default();
    let command = || grant_command(d, o);
    match &o.permission {
        InvokePermission::Granted { .. } => Vec::new(),
        InvokePermission::NotChecked => vec![format!(
            "cannot check that Cognito may invoke {arn}: DescribeUserPool returned no ARN for \
             user pool {}",
            d.pool.id
        )],
        InvokePermission::Unscoped { statement } => vec![format!(
            "{arn} lets cognito-idp.amazonaws.com invoke it without an AWS:SourceArn condition \
             (statement {}), so any user pool in any account may; scope it to this pool: {}",
            statement.as_deref().unwrap_or("without Sid"),
            command()
        )],
        InvokePermission::Missing => vec![format!(
            "Cognito may not invoke {arn} for user pool {}: no statement allows \
             lambda:InvokeFunction to cognito-idp.amazonaws.com with AWS:SourceArn {pool_arn}, \
             so every CustomMessage would fail. The CloudFormation stack grants it; or run: {}",
            d.pool.id,
            command()
        )],
        InvokePermission::Unreadable { reason } => vec![format!(
            "cannot check that Cognito may invoke {arn}: lambda:GetPolicy failed ({reason}); \
             check user-pool.trigger-arn and lambda:GetPolicy permission. The permission it \
             needs: {}",
            command()
        )],
    }
}

fn channel_warnings(d: &Desired<'_>, o: &Observed) -> Vec<String> {
    let listed: &BTreeSet<TriggerSource> = &d.policy.trigger.sms_sources;
    let mut warnings = Vec::new();
    if let Some(e) = &o.sms.mfa_read_error {
        warnings.push(format!(
            "cannot read user pool {}'s MFA configuration ({e}); assumed SMS MFA may be on",
            d.pool.id
        ));
    }
    let mut never = Vec::new();
    for (source, channel) in o.sms.channels() {
        match channel {
            SmsChannel::MaySms(why) if !listed.contains(&source) => warnings.push(format!(
                "unguarded: user pool {} may send {source} by SMS ({why}), but \
                 trigger.sms-sources leaves it out, so the trigger lets those SMS through \
                 unchecked; add \"{source}\" to trigger.sms-sources",
                d.pool.id
            )),
            SmsChannel::NeverSms(why) if listed.contains(&source) => {
                never.push(format!("{source} ({why})"));
            }
            _ => {}
        }
    }
    if !never.is_empty() {
        warnings.push(format!(
            "trigger.sms-sources lists sources user pool {} never sends by SMS: {}; the trigger \
             judges (and may block) those email messages by the user's phone number. Remove \
             them unless you will enable SMS for them",
            d.pool.id,
            never.join(", ")
        ));
    }
    warnings
}

// ---------------------------------------------------------------- apply

pub async fn apply(c: &Clients, w: &PoolWrite) -> anyhow::Result<()> {
    match w {
        PoolWrite::WireTriggers {
            pool_id,
            trigger_arn,
            slots,
            replace,
        } => wire(c, pool_id, trigger_arn, slots, replace).await,
        PoolWrite::SendThroughEum { pool_id, eums } => send_through_eum(c, pool_id, eums).await,
        PoolWrite::WireSender {
            pool_id,
            sender_arn,
            kms_key_arn,
            trigger_arn,
            replace,
        } => wire_sender(c, pool_id, sender_arn, kms_key_arn, trigger_arn, replace).await,
        PoolWrite::GrantInvoke {
            function,
            statement_id,
            pool_arn,
        } => {
            c.lambda
                .add_permission()
                .function_name(function)
                .statement_id(statement_id)
                .action("lambda:InvokeFunction")
                .principal("cognito-idp.amazonaws.com")
                .source_arn(pool_arn)
                .send()
                .await
                .map_err(|e| {
                    anyhow::anyhow!(
                        "Lambda AddPermission {statement_id} on {function} failed: {}; check \
                         that you may call lambda:AddPermission, or add the permission \
                         yourself (plan without --grant-invoke prints the command)",
                        sdk_reason(&e)
                    )
                })?;
            Ok(())
        }
    }
}

async fn wire(
    c: &Clients,
    pool_id: &str,
    trigger_arn: &str,
    slots: &[TriggerSlot],
    replace: &BTreeMap<TriggerSlot, String>,
) -> anyhow::Result<()> {
    refuse_uncopied(pool_id)?;
    let before = describe(&c.cognito, pool_id).await?;
    let mut lambda = before
        .lambda_config
        .clone()
        .unwrap_or_else(|| LambdaConfigType::builder().build());
    let mut changed = false;
    for &slot in slots {
        match slot.get(&lambda) {
            Some(arn) if arn == trigger_arn => continue,
            Some(arn) if replace.get(&slot).map(String::as_str) != Some(arn) => anyhow::bail!(
                "user pool {pool_id}'s {slot} trigger is now {arn}, which the plan did not \
                 see; run plan again"
            ),
            _ => {}
        }
        slot.set(&mut lambda, Some(trigger_arn.to_string()));
        changed = true;
    }
    if !changed {
        return Ok(());
    }
    update_pool(c, pool_id, &before, &lambda, None).await
}

async fn wire_sender(
    c: &Clients,
    pool_id: &str,
    sender_arn: &str,
    kms_key_arn: &str,
    trigger_arn: &str,
    replace: &BTreeMap<String, String>,
) -> anyhow::Result<()> {
    refuse_uncopied(pool_id)?;
    let before = describe(&c.cognito, pool_id).await?;
    let mut lambda = before
        .lambda_config
        .clone()
        .unwrap_or_else(|| LambdaConfigType::builder().build());
    let held = other_triggers(&lambda);
    let check = |member: &str, now: Option<&str>, to: &str, ours: &[&str]| match now {
        Some(v) if v == to || ours.contains(&v) => Ok(()),
        Some(v) if replace.get(member).map(String::as_str) != Some(v) => Err(anyhow::anyhow!(
            "user pool {pool_id}'s {member} is now {v}, which the plan did not see; run \
                 plan again"
        )),
        _ => Ok(()),
    };
    check(
        "CustomSMSSender",
        held.get("CustomSMSSender").map(String::as_str),
        sender_arn,
        &[],
    )?;
    check(
        "KMSKeyID",
        held.get("KMSKeyID").map(String::as_str),
        kms_key_arn,
        &[],
    )?;
    for slot in [
        TriggerSlot::PostConfirmation,
        TriggerSlot::PostAuthentication,
    ] {
        check(slot.as_str(), slot.get(&lambda), sender_arn, &[trigger_arn])?;
        slot.set(&mut lambda, Some(sender_arn.to_string()));
    }
    if TriggerSlot::CustomMessage.get(&lambda) == Some(trigger_arn) {
        TriggerSlot::CustomMessage.set(&mut lambda, None);
    }
    lambda.custom_sms_sender = Some(
        cognito::types::CustomSmsLambdaVersionConfigType::builder()
            .lambda_version(cognito::types::CustomSmsSenderLambdaVersionType::V10)
            .lambda_arn(sender_arn)
            .build()
            .map_err(|e| anyhow::anyhow!("building CustomSMSSender: {e}"))?,
    );
    lambda.kms_key_id = Some(kms_key_arn.to_string());
    if before.lambda_config.as_ref() == Some(&lambda) {
        return Ok(());
    }
    update_pool(c, pool_id, &before, &lambda, None).await?;
    let after = describe(&c.cognito, pool_id).await?;
    let l = after
        .lambda_config
        .unwrap_or_else(|| LambdaConfigType::builder().build());
    let wired = l.custom_sms_sender.as_ref().map(|s| s.lambda_arn.as_str()) == Some(sender_arn)
        && l.kms_key_id.as_deref() == Some(kms_key_arn);
    if !wired {
        anyhow::bail!(
            "user pool {pool_id} was updated, but DescribeUserPool does not show the Custom SMS \
             Sender {sender_arn} with key {kms_key_arn}; check the pool's LambdaConfig"
        );
    }
    Ok(())
}

/// `[protect] scope = "pool"`: the pool sends through End User Messaging
/// with pumpguard's configuration set. Only `SmsConfiguration.EumsSms`
/// changes; `apply` checks afterwards that Cognito kept it.
async fn send_through_eum(c: &Clients, pool_id: &str, eums: &EumsSending) -> anyhow::Result<()> {
    refuse_uncopied(pool_id)?;
    let before = describe(&c.cognito, pool_id).await?;
    let current = before.sms_configuration.clone();
    if current
        .as_ref()
        .and_then(|s| s.eums_sms.as_ref())
        .map(EumsSending::observed)
        .as_ref()
        == Some(eums)
    {
        return Ok(());
    }
    let sms = SmsConfigurationType::builder()
        // Required by the API; kept as it is (or the caller role when the
        // pool had no SMS configuration).
        .sns_caller_arn(
            current
                .as_ref()
                .map(|s| s.sns_caller_arn.clone())
                .filter(|a| !a.is_empty())
                .unwrap_or_else(|| eums.caller_arn.clone()),
        )
        .set_external_id(current.as_ref().and_then(|s| s.external_id.clone()))
        .set_sns_region(current.as_ref().and_then(|s| s.sns_region.clone()))
        .eums_sms(eums.to_sdk()?)
        .build();
    let lambda = before
        .lambda_config
        .clone()
        .unwrap_or_else(|| LambdaConfigType::builder().build());
    update_pool(c, pool_id, &before, &lambda, Some(&sms)).await?;
    let after = describe(&c.cognito, pool_id).await?;
    let kept = after
        .sms_configuration
        .as_ref()
        .and_then(|s| s.eums_sms.as_ref())
        .map(EumsSending::observed);
    if kept.as_ref() != Some(eums) {
        anyhow::bail!(
            "user pool {pool_id} was updated to send through End User Messaging, but it now \
             describes its EumsSms as {kept:?}; check the pool's SMS settings in the console \
             and run plan again"
        );
    }
    Ok(())
}

fn refuse_uncopied(pool_id: &str) -> anyhow::Result<()> {
    let missing = uncopied_update_members();
    if !missing.is_empty() {
        anyhow::bail!(
            "refusing to update user pool {pool_id}: this build's UpdateUserPool has members \
             pumpguard does not copy ({}), which UpdateUserPool would reset; upgrade pumpguard",
            missing.join(", ")
        );
    }
    let missing = uncopied_mfa_members();
    if !missing.is_empty() {
        anyhow::bail!(
            "refusing to update user pool {pool_id}: this build's SetUserPoolMfaConfig has \
             members pumpguard cannot restore ({}); upgrade pumpguard",
            missing.join(", ")
        );
    }
    Ok(())
}

/// `UpdateUserPool` with every setting of `before`, `lambda` as its
/// `LambdaConfig` and, when given, `sms` as its `SmsConfiguration`; then
/// the MFA configuration restored if the update moved it, and the pool
/// described again to check that nothing else changed.
async fn update_pool(
    c: &Clients,
    pool_id: &str,
    before: &UserPoolType,
    lambda: &LambdaConfigType,
    sms: Option<&SmsConfigurationType>,
) -> anyhow::Result<()> {
    let before = &{
        let mut b = before.clone();
        if let Some(sms) = sms {
            b.sms_configuration = Some(sms.clone());
        }
        b
    };
    let mfa_before = read_mfa(&c.cognito, pool_id).await?;

    let mut dropped_unused_days = false;
    let first = update_request(c.cognito.update_user_pool(), before, lambda, false)
        .send()
        .await;
    if let Err(e) = first {
        let deprecated = e.as_service_error().and_then(|s| s.message()).is_some_and(|m| {
            m.contains("Please use TemporaryPasswordValidityDays in PasswordPolicy instead of UnusedAccountValidityDays")
        });
        if !deprecated {
            return Err(anyhow::anyhow!(
                "UpdateUserPool on {pool_id} failed: {}; nothing was changed",
                sdk_reason(&e)
            ));
        }
        dropped_unused_days = true;
        update_request(c.cognito.update_user_pool(), before, lambda, true)
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "UpdateUserPool on {pool_id} failed: {}; nothing was changed",
                    sdk_reason(&e)
                )
            })?;
    }

    // MFA lives behind its own API; put it back if the update moved it.
    let mfa_after = read_mfa(&c.cognito, pool_id).await?;
    if mfa_after != mfa_before {
        mfa_before
            .restore(c.cognito.set_user_pool_mfa_config().user_pool_id(pool_id))
            .send()
            .await
            .map_err(|e| {
                anyhow::anyhow!(
                    "UpdateUserPool on {pool_id} changed its MFA configuration from {mfa_before:?} \
                     to {mfa_after:?} and restoring it failed: {}; restore it by hand",
                    sdk_reason(&e)
                )
            })?;
        let restored = read_mfa(&c.cognito, pool_id).await?;
        if restored != mfa_before {
            anyhow::bail!(
                "user pool {pool_id}'s MFA configuration is {restored:?} after restoring \
                 {mfa_before:?}; restore it by hand"
            );
        }
    }

    let after = describe(&c.cognito, pool_id).await?;
    let diff = differences(before, &after, dropped_unused_days);
    if !diff.is_empty() {
        anyhow::bail!(
            "user pool {pool_id} was updated, but besides the trigger slots these settings \
             changed: {}; compare with DescribeUserPool and restore them",
            diff.join(", ")
        );
    }
    Ok(())
}

/// Every updatable member of the described pool, with `lambda` as the
/// `LambdaConfig`. The destructuring names each copied field, so a field
/// cannot be bound and then forgotten.
fn update_request(
    b: UpdateUserPoolFluentBuilder,
    pool: &UserPoolType,
    lambda: &LambdaConfigType,
    drop_unused_account_validity_days: bool,
) -> UpdateUserPoolFluentBuilder {
    let UserPoolType {
        id,
        name,
        policies,
        deletion_protection,
        lambda_config: _,
        auto_verified_attributes,
        sms_verification_message,
        email_verification_message,
        email_verification_subject,
        verification_message_template,
        sms_authentication_message,
        user_attribute_update_settings,
        mfa_configuration,
        device_configuration,
        email_configuration,
        sms_configuration,
        user_pool_tags,
        admin_create_user_config,
        user_pool_add_ons,
        account_recovery_setting,
        user_pool_tier,
        key_configuration,
        issuer_configuration,
        acr_configuration,
        ..
    } = pool.clone();
    let admin_create_user_config = admin_create_user_config.map(|mut a| {
        if drop_unused_account_validity_days {
            a.unused_account_validity_days = 0;
        }
        a
    });
    // Custom ACR names need Essentials or Plus; a Lite pool has the defaults,
    // which leaving the member out keeps.
    let acr_configuration = if user_pool_tier == Some(UserPoolTierType::Lite) {
        None
    } else {
        acr_configuration
    };
    b.set_user_pool_id(id)
        .set_pool_name(name)
        .set_policies(policies)
        .set_deletion_protection(deletion_protection)
        .lambda_config(lambda.clone())
        .set_auto_verified_attributes(auto_verified_attributes)
        .set_sms_verification_message(sms_verification_message)
        .set_email_verification_message(email_verification_message)
        .set_email_verification_subject(email_verification_subject)
        .set_verification_message_template(verification_message_template)
        .set_sms_authentication_message(sms_authentication_message)
        .set_user_attribute_update_settings(user_attribute_update_settings)
        .set_mfa_configuration(mfa_configuration)
        .set_device_configuration(device_configuration)
        .set_email_configuration(email_configuration)
        .set_sms_configuration(sms_configuration)
        .set_user_pool_tags(user_pool_tags)
        .set_admin_create_user_config(admin_create_user_config)
        .set_user_pool_add_ons(user_pool_add_ons)
        .set_account_recovery_setting(account_recovery_setting)
        .set_user_pool_tier(user_pool_tier)
        .set_key_configuration(key_configuration)
        .set_issuer_configuration(issuer_configuration)
        .set_acr_configuration(acr_configuration)
}

/// Fields that differ between two descriptions of a pool, apart from the
/// three trigger slots and what changes by itself (`LastModifiedDate`,
/// `EstimatedNumberOfUsers`, the SMS/email configuration failure notes
/// Cognito re-evaluates).
fn differences(
    before: &UserPoolType,
    after: &UserPoolType,
    dropped_unused_days: bool,
) -> Vec<String> {
    let norm = |p: &UserPoolType| {
        let mut p = p.clone();
        p.last_modified_date = None;
        p.estimated_number_of_users = 0;
        p.sms_configuration_failure = None;
        p.email_configuration_failure = None;
        if let Some(l) = p.lambda_config.as_mut() {
            for slot in TriggerSlot::ALL {
                slot.set(l, None);
            }
            // The sender's members, which WireSender sets (and checks).
            l.custom_sms_sender = None;
            l.kms_key_id = None;
        }
        // A pool with no triggers describes as no LambdaConfig at all.
        if p.lambda_config.as_ref().is_some_and(|l| {
            *l == aws_sdk_cognitoidentityprovider::types::LambdaConfigType::builder().build()
        }) {
            p.lambda_config = None;
        }
        if dropped_unused_days {
            if let Some(a) = p.admin_create_user_config.as_mut() {
                a.unused_account_validity_days = 0;
            }
        }
        p
    };
    let (a, b) = (norm(before), norm(after));
    if a == b {
        return Vec::new();
    }
    let mut out = Vec::new();
    macro_rules! named {
        ($($field:ident),* $(,)?) => {
            $(if a.$field != b.$field {
                out.push(stringify!($field).to_string());
            })*
        };
    }
    named!(
        id,
        name,
        policies,
        deletion_protection,
        lambda_config,
        creation_date,
        schema_attributes,
        auto_verified_attributes,
        alias_attributes,
        username_attributes,
        sms_verification_message,
        email_verification_message,
        email_verification_subject,
        verification_message_template,
        sms_authentication_message,
        user_attribute_update_settings,
        mfa_configuration,
        device_configuration,
        email_configuration,
        sms_configuration,
        user_pool_tags,
        domain,
        custom_domain,
        admin_create_user_config,
        user_pool_add_ons,
        username_configuration,
        arn,
        account_recovery_setting,
        user_pool_tier,
        key_configuration,
        issuer_configuration,
        acr_configuration,
    );
    if out.is_empty() {
        out.push("a field this build does not name".into());
    }
    out
}

/// What `GetUserPoolMfaConfig` returns, without the request id.
#[derive(Debug, Clone, PartialEq)]
struct MfaSnapshot {
    mfa_configuration: Option<UserPoolMfaType>,
    sms_mfa_configuration: Option<SmsMfaConfigType>,
    software_token_mfa_configuration: Option<SoftwareTokenMfaConfigType>,
    email_mfa_configuration: Option<EmailMfaConfigType>,
    web_authn_configuration: Option<WebAuthnConfigurationType>,
}

impl From<GetUserPoolMfaConfigOutput> for MfaSnapshot {
    fn from(o: GetUserPoolMfaConfigOutput) -> Self {
        let GetUserPoolMfaConfigOutput {
            sms_mfa_configuration,
            software_token_mfa_configuration,
            email_mfa_configuration,
            mfa_configuration,
            web_authn_configuration,
            ..
        } = o;
        Self {
            mfa_configuration,
            sms_mfa_configuration,
            software_token_mfa_configuration,
            email_mfa_configuration,
            web_authn_configuration,
        }
    }
}

impl MfaSnapshot {
    fn restore(&self, b: SetUserPoolMfaConfigFluentBuilder) -> SetUserPoolMfaConfigFluentBuilder {
        let MfaSnapshot {
            mfa_configuration,
            sms_mfa_configuration,
            software_token_mfa_configuration,
            email_mfa_configuration,
            web_authn_configuration,
        } = self.clone();
        b.set_mfa_configuration(mfa_configuration)
            .set_sms_mfa_configuration(sms_mfa_configuration)
            .set_software_token_mfa_configuration(software_token_mfa_configuration)
            .set_email_mfa_configuration(email_mfa_configuration)
            .set_web_authn_configuration(web_authn_configuration)
    }
}

async fn read_mfa(client: &cognito::Client, pool_id: &str) -> anyhow::Result<MfaSnapshot> {
    client
        .get_user_pool_mfa_config()
        .user_pool_id(pool_id)
        .send()
        .await
        .map(MfaSnapshot::from)
        .map_err(|e| {
            anyhow::anyhow!(
                "cannot read user pool {pool_id}'s MFA configuration ({}), which apply checks \
                 UpdateUserPool keeps; check cognito-idp:GetUserPoolMfaConfig permission",
                sdk_reason(&e)
            )
        })
}
