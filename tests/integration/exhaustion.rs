//! Attempts to exhaust the server through the real server: streams that
//! never send their body, slow imports from one token, idle and silent
//! connections, more connections than the limit, calls cancelled or out of
//! time (counted as such in the metrics).

use std::sync::Arc;
use std::time::{Duration, Instant};

use partnermatch::{Metrics, Role, ServeOptions, Tokens, new_token, pb};
use partnermatch_core::engine::{Engine, EngineConfig};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;
use tonic::Code;

use crate::support::fixtures::{match_request, school, school_proto, with_token};
use crate::support::server::TestServer;
use crate::support::status::assert_status;
use crate::support::wire::{RawConnection, answer, framed, grpc_request};

const MATCH: &str = "/partnermatch.v1.PartnerMatcher/Match";
const IMPORT: &str = "/partnermatch.v1.SchoolRegistry/ImportSchools";

/// A server over a few schools with one token per role given, and options.
async fn server_with_tokens(lines: &[&str], options: ServeOptions) -> TestServer {
    let engine = Engine::with_schools(
        EngineConfig::default(),
        vec![school("a"), school("b"), school("c")],
    )
    .unwrap();
    TestServer::with_options(
        Arc::new(engine),
        ServeOptions {
            tokens: Some(Arc::new(Tokens::parse(lines.iter().copied()).unwrap())),
            ..options
        },
    )
    .await
}

