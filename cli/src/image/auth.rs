//! Registry credentials saved by `carrick login` in `<store>/auth.json` (mode 0600), in the
//! shape of Docker's `config.json`: `{"auths": {"HOST": {"auth": base64("user:password")}}}`.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use base64::Engine as _;
use oci_client::secrets::RegistryAuth;
use serde::{Deserialize, Serialize};

use super::store::{write_atomic, Store};

#[derive(Debug, Default, Serialize, Deserialize)]
struct AuthFile {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Debug, Serialize, Deserialize)]
struct AuthEntry {
    auth: String,
}

/// Maps Docker Hub's several host names to one key.
pub fn registry_key(registry: &str) -> String {
    match registry {
        "docker.io" | "index.docker.io" | "registry-1.docker.io" => "docker.io".to_string(),
        other => other.to_string(),
    }
}

fn load(store: &Store) -> Result<AuthFile> {
    let path = store.auth_path();
    match std::fs::read(&path) {
        Ok(text) => serde_json::from_slice(&text).with_context(|| {
            format!(
                "invalid credentials file {}; delete it and run carrick login again",
                path.display()
            )
        }),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(AuthFile::default()),
        Err(error) => Err(error).with_context(|| format!("cannot read {}", path.display())),
    }
}

/// Saves credentials for `registry`, replacing earlier ones.
pub fn save(store: &Store, registry: &str, username: &str, password: &str) -> Result<()> {
    let mut file = load(store)?;
    let token = base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"));
    file.auths
        .insert(registry_key(registry), AuthEntry { auth: token });
    write_atomic(
        &store.auth_path(),
        &serde_json::to_vec_pretty(&file)?,
        0o600,
    )
}

/// Returns the saved credentials for `registry`, or anonymous access.
pub fn lookup(store: &Store, registry: &str) -> Result<RegistryAuth> {
    let file = load(store)?;
    let Some(entry) = file.auths.get(&registry_key(registry)) else {
        return Ok(RegistryAuth::Anonymous);
    };
    let decoded = base64::engine::general_purpose::STANDARD
        .decode(&entry.auth)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok());
    let Some((username, password)) = decoded.as_deref().and_then(|text| text.split_once(':'))
    else {
        anyhow::bail!(
            "invalid saved credentials for {registry}; run carrick login {registry} again"
        );
    };
    Ok(RegistryAuth::Basic(
        username.to_string(),
        password.to_string(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn saved_credentials_are_private_and_found() {
        let home = tempfile::tempdir().unwrap();
        let store = Store::open(home.path()).unwrap();
        save(&store, "index.docker.io", "me", "p:ss").unwrap();

        let mode = std::fs::metadata(store.auth_path())
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        match lookup(&store, "docker.io").unwrap() {
            RegistryAuth::Basic(user, password) => {
                assert_eq!(user, "me");
                assert_eq!(password, "p:ss");
            }
            other => panic!("expected basic auth, got {other:?}"),
        }
        assert!(matches!(
            lookup(&store, "ghcr.io").unwrap(),
            RegistryAuth::Anonymous
        ));
    }
}
