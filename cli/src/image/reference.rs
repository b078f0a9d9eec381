//! Image references as users type them: `debian`, `ghcr.io/o/n:tag`, `name@sha256:...`,
//! and `oci:DIR[:TAG]` for an OCI layout directory.

use std::path::PathBuf;
use std::str::FromStr;

use anyhow::{bail, Result};
use oci_client::Reference;

/// The source of an image.
#[derive(Debug, Clone)]
pub enum ImageRef {
    /// A registry reference, normalized the way Docker does (`debian` is
    /// `docker.io/library/debian:latest`).
    Registry(Reference),
    /// An OCI image layout directory and the `org.opencontainers.image.ref.name` to pick.
    Layout {
        /// The layout directory.
        dir: PathBuf,
        /// The tag, or `None` when the layout has one image.
        tag: Option<String>,
    },
}

impl ImageRef {
    /// Parses a reference; a bad one gets a message with the accepted forms.
    pub fn parse(text: &str) -> Result<ImageRef> {
        if let Some(rest) = text.strip_prefix("oci:") {
            return Ok(parse_layout(rest));
        }
        match Reference::from_str(text) {
            // Docker rejects upper-case repository names, which oci-spec's parser lets through
            // when the first component is not a host name.
            Ok(reference) if reference.repository().bytes().any(|byte| byte.is_ascii_uppercase()) => bail!(
                "invalid image reference {text:?} (repository names must be lower-case); use NAME[:TAG], NAME@sha256:DIGEST or oci:DIR[:TAG], with a lower-case NAME"
            ),
            Ok(reference) => Ok(ImageRef::Registry(reference)),
            Err(error) => bail!(
                "invalid image reference {text:?} ({error}); use NAME[:TAG], NAME@sha256:DIGEST or oci:DIR[:TAG], with a lower-case NAME"
            ),
        }
    }

    /// Returns the name that the store records the image under.
    pub fn store_name(&self) -> String {
        match self {
            ImageRef::Registry(reference) => reference.whole(),
            ImageRef::Layout { dir, tag } => {
                let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
                match tag {
                    Some(tag) => format!("oci:{}:{tag}", dir.display()),
                    None => format!("oci:{}", dir.display()),
                }
            }
        }
    }
}

/// Splits `DIR[:TAG]`. A colon followed by a `/` belongs to the directory name.
fn parse_layout(rest: &str) -> ImageRef {
    match rest.rsplit_once(':') {
        Some((dir, tag)) if !tag.is_empty() && !tag.contains('/') && !dir.is_empty() => {
            ImageRef::Layout {
                dir: PathBuf::from(dir),
                tag: Some(tag.to_string()),
            }
        }
        _ => ImageRef::Layout {
            dir: PathBuf::from(rest),
            tag: None,
        },
    }
}

/// Splits a stored name into the `REPOSITORY` and `TAG` columns of `carrick images`.
pub fn display_columns(name: &str) -> (String, String) {
    if let Some((repository, digest)) = name.split_once('@') {
        return (
            shorten(repository),
            format!("<none>@{}", digest.get(..19).unwrap_or(digest)),
        );
    }
    let slash = name.rfind('/').map_or(0, |index| index + 1);
    match name[slash..].rfind(':') {
        Some(colon) => {
            let colon = slash + colon;
            (shorten(&name[..colon]), name[colon + 1..].to_string())
        }
        None => (shorten(name), "<none>".to_string()),
    }
}

