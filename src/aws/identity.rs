//! Who a scan runs as, for both shells: the operator's (or the CLI user's) own AWS
//! identity, or a role assumed with STS AssumeRole and an external id. Assumed-role
//! credentials are cached per role and refreshed before they expire, also in the middle
//! of a scan: every configuration of a role asks this module for credentials, and it
//! re-assumes the role when the cached ones are about to expire.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::error::CredentialsError;
use aws_credential_types::provider::future;
use aws_sdk_sts::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};
use tokio::sync::Mutex;

use crate::model::ErrorKind;
use crate::model::arn::parse_role_arn;

use super::client::AwsHttp;
use super::error::{credentials_error_kind, error_chain};

/// Assumed-role credentials are reused until this long before they expire, so one
/// request never runs into an expiry.
const REFRESH_MARGIN: Duration = Duration::from_secs(5 * 60);
/// The STS session name, visible in the scanned account's CloudTrail.
const SESSION_NAME: &str = "apigw-compliance";

/// The AWS identity a scan runs as: a role (with its external id) or the process's own.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Identity {
    Operator,
    Role {
        arn: String,
        external_id: Option<String>,
    },
}

impl Identity {
    pub fn new(role: Option<&str>, external_id: Option<&str>) -> Self {
        match role {
            None => Identity::Operator,
            Some(arn) => Identity::Role {
                arn: arn.to_string(),
                external_id: external_id.map(str::to_string),
            },
        }
    }
}

/// Credentials for a scan could not be obtained. Its kind says whether retrying can
/// help (a denied AssumeRole needs the role's trust policy to change).
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot assume role {role}: {message}; check that the role exists, that its trust policy allows the operator's identity with this external id, and that the operator may call sts:AssumeRole"
)]
pub struct AssumeRoleError {
    pub role: String,
    pub kind: ErrorKind,
    pub message: String,
}

/// The identity a scan runs as.
pub struct ScanIdentity {
    /// Paced and counted by the HTTP layer under `key`.
    pub sdk: SdkConfig,
    /// The account scanned, when known.
    pub account: Option<String>,
    /// The name the rate limit and the SDK's retry partition know this identity by:
    /// the account id when known, else something that names the identity.
    pub key: String,
}

/// A role and its external id.
type RoleKey = (String, Option<String>);

/// The cached credentials of one role, behind a lock of their own.
type RoleSlot = Arc<Mutex<Option<Credentials>>>;

/// The process's AWS configuration, with assumed-role credentials cached per role.
pub struct AwsAccess {
    /// The standard chain's configuration, on the HTTP layer.
    base: SdkConfig,
    http: Arc<AwsHttp>,
    /// One slot per role: profiles of one role wait for one AssumeRole call, and a slow
    /// or unreachable STS for one role never holds up the profiles of another.
    assumed: std::sync::Mutex<HashMap<RoleKey, RoleSlot>>,
    operator_account: Mutex<Option<String>>,
}

impl AwsAccess {
    /// `base` is the process's own configuration (the standard chain); every client
    /// built from it, and from the roles assumed through it, goes through `http`.
    pub fn new(base: SdkConfig, http: Arc<AwsHttp>) -> Arc<Self> {
        let base = http.configure(&base, "operator");
        Arc::new(AwsAccess {
            base,
            http,
            assumed: std::sync::Mutex::default(),
            operator_account: Mutex::default(),
        })
    }

    /// The configuration to scan with. `region` is where STS is called (the profile's
    /// first region, so a profile needs no global default region). A role is assumed
    /// here, so a refusal is known before any read.
    pub async fn identity(
        self: &Arc<Self>,
        identity: &Identity,
        region: &str,
    ) -> Result<ScanIdentity, AssumeRoleError> {
        match identity {
            Identity::Operator => {
                let account = self.operator_account(region).await;
                let key = account.clone().unwrap_or_else(|| "operator".to_string());
                Ok(ScanIdentity {
                    sdk: self.http.configure(&self.base, &key),
                    account,
                    key,
                })
            }
            Identity::Role { arn, external_id } => {
                let role = (arn.clone(), external_id.clone());
                self.assume(&role, region).await?;
                let account = parse_role_arn(arn).map(str::to_string);
                let key = account.clone().unwrap_or_else(|| arn.clone());
                let credentials = RoleCredentials {
                    access: self.clone(),
                    role,
                    region: region.to_string(),
                };
                let sdk = self
                    .base
                    .clone()
                    .into_builder()
                    .credentials_provider(SharedCredentialsProvider::new(credentials))
                    .build();
                Ok(ScanIdentity {
                    sdk: self.http.configure(&sdk, &key),
                    account,
                    key,
                })
            }
        }
    }

