//! Snapshots of what the table compiles to: the generated `linux` module and a readable list
//! of struct layouts, kept under `snapshots/` at the repository root. A change to the table or
//! the generator that alters either fails here until it is reviewed with `cargo insta review`.

#![allow(clippy::panic)]

use std::fmt::Write as _;
use std::path::Path;

fn checked() -> carrick_codegen::Checked {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../syscalls.toml");
    match carrick_codegen::load(&path) {
        Ok(checked) => checked,
        Err(error) => panic!("syscalls.toml does not compile:\n{error}"),
    }
}

fn settings() -> insta::Settings {
    let mut settings = insta::Settings::clone_current();
    settings.set_snapshot_path(Path::new(env!("CARGO_MANIFEST_DIR")).join("../snapshots"));
    settings.set_prepend_module_to_snapshot(false);
    settings.set_omit_expression(true);
    settings
}

#[test]
fn generated_module_snapshot() {
    let code = carrick_codegen::emit::runtime_module(&checked());
    settings().bind(|| insta::assert_snapshot!("generated_linux_rs", code));
}

#[test]
fn struct_layouts_snapshot() {
    let checked = checked();
    let mut text = String::new();
    for (name, def) in &checked.table.structs {
        let def = def.get_ref();
        let _ = writeln!(text, "{name}: size {} align {}", def.size, def.align);
        for field in &def.fields {
            let field = field.get_ref();
            let pad = if field.pad { " (padding)" } else { "" };
            let _ = writeln!(
                text,
                "  {:>4} {} {}{pad}",
                field.offset, field.name, field.ty
            );
        }
    }
    settings().bind(|| insta::assert_snapshot!("struct_layouts", text));
}
