//! `carrick pull` against a real `docker-registry` on 127.0.0.1, with images built from
//! Debian arm64 packages and pushed with skopeo.

#![allow(clippy::unwrap_used, clippy::panic)]

mod registry_support;

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use carrick_runtime::vfs::layer::{makedev, LayerMeta};
use registry_support::{busybox_tar, layer_tar, Carrick, Entry, Layout, Proxy, Registry};

/// Reads `path` from a tar built by `dpkg-deb --fsys-tarfile`.
fn tar_member(tar_bytes: &[u8], path: &str) -> Vec<u8> {
    let mut archive = tar::Archive::new(tar_bytes);
    for entry in archive.entries().unwrap() {
        let mut entry = entry.unwrap();
        if entry.path().unwrap() == Path::new(path) {
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut entry, &mut data).unwrap();
            return data;
        }
    }
    panic!("{path} not in tar");
}

fn amd64_layer() -> Vec<u8> {
    layer_tar(&[Entry::File(
        "amd64-only",
        0o644,
        b"this is the amd64 image\n",
    )])
}

#[test]
fn single_arch_image_pull() {
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let busybox = busybox_tar();
    let mut layout = Layout::new(&work.path().join("layout"));
    let image = layout.image(
        "arm64",
        std::slice::from_ref(&busybox),
        &["/bin/busybox", "sh"],
    );
    layout.tag_image("v1", &image);
    registry.push(&layout.dir, "v1", "busybox", &[]);

    let carrick = Carrick::new();
    let reference = format!("{}/busybox:v1", registry.host());
    let stdout = carrick.ok(&["pull", &reference]);
    assert_eq!(stdout, format!("Digest: {}\n{reference}\n", image.manifest));

    let record = carrick
        .image(&reference)
        .expect("image recorded under its name");
    assert_eq!(record["manifest"], image.manifest);
    assert_eq!(record["config"], image.config);
    assert_eq!(record["layers"][0], image.layers[0]);
    assert!(record["index"].is_null());

    let layer = carrick.layer_dir(&image.layers[0]);
    let unpacked = std::fs::read(layer.join("root/bin/busybox")).unwrap();
    assert_eq!(unpacked, tar_member(&busybox, "./bin/busybox"));
    let meta = LayerMeta::load(&layer).unwrap();
    let attrs = meta.attrs(Path::new("/bin/busybox")).unwrap();
    assert_eq!(attrs.mode, 0o100755);
    assert_eq!(attrs.uid, 0);
    carrick.assert_consistent();

    // The pulled image runs, with a given command and with its own Cmd (busybox sh, which
    // reads end-of-file from the /dev/null stdin and exits 0).
    let stdout = carrick.ok(&["run", "--rm", &reference, "/bin/busybox", "echo", "hi"]);
    assert_eq!(stdout, "hi\n");
    let stdout = carrick.ok(&["run", "--rm", &reference]);
    assert_eq!(stdout, "");

    let listing = carrick.ok(&["images"]);
    let row = listing
        .lines()
        .find(|line| line.contains("/busybox"))
        .unwrap_or_else(|| panic!("no busybox row in: {listing}"));
    assert!(row.contains("v1"), "{row}");
    assert!(row.contains(&image.config[7..19]), "{row}");

    // A second pull finds the layer and downloads nothing.
    let output = carrick.run(&["pull", &reference]);
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("1 of 1 layers already in the store"),
        "{stderr}"
    );
    assert!(!stderr.contains("downloading"), "{stderr}");

    // Pulling by digest records the digest reference and reuses the layer.
    let by_digest = format!("{}/busybox@{}", registry.host(), image.manifest);
    carrick.ok(&["pull", "--quiet", &by_digest]);
    assert_eq!(
        carrick.image(&by_digest).unwrap()["manifest"],
        image.manifest
    );
    let wrong = format!("{}/busybox@sha256:{}", registry.host(), "0".repeat(64));
    let line = carrick.fails(&["pull", &wrong]);
    assert!(line.contains("not found"), "{line}");
    carrick.assert_consistent();
}

