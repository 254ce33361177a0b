//! Resumable download and upload.

use super::client::{ossr_client, ossr_request_options};
use super::{
    Failure, FfiResult, arg_header, arg_mut, arg_path, arg_ref, arg_str, call_progress, fill_array,
    free_handle, guard, guard_value, into_handle, opt_ref, ossr_error, ossr_progress_cb,
    ossr_result, out_ptr, write_out,
};
use super::{check_report, write_report};
use crate::{
    CheckpointState, DownloadOptions, DownloadReport, Durability, UploadOptions, UploadReport,
};
use std::ffi::{c_char, c_void};

/// Room for an ETag in result structs, NUL included (OSS ETags are 34 to 40 bytes).
pub const OSSR_ETAG_LEN: usize = 72;
/// Room for the reason a checkpoint was discarded, NUL included (longer reasons are
/// cut at a character boundary).
pub const OSSR_REASON_LEN: usize = 256;

/// What became of a transfer's checkpoint.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ossr_checkpoint_state {
    /// Below the threshold: one request, no checkpoint.
    OSSR_CHECKPOINT_NOT_USED = 0,
    /// There was none: the transfer started from scratch.
    OSSR_CHECKPOINT_NOT_FOUND = 1,
    /// A valid checkpoint was resumed.
    OSSR_CHECKPOINT_RESUMED = 2,
    /// A checkpoint was found but unusable (the reason is in the report); the transfer
    /// started from scratch.
    OSSR_CHECKPOINT_DISCARDED = 3,
}

pub(crate) fn state_of(state: &CheckpointState) -> (ossr_checkpoint_state, &str) {
    match state {
        CheckpointState::NotUsed => (ossr_checkpoint_state::OSSR_CHECKPOINT_NOT_USED, ""),
        CheckpointState::NotFound => (ossr_checkpoint_state::OSSR_CHECKPOINT_NOT_FOUND, ""),
        CheckpointState::Resumed => (ossr_checkpoint_state::OSSR_CHECKPOINT_RESUMED, ""),
        CheckpointState::Discarded(why) => (ossr_checkpoint_state::OSSR_CHECKPOINT_DISCARDED, why),
    }
}

/// What `ossr_client_download` did. Filled only on success.
#[repr(C)]
pub struct ossr_download_report {
    /// Set by the caller to `sizeof` this struct before the call; the library
    /// writes only the fields that fit (a struct from an older header gets the
    /// fields it knows). 0 or less than this version's size is refused with
    /// `OSSR_ERR_INVALID_ARGUMENT` before anything is done.
    pub struct_size: usize,
    /// The object's size.
    pub size: u64,
    /// Bytes fetched from the server by this call.
    pub bytes_fetched: u64,
    /// Bytes already present from a resumed checkpoint.
    pub bytes_reused: u64,
    /// Times a part's body failed and was continued.
    pub parts_retried: u64,
    /// Parts of a resumed checkpoint whose bytes in the temporary file no longer
    /// matched their recorded CRC-64, and were fetched again.
    pub parts_damaged: u64,
    /// Parts the object was split into.
    pub parts: u64,
    /// The part size used.
    pub part_size: u64,
    /// The object's CRC-64 (valid when `has_crc64`).
    pub crc64: u64,
    /// Whether the server reported a CRC-64.
    pub has_crc64: bool,
    /// Whether the bytes were checked against the object's CRC-64.
    pub verified: bool,
    /// What became of the checkpoint.
    pub checkpoint: ossr_checkpoint_state,
    /// Why the checkpoint was discarded (empty otherwise), NUL-terminated.
    pub checkpoint_reason: [c_char; OSSR_REASON_LEN],
    /// The object's ETag, NUL-terminated.
    pub etag: [c_char; OSSR_ETAG_LEN],
    /// Parts whose answer was late and which were requested again on another
    /// connection (see `ossr_download_options_set_hedge`); each counts once.
    pub parts_hedged: u64,
}

