//! Planning a whole-prefix transfer: what the source has, what may be transferred
//! (globs, safe names), what is unchanged, and what is extraneous at the
//! destination.

use std::collections::{HashMap, HashSet};
use std::fs;
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::glob::selected;
use super::journal::{Entry, Journal, mtime_ns};
use super::names::{collisions, key_of, relative_path};
use super::{Compare, DirOptions, DirReport, Job};
use crate::client::{Client, RequestOptions};
use crate::error::{Error, Result};
use crate::list::ListOptions;
use crate::transfer::fsio::crc_of_range;
use crate::transfer::pool::with_buffer;
use crate::xml::ListedObject;

/// Hidden files the single-file transfers keep beside a target (checkpoints,
/// locks, temporaries): never uploaded, never deleted as extraneous.
const OWN_FILES: &str = ".ossr-";

fn is_own(rel: &Path) -> bool {
    rel.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.starts_with(OWN_FILES))
}

/// Every object under `prefix`, in key order.
fn list_prefix(
    client: &Client,
    bucket: &str,
    prefix: &str,
    request: &RequestOptions,
) -> Result<Vec<ListedObject>> {
    let mut opts = ListOptions::prefix(prefix);
    opts.request = request.clone();
    let mut out = Vec::new();
    for page in client.list_objects(bucket, &opts)? {
        out.extend(page?.objects);
    }
    Ok(out)
}

/// The `/`-separated text of a relative path (for globs and the report).
fn slash_text(rel: &Path) -> String {
    rel.to_string_lossy().into_owned()
}

fn mtime(meta: &fs::Metadata) -> Option<SystemTime> {
    meta.modified().ok()
}

/// CRC-64 of a whole local file.
fn file_crc(path: &Path, len: u64) -> Result<u64> {
    let file =
        fs::File::open(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    with_buffer(|buf| crc_of_range(&file, 0, len, buf))
        .map_err(|e| Error::io(format!("reading {}", path.display()), e))
}

/// The bucket side of a comparison, and the journal asked before it.
struct Remote<'a, 'j> {
    client: &'a Client,
    bucket: &'a str,
    request: &'a RequestOptions,
    journal: Option<&'j mut Journal>,
}

/// Whether a local file and an object hold the same bytes, by `compare`. `newer`
/// says which side must not be older for [`Compare::SizeAndMtime`]: the
/// destination's.
fn unchanged(
    remote: &mut Remote<'_, '_>,
    name: &str,
    object: &ListedObject,
    path: &Path,
    local: &fs::Metadata,
    compare: Compare,
    local_is_destination: bool,
) -> Result<bool> {
    if !local.is_file() || local.len() != object.size {
        return Ok(false);
    }
    let entry = Entry {
        size: local.len(),
        mtime_ns: mtime_ns(local),
        etag: object.etag.clone(),
    };
    let same = match compare {
        Compare::Never => return Ok(false),
        Compare::SizeAndMtime => {
            let (Some(file), Some(remote)) = (mtime(local), object.last_modified_time()) else {
                return Ok(false);
            };
            // Last-Modified has whole seconds: compare at that precision.
            let secs = |t: SystemTime| {
                t.duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.as_secs())
                    .unwrap_or(0)
            };
            return Ok(if local_is_destination {
                secs(file) >= secs(remote)
            } else {
                secs(file) <= secs(remote)
            });
        }
        Compare::SizeAndCrc64 => {
            let journal = remote.journal.as_deref();
            if journal.is_some_and(|j| j.done(name, entry.size, entry.mtime_ns, &entry.etag)) {
                return Ok(true);
            }
            let info = remote
                .client
                .head_object(remote.bucket, &object.key, remote.request)?;
            match info.crc64 {
                Some(crc) if info.size == local.len() => file_crc(path, local.len())? == crc,
                _ => false,
            }
        }
    };
    if same && let Some(j) = remote.journal.as_deref_mut() {
        j.record(name, entry);
    }
    Ok(same)
}

