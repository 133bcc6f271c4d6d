//! What both Lambda binaries (`bootstrap` and `sender`) set up the same
//! way: their environment, their clock and their state store.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pumpguard_engine::store::{MemoryStore, Op, OpResult, Store, StoreError};

use crate::dynamo::DynamoStore;

/// An environment variable, `None` when unset or empty.
pub fn env(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.is_empty())
}

/// The time since the Unix epoch, from the system clock.
pub fn unix_now() -> Duration {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}

/// The state store: the table when configured, else this instance's memory.
#[derive(Debug)]
pub enum AnyStore {
    Dynamo(DynamoStore),
    Memory(MemoryStore),
}

impl Store for AnyStore {
    async fn execute(&self, op: Op) -> Result<OpResult, StoreError> {
        match self {
            AnyStore::Dynamo(s) => s.execute(op).await,
            AnyStore::Memory(s) => s.execute(op).await,
        }
    }

    /// The engine's timer for `state.timeout-ms`, on the Lambda's runtime.
    async fn sleep(&self, d: Duration) {
        tokio::time::sleep(d).await;
    }

    fn memo(&self) -> Option<&pumpguard_engine::store::HistoryMemo> {
        match self {
            AnyStore::Dynamo(s) => s.memo(),
            AnyStore::Memory(s) => s.memo(),
        }
    }
}
