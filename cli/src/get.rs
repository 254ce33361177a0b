//! `ossr get oss://bucket/key PATH`: resumable download.

use std::ffi::OsString;
use std::path::PathBuf;

use oss_resume::{CheckpointState, DownloadOptions, Durability, ErrorKind};

use crate::args::{Command, no_extra};
use crate::fail::Failure;
use crate::out;
use crate::progress::{Bar, cancel_token, human};
use crate::settings::{client, parse_oss_url};

pub const COMMAND: Command = Command {
    usage: "ossr get oss://bucket/key PATH [options]",
    about: "\
Downloads an object to PATH resumably, over parallel ranged GETs pinned to the
object's ETag, and checks the CRC-64. Interrupted (Ctrl-C, a crash, a network
failure) it leaves a checkpoint; the same command continues where it stopped. The
checkpoint is a hidden file beside PATH (.ossr-<hash>.download) unless
--checkpoint-dir says otherwise; it is removed when the download completes.
SIZE takes K, M, G suffixes (powers of 1024).",
    flags: &[
        "threads",
        "part-size",
        "threshold",
        "checkpoint-dir",
        "wait",
        "no-fsync",
        "no-hedge",
        "progress-interval",
        "quiet",
    ],
    connects: true,
    extra: no_extra,
};

/// How a checkpoint was used, in words.
pub fn checkpoint_text(state: &CheckpointState) -> String {
    match state {
        CheckpointState::Resumed => "resumed from a checkpoint".to_string(),
        CheckpointState::Discarded(why) => format!("checkpoint discarded ({why}), started over"),
        CheckpointState::NotFound => "no checkpoint, started fresh".to_string(),
        CheckpointState::NotUsed => "one request, no checkpoint needed".to_string(),
    }
}

pub fn run(args: Vec<OsString>) -> Result<(), Failure> {
    let Some(args) = COMMAND.parse(args)? else {
        return Ok(());
    };
    let [url, path] = args.positional(&COMMAND, "oss://bucket/key and PATH")?;
    let (bucket, key) = parse_oss_url(url)?;
    let mut opts = DownloadOptions::default();
    if let Some(n) = args.threads()? {
        opts.threads = n;
    }
    opts.part_size = args.size("part-size")?;
    if let Some(t) = args.size("threshold")? {
        opts.multiget_threshold = t;
    }
    opts.checkpoint_dir = args.get("checkpoint-dir")?.map(PathBuf::from);
    opts.wait_if_busy = args.has("wait");
    opts.request.cancel = Some(cancel_token());
    if args.has("no-fsync") {
        opts.durability = Durability::NoFsync;
    }
    opts.hedge = !args.has("no-hedge");
    let client = client(&args)?;

    let mut bar = Bar::new(&args)?;
    let mut progress = |done: u64, total: u64| bar.update(done, Some(total));
    let result = client.download(&bucket, &key, path, &opts, Some(&mut progress));
    let secs = bar.finish();
    let report = result.map_err(|e| match e.kind() {
        ErrorKind::Busy => Failure::Transfer(format!(
            "{e}\n(another ossr get to {path} is running: pass --wait to wait for it)"
        )),
        _ => Failure::from(e),
    })?;
    out!(
        "downloaded {} bytes to {path} in {secs:.2}s ({}/s): fetched {}, reused {}, {} part retries, {} parts hedged, {}, crc64 {}",
        report.size,
        human(report.bytes_fetched as f64 / secs.max(0.001)),
        report.bytes_fetched,
        report.bytes_reused,
        report.parts_retried,
        report.parts_hedged,
        checkpoint_text(&report.checkpoint),
        match (report.crc64, report.verified) {
            (Some(c), true) => format!("{c} verified"),
            _ => "not reported by the server (not verified)".to_string(),
        }
    )
}
