//! Server-side copy that resumes: one CopyObject below a threshold, above it a
//! multipart copy whose part is an UploadPartCopy of a range of the source, pinned
//! with `x-oss-copy-source-if-match` to the source's ETag. No object byte passes
//! through the client. The engine (`crate::transfer`) runs the parts; finished parts
//! are recorded in a checkpoint like an upload's.
//!
//! What proves a part right, since its bytes are never read here: every
//! UploadPartCopy into the checkpoint's upload carried the same source ETag (a
//! changed source is 412, never copied), and the upload was made for this source,
//! this metadata and this part size (the checkpoint says so, and a checkpoint for
//! anything else is superseded and its upload aborted). So on resume a part that
//! ListParts shows with the planned size is kept, recorded or not (a crash between
//! its answer and its record). The end-to-end check is the CRC-64: the parts' CRCs
//! (from the answers, or ListParts) combined must equal the source's before
//! Complete is sent (otherwise the upload is aborted and no object is made), and
//! the completed object's CRC-64 must equal the source's.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicU64;

use crate::checkpoint::copy::{CopyCheckpoint, SourceIdentity};
use crate::checkpoint::{CheckpointState, identity_hash};
use crate::client::{Client, CopySource, ObjectInfo, PutResult, RequestOptions};
use crate::config::{validate_bucket, validate_key, validate_user_headers};
use crate::error::{Error, ErrorKind, OssErrorDetails, Result};
use crate::stream::GetOptions;
use crate::transfer::cancel::CancelToken;
use crate::transfer::fsio::remove_stale_atomic_temps;
use crate::transfer::lock::TargetLock;
use crate::transfer::multipart::run_missing_parts;
use crate::transfer::plan::{Plan, check_threads, part_number, plan_part_size};
use crate::transfer::pool::PartWork;
use crate::transfer::progress::{Progress, Reporter};
use crate::xml::ListedPart;

/// Default threshold below which a copy is one CopyObject: 1 GiB, the largest
/// source OSS's CopyObject copies. (Crate-private, as the other defaults of the C
/// header's options are stated in words: cbindgen exports every `pub` constant.)
pub(crate) const DEFAULT_THRESHOLD: u64 = 1024 * 1024 * 1024;

/// Part size of a multipart copy when none is given: 64 MiB. Copied parts cost
/// requests, not bytes through the client, so they are larger than an upload's.
pub(crate) const DEFAULT_PART_SIZE: u64 = 64 * 1024 * 1024;

/// The metadata a copy gets.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum CopyMetadata {
    /// The source's: Content-Type, Cache-Control, Content-Disposition,
    /// Content-Encoding, Content-Language, Expires and every `x-oss-meta-*`.
    #[default]
    Copy,
    /// These headers instead (Content-Type, `x-oss-meta-*`, `x-oss-object-acl`,
    /// `x-oss-storage-class`, ...), under the rules of
    /// [`Client::put_object`]; the `x-oss-copy-source*`,
    /// `x-oss-metadata-directive` and `x-oss-forbid-overwrite` headers are set by
    /// the copy and refused here.
    Replace(Vec<(String, String)>),
}

/// Options of [`Client::copy`]. Start from `CopyOptions::default()` and set the
/// fields you need (the struct may gain fields); they are checked together by
/// [`validate`](Self::validate) when the copy starts.
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct CopyOptions {
    /// Where the checkpoint of a multipart copy is kept. Defaults to
    /// `$HOME/.oss_resume/copy` (the system temporary directory when HOME is unset).
    pub checkpoint_dir: Option<PathBuf>,
    /// The copy's metadata. Defaults to [`CopyMetadata::Copy`].
    pub metadata: CopyMetadata,
    /// Sources smaller than this take one CopyObject. Defaults to
    /// 1 GiB (OSS's CopyObject limit); a CopyObject the server refuses as too
    /// large (`EntityTooLarge`) becomes a multipart copy whatever this says.
    pub threshold: u64,
    /// Part size, 100 KB..=5 GB, grown so there are at most 10,000 parts. Defaults
    /// to 64 MiB (copied parts cost requests, not bytes through the client).
    pub part_size: Option<u64>,
    /// Parts copied at once, 1..=[`MAX_THREADS`](crate::MAX_THREADS). Defaults to 4.
    pub threads: usize,
    /// Refuse to replace an existing destination (`x-oss-forbid-overwrite`); the
    /// call then fails with the server's 409 `FileAlreadyExists`. Defaults to false.
    pub forbid_overwrite: bool,
    /// When the server will not copy between the two ends (it answers 403 or 501 to
    /// the copy), copy through the client instead with
    /// [`Client::copy_stream`]; [`CopyReport::path`] says so. Defaults to false.
    pub allow_stream_fallback: bool,
    /// When another copy to the same destination from the same source holds its
    /// checkpoint, wait for it instead of failing with [`ErrorKind::Busy`].
    /// Defaults to false.
    pub wait_if_busy: bool,
    /// Request payer, traffic limit and cancel token, for every request. A version
    /// id is refused (copying a version is not supported).
    pub request: RequestOptions,
}

