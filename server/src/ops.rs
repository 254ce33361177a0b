//! The OSS operations: routing a request to one, and carrying it out.

use std::io::Read;
use std::time::SystemTime;

use base64::Engine;
use oss_resume::signing::{format_v4_datetime, percent_encode};

use crate::error::{OssError, xml_escape};
use crate::http::RequestHead;
use crate::store::{MAX_PART_NUMBER, ObjectMeta, OpenBlob, Store};

/// Longest key OSS accepts, in bytes.
const MAX_KEY_LEN: usize = 1023;
/// Largest CompleteMultipartUpload body read.
const MAX_XML_BODY: u64 = 16 * 1024 * 1024;

/// What the server answers with.
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: ResponseBody,
}

/// A response body.
pub enum ResponseBody {
    Empty,
    Bytes(Vec<u8>),
    /// `len` bytes of an object from `offset`.
    Object {
        blob: OpenBlob,
        offset: u64,
        len: u64,
    },
    /// A HEAD answer: the length a GET would have, no body.
    HeadOnly(u64),
}

impl Response {
    pub(crate) fn empty(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: ResponseBody::Empty,
        }
    }

    pub(crate) fn xml(body: String) -> Response {
        Response {
            status: 200,
            headers: vec![("Content-Type".into(), "application/xml".into())],
            body: ResponseBody::Bytes(body.into_bytes()),
        }
    }

    pub(crate) fn header(mut self, name: &str, value: impl Into<String>) -> Response {
        self.headers.push((name.to_string(), value.into()));
        self
    }
}

/// The operations this server implements, by their OSS names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    HeadObject,
    GetObjectMeta,
    GetObject,
    PutObject,
    DeleteObject,
    InitiateMultipartUpload,
    UploadPart,
    ListParts,
    CompleteMultipartUpload,
    AbortMultipartUpload,
    ListMultipartUploads,
    CopyObject,
    UploadPartCopy,
    ListObjects,
    ListObjectsV2,
}

impl Op {
    /// The OSS name, used in counters and fault switches.
    pub fn name(self) -> &'static str {
        match self {
            Op::HeadObject => "HeadObject",
            Op::GetObjectMeta => "GetObjectMeta",
            Op::GetObject => "GetObject",
            Op::PutObject => "PutObject",
            Op::DeleteObject => "DeleteObject",
            Op::InitiateMultipartUpload => "InitiateMultipartUpload",
            Op::UploadPart => "UploadPart",
            Op::ListParts => "ListParts",
            Op::CompleteMultipartUpload => "CompleteMultipartUpload",
            Op::AbortMultipartUpload => "AbortMultipartUpload",
            Op::ListMultipartUploads => "ListMultipartUploads",
            Op::CopyObject => "CopyObject",
            Op::UploadPartCopy => "UploadPartCopy",
            Op::ListObjects => "ListObjects",
            Op::ListObjectsV2 => "ListObjectsV2",
        }
    }

    /// Whether the operation reads a request body.
    pub fn reads_body(self) -> bool {
        matches!(
            self,
            Op::PutObject | Op::UploadPart | Op::CompleteMultipartUpload
        )
    }
}

fn has(query: &[(String, String)], name: &str) -> bool {
    query.iter().any(|(k, _)| k == name)
}

pub(crate) fn value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn not_implemented(what: &str) -> OssError {
    OssError::new(
        501,
        "NotImplemented",
        &format!("this local server does not implement {what}"),
    )
}

/// Whether a bucket GET's query parameter belongs to a listing (or to the request's
/// own signature), rather than to a bucket sub-resource this server lacks.
fn is_list_param(name: &str) -> bool {
    LIST_PARAMS.contains(&name)
        || name.starts_with("x-oss-")
        || matches!(
            name,
            "OSSAccessKeyId" | "Expires" | "Signature" | "security-token"
        )
}

