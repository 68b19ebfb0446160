//! Pure evaluation: the in-scope views of some region reads and the profile's controls
//! and parameters in, findings out. Nothing here reads AWS, Kubernetes or the clock.

use crate::controls::{self, ControlParameters};
use crate::inventory::RegionInventory;
use crate::model::{ControlId, Finding};

/// Evaluates the selected controls on every region.
///
/// Findings come sorted by region, then resource ARN, then control, so two scans of the
/// same world print and serialize identically. A control listed twice is evaluated
/// once (one finding per control and resource). What could not be read yields no
/// finding here: the report lists it beside the findings.
pub fn evaluate<'a>(
    regions: impl IntoIterator<Item = &'a RegionInventory> + Clone,
    ids: &[ControlId],
    params: &ControlParameters,
) -> Vec<Finding> {
    // Sized once: grown by doubling, the largest allocation of a reconcile would be up
    // to twice what it holds, and copied at every step.
    let mut findings = Vec::with_capacity(
        regions
            .clone()
            .into_iter()
            .map(|region| controls::findings_upper_bound(region, ids))
            .sum(),
    );
    for region in regions {
        for control in controls::selected(ids) {
            controls::evaluate(control, region, params, &mut findings);
        }
    }
    // (region, ARN, control) is unique (one finding per control and resource), so the
    // unstable sort gives the stable sort's order without its scratch buffer.
    findings.sort_unstable_by(|a, b| {
        (&a.region, &a.resource_arn, a.control_id).cmp(&(&b.region, &b.resource_arn, b.control_id))
    });
    findings
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
        evaluate(&inventory.regions, ids, params)
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
    fn finding_json_matches_the_contract_exactly() {
        let finding = Finding {
            control_id: execution_logging::ID,
            resource_type: ResourceType::RestStage,
            resource_arn: "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod".to_string(),
            region: "us-east-1".to_string(),
            status: Status::Failed,
            severity: Severity::Medium,
            reason: "method settings GET /orders have logging level OFF".to_string(),
            exempted: false,
        };
        assert_eq!(
            serde_json::to_string(&finding).unwrap(),
            r#"{"controlId":"APIGateway.1","resourceType":"AWS::ApiGateway::Stage","resourceArn":"arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod","region":"us-east-1","status":"FAILED","severity":"MEDIUM","reason":"method settings GET /orders have logging level OFF"}"#
        );
    }

    #[test]
    fn exempted_finding_json_carries_exempted_true() {
        let mut finding = Finding {
            control_id: route_authorization::ID,
            resource_type: ResourceType::V2Route,
            resource_arn: "arn:aws:apigateway:us-east-1::/apis/h1/routes/r1".to_string(),
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
