//! Micro-benchmark of the pure engine, in process: an inventory of 10,000 stages (the
//! scan benchmark's estate: REST, HTTP and WebSocket, two regions) built in code, then
//! the CPU time of evaluating it, of a profile's whole reconcile computation on shared
//! reads (scope view, evaluation, exemptions, status), and of status building alone.
//! Figures, not assertions: the median of several rounds, as CPU time of this thread
//! per 1,000 stages.
//!
//! Run: `cargo bench --bench evaluate` (no emulator needed), or `scripts/bench`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code asserts by panicking

mod common;

use std::collections::BTreeMap;

use apigw_compliance::controller::status::{self, ScanResult};
use apigw_compliance::controls::{ControlParameters, all_ids};
use apigw_compliance::crd::{ComplianceProfile, ComplianceProfileSpec};
use apigw_compliance::inventory::{
    AccessLogSettings, DomainName, Integration, Inventory, MethodSetting, RegionInventory, RestApi,
    RestStage, Route, TlsConfig, V2Api, V2Stage,
};
use apigw_compliance::model::V2Protocol;
use apigw_compliance::pipeline::Scan;
use apigw_compliance::pipeline::evaluate::evaluate;
use common::{Estate, STAGE_NAMES, TEAMS, thousands};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
use k8s_openapi::jiff::Timestamp;

const ROUNDS: usize = 15;

