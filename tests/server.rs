//! The local OSS server itself: its control endpoint, every fault switch, the OSS rules
//! it enforces, persistence across restarts, and the `ossr serve` process.
//!
//! Requests are written by hand over TCP (signed with the library's signing code where
//! the server wants a signature), so each test sees exactly what goes over the wire.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::path::Path;
use std::time::{Duration, Instant, SystemTime};

use base64::Engine;
use md5::{Digest, Md5};
use oss_resume::signing::{Credentials, Signer, percent_encode, sign_headers};
use oss_resume::{Client, Config, RequestOptions, SignatureVersion};
use oss_resume_server::{Server, ServerConfig};

const AK: &str = "server-ak";
const SK: &str = "server-sk";
const BUCKET: &str = "test-bucket";
const REGION: &str = "cn-hangzhou";
/// Every socket read and write in these tests gives up after this long.
const IO_TIMEOUT: Duration = Duration::from_secs(10);
/// Smallest part OSS accepts except for the last one.
const MIN_PART: usize = 100 * 1024;

// ---------------------------------------------------------------------------------
// Helpers: servers, hand-written HTTP, XML and JSON.
// ---------------------------------------------------------------------------------

fn config() -> ServerConfig {
    let mut config = ServerConfig::new(AK, SK);
    config.buckets = vec![BUCKET.to_string()];
    config
}

fn server() -> Server {
    Server::start(config()).unwrap()
}

/// Bytes that differ from one offset to the next, so a shifted or flipped byte shows.
fn pattern(len: usize) -> Vec<u8> {
    (0..len).map(|i| (i * 31 % 251) as u8).collect()
}

fn md5_base64(data: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(Md5::digest(data))
}

/// A response as read off the wire.
#[derive(Debug)]
struct Resp {
    status: u16,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Resp {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// The OSS error code of an XML error body.
    fn code(&self) -> String {
        xml_one(&self.text(), "Code").unwrap_or_default()
    }

    fn etag(&self) -> String {
        self.header("ETag").expect("an ETag header").to_string()
    }
}

/// Text of every `<tag>...</tag>` in document order.
fn xml_all(xml: &str, tag: &str) -> Vec<String> {
    let open = format!("<{tag}>");
    let close = format!("</{tag}>");
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(start) = rest.find(&open) {
        let after = &rest[start + open.len()..];
        let Some(end) = after.find(&close) else { break };
        out.push(after[..end].to_string());
        rest = &after[end + close.len()..];
    }
    out
}

fn xml_one(xml: &str, tag: &str) -> Option<String> {
    xml_all(xml, tag).into_iter().next()
}

/// The raw JSON text of the first member called `name`: a number, a string with its
/// quotes, or a whole nested object. Enough for the server's compact JSON.
fn json_member<'a>(json: &'a str, name: &str) -> Option<&'a str> {
    let needle = format!("\"{name}\":");
    let rest = &json[json.find(&needle)? + needle.len()..];
    let mut depth = 0;
    let mut in_string = false;
    let mut escaped = false;
    for (i, c) in rest.char_indices() {
        if in_string {
            match c {
                _ if escaped => escaped = false,
                '\\' => escaped = true,
                '"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match c {
            '"' => in_string = true,
            '{' | '[' => depth += 1,
            '}' | ']' if depth == 0 => return Some(&rest[..i]),
            '}' | ']' => depth -= 1,
            ',' if depth == 0 => return Some(&rest[..i]),
            _ => {}
        }
    }
    Some(rest)
}

/// One client connection, kept alive across requests until dropped.
struct Conn {
    addr: SocketAddr,
    reader: BufReader<TcpStream>,
}

impl Conn {
    fn open(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect_timeout(&addr, IO_TIMEOUT).unwrap();
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Conn {
            addr,
            reader: BufReader::new(stream),
        }
    }

    fn write(&mut self, bytes: &[u8]) {
        self.reader.get_mut().write_all(bytes).unwrap();
    }

    fn shutdown_write(&self) {
        self.reader.get_ref().shutdown(Shutdown::Write).unwrap();
    }

    /// Reads a status line and headers; an error when the connection ends first.
    fn read_head(&mut self) -> std::io::Result<Resp> {
        let mut line = String::new();
        if self.reader.read_line(&mut line)? == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "connection closed before a response",
            ));
        }
        let status = line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("bad status line {line:?}"));
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            if self.reader.read_line(&mut line)? == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed inside the response head",
                ));
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            let (name, value) = line.split_once(':').expect("a header line");
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        Ok(Resp {
            status,
            headers,
            body: Vec::new(),
        })
    }

    /// Reads the body its Content-Length announces (none for HEAD and 304).
    fn read_body(&mut self, resp: &mut Resp, method: &str) {
        if method == "HEAD" || resp.status == 304 {
            return;
        }
        let len: usize = resp
            .header("Content-Length")
            .expect("Content-Length")
            .parse()
            .unwrap();
        resp.body = vec![0; len];
        self.reader.read_exact(&mut resp.body).unwrap();
    }

    /// Everything until the server closes the connection.
    fn read_to_close(&mut self) -> Vec<u8> {
        let mut out = Vec::new();
        let mut buf = [0u8; 64 * 1024];
        loop {
            match self.reader.read(&mut buf) {
                Ok(0) => return out,
                Ok(n) => out.extend_from_slice(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return out,
                Err(e) => panic!("reading until the server closes: {e}"),
            }
        }
    }

    fn send(&mut self, req: &Req) -> Resp {
        let bytes = req.encode(self.addr);
        self.write(&bytes);
        let mut resp = self.read_head().unwrap();
        self.read_body(&mut resp, &req.method);
        resp
    }

    /// A raw request with no signature and no body (the control endpoint).
    fn raw(&mut self, method: &str, target: &str) -> Resp {
        let request = format!(
            "{method} {target} HTTP/1.1\r\nHost: {}\r\nContent-Length: 0\r\n\r\n",
            self.addr
        );
        self.write(request.as_bytes());
        let mut resp = self.read_head().unwrap();
        self.read_body(&mut resp, method);
        resp
    }
}

/// A request to build, sign and send.
#[derive(Clone)]
struct Req {
    method: String,
    bucket: String,
    key: Option<String>,
    query: Vec<(String, String)>,
    headers: Vec<(String, String)>,
    body: Vec<u8>,
    signer: Option<Signer>,
    creds: Credentials,
    /// Virtual-hosted: this Host header, and a path of just the key.
    virtual_host: Option<String>,
}

impl Req {
    /// An object request signed V1 with the test credentials.
    fn new(method: &str, key: &str) -> Req {
        Req {
            method: method.to_string(),
            bucket: BUCKET.to_string(),
            key: Some(key.to_string()),
            query: Vec::new(),
            headers: Vec::new(),
            body: Vec::new(),
            signer: Some(Signer::V1),
            creds: Credentials::new(AK, SK, None),
            virtual_host: None,
        }
    }

    /// A bucket-level request.
    fn bucket_level(method: &str) -> Req {
        Req {
            key: None,
            ..Req::new(method, "")
        }
    }

    fn query(mut self, name: &str, value: &str) -> Req {
        self.query.push((name.to_string(), value.to_string()));
        self
    }

    fn header(mut self, name: &str, value: &str) -> Req {
        self.headers.push((name.to_string(), value.to_string()));
        self
    }

    fn body(mut self, body: impl Into<Vec<u8>>) -> Req {
        self.body = body.into();
        self
    }

    fn v4(mut self) -> Req {
        self.signer = Some(Signer::V4 {
            region: REGION.to_string(),
        });
        self
    }

    fn unsigned(mut self) -> Req {
        self.signer = None;
        self
    }

    fn creds(mut self, id: &str, secret: &str, token: Option<&str>) -> Req {
        self.creds = Credentials::new(id, secret, token.map(str::to_string));
        self
    }

    fn in_bucket(mut self, bucket: &str) -> Req {
        self.bucket = bucket.to_string();
        self
    }

    fn virtual_hosted(mut self, host: &str) -> Req {
        self.virtual_host = Some(host.to_string());
        self
    }

