//! APIGateway.9 — Access logging should be configured for API Gateway V2 Stages.
//!
//! Traces to: "This control fails if access log settings aren't defined." Decisions:
//! docs/controls/APIGateway.9.md.

use crate::controls::admission::{Admission, BoundedString, ObjectRule};
use crate::controls::common::{
    AccessLogRemediation, ControlMeta, FieldError, REQUEST_ID_VARIABLE, Semantics, Source,
    check_access_log_format, names_a_target_rule, non_empty, one_per_region_rule, shown,
};
use crate::controls::planning::{PlanInput, Resource, ResourcePlan, v2_update_stage};
use crate::inventory::{Needs, RegionInventory, V2Stage};
use crate::model::arn::{LogDestination, v2_stage_arn};
use crate::model::plan::{ChangeItem, Edit, Precondition, UnplannedReason};
use crate::model::{ControlId, Finding, ResourceType, Severity, Status, V2Protocol};

pub const ID: ControlId = ControlId::new("APIGateway.9");

pub static META: ControlMeta = ControlMeta {
    id: ID,
    source: Source::SecurityHub,
    title: "Access logging should be configured for API Gateway V2 Stages",
    severity: Severity::Medium,
    category: "Identify > Logging",
    resource_types: &[ResourceType::V2Stage],
    related_requirements: &[
        "NIST.800-53.r5 AC-4(26)",
        "NIST.800-53.r5 AU-10",
        "NIST.800-53.r5 AU-12",
        "NIST.800-53.r5 AU-2",
        "NIST.800-53.r5 AU-3",
        "NIST.800-53.r5 AU-6(3)",
        "NIST.800-53.r5 AU-6(4)",
        "NIST.800-53.r5 CA-7",
        "NIST.800-53.r5 SC-7(9)",
        "NIST.800-53.r5 SI-7(8)",
    ],
    config_rule: "api-gwv2-access-logs-enabled",
    unsupported_regions: &[
        "ap-southeast-3",
        "cn-north-1",
        "cn-northwest-1",
        "me-central-1",
        "us-gov-east-1",
        "us-gov-west-1",
    ],
    remediation_url: "https://docs.aws.amazon.com/apigateway/latest/developerguide/set-up-logging.html#set-up-access-logging-using-console",
};

pub static ADMISSION: Admission = Admission {
    parameter_lists: &[],
    remediation_fields: &[BoundedString {
        path: &["controls", "accessLogging", "destinationArn"],
        max_length: 2048,
    }],
    remediation_rules: &[
        ObjectRule {
            path: &["controls", "accessLogging"],
            rule: names_a_target_rule!("destinationArn", "destinationArns"),
            message: "name the access log destinations: destinationArns, one per region (or destinationArn)",
        },
        ObjectRule {
            path: &["controls", "accessLogging"],
            rule: one_per_region_rule!("destinationArn", "destinationArns"),
            message: "at most one access log destination per region (the region is the ARN's): API Gateway writes a stage's access logs to one",
        },
    ],
    spec_rules: &[],
};

/// How `spec.remediation.controls` describes this control's remediation settings.
pub const REMEDIATION_DOC: &str =
    "APIGateway.9: where and how access logs are written. Off unless set.";

/// APIGateway.9 remediation: where and how access logs are written. Off unless set
/// (`spec.remediation.controls.accessLogging`).
pub type Remediation = Option<AccessLogRemediation>;

/// v2 stages (access log settings are stage settings).
pub fn needs(_: &()) -> Needs {
    Needs {
        v2: true,
        ..Needs::default()
    }
}

pub fn validate(_: &(), settings: &Remediation) -> Result<(), FieldError> {
    settings.as_ref().map_or(Ok(()), |access| {
        access.validate("remediation.controls.accessLogging")
    })
}

