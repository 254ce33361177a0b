//! ListObjects (v1) and ListObjectsV2: one page of a bucket's keys, as OSS lists them.
//!
//! Keys come in UTF-8 byte order (the store's order). With a delimiter, keys that
//! share the text up to the first delimiter after the prefix are rolled up into one
//! common prefix, which counts as one entry against max-keys. A page ends after
//! max-keys entries; the next starts strictly after the page's last entry (a key or a
//! common prefix), so a rolled-up group never comes back on a later page.

use base64::Engine;

use crate::error::{OssError, xml_escape};
use crate::ops::{Ctx, Response, iso8601, value, xml_key};
use crate::store::ObjectMeta;

/// max-keys when the request gives none.
const DEFAULT_MAX_KEYS: usize = 100;
/// The largest max-keys OSS accepts.
const MAX_MAX_KEYS: usize = 1000;
/// Owner reported for every object (the server has one account).
const OWNER: &str = "ossr-local";

/// One listed entry: an object, or a common prefix standing for several.
enum Entry {
    Object(ObjectMeta),
    Prefix(String),
}

impl Entry {
    fn name(&self) -> &str {
        match self {
            Entry::Object(meta) => &meta.key,
            Entry::Prefix(p) => p,
        }
    }
}

/// A listing request, read from the query.
struct Query<'a> {
    v2: bool,
    prefix: &'a str,
    delimiter: &'a str,
    /// v1 `marker`, or v2 `start-after` (the continuation token, decoded, wins).
    after: String,
    max_keys: usize,
    fetch_owner: bool,
}

fn parse_query<'a>(query: &'a [(String, String)], v2: bool) -> Result<Query<'a>, OssError> {
    let max_keys = match value(query, "max-keys") {
        None => DEFAULT_MAX_KEYS,
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|n| (1..=MAX_MAX_KEYS).contains(n))
            .ok_or_else(|| {
                OssError::invalid_argument(&format!("max-keys must be within 1..{MAX_MAX_KEYS}"))
            })?,
    };
    match value(query, "encoding-type") {
        None | Some("url") => {}
        Some(other) => {
            return Err(OssError::invalid_argument(&format!(
                "encoding-type {other:?} is not supported; only url is"
            )));
        }
    }
    let after = if v2 {
        match value(query, "continuation-token").filter(|t| !t.is_empty()) {
            Some(token) => decode_token(token)?,
            None => value(query, "start-after").unwrap_or("").to_string(),
        }
    } else {
        value(query, "marker").unwrap_or("").to_string()
    };
    Ok(Query {
        v2,
        prefix: value(query, "prefix").unwrap_or(""),
        delimiter: value(query, "delimiter").unwrap_or(""),
        after,
        max_keys,
        fetch_owner: !v2 || value(query, "fetch-owner") == Some("true"),
    })
}

/// The continuation token for a page whose last entry is `name`: opaque to clients.
fn encode_token(name: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(name.as_bytes())
}

fn decode_token(token: &str) -> Result<String, OssError> {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            OssError::invalid_argument("the continuation token is not one this server issued")
        })
}

/// The page's entries and whether more follow.
fn collect(ctx: &Ctx<'_>, q: &Query<'_>) -> Result<(Vec<Entry>, bool), OssError> {
    let mut entries: Vec<Entry> = Vec::new();
    let mut truncated = false;
    ctx.store
        .scan_objects(ctx.bucket, q.prefix, &q.after, |meta| {
            let rolled = (!q.delimiter.is_empty())
                .then(|| meta.key[q.prefix.len()..].find(q.delimiter))
                .flatten()
                .map(|at| &meta.key[..q.prefix.len() + at + q.delimiter.len()]);
            if let Some(group) = rolled {
                // A group at or before the marker was listed on an earlier page; one
                // equal to the last entry is already on this page.
                let last = entries.last().map(Entry::name);
                if group <= q.after.as_str() || last == Some(group) {
                    return true;
                }
            }
            if entries.len() == q.max_keys {
                truncated = true;
                return false;
            }
            entries.push(match rolled {
                Some(group) => Entry::Prefix(group.to_string()),
                None => Entry::Object(meta.clone()),
            });
            true
        })?;
    Ok((entries, truncated))
}

