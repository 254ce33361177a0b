//! Configuration, the client, per-request options, and the one-request calls
//! (head, delete, presign), plus CRC-64 helpers.

use super::{
    Failure, FfiResult, arg_mut, arg_path, arg_ref, arg_str, copy_str, free_handle, guard,
    guard_value, into_handle, opt_ref, opt_str, ossr_error, ossr_result, out_ptr, write_given,
    write_opt, write_out,
};
use crate::{
    Addressing, Client, Config, ConfigBuilder, ObjectInfo, RateLimit, RequestOptions, RetryPolicy,
    SignatureVersion,
};
use std::ffi::{c_char, c_uint};
use std::time::Duration;

/// Signature versions for `ossr_config_builder_set_signature_version`.
#[repr(u32)]
#[derive(Debug, Clone, Copy)]
pub enum ossr_signature_version {
    /// `OSS <id>:<signature>` (HMAC-SHA1).
    OSSR_SIGNATURE_V1 = 1,
    /// `OSS4-HMAC-SHA256`; needs a region. The default.
    OSSR_SIGNATURE_V4 = 4,
}

/// Addressing styles for `ossr_config_builder_set_addressing`.
#[repr(u32)]
#[derive(Debug, Clone, Copy)]
#[allow(dead_code)] // for the header: C passes its values as numbers
pub enum ossr_addressing {
    /// `bucket.host/key`, or path style for IP addresses and `localhost`. The default.
    OSSR_ADDRESSING_AUTO = 0,
    /// `host/bucket/key` always.
    OSSR_ADDRESSING_PATH_STYLE = 1,
    /// The endpoint is a custom domain bound to one bucket: `host/key`.
    OSSR_ADDRESSING_CNAME = 2,
}

/// Collects a client's configuration. Made by `ossr_config_builder_new`, freed by
/// `ossr_config_builder_free`; read (not consumed) by `ossr_client_new`, so one
/// builder can make several clients. Not for use by two threads at once.
pub struct ossr_config_builder {
    inner: ConfigBuilder,
}

/// A client: connections, credentials and settings. Made by `ossr_client_new`, freed
/// by `ossr_client_free`. Safe to use from many threads at once (clones share
/// connections inside); it must outlive every call and stream that uses it, and must
/// not be freed while another thread uses it.
pub struct ossr_client {
    pub(crate) inner: Client,
}

/// Options OSS accepts on object requests (version id, requester-pays, traffic
/// limit) and the call's cancel token. Made by `ossr_request_options_new` (all off),
/// freed by `ossr_request_options_free`. Option handles copy it, so it can be freed
/// after (a cancel token in it is shared by the copies, not copied).
pub struct ossr_request_options {
    pub(crate) inner: RequestOptions,
}

/// What `ossr_client_head` learned about an object. Made by `ossr_client_head`, freed
/// by `ossr_object_info_free`; read with the `ossr_object_info_*` accessors.
pub struct ossr_object_info {
    inner: ObjectInfo,
}

/// Starts a configuration for `endpoint`: `http://` or `https://`, a host (name,
/// IPv4, `[IPv6]` or `localhost`) and an optional port, for example
/// `https://oss-cn-hangzhou.aliyuncs.com`. The endpoint is checked by
/// `ossr_client_new`.
///
/// Defaults: credentials from `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET` and
/// `OSS_SESSION_TOKEN` (read when the client is made), signature V4 (which needs a
/// region), automatic addressing, 10 s connect timeout, 60 s read timeout, 4 attempts
/// with backoff from 200 ms to 20 s, the system trust store, no proxy.
///
/// - `endpoint`: borrowed for the call.
/// - `out`: receives the new builder, which the caller frees with
///   `ossr_config_builder_free`. Written only on success.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT` or `OSSR_ERR_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_config_builder_new(
    endpoint: *const c_char,
    out: *mut *mut ossr_config_builder,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let endpoint = arg_str(endpoint, "endpoint")?;
        let out = out_ptr(out, "out")?;
        write_out(
            out,
            into_handle(ossr_config_builder {
                inner: Config::builder(endpoint),
            }),
        );
        Ok(())
    })
}

