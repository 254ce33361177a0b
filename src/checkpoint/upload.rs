//! The upload checkpoint: its codec, what the shared multipart verdict needs of it,
//! and the sweep journal of an upload's stopped Initiates.

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::{
    MultipartCheckpoint, check_plan, decode_marker, decode_part, decode_record, encode_marker,
    encode_part, encode_record,
};
use crate::error::{Error, Result};
use crate::transfer::fsio::crc_of_range;

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
    /// was recorded (at most [`MAX_STOPPED_INITIATES`](super::MAX_STOPPED_INITIATES), newest kept). Each was swept
    /// for when found; the run that completes the upload sweeps again, in case one
    /// reached the server after that.
    pub stopped_initiates: Vec<u64>,
    /// Finished parts: (number, ETag, CRC-64).
    pub done: Vec<(u32, String, u64)>,
}

impl UploadCheckpoint {
    pub fn encode(&self) -> Vec<u8> {
        let i = &self.identity;
        let mut fields = vec![
            ("bucket", self.bucket.clone()),
            ("key", self.key.clone()),
            ("file", self.file.to_string_lossy().into_owned()),
            ("size", i.size.to_string()),
            ("mtime_ns", i.mtime_ns.to_string()),
            ("ino", i.ino.to_string()),
            ("dev", i.dev.to_string()),
            ("head_crc", i.head_crc.to_string()),
            ("tail_crc", i.tail_crc.to_string()),
        ];
        fields.extend(encode_marker(self));
        let items: Vec<String> = self
            .done
            .iter()
            .map(|(n, etag, crc)| encode_part(*n, Some(*crc), etag))
            .collect();
        encode_record(UPLOAD_MAGIC, &fields, &items)
    }

    pub fn decode(bytes: &[u8]) -> std::result::Result<UploadCheckpoint, String> {
        let mut r = decode_record(bytes, UPLOAD_MAGIC)?;
        let done = r
            .items
            .iter()
            .map(|item| match decode_part(item)? {
                (n, Some(crc), etag) => Ok((n, etag, crc)),
                (_, None, _) => Err(format!("bad part crc in {item:?}")),
            })
            .collect::<std::result::Result<Vec<_>, String>>()?;
        let mtime_ns: i128 = r
            .take("mtime_ns")?
            .parse()
            .map_err(|_| "field mtime_ns is not a number".to_string())?;
        let (part_size, upload_id, initiate_started, stopped_initiates) = decode_marker(&mut r)?;
        let c = UploadCheckpoint {
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
            part_size,
            upload_id,
            initiate_started,
            stopped_initiates,
            done,
        };
        check_plan(c.identity.size, c.part_size, c.done.iter().map(|d| d.0))?;
        Ok(c)
    }
}

impl MultipartCheckpoint for UploadCheckpoint {
    /// The part's ETag and CRC-64.
    type Done = (String, u64);

    fn encode(&self) -> Vec<u8> {
        UploadCheckpoint::encode(self)
    }

    fn decode(bytes: &[u8]) -> std::result::Result<Self, String> {
        UploadCheckpoint::decode(bytes)
    }

    fn other_transfer(&self, now: &Self) -> Option<&'static str> {
        let same = self.bucket == now.bucket && self.key == now.key && self.file == now.file;
        (!same).then_some("it belongs to another upload")
    }

    fn changed_from(&self, now: &Self) -> Option<String> {
        (self.identity != now.identity)
            .then(|| "the file changed since the checkpoint was written".into())
    }

    fn part_size(&self) -> u64 {
        self.part_size
    }

    fn upload_id(&self) -> &str {
        &self.upload_id
    }

    fn initiate_started(&self) -> u64 {
        self.initiate_started
    }

    fn stopped_initiates(&self) -> &[u64] {
        &self.stopped_initiates
    }

    fn set_stopped_initiates(&mut self, times: Vec<u64>) {
        self.stopped_initiates = times;
    }

    fn set_marker(&mut self, upload_id: String, initiate_started: u64) {
        self.upload_id = upload_id;
        self.initiate_started = initiate_started;
    }

    fn add_done(&mut self, number: u32, (etag, crc): Self::Done) {
        self.done.push((number, etag, crc));
    }

    fn done_numbers(&self) -> Vec<u32> {
        self.done.iter().map(|(n, _, _)| *n).collect()
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{MultipartVerdict, multipart_verdict};
    use crate::transfer::plan::{MAX_PART_SIZE, MIN_PART_SIZE};

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
            multipart_verdict(&c.encode(), &expect, None),
            MultipartVerdict::Resume(c.clone())
        );
        let other = UploadCheckpoint {
            key: "k2".into(),
            ..expect.clone()
        };
        assert!(matches!(
            multipart_verdict(&c.encode(), &other, None),
            MultipartVerdict::Unusable(_)
        ));
        let changed = UploadCheckpoint {
            identity: FileIdentity {
                mtime_ns: 2,
                ..c.identity.clone()
            },
            ..expect.clone()
        };
        match multipart_verdict(&c.encode(), &changed, None) {
            MultipartVerdict::Superseded {
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
            multipart_verdict(&marker.encode(), &expect, None),
            MultipartVerdict::StoppedInitiate(vec![7, 50])
        );
        assert!(matches!(
            multipart_verdict(b"garbage", &expect, None),
            MultipartVerdict::Unusable(_)
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
