//! `status.reports` and the `Reports` condition: where every finding of the last scan
//! is (the policy reports), or why it is not there. The status stays small: names,
//! counts and a selector, never the results themselves.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

use crate::crd::status::{
    DesiredCondition, REPORT_NAMES_LIMIT, ReportsStatus, reason, saturate, settle_conditions,
};
use crate::crd::{ComplianceProfileStatus, ConditionStatus};
use crate::report::policy_report::ReportOutcome;

/// `status` with the reports' outcome of its scan: none (reports are off) removes the
/// field and the condition; a missing CRD removes the field (there are no reports);
/// a failed write keeps the field (the reports of an earlier scan are still there).
/// The condition's transition time is kept while its status holds.
pub fn with_reports(
    mut status: ComplianceProfileStatus,
    outcome: Option<&ReportOutcome>,
    now: &Time,
) -> ComplianceProfileStatus {
    let previous: Vec<_> = status
        .conditions
        .iter()
        .filter(|c| c.type_ == reason::REPORTS)
        .cloned()
        .collect();
    status.conditions.retain(|c| c.type_ != reason::REPORTS);
    let Some(outcome) = outcome else {
        status.reports = None;
        return status;
    };
    let desired = match outcome {
        ReportOutcome::Written {
            api,
            names,
            selector,
            summary,
        } => {
            let location = match names.as_slice() {
                [only] => format!("{} {only}", api.kind()),
                [first, ..] => format!(
                    "{} {}s {first}..{}",
                    names.len(),
                    api.kind(),
                    names.len() - 1
                ),
                [] => String::new(),
            };
            status.reports = Some(ReportsStatus {
                resource: api.resource(),
                location,
                selector: selector.clone(),
                names: names.iter().take(REPORT_NAMES_LIMIT).cloned().collect(),
                names_truncated: saturate(names.len().saturating_sub(REPORT_NAMES_LIMIT)),
                results: *summary,
            });
            DesiredCondition {
                type_: reason::REPORTS,
                status: ConditionStatus::True,
                reason: reason::REPORTS_WRITTEN,
                message: format!(
                    "every finding of the last scan is in {} {}(s) of this namespace ({} result(s): {} fail, {} error): kubectl get {} -l {}",
                    names.len(),
                    api.kind(),
                    summary.total(),
                    summary.fail,
                    summary.error,
                    api.resource(),
                    selector
                ),
            }
        }
        ReportOutcome::CrdMissing { api } => {
            status.reports = None;
            DesiredCondition {
                type_: reason::REPORTS,
                status: ConditionStatus::False,
                reason: reason::REPORT_CRD_NOT_INSTALLED,
                message: format!(
                    "no {} is written: the CRD {} is not installed in the cluster (the operator never installs it); install it (or Policy Reporter, which brings it), or run the operator with --report-api none",
                    api.kind(),
                    api.resource()
                ),
            }
        }
        ReportOutcome::Failed { api, message } => DesiredCondition {
            type_: reason::REPORTS,
            status: ConditionStatus::False,
            reason: reason::REPORT_WRITE_FAILED,
            message: format!(
                "the {}s were not all written, retried at the next scan: {message}",
                api.kind()
            ),
        },
    };
    let generation = status.observed_generation;
    status
        .conditions
        .extend(settle_conditions(&previous, vec![desired], generation, now));
    status
}