/// What `ossr_client_upload` did. Filled only on success.
#[repr(C)]
pub struct ossr_upload_report {
    /// Set by the caller to `sizeof` this struct before the call; the library
    /// writes only the fields that fit (a struct from an older header gets the
    /// fields it knows). 0 or less than this version's size is refused with
    /// `OSSR_ERR_INVALID_ARGUMENT` before anything is done.
    pub struct_size: usize,
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
    /// Multipart uploads aborted because they were superseded or left unrecorded
    /// by an interrupted Initiate.
    pub uploads_aborted: u64,
    /// The object's CRC-64, equal to the file's.
    pub crc64: u64,
    /// What became of the checkpoint.
    pub checkpoint: ossr_checkpoint_state,
    /// Why the checkpoint was discarded (empty otherwise), NUL-terminated.
    pub checkpoint_reason: [c_char; OSSR_REASON_LEN],
    /// The object's ETag, NUL-terminated.
    pub etag: [c_char; OSSR_ETAG_LEN],
}

/// Options of `ossr_client_download`. Made by `ossr_download_options_new` with the
/// defaults each setter states, freed by `ossr_download_options_free`. Only read by a
/// download, so one handle can serve many downloads, even at once, as long as nobody
/// changes it meanwhile.
pub struct ossr_download_options {
    inner: DownloadOptions,
}

/// Options of `ossr_client_upload`. Made by `ossr_upload_options_new`, freed by
/// `ossr_upload_options_free`; sharing rules as for `ossr_download_options`.
pub struct ossr_upload_options {
    inner: UploadOptions,
}

/// Makes download options with the defaults.
///
/// - `out`: receives the handle; the caller frees it with `ossr_download_options_free`.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_download_options_new(
    out: *mut *mut ossr_download_options,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let out = out_ptr(out, "out")?;
        write_out(
            out,
            into_handle(ossr_download_options {
                inner: DownloadOptions::default(),
            }),
        );
        Ok(())
    })
}

/// Frees download options. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_download_options_free(opts: *mut ossr_download_options) {
    guard_value((), || free_handle(opts))
}

fn edit_download(
    opts: *mut ossr_download_options,
    err: *mut ossr_error,
    change: impl FnOnce(&mut DownloadOptions) -> FfiResult,
) -> ossr_result {
    guard(err, || change(&mut arg_mut(opts, "opts")?.inner))
}

fn edit_upload(
    opts: *mut ossr_upload_options,
    err: *mut ossr_error,
    change: impl FnOnce(&mut UploadOptions) -> FfiResult,
) -> ossr_result {
    guard(err, || change(&mut arg_mut(opts, "opts")?.inner))
}

fn part_size_of(bytes: u64) -> FfiResult<Option<u64>> {
    if bytes == 0 {
        return Ok(None);
    }
    if !(crate::MIN_PART_SIZE..=crate::MAX_PART_SIZE).contains(&bytes) {
        return Err(Failure::Invalid(format!(
            "part size {bytes} is outside {}..={}",
            crate::MIN_PART_SIZE,
            crate::MAX_PART_SIZE
        )));
    }
    Ok(Some(bytes))
}

fn threads_of(threads: u32) -> FfiResult<usize> {
    if !(1..=64).contains(&threads) {
        return Err(Failure::Invalid(format!(
            "threads {threads} is outside 1..=64"
        )));
    }
    Ok(threads as usize)
}

/// Sets the directory for the checkpoint. Defaults to the target's directory (a
/// hidden `.ossr-<hash>.download` file). The path is copied.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, `OSSR_ERR_INVALID_UTF8`, or
/// `OSSR_ERR_INVALID_ARGUMENT` for an empty path.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_download_options_set_checkpoint_dir(
    opts: *mut ossr_download_options,
    dir: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit_download(opts, err, |o| {
        o.checkpoint_dir = Some(arg_path(dir, "dir")?);
        Ok(())
    })
}

/// Objects smaller than `bytes` are fetched with one GET and no checkpoint. Defaults
/// to 10 MiB (10485760).
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_download_options_set_multiget_threshold(
    opts: *mut ossr_download_options,
    bytes: u64,
    err: *mut ossr_error,
) -> ossr_result {
    edit_download(opts, err, |o| {
        o.multiget_threshold = bytes;
        Ok(())
    })
}

