//! The C ABI from real C (and C++) programs: the examples in `examples-c/` and the
//! test programs in `tests/c/`, built with their Makefile against the freshly built
//! library, run against the local server, once plain and once under AddressSanitizer
//! and UndefinedBehaviorSanitizer (leak checking on).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use oss_resume_server::{Server, ServerConfig};

const BUCKET: &str = "c-bucket";
const AK: &str = "c-ak";
const SK: &str = "c-sk";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Build {
    Plain,
    Sanitized,
}

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// Builds the library once per test binary, then the C programs once per variant.
/// Returns None (the test is not run) when cc or make is missing outside CI.
fn programs(build: Build) -> Option<PathBuf> {
    static LIB: OnceLock<bool> = OnceLock::new();
    static DIRS: Mutex<Vec<(Build, PathBuf)>> = Mutex::new(Vec::new());
    if !*LIB.get_or_init(|| {
        if !common::have_tools(&["cc", "c++", "make"]) {
            return false;
        }
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        // Its own target directory: `cargo test` unifies features with the
        // dev-dependencies, so sharing `target/` would rebuild half the tree each time.
        let status = Command::new(cargo)
            .args(["build", "--release", "--lib"])
            .env("CARGO_TARGET_DIR", lib_target_dir())
            .current_dir(root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build --release --lib failed");
        true
    }) {
        return None;
    }
    let mut dirs = DIRS.lock().unwrap_or_else(|e| e.into_inner());
    if let Some((_, dir)) = dirs.iter().find(|(b, _)| *b == build) {
        return Some(dir.clone());
    }
    let dir = target_dir().join(match build {
        Build::Plain => "c-programs",
        Build::Sanitized => "c-programs-asan",
    });
    let _ = std::fs::remove_dir_all(&dir);
    let mut make = Command::new("make");
    make.current_dir(root().join("examples-c"))
        .arg(format!("BUILDDIR={}", dir.display()))
        .arg(format!("LIBDIR={}", lib_dir().display()))
        .args(["all", "tests", "CXX_CHECK=1"])
        // Test programs beyond the Makefile's list, by their target path (its pattern
        // rule builds any tests/c/NAME.c as BUILDDIR/NAME).
        .arg(dir.join("hardening"))
        .arg(dir.join("cancel"))
        .arg(dir.join("copy"))
        .arg(dir.join("file"))
        .arg(dir.join("list"))
        .arg(dir.join("dir"));
    if build == Build::Sanitized {
        make.arg("SANITIZE=1");
    }
    let out = make.output().expect("run make");
    assert!(
        out.status.success(),
        "make failed:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    dirs.push((build, dir.clone()));
    Some(dir)
}

/// Where the test builds `liboss_resume.so` and `.a` for the C programs.
fn lib_dir() -> PathBuf {
    lib_target_dir().join("release")
}

fn lib_target_dir() -> PathBuf {
    target_dir().join("c-abi")
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

fn server() -> Server {
    let mut config = ServerConfig::new(AK, SK);
    config.buckets = vec![BUCKET.into()];
    Server::start(config).unwrap()
}

/// A command for one of the built programs, with the connection in the environment.
fn program(dir: &Path, name: &str, server: &Server) -> Command {
    let mut cmd = Command::new(dir.join(name));
    // cargo test puts target/release on LD_LIBRARY_PATH, which outranks the programs'
    // run path: without this they could load a stale liboss_resume.so from there.
    cmd.env("LD_LIBRARY_PATH", lib_dir())
        .env("OSS_ENDPOINT", server.endpoint())
        .env("OSS_ACCESS_KEY_ID", AK)
        .env("OSS_ACCESS_KEY_SECRET", SK)
        .env_remove("OSS_REGION")
        .env_remove("OSS_SESSION_TOKEN")
        .env("OSSR_TEST_BUCKET", BUCKET)
        .env(
            "ASAN_OPTIONS",
            "detect_leaks=1:halt_on_error=1:abort_on_error=0:exitcode=86",
        )
        .env("UBSAN_OPTIONS", "halt_on_error=1:print_stacktrace=1")
        .env("LSAN_OPTIONS", "exitcode=87");
    cmd
}

/// Runs a program to the end and checks it succeeded without a sanitizer report.
fn run_ok(mut cmd: Command, stdin: Option<&[u8]>) -> Output {
    use std::io::Write;
    let what = format!("{cmd:?}");
    cmd.stdin(if stdin.is_some() {
        Stdio::piped()
    } else {
        Stdio::null()
    })
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("start the C program");
    if let Some(data) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(data).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "{what} failed ({:?}):\nstdout:\n{}\nstderr:\n{stderr}",
        out.status,
        String::from_utf8_lossy(&out.stdout)
    );
    assert_no_sanitizer_report(&stderr);
    out
}

fn assert_no_sanitizer_report(stderr: &str) {
    for marker in ["Sanitizer", "runtime error:"] {
        assert!(!stderr.contains(marker), "sanitizer report:\n{stderr}");
    }
}

fn pattern(len: usize, seed: u64) -> Vec<u8> {
    let mut state = seed | 1;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

fn crc(data: &[u8]) -> u64 {
    crc::Crc::<u64>::new(&crc::CRC_64_XZ).checksum(data)
}

fn oss_resume_client(s: &Server) -> oss_resume::Client {
    let config = oss_resume::Config::builder(&s.endpoint())
        .credentials(AK, SK, None)
        .signature_version(oss_resume::SignatureVersion::V1)
        .build()
        .unwrap();
    oss_resume::Client::new(config).unwrap()
}

#[test]
fn header_compiles_as_c99_and_cpp_and_agrees_with_the_library_version() {
    let Some(dir) = programs(Build::Plain) else {
        return;
    };
    for name in ["header_twice", "header_twice.cxx"] {
        let mut cmd = Command::new(dir.join(name));
        cmd.env("LD_LIBRARY_PATH", lib_dir());
        let out = run_ok(cmd, None);
        let text = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            text.trim(),
            format!(
                "header {v} matches library {v}",
                v = env!("CARGO_PKG_VERSION")
            )
        );
    }
}

fn round_trip(build: Build) {
    let Some(dir) = programs(build) else {
        return;
    };
    let s = server();
    let work = tempfile::tempdir().unwrap();
    // Above the 10 MiB multipart threshold: two parts of the default 8 MiB.
    let data = pattern(10 * 1024 * 1024 + 12_345, 7);
    let file = work.path().join("source.bin");
    std::fs::write(&file, &data).unwrap();

    // upload (C) with headers.
    let out = run_ok(
        {
            let mut c = program(&dir, "upload", &s);
            c.arg(&file)
                .arg(BUCKET)
                .arg("c/uploaded.bin")
                .arg("x-oss-meta-colour: blue")
                .arg("Content-Type: application/x-test");
            c
        },
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("uploaded {} bytes as c/uploaded.bin", data.len())),
        "{stdout}"
    );
    assert!(stdout.contains("2 parts (2 sent, 0 reused)"), "{stdout}");
    assert!(
        stdout.contains(&format!("crc64 {}", crc(&data))),
        "{stdout}"
    );
    let info = oss_resume_client(&s)
        .head_object(BUCKET, "c/uploaded.bin", &Default::default())
        .unwrap();
    assert_eq!(info.content_type.as_deref(), Some("application/x-test"));
    assert_eq!(info.crc64, Some(crc(&data)));

    // download (C++ build of the same example) back and compare.
    let target = work.path().join("downloaded.bin");
    let out = run_ok(
        {
            let mut c = program(&dir, "download.cxx", &s);
            c.arg(BUCKET).arg("c/uploaded.bin").arg(&target).arg("3");
            c
        },
        None,
    );
    assert_eq!(std::fs::read(&target).unwrap(), data);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(" verified"), "{stdout}");
    assert!(
        stdout.contains(&format!("crc64 {}", crc(&data))),
        "{stdout}"
    );

    // cat the whole object, then a range, to stdout.
    let out = run_ok(
        {
            let mut c = program(&dir, "cat", &s);
            c.arg(BUCKET).arg("c/uploaded.bin");
            c
        },
        None,
    );
    assert!(out.stdout == data, "cat gave different bytes");
    let out = run_ok(
        {
            let mut c = program(&dir, "cat.cxx", &s);
            c.arg(BUCKET).arg("c/uploaded.bin").arg("1000").arg("1999");
            c
        },
        None,
    );
    assert!(
        out.stdout == data[1000..2000],
        "cat of a range gave other bytes"
    );

    // put from stdin (unknown length: chunked), then read it back with cat.
    let streamed = pattern(1024 * 1024 + 3, 11);
    let out = run_ok(
        {
            // The C++ build of the example.
            let mut c = program(&dir, "put.cxx", &s);
            c.arg(BUCKET).arg("c/streamed.txt").arg("text/plain");
            c
        },
        Some(&streamed),
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains(&format!("crc64 {}", crc(&streamed))),
        "{stdout}"
    );
    let out = run_ok(
        {
            let mut c = program(&dir, "cat", &s);
            c.arg(BUCKET).arg("c/streamed.txt");
            c
        },
        None,
    );
    assert!(out.stdout == streamed, "put then cat gave other bytes");
}

