//! Match: hard filters, scoring and ranking (docs/matching.md).
//!
//! Two paths give the same answer. [`top_k`] searches the
//! [`SearchIndex`](super::index::SearchIndex) best-first: groups of schools
//! in order of an upper bound on their members' scores, stopping as soon as
//! no group left could reach the current K-th best score. [`brute_force`]
//! scores every school and sorts: the reference the fast path is tested
//! against.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::domain::{
    EARTH_RADIUS_KM, FocusSet, LanguageMedium, MatchMode, Phase, PhaseRelation, SchoolId, Stage,
    StoredSchool, UnitVector, Violations,
};

use super::config::{ScoringConfig, Weights};
use super::error::{Error, Result};
use super::index::{MAX_INDEXED_AREAS, Side, TreeKind};
use super::scoring::{
    Component, GroupBounder, GroupSummary, NO_FAMILY, PerFactor, Profile, ScoringContext,
    SplitCoverage,
};
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

/// Slack on the pruning bound: a group's bound and its members' scores come
/// from the same value functions summed in the same order, but through
/// different inputs (a range's end, a box corner), which may round
/// differently in the last bits.
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
    /// Only partners in the seeker's language group (English-medium, or
    /// Welsh-medium and bilingual); an unknown medium never excludes.
    pub same_language_group: bool,
    pub exclude_ids: Vec<String>,
    pub weights: Weights,
    pub proximity_scale_km: f64,
    /// Return each candidate's components with their reasons.
    pub explain: bool,
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
            same_language_group: false,
            exclude_ids: Vec::new(),
            weights: config.weights,
            proximity_scale_km: config.proximity_scale_km,
            explain: false,
        }
    }

    /// Every rule on the request's own values; field paths are the proto's.
    pub fn validate(&self) -> Violations {
        self.violations(limits::MAX_LIMIT)
    }

    /// The rules with `limit` up to `max_limit`: brokerage asks the search
    /// for longer lists than a client may.
    fn violations(&self, max_limit: usize) -> Violations {
        let mut v = Violations::new();
        if let Err(problem) = SchoolId::parse(&self.school_id) {
            v.push("school_id", problem);
        }
        if self.limit == 0 || self.limit > max_limit {
            v.push(
                "limit",
                format!("must be between 1 and {max_limit}, got {}", self.limit),
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

/// Whether two schools share a language group (docs/domain.md: families split
/// English-medium from Welsh-medium); unknown media never exclude.
fn same_language_group(seeker: &Profile, partner: &Profile) -> bool {
    match (seeker.language, partner.language) {
        (Some(_), Some(_)) => {
            LanguageMedium::family_group(seeker.language)
                == LanguageMedium::family_group(partner.language)
        }
        _ => true,
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

/// One ranked partner, borrowed from the snapshot it was found in (no
/// reference counts touched per candidate).
#[derive(Debug, Clone, PartialEq)]
pub struct RankedCandidate<'a> {
    pub school: &'a StoredSchool,
    /// 1-based.
    pub rank: u32,
    pub distance_km: f64,
    pub score: f64,
    /// Partner stage minus seeker stage, when both are known.
    pub stage_gap: Option<i32>,
    pub covered_focus: FocusSet,
    /// Each component with its weight and reason; only when the query asks
    /// to `explain`.
    pub components: Option<PerFactor<WeightedComponent>>,
}

/// How much work a search did (the brute-force oracle reports zeros but
/// for `scored`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SearchStats {
    /// Groups of the index whose bound was computed.
    pub groups_bounded: u32,
    /// Leaves whose members were examined.
    pub leaves_opened: u32,
    /// Members whose partial (distance-free) score was computed.
    pub partial_scores: u32,
}

/// The answer to a match, borrowed from the snapshot it was found in.
#[derive(Debug, Clone, PartialEq)]
pub struct MatchOutcome<'a> {
    pub seeker: &'a StoredSchool,
    pub candidates: Vec<RankedCandidate<'a>>,
    /// Schools that passed the hard filters and were scored.
    pub considered: u32,
    /// Every eligible school within this distance was scored.
    pub search_radius_km: f64,
    pub stats: SearchStats,
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
    /// Further exclusions, sorted, borrowed as given (brokerage passes
    /// every seeker, for every seeker's search: copying and sorting them
    /// each time would cost more than the search).
    also_excluded: &'a [u32],
    scoring: ScoringContext<'a>,
}

impl<'a> Plan<'a> {
    /// The plan for `query`, also excluding the schools at `also_excluded`
    /// (sorted indices; brokerage keeps seekers off the partner side).
    fn new(
        snapshot: &'a Snapshot,
        query: &'a MatchQuery,
        config: &'a ScoringConfig,
        also_excluded: &'a [u32],
    ) -> Result<Plan<'a>> {
        debug_assert!(
            also_excluded.is_sorted(),
            "exclusions are searched by bisection"
        );
        query
            .violations(usize::MAX)
            .into_result(())
            .map_err(Error::Invalid)?;
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
        // Explicit exclusions, and schools already in an active partnership
        // with the seeker (docs/matching.md).
        let mut excluded: Vec<u32> = query
            .exclude_ids
            .iter()
            .filter_map(|id| snapshot.index_of(id))
            .chain(snapshot.active_partners(seeker_index).iter().copied())
            .collect();
        excluded.sort_unstable();
        excluded.dedup();
        Ok(Plan {
            snapshot,
            query,
            seeker_index,
            seeker,
            excluded,
            also_excluded,
            scoring: ScoringContext::new(
                config,
                query.mode,
                query.weights.normalised(),
                query.proximity_scale_km,
                query.focus,
            ),
        })
    }

    /// The hard filters of docs/matching.md, except distance (checked by callers):
    /// open, the bucket-wide filters, and the per-member ones.
    fn admits(&self, index: u32, partner: &Profile) -> bool {
        partner.open
            && self.bucket_admits(partner.phase, partner.stage)
            && self.admits_in_bucket(index, partner)
    }

    /// The hard filters that can differ between members of an index
    /// bucket, whose phase relation and stage direction were checked once
    /// for the bucket and whose members are all open.
    fn admits_in_bucket(&self, index: u32, partner: &Profile) -> bool {
        let seeker = self.seeker;
        let query = self.query;
        index != self.seeker_index
            && (!query.same_consortium || partner.consortium == seeker.consortium)
            && (!query.same_local_authority || partner.local_authority == seeker.local_authority)
            && (!query.same_language_group || same_language_group(seeker, partner))
            && (query.mode == MatchMode::Lead || partner.free_capacity() > 0)
            && (self.excluded.is_empty() || self.excluded.binary_search(&index).is_err())
            && (self.also_excluded.is_empty() || self.also_excluded.binary_search(&index).is_err())
    }

    /// Whether a whole bucket of the index can hold eligible schools: the
    /// phase relation and stage direction are the same for all its members.
    fn bucket_admits(&self, phase: Phase, stage: Option<Stage>) -> bool {
        self.query.phase_relation.admits(self.seeker.phase, phase)
            && self.stage_direction_admits(stage)
    }

    /// Whether a group can hold eligible schools, from its summary: some
    /// member has free capacity where it is needed, and the group is not
    /// wholly in another consortium or local authority.
    fn group_admits(&self, group: &GroupSummary) -> bool {
        let query = self.query;
        (query.mode == MatchMode::Lead || group.any_free_capacity())
            && (!query.same_consortium || group.may_be_in_consortium(self.seeker.consortium))
            && (!query.same_local_authority
                || group.may_be_in_local_authority(self.seeker.local_authority))
    }

    /// SUPPORT never returns a partner behind the seeker, LEAD never one
    /// ahead; an unknown stage never excludes.
    fn stage_direction_admits(&self, partner: Option<Stage>) -> bool {
        match (self.seeker.stage, partner) {
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
        let partial = self.scoring.partial_score(self.seeker, partner);
        self.score_with(index, partial, distance_km)
    }

    fn score_with(&self, index: u32, partial: f64, distance_km: f64) -> Scored {
        Scored {
            score: self.scoring.score(partial, distance_km),
            distance_km,
            index,
        }
    }

    /// Whether a school is in the seeker's family.
    fn in_seekers_family(&self, partner: &Profile) -> bool {
        self.seeker.family != NO_FAMILY && partner.family == self.seeker.family
    }

    /// Turns the ranked indices into the outcome, with full details.
    fn finish(
        &self,
        ranked: Vec<Scored>,
        considered: u32,
        search_radius_km: f64,
        stats: SearchStats,
    ) -> MatchOutcome<'a> {
        let candidates = ranked
            .into_iter()
            .enumerate()
            .map(|(position, scored)| {
                let partner = self.snapshot.profile(scored.index);
                let stage_gap = match (self.seeker.stage, partner.stage) {
                    (Some(seeker), Some(partner)) => Some(partner.level() - seeker.level()),
                    _ => None,
                };
                // The explanation is opt-in: building nine details per
                // candidate is a good part of a match's cost.
                let components = self.query.explain.then(|| {
                    let components =
                        self.scoring
                            .components(self.seeker, partner, scored.distance_km);
                    PerFactor::from_fn(|factor| WeightedComponent {
                        component: components[factor],
                        weight: self.scoring.weights[factor],
                        contribution: self.scoring.weights[factor] * components[factor].value,
                    })
                });
                RankedCandidate {
                    school: self.snapshot.school(scored.index),
                    rank: position as u32 + 1,
                    distance_km: scored.distance_km,
                    score: scored.score,
                    stage_gap,
                    covered_focus: self.scoring.covered_focus(self.seeker, partner),
                    components,
                }
            })
            .collect();
        MatchOutcome {
            seeker: self.snapshot.school(self.seeker_index),
            candidates,
            considered,
            search_radius_km,
            stats,
        }
    }
}

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

/// Splits with more areas than this use no pair trees: a request's focus
/// may name all 21 areas, and 210 pairs per bucket would cost more to start
/// than they save.
const MAX_PAIR_KEYS: u32 = 5;

/// How a search takes each bucket member from exactly one of its trees, by
/// how many of the seeker's `keys` the member has on `side`: none from the
/// all-tree, exactly one from that area's tree, two or more from the tree of
/// its first two (or, without pair trees, its first one) — and a member
/// with more than [`MAX_INDEXED_AREAS`] areas on the side from the side's
/// broad tree, whatever it covers. The focus component is then known
/// exactly for the first two kinds.
#[derive(Debug, Clone, Copy)]
struct Split {
    side: Side,
    keys: FocusSet,
    pairs: bool,
}

impl Split {
    fn owner(self, partner: &Profile) -> TreeKind {
        let areas = self.side.of(partner);
        if areas.len() > MAX_INDEXED_AREAS {
            return TreeKind::Broad(self.side);
        }
        let covered = self.keys.intersection(areas);
        let mut areas = covered.iter();
        match (areas.next(), areas.next()) {
            (None, _) => TreeKind::All,
            (Some(first), None) => TreeKind::Single(self.side, first),
            (Some(first), Some(_)) if !self.pairs => TreeKind::Single(self.side, first),
            (Some(first), Some(second)) => TreeKind::Pair(self.side, first, second),
        }
    }

    /// What the members a tree owns have in common.
    fn coverage(self, tree: TreeKind) -> SplitCoverage {
        match tree {
            TreeKind::All => SplitCoverage::Exactly(0),
            TreeKind::Single(..) if self.pairs => SplitCoverage::Exactly(1),
            TreeKind::Single(..) | TreeKind::Pair(..) | TreeKind::Broad(_) => {
                SplitCoverage::Unknown
            }
        }
    }

    /// The trees besides the all-tree that may own members.
    fn roots(self) -> impl Iterator<Item = TreeKind> {
        let singles = self
            .keys
            .iter()
            .map(move |area| TreeKind::Single(self.side, area));
        let pairs = self
            .keys
            .iter()
            .flat_map(move |first| {
                self.keys
                    .iter()
                    .filter(move |second| *second > first)
                    .map(move |second| TreeKind::Pair(self.side, first, second))
            })
            .filter(move |_| self.pairs);
        singles
            .chain(pairs)
            .chain(std::iter::once(TreeKind::Broad(self.side)))
    }
}

/// A group of schools waiting to be searched, with its score bound.
#[derive(Debug, Clone, Copy)]
struct Pending {
    bound: f64,
    /// Chord from the seeker to the group's nearest possible point.
    chord: f64,
    bucket: u32,
    tree: TreeKind,
    node: u32,
}

impl PartialEq for Pending {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending {
    // The highest bound first; nearer groups first among equal bounds.
    fn cmp(&self, other: &Self) -> Ordering {
        self.bound
            .total_cmp(&other.bound)
            .then_with(|| other.chord.total_cmp(&self.chord))
    }
}

/// The state of one best-first search.
struct Search<'s> {
    plan: &'s Plan<'s>,
    snapshot: &'s Snapshot,
    bounder: GroupBounder<'s>,
    /// Weighted stage and phase terms of each bucket (exact per bucket).
    bucket_terms: Vec<f64>,
    best: Best,
    pending: BinaryHeap<Pending>,
    considered: u32,
    farthest_considered: f64,
    /// Shortest chord to any group left out because of its bound: every
    /// eligible school nearer than this was scored.
    nearest_pruned_chord: f64,
    /// The distance limit as a chord, for pruning groups beyond it.
    max_chord: f64,
    /// How the search takes members from the buckets' trees, if it splits.
    split: Option<Split>,
    stats: SearchStats,
}

impl Search<'_> {
    fn below_threshold(&self, bound: f64) -> bool {
        self.best
            .threshold()
            .is_some_and(|threshold| bound + BOUND_SLACK < threshold)
    }

    /// Bounds a group and queues it, unless it holds no eligible school or
    /// cannot reach the current K-th score.
    fn consider_group(&mut self, bucket: u32, tree: TreeKind, node: u32) {
        let Some(tree_ref) = self.snapshot.index().buckets[bucket as usize].tree(tree) else {
            return;
        };
        let group = &tree_ref.nodes[node as usize];
        if !self.plan.group_admits(&group.summary) {
            return;
        }
        let chord = group.nearest_chord(self.plan.seeker.unit);
        if chord > self.max_chord {
            return;
        }
        self.stats.groups_bounded += 1;
        let coverage = self
            .split
            .map_or(SplitCoverage::Unknown, |split| split.coverage(tree));
        let bound = self.bounder.bound(
            self.bucket_terms[bucket as usize],
            &group.summary,
            chord,
            coverage,
        );
        if self.below_threshold(bound) {
            self.nearest_pruned_chord = self.nearest_pruned_chord.min(chord);
            return;
        }
        self.pending.push(Pending {
            bound,
            chord,
            bucket,
            tree,
            node,
        });
    }

    /// Whether this tree is where `partner` is searched.
    fn owns(&self, tree: TreeKind, partner: &Profile) -> bool {
        self.split.is_none_or(|split| split.owner(partner) == tree)
    }

    fn offer(&mut self, member: u32, partial: f64, distance_km: f64) {
        self.considered += 1;
        self.farthest_considered = self.farthest_considered.max(distance_km);
        self.best
            .offer(self.plan.score_with(member, partial, distance_km));
    }

    /// Scores the members of a leaf that could still enter the top K.
    fn search_leaf(&mut self, next: &Pending) {
        let plan = self.plan;
        let Some(tree) = self.snapshot.index().buckets[next.bucket as usize].tree(next.tree) else {
            return;
        };
        let group = &tree.nodes[next.node as usize];
        let chord = next.chord;
        self.stats.leaves_opened += 1;
        // Proximity can be no higher than at the leaf's nearest point.
        let proximity_bound = self.bounder.proximity_bound(chord);
        let range = group.members();
        for (&member, partner) in tree.members[range.clone()]
            .iter()
            .zip(&tree.profiles[range])
        {
            if !self.owns(next.tree, partner)
                || !plan.admits_in_bucket(member, partner)
                || plan.in_seekers_family(partner)
            {
                continue;
            }
            // Rule the school out before paying for its distance.
            let partial = plan.scoring.partial_score(plan.seeker, partner);
            self.stats.partial_scores += 1;
            if self.below_threshold(partial + proximity_bound) {
                self.nearest_pruned_chord = self.nearest_pruned_chord.min(chord);
                continue;
            }
            let distance_km = plan.distance_km(partner);
            if plan.within_distance(distance_km) {
                self.offer(member, partial, distance_km);
            }
        }
    }
}

