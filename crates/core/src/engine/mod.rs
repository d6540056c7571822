//! The matching engine: registry graph, scoring and ranking. Knows nothing of
//! gRPC; the API layer calls [`Engine`].
//!
//! Reads never wait for writes: every read works on an immutable
//! [`Snapshot`] loaded from an `ArcSwap`. A write validates its whole input,
//! then under the writer lock makes the change durable ([`Persistence`]),
//! applies it to the [`Registry`] and publishes the next snapshot, so a
//! rejected or failed write changes nothing and readers see each write whole
//! or not at all.

mod broker;
mod chunked;
mod config;
mod error;
mod families;
mod flow;
mod groups;
mod index;
mod matcher;
mod merger;
mod partnerships;
mod persistence;
mod prefetch;
mod registry;
mod scoring;
mod snapshot;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard, TryLockError};

use arc_swap::ArcSwap;

use crate::domain::{
    Evaluation, FocusArea, MemberRole, Partnership, Phase, School, SchoolId, Stage, StoredSchool,
    latest_grade_between,
};

use broker::broker_with_progress;
pub(crate) use broker::select_seekers;
use families::compute_families;
use groups::form_groups;
use merger::{Merger, Publication};
use registry::Registry;

pub use broker::{
    AssignmentSummary, BrokerOutcome, BrokerQuery, Pairing, SeekerFilter, SeekerSelection,
    Unassigned, limits as broker_limits,
};
pub use config::{
    ChallengeWeights, EngineConfig, EvidenceConfig, FamilyConfig, ScoringConfig, Weights,
};
pub use error::{Error, Result};
pub use families::{ComputedFamily, FamilyLabel, validate_sizes};
pub use groups::{FormedGroup, GroupKind, GroupQuery, GroupsOutcome};
pub use matcher::{
    Constraints, MatchOutcome, MatchQuery, RankedCandidate, SearchStats, WeightedComponent,
    brute_force, limits, top_k,
};
pub use partnerships::{
    FocusWarning, PartnershipChanges, PartnershipFilter, PartnershipUpdate, Proposal,
};
pub use persistence::{Change, InMemory, Persistence, StorageError};
pub use registry::UpsertCounts;
pub use scoring::{AreaGrades, Component, Factor, PerFactor};
pub use snapshot::{Schools, SchoolsIter, Snapshot};

/// A supported school's grade in one focus area of a partnership, before it
/// started and after it finished: evidence of impact, not scored.
#[derive(Debug, Clone, PartialEq)]
pub struct AreaImpact {
    pub school_id: SchoolId,
    pub area: FocusArea,
    pub before: Option<Evaluation>,
    pub after: Option<Evaluation>,
}

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
    /// Exact trust code.
    pub trust_code: String,
}

impl ListFilter {
    /// Whether the filter admits `stored`, whose family number is `family`;
    /// `wanted_family` is the number of the family asked for (`None` when
    /// the filter asks for none, `Some(None)` when no school has it).
    fn admits(
        &self,
        stored: &StoredSchool,
        family: u32,
        wanted_family: Option<Option<u32>>,
    ) -> bool {
        let school = &stored.school;
        let text_matches = |wanted: &str, value: &str| {
            wanted.is_empty() || wanted.trim().eq_ignore_ascii_case(value.trim())
        };
        text_matches(&self.consortium, &school.consortium)
            && text_matches(&self.local_authority, &school.local_authority)
            && self.phase.is_none_or(|phase| phase == school.phase)
            && self.stage.is_none_or(|stage| Some(stage) == stored.stage())
            && wanted_family.is_none_or(|wanted| wanted == Some(family))
            && (self.trust_code.is_empty()
                || school
                    .affiliations
                    .trust
                    .as_ref()
                    .is_some_and(|trust| trust.code == self.trust_code))
    }
}

/// What [`Engine::update_stored`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredUpdates {
    pub counts: UpsertCounts,
    /// Positions of the items whose school is not stored (in order).
    pub missing: Vec<usize>,
}

/// The families of the registry at some sizes.
#[derive(Debug, Clone)]
pub struct FamiliesReport {
    pub families: Vec<ComputedFamily>,
    /// Schools whose data gives their family (not computed).
    pub given: u32,
    /// Schools with no index of challenge and no given family: no family.
    pub without_challenge: u32,
    pub sizes: FamilyConfig,
    /// Whether these are the sizes the registry uses (else a preview).
    pub in_use: bool,
}

/// One page of a listing in id order (schools, partnerships).
#[derive(Debug, Clone)]
pub struct Page<T> {
    pub items: Vec<T>,
    /// Id of the last item on this page when more follow.
    pub next_after: Option<String>,
    /// Items matching the filter over all pages.
    pub total: u32,
}

/// A stored school with its family (given or computed) as the snapshot it
/// was read from has it: a computed family is a place in its group's cut,
/// kept apart from the record.
#[derive(Debug, Clone)]
pub struct SchoolView {
    pub stored: Arc<StoredSchool>,
    pub family_id: Option<String>,
}

/// The result of one upsert.
#[derive(Debug, Clone)]
pub struct Upserted {
    pub school: SchoolView,
    pub created: bool,
}

/// What a store holds, read back at start-up.
#[derive(Debug, Default)]
pub struct Records {
    pub schools: Vec<School>,
    pub partnerships: Vec<Partnership>,
    /// The registry version they are at: the number of the last write the
    /// store holds (0 for a fresh store, or one that does not count).
    pub version: u64,
}

impl Records {
    /// Whether there is nothing at all (a fresh database to seed).
    pub fn is_empty(&self) -> bool {
        self.schools.is_empty() && self.partnerships.is_empty()
    }
}

/// What the writer lock guards: the registry and where its writes go.
struct Writer {
    registry: Registry,
    persistence: Box<dyn Persistence>,
    /// Writes applied to the registry so far: the first write after a
    /// snapshot was built is not visible until the next is published.
    applied: u64,
    /// The registry version: the number of the last write (this server's
    /// or, with a shared store, another's) the registry holds.
    version: u64,
}

impl Writer {
    /// Notes a write applied to the registry (and persisted).
    fn applied(&mut self) {
        self.applied += 1;
    }

    /// Starts a write: applies what other servers sharing the store wrote
    /// since this registry's version, so the write is checked against the
    /// latest state.
    fn begin(&mut self) -> Result<()> {
        for (version, replicated) in self.persistence.begin(self.version)? {
            self.replicate(version, replicated)?;
        }
        Ok(())
    }

