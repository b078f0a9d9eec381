//! Shared fixtures for the registry tests: a local `docker-registry`, OCI layouts built from
//! Debian arm64 packages, a recording TCP proxy, and a way to run the carrick binary.

#![allow(dead_code)]
// Test fixtures: a failed set-up step should stop the test with its message.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use flate2::write::GzEncoder;
use serde_json::json;
use sha2::{Digest as _, Sha256};

/// Fails the test with the fix when a tool that scripts/setup.sh installs is missing.
pub fn require_tool(tool: &str) {
    let found = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {tool}"))
        .stdout(Stdio::null())
        .status()
        .is_ok_and(|status| status.success());
    assert!(
        found,
        "{tool} not found: run scripts/setup.sh to install the registry test tools"
    );
}

/// Returns a port that was free a moment ago on 127.0.0.1.
pub fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

/// A `docker-registry` serving on 127.0.0.1 from a temporary directory.
pub struct Registry {
    child: Option<Child>,
    pub port: u16,
    pub storage: tempfile::TempDir,
    config: PathBuf,
}

impl Registry {
    pub fn start() -> Registry {
        Registry::start_with_auth(None)
    }

    /// Starts a registry that requires HTTP basic auth with `user` and `password`.
    pub fn start_with_auth(credentials: Option<(&str, &str)>) -> Registry {
        require_tool("docker-registry");
        let storage = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = storage.path().join("config.yml");
        let data = storage.path().join("data");
        let mut text = format!(
            "version: 0.1\nlog:\n  level: error\nstorage:\n  filesystem:\n    rootdirectory: {}\nhttp:\n  addr: 127.0.0.1:{port}\n",
            data.display()
        );
        if let Some((user, password)) = credentials {
            let htpasswd = storage.path().join("htpasswd");
            let hash = bcrypt::hash(password, 4).unwrap();
            std::fs::write(&htpasswd, format!("{user}:{hash}\n")).unwrap();
            text.push_str(&format!(
                "auth:\n  htpasswd:\n    realm: carrick-test\n    path: {}\n",
                htpasswd.display()
            ));
        }
        std::fs::write(&config, text).unwrap();
        let mut registry = Registry {
            child: None,
            port,
            storage,
            config,
        };
        registry.spawn();
        registry
    }

    fn spawn(&mut self) {
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker-registry failed to start: run scripts/setup.sh");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "docker-registry did not listen on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            child.kill().ok();
            child.wait().ok();
        }
    }

    /// Path of a blob's data file in the registry's filesystem storage.
    pub fn blob_file(&self, digest: &str) -> PathBuf {
        let hex = digest.strip_prefix("sha256:").unwrap();
        self.storage
            .path()
            .join("data/docker/registry/v2/blobs/sha256")
            .join(&hex[..2])
            .join(hex)
            .join("data")
    }

    /// Copies `oci:layout:tag` to `name:tag` in this registry with skopeo.
    pub fn push(&self, layout: &Path, tag: &str, name: &str, extra: &[&str]) {
        require_tool("skopeo");
        let output = Command::new("skopeo")
            .args(["copy", "--quiet", "--dest-tls-verify=false"])
            .args(extra)
            .arg(format!("oci:{}:{tag}", layout.display()))
            .arg(format!("docker://{}/{name}:{tag}", self.host()))
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "skopeo copy failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

impl Drop for Registry {
    fn drop(&mut self) {
        self.stop();
    }
}

/// `sha256:<hex>` of `bytes`.
pub fn digest_of(bytes: &[u8]) -> String {
    format!("sha256:{}", hex::encode(Sha256::digest(bytes)))
}

/// Returns the filesystem tar of Debian's busybox-static for arm64, downloaded once into the
/// clone's `.cache/`.
pub fn busybox_tar() -> Vec<u8> {
    let cache = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.cache/debs");
    std::fs::create_dir_all(&cache).unwrap();
    let find = || {
        std::fs::read_dir(&cache)
            .unwrap()
            .flatten()
            .map(|entry| entry.path())
            .find(|path| {
                let name = path.file_name().unwrap().to_string_lossy().into_owned();
                name.starts_with("busybox-static_") && name.ends_with("_arm64.deb")
            })
    };
    if find().is_none() {
        let status = Command::new("apt-get")
            .args(["download", "busybox-static:arm64"])
            .current_dir(&cache)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .unwrap();
        assert!(
            status.success(),
            "apt-get download busybox-static:arm64 failed: run scripts/setup.sh (it adds the arm64 architecture)"
        );
    }
    let deb = find().unwrap();
    let output = Command::new("dpkg-deb")
        .arg("--fsys-tarfile")
        .arg(&deb)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "dpkg-deb --fsys-tarfile {} failed",
        deb.display()
    );
    output.stdout
}