impl Default for CopyOptions {
    fn default() -> Self {
        CopyOptions {
            checkpoint_dir: None,
            metadata: CopyMetadata::Copy,
            threshold: DEFAULT_THRESHOLD,
            part_size: None,
            threads: 4,
            forbid_overwrite: false,
            allow_stream_fallback: false,
            wait_if_busy: false,
            request: RequestOptions::default(),
        }
    }
}

/// How a copy was made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CopyPath {
    /// One CopyObject, on the server.
    CopyObject,
    /// A multipart copy of UploadPartCopy parts, on the server.
    UploadPartCopy,
    /// Through the client ([`Client::copy_stream`]): the server would not copy.
    Stream,
}

/// What a copy did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyReport {
    /// The source's size.
    pub size: u64,
    /// How the copy was made.
    pub path: CopyPath,
    /// Parts of a multipart copy (0 otherwise).
    pub parts: u64,
    /// The part size used (0 when not multipart).
    pub part_size: u64,
    /// Parts copied by this call.
    pub parts_copied: u64,
    /// Parts found on the server from an earlier run, and kept.
    pub parts_reused: u64,
    /// What became of the checkpoint ([`CheckpointState::NotUsed`] unless multipart).
    pub checkpoint: CheckpointState,
    /// Uploads aborted because they were superseded or left by a stopped Initiate.
    pub uploads_aborted: u64,
    /// The copy's ETag.
    pub etag: String,
    /// The copy's CRC-64, equal to the source's, when the server reports them.
    pub crc64: Option<u64>,
}

fn default_checkpoint_dir() -> PathBuf {
    match std::env::var_os("HOME").filter(|h| !h.is_empty()) {
        Some(home) => PathBuf::from(home).join(".oss_resume").join("copy"),
        None => std::env::temp_dir().join("oss_resume-copy"),
    }
}

fn checkpoint_path(
    opts: &CopyOptions,
    source: &SourceIdentity,
    dst: (&str, &str),
) -> Result<PathBuf> {
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
    let name = identity_hash(&[&source.bucket, &source.key, dst.0, dst.1]);
    Ok(dir.join(format!("{name}.copy")))
}

/// Whether a header is one the copy sets itself.
fn set_by_copy(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    n.starts_with("x-oss-copy-source")
        || n == "x-oss-metadata-directive"
        || n == "x-oss-forbid-overwrite"
}

fn check_options(opts: &CopyOptions) -> Result<()> {
    check_threads(opts.threads)?;
    if let Some(p) = opts.part_size {
        plan_part_size(0, Some(p))?;
    }
    if opts.request.version_id.is_some() {
        return Err(Error::invalid(
            "copying a version (version_id) is not supported",
        ));
    }
    if let CopyMetadata::Replace(headers) = &opts.metadata {
        validate_user_headers(headers)?;
        if let Some((name, _)) = headers.iter().find(|(n, _)| set_by_copy(n)) {
            return Err(Error::invalid(format!(
                "header {name:?} is set by the copy and cannot be given"
            )));
        }
    }
    opts.request.validate()
}

impl CopyOptions {
    /// Checks the options a copy cannot start with: threads outside
    /// 1..=[`MAX_THREADS`](crate::MAX_THREADS), a part size outside 100 KB..=5 GB, a
    /// version id, a traffic limit outside OSS's bounds, and replaced metadata with
    /// a header the copy sets itself or one [`Client::put_object`] refuses. The one
    /// place they are checked, called when a copy starts.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the option.
    pub fn validate(&self) -> Result<()> {
        check_options(self)
    }
}

