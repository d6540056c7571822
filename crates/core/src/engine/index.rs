//! The search index: for every (phase, stage) bucket of open schools, a
//! k-d tree whose nodes carry a [`GroupSummary`] of their members (unions of
//! strengths and needs, ranges of challenge and size, the media present, the
//! most free capacity, the area) and a bounding box on the unit sphere.
//!
//! Inside a bucket the stage and phase components are exact, and the
//! summaries bound every other component, so the matcher can search
//! best-first by an upper bound on the score and skip whole groups that
//! cannot reach the current K-th score. Spatial trees such as `rstar` visit
//! nearest first but cannot carry these summaries; distance alone cannot
//! prune, because schools far away still compete on stage and focus.
//!
//! Nodes split on whichever of position, challenge index, size and number
//! of strengths spreads most in score terms, so a node's members are alike in
//! what the score reads, which keeps the summaries tight.
//!
//! A write does not rebuild trees: each bucket keeps an exact overlay of the
//! members written since its trees were built (their old entries skipped,
//! their new profiles scored one by one). Past [`MAX_OVERLAY`] changes the
//! engine's merger builds that bucket's trees again off the write path
//! ([`Merged`]) and installs them with the overlay recomputed against
//! whatever was written meanwhile; only a bucket [`MAX_OVERLAY_BEHIND`]
//! changes behind is built again by the write itself. A skipped entry only
//! loosens the summaries around it, so every bound stays a bound.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::domain::{EARTH_RADIUS_KM, FocusArea, FocusSet, Phase, Stage, UnitVector};

use super::chunked::Chunked;
use super::scoring::{AreaGrades, AreaLevels, GroupSummary, Profile, f32_down, f32_up};

/// Largest number of schools in a leaf. Leaves are scanned sequentially
/// with the cheap partial score, which costs less than bounding more,
/// smaller nodes: on 30k schools 32 beat 4–16 and matched 64
/// (`cargo bench --bench latency`). At most 255 (the count is a byte).
pub(super) const LEAF_SIZE: usize = 32;

/// How much one unit of each split dimension moves the default score, near
/// the seeker: proximity 0.22 over 40 km, context 0.07·0.75 over 30
/// challenge points, size 0.04 over ln 10. Only the tree's shape depends on
/// these.
const KM_WEIGHT: f64 = 0.22 / 40.0;
const CHALLENGE_WEIGHT: f64 = 0.07 * 0.75 / 30.0;
const LN_PUPILS_WEIGHT: f64 = 0.04 / std::f64::consts::LN_10;
/// Focus 0.15 over a typical three needs: one strength more or less (half
/// the component is for covering any, half by the share).
const STRENGTH_WEIGHT: f64 = 0.15 * 0.5 / 3.0;
/// Split dimensions: three of position, challenge, size, strength count.
/// Grades are not split on: splitting on the level in each focus area
/// (weighted from a sixth to eight times a stage step) made the leaves
/// wider apart and the search open more of them, not fewer.
const DIMENSIONS: usize = 6;

/// One node of a tree: one cache line.
#[derive(Debug, Clone)]
#[repr(C)]
pub(crate) struct Node {
    /// Bounding box of the members' unit vectors, rounded outwards.
    low: [f32; 3],
    high: [f32; 3],
    pub summary: GroupSummary,
    /// Leaf: where its members start in `Tree::members`. Inner node: the
    /// index of its first child; the second follows it.
    first: u32,
}

const _: () = assert!(std::mem::size_of::<Node>() == 64);

impl Node {
    fn placeholder() -> Node {
        Node {
            low: [0.0; 3],
            high: [0.0; 3],
            summary: GroupSummary::EMPTY,
            first: 0,
        }
    }

    /// A lower bound on the chord from `point` to any member: the chord to
    /// the nearest point of the box.
    pub(crate) fn nearest_chord(&self, point: UnitVector) -> f64 {
        let mut chord_squared = 0.0;
        for axis in 0..3 {
            let nearest =
                point.0[axis].clamp(f64::from(self.low[axis]), f64::from(self.high[axis]));
            let delta = point.0[axis] - nearest;
            chord_squared += delta * delta;
        }
        chord_squared.sqrt()
    }

    /// Inner node: the index of its first child (the second follows).
    pub(crate) fn children(&self) -> Option<u32> {
        (self.summary.members() > LEAF_SIZE).then_some(self.first)
    }

