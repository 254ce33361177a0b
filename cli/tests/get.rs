//! `ossr get` as a process: killed with SIGKILL it resumes, interrupted with Ctrl-C it
//! leaves a checkpoint, and a read-only target directory fails cleanly.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use oss_resume_server::{Server, ServerConfig};

mod common;
use common::{Pattern, crc_of};

/// Small enough that parts finish between the kills on a link slow enough that five
/// runs cannot finish the object.
const PART: u64 = 2 << 20;
const THREADS: u64 = 4;

fn pattern_crc(size: u64, seed: u64) -> u64 {
    crc_of(Pattern {
        left: size,
        state: seed,
    })
}

fn file_crc(path: &Path) -> u64 {
    crc_of(fs::File::open(path).unwrap())
}

fn start(data: &Path) -> Server {
    let mut config = ServerConfig::new("get-ak", "get-sk");
    config.buckets = vec!["get-bucket".into()];
    config.data_dir = Some(data.to_path_buf());
    Server::start(config).unwrap()
}

/// A server (and its data directory) holding `big.bin`: `size` bytes of the pattern
/// seeded with `seed`.
fn serving(size: u64, seed: u64) -> (tempfile::TempDir, Server) {
    let data = tempfile::tempdir().unwrap();
    let s = start(data.path());
    s.put_object_from(
        "get-bucket",
        "big.bin",
        &mut Pattern {
            left: size,
            state: seed,
        },
    )
    .unwrap();
    (data, s)
}

fn get_command(s: &Server, target: &Path, ckpt: &Path) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ossr"));
    cmd.args(["get", "oss://get-bucket/big.bin"])
        .arg(target)
        .args([
            "--threads",
            &THREADS.to_string(),
            "--part-size",
            "2M",
            "--checkpoint-dir",
        ])
        .arg(ckpt)
        .env("OSS_ENDPOINT", s.endpoint())
        .env("OSS_ACCESS_KEY_ID", "get-ak")
        .env("OSS_ACCESS_KEY_SECRET", "get-sk")
        .env_remove("OSS_REGION")
        .env_remove("OSS_SIGNATURE_VERSION")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

/// Bytes the checkpoint in `dir` records as durable (0 when there is none).
fn checkpointed_bytes(dir: &Path, size: u64) -> u64 {
    let Some(path) = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.to_string_lossy().ends_with(".download"))
    else {
        return 0;
    };
    let text = fs::read_to_string(path).unwrap_or_default();
    text.lines()
        .filter_map(|l| l.strip_prefix("item="))
        .filter_map(|l| l.split(' ').next()?.parse::<u64>().ok())
        .map(|i| PART.min(size - i * PART))
        .sum()
}

fn wait_output(child: std::process::Child) -> Output {
    child.wait_with_output().unwrap()
}

#[test]
fn sigkill_at_five_random_moments_then_completion_is_byte_identical() {
    let size: u64 = 256 << 20;
    let (_data, s) = serving(size, 9);
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("big.bin");
    let ckpt = work.path().join("ckpt");
    // Slow the link so the download spans the kills: 4 x 10 MB/s is at most 180 MB in
    // five runs of under 0.9 s, well short of the 268 MB object, and a 2 MiB part
    // takes 0.2 s, so most runs checkpoint some.
    s.set_fault("bandwidth", "10000000").unwrap();
    let seed = fastrand::u64(..);
    let mut rng = fastrand::Rng::with_seed(seed);
    let bound = (THREADS + 1) * PART;
    for kill in 1..=5 {
        let served_before = s.stats().bytes_served;
        let done_before = checkpointed_bytes_or_zero(&ckpt, size);
        let mut child = get_command(&s, &target, &ckpt).spawn().unwrap();
        let wait = Duration::from_millis(rng.u64(150..900));
        std::thread::sleep(wait);
        child.kill().unwrap(); // SIGKILL
        let _ = child.wait();
        // Let the server notice the closed connections before reading its counters:
        // wait until its byte count holds still for 100 ms.
        let mut last = s.stats().bytes_served;
        for _ in 0..50 {
            std::thread::sleep(Duration::from_millis(100));
            let now = s.stats().bytes_served;
            if now == last {
                break;
            }
            last = now;
        }
        let served = s.stats().bytes_served - served_before;
        assert!(
            !target.exists(),
            "kill {kill} after {wait:?}: the download finished before the kill"
        );
        let done_after = checkpointed_bytes_or_zero(&ckpt, size);
        assert!(done_after >= done_before, "the checkpoint lost parts");
        let wasted = served.saturating_sub(done_after - done_before);
        eprintln!(
            "kill {kill} after {wait:?}: served {served}, newly checkpointed {}, wasted {wasted} (bound {bound})",
            done_after - done_before
        );
        assert!(
            wasted <= bound,
            "kill {kill} after {wait:?} (seed {seed}): {wasted} bytes fetched but not kept, bound {bound}"
        );
    }
    s.clear_faults();
    let served_before = s.stats().bytes_served;
    let done_before = checkpointed_bytes_or_zero(&ckpt, size);
    let out = wait_output(get_command(&s, &target, &ckpt).spawn().unwrap());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(fs::metadata(&target).unwrap().len(), size);
    assert_eq!(
        file_crc(&target),
        pattern_crc(size, 9),
        "byte-identical (seed {seed})"
    );
    // The final run fetched only what the checkpoint did not hold.
    assert_eq!(s.stats().bytes_served - served_before, size - done_before);
    if done_before > 0 {
        assert!(stdout.contains("resumed from a checkpoint"), "{stdout}");
    }
    let left: Vec<PathBuf> = fs::read_dir(work.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p != &target && p != &ckpt)
        .collect();
    assert!(
        left.iter()
            .all(|p| p.to_string_lossy().ends_with(".ossr-lock"))
            || left.is_empty(),
        "{left:?}"
    );
    assert_eq!(
        checkpointed_bytes_or_zero(&ckpt, size),
        0,
        "checkpoint removed"
    );
}

