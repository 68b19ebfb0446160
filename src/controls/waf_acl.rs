//! APIGateway.4 — API Gateway should be associated with a WAF Web ACL.
//!
//! Traces to: "This control fails if an AWS WAF web ACL is not attached to a REST API
//! Gateway stage." Decisions: docs/controls/APIGateway.4.md.

use crate::controls::{
    ControlId, ControlMeta, ControlParameters, ResourceType, Severity, name_list, non_empty,
};
use crate::finding::{Finding, Status};
use crate::inventory::{RegionInventory, RestStage, rest_stage_arn};

pub static META: ControlMeta = ControlMeta {
    id: ControlId::ApiGateway4,
    title: "API Gateway should be associated with a WAF Web ACL",
    severity: Severity::Medium,
    category: "Protect > Protective services",
    resource_types: &[ResourceType::RestStage],
    related_requirements: &["NIST.800-53.r5 AC-4(21)"],
    config_rule: "api-gw-associated-with-waf",
    unsupported_regions: &[
        "ap-northeast-3",
        "cn-north-1",
        "cn-northwest-1",
        "us-gov-east-1",
        "us-gov-west-1",
    ],
    remediation_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-control-access-aws-waf.html",
};

/// One finding per REST stage, whatever the API's endpoint type: PRIVATE and EDGE APIs
/// are not exempt (CONTROLS.md).
pub fn evaluate(region: &RegionInventory, params: &ControlParameters, findings: &mut Vec<Finding>) {
    for api in &region.rest_apis {
        for stage in &api.stages {
            let (status, reason) = evaluate_stage(&region.region, stage, params);
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

fn evaluate_stage(region: &str, stage: &RestStage, params: &ControlParameters) -> (Status, String) {
    let Some(acl) = non_empty(&stage.web_acl_arn) else {
        return (
            Status::Failed,
            format!(
                "no AWS WAF web ACL is associated with the stage; associate a REGIONAL web ACL from {region}"
            ),
        );
    };
    let accepted = &params.waf.accepted_web_acl_arns;
    if !accepted.is_empty() && !accepted.iter().any(|arn| arn == acl) {
        return (
            Status::Failed,
            format!(
                "web ACL {acl} is associated but is not one of the accepted web ACLs ({}); \
                 associate an accepted web ACL instead",
                name_list(accepted)
            ),
        );
    }
    (Status::Passed, format!("web ACL {acl} is associated"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::WafParameters;
    use crate::controls::test_support::*;

    const ACL: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/main/11111111-2222-3333-4444-555555555555";
    const OTHER_ACL: &str = "arn:aws:wafv2:us-east-1:123456789012:regional/webacl/other/66666666-2222-3333-4444-555555555555";

    fn stage(acl: Option<&str>) -> RestStage {
        RestStage {
            web_acl_arn: acl.map(str::to_string),
            ..rest_stage(&[])
        }
    }

    fn accepting(arns: &[&str]) -> ControlParameters {
        ControlParameters {
            waf: WafParameters {
                accepted_web_acl_arns: arns.iter().map(|arn| (*arn).to_string()).collect(),
            },
            ..ControlParameters::default()
        }
    }

    #[test]
    fn stage_with_a_web_acl_passes_and_names_it() {
        let finding = run_one(
            evaluate,
            &rest_region(stage(Some(ACL))),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Passed);
        assert_eq!(finding.reason, format!("web ACL {ACL} is associated"));
        assert_eq!(finding.control_id, ControlId::ApiGateway4);
    }

    #[test]
    fn stage_with_a_waf_classic_regional_acl_passes() {
        let classic = "arn:aws:waf-regional:us-east-1:123456789012:webacl/abcd";
        let finding = run_one(
            evaluate,
            &rest_region(stage(Some(classic))),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Passed);
    }

    #[test]
    fn stage_without_a_web_acl_fails() {
        let finding = run_one(
            evaluate,
            &rest_region(stage(None)),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(
            finding.reason,
            "no AWS WAF web ACL is associated with the stage; associate a REGIONAL web ACL from us-east-1"
        );
    }

    #[test]
    fn stage_with_an_empty_web_acl_arn_fails() {
        let finding = run_one(
            evaluate,
            &rest_region(stage(Some(""))),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
    }

    #[test]
    fn web_acl_in_the_allow_list_passes() {
        let finding = run_one(
            evaluate,
            &rest_region(stage(Some(ACL))),
            &accepting(&[OTHER_ACL, ACL]),
        );
        assert_eq!(finding.status, Status::Passed);
    }

    #[test]
    fn web_acl_outside_the_allow_list_fails_and_names_it() {
        let finding = run_one(
            evaluate,
            &rest_region(stage(Some(OTHER_ACL))),
            &accepting(&[ACL]),
        );
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding
                .reason
                .starts_with(&format!("web ACL {OTHER_ACL} is associated but")),
            "{}",
            finding.reason
        );
        assert!(finding.reason.contains(ACL), "{}", finding.reason);
    }

    #[test]
    fn missing_web_acl_fails_whatever_the_allow_list() {
        let finding = run_one(evaluate, &rest_region(stage(None)), &accepting(&[ACL]));
        assert_eq!(finding.status, Status::Failed);
    }

    #[test]
    fn v2_stages_get_no_finding() {
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
