//! Checkpoints: what a resumed transfer may trust.
//!
//! A checkpoint is untrusted input. It is a small versioned text file whose last line
//! is the SHA-256 of everything before it; it is written atomically (temporary file,
//! fsync, rename, fsync of the directory), readable only by its owner, and holds no
//! credential. Values are percent-encoded so no value can forge a line.

//!
//! Each transfer kind has its codec beside it: [`download`] with its pure verdict
//! ("bytes -> what may be resumed"), and the two kinds that write an object in parts,
//! [`upload`] and [`copy`], which share one verdict ([`multipart_verdict`]) through
//! [`MultipartCheckpoint`].

use sha2::{Digest, Sha256};

use crate::signing::percent_encode;

pub(crate) mod copy;
pub(crate) mod download;
pub(crate) mod upload;

/// What became of a transfer's checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CheckpointState {
    /// The object or file was below the threshold: no checkpoint.
    NotUsed,
    /// There was none: the transfer started from scratch.
    NotFound,
    /// A valid checkpoint was resumed.
    Resumed,
    /// A checkpoint was found but unusable; the reason is given. The transfer
    /// started from scratch.
    Discarded(String),
}

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

fn decode(value: &str) -> Result<String, String> {
    percent_encoding::percent_decode_str(value)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| "a value is not UTF-8".to_string())
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

/// How many stopped Initiates a multipart checkpoint remembers (the newest).
pub(crate) const MAX_STOPPED_INITIATES: usize = 16;

/// What the shared verdict and the shared start of a multipart upload need of a kind's
/// checkpoint (upload, server-side copy): its codec, what makes two checkpoints the
/// same transfer, what would stop one from continuing, and its upload's marker.
pub(crate) trait MultipartCheckpoint: Sized {
    /// A finished part as the kind's worker hands it over.
    type Done;
    /// The checkpoint's bytes.
    fn encode(&self) -> Vec<u8>;
    /// Parses a checkpoint; the error says why it cannot be used.
    fn decode(bytes: &[u8]) -> Result<Self, String>;
    /// Why `self` is not a checkpoint of the transfer `now` describes (another
    /// object, file or target), if it is not.
    fn other_transfer(&self, now: &Self) -> Option<&'static str>;
    /// Why `self`'s upload cannot continue into `now` (its source changed, other
    /// metadata asked for), part size aside; `None` when it can.
    fn changed_from(&self, now: &Self) -> Option<String>;
    /// The part size the upload was planned with.
    fn part_size(&self) -> u64;
    /// The upload id (empty in a marker: Initiate in flight).
    fn upload_id(&self) -> &str;
    /// When the in-flight Initiate started (seconds, our clock); 0 once the id is
    /// known.
    fn initiate_started(&self) -> u64;
    /// Start times of earlier runs' stopped Initiates the checkpoint remembers.
    fn stopped_initiates(&self) -> &[u64];
    /// Sets the remembered stopped Initiates.
    fn set_stopped_initiates(&mut self, times: Vec<u64>);
    /// Sets the upload id (empty while Initiate is in flight) and when that
    /// Initiate started (0 once the id is known).
    fn set_marker(&mut self, upload_id: String, initiate_started: u64);
    /// Records finished part `number` (from 1).
    fn add_done(&mut self, number: u32, done: Self::Done);
    /// The numbers (from 1) of the parts recorded as finished.
    fn done_numbers(&self) -> Vec<u32>;
}

/// What a multipart checkpoint's bytes allow this run to do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum MultipartVerdict<C> {
    /// Nothing to resume or clean up; the reason.
    Unusable(String),
    /// A run stopped between starting Initiate and recording its answer: the start
    /// times of every such stopped Initiate (newest [`MAX_STOPPED_INITIATES`]), to
    /// find the uploads they may have made.
    StoppedInitiate(Vec<u64>),
    /// The upload cannot be continued (its source, metadata or part size changed):
    /// abort it. `stopped` are the earlier stopped Initiates it remembered.
    Superseded {
        upload_id: String,
        why: String,
        stopped: Vec<u64>,
    },
    /// Continue this upload (its parts still to be confirmed by ListParts).
    Resume(C),
}