/// Which operation a request is.
pub fn operation(
    method: &str,
    bucket: Option<&str>,
    key: Option<&str>,
    query: &[(String, String)],
    head: &RequestHead,
) -> Result<Op, OssError> {
    if bucket.is_none() {
        return Err(not_implemented("service-level requests (ListBuckets)"));
    }
    let Some(_) = key else {
        return match method {
            "GET" if has(query, "uploads") => Ok(Op::ListMultipartUploads),
            "GET" if query.iter().all(|(k, _)| is_list_param(k)) => {
                if value(query, "list-type") == Some("2") {
                    Ok(Op::ListObjectsV2)
                } else {
                    Ok(Op::ListObjects)
                }
            }
            _ => Err(not_implemented(&format!("{method} on a bucket"))),
        };
    };
    match method {
        "HEAD" if has(query, "objectMeta") => Ok(Op::GetObjectMeta),
        "HEAD" => Ok(Op::HeadObject),
        "GET" if has(query, "uploadId") => Ok(Op::ListParts),
        "GET" => Ok(Op::GetObject),
        "PUT" if head.header("x-oss-copy-source").is_some() => {
            if has(query, "uploadId") || has(query, "partNumber") {
                Ok(Op::UploadPartCopy)
            } else {
                Ok(Op::CopyObject)
            }
        }
        "PUT" if has(query, "uploadId") || has(query, "partNumber") => Ok(Op::UploadPart),
        "PUT" if has(query, "acl") || has(query, "tagging") || has(query, "symlink") => {
            Err(not_implemented("object ACL, tagging and symlinks"))
        }
        "PUT" => Ok(Op::PutObject),
        "POST" if has(query, "uploads") => Ok(Op::InitiateMultipartUpload),
        "POST" if has(query, "uploadId") => Ok(Op::CompleteMultipartUpload),
        "POST" => Err(not_implemented(
            "POST other than multipart (AppendObject, ...)",
        )),
        "DELETE" if has(query, "uploadId") => Ok(Op::AbortMultipartUpload),
        "DELETE" => Ok(Op::DeleteObject),
        _ => Err(OssError::new(
            405,
            "MethodNotAllowed",
            &format!("the method {method} is not allowed on an object"),
        )),
    }
}

/// Everything an operation needs.
pub struct Ctx<'a> {
    pub store: &'a Store,
    pub head: &'a RequestHead,
    pub bucket: &'a str,
    pub key: &'a str,
    pub query: &'a [(String, String)],
    pub now: SystemTime,
    /// The Host the request named, for `Location`.
    pub host: &'a str,
    /// The largest source CopyObject copies (OSS: 1 GB).
    pub copy_limit: u64,
}

/// ISO 8601 with milliseconds, as OSS lists times.
pub fn iso8601(t: SystemTime) -> String {
    let s = format_v4_datetime(t);
    // YYYYMMDDTHHMMSSZ -> YYYY-MM-DDTHH:MM:SS.000Z
    format!(
        "{}-{}-{}T{}:{}:{}.000Z",
        &s[0..4],
        &s[4..6],
        &s[6..8],
        &s[9..11],
        &s[11..13],
        &s[13..15]
    )
}

/// Keys in XML answers: percent-encoded when the request asked for `encoding-type=url`.
pub(crate) fn xml_key(ctx_query: &[(String, String)], key: &str) -> String {
    if value(ctx_query, "encoding-type") == Some("url") {
        percent_encode(key, true)
    } else {
        xml_escape(key)
    }
}

fn encoding_element(query: &[(String, String)]) -> &'static str {
    if value(query, "encoding-type") == Some("url") {
        "  <EncodingType>url</EncodingType>\n"
    } else {
        ""
    }
}

pub(crate) fn check_key(key: &str) -> Result<(), OssError> {
    if key.len() > MAX_KEY_LEN {
        return Err(OssError::new(
            400,
            "InvalidObjectName",
            &format!(
                "the object name is {} bytes; at most {MAX_KEY_LEN} are allowed",
                key.len()
            ),
        ));
    }
    Ok(())
}

/// Request headers stored with an object and sent back on GET and HEAD.
pub(crate) fn stored_headers(head: &RequestHead) -> Vec<(String, String)> {
    const KEPT: &[&str] = &[
        "cache-control",
        "content-disposition",
        "content-encoding",
        "content-language",
        "expires",
        "x-oss-storage-class",
        "x-oss-server-side-encryption",
    ];
    head.headers
        .iter()
        .filter(|(n, _)| {
            let n = n.to_ascii_lowercase();
            n.starts_with("x-oss-meta-") || KEPT.contains(&n.as_str())
        })
        .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
        .collect()
}

pub(crate) fn content_type(head: &RequestHead) -> String {
    head.header("content-type")
        .filter(|v| !v.is_empty())
        .unwrap_or("application/octet-stream")
        .to_string()
}

