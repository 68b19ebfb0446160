//! The Helm chart (`charts/apigw-compliance`), proven with the pinned helm and the real
//! local kube-apiserver:
//!
//! - its CRD copy is byte-identical to `crds/` (and to what the code generates);
//! - `helm lint` passes, `helm template` renders the secure defaults and each option;
//! - bad values are refused by `values.schema.json` with a message naming the value;
//! - `helm install`, `upgrade` and `uninstall` work on the API server;
//! - the operator binary, run with a token of the chart's ServiceAccount (TokenRequest
//!   API, not the admin credential) and the chart's tenancy ConfigMap, reconciles a
//!   profile against moto with nothing but the chart's RBAC; with one rule removed it
//!   reports a clear permission error.
//!
//! The chart's Deployment never runs here (no kubelet): the tests run the binary
//! themselves, with the arguments and environment the installed Deployment carries.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsStr;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use apigw_compliance::controller::tenancy::Tenancy;
use apigw_compliance::crd::{
    ComplianceProfile, ComplianceProfileSpec, ComplianceProfileStatus, ConditionStatus,
};
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use k8s_openapi::api::events::v1::Event;
use k8s_openapi::api::rbac::v1::{ClusterRole, PolicyRule, Role};
use kube::Api;
use kube::api::{ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use serde::Deserialize;
use serde_yaml::Value;

use crate::support::cluster;
use crate::support::moto::{MotoAccount, new_account};
use crate::support::operator::{CRD_NAME, Operator, apply, profile_yaml, repo, temp_dir, wait_for};
use crate::support::seed;

const CHART: &str = "charts/apigw-compliance";
const CRD_FILE: &str = "apigwcompliance.io_complianceprofiles.yaml";
const REGION: &str = "us-east-1";
/// Long enough for a scan against moto on a loaded 2-core machine.
const WAIT: Duration = Duration::from_secs(90);

fn chart_dir() -> String {
    repo(CHART).display().to_string()
}

// ---------------------------------------------------------------------------------
// helm

/// The pinned helm (`$APIGW_TEST_HELM`, or `tests/tools/install-helm`, which installs it
/// into the cache once). Found without a cluster: lint and template need none.
fn helm_binary() -> &'static Path {
    static HELM: OnceLock<PathBuf> = OnceLock::new();
    HELM.get_or_init(|| {
        if let Some(path) = std::env::var_os(cluster::HELM_ENV).filter(|p| !p.is_empty()) {
            return PathBuf::from(path);
        }
        let out = Command::new(repo("tests/tools/install-helm"))
            .stdin(Stdio::null())
            .output()
            .expect("run tests/tools/install-helm");
        assert!(
            out.status.success(),
            "tests/tools/install-helm failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        PathBuf::from(String::from_utf8_lossy(&out.stdout).trim())
    })
}

/// `helm <args>` without a cluster.
fn helm_offline<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    Command::new(helm_binary())
        .args(args)
        // No user configuration or repositories leak in.
        .env(
            "HELM_CONFIG_HOME",
            std::env::temp_dir().join("apigw-helm-config"),
        )
        .env(
            "HELM_CACHE_HOME",
            std::env::temp_dir().join("apigw-helm-cache"),
        )
        .env(
            "HELM_DATA_HOME",
            std::env::temp_dir().join("apigw-helm-data"),
        )
        .output()
        .expect("run helm")
}

fn succeeded(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `helm template` of the chart with `args`, as parsed YAML documents.
fn render(args: &[&str]) -> Vec<Value> {
    render_release("rel", args)
}

/// `helm template` of the chart as release `release` with `args`.
fn render_release(release: &str, args: &[&str]) -> Vec<Value> {
    let mut all = vec!["template", release, &chart_dir(), "--namespace", "ops"]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
    all.extend(args.iter().map(|a| a.to_string()));
    let text = succeeded("helm template", &helm_offline(&all));
    serde_yaml::Deserializer::from_str(&text)
        .filter_map(|doc| Value::deserialize(doc).ok())
        .filter(|v| !v.is_null())
        .collect()
}

fn kind_of(doc: &Value) -> &str {
    doc["kind"].as_str().unwrap_or_default()
}

fn kinds(docs: &[Value]) -> BTreeSet<String> {
    docs.iter().map(|d| kind_of(d).to_string()).collect()
}

fn one<'a>(docs: &'a [Value], kind: &str) -> &'a Value {
    let found: Vec<&Value> = docs.iter().filter(|d| kind_of(d) == kind).collect();
    assert_eq!(found.len(), 1, "expected one {kind}, found {}", found.len());
    found[0]
}

fn named<'a>(docs: &'a [Value], kind: &str, name: &str) -> &'a Value {
    docs.iter()
        .find(|d| kind_of(d) == kind && d["metadata"]["name"].as_str() == Some(name))
        .unwrap_or_else(|| panic!("no {kind} {name} in the rendered chart"))
}

fn container(docs: &[Value]) -> &Value {
    &one(docs, "Deployment")["spec"]["template"]["spec"]["containers"][0]
}

fn args(docs: &[Value]) -> Vec<String> {
    container(docs)["args"]
        .as_sequence()
        .expect("container args")
        .iter()
        .map(|a| a.as_str().expect("string arg").to_string())
        .collect()
}

/// A rule as (apiGroups, resources, resourceNames, verbs), for exact comparisons.
type Rule = (Vec<String>, Vec<String>, Vec<String>, Vec<String>);

