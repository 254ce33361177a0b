//! `ossr cat`, `ossr put` and `ossr cp`.

use std::ffi::OsString;
use std::io::{Read, Write};
use std::path::Path;

use oss_resume::{
    Client, CopyMetadata, CopyOptions, CopyPath, ErrorKind, FileOptions, GetOptions,
    RequestOptions, UploadOptions, guess_content_type,
};

use crate::args::{Args, Command, no_extra};
use crate::fail::{Failure, stdout_error};
use crate::get::checkpoint_text;
use crate::out;
use crate::progress::{Bar, cancel_token, human};
use crate::settings::{client, parse_oss_url};

pub const CAT: Command = Command {
    usage: "ossr cat oss://bucket/key [--range A-B|A-|-N] [options]",
    about: "\
Writes an object, or a range of it, to standard output through one streaming GET
that resumes itself after a dropped connection and checks the CRC-64 of a whole
object. A closed standard output (`| head`) ends it quietly.",
    flags: &["range"],
    connects: true,
    extra: no_extra,
};

pub const PUT: Command = Command {
    usage: "ossr put PATH oss://bucket/key [options]\n       ossr put - oss://bucket/key [options]",
    about: "\
Uploads a regular file resumably: in parts (above --threshold) from positioned reads,
each part's CRC-64 checked. Interrupted, it leaves a checkpoint in
~/.oss_resume/upload/ (or --checkpoint-dir) and the same command continues where it
stopped. With - it sends standard input; a source that is not a regular file (a pipe,
a FIFO, /dev/stdin, <(command), a /proc file) is sent as a stream the same way, for
what it really holds: one chunked PutObject, CRC-64 checked, not resumable.
SIZE takes K, M, G suffixes (powers of 1024).
With -r, copies a whole directory up to a prefix or a prefix down to a directory,
every selected file (ossr sync skips unchanged ones; ossr sync --help says more).",
    flags: &[
        "threads",
        "part-size",
        "threshold",
        "checkpoint-dir",
        "wait",
        "header",
        "content-type",
        "progress-interval",
        "quiet",
    ],
    connects: true,
    extra: no_extra,
};

pub const CP: Command = Command {
    usage: "ossr cp oss://bucket/key oss://bucket/key [options]\n       ossr cp -r DIR oss://bucket/prefix/ | oss://bucket/prefix/ DIR [options]",
    about: "\
Copies one object into another on the server: no object byte passes through this
machine. Below --threshold (default 1G, OSS's CopyObject limit) one CopyObject;
above it a multipart copy of UploadPartCopy parts, each pinned to the source's
ETag, the CRC-64 checked against the source's. Interrupted (Ctrl-C, a crash, a
network failure) it leaves a checkpoint in ~/.oss_resume/copy/ (or
--checkpoint-dir) and the same command continues where it stopped. Metadata is
copied from the source unless --header or --content-type give the copy's own.
--through-client copies through a stream instead (the bytes come down and go up
again, the CRC-64 checked on both sides; not resumable).
SIZE takes K, M, G suffixes (powers of 1024).
With -r, copies a whole directory up to a prefix or a prefix down to a directory,
every selected file (ossr sync skips unchanged ones; ossr sync --help says more).",
    flags: &[
        "threads",
        "part-size",
        "threshold",
        "checkpoint-dir",
        "wait",
        "header",
        "content-type",
        "through-client",
        "progress-interval",
        "quiet",
        "recursive",
        "include",
        "exclude",
        "shard",
        "report",
        "dry-run",
        "follow-symlinks",
        "no-fsync",
    ],
    connects: true,
    extra: no_extra,
};

/// Parses `A-B`, `A-` or `-N` (the last N bytes) against the object's size: the
/// first byte and the last (inclusive).
fn parse_range(text: &str, size: u64) -> Result<(u64, u64), Failure> {
    let bad = || Failure::Usage(format!("--range {text:?}: expected A-B, A- or -N"));
    let (a, b) = text.split_once('-').ok_or_else(bad)?;
    let num = |s: &str| s.trim().parse::<u64>().map_err(|_| bad());
    let (first, last) = match (a.trim().is_empty(), b.trim().is_empty()) {
        (false, false) => (num(a)?, num(b)?),
        (false, true) => (num(a)?, size.saturating_sub(1)),
        (true, false) => match num(b)? {
            0 => return Err(bad()),
            n => (size.saturating_sub(n), size.saturating_sub(1)),
        },
        (true, true) => return Err(bad()),
    };
    if first > last {
        return Err(bad());
    }
    if first >= size {
        return Err(oss_resume::Error::invalid(format!(
            "--range {text:?} starts past the end of the {size}-byte object"
        ))
        .into());
    }
    Ok((first, last.min(size - 1)))
}

