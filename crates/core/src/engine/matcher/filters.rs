//! One request made ready to search: the seeker found, the hard filters of
//! docs/matching.md, the weights normalised into a scoring context; and
//! the ranked schools turned into the outcome with their explanations.

use crate::domain::{AffiliationKind, LanguageMedium, MatchMode, Phase, Stage, TrustRelation};

use super::super::config::ScoringConfig;
use super::super::error::{Error, Result};
use super::super::prefetch::prefetch;
use super::super::scoring::{GroupSummary, NO_BODY, NO_FAMILY, PerFactor, Profile, ScoringContext};
use super::super::snapshot::Snapshot;
use super::{Constraints, MatchOutcome, RankedCandidate, Scored, SearchStats, WeightedComponent};

/// One search, besides its seeker: what the search needs, borrowed from
/// whoever asks (a Match, a brokerage run, group formation).
#[derive(Debug, Clone, Copy)]
pub(crate) struct SearchRequest<'q> {
    pub(crate) constraints: &'q Constraints,
    pub(crate) limit: usize,
    pub(crate) explain: bool,
    /// Snapshot indices never to return, sorted (a Match's exclusions;
    /// brokerage's seekers, who are not partners too).
    pub(crate) excluded: &'q [u32],
    /// Whether focus ranks in tiers before the score (a Match: what a
    /// broker asks for comes first), or the score alone ranks (brokerage
    /// and groups, which maximise total scores).
    pub(crate) tiered: bool,
}

/// Everything about one search that does not depend on the candidate. The
/// outcome borrows the snapshot (`'s`) only, not the request (`'q`).
pub(super) struct MatchPlan<'s, 'q> {
    pub(super) snapshot: &'s Snapshot,
    pub(super) constraints: &'q Constraints,
    pub(super) limit: usize,
    pub(super) explain: bool,
    pub(super) seeker_index: u32,
    pub(super) seeker: &'s Profile,
    /// Sorted, searched by bisection.
    pub(super) excluded: &'q [u32],
    /// Schools already in an ACTIVE partnership with the seeker, sorted.
    pub(super) active_partners: &'s [u32],
    pub(super) scoring: ScoringContext<'q>,
}

