//! `ossr get oss://bucket/key PATH`: resumable download.

use std::ffi::OsString;
use std::path::PathBuf;

use oss_resume::{CheckpointState, DownloadOptions, ErrorKind};

use crate::progress::{Bar, human};
use crate::settings::{SHARED_FLAGS, Settings, parse_oss_url};

const USAGE: &str = "\
usage: ossr get oss://bucket/key PATH [--threads N] [--part-size SIZE] [--checkpoint-dir DIR]
                [--threshold SIZE] [--wait] [flags]

Downloads an object resumably: interrupted (Ctrl-C, a crash, a network failure) it
leaves a checkpoint, and the next run continues where it stopped. SIZE takes K, M, G
suffixes (powers of 1024). --wait waits for another transfer to the same PATH instead
of failing.
";

/// Parses `123`, `100K`, `8M`, `1G` (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 8M)"))?;
    let mult: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("{text:?} has an unknown unit (K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{text:?} is too large"))
}

pub fn run(args: Vec<OsString>) -> Result<(), String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut settings = Settings::default();
    let mut positional: Vec<String> = Vec::new();
    let mut opts = DownloadOptions::default();
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long(name) if Settings::is_flag(name) => {
                let name = name.to_string();
                settings.take(&name, &mut parser)?;
            }
            Long("threads") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                let v = v.to_string_lossy();
                opts.threads = v
                    .parse::<usize>()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or_else(|| format!("--threads: {v:?} is not a number within 1..=64"))?;
            }
            Long("part-size") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                opts.part_size = Some(
                    parse_size(&v.to_string_lossy()).map_err(|e| format!("--part-size: {e}"))?,
                );
            }
            Long("threshold") => {
                let v = parser.value().map_err(|e| e.to_string())?;
                opts.multiget_threshold =
                    parse_size(&v.to_string_lossy()).map_err(|e| format!("--threshold: {e}"))?;
            }
            Long("checkpoint-dir") => {
                opts.checkpoint_dir =
                    Some(PathBuf::from(parser.value().map_err(|e| e.to_string())?));
            }
            Long("wait") => opts.wait_if_busy = true,
            Short('h') | Long("help") => {
                print!("{USAGE}\n{SHARED_FLAGS}");
                return Ok(());
            }
            Value(v) => positional.push(
                v.into_string()
                    .map_err(|_| "arguments must be UTF-8".to_string())?,
            ),
            other => return Err(format!("get: {}\n{USAGE}", other.unexpected())),
        }
    }
    let [url, path] = positional.as_slice() else {
        return Err(format!("get: expected oss://bucket/key and PATH\n{USAGE}"));
    };
    let (bucket, key) = parse_oss_url(url)?;
    let client = settings.client()?;

    let mut bar = Bar::new()?;
    let mut progress = |done: u64, total: u64| bar.update(done, total);
    let result = client.download(&bucket, &key, path, &opts, Some(&mut progress));
    let secs = bar.finish();
    match result {
        Ok(report) => {
            let resumed = match &report.checkpoint {
                CheckpointState::Resumed => "resumed from a checkpoint".to_string(),
                CheckpointState::Discarded(why) => format!("checkpoint discarded: {why}"),
                CheckpointState::NotFound | CheckpointState::NotUsed => "fresh".to_string(),
            };
            println!(
                "downloaded {} bytes to {path} in {secs:.2}s ({}/s): fetched {}, reused {}, {} part retries, {resumed}, crc64 {}",
                report.size,
                human(report.bytes_fetched as f64 / secs.max(0.001)),
                report.bytes_fetched,
                report.bytes_reused,
                report.parts_retried,
                match (report.crc64, report.verified) {
                    (Some(c), true) => format!("{c} verified"),
                    _ => "not reported by the server (not verified)".to_string(),
                }
            );
            Ok(())
        }
        Err(e) if e.kind() == ErrorKind::Cancelled => {
            Err("interrupted; the checkpoint is kept: run the same command again to resume".into())
        }
        Err(e) => Err(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("100K").unwrap(), 100 << 10);
        assert_eq!(parse_size("8M").unwrap(), 8 << 20);
        assert_eq!(parse_size("8MiB").unwrap(), 8 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert!(parse_size("8X").is_err());
        assert!(parse_size("M").is_err());
    }
}
