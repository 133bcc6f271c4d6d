//! The `pumpguard` command's library: every subcommand's logic, so that the
//! binary (`main.rs`) only parses arguments and sets exit codes, and tests can
//! drive the planners and AWS adapters directly.

pub mod account;
pub mod check;
pub mod converge;
pub mod identity;
pub mod import;
pub mod plan;
pub mod render;
pub mod replay;
pub mod replay_report;
pub mod report;
pub mod simulate;
pub mod status;

/// `--output text|json`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Output {
    Text,
    Json,
}
