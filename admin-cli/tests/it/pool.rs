//! The user-pool module against moto in server mode (`PUMPGUARD_TEST_MOTO`),
//! with the real SDK: wiring the trigger keeps every other pool setting, a
//! foreign trigger is only replaced on request, the invoke-permission and
//! SMS-channel checks warn as documented, and `read` makes read calls only.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use crate::common;

use std::io::{Read as _, Write as _};

use aws_sdk_cognitoidentityprovider as cognito;
use aws_sdk_lambda as lambda;
use cognito::config::SharedInterceptor;
use cognito::types::{
    AccountRecoverySettingType, AdminCreateUserConfigType, AdvancedSecurityModeType,
    DefaultEmailOptionType, DeletionProtectionType, DeviceConfigurationType,
    EmailConfigurationType, EmailSendingAccountType, LambdaConfigType, MessageTemplateType,
    PasswordPolicyType, RecoveryOptionNameType, RecoveryOptionType, SmsConfigurationType,
    SmsMfaConfigType, SoftwareTokenMfaConfigType, UserAttributeUpdateSettingsType,
    UserPoolAddOnsType, UserPoolMfaType, UserPoolPolicyType, UserPoolTierType, UserPoolType,
    VerificationMessageTemplateType, VerifiedAttributeType,
};
use pumpguard_cli::converge::pool::{self, InvokePermission, Observed, PoolWrite, TriggerSlot};
use pumpguard_cli::converge::{Clients, Desired};
use pumpguard_cli::plan::{Plan, RegionPlan, Write};
use pumpguard_engine::Policy;

use common::moto::{moto, Recorder, ACCOUNT, SNS_ROLE};

fn unique(prefix: &str) -> String {
    static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos()
        % 1_000_000_000;
    format!(
        "{prefix}-{}-{nanos}-{}",
        std::process::id(),
        N.fetch_add(1, std::sync::atomic::Ordering::SeqCst)
    )
}

// ---------------------------------------------------------------- recording clients

/// Every client pointed at moto, all recording into `rec`.
async fn clients(rec: &Recorder) -> Clients {
    let sdk = common::moto::sdk("us-east-1").await;
    let eum = aws_sdk_pinpointsmsvoicev2::Client::from_conf(
        aws_sdk_pinpointsmsvoicev2::config::Builder::from(&sdk)
            .interceptor(rec.clone())
            .build(),
    );
    common::moto::clients(&sdk, eum, |_| SharedInterceptor::new(rec.clone()))
}

// ---------------------------------------------------------------- fixtures

fn function_arn(name: &str) -> String {
    format!("arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}")
}

/// Settings for a fresh pool; every one differs from Cognito's default.
struct PoolSpec {
    lambda: LambdaConfigType,
    auto_verified: Vec<VerifiedAttributeType>,
    recovery: Vec<RecoveryOptionNameType>,
    sms: bool,
    mfa: UserPoolMfaType,
}

impl PoolSpec {
    fn rich() -> Self {
        Self {
            lambda: LambdaConfigType::builder()
                .pre_sign_up(function_arn("someone-elses-pre-sign-up"))
                .pre_token_generation(function_arn("someone-elses-pre-token"))
                .build(),
            auto_verified: vec![VerifiedAttributeType::Email],
            recovery: vec![RecoveryOptionNameType::VerifiedEmail],
            sms: true,
            mfa: UserPoolMfaType::Optional,
        }
    }
}

async fn create_pool(c: &cognito::Client, spec: PoolSpec) -> UserPoolType {
    let mut b = c
        .create_user_pool()
        .pool_name(unique("pumpguard-pool"))
        .policies(
            UserPoolPolicyType::builder()
                .password_policy(
                    PasswordPolicyType::builder()
                        .minimum_length(14)
                        .require_uppercase(false)
                        .require_lowercase(true)
                        .require_numbers(true)
                        .require_symbols(false)
                        .temporary_password_validity_days(3)
                        .build(),
                )
                .build(),
        )
        .deletion_protection(DeletionProtectionType::Active)
        .lambda_config(spec.lambda)
        .set_auto_verified_attributes(Some(spec.auto_verified))
        .verification_message_template(
            VerificationMessageTemplateType::builder()
                .sms_message("Example code {####}")
                .email_message("Your Example code is {####}")
                .email_subject("Example verification")
                .default_email_option(DefaultEmailOptionType::ConfirmWithCode)
                .build(),
        )
        .sms_authentication_message("Example sign-in code {####}")
        .user_attribute_update_settings(
            UserAttributeUpdateSettingsType::builder()
                .attributes_require_verification_before_update(VerifiedAttributeType::Email)
                .build(),
        )
        .mfa_configuration(spec.mfa)
        .device_configuration(
            DeviceConfigurationType::builder()
                .challenge_required_on_new_device(true)
                .device_only_remembered_on_user_prompt(true)
                .build(),
        )
        .email_configuration(
            EmailConfigurationType::builder()
                .email_sending_account(EmailSendingAccountType::Developer)
                .source_arn(format!(
                    "arn:aws:ses:us-east-1:{ACCOUNT}:identity/example.com"
                ))
                .from("Example <no-reply@example.com>")
                .reply_to_email_address("help@example.com")
                .build(),
        )
        .user_pool_tags("team", "identity")
        .user_pool_tags("cost-centre", "42")
        .admin_create_user_config(
            AdminCreateUserConfigType::builder()
                .allow_admin_create_user_only(true)
                .invite_message_template(
                    MessageTemplateType::builder()
                        .sms_message("Welcome {username}, password {####}")
                        .email_message("Welcome {username}, your password is {####}")
                        .email_subject("Welcome to Example")
                        .build(),
                )
                .build(),
        )
        .user_pool_add_ons(
            UserPoolAddOnsType::builder()
                .advanced_security_mode(AdvancedSecurityModeType::Audit)
                .build()
                .unwrap(),
        )
        .account_recovery_setting(
            AccountRecoverySettingType::builder()
                .set_recovery_mechanisms(Some(
                    spec.recovery
                        .into_iter()
                        .enumerate()
                        .map(|(i, name)| {
                            RecoveryOptionType::builder()
                                .name(name)
                                .priority(i32::try_from(i).unwrap() + 1)
                                .build()
                                .unwrap()
                        })
                        .collect(),
                ))
                .build(),
        )
        .user_pool_tier(UserPoolTierType::Plus);
    if spec.sms {
        b = b.sms_configuration(sms_configuration());
    }
    b.send()
        .await
        .expect("create user pool in moto")
        .user_pool
        .expect("pool")
}

