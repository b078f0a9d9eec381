//! carrick's runtime: everything between a parsed command line and a running guest.
//!
//! A guest process is one host process. [`mem`] owns its address space (guest memory is
//! ordinary host memory reserved at start-up), [`loader`] maps an ELF executable into it and
//! builds the initial stack, [`backend`] runs the guest's instructions on a virtual CPU until
//! the next trap, and [`process`] runs the trap loop that hands each `svc #0` to [`sys`], the
//! syscall handlers. [`linux`] is generated from `syscalls.toml` at build time: syscall
//! numbers, the dispatch table, struct layouts, flag sets, errno and signal numbers.

pub mod backend;
pub mod compat;
pub mod launch;
pub mod linux;
pub mod loader;
pub mod mem;
pub mod process;
pub mod sys;
pub mod vdso;
pub mod vfs;
