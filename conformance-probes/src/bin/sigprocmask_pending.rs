//! Checks rt_sigprocmask and rt_sigpending.
//! - The old mask reads back; SIGKILL and SIGSTOP can never be blocked.
//! - A blocked signal stays pending (visible in rt_sigpending) and is delivered once on
//!   unblock.
//! - Standard signals do not queue; real-time signals do.
//! - An invalid `how` or a sigset size other than 8 is EINVAL.

use conformance_probes::{outcome, report, sys};
use std::sync::atomic::{AtomicU32, Ordering};

static USR1_COUNT: AtomicU32 = AtomicU32::new(0);
static RT_COUNT: AtomicU32 = AtomicU32::new(0);

extern "C" fn on_usr1(_signo: i32) {
    USR1_COUNT.fetch_add(1, Ordering::SeqCst);
}

extern "C" fn on_rt(_signo: i32) {
    RT_COUNT.fetch_add(1, Ordering::SeqCst);
}

fn sigprocmask(how: i32, set: Option<u64>, size: u64) -> Result<u64, conformance_probes::Errno> {
    let new = set.unwrap_or(0);
    let mut old = 0u64;
    let new_ptr = if set.is_some() {
        &new as *const u64 as u64
    } else {
        0
    };
    // SAFETY: both pointers refer to live u64 sigsets.
    unsafe {
        sys(
            libc::SYS_rt_sigprocmask,
            &[how as u64, new_ptr, &mut old as *mut u64 as u64, size],
        )
    }
    .map(|_| old)
}

fn pending() -> u64 {
    let mut set = 0u64;
    // SAFETY: set is a live u64 sigset.
    unsafe { sys(libc::SYS_rt_sigpending, &[&mut set as *mut u64 as u64, 8]) }.ok();
    set
}

fn bit(signo: i32) -> u64 {
    1 << (signo - 1)
}

fn install(signo: i32, handler: extern "C" fn(i32)) {
    // SAFETY: the handler only touches an atomic.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = handler as *const () as usize;
        libc::sigaction(signo, &action, std::ptr::null_mut());
    }
}

fn raise(signo: i32) {
    // SAFETY: sending a signal to this thread, whose handler is installed.
    unsafe {
        sys(
            libc::SYS_tgkill,
            &[libc::getpid() as u64, libc::gettid() as u64, signo as u64],
        )
    }
    .ok();
}

fn main() {
    install(libc::SIGUSR1, on_usr1);
    let rt_signal = libc::SIGRTMIN() + 2;
    install(rt_signal, on_rt);

    let initial = sigprocmask(libc::SIG_BLOCK, None, 8).unwrap_or(u64::MAX);
    report("initial_mask", format!("{initial:#x}"));
    sigprocmask(libc::SIG_SETMASK, Some(u64::MAX), 8).ok();
    let all = sigprocmask(libc::SIG_BLOCK, None, 8).unwrap_or(0);
    report("block_all_reads_back", format!("{all:#x}"));
    sigprocmask(libc::SIG_SETMASK, Some(0), 8).ok();

    sigprocmask(
        libc::SIG_BLOCK,
        Some(bit(libc::SIGUSR1) | bit(rt_signal)),
        8,
    )
    .ok();
    raise(libc::SIGUSR1);
    raise(libc::SIGUSR1);
    raise(rt_signal);
    raise(rt_signal);
    raise(rt_signal);
    report(
        "usr1_delivered_while_blocked",
        USR1_COUNT.load(Ordering::SeqCst),
    );
    report("pending_usr1", pending() & bit(libc::SIGUSR1) != 0);
    report("pending_rt", pending() & bit(rt_signal) != 0);
    sigprocmask(
        libc::SIG_UNBLOCK,
        Some(bit(libc::SIGUSR1) | bit(rt_signal)),
        8,
    )
    .ok();
    report(
        "usr1_delivered_after_unblock",
        USR1_COUNT.load(Ordering::SeqCst),
    );
    report(
        "rt_delivered_after_unblock",
        RT_COUNT.load(Ordering::SeqCst),
    );
    report("pending_after_unblock", format!("{:#x}", pending()));

    outcome("how_invalid", sigprocmask(7, Some(0), 8));
    outcome("size_4", sigprocmask(libc::SIG_BLOCK, Some(0), 4));
    outcome("size_16", sigprocmask(libc::SIG_BLOCK, Some(0), 16));
    outcome("query_invalid_how", sigprocmask(7, None, 8));
    // SAFETY: the kernel must reject the bad pointer.
    outcome("bad_set_pointer", unsafe {
        sys(libc::SYS_rt_sigprocmask, &[0, 0x10, 0, 8])
    });
    report(
        "final_mask",
        format!(
            "{:#x}",
            sigprocmask(libc::SIG_BLOCK, None, 8).unwrap_or(u64::MAX)
        ),
    );
}