/// Drops Docker Hub's implied `docker.io/` and `docker.io/library/` prefixes for display.
fn shorten(repository: &str) -> String {
    if let Some(official) = repository.strip_prefix("docker.io/library/") {
        return official.to_string();
    }
    repository
        .strip_prefix("docker.io/")
        .unwrap_or(repository)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_hub_names_are_normalized() {
        let ImageRef::Registry(reference) = ImageRef::parse("debian").unwrap() else {
            panic!("not a registry reference");
        };
        assert_eq!(reference.whole(), "docker.io/library/debian:latest");
        assert_eq!(
            ImageRef::parse("user/app:1").unwrap().store_name(),
            "docker.io/user/app:1"
        );
        assert_eq!(
            ImageRef::parse("127.0.0.1:5000/busybox:v1")
                .unwrap()
                .store_name(),
            "127.0.0.1:5000/busybox:v1"
        );
    }

    #[test]
    fn bad_references_are_rejected() {
        for text in ["Debian", "UPPER/x", "debian:", "a b", "name@sha256:xyz"] {
            let error = ImageRef::parse(text).unwrap_err().to_string();
            assert!(error.contains("invalid image reference"), "{text}: {error}");
        }
    }

    #[test]
    fn layout_references_split_tag() {
        let ImageRef::Layout { dir, tag } = ImageRef::parse("oci:/tmp/x:bookworm").unwrap() else {
            panic!("not a layout");
        };
        assert_eq!(dir, PathBuf::from("/tmp/x"));
        assert_eq!(tag.as_deref(), Some("bookworm"));

        let ImageRef::Layout { dir, tag } = ImageRef::parse("oci:rel/dir").unwrap() else {
            panic!("not a layout");
        };
        assert_eq!(dir, PathBuf::from("rel/dir"));
        assert_eq!(tag, None);
    }

    #[test]
    fn display_columns_shorten_docker_hub() {
        assert_eq!(
            display_columns("docker.io/library/debian:bookworm"),
            ("debian".to_string(), "bookworm".to_string())
        );
        assert_eq!(
            display_columns("127.0.0.1:5000/bb:v1"),
            ("127.0.0.1:5000/bb".to_string(), "v1".to_string())
        );
    }
}

/// The store name of a plain Docker reference (`debian`, `debian:bookworm`,
/// `ghcr.io/owner/name:tag`) without the full parser: Docker Hub names get `docker.io/` and,
/// with one component, `library/`; a missing tag is `latest`. `None` for anything else
/// (digests, `oci:` layouts, unusual characters), which the full parser handles.
pub fn plain_store_name(text: &str) -> Option<String> {
    let simple = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-/:".contains(c);
    if text.is_empty() || !text.chars().all(simple) || text.starts_with("oci:") {
        return None;
    }
    let last_slash = text.rfind('/').map_or(0, |index| index + 1);
    let (name, tag) = match text[last_slash..].rfind(':') {
        Some(colon) => (&text[..last_slash + colon], &text[last_slash + colon + 1..]),
        None => (text, "latest"),
    };
    if name.is_empty() || tag.is_empty() || name.contains(':') && !name.contains('/') {
        return None;
    }
    let first = name.split('/').next()?;
    let has_registry =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let full = if has_registry {
        name.to_string()
    } else if name.contains('/') {
        format!("docker.io/{name}")
    } else {
        format!("docker.io/library/{name}")
    };
    Some(format!("{full}:{tag}"))
}

#[cfg(test)]
mod plain_name_tests {
    use super::*;

    #[test]
    fn plain_names_match_the_full_parser() {
        for text in [
            "debian",
            "debian:bookworm",
            "library/debian:12",
            "owner/app",
            "ghcr.io/owner/app:v1",
            "localhost:5000/app:1",
            "127.0.0.1:5000/a/b",
        ] {
            let full = ImageRef::parse(text).unwrap().store_name();
            assert_eq!(
                plain_store_name(text).as_deref(),
                Some(full.as_str()),
                "{text}"
            );
        }
    }

    #[test]
    fn unusual_names_left_to_the_full_parser() {
        assert_eq!(plain_store_name("debian@sha256:abcd"), None);
        assert_eq!(plain_store_name("oci:/tmp/layout:tag"), None);
        assert_eq!(plain_store_name("Debian"), None);
        assert_eq!(plain_store_name(""), None);
    }
}
