//! Ranking invariants of docs/matching.md, on small hand-built populations, through
//! the real Match RPC:
//! 1. one stage ahead beats a large gap (all else equal);
//! 2. nearer beats farther (all else equal); equal score and distance break
//!    by id;
//! 3. never the seeker, a closed school, a supporter without free capacity,
//!    an excluded id, or (SUPPORT) a school behind / (LEAD) one ahead;
//! 4. max distance, phase relation, consortium and local-authority filters
//!    hold;
//! 5. unknown stages are neutral and never excluded;
//! 6. the same request gives the same answer; contributions add up to the
//!    score; components appear only with explain.

use partnermatch::pb;
use partnermatch_core::domain::{FocusArea, Phase, Stage};

use crate::support::fixtures::{SchoolExt, candidate_ids, match_request, school};
use crate::support::server::TestServer;

async fn ranked(server: &TestServer, request: pb::MatchRequest) -> pb::MatchResponse {
    server
        .matcher()
        .await
        .r#match(request)
        .await
        .expect("match succeeds")
        .into_inner()
}

#[tokio::test]
async fn one_stage_ahead_beats_a_large_gap() {
    let server = TestServer::start(vec![
        school("seeker").stage(Some(Stage::Red)),
        school("green").stage(Some(Stage::Green)).at(3.0, 0.0),
        school("amber").stage(Some(Stage::Amber)).at(0.0, 3.0),
        school("yellow").stage(Some(Stage::Yellow)).at(-3.0, 0.0),
    ])
    .await;
    let response = ranked(&server, match_request("seeker", pb::MatchMode::Support)).await;
    assert_eq!(candidate_ids(&response), ["amber", "yellow", "green"]);
    assert_eq!(response.candidates[0].stage_gap, Some(1));
    assert_eq!(response.candidates[2].stage_gap, Some(3));

    // LEAD mirrors it: a green leader's best partner is one stage behind.
    let server2 = TestServer::start(vec![
        school("leader").stage(Some(Stage::Green)),
        school("red").stage(Some(Stage::Red)).at(3.0, 0.0),
        school("yellow").stage(Some(Stage::Yellow)).at(0.0, 3.0),
        school("amber").stage(Some(Stage::Amber)).at(-3.0, 0.0),
    ])
    .await;
    let response = ranked(&server2, match_request("leader", pb::MatchMode::Lead)).await;
    assert_eq!(candidate_ids(&response), ["yellow", "amber", "red"]);

    // PEER prefers the same stage.
    let server3 = TestServer::start(vec![
        school("peer").stage(Some(Stage::Amber)),
        school("same").stage(Some(Stage::Amber)).at(3.0, 0.0),
        school("next").stage(Some(Stage::Yellow)).at(0.0, 3.0),
        school("far").stage(Some(Stage::Green)).at(-3.0, 0.0),
    ])
    .await;
    let response = ranked(&server3, match_request("peer", pb::MatchMode::Peer)).await;
    assert_eq!(candidate_ids(&response), ["same", "next", "far"]);
    for server in [server, server2, server3] {
        server.stop().await;
    }
}

#[tokio::test]
async fn nearer_beats_farther_and_ties_break_by_id() {
    let server = TestServer::start(vec![
        school("seeker").stage(Some(Stage::Amber)),
        school("far").at(20.0, 0.0),
        school("near").at(2.0, 0.0),
        school("mid").at(0.0, 8.0),
        // Same place, same everything: id decides.
        school("twin-b").at(-5.0, 0.0),
        school("twin-a").at(-5.0, 0.0),
    ])
    .await;
    let response = ranked(&server, match_request("seeker", pb::MatchMode::Support)).await;
    assert_eq!(
        candidate_ids(&response),
        ["near", "twin-a", "twin-b", "mid", "far"]
    );
    let ranks: Vec<_> = response.candidates.iter().map(|c| c.rank).collect();
    assert_eq!(ranks, [1, 2, 3, 4, 5]);
    let distances: Vec<_> = response.candidates.iter().map(|c| c.distance_km).collect();
    assert!((distances[0] - 2.0).abs() < 0.01, "{distances:?}");
    assert!((distances[4] - 20.0).abs() < 0.05, "{distances:?}");
    server.stop().await;
}

