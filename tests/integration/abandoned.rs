//! An import stream that does not end properly applies nothing: client
//! cancel, RST_STREAM (CANCEL and NO_ERROR), the client's deadline, the
//! server's deadline, a stream that stalls, a dropped connection. Each is
//! counted as abandoned, and no school of it appears — then or later.

use std::sync::Arc;
use std::time::{Duration, Instant};

use h2::Reason;
use partnermatch::{Metrics, ServeOptions, pb};
use partnermatch_core::engine::{Engine, EngineConfig};
use tokio::sync::mpsc;
use tokio_stream::wrappers::ReceiverStream;
use tonic::Code;

use crate::support::fixtures::{school, school_proto};
use crate::support::server::TestServer;
use crate::support::status::assert_status;
use crate::support::wire::{RawConnection, answer, framed, grpc_request};

const IMPORT: &str = "/partnermatch.v1.SchoolRegistry/ImportSchools";

fn message(i: usize) -> pb::ImportSchoolsRequest {
    pb::ImportSchoolsRequest {
        school: Some(school_proto(&school(&format!("imp{i:05}")))),
        ..Default::default()
    }
}

struct Fixture {
    server: TestServer,
    metrics: Arc<Metrics>,
}

impl Fixture {
    async fn start(options: ServeOptions) -> Fixture {
        let metrics = Arc::new(Metrics::default());
        let engine =
            Engine::with_schools(EngineConfig::default(), vec![school("a"), school("b")]).unwrap();
        let server = TestServer::with_options(
            Arc::new(engine),
            ServeOptions {
                metrics: Arc::clone(&metrics),
                ..options
            },
        )
        .await;
        Fixture { server, metrics }
    }

    fn abandoned(&self) -> u64 {
        let text = self.metrics.render(&self.server.engine);
        text.lines()
            .find_map(|line| line.strip_prefix("partnermatch_imports_abandoned_total "))
            .and_then(|count| count.trim().parse().ok())
            .unwrap_or(0)
    }

