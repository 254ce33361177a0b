//! The upload checkpoint: its codec and the verdict on what a resume may trust.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{decode_record, encode_record};
use crate::error::{Error, Result};
use crate::transfer::fsio::crc_of_range;
use crate::transfer::plan::{MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE};

const UPLOAD_MAGIC: &str = "oss_resume upload checkpoint v1";
const SWEEP_MAGIC: &str = "oss_resume upload sweep journal v1";
/// Bytes read from each end of the file for its identity.
const IDENTITY_SPAN: u64 = 1024 * 1024;

/// What identifies a file's contents cheaply: size, modification time, inode and
/// device, and the CRC-64 of its first and last MiB.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct FileIdentity {
    pub size: u64,
    pub mtime_ns: i128,
    pub ino: u64,
    pub dev: u64,
    pub head_crc: u64,
    pub tail_crc: u64,
}

impl FileIdentity {
    /// Reads a file's identity (its metadata and the CRC-64 of its first and last
    /// MiB).
    pub(crate) fn of(file: &File, path: &Path) -> Result<FileIdentity> {
        let io = |e| Error::io(format!("reading {}", path.display()), e);
        let m = file.metadata().map_err(io)?;
        let mut buf = vec![0u8; 256 * 1024];
        let size = m.len();
        let head = size.min(IDENTITY_SPAN);
        let tail_start = size.saturating_sub(IDENTITY_SPAN);
        Ok(FileIdentity {
            size,
            mtime_ns: i128::from(m.mtime()) * 1_000_000_000 + i128::from(m.mtime_nsec()),
            ino: m.ino(),
            dev: m.dev(),
            head_crc: crc_of_range(file, 0, head, &mut buf).map_err(io)?,
            tail_crc: crc_of_range(file, tail_start, size - tail_start, &mut buf).map_err(io)?,
        })
    }
}

/// Everything an upload checkpoint records (no credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct UploadCheckpoint {
    pub bucket: String,
    pub key: String,
    pub file: PathBuf,
    pub identity: FileIdentity,
    pub part_size: u64,
    /// Empty while InitiateMultipartUpload is in flight: the checkpoint is then a
    /// marker that lets the next run find the upload a crash left unrecorded.
    pub upload_id: String,
    /// When the in-flight Initiate started (seconds since the epoch, our clock); 0
    /// once the upload id is known.
    pub initiate_started: u64,
    /// Start times of earlier runs' Initiates that were stopped before their answer
    /// was recorded (at most [`MAX_STOPPED_INITIATES`], newest kept). Each was swept
    /// for when found; the run that completes the upload sweeps again, in case one
    /// reached the server after that.
    pub stopped_initiates: Vec<u64>,
    /// Finished parts: (number, ETag, CRC-64).
    pub done: Vec<(u32, String, u64)>,
}

/// How many stopped Initiates a checkpoint remembers.
pub(crate) const MAX_STOPPED_INITIATES: usize = 16;

impl UploadCheckpoint {
    pub fn encode(&self) -> Vec<u8> {
        let i = &self.identity;
        let fields = [
            ("bucket", self.bucket.clone()),
            ("key", self.key.clone()),
            ("file", self.file.to_string_lossy().into_owned()),
            ("size", i.size.to_string()),
            ("mtime_ns", i.mtime_ns.to_string()),
            ("ino", i.ino.to_string()),
            ("dev", i.dev.to_string()),
            ("head_crc", i.head_crc.to_string()),
            ("tail_crc", i.tail_crc.to_string()),
            ("part_size", self.part_size.to_string()),
            ("upload_id", self.upload_id.clone()),
            ("initiate_started", self.initiate_started.to_string()),
            (
                "stopped_initiates",
                self.stopped_initiates
                    .iter()
                    .map(u64::to_string)
                    .collect::<Vec<_>>()
                    .join(" "),
            ),
        ];
        let items: Vec<String> = self
            .done
            .iter()
            .map(|(n, etag, crc)| {
                format!("{n} {crc} {}", crate::signing::percent_encode(etag, false))
            })
            .collect();
        encode_record(UPLOAD_MAGIC, &fields, &items)
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<UploadCheckpoint, String> {
        let mut r = decode_record(bytes, UPLOAD_MAGIC)?;
        let mut done = Vec::new();
        for item in &r.items {
            let mut it = item.splitn(3, ' ');
            let (n, crc, etag) = match (it.next(), it.next(), it.next()) {
                (Some(n), Some(c), Some(e)) => (n, c, e),
                _ => return Err(format!("malformed part line {item:?}")),
            };
            let n: u32 = n
                .parse()
                .map_err(|_| format!("bad part number in {item:?}"))?;
            let crc: u64 = crc
                .parse()
                .map_err(|_| format!("bad part crc in {item:?}"))?;
            let etag = percent_encoding::percent_decode_str(etag)
                .decode_utf8()
                .map_err(|_| "bad etag".to_string())?
                .into_owned();
            done.push((n, etag, crc));
        }
        let mtime_ns: i128 = r
            .take("mtime_ns")?
            .parse()
            .map_err(|_| "field mtime_ns is not a number".to_string())?;
        Ok(UploadCheckpoint {
            bucket: r.take("bucket")?,
            key: r.take("key")?,
            file: PathBuf::from(r.take("file")?),
            identity: FileIdentity {
                size: r.take_u64("size")?,
                mtime_ns,
                ino: r.take_u64("ino")?,
                dev: r.take_u64("dev")?,
                head_crc: r.take_u64("head_crc")?,
                tail_crc: r.take_u64("tail_crc")?,
            },
            part_size: r.take_u64("part_size")?,
            upload_id: r.take("upload_id")?,
            // Absent from checkpoints written before the field existed: not pending.
            initiate_started: match r.take("initiate_started") {
                Err(_) => 0,
                Ok(v) => v
                    .parse()
                    .map_err(|_| "field initiate_started is not a number".to_string())?,
            },
            // Absent from checkpoints written before the field existed: none.
            stopped_initiates: match r.take("stopped_initiates") {
                Err(_) => Vec::new(),
                Ok(v) => v
                    .split_whitespace()
                    .map(|t| t.parse::<u64>())
                    .collect::<std::result::Result<_, _>>()
                    .map_err(|_| "field stopped_initiates is not a list of numbers".to_string())?,
            },
            done,
        })
        .and_then(UploadCheckpoint::checked)
    }

    /// Refuses a part size a run could not use, and parts outside the plan.
    fn checked(self) -> std::result::Result<UploadCheckpoint, String> {
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size)
            || self.identity.size.div_ceil(self.part_size) > MAX_PARTS
        {
            return Err(format!("its part size {} is not allowed", self.part_size));
        }
        let parts = self.identity.size.div_ceil(self.part_size);
        let mut seen = std::collections::HashSet::new();
        for (n, _, _) in &self.done {
            if *n == 0 || u64::from(*n) > parts || !seen.insert(*n) {
                return Err(format!("part {n} is out of range or listed twice"));
            }
        }
        Ok(self)
    }
}

