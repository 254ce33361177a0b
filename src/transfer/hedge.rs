//! Hedged requests: a request whose answer is late by this transfer's own measure is
//! sent again on another connection, and the first answer wins. A layer around one
//! request (the part's opening GET), knowing nothing of what the request is.
//!
//! The measure: the time to each answer's head, over the transfer so far. Once
//! [`MIN_SAMPLES`] answers came, a request not answered within 3x their 95th
//! percentile (at least [`FLOOR`]) gets a twin (a request sent before then is
//! judged by the measure as it becomes known), if fewer than [`MAX_HEDGES`] twins
//! of this transfer are out and the server has not answered 503 or 429 (which asks
//! for less load, not more). The loser is cancelled: its own child token shuts its
//! socket, so it keeps no worker; only the winner's answer is handed back, so what
//! the caller counts (bytes, CRC, checkpoint) counts one answer.

use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use super::cancel::CancelToken;
use crate::error::{ErrorKind, Result};
use crate::transport::observing_throttle;

/// Answers needed before any request is hedged.
pub(crate) const MIN_SAMPLES: usize = 4;
/// The shortest wait before a hedge.
pub(crate) const FLOOR: Duration = Duration::from_secs(1);
/// Hedges of one transfer out at once.
pub(crate) const MAX_HEDGES: usize = 2;
/// The deadline is this many times the 95th percentile.
const FACTOR: u32 = 3;
/// How often a waiting request looks at the deadline again.
const POLL: Duration = Duration::from_millis(100);

/// One transfer's hedging state, shared by its workers.
#[derive(Debug, Default)]
pub(crate) struct Hedger {
    /// Time to each answer's head so far.
    latencies: Mutex<Vec<Duration>>,
    /// Hedges out now.
    out: AtomicUsize,
    /// Requests that were hedged (whichever answer won).
    hedged: AtomicU64,
    /// Set once the server answered 503 or 429: no more hedges.
    throttled: Arc<AtomicBool>,
}

impl Hedger {
    /// A hedger with no answers seen.
    pub fn new() -> Hedger {
        Hedger::default()
    }

    /// Requests hedged so far.
    pub fn hedged(&self) -> u64 {
        self.hedged.load(Ordering::Relaxed)
    }

    /// How long to wait for an answer before hedging, `None` while no hedge may be
    /// sent (too few answers yet, or the server asked for less load).
    pub fn deadline(&self) -> Option<Duration> {
        if self.throttled.load(Ordering::Relaxed) {
            return None;
        }
        let mut samples = self.latencies.lock().ok()?.clone();
        if samples.len() < MIN_SAMPLES {
            return None;
        }
        samples.sort_unstable();
        // Nearest rank: the smallest sample at or above 95% of them.
        let rank = (samples.len() * 95).div_ceil(100).max(1) - 1;
        Some((samples[rank] * FACTOR).max(FLOOR))
    }

    fn note(&self, latency: Duration) {
        if let Ok(mut l) = self.latencies.lock() {
            l.push(latency);
        }
    }

