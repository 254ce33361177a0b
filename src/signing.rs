//! Request signing: OSS signature V1 (HMAC-SHA1) and V4 (`OSS4-HMAC-SHA256`), in
//! headers and in presigned URLs.
//!
//! Pure functions over a [`SignableRequest`] and a time, so the client signs with them
//! and the bundled test server verifies with the same code; the official SDK's interop
//! test is what keeps both honest.

use std::fmt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Digest, Sha256};

/// Access key id, secret and optional STS token. `Debug` shows the id only.
#[derive(Clone)]
pub struct Credentials {
    access_key_id: String,
    access_key_secret: String,
    security_token: Option<String>,
}

impl Credentials {
    /// Credentials from an id, a secret and an optional STS token.
    pub fn new(
        access_key_id: impl Into<String>,
        access_key_secret: impl Into<String>,
        security_token: Option<String>,
    ) -> Credentials {
        Credentials {
            access_key_id: access_key_id.into(),
            access_key_secret: access_key_secret.into(),
            security_token: security_token.filter(|t| !t.is_empty()),
        }
    }

    /// The access key id.
    pub fn access_key_id(&self) -> &str {
        &self.access_key_id
    }

    /// The secret.
    pub fn access_key_secret(&self) -> &str {
        &self.access_key_secret
    }

    /// The STS token, if any.
    pub fn security_token(&self) -> Option<&str> {
        self.security_token.as_deref()
    }
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field(
                "security_token",
                &self.security_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Which algorithm signs requests. V4 carries its region.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Signer {
    /// Signature V1.
    V1,
    /// Signature V4, scoped to a region such as `cn-hangzhou`.
    V4 {
        /// The region.
        region: String,
    },
}

/// A request as the signer sees it.
#[derive(Debug, Clone, Copy)]
pub struct SignableRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Bucket, absent for service requests.
    pub bucket: Option<&'a str>,
    /// The raw (decoded) object key.
    pub key: Option<&'a str>,
    /// Decoded query parameters in order; an empty value is a bare parameter.
    pub query: &'a [(String, String)],
    /// Headers, names in any case.
    pub headers: &'a [(String, String)],
}

impl SignableRequest<'_> {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim())
    }
}

/// Percent-encodes: keeps `A-Za-z0-9-_.~` (and `/` when `keep_slash`), everything else
/// becomes `%XX` (uppercase) over the UTF-8 bytes.
pub fn percent_encode(s: &str, keep_slash: bool) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        let keep = b.is_ascii_alphanumeric()
            || matches!(b, b'-' | b'_' | b'.' | b'~')
            || (keep_slash && b == b'/');
        if keep {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// Signature V1 building blocks.
pub mod v1 {
    use super::*;

    /// Sub-resources that take part in a V1 signature.
    const SIGNED_SUBRESOURCES: &[&str] = &[
        "acl",
        "uploads",
        "uploadId",
        "partNumber",
        "append",
        "position",
        "versionId",
        "versioning",
        "x-oss-process",
        "response-content-type",
        "response-content-language",
        "response-expires",
        "response-cache-control",
        "response-content-disposition",
        "response-content-encoding",
        "security-token",
        "x-oss-traffic-limit",
        "x-oss-request-payer",
        "sequential",
        "continuation-token",
        "tagging",
        "symlink",
        "restore",
        "objectMeta",
        "resourceGroup",
    ];

    /// `/bucket/key` (raw key), `/bucket/` or `/`, then the signed sub-resources
    /// sorted by name.
    pub fn canonical_resource(
        bucket: Option<&str>,
        key: Option<&str>,
        query: &[(String, String)],
    ) -> String {
        let mut out = match (bucket, key) {
            (Some(b), Some(k)) => format!("/{b}/{k}"),
            (Some(b), None) => format!("/{b}/"),
            _ => "/".to_string(),
        };
        let mut signed: Vec<&(String, String)> = query
            .iter()
            .filter(|(k, _)| SIGNED_SUBRESOURCES.contains(&k.as_str()))
            .collect();
        signed.sort_by(|a, b| a.0.cmp(&b.0));
        for (i, (k, v)) in signed.iter().enumerate() {
            out.push(if i == 0 { '?' } else { '&' });
            out.push_str(k);
            if !v.is_empty() {
                out.push('=');
                out.push_str(v);
            }
        }
        out
    }

    /// The DATE line of a header-signed request: `x-oss-date` if present, else `Date`.
    pub fn date_line<'a>(req: &SignableRequest<'a>) -> Option<&'a str> {
        let find = |name: &str| {
            req.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.trim())
        };
        find("x-oss-date").or_else(|| find("date"))
    }

    /// The V1 StringToSign.
    pub fn string_to_sign(req: &SignableRequest<'_>, date_line: &str) -> String {
        let mut oss_headers: Vec<(String, &str)> = req
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.trim()))
            .filter(|(n, _)| n.starts_with("x-oss-"))
            .collect();
        oss_headers.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = String::new();
        out.push_str(req.method);
        out.push('\n');
        out.push_str(req.header("content-md5").unwrap_or(""));
        out.push('\n');
        out.push_str(req.header("content-type").unwrap_or(""));
        out.push('\n');
        out.push_str(date_line);
        out.push('\n');
        for (n, v) in oss_headers {
            out.push_str(&n);
            out.push(':');
            out.push_str(v);
            out.push('\n');
        }
        out.push_str(&canonical_resource(req.bucket, req.key, req.query));
        out
    }

    /// base64(HMAC-SHA1(secret, string_to_sign)).
    pub fn signature(secret: &str, string_to_sign: &str) -> String {
        // HMAC takes a key of any length.
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(secret.as_bytes())
            .expect("hmac accepts any key length");
        mac.update(string_to_sign.as_bytes());
        base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
    }
}

