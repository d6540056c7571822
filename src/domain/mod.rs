//! The vocabulary of school-to-school support: schools, phases, improvement
//! stages, language media and focus areas (design §2). No gRPC, no I/O.

mod focus;
mod geo;
mod school;
mod validation;
mod vocabulary;

pub use focus::{FocusArea, FocusSet};
pub use geo::{EARTH_RADIUS_KM, GeoPoint, UnitVector};
pub use school::{ContextMeasures, School, SchoolId, StoredSchool, limits};
pub use validation::{FieldViolation, Violations};
pub use vocabulary::{LanguageMedium, MatchMode, Phase, PhaseRelation, Stage};
