//! Prometheus metrics, served on their own HTTP port (`/metrics`): requests
//! by RPC and status code, latency histograms by RPC, requests shed, and
//! the registry's school and partnership counts.

use std::sync::atomic::{AtomicI64, AtomicU64};
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tonic::body::Body;

use crate::engine::Engine;

use super::connection;
use super::methods;
use super::protocol::{at_deadline, parse_grpc_timeout};
use super::replication::Replication;
use super::step::{Answer, Next, Step};

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CallLabels {
    rpc: String,
    code: String,
}

#[derive(Debug, Clone, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RpcLabel {
    rpc: String,
}

type Histograms = Family<RpcLabel, Histogram, fn() -> Histogram>;

/// The server's metrics.
pub struct Metrics {
    registry: Registry,
    resident: Gauge<i64, AtomicI64>,
    requests: Family<CallLabels, Counter>,
    latency: Histograms,
    shed: Counter,
    imports_abandoned: Counter,
    in_flight: Gauge<i64, AtomicI64>,
    schools: Gauge<i64, AtomicI64>,
    places: Gauge<i64, AtomicI64>,
    partnerships: Gauge<i64, AtomicI64>,
    index_overlay: Gauge<i64, AtomicI64>,
    version: Gauge<i64, AtomicI64>,
    database_version: Gauge<i64, AtomicI64>,
    lag: Gauge<f64, AtomicU64>,
    current: Gauge<i64, AtomicI64>,
    /// Set when the server follows a database other replicas write to.
    replication: OnceLock<Arc<Replication>>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

fn latency_histogram() -> Histogram {
    // 50 µs to ~13 s.
    Histogram::new(exponential_buckets(0.00005, 4.0, 10))
}

/// The process's resident memory in bytes, where the system says
/// (`/proc/self/status` on Linux).
pub fn resident_bytes() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmRSS:"))?;
    let kilobytes: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kilobytes * 1024)
}

impl Default for Metrics {
    fn default() -> Metrics {
        let mut root = Registry::default();
        let resident = Gauge::<i64, AtomicI64>::default();
        // The standard name, as Prometheus's process collectors give it.
        root.register(
            "process_resident_memory_bytes",
            "Resident memory size in bytes",
            resident.clone(),
        );
        let registry = root.sub_registry_with_prefix("partnermatch");
        let requests = Family::<CallLabels, Counter>::default();
        let latency: Histograms = Family::new_with_constructor(latency_histogram);
        let shed = Counter::default();
        let imports_abandoned = Counter::default();
        let in_flight = Gauge::<i64, AtomicI64>::default();
        let schools = Gauge::<i64, AtomicI64>::default();
        let places = Gauge::<i64, AtomicI64>::default();
        let partnerships = Gauge::<i64, AtomicI64>::default();
        let index_overlay = Gauge::<i64, AtomicI64>::default();
        let version = Gauge::<i64, AtomicI64>::default();
        let database_version = Gauge::<i64, AtomicI64>::default();
        let lag = Gauge::<f64, AtomicU64>::default();
        let current = Gauge::<i64, AtomicI64>::default();
        registry.register(
            "requests",
            "gRPC calls answered, by RPC and status code",
            requests.clone(),
        );
        registry.register(
            "request_duration_seconds",
            "Time to answer a gRPC call, by RPC",
            latency.clone(),
        );
        registry.register(
            "shed",
            "API calls refused with RESOURCE_EXHAUSTED because too many were in flight",
            shed.clone(),
        );
        registry.register(
            "imports_abandoned",
            "ImportSchools streams that ended without being applied (cancelled, reset, deadline, dropped connection, malformed message)",
            imports_abandoned.clone(),
        );
        registry.register(
            "in_flight",
            "gRPC calls being answered now",
            in_flight.clone(),
        );
        registry.register("schools", "Schools in the registry", schools.clone());
        registry.register(
            "snapshot_places",
            "Places in the read snapshot: the schools, and the places deleted ones left that created ones have not taken yet",
            places.clone(),
        );
        registry.register(
            "partnerships",
            "Partnerships in the registry",
            partnerships.clone(),
        );
        registry.register(
            "index_overlay",
            "Writes the search index holds beside its trees, not merged into them yet (entries skipped plus members scored one by one), over all buckets",
            index_overlay.clone(),
        );
        registry.register(
            "registry_version",
            "The registry version this server holds: the number of the last write in it",
            version.clone(),
        );
        registry.register(
            "replication_database_version",
            "With a shared PostgreSQL database: its registry version (the change log's last entry) at the follower's last read",
            database_version.clone(),
        );
        registry.register(
            "replication_lag_seconds",
            "With a shared PostgreSQL database: time since this replica last held every change in the database's log",
            lag.clone(),
        );
        registry.register(
            "replication_current",
            "With a shared PostgreSQL database: 1 while the replica reaches it and is within --max-lag-secs of it (SERVING), else 0",
            current.clone(),
        );
        Metrics {
            registry: root,
            resident,
            version,
            database_version,
            lag,
            current,
            replication: OnceLock::new(),
            requests,
            latency,
            shed,
            imports_abandoned,
            in_flight,
            schools,
            places,
            partnerships,
            index_overlay,
        }
    }
}

