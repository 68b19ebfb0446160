//! The AWS side of a reconcile: which identity scans (the operator's own, or a role
//! assumed with STS AssumeRole and an external id), which account that is, and counting
//! every AWS request for `/metrics`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::{Region, SdkConfig};
use aws_sdk_sts::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::sync::Mutex;

use crate::crd::parse_role_arn;
use crate::inventory::aws::error_chain;
use crate::metrics::Metrics;

/// Assumed-role credentials are reused until this long before they expire, so one
/// scan never runs into an expiry.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// The STS session name, visible in the scanned account's CloudTrail.
const SESSION_NAME: &str = "apigw-compliance";

/// Credentials for a scan could not be obtained. Recoverable: retried with backoff
/// (an IAM fix outside the cluster makes the next attempt succeed).
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot assume role {role}: {message}; check that the role exists, that its trust policy allows the operator's identity with this external id, and that the operator may call sts:AssumeRole"
)]
pub struct AssumeRoleError {
    pub role: String,
    pub message: String,
}

/// The identity a scan runs as.
pub struct ScanIdentity {
    pub sdk: SdkConfig,
    /// The account scanned, when known.
    pub account: Option<String>,
}

/// A role and its external id.
type RoleKey = (String, Option<String>);

/// The cached credentials of one role, behind a lock of their own.
type RoleSlot = Arc<Mutex<Option<Credentials>>>;

/// The operator's AWS configuration, with assumed-role credentials cached per role.
pub struct AwsAccess {
    base: SdkConfig,
    /// One slot per role: profiles of one role wait for one AssumeRole call, and a slow
    /// or unreachable STS for one role never holds up the profiles of another.
    assumed: std::sync::Mutex<HashMap<RoleKey, RoleSlot>>,
    operator_account: Mutex<Option<String>>,
}

impl AwsAccess {
    /// `base` is the operator's own configuration (the standard chain); every client
    /// built from it, and from the roles assumed through it, counts its requests in
    /// `metrics`.
    pub fn new(base: SdkConfig, metrics: Arc<Metrics>) -> Self {
        let base = base
            .into_builder()
            .http_client(CountingHttpClient::shared(metrics))
            .build();
        AwsAccess {
            base,
            assumed: std::sync::Mutex::default(),
            operator_account: Mutex::default(),
        }
    }

    /// The configuration to scan with. `region` is where STS is called (the profile's
    /// first region, so a profile needs no global default region).
    pub async fn identity(
        &self,
        role: Option<&str>,
        external_id: Option<&str>,
        region: &str,
    ) -> Result<ScanIdentity, AssumeRoleError> {
        match role {
            None => Ok(ScanIdentity {
                sdk: self.base.clone(),
                account: self.operator_account(region).await,
            }),
            Some(role) => {
                let credentials = self.assume(role, external_id, region).await?;
                Ok(ScanIdentity {
                    sdk: self
                        .base
                        .clone()
                        .into_builder()
                        .credentials_provider(SharedCredentialsProvider::new(credentials))
                        .build(),
                    account: parse_role_arn(role).map(str::to_string),
                })
            }
        }
    }

    async fn assume(
        &self,
        role: &str,
        external_id: Option<&str>,
        region: &str,
    ) -> Result<Credentials, AssumeRoleError> {
        let key = (role.to_string(), external_id.map(str::to_string));
        let slot = self
            .assumed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry(key)
            .or_default()
            .clone();
        let mut cached = slot.lock().await;
        if let Some(credentials) = cached.as_ref()
            && credentials
                .expiry()
                .is_none_or(|expiry| expiry > SystemTime::now() + REFRESH_MARGIN)
        {
            return Ok(credentials.clone());
        }
        let mut builder = aws_config::sts::AssumeRoleProvider::builder(role)
            .session_name(SESSION_NAME)
            .region(Region::new(region.to_string()))
            .configure(&self.base);
        if let Some(external_id) = external_id {
            builder = builder.external_id(external_id);
        }
        let credentials = builder
            .build()
            .await
            .provide_credentials()
            .await
            .map_err(|e| AssumeRoleError {
                role: role.to_string(),
                message: error_chain(&e),
            })?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }

