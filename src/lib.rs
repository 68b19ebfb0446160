//! apigw-compliance: keeps AWS API Gateway stages compliant with the Security Hub
//! API Gateway controls.
//!
//! The data flows one way: catalog -> inventory -> evaluate -> report. The CLI and the
//! operator are thin shells around that pipeline.

pub mod controller;
pub mod controls;
pub mod crd;
pub mod evaluate;
pub mod finding;
pub mod http;
pub mod inventory;
pub mod metrics;
pub mod ratelimit;
pub mod remediate;
pub mod report;
pub mod scan;
pub mod scope;
pub mod telemetry;
