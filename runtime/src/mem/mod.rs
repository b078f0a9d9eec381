//! Guest memory: one guest address space, shared by all threads of a guest process.
//!
//! Guest memory is plain host memory. [`GuestMemory::new`] reserves the whole guest address
//! space (1 TiB) as one inaccessible host mapping, and guest address `g` lives at host
//! address `base + g`. `mmap` replaces parts of the reservation with real anonymous or file
//! mappings, so `MAP_SHARED` stays shared and a host `fork` gives a copy-on-write copy.
//!
//! The region model in [`space`] is the truth: every access the supervisor makes goes through
//! [`GuestMemory::read`]/[`GuestMemory::write`] and friends, which check the range and the
//! guest permissions and return [`Fault`] rather than touching an unmapped host page. CPU
//! backends ask [`GuestMemory::translate`] for each page and watch [`GuestMemory::epochs`] to
//! learn when cached translations or translated code must be dropped.

mod host;
pub mod space;

use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard};

use space::{page_align_down, page_align_up, RegionMap};
pub use space::{Region, RegionBacking, RegionName};

/// Guest page size in bytes (Linux arm64 with 4 KiB pages).
pub const PAGE_SIZE: u64 = 4096;
/// One past the highest guest address: the guest address space is `[0, 1 TiB)`.
pub const GUEST_LIMIT: u64 = 1 << 40;

/// End of the user address space of Linux on arm64 with 48-bit virtual addresses
/// (TASK_SIZE). Calls that take a range accept any range below it, though carrick maps
/// nothing at or above [`GUEST_LIMIT`].
pub const LINUX_TASK_SIZE: u64 = 1 << 48;
/// Lowest address the guest may map; `[0, 64 KiB)` stays unmapped to catch null pointers.
pub const MIN_GUEST_ADDR: u64 = 64 * 1024;
/// Top of the area searched (top-down) for mappings without a usable address hint. The
/// 4 GiB above it are kept for the main thread's stack.
pub const MMAP_TOP: u64 = GUEST_LIMIT - (4 << 30);

/// Plain old data: a type that may be copied to and from guest memory as raw bytes.
///
/// # Safety
/// Every bit pattern of `size_of::<T>()` bytes must be a valid `T`, and `T` must have no
/// padding whose contents matter (reading it back may yield any bytes).
pub unsafe trait Pod: Copy + 'static {}

macro_rules! impl_pod {
    ($($ty:ty),*) => { $(
        // SAFETY: integer types accept every bit pattern and have no padding.
        unsafe impl Pod for $ty {}
    )* };
}
impl_pod!(u8, u16, u32, u64, u128, i8, i16, i32, i64, i128, usize, isize);
// SAFETY: an array of Pod values is Pod: its elements are laid out without padding between.
unsafe impl<T: Pod, const N: usize> Pod for [T; N] {}

/// Guest page protection (a subset of read, write, execute).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Prot(u8);

impl Prot {
    /// No access.
    pub const NONE: Prot = Prot(0);
    /// Readable.
    pub const READ: Prot = Prot(1);
    /// Writable.
    pub const WRITE: Prot = Prot(2);
    /// Executable.
    pub const EXEC: Prot = Prot(4);
    /// Readable and writable.
    pub const RW: Prot = Prot(3);
    /// Readable and executable.
    pub const RX: Prot = Prot(5);

    /// Builds a protection from its three permissions.
    pub const fn new(read: bool, write: bool, exec: bool) -> Prot {
        Prot(read as u8 | (write as u8) << 1 | (exec as u8) << 2)
    }

    /// Reports whether the pages are readable.
    pub const fn read(self) -> bool {
        self.0 & 1 != 0
    }

    /// Reports whether the pages are writable.
    pub const fn write(self) -> bool {
        self.0 & 2 != 0
    }

    /// Reports whether the pages are executable.
    pub const fn exec(self) -> bool {
        self.0 & 4 != 0
    }

    /// Reports whether every permission in `needed` is present.
    pub const fn allows(self, needed: Prot) -> bool {
        self.0 & needed.0 == needed.0
    }

    /// Returns the `rwx` letters /proc/self/maps shows (without the sharing letter).
    pub fn letters(self) -> [u8; 3] {
        [
            if self.read() { b'r' } else { b'-' },
            if self.write() { b'w' } else { b'-' },
            if self.exec() { b'x' } else { b'-' },
        ]
    }
}

/// The kind of memory access that faulted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    /// A load.
    Read,
    /// A store.
    Write,
    /// An instruction fetch.
    Execute,
}

