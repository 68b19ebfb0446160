//! APIGateway.4 — API Gateway should be associated with a WAF Web ACL.
//!
//! Traces to: "This control fails if an AWS WAF web ACL is not attached to a REST API
//! Gateway stage." Decisions: docs/controls/APIGateway.4.md.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::controls::admission::{Admission, AllowList, BoundedString, ObjectRule, SpecRule};
use crate::controls::common::{
    ControlMeta, FieldError, Semantics, Source, name_list, names_a_target_rule, non_empty,
    one_per_region, one_per_region_rule, regional_arns_schema, shown,
};
use crate::controls::planning::{PlanInput, Resource, ResourcePlan};
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
pub const REMEDIATION_DOC: &str =
    "APIGateway.4: the web ACL to associate, one per region. Off unless set.";

pub static META: ControlMeta = ControlMeta {
    id: ID,
    source: Source::SecurityHub,
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
    remediation_rules: &[
        ObjectRule {
            path: &["controls", "waf"],
            rule: names_a_target_rule!("webAclArn", "webAclArns"),
            message: "name the web ACLs to associate: webAclArns, one per region (or webAclArn)",
        },
        ObjectRule {
            path: &["controls", "waf"],
            rule: one_per_region_rule!("webAclArn", "webAclArns"),
            message: "at most one web ACL per region (the region is the ARN's): a stage can be associated with one",
        },
    ],
    spec_rules: &[SpecRule {
        rule: "!has(self.remediation) || !has(self.remediation.controls) \
            || !has(self.remediation.controls.waf) \
            || !has(self.controls) || !has(self.controls.parameters) \
            || !has(self.controls.parameters.waf) \
            || !has(self.controls.parameters.waf.acceptedWebAclArns) \
            || size(self.controls.parameters.waf.acceptedWebAclArns) == 0 \
            || ((!has(self.remediation.controls.waf.webAclArn) \
                || self.remediation.controls.waf.webAclArn in self.controls.parameters.waf.acceptedWebAclArns) \
              && (!has(self.remediation.controls.waf.webAclArns) \
                || self.remediation.controls.waf.webAclArns.all(a, a in self.controls.parameters.waf.acceptedWebAclArns)))",
        message: NOT_ACCEPTED,
        field_path: ".remediation.controls.waf",
    }],
};

/// APIGateway.4 parameters (`spec.controls.parameters.waf`).
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct Parameters {
    /// When not empty, only these web ACL ARNs pass.
    pub accepted_web_acl_arns: Vec<String>,
}

/// APIGateway.4 remediation: the web ACLs to associate, one per region. Off unless set
/// (`spec.remediation.controls.waf`).
pub type Remediation = Option<WebAclRemediation>;

/// The web ACLs remediation associates with stages that have none: a web ACL is
/// regional, so a profile over several regions names one per region.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "camelCase")]
pub struct WebAclRemediation {
    /// The WAFv2 web ACLs to associate with stages that have none, at most one per
    /// region, e.g. `arn:aws:wafv2:us-east-1:123456789012:regional/webacl/api/1a2b...`.
    /// Each must have REGIONAL scope; a stage gets the one of its region (the region is
    /// the ARN's). A failing stage in a region without one is reported as needing one.
    #[serde(default)]
    #[schemars(schema_with = "web_acl_arns_schema")]
    pub web_acl_arns: Vec<String>,
    /// One web ACL, as profiles named it before `webAclArns`: the same as an entry of
    /// `webAclArns` (the two together still name at most one per region).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("pattern" = WAFV2_WEB_ACL_ARN_PATTERN))]
    pub web_acl_arn: Option<String>,
}

impl WebAclRemediation {
    /// Every web ACL named: `webAclArn`, then `webAclArns`.
    pub fn arns(&self) -> impl Iterator<Item = &str> {
        self.web_acl_arn
            .as_deref()
            .into_iter()
            .chain(self.web_acl_arns.iter().map(String::as_str))
    }

    /// The web ACL named for `region` (the first, if validation was skipped).
    pub fn for_region(&self, region: &str) -> Option<&str> {
        self.arns()
            .find(|arn| parse_web_acl_arn(arn).is_ok_and(|acl| acl.region == region))
    }
}

