//! RestAccessLogging — API Gateway REST API stages should have access logging configured.
//!
//! Our own check, not a Security Hub control: CIS AWS Foundations Benchmark v7.0.0 4.10
//! asks that AWS-managed web front-end services log access, and no Security Hub control
//! checks REST stages for it (APIGateway.9 covers v2 stages only). Read as APIGateway.9
//! is under strict semantics: a destination and a format. Decisions:
//! docs/controls/RestAccessLogging.md.

use crate::controls::admission::{Admission, BoundedString, ObjectRule};
use crate::controls::common::{
    AccessLogRemediation, ControlMeta, FieldError, REQUEST_ID_VARIABLE, Semantics, Source,
    check_access_log_format, names_a_target_rule, non_empty, one_per_region_rule, shown,
};
use crate::controls::planning::{PlanInput, Resource, ResourcePlan, rest_update_stage};
use crate::inventory::{Needs, RegionInventory, RestStage};
use crate::model::arn::{LogDestination, rest_stage_arn};
use crate::model::plan::{ChangeItem, Edit, PatchValue, Precondition, UnplannedReason};
use crate::model::{ControlId, Finding, ResourceType, Severity, Status};

/// Not `APIGateway.N`: no one should take it for a Security Hub control.
pub const ID: ControlId = ControlId::new("RestAccessLogging");

/// How `spec.remediation.controls` describes this control's remediation settings.
pub const REMEDIATION_DOC: &str =
    "RestAccessLogging: where and how REST stages' access logs are written. Off unless set.";

pub static META: ControlMeta = ControlMeta {
    id: ID,
    source: Source::Cis,
    title: "API Gateway REST API stages should have access logging configured",
    severity: Severity::Medium,
    category: "Identify > Logging",
    resource_types: &[ResourceType::RestStage],
    related_requirements: &["CIS AWS Foundations Benchmark v7.0.0/4.10"],
    config_rule: "",
    unsupported_regions: &[],
    remediation_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html",
};

pub static ADMISSION: Admission = Admission {
    parameter_lists: &[],
    remediation_fields: &[BoundedString {
        path: &["controls", "restAccessLogging", "destinationArn"],
        max_length: 2048,
    }],
    remediation_rules: &[
        ObjectRule {
            path: &["controls", "restAccessLogging"],
            rule: names_a_target_rule!("destinationArn", "destinationArns"),
            message: "name the access log destinations: destinationArns, one per region (or destinationArn)",
        },
        ObjectRule {
            path: &["controls", "restAccessLogging"],
            rule: one_per_region_rule!("destinationArn", "destinationArns"),
            message: "at most one access log destination per region (the region is the ARN's): API Gateway writes a stage's access logs to one",
        },
    ],
    spec_rules: &[],
};

/// RestAccessLogging remediation (`spec.remediation.controls.restAccessLogging`).
pub type Remediation = Option<AccessLogRemediation>;

/// REST stages (their access log settings come with GetStages).
pub fn needs(_: &()) -> Needs {
    Needs {
        rest: true,
        ..Needs::default()
    }
}

pub fn validate(_: &(), settings: &Remediation) -> Result<(), FieldError> {
    settings.as_ref().map_or(Ok(()), |access| {
        access.validate("remediation.controls.restAccessLogging")
    })
}

