//! A whole account for `plan`/`apply`/`status` in one region: a fresh user
//! pool, trigger table, web ACL service and SNS in moto
//! (`PUMPGUARD_TEST_MOTO`, required), and End User Messaging simulated by
//! [`super::eum`]. Every client carries a [`Tap`]: it records each operation
//! the command makes (as the IAM action `service:Operation`) and can fail the
//! N-th write call after it has taken effect, as a dropped connection or a
//! crash right after a write would.

#![allow(dead_code, clippy::panic, clippy::unwrap_used, clippy::expect_used)]

use std::sync::{Arc, Mutex};

use aws_sdk_dynamodb::config::interceptors::FinalizerInterceptorContextMut;
use aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents, SharedInterceptor};
use aws_sdk_dynamodb::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;
use pumpguard_cli::converge::{Clients, Desired};
use pumpguard_cli::plan::Plan;
use pumpguard_engine::account::UserPoolPolicy;
use pumpguard_engine::Policy;

use super::eum::{mocked_eum_with, Account, Config, TextLimit, NOW};
use super::moto::{clients, create_sms_pool, create_table};
use super::moto::{root, sdk};

/// What the taps saw, shared by every client of a [`World`].
#[derive(Debug, Default)]
pub struct Journal {
    /// Every operation, in order, as `iam-prefix:Operation`.
    pub calls: Vec<String>,
    /// Write calls completed so far.
    pub writes: Vec<String>,
    /// Fail the write call with this 1-based number, after it took effect.
    pub fail_write: Option<usize>,
}

/// Reads are the operations named Get*, List* and Describe*; every other
/// operation pumpguard makes changes something.
pub fn is_write(operation: &str) -> bool {
    !["Get", "List", "Describe"]
        .iter()
        .any(|p| operation.starts_with(p))
}

#[derive(Debug, Clone)]
pub struct Tap {
    /// The IAM service prefix of the client's service.
    service: &'static str,
    journal: Arc<Mutex<Journal>>,
}

impl Tap {
    fn operation(&self, cfg: &ConfigBag) -> String {
        let op = cfg
            .load::<Metadata>()
            .expect("the operation's metadata")
            .name()
            .to_string();
        format!("{}:{op}", self.service)
    }
}

impl Intercept for Tap {
    fn name(&self) -> &'static str {
        "Tap"
    }

    fn modify_before_completion(
        &self,
        _: &mut FinalizerInterceptorContextMut<'_>,
        _: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        // The operation's metadata is in the bag by now (not yet before
        // execution); this hook runs once per operation, after any retries.
        let op = self.operation(cfg);
        let mut j = self.journal.lock().unwrap();
        j.calls.push(op.clone());
        if !is_write(op.split(':').nth(1).unwrap_or_default()) {
            return Ok(());
        }
        j.writes.push(op.clone());
        if j.fail_write == Some(j.writes.len()) {
            return Err(format!("simulated failure after write {} ({op})", j.writes.len()).into());
        }
        Ok(())
    }
}

/// One region of an account, set up fresh.
pub struct World {
    pub region: String,
    pub sdk: aws_config::SdkConfig,
    pub pool_id: String,
    pub pool_arn: String,
    pub table: String,
    pub trigger: String,
    /// The policy file's text.
    pub text: String,
    pub protect: Account,
    pub limit: TextLimit,
    pub journal: Arc<Mutex<Journal>>,
}

/// The numbers of the world's policy (`[protect] number-overrides`).
pub const OVERRIDE_NUMBERS: [&str; 2] = ["+1 202 555 0100", "+447911123456"];

const OVERRIDES: &str = r#"
[[protect.number-overrides]]
number = "+1 202 555 0100"
action = "allow"
expires = "2030-01-01T00:00:00Z"

[[protect.number-overrides]]
number = "+447911123456"
action = "block"

"#;

