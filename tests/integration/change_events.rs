//! Change-triggered checks end to end: moto's SQS holds CloudTrail records shaped as
//! EventBridge delivers them (moto's API Gateway emits no CloudTrail events, so the
//! tests send them), the operator binary consumes the queue, and the profiles' status
//! on the local kube-apiserver shows the new verdict without waiting for the interval.

use std::time::{Duration, Instant};

use apigw_compliance::crd::{ComplianceProfile, ComplianceProfileStatus, ConditionStatus};
use aws_config::SdkConfig;
use kube::api::Api;
use serde_json::json;

use crate::support::cluster;
use crate::support::moto::{MotoAccount, new_account};
use crate::support::operator::{
    Operator, apply, client_with_crd, condition, kubectl_stdout, profile_yaml, wait_for,
};
use crate::support::seed;

const WAIT: Duration = Duration::from_secs(120);
const REGION: &str = "us-east-1";

/// A queue of the account's own, its URL.
async fn queue(sdk: &SdkConfig, name: &str) -> String {
    aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("a queue URL")
        .to_string()
}

/// Messages in the queue, visible or not.
async fn queued(sdk: &SdkConfig, url: &str) -> u64 {
    use aws_sdk_sqs::types::QueueAttributeName as A;
    let attributes = aws_sdk_sqs::Client::new(sdk)
        .get_queue_attributes()
        .queue_url(url)
        .attribute_names(A::ApproximateNumberOfMessages)
        .attribute_names(A::ApproximateNumberOfMessagesNotVisible)
        .send()
        .await
        .expect("GetQueueAttributes");
    let count = |name| {
        attributes
            .attributes()
            .and_then(|a| a.get(&name))
            .and_then(|n| n.parse::<u64>().ok())
            .unwrap_or(0)
    };
    count(A::ApproximateNumberOfMessages) + count(A::ApproximateNumberOfMessagesNotVisible)
}