fn object_headers(meta: &ObjectMeta) -> Vec<(String, String)> {
    let mut out = vec![
        ("Content-Type".to_string(), meta.content_type.clone()),
        ("ETag".to_string(), meta.etag.clone()),
        (
            "Last-Modified".to_string(),
            httpdate::fmt_http_date(meta.last_modified),
        ),
        ("x-oss-hash-crc64ecma".to_string(), meta.crc64.to_string()),
        ("x-oss-object-type".to_string(), meta.object_type.clone()),
        ("Accept-Ranges".to_string(), "bytes".to_string()),
    ];
    if !meta.headers.iter().any(|(n, _)| n == "x-oss-storage-class") {
        out.push(("x-oss-storage-class".to_string(), "Standard".to_string()));
    }
    out.extend(meta.headers.iter().cloned());
    out
}

fn etag_matches(list: &str, etag: &str) -> bool {
    let etag = etag.trim_matches('"');
    list.split(',').map(str::trim).any(|candidate| {
        candidate == "*" || candidate.trim_start_matches("W/").trim_matches('"') == etag
    })
}

/// Evaluates If-Match, If-Unmodified-Since, If-None-Match and If-Modified-Since in the
/// order RFC 9110 gives. `Ok(Some(304))` answers Not Modified.
fn check_conditions(head: &RequestHead, meta: &ObjectMeta) -> Result<Option<u16>, OssError> {
    check_conditions_named(head, meta, "")
}

/// [`check_conditions`] on the headers named with `prefix` (`x-oss-copy-source-` for
/// a copy's source).
pub(crate) fn check_conditions_named(
    head: &RequestHead,
    meta: &ObjectMeta,
    prefix: &str,
) -> Result<Option<u16>, OssError> {
    let named = |name: &str| head.header(&format!("{prefix}{name}"));
    let failed = || {
        OssError::new(
            412,
            "PreconditionFailed",
            "At least one of the pre-conditions you specified did not hold.",
        )
    };
    if let Some(list) = named("if-match") {
        if !etag_matches(list, &meta.etag) {
            return Err(failed().with("Condition", &format!("{prefix}If-Match")));
        }
    } else if let Some(date) = named("if-unmodified-since")
        && let Ok(date) = httpdate::parse_http_date(date)
        && meta.last_modified > date
    {
        return Err(failed().with("Condition", &format!("{prefix}If-Unmodified-Since")));
    }
    if let Some(list) = named("if-none-match") {
        if etag_matches(list, &meta.etag) {
            return Ok(Some(304));
        }
    } else if let Some(date) = named("if-modified-since")
        && let Ok(date) = httpdate::parse_http_date(date)
        && meta.last_modified <= date
    {
        return Ok(Some(304));
    }
    Ok(None)
}

/// How a Range header resolves against an object.
#[derive(Debug, PartialEq, Eq)]
pub enum RangeOutcome {
    /// No usable range: the whole object, status 200.
    Whole,
    /// Inclusive first and last byte, status 206.
    Partial(u64, u64),
    /// 416 InvalidRange (only with `x-oss-range-behavior: standard`).
    Unsatisfiable,
}

/// Resolves a Range header. Without `standard`, OSS ignores invalid or out-of-bounds
/// ranges and answers with the whole object; with it, an end past EOF is clipped and a
/// start at or past EOF is 416.
pub fn resolve_range(spec: Option<&str>, size: u64, standard: bool) -> RangeOutcome {
    let Some(spec) = spec else {
        return RangeOutcome::Whole;
    };
    let invalid = if standard {
        RangeOutcome::Unsatisfiable
    } else {
        RangeOutcome::Whole
    };
    let Some(set) = spec.trim().strip_prefix("bytes=") else {
        return invalid;
    };
    if set.contains(',') {
        return invalid;
    }
    let Some((first, last)) = set.trim().split_once('-') else {
        return invalid;
    };
    let parse = |s: &str| s.trim().parse::<u64>().ok();
    match (first.trim().is_empty(), last.trim().is_empty()) {
        // bytes=-n: the last n bytes
        (true, false) => match parse(last) {
            Some(n) if n > 0 && size > 0 => {
                if n > size && !standard {
                    return RangeOutcome::Whole;
                }
                RangeOutcome::Partial(size - n.min(size), size - 1)
            }
            _ => invalid,
        },
        // bytes=a-
        (false, true) => match parse(first) {
            Some(a) if a < size => RangeOutcome::Partial(a, size - 1),
            _ => invalid,
        },
        (false, false) => match (parse(first), parse(last)) {
            (Some(a), Some(b)) if a <= b && a < size => {
                if b >= size {
                    if standard {
                        RangeOutcome::Partial(a, size - 1)
                    } else {
                        RangeOutcome::Whole
                    }
                } else {
                    RangeOutcome::Partial(a, b)
                }
            }
            _ => invalid,
        },
        (true, true) => invalid,
    }
}

