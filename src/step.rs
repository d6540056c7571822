//! The shape shared by every layer in front of the services (metrics,
//! protocol check, authentication, admission): a [`Step`] sees each call
//! and either answers it or hands it, perhaps changed, to the next service.
//! [`StepLayer`] makes a step a tower layer, so each step is only its
//! decision, not the service plumbing.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use tonic::body::Body;
use tower_layer::Layer;
use tower_service::Service;

/// What a step answers with.
pub(crate) type Answer =
    Pin<Box<dyn Future<Output = Result<http::Response<Body>, Infallible>> + Send>>;

/// The service behind a step: what the next layer, or the services
/// themselves, look like from in front.
pub trait Next:
    Service<
        http::Request<Body>,
        Response = http::Response<Body>,
        Error = Infallible,
        Future: Send + 'static,
    > + Send
    + 'static
{
}

impl<S> Next for S where
    S: Service<
            http::Request<Body>,
            Response = http::Response<Body>,
            Error = Infallible,
            Future: Send + 'static,
        > + Send
        + 'static
{
}

/// One layer's decision about a call.
pub trait Step: Clone + Send + Sync + 'static {
    /// Answers `request`, or hands it to `next` (a service polled ready).
    fn call<S: Next>(&self, request: http::Request<Body>, next: S) -> Answer;
}

/// An answer given at once, without the services behind.
pub(crate) fn answer_now(response: http::Response<Body>) -> Answer {
    Box::pin(std::future::ready(Ok(response)))
}

/// `request` handed on to `next` unchanged in its answer.
pub(crate) fn hand_on<S: Next>(request: http::Request<Body>, mut next: S) -> Answer {
    Box::pin(next.call(request))
}

/// A step as a tower layer.
#[derive(Debug, Clone)]
pub struct StepLayer<T>(pub T);

impl<T: Step, S> Layer<S> for StepLayer<T> {
    type Service = Stepped<T, S>;

    fn layer(&self, inner: S) -> Stepped<T, S> {
        Stepped {
            step: self.0.clone(),
            inner,
        }
    }
}

/// A step in front of a service.
#[derive(Debug, Clone)]
pub struct Stepped<T, S> {
    step: T,
    inner: S,
}

impl<T, S> Service<http::Request<Body>> for Stepped<T, S>
where
    T: Step,
    S: Next + Clone,
{
    type Response = http::Response<Body>;
    type Error = Infallible;
    type Future = Answer;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: http::Request<Body>) -> Answer {
        // The service polled ready handles this call; a fresh clone takes
        // its place for the next one (the usual tower pattern).
        let fresh = self.inner.clone();
        let ready = std::mem::replace(&mut self.inner, fresh);
        self.step.call(request, ready)
    }
}
