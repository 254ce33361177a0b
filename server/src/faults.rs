//! Faults the server injects on demand, and the counters tests read.
//!
//! Every fault is set by a `name=value` switch, the same at start-up (`--fault`) and
//! through the control endpoint (`POST /_ossr/faults?name=value&...`). Counted faults
//! ("the next K GETs") count down and switch themselves off.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// The fault switches, with their current values. All off by default.
#[derive(Debug, Clone, Default)]
pub struct Faults {
    /// Fraction (0..=1) of matching requests answered with an injected error.
    pub error_rate: f64,
    /// The next N matching requests are answered with an injected error.
    pub error_burst: u64,
    /// Operations the injected errors apply to (empty: all).
    pub error_ops: Vec<String>,
    /// Status of injected errors: 503 (ServiceUnavailable, the default), 500 or 429.
    pub error_status: u16,
    /// `x-oss-qos-delay-time` (ms) sent with injected errors; 0 sends none.
    pub qos_delay_ms: u64,
    /// Cut the body (close the connection) after this many bytes ...
    pub drop_after_bytes: u64,
    /// ... in the next K GET responses.
    pub drop_count: u64,
    /// Flip one byte in the next K GET bodies (headers unchanged) ...
    pub flip_count: u64,
    /// ... at this offset within the body (default: the middle of the body).
    pub flip_offset: Option<u64>,
    /// Added before every response.
    pub latency: Duration,
    /// Per-connection cap on response body bytes per second (0: none).
    pub bandwidth: u64,
    /// Per-request cap on request body bytes received per second (0: none).
    pub recv_bandwidth: u64,
    /// Rewrite this object (new bytes, new ETag) ...
    pub rewrite_key: Option<String>,
    /// ... right after its Mth ranged GET (counted from when the switch was set).
    pub rewrite_after: u64,
    /// Ranged GETs of `rewrite_key` seen since the switch was set.
    pub rewrite_seen: u64,
    /// Pause the body after this many bytes ...
    pub stall_after_bytes: u64,
    /// ... for this long ...
    pub stall: Duration,
    /// ... in the next K GET responses.
    pub stall_count: u64,
    /// Operations whose next responses are lost: the request is carried out, then the
    /// connection is closed without a response ...
    pub lose_response_ops: Vec<String>,
    /// ... this many times.
    pub lose_response_count: u64,
    /// Offset of the server's clock from the real one, in seconds (for skew tests).
    pub clock_offset_secs: i64,
    /// Close the connection after receiving this many request body bytes ...
    pub drop_request_after_bytes: u64,
    /// ... in the next K requests that carry a body (PutObject, UploadPart, Complete).
    pub drop_request_count: u64,
    /// Leave `x-oss-hash-crc64ecma` out of object answers (like older objects or a
    /// plain HTTP server).
    pub omit_crc: bool,
    /// Fraction (0..=1) of matching requests whose answer is held back ...
    pub delay_rate: f64,
    /// ... this long before its first byte ...
    pub delay: Duration,
    /// ... among these operations (empty: all).
    pub delay_ops: Vec<String>,
    /// ... sparing the first N of them (counted from when a delay switch was last set).
    pub delay_after: u64,
    /// Matching requests seen since a delay switch was last set.
    delay_seen: u64,
    /// Seed of the draw that picks the delayed requests (set with `delay_seed`, which
    /// restarts the draw): the same seed and request order pick the same requests.
    pub delay_seed: u64,
    /// The draw, restarted from `delay_seed` whenever a delay switch is set.
    delay_draw: Draw,
    /// Send buffer (SO_SNDBUF) of each connection accepted from now on, in bytes (0:
    /// the system's, which grows to megabytes). Small, the bytes a slow client has
    /// not read wait here rather than in the socket, so the traffic timeline shows
    /// the client's pace, not the buffers' (bandwidth-cap tests).
    pub socket_buffer: u64,
}

/// A seeded random sequence (fastrand's generator), restartable from its seed.
#[derive(Debug, Clone)]
struct Draw(fastrand::Rng);

impl Default for Draw {
    fn default() -> Self {
        Draw(fastrand::Rng::with_seed(0))
    }
}