    fn has_header(&self, name: &str) -> bool {
        self.headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case(name))
    }

    /// The request's bytes on the wire, signed now.
    fn encode(&self, addr: SocketAddr) -> Vec<u8> {
        let mut headers = self.headers.clone();
        let host = self
            .virtual_host
            .clone()
            .unwrap_or_else(|| addr.to_string());
        headers.insert(0, ("Host".to_string(), host));
        if !self.has_header("content-length") && !self.has_header("transfer-encoding") {
            headers.push(("Content-Length".to_string(), self.body.len().to_string()));
        }
        if let Some(signer) = &self.signer {
            sign_headers(
                signer,
                &self.creds,
                SystemTime::now(),
                &self.method,
                Some(&self.bucket),
                self.key.as_deref(),
                &self.query,
                &mut headers,
                &[],
            );
        }
        let key = self
            .key
            .as_deref()
            .map(|k| percent_encode(k, false))
            .unwrap_or_default();
        let mut target = if self.virtual_host.is_some() {
            format!("/{key}")
        } else {
            format!("/{}/{key}", self.bucket)
        };
        for (i, (name, value)) in self.query.iter().enumerate() {
            target.push(if i == 0 { '?' } else { '&' });
            target.push_str(&percent_encode(name, false));
            if !value.is_empty() {
                target.push('=');
                target.push_str(&percent_encode(value, false));
            }
        }
        let mut out = format!("{} {target} HTTP/1.1\r\n", self.method).into_bytes();
        for (name, value) in &headers {
            out.extend_from_slice(format!("{name}: {value}\r\n").as_bytes());
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// Sends one request on a fresh connection.
fn send(s: &Server, req: Req) -> Resp {
    Conn::open(s.addr()).send(&req)
}

fn control(s: &Server, method: &str, target: &str) -> Resp {
    Conn::open(s.addr()).raw(method, target)
}

fn put(s: &Server, key: &str, data: &[u8]) -> Resp {
    let r = send(s, Req::new("PUT", key).body(data));
    assert_eq!(r.status, 200, "{}", r.text());
    r
}

fn get(s: &Server, key: &str) -> Resp {
    send(s, Req::new("GET", key))
}

fn head(s: &Server, key: &str) -> Resp {
    send(s, Req::new("HEAD", key))
}

fn ranged_get(s: &Server, key: &str, range: &str) -> Resp {
    send(
        s,
        Req::new("GET", key)
            .header("Range", range)
            .header("x-oss-range-behavior", "standard"),
    )
}

fn initiate(s: &Server, key: &str) -> String {
    let r = send(s, Req::new("POST", key).query("uploads", ""));
    assert_eq!(r.status, 200, "{}", r.text());
    xml_one(&r.text(), "UploadId").expect("an UploadId")
}

fn upload_part(s: &Server, key: &str, upload_id: &str, number: &str, data: &[u8]) -> Resp {
    send(
        s,
        Req::new("PUT", key)
            .query("partNumber", number)
            .query("uploadId", upload_id)
            .body(data),
    )
}

/// Uploads a part that must succeed; returns its ETag.
fn part_ok(s: &Server, key: &str, upload_id: &str, number: u32, data: &[u8]) -> String {
    let r = upload_part(s, key, upload_id, &number.to_string(), data);
    assert_eq!(r.status, 200, "{}", r.text());
    r.etag()
}

fn complete(s: &Server, key: &str, upload_id: &str, parts: &[(u32, &str)]) -> Resp {
    let mut xml = String::from("<CompleteMultipartUpload>");
    for (number, etag) in parts {
        xml.push_str(&format!(
            "<Part><PartNumber>{number}</PartNumber><ETag>{etag}</ETag></Part>"
        ));
    }
    xml.push_str("</CompleteMultipartUpload>");
    send(
        s,
        Req::new("POST", key).query("uploadId", upload_id).body(xml),
    )
}

fn list_parts(s: &Server, key: &str, upload_id: &str, extra: &[(&str, &str)]) -> Resp {
    let mut req = Req::new("GET", key).query("uploadId", upload_id);
    for (name, value) in extra {
        req = req.query(name, value);
    }
    send(s, req)
}

fn assert_elapsed_at_least(started: Instant, min: Duration) {
    let elapsed = started.elapsed();
    assert!(
        elapsed >= min,
        "took {elapsed:?}, expected at least {min:?}"
    );
}

// ---------------------------------------------------------------------------------
// The control endpoint.
// ---------------------------------------------------------------------------------

#[test]
fn control_endpoint_sets_a_fault_and_reads_it_back_as_json() {
    let s = server();
    let set = control(
        &s,
        "POST",
        "/_ossr/faults?drop_after_bytes=1234&drop_count=3&error_ops=GetObject,UploadPart",
    );
    assert_eq!(set.status, 200, "{}", set.text());
    assert_eq!(set.header("Content-Type"), Some("application/json"));
    let read = control(&s, "GET", "/_ossr/faults");
    assert_eq!(read.status, 200);
    let json = read.text();
    assert_eq!(
        json_member(&json, "drop_after_bytes"),
        Some("1234"),
        "{json}"
    );
    assert_eq!(json_member(&json, "drop_count"), Some("3"), "{json}");
    assert_eq!(
        json_member(&json, "error_ops"),
        Some(r#"["GetObject","UploadPart"]"#),
        "{json}"
    );
    // The in-process view agrees.
    assert_eq!(s.faults().drop_count, 3);
}

#[test]
fn control_endpoint_refuses_an_unknown_switch_with_400_naming_it() {
    let s = server();
    let r = control(&s, "POST", "/_ossr/faults?nonsense=1");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("nonsense"), "{}", r.text());
}

#[test]
fn control_endpoint_refuses_a_bad_value_with_400() {
    let s = server();
    let r = control(&s, "POST", "/_ossr/faults?error_rate=2");
    assert_eq!(r.status, 400);
    assert!(r.text().contains("error_rate"), "{}", r.text());
}

#[test]
fn control_endpoint_refused_request_changes_no_switch() {
    let s = server();
    let r = control(&s, "POST", "/_ossr/faults?drop_count=3&nonsense=1");
    assert_eq!(r.status, 400);
    let json = control(&s, "GET", "/_ossr/faults").text();
    assert_eq!(json_member(&json, "drop_count"), Some("0"), "{json}");
}

#[test]
fn control_endpoint_delete_faults_switches_everything_off() {
    let s = server();
    s.set_fault("error_burst", "5").unwrap();
    s.set_fault("latency_ms", "10").unwrap();
    let r = control(&s, "DELETE", "/_ossr/faults");
    assert_eq!(r.status, 200);
    let json = r.text();
    assert_eq!(json_member(&json, "error_burst"), Some("0"), "{json}");
    assert_eq!(json_member(&json, "latency_ms"), Some("0"), "{json}");
    s.put_object(BUCKET, "k", b"x").unwrap();
    assert_eq!(head(&s, "k").status, 200);
}

#[test]
fn control_endpoint_stats_count_requests_by_op_and_status_bytes_ranges_and_uploads() {
    let s = server();
    let data = pattern(5000);
    // One connection: each request is finished, counters included, before the next.
    let mut c = Conn::open(s.addr());
    assert_eq!(c.send(&Req::new("PUT", "k").body(&data[..])).status, 200);
    assert_eq!(c.send(&Req::new("GET", "k")).status, 200);
    let ranged = Req::new("GET", "k")
        .header("Range", "bytes=0-99")
        .header("x-oss-range-behavior", "standard");
    assert_eq!(c.send(&ranged).status, 206);
    assert_eq!(c.send(&Req::new("GET", "missing")).status, 404);
    assert_eq!(
        c.send(&Req::new("POST", "mp").query("uploads", "")).status,
        200
    );
    let r = c.raw("GET", "/_ossr/stats");
    assert_eq!(r.status, 200);
    let json = r.text();
    let requests = json_member(&json, "requests").unwrap();
    assert_eq!(
        json_member(requests, "GetObject"),
        Some(r#"{"200":1,"206":1,"404":1}"#),
        "{json}"
    );
    assert_eq!(
        json_member(requests, "PutObject"),
        Some(r#"{"200":1}"#),
        "{json}"
    );
    assert_eq!(json_member(&json, "bytes_served"), Some("5100"), "{json}");
    assert_eq!(json_member(&json, "bytes_received"), Some("5000"), "{json}");
    assert_eq!(json_member(&json, "ranges_served"), Some("1"), "{json}");
    assert_eq!(
        json_member(&json, "uploads_in_progress"),
        Some("1"),
        "{json}"
    );
}

#[test]
fn control_endpoint_delete_stats_zeroes_the_counters() {
    let s = server();
    s.put_object(BUCKET, "k", b"hello").unwrap();
    assert_eq!(get(&s, "k").status, 200);
    // The server counts an answer's bytes after the client may have read them: wait
    // for the count, so the reset below is what zeroes it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while s.stats().bytes_served < 5 {
        assert!(
            std::time::Instant::now() < deadline,
            "the GET was not counted"
        );
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    let r = control(&s, "DELETE", "/_ossr/stats");
    assert_eq!(r.status, 200);
    let json = control(&s, "GET", "/_ossr/stats").text();
    assert_eq!(json_member(&json, "requests"), Some("{}"), "{json}");
    assert_eq!(json_member(&json, "bytes_served"), Some("0"), "{json}");
}

#[test]
fn control_endpoint_unknown_path_is_404() {
    let s = server();
    assert_eq!(control(&s, "GET", "/_ossr/nothing").status, 404);
}

// ---------------------------------------------------------------------------------
// Faults.
// ---------------------------------------------------------------------------------

#[test]
fn drop_after_bytes_cuts_the_body_at_exactly_n_bytes_and_closes() {
    let s = server();
    let data = pattern(10_000);
    s.put_object(BUCKET, "k", &data).unwrap();
    s.set_fault("drop_after_bytes", "1234").unwrap();
    s.set_fault("drop_count", "1").unwrap();
    let mut c = Conn::open(s.addr());
    c.write(&Req::new("GET", "k").encode(s.addr()));
    let r = c.read_head().unwrap();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Content-Length"), Some("10000"));
    // Reading to the end returns: the server closed the connection.
    let body = c.read_to_close();
    assert_eq!(body.len(), 1234);
    assert_eq!(body, &data[..1234]);
}

#[test]
fn drop_count_limits_the_cut_to_the_next_k_gets() {
    let s = server();
    let data = pattern(10_000);
    s.put_object(BUCKET, "k", &data).unwrap();
    s.set_fault("drop_after_bytes", "100").unwrap();
    s.set_fault("drop_count", "2").unwrap();
    for _ in 0..2 {
        let mut c = Conn::open(s.addr());
        c.write(&Req::new("GET", "k").encode(s.addr()));
        c.read_head().unwrap();
        assert_eq!(c.read_to_close().len(), 100);
    }
    let whole = get(&s, "k");
    assert_eq!(whole.body, data);
    assert_eq!(s.faults().drop_count, 0);
}

#[test]
fn drop_after_zero_bytes_sends_headers_only() {
    let s = server();
    s.put_object(BUCKET, "k", &pattern(1000)).unwrap();
    s.set_fault("drop_after_bytes", "0").unwrap();
    s.set_fault("drop_count", "1").unwrap();
    let mut c = Conn::open(s.addr());
    c.write(&Req::new("GET", "k").encode(s.addr()));
    assert_eq!(c.read_head().unwrap().status, 200);
    assert!(c.read_to_close().is_empty());
}

#[test]
fn flip_count_flips_exactly_one_byte_at_flip_offset_with_headers_unchanged() {
    let s = server();
    let data = pattern(1000);
    s.put_object(BUCKET, "k", &data).unwrap();
    let clean = get(&s, "k");
    s.set_fault("flip_count", "1").unwrap();
    s.set_fault("flip_offset", "100").unwrap();
    let flipped = get(&s, "k");
    assert_eq!(flipped.status, 200);
    for name in [
        "Content-Length",
        "ETag",
        "x-oss-hash-crc64ecma",
        "Last-Modified",
    ] {
        assert_eq!(flipped.header(name), clean.header(name), "{name}");
    }
    let differing: Vec<usize> = (0..data.len())
        .filter(|&i| flipped.body[i] != data[i])
        .collect();
    assert_eq!(differing, vec![100]);
}

#[test]
fn flip_without_offset_flips_the_middle_byte_of_the_next_k_gets_only() {
    let s = server();
    let data = pattern(1000);
    s.put_object(BUCKET, "k", &data).unwrap();
    s.set_fault("flip_count", "1").unwrap();
    let flipped = get(&s, "k");
    let differing: Vec<usize> = (0..data.len())
        .filter(|&i| flipped.body[i] != data[i])
        .collect();
    assert_eq!(differing, vec![500]);
    assert_eq!(get(&s, "k").body, data);
}

#[test]
fn latency_ms_delays_every_response() {
    let s = server();
    s.put_object(BUCKET, "k", b"x").unwrap();
    s.set_fault("latency_ms", "300").unwrap();
    let started = Instant::now();
    assert_eq!(head(&s, "k").status, 200);
    assert_elapsed_at_least(started, Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(get(&s, "missing").status, 404);
    assert_elapsed_at_least(started, Duration::from_millis(300));
}

#[test]
fn bandwidth_caps_response_bytes_per_second() {
    let s = server();
    let data = pattern(1_000_000);
    s.put_object(BUCKET, "big", &data).unwrap();
    s.set_fault("bandwidth", "2000000").unwrap();
    let started = Instant::now();
    let r = get(&s, "big");
    let elapsed = started.elapsed();
    assert_eq!(r.body, data);
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(3), "{elapsed:?}");
}

#[test]
fn recv_bandwidth_paces_request_bodies() {
    let s = server();
    let data = pattern(1_000_000);
    s.set_fault("recv_bandwidth", "2000000").unwrap();
    let started = Instant::now();
    let r = put(&s, "slow-in", &data);
    let elapsed = started.elapsed();
    assert_eq!(r.status, 200);
    // 1 MB at 2 MB/s: half a second at least (an upper bound would time the machine).
    assert!(elapsed >= Duration::from_millis(400), "{elapsed:?}");
    s.clear_faults();
    assert_eq!(get(&s, "slow-in").body, data);
}

#[test]
fn rewrite_key_changes_the_etag_after_the_mth_ranged_get_and_keeps_the_size() {
    let s = server();
    let data = pattern(100_000);
    s.put_object(BUCKET, "rw", &data).unwrap();
    let original = head(&s, "rw").etag();
    s.set_fault("rewrite_key", "rw").unwrap();
    s.set_fault("rewrite_after", "2").unwrap();
    // A whole-object GET does not count.
    assert_eq!(get(&s, "rw").status, 200);
    let first = ranged_get(&s, "rw", "bytes=0-99");
    assert_eq!(first.status, 206);
    assert_eq!(head(&s, "rw").etag(), original);
    let second = ranged_get(&s, "rw", "bytes=100-199");
    assert_eq!(second.status, 206);
    // The Mth range itself is still served from the original.
    assert_eq!(second.etag(), original);
    assert_eq!(second.body, &data[100..200]);
    let after = head(&s, "rw");
    assert_ne!(after.etag(), original);
    assert_eq!(after.header("Content-Length"), Some("100000"));
    // The switch is spent: further ranges leave the new version alone.
    let new_etag = after.etag();
    assert_eq!(ranged_get(&s, "rw", "bytes=0-9").status, 206);
    assert_eq!(head(&s, "rw").etag(), new_etag);
}

#[test]
fn stall_pauses_the_body_after_n_bytes_for_stall_count_gets() {
    let s = server();
    let data = pattern(4000);
    s.put_object(BUCKET, "k", &data).unwrap();
    s.set_fault("stall_after_bytes", "1000").unwrap();
    s.set_fault("stall_ms", "400").unwrap();
    s.set_fault("stall_count", "1").unwrap();
    let mut c = Conn::open(s.addr());
    c.write(&Req::new("GET", "k").encode(s.addr()));
    let r = c.read_head().unwrap();
    assert_eq!(r.status, 200);
    let mut first = vec![0u8; 1000];
    c.reader.read_exact(&mut first).unwrap();
    let stalled_at = Instant::now();
    let mut rest = vec![0u8; 3000];
    c.reader.read_exact(&mut rest).unwrap();
    assert_elapsed_at_least(stalled_at, Duration::from_millis(300));
    first.extend_from_slice(&rest);
    assert_eq!(first, data);
    // Only one GET stalls.
    let started = Instant::now();
    assert_eq!(get(&s, "k").body, data);
    assert!(started.elapsed() < Duration::from_millis(300));
}

#[test]
fn error_rate_one_with_error_ops_fails_only_that_operation() {
    let s = server();
    s.put_object(BUCKET, "k", b"hello").unwrap();
    s.set_fault("error_rate", "1").unwrap();
    s.set_fault("error_ops", "GetObject").unwrap();
    for _ in 0..3 {
        let r = get(&s, "k");
        assert_eq!(r.status, 503);
        assert_eq!(r.code(), "ServiceUnavailable");
    }
    assert_eq!(head(&s, "k").status, 200);
    put(&s, "other", b"x");
    assert_eq!(s.stats().faults_injected, 3);
}

#[test]
fn error_burst_fails_exactly_the_next_n_requests() {
    let s = server();
    s.put_object(BUCKET, "k", b"hello").unwrap();
    s.set_fault("error_burst", "2").unwrap();
    assert_eq!(head(&s, "k").status, 503);
    assert_eq!(get(&s, "k").status, 503);
    assert_eq!(get(&s, "k").status, 200);
}

#[test]
fn error_status_500_is_internal_error() {
    let s = server();
    s.put_object(BUCKET, "k", b"hello").unwrap();
    s.set_fault("error_status", "500").unwrap();
    s.set_fault("error_burst", "1").unwrap();
    let r = get(&s, "k");
    assert_eq!(r.status, 500);
    assert_eq!(r.code(), "InternalError");
}

#[test]
fn error_status_429_is_too_many_requests() {
    let s = server();
    s.put_object(BUCKET, "k", b"hello").unwrap();
    s.set_fault("error_status", "429").unwrap();
    s.set_fault("error_burst", "1").unwrap();
    let r = get(&s, "k");
    assert_eq!(r.status, 429);
    assert_eq!(r.code(), "TooManyRequests");
}

#[test]
fn error_status_outside_500_503_429_is_refused() {
    let s = server();
    assert!(s.set_fault("error_status", "404").is_err());
    assert_eq!(
        control(&s, "POST", "/_ossr/faults?error_status=404").status,
        400
    );
}

#[test]
fn qos_delay_ms_header_comes_with_injected_errors_only() {
    let s = server();
    s.put_object(BUCKET, "k", b"hello").unwrap();
    s.set_fault("qos_delay_ms", "1500").unwrap();
    s.set_fault("error_burst", "1").unwrap();
    let failed = get(&s, "k");
    assert_eq!(failed.status, 503);
    assert_eq!(failed.header("x-oss-qos-delay-time"), Some("1500"));
    let ok = get(&s, "k");
    assert_eq!(ok.status, 200);
    assert_eq!(ok.header("x-oss-qos-delay-time"), None);
}

#[test]
fn lost_complete_multipart_upload_is_carried_out_without_a_response() {
    let s = server();
    let data = pattern(1000);
    let id = initiate(&s, "mp");
    let etag = part_ok(&s, "mp", &id, 1, &data);
    s.set_fault("lose_response_ops", "CompleteMultipartUpload")
        .unwrap();
    s.set_fault("lose_response_count", "1").unwrap();
    let mut c = Conn::open(s.addr());
    let body = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    );
    c.write(
        &Req::new("POST", "mp")
            .query("uploadId", &id)
            .body(body)
            .encode(s.addr()),
    );
    assert!(c.read_head().is_err(), "a response arrived");
    let h = head(&s, "mp");
    assert_eq!(h.status, 200);
    assert_eq!(h.header("x-oss-object-type"), Some("Multipart"));
    assert_eq!(get(&s, "mp").body, data);
    assert_eq!(s.stats().uploads_in_progress, 0);
}

#[test]
fn lose_response_count_limits_lost_responses_to_k() {
    let s = server();
    s.set_fault("lose_response_ops", "PutObject").unwrap();
    s.set_fault("lose_response_count", "1").unwrap();
    let mut c = Conn::open(s.addr());
    c.write(&Req::new("PUT", "k").body("first").encode(s.addr()));
    assert!(c.read_head().is_err(), "a response arrived");
    assert_eq!(get(&s, "k").body, b"first");
    let r = send(&s, Req::new("PUT", "k").body("second"));
    assert_eq!(r.status, 200);
    assert_eq!(get(&s, "k").body, b"second");
}

#[test]
fn lose_response_leaves_other_operations_answered() {
    let s = server();
    s.put_object(BUCKET, "k", b"x").unwrap();
    s.set_fault("lose_response_ops", "PutObject").unwrap();
    s.set_fault("lose_response_count", "1").unwrap();
    assert_eq!(get(&s, "k").status, 200);
    assert_eq!(s.faults().lose_response_count, 1);
}

#[test]
fn clock_offset_secs_shifts_the_date_header() {
    let s = server();
    s.set_fault("clock_offset_secs", "3600").unwrap();
    let r = send(&s, Req::new("GET", "k").unsigned());
    let date = httpdate::parse_http_date(r.header("Date").unwrap()).unwrap();
    let ahead = date
        .duration_since(SystemTime::now())
        .expect("the Date is in the future");
    assert!(
        ahead > Duration::from_secs(3590) && ahead < Duration::from_secs(3610),
        "{ahead:?}"
    );
}

#[test]
fn clock_offset_secs_makes_signed_requests_too_skewed() {
    let s = server();
    s.put_object(BUCKET, "k", b"x").unwrap();
    s.set_fault("clock_offset_secs", "3600").unwrap();
    for req in [Req::new("GET", "k"), Req::new("GET", "k").v4()] {
        let r = send(&s, req);
        assert_eq!(r.status, 403);
        assert_eq!(r.code(), "RequestTimeTooSkewed");
    }
}

#[test]
fn omit_crc_leaves_the_crc_header_out() {
    let s = server();
    s.put_object(BUCKET, "k", b"hello").unwrap();
    assert!(get(&s, "k").header("x-oss-hash-crc64ecma").is_some());
    s.set_fault("omit_crc", "1").unwrap();
    let r = get(&s, "k");
    assert_eq!(r.body, b"hello");
    assert_eq!(r.header("x-oss-hash-crc64ecma"), None);
    assert_eq!(head(&s, "k").header("x-oss-hash-crc64ecma"), None);
}

// ---------------------------------------------------------------------------------
// Multipart rules.
// ---------------------------------------------------------------------------------

#[test]
fn multipart_non_last_part_under_100_kb_is_entity_too_small() {
    let s = server();
    let id = initiate(&s, "mp");
    let e1 = part_ok(&s, "mp", &id, 1, &pattern(MIN_PART - 1));
    let e2 = part_ok(&s, "mp", &id, 2, b"tail");
    let r = complete(&s, "mp", &id, &[(1, &e1), (2, &e2)]);
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "EntityTooSmall");
    assert_eq!(head(&s, "mp").status, 404);
}

#[test]
fn multipart_small_last_part_completes_with_combined_etag_and_crc() {
    let s = server();
    let one = pattern(MIN_PART);
    let two = b"the short last part".to_vec();
    let id = initiate(&s, "mp");
    let e1 = part_ok(&s, "mp", &id, 1, &one);
    let e2 = part_ok(&s, "mp", &id, 2, &two);
    let r = complete(&s, "mp", &id, &[(1, &e1), (2, &e2)]);
    assert_eq!(r.status, 200, "{}", r.text());
    let whole = [one, two].concat();
    let crc = oss_resume::crc64::checksum(&whole).to_string();
    assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));
    let etag = xml_one(&r.text(), "ETag").unwrap();
    assert!(
        etag.ends_with("-2&quot;") || etag.ends_with("-2\""),
        "{etag}"
    );
    let got = get(&s, "mp");
    assert_eq!(got.body, whole);
    assert_eq!(got.header("x-oss-object-type"), Some("Multipart"));
    assert_eq!(got.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));
}