/// Whether `rel` below `dir` passes through a symbolic link (which could lead the
/// write outside `dir`).
fn crosses_symlink(dir: &Path, rel: &Path) -> bool {
    let mut at = dir.to_path_buf();
    let parts: Vec<_> = rel.components().collect();
    for part in &parts[..parts.len().saturating_sub(1)] {
        at.push(part);
        match fs::symlink_metadata(&at) {
            Ok(m) if m.file_type().is_symlink() => return true,
            Ok(_) => {}
            Err(_) => return false, // not there yet: it will be made a directory
        }
    }
    false
}

/// Plans a download: the objects under `prefix` that may and need to be fetched.
pub(super) fn downloads(
    client: &Client,
    (bucket, prefix): (&str, &str),
    dir: &Path,
    opts: &DirOptions,
    journal: Option<&mut Journal>,
    report: &mut DirReport,
) -> Result<Vec<Job>> {
    let (include, exclude) = opts.globs()?;
    let objects = list_prefix(client, bucket, prefix, &opts.request)?;
    let dir_len = dir.as_os_str().len();
    // Safe names first, then collisions among them.
    let mut named: Vec<(&ListedObject, PathBuf)> = Vec::new();
    for object in &objects {
        let rest = &object.key[prefix.len()..];
        if rest.ends_with('/') && object.size == 0 || !opts.in_shard(rest) {
            continue; // a directory marker, or another task's
        }
        match relative_path(rest, dir_len) {
            Ok(rel) if selected(&slash_text(&rel), &include, &exclude) => named.push((object, rel)),
            Ok(_) => {}
            Err(why) => report.fail(&object.key, format!("refused: {why}")),
        }
    }
    let paths: Vec<&Path> = named.iter().map(|(_, p)| p.as_path()).collect();
    let clashing: HashMap<PathBuf, String> = collisions(&paths).into_iter().collect();
    let mut remote = Remote {
        client,
        bucket,
        request: &opts.request,
        journal,
    };
    let mut jobs = Vec::new();
    let mut wanted: HashSet<PathBuf> = HashSet::new();
    for (object, rel) in named {
        if let Some(why) = clashing.get(&rel) {
            report.fail(&object.key, format!("refused: {why}"));
            continue;
        }
        if crosses_symlink(dir, &rel) {
            report.fail(&object.key, "refused: its path crosses a symbolic link");
            continue;
        }
        wanted.insert(rel.clone());
        let job = Job {
            name: slash_text(&rel),
            key: object.key.clone(),
            path: dir.join(&rel),
            size: object.size,
        };
        let is_same = match fs::symlink_metadata(&job.path) {
            Ok(local) => unchanged(
                &mut remote,
                &job.name,
                object,
                &job.path,
                &local,
                opts.compare,
                true,
            ),
            Err(_) => Ok(false),
        };
        match is_same {
            Ok(true) => {
                report.files_unchanged += 1;
                report.bytes_unchanged += object.size;
            }
            Ok(false) => jobs.push(job),
            Err(e) => report.fail(&job.name, e.to_string()),
        }
    }
    if opts.delete_extraneous {
        delete_local(dir, &wanted, opts, report)?;
    }
    Ok(jobs)
}

/// Deletes the regular files under `dir` that are selected but not `wanted`.
fn delete_local(
    dir: &Path,
    wanted: &HashSet<PathBuf>,
    opts: &DirOptions,
    report: &mut DirReport,
) -> Result<()> {
    let (include, exclude) = opts.globs()?;
    for (rel, path, meta) in walk(dir, false, &mut DirReport::default())? {
        let text = slash_text(&rel);
        let keep = !meta.is_file()
            || wanted.contains(&rel)
            || is_own(&rel)
            || !selected(&text, &include, &exclude)
            || !opts.in_shard(&text);
        if keep {
            continue;
        }
        if !opts.dry_run {
            fs::remove_file(&path)
                .map_err(|e| Error::io(format!("deleting {}", path.display()), e))?;
        }
        report.deleted.push(text);
    }
    Ok(())
}

