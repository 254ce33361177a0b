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
//!
//! Threads: a request runs on its caller's thread. One watcher thread per transfer,
//! started with its first request, looks at the requests waiting for an answer every
//! [`POLL`]; only a late one gets a thread of its own, for its twin. A prompt answer
//! costs a list entry, not a thread: a thread per request cost 1 GiB downloads at 1
//! thread about a tenth of their speed on a 2-core machine.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::cancel::CancelToken;
use crate::error::{Error, ErrorKind, Result};
use crate::transport::observing_throttle;

/// Answers needed before any request is hedged.
pub(crate) const MIN_SAMPLES: usize = 4;
/// The shortest wait before a hedge.
pub(crate) const FLOOR: Duration = Duration::from_secs(1);
/// Hedges of one transfer out at once.
pub(crate) const MAX_HEDGES: usize = 2;
/// The deadline is this many times the 95th percentile.
const FACTOR: u32 = 3;
/// How often the watcher looks at the waiting requests: a late request's twin is
/// sent at most this long after its deadline.
const POLL: Duration = Duration::from_millis(100);

/// A request the hedger may send twice. Owned, so that its twin can run on a thread
/// of its own; it must pass the token it is given to every wait and connection.
pub(crate) type Request<T> = Arc<dyn Fn(&CancelToken) -> Result<T> + Send + Sync>;

/// One transfer's hedging: its measure, and the requests its watcher looks at.
#[derive(Default)]
pub(crate) struct Hedger {
    measure: Arc<Measure>,
    list: Arc<Watchlist>,
    /// The watcher thread, started with the first request; `None` inside when it
    /// could not be started (then nothing is hedged).
    watcher: OnceLock<Option<JoinHandle<()>>>,
}

/// What the transfer's answers say, shared with the watcher and the twins.
#[derive(Debug, Default)]
struct Measure {
    /// Time to each answer's head so far.
    latencies: Mutex<Vec<Duration>>,
    /// Hedges out now.
    out: AtomicUsize,
    /// Requests that were hedged (whichever answer won).
    hedged: AtomicU64,
    /// Set once the server answered 503 or 429: no more hedges.
    throttled: Arc<AtomicBool>,
    /// Threads this hedger started (its watcher, then one per twin).
    threads: AtomicUsize,
}

/// The requests waiting for their answer.
#[derive(Default)]
struct Watchlist {
    waiting: Mutex<Waiting>,
    /// Signalled when the hedger is dropped.
    closed: Condvar,
}

#[derive(Default)]
struct Waiting {
    next: u64,
    /// By registration number: when each was sent, and what sends its twin.
    items: Vec<(u64, Instant, Launch)>,
    closed: bool,
}

/// Sends a request's twin, unless it was answered meanwhile; run by the watcher.
type Launch = Box<dyn FnOnce() + Send>;

/// Where a request's answers meet.
struct Slot<T> {
    state: Mutex<State<T>>,
    twin_answered: Condvar,
}

enum State<T> {
    /// No answer yet and no twin.
    Waiting,
    /// The primary answered before any twin was sent: none will be.
    Answered,
    /// A twin was sent; its answer and latency once it came.
    Hedged(Option<(Result<T>, Duration)>),
}

impl std::fmt::Debug for Hedger {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Hedger")
            .field("measure", &self.measure)
            .finish()
    }
}

impl Drop for Hedger {
    fn drop(&mut self) {
        if let Ok(mut w) = self.list.waiting.lock() {
            w.closed = true;
        }
        self.list.closed.notify_all();
        if let Some(watcher) = self.watcher.take().flatten() {
            let _ = watcher.join();
        }
    }
}

impl Measure {
    /// How long to wait for an answer before hedging, `None` while no hedge may be
    /// sent (too few answers yet, or the server asked for less load).
    fn deadline(&self) -> Option<Duration> {
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
}

impl Hedger {
    /// A hedger with no answers seen.
    pub fn new() -> Hedger {
        Hedger::default()
    }

    /// Requests hedged so far.
    pub fn hedged(&self) -> u64 {
        self.measure.hedged.load(Ordering::Relaxed)
    }