    /// Leaf: the positions of its members in `Tree::members`.
    pub(crate) fn members(&self) -> std::ops::Range<usize> {
        let start = self.first as usize;
        start..start + self.summary.members()
    }
}

/// Lowered from a chord computed from an [`Entry`]'s rounded position, it
/// is at most the exact chord: each coordinate rounds to `f32` by less than
/// 6e-8, so the chord moves by less than 1.1e-7.
const ENTRY_CHORD_ROUNDING: f64 = 1e-6;

/// What a search reads of a tree member to rule it out before reading its
/// profile: which areas it has (which tree owns it), where it is, what its
/// stage term reads, and whether it can give support. 32 bytes, two to a
/// cache line, against a profile's two lines: most members a leaf holds are
/// ruled out on these alone (at 30,000 schools, about half in PEER).
#[derive(Debug, Clone, Copy)]
#[repr(C)]
pub(crate) struct Entry {
    pub area_grades: AreaGrades,
    /// The position rounded to `f32`: only for a lower bound on the chord.
    unit: [f32; 3],
    pub strengths: FocusSet,
    pub needs: FocusSet,
    pub stage: Option<Stage>,
    /// Has free capacity and safeguarding is not "not met".
    pub can_support: bool,
}

const _: () = assert!(std::mem::size_of::<Entry>() == 32);

impl Entry {
    fn of(profile: &Profile) -> Entry {
        Entry {
            area_grades: profile.area_grades,
            unit: profile.unit.0.map(|coordinate| coordinate as f32),
            strengths: profile.strengths,
            needs: profile.needs,
            stage: profile.stage,
            can_support: profile.free_capacity() > 0 && !profile.safeguarding_not_met,
        }
    }

    /// A lower bound on the chord from `point` to the member.
    #[inline]
    pub(crate) fn chord_at_least(&self, point: UnitVector) -> f64 {
        let rounded = UnitVector(self.unit.map(f64::from));
        (point.chord_squared(rounded).sqrt() - ENTRY_CHORD_ROUNDING).max(0.0)
    }
}

/// A k-d tree over some schools.
#[derive(Debug, Clone)]
pub(crate) struct Tree {
    /// School indices in tree order: every node covers a contiguous run.
    pub members: Vec<u32>,
    /// What a search reads first of each member, in the same order.
    pub entries: Vec<Entry>,
    /// The members' profiles in the same order, so a leaf is read
    /// sequentially rather than from all over the snapshot; empty in a
    /// pair tree, whose members read their profiles from the snapshot.
    /// A school with five strengths and five needs is in twenty pair trees
    /// (of 31): without their copies, such data takes 1.5× the default
    /// data's memory instead of 2.0× (both 30,000 schools).
    pub profiles: Vec<Profile>,
    /// `nodes[0]` is the root.
    pub nodes: Vec<Node>,
    /// The grade levels of each node's members, by node (read only for
    /// groups with area grades, so kept out of the node's cache line).
    pub levels: Vec<AreaLevels>,
}

impl Tree {
    /// The tree over `members`, with copies of their profiles if
    /// `copy_profiles`.
    fn build(profiles: &Chunked<Profile>, mut members: Vec<u32>, copy_profiles: bool) -> Tree {
        let capacity = 2 * members.len() / LEAF_SIZE + 1;
        let mut built = Built {
            nodes: Vec::with_capacity(capacity),
            levels: Vec::with_capacity(capacity),
        };
        built.push_placeholders(1);
        build_node(profiles, &mut members, 0, &mut built, 0);
        Tree {
            entries: members
                .iter()
                .map(|m| Entry::of(&profiles[*m as usize]))
                .collect(),
            profiles: if copy_profiles {
                members.iter().map(|m| profiles[*m as usize]).collect()
            } else {
                Vec::new()
            },
            members,
            nodes: built.nodes,
            levels: built.levels,
        }
    }
}

/// Which focus areas of a school a split looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    /// What it can offer: SUPPORT and PEER compare the seeker's wants with
    /// these.
    Strengths,
    /// What it wants: LEAD compares these with what the seeker offers.
    Needs,
}

impl Side {
    pub(crate) fn of(self, profile: &Profile) -> FocusSet {
        self.pick(profile.strengths, profile.needs)
    }

