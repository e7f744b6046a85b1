//! The session server: the engine behind an HTTP API and an event stream.
//!
//! A thin axum layer. It maps HTTP to engine calls (`app_api`, `admin_api`),
//! streams engine events as SSE (`events`), checks API tokens (`auth`), turns
//! every failure into one JSON error shape (`error`), counts what Prometheus
//! wants (`metrics`) and describes itself (`openapi`). It holds no session
//! rules of its own, and it never logs, echoes or puts a token in a URL.
//!
//! `run` is what `sessiontop serve` calls; `serve` and `serve_engine` start a
//! server on a listener the caller bound, which is what tests and the
//! benchmark use.

pub mod admin_api;
pub mod app_api;
pub mod auth;
pub mod connection;
pub mod error;
pub mod events;
pub mod metrics;
pub mod openapi;
pub mod own_sessions;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::DefaultBodyLimit;
use color_eyre::eyre::WrapErr;
use secrecy::{ExposeSecret, SecretString};
use tokio::net::TcpListener;
use tokio::sync::watch;
use utoipa::OpenApi as _;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::config::{Config, ConfigError, ServerConfig};
use crate::engine::{EngineHandle, SystemClock};
use crate::store::{self, OpenedStore, Sessions};
use auth::{ApiTokens, Role, TokenError};
use metrics::Metrics;

/// Rendered events kept for stream clients that are a little behind the newest.
const FRAME_CACHE: usize = 4096;

/// What every handler shares.
pub struct ServerState {
    pub store: Sessions,
    /// The tokens in force, replaced when the token files change
    /// (`auth::follow_token_files`).
    tokens: watch::Receiver<ApiTokens>,
    metrics: Arc<Metrics>,
    keep_alive: Duration,
    /// Turns true when the server begins to shut down; event streams end then.
    shutdown: watch::Receiver<bool>,
    /// The serialized OpenAPI document, set once the router is built.
    openapi: OnceLock<Bytes>,
    /// Recent events as SSE frames, shared by the stream clients.
    frames: events::FrameCache,
}

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Tokens(#[from] TokenError),
    #[error(
        "server.listen = {listen:?} is not an address to listen on: use HOST:PORT, such as 127.0.0.1:7878"
    )]
    BadAddress { listen: String },
    #[error(
        "refusing to listen on {listen} (not a loopback address) without configured API tokens: set SESSIONTOP_APP_TOKEN and SESSIONTOP_ADMIN_TOKEN, or server.app_token_file and server.admin_token_file"
    )]
    NotLoopback { listen: String },
    #[error("cannot listen on {listen}: {reason}")]
    Bind { listen: String, reason: String },
    #[error(transparent)]
    Store(#[from] store::OpenError),
    #[error("the server stopped with an I/O error: {0}")]
    Io(#[from] std::io::Error),
}

/// The router and the OpenAPI document, built from one list of routes.
pub fn router(state: Arc<ServerState>, body_limit: usize) -> (Router, utoipa::openapi::OpenApi) {
    let (router, api) = OpenApiRouter::with_openapi(openapi::ApiDoc::openapi())
        .routes(routes!(app_api::login))
        .routes(routes!(app_api::touch))
        .routes(routes!(app_api::renew))
        .routes(routes!(app_api::logout))
        .routes(routes!(own_sessions::mine))
        .routes(routes!(own_sessions::revoke))
        .routes(routes!(own_sessions::revoke_others))
        .routes(routes!(admin_api::list_sessions))
        .routes(routes!(admin_api::get_session, admin_api::revoke_session))
        .routes(routes!(admin_api::touch_session))
        .routes(routes!(admin_api::revoke_user))
        .routes(routes!(admin_api::stats))
        .routes(routes!(events::stream))
        .routes(routes!(metrics::metrics))
        .routes(routes!(openapi::healthz))
        .routes(routes!(openapi::readyz))
        .routes(routes!(openapi::document))
        .split_for_parts();
    let router = router
        .route_layer(axum::middleware::from_fn(
            auth::refuse_queries_that_may_hold_secrets,
        ))
        .fallback(error::no_route)
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(axum::middleware::from_fn_with_state(
            body_limit,
            error::refuse_declared_too_large,
        ))
        .layer(axum::middleware::map_response(error::json_errors))
        .layer(axum::middleware::map_response(no_store))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            metrics::count_requests,
        ))
        .with_state(state);
    (router, api)
}

/// Answers hold tokens and session data: no cache may keep them (OWASP).
/// The event stream sets its own `no-cache`.
async fn no_store(mut response: axum::response::Response) -> axum::response::Response {
    response
        .headers_mut()
        .entry(axum::http::header::CACHE_CONTROL)
        .or_insert(axum::http::HeaderValue::from_static("no-store"));
    response
}

