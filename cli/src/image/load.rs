//! `carrick load -i FILE`: importing `docker save` archives and OCI archives (a tar of an
//! OCI image layout).
//!
//! The archive is first extracted into a work directory with the same hostile-path checks as
//! layers. A `manifest.json` at the top makes it a `docker save` archive, whose layers and
//! config become blobs under a synthesized Docker v2 manifest. Otherwise `oci-layout` and
//! `index.json` make it an OCI archive, imported entry by entry like `oci:DIR`.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use carrick_runtime::vfs::layer::LayerMeta;
use serde::Deserialize;

use super::layout::{LayoutSource, REF_NAME};
use super::manifest::{Descriptor, Manifest, DOCKER_CONFIG, DOCKER_LAYER_TAR, DOCKER_MANIFEST};
use super::pull::{import_layout_entry, PullOptions};
use super::reference::ImageRef;
use super::store::{now, Digest, ImageRecord, Store, WorkDir};
use super::unpack::{extract, unpack_layer};

/// Annotation containerd and Docker put on OCI archive entries with the full image name.
const CONTAINERD_NAME: &str = "io.containerd.image.name";

#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct SavedImage {
    config: String,
    #[serde(default)]
    repo_tags: Option<Vec<String>>,
    layers: Vec<String>,
}

/// Loads every image in the archive at `path`; returns the stored records.
pub async fn load_archive(
    store: &Store,
    path: &Path,
    options: &PullOptions,
) -> Result<Vec<ImageRecord>> {
    let file = File::open(path)
        .with_context(|| format!("cannot open archive {}; check the path", path.display()))?;
    let work = store.work_dir()?;
    let root = work.path().join("archive");
    std::fs::create_dir(&root).with_context(|| format!("cannot create {}", root.display()))?;
    extract(
        std::io::BufReader::new(file),
        &root,
        &mut LayerMeta::default(),
    )
    .with_context(|| format!("{} is not a readable tar archive", path.display()))?;

    if root.join("manifest.json").is_file() {
        let _lock = store.lock_shared()?;
        return load_docker_save(store, &work, &root);
    }
    if root.join("oci-layout").is_file() {
        return load_oci_archive(store, &root, options).await;
    }
    bail!(
        "{} is neither a docker save archive (no manifest.json) nor an OCI archive (no oci-layout)",
        path.display()
    )
}

fn load_docker_save(store: &Store, work: &WorkDir, root: &Path) -> Result<Vec<ImageRecord>> {
    let text = std::fs::read(root.join("manifest.json")).context("cannot read manifest.json")?;
    let images: Vec<SavedImage> =
        serde_json::from_slice(&text).context("invalid manifest.json in docker save archive")?;
    let mut records = Vec::new();
    for image in images {
        let config_bytes = std::fs::read(archive_file(root, &image.config)?)
            .with_context(|| format!("cannot read config {}", image.config))?;
        let config_digest = Digest::of(&config_bytes);
        store.write_blob(work, &config_digest, &config_bytes)?;

        let mut layers = Vec::new();
        for layer in &image.layers {
            layers.push(import_file(store, work, &archive_file(root, layer)?)?);
        }
        let manifest = Manifest {
            schema_version: 2,
            media_type: Some(DOCKER_MANIFEST.to_string()),
            config: Descriptor {
                media_type: DOCKER_CONFIG.to_string(),
                digest: config_digest.clone(),
                size: config_bytes.len() as u64,
                platform: None,
                annotations: None,
            },
            layers: layers.clone(),
        };
        let manifest_bytes = serde_json::to_vec(&manifest)?;
        let manifest_digest = Digest::of(&manifest_bytes);
        store.write_blob(work, &manifest_digest, &manifest_bytes)?;
        for layer in &layers {
            unpack_layer(store, &layer.digest)?;
        }

        let mut names = Vec::new();
        for tag in image.repo_tags.unwrap_or_default() {
            names.push(Some(ImageRef::parse(&tag)?.store_name()));
        }
        if names.is_empty() {
            names.push(None);
        }
        for name in names {
            let record = ImageRecord {
                name,
                manifest: manifest_digest.clone(),
                index: None,
                config: config_digest.clone(),
                layers: layers.iter().map(|layer| layer.digest.clone()).collect(),
                size: layers.iter().map(|layer| layer.size).sum(),
                created: now(),
            };
            store.add_image(record.clone())?;
            records.push(record);
        }
    }
    Ok(records)
}

/// Copies an archive member into the store as a layer blob, choosing the media type by the
/// gzip magic number.
fn import_file(store: &Store, work: &WorkDir, path: &Path) -> Result<Descriptor> {
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut magic = [0u8; 2];
    let gzip = file.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b];
    let mut file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut writer = work.blob_writer()?;
    let size = std::io::copy(&mut file, &mut writer)
        .with_context(|| format!("cannot copy {}", path.display()))?;
    let digest = writer.commit_computed(store)?;
    let media_type = if gzip {
        "application/vnd.docker.image.rootfs.diff.tar.gzip"
    } else {
        DOCKER_LAYER_TAR
    };
    Ok(Descriptor {
        media_type: media_type.to_string(),
        digest,
        size,
        platform: None,
        annotations: None,
    })
}

/// Resolves a path named in `manifest.json`, following symlinks (older `docker save` links
/// duplicate layers) but never out of the extracted archive.
fn archive_file(root: &Path, name: &str) -> Result<PathBuf> {
    let root = std::fs::canonicalize(root)?;
    let path = std::fs::canonicalize(root.join(name))
        .with_context(|| format!("archive member {name} not found"))?;
    if !path.starts_with(&root) {
        bail!("archive member {name} points outside the archive");
    }
    Ok(path)
}

async fn load_oci_archive(
    store: &Store,
    root: &Path,
    options: &PullOptions,
) -> Result<Vec<ImageRecord>> {
    let layout = LayoutSource::open(root)?;
    let index = layout.index()?;
    let mut records = Vec::new();
    for entry in index.manifests {
        let annotations = entry.annotations.clone().unwrap_or_default();
        let full_name = annotations.get(CONTAINERD_NAME).or_else(|| {
            annotations
                .get(REF_NAME)
                .filter(|name| name.contains(':') || name.contains('/'))
        });
        let name = match full_name {
            Some(name) => Some(ImageRef::parse(name)?.store_name()),
            None => None,
        };
        let layout = LayoutSource::open(root)?;
        records.push(import_layout_entry(store, layout, entry, name, options).await?);
    }
    Ok(records)
}
