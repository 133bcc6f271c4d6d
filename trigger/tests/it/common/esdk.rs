//! What Cognito does with a Custom SMS Sender's code: an AWS Encryption SDK
//! message under the pool's KMS key (KMS keyring), the non-committing
//! signed suite (0x0378), `userpool-id` in the encryption context, base64.
//! Shared by the sender's tests, its bench and `examples/cognito-encrypt.rs`.

use std::collections::HashMap;

use aws_esdk::material_providers::client as mpl_client;
use aws_esdk::material_providers::types::material_providers_config::MaterialProvidersConfig;
use aws_esdk::material_providers::types::{EsdkAlgorithmSuiteId, EsdkCommitmentPolicy};
use aws_esdk::types::aws_encryption_sdk_config::AwsEncryptionSdkConfig;

pub type Error = Box<dyn std::error::Error + Send + Sync>;

/// `code` encrypted for `pool` under `key_arn`, as Cognito sends it.
pub async fn cognito_encrypts(
    kms: aws_sdk_kms::Client,
    key_arn: &str,
    pool: &str,
    code: &str,
) -> Result<String, Error> {
    let esdk = aws_esdk::Client::from_conf(
        AwsEncryptionSdkConfig::builder()
            .commitment_policy(EsdkCommitmentPolicy::ForbidEncryptAllowDecrypt)
            .build()?,
    )?;
    let mpl = mpl_client::Client::from_conf(MaterialProvidersConfig::builder().build()?)?;
    let keyring = mpl
        .create_aws_kms_keyring()
        .kms_key_id(key_arn)
        .kms_client(kms)
        .send()
        .await?;
    let out = esdk
        .encrypt()
        .plaintext(code.as_bytes())
        .keyring(keyring)
        .encryption_context(HashMap::from([(
            "userpool-id".to_string(),
            pool.to_string(),
        )]))
        .algorithm_suite_id(EsdkAlgorithmSuiteId::AlgAes256GcmIv12Tag16HkdfSha384EcdsaP384)
        .send()
        .await?;
    let ciphertext = out.ciphertext.ok_or("no ciphertext")?;
    Ok(aws_smithy_types::base64::encode(ciphertext.into_inner()))
}
