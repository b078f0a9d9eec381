//! Guest path resolution over the mount table, following Linux's `path_lookupat`: one
//! component at a time from the root or a start directory; `..` pops a stack of the
//! directories walked (and stays at the root); an absolute symlink restarts at the root and
//! a relative one continues in its directory; at most [`MAX_SYMLINKS`] symlinks per call.

use std::io;

use super::layered::{Dir, Entry};
use super::path::{components, ends_like_directory, GuestPath, NAME_MAX, PATH_MAX};
use super::synthetic::{self, SynthNode};
use super::{errno, FileType, Filesystem, Vfs};

/// Symlinks one resolution may follow before failing with `ELOOP` (Linux's `MAXSYMLINKS`).
pub const MAX_SYMLINKS: usize = 40;

/// How often a component is looked up again when it changed between lookup and open.
const RACE_RETRIES: usize = 3;

/// A directory of the guest tree: its canonical path, its mount and the mount's handle on
/// it. Used for the working directory, directory fds and resolution steps.
#[derive(Clone, Debug)]
pub struct Location {
    pub path: GuestPath,
    pub mount: usize,
    pub dir: MountDir,
}

/// A directory inside one mount.
#[derive(Clone, Debug)]
pub enum MountDir {
    Layered(Dir),
    /// Components below the synthetic mount's root.
    Synthetic(Vec<Vec<u8>>),
}

/// The file a name refers to.
#[derive(Clone, Debug)]
pub enum Node {
    Layered(Entry),
    Synthetic(SynthNode),
}

impl Node {
    pub fn file_type(&self) -> FileType {
        match self {
            Node::Layered(entry) => entry.file_type(),
            Node::Synthetic(node) => node.file_type(),
        }
    }
}

/// The result of resolving a guest path.
#[derive(Clone, Debug)]
pub struct Resolved {
    /// Canonical guest path of the result.
    pub path: GuestPath,
    /// The directory that contains the final component, or the result itself when `name` is
    /// `None` (the path was `/`, ended in `.` or `..`, or named a mount point).
    pub parent: Location,
    pub name: Option<Vec<u8>>,
    /// The final component's file; `None` when it does not exist (then `name` is set and
    /// `parent` is where it would be created).
    pub node: Option<Node>,
    /// Whether the path requires a directory (it ended in `/`, `.` or `..`).
    pub must_be_dir: bool,
}

impl Resolved {
    pub fn exists(&self) -> bool {
        self.name.is_none() || self.node.is_some()
    }

    /// The type of the result, `None` when it does not exist.
    pub fn file_type(&self) -> Option<FileType> {
        match (&self.name, &self.node) {
            (None, _) => Some(FileType::Directory),
            (Some(_), node) => node.as_ref().map(Node::file_type),
        }
    }

    /// `ENOENT` unless the result exists.
    pub fn require(&self) -> io::Result<()> {
        if self.exists() {
            Ok(())
        } else {
            Err(errno(libc::ENOENT))
        }
    }
}

impl Vfs {
    /// The guest root directory.
    pub fn root(&self) -> io::Result<Location> {
        self.mount_root(0, GuestPath::root())
    }

    pub(crate) fn mount_root(&self, index: usize, path: GuestPath) -> io::Result<Location> {
        let dir = match &self.mount(index)?.fs {
            Filesystem::Layered(fs) => MountDir::Layered(fs.root()?),
            Filesystem::Synthetic(_) => MountDir::Synthetic(Vec::new()),
        };
        Ok(Location {
            path,
            mount: index,
            dir,
        })
    }

