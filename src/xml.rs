//! The one place that reads and writes OSS XML.

use quick_xml::events::Event;

use crate::error::{Error, ErrorKind, OssErrorDetails, Result};

/// Every text element of a document as (path, text), path elements joined by `/`
/// (e.g. `ListPartsResult/Part/ETag`), in document order.
fn flatten(xml: &[u8]) -> Result<Vec<(String, String)>> {
    let bad = |why: String| Error::new(ErrorKind::Server, format!("unreadable xml answer: {why}"));
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut path: Vec<String> = Vec::new();
    let mut out: Vec<(String, String)> = Vec::new();
    let mut text = String::new();
    loop {
        match reader.read_event() {
            Ok(Event::Start(e)) => {
                path.push(String::from_utf8_lossy(e.name().as_ref()).into_owned());
                text.clear();
            }
            Ok(Event::End(_)) => {
                if !text.is_empty() || path.len() > 1 {
                    out.push((path.join("/"), std::mem::take(&mut text)));
                }
                path.pop();
            }
            Ok(Event::Text(t)) => {
                let decoded = t.decode().map_err(|e| bad(e.to_string()))?;
                let unescaped =
                    quick_xml::escape::unescape(&decoded).map_err(|e| bad(e.to_string()))?;
                text.push_str(&unescaped);
            }
            Ok(Event::CData(t)) => text.push_str(&String::from_utf8_lossy(&t)),
            Ok(Event::GeneralRef(r)) => {
                let resolved = match r.as_ref() {
                    b"quot" => "\"".to_string(),
                    b"amp" => "&".to_string(),
                    b"lt" => "<".to_string(),
                    b"gt" => ">".to_string(),
                    b"apos" => "'".to_string(),
                    other => {
                        let name = String::from_utf8_lossy(other);
                        let code = name
                            .strip_prefix("#x")
                            .and_then(|h| u32::from_str_radix(h, 16).ok())
                            .or_else(|| name.strip_prefix('#').and_then(|d| d.parse().ok()))
                            .and_then(char::from_u32)
                            .ok_or_else(|| bad(format!("unknown entity &{name};")))?;
                        code.to_string()
                    }
                };
                text.push_str(&resolved);
            }
            Ok(Event::Eof) => break,
            Ok(_) => {}
            Err(e) => return Err(bad(e.to_string())),
        }
    }
    Ok(out)
}

fn first<'a>(items: &'a [(String, String)], path: &str) -> Option<&'a str> {
    items
        .iter()
        .find(|(p, _)| p == path)
        .map(|(_, v)| v.as_str())
}

/// Reads an OSS `<Error>` body. Missing fields stay empty; a body that is not XML
/// gives empty details (the caller falls back to the status).
pub fn parse_error(xml: &[u8]) -> OssErrorDetails {
    let Ok(items) = flatten(xml) else {
        return OssErrorDetails::default();
    };
    let get = |name: &str| {
        first(&items, &format!("Error/{name}"))
            .unwrap_or("")
            .to_string()
    };
    OssErrorDetails {
        code: get("Code"),
        message: get("Message"),
        request_id: get("RequestId"),
        host_id: get("HostId"),
        ec: get("EC"),
    }
}

fn decode_key(items: &[(String, String)], root: &str, key: &str) -> String {
    let url = first(items, &format!("{root}/EncodingType")) == Some("url");
    if url {
        percent_encoding::percent_decode_str(key)
            .decode_utf8_lossy()
            .into_owned()
    } else {
        key.to_string()
    }
}

/// The upload id in an `<InitiateMultipartUploadResult>`.
pub fn parse_initiate(xml: &[u8]) -> Result<String> {
    let items = flatten(xml)?;
    first(&items, "InitiateMultipartUploadResult/UploadId")
        .filter(|id| !id.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Error::new(ErrorKind::Server, "the initiate answer has no UploadId"))
}

/// A part as ListParts reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedPart {
    /// Part number, 1..=10000.
    pub part_number: u32,
    /// The part's ETag, as the server gave it (quoted).
    pub etag: String,
    /// The part's size in bytes.
    pub size: u64,
    /// The part's CRC-64, when the server reported one.
    pub crc64: Option<u64>,
}

