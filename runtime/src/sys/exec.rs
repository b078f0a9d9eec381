//! Process creation and replacement: `clone` for new processes (fork and vfork), `wait4`,
//! and `execve`. A guest process is a host process, so fork is a host `fork` of carrick (the
//! child gets a copy-on-write copy of guest memory and its own vCPU state) and `wait4` waits
//! on host children. Threads (`CLONE_VM` without `CLONE_VFORK`) are not supported yet.
// Host libc field types differ between Linux and macOS (suseconds_t), so conversions that
// are no-ops on one host are kept for the other.
#![allow(clippy::useless_conversion)]

use std::os::fd::OwnedFd;
use std::sync::{Mutex, MutexGuard};

use carrick_macros::syscall;

use crate::linux::{self, CloneFlags, Errno, Rusage, WaitOptions};
use crate::loader::{self, AuxInfo, Program};
use crate::sys::files::vfs;
use crate::sys::{CStrPtr, GuestAddr, StrArrayPtr, SysResult, SyscallContext, UserBuf, UserPtr};

/// Clone flags a new process may carry; the rest need threads or namespaces.
fn supported_process_flags() -> CloneFlags {
    CloneFlags::CSIGNAL
        | CloneFlags::CLONE_VFORK
        | CloneFlags::CLONE_SETTLS
        | CloneFlags::CLONE_PARENT_SETTID
        | CloneFlags::CLONE_CHILD_SETTID
        | CloneFlags::CLONE_CHILD_CLEARTID
}

#[syscall]
pub fn clone(
    cx: &mut SyscallContext<'_>,
    clone_flags: CloneFlags,
    newsp: GuestAddr,
    parent_tidptr: GuestAddr,
    tls: GuestAddr,
    child_tidptr: GuestAddr,
) -> SysResult {
    // vfork (CLONE_VM | CLONE_VFORK) runs as a fork: the child gets a copy of memory instead
    // of sharing it. The parent still waits until the child execs or exits, and a child that
    // exits first sends back the parent's stack, where glibc's posix_spawn child leaves the
    // exec error (see VforkLink).
    check_flag_combinations(clone_flags)?;
    let vfork = clone_flags.contains(CloneFlags::CLONE_VM | CloneFlags::CLONE_VFORK);
    let flags = if vfork {
        clone_flags & !CloneFlags::CLONE_VM
    } else {
        clone_flags
    };
    if flags.bits() & !supported_process_flags().bits() != 0 {
        tracing::debug!(flags = %clone_flags, "clone flags need threads or namespaces");
        return Err(Errno::ENOSYS);
    }

    let vfork_pipe = if vfork {
        Some(crate::vfs::host::pipe().map_err(|error| Errno::from_io(&error))?)
    } else {
        None
    };
    let parent_stack = parent_stack_range(cx);

    // SAFETY: fork has no memory-safety preconditions. The child continues in this handler
    // with a copy of the address space; only this thread exists in it.
    let pid = unsafe { libc::fork() };
    if pid < 0 {
        return Err(Errno::from_io(&std::io::Error::last_os_error()));
    }
    if pid > 0 {
        cx.process.add_child(pid);
        if flags.contains(CloneFlags::CLONE_PARENT_SETTID) {
            UserPtr::<i32>::new(parent_tidptr.0).write(cx.mem(), &pid)?;
        }
        if let Some((read_end, write_end)) = vfork_pipe {
            drop(write_end);
            wait_for_vfork_child(cx, read_end, parent_stack);
        }
        return Ok(pid as u64);
    }

    // The child: a link inherited from a vfork parent belongs to that parent's child only.
    drop(lock_vfork_link().take());
    if let Some((read_end, write_end)) = vfork_pipe {
        drop(read_end);
        *lock_vfork_link() = Some(VforkLink {
            pipe: write_end,
            stack: parent_stack,
        });
    }

    // The child: its tid is its pid.
    // SAFETY: getpid has no preconditions.
    let tid = unsafe { libc::getpid() };
    cx.thread.tid = tid;
    cx.process.reset_threads(tid);
    if flags.contains(CloneFlags::CLONE_CHILD_SETTID) {
        let _ = UserPtr::<i32>::new(child_tidptr.0).write(cx.mem(), &tid);
    }
    if flags.contains(CloneFlags::CLONE_CHILD_CLEARTID) {
        cx.thread.clear_child_tid = child_tidptr.0;
    }
    if !newsp.is_null() {
        cx.regs.set_sp(newsp.0);
    }
    if flags.contains(CloneFlags::CLONE_SETTLS) {
        cx.regs.set_tpidr_el0(tls.0);
    }
    Ok(0)
}

