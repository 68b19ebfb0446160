//! The operator binary (`apigw-compliance run`) as a child process, against a local
//! control plane ([`super::cluster`]) and moto ([`super::moto`]), and the kubectl,
//! profile and wait helpers the operator's end-to-end tests share.
//!
//! Each test starts an [`Operator`] of its own, with its own moto account's credentials
//! and, usually, watching only the test's namespace, so the tests run in parallel
//! without reconciling each other's profiles. The operator's stderr goes to a log file
//! that the wait helpers print when what they wait for never happens.
//!
//! Tests never sleep to let something happen (or not): they wait for what proves it
//! happened, a status, an Event, a log line, or a count on `/metrics`
//! ([`Operator::wait_metrics`]).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use apigw_compliance::crd::{ComplianceProfile, ComplianceProfileStatus, ConditionStatus};
use kube::api::{Patch, PatchParams};
use kube::{Api, Client};

use super::cluster::{self, ControlPlane};
use super::moto::{DEFAULT_REGION, MotoAccount};

/// The binary under test (Cargo builds it for integration tests and benchmarks).
pub const BIN: &str = env!("CARGO_BIN_EXE_apigw-compliance");
/// The CRD as users apply it, relative to the repository root.
pub const CRD_FILE: &str = "crds/apigwcompliance.io_complianceprofiles.yaml";
pub const CRD_NAME: &str = "complianceprofiles.apigwcompliance.io";

/// Argument prefixes whose values the harness supplies: the tenancy file it writes and
/// [`HTTP_ADDR`] (see [`Operator::with_command_line`]).
const TENANCY_CONFIG_ARG: &str = "--tenancy-config=";
const HTTP_ADDR_ARG: &str = "--http-addr=";
/// Where every operator the harness starts serves `/metrics`: port 0, so the operator
/// binds a free port itself (nothing can take it between a pick and the bind), and the
/// harness reads the port back from the operator's log ([`SERVING`]).
const HTTP_ADDR: &str = "127.0.0.1:0";
/// The message the operator logs at info level once it listens, with the bound address
/// in its `address` field (`apigw-compliance run`; text or JSON log format).
const SERVING: &str = "serving /healthz, /readyz and /metrics";
/// How long a starting operator gets to log [`SERVING`].
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// How long a stopping operator gets after SIGTERM before it is killed.
const STOP_GRACE: Duration = Duration::from_secs(10);
/// How often the wait helpers look again.
const POLL: Duration = Duration::from_millis(300);

/// A path in the repository.
pub fn repo(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}

/// The CRD's YAML from `crds/`.
pub fn crd_yaml() -> String {
    std::fs::read_to_string(repo(CRD_FILE)).expect("crds/ holds the CRD")
}

/// An admin client for the shared control plane, with `crds/` applied by kubectl (as a
/// user does) and served.
pub async fn client_with_crd() -> Client {
    let client = cluster::client().await;
    cluster::apply_crd_yaml(&client, &crd_yaml()).await;
    client
}

/// A control plane of the test's own, with `crds/` applied by kubectl and served: for
/// tests that stop or restart parts of it, which would break the others on the shared
/// one. It stops when dropped.
pub async fn private_plane_with_crd(label: &'static str) -> (ControlPlane, Client) {
    let plane = tokio::task::spawn_blocking(move || ControlPlane::start(label))
        .await
        .expect("join the control plane's start")
        .unwrap_or_else(|e| panic!("cannot start a control plane: {e}"));
    let client = plane.client().await;
    let applied = plane.kubectl_with_stdin(["apply", "-f", "-"], &crd_yaml());
    assert!(
        applied.status.success(),
        "{}",
        String::from_utf8_lossy(&applied.stderr)
    );
    cluster::wait_crd_established(&client, CRD_NAME).await;
    (plane, client)
}

