//! Streaming: a GET as a `Read` that resumes itself, a stream to a local file, a
//! stream from one object into another, and a put from any `Read`.

use std::fs::{self, OpenOptions};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use crate::client::{ByteRange, Client, ObjectReader, PutResult, PutSource, RequestOptions};
use crate::config::{validate_bucket, validate_key};
use crate::crc64;
use crate::error::{Error, ErrorKind, Result};
use crate::transfer::fsio::{Durability, commit, reserve, reserve_failed, target_dir};
use crate::transfer::progress::Throttle;
use crate::transport::{Retry, map_io_error};

/// Progress of a stream: `(bytes so far, total)`, the total `None` when unknown;
/// return `false` to cancel. Runs on the caller's thread.
pub type StreamProgress<'a> = dyn FnMut(u64, Option<u64>) -> bool + 'a;

/// Options of [`Client::open_get`]. Start from `GetOptions::default()` and set the
/// fields you need (the struct may gain fields).
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct GetOptions {
    /// One byte range instead of the whole object. Defaults to the whole object.
    pub range: Option<ByteRange>,
    /// Version id, request payer and traffic limit.
    pub request: RequestOptions,
    /// Times a dropped body is resumed (from the byte reached). Defaults to 5.
    pub resume_attempts: u32,
}

impl GetOptions {
    /// Checks the options a GET cannot start with: a range that ends before it
    /// starts, a traffic limit outside OSS's bounds. The one place they are checked.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the option.
    pub fn validate(&self) -> Result<()> {
        if let Some(range) = &self.range {
            range.validate()?;
        }
        self.request.validate()
    }
}

impl Default for GetOptions {
    fn default() -> Self {
        GetOptions {
            range: None,
            request: RequestOptions::default(),
            resume_attempts: 5,
        }
    }
}

/// A GET as a [`Read`] with a running CRC-64.
///
/// A body that fails mid-way (dropped connection, timeout) is resumed transparently
/// from the byte reached with a ranged GET pinned to the object's ETag (`If-Match`),
/// up to [`GetOptions::resume_attempts`] times; if the object changed meanwhile the
/// read fails with [`ErrorKind::ObjectChanged`]. Reading a whole object compares the
/// CRC of the bytes with the server's on the read that completes it, which fails with
/// [`ErrorKind::CrcMismatch`] (its bytes withheld) on a difference. Errors from `read` are `io::Error`s
/// wrapping an [`Error`] (`err.get_ref()` downcasts to it).
///
/// A stream that failed stays failed: every later `read` returns the same error (it
/// never reconnects, and never reports a clean end), and [`bytes_read`](Self::bytes_read)
/// and [`client_crc`](Self::client_crc) count only the bytes handed to the caller.
pub struct GetStream {
    client: Client,
    bucket: String,
    key: String,
    request: RequestOptions,
    etag: String,
    server_crc: Option<u64>,
    first: u64,
    length: u64,
    whole: bool,
    reader: Option<ObjectReader>,
    delivered: u64,
    /// CRC-64 of the bytes delivered by the readers before the current one. Each
    /// reader hashes what it hands over, so the stream's CRC is this continued by
    /// the current reader's, combined (never a second pass over the bytes).
    prior_crc: u64,
    /// Decides (and waits before) each continuation of a failed body.
    retry: Retry,
    finished: bool,
    failed: Option<Error>,
}

impl std::fmt::Debug for GetStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetStream")
            .field("bucket", &self.bucket)
            .field("key", &self.key)
            .field("first", &self.first)
            .field("length", &self.length)
            .field("delivered", &self.delivered)
            .field("resumes", &self.retry.retries())
            .finish()
    }
}

impl GetStream {
    /// Bytes this stream carries (the range's length, or the object's size).
    pub fn content_length(&self) -> u64 {
        self.length
    }

    /// The inclusive byte range carried, `None` for an empty object.
    pub fn range(&self) -> Option<(u64, u64)> {
        (self.length > 0).then(|| (self.first, self.first + self.length - 1))
    }

    /// CRC-64 of the bytes read so far.
    pub fn client_crc(&self) -> u64 {
        match &self.reader {
            Some(r) => crc64::combine(self.prior_crc, r.client_crc(), r.bytes_read()),
            None => self.prior_crc,
        }
    }

