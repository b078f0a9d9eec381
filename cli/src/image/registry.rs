//! Fetching manifests and blobs from an OCI distribution registry with `oci-client`.
//!
//! Plain HTTP is used only for loopback registries and those named with
//! `--insecure-registry`. Docker Hub's anonymous token flow and basic auth from
//! `carrick login` are handled by the client. Blob bytes are hashed as they stream in, by
//! [`BlobWriter`], and only a verified blob reaches the store.

use std::io::Write;
use std::net::IpAddr;
use std::time::Duration;

use anyhow::{anyhow, Context, Result};
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::{OciDistributionError, OciErrorCode};
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::manifest::{Descriptor, PlatformSpec, MANIFEST_ACCEPT};
use super::progress::BlobProgress;
use super::store::{BlobWriter, Digest, Store};

/// A registry repository to pull from.
pub struct RegistrySource {
    client: Client,
    reference: Reference,
    auth: RegistryAuth,
}

impl RegistrySource {
    /// Prepares a client for `reference`'s registry.
    pub fn new(
        store: &Store,
        reference: &Reference,
        platform: &PlatformSpec,
        insecure: &[String],
    ) -> Result<RegistrySource> {
        // Several crates may try to install a provider; only the first call wins, which is fine.
        let _ = rustls::crypto::ring::default_provider().install_default();

        let registry = reference.resolve_registry().to_string();
        let protocol = if is_loopback(&registry)
            || insecure
                .iter()
                .any(|name| *name == registry || *name == reference.registry())
        {
            ClientProtocol::HttpsExcept(vec![registry.clone()])
        } else {
            ClientProtocol::Https
        };
        let resolver_platform = platform.clone();
        let config = ClientConfig {
            protocol,
            platform_resolver: Some(Box::new(move |entries| {
                resolver_platform.resolve_oci_client(entries)
            })),
            connect_timeout: Some(Duration::from_secs(15)),
            read_timeout: Some(Duration::from_secs(60)),
            ..ClientConfig::default()
        };
        let auth = super::auth::lookup(store, reference.registry())?;
        Ok(RegistrySource {
            client: Client::new(config),
            reference: reference.clone(),
            auth,
        })
    }

    /// Fetches the manifest the reference names (tag or digest), or the one with `digest`.
    pub async fn manifest(&self, digest: Option<&Digest>) -> Result<(Vec<u8>, Digest)> {
        let reference = match digest {
            Some(digest) => self.reference.clone_with_digest(digest.to_string()),
            None => self.reference.clone(),
        };
        let (bytes, digest) = self
            .client
            .pull_manifest_raw(&reference, &self.auth, MANIFEST_ACCEPT)
            .await
            .map_err(|error| self.describe(error))?;
        let digest = Digest::parse(&digest)?;
        let actual = Digest::of(&bytes);
        if actual != digest {
            return Err(anyhow!(
                "manifest of {} from {} hashes to {actual}, not {digest}; the registry sent corrupt data",
                self.reference.whole(),
                self.reference.registry()
            ));
        }
        Ok((bytes.to_vec(), digest))
    }

