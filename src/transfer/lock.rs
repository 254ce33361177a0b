//! The target lock: one transfer at a time writes a given path.

use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::cancel::CancelToken;
use crate::error::{Error, ErrorKind, Result};

/// How often a waiting transfer tries the lock again (and sees a cancel).
const WAIT_STEP: Duration = Duration::from_millis(50);

/// An exclusive hold on a target path, by `flock` on a hidden lock file beside it
/// (released by the kernel if the process dies).
pub(crate) struct TargetLock {
    path: PathBuf,
    _file: File,
}

impl TargetLock {
    /// Takes the lock of `target`. Busy when another transfer holds it, unless
    /// `wait`: then it waits until the holder ends or `cancel` is cancelled.
    pub(crate) fn acquire(target: &Path, wait: bool, cancel: &CancelToken) -> Result<TargetLock> {
        let dir = target.parent().unwrap_or(Path::new("/"));
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let path = dir.join(format!(".{name}.ossr-lock"));
        // Bounded: each round either holds the lock, gives up, or saw the file
        // replaced by the previous holder's exit; waits end with a cancel.
        let mut replaced = 0;
        while replaced < 1000 {
            cancel.check()?;
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(|e| Error::io(format!("creating the lock file {}", path.display()), e))?;
            match file.try_lock() {
                Ok(()) => {}
                Err(fs::TryLockError::WouldBlock) if wait => {
                    cancel.sleep(WAIT_STEP)?;
                    continue;
                }
                Err(fs::TryLockError::WouldBlock) => {
                    return Err(Error::new(
                        ErrorKind::Busy,
                        format!(
                            "another transfer is writing {} (lock {})",
                            target.display(),
                            path.display()
                        ),
                    ));
                }
                Err(fs::TryLockError::Error(e)) => {
                    return Err(Error::io(format!("locking {}", path.display()), e));
                }
            }
            // The previous holder may have removed the file after we opened it.
            let same = match (fs::metadata(&path), file.metadata()) {
                (Ok(a), Ok(b)) => a.ino() == b.ino() && a.dev() == b.dev(),
                _ => false,
            };
            if same {
                return Ok(TargetLock { path, _file: file });
            }
            replaced += 1;
        }
        Err(Error::new(
            ErrorKind::Busy,
            format!("could not hold the lock {}", path.display()),
        ))
    }
}

impl Drop for TargetLock {
    fn drop(&mut self) {
        // Removed while still held, so a waiter re-checks and takes a fresh file.
        let _ = fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    #[test]
    fn a_second_holder_is_busy_or_waits_until_cancelled() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        let none = CancelToken::new();
        let held = TargetLock::acquire(&target, false, &none).unwrap();
        let busy = TargetLock::acquire(&target, false, &none).err().unwrap();
        assert_eq!(busy.kind(), ErrorKind::Busy);
        let token = CancelToken::new();
        let t = token.clone();
        let start = Instant::now();
        let waiter = std::thread::spawn(move || {
            let target = target.clone();
            TargetLock::acquire(&target, true, &t)
                .err()
                .map(|e| e.kind())
        });
        token.cancel();
        assert_eq!(waiter.join().unwrap(), Some(ErrorKind::Cancelled));
        assert!(start.elapsed() < Duration::from_secs(5));
        drop(held);
        let again = TargetLock::acquire(&dir.path().join("t"), false, &none);
        assert!(again.is_ok(), "free once the holder is gone");
    }
}
