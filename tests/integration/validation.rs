//! Every invalid input gets INVALID_ARGUMENT naming its field (in the
//! message and in a BadRequest detail) and changes nothing; unknown ids get
//! NOT_FOUND; impossible requests FAILED_PRECONDITION.

use partnermatch::pb;
use partnermatch_core::domain::Stage;
use tonic::Code;

use crate::support::fixtures::{SchoolExt, match_request, school, school_proto};
use crate::support::server::TestServer;
use crate::support::status::{assert_invalid_field, assert_status};

#[tokio::test]
async fn invalid_schools_name_their_field_and_change_nothing() {
    let server = TestServer::start(vec![school("base")]).await;
    let mut registry = server.registry().await;
    let base = school_proto(&school("base"));
    type Edit = fn(&mut pb::School);
    let cases: Vec<(&str, Edit)> = vec![
        ("school.id", |s| s.id = String::new()),
        ("school.id", |s| s.id = "x".repeat(65)),
        ("school.id", |s| s.id = "has space".into()),
        ("school.name", |s| s.name = String::new()),
        ("school.name", |s| s.name = "n".repeat(201)),
        ("school.phase", |s| s.phase = 0),
        ("school.phase", |s| s.phase = 99),
        ("school.stage", |s| s.stage = 9),
        ("school.language_medium", |s| s.language_medium = -1),
        ("school.latitude", |s| s.latitude = Some(f64::NAN)),
        ("school.latitude", |s| s.latitude = Some(90.5)),
        ("school.latitude", |s| s.latitude = None),
        ("school.longitude", |s| s.longitude = Some(-180.01)),
        ("school.longitude", |s| s.longitude = Some(f64::INFINITY)),
        ("school.fsm_percent", |s| s.fsm_percent = Some(100.5)),
        ("school.deprivation_percent", |s| {
            s.deprivation_percent = Some(-0.1)
        }),
        ("school.aln_percent", |s| s.aln_percent = Some(f64::NAN)),
        ("school.eal_percent", |s| s.eal_percent = Some(1e9)),
        ("school.pupils", |s| s.pupils = Some(20_001)),
        ("school.capacity", |s| s.capacity = Some(51)),
        ("school.strengths[1]", |s| s.strengths = vec![1, 0]),
        ("school.needs[0]", |s| s.needs = vec![22]),
        ("school.local_authority", |s| {
            s.local_authority = "l".repeat(101)
        }),
        ("school.consortium", |s| s.consortium = "c".repeat(101)),
        ("school.family_id", |s| s.family_id = "f".repeat(65)),
        ("school.religious_character", |s| {
            s.religious_character = "r".repeat(101)
        }),
    ];
    for (field, edit) in cases {
        let mut bad = base.clone();
        bad.name = "Should not be stored".into();
        edit(&mut bad);
        let status = registry
            .upsert_school(pb::UpsertSchoolRequest {
                school: Some(bad.clone()),
            })
            .await
            .expect_err(field);
        assert_invalid_field(&status, field);
        let stream = tokio_stream::iter([pb::ImportSchoolsRequest {
            school: Some(bad),
            ..Default::default()
        }]);
        let reply = registry.import_schools(stream).await.unwrap().into_inner();
        assert_eq!(reply.rejected, 1, "{field}");
        assert_eq!(reply.errors[0].field, field);
    }
    let status = registry
        .upsert_school(pb::UpsertSchoolRequest { school: None })
        .await
        .unwrap_err();
    assert_invalid_field(&status, "school");

    // Several problems are all reported at once.
    let mut many = base.clone();
    many.latitude = Some(100.0);
    many.phase = 0;
    many.pupils = Some(1_000_000);
    let status = registry
        .upsert_school(pb::UpsertSchoolRequest { school: Some(many) })
        .await
        .unwrap_err();
    for field in ["school.latitude", "school.phase", "school.pupils"] {
        assert_invalid_field(&status, field);
    }

    let stored = server.engine.snapshot();
    assert_eq!(stored.len(), 1);
    assert_eq!(stored.schools()[0].school.name, "School base");
    server.stop().await;
}