/// The start times (seconds, our clock) of stopped Initiates of one key that may
/// still reach the server after the upload they belonged to completed: kept after
/// that upload's checkpoint is gone, so the next run of the key sweeps for them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SweepJournal {
    pub bucket: String,
    pub key: String,
    pub times: Vec<u64>,
}

impl SweepJournal {
    pub fn encode(&self) -> Vec<u8> {
        let fields = [("bucket", self.bucket.clone()), ("key", self.key.clone())];
        let items: Vec<String> = self.times.iter().map(u64::to_string).collect();
        encode_record(SWEEP_MAGIC, &fields, &items)
    }

    /// Parses a journal; the error says why it cannot be used.
    pub fn decode(bytes: &[u8]) -> std::result::Result<SweepJournal, String> {
        let mut r = decode_record(bytes, SWEEP_MAGIC)?;
        let times = r
            .items
            .iter()
            .map(|t| t.parse::<u64>().map_err(|_| format!("bad time {t:?}")))
            .collect::<std::result::Result<_, _>>()?;
        Ok(SweepJournal {
            bucket: r.take("bucket")?,
            key: r.take("key")?,
            times,
        })
    }

    /// The times an Initiate started at could still take effect at `now`: OSS refuses
    /// a request whose signed time is more than 15 minutes off, so after `late_by`
    /// seconds a stopped Initiate can no longer arrive.
    pub fn live(&self, now: u64, late_by: u64) -> Vec<u64> {
        self.times
            .iter()
            .copied()
            .filter(|t| t.saturating_add(late_by) > now)
            .collect()
    }
}

/// What an upload checkpoint's bytes allow this run to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum UploadVerdict {
    /// Nothing to resume or clean up; the reason.
    Unusable(String),
    /// A run stopped between starting Initiate and recording its answer: the start
    /// times of every such stopped Initiate (newest [`MAX_STOPPED_INITIATES`]), to
    /// find the uploads they may have made.
    StoppedInitiate(Vec<u64>),
    /// The upload cannot be continued (the file or the part size changed): abort
    /// it. `stopped` are the earlier stopped Initiates it remembered.
    Superseded {
        upload_id: String,
        why: String,
        stopped: Vec<u64>,
    },
    /// Continue this upload (its parts still to be confirmed by ListParts).
    Resume(UploadCheckpoint),
}

