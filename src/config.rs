//! Client configuration: endpoint, addressing, credentials, signing, timeouts,
//! retries, TLS, proxy. All defaults live here.

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::signing::{Credentials, Signer, percent_encode};
use crate::transfer::rate::RateLimit;

/// Default connect timeout.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default timeout for each read from a connection (and for receiving a response).
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);

/// Which signature version requests use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignatureVersion {
    /// `OSS <id>:<signature>` (HMAC-SHA1).
    V1,
    /// `OSS4-HMAC-SHA256`; needs a region.
    V4,
}

impl std::str::FromStr for SignatureVersion {
    type Err = Error;
    /// Parses `v1` or `v4` (any case).
    fn from_str(s: &str) -> Result<Self> {
        match s.trim().to_ascii_lowercase().as_str() {
            "v1" | "1" => Ok(SignatureVersion::V1),
            "v4" | "4" => Ok(SignatureVersion::V4),
            other => Err(Error::invalid(format!(
                "signature version {other:?} is neither v1 nor v4"
            ))),
        }
    }
}

/// How failed requests are retried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all, the first included. Defaults to 4; 1 disables retries.
    pub max_attempts: u32,
    /// Base of the exponential backoff. Defaults to 200 ms.
    pub base_delay: Duration,
    /// Cap of one backoff. Defaults to 20 s.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 4,
            base_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(20),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1 for the first retry): full jitter,
    /// a random duration in `0..min(base * 2^retry, max)`.
    pub fn backoff(&self, retry: u32) -> Duration {
        let exp = self
            .base_delay
            .saturating_mul(1u32.checked_shl(retry.min(20)).unwrap_or(u32::MAX));
        let cap = exp.min(self.max_delay);
        cap.mul_f64(fastrand::f64())
    }
}

/// `http` or `https`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

/// A parsed endpoint: scheme, host and optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Endpoint {
    scheme: Scheme,
    /// Host as it appears in a URL (IPv6 in brackets).
    host: String,
    port: Option<u16>,
    is_ip_or_localhost: bool,
}

impl Endpoint {
    /// Parses `scheme://host[:port]`. Whitespace is trimmed and a trailing `/` is
    /// allowed. The scheme is required and must be `http` or `https`: an endpoint
    /// without one is refused rather than guessed, since guessing `http` would send
    /// credentials and data in clear. Paths, queries and user info are refused. IPv6
    /// hosts are written in brackets.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) naming what is
    /// wrong (for a missing scheme, `no scheme`).
    pub fn parse(text: &str) -> Result<Endpoint> {
        let text = text.trim();
        let bad = |why: &str| Error::invalid(format!("invalid endpoint {text:?}: {why}"));
        if text.is_empty() {
            return Err(bad("it is empty"));
        }
        let (scheme, rest) = match text.split_once("://") {
            Some((s, rest)) => match s.to_ascii_lowercase().as_str() {
                "http" => (Scheme::Http, rest),
                "https" => (Scheme::Https, rest),
                _ => return Err(bad("the scheme must be http or https")),
            },
            None => {
                return Err(bad(&format!(
                    "no scheme; write https://{text} (or http://{text} to send in clear)"
                )));
            }
        };
        let rest = rest.strip_suffix('/').unwrap_or(rest);
        if rest.contains(['/', '?', '#', '@']) || rest.contains(char::is_whitespace) {
            return Err(bad("only scheme://host[:port] is allowed"));
        }
        let (host, port) = if let Some(v6) = rest.strip_prefix('[') {
            let (addr, after) = v6
                .split_once(']')
                .ok_or_else(|| bad("unclosed '[' in an IPv6 address"))?;
            addr.parse::<std::net::Ipv6Addr>()
                .map_err(|_| bad("not an IPv6 address inside [ ]"))?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(|| bad("junk after ']'"))?),
            };
            (format!("[{addr}]"), port)
        } else {
            match rest.rsplit_once(':') {
                Some((h, p)) if !h.contains(':') => (h.to_string(), Some(p)),
                Some(_) => return Err(bad("IPv6 addresses must be written in brackets")),
                None => (rest.to_string(), None),
            }
        };
        let port = match port {
            None => None,
            Some(p) => Some(
                p.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| bad("the port is not a number within 1..65535"))?,
            ),
        };
        if host.is_empty() {
            return Err(bad("the host is empty"));
        }
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let is_ip_or_localhost =
            bare.parse::<IpAddr>().is_ok() || bare.eq_ignore_ascii_case("localhost");
        if !is_ip_or_localhost
            && !host
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        {
            return Err(bad("the host has characters a host name cannot have"));
        }
        Ok(Endpoint {
            scheme,
            host: host.to_ascii_lowercase(),
            port,
            is_ip_or_localhost,
        })
    }

    /// The scheme.
    pub fn scheme(&self) -> Scheme {
        self.scheme
    }

    /// The host, IPv6 in brackets.
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The port, when one was given.
    pub fn port(&self) -> Option<u16> {
        self.port
    }

    /// Whether the host is an IP address or `localhost` (then path style is used).
    pub fn is_ip_or_localhost(&self) -> bool {
        self.is_ip_or_localhost
    }

    fn authority(&self, prefix: Option<&str>) -> String {
        let mut out = String::new();
        if let Some(p) = prefix {
            out.push_str(p);
            out.push('.');
        }
        out.push_str(&self.host);
        if let Some(port) = self.port {
            out.push(':');
            out.push_str(&port.to_string());
        }
        out
    }
}

