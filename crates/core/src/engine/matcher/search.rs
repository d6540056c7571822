//! The fast path: best-first branch and bound over the search index. Groups
//! of schools are taken in order of an upper bound on their members'
//! scores, and the search stops as soon as no group left could reach the
//! current K-th best score.

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use crate::domain::{EARTH_RADIUS_KM, FocusSet, UnitVector};

use super::super::config::ScoringConfig;
use super::super::error::{Error, Result};
use super::super::index::{Entry, MAX_INDEXED_AREAS, Side, Tree, TreeKind};
use super::super::prefetch::prefetch;
use super::super::scoring::{AreaLevels, BucketTerm, GroupBounder, NO_FAMILY, SplitCoverage};
use super::super::snapshot::Snapshot;
use super::filters::{MatchPlan, SearchRequest};
use super::{MatchOutcome, MatchQuery, Scored, SearchStats};

/// Slack on the pruning bound: a group's bound and its members' scores come
/// from the same value functions summed in the same order, but through
/// different inputs (a range's end, a box corner), which may round
/// differently in the last bits.
const BOUND_SLACK: f64 = 1e-9;

/// The top K so far: the worst of them on top of the heap.
struct Best<'s> {
    heap: BinaryHeap<Scored>,
    limit: usize,
    snapshot: &'s Snapshot,
}

impl<'s> Best<'s> {
    fn new(limit: usize, snapshot: &'s Snapshot) -> Best<'s> {
        Best {
            heap: BinaryHeap::with_capacity(limit + 1),
            limit,
            snapshot,
        }
    }

    /// Keeps `scored` if it ranks among the best K. Its order key (the
    /// tie-break by id, a read elsewhere in memory) is read only for a
    /// school that enters the heap or ties with the worst there.
    fn offer(&mut self, mut scored: Scored) {
        if self.heap.len() < self.limit {
            scored.order = self.snapshot.order_key(scored.index);
            self.heap.push(scored);
        } else if let Some(mut worst) = self.heap.peek_mut() {
            let unordered = scored.rank_order_but_id(&worst);
            if unordered.is_le() {
                scored.order = self.snapshot.order_key(scored.index);
                if scored < *worst {
                    *worst = scored;
                }
            }
        }
    }

    /// The K-th best tier and score once K schools are held.
    fn threshold(&self) -> Option<(u8, f64)> {
        (self.heap.len() == self.limit)
            .then(|| self.heap.peek().map(|worst| (worst.tier, worst.score)))
            .flatten()
    }
}

/// Splits with more areas than this use no pair trees: each pair is one
/// more root per bucket to bound and one more tree whose leaves near the
/// seeker compete, which beyond three areas (three pairs) costs more than
/// the exact focus bound saves. Alternating 3 and 5 in one process (512
/// seekers): at 30,000 LEAD mean 67.0 -> 60.2 us, PEER 77.5 -> 73.9,
/// SUPPORT unchanged; at 10,000 and 100,000 the same way. (Two was faster
/// still for LEAD and PEER but lengthened SUPPORT's tail at 100,000.)
const MAX_PAIR_KEYS: u32 = 3;

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
    fn owner(self, partner: &Entry) -> TreeKind {
        let areas = self.side.pick(partner.strengths, partner.needs);
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
struct Pending<'s> {
    /// The highest focus tier a member could rank in.
    tier: u8,
    bound: f64,
    /// Bound on the members' terms other than stage and proximity.
    other_terms: f64,
    /// Of which the bound on the focus term.
    focus: f64,
    /// Chord from the seeker to the group's nearest possible point.
    chord: f64,
    bucket: u32,
    kind: TreeKind,
    tree: &'s Tree,
    node: u32,
}

impl PartialEq for Pending<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.cmp(other) == Ordering::Equal
    }
}
impl Eq for Pending<'_> {}
impl PartialOrd for Pending<'_> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Pending<'_> {
    // The highest tier and bound first; nearer groups first among equal
    // bounds.
    fn cmp(&self, other: &Self) -> Ordering {
        self.tier
            .cmp(&other.tier)
            .then_with(|| self.bound.total_cmp(&other.bound))
            .then_with(|| other.chord.total_cmp(&self.chord))
    }
}

