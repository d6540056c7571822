//! Admission control in front of the services, for calls whose request has
//! arrived (see [`super::arrival`]):
//!
//! - **API calls** take a slot: at most `max_in_flight` run at once, and
//!   one client (a token, or an address when authentication is off) at
//!   most `max_in_flight_per_client` of them; beyond either,
//!   RESOURCE_EXHAUSTED at once — never a queue, so an overload cannot
//!   turn into a hang. While it runs, a call keeps its connection busy.
//! - **Health checks** take no slot, so operators can always see an
//!   overloaded server.
//! - **Open-ended streams** (health Watch, reflection) take no slot
//!   either, and do not make their connection busy, but they are bounded:
//!   each counts against its connection's `max_calls_per_connection`, one
//!   address holds at most `max_streams_per_address` of them, and each
//!   ends cleanly (status OK) after `stream_lifetime` — the gRPC health
//!   protocol has clients watch again, with backoff.

use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body::Frame;
use tonic::Status;
use tonic::body::Body;

use super::auth::Principal;
use super::connection::{self, CallOnConnection, StreamOnConnection};
use super::metrics::Metrics;
use super::protocol::Call;
use super::shares::{Refused, Share, Shares};
use super::step::{Answer, Next, Step, answer_now};

/// How calls are admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    pub max_in_flight: usize,
    pub max_in_flight_per_client: usize,
    /// Calls and open-ended streams one connection may have in progress.
    pub max_calls_per_connection: usize,
    /// Open-ended streams one client address may hold.
    pub max_streams_per_address: usize,
    /// When an open-ended stream is ended.
    pub stream_lifetime: Duration,
}

/// Admission, as a [`Step`].
#[derive(Debug, Clone)]
pub struct Admission {
    limits: AdmissionLimits,
    slots: Arc<Shares<Principal>>,
    streams: Arc<Shares<Option<IpAddr>>>,
    metrics: Arc<Metrics>,
}

impl Admission {
    pub fn new(limits: AdmissionLimits, metrics: Arc<Metrics>) -> Admission {
        Admission {
            limits,
            slots: Shares::new(limits.max_in_flight, limits.max_in_flight_per_client),
            streams: Shares::new(usize::MAX, limits.max_streams_per_address),
            metrics,
        }
    }

    /// A place for an open-ended stream, or why there is none.
    fn stream_place(&self, request: &http::Request<Body>) -> Result<StreamPlace, Status> {
        let on_connection =
            StreamOnConnection::start(request, self.limits.max_calls_per_connection).map_err(
                |held| {
                    Status::resource_exhausted(format!(
                        "this connection already has {held} calls and streams in progress (--max-calls-per-connection); open another connection"
                    ))
                },
            )?;
        let address = connection::peer_ip(request);
        let by_address = self.streams.take(address).map_err(|_| {
            Status::resource_exhausted(format!(
                "this address already holds {} open-ended streams (health Watch, reflection; --max-streams-per-address); close one first",
                self.limits.max_streams_per_address
            ))
        })?;
        Ok(StreamPlace {
            _on_connection: on_connection,
            _by_address: by_address,
        })
    }
}

/// Why an API call was refused a slot.
fn shed(refused: Refused) -> Status {
    Status::resource_exhausted(match refused {
        Refused::Full(max) => {
            format!("server busy: {max} calls in flight (its limit); retry with backoff")
        }
        Refused::HolderFull(max) => format!(
            "server busy: this client already has {max} calls in flight, its share of the server; retry with backoff"
        ),
    })
}

impl Step for Admission {
    fn call<S: Next>(&self, request: http::Request<Body>, mut next: S) -> Answer {
        // Fails closed: the protocol layer tags every call it lets through.
        let Some(call) = request.extensions().get::<Call>().copied() else {
            return answer_now(Status::unimplemented("unknown method").into_http());
        };
        let method = call.method;
        if method.open_ended {
            let place = match self.stream_place(&request) {
                Ok(place) => place,
                Err(status) => {
                    tracing::warn!(path = method.path, reason = status.message(), "shed");
                    self.metrics.count_shed();
                    return answer_now(status.into_http());
                }
            };
            let lifetime = self.limits.stream_lifetime;
            return Box::pin(async move {
                let response = next.call(request).await?;
                Ok(response.map(|inner| Body::new(OpenEnded::new(inner, place, lifetime))))
            });
        }
        if method.is_open() {
            let busy = CallOnConnection::start(&request);
            return Box::pin(async move {
                let answer = next.call(request).await;
                drop(busy);
                answer
            });
        }
        let client = request
            .extensions()
            .get::<Principal>()
            .copied()
            .unwrap_or(Principal::Address(None));
        let slot = match self.slots.take(client) {
            Ok(slot) => slot,
            Err(refused) => {
                let status = shed(refused);
                tracing::warn!(path = method.path, reason = status.message(), "shed");
                self.metrics.count_shed();
                return answer_now(status.into_http());
            }
        };
        let busy = CallOnConnection::start(&request);
        Box::pin(async move {
            let answer = next.call(request).await;
            // The handler is done: what is left of the answer is its bytes.
            drop((slot, busy));
            answer
        })
    }
}