    pub(crate) fn pick(self, strengths: FocusSet, needs: FocusSet) -> FocusSet {
        match self {
            Side::Strengths => strengths,
            Side::Needs => needs,
        }
    }

    fn slot(self) -> usize {
        match self {
            Side::Strengths => 0,
            Side::Needs => 1,
        }
    }
}

/// Which tree of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TreeKind {
    /// Every member.
    All,
    /// The members with this area on this side (and at most
    /// [`MAX_INDEXED_AREAS`] areas there).
    Single(Side, FocusArea),
    /// The members with both areas (first before second) on this side
    /// (and at most [`MAX_INDEXED_AREAS`] areas there).
    Pair(Side, FocusArea, FocusArea),
    /// The members with more than [`MAX_INDEXED_AREAS`] areas on this side.
    Broad(Side),
}

/// A member with at most this many areas on a side is put in that side's
/// tree of each of its areas and of each pair of them; one with more is put
/// in the side's broad tree instead. Without the cap a school with all 21
/// areas on both sides would be copied into 463 trees (≈ 50 KB of index);
/// with it, a school is in at most 1 + 2 × (5 + 10) = 31 trees, and one
/// with every area in 3. Five keeps the exact per-area bounds for the
/// strengths and needs schools usually record (the synthetic data has at
/// most five strengths and four needs).
pub(super) const MAX_INDEXED_AREAS: u32 = 5;

const AREAS: usize = FocusArea::ALL.len();

fn pair_slot(first: FocusArea, second: FocusArea) -> usize {
    first as usize * AREAS + second as usize
}

/// The trees of one bucket: one of all the members it was built from, and
/// for each side one tree per focus area and one per pair of areas, of the
/// members having them (members with up to [`MAX_INDEXED_AREAS`] areas on
/// the side), and one broad tree of the members with more. A search for
/// partners covering some focus areas can then take each member from the
/// tree matching how many of those areas it has — none, exactly one, two or
/// more — and bound the focus component exactly for the first two; members
/// with many areas are bounded from their broad tree's summary.
#[derive(Debug)]
pub(crate) struct Trees {
    pub all: Tree,
    /// By side, then by [`FocusArea`] position; `None` where no member has
    /// the area.
    singles: [Vec<Option<Tree>>; 2],
    /// By side, then by `first * 21 + second`.
    pairs: [Vec<Option<Tree>>; 2],
    /// By side: members with more areas there than are indexed one by one.
    broad: [Option<Tree>; 2],
}

impl Trees {
    fn build(profiles: &Chunked<Profile>, members: &[u32]) -> Trees {
        let mut singles: [Vec<Vec<u32>>; 2] = [vec![Vec::new(); AREAS], vec![Vec::new(); AREAS]];
        let mut pairs: [Vec<Vec<u32>>; 2] = [
            vec![Vec::new(); AREAS * AREAS],
            vec![Vec::new(); AREAS * AREAS],
        ];
        let mut broad: [Vec<u32>; 2] = [Vec::new(), Vec::new()];
        for &member in members {
            for side in [Side::Strengths, Side::Needs] {
                let areas = side.of(&profiles[member as usize]);
                if areas.len() > MAX_INDEXED_AREAS {
                    broad[side.slot()].push(member);
                    continue;
                }
                for first in areas.iter() {
                    singles[side.slot()][first as usize].push(member);
                    for second in areas.iter().filter(|second| *second > first) {
                        pairs[side.slot()][pair_slot(first, second)].push(member);
                    }
                }
            }
        }
        let trees = |lists: Vec<Vec<u32>>, copy_profiles: bool| -> Vec<Option<Tree>> {
            lists
                .into_iter()
                .map(|list| (!list.is_empty()).then(|| Tree::build(profiles, list, copy_profiles)))
                .collect()
        };
        let [single_strengths, single_needs] = singles;
        let [pair_strengths, pair_needs] = pairs;
        let broad = broad.map(|list| (!list.is_empty()).then(|| Tree::build(profiles, list, true)));
        Trees {
            all: Tree::build(profiles, members.to_vec(), true),
            singles: [trees(single_strengths, true), trees(single_needs, true)],
            pairs: [trees(pair_strengths, false), trees(pair_needs, false)],
            broad,
        }
    }
}

/// Changes a bucket holds beside its trees before the merger builds them
/// again. Each fresh member is scored by every search that reads the
/// bucket, so this bounds what a search pays for writes not yet merged.
pub(super) const MAX_OVERLAY: usize = 32;

