//! The Custom SMS Sender on real protocol servers: KMS, SNS and DynamoDB on
//! moto; End User Messaging, which nothing emulates, through SDK-level
//! replays (`aws-smithy-mocks`) of `SendTextMessage`. The code is encrypted
//! by the AWS Encryption SDK exactly as Cognito does it: a KMS keyring, the
//! non-committing signed suite (0x0378) and the encryption context
//! `userpool-id`.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use aws_sdk_pinpointsmsvoicev2 as eum;
use aws_sdk_pinpointsmsvoicev2::operation::put_message_feedback::PutMessageFeedbackOutput;
use aws_sdk_pinpointsmsvoicev2::operation::send_text_message::{
    SendTextMessageError, SendTextMessageOutput,
};
use aws_smithy_mocks::{create_mock_http_client, mock, MockResponseInterceptor, Rule, RuleMode};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::context::BeforeTransmitInterceptorContextRef;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::sender::Provider;
use pumpguard_engine::{Engine, Policy};
use pumpguard_trigger::dynamo::DynamoStore;
use pumpguard_trigger::sender::{complete, Crypto, Delivery, Outcome, Sender};
use pumpguard_trigger::trigger::TriggerContext;
use serde_json::{json, Value};

use crate::common;

const POOL: &str = "us-east-1_Sender1";
const CODE: &str = "482916";
/// Allowed by the example policy.
const US: &str = "+14155552671";
/// Jamaica: refused by the example policy's countries.
const JM: &str = "+18762101234";

async fn sdk() -> aws_config::SdkConfig {
    aws_config::defaults(aws_config::BehaviorVersion::latest())
        .region(aws_config::Region::new("us-east-1"))
        .endpoint_url(common::moto_endpoint())
        .credentials_provider(aws_sdk_kms::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .load()
        .await
}

async fn new_key(kms: &aws_sdk_kms::Client) -> String {
    kms.create_key()
        .send()
        .await
        .expect("CreateKey on moto")
        .key_metadata
        .expect("key metadata")
        .arn
        .expect("key arn")
}

async fn cognito_encrypts(
    kms: aws_sdk_kms::Client,
    key_arn: &str,
    pool: &str,
    code: &str,
) -> String {
    common::esdk::cognito_encrypts(kms, key_arn, pool, code)
        .await
        .unwrap()
}

fn event(source: &str, phone: &str, code: &str) -> Value {
    json!({
        "version": "1",
        "triggerSource": source,
        "region": "us-east-1",
        "userPoolId": POOL,
        "userName": "7f1c2b4e-sender",
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "1example23456789"},
        "request": {
            "type": "customSMSSenderRequestV1",
            "code": code,
            "clientMetadata": {},
            "userAttributes": {
                "sub": "7f1c2b4e-sender",
                "cognito:user_status": "UNCONFIRMED",
                "phone_number_verified": "false",
                "phone_number": phone
            }
        }
    })
}

/// `SendTextMessage` calls: (destination, body, configuration set, type).
type Sent = Arc<Mutex<Vec<(String, String, Option<String>, String)>>>;

/// `PutMessageFeedback` calls: (message id, status).
type Feedback = Arc<Mutex<Vec<(String, String)>>>;

/// The End User Messaging client answered by one rule: recording and
/// succeeding, or failing with a throttle.
fn end_user_messaging(fail: bool) -> (eum::Client, Sent, Feedback) {
    let sent: Sent = Arc::default();
    let s = sent.clone();
    let feedback: Feedback = Arc::default();
    let f = feedback.clone();
    let feedback_rule = mock!(eum::Client::put_message_feedback).then_compute_output(move |req| {
        f.lock().unwrap().push((
            req.message_id().unwrap_or_default().to_string(),
            req.message_feedback_status()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default(),
        ));
        PutMessageFeedbackOutput::builder()
            .message_id(req.message_id().unwrap_or_default())
            .message_feedback_status(eum::types::MessageFeedbackStatus::Received)
            .build()
            .unwrap()
    });
    let rule: Rule = if fail {
        mock!(eum::Client::send_text_message).then_error(|| {
            SendTextMessageError::ThrottlingException(
                eum::types::error::ThrottlingException::builder()
                    .message("rate exceeded")
                    .build(),
            )
        })
    } else {
        mock!(eum::Client::send_text_message).then_compute_output(move |req| {
            s.lock().unwrap().push((
                req.destination_phone_number()
                    .unwrap_or_default()
                    .to_string(),
                req.message_body().unwrap_or_default().to_string(),
                req.configuration_set_name().map(str::to_string),
                req.message_type()
                    .map(|t| t.as_str().to_string())
                    .unwrap_or_default(),
            ));
            SendTextMessageOutput::builder().message_id("msg-1").build()
        })
    };
    let config = eum::Config::builder()
        .behavior_version(eum::config::BehaviorVersion::latest())
        .region(eum::config::Region::new("us-east-1"))
        .credentials_provider(eum::config::Credentials::new(
            "testing", "testing", None, None, "tests",
        ))
        .http_client(create_mock_http_client())
        .interceptor(
            MockResponseInterceptor::new()
                .rule_mode(RuleMode::MatchAny)
                .with_rule(&rule)
                .with_rule(&feedback_rule),
        )
        .build();
    (eum::Client::from_conf(config), sent, feedback)
}

