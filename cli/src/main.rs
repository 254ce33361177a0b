//! `ossr`: the oss_resume command-line tool.

#![forbid(unsafe_code)]

mod get;
mod object;
mod progress;
mod serve;
mod settings;
mod stream;

use std::process::ExitCode;

const USAGE: &str = "\
usage: ossr <command> [options]

commands:
  get       download an object, resumably (ossr get --help)
  cat       write an object (or a range) to standard output
  put       upload a file resumably, or standard input with -
  cp        copy one object into another through a stream
  stat      print an object's size, ETag, CRC-64 and type
  rm        delete an object
  serve     run the bundled local OSS-compatible server (ossr serve --help)

Each command takes --help.
";

fn main() -> ExitCode {
    let mut args = std::env::args_os().skip(1);
    let Some(command) = args.next() else {
        eprint!("{USAGE}");
        return ExitCode::from(2);
    };
    let rest: Vec<std::ffi::OsString> = args.collect();
    let result = match command.to_str() {
        Some("serve") => serve::run(rest),
        Some("get") => get::run(rest),
        Some("cat") => stream::cat(rest),
        Some("put") => stream::put(rest),
        Some("cp") => stream::cp(rest),
        Some("stat") => object::stat(rest),
        Some("rm") => object::rm(rest),
        Some("-h" | "--help" | "help") => {
            print!("{USAGE}");
            Ok(())
        }
        _ => Err(format!(
            "unknown command {:?}\n{USAGE}",
            command.to_string_lossy()
        )),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ossr: {message}");
            ExitCode::FAILURE
        }
    }
}
