//! Pulling an image into the store from a registry or an OCI layout directory.
//!
//! Both sources go through the same steps. Fetch the manifest, choosing the platform's entry
//! from an index. Fetch the config and the layers not already unpacked, verifying each blob's
//! digest and size while it is written. Unpack the new layers, and only then record the image
//! name. A failure at any step leaves the name pointing where it did before.

use anyhow::{bail, Context, Result};
use futures_util::stream::{self, TryStreamExt};

use super::layout::LayoutSource;
use super::manifest::{parse_document, ConfigFile, Descriptor, Document, Manifest, PlatformSpec};
use super::progress::Progress;
use super::reference::ImageRef;
use super::registry::RegistrySource;
use super::store::{now, Digest, ImageRecord, Store, WorkDir};
use super::unpack::unpack_layer;

/// Number of layers downloaded at once.
const PARALLEL_DOWNLOADS: usize = 3;

/// Options for pulling.
#[derive(Debug, Clone, Default)]
pub struct PullOptions {
    /// Platform to select from an index; linux/arm64 by default.
    pub platform: PlatformSpec,
    /// Registries (`host[:port]`) to reach over plain HTTP in addition to loopback ones.
    pub insecure_registries: Vec<String>,
    /// Print nothing but errors.
    pub quiet: bool,
}

enum Source {
    Registry(RegistrySource),
    Layout(LayoutSource, Descriptor),
}

impl Source {
    /// Fetches the top-level manifest or index the reference names.
    async fn top(&self) -> Result<(Vec<u8>, Digest)> {
        match self {
            Source::Registry(registry) => registry.manifest(None).await,
            Source::Layout(layout, entry) => {
                Ok((layout.read_blob(&entry.digest)?, entry.digest.clone()))
            }
        }
    }

    async fn manifest(&self, digest: &Digest) -> Result<Vec<u8>> {
        match self {
            Source::Registry(registry) => {
                let (bytes, _) = registry.manifest(Some(digest)).await?;
                Ok(bytes)
            }
            Source::Layout(layout, _) => layout.read_blob(digest),
        }
    }

    /// Fetches blob `descriptor` into the store unless it is there.
    async fn fetch_blob(
        &self,
        store: &Store,
        work: &WorkDir,
        descriptor: &Descriptor,
        progress: &Progress,
    ) -> Result<()> {
        if store.has_blob(&descriptor.digest) {
            return Ok(());
        }
        let mut writer = work.blob_writer()?;
        let mut bar = progress.blob(descriptor.digest.short(), descriptor.size);
        let fetched = match self {
            Source::Registry(registry) => registry.blob(descriptor, &mut writer, &mut bar).await,
            Source::Layout(layout, _) => layout.blob(descriptor, &mut writer, &mut bar),
        };
        let committed =
            fetched.and_then(|()| writer.commit(store, &descriptor.digest, Some(descriptor.size)));
        match committed {
            Ok(()) => {
                bar.finish();
                Ok(())
            }
            Err(error) => {
                bar.abandon();
                Err(error)
            }
        }
    }
}

/// Pulls `image` into the store and records it under its name.
pub async fn pull(store: &Store, image: &ImageRef, options: &PullOptions) -> Result<ImageRecord> {
    let source = match image {
        ImageRef::Registry(reference) => Source::Registry(RegistrySource::new(
            store,
            reference,
            &options.platform,
            &options.insecure_registries,
        )?),
        ImageRef::Layout { dir, tag } => {
            let layout = LayoutSource::open(dir)?;
            let entry = layout.entry(tag.as_deref())?;
            Source::Layout(layout, entry)
        }
    };
    pull_from(store, &source, Some(image.store_name()), options).await
}

/// Imports the image that `entry` of the OCI layout at `layout` names, recording it as `name`
/// (untagged when `None`).
pub async fn import_layout_entry(
    store: &Store,
    layout: LayoutSource,
    entry: Descriptor,
    name: Option<String>,
    options: &PullOptions,
) -> Result<ImageRecord> {
    pull_from(store, &Source::Layout(layout, entry), name, options).await
}

