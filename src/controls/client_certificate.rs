//! APIGateway.2 — API Gateway REST API stages should be configured to use SSL
//! certificates for backend authentication.
//!
//! Traces to: "This control checks whether Amazon API Gateway REST API stages have SSL
//! certificates configured." Decisions: docs/controls/APIGateway.2.md.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::controls::admission::{Admission, AllowList, BoundedString, ObjectRule, SpecRule};
use crate::controls::planning::{PlanInput, Resource, ResourcePlan, rest_update_stage};
use crate::controls::common::{
    Source,ControlMeta, Semantics, FieldError, name_list, non_empty, shown};
use crate::inventory::{IntegrationLookup, Needs, RegionInventory, RestApi, RestStage};
use crate::model::arn::rest_stage_arn;
use crate::model::plan::{ChangeItem, Edit, PatchValue, UnplannedReason};
use crate::model::{ControlId, Finding, ResourceType, Severity, Status};

pub const ID: ControlId = ControlId::new("APIGateway.2");

/// The description of a client certificate remediation generates: what it is for, seen
/// in the console beside the certificates of the account.
pub const GENERATED_CERTIFICATE_DESCRIPTION: &str =
    "apigw-compliance: API Gateway's client certificate for backend authentication (APIGateway.2)";

/// API Gateway client certificate ids are short lowercase alphanumerics.
const CERTIFICATE_ID_PATTERN: &str = "^[a-z0-9]{1,64}$";

/// Why a certificate outside the accepted ones is refused.
const NOT_ACCEPTED: &str = "with spec.controls.parameters.clientCertificate.acceptedCertificateIds set, name one of them in certificateId (a generated certificate is not in the list)";

/// How `spec.controls.parameters` describes this control's parameters.
pub const PARAMETERS_DOC: &str = "APIGateway.2.";

/// How `spec.remediation.controls` describes this control's remediation settings.
pub const REMEDIATION_DOC: &str = "APIGateway.2: client certificate. Off unless set (opt-in: certificates expire after 365 days and some backends refuse client TLS).";

pub static META: ControlMeta = ControlMeta {
    id: ID,
    source: Source::SecurityHub,
    title: "API Gateway REST API stages should be configured to use SSL certificates for backend authentication",
    severity: Severity::Medium,
    category: "Protect > Data protection",
    resource_types: &[ResourceType::RestStage],
    related_requirements: &[
        "NIST.800-53.r5 AC-17(2)",
        "NIST.800-53.r5 AC-4",
        "NIST.800-53.r5 IA-5(1)",
        "NIST.800-53.r5 SC-12(3)",
        "NIST.800-53.r5 SC-13",
        "NIST.800-53.r5 SC-23",
        "NIST.800-53.r5 SC-23(3)",
        "NIST.800-53.r5 SC-7(4)",
        "NIST.800-53.r5 SC-8",
        "NIST.800-53.r5 SC-8(1)",
        "NIST.800-53.r5 SC-8(2)",
        "NIST.800-53.r5 SI-7(6)",
    ],
    config_rule: "api-gw-ssl-enabled",
    unsupported_regions: &[
        "ap-northeast-3",
        "cn-north-1",
        "cn-northwest-1",
        "us-gov-east-1",
        "us-gov-west-1",
    ],
    remediation_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/getting-started-client-side-ssl-authentication.html",
};

pub static ADMISSION: Admission = Admission {
    parameter_lists: &[AllowList {
        path: &["clientCertificate", "acceptedCertificateIds"],
        min_items: None,
        item_pattern: Some(CERTIFICATE_ID_PATTERN),
        item_max_length: Some(64),
    }],
    remediation_fields: &[BoundedString {
        path: &["controls", "clientCertificate", "certificateId"],
        max_length: 64,
    }],
    remediation_rules: &[ObjectRule {
        path: &["controls", "clientCertificate"],
        rule: "(has(self.generate) && self.generate) != has(self.certificateId)",
        message: "set either generate: true or certificateId, not both",
    }],
    spec_rules: &[SpecRule {
        rule: "!has(self.remediation) || !has(self.remediation.controls) \
            || !has(self.remediation.controls.clientCertificate) \
            || !has(self.controls) || !has(self.controls.parameters) \
            || !has(self.controls.parameters.clientCertificate) \
            || !has(self.controls.parameters.clientCertificate.acceptedCertificateIds) \
            || size(self.controls.parameters.clientCertificate.acceptedCertificateIds) == 0 \
            || (has(self.remediation.controls.clientCertificate.certificateId) \
                && self.remediation.controls.clientCertificate.certificateId in self.controls.parameters.clientCertificate.acceptedCertificateIds)",
        message: NOT_ACCEPTED,
        field_path: ".remediation.controls.clientCertificate",
    }],
};

