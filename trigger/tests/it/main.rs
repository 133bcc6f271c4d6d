//! pumpguard-trigger's integration tests: the Lambda adapter, the DynamoDB store (against moto, which `scripts/test.sh` starts), faults, privacy, the role and the metrics.
//!
//! One test binary per crate (each binary links the AWS SDKs): every file
//! here is a module of it.

mod alarms;
mod clock_skew;
mod common;
mod dynamo_guards;
mod dynamo_policy;
mod emf;
mod faults;
mod guards;
mod handler;
mod load;
mod memo;
mod numbers;
mod presignup;
mod privacy;
mod role;
#[cfg(feature = "sender")]
mod sender;
mod stateful;
mod store_contract;
