use super::*;
use crate::controls::{execution_logging, waf_acl, xray_tracing};
use crate::model::{ControlId, ResourceType, Severity};

fn now() -> Timestamp {
    "2026-03-01T12:00:00Z".parse().expect("a timestamp")
}

fn finding(control: ControlId, stage: usize, status: Status) -> Finding {
    Finding {
        control_id: control,
        resource_type: ResourceType::RestStage,
        resource_arn: format!("arn:aws:apigateway:us-east-1::/restapis/api{stage}/stages/prod"),
        resource_name: format!("orders-{stage}/prod"),
        account_id: "111122223333".into(),
        region: "us-east-1".into(),
        status,
        severity: Severity::Medium,
        reason: format!("execution logging is OFF on stage {stage}"),
        exempted: false,
    }
}

fn profile<'a>(exemptions: &'a [Exemption]) -> ProfileRef<'a> {
    ProfileRef {
        name: "orders",
        namespace: "team-a",
        uid: "0b1c2d3e-0000-4000-8000-000000000001",
        semantics: Semantics::Strict,
        exemptions,
        account: Some("999988887777"),
    }
}

fn one_part(findings: &[Finding], exemptions: &[Exemption]) -> serde_json::Value {
    let set = build(
        ReportApi::OpenReports,
        &profile(exemptions),
        findings,
        now(),
        0,
        PART_BUDGET_BYTES,
    );
    assert_eq!(set.parts.len(), 1);
    serde_json::to_value(set.object(&set.parts[0], true)).expect("serialises")
}

/// Many stages, two controls each: `stages * 2` findings.
fn estate(stages: usize) -> Vec<Finding> {
    (0..stages)
        .flat_map(|stage| {
            let status = if stage % 3 == 0 {
                Status::Failed
            } else {
                Status::Passed
            };
            [
                finding(execution_logging::ID, stage, status),
                finding(xray_tracing::ID, stage, Status::Passed),
            ]
        })
        .collect()
}

fn bytes(set: &ReportSet<'_>, part: &Part<'_>) -> Vec<u8> {
    serde_json::to_vec(&set.object(part, true)).expect("serialises")
}

#[test]
fn a_report_is_scoped_to_its_profile_which_owns_it() {
    let report = one_part(&[finding(execution_logging::ID, 1, Status::Failed)], &[]);
    assert_eq!(report["apiVersion"], "openreports.io/v1alpha1");
    assert_eq!(report["kind"], "Report");
    assert_eq!(report["source"], "apigw-compliance");
    let metadata = &report["metadata"];
    assert_eq!(metadata["name"], "apigw-orders-0");
    assert_eq!(metadata["namespace"], "team-a");
    assert_eq!(
        metadata["labels"],
        serde_json::json!({
            "app.kubernetes.io/managed-by": "apigw-compliance",
            "apigwcompliance.io/profile": "orders",
            "apigwcompliance.io/part": "0"
        })
    );
    assert_eq!(
        metadata["ownerReferences"],
        serde_json::json!([{
            "apiVersion": "apigwcompliance.io/v1alpha1",
            "kind": "ComplianceProfile",
            "name": "orders",
            "uid": "0b1c2d3e-0000-4000-8000-000000000001",
            "controller": true,
            "blockOwnerDeletion": true
        }])
    );
    assert_eq!(
        report["scope"],
        serde_json::json!({
            "apiVersion": "apigwcompliance.io/v1alpha1",
            "kind": "ComplianceProfile",
            "name": "orders",
            "namespace": "team-a",
            "uid": "0b1c2d3e-0000-4000-8000-000000000001"
        })
    );
    assert!(
        metadata["annotations"][CONTENT_HASH_ANNOTATION]
            .as_str()
            .is_some_and(|h| h.len() == 16)
    );
}

#[test]
fn a_failed_finding_becomes_a_fail_result_led_by_the_resource_name() {
    let report = one_part(&[finding(execution_logging::ID, 1, Status::Failed)], &[]);
    assert_eq!(
        report["results"][0],
        serde_json::json!({
            "source": "apigw-compliance",
            "policy": "APIGateway.1",
            "rule": "AWS::ApiGateway::Stage",
            "category": execution_logging::META.category,
            "severity": "medium",
            "result": "fail",
            "message": "orders-1/prod: execution logging is OFF on stage 1",
            "properties": {
                "resourceName": "orders-1/prod",
                "resourceArn": "arn:aws:apigateway:us-east-1::/restapis/api1/stages/prod",
                "region": "us-east-1",
                "account": "111122223333",
                "semantics": "Strict"
            }
        })
    );
}

