//! One-request puts and the multipart calls, for callers who drive uploads
//! themselves.

use super::client::{ossr_client, ossr_request_options, request_of};
use super::stream::{ossr_put_options, ossr_put_result, put_options_parts, put_result};
use super::transfer::OSSR_ETAG_LEN;
use super::{
    Failure, arg_path, arg_ref, arg_str, copy_str, fill_array, free_handle, guard, guard_value,
    into_handle, opt_ref, ossr_error, ossr_result, out_ptr, write_out,
};
use crate::{ListedPart, ListedUpload, PartSource, PutSource};
use std::ffi::c_char;

/// The smallest buffer `ossr_client_initiate_multipart_upload` accepts for the upload
/// id, NUL included (OSS upload ids are 32 characters).
pub const OSSR_UPLOAD_ID_LEN: usize = 128;

/// A part as UploadPart answered; an array of them, in part-number order, completes
/// the upload.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct ossr_uploaded_part {
    /// Part number, 1..=10000.
    pub part_number: u32,
    /// CRC-64 of the part's bytes (checked against the server's).
    pub crc64: u64,
    /// The part's ETag, NUL-terminated, as Complete needs it.
    pub etag: [c_char; OSSR_ETAG_LEN],
}

/// A part as ListParts reports it, filled by `ossr_part_list_get`.
#[repr(C)]
pub struct ossr_listed_part {
    /// Set by the caller to `sizeof` this struct before the call; the library
    /// writes only the fields that fit (a struct from an older header gets the
    /// fields it knows). 0 or less than this version's size is refused with
    /// `OSSR_ERR_INVALID_ARGUMENT` before anything is written.
    pub struct_size: usize,
    /// Part number.
    pub part_number: u32,
    /// Size in bytes.
    pub size: u64,
    /// CRC-64 (valid when `has_crc64`).
    pub crc64: u64,
    /// Whether the server reported a CRC-64.
    pub has_crc64: bool,
    /// The part's ETag, NUL-terminated.
    pub etag: [c_char; OSSR_ETAG_LEN],
}

/// The parts of a multipart upload, all pages: made by `ossr_client_list_parts`, read
/// with `ossr_part_list_count` and `ossr_part_list_get`, freed by
/// `ossr_part_list_free`.
pub struct ossr_part_list {
    parts: Vec<ListedPart>,
}

/// Multipart uploads in progress, all pages: made by
/// `ossr_client_list_multipart_uploads`, read with `ossr_upload_list_count`,
/// `ossr_upload_list_key` and `ossr_upload_list_upload_id`, freed by
/// `ossr_upload_list_free`.
pub struct ossr_upload_list {
    uploads: Vec<ListedUpload>,
}

/// PUTs an object from `len` bytes at `data` (retried on transient failures) with
/// the headers of `opts` (NULL for none; its content length is ignored); the CRC-64
/// of the bytes is checked against the server's.
///
/// - `data`: may be NULL only when `len` is 0; borrowed for the call.
/// - `result`: optional (may be NULL); filled only on success.
///
/// Cancellable by the token in the request options of `opts` (see "Cancelling").
///
/// Returns `OSSR_OK`, `OSSR_ERR_CANCELLED`, `OSSR_ERR_CRC_MISMATCH`,
/// `OSSR_ERR_ACCESS_DENIED`, `OSSR_ERR_NOT_FOUND` (no such bucket), the 3xx network
/// codes, the argument codes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ossr_client_put_object(
    client: *const ossr_client,
    bucket: *const c_char,
    key: *const c_char,
    data: *const u8,
    len: usize,
    opts: *const ossr_put_options,
    result: *mut ossr_put_result,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        super::check_report(result, "result")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        let bytes = bytes_arg(data, len)?;
        let (headers, request, _) = put_options_parts(opt_ref(opts));
        let put =
            client
                .inner
                .put_object(bucket, key, PutSource::Bytes(bytes), headers, &request)?;
        super::write_report(result, put_result(&put));
        Ok(())
    })
}

/// PUTs an object from a whole local file (retried on transient failures) with the
/// headers of `opts` (NULL for none). For large files prefer `ossr_client_upload`,
/// which resumes. Cancellable by the token in the request options of `opts` (see
/// "Cancelling").
///
/// Returns `OSSR_OK`, `OSSR_ERR_CANCELLED`, `OSSR_ERR_IO` (unreadable file), `OSSR_ERR_CRC_MISMATCH`, the
/// server's and network codes, the argument codes. `result` as for
/// `ossr_client_put_object`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_client_put_file(
    client: *const ossr_client,
    bucket: *const c_char,
    key: *const c_char,
    path: *const c_char,
    opts: *const ossr_put_options,
    result: *mut ossr_put_result,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        super::check_report(result, "result")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        let path = arg_path(path, "path")?;
        let (headers, request, _) = put_options_parts(opt_ref(opts));
        let put =
            client
                .inner
                .put_object(bucket, key, PutSource::File(&path), headers, &request)?;
        super::write_report(result, put_result(&put));
        Ok(())
    })
}

