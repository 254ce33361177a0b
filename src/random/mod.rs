//! Random access: an object read like a local, read-only file, pinned to its ETag,
//! with a prefetcher that adapts to how it is read.
//!
//! - [`prefetch`]: the pure policy (which sequential streams reads belong to, how
//!   far ahead to fetch for each, what they have left behind).
//! - [`cache`]: one file's pages and the workers that fetch them.
//! - [`budget`]: the client-wide memory limit all open files share.

mod cache;
mod prefetch;

use std::io::{self, Read, Seek, SeekFrom};
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

pub use crate::transfer::budget::MemoryUse;
use cache::{Cache, Object};

use crate::client::{Client, RequestOptions};
use crate::crc64::Crc64;
use crate::error::{Error, ErrorKind, Result};
use crate::transfer::plan::check_threads;

/// The default [`FileOptions::max_window`]: 32 MiB. Not public: its value is stated
/// in the field's documentation, and public constants would enter the C header.
pub(crate) const DEFAULT_MAX_WINDOW: u64 = 32 * 1024 * 1024;

/// Options of [`Client::open_file`]. Start from `FileOptions::default()` and set the
/// fields you need (the struct may gain fields).
#[non_exhaustive]
#[derive(Debug, Clone)]
pub struct FileOptions {
    /// Version id, request payer, traffic limit and cancel token, applied to the HEAD
    /// at open and to every GET. Cancelling the token makes every later read fail
    /// with [`ErrorKind::Cancelled`]. Defaults to none of them.
    pub request: RequestOptions,
    /// The most a sequential stream fetches ahead of its reader. Also capped at half
    /// the client's prefetch memory
    /// ([`ConfigBuilder::prefetch_memory`](crate::ConfigBuilder::prefetch_memory))
    /// shared among the file's streams. 0 turns prefetching off. Defaults to
    /// 32 MiB.
    pub max_window: u64,
    /// Prefetch requests in flight at once, each on its own connection,
    /// 1..=[`MAX_THREADS`](crate::MAX_THREADS). Defaults to 4.
    pub max_requests: usize,
    /// Times a dropped body is resumed within one request. Defaults to 5.
    pub resume_attempts: u32,
}

impl FileOptions {
    /// Checks the options a file cannot be opened with: `max_requests` outside
    /// 1..=[`MAX_THREADS`](crate::MAX_THREADS), a traffic limit outside OSS's
    /// bounds. The one place they are checked.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] naming the option.
    pub fn validate(&self) -> Result<()> {
        check_threads(self.max_requests)?;
        self.request.validate()
    }
}

impl Default for FileOptions {
    fn default() -> Self {
        FileOptions {
            request: RequestOptions::default(),
            max_window: DEFAULT_MAX_WINDOW,
            max_requests: 4,
            resume_attempts: 5,
        }
    }
}

/// What an [`ObjectFile`] has done so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FileStats {
    /// Requests sent: the HEAD at open and every GET (a retry or a resumed body is
    /// not counted again).
    pub requests: u64,
    /// Body bytes received.
    pub bytes_fetched: u64,
    /// Bytes handed to the caller.
    pub bytes_read: u64,
    /// Of those, the bytes already fetched or on their way when the read asked for
    /// them (prefetched, or kept from an earlier read).
    pub bytes_from_cache: u64,
}

/// The CRC-64 of the bytes read so far from the front, while reading goes front to
/// back.
#[derive(Debug, Default)]
struct FrontCrc {
    crc: Crc64,
    /// The bytes before this one are in `crc`.
    next: u64,
    verified: bool,
}

