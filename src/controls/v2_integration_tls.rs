//! APIGateway.10 — API Gateway V2 integrations should use HTTPS for private connections.
//!
//! Traces to: "Checks whether an API Gateway V2 integration that uses a private
//! connection (a VPC link) has TLS configured. It fails when such an integration has no
//! TLS configuration." Decisions: docs/controls/APIGateway.10.md.

use crate::controls::admission::Admission;
use crate::controls::common::{ControlMeta, FieldError, Semantics, Source};
use crate::controls::planning::{PlanInput, Resource, ResourcePlan};
use crate::inventory::{Integration, Needs, RegionInventory, V2Api};
use crate::model::arn::v2_integration_arn;
use crate::model::plan::UnplannedReason;
use crate::model::{ControlId, Finding, ResourceType, Severity, Status, V2Protocol};

pub const ID: ControlId = ControlId::new("APIGateway.10");

pub static META: ControlMeta = ControlMeta {
    id: ID,
    source: Source::SecurityHub,
    title: "API Gateway V2 integrations should use HTTPS for private connections",
    severity: Severity::Medium,
    category: "Protect > Data Protection > Encryption of data-in-transit",
    resource_types: &[ResourceType::V2Integration],
    related_requirements: &[],
    config_rule: "apigatewayv2-integration-private-https-enabled",
    unsupported_regions: &[
        "ap-southeast-6",
        "cn-north-1",
        "cn-northwest-1",
        "ap-southeast-7",
        "us-gov-east-1",
        "us-gov-west-1",
        "mx-central-1",
        "ap-east-2",
    ],
    remediation_url: "https://docs.aws.amazon.com/securityhub/latest/userguide/apigateway-controls.html#apigateway-10",
};

pub static ADMISSION: Admission = Admission::NONE;

/// The connection type of a private integration.
const VPC_LINK: &str = "VPC_LINK";

/// v2 APIs with their integrations (one GetIntegrations per API).
pub fn needs(_: &()) -> Needs {
    Needs {
        v2: true,
        integrations: true,
        ..Needs::default()
    }
}

pub fn validate(_: &(), _: &()) -> Result<(), FieldError> {
    Ok(())
}

/// One finding per integration of every HTTP and WebSocket API.
pub fn evaluate(
    region: &RegionInventory,
    _: &(),
    semantics: Semantics,
    findings: &mut Vec<Finding>,
) {
    for api in &region.v2_apis {
        for integration in &api.integrations {
            let (status, reason) = evaluate_integration(api, integration, semantics);
            findings.push(META.finding(
                ResourceType::V2Integration,
                &region.region,
                v2_integration_arn(&region.region, &api.id, &integration.id),
                status,
                reason,
            ));
        }
    }
}

/// How a reason names an integration: its id, type and target.
fn describe(integration: &Integration) -> String {
    format!(
        "integration {} ({}, {})",
        integration.id,
        integration.integration_type.as_deref().unwrap_or("type unknown"),
        integration.uri.as_deref().unwrap_or("no URI")
    )
}

fn evaluate_integration(
    api: &V2Api,
    integration: &Integration,
    semantics: Semantics,
) -> (Status, String) {
    let name = describe(integration);
    if api.protocol == V2Protocol::WebSocket {
        return (
            Status::NotApplicable,
            format!(
                "{name} belongs to a WebSocket API, whose integrations cannot carry a TlsConfig"
            ),
        );
    }
    // AWS omits ConnectionType for internet integrations.
    let private = integration
        .connection_type
        .as_deref()
        .is_some_and(|t| t.eq_ignore_ascii_case(VPC_LINK));
    if !private {
        return (
            Status::NotApplicable,
            format!(
                "{name} connects over the internet; APIGateway.10 covers private (VPC link) integrations"
            ),
        );
    }
    match &integration.tls {
        None => (
            Status::Failed,
            format!(
                "private {name} has no TlsConfig, so API Gateway reaches the backend over the VPC link \
                 without TLS; set TlsConfig.ServerNameToVerify to the name on the backend's certificate"
            ),
        ),
        Some(tls) => match tls.server_name_to_verify.as_deref() {
            Some(server) => (
                Status::Passed,
                format!("private {name} uses TLS and verifies the backend as {server}"),
            ),
            // Strict reads "TLS configured" as a TLS that verifies its peer; AWS's rule
            // only checks that a TlsConfig exists.
            None if semantics == Semantics::AwsParity => (
                Status::Passed,
                format!(
                    "private {name} has a TlsConfig without ServerNameToVerify, which AWS parity accepts \
                     (strict semantics fails it)"
                ),
            ),
            None => (
                Status::Failed,
                format!(
                    "private {name} has a TlsConfig without ServerNameToVerify; set it to the name on \
                     the backend's certificate"
                ),
            ),
        },
    }
}

