//! `ossr serve`: the bundled local OSS-compatible server.

use std::ffi::OsString;
use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;

use oss_resume_server::{FAULT_SWITCHES, Server, ServerConfig};

fn usage() -> String {
    let mut out = String::from(
        "\
usage: ossr serve --listen 127.0.0.1:PORT --access-key-id ID --access-key-secret SECRET
                  [--sts-token T] [--region R] [--data DIR] [--bucket NAME]...
                  [--fault NAME=VALUE]...

Runs a local OSS-compatible server until SIGINT or SIGTERM. The first line on stdout
is `listening on http://HOST:PORT`; --listen 127.0.0.1:0 picks a free port.

  --listen ADDR            address to bind (default 127.0.0.1:0)
  --access-key-id ID       the access key id requests must be signed with (required)
  --access-key-secret S    its secret (required)
  --sts-token T            require this STS token on every request
  --region R               region V4 signatures must name (default cn-hangzhou)
  --data DIR               keep objects under DIR, across restarts (default: memory)
  --bucket NAME            create this bucket (repeatable)
  --fault NAME=VALUE       switch a fault on at start-up (repeatable); also settable
                           while running: POST /_ossr/faults?NAME=VALUE

fault switches:
",
    );
    for (name, what) in FAULT_SWITCHES {
        out.push_str(&format!("  {name:<26} {what}\n"));
    }
    out
}

fn value(parser: &mut lexopt::Parser, flag: &str) -> Result<String, String> {
    parser
        .value()
        .map_err(|e| format!("{flag}: {e}"))?
        .into_string()
        .map_err(|_| format!("{flag}: the value is not UTF-8"))
}

pub fn run(args: Vec<OsString>) -> Result<(), String> {
    use lexopt::prelude::*;
    let mut parser = lexopt::Parser::from_args(args);
    let mut listen: SocketAddr = SocketAddr::from(([127, 0, 0, 1], 0));
    let mut id: Option<String> = None;
    let mut secret: Option<String> = None;
    let mut config = ServerConfig::new("", "");
    while let Some(arg) = parser.next().map_err(|e| e.to_string())? {
        match arg {
            Long("listen") => {
                let text = value(&mut parser, "--listen")?;
                listen = text
                    .parse()
                    .map_err(|_| format!("--listen: {text:?} is not an IP:PORT address"))?;
            }
            Long("access-key-id") => id = Some(value(&mut parser, "--access-key-id")?),
            Long("access-key-secret") => secret = Some(value(&mut parser, "--access-key-secret")?),
            Long("sts-token") => config.sts_token = Some(value(&mut parser, "--sts-token")?),
            Long("region") => config.region = value(&mut parser, "--region")?,
            Long("data") => config.data_dir = Some(PathBuf::from(value(&mut parser, "--data")?)),
            Long("bucket") => config.buckets.push(value(&mut parser, "--bucket")?),
            Long("fault") => config.faults.push(value(&mut parser, "--fault")?),
            Short('h') | Long("help") => {
                print!("{}", usage());
                return Ok(());
            }
            other => return Err(format!("serve: {}\n\n{}", other.unexpected(), usage())),
        }
    }
    config.listen = listen;
    config.access_key_id =
        id.ok_or_else(|| format!("serve: --access-key-id is required\n\n{}", usage()))?;
    config.access_key_secret =
        secret.ok_or_else(|| format!("serve: --access-key-secret is required\n\n{}", usage()))?;
    if config.buckets.is_empty() && config.data_dir.is_none() {
        eprintln!("ossr serve: note: no --bucket given; every request will get NoSuchBucket");
    }

    let (tx, rx) = std::sync::mpsc::channel();
    ctrlc::set_handler(move || {
        let _ = tx.send(());
    })
    .map_err(|e| format!("serve: cannot install the signal handler: {e}"))?;

    let server = Server::start(config).map_err(|e| format!("serve: {e}"))?;
    let mut stdout = std::io::stdout();
    writeln!(stdout, "listening on {}", server.endpoint())
        .and_then(|_| stdout.flush())
        .map_err(|e| format!("serve: writing to stdout: {e}"))?;
    // Wait for SIGINT or SIGTERM.
    let _ = rx.recv();
    server.stop();
    eprintln!("ossr serve: stopped");
    Ok(())
}
