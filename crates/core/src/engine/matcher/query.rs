//! What a match asks: the validated request and its bounds.

use crate::domain::{MatchMode, PhaseRelation, SchoolId, Violations};

use super::super::config::{ScoringConfig, Weights};
use crate::domain::FocusSet;

/// Bounds on match requests.
pub mod limits {
    pub const DEFAULT_LIMIT: usize = 10;
    pub const MAX_LIMIT: usize = 100;
    pub const MAX_DISTANCE_KM: f64 = 2000.0;
    pub const MIN_PROXIMITY_SCALE_KM: f64 = 1.0;
    pub const MAX_PROXIMITY_SCALE_KM: f64 = 500.0;
    pub const MAX_EXCLUDE_IDS: usize = 1000;
}

/// A validated-on-use match request.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchQuery {
    pub school_id: String,
    pub mode: MatchMode,
    pub phase_relation: PhaseRelation,
    /// Overrides the seeker's needs (SUPPORT, PEER) or strengths (LEAD).
    pub focus: Option<FocusSet>,
    pub limit: usize,
    pub max_distance_km: Option<f64>,
    pub same_consortium: bool,
    pub same_local_authority: bool,
    /// Only partners in the seeker's language group (English-medium, or
    /// Welsh-medium and bilingual); an unknown medium never excludes.
    pub same_language_group: bool,
    pub exclude_ids: Vec<String>,
    pub weights: Weights,
    pub proximity_scale_km: f64,
    /// Return each candidate's components with their reasons.
    pub explain: bool,
}

impl MatchQuery {
    /// A query with every option at its default.
    pub fn new(
        school_id: impl Into<String>,
        mode: MatchMode,
        config: &ScoringConfig,
    ) -> MatchQuery {
        MatchQuery {
            school_id: school_id.into(),
            mode,
            phase_relation: PhaseRelation::SamePhase,
            focus: None,
            limit: limits::DEFAULT_LIMIT,
            max_distance_km: None,
            same_consortium: false,
            same_local_authority: false,
            same_language_group: false,
            exclude_ids: Vec::new(),
            weights: config.weights,
            proximity_scale_km: config.proximity_scale_km,
            explain: false,
        }
    }

    /// Every rule on the request's own values; field paths are the proto's.
    pub fn validate(&self) -> Violations {
        self.violations(limits::MAX_LIMIT)
    }

    /// The rules with `limit` up to `max_limit`: brokerage asks the search
    /// for longer lists than a client may.
    pub(super) fn violations(&self, max_limit: usize) -> Violations {
        let mut v = Violations::new();
        if let Err(problem) = SchoolId::parse(&self.school_id) {
            v.push("school_id", problem);
        }
        if self.limit == 0 || self.limit > max_limit {
            v.push(
                "limit",
                format!("must be between 1 and {max_limit}, got {}", self.limit),
            );
        }
        if let Some(max) = self.max_distance_km {
            v.check_range("max_distance_km", max, 0.0, limits::MAX_DISTANCE_KM);
        }
        v.check_range(
            "proximity_scale_km",
            self.proximity_scale_km,
            limits::MIN_PROXIMITY_SCALE_KM,
            limits::MAX_PROXIMITY_SCALE_KM,
        );
        if self.exclude_ids.len() > limits::MAX_EXCLUDE_IDS {
            v.push(
                "exclude_ids",
                format!(
                    "must have at most {} ids, got {}",
                    limits::MAX_EXCLUDE_IDS,
                    self.exclude_ids.len()
                ),
            );
        } else {
            for (i, id) in self.exclude_ids.iter().enumerate() {
                if let Err(problem) = SchoolId::parse(id) {
                    v.push(format!("exclude_ids[{i}]"), problem);
                }
            }
        }
        let weights = self.weights.validate();
        if weights.is_empty() && self.weights.all_zero() {
            v.push("weights", "at least one weight must be positive");
        }
        v.extend(weights.prefixed("weights"));
        v
    }
}