fn bytes_arg<'a>(data: *const u8, len: usize) -> Result<&'a [u8], Failure> {
    if len == 0 {
        return Ok(&[]);
    }
    if data.is_null() {
        return Err(Failure::Null("data"));
    }
    if len > isize::MAX as usize {
        return Err(Failure::Invalid(format!(
            "len {len} is larger than any buffer can be"
        )));
    }
    // SAFETY: not NULL, and the header requires `data` to point to `len` readable bytes
    // that stay unchanged during the call.
    Ok(unsafe { std::slice::from_raw_parts(data, len) })
}

/// Starts a multipart upload with the headers of `opts` (NULL for none) and copies
/// its upload id into `buf`. `sequential` asks OSS to require parts in order.
///
/// - `buf`, `len`: at least `OSSR_UPLOAD_ID_LEN` bytes, checked before anything is
///   sent (`OSSR_ERR_BUFFER_TOO_SMALL` otherwise); should an id still not fit, the
///   upload is aborted and `OSSR_ERR_BUFFER_TOO_SMALL` returned, so no upload is left
///   that the caller cannot name.
/// - `out_len`: optional; receives the id's length.
///
/// The caller must complete or abort the upload: uploads in progress are billed.
/// Cancellable by the token in the request options of `opts` (see "Cancelling"); a
/// cancelled Initiate may still have made an upload on the server, which
/// `ossr_client_list_multipart_uploads` finds.
///
/// Returns `OSSR_OK`, `OSSR_ERR_CANCELLED`, `OSSR_ERR_BUFFER_TOO_SMALL`, the server's and network codes,
/// the argument codes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ossr_client_initiate_multipart_upload(
    client: *const ossr_client,
    bucket: *const c_char,
    key: *const c_char,
    opts: *const ossr_put_options,
    sequential: bool,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        if buf.is_null() {
            return Err(Failure::Null("buf"));
        }
        if len < OSSR_UPLOAD_ID_LEN {
            return Err(Failure::TooSmall(format!(
                "an upload id needs a buffer of OSSR_UPLOAD_ID_LEN ({OSSR_UPLOAD_ID_LEN}) bytes, not {len}"
            )));
        }
        let (headers, request, _) = put_options_parts(opt_ref(opts));
        let id = client
            .inner
            .initiate_multipart_upload(bucket, key, headers, sequential, &request)?;
        if id.len() >= len {
            // Best effort: the caller gets an error, and nothing stays behind to bill.
            let _ = client
                .inner
                .abort_multipart_upload(bucket, key, &id, &request);
            return Err(Failure::TooSmall(format!(
                "the upload id is {} bytes, the buffer {len} (the upload was aborted)",
                id.len()
            )));
        }
        copy_str(&id, buf, len, out_len);
        Ok(())
    })
}

/// Uploads part `part_number` (1..=10000) of a multipart upload from `len` bytes at
/// `data` (retried on transient failures) and checks its CRC-64 against the
/// server's. Parts other than the last must be at least 100 KB.
///
/// - `req`: optional request options (NULL for none); their cancel token, if any,
///   cancels the call (see "Cancelling").
/// - `out`: receives the part's number, ETag and CRC-64. Written only on success.
///
/// Returns `OSSR_OK`, `OSSR_ERR_CANCELLED`, `OSSR_ERR_NOT_FOUND` (no such upload), `OSSR_ERR_CRC_MISMATCH`,
/// `OSSR_ERR_INVALID_ARGUMENT`, the server's and network codes, the argument codes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ossr_client_upload_part(
    client: *const ossr_client,
    bucket: *const c_char,
    key: *const c_char,
    upload_id: *const c_char,
    part_number: u32,
    data: *const u8,
    len: usize,
    req: *const ossr_request_options,
    out: *mut ossr_uploaded_part,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        let upload_id = arg_str(upload_id, "upload_id")?;
        let out = out_ptr(out, "out")?;
        if !(1..=10_000).contains(&part_number) {
            return Err(Failure::Invalid(format!(
                "part number {part_number} is outside 1..=10000"
            )));
        }
        let bytes = bytes_arg(data, len)?;
        let part = client.inner.upload_part(
            bucket,
            key,
            upload_id,
            part_number,
            PartSource::Bytes(bytes),
            &request_of(req),
        )?;
        let mut record = ossr_uploaded_part {
            part_number: part.part_number,
            crc64: part.crc64,
            etag: [0; OSSR_ETAG_LEN],
        };
        fill_array(&mut record.etag, &part.etag);
        write_out(out, record);
        Ok(())
    })
}

