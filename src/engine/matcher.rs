//! Match: hard filters, scoring and ranking (design §3).
//!
//! Two paths give the same answer. [`top_k`] visits schools nearest first
//! through the spatial index and stops as soon as no farther school could
//! still reach the current K-th best score (proximity only falls with
//! distance; every other component is at most 1). [`brute_force`] scores
//! every school and sorts: the reference the fast path is tested against.

use std::cmp::Ordering;
use std::collections::BinaryHeap;
use std::sync::Arc;

use crate::domain::{
    FocusSet, MatchMode, PhaseRelation, SchoolId, StoredSchool, UnitVector, Violations,
};

use super::config::{ScoringConfig, Weights};
use super::error::{Error, Result};
use super::scoring::{Component, Detail, Factor, Profile, ScoringContext};
use super::snapshot::Snapshot;

/// Bounds on match requests.
pub mod limits {
    pub const DEFAULT_LIMIT: usize = 10;
    pub const MAX_LIMIT: usize = 100;
    pub const MAX_DISTANCE_KM: f64 = 2000.0;
    pub const MIN_PROXIMITY_SCALE_KM: f64 = 1.0;
    pub const MAX_PROXIMITY_SCALE_KM: f64 = 500.0;
    pub const MAX_EXCLUDE_IDS: usize = 1000;
}

/// Slack on the pruning bound: the bound and a candidate's score are summed
/// in the same order, but the distance behind the bound comes from the
/// spatial index's own arithmetic, which may differ in the last bits.
const BOUND_SLACK: f64 = 1e-9;

/// A validated-on-use match request.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchQuery {
    pub school_id: String,
    pub mode: MatchMode,
    pub phase_relation: PhaseRelation,
    /// Overrides the seeker's needs (SUPPORT, PEER) or strengths (LEAD).
    pub focus: Option<FocusSet>,
    pub limit: usize,
    pub max_distance_km: Option<f64>,
    pub same_consortium: bool,
    pub same_local_authority: bool,
    pub exclude_ids: Vec<String>,
    pub weights: Weights,
    pub proximity_scale_km: f64,
}

impl MatchQuery {
    /// A query with every option at its default.
    pub fn new(
        school_id: impl Into<String>,
        mode: MatchMode,
        config: &ScoringConfig,
    ) -> MatchQuery {
        MatchQuery {
            school_id: school_id.into(),
            mode,
            phase_relation: PhaseRelation::SamePhase,
            focus: None,
            limit: limits::DEFAULT_LIMIT,
            max_distance_km: None,
            same_consortium: false,
            same_local_authority: false,
            exclude_ids: Vec::new(),
            weights: config.weights,
            proximity_scale_km: config.proximity_scale_km,
        }
    }

    /// Every rule on the request's own values; field paths are the proto's.
    pub fn validate(&self) -> Violations {
        let mut v = Violations::new();
        if let Err(problem) = SchoolId::parse(&self.school_id) {
            v.push("school_id", problem);
        }
        if self.limit == 0 || self.limit > limits::MAX_LIMIT {
            v.push(
                "limit",
                format!(
                    "must be between 1 and {}, got {}",
                    limits::MAX_LIMIT,
                    self.limit
                ),
            );
        }
        if let Some(max) = self.max_distance_km {
            v.check_range("max_distance_km", max, 0.0, limits::MAX_DISTANCE_KM);
        }
        v.check_range(
            "proximity_scale_km",
            self.proximity_scale_km,
            limits::MIN_PROXIMITY_SCALE_KM,
            limits::MAX_PROXIMITY_SCALE_KM,
        );
        if self.exclude_ids.len() > limits::MAX_EXCLUDE_IDS {
            v.push(
                "exclude_ids",
                format!(
                    "must have at most {} ids, got {}",
                    limits::MAX_EXCLUDE_IDS,
                    self.exclude_ids.len()
                ),
            );
        } else {
            for (i, id) in self.exclude_ids.iter().enumerate() {
                if let Err(problem) = SchoolId::parse(id) {
                    v.push(format!("exclude_ids[{i}]"), problem);
                }
            }
        }
        let weights = self.weights.validate();
        if weights.is_empty() && self.weights.all_zero() {
            v.push("weights", "at least one weight must be positive");
        }
        v.extend(weights.prefixed("weights"));
        v
    }
}