/// Frees a builder. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_config_builder_free(builder: *mut ossr_config_builder) {
    guard_value((), || free_handle(builder))
}

fn edit(
    builder: *mut ossr_config_builder,
    err: *mut ossr_error,
    change: impl FnOnce(ConfigBuilder) -> FfiResult<ConfigBuilder>,
) -> ossr_result {
    guard(err, || {
        let b = arg_mut(builder, "builder")?;
        b.inner = change(b.inner.clone())?;
        Ok(())
    })
}

/// Sets the region, for example `cn-hangzhou`; required for V4 signing. Defaults to
/// none. `region` is borrowed for the call.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT` or `OSSR_ERR_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_config_builder_set_region(
    builder: *mut ossr_config_builder,
    region: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit(builder, err, |b| Ok(b.region(arg_str(region, "region")?)))
}

/// Sets the access key id, secret and optional STS token (`sts_token` may be NULL).
/// Defaults to the environment (see `ossr_config_builder_new`). The strings are
/// copied; the secret is never logged or written to a checkpoint.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT` or `OSSR_ERR_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_config_builder_set_credentials(
    builder: *mut ossr_config_builder,
    access_key_id: *const c_char,
    access_key_secret: *const c_char,
    sts_token: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit(builder, err, |b| {
        let id = arg_str(access_key_id, "access_key_id")?;
        let secret = arg_str(access_key_secret, "access_key_secret")?;
        let token = opt_str(sts_token, "sts_token")?;
        Ok(b.credentials(id, secret, token))
    })
}

/// Sets the signature version: `OSSR_SIGNATURE_V1` or `OSSR_SIGNATURE_V4`. Defaults
/// to V4.
///
/// Returns `OSSR_OK`, or `OSSR_ERR_INVALID_ARGUMENT` for any other value.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_config_builder_set_signature_version(
    builder: *mut ossr_config_builder,
    version: c_uint,
    err: *mut ossr_error,
) -> ossr_result {
    edit(builder, err, |b| {
        let version = match version {
            v if v == ossr_signature_version::OSSR_SIGNATURE_V1 as c_uint => SignatureVersion::V1,
            v if v == ossr_signature_version::OSSR_SIGNATURE_V4 as c_uint => SignatureVersion::V4,
            other => {
                return Err(Failure::Invalid(format!(
                    "signature version {other} is neither OSSR_SIGNATURE_V1 (1) nor OSSR_SIGNATURE_V4 (4)"
                )));
            }
        };
        Ok(b.signature_version(version))
    })
}

/// Sets how bucket and key map to URLs: one of `ossr_addressing`. Defaults to
/// `OSSR_ADDRESSING_AUTO`.
///
/// Returns `OSSR_OK`, or `OSSR_ERR_INVALID_ARGUMENT` for any other value.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_config_builder_set_addressing(
    builder: *mut ossr_config_builder,
    addressing: c_uint,
    err: *mut ossr_error,
) -> ossr_result {
    edit(builder, err, |b| {
        let addressing = match addressing {
            0 => Addressing::Auto,
            1 => Addressing::PathStyle,
            2 => Addressing::Cname,
            other => {
                return Err(Failure::Invalid(format!(
                    "addressing {other} is not one of OSSR_ADDRESSING_AUTO (0), _PATH_STYLE (1), _CNAME (2)"
                )));
            }
        };
        Ok(b.addressing(addressing))
    })
}

/// Sets the connect timeout in milliseconds (more than 0). Defaults to 10000.
///
/// Returns `OSSR_OK`, or `OSSR_ERR_INVALID_ARGUMENT` for 0.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_config_builder_set_connect_timeout_ms(
    builder: *mut ossr_config_builder,
    millis: u64,
    err: *mut ossr_error,
) -> ossr_result {
    edit(builder, err, |b| {
        Ok(b.connect_timeout(positive_ms(millis, "connect timeout")?))
    })
}

