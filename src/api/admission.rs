//! Admission control in front of the services: a call is admitted only
//! once its request has arrived, only while the server and its client are
//! within their shares, and only until its deadline.
//!
//! 1. **The request first.** A unary request is read in full — within
//!    `body_timeout` and `max_message_bytes` — and its framing checked
//!    before it takes a slot: a client that sends headers and never a body
//!    holds nothing but its stream. A streaming request (ImportSchools) is
//!    admitted on its first message, and each later message must follow
//!    within `body_timeout`.
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
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use bytes::{Buf, Bytes, BytesMut};
use http_body::Frame;
use http_body_util::BodyExt;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tonic::Status;
use tonic::body::Body;
use tower_layer::Layer;
use tower_service::Service;

use super::auth::Principal;
use super::methods::Shape;
use super::metrics::Metrics;
use super::protocol::Call;

/// Bytes of a gRPC message's header: the compressed flag and the length.
const FRAME_HEADER_BYTES: usize = 5;

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

#[derive(Debug, Clone)]
pub struct AdmissionLayer {
    shared: Arc<Shared>,
}

impl AdmissionLayer {
    pub fn new(limits: AdmissionLimits, metrics: Arc<Metrics>) -> AdmissionLayer {
        AdmissionLayer {
            shared: Arc::new(Shared {
                limits,
                permits: Arc::new(Semaphore::new(limits.max_in_flight)),
                by_client: Mutex::new(HashMap::new()),
                metrics,
            }),
        }
    }
}

impl<S> Layer<S> for AdmissionLayer {
    type Service = Admission<S>;

    fn layer(&self, inner: S) -> Admission<S> {
        Admission {
            inner,
            shared: Arc::clone(&self.shared),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Admission<S> {
    inner: S,
    shared: Arc<Shared>,
}

fn answer(status: Status) -> super::Answer {
    Box::pin(std::future::ready(Ok(status.into_http())))
}

fn deadline_exceeded(budget: Duration, what: &str) -> Status {
    Status::deadline_exceeded(format!(
        "deadline of {} ms exceeded {what}",
        budget.as_millis()
    ))
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
        // Fails closed: the protocol layer tags every call it lets through.
        let Some(call) = request.extensions().get::<Call>().copied() else {
            return answer(Status::unimplemented("unknown method"));
        };
        let shared = Arc::clone(&self.shared);
        let limits = shared.limits;
        let budget = call.client_timeout.map_or(limits.request_timeout, |asked| {
            asked.min(limits.request_timeout)
        });
        let deadline = call.started + budget;
        let client = request
            .extensions()
            .get::<Principal>()
            .copied()
            .unwrap_or(Principal::Address(None));
        let mut ready = super::take_ready(&mut self.inner);
        Box::pin(async move {
            let (request, slot) = if call.method.is_open() {
                (request, None)
            } else {
                let body_deadline = deadline.min(Instant::now() + limits.body_timeout);
                let arrived = match call.method.shape {
                    Shape::Unary => read_unary(request, body_deadline, &limits).await,
                    Shape::Streaming => first_message(request, body_deadline, &limits).await,
                };
                let arrived = arrived.map_err(|problem| match problem {
                    // A client that resets its stream at its deadline.
                    BodyProblem::Refused(status)
                        if status.code() == tonic::Code::Cancelled
                            && call.at_client_deadline(Instant::now()) =>
                    {
                        BodyProblem::Refused(deadline_exceeded(
                            budget,
                            "before the request arrived",
                        ))
                    }
                    problem => problem,
                });
                let request = match arrived {
                    Ok(request) => request,
                    Err(BodyProblem::Late) if body_deadline == deadline => {
                        return Ok(
                            deadline_exceeded(budget, "before the request arrived").into_http()
                        );
                    }
                    Err(BodyProblem::Late) => {
                        return Ok(Status::deadline_exceeded(format!(
                            "the request did not arrive within {} ms of its headers",
                            limits.body_timeout.as_millis()
                        ))
                        .into_http());
                    }
                    Err(BodyProblem::Refused(status)) => return Ok(status.into_http()),
                };
                match shared.admit(client) {
                    Ok(slot) => (request, Some(slot)),
                    Err(status) => {
                        tracing::warn!(path = call.method.path, reason = status.message(), "shed");
                        shared.metrics.count_shed();
                        return Ok(status.into_http());
                    }
                }
            };
            let _slot = slot;
            match tokio::time::timeout_at(deadline.into(), ready.call(request)).await {
                Ok(answer) => answer,
                Err(_) => Ok(deadline_exceeded(budget, "").into_http()),
            }
        })
    }
}

/// Why a request's body was not taken.
enum BodyProblem {
    /// It had not arrived by the deadline.
    Late,
    /// It is not a well-formed request, or the client went away.
    Refused(Status),
}

/// Reads a unary request's body in full and checks it holds exactly one
/// well-formed message frame, then gives the request back with the body
/// in memory.
async fn read_unary(
    request: http::Request<Body>,
    deadline: Instant,
    limits: &AdmissionLimits,
) -> Result<http::Request<Body>, BodyProblem> {
    let (parts, mut body) = request.into_parts();
    // Header and message; one byte more tells an oversized message.
    let most = FRAME_HEADER_BYTES + limits.max_message_bytes;
    let mut bytes = BytesMut::new();
    let reading = async {
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|status| {
                BodyProblem::Refused(Status::cancelled(format!(
                    "the request stream failed: {}",
                    status.message()
                )))
            })?;
            if let Ok(data) = frame.into_data() {
                if bytes.len() + data.len() > most {
                    return Err(BodyProblem::Refused(too_large(limits.max_message_bytes)));
                }
                bytes.extend_from_slice(&data);
            }
        }
        Ok(())
    };
    tokio::time::timeout_at(deadline.into(), reading)
        .await
        .map_err(|_| BodyProblem::Late)??;
    let compressed_allowed = parts.headers.contains_key("grpc-encoding");
    check_unary_frame(&bytes, compressed_allowed, limits.max_message_bytes)
        .map_err(BodyProblem::Refused)?;
    let body = Body::new(http_body_util::Full::new(bytes.freeze()));
    Ok(http::Request::from_parts(parts, body))
}