/// One entry of a hand-made layer tar.
pub enum Entry<'a> {
    File(&'a str, u32, &'a [u8]),
    Dir(&'a str),
    CharDevice(&'a str, u32, u32),
    Symlink(&'a str, &'a str),
}

/// Builds an uncompressed layer tar, owned by root.
pub fn layer_tar(entries: &[Entry<'_>]) -> Vec<u8> {
    let mut builder = tar::Builder::new(Vec::new());
    for entry in entries {
        let mut header = tar::Header::new_ustar();
        header.set_uid(0);
        header.set_gid(0);
        header.set_mtime(1_700_000_000);
        match entry {
            Entry::File(path, mode, data) => {
                header.set_entry_type(tar::EntryType::Regular);
                header.set_mode(*mode);
                header.set_size(data.len() as u64);
                builder.append_data(&mut header, path, *data).unwrap();
            }
            Entry::Dir(path) => {
                header.set_entry_type(tar::EntryType::Directory);
                header.set_mode(0o755);
                header.set_size(0);
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .unwrap();
            }
            Entry::CharDevice(path, major, minor) => {
                header.set_entry_type(tar::EntryType::Char);
                header.set_mode(0o666);
                header.set_size(0);
                header.set_device_major(*major).unwrap();
                header.set_device_minor(*minor).unwrap();
                builder
                    .append_data(&mut header, path, std::io::empty())
                    .unwrap();
            }
            Entry::Symlink(path, target) => {
                header.set_entry_type(tar::EntryType::Symlink);
                header.set_mode(0o777);
                header.set_size(0);
                builder.append_link(&mut header, path, target).unwrap();
            }
        }
    }
    builder.into_inner().unwrap()
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
    encoder.write_all(bytes).unwrap();
    encoder.finish().unwrap()
}

/// Writes an OCI image layout by hand: blobs named by their sha256 and an `index.json`.
pub struct Layout {
    pub dir: PathBuf,
    index: Vec<serde_json::Value>,
}

/// Digests of one image written to a [`Layout`].
#[derive(Debug, Clone)]
pub struct ImageDigests {
    pub manifest: String,
    pub manifest_size: usize,
    pub config: String,
    pub layers: Vec<String>,
}

impl Layout {
    pub fn new(dir: &Path) -> Layout {
        std::fs::create_dir_all(dir.join("blobs/sha256")).unwrap();
        std::fs::write(dir.join("oci-layout"), br#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
        Layout {
            dir: dir.to_path_buf(),
            index: Vec::new(),
        }
    }

    pub fn blob(&self, bytes: &[u8]) -> String {
        let digest = digest_of(bytes);
        let hex = digest.strip_prefix("sha256:").unwrap();
        std::fs::write(self.dir.join("blobs/sha256").join(hex), bytes).unwrap();
        digest
    }

    /// Writes an image manifest for `architecture` with gzip layers; `env` and `cmd` go into
    /// the config.
    pub fn image(&self, architecture: &str, layers: &[Vec<u8>], cmd: &[&str]) -> ImageDigests {
        let mut layer_descriptors = Vec::new();
        let mut diff_ids = Vec::new();
        let mut layer_digests = Vec::new();
        for layer in layers {
            diff_ids.push(digest_of(layer));
            let compressed = gzip(layer);
            let digest = self.blob(&compressed);
            layer_descriptors.push(json!({
                "mediaType": "application/vnd.oci.image.layer.v1.tar+gzip",
                "digest": digest,
                "size": compressed.len(),
            }));
            layer_digests.push(digest);
        }
        let config = serde_json::to_vec(&json!({
            "architecture": architecture,
            "os": "linux",
            "config": {
                "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
                "Cmd": cmd,
                "WorkingDir": "/",
            },
            "rootfs": {"type": "layers", "diff_ids": diff_ids},
        }))
        .unwrap();
        let config_digest = self.blob(&config);
        let manifest = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "config": {
                "mediaType": "application/vnd.oci.image.config.v1+json",
                "digest": config_digest,
                "size": config.len(),
            },
            "layers": layer_descriptors,
        }))
        .unwrap();
        let manifest_digest = self.blob(&manifest);
        ImageDigests {
            manifest: manifest_digest,
            manifest_size: manifest.len(),
            config: config_digest,
            layers: layer_digests,
        }
    }

    /// Names a single-platform image `tag` in `index.json`.
    pub fn tag_image(&mut self, tag: &str, image: &ImageDigests) {
        self.index.push(json!({
            "mediaType": "application/vnd.oci.image.manifest.v1+json",
            "digest": image.manifest,
            "size": image.manifest_size,
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
        self.write_index();
    }

    /// Writes an image index over `images` (architecture, digests) and names it `tag`.
    pub fn tag_index(&mut self, tag: &str, images: &[(&str, &ImageDigests)]) -> String {
        let manifests: Vec<serde_json::Value> = images
            .iter()
            .map(|(architecture, image)| {
                let mut platform = BTreeMap::new();
                platform.insert("architecture", architecture.to_string());
                platform.insert("os", "linux".to_string());
                if *architecture == "arm64" {
                    platform.insert("variant", "v8".to_string());
                }
                json!({
                    "mediaType": "application/vnd.oci.image.manifest.v1+json",
                    "digest": image.manifest,
                    "size": image.manifest_size,
                    "platform": platform,
                })
            })
            .collect();
        let index = serde_json::to_vec(&json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": manifests,
        }))
        .unwrap();
        let digest = self.blob(&index);
        self.index.push(json!({
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "digest": digest,
            "size": index.len(),
            "annotations": {"org.opencontainers.image.ref.name": tag},
        }));
        self.write_index();
        digest
    }

    fn write_index(&self) {
        let index = json!({"schemaVersion": 2, "manifests": self.index});
        std::fs::write(
            self.dir.join("index.json"),
            serde_json::to_vec(&index).unwrap(),
        )
        .unwrap();
    }
}

/// A carrick store in a temporary directory and a way to run the binary against it.
pub struct Carrick {
    pub home: tempfile::TempDir,
}

impl Carrick {
    pub fn new() -> Carrick {
        Carrick {
            home: tempfile::tempdir().unwrap(),
        }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_carrick"));
        command
            .args(args)
            .env("CARRICK_HOME", self.home.path())
            .env_remove("CARRICK_LOG");
        command
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).stdin(Stdio::null()).output().unwrap()
    }

    /// Runs carrick and fails the test with its stderr unless it succeeds.
    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "carrick {args:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    /// Runs carrick, expects exit status 125 and one line on stderr, and returns that line.
    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.run(args);
        let stderr = String::from_utf8(output.stderr).unwrap();
        assert_eq!(
            output.status.code(),
            Some(125),
            "carrick {args:?}: {stderr}"
        );
        let lines: Vec<&str> = stderr
            .lines()
            .filter(|line| !line.trim().is_empty())
            .collect();
        let errors: Vec<&&str> = lines
            .iter()
            .filter(|line| line.starts_with("carrick: "))
            .collect();
        assert_eq!(errors.len(), 1, "expected one error line, got: {stderr}");
        errors[0].to_string()
    }

    pub fn images_json(&self) -> serde_json::Value {
        match std::fs::read(self.home.path().join("images.json")) {
            Ok(text) => serde_json::from_slice(&text).unwrap(),
            Err(_) => json!({"version": 1, "images": []}),
        }
    }

    /// Returns the stored record named `name`, if any.
    pub fn image(&self, name: &str) -> Option<serde_json::Value> {
        self.images_json()["images"]
            .as_array()
            .unwrap()
            .iter()
            .find(|image| image["name"] == name)
            .cloned()
    }

    pub fn has_blob(&self, digest: &str) -> bool {
        self.blob_path(digest).is_file()
    }

    pub fn blob_path(&self, digest: &str) -> PathBuf {
        self.home
            .path()
            .join("blobs/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
    }

    pub fn layer_dir(&self, digest: &str) -> PathBuf {
        self.home
            .path()
            .join("layers/sha256")
            .join(digest.strip_prefix("sha256:").unwrap())
    }

    /// Checks the store's invariants: every blob hashes to its name, every layer directory
    /// is complete, every image's blobs and layers exist, and no work directory is left.
    pub fn assert_consistent(&self) {
        let blobs = self.home.path().join("blobs/sha256");
        for entry in std::fs::read_dir(&blobs).unwrap() {
            let entry = entry.unwrap();
            let bytes = std::fs::read(entry.path()).unwrap();
            let name = entry.file_name().to_string_lossy().into_owned();
            assert_eq!(
                digest_of(&bytes),
                format!("sha256:{name}"),
                "blob {name} is corrupt"
            );
        }
        let layers = self.home.path().join("layers/sha256");
        for entry in std::fs::read_dir(&layers).unwrap() {
            let path = entry.unwrap().path();
            assert!(
                path.join("meta").is_file(),
                "layer {} has no meta",
                path.display()
            );
            assert!(
                path.join("root").is_dir(),
                "layer {} has no root",
                path.display()
            );
        }
        for image in self.images_json()["images"].as_array().unwrap() {
            for key in ["manifest", "config"] {
                let digest = image[key].as_str().unwrap();
                assert!(
                    self.has_blob(digest),
                    "image {} lacks its {key} {digest}",
                    image["name"]
                );
            }
            for layer in image["layers"].as_array().unwrap() {
                let digest = layer.as_str().unwrap();
                assert!(
                    self.layer_dir(digest).join("meta").is_file(),
                    "layer {digest} not unpacked"
                );
            }
        }
        let work: Vec<String> = std::fs::read_dir(self.home.path().join("tmp"))
            .unwrap()
            .flatten()
            .map(|entry| entry.file_name().to_string_lossy().into_owned())
            .collect();
        assert!(work.is_empty(), "work directories left behind: {work:?}");
    }
}

