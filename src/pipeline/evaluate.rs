//! Pure evaluation: the in-scope views of some region reads and the profile's controls
//! and parameters in, findings out. Nothing here reads AWS, Kubernetes or the clock.

use std::collections::HashMap;

use crate::controls::{self, ControlParameters};
use crate::inventory::RegionInventory;
use crate::model::arn::{ApiGatewayResource, parse_apigateway_arn};
use crate::model::{ControlId, Finding};

/// Evaluates the selected controls on every region of one account (`None`: it could
/// not be told); see [`evaluate_per_account`].
pub fn evaluate<'a>(
    regions: impl IntoIterator<Item = &'a RegionInventory> + Clone,
    account: Option<&'a str>,
    ids: &[ControlId],
    params: &ControlParameters,
) -> Vec<Finding> {
    let regions: Vec<_> = regions
        .into_iter()
        .map(|region| (region, account))
        .collect();
    evaluate_per_account(&regions, ids, params)
}

/// Evaluates the selected controls on every region, each given with the account it
/// was read in.
///
/// Findings come sorted by account, region, resource ARN and control, so two scans of
/// the same world print and serialize identically (an API Gateway ARN does not name
/// its account, so the account keeps the order total across an organization). A
/// control listed twice is evaluated once (one finding per control and resource).
/// What could not be read yields no finding here: the report lists it beside the
/// findings. Each finding carries its resource's readable name (from the region's
/// read) and its account (empty when it could not be told).
pub fn evaluate_per_account(
    regions: &[(&RegionInventory, Option<&str>)],
    ids: &[ControlId],
    params: &ControlParameters,
) -> Vec<Finding> {
    // Sized once: grown by doubling, the largest allocation of a reconcile would be up
    // to twice what it holds, and copied at every step.
    let mut findings = Vec::with_capacity(
        regions
            .iter()
            .map(|(region, _)| controls::findings_upper_bound(region, ids))
            .sum(),
    );
    for &(region, account) in regions {
        let first = findings.len();
        for control in controls::selected(ids) {
            controls::evaluate(control, region, params, &mut findings);
        }
        let names = Names::of(region);
        let account = account.unwrap_or_default();
        for finding in &mut findings[first..] {
            finding.resource_name = names.name_of(&finding.resource_arn);
            finding.account_id = account.to_string();
        }
    }
    // (account, region, ARN, control) is unique (one finding per control and resource),
    // so the unstable sort gives the stable sort's order without its scratch buffer.
    findings.sort_unstable_by(|a, b| {
        (&a.account_id, &a.region, &a.resource_arn, a.control_id).cmp(&(
            &b.account_id,
            &b.region,
            &b.resource_arn,
            b.control_id,
        ))
    });
    findings
}

/// The readable names of one region's resources, looked up by the ids their ARNs carry:
/// controls name resources by ARN, people by the API's name.
struct Names<'a> {
    rest_apis: HashMap<&'a str, &'a str>,
    v2_apis: HashMap<&'a str, &'a str>,
    /// (API id, route id) -> route key.
    routes: HashMap<(&'a str, &'a str), &'a str>,
}

impl<'a> Names<'a> {
    fn of(region: &'a RegionInventory) -> Self {
        Names {
            rest_apis: region
                .rest_apis
                .iter()
                .map(|api| (api.id.as_str(), api.name.as_str()))
                .collect(),
            v2_apis: region
                .v2_apis
                .iter()
                .map(|api| (api.id.as_str(), api.name.as_str()))
                .collect(),
            routes: region
                .v2_apis
                .iter()
                .flat_map(|api| {
                    api.routes.iter().map(|route| {
                        (
                            (api.id.as_str(), route.id.as_str()),
                            route.route_key.as_str(),
                        )
                    })
                })
                .collect(),
        }
    }

