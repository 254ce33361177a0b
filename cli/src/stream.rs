//! `ossr cat`, `ossr put - ...` and `ossr cp`: streaming commands.

use std::ffi::OsString;
use std::io::{Read, Write};

use oss_resume::{
    ByteRange, CheckpointState, Client, ErrorKind, GetOptions, RequestOptions, UploadOptions,
};

use crate::get::parse_size;
use crate::progress::{Bar, human};

use crate::settings::{SHARED_FLAGS, Settings, parse_oss_url};

/// Positional arguments and the client, or None when help was printed.
fn parse(
    args: Vec<OsString>,
    usage: &str,
    mut extra: impl FnMut(&str, &mut lexopt::Parser) -> Result<bool, String>,
) -> Result<Option<(Client, Vec<String>)>, String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut settings = Settings::default();
    let mut positional = Vec::new();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long(name) if Settings::is_flag(name) => {
                let name = name.to_string();
                settings.take(&name, &mut parser)?;
            }
            Short('h') | Long("help") => {
                print!("{usage}\n{SHARED_FLAGS}");
                return Ok(None);
            }
            Long(name) => {
                let name = name.to_string();
                if !extra(&name, &mut parser)? {
                    return Err(format!("unknown flag --{name}\n{usage}"));
                }
            }
            Value(v) => positional.push(
                v.into_string()
                    .map_err(|_| "arguments must be UTF-8".to_string())?,
            ),
            other => return Err(format!("{}\n{usage}", other.unexpected())),
        }
    }
    Ok(Some((settings.client()?, positional)))
}

/// Parses `A-B`, `A-` or `-N` (the last N bytes) against the object's size.
fn parse_range(text: &str, client: &Client, bucket: &str, key: &str) -> Result<ByteRange, String> {
    let bad = || format!("--range {text:?}: expected A-B, A- or -N");
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    match (a.trim().is_empty(), b.trim().is_empty()) {
        (false, false) => Ok(ByteRange::new(num(a)?, num(b)?)),
        (false, true) => Ok(ByteRange::from(num(a)?)),
        (true, false) => {
            let n = num(b)?;
            if n == 0 {
                return Err(bad());
            }
            let size = client
                .head_object(bucket, key, &RequestOptions::default())
                .map_err(|e| e.to_string())?
                .size;
            Ok(ByteRange::from(size.saturating_sub(n)))
        }
        (true, true) => Err(bad()),
    }
}

fn is_broken_pipe(e: &std::io::Error) -> bool {
    e.kind() == std::io::ErrorKind::BrokenPipe
}

/// `ossr cat oss://bucket/key [--range A-B]`: the object to stdout.
pub fn cat(args: Vec<OsString>) -> Result<(), String> {
    const USAGE: &str = "usage: ossr cat oss://bucket/key [--range A-B|A-|-N] [flags]\n";
    let mut range_text: Option<String> = None;
    let Some((client, positional)) = parse(args, USAGE, |name, parser| match name {
        "range" => {
            range_text = Some(
                parser
                    .value()
                    .map_err(|e| e.to_string())?
                    .to_string_lossy()
                    .into_owned(),
            );
            Ok(true)
        }
        _ => Ok(false),
    })?
    else {
        return Ok(());
    };
    let [url] = positional.as_slice() else {
        return Err(format!("cat: expected one oss://bucket/key\n{USAGE}"));
    };
    let (bucket, key) = parse_oss_url(url)?;
    let range = match &range_text {
        Some(t) => Some(parse_range(t, &client, &bucket, &key)?),
        None => None,
    };
    let opts = GetOptions {
        range,
        ..GetOptions::default()
    };
    let mut stream = client
        .open_get(&bucket, &key, &opts)
        .map_err(|e| e.to_string())?;
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = stream.read(&mut buf).map_err(|e| e.to_string())?;
        if n == 0 {
            break;
        }
        if let Err(e) = out.write_all(&buf[..n]) {
            // The reader went away (`ossr cat ... | head`): not an error of ours.
            if is_broken_pipe(&e) {
                return Ok(());
            }
            return Err(format!("writing to stdout: {e}"));
        }
    }
    match out.flush() {
        Err(e) if !is_broken_pipe(&e) => Err(format!("writing to stdout: {e}")),
        _ => Ok(()),
    }
}

