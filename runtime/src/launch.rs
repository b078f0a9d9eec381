//! Starting a guest. The launcher builds the process (address space, file system,
//! credentials) and finds the program inside the guest's root as `execve` and a shell's PATH
//! search do. It follows `#!` lines and PT_INTERP, loads the program, and runs the main
//! thread until the process exits. `carrick run` (image or `--rootfs`) and
//! `carrick run-elf` both come through here.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backend::emu::EmuVcpu;
use crate::backend::{BackendError, Registers, Vcpu};
use crate::linux;
use crate::loader::{self, AuxInfo, FileKind, LoadError, Program};
use crate::mem::GuestMemory;
use crate::process::{self, ExitRequest, Process, Thread};
use crate::vfs::layer::LayerMeta;
use crate::vfs::{FdTable, FileType, LayerIndex, OpenOptions, RootSpec, Vfs, Volume};

/// The source of the guest's standard input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stdin {
    /// carrick's own standard input.
    Inherit,
    /// `/dev/null`: reads return end-of-file (`docker run` without `-i`).
    Null,
}

/// Everything needed to start a guest process.
pub struct LaunchSpec {
    pub root: RootSpec,
    pub volumes: Vec<Volume>,
    /// Host directory for `/dev/shm`, if any.
    pub shm: Option<PathBuf>,
    /// The program to run; `None` runs `argv[0]`, searched in `PATH` when it has no slash.
    pub program: Option<Vec<u8>>,
    pub argv: Vec<Vec<u8>>,
    /// The environment, `NAME=value` each.
    pub env: Vec<Vec<u8>>,
    /// Absolute guest path of the working directory; created if it does not exist.
    pub cwd: Vec<u8>,
    /// `USER[:GROUP]` (names or numbers), looked up in the guest's /etc/passwd and
    /// /etc/group; `None` runs as root.
    pub user: Option<Vec<u8>>,
    pub hostname: String,
    pub stdin: Stdin,
    /// When carrick started, for the start-up time it logs on entering the guest.
    pub started: std::time::Instant,
}

/// Why a guest could not be started.
#[derive(Debug, thiserror::Error)]
pub enum LaunchError {
    /// The program does not exist in the guest's root (exit status 127).
    #[error("{path}: not found; check the path, the command name and PATH")]
    NotFound { path: String },
    /// The program exists but cannot be run (exit status 126).
    #[error("{path}: cannot execute: {reason}")]
    NotExecutable { path: String, reason: String },
    /// The root filesystem, working directory or user could not be set up.
    #[error("{0}")]
    Setup(String),
    /// The CPU backend failed.
    #[error("CPU backend failed: {0}")]
    Backend(#[from] BackendError),
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Opens an unpacked image layer: its root directory and its metadata index.
pub fn layer_with_index(layer_dir: &Path) -> io::Result<(PathBuf, Arc<dyn LayerIndex>)> {
    let meta = LayerMeta::load(layer_dir)
        .map_err(|error| io::Error::new(io::ErrorKind::InvalidData, error.to_string()))?;
    Ok((LayerMeta::root_dir(layer_dir), Arc::new(meta)))
}

/// How a guest process ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GuestExit {
    /// It exited with this status.
    Status(u8),
    /// A signal with a fatal default action killed it.
    Signal(linux::Signal),
}

impl GuestExit {
    /// The status a shell reports: the exit status, or 128 + N for signal N.
    pub fn shell_status(self) -> u8 {
        match self {
            GuestExit::Status(status) => status,
            GuestExit::Signal(signal) => (128 + signal.number()) as u8,
        }
    }