/// `ossr cat oss://bucket/key [--range A-B]`: the object to stdout.
pub fn cat(args: Vec<OsString>) -> Result<(), Failure> {
    let Some(args) = CAT.parse(args)? else {
        return Ok(());
    };
    let [url] = args.positional(&CAT, "one oss://bucket/key")?;
    let (bucket, key) = parse_oss_url(url)?;
    let client = client(&args)?;
    if let Some(text) = args.get("range")? {
        return cat_range(&client, &bucket, &key, &text);
    }
    let mut stream = client.open_get(&bucket, &key, &GetOptions::default())?;
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = stream.read(&mut buf).map_err(read_error)?;
        if n == 0 {
            break;
        }
        out.write_all(&buf[..n]).map_err(|e| stdout_error(&e))?;
    }
    out.flush().map_err(|e| stdout_error(&e))
}

/// `cat --range`: the range read through an [`ObjectFile`](oss_resume::ObjectFile),
/// pinned to the ETag at open and prefetched in parallel requests when it is large.
fn cat_range(client: &Client, bucket: &str, key: &str, text: &str) -> Result<(), Failure> {
    let file = client.open_file(bucket, key, &FileOptions::default())?;
    let (first, last) = parse_range(text, file.size())?;
    let mut out = std::io::stdout().lock();
    let mut buf = vec![0u8; 1 << 20];
    let mut at = first;
    while at <= last {
        let want = buf
            .len()
            .min(usize::try_from(last - at + 1).unwrap_or(usize::MAX));
        let n = file.read_at(&mut buf[..want], at)?;
        out.write_all(&buf[..n]).map_err(|e| stdout_error(&e))?;
        at += n as u64;
    }
    out.flush().map_err(|e| stdout_error(&e))
}

/// A read error of a stream: the library's own error when it carries one.
fn read_error(e: std::io::Error) -> Failure {
    match e
        .into_inner()
        .map(|inner| inner.downcast::<oss_resume::Error>())
    {
        Some(Ok(lib)) => Failure::from(*lib),
        Some(Err(other)) => Failure::Transfer(other.to_string()),
        None => Failure::Transfer("read failed".into()),
    }
}

/// The headers `--header` and `--content-type` ask for.
fn headers(args: &Args) -> Result<Vec<(String, String)>, Failure> {
    let mut headers = Vec::new();
    for h in args.all("header")? {
        let (n, v) = h
            .split_once(':')
            .filter(|(n, _)| !n.trim().is_empty())
            .ok_or_else(|| Failure::Usage(format!("--header {h:?}: expected 'Name: value'")))?;
        headers.push((n.trim().to_string(), v.trim().to_string()));
    }
    if let Some(t) = args.get("content-type")? {
        headers.push(("Content-Type".into(), t));
    }
    Ok(headers)
}

/// Counts the bytes it reads.
struct Counted<R> {
    inner: R,
    bytes: u64,
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }
}

/// Whether a source must be streamed: anything but a regular file, and a regular
/// file that claims to be empty (procfs and sysfs files report size 0 but hold bytes;
/// a truly empty file streams as an empty object all the same).
fn must_stream(path: &Path) -> Result<bool, Failure> {
    let meta =
        std::fs::metadata(path).map_err(|e| Failure::Usage(format!("{}: {e}", path.display())))?;
    if meta.is_dir() {
        return Err(Failure::Usage(format!(
            "{} is a directory; put takes a file (or - for standard input)",
            path.display()
        )));
    }
    Ok(!meta.is_file() || meta.len() == 0)
}

/// `ossr put PATH oss://bucket/key`: a resumable upload of a regular file; standard
/// input (`-`) and other non-regular sources are streamed.
pub fn put(args: Vec<OsString>) -> Result<(), Failure> {
    let Some(args) = PUT.parse(args)? else {
        return Ok(());
    };
    let [source, url] = args.positional(&PUT, "PATH (or -) and oss://bucket/key")?;
    let (bucket, key) = parse_oss_url(url)?;
    let mut headers = headers(&args)?;
    let mut opts = UploadOptions::default();
    if let Some(n) = args.threads()? {
        opts.threads = n;
    }
    opts.part_size = args.size("part-size")?;
    if let Some(t) = args.size("threshold")? {
        opts.multipart_threshold = t;
    }
    opts.checkpoint_dir = args.get("checkpoint-dir")?.map(Into::into);
    let path = Path::new(source);
    let streamed = source == "-" || must_stream(path)?;
    let client = client(&args)?;

    if streamed {
        let (mut input, name): (Box<dyn Read>, &str) = if source == "-" {
            (Box::new(std::io::stdin().lock()), "standard input")
        } else {
            let file =
                std::fs::File::open(path).map_err(|e| Failure::Usage(format!("{source}: {e}")))?;
            if !headers
                .iter()
                .any(|(n, _)| n.eq_ignore_ascii_case("content-type"))
            {
                headers.push(("Content-Type".into(), guess_content_type(path).into()));
            }
            (Box::new(file), source)
        };
        let mut counted = Counted {
            inner: &mut input,
            bytes: 0,
        };
        // No Ctrl-C handler here: a read of standard input may block indefinitely, and
        // a stream has nothing to keep; the default SIGINT ends it, and an unfinished
        // chunked PutObject stores nothing.
        let mut bar = Bar::without_interrupts(&args)?;
        let mut progress = |done: u64, total: Option<u64>| bar.update(done, total);
        let put = client.put_stream(
            &bucket,
            &key,
            &mut counted,
            None,
            &headers,
            &RequestOptions::default(),
            Some(&mut progress),
        );
        let secs = bar.finish();
        let put = put?;
        return out!(
            "stored {name} ({} bytes, streamed) to oss://{bucket}/{key} in {secs:.2}s: etag {}, crc64 {}",
            counted.bytes,
            put.etag,
            match put.crc64 {
                Some(c) => format!("{c} verified"),
                None => "not reported by the server (not verified)".into(),
            }
        );
    }

    opts.headers = headers;
    opts.request.cancel = Some(cancel_token());
    let mut bar = Bar::new(&args)?;
    let mut progress = |done: u64, total: u64| bar.update(done, Some(total));
    let mut result = client.upload(source, &bucket, &key, &opts, Some(&mut progress));
    if matches!(&result, Err(e) if e.kind() == ErrorKind::Busy) && args.has("wait") {
        crate::fail::note(format_args!(
            "ossr: another upload of {source} to oss://{bucket}/{key} is running; waiting for it"
        ));
        opts.wait_if_busy = true;
        result = client.upload(source, &bucket, &key, &opts, Some(&mut progress));
    }
    let secs = bar.finish();
    let result = result.map_err(|e| match e.kind() {
        ErrorKind::Busy => Failure::Transfer(format!(
            "{e}\n(another ossr put of this file to this key is running: pass --wait to wait for it)"
        )),
        _ => Failure::from(e),
    });
    let r = result?;
    out!(
        "uploaded {source} ({} bytes) to oss://{bucket}/{key} in {secs:.2}s ({}/s): {} parts sent, {} reused, {}, etag {}, crc64 {} verified",
        r.size,
        human(r.size as f64 / secs.max(0.001)),
        r.parts_uploaded,
        r.parts_reused,
        checkpoint_text(&r.checkpoint),
        r.etag,
        r.crc64
    )
}