/// The names accepted by [`Faults::apply`], for help texts.
pub const FAULT_SWITCHES: &[(&str, &str)] = &[
    (
        "error_rate=F",
        "answer a fraction F (0..1) of matching requests with an injected error",
    ),
    (
        "error_burst=N",
        "answer the next N matching requests with an injected error",
    ),
    (
        "error_ops=Op,Op",
        "limit injected errors to these operations (GetObject, UploadPart, ...)",
    ),
    (
        "error_status=S",
        "status of injected errors: 503 ServiceUnavailable (default), 500 InternalError, 429, 403 AccessDenied (a copy the server will not make)",
    ),
    (
        "qos_delay_ms=N",
        "send x-oss-qos-delay-time: N with injected errors",
    ),
    (
        "drop_after_bytes=N",
        "cut GET bodies after N bytes (connection closed) ...",
    ),
    ("drop_count=K", "... for the next K GETs"),
    (
        "flip_count=K",
        "flip one byte in the next K GET bodies, headers unchanged",
    ),
    (
        "flip_offset=N",
        "which body byte to flip (default: the middle)",
    ),
    ("latency_ms=N", "wait N ms before every response"),
    (
        "bandwidth=BYTES",
        "cap each connection's response bodies at BYTES per second",
    ),
    (
        "recv_bandwidth=BYTES",
        "read each request body (PutObject, UploadPart) at BYTES per second",
    ),
    (
        "rewrite_key=KEY",
        "rewrite this object (new bytes, new ETag) ...",
    ),
    ("rewrite_after=M", "... right after its Mth ranged GET"),
    ("stall_after_bytes=N", "pause GET bodies after N bytes ..."),
    ("stall_ms=D", "... for D milliseconds ..."),
    ("stall_count=K", "... in the next K GETs"),
    (
        "lose_response_ops=Op,Op",
        "carry out these operations but close the connection instead of answering ...",
    ),
    ("lose_response_count=K", "... the next K times"),
    (
        "clock_offset_secs=N",
        "run the server's clock N seconds off (skew tests)",
    ),
    (
        "drop_request_after_bytes=N",
        "close the connection after receiving N request body bytes ...",
    ),
    (
        "drop_request_count=K",
        "... in the next K uploads (PutObject, UploadPart, Complete)",
    ),
    (
        "omit_crc=1",
        "leave x-oss-hash-crc64ecma out of answers (like older objects)",
    ),
    (
        "delay_rate=F",
        "hold back the answer of a fraction F (0..1) of matching requests ...",
    ),
    ("delay_ms=N", "... by N ms before its first byte ..."),
    (
        "delay_ops=Op,Op",
        "... among these operations (default: all; e.g. GetObject)",
    ),
    (
        "delay_after=N",
        "... sparing the first N of them (default 0; counted from the last delay switch)",
    ),
    (
        "socket_buffer=BYTES",
        "send buffer (SO_SNDBUF) of connections accepted from now on (default: the system's)",
    ),
    (
        "delay_seed=S",
        "seed of the draw that picks delayed requests (default 0; deterministic)",
    ),
];

fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T, String> {
    value
        .trim()
        .parse()
        .map_err(|_| format!("fault {name}: invalid value {value:?}"))
}

