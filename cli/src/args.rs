//! Every flag of `ossr`, defined once: its name, its value, the environment variable
//! it falls back to and its help. Commands name the flags they take; parsing, typed
//! access and the help text all come from this one table.

use std::ffi::OsString;
use std::time::Duration;

use crate::fail::Failure;

/// One flag: `--name VALUE` (or a switch when `value` is `None`).
pub struct Flag {
    pub name: &'static str,
    /// What the value looks like in the help (`None`: a switch without a value).
    pub value: Option<&'static str>,
    /// The environment variable read when the flag is absent.
    pub env: Option<&'static str>,
    pub help: &'static str,
}

const fn flag(
    name: &'static str,
    value: Option<&'static str>,
    env: Option<&'static str>,
    help: &'static str,
) -> Flag {
    Flag {
        name,
        value,
        env,
        help,
    }
}

/// The one definition of every flag.
pub const FLAGS: &[Flag] = &[
    // Connection, shared by the client commands.
    flag(
        "endpoint",
        Some("URL"),
        Some("OSS_ENDPOINT"),
        "e.g. https://oss-cn-hangzhou.aliyuncs.com (the scheme is required)",
    ),
    flag(
        "region",
        Some("R"),
        Some("OSS_REGION"),
        "e.g. cn-hangzhou; needed for v4 signatures (serve: the region they must name, default cn-hangzhou)",
    ),
    flag(
        "signature-version",
        Some("V"),
        Some("OSS_SIGNATURE_VERSION"),
        "v1 or v4 (default v4 with a region, else v1)",
    ),
    flag(
        "access-key-id",
        Some("ID"),
        Some("OSS_ACCESS_KEY_ID"),
        "access key id (serve: the one requests must be signed with)",
    ),
    flag(
        "access-key-secret",
        Some("S"),
        Some("OSS_ACCESS_KEY_SECRET"),
        "its secret",
    ),
    flag(
        "sts-token",
        Some("T"),
        Some("OSS_SESSION_TOKEN"),
        "STS security token (serve: require it on every request)",
    ),
    flag(
        "ca-file",
        Some("PEM"),
        None,
        "extra CA certificates to trust",
    ),
    flag(
        "connect-timeout",
        Some("SECS"),
        None,
        "give up a connection attempt after SECS seconds (default 10)",
    ),
    flag(
        "read-timeout",
        Some("SECS"),
        None,
        "give up a wait on the server after SECS seconds (default 60)",
    ),
    flag(
        "limit-rate",
        Some("RATE"),
        None,
        "cap the bandwidth at RATE bytes per second each way, for all the command's connections together: 500K, 4M, 1G (powers of 1024; default no cap)",
    ),
    // Transfers.
    flag(
        "threads",
        Some("N"),
        None,
        "parallel connections, 1..=64 (default 4)",
    ),
    flag(
        "part-size",
        Some("SIZE"),
        None,
        "part size, 100K..5G (default 8M, cp 64M, grown so there are at most 10,000 parts)",
    ),
    flag(
        "threshold",
        Some("SIZE"),
        None,
        "objects (get, cp) or files (put) smaller than SIZE take one request, without parts or checkpoint (default 10M; cp: 1G, one CopyObject)",
    ),
    flag(
        "checkpoint-dir",
        Some("DIR"),
        None,
        "where the checkpoint is kept (get: default the target's directory, hidden .ossr-<hash>.download; put: default ~/.oss_resume/upload; cp: ~/.oss_resume/copy)",
    ),
    flag(
        "wait",
        None,
        None,
        "wait for another transfer of the same target (get), file and key (put) or source and destination (cp) instead of failing",
    ),
    flag(
        "no-fsync",
        None,
        None,
        "downloads (get, cp -r and sync down): sync nothing to disk (the page cache's guarantees, as curl and aria2c give): faster; a power cut may cost a re-fetch (recorded parts are re-checked by CRC-64 on resume), never a wrong file",
    ),
    flag(
        "no-hedge",
        None,
        None,
        "do not hedge slow parts (by default a part whose answer is late by the download's own measure, 3x its 95th percentile and at least 1 s, is asked for again on another connection, and the first answer wins)",
    ),
    flag(
        "header",
        Some("'NAME: VALUE'"),
        None,
        "a header to store with the object: x-oss-meta-*, Content-Type, Cache-Control, x-oss-object-acl, ... (repeatable)",
    ),
    flag(
        "content-type",
        Some("TYPE"),
        None,
        "the object's Content-Type (default guessed from the file name; put -: none)",
    ),
    flag(
        "progress-interval",
        Some("SECS"),
        None,
        "when stderr is not a terminal, print a progress line every SECS seconds (default 5)",
    ),
    flag("quiet", None, None, "no progress on stderr"),
    flag(
        "through-client",
        None,
        None,
        "copy through this machine as a stream instead of on the server (every byte down and up again)",
    ),
    flag(
        "range",
        Some("A-B|A-|-N"),
        None,
        "bytes A to B inclusive, from A to the end, or the last N",
    ),
    flag("json", None, None, "print one JSON object"),
    // The local server.
    flag(
        "listen",
        Some("ADDR"),
        None,
        "address to bind (default 127.0.0.1:0, a free port)",
    ),
    flag(
        "data",
        Some("DIR"),
        None,
        "keep objects under DIR, across restarts (default: in memory)",
    ),
    flag(
        "bucket",
        Some("NAME"),
        None,
        "create this bucket: 3-63 characters of a-z, 0-9 and '-', e.g. my-bucket (repeatable)",
    ),
    flag(
        "fault",
        Some("NAME=VALUE"),
        None,
        "switch a fault on at start-up (repeatable; listed below); also POST /_ossr/faults?NAME=VALUE",
    ),
    flag(
        "background",
        None,
        None,
        "return once the server is listening, leaving it running (its pid is printed)",
    ),
    flag("help", None, None, "this help"),
    // Whole prefixes (ls, recursive cp, sync).
    flag(
        "recursive",
        None,
        None,
        "(-r) ls: every key below the prefix, not one level; cp: a whole directory or prefix (see ossr sync --help)",
    ),
    flag(
        "include",
        Some("GLOB"),
        None,
        "only files whose path below the directory matches (* within a name, ** across /, ?; a glob without / matches the file name at any depth; repeatable)",
    ),
    flag(
        "exclude",
        Some("GLOB"),
        None,
        "leave out files that match (kept from --delete too; repeatable)",
    ),
    flag(
        "shard",
        Some("I/N|auto/N"),
        None,
        "move only slice I of N (a stable hash of each name); auto reads I from JOB_COMPLETION_INDEX",
    ),
    flag(
        "report",
        Some("FILE"),
        None,
        "write what was done (counts, bytes, failures with why) to FILE as JSON",
    ),
    flag(
        "dry-run",
        None,
        None,
        "say what would be transferred and deleted; change nothing",
    ),
    flag(
        "follow-symlinks",
        None,
        None,
        "upload what symbolic links point to (default: skip them and say so)",
    ),
    flag(
        "delete",
        None,
        None,
        "delete what the destination has under the prefix and the source does not",
    ),
    flag(
        "mtime",
        None,
        None,
        "unchanged means the same size and a destination not older (default: the same size and CRC-64)",
    ),
];

