//! `ppoll`: waits on guest fds through the host's `poll`. Host-backed fds (files, pipes,
//! terminals) are polled by the host; synthetic files (/proc snapshots, /dev/null and
//! friends) are always ready, as regular files are on Linux.

use std::time::{Duration, Instant};

use carrick_macros::syscall;

use crate::linux::{Errno, PollEvents, Pollfd, Sigset, Timespec};
use crate::sys::files::vfs;
use crate::sys::{SysResult, SyscallContext, UserArray, UserPtr};
use crate::vfs::FileKind;

/// Events a synthetic file or a regular file always reports when asked.
fn always_ready(events: PollEvents) -> PollEvents {
    events
        & (PollEvents::POLLIN
            | PollEvents::POLLOUT
            | PollEvents::POLLRDNORM
            | PollEvents::POLLWRNORM)
}

fn to_duration(timeout: &Timespec) -> Result<Duration, Errno> {
    if timeout.tv_sec < 0 || !(0..1_000_000_000).contains(&timeout.tv_nsec) {
        return Err(Errno::EINVAL);
    }
    Ok(Duration::new(timeout.tv_sec as u64, timeout.tv_nsec as u32))
}

#[syscall]
pub fn ppoll(
    cx: &mut SyscallContext<'_>,
    ufds: UserArray<Pollfd>,
    nfds: u32,
    tsp: UserPtr<Timespec>,
    sigmask: UserPtr<Sigset>,
    sigsetsize: u64,
) -> SysResult {
    if !sigmask.is_null() && sigsetsize != std::mem::size_of::<Sigset>() as u64 {
        return Err(Errno::EINVAL);
    }
    let vfs = vfs(cx)?;
    if u64::from(nfds) > vfs.fds().limit() {
        return Err(Errno::EINVAL);
    }
    let mut entries = ufds.read(cx.mem(), nfds as usize)?;
    let timeout = tsp
        .read_optional(cx.mem())?
        .map(|timeout| to_duration(&timeout))
        .transpose()?;

    // Host pollfds for host-backed entries; `slots[i]` is the host index of entry i.
    let mut files = Vec::with_capacity(entries.len());
    let mut host: Vec<libc::pollfd> = Vec::new();
    let mut slots = vec![None; entries.len()];
    let mut ready_now = 0;
    for (index, entry) in entries.iter_mut().enumerate() {
        entry.revents = 0;
        if entry.fd < 0 {
            continue;
        }
        let events = PollEvents(u32::from(entry.events as u16));
        let Ok(file) = vfs.file(entry.fd) else {
            entry.revents = PollEvents::POLLNVAL.bits() as i16;
            ready_now += 1;
            continue;
        };
        match &file.kind {
            FileKind::Host(fd) => {
                slots[index] = Some(host.len());
                host.push(libc::pollfd {
                    fd: std::os::fd::AsRawFd::as_raw_fd(fd),
                    events: events.to_host() as libc::c_short,
                    revents: 0,
                });
            }
            _ => {
                let revents = always_ready(events);
                entry.revents = revents.bits() as i16;
                if revents.bits() != 0 {
                    ready_now += 1;
                }
            }
        }
        files.push(file);
    }

    let start = Instant::now();
    let wait_ms: libc::c_int = if ready_now > 0 {
        0
    } else {
        match timeout {
            None => -1,
            // Round up so a short timeout does not turn into a busy poll.
            Some(duration) => duration
                .as_nanos()
                .div_ceil(1_000_000)
                .min(libc::c_int::MAX as u128) as libc::c_int,
        }
    };
    let result = cx.blocking(|| {
        // SAFETY: `host` is a valid array of `host.len()` pollfds for the duration of the call.
        unsafe { libc::poll(host.as_mut_ptr(), host.len() as libc::nfds_t, wait_ms) }
    });
    if result < 0 {
        return Err(Errno::from_io(&std::io::Error::last_os_error()));
    }
    drop(files);

    let mut count = 0u64;
    for (index, entry) in entries.iter_mut().enumerate() {
        if let Some(slot) = slots[index] {
            let revents = PollEvents::from_host(i64::from(host[slot].revents));
            entry.revents = revents.bits() as i16;
        }
        if entry.revents != 0 {
            count += 1;
        }
    }
    for (index, entry) in entries.iter().enumerate() {
        ufds.set(cx.mem(), index, entry)?;
    }
    if let Some(duration) = timeout {
        let remaining = duration.saturating_sub(start.elapsed());
        let value = Timespec {
            tv_sec: remaining.as_secs() as i64,
            tv_nsec: i64::from(remaining.subsec_nanos()),
        };
        tsp.write(cx.mem(), &value)?;
    }
    Ok(count)
}
