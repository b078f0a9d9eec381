//! `futex`: wait and wake on guest memory words. Waiters sleep on a process-wide table keyed
//! by guest address; a wake wakes up to `val` waiters whose bitset matches. Shared (not
//! private) futexes are treated as private: guest processes do not share memory yet.

use std::collections::HashMap;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use carrick_macros::syscall;

use crate::linux::{self, Errno, FutexOp, FutexOpFlags, Timespec};
use crate::sys::{GuestAddr, SysResult, SyscallContext, UserPtr};

/// One sleeping thread.
struct Waiter {
    bitset: u32,
    woken: Mutex<bool>,
    condvar: Condvar,
}

/// Sleeping threads per guest address, oldest first.
fn waiters() -> &'static Mutex<HashMap<u64, Vec<Arc<Waiter>>>> {
    static WAITERS: OnceLock<Mutex<HashMap<u64, Vec<Arc<Waiter>>>>> = OnceLock::new();
    WAITERS.get_or_init(|| Mutex::new(HashMap::new()))
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Computes the deadline of a wait: `utime` is relative for FUTEX_WAIT and absolute (on the monotonic
/// or, with FUTEX_CLOCK_REALTIME, the real-time clock) for FUTEX_WAIT_BITSET.
fn deadline(
    cx: &SyscallContext<'_>,
    utime: GuestAddr,
    absolute: bool,
    realtime: bool,
) -> Result<Option<Instant>, Errno> {
    let Some(timeout) = UserPtr::<Timespec>::new(utime.0).read_optional(cx.mem())? else {
        return Ok(None);
    };
    if timeout.tv_sec < 0 || !(0..1_000_000_000).contains(&timeout.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    let requested = Duration::new(timeout.tv_sec as u64, timeout.tv_nsec as u32);
    if !absolute {
        return Ok(Some(Instant::now() + requested));
    }
    let clock = if realtime {
        libc::CLOCK_REALTIME
    } else {
        libc::CLOCK_MONOTONIC
    };
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `now` is a valid, writable timespec.
    unsafe { libc::clock_gettime(clock, &mut now) };
    let now = Duration::new(
        now.tv_sec.max(0) as u64,
        now.tv_nsec.clamp(0, 999_999_999) as u32,
    );
    Ok(Some(Instant::now() + requested.saturating_sub(now)))
}

fn wait(
    cx: &mut SyscallContext<'_>,
    uaddr: GuestAddr,
    val: u32,
    bitset: u32,
    deadline: Option<Instant>,
) -> SysResult {
    if uaddr.0 % 4 != 0 {
        return Err(Errno::EINVAL);
    }
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    let waiter = Arc::new(Waiter {
        bitset,
        woken: Mutex::new(false),
        condvar: Condvar::new(),
    });
    {
        // The value check and the enqueue happen under the table lock, so a wake that follows
        // a change of the value cannot be missed.
        let mut table = lock(waiters());
        let current: u32 = cx.mem().read_obj(uaddr.0)?;
        if current != val {
            return Err(Errno::EAGAIN);
        }
        table.entry(uaddr.0).or_default().push(Arc::clone(&waiter));
    }

    let woken = cx.blocking(|| {
        let mut woken = lock(&waiter.woken);
        while !*woken {
            match deadline {
                None => {
                    woken = waiter
                        .condvar
                        .wait(woken)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                }
                Some(deadline) => {
                    let Some(left) = deadline.checked_duration_since(Instant::now()) else {
                        break;
                    };
                    woken = waiter
                        .condvar
                        .wait_timeout(woken, left)
                        .unwrap_or_else(|poisoned| poisoned.into_inner())
                        .0;
                }
            }
        }
        *woken
    });
    if woken {
        return Ok(0);
    }
    let mut table = lock(waiters());
    if let Some(list) = table.get_mut(&uaddr.0) {
        list.retain(|other| !Arc::ptr_eq(other, &waiter));
        if list.is_empty() {
            table.remove(&uaddr.0);
        }
    }
    Err(Errno::ETIMEDOUT)
}

fn wake(uaddr: GuestAddr, count: u32, bitset: u32) -> SysResult {
    if bitset == 0 {
        return Err(Errno::EINVAL);
    }
    let mut table = lock(waiters());
    let Some(list) = table.get_mut(&uaddr.0) else {
        return Ok(0);
    };
    let mut woken = 0u32;
    list.retain(|waiter| {
        if woken >= count || waiter.bitset & bitset == 0 {
            return true;
        }
        *lock(&waiter.woken) = true;
        waiter.condvar.notify_one();
        woken += 1;
        false
    });
    if list.is_empty() {
        table.remove(&uaddr.0);
    }
    Ok(u64::from(woken))
}

#[syscall]
pub fn futex(
    cx: &mut SyscallContext<'_>,
    uaddr: GuestAddr,
    op: i32,
    val: u32,
    utime: GuestAddr,
    uaddr2: GuestAddr,
    val3: u32,
) -> SysResult {
    let _ = uaddr2;
    let flags = FutexOpFlags(
        op as u32 & (FutexOpFlags::FUTEX_PRIVATE_FLAG | FutexOpFlags::FUTEX_CLOCK_REALTIME).bits(),
    );
    let command = FutexOp(op as u32 & !flags.bits());
    let realtime = flags.contains(FutexOpFlags::FUTEX_CLOCK_REALTIME);
    match command {
        FutexOp::FUTEX_WAIT => {
            let deadline = deadline(cx, utime, false, realtime)?;
            wait(cx, uaddr, val, linux::FUTEX_BITSET_MATCH_ANY, deadline)
        }
        FutexOp::FUTEX_WAIT_BITSET => {
            let deadline = deadline(cx, utime, true, realtime)?;
            wait(cx, uaddr, val, val3, deadline)
        }
        FutexOp::FUTEX_WAKE => wake(uaddr, val, linux::FUTEX_BITSET_MATCH_ANY),
        FutexOp::FUTEX_WAKE_BITSET => wake(uaddr, val, val3),
        _ => Err(Errno::ENOSYS),
    }
}
