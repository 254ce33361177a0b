//! `ossr cp` as a process: on the server by default (no object byte through the
//! client), through the client when asked; killed with SIGKILL at several moments it
//! resumes and completes with no upload left in progress.

use std::fs;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use oss_resume_server::{Server, ServerConfig};

mod common;
use common::{Pattern, crc_of};

const PARTS: u64 = 41;
const PART: u64 = 100 * 1024;
const THREADS: u64 = 4;

fn start() -> Server {
    let mut config = ServerConfig::new("cp-ak", "cp-sk");
    config.buckets = vec!["cp-src".into(), "cp-dst".into()];
    Server::start(config).unwrap()
}

fn ossr(s: &Server, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ossr"));
    cmd.args(args)
        .env("OSS_ENDPOINT", s.endpoint())
        .env("OSS_ACCESS_KEY_ID", "cp-ak")
        .env("OSS_ACCESS_KEY_SECRET", "cp-sk")
        .env_remove("OSS_REGION")
        .env_remove("OSS_SIGNATURE_VERSION")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// A multipart copy of `PARTS` parts of 100 KB, the last one short.
fn cp_command(s: &Server, ckpt: &Path) -> Command {
    let mut cmd = ossr(
        s,
        &[
            "cp",
            "oss://cp-src/big.bin",
            "oss://cp-dst/copy.bin",
            "--threads",
            "4",
            "--part-size",
            "100K",
            "--threshold",
            "100K",
            "--checkpoint-dir",
        ],
    );
    cmd.arg(ckpt);
    cmd
}

fn source(s: &Server, size: u64) -> u64 {
    let pattern = || Pattern {
        left: size,
        state: 7,
    };
    s.put_object_from("cp-src", "big.bin", &mut pattern())
        .unwrap();
    crc_of(pattern())
}

fn stat_crc(s: &Server, url: &str) -> u64 {
    let out = ossr(s, &["stat", url]).output().unwrap();
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
                        .is_ok_and(|e| e.path().extension().is_some_and(|x| x == "copy"))
                })
                .count()
        })
        .unwrap_or(0)
}

fn succeeded(out: &Output) -> String {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn cp_copies_on_the_server_by_default_and_through_the_client_when_asked() {
    let s = start();
    let size = 3 * PART + 17;
    let crc = source(&s, size);
    s.reset_stats();
    let text = succeeded(
        &ossr(&s, &["cp", "oss://cp-src/big.bin", "oss://cp-dst/a.bin"])
            .output()
            .unwrap(),
    );
    assert!(text.contains("on the server, one CopyObject"), "{text}");
    assert_eq!(s.stats().bytes_copied, size);
    assert_eq!(s.stats().bytes_served, 0, "no byte came down");
    assert_eq!(stat_crc(&s, "oss://cp-dst/a.bin"), crc);
    s.reset_stats();
    let text = succeeded(
        &ossr(
            &s,
            &[
                "cp",
                "oss://cp-src/big.bin",
                "oss://cp-dst/b.bin",
                "--through-client",
            ],
        )
        .output()
        .unwrap(),
    );
    assert!(text.contains("through this machine"), "{text}");
    assert_eq!(s.stats().bytes_copied, 0);
    assert_eq!(s.stats().bytes_served, size);
    assert_eq!(stat_crc(&s, "oss://cp-dst/b.bin"), crc);
}

#[test]
fn sigkill_of_cp_at_several_moments_then_completion_leaves_the_right_object_and_no_upload() {
    let s = start();
    let crc = source(&s, PARTS * PART - 999);
    let work = tempfile::tempdir().unwrap();
    let ckpt = work.path().join("ckpt");
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    // 300 ms per request: 41 parts on 4 threads take over 3 s, so every kill lands
    // before the copy is done.
    s.set_fault("latency_ms", "300").unwrap();
    let kills = 4;
    for kill in 1..=kills {
        let mut child = cp_command(&s, &ckpt).spawn().unwrap();
        if kill == 1 {
            // While Initiate is in flight: its marker checkpoint is on disk.
            let deadline = Instant::now() + Duration::from_secs(20);
            while checkpoint_count(&ckpt) == 0 {
                assert!(Instant::now() < deadline, "no checkpoint written");
                std::thread::sleep(Duration::from_millis(1));
            }
        } else {
            std::thread::sleep(Duration::from_millis(rng.u64(20..1500)));
        }
        child.kill().unwrap();
        let _ = child.wait();
        // Requests the server had received are carried out after their delay.
        std::thread::sleep(Duration::from_millis(500));
        assert!(
            s.stats().uploads_in_progress <= 2,
            "seed {seed}: uploads piling up"
        );
    }
    let text = succeeded(&cp_command(&s, &ckpt).output().unwrap());
    assert!(
        text.contains("on the server, 41 parts"),
        "seed {seed}: {text}"
    );
    assert_eq!(stat_crc(&s, "oss://cp-dst/copy.bin"), crc, "seed {seed}");
    assert_eq!(
        s.stats().uploads_in_progress,
        0,
        "seed {seed}: an upload left"
    );
    assert_eq!(checkpoint_count(&ckpt), 0);
    // Each kill may lose the parts in flight and one awaiting its record.
    let copies = s.stats().requests_with("UploadPartCopy", 200);
    assert!(
        copies <= PARTS + kills * (THREADS + 1),
        "seed {seed}: {copies} part copies for {PARTS} parts"
    );
    assert_eq!(s.stats().bytes_served, 0);
}