/// A new, empty directory of its own under the system temp directory.
pub fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!(
        "apigw-test-{label}-{}-{}",
        std::process::id(),
        SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .expect("clock after 1970")
            .as_nanos()
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

/// A tenancy configuration that lets profiles in `namespace` scan with the operator's
/// own AWS identity (here: the test's moto account), Enforce included.
pub fn tenancy_allowing_operator_identity(namespace: &str) -> String {
    format!("namespaces:\n  - namespace: {namespace}\n    operatorIdentity:\n      enforce: true\n")
}

/// A ComplianceProfile manifest; `spec` is the YAML under `spec:`, indented two spaces.
/// It starts with `---`, so several can be concatenated into one `kubectl apply`.
pub fn profile_yaml(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: apigwcompliance.io/v1alpha1\nkind: ComplianceProfile\nmetadata:\n  name: {name}\nspec:\n{spec}"
    )
}

/// A running operator, stopped when dropped: SIGTERM (a graceful stop), then SIGKILL if
/// it is still running after a grace period.
pub struct Operator {
    child: Child,
    /// The address of its HTTP endpoint (`/metrics`, `/readyz`), as it logged it.
    addr: SocketAddr,
    /// Its stderr.
    log: PathBuf,
}

/// How to start an [`Operator`]; made by [`Operator::watching`] or
/// [`Operator::with_command_line`].
pub struct OperatorBuilder<'a> {
    account: &'a MotoAccount,
    /// `None`: the binary Cargo built ([`BIN`]).
    binary: Option<PathBuf>,
    /// `None`: the shared control plane's admin kubeconfig.
    kubeconfig: Option<PathBuf>,
    tenancy: String,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

