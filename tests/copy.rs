//! Server-side copy (`Client::copy`) against the local server: CopyObject below the
//! threshold, a resumable multipart copy of UploadPartCopy parts above it.

use std::fs;
use std::io::Read;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use oss_resume::{
    CancelToken, CheckpointState, Client, Config, CopyMetadata, CopyOptions, CopyPath, CopyReport,
    ErrorKind, RequestOptions, RetryPolicy, SignatureVersion,
};
use oss_resume_server::{Server, ServerConfig};

const SRC: &str = "copy-src";
const DST: &str = "copy-dst";
const PART: u64 = 100 * 1024;
/// The server's CopyObject limit in these tests: 4 parts.
const LIMIT: u64 = 4 * PART;

fn server() -> Server {
    let mut config = ServerConfig::new("cp-ak", "cp-sk");
    config.buckets = vec![SRC.into(), DST.into()];
    config.copy_object_limit = LIMIT;
    Server::start(config).unwrap()
}

fn client(s: &Server) -> Client {
    Client::new(
        Config::builder(&s.endpoint())
            .credentials("cp-ak", "cp-sk", None)
            .region("cn-hangzhou")
            .signature_version(SignatureVersion::V4)
            .retry_policy(RetryPolicy {
                max_attempts: 4,
                base_delay: Duration::from_millis(5),
                max_delay: Duration::from_millis(20),
            })
            .build()
            .unwrap(),
    )
    .unwrap()
}

fn data(len: u64, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

struct Fixture {
    _dir: tempfile::TempDir,
    ckpt: PathBuf,
}

fn fixture() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let ckpt = dir.path().join("ckpt");
    Fixture { _dir: dir, ckpt }
}

/// Multipart above 4 parts, parts of 100 KB.
fn opts(f: &Fixture) -> CopyOptions {
    let mut o = CopyOptions::default();
    o.checkpoint_dir = Some(f.ckpt.clone());
    o.threshold = LIMIT;
    o.part_size = Some(PART);
    o.threads = 3;
    o
}

fn object(c: &Client, bucket: &str, key: &str) -> Vec<u8> {
    let mut out = Vec::new();
    c.get_object(bucket, key, None, None, &RequestOptions::default())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn copy(c: &Client, key: &str, o: &CopyOptions) -> oss_resume::Result<CopyReport> {
    c.copy(SRC, "src", DST, key, o, None)
}

fn checkpoint_files(f: &Fixture) -> Vec<PathBuf> {
    match fs::read_dir(&f.ckpt) {
        Ok(dir) => dir
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "copy"))
            .collect(),
        Err(_) => Vec::new(),
    }
}

fn assert_clean(s: &Server, f: &Fixture) {
    assert_eq!(s.stats().uploads_in_progress, 0, "{:?}", s.stats());
    assert!(checkpoint_files(f).is_empty(), "{:?}", checkpoint_files(f));
}

