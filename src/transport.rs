//! The one place that touches ureq: building, signing and sending requests, the retry
//! loop, and turning failures into [`Error`]s.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use std::sync::{Arc, Mutex, Weak};

use base64::Engine;
use ureq::http;
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, DefaultConnector, NextTimeout, ShutdownHandle,
};

use crate::config::{Config, RetryPolicy, Scheme};
use crate::error::{Error, ErrorKind, Result};
use crate::signing::{percent_encode, sign_headers};
use crate::transfer::cancel::{CancelToken, Interrupt, current, with_current};
use crate::transfer::rate::{Direction, Limiter};
use crate::xml;

/// Largest error body read.
const MAX_ERROR_BODY: u64 = 64 * 1024;

/// The most a connection reads from (or writes to) its socket at once: 512 KiB, or
/// 64 KiB in a direction the client was built with a bandwidth cap for. A read is
/// paid for after it (its size is known only then), so under a cap it must be small
/// beside a second's worth, or the server would see a burst each time; a cap set
/// later on a client built without one holds on average, in bursts of up to 512 KiB
/// per connection.
fn io_buffer(cap: u64) -> usize {
    if cap > 0 { 64 * 1024 } else { 512 * 1024 }
}

/// What a request sends.
pub(crate) enum Payload<'a> {
    /// No body.
    Empty,
    /// Bytes in memory (replayable).
    Bytes(&'a [u8]),
    /// `len` bytes of a file from `offset`, read with positioned reads (replayable).
    /// `sent`, when given, counts the bytes handed to the connection by the current
    /// attempt (reset to 0 when an attempt starts), for byte-level progress.
    File {
        file: &'a File,
        offset: u64,
        len: u64,
        sent: Option<&'a AtomicU64>,
    },
    /// A reader, with its length when known (sent chunked otherwise). Not
    /// replayable: such a request is tried once.
    Reader {
        reader: &'a mut dyn Read,
        len: Option<u64>,
    },
}

impl Payload<'_> {
    fn replayable(&self) -> bool {
        !matches!(self, Payload::Reader { .. })
    }
}

/// A request before signing.
#[derive(Debug)]
pub(crate) struct Request<'a> {
    pub method: &'static str,
    pub bucket: &'a str,
    pub key: Option<&'a str>,
    pub query: Vec<(String, String)>,
    pub headers: Vec<(String, String)>,
    /// Stops the request, its retries and its waits.
    pub cancel: Option<CancelToken>,
}

impl<'a> Request<'a> {
    pub fn new(method: &'static str, bucket: &'a str, key: Option<&'a str>) -> Request<'a> {
        Request {
            method,
            bucket,
            key,
            query: Vec::new(),
            headers: Vec::new(),
            cancel: None,
        }
    }

    pub fn query(mut self, name: &str, value: impl Into<String>) -> Self {
        self.query.push((name.to_string(), value.into()));
        self
    }

    pub fn header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.push((name.to_string(), value.into()));
        self
    }

    fn fail(&self, e: Error) -> Error {
        e.with_object(self.bucket, self.key)
    }
}

/// The one retry loop's state: how many attempts a request (or a body continued
/// from its last byte) has had, and the wait before the next. Every loop that tries
/// again goes through it, so backoff, its jitter, the server's delay hint and the
/// cancel token apply the same way everywhere.
pub(crate) struct Retry {
    policy: RetryPolicy,
    attempts: u32,
    attempt: u32,
    cancel: Option<CancelToken>,
}

impl Retry {
    /// Up to `attempts` attempts under `policy`, the waits cut short by `cancel`.
    pub fn new(policy: RetryPolicy, attempts: u32, cancel: Option<CancelToken>) -> Retry {
        Retry {
            policy,
            attempts,
            attempt: 1,
            cancel,
        }
    }

    /// Retries made so far.
    pub fn retries(&self) -> u32 {
        self.attempt - 1
    }

