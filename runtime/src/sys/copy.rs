//! Handlers that move bytes between two open files inside carrick (`sendfile`,
//! `copy_file_range`) and `fallocate`. The copies go through a buffer of at most
//! [`CHUNK`] bytes per step, reading and writing with the files' own offsets or with the
//! positions the guest passed.

use std::os::fd::AsRawFd;

use carrick_macros::syscall;

use super::files::vfs;
use super::{Fd, SysResult, SyscallContext, UserPtr};
use crate::linux::{Errno, OpenFlags};
use crate::vfs::{host, FileKind, FileType, OpenFile};

/// Maximum bytes one step of a copy moves.
const CHUNK: usize = 1 << 20;

fn last_error() -> Errno {
    std::io::Error::last_os_error().into()
}

fn readable(file: &OpenFile) -> bool {
    let access = file.status() & OpenFlags::O_ACCMODE.bits();
    access == OpenFlags::O_RDONLY.bits() || access == OpenFlags::O_RDWR.bits()
}

fn writable(file: &OpenFile) -> bool {
    let access = file.status() & OpenFlags::O_ACCMODE.bits();
    access == OpenFlags::O_WRONLY.bits() || access == OpenFlags::O_RDWR.bits()
}

/// Reads at `position`, or at the file's offset when `None`.
pub(super) fn read_at(
    file: &OpenFile,
    buffer: &mut [u8],
    position: Option<u64>,
) -> Result<usize, Errno> {
    match (&file.kind, position) {
        (FileKind::Directory { .. }, _) => Err(Errno::EISDIR),
        (FileKind::Snapshot { .. }, Some(position)) => {
            Ok(file.read_snapshot_at(buffer, position).unwrap_or(0))
        }
        (FileKind::Host(fd), Some(position)) => {
            // SAFETY: `buffer` has `buffer.len()` writable bytes.
            let count = unsafe {
                libc::pread(
                    fd.as_raw_fd(),
                    buffer.as_mut_ptr().cast(),
                    buffer.len(),
                    position as libc::off_t,
                )
            };
            usize::try_from(count).map_err(|_| last_error())
        }
        (FileKind::Host(fd), None) => Ok(host::read(std::os::fd::AsFd::as_fd(fd), buffer)?),
        _ => file
            .read_synthetic(buffer)
            .ok_or(Errno::EINVAL)?
            .map_err(Errno::from),
    }
}

/// Writes at `position`, or at the file's offset when `None`.
pub(super) fn write_at(
    file: &OpenFile,
    data: &[u8],
    position: Option<u64>,
) -> Result<usize, Errno> {
    match (&file.kind, position) {
        (FileKind::Directory { .. }, _) => Err(Errno::EISDIR),
        (FileKind::Host(fd), Some(position)) => {
            // SAFETY: `data` has `data.len()` readable bytes.
            let count = unsafe {
                libc::pwrite(
                    fd.as_raw_fd(),
                    data.as_ptr().cast(),
                    data.len(),
                    position as libc::off_t,
                )
            };
            usize::try_from(count).map_err(|_| last_error())
        }
        (FileKind::Host(fd), None) => Ok(host::write(std::os::fd::AsFd::as_fd(fd), data)?),
        _ => file
            .write_synthetic(data)
            .ok_or(Errno::EINVAL)?
            .map_err(Errno::from),
    }
}

/// Copies up to `count` bytes and returns the count copied. Stops at the end of the input
/// or at a short write.
fn copy(
    cx: &mut SyscallContext<'_>,
    input: &OpenFile,
    mut in_position: Option<u64>,
    output: &OpenFile,
    mut out_position: Option<u64>,
    count: usize,
) -> Result<usize, Errno> {
    let mut buffer = vec![0u8; count.min(CHUNK)];
    let mut total = 0usize;
    while total < count {
        let want = (count - total).min(buffer.len());
        let got = match cx.blocking(|| read_at(input, &mut buffer[..want], in_position)) {
            Ok(got) => got,
            Err(_) if total > 0 => break,
            Err(errno) => return Err(errno),
        };
        if got == 0 {
            break;
        }
        let wrote = match cx.blocking(|| write_at(output, &buffer[..got], out_position)) {
            Ok(wrote) => wrote,
            Err(_) if total > 0 => break,
            Err(errno) => return Err(errno),
        };
        total += wrote;
        in_position = in_position.map(|position| position + wrote as u64);
        out_position = out_position.map(|position| position + wrote as u64);
        if wrote < got {
            // NOTE: the input already advanced past bytes the output did not take when the
            // input has no explicit position.
            break;
        }
    }
    Ok(total)
}