/// Whether the server refused to copy between these ends (another region, copying
/// not allowed or not implemented), as opposed to failing the copy.
fn cannot_copy_on_server(e: &Error) -> bool {
    matches!(e.status(), Some(501)) || e.oss_code() == Some("AccessDenied")
}

fn already_exists(bucket: &str, key: &str) -> Error {
    Error::from_oss(
        409,
        OssErrorDetails {
            code: "FileAlreadyExists".into(),
            message: "the destination exists and forbid_overwrite is set".into(),
            ..OssErrorDetails::default()
        },
    )
    .with_object(bucket, Some(key))
}

fn crc_differs(what: &str, theirs: u64, source: u64) -> Error {
    Error::new(
        ErrorKind::CrcMismatch,
        format!("{what} has crc64 {theirs}, the source {source}"),
    )
}

/// One part: an UploadPartCopy of the source's bytes `[start, end)`.
struct CopyPart<'a> {
    client: &'a Client,
    ckpt: &'a CopyCheckpoint,
    plan: Plan,
    request: &'a RequestOptions,
}

impl PartWork for CopyPart<'_> {
    /// The part's ETag and CRC-64 (when the answer has one).
    type Done = (String, Option<u64>);

    fn run(&self, index: u64, _meter: &AtomicU64, cancel: &CancelToken) -> Result<Self::Done> {
        let (a, b) = self.plan.range(index);
        let request = RequestOptions {
            cancel: Some(cancel.clone()),
            ..self.request.clone()
        };
        let s = &self.ckpt.source;
        let source = CopySource {
            bucket: &s.bucket,
            key: &s.key,
            etag: &s.etag,
        };
        let part = self.client.upload_part_copy(
            &source,
            &self.ckpt.bucket,
            &self.ckpt.key,
            &self.ckpt.upload_id,
            part_number(index),
            (a, b - 1),
            &request,
        )?;
        Ok((part.etag, part.crc64))
    }
}

/// The parts of `ckpt`'s upload to keep, with ListParts as the truth: every listed
/// part of the plan with the planned size (see the module's note on why that
/// proves it), with the listed ETag and CRC-64.
fn reconcile(ckpt: &CopyCheckpoint, listed: &[ListedPart]) -> Vec<(u32, String, Option<u64>)> {
    let plan = Plan::new(ckpt.source.size, ckpt.part_size);
    let mut keep: Vec<(u32, String, Option<u64>)> = Vec::new();
    for p in listed {
        let n = p.part_number;
        if n == 0
            || u64::from(n) > plan.parts()
            || p.size != plan.len(u64::from(n) - 1)
            || keep.iter().any(|(k, _, _)| *k == n)
        {
            continue;
        }
        let recorded = ckpt
            .done
            .iter()
            .find(|(d, etag, _)| *d == n && p.etag.trim_matches('"') == etag.trim_matches('"'))
            .and_then(|(_, _, crc)| *crc);
        keep.push((n, p.etag.clone(), p.crc64.or(recorded)));
    }
    keep
}