    /// After a failed attempt: waits and returns `Ok` when another attempt is worth
    /// making, or gives the error back (a cancelled token's error when cancelled).
    pub fn again(&mut self, e: Error) -> Result<()> {
        if let Some(token) = &self.cancel {
            token.check()?;
        }
        if self.attempt >= self.attempts || !e.is_retryable() {
            return Err(e);
        }
        let delay = if e.oss_code() == Some("RequestTimeTooSkewed") {
            // The clock was corrected from the answer; re-sign at once.
            Duration::ZERO
        } else {
            let backoff = self.policy.backoff(self.attempt);
            e.retry_after().map_or(backoff, |hint| hint.max(backoff))
        };
        match &self.cancel {
            Some(token) => token.sleep(delay)?,
            None => std::thread::sleep(delay),
        }
        self.attempt += 1;
        Ok(())
    }
}

thread_local! {
    /// Raised when a request on this thread is answered 503 or 429 (see
    /// [`observing_throttle`]).
    static THROTTLED: std::cell::RefCell<Option<Arc<std::sync::atomic::AtomicBool>>> =
        const { std::cell::RefCell::new(None) };
}

/// Runs `f` with `flag` raised whenever a request `f` makes on this thread is
/// answered 503 or 429, even one its retries then get past: the server asking for
/// less load, which a hedging transfer must hear.
pub(crate) fn observing_throttle<T>(
    flag: &Arc<std::sync::atomic::AtomicBool>,
    f: impl FnOnce() -> T,
) -> T {
    let previous = THROTTLED.with(|t| t.replace(Some(Arc::clone(flag))));
    struct Restore(Option<Arc<std::sync::atomic::AtomicBool>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            THROTTLED.with(|t| *t.borrow_mut() = previous);
        }
    }
    let _restore = Restore(previous);
    f()
}

/// Raises this thread's throttle flag, if it is observed, for an answer of
/// `status` 503 or 429.
pub(crate) fn note_throttled(status: u16) {
    if matches!(status, 503 | 429) {
        THROTTLED.with(|t| {
            if let Some(flag) = t.borrow().as_ref() {
                flag.store(true, Ordering::Relaxed);
            }
        });
    }
}

/// A positioned reader over part of a file.
struct FileRange<'a> {
    file: &'a File,
    offset: u64,
    remaining: u64,
    sent: Option<&'a AtomicU64>,
}

impl Read for FileRange<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 {
            return Ok(0);
        }
        let mut want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        if self.sent.is_some() {
            // Counted bodies go in 64 KiB writes, so the count follows the connection
            // closely once the socket's buffer is full.
            want = want.min(64 * 1024);
        }
        let n = self.file.read_at(&mut buf[..want], self.offset)?;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file is shorter than when the transfer was planned",
            ));
        }
        self.offset += n as u64;
        self.remaining -= n as u64;
        if let Some(sent) = self.sent {
            sent.fetch_add(n as u64, Ordering::Relaxed);
        }
        Ok(n)
    }
}

/// A reader whose length was declared (`Content-Length`): one that ends early or
/// runs long fails the request before its last byte goes out, so the server never
/// stores a different object than the one declared.
struct ExactReader<'a> {
    inner: &'a mut dyn Read,
    declared: u64,
    remaining: u64,
    /// Why the data was refused, for the error the request fails with.
    failure: Option<String>,
}

impl ExactReader<'_> {
    fn refuse(&mut self, kind: io::ErrorKind, why: String) -> io::Error {
        self.failure = Some(why.clone());
        io::Error::new(kind, why)
    }

    fn read_some(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            match self.inner.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                other => return other,
            }
        }
    }
}

impl Read for ExactReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if self.remaining == 0 || buf.is_empty() {
            return Ok(0);
        }
        let want = buf
            .len()
            .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
        let n = self.read_some(&mut buf[..want])?;
        if n == 0 {
            let why = format!(
                "the data ended after {} of its declared {} bytes",
                self.declared - self.remaining,
                self.declared
            );
            return Err(self.refuse(io::ErrorKind::UnexpectedEof, why));
        }
        self.remaining -= n as u64;
        if self.remaining == 0 {
            // Probe for more before handing over the last bytes.
            let mut probe = [0u8; 1];
            if self.read_some(&mut probe)? > 0 {
                let why = format!(
                    "the data is longer than its declared {} bytes",
                    self.declared
                );
                return Err(self.refuse(io::ErrorKind::InvalidData, why));
            }
        }
        Ok(n)
    }
}

