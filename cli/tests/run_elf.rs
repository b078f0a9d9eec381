//! End-to-end tests of `carrick run-elf` on the emu backend: small C guests under
//! `runtime/tests/guest/` are cross-compiled with `aarch64-linux-gnu-gcc -static` (installed
//! by scripts/setup.sh) when the test runs, then executed through the carrick binary.

// The helpers below are test code too: a missing compiler or binary should fail loudly.
#![allow(clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

fn carrick() -> Command {
    Command::new(env!("CARGO_BIN_EXE_carrick"))
}

fn scratch_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("run-elf");
        std::fs::create_dir_all(&dir).expect("create scratch directory");
        dir
    })
}

/// Compiles `runtime/tests/guest/<name>.c` statically with `extra` flags; returns the
/// binary's path.
fn guest(name: &str, extra: &[&str]) -> PathBuf {
    let source = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../runtime/tests/guest")
        .join(format!("{name}.c"));
    let suffix = extra.join("").replace('-', "");
    let binary = scratch_dir().join(format!("{name}{suffix}"));
    // `-static` next to `-static-pie` links a non-relocated PIE that crashes at start.
    let link = if extra.contains(&"-static-pie") {
        None
    } else {
        Some("-static")
    };
    let status = Command::new("aarch64-linux-gnu-gcc")
        .arg("-O2")
        .args(link)
        .args(extra)
        .arg("-o")
        .arg(&binary)
        .arg(&source)
        .status()
        .expect("aarch64-linux-gnu-gcc not found: run scripts/setup.sh");
    assert!(status.success(), "compiling {} failed", source.display());
    binary
}

/// Writes `contents` to `path` with mode 0755, as execve needs the execute bit.
fn write_executable(path: &Path, contents: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::write(path, contents).expect("write file");
    let mode = std::fs::Permissions::from_mode(0o755);
    std::fs::set_permissions(path, mode).expect("make file executable");
}

fn run(args: &[&std::ffi::OsStr]) -> Output {
    carrick()
        .arg("run-elf")
        .args(args)
        .output()
        .expect("run carrick")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn static_program_gets_args_and_status() {
    let hello = guest("hello", &[]);
    let output = run(&[hello.as_os_str(), "one".as_ref(), "-two".as_ref()]);
    assert_eq!(stdout(&output), "arg1=one\narg2=-two\nhello\n");
    assert_eq!(output.status.code(), Some(3), "stderr: {}", stderr(&output));
}

#[test]
fn static_pie_program_runs() {
    let hello = guest("hello", &["-fPIE", "-static-pie"]);
    let output = run(&[hello.as_os_str()]);
    assert_eq!(stdout(&output), "hello\n");
    assert_eq!(output.status.code(), Some(3), "stderr: {}", stderr(&output));
}

#[test]
fn null_store_kills_with_sigsegv() {
    let segv = guest("segv", &[]);
    let output = run(&[segv.as_os_str()]);
    assert_eq!(stdout(&output), "before\n");
    // carrick ends the way the guest ended: killed by the same signal.
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&output.status),
        Some(libc::SIGSEGV),
        "stderr: {}",
        stderr(&output)
    );
}

#[test]
fn memory_syscalls_behave_like_linux() {
    let memory = guest("memory", &[]);
    let output = run(&[memory.as_os_str()]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(text.lines().count(), 16, "output: {text}");
    for line in text.lines() {
        assert!(line.ends_with("=true"), "{line}");
    }
}

/// Chases pointers and counts with atomics across more pages than the TLB has entries, and
/// remaps them, so ticks land on TLB misses. Each access must still run exactly once.
#[test]
fn memory_churn_keeps_guest_data() {
    let churn = guest("churn", &[]);
    let output = run(&[churn.as_os_str()]);
    let text = stdout(&output);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(text.lines().count(), 7, "output: {text}");
    for line in text.lines() {
        assert!(line.ends_with("=true"), "{line}");
    }
}

#[test]
fn shebang_script_runs_its_interpreter() {
    let hello = guest("hello", &[]);
    let script = scratch_dir().join("script");
    write_executable(&script, format!("#!{} first\n", hello.display()).as_bytes());
    let output = run(&[script.as_os_str(), "last".as_ref()]);
    let expected = format!("arg1=first\narg2={}\narg3=last\nhello\n", script.display());
    assert_eq!(stdout(&output), expected);
}

#[test]
fn bad_files_are_rejected() {
    let text = scratch_dir().join("text");
    write_executable(&text, b"just text\n");
    let output = run(&[text.as_os_str()]);
    assert_eq!(output.status.code(), Some(126));
    assert!(
        stderr(&output).contains("not an executable"),
        "{}",
        stderr(&output)
    );

    let host_binary = std::env::current_exe().expect("test binary path");
    let output = run(&[host_binary.as_os_str()]);
    assert_eq!(output.status.code(), Some(126));
    assert!(stderr(&output).contains("x86-64") || cfg!(not(target_arch = "x86_64")));

    let truncated = scratch_dir().join("truncated");
    let hello = std::fs::read(guest("hello", &[])).expect("read guest");
    write_executable(&truncated, &hello[..100]);
    let output = run(&[truncated.as_os_str()]);
    assert_eq!(
        output.status.code(),
        Some(126),
        "stderr: {}",
        stderr(&output)
    );

    let output = run(&["/nonexistent/program".as_ref()]);
    assert_eq!(output.status.code(), Some(127));
    assert!(stderr(&output).contains("/nonexistent/program"));

    let script = scratch_dir().join("bad-interpreter.sh");
    write_executable(&script, b"#!/nonexistent/interpreter\necho hi\n");
    let output = run(&[script.as_os_str()]);
    let text = stderr(&output);
    assert_eq!(output.status.code(), Some(127), "stderr: {text}");
    assert!(
        text.contains("bad-interpreter.sh: bad interpreter /nonexistent/interpreter"),
        "{text}"
    );
}

/// glibc's posix_spawn goes through clone3 with a separate stack, and fork through clone.
#[test]
fn posix_spawn_and_fork_report_status() {
    let spawn = guest("spawn", &[]);
    let output = run(&[spawn.as_os_str()]);
    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert_eq!(
        stdout(&output),
        "child_arg=spawned\nspawn_ok=true\nspawn_waited=true\nspawn_status=5\n\
         spawn_missing=No such file or directory\nfork_status=9\n"
    );
}