/// Counts the SNS `Publish` requests that reach moto.
#[derive(Debug, Clone, Default)]
struct Publishes(Arc<AtomicUsize>);

impl Intercept for Publishes {
    fn name(&self) -> &'static str {
        "pumpguard-test-publishes"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let body = context.request().body().bytes().unwrap_or_default();
        if String::from_utf8_lossy(body).contains("Action=Publish") {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
        Ok(())
    }
}

struct World {
    sender: Sender,
    ctx: TriggerContext<DynamoStore>,
    engine: Engine,
    sent: Sent,
    feedback: Feedback,
    publishes: Publishes,
    kms: aws_sdk_kms::Client,
    key: String,
    table: String,
}

/// The IAM actions of the requests a client sends: the operation from
/// `X-Amz-Target` (JSON protocols: DynamoDB, KMS) or the `Action=` of the
/// body (query protocol: SNS).
#[derive(Debug, Clone)]
struct Actions {
    service: &'static str,
    seen: Arc<Mutex<std::collections::BTreeSet<String>>>,
}

impl Intercept for Actions {
    fn name(&self) -> &'static str {
        "pumpguard-test-actions"
    }

    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = match context.request().headers().get("x-amz-target") {
            Some(target) => target.split('.').nth(1).map(str::to_string),
            None => {
                let body = context.request().body().bytes().unwrap_or_default();
                String::from_utf8_lossy(body)
                    .split('&')
                    .find_map(|kv| kv.strip_prefix("Action=").map(str::to_string))
            }
        };
        if let Some(op) = op {
            self.seen
                .lock()
                .unwrap()
                .insert(format!("{}:{op}", self.service));
        }
        Ok(())
    }
}

async fn world(eum_fails: bool) -> World {
    world_recording(eum_fails, &Arc::default()).await
}

async fn world_recording(
    eum_fails: bool,
    seen: &Arc<Mutex<std::collections::BTreeSet<String>>>,
) -> World {
    let actions = |service| Actions {
        service,
        seen: seen.clone(),
    };
    let sdk = sdk().await;
    let kms = aws_sdk_kms::Client::from_conf(
        aws_sdk_kms::config::Builder::from(&sdk)
            .interceptor(actions("kms"))
            .build(),
    );
    // Cognito's side (creating the key, encrypting codes) is not the sender's.
    let cognito_kms = aws_sdk_kms::Client::new(&sdk);
    let key = new_key(&cognito_kms).await;
    let publishes = Publishes::default();
    let sns = aws_sdk_sns::Client::from_conf(
        aws_sdk_sns::config::Builder::from(&sdk)
            .interceptor(publishes.clone())
            .interceptor(actions("sns"))
            .build(),
    );
    let (eum, sent, feedback) = end_user_messaging(eum_fails);
    let admin = common::dynamo_at(&common::moto_endpoint());
    let table = common::fresh_table(&admin, "sender").await;
    let dynamo = aws_sdk_dynamodb::Client::from_conf(
        admin
            .config()
            .to_builder()
            .interceptor(actions("dynamodb"))
            .build(),
    );
    let store = DynamoStore::new(dynamo, table.clone());
    World {
        sender: Sender {
            crypto: Crypto::new(kms.clone(), &key).await.unwrap(),
            delivery: Delivery { eum, sns },
        },
        ctx: TriggerContext::new(store, PhoneHasher::ephemeral(), PhoneHasher::unkeyed()),
        engine: Engine::new(Arc::new(Policy::example())),
        sent,
        feedback,
        publishes,
        kms: cognito_kms,
        key,
        table,
    }
}

const NOW: i64 = 1_800_000_000;