/// Makes connections as ureq does, each of which a cancel token can interrupt: while
/// a call with a token reads or writes on a connection, cancelling the token shuts
/// the socket down, so the blocked read or write returns at once.
/// Each connection also pays the client's bandwidth cap for every byte it moves.
#[derive(Debug)]
struct Interruptible {
    inner: DefaultConnector,
    rate: Arc<Limiter>,
}

impl Connector<()> for Interruptible {
    type Out = Watched;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> std::result::Result<Option<Watched>, ureq::Error> {
        // The socket's shutdown handle, caught as the connector registers it.
        let caught: Arc<Mutex<Option<Weak<dyn ShutdownHandle>>>> = Arc::default();
        let register = details.register_shutdown.clone();
        let keep = Arc::clone(&caught);
        let details = ConnectionDetails {
            uri: details.uri,
            addrs: details.addrs.clone(),
            config: details.config,
            request_level: details.request_level,
            resolver: details.resolver,
            now: details.now,
            timeout: details.timeout,
            current_time: details.current_time.clone(),
            run_connector: details.run_connector.clone(),
            register_shutdown: Arc::new(move |handle: Weak<dyn ShutdownHandle>| {
                if let Ok(mut c) = keep.lock() {
                    *c = Some(handle.clone());
                }
                register(handle)
            }),
        };
        let transport = self.inner.connect(&details, chained)?;
        let socket = caught.lock().ok().and_then(|mut c| c.take());
        Ok(transport.map(|inner| Watched {
            inner,
            socket: Arc::new(Socket(socket)),
            rate: Arc::clone(&self.rate),
        }))
    }
}

/// A connection's socket, as a cancel token interrupts it.
struct Socket(Option<Weak<dyn ShutdownHandle>>);

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Socket")
    }
}

impl Interrupt for Socket {
    fn interrupt(&self) {
        if let Some(handle) = self.0.as_ref().and_then(Weak::upgrade) {
            handle.shutdown();
        }
    }
}

/// A connection whose blocking reads and writes the thread's current cancel token
/// can interrupt, and whose bytes pay the client's bandwidth cap: the one layer every
/// byte of a client passes, whatever the transfer.
#[derive(Debug)]
struct Watched {
    inner: Box<dyn ureq::unversioned::transport::Transport>,
    socket: Arc<Socket>,
    rate: Arc<Limiter>,
}

impl Watched {
    fn guarded<T>(
        &mut self,
        f: impl FnOnce(
            &mut Box<dyn ureq::unversioned::transport::Transport>,
        ) -> std::result::Result<T, ureq::Error>,
    ) -> std::result::Result<T, ureq::Error> {
        let Some(token) = current() else {
            return f(&mut self.inner);
        };
        if token.is_cancelled() {
            // Not ErrorKind::Interrupted: readers such as read_to_end retry that
            // forever.
            return Err(ureq::Error::Io(io::Error::other("cancelled")));
        }
        let socket: Arc<dyn Interrupt> = self.socket.clone();
        let _watch = token.watch(Arc::downgrade(&socket));
        f(&mut self.inner)
    }

    /// Pays the cap for `n` bytes, the wait cut short by the thread's current token.
    fn pay(&self, way: Direction, n: usize) -> std::result::Result<(), ureq::Error> {
        self.rate
            .pay(way, n, current().as_ref())
            // Not ErrorKind::Interrupted, as in `guarded`.
            .map_err(|e| ureq::Error::Io(io::Error::other(e.message().to_string())))
    }
}

