//! The one HTTP client layer every AWS client of the process is built on: it paces API
//! Gateway requests per account and region, and counts every request by service and
//! outcome for `/metrics`. One inner HTTPS client (one connection pool) serves every
//! identity and region.
//!
//! Why pace:
//! API Gateway's management API allows 10 requests per second with a burst of 40 per
//! account and region, shared by every caller in the account (deployment pipelines,
//! consoles, other tools), and GetResources 5 per 2 seconds. Adaptive retry alone would
//! find the limit by hitting it, taking budget from everyone else. So every API Gateway
//! request (v1 and v2, retries included) first takes a token from a bucket of its
//! account and region; by default the buckets allow half the quota.
//!
//! Why waits end together:
//! a request that has to wait is released on a grid of its bucket (every second at the
//! default 5/s, the time five tokens take), so the requests waiting on a bucket go out
//! together instead of one every 200 ms. Each wake-up from idle costs CPU of its own
//! (threads wake, and the request's code then runs on cold caches): released one at a
//! time, a scan at the default pace took 1.5 to 1.9 times the CPU of the same scan
//! unpaced (docs/benchmarks.md). A request that waits longer than its token needs never
//! sends more than the bucket allows, and the long-run rate is unchanged: the bucket's
//! arithmetic stays exact, only the release is rounded up, by less than one period.
//!
//! Security Hub's BatchImportFindings (the findings export) has a quota of its own, 10
//! requests per second with a burst of 30 per account and region: its requests take
//! tokens from a bucket of their own, at half of that, like API Gateway's.
//!
//! The layer sits in the HTTP client of an [`SdkConfig`] ([`AwsHttp::configure`]):
//! whatever is built from the returned configuration (the inventory reader, the
//! remediation engine, STS) is paced and counted, whatever region its clients use,
//! without the callers doing anything. The region and service of a request are read
//! from its SigV4 credential scope, so one configuration serves every region.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use aws_sdk_apigateway::config::ConfigBag;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnector, HttpConnectorFuture, HttpConnectorSettings, SharedHttpClient,
    SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
use aws_smithy_runtime_api::client::runtime_components::{
    RuntimeComponents, RuntimeComponentsBuilder,
};

use crate::metrics::Metrics;

/// Default requests per second per account and region: half of API Gateway's 10.
pub const DEFAULT_RATE: f64 = 5.0;
/// Default burst per account and region: half of API Gateway's 40.
pub const DEFAULT_BURST: u32 = 20;

/// GetResources has its own, lower quota (5 per 2 s); half of it, like the rest.
const GET_RESOURCES: RateLimit = RateLimit {
    per_second: 1.25,
    burst: 2,
};

/// Security Hub's BatchImportFindings quota is 10 per second with a burst of 30 per
/// account and region; half of it, like the rest.
const SECURITY_HUB: RateLimit = RateLimit {
    per_second: 5.0,
    burst: 15,
};

/// The longest period of a bucket's release grid ([`WakeGrid`]): a waiting request is
/// released less than this much later than its token allows.
const WAKE_PERIOD: Duration = Duration::from_secs(1);

/// How much earlier than its token a request may be released: the bucket's arithmetic
/// is floating point, and a token due a nanosecond after a grid instant must not wait a
/// whole period more.
const WAKE_TOLERANCE: Duration = Duration::from_micros(1);

/// A token bucket's size and refill rate.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct RateLimit {
    /// Tokens added per second (requests per second in the long run).
    pub per_second: f64,
    /// The most tokens banked (requests sent at once after a quiet period).
    pub burst: u32,
}

impl RateLimit {
    /// The limit for `per_second` and `burst`; `None` (no limit) when `per_second` is
    /// zero or less, which is meant for emulators and benchmarks, not for AWS.
    pub fn new(per_second: f64, burst: u32) -> Option<Self> {
        (per_second > 0.0 && per_second.is_finite()).then_some(RateLimit {
            per_second,
            burst: burst.max(1),
        })
    }
}

impl Default for RateLimit {
    fn default() -> Self {
        RateLimit {
            per_second: DEFAULT_RATE,
            burst: DEFAULT_BURST,
        }
    }
}