/// Sets the read timeout in milliseconds (more than 0): the longest wait for any
/// byte of an answer. Defaults to 60000.
///
/// Returns `OSSR_OK`, or `OSSR_ERR_INVALID_ARGUMENT` for 0.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_config_builder_set_read_timeout_ms(
    builder: *mut ossr_config_builder,
    millis: u64,
    err: *mut ossr_error,
) -> ossr_result {
    edit(builder, err, |b| {
        Ok(b.read_timeout(positive_ms(millis, "read timeout")?))
    })
}

/// Sets the client's bandwidth cap, in bytes per second for each direction (0: no
/// cap): `download` for bytes received, `upload` for bytes sent. One cap for the
/// whole client, shared by every call and thread using it (and its parallel parts);
/// change it later with `ossr_client_set_rate_limit`. It composes with OSS's
/// per-connection traffic limit (`ossr_request_options_set_traffic_limit`).
/// Defaults to 0 and 0 (no cap).
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_config_builder_set_rate_limit(
    builder: *mut ossr_config_builder,
    download: u64,
    upload: u64,
    err: *mut ossr_error,
) -> ossr_result {
    edit(builder, err, |b| {
        Ok(b.rate_limit(RateLimit::new(download, upload)))
    })
}

fn positive_ms(millis: u64, what: &str) -> FfiResult<Duration> {
    if millis == 0 {
        return Err(Failure::Invalid(format!("{what} must be more than 0 ms")));
    }
    Ok(Duration::from_millis(millis))
}

/// Sets the retry policy: `max_attempts` in all (the first included; 1 disables
/// retries), and full-jitter exponential backoff from `base_delay_ms` capped at
/// `max_delay_ms`. Defaults to 4 attempts, 200 ms, 20000 ms.
///
/// Returns `OSSR_OK`, or `OSSR_ERR_INVALID_ARGUMENT` when `max_attempts` is 0 or
/// `base_delay_ms` exceeds `max_delay_ms`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_config_builder_set_retry_policy(
    builder: *mut ossr_config_builder,
    max_attempts: u32,
    base_delay_ms: u64,
    max_delay_ms: u64,
    err: *mut ossr_error,
) -> ossr_result {
    edit(builder, err, |b| {
        if max_attempts == 0 {
            return Err(Failure::Invalid("max_attempts must be at least 1".into()));
        }
        if base_delay_ms > max_delay_ms {
            return Err(Failure::Invalid(format!(
                "base delay {base_delay_ms} ms exceeds max delay {max_delay_ms} ms"
            )));
        }
        Ok(b.retry_policy(RetryPolicy {
            max_attempts,
            base_delay: Duration::from_millis(base_delay_ms),
            max_delay: Duration::from_millis(max_delay_ms),
        }))
    })
}

/// Adds the CA certificates of a PEM file to the trust store (for private endpoints).
/// Defaults to the system store only. The file is read by `ossr_client_new`.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, `OSSR_ERR_INVALID_UTF8`, or
/// `OSSR_ERR_INVALID_ARGUMENT` for an empty path.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_config_builder_set_ca_file(
    builder: *mut ossr_config_builder,
    path: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit(builder, err, |b| Ok(b.ca_file(arg_path(path, "path")?)))
}

/// Sets a proxy URL (`http://[user:password@]host:port` or `socks5://...`). Defaults
/// to none. The proxy password is never logged.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT` or `OSSR_ERR_INVALID_UTF8`; the URL is
/// checked by `ossr_client_new`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_config_builder_set_proxy(
    builder: *mut ossr_config_builder,
    proxy: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit(builder, err, |b| Ok(b.proxy(arg_str(proxy, "proxy")?)))
}

/// Sets text appended to the User-Agent (`oss_resume/<version> <suffix>`). Defaults to
/// none.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, `OSSR_ERR_INVALID_UTF8`, or
/// `OSSR_ERR_INVALID_ARGUMENT` for a suffix with a control character (CR, LF, ...;
/// the builder keeps its previous suffix).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_config_builder_set_user_agent_suffix(
    builder: *mut ossr_config_builder,
    suffix: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    edit(builder, err, |b| {
        let suffix = arg_str(suffix, "suffix")?;
        crate::config::validate_header_value("the user-agent suffix", suffix)?;
        Ok(b.user_agent_suffix(suffix))
    })
}

