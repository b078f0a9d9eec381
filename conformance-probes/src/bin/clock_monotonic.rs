//! Checks clock_gettime and clock_getres.
//! - CLOCK_MONOTONIC never goes back over 10000 reads and tv_nsec stays below 1e9.
//! - CLOCK_BOOTTIME is not behind it; CLOCK_REALTIME is after 2020.
//! - The process and thread CPU-time clocks advance.
//! - clock_getres is 1 ns for the high-resolution clocks and one tick (4 ms at Debian's
//!   HZ=250) for the coarse ones; an invalid clock id is EINVAL.

use conformance_probes::{check, outcome, report, sys};

fn gettime(clock: i32) -> Result<libc::timespec, conformance_probes::Errno> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a live timespec.
    unsafe {
        sys(
            libc::SYS_clock_gettime,
            &[clock as u64, &mut ts as *mut libc::timespec as u64],
        )
    }
    .map(|_| ts)
}

fn getres(clock: i32) -> String {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a live timespec.
    match unsafe {
        sys(
            libc::SYS_clock_getres,
            &[clock as u64, &mut ts as *mut libc::timespec as u64],
        )
    } {
        Ok(_) => format!("{}.{:09}", ts.tv_sec, ts.tv_nsec),
        Err(errno) => errno.to_string(),
    }
}

fn nanos(ts: &libc::timespec) -> i128 {
    i128::from(ts.tv_sec) * 1_000_000_000 + i128::from(ts.tv_nsec)
}

fn main() {
    let mut previous = 0i128;
    let mut monotonic_ok = true;
    let mut nsec_ok = true;
    for _ in 0..10_000 {
        let now = gettime(libc::CLOCK_MONOTONIC).map(|t| {
            nsec_ok &= (0..1_000_000_000).contains(&t.tv_nsec);
            nanos(&t)
        });
        let now = now.unwrap_or(0);
        monotonic_ok &= now >= previous;
        previous = now;
    }
    check("monotonic_never_decreases", monotonic_ok);
    check("tv_nsec_in_range", nsec_ok);
    let monotonic = gettime(libc::CLOCK_MONOTONIC)
        .map(|t| nanos(&t))
        .unwrap_or(0);
    let boottime = gettime(libc::CLOCK_BOOTTIME)
        .map(|t| nanos(&t))
        .unwrap_or(0);
    check("boottime_not_behind_monotonic", boottime >= monotonic);
    let realtime = gettime(libc::CLOCK_REALTIME).map(|t| t.tv_sec).unwrap_or(0);
    check("realtime_after_2020", realtime > 1_577_836_800);
    let coarse = gettime(libc::CLOCK_MONOTONIC_COARSE)
        .map(|t| nanos(&t))
        .unwrap_or(i128::MAX);
    check(
        "monotonic_coarse_not_ahead",
        coarse
            <= gettime(libc::CLOCK_MONOTONIC)
                .map(|t| nanos(&t))
                .unwrap_or(0),
    );

    let cpu_before = gettime(libc::CLOCK_PROCESS_CPUTIME_ID)
        .map(|t| nanos(&t))
        .unwrap_or(0);
    let mut spin = 0u64;
    for index in 0..2_000_000u64 {
        spin = std::hint::black_box(spin.wrapping_add(index));
    }
    let cpu_after = gettime(libc::CLOCK_PROCESS_CPUTIME_ID)
        .map(|t| nanos(&t))
        .unwrap_or(0);
    check("process_cputime_advances", cpu_after > cpu_before);
    check(
        "thread_cputime_positive",
        gettime(libc::CLOCK_THREAD_CPUTIME_ID)
            .map(|t| nanos(&t) > 0)
            .unwrap_or(false),
    );

    for (name, clock) in [
        ("realtime", libc::CLOCK_REALTIME),
        ("monotonic", libc::CLOCK_MONOTONIC),
        ("process_cputime", libc::CLOCK_PROCESS_CPUTIME_ID),
        ("thread_cputime", libc::CLOCK_THREAD_CPUTIME_ID),
        ("monotonic_raw", libc::CLOCK_MONOTONIC_RAW),
        ("realtime_coarse", libc::CLOCK_REALTIME_COARSE),
        ("monotonic_coarse", libc::CLOCK_MONOTONIC_COARSE),
        ("boottime", libc::CLOCK_BOOTTIME),
        ("tai", libc::CLOCK_TAI),
        ("invalid_16", 16),
    ] {
        report(&format!("getres_{name}"), getres(clock));
    }
    outcome("gettime_invalid_16", gettime(16));
    outcome("gettime_negative_invalid_cpu_clock", gettime(-1));
    // SAFETY: a null res pointer is allowed.
    outcome("getres_null", unsafe {
        sys(libc::SYS_clock_getres, &[libc::CLOCK_MONOTONIC as u64, 0])
    });
    report("spin_done", spin > 0);
}