async fn pull_from(
    store: &Store,
    source: &Source,
    name: Option<String>,
    options: &PullOptions,
) -> Result<ImageRecord> {
    let progress = Progress::new(options.quiet);
    let label = name.clone().unwrap_or_else(|| "image".to_string());

    let _lock = store.lock_shared()?;
    store.remove_stale_work_dirs()?;
    let work = store.work_dir()?;

    let (top_bytes, top_digest) = source.top().await?;
    store.write_blob(&work, &top_digest, &top_bytes)?;
    let (manifest_bytes, manifest_digest, index) = match parse_document(&top_bytes)? {
        Document::Manifest(_) => (top_bytes, top_digest, None),
        Document::Index(index) => {
            let Some(entry) = options.platform.select(&index.manifests) else {
                let available: Vec<String> = index
                    .manifests
                    .iter()
                    .filter_map(|entry| entry.platform.as_ref())
                    .map(|platform| format!("{}/{}", platform.os, platform.architecture))
                    .collect();
                bail!(
                    "image {label} has no {} variant (it has: {}); carrick runs linux/arm64 images",
                    options.platform,
                    available.join(", ")
                );
            };
            let bytes = source.manifest(&entry.digest).await?;
            store.write_blob(&work, &entry.digest, &bytes)?;
            (bytes, entry.digest.clone(), Some(top_digest))
        }
    };
    let Document::Manifest(manifest) = parse_document(&manifest_bytes)? else {
        bail!(
            "image {label}: the index entry for {} is another index, which carrick does not follow",
            options.platform
        );
    };

    source
        .fetch_blob(store, &work, &manifest.config, &progress)
        .await?;
    check_platform(store, &label, &manifest, &options.platform)?;

    let missing: Vec<&Descriptor> = manifest
        .layers
        .iter()
        .filter(|layer| !store.has_layer(&layer.digest))
        .collect();
    if missing.len() < manifest.layers.len() {
        progress.message(&format!(
            "{label}: {} of {} layers already in the store",
            manifest.layers.len() - missing.len(),
            manifest.layers.len()
        ));
    }
    stream::iter(missing.iter().map(Ok))
        .try_for_each_concurrent(PARALLEL_DOWNLOADS, |layer| {
            source.fetch_blob(store, &work, layer, &progress)
        })
        .await?;
    for layer in &missing {
        progress.message(&format!("{}: extracting", layer.digest.short()));
        unpack_layer(store, &layer.digest)?;
    }

    let record = ImageRecord {
        name,
        manifest: manifest_digest,
        index,
        config: manifest.config.digest.clone(),
        layers: manifest
            .layers
            .iter()
            .map(|layer| layer.digest.clone())
            .collect(),
        size: manifest.layers.iter().map(|layer| layer.size).sum(),
        created: now(),
    };
    store.add_image(record.clone())?;
    progress.message(&format!(
        "{label}: pulled, image id {}",
        record.config.short()
    ));
    Ok(record)
}

/// Rejects an image whose config names another platform, as a single-platform manifest
/// carries no platform of its own.
fn check_platform(
    store: &Store,
    name: &str,
    manifest: &Manifest,
    platform: &PlatformSpec,
) -> Result<()> {
    let config = read_config(store, &manifest.config.digest)?;
    if config.os.is_empty() && config.architecture.is_empty() {
        return Ok(());
    }
    if !platform.matches(&config.os, &config.architecture, config.variant.as_deref()) {
        bail!(
            "image {name} is for {}/{}, not {platform}; carrick runs linux/arm64 images, so pull an arm64 image",
            config.os,
            config.architecture
        );
    }
    Ok(())
}

/// Reads and parses an image config blob.
pub fn read_config(store: &Store, digest: &Digest) -> Result<ConfigFile> {
    let bytes = store.read_blob(digest)?;
    serde_json::from_slice(&bytes).with_context(|| format!("invalid image config {digest}"))
}
