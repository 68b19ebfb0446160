//! The integration tests: one test binary (`cargo test --test integration`), so the
//! crate is linked once and one run reports every failure. Each module is one area;
//! `cargo test --test integration operator::` runs one of them.
//!
//! [`support`] is the harness: the local kube-apiserver + etcd
//! ([`support::cluster`]), moto ([`support::moto`]), the operator binary as a child
//! process ([`support::operator`]) and seeding ([`support::seed`]). When `scripts/test`
//! has not started a control plane and moto (see docs/development.md), the first test
//! that needs one starts it for this process, and every test of the binary shares it:
//! tests isolate themselves in a namespace and a moto account of their own, and never
//! restart or reconfigure what they share (a test that restarts an API server starts a
//! private one).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code asserts by panicking

mod support;

// Change events (SQS) reach status without a sweep.
mod change_events;
// Answers the operator cannot use (the AWS edge under faults).
mod faults;
// The Helm chart: rendering, values schema, RBAC, and the operator run with the
// chart's identity.
mod chart;
// The local control plane itself is real (schema, CEL, RBAC, watches, Leases).
mod control_plane;
// `crds/` is what the code generates.
mod crd;
// Assumed-role sessions shorter than a read or a remediation run are renewed in it.
mod credentials;
// The IAM policies in docs/iam/ grant exactly the calls the code makes.
mod iam;
// The organization's IAM set-up (docs/iam/organization/): template, trust, Terraform.
mod iam_templates;
// What the test emulator (moto plus tests/moto/server.py) does.
mod moto_extensions;
// The operator end to end.
mod operator;
// Organization discovery: listing the accounts, selecting them, their member roles.
mod organization;
// One profile over an organization: the CLI and the operator, per-account verdicts.
mod organization_scan;
// Remediation through the operator.
mod operator_remediation;
// Remediation as a library and through `scan --remediate`.
mod remediate;
// The policy reports (OpenReports, wgpolicyk8s.io) with their real CRDs.
mod reports;
// `scan --output sarif` against the SARIF 2.1.0 schema.
mod sarif;
// The `scan` command against moto.
mod scan;
// The Security Hub export (operator) and `scan --output asff`, checked field by field.
mod securityhub;
// Overlapping profiles share inventory reads.
mod shared_inventory;
// Tenancy grants: the external id and Enforce, refused before any AWS call.
mod tenancy;
// Scans under AWS throttling.
mod throttling;
// No two writers fighting: conflicting Enforce profiles, resources owned elsewhere,
// the account's write cap.
mod writers;