#[test]
fn complete_with_parts_out_of_order_is_invalid_part_order() {
    let s = server();
    let id = initiate(&s, "mp");
    let e1 = part_ok(&s, "mp", &id, 1, &pattern(MIN_PART));
    let e2 = part_ok(&s, "mp", &id, 2, b"x");
    let r = complete(&s, "mp", &id, &[(2, &e2), (1, &e1)]);
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "InvalidPartOrder");
}

#[test]
fn complete_with_a_wrong_etag_is_invalid_part() {
    let s = server();
    let id = initiate(&s, "mp");
    part_ok(&s, "mp", &id, 1, b"x");
    let r = complete(
        &s,
        "mp",
        &id,
        &[(1, "\"0123456789ABCDEF0123456789ABCDEF\"")],
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "InvalidPart");
}

#[test]
fn complete_with_a_missing_part_is_invalid_part() {
    let s = server();
    let id = initiate(&s, "mp");
    let e1 = part_ok(&s, "mp", &id, 1, &pattern(MIN_PART));
    let r = complete(
        &s,
        "mp",
        &id,
        &[(1, &e1), (3, "\"0123456789ABCDEF0123456789ABCDEF\"")],
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "InvalidPart");
}

#[test]
fn part_numbers_0_and_10001_are_invalid_argument() {
    let s = server();
    let id = initiate(&s, "mp");
    for number in ["0", "10001"] {
        let r = upload_part(&s, "mp", &id, number, b"x");
        assert_eq!(r.status, 400, "part {number}");
        assert_eq!(r.code(), "InvalidArgument", "part {number}");
    }
    for number in ["1", "10000"] {
        assert_eq!(upload_part(&s, "mp", &id, number, b"x").status, 200);
    }
}

