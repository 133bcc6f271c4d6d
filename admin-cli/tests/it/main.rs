//! pumpguard-cli's integration tests: the `pumpguard` command and its library against moto (Cognito, DynamoDB, WAF, SNS, Lambda) and SDK-level replays for End User Messaging.
//!
//! One test binary per crate (each binary links the AWS SDKs): every file
//! here is a module of it.

mod cli;
mod common;
mod converge;
mod foreign;
mod iam;
mod import;
mod interrupted;
mod pool;
mod privacy;
mod profile;
mod protect;
mod publish;
mod records;
mod render;
mod replay;
mod simulate;
mod spend;
mod waf;
