//! Encrypts a code as Cognito does for a Custom SMS Sender, for the
//! sender's end-to-end test (`scripts/sender-e2e.sh`): an AWS Encryption
//! SDK message under `KEY_ARN` with the KMS keyring, the non-committing
//! signed suite (0x0378) and the encryption context `userpool-id = POOL`,
//! printed as base64.
//!
//! `cargo run -p pumpguard-trigger --features sender --example cognito-encrypt -- KEY_ARN POOL CODE`
//! (KMS from the usual AWS environment, `AWS_ENDPOINT_URL` included).

use std::collections::HashMap;

use aws_esdk::material_providers::client as mpl_client;
use aws_esdk::material_providers::types::material_providers_config::MaterialProvidersConfig;
use aws_esdk::material_providers::types::{EsdkAlgorithmSuiteId, EsdkCommitmentPolicy};
use aws_esdk::types::aws_encryption_sdk_config::AwsEncryptionSdkConfig;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [key_arn, pool, code] = args.as_slice() else {
        return Err("usage: cognito-encrypt KEY_ARN POOL CODE".into());
    };
    let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .load()
        .await;
    let esdk = aws_esdk::Client::from_conf(
        AwsEncryptionSdkConfig::builder()
            .commitment_policy(EsdkCommitmentPolicy::ForbidEncryptAllowDecrypt)
            .build()?,
    )?;
    let mpl = mpl_client::Client::from_conf(MaterialProvidersConfig::builder().build()?)?;
    let keyring = mpl
        .create_aws_kms_keyring()
        .kms_key_id(key_arn)
        .kms_client(aws_sdk_kms::Client::new(&config))
        .send()
        .await?;
    let out = esdk
        .encrypt()
        .plaintext(code.as_bytes())
        .keyring(keyring)
        .encryption_context(HashMap::from([("userpool-id".to_string(), pool.clone())]))
        .algorithm_suite_id(EsdkAlgorithmSuiteId::AlgAes256GcmIv12Tag16HkdfSha384EcdsaP384)
        .send()
        .await?;
    let ciphertext = out.ciphertext.ok_or("no ciphertext")?;
    println!(
        "{}",
        aws_smithy_types::base64::encode(ciphertext.into_inner())
    );
    Ok(())
}
