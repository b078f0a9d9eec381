//! TEMPORARY syscall handling, so the machine can be tested before the generated dispatcher
//! in `crate::sys` exists. It passes file descriptors and paths straight to the host (no
//! container root, no fd table) and hard-codes Linux numbers; the lead replaces this file
//! with `crate::sys::dispatch`.

use std::ffi::CString;

use crate::backend::Registers;
use crate::mem::{Backing, MapRequest, MmError, Placement, Prot, RemapFlags};

use super::{Exit, Process, Thread};

/// What a syscall handler can reach (the shape `crate::sys::SyscallContext` will have).
pub struct SyscallContext<'a> {
    /// The calling process.
    pub process: &'a Process,
    /// The calling thread.
    pub thread: &'a mut Thread,
    /// The calling thread's registers.
    pub regs: &'a mut dyn Registers,
}

// TEMPORARY: Linux arm64 (asm-generic) syscall numbers, errno values and flag bits.
mod nr {
    pub const IOCTL: u64 = 29;
    pub const OPENAT: u64 = 56;
    pub const CLOSE: u64 = 57;
    pub const READ: u64 = 63;
    pub const WRITE: u64 = 64;
    pub const WRITEV: u64 = 66;
    pub const EXIT: u64 = 93;
    pub const EXIT_GROUP: u64 = 94;
    pub const SET_TID_ADDRESS: u64 = 96;
    pub const SET_ROBUST_LIST: u64 = 99;
    pub const RT_SIGACTION: u64 = 134;
    pub const RT_SIGPROCMASK: u64 = 135;
    pub const UNAME: u64 = 160;
    pub const GETPID: u64 = 172;
    pub const GETPPID: u64 = 173;
    pub const GETUID: u64 = 174;
    pub const GETEUID: u64 = 175;
    pub const GETGID: u64 = 176;
    pub const GETEGID: u64 = 177;
    pub const GETTID: u64 = 178;
    pub const BRK: u64 = 214;
    pub const MUNMAP: u64 = 215;
    pub const MREMAP: u64 = 216;
    pub const MMAP: u64 = 222;
    pub const MPROTECT: u64 = 226;
    pub const MADVISE: u64 = 233;
}

mod errno {
    pub const EPERM: i64 = 1;
    pub const ENOENT: i64 = 2;
    pub const EBADF: i64 = 9;
    pub const ENOMEM: i64 = 12;
    pub const EACCES: i64 = 13;
    pub const EFAULT: i64 = 14;
    pub const EEXIST: i64 = 17;
    pub const ENODEV: i64 = 19;
    pub const EINVAL: i64 = 22;
    pub const ENOTTY: i64 = 25;
    pub const ENOSYS: i64 = 38;
}

mod flags {
    pub const PROT_READ: u64 = 1;
    pub const PROT_WRITE: u64 = 2;
    pub const PROT_EXEC: u64 = 4;
    pub const MAP_SHARED: u64 = 1;
    pub const MAP_FIXED: u64 = 0x10;
    pub const MAP_ANONYMOUS: u64 = 0x20;
    pub const MAP_GROWSDOWN: u64 = 0x100;
    pub const MAP_FIXED_NOREPLACE: u64 = 0x10_0000;
    pub const MREMAP_MAYMOVE: u64 = 1;
    pub const MREMAP_FIXED: u64 = 2;
    pub const MREMAP_DONTUNMAP: u64 = 4;
    pub const MADV_DONTNEED: u64 = 4;
    pub const AT_FDCWD: i64 = -100;
}

fn mm_errno(error: MmError) -> i64 {
    -match error {
        MmError::NoMemory => errno::ENOMEM,
        MmError::Invalid => errno::EINVAL,
        MmError::Exists => errno::EEXIST,
        MmError::Access => errno::EACCES,
        MmError::Fault => errno::EFAULT,
        MmError::Permission => errno::EPERM,
        MmError::NoDevice => errno::ENODEV,
    }
}

