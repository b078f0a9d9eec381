//! The Linux arm64 ABI, generated from `syscalls.toml` by `carrick-codegen` at build time:
//! syscall numbers and names, the dispatch table, struct layouts, flag sets, errno and signal
//! numbers. The reviewed copy of the generated code is under `snapshots/`.

// The generated code is checked by codegen's own tests and snapshots, not by style lints.
#![allow(clippy::all)]
#![allow(dead_code, unused_mut, unused_variables, non_upper_case_globals)]

include!(concat!(env!("OUT_DIR"), "/linux.rs"));

/// The support matrix generated from the table; `docs/syscalls.md` is a committed copy.
pub const SUPPORT_MATRIX: &str = include_str!(concat!(env!("OUT_DIR"), "/syscalls.md"));
