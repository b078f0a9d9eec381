//! The host side of guest memory: one `PROT_NONE` reservation that covers the whole guest
//! address space, and the host `mmap`/`mprotect`/`mremap`/`madvise` calls that give parts of
//! it real pages. Guest address `g` lives at host address `base + g`.

use std::io;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::ptr::NonNull;

use super::Prot;

/// Smallest anonymous mapping the host is asked to back with transparent huge pages.
const HUGE_PAGE_SIZE: u64 = 2 << 20;

/// An address-space-sized range of host virtual memory that belongs to one guest.
#[derive(Debug)]
pub struct Reservation {
    base: NonNull<u8>,
    size: u64,
}

// SAFETY: the reservation is plain host memory owned by this value; every access to it goes
// through `GuestMemory`, which serialises changes to the mapping behind its lock.
unsafe impl Send for Reservation {}
// SAFETY: as above; shared references only read `base` and `size`.
unsafe impl Sync for Reservation {}

/// Returns the host protection bits for guest protection `prot`. The host never executes
/// guest code (the CPU backend reads it), so executable pages only need to be readable.
fn host_prot(prot: Prot) -> libc::c_int {
    let mut bits = libc::PROT_NONE;
    if prot.read() || prot.exec() || prot.write() {
        bits |= libc::PROT_READ;
    }
    if prot.write() {
        bits |= libc::PROT_WRITE;
    }
    bits
}