/// Returns `-errno` of the last host call; host and Linux errno agree on x86-64 and arm64
/// for every value the scaffold can produce.
fn host_errno() -> i64 {
    -i64::from(
        std::io::Error::last_os_error()
            .raw_os_error()
            .unwrap_or(libc::EIO),
    )
}

fn decode_prot(bits: u64) -> Prot {
    Prot::new(
        bits & flags::PROT_READ != 0,
        bits & flags::PROT_WRITE != 0,
        bits & flags::PROT_EXEC != 0,
    )
}

/// Services one syscall; returns the value for x0 (negative: -errno).
pub fn dispatch(cx: &mut SyscallContext<'_>, nr: u64, args: [u64; 6]) -> i64 {
    let mem = &cx.process.mem;
    match nr {
        nr::WRITE => write(cx, args[0], args[1], args[2]),
        nr::WRITEV => writev(cx, args[0], args[1], args[2]),
        nr::READ => read(cx, args[0], args[1], args[2]),
        nr::OPENAT => openat(cx, args[0] as i64, args[1], args[2], args[3]),
        // SAFETY: closing a host fd the guest names; the scaffold shares the host fd table.
        nr::CLOSE => result(unsafe { libc::close(args[0] as i32) } as i64),
        nr::EXIT => {
            cx.thread.pending_exit = Some(Exit::Thread(args[0] as i32));
            0
        }
        nr::EXIT_GROUP => {
            cx.thread.pending_exit = Some(Exit::Group(args[0] as i32));
            0
        }
        nr::SET_TID_ADDRESS => {
            cx.thread.clear_child_tid = args[0];
            i64::from(cx.thread.tid)
        }
        nr::SET_ROBUST_LIST | nr::RT_SIGACTION | nr::RT_SIGPROCMASK => 0,
        nr::IOCTL => -errno::ENOTTY,
        nr::UNAME => uname(cx, args[0]),
        nr::GETPID => i64::from(std::process::id()),
        // SAFETY: these id calls take no arguments and cannot fail.
        nr::GETPPID => i64::from(unsafe { libc::getppid() }),
        nr::GETUID => i64::from(unsafe { libc::getuid() }),
        nr::GETEUID => i64::from(unsafe { libc::geteuid() }),
        nr::GETGID => i64::from(unsafe { libc::getgid() }),
        nr::GETEGID => i64::from(unsafe { libc::getegid() }),
        nr::GETTID => i64::from(cx.thread.tid),
        nr::BRK => mem.brk(args[0]) as i64,
        nr::MMAP => mmap(cx, args),
        nr::MUNMAP => mem.munmap(args[0], args[1]).map_or_else(mm_errno, |()| 0),
        nr::MPROTECT => mem
            .mprotect(args[0], args[1], decode_prot(args[2]))
            .map_or_else(mm_errno, |()| 0),
        nr::MREMAP => {
            let remap = RemapFlags {
                may_move: args[3] & flags::MREMAP_MAYMOVE != 0,
                fixed: (args[3] & flags::MREMAP_FIXED != 0).then_some(args[4]),
                dont_unmap: args[3] & flags::MREMAP_DONTUNMAP != 0,
            };
            mem.mremap(args[0], args[1], args[2], remap)
                .map_or_else(mm_errno, |addr| addr as i64)
        }
        nr::MADVISE if args[2] == flags::MADV_DONTNEED => mem
            .madvise_dontneed(args[0], args[1])
            .map_or_else(mm_errno, |()| 0),
        nr::MADVISE => 0,
        _ => {
            tracing::debug!(nr, "scaffold: syscall not implemented");
            -errno::ENOSYS
        }
    }
}

fn result(ret: i64) -> i64 {
    if ret < 0 {
        host_errno()
    } else {
        ret
    }
}

fn write(cx: &mut SyscallContext<'_>, fd: u64, buf: u64, len: u64) -> i64 {
    let mut data = vec![0u8; len.min(1 << 20) as usize];
    if cx.process.mem.read(buf, &mut data).is_err() {
        return -errno::EFAULT;
    }
    let written = crate::backend::blocking(|| {
        // SAFETY: `data` is a live buffer of `data.len()` bytes.
        unsafe { libc::write(fd as i32, data.as_ptr().cast(), data.len()) }
    });
    result(written as i64)
}