impl<'s, 'q> MatchPlan<'s, 'q> {
    /// The plan for the seeker at `seeker_index` under `request`, or why the
    /// seeker cannot be matched so.
    pub(super) fn new(
        snapshot: &'s Snapshot,
        seeker_index: u32,
        request: &SearchRequest<'q>,
        config: &'q ScoringConfig,
    ) -> Result<MatchPlan<'s, 'q>> {
        debug_assert!(
            request.excluded.is_sorted(),
            "exclusions are searched by bisection"
        );
        let constraints = request.constraints;
        let seeker = snapshot.profile(seeker_index);
        let seeker_school = &snapshot.school(seeker_index).school;
        let id = seeker_school.id.as_str();
        if !seeker.open {
            return Err(Error::FailedPrecondition(format!(
                "school {id:?} is closed; closed schools are not matched"
            )));
        }
        if constraints.mode == MatchMode::Lead && seeker.safeguarding_not_met {
            return Err(Error::FailedPrecondition(format!(
                "school {id:?} has safeguarding not met in its latest judgement of it (which stands, however old, until a later one finds it met), so it is not proposed to lead; use SUPPORT or PEER"
            )));
        }
        if constraints.mode == MatchMode::Lead
            && let Some(asked) = constraints.focus
            && !asked.intersection(seeker.needs).is_empty()
        {
            return Err(Error::FailedPrecondition(format!(
                "school {id:?} needs {} itself, so it is not proposed to lead in it; ask for areas it is strong in",
                asked.intersection(seeker.needs).labels()
            )));
        }
        if constraints.mode == MatchMode::Lead && seeker.free_capacity() == 0 {
            return Err(Error::FailedPrecondition(format!(
                "school {id:?} has no free capacity to lead (capacity {}); raise its capacity or use SUPPORT or PEER",
                seeker.capacity
            )));
        }
        if constraints.same_consortium && seeker_school.consortium.trim().is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "school {id:?} has no consortium recorded, so same_consortium cannot apply"
            )));
        }
        if constraints.same_local_authority && seeker_school.local_authority.trim().is_empty() {
            return Err(Error::FailedPrecondition(format!(
                "school {id:?} has no local authority recorded, so same_local_authority cannot apply"
            )));
        }
        if constraints.trust_relation == TrustRelation::SameTrust && seeker.trust == NO_BODY {
            return Err(Error::FailedPrecondition(format!(
                "school {id:?} is in no trust, so trust_relation SAME_TRUST cannot apply"
            )));
        }
        if constraints.same_diocese && seeker.diocese == NO_BODY {
            return Err(Error::FailedPrecondition(format!(
                "school {id:?} is in no diocese, so same_diocese cannot apply"
            )));
        }
        Ok(MatchPlan {
            snapshot,
            constraints,
            limit: request.limit,
            explain: request.explain,
            seeker_index,
            seeker,
            excluded: request.excluded,
            active_partners: snapshot.active_partners(seeker_index),
            scoring: ScoringContext::new(
                config,
                constraints.mode,
                constraints.weights.normalised(),
                constraints.proximity_scale_km,
                constraints.focus,
                seeker,
            )
            .tiered(request.tiered),
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
        self.admits_in_bucket_but_safeguarding(index, partner)
            && !(self.partner_supports() && partner.safeguarding_not_met)
    }

    /// Why no school passes the hard filters and the distance limit: the
    /// first filter, in a broker's order of thought, past which none is
    /// left ("none within 30 km: the nearest that passes every other
    /// filter is 42.0 km away"). For a seeker left without a partner.
    pub(super) fn why_none(&self) -> String {
        let constraints = self.constraints;
        let seeker = self.seeker;
        let mode = constraints.mode;
        let number = |n: u32| (n != NO_BODY).then_some(n);
        type Check<'c> = (&'c str, Box<dyn Fn(u32, &Profile) -> bool + 'c>);
        let checks: Vec<Check<'_>> = vec![
            (
                "no other open school is free to be its partner (the rest are seekers of this run, excluded, or already its active partners)",
                Box::new(|index, partner: &Profile| {
                    partner.open
                        && index != self.seeker_index
                        && (self.excluded.is_empty()
                            || self.excluded.binary_search(&index).is_err())
                        && (self.active_partners.is_empty()
                            || self.active_partners.binary_search(&index).is_err())
                }),
            ),
            (
                "no open school of a phase the phase relation admits",
                Box::new(|_, partner: &Profile| {
                    constraints
                        .phase_relation
                        .admits(seeker.phase, partner.phase)
                }),
            ),
            (
                match mode {
                    MatchMode::Support => "none at or ahead of its stage",
                    MatchMode::Lead => "none at or behind its stage",
                    MatchMode::Peer => "none at a stage it may pair with",
                },
                Box::new(|_, partner: &Profile| self.stage_direction_admits(partner.stage)),
            ),
            (
                "none in its consortium or local authority, as asked",
                Box::new(|_, partner: &Profile| {
                    (!constraints.same_consortium || partner.consortium == seeker.consortium)
                        && (!constraints.same_local_authority
                            || partner.local_authority == seeker.local_authority)
                }),
            ),
            (
                "none of its language group, as asked",
                Box::new(|_, partner: &Profile| {
                    !constraints.same_language_group
                        || LanguageMedium::same_group(seeker.language, partner.language)
                }),
            ),
            (
                "none in the trust or diocese the request asks for",
                Box::new(|_, partner: &Profile| {
                    constraints
                        .trust_relation
                        .admits(number(seeker.trust), number(partner.trust))
                        && (!constraints.same_diocese || seeker.diocese == partner.diocese)
                }),
            ),
            (
                "every one left needs the asked focus itself",
                Box::new(|_, partner: &Profile| !self.scoring.needs_what_is_asked(partner.needs)),
            ),
            (
                "none left has a free support place",
                Box::new(|_, partner: &Profile| {
                    mode == MatchMode::Lead || partner.free_capacity() > 0
                }),
            ),
            (
                "none left has safeguarding met",
                Box::new(|_, partner: &Profile| {
                    !(self.partner_supports() && partner.safeguarding_not_met)
                }),
            ),
        ];
        let profiles: Vec<(u32, &Profile)> = self
            .snapshot
            .profiles()
            .iter()
            .enumerate()
            .map(|(index, profile)| (index as u32, profile))
            .collect();
        let mut left: Vec<(u32, &Profile)> = profiles;
        for (why, check) in &checks {
            left.retain(|(index, partner)| check(*index, partner));
            if left.is_empty() {
                return (*why).to_owned();
            }
        }
        match constraints.max_distance_km {
            Some(max) => {
                let nearest = left
                    .iter()
                    .map(|(_, partner)| self.distance_km(partner))
                    .fold(f64::INFINITY, f64::min);
                format!(
                    "none within {max} km: the nearest that passes every other filter is {nearest:.1} km away"
                )
            }
            None => "every partner that meets the constraints was ruled out".to_owned(),
        }
    }

    /// Whether the partner gives support (SUPPORT, PEER), so its
    /// safeguarding must not be "not met".
    pub(super) fn partner_supports(&self) -> bool {
        self.constraints.mode != MatchMode::Lead
    }

    /// Schools every other hard filter admits (and within the distance
    /// limit) but safeguarding excludes: counted in the outcome.
    pub(super) fn excluded_for_safeguarding(&self) -> u32 {
        if !self.partner_supports() {
            return 0;
        }
        self.snapshot
            .safeguarding_not_met()
            .iter()
            .filter(|(index, partner)| {
                self.bucket_admits(partner.phase, partner.stage)
                    && self.admits_in_bucket_but_safeguarding(*index, partner)
                    && self
                        .constraints
                        .max_distance_km
                        .is_none_or(|max| self.distance_km(partner) <= max)
            })
            .count() as u32
    }

    fn admits_in_bucket_but_safeguarding(&self, index: u32, partner: &Profile) -> bool {
        let seeker = self.seeker;
        let constraints = self.constraints;
        index != self.seeker_index
            && (!constraints.same_consortium || partner.consortium == seeker.consortium)
            && (!constraints.same_local_authority
                || partner.local_authority == seeker.local_authority)
            && (!constraints.same_language_group
                || LanguageMedium::same_group(seeker.language, partner.language))
            && self.body_admits(partner)
            && (constraints.mode == MatchMode::Lead || partner.free_capacity() > 0)
            && !self.scoring.needs_what_is_asked(partner.needs)
            && (self.excluded.is_empty() || self.excluded.binary_search(&index).is_err())
            && (self.active_partners.is_empty()
                || self.active_partners.binary_search(&index).is_err())
    }

    /// The trust relation and the diocese filter.
    fn body_admits(&self, partner: &Profile) -> bool {
        let number = |n: u32| (n != NO_BODY).then_some(n);
        let (seeker, constraints) = (self.seeker, self.constraints);
        constraints
            .trust_relation
            .admits(number(seeker.trust), number(partner.trust))
            && (!constraints.same_diocese || seeker.diocese == partner.diocese)
    }

    /// When partners must share the seeker's trust or diocese: the members
    /// of the smaller of the two, the only schools that can qualify.
    pub(super) fn members_only(&self) -> Option<&'s [u32]> {
        let trust = (self.constraints.trust_relation == TrustRelation::SameTrust).then(|| {
            self.snapshot
                .body_members(AffiliationKind::Trust, self.seeker.trust)
        });
        let diocese = self.constraints.same_diocese.then(|| {
            self.snapshot
                .body_members(AffiliationKind::Diocese, self.seeker.diocese)
        });
        match (trust, diocese) {
            (Some(trust), Some(diocese)) => Some(if trust.len() <= diocese.len() {
                trust
            } else {
                diocese
            }),
            (trust, diocese) => trust.or(diocese),
        }
    }

    /// Whether a whole bucket of the index can hold eligible schools: the
    /// phase relation and stage direction are the same for all its members.
    pub(super) fn bucket_admits(&self, phase: Phase, stage: Option<Stage>) -> bool {
        self.constraints
            .phase_relation
            .admits(self.seeker.phase, phase)
            && self.stage_direction_admits(stage)
    }

    /// Whether a group can hold eligible schools, from its summary: some
    /// member has free capacity where it is needed, and the group is not
    /// wholly in another consortium or local authority.
    pub(super) fn group_admits(&self, group: &GroupSummary) -> bool {
        let constraints = self.constraints;
        (constraints.mode == MatchMode::Lead || group.any_free_capacity())
            && (!constraints.same_consortium || group.may_be_in_consortium(self.seeker.consortium))
            && (!constraints.same_local_authority
                || group.may_be_in_local_authority(self.seeker.local_authority))
    }

    /// SUPPORT never returns a partner behind the seeker, LEAD never one
    /// ahead; an unknown stage never excludes.
    pub(super) fn stage_direction_admits(&self, partner: Option<Stage>) -> bool {
        match (self.seeker.stage, partner) {
            (Some(seeker), Some(partner)) => match self.constraints.mode {
                MatchMode::Support => partner >= seeker,
                MatchMode::Lead => partner <= seeker,
                MatchMode::Peer => true,
            },
            _ => true,
        }
    }

    pub(super) fn within_distance(&self, distance_km: f64) -> bool {
        self.constraints
            .max_distance_km
            .is_none_or(|max| distance_km <= max)
    }

    pub(super) fn distance_km(&self, partner: &Profile) -> f64 {
        self.seeker.unit.distance_km(partner.unit)
    }

    pub(super) fn score(&self, index: u32, partner: &Profile, distance_km: f64) -> Scored {
        let partial = self.scoring.partial_score(self.seeker, partner);
        self.score_with(index, self.tier(partner), partial, distance_km)
    }

    /// A partner's focus tier.
    pub(super) fn tier(&self, partner: &Profile) -> u8 {
        self.scoring
            .focus_tier(self.seeker, partner.strengths, partner.needs)
    }

    pub(super) fn score_with(
        &self,
        index: u32,
        tier: u8,
        partial: f64,
        distance_km: f64,
    ) -> Scored {
        Scored {
            tier,
            score: self.scoring.score(partial, distance_km),
            distance_km,
            index,
            order: 0,
        }
    }

    /// Whether the school at `index` is in the seeker's family. Read from
    /// the family's members rather than a profile: the index holds copies
    /// of profiles, whose family a write may have changed without moving
    /// them there (a family is not scored by the index).
    pub(super) fn in_seekers_family(&self, index: u32) -> bool {
        self.seeker.family != NO_FAMILY
            && self
                .snapshot
                .family_members(self.seeker.family)
                .binary_search(&index)
                .is_ok()
    }

    /// Turns the ranked indices into the outcome, with full details.
    pub(super) fn finish(
        &self,
        ranked: Vec<Scored>,
        considered: u32,
        search_radius_km: f64,
        stats: SearchStats,
    ) -> MatchOutcome<'s> {
        // The ranked schools' records, all asked for before any is read.
        for scored in &ranked {
            prefetch(self.snapshot.profile(scored.index));
            prefetch(self.snapshot.school(scored.index));
        }
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
                let components = self.explain.then(|| {
                    let components =
                        self.scoring
                            .components(self.seeker, partner, scored.distance_km);
                    PerFactor::from_fn(|factor| WeightedComponent {
                        component: components[factor],
                        weight: self.scoring.weights[factor],
                        contribution: self.scoring.weights[factor] * components[factor].value,
                    })
                });
                let school = self.snapshot.school(scored.index);
                RankedCandidate {
                    shared_affiliations: self
                        .snapshot
                        .school(self.seeker_index)
                        .school
                        .affiliations
                        .shared_with(&school.school.affiliations),
                    school,
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
            excluded_for_safeguarding: self.excluded_for_safeguarding(),
            seeker: self.snapshot.school(self.seeker_index),
            seeker_family: self.snapshot.family_label(self.seeker_index),
            candidates,
            considered,
            search_radius_km,
            stats,
        }
    }
}
