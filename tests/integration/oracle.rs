//! The fast path (nearest-first search with an early stop) returns exactly
//! the brute-force oracle's top K — same schools, ranks, scores and
//! distances, ties included — on random populations, requests and weights,
//! and on the synthetic population with searches that really prune. The
//! populations carry partnerships: active ones (excluded partners, support
//! places in use) and completed, rated ones (track records).

use jiff::civil;
use partnermatch_core::domain::{
    Affiliation, Affiliations, ContextMeasures, Evaluation, EvaluationArea, EvaluationFramework,
    FocusSet, GeoPoint, ImpactRating, Judgement, LanguageMedium, MatchMode, Member, MemberRole,
    Partnership, PartnershipId, PartnershipKind, PartnershipStatus, Phase, PhaseRelation, Plan,
    School, SchoolId, Stage, TrustRelation,
};
use partnermatch_core::engine::{
    Constraints, Engine, EngineConfig, Factor, InMemory, MatchQuery, Records, Weights, brute_force,
    top_k,
};
use proptest::prelude::*;

fn focus_set(bits: u32) -> FocusSet {
    partnermatch_core::domain::FocusArea::ALL
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
        no_needs in prop::bool::weighted(0.15),
        // Some schools record every area on both sides: they are indexed
        // in broad trees, not per area.
        every_area in prop::bool::weighted(0.15),
        capacity in prop::option::weighted(0.3, 0u32..4),
        open in prop::bool::weighted(0.9),
        area in 0usize..3,
        // Evidence: none, a report card (current or stale, with or without
        // a given stage and focus, safeguarding sometimes not met), or a
        // Welsh category.
        evidence in 0u8..5,
        grades in prop::collection::vec(0usize..5, 4),
        stale in prop::bool::weighted(0.3),
        safeguarding_met in prop::bool::weighted(0.7),
        derive_focus in any::<bool>(),
        // Trusts, federations and dioceses: few, so members meet.
        trust in prop::option::weighted(0.6, 0u8..4),
        federation in prop::option::weighted(0.3, 0u8..6),
        diocese in prop::option::weighted(0.4, 0u8..2),
    ) -> School {
        let jitter = if snap { 0.0 } else { jitter };
        let mask = if sparse { 0b1000_0100_0010_0001 } else { u32::MAX };
        let (local_authority, consortium) = [("Cardiff", "CSC"), ("Vale of Glamorgan", "CSC"), ("Newport", "EAS")][area];
        let mut school = School {
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
            strengths: focus_set(if every_area { u32::MAX } else { strengths & mask }),
            needs: match (every_area, no_needs) {
                (true, _) => focus_set(u32::MAX),
                (false, true) => FocusSet::EMPTY,
                (false, false) => focus_set(needs & mask),
            },
            capacity,
            religious_character: String::new(),
            open,
            evaluations: Vec::new(),
            affiliations: Affiliations {
                trust: trust.map(|t| Affiliation::new(format!("T{t}"), format!("Trust {t}"))),
                federation: federation.map(|f| Affiliation::new(format!("F{f}"), "")),
                diocese: diocese.map(|d| Affiliation::new(format!("CE{d}"), format!("Diocese {d}"))),
            },
        };
        let date = if stale { civil::date(2018, 3, 1) } else { civil::date(2026, 1, 20) };
        let judged = |framework, area, judgement| Evaluation {
            framework,
            area,
            judgement,
            date,
            source: String::new(),
        };
        match evidence {
            2 | 3 => {
                use EvaluationArea as A;
                let areas = [A::LeadershipAndGovernance, A::AttendanceAndBehaviour, A::Achievement, A::Inclusion];
                school.evaluations = areas
                    .into_iter()
                    .zip(&grades)
                    .map(|(area, &grade)| judged(EvaluationFramework::OfstedReportCard, area, Judgement::FIVE_POINT[grade]))
                    .collect();
                school.evaluations.push(judged(
                    EvaluationFramework::OfstedReportCard,
                    A::Safeguarding,
                    if safeguarding_met { Judgement::Met } else { Judgement::NotMet },
                ));
                if evidence == 2 {
                    school.stage = None;
                }
                if derive_focus {
                    school.strengths = FocusSet::EMPTY;
                    school.needs = FocusSet::EMPTY;
                }
            }
            4 => {
                let category = [Judgement::Red, Judgement::Amber, Judgement::Yellow, Judgement::Green][grades[0] % 4];
                school.evaluations = vec![judged(EvaluationFramework::WalesCategory, EvaluationArea::Overall, category)];
                school.stage = None;
            }
            _ => {}
        }
        school
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
        prop::array::uniform9(weight()),
        // Sometimes proximity dominates, so the early stop really fires.
        prop::bool::weighted(0.3),
    )
        .prop_map(|(drawn, near)| {
            let mut weights = Weights::default();
            for (factor, weight) in Factor::ALL.into_iter().zip(drawn) {
                weights[factor] = weight;
            }
            if near {
                weights[Factor::Proximity] = 50.0;
            }
            // Never all zero.
            if weights.all_zero() {
                weights[Factor::TrackRecord] = 1.0;
            }
            weights
        })
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
        same_language_group in prop::bool::weighted(0.2),
        trust_relation in prop::sample::select(vec![
            TrustRelation::Any, TrustRelation::Any, TrustRelation::SameTrust, TrustRelation::OtherTrusts,
        ]),
        same_diocese in prop::bool::weighted(0.2),
        exclude in prop::collection::vec(0..population, 0..4),
        weights in arb_weights(),
        proximity_scale_km in 1.0f64..60.0,
        explain in any::<bool>(),
    ) -> MatchQuery {
        MatchQuery {
            seeker: format!("s{seeker:03}").parse().unwrap(),
            constraints: Constraints {
                mode,
                phase_relation: relation,
                focus: focus.map(focus_set),
                max_distance_km,
                same_consortium,
                same_local_authority,
                same_language_group,
                trust_relation,
                same_diocese,
                weights,
                proximity_scale_km,
            },
            limit,
            exclude: exclude.into_iter().map(|i| format!("s{i:03}").parse().unwrap()).collect(),
            explain,
        }
    }
}

