//! Random access (`Client::open_file`) against the local server, its counters telling
//! what was fetched.

mod common;

use std::io::{Read, Seek, SeekFrom, Write};
use std::time::Duration;

use common::settle;
use oss_resume::{
    CancelToken, Client, Config, ErrorKind, FileOptions, ObjectFile, RequestOptions, RetryPolicy,
    SignatureVersion,
};
use oss_resume_server::{Server, ServerConfig};

const BUCKET: &str = "ra-bucket";
const KIB: u64 = 1024;
const MIB: u64 = 1024 * KIB;

fn server() -> Server {
    let mut config = ServerConfig::new("ra-ak", "ra-sk");
    config.buckets = vec![BUCKET.into()];
    Server::start(config).unwrap()
}

fn client(s: &Server, prefetch_memory: u64) -> Client {
    Client::new(
        Config::builder(&s.endpoint())
            .credentials("ra-ak", "ra-sk", None)
            .region("cn-hangzhou")
            .signature_version(SignatureVersion::V4)
            .retry_policy(RetryPolicy {
                max_attempts: 4,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
            })
            .prefetch_memory(prefetch_memory)
            .build()
            .unwrap(),
    )
    .unwrap()
}

fn data(len: u64, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut v = vec![0u8; len as usize];
    rng.fill(&mut v);
    v
}

fn open(c: &Client, key: &str) -> ObjectFile {
    c.open_file(BUCKET, key, &FileOptions::default()).unwrap()
}

/// GETs the server has answered, any status.
fn gets(s: &Server) -> u64 {
    s.stats()
        .requests
        .get("GetObject")
        .map(|by_status| by_status.values().sum())
        .unwrap_or(0)
}

fn kind(e: std::io::Error) -> ErrorKind {
    e.get_ref()
        .and_then(|i| i.downcast_ref::<oss_resume::Error>())
        .map(|e| e.kind())
        .unwrap_or_else(|| panic!("not an oss_resume error: {e}"))
}

/// A zip of 40 members of 1 MiB of noise and one small text member, all stored.
fn zip_archive() -> (Vec<u8>, Vec<u8>) {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let stored =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    let readme = b"the member we want, small and in the middle\n".repeat(20);
    for i in 0..40 {
        if i == 20 {
            zip.start_file("docs/readme.txt", stored).unwrap();
            zip.write_all(&readme).unwrap();
        }
        zip.start_file(format!("data/part-{i:02}.bin"), stored)
            .unwrap();
        zip.write_all(&data(MIB, i)).unwrap();
    }
    (zip.finish().unwrap().into_inner(), readme)
}

#[test]
fn a_zip_is_listed_and_one_member_extracted_fetching_under_5_percent() {
    let s = server();
    let c = client(&s, 64 * MIB);
    let (archive, readme) = zip_archive();
    s.put_object(BUCKET, "a.zip", &archive).unwrap();
    let file = open(&c, "a.zip");
    let mut zip = zip::ZipArchive::new(file).unwrap();
    assert_eq!(zip.len(), 41);
    assert!(zip.file_names().any(|n| n.unwrap() == "data/part-39.bin"));
    let mut member = Vec::new();
    zip.by_name("docs/readme.txt")
        .unwrap()
        .read_to_end(&mut member)
        .unwrap();
    assert_eq!(member, readme);
    let stats = zip.into_inner().stats();
    settle(&s);
    let served = s.stats().bytes_served;
    let size = archive.len() as u64;
    eprintln!(
        "zip of {size} bytes: {stats:?}, {} GETs, {served} bytes served",
        gets(&s)
    );
    assert_eq!(stats.bytes_fetched, served);
    assert!(served * 20 < size, "{served} of {size} bytes fetched");
}

