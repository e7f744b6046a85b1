//! sessiontop: a terminal dashboard for live login sessions, with its own session engine.
//!
//! `engine` holds every session rule; `server` puts it behind HTTP, in the
//! wire types of `api`, which the remote source reads too; `source`
//! gives the dashboard one interface over the embedded engine or a server;
//! `tui` is the dashboard; `sim` simulates logins; `bench` measures capacity.

pub mod api;
pub mod bench;
pub mod cli;
pub mod config;
pub mod engine;
pub mod server;
pub mod sim;
pub mod source;
pub mod store;
pub mod throttle;
pub mod tui;
pub mod units;