/// Fields of a `<Part>` seen so far.
#[derive(Default)]
struct PartFields {
    number: Option<u32>,
    etag: Option<String>,
    size: Option<u64>,
    crc64: Option<u64>,
}

/// One page of a `<ListPartsResult>`: the parts, and the next marker when truncated.
pub fn parse_list_parts(xml: &[u8]) -> Result<(Vec<ListedPart>, Option<u32>)> {
    let items = flatten(xml)?;
    let bad = |why: &str| {
        Error::new(
            ErrorKind::Server,
            format!("unreadable ListParts answer: {why}"),
        )
    };
    let mut parts = Vec::new();
    let mut current = PartFields::default();
    for (path, value) in &items {
        match path.as_str() {
            "ListPartsResult/Part/PartNumber" => {
                current.number = Some(value.trim().parse().map_err(|_| bad("bad PartNumber"))?)
            }
            "ListPartsResult/Part/ETag" => current.etag = Some(value.clone()),
            "ListPartsResult/Part/Size" => {
                current.size = Some(value.trim().parse().map_err(|_| bad("bad Size"))?)
            }
            "ListPartsResult/Part/HashCrc64ecma" => current.crc64 = value.trim().parse().ok(),
            "ListPartsResult/Part" => {
                let done = std::mem::take(&mut current);
                parts.push(ListedPart {
                    part_number: done
                        .number
                        .ok_or_else(|| bad("a Part without PartNumber"))?,
                    etag: done.etag.ok_or_else(|| bad("a Part without ETag"))?,
                    size: done.size.ok_or_else(|| bad("a Part without Size"))?,
                    crc64: done.crc64,
                });
            }
            _ => {}
        }
    }
    let truncated = first(&items, "ListPartsResult/IsTruncated") == Some("true");
    let next = if truncated {
        let marker = first(&items, "ListPartsResult/NextPartNumberMarker")
            .and_then(|m| m.trim().parse::<u32>().ok())
            .ok_or_else(|| bad("truncated without NextPartNumberMarker"))?;
        Some(marker)
    } else {
        None
    };
    Ok((parts, next))
}

/// The ETag in a `<CompleteMultipartUploadResult>`.
pub fn parse_complete(xml: &[u8]) -> Result<String> {
    let items = flatten(xml)?;
    first(&items, "CompleteMultipartUploadResult/ETag")
        .map(str::to_string)
        .ok_or_else(|| Error::new(ErrorKind::Server, "the complete answer has no ETag"))
}

/// The ETag in a `<CopyObjectResult>` (CopyObject) or `<CopyPartResult>`
/// (UploadPartCopy).
pub fn parse_copy_result(xml: &[u8]) -> Result<String> {
    let items = flatten(xml)?;
    first(&items, "CopyObjectResult/ETag")
        .or_else(|| first(&items, "CopyPartResult/ETag"))
        .filter(|e| !e.is_empty())
        .map(str::to_string)
        .ok_or_else(|| Error::new(ErrorKind::Server, "the copy answer has no ETag"))
}

/// An upload listed by ListMultipartUploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedUpload {
    /// The object key.
    pub key: String,
    /// The upload id.
    pub upload_id: String,
    /// When it was initiated (server time), when the listing said.
    pub initiated: Option<std::time::SystemTime>,
}

/// Parses an ISO 8601 UTC time as OSS writes it (`2024-01-31T12:00:00.000Z`).
pub(crate) fn parse_iso8601(text: &str) -> Option<std::time::SystemTime> {
    let text = text.trim();
    let (main, _fraction) = text
        .strip_suffix('Z')?
        .split_once('.')
        .unwrap_or((text.strip_suffix('Z')?, ""));
    let compact: String = main.chars().filter(|c| *c != '-' && *c != ':').collect();
    crate::signing::parse_v4_datetime(&format!("{compact}Z"))
}

/// One page of uploads and, when truncated, the next (key, upload id) markers.
pub type UploadsPage = (Vec<ListedUpload>, Option<(String, String)>);

