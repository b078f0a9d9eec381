//! `carrick syscalls`: the support table generated from `syscalls.toml`, as a listing or as
//! the Markdown page kept in `docs/syscalls.md`.

use std::io::Write as _;

use carrick_runtime::linux::{self, Status};
use clap::{Args, ValueEnum};

/// Options of `carrick syscalls`.
#[derive(Debug, Args)]
pub struct SyscallsArgs {
    /// Show only syscalls with this support status.
    #[arg(long, value_enum)]
    status: Option<StatusFilter>,
    /// Print the Markdown support matrix (the text of docs/syscalls.md).
    #[arg(long, conflicts_with = "status")]
    markdown: bool,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
enum StatusFilter {
    Implemented,
    Partial,
    Unimplemented,
}

impl StatusFilter {
    fn matches(self, status: Status) -> bool {
        matches!(
            (self, status),
            (StatusFilter::Implemented, Status::Implemented)
                | (StatusFilter::Partial, Status::Partial)
                | (StatusFilter::Unimplemented, Status::Unimplemented)
        )
    }
}

/// Prints the listing; one line per syscall: number, name, status and note.
pub fn run(args: &SyscallsArgs) -> anyhow::Result<()> {
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    if args.markdown {
        out.write_all(linux::SUPPORT_MATRIX.as_bytes())?;
        return Ok(());
    }
    writeln!(out, "{:>4}  {:<24} {:<14} NOTE", "NR", "NAME", "STATUS")?;
    for info in linux::SYSCALLS.iter().flatten() {
        if args
            .status
            .is_some_and(|filter| !filter.matches(info.status))
        {
            continue;
        }
        writeln!(
            out,
            "{:>4}  {:<24} {:<14} {}",
            info.nr,
            info.name,
            info.status.as_str(),
            info.note
        )?;
    }
    Ok(())
}
