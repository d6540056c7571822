//! The reference: score every school that passes the hard filters, sort,
//! cut. The fast path is tested against it, result for result.

use super::super::config::ScoringConfig;
use super::super::error::Result;
use super::super::snapshot::Snapshot;
use super::filters::MatchPlan;
use super::search::with_request;
use super::{MatchOutcome, MatchQuery, Scored, SearchStats};

/// The reference: score every school that passes the filters, sort, cut.
pub fn brute_force<'s>(
    snapshot: &'s Snapshot,
    query: &MatchQuery,
    config: &ScoringConfig,
) -> Result<MatchOutcome<'s>> {
    with_request(snapshot, query, |seeker, request| {
        let plan = MatchPlan::new(snapshot, seeker, request, config)?;
        Ok(score_all(snapshot, &plan))
    })
}

/// Every school the plan admits, scored, sorted and cut to its limit.
fn score_all<'s>(snapshot: &'s Snapshot, plan: &MatchPlan<'s, '_>) -> MatchOutcome<'s> {
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
        b.tier
            .cmp(&a.tier)
            .then_with(|| b.score.total_cmp(&a.score))
            .then_with(|| a.distance_km.total_cmp(&b.distance_km))
            .then_with(|| {
                snapshot
                    .school(a.index)
                    .school
                    .id
                    .cmp(&snapshot.school(b.index).school.id)
            })
    });
    all.truncate(plan.limit);
    plan.finish(all, considered, radius, SearchStats::default())
}
