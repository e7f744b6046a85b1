//! The Lua scripts, one per operation, each with the shared prelude.
//!
//! Each script is run with EVALSHA and loaded on NOSCRIPT (the `redis`
//! crate's `Script` does both), so Redis compiles each one once.

use redis::Script;

const COMMON: &str = include_str!("lua/common.lua");

pub(super) struct Scripts {
    pub login: Script,
    pub touch: Script,
    pub renew: Script,
    pub finish: Script,
    pub revoke_user: Script,
    pub mine: Script,
    pub revoke_mine: Script,
    pub get: Script,
    pub list: Script,
    pub claim: Script,
}

fn with_prelude(body: &str) -> Script {
    Script::new(&format!("{COMMON}\n{body}"))
}

impl Scripts {
    pub fn new() -> Self {
        Scripts {
            login: with_prelude(include_str!("lua/login.lua")),
            touch: with_prelude(include_str!("lua/touch.lua")),
            renew: with_prelude(include_str!("lua/renew.lua")),
            finish: with_prelude(include_str!("lua/finish.lua")),
            revoke_user: with_prelude(include_str!("lua/revoke_user.lua")),
            mine: with_prelude(include_str!("lua/mine.lua")),
            revoke_mine: with_prelude(include_str!("lua/revoke_mine.lua")),
            get: with_prelude(include_str!("lua/get.lua")),
            list: with_prelude(include_str!("lua/list.lua")),
            claim: with_prelude(include_str!("lua/claim.lua")),
        }
    }
}
