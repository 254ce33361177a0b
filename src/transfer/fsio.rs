//! Files: the durability policy, atomic replacement, positioned reads, and the
//! checks that keep a transfer away from what is not a regular file.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::Path;

use crate::crc64::Crc64;
use crate::error::{Error, ErrorKind, Result};

/// What a transfer syncs to disk before it relies on it.
///
/// Under both policies the checkpoint records each finished part's CRC-64 and a
/// resume re-reads the recorded parts from the temporary file (one read of the
/// bytes already there), fetching again any part whose CRC no longer matches: a
/// power cut or a damaged temporary file costs a re-fetch, never a wrong file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// A part is recorded only once its bytes are fsynced, checkpoints are fsynced
    /// before they replace the old one, and the finished file is fsynced before the
    /// rename over the target (and its directory after). After a power cut the
    /// target is either the old file or the whole new one, and a resume loses at
    /// most the parts that were in flight. The default.
    #[default]
    Fsync,
    /// Nothing is fsynced: the page cache's guarantees, as curl and aria2c give.
    /// The checkpoint is rewritten at most every 100 ms (and when the transfer
    /// stops), so a process killed outright may also lose the parts finished in its
    /// last 100 ms; a power cut may lose recorded parts (re-fetched on resume, found
    /// by their CRC) or the checkpoint (the transfer starts over), and may leave the
    /// target renamed but not yet written out by the kernel.
    NoFsync,
}

impl Durability {
    /// `fdatasync` under [`Durability::Fsync`].
    pub(crate) fn sync_data(self, file: &File) -> io::Result<()> {
        match self {
            Durability::Fsync => file.sync_data(),
            Durability::NoFsync => Ok(()),
        }
    }

    /// `fsync` under [`Durability::Fsync`].
    pub(crate) fn sync_all(self, file: &File) -> io::Result<()> {
        match self {
            Durability::Fsync => file.sync_all(),
            Durability::NoFsync => Ok(()),
        }
    }

    /// Makes a rename or creation in `dir` durable, under [`Durability::Fsync`].
    pub(crate) fn sync_dir(self, dir: &Path) -> io::Result<()> {
        match self {
            Durability::Fsync => File::open(dir)?.sync_all(),
            Durability::NoFsync => Ok(()),
        }
    }
}

/// The name of a temporary file [`write_atomic`] uses for `path`.
fn atomic_temp_name(name: &str) -> String {
    format!(".{name}.{:016x}.tmp", fastrand::u64(..))
}

/// Writes `bytes` to `path` atomically: a temporary file beside it (mode 0600),
/// synced per `durability`, renamed over `path`. A failure removes the temporary.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], durability: Durability) -> io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(atomic_temp_name(&name));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        durability.sync_all(&f)?;
        fs::rename(&tmp, path)?;
        durability.sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// The directory a target file goes in (`.` for a bare file name), checked to exist:
/// a missing one is [`ErrorKind::Io`] (a local file cannot be written), a target that
/// is itself a directory [`ErrorKind::InvalidArgument`].
pub(crate) fn target_dir(target: &Path) -> Result<std::path::PathBuf> {
    if target.as_os_str().is_empty() || target.file_name().is_none() || target.is_dir() {
        return Err(Error::invalid(format!(
            "the target {} is a directory, not a file path",
            target.display()
        )));
    }
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => std::path::PathBuf::from("."),
    };
    match fs::metadata(&dir) {
        Ok(meta) if meta.is_dir() => Ok(dir),
        Ok(_) => Err(Error::new(
            ErrorKind::Io,
            format!(
                "the target's directory {} is not a directory",
                dir.display()
            ),
        )),
        Err(e) => Err(Error::io(
            format!("the target's directory {}", dir.display()),
            e,
        )),
    }
}

/// Puts a finished temporary file in place: synced, renamed over `target`, the
/// directory synced (the syncs per `durability`).
pub(crate) fn commit(
    file: &File,
    temp: &Path,
    target: &Path,
    durability: Durability,
) -> Result<()> {
    durability
        .sync_all(file)
        .map_err(|e| Error::io(format!("syncing {}", temp.display()), e))?;
    fs::rename(temp, target).map_err(|e| {
        Error::io(
            format!("renaming {} to {}", temp.display(), target.display()),
            e,
        )
    })?;
    let dir = match target.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    durability
        .sync_dir(dir)
        .map_err(|e| Error::io(format!("syncing {}", dir.display()), e))
}

