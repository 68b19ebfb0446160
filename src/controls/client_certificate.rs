//! APIGateway.2 — API Gateway REST API stages should be configured to use SSL
//! certificates for backend authentication.
//!
//! Traces to: "This control checks whether Amazon API Gateway REST API stages have SSL
//! certificates configured." Decisions: docs/controls/APIGateway.2.md.

use crate::controls::{
    ControlId, ControlMeta, ControlParameters, ResourceType, Severity, name_list, non_empty,
};
use crate::finding::{Finding, Status};
use crate::inventory::{IntegrationLookup, RegionInventory, RestApi, RestStage, rest_stage_arn};

pub static META: ControlMeta = ControlMeta {
    id: ControlId::ApiGateway2,
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

/// One finding per REST stage.
pub fn evaluate(region: &RegionInventory, params: &ControlParameters, findings: &mut Vec<Finding>) {
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
    params: &ControlParameters,
) -> (Status, String) {
    let options = &params.client_certificate;
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
    use crate::controls::ClientCertificateParameters;
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
            client_certificate: ClientCertificateParameters {
                only_with_http_integrations: true,
                ..ClientCertificateParameters::default()
            },
            ..ControlParameters::default()
        }
    }

    fn accepting(ids: &[&str]) -> ControlParameters {
        ControlParameters {
            client_certificate: ClientCertificateParameters {
                accepted_certificate_ids: ids.iter().map(|id| (*id).to_string()).collect(),
                ..ClientCertificateParameters::default()
            },
            ..ControlParameters::default()
        }
    }

    #[test]
    fn stage_with_a_client_certificate_passes() {
        let finding = run_one(
            evaluate,
            &api_region(Some("cert1"), None),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Passed);
        assert_eq!(
            finding.reason,
            "client certificate cert1 is configured for backend authentication"
        );
        assert_eq!(finding.control_id, ControlId::ApiGateway2);
        assert_eq!(finding.resource_type, ResourceType::RestStage);
        assert_eq!(finding.severity, Severity::Medium);
    }

    #[test]
    fn stage_without_a_client_certificate_fails() {
        let finding = run_one(
            evaluate,
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
            evaluate,
            &api_region(Some(""), None),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
    }

    #[test]
    fn certificate_in_the_allow_list_passes() {
        let finding = run_one(
            evaluate,
            &api_region(Some("cert1"), None),
            &accepting(&["cert0", "cert1"]),
        );
        assert_eq!(finding.status, Status::Passed);
    }

    #[test]
    fn certificate_outside_the_allow_list_fails_and_names_both() {
        let finding = run_one(
            evaluate,
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
            evaluate,
            &api_region(None, Some(IntegrationLookup::Found(false))),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
    }

    #[test]
    fn api_without_http_integration_is_not_applicable_when_the_option_is_on() {
        let finding = run_one(
            evaluate,
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
            run_one(evaluate, &region, &only_http()).status,
            Status::Failed
        );
        let region = api_region(Some("cert1"), Some(IntegrationLookup::Found(true)));
        assert_eq!(
            run_one(evaluate, &region, &only_http()).status,
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
        let finding = run_one(evaluate, &region, &only_http());
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
        let finding = run_one(evaluate, &api_region(Some("cert1"), None), &only_http());
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
                crate::inventory::V2Protocol::Http,
                vec![v2_stage()],
                Vec::new(),
            )],
        );
        assert!(run(evaluate, &region, &ControlParameters::default()).is_empty());
    }
}
