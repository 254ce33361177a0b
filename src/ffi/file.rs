//! Random access: an object read like a local read-only file (`ossr_file_*`).

use super::client::{ossr_client, ossr_request_options};
use super::{
    Failure, FfiResult, arg_mut, arg_ref, arg_str, copy_str, free_handle, guard, guard_value,
    into_handle, opt_ref, ossr_error, ossr_result, out_ptr, write_out,
};
use crate::{FileOptions, ObjectFile};
use std::ffi::{c_char, c_int};
use std::sync::{Mutex, MutexGuard};

/// Where `ossr_file_seek` counts its offset from (the values of C's `SEEK_SET`,
/// `SEEK_CUR` and `SEEK_END`).
#[repr(u32)]
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // for the header: C passes its values as numbers
pub enum ossr_whence {
    /// From the start of the object.
    OSSR_SEEK_SET = 0,
    /// From the current position.
    OSSR_SEEK_CUR = 1,
    /// From the end of the object.
    OSSR_SEEK_END = 2,
}

/// What an `ossr_file` has done so far; filled by `ossr_file_stats`.
#[repr(C)]
pub struct ossr_file_statistics {
    /// Set by the caller to `sizeof` this struct before the call; the library
    /// writes only the fields that fit (a struct from an older header gets the
    /// fields it knows). 0 or less than this version's size is refused with
    /// `OSSR_ERR_INVALID_ARGUMENT` before anything is done.
    pub struct_size: usize,
    /// Requests sent: the HEAD at open and every GET (a retry or a resumed body is
    /// not counted again).
    pub requests: u64,
    /// Body bytes received from the server.
    pub bytes_fetched: u64,
    /// Bytes handed to the caller.
    pub bytes_read: u64,
    /// Of those, the bytes already fetched or on their way when a read asked for
    /// them (prefetched, or kept from an earlier read).
    pub bytes_from_cache: u64,
    /// Whether the whole object has been read front to back and its CRC-64 matched
    /// the server's.
    pub crc_verified: bool,
}

/// Options of `ossr_file_open`. Made by `ossr_file_options_new` with the defaults
/// each setter states, freed by `ossr_file_options_free`; only read by
/// `ossr_file_open` (the file keeps its own copy), so it may be freed after.
pub struct ossr_file_options {
    inner: FileOptions,
}

/// An object opened for reading like a local read-only file. Made by
/// `ossr_file_open`, freed by `ossr_file_free`.
///
/// Every byte comes from the version of the object there at open: each GET carries
/// `If-Match` with the ETag read then, so once the object changes every read fails
/// with `OSSR_ERR_OBJECT_CHANGED`, never returning bytes of two versions. Reading the
/// whole object front to back checks its CRC-64 on the read that reaches the end
/// (`OSSR_ERR_CRC_MISMATCH`, after which every read fails).
///
/// Fetching follows how the file is read: a first read at a place fetches only the
/// 64 KiB pages it touches; reads that continue one another are prefetched ahead, in
/// a window that starts at 256 KiB and doubles up to the options' maximum window, in
/// parallel requests; up to 8 such streams are followed per file. What is fetched
/// lives in the client's prefetch memory (`ossr_config_builder_set_prefetch_memory`,
/// one limit for all its open files, never exceeded).
///
/// Threading: every call on a file may be made from any number of threads at once,
/// but for `ossr_file_free`. `ossr_file_read_at` is positioned (like `pread`) and
/// calls run in parallel. `ossr_file_read` and `ossr_file_seek` share one position,
/// kept behind a lock: concurrent calls are safe but run one at a time, and which
/// one goes first is not defined, so give each thread its own file (or use
/// `ossr_file_read_at`) when the order matters. The file holds its own reference to
/// the client's connections: it may outlive the `ossr_client` it was opened from.
pub struct ossr_file {
    inner: ObjectFile,
    /// The position of `ossr_file_read` and `ossr_file_seek`.
    position: Mutex<u64>,
}

impl ossr_file {
    fn position(&self) -> MutexGuard<'_, u64> {
        // A position is one integer, written whole: a poisoned lock holds a good one.
        self.position.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Makes file options with the defaults.
///
/// - `out`: receives the handle; the caller frees it with `ossr_file_options_free`.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_file_options_new(
    out: *mut *mut ossr_file_options,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let out = out_ptr(out, "out")?;
        write_out(
            out,
            into_handle(ossr_file_options {
                inner: FileOptions::default(),
            }),
        );
        Ok(())
    })
}

/// Frees file options. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_file_options_free(opts: *mut ossr_file_options) {
    guard_value((), || free_handle(opts))
}

fn edit_file(
    opts: *mut ossr_file_options,
    err: *mut ossr_error,
    change: impl FnOnce(&mut FileOptions) -> FfiResult,
) -> ossr_result {
    guard(err, || change(&mut arg_mut(opts, "opts")?.inner))
}