    /// Ends the current reader once it has delivered its last byte: one more read
    /// sees the end of its body (no I/O), which is what hands the connection back to
    /// the client's pool. A reader dropped before that closes its connection, and
    /// the next request pays a new one (a TCP and TLS handshake per part).
    ///
    /// Under a download cap the connection is not kept: kept alive, the kernel grows
    /// its receive buffer (to 3.6 MB on loopback, measured) into a reservoir the
    /// server fills at full speed while the cap holds the reader back, so the cap
    /// held only on average (a 250 ms window at 1.9x its share). A new connection
    /// per answer starts with a small buffer, and at a capped rate its handshake
    /// costs little.
    fn finish_reader(&mut self) {
        if self.client.rate_limit().download == 0
            && let Some(r) = self.reader.as_mut()
        {
            let _ = r.read(&mut [0u8; 1]);
        }
        self.drop_reader();
    }

    /// Ends the current reader, keeping the CRC of the bytes it delivered.
    fn drop_reader(&mut self) {
        self.prior_crc = self.client_crc();
        self.reader = None;
    }

    /// The whole object's CRC-64 as the server reported it.
    pub fn server_crc(&self) -> Option<u64> {
        self.server_crc
    }

    /// The object's ETag.
    pub fn etag(&self) -> &str {
        &self.etag
    }

    /// Times the body was resumed after a failure.
    pub fn resumes(&self) -> u32 {
        self.retry.retries()
    }

    /// Bytes read so far.
    pub fn bytes_read(&self) -> u64 {
        self.delivered
    }

    /// Starts the stream on an answer already opened for its first request (a
    /// download part's hedged open), instead of opening it on the first read.
    pub(crate) fn start_with(&mut self, reader: ObjectReader) {
        self.reader = Some(reader);
    }

    /// Counts a failed first request made for the stream (a hedged open) as its own
    /// failed reopen counts: one continuation of its budget, after the backoff;
    /// the error when none is left or trying again is not worth it.
    pub(crate) fn open_failed(&mut self, e: Error) -> Result<()> {
        self.retry.again(e)
    }

    /// Records the failure, so that every later read returns it again, and returns it.
    fn fail(&mut self, e: Error) -> io::Error {
        let e = e.with_object(&self.bucket, Some(&self.key));
        self.failed = Some(e.duplicate());
        self.drop_reader();
        io::Error::other(e)
    }

    fn reopen(&mut self) -> Result<()> {
        let from = self.first + self.delivered;
        let last = self.first + self.length - 1;
        self.reader = Some(self.client.get_object(
            &self.bucket,
            &self.key,
            Some(ByteRange::new(from, last)),
            Some(&self.etag),
            &self.request,
        )?);
        Ok(())
    }

    /// Compares the CRC of the whole object's bytes (`crc`) with the server's, once.
    fn check_whole(&mut self, crc: u64) -> io::Result<()> {
        if self.finished {
            return Ok(());
        }
        self.finished = true;
        if self.whole
            && let Some(server) = self.server_crc
            && server != crc
        {
            return Err(self.fail(Error::new(
                ErrorKind::CrcMismatch,
                format!(
                    "crc mismatch: the bytes read have crc64 {crc}, the server reports {server}"
                ),
            )));
        }
        Ok(())
    }
}

impl Read for GetStream {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(failed) = &self.failed {
            return Err(io::Error::other(failed.duplicate()));
        }
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.delivered == self.length {
                self.check_whole(self.client_crc())?;
                return Ok(0);
            }
            if self.reader.is_none()
                && let Err(e) = self.reopen()
            {
                // The request was retried by the transport already; a retryable
                // failure still costs one continuation of the body's own budget, as a
                // body cut short does.
                if let Err(e) = self.retry.again(e) {
                    return Err(self.fail(e));
                }
                continue;
            }
            let want = buf
                .len()
                .min(usize::try_from(self.length - self.delivered).unwrap_or(usize::MAX));
            // The CRC before a read that may complete the stream, for withholding it.
            let before = (want as u64 == self.length - self.delivered).then(|| self.client_crc());
            let reader = self.reader.as_mut().expect("opened just above");
            match reader.read(&mut buf[..want]) {
                Ok(0) => {
                    // Our own end check; the response's was done by the reader.
                    self.drop_reader();
                    if self.delivered != self.length {
                        let e = Error::new(ErrorKind::Network, "the body ended early");
                        if let Err(e) = self.retry.again(e) {
                            return Err(self.fail(e));
                        }
                    }
                }
                Ok(n) => {
                    let delivered = self.delivered + n as u64;
                    if delivered == self.length
                        && let Err(e) = self.check_whole(self.client_crc())
                    {
                        // Checked on the read that completes the stream, and those
                        // bytes withheld (and not counted) on a mismatch: a consumer
                        // that stops at the known length (a put of the stream) still
                        // sees the failure.
                        self.prior_crc = before.unwrap_or(self.prior_crc);
                        return Err(e);
                    }
                    self.delivered = delivered;
                    if delivered == self.length {
                        self.finish_reader();
                    }
                    return Ok(n);
                }
                Err(e) => {
                    self.drop_reader();
                    if let Err(e) = self.retry.again(map_io_error(e)) {
                        return Err(self.fail(e));
                    }
                }
            }
        }
    }
}

