//! Following the database other replicas write to: a thread that applies
//! the change log's entries to this server's engine as they are notified
//! (PostgreSQL `LISTEN`), and looks every [`POLL`] too, and the state the
//! rest of the server reads from it — how far behind the replica is, and
//! so whether it serves (health, reads).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use partnermatch_store::PostgresStore;

use crate::engine::Engine;

/// The longest the follower waits for a notification before it looks at
/// the log anyway: a replica that hears nothing still knows within this
/// that it is current.
pub(crate) const POLL: Duration = Duration::from_millis(250);

/// The longest wait between attempts to reach a database that cannot be
/// reached.
const MAX_BACKOFF: Duration = Duration::from_secs(2);

/// How long a replica may be behind the database, and what it does then.
#[derive(Debug, Clone, Copy)]
pub struct ReplicationSettings {
    /// Behind the database for longer than this (or unable to reach it),
    /// the replica reports NOT_SERVING.
    pub max_lag: Duration,
    /// Answer reads from the snapshot while NOT_SERVING, rather than
    /// refusing them with UNAVAILABLE.
    pub serve_stale: bool,
}

/// How far this replica is behind the database, as its follower last saw.
#[derive(Debug)]
pub struct Replication {
    settings: ReplicationSettings,
    started: Instant,
    /// The database's registry version at the follower's last read.
    head: AtomicU64,
    /// When (ms after `started`) the follower last found the engine
    /// holding every entry of the log.
    current_at_ms: AtomicU64,
    /// Whether the follower's last attempt to reach the database failed.
    unreachable: AtomicBool,
}

impl Replication {
    /// A replica that has just read the database at `version`.
    pub fn new(settings: ReplicationSettings, version: u64) -> Replication {
        Replication {
            settings,
            started: Instant::now(),
            head: AtomicU64::new(version),
            current_at_ms: AtomicU64::new(0),
            unreachable: AtomicBool::new(false),
        }
    }

    pub fn settings(&self) -> ReplicationSettings {
        self.settings
    }

    /// The database's registry version at the follower's last read.
    pub fn head(&self) -> u64 {
        self.head.load(Ordering::Relaxed)
    }

    /// How long since the replica was last known to hold every change.
    pub fn lag(&self) -> Duration {
        let now = self.started.elapsed();
        now.saturating_sub(Duration::from_millis(
            self.current_at_ms.load(Ordering::Relaxed),
        ))
    }

    /// Whether the follower's last attempt to reach the database failed.
    pub fn unreachable(&self) -> bool {
        self.unreachable.load(Ordering::Relaxed)
    }

    /// Whether the replica serves: it reaches the database and is at most
    /// `max_lag` behind it.
    pub fn is_current(&self) -> bool {
        !self.unreachable() && self.lag() <= self.settings.max_lag
    }

    /// Why reads are refused now, if they are (never with `serve_stale`).
    pub fn refusal(&self) -> Option<String> {
        if self.settings.serve_stale || self.is_current() {
            return None;
        }
        Some(if self.unreachable() {
            "this replica cannot reach its database, so its registry may be out of date; \
             retry on another replica"
                .to_owned()
        } else {
            format!(
                "this replica is {} ms behind its database (more than --max-lag, {} ms); \
                 retry on another replica",
                self.lag().as_millis(),
                self.settings.max_lag.as_millis()
            )
        })
    }

    fn read_log(&self, head: u64) {
        self.unreachable.store(false, Ordering::Relaxed);
        self.head.store(head, Ordering::Relaxed);
    }

    fn now_current(&self) {
        let now = self.started.elapsed().as_millis() as u64;
        self.current_at_ms.store(now, Ordering::Relaxed);
    }

    fn lost(&self) {
        self.unreachable.store(true, Ordering::Relaxed);
    }
}

