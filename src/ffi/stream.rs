//! Streaming: a GET read into caller buffers, a put from a read callback, a GET
//! streamed to a file, and an object streamed into another.

use super::client::{ossr_client, ossr_request_options};
use super::transfer::OSSR_ETAG_LEN;
use super::{
    CallbackReader, Failure, FfiResult, arg_header, arg_mut, arg_path, arg_ref, arg_str,
    call_progress, copy_str, fill_array, free_handle, guard, guard_value, into_handle, opt_ref,
    ossr_error, ossr_progress_cb, ossr_read_cb, ossr_result, out_ptr, write_opt, write_out,
};
use crate::{ByteRange, Error, GetOptions, GetStream, PutResult, RequestOptions, StreamReport};
use std::ffi::{c_char, c_void};
use std::io::Read;

/// Options of `ossr_client_open_get`, `ossr_client_get_to_file` and the source side of
/// `ossr_client_copy`. Made by `ossr_get_options_new` (whole object, 5 resumes), freed
/// by `ossr_get_options_free`; only read by calls.
pub struct ossr_get_options {
    inner: GetOptions,
}

/// Options of `ossr_client_put_stream` and the destination side of
/// `ossr_client_copy`: headers, request options and the length when known. Made by
/// `ossr_put_options_new`, freed by `ossr_put_options_free`; only read by calls.
pub struct ossr_put_options {
    headers: Vec<(String, String)>,
    request: RequestOptions,
    length: Option<u64>,
}

/// A GET being read: made by `ossr_client_open_get`, read with
/// `ossr_get_stream_read`, freed by `ossr_get_stream_free`. It resumes a dropped body
/// by itself (a ranged GET pinned to the ETag). Not for use by two threads at once;
/// it may move between threads. The client must outlive it.
pub struct ossr_get_stream {
    inner: GetStream,
}

/// What a put or a copy made. Filled only on success.
#[repr(C)]
pub struct ossr_put_result {
    /// Set by the caller to `sizeof` this struct before the call; the library
    /// writes only the fields that fit (a struct from an older header gets the
    /// fields it knows). 0 or less than this version's size is refused with
    /// `OSSR_ERR_INVALID_ARGUMENT` before anything is done.
    pub struct_size: usize,
    /// The object's CRC-64 as the server computed it (valid when `has_crc64`); it has
    /// been checked against the bytes sent.
    pub crc64: u64,
    /// Whether the server reported a CRC-64.
    pub has_crc64: bool,
    /// The object's ETag, NUL-terminated.
    pub etag: [c_char; OSSR_ETAG_LEN],
}

/// What `ossr_client_get_to_file` moved. Filled only on success.
#[repr(C)]
pub struct ossr_stream_report {
    /// Set by the caller to `sizeof` this struct before the call; the library
    /// writes only the fields that fit (a struct from an older header gets the
    /// fields it knows). 0 or less than this version's size is refused with
    /// `OSSR_ERR_INVALID_ARGUMENT` before anything is done.
    pub struct_size: usize,
    /// Bytes written.
    pub bytes: u64,
    /// CRC-64 of those bytes.
    pub crc64: u64,
    /// Whether they were checked against the server's CRC-64 (false for ranges and
    /// objects without one).
    pub verified: bool,
    /// Times a dropped body was resumed.
    pub resumes: u32,
}

/// Makes get options: the whole object, no request options, 5 resumes.
///
/// - `out`: receives the handle; the caller frees it with `ossr_get_options_free`.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_get_options_new(
    out: *mut *mut ossr_get_options,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let out = out_ptr(out, "out")?;
        write_out(
            out,
            into_handle(ossr_get_options {
                inner: GetOptions::default(),
            }),
        );
        Ok(())
    })
}

/// Frees get options. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_get_options_free(opts: *mut ossr_get_options) {
    guard_value((), || free_handle(opts))
}

fn edit_get(
    opts: *mut ossr_get_options,
    err: *mut ossr_error,
    change: impl FnOnce(&mut GetOptions) -> FfiResult,
) -> ossr_result {
    guard(err, || change(&mut arg_mut(opts, "opts")?.inner))
}

