//! What the tests share, by concern: the server and its clients, fixtures,
//! status assertions, the binary as a process, a raw HTTP/2 client, and the
//! external tools (grpcurl, Python).

pub mod fixtures;
pub mod process;
pub mod server;
pub mod status;
pub mod tools;
pub mod wire;
