//! Server-side copy: `ossr_client_copy_object` and its options and report.

use super::client::{ossr_client, ossr_request_options};
use super::transfer::{
    OSSR_ETAG_LEN, OSSR_REASON_LEN, ossr_checkpoint_state, state_of, with_progress,
};
use super::{
    FfiResult, arg_header, arg_mut, arg_path, arg_ref, arg_str, fill_array, free_handle, guard,
    guard_value, into_handle, opt_ref, ossr_error, ossr_progress_cb, ossr_result, out_ptr,
    write_out,
};
use super::{check_report, write_report};
use crate::{CopyMetadata, CopyOptions, CopyPath, CopyReport};
use std::ffi::{c_char, c_void};

/// How `ossr_client_copy_object` made the copy.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ossr_copy_path {
    /// One CopyObject, on the server.
    OSSR_COPY_PATH_SERVER_SINGLE = 1,
    /// A multipart copy of UploadPartCopy parts, on the server.
    OSSR_COPY_PATH_SERVER_MULTIPART = 2,
    /// Streamed through the client (the server refused to copy and
    /// `ossr_copy_options_set_allow_stream_fallback` allowed it).
    OSSR_COPY_PATH_STREAM = 3,
}

/// What `ossr_client_copy_object` did. Filled only on success.
#[repr(C)]
pub struct ossr_copy_report {
    /// Set by the caller to `sizeof` this struct before the call; the library
    /// writes only the fields that fit (a struct from an older header gets the
    /// fields it knows). 0 or less than this version's size is refused with
    /// `OSSR_ERR_INVALID_ARGUMENT` before anything is done.
    pub struct_size: usize,
    /// The source's size: the bytes the copy holds.
    pub size: u64,
    /// Parts of a multipart copy (0 otherwise).
    pub parts: u64,
    /// The part size used (0 when not multipart).
    pub part_size: u64,
    /// Parts copied by this call.
    pub parts_copied: u64,
    /// Parts found on the server from an earlier, interrupted call, and kept.
    pub parts_reused: u64,
    /// Multipart uploads aborted because they were superseded or left unrecorded by
    /// an interrupted Initiate.
    pub uploads_aborted: u64,
    /// The copy's CRC-64, equal to the source's (valid when `has_crc64`).
    pub crc64: u64,
    /// Whether the server reported a CRC-64.
    pub has_crc64: bool,
    /// How the copy was made.
    pub path: ossr_copy_path,
    /// What became of the checkpoint: `OSSR_CHECKPOINT_RESUMED` when this call
    /// continued an interrupted multipart copy, `OSSR_CHECKPOINT_NOT_USED` unless
    /// multipart.
    pub checkpoint: ossr_checkpoint_state,
    /// Why the checkpoint was discarded (empty otherwise), NUL-terminated.
    pub checkpoint_reason: [c_char; OSSR_REASON_LEN],
    /// The copy's ETag, NUL-terminated.
    pub etag: [c_char; OSSR_ETAG_LEN],
}

/// Options of `ossr_client_copy_object`. Made by `ossr_copy_options_new` with the
/// defaults each setter states, freed by `ossr_copy_options_free`. Only read by a
/// copy, so one handle can serve many copies, even at once, as long as nobody
/// changes it meanwhile. Every setter checks its value and leaves the options as they
/// were when it refuses one.
pub struct ossr_copy_options {
    inner: CopyOptions,
}

/// Makes copy options with the defaults.
///
/// - `out`: receives the handle; the caller frees it with `ossr_copy_options_free`.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_copy_options_new(
    out: *mut *mut ossr_copy_options,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let out = out_ptr(out, "out")?;
        write_out(
            out,
            into_handle(ossr_copy_options {
                inner: CopyOptions::default(),
            }),
        );
        Ok(())
    })
}

/// Frees copy options. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_copy_options_free(opts: *mut ossr_copy_options) {
    guard_value((), || free_handle(opts))
}

