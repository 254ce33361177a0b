//! Whole prefixes (`Client::upload_dir`, `Client::download_prefix`) against the local
//! server: trees up and down byte for byte, unchanged files skipped, hostile keys
//! refused, one failing file not stopping the rest, symlinks, globs, dry runs and
//! deletion.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use oss_resume::{
    Client, Compare, Config, DirOptions, DirProgress, DirReport, ErrorKind, PutSource,
    RequestOptions, RetryPolicy, SignatureVersion,
};
use oss_resume_server::{Server, ServerConfig};

const BUCKET: &str = "dir-bucket";

fn server() -> Server {
    let mut config = ServerConfig::new("dir-ak", "dir-sk");
    config.buckets = vec![BUCKET.into()];
    Server::start(config).unwrap()
}

fn client(s: &Server) -> Client {
    Client::new(
        Config::builder(&s.endpoint())
            .credentials("dir-ak", "dir-sk", None)
            .region("cn-hangzhou")
            .signature_version(SignatureVersion::V4)
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

/// Options for small test trees: large files from 1 MiB, in parts of 256 KiB.
fn opts() -> DirOptions {
    let mut o = DirOptions::default();
    o.large_threshold = 1024 * 1024;
    o.part_size = Some(256 * 1024);
    o
}

/// Every regular file under `dir`: relative path -> bytes.
fn tree(dir: &Path) -> BTreeMap<PathBuf, Vec<u8>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in fs::read_dir(&d).unwrap() {
            let path = entry.unwrap().path();
            let meta = fs::symlink_metadata(&path).unwrap();
            if meta.is_dir() {
                stack.push(path);
            } else {
                let rel = path.strip_prefix(dir).unwrap().to_path_buf();
                out.insert(rel, fs::read(&path).unwrap_or_default());
            }
        }
    }
    out
}

/// A tree of `small` files of up to 2 KiB in nested directories and `large` files
/// of 3 MiB.
fn make_tree(dir: &Path, small: usize, large: usize) {
    for i in 0..small {
        let path = dir.join(format!("d{}/s{}/f{i:05}.bin", i % 7, i % 3));
        fs::create_dir_all(path.parent().unwrap()).unwrap();
        fs::write(path, data(i % 2048, i as u64)).unwrap();
    }
    for i in 0..large {
        fs::write(
            dir.join(format!("large{i}.bin")),
            data(3 * 1024 * 1024 + i * 1000, 1000 + i as u64),
        )
        .unwrap();
    }
}

fn transferred(r: &DirReport) -> (u64, u64, u64) {
    (r.files_transferred, r.files_unchanged, r.files_failed())
}

/// Checks a finished run's progress calls: the totals never change, files and bytes
/// never step back nor pass the totals, the last call is at both totals, and the
/// file total is what the report counts as transferred or failed.
fn check_progress(calls: &[DirProgress], r: &DirReport) {
    let first = calls.first().expect("at least one progress call");
    let totals = (first.files_total, first.bytes_total);
    for (i, p) in calls.iter().enumerate() {
        assert_eq!((p.files_total, p.bytes_total), totals, "call {i}: {p:?}");
        assert!(p.files_done <= p.files_total && p.bytes_done <= p.bytes_total);
        if i > 0 {
            let before = &calls[i - 1];
            assert!(
                p.files_done >= before.files_done && p.bytes_done >= before.bytes_done,
                "call {i} steps back: {before:?} then {p:?}"
            );
            assert_ne!(p, before, "call {i} repeats the one before");
        }
    }
    let last = calls.last().unwrap();
    assert_eq!((last.files_done, last.bytes_done), totals, "{last:?}");
    assert_eq!(last.files_total, r.files_transferred + r.files_failed());
}