/// The `Reports` condition of `previous`, kept by the status writes that do not write
/// reports (a scan starting, a failed read, a stall): the reports have not changed.
pub(super) fn kept_reports(previous: Option<&ComplianceProfileStatus>) -> Option<DesiredCondition> {
    let kept = previous?.condition(reason::REPORTS)?;
    let reason = [
        reason::REPORTS_WRITTEN,
        reason::REPORT_CRD_NOT_INSTALLED,
        reason::REPORT_WRITE_FAILED,
    ]
    .into_iter()
    .find(|r| *r == kept.reason)?;
    Some(DesiredCondition {
        type_: reason::REPORTS,
        status: kept.status,
        reason,
        message: kept.message.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::controller::status::fixtures::at;
    use crate::crd::status::ReportSummary;
    use crate::report::policy_report::ReportApi;

    fn written(parts: usize) -> ReportOutcome {
        ReportOutcome::Written {
            api: ReportApi::OpenReports,
            names: (0..parts).map(|i| format!("apigw-orders-{i}")).collect(),
            selector: "apigwcompliance.io/profile=orders".into(),
            summary: ReportSummary {
                pass: 10,
                fail: 2,
                warn: 0,
                error: 1,
                skip: 3,
            },
        }
    }

    #[test]
    fn written_reports_are_pointed_to_by_name_selector_and_counts() {
        let status = with_reports(Default::default(), Some(&written(1)), &at(100));
        let reports = status.reports.clone().expect("status.reports");
        assert_eq!(reports.resource, "reports.openreports.io");
        assert_eq!(reports.location, "Report apigw-orders-0");
        assert_eq!(reports.names, ["apigw-orders-0"]);
        assert_eq!(reports.selector, "apigwcompliance.io/profile=orders");
        assert_eq!(reports.results.fail, 2);
        let condition = status.condition(reason::REPORTS).expect("Reports");
        assert_eq!(condition.status, ConditionStatus::True);
        assert_eq!(condition.reason, reason::REPORTS_WRITTEN);
        assert!(
            condition.message.contains(
                "16 result(s): 2 fail, 1 error): kubectl get reports.openreports.io -l apigwcompliance.io/profile=orders"
            ),
            "{}",
            condition.message
        );
    }

    #[test]
    fn many_parts_are_named_in_a_range_and_listed_up_to_the_limit() {
        let status = with_reports(Default::default(), Some(&written(25)), &at(100));
        let reports = status.reports.expect("status.reports");
        assert_eq!(reports.location, "25 Reports apigw-orders-0..24");
        assert_eq!(reports.names.len(), REPORT_NAMES_LIMIT);
        assert_eq!(reports.names_truncated, 5);
    }

    #[test]
    fn a_missing_crd_is_a_false_condition_that_says_what_to_do() {
        let before = with_reports(Default::default(), Some(&written(1)), &at(100));
        let status = with_reports(
            before,
            Some(&ReportOutcome::CrdMissing {
                api: ReportApi::Wgpolicyk8s,
            }),
            &at(200),
        );
        assert!(status.reports.is_none());
        let condition = status.condition(reason::REPORTS).expect("Reports");
        assert_eq!(condition.status, ConditionStatus::False);
        assert_eq!(condition.reason, reason::REPORT_CRD_NOT_INSTALLED);
        assert_eq!(condition.last_transition_time, at(200));
        assert!(
            condition
                .message
                .contains("policyreports.wgpolicyk8s.io is not installed")
                && condition.message.contains("--report-api none"),
            "{}",
            condition.message
        );
    }

    #[test]
    fn a_failed_write_keeps_the_earlier_reports_and_reports_off_removes_everything() {
        let before = with_reports(Default::default(), Some(&written(2)), &at(100));
        let failed = with_reports(
            before,
            Some(&ReportOutcome::Failed {
                api: ReportApi::OpenReports,
                message: "forbidden".into(),
            }),
            &at(200),
        );
        assert!(failed.reports.is_some());
        assert_eq!(
            failed.condition(reason::REPORTS).map(|c| c.reason.as_str()),
            Some(reason::REPORT_WRITE_FAILED)
        );
        let off = with_reports(failed, None, &at(300));
        assert!(off.reports.is_none());
        assert!(off.condition(reason::REPORTS).is_none());
    }

    #[test]
    fn the_condition_keeps_its_time_while_it_holds_and_other_writes_keep_it() {
        let first = with_reports(Default::default(), Some(&written(1)), &at(100));
        let second = with_reports(first.clone(), Some(&written(2)), &at(200));
        assert_eq!(
            second
                .condition(reason::REPORTS)
                .map(|c| c.last_transition_time.clone()),
            Some(at(100))
        );
        let scanning = crate::controller::status::scanning(Some(&second), Some(2), &at(300));
        assert_eq!(
            scanning.condition(reason::REPORTS),
            second
                .condition(reason::REPORTS)
                .map(|c| {
                    let mut c = c.clone();
                    c.observed_generation = Some(2);
                    c
                })
                .as_ref()
        );
        assert_eq!(scanning.reports, second.reports);
    }
}