/// `ossr put PATH oss://bucket/key`: a resumable upload of a file; with `-` as PATH,
/// standard input sent chunked.
pub fn put(args: Vec<OsString>) -> Result<(), String> {
    const USAGE: &str = "\
usage: ossr put PATH oss://bucket/key [--threads N] [--part-size SIZE] [--checkpoint-dir DIR]
                [--threshold SIZE] [--header 'Name: value']... [flags]
       ossr put - oss://bucket/key [--header 'Name: value']... [flags]

Uploads a file resumably (interrupted, it leaves a checkpoint and the next run
continues), or with - standard input, sent chunked. SIZE takes K, M, G suffixes.
";
    let mut headers: Vec<(String, String)> = Vec::new();
    let mut opts = UploadOptions::default();
    let Some((client, positional)) = parse(args, USAGE, |name, parser| {
        let mut value = || -> Result<String, String> {
            Ok(parser
                .value()
                .map_err(|e| e.to_string())?
                .to_string_lossy()
                .into_owned())
        };
        match name {
            "header" => {
                let h = value()?;
                let (n, v) = h
                    .split_once(':')
                    .ok_or_else(|| format!("--header {h:?}: expected 'Name: value'"))?;
                headers.push((n.trim().to_string(), v.trim().to_string()));
            }
            "content-type" => headers.push(("Content-Type".into(), value()?)),
            "threads" => {
                let v = value()?;
                opts.threads = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or_else(|| format!("--threads: {v:?} is not a number within 1..=64"))?;
            }
            "part-size" => {
                opts.part_size =
                    Some(parse_size(&value()?).map_err(|e| format!("--part-size: {e}"))?)
            }
            "threshold" => {
                opts.multipart_threshold =
                    parse_size(&value()?).map_err(|e| format!("--threshold: {e}"))?
            }
            "checkpoint-dir" => opts.checkpoint_dir = Some(value()?.into()),
            _ => return Ok(false),
        }
        Ok(true)
    })?
    else {
        return Ok(());
    };
    let [source, url] = positional.as_slice() else {
        return Err(format!(
            "put: expected PATH (or -) and oss://bucket/key\n{USAGE}"
        ));
    };
    let (bucket, key) = parse_oss_url(url)?;
    let crc_text = |c: Option<u64>| c.map(|c| c.to_string()).unwrap_or_else(|| "none".into());
    if source == "-" {
        let stdin = std::io::stdin();
        let mut input = stdin.lock();
        let put = client
            .put_stream(
                &bucket,
                &key,
                &mut input,
                None,
                &headers,
                &RequestOptions::default(),
                None,
            )
            .map_err(|e| e.to_string())?;
        println!(
            "stored oss://{bucket}/{key}: etag {}, crc64 {}",
            put.etag,
            crc_text(put.crc64)
        );
        return Ok(());
    }
    opts.headers = headers;
    let mut bar = Bar::new()?;
    let mut progress = |done: u64, total: u64| bar.update(done, total);
    let result = client.upload(source, &bucket, &key, &opts, Some(&mut progress));
    let secs = bar.finish();
    match result {
        Ok(r) => {
            let state = match &r.checkpoint {
                CheckpointState::Resumed => "resumed from a checkpoint".to_string(),
                CheckpointState::Discarded(why) => format!("checkpoint discarded: {why}"),
                CheckpointState::NotFound | CheckpointState::NotUsed => "fresh".to_string(),
            };
            println!(
                "uploaded {source} ({} bytes) to oss://{bucket}/{key} in {secs:.2}s ({}/s): {} parts sent, {} reused, {state}, etag {}, crc64 {} verified",
                r.size,
                human(r.size as f64 / secs.max(0.001)),
                r.parts_uploaded,
                r.parts_reused,
                r.etag,
                r.crc64
            );
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::Cancelled => {
            Err("interrupted; the checkpoint is kept: run the same command again to resume".into())
        }
        Err(e) => Err(e.to_string()),
    }
}

/// `ossr cp oss://b/k1 oss://b/k2`: one object into another through a stream.
pub fn cp(args: Vec<OsString>) -> Result<(), String> {
    const USAGE: &str = "usage: ossr cp oss://bucket/key oss://bucket/key [flags]\n";
    let Some((client, positional)) = parse(args, USAGE, |_, _| Ok(false))? else {
        return Ok(());
    };
    let [from, to] = positional.as_slice() else {
        return Err(format!("cp: expected a source and a destination\n{USAGE}"));
    };
    let (sb, sk) = parse_oss_url(from)?;
    let (db, dk) = parse_oss_url(to)?;
    let put = client
        .copy_stream((&sb, &sk), (&db, &dk), &[], &GetOptions::default(), None)
        .map_err(|e| match e.kind() {
            ErrorKind::ObjectChanged => format!("{e} (the source changed during the copy)"),
            _ => e.to_string(),
        })?;
    println!(
        "copied {from} to {to}: etag {}, crc64 {}",
        put.etag,
        put.crc64
            .map(|c| c.to_string())
            .unwrap_or_else(|| "none".into())
    );
    Ok(())
}
