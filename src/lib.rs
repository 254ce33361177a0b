//! Resumable, verified transfers to and from Alibaba Cloud OSS.
//!
//! A synchronous library: every call blocks, threads are managed inside, and
//! failures come back as one [`Error`] type with a [`kind`](Error::kind) to act on and
//! the server's own details (status, OSS code, request id) kept.
//!
//! ```no_run
//! use oss_resume::{Client, Config, RequestOptions, SignatureVersion};
//!
//! # fn main() -> Result<(), oss_resume::Error> {
//! let config = Config::builder("https://oss-cn-hangzhou.aliyuncs.com")
//!     .region("cn-hangzhou")
//!     .signature_version(SignatureVersion::V4)
//!     // Without .credentials(..), OSS_ACCESS_KEY_ID / OSS_ACCESS_KEY_SECRET are used.
//!     .build()?;
//! let client = Client::new(config)?;
//! let info = client.head_object("examplebucket", "exampledir/object.bin", &RequestOptions::default())?;
//! println!("{} bytes, etag {}, crc64 {:?}", info.size, info.etag, info.crc64);
//! # Ok(())
//! # }
//! ```

#![deny(missing_docs)]
// `unsafe` is denied everywhere but `ffi`, the C ABI, which allows it module by module.
#![deny(unsafe_code)]

mod checkpoint;
mod client;
mod config;
mod copy;
pub mod crc64;
mod dir;
mod download;
mod error;
// The C ABI: private to Rust users (its functions take raw pointers), its
// `#[no_mangle]` symbols exported from the shared and static libraries all the same.
#[allow(unsafe_code)]
mod ffi;
mod list;
mod random;
#[doc(hidden)]
pub mod server_auth;
pub mod signing;
mod stream;
mod transfer;
mod transport;
mod upload;
mod xml;

pub use checkpoint::CheckpointState;
pub use client::{
    ByteRange, Client, ObjectInfo, ObjectReader, PartSource, PutResult, PutSource, RequestOptions,
    UploadedPart,
};
pub use config::{
    Addressing, Config, ConfigBuilder, DEFAULT_CONNECT_TIMEOUT, DEFAULT_READ_TIMEOUT, Endpoint,
    RetryPolicy, Scheme, SignatureVersion, credentials_from_env, validate_bucket, validate_key,
};
pub use copy::{CopyMetadata, CopyOptions, CopyPath, CopyReport};
pub use dir::{Compare, DirOptions, DirProgress, DirProgressFn, DirReport, FileFailure};
pub use download::{DEFAULT_MULTIGET_THRESHOLD, DownloadOptions, DownloadReport};
pub use error::{Error, ErrorKind, OssErrorDetails, Result};
pub use list::{ListOptions, ListPage, ObjectLister};
pub use random::{FileOptions, FileStats, MemoryUse, ObjectFile};
pub use stream::{GetOptions, GetStream, StreamProgress, StreamReport};
pub use transfer::{
    CancelToken, DEFAULT_PART_SIZE, Durability, MAX_PART_SIZE, MAX_PARTS, MAX_THREADS,
    MIN_PART_SIZE, Progress, RateLimit, plan_part_size,
};
pub use upload::{DEFAULT_MULTIPART_THRESHOLD, UploadOptions, UploadReport, guess_content_type};
pub use xml::{ListedObject, ListedPart, ListedUpload};
