//! The blocking client and its object calls.

use std::fs::File;
use std::io::{self, Read};
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ureq::http;

use crate::config::{Config, validate_bucket, validate_key, validate_user_headers};
use crate::crc64::{self, Crc64};
use crate::error::{Error, ErrorKind, Result};
use crate::signing::percent_encode;
use crate::transfer::budget::Budget;
use crate::transfer::cancel::{CancelToken, with_current};
use crate::transport::{self, Payload, Request, Transport, header};
use crate::xml::{self, ListedPart, ListedUpload};

/// Options OSS accepts on object calls, and the call's cancel token. All off by
/// default: start from `RequestOptions::default()` and set the fields you need (the
/// struct may gain fields).
#[non_exhaustive]
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RequestOptions {
    /// Read or delete this version of a versioned object (`versionId`).
    pub version_id: Option<String>,
    /// Acknowledge that the requester pays (`x-oss-request-payer: requester`).
    pub request_payer: bool,
    /// Cap this request's bandwidth, in bit/s (`x-oss-traffic-limit`,
    /// 819200..=838860800).
    pub traffic_limit: Option<u64>,
    /// Stops the call (and every request of a transfer) when cancelled from any
    /// thread, within about 200 ms even while the server sends nothing; the call
    /// fails with [`ErrorKind::Cancelled`]. Defaults to none.
    pub cancel: Option<CancelToken>,
}

impl RequestOptions {
    /// Checks the options: a traffic limit outside OSS's 819200..=838860800 bit/s.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the option.
    pub fn validate(&self) -> Result<()> {
        if let Some(limit) = self.traffic_limit
            && !(819_200..=838_860_800).contains(&limit)
        {
            return Err(Error::invalid(format!(
                "traffic limit {limit} bit/s is outside 819200..=838860800"
            )));
        }
        Ok(())
    }

    fn apply<'a>(&self, mut req: Request<'a>, with_version: bool) -> Result<Request<'a>> {
        if with_version && let Some(v) = &self.version_id {
            req = req.query("versionId", v.clone());
        }
        req.cancel = self.cancel.clone();
        if self.request_payer {
            req = req.header("x-oss-request-payer", "requester");
        }
        self.validate()?;
        if let Some(limit) = self.traffic_limit {
            req = req.header("x-oss-traffic-limit", limit.to_string());
        }
        Ok(req)
    }
}

/// What HEAD tells about an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    /// Size in bytes.
    pub size: u64,
    /// ETag exactly as the server sent it (quoted).
    pub etag: String,
    /// `Last-Modified` as sent (RFC 1123), empty when absent.
    pub last_modified: String,
    /// CRC-64 (`x-oss-hash-crc64ecma`), when the server reports one.
    pub crc64: Option<u64>,
    /// `Normal`, `Multipart` or `Appendable`, when reported.
    pub object_type: Option<String>,
    /// Version id of a versioned object.
    pub version_id: Option<String>,
    /// `Content-Type`, when reported.
    pub content_type: Option<String>,
    /// Every header the object stores that a put can set, as the server sent them
    /// (names lowercase): `x-oss-meta-*`, `cache-control`, `content-disposition`,
    /// `content-encoding`, `content-language`, `expires`, `x-oss-storage-class`,
    /// `x-oss-server-side-encryption` and the like; `content-type` is in
    /// [`content_type`](Self::content_type).
    pub headers: Vec<(String, String)>,
}

/// Response headers that carry what a put stored (besides `x-oss-meta-*`).
const STORED_HEADERS: &[&str] = &[
    "cache-control",
    "content-disposition",
    "content-encoding",
    "content-language",
    "expires",
    "x-oss-storage-class",
    "x-oss-server-side-encryption",
    "x-oss-server-side-encryption-key-id",
    "x-oss-server-side-data-encryption",
    "x-oss-tagging-count",
];

/// The stored headers of an answer, in the order sent.
fn stored_headers(response: &http::Response<ureq::Body>) -> Vec<(String, String)> {
    response
        .headers()
        .iter()
        .filter(|(name, _)| {
            let n = name.as_str();
            n.starts_with("x-oss-meta-") || STORED_HEADERS.contains(&n)
        })
        .filter_map(|(name, value)| {
            Some((name.as_str().to_string(), value.to_str().ok()?.to_string()))
        })
        .collect()
}

