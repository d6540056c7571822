//! Requests an attacker would send, through the real server: millions of
//! bad entries, bytes that are not protobuf, requests that are not gRPC,
//! text that would drive a terminal, forged page tokens, methods nobody
//! gave a role. Each gets a small, clear refusal and changes nothing.

use std::collections::BTreeSet;
use std::sync::Arc;

use bytes::Bytes;
use partnermatch::{Role, ServeOptions, Tokens, methods, new_token, pb, required_role};
use partnermatch_core::domain::MAX_REPORTED_VIOLATIONS;
use prost::Message;
use tonic::Code;
use tonic_types::StatusExt;

use crate::support::fixtures::{match_request, school, school_proto};
use crate::support::server::TestServer;
use crate::support::status::{assert_invalid_field, assert_status};
use crate::support::wire::{RawConnection, frame, framed, grpc_request};

const MATCH: &str = "/partnermatch.v1.PartnerMatcher/Match";
const UPSERT: &str = "/partnermatch.v1.SchoolRegistry/UpsertSchool";
const GET_SCHOOL: &str = "/partnermatch.v1.SchoolRegistry/GetSchool";

/// A status small enough for any client's header limit (grpcio's default
/// is 8 KB), with at most the capped number of violations.
#[track_caller]
fn assert_small(status: &tonic::Status) {
    let details = status.details().len();
    assert!(
        status.message().len() + details < 6_000,
        "{} bytes of message and {details} of details",
        status.message().len()
    );
    if let Some(bad_request) = status.get_details_bad_request() {
        assert!(bad_request.field_violations.len() <= MAX_REPORTED_VIOLATIONS);
    }
}