#[test]
fn a_front_to_back_read_of_256_mib_uses_few_large_requests_and_matches_a_download() {
    let s = server();
    let c = client(&s, 64 * MIB);
    const SIZE: u64 = 256 * MIB;
    let bytes = data(SIZE, 1);
    s.put_object(BUCKET, "big", &bytes).unwrap();
    // The same object downloaded, to compare with byte for byte.
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("big");
    let mut opts = oss_resume::DownloadOptions::default();
    opts.durability = oss_resume::Durability::NoFsync;
    let downloaded = c.download(BUCKET, "big", &target, &opts, None).unwrap();
    assert!(downloaded.verified);
    let mut download = std::fs::File::open(&target).unwrap();
    s.reset_stats();

    let mut file = open(&c, "big");
    let mut buf = vec![0u8; MIB as usize];
    let mut expect = vec![0u8; MIB as usize];
    let mut at = 0u64;
    loop {
        let n = file.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        download.read_exact(&mut expect[..n]).unwrap();
        assert!(
            buf[..n] == expect[..n],
            "the bytes at {at} differ from the download's"
        );
        at += n as u64;
    }
    assert_eq!(at, SIZE);
    assert!(file.crc_verified(), "the CRC-64 was checked at the end");
    let stats = file.stats();
    settle(&s);
    let requests = gets(&s);
    eprintln!("256 MiB front to back: {stats:?}, {requests} GETs");
    assert_eq!(stats.bytes_fetched, SIZE, "each byte fetched once");
    assert_eq!(s.stats().bytes_served, SIZE);
    // Few and large: GETs of up to 8 MiB once the window has grown (32 at the
    // least; 50 measured), 4 MiB or more on average.
    assert!(requests <= 64, "{requests} GETs for 256 MiB");
    assert!(stats.bytes_from_cache >= SIZE - 4 * MIB, "{stats:?}");
}

#[test]
fn a_flipped_byte_fails_the_front_to_back_read_at_its_end() {
    let s = server();
    let c = client(&s, 64 * MIB);
    let bytes = data(3 * MIB, 2);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    let mut file = open(&c, "k");
    s.set_fault("flip_count", "1").unwrap();
    let mut read = Vec::new();
    let err = file.read_to_end(&mut read).unwrap_err();
    assert_eq!(kind(err), ErrorKind::CrcMismatch);
    assert_eq!(s.stats().faults.get("flip_count"), Some(&1));
    assert!(!file.crc_verified());
    // Whatever is asked next, the handle stays failed.
    let err = file.read_at(&mut [0u8; 10], 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CrcMismatch);
}

#[test]
fn four_threads_reading_at_four_places_each_get_prefetch() {
    let s = server();
    let c = client(&s, 64 * MIB);
    let bytes = data(64 * MIB, 3);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    let file = open(&c, "k");
    let read = 256 * KIB;
    std::thread::scope(|scope| {
        for t in 0..4u64 {
            let (file, bytes) = (&file, &bytes);
            scope.spawn(move || {
                let mut buf = vec![0u8; read as usize];
                let start = t * 16 * MIB;
                for step in 0..(16 * MIB / read) {
                    let offset = start + step * read;
                    assert_eq!(file.read_at(&mut buf, offset).unwrap(), buf.len());
                    let at = offset as usize;
                    assert!(buf[..] == bytes[at..at + buf.len()], "at {offset}");
                }
            });
        }
    });
    let stats = file.stats();
    let requests = gets(&s);
    eprintln!("4 streams of 16 MiB, 256 KiB reads: {stats:?}, {requests} GETs");
    // One GET per read would be 256; prefetch keeps it under one per MiB read.
    assert!(requests <= 64, "{requests} GETs for 64 MiB read");
    assert!(stats.bytes_from_cache >= 56 * MIB, "{stats:?}");
}