#[test]
fn aborted_upload_is_no_such_upload() {
    let s = server();
    let id = initiate(&s, "mp");
    let e1 = part_ok(&s, "mp", &id, 1, b"x");
    let abort = send(&s, Req::new("DELETE", "mp").query("uploadId", &id));
    assert_eq!(abort.status, 204);
    for r in [
        upload_part(&s, "mp", &id, "2", b"y"),
        complete(&s, "mp", &id, &[(1, &e1)]),
        list_parts(&s, "mp", &id, &[]),
        send(&s, Req::new("DELETE", "mp").query("uploadId", &id)),
    ] {
        assert_eq!(r.status, 404);
        assert_eq!(r.code(), "NoSuchUpload");
    }
    assert_eq!(s.stats().uploads_in_progress, 0);
}

#[test]
fn list_parts_pages_with_max_parts_and_next_part_number_marker() {
    let s = server();
    let id = initiate(&s, "mp");
    let mut etags = Vec::new();
    for n in 1..=5u32 {
        etags.push(part_ok(&s, "mp", &id, n, &pattern(10 * n as usize)));
    }
    let mut marker = String::new();
    let mut seen = Vec::new();
    let mut pages = Vec::new();
    loop {
        let mut extra = vec![("max-parts", "2")];
        if !marker.is_empty() {
            extra.push(("part-number-marker", marker.as_str()));
        }
        let r = list_parts(&s, "mp", &id, &extra);
        assert_eq!(r.status, 200, "{}", r.text());
        let xml = r.text();
        let numbers = xml_all(&xml, "PartNumber");
        let truncated = xml_one(&xml, "IsTruncated").unwrap();
        let next = xml_one(&xml, "NextPartNumberMarker").unwrap();
        pages.push((numbers.join(","), truncated.clone(), next.clone()));
        for (number, size) in xml_all(&xml, "PartNumber")
            .iter()
            .zip(xml_all(&xml, "Size"))
        {
            let n: usize = number.parse().unwrap();
            assert_eq!(size, (10 * n).to_string());
        }
        seen.extend(xml_all(&xml, "ETag"));
        assert_eq!(xml_all(&xml, "HashCrc64ecma").len(), numbers.len(), "{xml}");
        if truncated != "true" {
            break;
        }
        marker = next;
    }
    let expected = |a: &str, t: &str, n: &str| (a.to_string(), t.to_string(), n.to_string());
    assert_eq!(
        pages,
        vec![
            expected("1,2", "true", "2"),
            expected("3,4", "true", "4"),
            expected("5", "false", "5"),
        ]
    );
    let unescaped: Vec<String> = seen.iter().map(|e| e.replace("&quot;", "\"")).collect();
    assert_eq!(unescaped, etags);
}

#[test]
fn list_multipart_uploads_lists_uploads_in_progress() {
    let s = server();
    let a = initiate(&s, "dir/a");
    let b = initiate(&s, "dir/b");
    let c = initiate(&s, "other");
    let abort = send(&s, Req::new("DELETE", "other").query("uploadId", &c));
    assert_eq!(abort.status, 204);
    let r = send(&s, Req::bucket_level("GET").query("uploads", ""));
    assert_eq!(r.status, 200, "{}", r.text());
    let xml = r.text();
    assert_eq!(xml_all(&xml, "Key"), vec!["dir/a", "dir/b"]);
    assert_eq!(xml_all(&xml, "UploadId"), vec![a, b]);
    assert_eq!(xml_one(&xml, "IsTruncated").as_deref(), Some("false"));
}

#[test]
fn list_multipart_uploads_filters_by_prefix() {
    let s = server();
    initiate(&s, "dir/a");
    let other = initiate(&s, "other");
    let r = send(
        &s,
        Req::bucket_level("GET")
            .query("uploads", "")
            .query("prefix", "oth"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let xml = r.text();
    assert_eq!(xml_all(&xml, "Key"), vec!["other"]);
    assert_eq!(xml_all(&xml, "UploadId"), vec![other]);
}

// ---------------------------------------------------------------------------------
// PutObject bodies.
// ---------------------------------------------------------------------------------

#[test]
fn content_md5_mismatch_is_invalid_digest_and_stores_nothing() {
    let s = server();
    let r = send(
        &s,
        Req::new("PUT", "k")
            .header("Content-MD5", &md5_base64(b"something else"))
            .body("hello"),
    );
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "InvalidDigest");
    assert_eq!(head(&s, "k").status, 404);
}

#[test]
fn content_md5_match_is_stored() {
    let s = server();
    let r = send(
        &s,
        Req::new("PUT", "k")
            .header("Content-MD5", &md5_base64(b"hello"))
            .body("hello"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&s, "k").body, b"hello");
}

/// Declares 1000 bytes, sends 10 and closes; returns when the server has hung up.
fn put_cut_short(s: &Server, key: &str) {
    let mut c = Conn::open(s.addr());
    c.write(
        &Req::new("PUT", key)
            .header("Content-Length", "1000")
            .body(pattern(10))
            .encode(s.addr()),
    );
    c.shutdown_write();
    let answer = c.read_to_close();
    let text = String::from_utf8_lossy(&answer);
    assert!(!text.starts_with("HTTP/1.1 200"), "{text}");
}

#[test]
fn put_cut_short_stores_nothing() {
    let s = server();
    put_cut_short(&s, "k");
    assert_eq!(head(&s, "k").status, 404);
}

#[test]
fn put_cut_short_keeps_the_previous_version() {
    let s = server();
    s.put_object(BUCKET, "k", b"previous").unwrap();
    put_cut_short(&s, "k");
    assert_eq!(get(&s, "k").body, b"previous");
}

#[test]
fn put_cut_short_leaves_no_file_in_the_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config();
    cfg.data_dir = Some(dir.path().to_path_buf());
    let s = Server::start(cfg).unwrap();
    put_cut_short(&s, "k");
    assert_eq!(head(&s, "k").status, 404);
    for sub in ["objects", "tmp"] {
        let left: Vec<_> = std::fs::read_dir(dir.path().join(BUCKET).join(sub))
            .unwrap()
            .collect();
        assert!(left.is_empty(), "{sub}: {left:?}");
    }
}

#[test]
fn chunked_put_stores_the_decoded_bytes() {
    let s = server();
    let body = "5\r\nhello\r\n1;ext=1\r\n,\r\n6\r\n world\r\n0\r\n\r\n";
    let r = send(
        &s,
        Req::new("PUT", "k")
            .header("Transfer-Encoding", "chunked")
            .body(body),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let crc = oss_resume::crc64::checksum(b"hello, world").to_string();
    assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));
    let got = get(&s, "k");
    assert_eq!(got.body, b"hello, world");
    assert_eq!(got.header("Content-Length"), Some("12"));
}

#[test]
fn put_answer_carries_etag_md5_and_crc_of_the_bytes() {
    let s = server();
    let data = pattern(3000);
    let r = put(&s, "k", &data);
    let md5_hex: String = Md5::digest(&data)
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    assert_eq!(r.etag(), format!("\"{md5_hex}\""));
    let crc = oss_resume::crc64::checksum(&data).to_string();
    assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(crc.as_str()));
    let h = head(&s, "k");
    assert_eq!(h.etag(), r.etag());
    assert_eq!(h.header("Content-Length"), Some("3000"));
    assert_eq!(h.header("x-oss-object-type"), Some("Normal"));
}

// ---------------------------------------------------------------------------------
// Ranges and conditions.
// ---------------------------------------------------------------------------------

