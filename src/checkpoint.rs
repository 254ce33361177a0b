//! Download checkpoints: what a resumed download may trust.
//!
//! A checkpoint is untrusted input. It is a small versioned text file whose last line
//! is the SHA-256 of everything before it; it is written atomically (temporary file,
//! fsync, rename, fsync of the directory), readable only by its owner, and holds no
//! credential. Values are percent-encoded so no value can forge a line.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::signing::percent_encode;

const DOWNLOAD_MAGIC: &str = "oss_resume download checkpoint v1";

/// The shared file format: a magic line naming kind and version, `name=value` fields
/// (values percent-encoded), repeated `item=...` lines, and a last line with the
/// SHA-256 of everything before it.
#[derive(Debug, Default)]
pub(crate) struct Record {
    pub fields: std::collections::HashMap<String, String>,
    pub items: Vec<String>,
}

/// Encodes a record.
pub(crate) fn encode_record(magic: &str, fields: &[(&str, String)], items: &[String]) -> Vec<u8> {
    let mut out = String::new();
    out.push_str(magic);
    out.push('\n');
    for (name, value) in fields {
        out.push_str(name);
        out.push('=');
        out.push_str(&percent_encode(value, true));
        out.push('\n');
    }
    for item in items {
        out.push_str("item=");
        out.push_str(item);
        out.push('\n');
    }
    let digest = Sha256::digest(out.as_bytes());
    out.push_str("sha256=");
    for b in digest {
        out.push_str(&format!("{b:02x}"));
    }
    out.push('\n');
    out.into_bytes()
}

/// Checks the checksum and magic line and splits a record; the error says why it
/// cannot be used.
pub(crate) fn decode_record(bytes: &[u8], magic: &str) -> Result<Record, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())?;
    let body_end = text
        .rfind("sha256=")
        .ok_or_else(|| "no checksum line (truncated?)".to_string())?;
    let (body, sum_line) = text.split_at(body_end);
    let sum = sum_line
        .strip_prefix("sha256=")
        .and_then(|s| s.strip_suffix('\n'))
        .ok_or_else(|| "malformed checksum line (truncated?)".to_string())?;
    let digest: String = Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    if sum != digest {
        return Err("checksum mismatch (corrupt or edited)".into());
    }
    let mut lines = body.lines();
    if lines.next() != Some(magic) {
        return Err(format!(
            "not a checkpoint of this kind and version ({magic})"
        ));
    }
    let mut record = Record::default();
    for line in lines {
        let (name, value) = line
            .split_once('=')
            .ok_or_else(|| format!("malformed line {line:?}"))?;
        if name == "item" {
            record.items.push(value.to_string());
        } else if record
            .fields
            .insert(name.to_string(), decode(value)?)
            .is_some()
        {
            return Err(format!("field {name} appears twice"));
        }
    }
    Ok(record)
}

impl Record {
    /// Removes and returns a field.
    pub fn take(&mut self, name: &str) -> Result<String, String> {
        self.fields
            .remove(name)
            .ok_or_else(|| format!("missing field {name}"))
    }

    /// Removes and returns a numeric field.
    pub fn take_u64(&mut self, name: &str) -> Result<u64, String> {
        self.take(name)?
            .parse()
            .map_err(|_| format!("field {name} is not a number"))
    }
}

/// Everything a download checkpoint records.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DownloadCheckpoint {
    pub bucket: String,
    pub key: String,
    pub version_id: String,
    /// Absolute target path.
    pub target: PathBuf,
    /// The temporary file the bytes are written to.
    pub temp: PathBuf,
    pub size: u64,
    pub etag: String,
    pub last_modified: String,
    /// The object's CRC-64, when it has one.
    pub crc64: Option<u64>,
    pub part_size: u64,
    /// Finished parts: (index, CRC-64 of the part's bytes), in the order finished.
    pub done: Vec<(u64, u64)>,
}

fn decode(value: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| "a value is not UTF-8".to_string())
}

impl DownloadCheckpoint {
    /// The file's bytes.
    pub fn encode(&self) -> Vec<u8> {
        let fields = [
            ("bucket", self.bucket.clone()),
            ("key", self.key.clone()),
            ("version_id", self.version_id.clone()),
            ("target", self.target.to_string_lossy().into_owned()),
            ("temp", self.temp.to_string_lossy().into_owned()),
            ("size", self.size.to_string()),
            ("etag", self.etag.clone()),
            ("last_modified", self.last_modified.clone()),
            (
                "crc64",
                self.crc64.map(|c| c.to_string()).unwrap_or_default(),
            ),
            ("part_size", self.part_size.to_string()),
        ];
        let items: Vec<String> = self.done.iter().map(|(i, c)| format!("{i} {c}")).collect();
        encode_record(DOWNLOAD_MAGIC, &fields, &items)
    }

