//! Which keys may become local paths, and which local names may become keys. Pure
//! functions: a key is never trusted as a path.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

/// The longest file name most filesystems accept (ext4, XFS, btrfs, tmpfs), in
/// bytes.
const NAME_MAX: usize = 255;
/// The longest path the kernel accepts in one call, in bytes (Linux `PATH_MAX`).
const PATH_MAX: usize = 4096;
/// The longest key OSS accepts, in bytes.
const KEY_MAX: usize = 1023;

/// The path, relative to the target directory, that the key's text after the
/// prefix (`rest`) may be written to, or why it may not: `..` or `.` segments, an
/// absolute path, empty segments (`a//b`, a trailing `/`), a NUL, a backslash
/// (a separator on Windows, and a way to hide one), a segment or path too long
/// for the filesystem.
pub(crate) fn relative_path(rest: &str, dir_len: usize) -> Result<PathBuf, String> {
    if rest.is_empty() {
        return Err("the key is the prefix itself: it names no file below it".into());
    }
    if rest.starts_with('/') {
        return Err("an absolute path".into());
    }
    if rest.contains('\0') {
        return Err("a NUL in the name".into());
    }
    if rest.contains('\\') {
        return Err("a backslash in the name".into());
    }
    let mut path = PathBuf::new();
    for segment in rest.split('/') {
        match segment {
            "" => return Err("an empty path segment (// or a trailing /)".into()),
            "." | ".." => return Err(format!("a {segment:?} path segment")),
            s if s.len() > NAME_MAX => {
                return Err(format!(
                    "a name of {} bytes; the filesystem allows {NAME_MAX}",
                    s.len()
                ));
            }
            s => path.push(s),
        }
    }
    if dir_len + 1 + rest.len() >= PATH_MAX {
        return Err(format!("a path longer than the system's {PATH_MAX} bytes"));
    }
    // What was built is plain names only: nothing can lead outside the directory.
    debug_assert!(path.components().all(|c| matches!(c, Component::Normal(_))));
    Ok(path)
}

/// Of a set of relative paths, those that collide: a path that another one needs as
/// a directory (`a/b` as a file and `a/b/c`). Both sides are returned, with why.
pub(crate) fn collisions(paths: &[&Path]) -> Vec<(PathBuf, String)> {
    let files: HashSet<&Path> = paths.iter().copied().collect();
    let mut out = Vec::new();
    for path in paths {
        for ancestor in path.ancestors().skip(1) {
            if !ancestor.as_os_str().is_empty() && files.contains(ancestor) {
                out.push((
                    path.to_path_buf(),
                    format!(
                        "{} is also a file: the two cannot both exist",
                        ancestor.display()
                    ),
                ));
                out.push((
                    ancestor.to_path_buf(),
                    format!("{} needs it as a directory", path.display()),
                ));
            }
        }
    }
    out
}

/// The key for a local file's path relative to the directory: its segments joined
/// by `/` after the prefix, or why it has none (a name that is not UTF-8 is refused,
/// not mangled; a key over OSS's 1023 bytes).
pub(crate) fn key_of(prefix: &str, rel: &Path) -> Result<String, String> {
    let mut key = prefix.to_string();
    for (i, part) in rel.components().enumerate() {
        let Component::Normal(name) = part else {
            return Err("not a plain relative path".into());
        };
        let name = name
            .to_str()
            .ok_or_else(|| "the name is not valid UTF-8".to_string())?;
        if i > 0 {
            key.push('/');
        }
        key.push_str(name);
    }
    if key.len() > KEY_MAX {
        return Err(format!(
            "the key would be {} bytes; OSS allows {KEY_MAX}",
            key.len()
        ));
    }
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_keys_are_refused_with_the_reason() {
        for (rest, why) in [
            ("../x", "\"..\""),
            ("a/../../b", "\"..\""),
            ("/etc/x", "absolute"),
            ("a//b", "empty"),
            ("a/b/", "empty"),
            ("./a", "\".\""),
            ("a\0b", "NUL"),
            ("a\\..\\b", "backslash"),
            ("", "prefix itself"),
        ] {
            let err = relative_path(rest, 10).unwrap_err();
            assert!(err.contains(why), "{rest:?}: {err}");
        }
        let long = "x".repeat(256);
        assert!(relative_path(&long, 10).unwrap_err().contains("255"));
        let deep = vec!["y".repeat(200); 21].join("/");
        assert!(relative_path(&deep, 10).unwrap_err().contains("4096"));
    }

    #[test]
    fn plain_keys_become_paths_below_the_directory() {
        let p = relative_path("a/b c/中.txt", 10).unwrap();
        assert_eq!(p, Path::new("a").join("b c").join("中.txt"));
        assert_eq!(relative_path("..a/b..", 10).unwrap(), Path::new("..a/b.."));
    }

    #[test]
    fn a_file_that_another_needs_as_a_directory_collides_on_both_sides() {
        let paths = [Path::new("a/b"), Path::new("a/b/c"), Path::new("a/x")];
        let mut hit: Vec<PathBuf> = collisions(&paths).into_iter().map(|(p, _)| p).collect();
        hit.sort();
        assert_eq!(hit, [PathBuf::from("a/b"), PathBuf::from("a/b/c")]);
        assert!(collisions(&[Path::new("a/b"), Path::new("a/c")]).is_empty());
    }

    #[test]
    fn local_names_become_keys_and_non_utf8_is_refused() {
        assert_eq!(key_of("p/", Path::new("a/b.txt")).unwrap(), "p/a/b.txt");
        assert_eq!(key_of("", Path::new("x")).unwrap(), "x");
        use std::os::unix::ffi::OsStrExt;
        let bad = Path::new(std::ffi::OsStr::from_bytes(b"a/\xff.bin"));
        assert!(key_of("p/", bad).unwrap_err().contains("UTF-8"));
        let long = "z".repeat(1020);
        assert!(
            key_of("pre/", Path::new(&long))
                .unwrap_err()
                .contains("1023")
        );
    }
}