/// GetObject, HeadObject and GetObjectMeta. The flag tells a ranged answer (206).
pub fn get_object(ctx: &Ctx<'_>, op: Op) -> Result<(Response, bool), OssError> {
    let (object, blob) = ctx.store.open_object(ctx.bucket, ctx.key)?;
    let meta = &object.meta;
    if op == Op::GetObjectMeta {
        let r = Response::empty(200)
            .header("ETag", meta.etag.clone())
            .header("Last-Modified", httpdate::fmt_http_date(meta.last_modified))
            .header("x-oss-hash-crc64ecma", meta.crc64.to_string())
            .header(
                "x-oss-last-access-time",
                httpdate::fmt_http_date(meta.last_modified),
            );
        return Ok((
            Response {
                body: ResponseBody::HeadOnly(meta.size),
                ..r
            },
            false,
        ));
    }
    if let Some(status) = check_conditions(ctx.head, meta)? {
        let r = Response::empty(status)
            .header("ETag", meta.etag.clone())
            .header("Last-Modified", httpdate::fmt_http_date(meta.last_modified));
        return Ok((r, false));
    }
    let mut headers = object_headers(meta);
    if op == Op::HeadObject {
        return Ok((
            Response {
                status: 200,
                headers,
                body: ResponseBody::HeadOnly(meta.size),
            },
            false,
        ));
    }
    apply_response_overrides(&mut headers, ctx.query);
    let standard = ctx
        .head
        .header("x-oss-range-behavior")
        .is_some_and(|v| v.eq_ignore_ascii_case("standard"));
    match resolve_range(ctx.head.header("range"), meta.size, standard) {
        RangeOutcome::Whole => Ok((
            Response {
                status: 200,
                headers,
                body: ResponseBody::Object {
                    blob,
                    offset: 0,
                    len: meta.size,
                },
            },
            false,
        )),
        RangeOutcome::Partial(first, last) => {
            headers.push((
                "Content-Range".to_string(),
                format!("bytes {first}-{last}/{}", meta.size),
            ));
            Ok((
                Response {
                    status: 206,
                    headers,
                    body: ResponseBody::Object {
                        blob,
                        offset: first,
                        len: last - first + 1,
                    },
                },
                true,
            ))
        }
        RangeOutcome::Unsatisfiable => Err(OssError::new(
            416,
            "InvalidRange",
            "The requested range cannot be satisfied",
        )
        .with("ActualObjectSize", &meta.size.to_string())
        .with("RangeRequested", ctx.head.header("range").unwrap_or(""))),
    }
}

/// GetObject's `response-*` query parameters and the headers they set on the answer.
const RESPONSE_OVERRIDES: [(&str, &str); 6] = [
    ("response-content-type", "Content-Type"),
    ("response-content-language", "Content-Language"),
    ("response-expires", "Expires"),
    ("response-cache-control", "Cache-Control"),
    ("response-content-disposition", "Content-Disposition"),
    ("response-content-encoding", "Content-Encoding"),
];

/// Sets the headers a GET's `response-*` parameters ask for, replacing stored ones.
fn apply_response_overrides(headers: &mut Vec<(String, String)>, query: &[(String, String)]) {
    for (param, header) in RESPONSE_OVERRIDES {
        if let Some((_, value)) = query.iter().rev().find(|(n, _)| n == param) {
            headers.retain(|(n, _)| !n.eq_ignore_ascii_case(header));
            headers.push((header.to_string(), value.clone()));
        }
    }
}

fn check_md5(head: &RequestHead, md5: &[u8; 16]) -> Result<(), OssError> {
    if let Some(given) = head.header("content-md5") {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(given.trim())
            .map_err(|_| {
                OssError::new(
                    400,
                    "InvalidDigest",
                    "The Content-MD5 you specified is not valid base64.",
                )
            })?;
        if decoded.as_slice() != md5.as_slice() {
            return Err(OssError::new(
                400,
                "InvalidDigest",
                "The Content-MD5 you specified did not match what we received.",
            ));
        }
    }
    Ok(())
}

fn md5_header(md5: &[u8; 16]) -> String {
    base64::engine::general_purpose::STANDARD.encode(md5)
}