/// What an open-ended stream holds while it runs.
struct StreamPlace {
    _on_connection: Option<StreamOnConnection>,
    _by_address: Share<Option<IpAddr>>,
}

/// An open-ended stream's answer: ended with status OK once its lifetime
/// is over, and holding its place until then.
struct OpenEnded {
    inner: Body,
    ends: Pin<Box<tokio::time::Sleep>>,
    lifetime: Duration,
    done: bool,
    _place: StreamPlace,
}

impl OpenEnded {
    fn new(inner: Body, place: StreamPlace, lifetime: Duration) -> OpenEnded {
        OpenEnded {
            inner,
            ends: Box::pin(tokio::time::sleep(lifetime)),
            lifetime,
            done: false,
            _place: place,
        }
    }
}

impl http_body::Body for OpenEnded {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if self.done {
            return Poll::Ready(None);
        }
        if let Poll::Ready(frame) = Pin::new(&mut self.inner).poll_frame(cx) {
            self.done = frame.is_none();
            return Poll::Ready(frame);
        }
        if self.ends.as_mut().poll(cx).is_pending() {
            return Poll::Pending;
        }
        self.done = true;
        let mut trailers = http::HeaderMap::new();
        let ended = Status::ok(format!(
            "the stream ended after its lifetime of {} s (--stream-lifetime-secs); call again",
            self.lifetime.as_secs()
        ));
        Poll::Ready(match ended.add_header(&mut trailers) {
            Ok(()) => Some(Ok(Frame::trailers(trailers))),
            Err(_) => None,
        })
    }

    fn is_end_stream(&self) -> bool {
        self.done
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::arrival::tests::{Slow, grpc_status, request};
    use crate::step::StepLayer;
    use tower_layer::Layer;
    use tower_service::Service;

    fn limits(max_in_flight: usize) -> AdmissionLimits {
        AdmissionLimits {
            max_in_flight,
            max_in_flight_per_client: max_in_flight,
            max_calls_per_connection: 64,
            max_streams_per_address: 2,
            stream_lifetime: Duration::from_millis(100),
        }
    }

    #[tokio::test]
    async fn overload_is_shed_but_not_health_checks() {
        let layer = StepLayer(Admission::new(limits(1), Arc::default()));
        let mut service = layer.layer(Slow {
            delay: Duration::from_millis(300),
            endless: true,
        });
        let match_path = "/partnermatch.v1.PartnerMatcher/Match";
        // One slot: a second API call while the first runs is shed, a
        // health check is not.
        let running = tokio::spawn(service.call(request(match_path, None)));
        tokio::time::sleep(Duration::from_millis(50)).await;
        let shed = service.call(request(match_path, None)).await.unwrap();
        assert_eq!(grpc_status(&shed), tonic::Code::ResourceExhausted as i32);
        let health = service
            .call(request("/grpc.health.v1.Health/Check", None))
            .await
            .unwrap();
        assert!(health.headers().get("grpc-status").is_none());
        running.await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn open_ended_streams_are_capped_by_address_and_end_with_their_lifetime() {
        use http_body_util::BodyExt;
        let layer = StepLayer(Admission::new(limits(1), Arc::default()));
        let mut service = layer.layer(Slow {
            delay: Duration::ZERO,
            endless: true,
        });
        let watch = "/grpc.health.v1.Health/Watch";
        let first = service.call(request(watch, None)).await.unwrap();
        let _second = service.call(request(watch, None)).await.unwrap();
        let third = service.call(request(watch, None)).await.unwrap();
        assert_eq!(grpc_status(&third), tonic::Code::ResourceExhausted as i32);
        // The first ends, OK, after its lifetime, and gives its place back.
        let trailers = tokio::time::timeout(Duration::from_secs(2), first.into_body().collect())
            .await
            .expect("ended with its lifetime")
            .unwrap()
            .trailers()
            .cloned()
            .unwrap();
        assert_eq!(trailers["grpc-status"], "0");
        let again = service.call(request(watch, None)).await.unwrap();
        assert!(again.headers().get("grpc-status").is_none());
    }
}