#[test]
fn legacy_out_of_bounds_range_answers_200_with_the_whole_object() {
    let s = server();
    let data = pattern(1000);
    s.put_object(BUCKET, "k", &data).unwrap();
    for range in ["bytes=0-1000", "bytes=2000-", "bytes=5-2"] {
        let r = send(&s, Req::new("GET", "k").header("Range", range));
        assert_eq!(r.status, 200, "{range}");
        assert_eq!(r.header("Content-Range"), None, "{range}");
        assert_eq!(r.body, data, "{range}");
    }
}

#[test]
fn legacy_in_bounds_range_is_206() {
    let s = server();
    let data = pattern(1000);
    s.put_object(BUCKET, "k", &data).unwrap();
    let r = send(&s, Req::new("GET", "k").header("Range", "bytes=10-19"));
    assert_eq!(r.status, 206);
    assert_eq!(r.body, &data[10..20]);
}

#[test]
fn standard_range_starting_past_the_end_is_416_invalid_range() {
    let s = server();
    s.put_object(BUCKET, "k", &pattern(1000)).unwrap();
    for range in ["bytes=1000-", "bytes=1000-2000"] {
        let r = ranged_get(&s, "k", range);
        assert_eq!(r.status, 416, "{range}");
        assert_eq!(r.code(), "InvalidRange", "{range}");
    }
}

#[test]
fn standard_range_ending_past_the_end_is_clipped_206() {
    let s = server();
    let data = pattern(1000);
    s.put_object(BUCKET, "k", &data).unwrap();
    let r = ranged_get(&s, "k", "bytes=900-5000");
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Range"), Some("bytes 900-999/1000"));
    assert_eq!(r.header("Content-Length"), Some("100"));
    assert_eq!(r.body, &data[900..]);
}

#[test]
fn standard_range_forms_are_byte_exact() {
    let s = server();
    let data = pattern(1000);
    s.put_object(BUCKET, "k", &data).unwrap();
    let whole_crc = oss_resume::crc64::checksum(&data).to_string();
    for (range, first, last) in [
        ("bytes=0-0", 0, 0),
        ("bytes=10-19", 10, 19),
        ("bytes=990-", 990, 999),
        ("bytes=-5", 995, 999),
    ] {
        let r = ranged_get(&s, "k", range);
        assert_eq!(r.status, 206, "{range}");
        let expected = format!("bytes {first}-{last}/1000");
        assert_eq!(r.header("Content-Range"), Some(expected.as_str()));
        assert_eq!(r.body, &data[first..=last], "{range}");
        // A range carries the whole object's CRC.
        assert_eq!(r.header("x-oss-hash-crc64ecma"), Some(whole_crc.as_str()));
    }
}

/// An object and its ETag and Last-Modified time.
fn object_for_conditions(s: &Server) -> (String, SystemTime) {
    s.put_object(BUCKET, "k", b"conditional").unwrap();
    let h = head(s, "k");
    let modified = httpdate::parse_http_date(h.header("Last-Modified").unwrap()).unwrap();
    (h.etag(), modified)
}

fn conditional_get(s: &Server, header: &str, value: &str) -> Resp {
    send(s, Req::new("GET", "k").header(header, value))
}

#[test]
fn if_match_with_another_etag_is_412_and_with_the_etag_200() {
    let s = server();
    let (etag, _) = object_for_conditions(&s);
    let r = conditional_get(&s, "If-Match", "\"0123456789ABCDEF0123456789ABCDEF\"");
    assert_eq!(r.status, 412);
    assert_eq!(r.code(), "PreconditionFailed");
    assert_eq!(conditional_get(&s, "If-Match", &etag).status, 200);
    // OSS accepts the ETag without its quotes too.
    assert_eq!(
        conditional_get(&s, "If-Match", etag.trim_matches('"')).status,
        200
    );
}

#[test]
fn if_none_match_with_the_etag_is_304_without_body() {
    let s = server();
    let (etag, _) = object_for_conditions(&s);
    let mut c = Conn::open(s.addr());
    let r = c.send(
        &Req::new("GET", "k")
            .header("If-None-Match", &etag)
            .header("Connection", "close"),
    );
    assert_eq!(r.status, 304);
    assert_eq!(r.header("ETag"), Some(etag.as_str()));
    assert!(c.read_to_close().is_empty());
    let other = conditional_get(&s, "If-None-Match", "\"0123456789ABCDEF0123456789ABCDEF\"");
    assert_eq!(other.status, 200);
}

#[test]
fn if_modified_since_last_modified_is_304_and_before_it_200() {
    let s = server();
    let (_, modified) = object_for_conditions(&s);
    let at = httpdate::fmt_http_date(modified);
    assert_eq!(conditional_get(&s, "If-Modified-Since", &at).status, 304);
    let before = httpdate::fmt_http_date(modified - Duration::from_secs(3600));
    assert_eq!(
        conditional_get(&s, "If-Modified-Since", &before).status,
        200
    );
}

#[test]
fn if_unmodified_since_before_last_modified_is_412_and_at_it_200() {
    let s = server();
    let (_, modified) = object_for_conditions(&s);
    let before = httpdate::fmt_http_date(modified - Duration::from_secs(3600));
    let r = conditional_get(&s, "If-Unmodified-Since", &before);
    assert_eq!(r.status, 412);
    assert_eq!(r.code(), "PreconditionFailed");
    let at = httpdate::fmt_http_date(modified);
    assert_eq!(conditional_get(&s, "If-Unmodified-Since", &at).status, 200);
}

// ---------------------------------------------------------------------------------
// Errors and request ids.
// ---------------------------------------------------------------------------------

#[test]
fn head_error_has_no_body_and_carries_x_oss_err() {
    let s = server();
    let mut c = Conn::open(s.addr());
    let r = c.send(&Req::new("HEAD", "missing").header("Connection", "close"));
    assert_eq!(r.status, 404);
    assert_eq!(r.header("Content-Length"), Some("0"));
    // Nothing follows the head before the server closes.
    assert!(c.read_to_close().is_empty());
    let encoded = r.header("x-oss-err").expect("x-oss-err");
    let xml = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap();
    let xml = String::from_utf8(xml).unwrap();
    assert_eq!(xml_one(&xml, "Code").as_deref(), Some("NoSuchKey"));
    assert_eq!(
        xml_one(&xml, "RequestId").as_deref(),
        r.header("x-oss-request-id")
    );
}

#[test]
fn error_xml_has_code_message_request_id_and_host_id() {
    let s = server();
    let r = get(&s, "missing");
    assert_eq!(r.status, 404);
    assert_eq!(r.header("Content-Type"), Some("application/xml"));
    let xml = r.text();
    assert!(xml.starts_with("<?xml"), "{xml}");
    assert_eq!(xml_one(&xml, "Code").as_deref(), Some("NoSuchKey"));
    assert!(!xml_one(&xml, "Message").unwrap().is_empty(), "{xml}");
    let id = xml_one(&xml, "RequestId").unwrap();
    assert!(!id.is_empty());
    assert_eq!(Some(id.as_str()), r.header("x-oss-request-id"));
    assert_eq!(
        xml_one(&xml, "HostId").as_deref(),
        Some("test-bucket.127.0.0.1")
    );
    assert_eq!(xml_one(&xml, "Key").as_deref(), Some("missing"));
    assert_eq!(r.header("x-oss-ec"), xml_one(&xml, "EC").as_deref());
}

#[test]
fn missing_bucket_is_no_such_bucket() {
    let s = server();
    let r = send(&s, Req::new("GET", "k").in_bucket("no-such-bucket"));
    assert_eq!(r.status, 404);
    assert_eq!(r.code(), "NoSuchBucket");
}

#[test]
fn every_answer_carries_a_distinct_x_oss_request_id() {
    let s = server();
    s.put_object(BUCKET, "k", &pattern(100)).unwrap();
    let mut answers = vec![
        get(&s, "k"),
        ranged_get(&s, "k", "bytes=0-9"),
        head(&s, "k"),
        head(&s, "missing"),
        get(&s, "missing"),
        send(&s, Req::new("GET", "k").unsigned()),
        send(&s, Req::new("GET", "k").header("If-None-Match", "*")),
        put(&s, "other", b"x"),
        send(&s, Req::new("DELETE", "other")),
        control(&s, "GET", "/_ossr/stats"),
    ];
    s.set_fault("error_burst", "1").unwrap();
    answers.push(get(&s, "k"));
    // A request the server cannot parse as an OSS request.
    let mut c = Conn::open(s.addr());
    c.write(
        format!(
            "PUT /{BUCKET}/k HTTP/1.1\r\nHost: {}\r\nContent-Length: nope\r\n\r\n",
            s.addr()
        )
        .as_bytes(),
    );
    let mut bad = c.read_head().unwrap();
    c.read_body(&mut bad, "PUT");
    assert_eq!(bad.status, 400);
    answers.push(bad);
    let mut ids: Vec<&str> = answers
        .iter()
        .map(|r| {
            r.header("x-oss-request-id")
                .unwrap_or_else(|| panic!("no request id: {r:?}"))
        })
        .collect();
    assert!(ids.iter().all(|id| !id.is_empty()));
    let count = ids.len();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), count, "request ids repeat");
}

// ---------------------------------------------------------------------------------
// Addressing and authentication.
// ---------------------------------------------------------------------------------

#[test]
fn virtual_hosted_addressing_routes_by_host() {
    let s = server();
    let host = format!("{BUCKET}.localhost.example:{}", s.addr().port());
    let r = send(
        &s,
        Req::new("PUT", "dir/v.txt")
            .virtual_hosted(&host)
            .body("virtual"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let r = send(&s, Req::new("GET", "dir/v.txt").virtual_hosted(&host).v4());
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"virtual");
    // The same object by path style.
    assert_eq!(get(&s, "dir/v.txt").body, b"virtual");
}

#[test]
fn unsigned_request_is_access_denied() {
    let s = server();
    s.put_object(BUCKET, "k", b"x").unwrap();
    let r = send(&s, Req::new("GET", "k").unsigned());
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "AccessDenied");
}

#[test]
fn wrong_signature_is_signature_does_not_match() {
    let s = server();
    s.put_object(BUCKET, "k", b"x").unwrap();
    for req in [Req::new("GET", "k"), Req::new("GET", "k").v4()] {
        let r = send(&s, req.creds(AK, "not-the-secret", None));
        assert_eq!(r.status, 403);
        assert_eq!(r.code(), "SignatureDoesNotMatch");
        assert!(xml_one(&r.text(), "StringToSign").is_some());
    }
}