/// A TCP proxy in front of a registry that records what clients send and can stall the
/// server's replies after a number of bytes, to catch a pull in the middle of a blob.
pub struct Proxy {
    pub port: u16,
    pub requests: Arc<Mutex<Vec<u8>>>,
    pub stall_after: Arc<AtomicU64>,
    pub stalled: Arc<AtomicBool>,
}

impl Proxy {
    pub fn start(upstream_port: u16) -> Proxy {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stall_after = Arc::new(AtomicU64::new(u64::MAX));
        let stalled = Arc::new(AtomicBool::new(false));
        let proxy = Proxy {
            port,
            requests: requests.clone(),
            stall_after: stall_after.clone(),
            stalled: stalled.clone(),
        };
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let Ok(server) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
                    continue;
                };
                let (client_read, server_write) =
                    (client.try_clone().unwrap(), server.try_clone().unwrap());
                let requests = requests.clone();
                std::thread::spawn(move || copy_recording(client_read, server_write, &requests));
                let stall_after = stall_after.clone();
                let stalled = stalled.clone();
                std::thread::spawn(move || copy_stalling(server, client, &stall_after, &stalled));
            }
        });
        proxy
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    pub fn requests_text(&self) -> String {
        String::from_utf8_lossy(&self.requests.lock().unwrap()).into_owned()
    }
}

