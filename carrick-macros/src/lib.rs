//! Placeholder.
use proc_macro::TokenStream;
#[proc_macro_attribute]
pub fn syscall(_attr: TokenStream, item: TokenStream) -> TokenStream { item }
