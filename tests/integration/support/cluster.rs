//! The local control plane (kube-apiserver + kube-controller-manager + etcd) for tests.
//!
//! A real `kube-apiserver`, `kube-controller-manager` and etcd on 127.0.0.1, built and
//! started by the scripts in `tests/control-plane/` (see `docs/development.md`). Which
//! control plane the tests talk to:
//!
//! - `APIGW_TEST_KUBECONFIG` set (the test runner `scripts/test` does this): the admin
//!   kubeconfig of a control plane that is already running, shared by every test.
//!   `APIGW_TEST_KUBECONFIG_NORIGHTS` may name the no-rights kubeconfig; by default it is
//!   `kubeconfig-norights` next to the admin one, which is where `up` writes it.
//!   `APIGW_TEST_STATE_DIR` may name `up`'s state directory (for [`restart_apiserver`]
//!   and [`ControlPlane::restart_etcd`]);
//!   by default it is the admin kubeconfig's folder, which is where `up` puts it.
//! - not set: the first test that needs one builds (once, cached) and starts a control
//!   plane for this process (the integration test binary, or a benchmark), with
//!   `--owner-pid` = this process, so the control plane stops when the process exits,
//!   however it exits.
//!
//! Every test of the binary shares it, and they run in parallel: each one works in its
//! own namespace ([`test_namespace`]). The controller-manager runs the garbage collector and the
//! namespace controller only: owner references are honoured and a deleted namespace
//! goes away as in a cluster, but nothing makes Pods (no scheduler, no kubelet).