fn copy_recording(mut from: TcpStream, mut to: TcpStream, record: &Mutex<Vec<u8>>) {
    let mut buffer = [0u8; 16384];
    while let Ok(count) = from.read(&mut buffer) {
        if count == 0 {
            break;
        }
        record.lock().unwrap().extend_from_slice(&buffer[..count]);
        if to.write_all(&buffer[..count]).is_err() {
            break;
        }
    }
    to.shutdown(std::net::Shutdown::Write).ok();
}

fn copy_stalling(
    mut from: TcpStream,
    mut to: TcpStream,
    stall_after: &AtomicU64,
    stalled: &AtomicBool,
) {
    let mut buffer = [0u8; 16384];
    let mut sent: u64 = 0;
    while let Ok(count) = from.read(&mut buffer) {
        if count == 0 {
            break;
        }
        if sent + count as u64 > stall_after.load(Ordering::SeqCst) {
            stalled.store(true, Ordering::SeqCst);
            // Hold the connection open without sending more until the test releases it.
            while stall_after.load(Ordering::SeqCst) != u64::MAX {
                std::thread::sleep(Duration::from_millis(50));
            }
            return;
        }
        if to.write_all(&buffer[..count]).is_err() {
            break;
        }
        sent += count as u64;
    }
    to.shutdown(std::net::Shutdown::Write).ok();
}