/// The fast path: best-first branch and bound over the search index.
pub fn top_k<'a>(
    snapshot: &'a Snapshot,
    query: &'a MatchQuery,
    config: &'a ScoringConfig,
) -> Result<MatchOutcome<'a>> {
    top_k_excluding(snapshot, query, config, &[])
}

/// [`top_k`], also excluding the schools at `also_excluded` (sorted
/// snapshot indices).
pub(crate) fn top_k_excluding<'a>(
    snapshot: &'a Snapshot,
    query: &'a MatchQuery,
    config: &'a ScoringConfig,
    also_excluded: &'a [u32],
) -> Result<MatchOutcome<'a>> {
    let plan = Plan::new(snapshot, query, config, also_excluded)?;
    let index = snapshot.index();
    let bounder = GroupBounder::new(&plan.scoring, plan.seeker);
    let bucket_terms = index
        .buckets
        .iter()
        .map(|bucket| bounder.bucket_term(bucket.stage, bucket.phase))
        .collect();
    let max_chord = query.max_distance_km.map_or(f64::INFINITY, |km| {
        // Chord of the limit, widened a little so rounding never drops a
        // group with a school exactly at the limit.
        2.0 * (km / (2.0 * EARTH_RADIUS_KM))
            .min(std::f64::consts::FRAC_PI_2)
            .sin()
            + 1e-9
    });
    let mut search = Search {
        plan: &plan,
        snapshot,
        bounder,
        bucket_terms,
        best: Best::new(query.limit),
        pending: BinaryHeap::with_capacity(256),
        considered: 0,
        farthest_considered: 0.0,
        nearest_pruned_chord: f64::INFINITY,
        max_chord,
        split: plan.scoring.split(plan.seeker).map(|(side, keys)| Split {
            side,
            keys,
            pairs: keys.len() <= MAX_PAIR_KEYS,
        }),
        stats: SearchStats::default(),
    };

    // The seeker's family first: the group bounds leave out the same-family
    // bonus, so its members are scored here and skipped by the search.
    if plan.seeker.family != NO_FAMILY {
        for &member in snapshot.family_members(plan.seeker.family) {
            let partner = snapshot.profile(member);
            if !plan.admits(member, partner) {
                continue;
            }
            let distance_km = plan.distance_km(partner);
            if plan.within_distance(distance_km) {
                let partial = plan.scoring.partial_score(plan.seeker, partner);
                search.offer(member, partial, distance_km);
            }
        }
    }
    for (bucket, bucket_ref) in index.buckets.iter().enumerate() {
        if plan.bucket_admits(bucket_ref.phase, bucket_ref.stage) {
            search.consider_group(bucket as u32, TreeKind::All, 0);
            if let Some(split) = search.split {
                for root in split.roots() {
                    search.consider_group(bucket as u32, root, 0);
                }
            }
        }
    }
    while let Some(next) = search.pending.pop() {
        if search.below_threshold(next.bound) {
            // Everything still queued is bounded lower still.
            search.nearest_pruned_chord = search
                .pending
                .iter()
                .map(|p| p.chord)
                .fold(search.nearest_pruned_chord.min(next.chord), f64::min);
            break;
        }
        let children = index.buckets[next.bucket as usize]
            .tree(next.tree)
            .and_then(|tree| tree.nodes[next.node as usize].children());
        match children {
            Some(first) => {
                // Siblings are adjacent: one or two cache lines.
                search.consider_group(next.bucket, next.tree, first);
                search.consider_group(next.bucket, next.tree, first + 1);
            }
            None => search.search_leaf(&next),
        }
    }

    let radius = if search.nearest_pruned_chord.is_finite() {
        let chord = search.nearest_pruned_chord;
        UnitVector::chord_squared_to_km(chord * chord)
    } else {
        query.max_distance_km.unwrap_or(search.farthest_considered)
    };
    let ranked = search.best.heap.into_sorted_vec();
    Ok(plan.finish(ranked, search.considered, radius, search.stats))
}