/// A two-school partnership between schools `a` and `b` (`a` supports in
/// SUPPORT partnerships), in `status`, rated `rating`, on `focus`.
fn pair(
    number: u64,
    (a, b): (usize, usize),
    kind: PartnershipKind,
    status: PartnershipStatus,
    rating: Option<ImpactRating>,
    focus: FocusSet,
) -> Partnership {
    let roles = if kind == PartnershipKind::Support {
        [MemberRole::Supporter, MemberRole::Supported]
    } else {
        [MemberRole::Member, MemberRole::Member]
    };
    let now = jiff::Timestamp::UNIX_EPOCH;
    Partnership {
        id: PartnershipId::numbered(number),
        kind,
        status,
        members: [a, b]
            .into_iter()
            .zip(roles)
            .map(|(school, role)| Member {
                school_id: SchoolId::parse(&format!("s{school:03}")).unwrap(),
                role,
            })
            .collect(),
        focus,
        plan: Plan::default(),
        impact_rating: rating,
        impact_notes: String::new(),
        version: 1,
        created_at: now,
        updated_at: now,
        started_at: None,
        finished_at: None,
    }
}

fn arb_partnerships(population: usize) -> impl Strategy<Value = Vec<Partnership>> {
    let one = (
        0..population,
        0..population,
        prop::sample::select(vec![PartnershipKind::Support, PartnershipKind::Peer]),
        prop::sample::select(vec![
            PartnershipStatus::Active,
            PartnershipStatus::Completed,
            PartnershipStatus::Completed,
            PartnershipStatus::Proposed,
        ]),
        prop::option::weighted(0.8, prop::sample::select(ImpactRating::ALL.to_vec())),
        // Few areas, so records overlap the seekers' wants only sometimes.
        0u32..(1 << 21),
    );
    prop::collection::vec(one, 0..(population / 2).max(1)).prop_map(|raw| {
        raw.into_iter()
            .filter(|(a, b, ..)| a != b)
            .enumerate()
            .map(|(i, (a, b, kind, status, rating, focus))| {
                let focus = focus_set(focus & 0b0010_0000_1000_0000_0110);
                pair(i as u64 + 1, (a, b), kind, status, rating, focus)
            })
            .collect()
    })
}

