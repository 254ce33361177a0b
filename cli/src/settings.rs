//! Settings every client command shares: from flags, else from the environment.

use std::ffi::OsString;

use oss_resume::{Client, Config, SignatureVersion};

/// Help text for the shared flags.
pub const SHARED_FLAGS: &str = "\
connection (flag, else environment variable):
  --endpoint URL            OSS_ENDPOINT       e.g. https://oss-cn-hangzhou.aliyuncs.com
  --region R                OSS_REGION         e.g. cn-hangzhou (needed for v4)
  --signature-version V     OSS_SIGNATURE_VERSION  v1 or v4 (default v4 with a region, else v1)
  --access-key-id ID        OSS_ACCESS_KEY_ID
  --access-key-secret S     OSS_ACCESS_KEY_SECRET
  --sts-token T             OSS_SESSION_TOKEN
  --ca-file PEM             extra CA certificates to trust
";

/// Flags shared by the client commands.
#[derive(Default)]
pub struct Settings {
    endpoint: Option<String>,
    region: Option<String>,
    version: Option<String>,
    id: Option<String>,
    secret: Option<String>,
    token: Option<String>,
    ca_file: Option<String>,
}

fn text(value: OsString, flag: &str) -> Result<String, String> {
    value
        .into_string()
        .map_err(|_| format!("{flag}: the value is not UTF-8"))
}

impl Settings {
    /// Whether `--name` is one of the shared flags.
    pub fn is_flag(name: &str) -> bool {
        matches!(
            name,
            "endpoint"
                | "region"
                | "signature-version"
                | "access-key-id"
                | "access-key-secret"
                | "sts-token"
                | "ca-file"
        )
    }

    /// Takes `--name VALUE` when it is a shared flag; returns whether it was one.
    pub fn take(&mut self, name: &str, parser: &mut lexopt::Parser) -> Result<bool, String> {
        if !Self::is_flag(name) {
            return Ok(false);
        }
        let value = parser.value().map_err(|e| e.to_string())?;
        self.set(name, value)?;
        Ok(true)
    }

    /// Sets shared flag `--name` from its value.
    pub fn set(&mut self, name: &str, value: OsString) -> Result<(), String> {
        let slot = match name {
            "endpoint" => &mut self.endpoint,
            "region" => &mut self.region,
            "signature-version" => &mut self.version,
            "access-key-id" => &mut self.id,
            "access-key-secret" => &mut self.secret,
            "sts-token" => &mut self.token,
            "ca-file" => &mut self.ca_file,
            _ => return Err(format!("unknown flag --{name}")),
        };
        *slot = Some(text(value, name)?);
        Ok(())
    }

    /// Builds the client: flags first, then `OSS_*` variables.
    pub fn client(self) -> Result<Client, String> {
        let env = |name: &str| std::env::var(name).ok().filter(|v| !v.trim().is_empty());
        let endpoint = self
            .endpoint
            .or_else(|| env("OSS_ENDPOINT"))
            .ok_or("no endpoint: pass --endpoint or set OSS_ENDPOINT")?;
        let region = self.region.or_else(|| env("OSS_REGION"));
        let version = match self.version.or_else(|| env("OSS_SIGNATURE_VERSION")) {
            Some(v) => v.parse::<SignatureVersion>().map_err(|e| e.to_string())?,
            None if region.is_some() => SignatureVersion::V4,
            None => SignatureVersion::V1,
        };
        let mut builder = Config::builder(&endpoint).signature_version(version);
        if let Some(r) = &region {
            builder = builder.region(r);
        }
        let id = self.id.or_else(|| env("OSS_ACCESS_KEY_ID"));
        let secret = self.secret.or_else(|| env("OSS_ACCESS_KEY_SECRET"));
        let token = self.token.or_else(|| env("OSS_SESSION_TOKEN"));
        match (id, secret) {
            (Some(id), Some(secret)) => {
                builder = builder.credentials(&id, &secret, token.as_deref())
            }
            (None, None) => {
                return Err("no credentials: pass --access-key-id and --access-key-secret or set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET".into());
            }
            (Some(_), None) => {
                return Err(
                    "an access key id but no secret (--access-key-secret or OSS_ACCESS_KEY_SECRET)"
                        .into(),
                );
            }
            (None, Some(_)) => {
                return Err(
                    "a secret but no access key id (--access-key-id or OSS_ACCESS_KEY_ID)".into(),
                );
            }
        }
        if let Some(ca) = self.ca_file {
            builder = builder.ca_file(ca);
        }
        let config = builder.build().map_err(|e| e.to_string())?;
        Client::new(config).map_err(|e| e.to_string())
    }
}

/// Splits `oss://bucket/key` into bucket and key.
pub fn parse_oss_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("oss://")
        .ok_or_else(|| format!("{url:?} is not an oss://bucket/key URL"))?;
    match rest.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
            Ok((bucket.to_string(), key.to_string()))
        }
        _ => Err(format!("{url:?} names no key: expected oss://bucket/key")),
    }
}