/// Waits (up to 10 s) until `what` holds of the server's counters.
fn wait_for(s: &Server, what: impl Fn(&oss_resume_server::Stats) -> bool) {
    let start = Instant::now();
    while !what(&s.stats()) {
        assert!(start.elapsed() < Duration::from_secs(10), "{:?}", s.stats());
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn put_source(c: &Client, bytes: &[u8], headers: &[(String, String)]) {
    c.put_object(
        SRC,
        "src",
        oss_resume::PutSource::Bytes(bytes),
        headers,
        &RequestOptions::default(),
    )
    .unwrap();
}

#[test]
fn a_small_copy_is_one_copy_object_with_metadata_copied_or_replaced() {
    let s = server();
    let c = client(&s);
    let f = fixture();
    let bytes = data(150_000, 1);
    let meta = vec![
        ("Content-Type".to_string(), "text/csv".to_string()),
        ("x-oss-meta-colour".to_string(), "blue".to_string()),
    ];
    put_source(&c, &bytes, &meta);
    s.reset_stats();
    let report = copy(&c, "small", &opts(&f)).unwrap();
    assert_eq!(report.path, CopyPath::CopyObject);
    assert_eq!(report.checkpoint, CheckpointState::NotUsed);
    assert_eq!(report.crc64, Some(oss_resume::crc64::checksum(&bytes)));
    let stats = s.stats();
    assert_eq!(stats.requests_with("CopyObject", 200), 1);
    assert_eq!(stats.bytes_copied, bytes.len() as u64);
    assert_eq!((stats.bytes_served, stats.bytes_received), (0, 0));
    let head = |key: &str| {
        let r = c
            .get_object(DST, key, None, None, &RequestOptions::default())
            .unwrap();
        (r.info().content_type.clone(), object(&c, DST, key))
    };
    assert_eq!(head("small"), (Some("text/csv".into()), bytes.clone()));
    let mut replaced = opts(&f);
    replaced.metadata =
        CopyMetadata::Replace(vec![("Content-Type".to_string(), "text/plain".to_string())]);
    copy(&c, "replaced", &replaced).unwrap();
    assert_eq!(head("replaced").0.as_deref(), Some("text/plain"));
    let mut refused = opts(&f);
    refused.metadata = CopyMetadata::Replace(vec![(
        "x-oss-copy-source".to_string(),
        "/other/key".to_string(),
    )]);
    let err = copy(&c, "refused", &refused).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
}

#[test]
fn a_multipart_copy_of_an_odd_size_moves_no_object_byte_through_the_client() {
    let s = server();
    let c = client(&s);
    let f = fixture();
    let bytes = data(7 * PART + 12_345, 2);
    let meta = vec![("x-oss-meta-colour".to_string(), "red".to_string())];
    put_source(&c, &bytes, &meta);
    s.reset_stats();
    let mut calls = Vec::new();
    let mut cb = |d: u64, t: u64| {
        calls.push((d, t));
        true
    };
    let report = c
        .copy(SRC, "src", DST, "big", &opts(&f), Some(&mut cb))
        .unwrap();
    assert_eq!(report.path, CopyPath::UploadPartCopy);
    assert_eq!((report.parts, report.parts_copied), (8, 8));
    assert_eq!(report.crc64, Some(oss_resume::crc64::checksum(&bytes)));
    let stats = s.stats();
    assert_eq!(stats.requests_with("UploadPartCopy", 200), 8);
    assert_eq!(stats.bytes_copied, bytes.len() as u64);
    assert_eq!(stats.bytes_served, 0, "no object byte came down");
    // Only Complete's XML went up.
    assert!(stats.bytes_received < 4096, "{stats:?}");
    assert_eq!(
        stats.requests_of("UploadPart") + stats.requests_of("GetObject"),
        0
    );
    assert_eq!(
        *calls.last().unwrap(),
        (bytes.len() as u64, bytes.len() as u64)
    );
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
    assert_eq!(object(&c, DST, "big"), bytes);
    let r = c
        .get_object(DST, "big", None, None, &RequestOptions::default())
        .unwrap();
    assert_eq!(r.info().object_type.as_deref(), Some("Multipart"));
    let h = c
        .head_object(DST, "big", &RequestOptions::default())
        .unwrap();
    assert_eq!(h.size, bytes.len() as u64);
    assert_clean(&s, &f);
}

#[test]
fn a_multipart_copy_carries_the_source_metadata() {
    let s = server();
    let c = client(&s);
    let f = fixture();
    put_source(
        &c,
        &data(5 * PART, 3),
        &[("Content-Type".to_string(), "image/png".to_string())],
    );
    copy(&c, "meta", &opts(&f)).unwrap();
    let r = c
        .head_object(DST, "meta", &RequestOptions::default())
        .unwrap();
    assert_eq!(r.content_type.as_deref(), Some("image/png"));
}

/// User metadata (`x-oss-meta-*`) is copied with the object on both paths, and
/// replaced whole (the source's gone, the given ones set) when asked, on both.
#[test]
fn user_metadata_is_copied_or_replaced_whole_on_both_paths() {
    let s = server();
    let c = client(&s);
    let f = fixture();
    let meta_of = |key: &str| {
        let h = c.head_object(DST, key, &RequestOptions::default()).unwrap();
        let user: Vec<(String, String)> = h
            .headers
            .iter()
            .filter(|(n, _)| n.to_ascii_lowercase().starts_with("x-oss-meta-"))
            .map(|(n, v)| (n.to_ascii_lowercase(), v.clone()))
            .collect();
        (h.content_type, user)
    };
    let pairs = |given: &[(&str, &str)]| -> Vec<(String, String)> {
        given
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect()
    };
    let source = pairs(&[("Content-Type", "text/csv"), ("x-oss-meta-colour", "blue")]);
    let replacement = pairs(&[("Content-Type", "text/plain"), ("x-oss-meta-owner", "ana")]);
    // A copy carries exactly the given content type and user metadata.
    let carried = |given: &[(String, String)]| (Some(given[0].1.clone()), given[1..].to_vec());
    for (size, path) in [
        (150_000, CopyPath::CopyObject),
        (5 * PART + 1, CopyPath::UploadPartCopy),
    ] {
        put_source(&c, &data(size, 4), &source);
        for (key, metadata, given) in [
            ("copied", CopyMetadata::Copy, &source),
            (
                "replaced",
                CopyMetadata::Replace(replacement.clone()),
                &replacement,
            ),
        ] {
            let mut o = opts(&f);
            o.metadata = metadata;
            assert_eq!(copy(&c, key, &o).unwrap().path, path);
            assert_eq!(meta_of(key), carried(given), "{key} {path:?}");
        }
    }
    assert_clean(&s, &f);
}

#[test]
fn a_cancel_from_another_thread_then_resume_copies_no_part_twice_beyond_those_in_flight() {
    let s = server();
    let c = client(&s);
    let f = fixture();
    let bytes = data(10 * PART, 4);
    put_source(&c, &bytes, &[]);
    s.reset_stats();
    s.set_fault("latency_ms", "30").unwrap();
    let token = CancelToken::new();
    let mut o = opts(&f);
    o.threads = 2;
    o.request.cancel = Some(token.clone());
    let err = std::thread::scope(|scope| {
        scope.spawn(|| {
            wait_for(&s, |st| st.requests_with("UploadPartCopy", 200) >= 3);
            token.cancel();
        });
        copy(&c, "resumed", &o).unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert_eq!(checkpoint_files(&f).len(), 1, "the checkpoint is kept");
    assert_eq!(s.stats().uploads_in_progress, 1);
    s.clear_faults();
    let report = copy(&c, "resumed", &opts(&f)).unwrap();
    assert_eq!(report.checkpoint, CheckpointState::Resumed);
    assert_eq!(report.parts_reused + report.parts_copied, 10, "{report:?}");
    // The three parts the server carried out before the cancel are kept.
    assert!(report.parts_reused >= 3, "{report:?}");
    // Only the (at most 2) parts in flight at the cancel may have been copied twice.
    let copied = s.stats().requests_with("UploadPartCopy", 200);
    assert!(
        (10..=12).contains(&copied),
        "{copied} part copies for 10 parts"
    );
    assert_eq!(object(&c, DST, "resumed"), bytes);
    assert_clean(&s, &f);
}

#[test]
fn a_source_changed_mid_copy_is_object_changed_and_leaves_no_upload() {
    let s = server();
    let c = client(&s);
    let f = fixture();
    put_source(&c, &data(6 * PART, 5), &[]);
    s.reset_stats();
    s.set_fault("latency_ms", "50").unwrap();
    let mut o = opts(&f);
    o.threads = 1;
    let err = std::thread::scope(|scope| {
        scope.spawn(|| {
            wait_for(&s, |st| st.requests_with("UploadPartCopy", 200) >= 1);
            s.put_object(SRC, "src", &data(6 * PART, 6)).unwrap();
        });
        copy(&c, "changed", &o).unwrap_err()
    });
    assert_eq!(err.kind(), ErrorKind::ObjectChanged, "{err}");
    assert_eq!(s.stats().requests_with("UploadPartCopy", 412), 1);
    assert_clean(&s, &f);
    let missing = c
        .head_object(DST, "changed", &RequestOptions::default())
        .unwrap_err();
    assert_eq!(missing.kind(), ErrorKind::NotFound);
}

#[test]
fn bursts_of_503_on_upload_part_copy_are_survived() {
    let s = server();
    let c = client(&s);
    let f = fixture();
    let bytes = data(6 * PART + 1, 7);
    put_source(&c, &bytes, &[]);
    s.set_fault("error_ops", "UploadPartCopy").unwrap();
    s.set_fault("error_burst", "3").unwrap();
    let mut o = opts(&f);
    o.threads = 1;
    let report = copy(&c, "busy", &o).unwrap();
    assert_eq!(report.parts_copied, 7);
    assert_eq!(s.stats().requests_with("UploadPartCopy", 503), 3);
    assert_eq!(object(&c, DST, "busy"), bytes);
    assert_clean(&s, &f);
}

#[test]
fn forbid_overwrite_refuses_an_existing_destination_on_both_paths() {
    let s = server();
    let c = client(&s);
    let f = fixture();
    for (key, size) in [("small", 1000), ("big", 5 * PART)] {
        put_source(&c, &data(size, 8), &[]);
        c.put_object(
            DST,
            key,
            oss_resume::PutSource::Bytes(b"old"),
            &[],
            &RequestOptions::default(),
        )
        .unwrap();
        let mut o = opts(&f);
        o.forbid_overwrite = true;
        let err = copy(&c, key, &o).unwrap_err();
        assert_eq!(err.oss_code(), Some("FileAlreadyExists"), "{key}: {err}");
        assert_eq!(object(&c, DST, key), b"old");
        let fresh = format!("{key}-new");
        copy(&c, &fresh, &o).unwrap();
    }
    assert_clean(&s, &f);
}

/// What a crash right after sending Initiate leaves: the marker checkpoint and an
/// upload nobody recorded. The next run finds and aborts it, then copies.
#[test]
fn a_run_stopped_during_initiate_leaves_a_marker_and_the_next_run_aborts_its_upload() {
    let s = server();
    let c = client(&s);
    let f = fixture();
    let bytes = data(5 * PART, 9);
    put_source(&c, &bytes, &[]);
    let no_retry = Client::new(
        Config::builder(&s.endpoint())
            .credentials("cp-ak", "cp-sk", None)
            .region("cn-hangzhou")
            .retry_policy(RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            })
            .build()
            .unwrap(),
    )
    .unwrap();
    s.set_fault(
        "lose_response_ops",
        "InitiateMultipartUpload,ListMultipartUploads",
    )
    .unwrap();
    s.set_fault("lose_response_count", "2").unwrap();
    let err = copy(&no_retry, "crash", &opts(&f)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    assert_eq!(
        s.stats().uploads_in_progress,
        1,
        "the server made the upload"
    );
    assert_eq!(checkpoint_files(&f).len(), 1, "the marker is on disk");
    let report = copy(&c, "crash", &opts(&f)).unwrap();
    match &report.checkpoint {
        CheckpointState::Discarded(why) => {
            assert!(why.contains("1 unrecorded upload(s) aborted"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(report.uploads_aborted, 1);
    assert_eq!(object(&c, DST, "crash"), bytes);
    assert_clean(&s, &f);
}

/// A copy whose checkpoint is lost or unusable cannot name its upload, and a copy
/// cannot read the source's bytes to recognise it beforehand: the next run, once
/// complete, finds it by its parts (this copy's sizes and ETags) and aborts it. An
/// upload of the same key with other bytes (another writer's) is left alone.
#[test]
fn an_upload_whose_checkpoint_was_lost_is_aborted_by_the_next_run() {
    let s = server();
    let c = client(&s);
    let bytes = data(8 * PART, 21);
    put_source(&c, &bytes, &[]);
    type Edit = fn(&std::path::Path);
    let edits: [(&str, Edit); 4] = [
        ("missing", |p| fs::remove_file(p).unwrap()),
        ("empty", |p| fs::write(p, b"").unwrap()),
        ("truncated", |p| {
            let b = fs::read(p).unwrap();
            fs::write(p, &b[..b.len() / 2]).unwrap();
        }),
        ("damaged", |p| {
            let mut b = fs::read(p).unwrap();
            b[40] ^= 0x20;
            fs::write(p, &b).unwrap();
        }),
    ];
    for (what, edit) in edits {
        let f = fixture();
        let key = format!("lost-{what}");
        // Another writer's upload of the key: one part of other bytes.
        let none = RequestOptions::default();
        let theirs = c
            .initiate_multipart_upload(DST, &key, &[], false, &none)
            .unwrap();
        let other = data(PART, 22);
        c.upload_part(
            DST,
            &key,
            &theirs,
            1,
            oss_resume::PartSource::Bytes(&other),
            &none,
        )
        .unwrap();
        // This copy, stopped after 3 parts.
        let mut o = opts(&f);
        o.threads = 1;
        let mut stop = |done: u64, _: u64| done < 3 * PART;
        let err = c
            .copy(SRC, "src", DST, &key, &o, Some(&mut stop))
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Cancelled, "{what}: {err}");
        assert_eq!(s.stats().uploads_in_progress, 2, "{what}");
        edit(&checkpoint_files(&f)[0]);
        let report = copy(&c, &key, &opts(&f)).unwrap();
        assert_ne!(report.checkpoint, CheckpointState::Resumed, "{what}");
        assert_eq!(report.uploads_aborted, 1, "{what}: {report:?}");
        assert_eq!(object(&c, DST, &key), bytes, "{what}");
        let left = c.list_multipart_uploads(DST, &key, &none).unwrap();
        assert_eq!(left.len(), 1, "{what}: {left:?}");
        assert_eq!(
            left[0].upload_id, theirs,
            "{what}: the other writer's upload is kept"
        );
        c.abort_multipart_upload(DST, &key, &theirs, &none).unwrap();
        assert_clean(&s, &f);
    }
}

/// A run dropped after some parts were recorded (a crash, simulated by a cancel)
/// whose parts also landed unrecorded: every listed part is kept, none copied again.
#[test]
fn parts_listed_but_not_recorded_are_kept_on_resume() {
    let s = server();
    let c = client(&s);
    let f = fixture();
    let bytes = data(6 * PART, 10);
    put_source(&c, &bytes, &[]);
    let mut o = opts(&f);
    o.threads = 1;
    let mut stop = |done: u64, _: u64| done < 2 * PART;
    let err = c
        .copy(SRC, "src", DST, "unrecorded", &o, Some(&mut stop))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    // A part copied by hand into the recorded upload stands for one whose answer
    // came back but whose record was never written.
    let upload = c
        .list_multipart_uploads(DST, "unrecorded", &RequestOptions::default())
        .unwrap()[0]
        .upload_id
        .clone();
    let before = c
        .list_parts(DST, "unrecorded", &upload, &RequestOptions::default())
        .unwrap()
        .len() as u64;
    let extra = c
        .upload_part(
            DST,
            "unrecorded",
            &upload,
            6,
            oss_resume::PartSource::Bytes(&bytes[5 * PART as usize..]),
            &RequestOptions::default(),
        )
        .unwrap();
    assert_eq!(extra.part_number, 6);
    s.reset_stats();
    let report = copy(&c, "unrecorded", &opts(&f)).unwrap();
    assert_eq!(report.checkpoint, CheckpointState::Resumed);
    assert_eq!(report.parts_reused, before + 1, "{report:?}");
    assert_eq!(
        s.stats().requests_with("UploadPartCopy", 200),
        6 - before - 1
    );
    assert_eq!(object(&c, DST, "unrecorded"), bytes);
    assert_clean(&s, &f);
}

#[test]
fn a_source_changed_between_runs_aborts_the_old_upload_and_starts_over() {
    let s = server();
    let c = client(&s);
    let f = fixture();
    put_source(&c, &data(5 * PART, 11), &[]);
    let mut stop = |done: u64, _: u64| done < PART;
    let mut o = opts(&f);
    o.threads = 1;
    c.copy(SRC, "src", DST, "between", &o, Some(&mut stop))
        .unwrap_err();
    let bytes = data(5 * PART, 12);
    put_source(&c, &bytes, &[]);
    let report = copy(&c, "between", &opts(&f)).unwrap();
    assert!(
        matches!(&report.checkpoint, CheckpointState::Discarded(why) if why.contains("source")),
        "{report:?}"
    );
    assert_eq!(report.uploads_aborted, 1);
    assert_eq!(object(&c, DST, "between"), bytes);
    assert_clean(&s, &f);
}

#[test]
fn a_lost_complete_answer_is_recognised_as_success() {
    let s = server();
    let c = client(&s);
    let f = fixture();
    let bytes = data(5 * PART, 13);
    put_source(&c, &bytes, &[]);
    s.set_fault("lose_response_ops", "CompleteMultipartUpload")
        .unwrap();
    s.set_fault("lose_response_count", "1").unwrap();
    let report = copy(&c, "lost", &opts(&f)).unwrap();
    assert_eq!(report.path, CopyPath::UploadPartCopy);
    assert_eq!(object(&c, DST, "lost"), bytes);
    assert_clean(&s, &f);
}

#[test]
fn bad_options_are_refused_by_validate_before_any_request() {
    let s = server();
    let c = client(&s);
    let f = fixture();
    put_source(&c, &data(1000, 31), &[]);
    s.reset_stats();
    type Spoil = fn(&mut CopyOptions);
    let bad: [(&str, Spoil); 5] = [
        ("threads", |o| o.threads = 0),
        ("part size", |o| o.part_size = Some(10)),
        ("version", |o| o.request.version_id = Some("v1".into())),
        ("traffic limit", |o| o.request.traffic_limit = Some(1)),
        ("header", |o| {
            o.metadata = CopyMetadata::Replace(vec![("Bad Name".into(), "x".into())])
        }),
    ];
    for (what, spoil) in bad {
        let mut o = opts(&f);
        spoil(&mut o);
        let err = o.validate().unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{what}: {err}");
        let err = copy(&c, "never", &o).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{what}: {err}");
    }
    opts(&f).validate().unwrap();
    assert!(s.stats().requests.is_empty(), "{:?}", s.stats().requests);
}

#[test]
fn a_missing_source_is_not_found_and_makes_nothing() {
    let s = server();
    let c = client(&s);
    let f = fixture();
    let err = copy(&c, "nothing", &opts(&f)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_clean(&s, &f);
}

#[test]
fn a_copy_the_server_refuses_falls_back_to_the_stream_only_when_allowed() {
    let s = server();
    let c = client(&s);
    let f = fixture();
    for size in [1000, 5 * PART] {
        let bytes = data(size, 14);
        put_source(&c, &bytes, &[("Content-Type".into(), "text/csv".into())]);
        s.set_fault("error_ops", "CopyObject,UploadPartCopy")
            .unwrap();
        s.set_fault("error_status", "403").unwrap();
        s.set_fault("error_burst", "1").unwrap();
        let err = copy(&c, "refused", &opts(&f)).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::AccessDenied, "{size}: {err}");
        assert_clean(&s, &f);
        s.set_fault("error_burst", "1").unwrap();
        s.reset_stats();
        let mut allowed = opts(&f);
        allowed.allow_stream_fallback = true;
        let report = copy(&c, "fallback", &allowed).unwrap();
        assert_eq!(report.path, CopyPath::Stream, "{size}");
        assert_eq!(s.stats().bytes_served, size, "the bytes came through");
        assert_eq!(object(&c, DST, "fallback"), bytes);
        let info = c
            .head_object(DST, "fallback", &RequestOptions::default())
            .unwrap();
        assert_eq!(info.content_type.as_deref(), Some("text/csv"));
        assert_clean(&s, &f);
        s.clear_faults();
    }
}