/// Changes past which a write builds its bucket's trees again itself
/// (24–83 ms for a bucket of thousands at 30,000 schools) rather than wait
/// for the merger: the merger has fallen this far behind the writes.
pub(super) const MAX_OVERLAY_BEHIND: usize = 8 * MAX_OVERLAY;

/// The open schools of one phase and stage: [`Trees`] built from its
/// members as they were, shared between snapshots, and an exact overlay of
/// the writes since — the members whose entries in the trees are out of
/// date (skipped by a search) and the members with their current profiles
/// that the trees do not hold (scored one by one). The members of the
/// trees that are not stale, with the fresh ones, are the bucket's members
/// now, each once.
#[derive(Debug, Clone)]
pub(crate) struct Bucket {
    pub phase: Phase,
    pub stage: Option<Stage>,
    /// The members' indices now, ascending.
    members: Vec<u32>,
    trees: Arc<Trees>,
    /// Bits by school index: entries of the trees to skip.
    stale: Vec<u64>,
    stale_count: usize,
    /// Members the trees do not hold as they are now, with their profiles.
    fresh: Vec<(u32, Profile)>,
}

impl Bucket {
    fn build(
        profiles: &Chunked<Profile>,
        phase: Phase,
        stage: Option<Stage>,
        members: Vec<u32>,
    ) -> Bucket {
        Bucket {
            phase,
            stage,
            trees: Arc::new(Trees::build(profiles, &members)),
            members,
            stale: Vec::new(),
            stale_count: 0,
            fresh: Vec::new(),
        }
    }

    /// The tree of every member the trees were built from.
    pub(crate) fn all(&self) -> &Tree {
        &self.trees.all
    }

    pub(crate) fn tree(&self, kind: TreeKind) -> Option<&Tree> {
        let trees = &self.trees;
        match kind {
            TreeKind::All => Some(&trees.all),
            TreeKind::Single(side, area) => trees.singles[side.slot()][area as usize].as_ref(),
            TreeKind::Pair(side, first, second) => {
                trees.pairs[side.slot()][pair_slot(first, second)].as_ref()
            }
            TreeKind::Broad(side) => trees.broad[side.slot()].as_ref(),
        }
    }

    /// Whether the trees' entry for school `member` is out of date.
    #[inline]
    pub(crate) fn is_stale(&self, member: u32) -> bool {
        self.stale_count > 0
            && self
                .stale
                .get(member as usize / 64)
                .is_some_and(|word| word >> (member % 64) & 1 == 1)
    }

    /// Members the trees do not hold as they are now, with their profiles.
    pub(crate) fn fresh(&self) -> &[(u32, Profile)] {
        &self.fresh
    }

    /// Takes school `member` out of the bucket.
    fn remove(&mut self, member: u32) {
        if let Ok(position) = self.members.binary_search(&member) {
            self.members.remove(position);
        }
        if let Some(position) = self.fresh.iter().position(|(m, _)| *m == member) {
            // Fresh: never in the trees as it is now, so nothing to skip
            // there unless it was marked stale before it was written again.
            self.fresh.remove(position);
            return;
        }
        self.mark_stale(member);
    }

    /// Puts school `member` in the bucket with `profile`.
    fn add(&mut self, member: u32, profile: Profile) {
        if let Err(position) = self.members.binary_search(&member) {
            self.members.insert(position, member);
        }
        self.fresh.push((member, profile));
    }

    fn overlay(&self) -> usize {
        self.stale_count + self.fresh.len()
    }

    fn key(&self) -> BucketKey {
        (self.phase, self.stage)
    }

    /// Marks the trees' entry for school `member` out of date.
    fn mark_stale(&mut self, member: u32) {
        let word = member as usize / 64;
        if self.stale.len() <= word {
            self.stale.resize(word + 1, 0);
        }
        if self.stale[word] >> (member % 64) & 1 == 0 {
            self.stale[word] |= 1 << (member % 64);
            self.stale_count += 1;
        }
    }

