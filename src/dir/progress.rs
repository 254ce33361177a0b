//! Progress of a whole-prefix transfer, in files and bytes.

/// Where a whole-prefix transfer stands, as its progress callback sees it.
///
/// The totals are what the plan decided to transfer (unchanged files are not in
/// them), plus, in `files_total`, the files the plan already refused (unsafe or
/// colliding names, names that are not UTF-8, special files), which count as done
/// from the first call. So at the end of a run `files_total` is
/// [`DirReport::files_transferred`](super::DirReport::files_transferred) +
/// [`DirReport::files_failed`](super::DirReport::files_failed), and `bytes_total`
/// the bytes of the files to transfer.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirProgress {
    /// Files finished, transferred or failed.
    pub files_done: u64,
    /// Files to finish.
    pub files_total: u64,
    /// Bytes moved: those of the finished files (a failed file's count in full),
    /// and the part of a large file moved so far (a resumed one from the bytes
    /// already there).
    pub bytes_done: u64,
    /// Bytes of the files to transfer.
    pub bytes_total: u64,
}

/// Progress callback of [`Client::upload_dir`](crate::Client::upload_dir) and
/// [`Client::download_prefix`](crate::Client::download_prefix); return `false` to
/// cancel (the call then fails with [`ErrorKind::Cancelled`](crate::ErrorKind)).
///
/// It runs on the caller's thread, one call at a time: once when the plan is made,
/// once per finished file, and, while a large file moves in parts, at least every
/// 1% of that file or 100 ms. It is called only when a value changed (the first
/// call excepted); values never decrease and never exceed the totals. Unless the
/// run is cancelled (or fails as a whole), the last call is at both totals, failed
/// files included (the first call already is when there is nothing to transfer).
pub type DirProgressFn<'a> = dyn FnMut(&DirProgress) -> bool + 'a;

/// Calls a [`DirProgressFn`] with values kept monotone and within the totals, and
/// never again once it asked to stop (files in flight still finish after that).
pub(super) struct Meter<'p, 'a> {
    callback: Option<&'p mut DirProgressFn<'a>>,
    shown: Option<DirProgress>,
    totals: (u64, u64),
    stopped: bool,
}

impl<'p, 'a> Meter<'p, 'a> {
    pub(super) fn new(
        callback: Option<&'p mut DirProgressFn<'a>>,
        files_total: u64,
        bytes_total: u64,
    ) -> Self {
        Meter {
            callback,
            shown: None,
            totals: (files_total, bytes_total),
            stopped: false,
        }
    }

    /// Whether there is a callback to call.
    pub(super) fn wanted(&self) -> bool {
        self.callback.is_some()
    }

    /// Reports `files_done` and `bytes_done` (raised to what was shown, capped at
    /// the totals) if they changed; false means the callback asked to stop, now or
    /// before.
    pub(super) fn report(&mut self, files_done: u64, bytes_done: u64) -> bool {
        if self.stopped {
            return false;
        }
        let Some(cb) = self.callback.as_mut() else {
            return true;
        };
        let (files_total, bytes_total) = self.totals;
        let floor = self.shown.unwrap_or_default();
        let now = DirProgress {
            files_done: files_done.max(floor.files_done).min(files_total),
            files_total,
            bytes_done: bytes_done.max(floor.bytes_done).min(bytes_total),
            bytes_total,
        };
        if self.shown == Some(now) {
            return true;
        }
        self.shown = Some(now);
        self.stopped = !cb(&now);
        !self.stopped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_never_step_back_nor_pass_the_totals_and_repeats_are_dropped() {
        let mut seen = Vec::new();
        let mut cb = |p: &DirProgress| {
            seen.push((p.files_done, p.bytes_done, p.files_total, p.bytes_total));
            p.files_done < 2
        };
        let mut m = Meter::new(Some(&mut cb), 3, 100);
        assert!(m.report(0, 0));
        assert!(m.report(0, 0), "a repeat is not a call");
        assert!(m.report(1, 40));
        assert!(m.report(1, 30), "bytes do not step back");
        assert!(!m.report(2, 500), "the callback's answer is passed on");
        assert!(!m.report(3, 100), "no call once it said stop");
        assert_eq!(
            seen,
            vec![(0, 0, 3, 100), (1, 40, 3, 100), (2, 100, 3, 100)]
        );
    }

    #[test]
    fn without_a_callback_nothing_is_asked() {
        let mut m = Meter::new(None, 1, 1);
        assert!(!m.wanted());
        assert!(m.report(1, 1));
    }
}
