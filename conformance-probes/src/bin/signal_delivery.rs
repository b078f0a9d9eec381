//! Checks signal delivery and return from the handler.
//! - siginfo for kill (SI_USER) and tgkill (SI_TKILL) names the sender's pid and uid.
//! - The signal and sa_mask are blocked inside the handler; the mask is restored after it.
//! - SA_NODEFER leaves the signal unblocked; SA_RESETHAND resets the handler to SIG_DFL.
//! - SA_ONSTACK runs the handler on the sigaltstack, which reports SS_ONSTACK inside.
//! - Two pending standard signals are delivered lower number first.
//! - Floating point state survives the handler.

use conformance_probes::{check, report, sys};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

static SIGNO: AtomicI32 = AtomicI32::new(0);
static CODE: AtomicI32 = AtomicI32::new(0);
static PID: AtomicI32 = AtomicI32::new(0);
static UID: AtomicU64 = AtomicU64::new(0);
static MASK_IN_HANDLER: AtomicU64 = AtomicU64::new(0);
static ON_ALTSTACK: AtomicI32 = AtomicI32::new(-1);
static LOCAL_ADDR: AtomicU64 = AtomicU64::new(0);
static ORDER: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_signal(signo: i32, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    SIGNO.store(signo, Ordering::SeqCst);
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    unsafe {
        CODE.store((*info).si_code, Ordering::SeqCst);
        PID.store((*info).si_pid(), Ordering::SeqCst);
        UID.store(u64::from((*info).si_uid()), Ordering::SeqCst);
    }
    let mut mask = 0u64;
    // SAFETY: mask is a live sigset.
    unsafe {
        sys(
            libc::SYS_rt_sigprocmask,
            &[0, 0, &mut mask as *mut u64 as u64, 8],
        )
    }
    .ok();
    MASK_IN_HANDLER.store(mask, Ordering::SeqCst);
    // SAFETY: a zeroed stack_t is valid for the kernel to fill.
    let mut stack: libc::stack_t = unsafe { std::mem::zeroed() };
    // SAFETY: querying the alternate stack into a live stack_t.
    unsafe { libc::sigaltstack(std::ptr::null(), &mut stack) };
    ON_ALTSTACK.store(stack.ss_flags & libc::SS_ONSTACK, Ordering::SeqCst);
    let local = 0u8;
    LOCAL_ADDR.store(&local as *const u8 as u64, Ordering::SeqCst);
    ORDER.store(
        ORDER.load(Ordering::SeqCst) * 100 + signo as u64,
        Ordering::SeqCst,
    );
}

fn install(signo: i32, flags: i32, mask_signo: Option<i32>) {
    // SAFETY: the handler only touches atomics and makes async-signal-safe calls.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_signal as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO | flags;
        libc::sigemptyset(&mut action.sa_mask);
        if let Some(extra) = mask_signo {
            libc::sigaddset(&mut action.sa_mask, extra);
        }
        libc::sigaction(signo, &action, std::ptr::null_mut());
    }
}

fn current_mask() -> u64 {
    let mut mask = 0u64;
    // SAFETY: mask is a live sigset.
    unsafe {
        sys(
            libc::SYS_rt_sigprocmask,
            &[0, 0, &mut mask as *mut u64 as u64, 8],
        )
    }
    .ok();
    mask
}

fn bit(signo: i32) -> u64 {
    1 << (signo - 1)
}

fn code_name(code: i32) -> String {
    match code {
        libc::SI_USER => "SI_USER".into(),
        libc::SI_TKILL => "SI_TKILL".into(),
        libc::SI_QUEUE => "SI_QUEUE".into(),
        other => other.to_string(),
    }
}

