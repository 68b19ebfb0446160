//! Operator benchmark: the `apigw-compliance run` binary against the local
//! kube-apiserver (tests/control-plane) and moto, reconciling 20 overlapping profiles
//! over a 10,000-stage estate (REST, HTTP and WebSocket, two regions, one account).
//! Prints AWS calls made against one inventory pass (what sharing achieves) and
//! against 20 passes (what it saves), wall time until every profile has its status, the
//! operator's CPU time, its RSS idle and at peak, the status object sizes, and how long
//! a profile change takes to reach its status. Figures, not assertions.
//!
//! Run: `scripts/bench` (or `cargo bench --bench operator` with APIGW_TEST_MOTO_URL and
//! APIGW_TEST_KUBECONFIG set; without them the test support starts its own).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code asserts by panicking

#[path = "../tests/integration/support/mod.rs"]
mod support;

mod common;

use std::time::{Duration, Instant};

use apigw_compliance::crd::ComplianceProfile;
use common::{Estate, mib, process_figures, thousands};
use kube::api::{Api, ListParams};
use support::cluster;
use support::operator::{Operator, apply, client_with_crd, profile_yaml};

const PROFILES: usize = 20;
const WAIT: Duration = Duration::from_secs(900);

/// The 20 profiles: different teams' and purposes' views of one account's two regions.
/// The first takes everything with every control, so whatever order the operator meets
/// them in, its first read covers what the others need.
fn profiles() -> Vec<(String, String)> {
    let mut out = vec![(
        "platform-all".to_string(),
        "  scope: {regions: [us-east-1, eu-west-1]}\n".to_string(),
    )];
    for team in 0..9 {
        out.push((
            format!("team-{team}"),
            format!(
                "  scope:\n    regions: [us-east-1, eu-west-1]\n    tags: {{include: {{team: team-{team}}}}}\n"
            ),
        ));
    }
    for (name, controls) in [
        ("logging", "[APIGateway.1, APIGateway.9]"),
        ("waf", "[APIGateway.4]"),
        ("tracing", "[APIGateway.3]"),
        ("routes", "[APIGateway.8]"),
        ("cache", "[APIGateway.5]"),
    ] {
        out.push((
            format!("control-{name}"),
            format!(
                "  scope: {{regions: [us-east-1, eu-west-1]}}\n  controls: {{enabled: {controls}}}\n"
            ),
        ));
    }
    for (name, stages) in [
        ("prod", "[prod]"),
        ("preprod", "[staging, qa, perf]"),
        ("dev", "[dev, test, sandbox]"),
    ] {
        out.push((
            format!("stages-{name}"),
            format!(
                "  scope:\n    regions: [us-east-1, eu-west-1]\n    stages: {{include: {stages}}}\n"
            ),
        ));
    }
    out.push((
        "rest-us".to_string(),
        "  scope: {regions: [us-east-1], apiTypes: [REST]}\n".to_string(),
    ));
    out.push((
        "websocket-eu".to_string(),
        "  scope: {regions: [eu-west-1], apiTypes: [WEBSOCKET]}\n  exemptions:\n    - {control: APIGateway.8, resourceArnGlob: 'arn:aws:apigateway:eu-west-1::/apis/*/routes/*', reason: authorized at the load balancer}\n".to_string(),
    ));
    assert_eq!(out.len(), PROFILES);
    out
}