impl Access {
    fn needed(self) -> Prot {
        match self {
            Access::Read => Prot::READ,
            Access::Write => Prot::WRITE,
            Access::Execute => Prot::EXEC,
        }
    }
}

/// A guest memory access that hit an unmapped page or lacked permission (EFAULT).
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("bad guest address {addr:#x} ({access:?})")]
pub struct Fault {
    /// The first guest address that could not be accessed.
    pub addr: u64,
    /// The access that was attempted.
    pub access: Access,
}

/// Failure to read a NUL-terminated guest string.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CStrError {
    /// Part of the string is not readable (EFAULT).
    #[error(transparent)]
    Fault(#[from] Fault),
    /// No NUL byte within the allowed length (ENAMETOOLONG or E2BIG, depending on the caller).
    #[error("guest string longer than {0} bytes")]
    TooLong(usize),
}

/// Failure of a memory-management request; each variant is one Linux errno.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum MmError {
    /// No room in the address space, range not mapped, or host out of memory (ENOMEM).
    #[error("out of guest address space or memory")]
    NoMemory,
    /// Misaligned address, zero length or an invalid combination of options (EINVAL).
    #[error("invalid memory-management request")]
    Invalid,
    /// MAP_FIXED_NOREPLACE over an existing mapping (EEXIST).
    #[error("range already mapped")]
    Exists,
    /// The file's open mode does not allow the requested protection (EACCES).
    #[error("file access mode does not permit this mapping")]
    Access,
    /// The range is not a single mapping where one is required (EFAULT).
    #[error("bad address range")]
    Fault,
    /// A fixed mapping below the 64 KiB null guard (EPERM).
    #[error("address below the minimum mappable address")]
    Permission,
    /// The file type cannot be memory-mapped (ENODEV).
    #[error("file cannot be memory-mapped")]
    NoDevice,
}

impl MmError {
    fn from_host(error: io::Error) -> MmError {
        match error.raw_os_error() {
            Some(libc::EACCES) | Some(libc::EPERM) => MmError::Access,
            Some(libc::ENODEV) => MmError::NoDevice,
            Some(libc::EINVAL) => MmError::Invalid,
            _ => MmError::NoMemory,
        }
    }
}

/// The placement rule of a new mapping (the MAP_FIXED family, decoded).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Placement {
    /// `addr` is a hint; any free range is acceptable.
    Hint,
    /// MAP_FIXED: exactly at `addr`, replacing whatever is mapped there.
    FixedReplace,
    /// MAP_FIXED_NOREPLACE: exactly at `addr`, failing with EEXIST if anything is mapped.
    FixedNoReplace,
}

/// What the pages of a new mapping come from.
#[derive(Clone, Copy, Debug)]
pub enum Backing<'a> {
    /// MAP_PRIVATE | MAP_ANONYMOUS.
    AnonPrivate,
    /// MAP_SHARED | MAP_ANONYMOUS.
    AnonShared,
    /// A file. `path` is the guest's name for it, shown in /proc/self/maps.
    File {
        /// The host file.
        fd: BorrowedFd<'a>,
        /// File offset (must be page-aligned).
        offset: u64,
        /// MAP_SHARED rather than MAP_PRIVATE.
        shared: bool,
        /// Guest path of the file.
        path: &'a [u8],
    },
}

/// An `mmap` request, decoded from Linux flags by the syscall handler.
#[derive(Clone, Copy, Debug)]
pub struct MapRequest<'a> {
    /// Requested address (a hint unless the placement is fixed).
    pub addr: u64,
    /// Length in bytes; rounded up to whole pages.
    pub len: u64,
    /// Guest protection.
    pub prot: Prot,
    /// How `addr` is interpreted.
    pub placement: Placement,
    /// Where the pages come from.
    pub backing: Backing<'a>,
    /// MAP_GROWSDOWN.
    pub grows_down: bool,
}

impl<'a> MapRequest<'a> {
    /// Builds a request for private anonymous memory at any address.
    pub fn anon(len: u64, prot: Prot) -> MapRequest<'a> {
        MapRequest {
            addr: 0,
            len,
            prot,
            placement: Placement::Hint,
            backing: Backing::AnonPrivate,
            grows_down: false,
        }
    }
}

/// The options of an `mremap` request.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct RemapFlags {
    /// MREMAP_MAYMOVE: the mapping may move if it cannot grow in place.
    pub may_move: bool,
    /// MREMAP_FIXED with its new address.
    pub fixed: Option<u64>,
    /// MREMAP_DONTUNMAP: leave the old range mapped (zero-filled) after moving.
    pub dont_unmap: bool,
}