impl ureq::unversioned::transport::Transport for Watched {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.inner.buffers()
    }

    fn transmit_output(
        &mut self,
        amount: usize,
        timeout: NextTimeout,
    ) -> std::result::Result<(), ureq::Error> {
        // Paid before the bytes go: the server never sees them early.
        self.pay(Direction::Up, amount)?;
        self.guarded(|t| t.transmit_output(amount, timeout))
    }

    fn await_input(&mut self, timeout: NextTimeout) -> std::result::Result<bool, ureq::Error> {
        let before = self.inner.buffers().input().len();
        let more = self.guarded(|t| t.await_input(timeout))?;
        // Paid after they came (how many is known only then): this connection reads
        // again only once they are paid for, so the server's sending follows the cap.
        let arrived = self.inner.buffers().input().len().saturating_sub(before);
        self.pay(Direction::Down, arrived)?;
        Ok(more)
    }

    fn is_open(&mut self) -> bool {
        self.inner.is_open()
    }

    fn is_tls(&self) -> bool {
        self.inner.is_tls()
    }
}

/// Sends requests for a client. Shared by all clones of a client.
pub(crate) struct Transport {
    pub config: Config,
    agent: ureq::Agent,
    /// The client's bandwidth cap, paid by each of its connections.
    pub rate: Arc<Limiter>,
    /// Server clock minus ours, in seconds, learned from a clock-skew answer.
    clock_offset: AtomicI64,
}

fn tls_config(config: &Config) -> Result<ureq::tls::TlsConfig> {
    let mut roots: Vec<ureq::tls::Certificate<'static>> = Vec::new();
    let native = rustls_native_certs::load_native_certs();
    for der in native.certs {
        roots.push(ureq::tls::Certificate::from_der(der.as_ref()).to_owned());
    }
    if let Some(path) = &config.ca_file {
        let pem = std::fs::read(path)
            .map_err(|e| Error::io(format!("reading the CA file {}", path.display()), e))?;
        let mut found = 0;
        for item in ureq::tls::parse_pem(&pem) {
            match item {
                Ok(ureq::tls::PemItem::Certificate(cert)) => {
                    roots.push(cert.to_owned());
                    found += 1;
                }
                Ok(_) => {}
                Err(e) => {
                    return Err(Error::invalid(format!(
                        "the CA file {} is not valid PEM: {e}",
                        path.display()
                    )));
                }
            }
        }
        if found == 0 {
            return Err(Error::invalid(format!(
                "the CA file {} holds no certificate",
                path.display()
            )));
        }
    }
    Ok(ureq::tls::TlsConfig::builder()
        .provider(ureq::tls::TlsProvider::Rustls)
        .root_certs(ureq::tls::RootCerts::new_with_certs(&roots))
        .build())
}

impl Transport {
    pub fn new(config: Config) -> Result<Transport> {
        let mut builder = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_recv_response(Some(config.read_timeout))
            .timeout_per_read(Some(config.read_timeout))
            .timeout_per_write(Some(config.read_timeout))
            .user_agent(config.user_agent.as_str())
            // Object bytes must arrive as stored: never let the transport decompress.
            .accept_encoding("identity")
            .max_redirects(0)
            .max_idle_connections_per_host(64)
            .input_buffer_size(io_buffer(config.rate_limit.download))
            .output_buffer_size(io_buffer(config.rate_limit.upload));
        if config.endpoint.scheme() == Scheme::Https {
            builder = builder.tls_config(tls_config(&config)?);
        }
        if let Some(proxy) = &config.proxy {
            let proxy = ureq::Proxy::new(proxy)
                .map_err(|e| Error::invalid(format!("invalid proxy: {e}")))?;
            builder = builder.proxy(Some(proxy));
        }
        let rate = Arc::new(Limiter::new(config.rate_limit));
        let agent = ureq::Agent::with_parts(
            builder.build(),
            Interruptible {
                inner: DefaultConnector::new(),
                rate: Arc::clone(&rate),
            },
            DefaultResolver::default(),
        );
        Ok(Transport {
            config,
            agent,
            rate,
            clock_offset: AtomicI64::new(0),
        })
    }

    fn now(&self) -> SystemTime {
        let offset = self.clock_offset.load(Ordering::Relaxed);
        let now = SystemTime::now();
        if offset >= 0 {
            now + Duration::from_secs(offset as u64)
        } else {
            now - Duration::from_secs(offset.unsigned_abs())
        }
    }