/// The state of one best-first search.
struct Search<'p, 's, 'q> {
    plan: &'p MatchPlan<'s, 'q>,
    snapshot: &'s Snapshot,
    bounder: GroupBounder<'s>,
    /// Weighted stage and phase terms of each bucket (exact per bucket).
    bucket_terms: Vec<BucketTerm>,
    best: Best<'s>,
    pending: BinaryHeap<Pending<'s>>,
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

impl<'s> Search<'_, 's, '_> {
    /// Whether a school or group of at most this tier and score bound
    /// cannot enter the top K: a lower tier than the K-th, or the same
    /// tier and a lower score.
    fn below_threshold(&self, tier: u8, bound: f64) -> bool {
        self.best
            .threshold()
            .is_some_and(|(threshold_tier, threshold)| {
                tier < threshold_tier || (tier == threshold_tier && bound + BOUND_SLACK < threshold)
            })
    }

    /// Bounds a group and queues it, unless it holds no eligible school or
    /// cannot reach the current K-th score.
    fn consider_group(&mut self, bucket: u32, kind: TreeKind, tree: &'s Tree, node: u32) {
        let group = &tree.nodes[node as usize];
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
            .map_or(SplitCoverage::Unknown, |split| split.coverage(kind));
        let bound = self.bounder.bound(
            self.bucket_terms[bucket as usize],
            &group.summary,
            // Read only where it counts: the levels are a second cache line.
            if group.summary.any_area_grades() {
                tree.levels[node as usize]
            } else {
                AreaLevels::default()
            },
            chord,
            coverage,
        );
        if self.below_threshold(bound.tier, bound.score) {
            self.nearest_pruned_chord = self.nearest_pruned_chord.min(chord);
            return;
        }
        // A queued group is likely to be taken: start loading what taking
        // it reads (its children, or its leaf's first entries), so it
        // arrives while other groups are bounded.
        match group.children() {
            Some(first) => prefetch(&tree.nodes[first as usize..first as usize + 2]),
            None => {
                let members = group.members();
                let start = members.start;
                prefetch(&tree.entries[start..start + members.len().min(4)]);
            }
        }
        self.pending.push(Pending {
            tier: bound.tier,
            bound: bound.score,
            other_terms: bound.other_terms,
            focus: bound.focus,
            chord,
            bucket,
            kind,
            tree,
            node,
        });
    }

    /// Whether this tree is where `partner` is searched.
    fn owns(&self, tree: TreeKind, partner: &Entry) -> bool {
        self.split.is_none_or(|split| split.owner(partner) == tree)
    }

    fn offer(&mut self, member: u32, tier: u8, partial: f64, distance_km: f64) {
        self.considered += 1;
        self.farthest_considered = self.farthest_considered.max(distance_km);
        self.best
            .offer(self.plan.score_with(member, tier, partial, distance_km));
    }

