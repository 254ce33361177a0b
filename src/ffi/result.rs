//! Result codes, the error object, and the version.

use super::{Failure, copy_str, free_handle, guard_value, into_handle};
use crate::ErrorKind;
use std::ffi::{c_char, c_uint};

/// The outcome of a call. 0 is success; every other value is a failure whose number
/// never changes and is never reused. Codes are grouped: 1xx the caller's arguments,
/// 2xx the object or the transfer, 3xx the network and the server, 4xx local files,
/// 9xx the library itself.
#[repr(u32)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ossr_result {
    /// Success.
    OSSR_OK = 0,
    /// A required pointer argument was NULL.
    OSSR_ERR_NULL_ARGUMENT = 100,
    /// A string argument was not valid UTF-8.
    OSSR_ERR_INVALID_UTF8 = 101,
    /// An argument or the configuration is invalid (a bucket name, a key, a part
    /// size, an unknown enum value, ...), or the server refused an argument.
    OSSR_ERR_INVALID_ARGUMENT = 102,
    /// A caller's buffer was too small; what fit was written, NUL-terminated, and the
    /// full length was stored.
    OSSR_ERR_BUFFER_TOO_SMALL = 103,
    /// A progress callback returned non-zero, or the call's cancel token was
    /// cancelled. A resumable transfer keeps its checkpoint, so the same call later
    /// resumes.
    OSSR_ERR_CANCELLED = 200,
    /// The bucket, object or multipart upload does not exist.
    OSSR_ERR_NOT_FOUND = 201,
    /// The server refused the credentials or the signature.
    OSSR_ERR_ACCESS_DENIED = 202,
    /// The object changed while it was being read.
    OSSR_ERR_OBJECT_CHANGED = 203,
    /// The bytes do not match the CRC-64 the other side reported.
    OSSR_ERR_CRC_MISMATCH = 204,
    /// Another transfer holds the same target (file or upload).
    OSSR_ERR_BUSY = 205,
    /// The connection failed: refused, reset, cut short, DNS, TLS.
    OSSR_ERR_NETWORK = 300,
    /// A connect or read timeout expired.
    OSSR_ERR_TIMEOUT = 301,
    /// The server kept asking us to slow down (503, 429) until retries ran out.
    OSSR_ERR_SERVER_BUSY = 302,
    /// The server failed or answered something unusable.
    OSSR_ERR_SERVER = 303,
    /// A local file could not be read or written (or a read callback failed).
    OSSR_ERR_IO = 400,
    /// A bug: Rust code panicked and the panic was stopped at the boundary.
    OSSR_ERR_PANIC = 900,
}

/// The one mapping from the library's error kinds to C codes.
pub(crate) fn code_of(kind: ErrorKind) -> ossr_result {
    use ossr_result::*;
    match kind {
        ErrorKind::NotFound => OSSR_ERR_NOT_FOUND,
        ErrorKind::AccessDenied => OSSR_ERR_ACCESS_DENIED,
        ErrorKind::ObjectChanged => OSSR_ERR_OBJECT_CHANGED,
        ErrorKind::InvalidArgument => OSSR_ERR_INVALID_ARGUMENT,
        ErrorKind::Network => OSSR_ERR_NETWORK,
        ErrorKind::Timeout => OSSR_ERR_TIMEOUT,
        ErrorKind::CrcMismatch => OSSR_ERR_CRC_MISMATCH,
        ErrorKind::Io => OSSR_ERR_IO,
        ErrorKind::Cancelled => OSSR_ERR_CANCELLED,
        ErrorKind::ServerBusy => OSSR_ERR_SERVER_BUSY,
        ErrorKind::Busy => OSSR_ERR_BUSY,
        ErrorKind::Server => OSSR_ERR_SERVER,
    }
}

const UNKNOWN: &str = "unknown result code\0";

