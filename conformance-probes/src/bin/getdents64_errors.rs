//! Checks getdents64 failures and small buffers.
//! - A buffer too small for one record is EINVAL; a regular file is ENOTDIR.
//! - A closed fd is EBADF; a bad buffer is EFAULT.
//! - A 64-byte buffer returns whole records only, so reading in steps yields every entry
//!   exactly once.

use conformance_probes::{check, fail, outcome, report, sys, TempDir, BAD_POINTER};
use std::os::unix::io::AsRawFd;

fn main() {
    let dir = TempDir::new("getdents64_errors").unwrap_or_else(|e| fail("tempdir", e));
    for index in 0..20 {
        std::fs::write(dir.join(format!("entry{index:02}")), b"")
            .unwrap_or_else(|e| fail("write", e));
    }
    let handle = std::fs::File::open(dir.path()).unwrap_or_else(|e| fail("open dir", e));
    let fd = handle.as_raw_fd() as u64;
    let mut buffer = [0u8; 64];
    let getdents = |fd: u64, buf: u64, len: u64| {
        // SAFETY: buf is either the live buffer (len fits) or an invalid address.
        unsafe { sys(libc::SYS_getdents64, &[fd, buf, len]) }
    };
    let buf = buffer.as_mut_ptr() as u64;

    outcome("too_small", getdents(fd, buf, 8));
    outcome("bad_buffer", getdents(fd, BAD_POINTER, 64));
    outcome("closed_fd", getdents(987, buf, 64));
    let file = std::fs::File::open(dir.join("entry00")).unwrap_or_else(|e| fail("open", e));
    outcome("regular_file", getdents(file.as_raw_fd() as u64, buf, 64));

    let mut names = Vec::new();
    let mut calls = 0;
    let mut max_per_call = 0;
    loop {
        let length = match getdents(fd, buf, 64) {
            Ok(0) => break,
            Ok(n) => n as usize,
            Err(errno) => fail("getdents64 loop", errno),
        };
        calls += 1;
        let mut offset = 0;
        let mut in_call = 0;
        while offset < length {
            let reclen = u16::from_le_bytes([buffer[offset + 16], buffer[offset + 17]]) as usize;
            let name = &buffer[offset + 19..offset + reclen];
            let end = name.iter().position(|&b| b == 0).unwrap_or(name.len());
            names.push(String::from_utf8_lossy(&name[..end]).into_owned());
            offset += reclen;
            in_call += 1;
        }
        max_per_call = max_per_call.max(in_call);
    }
    names.sort();
    let before = names.len();
    names.dedup();
    report("entries_seen", before);
    check("no_duplicates", before == names.len());
    check("calls_at_least_entries_over_two", calls * 2 >= before);
    report("max_records_per_64_byte_call", max_per_call);
}
