//! Memory-management syscalls: decode Linux flag bits into [`crate::mem`] requests. The
//! address-space model and its host realization live in `mem`; this module only translates.

use carrick_macros::syscall;

use crate::linux::{Errno, MadviseAdvice, MmapFlags, MmapProt, MremapFlags, MsyncFlags, OpenFlags};
use std::os::fd::AsFd;

use crate::mem::{Backing, MapRequest, MmError, Placement, Prot, RemapFlags};
use crate::sys::{GuestAddr, SysResult, SyscallContext};
use crate::vfs::{Device, FileKind};

impl From<MmError> for Errno {
    fn from(error: MmError) -> Self {
        match error {
            MmError::NoMemory => Errno::ENOMEM,
            MmError::Invalid => Errno::EINVAL,
            MmError::Exists => Errno::EEXIST,
            MmError::Access => Errno::EACCES,
            MmError::Fault => Errno::EFAULT,
            MmError::Permission => Errno::EPERM,
            MmError::NoDevice => Errno::ENODEV,
        }
    }
}

fn prot_from_linux(prot: MmapProt) -> Prot {
    Prot::new(
        prot.contains(MmapProt::PROT_READ),
        prot.contains(MmapProt::PROT_WRITE),
        prot.contains(MmapProt::PROT_EXEC),
    )
}

#[syscall]
pub fn brk(cx: &mut SyscallContext<'_>, brk: GuestAddr) -> SysResult {
    Ok(cx.mem().brk(brk.0))
}

#[syscall]
pub fn mmap(
    cx: &mut SyscallContext<'_>,
    addr: GuestAddr,
    len: u64,
    prot: MmapProt,
    flags: MmapFlags,
    fd: i32,
    off: i64,
) -> SysResult {
    // arm64 rejects an offset that is not page aligned before it looks at anything else,
    // even for anonymous mappings, which ignore the offset.
    if off.rem_euclid(crate::mem::PAGE_SIZE as i64) != 0 {
        return Err(Errno::EINVAL);
    }
    let map_type = flags & MmapFlags::MAP_TYPE;
    let shared = match map_type {
        MmapFlags::MAP_PRIVATE => false,
        MmapFlags::MAP_SHARED | MmapFlags::MAP_SHARED_VALIDATE => true,
        _ => return Err(Errno::EINVAL),
    };
    let placement = if flags.contains(MmapFlags::MAP_FIXED_NOREPLACE) {
        Placement::FixedNoReplace
    } else if flags.contains(MmapFlags::MAP_FIXED) {
        Placement::FixedReplace
    } else {
        Placement::Hint
    };
    let offset = u64::try_from(off).map_err(|_| Errno::EINVAL)?;
    let request = |backing| MapRequest {
        addr: addr.0,
        len,
        prot: prot_from_linux(prot),
        placement,
        backing,
        grows_down: flags.contains(MmapFlags::MAP_GROWSDOWN),
    };

    if flags.contains(MmapFlags::MAP_ANONYMOUS) {
        let backing = if shared {
            Backing::AnonShared
        } else {
            Backing::AnonPrivate
        };
        return Ok(cx.mem().mmap(request(backing))?);
    }

    let vfs = crate::sys::files::vfs(cx)?;
    let file = vfs.file(fd)?;
    // The kernel requires read access for any file mapping, and write access for a shared
    // writable one.
    let access = OpenFlags(file.status()) & OpenFlags::O_ACCMODE;
    if access == OpenFlags::O_WRONLY {
        return Err(Errno::EACCES);
    }
    if shared && prot.contains(MmapProt::PROT_WRITE) && access != OpenFlags::O_RDWR {
        return Err(Errno::EACCES);
    }
    let host_fd = match &file.kind {
        FileKind::Host(host_fd) => host_fd.as_fd(),
        // /dev/zero maps as anonymous memory, as Linux does.
        FileKind::Device(Device::Zero) => {
            let backing = if shared {
                Backing::AnonShared
            } else {
                Backing::AnonPrivate
            };
            return Ok(cx.mem().mmap(request(backing))?);
        }
        FileKind::Directory { .. } | FileKind::Snapshot { .. } | FileKind::Device(_) => {
            return Err(Errno::ENODEV)
        }
    };
    let path = file.path.as_ref().map_or(&b""[..], |path| path.as_bytes());
    let backing = Backing::File {
        fd: host_fd,
        offset,
        shared,
        path,
    };
    Ok(cx.mem().mmap(request(backing))?)
}

#[syscall]
pub fn munmap(cx: &mut SyscallContext<'_>, addr: GuestAddr, len: u64) -> SysResult {
    cx.mem().munmap(addr.0, len)?;
    Ok(0)
}

