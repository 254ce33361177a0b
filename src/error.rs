//! The one error type of the library, and its classification.

use std::fmt;

/// What kind of failure an [`Error`] is. Stable: the C ABI maps each kind to a code.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The bucket, key or multipart upload does not exist (404 `NoSuchKey`,
    /// `NoSuchBucket`, `NoSuchUpload`).
    NotFound,
    /// The server refused the credentials or the signature (403 `AccessDenied`,
    /// `SignatureDoesNotMatch`, `InvalidAccessKeyId`, ...).
    AccessDenied,
    /// The object changed while it was being read (412 `PreconditionFailed` on
    /// `If-Match`, or a different ETag than expected).
    ObjectChanged,
    /// A caller's argument or the configuration is invalid, or the server refused an
    /// argument (400 `InvalidArgument`, 416 `InvalidRange`, ...).
    InvalidArgument,
    /// The connection failed: refused, reset, cut short, DNS, TLS.
    Network,
    /// A connect or read timeout expired.
    Timeout,
    /// The bytes received or stored do not match the CRC-64 the other side reported.
    CrcMismatch,
    /// A local file could not be read or written.
    Io,
    /// The caller cancelled the transfer (a progress callback asked to stop).
    Cancelled,
    /// The server asked us to slow down and retries ran out (503, 429).
    ServerBusy,
    /// Another transfer holds the same target.
    Busy,
    /// The server failed (5xx other than busy) or answered something we cannot use.
    Server,
}

impl ErrorKind {
    /// A short lowercase description.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::NotFound => "not found",
            ErrorKind::AccessDenied => "access denied",
            ErrorKind::ObjectChanged => "object changed",
            ErrorKind::InvalidArgument => "invalid argument",
            ErrorKind::Network => "network error",
            ErrorKind::Timeout => "timed out",
            ErrorKind::CrcMismatch => "crc mismatch",
            ErrorKind::Io => "local i/o error",
            ErrorKind::Cancelled => "cancelled",
            ErrorKind::ServerBusy => "server busy",
            ErrorKind::Busy => "target busy",
            ErrorKind::Server => "server error",
        }
    }
}

/// The details of an OSS error answer.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct OssErrorDetails {
    /// `Code`, e.g. `NoSuchKey`.
    pub code: String,
    /// `Message`.
    pub message: String,
    /// `RequestId` (or the `x-oss-request-id` header).
    pub request_id: String,
    /// `HostId`.
    pub host_id: String,
    /// `EC`, the detailed error code (or the `x-oss-ec` header).
    pub ec: String,
}

/// An error from any call of this library.
///
/// It keeps what the server said (HTTP status, OSS Code, Message, RequestId, HostId,
/// EC), the bucket and key involved, and a [`kind`](Error::kind) to act on.
pub struct Error {
    kind: ErrorKind,
    message: String,
    status: Option<u16>,
    oss: Option<Box<OssErrorDetails>>,
    bucket: Option<String>,
    key: Option<String>,
    source: Option<Box<dyn std::error::Error + Send + Sync + 'static>>,
    /// Never worth retrying, whatever the kind (e.g. an untrusted certificate).
    permanent: bool,
    /// The server's hint of how long to wait (`x-oss-qos-delay-time`).
    retry_after: Option<std::time::Duration>,
}

impl Error {
    /// A new error of this kind with a message.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Error {
        Error {
            kind,
            message: message.into(),
            status: None,
            oss: None,
            bucket: None,
            key: None,
            source: None,
            permanent: false,
            retry_after: None,
        }
    }

    /// An invalid argument or configuration.
    pub fn invalid(message: impl Into<String>) -> Error {
        Error::new(ErrorKind::InvalidArgument, message)
    }

    /// A local I/O failure, with what was being done.
    pub fn io(what: impl Into<String>, source: std::io::Error) -> Error {
        let what = what.into();
        Error::new(ErrorKind::Io, format!("{what}: {source}")).with_source(source)
    }

    /// An OSS error answer, classified by status and Code.
    pub fn from_oss(status: u16, details: OssErrorDetails) -> Error {
        let kind = classify(status, &details.code);
        let message = if details.code.is_empty() {
            format!("http status {status}")
        } else if details.message.is_empty() {
            format!("{} ({status})", details.code)
        } else {
            format!("{} ({status}): {}", details.code, details.message)
        };
        Error {
            kind,
            message,
            status: Some(status),
            oss: Some(Box::new(details)),
            bucket: None,
            key: None,
            source: None,
            permanent: false,
            retry_after: None,
        }
    }

    /// Keeps the HTTP status of an answer this error comes from.
    pub(crate) fn with_status(mut self, status: u16) -> Error {
        self.status = Some(status);
        self
    }

    /// Names the bucket and key involved (shown in the message).
    pub fn with_object(mut self, bucket: &str, key: Option<&str>) -> Error {
        if self.bucket.is_none() {
            self.bucket = Some(bucket.to_string());
            self.key = key.map(str::to_string);
        }
        self
    }

    pub(crate) fn with_source(
        mut self,
        source: impl std::error::Error + Send + Sync + 'static,
    ) -> Error {
        self.source = Some(Box::new(source));
        self
    }

    /// A copy of this error for a caller that asks again (a stream that failed keeps
    /// failing): every field but the source, whose text is already in the message.
    pub(crate) fn duplicate(&self) -> Error {
        Error {
            kind: self.kind,
            message: self.message.clone(),
            status: self.status,
            oss: self.oss.clone(),
            bucket: self.bucket.clone(),
            key: self.key.clone(),
            source: None,
            permanent: self.permanent,
            retry_after: self.retry_after,
        }
    }

    pub(crate) fn permanent(mut self) -> Error {
        self.permanent = true;
        self
    }

    pub(crate) fn with_retry_after(mut self, delay: std::time::Duration) -> Error {
        self.retry_after = Some(delay);
        self
    }

    /// The server's hint of how long to wait before retrying, if it sent one.
    pub(crate) fn retry_after(&self) -> Option<std::time::Duration> {
        self.retry_after
    }

    /// The classification.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The message, without the bucket/key prefix.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The HTTP status, when the server answered.
    pub fn status(&self) -> Option<u16> {
        self.status
    }

    /// The server's error details, when it sent any.
    pub fn oss(&self) -> Option<&OssErrorDetails> {
        self.oss.as_deref()
    }

    /// The OSS `Code`, when the server sent one.
    pub fn oss_code(&self) -> Option<&str> {
        self.oss()
            .map(|d| d.code.as_str())
            .filter(|c| !c.is_empty())
    }

    /// The server's request id, when it sent one.
    pub fn request_id(&self) -> Option<&str> {
        self.oss()
            .map(|d| d.request_id.as_str())
            .filter(|c| !c.is_empty())
    }

    /// The bucket involved, when known.
    pub fn bucket(&self) -> Option<&str> {
        self.bucket.as_deref()
    }

    /// The key involved, when known.
    pub fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Whether trying again may succeed: network errors, timeouts, 5xx, 429 and
    /// clock-skew answers.
    pub fn is_retryable(&self) -> bool {
        if self.permanent {
            return false;
        }
        match self.kind {
            ErrorKind::Network | ErrorKind::Timeout | ErrorKind::ServerBusy => true,
            ErrorKind::Server => self.status.is_some_and(|s| s >= 500),
            _ => self.oss_code() == Some("RequestTimeTooSkewed"),
        }
    }
}

