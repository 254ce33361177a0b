//! A local OSS-compatible server for testing oss_resume with no cloud account.
//!
//! It speaks the OSS object and multipart API (path-style and virtual-hosted
//! addressing), verifies V1 and V4 signatures strictly, stores objects in memory or
//! under a data directory, and misbehaves on demand: see [`Faults`] and the control
//! endpoint under `/_ossr/`. `ossr serve` runs it as a process; tests start it
//! in-process with [`Server::start`].
//!
//! Control endpoint (no authentication; the server binds to loopback):
//! - `GET /_ossr/faults`: the switches as JSON; `POST /_ossr/faults?name=value&...`
//!   sets switches; `DELETE /_ossr/faults` switches everything off.
//! - `GET /_ossr/stats`: counters as JSON; `DELETE /_ossr/stats` zeroes them.
//! - `GET /_ossr/traffic?window_ms=N`: body bytes sent and received per window of N
//!   ms (default 250) since the counters were zeroed, as JSON ([`Traffic`]).

#![forbid(unsafe_code)]

mod auth;
mod copy;
mod error;
mod faults;
mod http;
mod list;
mod ops;
mod store;

use std::collections::HashMap;
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;

pub use faults::{FAULT_SWITCHES, Faults, Stats, TRAFFIC_TICK, Traffic};

use auth::Account;
use error::OssError;
use http::{Body, BodyFraming, RequestHead};
use ops::{Ctx, Op, Response, ResponseBody};
use store::{OpenBlob, Store};

/// Request bodies up to this size are read and dropped after an early error answer, so
/// the connection can be kept; longer ones close it.
const DRAIN_LIMIT: u64 = 1024 * 1024;
/// Buffer for streaming object bodies from disk.
const FAST_COPY_BUFFER: usize = 1024 * 1024;
/// Idle time after which a kept-alive connection is closed.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);

/// How to run the server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Address to listen on. Defaults to `127.0.0.1:0` (a free port).
    pub listen: SocketAddr,
    /// The access key id requests must be signed with.
    pub access_key_id: String,
    /// The matching secret.
    pub access_key_secret: String,
    /// When set, every request must carry this STS token.
    pub sts_token: Option<String>,
    /// Region V4 signatures must be scoped to. Defaults to `cn-hangzhou`.
    pub region: String,
    /// Store objects under this directory (kept across restarts) instead of in memory.
    pub data_dir: Option<PathBuf>,
    /// Buckets to create at start-up.
    pub buckets: Vec<String>,
    /// Fault switches to set at start-up, as `name=value`.
    pub faults: Vec<String>,
    /// The largest source CopyObject copies; larger ones are refused with 400
    /// `EntityTooLarge`, as OSS refuses them (UploadPartCopy has no such limit).
    /// Defaults to [`COPY_OBJECT_LIMIT`] (1 GiB); tests set less.
    pub copy_object_limit: u64,
}

/// The largest source OSS's CopyObject copies: 1 GiB.
pub const COPY_OBJECT_LIMIT: u64 = 1024 * 1024 * 1024;

impl ServerConfig {
    /// A configuration with the given credentials and the defaults above.
    pub fn new(access_key_id: &str, access_key_secret: &str) -> ServerConfig {
        ServerConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            access_key_id: access_key_id.to_string(),
            access_key_secret: access_key_secret.to_string(),
            sts_token: None,
            region: "cn-hangzhou".to_string(),
            data_dir: None,
            buckets: Vec::new(),
            faults: Vec::new(),
            copy_object_limit: COPY_OBJECT_LIMIT,
        }
    }
}

