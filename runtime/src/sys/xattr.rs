//! Extended attributes. carrick keeps none: lookups of an existing file find no attribute
//! (`ENODATA`), listings are empty, and setting one fails with `EOPNOTSUPP`, as on a
//! filesystem mounted without xattr support. Paths and fds are still checked, so a missing
//! file or a bad fd gets the errno Linux gives.

use carrick_macros::syscall;

use crate::linux::Errno;
use crate::sys::files::vfs;
use crate::sys::{CStrPtr, Fd, SysResult, SyscallContext, UserBuf};

/// Checks that the path exists (following the final symlink when `follow`).
fn check_path(cx: &SyscallContext<'_>, pathname: CStrPtr, follow: bool) -> Result<(), Errno> {
    let path = pathname.read_path(cx.mem())?;
    let vfs = vfs(cx)?;
    vfs.stat(&vfs.cwd(), &path, follow)?;
    Ok(())
}

fn check_fd(cx: &SyscallContext<'_>, fd: Fd) -> Result<(), Errno> {
    vfs(cx)?.file(fd.0)?;
    Ok(())
}

fn check_name(cx: &SyscallContext<'_>, name: CStrPtr) -> Result<(), Errno> {
    // XATTR_NAME_MAX is 255; longer names are ERANGE.
    let name = name.read(cx.mem(), 256).map_err(|errno| {
        if errno == Errno::ENAMETOOLONG {
            Errno::ERANGE
        } else {
            errno
        }
    })?;
    if name.is_empty() {
        return Err(Errno::ERANGE);
    }
    Ok(())
}

#[syscall]
pub fn getxattr(
    cx: &mut SyscallContext<'_>,
    pathname: CStrPtr,
    name: CStrPtr,
    value: UserBuf,
    size: u64,
) -> SysResult {
    let _ = (value, size);
    check_path(cx, pathname, true)?;
    check_name(cx, name)?;
    Err(Errno::ENODATA)
}

#[syscall]
pub fn lgetxattr(
    cx: &mut SyscallContext<'_>,
    pathname: CStrPtr,
    name: CStrPtr,
    value: UserBuf,
    size: u64,
) -> SysResult {
    let _ = (value, size);
    check_path(cx, pathname, false)?;
    check_name(cx, name)?;
    Err(Errno::ENODATA)
}

#[syscall]
pub fn fgetxattr(
    cx: &mut SyscallContext<'_>,
    fd: Fd,
    name: CStrPtr,
    value: UserBuf,
    size: u64,
) -> SysResult {
    let _ = (value, size);
    check_fd(cx, fd)?;
    check_name(cx, name)?;
    Err(Errno::ENODATA)
}

#[syscall]
pub fn listxattr(
    cx: &mut SyscallContext<'_>,
    pathname: CStrPtr,
    list: UserBuf,
    size: u64,
) -> SysResult {
    let _ = (list, size);
    check_path(cx, pathname, true)?;
    Ok(0)
}

#[syscall]
pub fn llistxattr(
    cx: &mut SyscallContext<'_>,
    pathname: CStrPtr,
    list: UserBuf,
    size: u64,
) -> SysResult {
    let _ = (list, size);
    check_path(cx, pathname, false)?;
    Ok(0)
}

#[syscall]
pub fn flistxattr(cx: &mut SyscallContext<'_>, fd: Fd, list: UserBuf, size: u64) -> SysResult {
    let _ = (list, size);
    check_fd(cx, fd)?;
    Ok(0)
}

#[syscall]
pub fn setxattr(
    cx: &mut SyscallContext<'_>,
    pathname: CStrPtr,
    name: CStrPtr,
    value: UserBuf,
    size: u64,
    flags: i32,
) -> SysResult {
    let _ = (value, size, flags);
    check_path(cx, pathname, true)?;
    check_name(cx, name)?;
    Err(Errno::EOPNOTSUPP)
}

#[syscall]
pub fn lsetxattr(
    cx: &mut SyscallContext<'_>,
    pathname: CStrPtr,
    name: CStrPtr,
    value: UserBuf,
    size: u64,
    flags: i32,
) -> SysResult {
    let _ = (value, size, flags);
    check_path(cx, pathname, false)?;
    check_name(cx, name)?;
    Err(Errno::EOPNOTSUPP)
}

#[syscall]
pub fn fsetxattr(
    cx: &mut SyscallContext<'_>,
    fd: Fd,
    name: CStrPtr,
    value: UserBuf,
    size: u64,
    flags: i32,
) -> SysResult {
    let _ = (value, size, flags);
    check_fd(cx, fd)?;
    check_name(cx, name)?;
    Err(Errno::EOPNOTSUPP)
}

#[syscall]
pub fn removexattr(cx: &mut SyscallContext<'_>, pathname: CStrPtr, name: CStrPtr) -> SysResult {
    check_path(cx, pathname, true)?;
    check_name(cx, name)?;
    Err(Errno::ENODATA)
}

#[syscall]
pub fn lremovexattr(cx: &mut SyscallContext<'_>, pathname: CStrPtr, name: CStrPtr) -> SysResult {
    check_path(cx, pathname, false)?;
    check_name(cx, name)?;
    Err(Errno::ENODATA)
}

#[syscall]
pub fn fremovexattr(cx: &mut SyscallContext<'_>, fd: Fd, name: CStrPtr) -> SysResult {
    check_fd(cx, fd)?;
    check_name(cx, name)?;
    Err(Errno::ENODATA)
}
