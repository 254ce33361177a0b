//! Resumable download: a part is a ranged GET pinned to the object's ETag, written
//! at its offset in a temporary file beside the target; a finished part is recorded
//! (after its bytes are synced, under the default durability) with its CRC-64. The
//! engine (`crate::transfer`) runs the parts; this file says what a part is, how it
//! is recorded, and how the file is verified and put in place.

use std::fs::{self, File, OpenOptions};
use std::io::Read;
use std::os::unix::fs::{FileExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::checkpoint::download::{DownloadCheckpoint, temp_prefix, verdict};
use crate::checkpoint::{CheckpointState, identity_hash};
use crate::client::{ByteRange, Client, ObjectInfo, ObjectReader, RequestOptions};
use crate::config::{validate_bucket, validate_key};
use crate::error::{Error, ErrorKind, Result};
use crate::stream::GetStream;
use crate::transfer::cancel::CancelToken;
use crate::transfer::fsio::{
    Durability, crc_of_range, read_checkpoint, remove_stale_atomic_temps, reserve, reserve_failed,
    target_dir, write_atomic,
};
use crate::transfer::hedge::{Hedger, Request};
use crate::transfer::lock::TargetLock;
use crate::transfer::plan::{Plan, check_threads, plan_part_size};
use crate::transfer::pool::{PartRecord, PartWork, Pool, WORKER_BUFFER, with_buffer};
use crate::transfer::progress::{Progress, Reporter};
use crate::transport::map_io_error;

/// Default threshold below which an object is fetched with one GET: 10 MiB.
pub const DEFAULT_MULTIGET_THRESHOLD: u64 = 10 * 1024 * 1024;

/// Options of [`Client::download`]. Start from `DownloadOptions::default()` and set
/// the fields you need (the struct may gain fields); they are checked together when
/// the download starts.
#[non_exhaustive]
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
    /// Worker threads, one connection each, 1..=[`MAX_THREADS`](crate::MAX_THREADS)
    /// (others are refused). Defaults to 4.
    pub threads: usize,
    /// Version id, request payer, traffic limit and cancel token, for every request.
    pub request: RequestOptions,
    /// When another transfer holds the target, wait for it (until it ends or the
    /// cancel token fires) instead of failing with [`ErrorKind::Busy`]. Defaults to
    /// false.
    pub wait_if_busy: bool,
    /// Attempts per part when its body fails (each continues from the last byte
    /// written). Defaults to 5.
    pub part_attempts: u32,
    /// What is fsynced before it is relied on. Defaults to [`Durability::Fsync`].
    pub durability: Durability,
    /// Hedge slow parts: a part whose answer has not begun within 3x the 95th
    /// percentile of this download's answers so far (at least 1 s, and only once 4
    /// parts were answered) is requested again on another connection; the first
    /// answer is used and the other dropped, so nothing is written, checked or
    /// counted twice. At most 2 hedges are out at once, and none once the server has
    /// answered 503 or 429 (it asks for less load). Costs at most a part's bytes per
    /// hedge, usually none (the late answer is dropped before its body comes).
    /// [`DownloadReport::parts_hedged`] counts them. Defaults to true: the deadline
    /// only fires on answers far slower than the download's own, which is where one
    /// stuck connection would otherwise hold the whole download back.
    pub hedge: bool,
}

impl DownloadOptions {
    /// Checks the options a download cannot start with: threads outside
    /// 1..=[`MAX_THREADS`](crate::MAX_THREADS), a part size outside 100 KB..=5 GB, a
    /// traffic limit outside OSS's bounds. The one place they are checked.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the option.
    pub fn validate(&self) -> Result<()> {
        check_threads(self.threads)?;
        if self.part_size.is_some() {
            plan_part_size(0, self.part_size)?;
        }
        self.request.validate()
    }
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
            durability: Durability::Fsync,
            hedge: true,
        }
    }
}