#[test]
fn two_thousand_small_files_and_three_large_ones_go_up_and_down_byte_identical() {
    let s = server();
    let c = client(&s);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    make_tree(&src, 2000, 3);
    let total: u64 = tree(&src).values().map(|v| v.len() as u64).sum();
    let mut calls = Vec::new();
    let mut progress = |p: &DirProgress| {
        calls.push(*p);
        true
    };
    let up = c
        .upload_dir(&src, BUCKET, "tree/", &opts(), Some(&mut progress))
        .unwrap();
    assert_eq!(transferred(&up), (2003, 0, 0), "{:?}", up.failed);
    assert_eq!(up.bytes_transferred, total);
    check_progress(&calls, &up);
    assert_eq!((calls[0].files_done, calls[0].bytes_done), (0, 0));
    assert_eq!(calls[0].bytes_total, total);
    // One call for the plan, one per finished file, and more while each large file
    // moves in parts: its bytes grow within the whole while no file finishes.
    assert!(calls.len() > 1 + 2003 + 3, "{} progress calls", calls.len());
    let within = calls
        .windows(2)
        .filter(|w| w[1].files_done == w[0].files_done && w[1].bytes_done > w[0].bytes_done)
        .count();
    assert!(within >= 3, "{within} calls inside the large files");
    // The large files went in parts: 12+ parts each.
    assert!(s.stats().requests_of("UploadPart") >= 36);
    assert_eq!(s.stats().requests_of("PutObject"), 2000);

    let dst = work.path().join("dst");
    let down = c
        .download_prefix(BUCKET, "tree/", &dst, &opts(), None)
        .unwrap();
    assert_eq!(transferred(&down), (2003, 0, 0), "{:?}", down.failed);
    assert_eq!(down.bytes_transferred, total);
    assert!(tree(&src) == tree(&dst), "the trees differ");
}

#[test]
fn a_second_run_skips_everything_and_after_three_changes_moves_exactly_those() {
    let s = server();
    let c = client(&s);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    make_tree(&src, 40, 1);
    c.upload_dir(&src, BUCKET, "sync/", &opts(), None).unwrap();
    s.reset_stats();
    let again = c.upload_dir(&src, BUCKET, "sync/", &opts(), None).unwrap();
    assert_eq!(transferred(&again), (0, 41, 0));
    assert_eq!(s.stats().bytes_received, 0, "nothing re-sent");

    // Same size, other bytes (only the CRC-64 tells); a longer file; a large one.
    let same_size = src.join("d1/s1/f00001.bin");
    let mut bytes = fs::read(&same_size).unwrap();
    bytes[0] ^= 0xFF;
    fs::write(&same_size, &bytes).unwrap();
    fs::write(src.join("d2/s2/f00002.bin"), b"longer now").unwrap();
    let mut large = fs::read(src.join("large0.bin")).unwrap();
    large[12345] ^= 1;
    fs::write(src.join("large0.bin"), &large).unwrap();
    s.reset_stats();
    let changed = c.upload_dir(&src, BUCKET, "sync/", &opts(), None).unwrap();
    assert_eq!(transferred(&changed), (3, 38, 0));
    assert_eq!(s.stats().requests_of("PutObject"), 2);
    assert_eq!(s.stats().requests_of("CompleteMultipartUpload"), 1);

    // Down: a fresh copy, then 3 local changes are put right and nothing else.
    let dst = work.path().join("dst");
    c.download_prefix(BUCKET, "sync/", &dst, &opts(), None)
        .unwrap();
    assert!(tree(&src) == tree(&dst));
    fs::write(dst.join("d0/s0/f00000.bin"), b"x").unwrap();
    fs::write(dst.join("d3/s0/f00003.bin"), vec![0u8; 3]).unwrap();
    fs::remove_file(dst.join("large0.bin")).unwrap();
    s.reset_stats();
    let fixed = c
        .download_prefix(BUCKET, "sync/", &dst, &opts(), None)
        .unwrap();
    assert_eq!(transferred(&fixed), (3, 38, 0));
    assert!(tree(&src) == tree(&dst));
    // Size + mtime mode: no HEAD and no read of a file.
    s.reset_stats();
    let mut quick = opts();
    quick.compare = Compare::SizeAndMtime;
    let r = c
        .download_prefix(BUCKET, "sync/", &dst, &quick, None)
        .unwrap();
    assert_eq!(transferred(&r), (0, 41, 0));
    assert_eq!(s.stats().requests_of("HeadObject"), 0);
}