/// Completes a multipart upload from `count` parts at `parts`, which must be in
/// ascending part-number order (as `ossr_client_upload_part` filled them).
///
/// - `req`: optional request options (NULL for none); their cancel token, if any,
///   cancels the call (see "Cancelling"; whether the upload was completed by then is
///   not known: `ossr_client_list_multipart_uploads` tells).
/// - `result`: optional (may be NULL); the object's ETag and CRC-64, filled only on
///   success. Compare its CRC-64 with the parts' CRCs joined by
///   `ossr_crc64_combine`.
///
/// - `count`: 1 to 10000 (OSS's limit), checked before `parts` is read.
///
/// Returns `OSSR_OK`, `OSSR_ERR_CANCELLED`, `OSSR_ERR_NOT_FOUND` (no such upload),
/// `OSSR_ERR_INVALID_ARGUMENT` (no parts, more than 10000, parts out of order, or a
/// part the server does not have), the server's and network codes, the argument
/// codes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ossr_client_complete_multipart_upload(
    client: *const ossr_client,
    bucket: *const c_char,
    key: *const c_char,
    upload_id: *const c_char,
    parts: *const ossr_uploaded_part,
    count: usize,
    req: *const ossr_request_options,
    result: *mut ossr_put_result,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        super::check_report(result, "result")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        let upload_id = arg_str(upload_id, "upload_id")?;
        if count == 0 {
            return Err(Failure::Invalid("no parts to complete".into()));
        }
        if count as u64 > crate::MAX_PARTS {
            return Err(Failure::Invalid(format!(
                "{count} parts to complete; OSS allows at most {}",
                crate::MAX_PARTS
            )));
        }
        if parts.is_null() {
            return Err(Failure::Null("parts"));
        }
        // SAFETY: not NULL, and the header requires `parts` to point to `count`
        // initialised `ossr_uploaded_part`s that stay unchanged during the call.
        let parts = unsafe { std::slice::from_raw_parts(parts, count) };
        let mut list = Vec::with_capacity(count);
        for (i, part) in parts.iter().enumerate() {
            if i > 0 && part.part_number <= parts[i - 1].part_number {
                return Err(Failure::Invalid(format!(
                    "part {} follows part {}: parts must be in ascending order",
                    part.part_number,
                    parts[i - 1].part_number
                )));
            }
            let etag = etag_of(&part.etag)
                .ok_or_else(|| Failure::Invalid(format!("part {}: etag", part.part_number)))?;
            list.push((part.part_number, etag));
        }
        let put = client.inner.complete_multipart_upload(
            bucket,
            key,
            upload_id,
            &list,
            &request_of(req),
        )?;
        super::write_report(result, put_result(&put));
        Ok(())
    })
}

/// The NUL-terminated UTF-8 text of a fixed array, or None when it has no NUL or is
/// not UTF-8.
fn etag_of(array: &[c_char; OSSR_ETAG_LEN]) -> Option<String> {
    let end = array.iter().position(|c| *c == 0)?;
    String::from_utf8(array[..end].iter().map(|c| *c as u8).collect()).ok()
}

/// Aborts a multipart upload, deleting its parts.
///
/// - `req`: optional request options (NULL for none); its cancel token stops the
///   call.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NOT_FOUND` (no such upload), the server's and network
/// codes, the argument codes.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_client_abort_multipart_upload(
    client: *const ossr_client,
    bucket: *const c_char,
    key: *const c_char,
    upload_id: *const c_char,
    req: *const ossr_request_options,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        let upload_id = arg_str(upload_id, "upload_id")?;
        client
            .inner
            .abort_multipart_upload(bucket, key, upload_id, &request_of(req))?;
        Ok(())
    })
}

/// Lists the parts of a multipart upload, following every page (1000 per request).
///
/// - `req`: optional request options (NULL for none); its cancel token stops the
///   call.
/// - `out`: receives the list, freed with `ossr_part_list_free`. Written only on
///   success.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NOT_FOUND` (no such upload), the server's and network
/// codes, the argument codes.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_client_list_parts(
    client: *const ossr_client,
    bucket: *const c_char,
    key: *const c_char,
    upload_id: *const c_char,
    req: *const ossr_request_options,
    out: *mut *mut ossr_part_list,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        let upload_id = arg_str(upload_id, "upload_id")?;
        let out = out_ptr(out, "out")?;
        let parts = client
            .inner
            .list_parts(bucket, key, upload_id, &request_of(req))?;
        write_out(out, into_handle(ossr_part_list { parts }));
        Ok(())
    })
}

