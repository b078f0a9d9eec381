//! Checks uname.
//! - The kernel fixes sysname "Linux" and machine "aarch64"; the release, version and node
//!   name vary and are not printed.
//! - Each field is NUL-terminated within its 65 bytes, and exactly 390 bytes are written.
//! - A bad buffer is EFAULT.

use conformance_probes::{check, outcome, report, sys, unmapped_page, BAD_POINTER};

const FIELD: usize = 65;
const FIELDS: usize = 6;

fn field(buffer: &[u8], index: usize) -> &[u8] {
    let bytes = &buffer[index * FIELD..(index + 1) * FIELD];
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(FIELD);
    &bytes[..end]
}

fn main() {
    let mut buffer = [0xaau8; FIELD * FIELDS + 64];
    // SAFETY: the buffer is larger than struct utsname.
    let ret = unsafe { sys(libc::SYS_uname, &[buffer.as_mut_ptr() as u64]) };
    outcome("uname", ret);

    report("sysname", String::from_utf8_lossy(field(&buffer, 0)));
    report("machine", String::from_utf8_lossy(field(&buffer, 4)));
    for (index, name) in [
        "sysname",
        "nodename",
        "release",
        "version",
        "machine",
        "domainname",
    ]
    .iter()
    .enumerate()
    {
        let bytes = &buffer[index * FIELD..(index + 1) * FIELD];
        check(&format!("{name}_nul_terminated"), bytes.contains(&0));
    }
    check("release_nonempty", !field(&buffer, 2).is_empty());
    check(
        "bytes_after_struct_untouched",
        buffer[FIELD * FIELDS..].iter().all(|&b| b == 0xaa),
    );

    // SAFETY: the kernel must reject the pointer without touching memory.
    outcome("uname_bad_pointer", unsafe {
        sys(libc::SYS_uname, &[BAD_POINTER])
    });
    // SAFETY: as above, for a page that is not mapped.
    outcome("uname_unmapped", unsafe {
        sys(libc::SYS_uname, &[unmapped_page()])
    });

    let libc_machine = {
        // SAFETY: utsname is plain data and libc::uname fills it.
        let mut uts: libc::utsname = unsafe { std::mem::zeroed() };
        // SAFETY: uts is a valid utsname.
        unsafe { libc::uname(&mut uts) };
        // SAFETY: the kernel NUL-terminates machine, as checked above.
        unsafe { std::ffi::CStr::from_ptr(uts.machine.as_ptr()) }.to_owned()
    };
    check(
        "libc_machine_matches",
        libc_machine.as_bytes() == field(&buffer, 4),
    );
}
