//! Every tunable number of the engine, with its default and why.

use std::ops::{Index, IndexMut};

use crate::domain::{EvidenceRules, Violations};

use super::scoring::{Factor, PerFactor};

/// Relative weights of the scoring components, by factor. Only ratios
/// matter: the score is the weighted mean of the components.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Weights(PerFactor<f64>);

/// Largest weight a request may give; keeps sums far from overflow and makes
/// typos (1e300) visible as errors.
pub(crate) const MAX_WEIGHT: f64 = 1000.0;

impl Default for Weights {
    /// Stage fit is what Estyn found matters most ("similar stages of their
    /// journey of improvement"), then distance and the right focus (para 40),
    /// then context and a proven track record; phase, language, size and
    /// load refine. Proximity weighs a little more than stage since
    /// 2026-12-07: with the faster fall beyond regular visits, it brought
    /// travel on the Welsh data from 3.22 to 2.92 times the nearest
    /// feasible partners while similar stages stayed at 96% and language
    /// fit at 96% (docs/evaluation.md).
    fn default() -> Weights {
        Weights(PerFactor::from_fn(|factor| match factor {
            Factor::Proximity => 0.24,
            Factor::Stage => 0.22,
            Factor::Focus | Factor::Language => 0.15,
            Factor::Context | Factor::TrackRecord => 0.07,
            Factor::Load => 0.04,
            Factor::Phase | Factor::Size => 0.03,
        }))
    }
}

impl Index<Factor> for Weights {
    type Output = f64;

    fn index(&self, factor: Factor) -> &f64 {
        &self.0[factor]
    }
}

impl IndexMut<Factor> for Weights {
    fn index_mut(&mut self, factor: Factor) -> &mut f64 {
        &mut self.0[factor]
    }
}

impl Weights {
    /// Each weight's range; field paths are the factor names.
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        for (factor, weight) in self.0.iter() {
            v.check_range(factor.name(), *weight, 0.0, MAX_WEIGHT);
        }
        v
    }

    /// True when no weight is positive, so no score could be formed.
    pub fn all_zero(&self) -> bool {
        self.0.values().all(|weight| *weight <= 0.0)
    }

    /// The weights scaled to sum to 1; weights that already do (the
    /// defaults, give or take a last bit) are kept as given, so
    /// explanations show 0.3 rather than 0.29999999999999993.
    pub(crate) fn normalised(&self) -> PerFactor<f64> {
        let total: f64 = self.0.values().sum();
        let total = if (total - 1.0).abs() < 1e-9 {
            1.0
        } else {
            total
        };
        PerFactor::from_fn(|factor| self.0[factor] / total)
    }
}

/// The scoring model's curves and scales (docs/matching.md).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoringConfig {
    pub weights: Weights,
    /// SUPPORT and LEAD: value by how many stages the supporter is ahead
    /// (0, 1, 2, 3). One ahead is best; a large gap rarely works.
    pub directed_stage_curve: [f64; 4],
    /// PEER: value by stage difference (0, 1, 2, 3).
    pub peer_stage_curve: [f64; 4],
    /// Distance at which proximity falls to 1/e, km.
    pub proximity_scale_km: f64,
    /// The distance up to which visits can be regular, km: beyond it
    /// proximity falls faster still (by `e` every
    /// `beyond_regular_visits_km` more), so a partner one stage ahead but
    /// far beyond it does not beat a nearer one two stages ahead.
    pub regular_visit_km: f64,
    /// How fast proximity falls beyond `regular_visit_km`, km per factor e.
    pub beyond_regular_visits_km: f64,
    /// Challenge-index difference at which context similarity reaches 0.
    pub challenge_range: f64,
    /// Share of the context component given by being in the same family.
    pub same_family_bonus: f64,
    /// Pupil-number ratio at which size similarity reaches 0.
    pub size_ratio_floor: f64,
    /// Value of a component whose inputs are unknown.
    pub neutral: f64,
    /// Track record: credit for a focus area proven by a completed
    /// partnership rated YELLOW (GREEN earns 1).
    pub yellow_track_record: f64,
    /// Focus: the share of the component earned by covering any of the
    /// areas wanted; the rest grows with the share covered.
    pub focus_any_credit: f64,
}

impl Default for ScoringConfig {
    fn default() -> ScoringConfig {
        ScoringConfig {
            weights: Weights::default(),
            directed_stage_curve: [0.85, 1.0, 0.3, 0.05],
            peer_stage_curve: [1.0, 0.6, 0.15, 0.0],
            proximity_scale_km: 40.0,
            regular_visit_km: 40.0,
            beyond_regular_visits_km: 15.0,
            challenge_range: 30.0,
            same_family_bonus: 0.25,
            size_ratio_floor: 10.0,
            neutral: 0.5,
            yellow_track_record: 0.6,
            focus_any_credit: 0.5,
        }
    }
}

/// Weights of the index of challenge (docs/domain.md), renormalised over the
/// measures that are known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ChallengeWeights {
    pub fsm: f64,
    pub deprivation: f64,
    pub aln: f64,
    pub eal: f64,
}

impl Default for ChallengeWeights {
    fn default() -> ChallengeWeights {
        ChallengeWeights {
            fsm: 0.5,
            deprivation: 0.2,
            aln: 0.15,
            eal: 0.15,
        }
    }
}

/// How families of schools are cut (docs/domain.md).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FamilyConfig {
    /// Target family size (Welsh families: about 11).
    pub target_size: usize,
    /// Smallest family when a group can be split (island authorities: 6–8).
    pub min_size: usize,
}

impl Default for FamilyConfig {
    fn default() -> FamilyConfig {
        FamilyConfig {
            target_size: 11,
            min_size: 6,
        }
    }
}

/// How evidence is read (docs/domain.md, "Evidence").
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvidenceConfig {
    /// Evidence older than this many years counts as unknown.
    pub max_age_years: i16,
    /// The date evidence is judged at; `None` is the day the engine opens
    /// (fixed for its life, so answers do not change at midnight).
    pub as_of: Option<jiff::civil::Date>,
    /// The stage rule's bar for green by area grades (0–1): leadership
    /// strong or better and at least this share of the graded areas.
    pub green_share: f64,
}

impl Default for EvidenceConfig {
    fn default() -> EvidenceConfig {
        EvidenceConfig {
            max_age_years: EvidenceRules::DEFAULT_MAX_AGE_YEARS,
            as_of: None,
            green_share: EvidenceRules::DEFAULT_GREEN_SHARE,
        }
    }
}

impl EvidenceConfig {
    /// Largest `max_age_years` accepted.
    pub const MAX_AGE_YEARS: i16 = 100;

    /// The rules, as of the configured date or today.
    pub fn rules(&self) -> EvidenceRules {
        EvidenceRules {
            as_of: self.as_of.unwrap_or_else(|| jiff::Zoned::now().date()),
            max_age_years: self.max_age_years,
            green_share: self.green_share,
        }
    }
}

/// Everything the engine can be tuned with.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct EngineConfig {
    pub scoring: ScoringConfig,
    pub challenge: ChallengeWeights,
    pub families: FamilyConfig,
    pub evidence: EvidenceConfig,
}
