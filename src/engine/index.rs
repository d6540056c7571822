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

use std::collections::BTreeMap;

use crate::domain::{EARTH_RADIUS_KM, FocusArea, Phase, Stage, UnitVector};

use super::scoring::{GroupSummary, Profile};

/// Largest number of schools in a leaf.
pub const LEAF_SIZE: usize = 8;

/// How much one unit of each split dimension moves the default score:
/// proximity 0.2 over 15 km, context 0.1·0.75 over 30 challenge points,
/// size 0.05 over ln 10. Only the tree's shape depends on these.
const KM_WEIGHT: f64 = 0.2 / 15.0;
const CHALLENGE_WEIGHT: f64 = 0.075 / 30.0;
const LN_PUPILS_WEIGHT: f64 = 0.05 / std::f64::consts::LN_10;
/// Focus 0.2 over a typical three needs: one strength more or less.
const STRENGTH_WEIGHT: f64 = 0.2 / 3.0;
/// Split dimensions: three of position, challenge, size, strength count.
const DIMENSIONS: usize = 6;

#[derive(Debug, Clone)]
pub struct Node {
    /// The members are `Tree::members[start..end]`.
    pub start: u32,
    pub end: u32,
    /// Indices of the two children in `Tree::nodes`; `None` for a leaf.
    pub children: Option<[u32; 2]>,
    /// Bounding box of the members' unit vectors.
    pub low: [f64; 3],
    pub high: [f64; 3],
    pub summary: GroupSummary,
}

impl Node {
    /// A lower bound on the chord from `point` to any member: the chord to
    /// the nearest point of the box.
    pub fn nearest_chord(&self, point: UnitVector) -> f64 {
        let mut chord_squared = 0.0;
        for axis in 0..3 {
            let nearest = point.0[axis].clamp(self.low[axis], self.high[axis]);
            let delta = point.0[axis] - nearest;
            chord_squared += delta * delta;
        }
        chord_squared.sqrt()
    }
}

/// A k-d tree over some schools.
#[derive(Debug, Clone)]
pub struct Tree {
    /// School indices in tree order: every node covers a contiguous run.
    pub members: Vec<u32>,
    /// The members' profiles in the same order, so a leaf is read
    /// sequentially rather than from all over the snapshot.
    pub profiles: Vec<Profile>,
    /// `nodes[0]` is the root.
    pub nodes: Vec<Node>,
}

impl Tree {
    fn build(profiles: &[Profile], mut members: Vec<u32>) -> Tree {
        let mut nodes = Vec::with_capacity(2 * members.len() / LEAF_SIZE + 1);
        build_node(profiles, &mut members, 0, &mut nodes);
        Tree {
            profiles: members.iter().map(|m| profiles[*m as usize]).collect(),
            members,
            nodes,
        }
    }
}

/// Which tree of a bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TreeKind {
    /// Every member.
    All,
    /// The members with this strength.
    Strength(FocusArea),
}

/// The open schools of one phase and stage, in one tree of all of them and
/// one tree per focus area of those with that strength. A search for schools
/// covering some wants can then bound the all-tree's focus by 0 (skipping
/// members that cover a want) and search the wanted areas' trees apart.
#[derive(Debug, Clone)]
pub struct Bucket {
    pub phase: Phase,
    pub stage: Option<Stage>,
    pub all: Tree,
    /// By [`FocusArea`] position; `None` where no member has the strength.
    pub by_strength: Vec<Option<Tree>>,
}

impl Bucket {
    pub fn tree(&self, kind: TreeKind) -> Option<&Tree> {
        match kind {
            TreeKind::All => Some(&self.all),
            TreeKind::Strength(area) => self.by_strength[area as usize].as_ref(),
        }
    }
}

#[derive(Debug, Clone, Default)]
pub struct SearchIndex {
    pub buckets: Vec<Bucket>,
}

impl SearchIndex {
    /// Indexes every open school; closed schools are never matched.
    pub fn build(profiles: &[Profile]) -> SearchIndex {
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
                let by_strength = FocusArea::ALL
                    .into_iter()
                    .map(|area| {
                        let holders: Vec<u32> = members
                            .iter()
                            .copied()
                            .filter(|m| profiles[*m as usize].strengths.contains(area))
                            .collect();
                        (!holders.is_empty()).then(|| Tree::build(profiles, holders))
                    })
                    .collect();
                Bucket {
                    phase,
                    stage,
                    all: Tree::build(profiles, members),
                    by_strength,
                }
            })
            .collect();
        SearchIndex { buckets }
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

/// Builds the subtree over `members` (which start at `offset` in the
/// bucket), reordering them, and returns its node index.
fn build_node(
    profiles: &[Profile],
    members: &mut [u32],
    offset: usize,
    nodes: &mut Vec<Node>,
) -> u32 {
    let index = nodes.len();
    let first = &profiles[members[0] as usize];
    let mut low = first.unit.0;
    let mut high = first.unit.0;
    let mut summary = GroupSummary::of(first);
    for &member in &members[1..] {
        let profile = &profiles[member as usize];
        for axis in 0..3 {
            low[axis] = low[axis].min(profile.unit.0[axis]);
            high[axis] = high[axis].max(profile.unit.0[axis]);
        }
        summary = summary.merge(&GroupSummary::of(profile));
    }
    nodes.push(Node {
        start: offset as u32,
        end: (offset + members.len()) as u32,
        children: None,
        low,
        high,
        summary,
    });
    if members.len() > LEAF_SIZE {
        let dimension = widest_dimension(profiles, members);
        let middle = members.len() / 2;
        members.select_nth_unstable_by(middle, |a, b| {
            coordinate(&profiles[*a as usize], dimension)
                .total_cmp(&coordinate(&profiles[*b as usize], dimension))
        });
        let (left, right) = members.split_at_mut(middle);
        let left = build_node(profiles, left, offset, nodes);
        let right = build_node(profiles, right, offset + middle, nodes);
        nodes[index].children = Some([left, right]);
    }
    index as u32
}

/// The dimension whose known values spread most, in score units.
fn widest_dimension(profiles: &[Profile], members: &[u32]) -> usize {
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
