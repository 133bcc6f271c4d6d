//! The stack's trigger role allows exactly what the trigger does: every
//! DynamoDB operation the trigger's code makes (recorded from the real SDK
//! against moto) on its own table, and writing its own log streams. Nothing
//! more: no other action, resource, wildcard or managed policy.

#![allow(clippy::panic, clippy::unwrap_used)]

use crate::common;

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_dynamodb::config::{
    BehaviorVersion, ConfigBag, Credentials, Intercept, Region, RuntimeComponents,
};
use aws_sdk_dynamodb::error::BoxError;
use pumpguard_engine::hash::PhoneHasher;
use pumpguard_engine::published::PolicyFetch;
use pumpguard_engine::stateful::{judge, verified, Subject};
use pumpguard_engine::{Engine, Policy, TriggerSource};
use pumpguard_trigger::dynamo::DynamoStore;
use pumpguard_trigger::published::DynamoPolicyStore;
use serde_json::{json, Value};

#[derive(Debug, Clone, Default)]
struct Operations(Arc<Mutex<BTreeSet<String>>>);

impl Intercept for Operations {
    fn name(&self) -> &'static str {
        "operation recorder"
    }
    fn read_before_transmit(
        &self,
        context: &BeforeTransmitInterceptorContextRef<'_>,
        _: &RuntimeComponents,
        _: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // DynamoDB's JSON protocol names the operation in X-Amz-Target.
        if let Some(target) = context.request().headers().get("x-amz-target") {
            if let Some(op) = target.split('.').nth(1) {
                self.0.lock().unwrap().insert(format!("dynamodb:{op}"));
            }
        }
        Ok(())
    }
}

/// Every operation the trigger's code can make, each exercised once.
async fn operations_the_trigger_makes() -> BTreeSet<String> {
    let recorder = Operations::default();
    let config = aws_sdk_dynamodb::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("testing", "testing", None, None, "tests"))
        .endpoint_url(common::moto_endpoint())
        .interceptor(recorder.clone())
        .build();
    let client = aws_sdk_dynamodb::Client::from_conf(config);
    let table = common::fresh_table(&client, "role").await;
    recorder.0.lock().unwrap().clear();

    // Every guard on, then a verification, then the policy refresh.
    // A generous store timeout: the shared test server may be busy.
    let engine = Engine::new(Arc::new(common::unhurried(Policy::example())));
    let store = DynamoStore::new(client.clone(), &table);
    let keys = PhoneHasher::new(b"test-key-0123456789").unwrap();
    let now = 1_795_262_400;
    let subject = Subject {
        source: TriggerSource::SignUp,
        phone: "+14155552671",
        user: Some("u1"),
        now,
    };
    let d = judge(&engine, &store, &keys, subject).await;
    assert!(!d.store_error, "{d:?}");
    let completion = pumpguard_engine::stateful::Completion {
        phone: "+14155552671",
        user: Some("u1"),
        kind: Some(pumpguard_engine::guards::known::Completion::ConfirmSignUp),
    };
    assert!(verified(&engine, &store, &keys, completion, now + 5)
        .await
        .unwrap());
    // With the cooldown off the trigger marks sends instead.
    let no_cooldown = Policy::parse(
        &pumpguard_engine::policy::EXAMPLE_POLICY.replace(
            "[cooldown]\nmode = \"enforce\"",
            "[cooldown]\nmode = \"off\"",
        ),
        "t",
    )
    .unwrap();
    let no_cooldown = common::unhurried(no_cooldown);
    assert_eq!(
        no_cooldown.cooldown.mode,
        pumpguard_engine::policy::Mode::Off
    );
    let e2 = Engine::new(Arc::new(no_cooldown));
    let d = judge(
        &e2,
        &store,
        &keys,
        Subject {
            now: now + 10,
            ..subject
        },
    )
    .await;
    assert!(!d.store_error);
    DynamoPolicyStore::new(client, &table)
        .fetch()
        .await
        .unwrap();

    let ops = recorder.0.lock().unwrap().clone();
    ops
}