/// GET on a bucket: ListObjects, or ListObjectsV2 with `list-type=2`.
pub fn list_objects(ctx: &Ctx<'_>, v2: bool) -> Result<Response, OssError> {
    let q = parse_query(ctx.query, v2)?;
    let (entries, truncated) = collect(ctx, &q)?;
    let key = |text: &str| xml_key(ctx.query, text);
    let mut xml = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<ListBucketResult>\n");
    let mut element = |name: &str, text: &str| {
        xml.push_str(&format!("  <{name}>{text}</{name}>\n"));
    };
    element("Name", &xml_escape(ctx.bucket));
    element("Prefix", &key(q.prefix));
    if q.v2 {
        if let Some(token) = value(ctx.query, "continuation-token").filter(|t| !t.is_empty()) {
            element("ContinuationToken", &xml_escape(token));
        }
        if let Some(start) = value(ctx.query, "start-after") {
            element("StartAfter", &key(start));
        }
    } else {
        element("Marker", &key(&q.after));
    }
    element("MaxKeys", &q.max_keys.to_string());
    element("Delimiter", &key(q.delimiter));
    if value(ctx.query, "encoding-type") == Some("url") {
        element("EncodingType", "url");
    }
    element("IsTruncated", &truncated.to_string());
    let last = entries.last().map(Entry::name).filter(|_| truncated);
    if let Some(last) = last {
        if q.v2 {
            element("NextContinuationToken", &encode_token(last));
        } else {
            element("NextMarker", &key(last));
        }
    }
    if q.v2 {
        element("KeyCount", &entries.len().to_string());
    }
    for entry in &entries {
        if let Entry::Object(meta) = entry {
            xml.push_str(&contents(ctx, meta, q.fetch_owner));
        }
    }
    for entry in &entries {
        if let Entry::Prefix(p) = entry {
            xml.push_str(&format!(
                "  <CommonPrefixes>\n    <Prefix>{}</Prefix>\n  </CommonPrefixes>\n",
                key(p)
            ));
        }
    }
    xml.push_str("</ListBucketResult>\n");
    Ok(Response::xml(xml))
}

/// One `<Contents>` element.
fn contents(ctx: &Ctx<'_>, meta: &ObjectMeta, owner: bool) -> String {
    let storage_class = meta
        .headers
        .iter()
        .find(|(n, _)| n == "x-oss-storage-class")
        .map(|(_, v)| v.as_str())
        .unwrap_or("Standard");
    let owner = if owner {
        format!(
            "    <Owner>\n      <ID>{OWNER}</ID>\n      <DisplayName>{OWNER}</DisplayName>\n    </Owner>\n"
        )
    } else {
        String::new()
    };
    format!(
        "  <Contents>\n    <Key>{}</Key>\n    <LastModified>{}</LastModified>\n    <ETag>{}</ETag>\n    <Type>{}</Type>\n    <Size>{}</Size>\n    <StorageClass>{}</StorageClass>\n{owner}  </Contents>\n",
        xml_key(ctx.query, &meta.key),
        iso8601(meta.last_modified),
        xml_escape(&meta.etag),
        xml_escape(&meta.object_type),
        meta.size,
        xml_escape(storage_class),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continuation_tokens_round_trip_and_foreign_ones_are_refused() {
        for name in ["", "a/b", "中文/x y+z", "a\u{1}b"] {
            assert_eq!(decode_token(&encode_token(name)).unwrap(), name);
        }
        assert_eq!(decode_token("!!not base64").unwrap_err().status, 400);
    }
}