#[test]
fn examples_upload_download_stream_and_put_round_trip() {
    round_trip(Build::Plain);
}

#[test]
fn examples_round_trip_clean_under_sanitizers() {
    round_trip(Build::Sanitized);
}

/// Checks a C test program's "ok N - ..." lines and its closing "1..N" plan: every
/// check passed, and at least `min` ran (a program that stopped early fails).
fn assert_all_ok(stdout: &str, min: usize) {
    assert!(!stdout.contains("not ok"), "{stdout}");
    let plan = stdout.lines().last().unwrap_or("");
    let count: usize = plan
        .strip_prefix("1..")
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no plan line:\n{stdout}"));
    assert!(count >= min, "only {count} checks ran:\n{stdout}");
    let passed = stdout.lines().filter(|l| l.starts_with("ok ")).count();
    assert_eq!(passed, count, "{stdout}");
}

fn error_paths(build: Build) {
    let Some(dir) = programs(build) else {
        return;
    };
    let s = server();
    s.put_object(BUCKET, "c/errors-object", &pattern(2 * 1024 * 1024, 3))
        .unwrap();
    let work = tempfile::tempdir().unwrap();
    for name in ["errors", "errors.cxx"] {
        let mut cmd = program(&dir, name, &s);
        cmd.env("OSSR_TEST_KEY", "c/errors-object").arg(work.path());
        let out = run_ok(cmd, None);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_all_ok(&stdout, 50);
    }
}

