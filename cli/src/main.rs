//! The `carrick` command: runs Linux arm64 programs and OCI images without a Linux kernel.
//!
//! Each subcommand lives in its own module; this file parses the command line, sets up
//! logging and turns errors into Docker-style exit codes (125 for carrick's own errors).

mod image;
mod run;
mod run_elf;
mod syscalls;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Result;
use clap::{Parser, Subcommand};

use image::{PlatformSpec, PullOptions, Store};

/// Exit status for carrick's own errors, as Docker uses it.
const EXIT_CARRICK_ERROR: u8 = 125;

/// Run Linux arm64 programs and OCI container images without a Linux kernel.
#[derive(Debug, Parser)]
#[command(name = "carrick", version)]
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
    /// Run a command in a container from an image, or in a root filesystem (--rootfs DIR).
    Run(Box<run::RunArgs>),
    /// Run an arm64 ELF executable given by a host path, with the host's filesystem.
    RunElf(run_elf::RunElfArgs),
    /// Download an image from a registry or an OCI layout directory (oci:DIR[:TAG]).
    Pull {
        /// Platform to select from a multi-platform image.
        #[arg(long, default_value = "linux/arm64", value_name = "OS/ARCH[/VARIANT]")]
        platform: String,
        /// Registry (host[:port]) to reach over plain HTTP; loopback registries always are.
        #[arg(long = "insecure-registry", value_name = "HOST[:PORT]")]
        insecure_registries: Vec<String>,
        /// Print nothing but errors and the manifest digest.
        #[arg(short, long)]
        quiet: bool,
        /// NAME[:TAG], NAME@sha256:DIGEST or oci:DIR[:TAG].
        reference: String,
    },
    /// List the images in the store.
    Images {
        /// Print image ids only.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Remove image names, then the blobs and layers nothing uses any more.
    Rmi {
        /// Image names or id prefixes.
        #[arg(required = true)]
        images: Vec<String>,
    },
    /// Manage images.
    Image {
        #[command(subcommand)]
        command: ImageCommand,
    },
    /// Load images from a docker save archive or an OCI archive.
    Load {
        /// The tar archive.
        #[arg(short, long)]
        input: PathBuf,
        /// Print nothing but the loaded names.
        #[arg(short, long)]
        quiet: bool,
    },
    /// Create a container from an image (pulling it if needed) and print its id.
    Create {
        /// Print the container's layers, writable directory and run config as JSON.
        #[arg(long)]
        json: bool,
        /// Image name or id.
        image: String,
    },
    /// Remove containers and their writable layers.
    Rm {
        /// Container ids.
        #[arg(required = true)]
        containers: Vec<String>,
    },
    /// Give an image another name.
    Tag {
        /// Existing image name or id.
        source: String,
        /// New NAME[:TAG].
        target: String,
    },
    /// Save credentials for a registry (HTTP basic auth), in the store with mode 0600.
    Login {
        /// User name; prompted for when missing.
        #[arg(short, long)]
        username: Option<String>,
        /// Read the password from stdin without a prompt.
        #[arg(long)]
        password_stdin: bool,
        /// Registry host[:port]; docker.io by default.
        #[arg(default_value = "docker.io")]
        registry: String,
    },
}

#[derive(Debug, Subcommand)]
enum ImageCommand {
    /// Delete blobs and unpacked layers that no image or container uses.
    Prune,
}

/// When this carrick process started (the start-up time carrick logs is measured from it).
fn started() -> std::time::Instant {
    static STARTED: std::sync::OnceLock<std::time::Instant> = std::sync::OnceLock::new();
    *STARTED.get_or_init(std::time::Instant::now)
}