/// Removes the temporary files an interrupted [`write_atomic`] of `path` left (the
/// caller holds the lock that makes it the only writer of `path`).
pub(crate) fn remove_stale_atomic_temps(path: &Path) {
    let dir = path.parent().unwrap_or(Path::new("."));
    let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
        return;
    };
    let prefix = format!(".{name}.");
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let file_name = entry.file_name();
        let Some(n) = file_name.to_str() else {
            continue;
        };
        let stale = n
            .strip_prefix(&prefix)
            .and_then(|rest| rest.strip_suffix(".tmp"))
            .is_some_and(|hex| hex.len() == 16 && hex.bytes().all(|b| b.is_ascii_hexdigit()));
        if stale {
            let _ = fs::remove_file(entry.path());
        }
    }
}

/// Reads a checkpoint file: `Ok(None)` when there is none, `Err(why)` when what is
/// there cannot be one (it is not a regular file, or unreadable). A FIFO or device
/// is never opened, so nothing blocks on it.
pub(crate) fn read_checkpoint(path: &Path) -> Result<std::result::Result<Option<Vec<u8>>, String>> {
    match fs::symlink_metadata(path) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Ok(None)),
        Err(e) => return Ok(Err(format!("unreadable: {e}"))),
        Ok(m) if m.is_dir() => {
            // An empty directory holds nothing: removed, so the checkpoint can be
            // written. One with contents is somebody's: refused.
            if fs::remove_dir(path).is_ok() {
                return Ok(Err("it was an empty directory (removed)".into()));
            }
            return Err(Error::invalid(format!(
                "the checkpoint path {} is a directory that is not empty; remove it or choose another checkpoint directory",
                path.display()
            )));
        }
        Ok(m) if !m.is_file() => return Ok(Err("it is not a regular file".into())),
        Ok(_) => {}
    }
    Ok(match fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("unreadable: {e}")),
    })
}

/// Opens a file to read its bytes as an object's, refusing what is not a regular
/// file (pipes, FIFOs, devices, procfs files report a size of 0 or none that holds:
/// uploading by that size would store the wrong object). Checked before opening,
/// so a FIFO does not block, and again on the open file.
pub(crate) fn open_regular(path: &Path) -> Result<(File, fs::Metadata)> {
    let not_regular = || {
        Error::invalid(format!(
            "{} is not a regular file (a pipe, device or special file has no size to trust); stream it instead (put_stream, or `ossr put -`)",
            path.display()
        ))
    };
    let before =
        fs::metadata(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    if before.is_dir() {
        return Err(Error::invalid(format!("{} is a directory", path.display())));
    }
    if !before.is_file() {
        return Err(not_regular());
    }
    let file = File::open(path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
    let meta = file
        .metadata()
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    if !meta.is_file() {
        return Err(not_regular());
    }
    // procfs and sysfs files are regular but report a size unrelated to their bytes.
    if path.starts_with("/proc") || path.starts_with("/sys") {
        return Err(not_regular());
    }
    Ok((file, meta))
}

/// Reads `len` bytes of `file` from `offset` through `buf`, handing each chunk to
/// `each`. A file that ends early is an `UnexpectedEof` error.
pub(crate) fn read_range(
    file: &File,
    offset: u64,
    len: u64,
    buf: &mut [u8],
    mut each: impl FnMut(&[u8]),
) -> io::Result<()> {
    let mut done = 0;
    while done < len {
        let want = buf
            .len()
            .min(usize::try_from(len - done).unwrap_or(buf.len()));
        let n = file.read_at(&mut buf[..want], offset + done)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file is shorter than expected (did it shrink?)",
            ));
        }
        each(&buf[..n]);
        done += n as u64;
    }
    Ok(())
}

/// CRC-64 of `len` bytes of `file` from `offset`.
pub(crate) fn crc_of_range(file: &File, offset: u64, len: u64, buf: &mut [u8]) -> io::Result<u64> {
    let mut crc = Crc64::new();
    read_range(file, offset, len, buf, |b| crc.update(b))?;
    Ok(crc.value())
}

