//! The one place sessiontop reads its environment: every variable it honours,
//! read once at start-up into `Environment`, which `cli` folds into the config
//! (flags beat these, these beat the config file). Nothing else in the crate
//! calls `std::env::var`; tests build an `Environment` from a map instead.
//!
//! Token variables go straight into `SecretString`, so no `Debug` prints one.

use std::path::PathBuf;

use secrecy::SecretString;

/// Every environment variable sessiontop reads, with what it is for.
pub const VARIABLES: &[(&str, &str)] = &[
    ("SESSIONTOP_CONFIG", "the config file"),
    ("SESSIONTOP_APP_TOKEN", "serve: the app API token"),
    ("SESSIONTOP_ADMIN_TOKEN", "serve: the admin API token"),
    ("SESSIONTOP_LISTEN", "serve: the address to listen on"),
    ("SESSIONTOP_STORE", "serve: where sessions are kept"),
    ("SESSIONTOP_TOKEN", "dashboard: the server's admin token"),
    ("SESSIONTOP_SERVER", "dashboard: the server to watch"),
    ("SESSIONTOP_SPEED", "dashboard: the embedded clock's speed"),
    ("SESSIONTOP_IDLE_TIMEOUT", "policy.idle_timeout"),
    ("SESSIONTOP_ABSOLUTE_TIMEOUT", "policy.absolute_timeout"),
    ("SESSIONTOP_CLOSING_TIME", "policy.closing_time"),
    (
        "SESSIONTOP_LOG",
        "the log filter (else RUST_LOG), such as info or debug",
    ),
    (
        "NO_COLOR",
        "draw without colour when set (so does TERM=dumb)",
    ),
    (
        "TZ",
        "the host's time zone, the default of policy.time_zone",
    ),
];

/// What the environment says, read once.
#[derive(Debug, Default, Clone)]
pub struct Environment {
    pub config: Option<PathBuf>,
    pub app_token: Option<SecretString>,
    pub admin_token: Option<SecretString>,
    pub listen: Option<String>,
    pub store: Option<String>,
    /// The dashboard's admin token for `--server`.
    pub token: Option<SecretString>,
    pub server: Option<String>,
    pub speed: Option<String>,
    pub idle_timeout: Option<String>,
    pub absolute_timeout: Option<String>,
    pub closing_time: Option<String>,
    /// `SESSIONTOP_LOG`, else `RUST_LOG`.
    pub log: Option<String>,
    pub no_color: bool,
    /// The host's time zone name: `TZ`, else the system's (`/etc/localtime`).
    pub time_zone: Option<String>,
    /// A `TZ` that is not an IANA name (a POSIX rule such as "CET-1CEST", or
    /// a misspelling), which gave way to the system's zone: `cli` warns about it.
    pub unreadable_tz: Option<String>,
    /// Token variables set but empty (such as `VAR=$(cat missing-file)`):
    /// unset, as every blank value is, and warned about, since a secret
    /// that failed to load should not pass unseen.
    pub empty_tokens: Vec<&'static str>,
    /// The user's home directory, for `~` in paths.
    pub home: Option<PathBuf>,
    /// `sessiontop/config.toml` in the user's config directory (read if it exists).
    pub default_config: Option<PathBuf>,
    /// The platform state directory (`~/.local/state` on Linux), where `serve`
    /// keeps its sessions file by default.
    pub state_dir: Option<PathBuf>,
}

impl Environment {
    /// The process's environment and the host's time zone.
    pub fn from_process() -> Self {
        let mut env = Self::from_lookup(|name| std::env::var(name).ok());
        // No TZ, or one that is not an IANA name: the system's zone.
        if env.time_zone.is_none() {
            env.time_zone = iana_time_zone::get_timezone().ok();
        }
        env.home = dirs::home_dir();
        env.default_config = dirs::config_dir().map(|d| d.join("sessiontop").join("config.toml"));
        env.state_dir = dirs::state_dir().or_else(|| {
            env.home
                .as_ref()
                .map(|home| home.join(".local").join("state"))
        });
        env
    }