    /// Ends carrick the way the guest ended: the same exit status, or the same signal
    /// (with core dumps off), so a parent shell reports it as it would for the guest.
    pub fn exit_host(self) -> ! {
        if let GuestExit::Signal(signal) = self {
            if let Some(host) = signal.to_host() {
                let no_core = libc::rlimit {
                    rlim_cur: 0,
                    rlim_max: 0,
                };
                // SAFETY: setrlimit reads a valid rlimit; signal and raise take plain
                // integers. Resetting the disposition makes the raise fatal.
                unsafe {
                    libc::setrlimit(libc::RLIMIT_CORE, &no_core);
                    libc::signal(host, libc::SIG_DFL);
                    libc::raise(host);
                }
            }
        }
        std::process::exit(i32::from(self.shell_status()))
    }
}

/// Starts the guest and runs it to completion; returns how it ended.
pub fn launch(spec: LaunchSpec) -> Result<GuestExit, LaunchError> {
    // The guest's umask is applied by carrick itself; the host's must not narrow modes again.
    // SAFETY: umask has no memory-safety preconditions.
    unsafe { libc::umask(0) };
    if spec.stdin == Stdin::Null {
        redirect_stdin_to_null().map_err(|error| {
            LaunchError::Setup(format!("cannot open /dev/null for standard input: {error}"))
        })?;
    }
    let mem = GuestMemory::new().map_err(|error| {
        LaunchError::Setup(format!("cannot reserve the guest address space: {error}"))
    })?;
    let process = Process::new(mem.clone(), 0, 0, &spec.hostname);
    let fds = FdTable::with_host_stdio([host_status(0), host_status(1), host_status(2)]);
    let vfs = Vfs::new(
        spec.root,
        &spec.volumes,
        spec.shm,
        process.info(),
        Arc::clone(&process.compat),
        fds,
    )
    .map_err(|error| LaunchError::Setup(format!("cannot open the root filesystem: {error}")))?;
    let vfs = process.vfs.get_or_init(|| vfs);

    let mut env = spec.env;
    if let Some(user) = &spec.user {
        let (uid, gid, home) =
            crate::launch::users::lookup(vfs, user).map_err(LaunchError::Setup)?;
        *process.creds_mut() = crate::sys::state::Credentials::new(uid, gid);
        if !env.iter().any(|variable| variable.starts_with(b"HOME=")) {
            env.push([b"HOME=".as_slice(), &home].concat());
        }
    }
    enter_workdir(vfs, &spec.cwd)?;

    let path_variable = env
        .iter()
        .find_map(|variable| variable.strip_prefix(b"PATH="))
        .map(<[u8]>::to_vec);
    let program_name = spec
        .program
        .clone()
        .or_else(|| spec.argv.first().cloned())
        .ok_or_else(|| LaunchError::Setup("no command given".into()))?;
    let path = find_program(vfs, &program_name, path_variable.as_deref())?;
    let prepared = prepare(vfs, &path, spec.argv)?;

    let mut vcpu = EmuVcpu::new(mem.clone())?;
    let (hwcap, hwcap2) = vcpu.hwcaps();
    process.set_hwcaps((hwcap, hwcap2));
    let creds = process.creds().clone();
    let aux = AuxInfo::for_process(&creds, (hwcap, hwcap2))
        .map_err(|errno| LaunchError::Setup(format!("cannot read random bytes: {errno}")))?;
    let program = Program {
        file: &prepared.file,
        guest_path: &prepared.guest_path,
        interpreter: prepared
            .interpreter
            .as_ref()
            .map(|(file, path)| (file, path.as_slice())),
    };
    let loaded = loader::load(&mem, &program, &prepared.argv, &env, &aux)
        .map_err(|error| not_executable(&prepared.guest_path, &error))?;
    process.set_program(
        loaded.auxv.clone(),
        &prepared.canonical_path,
        &prepared.argv,
        &env,
    );

    vcpu.set_pc(loaded.entry);
    vcpu.set_sp(loaded.sp);
    // SAFETY: gettid takes no arguments and cannot fail.
    let tid = unsafe { libc::gettid() };
    process.add_thread(tid);
    let mut thread = Thread::new(tid);
    tracing::info!(
        micros = spec.started.elapsed().as_micros() as u64,
        "entering the guest's first instruction"
    );
    let exit = process::run_thread(&process, &mut thread, &mut vcpu)?;
    Ok(exit_status(&prepared.guest_path, exit))
}

/// Converts the trap loop's exit request into how the process ended.
fn exit_status(path: &[u8], exit: ExitRequest) -> GuestExit {
    match exit {
        ExitRequest::Thread(status) | ExitRequest::Group(status) => {
            GuestExit::Status((status & 0xff) as u8)
        }
        ExitRequest::Signal(signal) => {
            tracing::info!(path = %lossy(path), signal = signal.name(), "guest killed by a signal");
            GuestExit::Signal(signal)
        }
    }
}

fn not_executable(path: &[u8], error: &LoadError) -> LaunchError {
    LaunchError::NotExecutable {
        path: lossy(path),
        reason: error.to_string(),
    }
}

/// The guest-visible status flags of host stdio fd `fd` (`O_RDWR` and friends), translated.
fn host_status(fd: i32) -> u32 {
    // SAFETY: F_GETFL on any fd number is harmless; a closed fd returns -1.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    if flags < 0 {
        return 0;
    }
    linux::OpenFlags::from_host(i64::from(flags)).bits()
}

