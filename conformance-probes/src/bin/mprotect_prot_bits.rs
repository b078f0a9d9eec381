//! Checks which prot bits arm64 mprotect accepts, without relying on signal handlers.
//! - PROT_SEM and PROT_BTI (the CPU has BTI) are accepted.
//! - An undeclared bit, PROT_MTE (the CPU has no MTE) and PROT_GROWSDOWN with
//!   PROT_GROWSUP give EINVAL and leave the page as it was, so it stays writable.

use conformance_probes::{check, fail, outcome, sys};

const PROT_SEM: u64 = 0x8;
const PROT_BTI: u64 = 0x10;
const PROT_MTE: u64 = 0x20;
const READ_WRITE: u64 = (libc::PROT_READ | libc::PROT_WRITE) as u64;

fn main() {
    // SAFETY: a fresh anonymous mapping owned by this probe.
    let page = unsafe {
        sys(
            libc::SYS_mmap,
            &[
                0,
                4096,
                READ_WRITE,
                (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64,
                u64::MAX,
                0,
            ],
        )
    }
    .unwrap_or_else(|e| fail("mmap", e));

    let cases = [
        ("sem", READ_WRITE | PROT_SEM),
        ("bti", READ_WRITE | PROT_BTI),
        ("unknown_bit", 0x100),
        ("unknown_bit_with_read_write", READ_WRITE | 0x100),
        ("mte", READ_WRITE | PROT_MTE),
        (
            "growsdown_and_growsup",
            READ_WRITE | (libc::PROT_GROWSDOWN | libc::PROT_GROWSUP) as u64,
        ),
    ];
    for (label, prot) in cases {
        // SAFETY: only this probe's page changes; a rejected call changes nothing.
        outcome(label, unsafe {
            sys(libc::SYS_mprotect, &[page, 4096, prot])
        });

        // SAFETY: every accepted prot above keeps the page readable and writable, and a
        // rejected one leaves it as it was.
        let written = unsafe {
            std::ptr::write_volatile(page as *mut u8, 7);
            std::ptr::read_volatile(page as *const u8) == 7
        };
        check(&format!("{label}_page_writable"), written);
    }
}