fn tags(pairs: &[(&str, String)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect()
}

/// One region of the estate, as the AWS reader would have filled it.
fn region(estate: &Estate, name: &str) -> RegionInventory {
    let stage_name = |s: usize| STAGE_NAMES[s % STAGE_NAMES.len()].to_string();
    let setting = |level: &str, caching: bool| MethodSetting {
        logging_level: Some(level.to_string()),
        caching_enabled: caching,
        cache_data_encrypted: false,
    };
    let rest_apis = (0..estate.rest_apis)
        .map(|i| RestApi {
            id: format!("r{i:09}"),
            name: format!("bench-rest-{i}"),
            tags: tags(&[
                ("team", format!("team-{}", i % TEAMS)),
                ("cost-center", "cc-1".into()),
            ]),
            http_integration: None,
            stages: (0..estate.stages_per_api)
                .map(|s| {
                    let compliant = (i + s).is_multiple_of(2);
                    let mut method_settings = BTreeMap::new();
                    if compliant {
                        method_settings.insert("*/*".to_string(), setting("INFO", false));
                        method_settings.insert("~1orders/GET".to_string(), setting("ERROR", false));
                    } else {
                        method_settings.insert("*/*".to_string(), setting("OFF", false));
                        method_settings.insert("~1orders/GET".to_string(), setting("OFF", true));
                    }
                    RestStage {
                        name: stage_name(s),
                        method_settings,
                        tracing_enabled: compliant,
                        client_certificate_id: None,
                        web_acl_arn: None,
                        cache_cluster_enabled: false,
                        access_log: compliant.then(access_log),
                        tags: tags(&[("env", stage_name(s))]),
                    }
                })
                .collect(),
        })
        .collect();
    let v2 = |i: usize, protocol: V2Protocol| {
        let websocket = protocol == V2Protocol::WebSocket;
        let kind = if websocket { "ws" } else { "http" };
        let id = format!("{kind}{i:06}");
        let (first, second, auth) = if websocket {
            ("$connect", "$default", "AWS_IAM")
        } else {
            ("GET /items", "POST /items", "JWT")
        };
        V2Api {
            name: format!("bench-{kind}-{i}"),
            protocol,
            tags: tags(&[("team", format!("team-{}", i % TEAMS))]),
            stages: (0..estate.stages_per_api)
                .map(|s| {
                    let compliant = (i + s).is_multiple_of(2);
                    V2Stage {
                        name: stage_name(s),
                        default_logging_level: (websocket && compliant).then(|| "INFO".to_string()),
                        route_logging_levels: BTreeMap::new(),
                        access_log: compliant.then(access_log),
                        auto_deploy: false,
                        tags: tags(&[("env", stage_name(s))]),
                    }
                })
                .collect(),
            routes: vec![
                Route {
                    id: format!("{id}a"),
                    route_key: first.into(),
                    authorization_type: Some(auth.into()),
                },
                Route {
                    id: format!("{id}b"),
                    route_key: second.into(),
                    authorization_type: None,
                },
            ],
            integrations: vec![
                Integration {
                    id: format!("{id}i"),
                    integration_type: Some("HTTP_PROXY".into()),
                    connection_type: Some("VPC_LINK".into()),
                    uri: Some("arn:aws:elasticloadbalancing:us-east-1:123456789012:listener/app/orders/1/2".into()),
                    tls: i.is_multiple_of(2).then(|| TlsConfig {
                        server_name_to_verify: Some("orders.internal.example.com".into()),
                    }),
                },
                Integration {
                    id: format!("{id}j"),
                    integration_type: Some("AWS_PROXY".into()),
                    connection_type: None,
                    uri: Some("arn:aws:lambda:us-east-1:123456789012:function:orders".into()),
                    tls: None,
                },
            ],
            id,
        }
    };
    RegionInventory {
        region: name.to_string(),
        rest_apis,
        v2_apis: (0..estate.http_apis)
            .map(|i| v2(i, V2Protocol::Http))
            .chain((0..estate.websocket_apis).map(|i| v2(i, V2Protocol::WebSocket)))
            .collect(),
        domain_names: (0..estate.domain_names())
            .map(|i| DomainName {
                name: format!("api-{i}.example.com"),
                security_policy: Some(
                    if i.is_multiple_of(2) {
                        "TLS_1_2"
                    } else {
                        "SecurityPolicy_TLS13_1_3_2025_09"
                    }
                    .into(),
                ),
                endpoint_types: vec!["REGIONAL".into()],
                tags: tags(&[("team", format!("team-{}", i % TEAMS))]),
            })
            .collect(),
    }
}

/// Access logs that pass APIGateway.9 and the REST access logging check.
fn access_log() -> AccessLogSettings {
    AccessLogSettings {
        destination_arn: Some("arn:aws:logs:us-east-1:123456789012:log-group:api-access".into()),
        format: Some("$context.requestId $context.status".into()),
    }
}

fn spec(scope: &str) -> ComplianceProfileSpec {
    ComplianceProfile::from_manifest(&format!(
        "apiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata: {{name: bench}}\nspec:\n  scope: {scope}\n  exemptions:\n    - {{control: APIGateway.4, resourceArnGlob: 'arn:aws:apigateway:*::/restapis/r00000000*/stages/*', reason: bench}}\n"
    ))
    .expect("benchmark profile is valid")
    .spec
}

/// CPU seconds this thread has used (the engine is single-threaded), from the
/// per-thread CPU clock: getrusage's figures move in scheduler ticks (4 ms here).
fn thread_cpu() -> f64 {
    // SAFETY: clock_gettime writes into the zeroed timespec we own; the clock id is
    // valid on Linux.
    let time = unsafe {
        let mut time: libc::timespec = std::mem::zeroed();
        libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut time);
        time
    };
    time.tv_sec as f64 + time.tv_nsec as f64 / 1e9
}

/// Median CPU milliseconds of `f` over [`ROUNDS`] rounds (after one warm-up round).
fn median_ms<T>(mut f: impl FnMut() -> T) -> (f64, T) {
    let mut last = f();
    let mut samples = Vec::with_capacity(ROUNDS);
    for _ in 0..ROUNDS {
        let before = thread_cpu();
        last = std::hint::black_box(f());
        samples.push((thread_cpu() - before) * 1000.0);
    }
    samples.sort_by(f64::total_cmp);
    (samples[ROUNDS / 2], last)
}

fn line(label: &str, ms: f64, stages: usize, what: &str) {
    println!(
        "  {label:<44} {ms:>7.1} ms  = {:>5.2} ms per 1,000 stages  ({what})",
        ms / (stages as f64 / 1000.0)
    );
}

