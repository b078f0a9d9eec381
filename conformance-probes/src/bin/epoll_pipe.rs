//! Checks epoll on pipes.
//! - An empty pipe reports no events within a 0 ms timeout; after a write the read end
//!   reports EPOLLIN with the registered data.
//! - Level-triggered interest reports again while data remains; edge-triggered interest
//!   reports once per new write.
//! - Closing the write end reports EPOLLHUP on the read end.
//! - epoll_ctl: adding twice is EEXIST, modifying or deleting an unregistered fd ENOENT,
//!   adding the epoll fd to itself EINVAL, a regular file EPERM, a bad fd EBADF.
//! - epoll_pwait with maxevents 0 is EINVAL; epoll_create1 with an unknown flag EINVAL.

use conformance_probes::{fail, outcome, report, sys, TempDir};
use std::os::unix::io::AsRawFd;

fn ctl(
    epoll: i32,
    op: i32,
    fd: i32,
    events: u32,
    data: u64,
) -> Result<u64, conformance_probes::Errno> {
    let event = libc::epoll_event { events, u64: data };
    // SAFETY: event is a live epoll_event.
    unsafe {
        sys(
            libc::SYS_epoll_ctl,
            &[
                epoll as u64,
                op as u64,
                fd as u64,
                &event as *const libc::epoll_event as u64,
            ],
        )
    }
}

fn wait(epoll: i32) -> String {
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 4];
    // SAFETY: events has room for 4 entries; no signal mask is passed.
    let ready = unsafe {
        sys(
            libc::SYS_epoll_pwait,
            &[epoll as u64, events.as_mut_ptr() as u64, 4, 0, 0, 8],
        )
    };
    match ready {
        Ok(count) => {
            let listed: Vec<String> = events[..count as usize]
                .iter()
                .map(|event| {
                    let (mask, data) = (event.events, event.u64);
                    format!("{mask:#x}@{data}")
                })
                .collect();
            format!("{count}[{}]", listed.join(","))
        }
        Err(errno) => errno.to_string(),
    }
}

fn main() {
    // SAFETY: epoll_create1 takes no pointers.
    let epoll = unsafe { sys(libc::SYS_epoll_create1, &[libc::EPOLL_CLOEXEC as u64]) }
        .unwrap_or_else(|e| fail("epoll_create1", e)) as i32;
    // SAFETY: F_GETFD takes no pointers.
    report("epoll_cloexec", unsafe {
        libc::fcntl(epoll, libc::F_GETFD)
    });
    let mut level = [0i32; 2];
    let mut edge = [0i32; 2];
    // SAFETY: both arrays have room for two ints.
    unsafe {
        libc::pipe2(level.as_mut_ptr(), libc::O_NONBLOCK);
        libc::pipe2(edge.as_mut_ptr(), libc::O_NONBLOCK);
    }
    outcome(
        "add_level",
        ctl(
            epoll,
            libc::EPOLL_CTL_ADD,
            level[0],
            libc::EPOLLIN as u32,
            11,
        ),
    );
    outcome(
        "add_edge",
        ctl(
            epoll,
            libc::EPOLL_CTL_ADD,
            edge[0],
            (libc::EPOLLIN | libc::EPOLLET) as u32,
            22,
        ),
    );
    report("wait_empty", wait(epoll));

    // SAFETY: writes from live buffers.
    unsafe {
        libc::write(level[1], b"abc".as_ptr().cast(), 3);
        libc::write(edge[1], b"abc".as_ptr().cast(), 3);
    }
    report("wait_after_writes", wait(epoll));
    report("wait_again_level_only", wait(epoll));
    // SAFETY: as above.
    unsafe { libc::write(edge[1], b"d".as_ptr().cast(), 1) };
    report("wait_after_new_edge_write", wait(epoll));

    let mut drain = [0u8; 16];
    // SAFETY: reading into a live buffer.
    unsafe { libc::read(level[0], drain.as_mut_ptr().cast(), 16) };
    report("wait_after_level_drained", wait(epoll));
    outcome("del_edge", ctl(epoll, libc::EPOLL_CTL_DEL, edge[0], 0, 0));
    // SAFETY: closing the write end this probe owns.
    unsafe { libc::close(level[1]) };
    report("wait_after_writer_closed", wait(epoll));

    outcome(
        "add_twice",
        ctl(
            epoll,
            libc::EPOLL_CTL_ADD,
            level[0],
            libc::EPOLLIN as u32,
            0,
        ),
    );
    outcome(
        "mod_unregistered",
        ctl(epoll, libc::EPOLL_CTL_MOD, edge[0], libc::EPOLLIN as u32, 0),
    );
    outcome(
        "del_unregistered",
        ctl(epoll, libc::EPOLL_CTL_DEL, edge[0], 0, 0),
    );
    outcome(
        "add_self",
        ctl(epoll, libc::EPOLL_CTL_ADD, epoll, libc::EPOLLIN as u32, 0),
    );
    outcome(
        "add_bad_fd",
        ctl(epoll, libc::EPOLL_CTL_ADD, 999, libc::EPOLLIN as u32, 0),
    );
    outcome("bad_op", ctl(epoll, 9, level[0], libc::EPOLLIN as u32, 0));
    let dir = TempDir::new("epoll_pipe").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), b"x").unwrap_or_else(|e| fail("write", e));
    let file = std::fs::File::open(dir.join("file")).unwrap_or_else(|e| fail("open", e));
    outcome(
        "add_regular_file",
        ctl(
            epoll,
            libc::EPOLL_CTL_ADD,
            file.as_raw_fd(),
            libc::EPOLLIN as u32,
            0,
        ),
    );
    outcome(
        "ctl_on_non_epoll_fd",
        ctl(
            level[0],
            libc::EPOLL_CTL_ADD,
            edge[0],
            libc::EPOLLIN as u32,
            0,
        ),
    );
    let mut events = [libc::epoll_event { events: 0, u64: 0 }; 1];
    // SAFETY: events is live; maxevents 0 is rejected.
    outcome("wait_maxevents_0", unsafe {
        sys(
            libc::SYS_epoll_pwait,
            &[epoll as u64, events.as_mut_ptr() as u64, 0, 0, 0, 8],
        )
    });
    // SAFETY: epoll_create1 takes no pointers.
    outcome("create1_bad_flag", unsafe {
        sys(libc::SYS_epoll_create1, &[1])
    });
}