/// An object opened with [`Client::open_file`]: read like a local, read-only file.
///
/// It implements [`Read`] and [`Seek`] (through `&mut self`, with a position of its
/// own), and [`read_at`](Self::read_at), a positioned read through `&self` that any
/// number of threads may call at once on one handle (share it by reference or in an
/// `Arc`).
///
/// Every byte comes from the version of the object that was there at open: each GET
/// carries `If-Match` with the ETag read at open, so if the object changes, reads
/// fail with [`ErrorKind::ObjectChanged`] from then on and never return bytes of
/// another version. Reading the whole object front to back (through [`Read`] or
/// `read_at` calls that follow one another) compares the CRC-64 of the bytes read
/// with the server's on the read that reaches the end, which fails with
/// [`ErrorKind::CrcMismatch`] on a difference; after that every read fails.
///
/// Fetching adapts to how the file is read. The first read at a place fetches only
/// the 64 KiB pages it touches. A read that continues an earlier one (or skips a
/// little forward or back) continues that stream: after it, the stream prefetches a
/// window that starts at 256 KiB and doubles with each sequential read up to
/// [`FileOptions::max_window`], in requests of up to 8 MiB, several in parallel. A
/// handle follows up to 8 streams at once, so several readers at different places
/// are each prefetched for. Bytes a stream has read are kept 1 MiB behind it for
/// short backward seeks. Fetched bytes live under the client's prefetch memory
/// (one limit for all of its open files, never exceeded); a read whose pages do not
/// fit is served by a GET straight into the caller's buffer.
///
/// Dropping the handle stops its fetches and gives its memory back.
pub struct ObjectFile {
    cache: Arc<Cache>,
    server_crc: Option<u64>,
    front: Mutex<FrontCrc>,
    position: u64,
}

impl std::fmt::Debug for ObjectFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let o = &self.cache.object;
        f.debug_struct("ObjectFile")
            .field("bucket", &o.bucket)
            .field("key", &o.key)
            .field("size", &o.size)
            .field("etag", &o.etag)
            .field("position", &self.position)
            .finish()
    }
}

impl ObjectFile {
    /// The object's size in bytes.
    pub fn size(&self) -> u64 {
        self.cache.object.size
    }

    /// The ETag every read is pinned to (quoted, as the server sent it).
    pub fn etag(&self) -> &str {
        &self.cache.object.etag
    }

    /// The whole object's CRC-64 as the server reported it at open.
    pub fn server_crc(&self) -> Option<u64> {
        self.server_crc
    }

    /// Whether the whole object has been read front to back and its CRC-64 matched
    /// the server's.
    pub fn crc_verified(&self) -> bool {
        self.lock_front().verified
    }

    /// Requests, bytes fetched, bytes read and bytes served from what was fetched.
    pub fn stats(&self) -> FileStats {
        let c = &self.cache.counters;
        FileStats {
            requests: c.requests.load(Ordering::Relaxed),
            bytes_fetched: c.bytes_fetched.load(Ordering::Relaxed),
            bytes_read: c.bytes_read.load(Ordering::Relaxed),
            bytes_from_cache: c.bytes_from_cache.load(Ordering::Relaxed),
        }
    }

    /// Reads from `offset` into `buf`, like `pread`: fills `buf` but for the end of
    /// the object, returns the number of bytes read (0 at or past the end). Does not
    /// move the position of [`Read`]. Safe to call from many threads at once.
    ///
    /// # Errors
    /// [`ErrorKind::ObjectChanged`] once the object has changed since open,
    /// [`ErrorKind::CrcMismatch`] when a front-to-back read's CRC-64 differs from
    /// the server's, [`ErrorKind::Cancelled`] when the options' token is cancelled,
    /// and the transport's errors once retries run out.
    pub fn read_at(&self, buf: &mut [u8], offset: u64) -> Result<usize> {
        let size = self.size();
        if offset >= size || buf.is_empty() {
            return Ok(0);
        }
        let len = buf
            .len()
            .min(usize::try_from(size - offset).unwrap_or(usize::MAX));
        let buf = &mut buf[..len];
        self.cache.read(buf, offset)?;
        self.check_front(buf, offset)?;
        self.cache
            .counters
            .bytes_read
            .fetch_add(len as u64, Ordering::Relaxed);
        Ok(len)
    }

