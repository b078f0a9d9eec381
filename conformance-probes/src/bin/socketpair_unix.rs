//! Checks AF_UNIX socketpair.
//! - SOCK_STREAM carries bytes both ways; SOCK_DGRAM keeps message boundaries and
//!   truncates a long datagram into a short buffer (MSG_TRUNC returns the full length).
//! - SCM_RIGHTS passes an fd that refers to the same open file (shared offset).
//! - shutdown(SHUT_WR) makes the peer read 0, and writing after it is EPIPE.
//! - SOCK_CLOEXEC and SOCK_NONBLOCK apply to both ends; an unknown type is EINVAL and
//!   AF_INET socketpair is EOPNOTSUPP.

use conformance_probes::{fail, outcome, report, result, sys, TempDir};
use std::os::unix::io::AsRawFd;

fn socketpair(domain: i32, kind: i32) -> Result<[i32; 2], conformance_probes::Errno> {
    let mut fds = [0i32; 2];
    // SAFETY: fds has room for two ints.
    unsafe {
        sys(
            libc::SYS_socketpair,
            &[domain as u64, kind as u64, 0, fds.as_mut_ptr() as u64],
        )
    }
    .map(|_| fds)
}

fn send(fd: i32, data: &[u8]) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: data is live for its length.
    unsafe {
        sys(
            libc::SYS_sendto,
            &[fd as u64, data.as_ptr() as u64, data.len() as u64, 0, 0, 0],
        )
    }
}

fn recv(fd: i32, buffer: &mut [u8], flags: i32) -> Result<u64, conformance_probes::Errno> {
    // SAFETY: buffer is live and writable for its length.
    unsafe {
        sys(
            libc::SYS_recvfrom,
            &[
                fd as u64,
                buffer.as_mut_ptr() as u64,
                buffer.len() as u64,
                flags as u64,
                0,
                0,
            ],
        )
    }
}

fn send_fd(socket: i32, fd: i32) -> Result<u64, conformance_probes::Errno> {
    let payload = [b'F'];
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(4) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: a zeroed msghdr is valid; the pointers set below are live during the call.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = space;
    // SAFETY: the control buffer has room for one cmsghdr with one int.
    unsafe {
        let header = libc::CMSG_FIRSTHDR(&message);
        (*header).cmsg_level = libc::SOL_SOCKET;
        (*header).cmsg_type = libc::SCM_RIGHTS;
        (*header).cmsg_len = libc::CMSG_LEN(4) as usize;
        std::ptr::write_unaligned(libc::CMSG_DATA(header).cast::<i32>(), fd);
        sys(
            libc::SYS_sendmsg,
            &[socket as u64, &message as *const libc::msghdr as u64, 0],
        )
    }
}

fn recv_fd(socket: i32) -> Option<i32> {
    let mut payload = [0u8; 1];
    let mut iov = libc::iovec {
        iov_base: payload.as_mut_ptr().cast(),
        iov_len: 1,
    };
    // SAFETY: CMSG_SPACE only computes a size.
    let space = unsafe { libc::CMSG_SPACE(4) } as usize;
    let mut control = vec![0u8; space];
    // SAFETY: a zeroed msghdr is valid; the pointers set below are live during the call.
    let mut message: libc::msghdr = unsafe { std::mem::zeroed() };
    message.msg_iov = &mut iov;
    message.msg_iovlen = 1;
    message.msg_control = control.as_mut_ptr().cast();
    message.msg_controllen = space;
    // SAFETY: the kernel fills the message; CMSG_FIRSTHDR checks the control length.
    unsafe {
        sys(
            libc::SYS_recvmsg,
            &[socket as u64, &mut message as *mut libc::msghdr as u64, 0],
        )
        .ok()?;
        let header = libc::CMSG_FIRSTHDR(&message);
        if header.is_null() || (*header).cmsg_type != libc::SCM_RIGHTS {
            return None;
        }
        Some(std::ptr::read_unaligned(
            libc::CMSG_DATA(header).cast::<i32>(),
        ))
    }
}

