//! Shared pieces of the end-to-end tests: the real binary in a pseudo-terminal,
//! a real `sessiontop serve` and its event stream, and a TCP proxy a test can cut.
#![allow(dead_code)]

pub mod proxy;
pub mod pty;
pub mod server;
pub mod sse;
