//! Strict request authentication: V1 and V4 headers, V1 and V4 presigned URLs, STS
//! tokens and the clock-skew window. The signatures are recomputed with the library's
//! own signing code, which the official SDK's interop test keeps honest.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use oss_resume::server_auth::{parse_v1_authorization, parse_v4_authorization};
use oss_resume::signing::{self, SignableRequest, v1, v4};

use crate::error::OssError;
use crate::http::RequestHead;

/// How far a request's date may be from the server's clock.
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The one account this server knows.
#[derive(Clone)]
pub struct Account {
    pub access_key_id: String,
    pub access_key_secret: String,
    pub sts_token: Option<String>,
    pub region: String,
}

impl std::fmt::Debug for Account {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Account")
            .field("access_key_id", &self.access_key_id)
            .field("access_key_secret", &"<redacted>")
            .field("sts_token", &self.sts_token.as_ref().map(|_| "<redacted>"))
            .field("region", &self.region)
            .finish()
    }
}

/// A request as authentication sees it.
pub struct Incoming<'a> {
    pub head: &'a RequestHead,
    pub bucket: Option<&'a str>,
    pub key: Option<&'a str>,
    pub query: &'a [(String, String)],
    /// The server's clock (fault offset included).
    pub now: SystemTime,
}

fn query_value<'a>(query: &'a [(String, String)], name: &str) -> Option<&'a str> {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

fn check_skew(now: SystemTime, date: SystemTime) -> Result<(), OssError> {
    let off = now.duration_since(date).unwrap_or_else(|e| e.duration());
    if off > MAX_SKEW {
        return Err(OssError::new(
            403,
            "RequestTimeTooSkewed",
            "The difference between the request time and the current time is too large.",
        )
        .with("RequestTime", &httpdate::fmt_http_date(date))
        .with("ServerTime", &httpdate::fmt_http_date(now)));
    }
    Ok(())
}

fn check_token(account: &Account, token: Option<&str>) -> Result<(), OssError> {
    if account.sts_token.as_deref() != token {
        return Err(OssError::new(
            403,
            "InvalidSecurityToken",
            "The security token you provided is missing, unexpected or does not match.",
        ));
    }
    Ok(())
}

fn check_key_id(account: &Account, id: &str) -> Result<(), OssError> {
    if id != account.access_key_id {
        return Err(OssError::new(
            403,
            "InvalidAccessKeyId",
            "The OSS Access Key Id you provided does not exist in our records.",
        )
        .with("OSSAccessKeyId", id));
    }
    Ok(())
}

fn mismatch(string_to_sign: &str) -> OssError {
    OssError::new(
        403,
        "SignatureDoesNotMatch",
        "The request signature we calculated does not match the signature you provided. Check your key and signing method.",
    )
    .with("StringToSign", string_to_sign)
}

/// Verifies the request's signature. Errors are the ones OSS answers with.
pub fn authenticate(account: &Account, req: &Incoming<'_>) -> Result<(), OssError> {
    let head = req.head;
    if let Some(auth) = head.header("authorization") {
        if auth.starts_with("OSS4-HMAC-SHA256") {
            return verify_v4_header(account, req, auth);
        }
        if auth.starts_with("OSS ") {
            return verify_v1_header(account, req, auth);
        }
        return Err(OssError::invalid_argument(
            "Authorization header is neither OSS nor OSS4-HMAC-SHA256",
        ));
    }
    if query_value(req.query, "x-oss-signature-version").is_some() {
        return verify_v4_presigned(account, req);
    }
    if query_value(req.query, "Signature").is_some()
        || query_value(req.query, "OSSAccessKeyId").is_some()
    {
        return verify_v1_presigned(account, req);
    }
    Err(OssError::access_denied(
        "You have no right to access this object because the request carries no signature.",
    ))
}

fn signable<'a>(req: &'a Incoming<'a>, query: &'a [(String, String)]) -> SignableRequest<'a> {
    SignableRequest {
        method: &req.head.method,
        bucket: req.bucket,
        key: req.key,
        query,
        headers: &req.head.headers,
    }
}

fn verify_v1_header(account: &Account, req: &Incoming<'_>, auth: &str) -> Result<(), OssError> {
    let (id, signature) = parse_v1_authorization(auth)
        .ok_or_else(|| OssError::invalid_argument("malformed OSS Authorization header"))?;
    check_key_id(account, &id)?;
    check_token(account, req.head.header("x-oss-security-token"))?;
    let date_line = req
        .head
        .header("x-oss-date")
        .or_else(|| req.head.header("date"))
        .ok_or_else(|| OssError::access_denied("the request has neither Date nor x-oss-date"))?;
    let date = httpdate::parse_http_date(date_line).map_err(|_| {
        OssError::access_denied(&format!(
            "the request date {date_line:?} is not an HTTP date"
        ))
    })?;
    check_skew(req.now, date)?;
    let string_to_sign = v1::string_to_sign(&signable(req, req.query), date_line);
    if v1::signature(&account.access_key_secret, &string_to_sign) != signature {
        return Err(mismatch(&string_to_sign));
    }
    Ok(())
}

