//! Change-events benchmark: the `apigw-compliance run` binary against the local
//! kube-apiserver (tests/control-plane) and moto, with the 10,000-stage estate in one
//! account, three overlapping hourly profiles (so only events change verdicts) and
//! `--change-events-queue-url` on a moto SQS queue. moto's API Gateway emits no
//! CloudTrail events, so the bench sends the records itself, shaped as EventBridge
//! delivers them. After the first scans it measures:
//!
//! 1. event to status, one event at a time: 200 real changes (a REST stage's
//!    tracingEnabled toggled, across both regions' APIs), each followed by its
//!    UpdateStage event, timed from the send until the operator counts it applied
//!    (`apigw_compliance_change_events_applied_total`: every covering profile's status
//!    written);
//! 2. the API Gateway calls the operator made for those 200 events, against one sweep
//!    of the estate;
//! 3. the operator's CPU and RSS while it consumes 100 events/s for 20 s over 100
//!    stages, and the re-reads (GetStage) those 2,000 events cost.
//!
//! Figures, not assertions. moto's SQS answers more slowly the more messages its queue
//! holds (docs/benchmarks.md has the figures), so once a backlog forms the load section
//! measures moto as much as the operator: the send latencies and the operator's groups
//! (from its debug log) printed with it show when that happened.
//!
//! Run: `scripts/bench events` (or `cargo bench --bench events` with APIGW_TEST_MOTO_URL
//! and APIGW_TEST_KUBECONFIG set; without them the test support starts its own).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)] // test code asserts by panicking

#[path = "../tests/integration/support/mod.rs"]
mod support;

mod common;

use std::time::{Duration, Instant};

use apigw_compliance::crd::ComplianceProfile;
use aws_sdk_apigateway::types::{Op, PatchOperation};
use aws_sdk_sqs::types::SendMessageBatchRequestEntry;
use common::{Estate, mib, process_figures, thousands};
use kube::api::{Api, ListParams};
use serde_json::json;
use support::cluster;
use support::operator::{Operator, Scrape, apply, client_with_crd, profile_yaml};

/// Events of the latency section, one at a time.
const LATENCY_EVENTS: usize = 200;
/// The load section: this many events per second for this many seconds, sent in
/// batches of ten, over this many stages.
const RATE: usize = 100;
const SECONDS: usize = 20;
const LOAD_STAGES: usize = 100;
/// The first scans of the estate.
const FIRST_SCANS: Duration = Duration::from_secs(900);
/// One event's verdict.
const EVENT_WAIT: Duration = Duration::from_secs(120);
/// The load's backlog.
const CATCH_UP: Duration = Duration::from_secs(600);
const APPLIED: &str = "apigw_compliance_change_events_applied_total";
const RECEIVED: &str = "apigw_compliance_change_events_received_total";
const LATENCY_COUNT: &str = "apigw_compliance_change_event_latency_seconds_count";
const LATENCY_SUM: &str = "apigw_compliance_change_event_latency_seconds_sum";

/// Three overlapping views of the account, checked hourly: within the bench only the
/// events change their verdicts.
fn profiles() -> Vec<(&'static str, &'static str)> {
    vec![
        (
            "platform-all",
            "  scope: {regions: [us-east-1, eu-west-1]}\n  interval: 1h\n",
        ),
        (
            "team-3",
            "  scope:\n    regions: [us-east-1, eu-west-1]\n    tags: {include: {team: team-3}}\n  interval: 1h\n",
        ),
        (
            "control-tracing",
            "  scope: {regions: [us-east-1, eu-west-1]}\n  controls: {enabled: [APIGateway.3]}\n  interval: 1h\n",
        ),
    ]
}

fn scanned(p: &ComplianceProfile) -> bool {
    p.status.as_ref().is_some_and(|s| {
        s.observed_generation == p.metadata.generation
            && s.last_scan_time.is_some()
            && s.condition("Reconciling").is_none()
    })
}

/// One REST stage of the estate, as the SDK listed it.
#[derive(Clone, Debug)]
struct Stage {
    region: String,
    api_id: String,
    name: String,
    tracing: bool,
}

