//! Limits through the real server: an overload is shed at once with
//! RESOURCE_EXHAUSTED while health keeps answering; deadlines (the client's
//! and the server's) end calls with DEADLINE_EXCEEDED; an oversized message
//! is refused; metrics count calls by RPC and code.

use std::future::IntoFuture;
use std::sync::Arc;
use std::time::{Duration, Instant};

use partnermatch::{ServeOptions, pb};
use partnermatch_core::dataset::{SyntheticConfig, generate};
use partnermatch_core::engine::{Engine, EngineConfig};
use tonic::Code;
use tonic_health::pb::health_client::HealthClient;

use crate::support::fixtures::match_request;
use crate::support::server::TestServer;
use crate::support::status::assert_status;
use crate::support::wire::http_get;

async fn server_with(options: ServeOptions) -> TestServer {
    let engine = Engine::with_schools(
        EngineConfig::default(),
        generate(SyntheticConfig::default()),
    )
    .expect("valid");
    TestServer::with_options(Arc::new(engine), options).await
}

/// A slow call: brokering every open school.
fn everyone() -> pb::BrokerRequest {
    pb::BrokerRequest {
        filter: Some(pb::SeekerFilter {
            stages: vec![
                pb::Stage::Red as i32,
                pb::Stage::Amber as i32,
                pb::Stage::Yellow as i32,
            ],
            ..Default::default()
        }),
        mode: pb::MatchMode::Support as i32,
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_is_shed_cleanly_and_health_keeps_answering() {
    let server = server_with(ServeOptions {
        max_in_flight: 2,
        ..ServeOptions::default()
    })
    .await;
    let matcher = server.matcher().await;
    let started = Instant::now();
    let calls: Vec<_> = (0..40)
        .map(|_| {
            let mut matcher = matcher.clone();
            tokio::spawn(async move { matcher.broker(everyone()).await })
        })
        .collect();
    // While the flood runs, health answers at once.
    let mut health = HealthClient::new(server.channel().await);
    let checked = Instant::now();
    let status = health
        .check(tonic_health::pb::HealthCheckRequest::default())
        .await
        .expect("health answers during a flood")
        .into_inner()
        .status;
    assert_eq!(
        status,
        tonic_health::pb::health_check_response::ServingStatus::Serving as i32
    );
    assert!(checked.elapsed() < Duration::from_secs(2));

    let (mut ok, mut shed) = (0, 0);
    for call in calls {
        match tokio::time::timeout(Duration::from_secs(120), call)
            .await
            .expect("every call ends: no hang")
            .unwrap()
        {
            Ok(_) => ok += 1,
            Err(status) => {
                assert_status(&status, Code::ResourceExhausted, "server busy");
                shed += 1;
            }
        }
    }
    assert!(ok >= 1 && shed >= 30, "{ok} answered, {shed} shed");
    assert!(started.elapsed() < Duration::from_secs(120));
    // Afterwards the server answers normally again.
    let mut matcher = matcher.clone();
    let seeker = server.engine.snapshot().schools()[0].school.id.to_string();
    let mut request = match_request(&seeker, pb::MatchMode::Peer);
    request.phase_relation = pb::PhaseRelation::AnyPhase as i32;
    matcher
        .r#match(request)
        .await
        .expect("answers after the flood");
    server.stop().await;
}

#[tokio::test]
async fn deadlines_end_calls_with_deadline_exceeded() {
    let server = server_with(ServeOptions {
        request_timeout: Duration::from_millis(40),
        ..ServeOptions::default()
    })
    .await;
    let mut matcher = server.matcher().await;
    // The server's own timeout.
    let status = matcher.broker(everyone()).await.unwrap_err();
    assert_status(&status, Code::DeadlineExceeded, "");
    // (A client's grpc-timeout is honoured too — unit-tested in
    // api::admission, since a tonic client cancels locally at its own
    // deadline before the server's answer can arrive.)
    server.stop().await;
}

#[tokio::test]
async fn an_oversized_message_is_refused() {
    let server = server_with(ServeOptions {
        max_message_bytes: 1024,
        ..ServeOptions::default()
    })
    .await;
    let mut matcher = server.matcher().await;
    let seeker = server.engine.snapshot().schools()[0].school.id.to_string();
    let mut request = match_request(&seeker, pb::MatchMode::Support);
    request.exclude_ids = (0..500).map(|i| format!("{i:07}")).collect();
    let status = matcher.r#match(request).await.unwrap_err();
    assert_status(&status, Code::OutOfRange, "too large");
    // A small one still works.
    matcher
        .r#match(match_request(&seeker, pb::MatchMode::Peer))
        .await
        .unwrap();
    server.stop().await;
}

/// GET `path` over plain HTTP/1.1; returns the body.
#[tokio::test]
async fn metrics_count_calls_by_rpc_and_code_and_the_registry() {
    let metrics = Arc::new(partnermatch::Metrics::default());
    let engine = Arc::new(
        Engine::with_schools(
            EngineConfig::default(),
            vec![
                crate::support::fixtures::school("a"),
                crate::support::fixtures::school("b"),
            ],
        )
        .unwrap(),
    );
    let server = TestServer::with_options(
        Arc::clone(&engine),
        ServeOptions {
            metrics: Arc::clone(&metrics),
            ..ServeOptions::default()
        },
    )
    .await;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(
        axum::serve(
            listener,
            partnermatch::metrics_router(Arc::clone(&engine), metrics),
        )
        .into_future(),
    );
    let mut registry = server.registry().await;
    registry
        .get_school(pb::GetSchoolRequest { id: "a".into() })
        .await
        .unwrap();
    registry
        .get_school(pb::GetSchoolRequest { id: "a".into() })
        .await
        .unwrap();
    registry
        .get_school(pb::GetSchoolRequest { id: "zz".into() })
        .await
        .unwrap_err();
    let text = http_get(address, "/metrics").await;
    // Both schools came in one write to an empty engine: the first built
    // their bucket, the second is held beside its trees (too few changes
    // for the merger).
    let overlay = engine.snapshot().index_overlay();
    assert!(overlay > 0);
    let overlay_line = format!("partnermatch_index_overlay {overlay}");
    assert!(
        text.contains(&overlay_line),
        "no {overlay_line:?} in\n{text}"
    );
    for line in [
        r#"partnermatch_requests_total{rpc="partnermatch.v1.SchoolRegistry/GetSchool",code="Ok"} 2"#,
        r#"partnermatch_requests_total{rpc="partnermatch.v1.SchoolRegistry/GetSchool",code="NotFound"} 1"#,
        "partnermatch_schools 2",
        "partnermatch_partnerships 0",
        "partnermatch_shed_total 0",
        "partnermatch_in_flight 0",
        r#"partnermatch_request_duration_seconds_count{rpc="partnermatch.v1.SchoolRegistry/GetSchool"} 3"#,
    ] {
        assert!(text.contains(line), "no {line:?} in\n{text}");
    }
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_lets_a_call_in_flight_finish() {
    let metrics = Arc::new(partnermatch::Metrics::default());
    let server = server_with(ServeOptions {
        metrics: Arc::clone(&metrics),
        ..ServeOptions::default()
    })
    .await;
    let mut matcher = server.matcher().await;
    let call = tokio::spawn(async move { matcher.broker(everyone()).await });
    // Once the call is in flight on the server, start shutting down.
    while !metrics
        .render(&server.engine)
        .contains("partnermatch_in_flight 1")
    {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    server.stop().await;
    let answer = call.await.unwrap().expect("the call in flight completes");
    assert!(answer.into_inner().seekers > 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_connection_cannot_take_every_slot() {
    let server = server_with(ServeOptions {
        max_calls_per_connection: 1,
        ..ServeOptions::default()
    })
    .await;
    let greedy = server.matcher().await;
    let calls: Vec<_> = (0..10)
        .map(|_| {
            let mut matcher = greedy.clone();
            tokio::spawn(async move { matcher.broker(everyone()).await })
        })
        .collect();
    // Another client, on its own connection, is served meanwhile.
    let seeker = server.engine.snapshot().schools()[0].school.id.to_string();
    let mut request = match_request(&seeker, pb::MatchMode::Peer);
    request.phase_relation = pb::PhaseRelation::AnyPhase as i32;
    server
        .matcher()
        .await
        .r#match(request)
        .await
        .expect("a second connection is served");
    let mut shed = 0;
    for call in calls {
        if let Err(status) = call.await.unwrap() {
            assert_status(&status, Code::ResourceExhausted, "");
            shed += 1;
        }
    }
    assert!(shed >= 1, "the connection's extra calls are shed");
    server.stop().await;
}
