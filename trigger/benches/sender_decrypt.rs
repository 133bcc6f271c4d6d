//! The Custom SMS Sender's decryption, which its cold-start figure leaves
//! out: building the KMS keyring (init), the first decryption of an
//! instance (the KMS `Decrypt` round trip on a new connection, the data
//! key's derivation and the ECDSA P-384 signature check), and the
//! decryptions after it; beside them, a bare KMS round trip to the same
//! server, so that what the Encryption SDK adds can be read off. KMS is
//! moto on loopback: a real KMS adds its network round trip (a few ms in
//! region) to each decryption. A bench command: it needs moto.
//!
//! ```sh
//! .venv/bin/python scripts/moto_server.py 127.0.0.1 5055 &
//! PUMPGUARD_TEST_MOTO=http://127.0.0.1:5055 cargo bench -p pumpguard-trigger --features sender --bench sender_decrypt
//! ```

#![allow(clippy::panic, clippy::unwrap_used)]

#[path = "../tests/it/common/esdk.rs"]
mod esdk;

use std::time::{Duration, Instant};

use pumpguard_trigger::sender::Crypto;

const POOL: &str = "us-east-1_Bench1";

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort_unstable();
    v[v.len() / 2]
}

fn ms(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1000.0)
}

fn main() {
    let Ok(endpoint) = std::env::var("PUMPGUARD_TEST_MOTO") else {
        eprintln!("set PUMPGUARD_TEST_MOTO to a moto server (see the file's header)");
        std::process::exit(2);
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let sdk = || async {
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("us-east-1"))
                .endpoint_url(&endpoint)
                .credentials_provider(aws_sdk_kms::config::Credentials::new(
                    "testing", "testing", None, None, "bench",
                ))
                .load()
                .await
        };
        let admin = aws_sdk_kms::Client::new(&sdk().await);
        let key = admin
            .create_key()
            .send()
            .await
            .unwrap()
            .key_metadata
            .unwrap()
            .arn
            .unwrap();
        let codes: Vec<String> = {
            let mut v = Vec::new();
            for i in 0..41 {
                v.push(
                    esdk::cognito_encrypts(
                        admin.clone(),
                        &key,
                        POOL,
                        &format!("{:06}", 100_000 + i),
                    )
                    .await
                    .unwrap(),
                );
            }
            v
        };
        let (mut init, mut first, mut later, mut bare) =
            (Vec::new(), Vec::new(), Vec::new(), Vec::new());
        for round in 0..10 {
            // A new instance: a new client (no open connection) and keyring.
            let kms = aws_sdk_kms::Client::new(&sdk().await);
            let t = Instant::now();
            let crypto = Crypto::new(kms.clone(), &key).await.unwrap();
            init.push(t.elapsed());
            let t = Instant::now();
            let plain = crypto.decrypt(&codes[round], POOL).await.unwrap();
            first.push(t.elapsed());
            assert_eq!(plain, format!("{:06}", 100_000 + round));
            for code in &codes[10..] {
                let t = Instant::now();
                crypto.decrypt(code, POOL).await.unwrap();
                later.push(t.elapsed());
            }
            for _ in 0..10 {
                let t = Instant::now();
                kms.describe_key().key_id(&key).send().await.unwrap();
                bare.push(t.elapsed());
            }
        }
        println!("| step | median |");
        println!("|---|---|");
        println!("| keyring built (in init) | {} |", ms(median(init)));
        println!(
            "| first decryption of an instance | {} |",
            ms(median(first))
        );
        println!("| each later decryption | {} |", ms(median(later)));
        println!(
            "| a bare KMS call on an open connection (DescribeKey) | {} |",
            ms(median(bare))
        );
    });
}