    /// Runs `request`, hedged as the module says; returns its answer and whether it
    /// was hedged. Every request runs under a child of `cancel`, so cancelling it
    /// stops both.
    ///
    /// The request runs on the calling thread, so the buffers it allocates belong
    /// to the caller's thread (a transfer's workers): each new thread that allocates
    /// gets its own malloc arena, which kept up to 13 MiB more resident at 8
    /// threads. Only a twin runs on a thread of its own.
    ///
    /// # Errors
    /// The request's error; when both fail, the primary's (a cancel only when
    /// nothing better explains it).
    pub fn run<T: Send + 'static>(
        &self,
        cancel: &CancelToken,
        request: &Request<T>,
    ) -> Result<(T, bool)> {
        if self.measure.throttled.load(Ordering::Relaxed) || !self.watching() {
            // Never to be hedged.
            let started = Instant::now();
            let answer = observing_throttle(&self.measure.throttled, || request(cancel))?;
            self.measure.note(started.elapsed());
            return Ok((answer, false));
        }
        let primary = cancel.child();
        let hedge = cancel.child();
        let slot = Arc::new(Slot {
            state: Mutex::new(State::Waiting),
            twin_answered: Condvar::new(),
        });
        let started = Instant::now();
        let launch = self.launcher(&slot, request, &primary, &hedge);
        let id = self.enlist(started, launch);
        let first = observing_throttle(&self.measure.throttled, || request(&primary));
        let latency = started.elapsed();
        self.delist(id);
        let hedged = {
            let mut state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
            if matches!(*state, State::Waiting) {
                *state = State::Answered;
            }
            matches!(*state, State::Hedged(_))
        };
        if !hedged {
            let answer = first?;
            self.measure.note(latency);
            return Ok((answer, false));
        }
        if first.is_ok() {
            // The twin loses: its socket is shut now.
            hedge.cancel();
        }
        let (twin, twin_latency) = slot.twin_answer();
        match (first, twin) {
            (Ok(answer), _) => {
                self.measure.note(latency);
                Ok((answer, true))
            }
            (Err(_), Ok(answer)) => {
                self.measure.note(twin_latency);
                Ok((answer, true))
            }
            // Both failed: the primary's error, unless it is only a cancel.
            (Err(e), Err(twin)) if e.kind() == ErrorKind::Cancelled => Err(twin),
            (Err(e), Err(_)) => Err(e),
        }
    }

    /// Whether the watcher runs, starting it on the first call.
    fn watching(&self) -> bool {
        self.watcher
            .get_or_init(|| {
                let (measure, list) = (Arc::clone(&self.measure), Arc::clone(&self.list));
                let started = std::thread::Builder::new()
                    .name("ossr-hedge".into())
                    .spawn(move || watch(&measure, &list))
                    .ok();
                if started.is_some() {
                    self.measure.threads.fetch_add(1, Ordering::Relaxed);
                }
                started
            })
            .is_some()
    }

    fn enlist(&self, started: Instant, launch: Launch) -> u64 {
        let mut w = self.list.waiting.lock().unwrap_or_else(|p| p.into_inner());
        w.next += 1;
        let id = w.next;
        w.items.push((id, started, launch));
        id
    }

    fn delist(&self, id: u64) {
        let mut w = self.list.waiting.lock().unwrap_or_else(|p| p.into_inner());
        w.items.retain(|(i, _, _)| *i != id);
    }

    /// What the watcher calls when the request is late: unless the primary answered
    /// meanwhile or no hedge slot is free, it sends the twin under `hedge` on a
    /// thread of its own, which cancels the primary when the twin wins.
    fn launcher<T: Send + 'static>(
        &self,
        slot: &Arc<Slot<T>>,
        request: &Request<T>,
        primary: &CancelToken,
        hedge: &CancelToken,
    ) -> Launch {
        let (slot, measure, request) = (
            Arc::clone(slot),
            Arc::clone(&self.measure),
            Arc::clone(request),
        );
        let (primary, hedge) = (primary.clone(), hedge.clone());
        Box::new(move || {
            {
                let mut state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
                if !matches!(*state, State::Waiting) || !measure.begin_hedge() {
                    return;
                }
                *state = State::Hedged(None);
            }
            measure.hedged.fetch_add(1, Ordering::Relaxed);
            let (twin_slot, twin_measure) = (Arc::clone(&slot), Arc::clone(&measure));
            let twin = move || {
                let sent = Instant::now();
                let answer = observing_throttle(&twin_measure.throttled, || request(&hedge));
                if answer.is_ok() {
                    primary.cancel();
                }
                twin_measure.out.fetch_sub(1, Ordering::AcqRel);
                twin_slot.answer(answer, sent.elapsed());
            };
            match std::thread::Builder::new()
                .name("ossr-hedge-twin".into())
                .spawn(twin)
            {
                Ok(_) => {
                    measure.threads.fetch_add(1, Ordering::Relaxed);
                }
                Err(e) => {
                    measure.out.fetch_sub(1, Ordering::AcqRel);
                    let e = Error::io("starting a hedge's thread", e);
                    slot.answer(Err(e), Duration::ZERO);
                }
            }
        })
    }
}

impl<T> Slot<T> {
    fn answer(&self, answer: Result<T>, latency: Duration) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        *state = State::Hedged(Some((answer, latency)));
        self.twin_answered.notify_all();
    }

    /// Waits for the twin's answer (the twin was sent).
    fn twin_answer(&self) -> (Result<T>, Duration) {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let State::Hedged(answer @ Some(_)) = &mut *state {
                return answer.take().expect("matched Some");
            }
            state = self
                .twin_answered
                .wait(state)
                .unwrap_or_else(|p| p.into_inner());
        }
    }
}

