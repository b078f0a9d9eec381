//! OCI images: references, the content-addressed store, pulling from registries and OCI
//! layouts, loading archives, unpacking layers, and container set-up for `carrick run`.
//!
//! The store layout is described in [`store`]; the unpacked-layer format that the runtime's
//! union filesystem reads is defined in `carrick_runtime::vfs::layer`.

pub mod auth;
pub mod commands;
pub mod container;
pub mod layout;
pub mod load;
pub mod manifest;
pub mod progress;
pub mod pull;
pub mod reference;
pub mod registry;
pub mod store;
pub mod unpack;

pub use container::{create_container, remove_container};
pub use manifest::PlatformSpec;
pub use pull::PullOptions;
pub use store::Store;
