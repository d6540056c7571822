//! The reference: score every school that passes the hard filters, sort,
//! cut. The fast path is tested against it, result for result.

use super::super::config::ScoringConfig;
use super::super::error::Result;
use super::super::snapshot::Snapshot;
use super::filters::{MatchPlan, SearchRequest};
use super::search::resolve;
use super::{MatchOutcome, MatchQuery, Scored, SearchStats};

/// The reference: score every school that passes the filters, sort, cut.
pub fn brute_force<'s>(
    snapshot: &'s Snapshot,
    query: &MatchQuery,
    config: &ScoringConfig,
) -> Result<MatchOutcome<'s>> {
    let (seeker, excluded) = resolve(snapshot, query)?;
    let request = SearchRequest {
        constraints: &query.constraints,
        limit: query.limit,
        explain: query.explain,
        excluded: &excluded,
    };
    let plan = MatchPlan::new(snapshot, seeker, &request, config)?;
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
