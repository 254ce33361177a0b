//! The server-side copy checkpoint: its codec and the verdict on what a resume may
//! trust.

use super::{decode_record, encode_record};
use crate::signing::percent_encode;
use crate::transfer::plan::{MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE};

const COPY_MAGIC: &str = "oss_resume copy checkpoint v1";

/// The source version a copy is pinned to: every part carries
/// `x-oss-copy-source-if-match` with this ETag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct SourceIdentity {
    pub bucket: String,
    pub key: String,
    pub size: u64,
    /// Exactly as the server sent it (quoted).
    pub etag: String,
    pub crc64: Option<u64>,
}

/// Everything a copy checkpoint records (no credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CopyCheckpoint {
    pub source: SourceIdentity,
    /// The destination.
    pub bucket: String,
    pub key: String,
    /// A digest of the headers given to Initiate (the metadata the copy gets): a
    /// run asked for other metadata cannot continue this upload.
    pub headers_digest: String,
    pub part_size: u64,
    /// Empty while InitiateMultipartUpload is in flight (a marker).
    pub upload_id: String,
    /// When the in-flight Initiate started (seconds since the epoch); 0 once the
    /// upload id is known.
    pub initiate_started: u64,
    /// Start times of earlier runs' Initiates stopped before their answer was
    /// recorded (newest [`MAX_STOPPED_INITIATES`] kept).
    pub stopped_initiates: Vec<u64>,
    /// Finished parts: (number, ETag, CRC-64 when the server reported it).
    pub done: Vec<(u32, String, Option<u64>)>,
}

/// How many stopped Initiates a checkpoint remembers.
pub(crate) const MAX_STOPPED_INITIATES: usize = 16;

fn opt_u64(v: Option<u64>) -> String {
    v.map(|c| c.to_string()).unwrap_or_else(|| "-".into())
}

fn parse_opt_u64(v: &str, what: &str) -> Result<Option<u64>, String> {
    if v == "-" {
        return Ok(None);
    }
    v.parse()
        .map(Some)
        .map_err(|_| format!("{what} is not a number"))
}

impl CopyCheckpoint {
    pub fn encode(&self) -> Vec<u8> {
        let s = &self.source;
        let fields = [
            ("source_bucket", s.bucket.clone()),
            ("source_key", s.key.clone()),
            ("source_size", s.size.to_string()),
            ("source_etag", s.etag.clone()),
            ("source_crc", opt_u64(s.crc64)),
            ("bucket", self.bucket.clone()),
            ("key", self.key.clone()),
            ("headers_digest", self.headers_digest.clone()),
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
            .map(|(n, etag, crc)| format!("{n} {} {}", opt_u64(*crc), percent_encode(etag, false)))
            .collect();
        encode_record(COPY_MAGIC, &fields, &items)
    }

    pub fn decode(bytes: &[u8]) -> Result<CopyCheckpoint, String> {
        let mut r = decode_record(bytes, COPY_MAGIC)?;
        let mut done = Vec::new();
        for item in &r.items {
            let mut it = item.splitn(3, ' ');
            let (Some(n), Some(crc), Some(etag)) = (it.next(), it.next(), it.next()) else {
                return Err(format!("malformed part line {item:?}"));
            };
            let n: u32 = n
                .parse()
                .map_err(|_| format!("bad part number in {item:?}"))?;
            let crc = parse_opt_u64(crc, "a part's crc")?;
            let etag = percent_encoding::percent_decode_str(etag)
                .decode_utf8()
                .map_err(|_| "bad etag".to_string())?
                .into_owned();
            done.push((n, etag, crc));
        }
        let stopped = r.take("stopped_initiates")?;
        let source_crc = r.take("source_crc")?;
        CopyCheckpoint {
            source: SourceIdentity {
                bucket: r.take("source_bucket")?,
                key: r.take("source_key")?,
                size: r.take_u64("source_size")?,
                etag: r.take("source_etag")?,
                crc64: parse_opt_u64(&source_crc, "source_crc")?,
            },
            bucket: r.take("bucket")?,
            key: r.take("key")?,
            headers_digest: r.take("headers_digest")?,
            part_size: r.take_u64("part_size")?,
            upload_id: r.take("upload_id")?,
            initiate_started: r.take_u64("initiate_started")?,
            stopped_initiates: stopped
                .split_whitespace()
                .map(|t| t.parse::<u64>())
                .collect::<Result<_, _>>()
                .map_err(|_| "field stopped_initiates is not a list of numbers".to_string())?,
            done,
        }
        .checked()
    }

    /// Refuses a part size a run could not use, and parts outside the plan.
    fn checked(self) -> Result<CopyCheckpoint, String> {
        let size = self.source.size;
        if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&self.part_size)
            || size.div_ceil(self.part_size) > MAX_PARTS
        {
            return Err(format!("its part size {} is not allowed", self.part_size));
        }
        let parts = size.div_ceil(self.part_size);
        let mut seen = std::collections::HashSet::new();
        for (n, _, _) in &self.done {
            if *n == 0 || u64::from(*n) > parts || !seen.insert(*n) {
                return Err(format!("part {n} is out of range or listed twice"));
            }
        }
        Ok(self)
    }
}