    /// An environment from `lookup` alone (tests pass a map); no host zone, no home.
    /// Empty and blank values count as unset.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<String>) -> Self {
        let get = |name: &str| lookup(name).filter(|v| !v.trim().is_empty());
        let text = |name: &str| get(name).map(|v| v.trim().to_owned());
        let secret = |name: &str| text(name).map(SecretString::from);
        Environment {
            config: get("SESSIONTOP_CONFIG").map(PathBuf::from),
            app_token: secret("SESSIONTOP_APP_TOKEN"),
            admin_token: secret("SESSIONTOP_ADMIN_TOKEN"),
            listen: text("SESSIONTOP_LISTEN"),
            store: text("SESSIONTOP_STORE"),
            token: secret("SESSIONTOP_TOKEN"),
            server: text("SESSIONTOP_SERVER"),
            speed: text("SESSIONTOP_SPEED"),
            idle_timeout: text("SESSIONTOP_IDLE_TIMEOUT"),
            absolute_timeout: text("SESSIONTOP_ABSOLUTE_TIMEOUT"),
            closing_time: text("SESSIONTOP_CLOSING_TIME"),
            log: text("SESSIONTOP_LOG").or_else(|| text("RUST_LOG")),
            // A terminal that says it is dumb gets no colours either.
            no_color: get("NO_COLOR").is_some() || get("TERM").is_some_and(|t| t == "dumb"),
            time_zone: None,
            unreadable_tz: None,
            empty_tokens: [
                "SESSIONTOP_APP_TOKEN",
                "SESSIONTOP_ADMIN_TOKEN",
                "SESSIONTOP_TOKEN",
            ]
            .into_iter()
            .filter(|name| lookup(name).is_some_and(|v| v.trim().is_empty()))
            .collect(),
            home: None,
            default_config: None,
            state_dir: None,
        }
        .with_tz(text("TZ"))
    }

    /// Sorts `TZ` into a zone name sessiontop can read, or an unreadable one.
    fn with_tz(mut self, tz: Option<String>) -> Self {
        let Some(tz) = tz else {
            return self;
        };
        // POSIX allows a leading colon ("TZ=:Europe/Berlin"), and glibc a
        // zoneinfo file ("TZ=:/usr/share/zoneinfo/Europe/Berlin").
        let name = tz.trim_start_matches(':');
        if name == "/etc/localtime" {
            return self; // The system's zone, by its file.
        }
        let name = name.rsplit_once("zoneinfo/").map_or(name, |(_, n)| n);
        if name.parse::<chrono_tz::Tz>().is_ok() {
            self.time_zone = Some(name.to_owned());
        } else {
            self.unreadable_tz = Some(tz);
        }
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    #[test]
    fn tokens_are_read_as_secrets_that_debug_never_prints() {
        let env = Environment::from_lookup(|name| {
            (name == "SESSIONTOP_APP_TOKEN").then(|| "app-secret-0123456789".to_owned())
        });
        assert_eq!(
            env.app_token.as_ref().map(|t| t.expose_secret()),
            Some("app-secret-0123456789")
        );
        assert!(!format!("{env:?}").contains("app-secret"));
    }

    #[test]
    fn blank_values_are_unset_and_tz_may_start_with_a_colon() {
        let env = Environment::from_lookup(|name| match name {
            "NO_COLOR" => Some(String::new()),
            "SESSIONTOP_LISTEN" => Some("  ".into()),
            "TZ" => Some(":Europe/Berlin".into()),
            _ => None,
        });
        assert!(!env.no_color);
        assert_eq!(env.listen, None);
        assert_eq!(env.time_zone.as_deref(), Some("Europe/Berlin"));
        assert_eq!(env.unreadable_tz, None);
    }

    #[test]
    fn a_token_variable_set_but_empty_is_unset_and_named() {
        let env = Environment::from_lookup(|name| match name {
            "SESSIONTOP_APP_TOKEN" => Some(String::new()),
            "SESSIONTOP_TOKEN" => Some(" \n".into()),
            "SESSIONTOP_ADMIN_TOKEN" => Some("admin-token-0123456789".into()),
            _ => None,
        });
        assert!(env.app_token.is_none() && env.token.is_none());
        assert_eq!(
            env.empty_tokens,
            ["SESSIONTOP_APP_TOKEN", "SESSIONTOP_TOKEN"]
        );
    }

    #[test]
    fn a_dumb_terminal_gets_no_colours() {
        let term = |value: &'static str| {
            Environment::from_lookup(move |name| (name == "TERM").then(|| value.to_owned()))
        };
        assert!(term("dumb").no_color);
        assert!(!term("xterm-256color").no_color);
    }

    #[test]
    fn a_tz_that_is_no_iana_name_is_kept_aside_to_be_warned_about() {
        for tz in ["CET-1CEST", "Nowhere/Land"] {
            let env = Environment::from_lookup(|name| (name == "TZ").then(|| tz.to_owned()));
            assert_eq!(env.time_zone, None, "{tz}");
            assert_eq!(env.unreadable_tz.as_deref(), Some(tz));
        }
        let env = Environment::from_lookup(|name| {
            (name == "TZ").then(|| ":/usr/share/zoneinfo/Asia/Tokyo".to_owned())
        });
        assert_eq!(env.time_zone.as_deref(), Some("Asia/Tokyo"));
        assert_eq!(env.unreadable_tz, None);
    }
}