/// Sets the part size, 102400..=5368709120 bytes (grown so there are at most 10,000
/// parts); 0 means automatic. Defaults to automatic (8 MiB, grown likewise).
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT` for a
/// size out of range.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_download_options_set_part_size(
    opts: *mut ossr_download_options,
    bytes: u64,
    err: *mut ossr_error,
) -> ossr_result {
    edit_download(opts, err, |o| {
        o.part_size = part_size_of(bytes)?;
        Ok(())
    })
}

/// Sets the worker threads (one connection each), 1..=64. Defaults to 4.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_download_options_set_threads(
    opts: *mut ossr_download_options,
    threads: u32,
    err: *mut ossr_error,
) -> ossr_result {
    edit_download(opts, err, |o| {
        o.threads = threads_of(threads)?;
        Ok(())
    })
}

/// When another transfer holds the target, wait for it (true: until it ends, or the
/// cancel token in the request options fires) instead of failing with
/// `OSSR_ERR_BUSY` (false). Defaults to false.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_download_options_set_wait_if_busy(
    opts: *mut ossr_download_options,
    wait: bool,
    err: *mut ossr_error,
) -> ossr_result {
    edit_download(opts, err, |o| {
        o.wait_if_busy = wait;
        Ok(())
    })
}

/// Hedges slow parts (true, the default) or not: a part whose answer has not begun
/// within 3x the 95th percentile of this download's answers so far (at least 1 s,
/// once 4 parts were answered) is requested again on another connection; the first
/// answer is used and the other dropped, so nothing is written, checked or counted
/// twice. At most 2 hedges are out at once, and none once the server answered 503
/// or 429. The report's `parts_hedged` counts them.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_download_options_set_hedge(
    opts: *mut ossr_download_options,
    hedge: bool,
    err: *mut ossr_error,
) -> ossr_result {
    edit_download(opts, err, |o| {
        o.hedge = hedge;
        Ok(())
    })
}

/// Chooses what is fsynced before it is relied on. Defaults to false (fsync).
///
/// - false (fsync): a part is recorded in the checkpoint only once its bytes are
///   fsynced, checkpoints are fsynced before they replace the old one, and the
///   finished file is fsynced before the rename over the target (and its directory
///   after). After a power cut the target is either the old file or the whole new
///   one, and a resume loses at most the parts that were in flight.
/// - true (no fsync): nothing is fsynced, the page cache's guarantees (as curl and
///   aria2c give). The checkpoint is rewritten at most every 100 ms (and when the
///   download stops), so a process killed outright may also lose the parts finished
///   in its last 100 ms; a power cut may lose recorded parts (fetched again on
///   resume, found by their CRC-64) or the checkpoint (the download starts over), and
///   may leave the target renamed but not yet written out by the kernel.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_download_options_set_no_fsync(
    opts: *mut ossr_download_options,
    no_fsync: bool,
    err: *mut ossr_error,
) -> ossr_result {
    edit_download(opts, err, |o| {
        o.durability = if no_fsync {
            Durability::NoFsync
        } else {
            Durability::Fsync
        };
        Ok(())
    })
}

/// Attempts per part when its body fails (each continues from the last byte
/// written), at least 1. Defaults to 5.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT` for 0.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_download_options_set_part_attempts(
    opts: *mut ossr_download_options,
    attempts: u32,
    err: *mut ossr_error,
) -> ossr_result {
    edit_download(opts, err, |o| {
        if attempts == 0 {
            return Err(Failure::Invalid("part attempts must be at least 1".into()));
        }
        o.part_attempts = attempts;
        Ok(())
    })
}

/// Copies request options (version id, requester-pays, traffic limit, cancel token)
/// into the download options; `req` may be freed afterwards (a cancel token in it is
/// shared, not copied). Defaults to none.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_download_options_set_request(
    opts: *mut ossr_download_options,
    req: *const ossr_request_options,
    err: *mut ossr_error,
) -> ossr_result {
    edit_download(opts, err, |o| {
        o.request = arg_ref(req, "req")?.inner.clone();
        Ok(())
    })
}

