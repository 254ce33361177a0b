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
