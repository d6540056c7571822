//! Trusts, federations and dioceses through the real gRPC interface (README
//! "Trusts, federations and dioceses"):
//! 1. stored and served on the school, listed by trust;
//! 2. Match and Broker keep partners in the seeker's trust, outside it, or
//!    in its diocese, and say which bodies a partner shares;
//! 3. a filter the seeker cannot meet, or a body without a code, is
//!    refused by name and changes nothing;
//! 4. a school already in a federation is no federation candidate.

use partnermatch::pb;
use partnermatch_core::domain::{Affiliation, School, Stage};
use tonic::Code;

use crate::support::fixtures::{SchoolExt, candidate_ids, match_request, school};
use crate::support::server::TestServer;
use crate::support::status::{assert_invalid_field, assert_status};

fn in_trust(school: School, code: &str, name: &str) -> School {
    let mut school = school;
    school.affiliations.trust = Some(Affiliation::new(code, name));
    school
}

fn in_diocese(school: School, code: &str) -> School {
    let mut school = school;
    school.affiliations.diocese = Some(Affiliation::new(code, "Diocese of Worcester"));
    school
}

/// A seeker in the Severn trust and the Worcester diocese; trust and
/// diocese partners a little farther away than two schools in neither.
fn population() -> Vec<School> {
    let severn = |school| in_trust(school, "15432", "Severn Academies Trust");
    vec![
        in_diocese(severn(school("seeker").stage(Some(Stage::Amber))), "CE28"),
        school("near-1").stage(Some(Stage::Yellow)).at(1.0, 0.0),
        school("near-2").stage(Some(Stage::Yellow)).at(0.0, 1.0),
        severn(school("trust-1").stage(Some(Stage::Yellow)).at(5.0, 0.0)),
        in_diocese(
            severn(school("trust-2").stage(Some(Stage::Green)).at(8.0, 0.0)),
            "CE28",
        ),
        in_trust(
            school("other-trust")
                .stage(Some(Stage::Yellow))
                .at(2.0, 0.0),
            "20001",
            "Malvern Learning Trust",
        ),
        in_diocese(
            school("church").stage(Some(Stage::Yellow)).at(3.0, 0.0),
            "CE28",
        ),
        school("loner").stage(Some(Stage::Yellow)).at(4.0, 4.0),
    ]
}