/// What a copy checkpoint's bytes allow this run to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum CopyVerdict {
    /// Nothing to resume or clean up; the reason.
    Unusable(String),
    /// A run stopped between starting Initiate and recording its answer: the start
    /// times of every such stopped Initiate, to find the uploads they may have made.
    StoppedInitiate(Vec<u64>),
    /// The upload cannot be continued (the source, the metadata or the part size
    /// changed): abort it. `stopped` are the earlier stopped Initiates it remembered.
    Superseded {
        upload_id: String,
        why: String,
        stopped: Vec<u64>,
    },
    /// Continue this upload (its parts still to be confirmed by ListParts).
    Resume(CopyCheckpoint),
}

/// Judges a checkpoint's bytes against this run: `expect` holds the source as HEAD
/// shows it now, the destination, the headers' digest and the planned part size;
/// `requested_part_size` is the caller's explicit choice, if any (an automatic
/// size defers to the checkpoint's).
pub(crate) fn verdict(
    bytes: &[u8],
    expect: &CopyCheckpoint,
    requested_part_size: Option<u64>,
) -> CopyVerdict {
    let c = match CopyCheckpoint::decode(bytes) {
        Ok(c) => c,
        Err(why) => return CopyVerdict::Unusable(why),
    };
    let (s, e) = (&c.source, &expect.source);
    if s.bucket != e.bucket || s.key != e.key || c.bucket != expect.bucket || c.key != expect.key {
        return CopyVerdict::Unusable("it belongs to another copy".into());
    }
    if c.upload_id.is_empty() {
        let mut stopped = c.stopped_initiates.clone();
        stopped.push(c.initiate_started);
        let excess = stopped.len().saturating_sub(MAX_STOPPED_INITIATES);
        stopped.drain(..excess);
        return CopyVerdict::StoppedInitiate(stopped);
    }
    let why = if c.source != expect.source {
        Some("the source object changed since the checkpoint was written".to_string())
    } else if c.headers_digest != expect.headers_digest {
        Some("the metadata asked for changed".to_string())
    } else if requested_part_size.is_some() && c.part_size != expect.part_size {
        Some(format!(
            "the part size changed ({} then, {} now)",
            c.part_size, expect.part_size
        ))
    } else {
        None
    };
    match why {
        Some(why) => CopyVerdict::Superseded {
            upload_id: c.upload_id,
            why,
            stopped: c.stopped_initiates,
        },
        None => CopyVerdict::Resume(c),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> CopyCheckpoint {
        CopyCheckpoint {
            source: SourceIdentity {
                bucket: "src".into(),
                key: "a key/with space".into(),
                size: 3 * MIN_PART_SIZE + 1,
                etag: "\"E-3\"".into(),
                crc64: Some(42),
            },
            bucket: "dst".into(),
            key: "k".into(),
            headers_digest: "d1".into(),
            part_size: MIN_PART_SIZE,
            upload_id: "U1".into(),
            initiate_started: 0,
            stopped_initiates: vec![7],
            done: vec![(2, "\"P 2\"".into(), Some(9)), (4, "\"P4\"".into(), None)],
        }
    }

    #[test]
    fn checkpoint_round_trips_and_refuses_corruption() {
        let c = sample();
        let bytes = c.encode();
        assert_eq!(CopyCheckpoint::decode(&bytes).unwrap(), c);
        let no_crc = CopyCheckpoint {
            source: SourceIdentity {
                crc64: None,
                ..c.source.clone()
            },
            stopped_initiates: Vec::new(),
            ..c.clone()
        };
        assert_eq!(CopyCheckpoint::decode(&no_crc.encode()).unwrap(), no_crc);
        let mut bad = bytes.clone();
        bad[30] ^= 1;
        assert!(CopyCheckpoint::decode(&bad).is_err());
        let out_of_plan = CopyCheckpoint {
            done: vec![(5, "E".into(), None)],
            ..c.clone()
        };
        assert!(CopyCheckpoint::decode(&out_of_plan.encode()).is_err());
        let tiny = CopyCheckpoint {
            part_size: 1000,
            ..c
        };
        assert!(CopyCheckpoint::decode(&tiny.encode()).is_err());
    }

    #[test]
    fn verdict_resumes_supersedes_or_sweeps() {
        let c = sample();
        let expect = CopyCheckpoint {
            upload_id: String::new(),
            done: Vec::new(),
            ..c.clone()
        };
        assert_eq!(
            verdict(&c.encode(), &expect, None),
            CopyVerdict::Resume(c.clone())
        );
        let changed = CopyCheckpoint {
            source: SourceIdentity {
                etag: "\"NEW\"".into(),
                ..c.source.clone()
            },
            ..expect.clone()
        };
        assert!(matches!(
            verdict(&c.encode(), &changed, None),
            CopyVerdict::Superseded { ref upload_id, .. } if upload_id == "U1"
        ));
        let other_metadata = CopyCheckpoint {
            headers_digest: "d2".into(),
            ..expect.clone()
        };
        assert!(matches!(
            verdict(&c.encode(), &other_metadata, None),
            CopyVerdict::Superseded { .. }
        ));
        let other_target = CopyCheckpoint {
            key: "k2".into(),
            ..expect.clone()
        };
        assert!(matches!(
            verdict(&c.encode(), &other_target, None),
            CopyVerdict::Unusable(_)
        ));
        let marker = CopyCheckpoint {
            upload_id: String::new(),
            initiate_started: 50,
            ..c.clone()
        };
        assert_eq!(
            verdict(&marker.encode(), &expect, None),
            CopyVerdict::StoppedInitiate(vec![7, 50])
        );
        assert!(matches!(
            verdict(b"garbage", &expect, None),
            CopyVerdict::Unusable(_)
        ));
    }
}