/// Sets the most a sequential stream fetches ahead of its reader, in bytes; also
/// capped at half the client's prefetch memory shared among the file's streams. 0
/// turns prefetching off (each read fetches only the pages it touches). Defaults to
/// 32 MiB (33554432).
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_file_options_set_max_window(
    opts: *mut ossr_file_options,
    bytes: u64,
    err: *mut ossr_error,
) -> ossr_result {
    edit_file(opts, err, |o| {
        o.max_window = bytes;
        Ok(())
    })
}

/// Sets the prefetch requests in flight at once per file, each on its own
/// connection, 1..=64. Defaults to 4.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_file_options_set_max_requests(
    opts: *mut ossr_file_options,
    requests: u32,
    err: *mut ossr_error,
) -> ossr_result {
    edit_file(opts, err, |o| {
        if !(1..=crate::MAX_THREADS as u32).contains(&requests) {
            return Err(Failure::Invalid(format!(
                "max requests {requests} is outside 1..={}",
                crate::MAX_THREADS
            )));
        }
        o.max_requests = requests as usize;
        Ok(())
    })
}

/// Sets how often a dropped body is resumed within one request (0 disables).
/// Defaults to 5.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_file_options_set_resume_attempts(
    opts: *mut ossr_file_options,
    attempts: u32,
    err: *mut ossr_error,
) -> ossr_result {
    edit_file(opts, err, |o| {
        o.resume_attempts = attempts;
        Ok(())
    })
}

/// Copies request options (version id, requester-pays, traffic limit, cancel token)
/// into the file options: they apply to the HEAD at open and to every GET after.
/// Cancelling the token makes the open, and every later read of the file, fail
/// with `OSSR_ERR_CANCELLED` (a read in progress within about 200 ms). `req` may be
/// freed afterwards (a cancel token in it is shared, not copied). Defaults to none.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_file_options_set_request(
    opts: *mut ossr_file_options,
    req: *const ossr_request_options,
    err: *mut ossr_error,
) -> ossr_result {
    edit_file(opts, err, |o| {
        o.request = arg_ref(req, "req")?.inner.clone();
        Ok(())
    })
}

/// Opens an object for random access: one HEAD reads its size, ETag and CRC-64;
/// nothing else is fetched until the first read.
///
/// - `bucket`, `key`: borrowed for the call.
/// - `opts`: options, or NULL for the defaults.
/// - `out`: receives the file, which the caller frees with `ossr_file_free`. Written
///   only on success.
///
/// Blocking. Cancellable by the token in the options' request options.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NOT_FOUND`, `OSSR_ERR_ACCESS_DENIED`,
/// `OSSR_ERR_CANCELLED`, `OSSR_ERR_INVALID_ARGUMENT` (bad bucket or key), the 3xx
/// network codes, and the argument codes.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_file_open(
    client: *const ossr_client,
    bucket: *const c_char,
    key: *const c_char,
    opts: *const ossr_file_options,
    out: *mut *mut ossr_file,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        let out = out_ptr(out, "out")?;
        let defaults = FileOptions::default();
        let opts = opt_ref(opts).map(|o| &o.inner).unwrap_or(&defaults);
        let file = client.inner.open_file(bucket, key, opts)?;
        write_out(
            out,
            into_handle(ossr_file {
                inner: file,
                position: Mutex::new(0),
            }),
        );
        Ok(())
    })
}

/// Frees a file: its fetches stop and its prefetch memory goes back to the client.
/// NULL is a no-op. No other call may be using the file.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_file_free(file: *mut ossr_file) {
    guard_value((), || free_handle(file))
}

/// The caller's buffer as a slice; NULL is allowed only for an empty one.
fn buffer<'a>(buf: *mut u8, len: usize) -> FfiResult<&'a mut [u8]> {
    if len == 0 {
        return Ok(&mut []);
    }
    if buf.is_null() {
        return Err(Failure::Null("buf"));
    }
    if len > isize::MAX as usize {
        return Err(Failure::Invalid(format!("len {len} exceeds isize::MAX")));
    }
    // SAFETY: not NULL, at most isize::MAX, and the header requires `buf` to point to
    // `len` writable bytes that nothing else uses during the call.
    Ok(unsafe { std::slice::from_raw_parts_mut(buf, len) })
}

/// Reads up to `len` bytes at `offset` into `buf`, like `pread`, without moving the
/// position of `ossr_file_read`: fills the buffer but for the end of the object, and
/// stores the count in `*out_n` (0 at or past the end, which is `OSSR_OK`). Safe
/// from any number of threads at once on one file; blocking.
///
/// - `buf`, `len`: the caller's buffer (NULL only when `len` is 0).
/// - `out_n`: receives the bytes read; written only on success.
///
/// Returns `OSSR_OK`; `OSSR_ERR_OBJECT_CHANGED` (the object changed since open; so
/// do all later reads); `OSSR_ERR_CRC_MISMATCH` (a front-to-back read's CRC-64
/// differs from the server's); `OSSR_ERR_CANCELLED` (the options' token); the 3xx
/// network codes once retries run out; the argument codes.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_file_read_at(
    file: *const ossr_file,
    buf: *mut u8,
    len: usize,
    offset: u64,
    out_n: *mut usize,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let file = arg_ref(file, "file")?;
        let out_n = out_ptr(out_n, "out_n")?;
        let buf = buffer(buf, len)?;
        let n = file.inner.read_at(buf, offset)?;
        write_out(out_n, n);
        Ok(())
    })
}