#[tokio::test]
async fn bodies_are_served_and_schools_are_listed_by_trust() {
    let server = TestServer::start(population()).await;
    let mut registry = server.registry().await;
    let stored = registry
        .get_school(pb::GetSchoolRequest {
            id: "seeker".into(),
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(
        stored.trust,
        Some(pb::Affiliation {
            code: "15432".into(),
            name: "Severn Academies Trust".into(),
        })
    );
    assert_eq!(stored.diocese.unwrap().code, "CE28");
    assert_eq!(stored.federation, None, "no federation: the field is unset");

    let listed = registry
        .list_schools(pb::ListSchoolsRequest {
            trust_code: "15432".into(),
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    let ids: Vec<&str> = listed.schools.iter().map(|s| s.id.as_str()).collect();
    assert_eq!(ids, ["seeker", "trust-1", "trust-2"]);
    assert_eq!(listed.total_size, 3);
    server.stop().await;
}

#[tokio::test]
async fn match_keeps_partners_in_or_outside_the_trust_and_in_the_diocese() {
    let server = TestServer::start(population()).await;
    let mut matcher = server.matcher().await;
    let mut ask = async |relation: pb::TrustRelation, same_diocese: bool| {
        let request = pb::MatchRequest {
            trust_relation: relation as i32,
            same_diocese,
            explain: true,
            ..match_request("seeker", pb::MatchMode::Support)
        };
        matcher.r#match(request).await.unwrap().into_inner()
    };

    let any = ask(pb::TrustRelation::Unspecified, false).await;
    assert_eq!(any.candidates.len(), 7, "{:?}", candidate_ids(&any));
    let mut nearest = candidate_ids(&any)[..2].to_vec();
    nearest.sort();
    assert_eq!(
        nearest,
        ["near-1", "near-2"],
        "the nearest lead without filters"
    );

    let same = ask(pb::TrustRelation::SameTrust, false).await;
    assert_eq!(candidate_ids(&same), ["trust-1", "trust-2"]);
    let first = &same.candidates[0];
    assert_eq!(
        first.shared_affiliations,
        ["same trust (Severn Academies Trust)"]
    );
    assert_eq!(
        same.candidates[1].shared_affiliations,
        [
            "same trust (Severn Academies Trust)",
            "same diocese (Diocese of Worcester)"
        ]
    );
    let context = first
        .components
        .iter()
        .find(|c| c.factor == pb::Factor::Context as i32)
        .unwrap();
    assert!(
        context
            .reason
            .ends_with("; same trust (Severn Academies Trust)"),
        "{}",
        context.reason
    );

    let other = ask(pb::TrustRelation::OtherTrusts, false).await;
    let mut ids = candidate_ids(&other);
    ids.sort();
    assert_eq!(ids, ["church", "loner", "near-1", "near-2", "other-trust"]);
    assert!(
        other
            .candidates
            .iter()
            .all(|c| !c.shared_affiliations.iter().any(|s| s.contains("trust"))),
    );

    let diocese = ask(pb::TrustRelation::Any, true).await;
    assert_eq!(candidate_ids(&diocese), ["church", "trust-2"]);
    let both = ask(pb::TrustRelation::SameTrust, true).await;
    assert_eq!(candidate_ids(&both), ["trust-2"]);
    server.stop().await;
}

#[tokio::test]
async fn broker_pairs_within_the_trust() {
    let server = TestServer::start(population()).await;
    let mut matcher = server.matcher().await;
    let response = matcher
        .broker(pb::BrokerRequest {
            seeker_ids: vec!["seeker".into()],
            mode: pb::MatchMode::Support as i32,
            trust_relation: pb::TrustRelation::SameTrust as i32,
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.pairs.len(), 1);
    let partner = response.pairs[0].partner.as_ref().unwrap();
    assert_eq!(partner.school_id, "trust-1");
    assert_eq!(
        partner.shared_affiliations,
        ["same trust (Severn Academies Trust)"]
    );
    server.stop().await;
}

#[tokio::test]
async fn filters_the_seeker_cannot_meet_and_bodies_without_codes_are_refused() {
    let server = TestServer::start(population()).await;
    let mut matcher = server.matcher().await;
    for (relation, same_diocese, fragment) in [
        (pb::TrustRelation::SameTrust, false, "is in no trust"),
        (pb::TrustRelation::Any, true, "is in no diocese"),
    ] {
        let status = matcher
            .r#match(pb::MatchRequest {
                trust_relation: relation as i32,
                same_diocese,
                ..match_request("loner", pb::MatchMode::Support)
            })
            .await
            .unwrap_err();
        assert_status(&status, Code::FailedPrecondition, fragment);
    }
    let status = matcher
        .r#match(pb::MatchRequest {
            trust_relation: 9,
            ..match_request("seeker", pb::MatchMode::Support)
        })
        .await
        .unwrap_err();
    assert_invalid_field(&status, "trust_relation");

    let mut registry = server.registry().await;
    let mut school = crate::support::fixtures::school_proto(&school("new"));
    school.trust = Some(pb::Affiliation {
        code: String::new(),
        name: "A trust with no code".into(),
    });
    school.diocese = Some(pb::Affiliation {
        code: "CE28".into(),
        name: "x".repeat(201),
    });
    let status = registry
        .upsert_school(pb::UpsertSchoolRequest {
            school: Some(school),
        })
        .await
        .unwrap_err();
    assert_invalid_field(&status, "school.trust.code");
    assert_invalid_field(&status, "school.diocese.name");
    let status = registry
        .get_school(pb::GetSchoolRequest { id: "new".into() })
        .await
        .unwrap_err();
    assert_eq!(status.code(), Code::NotFound, "nothing was written");
    let status = registry
        .list_schools(pb::ListSchoolsRequest {
            trust_code: "t\u{1b}[2J".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid_field(&status, "trust_code");
    server.stop().await;
}

#[tokio::test]
async fn federated_schools_are_not_federation_candidates_again() {
    let small = |id: &str, north: f64| {
        let mut school = school(id).at(north, 0.0);
        school.pupils = Some(40);
        school
    };
    let mut federated = small("federated", 0.5);
    federated.affiliations.federation = Some(Affiliation::new("F0042", "Hills Federation"));
    let server = TestServer::start(vec![small("a", 0.0), small("b", 1.0), federated]).await;
    let mut matcher = server.matcher().await;
    let response = matcher
        .form_groups(pb::FormGroupsRequest {
            kind: pb::GroupKind::Federation as i32,
            school_ids: vec!["a".into(), "b".into(), "federated".into()],
            ..Default::default()
        })
        .await
        .unwrap()
        .into_inner();
    assert_eq!(response.considered, 2, "the federated school is left out");
    let members: Vec<&str> = response
        .groups
        .iter()
        .flat_map(|g| g.members.iter().map(|m| m.school_id.as_str()))
        .collect();
    assert_eq!(members, ["a", "b"]);
    server.stop().await;
}