/// One line of /proc/self/maps.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegionInfo {
    /// First address.
    pub start: u64,
    /// One past the last address.
    pub end: u64,
    /// Guest protection.
    pub prot: Prot,
    /// Whether the mapping is shared (`s`) rather than private (`p`).
    pub shared: bool,
    /// File offset of `start` (0 for anonymous memory).
    pub offset: u64,
    /// Host device number of the file (0 for anonymous memory).
    pub dev: u64,
    /// Host inode number of the file (0 for anonymous memory).
    pub inode: u64,
    /// The name in the last column.
    pub name: RegionName,
}

/// Counters that CPU backends compare against the values they last saw.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epochs {
    /// Bumped when a translation may have been removed or lost a permission.
    pub tlb: u64,
    /// Bumped when pages that were or are executable changed, so translated code is stale.
    pub code: u64,
}

struct Brk {
    /// Start of the heap (end of the executable's highest segment, page-aligned).
    start: u64,
    /// Current break as the guest set it (not page-aligned).
    current: u64,
}

struct State {
    map: RegionMap,
    brk: Brk,
}

/// One guest address space. `Send + Sync`; cloning returns another handle to the same
/// address space (each vCPU keeps one), and the reservation is released with the last handle.
#[derive(Clone)]
pub struct GuestMemory {
    inner: Arc<Inner>,
}

struct Inner {
    host: host::Reservation,
    state: RwLock<State>,
    tlb_epoch: AtomicU64,
    code_epoch: AtomicU64,
}

impl std::fmt::Debug for GuestMemory {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GuestMemory")
            .field("base", &self.inner.host.base())
            .finish()
    }
}

impl GuestMemory {
    /// Reserves a fresh, empty guest address space.
    pub fn new() -> io::Result<GuestMemory> {
        let inner = Inner {
            host: host::Reservation::new(GUEST_LIMIT)?,
            state: RwLock::new(State {
                map: RegionMap::default(),
                brk: Brk {
                    start: 0,
                    current: 0,
                },
            }),
            tlb_epoch: AtomicU64::new(0),
            code_epoch: AtomicU64::new(0),
        };
        Ok(GuestMemory {
            inner: Arc::new(inner),
        })
    }

    /// Host address of guest address 0; a backend maps `[base, base + GUEST_LIMIT)` as the
    /// guest's physical memory. Only touch pages that [`GuestMemory::translate`] allows.
    pub fn host_base(&self) -> *mut u8 {
        self.inner.host.base()
    }

    fn state(&self) -> RwLockReadGuard<'_, State> {
        // A poisoned lock means a supervisor thread panicked mid-update; the model is still
        // structurally valid (each update is a few map operations), so keep going.
        self.inner
            .state
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn state_mut(&self) -> RwLockWriteGuard<'_, State> {
        self.inner
            .state
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Returns the protection of the page containing `addr`, or `None` if it is unmapped.
    pub fn translate(&self, addr: u64) -> Option<Prot> {
        self.state().map.find(addr).map(|region| region.prot)
    }

    /// Returns the current invalidation counters.
    pub fn epochs(&self) -> Epochs {
        Epochs {
            tlb: self.inner.tlb_epoch.load(Ordering::Acquire),
            code: self.inner.code_epoch.load(Ordering::Acquire),
        }
    }

    fn invalidate(&self, removed_exec: bool) {
        self.inner.tlb_epoch.fetch_add(1, Ordering::AcqRel);
        if removed_exec {
            self.inner.code_epoch.fetch_add(1, Ordering::AcqRel);
        }
    }

    /// Checks that `[addr, addr+len)` is mapped with `access` permission in `map`.
    fn check_range(map: &RegionMap, addr: u64, len: usize, access: Access) -> Result<(), Fault> {
        let fault = |at: u64| Fault { addr: at, access };
        let end = addr
            .checked_add(len as u64)
            .filter(|&end| end <= GUEST_LIMIT);
        let Some(end) = end else {
            return Err(fault(addr.max(GUEST_LIMIT)));
        };
        let mut cursor = addr;
        while cursor < end {
            let region = map.find(cursor).ok_or(fault(cursor))?;
            if !region.prot.allows(access.needed()) {
                return Err(fault(cursor));
            }
            cursor = region.end;
        }
        Ok(())
    }