    /// This bucket over `merged`'s trees, its overlay recomputed exactly:
    /// a member the trees hold as it is now (family aside, which the index
    /// does not read) needs nothing; any other held entry is stale, and any
    /// member not held as it is now is fresh with its current profile.
    fn rebased(&self, merged: Merged, profiles: &Chunked<Profile>) -> Bucket {
        let mut bucket = Bucket {
            phase: self.phase,
            stage: self.stage,
            members: self.members.clone(),
            trees: merged.trees,
            stale: Vec::new(),
            stale_count: 0,
            fresh: Vec::new(),
        };
        let mut held = merged.held.iter().peekable();
        for &member in &self.members {
            while let Some((gone, _)) = held.next_if(|(m, _)| *m < member) {
                bucket.mark_stale(*gone);
            }
            let now = profiles[member as usize];
            match held.next_if(|(m, _)| *m == member) {
                Some((_, copy)) if copy.same_but_family(&now) => {}
                Some(_) => {
                    bucket.mark_stale(member);
                    bucket.fresh.push((member, now));
                }
                None => bucket.fresh.push((member, now)),
            }
        }
        for (gone, _) in held {
            bucket.mark_stale(*gone);
        }
        bucket
    }
}

/// A bucket's identity in the index.
pub(crate) type BucketKey = (Phase, Option<Stage>);

/// A bucket's trees built again off the write path from the members and
/// profiles of one snapshot, to be installed in a later one.
pub(crate) struct Merged {
    key: BucketKey,
    /// The trees the bucket had when the build started: the new ones
    /// replace only those (a bucket built again meanwhile, or a snapshot
    /// built whole, renumbers what `held` refers to).
    replaces: Arc<Trees>,
    trees: Arc<Trees>,
    /// What the new trees hold: each member with its profile, by member.
    held: Vec<(u32, Profile)>,
}

#[derive(Debug, Clone, Default)]
pub(crate) struct SearchIndex {
    /// In (phase, stage) order; shared between snapshots while unchanged.
    pub buckets: Vec<Arc<Bucket>>,
}

impl SearchIndex {
    /// Indexes every open school (closed schools are never matched).
    pub(crate) fn build(profiles: &Chunked<Profile>) -> SearchIndex {
        let mut groups: BTreeMap<(Phase, Option<Stage>), Vec<u32>> = BTreeMap::new();
        for (index, profile) in profiles.iter().enumerate() {
            if profile.open {
                groups
                    .entry((profile.phase, profile.stage))
                    .or_default()
                    .push(index as u32);
            }
        }
        let buckets = groups
            .into_iter()
            .map(|((phase, stage), members)| {
                Arc::new(Bucket::build(profiles, phase, stage, members))
            })
            .collect();
        SearchIndex { buckets }
    }

    /// Moves each school `(index, before, after)` whose profile a write
    /// changed from its bucket to its new one, in the overlays, and builds
    /// again the trees of a bucket whose overlay outgrew
    /// [`MAX_OVERLAY_BEHIND`]. `profiles` are the profiles after the write.
    pub(crate) fn update(
        &mut self,
        moved: &[(u32, Profile, Profile)],
        profiles: &Chunked<Profile>,
    ) {
        let mut touched: Vec<(Phase, Option<Stage>)> = Vec::new();
        for (member, before, after) in moved {
            if before.open
                && let Some(bucket) = self.bucket_mut(before.phase, before.stage)
            {
                bucket.remove(*member);
                touched.push((before.phase, before.stage));
            }
            if after.open {
                match self.bucket_mut(after.phase, after.stage) {
                    Some(bucket) => bucket.add(*member, *after),
                    None => {
                        let key = (after.phase, after.stage);
                        let at = self
                            .buckets
                            .partition_point(|bucket| (bucket.phase, bucket.stage) < key);
                        let bucket =
                            Bucket::build(profiles, after.phase, after.stage, vec![*member]);
                        self.buckets.insert(at, Arc::new(bucket));
                    }
                }
                touched.push((after.phase, after.stage));
            }
        }
        touched.sort_unstable();
        touched.dedup();
        for (phase, stage) in touched {
            let Some(at) = self
                .buckets
                .iter()
                .position(|bucket| bucket.phase == phase && bucket.stage == stage)
            else {
                continue;
            };
            let bucket = &self.buckets[at];
            if bucket.members.is_empty() {
                self.buckets.remove(at);
            } else if bucket.overlay() > MAX_OVERLAY_BEHIND {
                let members = bucket.members.clone();
                self.buckets[at] = Arc::new(Bucket::build(profiles, phase, stage, members));
            }
        }
    }

