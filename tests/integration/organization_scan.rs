//! One profile over an AWS organization, end to end against moto (Organizations, STS
//! and each member account's own API Gateway data) and, for the operator, the local
//! kube-apiserver: the organization has five member accounts in nested OUs, the profile
//! selects four by OU, one of those refuses its member role. Each reachable account gets
//! its own verdicts, the refused one is an error of its own, accounts that join or
//! close are picked up at the next scan, and Enforce writes in each member account, and
//! the Security Hub export imports into it, with that account's role.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use apigw_compliance::crd::{ComplianceProfile, ComplianceProfileStatus, ConditionStatus};
use kube::api::Api;
use serde_json::Value;

use crate::support::cluster;
use crate::support::moto::{DEFAULT_REGION, MotoAccount};
use crate::support::operator::{
    BIN, Operator, apply, client_with_crd, condition, profile_yaml, request_scan, wait_for,
};
use crate::support::organization::{ROOT, TestOrganization};
use crate::support::seed;

const WAIT: Duration = Duration::from_secs(120);
const MEMBER_ROLE: &str = "apigw-compliance-audit";

/// Five member accounts: one at the root, two in `prod`, one in `prod-eu` (under
/// `prod`), one in `sandbox`; each with one REST stage `orders-<n>/prod` failing
/// APIGateway.3 (X-Ray off), except the `prod-eu` account's, which passes it.
async fn organization() -> TestOrganization {
    let org = TestOrganization::create(
        1,
        &[
            ("prod", ROOT, 2),
            ("prod-eu", "prod", 1),
            ("sandbox", ROOT, 1),
        ],
    )
    .await;
    let passing = org.accounts_in("prod-eu")[0].clone();
    for (n, id) in org.member_ids().iter().enumerate() {
        seed_stage(&org, id, n, *id == passing).await;
    }
    org
}

async fn seed_stage(org: &TestOrganization, account: &str, n: usize, traced: bool) {
    let sdk = org.member(account).await.sdk_config(DEFAULT_REGION);
    let (api, deployment) = seed::rest_api(&sdk, &format!("orders-{n}")).await;
    let patches: &[(&str, &str)] = if traced {
        &[("/tracingEnabled", "true")]
    } else {
        &[]
    };
    seed::rest_stage(&sdk, &api, &deployment, "prod", patches).await;
}

/// The profile's scope: the `prod` and `sandbox` OUs (four accounts, `prod-eu` through
/// `prod`), as the organization's management account lists them.
fn organization_scope(org: &TestOrganization) -> String {
    format!(
        "  scope:\n    regions: [{DEFAULT_REGION}]\n    organization:\n      roleName: {MEMBER_ROLE}\n      organizationalUnits: [{}, {}]\n  controls: {{enabled: [APIGateway.3]}}\n",
        org.unit("prod"),
        org.unit("sandbox")
    )
}