#[tokio::test]
async fn invalid_match_requests_name_their_field() {
    let server = TestServer::start(vec![school("seeker"), school("other").at(1.0, 0.0)]).await;
    let mut matcher = server.matcher().await;
    type Edit = fn(&mut pb::MatchRequest);
    let cases: Vec<(&str, Edit)> = vec![
        ("school_id", |r| r.school_id = String::new()),
        ("school_id", |r| r.school_id = "s".repeat(65)),
        ("mode", |r| r.mode = 0),
        ("mode", |r| r.mode = 4),
        ("phase_relation", |r| r.phase_relation = 9),
        ("focus[0]", |r| r.focus = vec![0]),
        ("focus[1]", |r| r.focus = vec![2, 77]),
        ("limit", |r| r.limit = 101),
        ("max_distance_km", |r| r.max_distance_km = Some(-1.0)),
        ("max_distance_km", |r| r.max_distance_km = Some(f64::NAN)),
        ("max_distance_km", |r| r.max_distance_km = Some(2000.5)),
        ("proximity_scale_km", |r| r.proximity_scale_km = Some(0.5)),
        ("exclude_ids[0]", |r| r.exclude_ids = vec!["bad id".into()]),
        ("exclude_ids", |r| r.exclude_ids = vec!["x".into(); 1001]),
        ("weights.stage", |r| {
            r.weights = Some(pb::Weights {
                stage: Some(-0.1),
                ..Default::default()
            })
        }),
        ("weights.load", |r| {
            r.weights = Some(pb::Weights {
                load: Some(f64::INFINITY),
                ..Default::default()
            })
        }),
        ("weights.proximity", |r| {
            r.weights = Some(pb::Weights {
                proximity: Some(1000.5),
                ..Default::default()
            })
        }),
        ("weights", |r| {
            r.weights = Some(pb::Weights {
                stage: Some(0.0),
                proximity: Some(0.0),
                context: Some(0.0),
                focus: Some(0.0),
                phase: Some(0.0),
                language: Some(0.0),
                size: Some(0.0),
                load: Some(0.0),
                track_record: Some(0.0),
            })
        }),
    ];
    for (field, edit) in cases {
        let mut request = match_request("seeker", pb::MatchMode::Support);
        edit(&mut request);
        let status = matcher.r#match(request).await.expect_err(field);
        assert_invalid_field(&status, field);
    }

    let status = matcher
        .r#match(match_request("nobody", pb::MatchMode::Support))
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "");
    assert_eq!(status.message(), "school \"nobody\" not found");
    server.stop().await;
}

#[tokio::test]
async fn impossible_matches_are_failed_preconditions() {
    let mut closed = school("closed");
    closed.open = false;
    let mut no_consortium = school("loner").at(2.0, 0.0);
    no_consortium.consortium = String::new();
    let server = TestServer::start(vec![
        closed,
        no_consortium,
        school("red").stage(Some(Stage::Red)).at(1.0, 0.0),
    ])
    .await;
    let mut matcher = server.matcher().await;
    let status = matcher
        .r#match(match_request("closed", pb::MatchMode::Support))
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "closed");

    let status = matcher
        .r#match(match_request("red", pb::MatchMode::Lead))
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::FailedPrecondition,
        "no free capacity to lead",
    );

    let mut request = match_request("loner", pb::MatchMode::Peer);
    request.same_consortium = true;
    let status = matcher.r#match(request).await.unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "no consortium");
    server.stop().await;
}

#[tokio::test]
async fn invalid_registry_reads_name_their_field() {
    let server = TestServer::start(vec![school("a")]).await;
    let mut registry = server.registry().await;
    let status = registry
        .get_school(pb::GetSchoolRequest { id: String::new() })
        .await
        .unwrap_err();
    assert_invalid_field(&status, "id");
    let status = registry
        .delete_school(pb::DeleteSchoolRequest { id: "a b".into() })
        .await
        .unwrap_err();
    assert_invalid_field(&status, "id");
    for (field, request) in [
        (
            "page_size",
            pb::ListSchoolsRequest {
                page_size: 1001,
                ..Default::default()
            },
        ),
        (
            "page_token",
            pb::ListSchoolsRequest {
                page_token: "garbage!".into(),
                ..Default::default()
            },
        ),
        (
            "phase",
            pb::ListSchoolsRequest {
                phase: 42,
                ..Default::default()
            },
        ),
        (
            "stage",
            pb::ListSchoolsRequest {
                stage: -3,
                ..Default::default()
            },
        ),
        (
            "consortium",
            pb::ListSchoolsRequest {
                consortium: "c".repeat(101),
                ..Default::default()
            },
        ),
    ] {
        let status = registry.list_schools(request).await.unwrap_err();
        assert_invalid_field(&status, field);
    }
    server.stop().await;
}