type Population = (Vec<School>, Vec<Partnership>, Vec<MatchQuery>);

fn population_and_queries() -> impl Strategy<Value = Population> {
    arb_population().prop_flat_map(|schools| {
        let n = schools.len();
        (
            Just(schools),
            arb_partnerships(n),
            prop::collection::vec(arb_query(n), 1..8),
        )
    })
}

fn engine_with(schools: Vec<School>, partnerships: Vec<Partnership>) -> Engine {
    let records = Records {
        schools,
        partnerships,
        version: 0,
    };
    Engine::open(EngineConfig::default(), Box::new(InMemory), records).unwrap()
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
    fn fast_path_equals_brute_force((schools, partnerships, queries) in population_and_queries()) {
        let engine = engine_with(schools, partnerships);
        for query in &queries {
            assert_same_answer(&engine, query);
        }
    }
}

#[test]
fn fast_path_equals_brute_force_on_the_synthetic_population_and_prunes() {
    let schools =
        partnermatch_core::dataset::generate(partnermatch_core::dataset::SyntheticConfig {
            schools: 3000,
            seed: 11,
            ..Default::default()
        });
    let ids: Vec<String> = schools.iter().map(|s| s.id.to_string()).collect();
    // Every seventh school has a partnership with its neighbour in id order:
    // active, or completed with each rating in turn.
    let partnerships = (0..ids.len() - 1)
        .step_by(7)
        .enumerate()
        .map(|(n, i)| {
            let status = [PartnershipStatus::Active, PartnershipStatus::Completed][n % 2];
            let rating = [ImpactRating::Green, ImpactRating::Yellow, ImpactRating::Red][n % 3];
            let focus = focus_set(0b1011 << (n % 17));
            let mut partnership = pair(
                n as u64 + 1,
                (0, 1),
                PartnershipKind::Support,
                status,
                Some(rating),
                focus,
            );
            partnership.members[0].school_id = SchoolId::parse(&ids[i]).unwrap();
            partnership.members[1].school_id = SchoolId::parse(&ids[i + 1]).unwrap();
            partnership
        })
        .collect();
    let engine = engine_with(schools, partnerships);
    let config = engine.config().scoring.clone();
    let mut pruned = 0;
    let mut answered = 0;
    for (i, id) in ids.iter().enumerate().step_by(13) {
        let mode = [MatchMode::Support, MatchMode::Lead, MatchMode::Peer][i % 3];
        let mut query = MatchQuery::new(id.parse().unwrap(), mode, &config);
        query.explain = true;
        query.constraints.phase_relation =
            [PhaseRelation::SamePhase, PhaseRelation::AnyPhase][i % 2];
        if i % 4 == 0 {
            // Proximity-led weights: the search should stop early.
            query.constraints.weights[Factor::Proximity] = 5.0;
        }
        if i % 5 == 0 {
            query.constraints.max_distance_km = Some(25.0);
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

/// Schools with every strength and every need (the heaviest data the index
/// takes, kept in broad trees) beside ordinary ones: the fast path still
/// returns exactly the oracle's answer.
#[test]
fn fast_path_equals_brute_force_when_schools_have_every_area() {
    let every_area =
        partnermatch_core::dataset::generate(partnermatch_core::dataset::SyntheticConfig {
            schools: 2000,
            seed: 12,
            focus: partnermatch_core::dataset::SyntheticFocus::EveryArea,
        });
    let realistic =
        partnermatch_core::dataset::generate(partnermatch_core::dataset::SyntheticConfig {
            schools: 2000,
            seed: 12,
            ..Default::default()
        });
    // Half the schools with every area, half as generated.
    let mixed: Vec<School> = every_area
        .iter()
        .zip(&realistic)
        .enumerate()
        .map(|(i, (every, usual))| {
            if i % 2 == 0 {
                every.clone()
            } else {
                usual.clone()
            }
        })
        .collect();
    for schools in [every_area, mixed] {
        let ids: Vec<String> = schools.iter().map(|s| s.id.to_string()).collect();
        let engine = engine_with(schools, Vec::new());
        let config = engine.config().scoring.clone();
        let mut answered = 0;
        for (i, id) in ids.iter().enumerate().step_by(17) {
            let mode = [MatchMode::Support, MatchMode::Lead, MatchMode::Peer][i % 3];
            let mut query = MatchQuery::new(id.parse().unwrap(), mode, &config);
            query.explain = true;
            if i % 2 == 0 {
                query.constraints.focus = Some(focus_set(0b1_0000_0000_0101_0011 << (i % 3)));
            }
            if assert_same_answer(&engine, &query).is_some() {
                answered += 1;
            }
        }
        assert!(answered > 80, "most seekers can be matched ({answered})");
    }
}

/// A LEAD seeker's own track record counts for a partner with no needs
/// recorded (its best credit anywhere): the bound on a group of such
/// partners must allow for it, or the search would stop before the one
/// partner the record makes best.
#[test]
fn a_lead_seekers_record_reaches_partners_without_needs() {
    use crate::support::fixtures::{SchoolExt, school};
    use partnermatch_core::domain::FocusArea;
    let mut schools = vec![
        school("s000")
            .stage(Some(Stage::Green))
            .strengths(&[FocusArea::Literacy]),
        // The partner the record was earned with, far off.
        school("s001")
            .stage(Some(Stage::Yellow))
            .needs(&[FocusArea::Numeracy])
            .at(60.0, 0.0),
    ];
    // Near partners needing what the seeker has no record in.
    for i in 2..40 {
        schools.push(
            school(&format!("s{i:03}"))
                .stage(Some(Stage::Amber))
                .needs(&[FocusArea::Numeracy])
                .at(0.5 + f64::from(i) * 0.01, 0.0),
        );
    }
    // One far partner with no needs recorded.
    schools.push(school("s040").stage(Some(Stage::Amber)).at(20.0, 0.0));
    let record = pair(
        1,
        (0, 1),
        PartnershipKind::Support,
        PartnershipStatus::Completed,
        Some(ImpactRating::Green),
        [FocusArea::Literacy].into_iter().collect(),
    );
    let engine = engine_with(schools, vec![record]);
    let config = engine.config().scoring.clone();
    let mut query = MatchQuery::new("s000".parse().unwrap(), MatchMode::Lead, &config);
    query.limit = 1;
    for factor in Factor::ALL {
        query.constraints.weights[factor] = match factor {
            Factor::Proximity => 1.0,
            Factor::TrackRecord => 10.0,
            _ => 0.0,
        };
    }
    assert_same_answer(&engine, &query);
    let best = engine
        .match_partners(&query, |outcome| {
            outcome.candidates[0].school.school.id.to_string()
        })
        .unwrap();
    assert_eq!(best, "s040");
}

/// Writes interleaved with matches: after every write (a rename, a stage,
/// size or place changed, a partnership started, now and then a school
/// created — after every id or before — or deleted) the fast path equals
/// the oracle on the snapshot the
/// write published — whose index holds the writes since its buckets were
/// built beside them, and builds a bucket again once they are many — and
/// equals a fresh engine built from the same records. Most writes go to a
/// few dozen schools, so buckets pass through every state of their overlay.
#[test]
fn fast_path_equals_brute_force_as_writes_interleave() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(16);
    let schools =
        partnermatch_core::dataset::generate(partnermatch_core::dataset::SyntheticConfig {
            schools: 600,
            seed: 16,
            ..Default::default()
        });
    let engine = engine_with(schools.clone(), Vec::new());
    let config = engine.config().scoring.clone();
    let mut next_partnership = 1;
    for step in 0..240 {
        let snapshot = engine.snapshot();
        let stored = snapshot.schools();
        let pick = |rng: &mut rand::rngs::StdRng| {
            let range = if rng.random_bool(0.75) {
                40
            } else {
                stored.len()
            };
            stored[rng.random_range(0..range)].school.clone()
        };
        let kind = match step % 40 {
            3 => 3,
            4 | 14 | 24 | 34 => 4,
            _ => [0, 1, 2, 5][step % 4],
        };
        match kind {
            0 => {
                let mut school = pick(&mut rng);
                school.name = format!("{} (step {step})", school.name);
                engine.upsert(school).unwrap();
            }
            1 => {
                let mut school = pick(&mut rng);
                school.stage = Some(Stage::ALL[rng.random_range(0..4)]);
                engine.upsert(school).unwrap();
            }
            2 => {
                let mut school = pick(&mut rng);
                school.pupils = Some(rng.random_range(10..900));
                school.location = GeoPoint::new(
                    school.location.latitude + rng.random_range(-0.2..0.2),
                    school.location.longitude,
                );
                engine.upsert(school).unwrap();
            }
            3 => {
                let mut school = pick(&mut rng);
                // After every id (the next index) and, now and then,
                // before them all (every index moves).
                let prefix = if step % 80 == 3 { "new" } else { "0-new" };
                school.id = SchoolId::parse(&format!("{prefix}-{step}")).unwrap();
                engine.upsert(school).unwrap();
            }
            4 => {
                let school = pick(&mut rng);
                // A school in a partnership stays: deleting it is refused.
                let _ = engine.delete(school.id.as_str());
            }
            _ => {
                let (a, b) = (pick(&mut rng), pick(&mut rng));
                if a.id != b.id && a.open && b.open {
                    let mut partnership = pair(
                        next_partnership,
                        (0, 1),
                        PartnershipKind::Peer,
                        PartnershipStatus::Proposed,
                        None,
                        FocusSet::EMPTY,
                    );
                    next_partnership += 1;
                    partnership.members[0].school_id = a.id.clone();
                    partnership.members[1].school_id = b.id.clone();
                    let proposed =
                        engine.propose_partnership(partnermatch_core::engine::Proposal {
                            id: None,
                            kind: PartnershipKind::Peer,
                            members: partnership.members,
                            focus: FocusSet::EMPTY,
                            plan: Plan::default(),
                        });
                    if let Ok(proposed) = proposed {
                        let update =
                            |status, version| partnermatch_core::engine::PartnershipUpdate {
                                id: proposed.id.clone(),
                                version,
                                changes: partnermatch_core::engine::PartnershipChanges {
                                    status: Some(status),
                                    ..Default::default()
                                },
                            };
                        let agreed = engine.update_partnership(update(
                            PartnershipStatus::Agreed,
                            proposed.version,
                        ));
                        if let Ok(agreed) = agreed {
                            let _ = engine.update_partnership(update(
                                PartnershipStatus::Active,
                                agreed.version,
                            ));
                        }
                    }
                }
            }
        }
        let snapshot = engine.snapshot();
        let fresh = engine_with(
            snapshot
                .schools()
                .iter()
                .map(|s| s.school.clone())
                .collect(),
            snapshot
                .partnerships()
                .iter()
                .map(|p| Partnership::clone(p))
                .collect(),
        );
        for _ in 0..2 {
            let seeker = pick(&mut rng).id;
            let mode =
                [MatchMode::Support, MatchMode::Lead, MatchMode::Peer][rng.random_range(0..3)];
            let query = MatchQuery::new(seeker, mode, &config);
            assert_same_answer(&engine, &query);
            let here = top_k(&snapshot, &query, &config).map(|o| {
                o.candidates
                    .iter()
                    .map(|c| (c.school.school.id.clone(), c.score))
                    .collect::<Vec<_>>()
            });
            let fresh_snapshot = fresh.snapshot();
            let there = top_k(&fresh_snapshot, &query, &config).map(|o| {
                o.candidates
                    .iter()
                    .map(|c| (c.school.school.id.clone(), c.score))
                    .collect::<Vec<_>>()
            });
            assert_eq!(here.ok(), there.ok(), "step {step}: {query:?}");
        }
    }
}
