//! Matching quality, measured: the engine's Match and Broker and three
//! baselines place partners for the same seekers under the same
//! constraints, and every placement is scored by the same metrics
//! (docs/evaluation.md).
//!
//! Evaluation is about SUPPORT — who should help this school — since that
//! is what the baselines answer and what the inspection evidence is about.

mod baselines;
mod metrics;

use std::collections::HashMap;

use crate::domain::{LanguageMedium, MatchMode, Stage};
use crate::engine::{
    BrokerQuery, Constraints, Engine, Error, Factor, MatchOutcome, MatchQuery, Result,
    SeekerFilter, SeekerSelection, Snapshot, Weights, broker_limits, limits, select_seekers, top_k,
};

pub use baselines::{DFE_COMPARATOR_POOL, DfeWeights};
pub use metrics::{Metrics, Placement, Reference, Share, measure};

/// Defaults of an evaluation.
pub mod defaults {
    /// Partners per seeker, as a broker would offer a shortlist.
    pub const PARTNERS: usize = 5;
    /// A Welsh-medium partner this near counts as within reach.
    pub const REACH_KM: f64 = 25.0;
}

crate::closed_set! {
    /// Who places the partners.
    pub enum System {
        /// The engine's Match: each seeker's top partners on its own.
        Match = "match",
        /// The engine's brokerage: one partner per seeker, all seekers at
        /// once within every supporter's free places.
        Broker = "broker",
        /// The naive broker: the nearest green schools of the same phase.
        NearestGreen = "nearest_green",
        /// A DfE-style comparator: the most similar schools of the phase by
        /// pupils, % FSM and % SEN/ALN, then those not behind the seeker.
        DfeComparator = "dfe_comparator",
        /// The nearest schools the engine would accept (same phase, not
        /// behind, a free place): the travel reference.
        NearestFeasible = "nearest_feasible",
    }
}

/// What to evaluate: the seekers, the constraints every system honours and
/// how many partners each seeker is offered.
#[derive(Debug, Clone, PartialEq)]
pub struct EvaluationQuery {
    pub seekers: SeekerSelection,
    /// The mode must be SUPPORT.
    pub constraints: Constraints,
    /// Partners per seeker (1–100); Broker always gives one.
    pub partners: usize,
    /// How near a Welsh-medium partner must be to count as within reach.
    pub reach_km: f64,
}

impl EvaluationQuery {
    /// Every open red and amber school, SUPPORT, the default constraints.
    pub fn new(engine: &Engine) -> EvaluationQuery {
        EvaluationQuery {
            seekers: SeekerSelection::Filter(SeekerFilter {
                stages: vec![Stage::Red, Stage::Amber],
                ..SeekerFilter::default()
            }),
            constraints: Constraints::new(MatchMode::Support, &engine.config().scoring),
            partners: defaults::PARTNERS,
            reach_km: defaults::REACH_KM,
        }
    }

    fn validate(&self) -> Result<()> {
        let mut v = self.constraints.validate();
        if self.constraints.mode != MatchMode::Support {
            v.push(
                "mode",
                "evaluation measures SUPPORT (who should help a school), got another mode",
            );
        }
        if !(1..=limits::MAX_LIMIT).contains(&self.partners) {
            v.push(
                "partners",
                format!(
                    "must be between 1 and {}, got {}",
                    limits::MAX_LIMIT,
                    self.partners
                ),
            );
        }
        v.check_range("reach_km", self.reach_km, 0.0, limits::MAX_DISTANCE_KM);
        if v.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(v))
        }
    }
}

/// The metrics of every system, in [`System`] order.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    pub seekers: u32,
    pub partners: usize,
    pub reach_km: f64,
    pub systems: Vec<Metrics>,
    /// What each system placed, in [`System`] order, then seeker order.
    pub placements: Vec<Vec<Placement>>,
}

impl Evaluation {
    /// One system's metrics.
    pub fn metrics(&self, system: System) -> &Metrics {
        &self.systems[system as usize]
    }

    /// One system's placements.
    pub fn placements(&self, system: System) -> &[Placement] {
        &self.placements[system as usize]
    }
}

