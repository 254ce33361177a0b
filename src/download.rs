//! Resumable download: parallel ranged GETs into a temporary file beside the target,
//! checkpointed so any failure resumes, verified by CRC-64, renamed into place.

use std::collections::VecDeque;
use std::fs::{self, File, OpenOptions};
use std::os::unix::fs::{FileExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::{Duration, Instant};

use crate::checkpoint::{DownloadCheckpoint, identity_hash, sync_dir, write_atomic};
use crate::client::{ByteRange, Client, ObjectInfo, RequestOptions};
use crate::config::{validate_bucket, validate_key};
use crate::crc64;
use crate::error::{Error, ErrorKind, Result};
use crate::transport::map_io_error;

/// Smallest part size accepted: 100 KB.
pub const MIN_PART_SIZE: u64 = 100 * 1024;
/// Largest part size accepted: 5 GB.
pub const MAX_PART_SIZE: u64 = 5 * 1024 * 1024 * 1024;
/// Most parts one transfer is split into.
pub const MAX_PARTS: u64 = 10_000;
/// Part size chosen when none is given (grown so there are at most [`MAX_PARTS`]).
pub const DEFAULT_PART_SIZE: u64 = 8 * 1024 * 1024;
/// Default threshold below which an object is fetched with one GET: 10 MiB.
pub const DEFAULT_MULTIGET_THRESHOLD: u64 = 10 * 1024 * 1024;
/// Bytes each worker reads and writes at a time.
const WORKER_BUFFER: usize = 1024 * 1024;
/// Most worker threads one download starts.
const MAX_THREADS: usize = 64;

/// Progress callback: `(bytes done, total)`; return `false` to cancel.
///
/// It runs on the caller's thread, one call at a time, at least every 1% or every
/// 100 ms while bytes move. Values never decrease and never exceed the total; a
/// resumed transfer starts at the bytes already there; the last call is at 100%.
pub type Progress<'a> = dyn FnMut(u64, u64) -> bool + 'a;

/// Options of [`Client::download`].
#[derive(Debug, Clone)]
pub struct DownloadOptions {
    /// Where the checkpoint is kept. Defaults to the target's directory (the file is
    /// hidden: `.ossr-<hash>.download`).
    pub checkpoint_dir: Option<PathBuf>,
    /// Objects smaller than this are fetched with one GET and no checkpoint.
    /// Defaults to 10 MiB.
    pub multiget_threshold: u64,
    /// Part size, 100 KB..=5 GB, grown so there are at most 10,000 parts. Defaults to
    /// automatic (8 MiB, grown likewise).
    pub part_size: Option<u64>,
    /// Worker threads, one connection each. Defaults to 4.
    pub threads: usize,
    /// Version id, request payer and traffic limit, sent on every request.
    pub request: RequestOptions,
    /// When another transfer holds the target, wait for it instead of failing with
    /// [`ErrorKind::Busy`]. Defaults to false.
    pub wait_if_busy: bool,
    /// Attempts per part when its body fails (each continues from the last byte
    /// written). Defaults to 5.
    pub part_attempts: u32,
}

impl Default for DownloadOptions {
    fn default() -> Self {
        DownloadOptions {
            checkpoint_dir: None,
            multiget_threshold: DEFAULT_MULTIGET_THRESHOLD,
            part_size: None,
            threads: 4,
            request: RequestOptions::default(),
            wait_if_busy: false,
            part_attempts: 5,
        }
    }
}

/// What became of the checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointState {
    /// The object was below the threshold: no checkpoint.
    NotUsed,
    /// There was none: the download started from scratch.
    NotFound,
    /// A valid checkpoint was resumed.
    Resumed,
    /// A checkpoint was found but unusable; the reason is given. The download started
    /// from scratch.
    Discarded(String),
}

/// What a download did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadReport {
    /// The object's size.
    pub size: u64,
    /// Bytes fetched from the server by this call.
    pub bytes_fetched: u64,
    /// Bytes already present from a resumed checkpoint.
    pub bytes_reused: u64,
    /// Times a part's body failed and was continued.
    pub parts_retried: u64,
    /// Parts the object was split into.
    pub parts: u64,
    /// The part size used.
    pub part_size: u64,
    /// What became of the checkpoint.
    pub checkpoint: CheckpointState,
    /// The object's ETag.
    pub etag: String,
    /// The object's CRC-64, when the server reported one.
    pub crc64: Option<u64>,
    /// Whether the bytes were checked against the object's CRC-64 (false when the
    /// server reported none).
    pub verified: bool,
}