/// What a stream call moved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StreamReport {
    /// Bytes moved.
    pub bytes: u64,
    /// CRC-64 of those bytes.
    pub crc64: u64,
    /// Whether they were checked against the server's CRC-64 (false for ranges and
    /// for objects the server reports no CRC for).
    pub verified: bool,
    /// Times a dropped body was resumed.
    pub resumes: u32,
}

/// Calls a stream progress callback through the engine's one throttle: at most
/// every 1% (1 MiB when the total is unknown) or 100 ms, and at the end.
struct Ticker<'p, 'a> {
    callback: Option<&'p mut StreamProgress<'a>>,
    total: Option<u64>,
    throttle: Throttle,
}

impl Ticker<'_, '_> {
    fn tick(&mut self, done: u64, force: bool) -> bool {
        let Some(cb) = self.callback.as_mut() else {
            return true;
        };
        if !self.throttle.due(done, force) {
            return true;
        }
        cb(done, self.total)
    }
}

/// A reader that reports progress and can be cancelled by it.
struct ProgressReader<'r, 'p, 'a> {
    inner: &'r mut dyn Read,
    ticker: Ticker<'p, 'a>,
    done: u64,
}

impl Read for ProgressReader<'_, '_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.done += n as u64;
        if !self.ticker.tick(self.done, n == 0) {
            return Err(io::Error::other(Error::new(
                ErrorKind::Cancelled,
                "cancelled by the progress callback",
            )));
        }
        Ok(n)
    }
}

impl Client {
    /// Opens a GET of the whole object (or [`GetOptions::range`]) as a resuming
    /// stream. The response head is checked (status, `Content-Range`) before this
    /// returns.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`], [`ErrorKind::InvalidArgument`] for options
    /// [`GetOptions::validate`] refuses or a range past the end, and the transport's
    /// errors.
    pub fn open_get(&self, bucket: &str, key: &str, opts: &GetOptions) -> Result<GetStream> {
        opts.validate()?;
        let reader = self.get_object(bucket, key, opts.range, None, &opts.request)?;
        let (first, length) = match reader.range() {
            Some((a, b)) => (a, b - a + 1),
            None => (opts.range.map(|r| r.first).unwrap_or(0), 0),
        };
        let info = reader.info().clone();
        Ok(GetStream {
            client: self.clone(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            request: opts.request.clone(),
            etag: info.etag,
            server_crc: info.crc64,
            first,
            length,
            whole: opts.range.is_none(),
            reader: Some(reader),
            delivered: 0,
            prior_crc: 0,
            retry: self.body_retry(opts.resume_attempts, &opts.request),
            finished: false,
            failed: None,
        })
    }

    /// The retry state of a body that may be continued `resumes` times.
    fn body_retry(&self, resumes: u32, request: &RequestOptions) -> Retry {
        Retry::new(
            self.config().retry_policy(),
            resumes.saturating_add(1),
            request.cancel.clone(),
        )
    }

    /// A stream of `length` bytes from `first`, pinned to `etag` from its first
    /// request on (`If-Match`), opened on the first read. The engine's download
    /// parts read through it, so a part continues after a dropped connection exactly
    /// as a stream does.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn open_pinned(
        &self,
        bucket: &str,
        key: &str,
        first: u64,
        length: u64,
        etag: &str,
        request: &RequestOptions,
        resumes: u32,
    ) -> GetStream {
        GetStream {
            client: self.clone(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            request: request.clone(),
            etag: etag.to_string(),
            server_crc: None,
            first,
            length,
            whole: false,
            reader: None,
            delivered: 0,
            prior_crc: 0,
            retry: self.body_retry(resumes, request),
            finished: false,
            failed: None,
        }
    }

    /// Streams an object (or a range) into a local file: through a temporary file
    /// beside it and an atomic rename, CRC-checked for whole objects. A failure never
    /// leaves a truncated target (an existing one is left as it was).
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when the target's directory does not exist or cannot be
    /// written (found before any request is sent), [`ErrorKind::InvalidArgument`]
    /// for a target that is a directory, and the errors of [`open_get`](Self::open_get)
    /// and of reading the stream.
    pub fn get_to_file(
        &self,
        bucket: &str,
        key: &str,
        target: impl AsRef<Path>,
        opts: &GetOptions,
    ) -> Result<StreamReport> {
        let target = target.as_ref();
        let dir = target_dir(target)?;
        let name = target
            .file_name()
            .ok_or_else(|| Error::invalid(format!("{} is not a file path", target.display())))?;
        let temp = dir.join(format!(
            "{}.ossr-{:016x}",
            name.to_string_lossy(),
            fastrand::u64(..)
        ));
        // Made before the GET, so a directory that cannot be written costs no request.
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o644)
            .open(&temp)
            .map_err(|e| Error::io(format!("creating {}", temp.display()), e))?;
        let result = (|| -> Result<StreamReport> {
            let mut stream = self.open_get(bucket, key, opts)?;
            // A full disk is found before the body is read, not part way through.
            reserve(&file, stream.length).map_err(|e| reserve_failed(target, stream.length, e))?;
            let mut buf = vec![0u8; 1 << 20];
            loop {
                let n = stream.read(&mut buf).map_err(map_io_error)?;
                if n == 0 {
                    break;
                }
                file.write_all(&buf[..n])
                    .map_err(|e| Error::io(format!("writing {}", temp.display()), e))?;
            }
            commit(&file, &temp, target, Durability::Fsync)?;
            Ok(StreamReport {
                bytes: stream.bytes_read(),
                crc64: stream.client_crc(),
                verified: stream.whole && stream.server_crc.is_some(),
                resumes: stream.resumes(),
            })
        })();
        result.map_err(|e| {
            let _ = fs::remove_file(&temp);
            e.with_object(bucket, Some(key))
        })
    }

