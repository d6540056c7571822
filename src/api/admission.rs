//! Admission control in front of every service: load shedding and
//! deadlines. A request beyond `max_in_flight` concurrent API calls is
//! answered at once with RESOURCE_EXHAUSTED (never queued, so an overload
//! cannot turn into a hang); health and reflection are never shed, so
//! operators can still see the server. Every call gets a deadline: the
//! client's `grpc-timeout` if it sent one, at most the server's request
//! timeout; when it passes, the handler is dropped and the client gets
//! DEADLINE_EXCEEDED (tonic's own timeout answers CANCELLED).

use std::convert::Infallible;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::Semaphore;
use tonic::Status;
use tonic::body::Body;
use tower_layer::Layer;
use tower_service::Service;

use super::metrics::Metrics;

/// Paths that are never shed.
const ALWAYS_ADMITTED: [&str; 2] = ["/grpc.health.v1.", "/grpc.reflection."];

#[derive(Debug, Clone)]
pub struct AdmissionLayer {
    permits: Arc<Semaphore>,
    max_in_flight: usize,
    request_timeout: Duration,
    metrics: Arc<Metrics>,
}

impl AdmissionLayer {
    pub fn new(
        max_in_flight: usize,
        request_timeout: Duration,
        metrics: Arc<Metrics>,
    ) -> AdmissionLayer {
        AdmissionLayer {
            permits: Arc::new(Semaphore::new(max_in_flight)),
            max_in_flight,
            request_timeout,
            metrics,
        }
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admission<S>;

    fn layer(&self, inner: S) -> Admission<S> {
        Admission {
            inner,
            layer: self.clone(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Admission<S> {
    inner: S,
    layer: AdmissionLayer,
}

impl<S> Service<http::Request<Body>> for Admission<S>
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
        let path = request.uri().path();
        let exempt = ALWAYS_ADMITTED
            .iter()
            .any(|prefix| path.starts_with(prefix));
        let permit = if exempt {
            None
        } else {
            match Arc::clone(&self.layer.permits).try_acquire_owned() {
                Ok(permit) => Some(permit),
                Err(_) => {
                    tracing::warn!(path, "shed: too many requests in flight");
                    self.layer.metrics.count_shed();
                    let status = Status::resource_exhausted(format!(
                        "server busy: {} requests in flight; retry with backoff",
                        self.layer.max_in_flight
                    ));
                    return Box::pin(std::future::ready(Ok(status.into_http())));
                }
            }
        };
        let deadline = grpc_timeout(request.headers())
            .map_or(self.layer.request_timeout, |asked| {
                asked.min(self.layer.request_timeout)
            });
        // The ready service handles this call; a fresh clone takes its place.
        let mut ready = super::take_ready(&mut self.inner);
        Box::pin(async move {
            let _permit = permit;
            match tokio::time::timeout(deadline, ready.call(request)).await {
                Ok(answer) => answer,
                Err(_) => Ok(Status::deadline_exceeded(format!(
                    "deadline of {} ms exceeded",
                    deadline.as_millis()
                ))
                .into_http()),
            }
        })
    }
}

/// The `grpc-timeout` header: up to 8 digits and a unit (H, M, S, m, u, n).
/// A malformed value is ignored, as the gRPC specification asks.
fn grpc_timeout(headers: &http::HeaderMap) -> Option<Duration> {
    let value = headers.get("grpc-timeout")?.to_str().ok()?;
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 {
        return None;
    }
    let amount: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(amount * 3600),
        "M" => Duration::from_secs(amount * 60),
        "S" => Duration::from_secs(amount),
        "m" => Duration::from_millis(amount),
        "u" => Duration::from_micros(amount),
        "n" => Duration::from_nanos(amount),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_as_the_specification_says() {
        let parse = |value: &str| {
            let mut headers = http::HeaderMap::new();
            headers.insert("grpc-timeout", value.parse().unwrap());
            grpc_timeout(&headers)
        };
        assert_eq!(parse("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(parse("99999999n"), Some(Duration::from_nanos(99_999_999)));
        assert_eq!(parse("123456789S"), None, "at most 8 digits");
        assert_eq!(parse("5x"), None);
        assert_eq!(parse("S"), None);
        assert_eq!(grpc_timeout(&http::HeaderMap::new()), None);
    }

    /// An inner service that answers OK after `delay`.
    #[derive(Clone)]
    struct Slow(Duration);

    impl Service<http::Request<Body>> for Slow {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = crate::api::Answer;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<Body>) -> Self::Future {
            let delay = self.0;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                Ok(Status::ok("").into_http())
            })
        }
    }

    fn grpc_status(response: &http::Response<Body>) -> i32 {
        response.headers()["grpc-status"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    fn request(path: &str, timeout: Option<&str>) -> http::Request<Body> {
        let mut request = http::Request::builder().uri(path);
        if let Some(timeout) = timeout {
            request = request.header("grpc-timeout", timeout);
        }
        request.body(Body::empty()).unwrap()
    }

    #[tokio::test]
    async fn the_clients_shorter_deadline_wins_and_overload_is_shed() {
        let layer = AdmissionLayer::new(1, Duration::from_secs(10), Arc::default());
        let mut service = layer.layer(Slow(Duration::from_millis(200)));
        let started = std::time::Instant::now();
        let answer = service
            .call(request(
                "/partnermatch.v1.PartnerMatcher/Match",
                Some("20m"),
            ))
            .await
            .unwrap();
        assert_eq!(grpc_status(&answer), tonic::Code::DeadlineExceeded as i32);
        assert!(started.elapsed() < Duration::from_millis(150));

        // One permit: a second API call while the first runs is shed, a
        // health check is not.
        let first = service.call(request("/partnermatch.v1.PartnerMatcher/Match", None));
        let running = tokio::spawn(first);
        tokio::task::yield_now().await;
        let shed = service
            .call(request("/partnermatch.v1.PartnerMatcher/Match", None))
            .await
            .unwrap();
        assert_eq!(grpc_status(&shed), tonic::Code::ResourceExhausted as i32);
        let health = service
            .call(request("/grpc.health.v1.Health/Check", None))
            .await
            .unwrap();
        assert_eq!(grpc_status(&health), tonic::Code::Ok as i32);
        assert_eq!(grpc_status(&running.await.unwrap().unwrap()), 0);
    }
}