impl Client {
    /// Copies `src_bucket/src_key` to `dst_bucket/dst_key` on the server, resumably:
    /// no object byte passes through the client.
    ///
    /// HEADs the source, then: below [`CopyOptions::threshold`] (and for an empty
    /// source) one CopyObject; above it a multipart copy, parts copied in parallel
    /// by UploadPartCopy, each pinned with `x-oss-copy-source-if-match` to the
    /// source's ETag, recorded in a checkpoint as they finish, and completed in
    /// order. The parts' combined CRC-64 must equal the source's before Complete, and
    /// the copy's CRC-64 must equal the source's after. On resume ListParts is the
    /// truth; a checkpoint for another source version, other metadata or another
    /// part size is discarded and its upload aborted; a crash at any moment
    /// (even between Initiate and its record) leaves nothing the next run does not
    /// find and resume or abort. Buckets of one region copy into each other.
    ///
    /// Blocking; threads are started and joined inside; `progress` gets (bytes
    /// copied, source size) on the calling thread, part by part, its last call at
    /// 100% once the copy exists. [`RequestOptions::cancel`] stops the call from any
    /// thread within about 200 ms (checkpoint kept).
    ///
    /// ```no_run
    /// # use oss_resume::{Client, Config, CopyOptions, CopyPath};
    /// # let client = Client::new(Config::builder("https://oss-cn-hangzhou.aliyuncs.com").build()?)?;
    /// let report = client.copy("src-bucket", "big.bin", "dst-bucket", "copy/big.bin",
    ///     &CopyOptions::default(), None)?;
    /// assert_ne!(report.path, CopyPath::Stream);
    /// println!("{} bytes in {} parts", report.size, report.parts);
    /// # Ok::<(), oss_resume::Error>(())
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for bad names or options (before any request)
    /// and for a destination that exists under
    /// [`forbid_overwrite`](CopyOptions::forbid_overwrite) (OSS code
    /// `FileAlreadyExists`); [`ErrorKind::NotFound`] for a missing source;
    /// [`ErrorKind::ObjectChanged`] when the source changed during the copy (its
    /// upload is aborted and no object is made); [`ErrorKind::CrcMismatch`];
    /// [`ErrorKind::Busy`] when another copy between the same ends runs;
    /// [`ErrorKind::Cancelled`] (checkpoint kept); [`ErrorKind::Io`] for the
    /// checkpoint; and the client's errors.
    pub fn copy(
        &self,
        src_bucket: &str,
        src_key: &str,
        dst_bucket: &str,
        dst_key: &str,
        opts: &CopyOptions,
        progress: Option<&mut Progress<'_>>,
    ) -> Result<CopyReport> {
        validate_bucket(src_bucket)?;
        validate_key(src_key)?;
        validate_bucket(dst_bucket)?;
        validate_key(dst_key)?;
        opts.validate()?;
        self.copy_inner((src_bucket, src_key), (dst_bucket, dst_key), opts, progress)
            .map_err(|e| e.with_object(dst_bucket, Some(dst_key)))
    }

    fn copy_inner(
        &self,
        src: (&str, &str),
        dst: (&str, &str),
        opts: &CopyOptions,
        mut progress: Option<&mut Progress<'_>>,
    ) -> Result<CopyReport> {
        let (info, metadata) = self
            .head_with_metadata(src.0, src.1, &opts.request)
            .map_err(|e| e.with_object(src.0, Some(src.1)))?;
        let source = SourceIdentity {
            bucket: src.0.into(),
            key: src.1.into(),
            size: info.size,
            etag: info.etag.clone(),
            crc64: info.crc64,
        };
        let headers = match &opts.metadata {
            CopyMetadata::Copy => metadata,
            CopyMetadata::Replace(h) => h.clone(),
        };
        let on_server = {
            let mut reporter = Reporter::new(progress.as_deref_mut(), info.size);
            let single = info.size < opts.threshold || info.size == 0;
            match single.then(|| self.copy_single(&source, dst, opts, &mut reporter)) {
                Some(Err(e)) if e.oss_code() == Some("EntityTooLarge") && info.size > 0 => {
                    self.copy_multipart(&source, dst, &headers, opts, &mut reporter)
                }
                Some(done) => done,
                None => self.copy_multipart(&source, dst, &headers, opts, &mut reporter),
            }
        };
        match on_server {
            Err(e) if opts.allow_stream_fallback && cannot_copy_on_server(&e) => {
                self.copy_through_client(&info, src, dst, &headers, opts, progress)
            }
            other => other,
        }
    }

