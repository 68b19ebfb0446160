//! Who a scan runs as, for both shells: the operator's (or the CLI user's) own AWS
//! identity, or a role assumed with STS AssumeRole and an external id.
//!
//! A role's credentials come from aws-config's `AssumeRoleProvider` behind an SDK
//! identity cache of the role's own, shared by every client built for the role: the
//! SDK asks the cache before each request, and the cache assumes the role again when
//! the session is within [`Sessions::renew_before`] of its end. So a read or a
//! remediation run longer than a session signs each request with credentials that are
//! still valid, whichever client sends it. What this module adds is the check before a
//! scan: when no session of the role is known to be valid for a while yet (the first
//! use, a refusal, a long pause), the role is assumed (through the same cache) before
//! any read, so a refused AssumeRole is reported as such and not as every read failing.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use aws_config::identity::IdentityCache;
use aws_config::{Region, SdkConfig};
use aws_credential_types::provider::future;
use aws_sdk_sts::config::{ProvideCredentials, SharedCredentialsProvider};
use tokio::sync::Mutex;

use crate::model::ErrorKind;
use crate::model::arn::parse_role_arn;

use super::client::AwsHttp;
use super::error::{credentials_error_kind, error_chain};

/// The STS session name, visible in the scanned account's CloudTrail.
const SESSION_NAME: &str = "apigw-compliance";

/// How long assumed-role sessions last and when they are renewed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sessions {
    /// The session length asked of STS (`DurationSeconds`). AWS accepts 15 minutes to
    /// the role's maximum session duration (one hour unless the role says more).
    pub duration: Duration,
    /// A session is renewed this long before it ends, at the latest (the SDK's cache
    /// renews between this and half of it, at random, so roles do not renew together).
    /// Also the margin a session must still have for a scan to start on it without
    /// assuming the role again first.
    pub renew_before: Duration,
}

impl Default for Sessions {
    /// One hour, STS's own default and every role's allowed maximum; renewed in its last
    /// five minutes, longer than any single AWS call with its retries takes.
    fn default() -> Self {
        Sessions {
            duration: Duration::from_secs(60 * 60),
            renew_before: Duration::from_secs(5 * 60),
        }
    }
}

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
#[derive(Clone, Debug, thiserror::Error)]
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

/// One role's configuration, made once, behind a lock of its own: profiles of one role
/// wait for one AssumeRole call, and a slow or unreachable STS for one role never holds
/// up the profiles of another.
type RoleSlot = Arc<Mutex<Option<RoleSession>>>;

/// What the role's last AssumeRole gave, as the SDK's cache asked for it.
#[derive(Clone, Debug)]
enum LastAssume {
    Never,
    /// A session, valid until then (`None`: STS gave no expiry).
    Assumed(Option<SystemTime>),
    Refused(AssumeRoleError),
}

/// A role's SDK configuration (AssumeRoleProvider behind the role's identity cache, on
/// the HTTP layer) and what its last AssumeRole gave.
struct RoleSession {
    sdk: SdkConfig,
    last: Arc<std::sync::Mutex<LastAssume>>,
}

/// The process's AWS configuration, with one refreshing configuration per role.
pub struct AwsAccess {
    /// The standard chain's configuration, on the HTTP layer.
    base: SdkConfig,
    http: Arc<AwsHttp>,
    sessions: Sessions,
    roles: std::sync::Mutex<HashMap<RoleKey, RoleSlot>>,
    operator_account: Mutex<Option<String>>,
}

impl AwsAccess {
    /// `base` is the process's own configuration (the standard chain); every client
    /// built from it, and from the roles assumed through it, goes through `http`.
    /// Sessions last an hour.
    pub fn new(base: SdkConfig, http: Arc<AwsHttp>) -> Arc<Self> {
        Self::with_sessions(base, http, Sessions::default())
    }

    /// As [`AwsAccess::new`], with sessions of another length.
    pub fn with_sessions(base: SdkConfig, http: Arc<AwsHttp>, sessions: Sessions) -> Arc<Self> {
        let base = http.configure(&base, "operator");
        Arc::new(AwsAccess {
            base,
            http,
            sessions,
            roles: std::sync::Mutex::default(),
            operator_account: Mutex::default(),
        })
    }