fn verify_v1_presigned(account: &Account, req: &Incoming<'_>) -> Result<(), OssError> {
    let missing = |name: &str| {
        OssError::access_denied(&format!("the presigned URL lacks its {name} parameter"))
    };
    let id = query_value(req.query, "OSSAccessKeyId").ok_or_else(|| missing("OSSAccessKeyId"))?;
    let expires_text = query_value(req.query, "Expires").ok_or_else(|| missing("Expires"))?;
    let signature = query_value(req.query, "Signature").ok_or_else(|| missing("Signature"))?;
    check_key_id(account, id)?;
    check_token(account, query_value(req.query, "security-token"))?;
    let expires: u64 = expires_text
        .parse()
        .map_err(|_| OssError::access_denied("the presigned URL's Expires is not a number"))?;
    if UNIX_EPOCH + Duration::from_secs(expires) < req.now {
        return Err(OssError::access_denied("Request has expired.").with("Expires", expires_text));
    }
    let query: Vec<(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| !matches!(k.as_str(), "OSSAccessKeyId" | "Expires" | "Signature"))
        .cloned()
        .collect();
    let string_to_sign = v1::string_to_sign(&signable(req, &query), expires_text);
    if v1::signature(&account.access_key_secret, &string_to_sign) != signature {
        return Err(mismatch(&string_to_sign));
    }
    Ok(())
}

fn check_scope(account: &Account, region: &str) -> Result<(), OssError> {
    if region != account.region {
        return Err(OssError::invalid_argument(&format!(
            "Invalid signing region in Authorization header: {region:?}, this server is {:?}.",
            account.region
        )));
    }
    Ok(())
}

fn parse_datetime(text: Option<&str>) -> Result<(String, SystemTime), OssError> {
    let text = text.ok_or_else(|| OssError::access_denied("the request lacks x-oss-date"))?;
    let time = signing::parse_v4_datetime(text).ok_or_else(|| {
        OssError::access_denied(&format!("x-oss-date {text:?} is not YYYYMMDDTHHMMSSZ"))
    })?;
    Ok((text.to_string(), time))
}

fn verify_v4_header(account: &Account, req: &Incoming<'_>, auth: &str) -> Result<(), OssError> {
    let parsed = parse_v4_authorization(auth).ok_or_else(|| {
        OssError::invalid_argument("malformed OSS4-HMAC-SHA256 Authorization header")
    })?;
    check_key_id(account, &parsed.access_key_id)?;
    check_scope(account, &parsed.region)?;
    check_token(account, req.head.header("x-oss-security-token"))?;
    let (datetime, time) = parse_datetime(req.head.header("x-oss-date"))?;
    if !datetime.starts_with(&parsed.date) {
        return Err(OssError::access_denied(
            "the credential's date differs from x-oss-date",
        ));
    }
    check_skew(req.now, time)?;
    let canonical = v4::canonical_request(&signable(req, req.query), &parsed.additional_headers);
    let string_to_sign = v4::string_to_sign(&canonical, &datetime, &parsed.region);
    let key = v4::signing_key(&account.access_key_secret, &parsed.date, &parsed.region);
    if v4::signature(&key, &string_to_sign) != parsed.signature {
        return Err(mismatch(&string_to_sign).with("CanonicalRequest", &canonical));
    }
    Ok(())
}

fn verify_v4_presigned(account: &Account, req: &Incoming<'_>) -> Result<(), OssError> {
    let missing = |name: &str| {
        OssError::access_denied(&format!("the presigned URL lacks its {name} parameter"))
    };
    let version = query_value(req.query, "x-oss-signature-version").unwrap_or("");
    if version != "OSS4-HMAC-SHA256" {
        return Err(OssError::invalid_argument(&format!(
            "unsupported x-oss-signature-version {version:?}"
        )));
    }
    let credential =
        query_value(req.query, "x-oss-credential").ok_or_else(|| missing("x-oss-credential"))?;
    let signature =
        query_value(req.query, "x-oss-signature").ok_or_else(|| missing("x-oss-signature"))?;
    let expires: u64 = query_value(req.query, "x-oss-expires")
        .ok_or_else(|| missing("x-oss-expires"))?
        .parse()
        .map_err(|_| OssError::access_denied("x-oss-expires is not a number"))?;
    let mut scope = credential.split('/');
    let (id, date, region) = match (scope.next(), scope.next(), scope.next()) {
        (Some(id), Some(date), Some(region)) => (id, date, region),
        _ => return Err(OssError::access_denied("malformed x-oss-credential")),
    };
    check_key_id(account, id)?;
    check_scope(account, region)?;
    check_token(account, query_value(req.query, "x-oss-security-token"))?;
    let (datetime, time) = parse_datetime(query_value(req.query, "x-oss-date"))?;
    if !datetime.starts_with(date) {
        return Err(OssError::access_denied(
            "the credential's date differs from x-oss-date",
        ));
    }
    if time + Duration::from_secs(expires) < req.now {
        return Err(OssError::access_denied("Request has expired."));
    }
    if time > req.now + MAX_SKEW {
        check_skew(req.now, time)?;
    }
    let additional: Vec<String> = query_value(req.query, "x-oss-additional-headers")
        .map(|v| {
            v.split(';')
                .filter(|s| !s.is_empty())
                .map(|s| s.to_ascii_lowercase())
                .collect()
        })
        .unwrap_or_default();
    let query: Vec<(String, String)> = req
        .query
        .iter()
        .filter(|(k, _)| k != "x-oss-signature")
        .cloned()
        .collect();
    let canonical = v4::canonical_request(&signable(req, &query), &additional);
    let string_to_sign = v4::string_to_sign(&canonical, &datetime, region);
    let key = v4::signing_key(&account.access_key_secret, date, region);
    if v4::signature(&key, &string_to_sign) != signature {
        return Err(mismatch(&string_to_sign).with("CanonicalRequest", &canonical));
    }
    Ok(())
}