    /// One CopyObject; its CRC-64 (the answer's, else the copy's HEAD) must equal
    /// the source's.
    fn copy_single(
        &self,
        source: &SourceIdentity,
        dst: (&str, &str),
        opts: &CopyOptions,
        reporter: &mut Reporter<'_, '_>,
    ) -> Result<CopyReport> {
        if !reporter.report(0, true) {
            return Err(Error::new(
                ErrorKind::Cancelled,
                "cancelled by the progress callback",
            ));
        }
        let mut headers = match &opts.metadata {
            CopyMetadata::Copy => vec![("x-oss-metadata-directive".into(), "COPY".into())],
            CopyMetadata::Replace(h) => {
                let mut all = vec![("x-oss-metadata-directive".into(), "REPLACE".into())];
                all.extend(h.iter().cloned());
                all
            }
        };
        if opts.forbid_overwrite {
            headers.push(("x-oss-forbid-overwrite".into(), "true".into()));
        }
        let from = CopySource {
            bucket: &source.bucket,
            key: &source.key,
            etag: &source.etag,
        };
        let put = self.copy_object_request(&from, dst.0, dst.1, &headers, &opts.request)?;
        let crc64 = match put.crc64 {
            Some(c) => Some(c),
            None => self.head_object(dst.0, dst.1, &opts.request)?.crc64,
        };
        if let (Some(ours), Some(theirs)) = (crc64, source.crc64)
            && ours != theirs
        {
            return Err(crc_differs("the copy", ours, theirs));
        }
        reporter.report(source.size, true);
        Ok(CopyReport {
            size: source.size,
            path: CopyPath::CopyObject,
            parts: 0,
            part_size: 0,
            parts_copied: 0,
            parts_reused: 0,
            checkpoint: CheckpointState::NotUsed,
            uploads_aborted: 0,
            etag: put.etag,
            crc64,
        })
    }

    /// The copy through the client, when the server will not copy; the bytes must
    /// be the HEAD's version (same CRC-64 when both are known).
    fn copy_through_client(
        &self,
        info: &ObjectInfo,
        src: (&str, &str),
        dst: (&str, &str),
        headers: &[(String, String)],
        opts: &CopyOptions,
        mut progress: Option<&mut Progress<'_>>,
    ) -> Result<CopyReport> {
        let mut headers = headers.to_vec();
        if opts.forbid_overwrite {
            headers.push(("x-oss-forbid-overwrite".into(), "true".into()));
        }
        let get = GetOptions {
            request: opts.request.clone(),
            ..GetOptions::default()
        };
        let mut forward = |done: u64, total: Option<u64>| match progress.as_deref_mut() {
            Some(cb) => cb(done, total.unwrap_or(info.size)),
            None => true,
        };
        let put = self.copy_stream(src, dst, &headers, &get, Some(&mut forward))?;
        if let (Some(ours), Some(theirs)) = (put.crc64, info.crc64)
            && ours != theirs
        {
            return Err(Error::new(
                ErrorKind::ObjectChanged,
                format!("the source changed during the copy (crc64 {theirs}, then {ours})"),
            ));
        }
        Ok(CopyReport {
            size: info.size,
            path: CopyPath::Stream,
            parts: 0,
            part_size: 0,
            parts_copied: 0,
            parts_reused: 0,
            checkpoint: CheckpointState::NotUsed,
            uploads_aborted: 0,
            etag: put.etag,
            crc64: put.crc64,
        })
    }

