//! carrick's syscall-table compiler.
//!
//! Input: `syscalls.toml`, the one place where the Linux arm64 ABI is written down (format in
//! `docs/syscalls-toml.md`), and the handler files under `runtime/src/sys/`. Output: the
//! runtime's `linux` module (syscall numbers and names, the dispatch table, struct types with
//! compile-time layout checks, flag sets with host translation, errno and signal tables) and
//! the support matrix in `docs/syscalls.md`. The runtime's build script calls
//! [`build_runtime`]; the `#[syscall]` macro calls [`load`] to check handler signatures.
//!
//! Output is deterministic (rows in number order, maps sorted), so the generated code can be
//! kept as a reviewed snapshot.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

pub mod docs;
pub mod emit;
pub mod model;
pub mod validate;

pub use model::Table;

/// One problem found in the table, with its place (`syscalls.toml:123`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    pub location: String,
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.location, self.message)
    }
}

/// Failure to turn the table into code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The table is not valid TOML or does not match the format.
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    /// The table parsed but breaks a rule; one line per problem.
    #[error("{}", join_lines(.0))]
    Invalid(Vec<Diagnostic>),
}

fn join_lines(problems: &[Diagnostic]) -> String {
    let lines: Vec<String> = problems.iter().map(ToString::to_string).collect();
    lines.join("\n")
}

/// The table's text and file name, for turning byte offsets into line numbers.
pub struct Source {
    name: String,
    line_starts: Vec<usize>,
}

impl Source {
    pub fn new(name: &str, text: &str) -> Source {
        let mut line_starts = vec![0];
        line_starts.extend(text.match_indices('\n').map(|(index, _)| index + 1));
        Source {
            name: name.to_string(),
            line_starts,
        }
    }

    /// The 1-based line that contains byte `offset`.
    pub fn line(&self, offset: usize) -> usize {
        self.line_starts.partition_point(|&start| start <= offset)
    }

    pub fn at(&self, line: usize, message: String) -> Diagnostic {
        Diagnostic {
            location: format!("{}:{line}", self.name),
            message,
        }
    }
}

/// A table that parsed and passed validation.
pub struct Checked {
    pub table: Table,
    pub source: Source,
    pub layouts: validate::Layouts,
}

/// Parses and validates a table from its text. `name` is used in messages.
pub fn parse(name: &str, text: &str) -> Result<Checked, Error> {
    let table: Table = toml::from_str(text).map_err(|error| Error::Parse {
        path: PathBuf::from(name),
        message: describe_toml_error(text, &error),
    })?;
    let source = Source::new(name, text);
    let layouts = validate::validate(&table, &source).map_err(Error::Invalid)?;
    Ok(Checked {
        table,
        source,
        layouts,
    })
}

fn describe_toml_error(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim().to_string();
    match error.span() {
        Some(span) => {
            let line = Source::new("", text).line(span.start);
            format!("line {line}: {message}")
        }
        None => message,
    }
}

/// Reads, parses and validates `syscalls.toml`.
pub fn load(path: &Path) -> Result<Checked, Error> {
    let text = std::fs::read_to_string(path).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })?;
    parse(&display_name(path), &text)
}

fn display_name(path: &Path) -> String {
    path.file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Generates the runtime's `linux` module into `out`, and the support matrix as
/// `syscalls.md` beside it, after checking that every implemented
/// row has a handler under `handlers_dir`. Returns the files read, for `rerun-if-changed`.
pub fn build_runtime(table: &Path, handlers_dir: &Path, out: &Path) -> Result<Vec<PathBuf>, Error> {
    let checked = load(table)?;
    let (handlers, mut inputs) = find_handlers(handlers_dir)?;

    let problems = validate::check_handlers(&checked.table, &checked.source, &handlers);
    if !problems.is_empty() {
        return Err(Error::Invalid(problems));
    }

    let code = emit::runtime_module(&checked);
    write_if_changed(out, &code)?;
    let matrix = docs::support_matrix(&checked.table);
    write_if_changed(&out.with_file_name("syscalls.md"), &matrix)?;
    inputs.push(table.to_path_buf());
    inputs.push(handlers_dir.to_path_buf());
    Ok(inputs)
}

/// Writes `contents` unless the file already holds exactly that, so builds stay incremental.
pub fn write_if_changed(path: &Path, contents: &str) -> Result<(), Error> {
    if std::fs::read_to_string(path).is_ok_and(|old| old == contents) {
        return Ok(());
    }
    std::fs::write(path, contents).map_err(|source| Error::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// Finds `#[syscall]` handler functions in the `.rs` files under `dir`, returning each name
/// with its `file:line`, and the files read.
pub fn find_handlers(dir: &Path) -> Result<(BTreeMap<String, String>, Vec<PathBuf>), Error> {
    let mut files = Vec::new();
    collect_rust_files(dir, &mut files)?;
    files.sort();

    let mut handlers = BTreeMap::new();
    for file in &files {
        let text = std::fs::read_to_string(file).map_err(|source| Error::Io {
            path: file.clone(),
            source,
        })?;
        let mut pending = false;
        for (index, line) in text.lines().enumerate() {
            let trimmed = line.trim_start();
            if trimmed.starts_with("#[syscall") {
                pending = true;
                continue;
            }
            if !pending {
                continue;
            }
            if let Some(name) = fn_name(trimmed) {
                handlers.insert(
                    name.to_string(),
                    format!("{}:{}", file.display(), index + 1),
                );
                pending = false;
            } else if !trimmed.starts_with("#[") && !trimmed.starts_with("//") {
                pending = false;
            }
        }
    }
    Ok((handlers, files))
}

fn fn_name(line: &str) -> Option<&str> {
    let rest = line
        .strip_prefix("pub(crate) ")
        .or_else(|| line.strip_prefix("pub "))
        .unwrap_or(line);
    let rest = rest.strip_prefix("fn ")?;
    let end = rest.find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))?;
    Some(&rest[..end])
}

fn collect_rust_files(dir: &Path, files: &mut Vec<PathBuf>) -> Result<(), Error> {
    let entries = std::fs::read_dir(dir).map_err(|source| Error::Io {
        path: dir.to_path_buf(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| Error::Io {
            path: dir.to_path_buf(),
            source,
        })?;
        let path = entry.path();
        if path.is_dir() {
            collect_rust_files(&path, files)?;
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            files.push(path);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