impl fmt::Display for Endpoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = match self.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        write!(f, "{scheme}://{}", self.authority(None))
    }
}

/// How bucket and key map to a URL.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Addressing {
    /// `bucket.host/key`, or path style for IPs and `localhost` (the default).
    Auto,
    /// `host/bucket/key` always.
    PathStyle,
    /// The endpoint is a custom domain bound to one bucket: `host/key`.
    Cname,
}

/// Checks a bucket name: 3-63 characters of `a-z0-9-`, starting with a letter or
/// digit, not ending with `-`.
pub fn validate_bucket(name: &str) -> Result<()> {
    let b = name.as_bytes();
    let ok = (3..=63).contains(&b.len())
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-';
    if !ok {
        return Err(Error::invalid(format!(
            "invalid bucket name {name:?}: 3-63 characters of a-z, 0-9 and '-', starting with a letter or digit, not ending with '-'"
        )));
    }
    Ok(())
}

/// Checks an object key: non-empty, at most 1023 bytes of UTF-8.
pub fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() {
        return Err(Error::invalid("the object key is empty"));
    }
    if key.len() > 1023 {
        return Err(Error::invalid(format!(
            "the object key is {} bytes long; OSS allows at most 1023",
            key.len()
        )));
    }
    Ok(())
}

/// Headers the library sets itself, refused by name (in any case) wherever a caller's
/// headers enter: the ones that frame the message or say where it goes (`Host`,
/// `Content-Length`, `Transfer-Encoding`, `Connection`, `Expect`), the signature's
/// (`Authorization`, `Date`, `x-oss-date`, `x-oss-content-sha256`,
/// `x-oss-security-token`), the `User-Agent` (see
/// [`ConfigBuilder::user_agent_suffix`]), and the two that
/// [`RequestOptions`](crate::RequestOptions) sets (`x-oss-request-payer`,
/// `x-oss-traffic-limit`). The copy headers (`x-oss-copy-source*`,
/// `x-oss-metadata-directive`), which would make a put a copy, are refused too
/// ([`Client::copy`](crate::Client::copy) sets them).
pub(crate) const RESERVED_HEADERS: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "expect",
    "authorization",
    "date",
    "x-oss-date",
    "x-oss-content-sha256",
    "x-oss-security-token",
    "user-agent",
    "x-oss-request-payer",
    "x-oss-traffic-limit",
];

