//! Resumable upload against the local server, with its faults switched on.

mod common;

use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oss_resume::{
    CheckpointState, Client, Config, ErrorKind, PartSource, RequestOptions, RetryPolicy,
    SignatureVersion, UploadOptions, UploadReport,
};
use oss_resume_server::{Server, ServerConfig};

const BUCKET: &str = "up-bucket";
const PART: u64 = 100 * 1024;

fn server() -> Server {
    let mut config = ServerConfig::new("up-ak", "up-sk");
    config.buckets = vec![BUCKET.into()];
    Server::start(config).unwrap()
}

fn client(s: &Server) -> Client {
    Client::new(
        Config::builder(&s.endpoint())
            .credentials("up-ak", "up-sk", None)
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

struct Fixture {
    _dir: tempfile::TempDir,
    file: PathBuf,
    ckpt: PathBuf,
    data: Vec<u8>,
}

fn fixture(len: u64, seed: u64) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut rng = fastrand::Rng::with_seed(seed);
    let data: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
    let file = dir.path().join("source.bin");
    fs::write(&file, &data).unwrap();
    let ckpt = dir.path().join("ckpt");
    Fixture {
        _dir: dir,
        file,
        ckpt,
        data,
    }
}

fn opts(f: &Fixture) -> UploadOptions {
    let mut o = UploadOptions::default();
    o.checkpoint_dir = Some(f.ckpt.clone());
    o.multipart_threshold = 3 * PART;
    o.part_size = Some(PART);
    o.threads = 3;
    o
}

fn object(c: &Client, key: &str) -> Vec<u8> {
    let mut out = Vec::new();
    c.get_object(BUCKET, key, None, None, &RequestOptions::default())
        .unwrap()
        .read_to_end(&mut out)
        .unwrap();
    out
}

fn upload(
    c: &Client,
    f: &Fixture,
    key: &str,
    o: &UploadOptions,
) -> oss_resume::Result<UploadReport> {
    c.upload(&f.file, BUCKET, key, o, None)
}

fn checkpoint_files(f: &Fixture) -> Vec<PathBuf> {
    if !f.ckpt.exists() {
        return Vec::new();
    }
    fs::read_dir(&f.ckpt)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.to_string_lossy().ends_with(".upload"))
        .collect()
}

fn assert_clean(s: &Server, f: &Fixture) {
    assert_eq!(
        s.stats().uploads_in_progress,
        0,
        "an upload was left in progress"
    );
    assert!(checkpoint_files(f).is_empty(), "{:?}", checkpoint_files(f));
}

#[test]
fn size_edges_upload_byte_identical_with_nothing_left_in_progress() {
    let s = server();
    let c = client(&s);
    for (i, size) in [
        0,
        1,
        3 * PART - 1,
        3 * PART,
        3 * PART + 1,
        5 * PART,
        5 * PART + 3,
    ]
    .into_iter()
    .enumerate()
    {
        let f = fixture(size, i as u64);
        let mut o = opts(&f);
        o.threads = 8;
        let key = format!("edge/{size}");
        let report = upload(&c, &f, &key, &o).unwrap();
        assert_eq!(object(&c, &key), f.data, "size {size}");
        assert_eq!(report.crc64, oss_resume::crc64::checksum(&f.data));
        let multipart = size >= 3 * PART;
        assert_eq!(
            report.parts,
            if multipart { size.div_ceil(PART) } else { 0 }
        );
        let info = c
            .head_object(BUCKET, &key, &RequestOptions::default())
            .unwrap();
        assert_eq!(
            info.object_type.as_deref(),
            Some(if multipart { "Multipart" } else { "Normal" })
        );
        assert_clean(&s, &f);
    }
}

#[test]
fn headers_and_guessed_content_type_reach_the_object() {
    let s = server();
    let c = client(&s);
    let f = fixture(4 * PART, 1);
    let json = f.file.with_extension("json");
    fs::rename(&f.file, &json).unwrap();
    let mut o = opts(&f);
    o.headers = vec![("x-oss-meta-origin".into(), "test".into())];
    c.upload(&json, BUCKET, "h", &o, None).unwrap();
    let info = c
        .head_object(BUCKET, "h", &RequestOptions::default())
        .unwrap();
    assert_eq!(info.content_type.as_deref(), Some("application/json"));
}

#[test]
fn service_unavailable_on_parts_and_complete_is_survived() {
    let s = server();
    let c = client(&s);
    let f = fixture(6 * PART, 2);
    s.set_fault("error_ops", "UploadPart,CompleteMultipartUpload")
        .unwrap();
    s.set_fault("error_burst", "3").unwrap();
    upload(&c, &f, "busy", &opts(&f)).unwrap();
    assert_eq!(object(&c, "busy"), f.data);
    assert_eq!(s.stats().faults_injected, 3);
    assert_clean(&s, &f);
}