fn checkpointed_bytes_or_zero(dir: &Path, size: u64) -> u64 {
    if dir.exists() {
        checkpointed_bytes(dir, size)
    } else {
        0
    }
}

#[test]
fn ctrl_c_leaves_a_checkpoint_and_the_next_run_resumes() {
    let size: u64 = 64 << 20;
    let (_data, s) = serving(size, 3);
    s.set_fault("bandwidth", "8000000").unwrap();
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("big.bin");
    let ckpt = work.path().join("ckpt");
    let child = get_command(&s, &target, &ckpt).spawn().unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while checkpointed_bytes_or_zero(&ckpt, size) == 0 {
        assert!(Instant::now() < deadline, "no part finished");
        std::thread::sleep(Duration::from_millis(20));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let out = wait_output(child);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("interrupted") && stderr.contains("resume"),
        "{stderr}"
    );
    assert!(checkpointed_bytes_or_zero(&ckpt, size) > 0);
    s.clear_faults();
    let out = wait_output(get_command(&s, &target, &ckpt).spawn().unwrap());
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("resumed from a checkpoint"), "{stdout}");
    assert_eq!(file_crc(&target), pattern_crc(size, 3));
}

fn am_root() -> bool {
    use std::os::unix::fs::MetadataExt;
    fs::metadata("/proc/self")
        .map(|m| m.uid() == 0)
        .unwrap_or(false)
}