fn strings(v: &Value) -> Vec<String> {
    v.as_sequence()
        .map(|s| {
            s.iter()
                .map(|x| x.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default()
}

fn rules(doc: &Value) -> Vec<Rule> {
    doc["rules"]
        .as_sequence()
        .expect("rules")
        .iter()
        .map(|r| {
            (
                strings(&r["apiGroups"]),
                strings(&r["resources"]),
                strings(&r["resourceNames"]),
                strings(&r["verbs"]),
            )
        })
        .collect()
}

fn rule(groups: &[&str], resources: &[&str], names: &[&str], verbs: &[&str]) -> Rule {
    let v = |xs: &[&str]| xs.iter().map(|x| x.to_string()).collect();
    (v(groups), v(resources), v(names), v(verbs))
}

/// Exactly what the operator does (src/controller): list+watch profiles (controller,
/// /readyz), patch their status (server-side apply), create+patch Events (Recorder),
/// and its policy reports (the default `reportApi: openreports`).
fn operator_rules() -> Vec<Rule> {
    let mut rules = rules_without_reports();
    rules.extend(report_rules("openreports.io", "reports"));
    rules
}

/// The operator's rules with `reportApi: none`.
fn rules_without_reports() -> Vec<Rule> {
    vec![
        rule(
            &["apigwcompliance.io"],
            &["complianceprofiles"],
            &[],
            &["list", "watch"],
        ),
        rule(
            &["apigwcompliance.io"],
            &["complianceprofiles/status"],
            &[],
            &["patch"],
        ),
        rule(&["events.k8s.io"], &["events"], &[], &["create", "patch"]),
    ]
}

/// The rules of the policy reports of one API (src/controller/reports.rs): list to
/// compare, get to keep times, create+patch to apply, delete beyond the count; and the
/// owner's finalizers for blockOwnerDeletion.
fn report_rules(group: &str, resource: &str) -> Vec<Rule> {
    vec![
        rule(
            &[group],
            &[resource],
            &[],
            &["get", "list", "create", "patch", "delete"],
        ),
        rule(
            &["apigwcompliance.io"],
            &["complianceprofiles/finalizers"],
            &[],
            &["update"],
        ),
    ]
}

#[test]
fn report_api_picks_the_flag_and_exactly_the_rbac_of_its_resource() {
    let docs = render(&[]);
    assert!(args(&docs).contains(&"--report-api=openreports".to_string()));
    let docs = render(&["--set", "reportApi=wgpolicyk8s"]);
    assert!(args(&docs).contains(&"--report-api=wgpolicyk8s".to_string()));
    let mut expected = rules_without_reports();
    expected.extend(report_rules("wgpolicyk8s.io", "policyreports"));
    assert_eq!(rules(one(&docs, "ClusterRole")), expected);
    let docs = render(&["--set", "reportApi=none"]);
    assert!(args(&docs).contains(&"--report-api=none".to_string()));
    assert_eq!(rules(one(&docs, "ClusterRole")), rules_without_reports());
    let docs = render(&["--set", "reportApi=none,watchNamespace=team-a"]);
    assert_eq!(rules(one(&docs, "Role")), rules_without_reports());
}

// ---------------------------------------------------------------------------------
// Files

#[test]
fn chart_crd_is_byte_identical_to_crds_and_to_the_generated_one() {
    let chart_crd = format!("{CHART}/crds/{CRD_FILE}");
    let read = |relative: &str| {
        std::fs::read_to_string(repo(relative))
            .unwrap_or_else(|e| panic!("cannot read {relative}: {e}"))
    };
    let regenerate = format!(
        "run `cargo run -- crd > crds/{CRD_FILE} && cp crds/{CRD_FILE} {CHART}/crds/` and commit both"
    );
    assert!(
        read(&chart_crd) == read(&format!("crds/{CRD_FILE}")),
        "{chart_crd} differs from crds/{CRD_FILE}: {regenerate}"
    );
    let generated = apigw_compliance::crd::crd_yaml().expect("the CRD renders as YAML");
    assert!(
        read(&chart_crd) == generated,
        "{chart_crd} is not what `apigw-compliance crd` prints: {regenerate}"
    );
    // Helm installs every file of crds/: a second, stale copy would install first.
    for dir in [format!("{CHART}/crds"), "crds".to_string()] {
        let files: Vec<String> = std::fs::read_dir(repo(&dir))
            .unwrap_or_else(|e| panic!("cannot list {dir}: {e}"))
            .map(|entry| {
                entry
                    .expect("directory entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        assert_eq!(files, [CRD_FILE], "{dir} must hold only the generated CRD");
    }
}

#[test]
fn chart_app_version_is_the_crate_version() {
    let chart: Value = serde_yaml::from_str(
        &std::fs::read_to_string(repo(&format!("{CHART}/Chart.yaml"))).expect("Chart.yaml"),
    )
    .expect("Chart.yaml is YAML");
    assert_eq!(chart["apiVersion"].as_str(), Some("v2"));
    assert_eq!(
        chart["appVersion"].as_str(),
        Some(env!("CARGO_PKG_VERSION")),
        "Chart.yaml appVersion must equal Cargo.toml's version (the image tag it deploys)"
    );
}

/// Every property of values.schema.json (the closed set of values) is described in the
/// chart README, as `path.to.value`.
#[test]
fn chart_readme_lists_every_value() {
    fn walk(schema: &serde_json::Value, prefix: &str, out: &mut Vec<String>) {
        if let Some(props) = schema["properties"].as_object() {
            for (key, sub) in props {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                if sub["properties"].is_object() {
                    walk(sub, &path, out);
                } else {
                    out.push(path);
                }
            }
        }
    }
    let schema: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(repo(&format!("{CHART}/values.schema.json"))).expect("schema"),
    )
    .expect("values.schema.json is JSON");
    assert_eq!(schema["additionalProperties"], serde_json::json!(false));
    let readme = std::fs::read_to_string(repo(&format!("{CHART}/README.md"))).expect("README");
    let mut values = Vec::new();
    walk(&schema, "", &mut values);
    assert!(values.len() > 40, "only {} values found", values.len());
    let missing: Vec<&String> = values
        .iter()
        .filter(|v| !readme.contains(&format!("`{v}`")))
        .collect();
    assert!(
        missing.is_empty(),
        "the chart README does not describe {missing:?}"
    );
}

// ---------------------------------------------------------------------------------
// lint and template

#[test]
fn helm_lint_passes_with_defaults_and_with_every_option_on() {
    let chart = chart_dir();
    succeeded(
        "helm lint",
        &helm_offline(["lint", "--strict", chart.as_str()]),
    );
    succeeded(
        "helm lint (every option on)",
        &helm_offline([
            "lint",
            "--strict",
            chart.as_str(),
            "--set",
            "replicaCount=3,watchNamespace=team-a,metrics.serviceMonitor.enabled=true,networkPolicy.enabled=true,grafanaDashboard.enabled=true,changeEvents.queueUrls={https://sqs.eu-west-1.amazonaws.com/111122223333/apigw-compliance-change-events}",
        ]),
    );
}

#[test]
fn default_render_is_restricted_minimal_and_wired_to_the_operator() {
    let docs = render(&[]);
    assert_eq!(
        kinds(&docs),
        [
            "ClusterRole",
            "ClusterRoleBinding",
            "ConfigMap",
            "Deployment",
            "Service",
            "ServiceAccount"
        ]
        .into_iter()
        .map(String::from)
        .collect(),
        "one replica, no options: no PDB, no leader-election Role, no extras"
    );
    assert_eq!(
        rules(one(&docs, "ClusterRole")),
        operator_rules(),
        "exactly the verbs the operator uses"
    );
    let binding = one(&docs, "ClusterRoleBinding");
    assert_eq!(
        binding["subjects"][0]["name"].as_str(),
        Some("rel-apigw-compliance")
    );
    assert_eq!(binding["subjects"][0]["namespace"].as_str(), Some("ops"));

    let deployment = one(&docs, "Deployment");
    let pod = &deployment["spec"]["template"]["spec"];
    assert_eq!(deployment["spec"]["replicas"].as_u64(), Some(1));
    assert_eq!(
        deployment["spec"]["strategy"]["type"].as_str(),
        Some("Recreate"),
        "without leader election two pods must never overlap"
    );
    assert_eq!(
        pod["serviceAccountName"].as_str(),
        Some("rel-apigw-compliance")
    );
    // Restricted Pod Security Standard.
    assert_eq!(pod["securityContext"]["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(
        pod["securityContext"]["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault")
    );
    let c = container(&docs);
    let sc = &c["securityContext"];
    assert_eq!(sc["runAsNonRoot"].as_bool(), Some(true));
    assert_eq!(sc["readOnlyRootFilesystem"].as_bool(), Some(true));
    assert_eq!(sc["allowPrivilegeEscalation"].as_bool(), Some(false));
    assert_eq!(strings(&sc["capabilities"]["drop"]), vec!["ALL"]);
    assert_eq!(
        sc["seccompProfile"]["type"].as_str(),
        Some("RuntimeDefault")
    );
    assert_eq!(
        c["image"].as_str(),
        Some(format!("apigw-compliance:{}", env!("CARGO_PKG_VERSION")).as_str())
    );
    // Probes on the operator's endpoints, on the http port.
    assert_eq!(c["ports"][0]["name"].as_str(), Some("http"));
    assert_eq!(c["ports"][0]["containerPort"].as_u64(), Some(8080));
    assert_eq!(
        c["livenessProbe"]["httpGet"]["path"].as_str(),
        Some("/healthz")
    );
    assert_eq!(
        c["readinessProbe"]["httpGet"]["path"].as_str(),
        Some("/readyz")
    );
    assert_eq!(c["livenessProbe"]["httpGet"]["port"].as_str(), Some("http"));
    // Footprint: idle < 20 MiB, scanning < 64 MiB.
    assert_eq!(c["resources"]["requests"]["memory"].as_str(), Some("32Mi"));
    assert_eq!(c["resources"]["requests"]["cpu"].as_str(), Some("10m"));
    assert_eq!(c["resources"]["limits"]["memory"].as_str(), Some("128Mi"));
    // The Lease namespace and identity come from the downward API.
    let env = c["env"].as_sequence().expect("env");
    for (name, field) in [
        ("POD_NAME", "metadata.name"),
        ("POD_NAMESPACE", "metadata.namespace"),
    ] {
        let var = env
            .iter()
            .find(|e| e["name"].as_str() == Some(name))
            .unwrap_or_else(|| panic!("no {name}"));
        assert_eq!(
            var["valueFrom"]["fieldRef"]["fieldPath"].as_str(),
            Some(field)
        );
    }
    // The tenancy ConfigMap is mounted where --tenancy-config points.
    let args = args(&docs);
    assert_eq!(args[0], "run");
    assert!(args.contains(&"--tenancy-config=/etc/apigw-compliance/tenancy.yaml".to_string()));
    assert!(args.contains(&"--http-addr=0.0.0.0:8080".to_string()));
    assert!(!args.iter().any(|a| a.starts_with("--leader-election")));
    assert!(!args.iter().any(|a| a.starts_with("--watch-namespace")));
    assert_eq!(
        c["volumeMounts"][0]["mountPath"].as_str(),
        Some("/etc/apigw-compliance")
    );
    assert_eq!(
        pod["volumes"][0]["configMap"]["name"].as_str(),
        Some("rel-apigw-compliance-tenancy")
    );
    let tenancy = named(&docs, "ConfigMap", "rel-apigw-compliance-tenancy");
    assert_eq!(
        tenancy["data"]["tenancy.yaml"].as_str(),
        Some("namespaces: []\n"),
        "deny everything by default"
    );
    assert!(
        deployment["spec"]["template"]["metadata"]["annotations"]["checksum/tenancy"]
            .as_str()
            .is_some_and(|s| s.len() == 64),
        "a tenancy change must roll the pods"
    );
    let service = one(&docs, "Service");
    assert_eq!(
        service["spec"]["ports"][0]["targetPort"].as_str(),
        Some("http")
    );
}

#[test]
fn more_than_one_replica_turns_on_leader_election_and_a_pdb() {
    let docs = render(&["--set", "replicaCount=2"]);
    let args = args(&docs);
    for expected in [
        "--leader-election",
        "--lease-name=rel-apigw-compliance",
        "--lease-duration-seconds=15",
    ] {
        assert!(
            args.contains(&expected.to_string()),
            "{expected} in {args:?}"
        );
    }
    let pdb = one(&docs, "PodDisruptionBudget");
    assert_eq!(pdb["spec"]["minAvailable"].as_u64(), Some(1));
    let lease_role = named(&docs, "Role", "rel-apigw-compliance-leader-election");
    assert_eq!(lease_role["metadata"]["namespace"].as_str(), Some("ops"));
    assert_eq!(
        rules(lease_role),
        vec![
            rule(
                &["coordination.k8s.io"],
                &["leases"],
                &["rel-apigw-compliance"],
                &["get", "update"]
            ),
            rule(&["coordination.k8s.io"], &["leases"], &[], &["create"]),
        ]
    );
    named(&docs, "RoleBinding", "rel-apigw-compliance-leader-election");
    assert_eq!(
        one(&docs, "Deployment")["spec"]["strategy"]["type"].as_str(),
        Some("RollingUpdate")
    );
    // Leader election can be asked for with one replica too (no PDB then).
    let docs = render(&["--set", "leaderElection.enabled=true"]);
    assert!(args_contain(&docs, "--leader-election"));
    assert!(!kinds(&docs).contains("PodDisruptionBudget"));
}

fn args_contain(docs: &[Value], arg: &str) -> bool {
    args(docs).iter().any(|a| a == arg)
}

#[test]
fn watch_namespace_gets_a_role_there_instead_of_a_cluster_role() {
    let docs = render(&["--set", "watchNamespace=team-a"]);
    let kinds = kinds(&docs);
    assert!(
        !kinds.contains("ClusterRole") && !kinds.contains("ClusterRoleBinding"),
        "{kinds:?}"
    );
    let role = named(&docs, "Role", "rel-apigw-compliance");
    assert_eq!(role["metadata"]["namespace"].as_str(), Some("team-a"));
    assert_eq!(rules(role), operator_rules());
    let binding = named(&docs, "RoleBinding", "rel-apigw-compliance");
    assert_eq!(binding["metadata"]["namespace"].as_str(), Some("team-a"));
    assert_eq!(binding["subjects"][0]["namespace"].as_str(), Some("ops"));
    assert!(args_contain(&docs, "--watch-namespace=team-a"));
}

#[test]
fn service_account_carries_the_irsa_annotation_and_the_tenancy_is_what_the_operator_reads() {
    let role = "arn:aws:iam::111122223333:role/apigw-compliance";
    let docs = render(&[
        "--set-json",
        &format!(r#"serviceAccount.annotations={{"eks.amazonaws.com/role-arn":"{role}"}}"#),
        "--set-json",
        r#"tenancy.namespaces=[{"namespace":"team-a","roles":[{"roleArn":"arn:aws:iam::444455556666:role/apigw-compliance-scan","externalId":"team-a-7f3c","enforce":true},{"roleArn":"arn:aws:iam::555566667777:role/apigw-compliance-scan","externalId":"team-a-7f3c"}]},{"namespace":"platform","operatorIdentity":{"enforce":true}},{"namespace":"legacy","allowedRoleArns":["arn:aws:iam::444455556666:role/apigw-readonly"]}]"#,
    ]);
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].as_str(),
        Some(role)
    );
    let text = named(&docs, "ConfigMap", "rel-apigw-compliance-tenancy")["data"]["tenancy.yaml"]
        .as_str()
        .expect("tenancy.yaml")
        .to_string();
    let tenancy = Tenancy::parse("tenancy.yaml", &text).expect("the operator accepts it");
    let scan = Some("arn:aws:iam::444455556666:role/apigw-compliance-scan");
    let read_only = Some("arn:aws:iam::555566667777:role/apigw-compliance-scan");
    let legacy = Some("arn:aws:iam::444455556666:role/apigw-readonly");
    let team = Some("team-a-7f3c");
    for (namespace, role, external_id, mode, admitted) in [
        ("platform", None, None, "Enforce", true),
        ("team-a", scan, team, "Enforce", true),
        ("team-a", read_only, team, "DryRun", true),
        ("team-a", read_only, team, "Enforce", false),
        ("team-a", scan, Some("team-b-9d2e"), "Observe", false),
        ("team-a", None, None, "Observe", false),
        ("other", None, None, "Observe", false),
        ("legacy", legacy, None, "DryRun", true),
        ("legacy", legacy, None, "Enforce", false),
    ] {
        let checked = tenancy.check(namespace, &spec(role, external_id, mode));
        assert_eq!(
            checked.is_ok(),
            admitted,
            "{namespace} {role:?} {external_id:?} {mode}: {checked:?}"
        );
    }
}

/// A profile spec scanning us-east-1 with `role` and `external_id`, in `mode`.
fn spec(role: Option<&str>, external_id: Option<&str>, mode: &str) -> ComplianceProfileSpec {
    serde_json::from_value(serde_json::json!({
        "scope": {"regions": ["us-east-1"], "roleArn": role, "externalId": external_id},
        "remediation": {"mode": mode},
    }))
    .expect("a spec")
}

fn env_value(docs: &[Value], name: &str) -> Option<String> {
    container(docs)["env"]
        .as_sequence()
        .expect("env")
        .iter()
        .find(|e| e["name"].as_str() == Some(name))
        .map(|e| e["value"].as_str().unwrap_or_default().to_string())
}

#[test]
fn aws_rate_limit_reaches_the_operator_only_when_set() {
    let docs = render(&[]);
    assert_eq!(env_value(&docs, "APIGW_AWS_RATE_LIMIT"), None);
    assert_eq!(env_value(&docs, "APIGW_AWS_BURST"), None);
    assert_eq!(env_value(&docs, "AWS_REGION"), None);
    let docs = render(&[
        "--set",
        "aws.rateLimit=2.5,aws.burst=10,aws.region=eu-west-1",
    ]);
    assert_eq!(
        env_value(&docs, "APIGW_AWS_RATE_LIMIT").as_deref(),
        Some("2.5")
    );
    assert_eq!(env_value(&docs, "APIGW_AWS_BURST").as_deref(), Some("10"));
    assert_eq!(env_value(&docs, "AWS_REGION").as_deref(), Some("eu-west-1"));
    // 0 turns the client-side limit off: it must be passed, not dropped as "empty".
    let docs = render(&["--set", "aws.readTimeoutSeconds=45"]);
    assert_eq!(
        env_value(&docs, "APIGW_AWS_READ_TIMEOUT_SECONDS").as_deref(),
        Some("45")
    );
    assert_eq!(
        env_value(&render(&[]), "APIGW_AWS_READ_TIMEOUT_SECONDS"),
        None
    );
    let docs = render(&["--set", "aws.rateLimit=0,aws.inventoryMaxAgeSeconds=0"]);
    assert_eq!(
        env_value(&docs, "APIGW_AWS_RATE_LIMIT").as_deref(),
        Some("0")
    );
    assert_eq!(
        env_value(&docs, "APIGW_INVENTORY_MAX_AGE_SECONDS").as_deref(),
        Some("0")
    );
    // Tuning flags are passed only when set: otherwise the operator's defaults hold.
    let defaults = args(&render(&[]));
    for flag in ["--concurrency", "--max-attempts", "--api-concurrency"] {
        assert!(
            !defaults.iter().any(|a| a.starts_with(flag)),
            "{flag} in {defaults:?}"
        );
    }
    let tuned = args(&render(&[
        "--set",
        "concurrency=8,aws.maxAttempts=3,aws.apiConcurrency=2",
    ]));
    for flag in ["--concurrency=8", "--max-attempts=3", "--api-concurrency=2"] {
        assert!(tuned.contains(&flag.to_string()), "{flag} in {tuned:?}");
    }
}

/// Sharding: each release's `profileSelector` becomes its `--profile-selector`, and its
/// Lease is named after the release, so the shards' leader elections never meet.
#[test]
fn a_shard_renders_its_profile_selector_and_a_lease_of_its_own() {
    let defaults = args(&render(&[]));
    assert!(
        !defaults.iter().any(|a| a.starts_with("--profile-selector")),
        "{defaults:?}"
    );
    let lease = |docs: &[Value]| -> String {
        args(docs)
            .into_iter()
            .find_map(|a| a.strip_prefix("--lease-name=").map(str::to_string))
            .expect("--lease-name")
    };
    let shards: Vec<Vec<Value>> = ["shard-a", "shard-b"]
        .iter()
        .map(|release| {
            let selector = format!(
                "profileSelector=\"apigwcompliance.io/shard={}\"",
                release.trim_start_matches("shard-")
            );
            render_release(
                release,
                &[
                    "--set-json",
                    &selector,
                    "--set",
                    "leaderElection.enabled=true",
                ],
            )
        })
        .collect();
    assert!(
        args(&shards[0]).contains(&"--profile-selector=apigwcompliance.io/shard=a".to_string()),
        "{:?}",
        args(&shards[0])
    );
    assert!(
        args(&shards[1]).contains(&"--profile-selector=apigwcompliance.io/shard=b".to_string())
    );
    assert_eq!(
        (lease(&shards[0]), lease(&shards[1])),
        (
            "shard-a-apigw-compliance".to_string(),
            "shard-b-apigw-compliance".to_string()
        )
    );
}

/// The remediation safeguards: the ownership tags as one comma-separated variable
/// (empty turns the check off), the account's write cap as flags.
#[test]
fn ownership_tags_and_the_account_write_cap_reach_the_operator() {
    let docs = render(&[]);
    assert_eq!(
        env_value(&docs, "APIGW_OWNERSHIP_TAGS").as_deref(),
        Some("aws:cloudformation:stack-name")
    );
    let defaults = args(&docs);
    for flag in [
        "--account-max-changes=100",
        "--account-changes-window-seconds=900",
    ] {
        assert!(
            defaults.contains(&flag.to_string()),
            "{flag} in {defaults:?}"
        );
    }
    let docs = render(&[
        "--set-json",
        r#"remediation.ownershipTags=["aws:cloudformation:stack-name","managed-by"]"#,
        "--set",
        "remediation.accountMaxChanges=0,remediation.accountChangesWindowSeconds=60",
    ]);
    assert_eq!(
        env_value(&docs, "APIGW_OWNERSHIP_TAGS").as_deref(),
        Some("aws:cloudformation:stack-name,managed-by")
    );
    let set = args(&docs);
    assert!(
        set.contains(&"--account-max-changes=0".to_string()),
        "{set:?}"
    );
    assert!(set.contains(&"--account-changes-window-seconds=60".to_string()));
    let none = render(&["--set-json", "remediation.ownershipTags=[]"]);
    assert_eq!(
        env_value(&none, "APIGW_OWNERSHIP_TAGS").as_deref(),
        Some("")
    );
}

/// `changeEvents.queueUrls` reaches the operator as one comma-separated variable, with
/// the debounce and visibility settings beside it; with no queue (the default) none of
/// them is rendered, so the operator runs without change events.
#[test]
fn change_event_queues_reach_the_operator_joined_by_commas_and_only_when_set() {
    const VARIABLES: [&str; 3] = [
        "APIGW_CHANGE_EVENTS_QUEUE_URLS",
        "APIGW_CHANGE_EVENTS_DEBOUNCE_MS",
        "APIGW_CHANGE_EVENTS_VISIBILITY_SECONDS",
    ];
    for docs in [
        render(&[]),
        render(&["--set-json", "changeEvents.queueUrls=[]"]),
        // The tuning alone does not turn change events on.
        render(&["--set", "changeEvents.debounceMilliseconds=1000"]),
    ] {
        for name in VARIABLES {
            assert_eq!(env_value(&docs, name), None, "{name}");
        }
        assert!(
            !args(&docs).iter().any(|a| a.starts_with("--change-events")),
            "{:?}",
            args(&docs)
        );
    }

    let east = "https://sqs.us-east-1.amazonaws.com/111122223333/apigw-compliance-change-events";
    let west = "https://sqs.eu-west-1.amazonaws.com/444455556666/apigw-compliance-change-events";
    let docs = render(&[
        "--set-json",
        &format!(r#"changeEvents.queueUrls=["{east}"]"#),
    ]);
    assert_eq!(
        env_value(&docs, "APIGW_CHANGE_EVENTS_QUEUE_URLS").as_deref(),
        Some(east)
    );
    // The chart's defaults are the operator's.
    assert_eq!(
        env_value(&docs, "APIGW_CHANGE_EVENTS_DEBOUNCE_MS").as_deref(),
        Some("300")
    );
    assert_eq!(
        env_value(&docs, "APIGW_CHANGE_EVENTS_VISIBILITY_SECONDS").as_deref(),
        Some("300")
    );

    let docs = render(&[
        "--set-json",
        &format!(r#"changeEvents.queueUrls=["{east}","{west}"]"#),
        "--set",
        "changeEvents.debounceMilliseconds=1000,changeEvents.visibilityTimeoutSeconds=600",
    ]);
    assert_eq!(
        env_value(&docs, "APIGW_CHANGE_EVENTS_QUEUE_URLS"),
        Some(format!("{east},{west}"))
    );
    assert_eq!(
        env_value(&docs, "APIGW_CHANGE_EVENTS_DEBOUNCE_MS").as_deref(),
        Some("1000")
    );
    assert_eq!(
        env_value(&docs, "APIGW_CHANGE_EVENTS_VISIBILITY_SECONDS").as_deref(),
        Some("600")
    );
}

#[test]
fn optional_objects_render_when_enabled() {
    let docs = render(&[
        "--set",
        "metrics.serviceMonitor.enabled=true,metrics.serviceMonitor.labels.release=prom,networkPolicy.enabled=true,grafanaDashboard.enabled=true",
    ]);
    let monitor = one(&docs, "ServiceMonitor");
    assert_eq!(
        monitor["metadata"]["labels"]["release"].as_str(),
        Some("prom")
    );
    assert_eq!(
        monitor["spec"]["endpoints"][0]["path"].as_str(),
        Some("/metrics")
    );
    assert_eq!(
        monitor["spec"]["endpoints"][0]["honorLabels"].as_bool(),
        Some(true),
        "the findings gauge's own namespace label must survive the scrape"
    );
    let policy = one(&docs, "NetworkPolicy");
    assert_eq!(
        strings(&policy["spec"]["policyTypes"]),
        vec!["Ingress", "Egress"]
    );
    let ports: Vec<u64> = policy["spec"]["egress"]
        .as_sequence()
        .expect("egress")
        .iter()
        .flat_map(|e| e["ports"].as_sequence().cloned().unwrap_or_default())
        .filter_map(|p| p["port"].as_u64())
        .collect();
    assert_eq!(ports, vec![53, 53, 443, 6443]);

    let dashboard = named(&docs, "ConfigMap", "rel-apigw-compliance-dashboard");
    assert_eq!(
        dashboard["metadata"]["labels"]["grafana_dashboard"].as_str(),
        Some("1")
    );
    let json: serde_json::Value = serde_json::from_str(
        dashboard["data"]["apigw-compliance.json"]
            .as_str()
            .expect("dashboard JSON"),
    )
    .expect("the dashboard is valid JSON");
    let titles: Vec<&str> = json["panels"]
        .as_array()
        .expect("panels")
        .iter()
        .filter_map(|p| p["title"].as_str())
        .collect();
    for title in [
        "Findings by control and status",
        "Failed findings by control",
        "Remediations by control and result",
        "AWS calls by service",
        "AWS errors by service and class",
        "Throttled share of AWS calls",
        "Reconcile latency",
        "Change events",
        "Change events by outcome",
        "Change event to status latency",
        "Change queue errors by kind",
    ] {
        assert!(titles.contains(&title), "no panel {title:?} in {titles:?}");
    }
    // Not rendered unless asked for.
    let kinds = kinds(&render(&[]));
    assert!(!kinds.contains("ServiceMonitor") && !kinds.contains("NetworkPolicy"));
}

/// The metric names the operator registers (src/metrics.rs), as Prometheus sees them.
fn exported_metric_names() -> BTreeSet<String> {
    let source = std::fs::read_to_string(repo("src/metrics.rs")).expect("src/metrics.rs");
    let mut names = BTreeSet::new();
    for (i, _) in source.match_indices(".register") {
        let call = &source[i..];
        let with_unit = call.starts_with(".register_with_unit(");
        let Some(start) = call.find('"') else {
            continue;
        };
        let Some(len) = call[start + 1..].find('"') else {
            continue;
        };
        let base = format!("apigw_compliance_{}", &call[start + 1..start + 1 + len]);
        let base = if with_unit {
            format!("{base}_seconds")
        } else {
            base
        };
        for suffix in ["", "_total", "_bucket", "_sum", "_count"] {
            names.insert(format!("{base}{suffix}"));
        }
    }
    names
}

#[test]
fn dashboard_queries_only_metrics_the_operator_exports() {
    let exported = exported_metric_names();
    assert!(
        exported.contains("apigw_compliance_findings")
            && exported.contains("apigw_compliance_reconcile_duration_seconds_bucket"),
        "{exported:?}"
    );
    let text = std::fs::read_to_string(repo(&format!("{CHART}/dashboards/apigw-compliance.json")))
        .expect("dashboard");
    let mut used = BTreeSet::new();
    for (i, _) in text.match_indices("apigw_compliance_") {
        let name: String = text[i..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        used.insert(name);
    }
    assert!(used.len() >= 6, "{used:?}");
    let unknown: Vec<&String> = used.iter().filter(|m| !exported.contains(*m)).collect();
    assert!(
        unknown.is_empty(),
        "the dashboard queries {unknown:?}, which src/metrics.rs does not register"
    );
}

/// The README's "Install with Helm" values work as the README says: release
/// `apigw-compliance` in namespace `apigw-compliance` gets ServiceAccount
/// `apigw-compliance` (the subject docs/iam/trust-irsa.json trusts), with the IRSA
/// annotation, and the demo namespace may use the operator's identity.
#[test]
fn readme_quick_start_values_render_as_documented() {
    let readme = std::fs::read_to_string(repo("README.md")).expect("README.md");
    let values = readme
        .split("cat > values.yaml <<'YAML'\n")
        .nth(1)
        .and_then(|rest| rest.split("\nYAML\n").next())
        .expect("the README's values.yaml block");
    let dir = temp_dir("readme");
    let file = write_values(&dir, values);
    let file = file.display().to_string();
    let chart = chart_dir();
    succeeded(
        "helm lint (README values)",
        &helm_offline(["lint", "--strict", chart.as_str(), "-f", file.as_str()]),
    );
    let text = succeeded(
        "helm template (README values)",
        &helm_offline([
            "template",
            "apigw-compliance",
            chart.as_str(),
            "--namespace",
            "apigw-compliance",
            "-f",
            file.as_str(),
        ]),
    );
    let docs: Vec<Value> = serde_yaml::Deserializer::from_str(&text)
        .filter_map(|doc| Value::deserialize(doc).ok())
        .filter(|v| !v.is_null())
        .collect();
    let sa = one(&docs, "ServiceAccount");
    assert_eq!(sa["metadata"]["name"].as_str(), Some("apigw-compliance"));
    assert_eq!(
        sa["metadata"]["namespace"].as_str(),
        Some("apigw-compliance")
    );
    let trust = std::fs::read_to_string(repo("docs/iam/trust-irsa.json")).expect("trust");
    assert!(trust.contains("system:serviceaccount:apigw-compliance:apigw-compliance"));
    assert!(
        sa["metadata"]["annotations"]["eks.amazonaws.com/role-arn"]
            .as_str()
            .is_some_and(|arn| arn.starts_with("arn:aws:iam::"))
    );
    let tenancy = named(&docs, "ConfigMap", "apigw-compliance-tenancy")["data"]["tenancy.yaml"]
        .as_str()
        .expect("tenancy.yaml")
        .to_string();
    let tenancy = Tenancy::parse("tenancy.yaml", &tenancy).expect("the operator accepts it");
    assert!(
        tenancy
            .check("apigw-demo", &spec(None, None, "Observe"))
            .is_ok()
    );
    assert!(
        container(&docs)["image"]
            .as_str()
            .is_some_and(|i| i.starts_with("registry.example.com/platform/apigw-compliance:"))
    );
}

#[test]
fn invalid_values_are_refused_by_the_schema_naming_the_value() {
    let chart = chart_dir();
    let cases: &[(&[&str], &[&str])] = &[
        (&["--set", "replicaCount=-1"], &["/replicaCount", "minimum"]),
        (
            &["--set", "replicas=2"],
            &["additional properties 'replicas' not allowed"],
        ),
        (
            &["--set", "logFormat=xml"],
            &["/logFormat", "value must be one of 'json', 'text'"],
        ),
        (
            &["--set", "watchNamespace=Team_A"],
            &["/watchNamespace", "does not match pattern"],
        ),
        (
            &["--set", "image.digest=latest"],
            &["/image/digest", "does not match pattern"],
        ),
        (
            &[
                "--set-json",
                r#"tenancy.namespaces=[{"namespce":"team-a"}]"#,
            ],
            &[
                "/tenancy/namespaces/0",
                "additional properties 'namespce' not allowed",
            ],
        ),
        (
            &[
                "--set-json",
                r#"tenancy.namespaces=[{"namespace":"a","allowedRoleArns":["payments-role"]}]"#,
            ],
            &["/tenancy/namespaces/0/allowedRoleArns/0"],
        ),
        (
            &[
                "--set-json",
                r#"tenancy.namespaces=[{"namespace":"a","roles":[{"roleArn":"arn:aws:iam::444455556666:role/scan","externalId":"x y"}]}]"#,
            ],
            &["/tenancy/namespaces/0/roles/0/externalId"],
        ),
        (
            &[
                "--set-json",
                r#"tenancy.namespaces=[{"namespace":"a","operatorIdentity":{"enforced":true}}]"#,
            ],
            &["additional properties 'enforced' not allowed"],
        ),
        (
            &["--set", "resources.limits.memory=lots"],
            &["/resources/limits/memory"],
        ),
        (
            &["--set", "networkPolicy.egressPorts[0]=70000"],
            &["/networkPolicy/egressPorts/0", "maximum"],
        ),
        (
            // A queue URL is https://sqs.REGION.amazonaws.com/ACCOUNT/NAME; a comma
            // would split it in the operator's comma-separated variable.
            &[
                "--set-json",
                r#"changeEvents.queueUrls=["https://sqs.us-east-1.amazonaws.com/111122223333/a,b"]"#,
            ],
            &["/changeEvents/queueUrls/0", "does not match pattern"],
        ),
        (
            &["--set", "changeEvents.visibilityTimeoutSeconds=0"],
            &["/changeEvents/visibilityTimeoutSeconds", "minimum"],
        ),
    ];
    for (set, expected) in cases {
        let mut args = vec!["template", "rel", chart.as_str()];
        args.extend_from_slice(set);
        let out = helm_offline(&args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{set:?} was accepted");
        assert!(
            stderr.contains("values don't meet the specifications of the schema"),
            "{set:?}: {stderr}"
        );
        for e in *expected {
            assert!(stderr.contains(e), "{set:?}: no {e:?} in {stderr}");
        }
    }
}

// ---------------------------------------------------------------------------------
// On the real API server

fn unique_release(namespace: &str) -> String {
    // Release names are DNS labels of at most 53 characters; the namespace is unique.
    let tail: String = namespace
        .chars()
        .rev()
        .take(20)
        .collect::<String>()
        .chars()
        .rev()
        .collect();
    format!("r{}", tail.trim_start_matches('-'))
}

fn write_values(dir: &Path, yaml: &str) -> PathBuf {
    let path = dir.join("values.yaml");
    std::fs::write(&path, yaml).expect("write values");
    path
}

/// `helm` against the shared control plane, off the async runtime.
async fn helm(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || cluster::helm(&args))
        .await
        .expect("helm task")
}

async fn kubectl(args: Vec<String>) -> Output {
    tokio::task::spawn_blocking(move || cluster::kubectl(&args))
        .await
        .expect("kubectl task")
}

fn owned(args: &[&str]) -> Vec<String> {
    args.iter().map(|a| a.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chart_installs_upgrades_and_uninstalls_on_the_api_server_and_refuses_bad_values() {
    let client = cluster::client().await;
    let namespace = cluster::test_namespace(&client, "chart-lifecycle").await;
    let release = unique_release(&namespace);
    let chart = chart_dir();
    Api::<Namespace>::all(client.clone())
        .patch(
            &namespace,
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"metadata": {"labels": {
                "pod-security.kubernetes.io/enforce": "restricted",
                "pod-security.kubernetes.io/enforce-version": "latest",
            }}})),
        )
        .await
        .expect("label the namespace restricted");

    // Bad values never reach the API server: no release is recorded.
    let out = helm(owned(&[
        "install",
        &release,
        &chart,
        "-n",
        &namespace,
        "--set",
        "logFormat=xml",
    ]))
    .await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success());
    assert!(
        stderr.contains("values don't meet the specifications of the schema")
            && stderr.contains("/logFormat"),
        "{stderr}"
    );
    let listed = succeeded(
        "helm list",
        &helm(owned(&["list", "-n", &namespace, "-q"])).await,
    );
    assert!(listed.trim().is_empty(), "{listed}");

    // Install: every object is there, the CRD included (Helm installs crds/ when absent).
    succeeded(
        "helm install",
        &helm(owned(&["install", &release, &chart, "-n", &namespace])).await,
    );
    cluster::wait_crd_established(&client, CRD_NAME).await;
    let fullname = format!("{release}-apigw-compliance");
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), &namespace);
    let deployment = deployments.get(&fullname).await.expect("the Deployment");
    assert_eq!(deployment.spec.as_ref().and_then(|s| s.replicas), Some(1));
    let cluster_roles: Api<ClusterRole> = Api::all(client.clone());
    cluster_roles.get(&fullname).await.expect("the ClusterRole");

    // The pod the Deployment would create passes the API server's Pod Security
    // admission at `restricted` (the namespace enforces it); the same pod without the
    // container's securityContext is refused, so the check is real. Server-side dry
    // run: there is no kubelet to run it anyway.
    let template = deployment
        .spec
        .as_ref()
        .map(|s| s.template.clone())
        .expect("pod template");
    let pod = Pod {
        metadata: ObjectMeta {
            name: Some("restricted-check".into()),
            labels: template.metadata.and_then(|m| m.labels),
            ..Default::default()
        },
        spec: template.spec,
        status: None,
    };
    let pods: Api<Pod> = Api::namespaced(client.clone(), &namespace);
    let dry_run = PostParams {
        dry_run: true,
        ..Default::default()
    };
    pods.create(&dry_run, &pod)
        .await
        .expect("the chart's pod is admitted under the restricted Pod Security Standard");
    let mut loose = pod.clone();
    if let Some(spec) = loose.spec.as_mut() {
        spec.containers[0].security_context = None;
    }
    match pods.create(&dry_run, &loose).await {
        Err(kube::Error::Api(status)) => assert!(
            status.code == 403 && status.message.contains("violates PodSecurity"),
            "{status:?}"
        ),
        other => panic!("a pod without securityContext was not refused: {other:?}"),
    }
    let out = kubectl(owned(&[
        "get",
        "serviceaccount,configmap,service,clusterrolebinding",
        "-n",
        &namespace,
        "-o",
        "name",
    ]))
    .await;
    let names = succeeded("kubectl get", &out);
    for expected in [
        format!("serviceaccount/{fullname}"),
        format!("configmap/{fullname}-tenancy"),
        format!("service/{fullname}-metrics"),
        format!("clusterrolebinding.rbac.authorization.k8s.io/{fullname}"),
    ] {
        assert!(
            names.lines().any(|l| l == expected),
            "{expected} in {names}"
        );
    }
    assert!(
        kubectl(owned(&["get", "pdb", fullname.as_str(), "-n", &namespace]))
            .await
            .status
            .code()
            != Some(0),
        "no PDB with one replica"
    );

    // Upgrade to two replicas: leader election, its Role, and a PDB appear.
    succeeded(
        "helm upgrade",
        &helm(owned(&[
            "upgrade",
            &release,
            &chart,
            "-n",
            &namespace,
            "--set",
            "replicaCount=2",
        ]))
        .await,
    );
    let deployment = deployments.get(&fullname).await.expect("the Deployment");
    let spec = deployment.spec.expect("spec");
    assert_eq!(spec.replicas, Some(2));
    let container_args = spec.template.spec.expect("pod spec").containers[0]
        .args
        .clone()
        .unwrap_or_default();
    assert!(
        container_args.contains(&"--leader-election".to_string()),
        "{container_args:?}"
    );
    let roles: Api<Role> = Api::namespaced(client.clone(), &namespace);
    roles
        .get(&format!("{fullname}-leader-election"))
        .await
        .expect("the leader-election Role");
    succeeded(
        "kubectl get pdb",
        &kubectl(owned(&["get", "pdb", &fullname, "-n", &namespace])).await,
    );
    let history = succeeded(
        "helm history",
        &helm(owned(&["history", &release, "-n", &namespace])).await,
    );
    assert!(history.lines().count() >= 3, "two revisions: {history}");

    // Uninstall: the chart's objects are gone, cluster-scoped ones too.
    succeeded(
        "helm uninstall",
        &helm(owned(&["uninstall", &release, "-n", &namespace])).await,
    );
    assert!(deployments.get_opt(&fullname).await.expect("get").is_none());
    assert!(
        cluster_roles
            .get_opt(&fullname)
            .await
            .expect("get")
            .is_none()
    );
    assert!(
        roles
            .get_opt(&format!("{fullname}-leader-election"))
            .await
            .expect("get")
            .is_none()
    );
    // Helm keeps CRDs on uninstall (they hold the users' profiles).
    cluster::wait_crd_established(&client, CRD_NAME).await;
}

// ---------------------------------------------------------------------------------
// The operator with the chart's identity

/// A kubeconfig for the chart's ServiceAccount: the admin kubeconfig's cluster (server
/// and CA) with a token from the TokenRequest API (`kubectl create token`), so every
/// request is authorised by the chart's RBAC alone.
async fn service_account_kubeconfig(namespace: &str, service_account: &str, dir: &Path) -> PathBuf {
    let token = succeeded(
        "kubectl create token",
        &kubectl(owned(&[
            "create",
            "token",
            service_account,
            "-n",
            namespace,
            "--duration=2h",
        ]))
        .await,
    );
    let admin: Value = serde_yaml::from_str(
        &std::fs::read_to_string(cluster::kubeconfig_path()).expect("admin kubeconfig"),
    )
    .expect("kubeconfig YAML");
    let cluster_entry = admin["clusters"][0].clone();
    let cluster_name = cluster_entry["name"]
        .as_str()
        .expect("cluster name")
        .to_string();
    let kubeconfig = serde_yaml::to_string(&serde_json::json!({
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [cluster_entry],
        "users": [{"name": service_account, "user": {"token": token.trim()}}],
        "contexts": [{"name": "operator", "context": {
            "cluster": cluster_name, "user": service_account, "namespace": namespace}}],
        "current-context": "operator",
    }))
    .expect("kubeconfig");
    let path = dir.join("kubeconfig-operator");
    std::fs::write(&path, kubeconfig).expect("write kubeconfig");
    // It really is the ServiceAccount (the TokenRequest API works on this server).
    let out = Command::new(cluster::KUBECTL)
        .arg("--kubeconfig")
        .arg(&path)
        .args([
            "auth",
            "whoami",
            "-o",
            "jsonpath={.status.userInfo.username}",
        ])
        .output()
        .expect("kubectl auth whoami");
    assert_eq!(
        succeeded("kubectl auth whoami", &out),
        format!("system:serviceaccount:{namespace}:{service_account}")
    );
    path
}

/// `apigw-compliance` as the installed Deployment would run it: its container args (the
/// harness puts its own file with the tenancy ConfigMap's content behind
/// `--tenancy-config=` and a loopback address behind `--http-addr=`), then
/// `extra_args`; its downward-API variables; and the ServiceAccount's kubeconfig.
async fn start_operator_from_release(
    client: &kube::Client,
    namespace: &str,
    fullname: &str,
    account: &MotoAccount,
    extra_args: &[&str],
    dir: &Path,
) -> Operator {
    let deployment = Api::<Deployment>::namespaced(client.clone(), namespace)
        .get(fullname)
        .await
        .expect("the chart's Deployment");
    let pod = deployment
        .spec
        .and_then(|s| s.template.spec)
        .expect("pod spec");
    let service_account = pod
        .service_account_name
        .clone()
        .expect("serviceAccountName");
    let container = &pod.containers[0];
    let tenancy = Api::<ConfigMap>::namespaced(client.clone(), namespace)
        .get(&format!("{fullname}-tenancy"))
        .await
        .expect("the tenancy ConfigMap")
        .data
        .and_then(|d| d.get("tenancy.yaml").cloned())
        .expect("tenancy.yaml");
    let env: BTreeMap<String, String> = container
        .env
        .clone()
        .unwrap_or_default()
        .into_iter()
        .filter_map(|e| {
            let value = match (
                &e.value,
                e.value_from.as_ref().and_then(|f| f.field_ref.as_ref()),
            ) {
                (Some(v), _) => v.clone(),
                (None, Some(field)) if field.field_path == "metadata.name" => {
                    format!("{fullname}-7d9c5b8f4-test")
                }
                (None, Some(field)) if field.field_path == "metadata.namespace" => {
                    namespace.to_string()
                }
                _ => return None,
            };
            Some((e.name, value))
        })
        .collect();
    assert!(env.contains_key("POD_NAME") && env.contains_key("POD_NAMESPACE"));
    let kubeconfig = service_account_kubeconfig(namespace, &service_account, dir).await;
    Operator::with_command_line(account, container.args.clone().unwrap_or_default(), tenancy)
        .args(extra_args.iter().copied())
        .envs(env)
        .kubeconfig(kubeconfig)
        .start()
        .await
}

/// A REST API with one stage that fails APIGateway.1 and .3.
async fn seed_noncompliant_stage(account: &MotoAccount) {
    let sdk = account.sdk_config(REGION);
    let (api, deployment) = seed::rest_api(&sdk, "orders").await;
    seed::rest_stage(&sdk, &api, &deployment, "dev", &[]).await;
}

fn orders_profile_yaml(interval: &str) -> String {
    profile_yaml(
        "orders",
        &format!(
            "  scope:\n    regions: [{REGION}]\n  controls:\n    enabled: [APIGateway.1, APIGateway.3]\n  interval: {interval}\n"
        ),
    )
}

fn ready_and_scanned(profile: &ComplianceProfile, status: &ComplianceProfileStatus) -> bool {
    status.observed_generation == profile.metadata.generation
        && status
            .condition("Ready")
            .is_some_and(|c| c.status == ConditionStatus::True)
}

/// Asks the API server whether the ServiceAccount may do something
/// (`kubectl auth can-i --as`, a SubjectAccessReview).
async fn can_i(namespace: &str, service_account: &str, verb: &str, resource: &str) -> bool {
    // `resource/sub` asks about a subresource (`--subresource=sub`).
    let (resource, subresource) = match resource.split_once('/') {
        Some((resource, sub)) => (resource, Some(sub)),
        None => (resource, None),
    };
    let mut args = owned(&[
        "auth",
        "can-i",
        verb,
        resource,
        "-n",
        namespace,
        &format!("--as=system:serviceaccount:{namespace}:{service_account}"),
    ]);
    if let Some(sub) = subresource {
        args.push(format!("--subresource={sub}"));
    }
    let out = kubectl(args).await;
    String::from_utf8_lossy(&out.stdout).trim() == "yes"
}

/// The chart installed with watchNamespace and two replicas (a Role in the namespace,
/// leader election with the Lease Role): the operator, as the ServiceAccount, scans and
/// writes the status, records an Event and holds the Lease. Then the status rule is
/// removed from the Role: the next status write is refused and the operator says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_reconciles_with_only_the_charts_namespaced_rbac_and_reports_a_removed_rule() {
    let client = cluster::client().await;
    let namespace = cluster::test_namespace(&client, "chart-rbac").await;
    let release = unique_release(&namespace);
    let fullname = format!("{release}-apigw-compliance");
    let dir = temp_dir("ns");
    let values = write_values(
        &dir,
        &format!(
            "replicaCount: 2\nwatchNamespace: {namespace}\ntenancy:\n  namespaces:\n    - namespace: {namespace}\n      allowOperatorIdentity: true\nserviceAccount:\n  annotations:\n    eks.amazonaws.com/role-arn: arn:aws:iam::111122223333:role/apigw-compliance\n"
        ),
    );
    succeeded(
        "helm install",
        &helm(vec![
            "install".into(),
            release.clone(),
            chart_dir(),
            "-n".into(),
            namespace.clone(),
            "-f".into(),
            values.display().to_string(),
        ])
        .await,
    );
    cluster::wait_crd_established(&client, CRD_NAME).await;
    // The report CRD the chart's default reportApi writes (it installs none itself).
    crate::reports::install(&client, "openreports").await;

    // The Role grants exactly the operator's verbs, nothing else.
    for (verb, resource, allowed) in [
        ("list", "complianceprofiles.apigwcompliance.io", true),
        ("watch", "complianceprofiles.apigwcompliance.io", true),
        (
            "patch",
            "complianceprofiles.apigwcompliance.io/status",
            true,
        ),
        ("create", "events.events.k8s.io", true),
        ("patch", "events.events.k8s.io", true),
        ("create", "leases.coordination.k8s.io", true),
        ("patch", "reports.openreports.io", true),
        ("create", "reports.openreports.io", true),
        ("delete", "reports.openreports.io", true),
        ("update", "reports.openreports.io", false),
        ("watch", "reports.openreports.io", false),
        ("patch", "policyreports.wgpolicyk8s.io", false),
        ("patch", "clusterreports.openreports.io", false),
        ("get", "complianceprofiles.apigwcompliance.io", false),
        ("update", "complianceprofiles.apigwcompliance.io", false),
        ("delete", "complianceprofiles.apigwcompliance.io", false),
        (
            "update",
            "complianceprofiles.apigwcompliance.io/status",
            false,
        ),
        ("create", "events", false),
        ("delete", "events.events.k8s.io", false),
        ("list", "secrets", false),
        ("list", "leases.coordination.k8s.io", false),
    ] {
        assert_eq!(
            can_i(&namespace, &fullname, verb, resource).await,
            allowed,
            "{verb} {resource}"
        );
    }

    let account = new_account().await;
    seed_noncompliant_stage(&account).await;
    let operator =
        start_operator_from_release(&client, &namespace, &fullname, &account, &[], &dir).await;
    operator.wait_ready(WAIT).await;

    let profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    apply(cluster::shared(), &namespace, &orders_profile_yaml("15m"));
    let profile = wait_for(
        &profiles,
        "orders",
        &operator,
        WAIT,
        "Ready after a scan",
        ready_and_scanned,
    )
    .await;
    let status = profile.status.clone().expect("status");
    let ready = status.condition("Ready").expect("Ready");
    assert_eq!(ready.reason, "ScanSucceeded");
    let compliant = status.condition("Compliant").expect("Compliant");
    assert_eq!(
        (compliant.status, compliant.reason.as_str()),
        (ConditionStatus::False, "FindingsFailed")
    );
    assert_eq!(status.account.as_deref(), Some(account.account_id.as_str()));
    assert!(
        status.summary.as_ref().is_some_and(|s| s.failed == 2),
        "{status:?}"
    );

    // The Event went through (events.k8s.io create), and this replica holds the Lease.
    let events: Api<Event> = Api::namespaced(client.clone(), &namespace);
    let deadline = Instant::now() + WAIT;
    loop {
        let listed = events.list(&ListParams::default()).await.expect("events");
        if listed
            .items
            .iter()
            .any(|e| e.reason.as_deref() == Some("NonCompliant"))
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "no NonCompliant Event; log:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let lease = Api::<Lease>::namespaced(client.clone(), &namespace)
        .get(&fullname)
        .await
        .expect("the leader Lease");
    assert_eq!(
        lease.spec.and_then(|s| s.holder_identity).as_deref(),
        Some(format!("{fullname}-7d9c5b8f4-test").as_str())
    );

    // Remove the status rule from the chart's Role.
    let roles: Api<Role> = Api::namespaced(client.clone(), &namespace);
    let role = roles.get(&fullname).await.expect("the chart's Role");
    let rules: Vec<PolicyRule> = role.rules.unwrap_or_default();
    let index = rules
        .iter()
        .position(|r| {
            r.resources
                .as_ref()
                .is_some_and(|res| res.contains(&"complianceprofiles/status".to_string()))
        })
        .expect("a complianceprofiles/status rule");
    roles
        .patch(
            &fullname,
            &PatchParams::default(),
            &Patch::Json::<()>(
                serde_json::from_value(serde_json::json!([
                    {"op": "remove", "path": format!("/rules/{index}")}
                ]))
                .expect("JSON patch"),
            ),
        )
        .await
        .expect("remove the rule");
    let deadline = Instant::now() + WAIT;
    while can_i(
        &namespace,
        &fullname,
        "patch",
        "complianceprofiles.apigwcompliance.io/status",
    )
    .await
    {
        assert!(
            Instant::now() < deadline,
            "the rule removal never took effect"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }

    // A spec change needs a new scan and a status write, which is now refused.
    let before = profiles.get("orders").await.expect("profile");
    profiles
        .patch(
            "orders",
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"interval": "20m"}})),
        )
        .await
        .expect("change the spec");
    let log = operator
        .wait_log(WAIT, "the status-write permission error", |log| {
            log.contains("cannot write the status of") && log.contains("complianceprofiles/status")
        })
        .await;
    let line = log
        .lines()
        .find(|l| l.contains("cannot write the status of"))
        .expect("the error line");
    for expected in [
        format!("cannot write the status of {namespace}/orders"),
        "forbidden".to_string(),
        format!("system:serviceaccount:{namespace}:{fullname}"),
        "cannot patch resource".to_string(),
        "check that the operator may patch complianceprofiles/status".to_string(),
    ] {
        assert!(line.contains(&expected), "no {expected:?} in {line}");
    }
    // Nothing was written: the status still describes the old generation.
    let after = profiles.get("orders").await.expect("profile");
    assert!(after.metadata.generation > before.metadata.generation);
    assert_eq!(
        after.status.as_ref().and_then(|s| s.observed_generation),
        before.metadata.generation
    );
    let failures = operator.metric(
        r#"apigw_compliance_reconcile_errors_total{class="recoverable_error",reason="StatusWriteFailed"}"#,
    );
    assert!(failures >= 1.0, "{}", operator.metrics());
}

/// The default install (a ClusterRole for every namespace) is enough too. The binary
/// also gets `--watch-namespace` so that, on a control plane shared with other tests,
/// it leaves their profiles alone; the RBAC it runs with is the chart's cluster-wide one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn operator_reconciles_with_only_the_charts_cluster_role() {
    let client = cluster::client().await;
    let namespace = cluster::test_namespace(&client, "chart-cluster").await;
    let release = unique_release(&namespace);
    let fullname = format!("{release}-apigw-compliance");
    let dir = temp_dir("cluster");
    let values = write_values(
        &dir,
        &format!(
            "tenancy:\n  namespaces:\n    - namespace: {namespace}\n      allowOperatorIdentity: true\n"
        ),
    );
    succeeded(
        "helm install",
        &helm(vec![
            "install".into(),
            release.clone(),
            chart_dir(),
            "-n".into(),
            namespace.clone(),
            "-f".into(),
            values.display().to_string(),
        ])
        .await,
    );
    cluster::wait_crd_established(&client, CRD_NAME).await;
    crate::reports::install(&client, "openreports").await;
    // Cluster-wide list, and nothing beyond the operator's verbs.
    let as_sa = format!("--as=system:serviceaccount:{namespace}:{fullname}");
    let out = kubectl(owned(&[
        "auth",
        "can-i",
        "list",
        "complianceprofiles.apigwcompliance.io",
        "--all-namespaces",
        &as_sa,
    ]))
    .await;
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "yes");
    assert!(
        !can_i(
            &namespace,
            &fullname,
            "create",
            "leases.coordination.k8s.io"
        )
        .await
    );
    assert!(
        !can_i(
            &namespace,
            &fullname,
            "get",
            "complianceprofiles.apigwcompliance.io"
        )
        .await
    );

    let account = new_account().await;
    seed_noncompliant_stage(&account).await;
    let watch = format!("--watch-namespace={namespace}");
    let operator = start_operator_from_release(
        &client,
        &namespace,
        &fullname,
        &account,
        &[watch.as_str()],
        &dir,
    )
    .await;
    operator.wait_ready(WAIT).await;
    let profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    apply(cluster::shared(), &namespace, &orders_profile_yaml("15m"));
    let profile = wait_for(
        &profiles,
        "orders",
        &operator,
        WAIT,
        "Ready after a scan",
        ready_and_scanned,
    )
    .await;
    let status = profile.status.expect("status");
    assert_eq!(
        status.condition("Ready").map(|c| c.reason.as_str()),
        Some("ScanSucceeded")
    );
    assert!(status.summary.as_ref().is_some_and(|s| s.failed == 2));
    // The chart's rules are enough for the policy reports too (a new part needs create).
    assert_eq!(
        status.condition("Reports").map(|c| c.reason.as_str()),
        Some("ReportsWritten"),
        "{status:?}"
    );
    assert!(
        !operator.log().contains("forbidden"),
        "a request was refused: {}",
        operator.log()
    );
}