/// APIGateway.2 parameters (`spec.controls.parameters.clientCertificate`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Parameters {
    /// When not empty, only these client certificate ids pass.
    pub accepted_certificate_ids: Vec<String>,
    /// Evaluate only APIs with an HTTP integration (NOT_APPLICABLE otherwise), as AWS
    /// Config's rule documentation describes. Off by default: it costs one throttled
    /// GetResources call per REST API.
    pub only_with_http_integrations: bool,
}

/// APIGateway.2 remediation: client certificate. Off unless set (opt-in: certificates
/// expire after 365 days and some backends refuse client TLS). Exactly one of
/// `generate` or `certificateId` (`spec.remediation.controls.clientCertificate`).
pub type Remediation = Option<CertificateRemediation>;

/// Where remediation takes the client certificate from.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct CertificateRemediation {
    /// Generate one client certificate per region (tagged
    /// `apigwcompliance.io/managed=true`, reused by later scans while it has more than
    /// 30 days left) and attach it.
    pub generate: bool,
    /// Attach this existing client certificate (its id, e.g. `a1b2c3`) instead.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = r"^[a-z0-9]{1,64}$"))]
    pub certificate_id: Option<String>,
}

/// Where the certificate comes from.
#[derive(Clone, Debug, PartialEq, Eq)]
enum CertificateSource {
    Generate,
    Existing(String),
}

impl CertificateRemediation {
    fn source(&self) -> Result<CertificateSource, String> {
        match (self.generate, self.certificate_id.as_deref().map(str::trim)) {
            (true, None) => Ok(CertificateSource::Generate),
            (false, Some(id)) if !id.is_empty() => Ok(CertificateSource::Existing(id.to_string())),
            (true, Some(_)) => Err("set either generate: true or certificateId, not both".to_string()),
            (false, _) => Err(
                "set generate: true or a certificateId (or leave clientCertificate out to keep APIGateway.2 remediation off)"
                    .to_string(),
            ),
        }
    }
}

/// REST stages, and the HTTP integration lookup when the profile asks for it.
pub fn needs(params: &Parameters) -> Needs {
    Needs {
        rest: true,
        http_integrations: params.only_with_http_integrations,
        ..Needs::default()
    }
}

pub fn validate(params: &Parameters, settings: &Remediation) -> Result<(), FieldError> {
    let Some(certificate) = &settings else {
        return Ok(());
    };
    certificate
        .source()
        .map_err(|message| FieldError::new("remediation.controls.clientCertificate", message))?;
    let accepted = &params.accepted_certificate_ids;
    if !accepted.is_empty()
        && !certificate
            .certificate_id
            .as_ref()
            .is_some_and(|id| accepted.contains(id))
    {
        return Err(FieldError::new(
            "remediation.controls.clientCertificate",
            NOT_ACCEPTED,
        ));
    }
    Ok(())
}

/// Attaches the configured (or a generated) certificate; opt-in only.
pub fn plan(input: &PlanInput<'_>, params: &Parameters, settings: &Remediation, out: &mut ResourcePlan) {
    let Resource::RestStage(api, stage) = input.resource else {
        return;
    };
    let Some(remediation) = &settings else {
        return out.unplanned(
            ID,
            UnplannedReason::Disabled,
            "client certificate remediation is opt-in: set clientCertificate {generate: true} or {certificateId: ...} \
             once the backends accept API Gateway's client certificate"
                .to_string(),
        );
    };
    let source = match remediation.source() {
        Ok(source) => source,
        Err(message) => return out.unplanned(ID, UnplannedReason::InvalidSettings, message),
    };
    let accepted = &params.accepted_certificate_ids;
    let value = match source {
        CertificateSource::Generate if !accepted.is_empty() => {
            return out.unplanned(
                ID,
                UnplannedReason::InvalidSettings,
                "clientCertificate.generate cannot satisfy acceptedCertificateIds (a new certificate is not in the list); \
                 name an accepted certificate with clientCertificate.certificateId"
                    .to_string(),
            );
        }
        CertificateSource::Existing(id) if !accepted.is_empty() && !accepted.contains(&id) => {
            return out.unplanned(
                ID,
                UnplannedReason::InvalidSettings,
                format!("clientCertificate.certificateId {id} is not among acceptedCertificateIds"),
            );
        }
        CertificateSource::Generate => PatchValue::GeneratedClientCertificate,
        CertificateSource::Existing(id) => PatchValue::Literal(id),
    };
    let operation = rest_update_stage(api, stage);
    let current = non_empty(&stage.client_certificate_id);
    if let Some(current) = current {
        out.note(
            &operation,
            format!(
                "replaces client certificate {current}, which acceptedCertificateIds does not list"
            ),
        );
    }
    out.item(
        &operation,
        ChangeItem {
            control_id: ID,
            setting: "client certificate".to_string(),
            before: shown(current),
            after: value.shown().to_string(),
            edit: Edit::RestReplace {
                path: "/clientCertificateId".to_string(),
                value,
            },
            precondition: None,
        },
    );
}

