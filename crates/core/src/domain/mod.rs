//! The vocabulary of school-to-school support: schools, phases, improvement
//! stages, language media and focus areas (docs/domain.md). No gRPC, no I/O.

mod affiliation;
mod closed_set;
mod evidence;
mod focus;
mod geo;
mod partnership;
mod school;
mod validation;
mod vocabulary;

pub use affiliation::limits as affiliation_limits;
pub use affiliation::{Affiliation, AffiliationKind, Affiliations, same_body};
pub use closed_set::{ClosedSet, UnknownName, same_name};
pub use evidence::limits as evidence_limits;
pub use evidence::{
    Derivation, Evaluation, EvaluationArea, EvaluationFramework, Evidence, EvidenceRules, Grade,
    Judgement, derive as derive_evidence, future_evaluations, latest_evaluation_date,
    latest_grade_between, validate_evaluations,
};
pub use focus::{FocusArea, FocusSet};
pub use geo::{EARTH_RADIUS_KM, GeoPoint, UnitVector};
pub use partnership::limits as partnership_limits;
pub use partnership::{
    ImpactRating, Member, MemberRole, Partnership, PartnershipId, PartnershipKind,
    PartnershipStatus, Plan, validate_members, validate_texts,
};
pub use school::{ContextMeasures, School, SchoolFields, SchoolId, StoredSchool, limits};
pub use validation::{
    FieldViolation, MAX_REPORTED_VIOLATIONS, TextKind, Violations, parse_date, printable, quoted,
    unsafe_char,
};
pub use vocabulary::{LanguageMedium, MatchMode, Phase, PhaseRelation, Stage, TrustRelation};
