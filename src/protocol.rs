//! The first check on every request: is it a gRPC call to a method this
//! server has? As the gRPC over HTTP/2 specification says, a request that
//! is not a POST is answered 405 and one whose content-type is not
//! `application/grpc` (or `application/grpc+proto`) 415, so no other HTTP
//! client mistakes the answer for a success. A path outside the method
//! table is UNIMPLEMENTED; a malformed `grpc-timeout` is INVALID_ARGUMENT
//! (silently ignoring it would run the call without the deadline its client
//! asked for), and so is a header that takes one value given more than
//! once (which of them would count is not for a layer to guess). What
//! passes carries a [`Call`] for the layers behind.

use std::time::{Duration, Instant};

use tonic::Status;
use tonic::body::Body;

use crate::domain::quoted;

use super::methods::{self, Method};
use super::step::{Answer, Next, Step, answer_now, hand_on};

/// What the layers behind this one know about a call.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Call {
    pub method: &'static Method,
    /// When the request's headers arrived.
    pub started: Instant,
    /// The client's deadline (`grpc-timeout`), if it gave one.
    pub client_timeout: Option<Duration>,
}

/// The protocol check, as a [`Step`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Protocol;

/// A plain HTTP answer (not a gRPC status): for requests that are not gRPC.
fn http_refusal(status: http::StatusCode, reason: &str) -> http::Response<Body> {
    let mut response = http::Response::new(Body::new(http_body_util::Full::new(
        bytes::Bytes::from(format!("{reason}\n")),
    )));
    *response.status_mut() = status;
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        http::HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Whether a content-type names gRPC with protobuf messages.
fn is_grpc_proto(content_type: &str) -> bool {
    let media = content_type
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    media == "application/grpc" || media == "application/grpc+proto"
}

/// Headers that take one value: each may be given at most once.
const SINGLE_VALUED: [&str; 5] = [
    "authorization",
    "grpc-timeout",
    "grpc-encoding",
    "x-request-id",
    super::consistency::MIN_VERSION_HEADER,
];

/// Why a request is refused before any service sees it, if it is.
#[allow(clippy::result_large_err)]
fn check(request: &http::Request<Body>) -> Result<Call, http::Response<Body>> {
    if request.method() != http::Method::POST {
        let mut refusal = http_refusal(
            http::StatusCode::METHOD_NOT_ALLOWED,
            "gRPC calls are HTTP/2 POST requests",
        );
        refusal
            .headers_mut()
            .insert(http::header::ALLOW, http::HeaderValue::from_static("POST"));
        return Err(refusal);
    }
    let content_type = request
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .unwrap_or_default();
    if !is_grpc_proto(content_type) {
        return Err(http_refusal(
            http::StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "content-type must be application/grpc or application/grpc+proto",
        ));
    }
    let path = request.uri().path();
    let Some(method) = methods::lookup(path) else {
        return Err(Status::unimplemented(format!(
            "unknown method {}: this server has partnermatch.v1, grpc.health.v1 and server reflection",
            quoted(path)
        ))
        .into_http());
    };
    for name in SINGLE_VALUED {
        let given = request.headers().get_all(name).iter().count();
        if given > 1 {
            return Err(Status::invalid_argument(format!(
                "the {name} header is given {given} times; it takes one value"
            ))
            .into_http());
        }
    }
    let client_timeout = match request.headers().get("grpc-timeout") {
        None => None,
        Some(value) => Some(
            value
                .to_str()
                .ok()
                .and_then(parse_grpc_timeout)
                .ok_or_else(|| {
                    let shown = String::from_utf8_lossy(value.as_bytes());
                    Status::invalid_argument(format!(
                        "malformed grpc-timeout header {}: expected 1 to 8 digits and a unit (H, M, S, m, u or n), e.g. 500m",
                        quoted(&shown)
                    ))
                    .into_http()
                })?,
        ),
    };
    Ok(Call {
        method,
        started: Instant::now(),
        client_timeout,
    })
}

impl Call {
    /// Whether a client that went away at `now` did so at its deadline
    /// (then the call ended DEADLINE_EXCEEDED rather than CANCELLED).
    pub(crate) fn at_client_deadline(&self, now: Instant) -> bool {
        self.client_timeout
            .is_some_and(|timeout| at_deadline(self.started, self.started + timeout, now))
    }
}

/// Whether `now` is at the deadline of a call that started at `started`:
/// a client cancels at its own deadline, whose clock started before the
/// request reached this server, so a moment before the deadline as seen
/// here counts too.
pub(crate) fn at_deadline(started: Instant, deadline: Instant, now: Instant) -> bool {
    let slack = Duration::from_millis(20) + deadline.saturating_duration_since(started) / 50;
    now + slack >= deadline
}

/// The `grpc-timeout` header: 1 to 8 digits and a unit (H, M, S, m, u, n).
pub(crate) fn parse_grpc_timeout(value: &str) -> Option<Duration> {
    let (digits, unit) = value.split_at(value.len().checked_sub(1)?);
    if digits.is_empty() || digits.len() > 8 || !digits.bytes().all(|b| b.is_ascii_digit()) {
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

impl Step for Protocol {
    fn call<S: Next>(&self, mut request: http::Request<Body>, next: S) -> Answer {
        match check(&request) {
            Ok(call) => {
                request.extensions_mut().insert(call);
                hand_on(request, next)
            }
            Err(refusal) => {
                tracing::info!(
                    path = %quoted(request.uri().path()),
                    http_method = %request.method(),
                    "refused: not a call to a served gRPC method"
                );
                answer_now(refusal)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeouts_parse_as_the_specification_says() {
        assert_eq!(parse_grpc_timeout("5S"), Some(Duration::from_secs(5)));
        assert_eq!(parse_grpc_timeout("250m"), Some(Duration::from_millis(250)));
        assert_eq!(parse_grpc_timeout("2H"), Some(Duration::from_secs(7200)));
        assert_eq!(
            parse_grpc_timeout("99999999n"),
            Some(Duration::from_nanos(99_999_999))
        );
        for bad in ["123456789S", "5x", "S", "", "+5S", "-1S", "5 S", "1.5S"] {
            assert_eq!(parse_grpc_timeout(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn only_grpc_with_protobuf_is_accepted() {
        assert!(is_grpc_proto("application/grpc"));
        assert!(is_grpc_proto("application/grpc+proto"));
        assert!(is_grpc_proto("Application/GRPC; charset=utf-8"));
        for bad in [
            "",
            "application/json",
            "text/plain",
            "application/grpc+json",
            "application/grpc-web",
        ] {
            assert!(!is_grpc_proto(bad), "{bad:?}");
        }
    }
}
