//! Test support shared by pumpguard's crates, for their test suites only
//! (a dev-dependency, never linked into a binary).

#![allow(clippy::panic, clippy::unwrap_used)]

pub mod privacy;
