//! Shared by the admin command's integration tests.

#![allow(dead_code)]

pub mod eum;
pub mod moto;
pub mod replayed;
pub mod world;