    /// Copies guest memory at `addr` into `buf`.
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> Result<(), Fault> {
        let state = self.state();
        Self::check_range(&state.map, addr, buf.len(), Access::Read)?;
        // SAFETY: the range is mapped readable in the model, so the host pages are mapped
        // readable; the lock keeps them mapped during the copy, and `buf` is a Rust buffer
        // that cannot overlap the reservation.
        unsafe {
            std::ptr::copy_nonoverlapping(
                self.inner.host.host_ptr(addr),
                buf.as_mut_ptr(),
                buf.len(),
            );
        }
        Ok(())
    }

    /// Copies `data` into guest memory at `addr`.
    pub fn write(&self, addr: u64, data: &[u8]) -> Result<(), Fault> {
        let state = self.state();
        Self::check_range(&state.map, addr, data.len(), Access::Write)?;
        // SAFETY: as in `read`, with the range mapped writable (host pages writable too).
        unsafe {
            std::ptr::copy_nonoverlapping(
                data.as_ptr(),
                self.inner.host.host_ptr(addr),
                data.len(),
            );
        }
        Ok(())
    }

    /// Fills `[addr, addr+len)` with zero bytes.
    pub fn zero(&self, addr: u64, len: u64) -> Result<(), Fault> {
        let state = self.state();
        let size = usize::try_from(len).map_err(|_| Fault {
            addr,
            access: Access::Write,
        })?;
        Self::check_range(&state.map, addr, size, Access::Write)?;
        // SAFETY: as in `write`.
        unsafe {
            std::ptr::write_bytes(self.inner.host.host_ptr(addr), 0, size);
        }
        Ok(())
    }

    /// Reads a `T` from guest address `addr` (no alignment required).
    pub fn read_obj<T: Pod>(&self, addr: u64) -> Result<T, Fault> {
        let mut value = MaybeUninit::<T>::uninit();
        // SAFETY: the slice covers exactly the value's bytes, which `read` fully overwrites
        // before `assume_init`; `T: Pod` accepts any bytes.
        unsafe {
            let bytes = std::slice::from_raw_parts_mut(
                value.as_mut_ptr().cast::<u8>(),
                std::mem::size_of::<T>(),
            );
            self.read(addr, bytes)?;
            Ok(value.assume_init())
        }
    }

    /// Writes `value` to guest address `addr` (no alignment required).
    pub fn write_obj<T: Pod>(&self, addr: u64, value: &T) -> Result<(), Fault> {
        // SAFETY: `T: Pod` has no padding that would expose uninitialised bytes.
        let bytes = unsafe {
            std::slice::from_raw_parts((value as *const T).cast::<u8>(), std::mem::size_of::<T>())
        };
        self.write(addr, bytes)
    }

    /// Reads a NUL-terminated string of at most `max_len` bytes (NUL excluded) from `addr`.
    pub fn read_cstr(&self, addr: u64, max_len: usize) -> Result<Vec<u8>, CStrError> {
        let mut out = Vec::new();
        let mut cursor = addr;
        loop {
            // Addresses at or above the guest limit are never mapped; checking first also keeps
            // the page arithmetic below from overflowing on a pointer near 2^64.
            if cursor >= GUEST_LIMIT {
                return Err(CStrError::Fault(Fault {
                    addr: cursor,
                    access: Access::Read,
                }));
            }
            // Read up to the end of the current page, so a string that ends just before an
            // unmapped page is not reported as a fault.
            let page_end = page_align_down(cursor) + PAGE_SIZE;
            let chunk = (page_end - cursor).min((max_len + 1 - out.len()) as u64) as usize;
            let mut buf = [0u8; PAGE_SIZE as usize];
            self.read(cursor, &mut buf[..chunk])?;
            if let Some(nul) = buf[..chunk].iter().position(|&b| b == 0) {
                out.extend_from_slice(&buf[..nul]);
                return Ok(out);
            }
            out.extend_from_slice(&buf[..chunk]);
            if out.len() > max_len {
                return Err(CStrError::TooLong(max_len));
            }
            cursor += chunk as u64;
        }
    }

    /// Maps memory as `mmap` does and returns the chosen guest address.
    pub fn mmap(&self, request: MapRequest<'_>) -> Result<u64, MmError> {
        if request.len == 0 {
            return Err(MmError::Invalid);
        }
        let len = page_align_up(request.len).ok_or(MmError::NoMemory)?;
        if len > GUEST_LIMIT {
            return Err(MmError::NoMemory);
        }
        if let Backing::File { offset, .. } = request.backing {
            if offset % PAGE_SIZE != 0 || offset.checked_add(len).is_none() {
                return Err(MmError::Invalid);
            }
        }

        let mut state = self.state_mut();
        let addr = self.place(&state.map, &request, len)?;
        let region = self.realize(&request, addr, len)?;
        let replaced = state.map.remove(addr, addr + len);
        let had_exec = replaced.iter().any(|region| region.prot.exec());
        state.map.insert(region);
        if !replaced.is_empty() {
            self.invalidate(had_exec);
        }
        Ok(addr)
    }