#[test]
fn error_paths_give_exact_codes() {
    error_paths(Build::Plain);
}

#[test]
fn error_paths_clean_under_sanitizers() {
    error_paths(Build::Sanitized);
}

fn eight_threads(build: Build) {
    let Some(dir) = programs(build) else {
        return;
    };
    let s = server();
    for i in 0..8 {
        let data = pattern(1024 * 1024 + i * 4097, 100 + i as u64);
        s.put_object(BUCKET, &format!("c/threads/{i}"), &data)
            .unwrap();
    }
    let work = tempfile::tempdir().unwrap();
    // The C build plain, the C++ build under the sanitizers.
    let name = match build {
        Build::Plain => "threads",
        Build::Sanitized => "threads.cxx",
    };
    let mut cmd = program(&dir, name, &s);
    cmd.arg(BUCKET).arg("c/threads/").arg(work.path());
    let out = run_ok(cmd, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        stdout.lines().filter(|l| l.starts_with("ok ")).count(),
        8,
        "{stdout}"
    );
    for i in 0..8 {
        let data = pattern(1024 * 1024 + i * 4097, 100 + i as u64);
        let got = std::fs::read(work.path().join(format!("thread-{i}.bin"))).unwrap();
        assert!(got == data, "thread {i} downloaded other bytes");
    }
}

fn other_calls(build: Build) {
    let Some(dir) = programs(build) else {
        return;
    };
    let s = server();
    let work = tempfile::tempdir().unwrap();
    for name in ["calls", "calls.cxx"] {
        let mut cmd = program(&dir, name, &s);
        cmd.arg(BUCKET).arg(work.path());
        let out = run_ok(cmd, None);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_all_ok(&stdout, 40);
    }
    assert_eq!(s.stats().uploads_in_progress, 0);
}

