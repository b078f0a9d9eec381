//! Syscall handlers.
