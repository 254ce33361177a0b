//! The client every client command shares: from flags, else from the environment.

use oss_resume::{Client, Config, RateLimit, SignatureVersion};

use crate::args::Args;
use crate::fail::Failure;

/// Builds the client: each connection flag, else its `OSS_*` variable.
pub fn client(args: &Args) -> Result<Client, Failure> {
    let usage = |m: &str| Failure::Usage(m.to_string());
    let endpoint = args
        .get("endpoint")?
        .ok_or_else(|| usage("no endpoint: pass --endpoint or set OSS_ENDPOINT"))?;
    let region = args.get("region")?;
    let version = match args.get("signature-version")? {
        Some(v) => v
            .parse::<SignatureVersion>()
            .map_err(|e| Failure::Usage(e.to_string()))?,
        None if region.is_some() => SignatureVersion::V4,
        None => SignatureVersion::V1,
    };
    let mut builder = Config::builder(&endpoint).signature_version(version);
    if let Some(r) = &region {
        builder = builder.region(r);
    }
    let token = args.get("sts-token")?;
    match (args.get("access-key-id")?, args.get("access-key-secret")?) {
        (Some(id), Some(secret)) => builder = builder.credentials(&id, &secret, token.as_deref()),
        (None, None) => {
            return Err(usage(
                "no credentials: pass --access-key-id and --access-key-secret or set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET",
            ));
        }
        (Some(_), None) => {
            return Err(usage(
                "an access key id but no secret (--access-key-secret or OSS_ACCESS_KEY_SECRET)",
            ));
        }
        (None, Some(_)) => {
            return Err(usage(
                "a secret but no access key id (--access-key-id or OSS_ACCESS_KEY_ID)",
            ));
        }
    }
    if let Some(ca) = args.get("ca-file")? {
        builder = builder.ca_file(ca);
    }
    for name in ["connect-timeout", "read-timeout"] {
        if args.seconds(name)?.is_some_and(|t| t.is_zero()) {
            return Err(Failure::Usage(format!("--{name}: must be more than 0")));
        }
    }
    if let Some(t) = args.seconds("connect-timeout")? {
        builder = builder.connect_timeout(t);
    }
    if let Some(t) = args.seconds("read-timeout")? {
        builder = builder.read_timeout(t);
    }
    if let Some(rate) = args.get("limit-rate")? {
        let rate = RateLimit::parse_rate(&rate)
            .map_err(|e| Failure::Usage(format!("--limit-rate: {}", e.message())))?;
        builder = builder.rate_limit(RateLimit::new(rate, rate));
    }
    let config = builder.build().map_err(|e| Failure::Usage(e.to_string()))?;
    Ok(Client::new(config)?)
}

/// Splits `oss://bucket/key` into bucket and key.
pub fn parse_oss_url(url: &str) -> Result<(String, String), Failure> {
    let rest = url
        .strip_prefix("oss://")
        .ok_or_else(|| Failure::Usage(format!("{url:?} is not an oss://bucket/key URL")))?;
    match rest.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
            Ok((bucket.to_string(), key.to_string()))
        }
        _ => Err(Failure::Usage(format!(
            "{url:?} names no key: expected oss://bucket/key"
        ))),
    }
}
