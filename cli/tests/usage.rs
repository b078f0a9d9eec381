//! Command-line errors: clap's rejections exit 125 with one line on stderr, as Docker's do,
//! and `--help` still exits 0.

#![allow(clippy::expect_used)]

use std::process::{Command, Output};

fn carrick(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_carrick"))
        .args(args)
        .output()
        .expect("run carrick")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

#[test]
fn unknown_flag_exits_125_on_one_line() {
    let output = carrick(&["run", "--bogus-flag", "debian:bookworm", "true"]);
    let text = stderr(&output);

    assert_eq!(output.status.code(), Some(125), "stderr: {text}");
    assert_eq!(text.lines().count(), 1, "stderr: {text}");
    assert!(text.starts_with("carrick: "), "stderr: {text}");
    assert!(text.contains("--bogus-flag"), "stderr: {text}");
    assert!(text.contains("--help"), "stderr: {text}");
}

#[test]
fn unknown_subcommand_flag_exits_125() {
    let output = carrick(&["images", "--bogus-flag"]);
    let text = stderr(&output);

    assert_eq!(output.status.code(), Some(125), "stderr: {text}");
    assert_eq!(text.lines().count(), 1, "stderr: {text}");
    assert!(text.contains("'--bogus-flag'"), "stderr: {text}");
}

#[test]
fn missing_argument_names_it() {
    let output = carrick(&["run-elf"]);
    let text = stderr(&output);

    assert_eq!(output.status.code(), Some(125), "stderr: {text}");
    assert_eq!(text.lines().count(), 1, "stderr: {text}");
    assert!(text.contains("<FILE>"), "stderr: {text}");
}

#[test]
fn help_exits_zero() {
    let output = carrick(&["run", "--help"]);

    assert_eq!(output.status.code(), Some(0), "stderr: {}", stderr(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("Usage:"));
}

#[test]
fn foreign_platform_is_rejected() {
    let output = carrick(&[
        "run",
        "--platform",
        "linux/amd64",
        "debian:bookworm",
        "true",
    ]);
    let text = stderr(&output);

    assert_eq!(output.status.code(), Some(125), "stderr: {text}");
    assert_eq!(text.lines().count(), 1, "stderr: {text}");
    assert!(text.contains("linux/amd64"), "stderr: {text}");
}

#[test]
fn env_without_name_is_rejected() {
    let output = carrick(&["run", "--rootfs", "/nonexistent", "-e", "=x", "true"]);
    let text = stderr(&output);

    assert_eq!(output.status.code(), Some(125), "stderr: {text}");
    assert!(text.contains("\"=x\""), "stderr: {text}");
}
