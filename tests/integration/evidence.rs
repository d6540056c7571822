//! Evaluations through the real gRPC interface (README "Evidence"):
//! 1. a school with report-card grades and no stage gets its stage,
//!    strengths and needs derived, each with its reason, and is matched on
//!    them;
//! 2. stale evidence is unknown, marked and explained;
//! 3. an evaluation its framework cannot give is refused by field and
//!    changes nothing.

use partnermatch::pb;
use partnermatch::pb::school_registry_client::SchoolRegistryClient;
use partnermatch_core::domain::Stage;
use tonic::Code;

use crate::support::fixtures::{SchoolExt, candidate_ids, match_request, school, school_proto};
use crate::support::server::TestServer;
use crate::support::status::{assert_invalid_field, assert_status};

fn evaluation(area: pb::EvaluationArea, judgement: pb::Judgement, date: &str) -> pb::Evaluation {
    pb::Evaluation {
        framework: pb::EvaluationFramework::OfstedReportCard as i32,
        area: area as i32,
        judgement: judgement as i32,
        date: date.into(),
        source: "https://reports.ofsted.gov.uk/".into(),
        ..pb::Evaluation::default()
    }
}

/// The school as stored by UpsertSchool.
async fn upserted(
    registry: &mut SchoolRegistryClient<tonic::transport::Channel>,
    school: pb::School,
) -> pb::School {
    registry
        .upsert_school(pb::UpsertSchoolRequest {
            school: Some(school),
        })
        .await
        .unwrap()
        .into_inner()
        .school
        .unwrap()
}

/// A school without a stage, with a report card: strong leadership and
/// attendance, achievement needing attention.
fn report_card_school(id: &str) -> pb::School {
    use pb::EvaluationArea as A;
    use pb::Judgement as J;
    let mut proto = school_proto(&school(id).stage(None));
    proto.evaluations = vec![
        evaluation(A::LeadershipAndGovernance, J::StrongStandard, "2026-01-20"),
        evaluation(A::AttendanceAndBehaviour, J::Exceptional, "2026-01-20"),
        evaluation(A::Achievement, J::NeedsAttention, "2026-01-20"),
        evaluation(A::Safeguarding, J::Met, "2026-01-20"),
    ];
    proto
}

#[tokio::test]
async fn report_card_grades_give_stage_strengths_and_needs_and_are_matched_on() {
    let server = TestServer::start(vec![
        school("ahead").stage(Some(Stage::Yellow)).at(1.0, 0.0),
        school("behind").stage(Some(Stage::Red)).at(0.5, 0.0),
    ])
    .await;
    let mut registry = server.registry().await;
    let stored = upserted(&mut registry, report_card_school("card")).await;
    assert_eq!(stored.stage, pb::Stage::Unspecified as i32, "none given");
    let evidence = stored.evidence.unwrap();
    assert_eq!(evidence.stage, pb::Stage::Amber as i32);
    assert_eq!(
        evidence.stage_reason,
        "ofsted_report_card 2026-01-20: 3 areas graded; achievement needs attention"
    );
    use pb::FocusArea as F;
    let areas = |list: &[F]| list.iter().map(|&a| a as i32).collect::<Vec<_>>();
    assert_eq!(
        evidence.strengths,
        areas(&[
            F::SelfEvaluation,
            F::SeniorLeadership,
            F::Attendance,
            F::Behaviour,
            F::Governance
        ])
    );
    assert_eq!(
        evidence.needs,
        areas(&[F::DataAndTracking, F::Literacy, F::Numeracy])
    );
    assert!(!evidence.safeguarding_not_met);
    assert_eq!(
        stored.effective_capacity, 1,
        "the default for the derived stage"
    );
    let grades: Vec<i32> = stored.evaluations.iter().map(|e| e.grade).collect();
    assert_eq!(
        grades,
        [
            pb::Grade::StrongStandard as i32,
            pb::Grade::Exceptional as i32,
            pb::Grade::NeedsAttention as i32,
            pb::Grade::Unspecified as i32,
        ]
    );

    // Matched as amber: SUPPORT never offers the red school behind it, and
    // the stage component explains the derived stage.
    let mut matcher = server.matcher().await;
    let mut request = match_request("card", pb::MatchMode::Support);
    request.explain = true;
    let reply = matcher.r#match(request).await.unwrap().into_inner();
    let ids = candidate_ids(&reply);
    assert_eq!(ids, ["ahead"]);
    assert_eq!(reply.candidates[0].stage_gap, Some(1));
    server.stop().await;
}