    /// Makes `change` durable: the next registry version.
    fn persist(&mut self, change: Change<'_>) -> Result<()> {
        self.persistence.persist(change)?;
        self.version += 1;
        Ok(())
    }

    /// Applies change `version` of another server's, as the store holds it
    /// now; one this registry holds already changes nothing. The records
    /// are checked as a store's are at start-up (all or nothing: a record
    /// partnermatch would not write, or a partnership naming a school the
    /// registry would not then hold, changes nothing), but no rule of the
    /// write itself (capacity, lifecycle, version) is applied again: the
    /// server that made it did, against the same state.
    fn replicate(&mut self, version: u64, replicated: Replicated) -> Result<()> {
        if version <= self.version {
            return Ok(());
        }
        if version != self.version + 1 {
            return Err(Error::Internal(format!(
                "replicated change {version} does not follow version {} (a change is missing)",
                self.version
            )));
        }
        let Replicated {
            schools,
            partnerships,
            deleted,
        } = replicated;
        validate_all(&schools)?;
        for partnership in &partnerships {
            let violations =
                crate::domain::validate_members(partnership.kind, &partnership.members);
            if !violations.is_empty() {
                return Err(Error::Invalid(violations));
            }
        }
        let registry = &self.registry;
        let held = |id: &SchoolId| {
            (registry.get(id.as_str()).is_some() || schools.iter().any(|school| school.id == *id))
                && !deleted.contains(id)
        };
        for partnership in &partnerships {
            if let Some(member) = partnership
                .members
                .iter()
                .find(|member| !held(&member.school_id))
            {
                return Err(Error::FailedPrecondition(format!(
                    "replicated partnership {} names school {}, which this server does not hold",
                    partnership.id, member.school_id
                )));
            }
        }
        for id in &deleted {
            if let Some(ids) = kept_by(registry, id.as_str()) {
                return Err(Error::FailedPrecondition(format!(
                    "replicated delete of school {id}, which partnership(s) {ids} keep here"
                )));
            }
        }
        self.registry.upsert_all(schools);
        for partnership in partnerships {
            self.registry.put_partnership(Arc::new(partnership));
        }
        for id in &deleted {
            self.registry.delete(id.as_str());
        }
        self.version = version;
        self.applied();
        Ok(())
    }
}

/// What another server sharing the database wrote, read back from the
/// database: for [`Engine::apply_replicated`].
#[derive(Debug, Clone, Default)]
pub struct Replicated {
    /// Schools created or changed, as the database holds them.
    pub schools: Vec<School>,
    /// Partnerships proposed or changed, as the database holds them.
    pub partnerships: Vec<Partnership>,
    /// Schools deleted.
    pub deleted: Vec<SchoolId>,
}

pub struct Engine {
    config: Arc<EngineConfig>,
    /// The current snapshot, and the count of writes it includes, held
    /// while one is built: the writers that queue behind a build are all
    /// served by the next one (group publish), rather than each building
    /// its own. The merger holds it too while it installs merged trees.
    publication: Publication,
    writer: Mutex<Writer>,
    /// Builds the index's overflowing buckets again off the write path.
    merger: Merger,
}

impl Engine {
    /// An empty engine that keeps its data in memory only.
    pub fn new(config: EngineConfig) -> Engine {
        Engine::open(config, Box::new(InMemory), Records::default())
            .expect("an empty registry is always valid")
    }

    /// An in-memory engine holding `schools`, each validated first.
    pub fn with_schools(config: EngineConfig, schools: Vec<School>) -> Result<Engine> {
        let engine = Engine::new(config);
        engine.upsert_batch(schools)?;
        Ok(engine)
    }

    /// An engine over `records` already held by `persistence` (read back
    /// from it at start-up, so not written again), which receives every
    /// later write. The records are checked: a store edited by hand may hold
    /// values the API would refuse.
    pub fn open(
        config: EngineConfig,
        persistence: Box<dyn Persistence>,
        records: Records,
    ) -> Result<Engine> {
        validate_all(&records.schools)?;
        // Evidence is judged at one date for the engine's life.
        let mut config = config;
        config.evidence.as_of = Some(config.evidence.rules().as_of);
        let config = Arc::new(config);
        let mut registry = Registry::new(Arc::clone(&config));
        registry.upsert_all(records.schools);
        for partnership in records.partnerships {
            if let Some(missing) = partnership
                .members
                .iter()
                .find(|member| registry.get(member.school_id.as_str()).is_none())
            {
                return Err(Error::FailedPrecondition(format!(
                    "partnership {} names school {}, which is not in the registry",
                    partnership.id, missing.school_id
                )));
            }
            registry.put_partnership(Arc::new(partnership));
        }
        let mut snapshot = Snapshot::build(&registry);
        snapshot.version = records.version;
        registry.take_changes();
        let publication = Publication {
            current: Arc::new(ArcSwap::from_pointee(snapshot)),
            published: Arc::new(Mutex::new(0)),
        };
        let merger = Merger::start(publication.clone()).map_err(|error| {
            Error::Internal(format!("cannot start the index merger thread: {error}"))
        })?;
        Ok(Engine {
            publication,
            writer: Mutex::new(Writer {
                registry,
                persistence,
                applied: 0,
                version: records.version,
            }),
            merger,
            config,
        })
    }

    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The current snapshot; holding it never blocks writers.
    pub fn snapshot(&self) -> Arc<Snapshot> {
        self.publication.current.load_full()
    }

    pub fn get(&self, id: &str) -> Result<Arc<StoredSchool>> {
        self.publication
            .current
            .load()
            .get(id)
            .cloned()
            .ok_or_else(|| Error::school_not_found(id))
    }

    /// A school with its family, read from one snapshot.
    pub fn school(&self, id: &str) -> Result<SchoolView> {
        let snapshot = self.publication.current.load();
        let index = snapshot
            .index_of(id)
            .ok_or_else(|| Error::school_not_found(id))?;
        Ok(SchoolView {
            stored: Arc::clone(snapshot.record(index)),
            family_id: snapshot.family_id(index),
        })
    }

    /// Schools matching `filter` with ids after `after`, at most `page_size`.
    pub fn list(
        &self,
        filter: &ListFilter,
        after: Option<&str>,
        page_size: usize,
    ) -> Page<SchoolView> {
        let snapshot = self.publication.current.load();
        let wanted_family =
            (!filter.family_id.is_empty()).then(|| snapshot.family_number(&filter.family_id));
        let page = paginate(
            snapshot.schools().indexed().filter(|(index, stored)| {
                filter.admits(stored, snapshot.profile(*index).family, wanted_family)
            }),
            |(_, stored)| stored.school.id.as_str(),
            after,
            page_size,
        );
        Page {
            items: page
                .items
                .into_iter()
                .map(|(index, stored)| SchoolView {
                    stored: Arc::clone(stored),
                    family_id: snapshot.family_id(index),
                })
                .collect(),
            next_after: page.next_after,
            total: page.total,
        }
    }