#[test]
fn unknown_access_key_id_is_invalid_access_key_id() {
    let s = server();
    let r = send(&s, Req::new("GET", "k").creds("someone-else", SK, None));
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "InvalidAccessKeyId");
}

#[test]
fn v1_and_v4_signed_requests_are_accepted() {
    let s = server();
    s.put_object(BUCKET, "a b+c", b"signed").unwrap();
    for req in [Req::new("GET", "a b+c"), Req::new("GET", "a b+c").v4()] {
        let r = send(&s, req);
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.body, b"signed");
    }
}

#[test]
fn v4_signature_for_another_region_is_refused() {
    let s = server();
    let mut req = Req::new("GET", "k");
    req.signer = Some(Signer::V4 {
        region: "us-west-1".into(),
    });
    let r = send(&s, req);
    assert_eq!(r.status, 400);
    assert_eq!(r.code(), "InvalidArgument");
}

fn sts_server() -> Server {
    let mut cfg = config();
    cfg.sts_token = Some("the-token".into());
    let s = Server::start(cfg).unwrap();
    s.put_object(BUCKET, "k", b"sts").unwrap();
    s
}

#[test]
fn sts_server_refuses_requests_without_the_token() {
    let s = sts_server();
    for req in [Req::new("GET", "k"), Req::new("GET", "k").v4()] {
        let r = send(&s, req);
        assert_eq!(r.status, 403);
        assert_eq!(r.code(), "InvalidSecurityToken");
    }
    let r = send(
        &s,
        Req::new("GET", "k").creds(AK, SK, Some("another-token")),
    );
    assert_eq!(r.status, 403);
    assert_eq!(r.code(), "InvalidSecurityToken");
}

#[test]
fn sts_server_accepts_requests_with_the_token() {
    let s = sts_server();
    for req in [Req::new("GET", "k"), Req::new("GET", "k").v4()] {
        let r = send(&s, req.creds(AK, SK, Some("the-token")));
        assert_eq!(r.status, 200, "{}", r.text());
        assert_eq!(r.body, b"sts");
    }
}

fn presigned_target(s: &Server, version: SignatureVersion, expires: Duration) -> String {
    let config = Config::builder(&s.endpoint())
        .credentials(AK, SK, None)
        .region(REGION)
        .signature_version(version)
        .build()
        .unwrap();
    let url = Client::new(config)
        .unwrap()
        .presign_get(BUCKET, "p/k.txt", expires, &RequestOptions::default())
        .unwrap();
    let prefix = s.endpoint();
    url.strip_prefix(&prefix)
        .unwrap_or_else(|| panic!("{url} is not under {prefix}"))
        .to_string()
}

#[test]
fn presigned_v1_and_v4_urls_get_the_object() {
    let s = server();
    s.put_object(BUCKET, "p/k.txt", b"presigned").unwrap();
    for version in [SignatureVersion::V1, SignatureVersion::V4] {
        let target = presigned_target(&s, version, Duration::from_secs(60));
        let r = Conn::open(s.addr()).raw("GET", &target);
        assert_eq!(r.status, 200, "{version:?}: {}", r.text());
        assert_eq!(r.body, b"presigned");
    }
}

#[test]
fn expired_presigned_v1_and_v4_urls_are_refused() {
    let s = server();
    s.put_object(BUCKET, "p/k.txt", b"presigned").unwrap();
    // Two minutes on the server's clock: a URL good for one has expired.
    s.set_fault("clock_offset_secs", "120").unwrap();
    for version in [SignatureVersion::V1, SignatureVersion::V4] {
        let target = presigned_target(&s, version, Duration::from_secs(60));
        let r = Conn::open(s.addr()).raw("GET", &target);
        assert_eq!(r.status, 403, "{version:?}: {}", r.text());
        assert_eq!(r.code(), "AccessDenied", "{version:?}");
        assert!(r.text().contains("expired"), "{}", r.text());
    }
}

#[test]
fn tampered_presigned_url_is_signature_does_not_match() {
    let s = server();
    s.put_object(BUCKET, "p/k.txt", b"presigned").unwrap();
    s.put_object(BUCKET, "p/other.txt", b"other").unwrap();
    for version in [SignatureVersion::V1, SignatureVersion::V4] {
        let target = presigned_target(&s, version, Duration::from_secs(60)).replacen(
            "/p/k.txt?",
            "/p/other.txt?",
            1,
        );
        assert!(target.contains("/p/other.txt?"), "{target}");
        let r = Conn::open(s.addr()).raw("GET", &target);
        assert_eq!(r.status, 403, "{version:?}: {target}");
        assert_eq!(r.code(), "SignatureDoesNotMatch", "{version:?}");
    }
}

// ---------------------------------------------------------------------------------
// Persistence.
// ---------------------------------------------------------------------------------

fn disk_server(dir: &Path) -> Server {
    let mut cfg = config();
    cfg.data_dir = Some(dir.to_path_buf());
    Server::start(cfg).unwrap()
}

#[test]
fn data_dir_keeps_objects_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let data = pattern(300_000);
    let s = disk_server(dir.path());
    let stored = put(&s, "dir/obj", &data);
    let before = head(&s, "dir/obj");
    s.stop();

    let s = disk_server(dir.path());
    let after = head(&s, "dir/obj");
    assert_eq!(after.status, 200);
    assert_eq!(after.etag(), stored.etag());
    for name in [
        "Content-Length",
        "x-oss-hash-crc64ecma",
        "Last-Modified",
        "x-oss-object-type",
    ] {
        assert_eq!(after.header(name), before.header(name), "{name}");
    }
    assert_eq!(get(&s, "dir/obj").body, data);
}

#[test]
fn data_dir_keeps_an_upload_in_progress_and_its_parts_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    let one = pattern(MIN_PART);
    let two = b"last".to_vec();
    let s = disk_server(dir.path());
    let id = initiate(&s, "mp");
    let e1 = part_ok(&s, "mp", &id, 1, &one);
    let e2 = part_ok(&s, "mp", &id, 2, &two);
    let listed_before = list_parts(&s, "mp", &id, &[]).text();
    s.stop();

    let s = disk_server(dir.path());
    assert_eq!(s.stats().uploads_in_progress, 1);
    let listed_after = list_parts(&s, "mp", &id, &[]);
    assert_eq!(listed_after.status, 200, "{}", listed_after.text());
    let xml = listed_after.text();
    for tag in [
        "PartNumber",
        "ETag",
        "Size",
        "HashCrc64ecma",
        "LastModified",
    ] {
        assert_eq!(
            xml_all(&xml, tag),
            xml_all(&listed_before, tag),
            "{tag}: {xml}"
        );
    }
    let r = complete(&s, "mp", &id, &[(1, &e1), (2, &e2)]);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&s, "mp").body, [one, two].concat());
}

// The `ossr serve` process is tested in cli/tests/serve.rs, where Cargo provides the
// binary.

#[test]
fn complete_accepts_numeric_character_references_as_go_writes_them() {
    let s = server();
    let id = initiate(&s, "go");
    let first = pattern(100 * 1024);
    let e1 = part_ok(&s, "go", &id, 1, &first);
    let e2 = part_ok(&s, "go", &id, 2, b"tail");
    let bare = |e: &str| e.trim_matches('"').to_string();
    // Go's encoding/xml writes the ETag's quotes as &#34;; the hex form and a
    // PartNumber written as a reference are valid XML too.
    let xml = format!(
        "<CompleteMultipartUpload>\
         <Part><PartNumber>1</PartNumber><ETag>&#34;{}&#34;</ETag></Part>\
         <Part><PartNumber>&#50;</PartNumber><ETag>&#x22;{}&#x22;</ETag></Part>\
         </CompleteMultipartUpload>",
        bare(&e1),
        bare(&e2)
    );
    let r = send(&s, Req::new("POST", "go").query("uploadId", &id).body(xml));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&s, "go").body, [first, b"tail".to_vec()].concat());
}

#[test]
fn complete_refuses_an_unknown_entity() {
    let s = server();
    let id = initiate(&s, "bad");
    let e1 = part_ok(&s, "bad", &id, 1, b"x");
    let xml = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>&bogus;{}</ETag></Part></CompleteMultipartUpload>",
        e1.trim_matches('"')
    );
    let r = send(&s, Req::new("POST", "bad").query("uploadId", &id).body(xml));
    assert_eq!(r.status, 400, "{}", r.text());
    assert_eq!(r.code(), "MalformedXML");
}

#[test]
fn get_honours_the_response_header_overrides() {
    let s = server();
    put(&s, "doc", b"hello");
    let overrides = [
        (
            "response-content-type",
            "Content-Type",
            "text/x-override; charset=utf-8",
        ),
        ("response-content-language", "Content-Language", "de-CH"),
        (
            "response-expires",
            "Expires",
            "Thu, 01 Dec 2033 16:00:00 GMT",
        ),
        (
            "response-cache-control",
            "Cache-Control",
            "no-cache, max-age=0",
        ),
        (
            "response-content-disposition",
            "Content-Disposition",
            "attachment; filename=\"a b.txt\"",
        ),
        ("response-content-encoding", "Content-Encoding", "identity"),
    ];
    let plain = get(&s, "doc");
    let mut req = Req::new("GET", "doc");
    for (param, _, value) in overrides {
        req = req.query(param, value);
    }
    let r = send(&s, req);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(r.body, b"hello");
    for (param, header, value) in overrides {
        assert_eq!(r.header(header), Some(value), "{param}");
        assert_ne!(plain.header(header), Some(value), "{param} only when asked");
    }
    // A ranged GET takes them too.
    let r = send(
        &s,
        Req::new("GET", "doc")
            .header("Range", "bytes=1-2")
            .query("response-content-type", "text/plain"),
    );
    assert_eq!(r.status, 206);
    assert_eq!(r.header("Content-Type"), Some("text/plain"));
}

