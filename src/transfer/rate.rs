//! The bandwidth cap: a token bucket per direction, one pair per client, shared by
//! every connection of that client (and so by every worker of every transfer). The
//! transport's connections pay for each byte they move ([`Limiter::pay`]); nothing
//! else knows the cap exists.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::cancel::CancelToken;
use crate::error::{Error, Result};

/// How far ahead of the cap a direction may run after an idle spell: 50 ms of
/// bytes. Small, so no 250 ms window carries much more than its share.
const BURST: Duration = Duration::from_millis(50);
/// Longest single sleep of a waiting connection, so a change of the cap is seen
/// within this long.
const SLICE: Duration = Duration::from_millis(100);

/// A client's bandwidth cap, in bytes per second, for each direction on its own;
/// 0 means no cap (the default).
///
/// The cap holds for the client as a whole: every connection of the client (and of
/// its clones) draws from the same budget, so parallel parts and concurrent transfers
/// share it. Body bytes, request and response heads all count. It composes with
/// OSS's per-connection `x-oss-traffic-limit` ([`RequestOptions::traffic_limit`](crate::RequestOptions)),
/// which the server applies on its side. Set it with
/// [`ConfigBuilder::rate_limit`](crate::ConfigBuilder::rate_limit), change it on a live
/// client with [`Client::set_rate_limit`](crate::Client::set_rate_limit).
///
/// ```
/// use oss_resume::RateLimit;
/// let cap = RateLimit::new(RateLimit::parse_rate("4M")?, 0); // 4 MiB/s down, no cap up
/// assert_eq!(cap.download, 4 << 20);
/// # Ok::<(), oss_resume::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct RateLimit {
    /// Bytes per second received from the server (downloads, streams, random-access
    /// reads, the reading half of a stream copy). 0: no cap.
    pub download: u64,
    /// Bytes per second sent to the server (uploads, puts, the writing half of a
    /// stream copy). 0: no cap.
    pub upload: u64,
}

impl RateLimit {
    /// A cap of `download` and `upload` bytes per second (0: none).
    pub fn new(download: u64, upload: u64) -> RateLimit {
        RateLimit { download, upload }
    }

    /// Parses a rate in bytes per second: a number with an optional binary suffix
    /// `K`, `M` or `G` (also `KiB`, `MB`..., any case; all powers of 1024), e.g.
    /// `500K`, `4M`, `1.5G`; `0` means no cap.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) naming the
    /// text, for anything else (negative, unknown suffix, overflow).
    pub fn parse_rate(text: &str) -> Result<u64> {
        let bad = || {
            Error::invalid(format!(
                "{text:?} is not a rate in bytes per second (e.g. 500K, 4M, 1G)"
            ))
        };
        let t = text.trim();
        let lower = t.to_ascii_lowercase();
        let digits_end = lower
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(lower.len());
        let (number, unit) = lower.split_at(digits_end);
        let unit = unit.trim().trim_end_matches("/s");
        let scale: u64 = match unit.trim_end_matches("ib").trim_end_matches('b') {
            "" => 1,
            "k" => 1 << 10,
            "m" => 1 << 20,
            "g" => 1 << 30,
            _ => return Err(bad()),
        };
        let value: f64 = number.parse().map_err(|_| bad())?;
        let bytes = value * scale as f64;
        if !bytes.is_finite() || bytes < 0.0 || bytes >= u64::MAX as f64 {
            return Err(bad());
        }
        Ok(bytes.round() as u64)
    }
}

/// The two buckets of one client.
#[derive(Debug, Default)]
pub(crate) struct Limiter {
    down: Bucket,
    up: Bucket,
}

/// Which way bytes move.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Direction {
    /// From the server.
    Down,
    /// To the server.
    Up,
}

impl Limiter {
    /// A limiter with this cap.
    pub fn new(limit: RateLimit) -> Limiter {
        let limiter = Limiter::default();
        limiter.set(limit);
        limiter
    }

    /// Changes the cap; connections waiting for the old one re-plan within 100 ms.
    pub fn set(&self, limit: RateLimit) {
        self.down.set(limit.download);
        self.up.set(limit.upload);
    }

    /// The cap now.
    pub fn get(&self) -> RateLimit {
        RateLimit {
            download: self.down.rate.load(Ordering::Relaxed),
            upload: self.up.rate.load(Ordering::Relaxed),
        }
    }

    /// Pays for `n` bytes moved (or about to be) in `way`: returns at once without a
    /// cap, else once the bucket allows them. The wait ends early with
    /// `Err(Cancelled)` when `cancel` fires.
    pub fn pay(&self, way: Direction, n: usize, cancel: Option<&CancelToken>) -> Result<()> {
        let bucket = match way {
            Direction::Down => &self.down,
            Direction::Up => &self.up,
        };
        // The hot path without a cap: one load and one branch.
        if n == 0 || bucket.rate.load(Ordering::Relaxed) == 0 {
            return Ok(());
        }
        bucket.pay(n as u64, cancel)
    }
}

/// One direction's bucket, kept as the time its reservations run to (the "virtual
/// clock" form of a token bucket: a reservation of n bytes moves `next` on by
/// n / rate, and waits until `next` is less than [`BURST`] ahead of now).
#[derive(Debug)]
struct Bucket {
    /// Bytes per second, 0 for none; read without the lock on every payment.
    rate: AtomicU64,
    /// Bumped on every change of the cap, so waiters re-plan.
    generation: AtomicU64,
    next: Mutex<Instant>,
}

