//! The scoring model (docs/matching.md): nine components, each in [0, 1],
//! combined by a weighted mean.
//!
//! - [`factor`]: the factors and the table of weights keyed by them;
//! - [`profile`]: what scoring reads of a school;
//! - [`values`]: each component's value and the score summed from them —
//!   the partial score (every term but proximity, so the search can rule a
//!   school out before paying for its distance) plus the proximity term;
//! - [`bounds`]: the pruning bounds of the search;
//! - [`explain`]: each component's detail and reason.

mod bounds;
mod explain;
mod factor;
mod profile;
mod values;

pub use explain::Component;
pub use factor::{Factor, PerFactor};

pub(crate) use bounds::{BucketTerm, GroupBounder, GroupSummary, SplitCoverage, f32_down, f32_up};
pub use profile::AreaGrades;
pub(crate) use profile::{AreaLevels, NO_BODY, NO_FAMILY, Profile, TrackRecord};
pub(crate) use values::{ScoringContext, phase_affinity};