/// Runs a server with its own engine on `listener` until `shutdown` resolves.
/// The config must name both API tokens (see `run` for generating them).
/// The store the config names is opened first (see `open_store`).
pub async fn serve(
    config: Config,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    ApiTokens::from_config(&config.server)?;
    let opened = open_store(&config).await?;
    serve_store(opened.sessions, &config.server, listener, shutdown).await
}

/// Opens the store the config names and starts the engine on it.
pub async fn open_store(config: &Config) -> Result<OpenedStore, ServerError> {
    let options = config.store.options();
    store::open(
        &options,
        config.policy.to_policy()?,
        Arc::new(SystemClock),
        config.engine.to_driver_config()?,
    )
    .await
    .map_err(ServerError::Store)
}

/// Runs a server over an engine the caller started on the memory store (the benchmark fills it first).
pub async fn serve_engine(
    engine: EngineHandle,
    config: &ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    serve_store(Sessions::memory(engine), config, listener, shutdown).await
}

/// Runs a server over a store the caller opened, until `shutdown` resolves;
/// then stops the engine and, for a durable store, writes what is queued.
pub async fn serve_store(
    store: Sessions,
    config: &ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    let result = serve_sessions(store.clone(), config, listener, shutdown).await;
    // A file store's last commit and sync block: off the runtime's workers.
    if tokio::task::spawn_blocking(move || store.shutdown())
        .await
        .is_err()
    {
        tracing::error!("the store did not close cleanly");
    }
    result
}

