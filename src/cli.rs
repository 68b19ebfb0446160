//! The `scan` and `controls` commands: the CLI shell around the pipeline. `scan` takes
//! its profile from a file (or turns its flags into one), reads the regions directly,
//! and prints the verdicts (and what remediation did) as a table or the JSON contract,
//! ending with an exit status a CI gate can use.

use std::io::{IsTerminal, Write as _};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, ValueEnum};
use futures::StreamExt as _;
use k8s_openapi::jiff::Timestamp;

use crate::aws::client::{self, AwsHttp, RateLimit};
use crate::aws::identity::{AwsAccess, Identity, ScanIdentity};
use crate::aws::{self, NO_CREDENTIALS_HINT, check_credentials, load_sdk_config};
use crate::controls::route_authorization::{AuthorizationType, NonConnectRoutePolicy};
use crate::controls::{self, CATALOG, ControlMeta, ControlParameters, Semantics};
use crate::crd::{ComplianceProfile, ComplianceProfileSpec, ControlSelection, Scope};
use crate::inventory::Inventory;
use crate::inventory::reader::{DEFAULT_API_CONCURRENCY, ReadOptions, read_inventory};
use crate::model::arn::is_region_code;
use crate::model::outcome::{ApplyOutcome, Mode};
use crate::model::plan::RemediationPlan;
use crate::model::{ControlId, LoggingLevel, Status};
use crate::pipeline::ownership::OwnershipTags;
use crate::pipeline::{self, Scan, accounts};
use crate::report::ScanReport;
use crate::report::asff::{self, AsffFinding, RecordState};
use crate::report::remediation::RemediationReport;
use crate::report::sarif;
use crate::report::scan::ScanRunInfo;

/// Exit status: the scan ran and nothing matched `--fail-on`.
const EXIT_OK: u8 = 0;
/// Exit status: at least one non-exempted finding has a verdict listed in `--fail-on`.
const EXIT_FINDINGS: u8 = 1;
/// Exit status: the scan could not run (bad arguments, no credentials).
pub const EXIT_USAGE: u8 = 2;
/// Exit status: the scan ran but some part could not be read (see the errors).
const EXIT_INCOMPLETE: u8 = 3;
/// Exit status: `--remediate enforce` had a change refused by AWS (see the report).
const EXIT_REMEDIATION_FAILED: u8 = 4;

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Output {
    Table,
    Json,
    /// The findings in the AWS Security Finding Format: a JSON list for
    /// `aws securityhub batch-import-findings --findings file://...` (100 per call).
    Asff,
    /// SARIF 2.1.0 for CI code-scanning views: one rule per control, one result per
    /// FAILED or ERROR finding.
    Sarif,
}

/// How `controls` prints the catalog.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CatalogOutput {
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
pub struct ScanArgs {
    /// A ComplianceProfile manifest (the YAML applied to the cluster): its regions,
    /// role, scope, controls, parameters and exemptions drive the scan. `--control`
    /// narrows its controls; the parameter flags below cannot be combined with it.
    #[arg(long, value_name = "FILE")]
    profile: Option<std::path::PathBuf>,
    /// Region to scan; repeat for several. Default: the region of the AWS configuration.
    #[arg(long = "region", value_name = "REGION", conflicts_with = "profile")]
    regions: Vec<String>,
    /// Control to evaluate (e.g. APIGateway.1, RestAccessLogging); repeat for several.
    /// Default: every Security Hub control (`apigw-compliance controls`).
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
    #[arg(
        long = "accepted-logging-level",
        value_name = "LEVEL",
        conflicts_with = "profile"
    )]
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
    #[arg(
        long = "accepted-authorization-type",
        value_name = "TYPE",
        conflicts_with = "profile"
    )]
    accepted_authorization_types: Vec<AuthorizationType>,
    /// APIGateway.8: verdict for WebSocket routes other than $connect.
    #[arg(long, value_enum, default_value = "fail", conflicts_with = "profile")]
    websocket_non_connect_routes: NonConnectArg,
    /// Per-API calls in flight per region (the account shares 10 requests/s).
    #[arg(long, default_value_t = DEFAULT_API_CONCURRENCY)]
    api_concurrency: usize,
    /// Attempts per AWS call, with adaptive backoff on throttling.
    #[arg(long, default_value_t = aws::DEFAULT_MAX_ATTEMPTS)]
    max_attempts: u32,
    /// Seconds an AWS request may wait for its answer to start before the attempt fails
    /// (and is retried, up to --max-attempts).
    #[arg(long, default_value_t = aws::DEFAULT_READ_TIMEOUT_SECONDS)]
    aws_read_timeout_seconds: u64,
    /// API Gateway requests per second in each region (retries included). Default:
    /// half of the 10/s the account shares with every other caller. 0: no limit (for
    /// emulators).
    #[arg(long, default_value_t = client::DEFAULT_RATE)]
    aws_rate_limit: f64,
    /// API Gateway requests that may go at once after a quiet period, per region.
    /// Default: half of the account's burst of 40.
    #[arg(long, default_value_t = client::DEFAULT_BURST)]
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
    /// A tag key that says infrastructure as code owns a stage, API or domain name:
    /// changes there are planned and held back, never written (the stack would revert
    /// them). Repeatable; replaces the default; `--ownership-tag ''` turns the check
    /// off. The tag `apigwcompliance.io/remediate: "false"` always holds a resource
    /// back. See docs/remediation.md.
    #[arg(
        long = "ownership-tag",
        value_name = "KEY",
        default_value = pipeline::ownership::CLOUDFORMATION_STACK_TAG
    )]
    ownership_tags: Vec<String>,
}

