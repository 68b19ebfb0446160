//! Test support shared by the integration test binaries (each includes it with
//! `mod support;`). Each binary uses a different subset, hence the allow below.
#![allow(dead_code)]

pub mod cluster;
pub mod moto;
pub mod operator;
pub mod seed;