#[test]
fn every_other_call_and_option_setter_from_c() {
    other_calls(Build::Plain);
}

#[test]
fn every_other_call_clean_under_sanitizers() {
    other_calls(Build::Sanitized);
}

/// The C list program's entry lines for a listing, computed with the Rust API, and
/// the number of pages.
fn expected_listing(s: &Server, prefix: &str, delimiter: &str, page: u32) -> (Vec<String>, usize) {
    let mut opts = oss_resume::ListOptions::prefix(prefix);
    opts.delimiter = delimiter.into();
    opts.page_size = page;
    let mut lines = Vec::new();
    let mut pages = 0;
    for listed in oss_resume_client(s).list_objects(BUCKET, &opts).unwrap() {
        let listed = listed.unwrap();
        pages += 1;
        for o in &listed.objects {
            let mtime = o.last_modified_time().unwrap();
            let secs = mtime
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_secs();
            lines.push(format!(
                "object {} {} {secs} {} {} {}",
                o.key, o.size, o.etag, o.object_type, o.storage_class
            ));
        }
        lines.extend(listed.common_prefixes.iter().map(|p| format!("prefix {p}")));
    }
    (lines, pages)
}

fn list_from_c(build: Build) {
    let Some(dir) = programs(build) else {
        return;
    };
    let s = server();
    for (i, key) in ["l/a", "l/b b", "l/d/1", "l/d/2", "l/e/x/y", "l/中", "m/1"]
        .iter()
        .enumerate()
    {
        s.put_object(BUCKET, key, &pattern(i * 10, i as u64))
            .unwrap();
    }
    for (delimiter, page) in [("/", 2u32), ("", 1)] {
        let (want, pages) = expected_listing(&s, "l/", delimiter, page);
        assert!(want.len() >= 5, "{want:?}");
        let mut cmd = program(&dir, "list", &s);
        cmd.arg(BUCKET)
            .arg("l/")
            .arg(delimiter)
            .arg(page.to_string());
        let out = run_ok(cmd, None);
        let stdout = String::from_utf8_lossy(&out.stdout);
        let got: Vec<&str> = stdout
            .lines()
            .filter(|l| l.starts_with("object ") || l.starts_with("prefix "))
            .collect();
        assert_eq!(got, want, "{stdout}");
        assert!(stdout.contains(&format!("# pages {pages}\n")), "{stdout}");
        assert!(!stdout.contains("not ok"), "{stdout}");
    }
}

#[test]
fn a_bucket_is_listed_page_by_page_from_c() {
    list_from_c(Build::Plain);
}

#[test]
fn listing_from_c_is_clean_under_sanitizers() {
    list_from_c(Build::Sanitized);
}

fn dir_from_c(build: Build) {
    let Some(dir) = programs(build) else {
        return;
    };
    let s = server();
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    for (i, name) in ["a", "b/c", "b/d e", "f/g/h", "skip.tmp"]
        .iter()
        .enumerate()
    {
        let path = src.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, pattern(1000 * i, i as u64)).unwrap();
    }
    // A hostile key under the prefix: refused by name on the way down.
    s.put_object(BUCKET, "c-dir/../escape", b"x").unwrap();
    let dst = work.path().join("dst");
    let mut cmd = program(&dir, "dir", &s);
    cmd.arg(BUCKET).arg(&src).arg(&dst);
    let out = run_ok(cmd, None);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("not ok"), "{stdout}");
    // Progress: files and bytes at the totals at the end; on the way down the
    // refused key counts as done from the first call.
    assert!(
        stdout.contains("up 4 0 0\nprogress 4/4 6000/6000 0\n"),
        "{stdout}"
    );
    assert!(
        stdout.contains("down 4 0 1\nprogress 5/5 6000/6000 1\nfailed c-dir/../escape\n"),
        "{stdout}"
    );
    for name in ["a", "b/c", "b/d e", "f/g/h"] {
        assert_eq!(
            std::fs::read(src.join(name)).unwrap(),
            std::fs::read(dst.join(name)).unwrap()
        );
    }
    assert!(!dst.join("skip.tmp").exists());
    assert!(!work.path().join("escape").exists());
}

