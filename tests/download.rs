//! Resumable download against the local server, with its faults switched on.

mod common;

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::settle;
use oss_resume::{
    CancelToken, CheckpointState, Client, Config, DownloadOptions, DownloadReport, Durability,
    ErrorKind, RequestOptions, RetryPolicy, SignatureVersion,
};
use oss_resume_server::{Server, ServerConfig};

const BUCKET: &str = "dl-bucket";
const PART: u64 = 100 * 1024;
const THRESHOLD: u64 = 300 * 1024;

fn server() -> Server {
    let mut config = ServerConfig::new("dl-ak", "dl-sk");
    config.buckets = vec![BUCKET.into()];
    Server::start(config).unwrap()
}

fn client(s: &Server) -> Client {
    Client::new(
        Config::builder(&s.endpoint())
            .credentials("dl-ak", "dl-sk", None)
            .region("cn-hangzhou")
            .signature_version(SignatureVersion::V4)
            .retry_policy(RetryPolicy {
                max_attempts: 4,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
            })
            .build()
            .unwrap(),
    )
    .unwrap()
}

fn opts() -> DownloadOptions {
    let mut o = DownloadOptions::default();
    o.multiget_threshold = THRESHOLD;
    o.part_size = Some(PART);
    o.threads = 3;
    o
}

fn data(len: u64, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

/// Files in `dir` other than `keep` (temporary files, checkpoints, locks left over).
fn leftovers(dir: &Path, keep: &[&Path]) -> Vec<PathBuf> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| !keep.contains(&p.as_path()))
        .collect()
}

fn download(
    c: &Client,
    key: &str,
    target: &Path,
    o: &DownloadOptions,
) -> oss_resume::Result<DownloadReport> {
    c.download(BUCKET, key, target, o, None)
}

#[test]
fn parts_keep_their_workers_connections_alive() {
    // A part's answer is read to its exact length; its connection must still go
    // back to the pool (not be closed) so the next part needs no new handshake.
    let s = server();
    let c = client(&s);
    let bytes = data(30 * PART, 40);
    s.put_object(BUCKET, "reuse", &bytes).unwrap();
    s.reset_stats();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("reuse");
    let report = download(&c, "reuse", &target, &opts()).unwrap();
    assert_eq!(fs::read(&target).unwrap(), bytes);
    assert_eq!(report.parts, 30);
    let stats = s.stats();
    assert!(
        stats.connections_accepted <= opts().threads as u64,
        "{} connections for a HEAD and 30 GETs at {} threads",
        stats.connections_accepted,
        opts().threads
    );
    // Under a download cap each part takes a new connection instead: a kept one's
    // receive buffer grows into a reservoir the server fills in bursts beyond the
    // cap (tests/rate.rs reads the bursts off the server's timeline).
    c.set_rate_limit(oss_resume::RateLimit::new(1 << 30, 0));
    s.reset_stats();
    download(&c, "reuse", &target, &opts()).unwrap();
    assert_eq!(fs::read(&target).unwrap(), bytes);
    assert!(
        s.stats().connections_accepted >= 20,
        "{} connections for 30 capped parts (uncapped: at most 3)",
        s.stats().connections_accepted
    );
}

#[test]
fn every_size_edge_downloads_byte_identical_with_nothing_left_behind() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let sizes = [
        0,
        1,
        THRESHOLD - 1,
        THRESHOLD,
        THRESHOLD + 1,
        4 * PART,
        4 * PART + 7,
        5 * PART - 1,
    ];
    for (i, size) in sizes.into_iter().enumerate() {
        let bytes = data(size, i as u64);
        let key = format!("edge/{size}");
        s.put_object(BUCKET, &key, &bytes).unwrap();
        let target = dir.path().join(format!("edge-{size}"));
        let mut o = opts();
        o.threads = 8; // more threads than parts
        let report = download(&c, &key, &target, &o).unwrap();
        assert_eq!(fs::read(&target).unwrap(), bytes, "size {size}");
        assert_eq!(report.size, size);
        assert_eq!(report.bytes_fetched, size);
        assert!(report.verified, "size {size}");
        let expect_state = if size >= THRESHOLD {
            CheckpointState::NotFound
        } else {
            CheckpointState::NotUsed
        };
        assert_eq!(report.checkpoint, expect_state, "size {size}");
        if size >= THRESHOLD {
            assert_eq!(report.parts, size.div_ceil(PART), "size {size}");
        }
        fs::remove_file(&target).unwrap();
        assert!(
            leftovers(dir.path(), &[]).is_empty(),
            "size {size}: {:?}",
            leftovers(dir.path(), &[])
        );
    }
}

