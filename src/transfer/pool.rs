//! The worker pool and its event loop: parts run on a bounded set of threads, each
//! finished part is recorded on the caller's thread, progress is reported there,
//! and the first failure or a cancel stops the rest.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, mpsc};
use std::time::Duration;

use super::cancel::CancelToken;
use super::plan::Plan;
use super::progress::Reporter;
use crate::error::{Error, ErrorKind, Result};

/// How often the event loop wakes without events, to report progress and see a
/// cancel.
const TICK: Duration = Duration::from_millis(50);

/// Bytes of the buffer each worker lends its parts ([`with_buffer`]).
pub(crate) const WORKER_BUFFER: usize = 1024 * 1024;

thread_local! {
    static BUFFER: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Runs `f` with this worker's buffer of [`WORKER_BUFFER`] bytes, made once per
/// thread and reused by every part it runs, so memory stays one buffer per worker.
/// Not reentrant: `f` must not call it again.
pub(crate) fn with_buffer<T>(f: impl FnOnce(&mut [u8]) -> T) -> T {
    BUFFER.with(|b| {
        let mut buf = b.borrow_mut();
        if buf.len() != WORKER_BUFFER {
            // Zeroed by the allocator (fresh pages), not written here: a page becomes
            // resident only once a part's bytes land in it. A download part's reads
            // from the socket rarely fill more than the first few hundred KiB.
            *buf = vec![0u8; WORKER_BUFFER];
        }
        f(&mut buf)
    })
}

/// What a transfer kind does with one part, on a worker thread.
pub(crate) trait PartWork: Sync {
    /// What a finished part hands to its record.
    type Done: Send;

    /// Moves part `index`. `meter` counts the part's bytes moved so far, for
    /// progress (an attempt that starts the part over stores 0 first). `cancel` is
    /// the run's token: pass it to every request.
    fn run(&self, index: u64, meter: &AtomicU64, cancel: &CancelToken) -> Result<Self::Done>;
}

/// How finished parts are recorded, on the caller's thread.
pub(crate) trait PartRecord<D> {
    /// Records a batch of finished parts; a part counts as done only once this
    /// returns `Ok`. An error stops the run.
    fn record(&mut self, finished: Vec<(u64, D)>) -> Result<()>;
}

/// One run of the pool over some parts of a plan.
pub(crate) struct Pool<'a> {
    pub plan: Plan,
    pub threads: usize,
    /// The caller's token; the run makes a child of it.
    pub cancel: &'a CancelToken,
    /// Bytes already there (a resume), shown in progress from the start.
    pub reused: u64,
}

/// The parts left to run, and how many taken parts are not yet recorded.
///
/// A worker takes a new part only while fewer than `limit` taken parts are
/// unrecorded, so however slowly records are made (a disk's sync), a crash loses
/// at most `limit` parts of moved bytes: one in flight per worker plus one finished
/// part awaiting its record. (A record may itself defer writing: a download without
/// fsync rewrites its checkpoint at most every 100 ms.)
struct Queue {
    pending: VecDeque<u64>,
    unrecorded: usize,
    limit: usize,
}

struct Shared<'w, W> {
    work: &'w W,
    queue: Mutex<Queue>,
    /// Signalled when parts are recorded or the run stops.
    recorded: Condvar,
    /// Set after a failure: no new part is taken (parts in flight finish).
    stop: AtomicBool,
    cancel: CancelToken,
}

enum Event<D> {
    Done(u64, D),
    Failed(Error),
}

