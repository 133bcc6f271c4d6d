//! Which AWS account and identity a command is about to act as (STS
//! `GetCallerIdentity`), shown before any account command reads or writes,
//! and the guard that keeps `apply` and `publish` off the wrong account.

use std::fmt;

use anyhow::Context as _;
use aws_sdk_sts::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use pumpguard_engine::account::UserPoolPolicy;
use serde::Serialize;

/// Who the credentials belong to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Identity {
    /// The 12-digit account id.
    pub account: String,
    /// The caller's ARN (user, role session, …).
    pub arn: String,
    /// The regions the command works in.
    pub regions: Vec<String>,
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "AWS account {} as {}, region{} {}",
            self.account,
            self.arn,
            if self.regions.len() == 1 { "" } else { "s" },
            self.regions.join(", ")
        )
    }
}

/// Asks STS who `config`'s credentials are.
pub async fn identity(
    config: &aws_config::SdkConfig,
    regions: &[String],
) -> anyhow::Result<Identity> {
    let out = aws_sdk_sts::Client::new(config)
        .get_caller_identity()
        .send()
        .await
        .map_err(|e| anyhow::anyhow!(describe(&e)))?;
    Ok(Identity {
        account: out
            .account
            .context("STS GetCallerIdentity returned no account id")?,
        arn: out.arn.unwrap_or_default(),
        regions: regions.to_vec(),
    })
}

/// One line for a failed `GetCallerIdentity`: no credentials at all, or
/// the service's code and message (the error chain otherwise).
fn describe<E, R>(e: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: fmt::Debug,
{
    let full = DisplayErrorContext(e).to_string();
    if full.contains("no credentials") || full.contains("CredentialsNotLoaded") {
        return "no AWS credentials found: tried the environment (AWS_ACCESS_KEY_ID), the \
                shared files (AWS_PROFILE or the default profile), web identity, SSO, the \
                container and the instance metadata; pass --profile NAME or set AWS_PROFILE"
            .into();
    }
    format!(
        "STS GetCallerIdentity: {}; check the credentials (--profile)",
        crate::converge::sdk_reason(e)
    )
}

/// `apply` and `publish`: refuse to act on another account than the
/// policy's `[user-pool] account-id`.
pub fn check_account(pool: Option<&UserPoolPolicy>, who: &Identity) -> anyhow::Result<()> {
    match pool.and_then(|p| p.account_id.as_deref()) {
        Some(want) if want != who.account => anyhow::bail!(
            "these credentials are for AWS account {} ({}), but the policy's [user-pool] \
             account-id is {want}: nothing was changed; pass --profile with credentials for \
             {want}",
            who.account,
            who.arn
        ),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool(account_id: Option<&str>) -> UserPoolPolicy {
        UserPoolPolicy {
            id: "us-east-1_Abc".into(),
            region: "us-east-1".into(),
            trigger_arn: "arn:aws:lambda:us-east-1:123456789012:function:t".into(),
            table: "t".into(),
            sms_regions: vec!["us-east-1".into()],
            account_id: account_id.map(str::to_string),
            sender_arn: None,
            kms_key_arn: None,
        }
    }

    #[test]
    fn another_account_is_refused_and_named() {
        let who = Identity {
            account: "210987654321".into(),
            arn: "arn:aws:iam::210987654321:user/dev".into(),
            regions: vec!["us-east-1".into()],
        };
        assert!(check_account(None, &who).is_ok());
        assert!(check_account(Some(&pool(None)), &who).is_ok());
        assert!(check_account(Some(&pool(Some("210987654321"))), &who).is_ok());
        let e = check_account(Some(&pool(Some("123456789012"))), &who)
            .expect_err("another account")
            .to_string();
        assert!(
            e.contains("210987654321") && e.contains("123456789012"),
            "{e}"
        );
        assert!(e.contains("nothing was changed"), "{e}");
    }
}
