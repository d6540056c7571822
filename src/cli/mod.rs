//! What only the command line needs: the configuration file, the reports
//! of `broker` and `families`, and the `bench` load generator.

pub mod config_file;
pub mod loadgen;
pub mod report;
