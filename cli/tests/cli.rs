//! `ossr stat` and `ossr rm` against the local server, configured by flags or by the
//! OSS_* environment variables.

use std::process::{Command, Output};

use oss_resume_server::{Server, ServerConfig};

fn server() -> Server {
    let mut config = ServerConfig::new("cli-ak", "cli-sk");
    config.buckets = vec!["cli-bucket".into()];
    Server::start(config).unwrap()
}

/// `ossr` with a clean environment plus `env`.
fn ossr(args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_ossr"));
    cmd.args(args);
    for var in [
        "OSS_ENDPOINT",
        "OSS_REGION",
        "OSS_SIGNATURE_VERSION",
        "OSS_ACCESS_KEY_ID",
        "OSS_ACCESS_KEY_SECRET",
        "OSS_SESSION_TOKEN",
    ] {
        cmd.env_remove(var);
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    cmd.output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn stat_prints_size_etag_crc_and_type_from_environment_settings() {
    let s = server();
    s.put_object("cli-bucket", "dir/file name.bin", b"0123456789")
        .unwrap();
    let endpoint = s.endpoint();
    for version in ["v1", "v4"] {
        let out = ossr(
            &["stat", "oss://cli-bucket/dir/file name.bin"],
            &[
                ("OSS_ENDPOINT", &endpoint),
                ("OSS_REGION", "cn-hangzhou"),
                ("OSS_SIGNATURE_VERSION", version),
                ("OSS_ACCESS_KEY_ID", "cli-ak"),
                ("OSS_ACCESS_KEY_SECRET", "cli-sk"),
            ],
        );
        let (stdout, stderr) = text(&out);
        assert!(out.status.success(), "{version}: {stderr}");
        assert!(stdout.contains("size: 10\n"), "{stdout}");
        let crc = oss_resume::crc64::checksum(b"0123456789");
        assert!(stdout.contains(&format!("crc64: {crc}\n")), "{stdout}");
        assert!(stdout.contains("type: Normal\n"), "{stdout}");
        assert!(stdout.contains("etag: \""), "{stdout}");
    }
}

#[test]
fn flags_override_the_environment() {
    let s = server();
    s.put_object("cli-bucket", "k", b"abc").unwrap();
    let endpoint = s.endpoint();
    let out = ossr(
        &[
            "stat",
            "--endpoint",
            &endpoint,
            "--access-key-id",
            "cli-ak",
            "--access-key-secret",
            "cli-sk",
            "--signature-version",
            "v1",
            "oss://cli-bucket/k",
        ],
        &[
            ("OSS_ENDPOINT", "http://127.0.0.1:1"),
            ("OSS_ACCESS_KEY_SECRET", "wrong"),
        ],
    );
    let (stdout, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert!(stdout.contains("size: 3\n"), "{stdout}");
}

#[test]
fn rm_deletes_and_stat_of_a_missing_key_fails_clearly() {
    let s = server();
    s.put_object("cli-bucket", "gone", b"x").unwrap();
    let endpoint = s.endpoint();
    let env = [
        ("OSS_ENDPOINT", endpoint.as_str()),
        ("OSS_ACCESS_KEY_ID", "cli-ak"),
        ("OSS_ACCESS_KEY_SECRET", "cli-sk"),
    ];
    let out = ossr(&["rm", "oss://cli-bucket/gone"], &env);
    assert!(out.status.success(), "{}", text(&out).1);
    let out = ossr(&["stat", "oss://cli-bucket/gone"], &env);
    let (_, stderr) = text(&out);
    assert!(!out.status.success());
    assert!(stderr.contains("oss://cli-bucket/gone"), "{stderr}");
    assert!(stderr.contains("NoSuchKey"), "{stderr}");
}

#[test]
fn missing_settings_and_bad_arguments_are_named() {
    let out = ossr(&["stat", "oss://cli-bucket/k"], &[]);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("OSS_ENDPOINT"), "{}", text(&out).1);

    let out = ossr(
        &["stat", "oss://cli-bucket/k"],
        &[("OSS_ENDPOINT", "http://127.0.0.1:1")],
    );
    assert!(!out.status.success());
    assert!(
        text(&out).1.contains("OSS_ACCESS_KEY_ID"),
        "{}",
        text(&out).1
    );

    let env = [
        ("OSS_ENDPOINT", "http://127.0.0.1:1"),
        ("OSS_ACCESS_KEY_ID", "a"),
        ("OSS_ACCESS_KEY_SECRET", "b"),
    ];
    let mut with_v5 = env.to_vec();
    with_v5.push(("OSS_SIGNATURE_VERSION", "v5"));
    let out = ossr(&["stat", "oss://cli-bucket/k"], &with_v5);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("v5"), "{}", text(&out).1);

    let mut v4_no_region = env.to_vec();
    v4_no_region.push(("OSS_SIGNATURE_VERSION", "v4"));
    let out = ossr(&["stat", "oss://cli-bucket/k"], &v4_no_region);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("region"), "{}", text(&out).1);

    let out = ossr(&["stat", "s3://cli-bucket/k"], &env);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("oss://"), "{}", text(&out).1);

    let out = ossr(&["frobnicate"], &env);
    assert!(!out.status.success());
    assert!(text(&out).1.contains("frobnicate"), "{}", text(&out).1);
}

