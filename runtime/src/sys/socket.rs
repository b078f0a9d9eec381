//! Socket syscalls. carrick has no sockets of its own yet, so these handlers only return the
//! errors Linux returns for descriptors that are not sockets. Programs such as bash call
//! `getpeername` on stdin to learn whether a network daemon started them. They treat any
//! error other than `ENOTSOCK`, `ENOTCONN`, `EINVAL` or `EBADF` as "yes".

use carrick_macros::syscall;

use super::files::vfs;
use super::{Fd, GuestAddr, SysResult, SyscallContext, UserPtr};
use crate::linux::Errno;
use crate::vfs::{host, FileType};

/// Fails with `EBADF` for a closed fd and `ENOTSOCK` for anything but a host socket, the
/// checks Linux makes before it looks at the address arguments. A host socket (one the
/// guest inherited, such as stdin under a network daemon) gets `ENOSYS`.
fn reject_non_socket(cx: &SyscallContext<'_>, fd: Fd) -> SysResult {
    let file = vfs(cx)?.file(fd.0)?;
    let Some(host_fd) = file.host_fd() else {
        return Err(Errno::ENOTSOCK);
    };
    let stat = host::fstat(host_fd).map_err(|_| Errno::ENOTSOCK)?;
    if FileType::from_mode(stat.mode) == FileType::Socket {
        return Err(Errno::ENOSYS);
    }
    Err(Errno::ENOTSOCK)
}

#[syscall]
pub fn getsockname(
    cx: &mut SyscallContext<'_>,
    fd: Fd,
    _usockaddr: GuestAddr,
    _usockaddr_len: UserPtr<u32>,
) -> SysResult {
    reject_non_socket(cx, fd)
}

#[syscall]
pub fn getpeername(
    cx: &mut SyscallContext<'_>,
    fd: Fd,
    _usockaddr: GuestAddr,
    _usockaddr_len: UserPtr<u32>,
) -> SysResult {
    reject_non_socket(cx, fd)
}
