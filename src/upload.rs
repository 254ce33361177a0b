//! Resumable upload: multipart from positioned reads of one open file, checkpointed,
//! reconciled with the server's ListParts on resume, CRC-checked end to end, and never
//! leaving an orphaned upload behind when it is superseded.

use std::collections::VecDeque;
use std::fs::{self, File};
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Mutex, mpsc};
use std::time::{Duration, SystemTime};

use base64::Engine;
use md5::{Digest as _, Md5};

use crate::checkpoint::{decode_record, encode_record, identity_hash, write_atomic};
use crate::client::{Client, PartSource, PutSource, RequestOptions};
use crate::config::{validate_bucket, validate_key};
use crate::crc64::{self, Crc64};
use crate::download::{
    CheckpointState, Progress, Reporter, TargetLock, part_range, plan_part_size,
};
use crate::error::{Error, ErrorKind, Result};

const UPLOAD_MAGIC: &str = "oss_resume upload checkpoint v1";
/// Default threshold below which a file takes one PutObject: 10 MiB.
pub const DEFAULT_MULTIPART_THRESHOLD: u64 = 10 * 1024 * 1024;
/// Bytes read from each end of the file for its identity.
const IDENTITY_SPAN: u64 = 1024 * 1024;

/// Options of [`Client::upload`].
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
    /// Worker threads, one connection each. Defaults to 4.
    pub threads: usize,
    /// Ask OSS to require parts in order (`?sequential`). Defaults to false.
    pub sequential: bool,
    /// Request payer and traffic limit, sent on every request.
    pub request: RequestOptions,
}

impl Default for UploadOptions {
    fn default() -> Self {
        UploadOptions {
            checkpoint_dir: None,
            headers: Vec::new(),
            multipart_threshold: DEFAULT_MULTIPART_THRESHOLD,
            part_size: None,
            threads: 4,
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

/// What identifies a file's contents cheaply: size, modification time, inode and
/// device, and the CRC-64 of its first and last MiB.
#[derive(Debug, Clone, PartialEq, Eq)]
struct FileIdentity {
    size: u64,
    mtime_ns: i128,
    ino: u64,
    dev: u64,
    head_crc: u64,
    tail_crc: u64,
}

fn crc_of_range(file: &File, offset: u64, len: u64, buf: &mut [u8]) -> std::io::Result<u64> {
    let mut crc = Crc64::new();
    let mut done = 0;
    while done < len {
        let want = buf
            .len()
            .min(usize::try_from(len - done).unwrap_or(buf.len()));
        let n = file.read_at(&mut buf[..want], offset + done)?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "the file shrank while it was read",
            ));
        }
        crc.update(&buf[..n]);
        done += n as u64;
    }
    Ok(crc.value())
}

impl FileIdentity {
    fn of(file: &File, path: &Path) -> Result<FileIdentity> {
        let io = |e| Error::io(format!("reading {}", path.display()), e);
        let m = file.metadata().map_err(io)?;
        let mut buf = vec![0u8; 256 * 1024];
        let size = m.len();
        let head = size.min(IDENTITY_SPAN);
        let tail_start = size.saturating_sub(IDENTITY_SPAN);
        Ok(FileIdentity {
            size,
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ino: m.ino(),
            dev: m.dev(),
            head_crc: crc_of_range(file, 0, head, &mut buf).map_err(io)?,
            tail_crc: crc_of_range(file, tail_start, size - tail_start, &mut buf).map_err(io)?,
        })
    }
}