/// Reads bytes `first..=last` (inclusive) instead of the whole object. Defaults to the
/// whole object. A range past the end fails the open with `OSSR_ERR_INVALID_ARGUMENT`.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT` when
/// `last < first`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_get_options_set_range(
    opts: *mut ossr_get_options,
    first: u64,
    last: u64,
    err: *mut ossr_error,
) -> ossr_result {
    edit_get(opts, err, |o| {
        let range = ByteRange::new(first, last);
        range.validate()?;
        o.range = Some(range);
        Ok(())
    })
}

/// Reads from byte `first` to the end instead of the whole object.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_get_options_set_range_from(
    opts: *mut ossr_get_options,
    first: u64,
    err: *mut ossr_error,
) -> ossr_result {
    edit_get(opts, err, |o| {
        o.range = Some(ByteRange::from(first));
        Ok(())
    })
}

/// Times a dropped body is resumed from the byte reached (0 disables). Defaults to 5.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_get_options_set_resume_attempts(
    opts: *mut ossr_get_options,
    attempts: u32,
    err: *mut ossr_error,
) -> ossr_result {
    edit_get(opts, err, |o| {
        o.resume_attempts = attempts;
        Ok(())
    })
}

/// Copies request options (version id, requester-pays, traffic limit, cancel token)
/// into the get options; `req` may be freed afterwards (a cancel token in it is
/// shared, not copied). Defaults to none.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_get_options_set_request(
    opts: *mut ossr_get_options,
    req: *const ossr_request_options,
    err: *mut ossr_error,
) -> ossr_result {
    edit_get(opts, err, |o| {
        o.request = arg_ref(req, "req")?.inner.clone();
        Ok(())
    })
}

/// Opens a GET of an object (or of the range in `opts`) as a stream. The response
/// head is checked before this returns; the body is read with `ossr_get_stream_read`.
///
/// - `opts`: options, or NULL for the whole object.
/// - `out`: receives the stream, freed with `ossr_get_stream_free`. Written only on
///   success.
///
/// The cancel token in the request options of `opts` (see "Cancelling") governs
/// the stream's whole life: it cancels the open and every later read, resumes
/// included.
///
/// Returns `OSSR_OK`, `OSSR_ERR_CANCELLED`, `OSSR_ERR_NOT_FOUND`,
/// `OSSR_ERR_ACCESS_DENIED`, `OSSR_ERR_INVALID_ARGUMENT` (bad names, a range past the
/// end), the 3xx network codes, and the argument codes.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_client_open_get(
    client: *const ossr_client,
    bucket: *const c_char,
    key: *const c_char,
    opts: *const ossr_get_options,
    out: *mut *mut ossr_get_stream,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        let out = out_ptr(out, "out")?;
        let defaults = GetOptions::default();
        let opts = opt_ref(opts).map(|o| &o.inner).unwrap_or(&defaults);
        let stream = client.inner.open_get(bucket, key, opts)?;
        write_out(out, into_handle(ossr_get_stream { inner: stream }));
        Ok(())
    })
}

/// Reads up to `len` bytes into `buf` and stores how many in `*out_n`; 0 means the
/// end. Blocks until at least one byte arrives. The read that completes a whole
/// object compares the CRC-64 of everything read with the server's and, on a
/// difference, fails with `OSSR_ERR_CRC_MISMATCH` and withholds its bytes.
///
/// Cancellable by the token the stream was opened with (see
/// `ossr_client_open_get`).
///
/// Returns `OSSR_OK`; `OSSR_ERR_CANCELLED`; `OSSR_ERR_CRC_MISMATCH`;
/// `OSSR_ERR_OBJECT_CHANGED` (the object changed before a resume); the 3xx network
/// codes once resumes run out; the argument codes. A stream that failed stays failed: every later read returns the same code
/// and message (it never reconnects and never reports the end), and
/// `ossr_get_stream_bytes_read` and `ossr_get_stream_client_crc` count only the
/// bytes handed out.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_get_stream_read(
    stream: *mut ossr_get_stream,
    buf: *mut u8,
    len: usize,
    out_n: *mut usize,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let stream = arg_mut(stream, "stream")?;
        let out_n = out_ptr(out_n, "out_n")?;
        if buf.is_null() {
            return Err(Failure::Null("buf"));
        }
        if len == 0 {
            write_out(out_n, 0);
            return Ok(());
        }
        // SAFETY: `buf` is not NULL and the header requires it to hold `len` writable
        // bytes that nothing else touches during the call.
        let slice = unsafe { std::slice::from_raw_parts_mut(buf, len) };
        let n = stream.inner.read(slice).map_err(unwrap_io)?;
        write_out(out_n, n);
        Ok(())
    })
}

