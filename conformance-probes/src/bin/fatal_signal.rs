//! Checks the default action of a fatal signal: with SIGSEGV at its default disposition,
//! a store to an unmapped page ends the process by SIGSEGV (status 139 as the shell
//! reports it) after the output printed before it.

use conformance_probes::{report, unmapped_page};

fn main() {
    report("before_fault", true);
    let page = unmapped_page();
    // SAFETY: deliberately faulting; nothing after this store runs.
    unsafe { std::ptr::write_volatile(page as *mut u8, 1) };
    report("after_fault", "unreachable");
}