#[test]
fn a_lost_complete_response_is_recognised_as_success() {
    let s = server();
    let c = client(&s);
    let f = fixture(5 * PART, 3);
    s.set_fault("lose_response_ops", "CompleteMultipartUpload")
        .unwrap();
    s.set_fault("lose_response_count", "1").unwrap();
    let report = upload(&c, &f, "lost", &opts(&f)).unwrap();
    assert_eq!(object(&c, "lost"), f.data);
    assert_eq!(report.crc64, oss_resume::crc64::checksum(&f.data));
    assert_clean(&s, &f);
}

#[test]
fn a_lost_part_response_is_retried() {
    let s = server();
    let c = client(&s);
    let f = fixture(5 * PART, 4);
    s.set_fault("lose_response_ops", "UploadPart").unwrap();
    s.set_fault("lose_response_count", "2").unwrap();
    upload(&c, &f, "lost-part", &opts(&f)).unwrap();
    assert_eq!(object(&c, "lost-part"), f.data);
    assert_clean(&s, &f);
}

/// Cancels an upload after `parts` parts' worth of bytes (so at least `parts - 1`
/// parts are finished); returns its upload id (from the server).
/// Other uploads may be in progress; this one must add exactly one, and a checkpoint.
fn interrupted(s: &Server, c: &Client, f: &Fixture, key: &str, parts: u64) -> String {
    let before = s.stats().uploads_in_progress;
    let mut o = opts(f);
    o.threads = 1;
    let mut cb = |done: u64, _: u64| done < parts * PART;
    let err = c
        .upload(&f.file, BUCKET, key, &o, Some(&mut cb))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    // The part the cancel cut may still be answered (and counted) by the server.
    common::settle(s);
    assert_eq!(checkpoint_files(f).len(), 1);
    assert_eq!(s.stats().uploads_in_progress, before + 1);
    c.list_multipart_uploads(BUCKET, key, &RequestOptions::default())
        .unwrap()[0]
        .upload_id
        .clone()
}

#[test]
fn cancellation_then_resume_reuses_the_parts_on_the_server() {
    let s = server();
    let c = client(&s);
    let f = fixture(10 * PART, 5);
    interrupted(&s, &c, &f, "resume", 3);
    s.reset_stats();
    let mut calls = Vec::new();
    let mut cb = |d: u64, t: u64| {
        calls.push((d, t));
        true
    };
    let mut o = opts(&f);
    o.threads = 2;
    let report = c
        .upload(&f.file, BUCKET, "resume", &o, Some(&mut cb))
        .unwrap();
    assert_eq!(report.checkpoint, CheckpointState::Resumed);
    // Cancelled at 3 parts' worth of bytes: the third may have been in flight.
    assert!(report.parts_reused >= 2, "{report:?}");
    assert_eq!(report.parts_reused + report.parts_uploaded, 10);
    // Parts the server accepted: a part the cancel cut may reach the server's
    // counters (as a failed request) after the counters were zeroed.
    assert_eq!(
        s.stats().requests_with("UploadPart", 200),
        report.parts_uploaded
    );
    // Progress starts from the reused bytes, held below the total until Complete
    // (should every part have finished before the cancel took effect).
    assert_eq!(
        calls.first().unwrap().0,
        (report.parts_reused * PART).min(10 * PART - 1)
    );
    assert_eq!(*calls.last().unwrap(), (10 * PART, 10 * PART));
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
    assert_eq!(object(&c, "resume"), f.data);
    assert_clean(&s, &f);
}

/// An atomic write of the checkpoint killed before its rename leaves a temporary
/// beside it; the next run, holding the lock, removes it (and only it).
#[test]
fn a_checkpoints_stale_temporary_is_swept_on_resume() {
    let s = server();
    let c = client(&s);
    let f = fixture(8 * PART, 23);
    interrupted(&s, &c, &f, "sweep", 2);
    let ckpt = checkpoint_files(&f).pop().expect("a checkpoint");
    let name = ckpt.file_name().unwrap().to_str().unwrap().to_string();
    let stale = f.ckpt.join(format!(".{name}.00112233445566ff.tmp"));
    let other = f.ckpt.join(format!(".{name}.not-a-temporary.tmp"));
    fs::write(&stale, b"half").unwrap();
    fs::write(&other, b"half").unwrap();
    let report = upload(&c, &f, "sweep", &opts(&f)).unwrap();
    assert_eq!(report.checkpoint, CheckpointState::Resumed);
    assert_eq!(object(&c, "sweep"), f.data);
    assert!(!stale.exists(), "the stale temporary was left");
    assert_eq!(fs::read(&other).unwrap(), b"half");
}

