//! The bytes the dashboard sends to the terminal, and an optional asciicast
//! v2 recording of them (`sessiontop lesson --record FILE.cast`).
//!
//! `Screen` is the writer under ratatui's backend: every byte goes to
//! standard output and, when recording, into the cast as one `"o"` event per
//! flush (one per frame). The cast is asciinema's format: a JSON header line,
//! then `[seconds, "o", text]` lines, and `[seconds, "r", "WxH"]` when a
//! frame finds the terminal resized,
//! so `asciinema play` replays the lesson as the room saw it.

use std::fs::File;
use std::io::{self, BufWriter, Stdout, Write};
use std::path::Path;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

pub struct Screen {
    out: Stdout,
    cast: Option<Cast>,
}

impl Screen {
    pub fn new(cast: Option<Cast>) -> Self {
        Screen {
            out: io::stdout(),
            cast,
        }
    }

    /// Writes the recording's header, if there is a recording.
    pub fn start_recording(&mut self, width: u16, height: u16) -> io::Result<()> {
        match &mut self.cast {
            Some(cast) => cast.start(width, height),
            None => Ok(()),
        }
    }
}

impl Write for Screen {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.out.write(buf)?;
        if let Some(cast) = &mut self.cast {
            cast.pending.extend_from_slice(&buf[..n]);
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()?;
        if let Some(cast) = &mut self.cast {
            cast.output();
            if let Ok(size) = crossterm::terminal::size()
                && size != cast.size
            {
                cast.resize(size.0, size.1);
            }
        }
        Ok(())
    }
}

/// An asciicast v2 file being written.
pub struct Cast {
    file: BufWriter<File>,
    started: Instant,
    pending: Vec<u8>,
    title: String,
    /// The terminal size last recorded.
    size: (u16, u16),
    /// A write failed: stop recording rather than stop the lesson.
    failed: bool,
}

impl Cast {
    /// Creates the file now, so a bad path is an error before the screen changes.
    pub fn create(path: &Path, title: &str) -> io::Result<Cast> {
        Ok(Cast {
            file: BufWriter::new(File::create(path)?),
            started: Instant::now(),
            pending: Vec::new(),
            title: title.to_owned(),
            size: (0, 0),
            failed: false,
        })
    }

    /// Writes the header line; call once, with the terminal's size.
    pub fn start(&mut self, width: u16, height: u16) -> io::Result<()> {
        let timestamp = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let term = std::env::var("TERM").unwrap_or_else(|_| "xterm-256color".to_owned());
        let header = serde_json::json!({
            "version": 2,
            "width": width,
            "height": height,
            "timestamp": timestamp,
            "title": self.title,
            "env": {"TERM": term, "SHELL": "/bin/sh"},
        });
        writeln!(self.file, "{header}")?;
        self.size = (width, height);
        self.started = Instant::now();
        self.file.flush()
    }

    fn event(&mut self, code: &str, data: &str) {
        if self.failed {
            return;
        }
        let seconds = (self.started.elapsed().as_secs_f64() * 1e6).round() / 1e6;
        let line = serde_json::json!([seconds, code, data]);
        if writeln!(self.file, "{line}")
            .and_then(|()| self.file.flush())
            .is_err()
        {
            self.failed = true;
            tracing::warn!("the recording stopped: cannot write the cast file");
        }
    }

    /// The bytes since the last flush, as one output event. A character cut
    /// in two by a flush waits for its other half.
    fn output(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let complete = match std::str::from_utf8(&self.pending) {
            Ok(_) => self.pending.len(),
            Err(e) if e.error_len().is_none() => e.valid_up_to(),
            Err(_) => self.pending.len(),
        };
        if complete == 0 {
            return;
        }
        let rest = self.pending.split_off(complete);
        let text = String::from_utf8_lossy(&self.pending).into_owned();
        self.pending = rest;
        self.event("o", &text);
    }

    fn resize(&mut self, width: u16, height: u16) {
        self.size = (width, height);
        self.output();
        self.event("r", &format!("{width}x{height}"));
    }
}

impl Drop for Cast {
    /// Ends the recording as the dashboard leaves the terminal: the cursor
    /// shown and the alternate screen left (those bytes go to the terminal
    /// itself, not through `Screen`), so a player returns to its own screen.
    fn drop(&mut self) {
        if self.size != (0, 0) {
            let _ = crossterm::queue!(
                &mut self.pending,
                crossterm::cursor::Show,
                crossterm::terminal::LeaveAlternateScreen
            );
        }
        self.output();
        let _ = self.file.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cast_has_a_header_then_output_events_with_whole_characters() {
        let path =
            std::env::temp_dir().join(format!("sessiontop-cast-{}.cast", std::process::id()));
        {
            let mut cast = Cast::create(&path, "t").unwrap();
            cast.start(80, 24).unwrap();
            let bytes = "a ✕ b".as_bytes();
            // Cut inside the three bytes of ✕.
            cast.pending.extend_from_slice(&bytes[..3]);
            cast.output();
            cast.pending.extend_from_slice(&bytes[3..]);
            cast.output();
            cast.resize(100, 30);
        }
        let text = std::fs::read_to_string(&path).unwrap();
        let _ = std::fs::remove_file(&path);
        let lines: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect();
        assert_eq!(lines[0]["version"], 2);
        assert_eq!(
            (lines[0]["width"].as_u64(), lines[0]["height"].as_u64()),
            (Some(80), Some(24))
        );
        assert_eq!(lines[1][1], "o");
        assert_eq!(lines[1][2], "a ");
        assert_eq!(lines[2][2], "✕ b");
        assert_eq!(lines[3][1], "r");
        assert_eq!(lines[3][2], "100x30");
        assert!(lines[1][0].as_f64().unwrap() <= lines[3][0].as_f64().unwrap());
        // The last event gives the player its own screen back.
        assert_eq!(lines.len(), 5);
        assert_eq!(lines[4][1], "o");
        assert!(lines[4][2].as_str().unwrap().ends_with("\x1b[?1049l"));
    }
}