/// Never changed automatically: only the owner knows the backend certificate's name, and
/// a wrong one breaks traffic. The plan says which call the owner makes.
pub fn plan(input: &PlanInput<'_>, _: &(), _: &(), out: &mut ResourcePlan) {
    let Resource::Integration(api, integration) = input.resource else {
        return;
    };
    out.unplanned(
        ID,
        UnplannedReason::ManualAction,
        format!(
            "{} needs the name on its backend's certificate, which only the owner knows (a wrong one \
             breaks traffic): the owner calls apigatewayv2 UpdateIntegration (PATCH /v2/apis/{}/integrations/{} \
             with {{\"tlsConfig\": {{\"serverNameToVerify\": \"<the backend's certificate name>\"}}}})",
            describe(integration),
            api.id,
            integration.id
        ),
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::ControlParameters;
    use crate::controls::planning::PlanInput;
    use crate::controls::test_support::*;
    use crate::inventory::TlsConfig;

    fn integration(connection: Option<&str>, tls: Option<Option<&str>>) -> Integration {
        Integration {
            id: "i1".to_string(),
            integration_type: Some("HTTP_PROXY".to_string()),
            connection_type: connection.map(str::to_string),
            uri: Some("arn:aws:elasticloadbalancing:us-east-1:111122223333:listener/app/b/1/2".to_string()),
            tls: tls.map(|name| TlsConfig {
                server_name_to_verify: name.map(str::to_string),
            }),
        }
    }

    fn region(protocol: V2Protocol, integration: Integration) -> RegionInventory {
        let mut api = v2_api("h1", protocol, vec![v2_stage()], Vec::new());
        api.integrations = vec![integration];
        region_with(Vec::new(), vec![api])
    }

    fn verdict(protocol: V2Protocol, integration: Integration, params: &ControlParameters) -> Finding {
        run_one(ID, &region(protocol, integration), params)
    }

    #[test]
    fn a_vpc_link_integration_that_verifies_its_backend_passes() {
        let finding = verdict(
            V2Protocol::Http,
            integration(Some("VPC_LINK"), Some(Some("orders.internal.example.com"))),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Passed);
        assert!(finding.reason.contains("orders.internal.example.com"), "{}", finding.reason);
        assert_eq!(finding.resource_type, ResourceType::V2Integration);
        assert_eq!(
            finding.resource_arn,
            "arn:aws:apigateway:us-east-1::/apis/h1/integrations/i1"
        );
    }

    #[test]
    fn a_vpc_link_integration_without_tls_fails_and_names_it() {
        let finding = verdict(
            V2Protocol::Http,
            integration(Some("VPC_LINK"), None),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding.reason.starts_with("private integration i1 (HTTP_PROXY, arn:aws:elasticloadbalancing"),
            "{}",
            finding.reason
        );
        assert!(finding.reason.contains("no TlsConfig"), "{}", finding.reason);
        // AWS's rule fails it too.
        let parity = verdict(V2Protocol::Http, integration(Some("VPC_LINK"), None), &parity());
        assert_eq!(parity.status, Status::Failed);
    }

    #[test]
    fn an_empty_server_name_fails_strict_and_passes_under_aws_parity() {
        let empty = || integration(Some("VPC_LINK"), Some(None));
        let strict = verdict(V2Protocol::Http, empty(), &ControlParameters::default());
        assert_eq!(strict.status, Status::Failed);
        assert!(strict.reason.contains("without ServerNameToVerify"), "{}", strict.reason);
        let parity = verdict(V2Protocol::Http, empty(), &parity());
        assert_eq!(parity.status, Status::Passed);
    }

    #[test]
    fn internet_integrations_are_not_applicable_whether_the_type_is_given_or_not() {
        for connection in [Some("INTERNET"), None] {
            let finding = verdict(
                V2Protocol::Http,
                integration(connection, None),
                &ControlParameters::default(),
            );
            assert_eq!(finding.status, Status::NotApplicable, "{connection:?}");
        }
    }

    #[test]
    fn websocket_integrations_are_not_applicable() {
        let finding = verdict(
            V2Protocol::WebSocket,
            integration(Some("VPC_LINK"), None),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::NotApplicable);
        assert!(finding.reason.contains("WebSocket"), "{}", finding.reason);
    }

    #[test]
    fn the_plan_names_the_call_the_owner_makes_and_changes_nothing() {
        let region = region(V2Protocol::Http, integration(Some("VPC_LINK"), None));
        let api = &region.v2_apis[0];
        let input = PlanInput {
            region: "us-east-1",
            resource_arn: "arn:aws:apigateway:us-east-1::/apis/h1/integrations/i1",
            resource: Resource::Integration(api, &api.integrations[0]),
            semantics: Semantics::Strict,
        };
        let mut out = ResourcePlan::default();
        plan(&input, &(), &(), &mut out);
        assert!(out.items.is_empty());
        let unplanned = out.take_unplanned("us-east-1", input.resource_arn);
        assert_eq!(unplanned.len(), 1);
        assert_eq!(unplanned[0].reason, UnplannedReason::ManualAction);
        assert!(
            unplanned[0]
                .message
                .contains("UpdateIntegration (PATCH /v2/apis/h1/integrations/i1"),
            "{}",
            unplanned[0].message
        );
    }

    #[test]
    fn catalog_entry_matches_the_specification() {
        assert_matches_spec(
            &META,
            &SpecEntry {
                title: "API Gateway V2 integrations should use HTTPS for private connections",
                severity: Severity::Medium,
                category: "Protect > Data Protection > Encryption of data-in-transit",
                resource_types: &["AWS::ApiGatewayV2::Integration"],
                related_requirements: "",
                config_rule: "apigatewayv2-integration-private-https-enabled",
                unsupported_regions: &[
                    "Asia Pacific (New Zealand)",
                    "China (Beijing)",
                    "China (Ningxia)",
                    "Asia Pacific (Thailand)",
                    "AWS GovCloud (US-East)",
                    "AWS GovCloud (US-West)",
                    "Mexico (Central)",
                    "Asia Pacific (Taipei)",
                ],
                remediation_url: "https://docs.aws.amazon.com/securityhub/latest/userguide/apigateway-controls.html#apigateway-10",
            },
        );
    }
}