#[test]
fn existing_target_is_overwritten_atomically() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("t");
    fs::write(&target, b"old contents that are longer than the new ones").unwrap();
    s.put_object(BUCKET, "k", b"new").unwrap();
    download(&c, "k", &target, &opts()).unwrap();
    assert_eq!(fs::read(&target).unwrap(), b"new");
}

#[test]
fn dropped_connections_continue_from_the_last_byte_written() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(6 * PART, 1);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    s.set_fault("drop_after_bytes", "30000").unwrap();
    s.set_fault("drop_count", "4").unwrap();
    let target = dir.path().join("t");
    let report = download(&c, "k", &target, &opts()).unwrap();
    assert_eq!(fs::read(&target).unwrap(), bytes);
    assert_eq!(report.parts_retried, 4);
    // Nothing was fetched twice: each retry asked only for the bytes still missing.
    settle(&s);
    assert_eq!(s.stats().bytes_served, bytes.len() as u64);
    assert_eq!(report.bytes_fetched, bytes.len() as u64);
}

/// One worker meets more 503s in a row than one request's retries absorb (4): the
/// part continues on its own budget, as after a body cut short.
#[test]
fn a_part_outlasts_more_503s_than_one_requests_retries() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(5 * PART, 3);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    s.set_fault("error_ops", "GetObject").unwrap();
    s.set_fault("error_burst", "6").unwrap();
    let mut o = opts();
    o.threads = 1;
    let target = dir.path().join("t");
    let report = download(&c, "k", &target, &o).unwrap();
    assert_eq!(fs::read(&target).unwrap(), bytes);
    assert_eq!(s.stats().faults_injected, 6);
    assert!(report.parts_retried >= 1, "{report:?}");
}

#[test]
fn service_unavailable_bursts_are_survived() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(5 * PART, 2);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    // More than one request's retries can absorb: parts retry on their own.
    s.set_fault("error_ops", "GetObject").unwrap();
    s.set_fault("error_burst", "6").unwrap();
    let target = dir.path().join("t");
    download(&c, "k", &target, &opts()).unwrap();
    assert_eq!(fs::read(&target).unwrap(), bytes);
    assert_eq!(s.stats().faults_injected, 6);
}

#[test]
fn flipped_byte_is_a_crc_mismatch_and_the_next_run_is_clean() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(5 * PART, 3);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    s.set_fault("flip_count", "1").unwrap();
    let target = dir.path().join("t");
    let err = download(&c, "k", &target, &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CrcMismatch, "{err}");
    assert!(!target.exists());
    assert!(
        leftovers(dir.path(), &[]).is_empty(),
        "{:?}",
        leftovers(dir.path(), &[])
    );
    let report = download(&c, "k", &target, &opts()).unwrap();
    assert_eq!(report.checkpoint, CheckpointState::NotFound);
    assert_eq!(fs::read(&target).unwrap(), bytes);
}

#[test]
fn flipped_byte_below_the_threshold_is_caught_too() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(1000, 4);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    s.set_fault("flip_count", "1").unwrap();
    let target = dir.path().join("t");
    fs::write(&target, b"previous").unwrap();
    let err = download(&c, "k", &target, &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CrcMismatch, "{err}");
    assert_eq!(
        fs::read(&target).unwrap(),
        b"previous",
        "the old target is untouched"
    );
    assert_eq!(leftovers(dir.path(), &[&target]), Vec::<PathBuf>::new());
}