/// The bucket's arithmetic, apart from any clock so it can be tested exactly.
///
/// A caller always takes its token at once, possibly driving the balance below zero,
/// and is told how long to wait until that token would have been there. Callers are
/// therefore served in the order they asked, and a waiting caller never has to ask
/// again.
#[derive(Debug)]
struct Bucket {
    limit: RateLimit,
    tokens: f64,
    stamp: Instant,
}

impl Bucket {
    fn new(limit: RateLimit, now: Instant) -> Self {
        Bucket {
            limit,
            tokens: f64::from(limit.burst),
            stamp: now,
        }
    }

    /// Takes one token; returns how long the caller must wait before using it.
    fn reserve(&mut self, now: Instant) -> Duration {
        // Instants handed in out of order (two threads racing to the lock) must not
        // make time run backwards.
        if now > self.stamp {
            let elapsed = now.duration_since(self.stamp).as_secs_f64();
            self.tokens =
                (self.tokens + elapsed * self.limit.per_second).min(f64::from(self.limit.burst));
            self.stamp = now;
        }
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.limit.per_second)
        }
    }
}

/// The instants at which a bucket releases waiting callers: every `period` from `epoch`.
///
/// The period is the time the bucket takes to refill `k` tokens, `k` being what it
/// refills in [`WAKE_PERIOD`] but at most its burst. The tokens of a bucket in debt fall
/// due `1 / rate` apart, so a grid instant releases at most `k` waiting callers, all at
/// once. A bucket refilling fewer than two tokens a period has no grid: its callers go
/// when their token is there.
#[derive(Clone, Copy, Debug, PartialEq)]
struct WakeGrid {
    epoch: Instant,
    period: Duration,
}

impl WakeGrid {
    fn new(limit: RateLimit, epoch: Instant) -> Option<Self> {
        let per_period = (limit.per_second * WAKE_PERIOD.as_secs_f64())
            .min(f64::from(limit.burst))
            .floor();
        (per_period >= 2.0).then(|| WakeGrid {
            epoch,
            period: Duration::from_secs_f64(per_period / limit.per_second),
        })
    }

    /// The first grid instant not before `due` (less [`WAKE_TOLERANCE`]); `due` itself
    /// when it is before the epoch or beyond what an `Instant` can hold.
    fn release(&self, due: Instant) -> Instant {
        let Some(since) = due.checked_duration_since(self.epoch) else {
            return due;
        };
        let since = since.saturating_sub(WAKE_TOLERANCE).as_nanos();
        let period = self.period.as_nanos().max(1);
        u64::try_from(since.div_ceil(period).saturating_mul(period))
            .ok()
            .and_then(|nanos| self.epoch.checked_add(Duration::from_nanos(nanos)))
            .unwrap_or(due)
    }
}

/// A token bucket shared by concurrent callers.
#[derive(Debug)]
pub struct TokenBucket {
    bucket: Mutex<Bucket>,
    grid: Option<WakeGrid>,
}

impl TokenBucket {
    /// A full bucket of `limit` releasing its waiting callers on a grid that starts at
    /// `epoch` (not after now): buckets with the same epoch and period release at the
    /// same instants.
    pub fn new(limit: RateLimit, epoch: Instant) -> Self {
        TokenBucket {
            // Full since the epoch: a full bucket refills nothing, so an earlier stamp
            // changes nothing.
            bucket: Mutex::new(Bucket::new(limit, epoch)),
            grid: WakeGrid::new(limit, epoch),
        }
    }

    /// Takes one token at `now`; returns how long the caller must wait before using it:
    /// zero when the token is there, otherwise until the first grid instant at which it
    /// is.
    fn schedule(&self, now: Instant) -> Duration {
        let wait = self
            .bucket
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .reserve(now);
        match self.grid {
            Some(grid) if !wait.is_zero() => {
                grid.release(now + wait).saturating_duration_since(now)
            }
            _ => wait,
        }
    }

    /// Waits until the caller may send one request; returns how long it waited. A
    /// cancelled wait keeps its token spent: erring on the side of sending less.
    pub async fn acquire(&self) -> Duration {
        let now = Instant::now();
        let wait = self.schedule(now);
        if !wait.is_zero() {
            // An instant, not a duration: the callers released at one grid instant
            // share one timer expiry, whenever each of them started waiting.
            tokio::time::sleep_until((now + wait).into()).await;
        }
        wait
    }
}