struct Shared {
    account: Account,
    store: Store,
    faults: Mutex<Faults>,
    stats: Mutex<Stats>,
    stopping: AtomicBool,
    connections: Mutex<HashMap<u64, TcpStream>>,
    next_connection: AtomicU64,
    copy_object_limit: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // The guarded data stays consistent even if a connection thread panicked.
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running server. Dropping it stops it.
pub struct Server {
    shared: Arc<Shared>,
    addr: SocketAddr,
    accept: Option<JoinHandle<()>>,
}

impl Server {
    /// Starts listening and serving on background threads.
    pub fn start(config: ServerConfig) -> io::Result<Server> {
        let mut faults = Faults::default();
        for pair in &config.faults {
            faults
                .apply_pair(pair)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
        }
        let store = Store::open(config.data_dir.as_deref(), &config.buckets)?;
        let listener = TcpListener::bind(config.listen)?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            account: Account {
                access_key_id: config.access_key_id,
                access_key_secret: config.access_key_secret,
                sts_token: config.sts_token,
                region: config.region,
            },
            store,
            faults: Mutex::new(faults),
            stats: Mutex::new(Stats::default()),
            stopping: AtomicBool::new(false),
            connections: Mutex::new(HashMap::new()),
            next_connection: AtomicU64::new(1),
            copy_object_limit: config.copy_object_limit,
        });
        let accept_shared = shared.clone();
        let accept = std::thread::Builder::new()
            .name("ossr-accept".into())
            .spawn(move || accept_loop(accept_shared, listener))?;
        Ok(Server {
            shared,
            addr,
            accept: Some(accept),
        })
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://HOST:PORT`.
    pub fn endpoint(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Sets one fault switch (see [`FAULT_SWITCHES`]).
    pub fn set_fault(&self, name: &str, value: &str) -> Result<(), String> {
        lock(&self.shared.faults).apply(name, value)
    }

    /// Switches every fault off.
    pub fn clear_faults(&self) {
        *lock(&self.shared.faults) = Faults::default();
    }

    /// The fault switches as they are now.
    pub fn faults(&self) -> Faults {
        lock(&self.shared.faults).clone()
    }

    /// The counters as they are now.
    pub fn stats(&self) -> Stats {
        snapshot_stats(&self.shared)
    }

    /// Body bytes sent and received over time since the counters were zeroed.
    pub fn traffic(&self) -> Traffic {
        lock(&self.shared.stats).traffic.clone()
    }

    /// Zeroes the counters (and restarts the traffic timeline).
    pub fn reset_stats(&self) {
        *lock(&self.shared.stats) = Stats::default();
    }

    /// Creates a bucket.
    pub fn create_bucket(&self, name: &str) -> io::Result<()> {
        self.shared.store.create_bucket(name)
    }

    /// Stores an object directly, without a request (test set-up).
    pub fn put_object(&self, bucket: &str, key: &str, data: &[u8]) -> io::Result<()> {
        self.put_object_from(bucket, key, &mut io::Cursor::new(data))
    }

    /// Stores an object read from `source` directly, without a request (test set-up).
    pub fn put_object_from(
        &self,
        bucket: &str,
        key: &str,
        source: &mut dyn Read,
    ) -> io::Result<()> {
        let store = &self.shared.store;
        let received = store.receive(bucket, source)?;
        let now = store::now_secs(lock(&self.shared.faults).clock_offset_secs);
        store
            .put_object(
                bucket,
                key,
                received,
                "application/octet-stream".to_string(),
                Vec::new(),
                now,
            )
            .map(|_| ())
            .map_err(|e| io::Error::other(e.message))
    }

    /// Stops accepting, closes every connection and waits for the accept thread.
    pub fn stop(mut self) {
        self.shutdown();
    }

    fn shutdown(&mut self) {
        self.shared.stopping.store(true, Ordering::SeqCst);
        // Wake the accept loop.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_secs(1));
        if let Some(handle) = self.accept.take() {
            let _ = handle.join();
        }
        for (_, conn) in lock(&self.shared.connections).drain() {
            let _ = conn.shutdown(Shutdown::Both);
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if self.accept.is_some() {
            self.shutdown();
        }
    }
}

fn snapshot_stats(shared: &Shared) -> Stats {
    let mut stats = lock(&shared.stats).clone();
    stats.uploads_in_progress = shared.store.uploads_in_progress();
    stats
}

fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    for stream in listener.incoming() {
        if shared.stopping.load(Ordering::SeqCst) {
            break;
        }
        let Ok(stream) = stream else { continue };
        lock(&shared.stats).connections_accepted += 1;
        let socket_buffer = lock(&shared.faults).socket_buffer;
        if socket_buffer > 0 {
            let size = usize::try_from(socket_buffer).unwrap_or(usize::MAX);
            let _ = rustix::net::sockopt::set_socket_send_buffer_size(&stream, size);
        }
        let id = shared.next_connection.fetch_add(1, Ordering::Relaxed);
        if let Ok(clone) = stream.try_clone() {
            lock(&shared.connections).insert(id, clone);
        }
        let conn_shared = shared.clone();
        let spawned = std::thread::Builder::new()
            .name("ossr-conn".into())
            .spawn(move || {
                serve_connection(&conn_shared, stream);
                lock(&conn_shared.connections).remove(&id);
            });
        if spawned.is_err() {
            lock(&shared.connections).remove(&id);
        }
    }
}

fn serve_connection(shared: &Shared, stream: TcpStream) {
    let _ = stream.set_nodelay(true);
    let _ = stream.set_read_timeout(Some(IDLE_TIMEOUT));
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::with_capacity(256 * 1024, read_half);
    let mut throttle = Throttle::default();
    while !shared.stopping.load(Ordering::SeqCst) {
        let head = match http::read_head(&mut reader) {
            Ok(Some(head)) => head,
            Ok(None) => break,
            Err(e) => {
                if e.kind() == io::ErrorKind::InvalidData {
                    let err = OssError::invalid_argument(&e.to_string());
                    let _ = write_error(&stream, &err, &request_id(), "", false, true, 0);
                }
                break;
            }
        };
        match handle(shared, &head, &mut reader, &stream, &mut throttle) {
            Ok(true) => {}
            Ok(false) | Err(_) => break,
        }
    }
    let _ = stream.shutdown(Shutdown::Both);
}

fn request_id() -> String {
    format!("{:08X}{:016X}", fastrand::u32(..), fastrand::u64(..))
}

/// The Host header without its port.
fn host_name(head: &RequestHead) -> String {
    let host = head.header("host").unwrap_or("");
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or("").to_string();
    }
    host.rsplit_once(':')
        .map(|(h, _)| h)
        .unwrap_or(host)
        .to_ascii_lowercase()
}

