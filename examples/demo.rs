//! The main job on the bundled local server, no cloud account needed: start the
//! server, upload a 128 MiB object, download it resumably over a flaky link (503s,
//! dropped connections), interrupt the download part-way, resume it, verify the file
//! byte for byte and by CRC-64, and print what happened.
//!
//! `cargo run --release --example demo`

use std::io::Write;
use std::time::Instant;

use oss_resume::{
    Client, Config, DownloadOptions, ErrorKind, PutSource, RequestOptions, SignatureVersion,
};
use oss_resume_server::{Server, ServerConfig};

const SIZE: usize = 128 << 20;

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
        "2. uploaded {} MiB: etag {}, crc64 {}",
        SIZE >> 20,
        put.etag,
        put.crc64.unwrap_or(0)
    );

    // A flaky, slow link: three GETs cut after 1 MiB, a burst of 503s, 40 MB/s per connection.
    server.set_fault("drop_after_bytes", "1048576")?;
    server.set_fault("drop_count", "3")?;
    server.set_fault("error_ops", "GetObject")?;
    server.set_fault("error_burst", "4")?;
    server.set_fault("bandwidth", "40000000")?;

    let target = work.path().join("downloaded.bin");
    let opts = DownloadOptions {
        threads: 4,
        ..DownloadOptions::default()
    };
    let started = Instant::now();
    let mut interrupt_at_40_percent = |done: u64, total: u64| {
        print!("\r   {:5.1}%", done as f64 * 100.0 / total as f64);
        let _ = std::io::stdout().flush();
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
    println!(
        "\r3. download interrupted after {:.2?} ({err}); target exists: {}",
        started.elapsed(),
        target.exists()
    );

    let started = Instant::now();
    let mut first_call = None;
    let mut progress = |done: u64, total: u64| {
        first_call.get_or_insert(done);
        print!("\r   {:5.1}%", done as f64 * 100.0 / total as f64);
        let _ = std::io::stdout().flush();
        true
    };
    let report = client.download(
        "demo",
        "big/object.bin",
        &target,
        &opts,
        Some(&mut progress),
    )?;
    println!(
        "\r4. resumed ({:?}): progress started at {} bytes; reused {} bytes, fetched {}, {} part retries, in {:.2?}",
        report.checkpoint,
        first_call.unwrap_or(0),
        report.bytes_reused,
        report.bytes_fetched,
        report.parts_retried,
        started.elapsed()
    );

    let got = std::fs::read(&target)?;
    let crc = oss_resume::crc64::checksum(&got);
    let identical = got == data;
    println!(
        "5. verified: {} bytes, crc64 {crc} (object {}), checked against the object's crc: {}, byte-identical: {identical}",
        got.len(),
        report.crc64.unwrap_or(0),
        report.verified
    );
    let stats = server.stats();
    println!(
        "6. server counters: {} body bytes served for a {} byte object, {} ranged GETs, {} faults injected",
        stats.bytes_served, SIZE, stats.ranges_served, stats.faults_injected
    );
    if !identical || Some(crc) != report.crc64 {
        return Err("the downloaded file differs from the uploaded one".into());
    }
    Ok(())
}
