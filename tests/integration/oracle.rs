//! The fast path (nearest-first search with an early stop) returns exactly
//! the brute-force oracle's top K — same schools, ranks, scores and
//! distances, ties included — on random populations, requests and weights,
//! and on the synthetic population with searches that really prune.

use partnermatch::domain::{
    ContextMeasures, FocusSet, GeoPoint, LanguageMedium, MatchMode, Phase, PhaseRelation, School,
    SchoolId, Stage,
};
use partnermatch::engine::{Engine, EngineConfig, MatchQuery, Weights, brute_force, top_k};
use proptest::prelude::*;

fn focus_set(bits: u32) -> FocusSet {
    partnermatch::domain::FocusArea::ALL
        .into_iter()
        .enumerate()
        .filter(|(i, _)| bits & (1 << i) != 0)
        .map(|(_, area)| area)
        .collect()
}

prop_compose! {
    fn arb_school()(
        phase in prop::sample::select(vec![Phase::Primary, Phase::Primary, Phase::Secondary, Phase::Special]),
        stage in prop::option::weighted(0.85, prop::sample::select(Stage::ALL.to_vec())),
        language in prop::option::weighted(0.9, prop::sample::select(LanguageMedium::ALL.to_vec())),
        // Snapped coordinates make exact distance ties common.
        lat in 0u32..40, lon in 0u32..60, snap in any::<bool>(), jitter in 0.0f64..0.01,
        pupils in prop::option::weighted(0.9, 5u32..2000),
        fsm in prop::option::weighted(0.7, 0.0f64..60.0),
        aln in prop::option::weighted(0.3, 0.0f64..40.0),
        strengths in 0u32..(1 << 21), needs in 0u32..(1 << 21), sparse in any::<bool>(),
        capacity in prop::option::weighted(0.3, 0u32..4),
        open in prop::bool::weighted(0.9),
        area in 0usize..3,
    ) -> School {
        let jitter = if snap { 0.0 } else { jitter };
        let mask = if sparse { 0b1000_0100_0010_0001 } else { u32::MAX };
        let (local_authority, consortium) = [("Cardiff", "CSC"), ("Vale of Glamorgan", "CSC"), ("Newport", "EAS")][area];
        School {
            id: SchoolId::parse("placeholder").unwrap(),
            name: "x".into(),
            phase,
            stage,
            language_medium: language,
            location: GeoPoint::new(51.3 + f64::from(lat) * 0.01 + jitter, -3.5 + f64::from(lon) * 0.01 + jitter),
            local_authority: local_authority.into(),
            consortium: consortium.into(),
            pupils,
            context: ContextMeasures { fsm_percent: fsm, aln_percent: aln, ..ContextMeasures::default() },
            family_id: None,
            strengths: focus_set(strengths & mask),
            needs: focus_set(needs & mask),
            capacity,
            religious_character: String::new(),
            open,
        }
    }
}

fn arb_population() -> impl Strategy<Value = Vec<School>> {
    prop::collection::vec(arb_school(), 1..120).prop_map(|schools| {
        schools
            .into_iter()
            .enumerate()
            .map(|(i, mut school)| {
                school.id = SchoolId::parse(&format!("s{i:03}")).unwrap();
                school
            })
            .collect()
    })
}

fn arb_weights() -> impl Strategy<Value = Weights> {
    let weight = || prop_oneof![Just(0.0), 0.0f64..1.0, 0.0f64..10.0];
    (
        weight(),
        weight(),
        weight(),
        weight(),
        weight(),
        weight(),
        weight(),
        weight(),
        // Sometimes proximity dominates, so the early stop really fires.
        prop::bool::weighted(0.3),
    )
        .prop_map(
            |(stage, proximity, context, focus, phase, language, size, load, near)| Weights {
                stage,
                proximity: if near { 50.0 } else { proximity },
                context,
                focus,
                phase,
                language,
                size,
                // Never all zero.
                load: if stage + proximity + context + focus + phase + language + size == 0.0 {
                    1.0
                } else {
                    load
                },
            },
        )
}