/// A vfork child's link to its parent, which waits in `clone` until the pipe closes. The pipe
/// closes when the child execs and drops the link, or when it exits. Before exiting, the
/// child writes its copy of the parent's stack range, which the parent copies into its own
/// memory. Only the stack comes back, because a vfork child should write nothing else that
/// its parent reads.
struct VforkLink {
    pipe: OwnedFd,
    /// The parent's stack from its stack pointer at the clone to the end of that mapping.
    stack: Option<(u64, u64)>,
}

/// Most bytes of the parent's stack a vfork child sends back.
const MAX_VFORK_STACK: u64 = 1 << 20;

static VFORK_LINK: Mutex<Option<VforkLink>> = Mutex::new(None);

fn lock_vfork_link() -> MutexGuard<'static, Option<VforkLink>> {
    VFORK_LINK
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Returns the calling thread's stack from its stack pointer to the end of its mapping, at
/// most [`MAX_VFORK_STACK`] bytes.
fn parent_stack_range(cx: &mut SyscallContext<'_>) -> Option<(u64, u64)> {
    let sp = cx.regs.sp();
    let region = cx
        .mem()
        .regions()
        .into_iter()
        .find(|region| region.start <= sp && sp < region.end)?;
    Some((sp, region.end.min(sp.saturating_add(MAX_VFORK_STACK))))
}

/// Blocks the vfork parent until its child execs or exits, then copies back the stack the
/// child sent, if any.
fn wait_for_vfork_child(cx: &mut SyscallContext<'_>, pipe: OwnedFd, stack: Option<(u64, u64)>) {
    let mut file = std::fs::File::from(pipe);
    let mut sent = Vec::new();
    let read = cx.blocking(|| std::io::Read::read_to_end(&mut file, &mut sent));
    let Some((start, end)) = stack else {
        return;
    };
    if read.is_ok() && sent.len() as u64 == end - start {
        if let Err(error) = cx.mem().write(start, &sent) {
            tracing::warn!(?error, "cannot copy back the vfork child's stack");
        }
    }
}

/// Releases a waiting vfork parent as the child exits: sends the parent's stack as the child
/// left it, then closes the pipe. Does nothing in a process that is not a vfork child.
pub fn release_vfork_parent(cx: &mut SyscallContext<'_>) {
    let Some(link) = lock_vfork_link().take() else {
        return;
    };
    let Some((start, end)) = link.stack else {
        return;
    };
    let mut stack = vec![0; (end - start) as usize];
    if cx.mem().read(start, &mut stack).is_err() {
        return;
    }
    let mut file = std::fs::File::from(link.pipe);
    if let Err(error) = std::io::Write::write_all(&mut file, &stack) {
        tracing::debug!(%error, "cannot send the stack back to the vfork parent");
    }
}