#[tokio::test]
async fn millions_of_bad_entries_get_one_small_invalid_argument() {
    let server = TestServer::start(vec![school("a"), school("b")]).await;
    let mut registry = server.registry().await;
    let mut matcher = server.matcher().await;

    // 4,000,000 unspecified needs: one packed byte each, just under 4 MiB.
    let mut bad = school_proto(&school("c"));
    bad.needs = vec![0; 4_000_000];
    let status = registry
        .upsert_school(pb::UpsertSchoolRequest { school: Some(bad) })
        .await
        .unwrap_err();
    assert_invalid_field(&status, "school.needs");
    assert!(
        status.message().contains("at most 21 entries"),
        "{}",
        status.message()
    );
    assert_small(&status);

    // A reader's request does the same through the focus override.
    let mut request = match_request("a", pb::MatchMode::Support);
    request.focus = vec![0; 50];
    let status = matcher.r#match(request.clone()).await.unwrap_err();
    assert_invalid_field(&status, "focus");
    assert_small(&status);
    request.focus = vec![0; 1_000_000];
    assert_small(&matcher.r#match(request).await.unwrap_err());

    // Thousands of bad ids: the first 20 named, the rest counted.
    let status = matcher
        .broker(pb::BrokerRequest {
            seeker_ids: vec!["not an id".into(); 5_000],
            mode: pb::MatchMode::Support as i32,
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid_field(&status, "seeker_ids[0]");
    assert!(
        status.message().ends_with("…and 4980 more"),
        "{}",
        status.message()
    );
    assert_small(&status);

    // Proposals with a hundred thousand members.
    let mut partnerships = server.partnerships().await;
    let status = partnerships
        .propose_partnership(pb::ProposePartnershipRequest {
            kind: pb::PartnershipKind::Cluster as i32,
            members: vec![pb::PartnershipMember::default(); 100_000],
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid_field(&status, "members");
    assert_small(&status);

    // Nothing changed.
    assert_eq!(server.engine.snapshot().len(), 2);
    server.stop().await;
}

#[tokio::test]
async fn an_import_of_bad_messages_gets_a_bounded_answer() {
    let server = TestServer::start(vec![school("a")]).await;
    let mut registry = server.registry().await;
    // Ten messages of 400,000 bad entries each (the 65 MB answer).
    let heavy = (0..10).map(|i| {
        let mut bad = school_proto(&school(&format!("bad{i}")));
        bad.needs = vec![0; 400_000];
        pb::ImportSchoolsRequest {
            school: Some(bad),
            ..Default::default()
        }
    });
    let answer = registry
        .import_schools(tokio_stream::iter(heavy))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((answer.received, answer.rejected), (10, 10));
    assert!(
        answer.encoded_len() < 10_000,
        "{} bytes",
        answer.encoded_len()
    );

    // More rejected messages than an answer lists: all counted.
    let many = (0..1_500).map(|i| {
        let mut bad = school_proto(&school(&format!("n{i}")));
        bad.latitude = Some(f64::NAN);
        pb::ImportSchoolsRequest {
            school: Some(bad),
            ..Default::default()
        }
    });
    let answer = registry
        .import_schools(tokio_stream::iter(many))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((answer.received, answer.rejected), (1_500, 1_500));
    assert_eq!(answer.errors.len(), 1_000);
    assert_eq!(answer.errors[999].index, 1_000);
    assert_eq!(server.engine.snapshot().len(), 1);
    server.stop().await;
}

/// Bytes that are not the method's message, or not a gRPC frame: each is
/// INVALID_ARGUMENT saying what is wrong.
#[tokio::test]
async fn malformed_wire_input_is_invalid_argument_with_a_reason() {
    let server = TestServer::start(vec![school("a")]).await;
    let mut raw = RawConnection::open(server.address).await;
    let head = || grpc_request(MATCH).body(()).unwrap();

    let non_utf8 = {
        // MatchRequest.school_id (field 1, length-delimited) = 0xff 0xfe.
        Bytes::from_static(&[0x0a, 0x02, 0xff, 0xfe])
    };
    let cases: Vec<(&str, Bytes, &str)> = vec![
        (
            "not protobuf",
            frame(b"this is not protobuf"),
            "malformed MatchRequest message",
        ),
        (
            "wire type 7",
            frame(&[0x0f, 0x01]),
            "malformed MatchRequest message",
        ),
        (
            "truncated varint",
            frame(&[0x10, 0xff, 0xff]),
            "malformed MatchRequest message",
        ),
        (
            "length past the payload",
            frame(&[0x0a, 0x40, b'a']),
            "malformed MatchRequest message",
        ),
        ("invalid UTF-8 in school_id", frame(&non_utf8), "school_id"),
        (
            "a truncated frame",
            Bytes::from_static(&[0, 0, 0, 0, 9, 0x0a]),
            "cut short",
        ),
        ("an empty body", Bytes::new(), "body is empty"),
        (
            "a short header",
            Bytes::from_static(&[0, 0]),
            "2 of 5 bytes",
        ),
        (
            "two messages",
            {
                let mut two = frame(&[]).to_vec();
                two.extend_from_slice(&frame(&[]));
                Bytes::from(two)
            },
            "exactly one message",
        ),
        (
            "compressed flag without grpc-encoding",
            {
                let mut bytes =
                    frame(&match_request("a", pb::MatchMode::Peer).encode_to_vec()).to_vec();
                bytes[0] = 1;
                Bytes::from(bytes)
            },
            "no grpc-encoding",
        ),
        (
            "compressed flag 9",
            {
                let mut bytes = frame(&[]).to_vec();
                bytes[0] = 9;
                Bytes::from(bytes)
            },
            "compressed flag 9",
        ),
    ];
    for (what, body, expected) in cases {
        let status = raw.call(head(), body).await.grpc();
        assert!(
            status.code() == Code::InvalidArgument && status.message().contains(expected),
            "{what}: expected INVALID_ARGUMENT saying {expected:?}, got {status:?}"
        );
    }
    // Invalid UTF-8 in a school's name, through UpsertSchool.
    let mut school_bytes = school_proto(&school("u")).encode_to_vec();
    school_bytes.extend_from_slice(&[0x12, 0x02, 0xc3, 0x28]); // name = bad UTF-8
    let request = pb::UpsertSchoolRequest::default().encode_to_vec();
    let mut upsert = request;
    upsert.push(0x0a);
    prost::encoding::encode_varint(school_bytes.len() as u64, &mut upsert);
    upsert.extend_from_slice(&school_bytes);
    let status = raw
        .call(grpc_request(UPSERT).body(()).unwrap(), frame(&upsert))
        .await
        .grpc();
    assert_status(&status, Code::InvalidArgument, "name");

    // Health and reflection, whose codecs are not ours, say the same.
    for path in [
        "/grpc.health.v1.Health/Check",
        "/grpc.reflection.v1.ServerReflection/ServerReflectionInfo",
        "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
    ] {
        for (what, body) in [
            ("wire type 7", frame(&[0x0f, 0x01])),
            (
                "a truncated frame",
                Bytes::from_static(&[0, 0, 0, 0, 9, 0x0a]),
            ),
        ] {
            let status = raw
                .call(grpc_request(path).body(()).unwrap(), body)
                .await
                .grpc();
            assert_eq!(
                status.code(),
                Code::InvalidArgument,
                "{path}, {what}: {status:?}"
            );
            assert!(status.message().contains("malformed"), "{path}: {status:?}");
        }
    }
    assert_eq!(server.engine.snapshot().len(), 1);
    server.stop().await;
}

/// Requests that are not gRPC get the answers the gRPC over HTTP/2
/// specification gives them; unknown paths and bad deadlines are refused.
#[tokio::test]
async fn requests_that_are_not_grpc_are_refused_as_the_specification_says() {
    let server = TestServer::start(vec![school("a")]).await;
    let mut raw = RawConnection::open(server.address).await;
    let body = || framed(&pb::GetSchoolRequest { id: "a".into() });

    for content_type in ["application/json", "text/plain", "application/grpc+json"] {
        let request = grpc_request(GET_SCHOOL)
            .header("content-type", content_type)
            .body(())
            .unwrap();
        // (The builder appends: replace the gRPC content-type.)
        let mut request = request;
        request
            .headers_mut()
            .insert("content-type", content_type.parse().unwrap());
        let answer = raw.call(request, body()).await;
        assert_eq!(
            answer.http_status,
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{content_type}"
        );
        // A plain-text reason, and no gRPC status a client could misread.
        assert!(
            answer.body_bytes > 0 && answer.status().is_none(),
            "{answer:?}"
        );
    }
    let mut request = grpc_request(GET_SCHOOL).body(()).unwrap();
    request.headers_mut().remove("content-type");
    assert_eq!(
        raw.call(request, body()).await.http_status,
        http::StatusCode::UNSUPPORTED_MEDIA_TYPE
    );
    let get = grpc_request(GET_SCHOOL)
        .method(http::Method::GET)
        .body(())
        .unwrap();
    let answer = raw.call(get, Bytes::new()).await;
    assert_eq!(answer.http_status, http::StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(answer.headers["allow"], "POST");

    for timeout in ["soon", "123456789S", "5x", "-1S"] {
        let request = grpc_request(GET_SCHOOL)
            .header("grpc-timeout", timeout)
            .body(())
            .unwrap();
        let status = raw.call(request, body()).await.grpc();
        assert_eq!(
            status.code(),
            Code::InvalidArgument,
            "{timeout}: {status:?}"
        );
        assert!(status.message().contains("grpc-timeout"), "{status:?}");
    }
    // A well-formed request on the same connection is answered.
    let status = raw
        .call(grpc_request(GET_SCHOOL).body(()).unwrap(), body())
        .await
        .grpc();
    assert_status(&status, Code::Ok, "");

    let status = raw
        .call(
            grpc_request("/partnermatch.v1.SchoolRegistry/DropEverything")
                .body(())
                .unwrap(),
            body(),
        )
        .await
        .grpc();
    assert_status(&status, Code::Unimplemented, "");
    server.stop().await;
}

#[tokio::test]
async fn text_that_would_drive_a_terminal_is_refused_and_every_letter_kept() {
    let server = TestServer::start(vec![school("a"), school("b")]).await;
    let mut registry = server.registry().await;
    for (name, field) in [
        ("Ysgol \u{1b}[2J\u{1b}[31mCoch", "school.name"),
        ("Ysgol\0Nul", "school.name"),
        ("Ysgol \u{202e}lohcs", "school.name"),
        ("   ", "school.name"),
        ("two\nlines", "school.name"),
    ] {
        let mut bad = school_proto(&school("c"));
        bad.name = name.into();
        let status = registry
            .upsert_school(pb::UpsertSchoolRequest { school: Some(bad) })
            .await
            .unwrap_err();
        assert_invalid_field(&status, field);
        assert!(!status.message().contains('\u{1b}'), "{status:?}");
    }
    let mut bad = school_proto(&school("c"));
    bad.consortium = "G\u{7}wE".into();
    let status = registry
        .upsert_school(pb::UpsertSchoolRequest { school: Some(bad) })
        .await
        .unwrap_err();
    assert_invalid_field(&status, "school.consortium");

    for name in [
        "Ysgol Gymraeg Bro Ŵyr",
        "Ysgol Gynradd Gymraeg Llwyncelyn",
        "Ysgol y Ddôl",
        "École Française de Cardiff",
        "Szkoła Polska w Walii",
    ] {
        let mut good = school_proto(&school("c"));
        good.name = name.into();
        let stored = registry
            .upsert_school(pb::UpsertSchoolRequest { school: Some(good) })
            .await
            .unwrap()
            .into_inner()
            .school
            .unwrap();
        assert_eq!(stored.name, name);
    }

    // The aide-memoire keeps its paragraphs, but not control characters.
    let mut partnerships = server.partnerships().await;
    let proposal = |action_plan: &str| pb::ProposePartnershipRequest {
        kind: pb::PartnershipKind::Peer as i32,
        members: ["a", "b"]
            .map(|id| pb::PartnershipMember {
                school_id: id.into(),
                role: pb::MemberRole::Unspecified as i32,
            })
            .to_vec(),
        action_plan: action_plan.into(),
        ..Default::default()
    };
    let status = partnerships
        .propose_partnership(proposal("1. visit\u{0}\n2. review"))
        .await
        .unwrap_err();
    assert_invalid_field(&status, "action_plan");
    partnerships
        .propose_partnership(proposal(
            "1. Visit each other's classes.\n2.\tReview in July.",
        ))
        .await
        .unwrap();
    server.stop().await;
}

#[tokio::test]
async fn page_tokens_are_bound_to_their_list_and_filter() {
    let schools: Vec<_> = (0..5)
        .map(|i| {
            let mut s = school(&format!("s{i}"));
            s.consortium = if i % 2 == 0 { "CSC" } else { "GwE" }.into();
            s
        })
        .collect();
    let server = TestServer::start(schools).await;
    let mut registry = server.registry().await;
    let list = |token: &str, consortium: &str| pb::ListSchoolsRequest {
        page_size: 1,
        page_token: token.into(),
        consortium: consortium.into(),
        ..Default::default()
    };
    let first = registry
        .list_schools(list("", "CSC"))
        .await
        .unwrap()
        .into_inner();
    let token = first.next_page_token;
    assert!(!token.is_empty() && !token.contains("s0"), "{token}");
    let second = registry
        .list_schools(list(&token, "CSC"))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(second.schools[0].id, "s2");

    // Another filter, another list, an edited token, an old-style token.
    let status = registry
        .list_schools(list(&token, "GwE"))
        .await
        .unwrap_err();
    assert_invalid_field(&status, "page_token");
    let mut partnerships = server.partnerships().await;
    let status = partnerships
        .list_partnerships(pb::ListPartnershipsRequest {
            page_token: token.clone(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_invalid_field(&status, "page_token");
    let mut edited = token.clone().into_bytes();
    let last = edited.len() - 1;
    edited[last] = if edited[last] == b'A' { b'B' } else { b'A' };
    let status = registry
        .list_schools(list(&String::from_utf8(edited).unwrap(), "CSC"))
        .await
        .unwrap_err();
    assert_invalid_field(&status, "page_token");
    use base64::Engine as _;
    let forged = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("after:s3");
    let status = registry
        .list_schools(list(&forged, "CSC"))
        .await
        .unwrap_err();
    assert_invalid_field(&status, "page_token");
    server.stop().await;
}

/// The server's own descriptor sets, walked method by method through
/// reflection: every method has an entry in the table (so a role), and
/// the table has nothing the server does not serve. With tokens, each
/// method refuses a token below its role and any path outside the table
/// is refused whatever the token.
#[tokio::test]
async fn every_served_method_has_a_role_and_other_paths_are_refused() {
    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    use tonic_reflection::pb::v1::{ServerReflectionRequest, ServerReflectionResponse};

    let (reader, reader_line) = new_token(Role::Reader);
    let (admin, admin_line) = new_token(Role::Admin);
    let tokens = Tokens::parse([reader_line.as_str(), admin_line.as_str()]).unwrap();
    let engine = partnermatch_core::engine::Engine::with_schools(
        partnermatch_core::engine::EngineConfig::default(),
        vec![school("a")],
    )
    .unwrap();
    let server = TestServer::with_options(
        Arc::new(engine),
        ServeOptions {
            tokens: Some(Arc::new(tokens)),
            ..ServeOptions::default()
        },
    )
    .await;

    let mut reflection = ServerReflectionClient::new(server.channel().await);
    let ask = |request: MessageRequest| ServerReflectionRequest {
        host: String::new(),
        message_request: Some(request),
    };
    let answer = |response: ServerReflectionResponse| response.message_response.unwrap();
    let services = match answer(
        reflection
            .server_reflection_info(tokio_stream::iter([ask(MessageRequest::ListServices(
                String::new(),
            ))]))
            .await
            .unwrap()
            .into_inner()
            .message()
            .await
            .unwrap()
            .unwrap(),
    ) {
        MessageResponse::ListServicesResponse(list) => list.service,
        other => panic!("{other:?}"),
    };
    let mut served = BTreeSet::new();
    for service in services {
        let files = match answer(
            reflection
                .server_reflection_info(tokio_stream::iter([ask(
                    MessageRequest::FileContainingSymbol(service.name.clone()),
                )]))
                .await
                .unwrap()
                .into_inner()
                .message()
                .await
                .unwrap()
                .unwrap(),
        ) {
            MessageResponse::FileDescriptorResponse(files) => files.file_descriptor_proto,
            other => panic!("{other:?}"),
        };
        for file in files {
            let file = prost_types::FileDescriptorProto::decode(file.as_slice()).unwrap();
            for described in &file.service {
                let full = format!("{}.{}", file.package(), described.name());
                if full != service.name {
                    continue;
                }
                for method in &described.method {
                    served.insert(format!("/{full}/{}", method.name()));
                }
            }
        }
    }
    let table: BTreeSet<String> = methods::METHODS.iter().map(|m| m.path.to_owned()).collect();
    // Reflection lists grpc.reflection.v1 (v1alpha is served beside it).
    let served_or_alpha: BTreeSet<String> = served
        .iter()
        .cloned()
        .chain(
            served
                .iter()
                .filter(|path| path.starts_with("/grpc.reflection.v1."))
                .map(|path| path.replace("/grpc.reflection.v1.", "/grpc.reflection.v1alpha.")),
        )
        .collect();
    assert!(served.len() >= 15, "{served:?}");
    assert_eq!(
        table, served_or_alpha,
        "the method table and the served methods differ"
    );

    // Every API method: a reader's token is refused exactly where the
    // table asks for more than a reader.
    let mut raw = RawConnection::open(server.address).await;
    for method in methods::METHODS {
        let Some(Some(role)) = required_role(method.path) else {
            continue;
        };
        let request = grpc_request(method.path)
            .header("authorization", format!("Bearer {reader}"))
            .body(())
            .unwrap();
        let status = raw.call(request, frame(&[])).await.grpc();
        if role > Role::Reader {
            assert_eq!(status.code(), Code::PermissionDenied, "{}", method.path);
        } else {
            assert_ne!(status.code(), Code::PermissionDenied, "{}", method.path);
            assert_ne!(status.code(), Code::Unauthenticated, "{}", method.path);
        }
        let anonymous = grpc_request(method.path).body(()).unwrap();
        let status = raw.call(anonymous, frame(&[])).await.grpc();
        assert_eq!(status.code(), Code::Unauthenticated, "{}", method.path);
    }
    // Paths outside the table: refused, even with the admin token.
    for path in [
        "/partnermatch.v1.SchoolRegistry/PurgeSchools",
        "/partnermatch.v1.PartnerMatcher/match",
        "/partnermatch.v2.PartnerMatcher/Match",
        "/grpc.health.v1.Health/Nope",
        "/",
    ] {
        let request = grpc_request(path)
            .header("authorization", format!("Bearer {admin}"))
            .body(())
            .unwrap();
        let status = raw.call(request, frame(&[])).await.grpc();
        assert_eq!(status.code(), Code::Unimplemented, "{path}: {status:?}");
    }
    server.stop().await;
}
