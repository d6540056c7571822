//! Brokerage: the assignment is the best possible (equal to enumerating every
//! feasible assignment on small random instances, with candidate lists cut
//! short so the optimality certificate has to grow them), never exceeds a
//! school's places, is deterministic, and is served by the Broker RPC.

use std::collections::HashMap;

use partnermatch::pb;
use partnermatch_core::domain::{
    FocusArea, FocusSet, GeoPoint, LanguageMedium, MatchMode, Phase, PhaseRelation, School, Stage,
};
use partnermatch_core::engine::{
    BrokerQuery, Constraints, Engine, EngineConfig, MatchQuery, SeekerSelection, brute_force,
};
use proptest::prelude::*;

use crate::support::fixtures::school;
use crate::support::server::TestServer;

prop_compose! {
    fn arb_school(i: usize)(
        stage in prop::option::weighted(0.9, prop::sample::select(Stage::ALL.to_vec())),
        phase in prop::sample::select(vec![Phase::Primary, Phase::Primary, Phase::Secondary]),
        language in prop::sample::select(vec![LanguageMedium::English, LanguageMedium::Welsh]),
        north in 0u32..8, east in 0u32..8,
        capacity in prop::option::weighted(0.5, 0u32..3),
        strengths in 0u32..8, needs in 0u32..8,
    ) -> School {
        let areas = |bits: u32| -> FocusSet {
            [FocusArea::Literacy, FocusArea::Numeracy, FocusArea::Attendance]
                .into_iter()
                .enumerate()
                .filter(|(k, _)| bits & (1 << k) != 0)
                .map(|(_, area)| area)
                .collect()
        };
        let mut s = school(&format!("s{i:02}"));
        s.stage = stage;
        s.phase = phase;
        s.language_medium = Some(language);
        s.location = GeoPoint::new(51.4 + f64::from(north) * 0.02, -3.2 + f64::from(east) * 0.03);
        s.capacity = capacity;
        s.strengths = areas(strengths);
        s.needs = areas(needs);
        s
    }
}

fn arb_population() -> impl Strategy<Value = Vec<School>> {
    (4usize..10).prop_flat_map(|n| (0..n).map(arb_school).collect::<Vec<_>>())
}

/// A population, a brokerage over 1–3 of its schools, and a starting list
/// length short enough that lists must grow.
fn arb_instance() -> impl Strategy<Value = (Vec<School>, BrokerQuery)> {
    arb_population().prop_flat_map(|schools| {
        let n = schools.len();
        (
            Just(schools),
            prop::sample::subsequence((0..n).collect::<Vec<_>>(), 1..=3.min(n)),
            prop::sample::select(vec![MatchMode::Support, MatchMode::Lead, MatchMode::Peer]),
            prop::sample::select(vec![PhaseRelation::SamePhase, PhaseRelation::AnyPhase]),
            prop::option::weighted(0.3, 1.0f64..20.0),
            any::<bool>(),
            1usize..4,
        )
            .prop_map(
                |(schools, seekers, mode, relation, max_km, language, initial)| {
                    let config = EngineConfig::default();
                    let constraints = Constraints {
                        phase_relation: relation,
                        max_distance_km: max_km,
                        same_language_group: language,
                        ..Constraints::new(mode, &config.scoring)
                    };
                    let query = BrokerQuery {
                        seekers: SeekerSelection::Ids(
                            seekers.iter().map(|i| format!("s{i:02}")).collect(),
                        ),
                        constraints,
                        explain: false,
                        initial_candidates: initial,
                    };
                    (schools, query)
                },
            )
    })
}

/// One feasible pair: seeker, partner, score.
type Edge = (String, String, f64);