impl Metrics {
    /// Reports how far behind its database the server is, from now on.
    pub fn follow(&self, replication: Arc<Replication>) {
        let _ = self.replication.set(replication);
    }

    pub(crate) fn count_shed(&self) {
        self.shed.inc();
    }

    pub(crate) fn count_abandoned_import(&self) {
        self.imports_abandoned.inc();
    }

    fn observe(&self, rpc: &'static str, code: tonic::Code, seconds: f64) {
        self.in_flight.dec();
        self.requests
            .get_or_create(&CallLabels {
                rpc: rpc.to_owned(),
                code: format!("{code:?}"),
            })
            .inc();
        self.latency
            .get_or_create(&RpcLabel {
                rpc: rpc.to_owned(),
            })
            .observe(seconds);
    }

    /// The text exposition, with the registry counts read now.
    pub fn render(&self, engine: &Engine) -> String {
        let snapshot = engine.snapshot();
        self.schools.set(snapshot.len() as i64);
        self.places.set(snapshot.places() as i64);
        self.partnerships.set(snapshot.partnerships().len() as i64);
        self.index_overlay.set(snapshot.index_overlay() as i64);
        self.version.set(snapshot.version() as i64);
        drop(snapshot);
        if let Some(bytes) = resident_bytes() {
            self.resident.set(bytes as i64);
        }
        if let Some(replication) = self.replication.get() {
            self.database_version.set(replication.head() as i64);
            self.lag.set(replication.lag().as_secs_f64());
            self.current.set(i64::from(replication.is_current()));
        }
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
    }
}

/// Connections the metrics listener holds at once: Prometheus scrapers and
/// a person or two. At the limit the one idle longest is closed for a
/// newcomer. Counted in the file descriptors the API port leaves free.
pub const METRICS_MAX_CONNECTIONS: usize = 16;

/// Serves [`metrics_router`] on `listener` with the API port's connection
/// discipline: at most [`METRICS_MAX_CONNECTIONS`], request headers within
/// `header_timeout`, and a connection with no request for `idle_timeout`
/// closed. Runs until the task is dropped.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    engine: Arc<Engine>,
    metrics: Arc<Metrics>,
    header_timeout: std::time::Duration,
    idle_timeout: std::time::Duration,
) {
    use tokio_stream::StreamExt;
    use tonic::transport::server::Connected;
    use tower::ServiceExt;

    let limits = connection::ConnectionLimits {
        max_connections: METRICS_MAX_CONNECTIONS,
        handshake_timeout: header_timeout,
        idle_timeout,
    };
    let router = metrics_router(engine, metrics);
    let mut incoming = std::pin::pin!(connection::accept(listener, limits));
    while let Some(Ok(stream)) = incoming.next().await {
        let info = stream.connect_info();
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: http::Request<_>| {
            request.extensions_mut().insert(info.clone());
            // Busy while answered, so the idle timeout counts between
            // requests.
            let busy = connection::CallOnConnection::start(&request);
            let answering = router.clone().oneshot(request.map(axum::body::Body::new));
            async move {
                let answer = answering.await;
                drop(busy);
                answer
            }
        });
        tokio::spawn(async move {
            let served = hyper::server::conn::http1::Builder::new()
                .timer(hyper_util::rt::TokioTimer::new())
                .header_read_timeout(header_timeout)
                .serve_connection(hyper_util::rt::TokioIo::new(stream), service)
                .await;
            if let Err(error) = served {
                tracing::debug!(%error, "metrics connection ended");
            }
        });
    }
}

