//! Which account a command signs for. With keys in the environment *and*
//! `--profile prod`, the AWS CLI signs with the profile's keys; so must
//! `pumpguard`, or `apply --profile prod --yes` changes whatever account
//! the shell's keys belong to. Without `--profile`, the standard chain
//! applies (the environment's keys first).
//!
//! A local listener stands in for DynamoDB: it records the access key id of
//! each request's `Authorization` header and answers with an error, which
//! is all the test needs (the command fails after signing).

#![allow(clippy::panic, clippy::unwrap_used)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};

const ENV_KEY: &str = "AKIDFROMENVIRONMENT0";
const PROFILE_KEY: &str = "AKIDFROMPROFILEPROD0";

/// A listener that records the key id of every signed request.
fn recorder() -> (String, Arc<Mutex<Vec<String>>>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let out = seen.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { return };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 0) {
                if line == "\r\n" {
                    break;
                }
                let lower = line.to_ascii_lowercase();
                if lower.starts_with("authorization:") {
                    if let Some(rest) = line.split("Credential=").nth(1) {
                        let key = rest.split('/').next().unwrap_or("").to_string();
                        seen.lock().unwrap().push(key);
                    }
                }
                line.clear();
            }
            let body = r#"{"__type":"com.amazonaws.dynamodb.v20120810#ResourceNotFoundException","message":"Requested resource not found"}"#;
            let _ = write!(
                stream,
                "HTTP/1.1 400 Bad Request\r\nContent-Type: application/x-amz-json-1.0\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    (url, out)
}

fn aws_files() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("pumpguard-profile-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("credentials"),
        format!(
            "[prod]\naws_access_key_id = {PROFILE_KEY}\naws_secret_access_key = profile-secret\n"
        ),
    )
    .unwrap();
    std::fs::write(dir.join("config"), "[profile prod]\nregion = eu-west-1\n").unwrap();
    dir
}

/// Runs `pumpguard publish` against the recorder with keys in the
/// environment, and returns the key ids it signed with.
fn publish_signs_with(extra: &[&str]) -> Vec<String> {
    let (url, seen) = recorder();
    let files = aws_files();
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let out = Command::new(env!("CARGO_BIN_EXE_pumpguard"))
        .args([
            "publish",
            "--policy",
            "examples/policy.toml",
            "--table",
            "t",
        ])
        .args(["--region", "us-east-1", "--endpoint-url", &url])
        .args(extra)
        .current_dir(&root)
        .env("AWS_ACCESS_KEY_ID", ENV_KEY)
        .env("AWS_SECRET_ACCESS_KEY", "environment-secret")
        .env("AWS_CONFIG_FILE", files.join("config"))
        .env("AWS_SHARED_CREDENTIALS_FILE", files.join("credentials"))
        .env_remove("AWS_PROFILE")
        .env_remove("AWS_SESSION_TOKEN")
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "the listener refuses every request"
    );
    let seen = seen.lock().unwrap().clone();
    assert!(!seen.is_empty(), "no signed request reached the listener");
    seen
}

#[test]
fn an_explicit_profile_beats_keys_in_the_environment() {
    let keys = publish_signs_with(&["--profile", "prod"]);
    assert!(keys.iter().all(|k| k == PROFILE_KEY), "{keys:?}");
}

#[test]
fn without_a_profile_the_environment_keys_sign() {
    let keys = publish_signs_with(&[]);
    assert!(keys.iter().all(|k| k == ENV_KEY), "{keys:?}");
}
