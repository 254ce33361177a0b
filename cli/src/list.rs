//! `ossr ls`: a bucket's keys under a prefix, one directory level or all of them.

use std::ffi::OsString;

use oss_resume::{ListOptions, ListPage};

use crate::args::{Command, no_extra};
use crate::fail::Failure;
use crate::object::json_string;
use crate::out;
use crate::settings::client;

pub const LS: Command = Command {
    usage: "ossr ls oss://bucket[/prefix] [-r] [--json] [options]",
    about: "\
Lists the objects whose keys start with the prefix, in UTF-8 byte order. Without -r
it lists one level: keys with a further '/' after the prefix are shown once as their
\"directory\" (DIR). Each object is shown with its last modification, size and
storage class; a summary line closes the listing. --json prints one JSON object per
line instead ({\"key\", \"size\", \"etag\", \"last_modified\", \"storage_class\",
\"type\"} or {\"prefix\"}) and no summary.",
    flags: &["recursive", "json"],
    connects: true,
    extra: no_extra,
};

/// Splits `oss://bucket[/prefix]`; the prefix may be empty.
fn parse_ls_url(url: &str) -> Result<(String, String), Failure> {
    let rest = url
        .strip_prefix("oss://")
        .ok_or_else(|| Failure::Usage(format!("{url:?} is not an oss://bucket[/prefix] URL")))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(Failure::Usage(format!("{url:?} names no bucket")));
    }
    Ok((bucket.to_string(), prefix.to_string()))
}

/// A key for a terminal: control characters escaped, so a hostile key cannot move
/// the cursor or fake a line.
fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// One entry's line: (sort key, text).
fn lines(bucket: &str, page: &ListPage, json: bool) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = Vec::new();
    for o in &page.objects {
        let text = if json {
            format!(
                "{{\"key\": {}, \"size\": {}, \"etag\": {}, \"last_modified\": {}, \"storage_class\": {}, \"type\": {}}}",
                json_string(&o.key),
                o.size,
                json_string(&o.etag),
                json_string(&o.last_modified),
                json_string(&o.storage_class),
                json_string(&o.object_type)
            )
        } else {
            // 2024-01-31T12:00:00.000Z -> 2024-01-31 12:00:00
            let when = o.last_modified.get(..19).unwrap_or("").replace('T', " ");
            format!(
                "{when:<19}  {:>14}  {:<8}  oss://{bucket}/{}",
                o.size,
                o.storage_class,
                printable(&o.key)
            )
        };
        out.push((o.key.clone(), text));
    }
    for p in &page.common_prefixes {
        let text = if json {
            format!("{{\"prefix\": {}}}", json_string(p))
        } else {
            format!(
                "{:<19}  {:>14}  {:<8}  oss://{bucket}/{}",
                "",
                "DIR",
                "",
                printable(p)
            )
        };
        out.push((p.clone(), text));
    }
    // Byte order across objects and prefixes, as the listing itself is ordered.
    out.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    out
}

/// `ossr ls oss://bucket/prefix`.
pub fn ls(args: Vec<OsString>) -> Result<(), Failure> {
    let Some(args) = LS.parse(args)? else {
        return Ok(());
    };
    let [url] = args.positional(&LS, "one oss://bucket[/prefix]")?;
    let (bucket, prefix) = parse_ls_url(url)?;
    let json = args.has("json");
    let client = client(&args)?;
    let mut opts = ListOptions::prefix(prefix);
    if !args.has("recursive") {
        opts.delimiter = "/".into();
    }
    let (mut objects, mut bytes, mut dirs) = (0u64, 0u64, 0u64);
    for page in client.list_objects(&bucket, &opts)? {
        let page = page?;
        objects += page.objects.len() as u64;
        bytes += page.objects.iter().map(|o| o.size).sum::<u64>();
        dirs += page.common_prefixes.len() as u64;
        let text: String = lines(&bucket, &page, json)
            .into_iter()
            .map(|(_, line)| line + "\n")
            .collect();
        crate::fail::print(format_args!("{text}"))?;
    }
    if json {
        return Ok(());
    }
    out!("{objects} objects, {bytes} bytes, {dirs} directories")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ls_urls_may_name_only_a_bucket() {
        assert_eq!(parse_ls_url("oss://b").unwrap(), ("b".into(), "".into()));
        assert_eq!(parse_ls_url("oss://b/").unwrap(), ("b".into(), "".into()));
        assert_eq!(
            parse_ls_url("oss://b/p/q").unwrap(),
            ("b".into(), "p/q".into())
        );
        assert!(parse_ls_url("oss:///p").is_err());
        assert!(parse_ls_url("b/p").is_err());
    }

    #[test]
    fn control_characters_in_keys_are_escaped_for_the_terminal() {
        assert_eq!(printable("a\nb\u{1b}[2J"), "a\\nb\\u{1b}[2J");
        assert_eq!(printable("中 文"), "中 文");
    }
}