fn main() {
    // SAFETY: the id getters have no memory effects.
    let (pid, tid, uid) = unsafe { (libc::getpid(), libc::gettid(), libc::getuid()) };

    install(libc::SIGUSR1, 0, Some(libc::SIGUSR2));
    let before = 1.25f64 * std::hint::black_box(3.0);
    // SAFETY: signalling this process, whose handler is installed.
    unsafe { sys(libc::SYS_kill, &[pid as u64, libc::SIGUSR1 as u64]) }.ok();
    report("kill_signo", SIGNO.load(Ordering::SeqCst));
    report("kill_si_code", code_name(CODE.load(Ordering::SeqCst)));
    check("kill_si_pid_is_sender", PID.load(Ordering::SeqCst) == pid);
    check(
        "kill_si_uid_is_sender",
        UID.load(Ordering::SeqCst) == u64::from(uid),
    );
    let inside = MASK_IN_HANDLER.load(Ordering::SeqCst);
    check(
        "signal_blocked_in_handler",
        inside & bit(libc::SIGUSR1) != 0,
    );
    check(
        "sa_mask_blocked_in_handler",
        inside & bit(libc::SIGUSR2) != 0,
    );
    report("mask_after_return", format!("{:#x}", current_mask()));
    check("float_kept", before == 3.75);

    // SAFETY: as above, with tgkill.
    unsafe {
        sys(
            libc::SYS_tgkill,
            &[pid as u64, tid as u64, libc::SIGUSR1 as u64],
        )
    }
    .ok();
    report("tgkill_si_code", code_name(CODE.load(Ordering::SeqCst)));

    install(libc::SIGUSR2, libc::SA_NODEFER, None);
    // SAFETY: as above.
    unsafe {
        sys(
            libc::SYS_tgkill,
            &[pid as u64, tid as u64, libc::SIGUSR2 as u64],
        )
    }
    .ok();
    check(
        "nodefer_not_blocked_in_handler",
        MASK_IN_HANDLER.load(Ordering::SeqCst) & bit(libc::SIGUSR2) == 0,
    );

    install(libc::SIGUSR2, libc::SA_RESETHAND, None);
    // SAFETY: as above.
    unsafe {
        sys(
            libc::SYS_tgkill,
            &[pid as u64, tid as u64, libc::SIGUSR2 as u64],
        )
    }
    .ok();
    // SAFETY: a zeroed sigaction is valid for the kernel to fill.
    let mut after: libc::sigaction = unsafe { std::mem::zeroed() };
    // SAFETY: querying into a live sigaction.
    unsafe { libc::sigaction(libc::SIGUSR2, std::ptr::null(), &mut after) };
    report("resethand_handler_after", after.sa_sigaction);

    let mut stack_memory = vec![0u8; 64 * 1024];
    let stack = libc::stack_t {
        ss_sp: stack_memory.as_mut_ptr().cast(),
        ss_flags: 0,
        ss_size: stack_memory.len(),
    };
    // SAFETY: the alternate stack lives until the end of main.
    unsafe { libc::sigaltstack(&stack, std::ptr::null_mut()) };
    install(libc::SIGUSR1, libc::SA_ONSTACK, None);
    // SAFETY: as above.
    unsafe {
        sys(
            libc::SYS_tgkill,
            &[pid as u64, tid as u64, libc::SIGUSR1 as u64],
        )
    }
    .ok();
    report(
        "altstack_ss_flags_in_handler",
        ON_ALTSTACK.load(Ordering::SeqCst),
    );
    let local = LOCAL_ADDR.load(Ordering::SeqCst);
    let base = stack_memory.as_ptr() as u64;
    check(
        "handler_ran_on_altstack",
        (base..base + stack_memory.len() as u64).contains(&local),
    );
    install(libc::SIGUSR1, 0, None);
    // SAFETY: as above.
    unsafe {
        sys(
            libc::SYS_tgkill,
            &[pid as u64, tid as u64, libc::SIGUSR1 as u64],
        )
    }
    .ok();
    report(
        "no_onstack_ss_flags_in_handler",
        ON_ALTSTACK.load(Ordering::SeqCst),
    );

    install(libc::SIGUSR2, 0, None);
    let both = bit(libc::SIGUSR1) | bit(libc::SIGUSR2);
    // SAFETY: blocking and signalling this thread with handlers installed.
    unsafe {
        sys(
            libc::SYS_rt_sigprocmask,
            &[libc::SIG_BLOCK as u64, &both as *const u64 as u64, 0, 8],
        )
        .ok();
        sys(
            libc::SYS_tgkill,
            &[pid as u64, tid as u64, libc::SIGUSR2 as u64],
        )
        .ok();
        sys(
            libc::SYS_tgkill,
            &[pid as u64, tid as u64, libc::SIGUSR1 as u64],
        )
        .ok();
        ORDER.store(0, Ordering::SeqCst);
        sys(
            libc::SYS_rt_sigprocmask,
            &[libc::SIG_UNBLOCK as u64, &both as *const u64 as u64, 0, 8],
        )
        .ok();
    }
    report("delivery_order", ORDER.load(Ordering::SeqCst));
    drop(stack_memory);
}