impl<W: PartWork> Shared<'_, W> {
    fn worker(&self, meter: &AtomicU64, tx: mpsc::Sender<Event<W::Done>>) {
        while let Some(index) = self.take() {
            meter.store(0, Ordering::Relaxed);
            let result = self.work.run(index, meter, &self.cancel);
            // Zeroed before the part is reported done, so no byte counts twice.
            meter.store(0, Ordering::Relaxed);
            let event = match result {
                Ok(done) => Event::Done(index, done),
                Err(e) => Event::Failed(e),
            };
            let failed = matches!(event, Event::Failed(_));
            if tx.send(event).is_err() || failed {
                break;
            }
        }
    }

    /// The next part, waiting while too many taken parts are unrecorded; `None`
    /// when no part is left or the run stopped.
    fn take(&self) -> Option<u64> {
        let mut q = self.queue.lock().ok()?;
        loop {
            if self.stopped() || q.pending.is_empty() {
                return None;
            }
            if q.unrecorded < q.limit {
                q.unrecorded += 1;
                return q.pending.pop_front();
            }
            // Bounded wait: a stop is seen even if a wake-up is missed.
            q = self.recorded.wait_timeout(q, TICK).ok()?.0;
        }
    }

    fn stopped(&self) -> bool {
        self.stop.load(Ordering::Relaxed) || self.cancel.is_cancelled()
    }

    fn halt(&self) {
        self.stop.store(true, Ordering::Relaxed);
        self.recorded.notify_all();
    }

    fn mark_recorded(&self, n: usize) {
        if let Ok(mut q) = self.queue.lock() {
            q.unrecorded = q.unrecorded.saturating_sub(n);
        }
        self.recorded.notify_all();
    }
}

/// Keeps the failure that explains the run: the first real one wins over the
/// cancellations it causes.
fn keep_failure(failure: &mut Option<Error>, e: Error) {
    let replaces = failure
        .as_ref()
        .is_none_or(|f| f.kind() == ErrorKind::Cancelled && e.kind() != ErrorKind::Cancelled);
    if replaces {
        *failure = Some(e);
    }
}

fn cancelled_by_progress() -> Error {
    Error::new(ErrorKind::Cancelled, "cancelled by the progress callback")
}

impl Pool<'_> {
    /// Runs `pending` parts on up to `threads` workers, recording finished ones with
    /// `record` and reporting progress below 100% (the caller reports 100% once the
    /// transfer is complete). Returns the bytes of the parts moved.
    ///
    /// # Errors
    /// The first part's failure, a record's failure, or `Cancelled` (by the token or
    /// the progress callback). Parts finished before are recorded.
    pub(crate) fn run<W: PartWork>(
        &self,
        work: &W,
        record: &mut dyn PartRecord<W::Done>,
        pending: Vec<u64>,
        reporter: &mut Reporter<'_, '_>,
    ) -> Result<u64> {
        let ceiling = self.plan.size.saturating_sub(1);
        let shown = self.reused.min(ceiling);
        if !reporter.report(shown, true) {
            return Err(cancelled_by_progress());
        }
        self.cancel.check()?;
        if pending.is_empty() {
            return Ok(0);
        }
        let workers = self
            .threads
            .clamp(1, super::plan::MAX_THREADS)
            .min(pending.len());
        let shared = Shared {
            work,
            queue: Mutex::new(Queue {
                pending: pending.into(),
                unrecorded: 0,
                limit: workers + 1,
            }),
            recorded: Condvar::new(),
            stop: AtomicBool::new(false),
            cancel: self.cancel.child(),
        };
        let meters: Vec<AtomicU64> = (0..workers).map(|_| AtomicU64::new(0)).collect();
        let mut state = LoopState {
            failure: None,
            moved: 0,
            shown,
        };
        std::thread::scope(|scope| {
            let (tx, rx) = mpsc::channel();
            for meter in &meters {
                let tx = tx.clone();
                let shared = &shared;
                scope.spawn(move || shared.worker(meter, tx));
            }
            drop(tx);
            loop {
                let first = match rx.recv_timeout(TICK) {
                    Ok(ev) => Some(ev),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                };
                let events = first
                    .into_iter()
                    .chain(std::iter::from_fn(|| rx.try_recv().ok()));
                self.absorb(&shared, events, record, &mut state);
                let in_flight: u64 = meters.iter().map(|m| m.load(Ordering::Relaxed)).sum();
                let done = (self.reused + state.moved + in_flight).min(ceiling);
                state.shown = state.shown.max(done);
                if !shared.stopped() && !reporter.report(state.shown, false) {
                    // Interrupts the parts in flight, too.
                    shared.cancel.cancel();
                    shared.halt();
                    keep_failure(&mut state.failure, cancelled_by_progress());
                }
            }
        });
        match state.failure {
            Some(e) => Err(e),
            None => Ok(state.moved),
        }
    }

    /// Takes in a batch of the workers' events on the caller's thread: finished
    /// parts are recorded together, a failure or a cancel stops the run.
    fn absorb<W: PartWork>(
        &self,
        shared: &Shared<'_, W>,
        events: impl Iterator<Item = Event<W::Done>>,
        record: &mut dyn PartRecord<W::Done>,
        state: &mut LoopState,
    ) {
        let mut finished = Vec::new();
        for ev in events {
            match ev {
                Event::Done(index, done) => {
                    state.moved += self.plan.len(index);
                    finished.push((index, done));
                }
                Event::Failed(e) => {
                    shared.halt();
                    keep_failure(&mut state.failure, e);
                }
            }
        }
        if !finished.is_empty() {
            let n = finished.len();
            if let Err(e) = record.record(finished) {
                shared.halt();
                keep_failure(&mut state.failure, e);
            }
            shared.mark_recorded(n);
        }
        if self.cancel.is_cancelled() {
            shared.halt();
            keep_failure(&mut state.failure, CancelToken::error());
        }
    }
}