fn env_of(s: &Server) -> Vec<(&'static str, String)> {
    vec![
        ("OSS_ENDPOINT", s.endpoint()),
        ("OSS_ACCESS_KEY_ID", "cli-ak".into()),
        ("OSS_ACCESS_KEY_SECRET", "cli-sk".into()),
    ]
}

fn ossr_at(s: &Server, args: &[&str]) -> Output {
    let env = env_of(s);
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (*k, v.as_str())).collect();
    ossr(args, &env)
}

#[test]
fn version_prints_the_package_version() {
    for flag in ["--version", "-V"] {
        let out = ossr(&[flag], &[]);
        assert_eq!(out.status.code(), Some(0));
        assert_eq!(
            text(&out).0,
            format!("ossr {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
}

#[test]
fn help_documents_exit_codes_and_checkpoint_locations() {
    let out = ossr(&["--help"], &[]);
    assert_eq!(out.status.code(), Some(0));
    let (stdout, _) = text(&out);
    for needle in ["exit codes", "130", "~/.oss_resume/upload/", ".download"] {
        assert!(stdout.contains(needle), "{needle}: {stdout}");
    }
    let (put_help, _) = text(&ossr(&["put", "--help"], &[]));
    for needle in [
        "--content-type",
        "--threshold SIZE",
        "--wait",
        "[env OSS_ENDPOINT]",
    ] {
        assert!(put_help.contains(needle), "{needle}: {put_help}");
    }
}

#[test]
fn usage_errors_exit_2() {
    let s = server();
    for args in [
        &[][..],
        &["frobnicate"],
        &["stat"],
        &["stat", "oss://cli-bucket/k", "--no-such-flag"],
        &["stat", "s3://cli-bucket/k"],
        &["get", "oss://cli-bucket/k", "out", "--threads", "0"],
        &["get", "oss://cli-bucket/k", "out", "--part-size", "8X"],
        &["stat", "oss://cli-bucket/k", "--read-timeout", "soon"],
        &["stat", "oss://cli-bucket/k", "--connect-timeout", "0"],
        &["put", "/", "oss://cli-bucket/k"],
    ] {
        let out = ossr_at(&s, args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", text(&out).1);
        assert!(!text(&out).1.is_empty(), "{args:?} says why");
    }
    // Settings missing from both flags and environment are usage errors too.
    assert_eq!(
        ossr(&["stat", "oss://cli-bucket/k"], &[]).status.code(),
        Some(2)
    );
}

#[test]
fn a_failed_request_exits_1() {
    let s = server();
    let out = ossr_at(&s, &["stat", "oss://cli-bucket/missing"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
    let out = ossr_at(&s, &["cat", "oss://cli-bucket/missing"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
}

#[test]
fn a_crc_mismatch_exits_3() {
    let s = server();
    s.put_object("cli-bucket", "flipped", &[7u8; 100_000])
        .unwrap();
    s.set_fault("flip_count", "10").unwrap();
    let out = ossr_at(&s, &["cat", "oss://cli-bucket/flipped"]);
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(3), "{stderr}");
    assert!(stderr.contains("crc"), "{stderr}");
}

#[test]
fn read_timeout_bounds_a_wait_on_a_silent_server() {
    let s = server();
    s.put_object("cli-bucket", "k", b"x").unwrap();
    // Every answer comes after 30 s; half a second per attempt gives up long before.
    s.set_fault("latency_ms", "30000").unwrap();
    let started = std::time::Instant::now();
    let out = ossr_at(
        &s,
        &[
            "stat",
            "oss://cli-bucket/k",
            "--read-timeout",
            "0.5",
            "--connect-timeout",
            "2",
        ],
    );
    let (_, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("timed out"), "{stderr}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "{stderr}"
    );
}

#[test]
fn stat_shows_the_content_type_and_json() {
    let s = server();
    let mut put = std::process::Command::new(env!("CARGO_BIN_EXE_ossr"));
    for (k, v) in env_of(&s) {
        put.env(k, v);
    }
    let mut child = put
        .args([
            "put",
            "-",
            "oss://cli-bucket/typed",
            "--content-type",
            "text/x-typed",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut child.stdin.take().unwrap(), b"hello \"json\"").unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{}", text(&out).1);
    let crc = oss_resume::crc64::checksum(b"hello \"json\"");

    let (stdout, _) = text(&ossr_at(&s, &["stat", "oss://cli-bucket/typed"]));
    assert!(stdout.contains("content-type: text/x-typed\n"), "{stdout}");

    let out = ossr_at(&s, &["stat", "oss://cli-bucket/typed", "--json"]);
    let (json, stderr) = text(&out);
    assert!(out.status.success(), "{stderr}");
    assert_eq!(json.lines().count(), 1, "{json}");
    assert!(
        json.starts_with('{') && json.trim_end().ends_with('}'),
        "{json}"
    );
    for needle in [
        "\"size\": 12".to_string(),
        format!("\"crc64\": \"{crc}\""),
        "\"content-type\": \"text/x-typed\"".to_string(),
        "\"type\": \"Normal\"".to_string(),
        "\"etag\": \"\\\"".to_string(),
        "\"version-id\": null".to_string(),
    ] {
        assert!(json.contains(&needle), "{needle}: {json}");
    }
}

#[test]
fn rm_says_what_it_did() {
    let s = server();
    s.put_object("cli-bucket", "doomed", b"x").unwrap();
    let out = ossr_at(&s, &["rm", "oss://cli-bucket/doomed"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(text(&out).0, "deleted oss://cli-bucket/doomed\n");
    let out = ossr_at(&s, &["rm", "oss://cli-bucket/doomed"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(
        text(&out).0,
        "oss://cli-bucket/doomed did not exist; nothing deleted\n"
    );
    let out = ossr_at(&s, &["rm", "oss://no-such-bucket/k"]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out).1);
}

/// Runs `ossr` with standard output a pipe whose reader is already closed.
fn with_closed_stdout(s: &Server, args: &[&str], stdin: &[u8]) -> Output {
    let (reader, writer) = std::io::pipe().unwrap();
    drop(reader);
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ossr"));
    for (k, v) in env_of(s) {
        cmd.env(k, v);
    }
    let mut child = cmd
        .args(args)
        .stdin(std::process::Stdio::piped())
        .stdout(writer)
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    // The command may not read it all (stat does not read at all).
    let _ = std::io::Write::write_all(&mut input, stdin);
    drop(input);
    child.wait_with_output().unwrap()
}

#[test]
fn a_closed_stdout_never_panics_any_command() {
    let s = server();
    s.put_object("cli-bucket", "k", &[1u8; 300_000]).unwrap();
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("f");
    std::fs::write(&file, b"data").unwrap();
    let target = work.path().join("got");
    let (file, target) = (file.to_str().unwrap(), target.to_str().unwrap());
    for args in [
        &["--version"][..],
        &["--help"],
        &["get", "--help"],
        &["serve", "--help"],
        &["stat", "oss://cli-bucket/k"],
        &["stat", "oss://cli-bucket/k", "--json"],
        &["cat", "oss://cli-bucket/k"],
        &["get", "oss://cli-bucket/k", target],
        &["put", file, "oss://cli-bucket/p"],
        &["put", "-", "oss://cli-bucket/q"],
        &["cp", "oss://cli-bucket/k", "oss://cli-bucket/c"],
        &["rm", "oss://cli-bucket/c"],
    ] {
        let out = with_closed_stdout(&s, args, b"from stdin");
        let (_, stderr) = text(&out);
        assert_eq!(out.status.code(), Some(0), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    // The transfers happened all the same.
    assert_eq!(std::fs::read(target).unwrap(), vec![1u8; 300_000]);
}

/// What `put --header` stored, `stat` shows: every x-oss-meta-* and stored header, in
/// text and in JSON.
#[test]
fn stat_shows_every_stored_header() {
    let s = server();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("f.txt");
    std::fs::write(&file, b"meta").unwrap();
    let file = file.to_str().unwrap();
    let out = ossr_at(
        &s,
        &[
            "put",
            file,
            "oss://cli-bucket/meta",
            "--header",
            "x-oss-meta-owner: ann",
            "--header",
            "Cache-Control: no-cache",
        ],
    );
    assert!(out.status.success(), "{}", text(&out).1);
    let (stdout, _) = text(&ossr_at(&s, &["stat", "oss://cli-bucket/meta"]));
    assert!(stdout.contains("x-oss-meta-owner: ann\n"), "{stdout}");
    assert!(stdout.contains("cache-control: no-cache\n"), "{stdout}");
    let (json, _) = text(&ossr_at(&s, &["stat", "oss://cli-bucket/meta", "--json"]));
    assert!(
        json.contains("\"headers\": {") && json.contains("\"x-oss-meta-owner\": \"ann\""),
        "{json}"
    );
}
