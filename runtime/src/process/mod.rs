//! Guest processes and threads, and the trap loop that connects a vCPU to the syscall
//! handlers.
//!
//! A [`Process`] is the state every thread of one guest process shares: its address space,
//! credentials, limits, signal dispositions and compat log. A [`Thread`] is what belongs to
//! one guest thread (its id, signal mask, exit request). [`run_thread`] runs a thread's vCPU
//! until the thread exits, dispatching each `svc #0` through [`crate::sys::dispatch`] and
//! turning faults into the signal Linux would deliver.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Once, OnceLock};

use crate::backend::{Registers, Trap, TrapAction, TrapHandler, Vcpu};
use crate::compat::CompatLog;
use crate::linux::{self, Signal, StackT};
use crate::mem::GuestMemory;
use crate::sys::state::{Credentials, Limits, SignalActions};
use crate::sys::{self, SyscallContext};
use crate::vfs::ProcessView;

/// State shared by all threads of one guest process.
#[derive(Debug)]
pub struct Process {
    pub mem: GuestMemory,
    pub compat: Arc<CompatLog>,
    /// The process's files: mounts, fd table, working directory. Set once the root file
    /// system is known; file syscalls fail with `ENOSYS` before that.
    pub vfs: OnceLock<crate::vfs::Vfs>,
    shared: Arc<ProcessInfo>,
}

/// The part of a process that its synthetic files (/proc/self/...) read: ids, credentials,
/// command line, auxiliary vector. The VFS keeps it as its [`ProcessView`].
#[derive(Debug)]
pub struct ProcessInfo {
    mem: GuestMemory,
    hostname: String,
    creds: Mutex<Credentials>,
    limits: Mutex<Limits>,
    signal_actions: Mutex<SignalActions>,
    /// The auxiliary vector the loader wrote, for /proc/self/auxv.
    auxv: Mutex<Vec<(u64, u64)>>,
    exe: Mutex<Vec<u8>>,
    argv: Mutex<Vec<Vec<u8>>>,
    envp: Mutex<Vec<Vec<u8>>>,
    comm: Mutex<Vec<u8>>,
    threads: Mutex<Vec<i32>>,
    /// AT_HWCAP and AT_HWCAP2 of the CPU, for `execve`.
    hwcaps: Mutex<(u64, u64)>,
    /// Host pids of the children this process forked and has not reaped.
    children: Mutex<Vec<i32>>,
}