impl World {
    /// A fresh pool and table in `region` (give each test a region of its
    /// own: SNS's spend limit is region-wide), End User Messaging holding
    /// `configs`, its text limit at $1, SNS's at $1, and the example policy
    /// with two number overrides and `[user-pool]` for them.
    pub async fn new(region: &str, label: &str, configs: Vec<Config>) -> Self {
        let sdk = sdk(region).await;
        let n = format!("{label}-{}", std::process::id());

        let table = format!("world-{n}");
        create_table(&sdk, &table).await;
        let pool = create_sms_pool(&sdk, &format!("world-{n}")).await;
        let pool_id = pool.id.unwrap();
        let pool_arn = pool.arn.unwrap();

        aws_sdk_sns::Client::new(&sdk)
            .set_sms_attributes()
            .attributes("MonthlySpendLimit", "1")
            .send()
            .await
            .unwrap();

        let trigger = format!("arn:aws:lambda:{region}:123456789012:function:pumpguard-trigger");
        let example = std::fs::read_to_string(root().join("examples/policy.toml")).unwrap();
        assert!(
            example.contains("\n[spend]\n"),
            "the example policy changed shape"
        );
        let text = example.replace("\n[spend]\n", &format!("{OVERRIDES}[spend]\n"))
            + &format!(
                "\n[user-pool]\nid = \"{pool_id}\"\ntrigger-arn = \"{trigger}\"\ntable = \"{table}\"\n"
            );
        Self {
            region: region.to_string(),
            sdk,
            pool_id,
            pool_arn,
            table,
            trigger,
            text,
            protect: Account::new(configs),
            limit: TextLimit::new(1, 100, false),
            journal: Arc::default(),
        }
    }

    pub fn policy(&self) -> Policy {
        Policy::parse(&self.text, "policy.toml").unwrap_or_else(|e| panic!("{e}"))
    }

    fn tap(&self, service: &'static str) -> Tap {
        Tap {
            service,
            journal: self.journal.clone(),
        }
    }

    /// The region's clients, each with its tap.
    pub fn clients(&self) -> Clients {
        let rules = self
            .protect
            .reads
            .iter()
            .chain(&self.protect.writes)
            .chain([&self.limit.describe, &self.limit.set]);
        let eum = mocked_eum_with(rules, vec![SharedInterceptor::new(self.tap("sms-voice"))]);
        clients(&self.sdk, eum, |service| {
            SharedInterceptor::new(self.tap(service))
        })
    }

    /// Reads and plans the region, as `pumpguard plan` does.
    pub async fn plan(&self, policy: &Policy, replace_triggers: bool) -> anyhow::Result<Plan> {
        self.plan_text(policy, &self.text, replace_triggers).await
    }

    /// [`World::plan`] for another policy text (`policy` parsed from it).
    pub async fn plan_text(
        &self,
        policy: &Policy,
        text: &str,
        replace_triggers: bool,
    ) -> anyhow::Result<Plan> {
        let pool: &UserPoolPolicy = policy.user_pool.as_ref().expect("[user-pool]");
        let d = Desired {
            policy,
            text,
            origin: "policy.toml",
            pool,
            replace_triggers,
            grant_invoke: false,
            now: NOW,
        };
        let region = pumpguard_cli::account::plan_region(&self.clients(), &d).await?;
        Ok(Plan {
            regions: vec![region],
        })
    }

    /// The operations recorded so far, emptied.
    pub fn take_calls(&self) -> Vec<String> {
        std::mem::take(&mut self.journal.lock().unwrap().calls)
    }

    /// Fail the `n`-th write call from now (`None`: fail none).
    pub fn fail_write(&self, n: Option<usize>) {
        let mut j = self.journal.lock().unwrap();
        j.writes.clear();
        j.fail_write = n;
    }

    pub fn writes(&self) -> Vec<String> {
        self.journal.lock().unwrap().writes.clone()
    }
}