#[test]
fn hostile_keys_are_refused_by_name_and_nothing_is_written_outside() {
    let s = server();
    let c = client(&s);
    let hostile = [
        "in/../x",
        "in//etc/x",
        "in/a//b",
        "in/a/../../b",
        "in/c/./d",
        "in/e\\..\\f",
    ];
    let put = |key: &str| {
        c.put_object(
            BUCKET,
            key,
            PutSource::Bytes(key.as_bytes()),
            &[],
            &RequestOptions::default(),
        )
        .unwrap();
    };
    for key in hostile
        .iter()
        .chain(&["in/ok/file", "in/clash", "in/clash/under", "in/esc/x"])
    {
        put(key);
    }
    let work = tempfile::tempdir().unwrap();
    let dst = work.path().join("target");
    // A local symbolic link on the way out of the target: nothing goes through it.
    let outside = tempfile::tempdir().unwrap();
    fs::create_dir_all(&dst).unwrap();
    std::os::unix::fs::symlink(outside.path(), dst.join("esc")).unwrap();
    let r = c
        .download_prefix(BUCKET, "in/", &dst, &opts(), None)
        .unwrap();
    let mut refused: Vec<&str> = r.failed.iter().map(|f| f.name.as_str()).collect();
    refused.sort();
    let mut want: Vec<&str> = hostile.to_vec();
    want.extend(["in/clash", "in/clash/under", "in/esc/x"]);
    want.sort();
    assert_eq!(refused, want, "{:#?}", r.failed);
    assert!(r.failed.iter().all(|f| f.reason.starts_with("refused: ")));
    assert_eq!(r.files_transferred, 1);
    // Only target/ok/file exists (and the link): nothing beside, above or
    // through it.
    let everything = tree(work.path());
    assert_eq!(
        everything.keys().collect::<Vec<_>>(),
        [
            &PathBuf::from("target/esc"),
            &PathBuf::from("target/ok/file")
        ]
    );
    assert_eq!(fs::read_dir(outside.path()).unwrap().count(), 0);
}

#[test]
fn one_failing_file_does_not_stop_the_others_and_is_reported_with_why() {
    let s = server();
    let c = client(&s);
    for i in 0..20 {
        s.put_object(BUCKET, &format!("f/{i:02}"), &data(100, i))
            .unwrap();
    }
    let work = tempfile::tempdir().unwrap();
    // A directory where file 07 must go: its rename fails, the rest arrive.
    fs::create_dir_all(work.path().join("07/inside")).unwrap();
    let r = c
        .download_prefix(BUCKET, "f/", work.path(), &opts(), None)
        .unwrap();
    assert_eq!(transferred(&r), (19, 0, 1), "{:?}", r.failed);
    assert_eq!(r.failed[0].name, "07");
    assert!(!r.failed[0].reason.is_empty());
    for i in (0..20).filter(|i| *i != 7) {
        assert_eq!(
            fs::read(work.path().join(format!("{i:02}"))).unwrap(),
            data(100, i)
        );
    }
}

/// Refused keys count as done from the first call and a file that fails counts
/// when it ends: the file total is transferred + failed, and the run still ends at
/// both totals.
#[test]
fn progress_counts_refused_and_failed_files_as_done_and_ends_at_both_totals() {
    let s = server();
    let c = client(&s);
    for i in 0..20 {
        s.put_object(BUCKET, &format!("p/{i:02}"), &data(100, i))
            .unwrap();
    }
    for key in ["p/../up", "p/a//b"] {
        s.put_object(BUCKET, key, b"x").unwrap();
    }
    let work = tempfile::tempdir().unwrap();
    fs::create_dir_all(work.path().join("07/inside")).unwrap();
    let mut calls = Vec::new();
    let mut progress = |p: &DirProgress| {
        calls.push(*p);
        true
    };
    let r = c
        .download_prefix(BUCKET, "p/", work.path(), &opts(), Some(&mut progress))
        .unwrap();
    assert_eq!(transferred(&r), (19, 0, 3), "{:?}", r.failed);
    check_progress(&calls, &r);
    let first = calls[0];
    assert_eq!(
        (first.files_done, first.files_total, first.bytes_done),
        (2, 22, 0),
        "{first:?}"
    );
    assert_eq!(first.bytes_total, 20 * 100);
}

