//! `ossr cp -r` and `ossr sync`: a directory up to a prefix or a prefix down to a
//! directory, with shards for many machines and a JSON report per task.

use std::path::Path;

use oss_resume::{Compare, DirOptions, DirProgress, DirReport, Durability};

use crate::args::{Args, Command, no_extra};
use crate::fail::Failure;
use crate::object::json_string;
use crate::out;
use crate::progress::{Bar, cancel_token};
use crate::settings::client;

pub const SYNC: Command = Command {
    usage: "ossr sync SRC DST [options]   (one of SRC, DST is oss://bucket/prefix/; the prefix is taken as ending in /)",
    about: "\
Makes DST hold what SRC holds, in either direction: a local directory up to a
prefix, or a prefix down to a directory. Files already there with the same size and
CRC-64 (with --mtime: the same size and a destination not older) are skipped;
--delete removes what DST has under the prefix and SRC does not. Files move under
one thread budget (--threads): small ones many at a time, large ones in resumable
parts with their own checkpoints; one failing file is reported and the rest go on
(exit 1 when any failed). Keys that would leave the directory (.., absolute, empty
segments, ...) and local names that are not UTF-8 are refused by name. --shard
INDEX/COUNT moves only this task's slice (a stable hash of each name), so COUNT
tasks of any batch scheduler move everything exactly once; --shard auto/COUNT reads
INDEX from JOB_COMPLETION_INDEX (a Kubernetes Indexed Job). --no-fsync (downloads
only) syncs nothing to disk, for each file as ossr get --no-fsync. The progress
shows bytes and files done of those to transfer.",
    flags: &[
        "threads",
        "part-size",
        "threshold",
        "checkpoint-dir",
        "delete",
        "mtime",
        "include",
        "exclude",
        "shard",
        "report",
        "dry-run",
        "follow-symlinks",
        "no-fsync",
        "progress-interval",
        "quiet",
    ],
    connects: true,
    extra: no_extra,
};

/// `--shard INDEX/COUNT` or `auto/COUNT` (INDEX from `index_env`, the value of
/// JOB_COMPLETION_INDEX).
pub fn parse_shard(text: &str, index_env: Option<&str>) -> Result<(u32, u32), String> {
    let (index, count) = text
        .split_once('/')
        .ok_or_else(|| format!("--shard {text:?}: expected INDEX/COUNT, e.g. 0/4"))?;
    let count: u32 = count
        .trim()
        .parse()
        .ok()
        .filter(|c| *c > 0)
        .ok_or_else(|| format!("--shard {text:?}: COUNT must be a number above 0"))?;
    let index_text = if index == "auto" {
        index_env.ok_or_else(|| {
            format!("--shard {text:?}: JOB_COMPLETION_INDEX is not set (auto needs it)")
        })?
    } else {
        index
    };
    let index: u32 = index_text
        .trim()
        .parse()
        .ok()
        .filter(|i| *i < count)
        .ok_or_else(|| {
            format!("--shard {text:?}: INDEX {index_text:?} is not within 0..{count}")
        })?;
    Ok((index, count))
}

/// Which way a whole-prefix transfer goes.
enum Way {
    Up {
        dir: String,
        bucket: String,
        prefix: String,
    },
    Down {
        bucket: String,
        prefix: String,
        dir: String,
    },
}

fn way(src: &str, dst: &str) -> Result<Way, Failure> {
    // A prefix names a "directory": `oss://b/data` means data/, never data2/.
    let remote = |url: &str| -> Option<(String, String)> {
        let rest = url.strip_prefix("oss://")?;
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        let mut prefix = prefix.to_string();
        if !prefix.is_empty() && !prefix.ends_with('/') {
            prefix.push('/');
        }
        Some((bucket.to_string(), prefix))
    };
    match (remote(src), remote(dst)) {
        (None, Some((bucket, prefix))) => Ok(Way::Up {
            dir: src.to_string(),
            bucket,
            prefix,
        }),
        (Some((bucket, prefix)), None) => Ok(Way::Down {
            bucket,
            prefix,
            dir: dst.to_string(),
        }),
        _ => Err(Failure::Usage(
            "exactly one of the source and the destination must be an oss://bucket/prefix/ URL"
                .into(),
        )),
    }
}

fn options(args: &Args, skip_unchanged: bool) -> Result<DirOptions, Failure> {
    let mut opts = DirOptions::default();
    if let Some(n) = args.threads()? {
        opts.threads = n;
    }
    opts.part_size = args.size("part-size")?;
    if let Some(t) = args.size("threshold")? {
        opts.large_threshold = t;
    }
    opts.checkpoint_dir = args.get("checkpoint-dir")?.map(Into::into);
    opts.include = args.all("include")?;
    opts.exclude = args.all("exclude")?;
    opts.dry_run = args.has("dry-run");
    opts.follow_symlinks = args.has("follow-symlinks");
    opts.delete_extraneous = args.has("delete");
    if args.has("no-fsync") {
        opts.durability = Durability::NoFsync;
    }
    opts.compare = match (skip_unchanged, args.has("mtime")) {
        (false, _) => Compare::Never,
        (true, true) => Compare::SizeAndMtime,
        (true, false) => Compare::SizeAndCrc64,
    };
    if let Some(s) = args.get("shard")? {
        let env = std::env::var("JOB_COMPLETION_INDEX").ok();
        opts.shard = Some(parse_shard(&s, env.as_deref()).map_err(Failure::Usage)?);
    }
    opts.request.cancel = Some(cancel_token());
    Ok(opts)
}

