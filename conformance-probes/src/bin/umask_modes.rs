//! Checks umask.
//! - The probe starts with 022, as both runners set it; umask returns the previous mask
//!   and keeps only the 0777 bits.
//! - open, mkdir and mkfifo apply the mask to the requested mode, including the sticky
//!   bit on mkdir; chmod ignores it.

use conformance_probes::{fail, report, TempDir};
use std::os::unix::fs::PermissionsExt;

fn mode(path: &std::path::Path) -> String {
    std::fs::symlink_metadata(path)
        .map(|m| format!("{:o}", m.permissions().mode() & 0o7777))
        .unwrap_or_else(|e| e.to_string())
}

fn umask(mask: libc::mode_t) -> String {
    // SAFETY: umask has no memory effects.
    format!("{:o}", unsafe { libc::umask(mask) })
}

fn main() {
    let dir = TempDir::new("umask_modes").unwrap_or_else(|e| fail("tempdir", e));
    report("initial", umask(0o077));
    report("after_077", umask(0o1777));
    report("after_1777_kept_bits", umask(0o027));

    let file = dir.c_path("file");
    // SAFETY: file is NUL-terminated.
    unsafe {
        libc::close(libc::open(
            file.as_ptr(),
            libc::O_CREAT | libc::O_WRONLY,
            0o666,
        ))
    };
    report("file_0666_under_027", mode(&dir.join("file")));
    let sub = dir.c_path("sub");
    // SAFETY: sub is NUL-terminated.
    unsafe { libc::mkdir(sub.as_ptr(), 0o777) };
    report("dir_0777_under_027", mode(&dir.join("sub")));
    let fifo = dir.c_path("fifo");
    // SAFETY: fifo is NUL-terminated.
    unsafe { libc::mkfifo(fifo.as_ptr(), 0o666) };
    report("fifo_0666_under_027", mode(&dir.join("fifo")));
    // SAFETY: file is NUL-terminated.
    unsafe { libc::chmod(file.as_ptr(), 0o777) };
    report("chmod_0777_ignores_umask", mode(&dir.join("file")));
    let sticky = dir.c_path("sticky");
    // SAFETY: sticky is NUL-terminated.
    unsafe { libc::mkdir(sticky.as_ptr(), 0o1777) };
    report("dir_1777_under_027", mode(&dir.join("sticky")));
    umask(0);
    let open_mode = dir.c_path("open_mode");
    // SAFETY: open_mode is NUL-terminated.
    unsafe {
        libc::close(libc::open(
            open_mode.as_ptr(),
            libc::O_CREAT | libc::O_WRONLY,
            0o7777,
        ))
    };
    report("file_07777_under_0", mode(&dir.join("open_mode")));
}