/// Fills what is empty and keeps what is set: logs already going somewhere are never
/// redirected, and a format someone wrote is never rewritten.
pub fn plan(input: &PlanInput<'_>, _: &(), settings: &Remediation, out: &mut ResourcePlan) {
    let Resource::V2Stage(api, stage) = input.resource else {
        return;
    };
    let Some(access) = &settings else {
        return out.unplanned(
            ID,
            UnplannedReason::Disabled,
            "no access log destination: set accessLogging.destinationArns (a log group ARN per region) and accessLogging.format"
                .to_string(),
        );
    };
    let (destination_arn, destination) =
        match access.destination_for(input.region, "spec.remediation.controls.accessLogging") {
            Ok(found) => found,
            Err((reason, message)) => return out.unplanned(ID, reason, message),
        };
    // REST and WebSocket APIs write logs to CloudWatch Logs with the role named in the
    // account settings, as execution logging does; HTTP APIs (and Firehose
    // destinations) do not use it.
    let precondition = (api.protocol == V2Protocol::WebSocket
        && matches!(destination, LogDestination::LogGroup { .. }))
    .then(|| Precondition::CloudWatchRoleArn {
        region: input.region.to_string(),
    });
    let operation = v2_update_stage(api, stage);
    let current = stage.access_log.clone().unwrap_or_default();
    let current_destination = non_empty(&current.destination_arn);
    let current_format = non_empty(&current.format);
    if current_destination.is_none() {
        // The kept format passes the control, but lines without the request id cannot
        // be traced to their requests: say so rather than rewrite it.
        if let Some(format) = current_format
            && check_access_log_format(format).is_err()
        {
            out.note(
                &operation,
                format!(
                    "keeps the stage's access log format, which lacks {REQUEST_ID_VARIABLE}, so its lines cannot be \
                     traced to their requests; remediation never rewrites a format someone wrote: the owner should \
                     add {REQUEST_ID_VARIABLE} to it (apigatewayv2 UpdateStage AccessLogSettings.Format)"
                ),
            );
        }
        out.item(
            &operation,
            ChangeItem {
                control_id: ID,
                setting: "access log destination".to_string(),
                before: shown(current_destination),
                after: destination_arn.to_string(),
                edit: Edit::AccessLogDestination {
                    destination_arn: destination_arn.to_string(),
                },
                precondition: precondition.clone(),
            },
        );
    }
    if current_format.is_none() {
        out.item(
            &operation,
            ChangeItem {
                control_id: ID,
                setting: "access log format".to_string(),
                before: shown(current_format),
                after: access.format.clone(),
                edit: Edit::AccessLogFormat {
                    format: access.format.clone(),
                },
                precondition,
            },
        );
    }
}

/// One finding per stage of every HTTP and WebSocket API.
pub fn evaluate(
    region: &RegionInventory,
    _: &(),
    semantics: Semantics,
    findings: &mut Vec<Finding>,
) {
    for api in &region.v2_apis {
        for stage in &api.stages {
            let (status, reason) = evaluate_stage(stage, semantics);
            findings.push(META.finding(
                ResourceType::V2Stage,
                &region.region,
                v2_stage_arn(&region.region, &api.id, &stage.name),
                status,
                reason,
            ));
        }
    }
}