/// Makes upload options with the defaults.
///
/// - `out`: receives the handle; the caller frees it with `ossr_upload_options_free`.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_upload_options_new(
    out: *mut *mut ossr_upload_options,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let out = out_ptr(out, "out")?;
        write_out(
            out,
            into_handle(ossr_upload_options {
                inner: UploadOptions::default(),
            }),
        );
        Ok(())
    })
}

/// Frees upload options. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_upload_options_free(opts: *mut ossr_upload_options) {
    guard_value((), || free_handle(opts))
}

/// Sets the directory for the checkpoint. Defaults to `$HOME/.oss_resume/upload` (the
/// system temporary directory when HOME is unset). The path is copied.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, `OSSR_ERR_INVALID_UTF8`, or
/// `OSSR_ERR_INVALID_ARGUMENT` for an empty path.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_upload_options_set_checkpoint_dir(
    opts: *mut ossr_upload_options,
    dir: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit_upload(opts, err, |o| {
        o.checkpoint_dir = Some(arg_path(dir, "dir")?);
        Ok(())
    })
}

/// Adds a request header for the object: `Content-Type` (guessed from the file name
/// when absent), `x-oss-meta-*`, `x-oss-object-acl`, `x-oss-storage-class`, or any
/// other `x-oss-` header. Strings are copied. Defaults to none.
///
/// Names are HTTP tokens and values have no control characters (CR, LF, ...). Headers
/// the library sets itself are refused by name, in any case: `Host`, `Content-Length`,
/// `Transfer-Encoding`, `Connection`, `Expect`, `Authorization`, `Date`, `x-oss-date`,
/// `x-oss-content-sha256`, `x-oss-security-token`, `User-Agent` (see
/// `ossr_config_builder_set_user_agent_suffix`), `x-oss-request-payer` and
/// `x-oss-traffic-limit` (see `ossr_request_options`).
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, `OSSR_ERR_INVALID_UTF8`, or
/// `OSSR_ERR_INVALID_ARGUMENT` for a refused name or value (nothing is added).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_upload_options_add_header(
    opts: *mut ossr_upload_options,
    name: *const c_char,
    value: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit_upload(opts, err, |o| {
        o.headers.push(arg_header(name, value)?);
        Ok(())
    })
}

/// Files smaller than `bytes` take one PutObject with Content-MD5. Defaults to 10 MiB
/// (10485760).
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_upload_options_set_multipart_threshold(
    opts: *mut ossr_upload_options,
    bytes: u64,
    err: *mut ossr_error,
) -> ossr_result {
    edit_upload(opts, err, |o| {
        o.multipart_threshold = bytes;
        Ok(())
    })
}

/// Sets the part size, 102400..=5368709120 bytes (grown so there are at most 10,000
/// parts); 0 means automatic. Defaults to automatic (8 MiB, grown likewise).
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_upload_options_set_part_size(
    opts: *mut ossr_upload_options,
    bytes: u64,
    err: *mut ossr_error,
) -> ossr_result {
    edit_upload(opts, err, |o| {
        o.part_size = part_size_of(bytes)?;
        Ok(())
    })
}

/// Sets the worker threads (one connection each), 1..=64. Defaults to 4.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_upload_options_set_threads(
    opts: *mut ossr_upload_options,
    threads: u32,
    err: *mut ossr_error,
) -> ossr_result {
    edit_upload(opts, err, |o| {
        o.threads = threads_of(threads)?;
        Ok(())
    })
}

/// Asks OSS to require parts in order (`?sequential`) when `sequential` is true.
/// Defaults to false.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_upload_options_set_sequential(
    opts: *mut ossr_upload_options,
    sequential: bool,
    err: *mut ossr_error,
) -> ossr_result {
    edit_upload(opts, err, |o| {
        o.sequential = sequential;
        Ok(())
    })
}

