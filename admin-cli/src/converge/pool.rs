//! Placeholder: being written.

use crate::converge::{Clients, Desired};
use crate::plan::Change;

/// The write calls of one change.
#[derive(Debug, Clone, PartialEq)]
pub enum PoolWrite {}

/// What the read calls found.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Observed {}

pub async fn read(_c: &Clients, _d: &Desired<'_>) -> anyhow::Result<Observed> {
    Ok(Observed::default())
}

pub fn plan(_d: &Desired<'_>, _o: &Observed) -> anyhow::Result<(Vec<Change>, Vec<String>)> {
    Ok((Vec::new(), Vec::new()))
}

pub async fn apply(_c: &Clients, w: &PoolWrite) -> anyhow::Result<()> {
    match *w {}
}
