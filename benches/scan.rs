//! Scan benchmark: runs `apigw-compliance scan --output json` as a separate process
//! against moto and prints AWS calls made versus the minimum the inventory needs, wall
//! time, the scan's own CPU time and peak RSS. Figures, not assertions.
//!
//! Sections (all by default; name some to run only those):
//! - `--small`: N REST APIs x S stages plus M v2 APIs (half HTTP, half WebSocket, one
//!   stage and two routes each), seeded through the SDK, one region (`--rest N
//!   --stages S --v2 M`, default 200 x 2 + 100).
//! - `--estate`: 10,000 stages, REST, HTTP and WebSocket mixed, two regions, seeded in
//!   bulk (benches/common), scanned with the client-side limit raised out of the way.
//! - `--rate-limited`: a 253-call estate scanned with the default client-side limit
//!   (5 requests/s, burst 20) against moto enforcing API Gateway's own quota (10/s,
//!   burst 40): wall time against calls / allowed rate, and no throttling; then the
//!   same without the client-side limit, to show what it prevents.
//! - `--pacing`: what the client-side limit costs in CPU: a 503-call estate (200 REST
//!   APIs, 100 v2 APIs, seeded in bulk) scanned at the default limit and without it, in
//!   turn, `--runs R` times each (default 3); moto does not throttle. About 100 s a
//!   paced run.
//! - `--organization`: one profile over an AWS organization (`spec.scope.organization`,
//!   the whole organization) of `--accounts N` member accounts (default 50), each with
//!   100 REST stages (50 APIs x 2) in each of two regions, seeded in bulk; `scan
//!   --profile` as the management account, with the client-side limit raised out of the
//!   way and at the default limit: AWS calls by account and operation against the
//!   minimum, wall, CPU, peak RSS, findings and accounts. About a minute.
//!
//! Run: `scripts/bench` (or `cargo bench --bench scan -- --estate` with moto running
//! and APIGW_TEST_MOTO_URL set, or without: the test support starts one).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code asserts by panicking

#[path = "../tests/integration/support/mod.rs"]
mod support;

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Instant;

use apigw_compliance::pipeline::accounts::ACCOUNT_CONCURRENCY;
use aws_sdk_apigatewayv2::types::{AuthorizationType, LoggingLevel, ProtocolType};
use common::{Estate, Measured, mib, run_measured, thousands};
use futures::{StreamExt, stream};
use support::moto::{CallCounts, MotoAccount};
use support::operator::profile_yaml;
use support::organization::TestOrganization;
use support::seed::{self, V2StageSpec};

struct Args {
    small: bool,
    estate: bool,
    rate_limited: bool,
    pacing: bool,
    organization: bool,
    accounts: usize,
    runs: usize,
    rest: usize,
    stages: usize,
    v2: usize,
}

fn parse_args() -> Args {
    let mut args = Args {
        small: false,
        estate: false,
        rate_limited: false,
        pacing: false,
        organization: false,
        accounts: 50,
        runs: 3,
        rest: 200,
        stages: 2,
        v2: 100,
    };
    let argv: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < argv.len() {
        let value = || argv.get(i + 1).and_then(|v| v.parse::<usize>().ok());
        match argv[i].as_str() {
            "--small" => args.small = true,
            "--estate" => args.estate = true,
            "--rate-limited" => args.rate_limited = true,
            "--pacing" => args.pacing = true,
            "--organization" => args.organization = true,
            "--accounts" => {
                args.accounts = value().expect("--accounts N");
                i += 1;
            }
            "--runs" => {
                args.runs = value().expect("--runs N");
                i += 1;
            }
            "--rest" => {
                args.rest = value().expect("--rest N");
                i += 1;
            }
            "--stages" => {
                args.stages = value().expect("--stages N");
                i += 1;
            }
            "--v2" => {
                args.v2 = value().expect("--v2 N");
                i += 1;
            }
            // cargo bench passes `--bench`; ignore anything else.
            _ => {}
        }
        i += 1;
    }
    if !(args.small || args.estate || args.rate_limited || args.pacing || args.organization) {
        args.small = true;
        args.estate = true;
        args.rate_limited = true;
        args.pacing = true;
        args.organization = true;
    }
    args
}