#[tokio::test]
async fn hard_filters_exclude_what_must_never_be_returned() {
    let mut closed = school("closed").at(1.0, 0.0);
    closed.open = false;
    let mut full = school("full").at(1.0, 1.0);
    full.capacity = Some(0);
    let server = TestServer::start(vec![
        school("seeker").stage(Some(Stage::Amber)),
        closed,
        full,
        school("red-behind").stage(Some(Stage::Red)).at(1.0, -1.0),
        school("excluded").at(-1.0, 0.0),
        school("ok").at(2.0, 2.0),
    ])
    .await;
    let mut request = match_request("seeker", pb::MatchMode::Support);
    request.exclude_ids = vec!["excluded".into(), "no-such-school".into()];
    let response = ranked(&server, request).await;
    assert_eq!(candidate_ids(&response), ["ok"]);
    assert_eq!(response.considered, 1);

    // LEAD never returns a school ahead; the closed and excluded rules hold.
    let mut request = match_request("seeker", pb::MatchMode::Lead);
    request.exclude_ids = vec!["excluded".into()];
    let response = ranked(&server, request).await;
    assert_eq!(candidate_ids(&response), ["red-behind"]);
    server.stop().await;
}

#[tokio::test]
async fn distance_phase_and_area_filters_hold() {
    let server = TestServer::start(vec![
        school("seeker"),
        school("near-primary").at(5.0, 0.0),
        school("far-primary").at(40.0, 0.0),
        school("secondary").phase(Phase::Secondary).at(3.0, 0.0),
        school("special").phase(Phase::Special).at(4.0, 0.0),
        school("other-la")
            .at(6.0, 0.0)
            .area("Vale of Glamorgan", "CSC"),
        school("other-consortium")
            .at(7.0, 0.0)
            .area("Newport", "EAS"),
    ])
    .await;
    let ids = |response: pb::MatchResponse| {
        let mut ids = candidate_ids(&response);
        ids.sort();
        ids
    };
    let base = match_request("seeker", pb::MatchMode::Peer);

    let response = ranked(&server, base.clone()).await;
    assert_eq!(
        ids(response),
        [
            "far-primary",
            "near-primary",
            "other-consortium",
            "other-la"
        ],
        "unset phase relation means same phase"
    );

    let mut request = base.clone();
    request.max_distance_km = Some(10.0);
    assert_eq!(
        ids(ranked(&server, request).await),
        ["near-primary", "other-consortium", "other-la"]
    );

    let mut request = base.clone();
    request.phase_relation = pb::PhaseRelation::CrossPhase as i32;
    let response = ranked(&server, request).await;
    assert_eq!(
        candidate_ids(&response),
        ["secondary", "special"],
        "transition pair first"
    );

    let mut request = base.clone();
    request.phase_relation = pb::PhaseRelation::AnyPhase as i32;
    assert_eq!(ranked(&server, request).await.candidates.len(), 6);

    let mut request = base.clone();
    request.same_consortium = true;
    assert_eq!(
        ids(ranked(&server, request).await),
        ["far-primary", "near-primary", "other-la"]
    );

    let mut request = base.clone();
    request.same_local_authority = true;
    assert_eq!(
        ids(ranked(&server, request).await),
        ["far-primary", "near-primary"]
    );
    server.stop().await;
}

#[tokio::test]
async fn unknown_stage_is_neutral_and_never_excluded() {
    let server = TestServer::start(vec![
        school("seeker").stage(Some(Stage::Yellow)),
        school("unknown").stage(None).at(2.0, 0.0),
        school("behind").stage(Some(Stage::Amber)).at(1.0, 0.0),
    ])
    .await;
    let mut request = match_request("seeker", pb::MatchMode::Support);
    request.explain = true;
    let response = ranked(&server, request).await;
    assert_eq!(candidate_ids(&response), ["unknown"]);
    let candidate = &response.candidates[0];
    assert_eq!(candidate.stage_gap, None);
    let stage = &candidate.components[0];
    assert_eq!(stage.factor, pb::Factor::Stage as i32);
    assert_eq!(stage.value, 0.5);
    assert!(stage.reason.contains("unknown"), "{}", stage.reason);
    server.stop().await;
}