const RESULT_STRINGS: &[(ossr_result, &str)] = &[
    (ossr_result::OSSR_OK, "ok\0"),
    (ossr_result::OSSR_ERR_NULL_ARGUMENT, "null argument\0"),
    (ossr_result::OSSR_ERR_INVALID_UTF8, "invalid utf-8\0"),
    (ossr_result::OSSR_ERR_INVALID_ARGUMENT, "invalid argument\0"),
    (ossr_result::OSSR_ERR_BUFFER_TOO_SMALL, "buffer too small\0"),
    (ossr_result::OSSR_ERR_CANCELLED, "cancelled\0"),
    (ossr_result::OSSR_ERR_NOT_FOUND, "not found\0"),
    (ossr_result::OSSR_ERR_ACCESS_DENIED, "access denied\0"),
    (ossr_result::OSSR_ERR_OBJECT_CHANGED, "object changed\0"),
    (ossr_result::OSSR_ERR_CRC_MISMATCH, "crc mismatch\0"),
    (ossr_result::OSSR_ERR_BUSY, "target busy\0"),
    (ossr_result::OSSR_ERR_NETWORK, "network error\0"),
    (ossr_result::OSSR_ERR_TIMEOUT, "timed out\0"),
    (ossr_result::OSSR_ERR_SERVER_BUSY, "server busy\0"),
    (ossr_result::OSSR_ERR_SERVER, "server error\0"),
    (ossr_result::OSSR_ERR_IO, "local i/o error\0"),
    (ossr_result::OSSR_ERR_PANIC, "internal error (panic)\0"),
];

/// A short lowercase description of a result code, as a static NUL-terminated
/// string. Never NULL: an unknown code gives "unknown result code".
///
/// Ownership: the string is static; do not free it. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_result_str(code: c_uint) -> *const c_char {
    guard_value(UNKNOWN.as_ptr().cast(), || {
        let text = RESULT_STRINGS
            .iter()
            .find(|(c, _)| *c as c_uint == code)
            .map(|(_, s)| *s)
            .unwrap_or(UNKNOWN);
        text.as_ptr().cast()
    })
}

/// The details of a failed call: the result code, the HTTP status, the OSS error
/// code, a message naming what went wrong, and the request id.
///
/// Made by `ossr_error_new`, freed by `ossr_error_free`. Pass it as the last argument
/// of any call; it is overwritten when the call fails and left as it was when it
/// succeeds. One error object must not be used by two threads at once.
pub struct ossr_error {
    pub(crate) code: ossr_result,
    status: u16,
    oss_code: String,
    message: String,
    request_id: String,
}

impl ossr_error {
    pub(crate) fn from_failure(failure: Failure) -> ossr_error {
        let mut record = ossr_error {
            code: ossr_result::OSSR_OK,
            status: 0,
            oss_code: String::new(),
            message: String::new(),
            request_id: String::new(),
        };
        match failure {
            Failure::Null(name) => {
                record.code = ossr_result::OSSR_ERR_NULL_ARGUMENT;
                record.message = format!("{name} is NULL");
            }
            Failure::Utf8(name) => {
                record.code = ossr_result::OSSR_ERR_INVALID_UTF8;
                record.message = format!("{name} is not valid UTF-8");
            }
            Failure::Invalid(message) => {
                record.code = ossr_result::OSSR_ERR_INVALID_ARGUMENT;
                record.message = message;
            }
            Failure::TooSmall(message) => {
                record.code = ossr_result::OSSR_ERR_BUFFER_TOO_SMALL;
                record.message = message;
            }
            Failure::Panic => {
                record.code = ossr_result::OSSR_ERR_PANIC;
                record.message = "internal error: the library panicked".to_string();
            }
            Failure::Lib(e) => {
                record.code = code_of(e.kind());
                record.status = e.status().unwrap_or(0);
                record.oss_code = e.oss_code().unwrap_or("").to_string();
                record.request_id = e.request_id().unwrap_or("").to_string();
                record.message = e.to_string();
            }
        }
        record
    }
}

/// Makes an empty error object (code `OSSR_OK`, everything else empty).
///
/// Ownership: the caller owns the result and frees it with `ossr_error_free`.
/// Returns NULL only after an internal error (a bug); the process aborts if memory
/// runs out.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_error_new() -> *mut ossr_error {
    guard_value(std::ptr::null_mut(), || {
        into_handle(ossr_error {
            code: ossr_result::OSSR_OK,
            status: 0,
            oss_code: String::new(),
            message: String::new(),
            request_id: String::new(),
        })
    })
}