/// Stops the follower thread (within [`POLL`]) when dropped.
pub struct Follower {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Drop for Follower {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Starts following the change log of the database `log` is connected to,
/// applying its entries to `engine` in order and noting in `replication`
/// how far behind it is.
pub fn follow(
    engine: Arc<Engine>,
    log: PostgresStore,
    replication: Arc<Replication>,
) -> std::io::Result<Follower> {
    let stop = Arc::new(AtomicBool::new(false));
    let stopped = Arc::clone(&stop);
    let thread = std::thread::Builder::new()
        .name("partnermatch-follower".to_owned())
        .spawn(move || run(&engine, log, &replication, &stopped))?;
    Ok(Follower {
        stop,
        thread: Some(thread),
    })
}

fn run(engine: &Engine, mut log: PostgresStore, replication: &Replication, stop: &AtomicBool) {
    let mut backoff = POLL;
    // Each problem is logged when it starts, not on every attempt.
    let mut failing = false;
    while !stop.load(Ordering::Relaxed) {
        match catch_up_then_wait(engine, &mut log, replication) {
            Ok(()) => {
                if std::mem::take(&mut failing) {
                    tracing::info!(version = engine.version(), "following the database again");
                }
                backoff = POLL;
            }
            Err(problem) => {
                if !failing {
                    match &problem {
                        Problem::Lost(error) => {
                            tracing::warn!(%error, "cannot follow the database; retrying");
                        }
                        Problem::Apply(error) => {
                            tracing::error!(%error, "cannot apply the database's changes; retrying");
                        }
                    }
                    failing = true;
                }
                if matches!(problem, Problem::Lost(_)) {
                    replication.lost();
                }
                std::thread::sleep(backoff);
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

/// Catches up, then waits until there is more to read: another
/// replica's write, or a poll's time since this read. A replica's own
/// writes are notified too: they need no read, unless the last read is old
/// enough to be worth renewing.
fn catch_up_then_wait(
    engine: &Engine,
    log: &mut PostgresStore,
    replication: &Replication,
) -> Result<(), Problem> {
    catch_up(engine, log, replication)?;
    let read_at = Instant::now();
    loop {
        let notified = log.wait_for_changes(POLL).map_err(Problem::Lost)?;
        let own = notified.is_some_and(|number| number <= engine.version());
        if !own || read_at.elapsed() >= POLL {
            return Ok(());
        }
    }
}

enum Problem {
    Lost(partnermatch_store::StoreError),
    Apply(String),
}

/// Applies every entry of the log after the engine's version.
fn catch_up(
    engine: &Engine,
    log: &mut PostgresStore,
    replication: &Replication,
) -> Result<(), Problem> {
    let since = engine.version();
    let tail = log.changes_after(since).map_err(Problem::Lost)?;
    replication.read_log(tail.head);
    if tail.head < since {
        return Err(Problem::Apply(format!(
            "the database is at version {}, behind this replica's {since} (was it restored from a backup?); restart the replica",
            tail.head
        )));
    }
    let entries = tail.changes.len();
    let version = engine
        .apply_replicated(tail.changes)
        .map_err(|error| Problem::Apply(error.to_string()))?;
    if entries > 0 {
        tracing::debug!(entries, version, "applied the database's changes");
    }
    if version >= tail.head {
        replication.now_current();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn replication(serve_stale: bool) -> Replication {
        Replication::new(
            ReplicationSettings {
                max_lag: Duration::from_millis(30),
                serve_stale,
            },
            7,
        )
    }

    /// Current while the follower keeps finding the registry whole; past
    /// --max-lag-secs without that, or at once when the database cannot be
    /// reached, reads are refused (not with --serve-stale), saying why.
    #[test]
    fn a_replica_is_current_until_it_lags_or_loses_the_database() {
        let strict = replication(false);
        assert!(strict.is_current());
        assert_eq!(strict.refusal(), None);
        std::thread::sleep(Duration::from_millis(60));
        assert!(!strict.is_current());
        let refusal = strict.refusal().expect("refused");
        assert!(refusal.contains("ms behind its database"), "{refusal}");
        strict.read_log(9);
        strict.now_current();
        assert!(strict.is_current());
        assert_eq!(strict.head(), 9);
        strict.lost();
        assert!(!strict.is_current());
        let refusal = strict.refusal().expect("refused");
        assert!(refusal.contains("cannot reach its database"), "{refusal}");
        strict.read_log(9);
        assert!(strict.is_current());

        let stale = replication(true);
        stale.lost();
        assert!(!stale.is_current());
        assert_eq!(stale.refusal(), None, "--serve-stale answers reads");
    }
}
