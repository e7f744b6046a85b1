//! A real `sessiontop serve` child process on an ephemeral loopback port.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};

use super::pty::BIN;

pub const APP_TOKEN: &str = "e2e-app-token-0123456789";
pub const ADMIN_TOKEN: &str = "e2e-admin-token-0123456789";

pub struct Server {
    child: Child,
    pub addr: SocketAddr,
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
        let mut child = Command::new(BIN)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(store)
            .args(extra_args)
            .env("SESSIONTOP_APP_TOKEN", APP_TOKEN)
            .env("SESSIONTOP_ADMIN_TOKEN", ADMIN_TOKEN)
            .env_remove("SESSIONTOP_CONFIG")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let addr = loop {
            let line = lines
                .next()
                .expect("the server printed where it listens")
                .unwrap();
            if let Some(addr) = line.strip_prefix("listening on http://") {
                break addr.trim().parse().unwrap();
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Server { child, addr }
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
        let status = response.status().as_u16();
        let text = response.text().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(serde_json::Value::Null),
        )
    }

    pub fn stop(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Stops the server as systemd does, with SIGTERM, and waits until it has exited.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child process.
        unsafe { libc::kill(self.child.id() as i32, libc::SIGTERM) };
        self.child.wait().unwrap()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