fn list(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

impl Faults {
    /// Sets one switch by name. Unknown names and bad values are errors.
    pub fn apply(&mut self, name: &str, value: &str) -> Result<(), String> {
        match name {
            "error_rate" => {
                let rate: f64 = parse(name, value)?;
                if !(0.0..=1.0).contains(&rate) {
                    return Err(format!("fault error_rate: {rate} is not within 0..1"));
                }
                self.error_rate = rate;
            }
            "error_burst" => self.error_burst = parse(name, value)?,
            "error_ops" => self.error_ops = list(value),
            "error_status" => {
                let status: u16 = parse(name, value)?;
                if ![500, 503, 429, 403].contains(&status) {
                    return Err(format!(
                        "fault error_status: {status} is not one of 500, 503, 429, 403"
                    ));
                }
                self.error_status = status;
            }
            "qos_delay_ms" => self.qos_delay_ms = parse(name, value)?,
            "drop_after_bytes" => self.drop_after_bytes = parse(name, value)?,
            "drop_count" => self.drop_count = parse(name, value)?,
            "flip_count" => self.flip_count = parse(name, value)?,
            "flip_offset" => {
                self.flip_offset = if value.is_empty() {
                    None
                } else {
                    Some(parse(name, value)?)
                }
            }
            "latency_ms" => self.latency = Duration::from_millis(parse(name, value)?),
            "bandwidth" => self.bandwidth = parse(name, value)?,
            "recv_bandwidth" => self.recv_bandwidth = parse(name, value)?,
            "rewrite_key" => {
                self.rewrite_key = (!value.is_empty()).then(|| value.to_string());
                self.rewrite_seen = 0;
            }
            "rewrite_after" => {
                self.rewrite_after = parse(name, value)?;
                self.rewrite_seen = 0;
            }
            "stall_after_bytes" => self.stall_after_bytes = parse(name, value)?,
            "stall_ms" => self.stall = Duration::from_millis(parse(name, value)?),
            "stall_count" => self.stall_count = parse(name, value)?,
            "lose_response_ops" => self.lose_response_ops = list(value),
            "lose_response_count" => self.lose_response_count = parse(name, value)?,
            "clock_offset_secs" => self.clock_offset_secs = parse(name, value)?,
            "drop_request_after_bytes" => self.drop_request_after_bytes = parse(name, value)?,
            "drop_request_count" => self.drop_request_count = parse(name, value)?,
            "omit_crc" => {
                self.omit_crc = match value.trim() {
                    "1" | "true" => true,
                    "0" | "false" => false,
                    other => return Err(format!("fault omit_crc: {other:?} is not 0 or 1")),
                }
            }
            "delay_rate" => {
                let rate: f64 = parse(name, value)?;
                if !(0.0..=1.0).contains(&rate) {
                    return Err(format!("fault delay_rate: {rate} is not within 0..1"));
                }
                self.delay_rate = rate;
            }
            "delay_ms" => self.delay = Duration::from_millis(parse(name, value)?),
            "delay_ops" => self.delay_ops = list(value),
            "delay_seed" => self.delay_seed = parse(name, value)?,
            "delay_after" => self.delay_after = parse(name, value)?,
            "socket_buffer" => self.socket_buffer = parse(name, value)?,
            _ => return Err(format!("unknown fault switch {name:?}")),
        }
        if name.starts_with("delay_") {
            // Any change of the delay switches restarts the draw, so a test that sets
            // them sees the same requests delayed every run.
            self.delay_draw = Draw(fastrand::Rng::with_seed(self.delay_seed));
            self.delay_seen = 0;
        }
        Ok(())
    }

    /// How long to hold back this operation's answer, if the delay fault picks it.
    pub fn take_delay(&mut self, op: &str) -> Option<Duration> {
        if self.delay_rate <= 0.0 || self.delay.is_zero() {
            return None;
        }
        if !self.delay_ops.is_empty() && !self.delay_ops.iter().any(|o| o == op) {
            return None;
        }
        self.delay_seen += 1;
        if self.delay_seen <= self.delay_after {
            return None;
        }
        (self.delay_draw.0.f64() < self.delay_rate).then_some(self.delay)
    }

    /// Parses and applies `name=value`.
    pub fn apply_pair(&mut self, pair: &str) -> Result<(), String> {
        let (name, value) = pair
            .split_once('=')
            .ok_or_else(|| format!("fault {pair:?} is not of the form name=value"))?;
        self.apply(name.trim(), value)
    }

    /// Whether this request gets an injected error; counts a burst down.
    pub fn take_error(&mut self, op: &str) -> Option<u16> {
        if !self.error_ops.is_empty() && !self.error_ops.iter().any(|o| o == op) {
            return None;
        }
        let status = if self.error_status == 0 {
            503
        } else {
            self.error_status
        };
        if self.error_burst > 0 {
            self.error_burst -= 1;
            return Some(status);
        }
        if self.error_rate > 0.0 && fastrand::f64() < self.error_rate {
            return Some(status);
        }
        None
    }

    /// Where to cut the next request body, if the request-drop fault is on; counts down.
    pub fn take_request_drop(&mut self) -> Option<u64> {
        if self.drop_request_count > 0 {
            self.drop_request_count -= 1;
            return Some(self.drop_request_after_bytes);
        }
        None
    }

    /// Whether this operation's response is to be lost; counts down.
    pub fn take_lost_response(&mut self, op: &str) -> bool {
        if self.lose_response_count > 0 && self.lose_response_ops.iter().any(|o| o == op) {
            self.lose_response_count -= 1;
            return true;
        }
        false
    }

    /// The body faults for the next GET response, counting each one down.
    pub fn take_body_faults(&mut self, body_len: u64) -> BodyFaults {
        let mut out = BodyFaults {
            bandwidth: self.bandwidth,
            ..BodyFaults::default()
        };
        if self.drop_count > 0 {
            self.drop_count -= 1;
            out.drop_after = Some(self.drop_after_bytes);
        }
        if self.flip_count > 0 && body_len > 0 {
            self.flip_count -= 1;
            let at = self.flip_offset.unwrap_or(body_len / 2).min(body_len - 1);
            out.flip_at = Some(at);
        }
        if self.stall_count > 0 {
            self.stall_count -= 1;
            out.stall = Some((self.stall_after_bytes, self.stall));
        }
        out
    }

    /// The switches as JSON (for `GET /_ossr/faults`).
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "error_rate": self.error_rate,
            "error_burst": self.error_burst,
            "error_ops": self.error_ops,
            "error_status": if self.error_status == 0 { 503 } else { self.error_status },
            "qos_delay_ms": self.qos_delay_ms,
            "drop_after_bytes": self.drop_after_bytes,
            "drop_count": self.drop_count,
            "flip_count": self.flip_count,
            "flip_offset": self.flip_offset,
            "latency_ms": self.latency.as_millis() as u64,
            "bandwidth": self.bandwidth,
            "recv_bandwidth": self.recv_bandwidth,
            "rewrite_key": self.rewrite_key,
            "rewrite_after": self.rewrite_after,
            "rewrite_seen": self.rewrite_seen,
            "stall_after_bytes": self.stall_after_bytes,
            "stall_ms": self.stall.as_millis() as u64,
            "stall_count": self.stall_count,
            "lose_response_ops": self.lose_response_ops,
            "lose_response_count": self.lose_response_count,
            "clock_offset_secs": self.clock_offset_secs,
            "drop_request_after_bytes": self.drop_request_after_bytes,
            "drop_request_count": self.drop_request_count,
            "omit_crc": self.omit_crc,
            "delay_rate": self.delay_rate,
            "delay_ms": self.delay.as_millis() as u64,
            "delay_ops": self.delay_ops,
            "delay_seed": self.delay_seed,
            "delay_after": self.delay_after,
            "socket_buffer": self.socket_buffer,
        })
    }
}