/// What a download did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadReport {
    /// The object's size.
    pub size: u64,
    /// Bytes fetched from the server by this call.
    pub bytes_fetched: u64,
    /// Bytes already present from a resumed checkpoint (and verified by CRC-64).
    pub bytes_reused: u64,
    /// Times a part's body failed and was continued.
    pub parts_retried: u64,
    /// Parts whose answer was late and which were requested again on another
    /// connection ([`DownloadOptions::hedge`]); each counts once, whichever answer
    /// won.
    pub parts_hedged: u64,
    /// Recorded parts whose bytes in the temporary file no longer matched their
    /// CRC-64 (a power cut, a damaged disk, another writer), fetched again.
    pub parts_damaged: u64,
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

fn checkpoint_name(bucket: &str, key: &str, version: &str, target: &Path) -> String {
    let hash = identity_hash(&[bucket, key, version, &target.to_string_lossy()]);
    format!(".ossr-{hash}.download")
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

/// One part: a ranged GET of `[start, end)` into the temporary file.
struct FetchPart<'a> {
    client: &'a Client,
    bucket: &'a str,
    key: &'a str,
    etag: &'a str,
    plan: Plan,
    file: &'a File,
    temp: &'a Path,
    opts: &'a DownloadOptions,
    /// This download's hedging, when on.
    hedger: Option<&'a Hedger>,
}

/// A finished part: the CRC-64 of its bytes and how often its body was continued.
struct Fetched {
    crc: u64,
    retries: u64,
}

impl PartWork for FetchPart<'_> {
    type Done = Fetched;

    fn run(&self, index: u64, meter: &AtomicU64, cancel: &CancelToken) -> Result<Fetched> {
        let (start, end) = self.plan.range(index);
        let request = RequestOptions {
            cancel: Some(cancel.clone()),
            ..self.opts.request.clone()
        };
        // A body that fails continues from the byte reached, as any stream does.
        let mut stream = self.client.open_pinned(
            self.bucket,
            self.key,
            start,
            end - start,
            self.etag,
            &request,
            self.opts.part_attempts.saturating_sub(1),
        );
        if let Some(hedger) = self.hedger
            && end > start
        {
            self.open_hedged(hedger, &mut stream, (start, end), cancel)?;
        }
        with_buffer(|buf| {
            let mut offset = start;
            loop {
                let n = stream
                    .read(buf)
                    .map_err(|e| explain_change(map_io_error(e), self.etag))?;
                if n == 0 {
                    return Ok(());
                }
                self.file
                    .write_all_at(&buf[..n], offset)
                    .map_err(|e| Error::io(format!("writing {}", self.temp.display()), e))?;
                offset += n as u64;
                meter.fetch_add(n as u64, Ordering::Relaxed);
            }
        })?;
        Ok(Fetched {
            crc: stream.client_crc(),
            retries: u64::from(stream.resumes()),
        })
    }
}

impl FetchPart<'_> {
    /// Opens the part's first request through the hedger. A failure spends one of
    /// the stream's own continuations (as its own failed opening would), and the
    /// stream opens itself again on its first read.
    fn open_hedged(
        &self,
        hedger: &Hedger,
        stream: &mut GetStream,
        (start, end): (u64, u64),
        cancel: &CancelToken,
    ) -> Result<()> {
        // Owned, so that a twin can run on a thread of its own.
        let (client, bucket, key) = (
            self.client.clone(),
            self.bucket.to_owned(),
            self.key.to_owned(),
        );
        let (etag, base) = (self.etag.to_owned(), self.opts.request.clone());
        let open: Request<ObjectReader> = Arc::new(move |token: &CancelToken| {
            let request = RequestOptions {
                cancel: Some(token.clone()),
                ..base.clone()
            };
            let range = ByteRange::new(start, end - 1);
            client.get_object(&bucket, &key, Some(range), Some(&etag), &request)
        });
        match hedger.run(cancel, &open) {
            Ok((reader, _)) => {
                stream.start_with(reader);
                Ok(())
            }
            Err(e) => stream
                .open_failed(e)
                .map_err(|e| explain_change(e, self.etag)),
        }
    }
}

