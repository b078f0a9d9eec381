//! Generates `$OUT_DIR/linux.rs` from `../syscalls.toml` (see `carrick-codegen`). The table
//! and every handler file under `src/sys/` are inputs, because an implemented row must have a
//! handler there.

use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    let manifest_dir = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default());
    let out_dir = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    let table = manifest_dir.join("../syscalls.toml");
    let handlers = manifest_dir.join("src/sys");

    match carrick_codegen::build_runtime(&table, &handlers, &out_dir.join("linux.rs")) {
        Ok(inputs) => {
            for input in inputs {
                println!("cargo:rerun-if-changed={}", input.display());
            }
            ExitCode::SUCCESS
        }
        Err(error) => {
            // Cargo shows build-script stderr; one line per problem, each naming file:line.
            eprintln!("{error}");
            ExitCode::FAILURE
        }
    }
}
