//! `ossr put PATH` as a process: killed with SIGKILL at random moments it resumes and
//! completes with no upload left in progress; Ctrl-C leaves a checkpoint.

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use oss_resume_server::{Server, ServerConfig};

mod common;
use common::{Pattern, crc_of};

fn start(data: &Path) -> Server {
    let mut config = ServerConfig::new("put-ak", "put-sk");
    config.buckets = vec!["put-bucket".into()];
    config.data_dir = Some(data.to_path_buf());
    Server::start(config).unwrap()
}

fn put_command(s: &Server, source: &Path, ckpt: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ossr"));
    cmd.arg("put")
        .arg(source)
        .args([
            "oss://put-bucket/big.bin",
            "--threads",
            "4",
            "--part-size",
            "8M",
            "--checkpoint-dir",
        ])
        .arg(ckpt)
        .env("OSS_ENDPOINT", s.endpoint())
        .env("OSS_ACCESS_KEY_ID", "put-ak")
        .env("OSS_ACCESS_KEY_SECRET", "put-sk")
        .env_remove("OSS_REGION")
        .env_remove("OSS_SIGNATURE_VERSION")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn object_crc(s: &Server) -> u64 {
    let out = Command::new(env!("CARGO_BIN_EXE_ossr"))
        .args(["stat", "oss://put-bucket/big.bin"])
        .env("OSS_ENDPOINT", s.endpoint())
        .env("OSS_ACCESS_KEY_ID", "put-ak")
        .env("OSS_ACCESS_KEY_SECRET", "put-sk")
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    text.lines()
        .find_map(|l| l.strip_prefix("crc64: "))
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no crc in {text}"))
}

fn checkpoint_count(dir: &Path) -> usize {
    fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter(|e| {
                    e.as_ref()
                        .is_ok_and(|e| e.path().to_string_lossy().ends_with(".upload"))
                })
                .count()
        })
        .unwrap_or(0)
}