/// `ossr cp oss://b/k1 oss://b/k2`: one object into another, on the server unless
/// `--through-client`.
pub fn cp(args: Vec<OsString>) -> Result<(), Failure> {
    let Some(args) = CP.parse(args)? else {
        return Ok(());
    };
    if args.has("recursive") {
        return crate::dir::transfer(&args, &CP, false);
    }
    if args.has("no-fsync") {
        return Err(Failure::Usage(
            "--no-fsync applies to downloads only (cp -r oss://bucket/prefix/ DIR); a server-side copy writes no local file".into(),
        ));
    }
    let [from, to] = args.positional(&CP, "a source and a destination oss://bucket/key")?;
    let (sb, sk) = parse_oss_url(from)?;
    let (db, dk) = parse_oss_url(to)?;
    let headers = headers(&args)?;
    let client = client(&args)?;
    if args.has("through-client") {
        let mut bar = Bar::without_interrupts(&args)?;
        let mut progress = |done: u64, total: Option<u64>| bar.update(done, total);
        let put = client.copy_stream(
            (&sb, &sk),
            (&db, &dk),
            &headers,
            &GetOptions::default(),
            Some(&mut progress),
        );
        let secs = bar.finish();
        let put = put?;
        return out!(
            "copied {from} to {to} through this machine in {secs:.2}s: etag {}, crc64 {}",
            put.etag,
            put.crc64
                .map(|c| c.to_string())
                .unwrap_or_else(|| "none".into())
        );
    }
    let mut opts = CopyOptions::default();
    if let Some(n) = args.threads()? {
        opts.threads = n;
    }
    opts.part_size = args.size("part-size")?;
    if let Some(t) = args.size("threshold")? {
        opts.threshold = t;
    }
    opts.checkpoint_dir = args.get("checkpoint-dir")?.map(Into::into);
    opts.wait_if_busy = args.has("wait");
    if !headers.is_empty() {
        opts.metadata = CopyMetadata::Replace(headers);
    }
    opts.request.cancel = Some(cancel_token());
    let mut bar = Bar::new(&args)?;
    let mut progress = |done: u64, total: u64| bar.update(done, Some(total));
    let result = client.copy(&sb, &sk, &db, &dk, &opts, Some(&mut progress));
    let secs = bar.finish();
    let r = result.map_err(|e| match e.kind() {
        ErrorKind::Busy => Failure::Transfer(format!(
            "{e}\n(another ossr cp between these objects is running: pass --wait to wait for it)"
        )),
        _ => Failure::from(e),
    })?;
    let how = match r.path {
        CopyPath::CopyObject => "on the server, one CopyObject".to_string(),
        CopyPath::UploadPartCopy => format!(
            "on the server, {} parts: {} copied, {} reused, {}",
            r.parts,
            r.parts_copied,
            r.parts_reused,
            checkpoint_text(&r.checkpoint)
        ),
        CopyPath::Stream => "through this machine".to_string(),
    };
    out!(
        "copied {from} to {to} ({} bytes) in {secs:.2}s {how}: etag {}, crc64 {}",
        r.size,
        r.etag,
        match r.crc64 {
            Some(c) => format!("{c} verified"),
            None => "not reported by the server (not verified)".into(),
        }
    )
}