/// The buckets of one account and region.
#[derive(Debug)]
struct RegionBudget {
    /// Every API Gateway management request.
    management: TokenBucket,
    /// GetResources, on top of `management`.
    get_resources: TokenBucket,
    /// Security Hub requests (the findings export).
    security_hub: TokenBucket,
}

/// (account key, region).
type BudgetKey = (Arc<str>, String);

/// The process's HTTP client layer for AWS: pacing and counting.
#[derive(Debug)]
pub struct AwsHttp {
    /// The SDK's default HTTPS client (hyper 1, rustls on aws-lc), shared by every
    /// configuration this layer serves.
    inner: SharedHttpClient,
    limit: Option<RateLimit>,
    /// Where requests and waits are counted (the operator's /metrics); `None` in `scan`.
    metrics: Option<Arc<Metrics>>,
    /// One entry per (account, region) ever called: a few dozen at most, so never
    /// evicted.
    budgets: Mutex<HashMap<BudgetKey, Arc<RegionBudget>>>,
    /// Where the release grid of every bucket starts: buckets of one period (every
    /// management bucket) release their waiting requests at the same instants.
    epoch: Instant,
}

impl AwsHttp {
    /// `limit`: `None` for no client-side pacing (the SDK's adaptive retry still backs
    /// off). `metrics`: where to count requests and waits.
    pub fn new(limit: Option<RateLimit>, metrics: Option<Arc<Metrics>>) -> Arc<Self> {
        Arc::new(AwsHttp {
            inner: aws_smithy_http_client::Builder::new()
                .tls_provider(tls::Provider::Rustls(
                    tls::rustls_provider::CryptoMode::AwsLc,
                ))
                .build_https(),
            limit,
            metrics,
            budgets: Mutex::default(),
            epoch: Instant::now(),
        })
    }

    /// The limit each account and region gets; `None` when unlimited.
    pub fn rate_limit(&self) -> Option<RateLimit> {
        self.limit
    }

    /// `sdk` with this layer as its HTTP client: every API Gateway request (REST and
    /// v2, each retry included) waits for a token of `account`'s budget in the
    /// request's region, every Security Hub request for one of the Security Hub
    /// bucket of that account and region; other services (STS, WAFv2) have quotas of
    /// their own and pass unpaced; every request is counted. `account` is a key: the account id when
    /// known, otherwise anything that names the identity; configurations made with the
    /// same key share one budget per region.
    pub fn configure(self: &Arc<Self>, sdk: &SdkConfig, account: &str) -> SdkConfig {
        let client = LayeredHttpClient {
            layer: self.clone(),
            account: Arc::from(account),
        };
        sdk.clone()
            .into_builder()
            .http_client(SharedHttpClient::new(client))
            .build()
    }

    fn budget(&self, account: &Arc<str>, region: &str) -> Option<Arc<RegionBudget>> {
        let limit = self.limit?;
        let mut budgets = self
            .budgets
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let budget = budgets
            .entry((account.clone(), region.to_string()))
            .or_insert_with(|| {
                Arc::new(RegionBudget {
                    management: TokenBucket::new(limit, self.epoch),
                    // Never more generous than the management limit itself.
                    get_resources: TokenBucket::new(
                        RateLimit {
                            per_second: GET_RESOURCES.per_second.min(limit.per_second),
                            burst: GET_RESOURCES.burst.min(limit.burst),
                        },
                        self.epoch,
                    ),
                    security_hub: TokenBucket::new(SECURITY_HUB, self.epoch),
                })
            });
        Some(budget.clone())
    }
}

#[derive(Debug)]
struct LayeredHttpClient {
    layer: Arc<AwsHttp>,
    account: Arc<str>,
}

