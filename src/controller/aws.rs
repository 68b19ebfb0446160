//! The AWS side of a reconcile: which identity scans (the operator's own, or a role
//! assumed with STS AssumeRole and an external id), which account that is, and counting
//! every AWS request for `/metrics`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::{Region, SdkConfig};
use aws_sdk_sts::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use aws_sdk_sts::error::DisplayErrorContext;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use tokio::sync::Mutex;

use crate::crd::parse_role_arn;
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

/// The operator's AWS configuration, with assumed-role credentials cached per role.
pub struct AwsAccess {
    base: SdkConfig,
    assumed: Mutex<HashMap<(String, Option<String>), Credentials>>,
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
            assumed: Mutex::default(),
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
        let mut cache = self.assumed.lock().await;
        if let Some(credentials) = cache.get(&key)
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
                message: DisplayErrorContext(&e).to_string(),
            })?;
        cache.insert(key, credentials.clone());
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
                    error = %DisplayErrorContext(&e),
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

    #[test]
    fn failures_are_classed_by_status() {
        assert_eq!(error_class(200), None);
        assert_eq!(error_class(429), Some("throttled"));
        assert_eq!(error_class(403), Some("client"));
        assert_eq!(error_class(503), Some("server"));
    }
}