#[test]
fn a_directory_goes_up_and_down_from_c() {
    dir_from_c(Build::Plain);
}

#[test]
fn whole_prefixes_from_c_are_clean_under_sanitizers() {
    dir_from_c(Build::Sanitized);
}

#[test]
fn eight_downloads_from_eight_threads_share_one_client() {
    eight_threads(Build::Plain);
}

#[test]
fn eight_threads_clean_under_sanitizers() {
    eight_threads(Build::Sanitized);
}

#[test]
fn download_example_ctrl_c_keeps_the_checkpoint_and_the_next_run_resumes() {
    let Some(dir) = programs(Build::Plain) else {
        return;
    };
    let s = server();
    const PART: u64 = 8 * 1024 * 1024; // the example's default part size
    let data = pattern(4 * PART as usize, 5);
    s.put_object(BUCKET, "c/slow.bin", &data).unwrap();
    let work = tempfile::tempdir().unwrap();
    let target = work.path().join("slow.bin");
    // One thread at 8 MB/s: a part is done about every second; Ctrl-C goes in after the
    // first, with three seconds to spare on a loaded machine.
    s.set_fault("bandwidth", "8000000").unwrap();
    let mut cmd = program(&dir, "download", &s);
    cmd.arg(BUCKET)
        .arg("c/slow.bin")
        .arg(&target)
        .arg("1")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap();
    let stderr_text = std::sync::Arc::new(Mutex::new(String::new()));
    let reader = {
        let text = stderr_text.clone();
        let mut pipe = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            use std::io::Read;
            let mut buf = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut buf) {
                if n == 0 {
                    break;
                }
                text.lock()
                    .unwrap()
                    .push_str(&String::from_utf8_lossy(&buf[..n]));
            }
        })
    };
    // Wait until the progress line shows the first part done, then press Ctrl-C.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = last_progress(&stderr_text.lock().unwrap());
        if done > PART + PART / 8 {
            break;
        }
        assert!(Instant::now() < deadline, "the download made no progress");
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
    let status = child.wait().unwrap();
    reader.join().unwrap();
    let stderr = stderr_text.lock().unwrap().clone();
    assert_eq!(status.code(), Some(130), "{stderr}");
    assert!(
        stderr.contains("run the same command again to resume"),
        "{stderr}"
    );
    assert!(!target.exists(), "a cancelled download left a target");

    s.clear_faults();
    let out = run_ok(
        {
            let mut c = program(&dir, "download", &s);
            c.arg(BUCKET).arg("c/slow.bin").arg(&target);
            c
        },
        None,
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let reused: u64 = stdout
        .split("reused ")
        .nth(1)
        .and_then(|rest| rest.split(',').next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no reused count in {stdout}"));
    // The first part at least; more only if Ctrl-C landed late. Whole parts only.
    assert!(
        reused >= PART && reused < data.len() as u64 && reused.is_multiple_of(PART),
        "the second run should reuse the finished parts: {stdout}"
    );
    assert!(std::fs::read(&target).unwrap() == data);
}

/// The bytes done in the last "  12.5%  done / total bytes" progress line (ended by
/// "\r" on a terminal, by "\n" otherwise, as here).
fn last_progress(stderr: &str) -> u64 {
    // Redrawn in place on a terminal, a line per step in a pipe.
    stderr
        .rsplit(['\r', '\n'])
        .find_map(|line| {
            let mut words = line.split_whitespace();
            words.next()?; // the percentage
            words.next()?.parse().ok()
        })
        .unwrap_or(0)
}

#[test]
fn pkg_config_install_builds_a_program() {
    if !common::have_tools(&["pkg-config"]) {
        return;
    }
    let Some(_) = programs(Build::Plain) else {
        return;
    };
    let prefix = tempfile::tempdir().unwrap();
    let out = Command::new("make")
        .current_dir(root().join("examples-c"))
        .arg(format!("LIBDIR={}", lib_dir().display()))
        .arg(format!("PREFIX={}", prefix.path().display()))
        .arg("install")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let pc = Command::new("pkg-config")
        .env("PKG_CONFIG_PATH", prefix.path().join("lib/pkgconfig"))
        .args(["--cflags", "--libs", "oss_resume"])
        .output()
        .unwrap();
    assert!(
        pc.status.success(),
        "{}",
        String::from_utf8_lossy(&pc.stderr)
    );
    let flags = String::from_utf8(pc.stdout).unwrap();
    let exe = prefix.path().join("header_twice");
    let status = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cc -std=c99 -Wall -Wextra -Wpedantic -Werror -o {} {} {} -Wl,-rpath,{}",
            exe.display(),
            root().join("tests/c/header_twice.c").display(),
            flags.trim(),
            prefix.path().join("lib").display()
        ))
        .status()
        .unwrap();
    assert!(status.success(), "compiling with pkg-config flags failed");
    let mut cmd = Command::new(&exe);
    cmd.env("LD_LIBRARY_PATH", prefix.path().join("lib"));
    let out = run_ok(cmd, None);
    assert!(String::from_utf8_lossy(&out.stdout).contains(env!("CARGO_PKG_VERSION")));
}