/// "AWS API Call via CloudTrail" for UpdateStage of `stage`, as EventBridge delivers it
/// to SQS (the envelope of tests/integration/change_events.rs).
fn update_stage_event(account: &str, stage: &Stage, n: usize) -> String {
    json!({
        "version": "0",
        "id": format!("00000000-0000-4000-8000-{n:012}"),
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.apigateway",
        "account": account,
        "time": "2026-12-03T12:00:00Z",
        "region": stage.region,
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "eventTime": "2026-12-03T12:00:00Z",
            "eventSource": "apigateway.amazonaws.com",
            "eventName": "UpdateStage",
            "awsRegion": stage.region,
            "recipientAccountId": account,
            "requestParameters": {"restApiId": stage.api_id, "stageName": stage.name},
            "responseElements": null,
            "readOnly": false,
            "eventType": "AwsApiCall",
        }
    })
    .to_string()
}

/// The REST stages of the first `apis` REST APIs (by their index in the estate) of
/// `region`, listed with GetRestApis and GetStages.
async fn rest_stages(
    client: &aws_sdk_apigateway::Client,
    region: &str,
    apis: usize,
) -> Vec<Vec<Stage>> {
    let listed = client
        .get_rest_apis()
        .limit(500)
        .send()
        .await
        .expect("GetRestApis");
    let mut ids: Vec<(usize, String)> = listed
        .items()
        .iter()
        .filter_map(|a| {
            let index = a.name()?.strip_prefix("bench-rest-")?.parse().ok()?;
            Some((index, a.id()?.to_string()))
        })
        .collect();
    ids.sort();
    let mut out = Vec::new();
    for (_, api_id) in ids.into_iter().take(apis) {
        let stages = client
            .get_stages()
            .rest_api_id(&api_id)
            .send()
            .await
            .expect("GetStages");
        let mut stages: Vec<Stage> = stages
            .item()
            .iter()
            .filter_map(|s| {
                Some(Stage {
                    region: region.to_string(),
                    api_id: api_id.clone(),
                    name: s.stage_name()?.to_string(),
                    tracing: s.tracing_enabled(),
                })
            })
            .collect();
        // The estate's order: prod, staging, dev, ...
        stages.sort_by_key(|s| {
            common::STAGE_NAMES
                .iter()
                .position(|n| *n == s.name)
                .unwrap_or(usize::MAX)
        });
        out.push(stages);
    }
    out
}

/// The sum of every series of a labelled counter (`name{...} value`).
fn sum_labelled(scrape: &Scrape, name: &str) -> f64 {
    let prefix = format!("{name}{{");
    scrape
        .0
        .lines()
        .filter(|l| l.starts_with(&prefix))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum()
}

/// The last part of the operator's log, for a panic message.
fn log_tail(operator: &Operator) -> String {
    let log = operator.log();
    let start = log.len().saturating_sub(6000);
    let start = (start..log.len())
        .find(|&i| log.is_char_boundary(i))
        .unwrap_or(log.len());
    log[start..].to_string()
}

/// The tracing profile's failing findings (all APIGateway.3, one per failing REST stage).
async fn tracing_failed(api: &Api<ComplianceProfile>) -> Option<u32> {
    let p = api
        .get("control-tracing")
        .await
        .expect("get control-tracing");
    Some(p.status?.summary?.failed)
}

/// Resets the process's peak RSS (VmHWM) to its current RSS; false when not allowed.
fn reset_peak(pid: u32) -> bool {
    std::fs::write(format!("/proc/{pid}/clear_refs"), "5").is_ok()
}

/// The consumer's "change events applied" debug lines in `log`: (events, re-reads) of
/// each group (one per account and region of a round).
fn applied_groups(log: &str) -> Vec<(usize, usize)> {
    let field = |line: &str, name: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(name)?.parse::<usize>().ok())
    };
    log.lines()
        .filter(|l| l.contains("change events applied"))
        .filter_map(|l| Some((field(l, "events=")?, field(l, "reads=")?)))
        .collect()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[tokio::main]
