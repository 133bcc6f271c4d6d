//! Converging an AWS account to the policy, one resource kind per module.
//!
//! Every module has the same three seams: `read` (read calls only, returns
//! what is there), `plan` (pure: desired + observed → changes), and `apply`
//! (carries out one change's writes). `plan` can therefore never write, and
//! a converged account yields an empty plan and no write call.

use pumpguard_engine::account::UserPoolPolicy;
use pumpguard_engine::Policy;

pub mod pool;
pub mod protect;
pub mod published;
pub mod spend;
pub mod waf;

/// The AWS clients for one region.
#[derive(Debug, Clone)]
pub struct Clients {
    pub region: String,
    pub eum: aws_sdk_pinpointsmsvoicev2::Client,
    pub waf: aws_sdk_wafv2::Client,
    pub cognito: aws_sdk_cognitoidentityprovider::Client,
    pub sns: aws_sdk_sns::Client,
    pub lambda: aws_sdk_lambda::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Clients {
    /// Clients for `config`'s region.
    pub fn new(config: &aws_config::SdkConfig) -> Self {
        Self {
            region: config.region().map(|r| r.to_string()).unwrap_or_default(),
            eum: aws_sdk_pinpointsmsvoicev2::Client::new(config),
            waf: aws_sdk_wafv2::Client::new(config),
            cognito: aws_sdk_cognitoidentityprovider::Client::new(config),
            sns: aws_sdk_sns::Client::new(config),
            lambda: aws_sdk_lambda::Client::new(config),
            dynamodb: aws_sdk_dynamodb::Client::new(config),
        }
    }
}

/// What the policy asks for, plus the command's options.
#[derive(Debug, Clone, Copy)]
pub struct Desired<'a> {
    pub policy: &'a Policy,
    /// The policy file's text, as published to the trigger.
    pub text: &'a str,
    /// Where the text came from (for messages).
    pub origin: &'a str,
    pub pool: &'a UserPoolPolicy,
    /// `--replace-triggers`: replace a different trigger already wired.
    pub replace_triggers: bool,
    /// `--grant-invoke`: add the scoped invoke permission Cognito needs
    /// when it is missing, before the trigger is wired.
    pub grant_invoke: bool,
    /// Unix seconds, for expiries.
    pub now: i64,
}

/// A short reason from an SDK error: the service's code and message, or the
/// whole error chain.
pub(crate) fn sdk_reason<E, R>(e: &aws_sdk_cognitoidentityprovider::error::SdkError<E, R>) -> String
where
    E: aws_sdk_cognitoidentityprovider::error::ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match e.as_service_error().map(|s| (s.code(), s.message())) {
        Some((Some(code), Some(msg))) => format!("{code}: {msg}"),
        Some((Some(code), None)) => code.to_string(),
        _ => aws_sdk_cognitoidentityprovider::error::DisplayErrorContext(e).to_string(),
    }
}

/// Tag key marking resources pumpguard owns.
pub const OWNER_TAG: &str = "pumpguard:owned";