#[test]
fn every_exported_function_is_declared_in_the_header() {
    if !common::have_tools(&["nm"]) {
        return;
    }
    let Some(_) = programs(Build::Plain) else {
        return;
    };
    let out = Command::new("nm")
        .args(["-D", "--defined-only"])
        .arg(lib_dir().join("liboss_resume.so"))
        .output()
        .unwrap();
    assert!(out.status.success());
    let exported: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .filter(|name| name.starts_with("ossr_"))
        .map(str::to_string)
        .collect();
    // All of them, though `ffi` is a private module to Rust users.
    assert!(exported.len() >= 99, "too few exports: {exported:?}");
    let header = std::fs::read_to_string(root().join("include/oss_resume.h")).unwrap();
    let undeclared: Vec<&String> = exported
        .iter()
        .filter(|name| {
            !header.contains(&format!(" {name}(")) && !header.contains(&format!("*{name}("))
        })
        .collect();
    assert!(
        undeclared.is_empty(),
        "exported but not in the header: {undeclared:?}"
    );
}

/// Runs `hardening MODE` (C, then C++) with faults set before each run, and checks
/// every check passed.
fn hardening(build: Build) {
    let Some(dir) = programs(build) else {
        return;
    };
    let s = server();
    const KEY: &str = "c/hardening-object";
    s.put_object(BUCKET, KEY, &pattern(300_000, 15)).unwrap();
    let work = tempfile::tempdir().unwrap();
    for name in ["hardening", "hardening.cxx"] {
        let run = |mode: &str, faults: &[(&str, &str)], min: usize| {
            s.clear_faults();
            for (fault, value) in faults {
                s.set_fault(fault, value).unwrap();
            }
            s.reset_stats();
            let mut cmd = program(&dir, name, &s);
            cmd.env("OSSR_TEST_KEY", KEY).arg(mode);
            if mode == "args" {
                cmd.arg(work.path());
            }
            let out = run_ok(cmd, None);
            assert_all_ok(&String::from_utf8_lossy(&out.stdout), min);
        };
        // Bug 1: a failed stream stays failed (after a CRC mismatch, and after a
        // dropped body with no resumes left).
        run("crc", &[("flip_count", "1")], 10);
        run(
            "drop",
            &[("drop_after_bytes", "100000"), ("drop_count", "1")],
            10,
        );
        // Bugs 2, 3, 5, 6, 8: refused at the setter or before any request.
        run("args", &[], 70);
        assert!(
            s.stats().requests.is_empty(),
            "requests reached the server: {:?}",
            s.stats().requests
        );
    }
}

#[test]
fn a_hostile_caller_gets_exact_codes_and_a_failed_stream_stays_failed() {
    hardening(Build::Plain);
}

#[test]
fn a_hostile_caller_is_clean_under_sanitizers() {
    hardening(Build::Sanitized);
}

