//! The `ComplianceProfile` custom resource (`apigwcompliance.io/v1alpha1`): the API
//! contract. [`spec`] says what to check, where, how often and what remediation may
//! do; [`status`] holds the verdicts the operator writes back. The CRD YAML in `crds/`
//! is generated from these types (`apigw-compliance crd`).
//!
//! Validation happens twice, from the same intent:
//! - at admission, by the API server, from the OpenAPI schema (enums, patterns, bounds)
//!   and the CEL rules (`x-kubernetes-validations`) of [`schema`] (the catalog's own
//!   come from each control's file), so a bad profile is refused before it is stored;
//! - in Rust, by [`validate`], for profiles that never went through an API server
//!   (`scan --profile FILE`) and for what CEL cannot check (glob syntax).

pub mod schema;
pub mod settings;
pub mod spec;
pub mod status;
pub mod validate;

pub use settings::{Exemption, Remediation, RemediationMode, RemediationSettings};
pub use spec::{
    AccountFilter, ApiType, ComplianceProfile, ComplianceProfileSpec, ControlSelection, Export,
    NameFilter, OrganizationScope, Scope, SecurityHubExport, TagFilter,
};
pub use status::{
    ComplianceProfileStatus, Condition, ConditionStatus, ControlCounts, FailingFinding,
    RemediationStatus, ScanError, Summary,
};
pub use validate::{ManifestError, SpecError};

/// The CRD as YAML, exactly as checked in under `crds/`.
pub fn crd_yaml() -> Result<String, serde_yaml::Error> {
    use kube::CustomResourceExt;
    serde_yaml::to_string(&ComplianceProfile::crd())
}
