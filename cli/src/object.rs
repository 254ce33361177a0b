//! `ossr stat` and `ossr rm`.

use std::ffi::OsString;

use oss_resume::{ErrorKind, RequestOptions};

use crate::args::{Command, no_extra};
use crate::fail::Failure;
use crate::out;
use crate::settings::{client, parse_oss_url};

pub const STAT: Command = Command {
    usage: "ossr stat oss://bucket/key [--json] [options]",
    about: "\
Prints an object's size, ETag, CRC-64, type, content type, last modification and
version, one `name: value` per line, or with --json one JSON object.",
    flags: &["json"],
    connects: true,
    extra: no_extra,
};

pub const RM: Command = Command {
    usage: "ossr rm oss://bucket/key [options]",
    about: "\
Deletes an object and says so. A key that is already gone is reported as such and
is not an error (OSS deletes are idempotent).",
    flags: &[],
    connects: true,
    extra: no_extra,
};

/// A JSON string literal.
pub(crate) fn json_string(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// `ossr stat oss://bucket/key`.
pub fn stat(args: Vec<OsString>) -> Result<(), Failure> {
    let Some(args) = STAT.parse(args)? else {
        return Ok(());
    };
    let [url] = args.positional(&STAT, "one oss://bucket/key")?;
    let (bucket, key) = parse_oss_url(url)?;
    let client = client(&args)?;
    let info = client.head_object(&bucket, &key, &RequestOptions::default())?;
    // (name, value as text, value as JSON); None is shown as "none" / null.
    let fields: [(&str, Option<String>, bool); 7] = [
        ("size", Some(info.size.to_string()), false),
        ("etag", Some(info.etag.clone()), true),
        ("crc64", info.crc64.map(|c| c.to_string()), false),
        ("type", info.object_type.clone(), true),
        ("content-type", info.content_type.clone(), true),
        ("last-modified", Some(info.last_modified.clone()), true),
        ("version-id", info.version_id.clone(), true),
    ];
    if args.has("json") {
        let mut body: Vec<String> = fields
            .iter()
            .map(|(name, value, quoted)| {
                let v = match value {
                    None => "null".to_string(),
                    Some(v) if *quoted => json_string(v),
                    // A u64 beyond 2^53 loses precision in some JSON readers: quote
                    // the CRC, which is an identifier rather than a quantity.
                    Some(v) if *name == "crc64" => json_string(v),
                    Some(v) => v.clone(),
                };
                format!("{}: {v}", json_string(name))
            })
            .collect();
        let stored: Vec<String> = info
            .headers
            .iter()
            .map(|(n, v)| format!("{}: {}", json_string(n), json_string(v)))
            .collect();
        body.push(format!("\"headers\": {{{}}}", stored.join(", ")));
        return out!("{{{}}}", body.join(", "));
    }
    let mut text = String::new();
    for (name, value, _) in &fields {
        text.push_str(&format!("{name}: {}\n", value.as_deref().unwrap_or("none")));
    }
    // What `put --header` stored, one line each.
    for (name, value) in &info.headers {
        text.push_str(&format!("{name}: {value}\n"));
    }
    crate::fail::print(format_args!("{text}"))
}

/// `ossr rm oss://bucket/key`.
pub fn rm(args: Vec<OsString>) -> Result<(), Failure> {
    let Some(args) = RM.parse(args)? else {
        return Ok(());
    };
    let [url] = args.positional(&RM, "one oss://bucket/key")?;
    let (bucket, key) = parse_oss_url(url)?;
    let client = client(&args)?;
    let opts = RequestOptions::default();
    // DELETE answers 204 whether or not the key existed; HEAD first tells which.
    let existed = match client.head_object(&bucket, &key, &opts) {
        Ok(_) => true,
        Err(e) if e.kind() == ErrorKind::NotFound && e.oss_code() != Some("NoSuchBucket") => false,
        Err(e) => return Err(e.into()),
    };
    client.delete_object(&bucket, &key, &opts)?;
    if existed {
        out!("deleted oss://{bucket}/{key}")
    } else {
        out!("oss://{bucket}/{key} did not exist; nothing deleted")
    }
}
