//! `ossr`: the oss_resume command-line tool.

#![forbid(unsafe_code)]

mod args;
mod dir;
mod fail;
mod get;
mod list;
mod object;
mod progress;
mod serve;
mod settings;
mod stream;

use std::ffi::OsString;
use std::process::ExitCode;

use args::Command;
use fail::{EXIT_CODES, Failure};

/// Every command: its name, its definition and what runs it.
type Run = fn(Vec<OsString>) -> Result<(), Failure>;
pub const COMMANDS: [(&str, Command); 9] = [
    ("get", get::COMMAND),
    ("cat", stream::CAT),
    ("put", stream::PUT),
    ("cp", stream::CP),
    ("sync", dir::SYNC),
    ("stat", object::STAT),
    ("ls", list::LS),
    ("rm", object::RM),
    ("serve", serve::COMMAND),
];
const RUNS: [Run; 9] = [
    get::run,
    stream::cat,
    stream::put,
    stream::cp,
    dir::sync,
    object::stat,
    list::ls,
    object::rm,
    serve::run,
];

const USAGE: &str = "\
usage: ossr <command> [options]
       ossr --version

commands:
  get       download an object to a file, resumably
  cat       write an object (or a range) to standard output
  put       upload a file resumably; standard input (-) or a pipe as a stream
  cp        copy one object into another on the server, resumably; -r: a whole
            directory up to a prefix or a prefix down to a directory
  sync      make a prefix or directory hold what the other holds (skips unchanged)
  stat      print an object's size, ETag, CRC-64, type and content type
  ls        list the objects under a prefix (one level, or all with -r)
  rm        delete an object
  serve     run the bundled local OSS-compatible server

`ossr <command> --help` lists a command's options. Connection settings come from
flags or, when a flag is absent, from OSS_ENDPOINT, OSS_REGION,
OSS_SIGNATURE_VERSION, OSS_ACCESS_KEY_ID, OSS_ACCESS_KEY_SECRET, OSS_SESSION_TOKEN.

checkpoints (what lets an interrupted transfer resume):
  get   a hidden file beside the target, .ossr-<hash>.download (--checkpoint-dir)
  put   ~/.oss_resume/upload/ (--checkpoint-dir)
  cp    ~/.oss_resume/copy/ (--checkpoint-dir)
";

fn run() -> Result<(), Failure> {
    let mut argv = std::env::args_os().skip(1);
    let Some(command) = argv.next() else {
        return Err(Failure::Usage(format!("no command given\n{USAGE}")));
    };
    let rest: Vec<OsString> = argv.collect();
    match command.to_str() {
        Some("-h" | "--help" | "help") => out!("{USAGE}\n{EXIT_CODES}"),
        Some("-V" | "--version" | "version") => {
            out!("ossr {}", env!("CARGO_PKG_VERSION"))
        }
        Some(name) => {
            let i = COMMANDS
                .iter()
                .position(|(n, _)| *n == name)
                .ok_or_else(|| {
                    Failure::Usage(format!("unknown command {name:?} (ossr --help lists them)"))
                })?;
            RUNS[i](rest)
        }
        None => Err(Failure::Usage(format!(
            "unknown command {:?}\n{USAGE}",
            command.to_string_lossy()
        ))),
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            if let Some(message) = failure.message() {
                fail::note(format_args!("ossr: {message}"));
            }
            ExitCode::from(failure.code())
        }
    }
}