    /// Picks the address of a new `len`-byte mapping according to the request's placement.
    fn place(&self, map: &RegionMap, request: &MapRequest<'_>, len: u64) -> Result<u64, MmError> {
        let addr = request.addr;
        let fits = |start: u64| {
            start % PAGE_SIZE == 0
                && start >= MIN_GUEST_ADDR
                && start.checked_add(len).is_some_and(|end| end <= GUEST_LIMIT)
        };
        match request.placement {
            Placement::FixedReplace | Placement::FixedNoReplace => {
                if addr % PAGE_SIZE != 0 {
                    return Err(MmError::Invalid);
                }
                if addr < MIN_GUEST_ADDR {
                    return Err(MmError::Permission);
                }
                if !fits(addr) {
                    return Err(MmError::NoMemory);
                }
                if request.placement == Placement::FixedNoReplace && !map.is_free(addr, addr + len)
                {
                    return Err(MmError::Exists);
                }
                Ok(addr)
            }
            Placement::Hint => {
                let hint = page_align_down(addr);
                if hint != 0 && fits(hint) && map.is_free(hint, hint + len) {
                    return Ok(hint);
                }
                map.find_free_top_down(len, MIN_GUEST_ADDR, MMAP_TOP)
                    .ok_or(MmError::NoMemory)
            }
        }
    }

    /// Creates the host pages of a new mapping at `addr` and returns its region record.
    fn realize(&self, request: &MapRequest<'_>, addr: u64, len: u64) -> Result<Region, MmError> {
        let (backing, name) = match request.backing {
            Backing::AnonPrivate | Backing::AnonShared => {
                let shared = matches!(request.backing, Backing::AnonShared);
                self.inner
                    .host
                    .map_anon(addr, len, request.prot, shared)
                    .map_err(MmError::from_host)?;
                let backing = if shared {
                    RegionBacking::AnonShared
                } else {
                    RegionBacking::AnonPrivate
                };
                (backing, RegionName::None)
            }
            Backing::File {
                fd,
                offset,
                shared,
                path,
            } => {
                let (dev, inode, writable_file) = file_identity(fd)?;
                if shared && request.prot.write() && !writable_file {
                    return Err(MmError::Access);
                }
                self.inner
                    .host
                    .map_file(addr, len, request.prot, shared, fd, offset)
                    .map_err(MmError::from_host)?;
                let backing = RegionBacking::File {
                    shared,
                    offset,
                    dev,
                    inode,
                    writable_file,
                };
                (backing, RegionName::Path(path.to_vec()))
            }
        };
        Ok(Region {
            start: addr,
            end: addr + len,
            prot: request.prot,
            backing,
            name,
            grows_down: request.grows_down,
        })
    }

    /// Validates an `(addr, len)` pair and returns the page-aligned end.
    fn range_end(addr: u64, len: u64) -> Result<u64, MmError> {
        if addr % PAGE_SIZE != 0 {
            return Err(MmError::Invalid);
        }
        let end = addr
            .checked_add(len)
            .and_then(page_align_up)
            .ok_or(MmError::Invalid)?;
        if end > GUEST_LIMIT {
            return Err(MmError::Invalid);
        }
        Ok(end)
    }

    /// Unmaps `[addr, addr+len)` as `munmap` does; unmapped pages inside are not an error.
    pub fn munmap(&self, addr: u64, len: u64) -> Result<(), MmError> {
        if len == 0 || addr % PAGE_SIZE != 0 {
            return Err(MmError::Invalid);
        }
        if addr > LINUX_TASK_SIZE || len > LINUX_TASK_SIZE - addr {
            return Err(MmError::Invalid);
        }
        let end = page_align_up(addr + len)
            .ok_or(MmError::Invalid)?
            .min(GUEST_LIMIT);
        if addr >= end {
            return Ok(());
        }
        let mut state = self.state_mut();
        self.unmap_locked(&mut state, addr, end)
    }