/// Applies `change` to a copy of the options and keeps it only when
/// `CopyOptions::validate` accepts the result: the one place copy options are checked.
fn edit_copy(
    opts: *mut ossr_copy_options,
    err: *mut ossr_error,
    change: impl FnOnce(&mut CopyOptions) -> FfiResult,
) -> ossr_result {
    guard(err, || {
        let o = arg_mut(opts, "opts")?;
        let mut next = o.inner.clone();
        change(&mut next)?;
        next.validate()?;
        o.inner = next;
        Ok(())
    })
}

/// Sets the directory for the checkpoint of a multipart copy. Defaults to
/// `$HOME/.oss_resume/copy` (the system temporary directory when HOME is unset). The
/// path is copied.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, `OSSR_ERR_INVALID_UTF8`, or
/// `OSSR_ERR_INVALID_ARGUMENT` for an empty path.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_copy_options_set_checkpoint_dir(
    opts: *mut ossr_copy_options,
    dir: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit_copy(opts, err, |o| {
        o.checkpoint_dir = Some(arg_path(dir, "dir")?);
        Ok(())
    })
}

/// Sources smaller than `bytes` take one CopyObject; larger ones a multipart copy.
/// Defaults to 1 GiB (1073741824), OSS's CopyObject limit; a CopyObject the server
/// refuses as too large (`EntityTooLarge`) becomes a multipart copy whatever this
/// says.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_copy_options_set_threshold(
    opts: *mut ossr_copy_options,
    bytes: u64,
    err: *mut ossr_error,
) -> ossr_result {
    edit_copy(opts, err, |o| {
        o.threshold = bytes;
        Ok(())
    })
}

/// Sets the part size of a multipart copy, 102400..=5368709120 bytes (grown so there
/// are at most 10,000 parts); 0 means the default, 64 MiB (67108864), grown likewise.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT` for a
/// size out of range.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_copy_options_set_part_size(
    opts: *mut ossr_copy_options,
    bytes: u64,
    err: *mut ossr_error,
) -> ossr_result {
    edit_copy(opts, err, |o| {
        o.part_size = (bytes != 0).then_some(bytes);
        Ok(())
    })
}

/// Sets the parts copied at once (one connection each), 1..=64. Defaults to 4.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_copy_options_set_threads(
    opts: *mut ossr_copy_options,
    threads: u32,
    err: *mut ossr_error,
) -> ossr_result {
    edit_copy(opts, err, |o| {
        o.threads = threads as usize;
        Ok(())
    })
}

/// Chooses the copy's metadata: false copies the source's (Content-Type,
/// Cache-Control, Content-Disposition, Content-Encoding, Content-Language, Expires
/// and every `x-oss-meta-*`), true replaces it with the headers added by
/// `ossr_copy_options_add_header` (none so far means none at all). Setting false
/// forgets the added headers. Defaults to false (copy).
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_copy_options_set_metadata_replace(
    opts: *mut ossr_copy_options,
    replace: bool,
    err: *mut ossr_error,
) -> ossr_result {
    edit_copy(opts, err, |o| {
        o.metadata = match (replace, std::mem::take(&mut o.metadata)) {
            (false, _) => CopyMetadata::Copy,
            (true, CopyMetadata::Copy) => CopyMetadata::Replace(Vec::new()),
            (true, kept) => kept,
        };
        Ok(())
    })
}

