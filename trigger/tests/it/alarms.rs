//! The stack's alarms can reach someone: every alarm notifies the alarm
//! topic, and that topic is either unencrypted or encrypted with a key of
//! the stack whose policy lets CloudWatch use it. An alarm cannot publish
//! to a topic under the AWS-managed `alias/aws/sns` (its key policy cannot
//! grant CloudWatch), and would deploy cleanly and deliver nothing.

#![allow(clippy::panic, clippy::unwrap_used)]

use std::collections::BTreeSet;

use crate::common;

use serde_json::{json, Value};

#[test]
fn every_alarm_notifies_a_topic_cloudwatch_can_publish_to() {
    let t = common::template();
    let resources = t["Resources"]
        .as_object()
        .unwrap_or_else(|| panic!("no Resources"));
    let alarms: Vec<(&String, &Value)> = resources
        .iter()
        .filter(|(_, r)| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    assert!(alarms.len() >= 6, "{}", alarms.len());
    for (name, alarm) in &alarms {
        assert_eq!(
            alarm["Properties"]["AlarmActions"],
            json!([{"Ref": "AlarmTopic"}]),
            "{name}"
        );
    }
    let names: BTreeSet<&str> = alarms
        .iter()
        .filter_map(|(_, a)| a["Properties"]["MetricName"].as_str())
        .collect();
    for metric in [
        "StoreErrors",
        "PolicyFetchFailed",
        "Blocked",
        "WouldBlock",
        "CohortThrottled",
    ] {
        assert!(names.contains(metric), "no alarm on {metric}: {names:?}");
    }

    let topic = &resources["AlarmTopic"]["Properties"];
    let key = &topic["KmsMasterKeyId"];
    if key.is_null() {
        return;
    }
    assert_ne!(
        key,
        &json!("alias/aws/sns"),
        "CloudWatch cannot use the AWS-managed key"
    );
    let key_name = key["Fn::GetAtt"][0]
        .as_str()
        .unwrap_or_else(|| panic!("the topic's key must be one of the stack's: {key}"));
    let key = &resources[key_name];
    assert_eq!(key["Type"], "AWS::KMS::Key");
    assert_eq!(key["Properties"]["EnableKeyRotation"], true);
    let statements = key["Properties"]["KeyPolicy"]["Statement"]
        .as_array()
        .unwrap_or_else(|| panic!("no key policy"));
    let cloudwatch: BTreeSet<String> = statements
        .iter()
        .filter(|s| {
            s["Effect"] == "Allow" && s["Principal"]["Service"] == "cloudwatch.amazonaws.com"
        })
        .flat_map(|s| common::strings(&s["Action"]))
        .collect();
    for action in ["kms:Decrypt", "kms:GenerateDataKey*"] {
        assert!(
            cloudwatch.contains(action),
            "{action} for CloudWatch: {cloudwatch:?}"
        );
    }
}

/// The dashboard's body is valid JSON once CloudFormation substitutes it,
/// and shows what a monitored rollout is judged by: the would-blocks by
/// reason, the WAF's blocked and counted requests, and the SMS spend.
#[test]
fn the_dashboard_shows_what_a_monitored_rollout_would_block() {
    let t = common::template();
    let body = t["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
        .as_str()
        .unwrap_or_else(|| panic!("the dashboard body is one Fn::Sub string"));
    // What Fn::Sub replaces (${AWS::Region}, ${Trigger}, ...) by a plain value.
    let mut text = String::new();
    let mut rest = body;
    while let Some(at) = rest.find("${") {
        text.push_str(&rest[..at]);
        text.push('X');
        let end = rest[at..]
            .find('}')
            .unwrap_or_else(|| panic!("an open ${{"));
        rest = &rest[at + end + 1..];
    }
    text.push_str(rest);
    let d: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{e}: {text}"));
    let widgets = d["widgets"]
        .as_array()
        .unwrap_or_else(|| panic!("no widgets"));
    let all = serde_json::to_string(widgets).unwrap();
    for needle in [
        r#"MetricName=\"WouldBlock\""#,
        r#"MetricName=\"BlockedRequests\""#,
        r#"MetricName=\"CountedRequests\""#,
        "SMSMonthToDateSpentUSD",
        "EstimatedSpendUSD",
    ] {
        assert!(all.contains(needle), "no widget shows {needle}");
    }
}
