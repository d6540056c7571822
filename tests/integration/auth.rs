//! Authentication through the real server: each role can call what it
//! should and nothing more; missing and wrong tokens are UNAUTHENTICATED;
//! health stays open.

use std::sync::Arc;

use partnermatch::{Role, ServeOptions, Tokens, new_token, pb};
use partnermatch_core::engine::{Engine, EngineConfig};
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;

use crate::support::fixtures::{school, school_proto, with_token};
use crate::support::server::TestServer;
use crate::support::status::assert_status;

#[tokio::test]
async fn each_role_may_call_what_it_should_and_no_more() {
    let (reader, reader_line) = new_token(Role::Reader);
    let (writer, writer_line) = new_token(Role::Writer);
    let (admin, admin_line) = new_token(Role::Admin);
    let tokens = Tokens::parse([
        reader_line.as_str(),
        writer_line.as_str(),
        admin_line.as_str(),
    ])
    .unwrap();
    let engine =
        Engine::with_schools(EngineConfig::default(), vec![school("a"), school("b")]).unwrap();
    let server = TestServer::with_options(
        Arc::new(engine),
        ServeOptions {
            tokens: Some(Arc::new(tokens)),
            ..ServeOptions::default()
        },
    )
    .await;
    let mut registry = server.registry().await;
    let upsert = || pb::UpsertSchoolRequest {
        school: Some(school_proto(&school("c"))),
    };

    // No token, a wrong token.
    let status = registry
        .get_school(pb::GetSchoolRequest { id: "a".into() })
        .await
        .unwrap_err();
    assert_status(&status, Code::Unauthenticated, "");
    let status = registry
        .get_school(with_token(
            pb::GetSchoolRequest { id: "a".into() },
            "pm_wrong",
        ))
        .await
        .unwrap_err();
    assert_status(&status, Code::Unauthenticated, "");
    assert_eq!(status.message(), "invalid bearer token");

    // Reader: reads yes, writes no.
    registry
        .get_school(with_token(pb::GetSchoolRequest { id: "a".into() }, &reader))
        .await
        .unwrap();
    let status = registry
        .upsert_school(with_token(upsert(), &reader))
        .await
        .unwrap_err();
    assert_status(
        &status,
        Code::PermissionDenied,
        "the reader role cannot call SchoolRegistry/UpsertSchool: it needs writer",
    );

    // Writer: writes yes, deletes and brokerage no.
    registry
        .upsert_school(with_token(upsert(), &writer))
        .await
        .unwrap();
    let status = registry
        .delete_school(with_token(
            pb::DeleteSchoolRequest { id: "c".into() },
            &writer,
        ))
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "");
    let mut matcher = server.matcher().await;
    let broker = || pb::BrokerRequest {
        seeker_ids: vec!["a".into()],
        mode: pb::MatchMode::Support as i32,
        ..Default::default()
    };
    let status = matcher
        .broker(with_token(broker(), &writer))
        .await
        .unwrap_err();
    assert_status(&status, Code::PermissionDenied, "");

    // Admin: everything.
    registry
        .delete_school(with_token(
            pb::DeleteSchoolRequest { id: "c".into() },
            &admin,
        ))
        .await
        .unwrap();
    matcher.broker(with_token(broker(), &admin)).await.unwrap();

    // Health and reflection need no token.
    let mut health = HealthClient::new(server.channel().await);
    health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .unwrap();
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let list = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut answers = reflection
        .server_reflection_info(tokio_stream::iter([list]))
        .await
        .expect("reflection is open")
        .into_inner();
    let answer = answers.message().await.unwrap().unwrap();
    let Some(MessageResponse::ListServicesResponse(services)) = answer.message_response else {
        panic!("{answer:?}");
    };
    assert!(
        services
            .service
            .iter()
            .any(|s| s.name == "partnermatch.v1.PartnerMatcher")
    );
    server.stop().await;
}