/// Adds a header the copy gets instead of the source's metadata, and so turns
/// metadata replacement on (see `ossr_copy_options_set_metadata_replace`):
/// `Content-Type`, `x-oss-meta-*`, `x-oss-object-acl`, `x-oss-storage-class`, or any
/// other `x-oss-` header. Strings are copied. Defaults to none.
///
/// Refused by name, in any case: the headers `ossr_upload_options_add_header`
/// refuses, and those the copy sets itself (`x-oss-copy-source*`,
/// `x-oss-metadata-directive`, `x-oss-forbid-overwrite`: see
/// `ossr_copy_options_set_forbid_overwrite`).
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, `OSSR_ERR_INVALID_UTF8`, or
/// `OSSR_ERR_INVALID_ARGUMENT` for a refused name or value (nothing is added).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_copy_options_add_header(
    opts: *mut ossr_copy_options,
    name: *const c_char,
    value: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit_copy(opts, err, |o| {
        let header = arg_header(name, value)?;
        match &mut o.metadata {
            CopyMetadata::Replace(headers) => headers.push(header),
            copy => *copy = CopyMetadata::Replace(vec![header]),
        }
        Ok(())
    })
}

/// Refuses to replace an existing destination (`x-oss-forbid-overwrite`) when
/// `forbid` is true: the copy then fails with `OSSR_ERR_INVALID_ARGUMENT` and the
/// OSS code `FileAlreadyExists`, and the destination is left as it was. Defaults to
/// false.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_copy_options_set_forbid_overwrite(
    opts: *mut ossr_copy_options,
    forbid: bool,
    err: *mut ossr_error,
) -> ossr_result {
    edit_copy(opts, err, |o| {
        o.forbid_overwrite = forbid;
        Ok(())
    })
}

/// When the server will not copy between the two ends (it answers 403 or 501 to the
/// copy), copy through the client instead, as `ossr_client_copy` does, when `allow`
/// is true; the report's `path` is then `OSSR_COPY_PATH_STREAM`. Defaults to false:
/// such a copy fails.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_copy_options_set_allow_stream_fallback(
    opts: *mut ossr_copy_options,
    allow: bool,
    err: *mut ossr_error,
) -> ossr_result {
    edit_copy(opts, err, |o| {
        o.allow_stream_fallback = allow;
        Ok(())
    })
}

/// When another copy from the same source to the same destination holds its
/// checkpoint, wait for it (true: until it ends, or the cancel token in the request
/// options fires) instead of failing with `OSSR_ERR_BUSY` (false). Defaults to false.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_copy_options_set_wait_if_busy(
    opts: *mut ossr_copy_options,
    wait: bool,
    err: *mut ossr_error,
) -> ossr_result {
    edit_copy(opts, err, |o| {
        o.wait_if_busy = wait;
        Ok(())
    })
}

/// Copies request options (requester-pays, traffic limit, cancel token) into the
/// copy options, for every request of the copy; `req` may be freed afterwards (a
/// cancel token in it is shared, not copied). Defaults to none.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT` for a
/// version id (copying a version is not supported).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_copy_options_set_request(
    opts: *mut ossr_copy_options,
    req: *const ossr_request_options,
    err: *mut ossr_error,
) -> ossr_result {
    edit_copy(opts, err, |o| {
        o.request = arg_ref(req, "req")?.inner.clone();
        Ok(())
    })
}

