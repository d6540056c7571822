//! What the tests share, by concern: the server and its clients, fixtures,
//! status assertions, the binary as a process, a raw HTTP/2 client, the
//! external tools (grpcurl, Python) and databases on the test PostgreSQL.

pub mod fixtures;
pub mod postgres;
pub mod process;
pub mod server;
pub mod status;
pub mod tools;
pub mod wire;
