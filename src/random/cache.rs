//! The pages of one open file: which are fetched, which are on their way, and the
//! workers that fetch them.
//!
//! An object is cut into [`PAGE`]-sized pages. A read pins the pages it covers; pages
//! not there are reserved under the client's [`Budget`] and queued as a fetch (a
//! pinned, resuming ranged GET of a run of pages), which fills them one by one as
//! the body arrives, so a reader waits only for its own pages. Fetches the reader
//! waits for are queued before prefetches. When the budget cannot hold a read's
//! pages even after evicting this file's idle pages, the read goes straight into the
//! caller's buffer instead (one GET, nothing kept): a read never waits for memory.

use std::collections::{HashMap, VecDeque};
use std::io::Read;
use std::ops::{Range, RangeInclusive};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use super::prefetch::Streams;
use crate::client::{Client, RequestOptions};
use crate::error::{Error, ErrorKind, Result};
use crate::transfer::budget::{Budget, Reservation};
use crate::transfer::cancel::CancelToken;
use crate::transport::map_io_error;

/// The unit of fetching and caching.
pub(crate) const PAGE: u64 = 64 * 1024;

/// The most one GET asks for; a larger window is fetched by several in parallel.
pub(crate) const REQUEST_MAX: u64 = 8 * 1024 * 1024;

/// How often a waiting reader looks at its cancel token.
const TICK: Duration = Duration::from_millis(50);

/// What one file fetches from.
pub(crate) struct Object {
    pub client: Client,
    pub bucket: String,
    pub key: String,
    pub etag: String,
    pub size: u64,
    /// Every request's options; its cancel token is [`Cache::token`].
    pub request: RequestOptions,
    pub resumes: u32,
}

/// What a file has done, for [`FileStats`](super::FileStats).
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub requests: AtomicU64,
    pub bytes_fetched: AtomicU64,
    pub bytes_read: AtomicU64,
    pub bytes_from_cache: AtomicU64,
}

enum Slot {
    Pending,
    Ready(Arc<[u8]>),
    Failed(Error),
}

struct Page {
    slot: Slot,
    /// When a read last asked for it, on the file's clock.
    used: u64,
    /// Reads waiting for it; a pinned page is never evicted.
    pins: u32,
    _held: Reservation,
}

#[derive(Default)]
struct State {
    pages: HashMap<u64, Page>,
    streams: Streams,
    /// Runs of pages to fetch that a reader waits for, then those it does not.
    demand: VecDeque<Range<u64>>,
    prefetch: VecDeque<Range<u64>>,
    workers: usize,
    busy: usize,
    clock: u64,
    /// Set once the object changed or its bytes failed their CRC: every read fails.
    failed: Option<Error>,
    closed: bool,
}

/// One open file's pages, shared by its handle and its workers.
pub(crate) struct Cache {
    pub object: Object,
    /// Cancelled with the caller's token and when the file is dropped.
    pub token: CancelToken,
    pub counters: Counters,
    budget: Arc<Budget>,
    max_requests: usize,
    max_window: u64,
    state: Mutex<State>,
    arrived: Condvar,
}

/// An error carried through `io::Error`, unwrapped when it is one of ours.
pub(crate) fn into_error(e: std::io::Error) -> Error {
    if e.get_ref().is_some_and(|i| i.is::<Error>()) {
        // Just checked that the inner error is ours.
        return *e
            .into_inner()
            .and_then(|i| i.downcast().ok())
            .expect("ours");
    }
    map_io_error(e)
}

