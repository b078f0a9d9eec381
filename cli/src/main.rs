//! The `carrick` command: runs Linux arm64 programs and OCI images without a Linux kernel.
//!
//! Each subcommand lives in its own module; this file parses the command line, sets up
//! logging and turns errors into Docker-style exit codes (125 for carrick's own errors).

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod syscalls;

/// Run Linux arm64 programs and container images without a Linux kernel.
#[derive(Debug, Parser)]
#[command(name = "carrick", version, about)]
struct Cli {
    /// Log filter for carrick's own events (for example `info` or `carrick_runtime=debug`);
    /// the CARRICK_LOG variable sets the same.
    #[arg(long, global = true, env = "CARRICK_LOG", default_value = "warn")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List the Linux syscalls and how much of each carrick implements.
    Syscalls(syscalls::SyscallsArgs),
}

/// Exit status for carrick's own failures, as Docker uses it.
const EXIT_CARRICK_ERROR: u8 = 125;

fn main() -> ExitCode {
    let cli = Cli::parse();
    init_logging(&cli.log);

    let result = match &cli.command {
        Command::Syscalls(args) => syscalls::run(args).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            eprintln!("carrick: {error:#}");
            ExitCode::from(EXIT_CARRICK_ERROR)
        }
    }
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_target(false)
        .init();
}
