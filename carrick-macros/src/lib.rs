//! Proc macros that bind hand-written syscall handlers to their rows in `syscalls.toml`.
//!
//! `#[syscall]` on `fn openat(cx: &mut SyscallContext<'_>, dfd: DirFd, ...) -> SysResult`
//! looks up the row named after the function, checks that every parameter after the context
//! has the Rust type the row's argument type maps to (`docs/syscalls-toml.md` lists the
//! mapping), and generates `__sys_openat`, the entry point the dispatch table calls, which
//! decodes the six raw argument registers through `FromArg`. A handler that disagrees with its
//! row is a compile error pointing at the parameter.

use std::path::PathBuf;
use std::sync::OnceLock;

use carrick_codegen::model::{Arg, ArgKind, Syscall};
use carrick_codegen::Checked;
use proc_macro::TokenStream;
use proc_macro2::Span;
use quote::{format_ident, quote};
use syn::spanned::Spanned;
use syn::{FnArg, GenericArgument, ItemFn, PathArguments, Type};

/// Binds a handler to its `syscalls.toml` row and generates its dispatch entry point.
#[proc_macro_attribute]
pub fn syscall(attr: TokenStream, item: TokenStream) -> TokenStream {
    if !attr.is_empty() {
        return syn::Error::new(
            Span::call_site(),
            "#[syscall] takes no arguments; the function name selects the row",
        )
        .to_compile_error()
        .into();
    }
    let function = syn::parse_macro_input!(item as ItemFn);
    match expand(&function) {
        Ok(tokens) => tokens.into(),
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#function #error).into()
        }
    }
}