impl Operator {
    /// `apigw-compliance run` as these tests run it: watching only `namespace`, text logs
    /// with the crate at debug level, the shared control plane's admin kubeconfig, and a
    /// tenancy that lets `namespace` use the operator's own identity (the credentials of
    /// `account`).
    pub fn watching<'a>(namespace: &str, account: &'a MotoAccount) -> OperatorBuilder<'a> {
        OperatorBuilder {
            account,
            binary: None,
            kubeconfig: None,
            tenancy: tenancy_allowing_operator_identity(namespace),
            // The two bare prefixes are filled in by `start`.
            args: [
                "run",
                TENANCY_CONFIG_ARG,
                "--watch-namespace",
                namespace,
                HTTP_ADDR_ARG,
                "--log-format",
                "text",
            ]
            .map(String::from)
            .to_vec(),
            // A RUST_LOG given with `envs` must let apigw_compliance's info lines through:
            // `start` reads the HTTP address from one ([`SERVING`]).
            env: vec![
                ("RUST_LOG".into(), "info,apigw_compliance=debug".into()),
                ("NO_COLOR".into(), "1".into()),
            ],
        }
    }

    /// The binary with exactly `args` (a command line taken from elsewhere, such as the
    /// chart's Deployment) and `tenancy` as the tenancy configuration, with `account`'s
    /// credentials and no other environment. The harness owns the tenancy file and the
    /// HTTP address: an argument `--tenancy-config=...` gets the tenancy file's path as
    /// its value and `--http-addr=...` gets `127.0.0.1:0`, in place. Neither is added
    /// when absent; without `--http-addr`, the operator's default address is used and
    /// read back from its log all the same.
    pub fn with_command_line<'a>(
        account: &'a MotoAccount,
        args: Vec<String>,
        tenancy: String,
    ) -> OperatorBuilder<'a> {
        OperatorBuilder {
            account,
            binary: None,
            kubeconfig: None,
            tenancy,
            args,
            env: Vec::new(),
        }
    }

    /// Its process id (the benchmarks read its CPU time and memory in /proc).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Its stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The address its HTTP endpoint listens on (the port it bound itself).
    pub fn http_addr(&self) -> SocketAddr {
        self.addr
    }

    /// GETs a path from its HTTP endpoint: (status code, body), or None when it does not
    /// answer.
    pub fn get(&self, path: &str) -> Option<(u16, String)> {
        let mut stream = std::net::TcpStream::connect(self.addr).ok()?;
        stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
        write!(stream, "GET {path} HTTP/1.0\r\nHost: localhost\r\n\r\n").ok()?;
        let mut reply = String::new();
        stream.read_to_string(&mut reply).ok()?;
        let status = reply.split_whitespace().nth(1)?.parse().ok()?;
        let body = reply.split_once("\r\n\r\n").map(|(_, b)| b.to_string())?;
        Some((status, body))
    }

    /// `/metrics`, empty while it is not served.
    pub fn metrics(&self) -> String {
        self.get("/metrics")
            .map(|(_, body)| body)
            .unwrap_or_default()
    }

    /// The value of one series (`name{labels}`) on `/metrics`, 0 when absent or not
    /// served.
    pub fn metric(&self, series: &str) -> f64 {
        Scrape(self.metrics()).value(series)
    }

    /// Polls `/metrics` until `done` holds for it and returns that scrape; panics with
    /// the last scrape and the log, naming `what`, after `timeout`. What a test waits
    /// for before asserting that something did *not* happen: e.g. the reconcile that
    /// the operator's own status write triggers has been counted.
    pub async fn wait_metrics(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&Scrape) -> bool,
    ) -> Scrape {
        let deadline = Instant::now() + timeout;
        loop {
            let scrape = Scrape(self.metrics());
            if done(&scrape) {
                return scrape;
            }
            assert!(
                Instant::now() < deadline,
                "{what}: not reached after {timeout:?}; /metrics:\n{}\nlog:\n{}",
                scrape.0,
                self.log()
            );
            tokio::time::sleep(POLL).await;
        }
    }

    /// Sends SIGTERM: the operator stops gracefully (and releases a Lease it holds).
    pub fn terminate(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
    }

    /// SIGKILL, and waits for the process to be gone: a crash, with nothing cleaned up.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Waits for the process to exit (after [`Operator::terminate`]); returns whether it
    /// exited successfully. Panics with the log if it is still running after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return status.success();
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!(
            "the operator did not exit within {timeout:?} of SIGTERM; log:\n{}",
            self.log()
        );
    }

    /// Waits until `/readyz` answers 200; panics with the log after `timeout`.
    pub async fn wait_ready(&self, timeout: Duration) {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            if matches!(self.get("/readyz"), Some((200, _))) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("/readyz never answered 200; log:\n{}", self.log());
    }

    /// Waits until `done` holds for the log and returns the log; panics with the log,
    /// naming `what`, after `timeout`.
    pub async fn wait_log(
        &self,
        timeout: Duration,
        what: &str,
        done: impl Fn(&str) -> bool,
    ) -> String {
        let deadline = Instant::now() + timeout;
        while Instant::now() < deadline {
            let log = self.log();
            if done(&log) {
                return log;
            }
            tokio::time::sleep(POLL).await;
        }
        panic!(
            "{what} never appeared in the operator's log:\n{}",
            self.log()
        );
    }
}