/// Runs `cancel` (C, then C++): a download whose every GET body the server stalls is
/// cancelled from another thread once all bodies have stalled and must return
/// OSSR_ERR_CANCELLED within 1 s, keeping its checkpoint; with the faults cleared the
/// same download resumes to the same bytes; a HEAD to a silent server is cancelled
/// within 1 s too.
fn cancel(build: Build) {
    let Some(dir) = programs(build) else {
        return;
    };
    let s = server();
    const KEY: &str = "c/cancel-object";
    const PART: u64 = 200 * 1024;
    const THREADS: u64 = 3;
    let data = pattern(12 * PART as usize, 41);
    s.put_object(BUCKET, KEY, &data).unwrap();
    let mut latencies = Vec::new();
    for name in ["cancel", "cancel.cxx"] {
        let work = tempfile::tempdir().unwrap();
        let ckpt = tempfile::tempdir().unwrap();
        let target = work.path().join("cancelled.bin");
        let run = |args: &[String]| {
            let mut cmd = program(&dir, name, &s);
            cmd.env("OSSR_TEST_KEY", KEY).args(args);
            let out = run_ok(cmd, None);
            let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
            assert_all_ok(&stdout, 4);
            stdout
        };
        let common = |mode: &str| {
            vec![
                mode.to_string(),
                target.display().to_string(),
                ckpt.path().display().to_string(),
                THREADS.to_string(),
                PART.to_string(),
            ]
        };
        // Every body stops after half a part, for far longer than the test.
        s.clear_faults();
        s.set_fault("stall_after_bytes", &(PART / 2).to_string())
            .unwrap();
        s.set_fault("stall_ms", "30000").unwrap();
        s.set_fault("stall_count", "1000").unwrap();
        let mut args = common("stalled");
        args.push((PART / 2).to_string());
        let stdout = run(&args);
        assert_all_ok(&stdout, 14);
        latencies.extend(
            stdout
                .lines()
                .filter(|l| l.contains("latency"))
                .map(str::to_string),
        );
        assert!(!target.exists(), "a cancelled download left a target");
        assert_eq!(
            std::fs::read_dir(ckpt.path()).unwrap().count(),
            1,
            "the checkpoint is kept"
        );

        s.clear_faults();
        let stdout = run(&common("resume"));
        assert!(
            std::fs::read(&target).unwrap() == data,
            "the resumed file differs"
        );
        assert!(
            stdout.contains(&format!("# crc64 {}", crc(&data))),
            "{stdout}"
        );

        let stdout = run(&["head".to_string()]);
        latencies.extend(
            stdout
                .lines()
                .filter(|l| l.contains("latency"))
                .map(str::to_string),
        );
    }
    // Shown with --nocapture.
    println!("{build:?}: {}", latencies.join("; "));
}

#[test]
fn a_cancel_from_another_thread_stops_a_stalled_download_and_a_silent_head_from_c() {
    cancel(Build::Plain);
}

#[test]
fn cancel_is_clean_under_sanitizers() {
    cancel(Build::Sanitized);
}

/// Runs one mode of a C test program (C, or its C++ build) and checks its "ok"
/// lines; returns its stdout.
fn run_checks(dir: &Path, name: &str, s: &Server, args: &[&str], min: usize) -> String {
    let mut cmd = program(dir, name, s);
    cmd.args(args);
    let out = run_ok(cmd, None);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert_all_ok(&stdout, min);
    stdout
}