#[test]
fn faults_that_took_effect_are_counted_by_kind() {
    let s = server();
    s.put_object(BUCKET, "k", &pattern(64 * 1024)).unwrap();
    s.set_fault("drop_after_bytes", "1000").unwrap();
    s.set_fault("drop_count", "2").unwrap();
    s.set_fault("error_ops", "GetObject").unwrap();
    s.set_fault("error_burst", "3").unwrap();
    for _ in 0..3 {
        assert_eq!(get(&s, "k").status, 503);
    }
    // Two cut bodies, then a whole one (not counted).
    for expected in [1000, 1000, 64 * 1024] {
        let mut c = Conn::open(s.addr());
        c.write(&Req::new("GET", "k").encode(s.addr()));
        assert_eq!(c.read_head().unwrap().status, 200);
        if expected < 64 * 1024 {
            assert_eq!(c.read_to_close().len(), expected);
        } else {
            let mut body = vec![0; expected];
            c.reader.read_exact(&mut body).unwrap();
        }
    }
    let stats = s.stats();
    assert_eq!(stats.faults_of("error_503"), 3);
    assert_eq!(stats.faults_of("drop_after_bytes"), 2);
    assert_eq!(
        stats.faults_injected, 3,
        "the error answers alone, as before"
    );
    let json = control(&s, "GET", "/_ossr/stats").text();
    assert!(json.contains("\"drop_after_bytes\":2"), "{json}");
}

// ---------------------------------------------------------------------------------
// CopyObject and UploadPartCopy.
// ---------------------------------------------------------------------------------

fn copy_req(key: &str, source_key: &str) -> Req {
    Req::new("PUT", key).header(
        "x-oss-copy-source",
        &format!("/{BUCKET}/{}", percent_encode(source_key, false)),
    )
}

fn part_copy_req(key: &str, upload_id: &str, number: u32, source_key: &str, range: &str) -> Req {
    copy_req(key, source_key)
        .query("partNumber", &number.to_string())
        .query("uploadId", upload_id)
        .header("x-oss-copy-source-range", range)
}

#[test]
fn copy_object_copies_bytes_and_metadata_on_the_server() {
    let s = server();
    let data = pattern(150_000);
    let r = send(
        &s,
        Req::new("PUT", "src a+b")
            .header("Content-Type", "text/csv")
            .header("x-oss-meta-colour", "blue")
            .body(data.clone()),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let source_etag = r.etag();
    s.reset_stats();
    let r = send(&s, copy_req("dst", "src a+b"));
    assert_eq!(r.status, 200, "{}", r.text());
    let etag = xml_one(&r.text(), "ETag").unwrap().replace("&quot;", "\"");
    assert_eq!(etag, source_etag, "a copy keeps the source's ETag");
    assert!(xml_one(&r.text(), "LastModified").is_some(), "{}", r.text());
    let stats = s.stats();
    assert_eq!(stats.bytes_copied, data.len() as u64);
    assert_eq!(stats.bytes_served, 0);
    assert_eq!(stats.requests_with("CopyObject", 200), 1);
    let got = get(&s, "dst");
    assert_eq!(got.body, data);
    assert_eq!(got.header("Content-Type"), Some("text/csv"));
    assert_eq!(got.header("x-oss-meta-colour"), Some("blue"));
    // REPLACE takes the request's metadata instead.
    let r = send(
        &s,
        copy_req("dst2", "src a+b")
            .header("x-oss-metadata-directive", "REPLACE")
            .header("Content-Type", "text/plain")
            .header("x-oss-meta-shape", "round"),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    let got = head(&s, "dst2");
    assert_eq!(got.header("Content-Type"), Some("text/plain"));
    assert_eq!(got.header("x-oss-meta-shape"), Some("round"));
    assert_eq!(got.header("x-oss-meta-colour"), None);
    let r = send(
        &s,
        copy_req("dst3", "src a+b").header("x-oss-metadata-directive", "MOVE"),
    );
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
}

#[test]
fn copy_object_checks_the_four_source_conditions() {
    let s = server();
    let etag = put(&s, "src", b"source bytes").etag();
    let cond = |name: &str, value: &str| send(&s, copy_req("dst", "src").header(name, value));
    let r = cond("x-oss-copy-source-if-match", "\"OTHER\"");
    assert_eq!((r.status, r.code().as_str()), (412, "PreconditionFailed"));
    assert_eq!(cond("x-oss-copy-source-if-match", &etag).status, 200);
    assert_eq!(cond("x-oss-copy-source-if-none-match", &etag).status, 304);
    assert_eq!(
        cond("x-oss-copy-source-if-none-match", "\"OTHER\"").status,
        200
    );
    let past = httpdate::fmt_http_date(SystemTime::now() - Duration::from_secs(3600));
    let future = httpdate::fmt_http_date(SystemTime::now() + Duration::from_secs(3600));
    let r = cond("x-oss-copy-source-if-unmodified-since", &past);
    assert_eq!((r.status, r.code().as_str()), (412, "PreconditionFailed"));
    assert_eq!(
        cond("x-oss-copy-source-if-unmodified-since", &future).status,
        200
    );
    assert_eq!(
        cond("x-oss-copy-source-if-modified-since", &future).status,
        304
    );
    assert_eq!(
        cond("x-oss-copy-source-if-modified-since", &past).status,
        200
    );
}

#[test]
fn copy_object_refuses_a_missing_source_an_overwrite_and_a_source_above_the_limit() {
    let mut cfg = config();
    cfg.copy_object_limit = 200 * 1024;
    let s = Server::start(cfg).unwrap();
    let r = send(&s, copy_req("dst", "missing"));
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchKey"));
    let r = send(
        &s,
        Req::new("PUT", "dst").header("x-oss-copy-source", "no-slash"),
    );
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
    put(&s, "src", &pattern(1000));
    put(&s, "dst", b"old");
    let r = send(
        &s,
        copy_req("dst", "src").header("x-oss-forbid-overwrite", "true"),
    );
    assert_eq!((r.status, r.code().as_str()), (409, "FileAlreadyExists"));
    assert_eq!(get(&s, "dst").body, b"old");
    assert_eq!(
        send(
            &s,
            copy_req("new", "src").header("x-oss-forbid-overwrite", "true")
        )
        .status,
        200
    );
    put(&s, "big", &pattern(200 * 1024 + 1));
    let r = send(&s, copy_req("big-copy", "big"));
    assert_eq!((r.status, r.code().as_str()), (400, "EntityTooLarge"));
    assert_eq!(head(&s, "big-copy").status, 404);
    assert_eq!(s.stats().bytes_copied, 1000);
}

#[test]
fn copy_object_works_across_buckets() {
    let s = server();
    s.create_bucket("other-bucket").unwrap();
    put(&s, "src", b"across");
    let r = send(&s, copy_req("dst", "src").in_bucket("other-bucket"));
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        send(&s, Req::new("GET", "dst").in_bucket("other-bucket")).body,
        b"across"
    );
}

#[test]
fn upload_part_copy_parts_list_and_complete_like_uploaded_ones() {
    let s = server();
    let data = pattern(2 * MIN_PART + 5000);
    put(&s, "src", &data);
    let id = initiate(&s, "dst");
    s.reset_stats();
    let ranges = [
        (1, format!("bytes=0-{}", MIN_PART - 1)),
        (2, format!("bytes={}-{}", MIN_PART, 2 * MIN_PART - 1)),
        (3, format!("bytes={}-{}", 2 * MIN_PART, data.len() - 1)),
    ];
    let mut etags = Vec::new();
    for (n, range) in &ranges {
        let r = send(&s, part_copy_req("dst", &id, *n, "src", range));
        assert_eq!(r.status, 200, "{}", r.text());
        let etag = xml_one(&r.text(), "ETag")
            .expect("CopyPartResult/ETag")
            .replace("&quot;", "\"");
        assert!(xml_one(&r.text(), "LastModified").is_some());
        assert_eq!(r.etag(), etag);
        etags.push(etag);
    }
    let stats = s.stats();
    assert_eq!(stats.bytes_copied, data.len() as u64);
    assert_eq!((stats.bytes_received, stats.bytes_served), (0, 0));
    assert_eq!(stats.requests_with("UploadPartCopy", 200), 3);
    let listed = list_parts(&s, "dst", &id, &[]).text();
    let sizes: Vec<String> = xml_all(&listed, "Size");
    assert_eq!(sizes, ["102400", "102400", "5000"]);
    let parts: Vec<(u32, &str)> = etags
        .iter()
        .enumerate()
        .map(|(i, e)| (i as u32 + 1, e.as_str()))
        .collect();
    let r = complete(&s, "dst", &id, &parts);
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(get(&s, "dst").body, data);
}

#[test]
fn upload_part_copy_checks_conditions_ranges_and_the_upload() {
    let s = server();
    let etag = put(&s, "src", &pattern(1000)).etag();
    let id = initiate(&s, "dst");
    let r = send(
        &s,
        part_copy_req("dst", &id, 1, "src", "bytes=0-9")
            .header("x-oss-copy-source-if-match", "\"OTHER\""),
    );
    assert_eq!((r.status, r.code().as_str()), (412, "PreconditionFailed"));
    let r = send(
        &s,
        part_copy_req("dst", &id, 1, "src", "bytes=0-9")
            .header("x-oss-copy-source-if-none-match", &etag),
    );
    assert_eq!(r.status, 304);
    let r = send(&s, part_copy_req("dst", &id, 1, "src", "bytes=1000-1001"));
    assert_eq!((r.status, r.code().as_str()), (416, "InvalidRange"));
    let r = send(&s, part_copy_req("dst", "NOPE", 1, "src", "bytes=0-9"));
    assert_eq!((r.status, r.code().as_str()), (404, "NoSuchUpload"));
    let r = send(&s, part_copy_req("dst", &id, 10_001, "src", "bytes=0-9"));
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
    let r = send(
        &s,
        part_copy_req("dst", &id, 1, "src", "bytes=0-9")
            .header("x-oss-copy-source-if-match", &etag),
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        xml_all(&list_parts(&s, "dst", &id, &[]).text(), "Size"),
        ["10"]
    );
}

#[test]
fn copy_faults_are_injected_by_operation_name() {
    let s = server();
    put(&s, "src", &pattern(MIN_PART));
    let id = initiate(&s, "dst");
    s.set_fault("error_ops", "UploadPartCopy,CopyObject")
        .unwrap();
    s.set_fault("error_burst", "2").unwrap();
    let r = send(&s, part_copy_req("dst", &id, 1, "src", "bytes=0-9"));
    assert_eq!((r.status, r.code().as_str()), (503, "ServiceUnavailable"));
    assert_eq!(send(&s, copy_req("dst", "src")).status, 503);
    assert_eq!(send(&s, copy_req("dst", "src")).status, 200);
    assert_eq!(s.stats().requests_with("UploadPartCopy", 503), 1);
    assert_eq!(s.stats().requests_with("CopyObject", 503), 1);
    let json = control(&s, "GET", "/_ossr/stats").text();
    assert!(
        json.contains(&format!("\"bytes_copied\":{MIN_PART}")),
        "{json}"
    );
}

#[test]
fn forbid_overwrite_also_guards_put_object_and_complete() {
    let s = server();
    put(&s, "k", b"old");
    let r = send(
        &s,
        Req::new("PUT", "k")
            .header("x-oss-forbid-overwrite", "true")
            .body(b"new".to_vec()),
    );
    assert_eq!((r.status, r.code().as_str()), (409, "FileAlreadyExists"));
    let id = initiate(&s, "k");
    let etag = part_ok(&s, "k", &id, 1, b"multipart");
    let mut xml = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{etag}</ETag></Part></CompleteMultipartUpload>"
    );
    let r = send(
        &s,
        Req::new("POST", "k")
            .query("uploadId", &id)
            .header("x-oss-forbid-overwrite", "true")
            .body(std::mem::take(&mut xml)),
    );
    assert_eq!((r.status, r.code().as_str()), (409, "FileAlreadyExists"));
    assert_eq!(get(&s, "k").body, b"old");
    assert_eq!(complete(&s, "k", &id, &[(1, &etag)]).status, 200);
}

