//! The trigger's published policy: the item `pumpguard publish` writes to the
//! trigger's table, which running triggers re-read within their refresh
//! interval. `apply` publishes the policy it was given when the table holds
//! another (by digest).

use pumpguard_engine::published::{PolicyFetch, PublishedPolicy};
use pumpguard_trigger::published::DynamoPolicyStore;

use crate::converge::{Clients, Desired};
use crate::plan::{Action, Change, FieldChange, Write};

/// The write calls of one change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublishedWrite {
    /// Publish this policy text to this table.
    Put {
        table: String,
        text: String,
        origin: String,
        now: i64,
    },
}

/// What the read calls found.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Observed {
    pub published: Option<PublishedPolicy>,
}

pub async fn read(c: &Clients, d: &Desired<'_>) -> anyhow::Result<Observed> {
    let store = DynamoPolicyStore::new(c.dynamodb.clone(), &d.pool.table);
    let published = store.fetch().await.map_err(|e| {
        anyhow::anyhow!(
            "cannot read the published policy from table {}: {e}; check user-pool.table and \
             dynamodb:GetItem permission",
            d.pool.table
        )
    })?;
    Ok(Observed { published })
}

pub fn plan(d: &Desired<'_>, o: &Observed) -> (Vec<Change>, Vec<String>) {
    let want = &d.policy.digest;
    let (action, from) = match &o.published {
        Some(p) if &p.digest == want => return (Vec::new(), Vec::new()),
        Some(p) => (Action::Update, Some(short(&p.digest))),
        None => (Action::Create, None),
    };
    let change = Change {
        resource: "published-policy".into(),
        name: d.pool.table.clone(),
        action,
        fields: vec![FieldChange::new("sha256", from, Some(short(want)))],
        order: 0,
        writes: vec![Write::Published(PublishedWrite::Put {
            table: d.pool.table.clone(),
            text: d.text.to_string(),
            origin: d.origin.to_string(),
            now: d.now,
        })],
    };
    (vec![change], Vec::new())
}

fn short(digest: &str) -> String {
    digest.chars().take(12).collect()
}

pub async fn apply(c: &Clients, w: &PublishedWrite) -> anyhow::Result<()> {
    match w {
        PublishedWrite::Put {
            table,
            text,
            origin,
            now,
        } => {
            DynamoPolicyStore::new(c.dynamodb.clone(), table)
                .publish(text, origin, *now)
                .await?;
            Ok(())
        }
    }
}
