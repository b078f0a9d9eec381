//! TEMPORARY file I/O, so programs can print before the file handlers exist. The trap loop
//! sends a syscall here only when the generated table has no handler for it, so each call
//! stops being used as soon as its real handler lands. It passes file descriptors and paths
//! straight to the host (no container root, no fd table). Delete the file once `read`,
//! `write`, `writev`, `openat`, `close` and `ioctl` have handlers.

use std::ffi::CString;

use crate::linux::{self, nr, Errno, OpenFlags};
use crate::sys::SyscallContext;

/// Reports whether the generated table has no handler for `nr`, so the scaffold may serve it.
pub fn serves(syscall: u64) -> bool {
    let implemented = usize::try_from(syscall)
        .ok()
        .and_then(|index| linux::DISPATCH.get(index))
        .is_some_and(|handler| handler.is_some());
    !implemented
        && matches!(
            syscall,
            nr::READ | nr::WRITE | nr::WRITEV | nr::OPENAT | nr::CLOSE | nr::IOCTL
        )
}

/// Services one of the syscalls [`serves`] accepts; returns the value for x0.
pub fn dispatch(cx: &mut SyscallContext<'_>, syscall: u64, args: [u64; 6]) -> u64 {
    let result = match syscall {
        nr::READ => read(cx, args[0], args[1], args[2]),
        nr::WRITE => write(cx, args[0], args[1], args[2]),
        nr::WRITEV => writev(cx, args[0], args[1], args[2]),
        nr::OPENAT => openat(cx, args[0] as i32, args[1], args[2] as u32, args[3]),
        nr::CLOSE => {
            // SAFETY: closes a host fd the guest names; the scaffold shares the host fd table.
            let ret = unsafe { libc::close(args[0] as i32) };
            host_result(i64::from(ret))
        }
        _ => Err(Errno::ENOTTY),
    };
    match result {
        Ok(value) => value,
        Err(errno) => errno.as_return(),
    }
}

fn host_result(ret: i64) -> Result<u64, Errno> {
    if ret < 0 {
        let host = std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO);
        Err(Errno::from_host(host))
    } else {
        Ok(ret as u64)
    }
}

/// Largest single transfer; longer requests return a short count, as Linux may.
const MAX_CHUNK: u64 = 1 << 20;

fn write(cx: &mut SyscallContext<'_>, fd: u64, buf: u64, len: u64) -> Result<u64, Errno> {
    let mut data = vec![0u8; len.min(MAX_CHUNK) as usize];
    cx.mem().read(buf, &mut data).map_err(|_| Errno::EFAULT)?;
    let written = cx.blocking(|| {
        // SAFETY: `data` is a live buffer of `data.len()` bytes.
        unsafe { libc::write(fd as i32, data.as_ptr().cast(), data.len()) }
    });
    host_result(written as i64)
}

fn writev(cx: &mut SyscallContext<'_>, fd: u64, iov: u64, count: u64) -> Result<u64, Errno> {
    let mut total = 0u64;
    for i in 0..count.min(1024) {
        let [base, len] = cx
            .mem()
            .read_obj::<[u64; 2]>(iov + 16 * i)
            .map_err(|_| Errno::EFAULT)?;
        match write(cx, fd, base, len) {
            Ok(n) => {
                total += n;
                if n < len {
                    break;
                }
            }
            Err(errno) if total == 0 => return Err(errno),
            Err(_) => break,
        }
    }
    Ok(total)
}

fn read(cx: &mut SyscallContext<'_>, fd: u64, buf: u64, len: u64) -> Result<u64, Errno> {
    let mut data = vec![0u8; len.min(MAX_CHUNK) as usize];
    let got = cx.blocking(|| {
        // SAFETY: `data` is a live, writable buffer of `data.len()` bytes.
        unsafe { libc::read(fd as i32, data.as_mut_ptr().cast(), data.len()) }
    });
    let got = host_result(got as i64)?;
    cx.mem()
        .write(buf, &data[..got as usize])
        .map_err(|_| Errno::EFAULT)?;
    Ok(got)
}

fn openat(
    cx: &mut SyscallContext<'_>,
    dirfd: i32,
    path: u64,
    flags: u32,
    mode: u64,
) -> Result<u64, Errno> {
    let path = cx.mem().read_cstr(path, 4096).map_err(|_| Errno::EFAULT)?;
    let path = CString::new(path).map_err(|_| Errno::ENOENT)?;
    if dirfd != linux::AT_FDCWD && !path.as_bytes().starts_with(b"/") {
        return Err(Errno::EBADF);
    }
    let host_flags = OpenFlags(flags).to_host() as i32 | libc::O_CLOEXEC;
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    let fd = unsafe { libc::open(path.as_ptr(), host_flags, mode as libc::c_uint) };
    host_result(i64::from(fd))
}