#[tokio::test]
async fn stale_evidence_is_unknown_marked_and_explained() {
    let server = TestServer::start(Vec::new()).await;
    let mut registry = server.registry().await;
    let mut proto = school_proto(&school("old").stage(None));
    proto.evaluations = vec![pb::Evaluation {
        framework: pb::EvaluationFramework::WalesCategory as i32,
        area: pb::EvaluationArea::Overall as i32,
        judgement: pb::Judgement::Amber as i32,
        date: "2019-01-31".into(),
        ..pb::Evaluation::default()
    }];
    let stored = upserted(&mut registry, proto).await;
    let evidence = stored.evidence.unwrap();
    assert_eq!(evidence.stage, pb::Stage::Unspecified as i32);
    assert_eq!(
        evidence.stage_reason,
        "no current evidence (wales_category overall amber 2019-01-31: older than 4 years)"
    );
    assert!(stored.evaluations[0].stale);

    // A Match that meets it says why its stage is unknown, with the year.
    registry
        .upsert_school(pb::UpsertSchoolRequest {
            school: Some(school_proto(
                &school("seeker").stage(Some(Stage::Red)).at(3.0, 0.0),
            )),
        })
        .await
        .unwrap();
    let mut request = match_request("seeker", pb::MatchMode::Support);
    request.explain = true;
    let response = server
        .matcher()
        .await
        .r#match(request)
        .await
        .unwrap()
        .into_inner();
    let stage = response.candidates[0]
        .components
        .iter()
        .find(|c| c.factor == pb::Factor::Stage as i32)
        .unwrap();
    assert_eq!(
        stage.reason,
        "partner's stage unknown: scored as neutral; partner: no current evidence (wales_category overall amber 2019-01-31: older than 4 years)"
    );
    server.stop().await;
}

/// A change that makes an evaluation invalid.
type Mutation = fn(&mut pb::Evaluation);

#[tokio::test]
async fn evaluations_a_framework_cannot_give_are_refused_by_field() {
    let server = TestServer::start(Vec::new()).await;
    let mut registry = server.registry().await;
    let refuse = |mutate: Mutation| {
        let mut proto = report_card_school("bad");
        mutate(&mut proto.evaluations[1]);
        pb::UpsertSchoolRequest {
            school: Some(proto),
        }
    };
    let cases: [(Mutation, &str, &str); 6] = [
        (
            |e| e.area = pb::EvaluationArea::Learning as i32,
            "school.evaluations[1].area",
            "ofsted_report_card does not judge learning",
        ),
        (
            |e| e.judgement = pb::Judgement::Good as i32,
            "school.evaluations[1].judgement",
            "it gives: urgent_improvement, needs_attention",
        ),
        (
            |e| e.judgement = 99,
            "school.evaluations[1].judgement",
            "unknown enum value 99",
        ),
        (
            |e| e.framework = 0,
            "school.evaluations[1].framework",
            "is required",
        ),
        (
            |e| e.date = "20/01/2026".into(),
            "school.evaluations[1].date",
            "must be a date YYYY-MM-DD",
        ),
        (
            |e| e.source = "x".repeat(201),
            "school.evaluations[1].source",
            "at most 200",
        ),
    ];
    for (mutate, field, fragment) in cases {
        let status = registry.upsert_school(refuse(mutate)).await.unwrap_err();
        assert_invalid_field(&status, field);
        assert_status(&status, Code::InvalidArgument, fragment);
    }
    let mut many = report_card_school("many");
    many.evaluations = vec![many.evaluations[0].clone(); 65];
    let status = registry
        .upsert_school(pb::UpsertSchoolRequest { school: Some(many) })
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::InvalidArgument,
        "school.evaluations: must have at most 64 evaluations, got 65",
    );
    let missing = registry
        .get_school(pb::GetSchoolRequest { id: "bad".into() })
        .await
        .unwrap_err();
    assert_eq!(missing.code(), Code::NotFound, "nothing was written");
    server.stop().await;
}

