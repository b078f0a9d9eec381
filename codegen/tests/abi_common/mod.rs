//! Helpers shared by the ABI cross-checks: loading `syscalls.toml` as plain TOML (so the checks
//! do not depend on the codegen's model types) and running the aarch64 cross compiler.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

/// The cross compiler whose headers and ABI the table is checked against.
pub const CROSS_GCC: &str = "aarch64-linux-gnu-gcc";

/// Returns the path of the table at the top of the repository.
pub fn table_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../syscalls.toml")
}

/// Reads and parses `syscalls.toml`.
pub fn load_table() -> Result<toml::Value, String> {
    let path = table_path();
    let text = std::fs::read_to_string(&path)
        .map_err(|err| format!("failed to read {}: {err}", path.display()))?;
    toml::from_str(&text).map_err(|err| format!("{} is not valid TOML: {err}", path.display()))
}

/// Returns the array of tables under `key` (`syscall`, `errno`, ...), or an empty slice.
pub fn array<'a>(table: &'a toml::Value, key: &str) -> &'a [toml::Value] {
    table
        .get(key)
        .and_then(toml::Value::as_array)
        .map(Vec::as_slice)
        .unwrap_or(&[])
}

/// Returns the string field `key` of a TOML table, or an error naming `context`.
pub fn str_field<'a>(item: &'a toml::Value, key: &str, context: &str) -> Result<&'a str, String> {
    item.get(key)
        .and_then(toml::Value::as_str)
        .ok_or_else(|| format!("{context}: missing string field `{key}`"))
}

/// Returns the integer field `key` of a TOML table, or an error naming `context`.
pub fn int_field(item: &toml::Value, key: &str, context: &str) -> Result<i64, String> {
    item.get(key)
        .and_then(toml::Value::as_integer)
        .ok_or_else(|| format!("{context}: missing integer field `{key}`"))
}

/// Runs the cross compiler with `args`, feeding `stdin` to it, and returns its output if it
/// exits successfully.
pub fn run_cross_gcc(args: &[&str], stdin: &str) -> Result<Output, String> {
    let mut child = Command::new(CROSS_GCC)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|err| {
            format!(
                "failed to run {CROSS_GCC} ({err}): the ABI checks need the aarch64 cross \
                 compiler and its headers; run scripts/setup.sh to install them"
            )
        })?;
    if let Some(mut pipe) = child.stdin.take() {
        pipe.write_all(stdin.as_bytes())
            .map_err(|err| format!("failed to write to {CROSS_GCC}: {err}"))?;
    }
    let output = child
        .wait_with_output()
        .map_err(|err| format!("failed to wait for {CROSS_GCC}: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "{CROSS_GCC} {} failed ({}):\n{}",
            args.join(" "),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(output)
}
