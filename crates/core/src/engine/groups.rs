//! Group formation (docs/domain.md): clusters of 6–8 nearby, similar schools
//! with no single lead, and federation candidates of 2–6 nearby schools of
//! compatible phases, small schools first (they gain most from shared
//! leadership and staff). Each group comes with its cohesion — the mean
//! PEER score over every ordered pair of members — and its reasons.
//!
//! Formation is greedy and deterministic: seeds in a fixed order (clusters:
//! id; federations: fewest pupils first), each grown from its best-scoring
//! nearby candidates (the pruned PEER search) by adding the candidate that
//! keeps the group most cohesive. Schools already in an ACTIVE cluster or
//! federation partnership are left out, and from federation candidates
//! schools the register already places in a federation.

use crate::domain::{MatchMode, PartnershipKind, PartnershipStatus, Phase, PhaseRelation};

use super::broker::{SeekerSelection, select_seekers};
use super::config::ScoringConfig;
use super::error::{Error, Result};
use super::matcher::{Constraints, SearchRequest, pair_score, search};
use super::scoring::phase_affinity;
use super::snapshot::Snapshot;

/// Nearby candidates a group is grown from, per seed.
const CANDIDATES_PER_SEED: usize = 40;

/// What kind of groups to form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupKind {
    Cluster,
    Federation,
}

/// A group formation run.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupQuery {
    pub kind: GroupKind,
    /// The schools to group (a filter, or ids).
    pub schools: SeekerSelection,
    /// Members at most this far from the seed, km.
    pub max_distance_km: f64,
    pub min_size: usize,
    pub max_size: usize,
    /// Federations: schools with fewer pupils count as small and seed first.
    pub small_school_pupils: u32,
}

impl GroupQuery {
    /// Defaults for a kind: clusters 6–8 within 15 km; federations 2–6
    /// within 10 km, small under 100 pupils.
    pub fn new(kind: GroupKind, schools: SeekerSelection) -> GroupQuery {
        let (min_size, max_size, max_distance_km) = match kind {
            GroupKind::Cluster => (6, 8, 15.0),
            GroupKind::Federation => (2, 6, 10.0),
        };
        GroupQuery {
            kind,
            schools,
            max_distance_km,
            min_size,
            max_size,
            small_school_pupils: 100,
        }
    }
}