fn sms_configuration() -> SmsConfigurationType {
    SmsConfigurationType::builder()
        .sns_caller_arn(SNS_ROLE)
        .external_id("pumpguard-test")
        .sns_region("us-east-1")
        .build()
}

async fn describe(c: &cognito::Client, id: &str) -> UserPoolType {
    c.describe_user_pool()
        .user_pool_id(id)
        .send()
        .await
        .expect("describe")
        .user_pool
        .expect("pool")
}

/// The MFA configuration, without the request id.
async fn mfa_config(c: &cognito::Client, id: &str) -> String {
    let o = c
        .get_user_pool_mfa_config()
        .user_pool_id(id)
        .send()
        .await
        .expect("get mfa config");
    format!(
        "{:?} {:?} {:?} {:?} {:?}",
        o.mfa_configuration,
        o.sms_mfa_configuration,
        o.software_token_mfa_configuration,
        o.email_mfa_configuration,
        o.web_authn_configuration
    )
}

/// Turns SMS and TOTP MFA on the way the console does, with SetUserPoolMfaConfig.
async fn enable_sms_mfa(c: &cognito::Client, id: &str) {
    c.set_user_pool_mfa_config()
        .user_pool_id(id)
        .mfa_configuration(UserPoolMfaType::Optional)
        .sms_mfa_configuration(
            SmsMfaConfigType::builder()
                .sms_authentication_message("Example sign-in code {####}")
                .sms_configuration(sms_configuration())
                .build(),
        )
        .software_token_mfa_configuration(
            SoftwareTokenMfaConfigType::builder().enabled(true).build(),
        )
        .send()
        .await
        .expect("set mfa config");
}

/// moto's Lambda needs an IAM role to create a function, and the SDK clients
/// here include no IAM one: create it with a plain IAM query request.
fn ensure_lambda_role() -> String {
    let name = "pumpguard-test-trigger-role";
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"Service":"lambda.amazonaws.com"},"Action":"sts:AssumeRole"}]}"#;
    let body = format!(
        "Action=CreateRole&Version=2010-05-08&RoleName={name}&AssumeRolePolicyDocument={}",
        percent(trust)
    );
    let endpoint = moto();
    let host = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let mut s = std::net::TcpStream::connect(&host).expect("connect to moto");
    write!(
        s,
        "POST / HTTP/1.1\r\nHost: {host}\r\nContent-Type: application/x-www-form-urlencoded\r\n\
         Authorization: AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/iam/aws4_request, \
         SignedHeaders=host, Signature=00\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .unwrap();
    let mut answer = String::new();
    s.read_to_string(&mut answer).unwrap();
    assert!(
        answer.contains("<Arn>") || answer.contains("EntityAlreadyExists"),
        "CreateRole in moto: {answer}"
    );
    format!("arn:aws:iam::{ACCOUNT}:role/{name}")
}

