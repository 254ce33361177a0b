//! `ossr cp -r` and `ossr sync` against the local server: trees both ways, exactly
//! the changed files, shards in separate processes, a SIGKILL mid-upload, progress
//! in files and bytes, `--no-fsync`.

#[path = "../../tests/common/mod.rs"]
mod lib_common;

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use oss_resume_server::{Server, ServerConfig};

const BUCKET: &str = "sync-bucket";

fn server() -> Server {
    let mut config = ServerConfig::new("sy-ak", "sy-sk");
    config.buckets = vec![BUCKET.into()];
    Server::start(config).unwrap()
}

fn ossr(s: &Server, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ossr"));
    cmd.args(args);
    with_env(cmd, s)
}

/// `ossr` with `args` under `strace -f`, its fsync-like calls written to `trace`.
fn ossr_traced(s: &Server, trace: &Path, args: &[&str]) -> Command {
    let mut cmd = Command::new("strace");
    cmd.args([
        "-f",
        "-qq",
        "-e",
        "trace=fsync,fdatasync,syncfs,sync_file_range",
        "-o",
    ])
    .arg(trace)
    .arg("--")
    .arg(env!("CARGO_BIN_EXE_ossr"))
    .args(args);
    with_env(cmd, s)
}

/// The connection to `s` in the environment, and nothing else from it.
fn with_env(mut cmd: Command, s: &Server) -> Command {
    cmd.env("OSS_ENDPOINT", s.endpoint())
        .env("OSS_ACCESS_KEY_ID", "sy-ak")
        .env("OSS_ACCESS_KEY_SECRET", "sy-sk")
        .env_remove("OSS_REGION")
        .env_remove("OSS_SIGNATURE_VERSION")
        .env_remove("OSS_SESSION_TOKEN")
        .env_remove("JOB_COMPLETION_INDEX")
        .env("HOME", std::env::temp_dir());
    cmd
}

/// How many fsync-like calls an strace output file holds.
fn syncs(trace: &Path) -> usize {
    fs::read_to_string(trace)
        .unwrap()
        .lines()
        .filter(|l| !l.contains("resumed>"))
        .count()
}

fn run_ok(mut cmd: Command) -> String {
    let out: Output = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn make_tree(dir: &Path, files: usize) {
    for i in 0..files {
        let path = dir.join(format!("d{}/f{i:04}", i % 5));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data(i * 37 % 3000, i as u64)).unwrap();
    }
}

fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, fs::read(&path).unwrap());
            }
        }
    }
    out
}

/// A number field of the `--report` JSON (the report is flat enough for this).
fn field(json: &str, name: &str) -> u64 {
    let at = json.find(&format!("\"{name}\": ")).unwrap() + name.len() + 4;
    json[at..]
        .split(|c: char| !c.is_ascii_digit())
        .next()
        .unwrap()
        .parse()
        .unwrap()
}

#[test]
fn cp_r_goes_up_and_down_and_sync_moves_exactly_the_changed_files() {
    let s = server();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    make_tree(&src, 120);
    let up = run_ok(ossr(
        &s,
        &[
            "cp",
            "-r",
            src.to_str().unwrap(),
            "oss://sync-bucket/t/",
            "--quiet",
        ],
    ));
    assert!(up.contains(": transferred 120 files"), "{up}");
    let dst = work.path().join("dst");
    let down = run_ok(ossr(
        &s,
        &[
            "cp",
            "-r",
            "oss://sync-bucket/t/",
            dst.to_str().unwrap(),
            "--quiet",
        ],
    ));
    assert!(down.contains(": transferred 120 files"), "{down}");
    assert!(tree(&src) == tree(&dst));

    // Three changes, then sync: exactly those go, and the report says so.
    fs::write(src.join("d0/f0000"), b"new").unwrap();
    fs::write(src.join("d1/f0001"), b"other").unwrap();
    fs::write(src.join("d2/new-file"), b"brand new").unwrap();
    s.reset_stats();
    let report = work.path().join("report.json");
    let out = run_ok(ossr(
        &s,
        &[
            "sync",
            src.to_str().unwrap(),
            "oss://sync-bucket/t/",
            "--quiet",
            "--report",
            report.to_str().unwrap(),
        ],
    ));
    assert!(out.contains("transferred 3 files"), "{out}");
    assert!(out.contains("118 unchanged"), "{out}");
    assert_eq!(s.stats().requests_of("PutObject"), 3);
    let json = fs::read_to_string(&report).unwrap();
    assert_eq!(field(&json, "files_transferred"), 3, "{json}");
    assert_eq!(field(&json, "files_unchanged"), 118, "{json}");
    assert!(json.contains("\"failed\": []"), "{json}");
    // Down with --delete: the changed files come, a stray local file goes.
    fs::write(dst.join("stray"), b"x").unwrap();
    let out = run_ok(ossr(
        &s,
        &[
            "sync",
            "oss://sync-bucket/t/",
            dst.to_str().unwrap(),
            "--delete",
            "--quiet",
        ],
    ));
    assert!(
        out.contains("transferred 3 files") && out.contains("1 deleted"),
        "{out}"
    );
    assert!(tree(&src) == tree(&dst));
}

