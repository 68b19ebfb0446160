//! Throttling: the scan against moto answering 429 TooManyRequestsException beyond a
//! per-account token bucket (`set_rate_limit`, on each test's own account, so tests
//! running beside it are not slowed).

use aws_sdk_apigatewayv2::types::{AuthorizationType, LoggingLevel, ProtocolType};
use serde_json::Value;

use crate::support::moto::{MotoAccount, new_account};
use crate::support::seed::{self, V2StageSpec};

const BIN: &str = env!("CARGO_BIN_EXE_apigw-compliance");
const REGION: &str = "us-east-1";

/// Three REST APIs with a compliant `prod` and a bare `dev` stage, an HTTP API and a
/// WebSocket API (two routes, one stage each): 9 calls per inventory pass (the two
/// lists, 3 REST GetStages, 2 v2 GetStages and 2 GetRoutes).
async fn seed_estate(account: &MotoAccount) {
    let sdk = account.sdk_config(REGION);
    for name in ["orders", "billing", "search"] {
        seed::rest_api_with_prod_and_dev(&sdk, name).await;
    }
    let http = seed::v2_api(&sdk, "orders-http", ProtocolType::Http).await;
    seed::v2_route(&sdk, &http, "GET /orders", Some(AuthorizationType::Jwt)).await;
    seed::v2_route(&sdk, &http, "POST /orders", None).await;
    seed::v2_stage(&sdk, &http, "prod", V2StageSpec::default()).await;
    let ws = seed::v2_api(&sdk, "chat", ProtocolType::Websocket).await;
    seed::v2_route(&sdk, &ws, "$connect", Some(AuthorizationType::AwsIam)).await;
    seed::v2_route(&sdk, &ws, "$default", None).await;
    seed::v2_stage(
        &sdk,
        &ws,
        "live",
        V2StageSpec {
            default_logging_level: Some(LoggingLevel::Info),
            ..V2StageSpec::default()
        },
    )
    .await;
}

/// The API Gateway calls of one pass with the default controls: GetRestApis, GetStages
/// for each of the 3 REST APIs, GetApis, then GetStages, GetRoutes and GetIntegrations
/// for each of the 2 v2 APIs, and GetDomainNames.
const ONE_PASS: u64 = 1 + 3 + 1 + 2 * 3 + 1;

fn scan(account: &MotoAccount, extra: &[&str]) -> (Option<i32>, Value) {
    let output = std::process::Command::new(BIN)
        .args(["scan", "--region", REGION, "--output", "json"])
        .args(extra)
        .env_clear()
        .envs(account.env(REGION))
        .output()
        .expect("run the scan");
    let report = serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}); stderr:\n{}",
            String::from_utf8_lossy(&output.stderr)
        )
    });
    (output.status.code(), report)
}

/// (control, resource ARN suffix after the API id, status) of every finding, sorted.
fn verdicts(report: &Value) -> Vec<(String, String, String)> {
    let mut out: Vec<(String, String, String)> = report["findings"]
        .as_array()
        .expect("findings")
        .iter()
        .map(|f| {
            let arn = f["resourceArn"].as_str().expect("resourceArn");
            // Drop the random API id: `restapis/<id>/stages/prod` -> `restapis/stages/prod`.
            let parts: Vec<&str> = arn.split("::/").nth(1).unwrap_or(arn).split('/').collect();
            let kind = parts.first().copied().unwrap_or_default();
            let rest = parts.get(2..).map(|p| p.join("/")).unwrap_or_default();
            (
                f["controlId"].as_str().expect("controlId").to_string(),
                format!("{kind}/{rest}"),
                f["status"].as_str().expect("status").to_string(),
            )
        })
        .collect();
    out.sort();
    out
}

fn count(verdicts: &[(String, String, String)], control: &str, status: &str) -> usize {
    verdicts
        .iter()
        .filter(|(c, _, s)| c == control && s == status)
        .count()
}

