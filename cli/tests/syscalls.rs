//! `carrick syscalls` and the committed support matrix both come from `syscalls.toml`; these
//! tests run the real binary and fail when `docs/syscalls.md` is stale.

#![allow(clippy::unwrap_used)]

use std::path::Path;
use std::process::Command;

fn carrick(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_carrick"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "carrick {args:?} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

#[test]
fn support_matrix_doc_is_current() {
    let generated = carrick(&["syscalls", "--markdown"]);
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/syscalls.md");
    let committed = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        generated == committed,
        "docs/syscalls.md is stale; regenerate it with `cargo run -p carrick -- syscalls --markdown > docs/syscalls.md`"
    );
}

#[test]
fn listing_has_every_table_row() {
    let listing = carrick(&["syscalls"]);
    let rows: Vec<&str> = listing.lines().skip(1).collect();
    let table: Vec<_> = carrick_runtime::linux::SYSCALLS.iter().flatten().collect();
    assert_eq!(rows.len(), table.len());
    for (row, info) in rows.iter().zip(&table) {
        let fields: Vec<&str> = row.split_whitespace().collect();
        assert_eq!(fields[0], info.nr.to_string(), "row {row:?}");
        assert_eq!(fields[1], info.name, "row {row:?}");
        assert_eq!(fields[2], info.status.as_str(), "row {row:?}");
    }
}

#[test]
fn listing_filters_by_status() {
    let listing = carrick(&["syscalls", "--status", "unimplemented"]);
    let rows: Vec<&str> = listing.lines().skip(1).collect();
    let expected = carrick_runtime::linux::SYSCALLS
        .iter()
        .flatten()
        .filter(|info| info.status == carrick_runtime::linux::Status::Unimplemented)
        .count();
    assert_eq!(rows.len(), expected);
    assert!(rows
        .iter()
        .all(|row| row.split_whitespace().nth(2) == Some("unimplemented")));
}

#[test]
fn listing_names_known_numbers() {
    let listing = carrick(&["syscalls"]);
    let find = |name: &str| {
        listing
            .lines()
            .find(|line| line.split_whitespace().nth(1) == Some(name))
            .and_then(|line| line.split_whitespace().next().map(str::to_string))
    };
    // Numbers from the asm-generic table, which arm64 uses.
    assert_eq!(find("openat").as_deref(), Some("56"));
    assert_eq!(find("exit_group").as_deref(), Some("94"));
    assert_eq!(find("clone3").as_deref(), Some("435"));
}