/// Waits until every profile's status satisfies `done`; returns the time it took.
async fn wait_all(
    api: &Api<ComplianceProfile>,
    started: Instant,
    done: impl Fn(&ComplianceProfile) -> bool,
) -> Duration {
    loop {
        let list = api.list(&ListParams::default()).await.expect("list");
        if list.items.len() == PROFILES && list.items.iter().all(&done) {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < WAIT,
            "profiles not reconciled in {WAIT:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn scanned(p: &ComplianceProfile) -> bool {
    p.status.as_ref().is_some_and(|s| {
        s.observed_generation == p.metadata.generation
            && s.last_scan_time.is_some()
            && s.condition("Reconciling").is_none()
    })
}

#[tokio::main]
async fn main() {
    let estate = Estate::ten_thousand();
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "bench").await;
    let plane = cluster::shared();
    let account = support::moto::new_account().await;
    let seeding = Instant::now();
    estate.seed(&account.endpoint_url, &account.account_id);
    let seeded = seeding.elapsed();

    // moto is local: the client-side limit is raised out of the way (the scan
    // benchmark's rate-limited section shows the pacing).
    let mut operator = Operator::watching(&namespace, &account)
        .args(["--aws-rate-limit", "1000", "--aws-burst", "1000"])
        // Quiet, but for the info line the harness reads the HTTP address from.
        .envs([("RUST_LOG", "warn,apigw_compliance=info")]);
    if let Ok(binary) = std::env::var("APIGW_BENCH_BINARY") {
        operator = operator.binary(binary);
    }
    let operator = operator.start().await;
    operator.wait_ready(Duration::from_secs(60)).await;
    let pid = operator.pid();
    // Idle: watching, no profile yet.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let idle = process_figures(pid).expect("operator figures");

    account.reset_call_counts().await;
    let yaml: String = profiles()
        .iter()
        .map(|(name, spec)| profile_yaml(name, spec))
        .collect();
    let api: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    let started = Instant::now();
    apply(plane, &namespace, &yaml);
    let all_scanned = wait_all(&api, started, scanned).await;
    let after = process_figures(pid).expect("operator figures");
    let counts = account.call_counts().await;
    let calls = counts.api_gateway();

    let list = api.list(&ListParams::default()).await.expect("list");
    let mut status_sizes: Vec<usize> = list
        .items
        .iter()
        .map(|p| serde_json::to_vec(&p.status).map_or(0, |j| j.len()))
        .collect();
    status_sizes.sort_unstable();
    let object_max = list
        .items
        .iter()
        .map(|p| serde_json::to_vec(p).map_or(0, |j| j.len()))
        .max()
        .unwrap_or(0);
    let evaluated: u64 = list
        .items
        .iter()
        .filter_map(|p| p.status.as_ref()?.summary.as_ref())
        .map(|s| u64::from(s.evaluated))
        .sum();

    // A profile change: narrow one team's profile to its prod stages.
    account.reset_call_counts().await;
    let changed = Instant::now();
    apply(
        plane,
        &namespace,
        &profile_yaml(
            "team-3",
            "  scope:\n    regions: [us-east-1, eu-west-1]\n    tags: {include: {team: team-3}}\n    stages: {include: [prod]}\n",
        ),
    );
    loop {
        let p = api.get("team-3").await.expect("get team-3");
        if p.metadata.generation == Some(2) && scanned(&p) {
            break;
        }
        assert!(changed.elapsed() < WAIT, "the change was not reconciled");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let change_latency = changed.elapsed();
    let change_calls = account.call_counts().await.total;
    let peak_after_change = process_figures(pid).expect("operator figures").peak;

    let minimum = estate.minimum_calls();
    println!(
        "operator benchmark: {PROFILES} overlapping profiles, {} stages + {} routes, {} regions, one account",
        thousands(estate.stages()),
        thousands(estate.routes()),
        estate.regions.len()
    );
    println!(
        "  seeding (bulk, not measured): {:.1} s",
        seeded.as_secs_f64()
    );
    println!(
        "  findings across profiles:  {} (sum of status.summary.evaluated)",
        thousands(evaluated as usize)
    );
    println!(
        "  API Gateway calls / one pass: {} / {} = {:.2} (20 unshared passes: {}); throttled {}; other AWS calls {} (STS)",
        thousands(calls as usize),
        thousands(minimum),
        calls as f64 / minimum as f64,
        thousands(minimum * PROFILES),
        counts.throttled,
        counts.total - calls
    );
    println!(
        "  wall time to 20 statuses:  {:.2} s",
        all_scanned.as_secs_f64()
    );
    println!(
        "  operator CPU time:         {:.2} s for the 20 reconciles ({:.2} s idle start-up)",
        after.cpu - idle.cpu,
        idle.cpu
    );
    println!(
        "  RSS idle:                  {:.1} MiB ({:.1} MiB anonymous, {:.1} MiB file-backed: the binary's code)",
        mib(idle.rss),
        mib(idle.anon),
        mib(idle.file)
    );
    println!(
        "  RSS peak while scanning:   {:.1} MiB (after: {:.1} MiB, {:.1} MiB anonymous, {:.1} MiB file-backed)",
        mib(after.peak),
        mib(after.rss),
        mib(after.anon),
        mib(after.file)
    );
    println!(
        "  status size (JSON):        min {} / median {} / max {} bytes; largest object {} bytes",
        thousands(status_sizes.first().copied().unwrap_or(0)),
        thousands(status_sizes[status_sizes.len() / 2]),
        thousands(status_sizes.last().copied().unwrap_or(0)),
        thousands(object_max)
    );
    println!(
        "  profile change to status:  {:.2} s, {} AWS calls (shared read reused); peak RSS then {:.1} MiB",
        change_latency.as_secs_f64(),
        change_calls,
        mib(peak_after_change)
    );
    drop(operator);
}