/// Sets the memory, in bytes, that the files a client opens with `ossr_file_open`
/// may hold at once for what they fetch and prefetch: one limit shared by all of
/// them, never exceeded. A read that does not fit is fetched straight into the
/// caller's buffer; 0 makes every read do so. Defaults to 64 MiB (67108864).
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_config_builder_set_prefetch_memory(
    builder: *mut ossr_config_builder,
    bytes: u64,
    err: *mut ossr_error,
) -> ossr_result {
    edit(builder, err, |b| Ok(b.prefetch_memory(bytes)))
}

/// Makes a client from a builder, which is only read (free it when done).
///
/// - `out`: receives the client, which the caller frees with `ossr_client_free`.
///   Written only on success.
///
/// Returns `OSSR_OK`; `OSSR_ERR_INVALID_ARGUMENT` for a bad endpoint, V4 without a
/// region, missing credentials (neither set nor in the environment) or a bad proxy;
/// `OSSR_ERR_IO` for an unreadable CA file; `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_client_new(
    builder: *const ossr_config_builder,
    out: *mut *mut ossr_client,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let b = arg_ref(builder, "builder")?;
        let out = out_ptr(out, "out")?;
        let config = b.inner.clone().build()?;
        let client = Client::new(config)?;
        write_out(out, into_handle(ossr_client { inner: client }));
        Ok(())
    })
}

/// Frees a client. NULL is a no-op. No call or stream may be using it.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_client_free(client: *mut ossr_client) {
    guard_value((), || free_handle(client))
}

/// Changes a live client's bandwidth cap, in bytes per second for each direction
/// (0: no cap); the calls running on it move at the new cap within about 100 ms.
/// Safe to call from any thread while other threads use the client.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_client_set_rate_limit(
    client: *const ossr_client,
    download: u64,
    upload: u64,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        client
            .inner
            .set_rate_limit(RateLimit::new(download, upload));
        Ok(())
    })
}

/// Makes request options with everything off: no version id, no requester-pays, no
/// traffic limit, no cancel token.
///
/// - `out`: receives the handle; the caller frees it with `ossr_request_options_free`.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_request_options_new(
    out: *mut *mut ossr_request_options,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let out = out_ptr(out, "out")?;
        write_out(
            out,
            into_handle(ossr_request_options {
                inner: RequestOptions::default(),
            }),
        );
        Ok(())
    })
}

/// Frees request options. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_request_options_free(opts: *mut ossr_request_options) {
    guard_value((), || free_handle(opts))
}

/// Reads (or deletes) this version of a versioned object (`versionId`); NULL clears
/// it. Defaults to none. The string is copied.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT` (for `opts`) or `OSSR_ERR_INVALID_UTF8`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_request_options_set_version_id(
    opts: *mut ossr_request_options,
    version_id: *const c_char,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let o = arg_mut(opts, "opts")?;
        o.inner.version_id = opt_str(version_id, "version_id")?.map(str::to_string);
        Ok(())
    })
}

/// Acknowledges that the requester pays (`x-oss-request-payer: requester`) when
/// `enabled` is true. Defaults to false.
///
/// Returns `OSSR_OK` or `OSSR_ERR_NULL_ARGUMENT`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_request_options_set_request_payer(
    opts: *mut ossr_request_options,
    enabled: bool,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        arg_mut(opts, "opts")?.inner.request_payer = enabled;
        Ok(())
    })
}

/// Caps each request's bandwidth in bit/s (`x-oss-traffic-limit`,
/// 819200..=838860800); 0 removes the cap. Defaults to no cap.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NULL_ARGUMENT`, or `OSSR_ERR_INVALID_ARGUMENT` for a
/// value outside the range.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_request_options_set_traffic_limit(
    opts: *mut ossr_request_options,
    bits_per_second: u64,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let o = arg_mut(opts, "opts")?;
        if bits_per_second != 0 && !(819_200..=838_860_800).contains(&bits_per_second) {
            return Err(Failure::Invalid(format!(
                "traffic limit {bits_per_second} bit/s is outside 819200..=838860800"
            )));
        }
        o.inner.traffic_limit = (bits_per_second != 0).then_some(bits_per_second);
        Ok(())
    })
}