/// One page of `<ListMultipartUploadsResult>`.
pub fn parse_list_uploads(xml: &[u8]) -> Result<UploadsPage> {
    let items = flatten(xml)?;
    let root = "ListMultipartUploadsResult";
    let mut uploads = Vec::new();
    let mut key = None;
    let mut id = None;
    let mut initiated = None;
    for (path, value) in &items {
        match path.as_str() {
            "ListMultipartUploadsResult/Upload/Key" => key = Some(decode_key(&items, root, value)),
            "ListMultipartUploadsResult/Upload/UploadId" => id = Some(value.clone()),
            "ListMultipartUploadsResult/Upload/Initiated" => initiated = parse_iso8601(value),
            "ListMultipartUploadsResult/Upload" => {
                if let (Some(k), Some(i)) = (key.take(), id.take()) {
                    uploads.push(ListedUpload {
                        key: k,
                        upload_id: i,
                        initiated: initiated.take(),
                    });
                }
            }
            _ => {}
        }
    }
    let next =
        (first(&items, "ListMultipartUploadsResult/IsTruncated") == Some("true")).then(|| {
            (
                decode_key(
                    &items,
                    root,
                    first(&items, "ListMultipartUploadsResult/NextKeyMarker").unwrap_or(""),
                ),
                first(&items, "ListMultipartUploadsResult/NextUploadIdMarker")
                    .unwrap_or("")
                    .to_string(),
            )
        });
    Ok((uploads, next))
}

/// An object as a bucket listing reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedObject {
    /// The object key (decoded: listings are asked for URL-encoded keys, so keys
    /// with control characters arrive intact).
    pub key: String,
    /// Size in bytes.
    pub size: u64,
    /// ETag exactly as the server sent it (quoted).
    pub etag: String,
    /// Last-Modified as listed (ISO 8601, e.g. `2024-01-31T12:00:00.000Z`); see
    /// [`last_modified_time`](Self::last_modified_time).
    pub last_modified: String,
    /// Storage class (`Standard`, `IA`, `Archive`, ...), empty when not listed.
    pub storage_class: String,
    /// `Normal`, `Multipart`, `Appendable` or `Symlink`, empty when not listed.
    pub object_type: String,
}

impl ListedObject {
    /// [`last_modified`](Self::last_modified) as a time, when it is readable.
    pub fn last_modified_time(&self) -> Option<std::time::SystemTime> {
        parse_iso8601(&self.last_modified)
    }
}

/// One page of `<ListBucketResult>` (ListObjects or ListObjectsV2).
#[derive(Debug, Default)]
pub(crate) struct ObjectsPage {
    pub objects: Vec<ListedObject>,
    pub common_prefixes: Vec<String>,
    /// When truncated: the v2 continuation token, else the v1 next marker.
    pub next: Option<String>,
}

/// Fields of a `<Contents>` seen so far.
#[derive(Default)]
struct ContentsFields {
    key: Option<String>,
    size: Option<u64>,
    etag: String,
    last_modified: String,
    storage_class: String,
    object_type: String,
}

/// A listed name, URL-decoded when the answer says `EncodingType` url. Strict: a name
/// that decodes to bytes that are not UTF-8 is an error, never mangled.
fn listed_name(url: bool, text: &str) -> Result<String> {
    if !url {
        return Ok(text.to_string());
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| {
            Error::new(
                ErrorKind::Server,
                format!("the listing has a name that is not UTF-8 once decoded: {text:?}"),
            )
        })
}

