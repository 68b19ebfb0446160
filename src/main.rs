//! The `apigw-compliance` command. This file only parses arguments and hands each
//! subcommand to its shell: `scan` and `controls` to `cli`, `run` to `controller`.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use apigw_compliance::cli::{self, ControlsArgs, EXIT_USAGE, ScanArgs};

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

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The operator sets up its own logging (JSON by default, --log-format).
    if !matches!(cli.command, Command::Run(_)) {
        apigw_compliance::telemetry::init_cli();
    }
    match cli.command {
        Command::Run(args) => apigw_compliance::controller::main(*args),
        Command::Controls(args) => cli::controls(&args),
        Command::Crd => match apigw_compliance::crd::crd_yaml() {
            Ok(yaml) => {
                print!("{yaml}");
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("error: cannot render the CRD: {e}");
                ExitCode::from(EXIT_USAGE)
            }
        },
        Command::Scan(args) => cli::scan(*args),
    }
}