fn redirect_stdin_to_null() -> io::Result<()> {
    let null = File::open("/dev/null")?;
    // SAFETY: dup2 onto fd 0 replaces carrick's own stdin, which nothing else uses.
    if unsafe { libc::dup2(std::os::fd::AsRawFd::as_raw_fd(&null), 0) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Changes to the working directory, creating it (and its parents) if missing, as
/// `docker run -w` does.
fn enter_workdir(vfs: &Vfs, cwd: &[u8]) -> Result<(), LaunchError> {
    let root = vfs.cwd();
    let fail =
        |error: io::Error| LaunchError::Setup(format!("working directory {}: {error}", lossy(cwd)));
    let resolved = match vfs.resolve(&root, cwd, true) {
        Ok(resolved) if resolved.exists() => resolved,
        Ok(_) | Err(_) => {
            let mut prefix = Vec::new();
            for component in cwd
                .split(|&byte| byte == b'/')
                .filter(|part| !part.is_empty())
            {
                prefix.push(b'/');
                prefix.extend_from_slice(component);
                match vfs.mkdir(&root, &prefix, 0o755) {
                    Ok(()) => {}
                    Err(error) if error.raw_os_error() == Some(libc::EEXIST) => {}
                    Err(error) => return Err(fail(error)),
                }
            }
            vfs.resolve(&root, cwd, true).map_err(fail)?
        }
    };
    if resolved.file_type() != Some(FileType::Directory) {
        return Err(fail(io::Error::from_raw_os_error(libc::ENOTDIR)));
    }
    let location = vfs.enter_resolved(&resolved).map_err(fail)?;
    vfs.set_cwd(location);
    Ok(())
}

/// Finds the program as `execvp` does: a name with a slash is a path, any other name is
/// searched in each directory of `PATH`.
pub fn find_program(
    vfs: &Vfs,
    name: &[u8],
    path_variable: Option<&[u8]>,
) -> Result<Vec<u8>, LaunchError> {
    if name.contains(&b'/') {
        return Ok(name.to_vec());
    }
    let search =
        path_variable.unwrap_or(b"/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin");
    let start = vfs.cwd();
    for dir in search.split(|&byte| byte == b':') {
        let dir: &[u8] = if dir.is_empty() { b"." } else { dir };
        let candidate = [dir, b"/", name].concat();
        if let Ok(stat) = vfs.stat(&start, &candidate, true) {
            if stat.file_type() == FileType::Regular {
                return Ok(candidate);
            }
        }
    }
    Err(LaunchError::NotFound { path: lossy(name) })
}

/// A program ready to load: the executable (after `#!` lines) and its interpreter.
pub struct Prepared {
    pub file: File,
    /// The path as the caller named it (AT_EXECFN).
    pub guest_path: Vec<u8>,
    /// The absolute path with symlinks resolved (/proc/self/exe).
    pub canonical_path: Vec<u8>,
    pub interpreter: Option<(File, Vec<u8>)>,
    pub argv: Vec<Vec<u8>>,
}

/// Opens the program at `path`, following `#!` lines (the interpreter becomes the program
/// and the script path joins its arguments, as the kernel does) and opening the ELF
/// interpreter named by PT_INTERP.
pub fn prepare(vfs: &Vfs, path: &[u8], mut argv: Vec<Vec<u8>>) -> Result<Prepared, LaunchError> {
    let mut path = path.to_vec();
    // The script whose `#!` line named `path`, for the error when that interpreter is missing.
    let mut script: Option<Vec<u8>> = None;
    for _ in 0..=loader::MAX_SHEBANG_DEPTH {
        let file = open_executable(vfs, &path).map_err(|error| match (error, &script) {
            (LaunchError::NotFound { path: interpreter }, Some(script)) => LaunchError::NotFound {
                path: format!("{}: bad interpreter {interpreter}", lossy(script)),
            },
            (error, _) => error,
        })?;
        match loader::classify(&file).map_err(|error| not_executable(&path, &error))? {
            FileKind::Elf => {
                let interpreter = match loader::interpreter_path(&file)
                    .map_err(|error| not_executable(&path, &error))?
                {
                    Some(interp_path) => {
                        let interp =
                            open_executable(vfs, &interp_path).map_err(|error| match error {
                                LaunchError::NotFound { .. } => LaunchError::NotExecutable {
                                    path: lossy(&path),
                                    reason: format!(
                                        "its ELF interpreter {} is missing",
                                        lossy(&interp_path)
                                    ),
                                },
                                other => other,
                            })?;
                        Some((interp, interp_path))
                    }
                    None => None,
                };
                let start = vfs.cwd();
                let canonical_path = vfs.resolve(&start, &path, true).map_or_else(
                    |_| path.clone(),
                    |resolved| resolved.path.as_bytes().to_vec(),
                );
                return Ok(Prepared {
                    file,
                    guest_path: path,
                    canonical_path,
                    interpreter,
                    argv,
                });
            }
            FileKind::Script {
                interpreter,
                argument,
            } => {
                let mut new_argv = vec![interpreter.clone()];
                new_argv.extend(argument);
                new_argv.push(path.clone());
                new_argv.extend(argv.into_iter().skip(1));
                argv = new_argv;
                script = Some(std::mem::replace(&mut path, interpreter));
            }
        }
    }
    Err(LaunchError::NotExecutable {
        path: lossy(&path),
        reason: "too many levels of #! interpreters".into(),
    })
}

/// Opens a guest file for execution: it must be a regular file with an execute bit.
fn open_executable(vfs: &Vfs, path: &[u8]) -> Result<File, LaunchError> {
    let start = vfs.cwd();
    let stat = vfs
        .stat(&start, path, true)
        .map_err(|error| match error.raw_os_error() {
            Some(libc::ENOENT) | Some(libc::ENOTDIR) => LaunchError::NotFound { path: lossy(path) },
            _ => LaunchError::NotExecutable {
                path: lossy(path),
                reason: error.to_string(),
            },
        })?;
    if stat.file_type() == FileType::Directory {
        return Err(LaunchError::NotExecutable {
            path: lossy(path),
            reason: "is a directory".into(),
        });
    }
    if stat.file_type() != FileType::Regular || stat.mode & 0o111 == 0 {
        return Err(LaunchError::NotExecutable {
            path: lossy(path),
            reason: "permission denied".into(),
        });
    }
    let options = OpenOptions {
        read: true,
        ..OpenOptions::default()
    };
    let open = vfs
        .open(&start, path, options, 0)
        .map_err(|error| LaunchError::NotExecutable {
            path: lossy(path),
            reason: error.to_string(),
        })?;
    let host = open
        .host_fd()
        .ok_or_else(|| LaunchError::NotExecutable {
            path: lossy(path),
            reason: "not a regular file".into(),
        })?
        .try_clone_to_owned()
        .map_err(|error| LaunchError::NotExecutable {
            path: lossy(path),
            reason: error.to_string(),
        })?;
    Ok(File::from(host))
}

/// Looks up `USER[:GROUP]` in the guest's /etc/passwd and /etc/group.
mod users {
    use crate::vfs::{OpenOptions, Vfs};

    /// Reads a file of the guest's tree; a missing or unreadable file reads as empty.
    fn read_guest_file(vfs: &Vfs, path: &[u8]) -> Vec<u8> {
        use std::io::Read as _;

        let start = vfs.cwd();
        let options = OpenOptions {
            read: true,
            ..OpenOptions::default()
        };
        let Ok(file) = vfs.open(&start, path, options, 0) else {
            return Vec::new();
        };
        let Some(fd) = file.host_fd() else {
            return Vec::new();
        };
        let Ok(owned) = fd.try_clone_to_owned() else {
            return Vec::new();
        };
        let mut contents = Vec::new();
        if std::fs::File::from(owned)
            .read_to_end(&mut contents)
            .is_err()
        {
            return Vec::new();
        }
        contents
    }

    /// Finds `name` (or a numeric id) in a colon-separated database; returns its fields.
    fn find<'a>(database: &'a [u8], name: &[u8]) -> Option<Vec<&'a [u8]>> {
        database
            .split(|&byte| byte == b'\n')
            .map(|line| line.split(|&byte| byte == b':').collect::<Vec<_>>())
            .find(|fields| fields.len() >= 4 && (fields[0] == name || fields[2] == name))
    }

    fn number(bytes: &[u8]) -> Option<u32> {
        std::str::from_utf8(bytes).ok()?.parse().ok()
    }

    /// Returns (uid, gid, home directory).
    pub fn lookup(vfs: &Vfs, spec: &[u8]) -> Result<(u32, u32, Vec<u8>), String> {
        let (user, group) = match spec.iter().position(|&byte| byte == b':') {
            Some(split) => (&spec[..split], Some(&spec[split + 1..])),
            None => (spec, None),
        };
        let passwd = read_guest_file(vfs, b"/etc/passwd");
        let entry = find(&passwd, user);
        let (uid, mut gid, home) = match (&entry, number(user)) {
            (Some(fields), _) => (
                number(fields[2]).ok_or_else(|| {
                    format!(
                        "user {}: bad uid in /etc/passwd",
                        String::from_utf8_lossy(user)
                    )
                })?,
                number(fields[3]).unwrap_or(0),
                fields.get(5).map_or(b"/".to_vec(), |home| home.to_vec()),
            ),
            (None, Some(uid)) => (uid, 0, b"/".to_vec()),
            (None, None) => {
                return Err(format!(
                    "unable to find user {}: no matching entries in the container's /etc/passwd",
                    String::from_utf8_lossy(user)
                ))
            }
        };
        if let Some(group) = group {
            let groups = read_guest_file(vfs, b"/etc/group");
            gid = match (find(&groups, group), number(group)) {
                (Some(fields), _) => number(fields[2]).unwrap_or(0),
                (None, Some(gid)) => gid,
                (None, None) => {
                    return Err(format!(
                    "unable to find group {}: no matching entries in the container's /etc/group",
                    String::from_utf8_lossy(group)
                ))
                }
            };
        }
        Ok((uid, gid, home))
    }
}

/// The working directory of the calling process as a guest path, for `run-elf`, whose root
/// is the host's `/`.
pub fn host_cwd() -> Vec<u8> {
    use std::os::unix::ffi::OsStrExt;
    std::env::current_dir().map_or(b"/".to_vec(), |dir| dir.as_os_str().as_bytes().to_vec())
}
