//! Clocks and sleeping. Linux clock ids map to the host's clocks where the host has them;
//! the coarse and raw variants fall back to their precise counterparts.

// Host libc field types differ between Linux and macOS (suseconds_t, clock_t), so
// conversions that are no-ops on one host are kept for the other.
#![allow(clippy::useless_conversion)]

use carrick_macros::syscall;

use crate::linux::{self, ClockId, Errno, TimerFlags, Timespec, Timeval, Timezone, Tms};
use crate::sys::{SysResult, SyscallContext, UserPtr};

const NANOS_PER_SEC: i64 = 1_000_000_000;

/// The host clock that serves a Linux clock id, or `EINVAL` for ids carrick does not know
/// (including the negative per-process CPU-clock ids, which are not supported).
fn host_clock(which_clock: i32) -> Result<libc::clockid_t, Errno> {
    let id = u32::try_from(which_clock).map_err(|_| Errno::EINVAL)?;
    let clock = ClockId(id);
    if let Some(host) = clock.to_host() {
        return Ok(host as libc::clockid_t);
    }
    // Clocks the host lacks: the coarse and raw variants read their precise clock, the
    // boot-time clocks the monotonic one, TAI the real-time one.
    let fallback = match clock {
        ClockId::CLOCK_REALTIME_COARSE | ClockId::CLOCK_REALTIME_ALARM | ClockId::CLOCK_TAI => {
            ClockId::CLOCK_REALTIME
        }
        ClockId::CLOCK_MONOTONIC_COARSE
        | ClockId::CLOCK_MONOTONIC_RAW
        | ClockId::CLOCK_BOOTTIME
        | ClockId::CLOCK_BOOTTIME_ALARM => ClockId::CLOCK_MONOTONIC,
        _ => return Err(Errno::EINVAL),
    };
    fallback
        .to_host()
        .map(|host| host as libc::clockid_t)
        .ok_or(Errno::EINVAL)
}

fn now(clock: libc::clockid_t) -> Result<Timespec, Errno> {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return Err(Errno::from_io(&std::io::Error::last_os_error()));
    }
    Ok(Timespec {
        tv_sec: i64::from(ts.tv_sec),
        tv_nsec: i64::from(ts.tv_nsec),
    })
}

#[syscall]
pub fn clock_gettime(
    cx: &mut SyscallContext<'_>,
    which_clock: i32,
    tp: UserPtr<Timespec>,
) -> SysResult {
    let value = now(host_clock(which_clock)?)?;
    tp.write(cx.mem(), &value)?;
    Ok(0)
}

#[syscall]
pub fn clock_getres(
    cx: &mut SyscallContext<'_>,
    which_clock: i32,
    tp: UserPtr<Timespec>,
) -> SysResult {
    let clock = host_clock(which_clock)?;
    // Linux reports 1 ns for high-resolution clocks and one jiffy (4 ms with HZ=250) for the
    // coarse ones.
    let coarse = matches!(
        ClockId(which_clock as u32),
        ClockId::CLOCK_REALTIME_COARSE | ClockId::CLOCK_MONOTONIC_COARSE
    );
    let _ = clock;
    let resolution = if coarse {
        Timespec {
            tv_sec: 0,
            tv_nsec: 4_000_000,
        }
    } else {
        Timespec {
            tv_sec: 0,
            tv_nsec: 1,
        }
    };
    tp.write_optional(cx.mem(), &resolution)?;
    Ok(0)
}

#[syscall]
pub fn gettimeofday(
    cx: &mut SyscallContext<'_>,
    tv: UserPtr<Timeval>,
    tz: UserPtr<Timezone>,
) -> SysResult {
    let realtime = now(libc::CLOCK_REALTIME)?;
    tv.write_optional(
        cx.mem(),
        &Timeval {
            tv_sec: realtime.tv_sec,
            tv_usec: realtime.tv_nsec / 1000,
        },
    )?;
    tz.write_optional(cx.mem(), &Timezone::ZERO)?;
    Ok(0)
}

fn validate(request: &Timespec) -> Result<(), Errno> {
    if request.tv_sec < 0 || !(0..NANOS_PER_SEC).contains(&request.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(())
}

fn sleep_for(request: &Timespec) {
    let duration = std::time::Duration::new(request.tv_sec as u64, request.tv_nsec as u32);
    std::thread::sleep(duration);
}

#[syscall]
pub fn nanosleep(
    cx: &mut SyscallContext<'_>,
    rqtp: UserPtr<Timespec>,
    rmtp: UserPtr<Timespec>,
) -> SysResult {
    let request = rqtp.read(cx.mem())?;
    validate(&request)?;
    cx.blocking(|| sleep_for(&request));
    // NOTE: signals do not interrupt the sleep yet, so the remaining time is always zero.
    rmtp.write_optional(cx.mem(), &Timespec::ZERO)?;
    Ok(0)
}

#[syscall]
pub fn clock_nanosleep(
    cx: &mut SyscallContext<'_>,
    which_clock: i32,
    flags: TimerFlags,
    rqtp: UserPtr<Timespec>,
    rmtp: UserPtr<Timespec>,
) -> SysResult {
    let clock = host_clock(which_clock)?;
    let request = rqtp.read(cx.mem())?;
    validate(&request)?;
    let relative = if flags.contains(TimerFlags::TIMER_ABSTIME) {
        let current = now(clock)?;
        let mut sec = request.tv_sec - current.tv_sec;
        let mut nsec = request.tv_nsec - current.tv_nsec;
        if nsec < 0 {
            nsec += NANOS_PER_SEC;
            sec -= 1;
        }
        if sec < 0 {
            return Ok(0);
        }
        Timespec {
            tv_sec: sec,
            tv_nsec: nsec,
        }
    } else {
        request
    };
    cx.blocking(|| sleep_for(&relative));
    if !flags.contains(TimerFlags::TIMER_ABSTIME) {
        rmtp.write_optional(cx.mem(), &Timespec::ZERO)?;
    }
    Ok(0)
}

#[syscall]
pub fn times(cx: &mut SyscallContext<'_>, tbuf: UserPtr<Tms>) -> SysResult {
    // SAFETY: `host` is a valid, writable tms.
    let mut host: libc::tms = unsafe { std::mem::zeroed() };
    // SAFETY: see above.
    let ticks = unsafe { libc::times(&mut host) };
    // Linux reports clock ticks of USER_HZ (100 per second, AT_CLKTCK); convert from the
    // host's rate.
    // SAFETY: sysconf has no preconditions.
    let host_hz = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as i64;
    let convert =
        |value: libc::clock_t| i64::try_from(value).unwrap_or(i64::MAX) / host_hz * linux::HZ;
    let value = Tms {
        tms_utime: convert(host.tms_utime),
        tms_stime: convert(host.tms_stime),
        tms_cutime: convert(host.tms_cutime),
        tms_cstime: convert(host.tms_cstime),
    };
    tbuf.write_optional(cx.mem(), &value)?;
    Ok(convert(ticks) as u64)
}