#[test]
fn four_shard_processes_started_together_move_each_object_once() {
    let s = server();
    for i in 0..1000u64 {
        s.put_object(BUCKET, &format!("p/{}/{i}", i % 13), &data(50, i))
            .unwrap();
    }
    let work = tempfile::tempdir().unwrap();
    let dst = work.path().join("dst");
    let children: Vec<_> = (0..4)
        .map(|i| {
            let report = work.path().join(format!("report-{i}.json"));
            let mut cmd = ossr(
                &s,
                &[
                    "sync",
                    "oss://sync-bucket/p/",
                    dst.to_str().unwrap(),
                    "--quiet",
                    "--report",
                    report.to_str().unwrap(),
                ],
            );
            // Two by index, two as a Kubernetes Indexed Job would start them.
            if i < 2 {
                cmd.args(["--shard", &format!("{i}/4")]);
            } else {
                cmd.args(["--shard", "auto/4"])
                    .env("JOB_COMPLETION_INDEX", i.to_string());
            }
            cmd.stdout(Stdio::null()).spawn().unwrap()
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success());
    }
    assert_eq!(s.stats().requests_of("GetObject"), 1000);
    let mut sum = 0;
    for i in 0..4 {
        let json = fs::read_to_string(work.path().join(format!("report-{i}.json"))).unwrap();
        assert!(json.contains(&format!("\"shard\": [{i}, 4]")), "{json}");
        let n = field(&json, "files_transferred");
        assert!(n > 150, "shard {i} moved {n}");
        sum += n;
    }
    assert_eq!(sum, 1000);
    assert_eq!(tree(&dst).len(), 1000);
}