/// A `false` from the callback cancels: among small files (the pool stops taking
/// files) and inside a large one (its parts stop; its checkpoint lets a rerun
/// finish it). No call follows the `false`.
#[test]
fn a_false_from_the_progress_callback_cancels_the_run() {
    let s = server();
    let c = client(&s);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    make_tree(&src, 60, 1);
    let ckpt = work.path().join("ckpt");
    let mut o = opts();
    o.threads = 2;
    o.checkpoint_dir = Some(ckpt.clone());

    // One thread: the next file is in flight when the callback says stop.
    let mut one = o.clone();
    one.threads = 1;
    let mut after_false = 0;
    let mut stopped = false;
    let mut progress = |p: &DirProgress| {
        after_false += u32::from(stopped);
        stopped = p.files_done >= 5;
        !stopped
    };
    let err = c
        .upload_dir(&src, BUCKET, "stop/", &one, Some(&mut progress))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert_eq!(after_false, 0, "a call after the false");
    let puts = s.stats().requests_of("PutObject");
    assert!(puts < 60, "{puts} of 60 small files were sent");
    assert_eq!(
        s.stats().requests_of("UploadPart"),
        0,
        "the large file never began"
    );

    // Now stop inside the large file, which moves after every small one: once 1 MiB
    // of it went (with 2 parts of 256 KiB at most in flight, 2 are recorded).
    let (mut after_false, mut stopped) = (0, false);
    let mut large_from = None;
    let mut progress = |p: &DirProgress| {
        after_false += u32::from(stopped);
        if p.files_done + 1 == p.files_total {
            large_from.get_or_insert(p.bytes_done);
        }
        stopped = large_from.is_some_and(|b| p.bytes_done >= b + 1024 * 1024);
        !stopped
    };
    let err = c
        .upload_dir(&src, BUCKET, "stop/", &o, Some(&mut progress))
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Cancelled, "{err}");
    assert_eq!(after_false, 0, "a call after the false");
    assert!(stopped);
    assert!(
        c.head_object(BUCKET, "stop/large0.bin", &RequestOptions::default())
            .is_err()
    );
    let parts_before = s.stats().requests_of("UploadPart");
    let r = c.upload_dir(&src, BUCKET, "stop/", &o, None).unwrap();
    assert_eq!(transferred(&r), (1, 60, 0), "{:?}", r.failed);
    assert!(
        s.stats().requests_of("UploadPart") - parts_before < 12,
        "the rerun resumed the large file"
    );
}

#[test]
fn symlinks_are_not_followed_unless_asked_and_are_reported() {
    let s = server();
    let c = client(&s);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    let outside = work.path().join("outside");
    fs::create_dir_all(&src).unwrap();
    fs::create_dir_all(&outside).unwrap();
    fs::write(src.join("real"), b"real").unwrap();
    fs::write(outside.join("secret"), b"secret").unwrap();
    std::os::unix::fs::symlink(&outside, src.join("linkdir")).unwrap();
    std::os::unix::fs::symlink(src.join("real"), src.join("linkfile")).unwrap();
    // A loop: followed once, not forever.
    std::os::unix::fs::symlink(&src, src.join("loop")).unwrap();
    let r = c.upload_dir(&src, BUCKET, "l/", &opts(), None).unwrap();
    assert_eq!(r.files_transferred, 1);
    let mut skipped = r.symlinks_skipped.clone();
    skipped.sort();
    assert_eq!(skipped, ["linkdir", "linkfile", "loop"]);
    let mut follow = opts();
    follow.follow_symlinks = true;
    let r = c.upload_dir(&src, BUCKET, "l/", &follow, None).unwrap();
    assert_eq!((r.files_transferred, r.files_unchanged), (2, 1), "{r:?}");
    let info = c
        .head_object(BUCKET, "l/linkdir/secret", &RequestOptions::default())
        .unwrap();
    assert_eq!(info.size, 6);
}

