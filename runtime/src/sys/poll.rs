//! `ppoll` over the process's fds: host-backed files are polled on the host, and carrick's
//! own files (synthetic files, devices, directories) are always ready, as regular files are
//! on Linux.

use std::time::{Duration, Instant};

use carrick_macros::syscall;

use super::files::vfs;
use super::{SysResult, SyscallContext, UserArray, UserPtr};
use crate::linux::{Errno, PollEvents, Pollfd, Sigset, Timespec};

/// Events a file that never blocks reports.
fn always_ready() -> u32 {
    PollEvents::POLLIN.bits()
        | PollEvents::POLLOUT.bits()
        | PollEvents::POLLRDNORM.bits()
        | PollEvents::POLLWRNORM.bits()
}

/// Decodes the optional timeout; `EINVAL` for a negative or unnormalized one.
fn timeout_ms(timeout: Option<&Timespec>) -> Result<Option<Duration>, Errno> {
    let Some(timeout) = timeout else {
        return Ok(None);
    };
    if timeout.tv_sec < 0 || !(0..1_000_000_000).contains(&timeout.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Some(Duration::new(
        timeout.tv_sec as u64,
        timeout.tv_nsec as u32,
    )))
}

// NOTE: the signal mask is not applied while waiting.
#[syscall]
pub fn ppoll(
    cx: &mut SyscallContext<'_>,
    ufds: UserArray<Pollfd>,
    nfds: u32,
    tsp: UserPtr<Timespec>,
    sigmask: UserPtr<Sigset>,
    sigsetsize: u64,
) -> SysResult {
    let _ = (sigmask, sigsetsize);
    let vfs = vfs(cx)?;
    if u64::from(nfds) > vfs.fds().limit() {
        return Err(Errno::EINVAL);
    }
    let mut entries = ufds.read(cx.mem(), nfds as usize)?;
    let timeout = timeout_ms(tsp.read_optional(cx.mem())?.as_ref())?;

    // Host fds to poll, each with the index of its entry; other entries are decided here.
    let mut host = Vec::new();
    let mut files = Vec::new();
    let mut ready = 0u64;
    for (index, entry) in entries.iter_mut().enumerate() {
        entry.revents = 0;
        if entry.fd < 0 {
            continue;
        }
        let Ok(file) = vfs.file(entry.fd) else {
            entry.revents = PollEvents::POLLNVAL.bits() as i16;
            ready += 1;
            continue;
        };
        let requested = PollEvents(u32::from(entry.events as u16));
        match file.host_fd() {
            Some(fd) => {
                let events = requested.to_host() as libc::c_short;
                host.push(libc::pollfd {
                    fd: std::os::fd::AsRawFd::as_raw_fd(&fd),
                    events,
                    revents: 0,
                });
                files.push((index, file.clone()));
            }
            None => {
                let events = (requested.bits() & always_ready()) as i16;
                entry.revents = events;
                if events != 0 {
                    ready += 1;
                }
            }
        }
    }

    let started = Instant::now();
    let wait = match (ready, timeout) {
        (1.., _) => 0,
        (0, None) => -1,
        (0, Some(duration)) => {
            i32::try_from(duration.as_nanos().div_ceil(1_000_000)).unwrap_or(i32::MAX)
        }
    };
    // With no host fds this is a sleep that a host signal can interrupt.
    // SAFETY: `host` holds `host.len()` pollfd entries; the fds stay open because `files`
    // holds their descriptions.
    let count =
        cx.blocking(|| unsafe { libc::poll(host.as_mut_ptr(), host.len() as libc::nfds_t, wait) });
    if count < 0 {
        return Err(std::io::Error::last_os_error().into());
    }
    for (slot, (index, _)) in host.iter().zip(&files) {
        if slot.revents != 0 {
            entries[*index].revents = PollEvents::from_host(i64::from(slot.revents)).bits() as i16;
            ready += 1;
        }
    }
    drop(files);

    for (index, entry) in entries.iter().enumerate() {
        ufds.set(cx.mem(), index, entry)?;
    }
    if let Some(duration) = timeout {
        let remaining = duration.saturating_sub(started.elapsed());
        let left = Timespec {
            tv_sec: remaining.as_secs() as i64,
            tv_nsec: i64::from(remaining.subsec_nanos()),
        };
        tsp.write(cx.mem(), &left)?;
    }
    Ok(ready)
}