/// A scored component with its share of the weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WeightedComponent {
    pub component: Component,
    /// Share of the total weight, in [0, 1].
    pub weight: f64,
    /// `component.value * weight`.
    pub contribution: f64,
}

/// One ranked partner.
#[derive(Debug, Clone, PartialEq)]
pub struct RankedCandidate {
    pub school: Arc<StoredSchool>,
    /// 1-based.
    pub rank: u32,
    pub distance_km: f64,
    pub score: f64,
    /// Partner stage minus seeker stage, when both are known.
    pub stage_gap: Option<i32>,
    pub covered_focus: FocusSet,
    pub components: [WeightedComponent; Factor::COUNT],
}

/// The answer to a match.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchOutcome {
    pub seeker: Arc<StoredSchool>,
    pub candidates: Vec<RankedCandidate>,
    /// Schools that passed the hard filters and were scored.
    pub considered: u32,
    /// Every eligible school within this distance was scored.
    pub search_radius_km: f64,
}

/// A scored school, ordered best first: higher score, then nearer, then
/// lower index (which is id order).
#[derive(Debug, Clone, Copy)]
struct Scored {
    score: f64,
    distance_km: f64,
    index: u32,
}

impl Scored {
    fn rank_order(&self, other: &Scored) -> Ordering {
        other
            .score
            .total_cmp(&self.score)
            .then_with(|| self.distance_km.total_cmp(&other.distance_km))
            .then_with(|| self.index.cmp(&other.index))
    }
}