/// The files under `dir`: (relative path, path, metadata), symbolic links followed
/// only when asked (each directory once), else listed in the report.
fn walk(
    dir: &Path,
    follow: bool,
    report: &mut DirReport,
) -> Result<Vec<(PathBuf, PathBuf, fs::Metadata)>> {
    use std::os::unix::fs::MetadataExt;
    let mut out = Vec::new();
    let mut seen: HashSet<(u64, u64)> = HashSet::new();
    if let Ok(root) = fs::metadata(dir) {
        seen.insert((root.dev(), root.ino()));
    }
    let mut stack = vec![PathBuf::new()];
    while let Some(rel_dir) = stack.pop() {
        let abs = dir.join(&rel_dir);
        let entries =
            fs::read_dir(&abs).map_err(|e| Error::io(format!("reading {}", abs.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("reading {}", abs.display()), e))?;
            let rel = rel_dir.join(entry.file_name());
            let path = entry.path();
            let Ok(mut meta) = fs::symlink_metadata(&path) else {
                continue; // gone since the listing
            };
            if meta.file_type().is_symlink() {
                if !follow {
                    report.symlinks_skipped.push(slash_text(&rel));
                    continue;
                }
                match fs::metadata(&path) {
                    Ok(m) => meta = m,
                    Err(e) => {
                        report.fail(slash_text(&rel), format!("a broken symbolic link: {e}"));
                        continue;
                    }
                }
            }
            if meta.is_dir() {
                if seen.insert((meta.dev(), meta.ino())) {
                    stack.push(rel);
                }
                continue;
            }
            out.push((rel, path, meta));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

/// Plans an upload: the files under `dir` that may and need to be sent.
pub(super) fn uploads(
    client: &Client,
    dir: &Path,
    (bucket, prefix): (&str, &str),
    opts: &DirOptions,
    journal: Option<&mut Journal>,
    report: &mut DirReport,
) -> Result<Vec<Job>> {
    let (include, exclude) = opts.globs()?;
    let files = walk(dir, opts.follow_symlinks, report)?;
    let remote: HashMap<String, ListedObject> = list_prefix(client, bucket, prefix, &opts.request)?
        .into_iter()
        .map(|o| (o.key.clone(), o))
        .collect();
    let mut side = Remote {
        client,
        bucket,
        request: &opts.request,
        journal,
    };
    let mut keys: HashSet<String> = HashSet::new();
    let mut jobs = Vec::new();
    for (rel, path, meta) in files {
        let name = slash_text(&rel);
        if is_own(&rel) || !selected(&name, &include, &exclude) || !opts.in_shard(&name) {
            continue;
        }
        if !meta.is_file() {
            report.fail(name, "not a regular file (a pipe, socket or device)");
            continue;
        }
        let key = match key_of(prefix, &rel) {
            Ok(k) => k,
            Err(why) => {
                report.fail(name, format!("refused: {why}"));
                continue;
            }
        };
        keys.insert(key.clone());
        let is_same = match remote.get(&key) {
            Some(object) => unchanged(&mut side, &name, object, &path, &meta, opts.compare, false),
            None => Ok(false),
        };
        match is_same {
            Ok(true) => {
                report.files_unchanged += 1;
                report.bytes_unchanged += meta.len();
            }
            Ok(false) => jobs.push(Job {
                name,
                key,
                path,
                size: meta.len(),
            }),
            Err(e) => report.fail(name, e.to_string()),
        }
    }
    if opts.delete_extraneous {
        for (key, _) in remote.iter().filter(|(k, _)| !keys.contains(*k)) {
            let rest = &key[prefix.len()..];
            if rest.ends_with('/') || !selected(rest, &include, &exclude) || !opts.in_shard(rest) {
                continue;
            }
            if !opts.dry_run {
                client.delete_object(bucket, key, &opts.request)?;
            }
            report.deleted.push(key.clone());
        }
        report.deleted.sort();
    }
    Ok(jobs)
}