/// A `GetStream` read error carries the library's `Error` inside an `io::Error`.
fn unwrap_io(e: std::io::Error) -> Failure {
    if e.get_ref().is_some_and(|inner| inner.is::<Error>()) {
        // `is` just said the inner error is ours, so both unwraps hold.
        let inner = e.into_inner().expect("checked above");
        return Failure::Lib(*inner.downcast::<Error>().expect("checked above"));
    }
    Failure::Lib(Error::io("reading the stream", e))
}

/// Frees a stream, closing its connection. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_get_stream_free(stream: *mut ossr_get_stream) {
    guard_value((), || free_handle(stream))
}

/// The bytes the stream delivers in all (the object's size, or the range's); 0 when
/// `stream` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_get_stream_content_length(stream: *const ossr_get_stream) -> u64 {
    guard_value(0, || {
        opt_ref(stream)
            .map(|s| s.inner.content_length())
            .unwrap_or(0)
    })
}

/// The bytes delivered so far; 0 when `stream` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_get_stream_bytes_read(stream: *const ossr_get_stream) -> u64 {
    guard_value(0, || {
        opt_ref(stream).map(|s| s.inner.bytes_read()).unwrap_or(0)
    })
}

/// The CRC-64 of the bytes delivered so far; 0 when `stream` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_get_stream_client_crc(stream: *const ossr_get_stream) -> u64 {
    guard_value(0, || {
        opt_ref(stream).map(|s| s.inner.client_crc()).unwrap_or(0)
    })
}

/// Stores the whole object's CRC-64 as the server reported it in `*out` and returns
/// true; false (and `*out` untouched) when it reported none or an argument is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_get_stream_server_crc(
    stream: *const ossr_get_stream,
    out: *mut u64,
) -> bool {
    guard_value(false, || {
        write_opt(out, opt_ref(stream).and_then(|s| s.inner.server_crc()))
    })
}

/// Times a dropped body was resumed so far; 0 when `stream` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_get_stream_resumes(stream: *const ossr_get_stream) -> u32 {
    guard_value(0, || {
        opt_ref(stream).map(|s| s.inner.resumes()).unwrap_or(0)
    })
}

/// Copies the object's ETag into `buf`. Buffer rules and return codes as for
/// `ossr_error_oss_code`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_get_stream_etag(
    stream: *const ossr_get_stream,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    guard_value(ossr_result::OSSR_ERR_PANIC, || match opt_ref(stream) {
        Some(s) => copy_str(s.inner.etag(), buf, len, out_len),
        None => ossr_result::OSSR_ERR_NULL_ARGUMENT,
    })
}

/// Makes put options: no headers, no request options, length unknown (chunked).
///
/// - `out`: receives the handle; the caller frees it with `ossr_put_options_free`.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_put_options_new(
    out: *mut *mut ossr_put_options,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let out = out_ptr(out, "out")?;
        write_out(
            out,
            into_handle(ossr_put_options {
                headers: Vec::new(),
                request: RequestOptions::default(),
                length: None,
            }),
        );
        Ok(())
    })
}

/// Frees put options. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_put_options_free(opts: *mut ossr_put_options) {
    guard_value((), || free_handle(opts))
}

/// Adds a request header for the new object (`Content-Type`, `x-oss-meta-*`,
/// `x-oss-object-acl`, `x-oss-storage-class`, any other `x-oss-` header). Strings are
/// copied. Defaults to none.
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
pub extern "C" fn ossr_put_options_add_header(
    opts: *mut ossr_put_options,
    name: *const c_char,
    value: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let o = arg_mut(opts, "opts")?;
        o.headers.push(arg_header(name, value)?);
        Ok(())
    })
}