fn main() {
    let estate = Estate::ten_thousand();
    let before = common::process_figures(std::process::id()).map_or(0, |f| f.anon);
    let reads: Vec<Inventory> = estate
        .regions
        .iter()
        .map(|name| Inventory {
            regions: vec![region(&estate, name)],
            errors: Vec::new(),
        })
        .collect();
    let inventory_kib = common::process_figures(std::process::id())
        .map_or(0, |f| f.anon)
        .saturating_sub(before);
    let merged = Inventory {
        regions: reads.iter().flat_map(|r| r.regions.clone()).collect(),
        errors: Vec::new(),
    };
    let stages = estate.stages();
    let params = ControlParameters::default();
    println!(
        "evaluation micro-benchmark: {} stages + {} routes in code, median of {ROUNDS} rounds, CPU time",
        thousands(stages),
        thousands(estate.routes())
    );

    println!(
        "  the inventory in memory: {:.1} MiB (growth of this process's anonymous memory while building it)",
        common::mib(inventory_kib)
    );
    let (ms, evaluated) =
        median_ms(|| evaluate(&merged.regions, Some("123456789012"), &all_ids(), &params));
    line(
        "evaluate, every control of the catalog",
        ms,
        stages,
        &format!("{} findings", thousands(evaluated.len())),
    );

    let now = Timestamp::UNIX_EPOCH;
    let wall = Time(now);
    let whole = spec("{regions: [us-east-1, eu-west-1]}");
    let whole_scan = Scan::new(whole.clone()).expect("the profile is valid");
    let (ms, _) = median_ms(|| {
        let verdicts = whole_scan.evaluate(&reads, Some("123456789012"), now);
        let exempted = verdicts.exemptions.exempted_findings;
        let scan = ScanResult {
            findings: verdicts.findings,
            read_errors: verdicts.errors,
            read_anything: verdicts.read_anything,
            expired_exemptions: Vec::new(),
            account: Some("123456789012".into()),
            accounts: Vec::new(),
            regions: whole.scope.regions.clone(),
        };
        let status = status::scanned(None, Some(1), whole.remediation.mode, &scan, &wall, &wall);
        (status, exempted)
    });
    line(
        "profile on shared reads, whole regions",
        ms,
        stages,
        "scope view (borrowed), evaluation, exemptions, status",
    );

    let team = spec("{regions: [us-east-1, eu-west-1], tags: {include: {team: team-3}}}");
    let team_scan = Scan::new(team.clone()).expect("the profile is valid");
    let in_scope = stages / TEAMS;
    let (ms, (findings, _)) = median_ms(|| {
        let verdicts = team_scan.evaluate(&reads, Some("123456789012"), now);
        let scan = ScanResult {
            findings: verdicts.findings,
            read_errors: verdicts.errors,
            read_anything: verdicts.read_anything,
            expired_exemptions: Vec::new(),
            account: None,
            accounts: Vec::new(),
            regions: team.scope.regions.clone(),
        };
        let status = status::scanned(None, Some(1), team.remediation.mode, &scan, &wall, &wall);
        (scan.findings.len(), status)
    });
    line(
        "profile on shared reads, one team's tag",
        ms,
        in_scope,
        &format!(
            "{} of {} stages in scope (copied), {} findings",
            thousands(in_scope),
            thousands(stages),
            thousands(findings)
        ),
    );

    let scan = ScanResult {
        findings: evaluated,
        read_errors: Vec::new(),
        read_anything: true,
        expired_exemptions: Vec::new(),
        account: None,
        accounts: Vec::new(),
        regions: estate.regions.clone(),
    };
    let (ms, built) =
        median_ms(|| status::scanned(None, Some(1), whole.remediation.mode, &scan, &wall, &wall));
    let size = serde_json::to_vec(&built).map_or(0, |json| json.len());
    line(
        "status from the findings",
        ms,
        stages,
        &format!("{} bytes of status JSON", thousands(size)),
    );
}
