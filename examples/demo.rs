//! The main job on the bundled local server, no cloud account needed: start the
//! server, upload a 64 MiB object, then read it back over a link that drops
//! connections and answers 503s, and verify every byte by CRC-64.
//!
//! `cargo run --release --example demo`

use std::io::Read;
use std::time::Instant;

use oss_resume::{Client, Config, PutSource, RequestOptions, RetryPolicy, SignatureVersion};
use oss_resume_server::{Server, ServerConfig};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let data_dir = tempfile::tempdir()?;
    let mut config = ServerConfig::new("demo-ak", "demo-secret");
    config.buckets = vec!["demo".into()];
    config.data_dir = Some(data_dir.path().to_path_buf());
    let server = Server::start(config)?;
    println!("local OSS server listening on {}", server.endpoint());

    let client = Client::new(
        Config::builder(&server.endpoint())
            .credentials("demo-ak", "demo-secret", None)
            .region("cn-hangzhou")
            .signature_version(SignatureVersion::V4)
            .retry_policy(RetryPolicy::default())
            .build()?,
    )?;
    let size = 64 << 20;
    let data: Vec<u8> = (0..size)
        .map(|i: usize| (i.wrapping_mul(2_654_435_761) >> 11) as u8)
        .collect();
    let opts = RequestOptions::default();
    let started = Instant::now();
    let put = client.put_object(
        "demo",
        "big/object.bin",
        PutSource::Bytes(&data),
        &[],
        &opts,
    )?;
    println!(
        "uploaded {} MiB in {:.2?}: etag {}, crc64 {:?}",
        size >> 20,
        started.elapsed(),
        put.etag,
        put.crc64
    );

    // A flaky link: the next two requests get 503, then a GET is cut after 1 MiB.
    server.set_fault("error_burst", "2")?;
    let info = client.head_object("demo", "big/object.bin", &opts)?;
    println!(
        "HEAD survived 2 injected 503s: {} bytes, crc64 {:?}",
        info.size, info.crc64
    );
    server.set_fault("drop_after_bytes", &(1 << 20).to_string())?;
    server.set_fault("drop_count", "1")?;
    let mut first = Vec::new();
    let cut = client
        .get_object("demo", "big/object.bin", None, Some(&info.etag), &opts)?
        .read_to_end(&mut first);
    println!(
        "GET cut by the server after {} bytes: {}",
        first.len(),
        cut.map(|_| "no error?".to_string())
            .unwrap_or_else(|e| e.to_string())
    );
    // Continue from the byte reached, pinned to the same ETag.
    let mut rest = Vec::new();
    let mut reader = client.get_object(
        "demo",
        "big/object.bin",
        Some(oss_resume::ByteRange::from(first.len() as u64)),
        Some(&info.etag),
        &opts,
    )?;
    reader.read_to_end(&mut rest)?;
    first.extend_from_slice(&rest);
    let crc = oss_resume::crc64::checksum(&first);
    let verified = Some(crc) == info.crc64 && first == data;
    println!(
        "resumed from byte {}: {} bytes, crc64 {crc}, verified: {verified}",
        first.len() - rest.len(),
        first.len()
    );
    let stats = server.stats();
    println!(
        "server counters: {} body bytes served, {} ranged GETs, {} faults injected",
        stats.bytes_served, stats.ranges_served, stats.faults_injected
    );
    if !verified {
        return Err("the bytes read back differ from the bytes uploaded".into());
    }
    Ok(())
}
