//! Listing a bucket from C: a list handle that fetches one page per
//! `ossr_list_next`, and getters that copy the page's entries into caller buffers.

use super::client::{ossr_client, ossr_request_options};
use super::{
    Failure, FfiResult, arg_mut, arg_ref, arg_str, copy_str, free_handle, guard, guard_value,
    into_handle, opt_ref, ossr_error, ossr_result, out_ptr, write_given, write_out,
};
use crate::{ListOptions, ListPage, ListedObject, ObjectLister};
use std::ffi::c_char;

/// What to list: made by `ossr_list_options_new` (every key of the bucket, 1000 per
/// page), freed by `ossr_list_options_free`. `ossr_list_new` copies it.
pub struct ossr_list_options {
    inner: ListOptions,
}

/// A listing in progress: made by `ossr_list_new`, advanced one page at a time by
/// `ossr_list_next`, read with the `ossr_list_object_*` and `ossr_list_prefix`
/// getters (which see the current page), freed by `ossr_list_free`. Holds a
/// reference to its client's connections, so the client may be freed first.
pub struct ossr_list {
    lister: ObjectLister,
    page: ListPage,
}

/// Makes list options with the defaults: no prefix, no delimiter, from the first
/// key, 1000 entries per page, no request options.
///
/// - `out`: receives the handle; the caller frees it with `ossr_list_options_free`.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_options_new(
    out: *mut *mut ossr_list_options,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let out = out_ptr(out, "out")?;
        write_out(
            out,
            into_handle(ossr_list_options {
                inner: ListOptions::default(),
            }),
        );
        Ok(())
    })
}

/// Frees list options. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_options_free(opts: *mut ossr_list_options) {
    guard_value((), || free_handle(opts))
}

fn edit(
    opts: *mut ossr_list_options,
    err: *mut ossr_error,
    change: impl FnOnce(&mut ListOptions) -> FfiResult,
) -> ossr_result {
    guard(err, || change(&mut arg_mut(opts, "opts")?.inner))
}

/// Lists only keys that start with `prefix` (copied). Defaults to "" (every key).
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT` or `OSSR_ERR_INVALID_UTF8`; a prefix
/// OSS refuses (over 1023 bytes) fails `ossr_list_new` with
/// `OSSR_ERR_INVALID_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_options_set_prefix(
    opts: *mut ossr_list_options,
    prefix: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit(opts, err, |o| {
        o.prefix = arg_str(prefix, "prefix")?.to_string();
        Ok(())
    })
}

/// Rolls keys up at the first `delimiter` (copied) after the prefix: keys sharing the
/// text up to it are reported once, as a common prefix (`"/"` lists one directory
/// level). Defaults to "" (no rolling up: every key below the prefix).
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT` or `OSSR_ERR_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_options_set_delimiter(
    opts: *mut ossr_list_options,
    delimiter: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit(opts, err, |o| {
        o.delimiter = arg_str(delimiter, "delimiter")?.to_string();
        Ok(())
    })
}

/// Lists only keys (and common prefixes) that sort after `key` (copied) in UTF-8 byte
/// order: to pick a listing up after the last key seen. Defaults to "".
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT` or `OSSR_ERR_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_options_set_start_after(
    opts: *mut ossr_list_options,
    key: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit(opts, err, |o| {
        o.start_after = arg_str(key, "key")?.to_string();
        Ok(())
    })
}

/// Sets the entries (keys plus common prefixes) per page, 1..=1000; 0 means 1000.
/// Defaults to 0.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT` above
/// 1000.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_options_set_page_size(
    opts: *mut ossr_list_options,
    entries: u32,
    err: *mut ossr_error,
) -> ossr_result {
    edit(opts, err, |o| {
        if entries > 1000 {
            return Err(Failure::Invalid(format!(
                "page size {entries} is above OSS's 1000 keys per page"
            )));
        }
        o.page_size = entries;
        Ok(())
    })
}

/// Copies request options (requester-pays, cancel token) into the list options;
/// `req` may be freed afterwards (a cancel token in it is shared, not copied). A
/// cancelled token fails the page being fetched with `OSSR_ERR_CANCELLED`. Defaults
/// to none.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_options_set_request(
    opts: *mut ossr_list_options,
    req: *const ossr_request_options,
    err: *mut ossr_error,
) -> ossr_result {
    edit(opts, err, |o| {
        o.request = arg_ref(req, "req")?.inner.clone();
        Ok(())
    })
}

/// Starts listing `bucket` with `opts` (NULL for the defaults; copied). Sends
/// nothing: each `ossr_list_next` fetches a page.
///
/// - `out`: receives the list, freed with `ossr_list_free`. Written only on success.
///
/// Returns `OSSR_OK`, `OSSR_ERR_INVALID_ARGUMENT` (a bad bucket name or option,
/// named in the error), the argument codes.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_new(
    client: *const ossr_client,
    bucket: *const c_char,
    opts: *const ossr_list_options,
    out: *mut *mut ossr_list,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let bucket = arg_str(bucket, "bucket")?;
        let out = out_ptr(out, "out")?;
        let opts = opt_ref(opts).map(|o| o.inner.clone()).unwrap_or_default();
        let lister = client.inner.list_objects(bucket, &opts)?;
        write_out(
            out,
            into_handle(ossr_list {
                lister,
                page: ListPage::default(),
            }),
        );
        Ok(())
    })
}