/// When another upload of the same file to the same key holds its checkpoint, wait
/// for it (true: until it ends, or the cancel token in the request options fires)
/// instead of failing with `OSSR_ERR_BUSY` (false). Defaults to false.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_upload_options_set_wait_if_busy(
    opts: *mut ossr_upload_options,
    wait: bool,
    err: *mut ossr_error,
) -> ossr_result {
    edit_upload(opts, err, |o| {
        o.wait_if_busy = wait;
        Ok(())
    })
}

/// Copies request options (requester-pays, traffic limit, cancel token) into the
/// upload options; `req` may be freed afterwards (a cancel token in it is shared, not
/// copied). Defaults to none.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_upload_options_set_request(
    opts: *mut ossr_upload_options,
    req: *const ossr_request_options,
    err: *mut ossr_error,
) -> ossr_result {
    edit_upload(opts, err, |o| {
        o.request = arg_ref(req, "req")?.inner.clone();
        Ok(())
    })
}

/// Runs `f` with the Rust progress closure for a C callback (or none).
pub(crate) fn with_progress<T>(
    progress: ossr_progress_cb,
    userdata: *mut c_void,
    f: impl FnOnce(Option<&mut dyn FnMut(u64, u64) -> bool>) -> T,
) -> T {
    match progress {
        Some(cb) => {
            let mut closure = move |done: u64, total: u64| call_progress(cb, userdata, done, total);
            f(Some(&mut closure))
        }
        None => f(None),
    }
}

/// Downloads an object to a local file with parallel ranged GETs, resuming from a
/// checkpoint left by an earlier interrupted call, and checks the whole file against
/// the object's CRC-64. The target is written through a temporary file and renamed
/// into place only when complete and verified: it is never left truncated.
///
/// - `bucket`, `key`, `target`: borrowed for the call; `target` is a file path.
/// - `opts`: options, or NULL for the defaults.
/// - `progress`, `userdata`: optional progress callback (NULL for none), called on
///   this thread, one call at a time, at most every 1% or 100 ms, monotonic, starting
///   from reused bytes; its last call is at 100% after the file is in place. A
///   non-zero return cancels: the call returns `OSSR_ERR_CANCELLED` and keeps the
///   checkpoint, so calling again resumes.
/// - `report`: optional (may be NULL); filled only on success.
///
/// Blocking; worker threads are started and joined inside. The client may be shared
/// with other threads; two downloads to the same target exclude each other
/// (`OSSR_ERR_BUSY`, or waiting with `ossr_download_options_set_wait_if_busy`).
/// Cancellable by the token in the options' request options (see "Cancelling"): the
/// checkpoint is kept, so calling again (without the cancelled token) resumes.
///
/// Returns `OSSR_OK`; `OSSR_ERR_CANCELLED` (by the progress callback or the token); `OSSR_ERR_NOT_FOUND`;
/// `OSSR_ERR_ACCESS_DENIED`; `OSSR_ERR_OBJECT_CHANGED` (the object changed mid-download;
/// nothing mixed is kept); `OSSR_ERR_CRC_MISMATCH`; `OSSR_ERR_BUSY`; `OSSR_ERR_IO`
/// (the target or checkpoint directory cannot be written); the 3xx network codes
/// (the checkpoint is kept); the argument codes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ossr_client_download(
    client: *const ossr_client,
    bucket: *const c_char,
    key: *const c_char,
    target: *const c_char,
    opts: *const ossr_download_options,
    progress: ossr_progress_cb,
    userdata: *mut c_void,
    report: *mut ossr_download_report,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        let target = arg_path(target, "target")?;
        check_report(report, "report")?;
        let defaults = DownloadOptions::default();
        let opts = opt_ref(opts).map(|o| &o.inner).unwrap_or(&defaults);
        let done = with_progress(progress, userdata, |p| {
            client.inner.download(bucket, key, &target, opts, p)
        })?;
        write_report(report, download_report(&done));
        Ok(())
    })
}

