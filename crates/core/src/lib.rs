//! partnermatch's core: the vocabulary of school-to-school support
//! ([`domain`]), the engine that registers schools and partnerships and
//! finds, scores and explains partners ([`engine`]), and the data it starts
//! from ([`dataset`]: the synthetic Wales-like population and CSV import),
//! and how well it matches against baselines ([`evaluation`]).
//!
//! No gRPC, no SQL, no command line: the engine stores through its
//! [`engine::Persistence`] port, which `partnermatch-store` implements, and
//! is served by the `partnermatch` crate.

// Only what another crate uses is public; everything else is pub(crate).
#![warn(unreachable_pub)]

pub mod dataset;
pub mod domain;
pub mod engine;
pub mod evaluation;