    /// The changes all buckets hold beside their trees.
    pub(crate) fn overlay(&self) -> usize {
        self.buckets.iter().map(|bucket| bucket.overlay()).sum()
    }

    /// The buckets whose overlays hold more than [`MAX_OVERLAY`] changes.
    pub(crate) fn merges_due(&self) -> Vec<BucketKey> {
        self.buckets
            .iter()
            .filter(|bucket| bucket.overlay() > MAX_OVERLAY)
            .map(|bucket| bucket.key())
            .collect()
    }

    /// Builds the trees of bucket `key` again from its members now, with
    /// `profiles` (this index's): the slow part of a merge, which reads
    /// only this snapshot.
    pub(crate) fn merge(&self, key: BucketKey, profiles: &Chunked<Profile>) -> Option<Merged> {
        let bucket = self.buckets.iter().find(|bucket| bucket.key() == key)?;
        Some(Merged {
            key,
            replaces: Arc::clone(&bucket.trees),
            trees: Arc::new(Trees::build(profiles, &bucket.members)),
            held: bucket
                .members
                .iter()
                .map(|&member| (member, profiles[member as usize]))
                .collect(),
        })
    }

    /// Installs trees merged from an earlier snapshot of this index, with
    /// the overlay of the writes since; `profiles` are this index's. False,
    /// changing nothing, when the bucket's trees are no longer those the
    /// merge started from.
    pub(crate) fn install(&mut self, merged: Merged, profiles: &Chunked<Profile>) -> bool {
        let Some(at) = self
            .buckets
            .iter()
            .position(|bucket| bucket.key() == merged.key)
        else {
            return false;
        };
        if !Arc::ptr_eq(&self.buckets[at].trees, &merged.replaces) {
            return false;
        }
        self.buckets[at] = Arc::new(self.buckets[at].rebased(merged, profiles));
        true
    }

    /// Asserts that every bucket's trees (their entries not stale) and
    /// fresh members hold its members once each, as `profiles` have them
    /// (family aside), and only the open schools of its phase and stage.
    #[cfg(test)]
    pub(crate) fn assert_exact(&self, profiles: &Chunked<Profile>) {
        let mut indexed = 0;
        for bucket in &self.buckets {
            let mut held: Vec<(u32, Profile)> = bucket
                .trees
                .all
                .members
                .iter()
                .zip(&bucket.trees.all.profiles)
                .filter(|(member, _)| !bucket.is_stale(**member))
                .map(|(member, profile)| (*member, *profile))
                .chain(bucket.fresh.iter().copied())
                .collect();
            held.sort_by_key(|(member, _)| *member);
            let members: Vec<u32> = held.iter().map(|(member, _)| *member).collect();
            assert_eq!(members, bucket.members, "bucket {:?}", bucket.key());
            for (member, copy) in held {
                let now = profiles[member as usize];
                assert!(copy.same_but_family(&now), "school {member} as it was");
                assert!(now.open && (now.phase, now.stage) == bucket.key());
            }
            indexed += bucket.members.len();
        }
        let open = profiles.iter().filter(|profile| profile.open).count();
        assert_eq!(indexed, open, "every open school indexed once");
    }

    fn bucket_mut(&mut self, phase: Phase, stage: Option<Stage>) -> Option<&mut Bucket> {
        self.buckets
            .iter_mut()
            .find(|bucket| bucket.phase == phase && bucket.stage == stage)
            .map(Arc::make_mut)
    }
}

/// A member's coordinate on split dimension `dimension`, in score units;
/// unknown values sort first.
fn coordinate(profile: &Profile, dimension: usize) -> f64 {
    match dimension {
        0..=2 => profile.unit.0[dimension] * EARTH_RADIUS_KM * KM_WEIGHT,
        3 => profile
            .challenge
            .map_or(f64::NEG_INFINITY, |c| c * CHALLENGE_WEIGHT),
        4 => profile
            .known_ln_pupils()
            .map_or(f64::NEG_INFINITY, |ln| ln * LN_PUPILS_WEIGHT),
        _ => f64::from(profile.strengths.len()) * STRENGTH_WEIGHT,
    }
}

/// A tree's nodes and their grade levels, as they are built.
struct Built {
    nodes: Vec<Node>,
    levels: Vec<AreaLevels>,
}