impl ObjectInfo {
    fn from_response(response: &http::Response<ureq::Body>, size: u64) -> Result<ObjectInfo> {
        let get = |name: &str| header(response, name).map(str::to_string);
        let crc64 = match get("x-oss-hash-crc64ecma") {
            None => None,
            Some(v) => Some(v.trim().parse::<u64>().map_err(|_| {
                Error::new(
                    ErrorKind::Server,
                    format!("unreadable x-oss-hash-crc64ecma {v:?}"),
                )
            })?),
        };
        Ok(ObjectInfo {
            size,
            etag: get("etag").unwrap_or_default(),
            last_modified: get("last-modified").unwrap_or_default(),
            crc64,
            object_type: get("x-oss-object-type"),
            version_id: get("x-oss-version-id"),
            content_type: get("content-type"),
            headers: stored_headers(response),
        })
    }

    /// `Last-Modified` parsed, when it is a valid HTTP date.
    pub fn last_modified_time(&self) -> Option<SystemTime> {
        httpdate::parse_http_date(&self.last_modified).ok()
    }
}

/// An inclusive byte range of an object.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    /// First byte.
    pub first: u64,
    /// Last byte (inclusive); `None` means to the end of the object.
    pub last: Option<u64>,
}

impl ByteRange {
    /// Bytes `first..=last`.
    pub fn new(first: u64, last: u64) -> ByteRange {
        ByteRange {
            first,
            last: Some(last),
        }
    }

    /// Bytes from `first` to the end.
    pub fn from(first: u64) -> ByteRange {
        ByteRange { first, last: None }
    }

    /// Checks the range can be asked for: one whose last byte comes before its
    /// first is refused (OSS would answer the whole object instead).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the range.
    pub fn validate(&self) -> Result<()> {
        match self.last {
            Some(last) if last < self.first => Err(Error::invalid(format!(
                "range {}-{last} ends before it starts",
                self.first
            ))),
            _ => Ok(()),
        }
    }

    fn header(&self) -> String {
        match self.last {
            Some(last) => format!("bytes={}-{last}", self.first),
            None => format!("bytes={}-", self.first),
        }
    }
}

/// Parses `Content-Range: bytes a-b/total`.
pub(crate) fn parse_content_range(value: &str) -> Option<(u64, u64, u64)> {
    let rest = value.trim().strip_prefix("bytes ")?;
    let (span, total) = rest.split_once('/')?;
    let (a, b) = span.split_once('-')?;
    let (a, b, total) = (a.parse().ok()?, b.parse().ok()?, total.parse().ok()?);
    (a <= b && b < total).then_some((a, b, total))
}

/// A streaming GET: reads the body with a running CRC-64.
///
/// Reading a whole object compares the CRC of the bytes received with the server's on
/// the read that completes it, which fails on a mismatch; a body that ends early fails with
/// a network error. Ranged reads cannot be checked this way (OSS sends the whole
/// object's CRC), so they only check the length. A reader that failed stays failed:
/// every later read returns the same error.
pub struct ObjectReader {
    body: ureq::BodyReader<'static>,
    info: ObjectInfo,
    first: u64,
    length: u64,
    received: u64,
    crc: Crc64,
    whole: bool,
    checked: bool,
    bucket: String,
    key: String,
    cancel: Option<CancelToken>,
    failed: Option<Error>,
}

impl std::fmt::Debug for ObjectReader {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ObjectReader")
            .field("bucket", &self.bucket)
            .field("key", &self.key)
            .field("first", &self.first)
            .field("length", &self.length)
            .field("received", &self.received)
            .finish()
    }
}

impl ObjectReader {
    /// The object's metadata (size is the whole object's).
    pub fn info(&self) -> &ObjectInfo {
        &self.info
    }

    /// Bytes this response carries.
    pub fn content_length(&self) -> u64 {
        self.length
    }

    /// The inclusive byte range this response carries (empty objects: `None`).
    pub fn range(&self) -> Option<(u64, u64)> {
        (self.length > 0).then(|| (self.first, self.first + self.length - 1))
    }

    /// CRC-64 of the bytes read so far.
    pub fn client_crc(&self) -> u64 {
        self.crc.value()
    }

    /// The whole object's CRC-64 as the server reported it.
    pub fn server_crc(&self) -> Option<u64> {
        self.info.crc64
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.received
    }

    /// Records the failure, so later reads return it again, and returns it.
    fn fail(&mut self, kind: ErrorKind, message: String) -> io::Error {
        let err = Error::new(kind, message).with_object(&self.bucket, Some(&self.key));
        self.failed = Some(err.duplicate());
        io::Error::other(err)
    }
}

