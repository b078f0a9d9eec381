//! Checks nanosleep and clock_nanosleep.
//! - A 20 ms sleep lasts at least 20 ms.
//! - tv_nsec of 1e9 or a negative tv_sec or tv_nsec is EINVAL.
//! - An absolute deadline in the past returns at once.
//! - A thread CPU-time clock is EOPNOTSUPP and an unknown clock EINVAL.
//! - A handler without SA_RESTART interrupts a long sleep with EINTR, and the remaining
//!   time is below the request.

use conformance_probes::{check, outcome, sys};

extern "C" fn on_alarm(_signo: i32) {}

fn nanosleep(
    request: &libc::timespec,
    remain: Option<&mut libc::timespec>,
) -> Result<u64, conformance_probes::Errno> {
    let remain_ptr = remain.map_or(0, |r| r as *mut libc::timespec as u64);
    // SAFETY: both pointers are live timespecs or null.
    unsafe {
        sys(
            libc::SYS_nanosleep,
            &[request as *const libc::timespec as u64, remain_ptr],
        )
    }
}

fn clock_nanosleep(
    clock: i32,
    flags: i32,
    request: &libc::timespec,
) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: request is a live timespec.
    unsafe {
        sys(
            libc::SYS_clock_nanosleep,
            &[
                clock as u64,
                flags as u64,
                request as *const libc::timespec as u64,
                0,
            ],
        )
    }
}

fn now() -> std::time::Instant {
    std::time::Instant::now()
}

fn main() {
    let start = now();
    outcome(
        "sleep_20ms",
        nanosleep(
            &libc::timespec {
                tv_sec: 0,
                tv_nsec: 20_000_000,
            },
            None,
        ),
    );
    check(
        "slept_at_least_20ms",
        start.elapsed() >= std::time::Duration::from_millis(20),
    );
    outcome(
        "nsec_1e9",
        nanosleep(
            &libc::timespec {
                tv_sec: 0,
                tv_nsec: 1_000_000_000,
            },
            None,
        ),
    );
    outcome(
        "nsec_negative",
        nanosleep(
            &libc::timespec {
                tv_sec: 0,
                tv_nsec: -1,
            },
            None,
        ),
    );
    outcome(
        "sec_negative",
        nanosleep(
            &libc::timespec {
                tv_sec: -1,
                tv_nsec: 0,
            },
            None,
        ),
    );
    outcome(
        "zero",
        nanosleep(
            &libc::timespec {
                tv_sec: 0,
                tv_nsec: 0,
            },
            None,
        ),
    );

    let past = libc::timespec {
        tv_sec: 1,
        tv_nsec: 0,
    };
    let start = now();
    outcome(
        "abstime_past",
        clock_nanosleep(libc::CLOCK_MONOTONIC, libc::TIMER_ABSTIME, &past),
    );
    check(
        "abstime_past_immediate",
        start.elapsed() < std::time::Duration::from_secs(1),
    );
    let short = libc::timespec {
        tv_sec: 0,
        tv_nsec: 1_000_000,
    };
    outcome(
        "clock_realtime",
        clock_nanosleep(libc::CLOCK_REALTIME, 0, &short),
    );
    outcome(
        "clock_thread_cputime",
        clock_nanosleep(libc::CLOCK_THREAD_CPUTIME_ID, 0, &short),
    );
    outcome("clock_invalid", clock_nanosleep(77, 0, &short));
    outcome(
        "clock_bad_flags_ignored",
        clock_nanosleep(libc::CLOCK_MONOTONIC, 0x10, &short),
    );

    // SAFETY: installing a handler without SA_RESTART that does nothing.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_alarm as *const () as usize;
        libc::sigaction(libc::SIGALRM, &action, std::ptr::null_mut());
        let timer = libc::itimerval {
            it_interval: libc::timeval {
                tv_sec: 0,
                tv_usec: 0,
            },
            it_value: libc::timeval {
                tv_sec: 0,
                tv_usec: 50_000,
            },
        };
        libc::setitimer(libc::ITIMER_REAL, &timer, std::ptr::null_mut());
    }
    let mut remain = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    outcome(
        "interrupted",
        nanosleep(
            &libc::timespec {
                tv_sec: 5,
                tv_nsec: 0,
            },
            Some(&mut remain),
        ),
    );
    check(
        "remain_below_request",
        remain.tv_sec < 5 && (remain.tv_sec > 0 || remain.tv_nsec > 0),
    );
    check("remain_above_4s", remain.tv_sec >= 4);
}
