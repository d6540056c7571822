//! The matching engine: registry graph, scoring and ranking. Knows nothing of
//! gRPC; the API layer calls [`Engine`].
//!
//! Reads never wait for writes: every read works on an immutable
//! [`Snapshot`] loaded from an `ArcSwap`. A write validates its whole input,
//! then under the writer lock makes the change durable ([`Persistence`]),
//! applies it to the [`Registry`] and publishes the next snapshot, so a
//! rejected or failed write changes nothing and readers see each write whole
//! or not at all.

mod config;
mod error;
mod index;
mod matcher;
mod persistence;
mod registry;
mod scoring;
mod snapshot;

use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use arc_swap::ArcSwap;

use crate::domain::{Phase, School, Stage, StoredSchool};

pub use config::{
    ChallengeWeights, EngineConfig, FamilyConfig, MAX_WEIGHT, ScoringConfig, Weights,
};
pub use error::{Error, Result};
pub use index::{Bucket, LEAF_SIZE, Node as IndexNode, SearchIndex, Side, Tree, TreeKind};
pub use matcher::{
    MatchOutcome, MatchQuery, RankedCandidate, SearchStats, WeightedComponent, brute_force, limits,
    top_k,
};
pub use persistence::{Change, InMemory, Persistence, StorageError};
pub use registry::{Node, Registry, Relation, UpsertCounts, challenge_index};
pub use scoring::{
    Component, Coverage, Detail, Factor, GroupBounder, GroupSummary, Profile, ScoringContext,
    SplitCoverage, language_affinity, phase_affinity, proximity_value,
};
pub use snapshot::Snapshot;

/// Which schools a listing returns. Empty strings and `None` mean any.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListFilter {
    /// Case-insensitive exact match.
    pub consortium: String,
    /// Case-insensitive exact match.
    pub local_authority: String,
    pub phase: Option<Phase>,
    pub stage: Option<Stage>,
    /// Exact family id (given or computed).
    pub family_id: String,
}

impl ListFilter {
    fn admits(&self, stored: &StoredSchool) -> bool {
        let school = &stored.school;
        let text_matches = |wanted: &str, value: &str| {
            wanted.is_empty() || wanted.trim().eq_ignore_ascii_case(value.trim())
        };
        text_matches(&self.consortium, &school.consortium)
            && text_matches(&self.local_authority, &school.local_authority)
            && self.phase.is_none_or(|phase| phase == school.phase)
            && self.stage.is_none_or(|stage| Some(stage) == school.stage)
            && (self.family_id.is_empty()
                || stored.family_id.as_deref() == Some(self.family_id.as_str()))
    }
}

/// One page of a listing.
#[derive(Debug, Clone)]
pub struct ListPage {
    pub schools: Vec<Arc<StoredSchool>>,
    /// Id of the last school on this page when more follow.
    pub next_after: Option<String>,
    /// Schools matching the filter over all pages.
    pub total: u32,
}

/// The result of one upsert.
#[derive(Debug, Clone)]
pub struct Upserted {
    pub school: Arc<StoredSchool>,
    pub created: bool,
}

/// What the writer lock guards: the registry and where its writes go.
struct Writer {
    registry: Registry,
    persistence: Box<dyn Persistence>,
}

pub struct Engine {
    config: Arc<EngineConfig>,
    snapshot: ArcSwap<Snapshot>,
    writer: Mutex<Writer>,
}

impl Engine {
    /// An empty engine that keeps its data in memory only.
    pub fn new(config: EngineConfig) -> Engine {
        Engine::open(config, Box::new(InMemory), Vec::new())
            .expect("an empty registry is always valid")
    }

    /// An in-memory engine holding `schools`, each validated first.
    pub fn with_schools(config: EngineConfig, schools: Vec<School>) -> Result<Engine> {
        let engine = Engine::new(config);
        engine.upsert_batch(schools)?;
        Ok(engine)
    }