/// What the event loop keeps between wake-ups.
struct LoopState {
    failure: Option<Error>,
    /// Bytes of the parts finished in this run.
    moved: u64,
    /// The highest progress shown (never a step back).
    shown: u64,
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;
    use std::time::Instant;

    /// Parts that take `delay` each (unless cancelled), failing at `fail`.
    struct Sleepy {
        delay: Duration,
        fail: Option<u64>,
        running: AtomicUsize,
        most: AtomicUsize,
        ran: Mutex<Vec<u64>>,
    }

    impl Sleepy {
        fn new(delay: Duration, fail: Option<u64>) -> Sleepy {
            Sleepy {
                delay,
                fail,
                running: AtomicUsize::new(0),
                most: AtomicUsize::new(0),
                ran: Mutex::new(Vec::new()),
            }
        }
    }

    impl PartWork for Sleepy {
        type Done = u64;
        fn run(&self, index: u64, meter: &AtomicU64, cancel: &CancelToken) -> Result<u64> {
            let now = self.running.fetch_add(1, Ordering::SeqCst) + 1;
            self.most.fetch_max(now, Ordering::SeqCst);
            self.ran.lock().unwrap().push(index);
            let r = cancel.sleep(self.delay);
            meter.fetch_add(1, Ordering::Relaxed);
            self.running.fetch_sub(1, Ordering::SeqCst);
            r?;
            if self.fail == Some(index) {
                return Err(Error::new(
                    ErrorKind::Server,
                    format!("part {index} failed"),
                ));
            }
            Ok(index * 10)
        }
    }

    /// Records into a list, optionally slowly, sampling how many taken parts are
    /// unrecorded.
    struct List {
        got: Vec<(u64, u64)>,
        delay: Duration,
    }

    impl PartRecord<u64> for List {
        fn record(&mut self, finished: Vec<(u64, u64)>) -> Result<()> {
            std::thread::sleep(self.delay);
            self.got.extend(finished);
            Ok(())
        }
    }