/// The case: safeguarding found not met and special measures in
/// 2022, nothing since — past the 4-year horizon it was "unknown" and
/// offered as a supporter. It stands until a later judgement says
/// otherwise: never a supporter or a lead, red, and the reasons say which
/// judgement and when. A later inspection finding it met lifts it.
#[tokio::test]
async fn safeguarding_not_met_years_ago_stands_until_a_later_judgement() {
    use pb::EvaluationArea as A;
    use pb::Judgement as J;
    let legacy = |area: A, judgement: J, date: &str| pb::Evaluation {
        framework: pb::EvaluationFramework::OfstedLegacy as i32,
        ..evaluation(area, judgement, date)
    };
    let mut flagged = school_proto(&school("flagged").stage(None).at(0.1, 0.0));
    // Places to give, so only safeguarding keeps it from supporting.
    flagged.capacity = Some(2);
    flagged.evaluations = vec![
        legacy(A::CategoryOfConcern, J::SpecialMeasures, "2022-10-12"),
        legacy(A::Safeguarding, J::NotMet, "2022-10-12"),
    ];
    let server = TestServer::start(vec![
        school("seeker").stage(Some(Stage::Red)),
        school("other").stage(Some(Stage::Yellow)).at(5.0, 0.0),
    ])
    .await;
    let mut registry = server.registry().await;
    let evidence = upserted(&mut registry, flagged.clone())
        .await
        .evidence
        .unwrap();
    assert!(evidence.safeguarding_not_met);
    assert!(
        evidence.safeguarding_reason.contains("not_met 2022-10-12"),
        "{}",
        evidence.safeguarding_reason
    );
    assert_eq!(
        evidence.stage,
        pb::Stage::Red as i32,
        "{}",
        evidence.stage_reason
    );
    assert!(
        evidence
            .stage_reason
            .contains("special_measures 2022-10-12"),
        "{}",
        evidence.stage_reason
    );
    let mut matcher = server.matcher().await;
    for mode in [pb::MatchMode::Support, pb::MatchMode::Peer] {
        let reply = matcher
            .r#match(match_request("seeker", mode))
            .await
            .unwrap()
            .into_inner();
        assert_eq!(candidate_ids(&reply), ["other"], "{mode:?}");
        assert_eq!(reply.excluded_for_safeguarding, 1, "{mode:?}");
    }
    let status = matcher
        .r#match(match_request("flagged", pb::MatchMode::Lead))
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "safeguarding not met");

    // A later inspection finds safeguarding met and lifts the category.
    flagged.evaluations.extend([
        legacy(A::Overall, J::Good, "2022-11-01"),
        legacy(A::Safeguarding, J::Met, "2022-11-01"),
    ]);
    let evidence = upserted(&mut registry, flagged).await.evidence.unwrap();
    assert!(!evidence.safeguarding_not_met);
    assert_eq!(evidence.safeguarding_reason, "");
    let reply = matcher
        .r#match(match_request("seeker", pb::MatchMode::Peer))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.excluded_for_safeguarding, 0);
    assert!(candidate_ids(&reply).contains(&"flagged".to_owned()));
    server.stop().await;
}

