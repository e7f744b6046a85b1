//! The session server: the engine behind an HTTP API and an event stream.

use crate::config::Config;

pub fn run(_config: Config) -> color_eyre::Result<()> {
    Err(color_eyre::eyre::eyre!(
        "the session server is not built yet"
    ))
}