/// Locks a mutex, recovering the data if a panicking handler poisoned it: every value kept
/// here is valid after any partial update.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Process {
    /// A process with an empty address space, running as `uid`/`gid` in the guest's view.
    pub fn new(mem: GuestMemory, uid: u32, gid: u32, hostname: &str) -> Process {
        let shared = Arc::new(ProcessInfo {
            mem: mem.clone(),
            hostname: hostname.to_string(),
            creds: Mutex::new(Credentials::new(uid, gid)),
            limits: Mutex::new(Limits::initial()),
            signal_actions: Mutex::new(SignalActions::default()),
            auxv: Mutex::new(Vec::new()),
            exe: Mutex::new(Vec::new()),
            argv: Mutex::new(Vec::new()),
            envp: Mutex::new(Vec::new()),
            comm: Mutex::new(Vec::new()),
            threads: Mutex::new(Vec::new()),
            hwcaps: Mutex::new((0, 0)),
            children: Mutex::new(Vec::new()),
        });
        Process {
            mem,
            compat: Arc::new(CompatLog::default()),
            vfs: OnceLock::new(),
            shared,
        }
    }

    /// The process facts the VFS's synthetic files show.
    pub fn info(&self) -> Arc<ProcessInfo> {
        Arc::clone(&self.shared)
    }

    /// The guest's process id: the host pid, because each guest process is a host process
    /// (read each time, so a forked child sees its own).
    pub fn pid(&self) -> i32 {
        host_pid()
    }

    pub fn hwcaps(&self) -> (u64, u64) {
        *lock(&self.shared.hwcaps)
    }

    pub fn set_hwcaps(&self, hwcaps: (u64, u64)) {
        *lock(&self.shared.hwcaps) = hwcaps;
    }

    /// Leaves `tid` as the only thread and forgets the parent's children, as in a forked
    /// child.
    pub fn reset_threads(&self, tid: i32) {
        *lock(&self.shared.threads) = vec![tid];
        lock(&self.shared.children).clear();
    }

    /// Records a forked child.
    pub fn add_child(&self, pid: i32) {
        lock(&self.shared.children).push(pid);
    }

    /// Forgets a reaped child.
    pub fn remove_child(&self, pid: i32) {
        lock(&self.shared.children).retain(|&child| child != pid);
    }

    /// The children forked and not yet reaped: the only host processes a guest may signal.
    pub fn children(&self) -> Vec<i32> {
        lock(&self.shared.children).clone()
    }

    pub fn hostname(&self) -> &str {
        &self.shared.hostname
    }

    pub fn creds(&self) -> MutexGuard<'_, Credentials> {
        lock(&self.shared.creds)
    }

    pub fn creds_mut(&self) -> MutexGuard<'_, Credentials> {
        lock(&self.shared.creds)
    }

    pub fn limits(&self) -> MutexGuard<'_, Limits> {
        lock(&self.shared.limits)
    }

    pub fn limits_mut(&self) -> MutexGuard<'_, Limits> {
        lock(&self.shared.limits)
    }

    pub fn signal_actions(&self) -> MutexGuard<'_, SignalActions> {
        lock(&self.shared.signal_actions)
    }

    pub fn signal_actions_mut(&self) -> MutexGuard<'_, SignalActions> {
        lock(&self.shared.signal_actions)
    }

    /// Records what the loader set up: the auxiliary vector, the executable's guest path and
    /// the arguments and environment, for /proc/self and `PR_GET_NAME`.
    pub fn set_program(
        &self,
        auxv: Vec<(u64, u64)>,
        exe: &[u8],
        argv: &[Vec<u8>],
        envp: &[Vec<u8>],
    ) {
        *lock(&self.shared.auxv) = auxv;
        *lock(&self.shared.exe) = exe.to_vec();
        *lock(&self.shared.argv) = argv.to_vec();
        *lock(&self.shared.envp) = envp.to_vec();
        let name = exe.rsplit(|&byte| byte == b'/').next().unwrap_or(exe);
        *lock(&self.shared.comm) = name[..name.len().min(15)].to_vec();
    }

    /// Records a running thread (for /proc/self/task and /proc/self/status).
    pub fn add_thread(&self, tid: i32) {
        lock(&self.shared.threads).push(tid);
    }

    /// The auxiliary vector as the bytes /proc/self/auxv returns.
    pub fn auxv_bytes(&self) -> Vec<u8> {
        self.shared.auxv_bytes()
    }
}

impl ProcessInfo {
    fn auxv_bytes(&self) -> Vec<u8> {
        lock(&self.auxv)
            .iter()
            .flat_map(|(key, value)| key.to_le_bytes().into_iter().chain(value.to_le_bytes()))
            .collect()
    }
}