    /// Returns whether every page of `[addr, addr + len)` is mapped, for the calls that fail
    /// with ENOMEM on a hole (msync, mlock). `addr` is rounded down to its page.
    pub fn is_mapped(&self, addr: u64, len: u64) -> bool {
        let start = addr - addr % PAGE_SIZE;
        let Some(end) = addr.checked_add(len).and_then(page_align_up) else {
            return false;
        };
        end <= GUEST_LIMIT && self.state().map.is_covered(start, end)
    }

    fn unmap_locked(&self, state: &mut State, start: u64, end: u64) -> Result<(), MmError> {
        let removed = state.map.remove(start, end);
        if removed.is_empty() {
            return Ok(());
        }
        for region in &removed {
            self.inner
                .host
                .unmap(region.start, region.end - region.start)
                .map_err(MmError::from_host)?;
        }
        self.invalidate(removed.iter().any(|region| region.prot.exec()));
        Ok(())
    }

    /// Changes protection as `mprotect` does. Every page of the range must be mapped.
    pub fn mprotect(&self, addr: u64, len: u64, prot: Prot) -> Result<(), MmError> {
        if addr % PAGE_SIZE != 0 {
            return Err(MmError::Invalid);
        }
        // Linux reports a range that wraps or is not mapped, including one past the address
        // space carrick uses, as ENOMEM.
        let end = addr
            .checked_add(len)
            .and_then(page_align_up)
            .ok_or(MmError::NoMemory)?;
        if end > GUEST_LIMIT {
            return Err(MmError::NoMemory);
        }
        if addr == end {
            return Ok(());
        }
        let mut state = self.state_mut();
        if !state.map.is_covered(addr, end) {
            return Err(MmError::NoMemory);
        }
        let pieces: Vec<Region> = state.map.overlapping(addr, end).cloned().collect();
        for region in &pieces {
            if let RegionBacking::File {
                shared: true,
                writable_file: false,
                ..
            } = region.backing
            {
                if prot.write() {
                    return Err(MmError::Access);
                }
            }
        }
        let code_changed = prot.exec() || pieces.iter().any(|region| region.prot.exec());
        self.inner
            .host
            .protect(addr, end - addr, prot)
            .map_err(MmError::from_host)?;
        state.map.protect(addr, end, prot);
        self.invalidate(code_changed);
        Ok(())
    }

    /// Discards pages as `madvise(MADV_DONTNEED)` does: private anonymous pages read back as
    /// zero afterwards, private file pages as the file's contents.
    pub fn madvise_dontneed(&self, addr: u64, len: u64) -> Result<(), MmError> {
        let end = Self::range_end(addr, len)?;
        let state = self.state();
        if !state.map.is_covered(addr, end) {
            return Err(MmError::NoMemory);
        }
        self.inner
            .host
            .discard(addr, end - addr)
            .map_err(MmError::from_host)
    }

    /// Writes into `out` one byte per page of `[addr, addr + out.len() pages)`, 1 where the
    /// page is resident in host memory and 0 where it is not, as `mincore` reports them.
    /// Fails with `NoMemory` when part of the range is not mapped.
    pub fn residency(&self, addr: u64, out: &mut [u8]) -> Result<(), MmError> {
        let len = (out.len() as u64)
            .checked_mul(PAGE_SIZE)
            .ok_or(MmError::NoMemory)?;
        let end = addr.checked_add(len).ok_or(MmError::NoMemory)?;

        if addr % PAGE_SIZE != 0 {
            return Err(MmError::Invalid);
        }
        if end > GUEST_LIMIT {
            return Err(MmError::NoMemory);
        }
        if len == 0 {
            return Ok(());
        }
        let state = self.state();
        if !state.map.is_covered(addr, end) {
            return Err(MmError::NoMemory);
        }

        // SAFETY: the range is inside the reservation (end <= GUEST_LIMIT), which stays mapped
        // in the host while `self` lives, and mincore writes exactly one byte per page of it
        // into `out`, which has that many bytes.
        let status = unsafe {
            libc::mincore(
                self.inner.host.host_ptr(addr).cast(),
                len as usize,
                out.as_mut_ptr().cast(),
            )
        };
        if status != 0 {
            return Err(MmError::from_host(io::Error::last_os_error()));
        }

        // The host may set bits other than the lowest; Linux reports 0 or 1.
        for byte in out.iter_mut() {
            *byte &= 1;
        }
        Ok(())
    }

