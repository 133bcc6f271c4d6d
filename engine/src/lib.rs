//! pumpguard's guard engine.
//!
//! It decides, for every message Cognito is about to send by SMS, whether the
//! SMS may go. The engine ([`engine`]) is pure: the policy ([`policy`]) and the
//! number ([`phone`]) go in, a [`engine::Decision`] comes out. The stateful
//! guards ([`stateful`]) describe what they need from the shared state as
//! [`store::Op`]s, carried out by a [`store::Store`]: the in-memory one here,
//! the DynamoDB one in `pumpguard-trigger`. Time comes in as a value and
//! timers come from the store, so this crate has no runtime, no clock and no
//! AWS SDK; the Lambda adapters (`pumpguard-trigger`) and the `pumpguard` CLI
//! (`pumpguard-cli`) are layers around it.

pub mod account;
pub mod country;
pub mod engine;
pub mod features;
pub mod guards;
pub mod hash;
pub mod keys;
pub mod limits;
pub mod metrics;
pub mod phone;
pub mod policy;
pub mod presignup;
pub mod prices;
pub mod published;
pub mod sender;
pub mod source;
pub mod stateful;
pub mod store;
pub mod window;

pub use country::Country;
pub use engine::{Decision, Engine, Verdict};
pub use policy::Policy;
pub use source::TriggerSource;