    /// `<api name>/<stage>`, `<api name> <route key>`, `<api name> integration <id>` or
    /// the domain name. An API without a name (or missing from the read, which controls
    /// never report on) is named by its id, a route missing from it by its id; an ARN
    /// of another shape by itself.
    fn name_of(&self, arn: &str) -> String {
        let Some(parsed) = parse_apigateway_arn(arn) else {
            return arn.to_string();
        };
        let api = |names: &HashMap<&str, &'a str>, id: &str| {
            names
                .get(id)
                .copied()
                .filter(|name| !name.trim().is_empty())
                .unwrap_or(id)
                .to_string()
        };
        match parsed.resource {
            ApiGatewayResource::RestStage { api_id, stage } => {
                format!("{}/{stage}", api(&self.rest_apis, &api_id))
            }
            ApiGatewayResource::V2Stage { api_id, stage } => {
                format!("{}/{stage}", api(&self.v2_apis, &api_id))
            }
            ApiGatewayResource::V2Route { api_id, route_id } => {
                let key = self
                    .routes
                    .get(&(api_id.as_str(), route_id.as_str()))
                    .copied()
                    .unwrap_or(route_id.as_str());
                format!("{} {key}", api(&self.v2_apis, &api_id))
            }
            ApiGatewayResource::V2Integration {
                api_id,
                integration_id,
            } => format!(
                "{} integration {integration_id}",
                api(&self.v2_apis, &api_id)
            ),
            ApiGatewayResource::DomainName { name } => name,
            // No control reports on whole APIs or other API Gateway resources.
            ApiGatewayResource::RestApi { .. }
            | ApiGatewayResource::V2Api { .. }
            | ApiGatewayResource::Other => arn.to_string(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::test_support::*;
    use crate::controls::{
        Semantics, all_ids, execution_logging, route_authorization, xray_tracing,
    };
    use crate::inventory::{Inventory, ReadError};
    use crate::model::{ResourceType, Severity, Status, V2Protocol};

    fn evaluate_all(
        inventory: &Inventory,
        ids: &[ControlId],
        params: &ControlParameters,
    ) -> Vec<Finding> {
        evaluate(&inventory.regions, Some("123456789012"), ids, params)
    }

    fn region_named(name: &str) -> RegionInventory {
        let mut region = region_with(
            vec![
                rest_api("zzz", vec![rest_stage(&[])]),
                rest_api("a1b2c3", vec![rest_stage(&[("*/*", logging("INFO"))])]),
            ],
            vec![v2_api(
                "http1",
                V2Protocol::Http,
                vec![v2_stage()],
                vec![route("r1", "GET /", None)],
            )],
        );
        region.region = name.to_string();
        region
    }

    fn inventory() -> Inventory {
        Inventory {
            regions: vec![region_named("us-west-2"), region_named("eu-west-1")],
            errors: Vec::new(),
        }
    }

    #[test]
    fn findings_are_ordered_by_region_then_resource_then_control() {
        let findings = evaluate_all(&inventory(), &all_ids(), &ControlParameters::default());
        let keys: Vec<(String, String, ControlId)> = findings
            .iter()
            .map(|f| (f.region.clone(), f.resource_arn.clone(), f.control_id))
            .collect();
        let mut sorted = keys.clone();
        sorted.sort();
        assert_eq!(keys, sorted);
        assert_eq!(findings[0].region, "eu-west-1");
        assert_eq!(
            findings.last().map(|f| f.region.as_str()),
            Some("us-west-2")
        );
    }

    #[test]
    fn evaluation_is_deterministic_whatever_the_order_of_controls() {
        let mut reversed = all_ids();
        reversed.reverse();
        let params = ControlParameters::default();
        assert_eq!(
            evaluate_all(&inventory(), &all_ids(), &params),
            evaluate_all(&inventory(), &reversed, &params)
        );
    }

    #[test]
    fn only_the_selected_controls_produce_findings() {
        let (tracing, routes) = (xray_tracing::ID, route_authorization::ID);
        let findings = evaluate_all(
            &inventory(),
            &[tracing, routes],
            &ControlParameters::default(),
        );
        assert!(!findings.is_empty());
        assert!(
            findings
                .iter()
                .all(|f| f.control_id == tracing || f.control_id == routes)
        );
        // Two regions, each with two REST stages (.3) and one route (.8).
        assert_eq!(findings.len(), 6);
    }

    #[test]
    fn a_control_listed_twice_gives_one_finding_per_resource() {
        let once = evaluate_all(
            &inventory(),
            &[xray_tracing::ID],
            &ControlParameters::default(),
        );
        let twice = evaluate_all(
            &inventory(),
            &[xray_tracing::ID, xray_tracing::ID],
            &ControlParameters::default(),
        );
        assert_eq!(once, twice);
    }

    #[test]
    fn no_selected_controls_means_no_findings() {
        assert!(evaluate_all(&inventory(), &[], &ControlParameters::default()).is_empty());
    }

    #[test]
    fn unread_parts_of_the_inventory_give_no_finding() {
        let inventory = Inventory {
            regions: Vec::new(),
            errors: vec![ReadError {
                account_id: None,
                region: "us-east-1".to_string(),
                resource_arn: None,
                operation: "GetRestApis".to_string(),
                kind: crate::model::ErrorKind::AccessDenied,
                message: "AccessDenied".to_string(),
            }],
        };
        assert!(evaluate_all(&inventory, &all_ids(), &ControlParameters::default()).is_empty());
    }

    #[test]
    fn aws_parity_drops_findings_of_controls_unsupported_in_a_region() {
        let mut inventory = inventory();
        inventory.regions[0].region = "me-central-1".to_string();
        let params = ControlParameters {
            semantics: Semantics::AwsParity,
            ..ControlParameters::default()
        };
        let findings = evaluate_all(&inventory, &all_ids(), &params);
        let in_uae: Vec<ControlId> = findings
            .iter()
            .filter(|f| f.region == "me-central-1")
            .map(|f| f.control_id)
            .collect();
        // Only the controls Security Hub supports in me-central-1 remain.
        assert!(in_uae.iter().all(|id| {
            controls::control(*id).is_some_and(|c| c.meta.is_supported_in("me-central-1"))
        }));
        assert!(!in_uae.is_empty());
    }

    #[test]
    fn findings_carry_readable_names_and_the_account() {
        let mut region = region_with(
            vec![rest_api("a1b2c3", vec![rest_stage(&[])])],
            vec![
                v2_api(
                    "ws1",
                    V2Protocol::WebSocket,
                    vec![v2_stage()],
                    vec![route("r1", "$connect", None)],
                ),
                v2_api(
                    "http1",
                    V2Protocol::Http,
                    Vec::new(),
                    vec![route("r2", "GET /orders", None)],
                ),
            ],
        );
        region.v2_apis[0].name = "chat-realtime".to_string();
        region.v2_apis[1].name = String::new();
        region.v2_apis[1].integrations = vec![private_integration("int9", None)];
        region.domain_names = vec![crate::inventory::DomainName {
            name: "api.example.com".to_string(),
            ..Default::default()
        }];
        let findings = evaluate(
            [&region],
            Some("123456789012"),
            &all_ids(),
            &Default::default(),
        );
        let names: std::collections::BTreeMap<&str, &str> = findings
            .iter()
            .map(|f| (f.resource_arn.as_str(), f.resource_name.as_str()))
            .collect();
        assert_eq!(
            names,
            std::collections::BTreeMap::from([
                (
                    "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod",
                    "a1b2c3-name/prod"
                ),
                (
                    "arn:aws:apigateway:us-east-1::/apis/ws1/stages/prod",
                    "chat-realtime/prod"
                ),
                (
                    "arn:aws:apigateway:us-east-1::/apis/ws1/routes/r1",
                    "chat-realtime $connect"
                ),
                // An API without a name is named by its id.
                (
                    "arn:aws:apigateway:us-east-1::/apis/http1/routes/r2",
                    "http1 GET /orders"
                ),
                (
                    "arn:aws:apigateway:us-east-1::/apis/http1/integrations/int9",
                    "http1 integration int9"
                ),
                (
                    "arn:aws:apigateway:us-east-1::/domainnames/api.example.com",
                    "api.example.com"
                ),
            ])
        );
        assert!(findings.iter().all(|f| f.account_id == "123456789012"));
        let unknown = evaluate([&region], None, &all_ids(), &Default::default());
        assert!(unknown.iter().all(|f| f.account_id.is_empty()));
    }

    #[test]
    fn finding_json_matches_the_contract_exactly() {
        let mut finding = Finding {
            control_id: execution_logging::ID,
            resource_type: ResourceType::RestStage,
            resource_arn: "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod".to_string(),
            resource_name: "orders/prod".to_string(),
            account_id: "123456789012".to_string(),
            region: "us-east-1".to_string(),
            status: Status::Failed,
            severity: Severity::Medium,
            reason: "method settings GET /orders have logging level OFF".to_string(),
            exempted: false,
        };
        assert_eq!(
            serde_json::to_string(&finding).unwrap(),
            r#"{"controlId":"APIGateway.1","resourceType":"AWS::ApiGateway::Stage","resourceArn":"arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod","resourceName":"orders/prod","accountId":"123456789012","region":"us-east-1","status":"FAILED","severity":"MEDIUM","reason":"method settings GET /orders have logging level OFF"}"#
        );
        // An account that could not be told is left out, not printed empty.
        finding.account_id = String::new();
        let json = serde_json::to_value(&finding).unwrap();
        assert!(json.get("accountId").is_none());
        assert_eq!(json["resourceName"], "orders/prod");
    }

    #[test]
    fn exempted_finding_json_carries_exempted_true() {
        let mut finding = Finding {
            control_id: route_authorization::ID,
            resource_type: ResourceType::V2Route,
            resource_arn: "arn:aws:apigateway:us-east-1::/apis/h1/routes/r1".to_string(),
            resource_name: "h1 GET /".to_string(),
            account_id: "123456789012".to_string(),
            region: "us-east-1".to_string(),
            status: Status::Failed,
            severity: Severity::Medium,
            reason: "x".to_string(),
            exempted: false,
        };
        finding.status = Status::NotApplicable;
        finding.exempted = true;
        let json = serde_json::to_value(&finding).unwrap();
        assert_eq!(json["exempted"], true);
        assert_eq!(json["status"], "NOT_APPLICABLE");
        assert_eq!(json["resourceType"], "AWS::ApiGatewayV2::Route");
        let back: Finding = serde_json::from_value(json).unwrap();
        assert_eq!(back, finding);
    }
}