    /// Resolves `path` (absolute, or relative to `start`). `follow` selects whether a symlink
    /// in the final component is followed (it always is when the path ends in `/`). The
    /// final component may be missing: see [`Resolved::node`]. Errors as Linux gives them:
    /// `ENOENT` (empty path or a missing directory on the way), `ENOTDIR`, `ELOOP`,
    /// `ENAMETOOLONG`.
    pub fn resolve(&self, start: &Location, path: &[u8], follow: bool) -> io::Result<Resolved> {
        if path.is_empty() {
            return Err(errno(libc::ENOENT));
        }
        if path.len() >= PATH_MAX {
            return Err(errno(libc::ENAMETOOLONG));
        }
        let mut stack = if path.starts_with(b"/") {
            vec![self.root()?]
        } else {
            vec![self.refreshed(start)?]
        };
        let mut pending: Vec<Vec<u8>> = components(path).rev().map(<[u8]>::to_vec).collect();
        let mut must_be_dir = ends_like_directory(path);
        let mut links = 0usize;

        while let Some(name) = pending.pop() {
            let last = pending.is_empty();
            if name.len() > NAME_MAX {
                return Err(errno(libc::ENAMETOOLONG));
            }
            if name == b"." || name == b".." {
                if name == b".." {
                    self.go_up(&mut stack)?;
                }
                continue;
            }
            let current = stack.last().ok_or_else(|| errno(libc::ENOENT))?;
            let child_path = current.path.join(&name);
            if let Some(index) = self.mount_at(&child_path) {
                // A mount point hides whatever the parent has under that name, even nothing.
                let mounted = self.mount_root(index, child_path)?;
                if last {
                    return Ok(Resolved {
                        path: mounted.path.clone(),
                        parent: mounted,
                        name: None,
                        node: None,
                        must_be_dir,
                    });
                }
                stack.push(mounted);
                continue;
            }
            let Some(node) = self.lookup(current, &name)? else {
                if last {
                    let path = child_path.clone();
                    return Ok(Resolved {
                        path,
                        parent: current.clone(),
                        name: Some(name),
                        node: None,
                        must_be_dir,
                    });
                }
                return Err(errno(libc::ENOENT));
            };

            let file_type = node.file_type();
            if file_type == FileType::Symlink && (!last || follow || must_be_dir) {
                links += 1;
                if links > MAX_SYMLINKS {
                    return Err(errno(libc::ELOOP));
                }
                let target = self.read_link(current, &name, &node)?;
                let pathless = match &node {
                    Node::Synthetic(SynthNode::FdLink { fd, .. }) if last => self
                        .file(*fd)
                        .ok()
                        .filter(|file| file.path.is_none())
                        .map(|file| (*fd, file)),
                    _ => None,
                };
                if let Some((fd, file)) = pathless {
                    // The fd has no guest path (a pipe, a socket, an O_TMPFILE file or one
                    // inherited from the host): the link opens the file itself.
                    let file_type = self.fstat(&file)?.file_type();
                    let node = Node::Synthetic(SynthNode::OpenFd { fd, file_type });
                    return Ok(Resolved {
                        path: child_path,
                        parent: current.clone(),
                        name: Some(name),
                        node: Some(node),
                        must_be_dir,
                    });
                }
                if target.is_empty() {
                    return Err(errno(libc::ENOENT));
                }
                if last && ends_like_directory(&target) {
                    must_be_dir = true;
                }
                if target.starts_with(b"/") {
                    stack.truncate(0);
                    stack.push(self.root()?);
                }
                pending.extend(components(&target).rev().map(<[u8]>::to_vec));
                continue;
            }
            if !last {
                if file_type != FileType::Directory {
                    return Err(errno(libc::ENOTDIR));
                }
                let child = self.enter_with_retry(current, &name, node)?;
                stack.push(child);
                continue;
            }
            if must_be_dir && file_type != FileType::Directory {
                return Err(errno(libc::ENOTDIR));
            }
            let path = child_path;
            if matches!(node, Node::Synthetic(_)) {
                self.record_synthetic(&path);
            }
            return Ok(Resolved {
                path,
                parent: current.clone(),
                name: Some(name),
                node: Some(node),
                must_be_dir,
            });
        }

        let current = stack.pop().ok_or_else(|| errno(libc::ENOENT))?;
        Ok(Resolved {
            path: current.path.clone(),
            parent: current,
            name: None,
            node: None,
            must_be_dir,
        })
    }

    /// The directory a resolved path names, for `chdir`, `open(O_DIRECTORY)` and `*at` dirfds.
    /// `ENOENT` when it does not exist, `ENOTDIR` when it is not a directory.
    pub fn enter_resolved(&self, resolved: &Resolved) -> io::Result<Location> {
        let Some(name) = &resolved.name else {
            return Ok(resolved.parent.clone());
        };
        let node = resolved.node.clone().ok_or_else(|| errno(libc::ENOENT))?;
        if node.file_type() != FileType::Directory {
            return Err(errno(libc::ENOTDIR));
        }
        self.enter_with_retry(&resolved.parent, name, node)
    }