/// PutObject: the body becomes the object, or nothing does.
pub fn put_object(ctx: &Ctx<'_>, body: &mut dyn Read) -> Result<Response, OssError> {
    check_key(ctx.key)?;
    forbid_overwrite(ctx)?;
    let received = ctx
        .store
        .receive(ctx.bucket, body)
        .map_err(|e| OssError::new(400, "IncompleteBody", &format!("reading the body: {e}")))?;
    if let Err(e) = check_md5(ctx.head, &received.md5) {
        ctx.store.discard(received);
        return Err(e);
    }
    let md5 = received.md5;
    let object = ctx.store.put_object(
        ctx.bucket,
        ctx.key,
        received,
        content_type(ctx.head),
        stored_headers(ctx.head),
        ctx.now,
    )?;
    Ok(Response::empty(200)
        .header("ETag", object.meta.etag.clone())
        .header("x-oss-hash-crc64ecma", object.meta.crc64.to_string())
        .header("Content-MD5", md5_header(&md5)))
}

pub fn delete_object(ctx: &Ctx<'_>) -> Result<Response, OssError> {
    ctx.store.delete_object(ctx.bucket, ctx.key)?;
    Ok(Response::empty(204))
}

pub fn initiate(ctx: &Ctx<'_>) -> Result<Response, OssError> {
    check_key(ctx.key)?;
    let id = ctx.store.initiate_upload(
        ctx.bucket,
        ctx.key,
        content_type(ctx.head),
        stored_headers(ctx.head),
        has(ctx.query, "sequential"),
        ctx.now,
    )?;
    Ok(Response::xml(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<InitiateMultipartUploadResult>\n{}  <Bucket>{}</Bucket>\n  <Key>{}</Key>\n  <UploadId>{}</UploadId>\n</InitiateMultipartUploadResult>\n",
        encoding_element(ctx.query),
        xml_escape(ctx.bucket),
        xml_key(ctx.query, ctx.key),
        xml_escape(&id)
    )))
}

pub(crate) fn upload_id<'a>(ctx: &'a Ctx<'_>) -> Result<&'a str, OssError> {
    value(ctx.query, "uploadId")
        .filter(|v| !v.is_empty())
        .ok_or_else(|| OssError::invalid_argument("the uploadId parameter is missing or empty"))
}

/// Checks UploadPart's parameters before its body is read.
pub fn check_upload_part(ctx: &Ctx<'_>) -> Result<u32, OssError> {
    let number = value(ctx.query, "partNumber")
        .and_then(|v| v.parse::<u32>().ok())
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            OssError::invalid_argument(
                "Part number must be an integer between 1 and 10000, inclusive.",
            )
            .with("ArgumentName", "partNumber")
        })?;
    ctx.store
        .check_upload(ctx.bucket, ctx.key, upload_id(ctx)?)?;
    Ok(number)
}

pub fn upload_part(ctx: &Ctx<'_>, number: u32, body: &mut dyn Read) -> Result<Response, OssError> {
    let id = upload_id(ctx)?;
    let received = ctx
        .store
        .receive(ctx.bucket, body)
        .map_err(|e| OssError::new(400, "IncompleteBody", &format!("reading the body: {e}")))?;
    if let Err(e) = check_md5(ctx.head, &received.md5) {
        ctx.store.discard(received);
        return Err(e);
    }
    let md5 = received.md5;
    let part = ctx
        .store
        .put_part(ctx.bucket, ctx.key, id, number, received, ctx.now)?;
    Ok(Response::empty(200)
        .header("ETag", part.etag.clone())
        .header("x-oss-hash-crc64ecma", part.crc64.to_string())
        .header("Content-MD5", md5_header(&md5)))
}

