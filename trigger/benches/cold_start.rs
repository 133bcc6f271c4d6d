//! Cold start of the `bootstrap` binary: from process start to ready, where
//! "ready" is its first request for work (`GET …/runtime/invocation/next`) to
//! the Lambda runtime API, served here by a listener on 127.0.0.1.
//! Run: `cargo bench -p pumpguard-trigger --bench cold_start` (add
//! `--features sender` for the Custom SMS Sender's as well).

#![allow(clippy::panic, clippy::unwrap_used)]

use std::io::Read;
use std::net::TcpListener;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};

fn start_to_ready(
    listener: &TcpListener,
    policy: &str,
    exe: &str,
    extra: &[(&str, &str)],
) -> Duration {
    let addr = listener.local_addr().expect("addr");
    let started = Instant::now();
    let mut child = Command::new(exe)
        .env_clear()
        .envs(extra.iter().copied())
        .env("AWS_LAMBDA_RUNTIME_API", addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "pumpguard-bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("PUMPGUARD_POLICY_FILE", policy)
        .env("PUMPGUARD_PHONE_HASH_KEY", "bench-key-0123456789")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawn bootstrap");
    let (mut conn, _) = listener.accept().expect("accept");
    let mut buf = [0u8; 64];
    let n = conn.read(&mut buf).expect("read");
    let elapsed = started.elapsed();
    assert!(buf[..n].starts_with(b"GET /2018-06-01/runtime/invocation/next"));
    let _ = child.kill();
    let _ = child.wait();
    elapsed
}

fn cold_start(c: &mut Criterion) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let policy = concat!(env!("CARGO_MANIFEST_DIR"), "/../examples/policy.toml");
    let mut g = c.benchmark_group("cold_start");
    g.sample_size(30).measurement_time(Duration::from_secs(10));
    g.bench_function("bootstrap_to_first_next", |b| {
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| start_to_ready(&listener, policy, env!("CARGO_BIN_EXE_bootstrap"), &[]))
                .sum()
        })
    });
    // The Custom SMS Sender (`--features sender`): its init also loads the
    // AWS configuration and builds the Encryption SDK's KMS keyring (no KMS
    // call: the first one is the first decryption, not measured here).
    #[cfg(feature = "sender")]
    g.bench_function("sender_to_first_next", |b| {
        let extra = [
            (
                "PUMPGUARD_KMS_KEY_ARN",
                "arn:aws:kms:us-east-1:123456789012:key/00000000-0000-0000-0000-000000000000",
            ),
            ("AWS_REGION", "us-east-1"),
            ("AWS_ACCESS_KEY_ID", "testing"),
            ("AWS_SECRET_ACCESS_KEY", "testing"),
            ("AWS_EC2_METADATA_DISABLED", "true"),
        ];
        b.iter_custom(|iters| {
            (0..iters)
                .map(|_| start_to_ready(&listener, policy, env!("CARGO_BIN_EXE_sender"), &extra))
                .sum()
        })
    });
    g.finish();
}

criterion_group!(benches, cold_start);
criterion_main!(benches);
