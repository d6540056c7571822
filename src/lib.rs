//! partnermatch's gRPC edge: the protos and their generated types, proto ↔
//! domain conversion with validation, the one mapping of engine errors to
//! statuses, the three services, the layers in front of them and the server
//! that hosts them beside health and reflection. The engine
//! (`partnermatch-core`) knows nothing of any of this; this crate knows
//! nothing of scoring.

// Only what another crate uses is public; everything else is pub(crate).
#![warn(unreachable_pub)]

mod admission;
mod arrival;
mod auth;
mod body;
mod codec;
mod connection;
mod consistency;
mod convert;
mod error;
mod matcher;
pub mod methods;
mod metrics;
mod partnerships;
mod protocol;
mod registry;
mod replication;
mod server;
mod shares;
mod step;

use std::sync::Arc;

// The core's modules under the names the edge has always used for them.
use partnermatch_core::{dataset, domain, engine};

use crate::engine::{Engine, Error};

pub use auth::{Role, Tokens, new_token, token_hash};
pub use consistency::{MAX_VERSION_AHEAD, MIN_VERSION_HEADER, VERSION_HEADER};
pub use convert::{
    PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, evaluations_record_to_proto, match_query_from_proto,
    match_response_to_proto, school_from_proto, school_record_to_proto, school_to_proto,
};
pub use error::status_from_error;
pub use matcher::MatcherService;
pub use methods::required_role;
pub use metrics::{
    METRICS_MAX_CONNECTIONS, Metrics, metrics_router, resident_bytes, serve_metrics,
};
pub use partnerships::PartnershipService;
pub use registry::{ImportBudget, RegistryService};
pub use replication::{Follower, Replication, ReplicationSettings, follow};
pub use server::{
    ApiLayers, ServeOptions, TlsSettings, default_max_connections, open_files_limit,
    raise_open_files_limit, router, serve, service,
};

/// Code generated from `proto/partnermatch/v1/*.proto`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("partnermatch.v1");

    /// Encoded descriptor set of the partnermatch protos, with comments, for
    /// the reflection service.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("partnermatch_descriptor");
}

/// Runs a write off the async workers: a write syncs the database and
/// rebuilds the snapshot, which takes milliseconds on large registries.
async fn write_off_workers<T, F>(engine: &Arc<Engine>, write: F) -> Result<T, tonic::Status>
where
    T: Send + 'static,
    F: FnOnce(&Engine) -> Result<T, Error> + Send + 'static,
{
    let engine = Arc::clone(engine);
    tokio::task::spawn_blocking(move || write(&engine))
        .await
        .map_err(|join| tonic::Status::internal(format!("write task failed: {join}")))?
        .map_err(error::status_from_error)
}