/// Formats regions as Linux prints /proc/self/maps: address range, permissions with the
/// sharing letter, offset, device, inode, then the name padded to column 73.
pub fn format_maps(regions: &[crate::mem::RegionInfo]) -> String {
    use std::fmt::Write as _;

    let mut out = String::new();
    for region in regions {
        let [read, write, exec] = region.prot.letters();
        let share = if region.shared { 's' } else { 'p' };
        let (major, minor) = (
            libc::major(region.dev as libc::dev_t),
            libc::minor(region.dev as libc::dev_t),
        );
        let mut line = format!(
            "{:08x}-{:08x} {}{}{}{share} {:08x} {major:02x}:{minor:02x} {}",
            region.start,
            region.end,
            read as char,
            write as char,
            exec as char,
            region.offset,
            region.inode
        );
        let name: std::borrow::Cow<'_, str> = match &region.name {
            crate::mem::RegionName::None => "".into(),
            crate::mem::RegionName::Heap => "[heap]".into(),
            crate::mem::RegionName::Stack => "[stack]".into(),
            crate::mem::RegionName::Vvar => "[vvar]".into(),
            crate::mem::RegionName::Vdso => "[vdso]".into(),
            crate::mem::RegionName::Path(path) => String::from_utf8_lossy(path),
        };
        if !name.is_empty() {
            while line.len() < 73 {
                line.push(' ');
            }
            line.push_str(&name);
        }
        let _ = writeln!(out, "{line}");
    }
    out
}

/// NUL-terminates and concatenates strings, as /proc/self/cmdline and environ show them.
fn nul_joined(strings: &[Vec<u8>]) -> Vec<u8> {
    strings
        .iter()
        .flat_map(|string| string.iter().copied().chain([0]))
        .collect()
}

/// The host process's id, once asked for; 0 before that and in a fresh fork child.
static HOST_PID: AtomicI32 = AtomicI32::new(0);
static HOST_PID_ATFORK: Once = Once::new();

/// The calling host process's id. Guests ask for it often (`getpid`, `/proc/self`), and it
/// changes only in a fork child, so it is cached and the cache is dropped in every child.
fn host_pid() -> i32 {
    let pid = HOST_PID.load(Ordering::Relaxed);
    if pid != 0 {
        return pid;
    }
    HOST_PID_ATFORK.call_once(|| {
        // SAFETY: registers a plain function that only stores to an atomic in the child.
        unsafe {
            libc::pthread_atfork(None, None, Some(forget_host_pid));
        }
    });
    // SAFETY: getpid has no preconditions and cannot fail.
    let pid = unsafe { libc::getpid() };
    HOST_PID.store(pid, Ordering::Relaxed);
    pid
}

extern "C" fn forget_host_pid() {
    HOST_PID.store(0, Ordering::Relaxed);
}

impl ProcessView for ProcessInfo {
    fn pid(&self) -> i32 {
        host_pid()
    }

    fn ppid(&self) -> i32 {
        // SAFETY: getppid has no preconditions and cannot fail.
        unsafe { libc::getppid() }
    }

    fn threads(&self) -> Vec<i32> {
        lock(&self.threads).clone()
    }

    fn comm(&self) -> Vec<u8> {
        lock(&self.comm).clone()
    }

    fn exe_guest_path(&self) -> Vec<u8> {
        lock(&self.exe).clone()
    }

    fn cmdline(&self) -> Vec<u8> {
        nul_joined(&lock(&self.argv))
    }

    fn environ(&self) -> Vec<u8> {
        nul_joined(&lock(&self.envp))
    }

    fn auxv(&self) -> Vec<u8> {
        self.auxv_bytes()
    }

    fn maps(&self) -> String {
        format_maps(&self.mem.regions())
    }

    fn ids(&self) -> ([u32; 4], [u32; 4]) {
        let creds = lock(&self.creds);
        (
            [creds.ruid, creds.euid, creds.suid, creds.fsuid],
            [creds.rgid, creds.egid, creds.sgid, creds.fsgid],
        )
    }

    fn kernel_release(&self) -> Vec<u8> {
        crate::sys::info::KERNEL_RELEASE.as_bytes().to_vec()
    }

    fn hostname(&self) -> Vec<u8> {
        self.hostname.as_bytes().to_vec()
    }

    fn hwcaps(&self) -> (u64, u64) {
        *lock(&self.hwcaps)
    }
}

/// The reason a thread stops: its own request, or a fatal signal.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitRequest {
    /// `exit`: this thread only.
    Thread(i32),
    /// `exit_group`: the whole process, with this status.
    Group(i32),
    /// Killed by a signal (default action terminate or core).
    Signal(Signal),
}

