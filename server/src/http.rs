//! A small HTTP/1.1 layer over std sockets: request heads, bodies (length or chunked)
//! and responses. Written by hand so that faults (cut bodies, stalls, flipped bytes,
//! bandwidth caps) can be applied at the byte level.

use std::io::{self, BufRead, BufReader, Read, Write};
use std::net::TcpStream;

/// Largest request head accepted (request line plus headers).
const MAX_HEAD: usize = 64 * 1024;
/// Most headers accepted in one request.
const MAX_HEADERS: usize = 128;
/// Longest chunk-size line accepted in a chunked body.
const MAX_CHUNK_LINE: usize = 4096;

/// A parsed request head.
#[derive(Debug, Clone)]
pub struct RequestHead {
    pub method: String,
    /// The raw request target (path and query, still percent-encoded).
    pub target: String,
    pub headers: Vec<(String, String)>,
    /// HTTP/1.0 closes after the response unless asked otherwise.
    pub http10: bool,
}

impl RequestHead {
    /// The first header of this name (case-insensitive), trimmed.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    fn wants_close(&self) -> bool {
        match self.header("connection") {
            Some(v) if v.eq_ignore_ascii_case("close") => true,
            Some(v) if v.eq_ignore_ascii_case("keep-alive") => false,
            _ => self.http10,
        }
    }
}

/// Reads one request head. `Ok(None)` means the peer closed the connection cleanly
/// between requests.
pub fn read_head(reader: &mut BufReader<TcpStream>) -> io::Result<Option<RequestHead>> {
    let mut buf: Vec<u8> = Vec::with_capacity(1024);
    loop {
        let available = reader.fill_buf()?;
        if available.is_empty() {
            if buf.is_empty() {
                return Ok(None);
            }
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "connection closed inside a request head",
            ));
        }
        // Copy up to and including the end of the head, if it is in this buffer.
        let start = buf.len();
        buf.extend_from_slice(available);
        let search_from = start.saturating_sub(3);
        let end = buf[search_from..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|p| search_from + p + 4);
        match end {
            Some(end) => {
                let consumed = end - start;
                reader.consume(consumed);
                buf.truncate(end);
                break;
            }
            None => {
                let n = available.len();
                reader.consume(n);
                if buf.len() > MAX_HEAD {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "request head too large",
                    ));
                }
            }
        }
    }
    let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut req = httparse::Request::new(&mut headers);
    match req.parse(&buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "malformed request head",
            ));
        }
    }
    let method = req.method.unwrap_or("").to_string();
    let target = req.path.unwrap_or("/").to_string();
    let http10 = req.version == Some(0);
    let headers = req
        .headers
        .iter()
        .map(|h| {
            (
                h.name.to_string(),
                String::from_utf8_lossy(h.value).trim().to_string(),
            )
        })
        .collect();
    Ok(Some(RequestHead {
        method,
        target,
        headers,
        http10,
    }))
}

/// How the request body is framed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    Length(u64),
    Chunked,
}

impl BodyFraming {
    /// Framing from the head; `Err` on an unusable `Content-Length` or `Transfer-Encoding`.
    pub fn of(head: &RequestHead) -> Result<BodyFraming, &'static str> {
        if let Some(te) = head.header("transfer-encoding") {
            if te.eq_ignore_ascii_case("chunked") {
                return Ok(BodyFraming::Chunked);
            }
            return Err("unsupported Transfer-Encoding");
        }
        match head.header("content-length") {
            None => Ok(BodyFraming::Length(0)),
            Some(v) => v
                .parse::<u64>()
                .map(BodyFraming::Length)
                .map_err(|_| "invalid Content-Length"),
        }
    }
}

/// A request body reader. Reading to the end consumes exactly the body; anything
/// unread is drained (or the connection closed) before the next request.
pub struct Body<'a> {
    reader: &'a mut BufReader<TcpStream>,
    state: BodyState,
    /// Bytes of body delivered so far.
    pub received: u64,
}

enum BodyState {
    Length { remaining: u64 },
    Chunked { remaining_in_chunk: u64, done: bool },
}

impl<'a> Body<'a> {
    pub fn new(reader: &'a mut BufReader<TcpStream>, framing: BodyFraming) -> Body<'a> {
        let state = match framing {
            BodyFraming::Length(n) => BodyState::Length { remaining: n },
            BodyFraming::Chunked => BodyState::Chunked {
                remaining_in_chunk: 0,
                done: false,
            },
        };
        Body {
            reader,
            state,
            received: 0,
        }
    }

    /// True when the whole body has been read.
    pub fn is_complete(&self) -> bool {
        match self.state {
            BodyState::Length { remaining } => remaining == 0,
            BodyState::Chunked { done, .. } => done,
        }
    }

    /// Reads and discards what is left of the body, at most `limit` bytes.
    /// Returns false when the body was longer than that (the connection must close).
    pub fn drain(&mut self, limit: u64) -> io::Result<bool> {
        let mut sink = [0u8; 64 * 1024];
        let mut drained = 0u64;
        while !self.is_complete() {
            let n = self.read(&mut sink)?;
            if n == 0 {
                break;
            }
            drained += n as u64;
            if drained > limit {
                return Ok(false);
            }
        }
        Ok(self.is_complete())
    }

    fn read_chunk_line(&mut self) -> io::Result<String> {
        let mut line = Vec::new();
        loop {
            let buf = self.reader.fill_buf()?;
            if buf.is_empty() {
                return Err(io::Error::new(
                    io::ErrorKind::UnexpectedEof,
                    "connection closed inside a chunked body",
                ));
            }
            if let Some(p) = buf.iter().position(|&b| b == b'\n') {
                line.extend_from_slice(&buf[..p]);
                self.reader.consume(p + 1);
                break;
            }
            let n = buf.len();
            line.extend_from_slice(buf);
            self.reader.consume(n);
            if line.len() > MAX_CHUNK_LINE {
                return Err(bad_chunk());
            }
        }
        if line.last() == Some(&b'\r') {
            line.pop();
        }
        String::from_utf8(line).map_err(|_| bad_chunk())
    }
}

fn bad_chunk() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "malformed chunked body")
}

