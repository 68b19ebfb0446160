//! What the benchmarks share: the benchmark estate (seeded into moto in bulk), process
//! figures from /proc and getrusage, and small formatting helpers. Each bench target
//! uses a part of it.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use serde_json::{Value, json};

/// A mixed estate: per region, REST APIs, HTTP APIs and WebSocket APIs with the same
/// number of stages each; v2 APIs with two routes each. Half the stages of each kind
/// are compliant where a setting makes them so.
#[derive(Clone, Debug)]
pub struct Estate {
    pub regions: Vec<String>,
    pub rest_apis: usize,
    pub http_apis: usize,
    pub websocket_apis: usize,
    pub stages_per_api: usize,
}

/// Stage names, so scope filters by stage name select realistic slices.
pub const STAGE_NAMES: [&str; 10] = [
    "prod", "staging", "dev", "qa", "perf", "canary", "blue", "green", "test", "sandbox",
];

/// Teams tagged on APIs (`team: team-N`), round robin.
pub const TEAMS: usize = 10;

impl Estate {
    /// 10,000 stages: 2 regions x (200 REST + 150 HTTP + 150 WebSocket APIs) x 10 stages.
    pub fn ten_thousand() -> Self {
        Estate {
            regions: vec!["us-east-1".into(), "eu-west-1".into()],
            rest_apis: 200,
            http_apis: 150,
            websocket_apis: 150,
            stages_per_api: 10,
        }
    }

    pub fn stages(&self) -> usize {
        self.regions.len()
            * (self.rest_apis + self.http_apis + self.websocket_apis)
            * self.stages_per_api
    }

    pub fn routes(&self) -> usize {
        self.regions.len() * (self.http_apis + self.websocket_apis) * 2
    }

    /// Custom domain names per region in the in-process estate (benches/evaluate.rs):
    /// one per ten REST APIs. The seeded estate has none.
    pub fn domain_names(&self) -> usize {
        self.rest_apis / 10
    }

    /// The calls one inventory pass of the default controls needs: every page of the
    /// two API lists (500 per page) and of the domain names (one page: the seeded
    /// estate has none), one GetStages per REST API, one GetStages, one GetRoutes and
    /// one GetIntegrations per v2 API.
    pub fn minimum_calls(&self) -> usize {
        let pages = |n: usize| n.div_ceil(500).max(1);
        let v2 = self.http_apis + self.websocket_apis;
        self.regions.len() * (pages(self.rest_apis) + pages(v2) + 1 + self.rest_apis + 3 * v2)
    }

    /// Findings of a scan of the seeded estate with the default controls: REST stages
    /// get .1 to .5, v2 stages .1 and .9, routes .8; the seeded estate has no
    /// integrations (.10) and no custom domain names (.11).
    pub fn findings_all_controls(&self) -> usize {
        let per_region = self.rest_apis * self.stages_per_api * 5
            + (self.http_apis + self.websocket_apis) * self.stages_per_api * 2
            + (self.http_apis + self.websocket_apis) * 2;
        self.regions.len() * per_region
    }