use std::ffi::OsStr;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apiextensions_apiserver::pkg::apis::apiextensions::v1::CustomResourceDefinition;
use kube::api::{ApiResource, DynamicObject, ListParams, PostParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::runtime::wait::{await_condition, conditions};
use kube::{Api, Client, Config};

/// Admin kubeconfig of an already running control plane (set by `scripts/test`).
pub const KUBECONFIG_ENV: &str = "APIGW_TEST_KUBECONFIG";
/// Optional: the no-rights kubeconfig of that control plane.
pub const KUBECONFIG_NORIGHTS_ENV: &str = "APIGW_TEST_KUBECONFIG_NORIGHTS";
/// Optional: the state directory `up` was given (default: the kubeconfig's folder).
pub const STATE_DIR_ENV: &str = "APIGW_TEST_STATE_DIR";
/// Optional: a helm binary to use instead of running `tests/tools/install-helm`.
pub const HELM_ENV: &str = "APIGW_TEST_HELM";

/// The kubectl every test uses: the first on `PATH`, as users run it (no fixed install
/// location is assumed).
pub const KUBECTL: &str = "kubectl";

/// How long to wait for a CRD to be served before failing the test.
const CRD_READY_TIMEOUT: Duration = Duration::from_secs(60);

/// One running control plane: its kubeconfigs and the state directory `up` created.
pub struct ControlPlane {
    kubeconfig: PathBuf,
    kubeconfig_norights: PathBuf,
    /// Where `up` keeps PIDs, certificates and arguments (the kubeconfig's folder).
    state_dir: PathBuf,
    /// Started by this process: stopped (`down`) when dropped.
    owned: bool,
}

impl ControlPlane {
    /// Builds (if not cached) and starts a new control plane owned by this process.
    /// It is stopped when the value is dropped, and by the watchdog if the process
    /// dies first. Takes seconds from the cache; the very first build takes minutes.
    pub fn start(label: &str) -> Result<ControlPlane, String> {
        ensure_built()?;
        static STARTED: AtomicU64 = AtomicU64::new(0);
        let state_dir = std::env::temp_dir().join(format!(
            "apigw-compliance-kcp-{}-{label}-{}",
            std::process::id(),
            STARTED.fetch_add(1, Ordering::Relaxed)
        ));
        // Left over only if an earlier process with the same PID was SIGKILLed together
        // with its watchdog; `down` removes exactly what `up` made.
        run_script("down", [state_dir.as_os_str()])?;
        let pid = std::process::id().to_string();
        let stdout = run_script(
            "up",
            [
                OsStr::new("--owner-pid"),
                OsStr::new(&pid),
                state_dir.as_os_str(),
            ],
        )?;
        let kubeconfig = PathBuf::from(stdout.trim());
        if !kubeconfig.is_file() {
            return Err(format!(
                "up printed {stdout:?}, which is not a kubeconfig file"
            ));
        }
        Ok(ControlPlane {
            kubeconfig_norights: state_dir.join("kubeconfig-norights"),
            kubeconfig,
            state_dir,
            owned: true,
        })
    }

    /// A control plane started by someone else, known by its admin kubeconfig.
    fn external(kubeconfig: PathBuf) -> ControlPlane {
        let state_dir = std::env::var_os(STATE_DIR_ENV)
            .filter(|dir| !dir.is_empty())
            .map(PathBuf::from)
            .or_else(|| kubeconfig.parent().map(Path::to_path_buf))
            .unwrap_or_else(|| PathBuf::from("."));
        let kubeconfig_norights = std::env::var_os(KUBECONFIG_NORIGHTS_ENV)
            .map(PathBuf::from)
            .unwrap_or_else(|| state_dir.join("kubeconfig-norights"));
        ControlPlane {
            kubeconfig,
            kubeconfig_norights,
            state_dir,
            owned: false,
        }
    }

    pub fn kubeconfig_path(&self) -> &Path {
        &self.kubeconfig
    }

    pub fn kubeconfig_norights_path(&self) -> &Path {
        &self.kubeconfig_norights
    }

    pub fn state_dir(&self) -> &Path {
        &self.state_dir
    }

    /// A new admin client (user `admin`, group `system:masters`). A new one per call:
    /// a client's connections belong to the tokio runtime that made them, and every
    /// `#[tokio::test]` has its own runtime.
    pub async fn client(&self) -> Client {
        client_for(&self.kubeconfig).await
    }

    /// A new client for user `norights`: authenticated, bound to no role.
    pub async fn norights_client(&self) -> Client {
        client_for(&self.kubeconfig_norights).await
    }

    /// The PID of the running kube-apiserver (changes with every restart).
    pub fn apiserver_pid(&self) -> u32 {
        self.pid_of("apiserver")
    }

    /// The PID of the running kube-controller-manager (restart_apiserver leaves it
    /// running).
    pub fn controller_manager_pid(&self) -> u32 {
        self.pid_of("controller-manager")
    }

    /// The PID `up` recorded in `<state>/<component>.pid`.
    fn pid_of(&self, component: &str) -> u32 {
        let file = self.state_dir.join(format!("{component}.pid"));
        let text = std::fs::read_to_string(&file)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", file.display()));
        text.trim()
            .parse()
            .unwrap_or_else(|e| panic!("{}: bad pid {text:?}: {e}", file.display()))
    }

    /// Stops etcd and starts it again on the same data and ports, leaving the API server
    /// running; returns when the API server is ready again. Blocks: call it from
    /// `spawn_blocking` in async tests.
    pub fn restart_etcd(&self) {
        if let Err(e) = run_script("restart-etcd", [self.state_dir.as_os_str()]) {
            panic!("restart-etcd failed: {e}");
        }
    }

    /// Stops kube-apiserver and starts it again on the same etcd, port and certificates;
    /// returns when it is ready. Blocks: call it from `spawn_blocking` in async tests.
    pub fn restart_apiserver(&self) {
        if let Err(e) = run_script("restart-apiserver", [self.state_dir.as_os_str()]) {
            panic!("restart-apiserver failed: {e}");
        }
    }

    /// Runs `kubectl --kubeconfig <admin kubeconfig> <args>`.
    pub fn kubectl<I, S>(&self, args: I) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.kubectl_with_stdin(args, "")
    }

    /// Like [`ControlPlane::kubectl`], with `stdin` as the standard input (`-f -`).
    pub fn kubectl_with_stdin<I, S>(&self, args: I, stdin: &str) -> Output
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut child = Command::new(KUBECTL)
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot run {KUBECTL}: {e}"));
        let mut input = child.stdin.take().expect("stdin is piped");
        input
            .write_all(stdin.as_bytes())
            .expect("write kubectl's stdin");
        drop(input);
        child.wait_with_output().expect("wait for kubectl")
    }
}

impl Drop for ControlPlane {
    fn drop(&mut self) {
        if self.owned
            && let Err(e) = run_script("down", [self.state_dir.as_os_str()])
        {
            eprintln!(
                "stopping the control plane in {}: {e}",
                self.state_dir.display()
            );
        }
    }
}