pub fn list_parts(ctx: &Ctx<'_>) -> Result<Response, OssError> {
    let id = upload_id(ctx)?;
    let max_parts = match value(ctx.query, "max-parts") {
        None => 1000,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| OssError::invalid_argument("max-parts must be within 1..1000"))?,
    };
    let marker = match value(ctx.query, "part-number-marker") {
        None | Some("") => 0,
        Some(v) => v
            .parse::<u32>()
            .map_err(|_| OssError::invalid_argument("part-number-marker is not a number"))?,
    };
    let parts = ctx.store.list_parts(ctx.bucket, ctx.key, id)?;
    let after: Vec<_> = parts.into_iter().filter(|p| p.number > marker).collect();
    let truncated = after.len() > max_parts;
    let page = &after[..after.len().min(max_parts)];
    let next = page.last().map(|p| p.number).unwrap_or(marker);
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListPartsResult>\n{}  <Bucket>{}</Bucket>\n  <Key>{}</Key>\n  <UploadId>{}</UploadId>\n  <PartNumberMarker>{marker}</PartNumberMarker>\n  <NextPartNumberMarker>{next}</NextPartNumberMarker>\n  <MaxParts>{max_parts}</MaxParts>\n  <IsTruncated>{truncated}</IsTruncated>\n",
        encoding_element(ctx.query),
        xml_escape(ctx.bucket),
        xml_key(ctx.query, ctx.key),
        xml_escape(id),
    );
    for p in page {
        xml.push_str(&format!(
            "  <Part>\n    <PartNumber>{}</PartNumber>\n    <LastModified>{}</LastModified>\n    <ETag>{}</ETag>\n    <HashCrc64ecma>{}</HashCrc64ecma>\n    <Size>{}</Size>\n  </Part>\n",
            p.number,
            iso8601(p.last_modified),
            xml_escape(&p.etag),
            p.crc64,
            p.size
        ));
    }
    xml.push_str("</ListPartsResult>\n");
    Ok(Response::xml(xml))
}

/// The character an XML reference stands for: the five predefined entities and numeric
/// character references (`&#34;`, `&#x22;`). Every XML body the server reads goes
/// through this.
fn resolve_reference(r: &quick_xml::events::BytesRef<'_>) -> Option<char> {
    if let Ok(Some(c)) = r.resolve_char_ref() {
        return Some(c);
    }
    match r.as_ref() {
        b"quot" => Some('"'),
        b"amp" => Some('&'),
        b"lt" => Some('<'),
        b"gt" => Some('>'),
        b"apos" => Some('\''),
        _ => None,
    }
}

/// Parses a CompleteMultipartUpload body into (part number, ETag) pairs.
pub fn parse_complete_body(xml: &[u8]) -> Result<Vec<(u32, String)>, OssError> {
    use quick_xml::events::Event;
    let malformed = |why: &str| {
        OssError::new(
            400,
            "MalformedXML",
            &format!("The XML you provided was not well-formed or did not validate: {why}"),
        )
    };
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut parts = Vec::new();
    let mut path: Vec<String> = Vec::new();
    let mut number: Option<u32> = None;
    let mut etag: Option<String> = None;
    let mut number_text = String::new();
    let mut saw_root = false;
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                let name = String::from_utf8_lossy(e.name().as_ref()).to_string();
                if path.is_empty() {
                    if name != "CompleteMultipartUpload" {
                        return Err(malformed("the root is not CompleteMultipartUpload"));
                    }
                    saw_root = true;
                }
                if name == "Part" {
                    number = None;
                    etag = None;
                }
                path.push(name);
            }
            Ok(Event::End(_)) => {
                let ended = path.pop();
                if ended.as_deref() == Some("PartNumber") {
                    number = Some(
                        number_text
                            .trim()
                            .parse()
                            .map_err(|_| malformed("bad PartNumber"))?,
                    );
                    number_text.clear();
                }
                if ended.as_deref() == Some("Part") {
                    match (number.take(), etag.take()) {
                        (Some(n), Some(t)) => parts.push((n, t.trim().to_string())),
                        _ => return Err(malformed("a Part lacks PartNumber or ETag")),
                    }
                }
            }
            Ok(Event::Empty(e)) => {
                if path.is_empty() && e.name().as_ref() == b"CompleteMultipartUpload" {
                    saw_root = true;
                }
            }
            Ok(Event::Text(t)) => {
                let text = t.decode().map_err(|_| malformed("undecodable text"))?;
                let text =
                    quick_xml::escape::unescape(&text).map_err(|_| malformed("bad escape"))?;
                match path.last().map(String::as_str) {
                    Some("PartNumber") => number_text.push_str(&text),
                    Some("ETag") => etag.get_or_insert_with(String::new).push_str(&text),
                    _ => {}
                }
            }
            Ok(Event::GeneralRef(r)) => {
                // References (`&quot;`, and `&#34;` as Go's encoder writes ETag quotes)
                // arrive as separate events.
                let resolved = resolve_reference(&r).ok_or_else(|| malformed("unknown entity"))?;
                match path.last().map(String::as_str) {
                    Some("PartNumber") => number_text.push(resolved),
                    Some("ETag") => etag.get_or_insert_with(String::new).push(resolved),
                    _ => {}
                }
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(malformed(&e.to_string())),
        }
    }
    if !saw_root {
        return Err(malformed("no CompleteMultipartUpload element"));
    }
    Ok(parts)
}