/// Flags every client command takes.
pub const CONNECTION: &[&str] = &[
    "endpoint",
    "region",
    "signature-version",
    "access-key-id",
    "access-key-secret",
    "sts-token",
    "ca-file",
    "connect-timeout",
    "read-timeout",
    "limit-rate",
];

/// A command: its usage line, what it does, and the flags it takes.
pub struct Command {
    pub usage: &'static str,
    pub about: &'static str,
    pub flags: &'static [&'static str],
    /// Whether it also takes [`CONNECTION`].
    pub connects: bool,
    /// Text after the flags (e.g. the fault switches).
    pub extra: fn() -> String,
}

pub fn no_extra() -> String {
    String::new()
}

fn find(name: &str) -> Option<&'static Flag> {
    FLAGS.iter().find(|f| f.name == name)
}

impl Command {
    fn takes(&self, name: &str) -> bool {
        name == "help"
            || self.flags.contains(&name)
            || (self.connects && CONNECTION.contains(&name))
    }

    /// The full help: usage, what it does, each flag with its environment fallback.
    pub fn help(&self) -> String {
        let mut out = format!("usage: {}\n\n{}\n", self.usage, self.about);
        let mut section = |title: &str, names: &[&str]| {
            out.push_str(&format!("\n{title}:\n"));
            for name in names {
                // Every name in a command's list is in FLAGS (a unit test checks).
                let Some(f) = find(name) else { continue };
                let left = match f.value {
                    Some(v) => format!("--{} {v}", f.name),
                    None => format!("--{}", f.name),
                };
                let env = f.env.map(|e| format!("[env {e}]"));
                out.push_str(&format!("  {left:<24}"));
                let mut column = 26;
                if left.len() > 24 {
                    out.push('\n');
                    out.push_str(&" ".repeat(26));
                }
                // Wrapped at 80 columns, continued under the text.
                for word in f.help.split(' ').chain(env.as_deref()) {
                    if column + 1 + word.len() > 80 && column > 26 {
                        out.push('\n');
                        out.push_str(&" ".repeat(26));
                        column = 26;
                    }
                    out.push(' ');
                    out.push_str(word);
                    column += 1 + word.len();
                }
                out.push('\n');
            }
        };
        section("options", self.flags);
        if self.connects {
            section(
                "connection (a flag, else its environment variable)",
                CONNECTION,
            );
        }
        out.push_str(&(self.extra)());
        out
    }

