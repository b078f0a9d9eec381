//! Checks getdents64 records.
//! - Each d_reclen is the 19-byte header plus the NUL-terminated name, rounded up to 8.
//! - The records fill exactly the returned length, and a second call at the end returns 0.
//! - The names are ".", ".." and the created entries.
//! - d_type is DT_DIR, DT_REG, DT_LNK or DT_FIFO as appropriate (printed as numbers).
//! - d_ino equals the entry's st_ino.

use conformance_probes::{check, fail, report, sys, TempDir};
use std::os::unix::fs::MetadataExt;
use std::os::unix::io::AsRawFd;

struct Entry {
    ino: u64,
    reclen: usize,
    kind: u8,
    name: String,
    padded_ok: bool,
}

fn parse(buffer: &[u8]) -> Vec<Entry> {
    let mut entries = Vec::new();
    let mut offset = 0;
    while offset + 19 <= buffer.len() {
        let mut ino = [0u8; 8];
        ino.copy_from_slice(&buffer[offset..offset + 8]);
        let reclen = u16::from_le_bytes([buffer[offset + 16], buffer[offset + 17]]) as usize;
        if reclen == 0 || offset + reclen > buffer.len() {
            break;
        }
        let kind = buffer[offset + 18];
        let name_bytes = &buffer[offset + 19..offset + reclen];
        let end = name_bytes.iter().position(|&b| b == 0);
        let name = String::from_utf8_lossy(&name_bytes[..end.unwrap_or(name_bytes.len())]).into();
        entries.push(Entry {
            ino: u64::from_le_bytes(ino),
            reclen,
            kind,
            name,
            padded_ok: end.is_some(),
        });
        offset += reclen;
    }
    entries
}

fn main() {
    let dir = TempDir::new("getdents64_layout").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("a"), b"1").unwrap_or_else(|e| fail("write", e));
    std::fs::write(dir.join("bbbbbbbbbbbb"), b"1").unwrap_or_else(|e| fail("write", e));
    std::fs::create_dir(dir.join("sub")).unwrap_or_else(|e| fail("mkdir", e));
    std::os::unix::fs::symlink("a", dir.join("link")).unwrap_or_else(|e| fail("symlink", e));
    let fifo = dir.c_path("fifo");
    // SAFETY: fifo is NUL-terminated.
    unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) };

    let handle = std::fs::File::open(dir.path()).unwrap_or_else(|e| fail("open dir", e));
    let fd = handle.as_raw_fd() as u64;
    let mut buffer = vec![0u8; 4096];
    // SAFETY: buffer is writable for its length.
    let first = unsafe {
        sys(
            libc::SYS_getdents64,
            &[fd, buffer.as_mut_ptr() as u64, 4096],
        )
    };
    let length = first.unwrap_or_else(|e| fail("getdents64", e)) as usize;
    let mut entries = parse(&buffer[..length]);
    check(
        "total_length_consumed",
        entries.iter().map(|e| e.reclen).sum::<usize>() == length,
    );

    // SAFETY: as above.
    let again = unsafe {
        sys(
            libc::SYS_getdents64,
            &[fd, buffer.as_mut_ptr() as u64, 4096],
        )
    };
    report("second_call", again.map_or(-1, |n| n as i64));

    report("count", entries.len());
    check(
        "reclen_multiple_of_8",
        entries.iter().all(|e| e.reclen % 8 == 0),
    );
    check(
        "reclen_fits_name",
        entries.iter().all(|e| e.reclen > 19 + e.name.len()),
    );
    check(
        "reclen_minimal",
        entries
            .iter()
            .all(|e| e.reclen == (19 + e.name.len() + 1).div_ceil(8) * 8),
    );
    check("names_nul_terminated", entries.iter().all(|e| e.padded_ok));
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    for entry in &entries {
        report(&format!("type[{}]", entry.name), entry.kind);
        let ino = std::fs::symlink_metadata(dir.join(&entry.name))
            .map(|m| m.ino())
            .unwrap_or(0);
        check(&format!("ino_matches[{}]", entry.name), entry.ino == ino);
    }
}
