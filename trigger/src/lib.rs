//! pumpguard's guard engine.
//!
//! It decides, for every message Cognito is about to send by SMS, whether the
//! SMS may go. The engine ([`engine`]) is pure: the policy ([`policy`]) and the
//! number ([`phone`]) go in, a [`engine::Decision`] comes out. The Lambda
//! adapter ([`trigger`]) and the `pumpguard` CLI are thin layers around it.

pub mod account;
pub mod country;
pub mod dynamo;
pub mod engine;
pub mod phone;
pub mod policy;
pub mod source;
pub mod stateful;
pub mod store;

pub use country::Country;
pub use engine::{Decision, Engine, Verdict};
pub use policy::Policy;
pub use source::TriggerSource;
pub mod hash;
pub mod limits;
pub mod logs;
pub mod metrics;
pub mod prices;
pub mod published;
pub mod trigger;
