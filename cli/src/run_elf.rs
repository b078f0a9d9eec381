//! `carrick run-elf`: runs one arm64 ELF executable (or `#!` script) given by a host path,
//! with the host's filesystem as the guest's root and the host's environment, the way
//! qemu-user runs a binary.

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::PathBuf;
use std::process::ExitCode;

use carrick_runtime::launch::{self, LaunchError, LaunchSpec, Stdin};
use carrick_runtime::vfs::RootSpec;

/// Arguments of `carrick run-elf`.
#[derive(Debug, clap::Args)]
pub struct RunElfArgs {
    /// argv[0] to pass to the program instead of FILE.
    #[arg(long, value_name = "NAME")]
    argv0: Option<OsString>,
    /// Host path of the executable or `#!` script.
    file: PathBuf,
    /// Arguments passed to the program (argv[1] onwards).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

/// Loads and runs the program; returns its exit status (128 + N if killed by signal N,
/// 127 if the file does not exist, 126 if it cannot be executed).
pub fn run(args: &RunElfArgs) -> anyhow::Result<ExitCode> {
    // The guest resolves the path itself, relative to the working directory it inherits.
    let first = args
        .argv0
        .clone()
        .unwrap_or_else(|| args.file.as_os_str().to_owned());
    let argv: Vec<Vec<u8>> = std::iter::once(first)
        .chain(args.args.iter().cloned())
        .map(OsString::into_vec)
        .collect();
    // A bare name means a file in the working directory, not a PATH search; argv[0] stays as
    // given, as the kernel leaves it.
    let mut program = args.file.as_os_str().as_bytes().to_vec();
    if !program.contains(&b'/') {
        program = [b"./".as_slice(), &program].concat();
    }
    let env = std::env::vars_os()
        .map(|(key, value)| [key.as_bytes(), b"=", value.as_bytes()].concat())
        .collect();
    let spec = LaunchSpec {
        root: RootSpec::Directory(PathBuf::from("/")),
        volumes: Vec::new(),
        shm: None,
        program: Some(program),
        argv,
        env,
        cwd: launch::host_cwd(),
        user: None,
        hostname: hostname(),
        stdin: Stdin::Inherit,
        started: crate::started(),
    };
    match launch::launch(spec) {
        Ok(exit) => exit.exit_host(),
        Err(error) => {
            eprintln!("carrick: {error}");
            Ok(ExitCode::from(match error {
                LaunchError::NotFound { .. } => 127,
                LaunchError::NotExecutable { .. } => 126,
                _ => 125,
            }))
        }
    }
}

/// The host's name, which `uname` reports for a program run with the host's filesystem.
fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_or_else(|_| "carrick".to_string(), |name| name.trim().to_string())
}
