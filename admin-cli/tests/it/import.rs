//! `pumpguard import sns-delivery-logs` against moto: SNS SMS delivery
//! status logs put into CloudWatch Logs and a pool's users in Cognito are
//! imported into records (numbers hashed), which replay: the pool's users'
//! codes go out, the pumped ones are refused. Raw output, asked for, replays
//! to the same verdicts; the records hold no number.

#![allow(clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::{Command, Output};

use aws_sdk_cloudwatchlogs::types::InputLogEvent;
use aws_sdk_cognitoidentityprovider::types::AttributeType;
use serde_json::json;

use crate::common::moto::{moto, root, sdk};
use crate::common::replayed::{assert_no_number, replay_alike, replay_file};

const KEY: &str = "import-test-key-0123456789";

fn sns_log(at_ms: i64, phone: &str, id: &str, status: &str) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(at_ms) * 1_000_000).unwrap();
    let stamp = format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:03}",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.millisecond()
    );
    json!({
        "notification": { "messageId": id, "timestamp": stamp },
        "delivery": {
            "phoneCarrier": "Carrier", "mnc": 270, "numberOfMessageParts": 1, "destination": phone,
            "priceInUSD": 0.00645, "smsType": "Transactional", "mcc": 310,
            "providerResponse": "Message has been accepted by phone carrier", "dwellTimeMs": 599
        },
        "status": status
    })
    .to_string()
}