#[test]
fn each_verdict_maps_to_its_result_and_severities_are_lowercase() {
    let mut high = finding(waf_acl::ID, 1, Status::Error);
    high.severity = Severity::High;
    let findings = [
        finding(execution_logging::ID, 1, Status::Passed),
        finding(xray_tracing::ID, 1, Status::NotApplicable),
        high,
    ];
    let report = one_part(&findings, &[]);
    let by_policy = |policy: &str| {
        report["results"]
            .as_array()
            .expect("results")
            .iter()
            .find(|r| r["policy"] == policy)
            .cloned()
            .expect("a result of the control")
    };
    assert_eq!(by_policy("APIGateway.1")["result"], "pass");
    assert_eq!(by_policy("APIGateway.3")["result"], "skip");
    assert_eq!(by_policy("APIGateway.4")["result"], "error");
    assert_eq!(by_policy("APIGateway.4")["severity"], "high");
    assert_eq!(
        report["summary"],
        serde_json::json!({"pass": 1, "fail": 0, "warn": 0, "error": 1, "skip": 1})
    );
}

#[test]
fn an_exempted_finding_is_a_skip_with_its_verdict_and_exemption() {
    let exemptions = [
        Exemption {
            control: xray_tracing::ID,
            resource_arn_glob: "arn:aws:apigateway:us-east-1::/restapis/*/stages/prod".into(),
            reason: "expired exemptions never name a finding".into(),
            expires: Some("2020-01-01T00:00:00Z".into()),
        },
        Exemption {
            control: execution_logging::ID,
            resource_arn_glob: "arn:aws:apigateway:us-east-1::/restapis/*/stages/prod".into(),
            reason: "legacy stage, logging through the proxy".into(),
            expires: Some("2027-01-01T00:00:00Z".into()),
        },
    ];
    let mut exempted = finding(execution_logging::ID, 1, Status::Failed);
    exempted.exempted = true;
    let report = one_part(&[exempted], &exemptions);
    let result = &report["results"][0];
    assert_eq!(result["result"], "skip");
    assert_eq!(result["properties"]["verdict"], "FAILED");
    assert_eq!(
        result["properties"]["exemption"],
        "legacy stage, logging through the proxy"
    );
    assert_eq!(
        result["properties"]["exemptionResourceArnGlob"],
        "arn:aws:apigateway:us-east-1::/restapis/*/stages/prod"
    );
    assert_eq!(
        result["properties"]["exemptionExpires"],
        "2027-01-01T00:00:00Z"
    );
    assert_eq!(report["summary"]["skip"], 1);
    assert_eq!(report["summary"]["fail"], 0);
}

#[test]
fn a_finding_without_account_or_name_takes_the_scanned_account_and_the_bare_reason() {
    let mut bare = finding(execution_logging::ID, 1, Status::Failed);
    bare.account_id.clear();
    bare.resource_name.clear();
    let report = one_part(&[bare], &[]);
    let result = &report["results"][0];
    assert_eq!(result["properties"]["account"], "999988887777");
    assert_eq!(result["message"], "execution logging is OFF on stage 1");
    assert!(result["properties"].get("resourceName").is_none());
}

#[test]
fn a_policy_report_has_the_same_results_and_no_report_level_source() {
    let findings = estate(20);
    let open = build(
        ReportApi::OpenReports,
        &profile(&[]),
        &findings,
        now(),
        0,
        PART_BUDGET_BYTES,
    );
    let wg = build(
        ReportApi::Wgpolicyk8s,
        &profile(&[]),
        &findings,
        now(),
        0,
        PART_BUDGET_BYTES,
    );
    let open = serde_json::to_value(open.object(&open.parts[0], true)).expect("serialises");
    let wg = serde_json::to_value(wg.object(&wg.parts[0], true)).expect("serialises");
    assert_eq!(wg["apiVersion"], "wgpolicyk8s.io/v1alpha2");
    assert_eq!(wg["kind"], "PolicyReport");
    assert!(wg.get("source").is_none());
    assert_eq!(open["results"], wg["results"]);
    assert_eq!(open["summary"], wg["summary"]);
    assert_eq!(open["scope"], wg["scope"]);
}

