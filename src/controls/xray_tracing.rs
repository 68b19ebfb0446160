//! APIGateway.3 — API Gateway REST API stages should have AWS X-Ray tracing enabled.
//!
//! Traces to: "This control checks whether AWS X-Ray active tracing is enabled for your
//! Amazon API Gateway REST API stages." Decisions: docs/controls/APIGateway.3.md.

use crate::controls::{ControlId, ControlMeta, ControlParameters, ResourceType, Severity};
use crate::finding::{Finding, Status};
use crate::inventory::{RegionInventory, rest_stage_arn};

pub static META: ControlMeta = ControlMeta {
    id: ControlId::ApiGateway3,
    title: "API Gateway REST API stages should have AWS X-Ray tracing enabled",
    severity: Severity::Low,
    category: "Detect > Detection services",
    resource_types: &[ResourceType::RestStage],
    related_requirements: &["NIST.800-53.r5 CA-7"],
    config_rule: "api-gw-xray-enabled",
    unsupported_regions: &[
        "ap-northeast-3",
        "cn-north-1",
        "cn-northwest-1",
        "me-central-1",
        "us-gov-east-1",
        "us-gov-west-1",
    ],
    remediation_url: "https://docs.aws.amazon.com/xray/latest/devguide/xray-services-apigateway.html",
};

/// One finding per REST stage. The parameters have nothing for this control.
pub fn evaluate(
    region: &RegionInventory,
    _params: &ControlParameters,
    findings: &mut Vec<Finding>,
) {
    for api in &region.rest_apis {
        for stage in &api.stages {
            // GetStages omits tracingEnabled when it is off; the inventory reads that as false.
            let (status, reason) = if stage.tracing_enabled {
                (Status::Passed, "X-Ray active tracing is on")
            } else {
                (
                    Status::Failed,
                    "X-Ray active tracing is off; set the stage's tracingEnabled to true",
                )
            };
            findings.push(META.finding(
                ResourceType::RestStage,
                &region.region,
                rest_stage_arn(&region.region, &api.id, &stage.name),
                status,
                reason.to_string(),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::test_support::*;
    use crate::inventory::{RestStage, V2Protocol};

    fn stage(tracing_enabled: bool) -> RestStage {
        RestStage {
            tracing_enabled,
            ..rest_stage(&[])
        }
    }

    #[test]
    fn stage_with_tracing_on_passes() {
        let finding = run_one(
            evaluate,
            &rest_region(stage(true)),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Passed);
        assert_eq!(finding.severity, Severity::Low);
        assert_eq!(finding.control_id, ControlId::ApiGateway3);
    }

    #[test]
    fn stage_with_tracing_off_fails_and_says_what_to_set() {
        let finding = run_one(
            evaluate,
            &rest_region(stage(false)),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(
            finding.reason,
            "X-Ray active tracing is off; set the stage's tracingEnabled to true"
        );
    }

    #[test]
    fn v2_stages_get_no_finding() {
        let region = region_with(
            Vec::new(),
            vec![v2_api(
                "ws",
                V2Protocol::WebSocket,
                vec![v2_stage()],
                Vec::new(),
            )],
        );
        assert!(run(evaluate, &region, &ControlParameters::default()).is_empty());
    }
}