#[test]
fn changed_object_is_reported_not_mixed() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(8 * PART, 5);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    s.set_fault("rewrite_key", "k").unwrap();
    s.set_fault("rewrite_after", "2").unwrap();
    let target = dir.path().join("t");
    let mut o = opts();
    o.threads = 1;
    let err = download(&c, "k", &target, &o).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ObjectChanged, "{err}");
    // Said in words, not as the raw 412 PreconditionFailed.
    assert!(err.to_string().contains("the object changed"), "{err}");
    assert!(!target.exists());
    assert!(
        leftovers(dir.path(), &[]).is_empty(),
        "{:?}",
        leftovers(dir.path(), &[])
    );
    // The next run fetches the new object whole.
    download(&c, "k", &target, &o).unwrap();
    let mut expect = bytes.clone();
    expect[0] ^= 0xFF;
    assert_eq!(fs::read(&target).unwrap(), expect);
}

/// Starts a download and cancels it after `at_least` bytes; returns the progress seen.
fn cancelled_download(
    c: &Client,
    key: &str,
    target: &Path,
    o: &DownloadOptions,
    at_least: u64,
) -> Vec<(u64, u64)> {
    let mut seen = Vec::new();
    let mut cb = |done: u64, total: u64| {
        seen.push((done, total));
        done < at_least
    };
    let err = c
        .download(BUCKET, key, target, o, Some(&mut cb))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    seen
}

fn slow(s: &Server) {
    // Slow enough that cancellation lands mid-way, fast enough for a test.
    s.set_fault("bandwidth", "2000000").unwrap();
}

/// What a run killed between writing and renaming leaves is swept once the next run
/// holds the target's lock: this target's download temporaries other than the one
/// it resumes, and the checkpoint's atomic-write temporaries. Another target's
/// files and names that only look alike are kept.
#[test]
fn stale_temporaries_of_this_target_are_swept_and_nothing_else() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(8 * PART, 21);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    let target = dir.path().join("t");
    slow(&s);
    cancelled_download(&c, "k", &target, &opts(), 2 * PART);
    s.clear_faults();
    let ckpt = leftovers(dir.path(), &[])
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "download"))
        .expect("a checkpoint beside the target");
    let ckpt = ckpt.file_name().unwrap().to_str().unwrap().to_string();
    let at = |name: String| dir.path().join(name);
    let stale = [
        at("t.ossr-0123456789abcdef".into()),
        at(format!(".{ckpt}.fedcba9876543210.tmp")),
    ];
    let kept = [
        at("t.ossr-notmine".into()),
        at("u.ossr-0123456789abcdef".into()),
        at(format!(".{ckpt}.tmp")),
        at(format!(".{ckpt}.0123456789abcdeg.tmp")),
    ];
    for p in stale.iter().chain(&kept) {
        fs::write(p, b"left by someone").unwrap();
    }
    let report = download(&c, "k", &target, &opts()).unwrap();
    assert_eq!(report.checkpoint, CheckpointState::Resumed);
    assert_eq!(fs::read(&target).unwrap(), bytes);
    for p in &stale {
        assert!(!p.exists(), "{} was left", p.display());
    }
    for p in &kept {
        assert_eq!(fs::read(p).unwrap(), b"left by someone", "{}", p.display());
    }
}