fn main() -> ExitCode {
    started();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => return usage_error(&error),
    };
    init_logging(&cli.log);

    let result = match &cli.command {
        Command::Syscalls(args) => syscalls::run(args).map(|()| ExitCode::SUCCESS),
        Command::RunElf(args) => run_elf::run(args),
        Command::Run(args) => run::run(args),
        _ => run(cli).map(|()| ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            let message = format!("{error:#}");
            eprintln!(
                "carrick: {}",
                message.split_whitespace().collect::<Vec<_>>().join(" ")
            );
            ExitCode::from(EXIT_CARRICK_ERROR)
        }
    }
}

/// Reports a command line clap rejected on one line, with clap's tip and where to find the
/// usage, and exits 125 as Docker does. `--help` and `--version` print as usual and exit 0,
/// and `carrick` alone prints the help and exits 125.
fn usage_error(error: &clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    match error.kind() {
        ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => match error.print() {
            Ok(()) => ExitCode::SUCCESS,
            Err(_) => ExitCode::from(EXIT_CARRICK_ERROR),
        },
        ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            let _ = error.print();
            ExitCode::from(EXIT_CARRICK_ERROR)
        }
        _ => {
            let rendered = error.render().to_string();
            eprintln!("carrick: {}", one_line_usage_error(&rendered));
            ExitCode::from(EXIT_CARRICK_ERROR)
        }
    }
}

/// Folds clap's rendered error (the error, blank lines, tips, the usage and a pointer to
/// `--help`) into one line: the error, its tips, then the `--help` pointer.
fn one_line_usage_error(rendered: &str) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut help = None;
    let mut in_usage = false;
    for line in rendered.lines().map(str::trim) {
        if line.is_empty() {
            in_usage = false;
            continue;
        }
        if line.starts_with("Usage:") {
            in_usage = true;
            continue;
        }
        if in_usage {
            continue;
        }
        if let Some(pointer) = line.strip_prefix("For more information, ") {
            help = Some(pointer.trim_end_matches('.'));
            continue;
        }
        let line = line.strip_prefix("error: ").unwrap_or(line);
        // A line that ends in a colon introduces the lines below it, such as the missing
        // arguments. Other lines are separate sentences.
        match parts.last_mut() {
            Some(last) if last.ends_with(':') => *last = format!("{last} {line}"),
            _ => parts.push(line.to_string()),
        }
    }
    let mut message = parts.join("; ");
    if let Some(help) = help {
        message.push_str(&format!(" ({help})"));
    }
    message
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

/// Runs the image-store commands.
fn run(cli: Cli) -> Result<()> {
    let store = Store::open_default()?;
    match cli.command {
        Command::Syscalls(_) | Command::RunElf(_) | Command::Run(_) => Ok(()),
        Command::Pull {
            platform,
            insecure_registries,
            quiet,
            reference,
        } => {
            let options = PullOptions {
                platform: platform.parse::<PlatformSpec>()?,
                insecure_registries,
                quiet,
            };
            image::commands::pull_command(&store, &reference, &options)
        }
        Command::Images { quiet } => image::commands::images_command(&store, quiet),
        Command::Rmi { images } => image::commands::rmi_command(&store, &images),
        Command::Image {
            command: ImageCommand::Prune,
        } => image::commands::prune_command(&store),
        Command::Load { input, quiet } => {
            let options = PullOptions {
                quiet,
                ..PullOptions::default()
            };
            image::commands::load_command(&store, &input, &options)
        }
        Command::Create { json, image } => {
            let spec = image::create_container(&store, &image, &PullOptions::default())?;
            if json {
                println!("{}", serde_json::to_string_pretty(&spec)?);
            } else {
                println!("{}", spec.id);
            }
            Ok(())
        }
        Command::Rm { containers } => {
            for id in &containers {
                image::remove_container(&store, id)?;
                println!("{id}");
            }
            Ok(())
        }
        Command::Tag { source, target } => image::commands::tag_command(&store, &source, &target),
        Command::Login {
            username,
            password_stdin,
            registry,
        } => image::commands::login_command(&store, &registry, username.as_deref(), password_stdin),
    }
}
