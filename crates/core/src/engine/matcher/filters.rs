//! One request made ready to search: the seeker found, the hard filters of
//! docs/matching.md, the weights normalised into a scoring context; and
//! the ranked schools turned into the outcome with their explanations.

use crate::domain::{LanguageMedium, MatchMode, Phase, Stage};

use super::super::config::ScoringConfig;
use super::super::error::{Error, Result};
use super::super::scoring::{GroupSummary, NO_FAMILY, PerFactor, Profile, ScoringContext};
use super::super::snapshot::Snapshot;
use super::{MatchOutcome, MatchQuery, RankedCandidate, Scored, SearchStats, WeightedComponent};

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

/// Everything about one request that does not depend on the candidate.
pub(super) struct MatchPlan<'a> {
    pub(super) snapshot: &'a Snapshot,
    pub(super) query: &'a MatchQuery,
    pub(super) seeker_index: u32,
    pub(super) seeker: &'a Profile,
    pub(super) excluded: Vec<u32>,
    /// Further exclusions, sorted, borrowed as given (brokerage passes
    /// every seeker, for every seeker's search: copying and sorting them
    /// each time would cost more than the search).
    pub(super) also_excluded: &'a [u32],
    pub(super) scoring: ScoringContext<'a>,
}

impl<'a> MatchPlan<'a> {
    /// The plan for `query`, also excluding the schools at `also_excluded`
    /// (sorted indices; brokerage keeps seekers off the partner side).
    pub(super) fn new(
        snapshot: &'a Snapshot,
        query: &'a MatchQuery,
        config: &'a ScoringConfig,
        also_excluded: &'a [u32],
    ) -> Result<MatchPlan<'a>> {
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
        Ok(MatchPlan {
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
    pub(super) fn admits(&self, index: u32, partner: &Profile) -> bool {
        partner.open
            && self.bucket_admits(partner.phase, partner.stage)
            && self.admits_in_bucket(index, partner)
    }

    /// The hard filters that can differ between members of an index
    /// bucket, whose phase relation and stage direction were checked once
    /// for the bucket and whose members are all open.
    pub(super) fn admits_in_bucket(&self, index: u32, partner: &Profile) -> bool {
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
    pub(super) fn bucket_admits(&self, phase: Phase, stage: Option<Stage>) -> bool {
        self.query.phase_relation.admits(self.seeker.phase, phase)
            && self.stage_direction_admits(stage)
    }

    /// Whether a group can hold eligible schools, from its summary: some
    /// member has free capacity where it is needed, and the group is not
    /// wholly in another consortium or local authority.
    pub(super) fn group_admits(&self, group: &GroupSummary) -> bool {
        let query = self.query;
        (query.mode == MatchMode::Lead || group.any_free_capacity())
            && (!query.same_consortium || group.may_be_in_consortium(self.seeker.consortium))
            && (!query.same_local_authority
                || group.may_be_in_local_authority(self.seeker.local_authority))
    }

    /// SUPPORT never returns a partner behind the seeker, LEAD never one
    /// ahead; an unknown stage never excludes.
    pub(super) fn stage_direction_admits(&self, partner: Option<Stage>) -> bool {
        match (self.seeker.stage, partner) {
            (Some(seeker), Some(partner)) => match self.query.mode {
                MatchMode::Support => partner >= seeker,
                MatchMode::Lead => partner <= seeker,
                MatchMode::Peer => true,
            },
            _ => true,
        }
    }

    pub(super) fn within_distance(&self, distance_km: f64) -> bool {
        self.query
            .max_distance_km
            .is_none_or(|max| distance_km <= max)
    }

    pub(super) fn distance_km(&self, partner: &Profile) -> f64 {
        self.seeker.unit.distance_km(partner.unit)
    }

    pub(super) fn score(&self, index: u32, partner: &Profile, distance_km: f64) -> Scored {
        let partial = self.scoring.partial_score(self.seeker, partner);
        self.score_with(index, partial, distance_km)
    }

    pub(super) fn score_with(&self, index: u32, partial: f64, distance_km: f64) -> Scored {
        Scored {
            score: self.scoring.score(partial, distance_km),
            distance_km,
            index,
        }
    }

    /// Whether a school is in the seeker's family.
    pub(super) fn in_seekers_family(&self, partner: &Profile) -> bool {
        self.seeker.family != NO_FAMILY && partner.family == self.seeker.family
    }

    /// Turns the ranked indices into the outcome, with full details.
    pub(super) fn finish(
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