fn main() {
    let stream =
        socketpair(libc::AF_UNIX, libc::SOCK_STREAM).unwrap_or_else(|e| fail("socketpair", e));
    result("stream_send", send(stream[0], b"ping"));
    let mut buffer = [0u8; 64];
    result("stream_recv", recv(stream[1], &mut buffer, 0));
    report("stream_data", String::from_utf8_lossy(&buffer[..4]));
    result("stream_reply", send(stream[1], b"pong!"));
    result("stream_recv_reply", recv(stream[0], &mut buffer, 0));
    outcome(
        "stream_empty_dontwait",
        recv(stream[0], &mut buffer, libc::MSG_DONTWAIT),
    );

    let dgram =
        socketpair(libc::AF_UNIX, libc::SOCK_DGRAM).unwrap_or_else(|e| fail("socketpair", e));
    send(dgram[0], b"first").ok();
    send(dgram[0], b"second-message").ok();
    result("dgram_first", recv(dgram[1], &mut buffer, 0));
    let mut short = [0u8; 6];
    result(
        "dgram_truncated_with_msg_trunc",
        recv(dgram[1], &mut short, libc::MSG_TRUNC),
    );
    report("dgram_truncated_data", String::from_utf8_lossy(&short));
    outcome(
        "dgram_rest_discarded",
        recv(dgram[1], &mut buffer, libc::MSG_DONTWAIT),
    );

    let dir = TempDir::new("socketpair_unix").unwrap_or_else(|e| fail("tempdir", e));
    std::fs::write(dir.join("file"), b"0123456789").unwrap_or_else(|e| fail("write", e));
    let file = std::fs::File::open(dir.join("file")).unwrap_or_else(|e| fail("open", e));
    outcome("scm_rights_send", send_fd(stream[0], file.as_raw_fd()));
    match recv_fd(stream[1]) {
        Some(received) => {
            report("scm_rights_new_fd", received != file.as_raw_fd());
            // SAFETY: lseek has no memory effects.
            unsafe { sys(libc::SYS_lseek, &[received as u64, 4, 0]) }.ok();
            // SAFETY: as above.
            result("scm_rights_shared_offset", unsafe {
                sys(libc::SYS_lseek, &[file.as_raw_fd() as u64, 0, 1])
            });
        }
        None => report("scm_rights_new_fd", "missing"),
    }

    // SAFETY: shutdown takes no pointers.
    outcome("shutdown_wr", unsafe {
        sys(
            libc::SYS_shutdown,
            &[stream[0] as u64, libc::SHUT_WR as u64],
        )
    });
    result("peer_reads_eof", recv(stream[1], &mut buffer, 0));
    outcome("send_after_shutdown", send_nosignal(stream[0]));

    let flagged = socketpair(
        libc::AF_UNIX,
        libc::SOCK_STREAM | libc::SOCK_CLOEXEC | libc::SOCK_NONBLOCK,
    )
    .unwrap_or_else(|e| fail("socketpair", e));
    // SAFETY: fcntl queries take no pointers.
    unsafe {
        report(
            "flagged_getfd",
            format!(
                "{},{}",
                libc::fcntl(flagged[0], libc::F_GETFD),
                libc::fcntl(flagged[1], libc::F_GETFD)
            ),
        );
        let nonblock = |fd: i32| libc::fcntl(fd, libc::F_GETFL) & libc::O_NONBLOCK != 0;
        report(
            "flagged_nonblock",
            nonblock(flagged[0]) && nonblock(flagged[1]),
        );
    }
    outcome("unknown_type", socketpair(libc::AF_UNIX, 99));
    outcome(
        "inet_socketpair",
        socketpair(libc::AF_INET, libc::SOCK_STREAM),
    );
}

fn send_nosignal(fd: i32) -> Result<u64, conformance_probes::Errno> {
    let data = b"late";
    // SAFETY: data is live; MSG_NOSIGNAL keeps SIGPIPE away.
    unsafe {
        sys(
            libc::SYS_sendto,
            &[
                fd as u64,
                data.as_ptr() as u64,
                4,
                libc::MSG_NOSIGNAL as u64,
                0,
                0,
            ],
        )
    }
}