async fn wait_until_empty(sdk: &SdkConfig, url: &str, operator: &Operator) {
    let deadline = Instant::now() + WAIT;
    while queued(sdk, url).await > 0 {
        assert!(
            Instant::now() < deadline,
            "the queue still holds messages; log:\n{}",
            operator.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// "AWS API Call via CloudTrail" as EventBridge delivers it to SQS.
fn cloudtrail(account: &str, event_name: &str, request: serde_json::Value) -> String {
    cloudtrail_with_response(account, event_name, request, serde_json::Value::Null)
}

/// [`cloudtrail`] with the call's `responseElements` (where a create returns its id).
fn cloudtrail_with_response(
    account: &str,
    event_name: &str,
    request: serde_json::Value,
    response: serde_json::Value,
) -> String {
    json!({
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.apigateway",
        "account": account,
        "time": "2026-12-03T12:00:00Z",
        "region": REGION,
        "resources": [],
        "detail": {
            "eventVersion": "1.08",
            "eventTime": "2026-12-03T12:00:00Z",
            "eventSource": "apigateway.amazonaws.com",
            "eventName": event_name,
            "awsRegion": REGION,
            "recipientAccountId": account,
            "requestParameters": request,
            "responseElements": response,
            "readOnly": false,
            "eventType": "AwsApiCall",
        }
    })
    .to_string()
}

async fn send(sdk: &SdkConfig, url: &str, bodies: &[String]) {
    let client = aws_sdk_sqs::Client::new(sdk);
    for chunk in bodies.chunks(10) {
        let entries = chunk
            .iter()
            .enumerate()
            .map(|(i, body)| {
                aws_sdk_sqs::types::SendMessageBatchRequestEntry::builder()
                    .id(i.to_string())
                    .message_body(body)
                    .build()
                    .expect("entry")
            })
            .collect();
        let sent = client
            .send_message_batch()
            .queue_url(url)
            .set_entries(Some(entries))
            .send()
            .await
            .expect("SendMessageBatch");
        assert!(sent.failed().is_empty(), "{:?}", sent.failed());
    }
}

async fn set_level(sdk: &SdkConfig, api: &str, stage: &str, level: &str) {
    seed::update_rest_stage(sdk, api, stage, &[("/*/*/logging/loglevel", level)]).await;
}

/// Waits until profile `name`'s Compliant condition is `expected`; returns the profile.
async fn verdict(
    profiles: &Api<ComplianceProfile>,
    name: &str,
    operator: &Operator,
    what: &str,
    expected: ConditionStatus,
) -> ComplianceProfile {
    wait_for(profiles, name, operator, WAIT, what, |_, s| {
        compliant(s) == Some(expected)
    })
    .await
}

fn compliant(status: &ComplianceProfileStatus) -> Option<ConditionStatus> {
    condition(status, "Compliant").map(|(s, _)| s)
}

/// An account with one REST API `orders` and its stage `dev`, logging at `level`.
async fn world(level: &str) -> (MotoAccount, SdkConfig, String) {
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    let (api, deployment) = seed::rest_api(&sdk, "orders").await;
    seed::rest_stage(
        &sdk,
        &api,
        &deployment,
        "dev",
        &[("/*/*/logging/loglevel", level)],
    )
    .await;
    (account, sdk, api)
}

/// A profile checking APIGateway.1 hourly, so only events can change its verdict.
fn hourly(mode: &str) -> String {
    profile_yaml(
        "orders",
        &format!(
            "  scope:\n    regions: [{REGION}]\n  controls:\n    enabled: [APIGateway.1]\n  remediation:\n    mode: {mode}\n  interval: 1h\n"
        ),
    )
}

/// The operator reading `url` (a 30 s visibility timeout, so a redelivery comes soon).
async fn operator_on(
    namespace: &str,
    account: &MotoAccount,
    url: &str,
    extra: &[&str],
) -> Operator {
    let mut args = vec![
        "--change-events-queue-url",
        url,
        "--change-events-visibility-seconds",
        "30",
    ];
    args.extend_from_slice(extra);
    Operator::watching(namespace, account)
        .args(args)
        .start()
        .await
}

/// One test's world: [`world`] with a queue, the operator reading it, and the hourly
/// profile `orders` after its first scan.
struct Orders {
    account: MotoAccount,
    sdk: SdkConfig,
    api: String,
    url: String,
    namespace: String,
    operator: Operator,
    profiles: Api<ComplianceProfile>,
}

impl Orders {
    /// `dev` logs at `level`; the profile runs in `mode`; a plain queue named after
    /// `prefix`; `extra` goes to the operator's command line.
    async fn start(prefix: &str, level: &str, mode: &str, extra: &[&str]) -> Self {
        let (account, sdk, api) = world(level).await;
        let url = queue(&sdk, prefix).await;
        Self::start_on(prefix, (account, sdk, api), url, mode, extra).await
    }

    /// [`Orders::start`] on a world and queue made by the test.
    async fn start_on(
        prefix: &str,
        (account, sdk, api): (MotoAccount, SdkConfig, String),
        url: String,
        mode: &str,
        extra: &[&str],
    ) -> Self {
        let client = client_with_crd().await;
        let namespace = cluster::test_namespace(&client, prefix).await;
        let operator = operator_on(&namespace, &account, &url, extra).await;
        apply(cluster::shared(), &namespace, &hourly(mode));
        let orders = Orders {
            profiles: Api::namespaced(client, &namespace),
            account,
            sdk,
            api,
            url,
            namespace,
            operator,
        };
        // `dev` fails APIGateway.1 unless it logs.
        let first = if ["ERROR", "INFO"].contains(&level_of(&orders).await.as_str()) {
            ConditionStatus::True
        } else {
            ConditionStatus::False
        };
        orders.verdict("the first scan", first).await;
        orders
    }

    /// CloudTrail's record of an UpdateStage of `dev`, `n` times.
    async fn dev_changed(&self, n: usize) {
        let event = cloudtrail(
            &self.account.account_id,
            "UpdateStage",
            json!({"restApiId": self.api, "stageName": "dev"}),
        );
        send(&self.sdk, &self.url, &vec![event; n]).await;
    }

    async fn verdict(&self, what: &str, expected: ConditionStatus) -> ComplianceProfile {
        verdict(&self.profiles, "orders", &self.operator, what, expected).await
    }
}

/// `dev`'s stage-wide logging level as AWS has it now.
async fn level_of(orders: &Orders) -> String {
    aws_sdk_apigateway::Client::new(&orders.sdk)
        .get_stage()
        .rest_api_id(&orders.api)
        .stage_name("dev")
        .send()
        .await
        .expect("GetStage")
        .method_settings()
        .and_then(|m| m.get("*/*"))
        .and_then(|m| m.logging_level())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fixed_stage_and_its_event_flip_the_verdict_with_one_read_and_the_message_goes() {
    let orders = Orders::start("events", "OFF", "Observe", &[]).await;
    let status = orders
        .profiles
        .get("orders")
        .await
        .expect("the profile")
        .status
        .expect("status");
    assert_eq!(
        condition(&status, "ChangeEvents"),
        Some((ConditionStatus::True, "Receiving".into()))
    );

    set_level(&orders.sdk, &orders.api, "dev", "ERROR").await;
    orders.account.reset_call_counts().await;
    let sent = Instant::now();
    orders.dev_changed(1).await;
    orders
        .verdict("the verdict after the event", ConditionStatus::True)
        .await;
    eprintln!("event to status: {:?}", sent.elapsed());
    wait_until_empty(&orders.sdk, &orders.url, &orders.operator).await;
    let calls = orders.account.call_counts().await;
    assert!(calls.api_gateway() <= 2, "{calls:?}");
    assert_eq!(calls.get("apigateway:GetStage"), 1, "{calls:?}");
    assert_eq!(
        calls.get("apigateway:GetRestApis"),
        0,
        "no sweep: {calls:?}"
    );
    let scrape = orders
        .operator
        .wait_metrics(WAIT, "the applied event counted", |m| {
            m.value("apigw_compliance_change_events_applied_total") >= 1.0
        })
        .await;
    assert!(scrape.value("apigw_compliance_change_event_latency_seconds_count") >= 1.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_on_one_stage_is_one_read_and_junk_is_deleted_and_counted() {
    // A long window, so the whole burst lands in one round however slowly it is sent
    // (3 s was not enough on a 2-core machine under a full test run plus a build).
    let orders = Orders::start(
        "events-burst",
        "OFF",
        "Observe",
        &["--change-events-debounce-ms", "10000"],
    )
    .await;
    set_level(&orders.sdk, &orders.api, "dev", "INFO").await;
    orders.account.reset_call_counts().await;
    let event = cloudtrail(
        &orders.account.account_id,
        "UpdateStage",
        json!({"restApiId": orders.api, "stageName": "dev"}),
    );
    let mut burst = vec![event; 98];
    burst.push("this is not an event".to_string());
    burst.push(cloudtrail(
        "999999999999",
        "UpdateStage",
        json!({"restApiId": orders.api, "stageName": "dev"}),
    ));
    send(&orders.sdk, &orders.url, &burst).await;
    orders
        .verdict("the verdict after the burst", ConditionStatus::True)
        .await;
    wait_until_empty(&orders.sdk, &orders.url, &orders.operator).await;
    let scrape = orders
        .operator
        .wait_metrics(WAIT, "every message accounted for", |m| {
            m.value("apigw_compliance_change_events_applied_total") >= 98.0
        })
        .await;
    assert_eq!(
        scrape.value("apigw_compliance_change_events_ignored_total{reason=\"unparseable\"}"),
        1.0
    );
    assert_eq!(
        scrape.value("apigw_compliance_change_events_ignored_total{reason=\"uncovered\"}"),
        1.0
    );
    let calls = orders.account.call_counts().await;
    assert_eq!(
        calls.get("apigateway:GetStage"),
        1,
        "one re-read: {calls:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn enforce_repairs_a_stage_broken_after_the_sweep_reading_it_first() {
    let (account, sdk, api) = world("ERROR").await;
    seed::set_cloudwatch_role(&sdk, &account.account_id).await;
    let url = queue(&sdk, "enforce").await;
    let orders = Orders::start_on("events-enforce", (account, sdk, api), url, "Enforce", &[]).await;

    set_level(&orders.sdk, &orders.api, "dev", "OFF").await;
    orders.account.reset_call_counts().await;
    orders.dev_changed(1).await;
    wait_for(
        &orders.profiles,
        "orders",
        &orders.operator,
        WAIT,
        "the repair",
        |_, s| condition(s, "Remediated").is_some_and(|(_, reason)| reason == "ChangesApplied"),
    )
    .await;
    let calls = orders.account.call_counts().await;
    // The event's re-read, then the fresh read before the write.
    assert_eq!(calls.get("apigateway:GetStage"), 2, "{calls:?}");
    assert_eq!(calls.get("apigateway:UpdateStage"), 1, "{calls:?}");
    assert_eq!(
        calls.get("apigateway:GetRestApis"),
        0,
        "no sweep: {calls:?}"
    );
    assert_eq!(level_of(&orders).await, "ERROR");
    wait_until_empty(&orders.sdk, &orders.url, &orders.operator).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_killed_before_the_delete_still_ends_with_the_right_verdict() {
    // The first operator gathers for a minute after a message arrives: it is killed
    // while it holds the message, before any delete.
    let mut orders = Orders::start(
        "events-kill",
        "OFF",
        "Observe",
        &["--change-events-debounce-ms", "60000"],
    )
    .await;
    set_level(&orders.sdk, &orders.api, "dev", "ERROR").await;
    orders.dev_changed(1).await;
    orders
        .operator
        .wait_metrics(WAIT, "the message received", |m| {
            m.value("apigw_compliance_change_events_received_total") >= 1.0
        })
        .await;
    orders.operator.kill();
    assert_eq!(
        queued(&orders.sdk, &orders.url).await,
        1,
        "the message was not deleted"
    );

    // The restarted operator has nothing held and its profile is not due for an hour:
    // only the message, received again after its visibility timeout, brings the fix.
    orders.operator = operator_on(&orders.namespace, &orders.account, &orders.url, &[]).await;
    orders
        .verdict("the verdict after the restart", ConditionStatus::True)
        .await;
    wait_until_empty(&orders.sdk, &orders.url, &orders.operator).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_leader_takes_messages() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "events-leader").await;
    let (account, sdk, api) = world("OFF").await;
    let url = queue(&sdk, "leader").await;
    let replica = |identity: &'static str| {
        let namespace = namespace.clone();
        let (account, url) = (&account, url.clone());
        async move {
            let args = [
                "--leader-election",
                "--lease-name",
                "apigw-compliance-events",
                "--lease-namespace",
                &namespace,
                "--identity",
                identity,
            ];
            operator_on(&namespace, account, &url, &args).await
        }
    };
    let leader = replica("replica-a").await;
    leader
        .wait_metrics(WAIT, "replica-a leads", |m| {
            m.value("apigw_compliance_leader") == 1.0
        })
        .await;
    let standby = replica("replica-b").await;
    standby
        .wait_log(WAIT, "replica-b standing by", |log| {
            log.contains("another replica leads; standing by")
        })
        .await;
    apply(cluster::shared(), &namespace, &hourly("Observe"));
    let profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    verdict(
        &profiles,
        "orders",
        &leader,
        "the first scan",
        ConditionStatus::False,
    )
    .await;
    set_level(&sdk, &api, "dev", "ERROR").await;
    let event = cloudtrail(
        &account.account_id,
        "UpdateStage",
        json!({"restApiId": api, "stageName": "dev"}),
    );
    send(&sdk, &url, &vec![event; 3]).await;
    verdict(
        &profiles,
        "orders",
        &leader,
        "the verdict after the events",
        ConditionStatus::True,
    )
    .await;
    wait_until_empty(&sdk, &url, &leader).await;
    assert_eq!(
        standby.metric("apigw_compliance_change_events_received_total"),
        0.0,
        "{}",
        standby.log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreadable_queue_shows_on_status_while_the_periodic_scans_go_on() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "events-broken").await;
    let (account, sdk, _api) = world("OFF").await;
    let live = queue(&sdk, "live").await;
    let missing = live.replace("/live", "/missing");
    let operator = Operator::watching(&namespace, &account)
        .args([
            "--change-events-queue-url",
            &live,
            "--change-events-queue-url",
            &missing,
        ])
        .start()
        .await;
    apply(cluster::shared(), &namespace, &hourly("Observe"));
    let profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    let profile = wait_for(
        &profiles,
        "orders",
        &operator,
        WAIT,
        "the scan and the queue's condition",
        |_, s| {
            compliant(s) == Some(ConditionStatus::False)
                && condition(s, "ChangeEvents").is_some_and(|(s, _)| s == ConditionStatus::False)
        },
    )
    .await;
    let status = profile.status.expect("status");
    let events = status.condition("ChangeEvents").expect("ChangeEvents");
    assert_eq!(events.reason, "QueueUnreadable");
    assert!(events.message.contains(&missing), "{}", events.message);
    assert_eq!(
        condition(&status, "Ready"),
        Some((ConditionStatus::True, "ScanSucceeded".into()))
    );
    operator
        .wait_metrics(WAIT, "the queue error counted", |m| {
            m.value("apigw_compliance_change_queue_errors_total{kind=\"notFound\"}") >= 1.0
        })
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_route_event_costs_its_get_routes_and_a_new_api_costs_that_apis_read() {
    use aws_sdk_apigatewayv2::types::{AuthorizationType, ProtocolType};
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "events-routes").await;
    let account = new_account().await;
    let sdk = account.sdk_config(REGION);
    let api = seed::v2_api(&sdk, "chat", ProtocolType::Http).await;
    let route = seed::v2_route(&sdk, &api, "GET /messages", None).await;
    let url = queue(&sdk, "routes").await;
    let operator = operator_on(&namespace, &account, &url, &[]).await;
    apply(
        cluster::shared(),
        &namespace,
        &profile_yaml(
            "chat",
            &format!(
                "  scope:\n    regions: [{REGION}]\n  controls:\n    enabled: [APIGateway.8]\n  interval: 1h\n"
            ),
        ),
    );
    let profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    verdict(
        &profiles,
        "chat",
        &operator,
        "the first scan",
        ConditionStatus::False,
    )
    .await;

    // The route gets an authorizer type; its event costs one GetRoutes.
    let v2 = aws_sdk_apigatewayv2::Client::new(&sdk);
    v2.update_route()
        .api_id(&api)
        .route_id(&route)
        .authorization_type(AuthorizationType::AwsIam)
        .send()
        .await
        .expect("UpdateRoute");
    account.reset_call_counts().await;
    send(
        &sdk,
        &url,
        &[cloudtrail(
            &account.account_id,
            "UpdateRoute",
            json!({"apiId": api, "routeId": route}),
        )],
    )
    .await;
    verdict(
        &profiles,
        "chat",
        &operator,
        "the verdict after the route event",
        ConditionStatus::True,
    )
    .await;
    let calls = account.call_counts().await;
    assert_eq!(calls.api_gateway(), 1, "{calls:?}");
    assert_eq!(calls.get("apigatewayv2:GetRoutes"), 1, "{calls:?}");

    // A new API with an open route: its creation event costs that API's read alone.
    let created = seed::v2_api(&sdk, "feed", ProtocolType::Http).await;
    seed::v2_route(&sdk, &created, "GET /feed", None).await;
    account.reset_call_counts().await;
    send(
        &sdk,
        &url,
        &[cloudtrail_with_response(
            &account.account_id,
            "CreateApi",
            json!({"name": "feed", "protocolType": "HTTP"}),
            json!({"apiId": created, "name": "feed"}),
        )],
    )
    .await;
    let status = verdict(
        &profiles,
        "chat",
        &operator,
        "the new API's verdict",
        ConditionStatus::False,
    )
    .await
    .status
    .expect("status");
    assert!(
        status
            .failing_findings
            .iter()
            .any(|f| f.resource_arn.contains(&created)),
        "{status:#?}"
    );
    let calls = account.call_counts().await;
    assert_eq!(calls.get("apigatewayv2:GetApis"), 0, "no sweep: {calls:?}");
    assert_eq!(calls.get("apigatewayv2:GetApi"), 1, "{calls:?}");
    assert_eq!(calls.get("apigatewayv2:GetRoutes"), 1, "{calls:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_scan_request_annotation_reads_the_scope_once_per_value() {
    let client = client_with_crd().await;
    let namespace = cluster::test_namespace(&client, "scan-request").await;
    let (account, sdk, api) = world("OFF").await;
    let operator = Operator::watching(&namespace, &account).start().await;
    let plane = cluster::shared();
    apply(plane, &namespace, &hourly("Observe"));
    let profiles: Api<ComplianceProfile> = Api::namespaced(client.clone(), &namespace);
    verdict(
        &profiles,
        "orders",
        &operator,
        "the first scan",
        ConditionStatus::False,
    )
    .await;

    // Fixed in AWS, no event: only the request shows it before the hour is up.
    set_level(&sdk, &api, "dev", "ERROR").await;
    account.reset_call_counts().await;
    let annotate = |value: &str| {
        kubectl_stdout(
            plane,
            &[
                "annotate",
                "complianceprofile",
                "orders",
                "-n",
                &namespace,
                &format!("apigwcompliance.io/requested-scan-at={value}"),
                "--overwrite",
            ],
            None,
        );
    };
    annotate("2026-12-03T12:00:00Z");
    let status = wait_for(
        &profiles,
        "orders",
        &operator,
        WAIT,
        "the requested scan",
        |_, s| s.requested_scan_at.as_deref() == Some("2026-12-03T12:00:00Z"),
    )
    .await
    .status
    .expect("status");
    assert_eq!(compliant(&status), Some(ConditionStatus::True));
    assert_eq!(account.call_counts().await.get("apigateway:GetRestApis"), 1);

    // Any other change to the object (here a label) with the same value scans nothing.
    let before = operator.metrics();
    kubectl_stdout(
        plane,
        &[
            "label",
            "complianceprofile",
            "orders",
            "-n",
            &namespace,
            "team=payments",
        ],
        None,
    );
    let reconciles = crate::support::operator::Scrape(before).reconciles();
    operator
        .wait_metrics(WAIT, "the label's reconcile", |m| {
            m.reconciles() > reconciles
        })
        .await;
    assert_eq!(account.call_counts().await.get("apigateway:GetRestApis"), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_message_whose_re_read_keeps_failing_ends_in_the_dead_letter_queue() {
    use aws_sdk_sqs::types::QueueAttributeName;
    let world = world("OFF").await;
    let sqs = aws_sdk_sqs::Client::new(&world.1);
    let dlq = queue(&world.1, "poison-dlq").await;
    let dlq_arn = sqs
        .get_queue_attributes()
        .queue_url(&dlq)
        .attribute_names(QueueAttributeName::QueueArn)
        .send()
        .await
        .expect("GetQueueAttributes")
        .attributes()
        .and_then(|a| a.get(&QueueAttributeName::QueueArn).cloned())
        .expect("the DLQ's ARN");
    let url = sqs
        .create_queue()
        .queue_name("poison")
        .attributes(
            QueueAttributeName::RedrivePolicy,
            json!({"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "1"}).to_string(),
        )
        .send()
        .await
        .expect("CreateQueue")
        .queue_url()
        .expect("URL")
        .to_string();
    let orders = Orders::start_on("events-poison", world, url, "Observe", &[]).await;
    orders.account.deny("apigateway:GetStage", None, None).await;
    orders.dev_changed(1).await;
    let deadline = Instant::now() + WAIT;
    while queued(&orders.sdk, &dlq).await == 0 {
        assert!(
            Instant::now() < deadline,
            "the message never reached the dead-letter queue; log:\n{}",
            orders.operator.log()
        );
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(queued(&orders.sdk, &orders.url).await, 0);
    assert_eq!(
        orders
            .operator
            .metric("apigw_compliance_change_events_applied_total"),
        0.0
    );
}

/// The EventBridge pattern in the docs, the CloudFormation template and the Terraform
/// module name the same calls, and the operator acts on every one of them.
#[test]
fn every_call_the_documented_rule_delivers_is_acted_on() {
    use apigw_compliance::changes::event::{Parsed, parse};
    let repo = crate::support::operator::repo;
    let docs = std::fs::read_to_string(repo("docs/change-events.md")).expect("docs");
    let pattern = docs
        .split("```json")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.contains("\"eventName\""))
        .expect("the event pattern in docs/change-events.md");
    let pattern: serde_json::Value = serde_json::from_str(pattern).expect("the pattern is JSON");
    let names: Vec<String> = pattern["detail"]["eventName"]
        .as_array()
        .expect("eventName list")
        .iter()
        .filter_map(|n| n.as_str().map(str::to_string))
        .collect();
    assert!(names.len() >= 30, "{names:?}");
    for file in [
        "deploy/change-events/cloudformation.yaml",
        "deploy/change-events/main.tf",
    ] {
        let text = std::fs::read_to_string(repo(file)).expect(file);
        for name in &names {
            assert!(text.contains(name), "{file} does not deliver {name}");
        }
    }
    let stage_arn = "arn:aws:apigateway:us-east-1::/restapis/a1b2c3/stages/prod";
    for name in &names {
        let waf = name.ends_with("WebACL");
        let request = if waf {
            json!({"webACLArn": "arn:aws:wafv2:us-east-1:111122223333:regional/webacl/a/1", "resourceArn": stage_arn})
        } else if name.ends_with("Resource") {
            json!({"resourceArn": stage_arn, "tags": {"team": "a"}})
        } else if name.contains("DomainName") {
            json!({"domainName": "api.example.com"})
        } else if [
            "CreateApi",
            "ImportApi",
            "ReimportApi",
            "UpdateApi",
            "DeleteApi",
            "CreateRoute",
            "UpdateRoute",
            "DeleteRoute",
            "CreateIntegration",
            "UpdateIntegration",
            "DeleteIntegration",
            "DeleteAccessLogSettings",
            "DeleteRouteSettings",
        ]
        .contains(&name.as_str())
        {
            json!({"apiId": "v1", "stageName": "prod", "routeKey": "$default"})
        } else {
            json!({"restApiId": "a1b2c3", "stageName": "prod"})
        };
        let mut event: serde_json::Value = serde_json::from_str(&cloudtrail_with_response(
            "111122223333",
            name,
            request,
            json!({"id": "a1b2c3"}),
        ))
        .expect("JSON");
        if waf {
            event["source"] = json!("aws.wafv2");
            event["detail"]["eventSource"] = json!("wafv2.amazonaws.com");
        }
        match parse(&event.to_string()) {
            Ok(Parsed::Change(_)) => {}
            other => panic!("{name} is delivered by the rule but not acted on: {other:?}"),
        }
    }
}
