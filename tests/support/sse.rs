//! The admin event stream of a real `sessiontop serve`, read the way
//! `curl -N` reads it: one thread parses the server-sent events into a channel
//! that a test waits on with a bound.

use std::io::{BufRead, BufReader};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use reqwest::blocking::Client;
use serde_json::Value;

use super::server::{ADMIN_TOKEN, Server};

/// One server-sent event as a client reads it.
#[derive(Debug, Clone)]
pub struct Sse {
    pub id: String,
    pub kind: String,
    pub data: Value,
}

/// An event stream read on its own thread; `None` on the channel when it ended.
pub struct Stream {
    /// The events as they arrive, for a test that polls them itself.
    pub events: mpsc::Receiver<Option<Sse>>,
}

impl Stream {
    pub fn open(node: &Server, last_event_id: Option<&str>) -> Stream {
        let mut request = Client::builder()
            .build()
            .unwrap()
            .get(format!("{}/v1/admin/events", node.url()))
            .bearer_auth(ADMIN_TOKEN);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id);
        }
        let response = request.send().unwrap();
        assert_eq!(response.status(), 200);
        let (sender, events) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(response).lines();
            let (mut id, mut kind) = (String::new(), String::new());
            while let Some(Ok(line)) = lines.next() {
                if let Some(v) = line.strip_prefix("id: ") {
                    id = v.to_owned();
                } else if let Some(v) = line.strip_prefix("event: ") {
                    kind = v.to_owned();
                } else if let Some(v) = line.strip_prefix("data: ") {
                    let data = serde_json::from_str(v).unwrap();
                    let event = Sse {
                        id: std::mem::take(&mut id),
                        kind: std::mem::take(&mut kind),
                        data,
                    };
                    if sender.send(Some(event)).is_err() {
                        return;
                    }
                }
            }
            let _ = sender.send(None);
        });
        Stream { events }
    }

    /// The next event, or None when the stream ended; panics after `wait`.
    pub fn next(&self, wait: Duration) -> Option<Sse> {
        self.events
            .recv_timeout(wait)
            .expect("an event or the end of the stream in time")
    }

    /// Events until `done` says enough, within `wait` in all.
    pub fn until(&self, wait: Duration, mut done: impl FnMut(&[Sse]) -> bool) -> Vec<Sse> {
        let give_up = Instant::now() + wait;
        let mut seen = Vec::new();
        while !done(&seen) {
            let left = give_up.saturating_duration_since(Instant::now());
            match self.events.recv_timeout(left) {
                Ok(Some(event)) => seen.push(event),
                Ok(None) => panic!("the stream ended after {} events", seen.len()),
                Err(_) => panic!("only {} events within {wait:?}", seen.len()),
            }
        }
        seen
    }
}