// ---------------------------------------------------------------------------------
// Listing: ListObjects (v1) and ListObjectsV2 on the wire.
// ---------------------------------------------------------------------------------

fn list(s: &Server, query: &[(&str, &str)]) -> Resp {
    let mut req = Req::bucket_level("GET");
    for (name, value) in query {
        req = req.query(name, value);
    }
    send(s, req)
}

#[test]
fn list_objects_v1_pages_with_next_marker_and_rolls_up_common_prefixes() {
    let s = server();
    for key in ["a/1", "a/2", "b", "c/1", "c/2/3", "d"] {
        put(&s, key, b"x");
    }
    let mut marker = String::new();
    let mut keys = Vec::new();
    let mut prefixes = Vec::new();
    let mut pages = 0;
    loop {
        let r = list(
            &s,
            &[("delimiter", "/"), ("max-keys", "2"), ("marker", &marker)],
        );
        assert_eq!(r.status, 200, "{}", r.text());
        let xml = r.text();
        pages += 1;
        assert_eq!(xml_one(&xml, "MaxKeys").as_deref(), Some("2"));
        assert_eq!(xml_one(&xml, "Marker").unwrap(), marker);
        keys.extend(xml_all(&xml, "Key"));
        prefixes.extend(
            xml_all(&xml, "Prefix")
                .into_iter()
                .filter(|p| !p.is_empty()),
        );
        if xml_one(&xml, "IsTruncated").as_deref() != Some("true") {
            assert_eq!(xml_one(&xml, "NextMarker"), None);
            break;
        }
        marker = xml_one(&xml, "NextMarker").expect("a truncated page names its NextMarker");
        assert!(pages < 10);
    }
    assert_eq!(keys, ["b", "d"]);
    assert_eq!(prefixes, ["a/", "c/"]);
    assert_eq!(pages, 2);
    assert_eq!(s.stats().requests_with("ListObjects", 200), 2);
}

#[test]
fn list_objects_defaults_to_100_keys_and_refuses_max_keys_outside_1_to_1000() {
    let s = server();
    for i in 0..101 {
        s.put_object(BUCKET, &format!("k{i:03}"), b"").unwrap();
    }
    let r = list(&s, &[]);
    let xml = r.text();
    assert_eq!(xml_all(&xml, "Key").len(), 100);
    assert_eq!(xml_one(&xml, "IsTruncated").as_deref(), Some("true"));
    assert_eq!(xml_one(&xml, "NextMarker").as_deref(), Some("k099"));
    // Owner is listed by v1; ETag, Type, Size, StorageClass for each key.
    assert_eq!(xml_all(&xml, "Owner").len(), 100);
    assert_eq!(xml_all(&xml, "StorageClass")[0], "Standard");
    assert_eq!(xml_all(&xml, "Type")[0], "Normal");
    assert_eq!(
        xml_all(&xml, "ETag")[0],
        "&quot;D41D8CD98F00B204E9800998ECF8427E&quot;"
    );
    for bad in ["0", "1001", "x"] {
        let r = list(&s, &[("max-keys", bad)]);
        assert_eq!(
            (r.status, r.code().as_str()),
            (400, "InvalidArgument"),
            "{bad}"
        );
    }
    let r = list(&s, &[("encoding-type", "base64")]);
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
}

#[test]
fn list_objects_url_encoding_covers_keys_prefixes_and_markers() {
    let s = server();
    for key in ["p q/a\u{1}", "p q/b&c", "p q/sub/x"] {
        put(&s, key, b"");
    }
    let query = [
        ("prefix", "p q/"),
        ("delimiter", "/"),
        ("encoding-type", "url"),
        ("max-keys", "1"),
    ];
    let xml = list(&s, &query).text();
    assert_eq!(xml_one(&xml, "EncodingType").as_deref(), Some("url"));
    assert_eq!(xml_all(&xml, "Key"), ["p%20q/a%01"]);
    assert_eq!(xml_all(&xml, "Prefix"), ["p%20q/"]);
    assert_eq!(xml_one(&xml, "NextMarker").as_deref(), Some("p%20q/a%01"));
    // Without it, text is XML-escaped.
    let xml = list(&s, &[("prefix", "p q/b")]).text();
    assert_eq!(xml_all(&xml, "Key"), ["p q/b&amp;c"]);
}

#[test]
fn list_objects_v2_pages_by_continuation_token_with_key_count_and_start_after() {
    let s = server();
    for key in ["a", "b", "c", "d", "e"] {
        put(&s, key, b"");
    }
    let r = list(
        &s,
        &[("list-type", "2"), ("max-keys", "2"), ("start-after", "a")],
    );
    let xml = r.text();
    assert_eq!(xml_all(&xml, "Key"), ["b", "c"]);
    assert_eq!(xml_one(&xml, "KeyCount").as_deref(), Some("2"));
    assert_eq!(xml_one(&xml, "StartAfter").as_deref(), Some("a"));
    assert_eq!(
        xml_all(&xml, "Owner").len(),
        0,
        "no owner unless fetch-owner"
    );
    let token = xml_one(&xml, "NextContinuationToken").unwrap();
    let r = list(
        &s,
        &[
            ("list-type", "2"),
            ("max-keys", "2"),
            ("continuation-token", &token),
            ("fetch-owner", "true"),
        ],
    );
    let xml = r.text();
    assert_eq!(xml_all(&xml, "Key"), ["d", "e"]);
    assert_eq!(xml_one(&xml, "ContinuationToken").unwrap(), token);
    assert_eq!(xml_one(&xml, "IsTruncated").as_deref(), Some("false"));
    assert_eq!(xml_all(&xml, "Owner").len(), 2);
    assert_eq!(s.stats().requests_with("ListObjectsV2", 200), 2);
    let r = list(&s, &[("list-type", "2"), ("continuation-token", "!!")]);
    assert_eq!((r.status, r.code().as_str()), (400, "InvalidArgument"));
}

#[test]
fn a_bucket_get_with_a_sub_resource_is_not_taken_for_a_listing() {
    let s = server();
    let r = list(&s, &[("acl", "")]);
    assert_eq!(r.status, 501, "{}", r.text());
}

// ---------------------------------------------------------------------------------
// The delay fault and the traffic timeline (engine policies, issue 17).
// ---------------------------------------------------------------------------------

/// Which of `n` GETs took at least `delay`.
fn slow_gets(s: &Server, n: usize, delay: Duration) -> Vec<bool> {
    (0..n)
        .map(|_| {
            let started = Instant::now();
            assert_eq!(get(s, "k").status, 200);
            started.elapsed() >= delay
        })
        .collect()
}

#[test]
fn delay_fault_holds_back_a_seeded_fraction_of_matching_requests_and_counts_them() {
    let s = server();
    s.put_object(BUCKET, "k", b"some bytes").unwrap();
    let set = "/_ossr/faults?delay_rate=0.2&delay_ms=250&delay_ops=GetObject&delay_seed=9";
    assert_eq!(control(&s, "POST", set).status, 200);
    let delay = Duration::from_millis(250);
    let first = slow_gets(&s, 30, delay);
    let delayed = first.iter().filter(|d| **d).count() as u64;
    assert!(delayed > 0 && delayed < 30, "{delayed} of 30 delayed");
    assert_eq!(s.stats().faults_of("delay"), delayed, "each delay counted");
    let started = Instant::now();
    assert_eq!(head(&s, "k").status, 200);
    assert!(started.elapsed() < delay, "HEAD is not among delay_ops");
    // The same seed, set again, holds back the same requests.
    assert_eq!(control(&s, "POST", set).status, 200);
    assert_eq!(slow_gets(&s, 30, delay), first);
    let json = control(&s, "GET", "/_ossr/faults").text();
    assert_eq!(json_member(&json, "delay_ms"), Some("250"), "{json}");
}

#[test]
fn traffic_endpoint_reports_body_bytes_sent_and_received_over_time() {
    let s = server();
    let data = pattern(1_000_000);
    s.put_object(BUCKET, "big", &data).unwrap();
    assert_eq!(control(&s, "DELETE", "/_ossr/stats").status, 200);
    s.set_fault("bandwidth", "2000000").unwrap();
    assert_eq!(get(&s, "big").body, data);
    let sent = s.traffic().sent_per(Duration::from_millis(100));
    assert_eq!(sent.iter().sum::<u64>(), data.len() as u64);
    let busy = sent.iter().filter(|n| **n > 0).count();
    assert!(busy >= 4, "1 MB at 2 MB/s spreads over windows: {sent:?}");
    assert!(
        sent.iter().all(|n| *n <= 400_000),
        "no 100 ms window holds twice its share: {sent:?}"
    );
    s.clear_faults();
    put(&s, "up", &data[..300_000]);
    let json = control(&s, "GET", "/_ossr/traffic?window_ms=100").text();
    assert_eq!(json_member(&json, "window_ms"), Some("100"), "{json}");
    let received = s.traffic().received_per(Duration::from_secs(60));
    assert_eq!(received.iter().sum::<u64>(), 300_000);
}
