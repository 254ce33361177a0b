//! Progress: one throttle for every transfer's callback.

use std::time::{Duration, Instant};

/// Progress callback: `(bytes done, total)`; return `false` to cancel.
///
/// It runs on the caller's thread, one call at a time, at least every 1% or every
/// 100 ms while bytes move. Values never decrease and never exceed the total; a
/// resumed transfer starts at the bytes already there; the last call is at 100%.
pub type Progress<'a> = dyn FnMut(u64, u64) -> bool + 'a;

/// Decides when a progress value is worth a call: the first one, then every 1% of
/// the total (1 MiB when the total is unknown) or 100 ms, never a step back, and a
/// forced one whenever the value changed.
#[derive(Debug)]
pub(crate) struct Throttle {
    total: Option<u64>,
    last_bytes: Option<u64>,
    last_time: Instant,
}

impl Throttle {
    pub(crate) fn new(total: Option<u64>) -> Throttle {
        Throttle {
            total,
            last_bytes: None,
            last_time: Instant::now(),
        }
    }

    /// Whether `done` should be reported now; if so it is taken as reported.
    pub(crate) fn due(&mut self, done: u64, force: bool) -> bool {
        let step = self.total.map_or(1 << 20, |t| (t / 100).max(1));
        let due = match self.last_bytes {
            None => true,
            Some(last) if done <= last => false,
            Some(last) => {
                force
                    || done - last >= step
                    || self.last_time.elapsed() >= Duration::from_millis(100)
            }
        };
        if due {
            self.last_bytes = Some(done);
            self.last_time = Instant::now();
        }
        due
    }
}

/// Calls a [`Progress`] callback through a [`Throttle`], capped at the total.
pub(crate) struct Reporter<'p, 'a> {
    callback: Option<&'p mut Progress<'a>>,
    total: u64,
    throttle: Throttle,
}

impl<'p, 'a> Reporter<'p, 'a> {
    pub(crate) fn new(callback: Option<&'p mut Progress<'a>>, total: u64) -> Self {
        Reporter {
            callback,
            total,
            throttle: Throttle::new(Some(total)),
        }
    }

    /// Reports `done` (capped at the total) if due, or if `force` and it changed;
    /// false means the callback asked to stop.
    pub(crate) fn report(&mut self, done: u64, force: bool) -> bool {
        let Some(cb) = self.callback.as_mut() else {
            return true;
        };
        let done = done.min(self.total);
        if !self.throttle.due(done, force) {
            return true;
        }
        cb(done, self.total)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_value_then_steps_of_one_percent_and_no_step_back() {
        let mut t = Throttle::new(Some(1000));
        assert!(t.due(0, false));
        assert!(!t.due(5, false), "below 1% and within 100 ms");
        assert!(t.due(10, false));
        assert!(!t.due(9, true), "never a step back, even forced");
        assert!(!t.due(10, true), "forced but unchanged");
        assert!(t.due(11, true), "forced and changed");
    }

    #[test]
    fn a_quiet_interval_of_100_ms_makes_a_small_step_due() {
        let mut t = Throttle::new(Some(1 << 40));
        assert!(t.due(0, false));
        assert!(!t.due(1, false));
        std::thread::sleep(Duration::from_millis(110));
        assert!(t.due(1, false));
    }

    #[test]
    fn reporter_caps_at_the_total_and_passes_the_callback_answer() {
        let mut seen = Vec::new();
        let mut cb = |d: u64, t: u64| {
            seen.push((d, t));
            d < 100
        };
        let mut r = Reporter::new(Some(&mut cb), 100);
        assert!(r.report(0, true));
        assert!(!r.report(500, true));

        assert_eq!(seen, vec![(0, 100), (100, 100)]);
    }
}