/// Bucket and key from the Host and path: virtual-hosted when the Host's first label
/// names a bucket, path-style otherwise.
fn route(shared: &Shared, head: &RequestHead, path: &str) -> (Option<String>, Option<String>) {
    let host = host_name(head);
    let is_ip = host.parse::<std::net::IpAddr>().is_ok() || host == "localhost";
    let rest = path.strip_prefix('/').unwrap_or(path);
    if !is_ip
        && let Some((label, _)) = host.split_once('.')
        && shared.store.has_bucket(label)
    {
        let key = (!rest.is_empty()).then(|| rest.to_string());
        return (Some(label.to_string()), key);
    }
    if rest.is_empty() {
        return (None, None);
    }
    match rest.split_once('/') {
        None => (Some(rest.to_string()), None),
        Some((bucket, key)) => (
            Some(bucket.to_string()),
            (!key.is_empty()).then(|| key.to_string()),
        ),
    }
}

/// Handles one request; returns whether the connection stays open.
fn handle(
    shared: &Shared,
    head: &RequestHead,
    reader: &mut BufReader<TcpStream>,
    stream: &TcpStream,
    throttle: &mut Throttle,
) -> io::Result<bool> {
    let (latency, clock_offset) = {
        let f = lock(&shared.faults);
        (f.latency, f.clock_offset_secs)
    };
    if !latency.is_zero() {
        std::thread::sleep(latency);
    }
    let id = request_id();
    let is_head = head.method == "HEAD";
    let mut keep = http::keep_alive(head);
    let framing = match BodyFraming::of(head) {
        Ok(f) => f,
        Err(why) => {
            write_error(
                stream,
                &OssError::invalid_argument(why),
                &id,
                "",
                is_head,
                true,
                clock_offset,
            )?;
            return Ok(false);
        }
    };
    let (path, query) = match http::split_target(&head.target) {
        Ok(t) => t,
        Err(why) => {
            let err = OssError::new(400, "InvalidURI", why);
            write_error(stream, &err, &id, "", is_head, true, clock_offset)?;
            return Ok(false);
        }
    };
    let mut body = Body::new(reader, framing);
    if let Some(control) = path.strip_prefix("/_ossr/") {
        let response = control_endpoint(shared, &head.method, control, &query);
        keep &= body.drain(DRAIN_LIMIT)?;
        write_response(shared, stream, response, &id, None, !keep, throttle)?;
        return Ok(keep);
    }
    let host = head.header("host").unwrap_or("").to_string();
    let (bucket, key) = route(shared, head, &path);
    let now = store::now_secs(clock_offset);
    let host_id = bucket
        .as_deref()
        .map(|b| format!("{b}.{}", host_name(head)))
        .unwrap_or_else(|| host_name(head));

    let op = ops::operation(
        &head.method,
        bucket.as_deref(),
        key.as_deref(),
        &query,
        head,
    );
    let op_name = op.as_ref().map(|o| o.name()).unwrap_or("Unsupported");
    let expects_continue = head
        .header("expect")
        .is_some_and(|v| v.eq_ignore_ascii_case("100-continue"));

    let prepared: Result<Op, OssError> = (|| {
        auth::authenticate(
            &shared.account,
            &auth::Incoming {
                head,
                bucket: bucket.as_deref(),
                key: key.as_deref(),
                query: &query,
                now,
            },
        )?;
        let op = op.clone()?;
        let bucket_name = bucket.as_deref().unwrap_or("");
        if !shared.store.has_bucket(bucket_name) {
            return Err(OssError::no_such_bucket(bucket_name));
        }
        let injected = {
            let mut f = lock(&shared.faults);
            f.take_error(op.name()).map(|s| (s, f.qos_delay_ms))
        };
        if let Some((status, delay)) = injected {
            let mut stats = lock(&shared.stats);
            stats.faults_injected += 1;
            stats.note_fault(&format!("error_{status}"));
            drop(stats);
            let mut err = injected_error(status);
            if delay > 0 {
                err.headers
                    .push(("x-oss-qos-delay-time".into(), delay.to_string()));
            }
            return Err(err);
        }
        Ok(op)
    })();

    let result: Result<(Response, bool), OssError> = prepared.and_then(|op| {
        let ctx = Ctx {
            store: &shared.store,
            head,
            bucket: bucket.as_deref().unwrap_or(""),
            key: key.as_deref().unwrap_or(""),
            query: &query,
            now,
            host: &host,
            copy_limit: shared.copy_object_limit,
        };
        if op.reads_body() && expects_continue {
            // Errors found before the body is read are answered without inviting it.
            if op == Op::UploadPart {
                ops::check_upload_part(&ctx)?;
            }
            let mut w = stream;
            w.write_all(b"HTTP/1.1 100 Continue\r\n\r\n")
                .map_err(|e| OssError::internal(&format!("writing 100 Continue: {e}")))?;
        }
        let (cut_after, recv_bandwidth) = if op.reads_body() {
            let mut faults = lock(&shared.faults);
            let cut = faults.take_request_drop();
            if cut.is_some() {
                lock(&shared.stats).note_fault("drop_request_after_bytes");
            }
            (cut, faults.recv_bandwidth)
        } else {
            (None, 0)
        };
        let mut counted = CountingReader {
            inner: &mut body,
            stats: &shared.stats,
            read: 0,
            cut_after,
            stream,
            recv_bandwidth,
            throttle: Throttle::default(),
        };
        let response = match op {
            Op::HeadObject | Op::GetObjectMeta | Op::GetObject => return ops::get_object(&ctx, op),
            Op::PutObject => ops::put_object(&ctx, &mut counted),
            Op::DeleteObject => ops::delete_object(&ctx),
            Op::InitiateMultipartUpload => ops::initiate(&ctx),
            Op::UploadPart => {
                let number = ops::check_upload_part(&ctx)?;
                ops::upload_part(&ctx, number, &mut counted)
            }
            Op::ListParts => ops::list_parts(&ctx),
            Op::CompleteMultipartUpload => ops::complete(&ctx, &mut counted),
            Op::AbortMultipartUpload => ops::abort(&ctx),
            Op::ListMultipartUploads => ops::list_uploads(&shared.store, ctx.bucket, &query),
            Op::ListObjects => list::list_objects(&ctx, false),
            Op::ListObjectsV2 => list::list_objects(&ctx, true),
            Op::CopyObject | Op::UploadPartCopy => {
                let mut copied = 0;
                let response = if op == Op::CopyObject {
                    copy::copy_object(&ctx, &mut copied)
                } else {
                    copy::upload_part_copy(&ctx, &mut copied)
                };
                lock(&shared.stats).bytes_copied += copied;
                response
            }
        }?;
        Ok((response, false))
    });

    // A body that was not fully read: drain a small one, else close.
    if !body.is_complete() {
        if expects_continue || body.received > 0 && !matches!(framing, BodyFraming::Length(_)) {
            keep = false;
        } else {
            match body.drain(DRAIN_LIMIT) {
                Ok(true) => {}
                _ => keep = false,
            }
        }
    }

    if let Ok(op) = &op {
        hold_back(shared, op.name());
    }
    match result {
        Ok((response, ranged)) => {
            let op_ok = op.clone().ok();
            if let Some(op) = op_ok
                && lock(&shared.faults).take_lost_response(op.name())
            {
                lock(&shared.stats).count(op.name(), 0);
                lock(&shared.stats).note_fault("lose_response");
                let _ = stream.shutdown(Shutdown::Both);
                return Ok(false);
            }
            let status = response.status;
            lock(&shared.stats).count(op_name, status);
            if ranged {
                lock(&shared.stats).ranges_served += 1;
            }
            // The answer streams the version it opened; the rewrite takes effect before
            // it is sent, so whatever the client does next sees the new version.
            if ranged && take_rewrite(shared, key.as_deref().unwrap_or("")) {
                let _ = shared.store.rewrite_object(
                    bucket.as_deref().unwrap_or(""),
                    key.as_deref().unwrap_or(""),
                    store::now_secs(clock_offset),
                );
            }
            let body_faults = if matches!(response.body, ResponseBody::Object { .. }) {
                let len = match &response.body {
                    ResponseBody::Object { len, .. } => *len,
                    _ => 0,
                };
                let taken = lock(&shared.faults).take_body_faults(len);
                let mut stats = lock(&shared.stats);
                if taken.drop_after.is_some_and(|cut| cut < len) {
                    stats.note_fault("drop_after_bytes");
                }
                if taken.flip_at.is_some() {
                    stats.note_fault("flip_count");
                }
                if taken.stall.is_some_and(|(after, _)| after < len) {
                    stats.note_fault("stall_count");
                }
                Some(taken)
            } else {
                None
            };
            write_response(shared, stream, response, &id, body_faults, !keep, throttle)?;
            Ok(keep)
        }
        Err(err) => {
            lock(&shared.stats).count(op_name, err.status);
            write_error(stream, &err, &id, &host_id, is_head, !keep, clock_offset)?;
            Ok(keep)
        }
    }
}