fn writev(cx: &mut SyscallContext<'_>, fd: u64, iov: u64, count: u64) -> i64 {
    let mut total = 0i64;
    for i in 0..count.min(1024) {
        let Ok([base, len]) = cx.process.mem.read_obj::<[u64; 2]>(iov + 16 * i) else {
            return -errno::EFAULT;
        };
        let n = write(cx, fd, base, len);
        if n < 0 {
            return if total > 0 { total } else { n };
        }
        total += n;
        if (n as u64) < len {
            break;
        }
    }
    total
}

fn read(cx: &mut SyscallContext<'_>, fd: u64, buf: u64, len: u64) -> i64 {
    let mut data = vec![0u8; len.min(1 << 20) as usize];
    let got = crate::backend::blocking(|| {
        // SAFETY: `data` is a live, writable buffer of `data.len()` bytes.
        unsafe { libc::read(fd as i32, data.as_mut_ptr().cast(), data.len()) }
    });
    if got < 0 {
        return host_errno();
    }
    match cx.process.mem.write(buf, &data[..got as usize]) {
        Ok(()) => got as i64,
        Err(_) => -errno::EFAULT,
    }
}

fn openat(cx: &mut SyscallContext<'_>, dirfd: i64, path: u64, oflags: u64, mode: u64) -> i64 {
    let Ok(path) = cx.process.mem.read_cstr(path, 4096) else {
        return -errno::EFAULT;
    };
    let Ok(path) = CString::new(path) else {
        return -errno::ENOENT;
    };
    if dirfd != flags::AT_FDCWD && !path.as_bytes().starts_with(b"/") {
        return -errno::EBADF;
    }
    // Only the access mode and O_CREAT/O_TRUNC/O_APPEND bits agree between arm64 and x86-64.
    let host_flags = (oflags & 0o3 | oflags & (0o100 | 0o1000 | 0o2000)) as i32 | libc::O_CLOEXEC;
    // SAFETY: `path` is a NUL-terminated string that outlives the call.
    result(i64::from(unsafe {
        libc::open(path.as_ptr(), host_flags, mode as libc::c_uint)
    }))
}

fn uname(cx: &mut SyscallContext<'_>, buf: u64) -> i64 {
    let fields: [&[u8]; 6] = [
        b"Linux", b"carrick", b"6.1.0", b"#1 SMP", b"aarch64", b"(none)",
    ];
    let mut raw = [0u8; 6 * 65];
    for (i, field) in fields.iter().enumerate() {
        raw[i * 65..i * 65 + field.len()].copy_from_slice(field);
    }
    match cx.process.mem.write(buf, &raw) {
        Ok(()) => 0,
        Err(_) => -errno::EFAULT,
    }
}

fn mmap(cx: &mut SyscallContext<'_>, args: [u64; 6]) -> i64 {
    let [addr, len, prot, map_flags, fd, offset] = args;
    let placement = if map_flags & flags::MAP_FIXED_NOREPLACE != 0 {
        Placement::FixedNoReplace
    } else if map_flags & flags::MAP_FIXED != 0 {
        Placement::FixedReplace
    } else {
        Placement::Hint
    };
    let shared = map_flags & flags::MAP_SHARED != 0;
    let host_fd;
    let backing = if map_flags & flags::MAP_ANONYMOUS != 0 {
        if shared {
            Backing::AnonShared
        } else {
            Backing::AnonPrivate
        }
    } else {
        if (fd as i32) < 0 {
            return -errno::EBADF;
        }
        // SAFETY: the guest names a host fd it opened; it stays open for this call.
        host_fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd as i32) };
        Backing::File {
            fd: host_fd,
            offset,
            shared,
            path: b"",
        }
    };
    let request = MapRequest {
        addr,
        len,
        prot: decode_prot(prot),
        placement,
        backing,
        grows_down: map_flags & flags::MAP_GROWSDOWN != 0,
    };
    cx.process
        .mem
        .mmap(request)
        .map_or_else(mm_errno, |addr| addr as i64)
}
