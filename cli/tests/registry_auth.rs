//! `carrick login` and basic auth against a `docker-registry` with an htpasswd file.

#![allow(clippy::unwrap_used, clippy::panic)]

mod registry_support;

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;

use registry_support::{busybox_tar, Carrick, Layout, Registry};

fn login(carrick: &Carrick, registry: &str, user: &str, password: &str) -> std::process::Output {
    let mut child = carrick
        .command(&["login", "-u", user, "--password-stdin", registry])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("{password}\n").as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn basic_auth_needs_login() {
    let registry = Registry::start_with_auth(Some(("tester", "s3cret")));
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let image = layout.image("arm64", &[busybox_tar()], &["/bin/busybox", "sh"]);
    layout.tag_image("v1", &image);
    registry.push(
        &layout.dir,
        "v1",
        "private",
        &["--dest-creds", "tester:s3cret"],
    );

    let carrick = Carrick::new();
    let reference = format!("{}/private:v1", registry.host());
    let line = carrick.fails(&["pull", &reference]);
    assert!(line.contains("denied access"), "{line}");
    assert!(
        line.contains(&format!("carrick login {}", registry.host())),
        "{line}"
    );

    let output = login(&carrick, &registry.host(), "tester", "wrong");
    assert!(output.status.success());
    let line = carrick.fails(&["pull", &reference]);
    assert!(line.contains("denied access"), "{line}");

    let output = login(&carrick, &registry.host(), "tester", "s3cret");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let auth_file = carrick.home.path().join("auth.json");
    let mode = std::fs::metadata(&auth_file).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    let saved = std::fs::read_to_string(&auth_file).unwrap();
    assert!(!saved.contains("s3cret"), "password stored in clear text");

    carrick.ok(&["pull", "--quiet", &reference]);
    assert_eq!(
        carrick.image(&reference).unwrap()["manifest"],
        image.manifest
    );
    carrick.assert_consistent();
}

#[test]
fn bearer_token_flow_like_docker_hub() {
    let registry = Registry::start();
    let work = tempfile::tempdir().unwrap();
    let mut layout = Layout::new(&work.path().join("layout"));
    let image = layout.image("arm64", &[busybox_tar()], &["/bin/busybox", "sh"]);
    layout.tag_image("v1", &image);
    registry.push(&layout.dir, "v1", "library/busybox", &[]);
    let gate = registry_support::TokenGate::start(registry.port);

    let carrick = Carrick::new();
    let reference = format!("{}/library/busybox:v1", gate.host());
    carrick.ok(&["pull", "--quiet", &reference]);
    assert_eq!(
        carrick.image(&reference).unwrap()["manifest"],
        image.manifest
    );
    carrick.assert_consistent();

    assert!(gate.challenges.load(std::sync::atomic::Ordering::SeqCst) >= 1);
    let token_requests = gate.token_requests.lock().unwrap().clone();
    assert!(!token_requests.is_empty(), "no token request");
    let first = &token_requests[0];
    assert!(first.contains("service=carrick-test"), "{first}");
    assert!(
        first.contains("scope=repository%3Alibrary%2Fbusybox%3Apull")
            || first.contains("scope=repository:library/busybox:pull"),
        "{first}"
    );
}