/// State of one guest thread.
#[derive(Debug)]
pub struct Thread {
    pub tid: i32,
    /// `set_tid_address`: cleared and futex-woken when the thread exits.
    pub clear_child_tid: u64,
    /// `set_robust_list` head.
    pub robust_list: u64,
    /// Blocked signals, bit N-1 for signal N.
    pub sigmask: u64,
    pub altstack: StackT,
    /// `PR_SET_NAME`.
    pub comm: [u8; 16],
    /// `PR_SET_PDEATHSIG`.
    pub pdeath_signal: u32,
    exit: Option<ExitRequest>,
}

impl Thread {
    pub fn new(tid: i32) -> Thread {
        Thread {
            tid,
            clear_child_tid: 0,
            robust_list: 0,
            sigmask: 0,
            altstack: StackT {
                ss_flags: linux::SS_DISABLE,
                ..StackT::ZERO
            },
            comm: [0; 16],
            pdeath_signal: 0,
            exit: None,
        }
    }

    /// Asks the trap loop to stop this thread after the current syscall.
    pub fn request_exit(&mut self, request: ExitRequest) {
        self.exit.get_or_insert(request);
    }

    /// Terminates the thread's process with `signal`, as a signal with a fatal default
    /// action does.
    pub fn kill(&mut self, signal: Signal) {
        self.request_exit(ExitRequest::Signal(signal));
    }

    pub fn exit_request(&self) -> Option<ExitRequest> {
        self.exit
    }
}

/// Receives the traps of one thread's vCPU.
struct TrapLoop<'a> {
    process: &'a Process,
    thread: &'a mut Thread,
}

impl TrapHandler for TrapLoop<'_> {
    fn on_trap(&mut self, regs: &mut dyn Registers, trap: Trap) -> TrapAction {
        match trap {
            Trap::Syscall => {
                let (nr, args) = regs.syscall_args();
                // The kernel reads the syscall number from w8: the upper 32 bits are ignored.
                let nr = u64::from(nr as u32);
                let mut cx = SyscallContext {
                    process: self.process,
                    thread: self.thread,
                    regs,
                };
                let result = sys::dispatch(&mut cx, nr, args);
                regs_after_syscall(cx, result)
            }
            Trap::Fault { addr, access } => {
                tracing::debug!(
                    tid = self.thread.tid,
                    pc = regs.pc(),
                    addr,
                    ?access,
                    "guest memory fault"
                );
                self.thread.kill(Signal::SIGSEGV);
                TrapAction::Stop
            }
            Trap::Undefined => {
                tracing::debug!(
                    tid = self.thread.tid,
                    pc = regs.pc(),
                    "undefined instruction"
                );
                self.thread.kill(Signal::SIGILL);
                TrapAction::Stop
            }
            Trap::Breakpoint => {
                self.thread.kill(Signal::SIGTRAP);
                TrapAction::Stop
            }
            Trap::Interrupted => TrapAction::Resume,
        }
    }
}

/// Writes a syscall's result to x0 and decides whether the thread keeps running.
fn regs_after_syscall(cx: SyscallContext<'_>, result: u64) -> TrapAction {
    if cx.thread.exit_request().is_some() {
        return TrapAction::Stop;
    }
    cx.regs.set_x(0, result);
    TrapAction::Resume
}

/// Runs `thread` on `vcpu` until it exits; returns how it exited.
pub fn run_thread(
    process: &Process,
    thread: &mut Thread,
    vcpu: &mut dyn Vcpu,
) -> Result<ExitRequest, crate::backend::BackendError> {
    let mut handler = TrapLoop { process, thread };
    vcpu.run(&mut handler)?;
    Ok(handler
        .thread
        .exit_request()
        .unwrap_or(ExitRequest::Signal(Signal::SIGKILL)))
}
