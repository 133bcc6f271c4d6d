//! The parts of an account that every moto-backed test builds: the server's
//! address, an SDK configuration for it, the stack's table, a user pool that
//! sends SMS, the clients of a region (each with an interceptor of the
//! test's), a request recorder, and WAF rule builders.

#![allow(dead_code, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use aws_sdk_cognitoidentityprovider::types::{
    SmsConfigurationType, UserPoolType, VerifiedAttributeType,
};
use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
    SharedInterceptor,
};
use aws_sdk_dynamodb::error::BoxError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
};
use aws_sdk_wafv2::types::{
    AllowAction, BlockAction, CountryCode, GeoMatchStatement, Rule, RuleAction, Statement,
    VisibilityConfig,
};
use pumpguard_cli::converge::Clients;

/// The account in every test's ARNs.
pub const ACCOUNT: &str = "123456789012";

/// The role a pool's `SmsConfiguration` names.
pub const SNS_ROLE: &str = "arn:aws:iam::123456789012:role/cognito-sms";

/// The moto server's URL (`PUMPGUARD_TEST_MOTO`, required).
pub fn moto() -> String {
    match std::env::var("PUMPGUARD_TEST_MOTO") {
        Ok(url) if !url.is_empty() => url,
        _ => panic!(
            "PUMPGUARD_TEST_MOTO is not set: run the suite with scripts/test.sh, or start \
             `python scripts/moto_server.py 127.0.0.1 5055` and set \
             PUMPGUARD_TEST_MOTO=http://127.0.0.1:5055"
        ),
    }
}

/// The repository's root.
pub fn root() -> std::path::PathBuf {
    std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// An SDK configuration for moto in `region`, with test credentials.
pub async fn sdk(region: &str) -> aws_config::SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(region.to_string()))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(moto())
        .load()
        .await
}

/// A table shaped as the stack's: `pk`/`sk` strings, on demand.
pub async fn create_table(sdk: &aws_config::SdkConfig, name: &str) {
    let key = |a: &str, t| {
        KeySchemaElement::builder()
            .attribute_name(a)
            .key_type(t)
            .build()
            .unwrap()
    };
    let attr = |a: &str| {
        AttributeDefinition::builder()
            .attribute_name(a)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .unwrap()
    };
    aws_sdk_dynamodb::Client::new(sdk)
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key("pk", KeyType::Hash))
        .key_schema(key("sk", KeyType::Range))
        .attribute_definitions(attr("pk"))
        .attribute_definitions(attr("sk"))
        .send()
        .await
        .unwrap();
}

/// The `SmsConfiguration` of a pool that sends SMS.
pub fn sms_configuration() -> SmsConfigurationType {
    SmsConfigurationType::builder()
        .sns_caller_arn(SNS_ROLE)
        .external_id("x")
        .build()
}

/// A pool that verifies phone numbers by SMS (sign-up and recovery).
pub async fn create_sms_pool(sdk: &aws_config::SdkConfig, name: &str) -> UserPoolType {
    aws_sdk_cognitoidentityprovider::Client::new(sdk)
        .create_user_pool()
        .pool_name(name)
        .auto_verified_attributes(VerifiedAttributeType::PhoneNumber)
        .sms_configuration(sms_configuration())
        .send()
        .await
        .unwrap()
        .user_pool
        .unwrap()
}

/// Every client of `sdk`'s region, End User Messaging's being `eum`; each
/// other client carries `interceptor(iam service prefix)`.
pub fn clients(
    sdk: &aws_config::SdkConfig,
    eum: aws_sdk_pinpointsmsvoicev2::Client,
    interceptor: impl Fn(&'static str) -> SharedInterceptor,
) -> Clients {
    Clients {
        region: sdk.region().map(ToString::to_string).unwrap_or_default(),
        eum,
        waf: aws_sdk_wafv2::Client::from_conf(
            aws_sdk_wafv2::config::Builder::from(sdk)
                .interceptor(interceptor("wafv2"))
                .build(),
        ),
        cognito: aws_sdk_cognitoidentityprovider::Client::from_conf(
            aws_sdk_cognitoidentityprovider::config::Builder::from(sdk)
                .interceptor(interceptor("cognito-idp"))
                .build(),
        ),
        sns: aws_sdk_sns::Client::from_conf(
            aws_sdk_sns::config::Builder::from(sdk)
                .interceptor(interceptor("sns"))
                .build(),
        ),
        lambda: aws_sdk_lambda::Client::from_conf(
            aws_sdk_lambda::config::Builder::from(sdk)
                .interceptor(interceptor("lambda"))
                .build(),
        ),
        dynamodb: aws_sdk_dynamodb::Client::from_conf(
            aws_sdk_dynamodb::config::Builder::from(sdk)
                .interceptor(interceptor("dynamodb"))
                .build(),
        ),
    }
}

/// Records every request the clients send (each attempt): the
/// `x-amz-target` header for JSON protocols (`AWSWAF_20190729.GetWebACL`),
/// else `METHOD uri` (Lambda's REST API).
#[derive(Debug, Clone, Default)]
pub struct Recorder(Arc<Mutex<Vec<String>>>);

impl Recorder {
    /// The requests since the last take.
    pub fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }

    /// The operation names (`GetWebACL`) of the requests since the last take.
    pub fn take_operations(&self) -> Vec<String> {
        self.take()
            .into_iter()
            .map(|r| r.rsplit('.').next().unwrap_or_default().to_string())
            .collect()
    }
}

impl Intercept for Recorder {
    fn name(&self) -> &'static str {
        "pumpguard-test-recorder"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = context.request();
        let entry = match req.headers().get("x-amz-target") {
            Some(target) => target.to_string(),
            None => format!("{} {}", req.method(), req.uri()),
        };
        self.0.lock().unwrap().push(entry);
        Ok(())
    }
}

/// A WAF visibility configuration without metrics or samples.
pub fn visibility(name: &str) -> VisibilityConfig {
    VisibilityConfig::builder()
        .sampled_requests_enabled(false)
        .cloud_watch_metrics_enabled(false)
        .metric_name(name)
        .build()
        .unwrap()
}

/// A rule that allows (or blocks) requests from `country`.
pub fn geo_rule(name: &str, priority: i32, country: &str, block: bool) -> Rule {
    let action = if block {
        RuleAction::builder()
            .block(BlockAction::builder().build())
            .build()
    } else {
        RuleAction::builder()
            .allow(AllowAction::builder().build())
            .build()
    };
    Rule::builder()
        .name(name)
        .priority(priority)
        .action(action)
        .statement(
            Statement::builder()
                .geo_match_statement(
                    GeoMatchStatement::builder()
                        .country_codes(CountryCode::from(country))
                        .build(),
                )
                .build(),
        )
        .visibility_config(visibility(&name.replace('-', "")))
        .build()
        .unwrap()
}