#[tokio::test]
async fn safeguarding_not_met_is_never_proposed_to_support_or_lead_and_is_counted() {
    use pb::EvaluationArea as A;
    use pb::Judgement as J;
    // The best supporter on every other count, next door, but its latest
    // report card has safeguarding not met.
    let mut flagged = school_proto(&school("flagged").stage(Some(Stage::Green)).at(0.1, 0.0));
    flagged.evaluations = vec![
        evaluation(A::LeadershipAndGovernance, J::StrongStandard, "2026-02-02"),
        evaluation(A::Safeguarding, J::NotMet, "2026-02-02"),
    ];
    let server = TestServer::start(vec![
        school("seeker").stage(Some(Stage::Amber)),
        school("other").stage(Some(Stage::Yellow)).at(5.0, 0.0),
    ])
    .await;
    let mut registry = server.registry().await;
    let stored = upserted(&mut registry, flagged).await;
    assert!(stored.evidence.unwrap().safeguarding_not_met);

    let mut matcher = server.matcher().await;
    for mode in [pb::MatchMode::Support, pb::MatchMode::Peer] {
        let reply = matcher
            .r#match(match_request("seeker", mode))
            .await
            .unwrap()
            .into_inner();
        let ids = candidate_ids(&reply);
        assert_eq!(ids, ["other"], "{mode:?}");
        assert_eq!(reply.excluded_for_safeguarding, 1, "{mode:?}");
    }
    // Out of reach anyway: not counted.
    let mut near = match_request("seeker", pb::MatchMode::Support);
    near.max_distance_km = Some(0.05);
    let reply = matcher.r#match(near).await.unwrap().into_inner();
    assert_eq!(reply.excluded_for_safeguarding, 0);

    let status = matcher
        .r#match(match_request("flagged", pb::MatchMode::Lead))
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "safeguarding not met");
    // It may still seek support itself.
    let reply = matcher
        .r#match(match_request("flagged", pb::MatchMode::Peer))
        .await
        .unwrap()
        .into_inner();
    assert!(!reply.candidates.is_empty());
    server.stop().await;
}

#[tokio::test]
async fn with_a_focus_the_stage_compares_grades_in_that_area() {
    use pb::EvaluationArea as A;
    use pb::Judgement as J;
    let card = |id: &str, north_km: f64, grades: [(A, J); 3]| {
        let mut proto = school_proto(&school(id).stage(None).at(north_km, 0.0));
        proto.evaluations = grades
            .into_iter()
            .map(|(area, judgement)| evaluation(area, judgement, "2026-01-20"))
            .collect();
        proto
    };
    let server = TestServer::start(vec![
        // Green overall, no evidence by area: two grades above the seeker's
        // attendance.
        school("green").stage(Some(Stage::Green)).at(1.0, 0.0),
    ])
    .await;
    let mut registry = server.registry().await;
    for proto in [
        // Amber: attendance and behaviour need attention.
        card(
            "seeker",
            0.0,
            [
                (A::AttendanceAndBehaviour, J::NeedsAttention),
                (A::LeadershipAndGovernance, J::ExpectedStandard),
                (A::Achievement, J::ExpectedStandard),
            ],
        ),
        // Amber overall (achievement), but one step ahead in attendance.
        card(
            "steady",
            2.0,
            [
                (A::AttendanceAndBehaviour, J::ExpectedStandard),
                (A::LeadershipAndGovernance, J::ExpectedStandard),
                (A::Achievement, J::NeedsAttention),
            ],
        ),
    ] {
        upserted(&mut registry, proto).await;
    }
    let mut matcher = server.matcher().await;
    let mut request = match_request("seeker", pb::MatchMode::Support);
    request.focus = vec![pb::FocusArea::Attendance as i32];
    request.explain = true;
    let reply = matcher.r#match(request).await.unwrap().into_inner();
    let ids = candidate_ids(&reply);
    assert_eq!(ids, ["steady", "green"], "the area-ahead partner first");
    let stage = |rank: usize| {
        reply.candidates[rank]
            .components
            .iter()
            .find(|c| c.factor == pb::Factor::Stage as i32)
            .unwrap()
            .clone()
    };
    assert_eq!(stage(0).value, 1.0);
    assert_eq!(
        stage(0).reason,
        "by area, seeker → partner: attendance needs attention → expected standard (one step ahead in the area is best); \
         evidence: attendance: seeker ofsted_report_card 2026-01-20, partner ofsted_report_card 2026-01-20"
    );
    assert!(
        (stage(1).value - 0.3).abs() < 1e-12,
        "two steps: {:?}",
        stage(1)
    );
    assert!(
        stage(1)
            .reason
            .contains("attendance needs attention → green overall")
    );

    // Without a focus the seeker's needs (attendance, behaviour) are the
    // areas; a match about nothing compares overall stages.
    let reply = matcher
        .r#match(match_request("seeker", pb::MatchMode::Support))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.candidates[0].school_id, "steady");
    server.stop().await;
}
