//! The request first: a call goes no further until its request has
//! arrived, so a client that sends headers and never a body holds nothing
//! but its stream — no admission slot, no wait for a registry version, and
//! its connection is not busy (a newcomer at the connection limit may take
//! its place).
//!
//! - A unary request is read in full — within `body_timeout` and
//!   `max_message_bytes` — and its framing checked (see [`super::body`]).
//! - A streaming request (ImportSchools, reflection) goes on at its first
//!   message, and each later message must follow within `body_timeout`.
//! - Deadlines: the client's `grpc-timeout`, at most the server's request
//!   timeout, counted from the request's arrival; then the call is dropped
//!   and the client gets DEADLINE_EXCEEDED (tonic's own timeout answers
//!   CANCELLED). For an import stream the server's request timeout counts
//!   from the stream's last message, not its first: a long import is
//!   bounded by the gap between messages and by its byte budget, and
//!   applying it by the request timeout.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::Status;
use tonic::body::Body;

use super::body::{BodyProblem, StreamEnd, answer_problem, first_message, read_unary};
use super::methods::Shape;
use super::protocol::Call;
use super::step::{Answer, Next, Step, answer_now};

/// How long requests may take to arrive, and calls to run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ArrivalLimits {
    pub request_timeout: Duration,
    /// Longest wait for a request's body, or between a stream's messages.
    pub body_timeout: Duration,
    pub max_message_bytes: usize,
}

/// How much sooner than the transport's timer ours ends a call at the
/// client's deadline.
const TRANSPORT_TIMER_LEAD: Duration = Duration::from_millis(5);

/// When an arrived call's time runs out (answered DEADLINE_EXCEEDED): for
/// the layers behind, which must answer before. For an import stream, the
/// time its first message has (waits before the stream is read use it).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Deadline(pub Instant);

/// Arrival, as a [`Step`].
#[derive(Debug, Clone)]
pub struct Arrival {
    limits: ArrivalLimits,
}

impl Arrival {
    pub fn new(limits: ArrivalLimits) -> Arrival {
        Arrival { limits }
    }
}

fn deadline_exceeded(budget: Duration, what: &str) -> Status {
    Status::deadline_exceeded(format!(
        "deadline of {} ms exceeded {what}",
        budget.as_millis()
    ))
}

impl Step for Arrival {
    fn call<S: Next>(&self, request: http::Request<Body>, mut next: S) -> Answer {
        // Fails closed: the protocol layer tags every call it lets through.
        let Some(call) = request.extensions().get::<Call>().copied() else {
            return answer_now(Status::unimplemented("unknown method").into_http());
        };
        let limits = self.limits;
        let budget = call.client_timeout.map_or(limits.request_timeout, |asked| {
            asked.min(limits.request_timeout)
        });
        // tonic's transport also ends a call at the client's grpc-timeout,
        // answering CANCELLED, and its clock started a moment before ours:
        // ours must run out first, so the answer is DEADLINE_EXCEEDED.
        let client_deadline = call
            .client_timeout
            .map(|asked| call.started + asked.saturating_sub(TRANSPORT_TIMER_LEAD));
        let deadline = match client_deadline {
            Some(at) if call.client_timeout <= Some(limits.request_timeout) => at,
            _ => call.started + budget,
        };
        Box::pin(async move {
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
                .map(|(request, stream)| (request, Some(stream))),
            };
            let (mut request, stream) = match arrived {
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
            request.extensions_mut().insert(Deadline(deadline));
            let answering = next.call(request);
            let response = match &stream {
                // An import: the request timeout runs from its last message.
                Some(stream) if method.writes => {
                    let ends = stream.end().clone();
                    let applying = async move {
                        let last = ends.wait().await;
                        tokio::time::sleep_until((last + limits.request_timeout).into()).await;
                    };
                    let client = async move {
                        match client_deadline {
                            Some(at) => tokio::time::sleep_until(at.into()).await,
                            None => std::future::pending().await,
                        }
                    };
                    tokio::select! {
                        answer = answering => answer?,
                        () = applying => Status::deadline_exceeded(format!(
                            "the import was not applied within {} ms of its last message",
                            limits.request_timeout.as_millis()
                        ))
                        .into_http(),
                        () = client => deadline_exceeded(budget, "").into_http(),
                    }
                }
                _ => match tokio::time::timeout_at(deadline.into(), answering).await {
                    Ok(answer) => answer?,
                    Err(_) => deadline_exceeded(budget, "").into_http(),
                },
            };
            Ok(match stream {
                Some(stream) => answer_problem(response, stream.problem),
                None => response,
            })
        })
    }
}

/// What a streaming request's body tells the layers around it.
pub(crate) struct Stream {
    pub problem: super::body::StreamProblem,
    end: Arc<StreamEnd>,
}

impl Stream {
    pub(crate) fn new(problem: super::body::StreamProblem, end: Arc<StreamEnd>) -> Stream {
        Stream { problem, end }
    }

    fn end(&self) -> &Arc<StreamEnd> {
        &self.end
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::methods;
    use crate::step::StepLayer;
    use std::convert::Infallible;
    use std::task::{Context, Poll};
    use tower_layer::Layer;
    use tower_service::Service;

    /// An inner service that answers after `delay`: OK at once, or (when
    /// `endless`) with a stream that never ends, as a Watch does.
    #[derive(Clone)]
    pub(crate) struct Slow {
        pub delay: Duration,
        pub endless: bool,
    }

    impl Service<http::Request<Body>> for Slow {
        type Response = http::Response<Body>;
        type Error = Infallible;
        type Future = Answer;

        fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, _: http::Request<Body>) -> Self::Future {
            let Slow { delay, endless } = *self;
            Box::pin(async move {
                tokio::time::sleep(delay).await;
                if !endless {
                    return Ok(Status::ok("").into_http());
                }
                let mut response = http::Response::new(Body::new(NeverEnds));
                response.headers_mut().insert(
                    "content-type",
                    http::HeaderValue::from_static("application/grpc"),
                );
                Ok(response)
            })
        }
    }

    struct NeverEnds;

    impl http_body::Body for NeverEnds {
        type Data = bytes::Bytes;
        type Error = Status;

        fn poll_frame(
            self: std::pin::Pin<&mut Self>,
            _: &mut Context<'_>,
        ) -> Poll<Option<Result<http_body::Frame<bytes::Bytes>, Status>>> {
            Poll::Pending
        }
    }

    pub(crate) fn grpc_status(response: &http::Response<Body>) -> i32 {
        response.headers()["grpc-status"]
            .to_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    /// A call to `path` with an empty message, as the protocol layer
    /// passes it on.
    pub(crate) fn request(path: &str, client_timeout: Option<Duration>) -> http::Request<Body> {
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

    #[tokio::test]
    async fn the_clients_shorter_deadline_wins() {
        let layer = StepLayer(Arrival::new(ArrivalLimits {
            request_timeout: Duration::from_secs(10),
            body_timeout: Duration::from_secs(1),
            max_message_bytes: 1024,
        }));
        let mut service = layer.layer(Slow {
            delay: Duration::from_millis(300),
            endless: false,
        });
        let started = Instant::now();
        let answer = service
            .call(request(
                "/partnermatch.v1.PartnerMatcher/Match",
                Some(Duration::from_millis(30)),
            ))
            .await
            .unwrap();
        assert_eq!(grpc_status(&answer), tonic::Code::DeadlineExceeded as i32);
        assert!(started.elapsed() < Duration::from_millis(200));
    }
}