/// One finding per REST stage.
pub fn evaluate(region: &RegionInventory, _: &(), _: Semantics, findings: &mut Vec<Finding>) {
    for api in &region.rest_apis {
        for stage in &api.stages {
            let (status, reason) = evaluate_stage(stage);
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

fn evaluate_stage(stage: &RestStage) -> (Status, String) {
    let Some(settings) = &stage.access_log else {
        return (
            Status::Failed,
            "stage has no access log settings; set accessLogSettings with a CloudWatch Logs log group \
             ARN as destinationArn and a format that includes $context.requestId"
                .to_string(),
        );
    };
    let mut problems = Vec::new();
    if non_empty(&settings.destination_arn).is_none() {
        problems.push("access log destination (destinationArn) is empty; set it to a CloudWatch Logs log group ARN");
    }
    // API Gateway writes nothing without a format.
    if non_empty(&settings.format).is_none() {
        problems.push("access log format is empty; set a format that includes $context.requestId");
    }
    match non_empty(&settings.destination_arn) {
        Some(destination) if problems.is_empty() => {
            (Status::Passed, format!("access logs go to {destination}"))
        }
        _ => (Status::Failed, problems.join("; ")),
    }
}

/// Fills what is empty and keeps what is set (REST UpdateStage, `replace
/// /accessLogSettings/...`): logs already going somewhere are never redirected, and a
/// format someone wrote is never rewritten.
pub fn plan(input: &PlanInput<'_>, _: &(), settings: &Remediation, out: &mut ResourcePlan) {
    let Resource::RestStage(api, stage) = input.resource else {
        return;
    };
    let Some(access) = settings else {
        return out.unplanned(
            ID,
            UnplannedReason::Disabled,
            "no access log destination: set restAccessLogging.destinationArns (a log group ARN per \
             region) and restAccessLogging.format"
                .to_string(),
        );
    };
    let (destination_arn, destination) =
        match access.destination_for(input.region, "spec.remediation.controls.restAccessLogging") {
            Ok(found) => found,
            Err((reason, message)) => return out.unplanned(ID, reason, message),
        };
    // REST APIs write logs to CloudWatch Logs with the role named in the account
    // settings; Firehose destinations do not use it.
    let precondition = matches!(destination, LogDestination::LogGroup { .. }).then(|| {
        Precondition::CloudWatchRoleArn {
            region: input.region.to_string(),
        }
    });
    let operation = rest_update_stage(api, stage);
    let current = stage.access_log.clone().unwrap_or_default();
    let current_destination = non_empty(&current.destination_arn);
    let current_format = non_empty(&current.format);
    let mut item = |setting: &str, before: Option<&str>, path: &str, value: &str| {
        out.item(
            &operation,
            ChangeItem {
                control_id: ID,
                setting: setting.to_string(),
                before: shown(before),
                after: value.to_string(),
                edit: Edit::RestReplace {
                    path: path.to_string(),
                    value: PatchValue::Literal(value.to_string()),
                },
                precondition: precondition.clone(),
            },
        );
    };
    if current_destination.is_none() {
        item(
            "access log destination",
            current_destination,
            "/accessLogSettings/destinationArn",
            destination_arn,
        );
    }
    if current_format.is_none() {
        item(
            "access log format",
            current_format,
            "/accessLogSettings/format",
            &access.format,
        );
    }
    // The kept format makes the stage pass, but lines without the request id cannot be
    // traced to their requests: say so rather than rewrite it.
    if current_destination.is_none()
        && let Some(format) = current_format
        && check_access_log_format(format).is_err()
    {
        out.note(
            &operation,
            format!(
                "keeps the stage's access log format, which lacks {REQUEST_ID_VARIABLE}; remediation never \
                 rewrites a format someone wrote: the owner should add {REQUEST_ID_VARIABLE} to it"
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::ControlParameters;
    use crate::controls::test_support::*;
    use crate::inventory::AccessLogSettings;

    const LOG_GROUP: &str = "arn:aws:logs:us-east-1:123456789012:log-group:/apigw/rest";
    const FORMAT: &str = r#"{"id":"$context.requestId"}"#;

    fn stage(access_log: Option<(Option<&str>, Option<&str>)>) -> RestStage {
        RestStage {
            access_log: access_log.map(|(destination, format)| AccessLogSettings {
                destination_arn: destination.map(str::to_string),
                format: format.map(str::to_string),
            }),
            ..rest_stage(&[])
        }
    }

    fn verdict(stage: RestStage) -> Finding {
        run_one(ID, &rest_region(stage), &ControlParameters::default())
    }

    #[test]
    fn a_stage_with_a_destination_and_a_format_passes() {
        let finding = verdict(stage(Some((Some(LOG_GROUP), Some(FORMAT)))));
        assert_eq!(finding.status, Status::Passed);
        assert_eq!(finding.reason, format!("access logs go to {LOG_GROUP}"));
        assert_eq!(finding.control_id, ID);
    }

    #[test]
    fn a_stage_without_settings_or_with_an_empty_part_fails_saying_what_to_set() {
        assert!(
            verdict(stage(None))
                .reason
                .starts_with("stage has no access log settings")
        );
        let no_destination = verdict(stage(Some((None, Some(FORMAT)))));
        assert_eq!(no_destination.status, Status::Failed);
        assert!(no_destination.reason.contains("destinationArn) is empty"));
        let no_format = verdict(stage(Some((Some(LOG_GROUP), None))));
        assert_eq!(no_format.status, Status::Failed);
        assert!(no_format.reason.contains("format is empty"));
    }

    #[test]
    fn aws_parity_reads_it_the_same_way() {
        let region = rest_region(stage(Some((Some(LOG_GROUP), None))));
        assert_eq!(run_one(ID, &region, &parity()).status, Status::Failed);
    }

    fn planned(stage: &RestStage, settings: &Remediation) -> ResourcePlan {
        let api = rest_api("a1b2c3", Vec::new());
        let input = PlanInput {
            region: "us-east-1",
            resource_arn: "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod",
            resource: Resource::RestStage(&api, stage),
            semantics: Semantics::Strict,
        };
        let mut out = ResourcePlan::default();
        plan(&input, &(), settings, &mut out);
        out
    }

    fn settings(destination: &str) -> Remediation {
        Some(AccessLogRemediation {
            destination_arns: vec![destination.to_string()],
            destination_arn: None,
            format: FORMAT.to_string(),
        })
    }

    #[test]
    fn destination_and_format_are_set_where_empty_with_the_cloudwatch_role_precondition() {
        let out = planned(&stage(None), &settings(LOG_GROUP));
        let paths: Vec<&Edit> = out.items.iter().map(|(_, item)| &item.edit).collect();
        assert_eq!(
            paths,
            [
                &Edit::RestReplace {
                    path: "/accessLogSettings/destinationArn".to_string(),
                    value: PatchValue::Literal(LOG_GROUP.to_string())
                },
                &Edit::RestReplace {
                    path: "/accessLogSettings/format".to_string(),
                    value: PatchValue::Literal(FORMAT.to_string())
                },
            ]
        );
        assert!(out.items.iter().all(|(_, item)| item.precondition
            == Some(Precondition::CloudWatchRoleArn {
                region: "us-east-1".to_string()
            })));
    }

    #[test]
    fn a_destination_that_is_set_is_never_redirected_and_a_format_never_rewritten() {
        let kept = stage(Some((
            Some("arn:aws:logs:us-east-1:123456789012:log-group:theirs"),
            Some("$context.status"),
        )));
        let out = planned(&kept, &settings(LOG_GROUP));
        assert!(out.items.is_empty());
        let format_only = stage(Some((None, Some("$context.status"))));
        let out = planned(&format_only, &settings(LOG_GROUP));
        assert_eq!(out.items.len(), 1);
        assert_eq!(out.notes.len(), 1, "the kept format lacks the request id");
    }

    #[test]
    fn a_stage_gets_the_destination_of_its_region() {
        let per_region = Some(AccessLogRemediation {
            destination_arns: vec![
                "arn:aws:logs:eu-west-1:123456789012:log-group:/apigw/rest".to_string(),
                LOG_GROUP.to_string(),
            ],
            destination_arn: None,
            format: FORMAT.to_string(),
        });
        let out = planned(&stage(None), &per_region);
        assert_eq!(
            out.items[0].1.edit,
            Edit::RestReplace {
                path: "/accessLogSettings/destinationArn".to_string(),
                value: PatchValue::Literal(LOG_GROUP.to_string())
            }
        );
    }

    #[test]
    fn a_region_without_a_destination_is_reported_as_needing_one_and_nothing_is_planned_without_settings()
     {
        let mut elsewhere = planned(
            &stage(None),
            &settings("arn:aws:logs:eu-west-1:123456789012:log-group:x"),
        );
        assert!(elsewhere.items.is_empty());
        let unplanned = elsewhere.take_unplanned("us-east-1", "x");
        assert_eq!(unplanned[0].reason, UnplannedReason::BlockedPrecondition);
        assert_eq!(
            unplanned[0].message,
            "no access log destination named for us-east-1: add one to spec.remediation.controls.restAccessLogging.destinationArns"
        );
        let mut off = planned(&stage(None), &None);
        assert_eq!(
            off.take_unplanned("us-east-1", "x")[0].reason,
            UnplannedReason::Disabled
        );
    }

    #[test]
    fn it_is_not_a_security_hub_control_and_maps_to_cis_4_10() {
        assert_eq!(META.source, Source::Cis);
        assert!(!ID.as_str().starts_with("APIGateway."));
        assert_eq!(
            META.related_requirements,
            ["CIS AWS Foundations Benchmark v7.0.0/4.10"]
        );
    }
}
