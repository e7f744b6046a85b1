//! A real `redis-server` of a test's own: a free loopback port, a temporary
//! directory, AOF on with fsync on every write (so a restart loses nothing),
//! and stop, kill and restart, so tests can take Redis away and give it back.
//!
//! When `redis-server` is not installed a test is skipped with a note, except
//! under CI (`ci::on_ci`), where that fails the run: CI must test on Redis.
//!
//! `TestCa` makes a private CA, a server certificate and a client
//! certificate with the `openssl` command; `start_tls` runs a Redis that
//! speaks only TLS with them, and `start_mutual_tls` one that also asks every
//! client for a certificate (the same skip-or-fail rule holds for a missing
//! `openssl`).
#![allow(dead_code)]

#[path = "ci.rs"]
mod ci;
use ci::on_ci;

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub struct RedisServer {
    port: u16,
    dir: PathBuf,
    child: Option<Child>,
    /// Set for a server that speaks only TLS, with these certificates.
    tls: Option<TlsFiles>,
}

/// The certificate files a TLS Redis serves and its clients trust.
#[derive(Clone)]
struct TlsFiles {
    ca: PathBuf,
    cert: PathBuf,
    key: PathBuf,
    /// Set when Redis asks clients for a certificate: the one to present.
    client: Option<(PathBuf, PathBuf)>,
}

/// Whether a `redis-server` can be run here.
pub fn available() -> bool {
    tool_available(
        "redis-server",
        "--version",
        "CI must run the Redis tests (apt-get install redis-server)",
    )
}

/// Whether the `openssl` command can be run here (same rule as `available`).
pub fn openssl_available() -> bool {
    tool_available(
        "openssl",
        "version",
        "CI must run the Redis TLS tests (apt-get install openssl)",
    )
}

/// Whether `program arg` runs. Outside CI a test without it is skipped; with
/// CI=true a missing tool fails the test, saying `why`.
fn tool_available(program: &str, arg: &str, why: &str) -> bool {
    let found = Command::new(program)
        .arg(arg)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !found {
        assert!(!on_ci(), "{program} is not installed: {why}");
        eprintln!("{program} is not installed: skipping this test");
    }
    found
}

/// A private CA and a server certificate it signed for `localhost` and
/// 127.0.0.1 (as subject alternative names: rustls ignores the common name).
pub struct TestCa {
    dir: tempfile::TempDir,
}

impl TestCa {
    /// Makes the CA and the certificate, or `None` (outside CI) when openssl is missing.
    pub fn generate() -> Option<TestCa> {
        if !openssl_available() {
            return None;
        }
        let dir = tempfile::tempdir().expect("a temporary directory");
        let ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
        let openssl = |args: &[&str]| {
            let output = Command::new("openssl")
                .args(args)
                .current_dir(dir.path())
                .output()
                .expect("openssl runs");
            assert!(
                output.status.success(),
                "openssl {args:?} failed: {}",
                String::from_utf8_lossy(&output.stderr)
            );
        };
        let ca = [
            &["req", "-x509", "-nodes"][..],
            &ec,
            &["-keyout", "ca.key", "-out", "ca.pem", "-days", "2"],
            &["-subj", "/CN=sessiontop test CA"],
        ]
        .concat();
        openssl(&ca);
        // A key and a certificate the CA signs, named `name`, with the
        // extensions `extensions` (X.509 v3, as rustls needs).
        let issue = |name: &str, subject: &str, extensions: &str| {
            let (key, csr, pem) = (
                format!("{name}.key"),
                format!("{name}.csr"),
                format!("{name}.pem"),
            );
            let request = [
                &["req", "-nodes"][..],
                &ec,
                &["-keyout", &key, "-out", &csr, "-subj", subject],
            ]
            .concat();
            openssl(&request);
            let ext = dir.path().join(format!("{name}.ext"));
            std::fs::write(&ext, extensions).expect("the extension file");
            openssl(&[
                "x509",
                "-req",
                "-in",
                &csr,
                "-CA",
                "ca.pem",
                "-CAkey",
                "ca.key",
                "-CAcreateserial",
                "-out",
                &pem,
                "-days",
                "2",
                "-extfile",
                &ext.display().to_string(),
            ]);
        };
        issue(
            "server",
            "/CN=localhost",
            "subjectAltName = DNS:localhost, IP:127.0.0.1\n",
        );
        issue(
            "client",
            "/CN=sessiontop node",
            "extendedKeyUsage = clientAuth\n",
        );
        Some(TestCa { dir })
    }

    /// A node's client certificate and its key (PEM files), signed by this CA.
    pub fn client_files(&self) -> (PathBuf, PathBuf) {
        (
            self.dir.path().join("client.pem"),
            self.dir.path().join("client.key"),
        )
    }

    /// The server's key: a private key that is not the client certificate's.
    pub fn server_key_file(&self) -> PathBuf {
        self.dir.path().join("server.key")
    }

    /// The CA's certificate (PEM): what a node's `tls_ca_file` names.
    pub fn ca_file(&self) -> PathBuf {
        self.dir.path().join("ca.pem")
    }

    fn files(&self) -> TlsFiles {
        TlsFiles {
            ca: self.ca_file(),
            cert: self.dir.path().join("server.pem"),
            key: self.dir.path().join("server.key"),
            client: None,
        }
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("a free loopback port");
    listener.local_addr().expect("its address").port()
}

impl RedisServer {
    /// Starts a server, or `None` (outside CI) when redis-server is missing.
    pub fn start() -> Option<RedisServer> {
        let mut server = RedisServer::start_stopped()?;
        server.launch();
        Some(server)
    }