/// Faults that apply to one response body.
#[derive(Debug, Clone, Default)]
pub struct BodyFaults {
    /// Close the connection after this many body bytes.
    pub drop_after: Option<u64>,
    /// Flip the byte at this body offset.
    pub flip_at: Option<u64>,
    /// Pause after this many bytes for this long.
    pub stall: Option<(u64, Duration)>,
    /// Bytes per second (0: unlimited).
    pub bandwidth: u64,
}

impl BodyFaults {
    /// True when the body can be sent by the fast path.
    pub fn is_clean(&self) -> bool {
        self.drop_after.is_none()
            && self.flip_at.is_none()
            && self.stall.is_none()
            && self.bandwidth == 0
    }
}

/// Counters a test can read (`GET /_ossr/stats`).
#[derive(Debug, Clone, Default)]
pub struct Stats {
    /// Requests by operation, then by status.
    pub requests: BTreeMap<String, BTreeMap<u16, u64>>,
    /// Response body bytes written to sockets (GET bodies, including cut ones).
    pub bytes_served: u64,
    /// Request body bytes received (PutObject, UploadPart).
    pub bytes_received: u64,
    /// Object bytes copied on the server (CopyObject, UploadPartCopy): they neither
    /// came from nor went to a client.
    pub bytes_copied: u64,
    /// 206 responses sent.
    pub ranges_served: u64,
    /// Connections accepted: fewer than requests when clients keep theirs alive.
    pub connections_accepted: u64,
    /// Error answers injected by `error_rate` and `error_burst`.
    pub faults_injected: u64,
    /// Every fault that took effect, by kind: `error_<status>`, `drop_after_bytes` (a GET
    /// body cut), `flip_count`, `stall_count`, `lose_response`,
    /// `drop_request_after_bytes`, `delay` (an answer held back).
    pub faults: BTreeMap<String, u64>,
    /// Multipart uploads initiated and neither completed nor aborted (filled on read).
    pub uploads_in_progress: u64,
    /// Bytes sent and received over time, since the counters were last zeroed.
    pub traffic: Traffic,
}

/// Resolution of the traffic timeline.
pub const TRAFFIC_TICK: Duration = Duration::from_millis(10);
/// Length of the traffic timeline: bytes moved later than this after the counters
/// were zeroed are not in it (they are still in `bytes_served`/`bytes_received`).
const TRAFFIC_SPAN: Duration = Duration::from_secs(600);

