//! The gRPC server: partnermatch's three services beside `grpc.health.v1` and
//! server reflection (v1 and v1alpha: grpcurl 1.8 asks for v1alpha).

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tonic::service::Routes;
use tonic::transport::server::Router;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};
use tonic_health::ServingStatus;
use tonic_health::server::HealthReporter;
use tower::ServiceBuilder;
use tower_layer::{Identity as NoLayer, Stack};

use crate::engine::Engine;

use super::admission::{Admission, AdmissionLimits};
use super::arrival::{Arrival, ArrivalLimits};
use super::auth::{Auth, Tokens};
use super::connection::{self, ConnectionLimits};
use super::consistency::Consistency;
use super::metrics::{Measure, Metrics};
use super::pb::partner_matcher_server::PartnerMatcherServer;
use super::pb::partnership_registry_server::PartnershipRegistryServer;
use super::pb::school_registry_server::SchoolRegistryServer;
use super::protocol::Protocol;
use super::registry::ImportBudget;
use super::replication::Replication;
use super::step::StepLayer;
use super::{MatcherService, PartnershipService, RegistryService, pb};

/// The layers in front of every service, each a [`Step`](super::step::Step)
/// made a layer by the one [`StepLayer`].
pub type ApiLayers = ServiceBuilder<
    Stack<
        StepLayer<Admission>,
        Stack<
            StepLayer<Consistency>,
            Stack<
                StepLayer<Arrival>,
                Stack<
                    StepLayer<Auth>,
                    Stack<StepLayer<Protocol>, Stack<StepLayer<Measure>, NoLayer>>,
                >,
            >,
        >,
    >,
>;

/// Outermost first: metrics (every call is counted, refused ones too), the
/// protocol check (only gRPC calls to served methods get further),
/// authentication, the request's arrival (nothing further is held for a
/// request that has not arrived), registry versions (a call waiting for
/// one holds no slot, within its deadline and its own bounds), then
/// admission (slots, busy connections, open-ended streams).
fn api_layers(engine: &Arc<Engine>, options: &ServeOptions) -> ApiLayers {
    let admission = options.admission_limits();
    ServiceBuilder::new()
        .layer(StepLayer(Measure::new(Arc::clone(&options.metrics))))
        .layer(StepLayer(Protocol))
        .layer(StepLayer(Auth::new(options.tokens.clone())))
        .layer(StepLayer(Arrival::new(options.arrival_limits())))
        .layer(StepLayer(Consistency::new(
            Arc::clone(engine),
            options.replication.clone(),
            admission.max_in_flight,
            admission.max_in_flight_per_client,
        )))
        .layer(StepLayer(Admission::new(
            admission,
            Arc::clone(&options.metrics),
        )))
}

/// Reports `status` for each of partnermatch's services and for the server
/// as a whole (the empty service name).
async fn report_health(health: &HealthReporter, status: ServingStatus) {
    use tonic::server::NamedService;
    for service in [
        <PartnerMatcherServer<MatcherService> as NamedService>::NAME,
        <SchoolRegistryServer<RegistryService> as NamedService>::NAME,
        <PartnershipRegistryServer<PartnershipService> as NamedService>::NAME,
        "",
    ] {
        health.set_service_status(service, status).await;
    }
}