fn web_acl_arns_schema(generator: &mut schemars::SchemaGenerator) -> schemars::Schema {
    regional_arns_schema(generator, WAFV2_WEB_ACL_ARN_PATTERN)
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
    let fields = waf
        .web_acl_arn
        .iter()
        .map(|arn| ("remediation.controls.waf.webAclArn".to_string(), arn))
        .chain(
            waf.web_acl_arns
                .iter()
                .enumerate()
                .map(|(i, arn)| (format!("remediation.controls.waf.webAclArns[{i}]"), arn)),
        )
        .collect::<Vec<_>>();
    if fields.is_empty() {
        return Err(FieldError::new(
            "remediation.controls.waf",
            "name the web ACLs to associate: webAclArns, one per region (or webAclArn)",
        ));
    }
    let mut regions = Vec::with_capacity(fields.len());
    for (field, arn) in &fields {
        let acl = parse_web_acl_arn(arn).map_err(|message| FieldError::new(field, message))?;
        if !accepted.is_empty() && !accepted.contains(arn) {
            return Err(FieldError::new(field, NOT_ACCEPTED));
        }
        regions.push((field.as_str(), acl.region));
    }
    one_per_region(&regions, "web ACL", "a stage can be associated with one")
}

/// Associates the profile's web ACL (wafv2 AssociateWebACL, a call of its own) with a
/// stage that has none, or that has one the allow-list does not accept.
pub fn plan(
    input: &PlanInput<'_>,
    params: &Parameters,
    settings: &Remediation,
    out: &mut ResourcePlan,
) {
    let Resource::RestStage(_, stage) = input.resource else {
        return;
    };
    let Some(waf) = &settings else {
        return out.unplanned(
            ID,
            UnplannedReason::Disabled,
            "no web ACL to associate: set waf.webAclArns to a REGIONAL WAFv2 web ACL per region"
                .to_string(),
        );
    };
    if let Some(Err(message)) = waf.arns().map(parse_web_acl_arn).find(Result::is_err) {
        return out.unplanned(ID, UnplannedReason::InvalidSettings, message);
    }
    // A web ACL is regional: a stage can only use one of its own region.
    let Some(web_acl_arn) = waf.for_region(input.region) else {
        return out.unplanned(
            ID,
            UnplannedReason::BlockedPrecondition,
            format!(
                "no web ACL named for {}: add one to spec.remediation.controls.waf.webAclArns",
                input.region
            ),
        );
    };
    let accepted = &params.accepted_web_acl_arns;
    if !accepted.is_empty() && !accepted.iter().any(|a| a == web_acl_arn) {
        return out.unplanned(
            ID,
            UnplannedReason::InvalidSettings,
            format!("web ACL {web_acl_arn} is not among acceptedWebAclArns"),
        );
    }
    let operation = Operation::AssociateWebAcl {
        web_acl_arn: web_acl_arn.to_string(),
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
            after: web_acl_arn.to_string(),
            edit: Edit::AssociateWebAcl {
                web_acl_arn: web_acl_arn.to_string(),
            },
            precondition: Some(Precondition::WebAclExists {
                web_acl_arn: web_acl_arn.to_string(),
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
        let finding = run_one(ID, &rest_region(stage(None)), &ControlParameters::default());
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
        let finding = run_one(ID, &rest_region(stage(Some(OTHER_ACL))), &accepting(&[ACL]));
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

    const EU_ACL: &str = "arn:aws:wafv2:eu-west-1:123456789012:regional/webacl/main/77777777-2222-3333-4444-555555555555";

    fn per_region(single: Option<&str>, list: &[&str]) -> Remediation {
        Some(WebAclRemediation {
            web_acl_arn: single.map(str::to_string),
            web_acl_arns: list.iter().map(|arn| (*arn).to_string()).collect(),
        })
    }

    fn planned(region: &str, settings: &Remediation, params: &Parameters) -> ResourcePlan {
        let api = rest_api("a1b2c3", Vec::new());
        let stage = stage(None);
        let arn = rest_stage_arn(region, "a1b2c3", "prod");
        let input = PlanInput {
            region,
            resource_arn: &arn,
            resource: Resource::RestStage(&api, &stage),
            semantics: Semantics::Strict,
        };
        let mut out = ResourcePlan::default();
        plan(&input, params, settings, &mut out);
        out
    }

    fn associated(out: &ResourcePlan) -> Vec<String> {
        out.items
            .iter()
            .map(|(operation, _)| match operation {
                Operation::AssociateWebAcl { web_acl_arn } => web_acl_arn.clone(),
                other => panic!("unexpected operation {other:?}"),
            })
            .collect()
    }

    #[test]
    fn each_region_gets_the_web_acl_named_for_it() {
        let settings = per_region(None, &[ACL, EU_ACL]);
        let params = Parameters::default();
        assert_eq!(associated(&planned("us-east-1", &settings, &params)), [ACL]);
        assert_eq!(
            associated(&planned("eu-west-1", &settings, &params)),
            [EU_ACL]
        );
    }

    #[test]
    fn the_single_web_acl_arn_of_before_still_works_beside_the_list() {
        let params = Parameters::default();
        let single = per_region(Some(ACL), &[]);
        assert_eq!(associated(&planned("us-east-1", &single, &params)), [ACL]);
        let both = per_region(Some(ACL), &[EU_ACL]);
        assert_eq!(associated(&planned("us-east-1", &both, &params)), [ACL]);
        assert_eq!(associated(&planned("eu-west-1", &both, &params)), [EU_ACL]);
    }

    #[test]
    fn a_region_without_a_web_acl_is_reported_as_needing_one() {
        let mut out = planned(
            "ap-south-1",
            &per_region(None, &[ACL, EU_ACL]),
            &Parameters::default(),
        );
        assert!(out.items.is_empty());
        let unplanned = out.take_unplanned("ap-south-1", "x");
        assert_eq!(unplanned.len(), 1);
        assert_eq!(unplanned[0].reason, UnplannedReason::BlockedPrecondition);
        assert_eq!(
            unplanned[0].message,
            "no web ACL named for ap-south-1: add one to spec.remediation.controls.waf.webAclArns"
        );
    }

    #[test]
    fn a_web_acl_the_allow_list_does_not_accept_is_not_associated() {
        let params = Parameters {
            accepted_web_acl_arns: vec![ACL.to_string()],
        };
        let mut out = planned("eu-west-1", &per_region(None, &[ACL, EU_ACL]), &params);
        assert!(out.items.is_empty());
        assert_eq!(
            out.take_unplanned("eu-west-1", "x")[0].reason,
            UnplannedReason::InvalidSettings
        );
        assert!(
            validate(&params, &per_region(None, &[ACL, EU_ACL]))
                .expect_err("not accepted")
                .field
                .ends_with("webAclArns[1]")
        );
    }

    #[test]
    fn validation_wants_well_formed_arns_at_most_one_per_region_and_at_least_one() {
        let params = Parameters::default();
        assert_eq!(validate(&params, &per_region(None, &[ACL, EU_ACL])), Ok(()));
        assert_eq!(validate(&params, &per_region(Some(ACL), &[EU_ACL])), Ok(()));
        let twice = validate(&params, &per_region(None, &[ACL, EU_ACL, OTHER_ACL]))
            .expect_err("two for us-east-1");
        assert_eq!(twice.field, "remediation.controls.waf.webAclArns[2]");
        assert!(twice.message.contains("us-east-1"), "{}", twice.message);
        assert!(
            twice
                .message
                .contains("remediation.controls.waf.webAclArns[0]"),
            "{}",
            twice.message
        );
        let single_and_list = validate(&params, &per_region(Some(ACL), &[OTHER_ACL]))
            .expect_err("webAclArn and an entry for one region");
        assert_eq!(
            single_and_list.field,
            "remediation.controls.waf.webAclArns[0]"
        );
        let malformed = validate(
            &params,
            &per_region(
                None,
                &[
                    ACL,
                    "arn:aws:wafv2:eu-west-1:123456789012:global/webacl/x/1",
                ],
            ),
        )
        .expect_err("not regional");
        assert_eq!(malformed.field, "remediation.controls.waf.webAclArns[1]");
        let none = validate(&params, &per_region(None, &[])).expect_err("names nothing");
        assert_eq!(none.field, "remediation.controls.waf");
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
