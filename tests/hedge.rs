//! Hedged download parts against the local server's delay fault: a part whose answer
//! is late is requested again on another connection, the first answer wins, and
//! nothing is written, checked or counted twice.

mod common;

use std::time::{Duration, Instant};

use oss_resume::{
    CancelToken, Client, Config, DownloadOptions, Durability, ErrorKind, SignatureVersion,
};
use oss_resume_server::{Server, ServerConfig};

const BUCKET: &str = "hedge-bucket";
const PART: u64 = 1 << 20;
const PARTS: u64 = 24;
/// Answers the hedger needs before it hedges anything (4), and a margin for the
/// order in which four workers' requests reach the server.
const WARM_UP: usize = 8;

fn server() -> Server {
    let mut config = ServerConfig::new("hedge-ak", "hedge-sk");
    config.buckets = vec![BUCKET.into()];
    Server::start(config).unwrap()
}

fn client(s: &Server) -> Client {
    Client::new(
        Config::builder(&s.endpoint())
            .credentials("hedge-ak", "hedge-sk", None)
            .region("cn-hangzhou")
            .signature_version(SignatureVersion::V4)
            .build()
            .unwrap(),
    )
    .unwrap()
}

fn data(len: u64, seed: u64) -> Vec<u8> {
    let mut rng = fastrand::Rng::with_seed(seed);
    (0..len).map(|_| rng.u8(..)).collect()
}

fn opts(hedge: bool) -> DownloadOptions {
    let mut o = DownloadOptions::default();
    o.threads = 4;
    o.part_size = Some(PART);
    o.multiget_threshold = PART;
    o.durability = Durability::NoFsync;
    o.hedge = hedge;
    o
}

/// A seed for the delay fault's draw (the server's: fastrand from the seed) that
/// delays none of the first [`WARM_UP`] GETs and at least `want` of the rest of the
/// `PARTS`, so the hedger has its samples before the first late answer, and none of
/// the next 10 (most likely the hedges, sent a second later), so the test is quick.
fn seed_delaying_after_warm_up(rate: f64, want: usize) -> u64 {
    let parts = PARTS as usize;
    (0..100_000u64)
        .find(|seed| {
            let mut rng = fastrand::Rng::with_seed(*seed);
            let draws: Vec<bool> = (0..parts + 10).map(|_| rng.f64() < rate).collect();
            !draws[..WARM_UP].contains(&true)
                && draws[WARM_UP..parts].iter().filter(|d| **d).count() >= want
                && !draws[parts..].contains(&true)
        })
        .expect("a seed")
}

/// Puts the object and sets the delay fault on GETs: `rate` of them, `delay_ms` each.
fn delayed_object(s: &Server, rate: f64, delay_ms: u64, seed: u64) -> Vec<u8> {
    let object = data(PARTS * PART, seed);
    s.put_object(BUCKET, "obj", &object).unwrap();
    s.set_fault("delay_ms", &delay_ms.to_string()).unwrap();
    s.set_fault("delay_ops", "GetObject").unwrap();
    s.set_fault("delay_rate", &rate.to_string()).unwrap();
    s.set_fault("delay_seed", &seed.to_string()).unwrap();
    s.reset_stats();
    object
}

#[test]
fn late_parts_are_hedged_the_first_answer_wins_and_nothing_counts_twice() {
    let s = server();
    let seed = seed_delaying_after_warm_up(0.1, 2);
    // A hedge ends the wait after 1 s (unless the hedge is drawn late too).
    let object = delayed_object(&s, 0.1, 10_000, seed);
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let target = dir.path().join("obj");
    let mut shown = 0;
    let mut progress = |done: u64, total: u64| {
        assert!(
            done >= shown && done <= total,
            "{done} after {shown} of {total}"
        );
        shown = done;
        true
    };
    let report = c
        .download(BUCKET, "obj", &target, &opts(true), Some(&mut progress))
        .unwrap();
    assert!(report.verified);
    assert!(std::fs::read(&target).unwrap() == object);
    assert_eq!(shown, object.len() as u64);
    assert_eq!(report.bytes_fetched, object.len() as u64, "counted once");
    let stats = s.stats();
    let delayed = stats.faults_of("delay");
    assert!(delayed >= 2, "{delayed} late answers");
    assert!(report.parts_hedged >= 1, "{report:?}");
    assert!(report.parts_hedged <= delayed, "only late parts are hedged");
    // Every answer beyond one per part is the other half of a hedged pair, and a
    // dropped loser costs at most its part's bytes (usually none: it is dropped
    // before its answer begins).
    let answered = stats.requests_of("GetObject");
    assert!(
        answered >= PARTS && answered <= PARTS + report.parts_hedged,
        "{stats:?}"
    );
    // The first answer won, without waiting for the other: when the download
    // returned, the loser of each hedged pair was still held back (the server
    // counts a request once it answers it, and a late one waits 10 s).
    assert!(
        answered < PARTS + report.parts_hedged,
        "every late answer had come before the download ended: {stats:?}"
    );
    let served = stats.bytes_served;
    assert!(served >= object.len() as u64);
    assert!(
        served <= object.len() as u64 + report.parts_hedged * PART,
        "{served}"
    );
}

