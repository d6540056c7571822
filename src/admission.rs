//! Admission control in front of the services: a call is admitted only
//! once its request has arrived, only while the server and its client are
//! within their shares, and only until its deadline.
//!
//! 1. **The request first.** A unary request is read in full — within
//!    `body_timeout` and `max_message_bytes` — and its framing checked
//!    (see [`super::body`]) before it takes a slot: a client that sends
//!    headers and never a body holds nothing but its stream. A streaming
//!    request (ImportSchools, reflection) is admitted on its first
//!    message, and each later message must follow within `body_timeout`.
//! 2. **Shares.** At most `max_in_flight` API calls run at once, and one
//!    client (a token, or an address when authentication is off) at most
//!    `max_in_flight_per_client` of them; beyond either, RESOURCE_EXHAUSTED
//!    at once — never a queue, so an overload cannot turn into a hang.
//!    Health and reflection are never held back, so operators can see the
//!    server.
//! 3. **Deadlines.** The client's `grpc-timeout`, at most the server's
//!    request timeout, counted from the request's arrival; then the handler
//!    is dropped and the client gets DEADLINE_EXCEEDED (tonic's own timeout
//!    answers CANCELLED).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tonic::body::Body;

use super::auth::Principal;
use super::body::{BodyProblem, answer_problem, first_message, read_unary};
use super::methods::Shape;
use super::metrics::Metrics;
use super::protocol::Call;
use super::step::{Answer, Next, Step, answer_now};

/// How calls are admitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdmissionLimits {
    pub max_in_flight: usize,
    pub max_in_flight_per_client: usize,
    pub request_timeout: Duration,
    /// Longest wait for a request's body, or between a stream's messages.
    pub body_timeout: Duration,
    pub max_message_bytes: usize,
}

/// How much sooner than the transport's timer ours ends a call at the
/// client's deadline.
const TRANSPORT_TIMER_LEAD: Duration = Duration::from_millis(5);

#[derive(Debug)]
struct Shared {
    limits: AdmissionLimits,
    permits: Arc<Semaphore>,
    /// Calls in flight per client; absent means none.
    by_client: Mutex<HashMap<Principal, usize>>,
    metrics: Arc<Metrics>,
}

/// A client's place among the calls in flight, given back when dropped.
struct Slot {
    _permit: OwnedSemaphorePermit,
    shared: Arc<Shared>,
    client: Principal,
}

impl Drop for Slot {
    fn drop(&mut self) {
        if let Ok(mut by_client) = self.shared.by_client.lock()
            && let Some(count) = by_client.get_mut(&self.client)
        {
            *count -= 1;
            if *count == 0 {
                by_client.remove(&self.client);
            }
        }
    }
}

impl Shared {
    /// A slot for `client`, or why there is none.
    fn admit(self: &Arc<Self>, client: Principal) -> Result<Slot, Status> {
        let limits = &self.limits;
        let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() else {
            return Err(Status::resource_exhausted(format!(
                "server busy: {} calls in flight (its limit); retry with backoff",
                limits.max_in_flight
            )));
        };
        let mut by_client = self
            .by_client
            .lock()
            .map_err(|_| Status::internal("admission state poisoned"))?;
        let count = by_client.entry(client).or_insert(0);
        if *count >= limits.max_in_flight_per_client {
            return Err(Status::resource_exhausted(format!(
                "server busy: this client already has {} calls in flight, its share of the server; retry with backoff",
                limits.max_in_flight_per_client
            )));
        }
        *count += 1;
        Ok(Slot {
            _permit: permit,
            shared: Arc::clone(self),
            client,
        })
    }
}

/// Admission, as a [`Step`].
#[derive(Debug, Clone)]
pub struct Admission {
    shared: Arc<Shared>,
}

impl Admission {
    pub fn new(limits: AdmissionLimits, metrics: Arc<Metrics>) -> Admission {
        Admission {
            shared: Arc::new(Shared {
                limits,
                permits: Arc::new(Semaphore::new(limits.max_in_flight)),
                by_client: Mutex::new(HashMap::new()),
                metrics,
            }),
        }
    }
}

fn deadline_exceeded(budget: Duration, what: &str) -> Status {
    Status::deadline_exceeded(format!(
        "deadline of {} ms exceeded {what}",
        budget.as_millis()
    ))
}

/// When an admitted call's time runs out (answered DEADLINE_EXCEEDED):
/// for the layers behind, which must answer before.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(pub Instant);