/// One finding per REST stage.
pub fn evaluate(
    region: &RegionInventory,
    params: &Parameters,
    _: Semantics,
    findings: &mut Vec<Finding>,
) {
    for api in &region.rest_apis {
        for stage in &api.stages {
            let (status, reason) = evaluate_stage(api, stage, params);
            findings.push(META.finding(
                ResourceType::RestStage,
                &region.region,
                rest_stage_arn(&region.region, &api.id, &stage.name),
                status,
                reason,
            ));
        }
    }
}

fn evaluate_stage(
    api: &RestApi,
    stage: &RestStage,
    params: &Parameters,
) -> (Status, String) {
    let options = params;
    if options.only_with_http_integrations {
        match &api.http_integration {
            Some(IntegrationLookup::Found(true)) => {}
            Some(IntegrationLookup::Found(false)) => {
                return (
                    Status::NotApplicable,
                    format!(
                        "API {} has no HTTP integration, so no backend authenticates API Gateway's \
                         client certificate (clientCertificate.onlyWithHttpIntegrations is on)",
                        api.id
                    ),
                );
            }
            Some(IntegrationLookup::Failed(message)) => {
                return (
                    Status::Error,
                    format!(
                        "could not tell whether API {} has an HTTP integration, which \
                         clientCertificate.onlyWithHttpIntegrations needs: {message}",
                        api.id
                    ),
                );
            }
            // Never guess "no HTTP integration": that would hide a real failure.
            None => {
                return (
                    Status::Error,
                    format!(
                        "the HTTP integration lookup (GetResources) was not performed for API {}, \
                         which clientCertificate.onlyWithHttpIntegrations needs",
                        api.id
                    ),
                );
            }
        }
    }

    let Some(certificate) = non_empty(&stage.client_certificate_id) else {
        return (
            Status::Failed,
            "stage has no client certificate for backend authentication; generate a client \
             certificate and set the stage's clientCertificateId to it"
                .to_string(),
        );
    };
    let accepted = &options.accepted_certificate_ids;
    if !accepted.is_empty() && !accepted.iter().any(|id| id == certificate) {
        return (
            Status::Failed,
            format!(
                "client certificate {certificate} is not one of the accepted certificates ({}); \
                 set clientCertificateId to an accepted certificate",
                name_list(accepted)
            ),
        );
    }
    (
        Status::Passed,
        format!("client certificate {certificate} is configured for backend authentication"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::ControlParameters;
        use crate::controls::test_support::*;

    fn stage_with_certificate(certificate: Option<&str>) -> RestStage {
        RestStage {
            client_certificate_id: certificate.map(str::to_string),
            ..rest_stage(&[])
        }
    }

    fn api_region(certificate: Option<&str>, lookup: Option<IntegrationLookup>) -> RegionInventory {
        let mut api = rest_api("a1b2c3", vec![stage_with_certificate(certificate)]);
        api.http_integration = lookup;
        region_with(vec![api], Vec::new())
    }

    fn only_http() -> ControlParameters {
        ControlParameters {
            client_certificate: Parameters {
                only_with_http_integrations: true,
                ..Parameters::default()
            },
            ..ControlParameters::default()
        }
    }

    fn accepting(ids: &[&str]) -> ControlParameters {
        ControlParameters {
            client_certificate: Parameters {
                accepted_certificate_ids: ids.iter().map(|id| (*id).to_string()).collect(),
                ..Parameters::default()
            },
            ..ControlParameters::default()
        }
    }

    #[test]
    fn stage_with_a_client_certificate_passes() {
        let finding = run_one(
            ID,
            &api_region(Some("cert1"), None),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Passed);
        assert_eq!(
            finding.reason,
            "client certificate cert1 is configured for backend authentication"
        );
        assert_eq!(finding.control_id, ID);
        assert_eq!(finding.resource_type, ResourceType::RestStage);
        assert_eq!(finding.severity, Severity::Medium);
    }

    #[test]
    fn stage_without_a_client_certificate_fails() {
        let finding = run_one(
            ID,
            &api_region(None, None),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding
                .reason
                .starts_with("stage has no client certificate"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn stage_with_an_empty_client_certificate_id_fails() {
        let finding = run_one(
            ID,
            &api_region(Some(""), None),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
    }

    #[test]
    fn certificate_in_the_allow_list_passes() {
        let finding = run_one(
            ID,
            &api_region(Some("cert1"), None),
            &accepting(&["cert0", "cert1"]),
        );
        assert_eq!(finding.status, Status::Passed);
    }

    #[test]
    fn certificate_outside_the_allow_list_fails_and_names_both() {
        let finding = run_one(
            ID,
            &api_region(Some("rogue"), None),
            &accepting(&["cert0", "cert1"]),
        );
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(
            finding.reason,
            "client certificate rogue is not one of the accepted certificates (cert0 and cert1); \
             set clientCertificateId to an accepted certificate"
        );
    }

    #[test]
    fn http_integration_lookup_is_ignored_when_the_option_is_off() {
        let finding = run_one(
            ID,
            &api_region(None, Some(IntegrationLookup::Found(false))),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
    }

    #[test]
    fn api_without_http_integration_is_not_applicable_when_the_option_is_on() {
        let finding = run_one(
            ID,
            &api_region(None, Some(IntegrationLookup::Found(false))),
            &only_http(),
        );
        assert_eq!(finding.status, Status::NotApplicable);
        assert!(
            finding
                .reason
                .contains("API a1b2c3 has no HTTP integration"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn api_with_http_integration_is_evaluated_when_the_option_is_on() {
        let region = api_region(None, Some(IntegrationLookup::Found(true)));
        assert_eq!(
            run_one(ID, &region, &only_http()).status,
            Status::Failed
        );
        let region = api_region(Some("cert1"), Some(IntegrationLookup::Found(true)));
        assert_eq!(
            run_one(ID, &region, &only_http()).status,
            Status::Passed
        );
    }

    #[test]
    fn failed_integration_lookup_is_an_error_with_its_message() {
        let region = api_region(
            Some("cert1"),
            Some(IntegrationLookup::Failed(
                "GetResources throttled (TooManyRequestsException)".to_string(),
            )),
        );
        let finding = run_one(ID, &region, &only_http());
        assert_eq!(finding.status, Status::Error);
        assert!(
            finding
                .reason
                .ends_with("GetResources throttled (TooManyRequestsException)"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn integration_lookup_not_performed_is_an_error_when_the_option_is_on() {
        let finding = run_one(ID, &api_region(Some("cert1"), None), &only_http());
        assert_eq!(finding.status, Status::Error);
        assert!(
            finding.reason.contains("was not performed"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn v2_apis_get_no_finding() {
        let region = region_with(
            Vec::new(),
            vec![v2_api(
                "h",
                crate::model::V2Protocol::Http,
                vec![v2_stage()],
                Vec::new(),
            )],
        );
        assert!(run(ID, &region, &ControlParameters::default()).is_empty());
    }

    /// The specification (securityhub-apigateway-controls.md), field by field, in its
    /// own words: the test is its letter in code.
    #[test]
    fn catalog_entry_matches_the_specification() {
        assert_matches_spec(
            &META,
            &SpecEntry {
                title: "API Gateway REST API stages should be configured to use SSL certificates for backend authentication",
                severity: Severity::Medium,
                category: "Protect > Data protection",
                resource_types: &["AWS::ApiGateway::Stage"],
                related_requirements: "NIST.800-53.r5 AC-17(2), NIST.800-53.r5 AC-4, NIST.800-53.r5 IA-5(1), \
                    NIST.800-53.r5 SC-12(3), NIST.800-53.r5 SC-13, NIST.800-53.r5 SC-23, NIST.800-53.r5 SC-23(3), \
                    NIST.800-53.r5 SC-7(4), NIST.800-53.r5 SC-8, NIST.800-53.r5 SC-8(1), NIST.800-53.r5 SC-8(2), \
                    NIST.800-53.r5 SI-7(6)",
                config_rule: "https://docs.aws.amazon.com/config/latest/developerguide/api-gw-ssl-enabled.html",
                unsupported_regions: &[
                    "Asia Pacific (Osaka)",
                    "China (Beijing)",
                    "China (Ningxia)",
                    "AWS GovCloud (US-East)",
                    "AWS GovCloud (US-West)",
                ],
                remediation_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/getting-started-client-side-ssl-authentication.html",
            },
        );
    }
}