    /// Takes a hedge slot, if one is free and hedging is still allowed.
    fn begin_hedge(&self) -> bool {
        if self.throttled.load(Ordering::Relaxed) {
            return false;
        }
        self.out
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < MAX_HEDGES).then_some(n + 1)
            })
            .is_ok()
    }

    /// Runs `request` (which must pass the token it is given to every wait and
    /// connection), hedged as the module says; returns its answer and whether it
    /// was hedged. Every request runs under a child of `cancel`, so cancelling it
    /// stops both.
    ///
    /// The request runs on the calling thread; a watcher thread waits for the
    /// deadline and, only if it passes, sends the twin itself. So the buffers a
    /// request allocates belong to the caller's thread (a transfer's workers), not to
    /// a new thread per request: each new thread that allocates gets its own malloc
    /// arena, which kept up to 13 MiB more resident at 8 threads.
    ///
    /// # Errors
    /// The request's error; when both fail, the primary's (a cancel only when
    /// nothing better explains it).
    pub fn run<T: Send>(
        &self,
        cancel: &CancelToken,
        request: &(dyn Fn(&CancelToken) -> Result<T> + Sync),
    ) -> Result<(T, bool)> {
        if self.throttled.load(Ordering::Relaxed) {
            // Never to be hedged: no watcher.
            let started = Instant::now();
            let answer = observing_throttle(&self.throttled, || request(cancel))?;
            self.note(started.elapsed());
            return Ok((answer, false));
        }
        let primary = cancel.child();
        let hedge = cancel.child();
        std::thread::scope(|scope| {
            let (answered, answer_seen) = mpsc::channel::<()>();
            let started = Instant::now();
            let watcher = {
                let (primary, hedge) = (primary.clone(), hedge.clone());
                scope.spawn(move || self.watch(started, &answer_seen, &primary, &hedge, request))
            };
            let first = observing_throttle(&self.throttled, || request(&primary));
            let latency = started.elapsed();
            let _ = answered.send(());
            match first {
                Ok(answer) => {
                    // The twin, if one was sent, loses: its socket is shut now.
                    hedge.cancel();
                    self.note(latency);
                    let hedged = watcher.join().map(|twin| twin.is_some());
                    Ok((answer, hedged.unwrap_or(false)))
                }
                Err(e) => match watcher.join() {
                    Ok(Some((Ok(answer), latency))) => {
                        self.note(latency);
                        Ok((answer, true))
                    }
                    Ok(Some((Err(twin), _))) => {
                        // Both failed: the primary's error, unless it is only a cancel.
                        let only_cancel = e.kind() == ErrorKind::Cancelled;
                        Err(if only_cancel { twin } else { e })
                    }
                    _ => Err(e),
                },
            }
        })
    }

    /// The watcher of one request: waits until the primary answered (`None`) or its
    /// deadline passed; then, if a hedge slot is free, sends the twin under `hedge`
    /// and returns its answer and latency, cancelling the primary when the twin
    /// wins.
    fn watch<T>(
        &self,
        started: Instant,
        answer_seen: &mpsc::Receiver<()>,
        primary: &CancelToken,
        hedge: &CancelToken,
        request: &(dyn Fn(&CancelToken) -> Result<T> + Sync),
    ) -> Option<(Result<T>, Duration)> {
        if !self.late(started, answer_seen) || !self.begin_hedge() {
            return None;
        }
        self.hedged.fetch_add(1, Ordering::Relaxed);
        let sent = Instant::now();
        let answer = observing_throttle(&self.throttled, || request(hedge));
        if answer.is_ok() {
            primary.cancel();
        }
        self.out.fetch_sub(1, Ordering::AcqRel);
        Some((answer, sent.elapsed()))
    }

    /// Waits for the primary's answer until the deadline, which is looked at again
    /// every [`POLL`]: a request sent before the transfer had its measure (or while
    /// it was lower) is judged by the measure as it is now. Whether the deadline
    /// passed first.
    fn late(&self, started: Instant, answer_seen: &mpsc::Receiver<()>) -> bool {
        loop {
            let wait = match self.deadline() {
                Some(deadline) => match deadline.checked_sub(started.elapsed()) {
                    Some(left) if !left.is_zero() => left.min(POLL),
                    _ => return true,
                },
                None => POLL,
            };
            match answer_seen.recv_timeout(wait) {
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                // Answered (or the caller is gone): no hedge.
                _ => return false,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;

    /// A hedger that has seen `n` answers of `each`.
    fn warmed(n: usize, each: Duration) -> Hedger {
        let h = Hedger::new();
        for _ in 0..n {
            h.note(each);
        }
        h
    }

    /// A request that answers after `delay` (its first call) or at once (later
    /// calls), and fails with Cancelled when its token fires first.
    fn slow_first(
        delay: Duration,
        calls: &AtomicUsize,
    ) -> impl Fn(&CancelToken) -> Result<usize> + Sync + '_ {
        move |token: &CancelToken| {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            if call == 0 {
                token.sleep(delay)?;
            }
            Ok(call)
        }
    }

    #[test]
    fn no_hedge_until_enough_answers_came() {
        let h = warmed(MIN_SAMPLES - 1, Duration::from_millis(1));
        assert_eq!(h.deadline(), None);
        h.note(Duration::from_millis(1));
        assert_eq!(h.deadline(), Some(FLOOR), "at least a second");
        let slow = warmed(20, Duration::from_millis(500));
        assert_eq!(slow.deadline(), Some(Duration::from_millis(1500)), "3x p95");
    }

    #[test]
    fn a_late_answer_is_hedged_and_the_first_answer_wins() {
        let h = warmed(MIN_SAMPLES, Duration::from_millis(1));
        let calls = AtomicUsize::new(0);
        let started = Instant::now();
        let (answer, hedged) = h
            .run(
                &CancelToken::new(),
                &slow_first(Duration::from_secs(30), &calls),
            )
            .unwrap();
        assert!(hedged);
        assert_eq!(answer, 1, "the hedge's answer");
        assert_eq!(h.hedged(), 1);
        // The deadline (1 s) and the hedge; the loser was cancelled, not waited for.
        let took = started.elapsed();
        assert!(took >= FLOOR && took < Duration::from_secs(10), "{took:?}");
        assert_eq!(h.out.load(Ordering::SeqCst), 0, "the slot is given back");
    }

    #[test]
    fn a_request_sent_before_the_measure_is_judged_once_it_is_known() {
        let h = std::sync::Arc::new(warmed(MIN_SAMPLES - 1, Duration::from_millis(1)));
        let later = {
            let h = h.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                h.note(Duration::from_millis(1));
            })
        };
        let calls = AtomicUsize::new(0);
        let (answer, hedged) = h
            .run(
                &CancelToken::new(),
                &slow_first(Duration::from_secs(30), &calls),
            )
            .unwrap();
        assert!(hedged && answer == 1, "hedged once the fourth answer came");
        later.join().unwrap();
    }

    #[test]
    fn a_prompt_answer_is_not_hedged() {
        let h = warmed(MIN_SAMPLES, Duration::from_millis(1));
        let calls = AtomicUsize::new(0);
        let (_, hedged) = h
            .run(
                &CancelToken::new(),
                &slow_first(Duration::from_millis(10), &calls),
            )
            .unwrap();
        assert!(!hedged);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one request");
    }

    #[test]
    fn no_hedge_once_the_server_asked_for_less_load() {
        let h = warmed(MIN_SAMPLES, Duration::from_millis(1));
        let busy = |_: &CancelToken| -> Result<()> {
            crate::transport::note_throttled(503);
            Err(Error::new(ErrorKind::Server, "503").with_status(503))
        };
        assert!(h.run(&CancelToken::new(), &busy).is_err());
        assert_eq!(h.deadline(), None);
        let calls = AtomicUsize::new(0);
        let (_, hedged) = h
            .run(
                &CancelToken::new(),
                &slow_first(Duration::from_millis(1200), &calls),
            )
            .unwrap();
        assert!(!hedged);
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn hedges_out_at_once_are_bounded() {
        let h = warmed(MIN_SAMPLES, Duration::from_millis(1));
        for _ in 0..MAX_HEDGES {
            assert!(h.begin_hedge());
        }
        assert!(!h.begin_hedge(), "no more than MAX_HEDGES at once");
        let calls = AtomicUsize::new(0);
        let (_, hedged) = h
            .run(
                &CancelToken::new(),
                &slow_first(Duration::from_millis(1200), &calls),
            )
            .unwrap();
        assert!(!hedged, "waits for the primary instead");
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[test]
    fn cancelling_stops_the_request_and_its_hedge() {
        let h = warmed(MIN_SAMPLES, Duration::from_millis(1));
        let token = CancelToken::new();
        let t = token.clone();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(1500));
            t.cancel();
        });
        let calls = AtomicUsize::new(0);
        let never = |tok: &CancelToken| -> Result<()> {
            calls.fetch_add(1, Ordering::SeqCst);
            tok.sleep(Duration::from_secs(60))
        };
        let started = Instant::now();
        let e = h.run(&token, &never).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Cancelled);
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "hedged, then both cancelled"
        );
        assert!(started.elapsed() < Duration::from_secs(10));
        canceller.join().unwrap();
    }
}