/// Maps an HTTP status and OSS Code to a kind.
pub(crate) fn classify(status: u16, code: &str) -> ErrorKind {
    match (status, code) {
        (_, "NoSuchKey" | "NoSuchBucket" | "NoSuchUpload" | "NoSuchVersion") => ErrorKind::NotFound,
        (404, _) => ErrorKind::NotFound,
        (412, _) | (_, "PreconditionFailed") => ErrorKind::ObjectChanged,
        (_, "RequestTimeTooSkewed") => ErrorKind::AccessDenied,
        (401 | 403, _) => ErrorKind::AccessDenied,
        (429 | 503, _) | (_, "ServiceUnavailable" | "TooManyRequests" | "SlowDown") => {
            ErrorKind::ServerBusy
        }
        (400..=499, _) => ErrorKind::InvalidArgument,
        _ => ErrorKind::Server,
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.bucket, &self.key) {
            (Some(b), Some(k)) => write!(f, "oss://{b}/{k}: ")?,
            (Some(b), None) => write!(f, "oss://{b}: ")?,
            _ => {}
        }
        f.write_str(&self.message)?;
        if let Some(id) = self.request_id() {
            write!(f, " (request id {id})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("message", &self.message)
            .field("status", &self.status)
            .field("oss", &self.oss)
            .field("bucket", &self.bucket)
            .field("key", &self.key)
            .field("source", &self.source)
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn std::error::Error + 'static))
    }
}

/// Shorthand for results of this library.
pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    fn oss(status: u16, code: &str) -> Error {
        Error::from_oss(
            status,
            OssErrorDetails {
                code: code.into(),
                message: "m".into(),
                request_id: "RID".into(),
                ..Default::default()
            },
        )
    }

    #[test]
    fn oss_codes_are_classified() {
        assert_eq!(oss(404, "NoSuchKey").kind(), ErrorKind::NotFound);
        assert_eq!(oss(404, "NoSuchBucket").kind(), ErrorKind::NotFound);
        assert_eq!(
            oss(403, "SignatureDoesNotMatch").kind(),
            ErrorKind::AccessDenied
        );
        assert_eq!(
            oss(412, "PreconditionFailed").kind(),
            ErrorKind::ObjectChanged
        );
        assert_eq!(
            oss(400, "InvalidArgument").kind(),
            ErrorKind::InvalidArgument
        );
        assert_eq!(oss(503, "ServiceUnavailable").kind(), ErrorKind::ServerBusy);
        assert_eq!(oss(429, "TooManyRequests").kind(), ErrorKind::ServerBusy);
        assert_eq!(oss(500, "InternalError").kind(), ErrorKind::Server);
    }

    #[test]
    fn retryable_errors_are_transient_ones() {
        assert!(oss(503, "ServiceUnavailable").is_retryable());
        assert!(oss(500, "InternalError").is_retryable());
        assert!(oss(403, "RequestTimeTooSkewed").is_retryable());
        assert!(!oss(403, "AccessDenied").is_retryable());
        assert!(!oss(404, "NoSuchKey").is_retryable());
        assert!(Error::new(ErrorKind::Network, "reset").is_retryable());
    }

    #[test]
    fn message_names_object_and_request_id() {
        let e = oss(404, "NoSuchKey").with_object("bkt", Some("a/b.txt"));
        let text = e.to_string();
        assert!(text.contains("oss://bkt/a/b.txt"), "{text}");
        assert!(text.contains("NoSuchKey"), "{text}");
        assert!(text.contains("RID"), "{text}");
    }
}
