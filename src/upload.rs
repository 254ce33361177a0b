//! Resumable upload: a part is an UploadPart from positioned reads of one open file;
//! a finished part is recorded in the checkpoint with its ETag and CRC-64. On resume
//! the server's ListParts is the truth: every listed part whose size and CRC-64
//! match the file's bytes is kept, recorded or not. The object's CRC-64 is checked
//! end to end, and no upload is left behind to bill when a run is superseded or
//! stopped. The engine (`crate::transfer`) runs the parts.

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use base64::Engine;
use md5::{Digest as _, Md5};

use crate::checkpoint::upload::{FileIdentity, SweepJournal, UploadCheckpoint};
use crate::checkpoint::{CheckpointState, identity_hash};
use crate::client::{Client, PartSource, PutResult, PutSource, RequestOptions};
use crate::config::{validate_bucket, validate_key, validate_user_headers};
use crate::crc64;
use crate::error::{Error, ErrorKind, Result};
use crate::transfer::cancel::CancelToken;
use crate::transfer::fsio::{
    Durability, crc_of_range, open_regular, read_checkpoint, read_range, remove_stale_atomic_temps,
    write_atomic,
};
use crate::transfer::lock::TargetLock;
use crate::transfer::multipart::{Begun, run_missing_parts, unix_secs};
use crate::transfer::plan::{Plan, check_threads, part_number, plan_part_size};
use crate::transfer::pool::{PartWork, with_buffer};
use crate::transfer::progress::{Progress, Reporter};
use crate::xml::ListedPart;

/// Default threshold below which a file takes one PutObject: 10 MiB.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 10 * 1024 * 1024;

/// Options of [`Client::upload`]. Start from `UploadOptions::default()` and set the
/// fields you need (the struct may gain fields); they are checked together when the
/// upload starts.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct UploadOptions {
    /// Where the checkpoint is kept. Defaults to `$HOME/.oss_resume/upload` (the
    /// system temporary directory when HOME is unset).
    pub checkpoint_dir: Option<PathBuf>,
    /// Request headers for the object: Content-Type (guessed from the file name when
    /// absent), `x-oss-meta-*`, `x-oss-object-acl`, `x-oss-storage-class`, any other
    /// `x-oss-` header. Defaults to none.
    pub headers: Vec<(String, String)>,
    /// Files smaller than this take one PutObject with Content-MD5. Defaults to 10 MiB.
    pub multipart_threshold: u64,
    /// Part size, 100 KB..=5 GB, grown so there are at most 10,000 parts. Defaults to
    /// automatic (8 MiB, grown likewise).
    pub part_size: Option<u64>,
    /// Worker threads, one connection each, 1..=[`MAX_THREADS`](crate::MAX_THREADS)
    /// (others are refused). Defaults to 4.
    pub threads: usize,
    /// When another upload of the same file to the same key holds its checkpoint,
    /// wait for it (until it ends or the cancel token fires) instead of failing with
    /// [`ErrorKind::Busy`]. Defaults to false.
    pub wait_if_busy: bool,
    /// Ask OSS to require parts in order (`?sequential`). Defaults to false.
    pub sequential: bool,
    /// Request payer, traffic limit and cancel token, for every request.
    pub request: RequestOptions,
}

impl UploadOptions {
    /// Checks the options an upload cannot start with: threads outside
    /// 1..=[`MAX_THREADS`](crate::MAX_THREADS), a part size outside 100 KB..=5 GB,
    /// headers the library owns or with control characters, a traffic limit outside
    /// OSS's bounds. The one place they are checked.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the option.
    pub fn validate(&self) -> Result<()> {
        check_threads(self.threads)?;
        if self.part_size.is_some() {
            plan_part_size(0, self.part_size)?;
        }
        validate_user_headers(&self.headers)?;
        self.request.validate()
    }
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            checkpoint_dir: None,
            headers: Vec::new(),
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            part_size: None,
            threads: 4,
            wait_if_busy: false,
            sequential: false,
            request: RequestOptions::default(),
        }
    }
}