#[test]
fn a_sync_killed_mid_upload_resends_nothing_complete_and_misses_nothing() {
    let s = server();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    make_tree(&src, 300);
    // Slow answers, so the kill lands mid-way.
    s.set_fault("latency_ms", "15").unwrap();
    let mut child = ossr(
        &s,
        &[
            "sync",
            src.to_str().unwrap(),
            "oss://sync-bucket/k/",
            "--threads",
            "2",
            "--quiet",
        ],
    )
    .stdout(Stdio::null())
    .stderr(Stdio::null())
    .spawn()
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    while s.stats().requests_with("PutObject", 200) < 60 {
        assert!(Instant::now() < deadline, "the upload did not start");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap(); // SIGKILL
    child.wait().unwrap();
    s.clear_faults();
    // The requests in flight at the kill still end on the server (stored or not):
    // wait until its counter of answered PutObjects stops moving.
    let mut last = u64::MAX;
    let mut still = 0;
    while still < 3 {
        assert!(Instant::now() < deadline, "the server kept answering");
        let now = s.stats().requests_of("PutObject");
        still = if now == last { still + 1 } else { 0 };
        last = now;
        std::thread::sleep(Duration::from_millis(100));
    }
    let stored = run_ok(ossr(&s, &["ls", "-r", "--json", "oss://sync-bucket/k/"]))
        .lines()
        .count() as u64;
    assert!(
        (60..300).contains(&stored),
        "{stored} stored before the kill"
    );
    s.reset_stats();
    let out = run_ok(ossr(
        &s,
        &[
            "sync",
            src.to_str().unwrap(),
            "oss://sync-bucket/k/",
            "--quiet",
        ],
    ));
    assert!(
        out.contains(&format!("transferred {} files", 300 - stored)),
        "{out}"
    );
    assert_eq!(
        s.stats().requests_of("PutObject"),
        300 - stored,
        "nothing complete re-sent"
    );
    let back = work.path().join("back");
    run_ok(ossr(
        &s,
        &[
            "cp",
            "-r",
            "oss://sync-bucket/k/",
            back.to_str().unwrap(),
            "--quiet",
        ],
    ));
    assert!(tree(&src) == tree(&back), "nothing missing");
}

#[test]
fn bad_directions_and_shards_are_usage_errors() {
    let s = server();
    for args in [
        &["sync", "a", "b"][..],
        &["sync", "oss://sync-bucket/a/", "oss://sync-bucket/b/"],
        &["sync", "a", "oss://sync-bucket/b/", "--shard", "4/4"],
        &["sync", "a", "oss://sync-bucket/b/", "--shard", "auto/4"],
    ] {
        let out = ossr(&s, args).output().unwrap();
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// Progress lines `ossr` wrote to a non-terminal stderr.
fn progress_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect()
}

/// The `done/total` after `files ` in a progress line.
fn files_of(line: &str) -> (u64, u64) {
    let at = line.find(" files ").expect("a file count") + 7;
    let text = line[at..].split_whitespace().next().unwrap();
    let (done, total) = text.split_once('/').unwrap();
    (done.parse().unwrap(), total.parse().unwrap())
}

/// To a log (not a terminal) `cp -r` writes whole progress lines with the files
/// done of all beside the bytes, never stepping back, the last one at both totals.
#[test]
fn cp_r_progress_to_a_log_counts_files_and_bytes() {
    let s = server();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    make_tree(&src, 40);
    let out = ossr(
        &s,
        &[
            "cp",
            "-r",
            src.to_str().unwrap(),
            "oss://sync-bucket/prog/",
            "--threads",
            "1",
            "--progress-interval",
            "0",
        ],
    )
    .output()
    .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains('\r'), "{stderr:?}");
    let lines = progress_lines(&stderr);
    assert!(lines.len() > 2, "{stderr}");
    let counts: Vec<(u64, u64)> = lines.iter().map(|l| files_of(l)).collect();
    assert!(counts.windows(2).all(|w| w[1].0 >= w[0].0), "{counts:?}");
    assert!(counts.iter().all(|c| c.1 == 40), "{counts:?}");
    assert_eq!(counts[0].0, 0, "{stderr}");
    let last = lines.last().unwrap();
    assert_eq!(files_of(last), (40, 40), "{stderr}");
    assert!(last.contains("100.0%"), "{stderr}");
    // --quiet: none.
    let out = ossr(
        &s,
        &[
            "cp",
            "-r",
            src.to_str().unwrap(),
            "oss://sync-bucket/prog/",
            "--quiet",
        ],
    )
    .output()
    .unwrap();
    assert!(out.status.success());
    assert!(progress_lines(&String::from_utf8_lossy(&out.stderr)).is_empty());
}

/// `--no-fsync` reaches every file of a download: traced, `cp -r` down syncs at
/// least once per file by default and never with it (`sync` too). An upload, and
/// a server-side `cp`, refuse it as a usage error: they write no local file.
#[test]
fn no_fsync_reaches_each_file_of_a_download_and_is_refused_for_an_upload() {
    let s = server();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    make_tree(&src, 12);
    let big = data(3 << 20, 99);
    fs::write(src.join("big"), &big).unwrap();
    let up = |extra: &[&str]| {
        let mut args = vec!["cp", "-r", src.to_str().unwrap(), "oss://sync-bucket/nf/"];
        args.extend(extra);
        ossr(&s, &args).output().unwrap()
    };
    let refused = up(&["--no-fsync"]);
    assert_eq!(refused.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("downloads only"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
    assert_eq!(s.stats().requests_of("PutObject"), 0, "nothing sent");
    assert!(up(&["--quiet"]).status.success());
    let out = ossr(
        &s,
        &[
            "cp",
            "oss://sync-bucket/nf/big",
            "oss://sync-bucket/nf2",
            "--no-fsync",
        ],
    )
    .output()
    .unwrap();
    assert_eq!(out.status.code(), Some(2));

    if !lib_common::have_tools(&["strace"]) {
        return;
    }
    // 13 files; the large one in parts (a checkpoint beside it).
    let down = |dir: &str, extra: &[&str]| {
        let dst = work.path().join(dir);
        let trace = work.path().join(format!("{dir}.strace"));
        let mut args = vec![
            "cp",
            "-r",
            "oss://sync-bucket/nf/",
            dst.to_str().unwrap(),
            "--threshold",
            "1M",
            "--part-size",
            "256K",
            "--quiet",
        ];
        args.extend(extra);
        run_ok(ossr_traced(&s, &trace, &args));
        assert!(tree(&src) == tree(&dst), "{dir}: the trees differ");
        syncs(&trace)
    };
    let fsynced = down("fsync", &[]);
    assert!(fsynced >= 13, "{fsynced} syncs for 13 files");
    assert_eq!(down("nofsync", &["--no-fsync"]), 0);
    let trace = work.path().join("sync.strace");
    let dst = work.path().join("sync");
    run_ok(ossr_traced(
        &s,
        &trace,
        &[
            "sync",
            "oss://sync-bucket/nf/",
            dst.to_str().unwrap(),
            "--no-fsync",
            "--quiet",
        ],
    ));
    assert!(tree(&src) == tree(&dst));
    assert_eq!(syncs(&trace), 0);
}