impl Read for Body<'_> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        loop {
            match &mut self.state {
                BodyState::Length { remaining } => {
                    if *remaining == 0 {
                        return Ok(0);
                    }
                    let want = out
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    let n = self.reader.read(&mut out[..want])?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "connection closed before the end of the body",
                        ));
                    }
                    *remaining -= n as u64;
                    self.received += n as u64;
                    return Ok(n);
                }
                BodyState::Chunked {
                    remaining_in_chunk,
                    done,
                } => {
                    if *done {
                        return Ok(0);
                    }
                    if *remaining_in_chunk > 0 {
                        let want = out
                            .len()
                            .min(usize::try_from(*remaining_in_chunk).unwrap_or(usize::MAX));
                        let n = self.reader.read(&mut out[..want])?;
                        if n == 0 {
                            return Err(io::Error::new(
                                io::ErrorKind::UnexpectedEof,
                                "connection closed inside a chunk",
                            ));
                        }
                        *remaining_in_chunk -= n as u64;
                        self.received += n as u64;
                        if *remaining_in_chunk == 0 {
                            // Each chunk's data ends with CRLF.
                            let line = self.read_chunk_line()?;
                            if !line.is_empty() {
                                return Err(bad_chunk());
                            }
                        }
                        return Ok(n);
                    }
                    let line = self.read_chunk_line()?;
                    let size_text = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(size_text, 16).map_err(|_| bad_chunk())?;
                    if size == 0 {
                        // Trailers, up to the empty line.
                        loop {
                            let trailer = self.read_chunk_line()?;
                            if trailer.is_empty() {
                                break;
                            }
                        }
                        if let BodyState::Chunked { done, .. } = &mut self.state {
                            *done = true;
                        }
                        return Ok(0);
                    }
                    if let BodyState::Chunked {
                        remaining_in_chunk, ..
                    } = &mut self.state
                    {
                        *remaining_in_chunk = size;
                    }
                }
            }
        }
    }
}

/// Whether the connection stays open after this exchange.
pub fn keep_alive(head: &RequestHead) -> bool {
    !head.wants_close()
}

/// Writes a status line and headers. `Content-Length` must be among the headers when a
/// body follows (this server never uses chunked responses).
pub fn write_head(
    stream: &mut impl Write,
    status: u16,
    headers: &[(String, String)],
    close: bool,
) -> io::Result<()> {
    let mut out = String::with_capacity(512);
    out.push_str("HTTP/1.1 ");
    out.push_str(&status.to_string());
    out.push(' ');
    out.push_str(reason(status));
    out.push_str("\r\n");
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    if close {
        out.push_str("Connection: close\r\n");
    } else {
        out.push_str("Connection: keep-alive\r\n");
    }
    out.push_str("\r\n");
    stream.write_all(out.as_bytes())
}

fn reason(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        200 => "OK",
        204 => "No Content",
        206 => "Partial Content",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        409 => "Conflict",
        411 => "Length Required",
        412 => "Precondition Failed",
        416 => "Requested Range Not Satisfiable",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        _ => "Unknown",
    }
}

/// Decoded query parameters, in order.
pub type Query = Vec<(String, String)>;

/// Splits a request target into its percent-decoded path and decoded query pairs.
/// `+` stays a plus sign (OSS clients encode spaces as `%20`).
pub fn split_target(target: &str) -> Result<(String, Query), &'static str> {
    let (path, query) = match target.split_once('?') {
        Some((p, q)) => (p, q),
        None => (target, ""),
    };
    let path = decode(path)?;
    let mut pairs = Vec::new();
    for part in query.split('&').filter(|p| !p.is_empty()) {
        // In a query a '+' is a space (form encoding, as Python's requests writes a
        // listing's marker); a plus itself comes as %2B.
        let part = part.replace('+', " ");
        let (k, v) = part.split_once('=').unwrap_or((&part, ""));
        pairs.push((decode(k)?, decode(v)?));
    }
    Ok((path, pairs))
}

pub(crate) fn decode(s: &str) -> Result<String, &'static str> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes.get(i + 1..i + 3).ok_or("bad percent-encoding")?;
            let hex = std::str::from_utf8(hex).map_err(|_| "bad percent-encoding")?;
            out.push(u8::from_str_radix(hex, 16).map_err(|_| "bad percent-encoding")?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "the request target is not UTF-8")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn split_target_decodes_path_and_query() {
        let (path, query) =
            split_target("/b/a%2Fb%20c%2Bd?uploadId=x%2By&partNumber=3&acl").unwrap();
        assert_eq!(path, "/b/a/b c+d");
        assert_eq!(
            query,
            vec![
                ("uploadId".to_string(), "x+y".to_string()),
                ("partNumber".to_string(), "3".to_string()),
                ("acl".to_string(), String::new()),
            ]
        );
    }

    #[test]
    fn a_plus_in_the_query_is_a_space_but_not_in_the_path() {
        let (path, query) = split_target("/b/a+b?marker=z+z&prefix=p%2Bq").unwrap();
        assert_eq!(path, "/b/a+b");
        assert_eq!(query[0].1, "z z");
        assert_eq!(query[1].1, "p+q");
    }

    #[test]
    fn split_target_rejects_broken_escapes() {
        assert!(split_target("/b/%zz").is_err());
        assert!(split_target("/b/%e4").is_err());
    }
}
