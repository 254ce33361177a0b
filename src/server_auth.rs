//! Parsing of `Authorization` headers, for the local OSS server in `server/` (which
//! checks what the client signed). Not part of the library's API: hidden from the
//! docs, and free to change.

/// The parts of a V4 `Authorization` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V4Authorization {
    /// Access key id from the credential scope.
    pub access_key_id: String,
    /// `YYYYMMDD` from the credential scope.
    pub date: String,
    /// Region from the credential scope.
    pub region: String,
    /// AdditionalHeaders, lower-case.
    pub additional_headers: Vec<String>,
    /// Hex signature.
    pub signature: String,
}

/// Parses `OSS4-HMAC-SHA256 Credential=..,AdditionalHeaders=..,Signature=..` (parts
/// separated by `,` or `, `).
pub fn parse_v4_authorization(value: &str) -> Option<V4Authorization> {
    let rest = value.trim().strip_prefix("OSS4-HMAC-SHA256")?.trim_start();
    let mut credential = None;
    let mut additional = Vec::new();
    let mut signature = None;
    for part in rest.split(',').map(str::trim) {
        let (name, val) = part.split_once('=')?;
        match name {
            "Credential" => credential = Some(val),
            "AdditionalHeaders" => {
                additional = val
                    .split(';')
                    .filter(|s| !s.is_empty())
                    .map(|s| s.to_ascii_lowercase())
                    .collect()
            }
            "Signature" => signature = Some(val),
            _ => return None,
        }
    }
    let mut scope = credential?.split('/');
    let (id, date, region, service, terminator) = (
        scope.next()?,
        scope.next()?,
        scope.next()?,
        scope.next()?,
        scope.next()?,
    );
    if service != "oss" || terminator != "aliyun_v4_request" || scope.next().is_some() {
        return None;
    }
    Some(V4Authorization {
        access_key_id: id.to_string(),
        date: date.to_string(),
        region: region.to_string(),
        additional_headers: additional,
        signature: signature?.to_string(),
    })
}

/// Parses `OSS <id>:<signature>` into (id, signature).
pub fn parse_v1_authorization(value: &str) -> Option<(String, String)> {
    let rest = value.trim().strip_prefix("OSS ")?;
    let (id, sig) = rest.rsplit_once(':')?;
    (!id.is_empty() && !sig.is_empty()).then(|| (id.to_string(), sig.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_headers_parse() {
        let a = parse_v4_authorization("OSS4-HMAC-SHA256 Credential=ak/20231216/cn-hangzhou/oss/aliyun_v4_request, AdditionalHeaders=abc;zabc, Signature=ff").unwrap();
        assert_eq!(
            (a.access_key_id.as_str(), a.date.as_str(), a.region.as_str()),
            ("ak", "20231216", "cn-hangzhou")
        );
        assert_eq!(a.additional_headers, vec!["abc", "zabc"]);
        assert_eq!(a.signature, "ff");
        assert!(
            parse_v4_authorization(
                "OSS4-HMAC-SHA256 Credential=ak/2023/r/s3/aws4_request,Signature=ff"
            )
            .is_none()
        );
        assert_eq!(
            parse_v1_authorization("OSS ak:sig="),
            Some(("ak".into(), "sig=".into()))
        );
        assert_eq!(parse_v1_authorization("OSS :x"), None);
    }
}
