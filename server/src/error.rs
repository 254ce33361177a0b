//! OSS error responses: status, Code, Message and extra elements.

/// An error the server answers with, in OSS's XML form.
#[derive(Debug, Clone)]
pub struct OssError {
    pub status: u16,
    pub code: String,
    pub message: String,
    /// Extra elements after Message (e.g. `Key`, `StringToSign`).
    pub extra: Vec<(String, String)>,
    /// Extra response headers (e.g. `x-oss-qos-delay-time`).
    pub headers: Vec<(String, String)>,
}

impl OssError {
    pub fn new(status: u16, code: &str, message: &str) -> OssError {
        OssError {
            status,
            code: code.to_string(),
            message: message.to_string(),
            extra: Vec::new(),
            headers: Vec::new(),
        }
    }

    pub fn with(mut self, name: &str, value: &str) -> OssError {
        self.extra.push((name.to_string(), value.to_string()));
        self
    }

    pub fn no_such_bucket(bucket: &str) -> OssError {
        OssError::new(404, "NoSuchBucket", "The specified bucket does not exist.")
            .with("BucketName", bucket)
    }

    pub fn no_such_key(key: &str) -> OssError {
        OssError::new(404, "NoSuchKey", "The specified key does not exist.").with("Key", key)
    }

    pub fn no_such_upload(upload_id: &str) -> OssError {
        OssError::new(
            404,
            "NoSuchUpload",
            "The specified upload does not exist. The upload ID may be invalid, or the upload may have been aborted or completed.",
        )
        .with("UploadId", upload_id)
    }

    pub fn invalid_argument(message: &str) -> OssError {
        OssError::new(400, "InvalidArgument", message)
    }

    pub fn access_denied(message: &str) -> OssError {
        OssError::new(403, "AccessDenied", message)
    }

    pub fn internal(message: &str) -> OssError {
        OssError::new(500, "InternalError", message)
    }

    /// The EC (error code detail) OSS sends beside well-known codes.
    pub fn ec(&self) -> &'static str {
        match self.code.as_str() {
            "NoSuchKey" => "0026-00000001",
            "NoSuchBucket" => "0015-00000101",
            "NoSuchUpload" => "0042-00000002",
            "SignatureDoesNotMatch" => "0002-00000040",
            "InvalidAccessKeyId" => "0002-00000902",
            "AccessDenied" => "0003-00000001",
            "RequestTimeTooSkewed" => "0002-00000504",
            "PreconditionFailed" => "0026-00000011",
            "InvalidRange" => "0026-00000002",
            "InvalidDigest" => "0016-00000402",
            "InvalidPart" => "0042-00000003",
            "InvalidPartOrder" => "0042-00000004",
            "EntityTooSmall" => "0042-00000005",
            "MalformedXML" => "0016-00000101",
            "ServiceUnavailable" => "0000-00000003",
            _ => "0000-00000000",
        }
    }

    /// The XML body.
    pub fn to_xml(&self, request_id: &str, host_id: &str) -> String {
        let mut out = String::from("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error>\n");
        let mut element = |name: &str, value: &str| {
            out.push_str(&format!("  <{name}>{}</{name}>\n", xml_escape(value)));
        };
        element("Code", &self.code);
        element("Message", &self.message);
        element("RequestId", request_id);
        element("HostId", host_id);
        for (name, value) in &self.extra {
            element(name, value);
        }
        element("EC", self.ec());
        out.push_str("</Error>\n");
        out
    }
}

/// Escapes text for an XML element.
pub fn xml_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            _ => out.push(c),
        }
    }
    out
}
