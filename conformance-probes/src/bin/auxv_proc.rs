//! Checks /proc/self/auxv.
//! - It is a list of (type, value) u64 pairs ending in AT_NULL.
//! - The entry types come in the kernel's order, and each value equals getauxval's.
//!
//! The values vary with the CPU and the address layout and are not printed.

use conformance_probes::{check, fail, report};

fn main() {
    let raw = std::fs::read("/proc/self/auxv").unwrap_or_else(|e| fail("read /proc/self/auxv", e));
    check("length_multiple_of_16", raw.len().is_multiple_of(16));
    let mut pairs = Vec::new();
    for chunk in raw.chunks_exact(16) {
        let mut kind = [0u8; 8];
        let mut value = [0u8; 8];
        kind.copy_from_slice(&chunk[..8]);
        value.copy_from_slice(&chunk[8..]);
        pairs.push((u64::from_le_bytes(kind), u64::from_le_bytes(value)));
    }
    check("ends_with_at_null", pairs.last() == Some(&(0, 0)));
    let kinds: Vec<String> = pairs.iter().map(|(kind, _)| kind.to_string()).collect();
    report("types_in_order", kinds.join(","));
    let mut matching = true;
    for (kind, value) in &pairs {
        if *kind != 0 {
            // SAFETY: getauxval only reads the saved auxiliary vector.
            matching &= unsafe { libc::getauxval(*kind) } == *value;
        }
    }
    check("values_match_getauxval", matching);
}
