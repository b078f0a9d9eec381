//! Terminal `ioctl`s on host terminals: `TCGETS`/`TCSETS*` through `tcgetattr` and
//! `tcsetattr`, window size, foreground process group and `FIONREAD`. Every other request
//! fails with `ENOTTY`, as Linux does for a request the file does not support.

use std::os::fd::{AsRawFd, BorrowedFd};

use super::{GuestAddr, SysResult, SyscallContext, UserPtr};
use crate::linux::{self, Errno, IoctlRequest};

fn last_error() -> Errno {
    std::io::Error::last_os_error().into()
}

fn host_termios(fd: BorrowedFd<'_>) -> Result<libc::termios, Errno> {
    let mut termios = std::mem::MaybeUninit::<libc::termios>::uninit();
    // SAFETY: `termios` has room for one `struct termios`.
    if unsafe { libc::tcgetattr(fd.as_raw_fd(), termios.as_mut_ptr()) } < 0 {
        return Err(last_error());
    }
    // SAFETY: tcgetattr succeeded, so it filled `termios`.
    Ok(unsafe { termios.assume_init() })
}

// NOTE: the flag words and control characters are copied as they are, which is right on a
// Linux host (same values as arm64 Linux) but not on macOS, whose termios bits differ.
#[allow(clippy::unnecessary_cast)]
fn to_linux(host: &libc::termios) -> linux::Termios {
    let mut termios = linux::Termios::ZERO;
    termios.c_iflag = host.c_iflag as u32;
    termios.c_oflag = host.c_oflag as u32;
    termios.c_cflag = host.c_cflag as u32;
    termios.c_lflag = host.c_lflag as u32;
    #[cfg(target_os = "linux")]
    {
        termios.c_line = host.c_line;
    }
    let count = termios.c_cc.len().min(host.c_cc.len());
    termios.c_cc[..count].copy_from_slice(&host.c_cc[..count]);
    termios
}

fn apply_linux(guest: &linux::Termios, host: &mut libc::termios) {
    host.c_iflag = guest.c_iflag as _;
    host.c_oflag = guest.c_oflag as _;
    host.c_cflag = guest.c_cflag as _;
    host.c_lflag = guest.c_lflag as _;
    #[cfg(target_os = "linux")]
    {
        host.c_line = guest.c_line;
    }
    let count = guest.c_cc.len().min(host.c_cc.len());
    host.c_cc[..count].copy_from_slice(&guest.c_cc[..count]);
}

/// Runs a terminal request on the host fd behind a guest fd.
pub(super) fn ioctl(
    cx: &mut SyscallContext<'_>,
    fd: BorrowedFd<'_>,
    request: IoctlRequest,
    arg: GuestAddr,
) -> SysResult {
    let raw = fd.as_raw_fd();
    match request {
        IoctlRequest::TCGETS => {
            let termios = to_linux(&host_termios(fd)?);
            UserPtr::<linux::Termios>::new(arg.0).write(cx.mem(), &termios)?;
            Ok(0)
        }
        IoctlRequest::TCSETS | IoctlRequest::TCSETSW | IoctlRequest::TCSETSF => {
            let guest = UserPtr::<linux::Termios>::new(arg.0).read(cx.mem())?;
            let mut host = host_termios(fd)?;
            apply_linux(&guest, &mut host);
            let action = match request {
                IoctlRequest::TCSETS => libc::TCSANOW,
                IoctlRequest::TCSETSW => libc::TCSADRAIN,
                _ => libc::TCSAFLUSH,
            };
            // SAFETY: `host` is a valid termios for the duration of the call.
            if cx.blocking(|| unsafe { libc::tcsetattr(raw, action, &host) }) < 0 {
                return Err(last_error());
            }
            Ok(0)
        }
        IoctlRequest::TIOCGWINSZ => {
            let mut size = libc::winsize {
                ws_row: 0,
                ws_col: 0,
                ws_xpixel: 0,
                ws_ypixel: 0,
            };
            // SAFETY: TIOCGWINSZ writes one `struct winsize` to `size`.
            if unsafe { libc::ioctl(raw, libc::TIOCGWINSZ, &mut size) } < 0 {
                return Err(last_error());
            }
            let guest = linux::Winsize {
                ws_row: size.ws_row,
                ws_col: size.ws_col,
                ws_xpixel: size.ws_xpixel,
                ws_ypixel: size.ws_ypixel,
            };
            UserPtr::<linux::Winsize>::new(arg.0).write(cx.mem(), &guest)?;
            Ok(0)
        }
        IoctlRequest::TIOCSWINSZ => {
            let guest = UserPtr::<linux::Winsize>::new(arg.0).read(cx.mem())?;
            let size = libc::winsize {
                ws_row: guest.ws_row,
                ws_col: guest.ws_col,
                ws_xpixel: guest.ws_xpixel,
                ws_ypixel: guest.ws_ypixel,
            };
            // SAFETY: TIOCSWINSZ reads one `struct winsize` from `size`.
            if unsafe { libc::ioctl(raw, libc::TIOCSWINSZ, &size) } < 0 {
                return Err(last_error());
            }
            Ok(0)
        }
        IoctlRequest::TIOCGPGRP => {
            // SAFETY: tcgetpgrp on an open fd has no memory effects.
            let group = unsafe { libc::tcgetpgrp(raw) };
            if group < 0 {
                return Err(last_error());
            }
            UserPtr::<i32>::new(arg.0).write(cx.mem(), &group)?;
            Ok(0)
        }
        IoctlRequest::TIOCSPGRP => {
            let group: i32 = UserPtr::<i32>::new(arg.0).read(cx.mem())?;
            // SAFETY: tcsetpgrp on an open fd has no memory effects.
            if unsafe { libc::tcsetpgrp(raw, group) } < 0 {
                return Err(last_error());
            }
            Ok(0)
        }
        IoctlRequest::FIONREAD => {
            let mut available: libc::c_int = 0;
            // SAFETY: FIONREAD writes one int to `available`.
            if unsafe { libc::ioctl(raw, libc::FIONREAD, &mut available) } < 0 {
                return Err(last_error());
            }
            UserPtr::<i32>::new(arg.0).write(cx.mem(), &available)?;
            Ok(0)
        }
        _ => Err(Errno::ENOTTY),
    }
}