impl Default for Bucket {
    fn default() -> Self {
        Bucket {
            rate: AtomicU64::new(0),
            generation: AtomicU64::new(0),
            next: Mutex::new(Instant::now()),
        }
    }
}

impl Bucket {
    fn set(&self, rate: u64) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        // The reservations made under the old cap are forgiven: their owners
        // reserve again under the new one.
        *next = Instant::now();
        self.rate.store(rate, Ordering::Relaxed);
        self.generation.fetch_add(1, Ordering::Relaxed);
    }

    /// Reserves `n` bytes and waits until they are due; on a change of the cap while
    /// waiting, reserves them again under the new one.
    fn pay(&self, n: u64, cancel: Option<&CancelToken>) -> Result<()> {
        loop {
            let generation = self.generation.load(Ordering::Relaxed);
            let Some(due) = self.reserve(n) else {
                return Ok(());
            };
            if wait_until(due, cancel, || {
                self.generation.load(Ordering::Relaxed) != generation
            })? {
                return Ok(());
            }
        }
    }

    /// The moment `n` more bytes may have moved, `None` without a cap.
    fn reserve(&self, n: u64) -> Option<Instant> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        let rate = self.rate.load(Ordering::Relaxed);
        if rate == 0 {
            return None;
        }
        let now = Instant::now();
        // An idle bucket refills only up to the burst.
        let floor = now.checked_sub(BURST).unwrap_or(now);
        let start = (*next).max(floor);
        *next = start + Duration::from_secs_f64(n as f64 / rate as f64);
        Some(next.checked_sub(BURST).unwrap_or(*next).max(now))
    }
}

/// Sleeps until `due` in slices of at most [`SLICE`]; `Ok(false)` as soon as
/// `changed` says the plan is stale, `Ok(true)` when due.
fn wait_until(
    due: Instant,
    cancel: Option<&CancelToken>,
    changed: impl Fn() -> bool,
) -> Result<bool> {
    loop {
        let now = Instant::now();
        if now >= due {
            return Ok(true);
        }
        let slice = (due - now).min(SLICE);
        match cancel {
            Some(token) => token.sleep(slice)?,
            None => std::thread::sleep(slice),
        }
        if changed() {
            return Ok(false);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn rates_parse_with_binary_suffixes_and_refuse_the_rest() {
        assert_eq!(RateLimit::parse_rate("0").unwrap(), 0);
        assert_eq!(RateLimit::parse_rate("1000").unwrap(), 1000);
        assert_eq!(RateLimit::parse_rate("500K").unwrap(), 500 << 10);
        assert_eq!(RateLimit::parse_rate("4m").unwrap(), 4 << 20);
        assert_eq!(RateLimit::parse_rate("4MiB").unwrap(), 4 << 20);
        assert_eq!(RateLimit::parse_rate("1.5G").unwrap(), 3 << 29);
        assert_eq!(RateLimit::parse_rate(" 2M/s ").unwrap(), 2 << 20);
        for bad in ["", "M", "-1M", "4X", "1e400", "99999999999G", "4 M M"] {
            let e = RateLimit::parse_rate(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidArgument, "{bad}");
        }
    }

    #[test]
    fn without_a_cap_payment_is_free() {
        let l = Limiter::new(RateLimit::default());
        let started = Instant::now();
        for _ in 0..1000 {
            l.pay(Direction::Down, 1 << 20, None).unwrap();
        }
        assert!(started.elapsed() < Duration::from_millis(500));
    }

    #[test]
    fn payments_are_spread_at_the_rate_after_a_small_burst() {
        // 1 MB/s: 300 KB is paid in 0.3 s less the 0.05 s burst.
        let l = Limiter::new(RateLimit::new(1_000_000, 0));
        let started = Instant::now();
        for _ in 0..30 {
            l.pay(Direction::Down, 10_000, None).unwrap();
        }
        let took = started.elapsed();
        assert!(took >= Duration::from_millis(240), "{took:?}");
        // The other direction has no cap.
        let started = Instant::now();
        l.pay(Direction::Up, 10_000_000, None).unwrap();
        assert!(started.elapsed() < Duration::from_millis(100));
    }

    #[test]
    fn a_wait_ends_when_the_cap_is_lifted_or_the_token_fires() {
        let l = std::sync::Arc::new(Limiter::new(RateLimit::new(1000, 1000)));
        // A 60 s debt, paid off by lifting the cap.
        let lifter = {
            let l = l.clone();
            std::thread::spawn(move || {
                std::thread::sleep(Duration::from_millis(200));
                l.set(RateLimit::default());
            })
        };
        let started = Instant::now();
        l.pay(Direction::Down, 60_000, None).unwrap();
        assert!(started.elapsed() < Duration::from_secs(5));
        lifter.join().unwrap();
        l.set(RateLimit::new(1000, 1000));
        let token = CancelToken::new();
        let t = token.clone();
        let canceller = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(200));
            t.cancel();
        });
        let started = Instant::now();
        let e = l.pay(Direction::Up, 60_000, Some(&token)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Cancelled);
        assert!(started.elapsed() < Duration::from_secs(5));
        canceller.join().unwrap();
    }
}