/// Fetches the next page (blocking; retried on transient failures) and makes it the
/// current page. `*out_has_page` is set to true when a page was fetched, false when
/// the listing was already complete (the current page is then empty). A page may
/// hold no entry and still not be the last: loop until `*out_has_page` is false.
///
/// An error ends the listing (later calls give false); to pick up, start a new list
/// with `ossr_list_options_set_start_after` set to the last key seen.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NOT_FOUND` (no such bucket), `OSSR_ERR_CANCELLED`,
/// the server's and network codes, the argument codes.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_next(
    list: *mut ossr_list,
    out_has_page: *mut bool,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let list = arg_mut(list, "list")?;
        let out = out_ptr(out_has_page, "out_has_page")?;
        let page = list.lister.next_page();
        list.page = ListPage::default();
        let page = page?;
        write_out(out, page.is_some());
        list.page = page.unwrap_or_default();
        Ok(())
    })
}

/// The number of objects on the current page (0 when `list` is NULL).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_object_count(list: *const ossr_list) -> usize {
    guard_value(0, || {
        opt_ref(list).map(|l| l.page.objects.len()).unwrap_or(0)
    })
}

/// Stores the size in bytes of object `index` (0-based) of the current page in
/// `*out_size` and its Last-Modified as seconds since the Unix epoch in
/// `*out_mtime` (either may be NULL; the time is 0 when the listing gave none).
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT` (no list), or
/// `OSSR_ERR_INVALID_ARGUMENT` for an index past the end.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_object_size(
    list: *const ossr_list,
    index: usize,
    out_size: *mut u64,
    out_mtime: *mut i64,
) -> ossr_result {
    guard_value(ossr_result::OSSR_ERR_PANIC, || {
        let Some(list) = opt_ref(list) else {
            return ossr_result::OSSR_ERR_NULL_ARGUMENT;
        };
        let Some(object) = list.page.objects.get(index) else {
            return ossr_result::OSSR_ERR_INVALID_ARGUMENT;
        };
        let mtime = object
            .last_modified_time()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map(|d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
            .unwrap_or(0);
        write_given(out_size, object.size);
        write_given(out_mtime, mtime);
        ossr_result::OSSR_OK
    })
}

// Written out one by one (not by a macro) so that cbindgen sees each function.
fn object_text(
    list: *const ossr_list,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
    field: impl FnOnce(&ListedObject) -> &str,
) -> ossr_result {
    guard_value(ossr_result::OSSR_ERR_PANIC, || {
        let Some(list) = opt_ref(list) else {
            return ossr_result::OSSR_ERR_NULL_ARGUMENT;
        };
        match list.page.objects.get(index) {
            Some(object) => copy_str(field(object), buf, len, out_len),
            None => ossr_result::OSSR_ERR_INVALID_ARGUMENT,
        }
    })
}

/// Copies the key of object `index` (0-based) of the current page into `buf`.
/// Buffer rules as for `ossr_error_oss_code` (a key is at most 1023 bytes);
/// `OSSR_ERR_INVALID_ARGUMENT` for an index past the end.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_object_key(
    list: *const ossr_list,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    object_text(list, index, buf, len, out_len, |o| &o.key)
}

/// Copies the ETag (with its quotes) of object `index` into `buf`. Rules as for
/// `ossr_list_object_key`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_object_etag(
    list: *const ossr_list,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    object_text(list, index, buf, len, out_len, |o| &o.etag)
}

/// Copies the Last-Modified of object `index` as listed (ISO 8601, e.g.
/// `2024-01-31T12:00:00.000Z`) into `buf`. Rules as for `ossr_list_object_key`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_object_last_modified(
    list: *const ossr_list,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    object_text(list, index, buf, len, out_len, |o| &o.last_modified)
}

/// Copies the storage class (`Standard`, `IA`, `Archive`, ...; empty when not
/// listed) of object `index` into `buf`. Rules as for `ossr_list_object_key`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_object_storage_class(
    list: *const ossr_list,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    object_text(list, index, buf, len, out_len, |o| &o.storage_class)
}

/// Copies the type (`Normal`, `Multipart`, `Appendable`, `Symlink`; empty when not
/// listed) of object `index` into `buf`. Rules as for `ossr_list_object_key`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_object_type(
    list: *const ossr_list,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    object_text(list, index, buf, len, out_len, |o| &o.object_type)
}

/// The number of common prefixes on the current page (only with a delimiter; 0 when
/// `list` is NULL).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_prefix_count(list: *const ossr_list) -> usize {
    guard_value(0, || {
        opt_ref(list)
            .map(|l| l.page.common_prefixes.len())
            .unwrap_or(0)
    })
}

/// Copies common prefix `index` (0-based) of the current page, ending with the
/// delimiter, into `buf`. Rules as for `ossr_list_object_key`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_prefix(
    list: *const ossr_list,
    index: usize,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    guard_value(ossr_result::OSSR_ERR_PANIC, || {
        let Some(list) = opt_ref(list) else {
            return ossr_result::OSSR_ERR_NULL_ARGUMENT;
        };
        match list.page.common_prefixes.get(index) {
            Some(prefix) => copy_str(prefix, buf, len, out_len),
            None => ossr_result::OSSR_ERR_INVALID_ARGUMENT,
        }
    })
}

/// Frees a list. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_list_free(list: *mut ossr_list) {
    guard_value((), || free_handle(list))
}