/// Judges a checkpoint's bytes against this run: `expect` holds the bucket, key,
/// file, its identity now and the planned part size; `requested_part_size` is the
/// caller's explicit choice, if any (an automatic size defers to the checkpoint's).
pub(crate) fn verdict(
    bytes: &[u8],
    expect: &UploadCheckpoint,
    requested_part_size: Option<u64>,
) -> UploadVerdict {
    let c = match UploadCheckpoint::decode(bytes) {
        Ok(c) => c,
        Err(why) => return UploadVerdict::Unusable(why),
    };
    if c.bucket != expect.bucket || c.key != expect.key || c.file != expect.file {
        return UploadVerdict::Unusable("it belongs to another upload".into());
    }
    if c.upload_id.is_empty() {
        let mut stopped = c.stopped_initiates.clone();
        stopped.push(c.initiate_started);
        let excess = stopped.len().saturating_sub(MAX_STOPPED_INITIATES);
        stopped.drain(..excess);
        return UploadVerdict::StoppedInitiate(stopped);
    }
    let why = if c.identity != expect.identity {
        Some("the file changed since the checkpoint was written".to_string())
    } else if requested_part_size.is_some() && c.part_size != expect.part_size {
        Some(format!(
            "the part size changed ({} then, {} now)",
            c.part_size, expect.part_size
        ))
    } else {
        None
    };
    match why {
        Some(why) => UploadVerdict::Superseded {
            upload_id: c.upload_id,
            why,
            stopped: c.stopped_initiates,
        },
        None => UploadVerdict::Resume(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn checkpoint_round_trips_and_refuses_corruption() {
        let c = UploadCheckpoint {
            bucket: "b".into(),
            key: "k with space".into(),
            file: PathBuf::from("/tmp/f"),
            identity: FileIdentity {
                size: 10,
                mtime_ns: -5,
                ino: 1,
                dev: 2,
                head_crc: 3,
                tail_crc: 4,
            },
            part_size: 102_400,
            upload_id: "U1".into(),
            initiate_started: 0,
            stopped_initiates: vec![1_790_000_000, 1_790_000_100],
            done: vec![(1, "\"ETAG 1\"".into(), 99)],
        };
        let bytes = c.encode();
        assert_eq!(UploadCheckpoint::decode(&bytes).unwrap(), c);
        let none = UploadCheckpoint {
            stopped_initiates: Vec::new(),
            ..c.clone()
        };
        assert_eq!(UploadCheckpoint::decode(&none.encode()).unwrap(), none);
        let mut bad = bytes.clone();
        bad[20] ^= 1;
        assert!(UploadCheckpoint::decode(&bad).is_err());
        assert!(!String::from_utf8(bytes).unwrap().contains("secret"));
    }

    fn sample() -> UploadCheckpoint {
        UploadCheckpoint {
            bucket: "b".into(),
            key: "k".into(),
            file: PathBuf::from("/tmp/f"),
            identity: FileIdentity {
                size: 3 * MIN_PART_SIZE,
                mtime_ns: 1,
                ino: 1,
                dev: 2,
                head_crc: 3,
                tail_crc: 4,
            },
            part_size: MIN_PART_SIZE,
            upload_id: "U1".into(),
            initiate_started: 0,
            stopped_initiates: vec![7],
            done: vec![(2, "E2".into(), 9)],
        }
    }

    #[test]
    fn a_part_size_of_0_or_below_the_minimum_is_refused_not_divided_by() {
        for bad in [0, 1000, MAX_PART_SIZE + 1] {
            let c = UploadCheckpoint {
                part_size: bad,
                ..sample()
            };
            let why = UploadCheckpoint::decode(&c.encode()).unwrap_err();
            assert!(why.contains("part size"), "{bad}: {why}");
        }
        let c = UploadCheckpoint {
            done: vec![(4, "E".into(), 1)],
            ..sample()
        };
        assert!(
            UploadCheckpoint::decode(&c.encode()).is_err(),
            "part 4 of 3"
        );
    }

    #[test]
    fn verdict_resumes_supersedes_or_sweeps() {
        let c = sample();
        let expect = UploadCheckpoint {
            done: Vec::new(),
            upload_id: String::new(),
            ..c.clone()
        };
        assert_eq!(
            verdict(&c.encode(), &expect, None),
            UploadVerdict::Resume(c.clone())
        );
        let other = UploadCheckpoint {
            key: "k2".into(),
            ..expect.clone()
        };
        assert!(matches!(
            verdict(&c.encode(), &other, None),
            UploadVerdict::Unusable(_)
        ));
        let changed = UploadCheckpoint {
            identity: FileIdentity {
                mtime_ns: 2,
                ..c.identity.clone()
            },
            ..expect.clone()
        };
        match verdict(&c.encode(), &changed, None) {
            UploadVerdict::Superseded {
                upload_id, stopped, ..
            } => {
                assert_eq!(upload_id, "U1");
                assert_eq!(stopped, vec![7]);
            }
            v => panic!("{v:?}"),
        }
        let marker = UploadCheckpoint {
            upload_id: String::new(),
            initiate_started: 50,
            ..c.clone()
        };
        assert_eq!(
            verdict(&marker.encode(), &expect, None),
            UploadVerdict::StoppedInitiate(vec![7, 50])
        );
        assert!(matches!(
            verdict(b"garbage", &expect, None),
            UploadVerdict::Unusable(_)
        ));
    }

    #[test]
    fn a_sweep_journal_round_trips_and_forgets_times_that_can_no_longer_land() {
        let j = SweepJournal {
            bucket: "b".into(),
            key: "k\nwith newline".into(),
            times: vec![100, 2000],
        };
        assert_eq!(SweepJournal::decode(&j.encode()).unwrap(), j);
        assert!(SweepJournal::decode(b"nonsense").is_err());
        assert_eq!(j.live(2100, 1200), vec![2000]);
        assert!(j.live(5000, 1200).is_empty());
    }
}
