//! The client core against the local server, with faults switched on.

mod common;

use std::io::Read;
use std::time::{Duration, Instant};

use oss_resume::{
    ByteRange, Client, Config, ErrorKind, PutSource, RequestOptions, RetryPolicy, SignatureVersion,
};
use oss_resume_server::{Server, ServerConfig};

const AK: &str = "test-ak";
const SK: &str = "test-secret";
const BUCKET: &str = "test-bucket";

fn server() -> Server {
    let mut config = ServerConfig::new(AK, SK);
    config.buckets = vec![BUCKET.to_string()];
    Server::start(config).unwrap()
}

fn client_for(endpoint: &str, version: SignatureVersion, secret: &str) -> Client {
    let config = Config::builder(endpoint)
        .credentials(AK, secret, None)
        .region("cn-hangzhou")
        .signature_version(version)
        .retry_policy(RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(50),
        })
        .build()
        .unwrap();
    Client::new(config).unwrap()
}

fn client(server: &Server, version: SignatureVersion) -> Client {
    client_for(&server.endpoint(), version, SK)
}

fn none() -> RequestOptions {
    RequestOptions::default()
}

fn get_all(client: &Client, key: &str) -> Vec<u8> {
    let mut out = Vec::new();
    client
        .get_object(BUCKET, key, None, None, &none())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

#[test]
fn put_head_get_delete_round_trip() {
    let s = server();
    let c = client(&s, SignatureVersion::V4);
    let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
    let put = c
        .put_object(BUCKET, "dir/obj.bin", PutSource::Bytes(&data), &[], &none())
        .unwrap();
    assert_eq!(put.crc64, Some(oss_resume::crc64::checksum(&data)));
    let info = c.head_object(BUCKET, "dir/obj.bin", &none()).unwrap();
    assert_eq!(info.size, data.len() as u64);
    assert_eq!(info.etag, put.etag);
    assert_eq!(info.object_type.as_deref(), Some("Normal"));
    assert_eq!(get_all(&c, "dir/obj.bin"), data);
    c.delete_object(BUCKET, "dir/obj.bin", &none()).unwrap();
    let err = c.head_object(BUCKET, "dir/obj.bin", &none()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
}

#[test]
fn ranges_are_byte_exact_and_checked() {
    let s = server();
    let c = client(&s, SignatureVersion::V1);
    let data: Vec<u8> = (0..10_000u32).map(|i| (i % 256) as u8).collect();
    s.put_object(BUCKET, "r.bin", &data).unwrap();
    for (first, last) in [(0u64, 0u64), (0, 9_999), (17, 4_095), (9_999, 9_999)] {
        let mut r = c
            .get_object(
                BUCKET,
                "r.bin",
                Some(ByteRange::new(first, last)),
                None,
                &none(),
            )
            .unwrap();
        let mut got = Vec::new();
        r.read_to_end(&mut got).unwrap();
        assert_eq!(got, &data[first as usize..=last as usize]);
        assert_eq!(r.range(), Some((first, last)));
    }
    let mut tail = Vec::new();
    c.get_object(BUCKET, "r.bin", Some(ByteRange::from(9_000)), None, &none())
        .unwrap()
        .read_to_end(&mut tail)
        .unwrap();
    assert_eq!(tail, &data[9_000..]);
    let err = c
        .get_object(
            BUCKET,
            "r.bin",
            Some(ByteRange::from(10_000)),
            None,
            &none(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert_eq!(err.oss_code(), Some("InvalidRange"));
}

#[test]
fn service_unavailable_bursts_are_retried_to_success() {
    let s = server();
    let c = client(&s, SignatureVersion::V4);
    s.put_object(BUCKET, "k", b"hello").unwrap();
    s.set_fault("error_burst", "3").unwrap();
    assert_eq!(get_all(&c, "k"), b"hello");
    let stats = s.stats();
    assert_eq!(stats.requests_with("GetObject", 503), 3, "{stats:?}");
    assert_eq!(stats.requests_with("GetObject", 200), 1, "{stats:?}");
}

#[test]
fn retries_are_bounded_and_end_in_server_busy() {
    let s = server();
    let c = client(&s, SignatureVersion::V4);
    s.put_object(BUCKET, "k", b"hello").unwrap();
    s.set_fault("error_burst", "100").unwrap();
    let err = c.head_object(BUCKET, "k", &none()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ServerBusy);
    assert_eq!(s.stats().requests_with("HeadObject", 503), 4);
}

#[test]
fn qos_delay_hint_is_honoured() {
    let s = server();
    let c = client(&s, SignatureVersion::V4);
    s.put_object(BUCKET, "k", b"hello").unwrap();
    s.set_fault("error_burst", "1").unwrap();
    s.set_fault("qos_delay_ms", "400").unwrap();
    let started = Instant::now();
    c.head_object(BUCKET, "k", &none()).unwrap();
    // Our own backoff is capped at 50 ms here; only the hint explains the wait.
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn client_errors_are_not_retried() {
    let s = server();
    let c = client(&s, SignatureVersion::V4);
    let err = c.head_object(BUCKET, "missing", &none()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(s.stats().requests_of("HeadObject"), 1);
}

#[test]
fn wrong_secret_is_access_denied_with_request_id() {
    let s = server();
    s.put_object(BUCKET, "k", b"x").unwrap();
    for version in [SignatureVersion::V1, SignatureVersion::V4] {
        let c = client_for(&s.endpoint(), version, "not-the-secret");
        let err = c.get_object(BUCKET, "k", None, None, &none()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AccessDenied, "{err}");
        assert_eq!(err.oss_code(), Some("SignatureDoesNotMatch"));
        assert!(err.request_id().is_some_and(|id| !id.is_empty()));
        assert_eq!(err.status(), Some(403));
        // HEAD errors come through x-oss-err.
        let err = c.head_object(BUCKET, "k", &none()).unwrap_err();
        assert_eq!(err.oss_code(), Some("SignatureDoesNotMatch"), "{err:?}");
    }
}

#[test]
fn missing_key_and_missing_bucket_are_not_found_with_details() {
    let s = server();
    let c = client(&s, SignatureVersion::V4);
    let err = c
        .get_object(BUCKET, "no/such key", None, None, &none())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.oss_code(), Some("NoSuchKey"));
    assert!(err.request_id().is_some());
    let text = err.to_string();
    assert!(text.contains("oss://test-bucket/no/such key"), "{text}");
    let err = c.head_object("other-bucket", "k", &none()).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound);
    assert_eq!(err.oss_code(), Some("NoSuchBucket"));
    assert!(err.oss().is_some_and(|d| !d.ec.is_empty()));
}

#[test]
fn unreachable_endpoint_is_a_network_error_quickly() {
    // A port that was free a moment ago: connections are refused.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let config = Config::builder(&format!("http://127.0.0.1:{port}"))
        .credentials(AK, SK, None)
        .signature_version(SignatureVersion::V1)
        .connect_timeout(Duration::from_millis(500))
        .retry_policy(RetryPolicy {
            max_attempts: 2,
            base_delay: Duration::from_millis(10),
            max_delay: Duration::from_millis(10),
        })
        .build()
        .unwrap();
    let started = Instant::now();
    let err = Client::new(config)
        .unwrap()
        .head_object(BUCKET, "k", &none())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(3));
}

#[test]
fn silent_server_is_a_timeout_within_the_read_timeout() {
    let s = server();
    s.put_object(BUCKET, "k", b"x").unwrap();
    s.set_fault("latency_ms", "3000").unwrap();
    let config = Config::builder(&s.endpoint())
        .credentials(AK, SK, None)
        .signature_version(SignatureVersion::V1)
        .read_timeout(Duration::from_millis(300))
        .retry_policy(RetryPolicy {
            max_attempts: 1,
            ..RetryPolicy::default()
        })
        .build()
        .unwrap();
    let started = Instant::now();
    let err = Client::new(config)
        .unwrap()
        .head_object(BUCKET, "k", &none())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(2500),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn clock_skew_is_corrected_from_the_server_date() {
    let s = server();
    s.put_object(BUCKET, "k", b"x").unwrap();
    // The server's clock runs an hour ahead: our first signature is refused as skewed.
    s.set_fault("clock_offset_secs", "3600").unwrap();
    for version in [SignatureVersion::V1, SignatureVersion::V4] {
        let c = client(&s, version);
        c.head_object(BUCKET, "k", &none()).unwrap();
    }
    assert_eq!(s.stats().requests_with("HeadObject", 403), 2);
}

#[test]
fn keys_with_special_characters_round_trip_with_both_signatures() {
    let s = server();
    let keys = [
        "with space.txt",
        "plus+sign",
        "per%cent",
        "question?mark",
        "hash#tag",
        "中文/目录/文件.txt",
        "a/b/c/d",
        "amp&eq=1",
        "~tilde!*'()",
    ];
    for version in [SignatureVersion::V1, SignatureVersion::V4] {
        let c = client(&s, version);
        for key in keys {
            let body = format!("{key} {version:?}").into_bytes();
            c.put_object(BUCKET, key, PutSource::Bytes(&body), &[], &none())
                .unwrap_or_else(|e| panic!("{key}: {e}"));
            assert_eq!(get_all(&c, key), body, "{key}");
            assert_eq!(
                c.head_object(BUCKET, key, &none()).unwrap().size,
                body.len() as u64
            );
            c.delete_object(BUCKET, key, &none()).unwrap();
        }
    }
}

#[test]
fn chunked_put_of_unknown_length_checks_the_crc() {
    let s = server();
    let c = client(&s, SignatureVersion::V4);
    let data = vec![42u8; 3 * 1024 * 1024 + 5];
    let mut reader = &data[..];
    let put = c
        .put_object(
            BUCKET,
            "chunked",
            PutSource::Reader {
                reader: &mut reader,
                len: None,
            },
            &[("Content-Type".into(), "application/x-test".into())],
            &none(),
        )
        .unwrap();
    assert_eq!(put.crc64, Some(oss_resume::crc64::checksum(&data)));
    let info = c.head_object(BUCKET, "chunked", &none()).unwrap();
    assert_eq!(info.content_type.as_deref(), Some("application/x-test"));
    assert_eq!(get_all(&c, "chunked"), data);
}

#[test]
fn flipped_byte_fails_the_final_read_of_a_whole_object() {
    let s = server();
    let c = client(&s, SignatureVersion::V4);
    s.put_object(BUCKET, "k", &vec![7u8; 100_000]).unwrap();
    s.set_fault("flip_count", "1").unwrap();
    let mut out = Vec::new();
    let err = c
        .get_object(BUCKET, "k", None, None, &none())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap_err();
    let inner = err
        .get_ref()
        .and_then(|e| e.downcast_ref::<oss_resume::Error>());
    assert_eq!(
        inner.map(|e| e.kind()),
        Some(ErrorKind::CrcMismatch),
        "{err}"
    );
}

#[test]
fn if_match_on_a_changed_object_is_object_changed() {
    let s = server();
    let c = client(&s, SignatureVersion::V1);
    s.put_object(BUCKET, "k", b"one").unwrap();
    let etag = c.head_object(BUCKET, "k", &none()).unwrap().etag;
    s.put_object(BUCKET, "k", b"two").unwrap();
    let err = c
        .get_object(
            BUCKET,
            "k",
            Some(ByteRange::new(0, 1)),
            Some(&etag),
            &none(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ObjectChanged);
}

#[test]
fn multipart_calls_list_all_pages_and_complete() {
    let s = server();
    let c = client(&s, SignatureVersion::V4);
    let id = c
        .initiate_multipart_upload(BUCKET, "mp", &[], false, &none())
        .unwrap();
    let part = vec![1u8; 100 * 1024];
    let mut listed = Vec::new();
    for n in 1..=3 {
        let p = c
            .upload_part(
                BUCKET,
                "mp",
                &id,
                n,
                oss_resume::PartSource::Bytes(&part),
                &none(),
            )
            .unwrap();
        listed.push((n, p.etag));
    }
    let parts = c
        .list_parts(BUCKET, "mp", &id, &RequestOptions::default())
        .unwrap();
    assert_eq!(
        parts.iter().map(|p| p.part_number).collect::<Vec<_>>(),
        [1, 2, 3]
    );
    assert!(
        parts
            .iter()
            .all(|p| p.crc64 == Some(oss_resume::crc64::checksum(&part)))
    );
    assert_eq!(
        c.list_multipart_uploads(BUCKET, "", &RequestOptions::default())
            .unwrap()
            .len(),
        1
    );
    let done = c
        .complete_multipart_upload(BUCKET, "mp", &id, &listed, &none())
        .unwrap();
    assert!(done.etag.ends_with("-3\""), "{}", done.etag);
    assert_eq!(get_all(&c, "mp").len(), 3 * part.len());
    assert_eq!(s.stats().uploads_in_progress, 0);
}

#[test]
fn a_reader_body_is_not_retried_but_a_file_body_is() {
    let s = server();
    let c = client(&s, SignatureVersion::V4);
    s.set_fault("error_ops", "PutObject").unwrap();
    s.set_fault("error_burst", "1").unwrap();
    let data = vec![5u8; 64 * 1024];
    let mut reader = &data[..];
    let err = c
        .put_object(
            BUCKET,
            "once",
            PutSource::Reader {
                reader: &mut reader,
                len: Some(data.len() as u64),
            },
            &[],
            &none(),
        )
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ServerBusy);
    assert_eq!(s.stats().requests_of("PutObject"), 1);

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("f.bin");
    std::fs::write(&path, &data).unwrap();
    s.set_fault("error_burst", "2").unwrap();
    let put = c
        .put_object(BUCKET, "twice", PutSource::File(&path), &[], &none())
        .unwrap();
    assert_eq!(put.crc64, Some(oss_resume::crc64::checksum(&data)));
    assert_eq!(s.stats().requests_with("PutObject", 503), 3);
    assert_eq!(get_all(&c, "twice"), data);
}

#[test]
fn sts_tokens_are_sent_and_required() {
    let mut config = ServerConfig::new(AK, SK);
    config.buckets = vec![BUCKET.to_string()];
    config.sts_token = Some("the-sts-token".into());
    let s = Server::start(config).unwrap();
    s.put_object(BUCKET, "k", b"sts").unwrap();
    for version in [SignatureVersion::V1, SignatureVersion::V4] {
        let with_token = Client::new(
            Config::builder(&s.endpoint())
                .credentials(AK, SK, Some("the-sts-token"))
                .region("cn-hangzhou")
                .signature_version(version)
                .build()
                .unwrap(),
        )
        .unwrap();
        assert_eq!(get_all(&with_token, "k"), b"sts");
        let url = with_token
            .presign_get(BUCKET, "k", Duration::from_secs(60), &none())
            .unwrap();
        assert!(url.contains("the-sts-token"), "{url}");
        let without = client(&s, version);
        let err = without.head_object(BUCKET, "k", &none()).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AccessDenied, "{err:?}");
    }
}

#[test]
fn too_many_requests_is_retried() {
    let s = server();
    let c = client(&s, SignatureVersion::V1);
    s.put_object(BUCKET, "k", b"x").unwrap();
    s.set_fault("error_status", "429").unwrap();
    s.set_fault("error_burst", "2").unwrap();
    assert_eq!(get_all(&c, "k"), b"x");
    assert_eq!(s.stats().requests_with("GetObject", 429), 2);
}

#[test]
fn an_object_reader_that_failed_its_crc_check_keeps_failing() {
    let s = server();
    let c = client(&s, SignatureVersion::V4);
    let data: Vec<u8> = (0..300_000u32).map(|i| (i * 13 % 251) as u8).collect();
    s.put_object(BUCKET, "sticky", &data).unwrap();
    s.set_fault("flip_count", "1").unwrap();
    let mut reader = c.get_object(BUCKET, "sticky", None, None, &none()).unwrap();
    let mut sink = Vec::new();
    let first = reader.read_to_end(&mut sink).unwrap_err();
    let at = reader.bytes_read();
    assert!(at < data.len() as u64, "withheld bytes counted: {at}");
    let mut buf = [0u8; 4096];
    for attempt in 1..=3 {
        let again = reader
            .read(&mut buf)
            .expect_err("a failed reader read again");
        assert_eq!(again.to_string(), first.to_string(), "read {attempt}");
        let kind = again
            .get_ref()
            .and_then(|e| e.downcast_ref::<oss_resume::Error>())
            .map(|e| e.kind());
        assert_eq!(kind, Some(ErrorKind::CrcMismatch));
    }
    assert_eq!(reader.bytes_read(), at);
}

#[test]
fn reserved_or_broken_headers_are_refused_before_anything_is_sent() {
    let s = server();
    let c = client(&s, SignatureVersion::V4);
    let h = |n: &str, v: &str| vec![(n.to_string(), v.to_string())];
    s.reset_stats();
    for headers in [
        h("Host", "evil.example.com"),
        h("content-length", "999"),
        h("Authorization", "OSS x:y"),
        h("x-oss-meta-a", "line\r\nX-Injected: 1"),
        h("bad name", "v"),
        // Would make the put a copy of another object.
        h("x-oss-copy-source", "/test-bucket/other"),
        h("X-OSS-Copy-Source-Range", "bytes=0-1"),
        h("x-oss-metadata-directive", "REPLACE"),
    ] {
        let err = c
            .put_object(BUCKET, "h", PutSource::Bytes(b"data"), &headers, &none())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{headers:?}: {err}");
        let err = c
            .initiate_multipart_upload(BUCKET, "h", &headers, false, &none())
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{headers:?}: {err}");
    }
    assert!(s.stats().requests.is_empty(), "{:?}", s.stats().requests);
    // The headers that are the caller's still work.
    let fine = h("x-oss-meta-colour", "blue");
    c.put_object(BUCKET, "h", PutSource::Bytes(b"data"), &fine, &none())
        .unwrap();
}

#[test]
fn completing_more_parts_than_oss_allows_is_refused_before_sending() {
    let s = server();
    let c = client(&s, SignatureVersion::V4);
    let parts: Vec<(u32, String)> = (1..=10_001).map(|n| (n, format!("\"{n}\""))).collect();
    s.reset_stats();
    let err = c
        .complete_multipart_upload(BUCKET, "k", "no-such-upload", &parts, &none())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    assert!(err.to_string().contains("10000"), "{err}");
    assert!(s.stats().requests.is_empty(), "{:?}", s.stats().requests);
}

/// An endpoint that is not OSS (here a plain web server answering 404 with an HTML
/// page) is reported as such, not as a missing key.
#[test]
fn an_endpoint_that_does_not_answer_as_oss_says_so() {
    use std::io::{Read as _, Write as _};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    let web = std::thread::spawn(move || {
        // Answers two requests (a HEAD and a GET), then ends.
        for _ in 0..2 {
            let (mut conn, _) = listener.accept().unwrap();
            let mut head = Vec::new();
            let mut byte = [0u8; 1];
            while !head.ends_with(b"\r\n\r\n") && conn.read(&mut byte).unwrap() == 1 {
                head.push(byte[0]);
            }
            let page = "<html><body>Not Found</body></html>";
            let answer = format!(
                "HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{page}",
                page.len()
            );
            conn.write_all(answer.as_bytes()).unwrap();
        }
    });
    let c = Client::new(
        Config::builder(&endpoint)
            .credentials("ak", "sk", None)
            .signature_version(SignatureVersion::V1)
            .build()
            .unwrap(),
    )
    .unwrap();
    let head = c
        .head_object("bkt", "k", &RequestOptions::default())
        .unwrap_err();
    let get = c
        .get_object("bkt", "k", None, None, &RequestOptions::default())
        .unwrap_err();
    web.join().unwrap();
    for err in [head, get] {
        let text = err.to_string();
        assert!(text.contains("is it an OSS endpoint?"), "{text}");
        assert!(!text.contains("NoSuchKey"), "{text}");
        assert_eq!(err.status(), Some(404));
        assert_eq!(err.oss_code(), None);
    }
}
