//! CopyObject and UploadPartCopy: bytes copied from one stored object to another
//! without passing through the client.

use std::io::{self, Read, Seek, SeekFrom};

use crate::error::{OssError, xml_escape};
use crate::ops::{
    Ctx, RangeOutcome, Response, check_conditions_named, check_key, check_upload_part,
    content_type, forbid_overwrite, iso8601, resolve_range, stored_headers, upload_id,
};
use crate::store::{ObjectMeta, OpenBlob, StoredObject};

/// The prefix of the four conditions on a copy's source.
const SOURCE_CONDITIONS: &str = "x-oss-copy-source-";

/// The source bucket and key of `x-oss-copy-source: /bucket/<url-encoded key>`.
fn copy_source(ctx: &Ctx<'_>) -> Result<(String, String), OssError> {
    let raw = ctx.head.header("x-oss-copy-source").unwrap_or("");
    let bad = || {
        OssError::invalid_argument(
            "x-oss-copy-source must name the source as /bucket/key, the key URL-encoded",
        )
        .with("ArgumentName", "x-oss-copy-source")
    };
    let (path, query) = raw.split_once('?').unwrap_or((raw, ""));
    if !query.is_empty() {
        return Err(OssError::new(
            501,
            "NotImplemented",
            "this local server does not implement versioned copy sources",
        ));
    }
    let decoded = crate::http::decode(path).map_err(|_| bad())?;
    let rest = decoded.strip_prefix('/').unwrap_or(&decoded);
    match rest.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
            Ok((bucket.to_string(), key.to_string()))
        }
        _ => Err(bad()),
    }
}

/// Opens the source and checks its conditions. `Ok(Err(304))` answers Not Modified.
fn open_source(
    ctx: &Ctx<'_>,
) -> Result<Result<(std::sync::Arc<StoredObject>, OpenBlob), u16>, OssError> {
    let (bucket, key) = copy_source(ctx)?;
    let (object, blob) = ctx.store.open_object(&bucket, &key)?;
    if object.meta.object_type == "Appendable" {
        return Err(OssError::new(
            400,
            "InvalidArgument",
            "an appendable object cannot be the source of a copy",
        ));
    }
    match check_conditions_named(ctx.head, &object.meta, SOURCE_CONDITIONS)? {
        Some(status) => Ok(Err(status)),
        None => Ok(Ok((object, blob))),
    }
}

/// Reads `len` bytes of an opened body from `offset`.
fn read_range(blob: OpenBlob, offset: u64, len: u64) -> io::Result<Box<dyn Read>> {
    Ok(match blob {
        OpenBlob::Memory(data) => {
            let pos = usize::try_from(offset)
                .unwrap_or(usize::MAX)
                .min(data.len());
            let end = pos.saturating_add(usize::try_from(len).unwrap_or(usize::MAX));
            let end = end.min(data.len());
            Box::new(MemoryRange { data, pos, end })
        }
        OpenBlob::Disk(mut file) => {
            file.seek(SeekFrom::Start(offset))?;
            Box::new(file.take(len))
        }
    })
}

/// A stored object's bytes from memory, without copying them first.
struct MemoryRange {
    data: std::sync::Arc<Vec<u8>>,
    pos: usize,
    end: usize,
}