    /// The latest date an evaluation written now may carry: the day after
    /// the evidence date (see [`crate::domain::latest_evaluation_date`]).
    pub fn latest_evaluation_date(&self) -> jiff::civil::Date {
        crate::domain::latest_evaluation_date(self.config.evidence.rules().as_of)
    }

    /// [`validate_all`], and no evaluation from the future: for what this
    /// server writes (what it reads back or another replica wrote was
    /// checked when written).
    fn validate_written(&self, schools: &[School]) -> Result<()> {
        validate_all(schools)?;
        let latest = self.latest_evaluation_date();
        let mut violations = crate::domain::Violations::new();
        for (i, school) in schools.iter().enumerate() {
            violations.extend(
                crate::domain::future_evaluations(&school.evaluations, latest)
                    .prefixed(&format!("schools[{i}]")),
            );
        }
        if violations.is_empty() {
            Ok(())
        } else {
            Err(Error::Invalid(violations))
        }
    }

    /// Creates or replaces one school.
    pub fn upsert(&self, school: School) -> Result<Upserted> {
        let mut violations = school.validate();
        violations.extend(crate::domain::future_evaluations(
            &school.evaluations,
            self.latest_evaluation_date(),
        ));
        if !violations.is_empty() {
            return Err(Error::Invalid(violations));
        }
        let id = school.id.clone();
        self.write(|writer| {
            let counts = apply_upserts(writer, vec![school])?;
            let stored =
                writer.registry.get(id.as_str()).cloned().ok_or_else(|| {
                    Error::Internal(format!("school {id} vanished during upsert"))
                })?;
            let family_id = writer.registry.family_of(&stored).map(|family| family.id());
            Ok(Upserted {
                school: SchoolView { stored, family_id },
                created: counts.created == 1,
            })
        })
    }

    /// Creates or replaces many schools in one step: all are validated first
    /// and, if any is invalid, nothing changes. Schools identical to the
    /// stored ones are counted as unchanged and not written again, so
    /// importing the same data twice changes nothing the second time.
    pub fn upsert_batch(&self, schools: Vec<School>) -> Result<UpsertCounts> {
        self.validate_written(&schools)?;
        self.write(|writer| apply_upserts(writer, schools))
    }

    /// Changes schools already stored, in one step (all or nothing, like
    /// [`Engine::upsert_batch`]), under the writer lock so no write in
    /// between is lost: each `(id, item)` is applied by `change` to the
    /// school as the items before it left it, so two items for one school
    /// both count. Nothing is created: the positions of items whose school
    /// is not stored are returned, and those items are left out.
    pub fn update_stored<T>(
        &self,
        items: Vec<(SchoolId, T)>,
        change: impl Fn(&mut School, T),
    ) -> Result<StoredUpdates> {
        self.write(|writer| {
            let mut changed: Vec<School> = Vec::new();
            let mut slot: HashMap<SchoolId, usize> = HashMap::new();
            let mut missing = Vec::new();
            for (position, (id, item)) in items.into_iter().enumerate() {
                let at = match slot.get(&id) {
                    Some(&at) => at,
                    None => match writer.registry.get(id.as_str()) {
                        Some(stored) => {
                            changed.push(stored.school.clone());
                            slot.insert(id, changed.len() - 1);
                            changed.len() - 1
                        }
                        None => {
                            missing.push(position);
                            continue;
                        }
                    },
                };
                change(&mut changed[at], item);
            }
            self.validate_written(&changed)?;
            let counts = apply_upserts(writer, changed)?;
            Ok(StoredUpdates { counts, missing })
        })
    }

    /// [`Engine::upsert_batch`] for an import that holds only some of a
    /// school's fields: each school already stored is first combined with
    /// the stored one by `merge` (which keeps what the import does not
    /// hold), under the same lock, so no write in between is lost. All or
    /// nothing, like [`Engine::upsert_batch`].
    pub fn merge_batch(
        &self,
        schools: Vec<School>,
        merge: impl Fn(&School, School) -> School,
    ) -> Result<UpsertCounts> {
        self.write(|writer| {
            let merged: Vec<School> = schools
                .into_iter()
                .map(|incoming| match writer.registry.get(incoming.id.as_str()) {
                    Some(stored) => merge(&stored.school, incoming),
                    None => incoming,
                })
                .collect();
            self.validate_written(&merged)?;
            apply_upserts(writer, merged)
        })
    }

    /// Removes a school that is in no partnership: the record of a
    /// partnership keeps its members (mark a school closed instead).
    pub fn delete(&self, id: &str) -> Result<Arc<StoredSchool>> {
        self.write(|writer| {
        if writer.registry.get(id).is_none() {
            return Err(Error::school_not_found(id));
        }
        if let Some(ids) = kept_by(&writer.registry, id) {
            return Err(Error::FailedPrecondition(format!(
                "school {id:?} is a member of partnership(s) {ids}, whose record keeps it; set open to false to close it instead"
            )));
        }
        writer.persist(Change::DeleteSchool(id))?;
        let removed = writer
            .registry
            .delete(id)
            .ok_or_else(|| Error::Internal(format!("school {id} vanished during delete")))?;
        writer.applied();
        Ok(removed)
        })
    }

    /// Applies what other servers sharing the store wrote, as the store
    /// holds it now: `changes` in order, each with its version (one the
    /// registry holds already changes nothing), published together.
    /// Persists nothing, since the store has it already. A change that
    /// cannot be applied stops there, with the ones before it applied.
    /// Returns the registry version after.
    pub fn apply_replicated(&self, changes: Vec<(u64, Replicated)>) -> Result<u64> {
        self.locked(|writer| {
            for (version, replicated) in changes {
                writer.replicate(version, replicated)?;
            }
            Ok(writer.version)
        })
    }

    /// The registry version of the current snapshot: the number of the
    /// last write it holds.
    pub fn version(&self) -> u64 {
        self.publication.current.load().version()
    }

    /// Records a new partnership as PROPOSED.
    pub fn propose_partnership(&self, proposal: Proposal) -> Result<Arc<Partnership>> {
        let violations = proposal.validate();
        if !violations.is_empty() {
            return Err(Error::Invalid(violations));
        }
        self.write(|writer| {
            let partnership =
                partnerships::propose(&writer.registry, proposal, jiff::Timestamp::now())?;
            put_partnership(writer, partnership)
        })
    }

