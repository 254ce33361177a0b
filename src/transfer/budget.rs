//! The client-wide memory budget of every file opened with
//! [`Client::open_file`](crate::Client::open_file): fetched bytes are held only under
//! a reservation, and reservations never add up to more than the limit.

use std::sync::{Arc, Mutex};

/// The default limit: 64 MiB.
pub(crate) const DEFAULT_PREFETCH_MEMORY: u64 = 64 * 1024 * 1024;

/// How much of a client's prefetch memory is in use, and the most ever in use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MemoryUse {
    /// The limit ([`ConfigBuilder::prefetch_memory`](crate::ConfigBuilder::prefetch_memory)).
    pub limit: u64,
    /// Bytes reserved now (fetched or being fetched, held by open files).
    pub in_use: u64,
    /// The most bytes ever reserved at once; never above `limit`.
    pub peak: u64,
}

/// The limiter. One per client, shared by all its open files.
#[derive(Debug)]
pub(crate) struct Budget {
    limit: u64,
    counts: Mutex<(u64, u64)>,
}

/// Bytes held under the budget, given back when dropped.
#[derive(Debug)]
pub(crate) struct Reservation {
    budget: Arc<Budget>,
    bytes: u64,
}

impl Budget {
    pub fn new(limit: u64) -> Arc<Budget> {
        Arc::new(Budget {
            limit,
            counts: Mutex::new((0, 0)),
        })
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Reserves `bytes` if they fit under the limit now; never waits.
    pub fn try_reserve(self: &Arc<Self>, bytes: u64) -> Option<Reservation> {
        // A poisoned count is still a count: the guard's data stays consistent, as
        // every update is a single assignment.
        let mut c = self.counts.lock().unwrap_or_else(|p| p.into_inner());
        let (in_use, peak) = *c;
        if in_use.checked_add(bytes)? > self.limit {
            return None;
        }
        *c = (in_use + bytes, peak.max(in_use + bytes));
        Some(Reservation {
            budget: self.clone(),
            bytes,
        })
    }

    pub fn usage(&self) -> MemoryUse {
        let (in_use, peak) = *self.counts.lock().unwrap_or_else(|p| p.into_inner());
        MemoryUse {
            limit: self.limit,
            in_use,
            peak,
        }
    }
}

impl Drop for Reservation {
    fn drop(&mut self) {
        let mut c = self.budget.counts.lock().unwrap_or_else(|p| p.into_inner());
        c.0 -= self.bytes;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reservations_never_add_up_past_the_limit() {
        let b = Budget::new(100);
        let first = b.try_reserve(60).unwrap();
        assert!(b.try_reserve(41).is_none());
        let second = b.try_reserve(40).unwrap();
        assert!(b.try_reserve(1).is_none());
        assert_eq!(b.usage().in_use, 100);
        drop(first);
        assert_eq!(b.usage().in_use, 40);
        assert!(b.try_reserve(60).is_some(), "dropped, then released again");
        drop(second);
        assert_eq!(
            b.usage(),
            MemoryUse {
                limit: 100,
                in_use: 0,
                peak: 100
            }
        );
    }

    #[test]
    fn a_zero_limit_holds_nothing() {
        let b = Budget::new(0);
        assert!(b.try_reserve(1).is_none());
        assert!(b.try_reserve(u64::MAX).is_none());
    }

    #[test]
    fn many_threads_never_exceed_the_limit() {
        let b = Budget::new(10 * 1024);
        std::thread::scope(|s| {
            for t in 0..4 {
                let b = &b;
                s.spawn(move || {
                    let mut held = Vec::new();
                    for i in 0..2000u64 {
                        if let Some(r) = b.try_reserve(1 + (i * 7 + t) % 3000) {
                            held.push(r);
                        }
                        if held.len() > 3 {
                            held.remove(0);
                        }
                    }
                });
            }
        });
        let u = b.usage();
        assert_eq!(u.in_use, 0);
        assert!(u.peak <= u.limit && u.peak > u.limit / 2, "{u:?}");
    }
}
