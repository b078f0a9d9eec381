//! `carrick run`: runs a command in a container made from an OCI image, or inside a root
//! filesystem directory (`--rootfs`), with the Docker options users type. The image's
//! config supplies the defaults (Entrypoint, Cmd, Env, WorkingDir, User); the flags
//! override them as `docker run` does.

use std::ffi::OsString;
use std::os::unix::ffi::OsStringExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{bail, Context, Result};
use carrick_runtime::launch::{self, LaunchError, LaunchSpec, Stdin};
use carrick_runtime::vfs::{GuestPath, RootSpec, Volume};

use crate::image::{self, PlatformSpec, PullOptions, Store};

/// Options of `carrick run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Use this directory as the root filesystem instead of an image; the first argument is
    /// then the command.
    #[arg(long, value_name = "DIR")]
    rootfs: Option<PathBuf>,
    /// Set an environment variable (NAME=VALUE, or NAME to copy it from carrick's environment).
    #[arg(short = 'e', long = "env", value_name = "NAME[=VALUE]")]
    env: Vec<String>,
    /// Read environment variables from a file, one NAME=VALUE per line.
    #[arg(long = "env-file", value_name = "FILE")]
    env_files: Vec<PathBuf>,
    /// Working directory inside the container.
    #[arg(short = 'w', long = "workdir", value_name = "DIR")]
    workdir: Option<String>,
    /// User to run as: NAME, UID, NAME:GROUP or UID:GID (names looked up in the container).
    #[arg(short = 'u', long = "user", value_name = "USER[:GROUP]")]
    user: Option<String>,
    /// Override the image's entrypoint.
    #[arg(long, value_name = "COMMAND")]
    entrypoint: Option<String>,
    /// Mount a host directory: HOST:GUEST or HOST:GUEST:ro.
    #[arg(short = 'v', long = "volume", value_name = "HOST:GUEST[:ro]")]
    volumes: Vec<String>,
    /// Remove the container's writable layer when it exits.
    #[arg(long)]
    rm: bool,
    /// Name for the container (shown by the image store; default: its id).
    #[arg(long)]
    name: Option<String>,
    /// Keep standard input open (without it the guest reads end-of-file).
    #[arg(short = 'i', long)]
    interactive: bool,
    /// Accepted for Docker compatibility: the guest uses carrick's terminal if it has one.
    #[arg(short = 't', long)]
    tty: bool,
    /// argv[0] to pass to the program instead of the command name.
    #[arg(long, value_name = "NAME")]
    argv0: Option<String>,
    /// Host name inside the container.
    #[arg(long, value_name = "NAME")]
    hostname: Option<String>,
    /// Platform of the image to pull.
    #[arg(long, default_value = "linux/arm64", value_name = "OS/ARCH[/VARIANT]")]
    platform: String,
    /// IMAGE then COMMAND and its arguments (with --rootfs, only COMMAND and its arguments).
    #[arg(
        trailing_var_arg = true,
        allow_hyphen_values = true,
        value_name = "IMAGE [COMMAND [ARG...]]"
    )]
    args: Vec<OsString>,
}

/// Exit status for carrick's own errors, as Docker uses it.
const EXIT_CARRICK_ERROR: u8 = 125;
/// Default PATH when neither the image nor the user sets one (Docker's default).
const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Runs the container and returns the guest's exit status.
pub fn run(args: &RunArgs) -> Result<ExitCode> {
    let _ = args.tty;
    // Reject bad options before a container exists, so nothing is left behind.
    check_options(args)?;
    let (spec, container) = match &args.rootfs {
        Some(rootfs) => (rootfs_spec(args, rootfs)?, None),
        None => image_spec(args)?,
    };

    // SAFETY: getpid has no preconditions.
    let carrick_pid = unsafe { libc::getpid() };
    let result = launch::launch(spec);
    // A forked guest process returns through here too when it exits; only the process that
    // created the container removes it.
    // SAFETY: as above.
    let is_original = unsafe { libc::getpid() } == carrick_pid;
    if let Some((store, id)) = container.filter(|_| is_original) {
        if args.rm {
            if let Err(error) = image::remove_container(&store, &id) {
                tracing::warn!(container = %id, %error, "cannot remove the container's writable layer");
            }
        }
    }
    match result {
        Ok(exit) => exit.exit_host(),
        Err(error) => {
            eprintln!("carrick: {error}");
            Ok(ExitCode::from(exit_code(&error)))
        }
    }
}

/// Docker's exit codes: 127 when the command is not found, 126 when it cannot be executed,
/// 125 for carrick's own failures.
fn exit_code(error: &LaunchError) -> u8 {
    match error {
        LaunchError::NotFound { .. } => 127,
        LaunchError::NotExecutable { .. } => 126,
        _ => EXIT_CARRICK_ERROR,
    }
}

