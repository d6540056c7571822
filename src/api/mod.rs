//! The gRPC edge: generated types, proto↔domain conversion with validation,
//! the one error mapping, the two services and the server that hosts them
//! beside health and reflection. Knows nothing of scoring.

mod convert;
mod error;
mod matcher;
mod registry;
mod server;

pub use convert::{
    PAGE_SIZE_DEFAULT, PAGE_SIZE_MAX, match_query_from_proto, school_from_proto, school_to_proto,
};
pub use error::status_from_error;
pub use matcher::MatcherService;
pub use registry::{MAX_IMPORT_MESSAGES, RegistryService};
pub use server::{ServeOptions, router, serve};

/// Code generated from `proto/partnermatch/v1/*.proto`.
pub mod pb {
    #![allow(clippy::all, missing_docs)]
    tonic::include_proto!("partnermatch.v1");

    /// Encoded descriptor set of the partnermatch protos, with comments, for
    /// the reflection service.
    pub const FILE_DESCRIPTOR_SET: &[u8] =
        tonic::include_file_descriptor_set!("partnermatch_descriptor");
}