impl Read for ObjectReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(failed) = &self.failed {
            return Err(io::Error::other(failed.duplicate()));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        let n = match with_current(self.cancel.as_ref(), || self.body.read(buf)) {
            Ok(n) => n,
            Err(_) if self.cancel.as_ref().is_some_and(CancelToken::is_cancelled) => {
                return Err(self.fail(ErrorKind::Cancelled, "cancelled".into()));
            }
            Err(e) => {
                let err = transport::map_io_error(e);
                return Err(self.fail(
                    err.kind(),
                    format!(
                        "reading the body after {} bytes: {}",
                        self.received,
                        err.message()
                    ),
                ));
            }
        };
        if n == 0 {
            if self.received != self.length {
                return Err(self.fail(
                    ErrorKind::Network,
                    format!(
                        "the body ended after {} of {} bytes",
                        self.received, self.length
                    ),
                ));
            }
            return Ok(0);
        }
        let mut crc = self.crc.clone();
        crc.update(&buf[..n]);
        let received = self.received + n as u64;
        // Checked on the read that completes the body, its bytes withheld (and not
        // counted) on a mismatch, so a consumer that stops at the known length still
        // sees it.
        if received == self.length
            && self.whole
            && !self.checked
            && let Some(server) = self.info.crc64
        {
            self.checked = true;
            if server != crc.value() {
                return Err(self.fail(
                    ErrorKind::CrcMismatch,
                    format!(
                        "crc mismatch: received bytes have crc64 {}, the server reports {server}",
                        crc.value()
                    ),
                ));
            }
        }
        self.crc = crc;
        self.received = received;
        Ok(n)
    }
}

/// The result of a put or a completed multipart upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    /// The object's ETag (quoted).
    pub etag: String,
    /// The CRC-64 the server computed; equal to ours when present.
    pub crc64: Option<u64>,
}

/// What a put sends.
pub enum PutSource<'a> {
    /// Bytes in memory. Retried on transient failures.
    Bytes(&'a [u8]),
    /// A local file, sent whole. Retried on transient failures.
    File(&'a Path),
    /// A reader; with a known length it is sent with `Content-Length`, without one as
    /// chunked transfer. Sent once (a reader cannot be replayed).
    Reader {
        /// The data.
        reader: &'a mut dyn Read,
        /// Its length, when known.
        len: Option<u64>,
    },
}

impl std::fmt::Debug for PutSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PutSource::Bytes(b) => write!(f, "Bytes({} bytes)", b.len()),
            PutSource::File(p) => write!(f, "File({})", p.display()),
            PutSource::Reader { len, .. } => write!(f, "Reader(len {len:?})"),
        }
    }
}

/// A part as UploadPart answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadedPart {
    /// Part number.
    pub part_number: u32,
    /// ETag (quoted), to list in Complete.
    pub etag: String,
    /// CRC-64 of the part's bytes (checked against the server's).
    pub crc64: u64,
}

/// Where an uploaded part's bytes come from.
#[derive(Debug)]
pub enum PartSource<'a> {
    /// Bytes in memory.
    Bytes(&'a [u8]),
    /// `len` bytes of an open file from `offset` (positioned reads).
    File {
        /// The file.
        file: &'a File,
        /// First byte.
        offset: u64,
        /// Bytes.
        len: u64,
        /// The CRC-64 of those bytes, computed by the caller while planning.
        crc64: u64,
    },
}

/// A reader that keeps the CRC-64 of what passes through.
struct CrcReader<'a> {
    inner: &'a mut dyn Read,
    crc: Crc64,
}

impl Read for CrcReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.crc.update(&buf[..n]);
        Ok(n)
    }
}

/// The source of a server-side copy, pinned to one version by its ETag.
pub(crate) struct CopySource<'a> {
    pub bucket: &'a str,
    pub key: &'a str,
    /// Sent as `x-oss-copy-source-if-match`: a changed source is 412, never copied.
    pub etag: &'a str,
}

impl CopySource<'_> {
    fn apply<'r>(&self, req: Request<'r>) -> Request<'r> {
        req.header(
            "x-oss-copy-source",
            format!("/{}/{}", self.bucket, percent_encode(self.key, false)),
        )
        .header("x-oss-copy-source-if-match", self.etag)
    }
}

/// Reads a CopyObject or UploadPartCopy answer; anything but 200 (a 304) is refused.
fn copy_answer(mut response: http::Response<ureq::Body>, call: &str) -> Result<PutResult> {
    let status = response.status().as_u16();
    if status != 200 {
        return Err(Error::new(
            ErrorKind::Server,
            format!("{call} answered {status} without copying"),
        ));
    }
    let crc64 = response_crc(&response);
    let etag = xml::parse_copy_result(&read_small_body(&mut response)?)?;
    Ok(PutResult { etag, crc64 })
}

/// A blocking OSS client. Cheap to clone (clones share connections), `Send + Sync`,
/// and safe to use from many threads at once.
#[derive(Clone)]
pub struct Client {
    transport: Arc<Transport>,
    /// The prefetch memory shared by every file this client opens.
    budget: Arc<Budget>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("config", &self.transport.config)
            .finish()
    }
}