/// Says what an `If-Match` refusal means for a download.
fn explain_change(e: Error, etag: &str) -> Error {
    if e.kind() != ErrorKind::ObjectChanged {
        return e;
    }
    Error::new(
        ErrorKind::ObjectChanged,
        format!(
            "the object changed during the download (it is no longer ETag {etag}); nothing was mixed: the temporary file and checkpoint were removed, run again to fetch the new version"
        ),
    )
}

/// Under [`Durability::NoFsync`], the checkpoint is rewritten at most this often, and
/// once more when the run stops: a process killed outright may lose the parts
/// finished since. Each rewrite creates and renames a file (about a tenth of a 1
/// GiB download's time at 1 thread when done per 8 MiB part, on a 2-core machine).
pub(crate) const NO_FSYNC_CHECKPOINT_EVERY: Duration = Duration::from_millis(100);

/// Records finished parts: their bytes synced (per the durability policy), then the
/// checkpoint rewritten with their CRCs (under `NoFsync`, at most every `every`).
struct RecordParts<'a> {
    ckpt: &'a mut DownloadCheckpoint,
    /// `None` for a single-GET download, which keeps no checkpoint.
    ckpt_path: Option<&'a Path>,
    file: &'a File,
    durability: Durability,
    retries: u64,
    /// Under `NoFsync`: the least time between two rewrites of the checkpoint.
    every: Duration,
    /// When the checkpoint was last written by this run.
    written: Option<Instant>,
    /// Parts were recorded since the checkpoint was last written.
    unwritten: bool,
}

impl<'a> RecordParts<'a> {
    fn new(
        ckpt: &'a mut DownloadCheckpoint,
        ckpt_path: Option<&'a Path>,
        file: &'a File,
        durability: Durability,
    ) -> RecordParts<'a> {
        RecordParts {
            ckpt,
            ckpt_path,
            file,
            durability,
            retries: 0,
            every: NO_FSYNC_CHECKPOINT_EVERY,
            written: None,
            unwritten: false,
        }
    }

    /// Writes the parts recorded and not yet written (a run that stops).
    fn flush(&mut self) -> Result<()> {
        match self.ckpt_path {
            Some(path) if self.unwritten => self.write(path),
            _ => Ok(()),
        }
    }

    fn write(&mut self, ckpt_path: &Path) -> Result<()> {
        write_atomic(ckpt_path, &self.ckpt.encode(), self.durability)
            .map_err(|e| Error::io(format!("writing the checkpoint {}", ckpt_path.display()), e))?;
        self.written = Some(Instant::now());
        self.unwritten = false;
        Ok(())
    }
}

impl PartRecord<Fetched> for RecordParts<'_> {
    fn record(&mut self, finished: Vec<(u64, Fetched)>) -> Result<()> {
        self.retries += finished.iter().map(|(_, f)| f.retries).sum::<u64>();
        let Some(ckpt_path) = self.ckpt_path else {
            self.ckpt
                .done
                .extend(finished.iter().map(|(i, f)| (*i, f.crc)));
            return Ok(());
        };
        // A part is recorded only once its bytes are durable.
        self.durability
            .sync_data(self.file)
            .map_err(|e| Error::io(format!("syncing {}", self.ckpt.temp.display()), e))?;
        self.ckpt
            .done
            .extend(finished.iter().map(|(i, f)| (*i, f.crc)));
        let due = self.durability == Durability::Fsync
            || self.written.is_none_or(|t| t.elapsed() >= self.every);
        if !due {
            self.unwritten = true;
            return Ok(());
        }
        self.write(ckpt_path)
    }
}