/// Sleeps before an answer when the delay fault picks this request, and counts it.
fn hold_back(shared: &Shared, op: &str) {
    let Some(delay) = lock(&shared.faults).take_delay(op) else {
        return;
    };
    lock(&shared.stats).note_fault("delay");
    std::thread::sleep(delay);
}

fn injected_error(status: u16) -> OssError {
    match status {
        500 => OssError::internal(
            "We encountered an internal error. Please try again. (injected fault)",
        ),
        429 => OssError::new(
            429,
            "TooManyRequests",
            "Please reduce your request rate. (injected fault)",
        ),
        403 => {
            OssError::access_denied("The server will not carry out this request. (injected fault)")
        }
        _ => OssError::new(
            503,
            "ServiceUnavailable",
            "Please reduce your request rate. (injected fault)",
        ),
    }
}

/// Counts a ranged GET of the rewrite fault's key; true when this one triggers it.
fn take_rewrite(shared: &Shared, key: &str) -> bool {
    let mut f = lock(&shared.faults);
    if f.rewrite_key.as_deref() != Some(key) {
        return false;
    }
    f.rewrite_seen += 1;
    if f.rewrite_seen >= f.rewrite_after.max(1) {
        f.rewrite_key = None;
        return true;
    }
    false
}

/// Counts request body bytes as they are read.
/// Counts request body bytes as they are read, and cuts the connection after
/// `cut_after` bytes when the request-drop fault chose this request.
struct CountingReader<'a, R: Read> {
    inner: &'a mut R,
    stats: &'a Mutex<Stats>,
    read: u64,
    cut_after: Option<u64>,
    stream: &'a TcpStream,
    /// Bytes per second to read the body at (0: as fast as it comes).
    recv_bandwidth: u64,
    throttle: Throttle,
}

