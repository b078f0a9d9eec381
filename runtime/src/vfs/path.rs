//! Guest path names as bytes: splitting a path into components and the canonical absolute
//! form the VFS tracks for every directory and open file (for `getcwd`, `/proc/self/fd/N`,
//! `/proc/self/exe` and mount-point detection).

use std::fmt;

/// The longest guest path name, including its terminating NUL (Linux `PATH_MAX`).
pub const PATH_MAX: usize = 4096;

/// The longest single component of a guest path (Linux `NAME_MAX`).
pub const NAME_MAX: usize = 255;

/// A canonical absolute guest path: starts with `/`, no `.` or `..` components, no repeated
/// or trailing slashes (except for the root itself), and no symlinks at the time it was built.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct GuestPath(Vec<u8>);

impl GuestPath {
    /// The root directory, `/`.
    pub fn root() -> Self {
        GuestPath(b"/".to_vec())
    }

    /// Builds a canonical path from a guest string by dropping empty and `.` components and
    /// applying `..` lexically. Only for paths that contain no symlinks (mount points, the
    /// paths of synthetic files); guest input goes through the resolver instead.
    pub fn normalize(path: &[u8]) -> Self {
        let mut result = GuestPath::root();
        for component in components(path) {
            match component {
                b"." => {}
                b".." => result.pop(),
                name => result.push(name),
            }
        }
        result
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn is_root(&self) -> bool {
        self.0 == b"/"
    }

    /// Appends one component, which must not contain `/` and must not be `.` or `..`.
    pub fn push(&mut self, name: &[u8]) {
        if !self.is_root() {
            self.0.push(b'/');
        }
        self.0.extend_from_slice(name);
    }

    /// Returns this path with `name` appended.
    pub fn join(&self, name: &[u8]) -> Self {
        let mut joined = self.clone();
        joined.push(name);
        joined
    }

    /// Removes the last component; the root stays the root.
    pub fn pop(&mut self) {
        if self.is_root() {
            return;
        }
        let cut = self.0.iter().rposition(|&byte| byte == b'/').unwrap_or(0);
        self.0.truncate(cut.max(1));
    }

    /// The last component, or `None` for the root.
    pub fn file_name(&self) -> Option<&[u8]> {
        if self.is_root() {
            return None;
        }
        self.0.rsplit(|&byte| byte == b'/').next()
    }

    /// The components after the root, in order.
    pub fn components(&self) -> impl Iterator<Item = &[u8]> {
        components(&self.0)
    }

    /// Returns the components of `self` below `ancestor`, or `None` when `self` is not
    /// `ancestor` or inside it.
    pub fn strip_prefix(&self, ancestor: &GuestPath) -> Option<Vec<&[u8]>> {
        let mut own = self.components();
        for expected in ancestor.components() {
            if own.next() != Some(expected) {
                return None;
            }
        }
        Some(own.collect())
    }
}

impl fmt::Debug for GuestPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", String::from_utf8_lossy(&self.0))
    }
}

impl fmt::Display for GuestPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

/// Splits a path into its non-empty components (`.` and `..` included as they are).
pub fn components(path: &[u8]) -> impl DoubleEndedIterator<Item = &[u8]> {
    path.split(|&byte| byte == b'/')
        .filter(|component| !component.is_empty())
}

/// Whether a guest path names a directory by its form: it ends in `/`, `/.` or `/..`, or is
/// `.` or `..`. Linux then requires the final component to be a directory.
pub fn ends_like_directory(path: &[u8]) -> bool {
    path.ends_with(b"/")
        || path == b"."
        || path == b".."
        || path.ends_with(b"/.")
        || path.ends_with(b"/..")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalize_applies_dot_dot_lexically() {
        assert_eq!(GuestPath::normalize(b"/a/./b/../c//").as_bytes(), b"/a/c");
        assert_eq!(GuestPath::normalize(b"../../..").as_bytes(), b"/");
        assert_eq!(GuestPath::normalize(b"").as_bytes(), b"/");
    }

    #[test]
    fn pop_stops_at_root() {
        let mut path = GuestPath::normalize(b"/usr/bin");
        path.pop();
        assert_eq!(path.as_bytes(), b"/usr");
        path.pop();
        assert_eq!(path.as_bytes(), b"/");
        path.pop();
        assert_eq!(path.as_bytes(), b"/");
    }

    #[test]
    fn file_name_of_root_is_none() {
        assert_eq!(GuestPath::root().file_name(), None);
        assert_eq!(
            GuestPath::normalize(b"/etc/passwd").file_name(),
            Some(&b"passwd"[..])
        );
    }

    #[test]
    fn strip_prefix_matches_whole_components() {
        let proc_self = GuestPath::normalize(b"/proc/self/fd");
        let rest = proc_self
            .strip_prefix(&GuestPath::normalize(b"/proc"))
            .map(|parts| parts.concat());
        assert_eq!(rest, Some(b"selffd".to_vec()));
        assert!(GuestPath::normalize(b"/process")
            .strip_prefix(&GuestPath::normalize(b"/proc"))
            .is_none());
        assert_eq!(
            proc_self
                .strip_prefix(&GuestPath::root())
                .map(|parts| parts.len()),
            Some(3)
        );
    }

    #[test]
    fn directory_form_detection() {
        for path in [&b"a/"[..], b".", b"..", b"a/.", b"/a/.."] {
            assert!(
                ends_like_directory(path),
                "{:?}",
                String::from_utf8_lossy(path)
            );
        }
        for path in [&b"a"[..], b"/a/b", b"a/.b"] {
            assert!(
                !ends_like_directory(path),
                "{:?}",
                String::from_utf8_lossy(path)
            );
        }
    }
}
