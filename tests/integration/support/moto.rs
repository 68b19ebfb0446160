//! The moto server for tests: endpoint, per-test accounts, SDK configs.
//!
//! One moto server per process (or the one named by `APIGW_TEST_MOTO_URL`), shared by
//! all its tests, which run in parallel: each test isolates itself in an AWS account
//! of its own with [`MotoAccount::new_account`]. moto keeps every account's resources
//! apart; credentials from STS `AssumeRole` of `arn:aws:iam::<account>:role/...` act in
//! `<account>` (see tests/moto/README.md).
//!
//! The server is `tests/moto/server.py`: moto extended with what the product needs
//! and a small control API (`/_apigw_test/`) for call counts and throttling.

use std::collections::BTreeMap;
use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hash, Hasher};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_config::retry::RetryConfig;
use aws_config::sts::AssumeRoleProvider;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_apigateway::config::{Credentials, ProvideCredentials, SharedCredentialsProvider};

/// Env var naming an already running server (tests/moto/server.py) to use instead of
/// starting one per process, e.g. `APIGW_TEST_MOTO_URL=http://127.0.0.1:5000`.
pub const MOTO_URL_ENV: &str = "APIGW_TEST_MOTO_URL";

/// The region tests use unless they need another.
pub const DEFAULT_REGION: &str = "us-east-1";

struct Server {
    url: String,
}

static SERVER: OnceLock<Server> = OnceLock::new();

fn repo_root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// The URL of the process-wide moto server, starting it on first use.
///
/// With `APIGW_TEST_MOTO_URL` set, that server is used as is. Otherwise
/// `tests/moto/up` installs (once per machine, cached) and starts one for this
/// process, with `--owner-pid` = this process so it stops when the process exits.
/// Blocks the calling thread while the server starts (the first install takes a
/// minute); panics with the server's log if it cannot start.
pub fn moto_url() -> &'static str {
    &SERVER.get_or_init(start_server).url
}

fn start_server() -> Server {
    if let Ok(url) = std::env::var(MOTO_URL_ENV)
        && !url.trim().is_empty()
    {
        return Server {
            url: url.trim().trim_end_matches('/').to_string(),
        };
    }
    let state: PathBuf =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("moto-{}", std::process::id()));
    let out = Command::new(repo_root().join("tests/moto/up"))
        .arg(&state)
        .arg("--owner-pid")
        .arg(std::process::id().to_string())
        .output()
        .expect("run tests/moto/up");
    assert!(
        out.status.success(),
        "tests/moto/up failed ({}):\n{}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let url = String::from_utf8(out.stdout).expect("utf-8 URL");
    let url = url.trim().to_string();
    assert!(url.starts_with("http://"), "tests/moto/up printed {url:?}");
    Server { url }
}

/// A fresh AWS account in moto, with credentials that act in it.
#[derive(Clone, Debug)]
pub struct MotoAccount {
    pub endpoint_url: String,
    pub account_id: String,
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: Option<String>,
}

/// A 12-digit account id no other test (in this or another process) is using:
/// random per process (RandomState is seeded from the OS), plus pid, time and a
/// counter. The chance that two of a few thousand ids collide is ~1e-6.
fn unique_account_id() -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let mut hasher = RandomState::new().build_hasher();
    std::process::id().hash(&mut hasher);
    COUNTER.fetch_add(1, Ordering::Relaxed).hash(&mut hasher);
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or_default()
        .hash(&mut hasher);
    let id = 100_000_000_000 + hasher.finish() % 900_000_000_000;
    if id == 123_456_789_012 {
        // moto's default account, where unknown credentials land: never hand it out.
        return unique_account_id();
    }
    format!("{id:012}")
}

/// Start the process-wide server if needed, off the async runtime's thread.
async fn server_url() -> String {
    if let Some(server) = SERVER.get() {
        return server.url.clone();
    }
    tokio::task::spawn_blocking(|| moto_url().to_string())
        .await
        .expect("start moto")
}

/// A fresh account for one test: a unique account id, and credentials for it from STS
/// `AssumeRole` of `arn:aws:iam::<account>:role/apigw-compliance-test` (moto issues them
/// and maps every later request signed with them to that account).
pub async fn new_account() -> MotoAccount {
    let endpoint_url = server_url().await;
    let account_id = unique_account_id();
    // Base credentials for the STS call itself; moto does not check them.
    let base = aws_config::defaults(BehaviorVersion::latest())
        .region(Region::new(DEFAULT_REGION))
        .endpoint_url(&endpoint_url)
        .credentials_provider(Credentials::new(
            "AKIAAPIGWTESTBASE000",
            "apigw-test-base-secret",
            None,
            None,
            "apigw-test-base",
        ))
        .load()
        .await;
    let provider = AssumeRoleProvider::builder(format!(
        "arn:aws:iam::{account_id}:role/apigw-compliance-test"
    ))
    .session_name("apigw-compliance-test")
    .configure(&base)
    .build()
    .await;
    let creds = provider
        .provide_credentials()
        .await
        .expect("STS AssumeRole against moto");
    MotoAccount {
        endpoint_url,
        account_id,
        access_key_id: creds.access_key_id().to_string(),
        secret_access_key: creds.secret_access_key().to_string(),
        session_token: creds.session_token().map(str::to_string),
    }
}

