//! The baselines the engine is measured against (docs/evaluation.md): what a
//! broker without the engine would do. Both honour the request's area and
//! distance constraints, as the engine does, but nothing else of it.

use crate::domain::AffiliationKind::{Diocese, Trust};
use crate::domain::{
    AffiliationKind, LanguageMedium, Phase, School, Stage, StoredSchool, same_body,
};
use crate::engine::{Constraints, Snapshot};

/// How many of the most similar schools a comparator lists before the
/// stage cut (as DfE's school comparison lists do).
pub const DFE_COMPARATOR_POOL: usize = 30;

/// Weights of the comparator's measures, renormalised over those known for
/// both schools.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DfeWeights {
    pub pupils: f64,
    pub fsm: f64,
    pub sen: f64,
}

impl Default for DfeWeights {
    fn default() -> DfeWeights {
        DfeWeights {
            pupils: 0.5,
            fsm: 0.4,
            sen: 0.1,
        }
    }
}

/// The filters every baseline shares with the engine: open, another
/// school, the phase relation, area, language, trust and diocese
/// constraints and the distance limit.
fn admits(constraints: &Constraints, seeker: &School, partner: &School) -> bool {
    let same_text = |a: &str, b: &str| a.trim().eq_ignore_ascii_case(b.trim());
    partner.open
        && partner.id != seeker.id
        && constraints
            .phase_relation
            .admits(seeker.phase, partner.phase)
        && (!constraints.same_consortium || same_text(&seeker.consortium, &partner.consortium))
        && (!constraints.same_local_authority
            || same_text(&seeker.local_authority, &partner.local_authority))
        && (!constraints.same_language_group
            || LanguageMedium::same_group(seeker.language_medium, partner.language_medium))
        && constraints
            .trust_relation
            .admits(code(seeker, Trust), code(partner, Trust))
        && (!constraints.same_diocese || same_body(code(seeker, Diocese), code(partner, Diocese)))
        && constraints
            .max_distance_km
            .is_none_or(|max| seeker.location.distance_km(partner.location) <= max)
}

/// The code of the school's body of `kind`, if it belongs to one.
fn code(school: &School, kind: AffiliationKind) -> Option<&str> {
    school.affiliations.get(kind).map(|body| body.code.as_str())
}

/// Not behind the seeker (an unknown stage on either side passes).
fn not_behind(seeker: &StoredSchool, partner: &StoredSchool) -> bool {
    match (seeker.stage(), partner.stage()) {
        (Some(s), Some(p)) => p >= s,
        _ => true,
    }
}

/// The schools the baselines' filters admit for the seeker, ordered by
/// `key` (smallest first; schools without one are left out), ties by
/// snapshot index (id order).
fn ranked_by(
    snapshot: &Snapshot,
    seeker: u32,
    constraints: &Constraints,
    key: impl Fn(&StoredSchool) -> Option<f64>,
) -> impl Iterator<Item = u32> {
    let seeker = &snapshot.school(seeker).school;
    let mut ranked: Vec<(f64, u32)> = snapshot
        .schools()
        .indexed()
        .filter(|(_, stored)| admits(constraints, seeker, &stored.school))
        .filter_map(|(index, stored)| key(stored).map(|key| (key, index)))
        .collect();
    // Ties by id.
    ranked.sort_by(|a, b| {
        a.0.total_cmp(&b.0)
            .then_with(|| snapshot.order_key(a.1).cmp(&snapshot.order_key(b.1)))
    });
    ranked.into_iter().map(|(_, index)| index)
}

/// The naive broker: the `k` nearest green schools (whatever their load),
/// nearest first.
pub(super) fn nearest_green(
    snapshot: &Snapshot,
    seeker: u32,
    constraints: &Constraints,
    k: usize,
) -> Vec<u32> {
    let location = snapshot.school(seeker).school.location;
    ranked_by(snapshot, seeker, constraints, |partner| {
        (partner.stage() == Some(Stage::Green))
            .then(|| location.distance_km(partner.school.location))
    })
    .take(k)
    .collect()
}

/// Each measure's range (largest minus smallest known value) among the
/// open schools of each phase.
#[derive(Debug, Clone)]
pub(super) struct Comparator {
    weights: DfeWeights,
    ranges: Vec<(Phase, [f64; 3])>,
}

impl Comparator {
    pub(super) fn new(snapshot: &Snapshot) -> Comparator {
        let ranges = Phase::ALL
            .into_iter()
            .map(|phase| {
                let mut low = [f64::INFINITY; 3];
                let mut high = [f64::NEG_INFINITY; 3];
                for stored in snapshot.schools() {
                    let school = &stored.school;
                    if !school.open || school.phase != phase {
                        continue;
                    }
                    for (measure, value) in measures(school).into_iter().enumerate() {
                        if let Some(value) = value {
                            low[measure] = low[measure].min(value);
                            high[measure] = high[measure].max(value);
                        }
                    }
                }
                let range = std::array::from_fn(|measure| (high[measure] - low[measure]).max(0.0));
                (phase, range)
            })
            .collect();
        Comparator {
            weights: DfeWeights::default(),
            ranges,
        }
    }