impl HttpClient for LayeredHttpClient {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        SharedHttpConnector::new(LayeredConnector {
            inner: self.layer.inner.http_connector(settings, components),
            layer: self.layer.clone(),
            account: self.account.clone(),
        })
    }

    fn validate_base_client_config(
        &self,
        runtime_components: &RuntimeComponentsBuilder,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.layer
            .inner
            .validate_base_client_config(runtime_components, cfg)
    }

    fn validate_final_config(
        &self,
        runtime_components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.layer
            .inner
            .validate_final_config(runtime_components, cfg)
    }
}

#[derive(Debug)]
struct LayeredConnector {
    inner: SharedHttpConnector,
    layer: Arc<AwsHttp>,
    account: Arc<str>,
}

impl HttpConnector for LayeredConnector {
    fn call(&self, request: HttpRequest) -> HttpConnectorFuture {
        let scope = credential_scope(&request);
        let service = scope.map_or("unknown", |(_, service)| service).to_string();
        let budget = match scope {
            Some((region, service @ ("apigateway" | "securityhub"))) => self
                .layer
                .budget(&self.account, region)
                .map(|budget| (budget, region.to_string(), service == "securityhub")),
            _ => None,
        };
        let get_resources = is_get_resources(request.method(), request.uri());
        let inner = self.inner.clone();
        let metrics = self.layer.metrics.clone();
        let account = self.account.clone();
        // The request is already signed here. A SigV4 signature stays valid for
        // minutes, and the wait is bounded by the requests in flight for the account
        // and region (a few dozen) divided by the rate: seconds.
        HttpConnectorFuture::new(async move {
            match budget {
                // Not counted in the rate-limit metrics, which are API Gateway's.
                Some((budget, _, true)) => _ = budget.security_hub.acquire().await,
                Some((budget, region, false)) => {
                    let mut waited = budget.management.acquire().await;
                    if get_resources {
                        waited += budget.get_resources.acquire().await;
                    }
                    if let (Some(metrics), false) = (&metrics, waited.is_zero()) {
                        metrics.rate_limit_waited(&account, &region, waited);
                    }
                }
                None => {}
            }
            let result = inner.call(request).await;
            if let Some(metrics) = &metrics {
                let class = match &result {
                    Ok(response) => error_class(response.status().as_u16()),
                    Err(_) => Some("network"),
                };
                metrics.aws_call(&service, class);
            }
            result
        })
    }
}

/// The failure class of an HTTP status, for the request counter.
fn error_class(status: u16) -> Option<&'static str> {
    match status {
        429 => Some("throttled"),
        400..=499 => Some("client"),
        500..=599 => Some("server"),
        _ => None,
    }
}

/// (region, service) of a SigV4-signed request, from the credential scope of its
/// Authorization header (`Credential=AKID/20260101/us-east-1/apigateway/aws4_request`):
/// works whatever the endpoint, including an emulator on 127.0.0.1.
fn credential_scope(request: &HttpRequest) -> Option<(&str, &str)> {
    let authorization = request.headers().get("authorization")?;
    let scope = authorization.split("Credential=").nth(1)?;
    let mut parts = scope.split('/');
    let region = parts.nth(2)?;
    let service = parts.next()?;
    Some((region, service))
}

