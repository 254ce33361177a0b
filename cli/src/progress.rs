//! The progress bar and Ctrl-C handling shared by `ossr get` and `ossr put`.

use std::io::{IsTerminal, Write};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

/// Bytes in binary units, one decimal.
pub fn human(bytes: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = bytes;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    format!("{v:.1} {}", UNITS[u])
}

/// A progress bar on stderr when it is a terminal (quiet otherwise), which also
/// reports Ctrl-C as a request to stop.
pub struct Bar {
    tty: bool,
    started: Instant,
    first: Option<u64>,
    last_draw: Instant,
    interrupted: Arc<AtomicBool>,
}

impl Bar {
    /// Installs the Ctrl-C handler and starts the clock.
    pub fn new() -> Result<Bar, String> {
        let interrupted = Arc::new(AtomicBool::new(false));
        let flag = interrupted.clone();
        ctrlc::set_handler(move || flag.store(true, Ordering::SeqCst))
            .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))?;
        Ok(Bar {
            tty: std::io::stderr().is_terminal(),
            started: Instant::now(),
            first: None,
            last_draw: Instant::now(),
            interrupted,
        })
    }

    /// Draws (bytes, rate, ETA) at most every 100 ms; false once Ctrl-C was pressed.
    pub fn update(&mut self, done: u64, total: u64) -> bool {
        let base = *self.first.get_or_insert(done);
        if self.tty && (self.last_draw.elapsed().as_millis() >= 100 || done == total) {
            self.last_draw = Instant::now();
            let secs = self.started.elapsed().as_secs_f64().max(0.001);
            let rate = (done - base) as f64 / secs;
            let pct = if total == 0 {
                100.0
            } else {
                done as f64 * 100.0 / total as f64
            };
            let eta = if rate > 0.0 {
                format!("{:.0}s", (total - done) as f64 / rate)
            } else {
                "?".into()
            };
            let width = 30usize;
            let filled = (((pct / 100.0) * width as f64) as usize).min(width);
            let mut err = std::io::stderr();
            let _ = write!(
                err,
                "\r[{}{}] {pct:5.1}% {} / {}  {}/s  eta {eta}   ",
                "#".repeat(filled),
                " ".repeat(width - filled),
                human(done as f64),
                human(total as f64),
                human(rate),
            );
            let _ = err.flush();
        }
        !self.interrupted.load(Ordering::SeqCst)
    }

    /// Ends the bar's line; returns the seconds since the start.
    pub fn finish(&self) -> f64 {
        if self.tty {
            eprintln!();
        }
        self.started.elapsed().as_secs_f64()
    }
}