/// The reference: score every school that passes the filters, sort, cut.
pub fn brute_force<'a>(
    snapshot: &'a Snapshot,
    query: &'a MatchQuery,
    config: &'a ScoringConfig,
) -> Result<MatchOutcome<'a>> {
    let plan = Plan::new(snapshot, query, config, &[])?;
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
    Ok(plan.finish(all, considered, radius, SearchStats::default()))
}

/// `candidate` (from a search for `query`'s seeker) with its explanation.
pub(crate) fn explain<'a>(
    snapshot: &'a Snapshot,
    query: &'a MatchQuery,
    config: &'a ScoringConfig,
    candidate: &RankedCandidate<'a>,
) -> Result<RankedCandidate<'a>> {
    let plan = Plan::new(snapshot, query, config, &[])?;
    let index = snapshot
        .index_of(candidate.school.school.id.as_str())
        .ok_or_else(|| Error::school_not_found(candidate.school.school.id.as_str()))?;
    let scored = Scored {
        score: candidate.score,
        distance_km: candidate.distance_km,
        index,
    };
    let mut explained = plan
        .finish(
            vec![scored],
            1,
            candidate.distance_km,
            SearchStats::default(),
        )
        .candidates
        .pop()
        .ok_or_else(|| Error::Internal("explaining a candidate produced nothing".into()))?;
    explained.rank = candidate.rank;
    Ok(explained)
}

/// The score `query`'s seeker gives the school at `partner` (ignoring the
/// hard filters): how group formation measures cohesion.
pub(crate) fn pair_score(
    snapshot: &Snapshot,
    query: &MatchQuery,
    config: &ScoringConfig,
    partner: u32,
) -> Result<f64> {
    let plan = Plan::new(snapshot, query, config, &[])?;
    let profile = snapshot.profile(partner);
    Ok(plan
        .score(partner, profile, plan.distance_km(profile))
        .score)
}