    /// The full URL of a request, query encoded.
    pub fn url(&self, bucket: &str, key: Option<&str>, query: &[(String, String)]) -> String {
        let mut url = self.config.url_base(bucket, key);
        for (i, (name, value)) in query.iter().enumerate() {
            url.push(if i == 0 { '?' } else { '&' });
            url.push_str(&percent_encode(name, false));
            if !value.is_empty() {
                url.push('=');
                url.push_str(&percent_encode(value, false));
            }
        }
        url
    }

    /// A presigned URL for this request, valid for `expires`.
    pub fn presign(&self, req: &Request<'_>, expires: Duration) -> String {
        let mut query = req.query.clone();
        crate::signing::presign_query(
            &self.config.signer,
            &self.config.credentials,
            self.now(),
            expires,
            req.method,
            Some(req.bucket),
            req.key,
            &mut query,
            &req.headers,
            &[],
        );
        self.url(req.bucket, req.key, &query)
    }

    /// Sends a request with retries and hands each successful response (2xx or 304)
    /// to `handle`, which may fail retryably too (e.g. a body cut short). Payloads that
    /// cannot be replayed are sent once.
    pub fn execute<T>(
        &self,
        req: &Request<'_>,
        payload: Payload<'_>,
        handle: impl FnMut(http::Response<ureq::Body>) -> Result<T>,
    ) -> Result<T> {
        self.execute_counted(req, payload, handle, &mut 0)
    }

    /// [`execute`](Self::execute), storing in `sent` how many times the request was
    /// sent (more than 1 means an earlier attempt may have taken effect unanswered).
    pub fn execute_counted<T>(
        &self,
        req: &Request<'_>,
        mut payload: Payload<'_>,
        mut handle: impl FnMut(http::Response<ureq::Body>) -> Result<T>,
        sent: &mut u32,
    ) -> Result<T> {
        let attempts = if payload.replayable() {
            self.config.retry.max_attempts
        } else {
            1
        };
        let mut retry = Retry::new(self.config.retry, attempts, req.cancel.clone());
        loop {
            *sent = retry.retries() + 1;
            if let Some(token) = &req.cancel {
                token.check().map_err(|e| req.fail(e))?;
            }
            let result = with_current(req.cancel.as_ref(), || {
                self.send_once(req, &mut payload).and_then(&mut handle)
            });
            let result = match result {
                Err(_) if req.cancel.as_ref().is_some_and(CancelToken::is_cancelled) => {
                    Err(CancelToken::error())
                }
                other => other,
            };
            match result {
                Ok(v) => return Ok(v),
                Err(e) => {
                    if let Some(status) = e.status() {
                        note_throttled(status);
                    }
                    retry.again(e).map_err(|e| req.fail(e))?
                }
            }
        }
    }

    fn send_once(
        &self,
        req: &Request<'_>,
        payload: &mut Payload<'_>,
    ) -> Result<http::Response<ureq::Body>> {
        let mut headers = req.headers.clone();
        headers.push(("Accept-Encoding".into(), "identity".into()));
        let length = match payload {
            Payload::Empty => Some(0),
            Payload::Bytes(b) => Some(b.len() as u64),
            Payload::File { len, .. } => Some(*len),
            Payload::Reader { len, .. } => *len,
        };
        let sends_body = !matches!(req.method, "GET" | "HEAD" | "DELETE");
        match length {
            Some(n) if sends_body => headers.push(("Content-Length".into(), n.to_string())),
            None => headers.push(("Transfer-Encoding".into(), "chunked".into())),
            _ => {}
        }
        sign_headers(
            &self.config.signer,
            &self.config.credentials,
            self.now(),
            req.method,
            Some(req.bucket),
            req.key,
            &req.query,
            &mut headers,
            &[],
        );
        let url = self.url(req.bucket, req.key, &req.query);
        let mut builder = http::Request::builder().method(req.method).uri(&url);
        for (name, value) in &headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        let response = self.send_payload(builder, payload)?;
        let status = response.status().as_u16();
        if (200..300).contains(&status) || status == 304 {
            return Ok(response);
        }
        Err(self.error_from_response(req.method, response))
    }

