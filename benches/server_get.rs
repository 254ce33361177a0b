//! How fast the bundled server streams one GET of a 1 GiB object stored under a data
//! directory, measured with curl on loopback (so later benchmarks measure the client,
//! not the server). Run with `cargo bench --bench server_get`.

use std::io::Read;
use std::process::Command;
use std::time::Duration;

use oss_resume::{Client, Config, RequestOptions, SignatureVersion};
use oss_resume_server::{Server, ServerConfig};

const SIZE: u64 = 1 << 30;

/// Deterministic bytes without holding them all in memory.
struct Pattern {
    left: u64,
    state: u64,
}

impl Read for Pattern {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = buf.len().min(self.left as usize);
        for chunk in buf[..n].chunks_mut(8) {
            self.state = self
                .state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let bytes = self.state.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        self.left -= n as u64;
        Ok(n)
    }
}

fn main() {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = ServerConfig::new("bench-ak", "bench-sk");
    config.buckets = vec!["bench".into()];
    config.data_dir = Some(dir.path().to_path_buf());
    let server = Server::start(config).expect("server");
    server
        .put_object_from(
            "bench",
            "1gib.bin",
            &mut Pattern {
                left: SIZE,
                state: 1,
            },
        )
        .expect("object");
    let client = Client::new(
        Config::builder(&server.endpoint())
            .credentials("bench-ak", "bench-sk", None)
            .signature_version(SignatureVersion::V1)
            .build()
            .expect("config"),
    )
    .expect("client");
    let url = client
        .presign_get(
            "bench",
            "1gib.bin",
            Duration::from_secs(3600),
            &RequestOptions::default(),
        )
        .expect("url");
    let mut speeds = Vec::new();
    for run in 1..=3 {
        let out = Command::new("curl")
            .args([
                "-s",
                "-f",
                "-o",
                "/dev/null",
                "-w",
                "%{size_download} %{speed_download}",
                &url,
            ])
            .output()
            .expect("curl must be installed");
        let text = String::from_utf8_lossy(&out.stdout).to_string();
        let mut fields = text.split_whitespace();
        let size: f64 = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
        let speed: f64 = fields.next().and_then(|s| s.parse().ok()).unwrap_or(0.0);
        assert_eq!(size as u64, SIZE, "curl got {size} bytes: {text}");
        println!("run {run}: {:.2} GiB/s", speed / (1u64 << 30) as f64);
        speeds.push(speed);
    }
    speeds.sort_by(|a, b| a.total_cmp(b));
    println!(
        "server GET of 1 GiB from --data storage to curl on loopback: median {:.2} GiB/s",
        speeds[1] / (1u64 << 30) as f64
    );
    let stats = server.stats();
    println!("server counted {} body bytes served", stats.bytes_served);
}