#[test]
fn read_only_target_directory_fails_clearly_and_leaves_nothing() {
    use std::os::unix::fs::PermissionsExt;
    let data = tempfile::tempdir().unwrap();
    let s = start(data.path());
    s.put_object("get-bucket", "big.bin", b"some bytes")
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    let ro = work.path().join("ro");
    fs::create_dir(&ro).unwrap();
    fs::set_permissions(work.path(), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(&ro, fs::Permissions::from_mode(0o555)).unwrap();
    let target = ro.join("out.bin");
    let mut cmd = get_command(&s, &target, &work.path().join("ckpt"));
    if am_root() {
        // Root ignores permissions: run as nobody, who cannot write there.
        let inner = cmd;
        cmd = Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups"])
            .arg(inner.get_program())
            .args(inner.get_args());
        for (k, v) in inner.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
        // nobody must be able to reach the binary and the work directory.
        fs::set_permissions(work.path(), fs::Permissions::from_mode(0o777)).unwrap();
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(stderr.contains(&ro.display().to_string()), "{stderr}");
    assert!(
        stderr.to_lowercase().contains("permission denied"),
        "{stderr}"
    );
    assert_eq!(fs::read_dir(&ro).unwrap().count(), 0);
}

/// Progress lines an `ossr get` wrote to a non-terminal stderr.
fn progress_lines(stderr: &str) -> Vec<&str> {
    stderr
        .lines()
        .filter(|l| l.starts_with("progress: "))
        .collect()
}

#[test]
fn progress_to_a_log_is_whole_lines_at_the_interval_asked() {
    let size: u64 = 24 << 20;
    let (_data, s) = serving(size, 4);
    let work = tempfile::tempdir().unwrap();
    let ckpt = work.path().join("ckpt");

    // Every callback draws: many lines, each whole, the last at 100%.
    let out = get_command(&s, &work.path().join("a"), &ckpt)
        .args(["--progress-interval", "0"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(!stderr.contains('\r'), "{stderr:?}");
    let lines = progress_lines(&stderr);
    assert!(lines.len() > 2, "{stderr}");
    assert!(lines.last().unwrap().contains("100.0%"), "{stderr}");

    // An interval longer than the transfer: the first line and the last only.
    let out = get_command(&s, &work.path().join("b"), &ckpt)
        .args(["--progress-interval", "3600"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    let lines = progress_lines(&stderr);
    assert_eq!(lines.len(), 2, "{stderr}");
    assert!(lines[1].contains("100.0%"), "{stderr}");

    // --quiet: none.
    let out = get_command(&s, &work.path().join("c"), &ckpt)
        .arg("--quiet")
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(progress_lines(&String::from_utf8_lossy(&out.stderr)).is_empty());
}

/// Ctrl-C (SIGINT) or SIGTERM while every body is stalled by the server (nothing
/// moves, so no progress callback runs): the cancel token shuts the connections,
/// `ossr get` exits 130 within a second and keeps its checkpoint.
fn a_signal_ends_a_get_stalled_by_the_server_within_a_second(signal: &str) {
    use std::io::BufRead;
    let size: u64 = 16 << 20;
    let (_data, s) = serving(size, 9);
    stall_bodies(&s);
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("big.bin");
    let ckpt = work.path().join("ckpt");
    let mut child = get_command(&s, &target, &ckpt)
        .args(["--progress-interval", "0.05"])
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in std::io::BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    // Once progress shows every body's 64 KiB, nothing more moves: the stall.
    let mut seen = Vec::new();
    loop {
        let line = rx
            .recv_timeout(Duration::from_secs(20))
            .unwrap_or_else(|_| panic!("the bodies did not stall: {seen:?}"));
        let stalled = line.contains("256.0 KiB /");
        seen.push(line);
        if stalled {
            break;
        }
    }
    let at = Instant::now();
    let status = Command::new("kill")
        .args([&format!("-{signal}"), &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let exit = child.wait().unwrap();
    let took = at.elapsed();
    reader.join().unwrap();
    seen.extend(rx.try_iter());
    assert_eq!(exit.code(), Some(130), "{seen:?}");
    assert!(
        took < Duration::from_secs(1),
        "exited {took:?} after SIG{signal}"
    );
    assert!(!target.exists());
    let kept = fs::read_dir(&ckpt)
        .unwrap()
        .any(|e| e.unwrap().path().to_string_lossy().ends_with(".download"));
    assert!(kept, "the checkpoint is kept");
}

#[test]
fn ctrl_c_ends_a_get_stalled_by_the_server_within_a_second() {
    a_signal_ends_a_get_stalled_by_the_server_within_a_second("INT");
}

#[test]
fn sigterm_ends_a_get_stalled_by_the_server_within_a_second() {
    a_signal_ends_a_get_stalled_by_the_server_within_a_second("TERM");
}

/// Whether `unshare -rm` (a user and mount namespace, no privilege needed) works
/// here; under CI it must.
fn can_mount_privately() -> bool {
    let ok = Command::new("unshare")
        .args(["-rm", "true"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        ok || std::env::var_os("CI").is_none(),
        "CI: `unshare -rm` (util-linux) is needed to give a test a small filesystem"
    );
    ok
}

/// A download into a filesystem too small for the object fails before any byte is
/// fetched (the space is reserved up front), says how much it needs, and leaves
/// nothing behind: no target, no temporary file, no checkpoint. The filesystem is a
/// 4 MiB tmpfs mounted in a private namespace; the object is 16 MiB.
#[test]
fn a_disk_too_small_is_found_before_any_byte_is_fetched() {
    if !can_mount_privately() {
        return;
    }
    let size: u64 = 16 << 20;
    let (_data, s) = serving(size, 3);
    let work = tempfile::tempdir().unwrap();
    let small = work.path().join("small");
    fs::create_dir(&small).unwrap();
    let ckpt = work.path().join("ckpt");
    for multipart in [true, false] {
        s.reset_stats();
        let get = get_command(&s, &small.join("big.bin"), &ckpt);
        let mut cmd = Command::new("unshare");
        // Mounts the tmpfs over `small`, runs ossr, then lists what is left there.
        cmd.args(["-rm", "sh", "-c"])
            .arg(r#"mount -t tmpfs -o size=4m tmpfs "$0" && { "$@"; rc=$?; echo "left: $(ls -A "$0")"; exit $rc; }"#)
            .arg(&small)
            .arg(get.get_program())
            .args(get.get_args());
        if !multipart {
            cmd.args(["--threshold", "1G"]);
        }
        for (k, v) in get.get_envs() {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        let out = cmd.output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            out.status.code(),
            Some(1),
            "{multipart}: {stdout}\n{stderr}"
        );
        assert!(
            stderr.contains(&format!("reserving {size} bytes")),
            "{multipart}: {stderr}"
        );
        assert!(
            stdout.lines().any(|l| l == "left: "),
            "{multipart}: nothing is left in the directory: {stdout}"
        );
        assert_eq!(
            s.stats().requests_with("GetObject", 200) + s.stats().requests_with("GetObject", 206),
            0,
            "{multipart}: no byte was fetched"
        );
        assert!(
            fs::read_dir(&ckpt).map_or(true, |mut d| d.next().is_none()),
            "{multipart}: no checkpoint is left"
        );
    }
}

/// `--no-hedge` turns hedging off: with every GET after the first 8 held back
/// 1.5 s, the summary counts hedged parts by default and none with the flag.
#[test]
fn late_parts_are_hedged_unless_no_hedge() {
    let (_data, s) = serving(24 << 20, 31);
    let hedged = |extra: &[&str]| {
        s.clear_faults();
        for (name, value) in [
            ("delay_ops", "GetObject"),
            ("delay_ms", "1500"),
            ("delay_after", "8"),
            ("delay_rate", "1"),
        ] {
            s.set_fault(name, value).unwrap();
        }
        let work = tempfile::tempdir().unwrap();
        let out = get_command(&s, &work.path().join("t"), &work.path().join("c"))
            .args(extra)
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let n: u64 = stdout
            .split(" parts hedged")
            .next()
            .and_then(|head| head.rsplit(' ').next())
            .and_then(|n| n.parse().ok())
            .unwrap_or_else(|| panic!("no hedged count in {stdout:?}"));
        n
    };
    assert!(hedged(&[]) >= 1, "no part was hedged by default");
    assert_eq!(hedged(&["--no-hedge"]), 0);
    s.clear_faults();
}

/// Every GET body stops after 64 KiB, for far longer than any test.
fn stall_bodies(s: &Server) {
    s.set_fault("stall_after_bytes", "65536").unwrap();
    s.set_fault("stall_ms", "60000").unwrap();
    s.set_fault("stall_count", "1000").unwrap();
}

/// Whether process `pid` holds a descriptor of `path` open (waited on, not slept
/// for: the process's own state in /proc).
fn holds_open(pid: u32, path: &Path) -> bool {
    fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|fds| {
            fds.flatten()
                .any(|fd| fs::read_link(fd.path()).is_ok_and(|p| p == path))
        })
        .unwrap_or(false)
}

/// Waits (bounded) until `pid` holds `path` open.
fn wait_until_open(pid: u32, path: &Path) {
    let until = Instant::now() + Duration::from_secs(20);
    while !holds_open(pid, path) {
        assert!(
            Instant::now() < until,
            "{pid} never opened {}",
            path.display()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// `get --wait` waiting for another transfer's lock on its target ends on Ctrl-C
/// within a second (exit 130), without waiting for the holder.
#[test]
fn ctrl_c_ends_a_get_waiting_for_the_targets_lock() {
    let (_data, s) = serving(16 << 20, 12);
    stall_bodies(&s);
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("big.bin");
    let lock = work.path().join(".big.bin.ossr-lock");
    let mut holder = get_command(&s, &target, &work.path().join("c1"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    wait_until_open(holder.id(), &lock);
    let mut waiter = get_command(&s, &target, &work.path().join("c2"))
        .arg("--wait")
        .spawn()
        .unwrap();
    wait_until_open(waiter.id(), &lock);
    let at = Instant::now();
    let sent = Command::new("kill")
        .args(["-INT", &waiter.id().to_string()])
        .status()
        .unwrap();
    assert!(sent.success());
    let exit = waiter.wait().unwrap();
    let took = at.elapsed();
    holder.kill().unwrap();
    holder.wait().unwrap();
    assert_eq!(exit.code(), Some(130));
    assert!(
        took < Duration::from_secs(1),
        "exited {took:?} after SIGINT"
    );
}

/// `--read-timeout` bounds a wait on a server that stopped sending: every body
/// stalls, each attempt gives up after 1 s, and the get fails (exit 1) saying it
/// timed out, its checkpoint kept, instead of waiting the default 60 s per attempt.
#[test]
fn read_timeout_bounds_a_wait_on_a_stalled_body() {
    let (_data, s) = serving(16 << 20, 13);
    stall_bodies(&s);
    let work = tempfile::tempdir().unwrap();
    let ckpt = work.path().join("ckpt");
    let out = get_command(&s, &work.path().join("big.bin"), &ckpt)
        .args(["--read-timeout", "1", "--quiet"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("timeout"), "{stderr}");
    let kept = fs::read_dir(&ckpt)
        .unwrap()
        .any(|e| e.unwrap().path().to_string_lossy().ends_with(".download"));
    assert!(kept, "the checkpoint is kept");
}