#[test]
fn results_are_sorted_by_name_then_arn_then_control_whatever_the_input_order() {
    let findings = estate(50);
    let mut reversed = findings.clone();
    reversed.reverse();
    let a = build(
        ReportApi::OpenReports,
        &profile(&[]),
        &findings,
        now(),
        0,
        PART_BUDGET_BYTES,
    );
    let b = build(
        ReportApi::OpenReports,
        &profile(&[]),
        &reversed,
        now(),
        0,
        PART_BUDGET_BYTES,
    );
    assert_eq!(bytes(&a, &a.parts[0]), bytes(&b, &b.parts[0]));
    let keys: Vec<_> = a.parts[0].results.iter().map(sort_key).collect();
    assert!(keys.windows(2).all(|w| w[0] < w[1]));
}

#[test]
fn the_summary_counts_every_result_once() {
    let findings = estate(3000);
    let set = build(
        ReportApi::OpenReports,
        &profile(&[]),
        &findings,
        now(),
        0,
        64 * 1024,
    );
    assert!(set.parts.len() > 1);
    let summary = set.summary();
    assert_eq!(summary.total() as usize, findings.len());
    assert_eq!(summary.fail, 1000);
    assert_eq!(summary.pass, 5000);
    for part in &set.parts {
        assert_eq!(part.summary.total() as usize, part.results.len());
    }
}

#[test]
fn twelve_thousand_stages_split_into_parts_that_each_fit_and_hold_every_finding_once() {
    let findings = estate(12_000);
    let mut set = build(
        ReportApi::OpenReports,
        &profile(&[]),
        &findings,
        now(),
        0,
        PART_BUDGET_BYTES,
    );
    let total: usize = findings.iter().map(|f| f.reason.len() + 300).sum();
    assert!(
        set.parts.len() >= total / PART_BUDGET_BYTES,
        "{} parts",
        set.parts.len()
    );
    let mut seen = std::collections::HashSet::new();
    for mut part in std::mem::take(&mut set.parts) {
        // Measured as written: stamped, annotated.
        part.stamp(now(), &[]);
        let size = bytes(&set, &part).len();
        assert!(
            size <= PART_BUDGET_BYTES,
            "part {} is {size} bytes",
            part.index
        );
        // Parts are filled, not a few results each.
        assert!(
            size > PART_BUDGET_BYTES / 4,
            "part {} is {size} bytes",
            part.index
        );
        for result in &part.results {
            assert!(seen.insert((result.policy, result.properties.resource_arn)));
        }
    }
    assert_eq!(seen.len(), findings.len());
}

#[test]
fn the_same_findings_give_byte_identical_parts() {
    let findings = estate(3000);
    let build_it = || {
        build(
            ReportApi::OpenReports,
            &profile(&[]),
            &findings,
            now(),
            0,
            64 * 1024,
        )
    };
    let (a, b) = (build_it(), build_it());
    assert_eq!(a.parts.len(), b.parts.len());
    for (x, y) in a.parts.iter().zip(&b.parts) {
        assert_eq!(x.content_hash, y.content_hash);
        assert_eq!(bytes(&a, x), bytes(&b, y));
    }
}

