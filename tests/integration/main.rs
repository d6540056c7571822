//! partnermatch's integration tests: one binary, one module per area. Every
//! server runs on 127.0.0.1:0 and is called through the generated client,
//! real `grpcurl` and a Python `grpcio` client.

mod abandoned;
mod affiliations;
mod attacks;
mod auth;
mod binary;
mod brokerage;
mod concurrency;
mod conversions;
mod durability;
mod evidence;
mod exhaustion;
mod external;
mod hostile;
mod imports;
mod limits;
mod loadgen;
mod oracle;
mod partnerships;
mod quality;
mod ranking;
mod registry;
mod replicas;
mod standalone;
mod support;
mod tls;
mod validation;
mod wales;