fn too_large(max: usize) -> Status {
    Status::out_of_range(format!(
        "request message too large: the server's limit is {max} bytes"
    ))
}

/// The framing rules of a unary gRPC request: one 5-byte header (a
/// compressed flag of 0, or 1 with a `grpc-encoding`; a big-endian length),
/// then exactly that many bytes.
fn check_unary_frame(body: &[u8], compressed_allowed: bool, max: usize) -> Result<(), Status> {
    let malformed = |why: String| Status::invalid_argument(format!("malformed request: {why}"));
    if body.is_empty() {
        return Err(malformed(
            "the body is empty; a gRPC request carries one length-prefixed message".into(),
        ));
    }
    if body.len() < FRAME_HEADER_BYTES {
        return Err(malformed(format!(
            "the message header is cut short: {} of {FRAME_HEADER_BYTES} bytes",
            body.len()
        )));
    }
    match body[0] {
        0 => {}
        1 if compressed_allowed => {}
        1 => {
            return Err(malformed(
                "the compressed flag is set but no grpc-encoding header names a compression".into(),
            ));
        }
        flag => {
            return Err(malformed(format!(
                "compressed flag {flag}; it must be 0 or 1"
            )));
        }
    }
    let declared = (&body[1..FRAME_HEADER_BYTES]).get_u32() as usize;
    if declared > max {
        return Err(too_large(max));
    }
    let arrived = body.len() - FRAME_HEADER_BYTES;
    if arrived < declared {
        return Err(malformed(format!(
            "the message is cut short: its header declares {declared} bytes, {arrived} arrived"
        )));
    }
    if arrived > declared {
        return Err(malformed(format!(
            "{} bytes follow the message; a unary call carries exactly one message",
            arrived - declared
        )));
    }
    Ok(())
}

/// Waits for a streaming request's first data (or its end), then gives the
/// request back with a body whose later frames must each follow within
/// the body timeout.
async fn first_message(
    request: http::Request<Body>,
    deadline: Instant,
    limits: &AdmissionLimits,
) -> Result<http::Request<Body>, BodyProblem> {
    let (parts, mut body) = request.into_parts();
    let first = tokio::time::timeout_at(deadline.into(), body.frame())
        .await
        .map_err(|_| BodyProblem::Late)?;
    let body = PacedBody {
        first,
        inner: body,
        gap: limits.body_timeout,
        next_by: Box::pin(tokio::time::sleep(limits.body_timeout)),
    };
    Ok(http::Request::from_parts(parts, Body::new(body)))
}

/// A streaming request body whose frames must each arrive within `gap` of
/// the one before; otherwise it fails with DEADLINE_EXCEEDED, which ends
/// the call (an import then applies nothing).
struct PacedBody {
    /// The frame read before admission, handed out first.
    first: Option<Result<Frame<Bytes>, Status>>,
    inner: Body,
    gap: Duration,
    next_by: Pin<Box<tokio::time::Sleep>>,
}

impl http_body::Body for PacedBody {
    type Data = Bytes;
    type Error = Status;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Status>>> {
        if let Some(first) = self.first.take() {
            return Poll::Ready(Some(first));
        }
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(frame) => {
                let next = tokio::time::Instant::now() + self.gap;
                self.next_by.as_mut().reset(next);
                Poll::Ready(frame)
            }
            Poll::Pending => match self.next_by.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(Status::deadline_exceeded(format!(
                    "no message arrived for {} ms; the stream was abandoned",
                    self.gap.as_millis()
                ))))),
                Poll::Pending => Poll::Pending,
            },
        }
    }

    fn is_end_stream(&self) -> bool {
        self.first.is_none() && self.inner.is_end_stream()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unary_frames_must_hold_exactly_one_message() {
        let frame = |flag: u8, declared: u32, payload: &[u8]| {
            let mut bytes = vec![flag];
            bytes.extend_from_slice(&declared.to_be_bytes());
            bytes.extend_from_slice(payload);
            bytes
        };
        let check = |body: &[u8]| check_unary_frame(body, false, 100);
        assert!(check(&frame(0, 3, b"abc")).is_ok());
        assert!(
            check(&frame(0, 0, b"")).is_ok(),
            "an empty message is a message"
        );
        let message = |body: &[u8]| {
            let status = check(body).unwrap_err();
            (status.code(), status.message().to_owned())
        };
        let (code, text) = message(b"");
        assert_eq!(code, tonic::Code::InvalidArgument);
        assert!(text.contains("body is empty"), "{text}");
        assert!(message(&[0, 0, 0]).1.contains("3 of 5 bytes"));
        assert!(message(&frame(1, 3, b"abc")).1.contains("no grpc-encoding"));
        assert!(check_unary_frame(&frame(1, 3, b"abc"), true, 100).is_ok());
        assert!(
            message(&frame(7, 3, b"abc"))
                .1
                .contains("compressed flag 7")
        );
        assert!(
            message(&frame(0, 9, b"abc"))
                .1
                .contains("declares 9 bytes, 3 arrived")
        );
        assert!(message(&frame(0, 1, b"abc")).1.contains("2 bytes follow"));
        assert_eq!(message(&frame(0, 101, b"")).0, tonic::Code::OutOfRange);
    }
}
