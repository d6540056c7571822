//! Partnerships through the real gRPC interface: the lifecycle and every
//! transition it refuses, optimistic concurrency, validation, and how the
//! record drives Match (active partners excluded, capacity used, track
//! record earned).

use partnermatch::pb;
use partnermatch::pb::partnership_registry_client::PartnershipRegistryClient;
use partnermatch_core::domain::{FocusArea, Phase, Stage};
use tonic::Code;
use tonic::transport::Channel;

use crate::support::fixtures::{SchoolExt, candidate_ids, match_request, school, school_proto};
use crate::support::server::TestServer;
use crate::support::status::{assert_invalid_field, assert_status};

type Client = PartnershipRegistryClient<Channel>;

fn member(school_id: &str, role: pb::MemberRole) -> pb::PartnershipMember {
    pb::PartnershipMember {
        school_id: school_id.into(),
        role: role as i32,
    }
}

/// A SUPPORT proposal: `supporter` helps `supported` with `focus`.
fn support(
    supporter: &str,
    supported: &str,
    focus: &[pb::FocusArea],
) -> pb::ProposePartnershipRequest {
    pb::ProposePartnershipRequest {
        kind: pb::PartnershipKind::Support as i32,
        members: vec![
            member(supporter, pb::MemberRole::Supporter),
            member(supported, pb::MemberRole::Supported),
        ],
        focus: focus.iter().map(|area| *area as i32).collect(),
        identified_need: "Reading standards in key stage 2".into(),
        ..Default::default()
    }
}

fn to_status(
    id: &str,
    version: u64,
    status: pb::PartnershipStatus,
) -> pb::UpdatePartnershipRequest {
    pb::UpdatePartnershipRequest {
        id: id.into(),
        version,
        status: status as i32,
        ..Default::default()
    }
}

/// A server with two schools, `lead` (green) and `red`, and a client.
async fn lead_and_red() -> (TestServer, Client) {
    let server = TestServer::start(vec![
        school("lead").stage(Some(Stage::Green)),
        school("red").stage(Some(Stage::Red)),
    ])
    .await;
    let client = server.partnerships().await;
    (server, client)
}

async fn propose(client: &mut Client, request: pb::ProposePartnershipRequest) -> pb::Partnership {
    client
        .propose_partnership(request)
        .await
        .expect("proposal accepted")
        .into_inner()
}

/// Walks a partnership to `target` along the lifecycle.
async fn advance(
    client: &mut Client,
    mut partnership: pb::Partnership,
    path: &[pb::PartnershipStatus],
) -> pb::Partnership {
    for status in path {
        partnership = client
            .update_partnership(to_status(&partnership.id, partnership.version, *status))
            .await
            .unwrap_or_else(|e| panic!("to {status:?}: {e}"))
            .into_inner();
    }
    partnership
}

/// Agrees a proposed partnership, then tries to make it active, which must
/// be refused: the refusal.
async fn activation_refused(client: &mut Client, proposed: pb::Partnership) -> tonic::Status {
    let agreed = advance(client, proposed, &[pb::PartnershipStatus::Agreed]).await;
    client
        .update_partnership(to_status(
            &agreed.id,
            agreed.version,
            pb::PartnershipStatus::Active,
        ))
        .await
        .expect_err("activation is refused")
}

const TO_ACTIVE: &[pb::PartnershipStatus] =
    &[pb::PartnershipStatus::Agreed, pb::PartnershipStatus::Active];

