//! The official Python SDK (oss2) drives the local server, signing V1 and V4.
//! This is how we know the server speaks OSS. Needs the venv `.ci/run` creates; under
//! `CI=true` a missing oss2 is a failure, elsewhere the test says why it did nothing.

mod common;

use std::process::Command;

use oss_resume_server::{Server, ServerConfig};

fn run_oss2(version: &str) {
    let Some(python) = common::python_with_oss2() else {
        return;
    };
    let data = tempfile::tempdir().unwrap();
    let mut config = ServerConfig::new("interop-ak", "interop-secret");
    config.buckets = vec!["interop".to_string()];
    config.data_dir = Some(data.path().to_path_buf());
    let server = Server::start(config).unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/oss2_interop.py");
    let output = Command::new(python)
        .arg(script)
        .env("OSSR_ENDPOINT", server.endpoint())
        .env("OSSR_AK", "interop-ak")
        .env("OSSR_SK", "interop-secret")
        .env("OSSR_BUCKET", "interop")
        .env("OSSR_SIGNATURE", version)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "oss2 {version} interop failed\n--- stdout\n{stdout}\n--- stderr\n{stderr}"
    );
    assert!(stdout.contains("15 passed, 0 failed"), "{stdout}");
    // Nothing the SDK started is left behind.
    assert_eq!(
        server.stats().uploads_in_progress,
        0,
        "{:?}",
        server.stats()
    );
}

#[test]
fn oss2_drives_the_server_with_v1_signatures() {
    run_oss2("v1");
}

#[test]
fn oss2_drives_the_server_with_v4_signatures() {
    run_oss2("v4");
}
