//! Parses and validates a table file, printing every problem: `cargo run -p carrick-codegen
//! --example check_table -- syscalls.toml`.

use std::process::ExitCode;

fn main() -> ExitCode {
    let path = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "syscalls.toml".to_string());
    match carrick_codegen::load(std::path::Path::new(&path)) {
        Ok(checked) => {
            println!(
                "{path}: {} syscalls, {} structs, {} flag sets, {} errno values, {} signals",
                checked.table.syscall.len(),
                checked.table.structs.len(),
                checked.table.flags.len(),
                checked.table.errno.len(),
                checked.table.signal.len()
            );
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