/// The best total over every feasible assignment, by enumeration; and the
/// places of each school on both sides.
fn enumerate_best(engine: &Engine, query: &BrokerQuery) -> (f64, HashMap<String, i64>, Vec<Edge>) {
    let snapshot = engine.snapshot();
    let config = &engine.config().scoring;
    let SeekerSelection::Ids(ids) = &query.seekers else {
        unreachable!()
    };
    let leads = query.constraints.mode == MatchMode::Lead;
    let free = |id: &str| {
        let index = snapshot.index_of(id).unwrap();
        i64::from(snapshot.free_places(index))
    };
    let mut places: HashMap<String, i64> = HashMap::new();
    let mut edges = Vec::new();
    for id in ids {
        places.insert(id.clone(), if leads { free(id) } else { 1 });
        let mut one = MatchQuery::new(id.parse().unwrap(), MatchMode::Support, config);
        one.constraints = query.constraints.clone();
        one.limit = snapshot.len();
        let Ok(outcome) = brute_force(&snapshot, &one, config) else {
            continue;
        };
        for candidate in outcome.candidates {
            let partner = candidate.school.school.id.to_string();
            if ids.contains(&partner) {
                continue;
            }
            places.insert(partner.clone(), if leads { 1 } else { free(&partner) });
            edges.push((id.clone(), partner, candidate.score));
        }
    }
    fn search(edges: &[Edge], at: usize, left: &mut HashMap<String, i64>, total: f64) -> f64 {
        if at == edges.len() {
            return total;
        }
        let (seeker, partner, score) = &edges[at];
        let mut best = search(edges, at + 1, left, total);
        if left[seeker] > 0 && left[partner] > 0 {
            *left.get_mut(seeker).unwrap() -= 1;
            *left.get_mut(partner).unwrap() -= 1;
            best = best.max(search(edges, at + 1, left, total + score));
            *left.get_mut(seeker).unwrap() += 1;
            *left.get_mut(partner).unwrap() += 1;
        }
        best
    }
    let best = search(&edges, 0, &mut places.clone(), 0.0);
    (best, places, edges)
}

/// What a brokerage run chose: (seeker, partner, score) in order, and totals.
fn run(engine: &Engine, query: &BrokerQuery) -> (Vec<Edge>, f64, f64, u32) {
    engine
        .broker(query, |outcome| {
            let pairs = outcome
                .pairings
                .iter()
                .map(|p| {
                    (
                        p.seeker.school.id.to_string(),
                        p.partner.school.school.id.to_string(),
                        p.partner.score,
                    )
                })
                .collect();
            (
                pairs,
                outcome.optimal.total_score,
                outcome.greedy.total_score,
                outcome.rounds,
            )
        })
        .unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn the_assignment_is_the_best_feasible_one((schools, query) in arb_instance()) {
        let engine = Engine::with_schools(EngineConfig::default(), schools).unwrap();
        let (best, places, edges) = enumerate_best(&engine, &query);
        let (pairs, total, greedy_total, _) = run(&engine, &query);
        prop_assert!((total - best).abs() < 1e-9, "total {total}, best by enumeration {best}");
        prop_assert!(greedy_total <= total + 1e-9);
        let sum: f64 = pairs.iter().map(|(_, _, score)| score).sum();
        prop_assert!((sum - total).abs() < 1e-9);
        let mut used: HashMap<&str, i64> = HashMap::new();
        for (seeker, partner, score) in &pairs {
            prop_assert!(
                edges.iter().any(|(s, p, sc)| s == seeker && p == partner && sc == score),
                "{seeker} → {partner} is a feasible pair with its Match score"
            );
            *used.entry(seeker).or_default() += 1;
            *used.entry(partner).or_default() += 1;
        }
        for (school, count) in used {
            prop_assert!(count <= places[school], "{school} over its places");
        }
        // Deterministic.
        prop_assert_eq!(run(&engine, &query).0, pairs);
    }
}