// The heap keeps the worst of the best K on top.
impl Ord for Scored {
    fn cmp(&self, other: &Self) -> Ordering {
        self.rank_order(other)
    }
}
impl PartialOrd for Scored {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl PartialEq for Scored {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Scored {}

/// Everything about one request that does not depend on the candidate.
struct Plan<'a> {
    snapshot: &'a Snapshot,
    query: &'a MatchQuery,
    seeker_index: u32,
    seeker: &'a Profile,
    excluded: Vec<u32>,
    scoring: ScoringContext<'a>,
}

impl<'a> Plan<'a> {
    fn new(
        snapshot: &'a Snapshot,
        query: &'a MatchQuery,
        config: &'a ScoringConfig,
    ) -> Result<Plan<'a>> {
        query.validate().into_result(()).map_err(Error::Invalid)?;
        let seeker_index = snapshot
            .index_of(&query.school_id)
            .ok_or_else(|| Error::school_not_found(&query.school_id))?;
        let seeker = snapshot.profile(seeker_index);
        let seeker_school = &snapshot.school(seeker_index).school;
        if !seeker.open {
            return Err(Error::FailedPrecondition(format!(
                "school {:?} is closed; closed schools are not matched",
                query.school_id
            )));
        }
        if query.mode == MatchMode::Lead && seeker.free_capacity() == 0 {
            return Err(Error::FailedPrecondition(format!(
                "school {:?} has no free capacity to lead (capacity {}); raise its capacity or use SUPPORT or PEER",
                query.school_id, seeker.capacity
            )));
        }
        if query.same_consortium && seeker_school.consortium.trim().is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "school {:?} has no consortium recorded, so same_consortium cannot apply",
                query.school_id
            )));
        }
        if query.same_local_authority && seeker_school.local_authority.trim().is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "school {:?} has no local authority recorded, so same_local_authority cannot apply",
                query.school_id
            )));
        }
        let mut excluded: Vec<u32> = query
            .exclude_ids
            .iter()
            .filter_map(|id| snapshot.index_of(id))
            .collect();
        excluded.sort_unstable();
        let weights = query.weights.as_array();
        let total: f64 = weights.iter().sum();
        // Weights that already sum to 1 (the defaults, give or take a last
        // bit) are kept as given, so explanations show 0.3 rather than
        // 0.29999999999999993.
        let total = if (total - 1.0).abs() < 1e-9 {
            1.0
        } else {
            total
        };
        Ok(Plan {
            snapshot,
            query,
            seeker_index,
            seeker,
            excluded,
            scoring: ScoringContext {
                config,
                mode: query.mode,
                weights: weights.map(|weight| weight / total),
                proximity_scale_km: query.proximity_scale_km,
                focus: query.focus,
            },
        })
    }

    /// The hard filters of design §3, except distance (checked by callers).
    fn admits(&self, index: u32, partner: &Profile) -> bool {
        let seeker = self.seeker;
        let query = self.query;
        index != self.seeker_index
            && partner.open
            && query.phase_relation.admits(seeker.phase, partner.phase)
            && (!query.same_consortium || partner.consortium == seeker.consortium)
            && (!query.same_local_authority || partner.local_authority == seeker.local_authority)
            && self.stage_direction_admits(partner)
            && (query.mode == MatchMode::Lead || partner.free_capacity() > 0)
            && self.excluded.binary_search(&index).is_err()
    }

    /// SUPPORT never returns a partner behind the seeker, LEAD never one
    /// ahead; an unknown stage never excludes.
    fn stage_direction_admits(&self, partner: &Profile) -> bool {
        match (self.seeker.stage, partner.stage) {
            (Some(seeker), Some(partner)) => match self.query.mode {
                MatchMode::Support => partner >= seeker,
                MatchMode::Lead => partner <= seeker,
                MatchMode::Peer => true,
            },
            _ => true,
        }
    }

    fn within_distance(&self, distance_km: f64) -> bool {
        self.query
            .max_distance_km
            .is_none_or(|max| distance_km <= max)
    }

    fn distance_km(&self, partner: &Profile) -> f64 {
        self.seeker.unit.distance_km(partner.unit)
    }

    fn score(&self, index: u32, partner: &Profile, distance_km: f64) -> Scored {
        let components = self.scoring.components(self.seeker, partner, distance_km);
        Scored {
            score: self.scoring.score(&components),
            distance_km,
            index,
        }
    }

    /// Turns the ranked indices into the outcome, with full details.
    fn finish(&self, ranked: Vec<Scored>, considered: u32, search_radius_km: f64) -> MatchOutcome {
        let candidates = ranked
            .into_iter()
            .enumerate()
            .map(|(position, scored)| {
                let partner = self.snapshot.profile(scored.index);
                let components = self
                    .scoring
                    .components(self.seeker, partner, scored.distance_km);
                let covered_focus = components[Factor::ALL
                    .iter()
                    .position(|f| *f == Factor::Focus)
                    .expect("focus is a factor")]
                .covered_focus();
                let stage_gap = match components[0].detail {
                    Detail::Stage {
                        seeker: Some(s),
                        partner: Some(p),
                        ..
                    } => Some(p.level() - s.level()),
                    _ => None,
                };
                let weighted = std::array::from_fn(|i| WeightedComponent {
                    component: components[i],
                    weight: self.scoring.weights[i],
                    contribution: self.scoring.weights[i] * components[i].value,
                });
                RankedCandidate {
                    school: Arc::clone(self.snapshot.school(scored.index)),
                    rank: position as u32 + 1,
                    distance_km: scored.distance_km,
                    score: scored.score,
                    stage_gap,
                    covered_focus,
                    components: weighted,
                }
            })
            .collect();
        MatchOutcome {
            seeker: Arc::clone(self.snapshot.school(self.seeker_index)),
            candidates,
            considered,
            search_radius_km,
        }
    }
}

/// Nearest-first steps taken before deciding whether the early stop can pay
/// off; the walk through the spatial index costs several times a plain scan
/// per school, so it only continues when the bound shows it will stop.
const PROBE_STEPS: usize = 48;

/// The top K so far: the worst of them on top of the heap.
struct Best {
    heap: BinaryHeap<Scored>,
    limit: usize,
}

impl Best {
    fn new(limit: usize) -> Best {
        Best {
            heap: BinaryHeap::with_capacity(limit + 1),
            limit,
        }
    }

    fn offer(&mut self, scored: Scored) {
        if self.heap.len() < self.limit {
            self.heap.push(scored);
        } else if let Some(mut worst) = self.heap.peek_mut()
            && scored < *worst
        {
            *worst = scored;
        }
    }

    /// The K-th best score once K schools are held.
    fn threshold(&self) -> Option<f64> {
        (self.heap.len() == self.limit)
            .then(|| self.heap.peek().map(|worst| worst.score))
            .flatten()
    }
}