fn rootfs_spec(args: &RunArgs, rootfs: &Path) -> Result<LaunchSpec> {
    let metadata = std::fs::metadata(rootfs).with_context(|| {
        format!(
            "root filesystem {}: cannot open; pass an existing directory to --rootfs",
            rootfs.display()
        )
    })?;
    if !metadata.is_dir() {
        bail!(
            "root filesystem {} is not a directory; pass a directory to --rootfs",
            rootfs.display()
        );
    }
    if args.entrypoint.is_some() {
        bail!("--entrypoint needs an image; with --rootfs give the command itself");
    }
    let command: Vec<Vec<u8>> = args.args.iter().cloned().map(OsString::into_vec).collect();
    if command.is_empty() {
        bail!("no command given; usage: carrick run --rootfs DIR COMMAND [ARG...]");
    }
    let mut env = vec![DEFAULT_PATH.as_bytes().to_vec(), b"HOME=/root".to_vec()];
    apply_env_options(args, &mut env)?;
    let root = RootSpec::Directory(rootfs.to_path_buf());
    finish_spec(
        args,
        root,
        rootfs.to_path_buf(),
        None,
        command,
        env,
        None,
        None,
    )
}

fn image_spec(args: &RunArgs) -> Result<(LaunchSpec, Option<(Store, String)>)> {
    let Some((image_name, command)) = args.args.split_first() else {
        bail!("no image given; usage: carrick run [OPTIONS] IMAGE [COMMAND [ARG...]]");
    };
    let image_name = image_name
        .to_str()
        .context("image name is not valid UTF-8")?;
    let store = Store::open_default()?;
    let options = PullOptions {
        platform: args.platform.parse::<PlatformSpec>()?,
        ..PullOptions::default()
    };
    let container = image::create_container(&store, image_name, &options)?;
    let config = &container.config;

    // Docker: the entrypoint flag replaces the image's entrypoint and drops its Cmd; a
    // command on the command line replaces Cmd.
    let entrypoint: Vec<Vec<u8>> = match &args.entrypoint {
        Some(entrypoint) if entrypoint.is_empty() => Vec::new(),
        Some(entrypoint) => vec![entrypoint.as_bytes().to_vec()],
        None => config
            .entrypoint
            .iter()
            .flatten()
            .map(|part| part.as_bytes().to_vec())
            .collect(),
    };
    let cmd: Vec<Vec<u8>> = if !command.is_empty() {
        command.iter().cloned().map(OsString::into_vec).collect()
    } else if args.entrypoint.is_some() {
        Vec::new()
    } else {
        config
            .cmd
            .iter()
            .flatten()
            .map(|part| part.as_bytes().to_vec())
            .collect()
    };
    let argv: Vec<Vec<u8>> = entrypoint.into_iter().chain(cmd).collect();
    if argv.is_empty() {
        bail!("image {image_name} has no Entrypoint or Cmd; give a command after the image name");
    }

    let mut env: Vec<Vec<u8>> = config
        .env
        .iter()
        .flatten()
        .map(|variable| variable.as_bytes().to_vec())
        .collect();
    if !env.iter().any(|variable| variable.starts_with(b"PATH=")) {
        env.insert(0, DEFAULT_PATH.as_bytes().to_vec());
    }
    apply_env_options(args, &mut env)?;

    let lowers = container
        .layers
        .iter()
        .map(|layer| launch::layer_with_index(layer))
        .collect::<std::io::Result<Vec<_>>>()
        .context(
            "cannot read the image's unpacked layers; run `carrick image prune` and pull again",
        )?;
    let root = RootSpec::Layers {
        upper: container.upper.clone(),
        lowers,
    };
    let workdir = config.working_dir.clone().filter(|dir| !dir.is_empty());
    let user = config.user.clone().filter(|user| !user.is_empty());
    let shm_dir = container.dir.join("shm");
    std::fs::create_dir_all(&shm_dir).with_context(|| {
        format!(
            "cannot create {}; check the image store's permissions",
            shm_dir.display()
        )
    })?;
    let shm = Some(shm_dir);
    let spec = finish_spec(
        args,
        root,
        container.upper.clone(),
        shm,
        argv,
        env,
        workdir,
        user,
    )?;
    Ok((spec, Some((store, container.id.clone()))))
}

