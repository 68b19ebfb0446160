//! The `apigw-compliance` command: `scan` (one-shot, no cluster) and `controls` (the
//! catalog); the operator commands are added beside them. This file only parses
//! arguments and calls the library.

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};

use apigw_compliance::controls::{
    self, AuthorizationType, ControlId, ControlParameters, LoggingLevel, NonConnectRoutePolicy,
    Semantics,
};
use apigw_compliance::crd::ComplianceProfile;
use apigw_compliance::finding::Status;
use apigw_compliance::inventory::aws::read_inventory;
use apigw_compliance::inventory::aws::{
    DEFAULT_API_CONCURRENCY, DEFAULT_MAX_ATTEMPTS, DEFAULT_READ_TIMEOUT_SECONDS,
    NO_CREDENTIALS_HINT, ReadOptions, check_credentials, load_sdk_config,
};
use apigw_compliance::remediate::{Mode, RemediationReport};
use apigw_compliance::scan::{
    is_region_code, profile_report, read_options_for, read_options_for_profile,
    report as evaluate_report,
};
use apigw_compliance::scope::ScopeFilter;
use aws_config::Region;
use aws_config::sts::AssumeRoleProvider;
use aws_sdk_apigateway::config::SharedCredentialsProvider;
use k8s_openapi::jiff::Timestamp;

/// Exit status: the scan ran and nothing matched `--fail-on`.
const EXIT_OK: u8 = 0;
/// Exit status: at least one non-exempted finding has a verdict listed in `--fail-on`.
const EXIT_FINDINGS: u8 = 1;
/// Exit status: the scan could not run (bad arguments, no credentials).
const EXIT_USAGE: u8 = 2;
/// Exit status: the scan ran but some part could not be read (see the errors).
const EXIT_INCOMPLETE: u8 = 3;
/// Exit status: `--remediate enforce` had a change refused by AWS (see the report).
const EXIT_REMEDIATION_FAILED: u8 = 4;