/// The number of parts in a list (0 when `list` is NULL).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_part_list_count(list: *const ossr_part_list) -> usize {
    guard_value(0, || opt_ref(list).map(|l| l.parts.len()).unwrap_or(0))
}

/// Copies part `index` (0-based, in part-number order) into `*out`; set
/// `out->struct_size` to `sizeof(ossr_listed_part)` first.
///
/// Returns `OSSR_OK`, `OSSR_ERR_INVALID_ARGUMENT` for an index past the end or an
/// `out->struct_size` too small (0 included), or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_part_list_get(
    list: *const ossr_part_list,
    index: usize,
    out: *mut ossr_listed_part,
) -> ossr_result {
    guard_value(ossr_result::OSSR_ERR_PANIC, || {
        let (Some(list), false) = (opt_ref(list), out.is_null()) else {
            return ossr_result::OSSR_ERR_NULL_ARGUMENT;
        };
        if super::check_report(out, "out").is_err() {
            return ossr_result::OSSR_ERR_INVALID_ARGUMENT;
        }
        let Some(part) = list.parts.get(index) else {
            return ossr_result::OSSR_ERR_INVALID_ARGUMENT;
        };
        let mut record = ossr_listed_part {
            struct_size: 0,
            part_number: part.part_number,
            size: part.size,
            crc64: part.crc64.unwrap_or(0),
            has_crc64: part.crc64.is_some(),
            etag: [0; OSSR_ETAG_LEN],
        };
        fill_array(&mut record.etag, &part.etag);
        super::write_report(out, record);
        ossr_result::OSSR_OK
    })
}

impl super::Report for ossr_listed_part {
    const NAME: &'static str = "ossr_listed_part";
    const MIN_SIZE: usize = std::mem::size_of::<ossr_listed_part>();
    fn set_struct_size(&mut self, size: usize) {
        self.struct_size = size;
    }
}

/// Frees a part list. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_part_list_free(list: *mut ossr_part_list) {
    guard_value((), || free_handle(list))
}

/// Lists the multipart uploads in progress in a bucket whose keys start with `prefix`
/// (empty for all), following every page.
///
/// - `req`: optional request options (NULL for none); its cancel token stops the
///   call.
/// - `out`: receives the list, freed with `ossr_upload_list_free`. Written only on
///   success.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NOT_FOUND` (no such bucket), the server's and network
/// codes, the argument codes.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_client_list_multipart_uploads(
    client: *const ossr_client,
    bucket: *const c_char,
    prefix: *const c_char,
    req: *const ossr_request_options,
    out: *mut *mut ossr_upload_list,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let bucket = arg_str(bucket, "bucket")?;
        let prefix = arg_str(prefix, "prefix")?;
        let out = out_ptr(out, "out")?;
        let uploads = client
            .inner
            .list_multipart_uploads(bucket, prefix, &request_of(req))?;
        write_out(out, into_handle(ossr_upload_list { uploads }));
        Ok(())
    })
}

/// The number of uploads in a list (0 when `list` is NULL).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_upload_list_count(list: *const ossr_upload_list) -> usize {
    guard_value(0, || opt_ref(list).map(|l| l.uploads.len()).unwrap_or(0))
}

/// Copies the key of upload `index` (0-based) into `buf`. Buffer rules as for
/// `ossr_error_oss_code`; `OSSR_ERR_INVALID_ARGUMENT` for an index past the end.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_upload_list_key(
    list: *const ossr_upload_list,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    upload_field(list, index, buf, len, out_len, |u| &u.key)
}

/// Copies the upload id of upload `index` (0-based) into `buf`. Buffer rules as for
/// `ossr_error_oss_code`; `OSSR_ERR_INVALID_ARGUMENT` for an index past the end.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_upload_list_upload_id(
    list: *const ossr_upload_list,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    upload_field(list, index, buf, len, out_len, |u| &u.upload_id)
}

fn upload_field(
    list: *const ossr_upload_list,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
    field: impl FnOnce(&ListedUpload) -> &String,
) -> ossr_result {
    guard_value(ossr_result::OSSR_ERR_PANIC, || {
        let Some(list) = opt_ref(list) else {
            return ossr_result::OSSR_ERR_NULL_ARGUMENT;
        };
        match list.uploads.get(index) {
            Some(upload) => copy_str(field(upload), buf, len, out_len),
            None => ossr_result::OSSR_ERR_INVALID_ARGUMENT,
        }
    })
}

/// Frees an upload list. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_upload_list_free(list: *mut ossr_upload_list) {
    guard_value((), || free_handle(list))
}
