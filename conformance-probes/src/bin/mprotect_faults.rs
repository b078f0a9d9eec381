//! Checks mprotect and memory faults.
//! - Reading a PROT_NONE page raises SIGSEGV with SEGV_ACCERR and si_addr at the byte.
//! - Writing a PROT_READ page does the same.
//! - Touching an unmapped page gives SEGV_MAPERR.
//! - A handler that fixes the protection and returns resumes the faulting access.
//! - mprotect argument errors: unaligned, unknown bits, unmapped range.

use conformance_probes::{check, fail, outcome, report, sys};
use std::sync::atomic::{AtomicI32, AtomicU64, Ordering};

static FAULTS: AtomicU64 = AtomicU64::new(0);
static LAST_CODE: AtomicI32 = AtomicI32::new(0);
static LAST_ADDR: AtomicU64 = AtomicU64::new(0);
static FIX_PAGE: AtomicU64 = AtomicU64::new(0);

extern "C" fn on_segv(_signo: i32, info: *mut libc::siginfo_t, _context: *mut libc::c_void) {
    FAULTS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the kernel passes a valid siginfo for SA_SIGINFO handlers.
    let (code, addr) = unsafe { ((*info).si_code, (*info).si_addr() as u64) };
    LAST_CODE.store(code, Ordering::SeqCst);
    LAST_ADDR.store(addr, Ordering::SeqCst);
    let page = FIX_PAGE.load(Ordering::SeqCst);
    // SAFETY: mprotect/mmap on the page this probe owns; both are async-signal-safe.
    unsafe {
        if libc::mprotect(
            page as *mut libc::c_void,
            4096,
            libc::PROT_READ | libc::PROT_WRITE,
        ) != 0
        {
            libc::mmap(
                page as *mut libc::c_void,
                4096,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
                -1,
                0,
            );
        }
    }
}

fn mprotect(addr: u64, len: u64, prot: i32) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: only pages this probe owns are changed.
    unsafe { sys(libc::SYS_mprotect, &[addr, len, prot as u64]) }
}

fn report_fault(label: &str, expected_addr: u64, before: u64) {
    report(
        &format!("{label}_faults"),
        FAULTS.load(Ordering::SeqCst) - before,
    );
    let code = match LAST_CODE.load(Ordering::SeqCst) {
        1 => "SEGV_MAPERR".to_string(),
        2 => "SEGV_ACCERR".to_string(),
        other => other.to_string(),
    };
    report(&format!("{label}_si_code"), code);
    check(
        &format!("{label}_si_addr"),
        LAST_ADDR.load(Ordering::SeqCst) == expected_addr,
    );
}

fn main() {
    // SAFETY: installing a handler that only touches atomics and this probe's pages.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = on_segv as *const () as usize;
        action.sa_flags = libc::SA_SIGINFO;
        if libc::sigaction(libc::SIGSEGV, &action, std::ptr::null_mut()) != 0 {
            fail("sigaction", std::io::Error::last_os_error());
        }
    }
    // SAFETY: a fresh anonymous mapping owned by this probe.
    let area = unsafe {
        sys(
            libc::SYS_mmap,
            &[
                0,
                3 * 4096,
                libc::PROT_READ as u64 | libc::PROT_WRITE as u64,
                (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64,
                u64::MAX,
                0,
            ],
        )
    }
    .unwrap_or_else(|e| fail("mmap", e));

    // SAFETY: the page is writable until the mprotect below.
    unsafe { *((area + 100) as *mut u8) = 9 };
    outcome("mprotect_none", mprotect(area, 4096, libc::PROT_NONE));
    FIX_PAGE.store(area, Ordering::SeqCst);
    let before = FAULTS.load(Ordering::SeqCst);
    // SAFETY: the read faults; the handler restores access and the read resumes.
    let value = unsafe { std::ptr::read_volatile((area + 100) as *const u8) };
    report_fault("read_prot_none", area + 100, before);
    report("value_after_resume", value);

    let page = area + 4096;
    outcome("mprotect_read", mprotect(page, 4096, libc::PROT_READ));
    FIX_PAGE.store(page, Ordering::SeqCst);
    let before = FAULTS.load(Ordering::SeqCst);
    // SAFETY: the write faults; the handler makes the page writable and it resumes.
    unsafe { std::ptr::write_volatile((page + 8) as *mut u8, 5) };
    report_fault("write_prot_read", page + 8, before);
    // SAFETY: the page is writable again.
    report("written_after_resume", unsafe {
        std::ptr::read_volatile((page + 8) as *const u8)
    });

    let hole = area + 2 * 4096;
    // SAFETY: unmapping this probe's last page.
    unsafe { sys(libc::SYS_munmap, &[hole, 4096]) }.ok();
    FIX_PAGE.store(hole, Ordering::SeqCst);
    let before = FAULTS.load(Ordering::SeqCst);
    // SAFETY: the read faults; the handler maps the page again and the read resumes.
    let value = unsafe { std::ptr::read_volatile((hole + 16) as *const u8) };
    report_fault("read_unmapped", hole + 16, before);
    report("unmapped_value_after_resume", value);

    outcome(
        "mprotect_unaligned",
        mprotect(area + 1, 4096, libc::PROT_READ),
    );
    outcome("mprotect_bad_prot", mprotect(area, 4096, 0x100));
    outcome(
        "mprotect_unmapped",
        mprotect(area + 1024 * 1024 * 1024, 4096, libc::PROT_READ),
    );
    outcome("mprotect_zero_len", mprotect(area, 0, libc::PROT_READ));
    outcome(
        "mprotect_exec",
        mprotect(area, 4096, libc::PROT_READ | libc::PROT_EXEC),
    );
}
