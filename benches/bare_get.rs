//! The download benchmark's yardstick (run by benches/download.sh, not a test): the
//! least a parallel ranged download can do. Workers take part indexes from a shared
//! counter, GET each range with one ureq agent, and `pwrite` it from a 1 MiB buffer
//! into a file sized up front. No HEAD, no checkpoint, no CRC, no retry, no rename.
//! With `--sync` each part is `fdatasync`ed before the worker takes the next, as a
//! durable download must.
//!
//!   bare_get URL SIZE OUT [--threads N] [--part-size BYTES] [--sync]

use std::fs::OpenOptions;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicU64, Ordering};

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let flag = |name: &str| args.iter().position(|a| a == name);
    let value = |name: &str, default: u64| {
        flag(name).map_or(default, |i| args[i + 1].parse().expect("a number"))
    };
    let [url, size, out] = [&args[0], &args[1], &args[2]];
    let size: u64 = size.parse().expect("SIZE in bytes");
    let threads = value("--threads", 4);
    let part = value("--part-size", 8 << 20);
    let sync = flag("--sync").is_some();
    let file = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(out)
        .expect("the output file");
    file.set_len(size).expect("sizing the output");
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .max_idle_connections_per_host(64)
        .input_buffer_size(512 * 1024)
        .build()
        .into();
    let next = AtomicU64::new(0);
    let parts = size.div_ceil(part);
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| {
                let mut buf = vec![0u8; 1 << 20];
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= parts {
                        return;
                    }
                    let (a, b) = (i * part, ((i + 1) * part).min(size));
                    let mut response = agent
                        .get(url)
                        .header("Range", format!("bytes={a}-{}", b - 1))
                        .call()
                        .expect("a ranged GET");
                    let mut body = response.body_mut().as_reader();
                    let mut at = a;
                    loop {
                        let n = body.read(&mut buf).expect("reading the body");
                        if n == 0 {
                            break;
                        }
                        file.write_all_at(&buf[..n], at).expect("writing");
                        at += n as u64;
                    }
                    assert_eq!(at, b, "part {i} ended early");
                    if sync {
                        file.sync_data().expect("fdatasync");
                    }
                }
            });
        }
    });
}