/// What an upload did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadReport {
    /// The file's size.
    pub size: u64,
    /// Parts the file was split into (0 for a single PutObject).
    pub parts: u64,
    /// The part size used.
    pub part_size: u64,
    /// Parts sent by this call.
    pub parts_uploaded: u64,
    /// Parts found on the server (and matching) from an earlier run.
    pub parts_reused: u64,
    /// What became of the checkpoint.
    pub checkpoint: CheckpointState,
    /// Uploads aborted because they were superseded, or because an interrupted
    /// Initiate left them unrecorded.
    pub uploads_aborted: u64,
    /// The object's ETag.
    pub etag: String,
    /// The object's CRC-64, equal to the file's.
    pub crc64: u64,
}

/// A Content-Type from the file name's extension.
pub fn guess_content_type(path: &Path) -> &'static str {
    let ext = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    match ext.as_str() {
        "txt" | "log" => "text/plain",
        "html" | "htm" => "text/html",
        "css" => "text/css",
        "csv" => "text/csv",
        "js" => "application/javascript",
        "json" => "application/json",
        "xml" => "application/xml",
        "pdf" => "application/pdf",
        "zip" => "application/zip",
        "gz" | "tgz" => "application/gzip",
        "tar" => "application/x-tar",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "webp" => "image/webp",
        "svg" => "image/svg+xml",
        "mp4" => "video/mp4",
        "mp3" => "audio/mpeg",
        _ => "application/octet-stream",
    }
}

fn default_checkpoint_dir() -> PathBuf {
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".oss_resume").join("upload"),
        None => std::env::temp_dir().join("oss_resume-upload"),
    }
}

/// Keeps the stopped Initiates of a completed upload that may still land in the
/// key's sweep journal, merged with what it held. A cleanup: a failure is ignored.
fn remember_stopped_initiates(ckpt_path: &Path, bucket: &str, key: &str, times: &[u64]) {
    let now = unix_secs(SystemTime::now());
    let path = journal_path(ckpt_path, bucket, key);
    let mut journal = SweepJournal {
        bucket: bucket.into(),
        key: key.into(),
        times: times.to_vec(),
    };
    if let Ok(Ok(Some(bytes))) = read_checkpoint(&path)
        && let Ok(old) = SweepJournal::decode(&bytes)
        && old.bucket == bucket
        && old.key == key
    {
        journal.times.extend(old.times);
    }
    journal.times.sort_unstable();
    journal.times.dedup();
    journal.times = journal.live(now, INITIATE_LANDS_WITHIN);
    if !journal.times.is_empty() {
        let _ = write_atomic(&path, &journal.encode(), Durability::Fsync);
    }
}

/// Where the checkpoint of uploading `file` to `bucket/key` goes (its directory
/// made if missing).
fn checkpoint_path(opts: &UploadOptions, bucket: &str, key: &str, file: &Path) -> Result<PathBuf> {
    let dir = opts
        .checkpoint_dir
        .clone()
        .unwrap_or_else(default_checkpoint_dir);
    fs::create_dir_all(&dir).map_err(|e| {
        Error::io(
            format!("creating the checkpoint directory {}", dir.display()),
            e,
        )
    })?;
    Ok(dir.join(checkpoint_name(bucket, key, file)))
}

/// The sweep journal of `bucket/key`, beside the checkpoints.
fn journal_path(ckpt_path: &Path, bucket: &str, key: &str) -> PathBuf {
    ckpt_path.with_file_name(format!("{}.sweep", identity_hash(&[bucket, key])))
}

fn checkpoint_name(bucket: &str, key: &str, file: &Path) -> String {
    format!(
        "{}.upload",
        identity_hash(&[bucket, key, &file.to_string_lossy()])
    )
}

/// How long after it started a stopped Initiate may still reach the server: OSS
/// refuses requests signed more than 15 minutes earlier; the rest covers the orphan
/// window and clock skew.
const INITIATE_LANDS_WITHIN: u64 = 20 * 60;

/// How many parts of an unrecorded upload are read back to tell whether it holds
/// this file's bytes.
const SAMPLED_PARTS: usize = 4;