    /// Starts a server that speaks only TLS (no plain-text port), with the
    /// certificate `ca` signed for localhost and 127.0.0.1. It listens on
    /// 127.0.0.2 too: a name its certificate does not hold.
    pub fn start_tls(ca: &TestCa) -> Option<RedisServer> {
        let mut server = RedisServer::start_stopped()?;
        server.tls = Some(ca.files());
        server.launch();
        Some(server)
    }

    /// `start_tls`, and Redis asks every client for a certificate that `ca`
    /// signed (`tls-auth-clients yes`, Redis's default once TLS is on).
    pub fn start_mutual_tls(ca: &TestCa) -> Option<RedisServer> {
        let mut server = RedisServer::start_stopped()?;
        server.tls = Some(TlsFiles {
            client: Some(ca.client_files()),
            ..ca.files()
        });
        server.launch();
        Some(server)
    }

    fn start_stopped() -> Option<RedisServer> {
        if !available() {
            return None;
        }
        let port = free_port();
        let dir = std::env::temp_dir().join(format!(
            "sessiontop-redis-{}-{port}-{}",
            std::process::id(),
            rand_suffix()
        ));
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        Some(RedisServer {
            port,
            dir,
            child: None,
            tls: None,
        })
    }

    fn launch(&mut self) {
        let port = self.port.to_string();
        let listen: Vec<&std::ffi::OsStr> = match &self.tls {
            None => ["--port", &port, "--bind", "127.0.0.1"]
                .map(std::ffi::OsStr::new)
                .to_vec(),
            Some(tls) => vec![
                "--port".as_ref(),
                "0".as_ref(),
                "--tls-port".as_ref(),
                port.as_ref(),
                "--bind".as_ref(),
                "127.0.0.1 127.0.0.2".as_ref(),
                "--tls-cert-file".as_ref(),
                tls.cert.as_os_str(),
                "--tls-key-file".as_ref(),
                tls.key.as_os_str(),
                "--tls-ca-cert-file".as_ref(),
                tls.ca.as_os_str(),
                "--tls-auth-clients".as_ref(),
                if tls.client.is_some() { "yes" } else { "no" }.as_ref(),
            ],
        };
        let child = Command::new("redis-server")
            .args(listen)
            .arg("--dir")
            .arg(&self.dir)
            .args([
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--save",
                "",
            ])
            .args(["--daemonize", "no", "--protected-mode", "yes"])
            // DEBUG HTSTATS-KEY shows whether a key's table is still growing.
            .args(["--enable-debug-command", "local"])
            .args(["--logfile", "redis.log"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server starts");
        self.child = Some(child);
        let give_up = Instant::now() + Duration::from_secs(20);
        while Instant::now() < give_up {
            if self.ping() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!(
            "redis-server did not answer on port {} within 20 s",
            self.port
        );
    }

    fn ping(&self) -> bool {
        if let Some(tls) = &self.tls {
            return self.ping_tls(tls);
        }
        let Ok(mut stream) = TcpStream::connect(("127.0.0.1", self.port)) else {
            return false;
        };
        let _ = stream.set_read_timeout(Some(Duration::from_secs(1)));
        if stream.write_all(b"PING\r\n").is_err() {
            return false;
        }
        let mut reply = [0u8; 7];
        stream.read_exact(&mut reply).is_ok() && &reply == b"+PONG\r\n"
    }

    fn ping_tls(&self, tls: &TlsFiles) -> bool {
        let certificates = redis::TlsCertificates {
            client_tls: tls
                .client
                .as_ref()
                .map(|(cert, key)| redis::ClientTlsConfig {
                    client_cert: std::fs::read(cert).expect("the client certificate"),
                    client_key: std::fs::read(key).expect("the client key"),
                }),
            root_cert: Some(std::fs::read(&tls.ca).expect("the CA file")),
        };
        let Ok(client) = redis::Client::build_with_tls(self.url(), certificates) else {
            return false;
        };
        client
            .get_connection_with_timeout(Duration::from_secs(1))
            .and_then(|mut conn| redis::cmd("PING").query::<String>(&mut conn))
            .is_ok_and(|reply| reply == "PONG")
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:PORT/0`, or for a TLS server `rediss://localhost:PORT/0`.
    pub fn url(&self) -> String {
        match self.tls {
            None => format!("redis://127.0.0.1:{}/0", self.port),
            Some(_) => format!("rediss://localhost:{}/0", self.port),
        }
    }

    /// Ends the server at once, as a crash would (SIGKILL).
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Asks the server to stop (SIGTERM) and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // SAFETY: kill(2) on our own child's pid has no memory effects.
            unsafe {
                libc::kill(child.id() as i32, libc::SIGTERM);
            }
            let _ = child.wait();
        }
    }

    /// Freezes the server (SIGSTOP), as a stalled host or a failover does:
    /// its connections stay open and what reaches them waits.
    pub fn pause(&self) {
        self.signal(libc::SIGSTOP);
    }

    /// Lets a paused server run again (SIGCONT).
    pub fn resume(&self) {
        self.signal(libc::SIGCONT);
    }

    fn signal(&self, signal: i32) {
        if let Some(child) = &self.child {
            // SAFETY: kill(2) on our own child's pid has no memory effects.
            unsafe {
                libc::kill(child.id() as i32, signal);
            }
        }
    }

    /// Starts the server again on the same port with the same data.
    pub fn restart(&mut self) {
        self.kill();
        self.launch();
    }

    /// Starts the server again on the same port with no data, as a Redis
    /// that keeps nothing on disk comes back from a crash.
    pub fn restart_empty(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
        std::fs::create_dir_all(&self.dir).expect("a temporary directory");
        self.launch();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn rand_suffix() -> u64 {
    use std::hash::{BuildHasher, RandomState};
    RandomState::new().hash_one(Instant::now())
}
