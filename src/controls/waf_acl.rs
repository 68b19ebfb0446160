//! APIGateway.4 — API Gateway should be associated with a WAF Web ACL.
//!
//! Traces to: "This control fails if an AWS WAF web ACL is not attached to a REST API
//! Gateway stage." Decisions: docs/controls/APIGateway.4.md.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::controls::admission::{Admission, AllowList, BoundedString, SpecRule};
use crate::controls::planning::{PlanInput, Resource, ResourcePlan};
use crate::controls::common::{
    Source,ControlMeta, Semantics, FieldError, name_list, non_empty, shown};
use crate::inventory::{Needs, RegionInventory, RestStage};
use crate::model::arn::{
    WAFV2_WEB_ACL_ARN_PATTERN, WEB_ACL_ARN_PATTERN, is_regional_web_acl_arn, parse_web_acl_arn,
    rest_stage_arn,
};
use crate::model::plan::{ChangeItem, Edit, Operation, Precondition, UnplannedReason};
use crate::model::{ControlId, Finding, ResourceType, Severity, Status};

pub const ID: ControlId = ControlId::new("APIGateway.4");

/// Why a remediation web ACL outside the accepted ones is refused.
const NOT_ACCEPTED: &str = "must be one of spec.controls.parameters.waf.acceptedWebAclArns: a stage given another web ACL would still fail APIGateway.4";

/// How `spec.controls.parameters` describes this control's parameters.
pub const PARAMETERS_DOC: &str = "APIGateway.4.";

/// How `spec.remediation.controls` describes this control's remediation settings.
pub const REMEDIATION_DOC: &str = "APIGateway.4: the web ACL to associate. Off unless set.";

pub static META: ControlMeta = ControlMeta {
    id: ID,
    source: Source::SecurityHub,
    title: "API Gateway should be associated with a WAF Web ACL",
    severity: Severity::Medium,
    category: "Protect > Protective services",
    resource_types: &[ResourceType::RestStage],
    related_requirements: &["NIST.800-53.r5 AC-4(21)"
    ],
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

pub static ADMISSION: Admission = Admission {
    parameter_lists: &[AllowList {
        path: &["waf", "acceptedWebAclArns"],
        min_items: None,
        item_pattern: Some(WEB_ACL_ARN_PATTERN),
        item_max_length: Some(2048),
    }],
    remediation_fields: &[BoundedString {
        path: &["controls", "waf", "webAclArn"],
        max_length: 2048,
    }],
    remediation_rules: &[],
    spec_rules: &[SpecRule {
        rule: "!has(self.remediation) || !has(self.remediation.controls) \
            || !has(self.remediation.controls.waf) \
            || !has(self.controls) || !has(self.controls.parameters) \
            || !has(self.controls.parameters.waf) \
            || !has(self.controls.parameters.waf.acceptedWebAclArns) \
            || size(self.controls.parameters.waf.acceptedWebAclArns) == 0 \
            || self.remediation.controls.waf.webAclArn in self.controls.parameters.waf.acceptedWebAclArns",
        message: NOT_ACCEPTED,
        field_path: ".remediation.controls.waf.webAclArn",
    }],
};

/// APIGateway.4 parameters (`spec.controls.parameters.waf`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Parameters {
    /// When not empty, only these web ACL ARNs pass.
    pub accepted_web_acl_arns: Vec<String>,
}

/// APIGateway.4 remediation: the web ACL to associate. Off unless set
/// (`spec.remediation.controls.waf`).
pub type Remediation = Option<WebAclRemediation>;

/// The web ACL remediation associates with stages that have none.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebAclRemediation {
    /// The WAFv2 web ACL to associate with stages that have none, e.g.
    /// `arn:aws:wafv2:us-east-1:123456789012:regional/webacl/api/1a2b...`. It must have
    /// REGIONAL scope; only stages in its region are changed.
    #[schemars(extend("pattern" = WAFV2_WEB_ACL_ARN_PATTERN))]
    pub web_acl_arn: String,
}

pub fn needs(_: &Parameters) -> Needs {
    Needs {
        rest: true,
        ..Needs::default()
    }
}

pub fn validate(params: &Parameters, settings: &Remediation) -> Result<(), FieldError> {
    let accepted = &params.accepted_web_acl_arns;
    for (i, arn) in accepted.iter().enumerate() {
        if !is_regional_web_acl_arn(arn) {
            return Err(FieldError::new(
                format!("controls.parameters.waf.acceptedWebAclArns[{i}]"),
                format!("{arn:?} is not a regional WAF web ACL ARN"),
            ));
        }
    }
    let Some(waf) = &settings else {
        return Ok(());
    };
    parse_web_acl_arn(&waf.web_acl_arn)
        .map_err(|message| FieldError::new("remediation.controls.waf.webAclArn", message))?;
    if !accepted.is_empty() && !accepted.contains(&waf.web_acl_arn) {
        return Err(FieldError::new(
            "remediation.controls.waf.webAclArn",
            NOT_ACCEPTED,
        ));
    }
    Ok(())
}