/// `ossr cp -r SRC DST` (every selected file) and `ossr sync SRC DST` (unchanged ones
/// skipped).
pub fn transfer(args: &Args, cmd: &Command, skip_unchanged: bool) -> Result<(), Failure> {
    let [src, dst] = args.positional(cmd, "a source and a destination")?;
    let way = way(src, dst)?;
    if matches!(way, Way::Up { .. }) && args.has("no-fsync") {
        return Err(Failure::Usage(
            "--no-fsync applies to downloads only (an upload writes no local file)".into(),
        ));
    }
    let opts = options(args, skip_unchanged)?;
    opts.validate().map_err(|e| Failure::Usage(e.to_string()))?;
    let client = client(args)?;
    let mut bar = Bar::new(args)?;
    let mut progress = |p: &DirProgress| bar.update_files(p);
    let result = match &way {
        Way::Up {
            dir,
            bucket,
            prefix,
        } => client.upload_dir(dir, bucket, prefix, &opts, Some(&mut progress)),
        Way::Down {
            bucket,
            prefix,
            dir,
        } => client.download_prefix(bucket, prefix, dir, &opts, Some(&mut progress)),
    };
    let secs = bar.finish();
    let report = result?;
    if let Some(path) = args.get("report")? {
        write_report(Path::new(&path), src, dst, &opts, &report, secs)?;
    }
    summary(src, dst, &report, secs)
}

fn summary(src: &str, dst: &str, r: &DirReport, secs: f64) -> Result<(), Failure> {
    for f in &r.failed {
        crate::fail::note(format_args!("failed: {}: {}", f.name, f.reason));
    }
    for link in &r.symlinks_skipped {
        crate::fail::note(format_args!(
            "skipped symbolic link: {link} (--follow-symlinks follows)"
        ));
    }
    let verb = if r.dry_run {
        "would transfer"
    } else {
        "transferred"
    };
    out!(
        "{src} -> {dst}: {verb} {} files ({} bytes), {} unchanged ({} bytes), {} deleted, {} failed, in {secs:.2}s",
        r.files_transferred,
        r.bytes_transferred,
        r.files_unchanged,
        r.bytes_unchanged,
        r.deleted.len(),
        r.files_failed()
    )?;
    if r.files_failed() > 0 {
        return Err(Failure::Transfer(format!(
            "{} files failed (listed above); run again to retry them",
            r.files_failed()
        )));
    }
    Ok(())
}

fn json_list(items: impl Iterator<Item = String>) -> String {
    format!("[{}]", items.collect::<Vec<_>>().join(", "))
}

/// The report as one JSON object, for `--report FILE`.
fn write_report(
    path: &Path,
    src: &str,
    dst: &str,
    opts: &DirOptions,
    r: &DirReport,
    secs: f64,
) -> Result<(), Failure> {
    let shard = match opts.shard {
        Some((i, c)) => format!("[{i}, {c}]"),
        None => "null".into(),
    };
    let failed = json_list(r.failed.iter().map(|f| {
        format!(
            "{{\"name\": {}, \"reason\": {}}}",
            json_string(&f.name),
            json_string(&f.reason)
        )
    }));
    let text = format!(
        "{{\"source\": {}, \"destination\": {}, \"shard\": {shard}, \"dry_run\": {}, \"files_transferred\": {}, \"bytes_transferred\": {}, \"files_unchanged\": {}, \"bytes_unchanged\": {}, \"deleted\": {}, \"failed\": {failed}, \"symlinks_skipped\": {}, \"seconds\": {secs:.3}}}\n",
        json_string(src),
        json_string(dst),
        r.dry_run,
        r.files_transferred,
        r.bytes_transferred,
        r.files_unchanged,
        r.bytes_unchanged,
        json_list(r.deleted.iter().map(|d| json_string(d))),
        json_list(r.symlinks_skipped.iter().map(|d| json_string(d))),
    );
    std::fs::write(path, text)
        .map_err(|e| Failure::Transfer(format!("writing the report {}: {e}", path.display())))
}

/// `ossr sync SRC DST`.
pub fn sync(args: Vec<std::ffi::OsString>) -> Result<(), Failure> {
    let Some(args) = SYNC.parse(args)? else {
        return Ok(());
    };
    transfer(&args, &SYNC, true)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prefix_always_ends_with_a_slash() {
        let Ok(Way::Up { prefix, .. }) = way("d", "oss://b/data") else {
            panic!("not up");
        };
        assert_eq!(prefix, "data/");
        let Ok(Way::Down { prefix, dir, .. }) = way("oss://b", "d") else {
            panic!("not down");
        };
        assert_eq!((prefix.as_str(), dir.as_str()), ("", "d"));
        assert!(way("a", "b").is_err());
    }

    #[test]
    fn shards_are_index_over_count_or_auto_from_the_job_index() {
        assert_eq!(parse_shard("0/4", None).unwrap(), (0, 4));
        assert_eq!(parse_shard("3/4", None).unwrap(), (3, 4));
        assert_eq!(parse_shard("auto/4", Some("2")).unwrap(), (2, 4));
        assert!(
            parse_shard("auto/4", None)
                .unwrap_err()
                .contains("JOB_COMPLETION_INDEX")
        );
        assert!(parse_shard("4/4", None).unwrap_err().contains("0..4"));
        assert!(parse_shard("1/0", None).is_err());
        assert!(parse_shard("1", None).is_err());
        assert!(parse_shard("auto/2", Some("5")).is_err());
    }
}