/// Drops the recorded parts whose bytes in the temporary file no longer have their
/// recorded CRC-64 (one read of the recorded parts); returns how many.
fn drop_damaged_parts(ckpt: &mut DownloadCheckpoint, file: &File) -> Result<u64> {
    let plan = Plan::new(ckpt.size, ckpt.part_size);
    let mut buf = vec![0u8; WORKER_BUFFER];
    let before = ckpt.done.len();
    let mut kept = Vec::with_capacity(before);
    for &(index, crc) in &ckpt.done {
        let (a, b) = plan.range(index);
        let actual = crc_of_range(file, a, b - a, &mut buf)
            .map_err(|e| Error::io(format!("reading {}", ckpt.temp.display()), e))?;
        if actual == crc {
            kept.push((index, crc));
        }
    }
    ckpt.done = kept;
    Ok((before - ckpt.done.len()) as u64)
}

/// Everything one download call decided before fetching.
struct Prepared {
    ckpt: DownloadCheckpoint,
    /// `None` below the multiget threshold: no checkpoint is kept.
    ckpt_path: Option<PathBuf>,
    state: CheckpointState,
    file: File,
    damaged: u64,
}

impl Client {
    /// Downloads `bucket/key` to `target`, resumably.
    ///
    /// HEAD first; then parallel ranged GETs (`If-Match` the ETag,
    /// `x-oss-range-behavior: standard`, status and `Content-Range` checked) write
    /// into a temporary file beside the target (`<name>.ossr-<random>`, sized up
    /// front, its disk space reserved with `fallocate` where the filesystem allows, so
    /// a full disk is found before any byte is fetched). A checkpoint records each part and its CRC-64 once its bytes are
    /// durable (see [`Durability`]), and a worker starts a new part only while fewer
    /// than `threads + 1` started parts are unrecorded, so a crash costs at most that
    /// many parts however slow the disk's syncs (a slow disk slows the download
    /// instead). A resume first re-reads the recorded parts from the temporary file
    /// and fetches again any whose CRC-64 no longer matches (one read of the bytes
    /// already there). At the end the parts' CRC-64s, combined, must equal the
    /// object's; then the temporary file is synced and renamed over the target.
    /// Objects below the multiget threshold take one GET, still through a temporary
    /// file and a rename: a failed call never leaves a truncated target.
    ///
    /// Blocking; threads are started and joined inside. `progress` runs on the
    /// calling thread. [`RequestOptions::cancel`] stops the call from any thread.
    ///
    /// ```no_run
    /// # use oss_resume::{Client, Config, DownloadOptions};
    /// # let client = Client::new(Config::builder("https://oss-cn-hangzhou.aliyuncs.com").build()?)?;
    /// let mut progress = |done: u64, total: u64| {
    ///     eprint!("\r{done}/{total}");
    ///     true // false cancels; the checkpoint is kept
    /// };
    /// let report = client.download("bucket", "big.bin", "/data/big.bin",
    ///     &DownloadOptions::default(), Some(&mut progress))?;
    /// assert!(report.verified || report.crc64.is_none());
    /// # Ok::<(), oss_resume::Error>(())
    /// ```
    ///
    /// # Errors
    /// - [`ErrorKind::Busy`]: another transfer holds the target (unless
    ///   `wait_if_busy`).
    /// - [`ErrorKind::ObjectChanged`]: the object changed mid-download; temporary file
    ///   and checkpoint are removed, nothing is mixed.
    /// - [`ErrorKind::CrcMismatch`]: the bytes do not match the object's CRC;
    ///   temporary file and checkpoint are removed so the next call starts clean.
    /// - [`ErrorKind::Cancelled`]: `progress` returned false or the cancel token
    ///   fired; the checkpoint is kept.
    /// - [`ErrorKind::InvalidArgument`]: bad options, a target that is a directory.
    /// - [`ErrorKind::Io`]: the target's directory does not exist (found before any
    ///   request) or cannot be written, its filesystem has no room for the object
    ///   (found before any GET; the message says how many bytes are needed), or the
    ///   checkpoint directory cannot be written; and
    ///   the client's errors. Except where said, the checkpoint is kept and the next
    ///   call resumes.
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
        opts.validate()?;
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
        target_dir(&target)?;
        let none = CancelToken::new();
        let cancel = opts.request.cancel.as_ref().unwrap_or(&none);
        let _lock = TargetLock::acquire(&target, opts.wait_if_busy, cancel)?;
        let info = self.head_object(bucket, key, &opts.request)?;
        let mut prepared = self.prepare_download(bucket, key, &target, &info, opts)?;
        let plan = Plan::new(info.size, prepared.ckpt.part_size);
        let pending = plan.pending(prepared.ckpt.done.iter().map(|(i, _)| *i));
        let bytes_reused = plan.bytes_besides(&pending);
        let mut reporter = Reporter::new(progress, info.size);
        let hedger = Hedger::new();
        let work = FetchPart {
            client: self,
            bucket,
            key,
            etag: &info.etag,
            plan,
            file: &prepared.file,
            temp: &prepared.ckpt.temp.clone(),
            opts,
            hedger: opts.hedge.then_some(&hedger),
        };
        let mut record = RecordParts::new(
            &mut prepared.ckpt,
            prepared.ckpt_path.as_deref(),
            &prepared.file,
            opts.durability,
        );
        let pool = Pool {
            plan,
            threads: opts.threads,
            cancel,
            reused: bytes_reused,
        };
        let fetched = pool.run(&work, &mut record, pending, &mut reporter);
        let parts_retried = record.retries;
        let bytes_fetched = match fetched {
            Ok(n) => n,
            Err(e) => {
                let discard = matches!(e.kind(), ErrorKind::ObjectChanged | ErrorKind::CrcMismatch)
                    || record.ckpt_path.is_none();
                if discard {
                    discard_download(&prepared);
                } else {
                    // The run's own failure says more than a failed last write.
                    let _ = record.flush();
                }
                return Err(e);
            }
        };
        let verified = self.commit_download(&prepared, &target, &info, opts.durability)?;
        reporter.report(info.size, true);
        Ok(DownloadReport {
            size: info.size,
            bytes_fetched,
            bytes_reused,
            parts_retried,
            parts_hedged: hedger.hedged(),
            parts_damaged: prepared.damaged,
            parts: plan.parts(),
            part_size: plan.part_size,
            checkpoint: prepared.state,
            etag: info.etag,
            crc64: info.crc64,
            verified,
        })
    }

    /// Finds or starts the checkpoint and the temporary file: a valid checkpoint
    /// whose temporary file is there, sized, resumes (its damaged parts dropped); any
    /// other is discarded with its file.
    fn prepare_download(
        &self,
        bucket: &str,
        key: &str,
        target: &Path,
        info: &ObjectInfo,
        opts: &DownloadOptions,
    ) -> Result<Prepared> {
        let use_checkpoint = info.size > 0 && info.size >= opts.multiget_threshold;
        let part_size = if use_checkpoint {
            plan_part_size(info.size, opts.part_size)?
        } else {
            info.size.max(1)
        };
        let version = opts.request.version_id.clone().unwrap_or_default();
        let expect = DownloadCheckpoint {
            bucket: bucket.to_string(),
            key: key.to_string(),
            version_id: version.clone(),
            target: target.to_path_buf(),
            temp: PathBuf::new(),
            size: info.size,
            etag: info.etag.clone(),
            last_modified: info.last_modified.clone(),
            crc64: info.crc64,
            part_size,
            done: Vec::new(),
        };
        let (ckpt_path, state, found) = if use_checkpoint {
            let (path, state, found) = find_checkpoint(target, &expect, opts)?;
            (Some(path), state, found)
        } else {
            (None, CheckpointState::NotUsed, None)
        };
        remove_stale_temps(target, found.as_ref().map(|(c, _)| c.temp.as_path()));
        let (ckpt, file, damaged) = match found {
            Some((mut ckpt, file)) => {
                // The parts still to fetch may be holes: their space is reserved too
                // (the checkpoint and the file are kept when it is not there).
                reserve(&file, ckpt.size).map_err(|e| reserve_failed(target, ckpt.size, e))?;
                let damaged = drop_damaged_parts(&mut ckpt, &file)?;
                (ckpt, file, damaged)
            }
            None => {
                let (ckpt, file) = start_temp(expect, ckpt_path.as_deref(), opts.durability)?;
                (ckpt, file, 0)
            }
        };
        Ok(Prepared {
            ckpt,
            ckpt_path,
            state,
            file,
            damaged,
        })
    }

    /// Checks the combined CRC, then syncs and renames the temporary file over the
    /// target and removes the checkpoint. Returns whether the CRC was checked.
    fn commit_download(
        &self,
        prepared: &Prepared,
        target: &Path,
        info: &ObjectInfo,
        durability: Durability,
    ) -> Result<bool> {
        let ckpt = &prepared.ckpt;
        let plan = Plan::new(info.size, ckpt.part_size);
        let Some(combined) = plan.combine(&ckpt.done) else {
            return Err(Error::new(ErrorKind::Server, "not every part was fetched"));
        };
        let verified = match info.crc64 {
            Some(server) if server != combined => {
                discard_download(prepared);
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
        crate::transfer::fsio::commit(&prepared.file, &ckpt.temp, target, durability)?;
        if let Some(path) = &prepared.ckpt_path {
            let _ = fs::remove_file(path);
        }
        Ok(verified)
    }
}

/// Removes a failed download's temporary file and checkpoint, so the next call
/// starts clean.
fn discard_download(prepared: &Prepared) {
    let _ = fs::remove_file(&prepared.ckpt.temp);
    if let Some(path) = &prepared.ckpt_path {
        let _ = fs::remove_file(path);
    }
}

/// A checkpoint to resume, with its temporary file open.
type Resumable = (DownloadCheckpoint, File);

/// Reads and judges the checkpoint of `expect` (its directory made if missing):
/// the path, what became of it, and the checkpoint and temporary file to resume, if
/// any. An unusable checkpoint is removed.
fn find_checkpoint(
    target: &Path,
    expect: &DownloadCheckpoint,
    opts: &DownloadOptions,
) -> Result<(PathBuf, CheckpointState, Option<Resumable>)> {
    let dir = target.parent().unwrap_or(Path::new("/"));
    let ckpt_dir = opts
        .checkpoint_dir
        .clone()
        .unwrap_or_else(|| dir.to_path_buf());
    fs::create_dir_all(&ckpt_dir).map_err(|e| {
        Error::io(
            format!("creating the checkpoint directory {}", ckpt_dir.display()),
            e,
        )
    })?;
    let name = checkpoint_name(&expect.bucket, &expect.key, &expect.version_id, target);
    let path = ckpt_dir.join(name);
    remove_stale_atomic_temps(&path);
    let mut found = None;
    let state = match read_checkpoint(&path)? {
        Ok(None) => CheckpointState::NotFound,
        Err(why) => CheckpointState::Discarded(why),
        Ok(Some(bytes)) => {
            match verdict(&bytes, expect, opts.part_size).and_then(open_resumable_temp) {
                Ok(resumable) => {
                    found = Some(resumable);
                    CheckpointState::Resumed
                }
                Err(why) => CheckpointState::Discarded(why),
            }
        }
    };
    if matches!(state, CheckpointState::Discarded(_)) {
        let _ = fs::remove_file(&path);
    }
    Ok((path, state, found))
}

/// Opens the temporary file a valid checkpoint names, if it is there with the
/// object's size; the error says why it is not.
fn open_resumable_temp(
    ckpt: DownloadCheckpoint,
) -> std::result::Result<(DownloadCheckpoint, File), String> {
    let file = match OpenOptions::new().read(true).write(true).open(&ckpt.temp) {
        Ok(f) => f,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err("its temporary file is missing".into());
        }
        Err(e) => return Err(format!("its temporary file cannot be opened: {e}")),
    };
    match file.metadata() {
        Ok(m) if !m.is_file() => Err("its temporary file is not a regular file".into()),
        Ok(m) if m.len() != ckpt.size => Err(format!(
            "its temporary file has {} bytes, not {}",
            m.len(),
            ckpt.size
        )),
        Ok(_) => Ok((ckpt, file)),
        Err(e) => Err(format!("its temporary file cannot be read: {e}")),
    }
}

