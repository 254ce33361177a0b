//! HTTPS to the local server behind a TLS endpoint (socat, with a certificate from a
//! test CA made by openssl): trusted with the CA file, refused clearly without it.
//! Needs `openssl` and `socat`; under `CI=true` their absence fails the test.

mod common;

use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use oss_resume::{Client, Config, ErrorKind, RequestOptions, SignatureVersion};
use oss_resume_server::{Server, ServerConfig};

fn run(dir: &Path, args: &[&str]) {
    let out = Command::new("openssl")
        .args(args)
        .current_dir(dir)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A CA and a server certificate for 127.0.0.1 signed by it.
fn make_certificates(dir: &Path) {
    run(
        dir,
        &[
            "req",
            "-x509",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-days",
            "2",
            "-subj",
            "/CN=oss_resume test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    );
    run(
        dir,
        &[
            "req",
            "-newkey",
            "rsa:2048",
            "-nodes",
            "-subj",
            "/CN=127.0.0.1",
            "-keyout",
            "server.key",
            "-out",
            "server.csr",
        ],
    );
    std::fs::write(dir.join("ext.cnf"), "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nkeyUsage=digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\n").unwrap();
    run(
        dir,
        &[
            "x509",
            "-req",
            "-in",
            "server.csr",
            "-CA",
            "ca.pem",
            "-CAkey",
            "ca.key",
            "-CAcreateserial",
            "-days",
            "2",
            "-extfile",
            "ext.cnf",
            "-out",
            "server.pem",
        ],
    );
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn https_works_with_the_test_ca_and_fails_clearly_without_it() {
    if !common::have_tools(&["openssl", "socat"]) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    make_certificates(dir.path());
    let mut config = ServerConfig::new("tls-ak", "tls-sk");
    config.buckets = vec!["tls-bucket".into()];
    let server = Server::start(config).unwrap();
    server.put_object("tls-bucket", "k", b"over tls").unwrap();

    let port = free_port();
    let listen = format!(
        "openssl-listen:{port},bind=127.0.0.1,reuseaddr,fork,cert=server.pem,key=server.key,verify=0"
    );
    let target = format!("tcp:{}", server.addr());
    let _socat = Killed(
        Command::new("socat")
            .args([listen.as_str(), target.as_str()])
            .current_dir(dir.path())
            .stdout(Stdio::null())
            // The untrusted client's handshake makes socat complain ("unknown ca"),
            // as it should: kept in a file, so a passing test prints nothing.
            .stderr(std::fs::File::create(dir.path().join("socat.log")).unwrap())
            .spawn()
            .expect("socat starts"),
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "socat did not start listening");
        std::thread::sleep(Duration::from_millis(50));
    }

    let endpoint = format!("https://127.0.0.1:{port}");
    let builder = || {
        Config::builder(&endpoint)
            .credentials("tls-ak", "tls-sk", None)
            .signature_version(SignatureVersion::V1)
    };
    let trusted = Client::new(
        builder()
            .ca_file(dir.path().join("ca.pem"))
            .build()
            .unwrap(),
    )
    .unwrap();
    let info = trusted
        .head_object("tls-bucket", "k", &RequestOptions::default())
        .unwrap();
    assert_eq!(info.size, 8);

    let untrusted = Client::new(builder().build().unwrap()).unwrap();
    let err = untrusted
        .head_object("tls-bucket", "k", &RequestOptions::default())
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Network, "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("tls") && text.to_lowercase().contains("cert"),
        "{text}"
    );
    // A certificate problem is permanent: the retry loop gives up at once.
    assert!(!err.is_retryable(), "{err:?}");
    // Only the trusted client's request reached the server.
    assert_eq!(server.stats().requests_of("HeadObject"), 1);
}

#[test]
fn a_ca_file_that_is_not_pem_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("junk.pem");
    std::fs::write(&path, "not a certificate").unwrap();
    let config = Config::builder("https://127.0.0.1:1")
        .credentials("a", "b", None)
        .signature_version(SignatureVersion::V1)
        .ca_file(&path)
        .build()
        .unwrap();
    let err = Client::new(config).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidArgument);
    assert!(err.to_string().contains("junk.pem"), "{err}");
}