fn changed_during_upload(path: &Path) -> Error {
    Error::new(
        ErrorKind::Io,
        format!(
            "{} changed during the upload; the upload was aborted and no object was written",
            path.display()
        ),
    )
}

/// One part: an UploadPart of the file's bytes `[start, end)`, its CRC-64 computed
/// from the file first and checked against the server's answer.
struct SendPart<'a> {
    client: &'a Client,
    ckpt: &'a UploadCheckpoint,
    plan: Plan,
    file: &'a File,
    request: &'a RequestOptions,
}

impl PartWork for SendPart<'_> {
    /// The part's ETag and CRC-64.
    type Done = (String, u64);

    fn run(&self, index: u64, meter: &AtomicU64, cancel: &CancelToken) -> Result<(String, u64)> {
        let (a, b) = self.plan.range(index);
        let crc = with_buffer(|buf| crc_of_range(self.file, a, b - a, buf))
            .map_err(|e| Error::io(format!("reading {}", self.ckpt.file.display()), e))?;
        let request = RequestOptions {
            cancel: Some(cancel.clone()),
            ..self.request.clone()
        };
        let part = self.client.upload_part_counted(
            &self.ckpt.bucket,
            &self.ckpt.key,
            &self.ckpt.upload_id,
            part_number(index),
            PartSource::File {
                file: self.file,
                offset: a,
                len: b - a,
                crc64: crc,
            },
            &request,
            Some(meter),
        )?;
        Ok((part.etag, part.crc64))
    }
}

/// The parts of `ckpt`'s upload to keep, with ListParts as the truth: every listed
/// part of the plan with the planned size whose CRC-64 matches the file's bytes. A
/// recorded part is matched by its recorded ETag and CRC; an unrecorded one (a crash
/// between its answer and its record) by reading its bytes from the file.
fn reconcile(
    ckpt: &UploadCheckpoint,
    listed: &[ListedPart],
    file: &File,
) -> Result<Vec<(u32, String, u64)>> {
    let plan = Plan::new(ckpt.identity.size, ckpt.part_size);
    let mut buf = vec![0u8; 1 << 20];
    let mut keep = Vec::new();
    for p in listed {
        let n = p.part_number;
        if n == 0 || u64::from(n) > plan.parts() || p.size != plan.len(u64::from(n) - 1) {
            continue;
        }
        if keep.iter().any(|(k, _, _)| *k == n) {
            continue;
        }
        let recorded = ckpt.done.iter().find(|(d, etag, crc)| {
            *d == n
                && p.etag.trim_matches('"') == etag.trim_matches('"')
                && p.crc64.is_none_or(|x| x == *crc)
        });
        if let Some(r) = recorded {
            keep.push(r.clone());
        } else if let Some(listed_crc) = p.crc64 {
            let (a, b) = plan.range(u64::from(n) - 1);
            let ours = crc_of_range(file, a, b - a, &mut buf)
                .map_err(|e| Error::io(format!("reading {}", ckpt.file.display()), e))?;
            if ours == listed_crc {
                keep.push((n, p.etag.clone(), ours));
            }
        }
    }
    Ok(keep)
}

