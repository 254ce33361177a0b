//! The prefetch policy, pure: which sequential streams a handle's reads belong to,
//! how far ahead of each one to fetch, and what it has left behind.
//!
//! A stream is a place where reading continues: the byte after its last read. A read
//! at (or a short seek from) a stream's next byte continues that stream; any other
//! read starts a new stream, which fetches nothing ahead until it is read again
//! sequentially. So random reads cost only what they ask for, and each of several
//! interleaved sequential readers of one handle grows a window of its own.
//!
//! A stream's window starts at [`FIRST_WINDOW`] on its first sequential continuation
//! and doubles with each one up to a cap; it is refilled only when less than half of
//! it is left ahead of the reader, so requests stay few and large. Short backward
//! seeks (within [`BACK_KEEP`]) continue a stream without growing it: what they read
//! is still kept. The caller owns the bytes; this only decides.

use std::ops::Range;

/// The window of a stream on its first sequential continuation.
pub(crate) const FIRST_WINDOW: u64 = 256 * 1024;

/// How far behind a stream's reader fetched bytes are kept for backward seeks.
pub(crate) const BACK_KEEP: u64 = 1024 * 1024;

/// A stream's last read at least this long lets the next read skip as far forward
/// as that read was long and still continue the stream (a read-then-skip pattern).
pub(crate) const SKIP_AFTER: u64 = 256 * 1024;

/// Streams followed per handle; the least recently read is forgotten first.
pub(crate) const MAX_STREAMS: usize = 8;

#[derive(Debug, Clone, PartialEq, Eq)]
struct Stream {
    /// The byte after the stream's last read.
    next: u64,
    /// Bytes to keep fetched ahead of `next`; 0 until the stream proves sequential.
    window: u64,
    /// Bytes are fetched (or being fetched) up to here.
    ahead: u64,
    /// When it was last read, on the handle's own clock.
    used: u64,
    /// The length of its last read.
    last_len: u64,
}

/// What one read should set in motion.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Advice {
    /// Bytes to fetch ahead of the read (beyond it), empty for none.
    pub prefetch: Range<u64>,
    /// Bytes that have fallen out of the stream's backward window with this read and
    /// may be released, empty for none.
    pub passed: Range<u64>,
}

/// The streams of one handle.
#[derive(Debug, Default)]
pub(crate) struct Streams {
    list: Vec<Stream>,
    clock: u64,
}

impl Streams {
    /// Records a read of `len` bytes at `offset` of an object of `size` bytes, with
    /// windows capped at `cap`, and says what to fetch ahead and what to release.
    pub fn on_read(&mut self, offset: u64, len: u64, size: u64, cap: u64) -> Advice {
        self.clock += 1;
        let end = (offset + len).min(size);
        let Some(i) = self.find(offset) else {
            self.start(end, len);
            return Advice {
                prefetch: end..end,
                passed: 0..0,
            };
        };
        let clock = self.clock;
        let s = &mut self.list[i];
        let passed = s.next.saturating_sub(BACK_KEEP)..end.saturating_sub(BACK_KEEP);
        if offset >= s.next {
            // Forward: sequential (or a short skip); the window grows.
            s.window = if s.window == 0 {
                FIRST_WINDOW
            } else {
                s.window.saturating_mul(2)
            };
        }
        s.window = s.window.min(cap);
        s.next = end;
        s.used = clock;
        s.last_len = len;
        s.ahead = s.ahead.max(end);
        let mut prefetch = end..end;
        let left = s.ahead - s.next;
        if s.window > 0 && left < s.window / 2 && s.ahead < size {
            let target = (s.next + s.window).min(size);
            prefetch = s.ahead..target;
            s.ahead = target;
        }
        Advice {
            prefetch,
            passed: if passed.start < passed.end {
                passed
            } else {
                0..0
            },
        }
    }

    /// Tells the stream that ends at `end` that bytes are fetched only up to
    /// `fetched` (less than advised, for want of memory), so the rest is advised
    /// again on a later read.
    pub fn fetched_to(&mut self, end: u64, fetched: u64) {
        if let Some(s) = self.list.iter_mut().find(|s| s.next == end) {
            s.ahead = s.ahead.min(fetched.max(s.next));
        }
    }