    /// The focus areas of `partnership` that neither side has, by its
    /// members' strengths and needs now ([`FocusWarning`]).
    pub fn focus_warnings(&self, partnership: &Partnership) -> Vec<FocusWarning> {
        let snapshot = self.publication.current.load();
        partnerships::focus_warnings(partnership, |id| {
            snapshot
                .get(id)
                .map(|stored| (stored.strengths(), stored.needs()))
        })
    }

    /// Changes a partnership's status or fields, if `update.version` is its
    /// current version. An update that changes nothing returns it as it is.
    pub fn update_partnership(&self, update: PartnershipUpdate) -> Result<Arc<Partnership>> {
        let violations = update.validate();
        if !violations.is_empty() {
            return Err(Error::Invalid(violations));
        }
        let id = update.id.clone();
        self.write(|writer| {
            match partnerships::update(&writer.registry, update, jiff::Timestamp::now())? {
                Some(next) => put_partnership(writer, next),
                None => writer
                    .registry
                    .partnership(id.as_str())
                    .cloned()
                    .ok_or_else(|| Error::partnership_not_found(id.as_str())),
            }
        })
    }

    /// A partnership with the evidence of its impact, both read from one
    /// snapshot: the supported schools' grades in the partnership's focus
    /// areas before it started and after it finished (README "Evidence"),
    /// one entry per supported member (every member of a partnership
    /// without one, such as peers) and area with some evidence; none before
    /// the partnership starts.
    pub fn get_partnership_with_impact(
        &self,
        id: &str,
    ) -> Result<(Arc<Partnership>, Vec<AreaImpact>)> {
        let snapshot = self.publication.current.load();
        let partnership = snapshot
            .partnership(id)
            .cloned()
            .ok_or_else(|| Error::partnership_not_found(id))?;
        let impact = partnership_impact(&snapshot, &partnership);
        Ok((partnership, impact))
    }

    pub fn get_partnership(&self, id: &str) -> Result<Arc<Partnership>> {
        self.publication
            .current
            .load()
            .partnership(id)
            .cloned()
            .ok_or_else(|| Error::partnership_not_found(id))
    }

    /// Partnerships matching `filter` with ids after `after`, at most
    /// `page_size`, in id order.
    pub fn list_partnerships(
        &self,
        filter: &PartnershipFilter,
        after: Option<&str>,
        page_size: usize,
    ) -> Page<Arc<Partnership>> {
        let snapshot = self.publication.current.load();
        let in_consortium = |partnership: &Partnership| {
            let wanted = filter.consortium.trim();
            wanted.is_empty()
                || partnership.members.iter().any(|member| {
                    snapshot
                        .get(member.school_id.as_str())
                        .is_some_and(|s| s.school.consortium.trim().eq_ignore_ascii_case(wanted))
                })
        };
        paginate(
            snapshot
                .partnerships()
                .iter()
                .filter(|partnership| {
                    (filter.school_id.is_empty() || partnership.has_member(&filter.school_id))
                        && filter
                            .status
                            .is_none_or(|status| status == partnership.status)
                        && filter.kind.is_none_or(|kind| kind == partnership.kind)
                        && in_consortium(partnership)
                })
                .cloned(),
            |partnership| partnership.id.as_str(),
            after,
            page_size,
        )
    }