/// The table, parsed once per compiler process.
fn table() -> Result<&'static Checked, String> {
    static TABLE: OnceLock<Result<Checked, String>> = OnceLock::new();
    TABLE
        .get_or_init(|| {
            let manifest = std::env::var_os("CARGO_MANIFEST_DIR").unwrap_or_default();
            let path = PathBuf::from(manifest).join("../syscalls.toml");
            carrick_codegen::load(&path).map_err(|error| error.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

fn expand(function: &ItemFn) -> syn::Result<proc_macro2::TokenStream> {
    let name = function.sig.ident.to_string();
    let checked = table().map_err(|message| syn::Error::new(Span::call_site(), message))?;
    let row = checked
        .table
        .syscall
        .iter()
        .map(|row| row.get_ref())
        .find(|row| row.name == name)
        .ok_or_else(|| {
            syn::Error::new(
                function.sig.ident.span(),
                format!(
                    "`{name}` is not a syscall in syscalls.toml; a handler is named after its row"
                ),
            )
        })?;
    if !row.status.has_handler() {
        return Err(syn::Error::new(
            function.sig.ident.span(),
            format!("syscalls.toml marks `{name}` unimplemented; set its status to \"implemented\" or \"partial\""),
        ));
    }

    let params: Vec<&syn::PatType> = function
        .sig
        .inputs
        .iter()
        .map(|input| match input {
            FnArg::Typed(typed) => Ok(typed),
            FnArg::Receiver(receiver) => Err(syn::Error::new(
                receiver.span(),
                "a syscall handler is a free function",
            )),
        })
        .collect::<syn::Result<_>>()?;
    let Some((context, args)) = params.split_first() else {
        return Err(syn::Error::new(
            function.sig.span(),
            "a syscall handler takes `cx: &mut SyscallContext<'_>` first",
        ));
    };
    check_context(context)?;
    check_args(row, args, &function.sig)?;

    let handler = &function.sig.ident;
    let entry = format_ident!("__sys_{}", name);
    let decoded = args.iter().enumerate().map(|(index, param)| {
        let ty = &param.ty;
        quote!(<#ty as crate::sys::FromArg>::from_arg(raw[#index])?)
    });
    let doc = format!(
        "Dispatch entry for `{name}` (nr {}): decodes the argument registers and calls [`{name}`].",
        row.nr
    );
    Ok(quote! {
        #function

        #[doc = #doc]
        pub fn #entry(cx: &mut crate::sys::SyscallContext<'_>, raw: &[u64; 6]) -> crate::sys::SysResult {
            let _ = raw;
            #handler(cx, #(#decoded),*)
        }
    })
}

fn check_context(param: &syn::PatType) -> syn::Result<()> {
    let ok = match &*param.ty {
        Type::Reference(reference) => {
            reference.mutability.is_some()
                && last_ident(&reference.elem).as_deref() == Some("SyscallContext")
        }
        _ => false,
    };
    if ok {
        Ok(())
    } else {
        Err(syn::Error::new(
            param.ty.span(),
            "the first parameter must be `cx: &mut SyscallContext<'_>`",
        ))
    }
}

fn check_args(
    row: &Syscall,
    params: &[&syn::PatType],
    signature: &syn::Signature,
) -> syn::Result<()> {
    if params.len() != row.args.len() {
        let expected: Vec<String> = row
            .args
            .iter()
            .map(|arg| format!("{}: {}", arg.name, expected_type(arg)))
            .collect();
        return Err(syn::Error::new(
            signature.inputs.span(),
            format!(
                "`{}` takes {} arguments in syscalls.toml ({}); the handler has {}",
                row.name,
                row.args.len(),
                expected.join(", "),
                params.len()
            ),
        ));
    }
    for (param, arg) in params.iter().zip(&row.args) {
        let expected = expected_type(arg);
        let found = type_signature(&param.ty);
        if found.as_deref() != Some(expected.as_str()) {
            return Err(syn::Error::new(
                param.ty.span(),
                format!(
                    "argument `{}` of `{}` is `{}` in syscalls.toml, so the handler takes `{expected}`",
                    arg.name,
                    row.name,
                    arg.kind.as_str()
                ),
            ));
        }
    }
    Ok(())
}

/// The Rust type a handler takes for an argument, as `Name` or `Name<Inner>`.
fn expected_type(arg: &Arg) -> String {
    let type_name = |name: &Option<String>| {
        carrick_codegen::model::type_name(name.as_deref().unwrap_or_default())
    };
    match arg.kind {
        ArgKind::Int | ArgKind::Pid | ArgKind::Signal | ArgKind::Clockid => "i32".into(),
        ArgKind::Uint | ArgKind::Uid | ArgKind::Gid | ArgKind::Mode => "u32".into(),
        ArgKind::Long | ArgKind::Off => "i64".into(),
        ArgKind::Ulong | ArgKind::Size => "u64".into(),
        ArgKind::Fd => "Fd".into(),
        ArgKind::Dirfd => "DirFd".into(),
        ArgKind::Addr | ArgKind::Ptr => "GuestAddr".into(),
        ArgKind::Flags | ArgKind::Enum => type_name(&arg.set),
        ArgKind::Path | ArgKind::Cstr => "CStrPtr".into(),
        ArgKind::CstrArray => "StrArrayPtr".into(),
        ArgKind::BufIn | ArgKind::BufOut => "UserBuf".into(),
        ArgKind::StructIn | ArgKind::StructOut | ArgKind::StructInout => {
            format!("UserPtr<{}>", type_name(&arg.struct_name))
        }
        ArgKind::ArrayIn | ArgKind::ArrayOut | ArgKind::ArrayInout => {
            format!("UserArray<{}>", type_name(&arg.struct_name))
        }
        ArgKind::ScalarOut | ArgKind::ScalarInout => {
            format!(
                "UserPtr<{}>",
                arg.scalar.map_or("?", |scalar| scalar.rust())
            )
        }
    }
}

fn last_ident(ty: &Type) -> Option<String> {
    match ty {
        Type::Path(path) => path
            .path
            .segments
            .last()
            .map(|segment| segment.ident.to_string()),
        _ => None,
    }
}

/// A parameter type reduced to `Name` or `Name<Inner>` by last path segments, so
/// `linux::OpenFlags` and `OpenFlags` compare equal.
fn type_signature(ty: &Type) -> Option<String> {
    let Type::Path(path) = ty else { return None };
    let segment = path.path.segments.last()?;
    let name = segment.ident.to_string();
    match &segment.arguments {
        PathArguments::None => Some(name),
        PathArguments::AngleBracketed(generic) => {
            let inner: Vec<String> = generic
                .args
                .iter()
                .filter_map(|arg| match arg {
                    GenericArgument::Type(inner) => type_signature(inner),
                    _ => None,
                })
                .collect();
            Some(format!("{name}<{}>", inner.join(", ")))
        }
        PathArguments::Parenthesized(_) => None,
    }
}
