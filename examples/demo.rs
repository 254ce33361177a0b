//! The main job on the bundled local server, no cloud account needed: start the
//! server, upload a 128 MiB object, download it resumably over a flaky link (dropped
//! connections, injected 503s, 40 MB/s per connection), interrupt the download
//! part-way as Ctrl-C would, resume it, verify the file byte for byte and by CRC-64,
//! and say what happened at each step.
//!
//! `cargo run --release --example demo`

use std::io::{IsTerminal, Write};
use std::time::Instant;

use oss_resume::{
    CheckpointState, Client, Config, DownloadOptions, ErrorKind, PutSource, RequestOptions,
    SignatureVersion,
};
use oss_resume_server::{Server, ServerConfig, Stats};

const SIZE: usize = 128 << 20;
const MIB: f64 = (1 << 20) as f64;

/// Progress on stdout: redrawn in place on a terminal, a line per 10% otherwise.
struct Progress {
    tty: bool,
    last_tenth: u64,
    furthest: u64,
}

impl Progress {
    fn new() -> Progress {
        Progress {
            tty: std::io::stdout().is_terminal(),
            last_tenth: u64::MAX,
            furthest: 0,
        }
    }

    fn show(&mut self, done: u64, total: u64) {
        self.furthest = self.furthest.max(done);
        let pct = done as f64 * 100.0 / total.max(1) as f64;
        if self.tty {
            print!("\r   {pct:5.1}%");
            let _ = std::io::stdout().flush();
        } else if done * 10 / total.max(1) != self.last_tenth {
            self.last_tenth = done * 10 / total.max(1);
            println!("   {pct:5.1}%");
        }
    }

    /// Ends a redrawn line so the next text starts on its own.
    fn end(&self) {
        if self.tty {
            print!("\r");
        }
    }
}

/// What the server did to the link since the last reset, in words.
fn faults_text(stats: &Stats) -> String {
    format!(
        "the server cut {} GET bodies after 1 MiB and answered {} GETs with 503 ServiceUnavailable",
        stats.faults_of("drop_after_bytes"),
        stats.faults_of("error_503"),
    )
}

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let work = tempfile::tempdir()?;
    let mut config = ServerConfig::new("demo-ak", "demo-secret");
    config.buckets = vec!["demo".into()];
    config.data_dir = Some(work.path().join("server-data"));
    let server = Server::start(config)?;
    println!("1. local OSS server listening on {}", server.endpoint());

    let client = Client::new(
        Config::builder(&server.endpoint())
            .credentials("demo-ak", "demo-secret", None)
            .region("cn-hangzhou")
            .signature_version(SignatureVersion::V4)
            .build()?,
    )?;
    let source = work.path().join("source.bin");
    let data: Vec<u8> = (0..SIZE)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    std::fs::write(&source, &data)?;
    let put = client.put_object(
        "demo",
        "big/object.bin",
        PutSource::File(&source),
        &[],
        &RequestOptions::default(),
    )?;
    println!(
        "2. uploaded {} MiB as oss://demo/big/object.bin: etag {}, crc64 {}",
        SIZE >> 20,
        put.etag,
        put.crc64.unwrap_or(0)
    );

    // A flaky, slow link: GET bodies cut after 1 MiB, a burst of 503s, 40 MB/s per
    // connection.
    let flaky = |cuts: &str, errors: &str| -> Result<(), String> {
        server.set_fault("drop_after_bytes", "1048576")?;
        server.set_fault("drop_count", cuts)?;
        server.set_fault("error_ops", "GetObject")?;
        server.set_fault("error_burst", errors)?;
        server.set_fault("bandwidth", "40000000")
    };
    flaky("3", "4")?;
    server.reset_stats();
    let target = work.path().join("downloaded.bin");
    let mut opts = DownloadOptions::default();
    opts.threads = 4;
    println!(
        "3. downloading with 4 threads in 8 MiB parts over a flaky link (the next 3 GET bodies cut after 1 MiB, the next 4 GETs answered 503, 40 MB/s per connection); stopping at 40% as Ctrl-C would:"
    );
    let started = Instant::now();
    let mut progress = Progress::new();
    let mut interrupt_at_40_percent = |done: u64, total: u64| {
        progress.show(done, total);
        done * 10 < total * 4
    };
    let err = client
        .download(
            "demo",
            "big/object.bin",
            &target,
            &opts,
            Some(&mut interrupt_at_40_percent),
        )
        .expect_err("the callback interrupts the download");
    assert_eq!(err.kind(), ErrorKind::Cancelled);
    progress.end();
    let reached = progress.furthest;
    let stats = server.stats();
    println!(
        "   stopped after {:.2?} at {:.1} MiB ({err}); {}",
        started.elapsed(),
        reached as f64 / MIB,
        if target.exists() {
            "yet the target exists (unexpected)"
        } else {
            "nothing at the target yet: the bytes go to a temporary file renamed at the end"
        }
    );
    println!(
        "   on the way {}; the client continued each cut part from the byte it had reached and retried each 503 after a backoff",
        faults_text(&stats)
    );

    flaky("2", "2")?;
    server.reset_stats();
    println!(
        "4. running the same download again (the link still flaky: 2 more cuts, 2 more 503s):"
    );
    let started = Instant::now();
    let mut progress = Progress::new();
    let mut first_call = None;
    let mut show = |done: u64, total: u64| {
        first_call.get_or_insert(done);
        progress.show(done, total);
        true
    };
    let report = client.download("demo", "big/object.bin", &target, &opts, Some(&mut show))?;
    progress.end();
    let stats = server.stats();
    let state = match &report.checkpoint {
        CheckpointState::Resumed => "resumed from its checkpoint".to_string(),
        CheckpointState::Discarded(why) => format!("checkpoint discarded ({why})"),
        CheckpointState::NotFound | CheckpointState::NotUsed => "no checkpoint found".into(),
    };
    println!(
        "   {state}: {} finished parts ({:.1} MiB) kept; progress restarted at {:.1} MiB",
        report.bytes_reused / report.part_size,
        report.bytes_reused as f64 / MIB,
        first_call.unwrap_or(0) as f64 / MIB,
    );
    println!(
        "   the interrupted run had reached {:.1} MiB: the {:.1} MiB beyond the finished parts belonged to parts still in flight, which are not recorded until whole and synced to disk, so they were fetched again",
        reached as f64 / MIB,
        reached.saturating_sub(report.bytes_reused) as f64 / MIB,
    );
    println!(
        "   fetched {:.1} MiB in {:.2?}; {}, and the download survived them: {} cut parts continued where they stopped, each 503 retried",
        report.bytes_fetched as f64 / MIB,
        started.elapsed(),
        faults_text(&stats),
        report.parts_retried,
    );

    let got = std::fs::read(&target)?;
    let crc = oss_resume::crc64::checksum(&got);
    let identical = got == data;
    println!(
        "5. verified: {} bytes, crc64 {crc} (the object's: {}, checked by the download: {}), byte-identical to the upload: {identical}",
        got.len(),
        report.crc64.unwrap_or(0),
        report.verified
    );
    if !identical || Some(crc) != report.crc64 {
        return Err("the downloaded file differs from the uploaded one".into());
    }
    Ok(())
}
