//! Reading images from an OCI image layout directory (`oci-layout`, `index.json`,
//! `blobs/<alg>/<hex>`), as written by umoci, skopeo and `docker save` since Docker 25.

use std::fs::File;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};

use super::manifest::{Descriptor, Index};
use super::progress::BlobProgress;
use super::store::{BlobWriter, Digest};

/// Annotation that names an image in a layout's `index.json`.
pub const REF_NAME: &str = "org.opencontainers.image.ref.name";

/// An OCI layout directory.
pub struct LayoutSource {
    dir: PathBuf,
}

impl LayoutSource {
    /// Opens `dir`, checking its `oci-layout` marker.
    pub fn open(dir: &Path) -> Result<LayoutSource> {
        let marker = dir.join("oci-layout");
        let text = std::fs::read(&marker).with_context(|| {
            format!("{} is not an OCI image layout (no oci-layout file); give a directory made by umoci or skopeo", dir.display())
        })?;
        let value: serde_json::Value = serde_json::from_slice(&text)
            .with_context(|| format!("invalid {}", marker.display()))?;
        let version = value
            .get("imageLayoutVersion")
            .and_then(|version| version.as_str());
        if version != Some("1.0.0") {
            bail!(
                "{} has imageLayoutVersion {version:?}; carrick reads version 1.0.0",
                marker.display()
            );
        }
        Ok(LayoutSource {
            dir: dir.to_path_buf(),
        })
    }

    /// Reads `index.json`.
    pub fn index(&self) -> Result<Index> {
        let path = self.dir.join("index.json");
        let text =
            std::fs::read(&path).with_context(|| format!("cannot read {}", path.display()))?;
        serde_json::from_slice(&text).with_context(|| format!("invalid {}", path.display()))
    }

    /// Picks the `index.json` entry named `tag`, or the only entry when `tag` is `None`.
    pub fn entry(&self, tag: Option<&str>) -> Result<Descriptor> {
        let index = self.index()?;
        let names: Vec<&str> = index
            .manifests
            .iter()
            .filter_map(|entry| {
                entry
                    .annotations
                    .as_ref()?
                    .get(REF_NAME)
                    .map(String::as_str)
            })
            .collect();
        let found = match tag {
            Some(tag) => index.manifests.iter().find(|entry| {
                entry
                    .annotations
                    .as_ref()
                    .and_then(|annotations| annotations.get(REF_NAME))
                    .is_some_and(|name| name == tag)
            }),
            None if index.manifests.len() == 1 => index.manifests.first(),
            None => bail!(
                "OCI layout {} has {} images; name one as oci:DIR:TAG (tags: {})",
                self.dir.display(),
                index.manifests.len(),
                names.join(", ")
            ),
        };
        match found {
            Some(entry) => Ok(entry.clone()),
            None => bail!(
                "tag {:?} not found in OCI layout {}; its tags are: {}",
                tag.unwrap_or_default(),
                self.dir.display(),
                names.join(", ")
            ),
        }
    }

    fn blob_path(&self, digest: &Digest) -> PathBuf {
        self.dir.join("blobs/sha256").join(digest.hex())
    }

    /// Reads a small blob (manifest or index) whole, checking its digest.
    pub fn read_blob(&self, digest: &Digest) -> Result<Vec<u8>> {
        let path = self.blob_path(digest);
        let bytes = std::fs::read(&path).with_context(|| {
            format!(
                "blob {digest} missing from OCI layout {}",
                self.dir.display()
            )
        })?;
        let actual = Digest::of(&bytes);
        if actual != *digest {
            bail!(
                "blob {digest} in OCI layout {} hashes to {actual}; the layout is corrupt",
                self.dir.display()
            );
        }
        Ok(bytes)
    }

    /// Copies blob `descriptor` into `writer`, which verifies it on commit.
    pub fn blob(
        &self,
        descriptor: &Descriptor,
        writer: &mut BlobWriter,
        progress: &mut BlobProgress,
    ) -> Result<()> {
        let path = self.blob_path(&descriptor.digest);
        let mut file = File::open(&path).with_context(|| {
            format!(
                "blob {} missing from OCI layout {}",
                descriptor.digest,
                self.dir.display()
            )
        })?;
        let mut buffer = vec![0u8; 1 << 16];
        loop {
            let count = file
                .read(&mut buffer)
                .with_context(|| format!("cannot read {}", path.display()))?;
            if count == 0 {
                return Ok(());
            }
            std::io::Write::write_all(writer, &buffer[..count])
                .with_context(|| super::store::write_failure(&descriptor.digest))?;
            progress.advance(count as u64);
        }
    }
}