    fn lock_front(&self) -> std::sync::MutexGuard<'_, FrontCrc> {
        // A CRC update cannot panic half-way; a poisoned lock holds a whole value.
        self.front.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Adds the bytes of a read that continues the front-to-back CRC, and compares it
    /// with the server's at the end.
    fn check_front(&self, buf: &[u8], offset: u64) -> Result<()> {
        let mut front = self.lock_front();
        let end = offset + buf.len() as u64;
        if !(offset <= front.next && front.next < end) {
            return Ok(());
        }
        let from = (front.next - offset) as usize;
        front.crc.update(&buf[from..]);
        front.next = end;
        if end < self.size() {
            return Ok(());
        }
        match self.server_crc {
            Some(server) if server != front.crc.value() => {
                let e = Error::new(
                    ErrorKind::CrcMismatch,
                    format!(
                        "crc mismatch: the bytes read have crc64 {}, the server reports {server}",
                        front.crc.value()
                    ),
                )
                .with_object(&self.cache.object.bucket, Some(&self.cache.object.key));
                self.cache.fail(&e);
                Err(e)
            }
            Some(_) => {
                front.verified = true;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Read for ObjectFile {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.read_at(buf, self.position).map_err(io::Error::other)?;
        self.position += n as u64;
        Ok(n)
    }
}

impl Seek for ObjectFile {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => Some(p),
            SeekFrom::End(d) => self.size().checked_add_signed(d),
            SeekFrom::Current(d) => self.position.checked_add_signed(d),
        };
        let Some(target) = target else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "seek to a negative or overflowing position",
            ));
        };
        self.position = target;
        Ok(target)
    }
}

impl Drop for ObjectFile {
    fn drop(&mut self) {
        self.cache.close();
    }
}

impl Client {
    /// Opens an object for random access, like a local read-only file: a HEAD reads
    /// its size, ETag and CRC-64, and every read after is pinned to that ETag. See
    /// [`ObjectFile`] for how reads are fetched, prefetched and checked.
    ///
    /// Nothing is fetched at open; the handle is `Send + Sync`.
    ///
    /// ```no_run
    /// use std::io::{Read, Seek, SeekFrom};
    /// use oss_resume::{Client, Config, FileOptions};
    ///
    /// # fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let client = Client::new(Config::builder("https://oss-cn-hangzhou.aliyuncs.com")
    ///     .region("cn-hangzhou")
    ///     .build()?)?;
    /// let mut file = client.open_file("examplebucket", "data/table.parquet", &FileOptions::default())?;
    /// // A Parquet footer: the last 8 bytes give the metadata's length.
    /// let mut tail = [0u8; 8];
    /// file.read_at(&mut tail, file.size() - 8)?;
    /// let meta_len = u32::from_le_bytes(tail[..4].try_into()?) as u64;
    /// let mut meta = vec![0u8; meta_len as usize];
    /// file.seek(SeekFrom::End(-8 - meta_len as i64))?;
    /// file.read_exact(&mut meta)?;
    /// println!("{:?}", file.stats());
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`] for options [`FileOptions::validate`] refuses,
    /// [`ErrorKind::NotFound`], and the transport's errors.
    pub fn open_file(&self, bucket: &str, key: &str, opts: &FileOptions) -> Result<ObjectFile> {
        opts.validate()?;
        let token = match &opts.request.cancel {
            Some(caller) => caller.child(),
            None => Default::default(),
        };
        let request = RequestOptions {
            cancel: Some(token.clone()),
            ..opts.request.clone()
        };
        let info = self.head_object(bucket, key, &request)?;
        if info.etag.is_empty() {
            return Err(Error::new(
                ErrorKind::Server,
                "HEAD answer without an ETag to pin reads to",
            )
            .with_object(bucket, Some(key)));
        }
        let object = Object {
            client: self.clone(),
            bucket: bucket.to_string(),
            key: key.to_string(),
            etag: info.etag,
            size: info.size,
            request,
            resumes: opts.resume_attempts,
        };
        let budget = self.prefetch_budget().clone();
        let cache = Cache::new(object, token, budget, opts.max_requests, opts.max_window);
        cache.counters.requests.store(1, Ordering::Relaxed);
        Ok(ObjectFile {
            cache: Arc::new(cache),
            server_crc: info.crc64,
            front: Mutex::new(FrontCrc::default()),
            position: 0,
        })
    }

    /// How much of the prefetch memory shared by this client's open files is in use,
    /// and the most ever in use.
    pub fn prefetch_memory(&self) -> MemoryUse {
        self.prefetch_budget().usage()
    }
}