#[test]
fn multi_arch_index_skips_amd64() {
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let arm64 = layout.image("arm64", &[busybox_tar()], &["/bin/busybox", "sh"]);
    let amd64 = layout.image("amd64", &[amd64_layer()], &["/bin/sh"]);
    let index = layout.tag_index("multi", &[("amd64", &amd64), ("arm64", &arm64)]);
    registry.push(&layout.dir, "multi", "busybox", &["--all"]);

    let carrick = Carrick::new();
    let reference = format!("{}/busybox:multi", registry.host());
    carrick.ok(&["pull", "--quiet", &reference]);
    // The arm64 entry was chosen: its busybox runs and reports the guest machine.
    let stdout = carrick.ok(&["run", "--rm", &reference, "/bin/busybox", "uname", "-m"]);
    assert_eq!(stdout, "aarch64\n");

    let record = carrick.image(&reference).unwrap();
    assert_eq!(record["manifest"], arm64.manifest);
    assert_eq!(record["index"], index);
    assert!(carrick
        .layer_dir(&arm64.layers[0])
        .join("root/bin/busybox")
        .is_file());
    assert!(
        !carrick.has_blob(&amd64.layers[0]),
        "amd64 layer was downloaded"
    );
    assert!(
        !carrick.has_blob(&amd64.config),
        "amd64 config was downloaded"
    );
    carrick.assert_consistent();

    // Asking for the amd64 entry selects it; carrick only refuses to run it later.
    let amd = Carrick::new();
    amd.ok(&["pull", "--quiet", "--platform", "linux/amd64", &reference]);
    assert_eq!(amd.image(&reference).unwrap()["manifest"], amd64.manifest);

    // A platform the index lacks is a one-line error.
    let line = carrick.fails(&["pull", "--platform", "linux/riscv64", &reference]);
    assert!(line.contains("has no linux/riscv64 variant"), "{line}");
}

#[test]
fn docker_manifest_list_pull() {
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let arm64 = layout.image("arm64", &[busybox_tar()], &["/bin/busybox", "sh"]);
    let amd64 = layout.image("amd64", &[amd64_layer()], &["/bin/sh"]);
    layout.tag_index("list", &[("amd64", &amd64), ("arm64", &arm64)]);
    registry.push(
        &layout.dir,
        "list",
        "busybox",
        &["--all", "--format", "v2s2"],
    );

    let carrick = Carrick::new();
    let reference = format!("{}/busybox:list", registry.host());
    carrick.ok(&["pull", "--quiet", &reference]);
    let stdout = carrick.ok(&["run", "--rm", &reference, "/bin/busybox", "uname", "-m"]);
    assert_eq!(stdout, "aarch64\n");

    let record = carrick.image(&reference).unwrap();
    let index = std::fs::read(carrick.blob_path(record["index"].as_str().unwrap())).unwrap();
    let index: serde_json::Value = serde_json::from_slice(&index).unwrap();
    assert_eq!(
        index["mediaType"],
        "application/vnd.docker.distribution.manifest.list.v2+json"
    );
    let manifest = std::fs::read(carrick.blob_path(record["manifest"].as_str().unwrap())).unwrap();
    let manifest: serde_json::Value = serde_json::from_slice(&manifest).unwrap();
    assert_eq!(
        manifest["mediaType"],
        "application/vnd.docker.distribution.manifest.v2+json"
    );
    // skopeo recompresses nothing here, so the layer digests are the OCI layout's.
    assert_eq!(record["layers"][0], arm64.layers[0]);
    assert!(carrick
        .layer_dir(&arm64.layers[0])
        .join("root/bin/busybox")
        .is_file());
    assert!(!carrick.has_blob(&amd64.layers[0]));
    carrick.assert_consistent();
}