/// One proposed group.
#[derive(Debug, Clone, PartialEq)]
pub struct FormedGroup {
    /// Snapshot indices, seed first, then in the order they joined.
    pub members: Vec<u32>,
    /// Mean PEER score over ordered pairs of members, in [0, 1].
    pub cohesion: f64,
    /// Largest distance between two members, km.
    pub span_km: f64,
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GroupsOutcome {
    pub groups: Vec<FormedGroup>,
    /// Schools the run considered.
    pub considered: u32,
    /// Considered schools left in no group.
    pub ungrouped: u32,
}

/// Forms groups over `snapshot`.
pub(super) fn form_groups(
    snapshot: &Snapshot,
    query: &GroupQuery,
    config: &ScoringConfig,
) -> Result<GroupsOutcome> {
    if !(2..=12).contains(&query.min_size) || query.max_size < query.min_size || query.max_size > 12
    {
        return Err(Error::FailedPrecondition(format!(
            "group sizes must satisfy 2 ≤ min_size ≤ max_size ≤ 12, got {}–{}",
            query.min_size, query.max_size
        )));
    }
    let kinds = match query.kind {
        GroupKind::Cluster => [PartnershipKind::Cluster, PartnershipKind::Cluster],
        GroupKind::Federation => [
            PartnershipKind::SoftFederation,
            PartnershipKind::HardFederation,
        ],
    };
    let busy = |index: u32| {
        let school = &snapshot.school(index).school;
        let id = school.id.as_str();
        (query.kind == GroupKind::Federation && school.affiliations.federation.is_some())
            || snapshot.partnerships().iter().any(|p| {
                p.status == PartnershipStatus::Active && kinds.contains(&p.kind) && p.has_member(id)
            })
    };
    let mut pool: Vec<u32> = select_seekers(snapshot, &query.schools, "group formation")?
        .into_iter()
        .filter(|&index| snapshot.school(index).school.open && !busy(index))
        .collect();
    let considered = pool.len() as u32;
    if query.kind == GroupKind::Federation {
        // Small schools first; unknown sizes last.
        pool.sort_by_key(|&index| {
            (
                snapshot.school(index).school.pupils.unwrap_or(u32::MAX),
                snapshot.order_key(index),
            )
        });
    }
    // Schools not available as members: grouped ones and those outside
    // the pool, kept sorted for the search's exclusion list.
    let mut in_pool = pool.clone();
    in_pool.sort_unstable();
    let mut unavailable: Vec<u32> = (0..snapshot.index_bound())
        .filter(|index| in_pool.binary_search(index).is_err())
        .collect();
    // The PEER constraints every member's search and cohesion use.
    let peers = Constraints {
        phase_relation: match query.kind {
            GroupKind::Cluster => PhaseRelation::SamePhase,
            GroupKind::Federation => PhaseRelation::AnyPhase,
        },
        max_distance_km: Some(query.max_distance_km),
        ..Constraints::new(MatchMode::Peer, config)
    };
    let score = |a: u32, b: u32| pair_score(snapshot, a, &peers, config, b);
    let mut groups = Vec::new();
    let mut grouped = 0u32;
    for &seed in &pool {
        if unavailable.binary_search(&seed).is_ok() {
            continue;
        }
        let seed_school = &snapshot.school(seed).school;
        if query.kind == GroupKind::Federation
            && seed_school
                .pupils
                .is_none_or(|pupils| pupils >= query.small_school_pupils)
        {
            // Federations grow around small schools only.
            continue;
        }
        let mut excluded = unavailable.clone();
        excluded.push(seed);
        excluded.sort_unstable();
        let request = SearchRequest {
            constraints: &peers,
            limit: CANDIDATES_PER_SEED,
            explain: false,
            excluded: &excluded,
            tiered: false,
        };
        let Ok(outcome) = search(snapshot, seed, &request, config) else {
            continue;
        };
        let mut candidates: Vec<u32> = outcome
            .candidates
            .iter()
            .filter_map(|c| snapshot.index_of(c.school.school.id.as_str()))
            .filter(|&index| {
                query.kind == GroupKind::Cluster
                    || compatible(seed_school.phase, snapshot.school(index).school.phase)
            })
            .collect();
        let mut members = vec![seed];
        // Ordered-pair scores within the group so far.
        let mut total = 0.0;
        while members.len() < query.max_size && !candidates.is_empty() {
            let mut best: Option<(usize, f64)> = None;
            for (position, &candidate) in candidates.iter().enumerate() {
                if query.kind == GroupKind::Federation
                    && members.iter().any(|&m| {
                        !compatible(
                            snapshot.school(m).school.phase,
                            snapshot.school(candidate).school.phase,
                        )
                    })
                {
                    continue;
                }
                let mut added = 0.0;
                for &member in &members {
                    added += score(member, candidate)? + score(candidate, member)?;
                }
                if best.is_none_or(|(_, b)| added > b) {
                    best = Some((position, added));
                }
            }
            let Some((position, added)) = best else {
                break;
            };
            members.push(candidates.remove(position));
            total += added;
        }
        if members.len() < query.min_size {
            continue;
        }
        let pairs = (members.len() * (members.len() - 1)) as f64;
        let cohesion = total / pairs;
        for &member in &members {
            if let Err(position) = unavailable.binary_search(&member) {
                unavailable.insert(position, member);
            }
        }
        grouped += members.len() as u32;
        groups.push(describe(snapshot, query, members, cohesion));
    }
    Ok(GroupsOutcome {
        groups,
        considered,
        ungrouped: considered - grouped,
    })
}

/// Phases that can share leadership: the same, or a natural vertical pair.
fn compatible(a: Phase, b: Phase) -> bool {
    phase_affinity(a, b) >= 0.8
}

fn describe(
    snapshot: &Snapshot,
    query: &GroupQuery,
    members: Vec<u32>,
    cohesion: f64,
) -> FormedGroup {
    let schools: Vec<_> = members
        .iter()
        .map(|&m| &snapshot.school(m).school)
        .collect();
    let mut span_km: f64 = 0.0;
    for (i, a) in schools.iter().enumerate() {
        for b in &schools[i + 1..] {
            span_km = span_km.max(a.location.distance_km(b.location));
        }
    }
    let mut phases: Vec<&str> = schools.iter().map(|s| s.phase.name()).collect();
    phases.sort_unstable();
    phases.dedup();
    let stages: Vec<i32> = schools
        .iter()
        .filter_map(|s| s.stage.map(|st| st.level()))
        .collect();
    let stage_names = |level: i32| {
        crate::domain::Stage::ALL
            .iter()
            .find(|s| s.level() == level)
            .map_or("unknown", |s| s.name())
    };
    let mut reasons = vec![format!(
        "{} {} schools within {span_km:.1} km of each other",
        schools.len(),
        phases.join(" and ")
    )];
    if let (Some(low), Some(high)) = (stages.iter().min(), stages.iter().max()) {
        reasons.push(if low == high {
            format!("all at the same stage ({})", stage_names(*low))
        } else {
            format!(
                "stages {} to {}: close enough to learn from each other",
                stage_names(*low),
                stage_names(*high)
            )
        });
    }
    match query.kind {
        GroupKind::Cluster => {
            reasons.push("no single lead: a cluster shares the work among equals".to_owned())
        }
        GroupKind::Federation => {
            let pupils: Vec<u32> = schools.iter().filter_map(|s| s.pupils).collect();
            let small = pupils
                .iter()
                .filter(|p| **p < query.small_school_pupils)
                .count();
            reasons.push(format!(
                "{} pupils in all; {small} of {} schools under {} pupils gain most from shared leadership and staff",
                pupils.iter().sum::<u32>(),
                schools.len(),
                query.small_school_pupils
            ));
        }
    }
    reasons.push(format!(
        "cohesion {cohesion:.2}: the mean score the members give each other as peers"
    ));
    FormedGroup {
        members,
        cohesion,
        span_km,
        reasons,
    }
}