#[test]
fn cancellation_leaves_a_checkpoint_and_resume_skips_finished_parts() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(20 * PART, 6);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    let target = dir.path().join("t");
    let mut o = opts();
    o.threads = 2;
    slow(&s);
    let seen = cancelled_download(&c, "k", &target, &o, 6 * PART);
    assert!(!target.exists());
    assert!(
        !leftovers(dir.path(), &[]).is_empty(),
        "checkpoint and temp file stay"
    );
    s.clear_faults();
    settle(&s);
    s.reset_stats();
    let main_thread = std::thread::current().id();
    let mut calls: Vec<(u64, u64)> = Vec::new();
    let mut cb = |done: u64, total: u64| {
        assert_eq!(
            std::thread::current().id(),
            main_thread,
            "progress runs on the caller's thread"
        );
        calls.push((done, total));
        true
    };
    let report = c.download(BUCKET, "k", &target, &o, Some(&mut cb)).unwrap();
    assert_eq!(fs::read(&target).unwrap(), bytes);
    assert_eq!(report.checkpoint, CheckpointState::Resumed);
    assert!(report.bytes_reused >= 4 * PART, "{report:?} after {seen:?}");
    assert_eq!(
        report.bytes_reused + report.bytes_fetched,
        bytes.len() as u64
    );
    assert_eq!(
        s.stats().bytes_served,
        report.bytes_fetched,
        "finished parts are not fetched again"
    );
    assert_eq!(
        calls.first().unwrap().0,
        report.bytes_reused,
        "progress starts at the reused bytes"
    );
    assert_eq!(
        *calls.last().unwrap(),
        (bytes.len() as u64, bytes.len() as u64)
    );
    assert!(
        calls.windows(2).all(|w| w[0].0 < w[1].0),
        "strictly increasing: {calls:?}"
    );
    assert!(calls.iter().all(|(d, t)| d <= t));
    assert!(leftovers(dir.path(), &[&target]).is_empty());
}

#[test]
fn progress_is_frequent_monotonic_and_ends_at_the_total() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(30 * PART, 7);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    // About half a second of transfer, so the timing rule is visible.
    s.set_fault("bandwidth", "2000000").unwrap();
    let mut calls: Vec<(std::time::Instant, u64, u64)> = Vec::new();
    let mut cb = |d: u64, t: u64| {
        calls.push((std::time::Instant::now(), d, t));
        true
    };
    c.download(BUCKET, "k", dir.path().join("t"), &opts(), Some(&mut cb))
        .unwrap();
    let total = bytes.len() as u64;
    assert_eq!((calls[0].1, calls[0].2), (0, total));
    let last = calls.last().unwrap();
    assert_eq!((last.1, last.2), (total, total));
    assert!(
        calls.windows(2).all(|w| w[0].1 < w[1].1),
        "strictly increasing"
    );
    assert!(calls.len() > 10, "{} calls", calls.len());
    // At least every 1% or every 100 ms (slack for one read and a busy machine).
    for w in calls.windows(2) {
        let bytes_gap = w[1].1 - w[0].1;
        let time_gap = w[1].0 - w[0].0;
        assert!(
            bytes_gap <= total / 100 + 256 * 1024 || time_gap <= Duration::from_millis(150),
            "{bytes_gap} bytes and {time_gap:?} between calls"
        );
    }
}

/// Makes a checkpoint for `key` by cancelling a download; returns the checkpoint path.
fn make_checkpoint(
    s: &Server,
    c: &Client,
    key: &str,
    target: &Path,
    o: &DownloadOptions,
) -> PathBuf {
    slow(s);
    cancelled_download(c, key, target, o, 3 * PART);
    s.clear_faults();
    let ckpt_dir = o.checkpoint_dir.clone().unwrap();
    let found: Vec<PathBuf> = fs::read_dir(&ckpt_dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".download"))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found[0].clone()
}

fn discarded_reason(report: &DownloadReport) -> String {
    match &report.checkpoint {
        CheckpointState::Discarded(why) => why.clone(),
        other => panic!("expected a discarded checkpoint, got {other:?}"),
    }
}

struct Case {
    dir: tempfile::TempDir,
    ckpt_dir: tempfile::TempDir,
    target: PathBuf,
    bytes: Vec<u8>,
    ckpt: PathBuf,
    opts: DownloadOptions,
}

