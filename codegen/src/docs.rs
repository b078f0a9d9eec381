//! The support matrix, `docs/syscalls.md`, generated from the table. A test in the runtime
//! fails when the committed page differs from what this produces.

use std::fmt::Write as _;

use crate::model::{Status, Table};

/// Renders the support matrix as Markdown.
pub fn support_matrix(table: &Table) -> String {
    let mut rows: Vec<_> = table.syscall.iter().map(|row| row.get_ref()).collect();
    rows.sort_by_key(|row| row.nr);

    let count = |status: Status| rows.iter().filter(|row| row.status == status).count();
    let mut out = String::new();
    out.push_str("# Syscall support matrix\n\n");
    out.push_str(
        "Generated from `syscalls.toml` by `carrick-codegen`; do not edit by hand. Regenerate with\n`cargo run -p carrick -- syscalls --markdown > docs/syscalls.md` (a test fails when this page\nis stale).\n\n",
    );
    let _ = writeln!(
        out,
        "Linux {} syscall table (uapi headers of Linux {}): {} numbers, {} implemented, {} partial, {} not implemented.\n",
        table.meta.arch,
        table.meta.kernel,
        rows.len(),
        count(Status::Implemented),
        count(Status::Partial),
        count(Status::Unimplemented)
    );
    out.push_str("| nr | name | status | note |\n| ---: | --- | --- | --- |\n");
    for row in rows {
        let note = row.note.replace('|', "\\|");
        let _ = writeln!(
            out,
            "| {} | `{}` | {} | {} |",
            row.nr,
            row.name,
            row.status.as_str(),
            note
        );
    }
    out
}
