//! `--limit-rate`: the client-wide bandwidth cap on the transferring commands,
//! seen from the local server's traffic timeline.

use std::process::{Command, Output};
use std::time::Duration;

use oss_resume_server::{Server, ServerConfig};

const CAP: u64 = 2 << 20;

fn server() -> Server {
    let mut config = ServerConfig::new("rate-ak", "rate-sk");
    config.buckets = vec!["rate-bucket".into()];
    // What the client has not read waits in the server, where the timeline sees it.
    config.faults = vec!["socket_buffer=65536".into()];
    Server::start(config).unwrap()
}

fn ossr(s: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ossr"))
        .args(args)
        .env("OSS_ENDPOINT", s.endpoint())
        .env("OSS_ACCESS_KEY_ID", "rate-ak")
        .env("OSS_ACCESS_KEY_SECRET", "rate-sk")
        .env_remove("OSS_REGION")
        .env_remove("OSS_SESSION_TOKEN")
        .output()
        .unwrap()
}

fn data(len: usize) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(len as u64);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// Index of the last window that carried bytes.
fn last_busy(windows: &[u64]) -> usize {
    windows.iter().rposition(|n| *n > 0).unwrap_or(0)
}

#[test]
fn get_and_put_with_limit_rate_move_at_the_cap() {
    let s = server();
    // 6 MiB at 2 MiB/s: 3 s, less what the sockets hold; uncapped, a blink.
    let object = data(6 << 20);
    s.put_object("rate-bucket", "obj", &object).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("obj");
    let window = Duration::from_millis(250);
    s.reset_stats();
    let out = ossr(
        &s,
        &[
            "get",
            "oss://rate-bucket/obj",
            target.to_str().unwrap(),
            "--limit-rate",
            "2M",
            "--no-fsync",
            "--part-size",
            "1M",
            "--quiet",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(std::fs::read(&target).unwrap() == object);
    let sent = s.traffic().sent_per(window);
    assert!(last_busy(&sent) >= 8, "the get ended within 2 s: {sent:?}");
    let peak = sent.iter().skip(4).max().copied().unwrap_or(0);
    assert!(
        peak <= CAP / 2,
        "a window after the first second above twice the cap: {sent:?}"
    );

    s.reset_stats();
    let out = ossr(
        &s,
        &[
            "put",
            target.to_str().unwrap(),
            "oss://rate-bucket/back",
            "--limit-rate",
            "2M",
            "--part-size",
            "1M",
            "--quiet",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let received = s.traffic().received_per(window);
    assert!(
        last_busy(&received) >= 8,
        "the put ended within 2 s: {received:?}"
    );
}

#[test]
fn a_bad_limit_rate_is_a_usage_error_naming_the_flag() {
    let s = server();
    let out = ossr(
        &s,
        &["stat", "oss://rate-bucket/obj", "--limit-rate", "fast"],
    );
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("--limit-rate") && stderr.contains("fast"),
        "{stderr}"
    );
}