#[test]
fn random_small_reads_fetch_only_the_pages_they_touch() {
    let s = server();
    let c = client(&s, 64 * MIB);
    let bytes = data(64 * MIB, 4);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    let file = open(&c, "k");
    let mut rng = fastrand::Rng::with_seed(9);
    let reads = 300u64;
    let mut buf = [0u8; 4096];
    for _ in 0..reads {
        let offset = rng.u64(..64 * MIB - 4096);
        let before = file.stats().bytes_fetched;
        assert_eq!(file.read_at(&mut buf, offset).unwrap(), 4096);
        let at = offset as usize;
        assert!(buf[..] == bytes[at..at + 4096], "at {offset}");
        // Each read fetches at most the two 64 KiB pages it can touch.
        let fetched = file.stats().bytes_fetched - before;
        assert!(
            fetched <= 128 * KIB,
            "a 4 KiB read at {offset} fetched {fetched}"
        );
    }
    let stats = file.stats();
    settle(&s);
    eprintln!("{reads} random 4 KiB reads: {stats:?}, {} GETs", gets(&s));
    // At most the two 64 KiB pages a read can touch, never a prefetch.
    assert!(stats.bytes_fetched <= reads * 128 * KIB, "{stats:?}");
    assert_eq!(s.stats().bytes_served, stats.bytes_fetched);
    assert!(gets(&s) <= reads, "{} GETs", gets(&s));
}

#[test]
fn short_seeks_back_and_forth_are_served_from_what_is_fetched() {
    let s = server();
    let c = client(&s, 64 * MIB);
    let bytes = data(16 * MIB, 5);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    let mut file = open(&c, "k");
    let mut buf = vec![0u8; 256 * KIB as usize];
    for _ in 0..8 {
        file.read_exact(&mut buf).unwrap();
    }
    let before = file.stats();
    file.seek(SeekFrom::Current(-512 * KIB as i64)).unwrap();
    file.read_exact(&mut buf).unwrap();
    assert!(buf[..] == bytes[(1536 * KIB) as usize..(1792 * KIB) as usize]);
    file.seek(SeekFrom::Current(100 * KIB as i64)).unwrap();
    file.read_exact(&mut buf[..4096]).unwrap();
    let at = (1892 * KIB) as usize;
    assert!(buf[..4096] == bytes[at..at + 4096]);
    let after = file.stats();
    assert_eq!(
        after.bytes_from_cache - before.bytes_from_cache,
        256 * KIB + 4096,
        "{before:?} then {after:?}"
    );
}

#[test]
fn open_files_never_hold_more_than_the_clients_budget() {
    let s = server();
    let budget = 4 * MIB;
    let c = client(&s, budget);
    let bytes = data(32 * MIB, 6);
    s.put_object(BUCKET, "a", &bytes).unwrap();
    s.put_object(BUCKET, "b", &bytes).unwrap();
    let files = [open(&c, "a"), open(&c, "b")];
    std::thread::scope(|scope| {
        for (f, file) in files.iter().enumerate() {
            for t in 0..3u64 {
                let bytes = &bytes;
                scope.spawn(move || {
                    let mut buf = vec![0u8; 128 * KIB as usize];
                    let start = t * 10 * MIB + f as u64 * MIB;
                    for step in 0..(8 * MIB / buf.len() as u64) {
                        let offset = start + step * buf.len() as u64;
                        file.read_at(&mut buf, offset).unwrap();
                        let at = offset as usize;
                        assert!(buf[..] == bytes[at..at + buf.len()], "at {offset}");
                    }
                });
            }
        }
    });
    let memory = c.prefetch_memory();
    eprintln!("two files, six streams, a 4 MiB budget: {memory:?}");
    assert!(memory.peak <= budget, "{memory:?}");
    assert!(memory.peak >= budget / 2, "the budget was used: {memory:?}");
    drop(files);
    assert_eq!(c.prefetch_memory().in_use, 0, "closing gives memory back");
}