    /// The process's own configuration, counted by the HTTP layer: what the
    /// change-events queues are read with (the queue names its account and region).
    pub fn operator_sdk(&self) -> &SdkConfig {
        &self.base
    }

    /// The account `identity` scans, without assuming anything: a role's account is in
    /// its ARN; the process's own is asked of STS once (`region` is where).
    pub async fn account_of(&self, identity: &Identity, region: &str) -> Option<String> {
        match identity {
            Identity::Operator => self.operator_account(region).await,
            Identity::Role { arn, .. } => parse_role_arn(arn).map(str::to_string),
        }
    }

    /// The role's credentials: the cached ones while they have more than
    /// [`REFRESH_MARGIN`] left, else newly assumed ones.
    async fn assume(
        &self,
        (role, external_id): &RoleKey,
        region: &str,
    ) -> Result<Credentials, AssumeRoleError> {
        let slot = self
            .assumed
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .entry((role.clone(), external_id.clone()))
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
                kind: credentials_error_kind(&e),
                message: error_chain(&e),
            })?;
        *cached = Some(credentials.clone());
        Ok(credentials)
    }

    /// The process identity's account (STS GetCallerIdentity), asked once per process;
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
                    "cannot tell the AWS account of the process's own identity (sts:GetCallerIdentity); status.account stays empty"
                ),
            }
        }
        account.clone()
    }
}

/// A role's credentials as the SDK asks for them: from [`AwsAccess`]'s cache, assumed
/// again shortly before they expire (the SDK's identity cache asks again then).
#[derive(Clone)]
struct RoleCredentials {
    access: Arc<AwsAccess>,
    role: RoleKey,
    region: String,
}

impl std::fmt::Debug for RoleCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RoleCredentials")
            .field("role", &self.role.0)
            .finish_non_exhaustive()
    }
}

impl ProvideCredentials for RoleCredentials {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            self.access
                .assume(&self.role, &self.region)
                .await
                .map_err(CredentialsError::provider_error)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use aws_config::Region;
    use aws_sdk_sts::config::Credentials;

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

    async fn access(sts: &str) -> Arc<AwsAccess> {
        // The defaults bring the time source and sleep implementation AssumeRole needs;
        // everything that matters here is set explicitly.
        let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(sts)
            .credentials_provider(Credentials::new("AKIABASE", "secret", None, None, "test"))
            .load()
            .await;
        AwsAccess::new(base, AwsHttp::new(None, Some(Arc::new(Metrics::default()))))
    }

    #[tokio::test]
    async fn a_role_whose_sts_call_hangs_does_not_hold_up_another_role() {
        let arrived = Arc::new(tokio::sync::Notify::new());
        let release = Arc::new(tokio::sync::Notify::new());
        let (sts, calls) = fake_sts(arrived.clone(), release.clone()).await;
        let aws = access(&sts).await;
        let slow = {
            let aws = aws.clone();
            tokio::spawn(async move {
                aws.identity(
                    &Identity::new(Some("arn:aws:iam::111122223333:role/slow"), None),
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
                &Identity::new(Some("arn:aws:iam::444455556666:role/fast"), Some("x")),
                "us-east-1",
            )
            .await
            .expect("the other role is assumed");
        assert_eq!(fast.account.as_deref(), Some("444455556666"));
        // A second profile of the fast role reuses its credentials.
        aws.identity(
            &Identity::new(Some("arn:aws:iam::444455556666:role/fast"), Some("x")),
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
}