#[test]
fn one_changed_finding_changes_one_part_and_a_new_one_keeps_the_count() {
    let findings = estate(3000);
    let before = build(
        ReportApi::OpenReports,
        &profile(&[]),
        &findings,
        now(),
        0,
        64 * 1024,
    );
    let count = before.parts.len();
    assert!(count > 5, "{count} parts");

    let mut changed = findings.clone();
    changed[100].status = Status::Passed;
    changed[100].reason = "execution logging is INFO".into();
    let after = build(
        ReportApi::OpenReports,
        &profile(&[]),
        &changed,
        now(),
        count,
        64 * 1024,
    );
    let differing = |x: &ReportSet<'_>, y: &ReportSet<'_>| {
        x.parts
            .iter()
            .zip(&y.parts)
            .filter(|(a, b)| a.content_hash != b.content_hash)
            .count()
    };
    assert_eq!(after.parts.len(), count);
    assert_eq!(differing(&before, &after), 1);

    // A new stage (two findings): the count is kept, at most two parts change.
    let mut grown = findings.clone();
    grown.push(finding(execution_logging::ID, 99_999, Status::Failed));
    grown.push(finding(xray_tracing::ID, 99_999, Status::Passed));
    let after = build(
        ReportApi::OpenReports,
        &profile(&[]),
        &grown,
        now(),
        count,
        64 * 1024,
    );
    assert_eq!(after.parts.len(), count);
    assert!((1..=2).contains(&differing(&before, &after)));
}

#[test]
fn the_part_count_follows_the_estate_when_it_no_longer_fits_or_is_mostly_empty() {
    let findings = estate(3000);
    let first = build(
        ReportApi::OpenReports,
        &profile(&[]),
        &findings,
        now(),
        0,
        64 * 1024,
    );
    let count = first.parts.len();
    // Far too few parts for the estate: more are made.
    let regrown = build(
        ReportApi::OpenReports,
        &profile(&[]),
        &findings,
        now(),
        1,
        64 * 1024,
    );
    assert!(regrown.parts.len() >= count);
    // The estate shrank to a tenth: the count follows.
    let shrunk = build(
        ReportApi::OpenReports,
        &profile(&[]),
        &findings[..600],
        now(),
        count,
        64 * 1024,
    );
    assert!(shrunk.parts.len() < count / 2, "{}", shrunk.parts.len());
    // No findings at all: one empty report says the scan found nothing.
    let empty = build(
        ReportApi::OpenReports,
        &profile(&[]),
        &[],
        now(),
        count,
        64 * 1024,
    );
    assert_eq!(empty.parts.len(), 1);
    assert!(empty.parts[0].results.is_empty());
}

#[test]
fn times_are_kept_for_unchanged_results_and_new_for_changed_ones() {
    let findings = [
        finding(execution_logging::ID, 1, Status::Failed),
        finding(xray_tracing::ID, 1, Status::Passed),
    ];
    let set = build(
        ReportApi::OpenReports,
        &profile(&[]),
        &findings,
        now(),
        0,
        PART_BUDGET_BYTES,
    );
    let earlier = ResultTime {
        seconds: 1_700_000_000,
        nanos: 0,
    };
    let stored: Vec<StoredResult> = set.parts[0]
        .results
        .iter()
        .map(|r| StoredResult {
            policy: r.policy.to_string(),
            // The X-Ray result was a fail before.
            result: if r.policy == "APIGateway.3" {
                "fail".into()
            } else {
                r.result.as_str().into()
            },
            message: r.message.to_string(),
            timestamp: Some(earlier),
            properties: BTreeMap::from([(
                "resourceArn".to_string(),
                r.properties.resource_arn.to_string(),
            )]),
        })
        .collect();
    let mut parts = set.parts;
    parts[0].stamp(now(), &stored);
    let time = |policy: &str| {
        parts[0]
            .results
            .iter()
            .find(|r| r.policy == policy)
            .and_then(|r| r.timestamp)
    };
    assert_eq!(time("APIGateway.1"), Some(earlier));
    assert_eq!(time("APIGateway.3"), Some(ResultTime::at(now())));
}

#[test]
fn long_profile_names_are_cut_to_fit_names_and_labels_and_stay_distinct() {
    let long = "p".repeat(250);
    let other = format!("{}q", "p".repeat(249));
    let name = part_name(&long, 12);
    assert!(name.len() <= 253, "{}", name.len());
    assert!(name.starts_with("apigw-ppp") && name.ends_with("-12"));
    assert_ne!(name, part_name(&other, 12));
    let label = profile_label(&long);
    assert!(label.len() <= 63, "{}", label.len());
    assert_ne!(label, profile_label(&other));
    assert_eq!(selector("orders"), "apigwcompliance.io/profile=orders");
    assert_eq!(part_name("orders", 3), "apigw-orders-3");
}