#[test]
fn an_upload_aborted_on_the_server_starts_anew() {
    let s = server();
    let c = client(&s);
    let f = fixture(8 * PART, 6);
    let id = interrupted(&s, &c, &f, "aborted", 2);
    c.abort_multipart_upload(BUCKET, "aborted", &id, &RequestOptions::default())
        .unwrap();
    let report = upload(&c, &f, "aborted", &opts(&f)).unwrap();
    match &report.checkpoint {
        CheckpointState::Discarded(why) => assert!(why.contains("no longer exists"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(object(&c, "aborted"), f.data);
    assert_clean(&s, &f);
}

#[test]
fn parts_that_disagree_with_the_checkpoint_are_sent_again() {
    let s = server();
    let c = client(&s);
    let f = fixture(8 * PART, 7);
    let id = interrupted(&s, &c, &f, "disagree", 3);
    // Someone overwrote part 1 on the server with other bytes.
    let other = vec![0u8; PART as usize];
    c.upload_part(
        BUCKET,
        "disagree",
        &id,
        1,
        PartSource::Bytes(&other),
        &RequestOptions::default(),
    )
    .unwrap();
    let report = upload(&c, &f, "disagree", &opts(&f)).unwrap();
    assert_eq!(report.checkpoint, CheckpointState::Resumed);
    assert!(
        report.parts_reused >= 2 && report.parts_reused < 8,
        "{report:?}"
    );
    assert_eq!(object(&c, "disagree"), f.data);
    assert_clean(&s, &f);
}

#[test]
fn a_file_changed_between_runs_discards_the_checkpoint_and_aborts_the_old_upload() {
    let s = server();
    let c = client(&s);
    let mut f = fixture(8 * PART, 8);
    interrupted(&s, &c, &f, "changed", 2);
    f.data[5] ^= 1;
    fs::write(&f.file, &f.data).unwrap();
    let report = upload(&c, &f, "changed", &opts(&f)).unwrap();
    match &report.checkpoint {
        CheckpointState::Discarded(why) => assert!(why.contains("file changed"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(report.uploads_aborted, 1);
    assert_eq!(object(&c, "changed"), f.data);
    assert_clean(&s, &f);
}

#[test]
fn a_file_changed_during_the_upload_is_an_error_and_no_object() {
    let s = server();
    let c = client(&s);
    let f = fixture(10 * PART, 9);
    let mut o = opts(&f);
    o.threads = 1;
    let path = f.file.clone();
    let mut changed = false;
    let mut cb = |done: u64, _: u64| {
        if !changed && done >= 2 * PART {
            let mut bytes = fs::read(&path).unwrap();
            bytes[9 * PART as usize] ^= 0xFF;
            fs::write(&path, bytes).unwrap();
            changed = true;
        }
        true
    };
    let err = c
        .upload(&f.file, BUCKET, "moving", &o, Some(&mut cb))
        .unwrap_err();
    assert!(
        err.to_string().contains("changed during the upload"),
        "{err}"
    );
    let head = c
        .head_object(BUCKET, "moving", &RequestOptions::default())
        .unwrap_err();
    assert_eq!(head.kind(), ErrorKind::NotFound);
    assert_clean(&s, &f);
}

fn corrupt_checkpoint(f: &Fixture, edit: impl Fn(&Path)) {
    let files = checkpoint_files(f);
    edit(&files[0]);
}

#[test]
fn a_corrupt_checkpoint_is_discarded() {
    let s = server();
    let c = client(&s);
    let f = fixture(6 * PART, 10);
    interrupted(&s, &c, &f, "corrupt", 2);
    corrupt_checkpoint(&f, |p| {
        let mut b = fs::read(p).unwrap();
        let mid = b.len() / 2;
        b[mid] ^= 0x20;
        fs::write(p, b).unwrap();
    });
    let report = upload(&c, &f, "corrupt", &opts(&f)).unwrap();
    match &report.checkpoint {
        CheckpointState::Discarded(why) => assert!(why.contains("checksum"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(object(&c, "corrupt"), f.data);
    // The interrupted upload's id could not be trusted from a corrupt file; it is
    // found by its parts' bytes (this file's) and aborted, not left to bill.
    assert_eq!(report.uploads_aborted, 1, "{report:?}");
    assert_eq!(s.stats().uploads_in_progress, 0);
}

/// Every way a checkpoint can be unusable leaves the upload it named on the server;
/// the next run finds it by its parts' bytes and aborts it. Another file's upload of
/// the same key (other bytes) is left alone.
#[test]
fn an_unusable_checkpoint_leaves_no_upload_in_progress() {
    let s = server();
    let c = client(&s);
    type Edit = Box<dyn Fn(&Path)>;
    let edits: Vec<(&str, Edit)> = vec![
        ("empty", Box::new(|p: &Path| fs::write(p, b"").unwrap())),
        (
            "truncated",
            Box::new(|p: &Path| {
                let b = fs::read(p).unwrap();
                fs::write(p, &b[..b.len() / 3]).unwrap();
            }),
        ),
        ("missing", Box::new(|p: &Path| fs::remove_file(p).unwrap())),
        (
            "directory",
            Box::new(|p: &Path| {
                fs::remove_file(p).unwrap();
                fs::create_dir(p).unwrap();
            }),
        ),
    ];
    for (i, (what, edit)) in edits.into_iter().enumerate() {
        let key = format!("unusable-{what}");
        let f = fixture(6 * PART, 60 + i as u64);
        let other = fixture(6 * PART, 70 + i as u64);
        let theirs = interrupted(&s, &c, &other, &key, 2);
        interrupted(&s, &c, &f, &key, 2);
        corrupt_checkpoint(&f, edit);
        let report = upload(&c, &f, &key, &opts(&f)).unwrap();
        assert_eq!(report.uploads_aborted, 1, "{what}: {report:?}");
        assert_eq!(object(&c, &key), f.data);
        let left = c
            .list_multipart_uploads(BUCKET, &key, &RequestOptions::default())
            .unwrap();
        assert_eq!(left.len(), 1, "{what}: {left:?}");
        assert_eq!(left[0].upload_id, theirs, "the other file's upload is kept");
        c.abort_multipart_upload(BUCKET, &key, &theirs, &RequestOptions::default())
            .unwrap();
    }
}

/// An Initiate the server refuses (here: a wrong secret) made no upload, so its
/// marker checkpoint is not left behind to pile up.
#[test]
fn a_refused_initiate_leaves_no_marker() {
    let s = server();
    let f = fixture(6 * PART, 80);
    let wrong = Client::new(
        Config::builder(&s.endpoint())
            .credentials("up-ak", "not-the-secret", None)
            .region("cn-hangzhou")
            .signature_version(SignatureVersion::V4)
            .build()
            .unwrap(),
    )
    .unwrap();
    let err = upload(&wrong, &f, "refused", &opts(&f)).unwrap_err();
    assert_eq!(err.oss_code(), Some("SignatureDoesNotMatch"), "{err}");
    assert!(
        checkpoint_files(&f).is_empty(),
        "{:?}",
        checkpoint_files(&f)
    );
    // A bucket that does not exist: likewise.
    let c = client(&s);
    let err = c
        .upload(&f.file, "no-such-bucket", "refused", &opts(&f), None)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert!(
        checkpoint_files(&f).is_empty(),
        "{:?}",
        checkpoint_files(&f)
    );
}

#[test]
fn a_foreign_checkpoint_is_discarded() {
    let s = server();
    let c = client(&s);
    let g = fixture(6 * PART, 11);
    let my_id = interrupted(&s, &c, &g, "mine", 2);
    let theirs = fixture(6 * PART, 12);
    let their_id = interrupted(&s, &c, &theirs, "theirs", 2);
    fs::copy(&checkpoint_files(&theirs)[0], &checkpoint_files(&g)[0]).unwrap();
    let report = upload(&c, &g, "mine", &opts(&g)).unwrap();
    match &report.checkpoint {
        CheckpointState::Discarded(why) => assert!(why.contains("another"), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(object(&c, "mine"), g.data);
    // Their upload is theirs: not aborted by us.
    assert!(
        c.list_parts(BUCKET, "theirs", &their_id, &RequestOptions::default())
            .is_ok()
    );
    // Ours, whose checkpoint was overwritten, was found by its parts' bytes and
    // ended: theirs is the only upload left in progress.
    let err = c
        .list_parts(BUCKET, "mine", &my_id, &RequestOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::NotFound, "{err}");
    assert_eq!(s.stats().uploads_in_progress, 1);
}

#[test]
fn a_connection_dropped_mid_part_is_retried() {
    let s = server();
    let c = client(&s);
    let f = fixture(6 * PART, 13);
    s.set_fault("drop_request_after_bytes", "30000").unwrap();
    s.set_fault("drop_request_count", "2").unwrap();
    upload(&c, &f, "dropped", &opts(&f)).unwrap();
    assert_eq!(object(&c, "dropped"), f.data);
    assert_eq!(s.faults().drop_request_count, 0, "both drops happened");
    assert_clean(&s, &f);
    // Below the threshold too: the single PutObject is sent again.
    let g = fixture(PART, 14);
    s.set_fault("drop_request_after_bytes", "1000").unwrap();
    s.set_fault("drop_request_count", "1").unwrap();
    upload(&c, &g, "dropped-small", &opts(&g)).unwrap();
    assert_eq!(object(&c, "dropped-small"), g.data);
    assert_eq!(s.faults().drop_request_count, 0);
}

#[test]
fn progress_moves_within_parts_while_bytes_are_sent() {
    let s = server();
    let c = client(&s);
    const MIB: u64 = 1024 * 1024;
    let f = fixture(3 * 8 * MIB, 15);
    // 24 MiB at 8 MB/s: about a second per part, three in all.
    s.set_fault("recv_bandwidth", "8000000").unwrap();
    let mut calls = Vec::new();
    let mut cb = |d: u64, t: u64| {
        calls.push((d, t));
        true
    };
    let mut o = opts(&f);
    o.threads = 1;
    o.part_size = Some(8 * MIB);
    c.upload(&f.file, BUCKET, "byte-progress", &o, Some(&mut cb))
        .unwrap();
    let total = 3 * 8 * MIB;
    assert!(calls.iter().all(|&(d, t)| t == total && d <= total));
    assert!(calls.windows(2).all(|w| w[0].0 < w[1].0), "{calls:?}");
    assert_eq!(*calls.last().unwrap(), (total, total));
    assert_eq!(calls.iter().filter(|c| c.0 == total).count(), 1);
    let within = calls
        .iter()
        .filter(|&&(d, _)| d % (8 * MIB) != 0 && d < total - 1)
        .count();
    assert!(within >= 4, "progress hardly moved within parts: {calls:?}");
    assert_eq!(object(&c, "byte-progress"), f.data);
    assert_clean(&s, &f);
}

#[test]
fn after_one_part_fails_the_workers_take_no_new_parts() {
    let s = server();
    let c = client(&s); // 4 attempts per request
    let f = fixture(40 * PART, 16);
    let mut o = opts(&f);
    o.threads = 2;
    // About 50 ms a part, so the fault below lands while most parts are still to go,
    // however late the progress callback runs on a loaded machine.
    s.set_fault("recv_bandwidth", "2000000").unwrap();
    // Once 3 parts are through, every UploadPart is refused with 503 until retries
    // run out: the first part to give up fails the upload.
    let mut armed = false;
    let mut cb = |d: u64, _: u64| {
        if !armed && d >= 3 * PART {
            armed = true;
            s.set_fault("error_ops", "UploadPart").unwrap();
            s.set_fault("error_burst", "100000").unwrap();
        }
        true
    };
    let err = c
        .upload(&f.file, BUCKET, "stops", &o, Some(&mut cb))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ServerBusy, "{err}");
    let stats = s.stats();
    let refused = stats.faults_injected;
    let accepted = stats.requests_of("UploadPart") - refused;
    // Two workers, four attempts each, on the part each held: at most 8 refusals.
    // Workers that kept taking parts would have tried all 37 remaining ones.
    assert!((1..=8).contains(&refused), "{refused} refused UploadParts");
    assert!(
        accepted < 30,
        "{accepted} parts went through before the fault"
    );
    // The upload is kept for the next run, which finishes it.
    assert_eq!(checkpoint_files(&f).len(), 1);
    assert_eq!(s.stats().uploads_in_progress, 1);
    s.clear_faults();
    let report = upload(&c, &f, "stops", &o).unwrap();
    assert_eq!(report.checkpoint, CheckpointState::Resumed);
    assert_eq!(report.parts_reused, accepted);
    assert_eq!(object(&c, "stops"), f.data);
    assert_clean(&s, &f);
}

#[test]
fn a_lost_initiate_answer_leaves_no_second_upload() {
    let s = server();
    let c = client(&s);
    let f = fixture(4 * PART, 17);
    // The server makes the upload but the answer is lost; the retry makes another.
    s.set_fault("lose_response_ops", "InitiateMultipartUpload")
        .unwrap();
    s.set_fault("lose_response_count", "1").unwrap();
    let report = upload(&c, &f, "lost-initiate", &opts(&f)).unwrap();
    assert_eq!(s.stats().requests_of("InitiateMultipartUpload"), 2);
    assert_eq!(report.uploads_aborted, 1, "{report:?}");
    assert_eq!(object(&c, "lost-initiate"), f.data);
    assert_clean(&s, &f);
}

#[test]
fn a_run_stopped_during_initiate_leaves_a_marker_and_the_next_run_aborts_its_upload() {
    stopped_during_initiate(0);
}

/// The marker holds our clock; the server's `Initiated` is its own. Ten minutes of
/// skew (signatures allow 15) is five times the orphan window: without the skew
/// read from the listing's `Date`, the orphan is missed.
#[test]
fn the_orphan_of_a_stopped_initiate_is_found_with_the_server_clock_10_min_off() {
    stopped_during_initiate(600);
    stopped_during_initiate(-600);
}

fn stopped_during_initiate(clock_offset_secs: i64) {
    let s = server();
    s.set_fault("clock_offset_secs", &clock_offset_secs.to_string())
        .unwrap();
    let f = fixture(4 * PART, 18);
    stop_during_initiate(&s, &f, "stopped");
    // A foreign upload of another key is not touched.
    let c = client(&s);
    let other = c
        .initiate_multipart_upload(
            BUCKET,
            "stopped-not",
            &[],
            false,
            &RequestOptions::default(),
        )
        .unwrap();

    let report = upload(&c, &f, "stopped", &opts(&f)).unwrap();
    match &report.checkpoint {
        CheckpointState::Discarded(why) => {
            assert!(why.contains("1 unrecorded upload(s) aborted"), "{why}")
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(report.uploads_aborted, 1);
    assert_eq!(object(&c, "stopped"), f.data);
    assert!(checkpoint_files(&f).is_empty());
    let left = c
        .list_multipart_uploads(BUCKET, "stopped", &RequestOptions::default())
        .unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].upload_id, other);
}

/// A stopped run's Initiate may be carried out after the next run has swept for it
/// (a request delayed in the network or the server). The next run sweeps again
/// once its own upload is complete.
#[test]
fn a_stopped_initiate_carried_out_late_is_aborted_after_complete() {
    let s = server();
    let f = fixture(4 * PART, 22);
    stop_during_initiate(&s, &f, "late");
    let c = client(&s);
    let mut late = None;
    let mut cb = |_: u64, _: u64| {
        // After this run's start-up sweep and Initiate: the late one arrives.
        if late.is_none() {
            late = Some(
                c.initiate_multipart_upload(BUCKET, "late", &[], false, &RequestOptions::default())
                    .unwrap(),
            );
        }
        true
    };
    let report = c
        .upload(&f.file, BUCKET, "late", &opts(&f), Some(&mut cb))
        .unwrap();
    assert!(late.is_some());
    assert_eq!(report.uploads_aborted, 2, "{report:?}");
    assert_eq!(object(&c, "late"), f.data);
    assert_clean(&s, &f);
}

/// The stopped Initiate is remembered in the checkpoint of the run that found it, so
/// when that run is itself interrupted, the run that completes still sweeps for a
/// late arrival.
#[test]
fn a_late_orphan_is_swept_by_whichever_run_completes() {
    let s = server();
    let f = fixture(4 * PART, 23);
    stop_during_initiate(&s, &f, "chain");
    let c = client(&s);
    // The second run sweeps, initiates its own upload and is cancelled at once.
    let mut stop = |_: u64, _: u64| false;
    let err = c
        .upload(&f.file, BUCKET, "chain", &opts(&f), Some(&mut stop))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert_eq!(s.stats().uploads_in_progress, 1, "its own upload only");
    // Now the first run's Initiate arrives, late.
    c.initiate_multipart_upload(BUCKET, "chain", &[], false, &RequestOptions::default())
        .unwrap();
    let report = upload(&c, &f, "chain", &opts(&f)).unwrap();
    assert_eq!(report.checkpoint, CheckpointState::Resumed, "{report:?}");
    assert_eq!(report.uploads_aborted, 1, "{report:?}");
    assert_eq!(object(&c, "chain"), f.data);
    assert_clean(&s, &f);
}

/// Leaves what a run killed right after sending Initiate leaves: the marker on disk
/// and an upload on the server that nobody recorded.
fn stop_during_initiate(s: &Server, f: &Fixture, key: &str) {
    let no_retry = Client::new(
        Config::builder(&s.endpoint())
            .credentials("up-ak", "up-sk", None)
            .region("cn-hangzhou")
            .retry_policy(RetryPolicy {
                max_attempts: 1,
                ..RetryPolicy::default()
            })
            .build()
            .unwrap(),
    )
    .unwrap();
    // Initiate is carried out but its answer lost, and so is the listing that would
    // clean up at once: what a crash right after sending Initiate leaves.
    s.set_fault(
        "lose_response_ops",
        "InitiateMultipartUpload,ListMultipartUploads",
    )
    .unwrap();
    s.set_fault("lose_response_count", "2").unwrap();
    let err = upload(&no_retry, f, key, &opts(f)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err}");
    assert_eq!(
        s.stats().uploads_in_progress,
        1,
        "the server made the upload"
    );
    assert_eq!(checkpoint_files(f).len(), 1, "the marker is on disk");
}

#[test]
fn with_every_part_reused_progress_reaches_100_only_after_complete() {
    let s = server();
    let c = client(&s); // 4 attempts
    let f = fixture(4 * PART, 19);
    s.set_fault("error_ops", "CompleteMultipartUpload").unwrap();
    s.set_fault("error_burst", "4").unwrap();
    let err = upload(&c, &f, "all-reused", &opts(&f)).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ServerBusy, "{err}");
    let mut calls = Vec::new();
    let mut cb = |d: u64, t: u64| {
        calls.push((d, t));
        true
    };
    let report = c
        .upload(&f.file, BUCKET, "all-reused", &opts(&f), Some(&mut cb))
        .unwrap();
    assert_eq!((report.parts_reused, report.parts_uploaded), (4, 0));
    assert_eq!(calls, vec![(4 * PART - 1, 4 * PART), (4 * PART, 4 * PART)]);
    assert_eq!(object(&c, "all-reused"), f.data);
    assert_clean(&s, &f);
}

/// The part numbers an upload checkpoint records: `item=NUMBER CRC ETAG` lines.
fn recorded_parts(f: &Fixture) -> Vec<u32> {
    let ckpt = &checkpoint_files(f)[0];
    fs::read_to_string(ckpt)
        .unwrap()
        .lines()
        .filter_map(|l| l.strip_prefix("item="))
        .map(|l| l.split(' ').next().unwrap().parse().unwrap())
        .collect()
}

/// A crash between a part's answer and its record leaves parts on the server that
/// the checkpoint does not name. ListParts is the truth: those whose size and
/// CRC-64 match the file are kept, and only the parts the server lacks are sent.
#[test]
fn listed_parts_that_match_the_file_are_reused_even_unrecorded() {
    let s = server();
    let c = client(&s);
    let f = fixture(30 * PART, 50);
    let id = interrupted(&s, &c, &f, "truth", 3);
    let recorded = recorded_parts(&f);
    let missing: Vec<u32> = (1..=30).filter(|n| !recorded.contains(n)).collect();
    assert!(missing.len() >= 4, "{recorded:?}");
    // Three missing parts reached the server but were never recorded (the crash).
    let crashed = &missing[..3];
    for &n in crashed {
        let a = (u64::from(n) - 1) * PART;
        let bytes = &f.data[a as usize..(a + PART) as usize];
        c.upload_part(
            BUCKET,
            "truth",
            &id,
            n,
            PartSource::Bytes(bytes),
            &RequestOptions::default(),
        )
        .unwrap();
    }
    // Another reached the server with other bytes: it must be sent again.
    let wrong = missing[3];
    let other = vec![7u8; PART as usize];
    c.upload_part(
        BUCKET,
        "truth",
        &id,
        wrong,
        PartSource::Bytes(&other),
        &RequestOptions::default(),
    )
    .unwrap();
    // What the server holds with the file's bytes: the recorded parts, the crashed
    // ones, and any part whose answer the cancel overtook; not the wrong one.
    let on_server: Vec<u32> = c
        .list_parts(BUCKET, "truth", &id, &RequestOptions::default())
        .unwrap()
        .iter()
        .map(|p| p.part_number)
        .filter(|n| *n != wrong)
        .collect();
    assert!(
        recorded
            .iter()
            .chain(crashed)
            .all(|n| on_server.contains(n))
    );
    s.reset_stats();
    let report = upload(&c, &f, "truth", &opts(&f)).unwrap();
    assert_eq!(report.checkpoint, CheckpointState::Resumed);
    assert_eq!(report.parts_reused, on_server.len() as u64, "{report:?}");
    assert_eq!(report.parts_uploaded, 30 - on_server.len() as u64);
    assert_eq!(
        // Accepted ones: a part the cancel cut may reach the server's counters (as a
        // failed request) after the counters were zeroed.
        s.stats().requests_with("UploadPart", 200),
        report.parts_uploaded,
        "only the parts the server lacks are sent"
    );
    assert_eq!(object(&c, "truth"), f.data);
    assert_clean(&s, &f);
}

/// Pipes, FIFOs, devices and procfs files report a size that is not their content:
/// uploading by it would store an empty object and call it verified. They are
/// refused by name, before any request, and the key keeps what it held.
#[test]
fn a_source_that_is_not_a_regular_file_is_refused_and_nothing_is_written() {
    let s = server();
    let c = client(&s);
    let f = fixture(4 * PART, 51);
    s.put_object(BUCKET, "kept", b"what the key held").unwrap();
    let fifo = f.ckpt.with_file_name("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    s.reset_stats();
    for path in [
        fifo.as_path(),
        Path::new("/dev/zero"),
        Path::new("/proc/self/status"),
    ] {
        for threshold in [0, u64::MAX] {
            let mut o = opts(&f);
            o.multipart_threshold = threshold;
            let err = c.upload(path, BUCKET, "kept", &o, None).unwrap_err();
            assert_eq!(
                err.kind(),
                ErrorKind::InvalidArgument,
                "{}: {err}",
                path.display()
            );
            assert!(err.to_string().contains("not a regular file"), "{err}");
        }
        let err = c
            .put_object(
                BUCKET,
                "kept",
                oss_resume::PutSource::File(path),
                &[],
                &RequestOptions::default(),
            )
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidArgument, "{err}");
    }
    assert!(s.stats().requests.is_empty(), "no request was made");
    assert_eq!(object(&c, "kept"), b"what the key held");
}

/// An empty file with a multipart threshold of 0 is one PutObject: a multipart
/// upload of zero parts cannot complete and would be left behind.
#[test]
fn an_empty_file_is_one_put_whatever_the_threshold() {
    let s = server();
    let c = client(&s);
    let f = fixture(0, 52);
    let mut o = opts(&f);
    o.multipart_threshold = 0;
    let report = upload(&c, &f, "empty", &o).unwrap();
    assert_eq!(report.parts, 0);
    assert_eq!(report.checkpoint, CheckpointState::NotUsed);
    assert_eq!(s.stats().requests_of("InitiateMultipartUpload"), 0);
    assert_eq!(object(&c, "empty"), b"");
    assert_clean(&s, &f);
}

/// A cancel from another thread stops an upload whose part bodies the server
/// takes at a crawl, promptly; the checkpoint is kept and the next run completes.
#[test]
fn a_cancel_from_another_thread_stops_a_crawling_upload_promptly() {
    let s = server();
    let c = client(&s);
    let f = fixture(10 * PART, 53);
    let token = oss_resume::CancelToken::new();
    let mut o = opts(&f);
    o.request.cancel = Some(token.clone());
    // 1 KB/s: a part would take minutes.
    s.set_fault("recv_bandwidth", "1000").unwrap();
    let (result, took) = common::cancel_once_moving(&token, 1, |progress| {
        c.upload(&f.file, BUCKET, "crawl", &o, Some(progress))
    });
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Cancelled);
    assert!(took < Duration::from_secs(1), "took {took:?} to cancel");
    assert_eq!(checkpoint_files(&f).len(), 1, "the checkpoint is kept");
    s.clear_faults();
    o.request.cancel = None;
    let report = upload(&c, &f, "crawl", &o).unwrap();
    assert_eq!(report.checkpoint, CheckpointState::Resumed);
    assert_eq!(object(&c, "crawl"), f.data);
    assert_clean(&s, &f);
}

/// A stopped Initiate that reaches the server only after its upload completed (no
/// run of that upload is left to sweep) is aborted by the key's next run, whatever
/// that run's checkpoint says; the next run's own upload is spared.
#[test]
fn an_initiate_landing_after_completion_is_swept_by_the_keys_next_run() {
    let s = server();
    let f = fixture(4 * PART, 23);
    stop_during_initiate(&s, &f, "landed");
    let c = client(&s);
    let first = upload(&c, &f, "landed", &opts(&f)).unwrap();
    assert_eq!(first.uploads_aborted, 1, "{first:?}");
    assert_eq!(s.stats().uploads_in_progress, 0);
    // The stopped Initiate lands now, after the upload completed.
    c.initiate_multipart_upload(BUCKET, "landed", &[], false, &RequestOptions::default())
        .unwrap();
    assert_eq!(s.stats().uploads_in_progress, 1);
    // The key's next run (another file, so no checkpoint of its own) finds it.
    let g = Fixture {
        ckpt: f.ckpt.clone(),
        ..fixture(5 * PART, 24)
    };
    let second = upload(&c, &g, "landed", &opts(&g)).unwrap();
    assert_eq!(second.uploads_aborted, 1, "{second:?}");
    assert_eq!(object(&c, "landed"), g.data);
    assert_eq!(s.stats().uploads_in_progress, 0);
}
