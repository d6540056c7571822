//! SchoolRegistry through the real gRPC interface:
//! 1. upsert creates then replaces, and derives challenge index, family and
//!    capacity;
//! 2. get, list with paging and every filter, delete;
//! 3. an import stream applies its valid schools and reports each bad one;
//! 4. a rejected write changes nothing.

use partnermatch::pb;
use partnermatch_core::domain::{Phase, Stage};
use tonic::Code;

use crate::support::fixtures::{SchoolExt, match_request, school, school_proto};
use crate::support::server::TestServer;
use crate::support::status::assert_invalid_field;

fn upsert(school: &partnermatch_core::domain::School) -> pb::UpsertSchoolRequest {
    pb::UpsertSchoolRequest {
        school: Some(school_proto(school)),
    }
}

#[tokio::test]
async fn upsert_get_list_delete_round_trip() {
    let server = TestServer::start(Vec::new()).await;
    let mut registry = server.registry().await;

    let fixtures = [
        school("a1").stage(Some(Stage::Green)),
        school("a2").stage(Some(Stage::Red)),
        school("b1").phase(Phase::Secondary).area("Swansea", "ERW"),
        school("b2").stage(None).area("Swansea", "ERW"),
        school("c1").area("Gwynedd", "GwE"),
    ];
    for fixture in &fixtures {
        let reply = registry
            .upsert_school(upsert(fixture))
            .await
            .unwrap()
            .into_inner();
        assert!(reply.created, "{} is new", fixture.id);
    }
    let mut renamed = fixtures[0].clone();
    renamed.name = "Renamed".into();
    let reply = registry
        .upsert_school(upsert(&renamed))
        .await
        .unwrap()
        .into_inner();
    assert!(!reply.created, "second upsert replaces");
    assert_eq!(reply.school.unwrap().name, "Renamed");

    let a2 = registry
        .get_school(pb::GetSchoolRequest { id: "a2".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(a2.stage, pb::Stage::Red as i32);
    assert_eq!(a2.challenge_index, Some(20.0), "fsm only: index is fsm");
    assert_eq!(
        (a2.capacity, a2.effective_capacity),
        (None, 0),
        "red default capacity"
    );

    // Paging in id order with a stable total.
    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let page = registry
            .list_schools(pb::ListSchoolsRequest {
                page_size: 2,
                page_token: token.clone(),
                ..Default::default()
            })
            .await
            .unwrap()
            .into_inner();
        assert_eq!(page.total_size, 5);
        assert!(page.schools.len() <= 2);
        seen.extend(page.schools.into_iter().map(|s| s.id));
        if page.next_page_token.is_empty() {
            break;
        }
        token = page.next_page_token;
    }
    assert_eq!(seen, ["a1", "a2", "b1", "b2", "c1"]);

    let list = |request: pb::ListSchoolsRequest| {
        let mut registry = registry.clone();
        async move {
            let page = registry.list_schools(request).await.unwrap().into_inner();
            (
                page.total_size,
                page.schools.into_iter().map(|s| s.id).collect::<Vec<_>>(),
            )
        }
    };
    assert_eq!(
        list(pb::ListSchoolsRequest {
            consortium: "erw".into(),
            ..Default::default()
        })
        .await,
        (2, vec!["b1".to_owned(), "b2".to_owned()]),
        "consortium filter is case-insensitive"
    );
    assert_eq!(
        list(pb::ListSchoolsRequest {
            local_authority: "Gwynedd".into(),
            ..Default::default()
        })
        .await,
        (1, vec!["c1".to_owned()])
    );
    assert_eq!(
        list(pb::ListSchoolsRequest {
            phase: pb::Phase::Secondary as i32,
            ..Default::default()
        })
        .await,
        (1, vec!["b1".to_owned()])
    );
    assert_eq!(
        list(pb::ListSchoolsRequest {
            stage: pb::Stage::Green as i32,
            ..Default::default()
        })
        .await,
        (1, vec!["a1".to_owned()])
    );

    registry
        .delete_school(pb::DeleteSchoolRequest { id: "a2".into() })
        .await
        .unwrap();
    let gone = registry
        .get_school(pb::GetSchoolRequest { id: "a2".into() })
        .await
        .unwrap_err();
    assert_eq!(gone.code(), Code::NotFound);
    assert_eq!(gone.message(), "school \"a2\" not found");
    let again = registry
        .delete_school(pb::DeleteSchoolRequest { id: "a2".into() })
        .await
        .unwrap_err();
    assert_eq!(again.code(), Code::NotFound);
    assert_eq!(server.engine.snapshot().len(), 4);
    server.stop().await;
}

#[tokio::test]
async fn families_are_computed_kept_when_given_and_listed() {
    let server = TestServer::start(Vec::new()).await;
    let mut registry = server.registry().await;
    // Eight similar Welsh-medium primaries form one computed family; one with
    // a given family keeps it; one without any context measure gets none.
    let mut batch: Vec<_> = (0..8)
        .map(|i| {
            let mut s = school(&format!("f{i}"));
            s.language_medium = Some(partnermatch_core::domain::LanguageMedium::Welsh);
            s.context.fsm_percent = Some(10.0 + f64::from(i));
            s
        })
        .collect();
    let mut given = school("g1");
    given.family_id = Some("island-family-1".into());
    batch.push(given);
    let mut unknown = school("u1");
    unknown.context.fsm_percent = None;
    batch.push(unknown);
    let messages: Vec<_> = batch
        .iter()
        .map(|s| pb::ImportSchoolsRequest {
            school: Some(school_proto(s)),
            ..Default::default()
        })
        .collect();
    let stream = tokio_stream::iter(messages);
    let reply = registry.import_schools(stream).await.unwrap().into_inner();
    assert_eq!((reply.received, reply.created, reply.rejected), (10, 10, 0));

    let f0 = registry
        .get_school(pb::GetSchoolRequest { id: "f0".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(f0.family_id, "auto-primary-cy-medium-01");
    let family = registry
        .list_schools(pb::ListSchoolsRequest {
            family_id: f0.family_id.clone(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(family.total_size, 8);
    assert!(
        family
            .schools
            .iter()
            .all(|s| s.family_id == "auto-primary-cy-medium-01"),
        "listed with their family"
    );
    let matched = server
        .matcher()
        .await
        .r#match(match_request("f0", pb::MatchMode::Peer))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        matched.seeker.unwrap().family_id,
        "auto-primary-cy-medium-01",
        "the seeker's family in a Match answer"
    );

    // Sending the computed family back (read-modify-write) keeps it computed.
    let mut edited = f0.clone();
    edited.name = "Edited".into();
    let reply = registry
        .upsert_school(pb::UpsertSchoolRequest {
            school: Some(edited),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(reply.school.unwrap().family_id, "auto-primary-cy-medium-01");

    let g1 = registry
        .get_school(pb::GetSchoolRequest { id: "g1".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(g1.family_id, "island-family-1");
    let u1 = registry
        .get_school(pb::GetSchoolRequest { id: "u1".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!((u1.family_id.as_str(), u1.challenge_index), ("", None));
    let island = registry
        .list_schools(pb::ListSchoolsRequest {
            family_id: "island-family-1".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(island.total_size, 1);

    // Eight more with less challenge make the group two families: f0 is
    // not written, yet its place in the cut moves it to the second.
    for i in 0..8 {
        let mut s = school(&format!("h{i}"));
        s.language_medium = Some(partnermatch_core::domain::LanguageMedium::Welsh);
        s.context.fsm_percent = Some(1.0 + f64::from(i));
        registry
            .upsert_school(pb::UpsertSchoolRequest {
                school: Some(school_proto(&s)),
            })
            .await
            .unwrap();
    }
    let f0 = registry
        .get_school(pb::GetSchoolRequest { id: "f0".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(f0.family_id, "auto-primary-cy-medium-02");
    let first = registry
        .list_schools(pb::ListSchoolsRequest {
            family_id: "auto-primary-cy-medium-01".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = first.schools.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7"]);
    server.stop().await;
}

#[tokio::test]
async fn import_applies_valid_schools_and_reports_each_bad_one() {
    let server = TestServer::start(vec![school("existing"), school("same")]).await;
    let mut registry = server.registry().await;
    let mut renamed = school("existing");
    renamed.name = "Renamed".into();
    let mut bad_latitude = school_proto(&school("bad1"));
    bad_latitude.latitude = Some(123.0);
    let messages = vec![
        pb::ImportSchoolsRequest {
            school: Some(school_proto(&school("new1"))),
            ..Default::default()
        },
        pb::ImportSchoolsRequest {
            school: Some(bad_latitude),
            ..Default::default()
        },
        pb::ImportSchoolsRequest {
            school: Some(school_proto(&renamed)),
            ..Default::default()
        },
        pb::ImportSchoolsRequest {
            school: None,
            ..Default::default()
        },
        pb::ImportSchoolsRequest {
            school: Some(school_proto(&school("new1"))),
            ..Default::default()
        },
        pb::ImportSchoolsRequest {
            school: Some(school_proto(&school("same"))),
            ..Default::default()
        },
    ];
    let reply = registry
        .import_schools(tokio_stream::iter(messages))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            reply.received,
            reply.created,
            reply.updated,
            reply.unchanged,
            reply.rejected
        ),
        (6, 1, 1, 1, 3)
    );
    assert_eq!(
        error_positions(&reply),
        [
            (2, "bad1", "school.latitude"),
            (4, "", "school"),
            (5, "new1", "school.id")
        ]
    );
    assert!(
        reply.errors[0]
            .message
            .contains("must be between -90 and 90, got 123")
    );
    assert!(
        reply.errors[2]
            .message
            .contains("duplicate id (first on message 1)")
    );
    let ids: Vec<_> = server
        .engine
        .snapshot()
        .schools()
        .iter()
        .map(|s| s.school.id.to_string())
        .collect();
    assert_eq!(ids, ["existing", "new1", "same"]);
    assert_eq!(
        server.engine.get("existing").unwrap().school.name,
        "Renamed"
    );
    server.stop().await;
}

#[tokio::test]
async fn a_rejected_write_changes_nothing() {
    let original = school("s1").stage(Some(Stage::Green));
    let server = TestServer::start(vec![original.clone()]).await;
    let mut registry = server.registry().await;
    let mut broken = school_proto(&original);
    broken.name = "Changed".into();
    broken.fsm_percent = Some(f64::NAN);
    let status = registry
        .upsert_school(pb::UpsertSchoolRequest {
            school: Some(broken),
        })
        .await
        .unwrap_err();
    assert_invalid_field(&status, "school.fsm_percent");
    let stored = registry
        .get_school(pb::GetSchoolRequest { id: "s1".into() })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored.name, original.name);
    assert_eq!(stored.fsm_percent, Some(20.0));
    server.stop().await;
}

/// An import stream that merges: evaluations of stored schools (an invalid
/// one and an unknown school reported by message, two messages for one
/// school both applied), free school meals; a merge the proto does not
/// define, or a change of merge mid-stream, refuses the whole stream.
#[tokio::test]
async fn import_merges_into_stored_schools_and_refuses_mixed_merges() {
    let mut stored = school("stored");
    stored.capacity = Some(3);
    let server = TestServer::start(vec![stored, school("other")]).await;
    let mut registry = server.registry().await;
    let evaluation =
        |area: pb::EvaluationArea, judgement: pb::Judgement, date: &str| pb::Evaluation {
            framework: pb::EvaluationFramework::OfstedReportCard as i32,
            area: area as i32,
            judgement: judgement as i32,
            date: date.into(),
            ..Default::default()
        };
    let change = |id: &str, evaluations: Vec<pb::Evaluation>, merge: pb::ImportMerge| {
        pb::ImportSchoolsRequest {
            school: Some(pb::School {
                id: id.into(),
                evaluations,
                ..Default::default()
            }),
            merge: merge as i32,
        }
    };
    use pb::EvaluationArea as A;
    use pb::ImportMerge as M;
    use pb::Judgement as J;
    let messages = vec![
        change(
            "stored",
            vec![evaluation(A::Achievement, J::NeedsAttention, "2026-01-20")],
            M::Evaluations,
        ),
        change(
            "nobody",
            vec![evaluation(A::Achievement, J::Exceptional, "2026-01-20")],
            M::Unspecified,
        ),
        change(
            "stored",
            vec![evaluation(A::Safeguarding, J::Met, "2026-01-20")],
            M::Evaluations,
        ),
        change(
            "other",
            vec![evaluation(A::Overall, J::Green, "2026-01-20")],
            M::Unspecified,
        ),
    ];
    let reply = registry
        .import_schools(tokio_stream::iter(messages))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        (
            reply.received,
            reply.updated,
            reply.rejected,
            reply.not_stored
        ),
        (4, 1, 2, 1)
    );
    assert_eq!(
        error_positions(&reply),
        [
            (2, "nobody", "school.id"),
            (4, "other", "school.evaluations[0].area")
        ]
    );
    let stored = server.engine.get("stored").unwrap();
    assert_eq!(stored.school.evaluations.len(), 2, "both messages applied");
    assert_eq!(stored.school.capacity, Some(3), "the rest is kept");

    let fsm = pb::ImportSchoolsRequest {
        school: Some(pb::School {
            id: "other".into(),
            fsm_percent: Some(42.0),
            ..Default::default()
        }),
        merge: M::FsmPercent as i32,
    };
    let reply = registry
        .import_schools(tokio_stream::iter([fsm.clone()]))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((reply.updated, reply.rejected), (1, 0));
    assert_eq!(
        server
            .engine
            .get("other")
            .unwrap()
            .school
            .context
            .fsm_percent,
        Some(42.0)
    );

    let before = server.engine.snapshot().schools().to_vec();
    let mut unknown = fsm.clone();
    unknown.merge = 9;
    let mixed = vec![
        change("stored", Vec::new(), M::Replace),
        change("stored", Vec::new(), M::Evaluations),
    ];
    for (messages, fragment) in [
        (vec![unknown], "merge: unknown enum value 9"),
        (
            mixed,
            "message 2 asks for merge evaluations but the stream's is replace",
        ),
    ] {
        let status = registry
            .import_schools(tokio_stream::iter(messages))
            .await
            .unwrap_err();
        assert_eq!(status.code(), tonic::Code::InvalidArgument, "{status:?}");
        assert!(status.message().contains(fragment), "{}", status.message());
    }
    assert_eq!(
        server.engine.snapshot().schools().to_vec(),
        before,
        "nothing applied"
    );
    server.stop().await;
}

/// Each listed import error as (message, school id, field).
fn error_positions(reply: &pb::ImportSchoolsResponse) -> Vec<(u32, &str, &str)> {
    reply
        .errors
        .iter()
        .map(|e| (e.index, e.school_id.as_str(), e.field.as_str()))
        .collect()
}
