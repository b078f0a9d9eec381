//! Placeholder: filled in by the module's owner.

pub mod layer;