fn percent(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// The command plan prints to grant the invoke permission, spelled out.
fn grant_command(trigger: &str, id: &str, pool_arn: &str) -> String {
    format!(
        "aws lambda add-permission --region us-east-1 --function-name {trigger} \
         --statement-id pumpguard-cognito-{id} --action lambda:InvokeFunction \
         --principal cognito-idp.amazonaws.com --source-arn {pool_arn}"
    )
}

/// Lets `pool_arn`'s Cognito invoke `function`, as the stack does.
async fn allow_cognito(c: &lambda::Client, function: &str, pool_arn: &str) {
    c.add_permission()
        .function_name(function)
        .statement_id("stack-grant")
        .action("lambda:InvokeFunction")
        .principal("cognito-idp.amazonaws.com")
        .source_arn(pool_arn)
        .send()
        .await
        .expect("add permission in moto");
}

/// A function in moto's Lambda (moto stores the code; it never runs it here).
async fn create_function(c: &lambda::Client) -> String {
    let role = ensure_lambda_role();
    let out = c
        .create_function()
        .function_name(unique("pumpguard-trigger"))
        .runtime(lambda::types::Runtime::Providedal2023)
        .role(role)
        .handler("bootstrap")
        .code(
            lambda::types::FunctionCode::builder()
                .zip_file(lambda::primitives::Blob::new(b"not run by moto".to_vec()))
                .build(),
        )
        .send()
        .await
        .expect("create function in moto");
    out.function_arn.expect("function arn")
}

fn policy(pool_id: &str, trigger_arn: &str, sms_sources: Option<&[&str]>) -> Policy {
    let sources = match sms_sources {
        None => String::new(),
        Some(list) => format!(
            "sms-sources = [{}]\n",
            list.iter()
                .map(|s| format!("\"{s}\""))
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    let text = format!(
        "[trigger]\n{sources}\n[countries]\nallow = [\"US\"]\ncrown-dependencies = \"separate\"\n\
         [user-pool]\nid = \"{pool_id}\"\ntrigger-arn = \"{trigger_arn}\"\n\
         table = \"pumpguard-t1\"\n"
    );
    Policy::parse(&text, "test").unwrap_or_else(|e| panic!("{e}"))
}

fn desired(p: &Policy, replace_triggers: bool) -> Desired<'_> {
    Desired {
        policy: p,
        text: "",
        origin: "test",
        pool: p.user_pool.as_ref().expect("[user-pool]"),
        replace_triggers,
        grant_invoke: false,
        now: 1_790_000_000,
    }
}

fn pool_writes(changes: &[pumpguard_cli::plan::Change]) -> Vec<PoolWrite> {
    changes
        .iter()
        .flat_map(|c| c.writes.iter())
        .map(|w| match w {
            Write::Pool(p) => p.clone(),
            other => panic!("not a pool write: {other:?}"),
        })
        .collect()
}

async fn apply_all(c: &Clients, changes: &[pumpguard_cli::plan::Change]) {
    for w in pool_writes(changes) {
        pool::apply(c, &w).await.expect("apply");
    }
}

/// The described pool with what this comparison ignores cleared:
/// `LastModifiedDate` (an update may move it; moto happens not to) and the
/// three trigger slots (the only thing apply is meant to change).
fn comparable(p: &UserPoolType) -> UserPoolType {
    let mut p = p.clone();
    p.last_modified_date = None;
    if let Some(l) = p.lambda_config.as_mut() {
        l.custom_message = None;
        l.post_confirmation = None;
        l.post_authentication = None;
    }
    p
}

// ---------------------------------------------------------------- tests

#[test]
fn every_update_user_pool_member_is_copied() {
    assert_eq!(pool::uncopied_update_members(), Vec::<String>::new());
    assert_eq!(pool::uncopied_mfa_members(), Vec::<String>::new());
}

#[tokio::test]
async fn wiring_an_unwired_pool_keeps_every_other_setting() {
    let rec = Recorder::default();
    let c = clients(&rec).await;
    let made = create_pool(&c.cognito, PoolSpec::rich()).await;
    let id = made.id.clone().unwrap();
    enable_sms_mfa(&c.cognito, &id).await;
    let trigger = create_function(&c.lambda).await;
    allow_cognito(&c.lambda, &trigger, made.arn.as_deref().unwrap()).await;
    let p = policy(&id, &trigger, None);
    let d = desired(&p, false);

    let before = describe(&c.cognito, &id).await;
    let mfa_before = mfa_config(&c.cognito, &id).await;
    rec.take();
    let o = pool::read(&c, &d).await.expect("read");
    let pre_sign_up = function_arn("someone-elses-pre-sign-up");
    assert_eq!(
        o.triggers,
        [(TriggerSlot::PreSignUp, pre_sign_up.clone())].into(),
        "{o:?}"
    );
    assert_eq!(
        o.other_triggers
            .get("PreTokenGeneration")
            .map(String::as_str),
        Some(function_arn("someone-elses-pre-token").as_str())
    );
    assert_eq!(
        o.permission,
        InvokePermission::Granted {
            statement: Some("stack-grant".into())
        }
    );

    let (changes, warnings) = pool::plan(&d, &o).expect("plan");
    // The pool's own PreSignUp function is kept, and plan says so.
    assert_eq!(
        warnings_about(&warnings, "PreSignUp").len(),
        1,
        "{warnings:#?}"
    );
    assert_eq!(changes.len(), 1, "{changes:?}");
    let change = &changes[0];
    assert_eq!(change.resource, "user-pool-triggers");
    assert_eq!(change.order, 40);
    assert_eq!(change.name, id);
    let fields: Vec<(&str, Option<&str>, Option<&str>)> = change
        .fields
        .iter()
        .map(|f| (f.field.as_str(), f.from.as_deref(), f.to.as_deref()))
        .collect();
    assert_eq!(
        fields,
        [
            ("LambdaConfig.CustomMessage", None, Some(trigger.as_str())),
            (
                "LambdaConfig.PostConfirmation",
                None,
                Some(trigger.as_str())
            ),
            (
                "LambdaConfig.PostAuthentication",
                None,
                Some(trigger.as_str())
            ),
        ]
    );

    apply_all(&c, &changes).await;
    let calls = rec.take();
    assert!(
        calls.contains(&"AWSCognitoIdentityProviderService.UpdateUserPool".to_string()),
        "{calls:?}"
    );

    let after = describe(&c.cognito, &id).await;
    let l = after.lambda_config.as_ref().expect("lambda config");
    for slot in TriggerSlot::ALL {
        let want = if slot == TriggerSlot::PreSignUp {
            pre_sign_up.as_str()
        } else {
            trigger.as_str()
        };
        assert_eq!(slot.get(l), Some(want), "{slot}");
    }
    // Everything else, the whole described pool, is as it was.
    assert_eq!(comparable(&after), comparable(&before));
    assert_eq!(mfa_config(&c.cognito, &id).await, mfa_before);

    // Converged: an empty plan, so nothing to write.
    let o = pool::read(&c, &d).await.expect("read again");
    assert_eq!(o.wired(TriggerSlot::CustomMessage), Some(trigger.as_str()));
    let (changes, _) = pool::plan(&d, &o).expect("plan again");
    assert!(changes.is_empty(), "{changes:?}");
    // And applying the old write again writes nothing either.
    rec.take();
    pool::apply(
        &c,
        &PoolWrite::WireTriggers {
            pool_id: id.clone(),
            trigger_arn: trigger.clone(),
            // What the plan wired (the pool's own PreSignUp stays).
            slots: vec![
                TriggerSlot::CustomMessage,
                TriggerSlot::PostConfirmation,
                TriggerSlot::PostAuthentication,
            ],
            replace: Default::default(),
        },
    )
    .await
    .expect("idempotent apply");
    assert_eq!(
        rec.take(),
        ["AWSCognitoIdentityProviderService.DescribeUserPool"]
    );
}

#[tokio::test]
async fn read_makes_read_calls_only() {
    let rec = Recorder::default();
    let c = clients(&rec).await;
    let made = create_pool(&c.cognito, PoolSpec::rich()).await;
    let id = made.id.clone().unwrap();
    let trigger = create_function(&c.lambda).await;
    let p = policy(&id, &trigger, None);
    rec.take();
    pool::read(&c, &desired(&p, false)).await.expect("read");
    let calls = rec.take();
    assert_eq!(
        calls.iter().filter(|c| c.starts_with("AWSCognito")).count(),
        2,
        "{calls:?}"
    );
    for call in &calls {
        let allowed = call == "AWSCognitoIdentityProviderService.DescribeUserPool"
            || call == "AWSCognitoIdentityProviderService.GetUserPoolMfaConfig"
            || call.starts_with("GET ");
        assert!(
            allowed,
            "read made a non-read call: {call} (all: {calls:?})"
        );
    }
    assert!(
        calls
            .iter()
            .any(|c| c.starts_with("GET ") && c.ends_with("/policy")),
        "GetPolicy: {calls:?}"
    );
}

#[tokio::test]
async fn a_foreign_trigger_is_replaced_only_with_replace_triggers() {
    let rec = Recorder::default();
    let c = clients(&rec).await;
    let foreign = function_arn("someone-elses-custom-message");
    let pre_sign_up = function_arn("someone-elses-pre-sign-up");
    let mut spec = PoolSpec::rich();
    spec.lambda = LambdaConfigType::builder()
        .pre_sign_up(&pre_sign_up)
        .custom_message(&foreign)
        .build();
    let made = create_pool(&c.cognito, spec).await;
    let id = made.id.clone().unwrap();
    let trigger = create_function(&c.lambda).await;
    allow_cognito(&c.lambda, &trigger, made.arn.as_deref().unwrap()).await;
    let p = policy(&id, &trigger, None);

    let o = pool::read(&c, &desired(&p, false)).await.expect("read");
    let e = pool::plan(&desired(&p, false), &o).expect_err("a foreign trigger is wired");
    let msg = e.to_string();
    assert!(msg.contains("--replace-triggers"), "{msg}");
    assert!(msg.contains("CustomMessage"), "{msg}");
    assert!(msg.contains(&foreign), "{msg}");

    let d = desired(&p, true);
    let (changes, _) = pool::plan(&d, &o).expect("plan with --replace-triggers");
    assert_eq!(changes.len(), 1);
    let cm = &changes[0].fields[0];
    assert_eq!(cm.field, "LambdaConfig.CustomMessage");
    assert_eq!(cm.from.as_deref(), Some(foreign.as_str()));
    assert_eq!(cm.to.as_deref(), Some(trigger.as_str()));

    // Someone wires yet another function between plan and apply: apply stops.
    let before = describe(&c.cognito, &id).await;
    let mut sneaky = before.lambda_config.clone().unwrap();
    sneaky.post_confirmation = Some(function_arn("wired-after-the-plan"));
    c.cognito
        .update_user_pool()
        .user_pool_id(&id)
        .set_policies(before.policies.clone())
        .set_deletion_protection(before.deletion_protection.clone())
        .lambda_config(sneaky)
        .send()
        .await
        .unwrap();
    let w = pool_writes(&changes).remove(0);
    let e = pool::apply(&c, &w).await.expect_err("stale plan");
    assert!(e.to_string().contains("run plan again"), "{e}");

    // Put the pool back (the sneaky update above reset it, as UpdateUserPool
    // does), then a fresh plan replaces the foreign trigger and keeps PreSignUp.
    let made = create_pool(
        &c.cognito,
        PoolSpec {
            lambda: LambdaConfigType::builder()
                .pre_sign_up(&pre_sign_up)
                .custom_message(&foreign)
                .build(),
            ..PoolSpec::rich()
        },
    )
    .await;
    let id = made.id.clone().unwrap();
    allow_cognito(&c.lambda, &trigger, made.arn.as_deref().unwrap()).await;
    let p = policy(&id, &trigger, None);
    let d = desired(&p, true);
    let before = describe(&c.cognito, &id).await;
    let o = pool::read(&c, &d).await.expect("read");
    let (changes, _) = pool::plan(&d, &o).expect("plan");
    apply_all(&c, &changes).await;
    let after = describe(&c.cognito, &id).await;
    let l = after.lambda_config.as_ref().unwrap();
    assert_eq!(l.custom_message.as_deref(), Some(trigger.as_str()));
    assert_eq!(l.pre_sign_up.as_deref(), Some(pre_sign_up.as_str()));
    assert_eq!(comparable(&after), comparable(&before));
    let o = pool::read(&c, &desired(&p, false)).await.expect("read");
    let (changes, _) = pool::plan(&desired(&p, false), &o).expect("converged");
    assert!(changes.is_empty());
}

fn warnings_about(warnings: &[String], word: &str) -> Vec<String> {
    warnings
        .iter()
        .filter(|w| w.contains(word))
        .cloned()
        .collect()
}

#[tokio::test]
async fn an_email_only_pool_warns_about_sources_it_never_sends_by_sms() {
    let rec = Recorder::default();
    let c = clients(&rec).await;
    // SMS configured, but verification and recovery by email, MFA off.
    let made = create_pool(
        &c.cognito,
        PoolSpec {
            mfa: UserPoolMfaType::Off,
            ..PoolSpec::rich()
        },
    )
    .await;
    let id = made.id.clone().unwrap();
    let trigger = function_arn("pumpguard-trigger");

    // The default sms-sources: all seven.
    let p = policy(&id, &trigger, None);
    let o = pool::read(&c, &desired(&p, false)).await.expect("read");
    let (_, warnings) = pool::plan(&desired(&p, false), &o).expect("plan");
    assert!(
        warnings_about(&warnings, "unguarded").is_empty(),
        "{warnings:#?}"
    );
    let never = warnings_about(&warnings, "never sends by SMS");
    assert_eq!(never.len(), 1, "{warnings:#?}");
    for s in [
        "CustomMessage_SignUp (phone_number is not auto-verified)",
        "CustomMessage_ResendCode",
        "CustomMessage_ForgotPassword (account recovery uses only verified_email)",
        "CustomMessage_Authentication (MFA is OFF",
    ] {
        assert!(never[0].contains(s), "{s} in {}", never[0]);
    }
    for s in [
        "CustomMessage_AdminCreateUser",
        "CustomMessage_UpdateUserAttribute",
        "CustomMessage_VerifyUserAttribute",
    ] {
        assert!(!never[0].contains(s), "{s} in {}", never[0]);
    }

    // Only the sign-up sources listed: the ones the pool may send by SMS are unguarded.
    let p = policy(
        &id,
        &trigger,
        Some(&["CustomMessage_SignUp", "CustomMessage_ResendCode"]),
    );
    let (_, warnings) = pool::plan(&desired(&p, false), &o).expect("plan");
    let unguarded = warnings_about(&warnings, "unguarded");
    assert_eq!(unguarded.len(), 3, "{warnings:#?}");
    for (w, s) in unguarded.iter().zip([
        "CustomMessage_AdminCreateUser",
        "CustomMessage_UpdateUserAttribute",
        "CustomMessage_VerifyUserAttribute",
    ]) {
        assert!(w.contains(s), "{s}: {w}");
    }

    // A pool with no SMS configuration sends no SMS at all.
    let made = create_pool(
        &c.cognito,
        PoolSpec {
            sms: false,
            mfa: UserPoolMfaType::Off,
            ..PoolSpec::rich()
        },
    )
    .await;
    let id = made.id.clone().unwrap();
    let p = policy(&id, &trigger, Some(&[]));
    let o = pool::read(&c, &desired(&p, false)).await.expect("read");
    assert!(!o.sms.sends_sms());
    let (_, warnings) = pool::plan(&desired(&p, false), &o).expect("plan");
    assert!(
        warnings_about(&warnings, "unguarded").is_empty(),
        "{warnings:#?}"
    );
    assert!(
        warnings_about(&warnings, "never sends").is_empty(),
        "{warnings:#?}"
    );
}

#[tokio::test]
async fn an_sms_mfa_pool_warns_when_authentication_is_left_out() {
    let rec = Recorder::default();
    let c = clients(&rec).await;
    let made = create_pool(
        &c.cognito,
        PoolSpec {
            auto_verified: vec![VerifiedAttributeType::PhoneNumber],
            recovery: vec![
                RecoveryOptionNameType::VerifiedEmail,
                RecoveryOptionNameType::VerifiedPhoneNumber,
            ],
            ..PoolSpec::rich()
        },
    )
    .await;
    let id = made.id.clone().unwrap();
    enable_sms_mfa(&c.cognito, &id).await;
    let trigger = function_arn("pumpguard-trigger");
    let all_but_auth = [
        "CustomMessage_SignUp",
        "CustomMessage_AdminCreateUser",
        "CustomMessage_ResendCode",
        "CustomMessage_ForgotPassword",
        "CustomMessage_UpdateUserAttribute",
        "CustomMessage_VerifyUserAttribute",
    ];
    let p = policy(&id, &trigger, Some(&all_but_auth));
    let o = pool::read(&c, &desired(&p, false)).await.expect("read");
    assert_eq!(o.sms.sms_mfa, Some(true));
    let (_, warnings) = pool::plan(&desired(&p, false), &o).expect("plan");
    let unguarded = warnings_about(&warnings, "unguarded");
    assert_eq!(unguarded.len(), 1, "{warnings:#?}");
    assert!(
        unguarded[0].contains("CustomMessage_Authentication")
            && unguarded[0].contains("SMS MFA enabled"),
        "{}",
        unguarded[0]
    );
    assert!(
        warnings_about(&warnings, "never sends").is_empty(),
        "{warnings:#?}"
    );

    // Listing all seven: no channel warning at all.
    let p = policy(&id, &trigger, None);
    let (_, warnings) = pool::plan(&desired(&p, false), &o).expect("plan");
    assert!(
        warnings_about(&warnings, "SMS (").is_empty(),
        "{warnings:#?}"
    );
    assert!(
        warnings_about(&warnings, "sms-sources").is_empty(),
        "{warnings:#?}"
    );
}

#[tokio::test]
async fn a_trigger_cognito_cannot_invoke_is_never_wired() {
    let rec = Recorder::default();
    let c = clients(&rec).await;
    let made = create_pool(&c.cognito, PoolSpec::rich()).await;
    let id = made.id.clone().unwrap();
    let pool_arn = made.arn.clone().expect("moto returns the pool ARN");
    let trigger = create_function(&c.lambda).await;
    let p = policy(&id, &trigger, None);
    let command = grant_command(&trigger, &id, &pool_arn);

    // No resource policy at all: planning stops, with the exact fix.
    let d = desired(&p, false);
    let o = pool::read(&c, &d).await.expect("read");
    assert_eq!(o.permission, InvokePermission::Missing);
    let e = pool::plan(&d, &o).expect_err("wiring a trigger Cognito cannot invoke");
    let msg = e.to_string();
    assert!(msg.contains("--grant-invoke"), "{msg}");
    assert!(msg.contains(&command), "{msg}\nwant {command}");
    assert!(
        describe(&c.cognito, &id)
            .await
            .lambda_config
            .and_then(|l| l.custom_message)
            .is_none(),
        "nothing was wired"
    );

    // With --grant-invoke: the grant first, its own change, then the wiring.
    let mut d = desired(&p, false);
    d.grant_invoke = true;
    let (changes, warnings) = pool::plan(&d, &o).expect("plan");
    assert!(
        warnings_about(&warnings, "Cognito may not invoke").is_empty(),
        "{warnings:#?}"
    );
    let resources: Vec<(&str, u8)> = changes
        .iter()
        .map(|c| (c.resource.as_str(), c.order))
        .collect();
    assert_eq!(
        resources,
        [
            ("trigger-invoke-permission", 39),
            ("user-pool-triggers", 40)
        ]
    );
    apply_all(&c, &changes).await;
    let o = pool::read(&c, &d).await.expect("read");
    assert_eq!(
        o.permission,
        InvokePermission::Granted {
            statement: Some(format!("pumpguard-cognito-{id}"))
        }
    );
    let (changes, _) = pool::plan(&d, &o).expect("converged");
    assert!(changes.is_empty(), "{changes:?}");
    assert_eq!(pool::broken(&d, &o), None);

    // Wired, and the permission removed behind pumpguard's back: broken.
    c.lambda
        .remove_permission()
        .function_name(&trigger)
        .statement_id(format!("pumpguard-cognito-{id}"))
        .send()
        .await
        .unwrap();
    let d = desired(&p, false);
    let o = pool::read(&c, &d).await.expect("read");
    let broken = pool::broken(&d, &o).expect("wired and not invokable");
    assert!(broken.contains(&command), "{broken}");
    let (changes, warnings) = pool::plan(&d, &o).expect("nothing to wire: a warning");
    assert!(changes.is_empty(), "{changes:?}");
    let w = warnings_about(&warnings, "Cognito may not invoke");
    assert_eq!(w.len(), 1, "{warnings:#?}");
    assert!(w[0].contains(&command), "{}\nwant {command}", w[0]);
}

#[tokio::test]
async fn the_invoke_permission_is_read_and_judged() {
    let rec = Recorder::default();
    let c = clients(&rec).await;
    let made = create_pool(&c.cognito, PoolSpec::rich()).await;
    let id = made.id.clone().unwrap();
    let pool_arn = made.arn.clone().expect("moto returns the pool ARN");
    let trigger = create_function(&c.lambda).await;
    let p = policy(&id, &trigger, None);
    let d = desired(&p, false);
    let command = grant_command(&trigger, &id, &pool_arn);

    // Unscoped: any pool may invoke it.
    c.lambda
        .add_permission()
        .function_name(&trigger)
        .statement_id("cognito-any-pool")
        .action("lambda:InvokeFunction")
        .principal("cognito-idp.amazonaws.com")
        .send()
        .await
        .unwrap();
    let o = pool::read(&c, &d).await.expect("read");
    assert_eq!(
        o.permission,
        InvokePermission::Unscoped {
            statement: Some("cognito-any-pool".into())
        }
    );
    let (_, warnings) = pool::plan(&d, &o).expect("plan");
    let w = warnings_about(&warnings, "without an AWS:SourceArn condition");
    assert_eq!(w.len(), 1, "{warnings:#?}");
    assert!(w[0].contains(&command), "{}", w[0]);

    // Scoped to another pool: still missing for this one.
    c.lambda
        .remove_permission()
        .function_name(&trigger)
        .statement_id("cognito-any-pool")
        .send()
        .await
        .unwrap();
    c.lambda
        .add_permission()
        .function_name(&trigger)
        .statement_id("cognito-other-pool")
        .action("lambda:InvokeFunction")
        .principal("cognito-idp.amazonaws.com")
        .source_arn(format!(
            "arn:aws:cognito-idp:us-east-1:{ACCOUNT}:userpool/us-east-1_Other"
        ))
        .send()
        .await
        .unwrap();
    let o = pool::read(&c, &d).await.expect("read");
    assert_eq!(o.permission, InvokePermission::Missing);

    // Scoped to this pool: granted, no warning.
    c.lambda
        .add_permission()
        .function_name(&trigger)
        .statement_id("cognito-this-pool")
        .action("lambda:InvokeFunction")
        .principal("cognito-idp.amazonaws.com")
        .source_arn(&pool_arn)
        .send()
        .await
        .unwrap();
    rec.take();
    let o = pool::read(&c, &d).await.expect("read");
    assert_eq!(
        o.permission,
        InvokePermission::Granted {
            statement: Some("cognito-this-pool".into())
        }
    );
    let (_, warnings) = pool::plan(&d, &o).expect("plan");
    assert!(
        warnings_about(&warnings, "invoke").is_empty(),
        "{warnings:#?}"
    );
    // Checking never grants: only GETs went to Lambda.
    assert!(rec
        .take()
        .iter()
        .filter(|c| !c.starts_with("AWSCognito"))
        .all(|c| c.starts_with("GET ")),);

    // A function that does not exist: a warning, not an error.
    let missing = function_arn(&unique("no-such-function"));
    let p = policy(&id, &missing, None);
    let d = desired(&p, false);
    let o = pool::read(&c, &d).await.expect("read is not an error");
    assert_eq!(
        o.permission,
        InvokePermission::Unreadable {
            reason: "function not found".into()
        }
    );
    let (_, warnings) = pool::plan(&d, &o).expect("plan is not an error");
    let w = warnings_about(&warnings, "lambda:GetPolicy failed (function not found)");
    assert_eq!(w.len(), 1, "{warnings:#?}");
}

#[test]
fn resource_policies_are_judged_by_source_arn() {
    let pool = "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Abc";
    let doc = |statement: &str| format!(r#"{{"Version":"2012-10-17","Statement":[{statement}]}}"#);
    let allow = r#""Effect":"Allow","Principal":{"Service":"cognito-idp.amazonaws.com"},"Action":"lambda:InvokeFunction""#;
    let granted = |sid: &str| InvokePermission::Granted {
        statement: Some(sid.into()),
    };
    for (cond, want) in [
        (
            format!(r#""Condition":{{"ArnLike":{{"AWS:SourceArn":"{pool}"}}}}"#),
            granted("s"),
        ),
        (
            format!(r#""Condition":{{"ArnEquals":{{"aws:sourcearn":["x","{pool}"]}}}}"#),
            granted("s"),
        ),
        (
            format!(r#""Condition":{{"StringEquals":{{"AWS:SourceArn":"{pool}"}}}}"#),
            granted("s"),
        ),
        (
            r#""Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:cognito-idp:us-east-1:123456789012:userpool/*"}}"#.to_string(),
            granted("s"),
        ),
        (
            r#""Condition":{"StringEquals":{"AWS:SourceAccount":"123456789012"}}"#.to_string(),
            InvokePermission::Unscoped {
                statement: Some("s".into()),
            },
        ),
        (
            r#""Condition":{"ArnLike":{"AWS:SourceArn":"arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_Other"}}"#.to_string(),
            InvokePermission::Missing,
        ),
    ] {
        let text = doc(&format!(r#"{{"Sid":"s",{allow},{cond}}}"#));
        assert_eq!(pool::permission_in(&text, pool), want, "{text}");
    }
    let other_principal = doc(&format!(
        r#"{{"Sid":"s","Effect":"Allow","Principal":{{"Service":"s3.amazonaws.com"}},"Action":"lambda:InvokeFunction","Condition":{{"ArnLike":{{"AWS:SourceArn":"{pool}"}}}}}}"#
    ));
    assert_eq!(
        pool::permission_in(&other_principal, pool),
        InvokePermission::Missing
    );
    let denied = doc(&format!(
        r#"{{"Sid":"s","Effect":"Deny","Principal":{{"Service":"cognito-idp.amazonaws.com"}},"Action":"lambda:InvokeFunction","Condition":{{"ArnLike":{{"AWS:SourceArn":"{pool}"}}}}}}"#
    ));
    assert_eq!(
        pool::permission_in(&denied, pool),
        InvokePermission::Missing
    );
}

#[test]
fn the_channel_rules_for_settings_moto_cannot_express() {
    use pool::{PoolSms, SmsChannel};
    use pumpguard_engine::TriggerSource as S;
    let may = |p: &PoolSms, s| matches!(p.channel(s), SmsChannel::MaySms(_));
    let base = PoolSms {
        sms_configured: true,
        mfa: "OFF".into(),
        sms_mfa: Some(false),
        recovery: Some(vec!["verified_email".into()]),
        ..PoolSms::default()
    };
    assert!(!may(&base, S::ForgotPassword));
    assert!(!may(&base, S::Authentication));
    assert!(may(&base, S::AdminCreateUser));
    // No recovery setting: the legacy behaviour prefers SMS.
    let legacy = PoolSms {
        recovery: None,
        ..base.clone()
    };
    assert!(may(&legacy, S::ForgotPassword));
    // Passwordless SMS codes.
    let otp = PoolSms {
        sms_otp_sign_in: true,
        ..base.clone()
    };
    assert!(may(&otp, S::Authentication));
    // MFA on, but its configuration unreadable: assume SMS.
    let unknown = PoolSms {
        mfa: "ON".into(),
        sms_mfa: None,
        ..base.clone()
    };
    assert!(may(&unknown, S::Authentication));
    // TOTP-only MFA.
    let totp = PoolSms {
        mfa: "ON".into(),
        ..base.clone()
    };
    assert!(!may(&totp, S::Authentication));
    // A CustomSMSSender delivers SMS even without an SNS configuration.
    let custom = PoolSms {
        sms_configured: false,
        custom_sms_sender: true,
        ..base.clone()
    };
    assert!(custom.sends_sms());
    assert!(may(&custom, S::VerifyUserAttribute));
    let none = PoolSms {
        sms_configured: false,
        ..legacy
    };
    assert!(S::ALL.into_iter().all(|s| !may(&none, s)));
}

#[tokio::test]
async fn a_rendered_plan() {
    let rec = Recorder::default();
    let c = clients(&rec).await;
    let made = create_pool(
        &c.cognito,
        PoolSpec {
            auto_verified: vec![VerifiedAttributeType::PhoneNumber],
            lambda: LambdaConfigType::builder()
                .custom_message(function_arn("legacy-custom-message"))
                .build(),
            mfa: UserPoolMfaType::Off,
            ..PoolSpec::rich()
        },
    )
    .await;
    let id = made.id.clone().unwrap();
    let trigger = create_function(&c.lambda).await;
    let p = policy(
        &id,
        &trigger,
        Some(&[
            "CustomMessage_SignUp",
            "CustomMessage_ResendCode",
            "CustomMessage_ForgotPassword",
            "CustomMessage_Authentication",
        ]),
    );
    let mut d = desired(&p, true);
    // The permission is missing: the plan grants it before wiring.
    d.grant_invoke = true;
    let o: Observed = pool::read(&c, &d).await.expect("read");
    let (changes, warnings) = pool::plan(&d, &o).expect("plan");
    let plan = Plan {
        regions: vec![RegionPlan {
            region: "us-east-1".into(),
            changes,
            warnings,
            in_force: vec![],
            broken: vec![],
        }],
    };
    let fname = trigger.rsplit(':').next().unwrap().to_string();
    let text = plan
        .to_string()
        .replace(&id, "us-east-1_POOL")
        .replace(&fname, "TRIGGER");
    insta::assert_snapshot!(text);
}

#[tokio::test]
async fn an_empty_pre_sign_up_slot_is_wired_unless_pre_sign_up_is_off() {
    let rec = Recorder::default();
    let c = clients(&rec).await;
    let spec = PoolSpec {
        lambda: LambdaConfigType::builder().build(),
        ..PoolSpec::rich()
    };
    let made = create_pool(&c.cognito, spec).await;
    let id = made.id.clone().unwrap();
    let trigger = create_function(&c.lambda).await;
    allow_cognito(&c.lambda, &trigger, made.arn.as_deref().unwrap()).await;

    // `[pre-sign-up] mode = "off"`: the slot stays empty.
    let text = |extra: &str| {
        format!(
            "[countries]\nallow = [\"US\"]\ncrown-dependencies = \"separate\"\n{extra}\
             [user-pool]\nid = \"{id}\"\ntrigger-arn = \"{trigger}\"\ntable = \"pumpguard-t1\"\n"
        )
    };
    let off = Policy::parse(&text("[pre-sign-up]\nmode = \"off\"\n"), "off").unwrap();
    let o = pool::read(&c, &desired(&off, false)).await.expect("read");
    let (changes, _) = pool::plan(&desired(&off, false), &o).expect("plan");
    let fields: Vec<&str> = changes[0].fields.iter().map(|f| f.field.as_str()).collect();
    assert!(!fields.contains(&"LambdaConfig.PreSignUp"), "{fields:?}");

    // The default: wired with the other three, and converged after apply.
    let on = Policy::parse(&text(""), "on").unwrap();
    let d = desired(&on, false);
    let (changes, _) = pool::plan(&d, &o).expect("plan");
    let fields: Vec<&str> = changes[0].fields.iter().map(|f| f.field.as_str()).collect();
    assert!(fields.contains(&"LambdaConfig.PreSignUp"), "{fields:?}");
    apply_all(&c, &changes).await;
    let after = describe(&c.cognito, &id).await;
    let l = after.lambda_config.as_ref().expect("lambda config");
    assert_eq!(l.pre_sign_up.as_deref(), Some(trigger.as_str()));
    let o = pool::read(&c, &d).await.expect("read");
    let (changes, _) = pool::plan(&d, &o).expect("converged");
    assert!(changes.is_empty(), "{changes:?}");
}

/// `[protect] scope = "pool"` on moto: the plan shows the switch from SNS to
/// End User Messaging as a change to review, apply sets
/// `SmsConfiguration.EumsSms` with pumpguard's configuration set and keeps
/// every other setting (the SNS role included), and the pool is then
/// converged.
#[tokio::test]
async fn pool_scope_points_the_pool_at_end_user_messaging_and_keeps_the_rest() {
    let rec = Recorder::default();
    let c = clients(&rec).await;
    let made = create_pool(&c.cognito, PoolSpec::rich()).await;
    let id = made.id.clone().unwrap();
    let trigger = create_function(&c.lambda).await;
    allow_cognito(&c.lambda, &trigger, made.arn.as_deref().unwrap()).await;
    let role = format!("arn:aws:iam::{ACCOUNT}:role/pumpguard-sms");
    let text = format!(
        "[countries]\nallow = [\"US\"]\ncrown-dependencies = \"separate\"\n\
         [protect]\nscope = \"pool\"\ncaller-role-arn = \"{role}\"\n\
         configuration-set = \"pumpguard-test\"\n\
         [user-pool]\nid = \"{id}\"\ntrigger-arn = \"{trigger}\"\ntable = \"pumpguard-t1\"\n"
    );
    let p = Policy::parse(&text, "pool-scope").unwrap();
    let d = desired(&p, true);
    let o = pool::read(&c, &d).await.expect("read");
    assert_eq!(o.eums, None, "a fresh pool sends through SNS");
    let (changes, warnings) = pool::plan(&d, &o).expect("plan");
    let sms: Vec<_> = changes
        .iter()
        .filter(|ch| ch.resource == pool::SMS_RESOURCE)
        .collect();
    assert_eq!(sms.len(), 1, "{changes:#?}");
    assert_eq!(sms[0].fields[0].from.as_deref(), Some("SNS"));
    assert!(
        warnings
            .iter()
            .any(|w| w.contains("switch from SNS to End User Messaging")),
        "{warnings:?}"
    );

    let before = describe(&c.cognito, &id).await;
    let mut ordered = changes.clone();
    ordered.sort_by_key(|ch| ch.order);
    apply_all(&c, &ordered).await;
    let after = describe(&c.cognito, &id).await;
    let s = after.sms_configuration.as_ref().expect("sms configuration");
    let e = s.eums_sms.as_ref().expect("EumsSms set");
    assert_eq!(e.caller_arn(), role);
    assert_eq!(e.configuration_set_name(), Some("pumpguard-test"));
    assert_eq!(e.region(), Some("us-east-1"));
    assert_eq!(s.sns_caller_arn(), SNS_ROLE, "the SNS role is kept");
    // Nothing else moved: compare without the SMS configuration and triggers.
    let strip = |p: &UserPoolType| {
        let mut p = comparable(p);
        p.sms_configuration = None;
        p.lambda_config = None;
        p
    };
    assert_eq!(strip(&before), strip(&after));

    let o = pool::read(&c, &d).await.expect("read");
    let (changes, _) = pool::plan(&d, &o).expect("converged");
    assert!(changes.is_empty(), "{changes:#?}");
}

fn sender_policy(pool_id: &str, trigger: &str, sender: &str, key: &str) -> Policy {
    let text = format!(
        "[sender]\nenabled = true\n\
         [countries]\nallow = [\"US\"]\ncrown-dependencies = \"separate\"\n\
         [user-pool]\nid = \"{pool_id}\"\ntrigger-arn = \"{trigger}\"\n\
         table = \"pumpguard-t1\"\nsender-arn = \"{sender}\"\nkms-key-arn = \"{key}\"\n"
    );
    Policy::parse(&text, "sender").unwrap_or_else(|e| panic!("{e}"))
}

/// `[sender] enabled` on moto: a sender Cognito may not invoke is never
/// wired (unless `--grant-invoke`); apply sets `CustomSMSSender` (`V1_0`)
/// and `KMSKeyID`, points the completions at the sender, empties
/// pumpguard's `CustomMessage` (so no SMS is judged twice), keeps the
/// PreSignUp trigger and every other setting, and the pool is then
/// converged.
#[tokio::test]
async fn sender_mode_wires_the_custom_sms_sender_and_its_key() {
    let rec = Recorder::default();
    let c = clients(&rec).await;
    let spec = PoolSpec {
        lambda: LambdaConfigType::builder().build(),
        ..PoolSpec::rich()
    };
    let made = create_pool(&c.cognito, spec).await;
    let id = made.id.clone().unwrap();
    let pool_arn = made.arn.clone().unwrap();
    let trigger = create_function(&c.lambda).await;
    let sender = create_function(&c.lambda).await;
    allow_cognito(&c.lambda, &trigger, &pool_arn).await;
    // Wired as the CustomMessage trigger first, as before sender mode.
    let classic = policy(&id, &trigger, None);
    let (changes, _) = pool::plan(
        &desired(&classic, false),
        &pool::read(&c, &desired(&classic, false)).await.unwrap(),
    )
    .unwrap();
    apply_all(&c, &changes).await;
    let before = describe(&c.cognito, &id).await;

    let key = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let p = sender_policy(&id, &trigger, &sender, &key);
    let d = desired(&p, false);
    let o = pool::read(&c, &d).await.expect("read");
    assert_eq!(o.sender_permission, InvokePermission::Missing);
    let err = pool::plan(&d, &o).expect_err("the sender may not be invoked");
    assert!(err.to_string().contains("--grant-invoke"), "{err}");

    let d = Desired {
        grant_invoke: true,
        ..desired(&p, false)
    };
    let (changes, _) = pool::plan(&d, &o).expect("plan");
    let writes = pool_writes(&changes);
    assert!(
        matches!(&writes[0], PoolWrite::GrantInvoke { function, .. } if *function == sender),
        "{writes:?}"
    );
    let sender_change = changes
        .iter()
        .find(|c| c.resource == pool::SENDER_RESOURCE)
        .expect("the sender's change");
    let fields: Vec<(&str, Option<&str>)> = sender_change
        .fields
        .iter()
        .map(|f| (f.field.as_str(), f.to.as_deref()))
        .collect();
    assert_eq!(
        fields,
        [
            ("LambdaConfig.CustomSMSSender", Some(sender.as_str())),
            ("LambdaConfig.KMSKeyID", Some(key.as_str())),
            ("LambdaConfig.PostConfirmation", Some(sender.as_str())),
            ("LambdaConfig.PostAuthentication", Some(sender.as_str())),
            ("LambdaConfig.CustomMessage", None),
        ]
    );
    apply_all(&c, &changes).await;

    let after = describe(&c.cognito, &id).await;
    let l = after.lambda_config.clone().expect("lambda config");
    let s = l.custom_sms_sender.clone().expect("CustomSMSSender");
    assert_eq!(s.lambda_arn, sender);
    assert_eq!(s.lambda_version.as_str(), "V1_0");
    assert_eq!(l.kms_key_id.as_deref(), Some(key.as_str()));
    assert_eq!(l.post_confirmation.as_deref(), Some(sender.as_str()));
    assert_eq!(l.post_authentication.as_deref(), Some(sender.as_str()));
    assert_eq!(l.custom_message, None);
    assert_eq!(l.pre_sign_up.as_deref(), Some(trigger.as_str()));
    let strip = |p: &UserPoolType| {
        let mut p = comparable(p);
        if let Some(l) = p.lambda_config.as_mut() {
            l.custom_sms_sender = None;
            l.kms_key_id = None;
        }
        p
    };
    assert_eq!(strip(&before), strip(&after));

    let o = pool::read(&c, &d).await.expect("read");
    assert!(
        matches!(o.sender_permission, InvokePermission::Granted { .. }),
        "{:?}",
        o.sender_permission
    );
    let (changes, _) = pool::plan(&d, &o).expect("converged");
    assert!(changes.is_empty(), "{changes:?}");
}

/// Another team's Custom SMS Sender is replaced only with
/// `--replace-triggers`; a key a CustomEmailSender decrypts with is never
/// replaced.
#[tokio::test]
async fn a_foreign_sender_or_shared_key_is_not_replaced_silently() {
    let rec = Recorder::default();
    let c = clients(&rec).await;
    let foreign_key =
        format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/99999999-0000-1111-2222-333333333333");
    let spec = PoolSpec {
        lambda: LambdaConfigType::builder()
            .custom_sms_sender(
                cognito::types::CustomSmsLambdaVersionConfigType::builder()
                    .lambda_version(cognito::types::CustomSmsSenderLambdaVersionType::V10)
                    .lambda_arn(function_arn("someone-elses-sms-sender"))
                    .build()
                    .unwrap(),
            )
            .kms_key_id(&foreign_key)
            .build(),
        ..PoolSpec::rich()
    };
    let made = create_pool(&c.cognito, spec).await;
    let id = made.id.clone().unwrap();
    let pool_arn = made.arn.clone().unwrap();
    let trigger = create_function(&c.lambda).await;
    let sender = create_function(&c.lambda).await;
    allow_cognito(&c.lambda, &trigger, &pool_arn).await;
    allow_cognito(&c.lambda, &sender, &pool_arn).await;
    let key = format!("arn:aws:kms:us-east-1:{ACCOUNT}:key/1234abcd-12ab-34cd-56ef-1234567890ab");
    let p = sender_policy(&id, &trigger, &sender, &key);
    let o = pool::read(&c, &desired(&p, false)).await.expect("read");
    let err = pool::plan(&desired(&p, false), &o).expect_err("foreign sender");
    assert!(err.to_string().contains("--replace-triggers"), "{err}");
    assert!(
        err.to_string().contains("someone-elses-sms-sender"),
        "{err}"
    );
    let (changes, _) = pool::plan(&desired(&p, true), &o).expect("replace");
    assert!(changes.iter().any(|c| c.resource == pool::SENDER_RESOURCE));

    // With a CustomEmailSender on the pool's key, the key stays.
    let mut o = o;
    o.other_triggers.insert(
        "CustomEmailSender".into(),
        function_arn("someone-elses-email-sender"),
    );
    let err = pool::plan(&desired(&p, true), &o).expect_err("shared key");
    assert!(err.to_string().contains("kms-key-arn"), "{err}");
    assert!(err.to_string().contains(&foreign_key), "{err}");
}