impl MotoAccount {
    /// Same as [`new_account`].
    pub async fn new_account() -> MotoAccount {
        new_account().await
    }

    /// An SDK config for this account in `region`: static credentials, the moto
    /// endpoint, standard retries, and a 60 s operation timeout so a wedged server
    /// fails a test instead of hanging it.
    pub fn sdk_config(&self, region: &str) -> SdkConfig {
        SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(region.to_string()))
            .endpoint_url(&self.endpoint_url)
            .credentials_provider(SharedCredentialsProvider::new(self.credentials()))
            .retry_config(RetryConfig::standard())
            .timeout_config(
                TimeoutConfig::builder()
                    .operation_timeout(Duration::from_secs(60))
                    .build(),
            )
            .build()
    }

    /// The account's credentials as an SDK value.
    pub fn credentials(&self) -> Credentials {
        Credentials::new(
            &self.access_key_id,
            &self.secret_access_key,
            self.session_token.clone(),
            None,
            "moto-test-account",
        )
    }

    /// Environment for running the product binary as a subprocess against this
    /// account: the standard AWS variables, no instance metadata lookups, and no
    /// shared config/credentials files (a developer's ~/.aws must not leak in).
    pub fn env(&self, region: &str) -> Vec<(String, String)> {
        let mut env = vec![
            ("AWS_ENDPOINT_URL", self.endpoint_url.clone()),
            ("AWS_ACCESS_KEY_ID", self.access_key_id.clone()),
            ("AWS_SECRET_ACCESS_KEY", self.secret_access_key.clone()),
            ("AWS_REGION", region.to_string()),
            ("AWS_DEFAULT_REGION", region.to_string()),
            ("AWS_EC2_METADATA_DISABLED", "true".to_string()),
            ("AWS_CONFIG_FILE", "/dev/null".to_string()),
            ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null".to_string()),
        ];
        if let Some(token) = &self.session_token {
            env.push(("AWS_SESSION_TOKEN", token.clone()));
        }
        env.into_iter().map(|(k, v)| (k.to_string(), v)).collect()
    }

    /// The requests the server has served for this account since the last reset.
    pub async fn call_counts(&self) -> CallCounts {
        control(
            &self.endpoint_url,
            "GET",
            &format!("calls?account={}", self.account_id),
        )
        .await
        .and_then(CallCounts::from_json)
        .expect("read call counts")
    }

    /// Zero this account's call counts.
    pub async fn reset_call_counts(&self) {
        control(
            &self.endpoint_url,
            "POST",
            &format!("calls/reset?account={}", self.account_id),
        )
        .await
        .expect("reset call counts");
    }

    /// Throttle this account's API Gateway calls (v1 and v2) to `rate` per second
    /// with a token bucket of `burst`, per region, answering HTTP 429
    /// TooManyRequestsException beyond it. `rate` 0 removes the limit.
    pub async fn set_rate_limit(&self, rate: f64, burst: f64) {
        control(
            &self.endpoint_url,
            "POST",
            &format!(
                "rate-limit?account={}&rate={rate}&burst={burst}",
                self.account_id
            ),
        )
        .await
        .expect("set rate limit");
    }

    /// Creates the REST and v2 APIs `estate` describes in `region`, in-process on the
    /// server (`POST /_apigw_test/seed`, tests/moto/README.md): thousands of stages in
    /// seconds, where the SDK would take minutes. Returns the ids created.
    pub async fn seed_bulk(&self, region: &str, estate: &serde_json::Value) -> serde_json::Value {
        let (base, body) = (self.endpoint_url.clone(), estate.to_string());
        let route = format!("seed?account={}&region={region}", self.account_id);
        tokio::task::spawn_blocking(move || {
            http_request(&base, "POST", &route, &body, Duration::from_secs(600))
        })
        .await
        .expect("the seeding thread")
        .unwrap_or_else(|e| panic!("bulk seed: {e}"))
    }

    /// Refuse this account's `operation` (`service:Operation`, e.g.
    /// `apigateway:GetStages`) with 403 AccessDeniedException, in `region` only when
    /// given, and only on paths containing `path` when given: what an IAM deny does.
    pub async fn deny(&self, operation: &str, region: Option<&str>, path: Option<&str>) {
        let mut query = format!("deny?account={}&operation={operation}", self.account_id);
        if let Some(region) = region {
            query.push_str(&format!("&region={region}"));
        }
        if let Some(path) = path {
            query.push_str(&format!("&path={path}"));
        }
        control(&self.endpoint_url, "POST", &query)
            .await
            .expect("deny an operation");
    }

    /// Drops this account's deny rules of `operation`: what granting it back does.
    pub async fn allow(&self, operation: &str) {
        let query = format!("allow?account={}&operation={operation}", self.account_id);
        control(&self.endpoint_url, "POST", &query)
            .await
            .expect("allow an operation");
    }

    /// From now on, AssumeRole sessions of roles in this account end at their
    /// Expiration: a request signed with one that ran out gets 403 ExpiredToken, as AWS
    /// answers it (moto itself never checks).
    pub async fn enforce_session_expiry(&self) {
        let query = format!("session-expiry?account={}", self.account_id);
        control(&self.endpoint_url, "POST", &query)
            .await
            .expect("enforce session expiry");
    }
}

