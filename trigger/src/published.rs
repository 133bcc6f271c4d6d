//! The published policy in the trigger's table: the item `pumpguard
//! publish` writes and each instance reads (see the engine's
//! [`pumpguard_engine::published`] for how a running trigger uses it).

use std::time::Duration;

use aws_sdk_dynamodb::types::AttributeValue;
use pumpguard_engine::policy::{Policy, PolicyError};
use pumpguard_engine::published::{PolicyFetch, PublishedPolicy, POLICY_PK, POLICY_SK};

/// The published-policy item in the trigger's table.
#[derive(Debug, Clone)]
pub struct DynamoPolicyStore {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

/// Why publishing failed.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    #[error(transparent)]
    Invalid(#[from] PolicyError),
    #[error(
        "could not write the policy to table {table}: {message}; check the table name, region \
         and credentials (dynamodb:PutItem), then publish again"
    )]
    Write { table: String, message: String },
}

impl DynamoPolicyStore {
    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Checks `text` and, only if it is a valid policy, makes it the published one.
    pub async fn publish(
        &self,
        text: &str,
        origin: &str,
        now_unix: i64,
    ) -> Result<Policy, PublishError> {
        let policy = Policy::parse(text, origin)?;
        self.put(text, &policy, now_unix)
            .send()
            .await
            .map_err(|e| self.write_error(&e))?;
        Ok(policy)
    }

    /// The `PutItem` that makes `text` (checked as `policy`) the published one.
    fn put(
        &self,
        text: &str,
        policy: &Policy,
        now_unix: i64,
    ) -> aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder {
        self.client
            .put_item()
            .table_name(&self.table)
            .item("pk", AttributeValue::S(POLICY_PK.into()))
            .item("sk", AttributeValue::S(POLICY_SK.into()))
            .item("body", AttributeValue::S(text.into()))
            .item("digest", AttributeValue::S(policy.digest.clone()))
            .item("published_at", AttributeValue::N(now_unix.to_string()))
    }

    fn write_error(&self, e: &impl std::error::Error) -> PublishError {
        PublishError::Write {
            table: self.table.clone(),
            message: format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(e)),
        }
    }

    /// [`DynamoPolicyStore::publish`], writing only when the published item
    /// holds another policy (or none): one conditional `PutItem`
    /// (`attribute_not_exists(pk) OR digest <> :digest`), so publishing the
    /// same file twice writes once. Returns the policy and whether it was
    /// written.
    pub async fn publish_if_changed(
        &self,
        text: &str,
        origin: &str,
        now_unix: i64,
    ) -> Result<(Policy, bool), PublishError> {
        let policy = Policy::parse(text, origin)?;
        let r = self
            .put(text, &policy, now_unix)
            .condition_expression("attribute_not_exists(pk) OR digest <> :digest")
            .expression_attribute_values(":digest", AttributeValue::S(policy.digest.clone()))
            .send()
            .await;
        match r {
            Ok(_) => Ok((policy, true)),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|s| s.is_conditional_check_failed_exception()) =>
            {
                Ok((policy, false))
            }
            Err(e) => Err(self.write_error(&e)),
        }
    }

    /// Removes the published policy; running triggers return to their bootstrap policy.
    pub async fn unpublish(&self) -> Result<(), String> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(POLICY_PK.into()))
            .key("sk", AttributeValue::S(POLICY_SK.into()))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&e)))
    }
}

impl PolicyFetch for DynamoPolicyStore {
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    async fn fetch(&self) -> Result<Option<PublishedPolicy>, String> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .key("pk", AttributeValue::S(POLICY_PK.into()))
            .key("sk", AttributeValue::S(POLICY_SK.into()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| format!("{}", aws_sdk_dynamodb::error::DisplayErrorContext(&e)))?;
        let Some(item) = out.item else {
            return Ok(None);
        };
        let s = |k: &str| match item.get(k) {
            Some(AttributeValue::S(v)) => Ok(v.clone()),
            _ => Err(format!(
                "the published policy item has no string attribute {k:?}"
            )),
        };
        let published_at = match item.get("published_at") {
            Some(AttributeValue::N(n)) => n.parse().unwrap_or(0),
            _ => 0,
        };
        Ok(Some(PublishedPolicy {
            body: s("body")?,
            digest: s("digest")?,
            published_at,
        }))
    }
}
