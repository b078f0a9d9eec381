//! Checks futex wait/wake and threads.
//! - FUTEX_WAIT with a stale value is EAGAIN, with an elapsed timeout ETIMEDOUT.
//! - Waking with no waiters wakes 0; an unknown op is ENOSYS; a misaligned address is
//!   EINVAL.
//! - A waiting thread is woken by FUTEX_WAKE.
//! - Four threads incrementing under a mutex reach the exact total.
//! - Threads share the pid and have their own tid.

use conformance_probes::{check, outcome, report, result, sys};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

fn futex(
    word: &AtomicU32,
    op: i32,
    value: u32,
    timeout: Option<&libc::timespec>,
) -> Result<u64, conformance_probes::Errno> {
    let timeout_ptr = timeout.map_or(0, |t| t as *const libc::timespec as u64);
    // SAFETY: word and the timeout are live for the whole call.
    unsafe {
        sys(
            libc::SYS_futex,
            &[
                word as *const AtomicU32 as u64,
                op as u64,
                u64::from(value),
                timeout_ptr,
                0,
                0,
            ],
        )
    }
}

fn main() {
    let private_wait = libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG;
    let private_wake = libc::FUTEX_WAKE | libc::FUTEX_PRIVATE_FLAG;
    let word = AtomicU32::new(1);
    outcome("wait_stale_value", futex(&word, private_wait, 0, None));
    let short = libc::timespec {
        tv_sec: 0,
        tv_nsec: 10_000_000,
    };
    outcome("wait_timeout", futex(&word, private_wait, 1, Some(&short)));
    let invalid = libc::timespec {
        tv_sec: 0,
        tv_nsec: 2_000_000_000,
    };
    outcome(
        "wait_invalid_timeout",
        futex(&word, private_wait, 1, Some(&invalid)),
    );
    result("wake_no_waiters", futex(&word, private_wake, 10, None));
    outcome("unknown_op", futex(&word, 99, 0, None));
    // SAFETY: the kernel rejects the misaligned address before touching it.
    outcome("misaligned", unsafe {
        sys(
            libc::SYS_futex,
            &[
                (&word as *const AtomicU32 as u64) + 1,
                private_wake as u64,
                1,
                0,
                0,
                0,
            ],
        )
    });
    // SAFETY: the kernel must reject the bad address.
    outcome("bad_address_wait", unsafe {
        sys(libc::SYS_futex, &[0x10, private_wait as u64, 0, 0, 0, 0])
    });

    let shared = Arc::new(AtomicU32::new(0));
    let waiter_word = Arc::clone(&shared);
    // SAFETY: getpid has no memory effects.
    let pid = unsafe { libc::getpid() };
    let waiter = std::thread::spawn(move || {
        let mut sleeps = 0;
        while waiter_word.load(Ordering::SeqCst) == 0 {
            if futex(
                &waiter_word,
                libc::FUTEX_WAIT | libc::FUTEX_PRIVATE_FLAG,
                0,
                None,
            )
            .is_ok()
            {
                sleeps += 1;
            }
        }
        // SAFETY: the id getters have no memory effects.
        let (thread_pid, tid) = unsafe { (libc::getpid(), libc::gettid()) };
        (sleeps <= 1, thread_pid, tid)
    });
    std::thread::sleep(std::time::Duration::from_millis(50));
    shared.store(1, Ordering::SeqCst);
    let mut woken = 0;
    for _ in 0..100 {
        woken += futex(&shared, private_wake, 1, None).unwrap_or(0);
        if woken > 0 || waiter.is_finished() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    match waiter.join() {
        Ok((bounded, thread_pid, tid)) => {
            check("waiter_returned", true);
            check("waiter_slept_at_most_once", bounded);
            check("thread_shares_pid", thread_pid == pid);
            // SAFETY: gettid has no memory effects.
            check("thread_tid_differs", tid != unsafe { libc::gettid() });
            // SAFETY: gettid has no memory effects.
            check("main_tid_is_pid", pid == unsafe { libc::gettid() });
        }
        Err(_) => check("waiter_returned", false),
    }
    report("wake_count_at_most_one", woken <= 1);

    let counter = Arc::new(Mutex::new(0u64));
    let workers: Vec<_> = (0..4)
        .map(|_| {
            let counter = Arc::clone(&counter);
            std::thread::spawn(move || {
                for _ in 0..10_000 {
                    if let Ok(mut value) = counter.lock() {
                        *value += 1;
                    }
                }
            })
        })
        .collect();
    let joined = workers
        .into_iter()
        .map(|w| w.join().is_ok())
        .filter(|ok| *ok)
        .count();
    report("workers_joined", joined);
    report("mutex_total", counter.lock().map(|v| *v).unwrap_or(0));
}