    /// Scores the members of a leaf that could still enter the top K.
    fn search_leaf(&mut self, next: &Pending<'s>) {
        let plan = self.plan;
        let bucket = &self.snapshot.index().buckets[next.bucket as usize];
        let tree = next.tree;
        let range = tree.nodes[next.node as usize].members();
        self.stats.leaves_opened += 1;
        let must_support = plan.partner_supports();
        let others_but_focus = next.other_terms - next.focus;
        for (position, entry) in range.clone().zip(&tree.entries[range]) {
            if !self.owns(next.kind, entry)
                || (must_support && !entry.can_support)
                || plan.scoring.needs_what_is_asked(entry.needs)
            {
                continue;
            }
            // Rule the school out from its entry: its stage term (a few
            // table lookups) and proximity at its own chord (three products,
            // no transcendental function), the other terms at the leaf's
            // bound. Its profile is read only if that does not rule it out.
            let chord = entry.chord_at_least(plan.seeker.unit);
            if chord > self.max_chord {
                continue;
            }
            let proximity_bound = self.bounder.proximity_bound(chord);
            let tier = plan
                .scoring
                .focus_tier(plan.seeker, entry.strengths, entry.needs);
            let stage = plan.scoring.stage_term_of(entry.stage, entry.area_grades);
            if self.below_threshold(tier, stage + next.other_terms + proximity_bound) {
                self.nearest_pruned_chord = self.nearest_pruned_chord.min(chord);
                continue;
            }
            // The focus term from the entry too: the leaf's union of needs
            // and strengths bounds it loosely.
            let focus = plan
                .scoring
                .focus_term(plan.seeker, entry.strengths, entry.needs);
            if self.below_threshold(tier, stage + others_but_focus + focus + proximity_bound) {
                self.nearest_pruned_chord = self.nearest_pruned_chord.min(chord);
                continue;
            }
            let member = tree.members[position];
            if bucket.is_stale(member) {
                continue;
            }
            // The tree's copy, or (a pair tree keeps none) the snapshot's
            // profile: not stale, the member is as the tree was built but
            // for its family, which is not read here.
            let partner = tree
                .profiles
                .get(position)
                .unwrap_or_else(|| self.snapshot.profile(member));
            if !plan.admits_in_bucket(member, partner) {
                continue;
            }
            let partial = stage + plan.scoring.other_terms_with(plan.seeker, partner, false);
            self.stats.partial_scores += 1;
            if self.below_threshold(tier, partial + proximity_bound) {
                self.nearest_pruned_chord = self.nearest_pruned_chord.min(chord);
                continue;
            }
            let distance_km = plan.distance_km(partner);
            // The seeker's family was scored before the search: asked last,
            // as few members get this far.
            if plan.within_distance(distance_km) && !plan.in_seekers_family(member) {
                self.offer(member, tier, partial, distance_km);
            }
        }
    }
}

/// The fast path: best-first branch and bound over the search index.
pub fn top_k<'s>(
    snapshot: &'s Snapshot,
    query: &MatchQuery,
    config: &ScoringConfig,
) -> Result<MatchOutcome<'s>> {
    with_request(snapshot, query, |seeker, request| {
        search(snapshot, seeker, request, config)
    })
}

