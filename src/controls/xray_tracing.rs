//! APIGateway.3 — API Gateway REST API stages should have AWS X-Ray tracing enabled.
//!
//! Traces to: "This control checks whether AWS X-Ray active tracing is enabled for your
//! Amazon API Gateway REST API stages." Decisions: docs/controls/APIGateway.3.md.

use crate::controls::admission::Admission;
use crate::controls::planning::{PlanInput, Resource, ResourcePlan, rest_update_stage};
use crate::controls::common::{
    Source,ControlMeta, Semantics, FieldError, RemediationSwitch};
use crate::inventory::{Needs, RegionInventory};
use crate::model::arn::rest_stage_arn;
use crate::model::plan::{ChangeItem, Edit, PatchValue, UnplannedReason};
use crate::model::{ControlId, Finding, ResourceType, Severity, Status};

pub const ID: ControlId = ControlId::new("APIGateway.3");

/// How `spec.remediation.controls` describes this control's remediation settings.
pub const REMEDIATION_DOC: &str = "APIGateway.3: X-Ray active tracing. On by default.";

pub static META: ControlMeta = ControlMeta {
    id: ID,
    source: Source::SecurityHub,
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

pub static ADMISSION: Admission = Admission::NONE;

/// APIGateway.3 remediation: X-Ray active tracing. On by default
/// (`spec.remediation.controls.xrayTracing`).
pub type Remediation = RemediationSwitch;

pub fn needs(_: &()) -> Needs {
    Needs {
        rest: true,
        ..Needs::default()
    }
}

pub fn validate(_: &(), _: &Remediation) -> Result<(), FieldError> {
    Ok(())
}

/// Turns tracing on (`replace /tracingEnabled true`).
pub fn plan(input: &PlanInput<'_>, _: &(), settings: &Remediation, out: &mut ResourcePlan) {
    let Resource::RestStage(api, stage) = input.resource else {
        return;
    };
    if !settings.enabled {
        return out.unplanned(
            ID,
            UnplannedReason::Disabled,
            "xrayTracing remediation is turned off (enabled: false)".to_string(),
        );
    }
    if !stage.tracing_enabled {
        out.item(
            &rest_update_stage(api, stage),
            ChangeItem {
                control_id: ID,
                setting: "X-Ray tracing".to_string(),
                before: "false".to_string(),
                after: "true".to_string(),
                edit: Edit::RestReplace {
                    path: "/tracingEnabled".to_string(),
                    value: PatchValue::Literal("true".to_string()),
                },
                precondition: None,
            },
        );
    }
}

/// One finding per REST stage. The parameters have nothing for this control.
pub fn evaluate(
    region: &RegionInventory,
    _params: &(),
    _: Semantics,
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
    use crate::controls::ControlParameters;
    use crate::controls::test_support::*;
    use crate::inventory::RestStage;
    use crate::model::V2Protocol;

    fn stage(tracing_enabled: bool) -> RestStage {
        RestStage {
            tracing_enabled,
            ..rest_stage(&[])
        }
    }

    #[test]
    fn stage_with_tracing_on_passes() {
        let finding = run_one(
            ID,
            &rest_region(stage(true)),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Passed);
        assert_eq!(finding.severity, Severity::Low);
        assert_eq!(finding.control_id, ID);
    }

    #[test]
    fn stage_with_tracing_off_fails_and_says_what_to_set() {
        let finding = run_one(
            ID,
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
        assert!(run(ID, &region, &ControlParameters::default()).is_empty());
    }

    /// The specification (securityhub-apigateway-controls.md), field by field, in its
    /// own words: the test is its letter in code.
    #[test]
    fn catalog_entry_matches_the_specification() {
        assert_matches_spec(
            &META,
            &SpecEntry {
                title: "API Gateway REST API stages should have AWS X-Ray tracing enabled",
                severity: Severity::Low,
                category: "Detect > Detection services",
                resource_types: &["AWS::ApiGateway::Stage"],
                related_requirements: "NIST.800-53.r5 CA-7",
                config_rule: "https://docs.aws.amazon.com/config/latest/developerguide/api-gw-xray-enabled.html",
                unsupported_regions: &[
                    "Asia Pacific (Osaka)",
                    "China (Beijing)",
                    "China (Ningxia)",
                    "Middle East (UAE)",
                    "AWS GovCloud (US-East)",
                    "AWS GovCloud (US-West)",
                ],
                remediation_url: "https://docs.aws.amazon.com/xray/latest/devguide/xray-services-apigateway.html",
            },
        );
    }
}