/// Checks a header value: no control characters (CR, LF, NUL, DEL, ...; a tab is
/// allowed), which would end the header early or make the request unsendable.
/// `what` names the value in the error.
pub(crate) fn validate_header_value(what: &str, value: &str) -> Result<()> {
    if let Some(c) = value.chars().find(|c| c.is_control() && *c != '\t') {
        return Err(Error::invalid(format!(
            "{what} contains the control character {c:?}; header values cannot"
        )));
    }
    Ok(())
}

/// Checks a caller's request headers: each name is a non-empty HTTP token and not one
/// the library sets itself (see the list in the docs of
/// [`Client::put_object`](crate::Client::put_object)), and each value passes
/// [`validate_header_value`].
///
/// # Errors
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) naming the header.
pub(crate) fn validate_user_headers(headers: &[(String, String)]) -> Result<()> {
    for (name, value) in headers {
        validate_header_name(name)?;
        validate_header_value(&format!("the value of header {name:?}"), value)?;
    }
    Ok(())
}

/// Checks one header name: an HTTP token (RFC 9110) that the library does not set itself.
pub(crate) fn validate_header_name(name: &str) -> Result<()> {
    const TOKEN_PUNCTUATION: &str = "!#$%&'*+-.^_`|~";
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || TOKEN_PUNCTUATION.contains(c))
    {
        return Err(Error::invalid(format!(
            "{name:?} is not a valid header name (letters, digits and !#$%&'*+-.^_`|~ only)"
        )));
    }
    // A copy source (or directive) would turn a put or an Initiate into a copy.
    let lower = name.to_ascii_lowercase();
    if RESERVED_HEADERS.contains(&lower.as_str())
        || lower.starts_with("x-oss-copy-source")
        || lower == "x-oss-metadata-directive"
    {
        return Err(Error::invalid(format!(
            "header {name:?} is set by the library and cannot be given"
        )));
    }
    Ok(())
}

/// The configuration of a [`Client`](crate::Client). Build one with [`Config::builder`].
#[derive(Clone)]
pub struct Config {
    pub(crate) endpoint: Endpoint,
    pub(crate) addressing: Addressing,
    pub(crate) region: Option<String>,
    pub(crate) credentials: Credentials,
    pub(crate) signer: Signer,
    pub(crate) connect_timeout: Duration,
    pub(crate) read_timeout: Duration,
    pub(crate) retry: RetryPolicy,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) proxy: Option<String>,
    pub(crate) user_agent: String,
    pub(crate) prefetch_memory: u64,
    pub(crate) rate_limit: RateLimit,
}

impl Config {
    /// Starts a configuration for this endpoint (`[http[s]://]host[:port]`).
    pub fn builder(endpoint: &str) -> ConfigBuilder {
        ConfigBuilder {
            endpoint: endpoint.to_string(),
            addressing: Addressing::Auto,
            region: None,
            credentials: None,
            version: SignatureVersion::V4,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            read_timeout: DEFAULT_READ_TIMEOUT,
            retry: RetryPolicy::default(),
            ca_file: None,
            proxy: None,
            user_agent_suffix: None,
            prefetch_memory: crate::transfer::budget::DEFAULT_PREFETCH_MEMORY,
            rate_limit: RateLimit::default(),
        }
    }

    /// The endpoint.
    pub fn endpoint(&self) -> &Endpoint {
        &self.endpoint
    }

    /// The retry policy.
    pub fn retry_policy(&self) -> RetryPolicy {
        self.retry
    }