    /// Range-normalised weighted Euclidean distance over the measures known
    /// for both schools (weights renormalised over them); `None` when no
    /// measure is known for both.
    pub(super) fn dissimilarity(&self, seeker: &School, partner: &School) -> Option<f64> {
        let ranges = self
            .ranges
            .iter()
            .find(|(phase, _)| *phase == seeker.phase)
            .map_or([0.0; 3], |(_, ranges)| *ranges);
        let weights = [self.weights.pupils, self.weights.fsm, self.weights.sen];
        let (mut sum, mut weight) = (0.0, 0.0);
        for (measure, (a, b)) in measures(seeker)
            .into_iter()
            .zip(measures(partner))
            .enumerate()
        {
            if let (Some(a), Some(b)) = (a, b) {
                let range = ranges[measure];
                let gap = if range > 0.0 { (a - b) / range } else { 0.0 };
                sum += weights[measure] * gap * gap;
                weight += weights[measure];
            }
        }
        (weight > 0.0).then(|| (sum / weight).sqrt())
    }

    /// The [`DFE_COMPARATOR_POOL`] most similar schools, then the first `k`
    /// of them not behind the seeker.
    pub(super) fn place(
        &self,
        snapshot: &Snapshot,
        seeker: u32,
        constraints: &Constraints,
        k: usize,
    ) -> Vec<u32> {
        let seeker_school = snapshot.school(seeker);
        ranked_by(snapshot, seeker, constraints, |partner| {
            self.dissimilarity(&seeker_school.school, &partner.school)
        })
        .take(DFE_COMPARATOR_POOL)
        .filter(|&index| not_behind(seeker_school, snapshot.school(index)))
        .take(k)
        .collect()
    }
}

/// Pupils, % FSM and % SEN/ALN, where known.
fn measures(school: &School) -> [Option<f64>; 3] {
    [
        school.pupils.map(f64::from),
        school.context.fsm_percent,
        school.context.aln_percent,
    ]
}

#[cfg(test)]
mod tests {
    use super::super::metrics::tests::school_at;
    use super::*;
    use crate::domain::{ContextMeasures, MatchMode};
    use crate::engine::{Engine, EngineConfig, ScoringConfig};

    fn with_context(mut school: School, pupils: u32, fsm: Option<f64>) -> School {
        school.pupils = Some(pupils);
        school.context = ContextMeasures {
            fsm_percent: fsm,
            ..ContextMeasures::default()
        };
        school
    }

    #[test]
    fn the_comparator_is_range_normalised_over_known_measures_then_cut_by_stage() {
        use LanguageMedium::English;
        use Stage::*;
        let schools = vec![
            with_context(school_at("s", 0.0, Amber, English, &[]), 100, Some(10.0)),
            // Pupils and FSM each a whole range away: distance 1.
            with_context(school_at("far", 1.0, Yellow, English, &[]), 300, Some(30.0)),
            // FSM unknown: pupils alone, half the range: distance 0.5.
            with_context(school_at("half", 90.0, Green, English, &[]), 200, None),
            // The most similar, but behind the seeker.
            with_context(school_at("behind", 2.0, Red, English, &[]), 100, Some(10.0)),
        ];
        let engine = Engine::with_schools(EngineConfig::default(), schools).expect("valid");
        let snapshot = engine.snapshot();
        let at = |id: &str| snapshot.index_of(id).expect("present");
        let school = |id: &str| &snapshot.school(at(id)).school;
        let comparator = Comparator::new(&snapshot);
        let close = |a: Option<f64>, b: f64| (a.unwrap() - b).abs() < 1e-12;
        assert!(close(
            comparator.dissimilarity(school("s"), school("far")),
            1.0
        ));
        assert!(close(
            comparator.dissimilarity(school("s"), school("half")),
            0.5
        ));
        assert!(close(
            comparator.dissimilarity(school("s"), school("behind")),
            0.0
        ));
        let constraints = Constraints::new(MatchMode::Support, &ScoringConfig::default());
        assert_eq!(
            comparator.place(&snapshot, at("s"), &constraints, 5),
            [at("half"), at("far")],
            "most similar first, the school behind cut, distance ignored"
        );
        // The request's distance limit holds for baselines too.
        let near = Constraints {
            max_distance_km: Some(50.0),
            ..constraints.clone()
        };
        assert_eq!(comparator.place(&snapshot, at("s"), &near, 5), [at("far")]);
        assert_eq!(
            nearest_green(&snapshot, at("s"), &constraints, 5),
            [at("half")]
        );
        assert!(nearest_green(&snapshot, at("s"), &near, 5).is_empty());
    }
}
