//! OCI and Docker v2 manifest, index and image-config documents, and platform selection.
//!
//! Both families share one JSON shape (`schemaVersion` 2, descriptors with `mediaType`,
//! `digest`, `size`), so one set of types reads all four manifest media types.

use std::collections::BTreeMap;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

use super::store::Digest;

/// OCI image manifest.
pub const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
/// OCI image index.
pub const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
/// Docker image manifest, schema 2.
pub const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
/// Docker manifest list.
pub const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
/// Docker image config.
pub const DOCKER_CONFIG: &str = "application/vnd.docker.container.image.v1+json";
/// Docker uncompressed layer (as in `docker save` archives).
pub const DOCKER_LAYER_TAR: &str = "application/vnd.docker.image.rootfs.diff.tar";

/// Media types sent in `Accept` for manifest requests. Without the two list types, a
/// registry returns 404 MANIFEST_UNKNOWN for a request for a multi-platform tag.
pub const MANIFEST_ACCEPT: &[&str] = &[OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_LIST];

/// Layer media types carrick can unpack. The blob's magic number picks the decompressor.
const LAYER_TYPES: &[&str] = &[
    "application/vnd.oci.image.layer.v1.tar",
    "application/vnd.oci.image.layer.v1.tar+gzip",
    "application/vnd.oci.image.layer.v1.tar+zstd",
    "application/vnd.oci.image.layer.nondistributable.v1.tar",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
    "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
    DOCKER_LAYER_TAR,
    "application/vnd.docker.image.rootfs.diff.tar.gzip",
    "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip",
];

/// A content descriptor.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Descriptor {
    /// Media type of the referenced content.
    pub media_type: String,
    /// Digest of the referenced content.
    pub digest: Digest,
    /// Size of the referenced content in bytes.
    pub size: u64,
    /// Platform of a manifest listed in an index.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub platform: Option<Platform>,
    /// Free-form annotations (`org.opencontainers.image.ref.name` in OCI layouts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub annotations: Option<BTreeMap<String, String>>,
}

/// Platform fields of an index entry or an image config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Platform {
    /// `GOARCH` value: `arm64`, `amd64`, ...
    pub architecture: String,
    /// `GOOS` value: `linux`, ...
    pub os: String,
    /// CPU variant: `v8` for arm64.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
}

/// An image index or Docker manifest list.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Index {
    /// Always 2.
    pub schema_version: u32,
    /// `OCI_INDEX` or `DOCKER_LIST` (optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The listed manifests.
    pub manifests: Vec<Descriptor>,
}

/// An image manifest.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Manifest {
    /// Always 2.
    pub schema_version: u32,
    /// `OCI_MANIFEST` or `DOCKER_MANIFEST` (optional in OCI).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub media_type: Option<String>,
    /// The image config blob.
    pub config: Descriptor,
    /// Layer blobs, bottom to top.
    pub layers: Vec<Descriptor>,
}

/// A parsed manifest document.
#[derive(Debug, Clone)]
pub enum Document {
    /// An index to choose a platform from.
    Index(Index),
    /// A single-platform image.
    Manifest(Manifest),
}

/// Parses a manifest or index, telling them apart by `mediaType` or, when it is absent, by
/// the `manifests` key.
pub fn parse_document(bytes: &[u8]) -> Result<Document> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).context("manifest is not valid JSON")?;
    let media_type = value.get("mediaType").and_then(|kind| kind.as_str());
    let schema = value
        .get("schemaVersion")
        .and_then(|schema| schema.as_u64());
    if schema != Some(2) {
        bail!("unsupported manifest schemaVersion {schema:?}; carrick reads schema 2 (OCI and Docker v2) manifests");
    }

    let is_index = match media_type {
        Some(OCI_INDEX | DOCKER_LIST) => true,
        Some(OCI_MANIFEST | DOCKER_MANIFEST) => false,
        Some(other) => bail!("unsupported manifest media type {other}"),
        None => value.get("manifests").is_some(),
    };
    if is_index {
        let index = serde_json::from_value(value).context("invalid image index")?;
        return Ok(Document::Index(index));
    }
    let manifest: Manifest = serde_json::from_value(value).context("invalid image manifest")?;
    for layer in &manifest.layers {
        if !LAYER_TYPES.contains(&layer.media_type.as_str()) {
            bail!(
                "layer {} has media type {}, which carrick cannot unpack (it is not a tar layer)",
                layer.digest,
                layer.media_type
            );
        }
    }
    Ok(Document::Manifest(manifest))
}