    /// The `scheme://authority` and path for a bucket and optional key, the key
    /// percent-encoded (`/` kept).
    pub(crate) fn url_base(&self, bucket: &str, key: Option<&str>) -> String {
        let scheme = match self.endpoint.scheme {
            Scheme::Http => "http",
            Scheme::Https => "https",
        };
        let key = key.map(|k| percent_encode(k, true)).unwrap_or_default();
        let path_style = match self.addressing {
            Addressing::PathStyle => true,
            Addressing::Cname => false,
            Addressing::Auto => self.endpoint.is_ip_or_localhost,
        };
        if self.addressing == Addressing::Cname {
            format!("{scheme}://{}/{key}", self.endpoint.authority(None))
        } else if path_style {
            format!(
                "{scheme}://{}/{bucket}/{key}",
                self.endpoint.authority(None)
            )
        } else {
            format!("{scheme}://{}/{key}", self.endpoint.authority(Some(bucket)))
        }
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("endpoint", &self.endpoint.to_string())
            .field("addressing", &self.addressing)
            .field("region", &self.region)
            .field("credentials", &self.credentials)
            .field("signer", &self.signer)
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .field("retry", &self.retry)
            .field("ca_file", &self.ca_file)
            .field("proxy", &self.proxy.as_ref().map(|p| redact_proxy(p)))
            .field("user_agent", &self.user_agent)
            .field("prefetch_memory", &self.prefetch_memory)
            .field("rate_limit", &self.rate_limit)
            .finish()
    }
}

/// Hides a password in `scheme://user:password@host`.
fn redact_proxy(proxy: &str) -> String {
    match (proxy.find("://"), proxy.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let user_info = &proxy[s + 3..at];
            let user = user_info.split(':').next().unwrap_or("");
            format!("{}{user}:<redacted>{}", &proxy[..s + 3], &proxy[at..])
        }
        _ => proxy.to_string(),
    }
}

/// Builds a [`Config`]. Every setter states its default.
#[derive(Clone)]
pub struct ConfigBuilder {
    endpoint: String,
    addressing: Addressing,
    region: Option<String>,
    credentials: Option<Credentials>,
    version: SignatureVersion,
    connect_timeout: Duration,
    read_timeout: Duration,
    retry: RetryPolicy,
    ca_file: Option<PathBuf>,
    proxy: Option<String>,
    user_agent_suffix: Option<String>,
    prefetch_memory: u64,
    rate_limit: RateLimit,
}