#[tokio::test]
async fn answers_are_deterministic_and_explained_consistently() {
    let schools =
        partnermatch_core::dataset::generate(partnermatch_core::dataset::SyntheticConfig {
            schools: 400,
            seed: 99,
            ..Default::default()
        });
    let seeker = schools
        .iter()
        .find(|s| s.stage == Some(Stage::Amber) && s.phase == Phase::Primary && s.open)
        .expect("an amber primary")
        .id
        .to_string();
    let server = TestServer::start(schools).await;
    let mut request = match_request(&seeker, pb::MatchMode::Support);
    request.limit = 8;
    request.explain = true;
    request.focus = vec![
        pb::FocusArea::Literacy as i32,
        pb::FocusArea::Numeracy as i32,
    ];
    let first = ranked(&server, request.clone()).await;
    assert_eq!(first.candidates.len(), 8);
    for _ in 0..5 {
        let again = ranked(&server, request.clone()).await;
        assert_eq!(again.candidates, first.candidates);
        assert_eq!(again.considered, first.considered);
    }
    let mut previous_score = f64::INFINITY;
    for candidate in &first.candidates {
        assert!(candidate.score <= previous_score, "sorted by score");
        previous_score = candidate.score;
        assert_eq!(candidate.components.len(), 9);
        let total: f64 = candidate.components.iter().map(|c| c.contribution).sum();
        assert!(
            (total - candidate.score).abs() < 1e-12,
            "contributions add up"
        );
        let weights: f64 = candidate.components.iter().map(|c| c.weight).sum();
        assert!((weights - 1.0).abs() < 1e-12);
        for component in &candidate.components {
            assert!((0.0..=1.0).contains(&component.value));
            assert!(!component.reason.is_empty());
        }
        for covered in &candidate.covered_focus {
            assert!(
                [
                    pb::FocusArea::Literacy as i32,
                    pb::FocusArea::Numeracy as i32
                ]
                .contains(covered),
                "covered focus comes from the requested focus"
            );
        }
    }
    request.explain = false;
    let plain = ranked(&server, request).await;
    assert!(plain.candidates.iter().all(|c| c.components.is_empty()));
    assert_eq!(candidate_ids(&plain), candidate_ids(&first));
    server.stop().await;
}

#[tokio::test]
async fn focus_coverage_lifts_the_partner_that_meets_the_need() {
    let server = TestServer::start(vec![
        school("seeker")
            .stage(Some(Stage::Amber))
            .needs(&[FocusArea::Numeracy, FocusArea::Attendance]),
        school("covers")
            .at(6.0, 0.0)
            .strengths(&[FocusArea::Numeracy, FocusArea::Attendance]),
        school("nearer-but-wrong-focus")
            .at(4.0, 0.0)
            .strengths(&[FocusArea::Governance]),
    ])
    .await;
    let response = ranked(&server, match_request("seeker", pb::MatchMode::Support)).await;
    assert_eq!(
        candidate_ids(&response),
        ["covers", "nearer-but-wrong-focus"]
    );
    assert_eq!(
        response.candidates[0].covered_focus,
        [
            pb::FocusArea::Numeracy as i32,
            pb::FocusArea::Attendance as i32
        ]
    );
    server.stop().await;
}