#[tokio::test]
async fn streams_that_never_send_a_body_hold_no_slot() {
    let (attacker, attacker_line) = new_token(Role::Reader);
    let (other, other_line) = new_token(Role::Reader);
    let server = server_with_tokens(
        &[&attacker_line, &other_line],
        ServeOptions {
            max_in_flight: 4,
            body_timeout: Duration::from_secs(2),
            ..ServeOptions::default()
        },
    )
    .await;
    // 3 connections × 40 streams: headers, then nothing.
    let mut held = Vec::new();
    let mut connections = Vec::new();
    for _ in 0..3 {
        let mut raw = RawConnection::open(server.address).await;
        for _ in 0..40 {
            let request = grpc_request(MATCH)
                .header("authorization", format!("Bearer {attacker}"))
                .body(())
                .unwrap();
            held.push(raw.start(request).await);
        }
        connections.push(raw);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // Every other client is served, and so is the attacker's own next call.
    let mut matcher = server.matcher().await;
    for token in [&other, &attacker] {
        matcher
            .r#match(with_token(match_request("a", pb::MatchMode::Peer), token))
            .await
            .expect("served while 120 streams wait for their bodies");
    }
    // The waiting streams end after the body timeout.
    let started = Instant::now();
    let (response, _body) = held.swap_remove(0);
    let status = answer(response).await.grpc();
    assert_status(&status, Code::DeadlineExceeded, "did not arrive");
    assert!(started.elapsed() < Duration::from_secs(5));
    server.stop().await;
}

#[tokio::test]
async fn one_token_cannot_hold_more_than_its_share() {
    let (attacker, attacker_line) = new_token(Role::Writer);
    let (other, other_line) = new_token(Role::Reader);
    let server = server_with_tokens(
        &[&attacker_line, &other_line],
        ServeOptions {
            max_in_flight: 4,
            body_timeout: Duration::from_millis(1500),
            ..ServeOptions::default()
        },
    )
    .await;
    // Imports that send one school each and stall: admitted on their first
    // message, they hold slots — at most the token's share (half of 4).
    let mut raw = RawConnection::open(server.address).await;
    let mut imports = Vec::new();
    for i in 0..4 {
        let request = grpc_request(IMPORT)
            .header("authorization", format!("Bearer {attacker}"))
            .body(())
            .unwrap();
        let (response, mut stream) = raw.start(request).await;
        let school = pb::ImportSchoolsRequest {
            school: Some(school_proto(&school(&format!("slow{i}")))),
            ..Default::default()
        };
        stream.send_data(framed(&school), false).unwrap();
        imports.push((response, stream));
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Two are over the share, refused at once.
    let over: Vec<_> = imports.split_off(2);
    for (response, _stream) in over {
        let status = answer(response).await.grpc();
        assert_status(&status, Code::ResourceExhausted, "its share");
    }
    // Another token is served meanwhile.
    let mut matcher = server.matcher().await;
    matcher
        .r#match(with_token(match_request("a", pb::MatchMode::Peer), &other))
        .await
        .expect("another token is served");
    // The stalled imports end with the body timeout, having applied nothing.
    for (response, _stream) in imports {
        let status = answer(response).await.grpc();
        assert_status(&status, Code::DeadlineExceeded, "");
    }
    assert!(server.engine.snapshot().index_of("slow0").is_none());
    server.stop().await;
}

/// Waits until `stream` is closed by the server (EOF or reset), at most
/// `within`.
async fn closed_within(stream: &mut TcpStream, within: Duration) -> bool {
    let mut buffer = [0u8; 1024];
    let deadline = Instant::now() + within;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match tokio::time::timeout(left, stream.read(&mut buffer)).await {
            Err(_) => return false,
            Ok(Ok(0) | Err(_)) => return true,
            Ok(Ok(_)) => {}
        }
    }
}

#[tokio::test]
async fn silent_and_idle_connections_are_closed() {
    let server = TestServer::with_options(
        Arc::new(Engine::with_schools(EngineConfig::default(), vec![school("a")]).unwrap()),
        ServeOptions {
            handshake_timeout: Duration::from_millis(300),
            idle_timeout: Duration::from_millis(800),
            ..ServeOptions::default()
        },
    )
    .await;
    // Connected, nothing sent: closed after the handshake timeout.
    let mut silent = TcpStream::connect(server.address).await.unwrap();
    let started = Instant::now();
    assert!(closed_within(&mut silent, Duration::from_secs(3)).await);
    assert!(started.elapsed() >= Duration::from_millis(250));

    // Preface and settings, never a call; and one that made a call, then
    // nothing: closed after the idle timeout.
    let preface_only = RawConnection::open(server.address).await;
    let mut after_a_call = RawConnection::open(server.address).await;
    let status = after_a_call
        .call(
            grpc_request("/grpc.health.v1.Health/Check")
                .body(())
                .unwrap(),
            framed(&tonic_health::pb::HealthCheckRequest::default()),
        )
        .await
        .grpc();
    assert_status(&status, Code::Ok, "");
    for connection in [preface_only, after_a_call] {
        let ended = tokio::time::timeout(Duration::from_secs(5), connection.driver).await;
        assert!(ended.is_ok(), "an idle connection was kept open");
    }

    // A connection with a call in progress is not idle, however long.
    let mut busy = RawConnection::open(server.address).await;
    let (response, mut body) = busy
        .start(
            grpc_request("/grpc.health.v1.Health/Watch")
                .body(())
                .unwrap(),
        )
        .await;
    body.send_data(
        framed(&tonic_health::pb::HealthCheckRequest::default()),
        true,
    )
    .unwrap();
    let watching = response.await.unwrap();
    assert_eq!(watching.status(), http::StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert!(!busy.driver.is_finished(), "a busy connection was closed");
    server.stop().await;
}

#[tokio::test]
async fn at_the_connection_limit_idle_ones_make_room_and_busy_ones_do_not() {
    let server = TestServer::with_options(
        Arc::new(
            Engine::with_schools(EngineConfig::default(), vec![school("a"), school("b")]).unwrap(),
        ),
        ServeOptions {
            max_connections: Some(4),
            body_timeout: Duration::from_secs(2),
            ..ServeOptions::default()
        },
    )
    .await;
    // Four idle connections fill the server.
    let idle: Vec<RawConnection> = futures_join(server.address, 4).await;
    // A newcomer is served: the connection idle longest is closed for it.
    let mut matcher = server.matcher().await;
    matcher
        .r#match(match_request("a", pb::MatchMode::Peer))
        .await
        .expect("a newcomer is served at the limit");
    tokio::time::sleep(Duration::from_millis(200)).await;
    let closed = idle.iter().filter(|c| c.driver.is_finished()).count();
    assert_eq!(closed, 1, "one idle connection made room");
    drop(matcher);
    drop(idle);
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Four connections each with a call whose request never arrives: not
    // busy, so a newcomer is served in place of one of them.
    let mut waiting = Vec::new();
    for _ in 0..4 {
        let mut raw = RawConnection::open(server.address).await;
        let call = raw.start(grpc_request(MATCH).body(()).unwrap()).await;
        waiting.push((raw, call));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut matcher = server.matcher().await;
    matcher
        .r#match(match_request("a", pb::MatchMode::Peer))
        .await
        .expect("served in place of a connection whose call never arrived");
    drop((matcher, waiting));
    tokio::time::sleep(Duration::from_millis(200)).await;

    // Four connections each with a call in progress (an import, its first
    // message sent): a newcomer is refused at once (closed), never left
    // hanging.
    let mut busy = Vec::new();
    for i in 0..4 {
        let mut raw = RawConnection::open(server.address).await;
        let (response, mut stream) = raw.start(grpc_request(IMPORT).body(()).unwrap()).await;
        let school = pb::ImportSchoolsRequest {
            school: Some(school_proto(&school(&format!("busy{i}")))),
            ..Default::default()
        };
        stream.send_data(framed(&school), false).unwrap();
        busy.push((raw, response, stream));
    }
    tokio::time::sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let mut newcomer = TcpStream::connect(server.address).await.unwrap();
    assert!(closed_within(&mut newcomer, Duration::from_secs(1)).await);
    assert!(started.elapsed() < Duration::from_secs(1));
    // Once those calls end (the gap between messages), newcomers are
    // served again.
    tokio::time::sleep(Duration::from_millis(2_500)).await;
    drop(busy);
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut matcher = server.matcher().await;
    matcher
        .r#match(match_request("a", pb::MatchMode::Peer))
        .await
        .expect("served once the busy calls ended");
    server.stop().await;
}

async fn futures_join(address: std::net::SocketAddr, count: usize) -> Vec<RawConnection> {
    let mut connections = Vec::new();
    for _ in 0..count {
        connections.push(RawConnection::open(address).await);
        // Distinct idle times, so "the longest idle" is well defined.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    connections
}

#[tokio::test]
async fn metrics_count_cancelled_and_deadline_exceeded_calls() {
    let metrics = Arc::new(Metrics::default());
    let server = TestServer::with_options(
        Arc::new(Engine::with_schools(EngineConfig::default(), vec![school("a")]).unwrap()),
        ServeOptions {
            metrics: Arc::clone(&metrics),
            ..ServeOptions::default()
        },
    )
    .await;
    let mut raw = RawConnection::open(server.address).await;
    let waiting = |timeout: Option<&str>| {
        let mut request = grpc_request(MATCH);
        if let Some(timeout) = timeout {
            request = request.header("grpc-timeout", timeout);
        }
        request.body(()).unwrap()
    };
    // The client gives up early: CANCELLED.
    let (_response, mut stream) = raw.start(waiting(None)).await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    stream.send_reset(h2::Reason::CANCEL);
    // The client cancels at its own deadline, a moment before the server's
    // clock (started later) says so: DEADLINE_EXCEEDED all the same.
    let (_response, mut stream) = raw.start(waiting(Some("300m"))).await;
    tokio::time::sleep(Duration::from_millis(295)).await;
    stream.send_reset(h2::Reason::CANCEL);
    // The server answers at the deadline: DEADLINE_EXCEEDED.
    let (response, _stream) = raw.start(waiting(Some("100m"))).await;
    assert_eq!(answer(response).await.grpc().code(), Code::DeadlineExceeded);

    let rpc = "partnermatch.v1.PartnerMatcher/Match";
    let cancelled = format!(r#"partnermatch_requests_total{{rpc="{rpc}",code="Cancelled"}} 1"#);
    let late = format!(r#"partnermatch_requests_total{{rpc="{rpc}",code="DeadlineExceeded"}} 2"#);
    let started = Instant::now();
    loop {
        let text = metrics.render(&server.engine);
        if text.contains(&cancelled) && text.contains(&late) {
            assert!(!text.contains("code=\"Unknown\""), "{text}");
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(10), "{text}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // A path nobody serves is counted under one label, not its own.
    for i in 0..3 {
        raw.call(
            grpc_request(&format!("/random/{i}")).body(()).unwrap(),
            framed(&pb::GetSchoolRequest::default()),
        )
        .await;
    }
    let text = metrics.render(&server.engine);
    assert!(!text.contains("random"), "{text}");
    assert!(
        text.contains(r#"partnermatch_requests_total{rpc="unknown",code="Unimplemented"} 3"#),
        "{text}"
    );
    server.stop().await;
}