    /// The operator identity's account (STS GetCallerIdentity), asked once per process;
    /// `None` (and asked again next time) when STS cannot tell.
    async fn operator_account(&self, region: &str) -> Option<String> {
        let mut account = self.operator_account.lock().await;
        if account.is_none() {
            let config = aws_sdk_sts::config::Builder::from(&self.base)
                .region(Region::new(region.to_string()))
                .build();
            match aws_sdk_sts::Client::from_conf(config)
                .get_caller_identity()
                .send()
                .await
            {
                Ok(identity) => *account = identity.account,
                Err(e) => tracing::warn!(
                    error = %error_chain(&e),
                    "cannot tell the operator's AWS account (sts:GetCallerIdentity); status.account stays empty"
                ),
            }
        }
        account.clone()
    }
}

/// The SDK's default HTTPS client (hyper 1, rustls on aws-lc), counting each request
/// and its failure class.
#[derive(Debug)]
struct CountingHttpClient {
    inner: SharedHttpClient,
    metrics: Arc<Metrics>,
}

impl CountingHttpClient {
    fn shared(metrics: Arc<Metrics>) -> SharedHttpClient {
        let inner = aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::AwsLc,
            ))
            .build_https();
        SharedHttpClient::new(CountingHttpClient { inner, metrics })
    }
}

impl HttpClient for CountingHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(CountingConnector {
            inner: self.inner.http_connector(settings, components),
            metrics: self.metrics.clone(),
        })
    }
}

#[derive(Debug)]
struct CountingConnector {
    inner: SharedHttpConnector,
    metrics: Arc<Metrics>,
}

impl HttpConnector for CountingConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let service = signed_service(&request).unwrap_or_else(|| "unknown".to_string());
        let metrics = self.metrics.clone();
        let response = self.inner.call(request);
        HttpConnectorFuture::new(async move {
            let result = response.await;
            let class = match &result {
                Ok(response) => error_class(response.status().as_u16()),
                Err(_) => Some("network"),
            };
            metrics.aws_call(&service, class);
            result
        })
    }
}

/// The service a request is signed for, from its SigV4 credential scope
/// (`Credential=AKID/20260101/us-east-1/apigateway/aws4_request`). Works whatever the
/// endpoint, including an emulator on 127.0.0.1.
fn signed_service(request: &HttpRequest) -> Option<String> {
    let authorization = request.headers().get("authorization")?;
    let scope = authorization.split("Credential=").nth(1)?;
    scope.split('/').nth(3).map(str::to_string)
}