#[test]
fn without_prefetch_memory_every_read_is_fetched_straight() {
    let s = server();
    let c = client(&s, 0);
    let bytes = data(MIB, 7);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    s.reset_stats();
    let mut file = open(&c, "k");
    let mut read = Vec::new();
    file.read_to_end(&mut read).unwrap();
    assert!(read == bytes);
    assert!(file.crc_verified());
    assert_eq!(c.prefetch_memory().peak, 0);
    // Each read is its own exact-length GET, one after the other on this thread:
    // all of them on one kept-alive connection.
    let stats = s.stats();
    let gets: u64 = stats.requests["GetObject"].values().sum();
    assert!(gets > 2, "{gets} GETs");
    assert_eq!(
        stats.connections_accepted, 1,
        "for the HEAD and {gets} GETs"
    );
}

#[test]
fn an_object_changed_mid_read_is_object_changed_never_mixed_bytes() {
    let s = server();
    let c = client(&s, 64 * MIB);
    let bytes = data(8 * MIB, 8);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    let mut file = open(&c, "k");
    s.set_fault("rewrite_key", "k").unwrap();
    s.set_fault("rewrite_after", "2").unwrap();
    let mut read = Vec::new();
    let mut buf = vec![0u8; 64 * KIB as usize];
    let err = loop {
        match file.read(&mut buf) {
            Ok(0) => panic!("read to the end of a changed object"),
            Ok(n) => read.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(kind(err), ErrorKind::ObjectChanged);
    assert!(read[..] == bytes[..read.len()], "bytes of another version");
    // Even bytes fetched before the change are refused now.
    let err = file.read_at(&mut buf, 0).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ObjectChanged);
}

#[test]
fn a_cancelled_token_fails_every_read() {
    let s = server();
    let c = client(&s, 64 * MIB);
    s.put_object(BUCKET, "k", &data(MIB, 9)).unwrap();
    let token = CancelToken::new();
    let mut opts = FileOptions::default();
    opts.request.cancel = Some(token.clone());
    let file = c.open_file(BUCKET, "k", &opts).unwrap();
    file.read_at(&mut [0u8; 10], 0).unwrap();
    token.cancel();
    let err = file.read_at(&mut [0u8; 10], 500 * KIB).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled);
}

#[test]
fn size_etag_and_reads_past_the_end() {
    let s = server();
    let c = client(&s, 64 * MIB);
    let bytes = data(100_000, 10);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    let head = c
        .head_object(BUCKET, "k", &RequestOptions::default())
        .unwrap();
    let mut file = open(&c, "k");
    assert_eq!(file.size(), 100_000);
    assert_eq!(file.etag(), head.etag);
    let mut buf = vec![0u8; 1000];
    assert_eq!(file.read_at(&mut buf, 99_500).unwrap(), 500);
    assert!(buf[..500] == bytes[99_500..]);
    assert_eq!(file.read_at(&mut buf, 100_000).unwrap(), 0);
    assert_eq!(file.seek(SeekFrom::End(-10)).unwrap(), 99_990);
    assert!(file.seek(SeekFrom::Current(-200_000)).is_err());
    let missing = c.open_file(BUCKET, "nope", &FileOptions::default());
    assert_eq!(missing.unwrap_err().kind(), ErrorKind::NotFound);
}

/// Options a file cannot be opened with are refused by `FileOptions::validate`,
/// which `open_file` calls before any request.
#[test]
fn file_options_are_validated_before_any_request() {
    let s = server();
    let c = client(&s, 64 << 20);
    s.put_object(BUCKET, "k", b"0123456789").unwrap();
    s.reset_stats();
    for (max_requests, limit, says) in [
        (0, None, "threads"),
        (oss_resume::MAX_THREADS + 1, None, "threads"),
        (4, Some(1), "traffic limit"),
    ] {
        let mut o = FileOptions::default();
        o.max_requests = max_requests;
        o.request.traffic_limit = limit;
        assert_eq!(o.validate().unwrap_err().kind(), ErrorKind::InvalidArgument);
        let err = c.open_file(BUCKET, "k", &o).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
    assert!(s.stats().requests.is_empty(), "{:?}", s.stats().requests);
}
