//! Setting up a container from an image: the layer stack, the run config and a fresh
//! writable directory. Nothing from the image is copied; the runtime reads the unpacked
//! layers in place.
//!
//! Each container has `containers/<id>/container.json`, which names its layers so that
//! `carrick image prune` keeps them while the container exists, and `containers/<id>/upper/`.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::manifest::RunConfig;
use super::pull::{pull, read_config, PullOptions};
use super::reference::ImageRef;
use super::store::{now, random_hex, remove_tree, write_atomic, Digest, ImageRecord, Store};
use super::unpack::unpack_layer;

/// Everything `carrick run` needs to start a container's first process.
#[derive(Debug, Clone, Serialize)]
pub struct ContainerSpec {
    /// 32 hex digits.
    pub id: String,
    /// The image name as stored (or its id when it has no name).
    pub image: String,
    /// `containers/<id>`.
    pub dir: PathBuf,
    /// Unpacked layer directories, bottom to top. Each contains `root/` and `meta`; read them
    /// with `carrick_runtime::vfs::layer::LayerMeta`. They must not be written.
    pub layers: Vec<PathBuf>,
    /// The container's writable directory, empty at creation.
    pub upper: PathBuf,
    /// Entrypoint, Cmd, Env, WorkingDir and User from the image config.
    pub config: RunConfig,
}

#[derive(Debug, Serialize, Deserialize)]
struct ContainerFile {
    version: u32,
    id: String,
    image: String,
    manifest: Digest,
    layers: Vec<Digest>,
    created: u64,
}

const CONTAINER_VERSION: u32 = 1;

/// Resolves `image` (pulling it if the store lacks it, as `docker run` does) and creates a
/// container for it.
pub fn create_container(
    store: &Store,
    image: &str,
    options: &PullOptions,
) -> Result<ContainerSpec> {
    let record = ensure_image(store, image, options)?;

    // Hold the store lock until container.json names the layers, so a concurrent prune
    // cannot remove them in between.
    let _lock = store.lock_shared()?;
    let mut layers = Vec::with_capacity(record.layers.len());
    for layer in &record.layers {
        layers.push(unpack_layer(store, layer)?);
    }
    let config = read_config(store, &record.config)?
        .config
        .unwrap_or_default();

    let id = random_hex(16)?;
    let dir = store.containers_dir().join(&id);
    let upper = dir.join("upper");
    std::fs::create_dir_all(&upper)
        .with_context(|| format!("cannot create {}", upper.display()))?;
    let image_name = record
        .name
        .clone()
        .unwrap_or_else(|| record.config.short().to_string());
    let file = ContainerFile {
        version: CONTAINER_VERSION,
        id: id.clone(),
        image: image_name.clone(),
        manifest: record.manifest.clone(),
        layers: record.layers.clone(),
        created: now(),
    };
    write_atomic(
        &dir.join("container.json"),
        &serde_json::to_vec_pretty(&file)?,
        0o644,
    )?;

    Ok(ContainerSpec {
        id,
        image: image_name,
        dir,
        layers,
        upper,
        config,
    })
}

/// Deletes a container's directory and its writable layer (`--rm`).
pub fn remove_container(store: &Store, id: &str) -> Result<()> {
    if id.is_empty() || !id.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        bail!("invalid container id {id:?}; ids are hex digits");
    }
    let dir = store.containers_dir().join(id);
    if !dir.exists() {
        bail!("no container {id} in {}", store.containers_dir().display());
    }
    remove_tree(&dir)
}

/// Returns the layers of every existing container, for garbage collection.
pub fn layers_in_use(store: &Store) -> Result<Vec<Vec<Digest>>> {
    let mut in_use = Vec::new();
    let dir = store.containers_dir();
    for entry in
        std::fs::read_dir(&dir).with_context(|| format!("cannot list {}", dir.display()))?
    {
        let path = entry?.path().join("container.json");
        let Ok(text) = std::fs::read(&path) else {
            continue;
        };
        match serde_json::from_slice::<ContainerFile>(&text) {
            Ok(file) => in_use.push(file.layers),
            Err(error) => {
                tracing::warn!(path = %path.display(), %error, "skipping unreadable container record")
            }
        }
    }
    Ok(in_use)
}

/// Finds an image by name (`debian`, `debian:bookworm`, ...) or by a prefix of its id.
pub fn find_image(store: &Store, text: &str) -> Result<Option<ImageRecord>> {
    let images = store.images()?;
    // The full reference parser compiles a large regex (about 90 ms); a plain Docker name
    // found in the store needs none of it, which keeps container start-up fast.
    if let Some(name) = crate::image::reference::plain_store_name(text) {
        if let Some(record) = images
            .iter()
            .find(|record| record.name.as_deref() == Some(name.as_str()))
        {
            return Ok(Some(record.clone()));
        }
    }
    if let Ok(reference) = ImageRef::parse(text) {
        let name = reference.store_name();
        if let Some(record) = images
            .iter()
            .find(|record| record.name.as_deref() == Some(name.as_str()))
        {
            return Ok(Some(record.clone()));
        }
    }

    let prefix = text.strip_prefix("sha256:").unwrap_or(text);
    if prefix.len() < 4 || !prefix.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Ok(None);
    }
    let matches: Vec<&ImageRecord> = images
        .iter()
        .filter(|record| record.config.hex().starts_with(prefix))
        .collect();
    let distinct: std::collections::BTreeSet<&Digest> =
        matches.iter().map(|record| &record.config).collect();
    if distinct.len() > 1 {
        bail!("image id prefix {text} is ambiguous; give more digits");
    }
    Ok(matches.first().map(|record| (*record).clone()))
}

/// Returns the stored image `text`, pulling it when missing or when its layers were pruned.
pub fn ensure_image(store: &Store, text: &str, options: &PullOptions) -> Result<ImageRecord> {
    if let Some(record) = find_image(store, text)? {
        let complete = store.has_blob(&record.config)
            && record
                .layers
                .iter()
                .all(|layer| store.has_layer(layer) || store.has_blob(layer));
        if complete {
            return Ok(record);
        }
    }
    let reference = ImageRef::parse(text)?;
    if let ImageRef::Registry(_) = reference {
        if !options.quiet {
            eprintln!("Unable to find image '{text}' locally");
        }
    }
    let runtime = async_runtime()?;
    runtime.block_on(pull(store, &reference, options))
}

/// Builds the single-threaded async runtime the registry client runs on.
pub fn async_runtime() -> Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")
}
