//! The download checkpoint: its codec and the verdict on what a resume may trust.

use std::path::{Path, PathBuf};

use super::{decode_record, encode_record};
use crate::transfer::plan::{MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE};

const DOWNLOAD_MAGIC: &str = "oss_resume download checkpoint v1";

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

/// The temporary file name prefix of a target: `<name>.ossr-`.
pub(crate) fn temp_prefix(target: &Path) -> String {
    format!(
        "{}.ossr-",
        target.file_name().unwrap_or_default().to_string_lossy()
    )
}

/// What a checkpoint's bytes allow, compared with what this run expects (`expect`:
/// the object as HEAD shows it, the target, the planned part size). A pure function:
/// the temporary file itself is checked by the caller. The error says why the
/// checkpoint cannot be resumed.
pub(crate) fn verdict(
    bytes: &[u8],
    expect: &DownloadCheckpoint,
    requested_part_size: Option<u64>,
) -> Result<DownloadCheckpoint, String> {
    let c = DownloadCheckpoint::decode(bytes)?;
    if c.bucket != expect.bucket
        || c.key != expect.key
        || c.version_id != expect.version_id
        || c.target != expect.target
    {
        return Err("it belongs to another object or target".into());
    }
    if c.size != expect.size
        || c.etag != expect.etag
        || c.last_modified != expect.last_modified
        || c.crc64 != expect.crc64
    {
        return Err("the object changed since the checkpoint was written".into());
    }
    if requested_part_size.is_some() && c.part_size != expect.part_size {
        return Err(format!(
            "the part size changed ({} then, {} now)",
            c.part_size, expect.part_size
        ));
    }
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&c.part_size)
        || c.size.div_ceil(c.part_size) > MAX_PARTS
    {
        return Err(format!("its part size {} is not allowed", c.part_size));
    }
    let temp_ok = c.temp.parent() == expect.target.parent()
        && c.temp
            .file_name()
            .and_then(|n| n.to_str())
            .is_some_and(|n| n.starts_with(&temp_prefix(&expect.target)));
    if !temp_ok {
        return Err("its temporary file is not beside the target".into());
    }
    Ok(c)
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

    fn resumable() -> DownloadCheckpoint {
        DownloadCheckpoint {
            part_size: MIN_PART_SIZE,
            size: 3 * MIN_PART_SIZE,
            done: vec![(1, 5)],
            ..sample()
        }
    }

    #[test]
    fn verdict_resumes_only_the_same_object_target_and_a_sane_part_size() {
        let c = resumable();
        let expect = DownloadCheckpoint {
            done: Vec::new(),
            ..c.clone()
        };
        assert_eq!(verdict(&c.encode(), &expect, None).unwrap(), c);
        let other_target = DownloadCheckpoint {
            target: PathBuf::from("/tmp/other"),
            ..expect.clone()
        };
        assert!(
            verdict(&c.encode(), &other_target, None)
                .unwrap_err()
                .contains("another")
        );
        let changed = DownloadCheckpoint {
            etag: "\"X\"".into(),
            ..expect.clone()
        };
        assert!(
            verdict(&c.encode(), &changed, None)
                .unwrap_err()
                .contains("changed")
        );
        let asked = DownloadCheckpoint {
            part_size: 2 * MIN_PART_SIZE,
            ..expect.clone()
        };
        assert!(
            verdict(&c.encode(), &asked, Some(2 * MIN_PART_SIZE))
                .unwrap_err()
                .contains("part size changed")
        );
        assert!(
            verdict(&c.encode(), &asked, None).is_ok(),
            "automatic size: the checkpoint's wins"
        );
        let tiny = DownloadCheckpoint {
            part_size: 1000,
            size: 3000,
            done: Vec::new(),
            ..c.clone()
        };
        let expect_tiny = DownloadCheckpoint { ..tiny.clone() };
        assert!(
            verdict(&tiny.encode(), &expect_tiny, None)
                .unwrap_err()
                .contains("not allowed")
        );
        let elsewhere = DownloadCheckpoint {
            temp: PathBuf::from("/etc/target file.ossr-1"),
            ..c.clone()
        };
        assert!(
            verdict(&elsewhere.encode(), &expect, None)
                .unwrap_err()
                .contains("beside")
        );
    }
}
