//! The server-side copy checkpoint: its codec, and what the shared multipart verdict
//! needs of it.

use super::{
    MultipartCheckpoint, check_plan, decode_marker, decode_part, decode_record, encode_marker,
    encode_part, encode_record,
};

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
    /// recorded (newest [`MAX_STOPPED_INITIATES`](super::MAX_STOPPED_INITIATES) kept).
    pub stopped_initiates: Vec<u64>,
    /// Finished parts: (number, ETag, CRC-64 when the server reported it).
    pub done: Vec<(u32, String, Option<u64>)>,
}

impl CopyCheckpoint {
    pub fn encode(&self) -> Vec<u8> {
        let s = &self.source;
        let mut fields = vec![
            ("source_bucket", s.bucket.clone()),
            ("source_key", s.key.clone()),
            ("source_size", s.size.to_string()),
            ("source_etag", s.etag.clone()),
            (
                "source_crc",
                s.crc64.map(|c| c.to_string()).unwrap_or_else(|| "-".into()),
            ),
            ("bucket", self.bucket.clone()),
            ("key", self.key.clone()),
            ("headers_digest", self.headers_digest.clone()),
        ];
        fields.extend(encode_marker(self));
        let items: Vec<String> = self
            .done
            .iter()
            .map(|(n, etag, crc)| encode_part(*n, *crc, etag))
            .collect();
        encode_record(COPY_MAGIC, &fields, &items)
    }

    pub fn decode(bytes: &[u8]) -> Result<CopyCheckpoint, String> {
        let mut r = decode_record(bytes, COPY_MAGIC)?;
        let done = r
            .items
            .iter()
            .map(|item| decode_part(item).map(|(n, crc, etag)| (n, etag, crc)))
            .collect::<Result<Vec<_>, _>>()?;
        let (part_size, upload_id, initiate_started, stopped_initiates) = decode_marker(&mut r)?;
        let source_crc = match r.take("source_crc")?.as_str() {
            "-" => None,
            c => Some(
                c.parse()
                    .map_err(|_| "source_crc is not a number".to_string())?,
            ),
        };
        let c = CopyCheckpoint {
            source: SourceIdentity {
                bucket: r.take("source_bucket")?,
                key: r.take("source_key")?,
                size: r.take_u64("source_size")?,
                etag: r.take("source_etag")?,
                crc64: source_crc,
            },
            bucket: r.take("bucket")?,
            key: r.take("key")?,
            headers_digest: r.take("headers_digest")?,
            part_size,
            upload_id,
            initiate_started,
            stopped_initiates,
            done,
        };
        check_plan(c.source.size, c.part_size, c.done.iter().map(|d| d.0))?;
        Ok(c)
    }
}

impl MultipartCheckpoint for CopyCheckpoint {
    /// The part's ETag and CRC-64 (when the answer has one).
    type Done = (String, Option<u64>);

    fn encode(&self) -> Vec<u8> {
        CopyCheckpoint::encode(self)
    }

    fn decode(bytes: &[u8]) -> Result<Self, String> {
        CopyCheckpoint::decode(bytes)
    }

    fn other_transfer(&self, now: &Self) -> Option<&'static str> {
        let (s, n) = (&self.source, &now.source);
        let same = s.bucket == n.bucket
            && s.key == n.key
            && self.bucket == now.bucket
            && self.key == now.key;
        (!same).then_some("it belongs to another copy")
    }

    fn changed_from(&self, now: &Self) -> Option<String> {
        if self.source != now.source {
            Some("the source object changed since the checkpoint was written".into())
        } else if self.headers_digest != now.headers_digest {
            Some("the metadata asked for changed".into())
        } else {
            None
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checkpoint::{MultipartVerdict, multipart_verdict};
    use crate::transfer::plan::MIN_PART_SIZE;

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
            multipart_verdict(&c.encode(), &expect, None),
            MultipartVerdict::Resume(c.clone())
        );
        let changed = CopyCheckpoint {
            source: SourceIdentity {
                etag: "\"NEW\"".into(),
                ..c.source.clone()
            },
            ..expect.clone()
        };
        assert!(matches!(
            multipart_verdict(&c.encode(), &changed, None),
            MultipartVerdict::Superseded { ref upload_id, .. } if upload_id == "U1"
        ));
        let other_metadata = CopyCheckpoint {
            headers_digest: "d2".into(),
            ..expect.clone()
        };
        assert!(matches!(
            multipart_verdict(&c.encode(), &other_metadata, None),
            MultipartVerdict::Superseded { .. }
        ));
        let other_target = CopyCheckpoint {
            key: "k2".into(),
            ..expect.clone()
        };
        assert!(matches!(
            multipart_verdict(&c.encode(), &other_target, None),
            MultipartVerdict::Unusable(_)
        ));
        let marker = CopyCheckpoint {
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
}