/// Everything an upload checkpoint records (no credential).
#[derive(Debug, Clone, PartialEq, Eq)]
struct UploadCheckpoint {
    bucket: String,
    key: String,
    file: PathBuf,
    identity: FileIdentity,
    part_size: u64,
    /// Empty while InitiateMultipartUpload is in flight: the checkpoint is then a
    /// marker that lets the next run find the upload a crash left unrecorded.
    upload_id: String,
    /// When the in-flight Initiate started (seconds since the epoch, our clock); 0
    /// once the upload id is known.
    initiate_started: u64,
    /// Start times of earlier runs' Initiates that were stopped before their answer
    /// was recorded (at most [`MAX_STOPPED_INITIATES`], newest kept). Each was swept
    /// for when found; the run that completes the upload sweeps again, in case one
    /// reached the server after that.
    stopped_initiates: Vec<u64>,
    /// Finished parts: (number, ETag, CRC-64).
    done: Vec<(u32, String, u64)>,
}

/// How many stopped Initiates a checkpoint remembers.
const MAX_STOPPED_INITIATES: usize = 16;

impl UploadCheckpoint {
    fn encode(&self) -> Vec<u8> {
        let i = &self.identity;
        let fields = [
            ("bucket", self.bucket.clone()),
            ("key", self.key.clone()),
            ("file", self.file.to_string_lossy().into_owned()),
            ("size", i.size.to_string()),
            ("mtime_ns", i.mtime_ns.to_string()),
            ("ino", i.ino.to_string()),
            ("dev", i.dev.to_string()),
            ("head_crc", i.head_crc.to_string()),
            ("tail_crc", i.tail_crc.to_string()),
            ("part_size", self.part_size.to_string()),
            ("upload_id", self.upload_id.clone()),
            ("initiate_started", self.initiate_started.to_string()),
            (
                "stopped_initiates",
                self.stopped_initiates
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ];
        let items: Vec<String> = self
            .done
            .iter()
            .map(|(n, etag, crc)| {
                format!("{n} {crc} {}", crate::signing::percent_encode(etag, false))
            })
            .collect();
        encode_record(UPLOAD_MAGIC, &fields, &items)
    }

    fn decode(bytes: &[u8]) -> std::result::Result<UploadCheckpoint, String> {
        let mut r = decode_record(bytes, UPLOAD_MAGIC)?;
        let mut done = Vec::new();
        for item in &r.items {
            let mut it = item.splitn(3, ' ');
            let (n, crc, etag) = match (it.next(), it.next(), it.next()) {
                (Some(n), Some(c), Some(e)) => (n, c, e),
                _ => return Err(format!("malformed part line {item:?}")),
            };
            let n: u32 = n
                .parse()
                .map_err(|_| format!("bad part number in {item:?}"))?;
            let crc: u64 = crc
                .parse()
                .map_err(|_| format!("bad part crc in {item:?}"))?;
            let etag = percent_encoding::percent_decode_str(etag)
                .decode_utf8()
                .map_err(|_| "bad etag".to_string())?
                .into_owned();
            done.push((n, etag, crc));
        }
        let mtime_ns: i128 = r
            .take("mtime_ns")?
            .parse()
            .map_err(|_| "field mtime_ns is not a number".to_string())?;
        Ok(UploadCheckpoint {
            bucket: r.take("bucket")?,
            key: r.take("key")?,
            file: PathBuf::from(r.take("file")?),
            identity: FileIdentity {
                size: r.take_u64("size")?,
                mtime_ns,
                ino: r.take_u64("ino")?,
                dev: r.take_u64("dev")?,
                head_crc: r.take_u64("head_crc")?,
                tail_crc: r.take_u64("tail_crc")?,
            },
            part_size: r.take_u64("part_size")?,
            upload_id: r.take("upload_id")?,
            // Absent from checkpoints written before the field existed: not pending.
            initiate_started: match r.take("initiate_started") {
                Err(_) => 0,
                Ok(v) => v
                    .parse()
                    .map_err(|_| "field initiate_started is not a number".to_string())?,
            },
            // Absent from checkpoints written before the field existed: none.
            stopped_initiates: match r.take("stopped_initiates") {
                Err(_) => Vec::new(),
                Ok(v) => v
                    .split_whitespace()
                    .map(|t| t.parse::<u64>())
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| "field stopped_initiates is not a list of numbers".to_string())?,
            },
            done,
        })
    }
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

fn checkpoint_name(bucket: &str, key: &str, file: &Path) -> String {
    format!(
        "{}.upload",
        identity_hash(&[bucket, key, &file.to_string_lossy()])
    )
}

/// How far from a crashed Initiate's start (moved to the server's clock) an
/// unrecorded upload of the same key is taken to be its: 2 minutes, for Initiate's
/// retries and the skew estimate's whole seconds.
const ORPHAN_WINDOW: u64 = 120;

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

fn changed_during_upload(path: &Path) -> Error {
    Error::new(
        ErrorKind::Io,
        format!(
            "{} changed during the upload; the upload was aborted and no object was written",
            path.display()
        ),
    )
}

enum Event {
    Done {
        number: u32,
        etag: String,
        crc: u64,
        len: u64,
    },
    Failed(Error),
}

impl Client {
    /// Uploads a local file to `bucket/key`, resumably.
    ///
    /// Files below the multipart threshold take one PutObject with Content-MD5.
    /// Larger ones: initiate (with the headers), parallel UploadPart from positioned
    /// reads of one open file (each part's CRC-64 checked against the answer), a
    /// checkpoint updated as parts finish, Complete with the parts in order, and the
    /// combined CRC compared with the object's. On resume the server's ListParts is
    /// the truth: parts missing or disagreeing are sent again; a vanished upload
    /// starts anew; a changed file discards the checkpoint and aborts the old upload.
    /// A file that changes during the upload aborts it: never a corrupt object.
    ///
    /// Blocking; threads are started and joined inside; `progress` runs on the
    /// calling thread, its last call at 100% after Complete succeeded.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] for an unreadable or changing file, [`ErrorKind::Busy`] when
    /// another upload of the same file to the same key runs, [`ErrorKind::Cancelled`]
    /// (checkpoint kept), [`ErrorKind::CrcMismatch`], and the client's errors.
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
        let file =
            File::open(&path).map_err(|e| Error::io(format!("opening {}", path.display()), e))?;
        if file.metadata().map(|m| m.is_dir()).unwrap_or(false) {
            return Err(Error::invalid(format!("{} is a directory", path.display())));
        }
        let identity = FileIdentity::of(&file, &path)?;
        let mut headers = opts.headers.clone();
        if !headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
        {
            headers.push(("Content-Type".into(), guess_content_type(&path).into()));
        }
        let mut reporter = Reporter::new(progress, identity.size);
        if identity.size < opts.multipart_threshold {
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
        let ckpt_dir = opts
            .checkpoint_dir
            .clone()
            .unwrap_or_else(default_checkpoint_dir);
        fs::create_dir_all(&ckpt_dir).map_err(|e| {
            Error::io(
                format!("creating the checkpoint directory {}", ckpt_dir.display()),
                e,
            )
        })?;
        let ckpt_path = ckpt_dir.join(checkpoint_name(bucket, key, &path));
        let _lock = TargetLock::acquire(&ckpt_path, false)?;

        let mut aborted = 0u64;
        let mut reused = 0u64;
        let mut state = CheckpointState::NotFound;
        let mut ckpt: Option<UploadCheckpoint> = None;
        // Stopped Initiates the earlier runs of this upload left to sweep for.
        let mut stopped: Vec<u64> = Vec::new();
        match fs::read(&ckpt_path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => state = CheckpointState::Discarded(format!("unreadable: {e}")),
            Ok(bytes) => match UploadCheckpoint::decode(&bytes) {
                Err(why) => state = CheckpointState::Discarded(why),
                Ok(c) if c.bucket != bucket || c.key != key || c.file != path => {
                    state = CheckpointState::Discarded("it belongs to another upload".into());
                }
                Ok(c) if c.upload_id.is_empty() => {
                    // A run stopped between starting Initiate and recording its answer:
                    // the upload it may have made is found by key and time, and aborted.
                    stopped = c.stopped_initiates.clone();
                    stopped.push(c.initiate_started);
                    let excess = stopped.len().saturating_sub(MAX_STOPPED_INITIATES);
                    stopped.drain(..excess);
                    let found = self.abort_orphans(bucket, key, &stopped, None)?;
                    aborted += found;
                    state = CheckpointState::Discarded(format!(
                        "an earlier run stopped while starting its upload; {found} unrecorded upload(s) aborted"
                    ));
                }
                Ok(c) => {
                    stopped = c.stopped_initiates.clone();
                    let why = if c.identity != identity {
                        Some("the file changed since the checkpoint was written".to_string())
                    } else if c.part_size != part_size && opts.part_size.is_some() {
                        Some(format!(
                            "the part size changed ({} then, {part_size} now)",
                            c.part_size
                        ))
                    } else {
                        None
                    };
                    match why {
                        Some(why) => {
                            // Superseded: abort it so its parts are not left to bill.
                            if self
                                .abort_multipart_upload(bucket, key, &c.upload_id)
                                .is_ok()
                            {
                                aborted += 1;
                            }
                            state = CheckpointState::Discarded(why);
                        }
                        None => match self.list_parts(bucket, key, &c.upload_id) {
                            Ok(listed) => {
                                // ListParts is the truth: keep only parts it confirms.
                                let mut c = c;
                                c.done.retain(|(n, etag, crc)| {
                                    let (a, b) =
                                        part_range(u64::from(*n) - 1, c.part_size, identity.size);
                                    listed.iter().any(|p| {
                                        p.part_number == *n
                                            && p.etag.trim_matches('"') == etag.trim_matches('"')
                                            && p.size == b - a
                                            && p.crc64.is_none_or(|x| x == *crc)
                                    })
                                });
                                reused = c.done.len() as u64;
                                state = CheckpointState::Resumed;
                                ckpt = Some(c);
                            }
                            Err(e) if e.kind() == ErrorKind::NotFound => {
                                state = CheckpointState::Discarded(
                                    "its upload no longer exists on the server".into(),
                                );
                            }
                            Err(e) => return Err(e),
                        },
                    }
                }
            },
        }
        let mut ckpt = match ckpt {
            Some(c) => c,
            None => self.start_upload(
                &ckpt_path,
                UploadCheckpoint {
                    bucket: bucket.into(),
                    key: key.into(),
                    file: path.clone(),
                    identity: identity.clone(),
                    part_size,
                    upload_id: String::new(),
                    initiate_started: 0,
                    stopped_initiates: stopped,
                    done: Vec::new(),
                },
                &headers,
                opts,
                &mut aborted,
            )?,
        };
        let part_size = ckpt.part_size;
        let parts = identity.size.div_ceil(part_size);
        let reused_bytes: u64 = ckpt
            .done
            .iter()
            .map(|(n, _, _)| {
                let (a, b) = part_range(u64::from(*n) - 1, part_size, identity.size);
                b - a
            })
            .sum();
        let before = ckpt.done.len() as u64;
        let sent = self.upload_parts(
            &file,
            &path,
            &mut ckpt,
            &ckpt_path,
            opts,
            reused_bytes,
            &mut reporter,
        );
        if let Err(e) = sent {
            return Err(self.settle_failure(e, &path, &file, &identity, &ckpt, &ckpt_path));
        }
        // The file must not have changed while its parts were read.
        if FileIdentity::of(&file, &path)? != identity {
            let _ = self.abort_multipart_upload(bucket, key, &ckpt.upload_id);
            let _ = fs::remove_file(&ckpt_path);
            return Err(changed_during_upload(&path));
        }
        let mut done = ckpt.done.clone();
        done.sort_by_key(|(n, _, _)| *n);
        let mut combined = 0u64;
        for (n, _, crc) in &done {
            let (a, b) = part_range(u64::from(*n) - 1, part_size, identity.size);
            combined = crc64::combine(combined, *crc, b - a);
        }
        let listed: Vec<(u32, String)> = done.iter().map(|(n, e, _)| (*n, e.clone())).collect();
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
                if info.size != identity.size || info.crc64 != Some(combined) {
                    return Err(e);
                }
                crate::client::PutResult {
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
        if let Ok(n) = self.abort_orphans(bucket, key, &ckpt.stopped_initiates, None) {
            aborted += n;
        }
        let _ = fs::remove_file(&ckpt_path);
        reporter.report(identity.size, true);
        Ok(UploadReport {
            size: identity.size,
            parts,
            part_size,
            parts_uploaded: ckpt.done.len() as u64 - before,
            parts_reused: reused,
            checkpoint: state,
            uploads_aborted: aborted,
            etag: put.etag,
            crc64: combined,
        })
    }

    /// Initiates the multipart upload of `ckpt` so that no upload can be left that no
    /// checkpoint names: a marker checkpoint (no upload id, the start time) is written
    /// first, and replaced by the real one once the id is known. Uploads of the same
    /// key made by retries of a lost Initiate answer are aborted.
    fn start_upload(
        &self,
        ckpt_path: &Path,
        mut ckpt: UploadCheckpoint,
        headers: &[(String, String)],
        opts: &UploadOptions,
        aborted: &mut u64,
    ) -> Result<UploadCheckpoint> {
        let (bucket, key) = (ckpt.bucket.clone(), ckpt.key.clone());
        let started = SystemTime::now();
        let since = unix_secs(started);
        ckpt.initiate_started = since;
        write_atomic(ckpt_path, &ckpt.encode())
            .map_err(|e| Error::io(format!("writing the checkpoint {}", ckpt_path.display()), e))?;
        let mut sent = 0;
        let upload_id = match self.initiate_counted(
            &bucket,
            &key,
            headers,
            opts.sequential,
            &opts.request,
            &mut sent,
        ) {
            Ok(id) => id,
            Err(e) => {
                // The server may have made the upload and lost the answer. Clean up
                // now if we can; otherwise the marker stays for the next run.
                // The marker also stays while it carries earlier stopped Initiates.
                if let Ok(n) = self.abort_orphans(&bucket, &key, &[since], None) {
                    *aborted += n;
                    if ckpt.stopped_initiates.is_empty() {
                        let _ = fs::remove_file(ckpt_path);
                    }
                }
                return Err(e);
            }
        };
        ckpt.upload_id = upload_id;
        ckpt.initiate_started = 0;
        if let Err(e) = write_atomic(ckpt_path, &ckpt.encode()) {
            let _ = self.abort_multipart_upload(&bucket, &key, &ckpt.upload_id);
            let _ = fs::remove_file(ckpt_path);
            return Err(Error::io(
                format!("writing the checkpoint {}", ckpt_path.display()),
                e,
            ));
        }
        // An Initiate that was sent again may have made an upload on an earlier
        // attempt whose answer was lost: that one is ours too, from within the seconds
        // the call took (plus 2 s for the server's whole-second times).
        let took = started.elapsed().unwrap_or_default().as_secs();
        if sent > 1
            && let Ok(n) = self.abort_orphans(&bucket, &key, &[], Some((&ckpt.upload_id, took + 2)))
        {
            *aborted += n;
        }
        Ok(ckpt)
    }

    /// Aborts the uploads of exactly `key` that an interrupted Initiate of ours may
    /// have made, with one listing. With `ours` (our upload id and how long our
    /// Initiate took, in seconds), they are the others initiated up to that long before
    /// ours, by the server's clock. Without it (crashes left only the start times
    /// `stopped`, by our clock), they are those initiated within [`ORPHAN_WINDOW`] of
    /// any of them, moved to the server's clock by the skew its listing's `Date` shows
    /// (our clock and the server's may be minutes apart; signatures allow 15).
    ///
    /// Another writer starting an upload of the same key in that window would lose
    /// it (and, with this library, start anew): writers of one key already race.
    fn abort_orphans(
        &self,
        bucket: &str,
        key: &str,
        stopped: &[u64],
        ours: Option<(&str, u64)>,
    ) -> Result<u64> {
        if ours.is_none() && stopped.is_empty() {
            return Ok(0);
        }
        let (listed, skew) = self.list_multipart_uploads_skew(bucket, key)?;
        let windows: Vec<(u64, u64)> = match ours {
            Some((id, took)) => {
                let Some(t) = listed
                    .iter()
                    .find(|u| u.upload_id == id)
                    .and_then(|m| m.initiated)
                else {
                    return Ok(0);
                };
                let end = unix_secs(t);
                vec![(end.saturating_sub(took), end)]
            }
            None => stopped
                .iter()
                .map(|since| {
                    let since = since.saturating_add_signed(skew.unwrap_or(0));
                    (
                        since.saturating_sub(ORPHAN_WINDOW),
                        since.saturating_add(ORPHAN_WINDOW),
                    )
                })
                .collect(),
        };
        let mut aborted = 0;
        for upload in &listed {
            let Some(initiated) = upload.initiated.map(unix_secs) else {
                continue;
            };
            if upload.key != key
                || ours.is_some_and(|(id, _)| id == upload.upload_id)
                || !windows.iter().any(|w| (w.0..=w.1).contains(&initiated))
            {
                continue;
            }
            if self
                .abort_multipart_upload(bucket, key, &upload.upload_id)
                .is_ok()
            {
                aborted += 1;
            }
        }
        Ok(aborted)
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
            let _ = self.abort_multipart_upload(&ckpt.bucket, &ckpt.key, &ckpt.upload_id);
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
        let mut offset = 0;
        while offset < identity.size {
            let want = buf
                .len()
                .min(usize::try_from(identity.size - offset).unwrap_or(buf.len()));
            let n = file
                .read_at(&mut buf[..want], offset)
                .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
            if n == 0 {
                return Err(changed_during_upload(path));
            }
            md5.update(&buf[..n]);
            offset += n as u64;
        }
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

    #[allow(clippy::too_many_arguments)]
    fn upload_parts(
        &self,
        file: &File,
        path: &Path,
        ckpt: &mut UploadCheckpoint,
        ckpt_path: &Path,
        opts: &UploadOptions,
        reused_bytes: u64,
        reporter: &mut Reporter<'_, '_>,
    ) -> Result<()> {
        let size = ckpt.identity.size;
        let part_size = ckpt.part_size;
        let parts = size.div_ceil(part_size);
        let pending: VecDeque<u32> = (1..=parts as u32)
            .filter(|n| !ckpt.done.iter().any(|(d, _, _)| d == n))
            .collect();
        // 100% is reported only after Complete, even when every part was reused.
        if !reporter.report(reused_bytes.min(size.saturating_sub(1)), true) {
            return Err(Error::new(
                ErrorKind::Cancelled,
                "cancelled by the progress callback",
            ));
        }
        if pending.is_empty() {
            return Ok(());
        }
        let workers = opts.threads.clamp(1, 64).min(pending.len());
        let queue = Mutex::new(pending);
        let cancel = AtomicBool::new(false);
        let (bucket, key, upload_id) = (
            ckpt.bucket.clone(),
            ckpt.key.clone(),
            ckpt.upload_id.clone(),
        );
        let mut failure: Option<Error> = None;
        let mut sent = 0u64;
        // Bytes of the part each worker is sending, so progress moves within parts. A
        // worker zeroes its slot before it reports the part done, so no byte is counted
        // twice; a retried part restarts its slot at 0, which `shown` (the highest value
        // reported so far) keeps from showing as a step back.
        let in_flight: Vec<AtomicU64> = (0..workers).map(|_| AtomicU64::new(0)).collect();
        let mut shown = reused_bytes;
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel();
            for slot in &in_flight {
                let tx = tx.clone();
                let (queue, cancel) = (&queue, &cancel);
                let (bucket, key, upload_id) = (&bucket, &key, &upload_id);
                scope.spawn(move || {
                    let mut buf = vec![0u8; 1 << 20];
                    while !cancel.load(Ordering::Relaxed) {
                        let Some(number) = queue.lock().ok().and_then(|mut q| q.pop_front()) else {
                            break;
                        };
                        let (a, b) = part_range(u64::from(number) - 1, part_size, size);
                        let result = crc_of_range(file, a, b - a, &mut buf)
                            .map_err(|e| Error::io(format!("reading {}", path.display()), e))
                            .and_then(|crc| {
                                self.upload_part_counted(
                                    bucket,
                                    key,
                                    upload_id,
                                    number,
                                    PartSource::File {
                                        file,
                                        offset: a,
                                        len: b - a,
                                        crc64: crc,
                                    },
                                    &opts.request,
                                    Some(slot),
                                )
                            });
                        slot.store(0, Ordering::Relaxed);
                        let event = match result {
                            Ok(p) => Event::Done {
                                number,
                                etag: p.etag,
                                crc: p.crc64,
                                len: b - a,
                            },
                            Err(e) => Event::Failed(e),
                        };
                        let failed = matches!(event, Event::Failed(_));
                        let _ = tx.send(event);
                        if failed {
                            break;
                        }
                    }
                });
            }
            drop(tx);
            loop {
                let event = match rx.recv_timeout(Duration::from_millis(50)) {
                    Ok(ev) => Some(ev),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                };
                match event {
                    Some(Event::Done {
                        number,
                        etag,
                        crc,
                        len,
                    }) => {
                        sent += len;
                        ckpt.done.push((number, etag, crc));
                        if let Err(e) = write_atomic(ckpt_path, &ckpt.encode()) {
                            cancel.store(true, Ordering::Relaxed);
                            failure.get_or_insert(Error::io(
                                format!("writing the checkpoint {}", ckpt_path.display()),
                                e,
                            ));
                        }
                    }
                    Some(Event::Failed(e)) => {
                        // After one part fails the others stop taking work.
                        cancel.store(true, Ordering::Relaxed);
                        failure.get_or_insert(e);
                    }
                    None => {}
                }
                let moving: u64 = in_flight.iter().map(|s| s.load(Ordering::Relaxed)).sum();
                // 100% is reported only after Complete: hold the last byte back.
                shown = shown.max((reused_bytes + sent + moving).min(size.saturating_sub(1)));
                if !cancel.load(Ordering::Relaxed) && !reporter.report(shown, false) {
                    cancel.store(true, Ordering::Relaxed);
                    failure.get_or_insert(Error::new(
                        ErrorKind::Cancelled,
                        "cancelled by the progress callback",
                    ));
                }
            }
        });
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips_and_refuses_corruption() {
        let c = UploadCheckpoint {
            bucket: "b".into(),
            key: "k with space".into(),
            file: PathBuf::from("/tmp/f"),
            identity: FileIdentity {
                size: 10,
                mtime_ns: -5,
                ino: 1,
                dev: 2,
                head_crc: 3,
                tail_crc: 4,
            },
            part_size: 102_400,
            upload_id: "U1".into(),
            initiate_started: 0,
            stopped_initiates: vec![1_790_000_000, 1_790_000_100],
            done: vec![(1, "\"ETAG 1\"".into(), 99)],
        };
        let bytes = c.encode();
        assert_eq!(UploadCheckpoint::decode(&bytes).unwrap(), c);
        let none = UploadCheckpoint {
            stopped_initiates: Vec::new(),
            ..c.clone()
        };
        assert_eq!(UploadCheckpoint::decode(&none.encode()).unwrap(), none);
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(UploadCheckpoint::decode(&bad).is_err());
        assert!(!String::from_utf8(bytes).unwrap().contains("secret"));
    }

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