#[test]
fn globs_dry_runs_and_deleting_extraneous_files() {
    let s = server();
    let c = client(&s);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    fs::create_dir_all(src.join("logs")).unwrap();
    for name in ["a.bin", "b.bin", "c.tmp", "logs/x.bin"] {
        fs::write(src.join(name), name).unwrap();
    }
    let mut o = opts();
    o.include = vec!["*.bin".into()];
    o.exclude = vec!["logs/**".into()];
    o.dry_run = true;
    let r = c.upload_dir(&src, BUCKET, "g/", &o, None).unwrap();
    assert!(r.dry_run);
    assert_eq!(r.files_transferred, 2);
    assert_eq!(
        s.stats().requests_of("PutObject"),
        0,
        "a dry run sends nothing"
    );
    o.dry_run = false;
    let r = c.upload_dir(&src, BUCKET, "g/", &o, None).unwrap();
    assert_eq!(r.files_transferred, 2);
    // Extraneous objects under the prefix go with delete_extraneous; an excluded
    // one stays.
    s.put_object(BUCKET, "g/old.bin", b"old").unwrap();
    s.put_object(BUCKET, "g/logs/kept.bin", b"kept").unwrap();
    fs::remove_file(src.join("b.bin")).unwrap();
    o.delete_extraneous = true;
    o.dry_run = true;
    let r = c.upload_dir(&src, BUCKET, "g/", &o, None).unwrap();
    assert_eq!(r.deleted, ["g/b.bin", "g/old.bin"]);
    assert!(
        c.head_object(BUCKET, "g/old.bin", &RequestOptions::default())
            .is_ok()
    );
    o.dry_run = false;
    let r = c.upload_dir(&src, BUCKET, "g/", &o, None).unwrap();
    assert_eq!(r.deleted, ["g/b.bin", "g/old.bin"]);
    assert!(
        c.head_object(BUCKET, "g/old.bin", &RequestOptions::default())
            .is_err()
    );
    assert!(
        c.head_object(BUCKET, "g/logs/kept.bin", &RequestOptions::default())
            .is_ok()
    );
    // Down, locally: an extra local file is deleted, the excluded one is kept.
    let dst = work.path().join("dst");
    fs::create_dir_all(dst.join("logs")).unwrap();
    fs::write(dst.join("stray.bin"), b"stray").unwrap();
    fs::write(dst.join("logs/mine.bin"), b"mine").unwrap();
    let r = c.download_prefix(BUCKET, "g/", &dst, &o, None).unwrap();
    assert_eq!(r.deleted, ["stray.bin"]);
    assert!(dst.join("logs/mine.bin").exists());
    assert_eq!(fs::read(dst.join("a.bin")).unwrap(), b"a.bin");
}

#[test]
fn local_names_that_are_not_utf8_are_refused_by_name() {
    use std::os::unix::ffi::OsStrExt;
    let s = server();
    let c = client(&s);
    let work = tempfile::tempdir().unwrap();
    fs::write(work.path().join("good"), b"g").unwrap();
    let bad = std::ffi::OsStr::from_bytes(b"bad\xff.bin");
    fs::write(work.path().join(bad), b"b").unwrap();
    let r = c
        .upload_dir(work.path(), BUCKET, "u/", &opts(), None)
        .unwrap();
    assert_eq!(transferred(&r), (1, 0, 1));
    assert!(r.failed[0].reason.contains("UTF-8"), "{:?}", r.failed);
    assert!(r.failed[0].name.starts_with("bad"), "{:?}", r.failed);
}

#[test]
fn bad_options_are_refused_before_any_request() {
    let s = server();
    let c = client(&s);
    let work = tempfile::tempdir().unwrap();
    let mut o = DirOptions::default();
    o.threads = 0;
    assert!(c.upload_dir(work.path(), BUCKET, "x/", &o, None).is_err());
    let mut o = DirOptions::default();
    o.exclude = vec![String::new()];
    let err = c
        .download_prefix(BUCKET, "x/", work.path(), &o, None)
        .unwrap_err();
    assert!(err.to_string().contains("exclude"), "{err}");
    assert!(s.stats().requests.is_empty());
}