impl Client {
    /// Uploads a local file to `bucket/key`, resumably.
    ///
    /// Files below the multipart threshold (and empty files) take one PutObject
    /// with Content-MD5. Larger ones: initiate (with the headers), parallel
    /// UploadPart from positioned reads of one open file (each part's CRC-64 checked
    /// against the answer), a checkpoint updated as parts finish, Complete with the
    /// parts in order, and the combined CRC compared with the object's. On resume
    /// the server's ListParts is the truth: every listed part whose size and CRC-64
    /// match the file's bytes is kept (recorded in the checkpoint or not), the rest
    /// are sent again; a vanished upload starts anew; a changed file discards the
    /// checkpoint and aborts the old upload. A file that changes during the upload
    /// aborts it: never a corrupt object.
    ///
    /// Blocking; threads are started and joined inside; `progress` runs on the
    /// calling thread, its last call at 100% after Complete succeeded.
    /// [`RequestOptions::cancel`] stops the call from any thread (checkpoint kept).
    ///
    /// ```no_run
    /// # use oss_resume::{Client, Config, UploadOptions};
    /// # let client = Client::new(Config::builder("https://oss-cn-hangzhou.aliyuncs.com").build()?)?;
    /// let report = client.upload("/data/big.bin", "bucket", "big.bin",
    ///     &UploadOptions::default(), None)?;
    /// println!("{} parts, crc64 {}", report.parts, report.crc64);
    /// # Ok::<(), oss_resume::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a path that is not a regular file (a pipe,
    /// FIFO, device or procfs file: stream those with
    /// [`put_stream`](Client::put_stream)) and bad options, [`ErrorKind::Io`] for an
    /// unreadable or changing file, [`ErrorKind::Busy`] when another upload of the
    /// same file to the same key runs, [`ErrorKind::Cancelled`] (checkpoint kept),
    /// [`ErrorKind::CrcMismatch`], and the client's errors.
    pub fn upload(
        &self,
        file: impl AsRef<Path>,
        bucket: &str,
        key: &str,
        opts: &UploadOptions,
        progress: Option<&mut Progress<'_>>,
    ) -> Result<UploadReport> {
        validate_bucket(bucket)?;
        validate_key(key)?;
        opts.validate()?;
        self.upload_inner(file.as_ref(), bucket, key, opts, progress)
            .map_err(|e| e.with_object(bucket, Some(key)))
    }

