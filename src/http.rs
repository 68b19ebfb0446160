//! The operator's HTTP endpoints, for the kubelet's probes and for Prometheus:
//! - `/healthz` (liveness): fails when reconciles are running but none has made
//!   progress (an AWS response, a finished reconcile) for `--liveness-stall-seconds`
//!   (default [`DEFAULT_STALL_AFTER_SECONDS`]): a wedged operator is restarted;
//! - `/readyz` (readiness): the operator can list ComplianceProfiles and, once its
//!   controller runs, its watch of them is healthy; a standby replica waiting for the
//!   leader lease is ready when it can list them;
//! - `/metrics`: [`crate::metrics::Metrics`] in the OpenMetrics text format.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;

use crate::metrics::Metrics;

/// Reconciles running with no progress for this long mean a wedged operator: longer
/// than any one AWS call can take with its retries (a 30 s read timeout, 10 attempts).
pub const DEFAULT_STALL_AFTER_SECONDS: u64 = 10 * 60;

/// What the endpoints report.
pub struct HttpState {
    pub metrics: Arc<Metrics>,
    pub health: Arc<Health>,
}

impl HttpState {
    /// Endpoints whose liveness fails after `stall_after` without progress.
    pub fn new(metrics: Arc<Metrics>, stall_after: Duration) -> Self {
        HttpState {
            metrics,
            health: Arc::new(Health::new(stall_after)),
        }
    }
}

/// What the probes say, kept up to date by the controller. Progress itself is clocked
/// by [`Metrics::progressed`] (every AWS response and finished reconcile).
#[derive(Debug)]
pub struct Health {
    /// ComplianceProfiles could be listed (API server, CRD, RBAC).
    listed: AtomicBool,
    /// The controller's watch of profiles reports errors.
    watch_failing: AtomicBool,
    reconciling: AtomicUsize,
    /// Reconciles running with no progress for this long fail liveness.
    stall_after: Duration,
}

impl Health {
    pub fn new(stall_after: Duration) -> Self {
        Health {
            listed: AtomicBool::new(false),
            watch_failing: AtomicBool::new(false),
            reconciling: AtomicUsize::new(0),
            stall_after,
        }
    }

    pub fn set_listed(&self) {
        self.listed.store(true, Ordering::Relaxed);
    }

    /// The controller's watch delivered an event (`true`) or an error (`false`).
    pub fn watch_ok(&self, ok: bool) {
        self.watch_failing.store(!ok, Ordering::Relaxed);
    }

    pub fn is_ready(&self) -> bool {
        self.listed.load(Ordering::Relaxed) && !self.watch_failing.load(Ordering::Relaxed)
    }

    /// A reconcile runs until the guard is dropped; its start and end are progress.
    pub fn reconciling(self: &Arc<Self>, metrics: &Arc<Metrics>) -> ReconcileGuard {
        self.reconciling.fetch_add(1, Ordering::Relaxed);
        metrics.progressed();
        ReconcileGuard(self.clone(), metrics.clone())
    }

    /// `Err` (why) when reconciles run and nothing has progressed since
    /// `last_progress` for the stall threshold.
    pub fn is_live(&self, now: Instant, last_progress: Instant) -> Result<(), String> {
        let running = self.reconciling.load(Ordering::Relaxed);
        let quiet = now.saturating_duration_since(last_progress);
        if running > 0 && quiet >= self.stall_after {
            return Err(format!(
                "{running} reconcile(s) running and no progress (an AWS response, a finished reconcile) for {} s",
                quiet.as_secs()
            ));
        }
        Ok(())
    }
}

/// Marks a running reconcile; its end is progress.
pub struct ReconcileGuard(Arc<Health>, Arc<Metrics>);

impl Drop for ReconcileGuard {
    fn drop(&mut self) {
        self.0.reconciling.fetch_sub(1, Ordering::Relaxed);
        self.1.progressed();
    }
}

/// The address could not be listened on.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot listen on {addr} for /healthz, /readyz and /metrics: {source}; pick another address with --http-addr"
)]
pub struct BindError {
    pub addr: SocketAddr,
    pub source: std::io::Error,
}

/// Binds `addr` (port 0 picks a free port; the bound address is returned).
pub async fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), BindError> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|source| BindError { addr, source })?;
    let bound = listener
        .local_addr()
        .map_err(|source| BindError { addr, source })?;
    Ok((listener, bound))
}