#[test]
fn sigkill_at_five_random_moments_then_completion_leaves_the_right_object_and_no_upload() {
    let size: u64 = 256 << 20;
    let data = tempfile::tempdir().unwrap();
    let s = start(data.path());
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("big.bin");
    std::io::copy(
        &mut Pattern {
            left: size,
            state: 21,
        },
        &mut fs::File::create(&source).unwrap(),
    )
    .unwrap();
    let ckpt = work.path().join("ckpt");
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    // 400 ms per request: a run killed within 1.2 s has at most initiated and sent
    // one or two rounds of 4 parts, so all five kills land before the 32 parts are done.
    s.set_fault("latency_ms", "400").unwrap();
    for kill in 1..=5 {
        let mut child = put_command(&s, &source, &ckpt).spawn().unwrap();
        if kill == 1 {
            // While Initiate is in flight: its marker checkpoint is on disk and the
            // answer is 400 ms away. (Here the server drops the request with the
            // connection; tests/upload.rs covers an Initiate carried out unanswered.)
            let deadline = std::time::Instant::now() + Duration::from_secs(20);
            while checkpoint_count(&ckpt) == 0 {
                assert!(
                    std::time::Instant::now() < deadline,
                    "no checkpoint written"
                );
                std::thread::sleep(Duration::from_millis(1));
            }
        } else {
            // Anywhere from start-up through Initiate to the first parts.
            std::thread::sleep(Duration::from_millis(rng.u64(20..1200)));
        }
        child.kill().unwrap();
        let _ = child.wait();
        // The server carries out requests it had received (after its 400 ms delay)
        // even though the client is gone; let it, as a restart takes that long anyway.
        std::thread::sleep(Duration::from_millis(600));
        eprintln!(
            "kill {kill}: {} bytes received by the server so far, {} uploads in progress",
            s.stats().bytes_received,
            s.stats().uploads_in_progress
        );
        // The recorded upload, and at most one more: a killed run's Initiate that the
        // server carried out after the next run's sweep (on a loaded machine the 400 ms
        // can stretch past the wait above). The run that completes sweeps for it again.
        assert!(
            s.stats().uploads_in_progress <= 2,
            "seed {seed}: uploads piling up"
        );
    }
    let out = put_command(&s, &source, &ckpt).output().unwrap();
    assert!(
        out.status.success(),
        "seed {seed}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(object_crc(&s), crc_of(fs::File::open(&source).unwrap()));
    assert_eq!(
        s.stats().uploads_in_progress,
        0,
        "seed {seed}: an upload was left to bill"
    );
    let left: Vec<_> = fs::read_dir(&ckpt)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".upload"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

#[test]
fn ctrl_c_leaves_a_checkpoint_and_the_next_run_resumes() {
    let size: u64 = 64 << 20;
    let data = tempfile::tempdir().unwrap();
    let s = start(data.path());
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("big.bin");
    std::io::copy(
        &mut Pattern {
            left: size,
            state: 5,
        },
        &mut fs::File::create(&source).unwrap(),
    )
    .unwrap();
    let ckpt = work.path().join("ckpt");
    // Slow the parts down so Ctrl-C lands mid-upload.
    s.set_fault("latency_ms", "150").unwrap();
    let child = put_command(&s, &source, &ckpt).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while s.stats().requests_with("UploadPart", 200) == 0 {
        assert!(std::time::Instant::now() < deadline, "no part finished");
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(100));
    assert!(
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    assert_eq!(s.stats().uploads_in_progress, 1, "kept for the resume");
    s.clear_faults();
    let out = put_command(&s, &source, &ckpt).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("resumed from a checkpoint"), "{stdout}");
    assert_eq!(object_crc(&s), crc_of(fs::File::open(&source).unwrap()));
    assert_eq!(s.stats().uploads_in_progress, 0);
}

/// `ossr put ARGS...` against `s`, outputs captured.
fn ossr(s: &Server, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ossr"));
    cmd.args(args)
        .env("OSS_ENDPOINT", s.endpoint())
        .env("OSS_ACCESS_KEY_ID", "put-ak")
        .env("OSS_ACCESS_KEY_SECRET", "put-sk")
        .env_remove("OSS_REGION")
        .env_remove("OSS_SIGNATURE_VERSION")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

fn object_bytes(s: &Server, key: &str) -> Vec<u8> {
    let out = ossr(s, &["cat", &format!("oss://put-bucket/{key}")])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn pattern(len: u64, seed: u64) -> Vec<u8> {
    let mut v = Vec::new();
    std::io::copy(
        &mut Pattern {
            left: len,
            state: seed,
        },
        &mut v,
    )
    .unwrap();
    v
}

/// Runs a put and checks it stored `expected` as a stream, over whatever the key held.
fn assert_streamed(s: &Server, out: std::process::Output, key: &str, expected: &[u8]) {
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains(&format!("({} bytes, streamed)", expected.len())),
        "{stdout}"
    );
    assert!(
        stdout.contains(&format!(
            "crc64 {} verified",
            oss_resume::crc64::checksum(expected)
        )),
        "{stdout}"
    );
    assert_eq!(object_bytes(s, key), expected);
}

#[test]
fn a_pipe_named_as_dev_stdin_is_stored_for_what_it_holds() {
    let data_dir = tempfile::tempdir().unwrap();
    let s = start(data_dir.path());
    s.put_object("put-bucket", "piped", b"what the key held before")
        .unwrap();
    let data = pattern(3_000_000, 11);
    // `cat big | ossr put /dev/stdin oss://...`: metadata says size 0.
    let mut child = ossr(&s, &["put", "/dev/stdin", "oss://put-bucket/piped"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    std::io::Write::write_all(&mut stdin, &data).unwrap();
    drop(stdin);
    assert_streamed(&s, child.wait_with_output().unwrap(), "piped", &data);
}

#[test]
fn a_fifo_is_stored_for_what_it_holds() {
    let data_dir = tempfile::tempdir().unwrap();
    let s = start(data_dir.path());
    let work = tempfile::tempdir().unwrap();
    let fifo = work.path().join("fifo");
    let made = Command::new("mkfifo").arg(&fifo).status().unwrap();
    assert!(made.success());
    let data = pattern(12 << 20, 12); // above the multipart threshold
    let writer = {
        let (fifo, data) = (fifo.clone(), data.clone());
        std::thread::spawn(move || fs::write(fifo, data).unwrap())
    };
    let out = ossr(
        &s,
        &["put", fifo.to_str().unwrap(), "oss://put-bucket/fifo"],
    )
    .output()
    .unwrap();
    writer.join().unwrap();
    assert_streamed(&s, out, "fifo", &data);
}

#[test]
fn a_proc_file_that_reports_size_0_is_stored_for_what_it_holds() {
    let data_dir = tempfile::tempdir().unwrap();
    let s = start(data_dir.path());
    let proc_file = Path::new("/proc/version");
    assert_eq!(fs::metadata(proc_file).unwrap().len(), 0, "the premise");
    let expected = fs::read(proc_file).unwrap();
    assert!(!expected.is_empty());
    let out = ossr(&s, &["put", "/proc/version", "oss://put-bucket/version"])
        .output()
        .unwrap();
    assert_streamed(&s, out, "version", &expected);
}

#[test]
fn an_empty_file_is_an_empty_object_even_with_threshold_0() {
    let data_dir = tempfile::tempdir().unwrap();
    let s = start(data_dir.path());
    let work = tempfile::tempdir().unwrap();
    let empty = work.path().join("empty");
    fs::write(&empty, b"").unwrap();
    let ckpt = work.path().join("ckpt");
    let out = ossr(
        &s,
        &[
            "put",
            empty.to_str().unwrap(),
            "oss://put-bucket/empty",
            "--threshold",
            "0",
            "--checkpoint-dir",
            ckpt.to_str().unwrap(),
        ],
    )
    .output()
    .unwrap();
    assert_streamed(&s, out, "empty", b"");
    assert_eq!(s.stats().uploads_in_progress, 0);
    assert_eq!(checkpoint_count(&ckpt), 0);
}

#[test]
fn a_second_put_of_the_same_file_fails_busy_and_with_wait_waits_for_the_first() {
    let data_dir = tempfile::tempdir().unwrap();
    let s = start(data_dir.path());
    let work = tempfile::tempdir().unwrap();
    let source = work.path().join("big.bin");
    fs::write(&source, pattern(12 << 20, 13)).unwrap();
    let ckpt = work.path().join("ckpt");
    s.set_fault("recv_bandwidth", "3000000").unwrap();
    let first = put_command(&s, &source, &ckpt).spawn().unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while checkpoint_count(&ckpt) == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the first put never started"
        );
        std::thread::sleep(Duration::from_millis(10));
    }

    let busy = put_command(&s, &source, &ckpt).output().unwrap();
    let stderr = String::from_utf8_lossy(&busy.stderr);
    assert_eq!(busy.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("pass --wait"), "{stderr}");

    let waiter = put_command(&s, &source, &ckpt)
        .arg("--wait")
        .spawn()
        .unwrap();
    let first = first.wait_with_output().unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    s.clear_faults();
    let waiter = waiter.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&waiter.stderr);
    assert!(waiter.status.success(), "{stderr}");
    assert!(stderr.contains("waiting for it"), "{stderr}");
    assert_eq!(object_crc(&s), crc_of(fs::File::open(&source).unwrap()));
    assert_eq!(s.stats().uploads_in_progress, 0);
}