    /// Resizes or moves a mapping as `mremap` does and returns its new address.
    pub fn mremap(
        &self,
        old_addr: u64,
        old_len: u64,
        new_len: u64,
        flags: RemapFlags,
    ) -> Result<u64, MmError> {
        if old_addr % PAGE_SIZE != 0 || new_len == 0 {
            return Err(MmError::Invalid);
        }
        if (flags.fixed.is_some() || flags.dont_unmap) && !flags.may_move {
            return Err(MmError::Invalid);
        }
        // NOTE: old_len == 0 (duplicating a shared mapping) is not supported yet.
        if old_len == 0 {
            return Err(MmError::Invalid);
        }
        let old_len = page_align_up(old_len).ok_or(MmError::Invalid)?;
        let new_len = page_align_up(new_len).ok_or(MmError::NoMemory)?;
        let old_end = old_addr.checked_add(old_len).ok_or(MmError::Invalid)?;

        let mut state = self.state_mut();
        let region = state.map.find(old_addr).cloned().ok_or(MmError::Fault)?;
        if old_end > region.end {
            return Err(MmError::Fault);
        }
        if flags.dont_unmap && region.backing != RegionBacking::AnonPrivate {
            return Err(MmError::Invalid);
        }

        if let Some(new_addr) = flags.fixed {
            return self.remap_to(
                &mut state, &region, old_addr, old_len, new_addr, new_len, flags,
            );
        }
        if new_len <= old_len {
            self.unmap_locked(&mut state, old_addr + new_len, old_end)?;
            return Ok(old_addr);
        }

        let grown_end = old_addr.checked_add(new_len).ok_or(MmError::NoMemory)?;
        let can_grow = old_end == region.end
            && grown_end <= GUEST_LIMIT
            && state.map.is_free(old_end, grown_end);
        if can_grow && !flags.dont_unmap {
            let mut tail = region.clone();
            tail.start = old_end;
            tail.end = grown_end;
            if let RegionBacking::File { offset, .. } = &mut tail.backing {
                *offset = region.offset_at(old_end);
            }
            self.realize_extension(&tail)?;
            state.map.insert(tail);
            return Ok(old_addr);
        }
        if !flags.may_move {
            return Err(MmError::NoMemory);
        }
        let new_addr = state
            .map
            .find_free_top_down(new_len, MIN_GUEST_ADDR, MMAP_TOP)
            .ok_or(MmError::NoMemory)?;
        self.remap_to(
            &mut state, &region, old_addr, old_len, new_addr, new_len, flags,
        )
    }

    /// Gives host pages to `tail`, the part of a region added by an in-place `mremap`.
    fn realize_extension(&self, tail: &Region) -> Result<(), MmError> {
        let len = tail.end - tail.start;
        match tail.backing {
            RegionBacking::AnonPrivate => {
                self.inner.host.map_anon(tail.start, len, tail.prot, false)
            }
            // Shared anonymous memory must stay one host object to stay shared: move it.
            RegionBacking::AnonShared => return Err(MmError::NoMemory),
            // Growing a file mapping in place would need the file; callers move instead.
            RegionBacking::File { .. } => return Err(MmError::NoMemory),
        }
        .map_err(MmError::from_host)
    }

    #[allow(clippy::too_many_arguments)]
    fn remap_to(
        &self,
        state: &mut State,
        region: &Region,
        old_addr: u64,
        old_len: u64,
        new_addr: u64,
        new_len: u64,
        flags: RemapFlags,
    ) -> Result<u64, MmError> {
        if new_addr % PAGE_SIZE != 0 {
            return Err(MmError::Invalid);
        }
        let new_end = new_addr.checked_add(new_len).ok_or(MmError::Invalid)?;
        if new_addr < MIN_GUEST_ADDR || new_end > GUEST_LIMIT {
            return Err(MmError::Invalid);
        }
        let old_end = old_addr + old_len;
        if new_addr < old_end && old_addr < new_end {
            return Err(MmError::Invalid);
        }
        // MREMAP_FIXED replaces whatever is at the destination.
        self.unmap_locked(state, new_addr, new_end)?;

        let moved_len = old_len.min(new_len);
        self.inner
            .host
            .move_pages(old_addr, moved_len, new_addr, moved_len, flags.dont_unmap)
            .map_err(MmError::from_host)?;
        let mut moved = region.clone();
        moved.start = new_addr;
        moved.end = new_addr + moved_len;
        if let RegionBacking::File { offset, .. } = &mut moved.backing {
            *offset = region.offset_at(old_addr);
        }

        if !flags.dont_unmap {
            state.map.remove(old_addr, old_end);
            if old_len > moved_len {
                self.inner
                    .host
                    .unmap(old_addr + moved_len, old_len - moved_len)
                    .map_err(MmError::from_host)?;
            }
        }
        state.map.insert(moved.clone());
        if new_len > moved_len {
            let mut tail = moved.clone();
            tail.start = moved.end;
            tail.end = new_end;
            if let RegionBacking::File { offset, .. } = &mut tail.backing {
                *offset += moved_len;
            }
            if let Err(error) = self.realize_extension(&tail) {
                tracing::warn!(
                    new_addr,
                    new_len,
                    ?error,
                    "mremap could not extend moved mapping"
                );
                return Err(error);
            }
            state.map.insert(tail);
        }
        self.invalidate(region.prot.exec());
        Ok(new_addr)
    }