async fn main() {
    let estate = Estate::ten_thousand();
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "bench-events").await;
    let plane = cluster::shared();
    let account = support::moto::new_account().await;
    let seeding = Instant::now();
    estate.seed(&account.endpoint_url, &account.account_id);
    let seeded = seeding.elapsed();

    let sqs = aws_sdk_sqs::Client::new(&account.sdk_config("us-east-1"));
    let queue_url = sqs
        .create_queue()
        .queue_name("apigw-change-events")
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("a queue URL")
        .to_string();

    // moto is local: the client-side limit is raised out of the way, as in the operator
    // benchmark. Debounce and visibility stay at their defaults.
    let mut operator = Operator::watching(&namespace, &account)
        .args([
            "--aws-rate-limit",
            "1000",
            "--aws-burst",
            "1000",
            "--change-events-queue-url",
            queue_url.as_str(),
        ])
        // Quiet, but for the info line the harness reads the HTTP address from, and the
        // consumer's one line per applied group of events (events and re-reads).
        .envs([(
            "RUST_LOG",
            "warn,apigw_compliance=info,apigw_compliance::controller::changes=debug",
        )]);
    if let Ok(binary) = std::env::var("APIGW_BENCH_BINARY") {
        operator = operator.binary(binary);
    }
    let operator = operator.start().await;
    operator.wait_ready(Duration::from_secs(60)).await;
    let pid = operator.pid();

    // The first scans.
    account.reset_call_counts().await;
    let yaml: String = profiles()
        .iter()
        .map(|(name, spec)| profile_yaml(name, spec))
        .collect();
    let api: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    let started = Instant::now();
    apply(plane, &namespace, &yaml);
    loop {
        let list = api.list(&ListParams::default()).await.expect("list");
        if list.items.len() == profiles().len() && list.items.iter().all(scanned) {
            break;
        }
        assert!(
            started.elapsed() < FIRST_SCANS,
            "the first scans did not finish in {FIRST_SCANS:?}; log:\n{}",
            log_tail(&operator)
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let first_scans = started.elapsed();
    let first_calls = account.call_counts().await.api_gateway();
    let list = api.list(&ListParams::default()).await.expect("list");
    let evaluated: u64 = list
        .items
        .iter()
        .filter_map(|p| p.status.as_ref()?.summary.as_ref())
        .map(|s| u64::from(s.evaluated))
        .sum();

    // The stages the bench changes: listed through the SDK before the counts are reset.
    let apigw: Vec<(String, aws_sdk_apigateway::Client)> = estate
        .regions
        .iter()
        .map(|r| {
            (
                r.clone(),
                aws_sdk_apigateway::Client::new(&account.sdk_config(r)),
            )
        })
        .collect();
    let mut listed = Vec::new();
    for (region, client) in &apigw {
        listed.push(rest_stages(client, region, estate.rest_apis).await);
    }
    // Event k: region k % 2, REST API 2 x (k / 2) of it (every other API of the estate),
    // stage (k / 2) % 10: 200 different stages, across both regions and every team.
    let mut stages: Vec<Stage> = (0..LATENCY_EVENTS)
        .map(|k| {
            let region = k % listed.len();
            let j = k / listed.len();
            let apis = &listed[region];
            let stages = &apis[(2 * j) % apis.len()];
            stages[j % stages.len()].clone()
        })
        .collect();
    let apigw_of = |region: &str| {
        &apigw
            .iter()
            .find(|(r, _)| r == region)
            .expect("a client per region")
            .1
    };

    // 1. Event to status, one event at a time.
    let idle = process_figures(pid).expect("operator figures");
    let before_latency = Scrape(operator.metrics());
    account.reset_call_counts().await;
    let mut latencies = Vec::with_capacity(LATENCY_EVENTS);
    let mut updates = Vec::with_capacity(LATENCY_EVENTS);
    let mut scrapes = 0usize;
    let mut expected_failed = tracing_failed(&api)
        .await
        .expect("the tracing profile's summary");
    let mut flipped = 0usize;
    let latency_started = Instant::now();
    for (n, stage) in stages.iter_mut().enumerate() {
        stage.tracing = !stage.tracing;
        let update = Instant::now();
        apigw_of(&stage.region)
            .update_stage()
            .rest_api_id(&stage.api_id)
            .stage_name(&stage.name)
            .patch_operations(
                PatchOperation::builder()
                    .op(Op::Replace)
                    .path("/tracingEnabled")
                    .value(stage.tracing.to_string())
                    .build(),
            )
            .send()
            .await
            .expect("UpdateStage");
        updates.push(update.elapsed());
        let applied = operator.metric(APPLIED);
        scrapes += 1;
        let sent = Instant::now();
        sqs.send_message()
            .queue_url(&queue_url)
            .message_body(update_stage_event(&account.account_id, stage, n))
            .send()
            .await
            .expect("SendMessage");
        loop {
            scrapes += 1;
            if operator.metric(APPLIED) > applied {
                break;
            }
            assert!(
                sent.elapsed() < EVENT_WAIT,
                "event {n} ({stage:?}) not applied after {EVENT_WAIT:?}; /metrics:\n{}\nlog:\n{}",
                operator.metrics(),
                log_tail(&operator)
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        latencies.push(sent.elapsed());
        // The verdict in status: one failing finding fewer when tracing was turned on.
        if stage.tracing {
            expected_failed -= 1;
        } else {
            expected_failed += 1;
        }
        let failed = tracing_failed(&api)
            .await
            .expect("the tracing profile's summary");
        if failed == expected_failed {
            flipped += 1;
        }
        expected_failed = failed;
    }
    let latency_wall = latency_started.elapsed();
    let after_latency_figures = process_figures(pid).expect("operator figures");
    let after_latency = Scrape(operator.metrics());
    let latency_calls = account.call_counts().await;
    latencies.sort();
    updates.sort();
    // What the bench's own polling cost the operator: CPU per /metrics scrape.
    const SCRAPES: usize = 500;
    let scrape_before = process_figures(pid).expect("operator figures");
    for _ in 0..SCRAPES {
        operator.metrics();
    }
    let scrape_cpu =
        (process_figures(pid).expect("operator figures").cpu - scrape_before.cpu) / SCRAPES as f64;

    // 3. 100 events/s for 20 s, batches of ten, each event on one of 100 stages (of both
    // regions) picked at random (fixed seed); nothing changes in AWS. Each batch is sent
    // on a task of its own, so a slow answer from moto does not lower the rate offered.
    let load: Vec<Stage> = stages.iter().take(LOAD_STAGES).cloned().collect();
    let mut seed: u64 = 0x9E37_79B9_7F4A_7C15;
    let picks: Vec<usize> = (0..RATE * SECONDS)
        .map(|_| {
            // xorshift64
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % load.len() as u64) as usize
        })
        .collect();
    let log_before_load = operator.log().len();
    account.reset_call_counts().await;
    let before_load = Scrape(operator.metrics());
    let applied_before = before_load.value(APPLIED);
    let peak_reset = reset_peak(pid);
    let load_before = process_figures(pid).expect("operator figures");
    let mut sampled_peak = load_before.rss;
    let total = RATE * SECONDS;
    let batches = total / 10;
    let mut ticks = tokio::time::interval(Duration::from_secs(1) / (RATE / 10) as u32);
    let load_started = Instant::now();
    let mut sends = Vec::with_capacity(batches);
    for batch in 0..batches {
        ticks.tick().await;
        let entries: Vec<SendMessageBatchRequestEntry> = (0..10)
            .map(|i| {
                let n = batch * 10 + i;
                SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(update_stage_event(
                        &account.account_id,
                        &load[picks[n]],
                        LATENCY_EVENTS + n,
                    ))
                    .build()
                    .expect("entry")
            })
            .collect();
        let (sqs, url) = (sqs.clone(), queue_url.clone());
        sends.push(tokio::spawn(async move {
            let started = Instant::now();
            let sent = sqs
                .send_message_batch()
                .queue_url(url)
                .set_entries(Some(entries))
                .send()
                .await
                .expect("SendMessageBatch");
            assert!(sent.failed().is_empty(), "{:?}", sent.failed());
            started.elapsed()
        }));
        if let Some(f) = process_figures(pid) {
            sampled_peak = sampled_peak.max(f.rss);
        }
    }
    let offered = load_started.elapsed();
    let mut send_latencies = Vec::with_capacity(batches);
    for send in sends {
        send_latencies.push(send.await.expect("a send task"));
    }
    send_latencies.sort();
    let sending = load_started.elapsed();
    let load_sent = process_figures(pid).expect("operator figures");
    let backlog_at_end = total as f64 - (operator.metric(APPLIED) - applied_before);
    loop {
        let applied = operator.metric(APPLIED) - applied_before;
        if applied >= total as f64 {
            break;
        }
        assert!(
            load_started.elapsed() < CATCH_UP,
            "{applied} of {total} events applied after {CATCH_UP:?}; /metrics:\n{}\nlog:\n{}",
            operator.metrics(),
            log_tail(&operator)
        );
        if let Some(f) = process_figures(pid) {
            sampled_peak = sampled_peak.max(f.rss);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let caught_up = load_started.elapsed();
    let load_after = process_figures(pid).expect("operator figures");
    let after_load = Scrape(operator.metrics());
    let load_calls = account.call_counts().await;
    let distinct = {
        let mut p = picks.clone();
        p.sort_unstable();
        p.dedup();
        p.len()
    };
    let groups = applied_groups(&operator.log()[log_before_load..]);

    // Print.
    let minimum = estate.minimum_calls();
    println!(
        "change-events benchmark: {} stages + {} routes, {} regions, one account; {} hourly profiles; one SQS queue (debounce 300 ms, the default)",
        thousands(estate.stages()),
        thousands(estate.routes()),
        estate.regions.len(),
        profiles().len()
    );
    println!(
        "  seeding (bulk, not measured): {:.1} s",
        seeded.as_secs_f64()
    );
    println!(
        "  first scans:               {:.2} s, {} API Gateway calls, {} findings across the 3 statuses",
        first_scans.as_secs_f64(),
        thousands(first_calls as usize),
        thousands(evaluated as usize)
    );

    let own_updates = latency_calls.get("apigateway:UpdateStage");
    let operator_reads = latency_calls.api_gateway() - own_updates;
    let reads: Vec<String> = latency_calls
        .calls
        .iter()
        .filter(|(op, n)| {
            op.starts_with("apigateway") && *op != "apigateway:UpdateStage" && **n > 0
        })
        .map(|(op, n)| format!("{op} {n}"))
        .collect();
    let hist_count = after_latency.value(LATENCY_COUNT) - before_latency.value(LATENCY_COUNT);
    let hist_sum = after_latency.value(LATENCY_SUM) - before_latency.value(LATENCY_SUM);
    let mean_ms = |sum: f64, count: f64| {
        if count > 0.0 {
            sum / count * 1000.0
        } else {
            0.0
        }
    };
    println!(
        "  event to status, one at a time ({LATENCY_EVENTS} UpdateStage events, tracingEnabled toggled; {:.1} s in all):",
        latency_wall.as_secs_f64()
    );
    println!(
        "    send -> applied counted: median {:.0} ms, p99 {:.0} ms, max {:.0} ms (min {:.0} ms)",
        ms(percentile(&latencies, 0.5)),
        ms(percentile(&latencies, 0.99)),
        ms(*latencies.last().expect("latencies")),
        ms(latencies[0])
    );
    println!(
        "    operator's histogram:    {hist_count} events, mean {:.0} ms (SQS SentTimestamp -> status written)",
        mean_ms(hist_sum, hist_count)
    );
    println!(
        "    verdict in status:       {flipped} / {LATENCY_EVENTS} events moved control-tracing's failed count by exactly one"
    );
    println!(
        "    moto, for scale:         the bench's own UpdateStage median {:.1} ms, max {:.1} ms",
        ms(percentile(&updates, 0.5)),
        ms(*updates.last().expect("updates"))
    );
    let latency_cpu = after_latency_figures.cpu - idle.cpu;
    let polling_cpu = scrape_cpu * scrapes as f64;
    println!(
        "    operator CPU:            {latency_cpu:.2} s, of which the bench's {scrapes} /metrics scrapes about {polling_cpu:.2} s ({:.2} ms each): {:.1} ms per event without them",
        scrape_cpu * 1000.0,
        (latency_cpu - polling_cpu) * 1000.0 / LATENCY_EVENTS as f64
    );
    println!(
        "  API Gateway calls per event: {} / {LATENCY_EVENTS} = {:.2} ({}; the bench's own {own_updates} UpdateStage excluded); one sweep of the estate: {}",
        operator_reads,
        operator_reads as f64 / LATENCY_EVENTS as f64,
        if reads.is_empty() {
            "none".to_string()
        } else {
            reads.join(", ")
        },
        thousands(minimum)
    );

    let load_cpu = load_after.cpu - load_before.cpu;
    let sending_cpu = load_sent.cpu - load_before.cpu;
    let load_hist_count = after_load.value(LATENCY_COUNT) - before_load.value(LATENCY_COUNT);
    let load_hist_sum = after_load.value(LATENCY_SUM) - before_load.value(LATENCY_SUM);
    let ignored = sum_labelled(&after_load, "apigw_compliance_change_events_ignored_total")
        - sum_labelled(&before_load, "apigw_compliance_change_events_ignored_total");
    let queue_errors = sum_labelled(&after_load, "apigw_compliance_change_queue_errors_total")
        - sum_labelled(&before_load, "apigw_compliance_change_queue_errors_total");
    let load_reads: Vec<String> = load_calls
        .calls
        .iter()
        .filter(|(op, n)| op.starts_with("apigateway") && **n > 0)
        .map(|(op, n)| format!("{op} {n}"))
        .collect();
    let get_stage = load_calls.get("apigateway:GetStage");
    println!(
        "  load: {} events at {RATE}/s for {SECONDS} s ({batches} SendMessageBatch of 10, one task each, all started in {:.1} s, all answered at {:.1} s; moto answered in median {:.0} ms, max {:.0} ms), each on one of {} stages at random ({distinct} of them used)",
        thousands(total),
        offered.as_secs_f64(),
        sending.as_secs_f64(),
        ms(percentile(&send_latencies, 0.5)),
        ms(*send_latencies.last().expect("sends")),
        load.len(),
    );
    println!(
        "    applied:                 all {} {:.1} s after the first send; {backlog_at_end} not yet applied when the last batch was answered",
        thousands(total),
        caught_up.as_secs_f64(),
    );
    println!(
        "    operator CPU:            {load_cpu:.2} s over {:.1} s = {:.3} cores (first send to last answered: {sending_cpu:.2} s over {:.1} s = {:.3} cores)",
        caught_up.as_secs_f64(),
        load_cpu / caught_up.as_secs_f64(),
        sending.as_secs_f64(),
        sending_cpu / sending.as_secs_f64()
    );
    println!(
        "    operator RSS:            before {:.1} MiB, after {:.1} MiB ({:.1} MiB anonymous); peak {:.1} MiB ({})",
        mib(load_before.rss),
        mib(load_after.rss),
        mib(load_after.anon),
        mib(if peak_reset {
            load_after.peak.max(sampled_peak)
        } else {
            sampled_peak
        }),
        if peak_reset {
            "VmHWM reset at the start"
        } else {
            "sampled every 100 ms; VmHWM could not be reset"
        }
    );
    println!(
        "    re-reads:                {get_stage} GetStage for {} events ({:.2} per event); API Gateway calls: {}",
        thousands(total),
        get_stage as f64 / total as f64,
        if load_reads.is_empty() {
            "none".to_string()
        } else {
            load_reads.join(", ")
        }
    );
    let group_events: usize = groups.iter().map(|g| g.0).sum();
    let group_reads: usize = groups.iter().map(|g| g.1).sum();
    println!(
        "    applied groups:          {} (one per region and round, from the operator's debug log): {:.1} events and {:.1} re-reads each on average, at most {} events",
        groups.len(),
        group_events as f64 / groups.len().max(1) as f64,
        group_reads as f64 / groups.len().max(1) as f64,
        groups.iter().map(|g| g.0).max().unwrap_or(0)
    );
    println!(
        "    operator's histogram:    {load_hist_count} events, mean {:.0} ms; received {}, ignored {ignored}, queue errors {queue_errors}",
        mean_ms(load_hist_sum, load_hist_count),
        after_load.value(RECEIVED) - before_load.value(RECEIVED),
    );
    drop(operator);
}
