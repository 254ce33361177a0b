//! Starting a multipart upload so that none is ever left unnamed, and finding the
//! ones an interrupted Initiate left: shared by every transfer kind that writes an
//! object in parts (upload, server-side copy).

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use super::fsio::{Durability, write_atomic};
use crate::client::Client;
use crate::error::{Error, Result};

/// What [`Client::start_multipart`] needs of a kind's checkpoint: its encoding, and
/// its upload id and in-flight Initiate's start time.
pub(crate) trait MarkedUpload {
    /// The checkpoint's bytes.
    fn encode(&self) -> Vec<u8>;
    /// Sets the upload id (empty while Initiate is in flight) and when that
    /// Initiate started (seconds since the epoch, our clock; 0 once the id is known).
    fn set_marker(&mut self, upload_id: String, initiate_started: u64);
    /// The upload id (empty in a marker).
    fn upload_id(&self) -> &str;
    /// Start times of earlier runs' stopped Initiates the checkpoint remembers.
    fn stopped_initiates(&self) -> &[u64];
}

/// How far from a crashed Initiate's start (moved to the server's clock) an
/// unrecorded upload of the same key is taken to be its: 2 minutes, for Initiate's
/// retries and the skew estimate's whole seconds.
pub(crate) const ORPHAN_WINDOW: u64 = 120;

pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl Client {
    /// Initiates the multipart upload of `ckpt` (to `target`, bucket and key) so
    /// that no upload can be left that no checkpoint names: a marker checkpoint (no
    /// upload id, the start time) is written first, and replaced by the real one once
    /// `initiate` (which stores how many times it sent the request) returns the id.
    /// Uploads of the same key made by retries of a lost Initiate answer are aborted.
    pub(crate) fn start_multipart<C: MarkedUpload>(
        &self,
        ckpt_path: &Path,
        mut ckpt: C,
        target: (&str, &str),
        initiate: impl FnOnce(&mut u32) -> Result<String>,
        aborted: &mut u64,
    ) -> Result<C> {
        let (bucket, key) = target;
        let started = SystemTime::now();
        let since = unix_secs(started);
        ckpt.set_marker(String::new(), since);
        write_atomic(ckpt_path, &ckpt.encode(), Durability::Fsync)
            .map_err(|e| Error::io(format!("writing the checkpoint {}", ckpt_path.display()), e))?;
        let mut sent = 0;
        let upload_id = match initiate(&mut sent) {
            Ok(id) => id,
            Err(e) => {
                // One attempt refused by the server (a wrong secret, no such bucket)
                // made no upload: the marker goes, unless it remembers others.
                let refused = sent == 1 && e.status().is_some_and(|s| (400..500).contains(&s));
                if refused {
                    if ckpt.stopped_initiates().is_empty() {
                        let _ = fs::remove_file(ckpt_path);
                    }
                    return Err(e);
                }
                // The server may have made the upload and lost the answer. Clean up
                // now if we can; otherwise the marker stays for the next run.
                // The marker also stays while it carries earlier stopped Initiates.
                if let Ok(n) = self.abort_orphans(bucket, key, &[since], None) {
                    *aborted += n;
                    if ckpt.stopped_initiates().is_empty() {
                        let _ = fs::remove_file(ckpt_path);
                    }
                }
                return Err(e);
            }
        };
        ckpt.set_marker(upload_id, 0);
        if let Err(e) = write_atomic(ckpt_path, &ckpt.encode(), Durability::Fsync) {
            let _ = self.abort_multipart_upload(bucket, key, ckpt.upload_id());
            let _ = fs::remove_file(ckpt_path);
            return Err(Error::io(
                format!("writing the checkpoint {}", ckpt_path.display()),
                e,
            ));
        }
        // An Initiate that was sent again may have made an upload on an earlier
        // attempt whose answer was lost: that one is ours too, from within the seconds
        // the call took (plus 2 s for the server's whole-second times).
        let took = started.elapsed().unwrap_or_default().as_secs();
        if sent > 1
            && let Ok(n) = self.abort_orphans(bucket, key, &[], Some((ckpt.upload_id(), took + 2)))
        {
            *aborted += n;
        }
        Ok(ckpt)
    }

    /// Aborts the uploads of exactly `key` that an interrupted Initiate of ours may
    /// have made, with one listing. With `ours` (our upload id and how long our
    /// Initiate took, in seconds), they are the others initiated up to that long before
    /// ours, by the server's clock. Without it (crashes left only the start times
    /// `stopped`, by our clock), they are those initiated within [`ORPHAN_WINDOW`] of
    /// any of them, moved to the server's clock by the skew its listing's `Date` shows
    /// (our clock and the server's may be minutes apart; signatures allow 15).
    ///
    /// Another writer starting an upload of the same key in that window would lose
    /// it (and, with this library, start anew): writers of one key already race.
    pub(crate) fn abort_orphans(
        &self,
        bucket: &str,
        key: &str,
        stopped: &[u64],
        ours: Option<(&str, u64)>,
    ) -> Result<u64> {
        self.abort_orphans_of(bucket, key, stopped, ours, None)
    }

    /// [`abort_orphans`](Self::abort_orphans) over the `stopped` windows, never
    /// aborting the upload `spare` (this run's own).
    pub(crate) fn abort_orphans_sparing(
        &self,
        bucket: &str,
        key: &str,
        stopped: &[u64],
        spare: &str,
    ) -> Result<u64> {
        self.abort_orphans_of(bucket, key, stopped, None, Some(spare))
    }

    fn abort_orphans_of(
        &self,
        bucket: &str,
        key: &str,
        stopped: &[u64],
        ours: Option<(&str, u64)>,
        spare: Option<&str>,
    ) -> Result<u64> {
        if ours.is_none() && stopped.is_empty() {
            return Ok(0);
        }
        let (listed, skew) = self.list_multipart_uploads_skew(bucket, key)?;
        let windows: Vec<(u64, u64)> = match ours {
            Some((id, took)) => {
                let Some(t) = listed
                    .iter()
                    .find(|u| u.upload_id == id)
                    .and_then(|m| m.initiated)
                else {
                    return Ok(0);
                };
                let end = unix_secs(t);
                vec![(end.saturating_sub(took), end)]
            }
            None => stopped
                .iter()
                .map(|since| {
                    let since = since.saturating_add_signed(skew.unwrap_or(0));
                    (
                        since.saturating_sub(ORPHAN_WINDOW),
                        since.saturating_add(ORPHAN_WINDOW),
                    )
                })
                .collect(),
        };
        let mut aborted = 0;
        for upload in &listed {
            let Some(initiated) = upload.initiated.map(unix_secs) else {
                continue;
            };
            if upload.key != key
                || ours.is_some_and(|(id, _)| id == upload.upload_id)
                || spare == Some(upload.upload_id.as_str())
                || !windows.iter().any(|w| (w.0..=w.1).contains(&initiated))
            {
                continue;
            }
            if self
                .abort_multipart_upload(bucket, key, &upload.upload_id)
                .is_ok()
            {
                aborted += 1;
            }
        }
        Ok(aborted)
    }
}