#[syscall]
pub fn mprotect(
    cx: &mut SyscallContext<'_>,
    start: GuestAddr,
    len: u64,
    prot: MmapProt,
) -> SysResult {
    // Linux's arm64 mprotect rejects bits it does not know, PROT_MTE on a CPU without MTE
    // (carrick reports none) and both growth directions at once, and then changes nothing.
    let grows = MmapProt::PROT_GROWSDOWN.bits() | MmapProt::PROT_GROWSUP.bits();
    if prot.unknown_bits() != 0 || prot.contains(MmapProt::PROT_MTE) || prot.bits() & grows == grows
    {
        return Err(Errno::EINVAL);
    }

    cx.mem().mprotect(start.0, len, prot_from_linux(prot))?;
    Ok(0)
}

#[syscall]
pub fn mremap(
    cx: &mut SyscallContext<'_>,
    addr: GuestAddr,
    old_len: u64,
    new_len: u64,
    flags: MremapFlags,
    new_addr: GuestAddr,
) -> SysResult {
    let fixed = flags
        .contains(MremapFlags::MREMAP_FIXED)
        .then_some(new_addr.0);
    let remap = RemapFlags {
        may_move: flags.contains(MremapFlags::MREMAP_MAYMOVE),
        fixed,
        dont_unmap: flags.contains(MremapFlags::MREMAP_DONTUNMAP),
    };
    Ok(cx.mem().mremap(addr.0, old_len, new_len, remap)?)
}

#[syscall]
pub fn madvise(
    cx: &mut SyscallContext<'_>,
    start: GuestAddr,
    len_in: u64,
    behavior: MadviseAdvice,
) -> SysResult {
    match behavior {
        MadviseAdvice::MADV_DONTNEED => {
            cx.mem().madvise_dontneed(start.0, len_in)?;
            Ok(0)
        }
        // Hints about access patterns and page reclaim change no guest-visible state.
        MadviseAdvice::MADV_NORMAL
        | MadviseAdvice::MADV_RANDOM
        | MadviseAdvice::MADV_SEQUENTIAL
        | MadviseAdvice::MADV_WILLNEED
        | MadviseAdvice::MADV_FREE
        | MadviseAdvice::MADV_HUGEPAGE
        | MadviseAdvice::MADV_NOHUGEPAGE
        | MadviseAdvice::MADV_DONTFORK
        | MadviseAdvice::MADV_DOFORK
        | MadviseAdvice::MADV_DONTDUMP
        | MadviseAdvice::MADV_DODUMP
        | MadviseAdvice::MADV_COLD
        | MadviseAdvice::MADV_PAGEOUT => Ok(0),
        _ => Err(Errno::EINVAL),
    }
}

#[syscall]
pub fn mincore(
    cx: &mut SyscallContext<'_>,
    start: GuestAddr,
    len: u64,
    vec: GuestAddr,
) -> SysResult {
    const PAGES_PER_CHUNK: u64 = 4096;
    if start.0 % crate::mem::PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    let pages = len.div_ceil(crate::mem::PAGE_SIZE);
    let mut chunk = Vec::new();
    let mut done = 0;
    while done < pages {
        let count = (pages - done).min(PAGES_PER_CHUNK);
        chunk.resize(count as usize, 0);
        let addr = done
            .checked_mul(crate::mem::PAGE_SIZE)
            .and_then(|offset| start.0.checked_add(offset))
            .ok_or(Errno::ENOMEM)?;
        cx.mem().residency(addr, &mut chunk)?;
        let out = vec.0.checked_add(done).ok_or(Errno::EFAULT)?;
        cx.mem().write(out, &chunk).map_err(|_| Errno::EFAULT)?;
        done += count;
    }
    Ok(0)
}

#[syscall]
pub fn msync(
    cx: &mut SyscallContext<'_>,
    start: GuestAddr,
    len: u64,
    flags: MsyncFlags,
) -> SysResult {
    if flags.contains(MsyncFlags::MS_ASYNC) && flags.contains(MsyncFlags::MS_SYNC) {
        return Err(Errno::EINVAL);
    }
    if start.0 % crate::mem::PAGE_SIZE != 0 {
        return Err(Errno::EINVAL);
    }
    if len != 0 && !cx.mem().is_mapped(start.0, len) {
        return Err(Errno::ENOMEM);
    }
    // Shared file mappings are host MAP_SHARED mappings of the same file, so the host page
    // cache already holds the guest's writes.
    Ok(0)
}

#[syscall]
pub fn mlock(cx: &mut SyscallContext<'_>, start: GuestAddr, len: u64) -> SysResult {
    // Guest memory is never paged out by carrick, so locking only checks the range.
    if len != 0 && !cx.mem().is_mapped(start.0, len) {
        return Err(Errno::ENOMEM);
    }
    Ok(0)
}

#[syscall]
pub fn munlock(cx: &mut SyscallContext<'_>, start: GuestAddr, len: u64) -> SysResult {
    if len != 0 && !cx.mem().is_mapped(start.0, len) {
        return Err(Errno::ENOMEM);
    }
    Ok(0)
}