fn interrupted(s: &Server, c: &Client, key: &str, seed: u64) -> Case {
    let dir = tempfile::tempdir().unwrap();
    let ckpt_dir = tempfile::tempdir().unwrap();
    let bytes = data(12 * PART, seed);
    s.put_object(BUCKET, key, &bytes).unwrap();
    let target = dir.path().join("t");
    let mut o = opts();
    o.threads = 2;
    o.checkpoint_dir = Some(ckpt_dir.path().to_path_buf());
    let ckpt = make_checkpoint(s, c, key, &target, &o);
    Case {
        dir,
        ckpt_dir,
        target,
        bytes,
        ckpt,
        opts: o,
    }
}

fn finish(c: &Client, key: &str, case: &Case) -> DownloadReport {
    let report = download(c, key, &case.target, &case.opts).unwrap();
    assert_eq!(fs::read(&case.target).unwrap(), case.bytes);
    assert!(
        leftovers(case.dir.path(), &[&case.target]).is_empty(),
        "{:?}",
        leftovers(case.dir.path(), &[&case.target])
    );
    assert!(leftovers(case.ckpt_dir.path(), &[]).is_empty());
    report
}

#[test]
fn corrupt_checkpoint_is_discarded_with_its_temp_file() {
    let s = server();
    let c = client(&s);
    let case = interrupted(&s, &c, "corrupt", 10);
    let mut bytes = fs::read(&case.ckpt).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    fs::write(&case.ckpt, bytes).unwrap();
    let report = finish(&c, "corrupt", &case);
    assert!(discarded_reason(&report).contains("checksum"), "{report:?}");
    assert_eq!(report.bytes_reused, 0);
}

#[test]
fn truncated_checkpoint_is_discarded() {
    let s = server();
    let c = client(&s);
    let case = interrupted(&s, &c, "truncated", 11);
    let bytes = fs::read(&case.ckpt).unwrap();
    fs::write(&case.ckpt, &bytes[..bytes.len() - 30]).unwrap();
    let report = finish(&c, "truncated", &case);
    discarded_reason(&report);
}

#[test]
fn foreign_checkpoint_is_discarded() {
    let s = server();
    let c = client(&s);
    let case = interrupted(&s, &c, "mine", 12);
    // Another download's checkpoint placed where ours should be.
    let other_target = case.dir.path().join("other");
    let mut o = case.opts.clone();
    let other_ckpt_dir = tempfile::tempdir().unwrap();
    o.checkpoint_dir = Some(other_ckpt_dir.path().to_path_buf());
    s.put_object(BUCKET, "theirs", &data(12 * PART, 13))
        .unwrap();
    let theirs = make_checkpoint(&s, &c, "theirs", &other_target, &o);
    fs::copy(&theirs, &case.ckpt).unwrap();
    let report = download(&c, "mine", &case.target, &case.opts).unwrap();
    assert_eq!(fs::read(&case.target).unwrap(), case.bytes);
    assert!(discarded_reason(&report).contains("another"), "{report:?}");
}

#[test]
fn stale_checkpoint_of_a_changed_object_starts_over() {
    let s = server();
    let c = client(&s);
    let mut case = interrupted(&s, &c, "stale", 14);
    case.bytes = data(12 * PART, 15);
    s.put_object(BUCKET, "stale", &case.bytes).unwrap();
    let report = finish(&c, "stale", &case);
    assert!(discarded_reason(&report).contains("changed"), "{report:?}");
}

#[test]
fn deleted_temp_file_discards_the_checkpoint() {
    let s = server();
    let c = client(&s);
    let case = interrupted(&s, &c, "deleted", 16);
    for p in leftovers(case.dir.path(), &[]) {
        if p.to_string_lossy().contains(".ossr-") && !p.to_string_lossy().ends_with("lock") {
            fs::remove_file(p).unwrap();
        }
    }
    let report = finish(&c, "deleted", &case);
    assert!(discarded_reason(&report).contains("missing"), "{report:?}");
}