fn binary() -> String {
    std::env::var("APIGW_BENCH_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_apigw-compliance").to_string())
}

/// Runs one scan of `regions` for `account`, with `extra` flags; panics if it fails.
fn scan(account: &MotoAccount, regions: &[String], extra: &[&str]) -> (Measured, usize) {
    let mut args = vec!["scan", "--output", "json"];
    for region in regions {
        args.extend(["--region", region.as_str()]);
    }
    args.extend(extra);
    let run = run_measured(&binary(), &args, &account.env(&regions[0]));
    assert!(
        run.success,
        "scan failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).expect("JSON report");
    assert_eq!(
        report["errors"].as_array().map_or(0, Vec::len),
        0,
        "the scan could not read everything: {}",
        report["errors"]
    );
    let findings = report["findings"].as_array().map_or(0, Vec::len);
    (run, findings)
}

fn print_run(run: &Measured, findings: usize, counts: &CallCounts, minimum: usize) {
    let calls = counts.api_gateway();
    println!("  findings:                 {}", thousands(findings));
    println!(
        "  API Gateway calls / minimum: {} / {} = {:.2}; other AWS calls {} (STS)",
        thousands(calls as usize),
        thousands(minimum),
        calls as f64 / minimum as f64,
        counts.total - calls
    );
    println!(
        "  wall time:                {:.2} s",
        run.wall.as_secs_f64()
    );
    println!("  CPU time (user+sys):      {:.2} s", run.cpu);
    println!(
        "  peak RSS:                 {:.1} MiB",
        run.max_rss_kib as f64 / 1024.0
    );
}

async fn small(rest: usize, stages: usize, v2: usize) {
    let region = "us-east-1";
    let account = support::moto::new_account().await;
    let sdk = account.sdk_config(region);
    let seeding = Instant::now();
    stream::iter(0..rest)
        .for_each_concurrent(8, |i| {
            let sdk = sdk.clone();
            async move {
                let (api, deployment) = seed::rest_api(&sdk, &format!("bench-rest-{i}")).await;
                for s in 0..stages {
                    let patches: &[(&str, &str)] = if s.is_multiple_of(2) {
                        seed::COMPLIANT_REST_PATCHES
                    } else {
                        &[]
                    };
                    seed::rest_stage(&sdk, &api, &deployment, &format!("stage{s}"), patches).await;
                }
            }
        })
        .await;
    stream::iter(0..v2)
        .for_each_concurrent(8, |i| {
            let sdk = sdk.clone();
            async move {
                let protocol = if i.is_multiple_of(2) {
                    ProtocolType::Http
                } else {
                    ProtocolType::Websocket
                };
                let api = seed::v2_api(&sdk, &format!("bench-v2-{i}"), protocol.clone()).await;
                let keys = if protocol == ProtocolType::Http {
                    ["GET /items", "POST /items"]
                } else {
                    ["$connect", "$default"]
                };
                seed::v2_route(&sdk, &api, keys[0], Some(AuthorizationType::AwsIam)).await;
                seed::v2_route(&sdk, &api, keys[1], None).await;
                seed::v2_stage(
                    &sdk,
                    &api,
                    "live",
                    V2StageSpec {
                        default_logging_level: (protocol == ProtocolType::Websocket)
                            .then_some(LoggingLevel::Info),
                        ..V2StageSpec::default()
                    },
                )
                .await;
            }
        })
        .await;
    let seeded = seeding.elapsed();

    let pages = |n: usize| n.div_ceil(500).max(1);
    // One page of each list and of the domain names, GetStages per REST API, GetStages,
    // GetRoutes and GetIntegrations per v2 API (APIGateway.10 is in the default set).
    let minimum = pages(rest) + pages(v2) + 1 + rest + 3 * v2;
    account.reset_call_counts().await;
    // As in the estate section, the client-side limit is raised out of the way.
    let (run, findings) = scan(
        &account,
        &[region.to_string()],
        &["--aws-rate-limit", "1000", "--aws-burst", "1000"],
    );
    let calls = account.call_counts().await;
    println!("scan, small: {rest} REST APIs x {stages} stages + {v2} v2 APIs, one region");
    println!(
        "  seeding (SDK, not measured): {:.1} s",
        seeded.as_secs_f64()
    );
    println!("  stages + routes scanned:  {}", rest * stages + v2 * 3);
    print_run(&run, findings, &calls, minimum);
}

async fn estate() {
    let estate = Estate::ten_thousand();
    let account = support::moto::new_account().await;
    let seeding = Instant::now();
    estate.seed(&account.endpoint_url, &account.account_id);
    let seeded = seeding.elapsed();
    account.reset_call_counts().await;
    // moto is local: the client-side limit (5/s by default) is raised out of the way,
    // so the figures are the scan's own (the rate-limited section shows the pacing).
    let (run, findings) = scan(
        &account,
        &estate.regions,
        &["--aws-rate-limit", "1000", "--aws-burst", "1000"],
    );
    let counts = account.call_counts().await;
    println!(
        "scan, estate: {} stages + {} routes (REST, HTTP, WebSocket; {} regions)",
        thousands(estate.stages()),
        thousands(estate.routes()),
        estate.regions.len()
    );
    println!(
        "  seeding (bulk, not measured): {:.1} s",
        seeded.as_secs_f64()
    );
    println!(
        "  findings expected:        {}",
        thousands(estate.findings_all_controls())
    );
    print_run(&run, findings, &counts, estate.minimum_calls());
    println!(
        "  CPU per 1,000 stages:     {:.0} ms (process start, TLS, signing, JSON parsing, evaluation, JSON output)",
        run.cpu * 1000.0 / (estate.stages() as f64 / 1000.0)
    );
}

async fn rate_limited() {
    let estate = Estate {
        regions: vec!["us-east-1".into()],
        rest_apis: 100,
        http_apis: 25,
        websocket_apis: 25,
        stages_per_api: 2,
    };
    let account = support::moto::new_account().await;
    estate.seed(&account.endpoint_url, &account.account_id);
    let minimum = estate.minimum_calls();
    // API Gateway's own quota, as moto enforces it for this account.
    account.set_rate_limit(10.0, 40.0).await;
    println!(
        "scan, rate-limited: {} calls, one region; moto enforcing API Gateway's quota (10/s, burst 40)",
        minimum
    );
    for (label, flags) in [
        ("client limit 5/s, burst 20 (default)", &[][..]),
        (
            "no client limit (--aws-rate-limit 0)",
            &["--aws-rate-limit", "0"][..],
        ),
    ] {
        account.reset_call_counts().await;
        let (run, findings) = scan(&account, &estate.regions, flags);
        let counts = account.call_counts().await;
        println!("  {label}:");
        println!(
            "    API Gateway calls / minimum: {} / {} = {:.2}, throttled (429): {}",
            counts.api_gateway(),
            minimum,
            counts.api_gateway() as f64 / minimum as f64,
            counts.throttled
        );
        if flags.is_empty() {
            let expected = (minimum as f64 - 20.0).max(0.0) / 5.0;
            println!(
                "    wall time:                {:.1} s (calls beyond the burst / rate = ({minimum} - 20) / 5 = {expected:.1} s)",
                run.wall.as_secs_f64()
            );
        } else {
            println!(
                "    wall time:                {:.1} s",
                run.wall.as_secs_f64()
            );
        }
        println!(
            "    findings:                 {findings}; CPU {:.2} s; peak RSS {:.1} MiB",
            run.cpu,
            mib(run.max_rss_kib.max(0) as u64)
        );
    }
    account.set_rate_limit(0.0, 0.0).await;
}

async fn pacing(runs: usize) {
    // The `--small` estate's APIs: one page of each list and of the domain names, one
    // GetStages per REST API, GetStages, GetRoutes and GetIntegrations per v2 API (v2
    // stages are two here, which makes no call more).
    let estate = Estate {
        regions: vec!["us-east-1".into()],
        rest_apis: 200,
        http_apis: 50,
        websocket_apis: 50,
        stages_per_api: 2,
    };
    let account = support::moto::new_account().await;
    estate.seed(&account.endpoint_url, &account.account_id);
    let minimum = estate.minimum_calls();
    println!(
        "scan, pacing: {minimum} calls, one region; CPU (user+sys) of the scan at the default client-side limit (5/s, burst 20) and without it"
    );
    let mut cpu: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    for round in 1..=runs.max(1) {
        for (i, (label, flags)) in [
            ("5/s, burst 20", &[][..]),
            ("no limit     ", &["--aws-rate-limit", "0"][..]),
        ]
        .into_iter()
        .enumerate()
        {
            account.reset_call_counts().await;
            let (run, _) = scan(&account, &estate.regions, flags);
            let calls = account.call_counts().await;
            assert_eq!(calls.throttled, 0, "moto does not throttle here");
            println!(
                "  run {round}, {label}: CPU {:.2} s, wall {:.1} s, {} API Gateway calls",
                run.cpu,
                run.wall.as_secs_f64(),
                calls.api_gateway()
            );
            cpu[i].push(run.cpu);
        }
    }
    for v in &mut cpu {
        v.sort_by(f64::total_cmp);
    }
    let median = |v: &[f64]| v[v.len() / 2];
    println!(
        "  CPU median (min-max): paced {:.2} s ({:.2}-{:.2}), unpaced {:.2} s ({:.2}-{:.2}); paced / unpaced = {:.2}",
        median(&cpu[0]),
        cpu[0][0],
        cpu[0][cpu[0].len() - 1],
        median(&cpu[1]),
        cpu[1][0],
        cpu[1][cpu[1].len() - 1],
        median(&cpu[0]) / median(&cpu[1])
    );
}

/// The member role the organization profile assumes in each account (moto lets any role
/// be assumed).
const MEMBER_ROLE: &str = "apigw-compliance-audit";

/// Accounts per ListAccounts page as moto answers it (its default MaxResults); AWS
/// returns at most 20 per page.
const MOTO_LIST_ACCOUNTS_PAGE: usize = 100;
const AWS_LIST_ACCOUNTS_PAGE: usize = 20;

/// What one `scan --profile` of the organization did, from its JSON report and moto's
/// per-account counts.
struct OrganizationRun {
    run: Measured,
    findings: usize,
    accounts_with_findings: usize,
    /// The management account's calls.
    management: CallCounts,
    /// Every member account's calls, summed by operation.
    members: BTreeMap<String, u64>,
    /// The largest GetCallerIdentity count of a single member.
    member_identity_checks_max: u64,
}

async fn scan_organization(
    org: &TestOrganization,
    selected: &[String],
    profile: &std::path::Path,
    extra: &[&str],
) -> OrganizationRun {
    // Counts are kept per account: read and reset them with the management account's
    // credentials naming each account (the control API keys them by the account named).
    let counted = |account: &str| MotoAccount {
        account_id: account.to_string(),
        ..org.management.clone()
    };
    for account in selected {
        counted(account).reset_call_counts().await;
    }
    let profile = profile.to_str().expect("a UTF-8 temp path");
    let mut args = vec!["scan", "--profile", profile, "--output", "json"];
    args.extend(extra);
    let run = run_measured(&binary(), &args, &org.management.env("us-east-1"));
    assert!(
        run.success,
        "scan --profile failed: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&run.stdout).expect("JSON report");
    assert_eq!(
        report["errors"].as_array().map_or(0, Vec::len),
        0,
        "the scan could not read everything: {}",
        report["errors"]
    );
    let findings = report["findings"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default();
    let accounts_with_findings = findings
        .iter()
        .filter_map(|f| f["accountId"].as_str())
        .collect::<BTreeSet<_>>()
        .len();
    let management = org.management.call_counts().await;
    let mut members: BTreeMap<String, u64> = BTreeMap::new();
    let mut member_identity_checks_max = 0;
    for account in selected.iter().filter(|a| *a != org.management_id()) {
        let counts = counted(account).call_counts().await;
        member_identity_checks_max =
            member_identity_checks_max.max(counts.get("sts:GetCallerIdentity"));
        for (op, n) in counts.calls {
            *members.entry(op).or_default() += n;
        }
    }
    OrganizationRun {
        findings: findings.len(),
        accounts_with_findings,
        run,
        management,
        members,
        member_identity_checks_max,
    }
}

async fn organization(accounts: usize) {
    // Each member: 100 REST stages (50 APIs x 2 stages) in each of two regions.
    let per_member = Estate {
        regions: vec!["us-east-1".into(), "eu-west-1".into()],
        rest_apis: 50,
        http_apis: 0,
        websocket_apis: 0,
        stages_per_api: 2,
    };
    // The management account is ACTIVE and listed, and the profile excludes nothing:
    // it is selected and scanned too, and holds no APIs.
    let management_estate = Estate {
        rest_apis: 0,
        ..per_member.clone()
    };
    let seeding = Instant::now();
    let org = TestOrganization::create(accounts, &[]).await;
    let members = org.member_ids();
    for id in &members {
        per_member.seed(&org.management.endpoint_url, id);
    }
    let seeded = seeding.elapsed();
    let mut selected = members.clone();
    selected.push(org.management_id().to_string());
    selected.sort();

    let dir = std::env::temp_dir().join(format!("apigw-bench-org-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let profile = dir.join("profile.yaml");
    let spec = format!(
        "  scope:\n    regions: [{}]\n    organization:\n      roleName: {MEMBER_ROLE}\n",
        per_member.regions.join(", ")
    );
    std::fs::write(&profile, profile_yaml("bench-org", &spec)).expect("write the profile");

    let inventory_minimum =
        members.len() * per_member.minimum_calls() + management_estate.minimum_calls();
    let list_pages = selected.len().div_ceil(MOTO_LIST_ACCOUNTS_PAGE).max(1);
    let aws_list_pages = selected.len().div_ceil(AWS_LIST_ACCOUNTS_PAGE).max(1);
    let minimum = list_pages + selected.len() + inventory_minimum;
    let per_region = per_member.minimum_calls() / per_member.regions.len();
    let rounds = members.len().div_ceil(ACCOUNT_CONCURRENCY);
    let paced_floor = rounds as f64 * (per_region as f64 - 20.0).max(0.0) / 5.0;

    println!(
        "scan, organization: {} member accounts x {} regions x {} REST stages ({} APIs x {}), one profile over the whole organization",
        members.len(),
        per_member.regions.len(),
        per_member.rest_apis * per_member.stages_per_api,
        per_member.rest_apis,
        per_member.stages_per_api
    );
    println!(
        "  organization + seeding (SDK + bulk, not measured): {:.1} s",
        seeded.as_secs_f64()
    );
    println!(
        "  accounts selected: {} ({} members + the management account, ACTIVE and listed, not excluded; it has no APIs)",
        selected.len(),
        members.len()
    );
    println!(
        "  stages: {}; findings expected: {}",
        thousands(members.len() * per_member.stages()),
        thousands(members.len() * per_member.findings_all_controls())
    );
    println!(
        "  minimum AWS calls: {} = ListAccounts {list_pages} (moto: {MOTO_LIST_ACCOUNTS_PAGE} per page; AWS: at most {AWS_LIST_ACCOUNTS_PAGE} per page, {aws_list_pages} pages) + AssumeRole {} + inventory {} ({} x {} + the management account's {})",
        thousands(minimum),
        selected.len(),
        thousands(inventory_minimum),
        members.len(),
        per_member.minimum_calls(),
        management_estate.minimum_calls()
    );
    for (label, flags) in [
        (
            "client-side limit raised (--aws-rate-limit 1000 --aws-burst 1000)",
            &["--aws-rate-limit", "1000", "--aws-burst", "1000"][..],
        ),
        (
            "default client-side limit (5/s, burst 20, per account and region)",
            &[][..],
        ),
    ] {
        let r = scan_organization(&org, &selected, &profile, flags).await;
        println!("  {label}:");
        println!(
            "    findings: {} in {} accounts",
            thousands(r.findings),
            r.accounts_with_findings
        );
        println!("    management account {}:", org.management_id());
        for (op, n) in &r.management.calls {
            println!("      {op:<40} {n}");
        }
        println!("    {} member accounts, summed:", members.len());
        for (op, n) in &r.members {
            println!("      {op:<40} {n}");
        }
        let api_gateway = r.management.api_gateway()
            + r.members
                .iter()
                .filter(|(op, _)| op.starts_with("apigateway"))
                .map(|(_, n)| n)
                .sum::<u64>();
        let identity_checks = r.management.get("sts:GetCallerIdentity")
            + r.members.get("sts:GetCallerIdentity").copied().unwrap_or(0);
        let total = r.management.total + r.members.values().sum::<u64>();
        let counted = r.management.get("organizations:ListAccounts")
            + r.management.get("sts:AssumeRole")
            + api_gateway;
        println!(
            "    ListAccounts + AssumeRole + API Gateway / minimum: {} / {} = {:.2}",
            thousands(counted as usize),
            thousands(minimum),
            counted as f64 / minimum as f64
        );
        println!(
            "    API Gateway / inventory minimum: {} / {} = {:.2}",
            thousands(api_gateway as usize),
            thousands(inventory_minimum),
            api_gateway as f64 / inventory_minimum as f64
        );
        println!(
            "    GetCallerIdentity (apart): {identity_checks} ({} in the management account, at most {} in one member); other calls: {}; all AWS calls: {}",
            r.management.get("sts:GetCallerIdentity"),
            r.member_identity_checks_max,
            total - counted - identity_checks,
            thousands(total as usize)
        );
        if flags.is_empty() {
            println!(
                "    wall time:                {:.1} s (pacing floor: ceil({} members / {ACCOUNT_CONCURRENCY} at once) x ({per_region} calls per region - 20) / 5 = {paced_floor:.1} s)",
                r.run.wall.as_secs_f64(),
                members.len()
            );
        } else {
            println!(
                "    wall time:                {:.2} s",
                r.run.wall.as_secs_f64()
            );
        }
        println!("    CPU time (user+sys):      {:.2} s", r.run.cpu);
        println!(
            "    peak RSS:                 {:.1} MiB",
            mib(r.run.max_rss_kib.max(0) as u64)
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    if common::runner_mode() {
        return;
    }
    tokio::runtime::Runtime::new()
        .expect("tokio runtime")
        .block_on(run());
}

async fn run() {
    let args = parse_args();
    if args.small {
        small(args.rest, args.stages, args.v2).await;
    }
    if args.estate {
        estate().await;
    }
    if args.rate_limited {
        rate_limited().await;
    }
    if args.pacing {
        pacing(args.runs).await;
    }
    if args.organization {
        organization(args.accounts).await;
    }
}
