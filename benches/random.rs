//! Random access (`Client::open_file`) against the two ways there were before it: one
//! ranged GET per read, and a whole download before reading a local file. Each
//! access pattern runs against the bundled server on loopback, with a per-response
//! latency (`OSSR_BENCH_LATENCY_MS`, default 5 ms) standing in for a real endpoint's
//! first-byte time. Reported: time and bytes fetched of each way, and the ratios of
//! the other two to `open_file`. Run by hand: `cargo bench --bench random`.

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::{Duration, Instant};

use oss_resume::{ByteRange, Client, Config, FileOptions, RequestOptions, SignatureVersion};
use oss_resume_server::{Server, ServerConfig};

const BUCKET: &str = "bench";
const MIB: u64 = 1024 * 1024;

/// A read the pattern makes: (offset, length).
type Reads = Vec<(u64, u64)>;

fn sequential(size: u64) -> Reads {
    (0..size / MIB).map(|i| (i * MIB, MIB)).collect()
}

fn read_then_skip(size: u64) -> Reads {
    (0..size / (2 * MIB)).map(|i| (i * 2 * MIB, MIB)).collect()
}

fn random_4k(size: u64) -> Reads {
    let mut rng = fastrand::Rng::with_seed(1);
    (0..500).map(|_| (rng.u64(..size - 4096), 4096)).collect()
}

/// Four readers at four places, interleaved read by read (as four threads would).
fn four_streams(size: u64) -> Reads {
    let quarter = size / 4;
    let read = 256 * 1024;
    (0..quarter / read)
        .flat_map(|i| (0..4).map(move |t| (t * quarter + i * read, read)))
        .collect()
}

struct Run {
    secs: f64,
    bytes: u64,
}

fn with_open_file(c: &Client, key: &str, reads: &Reads) -> Run {
    let start = Instant::now();
    let file = c.open_file(BUCKET, key, &FileOptions::default()).unwrap();
    let mut buf = vec![0u8; 4 * MIB as usize];
    for &(offset, len) in reads {
        file.read_at(&mut buf[..len as usize], offset).unwrap();
    }
    Run {
        secs: start.elapsed().as_secs_f64(),
        bytes: file.stats().bytes_fetched,
    }
}

fn with_a_get_per_read(c: &Client, key: &str, reads: &Reads) -> Run {
    let start = Instant::now();
    let mut buf = vec![0u8; 4 * MIB as usize];
    let mut bytes = 0;
    for &(offset, len) in reads {
        let range = ByteRange::new(offset, offset + len - 1);
        let mut r = c
            .get_object(BUCKET, key, Some(range), None, &RequestOptions::default())
            .unwrap();
        r.read_exact(&mut buf[..len as usize]).unwrap();
        bytes += len;
    }
    Run {
        secs: start.elapsed().as_secs_f64(),
        bytes,
    }
}

fn with_a_download(c: &Client, key: &str, reads: &Reads, size: u64) -> Run {
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("whole");
    let start = Instant::now();
    c.download(BUCKET, key, &target, &Default::default(), None)
        .unwrap();
    let mut file = std::fs::File::open(&target).unwrap();
    let mut buf = vec![0u8; 4 * MIB as usize];
    for &(offset, len) in reads {
        file.seek(SeekFrom::Start(offset)).unwrap();
        file.read_exact(&mut buf[..len as usize]).unwrap();
    }
    Run {
        secs: start.elapsed().as_secs_f64(),
        bytes: size,
    }
}

/// Lists a zip and extracts its one small member: through `open_file`, and through
/// a whole download (a GET per read is not how a zip reader can be driven).
fn zip_rows(c: &Client, size: u64) {
    let start = Instant::now();
    let file = c
        .open_file(BUCKET, "a.zip", &FileOptions::default())
        .unwrap();
    let mut zip = zip::ZipArchive::new(file).unwrap();
    let mut member = Vec::new();
    zip.by_name("docs/readme.txt")
        .unwrap()
        .read_to_end(&mut member)
        .unwrap();
    let ours = Run {
        secs: start.elapsed().as_secs_f64(),
        bytes: zip.into_inner().stats().bytes_fetched,
    };
    let whole = with_a_download(c, "a.zip", &Vec::new(), size);
    row("zip: list + 1 member", &ours, None, &whole);
}

fn row(name: &str, ours: &Run, per_read: Option<&Run>, whole: &Run) {
    let ratio = |other: &Run| {
        format!(
            "{:>7.2}x {:>9.1}x",
            other.secs / ours.secs,
            other.bytes as f64 / ours.bytes.max(1) as f64
        )
    };
    println!(
        "{name:<28} {:>8.3}s {:>8.1} MiB | GET/read {} | download {}",
        ours.secs,
        ours.bytes as f64 / MIB as f64,
        per_read
            .map(ratio)
            .unwrap_or_else(|| format!("{:>18}", "-")),
        ratio(whole),
    );
}

fn zip_archive() -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let mut rng = fastrand::Rng::with_seed(2);
    let mut noise = vec![0u8; MIB as usize];
    for i in 0..64 {
        if i == 32 {
            zip.start_file("docs/readme.txt", stored).unwrap();
            zip.write_all(b"the small member\n").unwrap();
        }
        rng.fill(&mut noise);
        zip.start_file(format!("data/{i:02}.bin"), stored).unwrap();
        zip.write_all(&noise).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

fn main() {
    let latency: u64 = std::env::var("OSSR_BENCH_LATENCY_MS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(5);
    let size = 256 * MIB;
    let mut config = ServerConfig::new("bench-ak", "bench-sk");
    config.buckets = vec![BUCKET.into()];
    let server = Server::start(config).expect("server");
    let mut object = vec![0u8; size as usize];
    fastrand::Rng::with_seed(3).fill(&mut object);
    server.put_object(BUCKET, "big", &object).unwrap();
    drop(object);
    let archive = zip_archive();
    server.put_object(BUCKET, "a.zip", &archive).unwrap();
    server
        .set_fault("latency_ms", &latency.to_string())
        .unwrap();
    let client = Client::new(
        Config::builder(&server.endpoint())
            .credentials("bench-ak", "bench-sk", None)
            .signature_version(SignatureVersion::V1)
            .read_timeout(Duration::from_secs(30))
            .build()
            .unwrap(),
    )
    .unwrap();
    println!(
        "256 MiB object, {latency} ms per response; open_file's time and bytes, then the \
         others' as multiples of it (time, bytes)"
    );
    let patterns: [(&str, Reads); 4] = [
        ("sequential, 1 MiB reads", sequential(size)),
        ("read 1 MiB, skip 1 MiB", read_then_skip(size)),
        ("4 streams, 256 KiB reads", four_streams(size)),
        ("500 random 4 KiB reads", random_4k(size)),
    ];
    for (name, reads) in &patterns {
        let ours = with_open_file(&client, "big", reads);
        let per_read = with_a_get_per_read(&client, "big", reads);
        let whole = with_a_download(&client, "big", reads, size);
        row(name, &ours, Some(&per_read), &whole);
    }
    zip_rows(&client, archive.len() as u64);
}