fn pumpguard(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pumpguard"))
        .args(args)
        .current_dir(root())
        .env("PUMPGUARD_PHONE_HASH_KEY", KEY)
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sns_delivery_logs_from_cloudwatch_import_and_replay() {
    let config = sdk("us-east-1").await;
    let cognito = aws_sdk_cognitoidentityprovider::Client::new(&config);
    let logs = aws_sdk_cloudwatchlogs::Client::new(&config);
    let pool = cognito
        .create_user_pool()
        .pool_name(format!("import-{}", std::process::id()))
        .send()
        .await
        .unwrap();
    let pool_id = pool.user_pool().unwrap().id().unwrap().to_string();

    // The pool's real users, in several area codes: 5 phones verified, 1
    // whose code was not used.
    let real: Vec<String> = [
        "+12125550",
        "+13055830",
        "+14155552",
        "+13125557",
        "+16175553",
        "+12065551",
    ]
    .iter()
    .enumerate()
    .map(|(i, p)| format!("{p}{:03}", 100 + i * 37))
    .collect();
    for (i, phone) in real.iter().enumerate() {
        cognito
            .admin_create_user()
            .user_pool_id(&pool_id)
            .username(format!("user{i}"))
            .user_attributes(
                AttributeType::builder()
                    .name("phone_number")
                    .value(phone)
                    .build()
                    .unwrap(),
            )
            .user_attributes(
                AttributeType::builder()
                    .name("phone_number_verified")
                    .value(if i < 5 { "true" } else { "false" })
                    .build()
                    .unwrap(),
            )
            .send()
            .await
            .unwrap();
    }
    // Their creation times, as Cognito recorded them: the codes follow.
    let users = pumpguard_cli::import::read_users(&cognito, &pool_id)
        .await
        .unwrap();
    assert_eq!(users.len(), 6);
    let created = users.iter().map(|u| u.created).min().unwrap();

    let group = format!(
        "sns/us-east-1/123456789012/DirectPublishToPhoneNumber-{}",
        std::process::id()
    );
    logs.create_log_group()
        .log_group_name(&group)
        .send()
        .await
        .unwrap();
    logs.create_log_stream()
        .log_group_name(&group)
        .log_stream_name("sms")
        .send()
        .await
        .unwrap();
    let mut events: Vec<(i64, String)> = Vec::new();
    for (i, phone) in real.iter().enumerate() {
        let u = users.iter().find(|u| &u.phone == phone).unwrap();
        let at = (u.created + 5) * 1000 + i as i64;
        events.push((at, sns_log(at, phone, &format!("real-{i}"), "SUCCESS")));
    }
    // A pumping run: premium-rate numbers and a country the policy blocks,
    // numbers no user has, one a second.
    let pumped: Vec<String> = (0..20)
        .map(|i| format!("+1900457{:04}", 1000 + i))
        .chain((0..20).map(|i| format!("+234803451{:04}", 2000 + i * 3)))
        .collect();
    for (i, phone) in pumped.iter().enumerate() {
        let at = (created + 60 + i as i64) * 1000;
        events.push((at, sns_log(at, phone, &format!("pump-{i}"), "FAILURE")));
    }
    events.sort();
    let mut put = logs
        .put_log_events()
        .log_group_name(&group)
        .log_stream_name("sms");
    for (at, message) in &events {
        put = put.log_events(
            InputLogEvent::builder()
                .timestamp(*at)
                .message(message)
                .build()
                .unwrap(),
        );
    }
    put.send().await.unwrap();

    let dir = std::env::temp_dir().join(format!("pumpguard-import-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let start = time::OffsetDateTime::from_unix_timestamp(created - 3600)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let end = time::OffsetDateTime::from_unix_timestamp(created + 86_400)
        .unwrap()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let records = dir.join("records.jsonl");
    let raw = dir.join("raw.jsonl");
    let moto_url = moto();
    for (out, extra) in [(&records, None), (&raw, Some("--raw"))] {
        let out_s = out.to_str().unwrap();
        let mut args = vec![
            "import",
            "sns-delivery-logs",
            "--log-group",
            &group,
            "--start",
            &start,
            "--end",
            &end,
            "--user-pool",
            &pool_id,
            "--region",
            "us-east-1",
            "--endpoint-url",
            &moto_url,
            "--policy",
            "examples/policy.toml",
            "--out",
            out_s,
        ];
        args.extend(extra);
        let o = tokio::task::block_in_place(|| pumpguard(&args));
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(o.status.success(), "{err}");
        assert!(err.contains("46 SMS read"), "{err}");
        assert!(err.contains("approximated: sources"), "{err}");
        assert!(err.contains("approximated: verification"), "{err}");
    }

    // Records: 46 SMS and 5 confirmations, and no number in them.
    let text = std::fs::read_to_string(&records).unwrap();
    assert_eq!(text.lines().count(), 46 + 5, "{text}");
    let phones = dir.join("phones.txt");
    std::fs::write(
        &phones,
        real.iter()
            .chain(&pumped)
            .cloned()
            .collect::<Vec<_>>()
            .join("\n"),
    )
    .unwrap();
    assert_no_number(&phones, &records);
    let raw_text = std::fs::read_to_string(&raw).unwrap();
    assert!(raw_text.contains(&real[0][1..]), "--raw keeps the numbers");

    let example = Path::new("examples/policy.toml");
    let (from_records, summary) = replay_alike(example, &records, &raw);
    let judged: Vec<&(String, Vec<String>)> =
        from_records.iter().filter(|(v, _)| v != "pass").collect();
    assert_eq!(judged.len(), 46);
    let premium = judged
        .iter()
        .filter(|(_, r)| r.iter().any(|r| r == "NUMBER_TYPE_PREMIUM_RATE"))
        .count();
    assert_eq!(premium, 20, "{summary}");
    assert_eq!(summary["by_country"]["NG"], 20, "{summary}");
    assert_eq!(summary["by_verdict"]["block"], 40, "{summary}");
    assert_eq!(summary["by_country"]["US"], 26, "{summary}");
    assert_eq!(summary["by_verdict"]["allow"], 6, "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// End User Messaging events written from the documented event schema
/// (several `TEXT_*` events per message, a voice event), read from a file.
#[test]
fn eum_events_from_a_file_import_once_per_message_and_replay() {
    let dir = std::env::temp_dir().join(format!("pumpguard-import-eum-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let records = dir.join("records.jsonl");
    let o = pumpguard(&[
        "import",
        "eum-events",
        "--file",
        "admin-cli/tests/fixtures/eum-events.jsonl",
        "--out",
        records.to_str().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{err}");
    assert!(
        err.contains(
            "10 SMS read (12 further events of a message dropped, 1 not SMS, 0 unreadable)"
        ),
        "{err}"
    );
    assert!(
        err.contains("approximated: no code is taken as used"),
        "{err}"
    );
    assert_no_number(
        &root().join("admin-cli/tests/fixtures/eum-events.jsonl"),
        &records,
    );
    let example = Path::new("examples/policy.toml");
    let (verdicts, summary) = replay_file(example, &records);
    assert_eq!(verdicts.len(), 10);
    assert_eq!(summary["by_country"]["NG"], 8, "{summary}");
    assert_eq!(summary["by_reason"]["COUNTRY_BLOCKED"], 8, "{summary}");
    assert_eq!(summary["by_verdict"]["allow"], 2, "{summary}");
    let _ = std::fs::remove_dir_all(&dir);
}

/// Without the pool's users, records and raw events replay alike: an SMS
/// whose user is not known has none in either, rather than one shared
/// placeholder user whose per-user limits every SMS of the import would hit.
#[test]
fn without_users_records_and_raw_events_replay_alike() {
    let dir = std::env::temp_dir().join(format!("pumpguard-import-nouser-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let start = 1_793_613_600_000_i64;
    // Twelve real-looking US numbers in as many area codes, a minute apart:
    // more than the example's `max-phones-per-day` and `max-sends-per-hour`
    // for one user.
    let areas = [212, 305, 415, 312, 617, 206, 213, 404, 512, 702, 303, 503];
    let lines: Vec<String> = areas
        .iter()
        .zip(0_i64..)
        .map(|(area, i)| {
            sns_log(
                start + i * 60_000,
                &format!("+1{area}555{:04}", 1200 + i * 7),
                &format!("m{i}"),
                "SUCCESS",
            )
        })
        .collect();
    let input = dir.join("sns.jsonl");
    std::fs::write(&input, lines.join("\n")).unwrap();
    let records = dir.join("records.jsonl");
    let raw = dir.join("raw.jsonl");
    for (out, extra) in [(&records, None), (&raw, Some("--raw"))] {
        let mut args = vec![
            "import",
            "sns-delivery-logs",
            "--file",
            input.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
        ];
        args.extend(extra);
        let o = pumpguard(&args);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    let example = Path::new("examples/policy.toml");
    let (from_records, summary) = replay_alike(example, &records, &raw);
    assert!(
        from_records
            .iter()
            .all(|(_, reasons)| reasons.iter().all(|r| !r.starts_with("USER_"))),
        "no per-user limit: {summary}"
    );
    // More phones go out than one user's `max-phones-per-day` (3) allows.
    assert!(
        summary["by_verdict"]["allow"].as_u64().unwrap() > 3,
        "{summary}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}