#[derive(Parser)]
#[command(
    name = "apigw-compliance",
    version,
    about = "Keeps AWS API Gateway stages compliant with the Security Hub API Gateway controls"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Scan API Gateway once and print the verdicts (no cluster needed).
    Scan(Box<ScanArgs>),
    /// List the control catalog.
    Controls(ControlsArgs),
    /// Print the ComplianceProfile CustomResourceDefinition as YAML (what crds/ holds).
    Crd,
    /// Run the operator: reconcile the cluster's ComplianceProfiles until SIGTERM.
    Run(Box<apigw_compliance::controller::RunArgs>),
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Output {
    Table,
    Json,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum FailOn {
    Failed,
    Error,
}

#[derive(Clone, Copy, ValueEnum)]
enum RemediateArg {
    DryRun,
    Enforce,
}

#[derive(Clone, Copy, ValueEnum)]
enum SemanticsArg {
    Strict,
    AwsParity,
}

#[derive(Clone, Copy, ValueEnum)]
enum NonConnectArg {
    Fail,
    NotApplicable,
}

#[derive(Args)]
struct ScanArgs {
    /// A ComplianceProfile manifest (the YAML applied to the cluster): its regions,
    /// role, scope, controls, parameters and exemptions drive the scan. `--control`
    /// narrows its controls; the parameter flags below cannot be combined with it.
    #[arg(long, value_name = "FILE")]
    profile: Option<std::path::PathBuf>,
    /// Region to scan; repeat for several. Default: the region of the AWS configuration.
    #[arg(long = "region", value_name = "REGION", conflicts_with = "profile")]
    regions: Vec<String>,
    /// Control to evaluate (e.g. APIGateway.1); repeat for several. Default: all seven.
    #[arg(long = "control", value_name = "ID")]
    controls: Vec<ControlId>,
    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
    /// Exit with status 1 when a non-exempted finding has this verdict; repeat or
    /// comma-separate for several (e.g. `--fail-on FAILED,ERROR`).
    #[arg(
        long = "fail-on",
        value_enum,
        value_delimiter = ',',
        ignore_case = true
    )]
    fail_on: Vec<FailOn>,
    /// `strict` follows each control's sentence; `aws-parity` reproduces Security Hub.
    #[arg(long, value_enum, default_value = "strict", conflicts_with = "profile")]
    semantics: SemanticsArg,
    /// APIGateway.1: accepted execution logging level (repeat). Default: ERROR and INFO.
    #[arg(long = "accepted-logging-level", value_name = "LEVEL", value_parser = parse_logging_level, conflicts_with = "profile")]
    accepted_logging_levels: Vec<LoggingLevel>,
    /// APIGateway.2: accepted client certificate id (repeat). Default: any.
    #[arg(
        long = "accepted-client-certificate-id",
        value_name = "ID",
        conflicts_with = "profile"
    )]
    accepted_client_certificate_ids: Vec<String>,
    /// APIGateway.2: evaluate only REST APIs with an HTTP integration (one throttled
    /// GetResources call per REST API).
    #[arg(long, conflicts_with = "profile")]
    only_with_http_integrations: bool,
    /// APIGateway.4: accepted web ACL ARN (repeat). Default: any.
    #[arg(
        long = "accepted-web-acl-arn",
        value_name = "ARN",
        conflicts_with = "profile"
    )]
    accepted_web_acl_arns: Vec<String>,
    /// APIGateway.8: accepted authorization type (repeat). Default: AWS_IAM, JWT, CUSTOM.
    #[arg(long = "accepted-authorization-type", value_name = "TYPE", value_parser = parse_authorization_type, conflicts_with = "profile")]
    accepted_authorization_types: Vec<AuthorizationType>,
    /// APIGateway.8: verdict for WebSocket routes other than $connect.
    #[arg(long, value_enum, default_value = "fail", conflicts_with = "profile")]
    websocket_non_connect_routes: NonConnectArg,
    /// Per-API calls in flight per region (the account shares 10 requests/s).
    #[arg(long, default_value_t = DEFAULT_API_CONCURRENCY)]
    api_concurrency: usize,
    /// Attempts per AWS call, with adaptive backoff on throttling.
    #[arg(long, default_value_t = DEFAULT_MAX_ATTEMPTS)]
    max_attempts: u32,
    /// Seconds an AWS request may wait for its answer to start before the attempt fails
    /// (and is retried, up to --max-attempts).
    #[arg(long, default_value_t = DEFAULT_READ_TIMEOUT_SECONDS)]
    aws_read_timeout_seconds: u64,
    /// API Gateway requests per second in each region (retries included). Default:
    /// half of the 10/s the account shares with every other caller. 0: no limit (for
    /// emulators).
    #[arg(long, default_value_t = apigw_compliance::ratelimit::DEFAULT_RATE)]
    aws_rate_limit: f64,
    /// API Gateway requests that may go at once after a quiet period, per region.
    /// Default: half of the account's burst of 40.
    #[arg(long, default_value_t = apigw_compliance::ratelimit::DEFAULT_BURST)]
    aws_burst: u32,
    /// Print progress on stderr (default: when stderr is a terminal).
    #[arg(long)]
    progress: bool,
    /// Remediate the failing, non-exempted findings: `dry-run` shows the exact calls
    /// (checking preconditions with reads only), `enforce` makes them. Settings come
    /// from the profile's spec.remediation (the defaults without --profile); this flag
    /// overrides the profile's mode. See docs/remediation.md.
    #[arg(long, value_enum, value_name = "MODE")]
    remediate: Option<RemediateArg>,
}

#[derive(Args)]
struct ControlsArgs {
    #[arg(long, value_enum, default_value = "table")]
    output: Output,
}

fn parse_logging_level(s: &str) -> Result<LoggingLevel, String> {
    match s.to_ascii_uppercase().as_str() {
        "ERROR" => Ok(LoggingLevel::Error),
        "INFO" => Ok(LoggingLevel::Info),
        _ => Err(format!(
            "{s:?} is not an accepted logging level: use ERROR or INFO"
        )),
    }
}