#[tokio::test]
async fn an_allowed_code_is_sent_once_even_when_the_event_comes_again() {
    let w = world(false).await;
    let code = cognito_encrypts(w.kms.clone(), &w.key, POOL, CODE).await;
    let e = event("CustomSMSSender_SignUp", US, &code);

    let first = w.sender.handle(&w.engine, &w.ctx, &e, NOW).await.unwrap();
    assert_eq!(first, Outcome::Sent(Provider::EndUserMessaging));
    // Lambda's retry, and a duplicate delivery racing another.
    let retry = w
        .sender
        .handle(&w.engine, &w.ctx, &e, NOW + 60)
        .await
        .unwrap();
    let (a, b) = tokio::join!(
        w.sender.handle(&w.engine, &w.ctx, &e, NOW + 61),
        w.sender.handle(&w.engine, &w.ctx, &e, NOW + 61)
    );
    assert_eq!(retry, Outcome::Duplicate);
    assert_eq!(
        (a.unwrap(), b.unwrap()),
        (Outcome::Duplicate, Outcome::Duplicate)
    );

    let sent = w.sent.lock().unwrap().clone();
    assert_eq!(
        sent,
        [(
            US.to_string(),
            format!("Your verification code is {CODE}"),
            None,
            "TRANSACTIONAL".to_string()
        )]
    );
    assert_eq!(
        w.publishes.0.load(Ordering::SeqCst),
        0,
        "no fallback was needed"
    );

    // Two first deliveries at once: one sends, the other does nothing.
    let code = cognito_encrypts(w.kms.clone(), &w.key, POOL, "771203").await;
    let e = event("CustomSMSSender_ResendCode", "+14155550188", &code);
    let (a, b) = tokio::join!(
        w.sender.handle(&w.engine, &w.ctx, &e, NOW + 600),
        w.sender.handle(&w.engine, &w.ctx, &e, NOW + 600)
    );
    let mut outcomes = [a.unwrap(), b.unwrap()];
    outcomes.sort_by_key(|o| format!("{o:?}"));
    assert!(
        matches!(
            outcomes,
            [
                Outcome::Ignored(_) | Outcome::Duplicate,
                Outcome::Sent(Provider::EndUserMessaging)
            ]
        ),
        "{outcomes:?}"
    );
    assert_eq!(w.sent.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn a_refused_number_gets_success_and_nothing_is_sent() {
    let w = world(false).await;
    let code = cognito_encrypts(w.kms.clone(), &w.key, POOL, CODE).await;
    let e = event("CustomSMSSender_SignUp", JM, &code);
    let out = w.sender.handle(&w.engine, &w.ctx, &e, NOW).await;
    assert_eq!(out.unwrap(), Outcome::Dropped, "a refusal is a success");
    let again = w.sender.handle(&w.engine, &w.ctx, &e, NOW + 5).await;
    assert_eq!(
        again.unwrap(),
        Outcome::Duplicate,
        "and is not judged twice"
    );
    assert!(w.sent.lock().unwrap().is_empty());
    assert_eq!(w.publishes.0.load(Ordering::SeqCst), 0);
}

#[tokio::test]
async fn when_end_user_messaging_fails_sns_sends_exactly_once() {
    let w = world(true).await;
    let code = cognito_encrypts(w.kms.clone(), &w.key, POOL, CODE).await;
    let e = event("CustomSMSSender_Authentication", US, &code);
    let first = w.sender.handle(&w.engine, &w.ctx, &e, NOW).await.unwrap();
    assert_eq!(first, Outcome::Sent(Provider::Sns));
    let again = w
        .sender
        .handle(&w.engine, &w.ctx, &e, NOW + 30)
        .await
        .unwrap();
    assert_eq!(again, Outcome::Duplicate);
    assert_eq!(w.publishes.0.load(Ordering::SeqCst), 1);
}

/// A code encrypted for another pool is never decrypted as this one's: the
/// event fails (so Lambda retries, and the alarms see it), nothing is sent,
/// and its retry is not judged again.
#[tokio::test]
async fn a_code_encrypted_for_another_pool_is_not_sent() {
    let w = world(false).await;
    let code = cognito_encrypts(w.kms.clone(), &w.key, "us-east-1_Other99", CODE).await;
    let e = event("CustomSMSSender_SignUp", US, &code);
    let err = w
        .sender
        .handle(&w.engine, &w.ctx, &e, NOW)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("decrypt"), "{err}");
    assert!(w
        .sender
        .handle(&w.engine, &w.ctx, &e, NOW + 60)
        .await
        .is_err());
    assert!(w.sent.lock().unwrap().is_empty());
    assert_eq!(w.publishes.0.load(Ordering::SeqCst), 0);
}

fn completion(source: &str) -> Value {
    json!({
        "version": "1",
        "triggerSource": source,
        "region": "us-east-1",
        "userPoolId": POOL,
        "userName": "7f1c2b4e-sender",
        "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": "1example23456789"},
        "request": {
            "userAttributes": {
                "sub": "7f1c2b4e-sender",
                "cognito:user_status": "CONFIRMED",
                "phone_number_verified": "true",
                "phone_number": US
            }
        },
        "response": {}
    })
}