impl Drop for Operator {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.terminate();
            let deadline = Instant::now() + STOP_GRACE;
            while Instant::now() < deadline {
                if let Ok(Some(_)) = self.child.try_wait() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl OperatorBuilder<'_> {
    /// The kubeconfig the operator uses, instead of the shared control plane's admin one
    /// (a private control plane, or a ServiceAccount's token).
    pub fn kubeconfig(mut self, path: impl Into<PathBuf>) -> Self {
        self.kubeconfig = Some(path.into());
        self
    }

    /// Another build of the binary (the benchmarks compare builds).
    pub fn binary(mut self, path: impl Into<PathBuf>) -> Self {
        self.binary = Some(path.into());
        self
    }

    /// The tenancy configuration (YAML) instead of the default.
    pub fn tenancy(mut self, yaml: impl Into<String>) -> Self {
        self.tenancy = yaml.into();
        self
    }

    /// Appends arguments to the command line.
    pub fn args<I, S>(mut self, args: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.args.extend(args.into_iter().map(Into::into));
        self
    }

    /// Adds environment variables (after the AWS ones, so they win).
    pub fn envs<I, K, V>(mut self, vars: I) -> Self
    where
        I: IntoIterator<Item = (K, V)>,
        K: Into<String>,
        V: Into<String>,
    {
        self.env
            .extend(vars.into_iter().map(|(k, v)| (k.into(), v.into())));
        self
    }

    /// Writes the tenancy file into a new temp directory and starts the process, its
    /// stderr to `operator.log` there, serving HTTP on [`HTTP_ADDR`] (port 0: the
    /// operator binds a free port itself); then waits until it logs the address it bound
    /// ([`SERVING`]). Panics with the log if it exits first or logs nothing of the kind
    /// in time. It does not wait for readiness ([`Operator::wait_ready`]).
    pub async fn start(self) -> Operator {
        let dir = temp_dir("operator");
        let tenancy = dir.join("tenancy.yaml");
        std::fs::write(&tenancy, &self.tenancy).expect("write tenancy");
        let log = dir.join("operator.log");
        let args = self.args.into_iter().map(|arg| {
            if arg.starts_with(TENANCY_CONFIG_ARG) {
                format!("{TENANCY_CONFIG_ARG}{}", tenancy.display())
            } else if arg.starts_with(HTTP_ADDR_ARG) {
                format!("{HTTP_ADDR_ARG}{HTTP_ADDR}")
            } else {
                arg
            }
        });
        let kubeconfig = self.kubeconfig.unwrap_or_else(cluster::kubeconfig_path);
        let binary = self.binary.unwrap_or_else(|| PathBuf::from(BIN));
        let mut child = Command::new(&binary)
            .args(args)
            // Nothing of the developer's environment (~/.aws, KUBECONFIG) leaks in.
            .env_clear()
            .envs(self.account.env(DEFAULT_REGION))
            .envs(self.env)
            .env("KUBECONFIG", &kubeconfig)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).expect("create the operator's log file"))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let addr = bound_http_addr(&mut child, &log).await;
        Operator { child, addr, log }
    }
}

