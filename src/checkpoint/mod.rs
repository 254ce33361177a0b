//! Checkpoints: what a resumed transfer may trust.
//!
//! A checkpoint is untrusted input. It is a small versioned text file whose last line
//! is the SHA-256 of everything before it; it is written atomically (temporary file,
//! fsync, rename, fsync of the directory), readable only by its owner, and holds no
//! credential. Values are percent-encoded so no value can forge a line.

//!
//! Each transfer kind has its codec and a pure verdict ("bytes -> what may be
//! resumed") beside it: [`download`], [`upload`].

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