/// The fast path: nearest-first search with an early stop, falling back to
/// one plain pass when the early stop would come too late to pay off.
pub fn top_k(
    snapshot: &Snapshot,
    query: &MatchQuery,
    config: &ScoringConfig,
) -> Result<MatchOutcome> {
    let plan = Plan::new(snapshot, query, config)?;
    let mut best = Best::new(query.limit);
    let mut considered = 0u32;
    let mut farthest_considered = 0.0f64;
    let mut visit = |index: u32, best: &mut Best| {
        let partner = snapshot.profile(index);
        if !plan.admits(index, partner) {
            return;
        }
        let distance_km = plan.distance_km(partner);
        if plan.within_distance(distance_km) {
            considered += 1;
            farthest_considered = farthest_considered.max(distance_km);
            best.offer(plan.score(index, partner, distance_km));
        }
    };
    let max_distance = query.max_distance_km.unwrap_or(f64::INFINITY);
    let mut radius = None;
    let mut visited: Vec<u32> = Vec::with_capacity(PROBE_STEPS);
    let mut fall_back = false;
    for (step, (entry, chord_squared)) in snapshot
        .spatial()
        .nearest_neighbor_iter_with_distance_2(&plan.seeker.unit.0)
        .enumerate()
    {
        let index_distance = UnitVector::chord_squared_to_km(chord_squared);
        if index_distance > max_distance + BOUND_SLACK {
            radius = Some(max_distance);
            break;
        }
        if let Some(threshold) = best.threshold()
            && plan.scoring.score_bound(index_distance) + BOUND_SLACK < threshold
        {
            radius = Some(index_distance);
            break;
        }
        if step == PROBE_STEPS
            && !stop_is_near(&plan, best.threshold(), index_distance, snapshot.len())
        {
            fall_back = true;
            break;
        }
        if step < PROBE_STEPS {
            visited.push(entry.data);
        }
        visit(entry.data, &mut best);
    }
    if fall_back {
        visited.sort_unstable();
        for index in 0..snapshot.len() as u32 {
            if visited.binary_search(&index).is_err() {
                visit(index, &mut best);
            }
        }
    }
    let ranked = best.heap.into_sorted_vec();
    // Without an early stop every eligible school was scored.
    let radius = radius.unwrap_or(farthest_considered);
    Ok(plan.finish(ranked, considered, radius))
}

/// After the probe: will the nearest-first walk stop within a quarter of
/// the registry? Estimates how many schools lie inside the stopping radius
/// (where the score bound falls below the K-th score, or the distance
/// limit) from the density seen so far.
fn stop_is_near(
    plan: &Plan<'_>,
    threshold: Option<f64>,
    probe_radius_km: f64,
    schools: usize,
) -> bool {
    let bound_radius = threshold
        .and_then(|threshold| {
            let proximity_weight = plan.scoring.weights[1];
            let room = threshold - plan.scoring.max_score_without_proximity();
            (room > 0.0 && proximity_weight > 0.0).then(|| {
                // bound(d) < threshold  ⇔  d > -scale · ln(room / weight)
                -plan.scoring.proximity_scale_km * (room / proximity_weight).min(1.0).ln()
            })
        })
        .unwrap_or(f64::INFINITY);
    let stop_radius = bound_radius.min(plan.query.max_distance_km.unwrap_or(f64::INFINITY));
    let ratio = stop_radius / probe_radius_km.max(0.1);
    let expected = PROBE_STEPS as f64 * ratio * ratio;
    expected <= schools as f64 / 4.0
}

/// The reference: score every school that passes the filters, sort, cut.
pub fn brute_force(
    snapshot: &Snapshot,
    query: &MatchQuery,
    config: &ScoringConfig,
) -> Result<MatchOutcome> {
    let plan = Plan::new(snapshot, query, config)?;
    let mut all: Vec<Scored> = Vec::new();
    let mut radius = 0.0f64;
    for (index, partner) in snapshot.profiles().iter().enumerate() {
        let index = index as u32;
        let distance_km = plan.distance_km(partner);
        if plan.admits(index, partner) && plan.within_distance(distance_km) {
            radius = radius.max(distance_km);
            all.push(plan.score(index, partner, distance_km));
        }
    }
    let considered = all.len() as u32;
    // Sort by id text rather than index, so this does not lean on the
    // snapshot's index order matching id order.
    all.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then_with(|| a.distance_km.total_cmp(&b.distance_km))
            .then_with(|| {
                snapshot
                    .school(a.index)
                    .school
                    .id
                    .cmp(&snapshot.school(b.index).school.id)
            })
    });
    all.truncate(query.limit);
    Ok(plan.finish(all, considered, radius))
}