    /// Sends the request with its body, as its payload's kind requires.
    fn send_payload(
        &self,
        builder: http::request::Builder,
        payload: &mut Payload<'_>,
    ) -> Result<http::Response<ureq::Body>> {
        let run = |body: ureq::SendBody<'_>| -> Result<http::Response<ureq::Body>> {
            let request = builder
                .body(body)
                .map_err(|e| Error::invalid(format!("cannot build the request: {e}")))?;
            self.agent.run(request).map_err(map_ureq_error)
        };
        Ok(match payload {
            Payload::Empty => run(ureq::SendBody::none())?,
            Payload::Bytes(b) => {
                let mut cursor = io::Cursor::new(*b);
                run(ureq::SendBody::from_reader(&mut cursor))?
            }
            Payload::File {
                file,
                offset,
                len,
                sent,
            } => {
                if let Some(sent) = sent {
                    sent.store(0, Ordering::Relaxed);
                }
                let mut range = FileRange {
                    file,
                    offset: *offset,
                    remaining: *len,
                    sent: *sent,
                };
                run(ureq::SendBody::from_reader(&mut range))?
            }
            Payload::Reader {
                reader,
                len: Some(declared),
            } => {
                let mut exact = ExactReader {
                    inner: &mut **reader,
                    declared: *declared,
                    remaining: *declared,
                    failure: None,
                };
                let sent = run(ureq::SendBody::from_reader(&mut exact));
                match (sent, exact.failure) {
                    // The data, not the connection, was at fault.
                    (Err(_), Some(why)) => return Err(Error::new(ErrorKind::Io, why)),
                    (sent, _) => sent?,
                }
            }
            Payload::Reader { reader, len: None } => {
                run(ureq::SendBody::from_reader(&mut **reader))?
            }
        })
    }

    /// The error for an answer that did not come from OSS.
    fn not_oss(&self, status: u16, body: &[u8]) -> Error {
        let start = String::from_utf8_lossy(&body[..body.len().min(80)]).into_owned();
        Error::new(
            crate::error::classify(status, ""),
            format!(
                "{} answered http status {status} without an OSS request id or error body (is it an OSS endpoint?){}",
                self.config.endpoint,
                if start.trim().is_empty() {
                    String::new()
                } else {
                    format!("; the answer began {:?}", start.trim())
                }
            ),
        )
        .with_status(status)
    }

    fn error_from_response(&self, method: &str, mut response: http::Response<ureq::Body>) -> Error {
        let status = response.status().as_u16();
        let header = |name: &str| {
            response
                .headers()
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(str::to_string)
        };
        let request_id = header("x-oss-request-id");
        let ec = header("x-oss-ec");
        let date = header("date");
        let qos = header("x-oss-qos-delay-time");
        let oss_err = header("x-oss-err");
        let body = if method == "HEAD" {
            oss_err
                .and_then(|b| {
                    base64::engine::general_purpose::STANDARD
                        .decode(b.trim())
                        .ok()
                })
                .unwrap_or_default()
        } else {
            response
                .body_mut()
                .with_config()
                .limit(MAX_ERROR_BODY)
                .read_to_vec()
                .unwrap_or_default()
        };
        let mut details = xml::parse_error(&body);
        // OSS stamps every answer with a request id; without one and without an OSS
        // error body, the endpoint is something else (a proxy, a web server, a typo).
        if request_id.is_none() && details.code.is_empty() && details.request_id.is_empty() {
            return self.not_oss(status, &body);
        }
        if details.request_id.is_empty() {
            details.request_id = request_id.unwrap_or_default();
        }
        if details.ec.is_empty() {
            details.ec = ec.unwrap_or_default();
        }
        if details.code.is_empty() {
            details.code = match status {
                404 => "NoSuchKey".into(),
                412 => "PreconditionFailed".into(),
                _ => String::new(),
            };
        }
        if details.code == "RequestTimeTooSkewed"
            && let Some(server) = date.and_then(|d| httpdate::parse_http_date(&d).ok())
        {
            let ours = SystemTime::now();
            let offset = match server.duration_since(ours) {
                Ok(ahead) => ahead.as_secs() as i64,
                Err(behind) => -(behind.duration().as_secs() as i64),
            };
            self.clock_offset.store(offset, Ordering::Relaxed);
        }
        let mut err = Error::from_oss(status, details);
        if let Some(ms) = qos.and_then(|q| q.trim().parse::<u64>().ok()) {
            err = err.with_retry_after(Duration::from_millis(ms));
        }
        err
    }
}