/// The control plane shared by all tests of this process (see the module docs).
pub fn shared() -> &'static ControlPlane {
    // Never dropped (it is a static): the watchdog stops it when the process exits.
    // A failed start is remembered, so later tests fail fast with the same message.
    static SHARED: OnceLock<Result<ControlPlane, String>> = OnceLock::new();
    let shared = SHARED.get_or_init(|| match std::env::var_os(KUBECONFIG_ENV) {
        Some(path) if !path.is_empty() => {
            let path = PathBuf::from(path);
            if path.is_file() {
                Ok(ControlPlane::external(path))
            } else {
                Err(format!("{KUBECONFIG_ENV}={} is not a file", path.display()))
            }
        }
        _ => ControlPlane::start("shared").map(|mut plane| {
            // Outlives every test; the watchdog (owner = this process) stops it.
            plane.owned = false;
            plane
        }),
    });
    match shared {
        Ok(plane) => plane,
        Err(e) => panic!("no control plane for the tests: {e}"),
    }
}

/// Path of the shared control plane's admin kubeconfig.
pub fn kubeconfig_path() -> PathBuf {
    shared().kubeconfig.clone()
}

/// Path of the shared control plane's no-rights kubeconfig.
pub fn kubeconfig_norights_path() -> PathBuf {
    shared().kubeconfig_norights.clone()
}

/// A new admin client for the shared control plane.
pub async fn client() -> Client {
    shared().client().await
}

/// A new client for the shared control plane's user without any RBAC rights.
pub async fn norights_client() -> Client {
    shared().norights_client().await
}

/// `kubectl` (from `PATH`) against the shared control plane as admin.
pub fn kubectl<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    shared().kubectl(args)
}

/// `kubectl` against the shared control plane with `stdin` as input.
pub fn kubectl_with_stdin<I, S>(args: I, stdin: &str) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    shared().kubectl_with_stdin(args, stdin)
}

/// Restarts the shared control plane's kube-apiserver (same etcd, port, certificates).
/// Every test of the binary running meanwhile sees the API server go away for a few
/// seconds: a test that needs a restart without disturbing others starts its own
/// [`ControlPlane`] and calls [`ControlPlane::restart_apiserver`] on it.
pub fn restart_apiserver() {
    shared().restart_apiserver()
}

/// Builds a client from a kubeconfig file, installing the process's rustls provider
/// first (kube uses the process default; aws-lc-rs, as in `main`).
pub async fn client_for(kubeconfig: &Path) -> Client {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
    let kc = Kubeconfig::read_from(kubeconfig)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", kubeconfig.display()));
    let config = Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default())
        .await
        .unwrap_or_else(|e| panic!("bad kubeconfig {}: {e}", kubeconfig.display()));
    Client::try_from(config).expect("kube client")
}

/// Creates a namespace of its own for one test, named `<prefix>-<unique suffix>`, and
/// returns its name. Tests that each use their own namespace can run in parallel, and
/// against a control plane shared with earlier runs.
pub async fn test_namespace(client: &Client, prefix: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Unique across processes and runs: PID, time, and a per-process counter.
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock after 1970")
        .subsec_nanos();
    let suffix = format!(
        "{:x}-{:x}{:x}",
        std::process::id(),
        nanos & 0xff_ffff,
        COUNTER.fetch_add(1, Ordering::Relaxed)
    );
    // A DNS-1123 label: lowercase alphanumerics and '-', at most 63 characters.
    let mut base: String = prefix
        .chars()
        .map(|c| match c.to_ascii_lowercase() {
            c @ ('a'..='z' | '0'..='9') => c,
            _ => '-',
        })
        .collect();
    base.truncate(62 - suffix.len());
    let mut base = base.trim_matches('-').to_owned();
    if base.is_empty() {
        base = "test".to_owned();
    }
    let name = format!("{base}-{suffix}");
    let ns: Namespace = serde_json::from_value(serde_json::json!({
        "metadata": {
            "name": name,
            "labels": { "apigwcompliance.io/test": base },
        }
    }))
    .expect("namespace object");
    Api::<Namespace>::all(client.clone())
        .create(&PostParams::default(), &ns)
        .await
        .unwrap_or_else(|e| panic!("create namespace {name}: {e}"));
    name
}