/// Checks a GET answer's status, length and `Content-Range` against the range asked
/// for, before a byte is read: (first byte, object size, bytes in this answer).
fn check_get_answer(
    response: &http::Response<ureq::Body>,
    range: Option<ByteRange>,
) -> Result<(u64, u64, u64)> {
    let status = response.status().as_u16();
    let length = header(response, "content-length")
        .and_then(|v| v.trim().parse::<u64>().ok())
        .ok_or_else(|| Error::new(ErrorKind::Server, "GET answer without Content-Length"))?;
    let (first, size) = match (range, status) {
        (None, 200) => (0, length),
        (Some(r), 206) => {
            let cr = header(response, "content-range").unwrap_or("");
            let (a, b, total) = parse_content_range(cr).ok_or_else(|| {
                Error::new(
                    ErrorKind::Server,
                    format!("206 answer with Content-Range {cr:?}"),
                )
            })?;
            let want_last = r.last.unwrap_or(total - 1).min(total - 1);
            if a != r.first || b != want_last || b - a + 1 != length {
                return Err(Error::new(
                    ErrorKind::Server,
                    format!(
                        "asked for {} but got Content-Range {cr:?} with {length} bytes",
                        r.header()
                    ),
                ));
            }
            (a, total)
        }
        (Some(r), 200) => {
            return Err(Error::new(
                ErrorKind::Server,
                format!(
                    "asked for {} but the server sent the whole object (200)",
                    r.header()
                ),
            ));
        }
        (_, other) => {
            return Err(Error::new(
                ErrorKind::Server,
                format!("unexpected status {other} for GET"),
            ));
        }
    };
    Ok((first, size, length))
}

fn check_crc(what: &str, ours: u64, theirs: Option<u64>) -> Result<()> {
    match theirs {
        Some(t) if t != ours => Err(Error::new(
            ErrorKind::CrcMismatch,
            format!("crc mismatch on {what}: we sent crc64 {ours}, the server stored {t}"),
        )),
        _ => Ok(()),
    }
}

fn response_crc(response: &http::Response<ureq::Body>) -> Option<u64> {
    header(response, "x-oss-hash-crc64ecma").and_then(|v| v.trim().parse().ok())
}

fn read_small_body(response: &mut http::Response<ureq::Body>) -> Result<Vec<u8>> {
    response
        .body_mut()
        .with_config()
        .limit(16 * 1024 * 1024)
        .read_to_vec()
        .map_err(transport::map_ureq_error)
}

impl Client {
    /// A client for this configuration.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] when the TLS roots or proxy cannot be set up.
    pub fn new(config: Config) -> Result<Client> {
        let budget = Budget::new(config.prefetch_memory);
        Ok(Client {
            transport: Arc::new(Transport::new(config)?),
            budget,
        })
    }

    /// The prefetch memory shared by every file this client opens.
    pub(crate) fn prefetch_budget(&self) -> &Arc<Budget> {
        &self.budget
    }

    /// The configuration.
    pub fn config(&self) -> &Config {
        &self.transport.config
    }

    /// Changes the bandwidth cap of this client and its clones, for the transfers
    /// running now too: within about 100 ms every connection moves at the new cap.
    /// 0 lifts a direction's cap. See [`RateLimit`](crate::RateLimit).
    pub fn set_rate_limit(&self, limit: crate::RateLimit) {
        self.transport.rate.set(limit);
    }

    /// The bandwidth cap now (the configured one until
    /// [`set_rate_limit`](Self::set_rate_limit) changes it).
    pub fn rate_limit(&self) -> crate::RateLimit {
        self.transport.rate.get()
    }

    fn check(bucket: &str, key: &str) -> Result<()> {
        validate_bucket(bucket)?;
        validate_key(key).map_err(|e| e.with_object(bucket, None))
    }

    /// HEAD: size, ETag, Last-Modified, CRC-64, type and version of an object.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] for a missing bucket or key (the server's details are
    /// read from `x-oss-err`), and the transport's errors.
    pub fn head_object(
        &self,
        bucket: &str,
        key: &str,
        opts: &RequestOptions,
    ) -> Result<ObjectInfo> {
        Ok(self.head_with_metadata(bucket, key, opts)?.0)
    }