pub(crate) fn request_of(opts: *const ossr_request_options) -> RequestOptions {
    opt_ref(opts).map(|o| o.inner.clone()).unwrap_or_default()
}

/// HEAD: learns an object's size, ETag, Last-Modified, CRC-64, type, version id and
/// Content-Type. Blocking; retried on transient failures.
///
/// - `bucket`, `key`: borrowed for the call.
/// - `req`: optional request options (NULL for none).
/// - `out`: receives a new `ossr_object_info`, freed with `ossr_object_info_free`.
///   Written only on success.
///
/// Returns `OSSR_OK`, `OSSR_ERR_NOT_FOUND`, `OSSR_ERR_ACCESS_DENIED`,
/// `OSSR_ERR_INVALID_ARGUMENT` (bad bucket or key), the 3xx network codes, and the
/// argument codes. Thread safety: the client may be shared. Cancellable by the token
/// in `req` (see "Cancelling"); then `OSSR_ERR_CANCELLED`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_client_head(
    client: *const ossr_client,
    bucket: *const c_char,
    key: *const c_char,
    req: *const ossr_request_options,
    out: *mut *mut ossr_object_info,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        let out = out_ptr(out, "out")?;
        let info = client.inner.head_object(bucket, key, &request_of(req))?;
        write_out(out, into_handle(ossr_object_info { inner: info }));
        Ok(())
    })
}

/// Frees object info. NULL is a no-op.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_object_info_free(info: *mut ossr_object_info) {
    guard_value((), || free_handle(info))
}

/// The object's size in bytes (0 when `info` is NULL).
#[unsafe(no_mangle)]
pub extern "C" fn ossr_object_info_size(info: *const ossr_object_info) -> u64 {
    guard_value(0, || opt_ref(info).map(|i| i.inner.size).unwrap_or(0))
}

/// Stores the object's CRC-64 (ECMA-182, as OSS computes it) in `*out` and returns
/// true; returns false and leaves `*out` alone when the server reported none or an
/// argument is NULL.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_object_info_crc64(info: *const ossr_object_info, out: *mut u64) -> bool {
    guard_value(false, || {
        write_opt(out, opt_ref(info).and_then(|i| i.inner.crc64))
    })
}

// Written out one by one (not by a macro) so that cbindgen sees each function.
fn info_text(
    info: *const ossr_object_info,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
    field: impl FnOnce(&ObjectInfo) -> &str,
) -> ossr_result {
    guard_value(ossr_result::OSSR_ERR_PANIC, || match opt_ref(info) {
        Some(i) => copy_str(field(&i.inner), buf, len, out_len),
        None => ossr_result::OSSR_ERR_NULL_ARGUMENT,
    })
}

/// Copies the object's ETag (with its quotes) into `buf`.
/// Buffer rules and return codes as for `ossr_error_oss_code`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_object_info_etag(
    info: *const ossr_object_info,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    info_text(info, buf, len, out_len, |i| &i.etag)
}

/// Copies the object's Last-Modified (an HTTP date) into `buf`.
/// Buffer rules and return codes as for `ossr_error_oss_code`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_object_info_last_modified(
    info: *const ossr_object_info,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    info_text(info, buf, len, out_len, |i| &i.last_modified)
}

/// Copies the object's type (`Normal`, `Multipart`, `Appendable`; empty when not
/// reported) into `buf`.
/// Buffer rules and return codes as for `ossr_error_oss_code`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_object_info_object_type(
    info: *const ossr_object_info,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    info_text(info, buf, len, out_len, |i| {
        i.object_type.as_deref().unwrap_or("")
    })
}

/// Copies the object's version id (empty when not versioned) into `buf`.
/// Buffer rules and return codes as for `ossr_error_oss_code`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_object_info_version_id(
    info: *const ossr_object_info,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    info_text(info, buf, len, out_len, |i| {
        i.version_id.as_deref().unwrap_or("")
    })
}

