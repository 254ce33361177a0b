//! The batch journal: which files a whole-prefix transfer has moved, so a rerun
//! (after a crash, or the next sync) skips them without a HEAD and without reading
//! the file for its CRC-64.
//!
//! One journal per (direction, directory, bucket, prefix), under the checkpoint
//! directory (default `$HOME/.oss_resume/dir`). Each moved file appends a line:
//! its name (percent-encoded), the local file's size and modification time in
//! nanoseconds after the transfer, and the object's ETag. A file counts as done on
//! a rerun only when all of that still holds: the local size and time, and the
//! ETag the listing shows. Lines are appended without a sync (a lost tail only
//! costs the usual checks); a torn last line is ignored. A run that ends writes the
//! journal anew, compacted, with the atomic-replace helper.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use crate::signing::percent_encode;
use crate::transfer::fsio::{Durability, write_atomic};

/// What was true of a file when it was moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Entry {
    pub size: u64,
    pub mtime_ns: u128,
    pub etag: String,
}

/// A local file's modification time in nanoseconds (0 when unknown).
pub(crate) fn mtime_ns(meta: &fs::Metadata) -> u128 {
    meta.modified()
        .ok()
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_nanos())
        .unwrap_or(0)
}

/// A journal: what it held when opened, and the file lines are appended to.
#[derive(Debug)]
pub(crate) struct Journal {
    path: PathBuf,
    entries: HashMap<String, Entry>,
    appender: Option<fs::File>,
}

fn line(name: &str, e: &Entry) -> String {
    format!(
        "{}\t{}\t{}\t{}\n",
        percent_encode(name, true),
        e.size,
        e.mtime_ns,
        percent_encode(&e.etag, true)
    )
}

fn parse(text: &str) -> HashMap<String, Entry> {
    let decode = |s: &str| {
        percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .ok()
            .map(|c| c.into_owned())
    };
    let mut out = HashMap::new();
    // Only whole lines: a crash may have torn the last one.
    for l in text.split_inclusive('\n').filter(|l| l.ends_with('\n')) {
        let f: Vec<&str> = l.trim_end_matches('\n').split('\t').collect();
        let [name, size, mtime, etag] = f[..] else {
            continue;
        };
        let (Some(name), Ok(size), Ok(mtime_ns), Some(etag)) =
            (decode(name), size.parse(), mtime.parse(), decode(etag))
        else {
            continue;
        };
        out.insert(
            name,
            Entry {
                size,
                mtime_ns,
                etag,
            },
        );
    }
    out
}

impl Journal {
    /// Opens (or starts) the journal of one transfer; `None` when it cannot be
    /// written (the transfer then runs without one).
    pub(crate) fn open(dir: &Path, identity: &str) -> Option<Journal> {
        fs::create_dir_all(dir).ok()?;
        let hash = crate::crc64::checksum(identity.as_bytes());
        let path = dir.join(format!("{hash:016x}.journal"));
        let entries = fs::read_to_string(&path)
            .map(|t| parse(&t))
            .unwrap_or_default();
        let appender = fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&path)
            .ok()?;
        Some(Journal {
            path,
            entries,
            appender: Some(appender),
        })
    }

    /// Whether `name` was moved with this local size and time and this ETag.
    pub(crate) fn done(&self, name: &str, size: u64, mtime_ns: u128, etag: &str) -> bool {
        self.entries.get(name).is_some_and(|e| {
            e.size == size && e.mtime_ns == mtime_ns && e.mtime_ns != 0 && e.etag == etag
        })
    }

    /// Records a moved file. A failure to write is ignored: the journal is a hint.
    pub(crate) fn record(&mut self, name: &str, entry: Entry) {
        if let Some(f) = self.appender.as_mut() {
            let _ = f.write_all(line(name, &entry).as_bytes());
        }
        self.entries.insert(name.to_string(), entry);
    }

    /// Writes the journal anew, one line per file, atomically.
    pub(crate) fn compact(mut self) {
        self.appender = None;
        let mut names: Vec<&String> = self.entries.keys().collect();
        names.sort();
        let text: String = names.iter().map(|n| line(n, &self.entries[*n])).collect();
        let _ = write_atomic(&self.path, text.as_bytes(), Durability::NoFsync);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_survive_a_reopen_and_a_torn_line_is_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let entry = Entry {
            size: 5,
            mtime_ns: 42,
            etag: "\"AB\"".into(),
        };
        let mut j = Journal::open(dir.path(), "up a b c").unwrap();
        j.record("x/tab\there", entry.clone());
        drop(j);
        let path = fs::read_dir(dir.path())
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path();
        let mut f = fs::OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"torn\t1\t2").unwrap();
        let j = Journal::open(dir.path(), "up a b c").unwrap();
        assert!(j.done("x/tab\there", 5, 42, "\"AB\""));
        assert!(!j.done("x/tab\there", 5, 43, "\"AB\""), "another mtime");
        assert!(!j.done("x/tab\there", 5, 42, "\"CD\""), "another object");
        assert!(!j.done("torn", 1, 2, ""));
        j.compact();
        let j = Journal::open(dir.path(), "up a b c").unwrap();
        assert_eq!(j.entries.len(), 1);
        assert!(
            Journal::open(dir.path(), "down a b c")
                .unwrap()
                .entries
                .is_empty()
        );
    }
}