/// The image config document: the fields carrick uses.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ConfigFile {
    /// `GOARCH` value of the image's binaries.
    #[serde(default)]
    pub architecture: String,
    /// `GOOS` value.
    #[serde(default)]
    pub os: String,
    /// CPU variant.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub variant: Option<String>,
    /// How to run a container.
    #[serde(default)]
    pub config: Option<RunConfig>,
}

/// The `config` object of an image config: the defaults for a container's process.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunConfig {
    /// Command prefix that the container's arguments are appended to.
    #[serde(default)]
    pub entrypoint: Option<Vec<String>>,
    /// Default arguments, replaced by the command line's.
    #[serde(default)]
    pub cmd: Option<Vec<String>>,
    /// `NAME=value` environment entries.
    #[serde(default)]
    pub env: Option<Vec<String>>,
    /// Initial working directory; empty means `/`.
    #[serde(default)]
    pub working_dir: Option<String>,
    /// `user[:group]`, by name or number; empty means root.
    #[serde(default)]
    pub user: Option<String>,
}

/// A platform requested with `--platform os/arch[/variant]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlatformSpec {
    /// Operating system.
    pub os: String,
    /// Architecture.
    pub architecture: String,
    /// Variant, if requested.
    pub variant: Option<String>,
}

impl Default for PlatformSpec {
    /// linux/arm64: the only platform carrick runs.
    fn default() -> Self {
        PlatformSpec {
            os: "linux".into(),
            architecture: "arm64".into(),
            variant: None,
        }
    }
}

impl std::fmt::Display for PlatformSpec {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}/{}", self.os, self.architecture)?;
        if let Some(variant) = &self.variant {
            write!(formatter, "/{variant}")?;
        }
        Ok(())
    }
}

impl std::str::FromStr for PlatformSpec {
    type Err = anyhow::Error;

    fn from_str(text: &str) -> Result<PlatformSpec> {
        let parts: Vec<&str> = text.split('/').collect();
        let valid = |part: &&str| !part.is_empty();
        match parts.as_slice() {
            [os, architecture] if [os, architecture].iter().all(|part| valid(part)) => {
                Ok(PlatformSpec {
                    os: os.to_string(),
                    architecture: architecture.to_string(),
                    variant: None,
                })
            }
            [os, architecture, variant]
                if [os, architecture, variant].iter().all(|part| valid(part)) =>
            {
                Ok(PlatformSpec {
                    os: os.to_string(),
                    architecture: architecture.to_string(),
                    variant: Some(variant.to_string()),
                })
            }
            _ => bail!("invalid platform {text:?}; use OS/ARCH[/VARIANT], for example linux/arm64"),
        }
    }
}

impl PlatformSpec {
    /// Returns true if an entry with these fields can run on this platform. arm64 images
    /// without a variant are v8, so `linux/arm64/v8` also matches them.
    pub fn matches(&self, os: &str, architecture: &str, variant: Option<&str>) -> bool {
        if os != self.os || architecture != self.architecture {
            return false;
        }
        match (&self.variant, variant) {
            (None, _) => true,
            (Some(wanted), Some(found)) => wanted == found,
            (Some(wanted), None) => self.architecture == "arm64" && wanted == "v8",
        }
    }