#[test]
fn multi_layer_whiteouts_and_container() {
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let bottom = layer_tar(&[
        Entry::Dir("etc"),
        Entry::File("etc/keep", 0o644, b"keep\n"),
        Entry::File("etc/gone", 0o644, b"gone\n"),
        Entry::Dir("var/cache"),
        Entry::File("var/cache/old", 0o644, b"old\n"),
    ]);
    let top = layer_tar(&[
        Entry::File("etc/.wh.gone", 0o644, b""),
        Entry::File("var/cache/.wh..wh..opq", 0o644, b""),
        Entry::File("var/cache/new", 0o644, b"new\n"),
        Entry::Dir("dev"),
        Entry::CharDevice("dev/null", 1, 3),
        Entry::File("usr/bin/su", 0o4755, b"not really su\n"),
        Entry::Symlink("bin", "usr/bin"),
    ]);
    let image = layout.image(
        "arm64",
        &[busybox_tar(), bottom, top],
        &["/bin/busybox", "sh"],
    );
    layout.tag_image("layers", &image);
    registry.push(&layout.dir, "layers", "stack", &[]);

    let carrick = Carrick::new();
    let reference = format!("{}/stack:layers", registry.host());
    carrick.ok(&["pull", "--quiet", &reference]);
    carrick.assert_consistent();

    let top_dir = carrick.layer_dir(&image.layers[2]);
    let meta = LayerMeta::load(&top_dir).unwrap();
    assert!(meta.is_whiteout(Path::new("/etc/gone")));
    assert!(!meta.is_whiteout(Path::new("/etc/keep")));
    assert!(meta.is_opaque(Path::new("/var/cache")));
    assert!(!top_dir.join("root/etc/.wh.gone").exists());
    assert!(!top_dir.join("root/var/cache/.wh..wh..opq").exists());
    assert_eq!(
        std::fs::read(top_dir.join("root/var/cache/new")).unwrap(),
        b"new\n"
    );

    let null = meta.attrs(Path::new("/dev/null")).unwrap();
    assert_eq!(null.mode, 0o020666);
    assert_eq!(null.rdev, makedev(1, 3));
    assert!(top_dir.join("root/dev/null").is_file());
    let su = meta.attrs(Path::new("/usr/bin/su")).unwrap();
    assert_eq!(su.mode, 0o104755);
    let bin = std::fs::read_link(top_dir.join("root/bin")).unwrap();
    assert_eq!(bin, Path::new("usr/bin"));

    let bottom_dir = carrick.layer_dir(&image.layers[1]);
    assert!(bottom_dir.join("root/etc/gone").is_file());
    assert!(bottom_dir.join("root/var/cache/old").is_file());

    // A container gets the layers bottom to top, the config, and an empty upper directory.
    let spec: serde_json::Value =
        serde_json::from_str(&carrick.ok(&["create", "--json", &reference])).unwrap();
    let layers: Vec<String> = spec["layers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|layer| layer.as_str().unwrap().to_string())
        .collect();
    let expected: Vec<String> = image
        .layers
        .iter()
        .map(|digest| carrick.layer_dir(digest).display().to_string())
        .collect();
    assert_eq!(layers, expected);
    assert_eq!(
        spec["config"]["Cmd"],
        serde_json::json!(["/bin/busybox", "sh"])
    );
    let upper = Path::new(spec["upper"].as_str().unwrap());
    assert!(upper.is_dir());
    assert_eq!(std::fs::read_dir(upper).unwrap().count(), 0);

    // prune keeps what the image and the container use; rmi + rm free it.
    carrick.ok(&["image", "prune"]);
    carrick.assert_consistent();
    assert!(carrick.layer_dir(&image.layers[2]).is_dir());
    carrick.ok(&["rmi", &reference]);
    assert!(carrick.image(&reference).is_none());
    assert!(
        carrick.layer_dir(&image.layers[2]).is_dir(),
        "layer of a live container was removed"
    );
    let id = spec["id"].as_str().unwrap();
    carrick.ok(&["rm", id]);
    assert!(!upper.exists());
    carrick.ok(&["image", "prune"]);
    assert!(!carrick.layer_dir(&image.layers[2]).exists());
    assert!(!carrick.has_blob(&image.manifest));
    carrick.assert_consistent();
}

#[test]
fn manifest_requests_accept_index_types() {
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let image = layout.image("arm64", &[busybox_tar()], &["/bin/busybox", "sh"]);
    layout.tag_image("v1", &image);
    registry.push(&layout.dir, "v1", "busybox", &[]);
    let proxy = Proxy::start(registry.port);

    let carrick = Carrick::new();
    carrick.ok(&["pull", "--quiet", &format!("{}/busybox:v1", proxy.host())]);

    let requests = proxy.requests_text().to_ascii_lowercase();
    let manifest_request = requests
        .split("\r\n\r\n")
        .find(|request| request.contains("/manifests/v1"))
        .unwrap_or_else(|| panic!("no manifest request in: {requests}"));
    let accept = manifest_request
        .lines()
        .find(|line| line.starts_with("accept:"))
        .unwrap_or_else(|| panic!("no Accept header in: {manifest_request}"));
    assert!(
        accept.contains("application/vnd.oci.image.index.v1+json"),
        "{accept}"
    );
    assert!(
        accept.contains("application/vnd.docker.distribution.manifest.list.v2+json"),
        "{accept}"
    );
    assert!(
        accept.contains("application/vnd.oci.image.manifest.v1+json"),
        "{accept}"
    );
}

#[test]
fn missing_tag_bad_reference_stopped_registry() {
    let mut registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let image = layout.image("arm64", &[busybox_tar()], &["/bin/busybox", "sh"]);
    layout.tag_image("v1", &image);
    registry.push(&layout.dir, "v1", "busybox", &[]);
    let carrick = Carrick::new();

    let missing = format!("{}/busybox:nope", registry.host());
    let line = carrick.fails(&["pull", &missing]);
    assert!(line.contains("not found"), "{line}");
    assert!(line.contains(&missing), "{line}");

    let line = carrick.fails(&["pull", &format!("{}/nothing:v1", registry.host())]);
    assert!(line.contains("not found"), "{line}");

    let line = carrick.fails(&["pull", "Bad:Ref"]);
    assert!(
        line.contains("invalid image reference \"Bad:Ref\""),
        "{line}"
    );

    let line = carrick.fails(&["pull", "--platform", "arm64", "busybox"]);
    assert!(line.contains("invalid platform"), "{line}");

    registry.stop();
    let line = carrick.fails(&["pull", &format!("{}/busybox:v1", registry.host())]);
    assert!(
        line.contains(&format!("cannot connect to registry {}", registry.host())),
        "{line}"
    );

    // Running a missing image pulls it first, with the same error when that fails.
    let line = carrick.fails(&["create", &format!("{}/busybox:v1", registry.host())]);
    assert!(line.contains("cannot connect to registry"), "{line}");

    assert!(carrick.images_json()["images"]
        .as_array()
        .unwrap()
        .is_empty());
    carrick.assert_consistent();
}

#[test]
fn corrupted_blob_is_rejected_then_retried() {
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let image = layout.image("arm64", &[busybox_tar()], &["/bin/busybox", "sh"]);
    layout.tag_image("v1", &image);
    registry.push(&layout.dir, "v1", "busybox", &[]);

    let stored = registry.blob_file(&image.layers[0]);
    let original = std::fs::read(&stored).unwrap();
    let mut corrupt = original.clone();
    let middle = corrupt.len() / 2;
    corrupt[middle] ^= 0xff;
    std::fs::write(&stored, &corrupt).unwrap();

    let carrick = Carrick::new();
    let reference = format!("{}/busybox:v1", registry.host());
    let line = carrick.fails(&["pull", &reference]);
    assert!(line.contains("failed verification"), "{line}");
    assert!(line.contains(&image.layers[0]), "{line}");
    assert!(carrick.image(&reference).is_none());
    assert!(!carrick.has_blob(&image.layers[0]));
    carrick.assert_consistent();

    std::fs::write(&stored, &original).unwrap();
    carrick.ok(&["pull", "--quiet", &reference]);
    assert_eq!(
        carrick.image(&reference).unwrap()["manifest"],
        image.manifest
    );
    carrick.assert_consistent();
}

#[test]
fn killed_pull_leaves_store_consistent() {
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    // Random bytes do not compress, so the layer blob stays large.
    let mut noise = vec![0u8; 4 << 20];
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    for byte in noise.iter_mut() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        *byte = state as u8;
    }
    let big = layer_tar(&[Entry::File("noise", 0o644, &noise)]);
    let image = layout.image("arm64", &[busybox_tar(), big], &["/bin/busybox", "sh"]);
    layout.tag_image("v1", &image);
    registry.push(&layout.dir, "v1", "big", &[]);

    let proxy = Proxy::start(registry.port);
    proxy.stall_after.store(1 << 20, Ordering::SeqCst);
    let carrick = Carrick::new();
    let reference = format!("{}/big:v1", proxy.host());
    let mut child = carrick
        .command(&["pull", "--quiet", &reference])
        .spawn()
        .unwrap();

    let deadline = Instant::now() + Duration::from_secs(30);
    while !proxy.stalled.load(Ordering::SeqCst) {
        assert!(
            Instant::now() < deadline,
            "pull never reached the stall point"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "pull ended before the stall point"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    std::thread::sleep(Duration::from_millis(200));
    child.kill().unwrap();
    child.wait().unwrap();
    proxy.stall_after.store(u64::MAX, Ordering::SeqCst);

    assert!(
        carrick.image(&reference).is_none(),
        "name recorded for a half-pulled image"
    );
    assert!(
        !carrick.has_blob(&image.layers[1]),
        "partial blob in the store"
    );
    let leftovers = std::fs::read_dir(carrick.home.path().join("tmp"))
        .unwrap()
        .count();
    assert!(
        leftovers > 0,
        "the killed pull should have left its work directory"
    );

    // The next pull removes the dead work directory and completes.
    carrick.ok(&["pull", "--quiet", &reference]);
    assert_eq!(
        carrick.image(&reference).unwrap()["manifest"],
        image.manifest
    );
    carrick.assert_consistent();
}
