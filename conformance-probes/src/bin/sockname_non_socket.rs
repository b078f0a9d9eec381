//! Checks getsockname and getpeername on descriptors that are not sockets.
//! - A regular file, a directory, a pipe and /dev/null give ENOTSOCK, even when the address
//!   and length pointers are bad: the fd is checked first.
//! - A closed fd and -1 give EBADF.
//!
//! bash relies on this: it takes any other getpeername error on stdin to mean that a
//! network daemon started it, and then runs the rc files.

use conformance_probes::{fail, outcome, ptr, sys, Errno, TempDir, BAD_POINTER};

fn name_calls(label: &str, fd: u64, address: u64, length: u64) {
    for (call, number) in [
        ("getsockname", libc::SYS_getsockname),
        ("getpeername", libc::SYS_getpeername),
    ] {
        // SAFETY: fd is not a socket or not open, so the kernel writes nothing.
        let returned = unsafe { sys(number, &[fd, address, length]) };
        outcome(&format!("{call}_{label}"), returned);
    }
}

fn open(path: &std::ffi::CStr, flags: i32) -> u64 {
    // SAFETY: path is NUL-terminated.
    unsafe {
        sys(
            libc::SYS_openat,
            &[libc::AT_FDCWD as u64, ptr(path), flags as u64, 0],
        )
    }
    .unwrap_or_else(|e: Errno| fail("openat", e))
}

fn main() {
    let dir = TempDir::new("sockname_non_socket").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), b"data").unwrap_or_else(|e| fail("write", e));

    let mut storage = [0u8; 128];
    let mut length: u32 = 128;
    let address = storage.as_mut_ptr() as u64;
    let length_ptr = &mut length as *mut u32 as u64;

    let file = open(&dir.c_path("file"), libc::O_RDONLY);
    let directory = open(&dir.c_path(""), libc::O_RDONLY | libc::O_DIRECTORY);
    let null = open(c"/dev/null", libc::O_RDWR);
    let mut pipe = [0i32; 2];
    // SAFETY: pipe2 writes two fds into the array.
    unsafe { sys(libc::SYS_pipe2, &[pipe.as_mut_ptr() as u64, 0]) }
        .unwrap_or_else(|e| fail("pipe2", e));

    name_calls("file", file, address, length_ptr);
    name_calls("directory", directory, address, length_ptr);
    name_calls("dev_null", null, address, length_ptr);
    name_calls("pipe", pipe[0] as u64, address, length_ptr);
    name_calls("file_bad_pointers", file, BAD_POINTER, BAD_POINTER);
    name_calls("closed", 777, address, length_ptr);
    name_calls("minus_one", u64::MAX, address, length_ptr);
}
