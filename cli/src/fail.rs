//! How a command ends: the exit codes, and output that never panics.
//!
//! `println!` panics when standard output is closed (`ossr stat ... | true`); every
//! line goes through [`print()`] (or the `out!` macro) instead, and a closed standard
//! output ends the command quietly.

use std::io::Write;

use oss_resume::ErrorKind;

/// Exit codes, documented in `ossr --help`.
pub const EXIT_CODES: &str = "\
exit codes:
  0    done (also when standard output was closed early, as by `| head`)
  1    the transfer or request failed (network, server, access, missing object, local disk)
  2    usage: a bad flag, argument or setting (or one the server refused)
  3    verification failed: the bytes do not match the CRC-64, or the object changed
  130  interrupted (Ctrl-C or SIGTERM); a get or put keeps its checkpoint to resume
";

/// Why a command did not succeed.
#[derive(Debug)]
pub enum Failure {
    /// A bad flag, argument or setting (exit 2).
    Usage(String),
    /// The transfer or request failed (exit 1).
    Transfer(String),
    /// The bytes or the object did not verify (exit 3).
    Verify(String),
    /// Ctrl-C or SIGTERM (exit 130).
    Interrupted(String),
    /// Standard output was closed: stop quietly (exit 0).
    StdoutClosed,
}

impl Failure {
    /// The process exit code.
    pub fn code(&self) -> u8 {
        match self {
            Failure::StdoutClosed => 0,
            Failure::Transfer(_) => 1,
            Failure::Usage(_) => 2,
            Failure::Verify(_) => 3,
            Failure::Interrupted(_) => 130,
        }
    }

    /// The message for stderr, if any.
    pub fn message(&self) -> Option<&str> {
        match self {
            Failure::Usage(m)
            | Failure::Transfer(m)
            | Failure::Verify(m)
            | Failure::Interrupted(m) => Some(m),
            Failure::StdoutClosed => None,
        }
    }
}

impl From<oss_resume::Error> for Failure {
    fn from(e: oss_resume::Error) -> Failure {
        let text = e.to_string();
        match e.kind() {
            ErrorKind::CrcMismatch => Failure::Verify(text),
            ErrorKind::ObjectChanged => Failure::Verify(format!(
                "{text}: the object changed on the server during the transfer; run again to fetch the new version"
            )),
            ErrorKind::Cancelled => Failure::Interrupted(
                "interrupted; the checkpoint is kept: run the same command again to resume".into(),
            ),
            // The library refuses a caller's argument (a part size, a key, a range
            // past the end) with InvalidArgument: the command line's fault.
            ErrorKind::InvalidArgument => Failure::Usage(text),
            _ => Failure::Transfer(text),
        }
    }
}

/// Writes to standard output; a closed one is [`Failure::StdoutClosed`], never a panic.
pub fn print(args: std::fmt::Arguments<'_>) -> Result<(), Failure> {
    let mut out = std::io::stdout().lock();
    out.write_fmt(args)
        .and_then(|()| out.flush())
        .map_err(|e| stdout_error(&e))
}

/// The failure for an error writing standard output.
pub fn stdout_error(e: &std::io::Error) -> Failure {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        Failure::StdoutClosed
    } else {
        Failure::Transfer(format!("writing to standard output: {e}"))
    }
}

/// Writes a line to standard error, ignoring a closed one (`eprintln!` would panic).
pub fn note(args: std::fmt::Arguments<'_>) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_fmt(args);
    let _ = err.write_all(b"\n");
}

/// `println!` without the panic.
#[macro_export]
macro_rules! out {
    ($($t:tt)*) => {
        $crate::fail::print(format_args!("{}\n", format_args!($($t)*)))
    };
}