/// Body bytes the server wrote to and read from sockets, in ticks of
/// [`TRAFFIC_TICK`] since the counters were zeroed: what a client's bandwidth looks
/// like from the server's side. Response bodies are counted as each chunk (at most
/// 1 MiB) is written, request bodies as each read returns.
#[derive(Debug, Clone)]
pub struct Traffic {
    origin: Instant,
    sent: Vec<u64>,
    received: Vec<u64>,
}

impl Default for Traffic {
    fn default() -> Self {
        Traffic {
            origin: Instant::now(),
            sent: Vec::new(),
            received: Vec::new(),
        }
    }
}

impl Traffic {
    fn tick_of(&self, at: Instant) -> Option<usize> {
        let since = at.saturating_duration_since(self.origin);
        (since < TRAFFIC_SPAN).then(|| (since.as_nanos() / TRAFFIC_TICK.as_nanos()) as usize)
    }

    fn add(series: &mut Vec<u64>, tick: usize, n: u64) {
        if series.len() <= tick {
            series.resize(tick + 1, 0);
        }
        series[tick] += n;
    }

    /// Counts `n` response body bytes written now.
    pub fn note_sent(&mut self, n: u64) {
        if let Some(tick) = self.tick_of(Instant::now()) {
            Self::add(&mut self.sent, tick, n);
        }
    }

    /// Counts `n` request body bytes read now.
    pub fn note_received(&mut self, n: u64) {
        if let Some(tick) = self.tick_of(Instant::now()) {
            Self::add(&mut self.received, tick, n);
        }
    }

    /// When the timeline starts (the counters were zeroed).
    pub fn origin(&self) -> Instant {
        self.origin
    }

    /// Bytes sent, per window of `window` (rounded to whole ticks, at least one)
    /// from the origin up to now.
    pub fn sent_per(&self, window: Duration) -> Vec<u64> {
        self.per(&self.sent, window)
    }

    /// Bytes received, per window of `window` from the origin up to now.
    pub fn received_per(&self, window: Duration) -> Vec<u64> {
        self.per(&self.received, window)
    }

    fn per(&self, series: &[u64], window: Duration) -> Vec<u64> {
        let ticks = ((window.as_nanos() / TRAFFIC_TICK.as_nanos()) as usize).max(1);
        let now = self.tick_of(Instant::now()).unwrap_or(series.len());
        let len = now.max(series.len()) + 1;
        (0..len.div_ceil(ticks))
            .map(|w| {
                let from = (w * ticks).min(series.len());
                let to = ((w + 1) * ticks).min(series.len());
                series[from..to].iter().sum()
            })
            .collect()
    }

    /// The timeline as JSON, in windows of `window`.
    pub fn to_json(&self, window: Duration) -> serde_json::Value {
        let ticks = (window.as_nanos() / TRAFFIC_TICK.as_nanos()).max(1) as u64;
        serde_json::json!({
            "window_ms": ticks * TRAFFIC_TICK.as_millis() as u64,
            "sent": self.sent_per(window),
            "received": self.received_per(window),
        })
    }
}

impl Stats {
    /// Counts one request.
    pub fn count(&mut self, op: &str, status: u16) {
        *self
            .requests
            .entry(op.to_string())
            .or_default()
            .entry(status)
            .or_default() += 1;
    }

    /// Counts one fault that took effect.
    pub fn note_fault(&mut self, kind: &str) {
        *self.faults.entry(kind.to_string()).or_default() += 1;
    }

    /// Faults of this kind that took effect.
    pub fn faults_of(&self, kind: &str) -> u64 {
        self.faults.get(kind).copied().unwrap_or(0)
    }

    /// Requests of this operation, any status.
    pub fn requests_of(&self, op: &str) -> u64 {
        self.requests.get(op).map(|m| m.values().sum()).unwrap_or(0)
    }

    /// Requests of this operation with this status.
    pub fn requests_with(&self, op: &str, status: u16) -> u64 {
        self.requests
            .get(op)
            .and_then(|m| m.get(&status))
            .copied()
            .unwrap_or(0)
    }

