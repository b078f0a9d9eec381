//! Checks /proc/self/maps.
//! - Lines are sorted, non-overlapping and page-aligned.
//! - The code of main lies in an r-xp mapping of the executable.
//! - [stack], [vdso] and [heap] exist with the usual permissions.
//! - A fresh PROT_READ anonymous mapping appears with exactly its range and "r--p", and
//!   disappears after munmap.

use conformance_probes::{check, fail, sys};

struct Line {
    start: u64,
    end: u64,
    perms: String,
    path: String,
}

fn parse() -> Vec<Line> {
    let text = std::fs::read_to_string("/proc/self/maps").unwrap_or_else(|e| fail("read maps", e));
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let range = fields.next()?;
            let perms = fields.next()?.to_string();
            let path = fields.nth(3).unwrap_or("").to_string();
            let (start, end) = range.split_once('-')?;
            Some(Line {
                start: u64::from_str_radix(start, 16).ok()?,
                end: u64::from_str_radix(end, 16).ok()?,
                perms,
                path,
            })
        })
        .collect()
}

fn main() {
    let main_address = main as *const () as u64;
    // SAFETY: a fresh anonymous mapping owned by this probe.
    let area = unsafe {
        sys(
            libc::SYS_mmap,
            &[
                0,
                3 * 4096,
                libc::PROT_READ as u64,
                (libc::MAP_PRIVATE | libc::MAP_ANONYMOUS) as u64,
                u64::MAX,
                0,
            ],
        )
    }
    .unwrap_or_else(|e| fail("mmap", e));
    let heap = Box::new([1u8; 64]);

    let lines = parse();
    check("nonempty", !lines.is_empty());
    check(
        "sorted_non_overlapping",
        lines.windows(2).all(|pair| pair[0].end <= pair[1].start),
    );
    check(
        "page_aligned",
        lines
            .iter()
            .all(|l| l.start % 4096 == 0 && l.end % 4096 == 0 && l.start < l.end),
    );
    check(
        "perms_format",
        lines
            .iter()
            .all(|l| l.perms.len() == 4 && (l.perms.ends_with('p') || l.perms.ends_with('s'))),
    );
    let code = lines
        .iter()
        .find(|l| (l.start..l.end).contains(&main_address));
    check("main_in_r_xp", code.is_some_and(|l| l.perms == "r-xp"));
    check(
        "main_mapping_is_executable_file",
        code.is_some_and(|l| l.path.ends_with("/proc_self_maps")),
    );
    check("has_stack", lines.iter().any(|l| l.path == "[stack]"));
    check("has_vdso", lines.iter().any(|l| l.path == "[vdso]"));
    check("has_heap", lines.iter().any(|l| l.path == "[heap]"));
    check(
        "stack_is_rw",
        lines
            .iter()
            .any(|l| l.path == "[stack]" && l.perms == "rw-p"),
    );
    check(
        "vdso_is_r_x",
        lines
            .iter()
            .any(|l| l.path == "[vdso]" && l.perms == "r-xp"),
    );
    let fresh = lines.iter().find(|l| l.start <= area && area < l.end);
    check("fresh_mapping_listed", fresh.is_some());
    check(
        "fresh_mapping_exact_range",
        fresh.is_some_and(|l| l.start == area && l.end == area + 3 * 4096),
    );
    check(
        "fresh_mapping_perms",
        fresh.is_some_and(|l| l.perms == "r--p"),
    );
    check(
        "fresh_mapping_anonymous",
        fresh.is_some_and(|l| l.path.is_empty()),
    );

    // SAFETY: unmapping this probe's own mapping.
    unsafe { sys(libc::SYS_munmap, &[area, 3 * 4096]) }.ok();
    let after = parse();
    check(
        "fresh_mapping_gone",
        !after.iter().any(|l| l.start <= area && area < l.end),
    );
    check("heap_box_alive", heap[63] == 1);
}