    fn upload_inner(
        &self,
        path: &Path,
        bucket: &str,
        key: &str,
        opts: &UploadOptions,
        progress: Option<&mut Progress<'_>>,
    ) -> Result<UploadReport> {
        let path = std::path::absolute(path)
            .map_err(|e| Error::io(format!("resolving {}", path.display()), e))?;
        let (file, _) = open_regular(&path)?;
        let identity = FileIdentity::of(&file, &path)?;
        let mut headers = opts.headers.clone();
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("Content-Type".into(), guess_content_type(&path).into()));
        }
        let mut reporter = Reporter::new(progress, identity.size);
        // An empty file has no part to upload: one PutObject, whatever the threshold.
        if identity.size < opts.multipart_threshold || identity.size == 0 {
            return self.upload_single(
                &path,
                &file,
                &identity,
                bucket,
                key,
                &headers,
                opts,
                &mut reporter,
            );
        }
        let part_size = plan_part_size(identity.size, opts.part_size)?;
        let ckpt_path = checkpoint_path(opts, bucket, key, &path)?;
        let none = CancelToken::new();
        let cancel = opts.request.cancel.as_ref().unwrap_or(&none);
        let _lock = TargetLock::acquire(&ckpt_path, opts.wait_if_busy, cancel)?;
        remove_stale_atomic_temps(&ckpt_path);
        let expect = UploadCheckpoint {
            bucket: bucket.into(),
            key: key.into(),
            file: path.clone(),
            identity: identity.clone(),
            part_size,
            upload_id: String::new(),
            initiate_started: 0,
            stopped_initiates: Vec::new(),
            done: Vec::new(),
        };
        let mut begun = self.begin_upload(&ckpt_path, expect, &file, &headers, opts)?;
        let ours = begun.ckpt.upload_id.clone();
        begun.aborted += self.sweep_journal(&ckpt_path, (bucket, key), &ours, &opts.request);
        let before = begun.ckpt.done.len() as u64;
        let plan = Plan::new(identity.size, begun.ckpt.part_size);
        if let Err(e) = self.send_parts(
            &file,
            &mut begun.ckpt,
            &ckpt_path,
            plan,
            opts,
            cancel,
            &mut reporter,
        ) {
            return Err(self.settle_failure(e, &path, &file, &identity, &begun.ckpt, &ckpt_path));
        }
        let put = self.complete_upload(&file, &begun.ckpt, &ckpt_path, opts, &mut begun.aborted)?;
        reporter.report(identity.size, true);
        Ok(UploadReport {
            size: identity.size,
            parts: plan.parts(),
            part_size: plan.part_size,
            parts_uploaded: begun.ckpt.done.len() as u64 - before,
            parts_reused: begun.reused,
            checkpoint: begun.state,
            uploads_aborted: begun.aborted,
            etag: put.etag,
            crc64: put.crc64.unwrap_or_default(),
        })
    }

    /// Settles the checkpoint ([`Client::begin_multipart`]): resumes it with the
    /// listed parts that match the file, or starts a new upload; a new one first
    /// looks for an upload of this file that no usable checkpoint names.
    fn begin_upload(
        &self,
        ckpt_path: &Path,
        expect: UploadCheckpoint,
        file: &File,
        headers: &[(String, String)],
        opts: &UploadOptions,
    ) -> Result<Begun<UploadCheckpoint>> {
        let (bucket, key) = (expect.bucket.clone(), expect.key.clone());
        let size = expect.identity.size;
        let keep = |c: &mut UploadCheckpoint, listed: &[ListedPart]| {
            c.done = reconcile(c, listed, file)?;
            Ok(c.done.len() as u64)
        };
        let initiate = |sent: &mut u32| {
            self.initiate_counted(&bucket, &key, headers, opts.sequential, &opts.request, sent)
        };
        let mut begun = self.begin_multipart(
            ckpt_path,
            expect,
            (&bucket, &key),
            opts.part_size,
            &opts.request,
            keep,
            initiate,
        )?;
        if begun.state != CheckpointState::Resumed {
            // An unusable checkpoint (or none) may have named an upload of this file
            // that is still in progress: found by its parts' bytes and aborted (ours
            // has no part yet). A cleanup: a failed listing does not stop the upload.
            begun.aborted += self
                .abort_uploads_of_file(&bucket, &key, file, size, &opts.request)
                .unwrap_or(0);
        }
        Ok(begun)
    }

    /// Aborts the in-progress uploads of exactly `key` that an earlier run of this
    /// file left with no usable checkpoint naming them: those with parts whose sizes
    /// fit one part size for the file and whose sampled parts (up to
    /// [`SAMPLED_PARTS`], first and last included) have the CRC-64 of the file's
    /// bytes. Their Initiate's headers cannot be checked, so they are aborted, not
    /// resumed. Uploads with no part, or of other bytes, are left alone (another
    /// writer's). Returns how many were aborted.
    fn abort_uploads_of_file(
        &self,
        bucket: &str,
        key: &str,
        file: &File,
        size: u64,
        request: &RequestOptions,
    ) -> Result<u64> {
        let mut aborted = 0;
        let mut buf = vec![0u8; 1 << 20];
        for upload in self.list_multipart_uploads(bucket, key, request)? {
            if upload.key != key {
                continue;
            }
            let parts = match self.list_parts(bucket, key, &upload.upload_id, request) {
                Ok(p) => p,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            // Every part but the last has the part size: the largest.
            let Some(part_size) = parts.iter().map(|p| p.size).max().filter(|p| *p > 0) else {
                continue;
            };
            let plan = Plan::new(size, part_size);
            let fits = parts.iter().all(|p| {
                p.part_number >= 1
                    && u64::from(p.part_number) <= plan.parts()
                    && p.size == plan.len(u64::from(p.part_number) - 1)
            });
            if !fits {
                continue;
            }
            let step = parts.len().div_ceil(SAMPLED_PARTS).max(1);
            let mut sample: Vec<&ListedPart> = parts.iter().step_by(step).collect();
            sample.extend(parts.last());
            let mut ours = true;
            for p in sample {
                let (a, b) = plan.range(u64::from(p.part_number) - 1);
                let crc = crc_of_range(file, a, b - a, &mut buf)
                    .map_err(|e| Error::io("reading the file to upload".to_string(), e))?;
                ours &= p.crc64 == Some(crc);
            }
            if ours
                && self
                    .abort_multipart_upload(bucket, key, &upload.upload_id, request)
                    .is_ok()
            {
                aborted += 1;
            }
        }
        Ok(aborted)
    }

    /// Sends the parts the checkpoint lacks, on the engine.
    #[allow(clippy::too_many_arguments)]
    fn send_parts(
        &self,
        file: &File,
        ckpt: &mut UploadCheckpoint,
        ckpt_path: &Path,
        plan: Plan,
        opts: &UploadOptions,
        cancel: &CancelToken,
        reporter: &mut Reporter<'_, '_>,
    ) -> Result<()> {
        let snapshot = ckpt.clone();
        let work = SendPart {
            client: self,
            ckpt: &snapshot,
            plan,
            file,
            request: &opts.request,
        };
        run_missing_parts(
            ckpt,
            ckpt_path,
            &work,
            (plan, opts.threads, cancel),
            reporter,
        )
    }

    /// Completes the upload once the file is known unchanged: the parts in order,
    /// a lost Complete answer recognised, the object's CRC-64 compared with the
    /// parts', and a last sweep for late stopped Initiates.
    fn complete_upload(
        &self,
        file: &File,
        ckpt: &UploadCheckpoint,
        ckpt_path: &Path,
        opts: &UploadOptions,
        aborted: &mut u64,
    ) -> Result<PutResult> {
        let (bucket, key) = (ckpt.bucket.as_str(), ckpt.key.as_str());
        // The file must not have changed while its parts were read.
        if FileIdentity::of(file, &ckpt.file)? != ckpt.identity {
            let _ = self.abort_multipart_upload(bucket, key, &ckpt.upload_id, &opts.request);
            let _ = fs::remove_file(ckpt_path);
            return Err(changed_during_upload(&ckpt.file));
        }
        let plan = Plan::new(ckpt.identity.size, ckpt.part_size);
        let crcs: Vec<(u64, u64)> = ckpt
            .done
            .iter()
            .map(|(n, _, c)| (u64::from(*n) - 1, *c))
            .collect();
        let combined = plan
            .combine(&crcs)
            .ok_or_else(|| Error::new(ErrorKind::Server, "not every part was uploaded"))?;
        let mut listed: Vec<(u32, String)> =
            ckpt.done.iter().map(|(n, e, _)| (*n, e.clone())).collect();
        listed.sort_by_key(|(n, _)| *n);
        let put = match self.complete_multipart_upload(
            bucket,
            key,
            &ckpt.upload_id,
            &listed,
            &opts.request,
        ) {
            Ok(put) => put,
            // A Complete whose answer was lost: the retry finds the upload gone. The
            // object with our size and CRC proves it was completed.
            Err(e) if e.kind() == ErrorKind::NotFound && e.oss_code() == Some("NoSuchUpload") => {
                let info = self.head_object(bucket, key, &opts.request)?;
                if info.size != ckpt.identity.size || info.crc64 != Some(combined) {
                    return Err(e);
                }
                PutResult {
                    etag: info.etag,
                    crc64: info.crc64,
                }
            }
            Err(e) => return Err(e),
        };
        if let Some(server) = put.crc64
            && server != combined
        {
            return Err(Error::new(
                ErrorKind::CrcMismatch,
                format!("the completed object has crc64 {server}, the file's parts {combined}"),
            ));
        }
        // A stopped Initiate may have reached the server after the sweep made when it
        // was found (requests can be carried out late); ours is complete and no longer
        // listed, so this sweep can only find such a late one.
        if let Ok(n) = self.abort_orphans(bucket, key, &ckpt.stopped_initiates, None, &opts.request)
        {
            *aborted += n;
        }
        // One may land later still: the key's next run sweeps again.
        remember_stopped_initiates(ckpt_path, bucket, key, &ckpt.stopped_initiates);
        let _ = fs::remove_file(ckpt_path);
        Ok(PutResult {
            etag: put.etag,
            crc64: Some(combined),
        })
    }

    /// Sweeps for the stopped Initiates an earlier, completed upload of this key
    /// remembered (see [`remember_stopped_initiates`]), sparing `ours`; forgets the
    /// times that can no longer land. A cleanup: failures are not the run's.
    fn sweep_journal(
        &self,
        ckpt_path: &Path,
        (bucket, key): (&str, &str),
        ours: &str,
        request: &RequestOptions,
    ) -> u64 {
        let path = journal_path(ckpt_path, bucket, key);
        let Ok(Ok(Some(bytes))) = read_checkpoint(&path) else {
            return 0;
        };
        let journal = match SweepJournal::decode(&bytes) {
            Ok(j) if j.bucket == bucket && j.key == key => j,
            _ => {
                let _ = fs::remove_file(&path);
                return 0;
            }
        };
        let live = journal.live(unix_secs(SystemTime::now()), INITIATE_LANDS_WITHIN);
        let aborted = self
            .abort_orphans_sparing(bucket, key, &live, ours, request)
            .unwrap_or(0);
        if live.is_empty() {
            let _ = fs::remove_file(&path);
        } else if live.len() < journal.times.len() {
            let kept = SweepJournal {
                times: live,
                ..journal
            };
            let _ = write_atomic(&path, &kept.encode(), Durability::Fsync);
        }
        aborted
    }

    /// After a failed run: a changed file aborts the upload; anything else keeps the
    /// checkpoint for the next run.
    fn settle_failure(
        &self,
        e: Error,
        path: &Path,
        file: &File,
        identity: &FileIdentity,
        ckpt: &UploadCheckpoint,
        ckpt_path: &Path,
    ) -> Error {
        let changed = e.kind() == ErrorKind::CrcMismatch
            || FileIdentity::of(file, path)
                .map(|i| &i != identity)
                .unwrap_or(false);
        if changed {
            // A cleanup after the failure: not stopped by the run's cancel token.
            let none = RequestOptions::default();
            let _ = self.abort_multipart_upload(&ckpt.bucket, &ckpt.key, &ckpt.upload_id, &none);
            let _ = fs::remove_file(ckpt_path);
            if e.kind() != ErrorKind::CrcMismatch {
                return changed_during_upload(path);
            }
        }
        e
    }

    #[allow(clippy::too_many_arguments)]
    fn upload_single(
        &self,
        path: &Path,
        file: &File,
        identity: &FileIdentity,
        bucket: &str,
        key: &str,
        headers: &[(String, String)],
        opts: &UploadOptions,
        reporter: &mut Reporter<'_, '_>,
    ) -> Result<UploadReport> {
        if !reporter.report(0, true) {
            return Err(Error::new(
                ErrorKind::Cancelled,
                "cancelled by the progress callback",
            ));
        }
        // Content-MD5 of the bytes: if the file changes before they are sent, the
        // server refuses them (InvalidDigest) rather than store a mix.
        let mut md5 = Md5::new();
        let mut buf = vec![0u8; 1 << 20];
        read_range(file, 0, identity.size, &mut buf, |b| md5.update(b)).map_err(|e| {
            if e.kind() == std::io::ErrorKind::UnexpectedEof {
                changed_during_upload(path)
            } else {
                Error::io(format!("reading {}", path.display()), e)
            }
        })?;
        let mut headers = headers.to_vec();
        headers.push((
            "Content-MD5".into(),
            base64::engine::general_purpose::STANDARD.encode(md5.finalize()),
        ));
        let put = self
            .put_object(bucket, key, PutSource::File(path), &headers, &opts.request)
            .map_err(|e| {
                if e.oss_code() == Some("InvalidDigest") {
                    changed_during_upload(path)
                } else {
                    e
                }
            })?;
        reporter.report(identity.size, true);
        Ok(UploadReport {
            size: identity.size,
            parts: 0,
            part_size: 0,
            parts_uploaded: 0,
            parts_reused: 0,
            checkpoint: CheckpointState::NotUsed,
            uploads_aborted: 0,
            etag: put.etag,
            crc64: put.crc64.unwrap_or_else(|| crc64::checksum(&[])),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_is_guessed_from_the_extension() {
        assert_eq!(
            guess_content_type(Path::new("a/b.JSON")),
            "application/json"
        );
        assert_eq!(
            guess_content_type(Path::new("x.tar.gz")),
            "application/gzip"
        );
        assert_eq!(
            guess_content_type(Path::new("noext")),
            "application/octet-stream"
        );
    }
}