    /// An engine over `schools` already held by `persistence` (read back from
    /// it at start-up, so not written again), which receives every later
    /// write. The schools are validated: a store edited by hand may hold
    /// values the API would refuse.
    pub fn open(
        config: EngineConfig,
        persistence: Box<dyn Persistence>,
        schools: Vec<School>,
    ) -> Result<Engine> {
        validate_all(&schools)?;
        let config = Arc::new(config);
        let mut registry = Registry::new(Arc::clone(&config));
        registry.upsert_all(schools);
        Ok(Engine {
            snapshot: ArcSwap::from_pointee(Snapshot::build(&registry)),
            writer: Mutex::new(Writer {
                registry,
                persistence,
            }),
            config,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The current snapshot; holding it never blocks writers.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.snapshot.load_full()
    }

    pub fn get(&self, id: &str) -> Result<Arc<StoredSchool>> {
        self.snapshot
            .load()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::school_not_found(id))
    }

    /// Schools matching `filter` with ids after `after`, at most `page_size`.
    pub fn list(&self, filter: &ListFilter, after: Option<&str>, page_size: usize) -> ListPage {
        let snapshot = self.snapshot.load();
        let mut total = 0u32;
        let mut schools = Vec::with_capacity(page_size.min(snapshot.len()));
        let mut more = false;
        for stored in snapshot.schools() {
            if !filter.admits(stored) {
                continue;
            }
            total += 1;
            if after.is_some_and(|after| stored.school.id.as_str() <= after) {
                continue;
            }
            if schools.len() < page_size {
                schools.push(Arc::clone(stored));
            } else {
                more = true;
            }
        }
        let next_after = more
            .then(|| schools.last().map(|last| last.school.id.to_string()))
            .flatten();
        ListPage {
            schools,
            next_after,
            total,
        }
    }

    /// Creates or replaces one school.
    pub fn upsert(&self, school: School) -> Result<Upserted> {
        let violations = school.validate();
        if !violations.is_empty() {
            return Err(Error::Invalid(violations));
        }
        let id = school.id.clone();
        let mut writer = self.lock_writer()?;
        let counts = self.apply_upserts(&mut writer, vec![school])?;
        let stored = writer
            .registry
            .get(id.as_str())
            .cloned()
            .ok_or_else(|| Error::Internal(format!("school {id} vanished during upsert")))?;
        Ok(Upserted {
            school: stored,
            created: counts.created == 1,
        })
    }

    /// Creates or replaces many schools in one step: all are validated first
    /// and, if any is invalid, nothing changes. Schools identical to the
    /// stored ones are counted as unchanged and not written again, so
    /// importing the same data twice changes nothing the second time.
    pub fn upsert_batch(&self, schools: Vec<School>) -> Result<UpsertCounts> {
        validate_all(&schools)?;
        let mut writer = self.lock_writer()?;
        self.apply_upserts(&mut writer, schools)
    }

    /// Removes a school.
    pub fn delete(&self, id: &str) -> Result<Arc<StoredSchool>> {
        let mut writer = self.lock_writer()?;
        if writer.registry.get(id).is_none() {
            return Err(Error::school_not_found(id));
        }
        writer.persistence.persist(Change::DeleteSchool(id))?;
        let removed = writer
            .registry
            .delete(id)
            .ok_or_else(|| Error::Internal(format!("school {id} vanished during delete")))?;
        self.publish(&writer.registry);
        Ok(removed)
    }

    /// Ranked partners for one school (the fast path), handed to `read`
    /// while the snapshot they come from is held: the outcome borrows from
    /// it rather than copying or counting references.
    pub fn match_partners<T>(
        &self,
        query: &MatchQuery,
        read: impl FnOnce(&MatchOutcome<'_>) -> T,
    ) -> Result<T> {
        let snapshot = self.snapshot.load();
        Ok(read(&top_k(&snapshot, query, &self.config.scoring)?))
    }

    /// Ranked partners by scoring every school: the reference for tests and
    /// benchmarks.
    pub fn match_brute_force<T>(
        &self,
        query: &MatchQuery,
        read: impl FnOnce(&MatchOutcome<'_>) -> T,
    ) -> Result<T> {
        let snapshot = self.snapshot.load();
        Ok(read(&brute_force(&snapshot, query, &self.config.scoring)?))
    }

    /// Whether a write is being applied right now (the writer holds the
    /// registry). Reads never wait for it; tests use this to show that.
    pub fn write_in_progress(&self) -> bool {
        matches!(self.writer.try_lock(), Err(TryLockError::WouldBlock))
    }

    /// Persists the schools that differ from the stored ones, then applies
    /// the batch and publishes the next snapshot (only if anything changed).
    fn apply_upserts(&self, writer: &mut Writer, schools: Vec<School>) -> Result<UpsertCounts> {
        let changed: Vec<&School> = schools
            .iter()
            .filter(|school| {
                writer
                    .registry
                    .get(school.id.as_str())
                    .is_none_or(|stored| stored.school != **school)
            })
            .collect();
        if changed.is_empty() {
            return Ok(UpsertCounts {
                unchanged: schools.len() as u32,
                ..UpsertCounts::default()
            });
        }
        writer
            .persistence
            .persist(Change::UpsertSchools(&changed))?;
        let counts = writer.registry.upsert_all(schools);
        self.publish(&writer.registry);
        Ok(counts)
    }

    fn lock_writer(&self) -> Result<MutexGuard<'_, Writer>> {
        // A poisoned lock means a writer panicked mid-write; refuse rather than
        // serve a registry that may be half-changed.
        self.writer
            .lock()
            .map_err(|_| Error::Internal("registry writer lock poisoned".to_owned()))
    }

    fn publish(&self, registry: &Registry) {
        self.snapshot.store(Arc::new(Snapshot::build(registry)));
    }
}

/// Every violation of every school, with field paths `schools[i].…`.
fn validate_all(schools: &[School]) -> Result<()> {
    let mut violations = crate::domain::Violations::new();
    for (i, school) in schools.iter().enumerate() {
        violations.extend(school.validate().prefixed(&format!("schools[{i}]")));
    }
    if violations.is_empty() {
        Ok(())
    } else {
        Err(Error::Invalid(violations))
    }
}
