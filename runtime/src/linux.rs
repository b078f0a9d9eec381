//! The Linux arm64 ABI, generated from `syscalls.toml` by `carrick-codegen` at build time:
//! syscall numbers and names, the dispatch table, struct layouts, flag sets, errno and signal
//! numbers. The reviewed copy of the generated code is under `snapshots/`.

include!(concat!(env!("OUT_DIR"), "/linux.rs"));