    /// Parses and checks a checkpoint; the error says why it cannot be used.
    pub fn decode(bytes: &[u8]) -> Result<DownloadCheckpoint, String> {
        let mut r = decode_record(bytes, DOWNLOAD_MAGIC)?;
        let mut done = Vec::new();
        for item in &r.items {
            let (i, c) = item
                .split_once(' ')
                .ok_or_else(|| format!("malformed part line {item:?}"))?;
            let i: u64 = i
                .parse()
                .map_err(|_| format!("bad part index in {item:?}"))?;
            let c: u64 = c.parse().map_err(|_| format!("bad part crc in {item:?}"))?;
            done.push((i, c));
        }
        let crc_text = r.take("crc64")?;
        let checkpoint = DownloadCheckpoint {
            bucket: r.take("bucket")?,
            key: r.take("key")?,
            version_id: r.take("version_id")?,
            target: PathBuf::from(r.take("target")?),
            temp: PathBuf::from(r.take("temp")?),
            size: r.take_u64("size")?,
            etag: r.take("etag")?,
            last_modified: r.take("last_modified")?,
            crc64: if crc_text.is_empty() {
                None
            } else {
                Some(
                    crc_text
                        .parse()
                        .map_err(|_| "field crc64 is not a number")?,
                )
            },
            part_size: r.take_u64("part_size")?,
            done,
        };
        if checkpoint.part_size == 0 {
            return Err("part size 0".into());
        }
        let parts = checkpoint.size.div_ceil(checkpoint.part_size);
        let mut seen = std::collections::HashSet::new();
        for (i, _) in &checkpoint.done {
            if *i >= parts || !seen.insert(*i) {
                return Err(format!("part {i} is out of range or listed twice"));
            }
        }
        Ok(checkpoint)
    }
}

/// A short hex digest naming the checkpoint of one transfer: the SHA-256 of its
/// identity parts, each NUL-terminated so no two identities collide by shifting.
pub(crate) fn identity_hash(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for part in parts {
        h.update(part.as_bytes());
        h.update([0u8]);
    }
    h.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Writes `bytes` to `path` atomically: a temporary file beside it (mode 0600),
/// fsync, rename, fsync of the directory.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let tmp = dir.join(format!(
        ".{}.{:016x}.tmp",
        path.file_name()
            .map(|n| n.to_string_lossy())
            .unwrap_or_default(),
        fastrand::u64(..)
    ));
    let result = (|| {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        fs::rename(&tmp, path)?;
        sync_dir(dir)
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}

/// Makes a rename or creation in `dir` durable.
pub(crate) fn sync_dir(dir: &Path) -> std::io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> DownloadCheckpoint {
        DownloadCheckpoint {
            bucket: "bkt".into(),
            key: "dir/key with\nnewline=and%".into(),
            version_id: String::new(),
            target: PathBuf::from("/tmp/target file"),
            temp: PathBuf::from("/tmp/target file.ossr-0011"),
            size: 1000,
            etag: "\"ABC\"".into(),
            last_modified: "Wed, 28 Dec 2022 10:27:41 GMT".into(),
            crc64: Some(42),
            part_size: 300,
            done: vec![(2, 7), (0, 9)],
        }
    }

    #[test]
    fn round_trips_including_awkward_values() {
        let c = sample();
        assert_eq!(DownloadCheckpoint::decode(&c.encode()).unwrap(), c);
        let mut no_crc = sample();
        no_crc.crc64 = None;
        assert_eq!(
            DownloadCheckpoint::decode(&no_crc.encode()).unwrap(),
            no_crc
        );
    }

    #[test]
    fn truncated_corrupt_or_foreign_bytes_are_refused() {
        let bytes = sample().encode();
        for cut in [0, 10, bytes.len() / 2, bytes.len() - 1] {
            assert!(
                DownloadCheckpoint::decode(&bytes[..cut]).is_err(),
                "cut {cut}"
            );
        }
        let mut flipped = bytes.clone();
        flipped[40] ^= 1;
        assert!(
            DownloadCheckpoint::decode(&flipped)
                .unwrap_err()
                .contains("checksum")
        );
        assert!(DownloadCheckpoint::decode(b"{\"json\": true}").is_err());
    }

    #[test]
    fn parts_out_of_range_or_repeated_are_refused() {
        let mut c = sample();
        c.done = vec![(4, 1)];
        assert!(DownloadCheckpoint::decode(&c.encode()).is_err());
        c.done = vec![(1, 1), (1, 1)];
        assert!(DownloadCheckpoint::decode(&c.encode()).is_err());
    }

    #[test]
    fn written_atomically_and_owner_only() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c");
        write_atomic(&path, b"one").unwrap();
        write_atomic(&path, b"two").unwrap();
        assert_eq!(fs::read(&path).unwrap(), b"two");
        assert_eq!(
            fs::metadata(&path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        assert_eq!(
            fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary left"
        );
    }
}