/// Reads up to `len` bytes at the file's position into `buf` and moves the position
/// past them; stores the count in `*out_n` (0 at or past the end, which is
/// `OSSR_OK`). Fills the buffer but for the end of the object. The position starts
/// at 0. Calls on one file run one at a time (see `ossr_file`).
///
/// Returns the codes of `ossr_file_read_at`; on failure the position stays.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_file_read(
    file: *const ossr_file,
    buf: *mut u8,
    len: usize,
    out_n: *mut usize,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let file = arg_ref(file, "file")?;
        let out_n = out_ptr(out_n, "out_n")?;
        let buf = buffer(buf, len)?;
        let mut position = file.position();
        let n = file.inner.read_at(buf, *position)?;
        *position += n as u64;
        write_out(out_n, n);
        Ok(())
    })
}

/// Moves the position of `ossr_file_read` to `offset` counted from `whence`
/// (`OSSR_SEEK_SET`, `OSSR_SEEK_CUR`, `OSSR_SEEK_END`, the values of C's `SEEK_*`),
/// and stores the new position in `*out_pos` when that is not NULL. A position past
/// the end is allowed (reads there give 0 bytes). No request is sent.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT` for
/// another `whence` or a position before 0 or beyond 2^64 - 1 (the position stays).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_file_seek(
    file: *const ossr_file,
    offset: i64,
    whence: c_int,
    out_pos: *mut u64,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let file = arg_ref(file, "file")?;
        let mut position = file.position();
        let base = match whence {
            0 => 0,
            1 => *position,
            2 => file.inner.size(),
            other => {
                return Err(Failure::Invalid(format!(
                    "whence {other} is not OSSR_SEEK_SET (0), OSSR_SEEK_CUR (1) or OSSR_SEEK_END (2)"
                )));
            }
        };
        let target = base.checked_add_signed(offset).ok_or_else(|| {
            Failure::Invalid(format!(
                "seeking {offset} bytes from {base} gives a position outside 0..=2^64-1"
            ))
        })?;
        *position = target;
        super::write_given(out_pos, target);
        Ok(())
    })
}

/// The object's size in bytes (0 when `file` is NULL).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_file_size(file: *const ossr_file) -> u64 {
    guard_value(0, || opt_ref(file).map(|f| f.inner.size()).unwrap_or(0))
}

/// Copies the ETag every read is pinned to (with its quotes) into `buf`.
/// Buffer rules and return codes as for `ossr_error_oss_code`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_file_etag(
    file: *const ossr_file,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    guard_value(ossr_result::OSSR_ERR_PANIC, || match opt_ref(file) {
        Some(f) => copy_str(f.inner.etag(), buf, len, out_len),
        None => ossr_result::OSSR_ERR_NULL_ARGUMENT,
    })
}

/// Fills `*out` with what the file has done so far: requests, bytes fetched, bytes
/// read, bytes served from what was already fetched, and whether the CRC-64 was
/// verified. Safe while other threads read the file (the counters are each current,
/// not a snapshot taken at one instant).
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT` when `file` or `out` is NULL, or
/// `OSSR_ERR_INVALID_ARGUMENT` when `out->struct_size` is too small (0 included).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_file_stats(
    file: *const ossr_file,
    out: *mut ossr_file_statistics,
) -> ossr_result {
    guard_value(ossr_result::OSSR_ERR_PANIC, || {
        let (Some(f), false) = (opt_ref(file), out.is_null()) else {
            return ossr_result::OSSR_ERR_NULL_ARGUMENT;
        };
        if super::check_report(out, "out").is_err() {
            return ossr_result::OSSR_ERR_INVALID_ARGUMENT;
        }
        let s = f.inner.stats();
        super::write_report(
            out,
            ossr_file_statistics {
                struct_size: 0,
                requests: s.requests,
                bytes_fetched: s.bytes_fetched,
                bytes_read: s.bytes_read,
                bytes_from_cache: s.bytes_from_cache,
                crc_verified: f.inner.crc_verified(),
            },
        );
        ossr_result::OSSR_OK
    })
}

impl super::Report for ossr_file_statistics {
    const NAME: &'static str = "ossr_file_statistics";
    const MIN_SIZE: usize = std::mem::size_of::<ossr_file_statistics>();
    fn set_struct_size(&mut self, size: usize) {
        self.struct_size = size;
    }
}