    /// Sets the start of the heap; the loader calls this with the end of the executable.
    pub fn set_brk_start(&self, addr: u64) {
        let mut state = self.state_mut();
        let start = page_align_up(addr).unwrap_or(addr);
        state.brk = Brk {
            start,
            current: start,
        };
    }

    /// Moves the program break as `brk` does: returns the new break, or the current one if
    /// `new` is below the heap start or the heap cannot grow there.
    pub fn brk(&self, new: u64) -> u64 {
        let mut state = self.state_mut();
        let Brk { start, current } = state.brk;
        if new < start || new > MMAP_TOP {
            return current;
        }
        let (Some(old_top), Some(new_top)) = (page_align_up(current), page_align_up(new)) else {
            return current;
        };
        if new_top > old_top {
            if !state.map.is_free(old_top, new_top) {
                return current;
            }
            if self
                .inner
                .host
                .map_anon(old_top, new_top - old_top, Prot::RW, false)
                .is_err()
            {
                return current;
            }
            state.map.insert(Region {
                start: old_top,
                end: new_top,
                prot: Prot::RW,
                backing: RegionBacking::AnonPrivate,
                name: RegionName::Heap,
                grows_down: false,
            });
        } else if new_top < old_top && self.unmap_locked(&mut state, new_top, old_top).is_err() {
            return current;
        }
        state.brk.current = new;
        new
    }

    /// Names the region that contains `addr` (the loader names the stack `[stack]`).
    pub fn set_name(&self, addr: u64, name: RegionName) {
        let mut state = self.state_mut();
        let Some(region) = state.map.find(addr).cloned() else {
            return;
        };
        state.map.remove(region.start, region.end);
        state.map.insert(Region { name, ..region });
    }

    /// Returns every mapped region, in address order, for /proc/self/maps.
    pub fn regions(&self) -> Vec<RegionInfo> {
        self.state()
            .map
            .iter()
            .map(|region| {
                let (shared, dev, inode) = match region.backing {
                    RegionBacking::AnonPrivate => (false, 0, 0),
                    RegionBacking::AnonShared => (true, 0, 0),
                    RegionBacking::File {
                        shared, dev, inode, ..
                    } => (shared, dev, inode),
                };
                RegionInfo {
                    start: region.start,
                    end: region.end,
                    prot: region.prot,
                    shared,
                    offset: region.offset_at(region.start),
                    dev,
                    inode,
                    name: region.name.clone(),
                }
            })
            .collect()
    }

    /// Unmaps everything and resets the heap, as `execve` does before loading a new image.
    pub fn clear(&self) -> Result<(), MmError> {
        let mut state = self.state_mut();
        self.unmap_locked(&mut state, 0, GUEST_LIMIT)?;
        state.brk = Brk {
            start: 0,
            current: 0,
        };
        self.invalidate(true);
        Ok(())
    }
}

/// Returns a file's device and inode numbers and whether it was opened for writing.
fn file_identity(fd: BorrowedFd<'_>) -> Result<(u64, u64, bool), MmError> {
    let mut stat = MaybeUninit::<libc::stat>::uninit();
    // SAFETY: fstat writes a `struct stat` into the buffer we pass and nothing else.
    let ret = unsafe { libc::fstat(fd.as_raw_fd(), stat.as_mut_ptr()) };
    if ret != 0 {
        return Err(MmError::from_host(io::Error::last_os_error()));
    }
    // SAFETY: fstat returned 0, so it filled in the structure.
    let stat = unsafe { stat.assume_init() };
    // SAFETY: F_GETFL takes no argument and only reads the descriptor's status flags.
    let flags = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GETFL) };
    if flags < 0 {
        return Err(MmError::from_host(io::Error::last_os_error()));
    }
    let writable = flags & libc::O_ACCMODE == libc::O_RDWR;
    Ok((stat.st_dev, stat.st_ino, writable))
}

#[cfg(test)]
mod tests;