#[tokio::test]
async fn the_trigger_role_allows_exactly_what_the_trigger_does() {
    let t = common::template();
    let role = &t["Resources"]["TriggerRole"]["Properties"];
    assert!(
        role.get("ManagedPolicyArns").is_none(),
        "no managed policies"
    );
    assert!(role.get("PermissionsBoundary").is_none());
    let policies = role["Policies"].as_array().unwrap();
    assert_eq!(policies.len(), 1);
    let statements = policies[0]["PolicyDocument"]["Statement"]
        .as_array()
        .unwrap();

    let mut table_actions = BTreeSet::new();
    let mut log_actions = BTreeSet::new();
    for s in statements {
        assert_eq!(s["Effect"], "Allow");
        assert!(s.get("NotAction").is_none() && s.get("NotResource").is_none());
        let actions = common::strings(&s["Action"]);
        assert!(actions.iter().all(|a| !a.contains('*')), "{actions:?}");
        let resource = &s["Resource"];
        if *resource == json!({"Fn::GetAtt": ["StateTable", "Arn"]}) {
            table_actions.extend(actions);
        } else if *resource == json!({"Fn::GetAtt": ["TriggerLogGroup", "Arn"]}) {
            log_actions.extend(actions);
        } else {
            panic!("a statement on another resource: {s}");
        }
    }
    assert_eq!(
        log_actions,
        BTreeSet::from([
            "logs:CreateLogStream".to_string(),
            "logs:PutLogEvents".to_string()
        ])
    );
    let used = operations_the_trigger_makes().await;
    assert_eq!(
        table_actions, used,
        "the role's table actions must be exactly the operations the trigger makes"
    );

    // Besides the inline policy, only the key of the function's own
    // environment: kms:Decrypt on that key, nothing else, on that role.
    let attached: Vec<(&String, &Value)> = t["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::IAM::RolePolicy" || r["Type"] == "AWS::IAM::Policy")
        .filter(|(_, r)| r["Properties"]["RoleName"] != json!({"Ref": "SenderRole"}))
        .collect();
    assert_eq!(attached.len(), 1, "{attached:?}");
    let (name, key_access) = attached[0];
    assert_eq!(name, "TriggerEnvironmentKeyAccess");
    let p = &key_access["Properties"];
    assert_eq!(p["RoleName"], json!({"Ref": "TriggerRole"}));
    let statements = p["PolicyDocument"]["Statement"].as_array().unwrap();
    assert_eq!(statements.len(), 1);
    assert_eq!(statements[0]["Effect"], "Allow");
    assert_eq!(
        common::strings(&statements[0]["Action"]),
        BTreeSet::from(["kms:Decrypt".to_string()])
    );
    assert_eq!(
        statements[0]["Resource"],
        json!({"Fn::GetAtt": ["EnvironmentKey", "Arn"]})
    );

    // The function uses that role, that table, that log group and that key.
    let f = &t["Resources"]["Trigger"]["Properties"];
    assert_eq!(
        f["KmsKeyArn"],
        json!({"Fn::GetAtt": ["EnvironmentKey", "Arn"]})
    );
    assert_eq!(f["Role"], json!({"Fn::GetAtt": ["TriggerRole", "Arn"]}));
    assert_eq!(
        f["Environment"]["Variables"]["PUMPGUARD_TABLE"],
        json!({"Ref": "StateTable"})
    );
    assert_eq!(
        f["LoggingConfig"]["LogGroup"],
        json!({"Ref": "TriggerLogGroup"})
    );
    assert_eq!(f["Runtime"], "provided.al2023");
    assert_eq!(f["Handler"], "bootstrap");
}

#[test]
fn the_table_matches_the_store_design() {
    let t = common::template();
    let table = &t["Resources"]["StateTable"]["Properties"];
    assert_eq!(table["BillingMode"], "PAY_PER_REQUEST");
    assert_eq!(
        table["KeySchema"],
        json!([{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}])
    );
    assert_eq!(
        table["TimeToLiveSpecification"],
        json!({"AttributeName": "expires_at", "Enabled": true})
    );
    // Cognito may invoke the function only for the given pool.
    let p = &t["Resources"]["CognitoInvokePermission"]["Properties"];
    assert_eq!(p["Principal"], "cognito-idp.amazonaws.com");
    assert_eq!(p["SourceArn"], json!({"Ref": "UserPoolArn"}));
}