/// Maps a ureq failure to our kinds.
pub(crate) fn map_ureq_error(e: ureq::Error) -> Error {
    match e {
        ureq::Error::Timeout(t) => Error::new(ErrorKind::Timeout, format!("timed out ({t})")),
        ureq::Error::Io(io) => map_io_error(io),
        ureq::Error::HostNotFound => Error::new(ErrorKind::Network, "host not found"),
        ureq::Error::ConnectionFailed => Error::new(ErrorKind::Network, "connection failed"),
        ureq::Error::BadUri(u) => Error::invalid(format!("bad url: {u}")),
        ureq::Error::Http(h) => Error::invalid(format!("invalid request: {h}")),
        ureq::Error::InvalidProxyUrl => Error::invalid("invalid proxy url"),
        ureq::Error::Rustls(t) => {
            Error::new(ErrorKind::Network, format!("tls handshake failed: {t}")).permanent()
        }
        ureq::Error::Tls(t) => {
            Error::new(ErrorKind::Network, format!("tls handshake failed: {t}")).permanent()
        }
        other => Error::new(ErrorKind::Network, other.to_string()),
    }
}

/// Maps an I/O error met while talking to the server.
pub(crate) fn map_io_error(e: io::Error) -> Error {
    // A TLS failure (untrusted certificate, wrong host name) will not heal by itself.
    if let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        return Error::new(
            ErrorKind::Network,
            format!(
                "tls handshake failed: {tls} (is the server's CA trusted? see Config::ca_file)"
            ),
        )
        .permanent();
    }
    let kind = match e.kind() {
        io::ErrorKind::TimedOut | io::ErrorKind::WouldBlock => ErrorKind::Timeout,
        _ => ErrorKind::Network,
    };
    // An error of ours passed through a reader keeps its kind.
    if let Some(inner) = e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
        return Error::new(inner.kind(), inner.message().to_string());
    }
    Error::new(kind, e.to_string()).with_source(e)
}

/// The first value of a response header as text.
pub(crate) fn header<'r>(response: &'r http::Response<ureq::Body>, name: &str) -> Option<&'r str> {
    response.headers().get(name).and_then(|v| v.to_str().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::unversioned::transport::{LazyBuffers, Transport as _};

    /// A connection that never has input.
    #[derive(Debug)]
    struct Silent(LazyBuffers);

    impl ureq::unversioned::transport::Transport for Silent {
        fn buffers(&mut self) -> &mut dyn Buffers {
            &mut self.0
        }
        fn transmit_output(
            &mut self,
            _: usize,
            _: NextTimeout,
        ) -> std::result::Result<(), ureq::Error> {
            Ok(())
        }
        fn await_input(&mut self, _: NextTimeout) -> std::result::Result<bool, ureq::Error> {
            Ok(false)
        }
        fn is_open(&mut self) -> bool {
            true
        }
    }

    fn watched() -> Watched {
        Watched {
            inner: Box::new(Silent(LazyBuffers::new(1024, 1024))),
            socket: Arc::new(Socket(None)),
            rate: Arc::default(),
        }
    }

    /// A connection used under a cancelled token fails at once with an error that
    /// readers do not retry: std's read_to_end retries ErrorKind::Interrupted forever.
    #[test]
    fn a_cancelled_token_fails_io_with_an_error_readers_do_not_retry() {
        let token = CancelToken::new();
        token.cancel();
        let mut conn = watched();
        let err =
            with_current(Some(&token), || conn.await_input(NextTimeout::default())).unwrap_err();
        match err {
            ureq::Error::Io(e) => assert_ne!(e.kind(), io::ErrorKind::Interrupted, "{e}"),
            other => panic!("{other:?}"),
        }
        let live = CancelToken::new();
        let read = with_current(Some(&live), || conn.await_input(NextTimeout::default()));
        assert!(
            matches!(read, Ok(false)),
            "a live token passes the call through"
        );
    }
}
