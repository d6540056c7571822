//! Prometheus metrics, served on their own HTTP port (`/metrics`): requests
//! by RPC and status code, latency histograms by RPC, requests shed, and
//! the registry's school and partnership counts.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::AtomicI64;
use std::task::{Context, Poll};
use std::time::Instant;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;
use tonic::body::Body;
use tower_layer::Layer;
use tower_service::Service;

use crate::engine::Engine;

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
    requests: Family<CallLabels, Counter>,
    latency: Histograms,
    shed: Counter,
    schools: Gauge<i64, AtomicI64>,
    partnerships: Gauge<i64, AtomicI64>,
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

impl Default for Metrics {
    fn default() -> Metrics {
        let mut registry = Registry::with_prefix("partnermatch");
        let requests = Family::<CallLabels, Counter>::default();
        let latency: Histograms = Family::new_with_constructor(latency_histogram);
        let shed = Counter::default();
        let schools = Gauge::<i64, AtomicI64>::default();
        let partnerships = Gauge::<i64, AtomicI64>::default();
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
        registry.register("schools", "Schools in the registry", schools.clone());
        registry.register(
            "partnerships",
            "Partnerships in the registry",
            partnerships.clone(),
        );
        Metrics {
            registry,
            requests,
            latency,
            shed,
            schools,
            partnerships,
        }
    }
}

impl Metrics {
    pub(crate) fn count_shed(&self) {
        self.shed.inc();
    }

    fn observe(&self, rpc: &str, code: tonic::Code, seconds: f64) {
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
        self.partnerships.set(snapshot.partnerships().len() as i64);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &self.registry)
            .expect("writing to a String cannot fail");
        text
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

/// Counts every call and its latency.
#[derive(Debug, Clone)]
pub struct MetricsLayer {
    metrics: Arc<Metrics>,
}

impl MetricsLayer {
    pub fn new(metrics: Arc<Metrics>) -> MetricsLayer {
        MetricsLayer { metrics }
    }
}

impl<S> Layer<S> for MetricsLayer {
    type Service = Measured<S>;

    fn layer(&self, inner: S) -> Measured<S> {
        Measured {
            inner,
            metrics: Arc::clone(&self.metrics),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Measured<S> {
    inner: S,
    metrics: Arc<Metrics>,
}

impl<S> Service<http::Request<Body>> for Measured<S>
where
    S: Service<http::Request<Body>, Response = http::Response<Body>, Error = Infallible>
        + Clone
        + Send
        + 'static,
    S::Future: Send + 'static,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = super::Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Self::Future {
        let rpc = request.uri().path().trim_start_matches('/').to_owned();
        let metrics = Arc::clone(&self.metrics);
        let mut ready = super::take_ready(&mut self.inner);
        Box::pin(async move {
            let started = Instant::now();
            let response = ready.call(request).await?;
            // Errors answered at once carry their status in the headers;
            // a successful unary answer puts it in the trailers (OK).
            let code = response
                .headers()
                .get("grpc-status")
                .and_then(|value| value.to_str().ok())
                .and_then(|text| text.parse::<i32>().ok())
                .map_or(tonic::Code::Ok, tonic::Code::from_i32);
            metrics.observe(&rpc, code, started.elapsed().as_secs_f64());
            Ok(response)
        })
    }
}