    fn pool(plan: Plan, threads: usize, cancel: &CancelToken) -> Pool<'_> {
        Pool {
            plan,
            threads,
            cancel,
            reused: 0,
        }
    }

    #[test]
    fn every_pending_part_runs_once_on_at_most_threads_workers() {
        let plan = Plan::new(100, 10);
        let token = CancelToken::new();
        let work = Sleepy::new(Duration::from_millis(5), None);
        let mut list = List {
            got: Vec::new(),
            delay: Duration::ZERO,
        };
        let mut seen = Vec::new();
        let mut cb = |d: u64, t: u64| {
            seen.push((d, t));
            true
        };
        let mut reporter = Reporter::new(Some(&mut cb), plan.size);
        let pending: Vec<u64> = (0..10).filter(|i| i % 3 != 0).collect();
        let moved = pool(plan, 3, &token)
            .run(&work, &mut list, pending.clone(), &mut reporter)
            .unwrap();

        let mut got: Vec<u64> = list.got.iter().map(|(i, _)| *i).collect();
        got.sort_unstable();
        assert_eq!(got, pending);
        assert!(list.got.iter().all(|(i, d)| *d == i * 10));
        assert_eq!(moved, plan.bytes_of(pending));
        assert!(work.most.load(Ordering::SeqCst) <= 3);
        assert!(seen.windows(2).all(|w| w[0].0 <= w[1].0), "{seen:?}");
        assert!(
            seen.iter().all(|(d, _)| *d < plan.size),
            "100% is the caller's"
        );
    }

    #[test]
    fn after_a_failure_no_new_part_is_taken_and_finished_ones_are_recorded() {
        let plan = Plan::new(1000, 10);
        let token = CancelToken::new();
        let work = Sleepy::new(Duration::from_millis(20), Some(2));
        let mut list = List {
            got: Vec::new(),
            delay: Duration::ZERO,
        };
        let mut reporter = Reporter::new(None, plan.size);
        let e = pool(plan, 2, &token)
            .run(&work, &mut list, (0..100).collect(), &mut reporter)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Server);
        let ran = work.ran.lock().unwrap().len();
        assert!(ran < 10, "{ran} parts started after part 2 failed");
        assert!(
            list.got.iter().any(|(i, _)| *i < 2),
            "finished parts recorded"
        );
    }

    #[test]
    fn a_cancel_stops_parts_in_flight_promptly() {
        let plan = Plan::new(40, 10);
        let token = CancelToken::new();
        let work = Sleepy::new(Duration::from_secs(30), None);
        let mut list = List {
            got: Vec::new(),
            delay: Duration::ZERO,
        };
        let t = token.clone();
        let canceller = std::thread::spawn(move || {
            // Cancels once the parts are in flight (bounded wait).
            std::thread::sleep(Duration::from_millis(100));
            t.cancel();
        });
        let start = Instant::now();
        let mut reporter = Reporter::new(None, plan.size);
        let e = pool(plan, 4, &token)
            .run(&work, &mut list, (0..4).collect(), &mut reporter)
            .unwrap_err();
        canceller.join().unwrap();
        assert_eq!(e.kind(), ErrorKind::Cancelled);
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{:?}",
            start.elapsed()
        );
        assert!(list.got.is_empty());
    }

    #[test]
    fn a_progress_callback_returning_false_cancels_the_run() {
        let plan = Plan::new(100, 10);
        let token = CancelToken::new();
        let work = Sleepy::new(Duration::from_millis(10), None);
        let mut list = List {
            got: Vec::new(),
            delay: Duration::ZERO,
        };
        let mut calls = 0;
        let mut cb = |_: u64, _: u64| {
            calls += 1;
            calls < 2
        };
        let mut reporter = Reporter::new(Some(&mut cb), plan.size);
        let e = pool(plan, 2, &token)
            .run(&work, &mut list, (0..10).collect(), &mut reporter)
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Cancelled);
        assert!(!token.is_cancelled(), "the caller's token is left alone");
        assert!(list.got.len() < 10);
    }

    #[test]
    fn slow_records_hold_unrecorded_parts_to_threads_plus_one() {
        struct Watch<'a> {
            work: &'a Sleepy,
            started: &'a AtomicUsize,
        }
        impl PartWork for Watch<'_> {
            type Done = u64;
            fn run(&self, i: u64, m: &AtomicU64, c: &CancelToken) -> Result<u64> {
                self.started.fetch_add(1, Ordering::SeqCst);
                self.work.run(i, m, c)
            }
        }
        struct Counting<'a> {
            started: &'a AtomicUsize,
            recorded: usize,
            worst: usize,
        }
        impl PartRecord<u64> for Counting<'_> {
            fn record(&mut self, f: Vec<(u64, u64)>) -> Result<()> {
                let unrecorded = self.started.load(Ordering::SeqCst) - self.recorded;
                self.worst = self.worst.max(unrecorded);
                std::thread::sleep(Duration::from_millis(30));
                self.recorded += f.len();
                Ok(())
            }
        }
        let plan = Plan::new(400, 10);
        let token = CancelToken::new();
        let started = AtomicUsize::new(0);
        let inner = Sleepy::new(Duration::from_millis(1), None);
        let work = Watch {
            work: &inner,
            started: &started,
        };
        let mut rec = Counting {
            started: &started,
            recorded: 0,
            worst: 0,
        };
        let mut reporter = Reporter::new(None, plan.size);
        pool(plan, 3, &token)
            .run(&work, &mut rec, (0..40).collect(), &mut reporter)
            .unwrap();
        assert_eq!(rec.recorded, 40);
        assert!(
            rec.worst <= 4,
            "{} taken parts unrecorded, bound 4",
            rec.worst
        );
        assert!(rec.worst >= 2, "the check saw parts in flight");
    }
}
