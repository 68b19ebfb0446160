//! apigw-compliance: keeps AWS API Gateway stages compliant with the Security Hub API
//! Gateway controls.
//!
//! The data flows one way: catalog -> inventory -> evaluate -> plan -> apply -> report.
//! The CLI (`scan`) and the operator (`run`) are two thin shells around one pipeline;
//! each decides only where a profile comes from and where the results go.
//!
//! Modules import downward only, in this order (no cycles):
//!
//! - [`model`]: the vocabulary (findings, ids, ARNs, plans, outcomes, error kinds);
//! - [`metrics`], [`telemetry`], [`http`]: the operator's observability;
//! - [`aws`]: SDK configuration, the HTTP client layer, identities, error
//!   classification;
//! - [`inventory`]: the SDK-free model of what is read, the reader, the shared cache;
//! - [`changes`]: change events (CloudTrail via EventBridge and SQS) parsed into what to
//!   re-read;
//! - [`controls`]: the catalog, one file per control;
//! - [`crd`]: the ComplianceProfile contract (spec, status, schema, validation);
//! - [`pipeline`]: the one road from a profile and its reads to findings, a plan and
//!   its outcome;
//! - [`report`]: the CLI's table and JSON contract;
//! - [`cli`] and [`controller`]: the two shells.

pub mod aws;
pub mod changes;
pub mod cli;
pub mod controller;
pub mod controls;
pub mod crd;
pub mod http;
pub mod inventory;
pub mod metrics;
pub mod model;
pub mod pipeline;
pub mod report;
pub mod telemetry;
