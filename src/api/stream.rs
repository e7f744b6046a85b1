//! What the event stream sends besides events: `resync`.

use serde::{Deserialize, Serialize};

/// Why a client must reload its snapshot.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ResyncReason {
    /// `Last-Event-ID` is older than the history ring holds.
    TooOld,
    /// `Last-Event-ID` names another server run.
    OtherInstance,
    /// `Last-Event-ID` is not an event id (`<instance>-<seq>`) at all.
    InvalidId,
    /// `Last-Event-ID` is newer than the newest event of this server run.
    Ahead,
    /// The client read too slowly and missed events.
    Lagged,
}

/// The data of a `resync` event.
#[derive(Debug, Clone, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Resync {
    pub reason: ResyncReason,
    pub instance: String,
}

/// The response header that names the node serving an event stream: behind a
/// load balancer, the node a dashboard is really attached to.
pub const NODE_HEADER: &str = "sessiontop-node";
