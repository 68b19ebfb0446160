//! Scan benchmark: seeds moto with N REST APIs x S stages plus M v2 APIs (half HTTP,
//! half WebSocket, one stage and two routes each), runs `apigw-compliance scan` against
//! it, and prints AWS calls made versus the minimum the inventory needs, wall time, CPU
//! time and peak RSS of the scan process. Figures, not assertions.
//!
//! Run: `scripts/bench` (or `cargo bench --bench scan -- --rest 200 --stages 2 --v2 100`
//! with moto already running and APIGW_TEST_MOTO_URL set).

#[path = "../tests/support/mod.rs"]
mod support;

use std::time::Instant;

use aws_sdk_apigatewayv2::types::{AuthorizationType, LoggingLevel, ProtocolType};
use futures::{StreamExt, stream};
use support::seed::{self, V2StageSpec};

struct Sizes {
    rest: usize,
    stages: usize,
    v2: usize,
}

fn parse_sizes() -> Sizes {
    let mut sizes = Sizes {
        rest: 200,
        stages: 2,
        v2: 100,
    };
    let args: Vec<String> = std::env::args().collect();
    let mut i = 1;
    while i < args.len() {
        let value = || args.get(i + 1).and_then(|v| v.parse::<usize>().ok());
        match args[i].as_str() {
            "--rest" => sizes.rest = value().expect("--rest N"),
            "--stages" => sizes.stages = value().expect("--stages N"),
            "--v2" => sizes.v2 = value().expect("--v2 N"),
            // cargo bench passes `--bench`; ignore anything else.
            _ => {
                i += 1;
                continue;
            }
        }
        i += 2;
    }
    sizes
}

/// CPU seconds (user + system) and peak RSS in KiB of all waited-for children.
fn children_usage() -> (f64, i64) {
    // SAFETY: getrusage writes into the zeroed struct we own; RUSAGE_CHILDREN is valid.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        seconds(usage.ru_utime) + seconds(usage.ru_stime),
        usage.ru_maxrss,
    )
}

#[tokio::main]
async fn main() {
    let sizes = parse_sizes();
    let region = "us-east-1";
    let account = support::moto::new_account().await;
    let sdk = account.sdk_config(region);

    let seeding = Instant::now();
    stream::iter(0..sizes.rest)
        .for_each_concurrent(8, |i| {
            let sdk = sdk.clone();
            async move {
                let (api, deployment) = seed::rest_api(&sdk, &format!("bench-rest-{i}")).await;
                for s in 0..sizes.stages {
                    let patches: &[(&str, &str)] = if s % 2 == 0 {
                        seed::COMPLIANT_REST_PATCHES
                    } else {
                        &[]
                    };
                    seed::rest_stage(&sdk, &api, &deployment, &format!("stage{s}"), patches).await;
                }
            }
        })
        .await;
    stream::iter(0..sizes.v2)
        .for_each_concurrent(8, |i| {
            let sdk = sdk.clone();
            async move {
                let protocol = if i % 2 == 0 {
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

    // The minimum the inventory needs: one page of each list (500 per page), one
    // GetStages per REST API, one GetStages and one GetRoutes per v2 API.
    let pages = |n: usize| n.div_ceil(500).max(1);
    let minimum = pages(sizes.rest) + pages(sizes.v2) + sizes.rest + 2 * sizes.v2;

    account.reset_call_counts().await;
    let binary = std::env::var("APIGW_BENCH_BINARY")
        .unwrap_or_else(|_| env!("CARGO_BIN_EXE_apigw-compliance").to_string());
    let started = Instant::now();
    let output = std::process::Command::new(&binary)
        .args(["scan", "--region", region, "--output", "json"])
        .env_clear()
        .envs(account.env(region))
        .output()
        .expect("run the scan");
    let wall = started.elapsed();
    let (cpu, max_rss_kib) = children_usage();
    assert!(
        output.status.success(),
        "scan failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).expect("JSON report");
    let findings = report["findings"].as_array().map_or(0, Vec::len);
    let calls = account.call_counts().await.total;

    println!(
        "scan benchmark: {} REST APIs x {} stages + {} v2 APIs, one region",
        sizes.rest, sizes.stages, sizes.v2
    );
    println!("  seeding (not measured):   {:.1} s", seeded.as_secs_f64());
    println!(
        "  stages + routes scanned:  {}",
        sizes.rest * sizes.stages + sizes.v2 * 3
    );
    println!("  findings:                 {findings}");
    println!(
        "  AWS calls made / minimum: {calls} / {minimum} = {:.2}",
        calls as f64 / minimum as f64
    );
    println!("  wall time:                {:.3} s", wall.as_secs_f64());
    println!("  CPU time (user+sys):      {:.3} s", cpu);
    println!(
        "  peak RSS:                 {:.1} MiB",
        max_rss_kib as f64 / 1024.0
    );
}