/// Serves until `shutdown` completes. Connections in flight when it does are dropped:
/// probes and scrapes are short and retried by their clients.
pub async fn serve(
    listener: TcpListener,
    state: Arc<HttpState>,
    shutdown: impl std::future::Future<Output = ()>,
) {
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => return,
        };
        let stream = match accepted {
            Ok((stream, _)) => stream,
            Err(e) => {
                // Typically out of file descriptors: keep serving the others.
                tracing::warn!(error = %e, "cannot accept an HTTP connection");
                continue;
            }
        };
        let state = state.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request: Request<Incoming>| {
                let response = respond(&state, request.method(), request.uri().path());
                async move { Ok::<_, Infallible>(response) }
            });
            if let Err(e) = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await
            {
                tracing::debug!(error = %e, "HTTP connection ended with an error");
            }
        });
    }
}

fn respond(state: &HttpState, method: &Method, path: &str) -> Response<Full<Bytes>> {
    if method != Method::GET && method != Method::HEAD {
        return text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n".into());
    }
    match path {
        "/healthz" => match state
            .health
            .is_live(Instant::now(), state.metrics.last_progress())
        {
            Ok(()) => text(StatusCode::OK, "ok\n".into()),
            Err(why) => text(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("not live: {why}\n"),
            ),
        },
        "/readyz" if state.health.is_ready() => text(StatusCode::OK, "ready\n".into()),
        "/readyz" => text(
            StatusCode::SERVICE_UNAVAILABLE,
            "not ready: the Kubernetes API or the ComplianceProfile CRD is not reachable, or the watch of profiles is failing\n"
                .into(),
        ),
        "/metrics" => {
            let mut response = text(StatusCode::OK, state.metrics.encode());
            response.headers_mut().insert(
                hyper::header::CONTENT_TYPE,
                hyper::header::HeaderValue::from_static(
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ),
            );
            response
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /healthz, /readyz or /metrics\n".into(),
        ),
    }
}

fn text(status: StatusCode, body: String) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_follows_the_list_and_the_watch() {
        let state = HttpState::new(Arc::new(Metrics::default()), Duration::from_secs(60));
        assert_eq!(
            respond(&state, &Method::GET, "/healthz").status(),
            StatusCode::OK
        );
        assert_eq!(
            respond(&state, &Method::GET, "/readyz").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        state.health.set_listed();
        assert_eq!(
            respond(&state, &Method::GET, "/readyz").status(),
            StatusCode::OK
        );
        state.health.watch_ok(false);
        assert_eq!(
            respond(&state, &Method::GET, "/readyz").status(),
            StatusCode::SERVICE_UNAVAILABLE
        );
        state.health.watch_ok(true);
        assert_eq!(
            respond(&state, &Method::GET, "/readyz").status(),
            StatusCode::OK
        );
        assert_eq!(
            respond(&state, &Method::GET, "/nope").status(),
            StatusCode::NOT_FOUND
        );
        assert_eq!(
            respond(&state, &Method::POST, "/healthz").status(),
            StatusCode::METHOD_NOT_ALLOWED
        );
    }

    #[test]
    fn liveness_fails_only_while_reconciles_make_no_progress() {
        const STALL_AFTER: Duration = Duration::from_secs(90);
        let health = Arc::new(Health::new(STALL_AFTER));
        let metrics = Arc::new(Metrics::default());
        let start = Instant::now();
        // Nothing running: live however long nothing happens.
        assert!(health.is_live(start + STALL_AFTER * 3, start).is_ok());
        let guard = health.reconciling(&metrics);
        let progress = metrics.last_progress();
        assert!(health.is_live(progress + STALL_AFTER / 2, progress).is_ok());
        let stuck = health.is_live(progress + STALL_AFTER, progress);
        assert!(
            stuck
                .as_ref()
                .is_err_and(|why| why.contains("1 reconcile(s)")),
            "{stuck:?}"
        );
        drop(guard);
        assert!(
            health
                .is_live(progress + STALL_AFTER * 10, progress)
                .is_ok()
        );
    }

    #[tokio::test]
    async fn metrics_are_served_over_http() {
        let state = Arc::new(HttpState::new(
            Arc::new(Metrics::default()),
            Duration::from_secs(60),
        ));
        state.metrics.set_leader(true);
        let (listener, addr) = bind(([127, 0, 0, 1], 0).into()).await.expect("binds");
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let server = tokio::spawn(serve(listener, state, async {
            let _ = stopped.await;
        }));
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .expect("connects");
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        stream
            .write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            .await
            .expect("writes");
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.expect("reads");
        assert!(reply.starts_with("HTTP/1.1 200"), "{reply}");
        assert!(reply.contains("apigw_compliance_leader 1"), "{reply}");
        let _ = stop.send(());
        server.await.expect("server task ends");
    }
}