pub fn complete(ctx: &Ctx<'_>, body: &mut dyn Read) -> Result<Response, OssError> {
    let id = upload_id(ctx)?;
    let mut xml = Vec::new();
    body.take(MAX_XML_BODY + 1)
        .read_to_end(&mut xml)
        .map_err(|e| OssError::new(400, "IncompleteBody", &format!("reading the body: {e}")))?;
    if xml.len() as u64 > MAX_XML_BODY {
        return Err(OssError::new(400, "MalformedXML", "the body is too large"));
    }
    let listed = if ctx
        .head
        .header("x-oss-complete-all")
        .is_some_and(|v| v.eq_ignore_ascii_case("yes"))
    {
        ctx.store
            .list_parts(ctx.bucket, ctx.key, id)?
            .iter()
            .map(|p| (p.number, p.etag.clone()))
            .collect()
    } else {
        parse_complete_body(&xml)?
    };
    forbid_overwrite(ctx)?;
    let object = ctx
        .store
        .complete_upload(ctx.bucket, ctx.key, id, &listed, ctx.now)?;
    let location = format!(
        "http://{}/{}/{}",
        ctx.host,
        ctx.bucket,
        percent_encode(ctx.key, true)
    );
    let mut r = Response::xml(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CompleteMultipartUploadResult>\n{}  <Location>{}</Location>\n  <Bucket>{}</Bucket>\n  <Key>{}</Key>\n  <ETag>{}</ETag>\n</CompleteMultipartUploadResult>\n",
        encoding_element(ctx.query),
        xml_escape(&location),
        xml_escape(ctx.bucket),
        xml_key(ctx.query, ctx.key),
        xml_escape(&object.meta.etag)
    ));
    r.headers.push(("ETag".into(), object.meta.etag.clone()));
    r.headers
        .push(("x-oss-hash-crc64ecma".into(), object.meta.crc64.to_string()));
    Ok(r)
}

pub fn abort(ctx: &Ctx<'_>) -> Result<Response, OssError> {
    let id = upload_id(ctx)?;
    ctx.store.abort_upload(ctx.bucket, ctx.key, id)?;
    Ok(Response::empty(204))
}

pub fn list_uploads(
    store: &Store,
    bucket: &str,
    query: &[(String, String)],
) -> Result<Response, OssError> {
    let prefix = value(query, "prefix").unwrap_or("");
    let key_marker = value(query, "key-marker").unwrap_or("");
    let id_marker = value(query, "upload-id-marker").unwrap_or("");
    let max = match value(query, "max-uploads") {
        None => 1000,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=1000).contains(n))
            .ok_or_else(|| OssError::invalid_argument("max-uploads must be within 1..1000"))?,
    };
    let all = store.list_uploads(bucket)?;
    // Skip up to and including the marker position.
    let start = if key_marker.is_empty() {
        0
    } else if id_marker.is_empty() {
        all.iter()
            .position(|(k, _, _)| k.as_str() > key_marker)
            .unwrap_or(all.len())
    } else {
        match all
            .iter()
            .position(|(k, id, _)| k == key_marker && id == id_marker)
        {
            Some(p) => p + 1,
            None => all
                .iter()
                .position(|(k, _, _)| k.as_str() > key_marker)
                .unwrap_or(all.len()),
        }
    };
    let matching: Vec<_> = all[start..]
        .iter()
        .filter(|(k, _, _)| k.starts_with(prefix))
        .collect();
    let truncated = matching.len() > max;
    let page = &matching[..matching.len().min(max)];
    let (next_key, next_id) = page
        .last()
        .map(|(k, id, _)| (k.as_str(), id.as_str()))
        .unwrap_or(("", ""));
    let mut xml = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListMultipartUploadsResult>\n{}  <Bucket>{}</Bucket>\n  <KeyMarker>{}</KeyMarker>\n  <UploadIdMarker>{}</UploadIdMarker>\n  <NextKeyMarker>{}</NextKeyMarker>\n  <NextUploadIdMarker>{}</NextUploadIdMarker>\n  <Delimiter></Delimiter>\n  <Prefix>{}</Prefix>\n  <MaxUploads>{max}</MaxUploads>\n  <IsTruncated>{truncated}</IsTruncated>\n",
        encoding_element(query),
        xml_escape(bucket),
        xml_key(query, key_marker),
        xml_escape(id_marker),
        xml_key(query, next_key),
        xml_escape(next_id),
        xml_key(query, prefix),
    );
    for (key, id, initiated) in page {
        xml.push_str(&format!(
            "  <Upload>\n    <Key>{}</Key>\n    <UploadId>{}</UploadId>\n    <Initiated>{}</Initiated>\n  </Upload>\n",
            xml_key(query, key),
            xml_escape(id),
            iso8601(*initiated)
        ));
    }
    xml.push_str("</ListMultipartUploadsResult>\n");
    Ok(Response::xml(xml))
}