/// Associates the profile's web ACL (wafv2 AssociateWebACL, a call of its own) with a
/// stage that has none, or that has one the allow-list does not accept.
pub fn plan(input: &PlanInput<'_>, params: &Parameters, settings: &Remediation, out: &mut ResourcePlan) {
    let Resource::RestStage(_, stage) = input.resource else {
        return;
    };
    let Some(waf) = &settings else {
        return out.unplanned(
            ID,
            UnplannedReason::Disabled,
            "no web ACL to associate: set waf.webAclArn to a REGIONAL WAFv2 web ACL in this region"
                .to_string(),
        );
    };
    let acl = match parse_web_acl_arn(&waf.web_acl_arn) {
        Ok(acl) => acl,
        Err(message) => return out.unplanned(ID, UnplannedReason::InvalidSettings, message),
    };
    if acl.region != input.region {
        return out.unplanned(
            ID,
            UnplannedReason::BlockedPrecondition,
            format!(
                "web ACL {} is in {}, the stage in {}: a stage can only use a REGIONAL web ACL of its own region",
                waf.web_acl_arn, acl.region, input.region
            ),
        );
    }
    let accepted = &params.accepted_web_acl_arns;
    if !accepted.is_empty() && !accepted.contains(&waf.web_acl_arn) {
        return out.unplanned(
            ID,
            UnplannedReason::InvalidSettings,
            format!(
                "waf.webAclArn {} is not among acceptedWebAclArns",
                waf.web_acl_arn
            ),
        );
    }
    let operation = Operation::AssociateWebAcl {
        web_acl_arn: waf.web_acl_arn.clone(),
    };
    let current = non_empty(&stage.web_acl_arn);
    match current {
        Some(current) if accepted.is_empty() => {
            // The finding passes with any ACL when there is no allow-list; never
            // replace one that someone chose.
            return out.unplanned(
                ID,
                UnplannedReason::ManualAction,
                format!(
                    "web ACL {current} is associated; remediation never replaces a web ACL the allow-list does not demand"
                ),
            );
        }
        Some(current) => out.note(
            &operation,
            format!("replaces web ACL {current}, which acceptedWebAclArns does not list"),
        ),
        None => {}
    }
    out.item(
        &operation,
        ChangeItem {
            control_id: ID,
            setting: "web ACL".to_string(),
            before: shown(current),
            after: waf.web_acl_arn.clone(),
            edit: Edit::AssociateWebAcl {
                web_acl_arn: waf.web_acl_arn.clone(),
            },
            precondition: Some(Precondition::WebAclExists {
                web_acl_arn: waf.web_acl_arn.clone(),
            }),
        },
    );
}

/// One finding per REST stage, whatever the API's endpoint type: PRIVATE and EDGE APIs
/// are not exempt (docs/controls/APIGateway.4.md).
pub fn evaluate(
    region: &RegionInventory,
    params: &Parameters,
    _: Semantics,
    findings: &mut Vec<Finding>,
) {
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

fn evaluate_stage(region: &str, stage: &RestStage, params: &Parameters) -> (Status, String) {
    let Some(acl) = non_empty(&stage.web_acl_arn) else {
        return (
            Status::Failed,
            format!(
                "no AWS WAF web ACL is associated with the stage; associate a REGIONAL web ACL from {region}"
            ),
        );
    };
    let accepted = &params.accepted_web_acl_arns;
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
    use crate::controls::ControlParameters;
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
            waf: Parameters {
                accepted_web_acl_arns: arns.iter().map(|arn| (*arn).to_string()).collect(),
            },
            ..ControlParameters::default()
        }
    }

    #[test]
    fn stage_with_a_web_acl_passes_and_names_it() {
        let finding = run_one(
            ID,
            &rest_region(stage(Some(ACL))),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Passed);
        assert_eq!(finding.reason, format!("web ACL {ACL} is associated"));
        assert_eq!(finding.control_id, ID);
    }

    #[test]
    fn stage_with_a_waf_classic_regional_acl_passes() {
        let classic = "arn:aws:waf-regional:us-east-1:123456789012:webacl/abcd";
        let finding = run_one(
            ID,
            &rest_region(stage(Some(classic))),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Passed);
    }

    #[test]
    fn stage_without_a_web_acl_fails() {
        let finding = run_one(
            ID,
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
            ID,
            &rest_region(stage(Some(""))),
            &ControlParameters::default(),
        );
        assert_eq!(finding.status, Status::Failed);
    }

    #[test]
    fn web_acl_in_the_allow_list_passes() {
        let finding = run_one(
            ID,
            &rest_region(stage(Some(ACL))),
            &accepting(&[OTHER_ACL, ACL]),
        );
        assert_eq!(finding.status, Status::Passed);
    }

    #[test]
    fn web_acl_outside_the_allow_list_fails_and_names_it() {
        let finding = run_one(
            ID,
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
        let finding = run_one(ID, &rest_region(stage(None)), &accepting(&[ACL]));
        assert_eq!(finding.status, Status::Failed);
    }

    #[test]
    fn v2_stages_get_no_finding() {
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
                title: "API Gateway should be associated with a WAF Web ACL",
                severity: Severity::Medium,
                category: "Protect > Protective services",
                resource_types: &["AWS::ApiGateway::Stage"],
                related_requirements: "NIST.800-53.r5 AC-4(21)",
                config_rule: "https://docs.aws.amazon.com/config/latest/developerguide/api-gw-associated-with-waf.html",
                unsupported_regions: &[
                    "Asia Pacific (Osaka)",
                    "China (Beijing)",
                    "China (Ningxia)",
                    "AWS GovCloud (US-East)",
                    "AWS GovCloud (US-West)",
                ],
                remediation_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/apigateway-control-access-aws-waf.html",
            },
        );
    }
}