    /// The bulk-seed body (tests/moto/README.md) of one region.
    fn seed_body(&self) -> Value {
        let stage_name = |s: usize| {
            if s < STAGE_NAMES.len() {
                STAGE_NAMES[s].to_string()
            } else {
                format!("stage{s}")
            }
        };
        let rest: Vec<Value> = (0..self.rest_apis)
            .map(|i| {
                let stages: Vec<Value> = (0..self.stages_per_api)
                    .map(|s| {
                        let patches = if (i + s).is_multiple_of(2) {
                            json!([
                                {"op": "replace", "path": "/*/*/logging/loglevel", "value": "INFO"},
                                {"op": "replace", "path": "/~1orders/GET/logging/loglevel", "value": "ERROR"},
                                {"op": "replace", "path": "/tracingEnabled", "value": "true"}
                            ])
                        } else {
                            json!([
                                {"op": "replace", "path": "/*/*/logging/loglevel", "value": "OFF"},
                                {"op": "replace", "path": "/~1orders/GET/caching/enabled", "value": "true"}
                            ])
                        };
                        json!({"name": stage_name(s), "tags": {"env": stage_name(s)}, "patches": patches})
                    })
                    .collect();
                json!({
                    "name": format!("bench-rest-{i}"),
                    "tags": {"team": format!("team-{}", i % TEAMS), "cost-center": "cc-1"},
                    "stages": stages,
                })
            })
            .collect();
        let v2 = |i: usize, protocol: &str| {
            let websocket = protocol == "WEBSOCKET";
            let routes = if websocket {
                json!([
                    {"routeKey": "$connect", "authorizationType": "AWS_IAM"},
                    {"routeKey": "$default"}
                ])
            } else {
                json!([
                    {"routeKey": "GET /items", "authorizationType": "JWT"},
                    {"routeKey": "POST /items"}
                ])
            };
            let stages: Vec<Value> = (0..self.stages_per_api)
                .map(|s| {
                    let mut stage = json!({"stageName": stage_name(s), "tags": {"env": stage_name(s)}});
                    if (i + s).is_multiple_of(2) {
                        stage["accessLogSettings"] = json!({
                            "destinationArn": "arn:aws:logs:us-east-1:123456789012:log-group:api-access",
                            "format": "$context.requestId $context.status"
                        });
                        if websocket {
                            stage["defaultRouteSettings"] = json!({"loggingLevel": "INFO"});
                        }
                    }
                    stage
                })
                .collect();
            let kind = if websocket { "ws" } else { "http" };
            json!({
                "name": format!("bench-{kind}-{i}"),
                "protocol": protocol,
                "tags": {"team": format!("team-{}", i % TEAMS)},
                "routes": routes,
                "stages": stages,
            })
        };
        let v2_apis: Vec<Value> = (0..self.http_apis)
            .map(|i| v2(i, "HTTP"))
            .chain((0..self.websocket_apis).map(|i| v2(i, "WEBSOCKET")))
            .collect();
        json!({"restApis": rest, "v2Apis": v2_apis})
    }

    /// Creates the estate in `account` on the moto server at `endpoint`, one bulk-seed
    /// request per region.
    pub fn seed(&self, endpoint: &str, account: &str) {
        let body = self.seed_body().to_string();
        for region in &self.regions {
            let answer = post(
                endpoint,
                &format!("/_apigw_test/seed?account={account}&region={region}"),
                &body,
            );
            let created: Value = serde_json::from_str(&answer)
                .unwrap_or_else(|e| panic!("bulk seed answered {answer:?}: {e}"));
            let apis = created["restApis"].as_array().map_or(0, Vec::len)
                + created["v2Apis"].as_array().map_or(0, Vec::len);
            assert_eq!(
                apis,
                self.rest_apis + self.http_apis + self.websocket_apis,
                "bulk seed of {region}: {answer}"
            );
        }
    }
}

/// A plain HTTP/1.1 POST on loopback; returns the body of a 200 answer, panics on
/// anything else.
fn post(base: &str, path: &str, body: &str) -> String {
    let authority = base
        .strip_prefix("http://")
        .unwrap_or(base)
        .trim_end_matches('/');
    let mut stream = TcpStream::connect(authority).expect("connect to moto");
    stream
        .set_read_timeout(Some(Duration::from_secs(600)))
        .expect("socket timeout");
    write!(
        stream,
        "POST {path} HTTP/1.1\r\nHost: {authority}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    )
    .expect("send the request");
    let mut response = String::new();
    stream
        .read_to_string(&mut response)
        .expect("read the answer");
    let (head, body) = response
        .split_once("\r\n\r\n")
        .unwrap_or((response.as_str(), ""));
    assert!(
        head.split_whitespace().nth(1) == Some("200"),
        "POST {path}: {head}\n{body}"
    );
    body.to_string()
}

/// CPU seconds (user + system) and peak RSS in KiB of this process.
pub fn own_usage() -> (f64, i64) {
    usage(libc::RUSAGE_SELF)
}

fn usage(who: libc::c_int) -> (f64, i64) {
    // SAFETY: getrusage writes into the zeroed struct we own; `who` is a valid selector.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(who, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    (
        seconds(usage.ru_utime) + seconds(usage.ru_stime),
        usage.ru_maxrss,
    )
}