impl Read for MemoryRange {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = buf.len().min(self.end - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The metadata of the copy: the source's (`COPY`, the default) or the request's
/// (`REPLACE`).
fn copy_metadata(
    ctx: &Ctx<'_>,
    source: &ObjectMeta,
) -> Result<(String, Vec<(String, String)>), OssError> {
    match ctx.head.header("x-oss-metadata-directive").map(str::trim) {
        None | Some("") | Some("COPY") => Ok((source.content_type.clone(), source.headers.clone())),
        Some("REPLACE") => Ok((content_type(ctx.head), stored_headers(ctx.head))),
        Some(other) => Err(OssError::invalid_argument(&format!(
            "x-oss-metadata-directive {other:?} is neither COPY nor REPLACE"
        ))
        .with("ArgumentName", "x-oss-metadata-directive")),
    }
}

/// CopyObject. `copied` is set to the bytes copied on the server.
pub fn copy_object(ctx: &Ctx<'_>, copied: &mut u64) -> Result<Response, OssError> {
    check_key(ctx.key)?;
    let (object, blob) = match open_source(ctx)? {
        Ok(source) => source,
        Err(status) => return Ok(Response::empty(status)),
    };
    let meta = &object.meta;
    if meta.size > ctx.copy_limit {
        return Err(OssError::new(
            400,
            "EntityTooLarge",
            &format!(
                "The source object is {} bytes; CopyObject copies at most {} (use UploadPartCopy).",
                meta.size, ctx.copy_limit
            ),
        ));
    }
    let (content_type, headers) = copy_metadata(ctx, meta)?;
    forbid_overwrite(ctx)?;
    let mut reader = read_range(blob, 0, meta.size)
        .map_err(|e| OssError::internal(&format!("reading the source: {e}")))?;
    let received = ctx
        .store
        .receive(ctx.bucket, &mut reader)
        .map_err(|e| OssError::internal(&format!("copying the source: {e}")))?;
    *copied = received.size;
    let copy = ctx.store.put_copy(
        ctx.bucket,
        ObjectMeta {
            key: ctx.key.to_string(),
            last_modified: ctx.now,
            content_type,
            headers,
            ..meta.clone()
        },
        received,
    )?;
    Ok(Response::xml(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyObjectResult>\n  <ETag>{}</ETag>\n  <LastModified>{}</LastModified>\n</CopyObjectResult>\n",
        xml_escape(&copy.meta.etag),
        iso8601(copy.meta.last_modified)
    ))
    .header("ETag", copy.meta.etag.clone())
    .header("x-oss-hash-crc64ecma", copy.meta.crc64.to_string()))
}

/// UploadPartCopy. `copied` is set to the bytes copied on the server.
pub fn upload_part_copy(ctx: &Ctx<'_>, copied: &mut u64) -> Result<Response, OssError> {
    let number = check_upload_part(ctx)?;
    let id = upload_id(ctx)?;
    let (object, blob) = match open_source(ctx)? {
        Ok(source) => source,
        Err(status) => return Ok(Response::empty(status)),
    };
    let size = object.meta.size;
    let range = ctx.head.header("x-oss-copy-source-range");
    let (first, len) = match resolve_range(range, size, true) {
        RangeOutcome::Whole => (0, size),
        RangeOutcome::Partial(a, b) => (a, b - a + 1),
        RangeOutcome::Unsatisfiable => {
            return Err(OssError::new(
                416,
                "InvalidRange",
                "The requested range cannot be satisfied",
            )
            .with("ActualObjectSize", &size.to_string())
            .with("RangeRequested", range.unwrap_or("")));
        }
    };
    let mut reader = read_range(blob, first, len)
        .map_err(|e| OssError::internal(&format!("reading the source: {e}")))?;
    let received = ctx
        .store
        .receive(ctx.bucket, &mut reader)
        .map_err(|e| OssError::internal(&format!("copying the source: {e}")))?;
    *copied = received.size;
    let part = ctx
        .store
        .put_part(ctx.bucket, ctx.key, id, number, received, ctx.now)?;
    Ok(Response::xml(format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<CopyPartResult>\n  <LastModified>{}</LastModified>\n  <ETag>{}</ETag>\n</CopyPartResult>\n",
        iso8601(part.last_modified),
        xml_escape(&part.etag)
    ))
    .header("ETag", part.etag.clone())
    .header("x-oss-hash-crc64ecma", part.crc64.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_of_memory_blobs_are_read() {
        let blob = OpenBlob::Memory(std::sync::Arc::new(b"0123456789".to_vec()));
        let mut out = String::new();
        read_range(blob, 3, 4)
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        assert_eq!(out, "3456");
    }
}
