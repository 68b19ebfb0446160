//! Overlapping profiles share one inventory read: the operator binary on the local
//! kube-apiserver, moto as AWS, and moto's own per-account call counter as the
//! witness. Each test works in its own namespace and moto account with its own
//! operator watching only that namespace.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use apigw_compliance::crd::{ComplianceProfile, ComplianceProfileStatus};
use aws_sdk_apigatewayv2::types::{AuthorizationType, ProtocolType};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use kube::api::Api;
use support::cluster;
use support::moto::{CallCounts, MotoAccount, new_account};
use support::seed::{self, V2StageSpec};

const BIN: &str = env!("CARGO_BIN_EXE_apigw-compliance");
const CRD_FILE: &str = "crds/apigwcompliance.io_complianceprofiles.yaml";
/// Long enough for a scan, or an interval plus a scan, on a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(150);
const REGION: &str = "us-east-1";

fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// A running `apigw-compliance run` for one namespace, stopped when dropped.
struct Operator {
    child: Child,
    log: PathBuf,
}

impl Operator {
    fn start(kubeconfig: &Path, namespace: &str, account: &MotoAccount) -> Operator {
        let dir = std::env::temp_dir().join(format!(
            "apigw-shared-inventory-{}-{namespace}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let tenancy = dir.join("tenancy.yaml");
        std::fs::write(
            &tenancy,
            format!("namespaces:\n  - namespace: {namespace}\n    allowOperatorIdentity: true\n"),
        )
        .expect("write tenancy");
        let log = dir.join("operator.log");
        let child = Command::new(BIN)
            .arg("run")
            .arg("--tenancy-config")
            .arg(&tenancy)
            .args(["--watch-namespace", namespace])
            .args(["--http-addr", "127.0.0.1:0"])
            .args(["--log-format", "text"])
            .env_clear()
            .envs(account.env(REGION))
            .env("KUBECONFIG", kubeconfig)
            .env("RUST_LOG", "info,apigw_compliance=debug")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("log file"))
            .spawn()
            .expect("start the operator");
        Operator { child, log }
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = Command::new("kill")
                .args(["-TERM", &self.child.id().to_string()])
                .status();
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn kubectl_apply(kubeconfig: &Path, namespace: &str, yaml: &str) {
    let mut child = Command::new(cluster::KUBECTL)
        .arg("--kubeconfig")
        .arg(kubeconfig)
        .args(["apply", "-n", namespace, "-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubectl");
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(yaml.as_bytes())
        .expect("kubectl stdin");
    let out = child.wait_with_output().expect("kubectl output");
    assert!(
        out.status.success(),
        "kubectl apply failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn profile(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

/// Polls until every named profile's status satisfies `done`; returns the statuses.
async fn wait_all(
    api: &Api<ComplianceProfile>,
    names: &[&str],
    operator: &Operator,
    what: &str,
    done: impl Fn(&ComplianceProfile, &ComplianceProfileStatus) -> bool,
) -> Vec<ComplianceProfileStatus> {
    let deadline = Instant::now() + WAIT;
    let mut last = Vec::new();
    while Instant::now() < deadline {
        last.clear();
        for name in names {
            if let Ok(Some(p)) = api.get_opt(name).await
                && let Some(status) = &p.status
                && done(&p, status)
            {
                last.push(status.clone());
            }
        }
        if last.len() == names.len() {
            return last;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    panic!(
        "{what}: not reached by all of {names:?} after {WAIT:?}\noperator log:\n{}",
        operator.log()
    );
}

/// Two REST APIs (a compliant `prod` and a bare `dev` stage each) and one HTTP API (one
/// route, one stage). One inventory pass reads: GetRestApis 1, REST GetStages 2,
/// GetApis 1, v2 GetStages 1, GetRoutes 1.
async fn seed_estate(account: &MotoAccount) {
    let sdk = account.sdk_config(REGION);
    for name in ["orders", "billing"] {
        let (api, deployment) = seed::rest_api(&sdk, name).await;
        seed::rest_stage(
            &sdk,
            &api,
            &deployment,
            "prod",
            seed::COMPLIANT_REST_PATCHES,
        )
        .await;
        seed::rest_stage(&sdk, &api, &deployment, "dev", &[]).await;
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
    let client = cluster::client().await;
    cluster::apply_crd_yaml(
        &client,
        &std::fs::read_to_string(repo(CRD_FILE)).expect("crds/ holds the CRD"),
    )
    .await;
    let namespace = cluster::test_namespace(&client, "shared").await;
    let kubeconfig = cluster::kubeconfig_path();
    let account = new_account().await;
    seed_estate(&account).await;
    account.reset_call_counts().await;

    // Three teams' views of one account and region: different scopes, controls and
    // API types, so different read needs (REST only, v2 only, both). They exist before
    // the operator starts, so its first reconciles know all three needs.
    let names = ["everything", "prod-rest", "routes"];
    kubectl_apply(
        &kubeconfig,
        &namespace,
        &[
            profile(names[0], "  scope:\n    regions: [us-east-1]\n  interval: 1m\n"),
            profile(
                names[1],
                "  scope:\n    regions: [us-east-1]\n    apiTypes: [REST]\n    stages:\n      include: [prod]\n  controls:\n    enabled: [APIGateway.3]\n  interval: 1m\n",
            ),
            profile(
                names[2],
                "  scope:\n    regions: [us-east-1]\n    apis:\n      include: ['*-http']\n  controls:\n    enabled: [APIGateway.8]\n  interval: 1m\n",
            ),
        ]
        .concat(),
    );
    let operator = Operator::start(&kubeconfig, &namespace, &account);
    let api: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);

    let first = wait_all(&api, &names, &operator, "a first scan", |p, s| {
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
    wait_all(&api, &names, &operator, "a second scan", |p, s| {
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
    let client = cluster::client().await;
    cluster::apply_crd_yaml(
        &client,
        &std::fs::read_to_string(repo(CRD_FILE)).expect("crds/ holds the CRD"),
    )
    .await;
    let namespace = cluster::test_namespace(&client, "shared-change").await;
    let kubeconfig = cluster::kubeconfig_path();
    let account = new_account().await;
    seed_estate(&account).await;
    let operator = Operator::start(&kubeconfig, &namespace, &account);
    let api: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    account.reset_call_counts().await;
    kubectl_apply(
        &kubeconfig,
        &namespace,
        &profile(
            "team",
            "  scope:\n    regions: [us-east-1]\n  interval: 20m\n",
        ),
    );
    let first = wait_all(&api, &["team"], &operator, "a first scan", |p, s| {
        s.observed_generation == p.metadata.generation && s.last_scan_time.is_some()
    })
    .await;
    assert_eq!(first[0].summary.as_ref().map(|s| s.evaluated), Some(23));

    // Narrowing the scope is a new generation: it is evaluated at once on the read the
    // first scan made (20m interval: reusable for 10 minutes), with no AWS call.
    kubectl_apply(
        &kubeconfig,
        &namespace,
        &profile(
            "team",
            "  scope:\n    regions: [us-east-1]\n    stages:\n      include: [prod]\n  interval: 20m\n",
        ),
    );
    let second = wait_all(&api, &["team"], &operator, "the new generation", |p, s| {
        p.metadata.generation == Some(2)
            && s.observed_generation == Some(2)
            && s.condition("Reconciling").is_none()
    })
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