/// Copies `src_bucket/src_key` to `dst_bucket/dst_key` on the server, resumably: no
/// object byte passes through the client. (`ossr_client_copy` is the other copy: it
/// streams the bytes through the client.)
///
/// HEADs the source, then: below the threshold (and for an empty source) one
/// CopyObject; above it a multipart copy whose parts are UploadPartCopy requests run
/// in parallel, each pinned to the source's ETag, recorded in a checkpoint as they
/// finish, so a later call with the same arguments resumes. The copy's CRC-64 is
/// checked against the source's. A source that changes during the copy fails it and
/// makes no object; no multipart upload is left behind by a finished or failed copy
/// (an interrupted one keeps its upload for the next call, or the next call aborts
/// it).
///
/// - `src_bucket`, `src_key`, `dst_bucket`, `dst_key`: borrowed for the call.
/// - `opts`: options, or NULL for the defaults.
/// - `progress`, `userdata`: optional progress callback (NULL for none), called on
///   this thread, one call at a time, with the bytes copied so far and the source's
///   size, part by part; its last call is at 100% once the copy exists. A non-zero
///   return cancels: the call returns `OSSR_ERR_CANCELLED` and keeps the checkpoint.
/// - `report`: optional (may be NULL); filled only on success.
///
/// Blocking; worker threads are started and joined inside. The client may be shared
/// with other threads; two copies between the same ends exclude each other
/// (`OSSR_ERR_BUSY`, or waiting with `ossr_copy_options_set_wait_if_busy`).
/// Cancellable by the token in the options' request options (see "Cancelling"): the
/// checkpoint is kept, so calling again (without the cancelled token) resumes.
///
/// Returns `OSSR_OK`; `OSSR_ERR_CANCELLED` (by the progress callback or the token);
/// `OSSR_ERR_NOT_FOUND` (no such source or bucket); `OSSR_ERR_ACCESS_DENIED` (also
/// when the server refuses to copy and no stream fallback is allowed);
/// `OSSR_ERR_OBJECT_CHANGED` (the source changed mid-copy; no object is made);
/// `OSSR_ERR_CRC_MISMATCH`; `OSSR_ERR_BUSY`; `OSSR_ERR_IO` (the checkpoint directory
/// cannot be written); `OSSR_ERR_INVALID_ARGUMENT` (bad names, or a destination that
/// exists under forbid-overwrite, OSS code `FileAlreadyExists`); the 3xx network
/// codes (the checkpoint is kept); the argument codes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ossr_client_copy_object(
    client: *const ossr_client,
    src_bucket: *const c_char,
    src_key: *const c_char,
    dst_bucket: *const c_char,
    dst_key: *const c_char,
    opts: *const ossr_copy_options,
    progress: ossr_progress_cb,
    userdata: *mut c_void,
    report: *mut ossr_copy_report,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let src_bucket = arg_str(src_bucket, "src_bucket")?;
        let src_key = arg_str(src_key, "src_key")?;
        let dst_bucket = arg_str(dst_bucket, "dst_bucket")?;
        let dst_key = arg_str(dst_key, "dst_key")?;
        check_report(report, "report")?;
        let defaults = CopyOptions::default();
        let opts = opt_ref(opts).map(|o| &o.inner).unwrap_or(&defaults);
        let done = with_progress(progress, userdata, |p| {
            client
                .inner
                .copy(src_bucket, src_key, dst_bucket, dst_key, opts, p)
        })?;
        write_report(report, copy_report(&done));
        Ok(())
    })
}

fn copy_report(r: &CopyReport) -> ossr_copy_report {
    let (checkpoint, reason) = state_of(&r.checkpoint);
    let mut out = ossr_copy_report {
        struct_size: 0,
        size: r.size,
        parts: r.parts,
        part_size: r.part_size,
        parts_copied: r.parts_copied,
        parts_reused: r.parts_reused,
        uploads_aborted: r.uploads_aborted,
        crc64: r.crc64.unwrap_or(0),
        has_crc64: r.crc64.is_some(),
        path: match r.path {
            CopyPath::CopyObject => ossr_copy_path::OSSR_COPY_PATH_SERVER_SINGLE,
            CopyPath::UploadPartCopy => ossr_copy_path::OSSR_COPY_PATH_SERVER_MULTIPART,
            CopyPath::Stream => ossr_copy_path::OSSR_COPY_PATH_STREAM,
        },
        checkpoint,
        checkpoint_reason: [0; OSSR_REASON_LEN],
        etag: [0; OSSR_ETAG_LEN],
    };
    fill_array(&mut out.checkpoint_reason, reason);
    fill_array(&mut out.etag, &r.etag);
    out
}

impl super::Report for ossr_copy_report {
    const NAME: &'static str = "ossr_copy_report";
    const MIN_SIZE: usize = std::mem::size_of::<ossr_copy_report>();
    fn set_struct_size(&mut self, size: usize) {
        self.struct_size = size;
    }
}