/// The part size for an object: the requested one (checked) or the default, grown
/// so there are at most [`MAX_PARTS`] parts.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`] for a requested size outside 100 KB..=5 GB.
pub fn plan_part_size(size: u64, requested: Option<u64>) -> Result<u64> {
    let base = match requested {
        Some(p) if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&p) => {
            return Err(Error::invalid(format!(
                "part size {p} is outside {MIN_PART_SIZE}..={MAX_PART_SIZE} bytes"
            )));
        }
        Some(p) => p,
        None => DEFAULT_PART_SIZE,
    };
    Ok(base.max(size.div_ceil(MAX_PARTS)))
}

/// The byte range `[start, end)` of part `index`.
pub(crate) fn part_range(index: u64, part_size: u64, size: u64) -> (u64, u64) {
    let start = index * part_size;
    (start, (start + part_size).min(size))
}

/// An exclusive hold on a target path, by `flock` on a hidden lock file beside it
/// (released by the kernel if the process dies).
pub(crate) struct TargetLock {
    path: PathBuf,
    _file: File,
}

impl TargetLock {
    pub(crate) fn acquire(target: &Path, wait: bool) -> Result<TargetLock> {
        let dir = target.parent().unwrap_or(Path::new("/"));
        let name = target.file_name().unwrap_or_default().to_string_lossy();
        let path = dir.join(format!(".{name}.ossr-lock"));
        // Bounded: each round either holds the lock or saw the file replaced.
        for _ in 0..1000 {
            let file = OpenOptions::new()
                .read(true)
                .write(true)
                .create(true)
                .truncate(false)
                .mode(0o600)
                .open(&path)
                .map_err(|e| Error::io(format!("creating the lock file {}", path.display()), e))?;
            if wait {
                file.lock()
                    .map_err(|e| Error::io(format!("locking {}", path.display()), e))?;
            } else {
                match file.try_lock() {
                    Ok(()) => {}
                    Err(std::fs::TryLockError::WouldBlock) => {
                        return Err(Error::new(
                            ErrorKind::Busy,
                            format!(
                                "another transfer is writing {} (lock {}); wait for it or ask to wait",
                                target.display(),
                                path.display()
                            ),
                        ));
                    }
                    Err(std::fs::TryLockError::Error(e)) => {
                        return Err(Error::io(format!("locking {}", path.display()), e));
                    }
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

fn checkpoint_name(bucket: &str, key: &str, version: &str, target: &Path) -> String {
    let hash = identity_hash(&[bucket, key, version, &target.to_string_lossy()]);
    format!(".ossr-{hash}.download")
}

fn temp_prefix(target: &Path) -> String {
    format!(
        "{}.ossr-",
        target.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// Removes this target's temporary files other than `keep` (we hold the lock, so no
/// other transfer is writing them).
fn remove_stale_temps(target: &Path, keep: Option<&Path>) {
    let dir = target.parent().unwrap_or(Path::new("/"));
    let prefix = temp_prefix(target);
    let Ok(entries) = fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let matches = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.starts_with(&prefix) && n.len() == prefix.len() + 16);
        if matches && Some(path.as_path()) != keep {
            let _ = fs::remove_file(path);
        }
    }
}

/// Why a checkpoint cannot be resumed, or the checkpoint.
fn validate_checkpoint(
    bytes: &[u8],
    expect: &DownloadCheckpoint,
    requested_part_size: Option<u64>,
) -> std::result::Result<DownloadCheckpoint, String> {
    let c = DownloadCheckpoint::decode(bytes)?;
    if c.bucket != expect.bucket
        || c.key != expect.key
        || c.version_id != expect.version_id
        || c.target != expect.target
    {
        return Err("it belongs to another object or target".into());
    }
    if c.size != expect.size
        || c.etag != expect.etag
        || c.last_modified != expect.last_modified
        || c.crc64 != expect.crc64
    {
        return Err("the object changed since the checkpoint was written".into());
    }
    if requested_part_size.is_some() && c.part_size != expect.part_size {
        return Err(format!(
            "the part size changed ({} then, {} now)",
            c.part_size, expect.part_size
        ));
    }
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&c.part_size)
        || c.size.div_ceil(c.part_size) > MAX_PARTS
    {
        return Err(format!("its part size {} is not allowed", c.part_size));
    }
    let temp_ok = c.temp.parent() == expect.target.parent()
        && c.temp
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&temp_prefix(&expect.target)));
    if !temp_ok {
        return Err("its temporary file is not beside the target".into());
    }
    match fs::metadata(&c.temp) {
        Err(_) => Err("its temporary file is missing".into()),
        Ok(m) if m.len() != c.size => Err(format!(
            "its temporary file has {} bytes, not {}",
            m.len(),
            c.size
        )),
        Ok(_) => Ok(c),
    }
}

enum Event {
    Bytes(u64),
    Done { index: u64, crc: u64 },
    Retried,
    Failed(Error),
}

/// What the workers share.
struct Job<'a> {
    client: &'a Client,
    bucket: &'a str,
    key: &'a str,
    etag: &'a str,
    file: &'a File,
    temp: &'a Path,
    size: u64,
    part_size: u64,
    opts: &'a DownloadOptions,
    queue: Mutex<Queue>,
    /// Signalled when parts are recorded in the checkpoint or the job is cancelled.
    recorded: Condvar,
    cancel: AtomicBool,
}

/// The parts left to fetch, and how many taken parts are not yet in the checkpoint.
///
/// A worker takes a new part only while fewer than `limit` taken parts are unrecorded,
/// so however slowly the disk syncs, a crash loses at most `limit` parts of fetched
/// bytes: one in flight per worker plus one finished part awaiting its sync.
struct Queue {
    pending: VecDeque<u64>,
    unrecorded: usize,
    limit: usize,
}

impl Job<'_> {
    fn worker(&self, tx: mpsc::Sender<Event>) {
        let mut buf = vec![0u8; WORKER_BUFFER];
        while !self.cancel.load(Ordering::Relaxed) {
            let Some(index) = self.take() else {
                break;
            };
            match self.fetch_part(index, &mut buf, &tx) {
                Ok(crc) => {
                    let _ = tx.send(Event::Done { index, crc });
                }
                Err(e) => {
                    let _ = tx.send(Event::Failed(e));
                    break;
                }
            }
        }
    }