impl fmt::Debug for ConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigBuilder")
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("credentials", &self.credentials)
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl ConfigBuilder {
    /// The region, e.g. `cn-hangzhou`; required for V4 signing. Defaults to none.
    pub fn region(mut self, region: &str) -> Self {
        self.region = Some(region.trim().to_string()).filter(|r| !r.is_empty());
        self
    }

    /// Access key id, secret and optional STS token. Defaults to the environment
    /// (`OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET`, `OSS_SESSION_TOKEN`) when not set.
    pub fn credentials(mut self, id: &str, secret: &str, sts_token: Option<&str>) -> Self {
        self.credentials = Some(Credentials::new(id, secret, sts_token.map(str::to_string)));
        self
    }

    /// The signature version. Defaults to V4 (which needs [`region`](Self::region)).
    pub fn signature_version(mut self, version: SignatureVersion) -> Self {
        self.version = version;
        self
    }

    /// How bucket and key map to URLs. Defaults to [`Addressing::Auto`]: virtual-hosted
    /// for host names, path style for IP addresses and `localhost`.
    pub fn addressing(mut self, addressing: Addressing) -> Self {
        self.addressing = addressing;
        self
    }

    /// Timeout for establishing a connection. Defaults to 10 s.
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// Timeout for each wait on the server (the response head, each read of a body).
    /// Defaults to 60 s.
    pub fn read_timeout(mut self, timeout: Duration) -> Self {
        self.read_timeout = timeout;
        self
    }

    /// The retry policy. Defaults to [`RetryPolicy::default`] (4 attempts, 200 ms
    /// base, 20 s cap, full jitter).
    pub fn retry_policy(mut self, retry: RetryPolicy) -> Self {
        self.retry = retry;
        self
    }

    /// A PEM file of extra CA certificates trusted beside the system's store (for
    /// private endpoints). Defaults to none.
    pub fn ca_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.ca_file = Some(path.into());
        self
    }

    /// A proxy URL (`http://[user:password@]host:port`, or `socks5://...`). Defaults
    /// to none.
    pub fn proxy(mut self, proxy: &str) -> Self {
        self.proxy = Some(proxy.to_string());
        self
    }

    /// Text appended to the User-Agent (`oss_resume/<version> <suffix>`). Defaults to
    /// none. A suffix with a control character (CR, LF, ...) makes
    /// [`build`](Self::build) fail.
    pub fn user_agent_suffix(mut self, suffix: &str) -> Self {
        self.user_agent_suffix = Some(suffix.to_string());
        self
    }

    /// The memory, in bytes, that the files this client opens with
    /// [`Client::open_file`](crate::Client::open_file) may hold at once for what they
    /// fetch and prefetch: one limit shared by all of them, never exceeded. A read
    /// that does not fit is fetched straight into the caller's buffer; 0 makes every
    /// read do so. Defaults to 64 MiB.
    pub fn prefetch_memory(mut self, bytes: u64) -> Self {
        self.prefetch_memory = bytes;
        self
    }

    /// The client's bandwidth cap, each direction in bytes per second (0: none),
    /// shared by every connection, transfer and thread of the client; change it on
    /// a live client with [`Client::set_rate_limit`](crate::Client::set_rate_limit).
    /// Defaults to no cap. See [`RateLimit`].
    pub fn rate_limit(mut self, limit: RateLimit) -> Self {
        self.rate_limit = limit;
        self
    }

    /// Checks everything and builds the configuration.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) for a bad
    /// endpoint (one without `http://` or `https://` included), missing credentials,
    /// V4 without a region, a zero timeout or attempt count, or a user-agent suffix
    /// with a control character; [`ErrorKind::Io`](crate::ErrorKind::Io) for an
    /// unreadable CA file.
    pub fn build(self) -> Result<Config> {
        let endpoint = Endpoint::parse(&self.endpoint)?;
        if let Some(suffix) = &self.user_agent_suffix {
            validate_header_value("the user-agent suffix", suffix)?;
        }
        let credentials = match self.credentials {
            Some(c) => c,
            None => credentials_from_env()?,
        };
        if credentials.access_key_id().is_empty() || credentials.access_key_secret().is_empty() {
            return Err(Error::invalid(
                "the access key id and secret must not be empty",
            ));
        }
        let signer = match self.version {
            SignatureVersion::V1 => Signer::V1,
            SignatureVersion::V4 => Signer::V4 {
                region: self.region.clone().ok_or_else(|| {
                    Error::invalid(
                        "signature version V4 needs a region (e.g. cn-hangzhou); set one or choose V1",
                    )
                })?,
            },
        };
        if self.connect_timeout.is_zero() || self.read_timeout.is_zero() {
            return Err(Error::invalid("timeouts must be greater than zero"));
        }
        if self.retry.max_attempts == 0 {
            return Err(Error::invalid("the retry policy needs at least 1 attempt"));
        }
        if let Some(ca) = &self.ca_file
            && let Err(e) = std::fs::metadata(ca)
        {
            return Err(Error::io(
                format!("reading the CA file {}", ca.display()),
                e,
            ));
        }
        let mut user_agent = format!("oss_resume/{}", env!("CARGO_PKG_VERSION"));
        if let Some(s) = self.user_agent_suffix.filter(|s| !s.trim().is_empty()) {
            user_agent.push(' ');
            user_agent.push_str(s.trim());
        }
        Ok(Config {
            endpoint,
            addressing: self.addressing,
            region: self.region,
            credentials,
            signer,
            connect_timeout: self.connect_timeout,
            read_timeout: self.read_timeout,
            retry: self.retry,
            ca_file: self.ca_file,
            proxy: self.proxy,
            user_agent,
            prefetch_memory: self.prefetch_memory,
            rate_limit: self.rate_limit,
        })
    }
}

