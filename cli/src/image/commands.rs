//! The image subcommands: `pull`, `images`, `rmi`, `image prune`, `load`, `login`, `tag`.

use std::io::{BufRead, Write};
use std::path::Path;

use anyhow::{bail, Context, Result};

use super::container::{async_runtime, find_image};
use super::load::load_archive;
use super::progress::human_bytes;
use super::pull::{pull, PullOptions};
use super::reference::{display_columns, ImageRef};
use super::store::{now, ImageRecord, Store};

/// `carrick pull REF`.
pub fn pull_command(store: &Store, reference: &str, options: &PullOptions) -> Result<()> {
    let image = ImageRef::parse(reference)?;
    let record = async_runtime()?.block_on(pull(store, &image, options))?;
    if !options.quiet {
        println!("Digest: {}", record.manifest);
    }
    println!("{}", image.store_name());
    Ok(())
}

/// `carrick images`.
pub fn images_command(store: &Store, quiet: bool) -> Result<()> {
    let mut images = store.images()?;
    images.sort_by(|left, right| left.name.cmp(&right.name));
    if quiet {
        for image in &images {
            println!("{}", image.config.short());
        }
        return Ok(());
    }
    println!(
        "{:<40} {:<20} {:<14} {:<14} SIZE",
        "REPOSITORY", "TAG", "IMAGE ID", "PULLED"
    );
    for image in &images {
        let (repository, tag) = match &image.name {
            Some(name) => display_columns(name),
            None => ("<none>".to_string(), "<none>".to_string()),
        };
        println!(
            "{repository:<40} {tag:<20} {:<14} {:<14} {}",
            image.config.short(),
            age(image.created),
            human_bytes(image.size)
        );
    }
    Ok(())
}

fn age(created: u64) -> String {
    let seconds = now().saturating_sub(created);
    match seconds {
        0..60 => format!("{seconds} s ago"),
        60..3600 => format!("{} min ago", seconds / 60),
        3600..86400 => format!("{} h ago", seconds / 3600),
        _ => format!("{} days ago", seconds / 86400),
    }
}

/// `carrick rmi IMAGE...`: removes names (or all names of an id), then deletes the blobs and
/// layers no image or container uses any more.
pub fn rmi_command(store: &Store, images: &[String]) -> Result<()> {
    for text in images {
        let Some(record) = find_image(store, text)? else {
            bail!("no such image: {text}; list images with carrick images");
        };
        let by_name = ImageRef::parse(text)
            .map(|reference| Some(reference.store_name()) == record.name)
            .unwrap_or(false);
        let removed: Vec<ImageRecord> = store.update_images(|all| {
            let (gone, kept): (Vec<ImageRecord>, Vec<ImageRecord>) =
                all.drain(..).partition(|image| {
                    if by_name {
                        image.name == record.name
                    } else {
                        image.config == record.config
                    }
                });
            *all = kept;
            gone
        })?;
        for image in removed {
            match image.name {
                Some(name) => println!("Untagged: {name}"),
                None => println!("Deleted: {}", image.manifest),
            }
        }
    }
    let (count, bytes) = store.collect_garbage()?;
    if count > 0 {
        println!(
            "Deleted {count} blobs and layers, {} reclaimed",
            human_bytes(bytes)
        );
    }
    Ok(())
}

/// `carrick image prune`.
pub fn prune_command(store: &Store) -> Result<()> {
    let (count, bytes) = store.collect_garbage()?;
    println!("Deleted {count} blobs and layers");
    println!("Total reclaimed space: {}", human_bytes(bytes));
    Ok(())
}

/// `carrick load -i FILE`.
pub fn load_command(store: &Store, input: &Path, options: &PullOptions) -> Result<()> {
    let records = async_runtime()?.block_on(load_archive(store, input, options))?;
    for record in records {
        match record.name {
            Some(name) => println!("Loaded image: {name}"),
            None => println!("Loaded image ID: {}", record.config),
        }
    }
    Ok(())
}

/// `carrick tag SOURCE TARGET`.
pub fn tag_command(store: &Store, source: &str, target: &str) -> Result<()> {
    let Some(record) = find_image(store, source)? else {
        bail!("no such image: {source}; list images with carrick images");
    };
    let ImageRef::Registry(_) = ImageRef::parse(target)? else {
        bail!(
            "invalid tag {target:?}: a tag must be a registry name such as name:tag, not oci:DIR"
        );
    };
    let name = ImageRef::parse(target)?.store_name();
    store.add_image(ImageRecord {
        name: Some(name),
        created: now(),
        ..record
    })
}

/// `carrick login [-u USER] [--password-stdin] REGISTRY`.
pub fn login_command(
    store: &Store,
    registry: &str,
    username: Option<&str>,
    password_stdin: bool,
) -> Result<()> {
    if registry.is_empty() || registry.contains('/') {
        bail!("invalid registry {registry:?}; give a host name such as ghcr.io or 127.0.0.1:5000");
    }
    let stdin = std::io::stdin();
    let username = match username {
        Some(username) => username.to_string(),
        None => {
            if password_stdin {
                bail!("--password-stdin needs --username");
            }
            eprint!("Username: ");
            std::io::stderr().flush().ok();
            read_line(&mut stdin.lock())?
        }
    };
    if !password_stdin {
        eprint!("Password: ");
        std::io::stderr().flush().ok();
    }
    let password = read_line(&mut stdin.lock())?;
    if username.is_empty() || password.is_empty() {
        bail!("empty username or password for {registry}; give both");
    }
    // NOTE: the credentials are stored without a test request; a wrong password shows up on
    // the next pull from this registry.
    super::auth::save(store, registry, &username, &password)?;
    println!(
        "Login Succeeded (credentials saved in {})",
        store.auth_path().display()
    );
    Ok(())
}

fn read_line(input: &mut impl BufRead) -> Result<String> {
    let mut line = String::new();
    input
        .read_line(&mut line)
        .context("cannot read from stdin")?;
    Ok(line.trim_end_matches(['\r', '\n']).to_string())
}