/// Reads an object back with the Rust client.
fn object_bytes(s: &Server, key: &str) -> Vec<u8> {
    use std::io::Read;
    let mut out = Vec::new();
    oss_resume_client(s)
        .get_object(BUCKET, key, None, None, &Default::default())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// Runs `copy` (C, then C++ under the sanitizers): a small copy (one CopyObject, the
/// metadata copied, then replaced, then forbid-overwrite), a multipart copy, and a
/// multipart copy cancelled through its token once two parts are done (the server
/// answers each request 150 ms late) and resumed from its checkpoint.
fn copy_from_c(build: Build) {
    let Some(dir) = programs(build) else {
        return;
    };
    let name = match build {
        Build::Plain => "copy",
        Build::Sanitized => "copy.cxx",
    };
    let s = server();
    let c = oss_resume_client(&s);
    const PART: u64 = 102_400;
    let small = pattern(300_000, 51);
    let large = pattern(10 * PART as usize + 12_345, 52);
    let csv = [("Content-Type".to_string(), "text/csv".to_string())];
    let put = |key: &str, data: &[u8]| {
        c.put_object(
            BUCKET,
            key,
            oss_resume::PutSource::Bytes(data),
            &csv,
            &Default::default(),
        )
        .unwrap();
    };
    put("c/copy/small", &small);
    put("c/copy/large", &large);
    let ckpt = tempfile::tempdir().unwrap();
    let ckpt_dir = ckpt.path().display().to_string();
    let part = PART.to_string();

    run_checks(
        &dir,
        name,
        &s,
        &["small", "c/copy/small", "c/copy/small-1"],
        20,
    );
    assert!(object_bytes(&s, "c/copy/small-1") == small);
    assert_eq!(s.stats().requests_with("CopyObject", 200), 3);

    s.reset_stats();
    let args = [
        "multipart",
        "c/copy/large",
        "c/copy/large-1",
        &ckpt_dir,
        &part,
    ];
    let out = run_checks(&dir, name, &s, &args, 9);
    assert!(out.contains("# size 1036345, 11 parts"), "{out}");
    assert!(object_bytes(&s, "c/copy/large-1") == large);
    assert_eq!(s.stats().requests_with("UploadPartCopy", 200), 11);

    s.set_fault("latency_ms", "150").unwrap();
    let args = [
        "cancel",
        "c/copy/large",
        "c/copy/large-2",
        &ckpt_dir,
        &part,
        "2",
    ];
    let out = run_checks(&dir, name, &s, &args, 6);
    println!(
        "{build:?}: {}",
        out.lines()
            .filter(|l| l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("; ")
    );
    assert_eq!(
        s.stats().uploads_in_progress,
        1,
        "the cancelled copy's upload is kept"
    );
    s.clear_faults();
    let args = ["resume", "c/copy/large", "c/copy/large-2", &ckpt_dir, &part];
    let out = run_checks(&dir, name, &s, &args, 6);
    println!(
        "{build:?}: {}",
        out.lines()
            .filter(|l| l.starts_with('#'))
            .collect::<Vec<_>>()
            .join("; ")
    );
    assert!(object_bytes(&s, "c/copy/large-2") == large);
    assert_eq!(s.stats().uploads_in_progress, 0);
}

#[test]
fn server_side_copy_small_multipart_cancelled_and_resumed_from_c() {
    copy_from_c(Build::Plain);
}

#[test]
fn server_side_copy_from_cpp_is_clean_under_sanitizers() {
    copy_from_c(Build::Sanitized);
}

/// Runs `file` (C, then C++ under the sanitizers): read_at from four threads at once,
/// read and seek, the ETag and the stats, compared with the object's bytes; the
/// bytes the file says it fetched are the bytes the server sent; and an object
/// overwritten mid-read gives OSSR_ERR_OBJECT_CHANGED.
fn file_from_c(build: Build) {
    let Some(dir) = programs(build) else {
        return;
    };
    let name = match build {
        Build::Plain => "file",
        Build::Sanitized => "file.cxx",
    };
    let s = server();
    let data = pattern(6 * 1024 * 1024 + 4321, 61);
    s.put_object(BUCKET, "c/file/object", &data).unwrap();
    let work = tempfile::tempdir().unwrap();
    let local = work.path().join("object.bin");
    std::fs::write(&local, &data).unwrap();
    s.reset_stats();
    let local = local.display().to_string();
    let out = run_checks(&dir, name, &s, &["read", "c/file/object", &local], 40);
    common::settle(&s);
    let fetched: u64 = out
        .lines()
        .find_map(|l| l.strip_prefix("# fetched "))
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no fetched count in {out}"));
    assert_eq!(fetched, s.stats().bytes_served, "{out}");

    s.put_object(BUCKET, "c/file/changing", &pattern(4 * 1024 * 1024, 62))
        .unwrap();
    run_checks(&dir, name, &s, &["changed", "c/file/changing"], 6);
}

#[test]
fn random_access_from_four_threads_seek_read_stats_and_a_change_from_c() {
    file_from_c(Build::Plain);
}

#[test]
fn random_access_from_cpp_is_clean_under_sanitizers() {
    file_from_c(Build::Sanitized);
}
