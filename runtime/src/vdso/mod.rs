//! The vDSO: a small shared object that every new process image gets, as on arm64 Linux.
//! The C library finds it through AT_SYSINFO_EHDR and calls its `__kernel_clock_gettime`,
//! `__kernel_gettimeofday` and `__kernel_clock_getres` instead of making those syscalls
//! itself, and the kernel points a signal handler's return address at its
//! `__kernel_rt_sigreturn`.
//!
//! carrick's vDSO keeps no time data: each function is `mov x8, #nr; svc #0; ret`, so the
//! call traps and the syscall handlers service it as usual. The image is assembled by
//! [`image`] at first use (no cross compiler is needed to build carrick) and mapped by
//! [`map`] as ordinary private anonymous memory, so `mprotect`, `munmap`, `mremap` and
//! `fork` treat it like any other mapping.

mod image;
#[cfg(test)]
mod tests;

use std::sync::OnceLock;

use crate::mem::{GuestMemory, MapRequest, MmError, Prot, RegionName, PAGE_SIZE};

pub use image::{Image, SONAME, VERSION};

/// Size of the `[vvar]` mapping Linux 6.1 arm64 places just below `[vdso]`: the kernel's
/// time data page and the time-namespace page.
// NOTE: carrick's vDSO never reads `[vvar]`; its pages stay zero.
pub const VVAR_SIZE: u64 = 2 * PAGE_SIZE;

/// Name of the signal-return trampoline a handler returns to when it has no SA_RESTORER.
pub const SIGRETURN_SYMBOL: &str = "__kernel_rt_sigreturn";

/// Returns the vDSO image, built on first use.
pub fn image() -> &'static Image {
    static IMAGE: OnceLock<Image> = OnceLock::new();
    IMAGE.get_or_init(image::build)
}

impl Image {
    /// Returns the offset of exported function `name` from the start of the image.
    pub fn symbol(&self, name: &str) -> Option<u64> {
        self.symbols
            .iter()
            .find(|(symbol, _)| *symbol == name)
            .map(|&(_, offset)| offset)
    }
}

/// Returns the guest address of `__kernel_rt_sigreturn` in a vDSO mapped at `base`.
pub fn sigreturn_address(base: u64) -> Option<u64> {
    image().symbol(SIGRETURN_SYMBOL).map(|offset| base + offset)
}

/// Maps `[vvar]` and `[vdso]` wherever a hint-less `mmap` would go (top-down below the
/// other mappings, as Linux's `get_unmapped_area` picks it) and returns the address of
/// the vDSO's ELF header, the value of AT_SYSINFO_EHDR.
pub fn map(mem: &GuestMemory) -> Result<u64, MmError> {
    let image = image();
    let image_len = image.bytes.len() as u64;
    let start = mem.mmap(MapRequest::anon(VVAR_SIZE + image_len, Prot::RW))?;
    let base = start + VVAR_SIZE;

    // The pages are private anonymous memory, writable only until the image is in place.
    // NOTE: unlike Linux's special mapping, MADV_DONTNEED zeroes these pages and mremap may
    // grow them.
    mem.write(base, &image.bytes).map_err(|_| MmError::Fault)?;
    mem.mprotect(start, VVAR_SIZE, Prot::READ)?;
    mem.mprotect(base, image_len, Prot::RX)?;
    mem.set_name(start, RegionName::Vvar);
    mem.set_name(base, RegionName::Vdso);
    Ok(base)
}