#[test]
fn four_shards_started_together_move_each_object_exactly_once() {
    let s = server();
    for i in 0..1000u64 {
        s.put_object(BUCKET, &format!("shard/{}/{i}", i % 10), &data(64, i))
            .unwrap();
    }
    let work = tempfile::tempdir().unwrap();
    let reports: Vec<DirReport> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..4u32)
            .map(|index| {
                let (c, dir) = (client(&s), work.path().to_path_buf());
                scope.spawn(move || {
                    let mut o = opts();
                    o.shard = Some((index, 4));
                    c.download_prefix(BUCKET, "shard/", &dir, &o, None).unwrap()
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let counts: Vec<u64> = reports.iter().map(|r| r.files_transferred).collect();
    assert_eq!(counts.iter().sum::<u64>(), 1000, "{counts:?}");
    assert!(counts.iter().all(|n| *n > 150), "a fair split: {counts:?}");
    assert_eq!(s.stats().requests_of("GetObject"), 1000);
    assert_eq!(tree(work.path()).len(), 1000);
    // The same slices up: every file once.
    s.reset_stats();
    for index in 0..4 {
        let mut o = opts();
        o.shard = Some((index, 4));
        o.compare = Compare::Never;
        client(&s)
            .upload_dir(work.path(), BUCKET, "copy/", &o, None)
            .unwrap();
    }
    assert_eq!(s.stats().requests_of("PutObject"), 1000);
    let mut bad = opts();
    bad.shard = Some((4, 4));
    assert!(
        client(&s)
            .upload_dir(work.path(), BUCKET, "x/", &bad, None)
            .is_err()
    );
}

#[test]
fn the_batch_journal_lets_a_rerun_skip_moved_files_without_a_head_or_a_crc() {
    let s = server();
    let c = client(&s);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    make_tree(&src, 30, 0);
    let mut o = opts();
    o.checkpoint_dir = Some(work.path().join("ckpt"));
    c.upload_dir(&src, BUCKET, "j/", &o, None).unwrap();
    s.reset_stats();
    let r = c.upload_dir(&src, BUCKET, "j/", &o, None).unwrap();
    assert_eq!(transferred(&r), (0, 30, 0));
    assert_eq!(
        s.stats().requests_of("HeadObject"),
        0,
        "the journal answered"
    );
    // A file rewritten with the same bytes: the journal no longer vouches for it,
    // the CRC-64 does (one HEAD).
    let same = src.join("d0/s0/f00000.bin");
    let bytes = fs::read(&same).unwrap();
    fs::write(&same, &bytes).unwrap();
    // A modification time surely unlike the recorded one.
    let later = std::time::SystemTime::now() + Duration::from_secs(5);
    let file = fs::File::options().write(true).open(&same).unwrap();
    file.set_modified(later).unwrap();
    s.reset_stats();
    let r = c.upload_dir(&src, BUCKET, "j/", &o, None).unwrap();
    assert_eq!(transferred(&r), (0, 30, 0));
    assert_eq!(s.stats().requests_of("HeadObject"), 1);
    // Without the journal every file is checked by HEAD and CRC-64.
    fs::remove_dir_all(work.path().join("ckpt")).unwrap();
    s.reset_stats();
    let r = c.upload_dir(&src, BUCKET, "j/", &o, None).unwrap();
    assert_eq!(transferred(&r), (0, 30, 0));
    assert_eq!(s.stats().requests_of("HeadObject"), 30);
    // Down: the same.
    let dst = work.path().join("dst");
    c.download_prefix(BUCKET, "j/", &dst, &o, None).unwrap();
    s.reset_stats();
    let r = c.download_prefix(BUCKET, "j/", &dst, &o, None).unwrap();
    assert_eq!(transferred(&r), (0, 30, 0));
    assert_eq!(s.stats().requests_of("HeadObject"), 0);
}

/// One thread budget for the whole run: with 3 threads, however many small files
/// and large files' parts there are, the run uses at most 3 connections for them
/// (plus the one the listing and the plan's requests use on the caller's thread),
/// both ways; connections go back to the client's pool and are reused.
#[test]
fn the_thread_budget_caps_the_connections_of_a_whole_run() {
    let s = server();
    let c = client(&s);
    let work = tempfile::tempdir().unwrap();
    let src = work.path().join("src");
    make_tree(&src, 300, 2);
    let mut o = opts();
    o.threads = 3;
    s.reset_stats();
    let up = c.upload_dir(&src, BUCKET, "budget/", &o, None).unwrap();
    assert_eq!(transferred(&up), (302, 0, 0), "{:?}", up.failed);
    let stats = s.stats();
    assert!(stats.requests_of("UploadPart") >= 24, "{stats:?}");
    assert!(
        stats.connections_accepted <= 4,
        "{} connections for 3 threads",
        stats.connections_accepted
    );
    s.reset_stats();
    let down = c
        .download_prefix(BUCKET, "budget/", work.path().join("dst"), &o, None)
        .unwrap();
    assert_eq!(transferred(&down), (302, 0, 0), "{:?}", down.failed);
    let stats = s.stats();
    assert!(stats.requests_of("GetObject") >= 300 + 24, "{stats:?}");
    assert!(
        stats.connections_accepted <= 4,
        "{} connections for 3 threads",
        stats.connections_accepted
    );
}