#[test]
fn shortened_temp_file_discards_the_checkpoint() {
    let s = server();
    let c = client(&s);
    let case = interrupted(&s, &c, "short", 17);
    let temp = leftovers(case.dir.path(), &[])
        .into_iter()
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("t.ossr-")
        })
        .expect("a temporary file");
    fs::OpenOptions::new()
        .write(true)
        .open(&temp)
        .unwrap()
        .set_len(PART)
        .unwrap();
    let report = finish(&c, "short", &case);
    assert!(discarded_reason(&report).contains("bytes"), "{report:?}");
}

#[test]
fn second_download_to_the_same_target_is_busy_or_waits() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(10 * PART, 18);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    s.set_fault("bandwidth", "3000000").unwrap();
    let target = dir.path().join("t");
    let started = Arc::new(Barrier::new(2));
    let first = {
        let (c, target, started) = (c.clone(), target.clone(), started.clone());
        std::thread::spawn(move || {
            let mut once = Some(started);
            let mut cb = |_: u64, _: u64| {
                if let Some(b) = once.take() {
                    b.wait();
                }
                true
            };
            c.download(BUCKET, "k", &target, &opts(), Some(&mut cb))
        })
    };
    started.wait();
    let err = download(&c, "k", &target, &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Busy, "{err}");
    assert!(err.to_string().contains("t"), "{err}");
    let mut waiting = opts();
    waiting.wait_if_busy = true;
    let second = download(&c, "k", &target, &waiting).unwrap();
    first.join().unwrap().unwrap();
    assert_eq!(fs::read(&target).unwrap(), bytes);
    assert!(second.size == bytes.len() as u64);
}

#[test]
fn object_without_crc_downloads_unverified() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let bytes = data(4 * PART, 19);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    s.set_fault("omit_crc", "1").unwrap();
    let target = dir.path().join("t");
    let report = download(&c, "k", &target, &opts()).unwrap();
    assert_eq!(fs::read(&target).unwrap(), bytes);
    assert!(!report.verified);
    assert_eq!(report.crc64, None);
}

