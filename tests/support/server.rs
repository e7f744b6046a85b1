//! A real `sessiontop serve` child process on an ephemeral loopback port.

use std::io::{BufRead, BufReader, Read};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::pty::BIN;

pub const APP_TOKEN: &str = "e2e-app-token-0123456789";
pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789";

/// `sessiontop serve` on an ephemeral loopback port with the known tokens
/// and no config file, its stdout piped.
fn serve(args: &[&str]) -> Command {
    let mut command = Command::new(BIN);
    command
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(args)
        .env("SESSIONTOP_APP_TOKEN", APP_TOKEN)
        .env("SESSIONTOP_ADMIN_TOKEN", ADMIN_TOKEN)
        .env_remove("SESSIONTOP_CONFIG")
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    command
}

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
    /// What it printed before it listened (where its sessions are kept, …).
    pub started: Vec<String>,
}

impl Server {
    /// Starts a server with known tokens and waits until it listens. It keeps
    /// its sessions in memory unless `extra_args` name a `--store`.
    pub fn start(extra_args: &[&str]) -> Server {
        let store: &[&str] = if extra_args.contains(&"--store") {
            &[]
        } else {
            &["--store", "memory"]
        };
        let mut child = serve(store)
            .args(extra_args)
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let mut started = Vec::new();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server printed where it listens")
                .unwrap();
            if let Some(addr) = line.strip_prefix("listening on http://") {
                break addr.trim().parse().unwrap();
            }
            started.push(line);
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server {
            child,
            addr,
            started,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// POST with the app token; the status and the JSON body (Null when empty).
    pub fn post(
        &self,
        client: &reqwest::blocking::Client,
        path: &str,
        body: serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let response = client
            .post(format!("{}{path}", self.url()))
            .bearer_auth(APP_TOKEN)
            .json(&body)
            .send()
            .unwrap();
        status_and_json(response)
    }

    /// A request with the admin token; the status and the JSON body (Null when empty).
    pub fn admin(
        &self,
        client: &reqwest::blocking::Client,
        method: reqwest::Method,
        path: &str,
    ) -> (u16, serde_json::Value) {
        let response = client
            .request(method, format!("{}{path}", self.url()))
            .bearer_auth(ADMIN_TOKEN)
            .send()
            .unwrap();
        status_and_json(response)
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server as systemd does, with SIGTERM, and waits until it has exited.
    pub fn terminate(self) -> std::process::ExitStatus {
        self.stop_with(libc::SIGTERM)
    }

    /// Sends `signal` and waits until the server has exited.
    pub fn stop_with(mut self, signal: i32) -> std::process::ExitStatus {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, signal) };
        self.child.wait().unwrap()
    }
}

/// An HTTP client with a 10 s timeout, as the tests use.
pub fn client() -> reqwest::blocking::Client {
    reqwest::blocking::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
}
/// Runs `serve` with `extra_args` (and the tokens `Server::start` gives), which
/// must stop at start by itself: its stdout and stderr. One still running after
/// a minute is killed and fails the test, so a hang never hangs the suite.
pub fn start_failing(extra_args: &[&str]) -> (String, String) {
    let mut child = serve(extra_args).stderr(Stdio::piped()).spawn().unwrap();
    let read_all = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            let _ = pipe.read_to_string(&mut text);
            text
        })
    };
    let stdout = read_all(Box::new(child.stdout.take().unwrap()));
    let stderr = read_all(Box::new(child.stderr.take().unwrap()));
    let give_up = Instant::now() + Duration::from_secs(60);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if Instant::now() > give_up {
            let _ = child.kill();
            let _ = child.wait();
            panic!("serve {extra_args:?} was still running after 60 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let (stdout, stderr) = (stdout.join().unwrap(), stderr.join().unwrap());
    assert!(
        !status.success(),
        "serve {extra_args:?} started: {stdout}{stderr}"
    );
    (stdout, stderr)
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A response's status and its JSON body (Null when empty or not JSON).
fn status_and_json(response: reqwest::blocking::Response) -> (u16, serde_json::Value) {
    let status = response.status().as_u16();
    let text = response.text().unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
    )
}