impl<R: Read> Read for CountingReader<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut want = buf.len();
        if let Some(cut) = self.cut_after {
            if self.read >= cut {
                let _ = self.stream.shutdown(Shutdown::Both);
                return Err(io::Error::new(
                    io::ErrorKind::ConnectionAborted,
                    "connection dropped by fault",
                ));
            }
            want = want.min(usize::try_from(cut - self.read).unwrap_or(want));
        }
        if self.recv_bandwidth > 0 {
            // Small reads, so the pacing is smooth at the sender.
            want = want.min((self.recv_bandwidth / 20).clamp(1024, 64 * 1024) as usize);
        }
        let n = self.inner.read(&mut buf[..want])?;
        self.read += n as u64;
        let mut stats = lock(self.stats);
        stats.bytes_received += n as u64;
        stats.traffic.note_received(n as u64);
        drop(stats);
        self.throttle.pace(self.recv_bandwidth, n as u64);
        Ok(n)
    }
}

fn common_headers(headers: &mut Vec<(String, String)>, id: &str, clock_offset: i64) {
    headers.push(("x-oss-request-id".into(), id.to_string()));
    headers.push((
        "Date".into(),
        httpdate::fmt_http_date(store::now_secs(clock_offset)),
    ));
    headers.push(("Server".into(), "AliyunOSS".into()));
}

