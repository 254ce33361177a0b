//! `ossr serve`: the bundled local OSS-compatible server.

use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::Stdio;

use oss_resume_server::{FAULT_SWITCHES, Server, ServerConfig};

use crate::args::Command;
use crate::fail::{Failure, note};
use crate::out;

fn fault_list() -> String {
    let mut out = String::from("\nfault switches (--fault NAME=VALUE):\n");
    for (name, what) in FAULT_SWITCHES {
        out.push_str(&format!("  {name:<28} {what}\n"));
    }
    out
}

pub const COMMAND: Command = Command {
    usage: "ossr serve --access-key-id ID --access-key-secret SECRET [--listen ADDR] [--bucket NAME]... [options]",
    about: "\
Runs a local OSS-compatible server until SIGINT or SIGTERM. The first line on
stdout is `listening on http://HOST:PORT`, written once it accepts connections.
With --background the command returns at that moment and the server keeps
running; stop it with `kill PID` (the pid is on the second line).",
    flags: &[
        "listen",
        "access-key-id",
        "access-key-secret",
        "sts-token",
        "region",
        "data",
        "bucket",
        "fault",
        "background",
    ],
    connects: false,
    extra: fault_list,
};

pub fn run(raw: Vec<OsString>) -> Result<(), Failure> {
    let Some(args) = COMMAND.parse(raw.clone())? else {
        return Ok(());
    };
    if !args.positional.is_empty() {
        return Err(Failure::Usage(format!(
            "serve takes no arguments, only flags (got {:?})\nusage: {}",
            args.positional, COMMAND.usage
        )));
    }
    let listen: SocketAddr = match args.get("listen")? {
        Some(text) => text.parse().map_err(|_| {
            Failure::Usage(format!(
                "--listen: {text:?} is not an IP:PORT address (e.g. 127.0.0.1:9000)"
            ))
        })?,
        None => SocketAddr::from(([127, 0, 0, 1], 0)),
    };
    let required = |name: &str| -> Result<String, Failure> {
        args.get(name)?.ok_or_else(|| {
            Failure::Usage(format!(
                "serve: --{name} is required\nusage: {}",
                COMMAND.usage
            ))
        })
    };
    let mut config =
        ServerConfig::new(&required("access-key-id")?, &required("access-key-secret")?);
    config.listen = listen;
    config.sts_token = args.get("sts-token")?;
    if let Some(r) = args.get("region")? {
        config.region = r;
    }
    config.data_dir = args.get("data")?.map(PathBuf::from);
    config.buckets = args.all("bucket")?;
    config.faults = args.all("fault")?;
    if args.has("background") {
        return background(raw);
    }
    if config.buckets.is_empty() && config.data_dir.is_none() {
        note(format_args!(
            "ossr serve: note: no --bucket given; every request will get NoSuchBucket"
        ));
    }

    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .map_err(|e| Failure::Transfer(format!("serve: cannot install the signal handler: {e}")))?;

    let server = Server::start(config).map_err(|e| Failure::Usage(format!("serve: {e}")))?;
    // A closed stdout (its reader gone) is no reason to stop serving.
    match out!("listening on {}", server.endpoint()) {
        Ok(()) | Err(Failure::StdoutClosed) => {}
        Err(e) => return Err(e),
    }
    // Wait for SIGINT or SIGTERM.
    let _ = rx.recv();
    server.stop();
    note(format_args!("ossr serve: stopped"));
    Ok(())
}

/// Starts the same server as a child in its own process group, waits for its first
/// line, prints it and the child's pid, and returns, leaving the child running.
fn background(raw: Vec<OsString>) -> Result<(), Failure> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()
        .map_err(|e| Failure::Transfer(format!("serve: finding this program: {e}")))?;
    let mut child = std::process::Command::new(exe)
        .arg("serve")
        .args(raw.into_iter().filter(|a| a != "--background"))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        // Piped, not inherited: an inherited stderr would hold the caller's pipe open
        // for as long as the server runs (`$(ossr serve --background ...)` would never
        // return). Read only when the server fails to start.
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .map_err(|e| Failure::Transfer(format!("serve: starting the server: {e}")))?;
    let mut line = String::new();
    // The pipe is dropped once the line is read: the child writes nothing more to stdout.
    let read = child
        .stdout
        .take()
        .map(|s| BufReader::new(s).read_line(&mut line));
    if !matches!(read, Some(Ok(n)) if n > 0) {
        let mut why = String::new();
        if let Some(mut e) = child.stderr.take() {
            let _ = std::io::Read::read_to_string(&mut e, &mut why);
        }
        let _ = child.wait();
        let why = why.trim().trim_start_matches("ossr: ");
        return Err(Failure::Usage(format!("the server did not start: {why}")));
    }
    out!("{}", line.trim_end())?;
    out!("pid {} (stop it with: kill {})", child.id(), child.id())
}