/// An asked focus decides (docs/matching.md, "Focus decides"): a partner
/// that covers an asked area ranks above every one that covers none,
/// however much nearer or better placed those are; one that needs an asked
/// area itself is not proposed; weighing focus 0 gives the score back the
/// say.
#[tokio::test]
async fn an_asked_focus_decides_and_a_partner_needing_it_is_not_proposed() {
    let server = TestServer::start(vec![
        school("seeker").stage(Some(Stage::Red)),
        // One stage ahead and next door, but no attendance to give.
        school("near-amber").stage(Some(Stage::Amber)).at(1.0, 0.0),
        // Needs attendance itself: not proposed for it.
        school("needs-it")
            .stage(Some(Stage::Amber))
            .at(0.5, 0.0)
            .needs(&[FocusArea::Attendance]),
        // Covers it, further and further ahead.
        school("far-green")
            .stage(Some(Stage::Green))
            .at(25.0, 0.0)
            .strengths(&[FocusArea::Attendance]),
    ])
    .await;
    let mut asked = match_request("seeker", pb::MatchMode::Support);
    asked.focus = vec![pb::FocusArea::Attendance as i32];
    asked.explain = true;
    let response = ranked(&server, asked.clone()).await;
    assert_eq!(candidate_ids(&response), ["far-green", "near-amber"]);
    // The score is still the weighted mean, and lower for the first.
    assert!(response.candidates[0].score < response.candidates[1].score);
    for candidate in &response.candidates {
        let sum: f64 = candidate.components.iter().map(|c| c.contribution).sum();
        assert!((sum - candidate.score).abs() < 1e-9);
    }
    // Without the asked focus the score alone ranks (its needs unrecorded,
    // the seeker asks nothing of anyone).
    let plain = ranked(&server, match_request("seeker", pb::MatchMode::Support)).await;
    assert_eq!(candidate_ids(&plain)[0], "needs-it");
    // Focus weighed 0: the score decides again.
    let mut weighed = asked.clone();
    weighed.weights = Some(pb::Weights {
        focus: Some(0.0),
        ..Default::default()
    });
    let response = ranked(&server, weighed).await;
    assert_eq!(candidate_ids(&response), ["near-amber", "far-green"]);
    server.stop().await;
}

/// With only the seeker's recorded needs, a partner that needs one of them
/// itself and covers none never ranks above one that covers one.
#[tokio::test]
async fn a_partner_needing_what_the_seeker_needs_ranks_below_one_that_covers_it() {
    let server = TestServer::start(vec![
        school("seeker")
            .stage(Some(Stage::Red))
            .needs(&[FocusArea::Numeracy]),
        school("needs-numeracy")
            .stage(Some(Stage::Amber))
            .at(1.0, 0.0)
            .needs(&[FocusArea::Numeracy]),
        school("covers")
            .stage(Some(Stage::Green))
            .at(30.0, 0.0)
            .strengths(&[FocusArea::Numeracy]),
        school("neither").stage(Some(Stage::Amber)).at(2.0, 0.0),
    ])
    .await;
    let response = ranked(&server, match_request("seeker", pb::MatchMode::Support)).await;
    let ids = candidate_ids(&response);
    let at = |id: &str| ids.iter().position(|x| x == id).unwrap();
    assert!(at("covers") < at("needs-numeracy"), "{ids:?}");
    assert!(at("neither") < at("needs-numeracy"), "{ids:?}");
    server.stop().await;
}

/// LEAD ranks need: a partner with a need the leader's strengths meet ranks
/// above one with none recorded ("no needs" scores 0 there, not neutral);
/// a leader is not proposed for an area it needs itself.
#[tokio::test]
async fn lead_ranks_partners_whose_needs_the_leader_meets_first() {
    let server = TestServer::start(vec![
        school("leader")
            .stage(Some(Stage::Green))
            .strengths(&[FocusArea::Literacy])
            .needs(&[FocusArea::Governance]),
        school("nothing-recorded")
            .stage(Some(Stage::Yellow))
            .at(1.0, 0.0),
        school("needs-literacy")
            .stage(Some(Stage::Amber))
            .at(20.0, 0.0)
            .needs(&[FocusArea::Literacy]),
    ])
    .await;
    let mut request = match_request("leader", pb::MatchMode::Lead);
    request.explain = true;
    let response = ranked(&server, request).await;
    assert_eq!(
        candidate_ids(&response),
        ["needs-literacy", "nothing-recorded"]
    );
    let focus = response.candidates[1]
        .components
        .iter()
        .find(|c| c.factor == pb::Factor::Focus as i32)
        .unwrap();
    assert_eq!(focus.value, 0.0, "{}", focus.reason);
    let mut asked = match_request("leader", pb::MatchMode::Lead);
    asked.focus = vec![pb::FocusArea::Governance as i32];
    let refused = server.matcher().await.r#match(asked).await.unwrap_err();
    assert_eq!(refused.code(), tonic::Code::FailedPrecondition);
    assert!(
        refused.message().contains("needs governance itself"),
        "{}",
        refused.message()
    );
    server.stop().await;
}