/// Declares the exact number of bytes the read callback will give, so the put is sent
/// with `Content-Length` (a different count fails the put). Defaults to unknown:
/// chunked transfer. Ignored by `ossr_client_copy`, which knows the source's length.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_put_options_set_content_length(
    opts: *mut ossr_put_options,
    length: u64,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        arg_mut(opts, "opts")?.length = Some(length);
        Ok(())
    })
}

/// Copies request options (requester-pays, traffic limit, cancel token) into the put
/// options; `req` may be freed afterwards (a cancel token in it is shared, not
/// copied). Defaults to none.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_put_options_set_request(
    opts: *mut ossr_put_options,
    req: *const ossr_request_options,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let o = arg_mut(opts, "opts")?;
        o.request = arg_ref(req, "req")?.inner.clone();
        Ok(())
    })
}

/// The headers, request options and declared length of optional put options.
pub(crate) fn put_options_parts(
    opts: Option<&ossr_put_options>,
) -> (&[(String, String)], RequestOptions, Option<u64>) {
    match opts {
        Some(o) => (o.headers.as_slice(), o.request.clone(), o.length),
        None => (&[], RequestOptions::default(), None),
    }
}

fn with_stream_progress<T>(
    progress: ossr_progress_cb,
    userdata: *mut c_void,
    f: impl FnOnce(Option<&mut dyn FnMut(u64, Option<u64>) -> bool>) -> T,
) -> T {
    match progress {
        Some(cb) => {
            let mut closure = move |done: u64, total: Option<u64>| {
                call_progress(cb, userdata, done, total.unwrap_or(0))
            };
            f(Some(&mut closure))
        }
        None => f(None),
    }
}

pub(crate) fn put_result(r: &PutResult) -> ossr_put_result {
    let mut out = ossr_put_result {
        struct_size: 0,
        crc64: r.crc64.unwrap_or(0),
        has_crc64: r.crc64.is_some(),
        etag: [0; OSSR_ETAG_LEN],
    };
    fill_array(&mut out.etag, &r.etag);
    out
}

/// Puts an object from a read callback: the bytes go as they are read (memory stays
/// bounded whatever the size), with `Content-Length` when `opts` declares the length
/// and as chunked transfer otherwise, and the CRC-64 of the bytes sent is checked
/// against the server's. The body is sent once (a callback cannot be replayed); a
/// failed read, a cancelled progress or a dropped connection leaves no object.
///
/// - `read`, `read_userdata`: the data source (required), called on this thread.
/// - `opts`: headers, request options and length, or NULL for none and chunked.
/// - `progress`, `progress_userdata`: optional; `total` is 0 while the length is
///   unknown.
/// - `result`: optional (may be NULL); filled only on success.
///
/// Cancellable by the token in the request options of `opts` (see "Cancelling").
///
/// Returns `OSSR_OK`; `OSSR_ERR_IO` (the callback failed); `OSSR_ERR_CANCELLED` (by
/// the progress callback or the token);
/// `OSSR_ERR_CRC_MISMATCH`; `OSSR_ERR_ACCESS_DENIED`; `OSSR_ERR_NOT_FOUND` (no such
/// bucket); the 3xx network codes; the argument codes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ossr_client_put_stream(
    client: *const ossr_client,
    bucket: *const c_char,
    key: *const c_char,
    read: ossr_read_cb,
    read_userdata: *mut c_void,
    opts: *const ossr_put_options,
    progress: ossr_progress_cb,
    progress_userdata: *mut c_void,
    result: *mut ossr_put_result,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        super::check_report(result, "result")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        let cb = read.ok_or(Failure::Null("read"))?;
        let mut reader = CallbackReader {
            cb,
            userdata: read_userdata,
        };
        let (headers, request, length) = put_options_parts(opt_ref(opts));
        let put = with_stream_progress(progress, progress_userdata, |p| {
            client
                .inner
                .put_stream(bucket, key, &mut reader, length, headers, &request, p)
        })?;
        super::write_report(result, put_result(&put));
        Ok(())
    })
}