    /// The byte ranges streams will read next: from each stream's next byte to what
    /// is fetched ahead of it. Bytes there are not to be evicted.
    pub fn ahead(&self) -> impl Iterator<Item = Range<u64>> + '_ {
        self.list.iter().map(|s| s.next..s.ahead)
    }

    /// Streams followed now.
    pub fn len(&self) -> usize {
        self.list.len()
    }

    /// The stream a read at `offset` continues: one whose next byte is at most its
    /// window (or its last read's length, for reads of [`SKIP_AFTER`] or more)
    /// before `offset`, a forward skip, or at most [`BACK_KEEP`] (and its window)
    /// after it, a backward seek; the nearest first.
    fn find(&self, offset: u64) -> Option<usize> {
        self.list
            .iter()
            .enumerate()
            .filter(|(_, s)| {
                let skip = if s.last_len >= SKIP_AFTER {
                    s.last_len
                } else {
                    0
                };
                let forward = offset >= s.next && offset - s.next <= s.window.max(skip);
                let backward = offset < s.next && s.next - offset <= BACK_KEEP.min(s.window);
                forward || backward
            })
            .min_by_key(|(_, s)| s.next.abs_diff(offset))
            .map(|(i, _)| i)
    }

    /// A new stream whose next byte is `next`, replacing the least recently read one
    /// when there are [`MAX_STREAMS`].
    fn start(&mut self, next: u64, last_len: u64) {
        let stream = Stream {
            next,
            window: 0,
            ahead: next,
            used: self.clock,
            last_len,
        };
        if self.list.len() < MAX_STREAMS {
            self.list.push(stream);
        } else if let Some(oldest) = self.list.iter_mut().min_by_key(|s| s.used) {
            *oldest = stream;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIB: u64 = 1024 * 1024;
    const SIZE: u64 = 1024 * MIB;
    const CAP: u64 = 32 * MIB;

    #[test]
    fn a_first_read_fetches_nothing_ahead() {
        let mut s = Streams::default();
        let a = s.on_read(5 * MIB, 4096, SIZE, CAP);
        assert!(a.prefetch.is_empty(), "{a:?}");
        assert_eq!(s.len(), 1);
    }

    #[test]
    fn sequential_reads_double_the_window_up_to_the_cap() {
        let mut s = Streams::default();
        let mut offset = 0;
        let mut windows = Vec::new();
        for _ in 0..12 {
            s.on_read(offset, 64 * 1024, SIZE, CAP);
            offset += 64 * 1024;
            windows.push(s.list[0].window);
        }
        assert_eq!(windows[0], 0, "no prefetch before the stream is sequential");
        assert_eq!(windows[1], FIRST_WINDOW);
        assert_eq!(windows[2], 2 * FIRST_WINDOW);
        assert_eq!(*windows.last().unwrap(), CAP, "{windows:?}");
        assert!(windows.windows(2).all(|w| w[1] >= w[0]), "{windows:?}");
    }

    #[test]
    fn the_window_is_refilled_only_when_half_of_it_is_read() {
        let mut s = Streams::default();
        let read = 64 * 1024;
        let mut advised = Vec::new();
        for i in 0..4000 {
            let a = s.on_read(i * read, read, SIZE, CAP);
            if !a.prefetch.is_empty() {
                advised.push(a.prefetch);
            }
        }
        // Contiguous, never twice the same byte.
        assert!(
            advised.windows(2).all(|w| w[0].end == w[1].start),
            "{advised:?}"
        );
        // Once grown, every refill is at least half the capped window.
        let late: Vec<_> = advised.iter().filter(|r| r.start > 4 * CAP).collect();
        assert!(!late.is_empty());
        assert!(late.iter().all(|r| r.end - r.start >= CAP / 2), "{late:?}");
    }

    #[test]
    fn reading_a_mib_then_skipping_a_mib_is_one_stream_that_prefetches() {
        let mut s = Streams::default();
        let mut prefetched = 0;
        for i in 0..32 {
            let a = s.on_read(i * 2 * MIB, MIB, SIZE, CAP);
            prefetched += a.prefetch.end - a.prefetch.start;
        }
        assert_eq!(s.len(), 1);
        assert!(prefetched >= 32 * MIB, "{prefetched}");
    }

    #[test]
    fn a_far_seek_starts_a_new_stream_without_prefetch() {
        let mut s = Streams::default();
        s.on_read(0, MIB, SIZE, CAP);
        s.on_read(MIB, MIB, SIZE, CAP);
        let a = s.on_read(500 * MIB, 4096, SIZE, CAP);
        assert!(a.prefetch.is_empty(), "{a:?}");
        assert_eq!(s.len(), 2);
    }

    #[test]
    fn random_reads_never_prefetch() {
        let mut s = Streams::default();
        let mut rng = fastrand::Rng::with_seed(7);
        for _ in 0..10_000 {
            // Unaligned: a read that happens to start where another ended is sequential.
            let offset = rng.u64(..SIZE - 4096);
            let a = s.on_read(offset, 4096, SIZE, CAP);
            assert!(a.prefetch.is_empty(), "read at {offset}: {a:?}");
        }
        assert!(s.len() <= MAX_STREAMS);
    }

    #[test]
    fn a_short_backward_seek_continues_the_stream_without_growing_it() {
        let mut s = Streams::default();
        for i in 0..4 {
            s.on_read(i * MIB, MIB, SIZE, CAP);
        }
        let window = s.list[0].window;
        let a = s.on_read(3 * MIB + 512 * 1024, 4096, SIZE, CAP);
        assert_eq!(s.len(), 1, "the same stream");
        assert_eq!(s.list[0].window, window);
        assert!(a.passed.is_empty());
    }

    #[test]
    fn interleaved_streams_are_each_followed() {
        let mut s = Streams::default();
        let starts = [0, 100 * MIB, 200 * MIB, 300 * MIB];
        let mut prefetched = [0u64; 4];
        for step in 0..64 {
            for (k, start) in starts.iter().enumerate() {
                let a = s.on_read(start + step * 256 * 1024, 256 * 1024, SIZE, CAP);
                prefetched[k] += a.prefetch.end - a.prefetch.start;
            }
        }
        assert_eq!(s.len(), 4);
        assert!(prefetched.iter().all(|&p| p >= 15 * MIB), "{prefetched:?}");
    }

    #[test]
    fn a_stream_passes_what_leaves_its_backward_window() {
        let mut s = Streams::default();
        s.on_read(0, MIB, SIZE, CAP);
        s.on_read(MIB, MIB, SIZE, CAP);
        let a = s.on_read(2 * MIB, MIB, SIZE, CAP);
        assert_eq!(a.passed, MIB..2 * MIB);
    }

    #[test]
    fn less_fetched_than_advised_is_advised_again() {
        let mut s = Streams::default();
        s.on_read(0, MIB, SIZE, CAP);
        let a = s.on_read(MIB, MIB, SIZE, CAP);
        assert_eq!(a.prefetch, 2 * MIB..2 * MIB + FIRST_WINDOW);
        s.fetched_to(2 * MIB, 2 * MIB);
        let b = s.on_read(2 * MIB, 4096, SIZE, CAP);
        assert_eq!(b.prefetch.start, 2 * MIB + 4096);
    }

    #[test]
    fn the_least_recently_read_stream_is_forgotten() {
        let mut s = Streams::default();
        for i in 0..MAX_STREAMS as u64 + 1 {
            s.on_read(i * 100 * MIB, 4096, SIZE, CAP);
        }
        assert_eq!(s.len(), MAX_STREAMS);
        assert!(s.find(4096).is_none(), "the first stream was forgotten");
        assert!(s.find(100 * MIB + 4096).is_some());
    }

    #[test]
    fn nothing_is_prefetched_past_the_end() {
        let mut s = Streams::default();
        let size = 3 * MIB;
        let mut offset = 0;
        while offset < size {
            let a = s.on_read(offset, 64 * 1024, size, CAP);
            assert!(a.prefetch.end <= size, "{a:?}");
            offset += 64 * 1024;
        }
    }
}