/// Creates a new temporary file beside the target, sized to the object, and the
/// first checkpoint naming it (when one is kept).
fn start_temp(
    mut ckpt: DownloadCheckpoint,
    ckpt_path: Option<&Path>,
    durability: Durability,
) -> Result<(DownloadCheckpoint, File)> {
    let dir = ckpt.target.parent().unwrap_or(Path::new("/"));
    ckpt.temp = dir.join(format!(
        "{}{:016x}",
        temp_prefix(&ckpt.target),
        fastrand::u64(..)
    ));
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .mode(0o644)
        .open(&ckpt.temp)
        .map_err(|e| Error::io(format!("creating {}", ckpt.temp.display()), e))?;
    let ready = file
        .set_len(ckpt.size)
        .map_err(|e| Error::io(format!("sizing {}", ckpt.temp.display()), e))
        .and_then(|()| {
            reserve(&file, ckpt.size).map_err(|e| reserve_failed(&ckpt.target, ckpt.size, e))
        })
        .and_then(|()| match ckpt_path {
            Some(path) => write_atomic(path, &ckpt.encode(), durability)
                .map_err(|e| Error::io(format!("writing the checkpoint {}", path.display()), e)),
            None => Ok(()),
        });
    if let Err(e) = ready {
        let _ = fs::remove_file(&ckpt.temp);
        return Err(e);
    }
    Ok((ckpt, file))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checkpoint(dir: &Path) -> DownloadCheckpoint {
        DownloadCheckpoint {
            bucket: "b".into(),
            key: "k".into(),
            version_id: String::new(),
            target: dir.join("t"),
            temp: dir.join("t.ossr-0001"),
            size: 1000,
            etag: "\"E\"".into(),
            last_modified: String::new(),
            crc64: None,
            part_size: 100,
            done: Vec::new(),
        }
    }

    fn part(index: u64) -> Vec<(u64, Fetched)> {
        vec![(
            index,
            Fetched {
                crc: index * 7,
                retries: 0,
            },
        )]
    }

    fn on_disk(path: &Path) -> Vec<(u64, u64)> {
        DownloadCheckpoint::decode(&fs::read(path).unwrap())
            .unwrap()
            .done
    }

    /// Under `Fsync` every record rewrites the checkpoint; under `NoFsync` the first
    /// does, later ones only once `every` has passed, and a stopping run's flush
    /// writes what is left.
    #[test]
    fn without_fsync_the_checkpoint_is_rewritten_at_most_every_interval() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.download");
        let file = File::create(dir.path().join("t.ossr-0001")).unwrap();
        let mut ckpt = checkpoint(dir.path());
        let mut r = RecordParts::new(&mut ckpt, Some(&path), &file, Durability::Fsync);
        r.every = Duration::from_secs(3600);
        r.record(part(0)).unwrap();
        r.record(part(1)).unwrap();
        assert_eq!(on_disk(&path), [(0, 0), (1, 7)]);

        let mut ckpt = checkpoint(dir.path());
        let mut r = RecordParts::new(&mut ckpt, Some(&path), &file, Durability::NoFsync);
        r.every = Duration::from_secs(3600);
        r.record(part(3)).unwrap();
        assert_eq!(on_disk(&path), [(3, 21)], "the first record is written");
        r.record(part(4)).unwrap();
        r.record(part(5)).unwrap();
        assert_eq!(on_disk(&path), [(3, 21)], "not yet due");
        r.flush().unwrap();
        assert_eq!(on_disk(&path), [(3, 21), (4, 28), (5, 35)]);

        r.every = Duration::ZERO;
        r.record(part(6)).unwrap();
        assert_eq!(on_disk(&path).len(), 4, "due: written");
    }
}