/// Streams an object (or the range in `opts`) to a local file: written to a
/// temporary file beside the target, checked against the server's CRC-64 for a whole
/// object, synced, and renamed into place. The target is never left truncated.
///
/// - `target`: the file path, borrowed for the call.
/// - `opts`: options, or NULL for the whole object.
/// - `report`: optional (may be NULL); filled only on success.
///
/// Cancellable by the token in the request options of `opts` (see "Cancelling");
/// the target is then left as it was.
///
/// Returns `OSSR_OK`, `OSSR_ERR_CANCELLED`, `OSSR_ERR_NOT_FOUND`,
/// `OSSR_ERR_CRC_MISMATCH`, `OSSR_ERR_OBJECT_CHANGED`, `OSSR_ERR_IO` (also for a target directory that is
/// missing or cannot be written, found before any request is sent), the 3xx network
/// codes, and the argument codes (`OSSR_ERR_INVALID_ARGUMENT` for a target that is a
/// directory).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_client_get_to_file(
    client: *const ossr_client,
    bucket: *const c_char,
    key: *const c_char,
    target: *const c_char,
    opts: *const ossr_get_options,
    report: *mut ossr_stream_report,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        super::check_report(report, "report")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        let target = arg_path(target, "target")?;
        let defaults = GetOptions::default();
        let opts = opt_ref(opts).map(|o| &o.inner).unwrap_or(&defaults);
        let done: StreamReport = client.inner.get_to_file(bucket, key, &target, opts)?;
        super::write_report(
            report,
            ossr_stream_report {
                struct_size: 0,
                bytes: done.bytes,
                crc64: done.crc64,
                verified: done.verified,
                resumes: done.resumes,
            },
        );
        Ok(())
    })
}

/// Streams one object into another (any bucket and key) through the client: every
/// byte is read from the server and sent back to it, with no temporary copy on disk,
/// memory bounded, the CRC-64 checked end to end (the bytes read against the
/// source's, the bytes sent against the destination's). It does not resume. To copy
/// on the server, with no byte through the client, resumably, use
/// `ossr_client_copy_object`; this call is for ends the server will not copy
/// between, and for ranges.
///
/// - `get_opts`: source range and request options, or NULL for the whole object.
/// - `put_opts`: the destination's headers, or NULL for none (its content length and
///   request options are ignored: the source's request options in `get_opts` apply
///   to both sides, their cancel token included; see "Cancelling").
/// - `progress`, `userdata`: optional; `total` is the source length.
/// - `result`: optional (may be NULL); filled only on success.
///
/// Returns the codes of `ossr_client_open_get` and `ossr_client_put_stream`
/// (`OSSR_ERR_CANCELLED` included; a cancelled copy makes no object).
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ossr_client_copy(
    client: *const ossr_client,
    src_bucket: *const c_char,
    src_key: *const c_char,
    dst_bucket: *const c_char,
    dst_key: *const c_char,
    get_opts: *const ossr_get_options,
    put_opts: *const ossr_put_options,
    progress: ossr_progress_cb,
    userdata: *mut c_void,
    result: *mut ossr_put_result,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        super::check_report(result, "result")?;
        let src = (
            arg_str(src_bucket, "src_bucket")?,
            arg_str(src_key, "src_key")?,
        );
        let dst = (
            arg_str(dst_bucket, "dst_bucket")?,
            arg_str(dst_key, "dst_key")?,
        );
        let defaults = GetOptions::default();
        let get = opt_ref(get_opts).map(|o| &o.inner).unwrap_or(&defaults);
        let headers = opt_ref(put_opts)
            .map(|o| o.headers.as_slice())
            .unwrap_or(&[]);
        let put = with_stream_progress(progress, userdata, |p| {
            client.inner.copy_stream(src, dst, headers, get, p)
        })?;
        super::write_report(result, put_result(&put));
        Ok(())
    })
}

impl super::Report for ossr_put_result {
    const NAME: &'static str = "ossr_put_result";
    const MIN_SIZE: usize = std::mem::size_of::<ossr_put_result>();
    fn set_struct_size(&mut self, size: usize) {
        self.struct_size = size;
    }
}

impl super::Report for ossr_stream_report {
    const NAME: &'static str = "ossr_stream_report";
    const MIN_SIZE: usize = std::mem::size_of::<ossr_stream_report>();
    fn set_struct_size(&mut self, size: usize) {
        self.struct_size = size;
    }
}
