//! `carrick load` of docker-save and OCI archives written by skopeo, `carrick pull oci:DIR`,
//! and concurrent pulls into one store.

#![allow(clippy::unwrap_used, clippy::panic)]

mod registry_support;

use std::path::Path;
use std::process::Command;

use registry_support::{busybox_tar, layer_tar, require_tool, Carrick, Entry, Layout, Registry};

/// Copies `oci:layout:tag` to `destination` (a skopeo transport:path[:name]) with skopeo.
fn skopeo_copy(layout: &Path, tag: &str, destination: &str) {
    require_tool("skopeo");
    let output = Command::new("skopeo")
        .args(["copy", "--quiet"])
        .arg(format!("oci:{}:{tag}", layout.display()))
        .arg(destination)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "skopeo copy to {destination} failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn small_image(dir: &Path) -> (Layout, registry_support::ImageDigests) {
    let mut layout = Layout::new(dir);
    let extra = layer_tar(&[Entry::File(
        "etc/motd",
        0o644,
        b"hello from the test image\n",
    )]);
    let image = layout.image("arm64", &[busybox_tar(), extra], &["/bin/busybox", "sh"]);
    layout.tag_image("v1", &image);
    (layout, image)
}

#[test]
fn load_docker_save_archive() {
    let work = tempfile::tempdir().unwrap();
    let (layout, _) = small_image(&work.path().join("layout"));
    let archive = work.path().join("saved.tar");
    skopeo_copy(
        &layout.dir,
        "v1",
        &format!("docker-archive:{}:example.com/app:1", archive.display()),
    );

    let carrick = Carrick::new();
    let stdout = carrick.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(stdout.trim(), "Loaded image: example.com/app:1");

    let record = carrick.image("example.com/app:1").unwrap();
    let layers = record["layers"].as_array().unwrap();
    assert_eq!(layers.len(), 2);
    let top = carrick.layer_dir(layers[1].as_str().unwrap());
    assert_eq!(
        std::fs::read(top.join("root/etc/motd")).unwrap(),
        b"hello from the test image\n"
    );
    let bottom = carrick.layer_dir(layers[0].as_str().unwrap());
    assert!(bottom.join("root/bin/busybox").is_file());
    carrick.assert_consistent();

    // Loading again keeps one record and the same layers.
    carrick.ok(&["load", "-i", archive.to_str().unwrap()]);
    assert_eq!(carrick.images_json()["images"].as_array().unwrap().len(), 1);
    carrick.assert_consistent();
}

#[test]
fn load_oci_archive() {
    let work = tempfile::tempdir().unwrap();
    let (layout, image) = small_image(&work.path().join("layout"));
    let archive = work.path().join("image.oci.tar");
    skopeo_copy(
        &layout.dir,
        "v1",
        &format!("oci-archive:{}:v1", archive.display()),
    );

    let carrick = Carrick::new();
    let stdout = carrick.ok(&["load", "-i", archive.to_str().unwrap()]);
    // The archive names the image only by the tag "v1", which is no repository name.
    assert_eq!(stdout.trim(), format!("Loaded image ID: {}", image.config));
    carrick.ok(&["tag", &image.config[7..19], "loaded:v1"]);
    let record = carrick.image("docker.io/library/loaded:v1").unwrap();
    assert_eq!(record["manifest"], image.manifest);
    carrick.assert_consistent();
}

#[test]
fn load_rejects_bad_archives() {
    let work = tempfile::tempdir().unwrap();
    let carrick = Carrick::new();

    let missing = work.path().join("missing.tar");
    let line = carrick.fails(&["load", "-i", missing.to_str().unwrap()]);
    assert!(line.contains("cannot open archive"), "{line}");

    let hostile = work.path().join("hostile.tar");
    let mut builder = tar::Builder::new(Vec::new());
    let mut header = tar::Header::new_gnu();
    header.set_size(4);
    header.set_mode(0o644);
    header.set_entry_type(tar::EntryType::Regular);
    let name = b"../escaped";
    header.as_old_mut().name[..name.len()].copy_from_slice(name);
    header.set_cksum();
    builder.append(&header, &b"evil"[..]).unwrap();
    std::fs::write(&hostile, builder.into_inner().unwrap()).unwrap();
    let line = carrick.fails(&["load", "-i", hostile.to_str().unwrap()]);
    assert!(line.contains("escapes the layer root"), "{line}");
    assert!(!carrick.home.path().join("tmp/escaped").exists());

    let empty = work.path().join("empty.tar");
    std::fs::write(&empty, tar::Builder::new(Vec::new()).into_inner().unwrap()).unwrap();
    let line = carrick.fails(&["load", "-i", empty.to_str().unwrap()]);
    assert!(line.contains("neither a docker save archive"), "{line}");
    carrick.assert_consistent();
}

#[test]
fn pull_from_oci_layout_dir() {
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let arm64 = layout.image("arm64", &[busybox_tar()], &["/bin/busybox", "sh"]);
    let amd64 = layout.image(
        "amd64",
        &[layer_tar(&[Entry::File("amd64", 0o644, b"x")])],
        &["/bin/sh"],
    );
    layout.tag_index("multi", &[("amd64", &amd64), ("arm64", &arm64)]);
    layout.tag_image("amd", &amd64);

    let carrick = Carrick::new();
    let reference = format!("oci:{}:multi", layout.dir.display());
    carrick.ok(&["pull", "--quiet", &reference]);
    let name = format!(
        "oci:{}:multi",
        std::fs::canonicalize(&layout.dir).unwrap().display()
    );
    assert_eq!(carrick.image(&name).unwrap()["manifest"], arm64.manifest);
    assert!(!carrick.has_blob(&amd64.layers[0]));

    let line = carrick.fails(&["pull", &format!("oci:{}:amd", layout.dir.display())]);
    assert!(line.contains("is for linux/amd64"), "{line}");

    let line = carrick.fails(&["pull", &format!("oci:{}:nope", layout.dir.display())]);
    assert!(line.contains("tag \"nope\" not found"), "{line}");

    let line = carrick.fails(&["pull", &format!("oci:{}", work.path().display())]);
    assert!(line.contains("is not an OCI image layout"), "{line}");
    carrick.assert_consistent();
}

#[test]
fn concurrent_pulls_share_store() {
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let (layout, image) = small_image(&work.path().join("layout"));
    registry.push(&layout.dir, "v1", "app", &[]);

    let carrick = Carrick::new();
    let reference = format!("{}/app:v1", registry.host());
    let children: Vec<_> = (0..4)
        .map(|_| {
            carrick
                .command(&["pull", "--quiet", &reference])
                .spawn()
                .unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    let images = carrick.images_json();
    assert_eq!(images["images"].as_array().unwrap().len(), 1);
    assert_eq!(
        carrick.image(&reference).unwrap()["manifest"],
        image.manifest
    );
    carrick.assert_consistent();
}