#[allow(clippy::too_many_arguments)]
fn write_error(
    stream: &TcpStream,
    err: &OssError,
    id: &str,
    host_id: &str,
    is_head: bool,
    close: bool,
    clock_offset: i64,
) -> io::Result<()> {
    let xml = err.to_xml(id, host_id);
    let mut headers = Vec::new();
    common_headers(&mut headers, id, clock_offset);
    headers.push(("x-oss-ec".into(), err.ec().to_string()));
    headers.push(("Content-Type".into(), "application/xml".into()));
    headers.extend(err.headers.iter().cloned());
    if is_head {
        headers.push((
            "x-oss-err".into(),
            base64::engine::general_purpose::STANDARD.encode(xml.as_bytes()),
        ));
        headers.push(("Content-Length".into(), "0".into()));
        let mut w = stream;
        http::write_head(&mut w, err.status, &headers, close)?;
        return w.flush();
    }
    headers.push(("Content-Length".into(), xml.len().to_string()));
    let mut w = stream;
    http::write_head(&mut w, err.status, &headers, close)?;
    w.write_all(xml.as_bytes())?;
    w.flush()
}

/// Paces a connection's response bytes to the bandwidth cap.
#[derive(Default)]
struct Throttle {
    started: Option<Instant>,
    sent: u64,
}

