//! The real dashboard binary in a pseudo-terminal (portable-pty), its screen
//! parsed with vt100. Every wait polls the screen against a deadline.

use std::io::{Read, Write};
use std::num::NonZeroU16;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use portable_pty::{Child, CommandBuilder, PtySize, native_pty_system};

pub const BIN: &str = env!("CARGO_BIN_EXE_sessiontop");
pub const WAIT: Duration = Duration::from_secs(15);
const ROWS: u16 = 40;
const COLS: u16 = 120;

/// A directory removed at the end of the test.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let dir =
            std::env::temp_dir().join(format!("sessiontop-e2e-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn write(&self, name: &str, contents: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, contents).unwrap();
        path
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct Dashboard {
    child: Box<dyn Child + Send + Sync>,
    writer: Box<dyn Write + Send>,
    /// Every byte the dashboard wrote, and the screen they draw.
    pub output: Arc<Mutex<(Vec<u8>, vt100::Parser)>>,
    dir: Option<TempDir>,
}

impl Dashboard {
    /// Runs `sessiontop ARGS` in a 120x40 terminal, with `dir` as its home and state directory.
    pub fn start(dir: &Path, args: &[&str], env: &[(&str, &str)]) -> Dashboard {
        Self::start_sized(dir, args, env, (COLS, ROWS))
    }

    /// Runs `sessiontop ARGS` in a terminal of `cols` x `rows`.
    pub fn start_sized(
        dir: &Path,
        args: &[&str],
        env: &[(&str, &str)],
        (cols, rows): (u16, u16),
    ) -> Dashboard {
        let pty = native_pty_system()
            .openpty(PtySize {
                rows,
                cols,
                pixel_width: 0,
                pixel_height: 0,
            })
            .unwrap();
        let mut command = CommandBuilder::new(BIN);
        for arg in args {
            command.arg(arg);
        }
        command.env("TERM", "xterm-256color");
        command.env("XDG_STATE_HOME", dir);
        command.env("HOME", dir);
        for var in ["NO_COLOR", "SESSIONTOP_CONFIG", "SESSIONTOP_TOKEN"] {
            command.env_remove(var);
        }
        for (key, value) in env {
            command.env(key, value);
        }
        let child = pty.slave.spawn_command(command).unwrap();
        drop(pty.slave);
        let mut reader = pty.master.try_clone_reader().unwrap();
        let writer = pty.master.take_writer().unwrap();
        let parser = vt100::Parser::new(
            NonZeroU16::new(rows).unwrap(),
            NonZeroU16::new(cols).unwrap(),
            0,
        );
        let output = Arc::new(Mutex::new((Vec::new(), parser)));
        let sink = output.clone();
        std::thread::spawn(move || {
            let _master = pty.master;
            let mut buf = [0u8; 8192];
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                let mut out = sink.lock().unwrap();
                out.0.extend_from_slice(&buf[..n]);
                out.1.process(&buf[..n]);
            }
        });
        Dashboard {
            child,
            writer,
            output,
            dir: None,
        }
    }

    /// Keeps `dir` until the dashboard is dropped.
    pub fn keeping(mut self, dir: TempDir) -> Dashboard {
        self.dir = Some(dir);
        self
    }

    pub fn screen(&self) -> String {
        self.output.lock().unwrap().1.screen().contents()
    }

    pub fn press(&mut self, keys: &str) {
        self.writer.write_all(keys.as_bytes()).unwrap();
        self.writer.flush().unwrap();
    }

    /// Waits until `test` holds for the screen; returns that screen.
    pub fn wait_for(&self, what: &str, test: impl Fn(&str) -> bool) -> String {
        let deadline = Instant::now() + WAIT;
        loop {
            let screen = self.screen();
            if test(&screen) {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen:\n{screen}");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits until the screen has not changed for `quiet`; returns it.
    pub fn wait_still(&self, what: &str, quiet: Duration) -> String {
        let deadline = Instant::now() + WAIT;
        let mut last = self.screen();
        let mut since = Instant::now();
        loop {
            std::thread::sleep(Duration::from_millis(20));
            let screen = self.screen();
            if screen != last {
                last = screen;
                since = Instant::now();
            } else if since.elapsed() >= quiet {
                return screen;
            }
            if Instant::now() > deadline {
                panic!("timed out waiting for {what}; the screen:\n{last}");
            }
        }
    }

    pub fn wait_text(&self, text: &str) -> String {
        self.wait_for(text, |s| s.contains(text))
    }

    /// Sends a Unix signal to the dashboard process.
    pub fn signal(&self, signal: i32) {
        let pid = self.child.process_id().expect("the dashboard runs") as i32;
        // SAFETY: kill(2) with a pid of our own child and a plain signal number.
        assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    }

    /// The process's state letter in /proc (Linux): `T` when stopped.
    pub fn state(&self) -> char {
        let pid = self.child.process_id().expect("the dashboard runs");
        let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
        // The state follows the command's name, which is in parentheses.
        stat.rsplit_once(") ")
            .and_then(|(_, rest)| rest.chars().next())
            .unwrap_or('?')
    }

    /// Simulates a login of `user` with `n`, replacing the suggested name.
    pub fn login(&mut self, user: &str) {
        self.press("n");
        self.wait_text("Simulate a login");
        // Typing replaces the offered name.
        self.press(&format!("{user}\r"));
        self.wait_text(user);
        self.wait_for("the prompt to close", |s| !s.contains("Simulate a login"));
    }

    /// Opens the details of the selected session and returns its user line.
    pub fn details_user(&mut self) -> String {
        self.press("\r");
        let screen = self.wait_text("Esc to close");
        self.press("\x1b");
        self.wait_for("the details to close", |s| !s.contains("Esc to close"));
        screen
            .lines()
            .find(|l| l.contains(" user "))
            .unwrap_or_default()
            .to_owned()
    }

    /// Waits for the process to end and returns its success and all its output.
    pub fn wait_exit(self) -> (bool, Vec<u8>) {
        let (code, bytes) = self.wait_exit_code();
        (code == 0, bytes)
    }

    /// The exit status and everything the dashboard wrote.
    pub fn wait_exit_code(mut self) -> (u32, Vec<u8>) {
        let deadline = Instant::now() + WAIT;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                // Let the reader drain what is left.
                std::thread::sleep(Duration::from_millis(100));
                let bytes = self.output.lock().unwrap().0.clone();
                return (status.exit_code(), bytes);
            }
            if Instant::now() > deadline {
                let threads = self.threads();
                let _ = self.child.kill();
                panic!(
                    "the dashboard did not exit; its threads:\n{threads}screen:\n{}",
                    self.screen()
                );
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Dashboard {
    /// What each thread of the process waits in (Linux), for a test that times out.
    fn threads(&self) -> String {
        let Some(pid) = self.child.process_id() else {
            return String::new();
        };
        let mut out = String::new();
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let read = |f: &str| std::fs::read_to_string(task.path().join(f)).unwrap_or_default();
            out.push_str(&format!(
                "  {} waits in {}\n",
                read("comm").trim(),
                read("wchan").trim()
            ));
        }
        out
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
    }
}

/// Checks the escape sequences that leave the terminal as it was found.
pub fn assert_terminal_restored(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let entered = text
        .find("\x1b[?1049h")
        .expect("the alternate screen was entered");
    let left = text
        .rfind("\x1b[?1049l")
        .expect("the alternate screen was left");
    assert!(left > entered);
    let shown = text.rfind("\x1b[?25h").expect("the cursor was shown again");
    assert!(shown > entered);
    assert!(
        text.contains("\x1b[?1000l") || text.contains("\x1b[?1006l"),
        "mouse capture was turned off"
    );
}