/// Requests served, by `service:Operation` (e.g. `apigateway:GetStages`,
/// `apigatewayv2:UpdateStage`, `wafv2:AssociateWebACL`). Throttled requests count
/// under their operation and in `throttled`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CallCounts {
    pub total: u64,
    pub throttled: u64,
    pub calls: BTreeMap<String, u64>,
}

impl CallCounts {
    fn from_json(v: serde_json::Value) -> Result<Self, String> {
        let num = |key: &str| {
            v.get(key)
                .and_then(serde_json::Value::as_u64)
                .ok_or_else(|| format!("no {key} in {v}"))
        };
        let calls = v
            .get("calls")
            .and_then(serde_json::Value::as_object)
            .ok_or_else(|| format!("no calls in {v}"))?
            .iter()
            .map(|(k, n)| Ok((k.clone(), n.as_u64().ok_or("count not a number")?)))
            .collect::<Result<_, String>>()?;
        Ok(CallCounts {
            total: num("total")?,
            throttled: num("throttled")?,
            calls,
        })
    }

    /// How often `op` (`service:Operation`) was called.
    pub fn get(&self, op: &str) -> u64 {
        self.calls.get(op).copied().unwrap_or(0)
    }

    /// API Gateway calls (REST and v2), retries included: what the client-side rate
    /// limit paces and the inventory's minimum is counted in.
    pub fn api_gateway(&self) -> u64 {
        self.calls
            .iter()
            .filter(|(op, _)| op.starts_with("apigateway"))
            .map(|(_, n)| n)
            .sum()
    }

    /// Calls whose operation is not a read (Get*/List*/Describe*): what an idempotent
    /// second pass over a compliant world must leave at zero.
    pub fn writes(&self) -> u64 {
        self.calls
            .iter()
            .filter(|(op, _)| {
                let name = op.rsplit(':').next().unwrap_or(op);
                !["Get", "List", "Describe"]
                    .iter()
                    .any(|p| name.starts_with(p))
            })
            .map(|(_, n)| n)
            .sum()
    }
}

/// Every account's requests on the process-wide server, merged (parallel tests share
/// it: prefer [`MotoAccount::call_counts`]).
pub async fn call_counts() -> CallCounts {
    let url = server_url().await;
    control(&url, "GET", "calls")
        .await
        .and_then(CallCounts::from_json)
        .expect("read call counts")
}

/// Zero the counts of every account on the process-wide server.
pub async fn reset_call_counts() {
    let url = server_url().await;
    control(&url, "POST", "calls/reset")
        .await
        .expect("reset call counts");
}

/// One request to the server's `/_apigw_test/` control API: plain HTTP/1.1 over a
/// std TcpStream (no HTTP-client dependency for a loopback GET/POST), on a blocking
/// thread. Routes about one account are methods of [`MotoAccount`]; a route about an
/// account the test has no credentials for (a member of its organization,
/// `support::organization`) is called directly.
pub async fn control(base: &str, method: &str, route: &str) -> Result<serde_json::Value, String> {
    let base = base.to_string();
    let method = method.to_string();
    let route = route.to_string();
    tokio::task::spawn_blocking(move || {
        http_request(&base, &method, &route, "", Duration::from_secs(30))
    })
    .await
    .map_err(|e| e.to_string())?
}

fn http_request(
    base: &str,
    method: &str,
    route: &str,
    body: &str,
    timeout: Duration,
) -> Result<serde_json::Value, String> {
    let authority = base
        .strip_prefix("http://")
        .ok_or_else(|| format!("not an http:// URL: {base}"))?
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).map_err(|e| format!("{authority}: {e}"))?;
    stream
        .set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let request = format!(
        "{method} /_apigw_test/{route} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream
        .write_all(request.as_bytes())
        .map_err(|e| e.to_string())?;
    let mut response = Vec::new();
    stream
        .read_to_end(&mut response)
        .map_err(|e| e.to_string())?;
    let text = String::from_utf8(response).map_err(|e| e.to_string())?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("malformed response: {text}"))?;
    let status = head.split_whitespace().nth(1).unwrap_or("");
    if status != "200" {
        return Err(format!("{method} /_apigw_test/{route}: {head}\n{body}"));
    }
    serde_json::from_str(body).map_err(|e| format!("{e}: {body}"))
}