    /// Takes the next part, waiting while too many taken parts are unrecorded. `None`
    /// when no part is left, the job is cancelled, or another worker panicked while
    /// holding the queue.
    fn take(&self) -> Option<u64> {
        let mut q = self.queue.lock().ok()?;
        loop {
            if self.cancel.load(Ordering::Relaxed) || q.pending.is_empty() {
                return None;
            }
            if q.unrecorded < q.limit {
                q.unrecorded += 1;
                return q.pending.pop_front();
            }
            // Bounded wait: cancellation is re-checked even if a wake-up is missed.
            q = self
                .recorded
                .wait_timeout(q, Duration::from_millis(50))
                .ok()?
                .0;
        }
    }

    /// Notes that `n` taken parts are now recorded, waking workers waiting to take more.
    fn mark_recorded(&self, n: usize) {
        if let Ok(mut q) = self.queue.lock() {
            q.unrecorded = q.unrecorded.saturating_sub(n);
        }
        self.recorded.notify_all();
    }

    fn stop(&self) {
        self.cancel.store(true, Ordering::Relaxed);
        self.recorded.notify_all();
    }

    fn cancelled(&self) -> Result<()> {
        if self.cancel.load(Ordering::Relaxed) {
            return Err(Error::new(ErrorKind::Cancelled, "cancelled"));
        }
        Ok(())
    }

