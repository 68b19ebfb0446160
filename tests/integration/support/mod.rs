//! The test harness of the integration test binary (`tests/integration/main.rs`
//! declares it with `mod support;`); the benchmarks that need a control plane or moto
//! include it too (`#[path]`). Each user needs a different subset, hence the allow.
#![allow(dead_code)]

pub mod cluster;
pub mod fault_proxy;
pub mod moto;
pub mod operator;
pub mod organization;
pub mod seed;
