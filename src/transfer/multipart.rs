//! What every transfer kind that writes an object in parts (upload, server-side
//! copy) does the same way: settling the checkpoint it finds (resume it, or clean up
//! what cannot be resumed), starting a multipart upload so that none is ever left
//! unnamed, recording finished parts, and finding the uploads an interrupted
//! Initiate left. A kind supplies only what differs: its checkpoint
//! ([`MultipartCheckpoint`]), which listed parts it keeps, and its Initiate.

use std::fs;
use std::path::Path;
use std::time::SystemTime;

use super::cancel::CancelToken;
use super::fsio::{Durability, read_checkpoint, write_atomic};
use super::plan::{Plan, part_number};
use super::pool::{PartRecord, PartWork, Pool};
use super::progress::Reporter;
use crate::checkpoint::{
    CheckpointState, MultipartCheckpoint, MultipartVerdict, multipart_verdict,
};
use crate::client::{Client, RequestOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::xml::ListedPart;

/// How a multipart run begins: the checkpoint to continue, and what was found.
pub(crate) struct Begun<C> {
    pub ckpt: C,
    pub state: CheckpointState,
    /// Parts kept from an earlier run (ListParts confirmed them).
    pub reused: u64,
    /// Uploads aborted on the way (superseded, or made by stopped Initiates).
    pub aborted: u64,
}

/// Records finished parts in a multipart checkpoint, written atomically with fsync
/// (a part counts as done only once its record is on disk).
pub(crate) struct RecordParts<'a, C> {
    pub ckpt: &'a mut C,
    pub path: &'a Path,
}

impl<C: MultipartCheckpoint> PartRecord<C::Done> for RecordParts<'_, C> {
    fn record(&mut self, finished: Vec<(u64, C::Done)>) -> Result<()> {
        for (index, done) in finished {
            self.ckpt.add_done(part_number(index), done);
        }
        write_atomic(self.path, &self.ckpt.encode(), Durability::Fsync)
            .map_err(|e| Error::io(format!("writing the checkpoint {}", self.path.display()), e))
    }
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

/// Runs the parts of `plan` that `ckpt` does not record yet on the engine's pool
/// (`threads` workers, stopped by `cancel`), each recorded in `ckpt` at `ckpt_path`
/// as it finishes; progress starts from the recorded parts' bytes. `work` is the
/// kind's part.
pub(crate) fn run_missing_parts<C, W>(
    ckpt: &mut C,
    ckpt_path: &Path,
    work: &W,
    (plan, threads, cancel): (Plan, usize, &CancelToken),
    reporter: &mut Reporter<'_, '_>,
) -> Result<()>
where
    C: MultipartCheckpoint,
    W: PartWork<Done = C::Done>,
{
    // Numbers from 1; 0 (never recorded) wraps past every index and is ignored.
    let pending = plan.pending(
        ckpt.done_numbers()
            .into_iter()
            .map(|n| u64::from(n).wrapping_sub(1)),
    );
    let pool = Pool {
        plan,
        threads,
        cancel,
        reused: plan.bytes_besides(&pending),
    };
    let mut record = RecordParts {
        ckpt,
        path: ckpt_path,
    };
    pool.run(work, &mut record, pending, reporter).map(|_| ())
}

impl Client {
    /// Settles the checkpoint at `ckpt_path` against `now` (the transfer as it is,
    /// with its planned part size; `requested_part_size` is the caller's explicit
    /// choice, if any): a resumable one is continued with the parts `reconcile` keeps
    /// of what ListParts shows (the server is the truth); otherwise what it names is
    /// cleaned up (a superseded upload aborted, the uploads of stopped Initiates
    /// found and aborted) and a new upload is started with `initiate` (see
    /// [`start_multipart`](Self::start_multipart)). Listing and aborting go with
    /// `request` (its cancel token).
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn begin_multipart<C: MultipartCheckpoint>(
        &self,
        ckpt_path: &Path,
        now: C,
        (bucket, key): (&str, &str),
        requested_part_size: Option<u64>,
        request: &RequestOptions,
        reconcile: impl FnOnce(&mut C, &[ListedPart]) -> Result<u64>,
        initiate: impl FnOnce(&mut u32) -> Result<String>,
    ) -> Result<Begun<C>> {
        let mut aborted = 0u64;
        let judged = match read_checkpoint(ckpt_path)? {
            Ok(None) => None,
            Err(why) => Some(MultipartVerdict::Unusable(why)),
            Ok(Some(bytes)) => Some(multipart_verdict(&bytes, &now, requested_part_size)),
        };
        let (state, stopped) = match judged {
            None => (CheckpointState::NotFound, Vec::new()),
            Some(MultipartVerdict::Resume(mut c)) => {
                match self.list_parts(bucket, key, c.upload_id(), request) {
                    Ok(listed) => {
                        let reused = reconcile(&mut c, &listed)?;
                        return Ok(Begun {
                            ckpt: c,
                            state: CheckpointState::Resumed,
                            reused,
                            aborted,
                        });
                    }
                    Err(e) if e.kind() == ErrorKind::NotFound => (
                        CheckpointState::Discarded(
                            "its upload no longer exists on the server".into(),
                        ),
                        c.stopped_initiates().to_vec(),
                    ),
                    Err(e) => return Err(e),
                }
            }
            Some(other) => self.clean_up(other, (bucket, key), request, &mut aborted)?,
        };
        let mut fresh = now;
        fresh.set_stopped_initiates(stopped);
        let ckpt = self.start_multipart(
            ckpt_path,
            fresh,
            (bucket, key),
            request,
            initiate,
            &mut aborted,
        )?;
        Ok(Begun {
            ckpt,
            state,
            reused: 0,
            aborted,
        })
    }