/// Every service the server answers: partnermatch's three, health, and
/// reflection v1 and v1alpha; and the reporter of their health.
async fn routes(
    engine: Arc<Engine>,
    options: &ServeOptions,
) -> anyhow::Result<(Routes, HealthReporter)> {
    let (health, health_service) = tonic_health::server::health_reporter();
    report_health(&health, ServingStatus::Serving).await;

    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(pb::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let max_message = options.max_message_bytes;
    let routes = Routes::new(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(
            PartnerMatcherServer::new(MatcherService::new(Arc::clone(&engine)))
                .max_decoding_message_size(max_message),
        )
        .add_service(
            SchoolRegistryServer::new(RegistryService::new(
                Arc::clone(&engine),
                Arc::clone(&options.metrics),
                ImportBudget::new(options.max_import_bytes, options.max_import_bytes_total),
            ))
            .max_decoding_message_size(max_message),
        )
        .add_service(
            PartnershipRegistryServer::new(PartnershipService::new(engine))
                .max_decoding_message_size(max_message),
        );
    Ok((routes, health))
}

/// The services behind their layers, as one tower service that takes HTTP
/// requests: what the server runs for every request, without the
/// transport (connections, HTTP/2, TLS). For driving the whole request path
/// in process, as the fuzz targets do.
pub async fn service(
    engine: Arc<Engine>,
    options: &ServeOptions,
) -> anyhow::Result<<ApiLayers as tower_layer::Layer<Routes>>::Service> {
    let layers = api_layers(&engine, options);
    let (routes, _health) = routes(engine, options).await?;
    Ok(layers.service(routes.prepare()))
}

/// Builds the server with every service mounted, and the reporter that
/// controls their health status.
pub async fn router(
    engine: Arc<Engine>,
    options: &ServeOptions,
) -> anyhow::Result<(Router<Stack<ApiLayers, NoLayer>>, HealthReporter)> {
    let layers = api_layers(&engine, options);
    let (routes, health) = routes(engine, options).await?;
    let mut server = Server::builder();
    if let Some(tls) = &options.tls {
        let mut config = ServerTlsConfig::new()
            .identity(Identity::from_pem(&tls.certificate_chain, &tls.private_key))
            // A stalled handshake is dropped, not held.
            .timeout(options.handshake_timeout);
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
        // Pings find peers that vanished while a call was in progress.
        .http2_keepalive_interval(Some(options.keepalive_interval))
        .http2_keepalive_timeout(Some(options.keepalive_timeout))
        .layer(layers)
        .add_routes(routes);
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
    /// API calls one client (token, or address without authentication)
    /// may have in flight; `None` is half of `max_in_flight`.
    pub max_in_flight_per_client: Option<usize>,
    /// Longest wait for a request's body after its headers, or between
    /// the messages of a stream.
    pub body_timeout: Duration,
    /// Connections held at once; `None` derives it from the limit on open
    /// files ([`default_max_connections`]).
    pub max_connections: Option<usize>,
    /// A new connection must finish its TLS handshake, or send the HTTP/2
    /// preface, within this.
    pub handshake_timeout: Duration,
    /// A connection with no call in progress for this long is closed.
    pub idle_timeout: Duration,
    /// HTTP/2 pings on connections quiet for this long…
    pub keepalive_interval: Duration,
    /// …and the connection is closed if the ping is not answered in this.
    pub keepalive_timeout: Duration,
    /// Longest a call may run (a client's shorter grpc-timeout wins);
    /// then DEADLINE_EXCEEDED.
    pub request_timeout: Duration,
    /// Largest request message accepted.
    pub max_message_bytes: usize,
    /// Most memory one import stream may hold while it is read (its
    /// messages' encoded size plus a record's fixed size each); beyond it
    /// the import is refused with RESOURCE_EXHAUSTED.
    pub max_import_bytes: usize,
    /// Most memory all import streams may hold at once.
    pub max_import_bytes_total: usize,
    /// Concurrent streams one HTTP/2 connection may open.
    pub max_streams_per_connection: u32,
    /// Calls one connection may have in progress; more are shed with
    /// RESOURCE_EXHAUSTED, so one client cannot take every slot. Open-ended
    /// streams (health Watch, reflection) count against it too.
    pub max_calls_per_connection: usize,
    /// Open-ended streams (health Watch, reflection) one client address
    /// may hold; more are refused with RESOURCE_EXHAUSTED.
    pub max_streams_per_address: usize,
    /// An open-ended stream is ended (status OK: its client calls again)
    /// after this long.
    pub stream_lifetime: Duration,
    /// How far behind its database the server is, when it follows one
    /// other replicas write to: health is NOT_SERVING (and reads are
    /// refused, unless it serves stale reads) while it is too far.
    pub replication: Option<Arc<Replication>>,
}

impl Default for ServeOptions {
    fn default() -> ServeOptions {
        ServeOptions {
            metrics: Arc::default(),
            tls: None,
            tokens: None,
            shutdown_grace: Duration::from_secs(10),
            max_in_flight: 256,
            max_in_flight_per_client: None,
            body_timeout: Duration::from_secs(10),
            max_connections: None,
            handshake_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(300),
            keepalive_interval: Duration::from_secs(60),
            keepalive_timeout: Duration::from_secs(20),
            request_timeout: Duration::from_secs(30),
            max_message_bytes: 4 * 1024 * 1024,
            max_import_bytes: 256 * 1024 * 1024,
            max_import_bytes_total: 512 * 1024 * 1024,
            max_streams_per_connection: 256,
            max_calls_per_connection: 64,
            max_streams_per_address: 512,
            stream_lifetime: Duration::from_secs(300),
            replication: None,
        }
    }
}

impl ServeOptions {
    fn admission_limits(&self) -> AdmissionLimits {
        AdmissionLimits {
            max_in_flight: self.max_in_flight,
            max_in_flight_per_client: self
                .max_in_flight_per_client
                .unwrap_or(self.max_in_flight / 2)
                .clamp(1, self.max_in_flight.max(1)),
            max_calls_per_connection: self.max_calls_per_connection,
            max_streams_per_address: self.max_streams_per_address,
            stream_lifetime: self.stream_lifetime,
        }
    }

    fn arrival_limits(&self) -> ArrivalLimits {
        ArrivalLimits {
            request_timeout: self.request_timeout,
            body_timeout: self.body_timeout,
            max_message_bytes: self.max_message_bytes,
        }
    }

    fn connection_limits(&self) -> ConnectionLimits {
        ConnectionLimits {
            max_connections: self
                .max_connections
                .unwrap_or_else(|| default_max_connections(open_files_limit())),
            handshake_timeout: self.handshake_timeout,
            idle_timeout: self.idle_timeout,
        }
    }
}

/// File descriptors kept back from connections: the database and its
/// journal, listeners, logs, the runtime's own, and the metrics port's
/// connections ([`super::METRICS_MAX_CONNECTIONS`]).
const RESERVED_FILES: u64 = 64;
const _: () = assert!(super::metrics::METRICS_MAX_CONNECTIONS as u64 <= RESERVED_FILES / 2);

/// Most connections by default, whatever the file limit: each costs some
/// memory (buffers, HTTP/2 state).
const DEFAULT_MAX_CONNECTIONS_CEILING: u64 = 10_000;

/// The default connection limit for a process allowed `open_files` file
/// descriptors: what is left after the reserve, at most 10,000, at
/// least 16.
pub fn default_max_connections(open_files: u64) -> usize {
    open_files
        .saturating_sub(RESERVED_FILES)
        .clamp(16, DEFAULT_MAX_CONNECTIONS_CEILING) as usize
}

/// This process's limit on open files (the soft limit), or 1,024 where it
/// cannot be read.
pub fn open_files_limit() -> u64 {
    rlimit::getrlimit(rlimit::Resource::NOFILE).map_or(1024, |(soft, _)| soft)
}

/// Raises the soft limit on open files to the hard limit, so connections
/// are limited by `--max-connections` rather than by running out of file
/// descriptors; returns the limit now in force.
pub fn raise_open_files_limit() -> u64 {
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(limit) => limit,
        Err(error) => {
            tracing::warn!(%error, "cannot raise the limit on open files");
            open_files_limit()
        }
    }
}

/// How often health is brought in line with how far behind the database
/// the replica is.
const HEALTH_CHECK: Duration = Duration::from_millis(100);

/// Reports NOT_SERVING while the replica is too far behind its database or
/// cannot reach it, SERVING again once it is current.
async fn watch_replication(replication: Arc<Replication>, health: HealthReporter) {
    let mut serving = true;
    let mut ticks = tokio::time::interval(HEALTH_CHECK);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let current = replication.is_current();
        if current == serving {
            continue;
        }
        serving = current;
        if current {
            tracing::info!(
                version = replication.head(),
                "caught up with the database: serving"
            );
            report_health(&health, ServingStatus::Serving).await;
        } else {
            tracing::warn!(
                lag_ms = replication.lag().as_millis() as u64,
                unreachable = replication.unreachable(),
                serve_stale = replication.settings().serve_stale,
                "behind the database or cannot reach it: NOT_SERVING"
            );
            report_health(&health, ServingStatus::NotServing).await;
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
    let watching = options
        .replication
        .clone()
        .map(|replication| tokio::spawn(watch_replication(replication, health.clone())));
    let shutdown = async move {
        shutdown.await;
        tracing::info!("shutting down: draining in-flight calls");
        if let Some(watching) = watching {
            watching.abort();
        }
        report_health(&health, ServingStatus::NotServing).await;
        let _ = draining.send(());
    };
    let limits = options.connection_limits();
    tracing::debug!(
        max_connections = limits.max_connections,
        handshake_timeout_ms = limits.handshake_timeout.as_millis() as u64,
        idle_timeout_ms = limits.idle_timeout.as_millis() as u64,
        "accepting connections"
    );
    let incoming = connection::accept(listener, limits);
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