#[test]
fn missing_object_and_bad_targets_fail_clearly_leaving_nothing() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let err = download(&c, "absent", &dir.path().join("t"), &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert!(err.to_string().contains("oss://dl-bucket/absent"), "{err}");
    assert!(leftovers(dir.path(), &[]).is_empty());
    s.put_object(BUCKET, "k", b"x").unwrap();
    let err = download(&c, "k", dir.path(), &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    // A missing directory is an I/O error, as for get_to_file and the C header.
    let err = download(&c, "k", &dir.path().join("no/such/dir/t"), &opts()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    let mut bad = opts();
    bad.part_size = Some(1000);
    s.put_object(BUCKET, "big", &data(4 * PART, 20)).unwrap();
    let err = download(&c, "big", &dir.path().join("t"), &bad).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("part size"), "{err}");
}

/// The recorded parts of a download checkpoint: `item=INDEX CRC` lines.
fn recorded_parts(ckpt: &Path) -> Vec<u64> {
    fs::read_to_string(ckpt)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("item="))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

fn temp_file(dir: &Path) -> PathBuf {
    leftovers(dir, &[])
        .into_iter()
        .find(|p| {
            p.file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("t.ossr-")
        })
        .expect("a temporary file")
}

/// A power cut (or a damaged disk) after parts were recorded: the recorded bytes in
/// the temporary file are wrong. The resume re-reads the recorded parts, fetches
/// exactly the damaged one again and ends with the right file, under both
/// durability policies.
#[test]
fn a_damaged_recorded_part_is_fetched_again_under_both_policies() {
    for (n, durability) in [Durability::Fsync, Durability::NoFsync]
        .into_iter()
        .enumerate()
    {
        let s = server();
        let c = client(&s);
        let dir = tempfile::tempdir().unwrap();
        let ckpt_dir = tempfile::tempdir().unwrap();
        let key = format!("damaged-{n}");
        let bytes = data(12 * PART, 30 + n as u64);
        s.put_object(BUCKET, &key, &bytes).unwrap();
        let target = dir.path().join("t");
        let mut o = opts();
        o.threads = 2;
        o.durability = durability;
        o.checkpoint_dir = Some(ckpt_dir.path().to_path_buf());
        let ckpt = make_checkpoint(&s, &c, &key, &target, &o);
        let recorded = recorded_parts(&ckpt);
        assert!(recorded.len() >= 2, "{recorded:?}");
        // Overwrite one recorded part's bytes as a lost page cache would leave them.
        let damaged = recorded[1];
        let temp = temp_file(dir.path());
        let f = fs::OpenOptions::new().write(true).open(&temp).unwrap();
        std::os::unix::fs::FileExt::write_all_at(&f, &vec![0u8; PART as usize], damaged * PART)
            .unwrap();
        drop(f);
        settle(&s);
        s.reset_stats();
        let report = download(&c, &key, &target, &o).unwrap();
        assert_eq!(fs::read(&target).unwrap(), bytes, "{durability:?}");
        assert_eq!(report.checkpoint, CheckpointState::Resumed);
        assert_eq!(report.parts_damaged, 1, "{report:?}");
        assert_eq!(report.bytes_reused, (recorded.len() as u64 - 1) * PART);
        assert_eq!(
            s.stats().bytes_served,
            bytes.len() as u64 - report.bytes_reused,
            "only the damaged and the missing parts are fetched"
        );
        assert!(report.verified);
    }
}

/// Without fsync the checkpoint is rewritten at most every 100 ms, so parts that
/// finish close together are written at once when the run stops: a download
/// cancelled after a burst of fast parts records every finished one, and the resume
/// reuses them.
#[test]
fn without_fsync_a_stopping_run_writes_every_finished_part() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let ckpt_dir = tempfile::tempdir().unwrap();
    let bytes = data(12 * PART, 50);
    s.put_object(BUCKET, "burst", &bytes).unwrap();
    let target = dir.path().join("t");
    let mut o = opts();
    o.threads = 2;
    o.durability = Durability::NoFsync;
    o.checkpoint_dir = Some(ckpt_dir.path().to_path_buf());
    // Progress counts the parts in flight too: at 7 parts shown, at least 5 finished.
    cancelled_download(&c, "burst", &target, &o, 7 * PART);
    let ckpt = leftovers(ckpt_dir.path(), &[]);
    assert_eq!(ckpt.len(), 1, "{ckpt:?}");
    let recorded = recorded_parts(&ckpt[0]);
    assert!(recorded.len() >= 5, "recorded {recorded:?}");
    s.reset_stats();
    let report = download(&c, "burst", &target, &o).unwrap();
    assert_eq!(fs::read(&target).unwrap(), bytes);
    assert_eq!(report.bytes_reused, recorded.len() as u64 * PART);
    assert_eq!(
        s.stats().bytes_served,
        bytes.len() as u64 - report.bytes_reused
    );
}

/// A server that stops sending mid-body: a cancel from another thread ends the
/// download promptly (the design target is 200 ms; 1 s allows a loaded machine),
/// the checkpoint is kept, and the next run resumes to a byte-identical file.
#[test]
fn a_cancel_from_another_thread_stops_a_stalled_download_promptly() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let ckpt_dir = tempfile::tempdir().unwrap();
    let bytes = data(12 * PART, 40);
    s.put_object(BUCKET, "stalled", &bytes).unwrap();
    let target = dir.path().join("t");
    let token = CancelToken::new();
    let mut o = opts();
    o.checkpoint_dir = Some(ckpt_dir.path().to_path_buf());
    o.request.cancel = Some(token.clone());
    // Every GET body stops after half a part, for far longer than the test.
    s.set_fault("stall_after_bytes", &(PART / 2).to_string())
        .unwrap();
    s.set_fault("stall_ms", "60000").unwrap();
    s.set_fault("stall_count", "1000").unwrap();
    // Each of the 3 workers gets half a part before its body stalls.
    let (result, took) = common::cancel_once_moving(&token, PART, |progress| {
        c.download(BUCKET, "stalled", &target, &o, Some(progress))
    });
    let err = result.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert!(took < Duration::from_secs(1), "took {took:?} to cancel");
    assert!(!target.exists());
    assert_eq!(
        leftovers(ckpt_dir.path(), &[]).len(),
        1,
        "the checkpoint is kept"
    );
    s.clear_faults();
    o.request.cancel = None;
    let report = download(&c, "stalled", &target, &o).unwrap();
    assert_eq!(fs::read(&target).unwrap(), bytes);
    assert_eq!(report.checkpoint, CheckpointState::Resumed);
}