fn evaluate_stage(stage: &V2Stage, semantics: Semantics) -> (Status, String) {
    let Some(settings) = &stage.access_log else {
        return (
            Status::Failed,
            "stage has no access log settings; set AccessLogSettings with a CloudWatch Logs log group ARN \
             as DestinationArn and a Format that includes $context.requestId"
                .to_string(),
        );
    };
    let destination = non_empty(&settings.destination_arn);
    let format = non_empty(&settings.format);
    // Strict reads "access logging configured" as logs that are written: API Gateway
    // writes nothing without a format. AWS's rule only checks that settings exist.
    let format_required = semantics == Semantics::Strict;

    let mut problems = Vec::new();
    if destination.is_none() {
        problems.push("access log destination (DestinationArn) is empty; set it to a CloudWatch Logs log group ARN");
    }
    if format.is_none() && format_required {
        problems.push("access log format is empty; set a Format that includes $context.requestId");
    }
    match destination {
        Some(destination) if problems.is_empty() => {
            let reason = if format.is_some() {
                format!("access logs go to {destination}")
            } else {
                format!(
                    "access logs go to {destination}; the format is empty, which AWS parity accepts"
                )
            };
            (Status::Passed, reason)
        }
        _ => (Status::Failed, problems.join("; ")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controls::ControlParameters;
    use crate::controls::test_support::*;
    use crate::inventory::AccessLogSettings;
    use crate::model::V2Protocol;

    const LOG_GROUP: &str = "arn:aws:logs:us-east-1:123456789012:log-group:api-access";

    fn stage(access_log: Option<(Option<&str>, Option<&str>)>) -> V2Stage {
        V2Stage {
            access_log: access_log.map(|(destination, format)| AccessLogSettings {
                destination_arn: destination.map(str::to_string),
                format: format.map(str::to_string),
            }),
            ..v2_stage()
        }
    }

    fn verdict(protocol: V2Protocol, stage: V2Stage, params: &ControlParameters) -> Finding {
        let region = region_with(
            Vec::new(),
            vec![v2_api("v2", protocol, vec![stage], Vec::new())],
        );
        run_one(ID, &region, params)
    }

    fn strict() -> ControlParameters {
        ControlParameters::default()
    }

    #[test]
    fn http_stage_with_destination_and_format_passes() {
        let finding = verdict(
            V2Protocol::Http,
            stage(Some((Some(LOG_GROUP), Some("$context.requestId")))),
            &strict(),
        );
        assert_eq!(finding.status, Status::Passed);
        assert_eq!(finding.reason, format!("access logs go to {LOG_GROUP}"));
        assert_eq!(finding.control_id, ID);
        assert_eq!(finding.resource_type, ResourceType::V2Stage);
        assert_eq!(
            finding.resource_arn,
            "arn:aws:apigateway:us-east-1::/apis/v2/stages/prod"
        );
    }

    #[test]
    fn websocket_stage_with_destination_and_format_passes() {
        let finding = verdict(
            V2Protocol::WebSocket,
            stage(Some((Some(LOG_GROUP), Some("$context.requestId")))),
            &strict(),
        );
        assert_eq!(finding.status, Status::Passed);
    }

    #[test]
    fn stage_without_access_log_settings_fails() {
        let finding = verdict(V2Protocol::Http, stage(None), &strict());
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding
                .reason
                .starts_with("stage has no access log settings"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn stage_without_access_log_settings_fails_under_aws_parity_too() {
        assert_eq!(
            verdict(V2Protocol::WebSocket, stage(None), &parity()).status,
            Status::Failed
        );
    }

    #[test]
    fn stage_with_an_empty_destination_fails() {
        let finding = verdict(
            V2Protocol::Http,
            stage(Some((Some(""), Some("$context.requestId")))),
            &strict(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(
            finding.reason,
            "access log destination (DestinationArn) is empty; set it to a CloudWatch Logs log group ARN"
        );
    }

    #[test]
    fn stage_with_a_missing_destination_fails_under_aws_parity_too() {
        let finding = verdict(
            V2Protocol::Http,
            stage(Some((None, Some("$context.requestId")))),
            &parity(),
        );
        assert_eq!(finding.status, Status::Failed);
    }

    #[test]
    fn stage_with_an_empty_format_fails_in_strict() {
        let finding = verdict(
            V2Protocol::Http,
            stage(Some((Some(LOG_GROUP), Some("")))),
            &strict(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert_eq!(
            finding.reason,
            "access log format is empty; set a Format that includes $context.requestId"
        );
    }

    #[test]
    fn stage_with_an_empty_format_passes_under_aws_parity_and_says_so() {
        let finding = verdict(
            V2Protocol::Http,
            stage(Some((Some(LOG_GROUP), None))),
            &parity(),
        );
        assert_eq!(finding.status, Status::Passed);
        assert!(
            finding
                .reason
                .ends_with("the format is empty, which AWS parity accepts"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn stage_with_empty_destination_and_format_names_both() {
        let finding = verdict(
            V2Protocol::WebSocket,
            stage(Some((Some(" "), Some("")))),
            &strict(),
        );
        assert_eq!(finding.status, Status::Failed);
        assert!(
            finding.reason.contains("DestinationArn) is empty"),
            "{}",
            finding.reason
        );
        assert!(
            finding.reason.contains("format is empty"),
            "{}",
            finding.reason
        );
    }

    #[test]
    fn rest_stages_get_no_finding() {
        let region = rest_region(rest_stage(&[]));
        assert!(run(ID, &region, &strict()).is_empty());
    }

    const FORMAT: &str = r#"{"id":"$context.requestId"}"#;
    const EU_LOG_GROUP: &str = "arn:aws:logs:eu-west-1:123456789012:log-group:api-access";
    const FIREHOSE: &str =
        "arn:aws:firehose:us-east-1:123456789012:deliverystream/amazon-apigateway-access";

    fn per_region(single: Option<&str>, list: &[&str]) -> AccessLogRemediation {
        AccessLogRemediation {
            destination_arn: single.map(str::to_string),
            destination_arns: list.iter().map(|arn| (*arn).to_string()).collect(),
            format: FORMAT.to_string(),
        }
    }

    /// The destination planned for a failing HTTP stage in `region`, or why none is.
    fn destination_planned(
        region: &str,
        settings: AccessLogRemediation,
    ) -> Result<String, (UnplannedReason, String)> {
        let api = v2_api("v2", V2Protocol::Http, Vec::new(), Vec::new());
        let stage = stage(None);
        let arn = v2_stage_arn(region, "v2", "prod");
        let input = PlanInput {
            region,
            resource_arn: &arn,
            resource: Resource::V2Stage(&api, &stage),
            semantics: Semantics::Strict,
        };
        let mut out = ResourcePlan::default();
        plan(&input, &(), &Some(settings), &mut out);
        let destination = out.items.iter().find_map(|(_, item)| match &item.edit {
            Edit::AccessLogDestination { destination_arn } => Some(destination_arn.clone()),
            _ => None,
        });
        match destination {
            Some(destination) => Ok(destination),
            None => {
                let unplanned = out.take_unplanned(region, &arn);
                Err((unplanned[0].reason, unplanned[0].message.clone()))
            }
        }
    }

    #[test]
    fn each_region_gets_the_destination_named_for_it() {
        let settings = per_region(None, &[EU_LOG_GROUP, LOG_GROUP]);
        assert_eq!(
            destination_planned("us-east-1", settings.clone()),
            Ok(LOG_GROUP.to_string())
        );
        assert_eq!(
            destination_planned("eu-west-1", settings),
            Ok(EU_LOG_GROUP.to_string())
        );
        // The single destination of before works as one entry.
        assert_eq!(
            destination_planned("us-east-1", per_region(Some(FIREHOSE), &[EU_LOG_GROUP])),
            Ok(FIREHOSE.to_string())
        );
    }

    #[test]
    fn a_region_without_a_destination_is_reported_as_needing_one() {
        assert_eq!(
            destination_planned("ap-south-1", per_region(None, &[EU_LOG_GROUP, LOG_GROUP])),
            Err((
                UnplannedReason::BlockedPrecondition,
                "no access log destination named for ap-south-1: add one to spec.remediation.controls.accessLogging.destinationArns"
                    .to_string()
            ))
        );
    }

    #[test]
    fn validation_wants_well_formed_destinations_at_most_one_per_region_and_at_least_one() {
        let validated = |settings: AccessLogRemediation| validate(&(), &Some(settings));
        assert_eq!(
            validated(per_region(None, &[LOG_GROUP, EU_LOG_GROUP])),
            Ok(())
        );
        let twice = validated(per_region(Some(FIREHOSE), &[EU_LOG_GROUP, LOG_GROUP]))
            .expect_err("two for us-east-1");
        assert_eq!(
            twice.field,
            "remediation.controls.accessLogging.destinationArns[1]"
        );
        assert!(twice.message.contains("us-east-1"), "{}", twice.message);
        let malformed = validated(per_region(
            None,
            &[LOG_GROUP, "arn:aws:s3:::not-a-log-destination"],
        ))
        .expect_err("not a log group");
        assert_eq!(
            malformed.field,
            "remediation.controls.accessLogging.destinationArns[1]"
        );
        let none = validated(per_region(None, &[])).expect_err("names nothing");
        assert_eq!(none.field, "remediation.controls.accessLogging");
    }

    /// The specification (securityhub-apigateway-controls.md), field by field, in its
    /// own words: the test is its letter in code.
    #[test]
    fn catalog_entry_matches_the_specification() {
        assert_matches_spec(
            &META,
            &SpecEntry {
                title: "Access logging should be configured for API Gateway V2 Stages",
                severity: Severity::Medium,
                category: "Identify > Logging",
                resource_types: &["AWS::ApiGatewayV2::Stage"],
                related_requirements: NIST_LOGGING,
                config_rule: "api-gwv2-access-logs-enabled",
                unsupported_regions: &[
                    "Asia Pacific (Jakarta)",
                    "China (Beijing)",
                    "China (Ningxia)",
                    "Middle East (UAE)",
                    "AWS GovCloud (US-East)",
                    "AWS GovCloud (US-West)",
                ],
                remediation_url: LOGGING_GUIDE,
            },
        );
    }
}