/// Runs every system on the query's seekers and measures them, reporting
/// `progress(done, total)` over the per-seeker work.
pub fn evaluate(
    engine: &Engine,
    query: &EvaluationQuery,
    progress: &dyn Fn(usize, usize),
) -> Result<Evaluation> {
    query.validate()?;
    let snapshot = engine.snapshot();
    let seekers = select_seekers(&snapshot, &query.seekers, "an evaluation")?;
    let total = seekers.len();
    let mut placements: Vec<Vec<Placement>> = System::ALL.iter().map(|_| Vec::new()).collect();
    let mut references = Vec::with_capacity(total);
    let comparator = baselines::Comparator::new(&snapshot);
    let scoring = &engine.config().scoring;
    // The same for every seeker: nearest first, and nearest within reach.
    let nearest = nearest_constraints(&query.constraints, None);
    let reach = query
        .constraints
        .max_distance_km
        .map_or(query.reach_km, |max| max.min(query.reach_km));
    let nearest_in_reach = nearest_constraints(&query.constraints, Some(reach));
    let welsh_medium =
        |index: u32| snapshot.school(index).school.language_medium == Some(LanguageMedium::Welsh);
    for (done, &seeker) in seekers.iter().enumerate() {
        progress(done, total);
        let id = &snapshot.school(seeker).school.id;
        let query_for = |constraints: &Constraints, limit: usize| MatchQuery {
            constraints: constraints.clone(),
            limit,
            ..MatchQuery::new(id.clone(), MatchMode::Support, scoring)
        };
        let ranked = |query: &MatchQuery| -> Result<Vec<u32>> {
            Ok(indices(&snapshot, &top_k(&snapshot, query, scoring)?))
        };
        let matched = ranked(&query_for(&query.constraints, query.partners))?;
        let feasible = ranked(&query_for(&nearest, query.partners))?;
        let welsh_in_reach = if welsh_medium(seeker) {
            let within = ranked(&query_for(&nearest_in_reach, limits::MAX_LIMIT))?;
            Some(
                within
                    .into_iter()
                    .filter(|&partner| welsh_medium(partner))
                    .count(),
            )
        } else {
            None
        };
        for system in System::ALL {
            let partners = match system {
                System::Match => matched.clone(),
                System::NearestFeasible => feasible.clone(),
                System::NearestGreen => {
                    baselines::nearest_green(&snapshot, seeker, &query.constraints, query.partners)
                }
                System::DfeComparator => {
                    comparator.place(&snapshot, seeker, &query.constraints, query.partners)
                }
                // Placed below, for all seekers at once.
                System::Broker => continue,
            };
            placements[system as usize].push(Placement { seeker, partners });
        }
        references.push(Reference {
            seeker,
            nearest_feasible: feasible,
            welsh_medium_in_reach: welsh_in_reach,
            regular_visit_km: Some(scoring.regular_visit_km),
        });
    }
    progress(total, total);
    placements[System::Broker as usize] = broker_placements(engine, &snapshot, query, &seekers)?;
    let systems = System::ALL
        .into_iter()
        .map(|system| {
            let asked = if system == System::Broker {
                1
            } else {
                query.partners
            };
            measure(
                &snapshot,
                system,
                asked,
                &placements[system as usize],
                &references,
                query.constraints.focus,
            )
        })
        .collect();
    Ok(Evaluation {
        seekers: total as u32,
        partners: query.partners,
        reach_km: query.reach_km,
        systems,
        placements,
    })
}

/// The constraints ranked by distance alone (proximity the only weight),
/// within `max_distance_km` when given: the engine's own hard filters pick
/// the feasible partners, nearest first.
fn nearest_constraints(constraints: &Constraints, max_distance_km: Option<f64>) -> Constraints {
    let mut weights = Weights::default();
    for factor in Factor::ALL {
        weights[factor] = if factor == Factor::Proximity {
            1.0
        } else {
            0.0
        };
    }
    Constraints {
        weights,
        max_distance_km: max_distance_km.or(constraints.max_distance_km),
        ..constraints.clone()
    }
}

/// The ranked partners' snapshot indices, best first.
fn indices(snapshot: &Snapshot, outcome: &MatchOutcome<'_>) -> Vec<u32> {
    outcome
        .candidates
        .iter()
        .filter_map(|candidate| snapshot.index_of(candidate.school.school.id.as_str()))
        .collect()
}