/// Credentials from `OSS_ACCESS_KEY_ID`, `OSS_ACCESS_KEY_SECRET` and, optionally,
/// `OSS_SESSION_TOKEN`.
///
/// # Errors
/// [`ErrorKind::InvalidArgument`](crate::ErrorKind::InvalidArgument) naming the
/// variable that is missing.
pub fn credentials_from_env() -> Result<Credentials> {
    let get = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let id = get("OSS_ACCESS_KEY_ID").ok_or_else(|| {
        Error::invalid("no credentials: set them on the config or in OSS_ACCESS_KEY_ID")
    })?;
    let secret = get("OSS_ACCESS_KEY_SECRET").ok_or_else(|| {
        Error::invalid("no credentials: OSS_ACCESS_KEY_ID is set but OSS_ACCESS_KEY_SECRET is not")
    })?;
    Ok(Credentials::new(id, secret, get("OSS_SESSION_TOKEN")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(endpoint: &str, addressing: Addressing) -> Config {
        Config::builder(endpoint)
            .credentials("id", "secret", None)
            .signature_version(SignatureVersion::V1)
            .addressing(addressing)
            .build()
            .unwrap()
    }

    #[test]
    fn endpoint_accepts_hosts_ips_and_ports() {
        let e = Endpoint::parse("  https://oss-cn-hangzhou.aliyuncs.com ").unwrap();
        assert_eq!(e.to_string(), "https://oss-cn-hangzhou.aliyuncs.com");
        assert!(!e.is_ip_or_localhost());
        let e = Endpoint::parse("https://127.0.0.1:8443/").unwrap();
        assert_eq!((e.scheme(), e.port()), (Scheme::Https, Some(8443)));
        assert!(e.is_ip_or_localhost());
        let e = Endpoint::parse("http://[::1]:9000").unwrap();
        assert_eq!(e.host(), "[::1]");
        assert!(e.is_ip_or_localhost());
        assert!(
            Endpoint::parse("http://localhost:1")
                .unwrap()
                .is_ip_or_localhost()
        );
    }

    #[test]
    fn endpoint_refuses_what_is_not_scheme_host_port() {
        for bad in [
            "",
            "ftp://host",
            "http://host/path",
            "http://host?x=1",
            "http://user@host",
            "http://host:0",
            "http://host:99999",
            "::1",
            "http://[::1",
            "http://ho st",
        ] {
            let err = Endpoint::parse(bad).unwrap_err();
            assert!(err.to_string().contains("invalid endpoint"), "{bad}: {err}");
        }
    }

    #[test]
    fn endpoint_without_a_scheme_is_refused_naming_the_problem() {
        for bare in [
            "oss-cn-hangzhou.aliyuncs.com",
            "127.0.0.1:9000",
            "localhost",
            "[::1]:9000",
        ] {
            let err = Endpoint::parse(bare).unwrap_err();
            let text = err.to_string();
            assert!(text.contains("no scheme"), "{bare}: {text}");
            assert!(text.contains(&format!("https://{bare}")), "{bare}: {text}");
        }
    }

    #[test]
    fn user_agent_suffix_with_a_control_character_is_refused() {
        for bad in ["x\r\nX-Injected: 1", "a\nb", "nul\0", "del\u{7f}"] {
            let err = Config::builder("https://oss.example.com")
                .credentials("id", "secret", None)
                .signature_version(SignatureVersion::V1)
                .user_agent_suffix(bad)
                .build()
                .unwrap_err();
            assert_eq!(err.kind(), crate::ErrorKind::InvalidArgument, "{bad:?}");
            assert!(err.to_string().contains("user-agent suffix"), "{err}");
        }
    }

    #[test]
    fn reserved_and_malformed_headers_are_refused_by_name() {
        let one = |n: &str, v: &str| vec![(n.to_string(), v.to_string())];
        for reserved in RESERVED_HEADERS {
            for name in [reserved.to_string(), reserved.to_ascii_uppercase()] {
                let err = validate_user_headers(&one(&name, "1")).unwrap_err();
                assert!(err.to_string().contains(&format!("{name:?}")), "{err}");
            }
        }
        for name in ["", "a b", "x:y", "caf\u{e9}", "a\r\nb"] {
            assert!(validate_user_headers(&one(name, "v")).is_err(), "{name:?}");
        }
        for value in ["a\r\nHost: evil", "\n", "x\0"] {
            assert!(validate_user_headers(&one("x-oss-meta-a", value)).is_err());
        }
        let fine = vec![
            (
                "Content-Type".to_string(),
                "text/plain; charset=utf-8".to_string(),
            ),
            (
                "x-oss-meta-note".to_string(),
                "tab\there, caf\u{e9}".to_string(),
            ),
            (
                "Content-MD5".to_string(),
                "1B2M2Y8AsgTpgAmY7PhCfg==".to_string(),
            ),
            ("x-oss-object-acl".to_string(), "private".to_string()),
        ];
        validate_user_headers(&fine).unwrap();
    }

    #[test]
    fn addressing_picks_path_style_for_ips_and_virtual_hosts_otherwise() {
        let key = "a/b c+d~e!*'()中.txt";
        assert_eq!(
            config("http://oss.example.com", Addressing::Auto).url_base("bkt", Some(key)),
            "http://bkt.oss.example.com/a/b%20c%2Bd~e%21%2A%27%28%29%E4%B8%AD.txt"
        );
        assert_eq!(
            config("http://127.0.0.1:9000", Addressing::Auto).url_base("bkt", Some("k")),
            "http://127.0.0.1:9000/bkt/k"
        );
        assert_eq!(
            config("http://oss.example.com", Addressing::PathStyle).url_base("bkt", Some("k")),
            "http://oss.example.com/bkt/k"
        );
        assert_eq!(
            config("https://cdn.example.com", Addressing::Cname).url_base("bkt", Some("k")),
            "https://cdn.example.com/k"
        );
        assert_eq!(
            config("http://oss.example.com", Addressing::Auto).url_base("bkt", None),
            "http://bkt.oss.example.com/"
        );
    }

    #[test]
    fn v4_without_region_is_a_clear_error() {
        let err = Config::builder("https://oss.example.com")
            .credentials("id", "secret", None)
            .signature_version(SignatureVersion::V4)
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("region"), "{err}");
    }

    #[test]
    fn debug_output_redacts_secrets() {
        let c = Config::builder("https://oss.example.com")
            .credentials("the-id", "the-secret", Some("the-token"))
            .region("cn-hangzhou")
            .proxy("http://user:pw-secret@proxy:3128")
            .build()
            .unwrap();
        let text = format!("{c:?}");
        assert!(text.contains("the-id"));
        for secret in ["the-secret", "the-token", "pw-secret"] {
            assert!(!text.contains(secret), "{secret} leaked: {text}");
        }
    }

    #[test]
    fn bucket_and_key_rules() {
        assert!(validate_bucket("my-bucket-1").is_ok());
        for bad in ["ab", "-abc", "abc-", "ABC", "a_b", &"a".repeat(64)] {
            assert!(validate_bucket(bad).is_err(), "{bad}");
        }
        assert!(validate_key("").is_err());
        assert!(validate_key(&"k".repeat(1024)).is_err());
        assert!(validate_key(&"k".repeat(1023)).is_ok());
    }

    #[test]
    fn backoff_is_bounded_by_the_cap() {
        let p = RetryPolicy {
            max_attempts: 5,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(300),
        };
        for retry in 1..30 {
            assert!(p.backoff(retry) <= Duration::from_millis(300));
        }
    }
}
