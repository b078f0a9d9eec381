//! The `carrick` command line.
//!
//! For now only `run-elf`, which loads one arm64 ELF executable from a host path and runs
//! it on the emu backend with the temporary syscall scaffold.

use std::ffi::OsString;
use std::fs::File;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::{Parser, Subcommand};

use carrick_runtime::backend::emu::EmuVcpu;
use carrick_runtime::backend::{Registers, Vcpu};
use carrick_runtime::loader::{self, Credentials, ExecRequest, Outcome};
use carrick_runtime::mem::GuestMemory;
use carrick_runtime::process::{self, Process, Thread};

#[derive(Parser)]
#[command(
    name = "carrick",
    version,
    about = "Run Linux arm64 programs without a Linux kernel"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run an arm64 ELF executable given by a host path, with the host's environment.
    RunElf {
        /// Host path of the executable (or `#!` script).
        file: PathBuf,
        /// Arguments passed to the program (argv[1] onwards).
        #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
        args: Vec<OsString>,
    },
}

/// Most `#!` interpreters followed before giving up (Linux allows 4 levels).
const MAX_SCRIPT_DEPTH: usize = 4;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_env("CARRICK_LOG"))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::RunElf { file, args } => ExitCode::from(run_elf(&file, args) as u8),
    }
}

/// Loads and runs `file`; returns the exit status for the shell.
fn run_elf(file: &Path, args: Vec<OsString>) -> i32 {
    let mut path = file.to_path_buf();
    let mut argv: Vec<Vec<u8>> = std::iter::once(file.as_os_str().to_owned())
        .chain(args)
        .map(OsString::into_vec)
        .collect();
    let envp: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(key, value)| [key.as_bytes(), b"=", value.as_bytes()].concat())
        .collect();

    let mem = match GuestMemory::new() {
        Ok(mem) => Arc::new(mem),
        Err(error) => {
            eprintln!("carrick: cannot reserve the guest address space: {error}");
            return 1;
        }
    };
    let mut vcpu = match EmuVcpu::new(mem.clone()) {
        Ok(vcpu) => vcpu,
        Err(error) => {
            eprintln!("carrick: cannot create the virtual CPU: {error}");
            return 1;
        }
    };

    for _ in 0..=MAX_SCRIPT_DEPTH {
        let host_file = match File::open(&path) {
            Ok(host_file) => host_file,
            Err(error) => {
                let status = if error.kind() == std::io::ErrorKind::NotFound {
                    127
                } else {
                    126
                };
                eprintln!("carrick: {}: {error}", path.display());
                return status;
            }
        };
        let mut open = |guest: &[u8]| File::open(Path::new(std::ffi::OsStr::from_bytes(guest)));
        let request = ExecRequest {
            path: path.as_os_str().as_bytes(),
            argv: &argv,
            envp: &envp,
            hwcaps: vcpu.hwcaps(),
            credentials: host_credentials(),
            open: &mut open,
        };
        match loader::load(&mem, &host_file, request) {
            Ok(Outcome::Loaded(loaded)) => {
                vcpu.set_pc(loaded.entry);
                vcpu.set_sp(loaded.sp);
                let process = Process::new(mem.clone());
                if let Ok(mut auxv) = process.auxv.lock() {
                    *auxv = loaded.auxv;
                }
                return run_main_thread(&process, &mut vcpu);
            }
            Ok(Outcome::Script { interpreter, arg }) => {
                let script = std::mem::take(&mut argv[0]);
                let mut new_argv = vec![interpreter.clone()];
                new_argv.extend(arg);
                new_argv.push(path.as_os_str().as_bytes().to_vec());
                new_argv.extend(argv.drain(1..));
                drop(script);
                argv = new_argv;
                path = PathBuf::from(OsString::from_vec(interpreter));
            }
            Err(error) => {
                eprintln!("carrick: {}: {error}", path.display());
                return error.exit_status();
            }
        }
    }
    eprintln!(
        "carrick: {}: too many levels of #! interpreters",
        file.display()
    );
    126
}

fn run_main_thread(process: &Process, vcpu: &mut EmuVcpu) -> i32 {
    let mut thread = Thread::current();
    match process::run_thread(process, &mut thread, vcpu) {
        Ok(exit) => exit.exit_status(),
        Err(error) => {
            eprintln!("carrick: guest stopped: {error}");
            134
        }
    }
}

fn host_credentials() -> Credentials {
    // SAFETY: these id calls take no arguments and cannot fail.
    unsafe {
        Credentials {
            uid: libc::getuid(),
            euid: libc::geteuid(),
            gid: libc::getgid(),
            egid: libc::getegid(),
        }
    }
}