/// Greedy takes the best pair first and strands the other seeker; the
/// optimum gives up a little to pair both — and needs a longer list than it
/// started with to prove it.
#[test]
fn the_optimum_beats_greedy_where_greedy_strands_a_seeker() {
    use crate::support::fixtures::SchoolExt;
    let one_place = |id: &str, north: f64| {
        let mut s = school(id).stage(Some(Stage::Yellow)).at(north, 0.0);
        s.capacity = Some(1);
        s
    };
    // Seeker a is near both supporters; seeker b, 30 km east, is within
    // the 30.1 km limit of x (30.004 km) but not of y (30.15 km).
    let schools = vec![
        school("a").stage(Some(Stage::Amber)).at(0.0, 0.0),
        school("b").stage(Some(Stage::Amber)).at(0.0, 30.0),
        one_place("x", 0.5),
        one_place("y", -3.0),
    ];
    let engine = Engine::with_schools(EngineConfig::default(), schools).unwrap();
    let config = engine.config().scoring.clone();
    let query = BrokerQuery {
        seekers: SeekerSelection::Ids(vec!["a".into(), "b".into()]),
        constraints: Constraints {
            max_distance_km: Some(30.1),
            ..Constraints::new(MatchMode::Support, &config)
        },
        explain: false,
        initial_candidates: 1,
    };
    let (pairs, total, greedy_total, rounds) = run(&engine, &query);
    let pairs: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(s, p, _)| (s.as_str(), p.as_str()))
        .collect();
    assert_eq!(pairs, [("a", "y"), ("b", "x")]);
    assert!(total > greedy_total, "{total} vs greedy {greedy_total}");
    assert!(rounds > 1, "a's one-candidate list had to grow");
}