fn parse_authorization_type(s: &str) -> Result<AuthorizationType, String> {
    match s.to_ascii_uppercase().as_str() {
        "AWS_IAM" => Ok(AuthorizationType::AwsIam),
        "JWT" => Ok(AuthorizationType::Jwt),
        "CUSTOM" => Ok(AuthorizationType::Custom),
        _ => Err(format!(
            "{s:?} is not an authorization type: use AWS_IAM, JWT or CUSTOM"
        )),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The operator sets up its own logging (JSON by default, --log-format).
    if !matches!(cli.command, Command::Run(_)) {
        init_logging();
    }
    match cli.command {
        Command::Run(args) => apigw_compliance::controller::main(*args),
        Command::Controls(args) => controls_command(&args),
        Command::Crd => match apigw_compliance::crd::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::from(EXIT_OK)
            }
            Err(e) => {
                eprintln!("error: cannot render the CRD: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        Command::Scan(args) => match tokio::runtime::Runtime::new() {
            Ok(runtime) => runtime.block_on(scan_command(*args)),
            Err(e) => {
                eprintln!("error: cannot start the async runtime: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
    }
}

/// Human-readable logs on stderr; `RUST_LOG` sets the level (default: warnings).
fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
}

fn controls_command(args: &ControlsArgs) -> ExitCode {
    let catalog: Vec<_> = ControlId::ALL
        .iter()
        .map(|id| controls::meta(*id))
        .collect();
    match args.output {
        Output::Json => match serde_json::to_string_pretty(&catalog) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: cannot serialise the catalog: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
        Output::Table => {
            println!(
                "{:<13} {:<8} {:<50} TITLE",
                "ID", "SEVERITY", "RESOURCE TYPES"
            );
            for meta in catalog {
                let types: Vec<&str> = meta.resource_types.iter().map(|t| t.as_str()).collect();
                println!(
                    "{:<13} {:<8} {:<50} {}",
                    meta.id.as_str(),
                    meta.severity.as_str(),
                    types.join(", "),
                    meta.title
                );
            }
        }
    }
    ExitCode::from(EXIT_OK)
}

fn parameters(args: &ScanArgs) -> ControlParameters {
    let mut params = ControlParameters {
        semantics: match args.semantics {
            SemanticsArg::Strict => Semantics::Strict,
            SemanticsArg::AwsParity => Semantics::AwsParity,
        },
        ..ControlParameters::default()
    };
    if !args.accepted_logging_levels.is_empty() {
        params.execution_logging.accepted_levels = args.accepted_logging_levels.clone();
    }
    params.client_certificate.accepted_certificate_ids =
        args.accepted_client_certificate_ids.clone();
    params.client_certificate.only_with_http_integrations = args.only_with_http_integrations;
    params.waf.accepted_web_acl_arns = args.accepted_web_acl_arns.clone();
    if !args.accepted_authorization_types.is_empty() {
        params.route_authorization.accepted_authorization_types =
            args.accepted_authorization_types.clone();
    }
    params.route_authorization.websocket_non_connect_routes =
        match args.websocket_non_connect_routes {
            NonConnectArg::Fail => NonConnectRoutePolicy::Fail,
            NonConnectArg::NotApplicable => NonConnectRoutePolicy::NotApplicable,
        };
    params
}

async fn scan_command(args: ScanArgs) -> ExitCode {
    let profile = match &args.profile {
        Some(path) => match ComplianceProfile::from_manifest_file(path) {
            Ok(profile) => Some(profile),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
        None => None,
    };
    let mut sdk = load_sdk_config(
        args.max_attempts.max(1),
        Duration::from_secs(args.aws_read_timeout_seconds.max(1)),
    )
    .await;
    let regions: Vec<String> = if let Some(profile) = &profile {
        profile.spec.scope.regions.clone()
    } else if args.regions.is_empty() {
        match sdk.region() {
            Some(region) => vec![region.to_string()],
            None => {
                eprintln!("error: no region to scan: pass --region (repeatable) or set AWS_REGION");
                return ExitCode::from(EXIT_USAGE);
            }
        }
    } else {
        args.regions.clone()
    };
    if let Some(bad) = regions.iter().find(|r| !is_region_code(r)) {
        eprintln!(
            "error: {bad:?} is not an AWS region code (expected e.g. us-east-1, eu-central-1)"
        );
        return ExitCode::from(EXIT_USAGE);
    }
    if let Err(cause) = check_credentials(&sdk).await {
        eprintln!("error: {NO_CREDENTIALS_HINT} ({cause})");
        return ExitCode::from(EXIT_USAGE);
    }
    if let Some(scope) = profile.as_ref().map(|p| &p.spec.scope)
        && let Some(role) = &scope.role_arn
    {
        // The profile names the role the scan runs as (credentials are resolved, and
        // refused with STS's message, at the first call).
        let mut provider = AssumeRoleProvider::builder(role.clone())
            .session_name("apigw-compliance-scan")
            .region(Region::new(regions[0].clone()))
            .configure(&sdk);
        if let Some(external_id) = &scope.external_id {
            provider = provider.external_id(external_id.clone());
        }
        sdk = sdk
            .into_builder()
            .credentials_provider(SharedCredentialsProvider::new(provider.build().await))
            .build();
        if let Err(cause) = check_credentials(&sdk).await {
            eprintln!(
                "error: cannot assume {role} ({cause}); check that the role exists and that its \
                 trust policy allows your identity (and the profile's externalId)"
            );
            return ExitCode::from(EXIT_USAGE);
        }
    }
    // Every API Gateway call of this scan (reads and remediation) is paced per region;
    // one process scans one identity, so one key serves.
    let limiter = apigw_compliance::ratelimit::AwsRateLimiter::new(
        apigw_compliance::ratelimit::RateLimit::new(args.aws_rate_limit, args.aws_burst),
    );
    let sdk = limiter.limit(&sdk, "scan");
    let mut controls: Vec<ControlId> = match &profile {
        Some(profile) => profile.spec.controls.ids(),
        None => ControlId::ALL.to_vec(),
    };
    if !args.controls.is_empty() {
        controls.retain(|c| args.controls.contains(c));
    }
    let show_progress = args.progress || std::io::stderr().is_terminal();
    let options = ReadOptions {
        api_concurrency: args.api_concurrency.max(1),
        progress: show_progress.then(|| Arc::new(|line: &str| eprintln!("{line}")) as _),
        ..ReadOptions::default()
    };

    let (report, inventory, params) = match &profile {
        None => {
            let params = parameters(&args);
            let options = read_options_for(&controls, &params, options);
            let inventory = read_inventory(&sdk, &regions, &options).await;
            (
                evaluate_report(&inventory, &controls, &params),
                inventory,
                params,
            )
        }
        Some(profile) => {
            let mut spec = profile.spec.clone();
            spec.controls.enabled = Some(controls);
            let scope = match ScopeFilter::new(&spec.scope) {
                Ok(scope) => scope,
                Err(e) => {
                    eprintln!("error: {e}");
                    return ExitCode::from(EXIT_USAGE);
                }
            };
            let inventory =
                read_inventory(&sdk, &regions, &read_options_for_profile(&spec, options)).await;
            let (report, exemptions) =
                profile_report(&scope.apply(&inventory), &spec, Timestamp::now());
            for expired in &exemptions.expired {
                eprintln!("warning: {expired}; it no longer applies");
            }
            (report, inventory, spec.controls.parameters)
        }
    };
    let remediation = match args.remediate {
        Some(mode) => {
            let mode = match mode {
                RemediateArg::DryRun => Mode::DryRun,
                RemediateArg::Enforce => Mode::Enforce,
            };
            // The profile's spec.remediation settings (read and checked with the
            // profile), or the defaults without a profile.
            let settings = profile
                .as_ref()
                .map(|profile| profile.spec.remediation.settings.clone())
                .unwrap_or_default();
            let findings = &report.findings;
            Some(RemediationReport::run(mode, &sdk, &inventory, findings, &params, &settings).await)
        }
        None => None,
    };
    // The report is all that is printed: the inventory's memory goes before its text
    // is made.
    drop(inventory);
    if let Err(e) = print_report(args.output, &report, remediation.as_ref()) {
        eprintln!("error: cannot write the report to standard output: {e}");
        return ExitCode::from(EXIT_USAGE);
    }
    for error in &report.errors {
        eprintln!("error: {}", error.message);
    }

    let gate: Vec<Status> = args
        .fail_on
        .iter()
        .map(|f| match f {
            FailOn::Failed => Status::Failed,
            FailOn::Error => Status::Error,
        })
        .collect();
    if report.has_any(&gate) {
        ExitCode::from(EXIT_FINDINGS)
    } else if remediation
        .as_ref()
        .is_some_and(RemediationReport::has_failures)
    {
        ExitCode::from(EXIT_REMEDIATION_FAILED)
    } else if !report.errors.is_empty() {
        ExitCode::from(EXIT_INCOMPLETE)
    } else {
        ExitCode::from(EXIT_OK)
    }
}

/// Prints the report to standard output (buffered; JSON streamed as it is serialised).
fn print_report(
    output: Output,
    report: &apigw_compliance::report::ScanReport,
    remediation: Option<&RemediationReport>,
) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match (output, remediation) {
        (Output::Json, Some(remediation)) => remediation.write_scan_json(report, &mut out)?,
        (Output::Json, None) => report.write_json(&mut out)?,
        (Output::Table, remediation) => {
            out.write_all(report.to_table().as_bytes())?;
            if let Some(remediation) = remediation {
                write!(out, "\n{}", remediation.to_table())?;
            }
        }
    }
    if output == Output::Json {
        writeln!(out)?;
    }
    out.flush()
}