    /// Finds the directory at a canonical guest path, starting from the root.
    pub fn locate_dir(&self, path: &GuestPath) -> io::Result<Location> {
        let root = self.root()?;
        if path.is_root() {
            return Ok(root);
        }
        let resolved = self.resolve(&root, path.as_bytes(), true)?;
        self.enter_resolved(&resolved)
    }

    /// Looks up `name` in a directory; `None` when it does not exist.
    pub fn lookup(&self, location: &Location, name: &[u8]) -> io::Result<Option<Node>> {
        match (&location.dir, &self.mount(location.mount)?.fs) {
            (MountDir::Layered(dir), Filesystem::Layered(fs)) => {
                Ok(fs.lookup(dir, name)?.map(Node::Layered))
            }
            (MountDir::Synthetic(rel), Filesystem::Synthetic(kind)) => {
                let mut child = rel.clone();
                child.push(name.to_vec());
                Ok(synthetic::lookup(*kind, &self.synth_context(), &child)?.map(Node::Synthetic))
            }
            _ => Err(errno(libc::EIO)),
        }
    }

    /// Reads the target of the symlink `name` (found as `node`) in a directory.
    pub fn read_link(&self, location: &Location, name: &[u8], node: &Node) -> io::Result<Vec<u8>> {
        match (node, &location.dir) {
            (Node::Layered(entry), MountDir::Layered(dir)) => {
                self.layered(location.mount)?.readlink(dir, name, entry)
            }
            (Node::Synthetic(SynthNode::Symlink(target) | SynthNode::FdLink { target, .. }), _) => {
                Ok(target.clone())
            }
            _ => Err(errno(libc::EINVAL)),
        }
    }

    /// Enters the directory `name` of `location`, switching to the mount there if any. A
    /// directory swapped for something else between lookup and open is looked up again.
    fn enter_with_retry(
        &self,
        location: &Location,
        name: &[u8],
        mut node: Node,
    ) -> io::Result<Location> {
        let path = location.path.join(name);
        if let Some(index) = self.mount_at(&path) {
            return self.mount_root(index, path);
        }
        for _ in 0..RACE_RETRIES {
            let error = match (&node, &location.dir) {
                (Node::Layered(entry), MountDir::Layered(dir)) => {
                    match self.layered(location.mount)?.child_dir(dir, name, entry) {
                        Ok(child) => {
                            return Ok(Location {
                                path,
                                mount: location.mount,
                                dir: MountDir::Layered(child),
                            })
                        }
                        Err(error) => error,
                    }
                }
                (Node::Synthetic(SynthNode::Dir), MountDir::Synthetic(rel)) => {
                    let mut child = rel.clone();
                    child.push(name.to_vec());
                    return Ok(Location {
                        path,
                        mount: location.mount,
                        dir: MountDir::Synthetic(child),
                    });
                }
                _ => return Err(errno(libc::ENOTDIR)),
            };
            if !matches!(error.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)) {
                return Err(error);
            }
            node = self
                .lookup(location, name)?
                .ok_or_else(|| errno(libc::ENOENT))?;
            if node.file_type() != FileType::Directory {
                // NOTE: a directory replaced by a symlink mid-walk fails here instead of the
                // symlink being followed, as Linux would if the swap came before its lookup.
                return Err(errno(libc::ENOTDIR));
            }
        }
        Err(errno(libc::ELOOP))
    }

    /// Moves to the parent directory: pops the walk's stack, or (at a start directory
    /// whose ancestors were not walked) locates the parent by its canonical path.
    fn go_up(&self, stack: &mut Vec<Location>) -> io::Result<()> {
        if stack.len() > 1 {
            stack.pop();
            return Ok(());
        }
        let Some(current) = stack.last() else {
            return Ok(());
        };
        if current.path.is_root() {
            return Ok(());
        }
        let mut parent = current.path.clone();
        parent.pop();
        // NOTE: the parent comes from the start directory's recorded path, so a directory
        // moved since it was opened finds its old parent.
        let location = self.locate_dir(&parent)?;
        stack.clear();
        stack.push(location);
        Ok(())
    }

    /// A start directory with an upper layer created since it was opened.
    fn refreshed(&self, start: &Location) -> io::Result<Location> {
        let mut start = start.clone();
        if let MountDir::Layered(dir) = &mut start.dir {
            self.layered(start.mount)?.refresh(dir)?;
        }
        Ok(start)
    }
}