impl Step for Admission {
    fn call<S: Next>(&self, request: http::Request<Body>, mut next: S) -> Answer {
        // Fails closed: the protocol layer tags every call it lets through.
        let Some(call) = request.extensions().get::<Call>().copied() else {
            return answer_now(Status::unimplemented("unknown method").into_http());
        };
        let shared = Arc::clone(&self.shared);
        let limits = shared.limits;
        let budget = call.client_timeout.map_or(limits.request_timeout, |asked| {
            asked.min(limits.request_timeout)
        });
        // tonic's transport also ends a call at the client's grpc-timeout,
        // answering CANCELLED, and its clock started a moment before ours:
        // ours must run out first, so the answer is DEADLINE_EXCEEDED.
        let deadline = match call.client_timeout {
            Some(asked) if asked <= limits.request_timeout => {
                call.started + asked.saturating_sub(TRANSPORT_TIMER_LEAD)
            }
            _ => call.started + budget,
        };
        let client = request
            .extensions()
            .get::<Principal>()
            .copied()
            .unwrap_or(Principal::Address(None));
        Box::pin(async move {
            // The request first, for every method (health and reflection
            // too, but they take no slot).
            let body_deadline = deadline.min(Instant::now() + limits.body_timeout);
            let method = call.method;
            let arrived = match method.shape {
                Shape::Unary => read_unary(
                    request,
                    body_deadline,
                    limits.max_message_bytes,
                    method.check,
                )
                .await
                .map(|request| (request, None)),
                Shape::Streaming => first_message(
                    request,
                    body_deadline,
                    limits.body_timeout,
                    limits.max_message_bytes,
                    method.check,
                )
                .await
                .map(|(request, problem)| (request, Some(problem))),
            };
            let (request, problem) = match arrived {
                Ok(arrived) => arrived,
                Err(BodyProblem::Late) if body_deadline == deadline => {
                    return Ok(deadline_exceeded(budget, "before the request arrived").into_http());
                }
                Err(BodyProblem::Late) => {
                    return Ok(Status::deadline_exceeded(format!(
                        "the request did not arrive within {} ms of its headers",
                        limits.body_timeout.as_millis()
                    ))
                    .into_http());
                }
                // A client that resets its stream at its deadline.
                Err(BodyProblem::Refused(status))
                    if status.code() == tonic::Code::Cancelled
                        && call.at_client_deadline(Instant::now()) =>
                {
                    return Ok(deadline_exceeded(budget, "before the request arrived").into_http());
                }
                Err(BodyProblem::Refused(status)) => return Ok(status.into_http()),
            };
            let _slot = if method.is_open() {
                None
            } else {
                match shared.admit(client) {
                    Ok(slot) => Some(slot),
                    Err(status) => {
                        tracing::warn!(path = method.path, reason = status.message(), "shed");
                        shared.metrics.count_shed();
                        return Ok(status.into_http());
                    }
                }
            };
            let mut request = request;
            request.extensions_mut().insert(Deadline(deadline));
            let response = match tokio::time::timeout_at(deadline.into(), next.call(request)).await
            {
                Ok(answer) => answer?,
                Err(_) => deadline_exceeded(budget, "").into_http(),
            };
            Ok(match problem {
                Some(problem) => answer_problem(response, problem),
                None => response,
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods;
    use crate::step::StepLayer;
    use std::convert::Infallible;
    use std::task::{Context, Poll};
    use tower_layer::Layer;
    use tower_service::Service;

    /// An inner service that answers OK after `delay`.
    #[derive(Clone)]
    struct Slow(Duration);

    impl Service<http::Request<Body>> for Slow {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = Answer;

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

    /// A call to `path` with an empty message, as the protocol layer
    /// passes it on.
    fn request(path: &str, client_timeout: Option<Duration>) -> http::Request<Body> {
        let mut request = http::Request::builder()
            .uri(path)
            .body(Body::new(http_body_util::Full::new(
                bytes::Bytes::from_static(&[0, 0, 0, 0, 0]),
            )))
            .unwrap();
        request.extensions_mut().insert(Call {
            method: methods::lookup(path).unwrap(),
            started: Instant::now(),
            client_timeout,
        });
        request
    }

    fn limits(max_in_flight: usize) -> AdmissionLimits {
        AdmissionLimits {
            max_in_flight,
            max_in_flight_per_client: max_in_flight,
            request_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(1),
            max_message_bytes: 1024,
        }
    }

    #[tokio::test]
    async fn the_clients_shorter_deadline_wins_and_overload_is_shed() {
        let layer = StepLayer(Admission::new(limits(1), Arc::default()));
        let mut service = layer.layer(Slow(Duration::from_millis(300)));
        let match_path = "/partnermatch.v1.PartnerMatcher/Match";
        let started = Instant::now();
        let answer = service
            .call(request(match_path, Some(Duration::from_millis(30))))
            .await
            .unwrap();
        assert_eq!(grpc_status(&answer), tonic::Code::DeadlineExceeded as i32);
        assert!(started.elapsed() < Duration::from_millis(200));

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
        assert_eq!(grpc_status(&health), tonic::Code::Ok as i32);
        assert_eq!(grpc_status(&running.await.unwrap().unwrap()), 0);
    }
}