/// Copies the object's Content-Type (empty when not reported) into `buf`.
/// Buffer rules and return codes as for `ossr_error_oss_code`.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_object_info_content_type(
    info: *const ossr_object_info,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
) -> ossr_result {
    info_text(info, buf, len, out_len, |i| {
        i.content_type.as_deref().unwrap_or("")
    })
}

/// Deletes an object (or, with a version id in `req`, that version). Deleting a
/// missing object succeeds, as OSS answers 204 for it.
///
/// Cancellable by the token in `req` (see "Cancelling"); whether the object was
/// deleted by then is not known.
///
/// Returns `OSSR_OK`, `OSSR_ERR_CANCELLED`, `OSSR_ERR_ACCESS_DENIED`,
/// `OSSR_ERR_NOT_FOUND` (missing bucket), the network codes and the argument codes.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_client_delete(
    client: *const ossr_client,
    bucket: *const c_char,
    key: *const c_char,
    req: *const ossr_request_options,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        client.inner.delete_object(bucket, key, &request_of(req))?;
        Ok(())
    })
}

/// Makes a presigned URL that lets anyone GET the object for `expires_secs` seconds
/// (1..=604800), signed with the configured signature version. No request is sent.
///
/// - `buf`, `len`, `out_len`: where the URL goes; buffer rules as for
///   `ossr_error_oss_code`, except that nothing is written unless the whole URL fits
///   (`OSSR_ERR_BUFFER_TOO_SMALL`, with the needed length in `*out_len`).
///
/// Returns `OSSR_OK`, `OSSR_ERR_BUFFER_TOO_SMALL`, `OSSR_ERR_INVALID_ARGUMENT` and the
/// argument codes.
#[unsafe(no_mangle)]
#[allow(clippy::too_many_arguments)]
pub extern "C" fn ossr_client_presign_get(
    client: *const ossr_client,
    bucket: *const c_char,
    key: *const c_char,
    expires_secs: u64,
    req: *const ossr_request_options,
    buf: *mut c_char,
    len: usize,
    out_len: *mut usize,
    err: *mut ossr_error,
) -> ossr_result {
    guard(err, || {
        let client = arg_ref(client, "client")?;
        let bucket = arg_str(bucket, "bucket")?;
        let key = arg_str(key, "key")?;
        if !(1..=604_800).contains(&expires_secs) {
            return Err(Failure::Invalid(format!(
                "expiry {expires_secs} s is outside 1..=604800"
            )));
        }
        if buf.is_null() {
            return Err(Failure::Null("buf"));
        }
        let url = client.inner.presign_get(
            bucket,
            key,
            Duration::from_secs(expires_secs),
            &request_of(req),
        )?;
        if url.len() >= len {
            write_given(out_len, url.len());
            return Err(Failure::TooSmall(format!(
                "the URL needs {} bytes with its NUL, the buffer has {len}",
                url.len() + 1
            )));
        }
        copy_str(&url, buf, len, out_len);
        Ok(())
    })
}

/// Continues a CRC-64 (ECMA-182, reflected, as OSS computes it) over `len` bytes at
/// `data`; start with 0. Returns `crc` unchanged when `data` is NULL or `len` is 0.
/// Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_crc64_update(crc: u64, data: *const u8, len: usize) -> u64 {
    guard_value(crc, || {
        if data.is_null() || len == 0 || len > isize::MAX as usize {
            return crc;
        }
        // SAFETY: not NULL, at most isize::MAX, and the header requires `data` to
        // point to `len` readable bytes.
        let bytes = unsafe { std::slice::from_raw_parts(data, len) };
        crate::crc64::update(crc, bytes)
    })
}

/// The CRC-64 of two pieces joined, from the CRC of the first (`crc1`), the CRC of the
/// second (`crc2`) and the second's length. Thread safety: any thread.
#[unsafe(no_mangle)]
pub extern "C" fn ossr_crc64_combine(crc1: u64, crc2: u64, len2: u64) -> u64 {
    guard_value(0, || crate::crc64::combine(crc1, crc2, len2))
}