/// Runs `call` against a server that reads the request and never answers, cancels
/// its token once the request arrived, and returns the call's result and how long
/// the cancel took to end it.
fn cancelled_against_a_silent_server<T: Send>(
    call: impl FnOnce(&Client, &RequestOptions) -> oss_resume::Result<T> + Send,
) -> (oss_resume::Result<T>, Duration) {
    use std::io::Read as _;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let (got_request, request_seen) = std::sync::mpsc::channel();
    let (release, hold) = std::sync::mpsc::channel::<()>();
    let silent = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
            head.push(byte[0]);
        }
        got_request.send(()).unwrap();
        // Holds the connection open, saying nothing, until the test ends.
        let _ = hold.recv_timeout(Duration::from_secs(30));
    });
    let c = Client::new(
        Config::builder(&endpoint)
            .credentials("ak", "sk", None)
            .signature_version(SignatureVersion::V1)
            .build()
            .unwrap(),
    )
    .unwrap();
    let token = CancelToken::new();
    let mut request = RequestOptions::default();
    request.cancel = Some(token.clone());
    let outcome = std::thread::scope(|scope| {
        let run = scope.spawn(|| call(&c, &request));
        request_seen.recv_timeout(Duration::from_secs(20)).unwrap();
        let at = Instant::now();
        token.cancel();
        (run.join().unwrap(), at.elapsed())
    });
    release.send(()).unwrap();
    silent.join().unwrap();
    outcome
}

/// A cancel while the request waits for the answer's head (the server reads the
/// request and never answers) ends a HEAD promptly too.
#[test]
fn a_cancel_stops_a_head_waiting_for_a_silent_server() {
    let (result, took) = cancelled_against_a_silent_server(|c, r| c.head_object(BUCKET, "k", r));
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Cancelled);
    assert!(took < Duration::from_secs(1), "took {took:?} to cancel");
}

/// The multipart housekeeping calls (abort, list parts, list uploads) take request
/// options too, so their cancel token ends them while the server says nothing.
#[test]
fn a_cancel_stops_abort_and_the_listings_waiting_for_a_silent_server() {
    type Call = fn(&Client, &RequestOptions) -> oss_resume::Result<()>;
    let calls: [(&str, Call); 3] = [
        ("abort", |c, r| {
            c.abort_multipart_upload(BUCKET, "k", "U", r)
        }),
        ("list parts", |c, r| {
            c.list_parts(BUCKET, "k", "U", r).map(|_| ())
        }),
        ("list uploads", |c, r| {
            c.list_multipart_uploads(BUCKET, "", r).map(|_| ())
        }),
    ];
    for (what, call) in calls {
        let (result, took) = cancelled_against_a_silent_server(call);
        assert_eq!(result.unwrap_err().kind(), ErrorKind::Cancelled, "{what}");
        assert!(
            took < Duration::from_secs(1),
            "{what}: took {took:?} to cancel"
        );
    }
}

#[test]
fn threads_outside_1_to_64_are_refused_before_any_request() {
    let s = server();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    s.put_object(BUCKET, "k", b"x").unwrap();
    s.reset_stats();
    for threads in [0, 65, 1 << 20] {
        let mut o = opts();
        o.threads = threads;
        let err = download(&c, "k", &dir.path().join("t"), &o).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{threads}: {err}");
        assert!(err.to_string().contains("threads"), "{err}");
    }
    assert!(s.stats().requests.is_empty(), "no request was made");
}
