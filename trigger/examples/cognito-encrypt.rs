//! Encrypts a code as Cognito does for a Custom SMS Sender, for the
//! sender's end-to-end test (`scripts/sender-e2e.sh`), and prints it.
//!
//! `cargo run -p pumpguard-trigger --features sender --example cognito-encrypt -- KEY_ARN POOL CODE`
//! (KMS from the usual AWS environment, `AWS_ENDPOINT_URL` included).

#[path = "../tests/it/common/esdk.rs"]
mod esdk;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), esdk::Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [key_arn, pool, code] = args.as_slice() else {
        return Err("usage: cognito-encrypt KEY_ARN POOL CODE".into());
    };
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let kms = aws_sdk_kms::Client::new(&config);
    println!(
        "{}",
        esdk::cognito_encrypts(kms, key_arn, pool, code).await?
    );
    Ok(())
}