prop_compose! {
    fn arb_query(population: usize)(
        seeker in 0..population,
        mode in prop::sample::select(vec![MatchMode::Support, MatchMode::Lead, MatchMode::Peer]),
        relation in prop::sample::select(vec![PhaseRelation::SamePhase, PhaseRelation::CrossPhase, PhaseRelation::AnyPhase]),
        focus in prop::option::weighted(0.3, 1u32..(1 << 21)),
        limit in 1usize..15,
        max_distance_km in prop::option::weighted(0.3, 0.0f64..40.0),
        same_consortium in prop::bool::weighted(0.2),
        same_local_authority in prop::bool::weighted(0.2),
        exclude in prop::collection::vec(0..population, 0..4),
        weights in arb_weights(),
        proximity_scale_km in 1.0f64..60.0,
        explain in any::<bool>(),
    ) -> MatchQuery {
        MatchQuery {
            school_id: format!("s{seeker:03}"),
            mode,
            phase_relation: relation,
            focus: focus.map(focus_set),
            limit,
            max_distance_km,
            same_consortium,
            same_local_authority,
            exclude_ids: exclude.into_iter().map(|i| format!("s{i:03}")).collect(),
            weights,
            proximity_scale_km,
            explain,
        }
    }
}

fn population_and_queries() -> impl Strategy<Value = (Vec<School>, Vec<MatchQuery>)> {
    arb_population().prop_flat_map(|schools| {
        let n = schools.len();
        (Just(schools), prop::collection::vec(arb_query(n), 1..8))
    })
}

/// What the two paths found: how many schools each scored.
struct Agreement {
    fast_considered: u32,
    oracle_considered: u32,
}

/// Both paths agree on one snapshot: the same error, or the same ranked
/// candidates (schools, ranks, scores, distances, explanations).
#[track_caller]
fn assert_same_answer(engine: &Engine, query: &MatchQuery) -> Option<Agreement> {
    let snapshot = engine.snapshot();
    let config = &engine.config().scoring;
    let fast = top_k(&snapshot, query, config);
    let oracle = brute_force(&snapshot, query, config);
    match (fast, oracle) {
        (Ok(fast), Ok(oracle)) => {
            assert_eq!(fast.candidates, oracle.candidates, "query {query:?}");
            assert!(fast.considered <= oracle.considered);
            Some(Agreement {
                fast_considered: fast.considered,
                oracle_considered: oracle.considered,
            })
        }
        (Err(fast), Err(oracle)) => {
            assert_eq!(fast.to_string(), oracle.to_string());
            None
        }
        (fast, oracle) => panic!("paths disagree for {query:?}: {fast:?} vs {oracle:?}"),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn fast_path_equals_brute_force((schools, queries) in population_and_queries()) {
        let engine = Engine::with_schools(EngineConfig::default(), schools).unwrap();
        for query in &queries {
            assert_same_answer(&engine, query);
        }
    }
}

#[test]
fn fast_path_equals_brute_force_on_the_synthetic_population_and_prunes() {
    let schools = partnermatch::dataset::generate(partnermatch::dataset::SyntheticConfig {
        schools: 3000,
        seed: 11,
    });
    let ids: Vec<String> = schools.iter().map(|s| s.id.to_string()).collect();
    let engine = Engine::with_schools(EngineConfig::default(), schools).unwrap();
    let config = engine.config().scoring.clone();
    let mut pruned = 0;
    let mut answered = 0;
    for (i, id) in ids.iter().enumerate().step_by(13) {
        let mode = [MatchMode::Support, MatchMode::Lead, MatchMode::Peer][i % 3];
        let mut query = MatchQuery::new(id.clone(), mode, &config);
        query.explain = true;
        query.phase_relation = [PhaseRelation::SamePhase, PhaseRelation::AnyPhase][i % 2];
        if i % 4 == 0 {
            // Proximity-led weights: the search should stop early.
            query.weights.proximity = 5.0;
        }
        if i % 5 == 0 {
            query.max_distance_km = Some(25.0);
        }
        if let Some(agreement) = assert_same_answer(&engine, &query) {
            answered += 1;
            if agreement.fast_considered < agreement.oracle_considered {
                pruned += 1;
            }
        }
    }
    assert!(answered > 150, "most seekers can be matched ({answered})");
    assert!(pruned > 40, "the early stop fires ({pruned} of {answered})");
}
