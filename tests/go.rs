//! The Go package (`go/ossr`, cgo over the C ABI): `go vet` and `go test` against
//! the local server, which this test starts in-process.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use oss_resume_server::{Server, ServerConfig};

#[test]
fn go_package_passes_vet_and_its_tests_against_the_local_server() {
    if !common::have_tools(&["go", "cc"]) {
        return;
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let target: PathBuf = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| root.join("target"));
    // The static library, fresh, in its own target directory (see tests/c_api.rs).
    let lib_target = target.join("c-abi");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let status = Command::new(cargo)
        .args(["build", "--release", "--lib"])
        .env("CARGO_TARGET_DIR", &lib_target)
        .current_dir(root)
        .status()
        .expect("run cargo build");
    assert!(status.success(), "cargo build --release --lib failed");

    let mut config = ServerConfig::new("go-ak", "go-sk");
    config.buckets = vec!["go-bucket".into()];
    let server = Server::start(config).unwrap();

    let go = |args: &[&str]| {
        let out = Command::new("go")
            .args(args)
            .current_dir(root.join("go"))
            .env("CGO_ENABLED", "1")
            // Searched before the package's own -L (target/release).
            .env(
                "CGO_LDFLAGS",
                format!("-L{}", lib_target.join("release").display()),
            )
            .env("GOCACHE", target.join("go-cache"))
            .env("GOFLAGS", "-mod=mod")
            .env("OSSR_TEST_ENDPOINT", server.endpoint())
            .env("OSSR_TEST_BUCKET", "go-bucket")
            .env("OSSR_TEST_ACCESS_KEY_ID", "go-ak")
            .env("OSSR_TEST_ACCESS_KEY_SECRET", "go-sk")
            .env("OSSR_TEST_REGION", "cn-hangzhou")
            .env("CI", "true") // inside this test the server is there: never skip
            .output()
            .expect("run go");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "go {args:?} failed:\n{text}");
        text
    };
    go(&["vet", "./..."]);
    // Under the race detector: Readers and Client.Close meet across goroutines.
    let text = go(&["test", "-race", "-count=1", "-v", "./..."]);
    let passed = text.lines().filter(|l| l.starts_with("--- PASS")).count();
    assert!(passed >= 12, "fewer Go tests passed than exist:\n{text}");
    assert!(!text.contains("--- SKIP"), "a Go test skipped:\n{text}");
    println!("{text}");
}