/// (accountId, status) of each finding of a `scan --output json` report.
fn verdicts_by_account(report: &Value) -> BTreeMap<String, Vec<String>> {
    let mut by_account: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for finding in report["findings"].as_array().expect("findings") {
        by_account
            .entry(
                finding["accountId"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string(),
            )
            .or_default()
            .push(finding["status"].as_str().unwrap_or_default().to_string());
    }
    by_account
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scan_of_an_organization_gives_each_selected_account_its_verdicts_and_a_refused_one_its_own_error()
 {
    let org = organization().await;
    let sandbox = org.accounts_in("sandbox")[0].clone();
    let passing = org.accounts_in("prod-eu")[0].clone();
    let prod = org.accounts_in("prod").to_vec();
    org.deny_assume(&sandbox).await;

    let dir = std::env::temp_dir().join(format!("apigw-org-scan-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let profile = dir.join("profile.yaml");
    std::fs::write(&profile, profile_yaml("org", &organization_scope(&org))).expect("profile");
    org.management.reset_call_counts().await;
    let output = std::process::Command::new(BIN)
        .args(["scan", "--output", "json", "--profile"])
        .arg(&profile)
        .env_clear()
        .envs(org.management.env(DEFAULT_REGION))
        .output()
        .expect("run apigw-compliance scan");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });

    let expected: BTreeMap<String, Vec<String>> = [
        (prod[0].clone(), vec!["FAILED".to_string()]),
        (prod[1].clone(), vec!["FAILED".to_string()]),
        (passing.clone(), vec!["PASSED".to_string()]),
    ]
    .into_iter()
    .collect();
    assert_eq!(verdicts_by_account(&report), expected, "{report:#}");
    let errors = report["errors"].as_array().expect("errors");
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert_eq!(errors[0]["accountId"], sandbox.as_str());
    assert_eq!(errors[0]["operation"], "AssumeRole");
    assert_eq!(errors[0]["kind"], "accessDenied");
    // No --fail-on gate: the scan that could not read one account is incomplete (3).
    assert_eq!(output.status.code(), Some(3), "{report:#}");
    // Listing the OUs and one AssumeRole per selected account, nothing per account left
    // out: the root account and the management account are never assumed.
    let calls = org.management.call_counts().await;
    assert_eq!(calls.get("sts:AssumeRole"), 4, "{calls:?}");
    assert!(
        calls.get("organizations:ListAccountsForParent") >= 3,
        "{calls:?}"
    );
}

/// Whether the status is of a finished scan of the current generation that lists
/// exactly `accounts`.
fn scanned_accounts(
    profile: &ComplianceProfile,
    status: &ComplianceProfileStatus,
    accounts: &BTreeSet<String>,
) -> bool {
    status.observed_generation == profile.metadata.generation
        && status.last_scan_time.is_some()
        && status
            .accounts
            .iter()
            .map(|a| a.account_id.clone())
            .collect::<BTreeSet<_>>()
            == *accounts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operator_scans_an_organization_per_account_and_follows_accounts_joining_and_closing() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "org").await;
    let mut org = organization().await;
    let sandbox = org.accounts_in("sandbox")[0].clone();
    let passing = org.accounts_in("prod-eu")[0].clone();
    let prod = org.accounts_in("prod").to_vec();
    org.deny_assume(&sandbox).await;
    // Call counts are kept per account; reset with the management account's
    // credentials naming each member (the refused one cannot be assumed any more).
    let counted = |account: &str| MotoAccount {
        account_id: account.to_string(),
        ..org.management.clone()
    };
    for account in org.member_ids() {
        counted(&account).reset_call_counts().await;
    }
    let tenancy = format!(
        "namespaces:\n  - namespace: {namespace}\n    operatorIdentity: {{}}\n    organizations:\n      - memberRoleName: {MEMBER_ROLE}\n        enforce: true\n"
    );
    apply(
        cluster::shared(),
        &namespace,
        &profile_yaml(
            "org",
            &format!(
                "{}  remediation:\n    mode: Enforce\n  export: {{securityHub: {{enabled: true}}}}\n  interval: 1h\n",
                organization_scope(&org)
            ),
        ),
    );
    let operator = Operator::watching(&namespace, &org.management)
        .tenancy(tenancy)
        .start()
        .await;
    let profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);

    let selected: BTreeSet<String> = [&prod[0], &prod[1], &passing, &sandbox]
        .into_iter()
        .cloned()
        .collect();
    let status = wait_for(
        &profiles,
        "org",
        &operator,
        WAIT,
        "the organization scanned",
        |p, s| {
            scanned_accounts(p, s, &selected)
                && s.remediation.as_ref().is_some_and(|r| r.last_run.is_some())
                && condition(s, "SecurityHubExport")
                    == Some((ConditionStatus::True, "Exported".to_string()))
        },
    )
    .await
    .status
    .expect("status");
    let counts: BTreeMap<&str, (u32, u32, u32)> = status
        .accounts
        .iter()
        .map(|a| (a.account_id.as_str(), (a.passed, a.failed, a.errors)))
        .collect();
    assert_eq!(counts[sandbox.as_str()], (0, 0, 1), "{status:#?}");
    assert_eq!(counts[passing.as_str()], (1, 0, 0), "{status:#?}");
    assert_eq!(counts[prod[0].as_str()], (0, 1, 0), "{status:#?}");
    assert_eq!(counts[prod[1].as_str()], (0, 1, 0), "{status:#?}");
    // The refused account comes first, with what to fix.
    assert_eq!(status.accounts[0].account_id, sandbox);
    let message = status.accounts[0].message.as_deref().unwrap_or_default();
    assert!(
        message.contains("AssumeRole") || message.contains("assume role"),
        "{message}"
    );
    assert!(status.account.is_none(), "{status:#?}");
    // Enforce fixed each failing stage in its own account, with that account's role.
    let applied = status
        .remediation
        .as_ref()
        .and_then(|r| r.last_run.as_ref())
        .map(|s| s.applied);
    assert_eq!(applied, Some(2), "{status:#?}");
    for account in &prod {
        let calls = org.member(account).await.call_counts().await;
        assert_eq!(
            calls.get("apigateway:UpdateStage"),
            1,
            "{account}: {calls:?}"
        );
    }
    let calls = org.member(&passing).await.call_counts().await;
    assert_eq!(
        calls.get("apigateway:UpdateStage"),
        0,
        "{passing}: {calls:?}"
    );
    // Each reachable account's findings went to its own Security Hub, with its role.
    for account in [&prod[0], &prod[1], &passing] {
        let member = org.member(account).await;
        let imported = aws_sdk_securityhub::Client::new(&member.sdk_config(DEFAULT_REGION))
            .get_findings()
            .send()
            .await
            .expect("GetFindings");
        let accounts: Vec<&str> = imported
            .findings()
            .iter()
            .map(|f| f.aws_account_id().unwrap_or_default())
            .collect();
        assert_eq!(accounts, [account.as_str()], "{account}");
        let calls = member.call_counts().await;
        assert_eq!(
            calls.get("securityhub:BatchImportFindings"),
            1,
            "{account}: {calls:?}"
        );
    }
    let calls = org.management.call_counts().await;
    assert_eq!(calls.get("securityhub:BatchImportFindings"), 0, "{calls:?}");
    // The refused account saw no call at all.
    let calls = counted(&sandbox).call_counts().await;
    assert_eq!(calls.total, 0, "{sandbox}: {calls:?}");

    // An account joins `prod`, one of `prod` closes: the next scan follows.
    let joined = org.add_account("prod").await;
    seed_stage(&org, &joined, 9, false).await;
    org.member(&joined).await.reset_call_counts().await;
    org.close_account(&prod[1]).await;
    request_scan(&namespace, "org", "after-change");
    let now_selected: BTreeSet<String> = [&prod[0], &passing, &sandbox, &joined]
        .into_iter()
        .cloned()
        .collect();
    let status = wait_for(
        &profiles,
        "org",
        &operator,
        WAIT,
        "the joined account scanned",
        |p, s| {
            s.requested_scan_at.as_deref() == Some("after-change")
                && scanned_accounts(p, s, &now_selected)
        },
    )
    .await
    .status
    .expect("status");
    let joined_counts = status
        .accounts
        .iter()
        .find(|a| a.account_id == joined)
        .map(|a| (a.passed, a.failed, a.errors));
    // Enforce fixed the new account's stage in the same scan; its finding stays FAILED
    // until the next read sees the fix.
    assert_eq!(joined_counts, Some((0, 1, 0)), "{status:#?}");
    let calls = org.member(&joined).await.call_counts().await;
    assert_eq!(calls.get("apigateway:UpdateStage"), 1, "{calls:?}");
}
