//! Checks /proc/self/exe.
//! - readlink gives an absolute path ending in the probe's name, without a NUL.
//! - A short buffer truncates and returns the buffer size; a zero-size buffer is EINVAL.
//! - The link opens to the running ELF file (class 2, machine 183 = EM_AARCH64).
//! - readlink of a file that is not a link is EINVAL.

use conformance_probes::{check, cstring, fail, outcome, ptr, report, sys};
use std::io::Read;

fn readlink(path: &std::ffi::CStr, buffer: &mut [u8]) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: path is NUL-terminated and buffer is live for its length.
    unsafe {
        sys(
            libc::SYS_readlinkat,
            &[
                libc::AT_FDCWD as u64,
                ptr(path),
                buffer.as_mut_ptr() as u64,
                buffer.len() as u64,
            ],
        )
    }
}

fn main() {
    let exe = cstring("/proc/self/exe");
    let mut buffer = [0xffu8; 4096];
    let length = readlink(&exe, &mut buffer).unwrap_or_else(|e| fail("readlink", e)) as usize;
    let target = &buffer[..length];
    check("absolute", target.first() == Some(&b'/'));
    check("ends_with_probe_name", target.ends_with(b"/proc_self_exe"));
    check("not_nul_terminated", buffer[length] == 0xff);

    let mut short = [0xffu8; 5];
    report(
        "short_buffer_length",
        readlink(&exe, &mut short[..4]).map_or(0, |n| n),
    );
    check("short_buffer_truncated_prefix", short[..4] == target[..4]);
    check("short_buffer_byte_after_untouched", short[4] == 0xff);
    outcome("zero_buffer", readlink(&exe, &mut short[..0]));

    let mut file = std::fs::File::open("/proc/self/exe").unwrap_or_else(|e| fail("open exe", e));
    let mut header = [0u8; 20];
    file.read_exact(&mut header)
        .unwrap_or_else(|e| fail("read exe", e));
    check("elf_magic", &header[..4] == b"\x7fELF");
    report("elf_class", header[4]);
    report("elf_machine", u16::from_le_bytes([header[18], header[19]]));
    let via_link = std::fs::metadata("/proc/self/exe")
        .map(|m| m.len())
        .unwrap_or(0);
    let via_path = std::fs::metadata(std::str::from_utf8(target).unwrap_or(""))
        .map(|m| m.len())
        .unwrap_or(1);
    check("size_matches_target", via_link == via_path);
    outcome(
        "readlink_not_link",
        readlink(&cstring("/proc/self/auxv"), &mut buffer),
    );
    check(
        "proc_self_is_link",
        std::fs::read_link("/proc/self").is_ok(),
    );
}
