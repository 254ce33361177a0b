//! Helpers shared by the integration tests.
#![allow(dead_code)]

use std::path::PathBuf;
use std::process::Command;

/// The Python with oss2 installed: `$OSSR_PYTHON`, else `.venv/bin/python`.
/// Under `CI=true` a missing one fails the test; elsewhere it returns None and says so.
pub fn python_with_oss2() -> Option<PathBuf> {
    let python = std::env::var_os("OSSR_PYTHON")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/.venv/bin/python")));
    let ok = Command::new(&python)
        .args(["-c", "import oss2, requests"])
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if ok {
        return Some(python);
    }
    let why = format!(
        "{} cannot import oss2: run .ci/run (or python3 -m venv .venv && .venv/bin/pip install -r tests/interop/requirements.txt)",
        python.display()
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}");
    }
    eprintln!("NOT RUN: {why}");
    None
}

/// Whether every tool is on PATH. Under `CI=true` a missing one fails the test;
/// elsewhere the test is not run and says why.
pub fn have_tools(tools: &[&str]) -> bool {
    let missing: Vec<&str> = tools
        .iter()
        .copied()
        .filter(|t| {
            !Command::new("sh")
                .args(["-c", &format!("command -v {t}")])
                .stdout(std::process::Stdio::null())
                .status()
                .map(|s| s.success())
                .unwrap_or(false)
        })
        .collect();
    if missing.is_empty() {
        return true;
    }
    let why = format!(
        "missing tools: {} (.ci/run installs them)",
        missing.join(", ")
    );
    if std::env::var("CI").as_deref() == Ok("true") {
        panic!("{why}");
    }
    eprintln!("NOT RUN: {why}");
    false
}

/// Waits until the server's counters stop moving (bytes sent and received, requests
/// answered): the server adds what it sent when an answer ends, which can be after
/// the client has read it (or, for an abandoned paced answer, well after), and a
/// request whose client gave up may still be answered after the client returned.
pub fn settle(s: &oss_resume_server::Server) {
    let counters = || {
        let st = s.stats();
        let answered: u64 = st.requests.values().flat_map(|by| by.values()).sum();
        (st.bytes_served, st.bytes_received, answered)
    };
    let mut last = counters();
    for _ in 0..50 {
        std::thread::sleep(std::time::Duration::from_millis(100));
        let now = counters();
        if now == last {
            return;
        }
        last = now;
    }
    panic!("the server's counters kept moving for 5 s after the client stopped");
}

/// Runs a transfer on another thread with a progress callback, waits (bounded) until
/// its progress reaches `at_least` bytes, cancels `token`, and returns what the
/// transfer returned with the time from the cancel to its return.
pub fn cancel_once_moving<T: Send>(
    token: &oss_resume::CancelToken,
    at_least: u64,
    transfer: impl FnOnce(&mut dyn FnMut(u64, u64) -> bool) -> T + Send,
) -> (T, std::time::Duration) {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::time::{Duration, Instant};
    let moved = AtomicU64::new(0);
    std::thread::scope(|scope| {
        let run = scope.spawn(|| {
            let mut progress = |done: u64, _: u64| {
                moved.store(done, Ordering::SeqCst);
                true
            };
            transfer(&mut progress)
        });
        let deadline = Instant::now() + Duration::from_secs(20);
        while moved.load(Ordering::SeqCst) < at_least.max(1) {
            assert!(Instant::now() < deadline, "the transfer did not move");
            std::thread::sleep(Duration::from_millis(5));
        }
        let at = Instant::now();
        token.cancel();
        let result = run.join().unwrap();
        (result, at.elapsed())
    })
}