    /// Fetches one part; a failed body continues from the last byte written.
    fn fetch_part(&self, index: u64, buf: &mut [u8], tx: &mpsc::Sender<Event>) -> Result<u64> {
        let (start, end) = part_range(index, self.part_size, self.size);
        let mut offset = start;
        let mut crc = 0u64;
        let mut attempt = 1;
        loop {
            self.cancelled()?;
            let result = (|| -> Result<()> {
                let mut reader = self.client.get_object(
                    self.bucket,
                    self.key,
                    Some(ByteRange::new(offset, end - 1)),
                    Some(self.etag),
                    &self.opts.request,
                )?;
                loop {
                    self.cancelled()?;
                    let n = std::io::Read::read(&mut reader, buf).map_err(map_io_error)?;
                    if n == 0 {
                        return Ok(());
                    }
                    if offset + n as u64 > end {
                        return Err(Error::new(
                            ErrorKind::Server,
                            "the server sent more bytes than asked",
                        ));
                    }
                    self.file
                        .write_all_at(&buf[..n], offset)
                        .map_err(|e| Error::io(format!("writing {}", self.temp.display()), e))?;
                    crc = crc64::update(crc, &buf[..n]);
                    offset += n as u64;
                    let _ = tx.send(Event::Bytes(n as u64));
                }
            })();
            match result {
                Ok(()) if offset == end => return Ok(crc),
                Ok(()) => {
                    return Err(Error::new(
                        ErrorKind::Server,
                        format!("part {index} ended at byte {offset}, expected {end}"),
                    ));
                }
                Err(e) if e.is_retryable() && attempt < self.opts.part_attempts => {
                    attempt += 1;
                    let _ = tx.send(Event::Retried);
                    std::thread::sleep(self.client.config().retry_policy().backoff(attempt - 1));
                }
                Err(e) => return Err(e),
            }
        }
    }
}

/// Calls the progress callback no more often than needed, monotonic and capped.
pub(crate) struct Reporter<'p, 'a> {
    callback: Option<&'p mut Progress<'a>>,
    total: u64,
    last_bytes: Option<u64>,
    last_time: Instant,
}

impl<'p, 'a> Reporter<'p, 'a> {
    pub(crate) fn new(callback: Option<&'p mut Progress<'a>>, total: u64) -> Self {
        Reporter {
            callback,
            total,
            last_bytes: None,
            last_time: Instant::now(),
        }
    }

    /// Reports `done` if due (or `force`); false means the caller asked to stop.
    pub(crate) fn report(&mut self, done: u64, force: bool) -> bool {
        let Some(cb) = self.callback.as_mut() else {
            return true;
        };
        let done = done.min(self.total);
        let step = (self.total / 100).max(1);
        let due = match self.last_bytes {
            None => true,
            Some(last) => {
                done > last
                    && (done - last >= step
                        || self.last_time.elapsed() >= Duration::from_millis(100))
            }
        };
        if !(due || force && self.last_bytes != Some(done)) {
            return true;
        }
        self.last_bytes = Some(done);
        self.last_time = Instant::now();
        cb(done, self.total)
    }
}

impl Client {
    /// Downloads `bucket/key` to `target`, resumably.
    ///
    /// HEAD first; then parallel ranged GETs (`If-Match` the ETag,
    /// `x-oss-range-behavior: standard`, status and `Content-Range` checked) write
    /// into a temporary file beside the target (`<name>.ossr-<random>`, sized up
    /// front). A checkpoint records each part once its bytes are durable, and a
    /// worker starts a new part only while fewer than `threads + 1` started parts are
    /// unrecorded, so a crash costs at most that many parts however slow the disk's
    /// syncs (a slow disk slows the download instead). At the end
    /// the parts' CRC-64s, combined, must equal the object's; then the temporary file
    /// is fsynced and renamed over the target. Objects below the multiget threshold
    /// take one GET, still through a temporary file and a rename: a failed call never
    /// leaves a truncated target.
    ///
    /// Blocking; threads are started and joined inside. `progress` runs on the
    /// calling thread.
    ///
    /// # Errors
    /// - [`ErrorKind::Busy`]: another transfer holds the target (unless
    ///   `wait_if_busy`).
    /// - [`ErrorKind::ObjectChanged`]: the object changed mid-download; temporary file
    ///   and checkpoint are removed, nothing is mixed.
    /// - [`ErrorKind::CrcMismatch`]: the bytes do not match the object's CRC;
    ///   temporary file and checkpoint are removed so the next call starts clean.
    /// - [`ErrorKind::Cancelled`]: `progress` returned false; the checkpoint is kept.
    /// - [`ErrorKind::Io`]: the target directory or checkpoint directory cannot be
    ///   written; and the client's errors. Except where said, the checkpoint is kept
    ///   and the next call resumes.
    pub fn download(
        &self,
        bucket: &str,
        key: &str,
        target: impl AsRef<Path>,
        opts: &DownloadOptions,
        progress: Option<&mut Progress<'_>>,
    ) -> Result<DownloadReport> {
        validate_bucket(bucket)?;
        validate_key(key)?;
        self.download_inner(bucket, key, target.as_ref(), opts, progress)
            .map_err(|e| e.with_object(bucket, Some(key)))
    }