#[tokio::test]
async fn the_broker_rpc_pairs_a_consortiums_red_and_amber_schools() {
    let server = TestServer::with_default_data().await;
    let mut matcher = server.matcher().await;
    let request = pb::BrokerRequest {
        filter: Some(pb::SeekerFilter {
            consortium: "GwE".into(),
            stages: vec![pb::Stage::Red as i32, pb::Stage::Amber as i32],
            ..Default::default()
        }),
        mode: pb::MatchMode::Support as i32,
        max_distance_km: Some(40.0),
        explain: true,
        ..Default::default()
    };
    let response = matcher.broker(request.clone()).await.unwrap().into_inner();
    assert!(response.seekers > 20, "{}", response.seekers);
    let optimal = response.optimal.unwrap();
    let greedy = response.greedy.unwrap();
    assert_eq!(optimal.pairs as usize, response.pairs.len());
    assert_eq!(
        response.pairs.len() + response.unassigned.len(),
        response.seekers as usize
    );
    assert!(optimal.total_score >= greedy.total_score - 1e-9);
    let mut load: HashMap<String, u32> = HashMap::new();
    for pair in &response.pairs {
        let partner = pair.partner.as_ref().unwrap();
        assert_eq!(partner.components.len(), 9, "explained");
        let total: f64 = partner.components.iter().map(|c| c.contribution).sum();
        assert!((total - partner.score).abs() < 1e-12);
        assert!(partner.distance_km <= 40.0);
        assert!(
            partner.stage_gap.unwrap_or(0) >= 0,
            "supporters are not behind"
        );
        *load.entry(partner.school_id.clone()).or_default() += 1;
    }
    for (supporter, count) in load {
        let capacity = server.engine.get(&supporter).unwrap().capacity;
        assert!(
            count <= capacity,
            "{supporter}: {count} pairs, capacity {capacity}"
        );
    }
    for unassigned in &response.unassigned {
        assert!(!unassigned.reason.is_empty());
    }
    // Deterministic, apart from the time taken.
    let mut again = matcher.broker(request).await.unwrap().into_inner();
    again.took_micros = response.took_micros;
    assert_eq!(again, response);

    // Bad requests name their fields.
    let status = matcher
        .broker(pb::BrokerRequest {
            seeker_ids: vec!["bad id".into()],
            filter: Some(pb::SeekerFilter::default()),
            mode: 0,
            max_distance_km: Some(-1.0),
            ..Default::default()
        })
        .await
        .unwrap_err();
    for field in ["filter", "seeker_ids[0]", "mode", "max_distance_km"] {
        crate::support::status::assert_invalid_field(&status, field);
    }
    let status = matcher
        .broker(pb::BrokerRequest {
            seeker_ids: vec!["nobody".into()],
            mode: pb::MatchMode::Support as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(status.code(), tonic::Code::NotFound);
    server.stop().await;
}

#[tokio::test]
async fn compute_families_lists_the_families_schools_carry_and_previews_others() {
    let server = TestServer::with_default_data().await;
    let mut registry = server.registry().await;
    let in_use = registry
        .compute_families(pb::ComputeFamiliesRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert!(in_use.in_use);
    assert_eq!((in_use.target_size, in_use.min_size), (11, 6));
    let members: usize = in_use.families.iter().map(|f| f.member_ids.len()).sum();
    assert_eq!(
        members + in_use.given_family_schools as usize + in_use.without_challenge_index as usize,
        1500
    );
    for family in &in_use.families {
        assert!(family.challenge_min <= family.challenge_max);
        assert!(family.id.starts_with("auto-"));
        for id in &family.member_ids {
            let school = server.engine.school(id).unwrap();
            assert_eq!(school.family_id.as_deref(), Some(family.id.as_str()));
            let challenge = school.stored.challenge_index.unwrap();
            assert!((family.challenge_min..=family.challenge_max).contains(&challenge));
        }
    }
    // Families are about eleven, never under six when the group is larger.
    let mean = members as f64 / in_use.families.len() as f64;
    assert!((8.0..=14.0).contains(&mean), "mean family size {mean}");

    // A preview at island-authority sizes changes nothing.
    let preview = registry
        .compute_families(pb::ComputeFamiliesRequest {
            target_size: Some(7),
            min_size: Some(6),
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!preview.in_use);
    assert!(preview.families.len() > in_use.families.len());
    let first = &in_use.families[0].member_ids[0];
    assert_eq!(
        server.engine.school(first).unwrap().family_id.as_deref(),
        Some(in_use.families[0].id.as_str())
    );

    let status = registry
        .compute_families(pb::ComputeFamiliesRequest {
            target_size: Some(500),
            min_size: Some(0),
        })
        .await
        .unwrap_err();
    for field in ["target_size", "min_size"] {
        crate::support::status::assert_invalid_field(&status, field);
    }
    server.stop().await;
}

#[tokio::test]
async fn form_groups_proposes_clusters_and_federations_with_their_reasons() {
    let server = TestServer::with_default_data().await;
    let mut matcher = server.matcher().await;
    let gwe_primary_clusters = || pb::FormGroupsRequest {
        kind: pb::GroupKind::Cluster as i32,
        filter: Some(pb::SeekerFilter {
            consortium: "GwE".into(),
            phase: pb::Phase::Primary as i32,
            ..Default::default()
        }),
        ..Default::default()
    };
    let clusters = matcher
        .form_groups(gwe_primary_clusters())
        .await
        .unwrap()
        .into_inner();
    assert!(
        clusters.groups.len() >= 10,
        "{} clusters",
        clusters.groups.len()
    );
    let mut seen = std::collections::HashSet::new();
    for group in &clusters.groups {
        assert!((6..=8).contains(&group.members.len()));
        assert!(
            group
                .members
                .iter()
                .all(|m| m.phase == pb::Phase::Primary as i32)
        );
        assert!(group.span_km <= 30.0 + 1e-9, "{}", group.span_km);
        assert!((0.0..=1.0).contains(&group.cohesion) && group.cohesion > 0.3);
        assert!(group.reasons.iter().any(|r| r.contains("no single lead")));
        for member in &group.members {
            assert!(
                seen.insert(member.school_id.clone()),
                "{} twice",
                member.school_id
            );
        }
    }
    assert_eq!(
        clusters.considered as usize,
        seen.len() + clusters.ungrouped as usize
    );

    let federations = matcher
        .form_groups(pb::FormGroupsRequest {
            kind: pb::GroupKind::Federation as i32,
            filter: Some(pb::SeekerFilter {
                consortium: "GwE".into(),
                ..Default::default()
            }),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert!(!federations.groups.is_empty());
    let mut seed_sizes = Vec::new();
    for group in &federations.groups {
        assert!((2..=6).contains(&group.members.len()));
        let seed = &group.members[0];
        assert!(seed.pupils.unwrap() < 100, "grown around a small school");
        seed_sizes.push(seed.pupils.unwrap());
        assert!(
            group
                .reasons
                .iter()
                .any(|r| r.contains("shared leadership"))
        );
    }
    assert!(
        seed_sizes.windows(2).all(|w| w[0] <= w[1]),
        "smallest schools first: {seed_sizes:?}"
    );

    // Members of an active cluster are not grouped again.
    let first = &clusters.groups[0];
    let mut partnerships = server.partnerships().await;
    let proposed = partnerships
        .propose_partnership(pb::ProposePartnershipRequest {
            kind: pb::PartnershipKind::Cluster as i32,
            members: first
                .members
                .iter()
                .map(|m| pb::PartnershipMember {
                    school_id: m.school_id.clone(),
                    role: pb::MemberRole::Member as i32,
                })
                .collect(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let mut version = proposed.version;
    for status in [pb::PartnershipStatus::Agreed, pb::PartnershipStatus::Active] {
        version = partnerships
            .update_partnership(pb::UpdatePartnershipRequest {
                id: proposed.id.clone(),
                version,
                status: status as i32,
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner()
            .version;
    }
    let again = matcher
        .form_groups(gwe_primary_clusters())
        .await
        .unwrap()
        .into_inner();
    let clustered: std::collections::HashSet<_> =
        first.members.iter().map(|m| m.school_id.clone()).collect();
    assert_eq!(
        again.considered,
        clusters.considered - clustered.len() as u32
    );
    assert!(
        again
            .groups
            .iter()
            .flat_map(|g| &g.members)
            .all(|m| !clustered.contains(&m.school_id))
    );

    let status = matcher
        .form_groups(pb::FormGroupsRequest {
            kind: 0,
            min_size: Some(1),
            max_distance_km: Some(0.0),
            ..Default::default()
        })
        .await
        .unwrap_err();
    for field in ["kind", "school_ids", "min_size", "max_distance_km"] {
        crate::support::status::assert_invalid_field(&status, field);
    }
    server.stop().await;
}

/// Each seeker left without a partner is told what emptied its pool: one
/// with nobody within the distance (and how far the nearest is), one whose
/// only partner ahead of it has no free place.
#[tokio::test]
async fn each_unassigned_seeker_gets_the_constraint_that_emptied_its_pool() {
    use crate::support::fixtures::SchoolExt;
    use partnermatch_core::domain::{Phase, Stage};
    let mut no_place = school("no-place").stage(Some(Stage::Green)).at(1.0, 0.0);
    no_place.capacity = Some(0);
    let server = TestServer::start(vec![
        // Secondaries: the far seeker and its only possible partner.
        school("far-seeker")
            .stage(Some(Stage::Red))
            .phase(Phase::Secondary)
            .at(200.0, 0.0),
        school("far-helper")
            .stage(Some(Stage::Amber))
            .phase(Phase::Secondary)
            .at(150.0, 0.0),
        // Primaries: one ahead of the seeker, with no place to give.
        school("capless-seeker").stage(Some(Stage::Red)),
        no_place,
    ])
    .await;
    let mut matcher = server.matcher().await;
    let response = matcher
        .broker(pb::BrokerRequest {
            seeker_ids: vec!["far-seeker".into(), "capless-seeker".into()],
            mode: pb::MatchMode::Support as i32,
            max_distance_km: Some(40.0),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let reason = |id: &str| {
        response
            .unassigned
            .iter()
            .find(|u| u.school_id == id)
            .map(|u| u.reason.clone())
            .unwrap_or_default()
    };
    assert_eq!(
        reason("far-seeker"),
        "none within 40 km: the nearest that passes every other filter is 50.0 km away"
    );
    assert_eq!(
        reason("capless-seeker"),
        "none left has a free support place"
    );
    server.stop().await;
}