/// An HTTP service answering `GET /metrics`.
pub fn metrics_router(engine: Arc<Engine>, metrics: Arc<Metrics>) -> axum::Router {
    axum::Router::new().route(
        "/metrics",
        axum::routing::get(move || {
            let (engine, metrics) = (Arc::clone(&engine), Arc::clone(&metrics));
            async move {
                (
                    [(
                        http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4; charset=utf-8",
                    )],
                    metrics.render(&engine),
                )
            }
        }),
    )
}

/// Counts every call, refused ones too, by how it ended and how long it
/// took; and notes the request on its connection (the idle timeout counts
/// from the last request started or call ended). A call whose
/// client goes away first (a reset stream, a closed connection) is counted
/// CANCELLED, or DEADLINE_EXCEEDED once the client's deadline has passed.
/// Counting, as a [`Step`].
#[derive(Debug, Clone)]
pub struct Measure {
    metrics: Arc<Metrics>,
}

impl Measure {
    pub fn new(metrics: Arc<Metrics>) -> Measure {
        Measure { metrics }
    }
}

/// One call being watched: counted exactly once, when it ends.
#[derive(Debug)]
struct Observation {
    metrics: Arc<Metrics>,
    /// A path from the method table, or "unknown": never client text, so
    /// the label set stays bounded whatever paths clients send.
    rpc: &'static str,
    started: Instant,
    /// When the client's deadline passes, if it gave one.
    deadline: Option<Instant>,
    counted: bool,
}

impl Observation {
    fn count(&mut self, code: tonic::Code) {
        if !self.counted {
            self.counted = true;
            self.metrics
                .observe(self.rpc, code, self.started.elapsed().as_secs_f64());
        }
    }
}

impl Drop for Observation {
    /// Dropped uncounted: the call ended without an answer — the client
    /// went away, or its deadline passed.
    fn drop(&mut self) {
        let now = Instant::now();
        let late = self
            .deadline
            .is_some_and(|deadline| at_deadline(self.started, deadline, now));
        let code = if late {
            tonic::Code::DeadlineExceeded
        } else {
            tonic::Code::Cancelled
        };
        self.count(code);
    }
}

/// The grpc-status of a header or trailer map.
fn grpc_status(headers: &http::HeaderMap) -> Option<tonic::Code> {
    headers
        .get("grpc-status")
        .and_then(|value| value.to_str().ok())
        .and_then(|text| text.parse::<i32>().ok())
        .map(tonic::Code::from_i32)
}

/// A response body that counts its call when its trailers pass (or when it
/// is dropped before they do).
struct ObservedBody {
    inner: Body,
    observation: Observation,
}

impl http_body::Body for ObservedBody {
    type Data = bytes::Bytes;
    type Error = tonic::Status;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, tonic::Status>>> {
        let frame = std::task::ready!(std::pin::Pin::new(&mut self.inner).poll_frame(cx));
        match &frame {
            Some(Ok(frame)) => {
                if let Some(code) = frame.trailers_ref().and_then(grpc_status) {
                    self.observation.count(code);
                }
            }
            Some(Err(status)) => self.observation.count(status.code()),
            // Ended without a status: not a well-formed gRPC answer.
            None => self.observation.count(tonic::Code::Unknown),
        }
        Poll::Ready(frame)
    }

    fn is_end_stream(&self) -> bool {
        // Not before the call is counted, so the end is polled and seen.
        self.observation.counted && self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

impl Step for Measure {
    fn call<S: Next>(&self, request: http::Request<Body>, mut next: S) -> Answer {
        let started = Instant::now();
        let rpc = methods::lookup(request.uri().path())
            .map_or("unknown", |method| method.path.trim_start_matches('/'));
        let deadline = request
            .headers()
            .get("grpc-timeout")
            .and_then(|value| value.to_str().ok())
            .and_then(parse_grpc_timeout)
            .map(|timeout| started + timeout);
        self.metrics.in_flight.inc();
        let mut observation = Observation {
            metrics: Arc::clone(&self.metrics),
            rpc,
            started,
            deadline,
            counted: false,
        };
        connection::note_request(&request);
        Box::pin(async move {
            let response = next.call(request).await?;
            // An answer with its status in the headers (every refusal and
            // error answered at once) is complete.
            if let Some(code) = grpc_status(response.headers()) {
                observation.count(code);
                return Ok(response);
            }
            Ok(response.map(|inner| Body::new(ObservedBody { inner, observation })))
        })
    }
}
