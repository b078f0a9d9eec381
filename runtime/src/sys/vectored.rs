//! Positional vectored I/O: `preadv`, `pwritev` and their `2` forms. Each iovec is read or
//! written in turn at an advancing position; the transfer stops at the first short one, as
//! Linux's does.

use carrick_macros::syscall;

use super::copy::{read_at, write_at};
use super::files::{check_access, copy_out, iovecs, vfs};
use super::{Fd, SysResult, SyscallContext, UserArray};
use crate::linux::{Errno, Iovec, RwfFlags};
use crate::vfs::OpenFile;

/// Maximum bytes one host call moves.
const CHUNK: usize = 1 << 20;

/// Reads into each iovec at `position` (or the file offset for `None`).
fn read_vectored(
    cx: &mut SyscallContext<'_>,
    file: &OpenFile,
    vectors: &[Iovec],
    mut position: Option<u64>,
) -> SysResult {
    check_access(file, false)?;
    let mut total = 0u64;
    for vector in vectors {
        let mut done = 0usize;
        let length = usize::try_from(vector.iov_len).map_err(|_| Errno::EINVAL)?;
        while done < length {
            let mut buffer = vec![0u8; (length - done).min(CHUNK)];
            let got = cx.blocking(|| read_at(file, &mut buffer, position))?;
            let copied = copy_out(cx, vector.iov_base + done as u64, &buffer[..got]);
            total += copied as u64;
            position = position.map(|at| at + copied as u64);
            if copied < got {
                return if total == 0 {
                    Err(Errno::EFAULT)
                } else {
                    Ok(total)
                };
            }
            done += got;
            if got < buffer.len() {
                return Ok(total);
            }
        }
    }
    Ok(total)
}

/// Writes each iovec at `position` (or the file offset for `None`).
fn write_vectored(
    cx: &mut SyscallContext<'_>,
    file: &OpenFile,
    vectors: &[Iovec],
    mut position: Option<u64>,
) -> SysResult {
    check_access(file, true)?;
    let mut total = 0u64;
    for vector in vectors {
        let mut done = 0usize;
        let length = usize::try_from(vector.iov_len).map_err(|_| Errno::EINVAL)?;
        while done < length {
            let want = (length - done).min(CHUNK);
            let mut data = vec![0u8; want];
            if cx
                .mem()
                .read(vector.iov_base + done as u64, &mut data)
                .is_err()
            {
                return if total == 0 {
                    Err(Errno::EFAULT)
                } else {
                    Ok(total)
                };
            }
            let wrote = cx.blocking(|| write_at(file, &data, position))?;
            total += wrote as u64;
            position = position.map(|at| at + wrote as u64);
            done += wrote;
            if wrote < want {
                return Ok(total);
            }
        }
    }
    Ok(total)
}

/// The position of a `p*v` call: `pos_l` is the whole 64-bit offset on a 64-bit kernel.
fn position(pos_l: i64) -> Result<u64, Errno> {
    u64::try_from(pos_l).map_err(|_| Errno::EINVAL)
}

/// The position of a `p*v2` call: -1 means the file offset.
fn position2(pos_l: i64) -> Result<Option<u64>, Errno> {
    if pos_l == -1 {
        return Ok(None);
    }
    position(pos_l).map(Some)
}

/// Checks `RWF_*` flags: `RWF_HIPRI`, `RWF_DSYNC` and `RWF_SYNC` are accepted without
/// effect, the others are `EOPNOTSUPP`.
fn check_rwf(flags: RwfFlags) -> Result<(), Errno> {
    let supported =
        RwfFlags::RWF_HIPRI.bits() | RwfFlags::RWF_DSYNC.bits() | RwfFlags::RWF_SYNC.bits();
    if flags.bits() & !supported != 0 {
        return Err(Errno::EOPNOTSUPP);
    }
    Ok(())
}

#[syscall]
pub fn preadv(
    cx: &mut SyscallContext<'_>,
    fd: Fd,
    vec: UserArray<Iovec>,
    vlen: u64,
    pos_l: i64,
    pos_h: u64,
) -> SysResult {
    let _ = pos_h;
    let file = vfs(cx)?.file(fd.0)?;
    let vectors = iovecs(cx, vec, vlen)?;
    read_vectored(cx, &file, &vectors, Some(position(pos_l)?))
}

#[syscall]
pub fn pwritev(
    cx: &mut SyscallContext<'_>,
    fd: Fd,
    vec: UserArray<Iovec>,
    vlen: u64,
    pos_l: i64,
    pos_h: u64,
) -> SysResult {
    let _ = pos_h;
    let file = vfs(cx)?.file(fd.0)?;
    let vectors = iovecs(cx, vec, vlen)?;
    write_vectored(cx, &file, &vectors, Some(position(pos_l)?))
}

#[syscall]
pub fn preadv2(
    cx: &mut SyscallContext<'_>,
    fd: Fd,
    vec: UserArray<Iovec>,
    vlen: u64,
    pos_l: i64,
    pos_h: u64,
    flags: RwfFlags,
) -> SysResult {
    let _ = pos_h;
    check_rwf(flags)?;
    let file = vfs(cx)?.file(fd.0)?;
    let vectors = iovecs(cx, vec, vlen)?;
    read_vectored(cx, &file, &vectors, position2(pos_l)?)
}

#[syscall]
pub fn pwritev2(
    cx: &mut SyscallContext<'_>,
    fd: Fd,
    vec: UserArray<Iovec>,
    vlen: u64,
    pos_l: i64,
    pos_h: u64,
    flags: RwfFlags,
) -> SysResult {
    let _ = pos_h;
    check_rwf(flags)?;
    let file = vfs(cx)?.file(fd.0)?;
    let vectors = iovecs(cx, vec, vlen)?;
    write_vectored(cx, &file, &vectors, position2(pos_l)?)
}