impl Cache {
    pub fn new(
        object: Object,
        token: CancelToken,
        budget: Arc<Budget>,
        max_requests: usize,
        max_window: u64,
    ) -> Cache {
        Cache {
            object,
            token,
            counters: Counters::default(),
            budget,
            max_requests,
            max_window,
            state: Mutex::new(State::default()),
            arrived: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Every update of the state is complete before anything can panic, so a
        // poisoned lock still guards consistent pages.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fills `buf` (within the object) from `offset`.
    pub fn read(self: &Arc<Self>, buf: &mut [u8], offset: u64) -> Result<()> {
        let planned = {
            let mut st = self.lock();
            self.usable(&st)?;
            let planned = self.plan(&mut st, offset, buf.len() as u64);
            self.spawn_workers(&mut st);
            planned
        };
        let Some(pages) = planned else {
            return self.read_direct(buf, offset);
        };
        let first = *pages.start();
        for (i, data) in self.wait_for(pages)?.iter().enumerate() {
            let page_start = (first + i as u64) * PAGE;
            let from = offset.max(page_start);
            let to = (offset + buf.len() as u64).min(page_start + data.len() as u64);
            buf[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&data[(from - page_start) as usize..(to - page_start) as usize]);
        }
        Ok(())
    }

    /// Whether reads may go on: not failed, closed or cancelled.
    fn usable(&self, st: &State) -> Result<()> {
        if let Some(e) = &st.failed {
            return Err(e.duplicate());
        }
        if st.closed {
            return Err(Error::new(ErrorKind::Cancelled, "the file is closed"));
        }
        self.token.check()
    }

    fn page_len(&self, page: u64) -> u64 {
        PAGE.min(self.object.size - page * PAGE)
    }

    /// Pins the pages of a read, queues the fetches it needs and the prefetch its
    /// stream asks for; `None` when its pages do not fit in the budget.
    fn plan(&self, st: &mut State, offset: u64, len: u64) -> Option<RangeInclusive<u64>> {
        let pages = offset / PAGE..=(offset + len - 1) / PAGE;
        let cap = self.window_cap(st);
        let advice = st.streams.on_read(offset, len, self.object.size, cap);
        st.clock += 1;
        let mut missing = Vec::new();
        let mut cached = 0;
        for p in pages.clone() {
            match st.pages.get_mut(&p) {
                Some(page) if matches!(page.slot, Slot::Failed(_)) && page.pins == 0 => {
                    // A prefetch that failed with no reader waiting: fetched again.
                    st.pages.remove(&p);
                    missing.push(p);
                }
                Some(page) => {
                    page.used = st.clock;
                    page.pins += 1;
                    let (a, b) = (p * PAGE, p * PAGE + self.page_len(p));
                    cached += b.min(offset + len) - a.max(offset);
                }
                None => missing.push(p),
            }
        }
        // After the pins: a read longer than the backward window passes its own pages.
        self.release(st, advice.passed);
        if !self.hold(st, &missing, true) {
            unpin(st, pages);
            // Nothing is fetched ahead either; advised again on the next read.
            let end = offset + len;
            st.streams.fetched_to(end, end);
            return None;
        }
        self.counters
            .bytes_from_cache
            .fetch_add(cached, Ordering::Relaxed);
        let mut fresh: Vec<(u64, bool)> = missing.iter().map(|&p| (p, true)).collect();
        let ahead = self.prefetch(st, advice.prefetch, offset + len);
        fresh.extend(ahead.into_iter().map(|p| (p, false)));
        queue_runs(st, &fresh);
        Some(pages)
    }

    /// Reserves and adds pending pages for the prefetch advised, as far as the
    /// budget allows (the stream is told where that stopped); returns them.
    fn prefetch(&self, st: &mut State, advised: Range<u64>, read_end: u64) -> Vec<u64> {
        if advised.is_empty() {
            return Vec::new();
        }
        let pages = advised.start / PAGE..advised.end.div_ceil(PAGE);
        let mut added = Vec::new();
        let mut reached = advised.end;
        for p in pages {
            if st.pages.contains_key(&p) {
                continue;
            }
            if !self.hold(st, &[p], false) {
                reached = p * PAGE;
                break;
            }
            added.push(p);
        }
        if reached < advised.end {
            st.streams
                .fetched_to(read_end.min(self.object.size), reached);
        }
        added
    }

    /// Adds `pages` as pending, each under a reservation (evicting idle pages when
    /// the budget is short); all or none. Pinned for a reader when `pinned`.
    fn hold(&self, st: &mut State, pages: &[u64], pinned: bool) -> bool {
        let bytes: u64 = pages.iter().map(|&p| self.page_len(p)).sum();
        // A read larger than a quarter of the budget would empty it for one use.
        if pinned && bytes > self.budget.limit() / 4 {
            return pages.is_empty();
        }
        let mut held = Vec::with_capacity(pages.len());
        for &p in pages {
            let len = self.page_len(p);
            let reservation = match self.budget.try_reserve(len) {
                Some(r) => r,
                None => {
                    self.evict(st, len);
                    match self.budget.try_reserve(len) {
                        Some(r) => r,
                        None => return false,
                    }
                }
            };
            held.push((p, reservation));
        }
        for (p, reservation) in held {
            let page = Page {
                slot: Slot::Pending,
                used: st.clock,
                pins: u32::from(pinned),
                _held: reservation,
            };
            st.pages.insert(p, page);
        }
        true
    }

    /// Removes this file's least recently used idle pages until `need` bytes are
    /// freed or none is left: fetched, not pinned, not ahead of a stream.
    fn evict(&self, st: &mut State, need: u64) {
        let ahead: Vec<Range<u64>> = st.streams.ahead().collect();
        let mut idle: Vec<(u64, u64)> = st
            .pages
            .iter()
            .filter(|(p, page)| {
                page.pins == 0 && !matches!(page.slot, Slot::Pending) && !in_any(&ahead, **p * PAGE)
            })
            .map(|(p, page)| (page.used, *p))
            .collect();
        idle.sort_unstable();
        let mut freed = 0;
        for (_, p) in idle {
            if freed >= need {
                break;
            }
            st.pages.remove(&p);
            freed += self.page_len(p);
        }
    }

    /// Drops the idle pages wholly inside `passed` (bytes a stream has left behind)
    /// that no other stream is about to read.
    fn release(&self, st: &mut State, passed: Range<u64>) {
        if passed.is_empty() {
            return;
        }
        let ahead: Vec<Range<u64>> = st.streams.ahead().collect();
        for p in passed.start.div_ceil(PAGE)..passed.end / PAGE {
            let idle = st
                .pages
                .get(&p)
                .is_some_and(|page| page.pins == 0 && matches!(page.slot, Slot::Ready(_)));
            if idle && !in_any(&ahead, p * PAGE) {
                st.pages.remove(&p);
            }
        }
    }

    /// The largest window a stream may have: the file's maximum, and no more than
    /// half the budget shared among this file's streams.
    fn window_cap(&self, st: &State) -> u64 {
        let streams = st.streams.len().max(1) as u64;
        let cap = self.max_window.min(self.budget.limit() / (2 * streams));
        cap / PAGE * PAGE
    }

    /// Waits for the pinned pages to arrive and unpins them; their bytes in order.
    fn wait_for(&self, pages: RangeInclusive<u64>) -> Result<Vec<Arc<[u8]>>> {
        let mut st = self.lock();
        let mut got = Vec::with_capacity(pages.clone().count());
        let (mut p, last) = pages.into_inner();
        while p <= last {
            let Some(page) = st.pages.get_mut(&p) else {
                // Pinned pages stay until unpinned; only a close removes them.
                unpin(&mut st, p + 1..=last);
                self.usable(&st)?;
                return Err(Error::new(ErrorKind::Cancelled, "the file is closed"));
            };
            match &page.slot {
                Slot::Ready(data) => {
                    got.push(data.clone());
                    page.pins -= 1;
                    p += 1;
                }
                Slot::Failed(e) => {
                    let e = e.duplicate();
                    page.pins -= 1;
                    if page.pins == 0 {
                        st.pages.remove(&p);
                    }
                    unpin(&mut st, p + 1..=last);
                    return Err(e);
                }
                Slot::Pending => {
                    if let Err(e) = self.usable(&st) {
                        unpin(&mut st, p..=last);
                        return Err(e);
                    }
                    st = self
                        .arrived
                        .wait_timeout(st, TICK)
                        .unwrap_or_else(|p| p.into_inner())
                        .0;
                }
            }
        }
        Ok(got)
    }

    /// Reads straight into `buf` with one pinned GET, keeping nothing.
    fn read_direct(&self, buf: &mut [u8], offset: u64) -> Result<()> {
        let o = &self.object;
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let mut stream = o.client.open_pinned(
            &o.bucket,
            &o.key,
            offset,
            buf.len() as u64,
            &o.etag,
            &o.request,
            o.resumes,
        );
        if let Err(e) = stream.read_exact(buf) {
            return Err(self.note_failure(into_error(e)));
        }
        self.counters
            .bytes_fetched
            .fetch_add(buf.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// Makes a changed object fail every later read too; returns the error.
    fn note_failure(&self, e: Error) -> Error {
        if e.kind() == ErrorKind::ObjectChanged {
            let mut st = self.lock();
            st.failed.get_or_insert_with(|| e.duplicate());
            self.arrived.notify_all();
        }
        e
    }

    /// Makes every read fail with `e` from now on.
    pub fn fail(&self, e: &Error) {
        let mut st = self.lock();
        st.failed.get_or_insert_with(|| e.duplicate());
        self.arrived.notify_all();
    }

    /// Starts workers for queued runs: up to `max_requests`, and beyond it only so
    /// that no run a reader waits for sits behind prefetches.
    fn spawn_workers(self: &Arc<Self>, st: &mut State) {
        loop {
            let idle = st.workers - st.busy;
            if st.demand.len() + st.prefetch.len() <= idle {
                return;
            }
            if st.workers >= self.max_requests && idle >= st.demand.len() {
                return;
            }
            let me = self.clone();
            let spawned = std::thread::Builder::new()
                .name("ossr-prefetch".into())
                .spawn(move || me.work());
            match spawned {
                Ok(_) => st.workers += 1,
                Err(e) => {
                    if st.workers == 0 {
                        let e = Error::io("starting a prefetch thread", e);
                        let runs: Vec<_> =
                            st.demand.drain(..).chain(st.prefetch.drain(..)).collect();
                        for run in runs {
                            fail_pages(st, run, &e);
                        }
                        self.arrived.notify_all();
                    }
                    return;
                }
            }
        }
    }

    /// A worker: fetches queued runs until none is left.
    fn work(self: Arc<Self>) {
        loop {
            let run = {
                let mut st = self.lock();
                let next = st.demand.pop_front().or_else(|| st.prefetch.pop_front());
                match next {
                    Some(run) if !st.closed => {
                        st.busy += 1;
                        run
                    }
                    _ => {
                        st.workers -= 1;
                        return;
                    }
                }
            };
            let fetched =
                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| self.fetch(run.clone())));
            let mut st = self.lock();
            st.busy -= 1;
            if fetched.is_err() {
                fail_pages(
                    &mut st,
                    run,
                    &Error::new(ErrorKind::Server, "a prefetch failed"),
                );
                self.arrived.notify_all();
            }
        }
    }

    /// Fetches a run of pages with one pinned GET, filling each as it arrives.
    fn fetch(&self, run: Range<u64>) {
        let o = &self.object;
        let first = run.start * PAGE;
        let end = (run.end * PAGE).min(o.size);
        self.counters.requests.fetch_add(1, Ordering::Relaxed);
        let mut stream = o.client.open_pinned(
            &o.bucket,
            &o.key,
            first,
            end - first,
            &o.etag,
            &o.request,
            o.resumes,
        );
        for p in run.clone() {
            let mut data = vec![0u8; self.page_len(p) as usize];
            if let Err(e) = stream.read_exact(&mut data) {
                let e = self.note_failure(into_error(e));
                let mut st = self.lock();
                fail_pages(&mut st, p..run.end, &e);
                self.arrived.notify_all();
                return;
            }
            self.counters
                .bytes_fetched
                .fetch_add(data.len() as u64, Ordering::Relaxed);
            let mut st = self.lock();
            if st.closed {
                return;
            }
            if let Some(page) = st.pages.get_mut(&p) {
                page.slot = Slot::Ready(data.into());
            }
            self.arrived.notify_all();
        }
    }

    /// Stops every fetch and gives back every page's memory.
    pub fn close(&self) {
        let mut st = self.lock();
        st.closed = true;
        st.pages.clear();
        st.demand.clear();
        st.prefetch.clear();
        self.arrived.notify_all();
        drop(st);
        self.token.cancel();
    }
}

fn in_any(ranges: &[Range<u64>], byte: u64) -> bool {
    ranges.iter().any(|r| r.contains(&byte))
}

fn unpin(st: &mut State, pages: RangeInclusive<u64>) {
    for p in pages {
        if let Some(page) = st.pages.get_mut(&p) {
            page.pins = page.pins.saturating_sub(1);
        }
    }
}

/// Marks the pending pages of `run` failed with `e`.
fn fail_pages(st: &mut State, run: Range<u64>, e: &Error) {
    for p in run {
        if let Some(page) = st.pages.get_mut(&p)
            && matches!(page.slot, Slot::Pending)
        {
            page.slot = Slot::Failed(e.duplicate());
        }
    }
}

/// Queues newly pending pages as runs of contiguous pages, each at most
/// [`REQUEST_MAX`]; a run holding a page a reader waits for goes first.
fn queue_runs(st: &mut State, fresh: &[(u64, bool)]) {
    let most = REQUEST_MAX / PAGE;
    let mut i = 0;
    while i < fresh.len() {
        let (start, mut demand) = fresh[i];
        let mut end = start + 1;
        i += 1;
        while i < fresh.len() && fresh[i].0 == end && end - start < most {
            demand |= fresh[i].1;
            end += 1;
            i += 1;
        }
        if demand {
            st.demand.push_back(start..end);
        } else {
            st.prefetch.push_back(start..end);
        }
    }
}