impl Throttle {
    fn pace(&mut self, rate: u64, n: u64) {
        if rate == 0 {
            return;
        }
        let started = *self.started.get_or_insert_with(Instant::now);
        self.sent += n;
        let due = Duration::from_secs_f64(self.sent as f64 / rate as f64);
        let elapsed = started.elapsed();
        if due > elapsed {
            std::thread::sleep(due - elapsed);
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn write_response(
    shared: &Shared,
    stream: &TcpStream,
    response: Response,
    id: &str,
    body_faults: Option<faults::BodyFaults>,
    close: bool,
    throttle: &mut Throttle,
) -> io::Result<()> {
    let clock_offset = lock(&shared.faults).clock_offset_secs;
    let Response {
        status,
        mut headers,
        body,
    } = response;
    if lock(&shared.faults).omit_crc {
        headers.retain(|(n, _)| !n.eq_ignore_ascii_case("x-oss-hash-crc64ecma"));
    }
    common_headers(&mut headers, id, clock_offset);
    let length = match &body {
        ResponseBody::Empty => 0,
        ResponseBody::Bytes(b) => b.len() as u64,
        ResponseBody::Object { len, .. } => *len,
        ResponseBody::HeadOnly(n) => *n,
    };
    if status != 304 {
        headers.push(("Content-Length".into(), length.to_string()));
    }
    let mut w = stream;
    http::write_head(&mut w, status, &headers, close)?;
    match body {
        ResponseBody::Empty | ResponseBody::HeadOnly(_) => w.flush(),
        ResponseBody::Bytes(bytes) => {
            w.write_all(&bytes)?;
            w.flush()
        }
        ResponseBody::Object { blob, offset, len } => {
            let faults = body_faults.unwrap_or_default();
            let mut sent = 0u64;
            // With a small send buffer (rate tests), small writes too, so the
            // timeline follows the client's reads closely.
            let socket_buffer = lock(&shared.faults).socket_buffer;
            let mut out = Sent {
                stream,
                stats: &shared.stats,
                count: &mut sent,
                slice: match socket_buffer {
                    0 => FAST_COPY_BUFFER,
                    n => usize::try_from(n)
                        .unwrap_or(FAST_COPY_BUFFER)
                        .clamp(4096, 64 * 1024),
                },
            };
            let result = send_object(&mut out, blob, offset, len, &faults, throttle);
            lock(&shared.stats).bytes_served += sent;
            result
        }
    }
}

/// A response body's way to its socket: each write is counted as it is made, in
/// `count` and in the traffic timeline.
struct Sent<'a> {
    stream: &'a TcpStream,
    stats: &'a Mutex<Stats>,
    count: &'a mut u64,
    /// Largest write: the timeline counts a write once it is accepted whole.
    slice: usize,
}

impl Sent<'_> {
    fn send(&mut self, bytes: &[u8]) -> io::Result<()> {
        let mut w = self.stream;
        for piece in bytes.chunks(self.slice) {
            w.write_all(piece)?;
            *self.count += piece.len() as u64;
            lock(self.stats).traffic.note_sent(piece.len() as u64);
        }
        Ok(())
    }
}

/// Streams `len` bytes of an object from `offset`, applying body faults.
fn send_object(
    out: &mut Sent<'_>,
    blob: OpenBlob,
    offset: u64,
    len: u64,
    faults: &faults::BodyFaults,
    throttle: &mut Throttle,
) -> io::Result<()> {
    let stream = out.stream;
    let mut w = stream;
    match blob {
        OpenBlob::Disk(file) if faults.is_clean() => {
            // Large positioned reads and writes: std's io::copy moves 8 KiB at a time
            // here, which caps a GET well below loopback speed.
            use std::os::unix::fs::FileExt;
            let mut buf = vec![0u8; FAST_COPY_BUFFER];
            while *out.count < len {
                let want = buf
                    .len()
                    .min(usize::try_from(len - *out.count).unwrap_or(buf.len()));
                let n = file.read_at(&mut buf[..want], offset + *out.count)?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "object file shorter than recorded",
                    ));
                }
                out.send(&buf[..n])?;
            }
            Ok(())
        }
        OpenBlob::Memory(data) if faults.is_clean() => {
            let start = usize::try_from(offset).unwrap_or(usize::MAX);
            let end = start + usize::try_from(len).unwrap_or(0);
            // In chunks, so the traffic timeline follows the socket.
            for chunk in data[start..end].chunks(FAST_COPY_BUFFER) {
                out.send(chunk)?;
            }
            Ok(())
        }
        blob => {
            let mut source: Box<dyn Read> = match blob {
                OpenBlob::Disk(mut file) => {
                    file.seek(SeekFrom::Start(offset))?;
                    Box::new(file.take(len))
                }
                OpenBlob::Memory(data) => {
                    let start = usize::try_from(offset).unwrap_or(usize::MAX);
                    let end = start + usize::try_from(len).unwrap_or(0);
                    Box::new(io::Cursor::new(data[start..end].to_vec()))
                }
            };
            let chunk = if faults.bandwidth > 0 {
                (faults.bandwidth / 20).clamp(1024, 64 * 1024) as usize
            } else {
                64 * 1024
            };
            let mut buf = vec![0u8; chunk];
            let mut stalled = false;
            while *out.count < len {
                let mut want = chunk.min(usize::try_from(len - *out.count).unwrap_or(chunk));
                if let Some(cut) = faults.drop_after {
                    if *out.count >= cut {
                        w.flush()?;
                        let _ = stream.shutdown(Shutdown::Both);
                        return Err(io::Error::new(
                            io::ErrorKind::ConnectionAborted,
                            "connection dropped by fault",
                        ));
                    }
                    want = want.min(usize::try_from(cut - *out.count).unwrap_or(want));
                }
                if let Some((after, _)) = faults.stall
                    && !stalled
                    && *out.count < after
                {
                    want = want.min(usize::try_from(after - *out.count).unwrap_or(want));
                }
                let n = source.read(&mut buf[..want])?;
                if n == 0 {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "object shorter than recorded",
                    ));
                }
                if let Some(at) = faults.flip_at
                    && at >= *out.count
                    && at < *out.count + n as u64
                {
                    buf[(at - *out.count) as usize] ^= 0x01;
                }
                out.send(&buf[..n])?;
                throttle.pace(faults.bandwidth, n as u64);
                if let Some((after, pause)) = faults.stall
                    && !stalled
                    && *out.count >= after
                {
                    w.flush()?;
                    stalled = true;
                    std::thread::sleep(pause);
                }
            }
            if let Some(cut) = faults.drop_after
                && *out.count >= cut
                && cut < len
            {
                let _ = stream.shutdown(Shutdown::Both);
            }
            w.flush()
        }
    }
}