#[test]
fn with_hedging_off_a_late_part_is_waited_for() {
    let s = server();
    let seed = seed_delaying_after_warm_up(0.1, 1);
    let object = delayed_object(&s, 0.1, 1500, seed);
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let report = c
        .download(BUCKET, "obj", dir.path().join("obj"), &opts(false), None)
        .unwrap();
    assert!(report.verified);
    assert_eq!(report.parts_hedged, 0);
    assert!(s.stats().faults_of("delay") >= 1);
    assert_eq!(s.stats().requests_of("GetObject"), PARTS);
    assert!(std::fs::read(dir.path().join("obj")).unwrap() == object);
}

#[test]
fn no_part_is_hedged_once_the_server_answered_503() {
    let s = server();
    let seed = seed_delaying_after_warm_up(0.15, 2);
    let object = delayed_object(&s, 0.15, 1500, seed);
    // The first GET is refused with 503 (and retried): the server asks for less.
    s.set_fault("error_ops", "GetObject").unwrap();
    s.set_fault("error_burst", "1").unwrap();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let report = c
        .download(BUCKET, "obj", dir.path().join("obj"), &opts(true), None)
        .unwrap();
    assert!(std::fs::read(dir.path().join("obj")).unwrap() == object);
    let stats = s.stats();
    assert_eq!(stats.requests_with("GetObject", 503), 1);
    assert!(
        stats.faults_of("delay") >= 2,
        "late answers came: {stats:?}"
    );
    assert_eq!(report.parts_hedged, 0, "none after the 503");
}

#[test]
fn cancelling_stops_a_part_and_its_hedge_promptly() {
    let s = server();
    let object = data(PARTS * PART, 5);
    s.put_object(BUCKET, "obj", &object).unwrap();
    s.reset_stats();
    let c = client(&s);
    let dir = tempfile::tempdir().unwrap();
    let token = CancelToken::new();
    let mut o = opts(true);
    o.request.cancel = Some(token.clone());
    let started_at = std::sync::Mutex::new(None);
    let (result, took) = std::thread::scope(|scope| {
        let run = scope.spawn(|| c.download(BUCKET, "obj", dir.path().join("obj"), &o, None));
        // Once the hedger has its samples, every answer is 20 s late.
        let wait = |what: &str, cond: &dyn Fn() -> bool| {
            let deadline = Instant::now() + Duration::from_secs(30);
            while !cond() {
                assert!(Instant::now() < deadline, "timed out waiting for {what}");
                std::thread::sleep(Duration::from_millis(5));
            }
        };
        wait("warm-up answers", &|| {
            s.stats().requests_of("GetObject") >= WARM_UP as u64
        });
        s.set_fault("delay_ms", "20000").unwrap();
        s.set_fault("delay_rate", "1").unwrap();
        // A hedge is out: more late GETs than the 4 workers' own.
        wait("a hedge", &|| s.stats().faults_of("delay") > 4);
        *started_at.lock().unwrap() = Some(Instant::now());
        token.cancel();
        let result = run.join().unwrap();
        (result, started_at.lock().unwrap().unwrap().elapsed())
    });
    assert_eq!(result.unwrap_err().kind(), ErrorKind::Cancelled);
    assert!(
        took < Duration::from_secs(2),
        "returned {took:?} after the cancel"
    );
}
