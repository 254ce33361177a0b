//! Progress on stderr and Ctrl-C, shared by the transfer commands.
//!
//! On a terminal the bar is redrawn in place (carriage returns, every 100 ms); in a log
//! or a pipe a plain line is written every few seconds, so the log reads line by line.

use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use oss_resume::{CancelToken, DirProgress};

use crate::args::Args;
use crate::fail::Failure;

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

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// The cancel token of this process's transfers: Ctrl-C and SIGTERM cancel it, which
/// stops a transfer within about 200 ms even while the server sends nothing.
pub fn cancel_token() -> CancelToken {
    static TOKEN: std::sync::OnceLock<CancelToken> = std::sync::OnceLock::new();
    TOKEN.get_or_init(CancelToken::new).clone()
}

/// Routes Ctrl-C and SIGTERM to [`interrupted`] (once per process; later calls are
/// no-ops).
pub fn catch_interrupts() -> Result<(), Failure> {
    static INSTALLED: std::sync::OnceLock<Result<(), String>> = std::sync::OnceLock::new();
    INSTALLED
        .get_or_init(|| {
            // The handler runs on a thread of its own, where cancelling is safe.
            ctrlc::set_handler(|| {
                INTERRUPTED.store(true, Ordering::SeqCst);
                cancel_token().cancel();
            })
            .map_err(|e| format!("cannot install the Ctrl-C handler: {e}"))
        })
        .clone()
        .map_err(Failure::Transfer)
}

/// Whether Ctrl-C or SIGTERM arrived.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::SeqCst)
}

enum Mode {
    Bar,
    Lines(Duration),
    Quiet,
}

/// Progress of one transfer, which also reports Ctrl-C as a request to stop.
pub struct Bar {
    mode: Mode,
    started: Instant,
    first: Option<u64>,
    last_draw: Option<Instant>,
    drew_end: bool,
}

impl Bar {
    /// Chooses the form from the flags (`--quiet`, `--progress-interval`) and whether
    /// stderr is a terminal, installs the Ctrl-C handler and starts the clock.
    pub fn new(args: &Args) -> Result<Bar, Failure> {
        catch_interrupts()?;
        Bar::without_interrupts(args)
    }

    /// [`Bar::new`] leaving Ctrl-C to end the process as it does by default.
    pub fn without_interrupts(args: &Args) -> Result<Bar, Failure> {
        let interval = args
            .seconds("progress-interval")?
            .unwrap_or(Duration::from_secs(5));
        let mode = if args.has("quiet") {
            Mode::Quiet
        } else if std::io::stderr().is_terminal() {
            Mode::Bar
        } else {
            Mode::Lines(interval)
        };
        Ok(Bar {
            mode,
            started: Instant::now(),
            first: None,
            last_draw: None,
            drew_end: false,
        })
    }

    /// Shows the progress when it is time to; false once Ctrl-C was pressed.
    /// `total` is `None` while unknown (standard input).
    pub fn update(&mut self, done: u64, total: Option<u64>) -> bool {
        self.show(done, total, None)
    }

    /// [`Bar::update`] for a whole-prefix transfer: bytes, and files done of all.
    pub fn update_files(&mut self, p: &DirProgress) -> bool {
        self.show(
            p.bytes_done,
            Some(p.bytes_total),
            Some((p.files_done, p.files_total)),
        )
    }

    fn show(&mut self, done: u64, total: Option<u64>, files: Option<(u64, u64)>) -> bool {
        let base = *self.first.get_or_insert(done);
        let end = total == Some(done) && files.is_none_or(|(d, t)| d == t);
        let due = |every: Duration| match self.last_draw {
            None => true,
            Some(t) => t.elapsed() >= every || (end && !self.drew_end),
        };
        let draw = match self.mode {
            Mode::Quiet => false,
            Mode::Bar => due(Duration::from_millis(100)),
            Mode::Lines(every) => due(every),
        };
        if draw {
            self.last_draw = Some(Instant::now());
            self.drew_end |= end;
            let line = self.line(done, base, total, files);
            let mut err = std::io::stderr().lock();
            let _ = match self.mode {
                Mode::Bar => write!(err, "\r{line}   "),
                _ => writeln!(err, "{line}"),
            };
            let _ = err.flush();
        }
        !interrupted()
    }

    fn line(&self, done: u64, base: u64, total: Option<u64>, files: Option<(u64, u64)>) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(0.001);
        let rate = (done - base) as f64 / secs;
        let Some(total) = total else {
            return format!("{} sent  {}/s", human(done as f64), human(rate));
        };
        let pct = match (total, files) {
            // Only empty files to move: how many are done is all there is to show.
            (0, Some((d, t))) if t > 0 => d as f64 * 100.0 / t as f64,
            (0, _) => 100.0,
            _ => done as f64 * 100.0 / total as f64,
        };
        let eta = if rate > 0.0 {
            format!("{:.0}s", total.saturating_sub(done) as f64 / rate)
        } else {
            "?".into()
        };
        let files = match files {
            Some((d, t)) => format!("  files {d}/{t}"),
            None => String::new(),
        };
        let amounts = format!(
            "{pct:5.1}% {} / {}{files}  {}/s  eta {eta}",
            human(done as f64),
            human(total as f64),
            human(rate)
        );
        match self.mode {
            Mode::Bar => {
                let width = 30usize;
                let filled = (((pct / 100.0) * width as f64) as usize).min(width);
                format!(
                    "[{}{}] {amounts}",
                    "#".repeat(filled),
                    " ".repeat(width - filled)
                )
            }
            _ => format!("progress: {amounts}"),
        }
    }

    /// Ends the bar's line; returns the seconds since the start.
    pub fn finish(&self) -> f64 {
        if matches!(self.mode, Mode::Bar) && self.last_draw.is_some() {
            crate::fail::note(format_args!(""));
        }
        self.started.elapsed().as_secs_f64()
    }
}
