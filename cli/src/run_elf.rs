//! `carrick run-elf`: runs one arm64 ELF executable (or `#!` script) given by a host path on
//! the emu backend, with the host's environment. Paths the program itself opens, including
//! its PT_INTERP, are host paths too: there is no container root here.

use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use carrick_runtime::backend::emu::EmuVcpu;
use carrick_runtime::backend::{Registers, Vcpu};
use carrick_runtime::linux;
use carrick_runtime::loader::{self, AuxInfo, FileKind, LoadError, Program};
use carrick_runtime::mem::GuestMemory;
use carrick_runtime::process::{self, ExitRequest, Process, Thread};

/// Arguments of `carrick run-elf`.
#[derive(Debug, clap::Args)]
pub struct RunElfArgs {
    /// Host path of the executable or `#!` script.
    file: PathBuf,
    /// Arguments passed to the program (argv[1] onwards).
    #[arg(trailing_var_arg = true, allow_hyphen_values = true)]
    args: Vec<OsString>,
}

/// Exit status when the file cannot be executed (bad format, permission), as shells use it.
const EXIT_NOT_EXECUTABLE: u8 = 126;
/// Exit status when the file does not exist, as shells use it.
const EXIT_NOT_FOUND: u8 = 127;

/// Loads and runs the program; returns its exit status (128 + N if killed by signal N).
pub fn run(args: &RunElfArgs) -> anyhow::Result<ExitCode> {
    let mut path = args.file.clone();
    let mut argv: Vec<Vec<u8>> = std::iter::once(args.file.as_os_str().to_owned())
        .chain(args.args.iter().cloned())
        .map(OsString::into_vec)
        .collect();
    let envp: Vec<Vec<u8>> = std::env::vars_os()
        .map(|(key, value)| [key.as_bytes(), b"=", value.as_bytes()].concat())
        .collect();

    // Resolve `#!` scripts first: the interpreter replaces the file, the script joins argv.
    let mut depth = 0;
    let file = loop {
        let file = match File::open(&path) {
            Ok(file) => file,
            Err(error) => return Ok(report_open_error(&path, &error)),
        };
        match loader::classify(&file) {
            Ok(FileKind::Elf) => break file,
            Ok(FileKind::Script {
                interpreter,
                argument,
            }) => {
                depth += 1;
                if depth > loader::MAX_SHEBANG_DEPTH {
                    eprintln!(
                        "carrick: {}: too many levels of #! interpreters",
                        path.display()
                    );
                    return Ok(ExitCode::from(EXIT_NOT_EXECUTABLE));
                }
                let mut new_argv = vec![interpreter.clone()];
                new_argv.extend(argument);
                new_argv.push(path.as_os_str().as_bytes().to_vec());
                new_argv.extend(argv.drain(1..));
                argv = new_argv;
                path = PathBuf::from(OsString::from_vec(interpreter));
            }
            Err(error) => return Ok(report_load_error(&path, &error)),
        }
    };

    let interp_path = match loader::interpreter_path(&file) {
        Ok(interp_path) => interp_path,
        Err(error) => return Ok(report_load_error(&path, &error)),
    };
    let interp_file = match &interp_path {
        None => None,
        Some(interp) => {
            let interp_host = Path::new(OsStr::from_bytes(interp));
            match File::open(interp_host) {
                Ok(interp_file) => Some(interp_file),
                Err(error) => return Ok(report_open_error(interp_host, &error)),
            }
        }
    };

    let mem = GuestMemory::new()?;
    let mut vcpu = EmuVcpu::new(mem.clone())?;
    let guest_path = path.as_os_str().as_bytes();
    let program = Program {
        file: &file,
        guest_path,
        interpreter: interp_file.as_ref().zip(interp_path.as_deref()),
    };
    let (hwcap, hwcap2) = vcpu.hwcaps();
    // SAFETY: these id calls take no arguments and cannot fail.
    let (uid, euid, gid, egid) = unsafe {
        (
            libc::getuid(),
            libc::geteuid(),
            libc::getgid(),
            libc::getegid(),
        )
    };
    let mut random = [0u8; 16];
    getrandom(&mut random)?;
    let aux = AuxInfo {
        uid,
        euid,
        gid,
        egid,
        hwcap,
        hwcap2,
        minsigstksz: linux::MINSIGSTKSZ,
        clock_ticks: 100,
        random,
    };
    let loaded = match loader::load(&mem, &program, &argv, &envp, &aux) {
        Ok(loaded) => loaded,
        Err(error) => return Ok(report_load_error(&path, &error)),
    };

    vcpu.set_pc(loaded.entry);
    vcpu.set_sp(loaded.sp);
    let process = Process::new(mem, uid, gid, "carrick");
    process.set_auxv(loaded.auxv);
    // SAFETY: gettid takes no arguments and cannot fail.
    let mut thread = Thread::new(unsafe { libc::gettid() });
    let exit = process::run_thread(&process, &mut thread, &mut vcpu)?;
    Ok(ExitCode::from(exit_status(&path, exit)))
}

/// Converts how the guest ended into a shell exit status, reporting fatal signals.
fn exit_status(path: &Path, exit: ExitRequest) -> u8 {
    match exit {
        ExitRequest::Thread(status) | ExitRequest::Group(status) => (status & 0xff) as u8,
        ExitRequest::Signal(signal) => {
            eprintln!("carrick: {}: killed by {}", path.display(), signal.name());
            (128 + signal.number()) as u8
        }
    }
}

fn report_open_error(path: &Path, error: &std::io::Error) -> ExitCode {
    eprintln!("carrick: {}: {error}", path.display());
    if error.kind() == std::io::ErrorKind::NotFound {
        ExitCode::from(EXIT_NOT_FOUND)
    } else {
        ExitCode::from(EXIT_NOT_EXECUTABLE)
    }
}

fn report_load_error(path: &Path, error: &LoadError) -> ExitCode {
    eprintln!("carrick: {}: {error}", path.display());
    ExitCode::from(EXIT_NOT_EXECUTABLE)
}

/// Fills `buf` from the host's random source (AT_RANDOM seeds the guest's stack protector).
fn getrandom(buf: &mut [u8]) -> std::io::Result<()> {
    // SAFETY: getrandom writes at most `buf.len()` bytes into `buf`.
    let n = unsafe { libc::getrandom(buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n != buf.len() as isize {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}
