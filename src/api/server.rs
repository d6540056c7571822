//! The gRPC server: partnermatch's three services beside `grpc.health.v1` and
//! server reflection (v1 and v1alpha: grpcurl 1.8 asks for v1alpha).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::transport::server::{Router, TcpIncoming};
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::server::HealthReporter;
use tower_layer::{Identity as NoLayer, Stack};

use crate::engine::Engine;

use super::admission::AdmissionLayer;
use super::auth::{AuthLayer, Tokens};
use super::metrics::{Metrics, MetricsLayer};
use super::pb::partner_matcher_server::PartnerMatcherServer;
use super::pb::partnership_registry_server::PartnershipRegistryServer;
use super::pb::school_registry_server::SchoolRegistryServer;
use super::{MatcherService, PartnershipService, RegistryService, pb};

/// Builds the server with every service mounted, and the reporter that
/// controls their health status.
pub async fn router(
    engine: Arc<Engine>,
    options: &ServeOptions,
) -> anyhow::Result<(
    Router<Stack<AdmissionLayer, Stack<AuthLayer, Stack<MetricsLayer, NoLayer>>>>,
    HealthReporter,
)> {
    let (health, health_service) = tonic_health::server::health_reporter();
    health
        .set_serving::<PartnerMatcherServer<MatcherService>>()
        .await;
    health
        .set_serving::<SchoolRegistryServer<RegistryService>>()
        .await;
    health
        .set_serving::<PartnershipRegistryServer<PartnershipService>>()
        .await;

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let max_message = options.max_message_bytes;
    let mut server = Server::builder();
    if let Some(tls) = &options.tls {
        let mut config = ServerTlsConfig::new()
            .identity(Identity::from_pem(&tls.certificate_chain, &tls.private_key));
        if let Some(ca) = &tls.client_ca {
            config = config.client_ca_root(Certificate::from_pem(ca));
        }
        server = server
            .tls_config(config)
            .map_err(|error| anyhow::anyhow!("TLS configuration: {error}"))?;
    }
    let router = server
        // One span per request; handlers log inside it.
        .trace_fn(|request| {
            tracing::info_span!(
                "grpc",
                method = %request.uri().path(),
                request_id = %request_id(request.headers()),
            )
        })
        // Streams beyond this on one connection are refused by HTTP/2.
        .max_concurrent_streams(Some(options.max_streams_per_connection))
        // One connection's calls beyond its share are refused at once.
        .concurrency_limit_per_connection(options.max_calls_per_connection)
        .load_shed(true)
        // Every call is counted, refused ones too; authentication comes
        // before admission, so a refused call takes no permit.
        .layer(MetricsLayer::new(Arc::clone(&options.metrics)))
        .layer(AuthLayer::new(options.tokens.clone()))
        .layer(AdmissionLayer::new(
            options.max_in_flight,
            options.request_timeout,
            Arc::clone(&options.metrics),
        ))
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            PartnerMatcherServer::new(MatcherService::new(Arc::clone(&engine)))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            SchoolRegistryServer::new(RegistryService::new(Arc::clone(&engine)))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            PartnershipRegistryServer::new(PartnershipService::new(engine))
                .max_decoding_message_size(max_message),
        );
    Ok((router, health))
}

/// The client's `x-request-id` (printable, at most 64 characters), or a new
/// random one: every log line of a call carries it.
fn request_id(headers: &http::HeaderMap) -> String {
    headers
        .get("x-request-id")
        .and_then(|value| value.to_str().ok())
        .filter(|id| !id.is_empty() && id.len() <= 64 && id.chars().all(|c| c.is_ascii_graphic()))
        .map_or_else(|| format!("{:016x}", rand::random::<u64>()), str::to_owned)
}

/// TLS for the gRPC port, in PEM.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsSettings {
    pub certificate_chain: Vec<u8>,
    pub private_key: Vec<u8>,
    /// When set, clients must present a certificate signed by this CA.
    pub client_ca: Option<Vec<u8>>,
}

/// How the server runs, and the limits that keep it answering.
#[derive(Debug, Clone)]
pub struct ServeOptions {
    /// Where calls are counted (served by [`super::metrics_router`]).
    pub metrics: Arc<Metrics>,
    /// Serve TLS (rustls) instead of plaintext.
    pub tls: Option<TlsSettings>,
    /// Bearer tokens and their roles; `None` admits every call (auth off).
    pub tokens: Option<Arc<Tokens>>,
    /// After shutdown starts, how long in-flight calls may take to finish
    /// before the server stops anyway (a client that never reads its
    /// connection must not keep the process alive).
    pub shutdown_grace: Duration,
    /// API calls handled at once; more are shed with RESOURCE_EXHAUSTED.
    pub max_in_flight: usize,
    /// Longest a call may run (a client's shorter grpc-timeout wins);
    /// then DEADLINE_EXCEEDED.
    pub request_timeout: Duration,
    /// Largest request message accepted.
    pub max_message_bytes: usize,
    /// Concurrent streams one HTTP/2 connection may open.
    pub max_streams_per_connection: u32,
    /// Calls one connection may have in progress; more are shed with
    /// RESOURCE_EXHAUSTED, so one client cannot take every slot.
    pub max_calls_per_connection: usize,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            metrics: Arc::default(),
            tls: None,
            tokens: None,
            shutdown_grace: Duration::from_secs(10),
            max_in_flight: 256,
            request_timeout: Duration::from_secs(30),
            max_message_bytes: 4 * 1024 * 1024,
            max_streams_per_connection: 256,
            max_calls_per_connection: 64,
        }
    }
}

/// Serves on `listener` until `shutdown` completes, then reports NOT_SERVING
/// and lets in-flight calls finish, for at most the grace period.
pub async fn serve(
    engine: Arc<Engine>,
    listener: TcpListener,
    shutdown: impl Future<Output = ()> + Send,
    options: ServeOptions,
) -> anyhow::Result<()> {
    let (router, health) = router(engine, &options).await?;
    let (draining, drain_started) = oneshot::channel::<()>();
    let shutdown = async move {
        shutdown.await;
        tracing::info!("shutting down: draining in-flight calls");
        health
            .set_not_serving::<PartnerMatcherServer<MatcherService>>()
            .await;
        health
            .set_not_serving::<SchoolRegistryServer<RegistryService>>()
            .await;
        health
            .set_not_serving::<PartnershipRegistryServer<PartnershipService>>()
            .await;
        health
            .set_service_status("", tonic_health::ServingStatus::NotServing)
            .await;
        let _ = draining.send(());
    };
    // TCP_NODELAY: without it Nagle's algorithm holds back the tail of a
    // Match response until the client's delayed ACK, 40 ms later. tonic sets
    // it only on listeners it binds itself; this one is bound by the caller
    // (so tests can use port 0).
    let incoming = TcpIncoming::from(listener).with_nodelay(Some(true));
    let serving = router.serve_with_incoming_shutdown(incoming, shutdown);
    let deadline = async {
        if drain_started.await.is_ok() {
            tokio::time::sleep(options.shutdown_grace).await;
        } else {
            std::future::pending::<()>().await;
        }
    };
    tokio::select! {
        served = serving => served?,
        () = deadline => tracing::warn!(
            grace_secs = options.shutdown_grace.as_secs_f64(),
            "in-flight calls did not finish within the grace period; stopping anyway"
        ),
    }
    Ok(())
}