    /// Waits until `count` imports were abandoned, then a little longer
    /// for any write that should not happen, and checks none did.
    async fn assert_abandoned_and_nothing_applied(&self, count: u64) {
        let started = Instant::now();
        while self.abandoned() < count {
            assert!(
                started.elapsed() < Duration::from_secs(10),
                "{} of {count} imports counted abandoned",
                self.abandoned()
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
        let snapshot = self.server.engine.snapshot();
        assert_eq!(snapshot.len(), 2, "an abandoned import was applied");
        assert!(snapshot.index_of("imp00000").is_none());
    }
}

#[tokio::test]
async fn a_client_that_cancels_after_thousands_of_messages_applies_nothing() {
    let fixture = Fixture::start(ServeOptions::default()).await;
    let (sender, receiver) = mpsc::channel(64);
    let mut registry = fixture.server.registry().await;
    let call =
        tokio::spawn(async move { registry.import_schools(ReceiverStream::new(receiver)).await });
    for i in 0..3_000 {
        sender.send(message(i)).await.unwrap();
    }
    // Let the server read them, then cancel: the client resets the stream.
    tokio::time::sleep(Duration::from_millis(300)).await;
    call.abort();
    fixture.assert_abandoned_and_nothing_applied(1).await;

    // The same stream ended properly is applied whole.
    let mut registry = fixture.server.registry().await;
    let answer = registry
        .import_schools(tokio_stream::iter((0..3_000).map(message)))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(answer.created, 3_000);
    assert_eq!(fixture.server.engine.snapshot().len(), 3_002);
    assert_eq!(fixture.abandoned(), 1);
    fixture.server.stop().await;
}

#[tokio::test]
async fn rst_stream_with_cancel_or_no_error_applies_nothing() {
    let fixture = Fixture::start(ServeOptions::default()).await;
    let mut raw = RawConnection::open(fixture.server.address).await;
    for (round, reason) in [Reason::CANCEL, Reason::NO_ERROR].into_iter().enumerate() {
        let (_response, mut stream) = raw.start(grpc_request(IMPORT).body(()).unwrap()).await;
        for i in 0..50 {
            stream.send_data(framed(&message(i)), false).unwrap();
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        stream.send_reset(reason);
        fixture
            .assert_abandoned_and_nothing_applied(round as u64 + 1)
            .await;
    }
    fixture.server.stop().await;
}

#[tokio::test]
async fn the_clients_deadline_mid_stream_applies_nothing() {
    let fixture = Fixture::start(ServeOptions::default()).await;
    let (sender, receiver) = mpsc::channel(64);
    let mut registry = fixture.server.registry().await;
    let call = tokio::spawn(async move {
        let mut request = tonic::Request::new(ReceiverStream::new(receiver));
        request.set_timeout(Duration::from_millis(700));
        registry.import_schools(request).await
    });
    for i in 0..50 {
        sender.send(message(i)).await.unwrap();
    }
    // The stream stays open past the deadline.
    let status = call.await.unwrap().unwrap_err();
    assert!(
        matches!(status.code(), Code::DeadlineExceeded | Code::Cancelled),
        "{status:?}"
    );
    fixture.assert_abandoned_and_nothing_applied(1).await;
    drop(sender);
    fixture.server.stop().await;
}

#[tokio::test]
async fn a_stream_outlasting_the_request_timeout_is_applied_and_a_stalled_one_is_not() {
    // The server's request timeout counts from an import's last message:
    // a stream that keeps sending for three times as long is applied.
    let fixture = Fixture::start(ServeOptions {
        request_timeout: Duration::from_millis(500),
        ..ServeOptions::default()
    })
    .await;
    let mut raw = RawConnection::open(fixture.server.address).await;
    let (response, mut stream) = raw.start(grpc_request(IMPORT).body(()).unwrap()).await;
    let started = Instant::now();
    for i in 0..65 {
        stream.send_data(framed(&message(i)), false).unwrap();
        if i >= 50 {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
    stream.send_data(bytes::Bytes::new(), true).unwrap();
    let applied = answer(response).await;
    assert!(started.elapsed() > Duration::from_millis(1_400));
    assert_eq!(applied.grpc().code(), Code::Ok, "{:?}", applied.grpc());
    assert_eq!(fixture.server.engine.snapshot().len(), 2 + 65);
    assert_eq!(fixture.abandoned(), 0);
    fixture.server.stop().await;

    // The client's own deadline still covers the whole stream.
    let fixture = Fixture::start(ServeOptions::default()).await;
    let mut raw = RawConnection::open(fixture.server.address).await;
    let (response, mut stream) = raw
        .start(
            grpc_request(IMPORT)
                .header("grpc-timeout", "800m")
                .body(())
                .unwrap(),
        )
        .await;
    for i in 0..50 {
        stream.send_data(framed(&message(i)), false).unwrap();
    }
    let started = Instant::now();
    // Keep the stream alive with a message every 100 ms, never ending it.
    let keep_sending = tokio::spawn(async move {
        for i in 50..100 {
            tokio::time::sleep(Duration::from_millis(100)).await;
            if stream.send_data(framed(&message(i)), false).is_err() {
                break;
            }
        }
        stream
    });
    let status = answer(response).await.grpc();
    assert_status(&status, Code::DeadlineExceeded, "");
    assert!(started.elapsed() < Duration::from_secs(3));
    fixture.assert_abandoned_and_nothing_applied(1).await;
    drop(keep_sending.await);
    fixture.server.stop().await;

    // A stream whose next message does not come within the body timeout.
    let fixture = Fixture::start(ServeOptions {
        body_timeout: Duration::from_millis(400),
        ..ServeOptions::default()
    })
    .await;
    let mut raw = RawConnection::open(fixture.server.address).await;
    let (response, mut stream) = raw.start(grpc_request(IMPORT).body(()).unwrap()).await;
    stream.send_data(framed(&message(0)), false).unwrap();
    let status = answer(response).await.grpc();
    assert_status(&status, Code::DeadlineExceeded, "no message arrived");
    fixture.assert_abandoned_and_nothing_applied(1).await;
    drop(stream);
    fixture.server.stop().await;
}

#[tokio::test]
async fn a_dropped_connection_applies_nothing() {
    let fixture = Fixture::start(ServeOptions::default()).await;
    let mut raw = RawConnection::open(fixture.server.address).await;
    let (response, mut stream) = raw.start(grpc_request(IMPORT).body(()).unwrap()).await;
    for i in 0..50 {
        stream.send_data(framed(&message(i)), false).unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The connection goes away without a word.
    raw.driver.abort();
    drop((response, stream, raw));
    fixture.assert_abandoned_and_nothing_applied(1).await;
    fixture.server.stop().await;
}
