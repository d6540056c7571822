//! What a match asks, parsed once at the edge: the [`Constraints`] that
//! Match, brokerage and group formation share, and the [`MatchQuery`] of
//! one seeker.

use crate::domain::{FocusSet, MatchMode, PhaseRelation, SchoolId, TrustRelation, Violations};

use super::super::config::{ScoringConfig, Weights};

/// Bounds on match requests.
pub mod limits {
    pub const DEFAULT_LIMIT: usize = 10;
    pub const MAX_LIMIT: usize = 100;
    pub const MAX_DISTANCE_KM: f64 = 2000.0;
    pub const MIN_PROXIMITY_SCALE_KM: f64 = 1.0;
    pub const MAX_PROXIMITY_SCALE_KM: f64 = 500.0;
    pub const MAX_EXCLUDE_IDS: usize = 1000;
}

/// What partners may be and how they are scored: the hard constraints and
/// the scoring options shared by a Match, a brokerage run and group
/// formation.
#[derive(Debug, Clone, PartialEq)]
pub struct Constraints {
    pub mode: MatchMode,
    pub phase_relation: PhaseRelation,
    /// Overrides the seeker's needs (SUPPORT, PEER) or strengths (LEAD).
    pub focus: Option<FocusSet>,
    pub max_distance_km: Option<f64>,
    pub same_consortium: bool,
    pub same_local_authority: bool,
    /// Only partners in the seeker's language group (English-medium, or
    /// Welsh-medium and bilingual); an unknown medium never excludes.
    pub same_language_group: bool,
    /// Which trusts partners may be in, relative to the seeker's.
    pub trust_relation: TrustRelation,
    /// Only partners in the seeker's diocese.
    pub same_diocese: bool,
    pub weights: Weights,
    pub proximity_scale_km: f64,
}

impl Constraints {
    /// Constraints with every option at its default.
    pub fn new(mode: MatchMode, config: &ScoringConfig) -> Constraints {
        Constraints {
            mode,
            phase_relation: PhaseRelation::SamePhase,
            focus: None,
            max_distance_km: None,
            same_consortium: false,
            same_local_authority: false,
            same_language_group: false,
            trust_relation: TrustRelation::Any,
            same_diocese: false,
            weights: config.weights,
            proximity_scale_km: config.proximity_scale_km,
        }
    }

    /// Every rule on the values; field paths are the proto's.
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        if let Some(max) = self.max_distance_km {
            v.check_range("max_distance_km", max, 0.0, limits::MAX_DISTANCE_KM);
        }
        v.check_range(
            "proximity_scale_km",
            self.proximity_scale_km,
            limits::MIN_PROXIMITY_SCALE_KM,
            limits::MAX_PROXIMITY_SCALE_KM,
        );
        let weights = self.weights.validate();
        if weights.is_empty() && self.weights.all_zero() {
            v.push("weights", "at least one weight must be positive");
        }
        v.extend(weights.prefixed("weights"));
        v
    }
}

/// A match request: partners for one seeker under some constraints.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchQuery {
    pub seeker: SchoolId,
    pub constraints: Constraints,
    pub limit: usize,
    /// Schools never to return (ids unknown to the registry are ignored).
    pub exclude: Vec<SchoolId>,
    /// Return each candidate's components with their reasons.
    pub explain: bool,
}

impl MatchQuery {
    /// A query with every option at its default.
    pub fn new(seeker: SchoolId, mode: MatchMode, config: &ScoringConfig) -> MatchQuery {
        MatchQuery {
            seeker,
            constraints: Constraints::new(mode, config),
            limit: limits::DEFAULT_LIMIT,
            exclude: Vec::new(),
            explain: false,
        }
    }

    /// Every rule on the request's own values; field paths are the proto's.
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        if !(1..=limits::MAX_LIMIT).contains(&self.limit) {
            v.push(
                "limit",
                format!(
                    "must be between 1 and {}, got {}",
                    limits::MAX_LIMIT,
                    self.limit
                ),
            );
        }
        v.check_count(
            "exclude_ids",
            "ids",
            self.exclude.len(),
            limits::MAX_EXCLUDE_IDS,
        );
        v.extend(self.constraints.validate());
        v
    }
}