#[derive(Args)]
pub struct ControlsArgs {
    #[arg(long, value_enum, default_value = "table")]
    output: CatalogOutput,
}

/// `apigw-compliance controls`: the catalog.
pub fn controls(args: &ControlsArgs) -> ExitCode {
    let catalog: Vec<&ControlMeta> = CATALOG.iter().map(|control| control.meta).collect();
    match args.output {
        CatalogOutput::Json => match serde_json::to_string_pretty(&catalog) {
            Ok(json) => println!("{json}"),
            Err(e) => {
                eprintln!("error: cannot serialise the catalog: {e}");
                return ExitCode::from(EXIT_USAGE);
            }
        },
        CatalogOutput::Table => {
            let id_width = catalog
                .iter()
                .map(|meta| meta.id.as_str().len())
                .max()
                .unwrap_or(2);
            println!(
                "{:<id_width$} {:<12} {:<8} {:<50} TITLE",
                "ID", "SOURCE", "SEVERITY", "RESOURCE TYPES"
            );
            for meta in catalog {
                let types: Vec<&str> = meta.resource_types.iter().map(|t| t.as_str()).collect();
                let source = if controls::default_ids().contains(&meta.id) {
                    meta.source.as_str().to_string()
                } else {
                    format!("{} (opt-in)", meta.source.as_str())
                };
                println!(
                    "{:<id_width$} {:<12} {:<8} {:<50} {}",
                    meta.id.as_str(),
                    source,
                    meta.severity.as_str(),
                    types.join(", "),
                    meta.title
                );
            }
        }
    }
    ExitCode::from(EXIT_OK)
}