    /// Streams blob `descriptor` into `writer`, reporting to `progress`.
    pub async fn blob(
        &self,
        descriptor: &Descriptor,
        writer: &mut BlobWriter,
        progress: &mut BlobProgress,
    ) -> Result<()> {
        let oci_descriptor = OciDescriptor {
            media_type: descriptor.media_type.clone(),
            digest: descriptor.digest.to_string(),
            size: i64::try_from(descriptor.size).unwrap_or(i64::MAX),
            ..OciDescriptor::default()
        };
        let mut stream = self
            .client
            .pull_blob_stream(&self.reference, &oci_descriptor)
            .await
            .map_err(|error| self.describe(error))?;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|error| self.describe_stream_error(descriptor, &error))?;
            if writer.written() + chunk.len() as u64 > descriptor.size {
                return Err(anyhow!(
                    "blob {} from {} is larger than the expected {} bytes; the registry sent corrupt data",
                    descriptor.digest,
                    self.reference.registry(),
                    descriptor.size
                ));
            }
            writer
                .write_all(&chunk)
                .with_context(|| super::store::write_failure(&descriptor.digest))?;
            progress.advance(chunk.len() as u64);
        }
        Ok(())
    }

    /// Describes an error in the middle of a blob download. oci-client checks the digest when
    /// the stream ends and reports a mismatch as an I/O error.
    fn describe_stream_error(
        &self,
        descriptor: &Descriptor,
        error: &std::io::Error,
    ) -> anyhow::Error {
        let registry = self.reference.registry();
        let text = one_line(&error.to_string());
        if text.contains("Invalid digest") {
            return anyhow!(
                "blob {} from {registry} failed verification ({text}); the registry's copy is corrupt, so push the image again",
                descriptor.digest
            );
        }
        anyhow!(
            "download of blob {} from {registry} failed: {text}; run the pull again",
            descriptor.digest
        )
    }

    /// Turns a client error into one line that names the image and the next step.
    fn describe(&self, error: OciDistributionError) -> anyhow::Error {
        let image = self.reference.whole();
        let registry = self.reference.registry().to_string();
        let not_found =
            || anyhow!("image {image} not found in registry {registry}; check the name and tag");
        let denied = || {
            anyhow!("registry {registry} denied access to {image}; check the name, or run carrick login {registry}")
        };
        match &error {
            OciDistributionError::RegistryError { envelope, .. } => {
                let codes: Vec<&OciErrorCode> =
                    envelope.errors.iter().map(|error| &error.code).collect();
                if codes.iter().any(|code| {
                    matches!(
                        code,
                        OciErrorCode::ManifestUnknown
                            | OciErrorCode::NameUnknown
                            | OciErrorCode::BlobUnknown
                    )
                }) {
                    return not_found();
                }
                if codes
                    .iter()
                    .any(|code| matches!(code, OciErrorCode::Unauthorized | OciErrorCode::Denied))
                {
                    return denied();
                }
            }
            OciDistributionError::ImageManifestNotFoundError(_) => return not_found(),
            OciDistributionError::ServerError { code: 404, .. } => return not_found(),
            OciDistributionError::ServerError {
                code: 401 | 403, ..
            }
            | OciDistributionError::UnauthorizedError { .. }
            | OciDistributionError::AuthenticationFailure(_) => return denied(),
            OciDistributionError::RequestError(request)
                if request.is_connect() || request.is_timeout() =>
            {
                return anyhow!(
                    "cannot connect to registry {registry}: {}; check that it is running and reachable",
                    root_cause(request)
                );
            }
            _ => {}
        }
        anyhow!(
            "pull of {image} from {registry} failed: {}",
            one_line(&error.to_string())
        )
    }
}

/// Returns true for `localhost`, `127.0.0.0/8` and `[::1]`, with or without a port.
pub fn is_loopback(registry: &str) -> bool {
    let host = if let Some(rest) = registry.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        registry
            .rsplit_once(':')
            .map_or(registry, |(host, _port)| host)
    };
    host == "localhost"
        || host
            .parse::<IpAddr>()
            .is_ok_and(|address| address.is_loopback())
}

fn root_cause(error: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = error;
    while let Some(source) = cause.source() {
        cause = source;
    }
    one_line(&cause.to_string())
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_recognized() {
        assert!(is_loopback("127.0.0.1:5000"));
        assert!(is_loopback("localhost:5000"));
        assert!(is_loopback("localhost"));
        assert!(is_loopback("[::1]:5000"));
        assert!(!is_loopback("registry-1.docker.io"));
        assert!(!is_loopback("10.0.0.1:5000"));
        assert!(!is_loopback("127.0.0.1.example.com"));
    }
}