    /// The counters as JSON.
    pub fn to_json(&self) -> serde_json::Value {
        let requests: serde_json::Map<String, serde_json::Value> = self
            .requests
            .iter()
            .map(|(op, by_status)| {
                let inner: serde_json::Map<String, serde_json::Value> = by_status
                    .iter()
                    .map(|(s, n)| (s.to_string(), serde_json::Value::from(*n)))
                    .collect();
                (op.clone(), serde_json::Value::Object(inner))
            })
            .collect();
        serde_json::json!({
            "requests": requests,
            "bytes_served": self.bytes_served,
            "bytes_received": self.bytes_received,
            "bytes_copied": self.bytes_copied,
            "ranges_served": self.ranges_served,
            "connections_accepted": self.connections_accepted,
            "faults_injected": self.faults_injected,
            "faults": self.faults,
            "uploads_in_progress": self.uploads_in_progress,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_counts_down_and_respects_ops() {
        let mut f = Faults::default();
        f.apply("error_burst", "2").unwrap();
        f.apply("error_ops", "UploadPart").unwrap();
        assert_eq!(f.take_error("GetObject"), None);
        assert_eq!(f.take_error("UploadPart"), Some(503));
        assert_eq!(f.take_error("UploadPart"), Some(503));
        assert_eq!(f.take_error("UploadPart"), None);
    }

    #[test]
    fn unknown_switch_and_bad_values_are_errors() {
        let mut f = Faults::default();
        assert!(f.apply("nonsense", "1").unwrap_err().contains("nonsense"));
        assert!(f.apply("error_rate", "2").is_err());
        assert!(f.apply("drop_count", "x").is_err());
        assert!(f.apply_pair("drop_count").is_err());
    }

    #[test]
    fn body_faults_count_down() {
        let mut f = Faults::default();
        f.apply_pair("drop_after_bytes=10").unwrap();
        f.apply_pair("drop_count=1").unwrap();
        f.apply_pair("flip_count=1").unwrap();
        let first = f.take_body_faults(100);
        assert_eq!(first.drop_after, Some(10));
        assert_eq!(first.flip_at, Some(50));
        assert!(f.take_body_faults(100).is_clean());
    }

    #[test]
    fn delay_picks_the_same_requests_for_the_same_seed_and_only_its_ops() {
        let picks = |f: &mut Faults| {
            (0..200)
                .map(|_| f.take_delay("GetObject").is_some())
                .collect::<Vec<_>>()
        };
        let mut f = Faults::default();
        f.apply_pair("delay_ms=5000").unwrap();
        f.apply_pair("delay_ops=GetObject").unwrap();
        f.apply_pair("delay_seed=42").unwrap();
        f.apply_pair("delay_rate=0.05").unwrap();
        let first = picks(&mut f);
        let delayed = first.iter().filter(|d| **d).count();
        assert!((3..=20).contains(&delayed), "{delayed} of 200 at 1 in 20");
        assert_eq!(f.take_delay("HeadObject"), None, "not among delay_ops");
        f.apply_pair("delay_seed=42").unwrap();
        assert_eq!(picks(&mut f), first, "setting the seed restarts the draw");
        f.apply_pair("delay_seed=43").unwrap();
        assert_ne!(picks(&mut f), first, "another seed picks other requests");
        let held = (0..200).find_map(|_| f.take_delay("GetObject"));
        assert_eq!(held, Some(Duration::from_millis(5000)), "by delay_ms");
        f.apply_pair("delay_rate=1").unwrap();
        f.apply_pair("delay_after=3").unwrap();
        let spared: Vec<bool> = (0..5)
            .map(|_| f.take_delay("GetObject").is_some())
            .collect();
        assert_eq!(
            spared,
            [false, false, false, true, true],
            "the first 3 spared"
        );
        assert_eq!(
            f.take_delay("HeadObject"),
            None,
            "other ops are not counted"
        );
        f.apply_pair("delay_ms=5000").unwrap();
        assert_eq!(
            f.take_delay("GetObject"),
            None,
            "a delay switch restarts the count"
        );
        assert!(f.apply("delay_rate", "1.5").is_err());
        assert!(f.apply("delay_ms", "soon").is_err());
    }

    #[test]
    fn traffic_sums_bytes_into_windows_from_its_origin() {
        let mut t = Traffic {
            origin: Instant::now() - Duration::from_millis(1000),
            ..Traffic::default()
        };
        Traffic::add(&mut t.sent, 0, 5);
        Traffic::add(&mut t.sent, 24, 7);
        Traffic::add(&mut t.sent, 25, 11);
        t.note_received(3);
        let sent = t.sent_per(Duration::from_millis(250));
        assert_eq!(&sent[..2], &[12, 11]);
        assert_eq!(sent.iter().sum::<u64>(), 23);
        assert!(sent.len() >= 4, "windows up to now: {sent:?}");
        let received = t.received_per(Duration::from_millis(250));
        assert_eq!(received.iter().sum::<u64>(), 3);
        assert_eq!(
            received[received.len() - 1],
            3,
            "counted in the latest window"
        );
    }
}
