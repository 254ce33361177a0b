//! Streaming get and put, stream to file and object-to-object copy, with faults.

mod common;

use std::fs;
use std::io::Read;
use std::time::Duration;

use oss_resume::{
    ByteRange, Client, Config, ErrorKind, GetOptions, RequestOptions, RetryPolicy, SignatureVersion,
};
use oss_resume_server::{Server, ServerConfig};

const BUCKET: &str = "st-bucket";

fn server() -> Server {
    let mut config = ServerConfig::new("st-ak", "st-sk");
    config.buckets = vec![BUCKET.into()];
    Server::start(config).unwrap()
}

fn client(s: &Server) -> Client {
    Client::new(
        Config::builder(&s.endpoint())
            .credentials("st-ak", "st-sk", None)
            .signature_version(SignatureVersion::V1)
            .retry_policy(RetryPolicy {
                max_attempts: 3,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
            })
            .build()
            .unwrap(),
    )
    .unwrap()
}

fn data(len: usize, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn kind_of(e: &std::io::Error) -> Option<ErrorKind> {
    e.get_ref()
        .and_then(|i| i.downcast_ref::<oss_resume::Error>())
        .map(|e| e.kind())
}

fn read_all(c: &Client, key: &str, range: Option<ByteRange>) -> (Vec<u8>, oss_resume::GetStream) {
    let mut opts = GetOptions::default();
    opts.range = range;
    let mut stream = c.open_get(BUCKET, key, &opts).unwrap();
    let mut out = Vec::new();
    stream.read_to_end(&mut out).unwrap();
    (out, stream)
}

#[test]
fn ranges_of_each_form_are_byte_exact() {
    let s = server();
    let c = client(&s);
    let bytes = data(50_000, 1);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    let (got, st) = read_all(&c, "k", Some(ByteRange::new(100, 199)));
    assert_eq!(got, &bytes[100..200]);
    assert_eq!((st.content_length(), st.range()), (100, Some((100, 199))));
    let (got, _) = read_all(&c, "k", Some(ByteRange::from(49_990)));
    assert_eq!(got, &bytes[49_990..]);
    let (got, _) = read_all(&c, "k", Some(ByteRange::new(0, 0)));
    assert_eq!(got, &bytes[..1]);
    // An end past the object is clipped (standard range behaviour).
    let (got, st) = read_all(&c, "k", Some(ByteRange::new(49_000, 10_000_000)));
    assert_eq!(got, &bytes[49_000..]);
    assert_eq!(st.range(), Some((49_000, 49_999)));
    let (got, st) = read_all(&c, "k", None);
    assert_eq!(got, bytes);
    assert_eq!(Some(st.client_crc()), st.server_crc());
}

#[test]
fn flipped_byte_fails_the_final_read_of_a_whole_object() {
    let s = server();
    let c = client(&s);
    s.put_object(BUCKET, "k", &data(300_000, 2)).unwrap();
    s.set_fault("flip_count", "1").unwrap();
    let mut stream = c.open_get(BUCKET, "k", &GetOptions::default()).unwrap();
    let mut out = Vec::new();
    let err = stream.read_to_end(&mut out).unwrap_err();
    assert_eq!(kind_of(&err), Some(ErrorKind::CrcMismatch), "{err}");
}

#[test]
fn dropped_connection_is_resumed_from_the_byte_reached() {
    let s = server();
    let c = client(&s);
    let bytes = data(1_000_000, 3);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    s.set_fault("drop_after_bytes", "200000").unwrap();
    s.set_fault("drop_count", "2").unwrap();
    let (got, st) = read_all(&c, "k", None);
    assert_eq!(got, bytes);
    assert_eq!(st.resumes(), 2);
    common::settle(&s);
    assert_eq!(
        s.stats().bytes_served,
        bytes.len() as u64,
        "no byte fetched twice"
    );
    assert_eq!(Some(st.client_crc()), st.server_crc());
}

#[test]
fn a_byte_flipped_before_a_resume_fails_the_whole_objects_check() {
    // The first answer carries the flipped byte and is cut after it, so only the
    // stream's own check, over the CRCs of its two answers, can see the damage.
    let s = server();
    let c = client(&s);
    let bytes = data(1_000_000, 5);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    s.set_fault("flip_offset", "100000").unwrap();
    s.set_fault("flip_count", "1").unwrap();
    s.set_fault("drop_after_bytes", "200000").unwrap();
    s.set_fault("drop_count", "1").unwrap();
    let mut stream = c.open_get(BUCKET, "k", &GetOptions::default()).unwrap();
    let mut got = Vec::new();
    let err = stream.read_to_end(&mut got).unwrap_err();
    assert_eq!(kind_of(&err), Some(ErrorKind::CrcMismatch), "{err}");
    assert_eq!(stream.resumes(), 1);
    assert!(got.len() < bytes.len(), "the last bytes are withheld");
    assert_ne!(got[100_000], bytes[100_000], "the flip was delivered");
    assert_eq!(
        stream.client_crc(),
        oss_resume::crc64::checksum(&got),
        "the CRC counts exactly the bytes handed over"
    );
}

#[test]
fn object_changed_mid_stream_is_reported() {
    let s = server();
    let c = client(&s);
    s.put_object(BUCKET, "k", &data(1_000_000, 4)).unwrap();
    s.set_fault("drop_after_bytes", "300000").unwrap();
    s.set_fault("drop_count", "1").unwrap();
    let mut stream = c.open_get(BUCKET, "k", &GetOptions::default()).unwrap();
    let mut first = vec![0u8; 100_000];
    stream.read_exact(&mut first).unwrap();
    s.put_object(BUCKET, "k", &data(1_000_000, 5)).unwrap();
    let mut rest = Vec::new();
    let err = stream.read_to_end(&mut rest).unwrap_err();
    assert_eq!(kind_of(&err), Some(ErrorKind::ObjectChanged), "{err}");
}

#[test]
fn empty_object_streams_as_empty_with_matching_crc() {
    let s = server();
    let c = client(&s);
    s.put_object(BUCKET, "empty", b"").unwrap();
    let (got, st) = read_all(&c, "empty", None);
    assert!(got.is_empty());
    assert_eq!((st.content_length(), st.range()), (0, None));
    assert_eq!(st.server_crc(), Some(0));
    let dir = tempfile::tempdir().unwrap();
    let report = c
        .get_to_file(
            BUCKET,
            "empty",
            dir.path().join("e"),
            &GetOptions::default(),
        )
        .unwrap();
    assert_eq!(report.bytes, 0);
    assert_eq!(fs::read(dir.path().join("e")).unwrap(), b"");
}

#[test]
fn stream_to_file_is_atomic_and_checked() {
    let s = server();
    let c = client(&s);
    let bytes = data(700_000, 6);
    s.put_object(BUCKET, "k", &bytes).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("out");
    fs::write(&target, b"previous").unwrap();
    s.set_fault("flip_count", "1").unwrap();
    let err = c
        .get_to_file(BUCKET, "k", &target, &GetOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CrcMismatch);
    assert_eq!(fs::read(&target).unwrap(), b"previous", "target untouched");
    assert_eq!(
        fs::read_dir(dir.path()).unwrap().count(),
        1,
        "no temporary left"
    );
    s.set_fault("drop_after_bytes", "100000").unwrap();
    s.set_fault("drop_count", "1").unwrap();
    let report = c
        .get_to_file(BUCKET, "k", &target, &GetOptions::default())
        .unwrap();
    assert_eq!(fs::read(&target).unwrap(), bytes);
    assert!(report.verified);
    assert_eq!(report.resumes, 1);
}

#[test]
fn chunked_put_of_unknown_length_reports_progress_with_unknown_total() {
    let s = server();
    let c = client(&s);
    let bytes = data(3_000_000, 7);
    let mut calls: Vec<(u64, Option<u64>)> = Vec::new();
    let mut cb = |done: u64, total: Option<u64>| {
        calls.push((done, total));
        true
    };
    let mut reader = &bytes[..];
    let put = c
        .put_stream(
            BUCKET,
            "chunked",
            &mut reader,
            None,
            &[],
            &RequestOptions::default(),
            Some(&mut cb),
        )
        .unwrap();
    assert_eq!(put.crc64, Some(oss_resume::crc64::checksum(&bytes)));
    assert_eq!(calls.last(), Some(&(bytes.len() as u64, None)));
    assert!(calls.iter().all(|(_, t)| t.is_none()));
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
    let (got, _) = read_all(&c, "chunked", None);
    assert_eq!(got, bytes);
}

/// A reader that fails after `ok` bytes.
struct Failing {
    ok: usize,
}

impl Read for Failing {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.ok == 0 {
            return Err(std::io::Error::other("the source broke"));
        }
        let n = buf.len().min(self.ok);
        buf[..n].fill(7);
        self.ok -= n;
        Ok(n)
    }
}