    fn download_inner(
        &self,
        bucket: &str,
        key: &str,
        target: &Path,
        opts: &DownloadOptions,
        progress: Option<&mut Progress<'_>>,
    ) -> Result<DownloadReport> {
        let target = std::path::absolute(target)
            .map_err(|e| Error::io(format!("resolving {}", target.display()), e))?;
        if target.file_name().is_none() || target.is_dir() {
            return Err(Error::invalid(format!(
                "the target {} is a directory, not a file path",
                target.display()
            )));
        }
        let dir = target.parent().unwrap_or(Path::new("/")).to_path_buf();
        if !dir.is_dir() {
            return Err(Error::invalid(format!(
                "the target's directory {} does not exist",
                dir.display()
            )));
        }
        let _lock = TargetLock::acquire(&target, opts.wait_if_busy)?;
        let info = self.head_object(bucket, key, &opts.request)?;
        let use_checkpoint = info.size > 0 && info.size >= opts.multiget_threshold;
        let part_size = if use_checkpoint {
            plan_part_size(info.size, opts.part_size)?
        } else {
            info.size.max(1)
        };
        let ckpt_dir = opts.checkpoint_dir.clone().unwrap_or_else(|| dir.clone());
        let ckpt_path = ckpt_dir.join(checkpoint_name(
            bucket,
            key,
            opts.request.version_id.as_deref().unwrap_or(""),
            &target,
        ));
        let mut ckpt = DownloadCheckpoint {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version_id: opts.request.version_id.clone().unwrap_or_default(),
            target: target.clone(),
            temp: PathBuf::new(),
            size: info.size,
            etag: info.etag.clone(),
            last_modified: info.last_modified.clone(),
            crc64: info.crc64,
            part_size,
            done: Vec::new(),
        };

        let mut state = CheckpointState::NotUsed;
        if use_checkpoint {
            fs::create_dir_all(&ckpt_dir).map_err(|e| {
                Error::io(
                    format!("creating the checkpoint directory {}", ckpt_dir.display()),
                    e,
                )
            })?;
            state = match fs::read(&ckpt_path) {
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => CheckpointState::NotFound,
                Err(e) => CheckpointState::Discarded(format!("unreadable: {e}")),
                Ok(bytes) => match validate_checkpoint(&bytes, &ckpt, opts.part_size) {
                    Ok(found) => {
                        ckpt = found;
                        CheckpointState::Resumed
                    }
                    Err(why) => CheckpointState::Discarded(why),
                },
            };
            if matches!(state, CheckpointState::Discarded(_)) {
                let _ = fs::remove_file(&ckpt_path);
            }
        }
        let resumed = state == CheckpointState::Resumed;
        remove_stale_temps(&target, resumed.then_some(ckpt.temp.as_path()));

        let file = if resumed {
            OpenOptions::new()
                .write(true)
                .open(&ckpt.temp)
                .map_err(|e| Error::io(format!("opening {}", ckpt.temp.display()), e))?
        } else {
            ckpt.temp = dir.join(format!(
                "{}{:016x}",
                temp_prefix(&target),
                fastrand::u64(..)
            ));
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o644)
                .open(&ckpt.temp)
                .map_err(|e| Error::io(format!("creating {}", ckpt.temp.display()), e))?;
            if let Err(e) = file.set_len(info.size) {
                let _ = fs::remove_file(&ckpt.temp);
                return Err(Error::io(format!("sizing {}", ckpt.temp.display()), e));
            }
            if use_checkpoint && let Err(e) = write_atomic(&ckpt_path, &ckpt.encode()) {
                let _ = fs::remove_file(&ckpt.temp);
                return Err(Error::io(
                    format!("writing the checkpoint {}", ckpt_path.display()),
                    e,
                ));
            }
            file
        };

