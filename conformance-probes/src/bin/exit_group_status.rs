//! Checks that the exit status is the low 8 bits of exit_group's argument: the probe
//! prints one line and exits with 0x1234, so the recorded status is 0x34 = 52.

use conformance_probes::{report, sys};

fn main() {
    report("before_exit", true);
    // SAFETY: exit_group ends the process; stdout is line-buffered and already flushed.
    let _ = unsafe { sys(libc::SYS_exit_group, &[0x1234]) };
    report("after_exit_group", "unreachable");
}