/// Completes a SUPPORT partnership and rates it.
async fn completed_with(
    client: &mut Client,
    request: pb::ProposePartnershipRequest,
    rating: pb::ImpactRating,
) -> pb::Partnership {
    let partnership = propose(client, request).await;
    let partnership = advance(
        client,
        partnership,
        &[
            pb::PartnershipStatus::Agreed,
            pb::PartnershipStatus::Active,
            pb::PartnershipStatus::Completed,
        ],
    )
    .await;
    client
        .update_partnership(pb::UpdatePartnershipRequest {
            id: partnership.id.clone(),
            version: partnership.version,
            impact_rating: rating as i32,
            impact_notes: Some("Reading ages up by a year".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner()
}

/// A proposal on a focus neither side has is kept, and its answer says so
/// area by area; one on a need of the supported school or a strength of
/// the supporter carries no warning. Peers are read as a whole.
#[tokio::test]
async fn a_focus_neither_school_has_is_warned_of() {
    let server = TestServer::start(vec![
        school("lead")
            .stage(Some(Stage::Green))
            .strengths(&[FocusArea::Literacy]),
        school("red")
            .stage(Some(Stage::Red))
            .needs(&[FocusArea::Attendance]),
        school("peer")
            .stage(Some(Stage::Red))
            .needs(&[FocusArea::Numeracy]),
    ])
    .await;
    let mut client = server.partnerships().await;
    let fitting = propose(
        &mut client,
        support(
            "lead",
            "red",
            &[pb::FocusArea::Literacy, pb::FocusArea::Attendance],
        ),
    )
    .await;
    assert!(
        fitting.focus_warnings.is_empty(),
        "{:?}",
        fitting.focus_warnings
    );
    let off = propose(
        &mut client,
        support(
            "lead",
            "peer",
            &[pb::FocusArea::Wellbeing, pb::FocusArea::Numeracy],
        ),
    )
    .await;
    let warned: Vec<(i32, &str)> = off
        .focus_warnings
        .iter()
        .map(|w| (w.area, w.reason.as_str()))
        .collect();
    assert_eq!(
        warned,
        [(
            pb::FocusArea::Wellbeing as i32,
            "wellbeing is neither a need of peer nor a strength of lead"
        )]
    );
    // Kept all the same, and the warning is the proposal's answer only.
    let stored = client
        .get_partnership(pb::GetPartnershipRequest { id: off.id })
        .await
        .unwrap()
        .into_inner();
    assert!(stored.focus_warnings.is_empty());
    let peers = pb::ProposePartnershipRequest {
        kind: pb::PartnershipKind::Peer as i32,
        members: vec![
            member("red", pb::MemberRole::Member),
            member("peer", pb::MemberRole::Member),
        ],
        focus: vec![
            pb::FocusArea::Curriculum as i32,
            pb::FocusArea::Numeracy as i32,
        ],
        ..Default::default()
    };
    let peers = propose(&mut client, peers).await;
    assert_eq!(peers.focus_warnings.len(), 1);
    assert_eq!(
        peers.focus_warnings[0].reason,
        "curriculum is neither a need of any member nor a strength of any member"
    );
    server.stop().await;
}

#[tokio::test]
async fn the_lifecycle_runs_forward_and_keeps_its_record() {
    let server = TestServer::start(vec![
        school("lead").stage(Some(Stage::Green)),
        school("red").stage(Some(Stage::Red)).area("Newport", "EAS"),
    ])
    .await;
    let mut client = server.partnerships().await;
    let mut request = support("lead", "red", &[pb::FocusArea::Literacy]);
    request.review_date = "2027-03-31".into();
    let proposed = propose(&mut client, request).await;
    assert_eq!(proposed.id, "p-000001");
    assert_eq!(proposed.status, pb::PartnershipStatus::Proposed as i32);
    assert_eq!(proposed.version, 1);
    assert_eq!(proposed.review_date, "2027-03-31");
    assert!(proposed.created_at.is_some() && proposed.started_at.is_none());

    let agreed = advance(&mut client, proposed, &[pb::PartnershipStatus::Agreed]).await;
    assert_eq!(agreed.version, 2);
    let edited = client
        .update_partnership(pb::UpdatePartnershipRequest {
            id: agreed.id.clone(),
            version: agreed.version,
            action_plan: Some("Fortnightly joint planning".into()),
            focus: Some(pb::FocusAreaList {
                areas: vec![
                    pb::FocusArea::Literacy as i32,
                    pb::FocusArea::Attendance as i32,
                ],
            }),
            review_date: Some(String::new()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(edited.version, 3);
    assert_eq!(edited.action_plan, "Fortnightly joint planning");
    assert_eq!(edited.identified_need, "Reading standards in key stage 2");
    assert_eq!(edited.review_date, "", "an empty review_date clears it");
    assert_eq!(edited.focus.len(), 2);

    // An update that changes nothing returns the partnership as it is.
    let same = client
        .update_partnership(to_status(
            &edited.id,
            edited.version,
            pb::PartnershipStatus::Agreed,
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(same, edited);

    let active = advance(&mut client, edited, &[pb::PartnershipStatus::Active]).await;
    assert!(active.started_at.is_some() && active.finished_at.is_none());
    let completed = advance(&mut client, active, &[pb::PartnershipStatus::Completed]).await;
    assert!(completed.finished_at.is_some());
    let rated = client
        .update_partnership(pb::UpdatePartnershipRequest {
            id: completed.id.clone(),
            version: completed.version,
            impact_rating: pb::ImpactRating::Green as i32,
            impact_notes: Some("Reading ages up 14 months".into()),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(rated.impact_rating, pb::ImpactRating::Green as i32);
    assert_eq!(rated.version, 6);

    let fetched = client
        .get_partnership(pb::GetPartnershipRequest {
            id: rated.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(fetched, rated);
    server.stop().await;
}

#[tokio::test]
async fn every_transition_the_lifecycle_forbids_is_refused_and_changes_nothing() {
    use pb::PartnershipStatus::*;
    let (server, mut client) = lead_and_red().await;
    let all = [Proposed, Agreed, Active, Completed, Ended];
    // (from, path to reach it)
    let reach: [(pb::PartnershipStatus, &[pb::PartnershipStatus]); 5] = [
        (Proposed, &[]),
        (Agreed, &[Agreed]),
        (Active, &[Agreed, Active]),
        (Completed, &[Agreed, Active, Completed]),
        (Ended, &[Ended]),
    ];
    let allowed = |from: pb::PartnershipStatus, to: pb::PartnershipStatus| {
        matches!(
            (from, to),
            (Proposed, Agreed)
                | (Agreed, Active)
                | (Active, Completed)
                | (Proposed | Agreed | Active, Ended)
        )
    };
    let mut refused = 0;
    for (from, path) in reach {
        for to in all {
            if to == from || allowed(from, to) {
                continue;
            }
            let partnership = propose(&mut client, support("lead", "red", &[])).await;
            let partnership = advance(&mut client, partnership, path).await;
            let status = client
                .update_partnership(to_status(&partnership.id, partnership.version, to))
                .await
                .unwrap_err();
            assert_status(&status, Code::FailedPrecondition, "cannot become");
            let after = client
                .get_partnership(pb::GetPartnershipRequest {
                    id: partnership.id.clone(),
                })
                .await
                .unwrap()
                .into_inner();
            assert_eq!(after, partnership, "{from:?} → {to:?} changed nothing");
            // Close it so the next proposal of the same pair is allowed.
            if !matches!(from, Completed | Ended) {
                advance(&mut client, after, &[Ended]).await;
            }
            refused += 1;
        }
    }
    assert_eq!(refused, 14);

    // A final partnership accepts only its impact; impact needs activity.
    let ended = propose(&mut client, support("lead", "red", &[])).await;
    let ended = advance(&mut client, ended, &[Ended]).await;
    let status = client
        .update_partnership(pb::UpdatePartnershipRequest {
            id: ended.id.clone(),
            version: ended.version,
            provision: Some("More time".into()),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::FailedPrecondition,
        "only its impact_rating and impact_notes",
    );
    let status = client
        .update_partnership(pb::UpdatePartnershipRequest {
            id: ended.id.clone(),
            version: ended.version,
            impact_rating: pb::ImpactRating::Green as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "has not been active");
    server.stop().await;
}

#[tokio::test]
async fn a_stale_version_is_aborted_and_exactly_one_concurrent_update_wins() {
    let (server, mut client) = lead_and_red().await;
    let proposed = propose(&mut client, support("lead", "red", &[])).await;
    let updates = (0..8).map(|i| {
        let mut client = client.clone();
        let id = proposed.id.clone();
        tokio::spawn(async move {
            client
                .update_partnership(pb::UpdatePartnershipRequest {
                    id,
                    version: 1,
                    provision: Some(format!("offer {i}")),
                    ..Default::default()
                })
                .await
        })
    });
    let mut won = Vec::new();
    let mut aborted = 0;
    for update in updates.collect::<Vec<_>>() {
        match update.await.unwrap() {
            Ok(response) => won.push(response.into_inner()),
            Err(status) => {
                assert_status(&status, Code::Aborted, "is at version 2");
                aborted += 1;
            }
        }
    }
    assert_eq!((won.len(), aborted), (1, 7));
    let stored = client
        .get_partnership(pb::GetPartnershipRequest {
            id: proposed.id.clone(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(stored, won[0]);
    assert_eq!(stored.version, 2);
    server.stop().await;
}

#[tokio::test]
async fn bad_proposals_and_updates_name_their_fields_and_change_nothing() {
    let closed = {
        let mut s = school("closed");
        s.open = false;
        s
    };
    let server = TestServer::start(vec![
        school("a"),
        school("b"),
        school("c"),
        closed,
        school("sec").phase(Phase::Secondary),
    ])
    .await;
    let mut client = server.partnerships().await;
    let peer = |ids: &[&str]| pb::ProposePartnershipRequest {
        kind: pb::PartnershipKind::Peer as i32,
        members: ids
            .iter()
            .map(|id| member(id, pb::MemberRole::Unspecified))
            .collect(),
        ..Default::default()
    };
    type Edit = fn(&mut pb::ProposePartnershipRequest);
    let invalid: Vec<(&str, Edit)> = vec![
        ("kind", |r| r.kind = 0),
        ("kind", |r| r.kind = 99),
        ("members", |r| r.members.truncate(1)),
        ("members[1].school_id", |r| {
            r.members[1].school_id = "a".into()
        }),
        ("members[0].school_id", |r| {
            r.members[0].school_id = "bad id".into()
        }),
        ("members[0].role", |r| {
            r.members[0].role = pb::MemberRole::Supporter as i32
        }),
        ("members[1].role", |r| r.members[1].role = 42),
        ("focus[0]", |r| r.focus = vec![0]),
        ("review_date", |r| r.review_date = "31/03/2027".into()),
        ("review_date", |r| r.review_date = "2027-02-30".into()),
        ("action_plan", |r| r.action_plan = "x".repeat(4001)),
        ("id", |r| r.id = "no spaces".into()),
    ];
    for (field, edit) in invalid {
        let mut request = peer(&["a", "b"]);
        edit(&mut request);
        let status = client.propose_partnership(request).await.unwrap_err();
        assert_invalid_field(&status, field);
    }
    let mut support_without_roles = peer(&["a", "b"]);
    support_without_roles.kind = pb::PartnershipKind::Support as i32;
    let status = client
        .propose_partnership(support_without_roles)
        .await
        .unwrap_err();
    assert_invalid_field(&status, "members[0].role");

    let status = client
        .propose_partnership(peer(&["a", "nobody"]))
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "\"nobody\"");
    let status = client
        .propose_partnership(peer(&["a", "closed"]))
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "");
    let mut transition = peer(&["a", "b"]);
    transition.kind = pb::PartnershipKind::Transition as i32;
    let status = client
        .propose_partnership(transition.clone())
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "different phases");
    transition.members[1].school_id = "sec".into();
    propose(&mut client, transition).await;

    let mut named = peer(&["a", "b"]);
    named.id = "peer-ab".into();
    propose(&mut client, named.clone()).await;
    let status = client.propose_partnership(named).await.unwrap_err();
    assert_status(&status, Code::AlreadyExists, "");
    let status = client
        .propose_partnership(peer(&["b", "a"]))
        .await
        .unwrap_err();
    assert_status(&status, Code::AlreadyExists, "peer-ab");

    let status = client
        .update_partnership(pb::UpdatePartnershipRequest {
            id: "peer-ab".into(),
            version: 0,
            status: 17,
            impact_notes: Some("x".repeat(4001)),
            ..Default::default()
        })
        .await
        .unwrap_err();
    for field in ["version", "status", "impact_notes"] {
        assert_invalid_field(&status, field);
    }
    let status = client
        .update_partnership(to_status("nope", 1, pb::PartnershipStatus::Agreed))
        .await
        .unwrap_err();
    assert_status(&status, Code::NotFound, "");
    let status = client
        .get_partnership(pb::GetPartnershipRequest { id: String::new() })
        .await
        .unwrap_err();
    assert_invalid_field(&status, "id");

    // Two proposals made it; nothing else was recorded.
    let listed = client
        .list_partnerships(pb::ListPartnershipsRequest::default())
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.total_size, 2);

    // A school with a partnership record cannot be deleted.
    let status = server
        .registry()
        .await
        .delete_school(pb::DeleteSchoolRequest { id: "a".into() })
        .await
        .unwrap_err();
    assert_status(&status, Code::FailedPrecondition, "set open to false");
    server.stop().await;
}

#[tokio::test]
async fn listing_filters_by_school_status_kind_and_consortium_and_pages() {
    let mut schools = vec![
        school("hub")
            .stage(Some(Stage::Green))
            .area("Newport", "EAS"),
    ];
    schools[0].capacity = Some(10);
    for i in 0..6 {
        schools.push(school(&format!("s{i}")).stage(Some(Stage::Amber)));
    }
    let server = TestServer::start(schools).await;
    let mut client = server.partnerships().await;
    for i in 0..6 {
        let partnership = propose(&mut client, support("hub", &format!("s{i}"), &[])).await;
        if i % 2 == 0 {
            advance(&mut client, partnership, TO_ACTIVE).await;
        }
    }
    let mut peer = pb::ProposePartnershipRequest {
        kind: pb::PartnershipKind::Peer as i32,
        members: vec![
            member("s0", pb::MemberRole::Member),
            member("s1", pb::MemberRole::Member),
        ],
        ..Default::default()
    };
    peer.id = "z-peer".into();
    propose(&mut client, peer).await;

    let list = |request: pb::ListPartnershipsRequest| {
        let mut client = client.clone();
        async move {
            let page = client
                .list_partnerships(request)
                .await
                .unwrap()
                .into_inner();
            let ids: Vec<String> = page.partnerships.into_iter().map(|p| p.id).collect();
            (ids, page.total_size, page.next_page_token)
        }
    };
    let (ids, total, _) = list(pb::ListPartnershipsRequest {
        school_id: "s0".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(
        (ids, total),
        (vec!["p-000001".to_owned(), "z-peer".to_owned()], 2)
    );
    let (ids, _, _) = list(pb::ListPartnershipsRequest {
        status: pb::PartnershipStatus::Active as i32,
        ..Default::default()
    })
    .await;
    assert_eq!(ids, ["p-000001", "p-000003", "p-000005"]);
    let (_, total, _) = list(pb::ListPartnershipsRequest {
        kind: pb::PartnershipKind::Peer as i32,
        ..Default::default()
    })
    .await;
    assert_eq!(total, 1);
    let (_, total, _) = list(pb::ListPartnershipsRequest {
        consortium: "eas".into(),
        ..Default::default()
    })
    .await;
    assert_eq!(total, 6, "the hub is in EAS; the peers are not");

    let mut seen = Vec::new();
    let mut token = String::new();
    loop {
        let (ids, total, next) = list(pb::ListPartnershipsRequest {
            page_size: 3,
            page_token: token,
            ..Default::default()
        })
        .await;
        assert_eq!(total, 7);
        seen.extend(ids);
        if next.is_empty() {
            break;
        }
        token = next;
    }
    assert_eq!(seen.len(), 7);
    assert!(seen.windows(2).all(|w| w[0] < w[1]));

    let status = client
        .list_partnerships(pb::ListPartnershipsRequest {
            page_token: "junk".into(),
            page_size: 5000,
            kind: 9,
            ..Default::default()
        })
        .await
        .unwrap_err();
    for field in ["page_token", "page_size", "kind"] {
        assert_invalid_field(&status, field);
    }
    server.stop().await;
}

#[tokio::test]
async fn active_partnerships_exclude_partners_and_use_capacity() {
    let mut one_place = school("one-place").stage(Some(Stage::Yellow)).at(1.0, 0.0);
    one_place.capacity = Some(1);
    let mut two_places = school("two-places").stage(Some(Stage::Yellow)).at(2.0, 0.0);
    two_places.capacity = Some(2);
    // The seekers are red: no capacity of their own, so never supporters.
    let server = TestServer::start(vec![
        school("seeker").stage(Some(Stage::Red)),
        school("other").stage(Some(Stage::Red)).at(0.0, 1.0),
        school("third").stage(Some(Stage::Red)).at(0.0, -1.0),
        one_place,
        two_places,
    ])
    .await;
    let mut client = server.partnerships().await;
    let mut matcher = server.matcher().await;
    let ranked = |seeker: &str| {
        let mut matcher = matcher.clone();
        let mut request = match_request(seeker, pb::MatchMode::Support);
        request.explain = true;
        async move { matcher.r#match(request).await.unwrap().into_inner() }
    };
    let before = ranked("other").await;
    assert_eq!(candidate_ids(&before), ["one-place", "two-places"]);

    // A proposal uses nothing.
    let proposed = propose(&mut client, support("one-place", "seeker", &[])).await;
    assert_eq!(
        candidate_ids(&ranked("other").await),
        ["one-place", "two-places"]
    );
    // Active: the supporter is full, so nobody else is offered it, and the
    // seeker is not offered its own partner again.
    advance(&mut client, proposed, TO_ACTIVE).await;
    assert_eq!(candidate_ids(&ranked("other").await), ["two-places"]);
    assert_eq!(candidate_ids(&ranked("seeker").await), ["two-places"]);
    // A full supporter cannot take another active partnership.
    let second = propose(&mut client, support("one-place", "other", &[])).await;
    let status = activation_refused(&mut client, second).await;
    assert_status(&status, Code::FailedPrecondition, "");
    assert!(
        status.message().contains("has no free capacity") && status.message().contains("p-000001"),
        "{}",
        status.message()
    );

    // Busy: one of two places used lowers the load component.
    let busy = propose(&mut client, support("two-places", "third", &[])).await;
    advance(&mut client, busy, TO_ACTIVE).await;
    let after = ranked("other").await;
    assert_eq!(candidate_ids(&after), ["two-places"]);
    let load = after.candidates[0]
        .components
        .iter()
        .find(|c| c.factor == pb::Factor::Load as i32)
        .unwrap();
    assert_eq!(load.value, 0.5);
    assert!(
        load.reason.contains("1 of 2 support places free"),
        "{}",
        load.reason
    );
    // The seeker is excluded from its active partner's LEAD search too.
    let mut lead = match_request("two-places", pb::MatchMode::Lead);
    lead.limit = 10;
    let led = matcher.r#match(lead).await.unwrap().into_inner();
    assert!(!candidate_ids(&led).contains(&"third".to_owned()));
    assert!(candidate_ids(&led).contains(&"other".to_owned()));
    server.stop().await;
}

#[tokio::test]
async fn completed_partnerships_rated_green_or_yellow_build_a_track_record() {
    // Four identical supporters, equally far from the seeker (north, south,
    // east, west); only their records differ.
    let supporter = |id: &str, north: f64, east: f64| {
        school(id)
            .stage(Some(Stage::Yellow))
            .strengths(&[FocusArea::Literacy, FocusArea::Numeracy])
            .at(north, east)
    };
    let mut schools = vec![
        school("seeker")
            .stage(Some(Stage::Amber))
            .needs(&[FocusArea::Literacy, FocusArea::Numeracy]),
        supporter("green", 3.0, 0.0),
        supporter("yellow", -3.0, 0.0),
        supporter("red", 0.0, 3.0),
        supporter("none", 0.0, -3.0),
    ];
    // Past partners, red so that they are not supporters themselves.
    for past in ["past1", "past2", "past3"] {
        schools.push(school(past).stage(Some(Stage::Red)).at(40.0, 40.0));
    }
    for s in &mut schools[1..5] {
        s.capacity = Some(3);
    }
    let server = TestServer::start(schools).await;
    let mut client = server.partnerships().await;
    for (supporter, supported, rating) in [
        ("green", "past1", pb::ImpactRating::Green),
        ("yellow", "past2", pb::ImpactRating::Yellow),
        ("red", "past3", pb::ImpactRating::Red),
    ] {
        completed_with(
            &mut client,
            support(supporter, supported, &[pb::FocusArea::Literacy]),
            rating,
        )
        .await;
    }
    let mut request = match_request("seeker", pb::MatchMode::Support);
    request.explain = true;
    let response = server
        .matcher()
        .await
        .r#match(request)
        .await
        .unwrap()
        .into_inner();
    let ids = candidate_ids(&response);
    assert_eq!(ids[..2], ["green", "yellow"]);
    let mut rest = ids[2..].to_vec();
    rest.sort();
    assert_eq!(rest, ["none", "red"], "a RED rating earns nothing");
    let track = |candidate: &pb::Candidate| {
        candidate
            .components
            .iter()
            .find(|c| c.factor == pb::Factor::TrackRecord as i32)
            .cloned()
            .unwrap()
    };
    let green = track(&response.candidates[0]);
    assert_eq!(
        green.value, 0.5,
        "literacy proven green: 1 of the 2 areas wanted"
    );
    assert_eq!(
        green.reason,
        "the partner completed partnerships rated green in literacy, 1 of the 2 areas the seeker wants: a proven track record"
    );
    assert!((track(&response.candidates[1]).value - 0.3).abs() < 1e-12);
    for candidate in &response.candidates[2..] {
        let component = track(candidate);
        assert_eq!(component.value, 0.0);
        assert_eq!(
            component.reason,
            "the partner has no completed partnership rated green or yellow in the areas the seeker wants"
        );
    }
    // The two without a record are alike in every other way (their
    // distances differ only in the last bits of east against west).
    assert!((response.candidates[2].score - response.candidates[3].score).abs() < 1e-12);
    server.stop().await;
}

#[tokio::test]
async fn partnerships_are_kept_by_upserts_of_their_schools() {
    let (server, mut client) = lead_and_red().await;
    let active = propose(&mut client, support("lead", "red", &[])).await;
    let active = advance(&mut client, active, TO_ACTIVE).await;
    // Renaming a member (a new family for it) keeps its partnership edges.
    let mut renamed = school("red").stage(Some(Stage::Red));
    renamed.name = "Renamed".into();
    renamed.pupils = Some(40);
    server
        .registry()
        .await
        .upsert_school(pb::UpsertSchoolRequest {
            school: Some(school_proto(&renamed)),
        })
        .await
        .unwrap();
    let ranked = server
        .matcher()
        .await
        .r#match(match_request("red", pb::MatchMode::Support))
        .await
        .unwrap()
        .into_inner();
    assert!(
        ranked.candidates.is_empty(),
        "its active partner stays excluded"
    );
    let listed = client
        .list_partnerships(pb::ListPartnershipsRequest {
            school_id: "red".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.partnerships, [active]);
    server.stop().await;
}

#[tokio::test]
async fn federations_clusters_and_lead_emerging_follow_their_rules() {
    let server = TestServer::start(vec![
        school("a"),
        school("b"),
        school("c"),
        school("d"),
        school("lead").stage(Some(Stage::Green)),
        school("emerging").stage(Some(Stage::Amber)),
    ])
    .await;
    let mut client = server.partnerships().await;
    let group = |kind: pb::PartnershipKind, ids: &[&str]| pb::ProposePartnershipRequest {
        kind: kind as i32,
        members: ids
            .iter()
            .map(|id| member(id, pb::MemberRole::Unspecified))
            .collect(),
        ..Default::default()
    };
    let cluster = propose(
        &mut client,
        group(pb::PartnershipKind::Cluster, &["a", "b", "c", "d"]),
    )
    .await;
    assert!(
        cluster
            .members
            .iter()
            .all(|m| m.role == pb::MemberRole::Member as i32)
    );
    let status = client
        .propose_partnership(group(pb::PartnershipKind::Cluster, &["a", "b"]))
        .await
        .unwrap_err();
    assert_invalid_field(&status, "members");

    // One governing body: a school is in one active hard federation at most.
    let first = propose(
        &mut client,
        group(pb::PartnershipKind::HardFederation, &["a", "b"]),
    )
    .await;
    advance(&mut client, first, TO_ACTIVE).await;
    let second = propose(
        &mut client,
        group(pb::PartnershipKind::HardFederation, &["b", "c"]),
    )
    .await;
    let status = activation_refused(&mut client, second).await;
    assert_status(
        &status,
        Code::FailedPrecondition,
        "already in active hard federation",
    );
    // A soft federation alongside is fine.
    let soft = propose(
        &mut client,
        group(pb::PartnershipKind::SoftFederation, &["b", "c"]),
    )
    .await;
    advance(&mut client, soft, TO_ACTIVE).await;

    // Lead and emerging practitioners name their roles; the lead supports.
    let mut lead_emerging = group(pb::PartnershipKind::LeadEmerging, &["lead", "emerging"]);
    let status = client
        .propose_partnership(lead_emerging.clone())
        .await
        .unwrap_err();
    assert_invalid_field(&status, "members[0].role");
    lead_emerging.members[0].role = pb::MemberRole::Supporter as i32;
    lead_emerging.members[1].role = pb::MemberRole::Supported as i32;
    let pair = propose(&mut client, lead_emerging).await;
    advance(&mut client, pair, TO_ACTIVE).await;
    let mut request = match_request("c", pb::MatchMode::Support);
    request.explain = true;
    request.phase_relation = pb::PhaseRelation::AnyPhase as i32;
    let ranked = server
        .matcher()
        .await
        .r#match(request)
        .await
        .unwrap()
        .into_inner();
    let lead = ranked
        .candidates
        .iter()
        .find(|c| c.school_id == "lead")
        .expect("the lead still has free places");
    let load = lead
        .components
        .iter()
        .find(|c| c.factor == pb::Factor::Load as i32)
        .unwrap();
    assert!(
        load.reason.contains("2 of 3 support places free"),
        "{}",
        load.reason
    );
    // Members of an active soft federation are each other's partners.
    assert!(!candidate_ids(&ranked).contains(&"b".to_owned()));
    server.stop().await;
}

/// `school` (red) with an Estyn judgement of learning on `date`.
fn judged(id: &str, judgement: pb::Judgement, date: &str) -> pb::School {
    let mut proto = school_proto(&school(id).stage(Some(Stage::Red)));
    proto.evaluations.push(pb::Evaluation {
        framework: pb::EvaluationFramework::Estyn as i32,
        area: pb::EvaluationArea::Learning as i32,
        judgement: judgement as i32,
        date: date.into(),
        ..Default::default()
    });
    proto
}

#[tokio::test]
async fn get_partnership_shows_the_supported_schools_grades_before_and_after() {
    let (server, mut client) = lead_and_red().await;
    let mut registry = server.registry().await;
    let upsert = |school: pb::School| pb::UpsertSchoolRequest {
        school: Some(school),
    };
    registry
        .upsert_school(upsert(judged("red", pb::Judgement::Adequate, "2021-03-10")))
        .await
        .unwrap();
    let proposed = propose(
        &mut client,
        support("lead", "red", &[pb::FocusArea::Literacy]),
    )
    .await;
    let started = advance(&mut client, proposed, TO_ACTIVE).await;
    let get = |id: String| pb::GetPartnershipRequest { id };
    let active = client
        .get_partnership(get(started.id.clone()))
        .await
        .unwrap()
        .into_inner();
    let before_only = &active.impact_evidence;
    assert_eq!(before_only.len(), 1, "one supported school, one area");
    assert_eq!(before_only[0].school_id, "red");
    assert_eq!(before_only[0].area, pb::FocusArea::Literacy as i32);
    let before = before_only[0].before.as_ref().unwrap();
    assert_eq!(
        (before.judgement, before.grade, before.date.as_str()),
        (
            pb::Judgement::Adequate as i32,
            pb::Grade::NeedsAttention as i32,
            "2021-03-10"
        )
    );
    assert!(before_only[0].after.is_none(), "not finished");

    let completed = advance(&mut client, started, &[pb::PartnershipStatus::Completed]).await;
    assert!(
        completed.impact_evidence.is_empty(),
        "only GetPartnership gathers evidence"
    );
    // A later inspection (dated the day after today's completion, the
    // latest date an evaluation may carry) finds it good.
    let tomorrow = jiff::Zoned::now().date().tomorrow().unwrap().to_string();
    let mut inspected = judged("red", pb::Judgement::Adequate, "2021-03-10");
    inspected.evaluations.push(pb::Evaluation {
        judgement: pb::Judgement::Good as i32,
        date: tomorrow.clone(),
        ..inspected.evaluations[0].clone()
    });
    registry.upsert_school(upsert(inspected)).await.unwrap();
    let finished = client
        .get_partnership(get(completed.id))
        .await
        .unwrap()
        .into_inner();
    let impact = &finished.impact_evidence[0];
    assert_eq!(impact.before.as_ref().unwrap().date, "2021-03-10");
    let after = impact.after.as_ref().unwrap();
    assert_eq!(
        (after.judgement, after.grade, after.date.as_str()),
        (
            pb::Judgement::Good as i32,
            pb::Grade::ExpectedStandard as i32,
            tomorrow.as_str()
        )
    );
    server.stop().await;
}