/// The completion that uses a code sent through End User Messaging gives
/// that message's id one RECEIVED feedback: a repeat of the completion, or
/// a completion of another kind, gives none, and the completion's own
/// answer is the trigger's.
#[tokio::test]
async fn a_used_code_gives_its_message_one_received_feedback() {
    let w = world(false).await;
    let budget = std::time::Duration::from_secs(5);
    let done = |source: &'static str, at: i64| {
        complete(
            &w.sender.delivery,
            &w.engine,
            &w.ctx,
            completion(source),
            at,
            budget,
        )
    };
    // Nothing sent yet: nothing to confirm.
    let answer = done("PostConfirmation_ConfirmSignUp", NOW).await.unwrap();
    assert_eq!(answer["triggerSource"], "PostConfirmation_ConfirmSignUp");
    assert!(w.feedback.lock().unwrap().is_empty());

    let code = cognito_encrypts(w.kms.clone(), &w.key, POOL, CODE).await;
    let e = event("CustomSMSSender_SignUp", US, &code);
    let sent = w.sender.handle(&w.engine, &w.ctx, &e, NOW + 10).await;
    assert_eq!(sent.unwrap(), Outcome::Sent(Provider::EndUserMessaging));

    // A sign-in does not prove a sign-up code arrived.
    done("PostAuthentication_Authentication", NOW + 20)
        .await
        .unwrap();
    assert!(w.feedback.lock().unwrap().is_empty());
    done("PostConfirmation_ConfirmSignUp", NOW + 30)
        .await
        .unwrap();
    done("PostConfirmation_ConfirmSignUp", NOW + 31)
        .await
        .unwrap();
    assert_eq!(
        w.feedback.lock().unwrap().clone(),
        [("msg-1".to_string(), "RECEIVED".to_string())]
    );
}

/// A message sent through SNS (End User Messaging failed) has no feedback
/// to give; the completion still succeeds.
#[tokio::test]
async fn an_sns_send_gets_no_feedback() {
    let w = world(true).await;
    let code = cognito_encrypts(w.kms.clone(), &w.key, POOL, CODE).await;
    let e = event("CustomSMSSender_Authentication", US, &code);
    let sent = w.sender.handle(&w.engine, &w.ctx, &e, NOW).await;
    assert_eq!(sent.unwrap(), Outcome::Sent(Provider::Sns));
    let answer = complete(
        &w.sender.delivery,
        &w.engine,
        &w.ctx,
        completion("PostAuthentication_Authentication"),
        NOW + 30,
        std::time::Duration::from_secs(5),
    )
    .await;
    assert!(answer.is_ok(), "{answer:?}");
    assert!(w.feedback.lock().unwrap().is_empty());
}

