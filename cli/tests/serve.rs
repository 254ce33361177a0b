//! `ossr serve` as a process: its first line, a request, and a clean stop on signals.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn spawn(extra: &[&str]) -> (Child, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ossr"))
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--access-key-id",
            "a",
            "--access-key-secret",
            "b",
            "--bucket",
            "bkt",
        ])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap())
        .read_line(&mut line)
        .unwrap();
    (child, line)
}

fn endpoint(line: &str) -> String {
    let addr = line
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("first line: {line:?}"))
        .trim_end();
    assert!(
        addr.starts_with("127.0.0.1:") && addr.len() > "127.0.0.1:".len(),
        "{line:?}"
    );
    addr.to_string()
}

/// An unsigned GET: the server answers 403 AccessDenied, which shows it is serving.
fn status_of_unsigned_get(addr: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    write!(
        s,
        "GET /bkt/k HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    text
}

fn stop_with(mut child: Child, signal: &str) {
    let status = Command::new("kill")
        .args([signal, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            assert!(status.success(), "exit after {signal}: {status:?}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "still running 5 s after {signal}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn first_line_names_the_address_and_sigterm_stops_it() {
    let (child, line) = spawn(&[]);
    let addr = endpoint(&line);
    let answer = status_of_unsigned_get(&addr);
    assert!(answer.starts_with("HTTP/1.1 403"), "{answer}");
    assert!(answer.contains("<Code>AccessDenied</Code>"), "{answer}");
    stop_with(child, "-TERM");
}

#[test]
fn sigint_stops_it_too() {
    let (child, line) = spawn(&[]);
    endpoint(&line);
    stop_with(child, "-INT");
}

#[test]
fn faults_can_be_set_at_start_up_and_bad_ones_are_named() {
    let (child, line) = spawn(&["--fault", "latency_ms=5", "--fault", "error_burst=2"]);
    let addr = endpoint(&line);
    let mut s = TcpStream::connect(&addr).unwrap();
    write!(
        s,
        "GET /_ossr/faults HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut text = String::new();
    s.read_to_string(&mut text).unwrap();
    assert!(
        text.contains("\"error_burst\":2") && text.contains("\"latency_ms\":5"),
        "{text}"
    );
    stop_with(child, "-TERM");

    let out = Command::new(env!("CARGO_BIN_EXE_ossr"))
        .args([
            "serve",
            "--access-key-id",
            "a",
            "--access-key-secret",
            "b",
            "--fault",
            "nonsense=1",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonsense"));
    let out = Command::new(env!("CARGO_BIN_EXE_ossr"))
        .args(["serve", "--access-key-id", "a"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--access-key-secret"));
}

#[test]
fn background_returns_once_listening_and_the_server_runs_until_killed() {
    let out = Command::new(env!("CARGO_BIN_EXE_ossr"))
        .args([
            "serve",
            "--background",
            "--listen",
            "127.0.0.1:0",
            "--access-key-id",
            "a",
            "--access-key-secret",
            "b",
            "--bucket",
            "bkt",
        ])
        .stderr(Stdio::piped())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut lines = stdout.lines();
    let addr = endpoint(lines.next().unwrap_or_default());
    let pid: u32 = lines
        .next()
        .and_then(|l| l.strip_prefix("pid "))
        .and_then(|l| l.split(' ').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("no pid line: {stdout}"));
    // Serving already: no wait between the command's return and the first request.
    assert!(
        status_of_unsigned_get(&addr).contains("AccessDenied"),
        "not serving"
    );
    let killed = Command::new("kill").arg(pid.to_string()).status().unwrap();
    assert!(killed.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(&addr).is_ok() {
        assert!(Instant::now() < deadline, "still serving after kill");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn a_bad_bucket_name_is_a_usage_error_with_an_example() {
    for background in [&[][..], &["--background"]] {
        let out = Command::new(env!("CARGO_BIN_EXE_ossr"))
            .args(["serve", "--access-key-id", "a", "--access-key-secret", "b"])
            .args(["--bucket", "b"])
            .args(background)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{background:?}: {stderr}");
        assert!(
            stderr.contains("3-63 characters") && stderr.contains("e.g. my-bucket"),
            "{background:?}: {stderr}"
        );
    }
}