/// The watcher: every [`POLL`] (or at the next deadline, if sooner), the requests
/// past their deadline are taken off the list and their twins launched, until the
/// hedger is dropped.
fn watch(measure: &Measure, list: &Watchlist) {
    let mut w = list.waiting.lock().unwrap_or_else(|p| p.into_inner());
    while !w.closed {
        let mut wait = POLL;
        let mut late = Vec::new();
        if let Some(deadline) = measure.deadline() {
            let mut i = 0;
            while i < w.items.len() {
                match deadline.checked_sub(w.items[i].1.elapsed()) {
                    Some(left) if !left.is_zero() => {
                        wait = wait.min(left);
                        i += 1;
                    }
                    _ => late.push(w.items.swap_remove(i).2),
                }
            }
        }
        if late.is_empty() {
            w = list
                .closed
                .wait_timeout(w, wait)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        } else {
            drop(w);
            late.into_iter().for_each(|launch| launch());
            w = list.waiting.lock().unwrap_or_else(|p| p.into_inner());
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
            h.measure.note(each);
        }
        h
    }

    /// A request that answers after `delay` (its first call) or at once (later
    /// calls), and fails with Cancelled when its token fires first.
    fn slow_first(delay: Duration, calls: &Arc<AtomicUsize>) -> Request<usize> {
        let calls = Arc::clone(calls);
        Arc::new(move |token: &CancelToken| {
            let call = calls.fetch_add(1, Ordering::SeqCst);
            if call == 0 {
                token.sleep(delay)?;
            }
            Ok(call)
        })
    }

    #[test]
    fn no_hedge_until_enough_answers_came() {
        let h = warmed(MIN_SAMPLES - 1, Duration::from_millis(1));
        assert_eq!(h.measure.deadline(), None);
        h.measure.note(Duration::from_millis(1));
        assert_eq!(h.measure.deadline(), Some(FLOOR), "at least a second");
        let slow = warmed(20, Duration::from_millis(500));
        assert_eq!(
            slow.measure.deadline(),
            Some(Duration::from_millis(1500)),
            "3x p95"
        );
    }

    #[test]
    fn a_late_answer_is_hedged_and_the_first_answer_wins() {
        let h = warmed(MIN_SAMPLES, Duration::from_millis(1));
        let calls = Arc::new(AtomicUsize::new(0));
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
        assert_eq!(
            h.measure.out.load(Ordering::SeqCst),
            0,
            "the slot is given back"
        );
        assert_eq!(
            h.measure.threads.load(Ordering::SeqCst),
            2,
            "the watcher and the twin"
        );
    }

    #[test]
    fn a_request_sent_before_the_measure_is_judged_once_it_is_known() {
        let h = Arc::new(warmed(MIN_SAMPLES - 1, Duration::from_millis(1)));
        let later = {
            let h = h.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(300));
                h.measure.note(Duration::from_millis(1));
            })
        };
        let calls = Arc::new(AtomicUsize::new(0));
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
        let calls = Arc::new(AtomicUsize::new(0));
        let (_, hedged) = h
            .run(
                &CancelToken::new(),
                &slow_first(Duration::from_millis(10), &calls),
            )
            .unwrap();
        assert!(!hedged);
        assert_eq!(calls.load(Ordering::SeqCst), 1, "one request");
    }

    /// Prompt answers cost no thread each: 50 of them start the watcher alone, and
    /// each runs on the caller's thread.
    #[test]
    fn prompt_answers_start_no_thread_of_their_own() {
        let h = warmed(MIN_SAMPLES, Duration::from_millis(1));
        let caller = std::thread::current().id();
        let ran_here: Request<bool> =
            Arc::new(move |_: &CancelToken| Ok(std::thread::current().id() == caller));
        for _ in 0..50 {
            let (here, hedged) = h.run(&CancelToken::new(), &ran_here).unwrap();
            assert!(here && !hedged);
        }
        assert_eq!(h.measure.threads.load(Ordering::SeqCst), 1, "the watcher");
    }

    #[test]
    fn no_hedge_once_the_server_asked_for_less_load() {
        let h = warmed(MIN_SAMPLES, Duration::from_millis(1));
        let busy: Request<()> = Arc::new(|_: &CancelToken| {
            crate::transport::note_throttled(503);
            Err(Error::new(ErrorKind::Server, "503").with_status(503))
        });
        assert!(h.run(&CancelToken::new(), &busy).is_err());
        assert_eq!(h.measure.deadline(), None);
        let calls = Arc::new(AtomicUsize::new(0));
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
            assert!(h.measure.begin_hedge());
        }
        assert!(!h.measure.begin_hedge(), "no more than MAX_HEDGES at once");
        let calls = Arc::new(AtomicUsize::new(0));
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
        let calls = Arc::new(AtomicUsize::new(0));
        let never: Request<()> = {
            let calls = Arc::clone(&calls);
            Arc::new(move |tok: &CancelToken| {
                calls.fetch_add(1, Ordering::SeqCst);
                tok.sleep(Duration::from_secs(60))
            })
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