fn download_report(r: &DownloadReport) -> ossr_download_report {
    let (checkpoint, reason) = state_of(&r.checkpoint);
    let mut out = ossr_download_report {
        struct_size: 0,
        size: r.size,
        bytes_fetched: r.bytes_fetched,
        bytes_reused: r.bytes_reused,
        parts_retried: r.parts_retried,
        parts_damaged: r.parts_damaged,
        parts: r.parts,
        part_size: r.part_size,
        crc64: r.crc64.unwrap_or(0),
        has_crc64: r.crc64.is_some(),
        verified: r.verified,
        checkpoint,
        checkpoint_reason: [0; OSSR_REASON_LEN],
        etag: [0; OSSR_ETAG_LEN],
        parts_hedged: r.parts_hedged,
    };
    fill_array(&mut out.checkpoint_reason, reason);
    fill_array(&mut out.etag, &r.etag);
    out
}

/// Uploads a local file to an object, resumably: one PutObject below the multipart
/// threshold, otherwise a multipart upload with parallel parts read by positioned
/// reads, each part's CRC-64 checked, and the completed object's CRC-64 checked
/// against the file's. A later call with the same file, bucket and key resumes from
/// the checkpoint, trusting the server's list of parts; uploads it supersedes are
/// aborted.
///
/// - `path`, `bucket`, `key`: borrowed for the call.
/// - `opts`: options, or NULL for the defaults.
/// - `progress`, `userdata`: as for `ossr_client_download`; the last call is at 100%
///   after Complete succeeded.
/// - `report`: optional (may be NULL); filled only on success.
///
/// Blocking; threads are started and joined inside. Cancellable by the token in the
/// options' request options (see "Cancelling").
///
/// Returns `OSSR_OK`; `OSSR_ERR_CANCELLED` (by the progress callback or the token;
/// the checkpoint is kept); `OSSR_ERR_IO` (an
/// unreadable file, or one that changed during the upload: no object is made from
/// it); `OSSR_ERR_BUSY` (another upload of the same file to the same key runs);
/// `OSSR_ERR_CRC_MISMATCH`; `OSSR_ERR_ACCESS_DENIED`; `OSSR_ERR_NOT_FOUND` (no such
/// bucket); the 3xx network codes; the argument codes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ossr_client_upload(
    client: *const ossr_client,
    path: *const c_char,
    bucket: *const c_char,
    key: *const c_char,
    opts: *const ossr_upload_options,
    progress: ossr_progress_cb,
    userdata: *mut c_void,
    report: *mut ossr_upload_report,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let path = arg_path(path, "path")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        check_report(report, "report")?;
        let defaults = UploadOptions::default();
        let opts = opt_ref(opts).map(|o| &o.inner).unwrap_or(&defaults);
        let done = with_progress(progress, userdata, |p| {
            client.inner.upload(&path, bucket, key, opts, p)
        })?;
        write_report(report, upload_report(&done));
        Ok(())
    })
}

fn upload_report(r: &UploadReport) -> ossr_upload_report {
    let (checkpoint, reason) = state_of(&r.checkpoint);
    let mut out = ossr_upload_report {
        struct_size: 0,
        size: r.size,
        parts: r.parts,
        part_size: r.part_size,
        parts_uploaded: r.parts_uploaded,
        parts_reused: r.parts_reused,
        uploads_aborted: r.uploads_aborted,
        crc64: r.crc64,
        checkpoint,
        checkpoint_reason: [0; OSSR_REASON_LEN],
        etag: [0; OSSR_ETAG_LEN],
    };
    fill_array(&mut out.checkpoint_reason, reason);
    fill_array(&mut out.etag, &r.etag);
    out
}

impl super::Report for ossr_download_report {
    const NAME: &'static str = "ossr_download_report";
    const MIN_SIZE: usize = std::mem::size_of::<ossr_download_report>();
    fn set_struct_size(&mut self, size: usize) {
        self.struct_size = size;
    }
}

impl super::Report for ossr_upload_report {
    const NAME: &'static str = "ossr_upload_report";
    const MIN_SIZE: usize = std::mem::size_of::<ossr_upload_report>();
    fn set_struct_size(&mut self, size: usize) {
        self.struct_size = size;
    }
}