        let parts = info.size.div_ceil(part_size);
        let bytes_reused: u64 = ckpt
            .done
            .iter()
            .map(|(i, _)| {
                let (a, b) = part_range(*i, part_size, info.size);
                b - a
            })
            .sum();
        let mut reporter = Reporter::new(progress, info.size);
        let outcome = self.fetch_parts(
            bucket,
            key,
            &info,
            &file,
            &mut ckpt,
            &ckpt_path,
            use_checkpoint,
            opts,
            bytes_reused,
            &mut reporter,
        );
        let (bytes_fetched, parts_retried) = match outcome {
            Ok(v) => v,
            Err(e) => {
                let discard = matches!(e.kind(), ErrorKind::ObjectChanged | ErrorKind::CrcMismatch)
                    || !use_checkpoint;
                if discard {
                    let _ = fs::remove_file(&ckpt.temp);
                    let _ = fs::remove_file(&ckpt_path);
                }
                return Err(e);
            }
        };

        // Fold the parts' CRCs in object order.
        let mut by_index = ckpt.done.clone();
        by_index.sort_unstable();
        let mut combined = 0u64;
        for (i, crc) in &by_index {
            let (a, b) = part_range(*i, part_size, info.size);
            combined = crc64::combine(combined, *crc, b - a);
        }
        let verified = match info.crc64 {
            Some(server) if server != combined => {
                let _ = fs::remove_file(&ckpt.temp);
                let _ = fs::remove_file(&ckpt_path);
                return Err(Error::new(
                    ErrorKind::CrcMismatch,
                    format!(
                        "crc mismatch: the downloaded bytes have crc64 {combined}, the object has {server}; the temporary file was removed, try again"
                    ),
                ));
            }
            Some(_) => true,
            None => false,
        };
        file.sync_all()
            .map_err(|e| Error::io(format!("syncing {}", ckpt.temp.display()), e))?;
        fs::rename(&ckpt.temp, &target).map_err(|e| {
            Error::io(
                format!("renaming {} to {}", ckpt.temp.display(), target.display()),
                e,
            )
        })?;
        sync_dir(&dir).map_err(|e| Error::io(format!("syncing {}", dir.display()), e))?;
        if use_checkpoint {
            let _ = fs::remove_file(&ckpt_path);
        }
        reporter.report(info.size, true);
        Ok(DownloadReport {
            size: info.size,
            bytes_fetched,
            bytes_reused,
            parts_retried,
            parts,
            part_size,
            checkpoint: state,
            etag: info.etag,
            crc64: info.crc64,
            verified,
        })
    }

    /// Runs the workers over the parts not yet done, recording finished parts in the
    /// checkpoint once durable. Returns (bytes fetched, parts retried).
    #[allow(clippy::too_many_arguments)]
    fn fetch_parts(
        &self,
        bucket: &str,
        key: &str,
        info: &ObjectInfo,
        file: &File,
        ckpt: &mut DownloadCheckpoint,
        ckpt_path: &Path,
        use_checkpoint: bool,
        opts: &DownloadOptions,
        bytes_reused: u64,
        reporter: &mut Reporter<'_, '_>,
    ) -> Result<(u64, u64)> {
        let parts = info.size.div_ceil(ckpt.part_size);
        let pending: VecDeque<u64> = (0..parts)
            .filter(|i| !ckpt.done.iter().any(|(d, _)| d == i))
            .collect();
        let mut fetched = 0u64;
        let mut retried = 0u64;
        if !reporter.report(bytes_reused, true) {
            return Err(Error::new(
                ErrorKind::Cancelled,
                "cancelled by the progress callback",
            ));
        }
        if pending.is_empty() {
            return Ok((0, 0));
        }
        let workers = opts.threads.clamp(1, MAX_THREADS).min(pending.len());
        let job = Job {
            client: self,
            bucket,
            key,
            etag: &info.etag,
            file,
            temp: &ckpt.temp.clone(),
            size: info.size,
            part_size: ckpt.part_size,
            opts,
            queue: Mutex::new(Queue {
                pending,
                unrecorded: 0,
                limit: workers + 1,
            }),
            recorded: Condvar::new(),
            cancel: AtomicBool::new(false),
        };
        let mut failure: Option<Error> = None;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel();
            for _ in 0..workers {
                let tx = tx.clone();
                let job = &job;
                scope.spawn(move || job.worker(tx));
            }
            drop(tx);
            let mut finished: Vec<(u64, u64)> = Vec::new();
            loop {
                let first = match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(ev) => Some(ev),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                };
                for ev in first
                    .into_iter()
                    .chain(std::iter::from_fn(|| rx.try_recv().ok()))
                {
                    match ev {
                        Event::Bytes(n) => fetched += n,
                        Event::Done { index, crc } => finished.push((index, crc)),
                        Event::Retried => retried += 1,
                        Event::Failed(e) => {
                            job.stop();
                            // The first real failure wins over the cancellations it causes.
                            let replaces = failure.as_ref().is_none_or(|f| {
                                f.kind() == ErrorKind::Cancelled && e.kind() != ErrorKind::Cancelled
                            });
                            if replaces {
                                failure = Some(e);
                            }
                        }
                    }
                }
                if !finished.is_empty() {
                    // A part is recorded only once its bytes are durable.
                    #[cfg(test)]
                    tests::SYNC_DELAY.with(|d| std::thread::sleep(d.get()));
                    if use_checkpoint && let Err(e) = file.sync_data() {
                        job.stop();
                        finished.clear();
                        failure.get_or_insert(Error::io(
                            format!("syncing {}", ckpt.temp.display()),
                            e,
                        ));
                    } else {
                        let n = finished.len();
                        ckpt.done.append(&mut finished);
                        if use_checkpoint && let Err(e) = write_atomic(ckpt_path, &ckpt.encode()) {
                            job.stop();
                            failure.get_or_insert(Error::io(
                                format!("writing the checkpoint {}", ckpt_path.display()),
                                e,
                            ));
                        }
                        job.mark_recorded(n);
                    }
                }
                if !job.cancel.load(Ordering::Relaxed)
                    && !reporter.report(bytes_reused + fetched, false)
                {
                    job.stop();
                    failure.get_or_insert(Error::new(
                        ErrorKind::Cancelled,
                        "cancelled by the progress callback",
                    ));
                }
            }
        });
        if let Some(e) = failure {
            return Err(e);
        }
        if (ckpt.done.len() as u64) < parts {
            return Err(Error::new(ErrorKind::Server, "not every part was fetched"));
        }
        Ok((fetched, retried))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Config, SignatureVersion};
    use std::cell::Cell;
    use std::io::{BufRead, BufReader, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::Arc;
    use std::sync::atomic::AtomicU64;

    thread_local! {
        /// Extra time each sync before recording takes on this thread: a slow disk.
        pub(super) static SYNC_DELAY: Cell<Duration> = const { Cell::new(Duration::ZERO) };
    }

    /// Answers HEAD and ranged GET of one object on one connection until it closes.
    /// (The bundled server links this crate, so unit tests cannot use it.)
    fn serve(stream: TcpStream, data: &[u8], served: &AtomicU64) {
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut out = stream;
        loop {
            let mut head = Vec::new();
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 {
                    return;
                }
                if line == "\r\n" {
                    break;
                }
                head.push(line);
            }
            let range = head.iter().find_map(|l| {
                let v = l
                    .to_ascii_lowercase()
                    .strip_prefix("range: bytes=")?
                    .trim()
                    .to_string();
                let (a, b) = v.split_once('-')?;
                Some((a.parse::<usize>().ok()?, b.parse::<usize>().ok()?))
            });
            let common = "ETag: \"e1\"\r\nLast-Modified: Mon, 23 Nov 2026 00:00:00 GMT\r\n";
            let answer = match range {
                _ if head[0].starts_with("HEAD") => format!(
                    "HTTP/1.1 200 OK\r\n{common}Content-Length: {}\r\n\r\n",
                    data.len()
                )
                .into_bytes(),
                Some((a, b)) => {
                    let mut v = format!(
                        "HTTP/1.1 206 Partial Content\r\n{common}Content-Range: bytes {a}-{b}/{}\r\nContent-Length: {}\r\n\r\n",
                        data.len(),
                        b + 1 - a
                    )
                    .into_bytes();
                    v.extend_from_slice(&data[a..=b]);
                    served.fetch_add((b + 1 - a) as u64, Ordering::SeqCst);
                    v
                }
                None => return,
            };
            if out.write_all(&answer).is_err() {
                return;
            }
        }
    }

    /// However slowly the disk syncs, fetched bytes not yet in the checkpoint (what a
    /// crash would lose) stay within (threads + 1) parts. Without the limit on unrecorded
    /// parts, every part fetched during a slow sync would be at risk.
    #[test]
    fn a_slow_sync_holds_unrecorded_bytes_to_threads_plus_one_parts() {
        let part = MIN_PART_SIZE;
        let size = 40 * part;
        let data: Arc<Vec<u8>> = Arc::new((0..size).map(|i| (i * 7 % 251) as u8).collect());
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let served = Arc::new(AtomicU64::new(0));
        let (d, n) = (Arc::clone(&data), Arc::clone(&served));
        std::thread::spawn(move || {
            // Ends with the test process; each connection is served on its own thread.
            for stream in listener.incoming().take(64).flatten() {
                let (d, n) = (Arc::clone(&d), Arc::clone(&n));
                std::thread::spawn(move || serve(stream, &d, &n));
            }
        });
        let client = Client::new(
            Config::builder(&endpoint)
                .credentials("ak", "sk", None)
                .signature_version(SignatureVersion::V1)
                .build()
                .unwrap(),
        )
        .unwrap();
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        let threads = 3u64;
        let opts = DownloadOptions {
            multiget_threshold: part,
            part_size: Some(part),
            threads: threads as usize,
            ..DownloadOptions::default()
        };
        let ckpt = dir.path().join(checkpoint_name("bkt", "k", "", &target));
        let finished = AtomicBool::new(false);
        let (report, worst) = std::thread::scope(|scope| {
            // Samples, every few milliseconds, bytes served but not in the checkpoint.
            let sampler = scope.spawn(|| {
                let mut worst = 0u64;
                let deadline = Instant::now() + Duration::from_secs(60);
                while !finished.load(Ordering::SeqCst) && Instant::now() < deadline {
                    // Served first: a checkpoint read after it can only hold more.
                    let fetched = served.load(Ordering::SeqCst);
                    // Once the file is complete the checkpoint is removed: not sampled.
                    if let Some(c) = fs::read(&ckpt)
                        .ok()
                        .and_then(|b| DownloadCheckpoint::decode(&b).ok())
                    {
                        let recorded = c.done.len() as u64 * part;
                        worst = worst.max(fetched.saturating_sub(recorded));
                    }
                    std::thread::sleep(Duration::from_millis(2));
                }
                worst
            });
            SYNC_DELAY.with(|d| d.set(Duration::from_millis(100)));
            let report = client.download("bkt", "k", &target, &opts, None);
            SYNC_DELAY.with(|d| d.set(Duration::ZERO));
            finished.store(true, Ordering::SeqCst);
            (report, sampler.join().unwrap())
        });
        report.unwrap();
        assert_eq!(fs::read(&target).unwrap(), *data);
        assert!(worst > part, "the check saw parts in flight: {worst}");
        assert!(
            worst <= (threads + 1) * part,
            "{worst} fetched bytes unrecorded, bound {}",
            (threads + 1) * part
        );
    }

    #[test]
    fn part_size_is_checked_and_grown_to_at_most_10000_parts() {
        assert_eq!(plan_part_size(1 << 30, None).unwrap(), DEFAULT_PART_SIZE);
        assert_eq!(plan_part_size(1 << 30, Some(1 << 20)).unwrap(), 1 << 20);
        let huge = 200 * (1u64 << 30);
        let p = plan_part_size(huge, Some(MIN_PART_SIZE)).unwrap();
        assert!(huge.div_ceil(p) <= MAX_PARTS);
        assert!(plan_part_size(10, Some(MIN_PART_SIZE - 1)).is_err());
        assert!(plan_part_size(10, Some(MAX_PART_SIZE + 1)).is_err());
    }

    #[test]
    fn part_ranges_cover_the_object_once() {
        let (size, part) = (1_000_003u64, 100_000u64);
        let parts = size.div_ceil(part);
        let mut next = 0;
        for i in 0..parts {
            let (a, b) = part_range(i, part, size);
            assert_eq!(a, next);
            assert!(b > a);
            next = b;
        }
        assert_eq!(next, size);
    }
}
