//! Tenancy that cannot be stretched, end to end: the operator binary with a tenancy
//! file that grants a namespace one role with one external id, for Observe and DryRun
//! only. A profile using another external id, or Enforce, is refused with a message and
//! makes no AWS call (counted at the emulator); the same profile within its grant scans.

use std::time::Duration;

use apigw_compliance::crd::{ComplianceProfile, ConditionStatus};
use kube::api::Api;

use crate::support::cluster;
use crate::support::moto::new_account;
use crate::support::operator::{
    Operator, apply, client_with_crd, condition, profile_yaml, wait_for,
};
use crate::support::seed;

/// Long enough for a scan against moto on a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(90);
const ROLE_NOT_ALLOWED_ERRORS: &str =
    "apigw_compliance_reconcile_errors_total{class=\"terminal_error\",reason=\"RoleNotAllowed\"}";

fn profile(name: &str, role: &str, external_id: &str, mode: &str) -> String {
    profile_yaml(
        name,
        &format!(
            "  scope:\n    regions: [us-east-1]\n    roleArn: {role}\n    externalId: {external_id}\n  controls:\n    enabled: [APIGateway.3]\n  remediation:\n    mode: {mode}\n"
        ),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn another_external_id_or_enforce_without_the_grant_is_refused_without_any_aws_call() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "grants").await;
    let account = new_account().await;
    // A stage with X-Ray off: APIGateway.3 fails, so DryRun has a change to show.
    seed::rest_api_with_prod_and_dev(&account.sdk_config("us-east-1"), "orders").await;
    let plane = cluster::shared();
    let role = format!("arn:aws:iam::{}:role/apigw-audit", account.account_id);
    let tenancy = format!(
        "namespaces:\n  - namespace: {namespace}\n    roles:\n      - roleArn: {role}\n        externalId: team-x\n"
    );
    account.reset_call_counts().await;
    let operator = Operator::watching(&namespace, &account)
        .tenancy(tenancy)
        .start()
        .await;
    apply(
        plane,
        &namespace,
        &[
            profile("other-id", &role, "team-y", "Observe"),
            profile("enforce", &role, "team-x", "Enforce"),
        ]
        .concat(),
    );
    let api: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    let mut messages = Vec::new();
    for name in ["other-id", "enforce"] {
        let profile = wait_for(&api, name, &operator, WAIT, "Stalled", |_, s| {
            s.condition("Stalled").is_some()
        })
        .await;
        let status = profile.status.expect("status");
        assert_eq!(
            condition(&status, "Stalled"),
            Some((ConditionStatus::True, "RoleNotAllowed".into()))
        );
        assert_eq!(
            condition(&status, "Ready"),
            Some((ConditionStatus::False, "RoleNotAllowed".into()))
        );
        assert!(status.summary.is_none() && status.last_scan_time.is_none());
        messages.push(
            status
                .condition("Stalled")
                .expect("stalled")
                .message
                .clone(),
        );
    }
    let (other_id, enforce) = (&messages[0], &messages[1]);
    assert!(
        other_id.contains(&format!(
            "may not assume role {role} with external id \"team-y\""
        )) && other_id.contains("spec.scope.externalId"),
        "{other_id}"
    );
    assert!(
        !other_id.contains("team-x"),
        "the granted id is not shown: {other_id}"
    );
    assert!(
        enforce.contains(&format!("may not run Enforce with role {role}"))
            && enforce.contains("spec.remediation.mode")
            && enforce.contains("enforce: true"),
        "{enforce}"
    );
    // Every reconcile these profiles cause is over: for each, the one that stalled it
    // and the one its status write triggers. Whatever AWS call a wrong implementation
    // makes on the way has been made by then.
    let scrape = operator
        .wait_metrics(
            WAIT,
            "both stalls and the reconciles of their status writes counted",
            |m| m.value(ROLE_NOT_ALLOWED_ERRORS) >= 2.0 && m.reconciles() >= 4.0,
        )
        .await;
    assert_eq!(scrape.value(ROLE_NOT_ALLOWED_ERRORS), 2.0, "{scrape}");
    let calls = account.call_counts().await;
    assert_eq!(calls.total, 0, "AWS was called: {calls:?}");

    // Within the grant (DryRun, the granted external id) the same profile scans and
    // shows its changes, changing nothing.
    apply(
        plane,
        &namespace,
        &profile("enforce", &role, "team-x", "DryRun"),
    );
    let profile = wait_for(&api, "enforce", &operator, WAIT, "a DryRun scan", |_, s| {
        s.last_scan_time.is_some() && s.condition("Remediated").is_some()
    })
    .await;
    let status = profile.status.expect("status");
    assert_eq!(status.account.as_deref(), Some(account.account_id.as_str()));
    assert_eq!(
        condition(&status, "Remediated"),
        Some((ConditionStatus::False, "ChangesPlanned".into()))
    );
    let calls = account.call_counts().await;
    assert_eq!(calls.get("sts:AssumeRole"), 1, "{calls:?}");
    assert_eq!(calls.get("apigateway:UpdateStage"), 0, "{calls:?}");
}
