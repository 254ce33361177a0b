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

const MAGIC: &str = "oss_resume download checkpoint v1";

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
        let mut out = String::new();
        out.push_str(MAGIC);
        out.push('\n');
        let mut field = |name: &str, value: &str| {
            out.push_str(name);
            out.push('=');
            out.push_str(&percent_encode(value, true));
            out.push('\n');
        };
        field("bucket", &self.bucket);
        field("key", &self.key);
        field("version_id", &self.version_id);
        field("target", &self.target.to_string_lossy());
        field("temp", &self.temp.to_string_lossy());
        field("size", &self.size.to_string());
        field("etag", &self.etag);
        field("last_modified", &self.last_modified);
        field(
            "crc64",
            &self.crc64.map(|c| c.to_string()).unwrap_or_default(),
        );
        field("part_size", &self.part_size.to_string());
        for (index, crc) in &self.done {
            out.push_str(&format!("part={index} {crc}\n"));
        }
        let digest = Sha256::digest(out.as_bytes());
        out.push_str("sha256=");
        for b in digest {
            out.push_str(&format!("{b:02x}"));
        }
        out.push('\n');
        out.into_bytes()
    }

    /// Parses and checks a checkpoint; the error says why it cannot be used.
    pub fn decode(bytes: &[u8]) -> Result<DownloadCheckpoint, String> {
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
        if lines.next() != Some(MAGIC) {
            return Err("not an oss_resume download checkpoint of this version".into());
        }
        let mut fields = std::collections::HashMap::new();
        let mut done = Vec::new();
        for line in lines {
            let (name, value) = line
                .split_once('=')
                .ok_or_else(|| format!("malformed line {line:?}"))?;
            if name == "part" {
                let (i, c) = value
                    .split_once(' ')
                    .ok_or_else(|| format!("malformed part line {line:?}"))?;
                let i: u64 = i
                    .parse()
                    .map_err(|_| format!("bad part index in {line:?}"))?;
                let c: u64 = c.parse().map_err(|_| format!("bad part crc in {line:?}"))?;
                done.push((i, c));
            } else if fields.insert(name.to_string(), decode(value)?).is_some() {
                return Err(format!("field {name} appears twice"));
            }
        }
        let mut take = |name: &str| {
            fields
                .remove(name)
                .ok_or_else(|| format!("missing field {name}"))
        };
        let number = |name: &str, v: String| {
            v.parse::<u64>()
                .map_err(|_| format!("field {name} is not a number"))
        };
        let crc_text = take("crc64")?;
        let checkpoint = DownloadCheckpoint {
            bucket: take("bucket")?,
            key: take("key")?,
            version_id: take("version_id")?,
            target: PathBuf::from(take("target")?),
            temp: PathBuf::from(take("temp")?),
            size: number("size", take("size")?)?,
            etag: take("etag")?,
            last_modified: take("last_modified")?,
            crc64: if crc_text.is_empty() {
                None
            } else {
                Some(number("crc64", crc_text)?)
            },
            part_size: number("part_size", take("part_size")?)?,
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
