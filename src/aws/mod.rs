//! Everything that holds an SDK configuration: loading it from the standard chain,
//! the one HTTP client layer every AWS client is built on ([`client`]: pacing and
//! request counting), the identity a scan runs as ([`identity`]: the process's own or
//! an assumed role), the accounts of an AWS Organization ([`organization`]), and the
//! classification of AWS errors ([`error`]).

pub mod client;
pub mod error;
pub mod identity;
pub mod organization;

use std::time::Duration;

use aws_config::{BehaviorVersion, SdkConfig, retry::RetryConfig, timeout::TimeoutConfig};

use error::error_chain;

/// Attempts per AWS call, counting the first. Adaptive retry backs off on throttling
/// and slows the client down, so a throttled scan finishes late rather than failing.
pub const DEFAULT_MAX_ATTEMPTS: u32 = 10;
/// Seconds an AWS request may wait for the first byte of its answer before the attempt
/// counts as failed (and is retried). API Gateway answers list and get calls in well
/// under a second; without a limit, a connection that hangs would hold its reconcile,
/// and every profile sharing its read, forever.
pub const DEFAULT_READ_TIMEOUT_SECONDS: u64 = 30;

/// Loads the AWS configuration from the standard chain (environment, shared config and
/// credentials files, web identity / IRSA, container and instance metadata), so
/// `AWS_ENDPOINT_URL` points every client at an emulator. Throttling is retried with
/// adaptive backoff; an attempt whose answer does not start within `read_timeout` fails
/// and is retried like any transient error. The read timeout starts when the request is
/// sent, after any wait for the client-side rate limit.
pub async fn load_sdk_config(max_attempts: u32, read_timeout: Duration) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .retry_config(
            RetryConfig::adaptive()
                .with_max_attempts(max_attempts)
                .with_initial_backoff(Duration::from_millis(200))
                .with_max_backoff(Duration::from_secs(20)),
        )
        .timeout_config(
            TimeoutConfig::builder()
                // The SDK's own default connect timeout, kept.
                .connect_timeout(Duration::from_millis(3100))
                .read_timeout(read_timeout)
                .build(),
        )
        .load()
        .await
}

/// Resolves the configuration's credentials once, so a scan without usable
/// credentials stops before any call. The error is the provider chain's own account.
pub async fn check_credentials(sdk: &SdkConfig) -> Result<(), String> {
    use aws_sdk_apigateway::config::ProvideCredentials;
    let Some(provider) = sdk.credentials_provider() else {
        return Err("no credentials provider is configured".to_string());
    };
    provider
        .provide_credentials()
        .await
        .map(|_| ())
        .map_err(|e| error_chain(&e))
}

/// What to do when no credentials can be found.
pub const NO_CREDENTIALS_HINT: &str = "no usable AWS credentials: set AWS_PROFILE or \
AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, or run with an IAM role (IRSA, EKS Pod Identity, \
instance profile)";