    /// Parses `args`; `None` when `--help` was asked for (the help is printed).
    pub fn parse(&self, args: Vec<OsString>) -> Result<Option<Args>, Failure> {
        use lexopt::prelude::*;
        let usage = |what: String| {
            Failure::Usage(format!("{what}\nusage: {}\n(--help for more)", self.usage))
        };
        let mut parser = lexopt::Parser::from_args(args);
        let mut parsed = Args::default();
        while let Some(arg) = parser.next().map_err(|e| usage(e.to_string()))? {
            match arg {
                Short('r') if self.flags.contains(&"recursive") => {
                    parsed.switches.push("recursive");
                }
                Short('h') | Long("help") => {
                    crate::fail::print(format_args!("{}", self.help()))?;
                    return Ok(None);
                }
                Long(name) => {
                    let flag = find(name)
                        .filter(|f| self.takes(f.name))
                        .ok_or_else(|| usage(format!("unknown flag --{name}")))?;
                    if flag.value.is_some() {
                        let v = parser
                            .value()
                            .map_err(|e| usage(format!("--{}: {e}", flag.name)))?;
                        parsed.values.push((flag.name, v));
                    } else {
                        parsed.switches.push(flag.name);
                    }
                }
                Value(v) => parsed.positional.push(
                    v.into_string()
                        .map_err(|v| usage(format!("{v:?} is not UTF-8")))?,
                ),
                other => return Err(usage(other.unexpected().to_string())),
            }
        }
        Ok(Some(parsed))
    }
}

/// What a command line held.
#[derive(Default)]
pub struct Args {
    values: Vec<(&'static str, OsString)>,
    switches: Vec<&'static str>,
    pub positional: Vec<String>,
}

fn utf8(name: &str, v: &OsString) -> Result<String, Failure> {
    v.to_str()
        .map(str::to_string)
        .ok_or_else(|| Failure::Usage(format!("--{name}: the value is not UTF-8")))
}

impl Args {
    /// The flag's last value, else its environment variable (when it has one and it
    /// is not blank).
    pub fn get(&self, name: &str) -> Result<Option<String>, Failure> {
        if let Some((_, v)) = self.values.iter().rev().find(|(n, _)| *n == name) {
            return utf8(name, v).map(Some);
        }
        let env = find(name).and_then(|f| f.env);
        Ok(env
            .and_then(|e| std::env::var(e).ok())
            .filter(|v| !v.trim().is_empty()))
    }

    /// Every value of a repeatable flag, in order.
    pub fn all(&self, name: &str) -> Result<Vec<String>, Failure> {
        self.values
            .iter()
            .filter(|(n, _)| *n == name)
            .map(|(n, v)| utf8(n, v))
            .collect()
    }

    /// Whether the switch was given.
    pub fn has(&self, name: &str) -> bool {
        self.switches.contains(&name)
    }

