//! Checks brk.
//! - brk(0) returns the current break; growing returns exactly the requested, unaligned
//!   address, and the new memory is zeroed and writable.
//! - A request below the heap or far above it fails by returning the unchanged break.
//! - Shrinking back works, and pages grown again are zero.
//!
//! All calls happen before any output so that glibc's malloc does not move the break.

use conformance_probes::{check, sys};

fn brk(addr: u64) -> u64 {
    // SAFETY: the break is only moved above its current value and restored before any
    // allocation can use the range.
    unsafe { sys(libc::SYS_brk, &[addr]) }.unwrap_or(0)
}

fn main() {
    let mut lines: Vec<(&str, bool)> = Vec::with_capacity(16);

    let start = brk(0);
    lines.push(("initial_nonzero", start != 0));
    lines.push(("query_is_stable", brk(0) == start));
    let target = start + 0x10000 + 123;
    let grown = brk(target);
    lines.push(("grow_returns_request", grown == target));
    lines.push(("query_after_grow", brk(0) == target));
    // SAFETY: start..target now belongs to the heap.
    let fresh =
        unsafe { std::slice::from_raw_parts_mut(start as *mut u8, (target - start) as usize) };
    lines.push(("grown_zeroed", fresh.iter().all(|&b| b == 0)));
    fresh.fill(0xee);
    lines.push(("grown_writable", fresh.iter().all(|&b| b == 0xee)));
    let refused = brk(0x1000);
    lines.push(("below_heap_unchanged", refused == target));
    let huge = brk(start + (1 << 46));
    lines.push(("huge_unchanged", huge == target));
    let shrunk = brk(start);
    lines.push(("shrink_returns_request", shrunk == start));
    let regrown = brk(start + 4096);
    // SAFETY: start..start+4096 belongs to the heap again.
    let page = unsafe { std::slice::from_raw_parts(start as *const u8, 4096) };
    let tail = (start % 4096) as usize;
    lines.push((
        "regrown_page_zeroed_after_shrink",
        regrown == start + 4096 && page[(4096 - tail) % 4096..].iter().all(|&b| b == 0),
    ));
    lines.push(("final_equals_start", brk(start) == start));

    for (name, ok) in lines {
        check(name, ok);
    }
}
