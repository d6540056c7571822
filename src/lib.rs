//! partnermatch: a school partner-matching engine served over gRPC.
//!
//! - [`domain`]: the vocabulary (schools, phases, stages, focus areas).
//! - [`engine`]: registry graph, scoring and ranking; no gRPC.
//! - [`dataset`]: the synthetic Wales-like generator and CSV import.
//! - [`config_file`]: the TOML configuration file under env and flags.
//! - [`api`]: the tonic services, proto conversion and error mapping.
//! - [`store`]: durable storage of the registry (SQLite).
//! - [`report`]: tables, CSV and JSON of the `broker` and `families` commands.
//! - [`loadgen`]: `partnermatch bench`, a loopback load generator.

pub mod api;
pub mod config_file;
pub mod dataset;
pub mod domain;
pub mod engine;
pub mod loadgen;
pub mod report;
pub mod store;
