//! The dashboard.

use crate::config::Config;

pub fn run(_config: Config) -> color_eyre::Result<()> {
    Err(color_eyre::eyre::eyre!("the dashboard is not built yet"))
}