    /// Picks the index entry for this platform, preferring the default variant (none or v8
    /// for arm64) when no variant was requested.
    pub fn select<'a>(&self, entries: &'a [Descriptor]) -> Option<&'a Descriptor> {
        let candidates: Vec<&Descriptor> = entries
            .iter()
            .filter(|entry| {
                entry.platform.as_ref().is_some_and(|platform| {
                    self.matches(
                        &platform.os,
                        &platform.architecture,
                        platform.variant.as_deref(),
                    )
                })
            })
            .collect();
        let default_variant = candidates.iter().copied().find(|entry| {
            entry
                .platform
                .as_ref()
                .is_some_and(|platform| matches!(platform.variant.as_deref(), None | Some("v8")))
        });
        default_variant.or_else(|| candidates.first().copied())
    }

    /// Adapts [`PlatformSpec::select`] to oci-client's platform-resolver callback.
    pub fn resolve_oci_client(
        &self,
        entries: &[oci_client::manifest::ImageIndexEntry],
    ) -> Option<String> {
        let descriptors: Vec<Descriptor> = entries
            .iter()
            .filter_map(|entry| {
                let platform = entry.platform.as_ref()?;
                Some(Descriptor {
                    media_type: entry.media_type.clone(),
                    digest: Digest::parse(&entry.digest).ok()?,
                    size: u64::try_from(entry.size).ok()?,
                    platform: Some(Platform {
                        architecture: platform.architecture.to_string(),
                        os: platform.os.to_string(),
                        variant: platform.variant.clone(),
                    }),
                    annotations: None,
                })
            })
            .collect();
        self.select(&descriptors)
            .map(|entry| entry.digest.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(os: &str, architecture: &str, variant: Option<&str>, fill: char) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: Digest::parse(&format!("sha256:{}", fill.to_string().repeat(64))).unwrap(),
            size: 1,
            platform: Some(Platform {
                architecture: architecture.into(),
                os: os.into(),
                variant: variant.map(str::to_string),
            }),
            annotations: None,
        }
    }

    #[test]
    fn select_skips_other_architectures() {
        let entries = [
            entry("linux", "amd64", None, 'a'),
            entry("linux", "arm", Some("v7"), 'b'),
            entry("linux", "arm64", Some("v8"), 'c'),
            entry("unknown", "unknown", None, 'd'),
        ];
        let chosen = PlatformSpec::default().select(&entries).unwrap();
        assert_eq!(chosen.digest.hex(), "c".repeat(64));
    }

    #[test]
    fn select_prefers_default_variant() {
        let entries = [
            entry("linux", "arm64", Some("v9"), 'a'),
            entry("linux", "arm64", None, 'b'),
        ];
        let any = PlatformSpec::default().select(&entries).unwrap();
        assert_eq!(any.digest.hex(), "b".repeat(64));

        let v8: PlatformSpec = "linux/arm64/v8".parse().unwrap();
        assert_eq!(v8.select(&entries).unwrap().digest.hex(), "b".repeat(64));
        let v9: PlatformSpec = "linux/arm64/v9".parse().unwrap();
        assert_eq!(v9.select(&entries).unwrap().digest.hex(), "a".repeat(64));
    }

    #[test]
    fn select_returns_none_without_match() {
        let entries = [entry("linux", "amd64", None, 'a')];
        assert!(PlatformSpec::default().select(&entries).is_none());
    }

    #[test]
    fn platform_parse_rejects_bad_values() {
        for text in ["linux", "linux/", "/arm64", "a/b/c/d", ""] {
            assert!(text.parse::<PlatformSpec>().is_err(), "{text:?}");
        }
    }

    #[test]
    fn parse_document_tells_index_from_manifest() {
        let digest = format!("sha256:{}", "0".repeat(64));
        let index = format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"{OCI_MANIFEST}","digest":"{digest}","size":3}}]}}"#
        );
        assert!(matches!(
            parse_document(index.as_bytes()).unwrap(),
            Document::Index(_)
        ));

        let manifest = format!(
            r#"{{"schemaVersion":2,"mediaType":"{DOCKER_MANIFEST}","config":{{"mediaType":"{DOCKER_CONFIG}","digest":"{digest}","size":3}},"layers":[]}}"#
        );
        assert!(matches!(
            parse_document(manifest.as_bytes()).unwrap(),
            Document::Manifest(_)
        ));

        let wasm = format!(
            r#"{{"schemaVersion":2,"config":{{"mediaType":"x","digest":"{digest}","size":3}},"layers":[{{"mediaType":"application/wasm","digest":"{digest}","size":3}}]}}"#
        );
        assert!(parse_document(wasm.as_bytes()).is_err());
    }
}