/// The stack's sender role allows exactly what the sender does, recorded
/// from the real SDKs: its table's item operations, KMS Decrypt, End User
/// Messaging's send and feedback, SNS Publish; on its own key, table and
/// log group; SNS only to phone numbers.
#[tokio::test]
async fn the_sender_role_allows_exactly_what_the_sender_does() {
    let seen: Arc<Mutex<std::collections::BTreeSet<String>>> = Arc::default();
    for eum_fails in [false, true] {
        let w = world_recording(eum_fails, &seen).await;
        let code = cognito_encrypts(w.kms.clone(), &w.key, POOL, CODE).await;
        let e = event("CustomSMSSender_SignUp", US, &code);
        w.sender.handle(&w.engine, &w.ctx, &e, NOW).await.unwrap();
        complete(
            &w.sender.delivery,
            &w.engine,
            &w.ctx,
            completion("PostConfirmation_ConfirmSignUp"),
            NOW + 30,
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
        if !eum_fails {
            assert!(!w.sent.lock().unwrap().is_empty());
            assert!(!w.feedback.lock().unwrap().is_empty());
        }
        // The published policy is read with the table's GetItem.
        use pumpguard_engine::published::PolicyFetch as _;
        let _ = pumpguard_trigger::published::DynamoPolicyStore::new(
            w.ctx.store.client().clone(),
            &w.table,
        )
        .fetch()
        .await;
    }
    let mut used = seen.lock().unwrap().clone();
    // End User Messaging, which nothing emulates, answered by replays.
    used.insert("sms-voice:SendTextMessage".into());
    used.insert("sms-voice:PutMessageFeedback".into());

    let t = common::template();
    let r = &t["Resources"];
    assert_eq!(r["SenderRole"]["Condition"], "Sender");
    let role = &r["SenderRole"]["Properties"];
    assert!(role.get("ManagedPolicyArns").is_none());
    let statements = role["Policies"][0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap();
    let mut allowed = std::collections::BTreeSet::new();
    for s in statements {
        let actions = common::strings(&s["Action"]);
        assert!(actions.iter().all(|a| !a.contains('*')), "{actions:?}");
        let resource = &s["Resource"];
        if s["Effect"] == "Deny" {
            assert_eq!(actions, ["sns:Publish".to_string()].into());
            assert_eq!(
                resource,
                &json!({"Fn::Sub": "arn:${AWS::Partition}:sns:*:*:*"})
            );
            continue;
        }
        let expected = match s["Sid"].as_str().unwrap() {
            "StateTableItems" => json!({"Fn::GetAtt": ["StateTable", "Arn"]}),
            "OwnLogs" => json!({"Fn::GetAtt": ["SenderLogGroup", "Arn"]}),
            "EndUserMessaging" => {
                json!({"Fn::Sub": "arn:${AWS::Partition}:sms-voice:${AWS::Region}:${AWS::AccountId}:*"})
            }
            "SnsFallbackToPhoneNumbers" => json!("*"),
            other => panic!("unexpected statement {other}"),
        };
        assert_eq!(resource, &expected, "{s}");
        if s["Sid"] != "OwnLogs" {
            allowed.extend(actions);
        }
    }
    let keys = &r["SenderKeyAccess"]["Properties"];
    assert_eq!(keys["RoleName"], json!({"Ref": "SenderRole"}));
    let key_statements = keys["PolicyDocument"]["Statement"].as_array().unwrap();
    let resources: Vec<&Value> = key_statements.iter().map(|s| &s["Resource"]).collect();
    assert_eq!(
        resources,
        [
            &json!({"Fn::GetAtt": ["SenderKey", "Arn"]}),
            &json!({"Fn::GetAtt": ["EnvironmentKey", "Arn"]})
        ]
    );
    for s in key_statements {
        assert_eq!(
            common::strings(&s["Action"]),
            ["kms:Decrypt".to_string()].into()
        );
    }
    allowed.insert("kms:Decrypt".into());
    assert_eq!(
        allowed, used,
        "the sender role's actions must be exactly the operations the sender makes"
    );

    // The function runs as that role, with that key and table.
    let f = &r["SenderFunction"]["Properties"];
    assert_eq!(f["Role"], json!({"Fn::GetAtt": ["SenderRole", "Arn"]}));
    assert_eq!(
        f["Environment"]["Variables"]["PUMPGUARD_KMS_KEY_ARN"],
        json!({"Fn::GetAtt": ["SenderKey", "Arn"]})
    );
    assert_eq!(f["Handler"], "bootstrap");
    // Cognito may use the key for this account's pools only.
    let cognito = r["SenderKey"]["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Principal"]["Service"] == "cognito-idp.amazonaws.com")
        .expect("Cognito's statement");
    assert_eq!(cognito["Action"], "kms:CreateGrant");
    assert_eq!(
        cognito["Condition"]["StringEquals"]["aws:SourceAccount"],
        json!({"Ref": "AWS::AccountId"})
    );
    assert!(cognito["Condition"]["ArnLike"]
        .get("aws:SourceArn")
        .is_some());
}

/// No log line of the sender holds the code or the number.
#[test]
fn the_sender_logs_neither_the_code_nor_the_number() {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let lines = common::logs::thread_lines(|| {
        rt.block_on(async {
            let w = world(true).await;
            for (phone, code) in [(US, CODE), (JM, "550113")] {
                let c = cognito_encrypts(w.kms.clone(), &w.key, POOL, code).await;
                let e = event("CustomSMSSender_SignUp", phone, &c);
                w.sender.handle(&w.engine, &w.ctx, &e, NOW).await.unwrap();
            }
        });
    });
    assert!(lines.contains("\"outcome\":\"sent\""), "{lines}");
    assert!(lines.contains("\"outcome\":\"dropped\""), "{lines}");
    for secret in [CODE, "550113", &US[2..], &JM[2..]] {
        assert!(!lines.contains(secret), "{secret} in the log:\n{lines}");
    }
}