/// Signature V4 building blocks.
pub mod v4 {
    use super::*;

    /// The CanonicalRequest. `additional_headers` are lower-case names.
    pub fn canonical_request(req: &SignableRequest<'_>, additional_headers: &[String]) -> String {
        let uri = match (req.bucket, req.key) {
            (Some(b), Some(k)) => format!("/{b}/{k}"),
            (Some(b), None) => format!("/{b}/"),
            _ => "/".to_string(),
        };
        let mut query: Vec<(String, String)> = req
            .query
            .iter()
            .map(|(k, v)| (percent_encode(k, false), percent_encode(v, false)))
            .collect();
        query.sort();
        let query = query
            .iter()
            .map(|(k, v)| {
                if v.is_empty() {
                    k.clone()
                } else {
                    format!("{k}={v}")
                }
            })
            .collect::<Vec<_>>()
            .join("&");
        let additional = sorted_lower(additional_headers);
        let mut headers: Vec<(String, &str)> = req
            .headers
            .iter()
            .map(|(n, v)| (n.to_ascii_lowercase(), v.trim()))
            .filter(|(n, _)| {
                n.starts_with("x-oss-")
                    || n == "content-type"
                    || n == "content-md5"
                    || additional.contains(n)
            })
            .collect();
        headers.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out = String::new();
        out.push_str(req.method);
        out.push('\n');
        out.push_str(&percent_encode(&uri, true));
        out.push('\n');
        out.push_str(&query);
        out.push('\n');
        for (n, v) in &headers {
            out.push_str(n);
            out.push(':');
            out.push_str(v);
            out.push('\n');
        }
        out.push('\n');
        out.push_str(&additional.join(";"));
        out.push('\n');
        out.push_str(
            req.header("x-oss-content-sha256")
                .unwrap_or("UNSIGNED-PAYLOAD"),
        );
        out
    }

    pub(super) fn sorted_lower(names: &[String]) -> Vec<String> {
        let mut out: Vec<String> = names
            .iter()
            .map(|n| n.trim().to_ascii_lowercase())
            .collect();
        out.sort();
        out.dedup();
        out
    }

    /// The V4 StringToSign.
    pub fn string_to_sign(canonical_request: &str, datetime: &str, region: &str) -> String {
        let date = datetime.get(..8).unwrap_or(datetime);
        let hash = Sha256::digest(canonical_request.as_bytes());
        format!(
            "OSS4-HMAC-SHA256\n{datetime}\n{date}/{region}/oss/aliyun_v4_request\n{}",
            hex(&hash)
        )
    }