    /// [`head_object`](Self::head_object), with the object's metadata a copy carries
    /// over: Content-Type, Cache-Control, Content-Disposition, Content-Encoding,
    /// Content-Language, Expires and every `x-oss-meta-*`, as sent.
    pub(crate) fn head_with_metadata(
        &self,
        bucket: &str,
        key: &str,
        opts: &RequestOptions,
    ) -> Result<(ObjectInfo, Vec<(String, String)>)> {
        const CARRIED: &[&str] = &[
            "content-type",
            "cache-control",
            "content-disposition",
            "content-encoding",
            "content-language",
            "expires",
        ];
        Self::check(bucket, key)?;
        let req = opts.apply(Request::new("HEAD", bucket, Some(key)), true)?;
        self.transport.execute(&req, Payload::Empty, |response| {
            let size = header(&response, "content-length")
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| {
                    Error::new(ErrorKind::Server, "HEAD answer without Content-Length")
                })?;
            let metadata = response
                .headers()
                .iter()
                .filter(|(n, _)| {
                    let n = n.as_str();
                    n.starts_with("x-oss-meta-") || CARRIED.contains(&n)
                })
                .filter_map(|(n, v)| Some((n.to_string(), v.to_str().ok()?.to_string())))
                .collect();
            Ok((ObjectInfo::from_response(&response, size)?, metadata))
        })
    }

    /// GET the whole object, or one range, as a streaming reader.
    ///
    /// Sends `x-oss-range-behavior: standard`, and `If-Match` when `if_match` is
    /// given; checks the status (200 whole, 206 ranged) and `Content-Range` before
    /// returning. The response head is retried on transient failures; the body is
    /// read by the caller.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`], [`ErrorKind::ObjectChanged`] (412 on `If-Match`),
    /// [`ErrorKind::InvalidArgument`] for a range past the end (416), and the
    /// transport's errors.
    pub fn get_object(
        &self,
        bucket: &str,
        key: &str,
        range: Option<ByteRange>,
        if_match: Option<&str>,
        opts: &RequestOptions,
    ) -> Result<ObjectReader> {
        Self::check(bucket, key)?;
        if let Some(r) = range {
            r.validate().map_err(|e| e.with_object(bucket, Some(key)))?;
        }
        let mut req = opts.apply(Request::new("GET", bucket, Some(key)), true)?;
        if let Some(r) = &range {
            req = req
                .header("Range", r.header())
                .header("x-oss-range-behavior", "standard");
        }
        if let Some(etag) = if_match {
            req = req.header("If-Match", etag);
        }
        self.transport.execute(&req, Payload::Empty, |response| {
            let (first, size, length) = check_get_answer(&response, range)?;
            let info = ObjectInfo::from_response(&response, size)?;
            Ok(ObjectReader {
                body: response.into_body().into_reader(),
                info,
                first,
                length,
                received: 0,
                crc: Crc64::new(),
                whole: range.is_none(),
                checked: false,
                bucket: bucket.to_string(),
                key: key.to_string(),
                cancel: opts.cancel.clone(),
                failed: None,
            })
        })
    }

    /// PUT an object from bytes, a file, or a reader (chunked when its length is
    /// unknown). `headers` are sent as given (Content-Type, `x-oss-meta-*`, ...). The
    /// CRC-64 of what was sent is compared with the server's.
    ///
    /// Headers the library sets itself are refused by name, in any case: `Host`,
    /// `Content-Length`, `Transfer-Encoding`, `Connection`, `Expect`,
    /// `Authorization`, `Date`, `x-oss-date`, `x-oss-content-sha256`,
    /// `x-oss-security-token`, `User-Agent` (see
    /// [`ConfigBuilder::user_agent_suffix`](crate::ConfigBuilder::user_agent_suffix)),
    /// `x-oss-request-payer` and `x-oss-traffic-limit` (see [`RequestOptions`]). So
    /// are names that are not HTTP tokens and values with control characters (CR,
    /// LF, ...). The same rules hold wherever headers are given.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a refused header (before anything is sent),
    /// [`ErrorKind::CrcMismatch`] when the server stored other bytes,
    /// [`ErrorKind::Io`] when the file or reader fails (no object is created), and
    /// the transport's errors.
    pub fn put_object(
        &self,
        bucket: &str,
        key: &str,
        source: PutSource<'_>,
        headers: &[(String, String)],
        opts: &RequestOptions,
    ) -> Result<PutResult> {
        Self::check(bucket, key)?;
        validate_user_headers(headers)?;
        let mut req = opts.apply(Request::new("PUT", bucket, Some(key)), false)?;
        req.headers.extend(headers.iter().cloned());
        let finish = |response: http::Response<ureq::Body>, ours: u64| -> Result<PutResult> {
            let crc = response_crc(&response);
            check_crc("put", ours, crc)?;
            Ok(PutResult {
                etag: header(&response, "etag").unwrap_or("").to_string(),
                crc64: crc,
            })
        };
        match source {
            PutSource::Bytes(bytes) => {
                let ours = crc64::checksum(bytes);
                self.transport
                    .execute(&req, Payload::Bytes(bytes), |r| finish(r, ours))
            }
            PutSource::File(path) => {
                // A pipe or device would be stored as an empty object: refused.
                let (file, meta) = crate::transfer::fsio::open_regular(path)
                    .map_err(|e| e.with_object(bucket, Some(key)))?;
                let len = meta.len();
                let ours =
                    crate::transfer::fsio::crc_of_range(&file, 0, len, &mut vec![0u8; 1 << 20])
                        .map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
                self.transport.execute(
                    &req,
                    Payload::File {
                        file: &file,
                        offset: 0,
                        len,
                        sent: None,
                    },
                    |r| finish(r, ours),
                )
            }
            PutSource::Reader { reader, len } => {
                let mut crc_reader = CrcReader {
                    inner: reader,
                    crc: Crc64::new(),
                };
                let response = self.transport.execute(
                    &req,
                    Payload::Reader {
                        reader: &mut crc_reader,
                        len,
                    },
                    Ok,
                );
                let ours = crc_reader.crc.value();
                finish(response?, ours).map_err(|e| e.with_object(bucket, Some(key)))
            }
        }
    }

    /// DELETE an object (succeeds when it does not exist, as OSS does).
    pub fn delete_object(&self, bucket: &str, key: &str, opts: &RequestOptions) -> Result<()> {
        Self::check(bucket, key)?;
        let req = opts.apply(Request::new("DELETE", bucket, Some(key)), true)?;
        self.transport.execute(&req, Payload::Empty, |_| Ok(()))
    }

    /// Starts a multipart upload and returns its id. `headers` (Content-Type,
    /// `x-oss-meta-*`, `x-oss-object-acl`, `x-oss-storage-class`, ...) apply to the
    /// final object; `sequential` asks OSS to require in-order parts. Headers follow
    /// the rules of [`put_object`](Self::put_object).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for a refused header (before anything is sent),
    /// and the transport's errors.
    pub fn initiate_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        headers: &[(String, String)],
        sequential: bool,
        opts: &RequestOptions,
    ) -> Result<String> {
        self.initiate_counted(bucket, key, headers, sequential, opts, &mut 0)
    }

    /// [`initiate_multipart_upload`](Self::initiate_multipart_upload), storing how
    /// many times the request was sent in `sent`: after more than one, an earlier
    /// attempt may have made an upload whose answer was lost.
    pub(crate) fn initiate_counted(
        &self,
        bucket: &str,
        key: &str,
        headers: &[(String, String)],
        sequential: bool,
        opts: &RequestOptions,
        sent: &mut u32,
    ) -> Result<String> {
        Self::check(bucket, key)?;
        validate_user_headers(headers)?;
        let mut req = opts
            .apply(Request::new("POST", bucket, Some(key)), false)?
            .query("uploads", "");
        if sequential {
            req = req.query("sequential", "");
        }
        req.headers.extend(headers.iter().cloned());
        self.transport.execute_counted(
            &req,
            Payload::Empty,
            |mut r| xml::parse_initiate(&read_small_body(&mut r)?),
            sent,
        )
    }

    /// Uploads one part (number 1..=10000). The part's CRC-64 is checked against the
    /// server's answer.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`] when the upload no longer exists, [`ErrorKind::CrcMismatch`],
    /// and the transport's errors.
    pub fn upload_part(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        source: PartSource<'_>,
        opts: &RequestOptions,
    ) -> Result<UploadedPart> {
        self.upload_part_counted(bucket, key, upload_id, part_number, source, opts, None)
    }

    /// [`upload_part`](Self::upload_part), counting the bytes of a file part handed
    /// to the connection in `sent` (reset to 0 at each attempt), for progress.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn upload_part_counted(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        source: PartSource<'_>,
        opts: &RequestOptions,
        sent: Option<&std::sync::atomic::AtomicU64>,
    ) -> Result<UploadedPart> {
        Self::check(bucket, key)?;
        if !(1..=10_000).contains(&part_number) {
            return Err(Error::invalid(format!(
                "part number {part_number} is outside 1..=10000"
            )));
        }
        let req = opts
            .apply(Request::new("PUT", bucket, Some(key)), false)?
            .query("partNumber", part_number.to_string())
            .query("uploadId", upload_id);
        let (payload, ours) = match source {
            PartSource::Bytes(b) => (Payload::Bytes(b), crc64::checksum(b)),
            PartSource::File {
                file,
                offset,
                len,
                crc64,
            } => (
                Payload::File {
                    file,
                    offset,
                    len,
                    sent,
                },
                crc64,
            ),
        };
        self.transport.execute(&req, payload, |response| {
            let crc = response_crc(&response);
            check_crc(&format!("part {part_number}"), ours, crc)?;
            Ok(UploadedPart {
                part_number,
                etag: header(&response, "etag").unwrap_or("").to_string(),
                crc64: ours,
            })
        })
    }

    /// Lists every part of an upload, following all pages (1000 per request).
    /// `opts` carries the request payer flag and the cancel token.
    pub fn list_parts(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        opts: &RequestOptions,
    ) -> Result<Vec<ListedPart>> {
        Self::check(bucket, key)?;
        let mut parts = Vec::new();
        let mut marker: Option<u32> = None;
        // Bounded: each page advances the marker, and there are at most 10,000 parts.
        for _ in 0..=10_001 {
            let mut req = opts
                .apply(Request::new("GET", bucket, Some(key)), false)?
                .query("uploadId", upload_id)
                .query("max-parts", "1000");
            if let Some(m) = marker {
                req = req.query("part-number-marker", m.to_string());
            }
            let (page, next) = self.transport.execute(&req, Payload::Empty, |mut r| {
                xml::parse_list_parts(&read_small_body(&mut r)?)
            })?;
            parts.extend(page);
            match next {
                Some(n) if Some(n) != marker => marker = Some(n),
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::Server,
                        "ListParts did not advance its marker",
                    )
                    .with_object(bucket, Some(key)));
                }
                None => return Ok(parts),
            }
        }
        Err(
            Error::new(ErrorKind::Server, "ListParts returned too many pages")
                .with_object(bucket, Some(key)),
        )
    }

    /// Completes an upload with (part number, ETag) pairs (sent sorted by number).
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for more than [`MAX_PARTS`](crate::MAX_PARTS)
    /// parts (before anything is sent) or parts the server refuses,
    /// [`ErrorKind::NotFound`] when the upload no longer exists, and the transport's
    /// errors.
    pub fn complete_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        opts: &RequestOptions,
    ) -> Result<PutResult> {
        self.complete_with_headers(bucket, key, upload_id, parts, &[], opts)
    }

    /// [`complete_multipart_upload`](Self::complete_multipart_upload), sending
    /// `headers` too (`x-oss-forbid-overwrite`).
    pub(crate) fn complete_with_headers(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        parts: &[(u32, String)],
        headers: &[(String, String)],
        opts: &RequestOptions,
    ) -> Result<PutResult> {
        Self::check(bucket, key)?;
        if parts.len() as u64 > crate::MAX_PARTS {
            return Err(Error::invalid(format!(
                "{} parts to complete; OSS allows at most {}",
                parts.len(),
                crate::MAX_PARTS
            )));
        }
        let body = xml::complete_body(parts);
        let mut req = opts
            .apply(Request::new("POST", bucket, Some(key)), false)?
            .query("uploadId", upload_id)
            .header("Content-Type", "application/xml");
        req.headers.extend(headers.iter().cloned());
        self.transport
            .execute(&req, Payload::Bytes(body.as_bytes()), |mut response| {
                let crc = response_crc(&response);
                let header_etag = header(&response, "etag").map(str::to_string);
                let body = read_small_body(&mut response)?;
                let etag = match header_etag {
                    Some(e) => e,
                    None => xml::parse_complete(&body)?,
                };
                Ok(PutResult { etag, crc64: crc })
            })
    }

    /// CopyObject: `bucket/key` becomes a copy of `source`, made on the server.
    /// `headers` go as given (the metadata directive, REPLACE's metadata,
    /// `x-oss-forbid-overwrite`). The CRC-64 is the answer's, when it has one.
    pub(crate) fn copy_object_request(
        &self,
        source: &CopySource<'_>,
        bucket: &str,
        key: &str,
        headers: &[(String, String)],
        opts: &RequestOptions,
    ) -> Result<PutResult> {
        Self::check(bucket, key)?;
        let mut req = source.apply(opts.apply(Request::new("PUT", bucket, Some(key)), false)?);
        req.headers.extend(headers.iter().cloned());
        self.transport
            .execute(&req, Payload::Empty, |r| copy_answer(r, "CopyObject"))
    }

    /// UploadPartCopy: part `part_number` of the upload becomes the source's bytes
    /// `first..=last`, copied on the server. The CRC-64 is the answer's, when it has
    /// one.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn upload_part_copy(
        &self,
        source: &CopySource<'_>,
        bucket: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        (first, last): (u64, u64),
        opts: &RequestOptions,
    ) -> Result<PutResult> {
        Self::check(bucket, key)?;
        let req = source
            .apply(opts.apply(Request::new("PUT", bucket, Some(key)), false)?)
            .query("partNumber", part_number.to_string())
            .query("uploadId", upload_id)
            .header("x-oss-copy-source-range", format!("bytes={first}-{last}"));
        self.transport
            .execute(&req, Payload::Empty, |r| copy_answer(r, "UploadPartCopy"))
    }

    /// Aborts an upload, deleting its parts. `opts` carries the request payer flag
    /// and the cancel token.
    pub fn abort_multipart_upload(
        &self,
        bucket: &str,
        key: &str,
        upload_id: &str,
        opts: &RequestOptions,
    ) -> Result<()> {
        Self::check(bucket, key)?;
        let req = opts
            .apply(Request::new("DELETE", bucket, Some(key)), false)?
            .query("uploadId", upload_id);
        self.transport.execute(&req, Payload::Empty, |_| Ok(()))
    }

    /// Lists the multipart uploads in progress in a bucket whose keys start with
    /// `prefix`, following all pages. `opts` carries the request payer flag and the
    /// cancel token.
    pub fn list_multipart_uploads(
        &self,
        bucket: &str,
        prefix: &str,
        opts: &RequestOptions,
    ) -> Result<Vec<ListedUpload>> {
        Ok(self.list_multipart_uploads_skew(bucket, prefix, opts)?.0)
    }

    /// [`Client::list_multipart_uploads`], with how far the server's clock is ahead of
    /// ours in seconds (negative when behind), read from the first page's `Date`
    /// header; `None` when that header is missing or unreadable.
    pub(crate) fn list_multipart_uploads_skew(
        &self,
        bucket: &str,
        prefix: &str,
        opts: &RequestOptions,
    ) -> Result<(Vec<ListedUpload>, Option<i64>)> {
        validate_bucket(bucket)?;
        let mut out = Vec::new();
        let mut skew = None;
        let mut marker: Option<(String, String)> = None;
        for _ in 0..100_000 {
            let mut req = opts
                .apply(Request::new("GET", bucket, None), false)?
                .query("uploads", "")
                .query("max-uploads", "1000");
            if !prefix.is_empty() {
                req = req.query("prefix", prefix);
            }
            if let Some((k, id)) = &marker {
                req = req
                    .query("key-marker", k.clone())
                    .query("upload-id-marker", id.clone());
            }
            let (page, next, date) = self.transport.execute(&req, Payload::Empty, |mut r| {
                let date = header(&r, "date").and_then(|d| httpdate::parse_http_date(d).ok());
                let (page, next) = xml::parse_list_uploads(&read_small_body(&mut r)?)?;
                Ok((page, next, date))
            })?;
            if skew.is_none() {
                skew = date.map(|server| seconds_between(SystemTime::now(), server));
            }
            out.extend(page);
            match next {
                Some(n) if Some(&n) != marker.as_ref() => marker = Some(n),
                _ => return Ok((out, skew)),
            }
        }
        Ok((out, skew))
    }

    /// One page of a bucket listing (GET on the bucket with `query`), honouring the
    /// request options' payer flag and cancel token. The paging lives in
    /// [`ObjectLister`](crate::ObjectLister).
    pub(crate) fn list_objects_page(
        &self,
        bucket: &str,
        query: Vec<(String, String)>,
        opts: &RequestOptions,
    ) -> Result<xml::ObjectsPage> {
        let mut req = opts.apply(Request::new("GET", bucket, None), false)?;
        req.query.extend(query);
        self.transport.execute(&req, Payload::Empty, |mut r| {
            xml::parse_list_objects(&read_small_body(&mut r)?)
        })
    }

    /// A presigned URL that lets anyone GET the object for `expires`, signed with the
    /// configured signature version.
    pub fn presign_get(
        &self,
        bucket: &str,
        key: &str,
        expires: Duration,
        opts: &RequestOptions,
    ) -> Result<String> {
        Self::check(bucket, key)?;
        let req = opts.apply(Request::new("GET", bucket, Some(key)), true)?;
        Ok(self.transport.presign(&req, expires))
    }
}

/// Seconds from `from` to `to`, negative when `to` is earlier.
fn seconds_between(from: SystemTime, to: SystemTime) -> i64 {
    match to.duration_since(from) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_range_is_parsed_and_checked() {
        assert_eq!(parse_content_range("bytes 0-99/1000"), Some((0, 99, 1000)));
        assert_eq!(parse_content_range("bytes 5-4/1000"), None);
        assert_eq!(parse_content_range("bytes 0-1000/1000"), None);
        assert_eq!(parse_content_range("bytes */1000"), None);
    }

    #[test]
    fn traffic_limit_outside_oss_bounds_is_refused() {
        let opts = RequestOptions {
            traffic_limit: Some(100),
            ..Default::default()
        };
        let err = opts
            .apply(Request::new("GET", "bkt", Some("k")), true)
            .unwrap_err();
        assert!(err.to_string().contains("traffic limit"), "{err}");
    }
}