fn error_class(status: u16) -> Option<&'static str> {
    match status {
        429 => Some("throttled"),
        400..=499 => Some("client"),
        500..=599 => Some("server"),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_service_comes_from_the_sigv4_scope() {
        let mut request = HttpRequest::empty();
        request.headers_mut().insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/us-east-1/apigateway/aws4_request, SignedHeaders=host, Signature=abc",
        );
        assert_eq!(signed_service(&request).as_deref(), Some("apigateway"));
        assert_eq!(signed_service(&HttpRequest::empty()), None);
    }

    /// A stand-in for STS on loopback: answers AssumeRole with fixed credentials,
    /// except for roles named `slow`, whose arrival it signals on `arrived` and whose
    /// answer waits for `release`. Counts the AssumeRole calls per role name.
    async fn fake_sts(
        arrived: Arc<tokio::sync::Notify>,
        release: Arc<tokio::sync::Notify>,
    ) -> (String, Arc<std::sync::Mutex<HashMap<String, usize>>>) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let calls = Arc::new(std::sync::Mutex::new(HashMap::new()));
        let counted = calls.clone();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let (arrived, release, calls) = (arrived.clone(), release.clone(), counted.clone());
                tokio::spawn(async move {
                    let mut request = Vec::new();
                    let mut buffer = [0u8; 4096];
                    // Headers, then a body as long as Content-Length says.
                    loop {
                        let Ok(n) = stream.read(&mut buffer).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        request.extend_from_slice(&buffer[..n]);
                        let text = String::from_utf8_lossy(&request).to_lowercase();
                        if let Some((head, body)) = text.split_once("\r\n\r\n") {
                            let length = head
                                .lines()
                                .find_map(|l| l.strip_prefix("content-length:"))
                                .and_then(|v| v.trim().parse::<usize>().ok())
                                .unwrap_or(0);
                            if body.len() >= length {
                                break;
                            }
                        }
                    }
                    let text = String::from_utf8_lossy(&request).to_string();
                    let role = text
                        .split("role%2F")
                        .nth(1)
                        .and_then(|r| r.split('&').next())
                        .unwrap_or_default()
                        .to_string();
                    *calls
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(role.clone())
                        .or_default() += 1;
                    if role == "slow" {
                        arrived.notify_one();
                        release.notified().await;
                    }
                    let body = "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>AKIAFAKE</AccessKeyId><SecretAccessKey>secret</SecretAccessKey><SessionToken>token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAFAKE:apigw-compliance</AssumedRoleId><Arn>arn:aws:sts::111122223333:assumed-role/r/apigw-compliance</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>";
                    let response = format!(
                        "HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                        body.len()
                    );
                    let _ = stream.write_all(response.as_bytes()).await;
                });
            }
        });
        (url, calls)
    }

    async fn access(sts: &str) -> AwsAccess {
        // The defaults bring the time source and sleep implementation AssumeRole needs;
        // everything that matters here is set explicitly.
        let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(sts)
            .credentials_provider(Credentials::new("AKIABASE", "secret", None, None, "test"))
            .load()
            .await;
        AwsAccess::new(base, Arc::new(Metrics::default()))
    }

    #[tokio::test]
    async fn a_role_whose_sts_call_hangs_does_not_hold_up_another_role() {
        let arrived = Arc::new(tokio::sync::Notify::new());
        let release = Arc::new(tokio::sync::Notify::new());
        let (sts, calls) = fake_sts(arrived.clone(), release.clone()).await;
        let aws = Arc::new(access(&sts).await);
        let slow = {
            let aws = aws.clone();
            tokio::spawn(async move {
                aws.identity(
                    Some("arn:aws:iam::111122223333:role/slow"),
                    None,
                    "us-east-1",
                )
                .await
                .map(|identity| identity.account)
            })
        };
        // Completes while the other role's AssumeRole is still unanswered.
        arrived.notified().await;
        let fast = aws
            .identity(
                Some("arn:aws:iam::444455556666:role/fast"),
                Some("x"),
                "us-east-1",
            )
            .await
            .expect("the other role is assumed");
        assert_eq!(fast.account.as_deref(), Some("444455556666"));
        // A second profile of the fast role reuses its credentials.
        aws.identity(
            Some("arn:aws:iam::444455556666:role/fast"),
            Some("x"),
            "us-east-1",
        )
        .await
        .expect("cached");
        release.notify_one();
        let slow = slow.await.expect("the slow call ends").expect("assumed");
        assert_eq!(slow.as_deref(), Some("111122223333"));
        let calls = calls.lock().unwrap_or_else(|p| p.into_inner()).clone();
        assert_eq!(calls.get("fast"), Some(&1), "{calls:?}");
        assert_eq!(calls.get("slow"), Some(&1), "{calls:?}");
    }

    #[test]
    fn failures_are_classed_by_status() {
        assert_eq!(error_class(200), None);
        assert_eq!(error_class(429), Some("throttled"));
        assert_eq!(error_class(403), Some("client"));
        assert_eq!(error_class(503), Some("server"));
    }
}
