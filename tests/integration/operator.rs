//! The operator end to end: the CRD applied with kubectl to the real local
//! kube-apiserver, the operator binary (`apigw-compliance run`) as a subprocess, moto
//! as AWS. Each test works in its own namespace and moto account, with its own operator
//! watching only that namespace, so the tests run in parallel.

use std::process::Command;
use std::time::{Duration, Instant};

use apigw_compliance::crd::{ComplianceProfile, ConditionStatus};
use k8s_openapi::api::coordination::v1::Lease;
use kube::api::{Api, ListParams};

use crate::support::cluster::{self, ControlPlane};
use crate::support::moto::{MotoAccount, new_account};
use crate::support::operator::{
    CRD_NAME, Operator, Scrape, apply, client_with_crd, condition, crd_yaml, events,
    kubectl_stdout, private_plane_with_crd, profile_yaml, repo, touch, wait_for,
};
use crate::support::seed;
use aws_sdk_apigatewayv2::types::ProtocolType;

/// Long enough for a scan against moto on a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(90);
const REGION: &str = "us-east-1";

/// A REST API `orders` with a compliant `prod` stage (execution logging INFO, X-Ray)
/// and a non-compliant `dev` stage. Returns the API id.
async fn seed_orders(account: &MotoAccount) -> String {
    seed::rest_api_with_prod_and_dev(&account.sdk_config(REGION), "orders").await
}

const ROLE_NOT_ALLOWED_ERRORS: &str =
    "apigw_compliance_reconcile_errors_total{class=\"terminal_error\",reason=\"RoleNotAllowed\"}";
const INVALID_SPEC_ERRORS: &str =
    "apigw_compliance_reconcile_errors_total{class=\"terminal_error\",reason=\"InvalidSpec\"}";

/// Waits until the operator has reconciled profile `name`, the only profile it sees,
/// as its first scan's status writes left it, and returns the `/metrics` scrape that
/// shows it. Call it once that final status is visible.
///
/// A new generation's scan writes the status twice (`Reconciling` before the scan, the
/// result after); each write comes back as a watch event and a reconcile, but the two
/// events may be folded into one reconcile or not (a profile's reconciles run one at a
/// time, and an event arriving while one runs waits for it, merged with any other
/// waiting). So counts alone cannot tell when the result's own reconcile is over:
/// 1. at least one reconcile after the scan has finished: the scan plus one; every
///    reconcile that could have started before the result reached the operator's cache
///    (the scan's, and the one for the `Reconciling` write) is then over;
/// 2. an annotation change (the operator ignores annotations) makes one more reconcile,
///    of the profile exactly as the result left it;
/// 3. one more finished reconcile than at 1: it started after the result was cached.
async fn status_writes_reconciled(
    operator: &Operator,
    api: &Api<ComplianceProfile>,
    name: &str,
) -> Scrape {
    let before = operator
        .wait_metrics(WAIT, "a reconcile after the scan", |m| {
            m.reconciles() >= 2.0
        })
        .await;
    touch(api, name).await;
    operator
        .wait_metrics(WAIT, "a reconcile of the scanned profile", |m| {
            m.reconciles() > before.reconciles()
        })
        .await
}