/// `GET /restapis/{id}/resources` (any query): GetResources, which AWS throttles apart.
fn is_get_resources(method: &str, uri: &str) -> bool {
    if method != "GET" {
        return false;
    }
    let path = uri
        .split_once("://")
        .map_or(uri, |(_, rest)| rest.find('/').map_or("", |i| &rest[i..]));
    let path = path.split('?').next().unwrap_or(path);
    let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
    matches!(segments.as_slice(), ["restapis", _, "resources"])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(per_second: f64, burst: u32) -> RateLimit {
        RateLimit::new(per_second, burst).expect("a positive rate")
    }

    #[test]
    fn a_full_bucket_lets_the_burst_through_then_paces_at_the_rate() {
        let start = Instant::now();
        let mut bucket = Bucket::new(limit(5.0, 3), start);
        for _ in 0..3 {
            assert_eq!(bucket.reserve(start), Duration::ZERO);
        }
        // The 4th, 5th and 6th callers at the same instant wait 1, 2 and 3 token times.
        assert_eq!(bucket.reserve(start), Duration::from_millis(200));
        assert_eq!(bucket.reserve(start), Duration::from_millis(400));
        assert_eq!(bucket.reserve(start), Duration::from_millis(600));
    }

    #[test]
    fn tokens_refill_with_time_up_to_the_burst() {
        let start = Instant::now();
        let mut bucket = Bucket::new(limit(2.0, 2), start);
        bucket.reserve(start);
        bucket.reserve(start);
        // Half a second later one token is back.
        let later = start + Duration::from_millis(500);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
        assert_eq!(bucket.reserve(later), Duration::from_millis(500));
        // After a long quiet period the bucket holds the burst, no more.
        let much_later = later + Duration::from_secs(60);
        assert_eq!(bucket.reserve(much_later), Duration::ZERO);
        assert_eq!(bucket.reserve(much_later), Duration::ZERO);
        assert_eq!(bucket.reserve(much_later), Duration::from_millis(500));
    }

    #[test]
    fn callers_are_served_in_order_and_the_long_run_rate_holds() {
        let start = Instant::now();
        let mut bucket = Bucket::new(limit(10.0, 1), start);
        let waits: Vec<Duration> = (0..100).map(|_| bucket.reserve(start)).collect();
        assert!(waits.windows(2).all(|w| w[0] < w[1]), "{waits:?}");
        // 100 requests at 10/s with a burst of 1: the last goes 9.9 s after the first.
        let last = waits.last().copied().unwrap_or_default();
        assert!(
            (last.as_secs_f64() - 9.9).abs() < 1e-9,
            "last request waits {last:?}"
        );
    }

    #[test]
    fn an_instant_from_the_past_does_not_refill() {
        let start = Instant::now();
        let later = start + Duration::from_secs(1);
        let mut bucket = Bucket::new(limit(1.0, 1), later);
        assert_eq!(bucket.reserve(later), Duration::ZERO);
        assert_eq!(bucket.reserve(start), Duration::from_secs(1));
    }

    #[test]
    fn waiting_callers_are_released_together_on_the_grid() {
        let start = Instant::now();
        let bucket = TokenBucket::new(limit(5.0, 20), start);
        for _ in 0..20 {
            assert_eq!(bucket.schedule(start), Duration::ZERO);
        }
        // Tokens 21 to 25 fall due 0.2, 0.4, ..., 1.0 s after the start: all five
        // callers go at 1 s.
        for _ in 0..5 {
            assert_eq!(bucket.schedule(start), Duration::from_secs(1));
        }
        // Callers who come later wait for the same instants: tokens 26 to 30 fall due
        // from 1.2 to 2.0 s, and go at 2 s.
        let later = start + Duration::from_millis(300);
        for _ in 0..5 {
            assert_eq!(bucket.schedule(later), Duration::from_millis(1700));
        }
        assert_eq!(
            bucket.schedule(later),
            Duration::from_millis(2700),
            "the 31st token is the next period's"
        );
    }

    #[test]
    fn the_grid_delays_by_less_than_a_period_and_keeps_the_rate() {
        // Callers every 50 ms (20/s) against 5/s, burst 20: the bucket goes into debt.
        let start = Instant::now();
        let gridded = TokenBucket::new(limit(5.0, 20), start);
        let mut exact = Bucket::new(limit(5.0, 20), start);
        let period = Duration::from_secs(1);
        let mut released: HashMap<Instant, usize> = HashMap::new();
        let mut last = (start, start);
        for i in 0..400 {
            let now = start + Duration::from_millis(50 * i);
            let (wait, due) = (gridded.schedule(now), exact.reserve(now));
            assert!(
                wait + WAKE_TOLERANCE >= due && wait < due + period,
                "caller {i}: waits {wait:?}, its token is there in {due:?}"
            );
            if !wait.is_zero() {
                let at = now + wait;
                assert_eq!(at.duration_since(start).subsec_nanos(), 0, "{at:?}");
                *released.entry(at).or_default() += 1;
            }
            last = (now + wait, now + due);
        }
        // Tokens fall due 200 ms apart: at most five callers per grid instant, one
        // instant a second. The first caller to wait is the 27th (1.3 s; the bucket
        // refilled meanwhile), and four wait for the instant at 2 s, then five for each
        // instant up to 76 s.
        assert!(released.values().all(|&n| n <= 5), "{released:?}");
        assert_eq!(released.len(), 75);
        assert_eq!(released.get(&(start + Duration::from_secs(2))), Some(&4));
        // 380 callers beyond the burst at 5/s: the last goes at 76 s either way.
        assert_eq!(last.0, start + Duration::from_secs(76));
        assert!(last.0 + WAKE_TOLERANCE >= last.1 && last.0 < last.1 + period);
    }

    #[test]
    fn the_grid_period_is_what_the_bucket_refills_in_a_second_at_most_its_burst() {
        let start = Instant::now();
        let period = |per_second: f64, burst: u32| {
            WakeGrid::new(limit(per_second, burst), start).map(|grid| grid.period)
        };
        assert_eq!(period(5.0, 20), Some(Duration::from_secs(1)));
        assert_eq!(period(2.5, 20), Some(Duration::from_millis(800)));
        assert_eq!(period(5.0, 3), Some(Duration::from_millis(600)));
        assert_eq!(period(1000.0, 1000), Some(Duration::from_secs(1)));
        // Fewer than two tokens a period: no grid, each caller goes when its token is
        // there (a burst of 1 stays one request at a time).
        assert_eq!(period(20.0, 1), None);
        assert_eq!(period(1.25, 2), None);
        assert_eq!(period(0.5, 20), None);
    }

    #[test]
    fn no_rate_means_no_limit() {
        assert_eq!(RateLimit::new(0.0, 20), None);
        assert_eq!(RateLimit::new(-1.0, 20), None);
        assert_eq!(RateLimit::new(f64::NAN, 20), None);
        assert_eq!(RateLimit::new(2.0, 0).map(|l| l.burst), Some(1));
        assert_eq!(
            RateLimit::default(),
            RateLimit {
                per_second: 5.0,
                burst: 20
            }
        );
    }

    #[test]
    fn budgets_are_per_account_and_region() {
        let limiter = AwsHttp::new(Some(limit(5.0, 20)), None);
        let a: Arc<str> = Arc::from("111122223333");
        let b: Arc<str> = Arc::from("444455556666");
        let a_east = limiter.budget(&a, "us-east-1").expect("limited");
        assert!(Arc::ptr_eq(
            &a_east,
            &limiter.budget(&a, "us-east-1").expect("limited")
        ));
        assert!(!Arc::ptr_eq(
            &a_east,
            &limiter.budget(&a, "eu-west-1").expect("limited")
        ));
        assert!(!Arc::ptr_eq(
            &a_east,
            &limiter.budget(&b, "us-east-1").expect("limited")
        ));
        assert!(AwsHttp::new(None, None).budget(&a, "us-east-1").is_none());
    }

    #[test]
    fn the_region_and_service_come_from_the_sigv4_scope() {
        let mut request = HttpRequest::empty();
        request.headers_mut().insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKID/20260101/eu-west-1/apigateway/aws4_request, SignedHeaders=host, Signature=abc",
        );
        assert_eq!(
            credential_scope(&request),
            Some(("eu-west-1", "apigateway"))
        );
        assert_eq!(credential_scope(&HttpRequest::empty()), None);
    }

    #[test]
    fn get_resources_is_recognised_by_method_and_path() {
        assert!(is_get_resources(
            "GET",
            "http://127.0.0.1:5000/restapis/a1b2c3/resources?embed=methods&limit=500"
        ));
        assert!(is_get_resources("GET", "/restapis/a1b2c3/resources"));
        assert!(!is_get_resources(
            "GET",
            "https://apigateway.us-east-1.amazonaws.com/restapis/a1b2c3/stages"
        ));
        assert!(!is_get_resources("POST", "/restapis/a1b2c3/resources"));
        assert!(!is_get_resources("GET", "/restapis"));
    }

    /// An HTTP connector that sends nothing: the limiter in front of it is under test.
    #[derive(Debug)]
    struct SendsNothing;

    impl HttpConnector for SendsNothing {
        fn call(&self, _request: HttpRequest) -> HttpConnectorFuture {
            HttpConnectorFuture::ready(Err(
                aws_smithy_runtime_api::client::result::ConnectorError::other(
                    "nothing is sent in this test".into(),
                    None,
                ),
            ))
        }
    }

    fn signed(region: &str, service: &str) -> HttpRequest {
        let mut request = HttpRequest::empty();
        request.headers_mut().insert(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential=AKID/20260101/{region}/{service}/aws4_request, SignedHeaders=host, Signature=abc"
            ),
        );
        request
    }

    #[tokio::test]
    async fn waits_for_the_limit_are_counted_per_account_and_region_and_other_services_pass() {
        let metrics = Arc::new(Metrics::default());
        let connector = LayeredConnector {
            inner: SharedHttpConnector::new(SendsNothing),
            // Burst 1 at 20/s: the first request goes at once, each next one waits 50 ms.
            layer: AwsHttp::new(Some(limit(20.0, 1)), Some(metrics.clone())),
            account: Arc::from("111122223333"),
        };
        for (region, service) in [
            ("eu-west-1", "apigateway"),
            ("eu-west-1", "apigateway"),
            ("eu-west-1", "apigateway"),
            ("eu-west-1", "sts"),
            ("us-east-1", "apigateway"),
        ] {
            let refused = connector.call(signed(region, service)).await;
            assert!(refused.is_err(), "the stub sends nothing");
        }
        let text = metrics.encode();
        assert!(
            text.contains(
                r#"apigw_compliance_aws_rate_limit_waits_total{account="111122223333",region="eu-west-1"} 2"#
            ),
            "{text}"
        );
        // us-east-1 has a budget of its own (its one request went at once); STS is not
        // API Gateway's quota.
        assert!(!text.contains(r#"region="us-east-1""#), "{text}");
        let waited: f64 = text
            .lines()
            .find(|l| l.starts_with("apigw_compliance_aws_rate_limit_wait_seconds_total{"))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .expect("the wait time series");
        // At most the two 50 ms debts; less when time passed between the requests.
        assert!(
            waited > 0.0 && waited <= 0.1 + 1e-9,
            "waited {waited} s: {text}"
        );
    }

    #[tokio::test]
    async fn security_hub_requests_are_paced_by_a_bucket_of_their_own() {
        let metrics = Arc::new(Metrics::default());
        let connector = LayeredConnector {
            inner: SharedHttpConnector::new(SendsNothing),
            // API Gateway at 1/s with a burst of 1: were Security Hub paced by it, the
            // 16 requests below would take 15 s.
            layer: AwsHttp::new(Some(limit(1.0, 1)), Some(metrics.clone())),
            account: Arc::from("111122223333"),
        };
        let started = Instant::now();
        for _ in 0..=SECURITY_HUB.burst {
            let refused = connector.call(signed("eu-west-1", "securityhub")).await;
            assert!(refused.is_err(), "the stub sends nothing");
        }
        let took = started.elapsed();
        // The burst goes at once; the 16th request waits for a token (200 ms at 5/s).
        assert!(
            took >= Duration::from_millis(150) && took < Duration::from_secs(5),
            "took {took:?}"
        );
        let text = metrics.encode();
        assert!(
            !text.contains("apigw_compliance_aws_rate_limit_waits_total{"),
            "{text}"
        );
        assert!(
            text.contains(r#"apigw_compliance_aws_calls_total{service="securityhub"} 16"#),
            "{text}"
        );
    }

    #[test]
    fn every_configuration_gets_the_layer_as_its_http_client() {
        let sdk = SdkConfig::builder().build();
        for limit in [None, Some(RateLimit::default())] {
            let configured = AwsHttp::new(limit, None).configure(&sdk, "acct");
            assert!(configured.http_client().is_some());
        }
    }

    #[test]
    fn failures_are_classed_by_status() {
        assert_eq!(error_class(200), None);
        assert_eq!(error_class(429), Some("throttled"));
        assert_eq!(error_class(403), Some("client"));
        assert_eq!(error_class(503), Some("server"));
    }

    #[test]
    fn the_service_comes_from_the_sigv4_scope() {
        assert_eq!(
            credential_scope(&signed("us-east-1", "apigateway")),
            Some(("us-east-1", "apigateway"))
        );
        assert_eq!(credential_scope(&HttpRequest::empty()), None);
    }
}