#[test]
fn a_reader_that_fails_half_way_leaves_no_object() {
    let s = server();
    let c = client(&s);
    for len in [None, Some(4_000_000)] {
        let err = c
            .put_stream(
                BUCKET,
                "broken",
                &mut Failing { ok: 2_000_000 },
                len,
                &[],
                &RequestOptions::default(),
                None,
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io, "{err}");
        assert!(err.to_string().contains("the source broke"), "{err}");
        std::thread::sleep(Duration::from_millis(50));
        let head = c
            .head_object(BUCKET, "broken", &RequestOptions::default())
            .unwrap_err();
        assert_eq!(head.kind(), ErrorKind::NotFound, "len {len:?}");
    }
}

#[test]
fn cancelled_put_leaves_no_object() {
    let s = server();
    let c = client(&s);
    let bytes = data(5_000_000, 8);
    let mut cb = |done: u64, _: Option<u64>| done < 1_000_000;
    let mut reader = &bytes[..];
    let err = c
        .put_stream(
            BUCKET,
            "cancelled",
            &mut reader,
            Some(bytes.len() as u64),
            &[],
            &RequestOptions::default(),
            Some(&mut cb),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        c.head_object(BUCKET, "cancelled", &RequestOptions::default())
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn copy_streams_one_object_into_another_with_crc_checked() {
    let s = server();
    let c = client(&s);
    let bytes = data(2_500_000, 9);
    s.put_object(BUCKET, "src", &bytes).unwrap();
    s.set_fault("drop_after_bytes", "500000").unwrap();
    s.set_fault("drop_count", "1").unwrap();
    let put = c
        .copy_stream(
            (BUCKET, "src"),
            (BUCKET, "dst/copy"),
            &[],
            &GetOptions::default(),
            None,
        )
        .unwrap();
    assert_eq!(put.crc64, Some(oss_resume::crc64::checksum(&bytes)));
    let (got, _) = read_all(&c, "dst/copy", None);
    assert_eq!(got, bytes);
}

#[test]
fn copy_of_a_corrupted_stream_fails_and_stores_nothing() {
    let s = server();
    let c = client(&s);
    s.put_object(BUCKET, "src", &data(2_000_000, 10)).unwrap();
    s.set_fault("flip_count", "1").unwrap();
    let err = c
        .copy_stream(
            (BUCKET, "src"),
            (BUCKET, "bad-copy"),
            &[],
            &GetOptions::default(),
            None,
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::CrcMismatch, "{err}");
    std::thread::sleep(Duration::from_millis(50));
    assert_eq!(
        c.head_object(BUCKET, "bad-copy", &RequestOptions::default())
            .unwrap_err()
            .kind(),
        ErrorKind::NotFound
    );
}

#[test]
fn a_reader_shorter_or_longer_than_its_declared_length_stores_nothing() {
    let s = server();
    let c = client(&s);
    let bytes = data(300_000, 9);
    let put = |key: &str, mut body: &[u8], declared: u64| {
        c.put_stream(
            BUCKET,
            key,
            &mut body,
            Some(declared),
            &[],
            &RequestOptions::default(),
            None,
        )
    };
    // A put first, so the failing ones reuse its connection.
    put("first", &bytes, 300_000).unwrap();
    for (declared, what) in [
        (400_000u64, "ended after 300000 of its declared 400000"),
        (200_000, "longer than its declared 200000"),
    ] {
        let err = put("declared", &bytes, declared).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Io, "{err}");
        assert!(err.to_string().contains(what), "{err}");
        let head = c.head_object(BUCKET, "declared", &RequestOptions::default());
        assert_eq!(head.unwrap_err().kind(), ErrorKind::NotFound);
    }
    // Small bodies too (they fit in one buffer).
    let err = put("small", &bytes[..4000], 5000).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    // The exact length goes through.
    put("declared", &bytes, 300_000).unwrap();
    let (got, _) = read_all(&c, "declared", None);
    assert_eq!(got, bytes);
}

/// Reads until the first error, then checks that three more reads fail the same way.
fn assert_failure_is_sticky(stream: &mut oss_resume::GetStream, want: ErrorKind) {
    let mut buf = vec![0u8; 64 * 1024];
    let first = loop {
        match stream.read(&mut buf) {
            Ok(0) => panic!("the stream ended cleanly at {}", stream.bytes_read()),
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert_eq!(kind_of(&first), Some(want), "{first}");
    let at = stream.bytes_read();
    for attempt in 1..=3 {
        match stream.read(&mut buf) {
            Ok(n) => panic!("read {attempt} after the failure gave Ok({n}) at byte {at}"),
            Err(e) => {
                assert_eq!(kind_of(&e), Some(want), "read {attempt}: {e}");
                assert_eq!(e.to_string(), first.to_string(), "read {attempt}");
            }
        }
        assert_eq!(stream.bytes_read(), at, "a failed read moved bytes_read");
    }
}

#[test]
fn a_stream_that_failed_its_crc_check_keeps_failing() {
    let s = server();
    let c = client(&s);
    s.put_object(BUCKET, "k", &data(300_000, 2)).unwrap();
    s.set_fault("flip_count", "1").unwrap();
    let mut stream = c.open_get(BUCKET, "k", &GetOptions::default()).unwrap();
    assert_failure_is_sticky(&mut stream, ErrorKind::CrcMismatch);
    assert!(
        stream.bytes_read() < 300_000,
        "the withheld bytes are counted as read: {}",
        stream.bytes_read()
    );
}

#[test]
fn a_dropped_body_with_no_resumes_left_keeps_failing_instead_of_reconnecting() {
    let s = server();
    let c = client(&s);
    s.put_object(BUCKET, "k", &data(1_000_000, 6)).unwrap();
    s.set_fault("drop_after_bytes", "200000").unwrap();
    s.set_fault("drop_count", "1").unwrap();
    let mut opts = GetOptions::default();
    opts.resume_attempts = 0;
    let mut stream = c.open_get(BUCKET, "k", &opts).unwrap();
    assert_failure_is_sticky(&mut stream, ErrorKind::Network);
    assert_eq!(stream.resumes(), 0);
}

#[test]
fn a_missing_target_directory_is_an_io_error_before_any_request() {
    let s = server();
    let c = client(&s);
    s.put_object(BUCKET, "k", &data(300_000, 7)).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("no-such-dir").join("out");
    s.reset_stats();
    let err = c
        .get_to_file(BUCKET, "k", &target, &GetOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Io, "{err}");
    assert!(err.to_string().contains("no-such-dir"), "{err}");
    let stats = s.stats();
    assert!(
        stats.requests.is_empty(),
        "requests sent: {:?}",
        stats.requests
    );
    assert_eq!(stats.bytes_served, 0);
}

/// Options a GET cannot start with are refused by `GetOptions::validate`, which
/// `open_get` calls before any request: a range that ends before it starts, a
/// traffic limit outside OSS's bounds.
#[test]
fn get_options_are_validated_before_any_request() {
    let s = server();
    let c = client(&s);
    s.put_object(BUCKET, "k", b"0123456789").unwrap();
    s.reset_stats();
    let mut reversed = GetOptions::default();
    reversed.range = Some(ByteRange::new(5, 4));
    let mut limited = GetOptions::default();
    limited.request.traffic_limit = Some(1);
    for (o, says) in [
        (reversed, "ends before it starts"),
        (limited, "traffic limit"),
    ] {
        let err = o.validate().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        let err = c.open_get(BUCKET, "k", &o).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
        assert!(err.to_string().contains(says), "{err}");
    }
    assert!(s.stats().requests.is_empty(), "{:?}", s.stats().requests);
    let mut one = GetOptions::default();
    one.range = Some(ByteRange::new(5, 5));
    assert!(one.validate().is_ok());
}