    /// The multipart copy: checkpoint, lock, begin or resume, the parts on the
    /// engine, Complete.
    fn copy_multipart(
        &self,
        source: &SourceIdentity,
        dst: (&str, &str),
        headers: &[(String, String)],
        opts: &CopyOptions,
        reporter: &mut Reporter<'_, '_>,
    ) -> Result<CopyReport> {
        if opts.forbid_overwrite && self.head_object(dst.0, dst.1, &opts.request).is_ok() {
            return Err(already_exists(dst.0, dst.1));
        }
        let requested = Some(opts.part_size.unwrap_or(DEFAULT_PART_SIZE));
        let part_size = plan_part_size(source.size, requested)?;
        let ckpt_path = checkpoint_path(opts, source, dst)?;
        let none = CancelToken::new();
        let cancel = opts.request.cancel.as_ref().unwrap_or(&none);
        let _lock = TargetLock::acquire(&ckpt_path, opts.wait_if_busy, cancel)?;
        remove_stale_atomic_temps(&ckpt_path);
        let flat: Vec<String> = headers
            .iter()
            .map(|(n, v)| format!("{}:{v}", n.to_ascii_lowercase()))
            .collect();
        let flat: Vec<&str> = flat.iter().map(String::as_str).collect();
        let expect = CopyCheckpoint {
            source: source.clone(),
            bucket: dst.0.into(),
            key: dst.1.into(),
            headers_digest: identity_hash(&flat),
            part_size,
            upload_id: String::new(),
            initiate_started: 0,
            stopped_initiates: Vec::new(),
            done: Vec::new(),
        };
        let (bucket, key) = dst;
        let keep = |c: &mut CopyCheckpoint, listed: &[ListedPart]| {
            c.done = reconcile(c, listed);
            Ok(c.done.len() as u64)
        };
        let initiate = |sent: &mut u32| {
            self.initiate_counted(bucket, key, headers, false, &opts.request, sent)
        };
        let mut begun = self.begin_multipart(
            &ckpt_path,
            expect,
            dst,
            opts.part_size,
            &opts.request,
            keep,
            initiate,
        )?;
        let before = begun.ckpt.done.len() as u64;
        let plan = Plan::new(source.size, begun.ckpt.part_size);
        if let Err(e) = self.copy_parts(&mut begun.ckpt, &ckpt_path, plan, opts, cancel, reporter) {
            // A changed source (412 on a part's if-match) or a refused copy cannot
            // go on: the upload is aborted. Anything else keeps it for the next run.
            if e.kind() == ErrorKind::ObjectChanged || cannot_copy_on_server(&e) {
                self.discard(&begun.ckpt, &ckpt_path);
            }
            return Err(e);
        }
        let put = self.complete_copy(&mut begun.ckpt, &ckpt_path, opts, &mut begun.aborted)?;
        if begun.state != CheckpointState::Resumed {
            begun.aborted += self.abort_earlier_copies(&begun.ckpt, &opts.request);
        }
        reporter.report(source.size, true);
        Ok(CopyReport {
            size: source.size,
            path: CopyPath::UploadPartCopy,
            parts: plan.parts(),
            part_size: plan.part_size,
            parts_copied: begun.ckpt.done.len() as u64 - before,
            parts_reused: begun.reused,
            checkpoint: begun.state,
            uploads_aborted: begun.aborted,
            etag: put.etag,
            crc64: put.crc64,
        })
    }

    /// Aborts a copy's upload and removes its checkpoint.
    fn discard(&self, ckpt: &CopyCheckpoint, ckpt_path: &Path) {
        let none = RequestOptions::default();
        let _ = self.abort_multipart_upload(&ckpt.bucket, &ckpt.key, &ckpt.upload_id, &none);
        let _ = fs::remove_file(ckpt_path);
    }