/// The brokerage's one partner per seeker (none for a seeker left
/// unassigned), in the seekers' order.
fn broker_placements(
    engine: &Engine,
    snapshot: &Snapshot,
    query: &EvaluationQuery,
    seekers: &[u32],
) -> Result<Vec<Placement>> {
    let id = |index: u32| snapshot.school(index).school.id.as_str();
    let broker = BrokerQuery {
        seekers: SeekerSelection::Ids(seekers.iter().map(|&s| id(s).to_owned()).collect()),
        constraints: query.constraints.clone(),
        explain: false,
        initial_candidates: broker_limits::INITIAL_CANDIDATES,
    };
    let mut partners: HashMap<&str, Vec<u32>> = HashMap::new();
    engine.broker(&broker, |outcome| {
        for pairing in &outcome.pairings {
            if let (Some(seeker), Some(partner)) = (
                snapshot.index_of(pairing.seeker.school.id.as_str()),
                snapshot.index_of(pairing.partner.school.school.id.as_str()),
            ) {
                partners.entry(id(seeker)).or_default().push(partner);
            }
        }
    })?;
    Ok(seekers
        .iter()
        .map(|&seeker| Placement {
            seeker,
            partners: partners.remove(id(seeker)).unwrap_or_default(),
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::metrics::tests::population;
    use super::*;

    /// The ids of what `system` placed for the first seeker.
    fn placed(evaluation: &Evaluation, system: System, engine: &Engine) -> Vec<String> {
        let snapshot = engine.snapshot();
        evaluation.placements(system)[0]
            .partners
            .iter()
            .map(|&partner| snapshot.school(partner).school.id.to_string())
            .collect()
    }

    #[test]
    fn every_system_places_partners_for_the_same_seekers() {
        let engine = population();
        let query = EvaluationQuery {
            seekers: SeekerSelection::Ids(vec!["s".into()]),
            partners: 3,
            ..EvaluationQuery::new(&engine)
        };
        let evaluation = evaluate(&engine, &query, &|_, _| {}).expect("evaluates");
        assert_eq!(evaluation.seekers, 1);
        let systems: Vec<System> = evaluation.systems.iter().map(|m| m.system).collect();
        assert_eq!(systems, System::ALL);
        let placed = |system| placed(&evaluation, system, &engine);
        // p4 is behind the seeker; the rest by distance: the least travel,
        // so a ratio of exactly 1.
        assert_eq!(placed(System::NearestFeasible), ["p1", "p2", "p3"]);
        let nearest = evaluation.metrics(System::NearestFeasible);
        assert!((nearest.travel_ratio.unwrap() - 1.0).abs() < 1e-12);
        // The only green school.
        assert_eq!(placed(System::NearestGreen), ["p2"]);
        assert_eq!(
            evaluation.metrics(System::NearestGreen).similar_stage.hits,
            0
        );
        // Without pupils or FSM, no school is comparable.
        assert!(placed(System::DfeComparator).is_empty());
        // Match: Welsh-medium partners covering a need first, the
        // English-medium green school last.
        assert_eq!(placed(System::Match), ["p1", "p3", "p5"]);
        let matched = evaluation.metrics(System::Match);
        assert_eq!(matched.first_covers_need, Share { hits: 1, of: 1 });
        // Three feasible Welsh-medium partners within reach, three asked.
        assert_eq!(matched.language_fit, Share { hits: 3, of: 3 });
        // Broker: the best one.
        assert_eq!(placed(System::Broker), ["p1"]);
    }

    #[test]
    fn bad_queries_name_the_field() {
        let engine = population();
        let mut query = EvaluationQuery::new(&engine);
        query.partners = 0;
        query.reach_km = f64::NAN;
        query.constraints.mode = MatchMode::Lead;
        let Err(Error::Invalid(violations)) = evaluate(&engine, &query, &|_, _| {}) else {
            panic!("refused");
        };
        let text = violations.to_string();
        for field in ["partners", "reach_km", "mode"] {
            assert!(text.contains(field), "{text}");
        }
    }
}
