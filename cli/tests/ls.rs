//! `ossr ls` against the local server: one level or recursive, human and JSON.

use std::process::{Command, Output};

use oss_resume_server::{Server, ServerConfig};

fn server() -> Server {
    let mut config = ServerConfig::new("ls-ak", "ls-sk");
    config.buckets = vec!["ls-bucket".into()];
    Server::start(config).unwrap()
}

fn ossr(s: &Server, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ossr"))
        .args(args)
        .env("OSS_ENDPOINT", s.endpoint())
        .env("OSS_ACCESS_KEY_ID", "ls-ak")
        .env("OSS_ACCESS_KEY_SECRET", "ls-sk")
        .env_remove("OSS_REGION")
        .env_remove("OSS_SIGNATURE_VERSION")
        .env_remove("OSS_SESSION_TOKEN")
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout.clone()).unwrap()
}

fn fill(s: &Server) {
    for (key, len) in [
        ("data/a.bin", 10),
        ("data/b c.txt", 2000),
        ("data/sub/1", 1),
        ("data/sub/2", 2),
        ("data/zz/deep/x", 3),
        ("other", 4),
    ] {
        s.put_object("ls-bucket", key, &vec![7u8; len]).unwrap();
    }
}

/// The `oss://` column of the human lines (the last field, after two spaces).
fn urls(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|l| l.find("oss://").map(|i| &l[i..]))
        .collect()
}

#[test]
fn ls_lists_one_level_with_directories_and_a_summary() {
    let s = server();
    fill(&s);
    let text = stdout(&ossr(&s, &["ls", "oss://ls-bucket/data/"]));
    assert_eq!(
        urls(&text),
        [
            "oss://ls-bucket/data/a.bin",
            "oss://ls-bucket/data/b c.txt",
            "oss://ls-bucket/data/sub/",
            "oss://ls-bucket/data/zz/",
        ],
        "{text}"
    );
    let a = text.lines().find(|l| l.ends_with("data/a.bin")).unwrap();
    assert!(a.contains("  10  Standard  "), "{a}");
    let sub = text.lines().find(|l| l.ends_with("data/sub/")).unwrap();
    assert!(sub.contains("DIR"), "{sub}");
    assert!(
        text.ends_with("2 objects, 2010 bytes, 2 directories\n"),
        "{text}"
    );
}

#[test]
fn ls_r_lists_every_key_below_the_prefix() {
    let s = server();
    fill(&s);
    for r in ["-r", "--recursive"] {
        let text = stdout(&ossr(&s, &["ls", r, "oss://ls-bucket/data/"]));
        assert_eq!(
            urls(&text),
            [
                "oss://ls-bucket/data/a.bin",
                "oss://ls-bucket/data/b c.txt",
                "oss://ls-bucket/data/sub/1",
                "oss://ls-bucket/data/sub/2",
                "oss://ls-bucket/data/zz/deep/x",
            ],
            "{text}"
        );
        assert!(
            text.ends_with("5 objects, 2016 bytes, 0 directories\n"),
            "{text}"
        );
    }
    // A bucket alone lists from its first key.
    let text = stdout(&ossr(&s, &["ls", "-r", "oss://ls-bucket"]));
    assert_eq!(urls(&text).len(), 6, "{text}");
}

#[test]
fn ls_json_prints_one_object_per_entry() {
    let s = server();
    fill(&s);
    s.put_object("ls-bucket", "data/q\"uote\n", b"").unwrap();
    let text = stdout(&ossr(&s, &["ls", "--json", "oss://ls-bucket/data/"]));
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(lines.len(), 5, "{text}");
    assert!(
        lines[0].starts_with("{\"key\": \"data/a.bin\", \"size\": 10, \"etag\": \"\\\""),
        "{}",
        lines[0]
    );
    assert!(lines[0].contains("\"storage_class\": \"Standard\", \"type\": \"Normal\"}"));
    assert!(
        lines[1].starts_with("{\"key\": \"data/b c.txt\""),
        "{}",
        lines[1]
    );
    assert!(
        lines[2].starts_with("{\"key\": \"data/q\\\"uote\\n\""),
        "{}",
        lines[2]
    );
    assert_eq!(lines[3], "{\"prefix\": \"data/sub/\"}");
    assert_eq!(lines[4], "{\"prefix\": \"data/zz/\"}");
}

#[test]
fn ls_of_a_missing_bucket_fails_naming_it() {
    let s = server();
    let out = ossr(&s, &["ls", "oss://no-such-bucket/x"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("no-such-bucket"), "{err}");
    let out = ossr(&s, &["ls", "ls-bucket/x"]);
    assert_eq!(out.status.code(), Some(2), "a bad URL is a usage error");
}