/// A running process's figures from /proc.
pub struct ProcessFigures {
    /// Current resident set, KiB.
    pub rss: u64,
    /// Peak resident set (VmHWM), KiB: the process's own, from its exec on.
    pub peak: u64,
    /// Of `rss`: anonymous memory (heap, stacks) and file-backed pages (mostly the
    /// binary's code, shared and reclaimable), KiB.
    pub anon: u64,
    pub file: u64,
    /// CPU seconds (user + system) so far.
    pub cpu: f64,
}

pub fn process_figures(pid: u32) -> Option<ProcessFigures> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let kib = |field: &str| {
        status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse::<u64>().ok())
    };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces, in parentheses): state is
    // the 3rd field of the line, utime the 14th, stime the 15th.
    let after = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| fields.get(i).and_then(|v| v.parse::<f64>().ok());
    // SAFETY: sysconf has no preconditions.
    let hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) } as f64;
    Some(ProcessFigures {
        rss: kib("VmRSS:")?,
        peak: kib("VmHWM:")?,
        anon: kib("RssAnon:")?,
        file: kib("RssFile:")?,
        cpu: (ticks(11)? + ticks(12)?) / hz.max(1.0),
    })
}

pub fn mib(kib: u64) -> f64 {
    kib as f64 / 1024.0
}

/// `n` with thousands separators, as the docs print figures.
pub fn thousands(n: usize) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// What one measured child process did.
pub struct Measured {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub success: bool,
    pub wall: Duration,
    /// User + system CPU seconds of the child alone.
    pub cpu: f64,
    /// Its peak RSS, KiB.
    pub max_rss_kib: i64,
}

/// The argument that makes a bench binary act as [`run_measured`]'s runner.
const RUNNER: &str = "--measure-child";

/// Runs `program` with `args` and exactly the environment `env` to completion, and
/// measures it alone: wall time, CPU time and peak RSS.
///
/// Why a runner: Linux carries the parent's peak RSS into a child's `ru_maxrss` at
/// exec (the forked or vfork-shared memory counts), so a child of this big benchmark
/// process would report the benchmark's own peak whenever that is higher. The child is
/// started instead by a fresh copy of this binary (`--measure-child`, see
/// [`runner_mode`]), which is tiny when it spawns it, and reports the child's wait4
/// figures in a file.
pub fn run_measured(program: &str, args: &[&str], env: &[(String, String)]) -> Measured {
    use std::process::{Command, Stdio};
    let report = std::env::temp_dir().join(format!(
        "apigw-bench-measure-{}-{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos())
    ));
    let started = std::time::Instant::now();
    let output = Command::new(std::env::current_exe().expect("the bench binary's path"))
        .arg(RUNNER)
        .arg(&report)
        .arg(program)
        .args(args)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .output()
        .expect("start the runner");
    let wall = started.elapsed();
    let figures = std::fs::read_to_string(&report).unwrap_or_default();
    let _ = std::fs::remove_file(&report);
    let mut fields = figures.split_whitespace();
    let cpu = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
    let max_rss_kib = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0);
    let code: i32 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(-1);
    Measured {
        stdout: output.stdout,
        stderr: output.stderr,
        success: output.status.success() && code == 0,
        wall,
        cpu,
        max_rss_kib,
    }
}

/// When this process was started as [`run_measured`]'s runner: runs the child (stdio
/// inherited), writes "CPU-seconds peak-RSS-KiB exit-code" to the report file, and
/// returns true. Call first thing in `main`, before any allocation worth the name.
pub fn runner_mode() -> bool {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if args.get(1).is_none_or(|a| a != RUNNER) || args.len() < 4 {
        return false;
    }
    #[allow(
        clippy::zombie_processes,
        reason = "reaped by wait4 below, which also returns its resource usage"
    )]
    let child = std::process::Command::new(&args[3])
        .args(&args[4..])
        .spawn()
        .expect("start the measured process");
    let mut status: libc::c_int = 0;
    // SAFETY: wait4 on our own child's pid, writing into values we own; the std Child
    // is dropped without waiting (it would find the pid already reaped).
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage);
        usage
    };
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let code = if libc::WIFEXITED(status) {
        libc::WEXITSTATUS(status)
    } else {
        -1
    };
    std::fs::write(
        &args[2],
        format!(
            "{} {} {code}",
            seconds(usage.ru_utime) + seconds(usage.ru_stime),
            usage.ru_maxrss
        ),
    )
    .expect("write the runner's report");
    true
}
