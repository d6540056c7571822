//! Registry versions on every call, for reading your writes across
//! replicas. Each answer carries the header [`VERSION_HEADER`]: the
//! registry version the server held when it answered (at least the one the
//! answer was read at; a write's answer holds the write). A call may send
//! [`MIN_VERSION_HEADER`]: the server answers only once it holds that
//! version, waiting for its follower up to the call's deadline, then
//! UNAVAILABLE (another replica may hold it). A replica that is behind its
//! database (or cannot reach it) refuses reads with UNAVAILABLE, unless it
//! runs with `--serve-stale`.
//!
//! A wait holds no admission slot (it comes before admission), but waits
//! are bounded too: at most `max_in_flight` at once and one client's share
//! of them, and none for a version more than [`MAX_VERSION_AHEAD`] beyond
//! the newest this replica knows of (OUT_OF_RANGE at once: such a version
//! cannot be reached within a call's deadline).

use std::sync::Arc;
use std::time::{Duration, Instant};

use tonic::Status;
use tonic::body::Body;

use crate::engine::Engine;

use super::arrival::Deadline;
use super::auth::Principal;
use super::protocol::Call;
use super::replication::Replication;
use super::shares::{Refused, Shares};
use super::step::{Answer, Next, Step, answer_now, hand_on};

/// The request header naming the least registry version to read at.
pub const MIN_VERSION_HEADER: &str = "partnermatch-min-version";

/// The response header giving the registry version the server held.
pub const VERSION_HEADER: &str = "partnermatch-version";

/// A wait for a version ends this long before the call's deadline, so
/// the answer is UNAVAILABLE rather than DEADLINE_EXCEEDED.
const DEADLINE_MARGIN: Duration = Duration::from_millis(20);

/// How often a waiting call looks at the registry version again.
const RECHECK: Duration = Duration::from_millis(2);

/// How far beyond the newest registry version a replica knows of (its own,
/// or its database's at the follower's last read) a call may ask it to
/// wait for: more writes than the fastest measured rate makes in a
/// request timeout.
pub const MAX_VERSION_AHEAD: u64 = 10_000;

/// Versions, as a [`Step`].
#[derive(Clone)]
pub struct Consistency {
    engine: Arc<Engine>,
    /// Set when the server follows a database other replicas write to.
    replication: Option<Arc<Replication>>,
    /// Calls waiting for a version, by client.
    waiting: Arc<Shares<Principal>>,
}

impl Consistency {
    /// At most `max_waiting` calls wait for a version at once, one client's
    /// at most `max_waiting_per_client`.
    pub fn new(
        engine: Arc<Engine>,
        replication: Option<Arc<Replication>>,
        max_waiting: usize,
        max_waiting_per_client: usize,
    ) -> Consistency {
        Consistency {
            engine,
            replication,
            waiting: Shares::new(max_waiting, max_waiting_per_client),
        }
    }

    /// The newest registry version this replica knows of.
    fn newest_known(&self) -> u64 {
        let database = self.replication.as_ref().map_or(0, |r| r.head());
        self.engine.version().max(database)
    }
}

/// The version a call asks for, if it asks for one.
fn min_version(headers: &http::HeaderMap) -> Result<Option<u64>, Status> {
    let Some(value) = headers.get(MIN_VERSION_HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .filter(|text| !text.is_empty() && text.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|text| text.parse().ok())
        .map(Some)
        .ok_or_else(|| {
            Status::invalid_argument(format!(
                "{MIN_VERSION_HEADER} must be a registry version (a whole number, as in the {VERSION_HEADER} header of an answer), got {:?}",
                String::from_utf8_lossy(value.as_bytes())
            ))
        })
}

impl Step for Consistency {
    fn call<S: Next>(&self, request: http::Request<Body>, mut next: S) -> Answer {
        let Some(call) = request.extensions().get::<Call>().copied() else {
            return hand_on(request, next);
        };
        if call.method.is_open() {
            return hand_on(request, next);
        }
        let wanted = match min_version(request.headers()) {
            Ok(wanted) => wanted,
            Err(status) => return answer_now(status.into_http()),
        };
        if !call.method.writes
            && let Some(refusal) = self.replication.as_ref().and_then(|r| r.refusal())
        {
            return answer_now(Status::unavailable(refusal).into_http());
        }
        let deadline = request
            .extensions()
            .get::<Deadline>()
            .map(|deadline| deadline.0);
        let engine = Arc::clone(&self.engine);
        let waiting = match wanted {
            Some(wanted) if wanted > engine.version() => {
                let newest = self.newest_known();
                if wanted > newest.saturating_add(MAX_VERSION_AHEAD) {
                    let status = Status::out_of_range(format!(
                        "{MIN_VERSION_HEADER} {wanted} is more than {MAX_VERSION_AHEAD} beyond the newest registry version this replica knows of ({newest}): it would not be reached within the call; send a version from the {VERSION_HEADER} header of an answer"
                    ));
                    return answer_now(with_version(status.into_http(), engine.version()));
                }
                let client = request
                    .extensions()
                    .get::<Principal>()
                    .copied()
                    .unwrap_or(Principal::Address(None));
                match self.waiting.take(client) {
                    Ok(share) => Some((wanted, share)),
                    Err(refused) => {
                        let status = Status::resource_exhausted(match refused {
                            Refused::Full(max) => format!(
                                "server busy: {max} calls are waiting for a registry version ({MIN_VERSION_HEADER}); retry with backoff"
                            ),
                            Refused::HolderFull(max) => format!(
                                "this client already has {max} calls waiting for a registry version ({MIN_VERSION_HEADER}), its share; retry with backoff"
                            ),
                        });
                        return answer_now(with_version(status.into_http(), engine.version()));
                    }
                }
            }
            _ => None,
        };
        Box::pin(async move {
            if let Some((wanted, share)) = waiting {
                let reached = reach(&engine, wanted, deadline).await;
                drop(share);
                if let Err(status) = reached {
                    return Ok(with_version(status.into_http(), engine.version()));
                }
            }
            let response = next.call(request).await?;
            Ok(with_version(response, engine.version()))
        })
    }
}

/// Waits until the engine holds registry version `wanted`, at most until
/// just before `deadline` (admission gives every call one; without one
/// there is no wait).
async fn reach(engine: &Engine, wanted: u64, deadline: Option<Instant>) -> Result<(), Status> {
    let started = Instant::now();
    let give_up =
        deadline.map(|deadline| deadline.checked_sub(DEADLINE_MARGIN).unwrap_or(deadline));
    loop {
        let held = engine.version();
        if held >= wanted {
            return Ok(());
        }
        if give_up.is_none_or(|give_up| Instant::now() + RECHECK >= give_up) {
            return Err(Status::unavailable(format!(
                "this replica holds registry version {held}, not yet the {wanted} asked for ({MIN_VERSION_HEADER}) after {} ms; retry, or ask another replica",
                started.elapsed().as_millis()
            )));
        }
        tokio::time::sleep(RECHECK).await;
    }
}

fn with_version(mut response: http::Response<Body>, version: u64) -> http::Response<Body> {
    response
        .headers_mut()
        .insert(VERSION_HEADER, http::HeaderValue::from(version));
    response
}