impl Built {
    fn push_placeholders(&mut self, count: usize) {
        for _ in 0..count {
            self.nodes.push(Node::placeholder());
            self.levels.push(AreaLevels::default());
        }
    }
}

/// Builds the subtree over `members` (which start at `offset` in the
/// tree) into slot `slot`, reordering the members. Children are given
/// adjacent slots; summaries, boxes and levels are merged bottom-up.
fn build_node(
    profiles: &Chunked<Profile>,
    members: &mut [u32],
    offset: usize,
    built: &mut Built,
    slot: usize,
) {
    let (node, levels) = if members.len() > LEAF_SIZE {
        let dimension = widest_dimension(profiles, members);
        let middle = members.len() / 2;
        members.select_nth_unstable_by(middle, |a, b| {
            coordinate(&profiles[*a as usize], dimension)
                .total_cmp(&coordinate(&profiles[*b as usize], dimension))
        });
        let first = built.nodes.len();
        built.push_placeholders(2);
        let (left, right) = members.split_at_mut(middle);
        build_node(profiles, left, offset, built, first);
        build_node(profiles, right, offset + middle, built, first + 1);
        let (l, r) = (&built.nodes[first], &built.nodes[first + 1]);
        let node = Node {
            low: std::array::from_fn(|axis| l.low[axis].min(r.low[axis])),
            high: std::array::from_fn(|axis| l.high[axis].max(r.high[axis])),
            summary: l.summary.merge(&r.summary),
            first: first as u32,
        };
        (node, built.levels[first].union(built.levels[first + 1]))
    } else {
        let mut summary = GroupSummary::of(&profiles[members[0] as usize]);
        let mut levels = AreaLevels::default();
        let (mut low, mut high) = ([f64::INFINITY; 3], [f64::NEG_INFINITY; 3]);
        for (i, &member) in members.iter().enumerate() {
            let profile = &profiles[member as usize];
            for axis in 0..3 {
                low[axis] = low[axis].min(profile.unit.0[axis]);
                high[axis] = high[axis].max(profile.unit.0[axis]);
            }
            if i > 0 {
                summary = summary.merge(&GroupSummary::of(profile));
            }
            levels = levels.union(AreaLevels::of(profile.area_grades));
        }
        let node = Node {
            low: low.map(f32_down),
            high: high.map(f32_up),
            summary,
            first: offset as u32,
        };
        (node, levels)
    };
    built.nodes[slot] = node;
    built.levels[slot] = levels;
}

/// The dimension whose known values spread most, in score units.
fn widest_dimension(profiles: &Chunked<Profile>, members: &[u32]) -> usize {
    (0..DIMENSIONS)
        .map(|dimension| {
            let (low, high) = members
                .iter()
                .map(|m| coordinate(&profiles[*m as usize], dimension))
                .filter(|value| value.is_finite())
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), value| {
                    (low.min(value), high.max(value))
                });
            (dimension, if high >= low { high - low } else { 0.0 })
        })
        .max_by(|a, b| a.1.total_cmp(&b.1))
        .map_or(0, |(dimension, _)| dimension)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;
    use crate::domain::GeoPoint;

    proptest! {
        /// The search rules members out by proximity at the chord from their
        /// entry's rounded position: that chord must never exceed the exact one.
        #[test]
        fn an_entrys_chord_is_at_most_the_exact_chord(
            seeker_latitude in -90.0f64..90.0, seeker_longitude in -180.0f64..180.0,
            north in -2.0f64..2.0, east in -2.0f64..2.0,
        ) {
            let seeker = GeoPoint::new(seeker_latitude, seeker_longitude).unit_vector();
            let member = GeoPoint::new(
                (seeker_latitude + north).clamp(-90.0, 90.0),
                seeker_longitude + east,
            )
            .unit_vector();
            let exact = seeker.chord_squared(member).sqrt();
            let entry = Entry {
                area_grades: AreaGrades::NONE,
                unit: member.0.map(|coordinate| coordinate as f32),
                strengths: FocusSet::EMPTY,
                needs: FocusSet::EMPTY,
                stage: None,
                can_support: true,
            };
            let bound = entry.chord_at_least(seeker);
            prop_assert!(bound <= exact, "{bound} > {exact}");
            // And close: within the rounding allowance and a little more.
            prop_assert!(exact - bound <= 2.0 * ENTRY_CHORD_ROUNDING);
        }
    }
}
