//! Overlapping profiles share one inventory read: the operator binary on the local
//! kube-apiserver, moto as AWS, and moto's own per-account call counter as the
//! witness. Each test works in its own namespace and moto account with its own
//! operator watching only that namespace.

use std::time::Duration;

use apigw_compliance::crd::ComplianceProfile;
use aws_sdk_apigatewayv2::types::{AuthorizationType, ProtocolType};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;

use crate::support::cluster;
use crate::support::moto::{CallCounts, MotoAccount, new_account};
use crate::support::operator::{Operator, apply, client_with_crd, profile_yaml, wait_all};
use crate::support::seed::{self, V2StageSpec};

/// Long enough for a scan, or an interval plus a scan, on a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(150);
const REGION: &str = "us-east-1";

/// Two REST APIs (a compliant `prod` and a bare `dev` stage each) and one HTTP API (one
/// route, one stage). One inventory pass reads: GetRestApis 1, REST GetStages 2,
/// GetApis 1, v2 GetStages 1, GetRoutes 1.
async fn seed_estate(account: &MotoAccount) {
    let sdk = account.sdk_config(REGION);
    for name in ["orders", "billing"] {
        seed::rest_api_with_prod_and_dev(&sdk, name).await;
    }
    let http = seed::v2_api(&sdk, "orders-http", ProtocolType::Http).await;
    seed::v2_route(&sdk, &http, "GET /orders", Some(AuthorizationType::AwsIam)).await;
    seed::v2_stage(&sdk, &http, "prod", V2StageSpec::default()).await;
}

/// The inventory passes `counts` holds, per operation of one pass.
fn passes(counts: &CallCounts) -> [u64; 5] {
    [
        counts.get("apigateway:GetRestApis"),
        counts.get("apigateway:GetStages") / 2,
        counts.get("apigatewayv2:GetApis"),
        counts.get("apigatewayv2:GetStages"),
        counts.get("apigatewayv2:GetRoutes"),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn overlapping_profiles_share_one_inventory_pass_per_interval() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "shared").await;
    let plane = cluster::shared();
    let account = new_account().await;
    seed_estate(&account).await;
    account.reset_call_counts().await;

    // Three teams' views of one account and region: different scopes, controls and
    // API types, so different read needs (REST only, v2 only, both). They exist before
    // the operator starts, so its first reconciles know all three needs.
    let names = ["everything", "prod-rest", "routes"];
    apply(
        plane,
        &namespace,
        &[
            profile_yaml(names[0], "  scope:\n    regions: [us-east-1]\n  interval: 1m\n"),
            profile_yaml(
                names[1],
                "  scope:\n    regions: [us-east-1]\n    apiTypes: [REST]\n    stages:\n      include: [prod]\n  controls:\n    enabled: [APIGateway.3]\n  interval: 1m\n",
            ),
            profile_yaml(
                names[2],
                "  scope:\n    regions: [us-east-1]\n    apis:\n      include: ['*-http']\n  controls:\n    enabled: [APIGateway.8]\n  interval: 1m\n",
            ),
        ]
        .concat(),
    );
    let operator = Operator::watching(&namespace, &account).start().await;
    let api: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);

    let first = wait_all(&api, &names, &operator, WAIT, "a first scan", |p, s| {
        s.observed_generation == p.metadata.generation && s.last_scan_time.is_some()
    })
    .await;
    let counts = account.call_counts().await;
    assert_eq!(
        passes(&counts),
        [1; 5],
        "three profiles, one pass: {counts:?}\n{}",
        operator.log()
    );
    assert_eq!(counts.throttled, 0, "{counts:?}");
    // The operator's own account of it: one read from AWS, two reuses.
    let metrics = operator.metrics();
    for series in [
        r#"apigw_compliance_inventory_reads_total{region="us-east-1",source="aws"} 1"#,
        r#"apigw_compliance_inventory_reads_total{region="us-east-1",source="shared"} 2"#,
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
    // Each still got its own verdicts from the shared read.
    let evaluated: Vec<u32> = first
        .iter()
        .map(|s| s.summary.as_ref().map_or(0, |s| s.evaluated))
        .collect();
    // everything: 4 REST stages x 5 controls + HTTP stage (.1, .9) + route (.8) = 23;
    // prod-rest: 2 prod stages x APIGateway.3; routes: the HTTP API's one route.
    assert_eq!(evaluated, vec![23, 2, 1]);
    // The three fall due together: next scan an interval after the shared read.
    let next: Vec<Option<Time>> = first.iter().map(|s| s.next_scan_time.clone()).collect();
    assert!(next.windows(2).all(|w| w[0] == w[1]), "{next:?}");

    // The next interval: all three scan again, on one new pass.
    let scanned_at: Vec<Option<Time>> = first.iter().map(|s| s.last_scan_time.clone()).collect();
    wait_all(&api, &names, &operator, WAIT, "a second scan", |p, s| {
        let i = names
            .iter()
            .position(|n| Some(n.to_string()) == p.metadata.name)
            .unwrap_or(0);
        s.last_scan_time.is_some() && s.last_scan_time != scanned_at[i]
    })
    .await;
    let counts = account.call_counts().await;
    assert_eq!(
        passes(&counts),
        [2; 5],
        "one pass per interval: {counts:?}\n{}",
        operator.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_profile_change_is_evaluated_on_the_shared_read_without_calling_aws() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "shared-change").await;
    let plane = cluster::shared();
    let account = new_account().await;
    seed_estate(&account).await;
    let operator = Operator::watching(&namespace, &account).start().await;
    let api: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    account.reset_call_counts().await;
    apply(
        plane,
        &namespace,
        &profile_yaml(
            "team",
            "  scope:\n    regions: [us-east-1]\n  interval: 20m\n",
        ),
    );
    let first = wait_all(&api, &["team"], &operator, WAIT, "a first scan", |p, s| {
        s.observed_generation == p.metadata.generation && s.last_scan_time.is_some()
    })
    .await;
    assert_eq!(first[0].summary.as_ref().map(|s| s.evaluated), Some(23));

    // Narrowing the scope is a new generation: it is evaluated at once on the read the
    // first scan made (20m interval: reusable for 10 minutes), with no AWS call.
    apply(
        plane,
        &namespace,
        &profile_yaml(
            "team",
            "  scope:\n    regions: [us-east-1]\n    stages:\n      include: [prod]\n  interval: 20m\n",
        ),
    );
    let second = wait_all(
        &api,
        &["team"],
        &operator,
        WAIT,
        "the new generation",
        |p, s| {
            p.metadata.generation == Some(2)
                && s.observed_generation == Some(2)
                && s.condition("Reconciling").is_none()
        },
    )
    .await;
    // 2 prod REST stages x 5 controls + the HTTP prod stage (.1, .9) + its route (.8).
    assert_eq!(second[0].summary.as_ref().map(|s| s.evaluated), Some(13));
    let counts = account.call_counts().await;
    assert_eq!(
        passes(&counts),
        [1; 5],
        "the change reused the read: {counts:?}\n{}",
        operator.log()
    );
}