    /// Puts an object from any reader: with `len` known it is sent with
    /// `Content-Length`, without as chunked transfer. The CRC-64 of the bytes sent is
    /// compared with the server's. `progress` gets `(bytes sent, len)`. The body is
    /// sent once (a reader cannot be replayed); a reader that fails or a cancelled
    /// progress leaves no object behind.
    ///
    /// # Errors
    /// [`ErrorKind::Io`] when the reader fails, [`ErrorKind::Cancelled`],
    /// [`ErrorKind::CrcMismatch`], and the transport's errors.
    #[allow(clippy::too_many_arguments)]
    pub fn put_stream(
        &self,
        bucket: &str,
        key: &str,
        reader: &mut dyn Read,
        len: Option<u64>,
        headers: &[(String, String)],
        opts: &RequestOptions,
        progress: Option<&mut StreamProgress<'_>>,
    ) -> Result<PutResult> {
        validate_bucket(bucket)?;
        validate_key(key)?;
        let mut counted = ProgressReader {
            inner: reader,
            ticker: Ticker {
                callback: progress,
                total: len,
                throttle: Throttle::new(len),
            },
            done: 0,
        };
        // The reader's own failure (or a cancel) shows through ureq as an io error.
        let mut failure: Option<Error> = None;
        let mut guarded = Guard {
            inner: &mut counted,
            failure: &mut failure,
        };
        let result = self.put_object(
            bucket,
            key,
            PutSource::Reader {
                reader: &mut guarded,
                len,
            },
            headers,
            opts,
        );
        match (result, failure) {
            (Err(_), Some(source)) => Err(source.with_object(bucket, Some(key))),
            (result, _) => result,
        }
    }

    /// Streams one object into another (or the same bucket under another key):
    /// no temporary copy on disk, memory bounded by the buffers, and the CRC-64
    /// checked end to end (the bytes read against the source's, the bytes sent
    /// against the destination's).
    pub fn copy_stream(
        &self,
        source: (&str, &str),
        destination: (&str, &str),
        headers: &[(String, String)],
        opts: &GetOptions,
        progress: Option<&mut StreamProgress<'_>>,
    ) -> Result<PutResult> {
        let mut stream = self.open_get(source.0, source.1, opts)?;
        let len = stream.content_length();
        let put = self.put_stream(
            destination.0,
            destination.1,
            &mut stream,
            Some(len),
            headers,
            &opts.request,
            progress,
        )?;
        if let (Some(src), Some(dst), true) = (stream.server_crc(), put.crc64, stream.whole)
            && src != dst
        {
            return Err(Error::new(
                ErrorKind::CrcMismatch,
                format!("copy crc mismatch: source crc64 {src}, destination {dst}"),
            )
            .with_object(destination.0, Some(destination.1)));
        }
        Ok(put)
    }
}

/// Remembers the first error of the caller's reader, so it can be reported as it was
/// rather than as the transport's broken request.
struct Guard<'r, 'f> {
    inner: &'r mut dyn Read,
    failure: &'f mut Option<Error>,
}

impl Read for Guard<'_, '_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if self.failure.is_none() {
                *self.failure = Some(match e.get_ref().and_then(|i| i.downcast_ref::<Error>()) {
                    Some(inner) => Error::new(inner.kind(), inner.message().to_string()),
                    None => Error::new(ErrorKind::Io, format!("reading the data to upload: {e}")),
                });
            }
        })
    }
}
