//! Any bytes as a gRPC request to the server: the first byte picks the
//! method from the served method table and how the request is dressed
//! (content-type, grpc-timeout, encoding); the rest is the request body —
//! frames and protobuf as they would arrive off the wire. Each request goes
//! through everything the server runs for a request (protocol check,
//! authentication, admission with its framing checks, the codec, the
//! handler's validation) over a small in-memory registry.
//!
//! Every answer must be a well-formed refusal or a success: never a panic,
//! and never INTERNAL or UNKNOWN — malformed input is the client's fault.
#![no_main]

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::BodyExt;
use libfuzzer_sys::fuzz_target;
use partnermatch::{ApiLayers, ServeOptions, methods};
use partnermatch_core::dataset::{SyntheticConfig, generate};
use partnermatch_core::engine::{Engine, EngineConfig};
use tonic::body::Body;
use tonic::service::Routes;
use tower_service::Service;

type Server = <ApiLayers as tower_layer::Layer<Routes>>::Service;

struct Harness {
    runtime: tokio::runtime::Runtime,
    server: Server,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        let engine = Engine::with_schools(
            EngineConfig::default(),
            generate(SyntheticConfig {
                schools: 60,
                ..Default::default()
            }),
        )
        .expect("synthetic schools are valid");
        let options = ServeOptions {
            request_timeout: Duration::from_secs(5),
            body_timeout: Duration::from_secs(1),
            ..ServeOptions::default()
        };
        let server = runtime
            .block_on(partnermatch::service(Arc::new(engine), &options))
            .expect("service");
        Harness { runtime, server }
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&choice, body)) = data.split_first() else {
        return;
    };
    let method = methods::METHODS[usize::from(choice) % methods::METHODS.len()];
    let dressing = choice / 32;
    let mut request = http::Request::builder()
        .method(http::Method::POST)
        .uri(format!("http://fuzz{}", method.path))
        .header("te", "trailers")
        .header(
            "content-type",
            if dressing == 7 { "application/json" } else { "application/grpc" },
        );
    if dressing == 5 {
        request = request.header("grpc-timeout", "9999999x");
    }
    if dressing == 6 {
        request = request.header("grpc-encoding", "gzip");
    }
    let request = request
        .body(Body::new(http_body_util::Full::new(Bytes::copy_from_slice(body))))
        .expect("request");
    let harness = harness();
    let mut server = harness.server.clone();
    harness.runtime.block_on(async move {
        std::future::poll_fn(|cx| server.poll_ready(cx))
            .await
            .expect("infallible");
        let response = server.call(request).await.expect("infallible");
        let (parts, body) = response.into_parts();
        let Ok(collected) = tokio::time::timeout(Duration::from_secs(2), body.collect()).await
        else {
            // Only a health Watch answers with a stream that stays open.
            assert_eq!(method.path, "/grpc.health.v1.Health/Watch");
            return;
        };
        if !parts.status.is_success() {
            // Not gRPC (a wrong content-type): a plain HTTP refusal.
            assert!(
                parts.status == http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
                "{parts:?}"
            );
            return;
        }
        let trailers = collected.ok().and_then(|c| c.trailers().cloned());
        let status = trailers
            .as_ref()
            .and_then(tonic::Status::from_header_map)
            .or_else(|| tonic::Status::from_header_map(&parts.headers))
            .expect("every answer carries a grpc-status");
        assert!(
            !matches!(status.code(), tonic::Code::Internal | tonic::Code::Unknown),
            "{} for {}: {status:?}",
            status.code(),
            method.path
        );
    });
});
