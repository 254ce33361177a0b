//! `ossr stat` and `ossr rm`.

use std::ffi::OsString;

use oss_resume::RequestOptions;

use crate::settings::{SHARED_FLAGS, Settings, parse_oss_url};

fn parse(args: Vec<OsString>, usage: &str) -> Result<Option<(Settings, String)>, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut settings = Settings::default();
    let mut url = None;
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long(name) if Settings::is_flag(name) => {
                let name = name.to_string();
                settings.take(&name, &mut parser)?;
            }
            Value(v) if url.is_none() => {
                url = Some(
                    v.into_string()
                        .map_err(|_| "the URL is not UTF-8".to_string())?,
                )
            }
            Short('h') | Long("help") => {
                print!("{usage}\n{SHARED_FLAGS}");
                return Ok(None);
            }
            other => return Err(format!("{}\n{usage}", other.unexpected())),
        }
    }
    let url = url.ok_or_else(|| format!("missing oss://bucket/key\n{usage}"))?;
    Ok(Some((settings, url)))
}

/// `ossr stat oss://bucket/key`: size, ETag, CRC-64 and type.
pub fn stat(args: Vec<OsString>) -> Result<(), String> {
    let Some((settings, url)) = parse(args, "usage: ossr stat oss://bucket/key [flags]\n")? else {
        return Ok(());
    };
    let (bucket, key) = parse_oss_url(&url)?;
    let client = settings.client()?;
    let info = client
        .head_object(&bucket, &key, &RequestOptions::default())
        .map_err(|e| e.to_string())?;
    println!("size: {}", info.size);
    println!("etag: {}", info.etag);
    println!(
        "crc64: {}",
        info.crc64
            .map(|c| c.to_string())
            .unwrap_or_else(|| "none".into())
    );
    println!("type: {}", info.object_type.as_deref().unwrap_or("unknown"));
    println!("last-modified: {}", info.last_modified);
    if let Some(v) = &info.version_id {
        println!("version-id: {v}");
    }
    Ok(())
}

/// `ossr rm oss://bucket/key`.
pub fn rm(args: Vec<OsString>) -> Result<(), String> {
    let Some((settings, url)) = parse(args, "usage: ossr rm oss://bucket/key [flags]\n")? else {
        return Ok(());
    };
    let (bucket, key) = parse_oss_url(&url)?;
    let client = settings.client()?;
    client
        .delete_object(&bucket, &key, &RequestOptions::default())
        .map_err(|e| e.to_string())
}
