//! Signal bookkeeping: dispositions (`rt_sigaction`), the thread's blocked mask
//! (`rt_sigprocmask`), the alternate stack, and sending signals to the guest itself.
//! Delivering a signal to a guest handler (building the frame, `rt_sigreturn`) is not done
//! yet: a signal whose action is to run a handler is recorded, and one sent to the guest
//! with its default action terminates it as Linux would.

use carrick_macros::syscall;

use crate::linux::{self, Errno, Sigaction, SigactionFlags, SigprocmaskHow, Sigset, StackT};
use crate::sys::{SysResult, SyscallContext, UserPtr};

/// Signals whose disposition and mask cannot be changed.
fn is_unblockable(signal: linux::Signal) -> bool {
    signal == linux::Signal::SIGKILL || signal == linux::Signal::SIGSTOP
}

fn unblockable_mask() -> u64 {
    let bit = |signal: linux::Signal| 1u64 << (signal.number() - 1);
    bit(linux::Signal::SIGKILL) | bit(linux::Signal::SIGSTOP)
}

fn check_sigset_size(sigsetsize: u64) -> Result<(), Errno> {
    if sigsetsize != std::mem::size_of::<Sigset>() as u64 {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

#[syscall]
pub fn rt_sigaction(
    cx: &mut SyscallContext<'_>,
    sig: i32,
    act: UserPtr<Sigaction>,
    oact: UserPtr<Sigaction>,
    sigsetsize: u64,
) -> SysResult {
    check_sigset_size(sigsetsize)?;
    let signal = u32::try_from(sig)
        .ok()
        .and_then(linux::Signal::new)
        .ok_or(Errno::EINVAL)?;
    let new = act.read_optional(cx.mem())?;
    if new.is_some() && is_unblockable(signal) {
        return Err(Errno::EINVAL);
    }

    let mut actions = cx.process.signal_actions_mut();
    let old = actions.get(signal);
    if let Some(mut new) = new {
        new.sa_mask &= !unblockable_mask();
        // Linux keeps only the flags it supports and always drops SA_UNSUPPORTED, so a
        // program can read the action back to learn which flags this kernel supports.
        new.sa_flags &= SigactionFlags::KNOWN & !SigactionFlags::SA_UNSUPPORTED.bits();
        actions.set(signal, new);
    }
    drop(actions);
    oact.write_optional(cx.mem(), &old)?;
    Ok(0)
}

#[syscall]
pub fn rt_sigprocmask(
    cx: &mut SyscallContext<'_>,
    how: SigprocmaskHow,
    nset: UserPtr<Sigset>,
    oset: UserPtr<Sigset>,
    sigsetsize: u64,
) -> SysResult {
    check_sigset_size(sigsetsize)?;
    let old = cx.thread.sigmask;
    if let Some(set) = nset.read_optional(cx.mem())? {
        let mask = match how {
            SigprocmaskHow::SIG_BLOCK => old | set.sig,
            SigprocmaskHow::SIG_UNBLOCK => old & !set.sig,
            SigprocmaskHow::SIG_SETMASK => set.sig,
            _ => return Err(Errno::EINVAL),
        };
        cx.thread.sigmask = mask & !unblockable_mask();
    }
    oset.write_optional(cx.mem(), &Sigset { sig: old })?;
    Ok(0)
}

#[syscall]
pub fn rt_sigpending(
    cx: &mut SyscallContext<'_>,
    uset: UserPtr<Sigset>,
    sigsetsize: u64,
) -> SysResult {
    check_sigset_size(sigsetsize)?;
    uset.write(cx.mem(), &Sigset { sig: 0 })?;
    Ok(0)
}

#[syscall]
pub fn sigaltstack(
    cx: &mut SyscallContext<'_>,
    uss: UserPtr<StackT>,
    uoss: UserPtr<StackT>,
) -> SysResult {
    let old = cx.thread.altstack;
    if let Some(new) = uss.read_optional(cx.mem())? {
        let disable = new.ss_flags & linux::SS_DISABLE != 0;
        if new.ss_flags & !(linux::SS_DISABLE | linux::SS_AUTODISARM as i32) != 0 {
            return Err(Errno::EINVAL);
        }
        if !disable && new.ss_size < linux::MINSIGSTKSZ {
            return Err(Errno::ENOMEM);
        }
        cx.thread.altstack = if disable {
            StackT {
                ss_flags: linux::SS_DISABLE,
                ..StackT::ZERO
            }
        } else {
            new
        };
    }
    uoss.write_optional(cx.mem(), &old)?;
    Ok(0)
}

/// Sends `sig` to the calling guest process itself: signal 0 only checks, an ignored signal
/// is dropped, and anything else takes its default action (handlers are not run yet).
fn send_to_self(cx: &mut SyscallContext<'_>, sig: i32) -> SysResult {
    if sig == 0 {
        return Ok(0);
    }
    let signal = u32::try_from(sig)
        .ok()
        .and_then(linux::Signal::new)
        .ok_or(Errno::EINVAL)?;
    let action = cx.process.signal_actions().get(signal);
    let ignored = action.sa_handler == linux::SIG_IGN
        || (action.sa_handler == linux::SIG_DFL
            && signal.default_action() == linux::SignalAction::Ignore);
    if ignored {
        return Ok(0);
    }
    cx.thread.kill(signal);
    Ok(0)
}

/// Sends `sig` to a forked child of the guest (a host process), translating the number.
fn send_to_child(pid: i32, sig: i32) -> SysResult {
    let host_signal = match sig {
        0 => 0,
        _ => u32::try_from(sig)
            .ok()
            .and_then(linux::Signal::new)
            .and_then(linux::Signal::to_host)
            .ok_or(Errno::EINVAL)?,
    };
    // SAFETY: kill has no memory-safety preconditions; `pid` is a child this guest forked.
    if unsafe { libc::kill(pid, host_signal) } != 0 {
        return Err(Errno::from_io(&std::io::Error::last_os_error()));
    }
    Ok(0)
}

#[syscall]
pub fn kill(cx: &mut SyscallContext<'_>, pid: i32, sig: i32) -> SysResult {
    if sig < 0 || sig as u32 > crate::linux::NSIG {
        return Err(Errno::EINVAL);
    }
    // The guest may signal only itself and the children it forked: a host process outside
    // the guest must never receive a signal from it. 0, -1 and the guest's own process group
    // reach exactly those.
    let own_group = -cx.process.pid();
    if pid == 0 || pid == -1 || pid == own_group {
        for child in cx.process.children() {
            let _ = send_to_child(child, sig);
        }
        return send_to_self(cx, sig);
    }
    if pid == cx.process.pid() {
        return send_to_self(cx, sig);
    }
    if pid > 0 && cx.process.children().contains(&pid) {
        return send_to_child(pid, sig);
    }
    Err(Errno::ESRCH)
}

#[syscall]
pub fn tgkill(cx: &mut SyscallContext<'_>, tgid: i32, pid: i32, sig: i32) -> SysResult {
    if tgid != cx.process.pid() || pid != cx.thread.tid {
        return Err(Errno::ESRCH);
    }
    send_to_self(cx, sig)
}

#[syscall]
pub fn tkill(cx: &mut SyscallContext<'_>, pid: i32, sig: i32) -> SysResult {
    if pid != cx.thread.tid {
        return Err(Errno::ESRCH);
    }
    send_to_self(cx, sig)
}

/// Raises SIGPIPE in the guest after a write to a broken pipe when its action is the default
/// one, which ends the process. An ignored, blocked or handled SIGPIPE only leaves the
/// write's EPIPE.
// NOTE: a guest SIGPIPE handler is not run, because signal delivery is not implemented.
pub(crate) fn raise_sigpipe(cx: &mut SyscallContext<'_>) -> SysResult {
    let signal = linux::Signal::SIGPIPE;
    let blocked = cx.thread.sigmask & (1 << (signal.number() - 1)) != 0;
    let action = cx.process.signal_actions().get(signal);
    if blocked || action.sa_handler != linux::SIG_DFL {
        return Ok(0);
    }
    send_to_self(cx, signal.number() as i32)
}
