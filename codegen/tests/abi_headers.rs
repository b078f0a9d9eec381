//! Checks the syscall rows of `syscalls.toml` against the arm64 uapi headers: every number
//! `<asm/unistd.h>` defines for aarch64 must have exactly one row with the same name, and the
//! table must have no other rows. The numbers come from the cross preprocessor's macro dump,
//! so this fails on a machine without `aarch64-linux-gnu-gcc` instead of skipping.

mod abi_common;

use std::collections::{BTreeMap, BTreeSet};

use abi_common::{array, int_field, load_table, run_cross_gcc, str_field};

/// Macros named `__NR_*` that are not syscalls: the table size, and the first number of the
/// range an architecture may use for its own calls (arm64 defines none there).
const NOT_SYSCALLS: [&str; 2] = ["syscalls", "arch_specific_syscall"];

/// The syscall numbers of `<asm/unistd.h>` for aarch64, by name, and `__NR_syscalls`.
struct HeaderNumbers {
    by_name: BTreeMap<String, i64>,
    count: i64,
}

/// Expands `#include <asm/unistd.h>` with the cross preprocessor and resolves every `__NR_`
/// macro to its number, following `__NR3264_*` indirections.
fn header_numbers() -> Result<HeaderNumbers, String> {
    let output = run_cross_gcc(&["-E", "-dM", "-"], "#include <asm/unistd.h>\n")?;
    let text = String::from_utf8_lossy(&output.stdout);

    let mut macros = BTreeMap::new();
    for line in text.lines() {
        let mut words = line.split_whitespace();
        if words.next() != Some("#define") {
            continue;
        }
        let (Some(name), Some(body)) = (words.next(), words.next()) else {
            continue;
        };
        if name.starts_with("__NR") {
            macros.insert(name.to_string(), body.to_string());
        }
    }

    let mut by_name = BTreeMap::new();
    let mut count = None;
    for name in macros.keys() {
        let Some(short) = name.strip_prefix("__NR_") else {
            continue;
        };
        let number = resolve(&macros, name)?;
        if short == "syscalls" {
            count = Some(number);
        } else if !NOT_SYSCALLS.contains(&short) {
            by_name.insert(short.to_string(), number);
        }
    }
    let count = count.ok_or("<asm/unistd.h> does not define __NR_syscalls")?;
    Ok(HeaderNumbers { by_name, count })
}

/// Resolves a macro whose body is a decimal number or the name of another macro.
fn resolve(macros: &BTreeMap<String, String>, name: &str) -> Result<i64, String> {
    let mut current = name;
    for _ in 0..8 {
        let body = macros
            .get(current)
            .ok_or_else(|| format!("{name} refers to {current}, which is not defined"))?;
        if let Ok(number) = body.parse::<i64>() {
            return Ok(number);
        }
        current = body;
    }
    Err(format!("{name}: too many levels of indirection"))
}

/// Reads the syscall rows of the table as (number, name) pairs, in file order.
fn table_rows() -> Result<Vec<(i64, String)>, String> {
    let table = load_table()?;
    array(&table, "syscall")
        .iter()
        .enumerate()
        .map(|(index, row)| {
            let context = format!("syscall row {}", index + 1);
            Ok((
                int_field(row, "nr", &context)?,
                str_field(row, "name", &context)?.to_string(),
            ))
        })
        .collect()
}

#[test]
fn syscall_numbers_match_headers() {
    let headers = header_numbers().unwrap_or_else(|err| panic!("{err}"));
    let rows = table_rows().unwrap_or_else(|err| panic!("{err}"));
    assert!(
        headers.by_name.len() > 300,
        "only {} syscall numbers parsed from <asm/unistd.h>",
        headers.by_name.len()
    );

    let header_by_nr: BTreeMap<i64, &str> = headers
        .by_name
        .iter()
        .map(|(name, nr)| (*nr, name.as_str()))
        .collect();
    let mut table_by_nr: BTreeMap<i64, &str> = BTreeMap::new();
    let mut problems = Vec::new();

    for (nr, name) in &rows {
        if let Some(previous) = table_by_nr.insert(*nr, name) {
            problems.push(format!("number {nr} has two rows: {previous} and {name}"));
        }
    }
    for (nr, header_name) in &header_by_nr {
        match table_by_nr.get(nr) {
            None => problems.push(format!("missing: {header_name} = {nr} has no row")),
            Some(name) if name != header_name => problems.push(format!(
                "misnamed: row {nr} is `{name}`, the headers say `{header_name}`"
            )),
            Some(_) => {}
        }
    }
    for (nr, name) in &table_by_nr {
        if !header_by_nr.contains_key(nr) {
            let hint = match headers.by_name.get(*name) {
                Some(real) => format!(" (the headers number {name} {real})"),
                None => String::new(),
            };
            problems.push(format!(
                "extra: row {nr} `{name}` is not an arm64 syscall{hint}"
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "syscalls.toml disagrees with <asm/unistd.h>:\n{}",
        problems.join("\n")
    );

    let max = table_by_nr.keys().next_back().copied().unwrap_or(-1);
    assert!(
        max < headers.count,
        "row {max} is not below __NR_syscalls = {}",
        headers.count
    );
}

#[test]
fn syscall_rows_in_number_order() {
    let rows = table_rows().unwrap_or_else(|err| panic!("{err}"));
    let out_of_order: Vec<String> = rows
        .windows(2)
        .filter(|pair| pair[0].0 >= pair[1].0)
        .map(|pair| {
            format!(
                "{} ({}) before {} ({})",
                pair[0].1, pair[0].0, pair[1].1, pair[1].0
            )
        })
        .collect();
    assert!(
        out_of_order.is_empty(),
        "rows out of number order:\n{}",
        out_of_order.join("\n")
    );
}

#[test]
fn syscall_names_are_unique() {
    let rows = table_rows().unwrap_or_else(|err| panic!("{err}"));
    let mut seen = BTreeSet::new();
    let duplicates: Vec<&str> = rows
        .iter()
        .filter(|(_, name)| !seen.insert(name.as_str()))
        .map(|(_, name)| name.as_str())
        .collect();
    assert!(
        duplicates.is_empty(),
        "names used by more than one row: {duplicates:?}"
    );
}