/// Waits until the starting operator logs [`SERVING`] and returns the address it names.
/// Kills the process and panics with its log when it exits first or after
/// [`START_TIMEOUT`].
async fn bound_http_addr(child: &mut Child, log: &Path) -> SocketAddr {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        if let Some(addr) = http_addr_in_log(&text) {
            return addr;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the operator exited ({status}) before it served HTTP; log:\n{text}");
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the operator did not log `{SERVING}` with its address within {START_TIMEOUT:?} \
                 (the harness needs apigw_compliance's info level); log:\n{text}"
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The address in the operator's [`SERVING`] log line, in the text format
/// (`... serving /healthz, /readyz and /metrics address=127.0.0.1:43121`, possibly with
/// ANSI colours) or the JSON one (`"address":"127.0.0.1:43121"`). Only whole lines
/// count: a line still being written could end in the middle of the port.
fn http_addr_in_log(log: &str) -> Option<SocketAddr> {
    log.split_inclusive('\n')
        .filter(|line| line.ends_with('\n'))
        .map(without_ansi_escapes)
        .filter(|line| line.contains(SERVING))
        .find_map(|line| {
            let (_, rest) = line
                .split_once("address=")
                .or_else(|| line.split_once("\"address\":\""))?;
            let value: String = rest
                .chars()
                .take_while(|c| !c.is_whitespace() && !matches!(c, '"' | ',' | '}'))
                .collect();
            value.parse().ok()
        })
}

/// `line` without ANSI escape sequences (`ESC [ ... final byte`).
fn without_ansi_escapes(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        if c != '\u{1b}' {
            out.push(c);
        } else if chars.next() == Some('[') {
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        }
    }
    out
}

/// One scrape of an operator's `/metrics` (OpenMetrics text).
#[derive(Clone, Debug, Default)]
pub struct Scrape(pub String);

impl Scrape {
    /// The value of one series (`name{labels}` exactly as exported), 0 when absent.
    pub fn value(&self, series: &str) -> f64 {
        self.0
            .lines()
            .find_map(|l| {
                l.strip_prefix(series)?
                    .strip_prefix(' ')?
                    .trim()
                    .parse()
                    .ok()
            })
            .unwrap_or(0.0)
    }

    /// Finished reconciles, whatever their outcome
    /// (`apigw_compliance_reconciles_total`, every label set summed).
    pub fn reconciles(&self) -> f64 {
        self.0
            .lines()
            .filter(|l| l.starts_with("apigw_compliance_reconciles_total{"))
            .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
            .sum()
    }

    /// Finished reconciles with `outcome` (`scanned`, `skipped`, `recoverable_error`,
    /// `terminal_error`).
    pub fn reconciles_with(&self, outcome: &str) -> f64 {
        self.value(&format!(
            "apigw_compliance_reconciles_total{{outcome=\"{outcome}\"}}"
        ))
    }
}

impl std::fmt::Display for Scrape {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Changes only an annotation of the profile: a watch event that makes the operator
/// reconcile the profile as it is (it ignores annotations; spec, generation and status
/// stay). A barrier: the reconcile it triggers starts after every earlier change of the
/// profile reached the operator.
pub async fn touch(api: &Api<ComplianceProfile>, name: &str) {
    let stamp = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos()
        .to_string();
    api.patch(
        name,
        &PatchParams::default(),
        &Patch::Merge(serde_json::json!({
            "metadata": {"annotations": {"apigwcompliance.io/test-touch": stamp}}
        })),
    )
    .await
    .unwrap_or_else(|e| panic!("annotate profile {name}: {e}"));
}

/// Runs kubectl as `plane`'s admin with `stdin` as its input; panics with its stderr
/// unless it succeeds, and returns its stdout.
pub fn kubectl_stdout(plane: &ControlPlane, args: &[&str], stdin: Option<&str>) -> String {
    let out = plane.kubectl_with_stdin(args, stdin.unwrap_or_default());
    assert!(
        out.status.success(),
        "kubectl {args:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `kubectl apply -n NAMESPACE -f -` of `yaml`, as a user does; panics when refused.
pub fn apply(plane: &ControlPlane, namespace: &str, yaml: &str) {
    kubectl_stdout(plane, &["apply", "-n", namespace, "-f", "-"], Some(yaml));
}

/// The namespace's Events (events.k8s.io) as `reason/type/note` lines.
pub fn events(plane: &ControlPlane, namespace: &str) -> Vec<String> {
    kubectl_stdout(
        plane,
        &[
            "get",
            "events.events.k8s.io",
            "-n",
            namespace,
            "-o",
            "jsonpath={range .items[*]}{.reason}/{.type}/{.note}{\"\\n\"}{end}",
        ],
        None,
    )
    .lines()
    .map(str::to_string)
    .collect()
}

/// Polls the namespace's Events until `count` of them start with `prefix` and returns
/// those; panics with them and the operator's log after `timeout`.
pub async fn wait_for_events(
    plane: &ControlPlane,
    namespace: &str,
    operator: &Operator,
    timeout: Duration,
    prefix: &str,
    count: usize,
) -> Vec<String> {
    let deadline = Instant::now() + timeout;
    loop {
        let matching: Vec<String> = events(plane, namespace)
            .into_iter()
            .filter(|e| e.starts_with(prefix))
            .collect();
        if matching.len() >= count {
            return matching;
        }
        assert!(
            Instant::now() < deadline,
            "{count} {prefix} Events not seen after {timeout:?}: {matching:#?}\noperator log:\n{}",
            operator.log()
        );
        tokio::time::sleep(POLL).await;
    }
}

/// A condition's (status, reason), None when the status has no such condition.
pub fn condition(
    status: &ComplianceProfileStatus,
    type_: &str,
) -> Option<(ConditionStatus, String)> {
    status
        .condition(type_)
        .map(|c| (c.status, c.reason.clone()))
}

/// Polls the profile until it has a status for which `done` holds, and returns it;
/// panics with the last status and the operator's log, naming `what`, after `timeout`.
pub async fn wait_for(
    api: &Api<ComplianceProfile>,
    name: &str,
    operator: &Operator,
    timeout: Duration,
    what: &str,
    done: impl Fn(&ComplianceProfile, &ComplianceProfileStatus) -> bool,
) -> ComplianceProfile {
    let deadline = Instant::now() + timeout;
    let mut last = None;
    while Instant::now() < deadline {
        if let Ok(Some(profile)) = api.get_opt(name).await {
            if let Some(status) = &profile.status
                && done(&profile, status)
            {
                return profile;
            }
            last = Some(profile);
        }
        tokio::time::sleep(POLL).await;
    }
    panic!(
        "profile {name}: {what} not reached after {timeout:?}; last status: {:#?}\noperator log:\n{}",
        last.and_then(|p| p.status),
        operator.log()
    );
}

/// Polls until every named profile has a status for which `done` holds, and returns the
/// statuses in the order of `names`; panics with the operator's log, naming `what`,
/// after `timeout`.
pub async fn wait_all(
    api: &Api<ComplianceProfile>,
    names: &[&str],
    operator: &Operator,
    timeout: Duration,
    what: &str,
    done: impl Fn(&ComplianceProfile, &ComplianceProfileStatus) -> bool,
) -> Vec<ComplianceProfileStatus> {
    let deadline = Instant::now() + timeout;
    let mut reached = Vec::new();
    while Instant::now() < deadline {
        reached.clear();
        for name in names {
            if let Ok(Some(p)) = api.get_opt(name).await
                && let Some(status) = &p.status
                && done(&p, status)
            {
                reached.push(status.clone());
            }
        }
        if reached.len() == names.len() {
            return reached;
        }
        tokio::time::sleep(POLL).await;
    }
    panic!(
        "{what}: not reached by all of {names:?} after {timeout:?}\noperator log:\n{}",
        operator.log()
    );
}

#[test]
fn the_bound_address_is_read_from_whole_text_and_json_log_lines() {
    let text = "2025-01-01T00:00:00.000000Z  INFO apigw_compliance::controller: serving /healthz, /readyz and /metrics address=127.0.0.1:43121\n";
    assert_eq!(
        http_addr_in_log(text),
        Some("127.0.0.1:43121".parse().expect("address"))
    );
    let coloured = "\u{1b}[2m2025-01-01T00:00:00Z\u{1b}[0m \u{1b}[32m INFO\u{1b}[0m \u{1b}[2mapigw_compliance::controller\u{1b}[0m\u{1b}[2m:\u{1b}[0m serving /healthz, /readyz and /metrics \u{1b}[3maddress\u{1b}[0m\u{1b}[2m=\u{1b}[0m127.0.0.1:8080\n";
    assert_eq!(
        http_addr_in_log(coloured),
        Some("127.0.0.1:8080".parse().expect("address"))
    );
    let json = r#"{"timestamp":"2025-01-01T00:00:00Z","level":"INFO","fields":{"message":"serving /healthz, /readyz and /metrics","address":"[::1]:9090"},"target":"apigw_compliance::controller"}"#;
    assert_eq!(
        http_addr_in_log(&format!("{json}\n")),
        Some("[::1]:9090".parse().expect("address"))
    );
    // A line still being written does not count yet, nor does another line.
    assert_eq!(http_addr_in_log(text.trim_end()), None);
    assert_eq!(
        http_addr_in_log("INFO apigw_compliance: starting address=127.0.0.1:1\n"),
        None
    );
}

/// `kubectl annotate` of a new scan request (`apigwcompliance.io/requested-scan-at`):
/// the operator reads the profile's scope afresh once per value.
pub fn request_scan(namespace: &str, name: &str, value: &str) {
    kubectl_stdout(
        cluster::shared(),
        &[
            "annotate",
            "complianceprofile",
            name,
            "-n",
            namespace,
            &format!("apigwcompliance.io/requested-scan-at={value}"),
            "--overwrite",
        ],
        None,
    );
}