    /// The configuration to scan with. `region` is where STS is called (the profile's
    /// first region, so a profile needs no global default region; a role keeps the
    /// region of its first use). Unless the role has a session valid for a while yet,
    /// it is assumed here, so a refusal is known before any read.
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
                let account = parse_role_arn(arn).map(str::to_string);
                let key = account.clone().unwrap_or_else(|| arn.clone());
                let role = (arn.clone(), external_id.clone());
                let slot = self
                    .roles
                    .lock()
                    .unwrap_or_else(|poisoned| poisoned.into_inner())
                    .entry(role.clone())
                    .or_default()
                    .clone();
                let mut held = slot.lock().await;
                let session = match held.take() {
                    Some(session) => session,
                    None => self.role_session(&role, region, &key).await,
                };
                let ensured = self.ensure_session(&session, arn, region).await;
                let sdk = session.sdk.clone();
                *held = Some(session);
                ensured?;
                Ok(ScanIdentity { sdk, account, key })
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

    /// The role's configuration: aws-config's AssumeRoleProvider (STS called with the
    /// process's own credentials, in `region`) behind an identity cache of the role's
    /// own, which renews the session `renew_before` its end; every request on the HTTP
    /// layer under `key`.
    async fn role_session(
        &self,
        (role, external_id): &RoleKey,
        region: &str,
        key: &str,
    ) -> RoleSession {
        let mut builder = aws_config::sts::AssumeRoleProvider::builder(role)
            .session_name(SESSION_NAME)
            .session_length(self.sessions.duration)
            .region(Region::new(region.to_string()))
            .configure(&self.base);
        if let Some(external_id) = external_id {
            builder = builder.external_id(external_id);
        }
        let last = Arc::new(std::sync::Mutex::new(LastAssume::Never));
        let provider = Observed {
            inner: builder.build().await,
            role: role.clone(),
            last: last.clone(),
        };
        let sdk = self
            .base
            .clone()
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider))
            .identity_cache(
                IdentityCache::lazy()
                    .buffer_time(self.sessions.renew_before)
                    .build(),
            )
            .build();
        RoleSession {
            sdk: self.http.configure(&sdk, key),
            last,
        }
    }

    /// Makes sure the role has a session that lasts at least `renew_before` more: if
    /// the last AssumeRole gave none, assumes the role through the role's own cache
    /// (the request that does it is STS GetCallerIdentity, which needs no permission),
    /// and reports a refusal with STS's own words.
    async fn ensure_session(
        &self,
        session: &RoleSession,
        role: &str,
        region: &str,
    ) -> Result<(), AssumeRoleError> {
        let last = session
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        let valid = match last {
            LastAssume::Assumed(expiry) => {
                expiry.is_none_or(|expiry| expiry > SystemTime::now() + self.sessions.renew_before)
            }
            LastAssume::Never | LastAssume::Refused(_) => false,
        };
        if valid {
            return Ok(());
        }
        let config = aws_sdk_sts::config::Builder::from(&session.sdk)
            .region(Region::new(region.to_string()))
            .build();
        let checked = aws_sdk_sts::Client::from_conf(config)
            .get_caller_identity()
            .send()
            .await;
        let Err(e) = checked else {
            return Ok(());
        };
        let last = session
            .last
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone();
        Err(match last {
            LastAssume::Refused(refused) => refused,
            // The role was assumed; the call with its credentials failed.
            LastAssume::Never | LastAssume::Assumed(_) => AssumeRoleError {
                role: role.to_string(),
                kind: credentials_error_kind(&e),
                message: error_chain(&e),
            },
        })
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

/// AssumeRoleProvider, with what its last answer was kept for [`AwsAccess`]'s check
/// before a scan. It caches nothing: the SDK's identity cache in front of it does.
#[derive(Debug)]
struct Observed {
    inner: aws_config::sts::AssumeRoleProvider,
    role: String,
    last: Arc<std::sync::Mutex<LastAssume>>,
}

impl ProvideCredentials for Observed {
    fn provide_credentials<'a>(&'a self) -> future::ProvideCredentials<'a>
    where
        Self: 'a,
    {
        future::ProvideCredentials::new(async move {
            let result = self.inner.provide_credentials().await;
            let outcome = match &result {
                Ok(credentials) => LastAssume::Assumed(credentials.expiry()),
                Err(e) => {
                    tracing::warn!(role = %self.role, error = %error_chain(e), "AssumeRole failed");
                    LastAssume::Refused(AssumeRoleError {
                        role: self.role.clone(),
                        kind: credentials_error_kind(e),
                        message: error_chain(e),
                    })
                }
            };
            *self
                .last
                .lock()
                .unwrap_or_else(|poisoned| poisoned.into_inner()) = outcome;
            result
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::Metrics;
    use aws_config::Region;
    use aws_sdk_sts::config::Credentials;

    /// Calls the stand-in STS answered: AssumeRole per role name, and GetCallerIdentity.
    type Calls = Arc<std::sync::Mutex<HashMap<String, usize>>>;

    /// A stand-in for STS on loopback. AssumeRole: fixed credentials valid until 2099,
    /// except for roles named `denied` (403 AccessDenied) and `slow`, whose arrival it
    /// signals on `arrived` and whose answer waits for `release`. GetCallerIdentity:
    /// an account. Counts AssumeRole per role name, GetCallerIdentity as
    /// `GetCallerIdentity`.
    async fn fake_sts(
        arrived: Arc<tokio::sync::Notify>,
        release: Arc<tokio::sync::Notify>,
    ) -> (String, Calls) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("address"));
        let calls = Calls::default();
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
                    let assume = text.contains("Action=AssumeRole");
                    let name = if assume {
                        text.split("role%2F")
                            .nth(1)
                            .and_then(|r| r.split('&').next())
                            .unwrap_or_default()
                            .to_string()
                    } else {
                        "GetCallerIdentity".to_string()
                    };
                    *calls
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .entry(name.clone())
                        .or_default() += 1;
                    if name == "slow" {
                        arrived.notify_one();
                        release.notified().await;
                    }
                    let (status, body) = match name.as_str() {
                        "denied" => (
                            "403 Forbidden",
                            "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>not authorized to perform sts:AssumeRole</Message></Error><RequestId>1</RequestId></ErrorResponse>",
                        ),
                        "GetCallerIdentity" => (
                            "200 OK",
                            "<GetCallerIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><GetCallerIdentityResult><Arn>arn:aws:sts::111122223333:assumed-role/r/apigw-compliance</Arn><UserId>AROAFAKE:apigw-compliance</UserId><Account>111122223333</Account></GetCallerIdentityResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></GetCallerIdentityResponse>",
                        ),
                        _ => (
                            "200 OK",
                            "<AssumeRoleResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleResult><Credentials><AccessKeyId>AKIAFAKE</AccessKeyId><SecretAccessKey>secret</SecretAccessKey><SessionToken>token</SessionToken><Expiration>2099-01-01T00:00:00Z</Expiration></Credentials><AssumedRoleUser><AssumedRoleId>AROAFAKE:apigw-compliance</AssumedRoleId><Arn>arn:aws:sts::111122223333:assumed-role/r/apigw-compliance</Arn></AssumedRoleUser></AssumeRoleResult><ResponseMetadata><RequestId>1</RequestId></ResponseMetadata></AssumeRoleResponse>",
                        ),
                    };
                    let response = format!(
                        "HTTP/1.1 {status}\r\nContent-Type: text/xml\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
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
        // everything that matters here is set explicitly. One attempt: a refusal is
        // not retried anyway, and nothing else fails here.
        let base = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .endpoint_url(sts)
            .retry_config(aws_config::retry::RetryConfig::standard().with_max_attempts(1))
            .credentials_provider(Credentials::new("AKIABASE", "secret", None, None, "test"))
            .load()
            .await;
        AwsAccess::new(base, AwsHttp::new(None, Some(Arc::new(Metrics::default()))))
    }

    fn counts(calls: &Calls) -> HashMap<String, usize> {
        calls.lock().unwrap_or_else(|p| p.into_inner()).clone()
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
        // A second profile of the fast role goes on with its session: no STS call.
        aws.identity(
            &Identity::new(Some("arn:aws:iam::444455556666:role/fast"), Some("x")),
            "us-east-1",
        )
        .await
        .expect("cached");
        release.notify_one();
        let slow = slow.await.expect("the slow call ends").expect("assumed");
        assert_eq!(slow.as_deref(), Some("111122223333"));
        let calls = counts(&calls);
        assert_eq!(calls.get("fast"), Some(&1), "{calls:?}");
        assert_eq!(calls.get("slow"), Some(&1), "{calls:?}");
        // One check per role, the first time it is used.
        assert_eq!(calls.get("GetCallerIdentity"), Some(&2), "{calls:?}");
    }

    #[tokio::test]
    async fn a_refused_role_is_reported_in_sts_words_and_asked_again_at_the_next_scan() {
        let (sts, calls) = fake_sts(Arc::default(), Arc::default()).await;
        let aws = access(&sts).await;
        let denied = Identity::new(Some("arn:aws:iam::111122223333:role/denied"), Some("x"));
        for attempt in 1..=2 {
            let Err(e) = aws.identity(&denied, "us-east-1").await else {
                panic!("attempt {attempt}: a refused AssumeRole must fail the identity");
            };
            assert_eq!(e.kind, ErrorKind::AccessDenied, "{e}");
            assert!(
                e.message
                    .contains("not authorized to perform sts:AssumeRole"),
                "{e}"
            );
            assert_eq!(counts(&calls).get("denied"), Some(&attempt));
        }
        // The refusal came from AssumeRole: no call was made with credentials.
        assert_eq!(counts(&calls).get("GetCallerIdentity"), None);
    }
}