    /// Copies the parts the checkpoint lacks, on the engine.
    fn copy_parts(
        &self,
        ckpt: &mut CopyCheckpoint,
        ckpt_path: &Path,
        plan: Plan,
        opts: &CopyOptions,
        cancel: &CancelToken,
        reporter: &mut Reporter<'_, '_>,
    ) -> Result<()> {
        let snapshot = ckpt.clone();
        let work = CopyPart {
            client: self,
            ckpt: &snapshot,
            plan,
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

    /// Aborts the uploads of the destination key that an earlier run of this copy
    /// left with no usable checkpoint naming them (lost, damaged, unreadable): a copy
    /// cannot read the source's bytes to recognise its parts beforehand, so this runs
    /// after Complete, when every part's ETag and size are known. An upload in
    /// progress whose listed parts (at least one) each have the size and ETag of
    /// this copy's part of the same number holds this source's bytes in this plan:
    /// it is an earlier run's, and aborted. Uploads of other bytes or another part
    /// size are left alone (another writer's, or a run with another `part_size`).
    /// A cleanup: a failed listing is not the copy's failure. Returns how many were
    /// aborted.
    fn abort_earlier_copies(&self, ckpt: &CopyCheckpoint, request: &RequestOptions) -> u64 {
        let (bucket, key) = (ckpt.bucket.as_str(), ckpt.key.as_str());
        let plan = Plan::new(ckpt.source.size, ckpt.part_size);
        let Ok(uploads) = self.list_multipart_uploads(bucket, key, request) else {
            return 0;
        };
        let ours = |p: &ListedPart| {
            ckpt.done.iter().any(|(n, etag, _)| {
                *n == p.part_number
                    && p.size == plan.len(u64::from(*n) - 1)
                    && etag.trim_matches('"') == p.etag.trim_matches('"')
            })
        };
        let mut aborted = 0;
        for upload in uploads {
            if upload.key != key || upload.upload_id == ckpt.upload_id {
                continue;
            }
            let earlier = self
                .list_parts(bucket, key, &upload.upload_id, request)
                .is_ok_and(|parts| !parts.is_empty() && parts.iter().all(ours));
            if earlier
                && self
                    .abort_multipart_upload(bucket, key, &upload.upload_id, request)
                    .is_ok()
            {
                aborted += 1;
            }
        }
        aborted
    }

    /// Completes the copy: the parts' combined CRC-64 checked against the source's
    /// first (parts whose answer had none are read from ListParts), the parts in
    /// order, a lost Complete answer recognised, the copy's CRC-64 checked, and a
    /// last sweep for late stopped Initiates.
    fn complete_copy(
        &self,
        ckpt: &mut CopyCheckpoint,
        ckpt_path: &Path,
        opts: &CopyOptions,
        aborted: &mut u64,
    ) -> Result<PutResult> {
        let (bucket, key) = (ckpt.bucket.clone(), ckpt.key.clone());
        let source = ckpt.source.clone();
        if ckpt.done.iter().any(|(_, _, crc)| crc.is_none()) {
            let listed = self.list_parts(&bucket, &key, &ckpt.upload_id, &opts.request)?;
            for (n, etag, crc) in &mut ckpt.done {
                let same = |p: &&ListedPart| {
                    p.part_number == *n && p.etag.trim_matches('"') == etag.trim_matches('"')
                };
                *crc = crc.or(listed.iter().find(same).and_then(|p| p.crc64));
            }
        }
        let plan = Plan::new(source.size, ckpt.part_size);
        let crcs: Option<Vec<(u64, u64)>> = ckpt
            .done
            .iter()
            .map(|(n, _, c)| c.map(|c| (u64::from(*n) - 1, c)))
            .collect();
        let combined = crcs.and_then(|c| plan.combine(&c));
        if let (Some(ours), Some(theirs)) = (combined, source.crc64)
            && ours != theirs
        {
            self.discard(ckpt, ckpt_path);
            return Err(crc_differs(
                "the copied parts (upload aborted)",
                ours,
                theirs,
            ));
        }
        let put = self.send_complete(ckpt, ckpt_path, opts)?;
        let crc64 = put.crc64.or(combined);
        if let (Some(ours), Some(theirs)) = (crc64, source.crc64)
            && ours != theirs
        {
            return Err(crc_differs("the completed copy", ours, theirs));
        }
        if let Ok(n) =
            self.abort_orphans(&bucket, &key, &ckpt.stopped_initiates, None, &opts.request)
        {
            *aborted += n;
        }
        let _ = fs::remove_file(ckpt_path);
        Ok(PutResult {
            etag: put.etag,
            crc64,
        })
    }

    /// Sends Complete with the parts in order. A Complete whose answer was lost
    /// finds the upload gone on its retry: a destination with the source's size and
    /// CRC-64 proves it was completed. A refused overwrite aborts the upload.
    fn send_complete(
        &self,
        ckpt: &CopyCheckpoint,
        ckpt_path: &Path,
        opts: &CopyOptions,
    ) -> Result<PutResult> {
        let (bucket, key) = (ckpt.bucket.as_str(), ckpt.key.as_str());
        let mut parts: Vec<(u32, String)> =
            ckpt.done.iter().map(|(n, e, _)| (*n, e.clone())).collect();
        parts.sort_by_key(|(n, _)| *n);
        let mut headers = Vec::new();
        if opts.forbid_overwrite {
            headers.push(("x-oss-forbid-overwrite".to_string(), "true".to_string()));
        }
        match self.complete_with_headers(
            bucket,
            key,
            &ckpt.upload_id,
            &parts,
            &headers,
            &opts.request,
        ) {
            Ok(put) => Ok(put),
            Err(e) if e.kind() == ErrorKind::NotFound && e.oss_code() == Some("NoSuchUpload") => {
                let info = self.head_object(bucket, key, &opts.request)?;
                let proved = info.size == ckpt.source.size
                    && info.crc64.is_some()
                    && info.crc64 == ckpt.source.crc64;
                if !proved {
                    return Err(e);
                }
                Ok(PutResult {
                    etag: info.etag,
                    crc64: info.crc64,
                })
            }
            Err(e) if e.oss_code() == Some("FileAlreadyExists") => {
                self.discard(ckpt, ckpt_path);
                Err(e)
            }
            Err(e) => Err(e),
        }
    }
}
