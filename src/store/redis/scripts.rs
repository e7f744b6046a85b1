//! The Lua code, one Redis Function per operation, each with the shared
//! prelude (`lua/common.lua`).
//!
//! Each operation is its own function library, named after a hash of its
//! code: Redis runs the library's top once when it is loaded, so the
//! prelude's helpers are made once rather than on every call (as they would
//! be with EVALSHA), and nodes running different versions of sessiontop on
//! one Redis each call their own code. A node loads them all when it starts
//! (`load_missing`), and a library again when Redis says
//! it does not know the function (a Redis that lost it).

use sha2::{Digest, Sha256};

const COMMON: &str = include_str!("lua/common.lua");

/// One operation: its function's name and the library that defines it.
pub(super) struct Script {
    name: String,
    library: String,
}

impl Script {
    pub fn name(&self) -> &str {
        &self.name
    }

    /// `FUNCTION LOAD`'s argument.
    pub fn library(&self) -> &str {
        &self.library
    }
}

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
    pub rehash: Script,
}

/// Whether a function may run while Redis is out of memory (see `with_prelude`).
#[derive(Clone, Copy)]
enum Oom {
    Denied,
    Allowed,
}

/// Redis's error code for a call that came after its caller gave up.
pub(super) const STALE: &str = "STALE";

/// The prelude and `body` as one function library; the body runs with
/// `KEYS` and `ARGV` as a script would, and the events it made are appended
/// to the stream when it returns (`flush`). The last argument, which the body
/// does not see, is the Redis time after which the call must not start
/// (empty for none): past it, the call changes nothing and answers `STALE`.
/// `Oom::Allowed` lets the function run while Redis is at its `maxmemory`
/// (Redis refuses every other one then): for the operations that end
/// sessions, and the reads that may, so a full Redis still expires sessions,
/// logs out and lists, and frees memory doing it.
fn with_prelude(body: &str, oom: Oom) -> Script {
    let flags = match oom {
        Oom::Denied => "",
        Oom::Allowed => "'allow-oom'",
    };
    let code = format!(
        "{COMMON}\nredis.register_function{{function_name='@', callback=function(KEYS, ARGV)\n\
         local run_by = tonumber(table.remove(ARGV))\nbegin(KEYS, ARGV)\n\
         if run_by and NOW > run_by then\n\
         return redis.error_reply('{STALE} the caller has given up; nothing was changed')\nend\n\
         local reply = (function()\n{body}\nend)()\nflush()\nreturn reply\nend, flags={{{flags}}}}}\n"
    );
    let digest = Sha256::digest(code.as_bytes());
    let name = format!("sessiontop_{}", hex::encode(&digest[..8]));
    let library = format!(
        "#!lua name={name}\n{}",
        code.replacen("function_name='@'", &format!("function_name='{name}'"), 1)
    );
    Script { name, library }
}

/// Whether Redis answered that it does not know the function.
pub(super) fn is_missing(error: &redis::RedisError) -> bool {
    error.to_string().contains("Function not found")
}

/// Whether `FUNCTION LOAD` failed only because the library is there already
/// (another node loaded it first).
pub(super) fn is_loaded(error: &redis::RedisError) -> bool {
    error.to_string().contains("already exists")
}

/// The names of the sessiontop function libraries Redis holds (none when
/// Redis does not say).
pub(super) async fn loaded_libraries(conn: &mut redis::aio::ConnectionManager) -> Vec<String> {
    let listed: redis::RedisResult<redis::Value> = redis::cmd("FUNCTION")
        .arg("LIST")
        .arg("LIBRARYNAME")
        .arg("sessiontop_*")
        .query_async(conn)
        .await;
    let Ok(redis::Value::Array(libraries)) = listed else {
        return Vec::new();
    };
    libraries.into_iter().filter_map(library_name).collect()
}

/// Removes the function libraries that other versions of sessiontop loaded
/// (named like ours, with another hash; `loaded` lists what Redis holds),
/// and returns how many it removed: without this, every upgrade would leave
/// its predecessor's code in Redis for good. A node of another version that
/// is still running loses nothing: its next call finds its function missing
/// and loads it again (`run_until`). Best effort: an error leaves them where
/// they are.
pub(super) async fn remove_other_versions(
    scripts: &Scripts,
    loaded: &[String],
    conn: &mut redis::aio::ConnectionManager,
) -> usize {
    let ours = scripts.all();
    let mut removed = 0;
    for name in loaded {
        if ours.iter().any(|script| &script.name == name) {
            continue;
        }
        let deleted: redis::RedisResult<()> = redis::cmd("FUNCTION")
            .arg("DELETE")
            .arg(name)
            .query_async(conn)
            .await;
        if deleted.is_ok() {
            removed += 1;
        }
    }
    removed
}

/// Loads every function this version calls that Redis does not hold yet
/// (`loaded`), so none has to be loaded at its first call: a Redis at its
/// `maxmemory` refuses `FUNCTION LOAD`, and the functions that must run then
/// (see `with_prelude`) would be missing. Best effort: what fails here is
/// loaded at its first call (`run_until`).
pub(super) async fn load_missing(
    scripts: &Scripts,
    loaded: &[String],
    conn: &mut redis::aio::ConnectionManager,
) {
    for script in scripts.all() {
        if loaded.contains(&script.name) {
            continue;
        }
        let loaded: redis::RedisResult<()> = redis::cmd("FUNCTION")
            .arg("LOAD")
            .arg(script.library())
            .query_async(conn)
            .await;
        if let Err(error) = loaded
            && !is_loaded(&error)
        {
            tracing::debug!(%error, function = script.name(), "cannot load a function yet");
        }
    }
}

/// The `library_name` of one `FUNCTION LIST` entry (a flat array in RESP2,
/// a map in RESP3).
fn library_name(library: redis::Value) -> Option<String> {
    let pairs: Vec<(redis::Value, redis::Value)> = match library {
        redis::Value::Map(pairs) => pairs,
        redis::Value::Array(items) => {
            let mut items = items.into_iter();
            std::iter::from_fn(|| Some((items.next()?, items.next()?))).collect()
        }
        _ => return None,
    };
    pairs.into_iter().find_map(|(key, value)| {
        let key: String = redis::from_redis_value(key).ok()?;
        (key == "library_name")
            .then(|| redis::from_redis_value(value).ok())
            .flatten()
    })
}

impl Scripts {
    fn all(&self) -> [&Script; 11] {
        [
            &self.login,
            &self.touch,
            &self.renew,
            &self.finish,
            &self.revoke_user,
            &self.mine,
            &self.revoke_mine,
            &self.get,
            &self.list,
            &self.claim,
            &self.rehash,
        ]
    }

    pub fn new() -> Self {
        use Oom::{Allowed, Denied};
        Scripts {
            login: with_prelude(include_str!("lua/login.lua"), Denied),
            touch: with_prelude(include_str!("lua/touch.lua"), Denied),
            renew: with_prelude(include_str!("lua/renew.lua"), Denied),
            finish: with_prelude(include_str!("lua/finish.lua"), Allowed),
            revoke_user: with_prelude(include_str!("lua/revoke_user.lua"), Allowed),
            mine: with_prelude(include_str!("lua/mine.lua"), Allowed),
            revoke_mine: with_prelude(include_str!("lua/revoke_mine.lua"), Allowed),
            get: with_prelude(include_str!("lua/get.lua"), Allowed),
            list: with_prelude(include_str!("lua/list.lua"), Allowed),
            claim: with_prelude(include_str!("lua/claim.lua"), Allowed),
            rehash: with_prelude(include_str!("lua/rehash.lua"), Denied),
        }
    }
}
