//! The Lambda side of pumpguard: the Cognito trigger adapter ([`trigger`]),
//! the DynamoDB store ([`dynamo`]) and published-policy item
//! ([`published`]), and the Lambda's log setup ([`logs`]). The decisions
//! themselves are `pumpguard-engine`'s; `bootstrap` wires them together.

pub mod dynamo;
pub mod logs;
pub mod published;
pub mod runtime;
#[cfg(feature = "sender")]
pub mod sender;
pub mod trigger;