fn check(ret: libc::c_int) -> io::Result<()> {
    if ret == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

fn check_map(ret: *mut libc::c_void) -> io::Result<()> {
    if ret == libc::MAP_FAILED {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

impl Reservation {
    /// Reserves `size` bytes of host address space with no access and no swap accounting.
    pub fn new(size: u64) -> io::Result<Reservation> {
        let len =
            usize::try_from(size).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: a fresh anonymous mapping at an address the kernel picks cannot alias any
        // existing Rust object.
        let ptr = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
                -1,
                0,
            )
        };
        check_map(ptr)?;
        let base = NonNull::new(ptr.cast::<u8>()).ok_or_else(io::Error::last_os_error)?;
        Ok(Reservation { base, size })
    }

    /// Host address of guest address 0.
    pub fn base(&self) -> *mut u8 {
        self.base.as_ptr()
    }

    /// Returns the host pointer of guest address `addr`. The caller keeps `addr` below `size`.
    pub fn host_ptr(&self, addr: u64) -> *mut u8 {
        // `addr < size <= isize::MAX` for every caller, so the offset stays inside the
        // reservation; wrapping_add avoids claiming more than that here.
        self.base.as_ptr().wrapping_add(addr as usize)
    }

    /// Replaces `[addr, addr+len)` with fresh zero pages; `shared` pages survive fork shared.
    pub fn map_anon(&self, addr: u64, len: u64, prot: Prot, shared: bool) -> io::Result<()> {
        let sharing = if shared {
            libc::MAP_SHARED
        } else {
            libc::MAP_PRIVATE
        };
        // SAFETY: the range lies inside the reservation, which no Rust reference points into;
        // MAP_FIXED only replaces pages this reservation owns.
        let ptr = unsafe {
            libc::mmap(
                self.host_ptr(addr).cast(),
                len as usize,
                host_prot(prot),
                sharing | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        check_map(ptr)?;
        if len >= HUGE_PAGE_SIZE {
            self.advise_huge_pages(addr, len);
        }
        Ok(())
    }

    /// Asks the host to back `[addr, addr+len)` with transparent huge pages where it can.
    /// The emulated CPU's random accesses to large arrays otherwise miss the host TLB on
    /// nearly every access (hosts often only honour THP on request, `madvise` mode).
    fn advise_huge_pages(&self, addr: u64, len: u64) {
        // SAFETY: the range lies inside the reservation and is mapped; madvise only changes
        // how the kernel backs it, never its contents.
        let ret = unsafe {
            libc::madvise(
                self.host_ptr(addr).cast(),
                len as usize,
                libc::MADV_HUGEPAGE,
            )
        };
        if ret != 0 {
            tracing::debug!(addr, len, error = %io::Error::last_os_error(), "MADV_HUGEPAGE failed");
        }
    }

    /// Replaces `[addr, addr+len)` with a host mapping of `fd` at `offset`.
    pub fn map_file(
        &self,
        addr: u64,
        len: u64,
        prot: Prot,
        shared: bool,
        fd: BorrowedFd<'_>,
        offset: u64,
    ) -> io::Result<()> {
        let sharing = if shared {
            libc::MAP_SHARED
        } else {
            libc::MAP_PRIVATE
        };
        let offset = libc::off_t::try_from(offset)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        // SAFETY: as in `map_anon`; the fd is borrowed for the duration of the call and the
        // kernel keeps its own reference to the file.
        let ptr = unsafe {
            libc::mmap(
                self.host_ptr(addr).cast(),
                len as usize,
                host_prot(prot),
                sharing | libc::MAP_FIXED,
                fd.as_raw_fd(),
                offset,
            )
        };
        check_map(ptr)
    }

    /// Returns `[addr, addr+len)` to the reservation: no access, no backing pages.
    pub fn unmap(&self, addr: u64, len: u64) -> io::Result<()> {
        // SAFETY: as in `map_anon`.
        let ptr = unsafe {
            libc::mmap(
                self.host_ptr(addr).cast(),
                len as usize,
                libc::PROT_NONE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE | libc::MAP_FIXED,
                -1,
                0,
            )
        };
        check_map(ptr)
    }

    /// Changes the host protection of `[addr, addr+len)` to match guest protection `prot`.
    pub fn protect(&self, addr: u64, len: u64, prot: Prot) -> io::Result<()> {
        // SAFETY: the range lies inside the reservation; no Rust reference points into it.
        check(unsafe { libc::mprotect(self.host_ptr(addr).cast(), len as usize, host_prot(prot)) })
    }

    /// Moves the pages of `[from, from+old_len)` to `to`, growing them to `new_len`, and
    /// re-reserves the source range unless `keep_source` (MREMAP_DONTUNMAP) is set.
    pub fn move_pages(
        &self,
        from: u64,
        old_len: u64,
        to: u64,
        new_len: u64,
        keep_source: bool,
    ) -> io::Result<()> {
        let mut flags = libc::MREMAP_MAYMOVE | libc::MREMAP_FIXED;
        if keep_source {
            flags |= libc::MREMAP_DONTUNMAP;
        }
        // SAFETY: both ranges lie inside the reservation and do not overlap (the caller picked
        // a free destination); no Rust reference points into either.
        let ptr = unsafe {
            libc::mremap(
                self.host_ptr(from).cast(),
                old_len as usize,
                new_len as usize,
                flags,
                self.host_ptr(to).cast::<libc::c_void>(),
            )
        };
        check_map(ptr)?;
        if keep_source {
            return Ok(());
        }
        // NOTE: between the host mremap and this call the source range is a hole in the
        // reservation, so a host mmap in another supervisor thread could land there.
        self.unmap(from, old_len)
    }

    /// Drops the pages of `[addr, addr+len)`: private anonymous pages read back as zero,
    /// private file pages as the file's contents.
    pub fn discard(&self, addr: u64, len: u64) -> io::Result<()> {
        // SAFETY: the range lies inside the reservation; no Rust reference points into it.
        check(unsafe {
            libc::madvise(
                self.host_ptr(addr).cast(),
                len as usize,
                libc::MADV_DONTNEED,
            )
        })
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        // SAFETY: the reservation owns this range and nothing borrows it once it is dropped.
        unsafe {
            libc::munmap(self.base.as_ptr().cast(), self.size as usize);
        }
    }
}