async fn serve_sessions(
    store: Sessions,
    config: &ServerConfig,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServerError> {
    // Looked at before the files are read, so no change after is missed.
    let contents = auth::token_file_contents(config);
    let (tokens, tokens_in_force) = watch::channel(ApiTokens::from_config(config)?);
    let (stop, stopped) = watch::channel(false);
    let metrics = Arc::new(Metrics::new());
    let state = Arc::new(ServerState {
        store: store.clone(),
        tokens: tokens_in_force,
        metrics: metrics.clone(),
        keep_alive: config.keep_alive.max(Duration::from_millis(10)),
        shutdown: stopped,
        openapi: OnceLock::new(),
        frames: events::FrameCache::new(FRAME_CACHE),
    });
    let (router, api) = router(state.clone(), config.body_limit);
    let mut document = serde_json::to_value(&api).expect("the OpenAPI document always serializes");
    openapi::refine(&mut document);
    let _ = state.openapi.set(Bytes::from(document.to_string()));
    let refusals = metrics.refusals.clone();
    let follower = tokio::spawn(metrics::follow_expiries(store.clone(), metrics));
    let token_files = tokio::spawn(auth::follow_token_files(tokens, config.clone(), contents));
    let tails = tokio::spawn(async {
        let mut every = tokio::time::interval(Duration::from_secs(1));
        loop {
            every.tick().await;
            crate::api::error::log_unlogged_503s();
        }
    });
    let limits = connection::Limits {
        request_header_timeout: config.request_header_timeout,
        request_body_timeout: config.request_body_timeout,
        connection_idle_timeout: config.connection_idle_timeout,
        max_connections: config.max_connections,
    };
    let result = connection::serve(listener, router, limits, refusals, async move {
        shutdown.await;
        tracing::info!("shutting down: finishing requests in flight, closing event streams");
        let _ = stop.send(true);
    })
    .await;
    follower.abort();
    tails.abort();
    token_files.abort();
    tracing::info!("server stopped");
    Ok(result?)
}

/// `sessiontop serve`: tokens, address check, bind, serve until SIGINT/SIGTERM.
pub fn run(mut config: Config) -> color_eyre::Result<()> {
    init_logging(config.log_filter.as_deref());
    let generated = settle_tokens(&mut config.server);
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .wrap_err("cannot start the tokio runtime")?;
    runtime.block_on(async move {
        let listener = bind(&config.server.listen, !generated.is_empty()).await?;
        let local = listener.local_addr().map_err(ServerError::Io)?;
        // Checked before anything is printed, so a bad token file prints no tokens.
        ApiTokens::from_config(&config.server)?;
        let opened = open_store(&config).await?;
        let kept = match opened.sessions.kind() {
            store::StoreKind::Memory => {
                "sessions are kept in memory only: a restart ends them all".to_owned()
            }
            store::StoreKind::Redis(url) => format!(
                "sessions are kept in Redis at {url} under the key prefix {:?}, shared by every node on it: {} live, this is node {}",
                config.store.key_prefix,
                opened.loaded,
                opened.sessions.node()
            ),
            kind => {
                // Reading the figures ends first what ran out while no server ran.
                let live = opened
                    .sessions
                    .stats()
                    .await
                    .map_or(opened.loaded, |stats| stats.active as usize);
                let count = |n: usize| crate::units::thousands(n as u64);
                match opened.loaded.saturating_sub(live) {
                    0 => format!(
                        "sessions are kept in {kind}: {} loaded",
                        count(opened.loaded)
                    ),
                    ended => format!(
                        "sessions are kept in {kind}: {} loaded, of which {} had run out while no server ran and ended now ({} live)",
                        count(opened.loaded),
                        count(ended),
                        count(live),
                    ),
                }
            }
        };
        if !generated.is_empty() {
            if generated.len() == 2 {
                println!("No API tokens are configured; these were generated for this run and are not shown again:");
            } else {
                println!("This API token was generated for this run (the other is configured) and is not shown again:");
            }
            for (role, token) in &generated {
                let name = match role {
                    Role::App => "app token:  ",
                    Role::Admin => "admin token:",
                };
                println!("  {name} {}", token.expose_secret());
            }
            if matches!(opened.sessions.kind(), store::StoreKind::Redis(_)) {
                println!("These are this node's own: give every node on the Redis store the same tokens (SESSIONTOP_APP_TOKEN, SESSIONTOP_ADMIN_TOKEN), so that any node answers any request.");
            }
        }
        println!("{kept}");
        println!("listening on http://{local}");
        tracing::info!(%local, "listening");
        serve_store(opened.sessions, &config.server, listener, shutdown_signal()).await?;
        Ok(())
    })
}

/// Generates any token that neither the config, the environment (folded in
/// by `cli`) nor a token file gives.
fn settle_tokens(server: &mut ServerConfig) -> Vec<(Role, SecretString)> {
    let mut generated = Vec::new();
    for role in [Role::App, Role::Admin] {
        let (token, file) = match role {
            Role::App => (&mut server.app_token, &server.app_token_file),
            Role::Admin => (&mut server.admin_token, &server.admin_token_file),
        };
        if token.is_none() && file.is_none() {
            let fresh = SecretString::from(auth::generate_token(role));
            *token = Some(fresh.clone());
            generated.push((role, fresh));
        }
    }
    generated
}

/// Binds `listen`, refusing a non-loopback address when tokens were generated.
async fn bind(listen: &str, tokens_generated: bool) -> Result<TcpListener, ServerError> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host(listen)
        .await
        .map_err(|_| ServerError::BadAddress {
            listen: listen.to_owned(),
        })?
        .collect();
    if addrs.is_empty() {
        return Err(ServerError::BadAddress {
            listen: listen.to_owned(),
        });
    }
    if tokens_generated && !addrs.iter().all(|a| a.ip().is_loopback()) {
        return Err(ServerError::NotLoopback {
            listen: listen.to_owned(),
        });
    }
    TcpListener::bind(&addrs[..]).await.map_err(|e| {
        let reason = match e.kind() {
            std::io::ErrorKind::AddrInUse => {
                "the address is already in use; stop the other server or choose another with --listen".to_owned()
            }
            std::io::ErrorKind::PermissionDenied => {
                "permission denied; ports below 1024 need privileges, choose another with --listen".to_owned()
            }
            std::io::ErrorKind::AddrNotAvailable => {
                "this machine has no such address; choose another with --listen".to_owned()
            }
            _ => e.to_string(),
        };
        ServerError::Bind {
            listen: listen.to_owned(),
            reason,
        }
    })
}

/// Resolves on SIGINT (Ctrl-C), SIGTERM or SIGHUP (the terminal `serve`
/// ran in closed): each stops the server gracefully, writing what it holds.
async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let on = |kind| async move {
        match tokio::signal::unix::signal(kind) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(unix)]
    let (terminate, hangup) = (
        on(tokio::signal::unix::SignalKind::terminate()),
        on(tokio::signal::unix::SignalKind::hangup()),
    );
    #[cfg(not(unix))]
    let (terminate, hangup) = (std::future::pending::<()>(), std::future::pending::<()>());
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
        _ = hangup => {}
    }
}

/// Structured logs to stderr; `filter` (from `SESSIONTOP_LOG` or `RUST_LOG`)
/// chooses what, "info" by default.
fn init_logging(filter: Option<&str>) {
    use tracing_subscriber::EnvFilter;
    let filter = filter
        .and_then(|f| EnvFilter::try_new(f).ok())
        .unwrap_or_else(|| EnvFilter::new("info"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .try_init();
}