const TWO_CONTROLS: &str =
    "  scope:\n    regions: [us-east-1]\n  controls:\n    enabled: [APIGateway.1, APIGateway.3]\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn crd_applies_cleanly_and_reads_well_in_kubectl() {
    let client = client_with_crd().await;
    let crd = cluster::wait_crd_established(&client, CRD_NAME).await;
    assert_eq!(crd.spec.names.short_names, Some(vec!["acp".to_string()]));
    assert_eq!(crd.spec.names.categories, Some(vec!["apigw".to_string()]));
    let namespace = cluster::test_namespace(&client, "crd").await;
    let plane = cluster::shared();
    apply(
        plane,
        &namespace,
        &std::fs::read_to_string(repo("examples/profile.yaml")).expect("example"),
    );
    apply(
        plane,
        &namespace,
        &std::fs::read_to_string(repo("examples/profile-team.yaml")).expect("example"),
    );
    // The short name and the category both list the profiles, with the printer columns.
    for resource in ["acp", "apigw"] {
        let out = plane.kubectl(["get", resource, "-n", &namespace]);
        let table = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let header = table.lines().next().unwrap_or_default();
        for column in ["COMPLIANT", "FAILED", "LAST SCAN", "AGE"] {
            assert!(
                header.contains(column),
                "{resource}: no {column} column in {table}"
            );
        }
        assert!(
            table.contains("all-stages") && table.contains("payments-prod"),
            "{table}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_class_of_bad_profile_is_refused_at_admission_naming_the_field() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "admission").await;
    let plane = cluster::shared();
    let mut checked = 0;
    for entry in std::fs::read_dir(repo("examples/invalid")).expect("examples/invalid") {
        let path = entry.expect("entry").path();
        let text = std::fs::read_to_string(&path).expect("example");
        let field = text
            .lines()
            .find_map(|l| l.strip_prefix("# admission: "))
            .unwrap_or_else(|| panic!("{} has no `# admission:` marker", path.display()))
            .trim()
            .to_string();
        let out = plane.kubectl_with_stdin(["apply", "-n", &namespace, "-f", "-"], &text);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{} was accepted", path.display());
        assert!(
            stderr.contains("is invalid") && stderr.contains(&field),
            "{}: the refusal does not name {field}: {stderr}",
            path.display()
        );
        checked += 1;
    }
    assert!(checked >= 8, "only {checked} bad profiles checked");
    let api: Api<ComplianceProfile> = Api::namespaced(client, &namespace);
    assert!(
        api.list(&ListParams::default())
            .await
            .expect("list")
            .items
            .is_empty(),
        "a bad profile was stored"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn valid_profile_reconciles_to_conditions_counts_and_events_then_follows_spec_changes() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "reconcile").await;
    let account = new_account().await;
    seed_orders(&account).await;
    let plane = cluster::shared();
    let operator = Operator::watching(&namespace, &account).start().await;
    apply(plane, &namespace, &profile_yaml("orders", TWO_CONTROLS));
    let api: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);

    let profile = wait_for(
        &api,
        "orders",
        &operator,
        WAIT,
        "a completed scan",
        |p, s| s.observed_generation == p.metadata.generation && s.last_scan_time.is_some(),
    )
    .await;
    let status = profile.status.expect("status");
    assert_eq!(
        condition(&status, "Ready"),
        Some((ConditionStatus::True, "ScanSucceeded".into()))
    );
    assert_eq!(
        condition(&status, "Compliant"),
        Some((ConditionStatus::False, "FindingsFailed".into()))
    );
    assert!(status.condition("Reconciling").is_none() && status.condition("Stalled").is_none());
    let summary = status.summary.clone().expect("summary");
    assert_eq!(
        (summary.evaluated, summary.passed, summary.failed),
        (4, 2, 2),
        "{summary:?}"
    );
    assert_eq!(status.failing_findings.len(), 2);
    assert!(
        status
            .failing_findings
            .iter()
            .all(|f| f.resource_arn.ends_with("/stages/dev"))
    );
    assert_eq!(status.controls.len(), 2);
    assert_eq!(status.account.as_deref(), Some(account.account_id.as_str()));
    assert_eq!(status.regions, vec![REGION.to_string()]);
    let first_scan = status.last_scan_time.clone();

    // kubectl shows the verdict at a glance.
    let out = plane.kubectl(["get", "acp", "orders", "-n", &namespace, "--no-headers"]);
    let row = String::from_utf8_lossy(&out.stdout);
    assert!(
        row.split_whitespace().nth(1) == Some("False")
            && row.split_whitespace().nth(2) == Some("2"),
        "{row}"
    );

    // A NonCompliant Event was recorded on the profile.
    let recorded = events(plane, &namespace);
    assert!(
        recorded
            .iter()
            .any(|e| e.starts_with("NonCompliant/Warning/")),
        "{recorded:#?}"
    );

    // Our own status writes do not make the operator scan again: one scan so far, also
    // once the operator has reconciled the profile as the final status write left it.
    let scrape = status_writes_reconciled(&operator, &api, "orders").await;
    assert_eq!(scrape.reconciles_with("scanned"), 1.0, "{scrape}");
    assert!(scrape.0.contains(&format!("apigw_compliance_findings{{namespace=\"{namespace}\",profile=\"orders\",control=\"APIGateway.3\",status=\"failed\"}} 1")), "{scrape}");

    // Changing the spec re-scans at once and bumps observedGeneration: prod only now.
    apply(
        plane,
        &namespace,
        &profile_yaml(
            "orders",
            "  scope:\n    regions: [us-east-1]\n    stages:\n      include: [prod]\n  controls:\n    enabled: [APIGateway.1, APIGateway.3]\n  interval: 20m\n",
        ),
    );
    let profile = wait_for(
        &api,
        "orders",
        &operator,
        WAIT,
        "the new generation scanned",
        |p, s| {
            p.metadata.generation == Some(2)
                && s.observed_generation == Some(2)
                && s.condition("Reconciling").is_none()
        },
    )
    .await;
    let status = profile.status.expect("status");
    assert_ne!(status.last_scan_time, first_scan);
    assert_eq!(
        condition(&status, "Compliant"),
        Some((ConditionStatus::True, "AllPassed".into()))
    );
    assert_eq!(
        status.summary.map(|s| (s.evaluated, s.failed)),
        Some((2, 0))
    );
    assert!(
        status
            .conditions
            .iter()
            .all(|c| c.observed_generation == Some(2))
    );
    let recorded = events(plane, &namespace);
    assert!(
        recorded.iter().any(|e| e.starts_with("Compliant/")),
        "{recorded:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stage_change_in_aws_is_detected_at_the_next_interval() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "interval").await;
    let account = new_account().await;
    let api_id = seed_orders(&account).await;
    let plane = cluster::shared();
    let operator = Operator::watching(&namespace, &account).start().await;
    apply(
        plane,
        &namespace,
        &profile_yaml("orders", &format!("{TWO_CONTROLS}  interval: 1m\n")),
    );
    let api: Api<ComplianceProfile> = Api::namespaced(client, &namespace);
    let first = wait_for(&api, "orders", &operator, WAIT, "the first scan", |_, s| {
        s.summary.as_ref().is_some_and(|x| x.failed == 2)
    })
    .await
    .status
    .and_then(|s| s.last_scan_time)
    .expect("scanned");

    // Fix the dev stage in AWS; nothing in the cluster changes.
    let sdk = account.sdk_config(REGION);
    aws_sdk_apigateway::Client::new(&sdk)
        .update_stage()
        .rest_api_id(&api_id)
        .stage_name("dev")
        .set_patch_operations(Some(
            seed::COMPLIANT_REST_PATCHES
                .iter()
                .map(|(path, value)| {
                    aws_sdk_apigateway::types::PatchOperation::builder()
                        .op(aws_sdk_apigateway::types::Op::Replace)
                        .path(*path)
                        .value(*value)
                        .build()
                })
                .collect(),
        ))
        .send()
        .await
        .expect("UpdateStage");

    let profile = wait_for(
        &api,
        "orders",
        &operator,
        WAIT,
        "the next interval's scan",
        |_, s| {
            s.last_scan_time.as_ref() != Some(&first)
                && s.summary.as_ref().is_some_and(|x| x.failed == 0)
        },
    )
    .await;
    let status = profile.status.expect("status");
    let elapsed = status
        .last_scan_time
        .as_ref()
        .expect("scanned")
        .0
        .duration_since(first.0);
    assert!(
        elapsed.as_secs() >= 59,
        "re-scanned after {elapsed:?}, before the 1m interval"
    );
    assert_eq!(
        condition(&status, "Compliant"),
        Some((ConditionStatus::True, "AllPassed".into()))
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_naming_a_role_its_namespace_may_not_use_stalls_without_any_aws_call() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "tenancy").await;
    let account = new_account().await;
    seed_orders(&account).await;
    let plane = cluster::shared();
    let allowed = format!("arn:aws:iam::{}:role/apigw-audit", account.account_id);
    let forbidden = format!("arn:aws:iam::{}:role/admin", account.account_id);
    let tenancy = format!(
        "namespaces:\n  - namespace: {namespace}\n    roles:\n      - roleArn: {allowed}\n        externalId: team-x\n"
    );
    account.reset_call_counts().await;
    let operator = Operator::watching(&namespace, &account)
        .tenancy(tenancy)
        .start()
        .await;
    apply(
        plane,
        &namespace,
        &profile_yaml(
            "forbidden",
            &format!(
                "  scope:\n    regions: [us-east-1]\n    roleArn: {forbidden}\n    externalId: team-x\n"
            ),
        ),
    );
    apply(
        plane,
        &namespace,
        &profile_yaml("own-identity", "  scope:\n    regions: [us-east-1]\n"),
    );
    let api: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    for name in ["forbidden", "own-identity"] {
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
        assert!(status.summary.is_none() && status.next_scan_time.is_none());
        let message = &status.condition("Stalled").expect("stalled").message;
        assert!(message.contains(&namespace), "{message}");
    }
    // Every reconcile these two profiles cause is over: for each, the one that stalled it
    // and the one that its status write triggers (nothing more is due). Whatever AWS
    // call a wrong implementation makes on the way has been made by then.
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

    // The allowed role is assumed (with its external id) and scanned in its account.
    apply(
        plane,
        &namespace,
        &profile_yaml(
            "allowed",
            &format!(
                "  scope:\n    regions: [us-east-1]\n    roleArn: {allowed}\n    externalId: team-x\n  controls:\n    enabled: [APIGateway.3]\n"
            ),
        ),
    );
    let profile = wait_for(
        &api,
        "allowed",
        &operator,
        WAIT,
        "a scan as the allowed role",
        |_, s| s.last_scan_time.is_some(),
    )
    .await;
    let status = profile.status.expect("status");
    assert_eq!(status.account.as_deref(), Some(account.account_id.as_str()));
    assert_eq!(
        status.summary.map(|s| (s.evaluated, s.failed)),
        Some((2, 1))
    );
    assert_eq!(account.call_counts().await.get("sts:AssumeRole"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_that_reads_nothing_keeps_the_last_findings_marked_stale() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "stale").await;
    let account = new_account().await;
    seed_orders(&account).await;
    let plane = cluster::shared();
    let operator = Operator::watching(&namespace, &account).start().await;
    apply(plane, &namespace, &profile_yaml("orders", TWO_CONTROLS));
    let api: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    wait_for(&api, "orders", &operator, WAIT, "a scan", |_, s| {
        s.last_scan_time.is_some()
    })
    .await;
    let failed = |m: &Scrape| {
        m.0.lines()
            .filter(|l| {
                l.starts_with("apigw_compliance_findings{")
                    && l.contains("profile=\"orders\"")
                    && l.contains("status=\"failed\"")
            })
            .count()
    };
    let before = operator
        .wait_metrics(WAIT, "the findings and a complete scan", |m| {
            failed(m) > 0
                && m.value(&format!("apigw_compliance_last_complete_scan_timestamp_seconds{{namespace=\"{namespace}\",profile=\"orders\"}}")) > 0.0
        })
        .await;

    // Every list call of the region is denied: the next scan reads nothing.
    account.deny("apigateway:GetRestApis", None, None).await;
    account.deny("apigatewayv2:GetApis", None, None).await;
    kubectl_stdout(
        plane,
        &[
            "annotate",
            "acp",
            "orders",
            "-n",
            &namespace,
            "apigwcompliance.io/requested-scan-at=outage",
            "--overwrite",
        ],
        None,
    );
    wait_for(
        &api,
        "orders",
        &operator,
        WAIT,
        "the failed scan",
        |_, s| condition(s, "Ready") == Some((ConditionStatus::False, "ScanFailed".into())),
    )
    .await;
    let after = operator
        .wait_metrics(WAIT, "the stale marker", |m| {
            m.value(&format!(
                "apigw_compliance_findings_stale{{namespace=\"{namespace}\",profile=\"orders\"}}"
            )) == 1.0
        })
        .await;
    // The failing findings (what a non-compliance alert fires on) are still there, and
    // the last complete scan is the one before the outage.
    assert_eq!(failed(&after), failed(&before), "{}", after.0);
    let last = |m: &Scrape| {
        m.value(&format!("apigw_compliance_last_complete_scan_timestamp_seconds{{namespace=\"{namespace}\",profile=\"orders\"}}"))
    };
    assert_eq!(last(&after), last(&before));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deleting_a_profile_leaves_nothing_behind() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "delete").await;
    let account = new_account().await;
    seed_orders(&account).await;
    let plane = cluster::shared();
    let operator = Operator::watching(&namespace, &account).start().await;
    apply(plane, &namespace, &profile_yaml("doomed", TWO_CONTROLS));
    let api: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    let profile = wait_for(&api, "doomed", &operator, WAIT, "a scan", |_, s| {
        s.last_scan_time.is_some()
    })
    .await;
    assert!(
        profile.metadata.finalizers.is_none(),
        "a finalizer would block deletion when the operator is gone"
    );
    let series = "profile=\"doomed\"".to_string();
    assert!(operator.metrics().contains(&series));

    let out = plane.kubectl([
        "delete",
        "acp",
        "doomed",
        "-n",
        &namespace,
        "--wait=true",
        "--timeout=30s",
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(api.get_opt("doomed").await.expect("get").is_none());

    // The operator created nothing else in the namespace (Events aside, which expire).
    for kind in [
        "configmaps",
        "secrets",
        "leases.coordination.k8s.io",
        "complianceprofiles",
    ] {
        let out = plane.kubectl(["get", kind, "-n", &namespace, "-o", "name"]);
        assert!(
            String::from_utf8_lossy(&out.stdout).trim().is_empty(),
            "{kind} left: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
    // Its metric series go with it at once, though no other profile is left.
    let deadline = Instant::now() + Duration::from_secs(10);
    while operator.metrics().contains(&series) && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert!(
        !operator.metrics().contains(&series),
        "{}",
        operator.metrics()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_do_not_both_reconcile_and_the_standby_takes_over() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "leader").await;
    let account = new_account().await;
    seed_orders(&account).await;
    let plane = cluster::shared();
    let replica = |identity: &str| {
        Operator::watching(&namespace, &account)
            .args([
                "--leader-election",
                "--lease-name",
                "apigw-compliance-test",
                "--lease-namespace",
                namespace.as_str(),
                "--lease-duration-seconds",
                "10",
                "--identity",
                identity,
            ])
            .start()
    };
    let mut a = replica("replica-a").await;
    // Let A take the lease first, so the roles are known.
    let leases: Api<Lease> = Api::namespaced(client.clone(), &namespace);
    let deadline = Instant::now() + WAIT;
    loop {
        let holder = leases
            .get_opt("apigw-compliance-test")
            .await
            .ok()
            .flatten()
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity);
        if holder.as_deref() == Some("replica-a") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "replica-a never took the lease; log:\n{}",
            a.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let b = replica("replica-b").await;
    apply(plane, &namespace, &profile_yaml("orders", TWO_CONTROLS));
    let api: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    wait_for(&api, "orders", &a, WAIT, "a scan", |_, s| {
        s.last_scan_time.is_some()
    })
    .await;
    // B is up (it serves /readyz) and has found the lease taken, so stands by: it has
    // reconciled nothing.
    b.wait_ready(Duration::from_secs(30)).await;
    b.wait_log(WAIT, "replica-b standing by", |log| {
        log.contains("another replica leads; standing by")
    })
    .await;
    assert_eq!(a.metric("apigw_compliance_leader"), 1.0);
    assert_eq!(b.metric("apigw_compliance_leader"), 0.0);
    assert_eq!(
        b.metric("apigw_compliance_reconciles_total{outcome=\"scanned\"}"),
        0.0,
        "{}",
        b.metrics()
    );

    // A stops (SIGTERM: graceful, releases the lease); B takes over and reconciles the
    // next change.
    a.terminate();
    assert!(
        a.wait_exit(Duration::from_secs(30)),
        "replica-a did not exit cleanly; log:\n{}",
        a.log()
    );
    apply(
        plane,
        &namespace,
        &profile_yaml(
            "orders",
            "  scope:\n    regions: [us-east-1]\n  controls:\n    enabled: [APIGateway.3]\n",
        ),
    );
    wait_for(
        &api,
        "orders",
        &b,
        WAIT,
        "the change reconciled by replica-b",
        |_, s| {
            s.observed_generation == Some(2)
                && s.last_scan_time.is_some()
                && s.condition("Reconciling").is_none()
        },
    )
    .await;
    assert_eq!(b.metric("apigw_compliance_leader"), 1.0);
    assert!(b.metric("apigw_compliance_reconciles_total{outcome=\"scanned\"}") >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_api_server_restart_in_the_middle_is_survived() {
    // A control plane of its own: restarting the shared one would disturb other tests.
    let plane = tokio::task::spawn_blocking(|| ControlPlane::start("operator-restart"))
        .await
        .expect("join")
        .unwrap_or_else(|e| panic!("cannot start a control plane: {e}"));
    let client = plane.client().await;
    let out = plane.kubectl_with_stdin(["apply", "-f", "-"], &crd_yaml());
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    cluster::wait_crd_established(&client, CRD_NAME).await;
    let namespace = cluster::test_namespace(&client, "restart").await;
    let account = new_account().await;
    seed_orders(&account).await;
    let operator = Operator::watching(&namespace, &account)
        .kubeconfig(plane.kubeconfig_path())
        .start()
        .await;
    apply(&plane, &namespace, &profile_yaml("orders", TWO_CONTROLS));
    let api: Api<ComplianceProfile> = Api::namespaced(client, &namespace);
    wait_for(&api, "orders", &operator, WAIT, "a scan", |_, s| {
        s.last_scan_time.is_some()
    })
    .await;

    // Restart the API server (same etcd): the operator's watch breaks and must recover.
    let plane = tokio::task::spawn_blocking(move || {
        plane.restart_apiserver();
        plane
    })
    .await
    .expect("restart");
    let api: Api<ComplianceProfile> = Api::namespaced(plane.client().await, &namespace);
    apply(
        &plane,
        &namespace,
        &profile_yaml(
            "orders",
            "  scope:\n    regions: [us-east-1]\n  controls:\n    enabled: [APIGateway.3]\n",
        ),
    );
    let profile = wait_for(
        &api,
        "orders",
        &operator,
        WAIT,
        "the post-restart change reconciled",
        |_, s| {
            s.observed_generation == Some(2)
                && s.condition("Reconciling").is_none()
                && s.last_scan_time.is_some()
        },
    )
    .await;
    assert_eq!(
        profile
            .status
            .and_then(|s| s.summary)
            .map(|s| (s.evaluated, s.failed)),
        Some((2, 1))
    );
    drop(operator);
    drop(plane);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_glob_the_api_server_cannot_check_stalls_the_profile_naming_the_field() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "invalid-glob").await;
    let account = new_account().await;
    let plane = cluster::shared();
    account.reset_call_counts().await;
    let operator = Operator::watching(&namespace, &account).start().await;
    // Admission accepts it (CEL cannot parse globs); the operator refuses it.
    apply(
        plane,
        &namespace,
        &profile_yaml(
            "bad-glob",
            "  scope:\n    regions: [us-east-1]\n    stages:\n      include: [\"[prod\"]\n",
        ),
    );
    let api: Api<ComplianceProfile> = Api::namespaced(client, &namespace);
    let profile = wait_for(&api, "bad-glob", &operator, WAIT, "Stalled", |_, s| {
        s.condition("Stalled").is_some()
    })
    .await;
    let status = profile.status.expect("status");
    let stalled = status.condition("Stalled").expect("stalled");
    assert_eq!(stalled.reason, "InvalidSpec");
    assert!(
        stalled.message.starts_with("spec.scope.stages.include[0]:"),
        "{}",
        stalled.message
    );
    // Found once: the status write coming back is not counted as another error. The
    // stall is one reconcile and the echo of its status write one more; once both are
    // counted, nothing else is due.
    let scrape = operator
        .wait_metrics(
            WAIT,
            "the stall and the reconcile of its status write counted",
            |m| m.reconciles() >= 2.0,
        )
        .await;
    assert_eq!(scrape.value(INVALID_SPEC_ERRORS), 1.0, "{scrape}");
    assert_eq!(scrape.reconciles_with("skipped"), 1.0, "{scrape}");
    assert_eq!(account.call_counts().await.total, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_without_a_control_list_reports_every_security_hub_control() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "defaults").await;
    let account = new_account().await;
    seed_orders(&account).await;
    let sdk = account.sdk_config(REGION);
    let http = seed::v2_api(&sdk, "orders-http", ProtocolType::Http).await;
    seed::v2_route(&sdk, &http, "GET /orders", None).await;
    seed::v2_stage(&sdk, &http, "prod", seed::V2StageSpec::default()).await;
    let no_tls = seed::v2_integration(&sdk, &http, true, None).await;
    seed::domain_name(&sdk, "api.example.com", "REGIONAL", "TLS_1_2").await;
    let plane = cluster::shared();
    let operator = Operator::watching(&namespace, &account).start().await;
    apply(
        plane,
        &namespace,
        &profile_yaml("everything", "  scope:\n    regions: [us-east-1]\n"),
    );
    let api: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    let profile = wait_for(
        &api,
        "everything",
        &operator,
        WAIT,
        "a completed scan",
        |p, s| s.observed_generation == p.metadata.generation && s.last_scan_time.is_some(),
    )
    .await;
    let status = profile.status.expect("status");
    assert_eq!(
        condition(&status, "Ready"),
        Some((ConditionStatus::True, "ScanSucceeded".into())),
        "{status:#?}"
    );
    let counted: Vec<&str> = status
        .controls
        .iter()
        .map(|c| c.control_id.as_str())
        .collect();
    // Every Security Hub control with a resource in scope; the CIS check is opt-in.
    for id in [
        "APIGateway.1",
        "APIGateway.2",
        "APIGateway.3",
        "APIGateway.4",
        "APIGateway.5",
        "APIGateway.8",
        "APIGateway.9",
        "APIGateway.10",
        "APIGateway.11",
    ] {
        assert!(counted.contains(&id), "{id} missing from {counted:?}");
    }
    assert!(!counted.contains(&"RestAccessLogging"), "{counted:?}");
    let failing = |control: &str, arn: &str| {
        status
            .failing_findings
            .iter()
            .any(|f| f.control_id.as_str() == control && f.resource_arn == arn)
    };
    assert!(
        failing(
            "APIGateway.10",
            &format!("arn:aws:apigateway:{REGION}::/apis/{http}/integrations/{no_tls}")
        ),
        "{status:#?}"
    );
    assert!(
        failing(
            "APIGateway.11",
            &format!("arn:aws:apigateway:{REGION}::/domainnames/api.example.com")
        ),
        "{status:#?}"
    );
    let scrape = status_writes_reconciled(&operator, &api, "everything").await;
    for control in ["APIGateway.10", "APIGateway.11"] {
        assert!(
            scrape.0.contains(&format!(
                "apigw_compliance_findings{{namespace=\"{namespace}\",profile=\"everything\",control=\"{control}\",status=\"failed\"}} 1"
            )),
            "{scrape}"
        );
    }
}

/// /readyz follows the watch of profiles: it fails while the API server is away and
/// comes back with it, and /healthz stays up through it (nothing is wedged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_follows_the_watch_through_an_api_server_outage() {
    // A control plane of its own: stopping the shared one would break the other tests.
    let (plane, client) = private_plane_with_crd("probes").await;
    let namespace = cluster::test_namespace(&client, "probes").await;
    let account = new_account().await;
    let operator = Operator::watching(&namespace, &account)
        .kubeconfig(plane.kubeconfig_path())
        .start()
        .await;
    operator.wait_ready(WAIT).await;

    let status = |path: &str| operator.get(path).map(|(code, _)| code);
    let until = |what: &str, done: &dyn Fn() -> bool| {
        let deadline = Instant::now() + WAIT;
        while !done() {
            assert!(
                Instant::now() < deadline,
                "{what} not reached; log:\n{}",
                operator.log()
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    let _ = Command::new("kill")
        .arg(plane.apiserver_pid().to_string())
        .status();
    until("/readyz failing while the API server is away", &|| {
        status("/readyz") == Some(503)
    });
    assert_eq!(status("/healthz"), Some(200));
    let plane = tokio::task::spawn_blocking(move || {
        plane.restart_apiserver();
        plane
    })
    .await
    .expect("restart the API server");
    until("/readyz back with the API server", &|| {
        status("/readyz") == Some(200)
    });
    drop(plane);
}

/// A profile manifest with the shard label `apigwcompliance.io/shard: <shard>`, or
/// none.
fn sharded_profile(name: &str, shard: Option<&str>) -> String {
    let labels = shard
        .map(|s| format!("  labels: {{apigwcompliance.io/shard: {s}}}\n"))
        .unwrap_or_default();
    format!(
        "---\napiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata:\n  name: {name}\n{labels}spec:\n  scope: {{regions: [{REGION}]}}\n  interval: 1h\n"
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_operators_with_different_profile_selectors_each_reconcile_only_their_profiles() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "shards").await;
    let account = new_account().await;
    seed_orders(&account).await;
    apply(
        cluster::shared(),
        &namespace,
        &[
            sharded_profile("a1", Some("a")),
            sharded_profile("b1", Some("b")),
            sharded_profile("unsharded", None),
        ]
        .concat(),
    );
    let shard = |selector: &str| {
        Operator::watching(&namespace, &account)
            .args(["--profile-selector", selector])
            .start()
    };
    let (shard_a, shard_b) = (
        shard("apigwcompliance.io/shard=a").await,
        shard("apigwcompliance.io/shard=b").await,
    );
    let profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    for (name, operator) in [("a1", &shard_a), ("b1", &shard_b)] {
        wait_for(
            &profiles,
            name,
            operator,
            WAIT,
            "its shard's scan",
            |_, s| {
                s.condition("Ready")
                    .is_some_and(|c| c.status == ConditionStatus::True)
            },
        )
        .await;
    }
    let scanned = |operator: &Operator, profile: &str| {
        operator.metric(&format!(
            "apigw_compliance_last_complete_scan_timestamp_seconds{{namespace=\"{namespace}\",profile=\"{profile}\"}}"
        )) > 0.0
    };
    for (operator, own, other) in [(&shard_a, "a1", "b1"), (&shard_b, "b1", "a1")] {
        assert!(scanned(operator, own), "{}", operator.metrics());
        assert!(!scanned(operator, other), "{}", operator.metrics());
        assert!(!scanned(operator, "unsharded"), "{}", operator.metrics());
        // It reconciled its one profile: its scan's reconcile and the watch events of
        // its own status writes, all of that profile.
        assert!(
            !operator.log().contains("profile=unsharded")
                && !operator.log().contains(&format!("profile={other}")),
            "{}",
            operator.log()
        );
    }
    assert!(
        profiles
            .get("unsharded")
            .await
            .expect("the unsharded profile")
            .status
            .is_none(),
        "no shard's selector matches it, so no operator writes its status"
    );
}