/// One page of `<ListBucketResult>`, v1 or v2.
pub(crate) fn parse_list_objects(xml: &[u8]) -> Result<ObjectsPage> {
    let items = flatten(xml)?;
    let bad = |why: &str| Error::new(ErrorKind::Server, format!("unreadable listing: {why}"));
    let url = first(&items, "ListBucketResult/EncodingType") == Some("url");
    let mut page = ObjectsPage::default();
    let mut current = ContentsFields::default();
    for (path, value) in &items {
        let Some(field) = path.strip_prefix("ListBucketResult/") else {
            continue;
        };
        match field {
            "Contents/Key" => current.key = Some(listed_name(url, value)?),
            "Contents/Size" => {
                current.size = Some(value.trim().parse().map_err(|_| bad("bad Size"))?)
            }
            "Contents/ETag" => current.etag = value.clone(),
            "Contents/LastModified" => current.last_modified = value.trim().to_string(),
            "Contents/StorageClass" => current.storage_class = value.clone(),
            "Contents/Type" => current.object_type = value.clone(),
            "Contents" => {
                let done = std::mem::take(&mut current);
                page.objects.push(ListedObject {
                    key: done.key.ok_or_else(|| bad("a Contents without Key"))?,
                    size: done.size.ok_or_else(|| bad("a Contents without Size"))?,
                    etag: done.etag,
                    last_modified: done.last_modified,
                    storage_class: done.storage_class,
                    object_type: done.object_type,
                });
            }
            "CommonPrefixes/Prefix" => page.common_prefixes.push(listed_name(url, value)?),
            _ => {}
        }
    }
    if first(&items, "ListBucketResult/IsTruncated") == Some("true") {
        let next = first(&items, "ListBucketResult/NextContinuationToken")
            .or_else(|| first(&items, "ListBucketResult/NextMarker"))
            .filter(|t| !t.is_empty())
            .ok_or_else(|| bad("truncated without NextContinuationToken or NextMarker"))?;
        page.next = Some(listed_name(url, next)?);
    }
    Ok(page)
}

/// Escapes text for an XML element.
pub fn escape(s: &str) -> String {
    quick_xml::escape::escape(s).into_owned()
}