    /// A size flag (`8M`).
    pub fn size(&self, name: &str) -> Result<Option<u64>, Failure> {
        self.get(name)?
            .map(|v| parse_size(&v).map_err(|e| Failure::Usage(format!("--{name}: {e}"))))
            .transpose()
    }

    /// A duration in seconds (`2.5`).
    pub fn seconds(&self, name: &str) -> Result<Option<Duration>, Failure> {
        self.get(name)?
            .map(|v| {
                v.trim()
                    .parse::<f64>()
                    .ok()
                    .and_then(|s| Duration::try_from_secs_f64(s).ok())
                    .ok_or_else(|| {
                        Failure::Usage(format!("--{name}: {v:?} is not a number of seconds"))
                    })
            })
            .transpose()
    }

    /// `--threads`, checked against 1..=64.
    pub fn threads(&self) -> Result<Option<usize>, Failure> {
        self.get("threads")?
            .map(|v| {
                v.parse::<usize>()
                    .ok()
                    .filter(|n| (1..=64).contains(n))
                    .ok_or_else(|| {
                        Failure::Usage(format!("--threads: {v:?} is not a number within 1..=64"))
                    })
            })
            .transpose()
    }

    /// Exactly `N` positional arguments, or a usage error naming `what`.
    pub fn positional<const N: usize>(
        &self,
        cmd: &Command,
        what: &str,
    ) -> Result<[&str; N], Failure> {
        let v: Vec<&str> = self.positional.iter().map(String::as_str).collect();
        v.try_into().map_err(|_| {
            Failure::Usage(format!(
                "expected {what}\nusage: {}\n(--help for more)",
                cmd.usage
            ))
        })
    }
}

/// Parses `123`, `100K`, `8M`, `1G` (powers of 1024).
pub fn parse_size(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let (digits, unit) = match t.char_indices().find(|(_, c)| !c.is_ascii_digit()) {
        Some((i, _)) => t.split_at(i),
        None => (t, ""),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("{text:?} is not a size (e.g. 8M)"))?;
    let mult: u64 = match unit
        .to_ascii_uppercase()
        .trim_end_matches("IB")
        .trim_end_matches('B')
    {
        "" => 1,
        "K" => 1 << 10,
        "M" => 1 << 20,
        "G" => 1 << 30,
        _ => return Err(format!("{text:?} has an unknown unit (K, M or G)")),
    };
    n.checked_mul(mult)
        .ok_or_else(|| format!("{text:?} is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_take_binary_units() {
        assert_eq!(parse_size("100").unwrap(), 100);
        assert_eq!(parse_size("100K").unwrap(), 100 << 10);
        assert_eq!(parse_size("8M").unwrap(), 8 << 20);
        assert_eq!(parse_size("8MiB").unwrap(), 8 << 20);
        assert_eq!(parse_size("1g").unwrap(), 1 << 30);
        assert!(parse_size("8X").is_err());
        assert!(parse_size("M").is_err());
        assert!(parse_size("99999999999999G").is_err());
    }

    #[test]
    fn every_flag_a_command_names_is_defined_once() {
        for (i, f) in FLAGS.iter().enumerate() {
            assert!(
                FLAGS[i + 1..].iter().all(|g| g.name != f.name),
                "--{} twice",
                f.name
            );
        }
        for cmd in crate::COMMANDS {
            for name in cmd.1.flags.iter().chain(CONNECTION) {
                assert!(find(name).is_some(), "{}: --{name} undefined", cmd.0);
            }
        }
    }

    #[test]
    fn help_shows_each_flag_and_its_environment_variable() {
        for (name, cmd) in crate::COMMANDS {
            let help = cmd.help();
            for flag in cmd.flags {
                assert!(help.contains(&format!("--{flag}")), "{name}: --{flag}");
            }
            if cmd.connects {
                for f in FLAGS.iter().filter(|f| CONNECTION.contains(&f.name)) {
                    assert!(
                        help.contains(&format!("--{}", f.name)),
                        "{name}: --{}",
                        f.name
                    );
                    if let Some(env) = f.env {
                        assert!(help.contains(&format!("[env {env}]")), "{name}: {env}");
                    }
                }
            }
        }
    }
}