fn control_endpoint(
    shared: &Shared,
    method: &str,
    what: &str,
    query: &[(String, String)],
) -> Response {
    let json = |status: u16, value: serde_json::Value| Response {
        status,
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: ResponseBody::Bytes(value.to_string().into_bytes()),
    };
    match (method, what) {
        ("GET", "faults") => json(200, lock(&shared.faults).to_json()),
        ("POST" | "PUT", "faults") => {
            let mut faults = lock(&shared.faults);
            // All or nothing: a refused switch leaves every switch as it was.
            let mut updated = faults.clone();
            for (name, value) in query {
                if let Err(e) = updated.apply(name, value) {
                    return json(400, serde_json::json!({ "error": e }));
                }
            }
            *faults = updated;
            json(200, faults.to_json())
        }
        ("DELETE", "faults") => {
            *lock(&shared.faults) = Faults::default();
            json(200, lock(&shared.faults).to_json())
        }
        ("GET", "stats") => json(200, snapshot_stats(shared).to_json()),
        ("DELETE", "stats") => {
            *lock(&shared.stats) = Stats::default();
            json(200, snapshot_stats(shared).to_json())
        }
        ("GET", "traffic") => {
            let window = query
                .iter()
                .find(|(n, _)| n == "window_ms")
                .and_then(|(_, v)| v.parse::<u64>().ok())
                .unwrap_or(250);
            let traffic = lock(&shared.stats).traffic.clone();
            json(200, traffic.to_json(Duration::from_millis(window)))
        }
        ("GET", "health") => json(200, serde_json::json!({ "ok": true })),
        _ => json(
            404,
            serde_json::json!({ "error": format!("no control endpoint {method} /_ossr/{what}") }),
        ),
    }
}