/// Applies YAML with `kubectl apply --server-side -f -` on the shared control plane and
/// panics with kubectl's output if it fails. The tests share one control plane, and the
/// chart tests install the CRD with Helm (another field manager) while others apply it
/// with kubectl: the tests' apply takes the fields over (`--force-conflicts`) rather
/// than fail on whichever ran first.
pub fn kubectl_apply(yaml: &str) {
    let out = kubectl_with_stdin(
        [
            "apply",
            "--server-side",
            "--force-conflicts",
            "--field-manager=apigw-compliance-tests",
            "-f",
            "-",
        ],
        yaml,
    );
    assert!(
        out.status.success(),
        "kubectl apply failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Applies a CustomResourceDefinition given as YAML (with kubectl, as users do) and
/// waits until it is `Established` and its resource is served. Returns the CRD.
pub async fn apply_crd_yaml(client: &Client, yaml: &str) -> CustomResourceDefinition {
    let crd: CustomResourceDefinition = serde_yaml::from_str(yaml).expect("CRD YAML");
    let name = crd.metadata.name.clone().expect("CRD has a name");
    kubectl_apply(yaml);
    wait_crd_established(client, &name).await
}

/// Waits until the CRD `name` is `Established`, then until its storage version can be
/// listed (the moment the API server's handler is really in place), and returns it.
pub async fn wait_crd_established(client: &Client, name: &str) -> CustomResourceDefinition {
    let crds: Api<CustomResourceDefinition> = Api::all(client.clone());
    let established = tokio::time::timeout(
        CRD_READY_TIMEOUT,
        await_condition(crds, name, conditions::is_crd_established()),
    )
    .await
    .unwrap_or_else(|_| panic!("CRD {name} not Established after {CRD_READY_TIMEOUT:?}"))
    .unwrap_or_else(|e| panic!("watching CRD {name}: {e}"))
    .unwrap_or_else(|| panic!("CRD {name} was deleted while waiting"));

    let resource = crd_api_resource(&established);
    let list: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
    let deadline = tokio::time::Instant::now() + CRD_READY_TIMEOUT;
    loop {
        match list.list(&ListParams::default().limit(1)).await {
            Ok(_) => return established,
            Err(e) if tokio::time::Instant::now() >= deadline => {
                panic!("CRD {name} is Established but its resources cannot be listed: {e}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// The [`ApiResource`] (group, storage version, kind, plural) of a CRD, for
/// `Api<DynamicObject>` calls on its custom resources.
pub fn crd_api_resource(crd: &CustomResourceDefinition) -> ApiResource {
    let version = crd
        .spec
        .versions
        .iter()
        .find(|v| v.storage)
        .expect("a CRD has a storage version");
    let group = &crd.spec.group;
    ApiResource {
        group: group.clone(),
        version: version.name.clone(),
        api_version: format!("{group}/{}", version.name),
        kind: crd.spec.names.kind.clone(),
        plural: crd.spec.names.plural.clone(),
    }
}

/// Runs `helm` (pinned, installed by `tests/tools/install-helm`, or `$APIGW_TEST_HELM`)
/// with `--kubeconfig` pointing at the shared control plane's admin kubeconfig.
pub fn helm<I, S>(args: I) -> Output
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    static HELM: OnceLock<Result<PathBuf, String>> = OnceLock::new();
    let helm = HELM.get_or_init(|| match std::env::var_os(HELM_ENV) {
        Some(path) if !path.is_empty() => Ok(PathBuf::from(path)),
        _ => run_tool("tests/tools/install-helm", [] as [&OsStr; 0])
            .map(|out| PathBuf::from(out.trim())),
    });
    let helm = helm
        .as_ref()
        .unwrap_or_else(|e| panic!("no helm for the tests: {e}"));
    Command::new(helm)
        .arg("--kubeconfig")
        .arg(kubeconfig_path())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", helm.display()))
}

/// Builds the control plane binary once per process (a no-op when cached). Its
/// progress goes straight to the terminal: the first build takes many minutes, and
/// silence for that long would look like a hang.
fn ensure_built() -> Result<(), String> {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    BUILT
        .get_or_init(|| {
            let script = repo_path("tests/control-plane/build");
            let status = Command::new(&script)
                .stdout(Stdio::null())
                .stderr(Stdio::inherit())
                .status()
                .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
            if status.success() {
                Ok(())
            } else {
                Err(format!("{} failed ({status})", script.display()))
            }
        })
        .clone()
}

fn run_script<I, S>(name: &str, args: I) -> Result<String, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    run_tool(&format!("tests/control-plane/{name}"), args)
}

/// Runs one of the repository's scripts and returns its stdout; on failure the error
/// carries its stderr (the scripts print the server logs' tails there).
fn run_tool<I, S>(relative: &str, args: I) -> Result<String, String>
where
    I: IntoIterator<Item = S>,
    S: AsRef<OsStr>,
{
    let script = repo_path(relative);
    let out = Command::new(&script)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run {}: {e}", script.display()))?;
    if out.status.success() {
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    } else {
        Err(format!(
            "{} failed ({}):\n{}",
            script.display(),
            out.status,
            String::from_utf8_lossy(&out.stderr)
        ))
    }
}

fn repo_path(relative: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(relative)
}