/// Checks the options that can fail (volumes, working directory, env files) up front.
fn check_options(args: &RunArgs) -> Result<()> {
    // The trailing words take hyphens so the command's own flags pass through, which would
    // also make a mistyped carrick flag the image name.
    if let Some(first) = args.args.first() {
        let first = first.to_string_lossy();
        if first.len() > 1 && first.starts_with('-') {
            bail!("unknown flag {first:?} for run (try 'carrick run --help')");
        }
    }
    let platform = args.platform.parse::<PlatformSpec>()?;
    if platform.os != "linux" || platform.architecture != "arm64" {
        bail!(
            "platform {:?} cannot run here: carrick runs linux/arm64 images; drop --platform or \
             give linux/arm64",
            args.platform
        );
    }
    for volume in &args.volumes {
        parse_volume(volume)?;
    }
    if let Some(workdir) = &args.workdir {
        if !workdir.starts_with('/') {
            bail!("working directory {workdir:?} is not absolute; give -w an absolute path");
        }
    }
    apply_env_options(args, &mut Vec::new())
}

/// Applies `--env-file` then `-e` to `env`, replacing variables of the same name.
fn apply_env_options(args: &RunArgs, env: &mut Vec<Vec<u8>>) -> Result<()> {
    for file in &args.env_files {
        let text = std::fs::read_to_string(file)
            .with_context(|| format!("env file {}: cannot read; check the path", file.display()))?;
        for line in text.lines() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            set_env(env, line);
        }
    }
    for variable in &args.env {
        if variable.is_empty() || variable.starts_with('=') {
            bail!("invalid environment variable {variable:?} for -e; give NAME=VALUE or NAME");
        }
        set_env(env, variable);
    }
    Ok(())
}

/// Sets `NAME=VALUE`, or for a bare `NAME` copies carrick's own value (dropping it if unset),
/// as `docker run -e` does.
fn set_env(env: &mut Vec<Vec<u8>>, variable: &str) {
    let (name, value) = match variable.split_once('=') {
        Some((name, value)) => (name.to_string(), Some(value.to_string())),
        None => (variable.to_string(), std::env::var(variable).ok()),
    };
    let prefix = format!("{name}=");
    env.retain(|existing| !existing.starts_with(prefix.as_bytes()));
    if let Some(value) = value {
        env.push(format!("{name}={value}").into_bytes());
    }
}

#[allow(clippy::too_many_arguments)]
fn finish_spec(
    args: &RunArgs,
    root: RootSpec,
    root_dir: PathBuf,
    shm: Option<PathBuf>,
    argv: Vec<Vec<u8>>,
    env: Vec<Vec<u8>>,
    image_workdir: Option<String>,
    image_user: Option<String>,
) -> Result<LaunchSpec> {
    let volumes = args
        .volumes
        .iter()
        .map(|volume| parse_volume(volume))
        .collect::<Result<Vec<_>>>()?;
    let workdir = args
        .workdir
        .clone()
        .or(image_workdir)
        .unwrap_or_else(|| "/".to_string());
    if !workdir.starts_with('/') {
        bail!("working directory {workdir:?} is not absolute; give -w an absolute path");
    }
    let user = args.user.clone().or(image_user);
    let hostname = args
        .hostname
        .clone()
        .or_else(|| args.name.clone())
        .unwrap_or_else(|| "carrick".to_string());
    let _ = root_dir;
    // With --argv0 the program is still found by its command name.
    let mut argv = argv;
    let program = match (&args.argv0, argv.first_mut()) {
        (Some(argv0), Some(first)) => Some(std::mem::replace(first, argv0.as_bytes().to_vec())),
        _ => None,
    };
    Ok(LaunchSpec {
        root,
        volumes,
        shm,
        program,
        argv,
        env,
        cwd: workdir.into_bytes(),
        user: user.map(String::into_bytes),
        hostname,
        stdin: if args.interactive {
            Stdin::Inherit
        } else {
            Stdin::Null
        },
        started: crate::started(),
    })
}

fn parse_volume(text: &str) -> Result<Volume> {
    let parts: Vec<&str> = text.split(':').collect();
    let (host, guest, read_only) = match parts.as_slice() {
        [host, guest] => (*host, *guest, false),
        [host, guest, "ro"] => (*host, *guest, true),
        [host, guest, "rw"] => (*host, *guest, false),
        _ => bail!("invalid volume {text:?}; use HOST:GUEST or HOST:GUEST:ro"),
    };
    if !guest.starts_with('/') {
        bail!("invalid volume {text:?}: the container path must be absolute");
    }
    let host = std::fs::canonicalize(host).with_context(|| {
        format!("volume {text:?}: host directory {host} not found; create it first")
    })?;
    if !host.is_dir() {
        bail!("volume {text:?}: {} is not a directory", host.display());
    }
    Ok(Volume {
        host,
        guest: GuestPath::normalize(guest.as_bytes()),
        read_only,
    })
}