    fn hmac(key: &[u8], data: &[u8]) -> [u8; 32] {
        // HMAC takes a key of any length.
        let mut mac =
            <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("hmac accepts any key length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// The signing key for a date (`YYYYMMDD`) and region.
    pub fn signing_key(secret: &str, date: &str, region: &str) -> [u8; 32] {
        let k = hmac(format!("aliyun_v4{secret}").as_bytes(), date.as_bytes());
        let k = hmac(&k, region.as_bytes());
        let k = hmac(&k, b"oss");
        hmac(&k, b"aliyun_v4_request")
    }

    /// Lowercase hex of HMAC-SHA256(signing key, string to sign).
    pub fn signature(signing_key: &[u8; 32], string_to_sign: &str) -> String {
        hex(&hmac(signing_key, string_to_sign.as_bytes()))
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Days since 1970-01-01 to (year, month, day), proleptic Gregorian.
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let y = yoe + era * 400 + i64::from(m <= 2);
    (y, m, d)
}

/// (year, month, day) to days since 1970-01-01.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(m);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(d) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `YYYYMMDDTHHMMSSZ` (UTC).
pub fn format_v4_datetime(t: SystemTime) -> String {
    let secs = t
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0) as i64;
    let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
    let rem = secs.rem_euclid(86_400);
    format!(
        "{y:04}{m:02}{d:02}T{:02}{:02}{:02}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

/// Parses `YYYYMMDDTHHMMSSZ`.
pub fn parse_v4_datetime(s: &str) -> Option<SystemTime> {
    let b = s.as_bytes();
    if b.len() != 16 || b[8] != b'T' || b[15] != b'Z' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = s.get(r)?;
        part.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| part.parse().ok())?
    };
    let (y, mo, d) = (num(0..4)?, num(4..6)?, num(6..8)?);
    let (h, mi, se) = (num(9..11)?, num(11..13)?, num(13..15)?);
    if !(1..=12).contains(&mo) || d == 0 || d > 31 || h > 23 || mi > 59 || se > 60 {
        return None;
    }
    let days = days_from_civil(i64::from(y), mo, d);
    if civil_from_days(days) != (i64::from(y), mo, d) {
        return None;
    }
    let secs = days * 86_400 + i64::from(h * 3600 + mi * 60 + se);
    u64::try_from(secs)
        .ok()
        .map(|s| UNIX_EPOCH + Duration::from_secs(s))
}

fn set_header(headers: &mut Vec<(String, String)>, name: &str, value: String) {
    headers.retain(|(n, _)| !n.eq_ignore_ascii_case(name));
    headers.push((name.to_string(), value));
}

fn has_header(headers: &[(String, String)], name: &str) -> bool {
    headers.iter().any(|(n, _)| n.eq_ignore_ascii_case(name))
}

/// Signs a request in place for sending. V1 adds `Date`; V4 adds `x-oss-date` and
/// `x-oss-content-sha256: UNSIGNED-PAYLOAD` (unless present). Both add
/// `x-oss-security-token` when there is a token, then `Authorization`.
/// `additional_headers` (V4 only) are signed and listed in AdditionalHeaders.
#[allow(clippy::too_many_arguments)]
pub fn sign_headers(
    signer: &Signer,
    creds: &Credentials,
    now: SystemTime,
    method: &str,
    bucket: Option<&str>,
    key: Option<&str>,
    query: &[(String, String)],
    headers: &mut Vec<(String, String)>,
    additional_headers: &[String],
) {
    if let Some(token) = creds.security_token() {
        set_header(headers, "x-oss-security-token", token.to_string());
    }
    match signer {
        Signer::V1 => {
            if !has_header(headers, "date") {
                headers.push(("Date".to_string(), httpdate::fmt_http_date(now)));
            }
            let req = SignableRequest {
                method,
                bucket,
                key,
                query,
                headers,
            };
            let date = v1::date_line(&req).unwrap_or("").to_string();
            let sig = v1::signature(creds.access_key_secret(), &v1::string_to_sign(&req, &date));
            set_header(
                headers,
                "Authorization",
                format!("OSS {}:{sig}", creds.access_key_id()),
            );
        }
        Signer::V4 { region } => {
            let datetime = format_v4_datetime(now);
            set_header(headers, "x-oss-date", datetime.clone());
            if !has_header(headers, "x-oss-content-sha256") {
                headers.push((
                    "x-oss-content-sha256".to_string(),
                    "UNSIGNED-PAYLOAD".to_string(),
                ));
            }
            let additional = v4::sorted_lower(additional_headers);
            let req = SignableRequest {
                method,
                bucket,
                key,
                query,
                headers,
            };
            let canonical = v4::canonical_request(&req, &additional);
            let date = &datetime[..8];
            let sts = v4::string_to_sign(&canonical, &datetime, region);
            let sig = v4::signature(
                &v4::signing_key(creds.access_key_secret(), date, region),
                &sts,
            );
            let mut auth = format!(
                "OSS4-HMAC-SHA256 Credential={}/{date}/{region}/oss/aliyun_v4_request",
                creds.access_key_id()
            );
            if !additional.is_empty() {
                auth.push_str(&format!(",AdditionalHeaders={}", additional.join(";")));
            }
            auth.push_str(&format!(",Signature={sig}"));
            set_header(headers, "Authorization", auth);
        }
    }
}

/// Appends the query parameters of a presigned URL to `query`, values decoded (the URL
/// builder encodes them). V1: `OSSAccessKeyId`, `Expires` (epoch of now + expires),
/// `Signature`, and `security-token`. V4: `x-oss-signature-version`,
/// `x-oss-credential`, `x-oss-date`, `x-oss-expires`, optional
/// `x-oss-additional-headers` and `x-oss-security-token`, then `x-oss-signature`.
#[allow(clippy::too_many_arguments)]
pub fn presign_query(
    signer: &Signer,
    creds: &Credentials,
    now: SystemTime,
    expires: Duration,
    method: &str,
    bucket: Option<&str>,
    key: Option<&str>,
    query: &mut Vec<(String, String)>,
    headers: &[(String, String)],
    additional_headers: &[String],
) {
    match signer {
        Signer::V1 => {
            if let Some(token) = creds.security_token() {
                query.push(("security-token".to_string(), token.to_string()));
            }
            let expires_at = (now + expires)
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0)
                .to_string();
            let req = SignableRequest {
                method,
                bucket,
                key,
                query,
                headers,
            };
            let sig = v1::signature(
                creds.access_key_secret(),
                &v1::string_to_sign(&req, &expires_at),
            );
            query.push((
                "OSSAccessKeyId".to_string(),
                creds.access_key_id().to_string(),
            ));
            query.push(("Expires".to_string(), expires_at));
            query.push(("Signature".to_string(), sig));
        }
        Signer::V4 { region } => {
            let datetime = format_v4_datetime(now);
            let date = datetime[..8].to_string();
            let additional = v4::sorted_lower(additional_headers);
            query.push((
                "x-oss-signature-version".to_string(),
                "OSS4-HMAC-SHA256".to_string(),
            ));
            query.push((
                "x-oss-credential".to_string(),
                format!(
                    "{}/{date}/{region}/oss/aliyun_v4_request",
                    creds.access_key_id()
                ),
            ));
            query.push(("x-oss-date".to_string(), datetime.clone()));
            query.push(("x-oss-expires".to_string(), expires.as_secs().to_string()));
            if !additional.is_empty() {
                query.push(("x-oss-additional-headers".to_string(), additional.join(";")));
            }
            if let Some(token) = creds.security_token() {
                query.push(("x-oss-security-token".to_string(), token.to_string()));
            }
            let req = SignableRequest {
                method,
                bucket,
                key,
                query,
                headers,
            };
            let canonical = v4::canonical_request(&req, &additional);
            let sts = v4::string_to_sign(&canonical, &datetime, region);
            let sig = v4::signature(
                &v4::signing_key(creds.access_key_secret(), &date, region),
                &sts,
            );
            query.push(("x-oss-signature".to_string(), sig));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    }

    fn at(epoch: u64) -> SystemTime {
        UNIX_EPOCH + Duration::from_secs(epoch)
    }

    fn creds(token: Option<&str>) -> Credentials {
        Credentials::new("ak", "sk", token.map(str::to_string))
    }

    fn v1_put_headers() -> Vec<(String, String)> {
        pairs(&[
            ("Content-MD5", "eB5eJF1ptWaXm4bijSPyxw=="),
            ("Content-Type", "text/html"),
            ("x-oss-meta-author", "alice"),
            ("x-oss-meta-magic", "abracadabra"),
            ("x-oss-date", "Wed, 28 Dec 2022 10:27:41 GMT"),
        ])
    }

    fn v1_auth(
        bucket: Option<&str>,
        key: Option<&str>,
        query: &[(String, String)],
        mut headers: Vec<(String, String)>,
        method: &str,
    ) -> String {
        sign_headers(
            &Signer::V1,
            &creds(None),
            at(1_672_223_261),
            method,
            bucket,
            key,
            query,
            &mut headers,
            &[],
        );
        headers
            .iter()
            .find(|(n, _)| n == "Authorization")
            .unwrap()
            .1
            .clone()
    }

    #[test]
    fn v1_vector_1_put_with_headers() {
        let headers = v1_put_headers();
        let req = SignableRequest {
            method: "PUT",
            bucket: Some("examplebucket"),
            key: Some("nelson"),
            query: &[],
            headers: &headers,
        };
        assert_eq!(
            v1::string_to_sign(&req, v1::date_line(&req).unwrap()),
            "PUT\neB5eJF1ptWaXm4bijSPyxw==\ntext/html\nWed, 28 Dec 2022 10:27:41 GMT\nx-oss-date:Wed, 28 Dec 2022 10:27:41 GMT\nx-oss-meta-author:alice\nx-oss-meta-magic:abracadabra\n/examplebucket/nelson"
        );
        assert_eq!(
            v1_auth(Some("examplebucket"), Some("nelson"), &[], headers, "PUT"),
            "OSS ak:kSHKmLxlyEAKtZPkJhG9bZb5k7M="
        );
    }

    #[test]
    fn v1_vector_2_acl_subresource() {
        let q = pairs(&[("acl", "")]);
        assert_eq!(
            v1_auth(
                Some("examplebucket"),
                Some("nelson"),
                &q,
                v1_put_headers(),
                "PUT"
            ),
            "OSS ak:/afkugFbmWDQ967j1vr6zygBLQk="
        );
    }

    #[test]
    fn v1_vectors_3_and_4_only_signed_subresources_sorted() {
        let headers = pairs(&[("x-oss-date", "Wed, 28 Dec 2022 10:27:41 GMT")]);
        let q = pairs(&[("resourceGroup", ""), ("non-resousce", "null")]);
        let req = SignableRequest {
            method: "GET",
            bucket: Some("examplebucket"),
            key: None,
            query: &q,
            headers: &headers,
        };
        assert_eq!(
            v1::string_to_sign(&req, "Wed, 28 Dec 2022 10:27:41 GMT"),
            "GET\n\n\nWed, 28 Dec 2022 10:27:41 GMT\nx-oss-date:Wed, 28 Dec 2022 10:27:41 GMT\n/examplebucket/?resourceGroup"
        );
        assert_eq!(
            v1_auth(Some("examplebucket"), None, &q, headers.clone(), "GET"),
            "OSS ak:vkQmfuUDyi1uDi3bKt67oemssIs="
        );
        let q = pairs(&[("resourceGroup", ""), ("acl", "")]);
        assert_eq!(
            v1::canonical_resource(Some("examplebucket"), None, &q),
            "/examplebucket/?acl&resourceGroup"
        );
        assert_eq!(
            v1_auth(Some("examplebucket"), None, &q, headers, "GET"),
            "OSS ak:x3E5TgOvl/i7PN618s5mEvpJDYk="
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn presigned(
        signer: &Signer,
        c: &Credentials,
        now: u64,
        expires: u64,
        key: &str,
        query: &[(&str, &str)],
        headers: &[(String, String)],
        additional: &[String],
        method: &str,
    ) -> Vec<(String, String)> {
        let mut q = pairs(query);
        presign_query(
            signer,
            c,
            at(now),
            Duration::from_secs(expires),
            method,
            Some("bucket"),
            Some(key),
            &mut q,
            headers,
            additional,
        );
        q
    }

    fn value<'a>(q: &'a [(String, String)], name: &str) -> &'a str {
        &q.iter().find(|(k, _)| k == name).unwrap().1
    }

    #[test]
    fn v1_vector_5_presign() {
        let q = presigned(
            &Signer::V1,
            &creds(None),
            1_699_807_420 - 60,
            60,
            "key",
            &[("versionId", "versionId")],
            &[],
            &[],
            "GET",
        );
        assert_eq!(value(&q, "Expires"), "1699807420");
        assert_eq!(
            percent_encode(value(&q, "Signature"), false),
            "dcLTea%2BYh9ApirQ8o8dOPqtvJXQ%3D"
        );
        assert_eq!(value(&q, "OSSAccessKeyId"), "ak");
    }

    #[test]
    fn v1_vector_6_presign_with_token() {
        let q = presigned(
            &Signer::V1,
            &creds(Some("token")),
            1_699_808_204 - 60,
            60,
            "key+123",
            &[("versionId", "versionId")],
            &[],
            &[],
            "GET",
        );
        assert_eq!(value(&q, "security-token"), "token");
        assert_eq!(
            percent_encode(value(&q, "Signature"), false),
            "jzKYRrM5y6Br0dRFPaTGOsbrDhY%3D"
        );
    }

    fn v4_query() -> Vec<(String, String)> {
        pairs(&[
            ("param1", "value1"),
            ("+param1", "value3"),
            ("|param1", "value4"),
            ("+param2", ""),
            ("|param2", ""),
            ("param2", ""),
        ])
    }

    fn v4_headers(content_type: &str, sha: bool) -> Vec<(String, String)> {
        let mut h = pairs(&[
            ("x-oss-head1", "value"),
            ("abc", "value"),
            ("ZAbc", "value"),
            ("XYZ", "value"),
            ("content-type", content_type),
        ]);
        if sha {
            h.push(("x-oss-content-sha256".into(), "UNSIGNED-PAYLOAD".into()));
        }
        h
    }

    fn v4_signature(
        c: &Credentials,
        epoch: u64,
        additional: &[String],
    ) -> (String, Vec<(String, String)>) {
        let mut headers = v4_headers("text/plain", true);
        let signer = Signer::V4 {
            region: "cn-hangzhou".into(),
        };
        sign_headers(
            &signer,
            c,
            at(epoch),
            "PUT",
            Some("bucket"),
            Some("1234+-/123/1.txt"),
            &v4_query(),
            &mut headers,
            additional,
        );
        let auth = headers
            .iter()
            .find(|(n, _)| n == "Authorization")
            .unwrap()
            .1
            .clone();
        let signature = auth.rsplit_once("Signature=").unwrap().1.to_string();
        (signature, headers)
    }

    #[test]
    fn v4_vector_1_header_signature() {
        let (sig, headers) = v4_signature(&creds(None), 1_702_743_657, &[]);
        let q = v4_query();
        let req = SignableRequest {
            method: "PUT",
            bucket: Some("bucket"),
            key: Some("1234+-/123/1.txt"),
            query: &q,
            headers: &headers,
        };
        let canonical = v4::canonical_request(&req, &[]);
        assert_eq!(
            canonical,
            "PUT\n/bucket/1234%2B-/123/1.txt\n%2Bparam1=value3&%2Bparam2&%7Cparam1=value4&%7Cparam2&param1=value1&param2\ncontent-type:text/plain\nx-oss-content-sha256:UNSIGNED-PAYLOAD\nx-oss-date:20231216T162057Z\nx-oss-head1:value\n\n\nUNSIGNED-PAYLOAD"
        );
        assert_eq!(
            hex(&Sha256::digest(canonical.as_bytes())),
            "f4613657f1b108998e8dbd10a1aa5da621dc2c6e02c9ddec0f163664848704c4"
        );
        assert_eq!(
            hex(&v4::signing_key("sk", "20231216", "cn-hangzhou")),
            "b412a03b134ebddd720f5167b5de6db66620ebb3b01cff4d49e3ccb09f8de97f"
        );
        assert_eq!(
            sig,
            "e21d18daa82167720f9b1047ae7e7f1ce7cb77a31e8203a7d5f4624fa0284afe"
        );
    }

    #[test]
    fn v4_vector_2_with_sts_token() {
        let (sig, headers) = v4_signature(&creds(Some("token")), 1_702_784_856, &[]);
        assert!(headers.contains(&("x-oss-security-token".into(), "token".into())));
        assert_eq!(
            sig,
            "b94a3f999cf85bcdc00d332fbd3734ba03e48382c36fa4d5af5df817395bd9ea"
        );
    }

    #[test]
    fn v4_vector_3_with_additional_headers() {
        let additional = vec!["ZAbc".to_string(), "abc".to_string()];
        let (sig, headers) = v4_signature(&creds(None), 1_702_747_512, &additional);
        let auth = &headers
            .iter()
            .find(|(n, _)| n == "Authorization")
            .unwrap()
            .1;
        assert!(auth.contains("AdditionalHeaders=abc;zabc"), "{auth}");
        assert_eq!(
            sig,
            "4a4183c187c07c8947db7620deb0a6b38d9fbdd34187b6dbaccb316fa251212f"
        );
    }

    #[test]
    fn v4_vector_4_presigned_urls() {
        let signer = Signer::V4 {
            region: "cn-hangzhou".into(),
        };
        let q_pairs: Vec<(&str, &str)> = vec![
            ("param1", "value1"),
            ("+param1", "value3"),
            ("|param1", "value4"),
            ("+param2", ""),
            ("|param2", ""),
            ("param2", ""),
        ];
        let headers = v4_headers("application/octet-stream", false);
        let key = "1234+-/123/1.txt";
        let q = presigned(
            &signer,
            &creds(None),
            1_702_781_677,
            599,
            key,
            &q_pairs,
            &headers,
            &[],
            "PUT",
        );
        assert_eq!(
            value(&q, "x-oss-credential"),
            "ak/20231217/cn-hangzhou/oss/aliyun_v4_request"
        );
        assert_eq!(value(&q, "x-oss-date"), "20231217T025437Z");
        assert_eq!(
            value(&q, "x-oss-signature"),
            "a39966c61718be0d5b14e668088b3fa07601033f6518ac7b523100014269c0fe"
        );
        let unsigned: Vec<(String, String)> = q
            .iter()
            .filter(|(k, _)| k != "x-oss-signature")
            .cloned()
            .collect();
        let req = SignableRequest {
            method: "PUT",
            bucket: Some("bucket"),
            key: Some(key),
            query: &unsigned,
            headers: &headers,
        };
        assert!(v4::canonical_request(&req, &[]).contains("&x-oss-credential=ak%2F20231217%2Fcn-hangzhou%2Foss%2Faliyun_v4_request&x-oss-date=20231217T025437Z&x-oss-expires=599&x-oss-signature-version=OSS4-HMAC-SHA256\n"));

        let q = presigned(
            &signer,
            &creds(Some("token")),
            1_702_785_388,
            599,
            key,
            &q_pairs,
            &headers,
            &[],
            "PUT",
        );
        assert_eq!(
            value(&q, "x-oss-signature"),
            "3817ac9d206cd6dfc90f1c09c00be45005602e55898f26f5ddb06d7892e1f8b5"
        );

        let additional = vec!["ZAbc".to_string(), "abc".to_string()];
        let q = presigned(
            &signer,
            &creds(None),
            1_702_783_809,
            599,
            key,
            &q_pairs,
            &headers,
            &additional,
            "PUT",
        );
        assert_eq!(value(&q, "x-oss-additional-headers"), "abc;zabc");
        assert_eq!(
            percent_encode(value(&q, "x-oss-additional-headers"), false),
            "abc%3Bzabc"
        );
        assert_eq!(
            value(&q, "x-oss-signature"),
            "6bd984bfe531afb6db1f7550983a741b103a8c58e5e14f83ea474c2322dfa2b7"
        );
    }

    #[test]
    fn key_encoding_example() {
        assert_eq!(
            percent_encode("a/b c+d~e!*'()中.txt", false),
            "a%2Fb%20c%2Bd~e%21%2A%27%28%29%E4%B8%AD.txt"
        );
    }

    #[test]
    fn debug_redacts_secret_and_token() {
        let text = format!(
            "{:?}",
            Credentials::new("the-id", "the-secret", Some("the-token".into()))
        );
        assert!(text.contains("the-id"));
        assert!(
            !text.contains("the-secret") && !text.contains("the-token"),
            "{text}"
        );
    }

    #[test]
    fn v4_datetime_round_trips() {
        assert_eq!(format_v4_datetime(at(1_702_743_657)), "20231216T162057Z");
        assert_eq!(
            parse_v4_datetime("20231216T162057Z"),
            Some(at(1_702_743_657))
        );
        for epoch in [0u64, 951_782_400, 951_868_799, 1_709_164_800, 4_107_542_399] {
            let t = at(epoch);
            assert_eq!(
                parse_v4_datetime(&format_v4_datetime(t)),
                Some(t),
                "{epoch}"
            );
        }
        assert_eq!(format_v4_datetime(at(951_782_400)), "20000229T000000Z");
        assert_eq!(parse_v4_datetime("20230229T000000Z"), None);
        assert_eq!(parse_v4_datetime("2023-12-16T16:20:57Z"), None);
    }
}