/// Reads an optional offset argument; `EINVAL` for a negative one.
fn read_offset(cx: &SyscallContext<'_>, offset: UserPtr<i64>) -> Result<Option<u64>, Errno> {
    match offset.read_optional(cx.mem())? {
        Some(value) if value < 0 => Err(Errno::EINVAL),
        Some(value) => Ok(Some(value as u64)),
        None => Ok(None),
    }
}

#[syscall]
pub fn sendfile(
    cx: &mut SyscallContext<'_>,
    out_fd: Fd,
    in_fd: Fd,
    offset: UserPtr<i64>,
    count: u64,
) -> SysResult {
    let vfs = vfs(cx)?;
    let input = vfs.file(in_fd.0)?;
    let output = vfs.file(out_fd.0)?;
    if !readable(&input) || !writable(&output) {
        return Err(Errno::EBADF);
    }
    if OpenFlags(output.status()).contains(OpenFlags::O_APPEND) {
        return Err(Errno::EINVAL);
    }
    let position = read_offset(cx, offset)?;
    let count = usize::try_from(count).map_err(|_| Errno::EINVAL)?;
    let copied = copy(cx, &input, position, &output, None, count)?;
    if let Some(position) = position {
        offset.write(cx.mem(), &((position + copied as u64) as i64))?;
    }
    Ok(copied as u64)
}

#[syscall]
pub fn copy_file_range(
    cx: &mut SyscallContext<'_>,
    fd_in: Fd,
    off_in: UserPtr<i64>,
    fd_out: Fd,
    off_out: UserPtr<i64>,
    len: u64,
    flags: u32,
) -> SysResult {
    if flags != 0 {
        return Err(Errno::EINVAL);
    }
    let vfs = vfs(cx)?;
    let input = vfs.file(fd_in.0)?;
    let output = vfs.file(fd_out.0)?;
    if !readable(&input)
        || !writable(&output)
        || OpenFlags(output.status()).contains(OpenFlags::O_APPEND)
    {
        return Err(Errno::EBADF);
    }
    for file in [&input, &output] {
        match vfs.fstat(file)?.file_type() {
            FileType::Regular => {}
            FileType::Directory => return Err(Errno::EISDIR),
            _ => return Err(Errno::EINVAL),
        }
    }
    let in_position = read_offset(cx, off_in)?;
    let out_position = read_offset(cx, off_out)?;
    let count = usize::try_from(len).map_err(|_| Errno::EINVAL)?;
    let copied = copy(cx, &input, in_position, &output, out_position, count)?;
    if let Some(position) = in_position {
        off_in.write(cx.mem(), &((position + copied as u64) as i64))?;
    }
    if let Some(position) = out_position {
        off_out.write(cx.mem(), &((position + copied as u64) as i64))?;
    }
    Ok(copied as u64)
}

#[syscall]
pub fn fallocate(
    cx: &mut SyscallContext<'_>,
    fd: Fd,
    mode: i32,
    offset: i64,
    len: i64,
) -> SysResult {
    let file = vfs(cx)?.file(fd.0)?;
    if offset < 0 || len <= 0 {
        return Err(Errno::EINVAL);
    }
    if !writable(&file) {
        return Err(Errno::EBADF);
    }
    if mode != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    let FileKind::Host(host) = &file.kind else {
        return Err(Errno::ENODEV);
    };
    allocate(cx, host.as_raw_fd(), offset, len)
}

#[cfg(target_os = "linux")]
fn allocate(
    cx: &mut SyscallContext<'_>,
    fd: std::os::fd::RawFd,
    offset: i64,
    len: i64,
) -> SysResult {
    // SAFETY: posix_fallocate on an open fd has no memory effects.
    let result = cx.blocking(|| unsafe {
        libc::posix_fallocate(fd, offset as libc::off_t, len as libc::off_t)
    });
    if result != 0 {
        return Err(std::io::Error::from_raw_os_error(result).into());
    }
    Ok(0)
}

// NOTE: hosts without posix_fallocate (macOS) do not preallocate.
#[cfg(not(target_os = "linux"))]
fn allocate(
    _cx: &mut SyscallContext<'_>,
    _fd: std::os::fd::RawFd,
    _offset: i64,
    _len: i64,
) -> SysResult {
    Err(Errno::EOPNOTSUPP)
}