/// Reserves `len` bytes of disk for `file` (from offset 0) where the filesystem
/// allows it (`fallocate`), so that a full disk is found before any byte is fetched
/// rather than part way through. A filesystem that cannot reserve (no `fallocate`)
/// keeps a sparse file: `Ok`. The error is the filesystem's (`ENOSPC` when the
/// space is not there).
pub(crate) fn reserve(file: &File, len: u64) -> io::Result<()> {
    use rustix::fs::{FallocateFlags, fallocate};
    use rustix::io::Errno;
    if len == 0 {
        return Ok(());
    }
    match fallocate(file, FallocateFlags::empty(), 0, len) {
        Ok(()) => Ok(()),
        Err(e) if e == Errno::OPNOTSUPP || e == Errno::NOSYS => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// The error of a reservation that failed: how much the file needs, and where.
pub(crate) fn reserve_failed(path: &Path, len: u64, e: io::Error) -> Error {
    let dir = path.parent().unwrap_or(Path::new("/"));
    Error::io(
        format!(
            "reserving {len} bytes ({:.1} MiB) for {} in {} (free that much space there and run again)",
            len as f64 / (1024.0 * 1024.0),
            path.display(),
            dir.display()
        ),
        e,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn written_atomically_and_owner_only_under_both_policies() {
        for durability in [Durability::Fsync, Durability::NoFsync] {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("c");
            write_atomic(&path, b"one", durability).unwrap();
            write_atomic(&path, b"two", durability).unwrap();
            assert_eq!(fs::read(&path).unwrap(), b"two");
            assert_eq!(
                fs::metadata(&path).unwrap().permissions().mode() & 0o777,
                0o600
            );
            assert_eq!(
                fs::read_dir(dir.path()).unwrap().count(),
                1,
                "no temporary left"
            );
        }
    }

    #[test]
    fn stale_temporaries_of_one_path_are_removed_and_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ck");
        fs::write(&path, b"x").unwrap();
        fs::write(dir.path().join(atomic_temp_name("ck")), b"half").unwrap();
        fs::write(dir.path().join(".ck.notatemp.tmp"), b"keep").unwrap();
        fs::write(dir.path().join(atomic_temp_name("other")), b"keep").unwrap();
        remove_stale_atomic_temps(&path);
        let mut left: Vec<String> = fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        left.sort();
        assert_eq!(left.len(), 3, "{left:?}");
        assert!(left.contains(&"ck".to_string()));
        assert!(left.contains(&".ck.notatemp.tmp".to_string()));
    }

    #[test]
    fn a_checkpoint_path_that_is_not_a_file_is_never_opened() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_checkpoint(&dir.path().join("none")).unwrap(), Ok(None));
        let fifo = dir.path().join("fifo");
        let status = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(status.success());
        // Opening a FIFO for reading would block this test forever.
        assert!(read_checkpoint(&fifo).unwrap().is_err());
        let empty = dir.path().join("empty");
        fs::create_dir(&empty).unwrap();
        assert!(
            read_checkpoint(&empty)
                .unwrap()
                .unwrap_err()
                .contains("empty directory")
        );
        assert!(!empty.exists(), "an empty directory is removed");
        let err = read_checkpoint(dir.path()).unwrap_err();
        assert!(err.to_string().contains("is a directory"), "{err}");
        assert!(dir.path().exists(), "a directory with contents is kept");
    }

    #[test]
    fn only_regular_files_open_as_sources() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f");
        fs::write(&file, b"abc").unwrap();
        assert_eq!(open_regular(&file).unwrap().1.len(), 3);
        let fifo = dir.path().join("fifo");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        for path in [
            fifo.as_path(),
            Path::new("/dev/null"),
            Path::new("/proc/cpuinfo"),
            dir.path(),
        ] {
            let e = open_regular(path).unwrap_err();
            assert_eq!(
                e.kind(),
                crate::ErrorKind::InvalidArgument,
                "{}",
                path.display()
            );
        }
    }

    #[test]
    fn a_range_past_the_end_is_an_error_not_a_short_crc() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        fs::write(&path, b"hello world").unwrap();
        let f = File::open(&path).unwrap();
        let mut buf = [0u8; 4];
        assert_eq!(
            crc_of_range(&f, 6, 5, &mut buf).unwrap(),
            crate::crc64::checksum(b"world")
        );
        assert!(crc_of_range(&f, 6, 6, &mut buf).is_err());
    }
}