/// The bearer token that [`TokenGate`] hands out.
pub const GATE_TOKEN: &str = "carrick-test-token";

/// An HTTP front for a registry that demands a bearer token the way Docker Hub does: requests
/// without `Authorization: Bearer` get 401 with a `WWW-Authenticate: Bearer realm=...`
/// challenge, and the realm (served here too) hands out the token to anyone.
pub struct TokenGate {
    pub port: u16,
    pub token_requests: Arc<Mutex<Vec<String>>>,
    pub challenges: Arc<AtomicU64>,
}

impl TokenGate {
    pub fn start(upstream_port: u16) -> TokenGate {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let gate = TokenGate {
            port,
            token_requests: Arc::new(Mutex::new(Vec::new())),
            challenges: Arc::new(AtomicU64::new(0)),
        };
        let token_requests = gate.token_requests.clone();
        let challenges = gate.challenges.clone();
        std::thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let token_requests = token_requests.clone();
                let challenges = challenges.clone();
                std::thread::spawn(move || {
                    serve_gate(client, port, upstream_port, &token_requests, &challenges)
                });
            }
        });
        gate
    }

    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }
}

/// Reads one request head (GET and HEAD requests from the client have no body).
fn read_head(stream: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if stream.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    Some(String::from_utf8_lossy(&head).into_owned())
}

fn serve_gate(
    mut client: TcpStream,
    port: u16,
    upstream_port: u16,
    token_requests: &Mutex<Vec<String>>,
    challenges: &AtomicU64,
) {
    while let Some(head) = read_head(&mut client) {
        let target = head
            .split_whitespace()
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let authorized = head
            .lines()
            .any(|line| line.to_ascii_lowercase() == format!("authorization: bearer {GATE_TOKEN}"));

        if target.starts_with("/token") {
            token_requests.lock().unwrap().push(target);
            let body = format!(
                r#"{{"token":"{GATE_TOKEN}","access_token":"{GATE_TOKEN}","expires_in":300}}"#
            );
            let response = format!(
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if client.write_all(response.as_bytes()).is_err() {
                return;
            }
            continue;
        }
        if !authorized {
            challenges.fetch_add(1, Ordering::SeqCst);
            let body =
                r#"{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}"#;
            let response = format!(
                "HTTP/1.1 401 Unauthorized\r\nWWW-Authenticate: Bearer realm=\"http://127.0.0.1:{port}/token\",service=\"carrick-test\"\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            if client.write_all(response.as_bytes()).is_err() {
                return;
            }
            continue;
        }

        // Forward on a fresh upstream connection that closes after one response, and relay
        // that response; the client then reconnects for its next request.
        let Ok(mut upstream) = TcpStream::connect(("127.0.0.1", upstream_port)) else {
            return;
        };
        let forwarded: String = head
            .lines()
            .filter(|line| {
                !line.to_ascii_lowercase().starts_with("connection:") && !line.is_empty()
            })
            .map(|line| format!("{line}\r\n"))
            .collect::<String>()
            + "Connection: close\r\n\r\n";
        if upstream.write_all(forwarded.as_bytes()).is_err() {
            return;
        }
        let mut response = Vec::new();
        upstream.read_to_end(&mut response).ok();
        client.write_all(&response).ok();
        return;
    }
}