/// Runs `run` with the seeker's snapshot index and the query as a search
/// request: its exclusions as snapshot indices (sorted; ids the registry
/// does not have are ignored).
pub(super) fn with_request<T>(
    snapshot: &Snapshot,
    query: &MatchQuery,
    run: impl FnOnce(u32, &SearchRequest<'_>) -> Result<T>,
) -> Result<T> {
    let seeker = snapshot
        .index_of(query.seeker.as_str())
        .ok_or_else(|| Error::school_not_found(query.seeker.as_str()))?;
    let mut excluded: Vec<u32> = query
        .exclude
        .iter()
        .filter_map(|id| snapshot.index_of(id.as_str()))
        .collect();
    excluded.sort_unstable();
    excluded.dedup();
    let request = SearchRequest {
        constraints: &query.constraints,
        limit: query.limit,
        explain: query.explain,
        excluded: &excluded,
        tiered: true,
    };
    run(seeker, &request)
}

/// The search when partners must share the seeker's trust or diocese:
/// scores every member (read from the membership graph). A trust holds tens
/// of schools and a diocese a few hundred, fewer than a search of the
/// whole index would bound.
fn search_members<'s>(plan: &MatchPlan<'s, '_>, members: &[u32]) -> MatchOutcome<'s> {
    let mut best = Best::new(plan.limit, plan.snapshot);
    let (mut considered, mut farthest) = (0u32, 0.0f64);
    for &member in members {
        let partner = plan.snapshot.profile(member);
        if !plan.admits(member, partner) {
            continue;
        }
        let distance_km = plan.distance_km(partner);
        if plan.within_distance(distance_km) {
            considered += 1;
            farthest = farthest.max(distance_km);
            best.offer(plan.score(member, partner, distance_km));
        }
    }
    let radius = plan.constraints.max_distance_km.unwrap_or(farthest);
    let stats = SearchStats {
        partial_scores: considered,
        ..SearchStats::default()
    };
    plan.finish(best.heap.into_sorted_vec(), considered, radius, stats)
}

/// The best-first search for the seeker at `seeker` (a snapshot index).
pub(crate) fn search<'s>(
    snapshot: &'s Snapshot,
    seeker: u32,
    request: &SearchRequest<'_>,
    config: &ScoringConfig,
) -> Result<MatchOutcome<'s>> {
    let plan = MatchPlan::new(snapshot, seeker, request, config)?;
    if let Some(members) = plan.members_only() {
        return Ok(search_members(&plan, members));
    }
    let index = snapshot.index();
    let bounder = GroupBounder::new(&plan.scoring, plan.seeker);
    let bucket_terms = index
        .buckets
        .iter()
        .map(|bucket| bounder.bucket_term(bucket.stage, bucket.phase))
        .collect();
    let max_chord = plan
        .constraints
        .max_distance_km
        .map_or(f64::INFINITY, |km| {
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
        best: Best::new(plan.limit, snapshot),
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
        let family = snapshot.family_members(plan.seeker.family);
        // Asked for all at once, the family's profiles load side by side.
        for &member in family {
            prefetch(snapshot.profile(member));
        }
        for &member in family {
            let partner = snapshot.profile(member);
            if !plan.admits(member, partner) {
                continue;
            }
            let distance_km = plan.distance_km(partner);
            if plan.within_distance(distance_km) {
                let partial = plan.scoring.partial_score(plan.seeker, partner);
                search.offer(member, plan.tier(partner), partial, distance_km);
            }
        }
    }
    for (bucket, bucket_ref) in index.buckets.iter().enumerate() {
        if plan.bucket_admits(bucket_ref.phase, bucket_ref.stage) {
            // Members written since the bucket's trees were built, each
            // scored: the trees skip their old entries.
            for (member, partner) in bucket_ref.fresh() {
                if plan.admits_in_bucket(*member, partner) && !plan.in_seekers_family(*member) {
                    let distance_km = plan.distance_km(partner);
                    if plan.within_distance(distance_km) {
                        // Outside the seeker's family (scored first), whatever
                        // family the copy holds.
                        let partial = plan.scoring.stage_term(partner)
                            + plan.scoring.other_terms_with(plan.seeker, partner, false);
                        search.offer(*member, plan.tier(partner), partial, distance_km);
                    }
                }
            }
            let bucket = bucket as u32;
            search.consider_group(bucket, TreeKind::All, bucket_ref.all(), 0);
            if let Some(split) = search.split {
                // The roots' nodes, asked for together before any is bounded.
                for kind in split.roots() {
                    if let Some(tree) = bucket_ref.tree(kind) {
                        prefetch(&tree.nodes[0]);
                    }
                }
                for kind in split.roots() {
                    if let Some(tree) = bucket_ref.tree(kind) {
                        search.consider_group(bucket, kind, tree, 0);
                    }
                }
            }
        }
    }
    while let Some(next) = search.pending.pop() {
        if search.below_threshold(next.tier, next.bound) {
            // Everything still queued is bounded lower still.
            search.nearest_pruned_chord = search
                .pending
                .iter()
                .map(|p| p.chord)
                .fold(search.nearest_pruned_chord.min(next.chord), f64::min);
            break;
        }
        match next.tree.nodes[next.node as usize].children() {
            Some(first) => {
                // Siblings are adjacent: one or two cache lines.
                search.consider_group(next.bucket, next.kind, next.tree, first);
                search.consider_group(next.bucket, next.kind, next.tree, first + 1);
            }
            None => search.search_leaf(&next),
        }
    }

    let radius = if search.nearest_pruned_chord.is_finite() {
        let chord = search.nearest_pruned_chord;
        UnitVector::chord_squared_to_km(chord * chord)
    } else {
        plan.constraints
            .max_distance_km
            .unwrap_or(search.farthest_considered)
    };
    let ranked = search.best.heap.into_sorted_vec();
    Ok(plan.finish(ranked, search.considered, radius, search.stats))
}