/// Frees an error object. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_error_free(err: *mut ossr_error) {
    guard_value((), || free_handle(err))
}

/// The result code of the last failure recorded in `err` (`OSSR_OK` when none was,
/// and `OSSR_ERR_NULL_ARGUMENT` when `err` is NULL).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_error_code(err: *const ossr_error) -> ossr_result {
    guard_value(ossr_result::OSSR_ERR_PANIC, || {
        super::opt_ref(err)
            .map(|e| e.code)
            .unwrap_or(ossr_result::OSSR_ERR_NULL_ARGUMENT)
    })
}

/// The HTTP status of the failed request, or 0 when there was none (a local error, a
/// connection that failed) or `err` is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_error_http_status(err: *const ossr_error) -> u16 {
    guard_value(0, || super::opt_ref(err).map(|e| e.status).unwrap_or(0))
}

/// Copies the OSS error code (for example `NoSuchKey`, `SignatureDoesNotMatch`; empty
/// when the server sent none) into `buf`.
///
/// - `buf`, `len`: the caller's buffer and its size in bytes. The text is written
///   NUL-terminated, cut at a character boundary if it does not fit.
/// - `out_len`: optional (may be NULL); receives the full length without the NUL.
///
/// Returns `OSSR_OK`, `OSSR_ERR_BUFFER_TOO_SMALL` (what fit was written), or
/// `OSSR_ERR_NULL_ARGUMENT` when `err` is NULL or `buf` is NULL with `len` > 0.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_error_oss_code(
    err: *const ossr_error,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    copy_field(err, buf, len, out_len, |e| &e.oss_code)
}

/// Copies the message into `buf`: what failed and why, naming the argument, bucket
/// and key involved. Buffer rules and return codes as for `ossr_error_oss_code`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_error_message(
    err: *const ossr_error,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    copy_field(err, buf, len, out_len, |e| &e.message)
}

/// Copies the server's request id (empty when there was no answer) into `buf`.
/// Buffer rules and return codes as for `ossr_error_oss_code`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_error_request_id(
    err: *const ossr_error,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    copy_field(err, buf, len, out_len, |e| &e.request_id)
}

fn copy_field(
    err: *const ossr_error,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
    field: impl FnOnce(&ossr_error) -> &String,
) -> ossr_result {
    guard_value(ossr_result::OSSR_ERR_PANIC, || match super::opt_ref(err) {
        Some(e) => copy_str(field(e), buf, len, out_len),
        None => ossr_result::OSSR_ERR_NULL_ARGUMENT,
    })
}

const VERSION: &str = concat!(env!("CARGO_PKG_VERSION"), "\0");

/// The library's major version; equals `ossr_version()`'s first number.
#[allow(dead_code)] // for the header; a unit test checks it against the build
pub const OSSR_VERSION_MAJOR: u32 = 0;
/// The library's minor version.
#[allow(dead_code)] // for the header; a unit test checks it against the build
pub const OSSR_VERSION_MINOR: u32 = 1;
/// The library's patch version.
#[allow(dead_code)] // for the header; a unit test checks it against the build
pub const OSSR_VERSION_PATCH: u32 = 0;

/// The library's version as a static string, `"MAJOR.MINOR.PATCH"`, taken from the
/// build; compare with the `OSSR_VERSION_*` macros of the header you compiled with.
///
/// Ownership: static; do not free. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_version() -> *const c_char {
    guard_value(VERSION.as_ptr().cast(), || VERSION.as_ptr().cast())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_macros_agree_with_cargo_toml() {
        assert_eq!(
            OSSR_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            OSSR_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            OSSR_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
    }

    #[test]
    fn every_code_has_its_own_string() {
        let mut seen = std::collections::HashSet::new();
        for (code, text) in RESULT_STRINGS {
            assert!(text.ends_with('\0'));
            assert!(seen.insert(*code as u32), "{code:?} listed twice");
        }
        assert_eq!(seen.len(), 17, "a code is missing from RESULT_STRINGS");
    }
}
