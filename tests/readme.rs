//! The README's C program is `examples-c/quickstart.c`, word for word, and it compiles
//! with warnings as errors and downloads an object from the local server.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use oss_resume_server::{Server, ServerConfig};

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn target_dir() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root().join("target"))
}

/// The body of the README's fenced block that follows `marker`.
fn readme_block(marker: &str, fence: &str) -> String {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let after = &readme[readme.find(marker).expect("the marker is in the README")..];
    let open = format!("```{fence}\n");
    let start = after.find(&open).expect("a fenced block after the marker") + open.len();
    let len = after[start..].find("```\n").expect("the block ends");
    after[start..start + len].to_string()
}

const QUICKSTART: &str = "examples-c/quickstart.c";

#[test]
fn the_readme_shows_quickstart_c_word_for_word() {
    let file = std::fs::read_to_string(root().join(QUICKSTART)).unwrap();
    assert_eq!(readme_block(QUICKSTART, "c"), file);
}

#[test]
fn the_readme_c_program_downloads_from_the_local_server() {
    if !common::have_tools(&["cc"]) {
        return;
    }
    // The same library build as tests/c_api.rs (its own target directory: `cargo
    // test` unifies features with the dev-dependencies).
    let lib_target = target_dir().join("c-abi");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--lib", "--quiet"])
        .env("CARGO_TARGET_DIR", &lib_target)
        .current_dir(root())
        .status()
        .unwrap();
    assert!(status.success(), "cargo build --release --lib failed");
    let lib = lib_target.join("release");
    let work = tempfile::tempdir().unwrap();
    let program = work.path().join("quickstart");
    let out = Command::new("cc")
        .args(["-std=c99", "-Wall", "-Wextra", "-Wpedantic", "-Werror"])
        .arg(root().join(QUICKSTART))
        .arg(format!("-I{}", root().join("include").display()))
        .arg(format!("-L{}", lib.display()))
        .arg(format!("-Wl,-rpath,{}", lib.display()))
        .args(["-loss_resume", "-lpthread", "-o"])
        .arg(&program)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut config = ServerConfig::new("readme-ak", "readme-sk");
    config.buckets = vec!["readme-bucket".into()];
    let server = Server::start(config).unwrap();
    let data: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    server
        .put_object("readme-bucket", "big.iso", &data)
        .unwrap();
    let target = work.path().join("big.iso");
    let out = Command::new(&program)
        .args(["readme-bucket", "big.iso"])
        .arg(&target)
        .env("OSS_ENDPOINT", server.endpoint())
        .env("OSS_REGION", "cn-hangzhou")
        .env("OSS_ACCESS_KEY_ID", "readme-ak")
        .env("OSS_ACCESS_KEY_SECRET", "readme-sk")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let crc = oss_resume::crc64::checksum(&data);
    assert_eq!(
        stdout,
        format!(
            "downloaded {} bytes to {}, crc64 {crc} verified\n",
            data.len(),
            target.display()
        )
    );
    assert_eq!(std::fs::read(&target).unwrap(), data);

    // A failure says what and exits 1.
    let out = Command::new(&program)
        .args(["readme-bucket", "missing"])
        .arg(work.path().join("missing"))
        .env("OSS_ENDPOINT", server.endpoint())
        .env("OSS_REGION", "cn-hangzhou")
        .env("OSS_ACCESS_KEY_ID", "readme-ak")
        .env("OSS_ACCESS_KEY_SECRET", "readme-sk")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("HTTP 404"), "{stderr}");
}

#[test]
fn the_readme_fault_table_lists_every_switch() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    for (switch, _) in oss_resume_server::FAULT_SWITCHES {
        let name = switch.split('=').next().unwrap();
        assert!(
            readme.contains(&format!("`{name}=")),
            "{name} is missing from the README's fault table"
        );
    }
}