    /// Cleans up what a checkpoint that cannot be resumed names: a superseded upload
    /// is aborted (its parts would be billed), the uploads that stopped Initiates may
    /// have made are found by key and time and aborted. Returns why a new upload
    /// starts, and the stopped Initiates the new checkpoint keeps remembering.
    fn clean_up<C>(
        &self,
        verdict: MultipartVerdict<C>,
        (bucket, key): (&str, &str),
        request: &RequestOptions,
        aborted: &mut u64,
    ) -> Result<(CheckpointState, Vec<u64>)> {
        Ok(match verdict {
            MultipartVerdict::StoppedInitiate(times) => {
                let found = self.abort_orphans(bucket, key, &times, None, request)?;
                *aborted += found;
                let why = format!(
                    "an earlier run stopped while starting its upload; {found} unrecorded upload(s) aborted"
                );
                (CheckpointState::Discarded(why), times)
            }
            MultipartVerdict::Superseded {
                upload_id,
                why,
                stopped,
            } => {
                if self
                    .abort_multipart_upload(bucket, key, &upload_id, request)
                    .is_ok()
                {
                    *aborted += 1;
                }
                (CheckpointState::Discarded(why), stopped)
            }
            MultipartVerdict::Unusable(why) => (CheckpointState::Discarded(why), Vec::new()),
            // Not reached: begin_multipart resumes it before cleaning up.
            MultipartVerdict::Resume(_) => (CheckpointState::Resumed, Vec::new()),
        })
    }

    /// Initiates the multipart upload of `ckpt` (to `target`, bucket and key) so
    /// that no upload can be left that no checkpoint names: a marker checkpoint (no
    /// upload id, the start time) is written first, and replaced by the real one once
    /// `initiate` (which stores how many times it sent the request) returns the id.
    /// Uploads of the same key made by retries of a lost Initiate answer are aborted.
    pub(crate) fn start_multipart<C: MultipartCheckpoint>(
        &self,
        ckpt_path: &Path,
        mut ckpt: C,
        target: (&str, &str),
        request: &RequestOptions,
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
                if let Ok(n) = self.abort_orphans(bucket, key, &[since], None, request) {
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
            let _ = self.abort_multipart_upload(bucket, key, ckpt.upload_id(), request);
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
            && let Ok(n) = self.abort_orphans(
                bucket,
                key,
                &[],
                Some((ckpt.upload_id(), took + 2)),
                request,
            )
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
        request: &RequestOptions,
    ) -> Result<u64> {
        self.abort_orphans_of(bucket, key, stopped, ours, None, request)
    }

    /// [`abort_orphans`](Self::abort_orphans) over the `stopped` windows, never
    /// aborting the upload `spare` (this run's own).
    pub(crate) fn abort_orphans_sparing(
        &self,
        bucket: &str,
        key: &str,
        stopped: &[u64],
        spare: &str,
        request: &RequestOptions,
    ) -> Result<u64> {
        self.abort_orphans_of(bucket, key, stopped, None, Some(spare), request)
    }

    fn abort_orphans_of(
        &self,
        bucket: &str,
        key: &str,
        stopped: &[u64],
        ours: Option<(&str, u64)>,
        spare: Option<&str>,
        request: &RequestOptions,
    ) -> Result<u64> {
        if ours.is_none() && stopped.is_empty() {
            return Ok(0);
        }
        let (listed, skew) = self.list_multipart_uploads_skew(bucket, key, request)?;
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
                .abort_multipart_upload(bucket, key, &upload.upload_id, request)
                .is_ok()
            {
                aborted += 1;
            }
        }
        Ok(aborted)
    }
}