/// Rejects flag combinations Linux refuses for clone and clone3 alike (EINVAL), before any
/// flag carrick does not support gets ENOSYS.
fn check_flag_combinations(flags: CloneFlags) -> Result<(), Errno> {
    let both = |a: CloneFlags, b: CloneFlags| flags.contains(a | b);
    if both(CloneFlags::CLONE_NEWNS, CloneFlags::CLONE_FS)
        || both(CloneFlags::CLONE_NEWUSER, CloneFlags::CLONE_FS)
    {
        return Err(Errno::EINVAL);
    }
    if flags.contains(CloneFlags::CLONE_THREAD) && !flags.contains(CloneFlags::CLONE_SIGHAND) {
        return Err(Errno::EINVAL);
    }
    if flags.contains(CloneFlags::CLONE_SIGHAND) && !flags.contains(CloneFlags::CLONE_VM) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

/// Most entries clone3's set_tid may have: MAX_PID_NS_LEVEL, which is kernel-internal and
/// so not in the ABI table, whose values are checked against the uapi headers.
const MAX_SET_TID: u64 = 32;

#[syscall]
pub fn clone3(cx: &mut SyscallContext<'_>, uargs: UserBuf, size: u64) -> SysResult {
    let args = read_clone_args(cx, uargs, size)?;
    let flags = CloneFlags(args.flags);

    // The flags word of clone3 has no exit signal in its low byte, and CLONE_DETACHED is
    // unused, so both must be zero. Only CLONE_NEWTIME (0x80) may appear there.
    let clone3_known = CloneFlags(u64::from(u32::MAX))
        | CloneFlags::CLONE_CLEAR_SIGHAND
        | CloneFlags::CLONE_INTO_CGROUP;
    let reserved = CloneFlags::CLONE_DETACHED.bits()
        | (CloneFlags::CSIGNAL.bits() & !CloneFlags::CLONE_NEWTIME.bits());
    if args.flags & !clone3_known.bits() != 0 || args.flags & reserved != 0 {
        return Err(Errno::EINVAL);
    }
    if args.exit_signal & !CloneFlags::CSIGNAL.bits() != 0 || args.exit_signal > linux::_NSIG {
        return Err(Errno::EINVAL);
    }
    if args.set_tid_size > MAX_SET_TID || (args.set_tid == 0) != (args.set_tid_size == 0) {
        return Err(Errno::EINVAL);
    }
    let full_size = std::mem::size_of::<linux::CloneArgs>() as u64;
    if flags.contains(CloneFlags::CLONE_INTO_CGROUP)
        && (args.cgroup > i32::MAX as u64 || size < full_size)
    {
        return Err(Errno::EINVAL);
    }
    if flags.contains(CloneFlags::CLONE_SIGHAND | CloneFlags::CLONE_CLEAR_SIGHAND) {
        return Err(Errno::EINVAL);
    }
    if flags.intersects(CloneFlags::CLONE_THREAD | CloneFlags::CLONE_PARENT)
        && args.exit_signal != 0
    {
        return Err(Errno::EINVAL);
    }
    // The stack is its lowest address and a size; the child starts at its top.
    let newsp = match (args.stack, args.stack_size) {
        (0, 0) => 0,
        (0, _) | (_, 0) => return Err(Errno::EINVAL),
        (stack, stack_size) => stack.checked_add(stack_size).ok_or(Errno::EINVAL)?,
    };
    if args.set_tid != 0
        || flags.intersects(CloneFlags::CLONE_CLEAR_SIGHAND | CloneFlags::CLONE_INTO_CGROUP)
    {
        tracing::debug!(flags = %flags, "clone3 with set_tid, CLONE_CLEAR_SIGHAND or a cgroup");
        return Err(Errno::ENOSYS);
    }

    clone(
        cx,
        flags | CloneFlags(args.exit_signal),
        GuestAddr(newsp),
        GuestAddr(args.parent_tid),
        GuestAddr(args.tls),
        GuestAddr(args.child_tid),
    )
}

/// Copies clone3's argument the way the kernel does: at least the first version's fields,
/// at most a page, and any bytes past the fields of the newest version must be zero.
fn read_clone_args(
    cx: &mut SyscallContext<'_>,
    uargs: UserBuf,
    size: u64,
) -> Result<linux::CloneArgs, Errno> {
    if size > crate::mem::PAGE_SIZE {
        return Err(Errno::E2BIG);
    }
    if size < linux::CLONE_ARGS_SIZE_VER0 {
        return Err(Errno::EINVAL);
    }
    let bytes = uargs.read(cx.mem(), size as usize)?;
    let full_size = std::mem::size_of::<linux::CloneArgs>();
    if bytes.iter().skip(full_size).any(|&byte| byte != 0) {
        return Err(Errno::E2BIG);
    }
    let mut words = [0u64; 11];
    for (word, chunk) in words.iter_mut().zip(bytes.chunks_exact(8)) {
        let mut raw = [0u8; 8];
        raw.copy_from_slice(chunk);
        *word = u64::from_le_bytes(raw);
    }
    let [flags, pidfd, child_tid, parent_tid, exit_signal, stack, stack_size, tls, set_tid, set_tid_size, cgroup] =
        words;
    Ok(linux::CloneArgs {
        flags,
        pidfd,
        child_tid,
        parent_tid,
        exit_signal,
        stack,
        stack_size,
        tls,
        set_tid,
        set_tid_size,
        cgroup,
    })
}

/// Translates a host wait status into Linux's encoding: the layout is the same, but signal
/// numbers differ between hosts.
// NOTE: the core-dump bit (0x80) and the stopped marker (0x7f) are Linux's wait-status
// encoding written here by hand; they belong in syscalls.toml with the other ABI values.
fn linux_wait_status(status: libc::c_int) -> i32 {
    let to_linux = |host: libc::c_int| {
        linux::Signal::from_host(host).map_or(host as u32, linux::Signal::number) as i32
    };
    if libc::WIFSIGNALED(status) {
        let core = status & 0x80;
        return to_linux(libc::WTERMSIG(status)) | core;
    }
    if libc::WIFSTOPPED(status) {
        return (to_linux(libc::WSTOPSIG(status)) << 8) | 0x7f;
    }
    status
}

#[syscall]
pub fn wait4(
    cx: &mut SyscallContext<'_>,
    upid: i32,
    stat_addr: UserPtr<i32>,
    options: WaitOptions,
    ru: UserPtr<Rusage>,
) -> SysResult {
    let known = WaitOptions::WNOHANG
        | WaitOptions::WUNTRACED
        | WaitOptions::WCONTINUED
        | WaitOptions::__WALL
        | WaitOptions::__WNOTHREAD;
    if options.bits() & !known.bits() != 0 {
        return Err(Errno::EINVAL);
    }
    let host_options = (options
        & (WaitOptions::WNOHANG | WaitOptions::WUNTRACED | WaitOptions::WCONTINUED))
        .to_host() as libc::c_int;
    let mut status: libc::c_int = 0;
    // SAFETY: `usage` is a valid, writable rusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: `status` and `usage` are valid for writes for the duration of the call.
    let pid = cx.blocking(|| unsafe { libc::wait4(upid, &mut status, host_options, &mut usage) });
    if pid < 0 {
        return Err(Errno::from_io(&std::io::Error::last_os_error()));
    }
    if pid > 0 {
        if libc::WIFEXITED(status) || libc::WIFSIGNALED(status) {
            cx.process.remove_child(pid);
        }
        stat_addr.write_optional(cx.mem(), &linux_wait_status(status))?;
        ru.write_optional(cx.mem(), &crate::sys::process::linux_rusage(&usage))?;
    }
    Ok(pid as u64)
}

/// Maximum length of one argument or environment string, NUL included (MAX_ARG_STRLEN, 32
/// pages). It is not in the ABI table because the uapi headers define it with PAGE_SIZE,
/// which they lack.
const MAX_ARG_STRLEN: usize = 32 * crate::mem::PAGE_SIZE as usize;

/// Returns how many bytes the arguments and environment may take together, pointers
/// included, as Linux computes it for execve: a quarter of the stack limit, at most three
/// quarters of the default 8 MiB stack limit and at least ARG_MAX.
fn argument_space(cx: &SyscallContext<'_>) -> usize {
    let stack = cx
        .process
        .limits()
        .get(linux::RlimitResource::RLIMIT_STACK)
        .map_or(usize::MAX, |limit| {
            usize::try_from(limit.cur).unwrap_or(usize::MAX)
        });
    let default_stack = linux::_STK_LIM as usize;
    (stack / 4)
        .min(default_stack / 4 * 3)
        .max(linux::ARG_MAX as usize)
}

/// Checks execve's strings against Linux's limits (E2BIG): each string, and all of them with
/// one pointer each.
fn check_argument_space(argv: &[Vec<u8>], envp: &[Vec<u8>], space: usize) -> Result<(), Errno> {
    let mut total = 0usize;
    for string in argv.iter().chain(envp) {
        let size = string.len() + 1;
        if size > MAX_ARG_STRLEN {
            return Err(Errno::E2BIG);
        }
        total = total.saturating_add(size + std::mem::size_of::<u64>());
    }
    if total > space {
        return Err(Errno::E2BIG);
    }
    Ok(())
}

#[syscall]
pub fn execve(
    cx: &mut SyscallContext<'_>,
    filename: CStrPtr,
    argv: StrArrayPtr,
    envp: StrArrayPtr,
) -> SysResult {
    let path = filename.read_path(cx.mem())?;
    let space = argument_space(cx);
    let argv = argv.read_all(cx.mem(), space)?;
    let envp = envp.read_all(cx.mem(), space)?;
    check_argument_space(&argv, &envp, space)?;
    let vfs = vfs(cx)?;
    let prepared = crate::launch::prepare(vfs, &path, argv).map_err(|error| match error {
        crate::launch::LaunchError::NotFound { .. } => Errno::ENOENT,
        crate::launch::LaunchError::NotExecutable { reason, .. }
            if reason.contains("permission") || reason.contains("directory") =>
        {
            Errno::EACCES
        }
        _ => Errno::ENOEXEC,
    })?;

    // Point of no return: the old image is gone, so a failure from here on kills the
    // process, as Linux does. A vfork parent may run on.
    drop(lock_vfork_link().take());
    let creds = cx.process.creds().clone();
    let aux = AuxInfo::for_process(&creds, cx.process.hwcaps())?;
    let program = Program {
        file: &prepared.file,
        guest_path: &prepared.guest_path,
        interpreter: prepared
            .interpreter
            .as_ref()
            .map(|(file, path)| (file, path.as_slice())),
    };
    let loaded = cx
        .mem()
        .clear()
        .ok()
        .and_then(|()| loader::load(cx.mem(), &program, &prepared.argv, &envp, &aux).ok());
    let Some(loaded) = loaded else {
        cx.thread.kill(linux::Signal::SIGSEGV);
        return Ok(0);
    };

    vfs.fds().close_on_exec();
    cx.process.signal_actions_mut().reset_for_exec();
    cx.process.set_program(
        loaded.auxv.clone(),
        &prepared.canonical_path,
        &prepared.argv,
        &envp,
    );
    cx.thread.clear_child_tid = 0;
    cx.thread.robust_list = 0;
    cx.thread.altstack = linux::StackT {
        ss_flags: linux::SS_DISABLE,
        ..linux::StackT::ZERO
    };

    for register in 0..31 {
        cx.regs.set_x(register, 0);
    }
    for register in 0..32 {
        cx.regs.set_q(register, 0);
    }
    cx.regs.set_nzcv(0);
    cx.regs.set_fpsr(0);
    cx.regs.set_fpcr(0);
    cx.regs.set_tpidr_el0(0);
    cx.regs.set_sp(loaded.sp);
    cx.regs.set_pc(loaded.entry);
    Ok(0)
}

#[syscall]
pub fn waitid(
    cx: &mut SyscallContext<'_>,
    which: linux::Idtype,
    upid: i32,
    infop: UserPtr<linux::Siginfo>,
    options: WaitOptions,
    ru: UserPtr<Rusage>,
) -> SysResult {
    let _ = ru;
    let (host_which, id) = match which {
        linux::Idtype::P_ALL => (libc::P_ALL, 0),
        linux::Idtype::P_PID if upid > 0 => (libc::P_PID, upid as libc::id_t),
        linux::Idtype::P_PGID if upid >= 0 => (libc::P_PGID, upid as libc::id_t),
        _ => return Err(Errno::EINVAL),
    };
    let state_changes = WaitOptions::WEXITED | WaitOptions::WSTOPPED | WaitOptions::WCONTINUED;
    let known = state_changes
        | WaitOptions::WNOHANG
        | WaitOptions::WNOWAIT
        | WaitOptions::__WALL
        | WaitOptions::__WNOTHREAD;
    if options.bits() & !known.bits() != 0 || !options.intersects(state_changes) {
        return Err(Errno::EINVAL);
    }
    let host_options = (options & (state_changes | WaitOptions::WNOHANG | WaitOptions::WNOWAIT))
        .to_host() as libc::c_int;
    // SAFETY: an all-zero siginfo is a valid value to pass for the host to fill.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: `info` is valid for writes for the duration of the call.
    let result = cx.blocking(|| unsafe { libc::waitid(host_which, id, &mut info, host_options) });
    if result < 0 {
        return Err(Errno::from_io(&std::io::Error::last_os_error()));
    }
    let mut value = linux::Siginfo::ZERO;
    if info.si_signo != 0 {
        // SAFETY: waitid filled a SIGCHLD siginfo, whose pid, uid and status fields are set.
        let (pid, uid, status) = unsafe { (info.si_pid(), info.si_uid(), info.si_status()) };
        let exited = info.si_code == libc::CLD_EXITED;
        let status = if exited {
            status
        } else {
            linux::Signal::from_host(status).map_or(status as u32, linux::Signal::number) as i32
        };
        let ended = exited || info.si_code == libc::CLD_KILLED || info.si_code == libc::CLD_DUMPED;
        if ended && !options.contains(WaitOptions::WNOWAIT) {
            cx.process.remove_child(pid);
        }
        value.si_signo = linux::Signal::SIGCHLD.number() as i32;
        value.si_code = info.si_code;
        // The SIGCHLD union member: si_pid and si_uid in the first word, si_status next.
        value._sifields[0] = u64::from(pid as u32) | (u64::from(uid) << 32);
        value._sifields[1] = u64::from(status as u32);
    }
    infop.write_optional(cx.mem(), &value)?;
    Ok(0)
}