/// `apigw-compliance scan`.
pub fn scan(args: ScanArgs) -> ExitCode {
    match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime.block_on(scan_command(args)),
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// Why `scan` stopped before scanning: printed as `error: ...`, exit status 2.
struct Usage(String);

async fn scan_command(args: ScanArgs) -> ExitCode {
    match run_scan(&args).await {
        Ok(code) => code,
        Err(Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(EXIT_USAGE)
        }
    }
}

/// The profile the scan runs: the file's, or the flags turned into one. `--control`
/// narrows its controls.
fn profile_spec(
    args: &ScanArgs,
    from_file: Option<ComplianceProfile>,
    regions: Vec<String>,
) -> Result<ComplianceProfileSpec, Usage> {
    let Some(profile) = from_file else {
        // The flags are the profile: `--control` selects (any control of the catalog,
        // opt-in checks included), none means the default selection.
        let mut enabled = args.controls.clone();
        enabled.sort();
        enabled.dedup();
        return Ok(ComplianceProfileSpec {
            scope: Scope {
                regions,
                ..Scope::default()
            },
            controls: ControlSelection {
                enabled: (!enabled.is_empty()).then_some(enabled),
                parameters: parameters(args),
            },
            remediation: Default::default(),
            exemptions: Vec::new(),
            interval: crate::crd::settings::DEFAULT_INTERVAL.to_string(),
            export: Default::default(),
        });
    };
    // With a profile, `--control` narrows the profile's own selection.
    let mut spec = profile.spec;
    if !args.controls.is_empty() {
        let narrowed: Vec<ControlId> = spec
            .controls
            .ids()
            .into_iter()
            .filter(|id| args.controls.contains(id))
            .collect();
        if narrowed.is_empty() {
            return Err(Usage(
                "--control selects none of the profile's controls (spec.controls.enabled)"
                    .to_string(),
            ));
        }
        spec.controls.enabled = Some(narrowed);
    }
    Ok(spec)
}

async fn run_scan(args: &ScanArgs) -> Result<ExitCode, Usage> {
    let started_at = Timestamp::now();
    let from_file = match &args.profile {
        Some(path) => {
            Some(ComplianceProfile::from_manifest_file(path).map_err(|e| Usage(e.to_string()))?)
        }
        None => None,
    };
    let sdk = load_sdk_config(
        args.max_attempts.max(1),
        Duration::from_secs(args.aws_read_timeout_seconds.max(1)),
    )
    .await;
    let regions: Vec<String> = match &from_file {
        Some(profile) => profile.spec.scope.regions.clone(),
        None if args.regions.is_empty() => match sdk.region() {
            Some(region) => vec![region.to_string()],
            None => {
                return Err(Usage(
                    "no region to scan: pass --region (repeatable) or set AWS_REGION".to_string(),
                ));
            }
        },
        None => args.regions.clone(),
    };
    if let Some(bad) = regions.iter().find(|r| !is_region_code(r)) {
        return Err(Usage(format!(
            "{bad:?} is not an AWS region code (expected e.g. us-east-1, eu-central-1)"
        )));
    }
    let profile_name = from_file.as_ref().and_then(|p| p.metadata.name.clone());
    let spec = profile_spec(args, from_file, regions)?;
    let scan = Scan::new(spec).map_err(|e| Usage(e.to_string()))?;
    if let Err(cause) = check_credentials(&sdk).await {
        return Err(Usage(format!("{NO_CREDENTIALS_HINT} ({cause})")));
    }
    // One process scans one identity: its API Gateway calls (reads and remediation)
    // are paced per region.
    let access = AwsAccess::new(
        sdk,
        AwsHttp::new(RateLimit::new(args.aws_rate_limit, args.aws_burst), None),
    );
    let scope = &scan.spec().scope;
    let regions = scope.regions.clone();
    let show_progress = args.progress || std::io::stderr().is_terminal();
    let options = ReadOptions {
        needs: scan.needs(),
        api_concurrency: args.api_concurrency.max(1),
        retry_partition: None,
        progress: show_progress.then(|| Arc::new(|line: &str| eprintln!("{line}")) as _),
    };
    let accounts = read_accounts(&access, scope, &regions, &options).await?;
    let verdicts = scan.evaluate_accounts(
        accounts.iter().map(|a| {
            (
                &a.inventory,
                (!a.account.is_empty()).then_some(a.account.as_str()),
            )
        }),
        Timestamp::now(),
    );
    for expired in &verdicts.exemptions.expired {
        eprintln!("warning: {expired}; it no longer applies");
    }
    let remediation = match args.remediate {
        Some(mode) => {
            let mode = match mode {
                RemediateArg::DryRun => Mode::DryRun,
                RemediateArg::Enforce => Mode::Enforce,
            };
            let ownership = OwnershipTags::new(args.ownership_tags.iter().cloned());
            // Each account's changes are planned on its own reads and made with its own
            // identity; the profile's maxChangesPerScan is shared by all of them.
            let reachable: Vec<(&AccountRead, &ScanIdentity)> = accounts
                .iter()
                .filter_map(|a| a.identity.as_ref().map(|identity| (a, identity)))
                .collect();
            let mut plans: Vec<_> = reachable
                .iter()
                .map(|(a, identity)| {
                    let findings =
                        accounts::findings_of(&verdicts.findings, identity.account.as_deref());
                    scan.plan([&a.inventory], findings, &ownership)
                })
                .collect();
            RemediationPlan::share_changes(&mut plans);
            let mut outcomes = Vec::with_capacity(plans.len());
            for (plan, (_, identity)) in plans.iter().zip(&reachable) {
                outcomes.push(pipeline::remediate(mode, plan, &identity.sdk, None).await);
            }
            Some(RemediationReport {
                mode,
                plan: RemediationPlan::merge(plans),
                outcome: ApplyOutcome::merge(outcomes),
            })
        }
        None => None,
    };
    // The report is all that is printed: the inventory's memory goes before its text
    // is made.
    drop(accounts);
    let run = ScanRunInfo {
        profile: profile_name,
        started_at,
        finished_at: Timestamp::now(),
        semantics: scan.spec().controls.parameters.semantics,
        regions,
    };
    let report = ScanReport::new(run, verdicts.findings, verdicts.errors);
    // Every finding of the scan, imported as it is now (ACTIVE; created and updated now).
    let asff = match args.output {
        Output::Asff => {
            let now = Timestamp::now();
            report
                .findings
                .iter()
                .map(|finding| asff::to_asff(finding, RecordState::Active, now, now))
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| Usage(e.to_string()))?
        }
        Output::Table | Output::Json | Output::Sarif => Vec::new(),
    };
    if let Err(e) = print_report(args.output, &report, &asff, remediation.as_ref()) {
        return Err(Usage(format!(
            "cannot write the report to standard output: {e}"
        )));
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
    Ok(if report.has_any(&gate) {
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
    })
}

/// One account's read: the account the profile's identity is in, or one member account
/// of its organization, read as its member role (`identity` is `None` when that role
/// was refused: `inventory` then holds only that error).
struct AccountRead {
    account: String,
    identity: Option<ScanIdentity>,
    inventory: Inventory,
}

/// Reads every account of the scope: the identity's own, or each member account the
/// organization lists (several at once; an account whose role is refused is an error
/// of that account alone). A refused identity or an unreadable organization ends the
/// scan.
async fn read_accounts(
    access: &Arc<AwsAccess>,
    scope: &Scope,
    regions: &[String],
    options: &ReadOptions,
) -> Result<Vec<AccountRead>, Usage> {
    let first_region = &regions[0];
    let members = match accounts::discover(access, scope, first_region).await {
        None => {
            let identity = access
                .identity(
                    &Identity::new(scope.role_arn.as_deref(), scope.external_id.as_deref()),
                    first_region,
                )
                .await
                .map_err(|e| Usage(e.to_string()))?;
            let inventory = read_inventory(&identity.sdk, regions, options).await;
            return Ok(vec![AccountRead {
                account: identity.account.clone().unwrap_or_default(),
                identity: Some(identity),
                inventory,
            }]);
        }
        Some(discovered) => discovered.map_err(|e| Usage(e.to_string()))?,
    };
    let reads = futures::stream::iter(members)
        .map(|member| async move {
            match access.identity(&member.identity, first_region).await {
                Ok(identity) => AccountRead {
                    inventory: read_inventory(&identity.sdk, regions, options).await,
                    identity: Some(identity),
                    account: member.account,
                },
                Err(refused) => AccountRead {
                    inventory: accounts::unreachable(&member.account, regions, &refused),
                    identity: None,
                    account: member.account,
                },
            }
        })
        .buffered(accounts::ACCOUNT_CONCURRENCY)
        .collect()
        .await;
    Ok(reads)
}

/// The control parameters the flags set.
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

/// Prints the report to standard output (buffered; JSON streamed as it is serialised).
fn print_report(
    output: Output,
    report: &ScanReport,
    asff: &[AsffFinding],
    remediation: Option<&RemediationReport>,
) -> std::io::Result<()> {
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match (output, remediation) {
        (Output::Json, Some(remediation)) => remediation.write_scan_json(report, &mut out)?,
        (Output::Json, None) => report.write_json(&mut out)?,
        (Output::Asff, remediation) => {
            serde_json::to_writer_pretty(&mut out, asff)?;
            // ASFF has no place for what remediation did: it goes to stderr.
            if let Some(remediation) = remediation {
                eprint!("{}", remediation.to_table());
            }
        }
        (Output::Sarif, remediation) => {
            serde_json::to_writer_pretty(&mut out, &sarif::to_sarif(report))?;
            // SARIF has no place for what remediation did either.
            if let Some(remediation) = remediation {
                eprint!("{}", remediation.to_table());
            }
        }
        (Output::Table, remediation) => {
            out.write_all(report.to_table().as_bytes())?;
            if let Some(remediation) = remediation {
                write!(out, "\n{}", remediation.to_table())?;
            }
        }
    }
    if output != Output::Table {
        writeln!(out)?;
    }
    out.flush()
}
