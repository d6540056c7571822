//! Match (docs/matching.md): what a request asks ([`query`]), the request
//! made ready with its hard filters ([`filters`]), the best-first search
//! over the index ([`search`]) and the brute-force reference it must equal
//! ([`oracle`]); here, what a match answers.

mod filters;
mod oracle;
mod query;
mod search;

use std::cmp::Ordering;

use crate::domain::{FocusSet, StoredSchool};

use super::config::ScoringConfig;
use super::error::{Error, Result};
use super::families::FamilyLabel;
use super::scoring::{Component, PerFactor};
use super::snapshot::Snapshot;
use filters::MatchPlan;

pub(crate) use filters::SearchRequest;
pub use oracle::brute_force;
pub use query::{Constraints, MatchQuery, limits};
pub(crate) use search::search;
pub use search::top_k;

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
    /// The bodies the partner shares with the seeker: "same trust (name)".
    pub shared_affiliations: Vec<String>,
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
    /// The seeker's family, given or computed.
    pub seeker_family: Option<FamilyLabel<'a>>,
    pub candidates: Vec<RankedCandidate<'a>>,
    /// Schools that passed the hard filters and were scored.
    pub considered: u32,
    /// Every eligible school within this distance was scored.
    pub search_radius_km: f64,
    pub stats: SearchStats,
    /// Schools every other hard filter admits but whose safeguarding is
    /// not met: never proposed to support.
    pub excluded_for_safeguarding: u32,
}

/// A scored school, ordered best first: higher score, then nearer, then
/// lower id (its order key in the snapshot, read by whoever ranks it:
/// 0 until then).
#[derive(Debug, Clone, Copy)]
pub(super) struct Scored {
    /// Its focus tier: higher tiers rank first ([`ScoringContext::focus_tier`](super::scoring::ScoringContext::focus_tier)).
    pub(super) tier: u8,
    pub(super) score: f64,
    pub(super) distance_km: f64,
    pub(super) index: u32,
    pub(super) order: u64,
}

impl Scored {
    fn rank_order(&self, other: &Scored) -> Ordering {
        self.rank_order_but_id(other)
            .then_with(|| self.order.cmp(&other.order))
    }

    /// The rank order on tier, score and distance alone.
    pub(super) fn rank_order_but_id(&self, other: &Scored) -> Ordering {
        other
            .tier
            .cmp(&self.tier)
            .then_with(|| other.score.total_cmp(&self.score))
            .then_with(|| self.distance_km.total_cmp(&other.distance_km))
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

/// `candidate` (from a search for the seeker at `seeker` under `request`)
/// with its explanation.
pub(crate) fn explain<'s>(
    snapshot: &'s Snapshot,
    seeker: u32,
    request: &SearchRequest<'_>,
    config: &ScoringConfig,
    candidate: &RankedCandidate<'s>,
) -> Result<RankedCandidate<'s>> {
    let request = SearchRequest {
        explain: true,
        ..*request
    };
    let plan = MatchPlan::new(snapshot, seeker, &request, config)?;
    let index = snapshot
        .index_of(candidate.school.school.id.as_str())
        .ok_or_else(|| Error::school_not_found(candidate.school.school.id.as_str()))?;
    let partner = snapshot.profile(index);
    let scored = Scored {
        tier: plan
            .scoring
            .focus_tier(plan.seeker, partner.strengths, partner.needs),
        score: candidate.score,
        distance_km: candidate.distance_km,
        index,
        order: snapshot.order_key(index),
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

/// Why the seeker at `seeker` has no partner under `request`: the filter
/// that emptied its pool ([`MatchPlan::why_none`]).
pub(crate) fn why_none(
    snapshot: &Snapshot,
    seeker: u32,
    request: &SearchRequest<'_>,
    config: &ScoringConfig,
) -> Result<String> {
    Ok(MatchPlan::new(snapshot, seeker, request, config)?.why_none())
}

/// The score the seeker at `seeker` gives the school at `partner` under
/// `constraints` (ignoring the hard filters): how group formation measures
/// cohesion.
pub(crate) fn pair_score(
    snapshot: &Snapshot,
    seeker: u32,
    constraints: &Constraints,
    config: &ScoringConfig,
    partner: u32,
) -> Result<f64> {
    let request = SearchRequest {
        constraints,
        limit: 1,
        explain: false,
        excluded: &[],
        tiered: false,
    };
    let plan = MatchPlan::new(snapshot, seeker, &request, config)?;
    let profile = snapshot.profile(partner);
    Ok(plan
        .score(partner, profile, plan.distance_km(profile))
        .score)
}