    /// Ranked partners for one school (the fast path), handed to `read`
    /// while the snapshot they come from is held: the outcome borrows from
    /// it rather than copying or counting references.
    pub fn match_partners<T>(
        &self,
        query: &MatchQuery,
        read: impl FnOnce(&MatchOutcome<'_>) -> T,
    ) -> Result<T> {
        let snapshot = self.publication.current.load();
        Ok(read(&top_k(&snapshot, query, &self.config.scoring)?))
    }

    /// The computed families at `sizes` (the ones in use when `None`), with
    /// how many schools have a family of their own and how many have no
    /// index of challenge (so no computed family).
    pub fn families(&self, sizes: Option<FamilyConfig>) -> Result<FamiliesReport> {
        let sizes = sizes.unwrap_or(self.config.families);
        let violations = validate_sizes(&sizes);
        if !violations.is_empty() {
            return Err(Error::Invalid(violations));
        }
        let snapshot = self.publication.current.load();
        let schools = snapshot.schools().iter().map(|stored| stored.as_ref());
        Ok(FamiliesReport {
            families: compute_families(schools, &sizes),
            given: snapshot
                .schools()
                .iter()
                .filter(|s| s.school.given_family().is_some())
                .count() as u32,
            without_challenge: snapshot
                .schools()
                .iter()
                .filter(|s| s.school.given_family().is_none() && s.challenge_index.is_none())
                .count() as u32,
            in_use: sizes == self.config.families,
            sizes,
        })
    }

    /// Proposes clusters or federations (see [`form_groups`]).
    pub fn form_groups(&self, query: &GroupQuery) -> Result<(Arc<Snapshot>, GroupsOutcome)> {
        let snapshot = self.publication.current.load_full();
        let outcome = form_groups(&snapshot, query, &self.config.scoring)?;
        Ok((snapshot, outcome))
    }

    /// Pairs many seekers with partners at once, maximising the total score
    /// within every school's free places (see [`broker`]); handed to `read`
    /// while the snapshot it borrows from is held.
    pub fn broker<T>(
        &self,
        query: &BrokerQuery,
        read: impl FnOnce(&BrokerOutcome<'_>) -> T,
    ) -> Result<T> {
        self.broker_with_progress(query, &|_, _| {}, read)
    }

    /// [`Engine::broker`], reporting `progress(done, seekers)`.
    pub fn broker_with_progress<T>(
        &self,
        query: &BrokerQuery,
        progress: &dyn Fn(usize, usize),
        read: impl FnOnce(&BrokerOutcome<'_>) -> T,
    ) -> Result<T> {
        let snapshot = self.publication.current.load();
        Ok(read(&broker_with_progress(
            &snapshot,
            query,
            &self.config.scoring,
            progress,
        )?))
    }

    /// Ranked partners by scoring every school: the reference for tests and
    /// benchmarks.
    pub fn match_brute_force<T>(
        &self,
        query: &MatchQuery,
        read: impl FnOnce(&MatchOutcome<'_>) -> T,
    ) -> Result<T> {
        let snapshot = self.publication.current.load();
        Ok(read(&brute_force(&snapshot, query, &self.config.scoring)?))
    }

    /// Whether a write is being applied right now (the writer holds the
    /// registry). Reads never wait for it; tests use this to show that.
    pub fn write_in_progress(&self) -> bool {
        matches!(self.writer.try_lock(), Err(TryLockError::WouldBlock))
    }

    /// Persists the schools that differ from the stored ones, then applies
    /// the batch and publishes the next snapshot (only if anything changed).
    /// Runs `apply` under the writer lock, then returns once a snapshot
    /// holding its write (and any applied before it) is published: the
    /// writer's caller reads its own write. Writers that queue while a
    /// snapshot is built are published together by the next build.
    fn write<T>(&self, apply: impl FnOnce(&mut Writer) -> Result<T>) -> Result<T> {
        self.locked(|writer| {
            let result = writer.begin().and_then(|()| apply(writer));
            writer.persistence.finish();
            result
        })
    }

    /// [`Engine::write`] without the store's `begin` and `finish`: for
    /// what the store has already.
    fn locked<T>(&self, apply: impl FnOnce(&mut Writer) -> Result<T>) -> Result<T> {
        let (result, through) = {
            let mut writer = self.lock_writer()?;
            let result = apply(&mut writer);
            (result, writer.applied)
        };
        self.publish_through(through)?;
        result
    }

    /// Publishes a snapshot holding at least the first `through` writes,
    /// unless one already does.
    fn publish_through(&self, through: u64) -> Result<()> {
        let mut published = self
            .publication
            .published
            .lock()
            .map_err(|_| Error::Internal("snapshot publisher lock poisoned".to_owned()))?;
        if *published >= through {
            return Ok(());
        }
        let mut writer = self.lock_writer()?;
        let changes = writer.registry.take_changes();
        let mut snapshot = self
            .publication
            .current
            .load()
            .after(&writer.registry, &changes);
        snapshot.version = writer.version;
        let applied = writer.applied;
        drop(writer);
        let merge = !snapshot.merges_due().is_empty();
        self.publication.current.store(Arc::new(snapshot));
        *published = applied;
        drop(published);
        if merge {
            self.merger.wake();
        }
        Ok(())
    }

    /// Merges now, on this thread, every bucket of the index whose overlay
    /// of writes is due (the merger thread does this after writes); returns
    /// how many it installed. For tests and benchmarks that want the index
    /// in a known state.
    pub fn merge_index(&self) -> usize {
        self.publication.merge_due()
    }

    fn lock_writer(&self) -> Result<MutexGuard<'_, Writer>> {
        // A poisoned lock means a writer panicked mid-write; refuse rather than
        // serve a registry that may be half-changed.
        self.writer
            .lock()
            .map_err(|_| Error::Internal("registry writer lock poisoned".to_owned()))
    }
}

/// The ids of the partnerships whose record keeps school `id` (so it
/// cannot be deleted), comma-separated; `None` when none do.
fn kept_by(registry: &Registry, id: &str) -> Option<String> {
    let partnerships = registry.partnerships_of(id);
    (!partnerships.is_empty()).then(|| {
        partnerships
            .iter()
            .map(|partnership| partnership.id.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    })
}

fn apply_upserts(writer: &mut Writer, schools: Vec<School>) -> Result<UpsertCounts> {
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
    writer.persist(Change::UpsertSchools(&changed))?;
    let counts = writer.registry.upsert_all(schools);
    writer.applied();
    Ok(counts)
}

fn put_partnership(writer: &mut Writer, partnership: Partnership) -> Result<Arc<Partnership>> {
    writer.persist(Change::PutPartnership(&partnership))?;
    let partnership = Arc::new(partnership);
    writer.registry.put_partnership(Arc::clone(&partnership));
    writer.applied();
    Ok(partnership)
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

/// One page of `items` (in id order): those with ids after `after`, at most
/// `page_size`, the id of the last one when more follow, and the count of
/// all `items`.
fn paginate<T>(
    items: impl Iterator<Item = T>,
    id_of: impl Fn(&T) -> &str,
    after: Option<&str>,
    page_size: usize,
) -> Page<T> {
    let mut total = 0u32;
    let mut page: Vec<T> = Vec::new();
    let mut more = false;
    for item in items {
        total += 1;
        if after.is_some_and(|after| id_of(&item) <= after) {
            continue;
        }
        if page.len() < page_size {
            page.push(item);
        } else {
            more = true;
        }
    }
    let next_after = more
        .then(|| page.last().map(|last| id_of(last).to_owned()))
        .flatten();
    Page {
        items: page,
        next_after,
        total,
    }
}

/// The impact evidence of a partnership in `snapshot`
/// ([`Engine::get_partnership_with_impact`]).
fn partnership_impact(snapshot: &Snapshot, partnership: &Partnership) -> Vec<AreaImpact> {
    let Some(started) = partnership.started_at else {
        return Vec::new();
    };
    let date = |time: jiff::Timestamp| time.to_zoned(jiff::tz::TimeZone::UTC).date();
    let (started, finished) = (date(started), partnership.finished_at.map(date));
    let anyone_supported = partnership
        .members
        .iter()
        .any(|member| member.role == MemberRole::Supported);
    let mut impact = Vec::new();
    for member in &partnership.members {
        if anyone_supported && member.role != MemberRole::Supported {
            continue;
        }
        let Some(school) = snapshot.get(member.school_id.as_str()) else {
            continue;
        };
        let evaluations = &school.school.evaluations;
        for area in partnership.focus.iter() {
            let before = latest_grade_between(evaluations, area, None, Some(started));
            let after = finished
                .and_then(|finished| latest_grade_between(evaluations, area, Some(finished), None));
            if before.is_some() || after.is_some() {
                impact.push(AreaImpact {
                    school_id: member.school_id.clone(),
                    area,
                    before: before.cloned(),
                    after: after.cloned(),
                });
            }
        }
    }
    impact
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dataset::{SyntheticConfig, generate};
    use crate::domain::MatchMode;
    use scoring::NO_FAMILY;

    /// An in-memory engine of 600 synthetic schools, with the schools.
    fn synthetic_engine() -> (Vec<School>, Engine) {
        let population = generate(SyntheticConfig {
            schools: 600,
            ..Default::default()
        });
        let engine = Engine::with_schools(EngineConfig::default(), population.clone()).unwrap();
        (population, engine)
    }

    /// Writers racing each other each read their own write once the call
    /// returns, and the snapshot ends with every write: the writes queued
    /// behind a build are published together, none is lost or left
    /// unpublished.
    #[test]
    fn concurrent_writers_read_their_own_writes() {
        let (population, engine) = synthetic_engine();
        let engine = &engine;
        std::thread::scope(|scope| {
            for writer in 0..6 {
                let population = &population;
                scope.spawn(move || {
                    for round in 0..8 {
                        let mut school = population[writer * 50 + round].clone();
                        school.name = format!("written by {writer} in round {round}");
                        let id = school.id.clone();
                        engine.upsert(school.clone()).unwrap();
                        let seen = engine.get(id.as_str()).unwrap();
                        assert_eq!(seen.school.name, school.name, "read after write");
                    }
                });
            }
        });
        let snapshot = engine.snapshot();
        for writer in 0..6 {
            for round in 0..8 {
                let id = &population[writer * 50 + round].id;
                assert_eq!(
                    snapshot.get(id.as_str()).unwrap().school.name,
                    format!("written by {writer} in round {round}")
                );
            }
        }
        assert_eq!(
            *engine.publication.published.lock().unwrap(),
            engine.lock_writer().unwrap().applied,
            "every applied write is published"
        );
    }

    /// Trees merged from an earlier snapshot, installed after more writes
    /// (stage and size changes, deletes, creates), hold every school once
    /// as it is now, and matches on them equal brute force; a merge is
    /// refused over trees that were replaced after it began.
    #[test]
    fn trees_merged_from_an_earlier_snapshot_take_in_the_writes_since() {
        let (population, engine) = synthetic_engine();
        let before = engine.snapshot();
        let merge_all = |snapshot: &Snapshot| -> Vec<index::Merged> {
            let index = snapshot.index();
            let keys: Vec<index::BucketKey> = index
                .buckets
                .iter()
                .map(|bucket| (bucket.phase, bucket.stage))
                .collect();
            keys.into_iter()
                .filter_map(|key| snapshot.merge(key))
                .collect()
        };
        let merged = merge_all(&before);
        // Fewer writes than a bucket's overlay holds, so the merger thread
        // has nothing to do meanwhile.
        for (n, school) in population.iter().step_by(37).take(12).enumerate() {
            let mut school = school.clone();
            match n % 4 {
                0 => school.stage = Some(Stage::ALL[(n / 4) % Stage::ALL.len()]),
                1 => school.pupils = Some(40 + 50 * n as u32),
                2 => {
                    engine.delete(school.id.as_str()).unwrap();
                    continue;
                }
                _ => school.id = SchoolId::parse(&format!("zz-new-{n:02}")).unwrap(),
            }
            engine.upsert(school).unwrap();
        }
        let after = engine.snapshot();
        assert!(after.merges_due().is_empty());
        let mut installed = (*after).clone();
        for merged in merged {
            installed = installed
                .with_merged(merged)
                .expect("trees not built again since the merge began");
        }
        installed.assert_index_exact();
        let config = &engine.config().scoring;
        for seeker in installed.schools().iter().step_by(25) {
            for mode in [MatchMode::Support, MatchMode::Lead, MatchMode::Peer] {
                let query = MatchQuery::new(seeker.school.id.clone(), mode, config);
                let fast = top_k(&installed, &query, config).unwrap();
                let oracle = brute_force(&after, &query, config).unwrap();
                let ranked = |outcome: &MatchOutcome<'_>| -> Vec<(String, f64)> {
                    outcome
                        .candidates
                        .iter()
                        .map(|c| (c.school.school.id.to_string(), c.score))
                        .collect()
                };
                assert_eq!(ranked(&fast), ranked(&oracle), "{mode:?}");
            }
        }
        let stale = merge_all(&before);
        assert!(
            stale
                .into_iter()
                .all(|merged| installed.with_merged(merged).is_none()),
            "merged over trees replaced since"
        );
    }

    /// Writes that re-cut family groups (new sizes, creates, deletes) move
    /// untouched schools between computed families: each school's family,
    /// and each family's members, equal those of an engine built afresh
    /// from the same schools.
    #[test]
    fn families_after_writes_equal_those_of_an_engine_built_afresh() {
        let (population, engine) = synthetic_engine();
        let before = engine.snapshot();
        for (n, school) in population.iter().step_by(23).take(24).enumerate() {
            let mut school = school.clone();
            match n % 3 {
                0 => school.pupils = Some(school.pupils.unwrap_or(100) * 3 + 20),
                1 => school.id = SchoolId::parse(&format!("zz-new-{n:02}")).unwrap(),
                _ => {
                    engine.delete(school.id.as_str()).unwrap();
                    continue;
                }
            }
            engine.upsert(school).unwrap();
        }
        let snapshot = engine.snapshot();
        let schools: Vec<School> = snapshot
            .schools()
            .iter()
            .map(|s| s.school.clone())
            .collect();
        let fresh = Engine::with_schools(EngineConfig::default(), schools).unwrap();
        let mut moved = 0;
        for (index, stored) in snapshot.schools().indexed() {
            let id = stored.school.id.as_str();
            let family = snapshot.family_id(index);
            assert_eq!(family, fresh.school(id).unwrap().family_id, "{id}");
            let written = population
                .iter()
                .step_by(23)
                .take(24)
                .any(|s| s.id.as_str() == id);
            if before.get(id).is_some() && !written && family != before.family_of(id) {
                moved += 1;
            }
            let number = snapshot.profile(index).family;
            if number != NO_FAMILY {
                assert!(snapshot.family_members(number).contains(&index), "{id}");
            }
        }
        assert!(moved > 0, "some untouched school changed family");
    }

    /// A school created with an id before others takes the next index
    /// (no other moves), yet lists in id order and wins ties by id: twins
    /// of a school, one sorting before every id and one after, score alike
    /// and rank in id order, in the search and in brute force.
    #[test]
    fn schools_created_anywhere_take_the_next_index_and_keep_id_order() {
        let (population, engine) = synthetic_engine();
        let original = population
            .iter()
            .find(|school| school.open && school.stage.is_some())
            .unwrap();
        // The later id first, so index order is not id order.
        for id in ["zz-twin", "0-twin"] {
            let mut twin = original.clone();
            twin.id = SchoolId::parse(id).unwrap();
            engine.upsert(twin).unwrap();
        }
        let snapshot = engine.snapshot();
        assert_eq!(
            snapshot.index_of("0-twin"),
            Some(population.len() as u32 + 1)
        );
        assert_eq!(snapshot.schools()[0].school.id.as_str(), "0-twin");
        let listed: Vec<&str> = snapshot
            .schools()
            .iter()
            .map(|s| s.school.id.as_str())
            .collect();
        assert!(listed.is_sorted(), "listed in id order");
        let config = &engine.config().scoring;
        let mut query = MatchQuery::new(original.id.clone(), MatchMode::Peer, config);
        query.constraints.max_distance_km = None;
        for outcome in [
            top_k(&snapshot, &query, config).unwrap(),
            brute_force(&snapshot, &query, config).unwrap(),
        ] {
            let ranked: Vec<&str> = outcome
                .candidates
                .iter()
                .map(|c| c.school.school.id.as_str())
                .collect();
            assert_eq!(ranked[..2], ["0-twin", "zz-twin"], "{ranked:?}");
            assert_eq!(outcome.candidates[0].score, outcome.candidates[1].score);
        }
    }

    /// Asserts the engine lists its schools in id order and ranks every
    /// seeker of `seekers` in `modes` as an engine built afresh from those
    /// schools does (ids and scores).
    fn assert_matches_equal_a_fresh_engine<'s>(
        engine: &Engine,
        seekers: impl Iterator<Item = &'s SchoolId>,
        modes: &[MatchMode],
    ) {
        let listed: Vec<School> = engine
            .snapshot()
            .schools()
            .iter()
            .map(|s| s.school.clone())
            .collect();
        assert!(
            listed.is_sorted_by(|a, b| a.id < b.id),
            "listed in id order"
        );
        let fresh = Engine::with_schools(EngineConfig::default(), listed).unwrap();
        let config = &engine.config().scoring;
        for seeker in seekers {
            for &mode in modes {
                let query = MatchQuery::new(seeker.clone(), mode, config);
                let ranked = |engine: &Engine| {
                    engine.match_partners(&query, |outcome| {
                        outcome
                            .candidates
                            .iter()
                            .map(|c| (c.school.school.id.to_string(), c.score))
                            .collect::<Vec<_>>()
                    })
                };
                assert_eq!(
                    ranked(engine).ok(),
                    ranked(&fresh).ok(),
                    "{seeker} {mode:?}"
                );
            }
        }
    }

    /// A second engine over the same schools, given what the first wrote
    /// (creates, changes, a partnership moved on, a delete) as the database
    /// would hand it over, holds what the first holds at the same version
    /// and ranks as it does; the same changes again change nothing; a
    /// record that names a school it does not hold, or a change that skips
    /// a version, changes nothing.
    #[test]
    fn replicated_writes_make_a_second_engine_equal_the_first() {
        let (population, writer) = synthetic_engine();
        let follower = Engine::with_schools(EngineConfig::default(), population.clone()).unwrap();
        let mut created = population[3].clone();
        created.id = SchoolId::parse("zz-replicated").unwrap();
        let mut changed = population[10].clone();
        changed.stage = Some(Stage::Red);
        changed.pupils = Some(changed.pupils.unwrap_or(100) + 200);
        writer
            .upsert_batch(vec![created.clone(), changed.clone()])
            .unwrap();
        let proposed = writer
            .propose_partnership(Proposal {
                id: None,
                kind: crate::domain::PartnershipKind::Peer,
                members: [&created.id, &population[20].id]
                    .into_iter()
                    .map(|id| crate::domain::Member {
                        school_id: id.clone(),
                        role: crate::domain::MemberRole::Member,
                    })
                    .collect(),
                focus: Default::default(),
                plan: Default::default(),
            })
            .unwrap();
        let deleted = population[30].id.clone();
        writer.delete(deleted.as_str()).unwrap();
        assert_eq!((follower.version(), writer.version()), (1, 4));
        let replicated = vec![
            (
                2,
                Replicated {
                    schools: vec![created.clone(), changed.clone()],
                    ..Replicated::default()
                },
            ),
            (
                3,
                Replicated {
                    partnerships: vec![Partnership::clone(
                        writer.snapshot().partnership(proposed.id.as_str()).unwrap(),
                    )],
                    ..Replicated::default()
                },
            ),
            (
                4,
                Replicated {
                    deleted: vec![deleted.clone()],
                    ..Replicated::default()
                },
            ),
        ];
        assert_eq!(follower.apply_replicated(replicated.clone()).unwrap(), 4);
        assert_eq!(follower.version(), 4);
        let held = |engine: &Engine| -> (Vec<School>, Vec<Partnership>) {
            let snapshot = engine.snapshot();
            (
                snapshot
                    .schools()
                    .iter()
                    .map(|s| s.school.clone())
                    .collect(),
                snapshot
                    .partnerships()
                    .iter()
                    .map(|p| (**p).clone())
                    .collect(),
            )
        };
        assert_eq!(held(&follower), held(&writer));
        let seekers = [
            &created.id,
            &changed.id,
            &population[20].id,
            &population[40].id,
        ];
        for engine in [&writer, &follower] {
            assert_matches_equal_a_fresh_engine(
                engine,
                seekers.into_iter(),
                &[MatchMode::Support, MatchMode::Peer],
            );
        }
        let before = follower.snapshot();
        follower.apply_replicated(replicated).unwrap();
        assert_eq!(held(&follower), held(&writer), "the same changes again");
        assert_eq!(before.len(), follower.snapshot().len());
        assert_eq!(follower.version(), 4);

        let mut stranger =
            Partnership::clone(writer.snapshot().partnership(proposed.id.as_str()).unwrap());
        stranger.members[1].school_id = SchoolId::parse("not-held").unwrap();
        let before = follower.snapshot();
        let error = follower
            .apply_replicated(vec![(
                5,
                Replicated {
                    schools: vec![population[50].clone()],
                    partnerships: vec![stranger],
                    deleted: Vec::new(),
                },
            )])
            .unwrap_err();
        assert!(matches!(error, Error::FailedPrecondition(_)), "{error}");
        let error = follower
            .apply_replicated(vec![(6, Replicated::default())])
            .unwrap_err();
        assert!(error.to_string().contains("a change is missing"), "{error}");
        assert!(
            Arc::ptr_eq(&before, &follower.snapshot()),
            "nothing changed"
        );
        assert_eq!(follower.version(), 4);
    }

    /// Schools created one after another between the same two neighbours
    /// halve the room between their order keys until none is left; then
    /// the snapshot is built whole, and every listing and match stays as
    /// an engine built afresh has it.
    #[test]
    fn order_keys_running_out_build_the_snapshot_whole() {
        let (population, engine) = synthetic_engine();
        let template = population.iter().find(|school| school.open).unwrap();
        let mut id = String::from("6");
        for _ in 0..40 {
            id.push('0');
            let mut school = template.clone();
            school.id = SchoolId::parse(&id).unwrap();
            engine.upsert(school).unwrap();
        }
        let snapshot = engine.snapshot();
        assert!(
            snapshot.index_of("6000000000") < Some(population.len() as u32),
            "built whole once the keys ran out"
        );
        let seekers: Vec<SchoolId> = snapshot
            .schools()
            .iter()
            .step_by(40)
            .map(|s| s.school.id.clone())
            .collect();
        assert_matches_equal_a_fresh_engine(&engine, seekers.iter(), &[MatchMode::Peer]);
    }

    /// Schools created one at a time, more than one write may create
    /// before the snapshot is built whole, are each placed in the snapshot
    /// as written: found by id (a deleted school created again among them,
    /// an unknown id not), listed in id order, and matched as an engine
    /// built afresh from the same schools matches them.
    #[test]
    fn schools_created_one_at_a_time_are_placed_without_building_whole() {
        let (population, engine) = synthetic_engine();
        let deleted = population[5].clone();
        engine.delete(deleted.id.as_str()).unwrap();
        let mut created: Vec<School> = (0..300)
            .map(|n| {
                let mut school = population[n * 7 % population.len()].clone();
                school.id = SchoolId::parse(&format!("{}-{n:03}", school.id)).unwrap();
                school
            })
            .collect();
        created.push(deleted);
        for school in &created {
            engine.upsert(school.clone()).unwrap();
        }
        let snapshot = engine.snapshot();
        assert_eq!(
            snapshot.places_since_built_whole(),
            (created.len(), 0),
            "placed one by one, the first in the deleted school's place"
        );
        assert_eq!(snapshot.len(), population.len() + created.len() - 1);
        for school in &created {
            let index = snapshot.index_of(school.id.as_str()).unwrap();
            assert_eq!(snapshot.school(index).school, *school);
        }
        assert_eq!(snapshot.index_of("6600000-999"), None);
        let seekers = created
            .iter()
            .step_by(10)
            .chain(population.iter().step_by(50));
        assert_matches_equal_a_fresh_engine(
            &engine,
            seekers.map(|school| &school.id),
            &[MatchMode::Support, MatchMode::Peer],
        );
    }

    /// Schools created and deleted in turn (churn) take the places the
    /// deleted ones left: the snapshot holds as many places after 5,000
    /// cycles as before (but one), is never built whole, and every lookup, listing
    /// and match is as an engine built afresh has it.
    #[test]
    fn churn_reuses_vacant_places() {
        let (population, engine) = synthetic_engine();
        let places = engine.snapshot().index_bound();
        let template = population.iter().find(|school| school.open).unwrap();
        let churned = |n: usize| {
            let mut school = template.clone();
            school.id = SchoolId::parse(&format!("churn-{n:05}")).unwrap();
            school.name = format!("Churned {n}");
            school
        };
        for n in 0..5_000 {
            engine.upsert(churned(n)).unwrap();
            engine.delete(churned(n).id.as_str()).unwrap();
        }
        // Three left standing, in the places a synthetic school and the
        // last churned one left, and one more.
        let gone = &population[3];
        engine.delete(gone.id.as_str()).unwrap();
        let kept = [churned(7), churned(5_001), churned(5_002)];
        for school in &kept {
            engine.upsert(school.clone()).unwrap();
        }
        let snapshot = engine.snapshot();
        assert_eq!(snapshot.index_bound(), places + 2, "two places grown");
        assert_eq!(snapshot.places_since_built_whole(), (5_003, 0));
        assert_eq!(snapshot.len(), population.len() + 2);
        assert_eq!(snapshot.index_of(gone.id.as_str()), None, "its place taken");
        for school in &kept {
            let index = snapshot.index_of(school.id.as_str()).unwrap();
            assert_eq!(snapshot.school(index).school, *school);
        }
        for n in [0, 8, 4_999] {
            assert_eq!(snapshot.index_of(churned(n).id.as_str()), None);
        }
        for school in population.iter().skip(4).step_by(97) {
            let index = snapshot.index_of(school.id.as_str()).unwrap();
            assert_eq!(snapshot.school(index).school.id, school.id);
        }
        let seekers = kept.iter().chain(population.iter().step_by(50));
        assert_matches_equal_a_fresh_engine(
            &engine,
            seekers.map(|school| &school.id),
            &[MatchMode::Support, MatchMode::Peer],
        );
    }

    /// A deleted school leaves a vacant place in the snapshot until many
    /// have, then the snapshot is built whole: either way it is gone from
    /// lookups, listings, families and the count, and every other school
    /// keeps its record.
    #[test]
    fn deleted_schools_are_gone_before_and_after_the_snapshot_is_built_whole() {
        let (population, engine) = synthetic_engine();
        for (deleted, school) in population.iter().step_by(3).enumerate() {
            engine.delete(school.id.as_str()).unwrap();
            let snapshot = engine.snapshot();
            assert_eq!(snapshot.len(), population.len() - deleted - 1);
            assert_eq!(snapshot.schools().len(), snapshot.len());
            assert_eq!(snapshot.schools().iter().count(), snapshot.len());
            assert!(snapshot.get(school.id.as_str()).is_none());
            assert!(engine.get(school.id.as_str()).is_err());
        }
        let snapshot = engine.snapshot();
        let deleted = population.len().div_ceil(3);
        assert!(
            snapshot.places_since_built_whole().1 < deleted,
            "built whole after a quarter of the places fell vacant"
        );
        let kept: Vec<&str> = population
            .iter()
            .enumerate()
            .filter(|(i, _)| i % 3 != 0)
            .map(|(_, s)| s.id.as_str())
            .collect();
        let listed: Vec<&str> = snapshot
            .schools()
            .iter()
            .map(|s| s.school.id.as_str())
            .collect();
        let mut expected = kept.clone();
        expected.sort_unstable();
        assert_eq!(listed, expected, "listed in id order, the deleted left out");
        for (n, id) in expected.iter().enumerate() {
            assert_eq!(snapshot.schools()[n].school.id.as_str(), *id);
        }
        for (index, stored) in snapshot.schools().indexed() {
            let family = snapshot.profile(index).family;
            if family != NO_FAMILY {
                let members = snapshot.family_members(family);
                assert!(members.contains(&index));
                assert!(
                    members.iter().all(|&m| snapshot
                        .index_of(snapshot.school(m).school.id.as_str())
                        == Some(m)),
                    "family of {} holds only live schools",
                    stored.school.id
                );
            }
        }
    }
}