/// The body of CompleteMultipartUpload: parts sorted by number.
pub fn complete_body(parts: &[(u32, String)]) -> String {
    let mut sorted: Vec<&(u32, String)> = parts.iter().collect();
    sorted.sort_by_key(|(n, _)| *n);
    let mut out = String::from("<CompleteMultipartUpload>");
    for (number, etag) in sorted {
        out.push_str(&format!(
            "<Part><PartNumber>{number}</PartNumber><ETag>{}</ETag></Part>",
            escape(etag)
        ));
    }
    out.push_str("</CompleteMultipartUpload>");
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn initiated_times_are_read_from_the_upload_listing() {
        let xml = b"<ListMultipartUploadsResult><IsTruncated>false</IsTruncated>\
<Upload><Key>a</Key><UploadId>U1</UploadId><Initiated>2024-02-29T23:59:58.123Z</Initiated></Upload>\
<Upload><Key>b</Key><UploadId>U2</UploadId></Upload></ListMultipartUploadsResult>";
        let (uploads, next) = parse_list_uploads(xml).unwrap();
        assert!(next.is_none());
        let secs = uploads[0]
            .initiated
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert_eq!(secs, 1_709_251_198);
        assert_eq!(uploads[1].initiated, None);
        assert_eq!(parse_iso8601("2024-02-29T23:59:58Z"), uploads[0].initiated);
        assert_eq!(parse_iso8601("yesterday"), None);
    }

    #[test]
    fn error_body_fields_are_kept() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<Error><Code>NoSuchKey</Code><Message>The specified key does not exist.</Message>
<RequestId>5C3D9175B6FC201293AD****</RequestId><HostId>b.oss.example.com</HostId>
<Key>a &amp; b</Key><EC>0026-00000001</EC></Error>"#;
        let d = parse_error(xml);
        assert_eq!(d.code, "NoSuchKey");
        assert_eq!(d.message, "The specified key does not exist.");
        assert_eq!(d.request_id, "5C3D9175B6FC201293AD****");
        assert_eq!(d.host_id, "b.oss.example.com");
        assert_eq!(d.ec, "0026-00000001");
        assert_eq!(parse_error(b"not xml <<<"), OssErrorDetails::default());
    }

    #[test]
    fn list_parts_pages_are_read() {
        let xml = br#"<ListPartsResult><IsTruncated>true</IsTruncated><NextPartNumberMarker>2</NextPartNumberMarker>
<Part><PartNumber>1</PartNumber><ETag>&quot;AA&quot;</ETag><HashCrc64ecma>123</HashCrc64ecma><Size>102400</Size></Part>
<Part><PartNumber>2</PartNumber><ETag>"BB"</ETag><Size>5</Size></Part></ListPartsResult>"#;
        let (parts, next) = parse_list_parts(xml).unwrap();
        assert_eq!(next, Some(2));
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].etag, "\"AA\"");
        assert_eq!(parts[0].crc64, Some(123));
        assert_eq!(parts[1].crc64, None);
        assert_eq!(parts[1].size, 5);
    }

    #[test]
    fn complete_body_sorts_and_escapes() {
        let body = complete_body(&[(2, "\"B\"".into()), (1, "\"A\"".into())]);
        assert_eq!(
            body,
            "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&quot;A&quot;</ETag></Part><Part><PartNumber>2</PartNumber><ETag>&quot;B&quot;</ETag></Part></CompleteMultipartUpload>"
        );
    }

    #[test]
    fn initiate_and_complete_answers_are_read() {
        assert_eq!(
            parse_initiate(b"<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key><UploadId>ID1</UploadId></InitiateMultipartUploadResult>").unwrap(),
            "ID1"
        );
        assert!(parse_initiate(b"<InitiateMultipartUploadResult/>").is_err());
        assert_eq!(
            parse_complete(b"<CompleteMultipartUploadResult><ETag>\"X-2\"</ETag></CompleteMultipartUploadResult>").unwrap(),
            "\"X-2\""
        );
    }

    #[test]
    fn copy_answers_are_read() {
        assert_eq!(
            parse_copy_result(b"<CopyObjectResult><ETag>&quot;A&quot;</ETag><LastModified>2024-01-31T12:00:00.000Z</LastModified></CopyObjectResult>").unwrap(),
            "\"A\""
        );
        assert_eq!(
            parse_copy_result(b"<CopyPartResult><LastModified>x</LastModified><ETag>\"B\"</ETag></CopyPartResult>").unwrap(),
            "\"B\""
        );
        assert!(parse_copy_result(b"<CopyPartResult/>").is_err());
    }

    #[test]
    fn url_encoded_keys_are_decoded_in_upload_lists() {
        let xml = b"<ListMultipartUploadsResult><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated><Upload><Key>a%2Fb%20c</Key><UploadId>U</UploadId></Upload></ListMultipartUploadsResult>";
        let (uploads, next) = parse_list_uploads(xml).unwrap();
        assert_eq!(uploads[0].key, "a/b c");
        assert_eq!(next, None);
    }
    #[test]
    fn listings_are_read_with_url_encoded_names_and_the_next_token() {
        let xml = br#"<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult><Name>b</Name><Prefix>d%2F</Prefix><EncodingType>url</EncodingType>
<IsTruncated>true</IsTruncated><NextContinuationToken>t%2B1</NextContinuationToken><KeyCount>2</KeyCount>
<Contents><Key>d%2Fa%01b</Key><LastModified>2024-01-31T12:00:00.000Z</LastModified><ETag>&quot;AB&quot;</ETag>
<Type>Normal</Type><Size>12</Size><StorageClass>IA</StorageClass></Contents>
<CommonPrefixes><Prefix>d%2Fsub%2F</Prefix></CommonPrefixes></ListBucketResult>"#;
        let page = parse_list_objects(xml).unwrap();
        assert_eq!(page.next.as_deref(), Some("t+1"));
        assert_eq!(page.common_prefixes, ["d/sub/"]);
        let o = &page.objects[0];
        assert_eq!(o.key, "d/a\u{1}b");
        assert_eq!((o.size, o.etag.as_str()), (12, "\"AB\""));
        assert_eq!(
            (o.storage_class.as_str(), o.object_type.as_str()),
            ("IA", "Normal")
        );
        let secs = o
            .last_modified_time()
            .unwrap()
            .duration_since(std::time::UNIX_EPOCH);
        assert_eq!(secs.unwrap().as_secs(), 1_706_702_400);
        // v1: the next marker; a truncated page without one is an error.
        let v1 = b"<ListBucketResult><IsTruncated>true</IsTruncated><NextMarker>k</NextMarker></ListBucketResult>";
        assert_eq!(parse_list_objects(v1).unwrap().next.as_deref(), Some("k"));
        let stuck = b"<ListBucketResult><IsTruncated>true</IsTruncated></ListBucketResult>";
        assert!(parse_list_objects(stuck).is_err());
        // A key that is not UTF-8 once decoded is refused, not mangled.
        let bad = b"<ListBucketResult><EncodingType>url</EncodingType><Contents><Key>%FF</Key><Size>1</Size></Contents></ListBucketResult>";
        assert!(parse_list_objects(bad).is_err());
    }
}