#[tokio::test]
async fn a_throttled_scan_slows_down_and_completes_with_correct_verdicts() {
    let account = new_account().await;
    seed_estate(&account).await;

    let (code, calm) = scan(&account, &[]);
    assert_eq!(code, Some(0), "{calm:#}");
    let expected = verdicts(&calm);
    // The verdicts themselves, not only their stability: prod passes X-Ray, dev fails.
    assert_eq!(count(&expected, "APIGateway.3", "PASSED"), 3);
    assert_eq!(count(&expected, "APIGateway.3", "FAILED"), 3);
    assert_eq!(
        count(&expected, "APIGateway.1", "PASSED"),
        4,
        "{expected:?}"
    );
    assert_eq!(count(&expected, "APIGateway.8", "PASSED"), 2);
    assert_eq!(count(&expected, "APIGateway.8", "FAILED"), 2);
    assert_eq!(expected.len(), 3 * 2 * 5 + 2 * 2 + 4);

    // A storm: the account's API Gateway quota at 8 requests/s with a burst of 2, and
    // no client-side limit, so the scan's concurrent reads hit it.
    account.set_rate_limit(8.0, 2.0).await;
    account.reset_call_counts().await;
    let (code, stormy) = scan(&account, &["--aws-rate-limit", "0"]);
    let counts = account.call_counts().await;
    account.set_rate_limit(0.0, 0.0).await;
    assert!(
        counts.throttled > 0,
        "the storm did not throttle anything: {counts:?}"
    );
    assert_eq!(
        counts.api_gateway(),
        ONE_PASS + counts.throttled,
        "every throttled call was retried, nothing else repeated: {counts:?}"
    );
    assert_eq!(stormy["errors"], serde_json::json!([]), "{stormy:#}");
    assert_eq!(code, Some(0));
    assert_eq!(verdicts(&stormy), expected);
}

#[tokio::test]
async fn the_client_side_limit_keeps_a_scan_within_the_account_quota() {
    let account = new_account().await;
    seed_estate(&account).await;
    // The account allows 3 requests/s (burst 6); the scan allows itself 1/s (burst 1),
    // far enough below for scheduling jitter never to bunch its requests over it.
    account.set_rate_limit(3.0, 6.0).await;
    account.reset_call_counts().await;
    let (code, report) = scan(&account, &["--aws-rate-limit", "1", "--aws-burst", "1"]);
    let counts = account.call_counts().await;
    account.set_rate_limit(0.0, 0.0).await;
    assert_eq!(code, Some(0), "{report:#}");
    assert_eq!(counts.throttled, 0, "{counts:?}");
    assert_eq!(counts.api_gateway(), ONE_PASS, "{counts:?}");
    assert_eq!(report["findings"].as_array().map(Vec::len), Some(38));
}

#[tokio::test]
async fn throttling_that_outlasts_the_retries_is_an_error_never_a_pass() {
    let account = new_account().await;
    seed_estate(&account).await;
    // One request per 1000 s after the first: everything else is throttled, and one
    // attempt per call leaves no room for retries.
    account.set_rate_limit(0.001, 1.0).await;
    let (code, report) = scan(&account, &["--aws-rate-limit", "0", "--max-attempts", "1"]);
    account.set_rate_limit(0.0, 0.0).await;
    assert_eq!(code, Some(3), "an incomplete scan exits 3: {report:#}");
    let errors = report["errors"].as_array().expect("errors");
    assert!(!errors.is_empty());
    assert!(
        errors.iter().all(|e| e["message"]
            .as_str()
            .is_some_and(|m| m.contains("throttled"))),
        "{errors:#?}"
    );
    // The bucket lets exactly one request through: one of the two API lists. Whatever
    // it listed could not have its stages or routes read, so nothing has a verdict,
    // and in particular nothing passed.
    assert_eq!(report["findings"], serde_json::json!([]), "{report:#}");
    assert!(errors.len() >= 2, "{errors:#?}");
}