/// Judges a multipart checkpoint's bytes against this run: `now` describes the
/// transfer as it is now with the planned part size; `requested_part_size` is the
/// caller's explicit choice, if any (an automatic size defers to the checkpoint's).
pub(crate) fn multipart_verdict<C: MultipartCheckpoint>(
    bytes: &[u8],
    now: &C,
    requested_part_size: Option<u64>,
) -> MultipartVerdict<C> {
    let c = match C::decode(bytes) {
        Ok(c) => c,
        Err(why) => return MultipartVerdict::Unusable(why),
    };
    if let Some(why) = c.other_transfer(now) {
        return MultipartVerdict::Unusable(why.into());
    }
    if c.upload_id().is_empty() {
        let mut stopped = c.stopped_initiates().to_vec();
        stopped.push(c.initiate_started());
        let excess = stopped.len().saturating_sub(MAX_STOPPED_INITIATES);
        stopped.drain(..excess);
        return MultipartVerdict::StoppedInitiate(stopped);
    }
    let why = c.changed_from(now).or_else(|| {
        (requested_part_size.is_some() && c.part_size() != now.part_size()).then(|| {
            format!(
                "the part size changed ({} then, {} now)",
                c.part_size(),
                now.part_size()
            )
        })
    });
    match why {
        Some(why) => MultipartVerdict::Superseded {
            upload_id: c.upload_id().to_string(),
            why,
            stopped: c.stopped_initiates().to_vec(),
        },
        None => MultipartVerdict::Resume(c),
    }
}

/// The marker fields every multipart checkpoint encodes (part size, upload id,
/// in-flight Initiate, stopped Initiates), in their record form.
pub(crate) fn encode_marker<C: MultipartCheckpoint>(c: &C) -> [(&'static str, String); 4] {
    [
        ("part_size", c.part_size().to_string()),
        ("upload_id", c.upload_id().to_string()),
        ("initiate_started", c.initiate_started().to_string()),
        (
            "stopped_initiates",
            c.stopped_initiates()
                .iter()
                .map(u64::to_string)
                .collect::<Vec<_>>()
                .join(" "),
        ),
    ]
}

/// The marker fields of [`encode_marker`] read back: (part size, upload id,
/// in-flight Initiate's start, stopped Initiates). The last two may be absent
/// (checkpoints written before they existed: none pending).
pub(crate) fn decode_marker(r: &mut Record) -> Result<(u64, String, u64, Vec<u64>), String> {
    let part_size = r.take_u64("part_size")?;
    let upload_id = r.take("upload_id")?;
    let started = match r.take("initiate_started") {
        Err(_) => 0,
        Ok(v) => v
            .parse()
            .map_err(|_| "field initiate_started is not a number".to_string())?,
    };
    let stopped = match r.take("stopped_initiates") {
        Err(_) => Vec::new(),
        Ok(v) => v
            .split_whitespace()
            .map(|t| t.parse::<u64>())
            .collect::<Result<_, _>>()
            .map_err(|_| "field stopped_initiates is not a list of numbers".to_string())?,
    };
    Ok((part_size, upload_id, started, stopped))
}

/// Refuses a part size no run could use for an object of `size` bytes, and part
/// numbers outside its plan or listed twice.
pub(crate) fn check_plan(
    size: u64,
    part_size: u64,
    numbers: impl Iterator<Item = u32>,
) -> Result<(), String> {
    use crate::transfer::plan::{MAX_PART_SIZE, MAX_PARTS, MIN_PART_SIZE};
    if !(MIN_PART_SIZE..=MAX_PART_SIZE).contains(&part_size) || size.div_ceil(part_size) > MAX_PARTS
    {
        return Err(format!("its part size {part_size} is not allowed"));
    }
    let parts = size.div_ceil(part_size);
    let mut seen = std::collections::HashSet::new();
    for n in numbers {
        if n == 0 || u64::from(n) > parts || !seen.insert(n) {
            return Err(format!("part {n} is out of range or listed twice"));
        }
    }
    Ok(())
}

/// A finished part's line: number, CRC-64 (`-` when unknown) and ETag
/// (percent-encoded), the form both multipart codecs record.
pub(crate) fn encode_part(number: u32, crc: Option<u64>, etag: &str) -> String {
    let crc = crc.map(|c| c.to_string()).unwrap_or_else(|| "-".into());
    format!("{number} {crc} {}", percent_encode(etag, false))
}

/// A line of [`encode_part`] read back.
pub(crate) fn decode_part(item: &str) -> Result<(u32, Option<u64>, String), String> {
    let mut it = item.splitn(3, ' ');
    let (Some(n), Some(crc), Some(etag)) = (it.next(), it.next(), it.next()) else {
        return Err(format!("malformed part line {item:?}"));
    };
    let n: u32 = n
        .parse()
        .map_err(|_| format!("bad part number in {item:?}"))?;
    let crc = match crc {
        "-" => None,
        c => Some(c.parse().map_err(|_| format!("bad part crc in {item:?}"))?),
    };
    let etag = percent_encoding::percent_decode_str(etag)
        .decode_utf8()
        .map_err(|_| "bad etag".to_string())?
        .into_owned();
    Ok((n, crc, etag))
}
