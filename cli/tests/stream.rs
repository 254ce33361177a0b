//! `ossr cat`, `ossr put -` and `ossr cp` as processes.

use std::io::{Read, Write};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use oss_resume_server::{Server, ServerConfig};

fn start(data: Option<&std::path::Path>) -> Server {
    let mut config = ServerConfig::new("cat-ak", "cat-sk");
    config.buckets = vec!["cat-bucket".into()];
    config.data_dir = data.map(|d| d.to_path_buf());
    Server::start(config).unwrap()
}

fn ossr(s: &Server, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ossr"));
    cmd.args(args)
        .env("OSS_ENDPOINT", s.endpoint())
        .env("OSS_ACCESS_KEY_ID", "cat-ak")
        .env("OSS_ACCESS_KEY_SECRET", "cat-sk")
        .env_remove("OSS_REGION")
        .env_remove("OSS_SIGNATURE_VERSION");
    cmd
}

fn run(s: &Server, args: &[&str]) -> Output {
    ossr(s, args).output().unwrap()
}

fn bytes(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i.wrapping_mul(31) >> 3) as u8).collect()
}

#[test]
fn cat_writes_the_object_and_each_range_form() {
    let s = start(None);
    let data = bytes(100_000);
    s.put_object("cat-bucket", "dir/k", &data).unwrap();
    let out = run(&s, &["cat", "oss://cat-bucket/dir/k"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.stdout, data);
    for (range, expect) in [
        ("10-19", &data[10..20]),
        ("99990-", &data[99_990..]),
        ("-5", &data[99_995..]),
        ("0-0", &data[..1]),
    ] {
        let out = run(&s, &["cat", "oss://cat-bucket/dir/k", "--range", range]);
        assert!(
            out.status.success(),
            "{range}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, expect, "{range}");
    }
    let out = run(&s, &["cat", "oss://cat-bucket/dir/k", "--range", "x-y"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--range"));
}

#[test]
fn cat_into_a_closed_pipe_is_not_a_crash() {
    let s = start(None);
    s.put_object("cat-bucket", "big", &bytes(8 << 20)).unwrap();
    let mut child = ossr(&s, &["cat", "oss://cat-bucket/big"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut first = [0u8; 1000];
    stdout.read_exact(&mut first).unwrap();
    drop(stdout); // like `| head -c 1000`
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{:?} {stderr}", out.status);
    assert!(!stderr.contains("panicked"), "{stderr}");
}

#[test]
fn put_from_stdin_is_stored_and_errors_are_clear() {
    let s = start(None);
    let data = bytes(3_000_000);
    let mut child = ossr(
        &s,
        &[
            "put",
            "-",
            "oss://cat-bucket/from-stdin",
            "--content-type",
            "text/x-test",
        ],
    )
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped())
    .spawn()
    .unwrap();
    child.stdin.take().unwrap().write_all(&data).unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crc = oss_resume::crc64::checksum(&data);
    assert!(String::from_utf8_lossy(&out.stdout).contains(&crc.to_string()));
    assert_eq!(
        run(&s, &["cat", "oss://cat-bucket/from-stdin"]).stdout,
        data
    );
    let stat = run(&s, &["stat", "oss://cat-bucket/from-stdin"]);
    assert!(String::from_utf8_lossy(&stat.stdout).contains(&format!("crc64: {crc}")));

    let out = run(&s, &["put", "no-such-file", "oss://cat-bucket/x"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no-such-file"));
    let out = run(&s, &["cat", "oss://cat-bucket/missing"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NoSuchKey"));
    let out = run(
        &s,
        &["cp", "oss://cat-bucket/missing", "oss://cat-bucket/y"],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NoSuchKey"));
}

/// Peak resident memory of a running child, sampled from /proc until it exits.
fn run_measuring_peak_rss(cmd: Command) -> (Output, u64) {
    run_measuring_peak_rss_to(cmd, Stdio::piped())
}

/// [`run_measuring_peak_rss`] with the child's standard output sent to `stdout`.
fn run_measuring_peak_rss_to(mut cmd: Command, stdout: Stdio) -> (Output, u64) {
    let mut child = cmd.stdout(stdout).stderr(Stdio::piped()).spawn().unwrap();
    let status_path = format!("/proc/{}/status", child.id());
    let mut peak_kib = 0u64;
    let deadline = Instant::now() + Duration::from_secs(300);
    while child.try_wait().unwrap().is_none() {
        if let Ok(status) = std::fs::read_to_string(&status_path) {
            for line in status.lines() {
                if let Some(v) = line.strip_prefix("VmHWM:") {
                    let kib: u64 = v.trim().trim_end_matches("kB").trim().parse().unwrap_or(0);
                    peak_kib = peak_kib.max(kib);
                }
            }
        }
        assert!(Instant::now() < deadline, "the copy did not finish");
        std::thread::sleep(Duration::from_millis(5));
    }
    (child.wait_with_output().unwrap(), peak_kib)
}

#[test]
fn a_1_gib_stream_copy_through_the_client_stays_under_32_mib_of_memory() {
    let data_dir = tempfile::tempdir().unwrap();
    let s = start(Some(data_dir.path()));
    struct Pattern(u64, u64);
    impl Read for Pattern {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = buf.len().min(self.0 as usize);
            for (i, b) in buf[..n].iter_mut().enumerate() {
                *b = ((self.1 + i as u64).wrapping_mul(2_654_435_761) >> 13) as u8;
            }
            self.0 -= n as u64;
            self.1 += n as u64;
            Ok(n)
        }
    }
    let size = 1u64 << 30;
    s.put_object_from("cat-bucket", "gib", &mut Pattern(size, 0))
        .unwrap();
    let (out, peak_kib) = run_measuring_peak_rss(ossr(
        &s,
        &[
            "cp",
            "oss://cat-bucket/gib",
            "oss://cat-bucket/gib-copy",
            "--through-client",
        ],
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(peak_kib > 0, "no memory sample");
    assert!(peak_kib < 32 * 1024, "peak RSS {peak_kib} KiB");
    eprintln!("ossr cp of 1 GiB: peak RSS {peak_kib} KiB");
    let stat = run(&s, &["stat", "oss://cat-bucket/gib-copy"]);
    let text = String::from_utf8_lossy(&stat.stdout);
    assert!(text.contains(&format!("size: {size}")), "{text}");
    let src = run(&s, &["stat", "oss://cat-bucket/gib"]);
    let crc_line = |t: &str| {
        t.lines()
            .find(|l| l.starts_with("crc64:"))
            .map(str::to_string)
    };
    assert_eq!(
        crc_line(&text),
        crc_line(&String::from_utf8_lossy(&src.stdout))
    );
}

/// Reading a 256 MiB object front to back through random access (`cat --range`,
/// an ObjectFile with the default 64 MiB prefetch budget) keeps the process's peak
/// resident memory under that budget plus 16 MiB (the program, its connections' and
/// its output's buffers), and the bytes are the object's.
#[test]
fn a_256_mib_range_read_stays_within_the_prefetch_budget() {
    let s = start(None);
    let size = 256usize << 20;
    let data = bytes(size);
    s.put_object("cat-bucket", "big", &data).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let whole = dir.path().join("whole");
    let (out, peak_kib) = run_measuring_peak_rss_to(
        ossr(&s, &["cat", "oss://cat-bucket/big", "--range", "0-"]),
        Stdio::from(std::fs::File::create(&whole).unwrap()),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("cat --range of 256 MiB: peak RSS {peak_kib} KiB");
    assert!(peak_kib > 1024, "no memory sample: {peak_kib} KiB");
    assert!(
        std::fs::read(&whole).unwrap() == data,
        "the bytes are the object's"
    );
    assert!(
        peak_kib <= (64 + 16) * 1024,
        "peak RSS {peak_kib} KiB is over the 64 MiB budget plus 16 MiB"
    );
}
