//! The process-wide emulation lock: at most one thread of a process runs Unicorn code at a
//! time, because Unicorn translates guest atomics (exclusive pairs, LSE) into plain host
//! code that is not atomic across instances. It is a FIFO ticket lock built on atomics and
//! futexes, so it needs no memory allocation and a fork child can repair it.
//!
//! A thread holds the lock while it emulates and while it handles non-blocking traps;
//! [`blocking`] releases it around work that may wait (a `read` on a pipe, `futex`, ...).

use std::cell::Cell;
use std::sync::atomic::{AtomicU32, Ordering};

static NEXT_TICKET: AtomicU32 = AtomicU32::new(0);
static NOW_SERVING: AtomicU32 = AtomicU32::new(0);
static WAITERS: AtomicU32 = AtomicU32::new(0);

thread_local! {
    static HELD: Cell<bool> = const { Cell::new(false) };
}

fn futex(op: libc::c_int, value: u32) {
    // SAFETY: NOW_SERVING is a static 32-bit atomic, valid for the life of the process; the
    // futex call only reads it (FUTEX_WAIT) or wakes threads waiting on it (FUTEX_WAKE).
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            NOW_SERVING.as_ptr(),
            op | libc::FUTEX_PRIVATE_FLAG,
            value,
            std::ptr::null::<libc::timespec>(),
        );
    }
}

/// Reports whether this thread holds the emulation lock.
pub fn held() -> bool {
    HELD.with(Cell::get)
}

/// Takes the emulation lock, waiting in FIFO order; does nothing if this thread holds it.
pub fn acquire() {
    if held() {
        return;
    }
    let ticket = NEXT_TICKET.fetch_add(1, Ordering::AcqRel);
    loop {
        let serving = NOW_SERVING.load(Ordering::Acquire);
        if serving == ticket {
            break;
        }
        WAITERS.fetch_add(1, Ordering::AcqRel);
        futex(libc::FUTEX_WAIT, serving);
        WAITERS.fetch_sub(1, Ordering::AcqRel);
    }
    HELD.with(|held| held.set(true));
}

/// Gives the emulation lock to the next waiting thread; does nothing if not held.
pub fn release() {
    if !held() {
        return;
    }
    HELD.with(|held| held.set(false));
    NOW_SERVING.fetch_add(1, Ordering::AcqRel);
    if WAITERS.load(Ordering::Acquire) != 0 {
        futex(libc::FUTEX_WAKE, i32::MAX as u32);
    }
}

/// Lets waiting threads run before this one continues (called at each tick).
pub fn yield_if_contended() {
    if held()
        && NEXT_TICKET
            .load(Ordering::Acquire)
            .wrapping_sub(NOW_SERVING.load(Ordering::Acquire))
            > 1
    {
        release();
        acquire();
    }
}

/// Runs `work` without the emulation lock, so other guest threads can emulate meanwhile.
pub fn blocking<R>(work: impl FnOnce() -> R) -> R {
    if !held() {
        return work();
    }
    release();
    let result = work();
    acquire();
    result
}

/// Repairs the lock in a fork child, where only the forking thread exists: tickets taken
/// by the parent's other threads will never be served.
pub fn reset_in_child() {
    let serving = NOW_SERVING.load(Ordering::Acquire);
    let next = if held() {
        serving.wrapping_add(1)
    } else {
        serving
    };
    NEXT_TICKET.store(next, Ordering::Release);
    WAITERS.store(0, Ordering::Release);
}