/// `x-oss-forbid-overwrite: true` on a key that exists: 409 `FileAlreadyExists`
/// (CopyObject, PutObject, CompleteMultipartUpload).
pub(crate) fn forbid_overwrite(ctx: &Ctx<'_>) -> Result<(), OssError> {
    let forbidden = ctx
        .head
        .header("x-oss-forbid-overwrite")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if forbidden && ctx.store.object_meta(ctx.bucket, ctx.key).is_ok() {
        return Err(OssError::new(
            409,
            "FileAlreadyExists",
            "The object you specified already exists and can not be overwritten.",
        ));
    }
    Ok(())
}

/// Query parameters a listing takes; a GET on a bucket with any other (an ACL, a
/// lifecycle...) is not a listing.
pub const LIST_PARAMS: &[&str] = &[
    "prefix",
    "delimiter",
    "marker",
    "max-keys",
    "encoding-type",
    "list-type",
    "continuation-token",
    "start-after",
    "fetch-owner",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn legacy_ranges_fall_back_to_the_whole_object() {
        assert_eq!(
            resolve_range(Some("bytes=0-99"), 100, false),
            RangeOutcome::Partial(0, 99)
        );
        assert_eq!(
            resolve_range(Some("bytes=0-100"), 100, false),
            RangeOutcome::Whole
        );
        assert_eq!(
            resolve_range(Some("bytes=100-"), 100, false),
            RangeOutcome::Whole
        );
        assert_eq!(
            resolve_range(Some("bytes=5-2"), 100, false),
            RangeOutcome::Whole
        );
        assert_eq!(
            resolve_range(Some("bytes=0-1,3-4"), 100, false),
            RangeOutcome::Whole
        );
        assert_eq!(resolve_range(None, 100, true), RangeOutcome::Whole);
    }

    #[test]
    fn standard_ranges_clip_the_end_and_refuse_a_start_past_eof() {
        assert_eq!(
            resolve_range(Some("bytes=90-200"), 100, true),
            RangeOutcome::Partial(90, 99)
        );
        assert_eq!(
            resolve_range(Some("bytes=100-"), 100, true),
            RangeOutcome::Unsatisfiable
        );
        assert_eq!(
            resolve_range(Some("bytes=100-200"), 100, true),
            RangeOutcome::Unsatisfiable
        );
        assert_eq!(
            resolve_range(Some("bytes=-10"), 100, true),
            RangeOutcome::Partial(90, 99)
        );
        assert_eq!(
            resolve_range(Some("bytes=-200"), 100, true),
            RangeOutcome::Partial(0, 99)
        );
        assert_eq!(
            resolve_range(Some("bytes=-0"), 100, true),
            RangeOutcome::Unsatisfiable
        );
        assert_eq!(
            resolve_range(Some("bytes=0-"), 0, true),
            RangeOutcome::Unsatisfiable
        );
    }

    #[test]
    fn complete_body_parses_parts_with_quoted_etags() {
        let xml = br#"<?xml version="1.0"?><CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;AB&quot;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>"CD"</ETag></Part></CompleteMultipartUpload>"#;
        assert_eq!(
            parse_complete_body(xml).unwrap(),
            vec![(1, "\"AB\"".to_string()), (2, "\"CD\"".to_string())]
        );
        assert_eq!(
            parse_complete_body(b"<Other/>").unwrap_err().code,
            "MalformedXML"
        );
        assert_eq!(
            parse_complete_body(b"<CompleteMultipartUpload><Part><PartNumber>x</PartNumber></Part></CompleteMultipartUpload>")
                .unwrap_err()
                .code,
            "MalformedXML"
        );
    }

    #[test]
    fn etags_match_with_or_without_quotes() {
        assert!(etag_matches("\"ABC\"", "\"ABC\""));
        assert!(etag_matches("ABC", "\"ABC\""));
        assert!(etag_matches("\"X\", \"ABC\"", "\"ABC\""));
        assert!(etag_matches("*", "\"ABC\""));
        assert!(!etag_matches("\"ABD\"", "\"ABC\""));
    }
}
