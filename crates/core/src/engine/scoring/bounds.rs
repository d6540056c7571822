//! Pruning bounds: what a group of schools' summary guarantees about its
//! members' scores. Every bound here is at least the exact score of every
//! member the search takes from the group (tested by property tests), so
//! skipping a group whose bound is below the K-th score never loses a
//! partner.

use crate::domain::{FocusArea, FocusSet, LanguageMedium, MatchMode, Phase, Stage};

use super::super::index::Side;
use super::factor::Factor;
use super::profile::{AreaGrades, AreaLevels, Profile};
use super::values::{LEVELS, RegularVisits, ScoringContext, StageLadder, phase_affinity};

impl ScoringContext<'_> {
    /// The best track-record value any member of `group` could have.
    pub(super) fn track_record_bound(&self, seeker: &Profile, group: &GroupSummary) -> f64 {
        match self.mode {
            // A member without a record scores 0 whatever is wanted.
            MatchMode::Support | MatchMode::Peer => {
                if group.flags & ANY_TRACK_RECORD != 0 {
                    1.0
                } else {
                    0.0
                }
            }
            // The seeker's own record, over a member's needs: no more than
            // its best credit in any area some member needs, or anywhere
            // for members with no needs.
            MatchMode::Lead => {
                let record = seeker.track_record;
                let mut best =
                    self.track_record_credit(record.within(group.needs), FocusSet::EMPTY);
                if group.any_without_needs() {
                    best = best.max(self.track_record_credit(record, FocusSet::EMPTY));
                }
                best
            }
        }
    }

    /// The highest focus tier ([`ScoringContext::focus_tier`]) any member
    /// of the group could rank in, from its summary and what the split
    /// counted.
    pub(super) fn tier_bound(
        &self,
        seeker: &Profile,
        group: &GroupSummary,
        split: SplitCoverage,
    ) -> u8 {
        if !self.focus_tiers() {
            return 0;
        }
        let counted = |side: Side| match (self.split_side(seeker), split) {
            (Some(split_side), SplitCoverage::Exactly(count)) if split_side == side => Some(count),
            _ => None,
        };
        match self.mode {
            // Recorded needs: some member may need none of them.
            MatchMode::Support | MatchMode::Peer if self.focus.is_none() => 1,
            MatchMode::Support | MatchMode::Peer => {
                let wants = self.seeker_wants(seeker);
                let may_cover = counted(Side::Strengths).map_or_else(
                    || !wants.intersection(group.strengths).is_empty(),
                    |count| count > 0,
                );
                u8::from(may_cover)
            }
            MatchMode::Lead => {
                let offers = self.seeker_offers(seeker);
                let may_meet = counted(Side::Needs)
                    .map_or_else(|| needs_covered(group.needs, offers) > 0, |count| count > 0);
                u8::from(offers.is_empty() || may_meet)
            }
        }
    }

    /// The best focus value any member of the group could have. `split`
    /// is what the search already knows about how many of the seeker's
    /// areas the members have on the side it split on (strengths against the
    /// wants in SUPPORT and PEER, needs against the offer in LEAD).
    pub(super) fn focus_bound(
        &self,
        seeker: &Profile,
        group: &GroupSummary,
        split: SplitCoverage,
    ) -> f64 {
        let wants = self.seeker_wants(seeker);
        let offers = self.seeker_offers(seeker);
        let split_side = self.split_side(seeker);
        // Best share of the seeker's wants that one member's strengths cover:
        // exact when the split counted them; otherwise no more than the union
        // of strengths shares with the wants, nor than the most strengths any
        // member has.
        let forward = (!wants.is_empty()).then(|| {
            let covered = match (split_side, split) {
                (Some(Side::Strengths), SplitCoverage::Exactly(count)) => count,
                _ => wants
                    .intersection(group.strengths)
                    .len()
                    .min(u32::from(group.most_strengths)),
            };
            f64::from(covered) / f64::from(wants.len())
        });
        // Best share of a member's needs the seeker covers: a member with n
        // needs has at most min(k, n) of them covered, k being how many the
        // split counted or, failing that, what the union of needs shares
        // with the offer; n is at least the smallest needs count in the group.
        let backward = (group.fewest_needs > 0).then(|| {
            let fewest = u32::from(group.fewest_needs);
            let covered = match (split_side, split) {
                (Some(Side::Needs), SplitCoverage::Exactly(count)) => count,
                _ => needs_covered(group.needs, offers),
            };
            f64::from(covered.min(fewest)) / f64::from(fewest)
        });
        let mut best: f64 = 0.0;
        let mut consider = |forward: Option<f64>, backward: Option<f64>| {
            best = best.max(self.focus_value(forward, backward));
        };
        match self.mode {
            MatchMode::Support => consider(forward, None),
            MatchMode::Lead => {
                if backward.is_some() {
                    consider(None, backward);
                }
                if group.any_without_needs() {
                    consider(None, self.share_without_needs(seeker));
                }
            }
            MatchMode::Peer => {
                if backward.is_some() {
                    consider(forward, backward);
                }
                if group.any_without_needs() {
                    consider(forward, None);
                }
            }
        }
        best
    }
}

/// Upper bounds on the scores of groups of schools for one request: an
/// upper bound on every member's score that is not in the seeker's family,
/// from the group's summary — each component at the best value any member
/// could have, proximity at the group's nearest possible point. Built from
/// the same value functions as the score, with what does not depend on the
/// group computed once per request, since the search bounds thousands of
/// groups per match.
pub(crate) struct GroupBounder<'a> {
    scoring: &'a ScoringContext<'a>,
    seeker: &'a Profile,
    /// For each area the match is about, in the ladder's order: for each
    /// set of partner levels (a bit per ladder slot), the best ladder value
    /// among them. Worked out at the first group with area grades: most
    /// populations have none.
    best_by_levels: std::cell::OnceCell<Vec<(FocusArea, [f64; 1 << LEVELS])>>,
    /// Weighted language bound for each set of media (a [`MediumSet`]).
    language: [f64; 64],
    /// Earth radius over the proximity scale: chord length → exponent.
    exponent_per_chord: f64,
    visits: RegularVisits,
}

/// `exp(-x)` at x = k / PROXIMITY_STEPS_PER_UNIT, for k below the table's
/// length; looked up at the floor of x it bounds `exp(-x)` from above.
const PROXIMITY_STEPS_PER_UNIT: f64 = 64.0;
const PROXIMITY_TABLE_LEN: usize = 64 * 48;

fn proximity_table() -> &'static [f64; PROXIMITY_TABLE_LEN] {
    static TABLE: std::sync::OnceLock<[f64; PROXIMITY_TABLE_LEN]> = std::sync::OnceLock::new();
    TABLE.get_or_init(|| std::array::from_fn(|k| (-(k as f64) / PROXIMITY_STEPS_PER_UNIT).exp()))
}

impl<'a> GroupBounder<'a> {
    pub(crate) fn new(scoring: &'a ScoringContext<'a>, seeker: &'a Profile) -> GroupBounder<'a> {
        // The best language value of each set of media: the best of the set
        // without its lowest medium, or that medium's value (neutral for
        // unknown media, and for all when the seeker's is unknown).
        let neutral = scoring.config.neutral;
        let value_of_bit: [f64; 6] = std::array::from_fn(|bit| {
            LanguageMedium::ALL
                .into_iter()
                .find(|medium| MediumSet::bit(Some(*medium)) == 1 << bit)
                .map_or(neutral, |medium| {
                    scoring.language_value(seeker.language, Some(medium))
                })
        });
        let mut best = [neutral; 64];
        if seeker.language.is_some() {
            best[0] = 0.0;
            for mask in 1..best.len() {
                let lowest = mask.trailing_zeros() as usize;
                best[mask] = best[mask & (mask - 1)].max(value_of_bit[lowest]);
            }
        }
        let language = best.map(|best| scoring.weights[Factor::Language] * best);
        GroupBounder {
            scoring,
            seeker,
            best_by_levels: std::cell::OnceCell::new(),
            language,
            exponent_per_chord: crate::domain::EARTH_RADIUS_KM / scoring.proximity_scale_km,
            visits: RegularVisits::of(scoring.config),
        }
    }

    /// For each area the match is about: the best ladder value of each set
    /// of partner levels.
    fn best_by_levels(&self) -> Vec<(FocusArea, [f64; 1 << LEVELS])> {
        self.scoring
            .ladder
            .by_area
            .iter()
            .map(|(area, values)| {
                // The best of a set: the best without its lowest level, or
                // that level's value.
                let mut best = [0.0f64; 1 << LEVELS];
                for levels in 1..best.len() {
                    let lowest = levels.trailing_zeros() as usize;
                    best[levels] = best[levels & (levels - 1)].max(values[lowest]);
                }
                (*area, best)
            })
            .collect()
    }

    /// The weighted stage and phase terms of a bucket: exact for members
    /// without area grades, and a bound for those with some (whose stage
    /// component is per area when the match is about areas).
    pub(crate) fn bucket_term(&self, stage: Option<Stage>, phase: Phase) -> BucketTerm {
        let w = &self.scoring.weights;
        let phase_term = w[Factor::Phase] * phase_affinity(self.seeker.phase, phase);
        let exact =
            w[Factor::Stage] * self.scoring.stage_component(stage, AreaGrades::NONE) + phase_term;
        BucketTerm {
            exact,
            phase_term,
            stage,
        }
    }

    /// The stage and phase terms' bound for a group whose members have the
    /// grade `levels`: per area the match is about, the best ladder value
    /// over the levels present there — the bucket's stage standing for
    /// members without a grade there — averaged. Exactly the bucket's term
    /// when the match is about no areas.
    fn graded_term(&self, bucket: &BucketTerm, levels: AreaLevels) -> f64 {
        let best_by_levels = self.best_by_levels.get_or_init(|| self.best_by_levels());
        let areas = best_by_levels.len();
        if areas == 0 {
            return bucket.exact;
        }
        let stage_bit = 1 << StageLadder::slot(bucket.stage.map(Stage::level));
        let total: f64 = best_by_levels
            .iter()
            .map(|(area, best)| {
                let present = levels.in_area(*area);
                let ungraded = if present & 1 != 0 { stage_bit } else { 0 };
                best[(present & !1) | ungraded]
            })
            .sum();
        let stage_bound = total / areas as f64;
        (self.scoring.weights[Factor::Stage] * stage_bound + bucket.phase_term).max(bucket.exact)
    }

    /// The proximity term's bound for a point at least `chord` away (as a
    /// chord of the unit sphere): the great-circle distance is at least the
    /// chord times the Earth's radius, and the table is read at the floor.
    pub(crate) fn proximity_bound(&self, chord: f64) -> f64 {
        let table = proximity_table();
        let step = (chord * self.exponent_per_chord * PROXIMITY_STEPS_PER_UNIT) as usize;
        // Beyond regular visits, the second exponential of the curve, from
        // the same table at the floor: each factor bounds its own from
        // above, so their product bounds the curve.
        let excess = self.visits.excess(chord * crate::domain::EARTH_RADIUS_KM);
        let beyond = (excess * PROXIMITY_STEPS_PER_UNIT) as usize;
        self.scoring.weights[Factor::Proximity]
            * table[step.min(PROXIMITY_TABLE_LEN - 1)]
            * table[beyond.min(PROXIMITY_TABLE_LEN - 1)]
    }

    /// Bound on the score of any member of `group` in a bucket with
    /// `bucket_term`, its nearest point `chord` away, its members' grades
    /// `levels`; `split` is what the search knows of the members' coverage
    /// of the seeker's areas.
    pub(crate) fn bound(
        &self,
        bucket_term: BucketTerm,
        group: &GroupSummary,
        levels: AreaLevels,
        chord: f64,
        split: SplitCoverage,
    ) -> GroupBound {
        let scoring = self.scoring;
        let seeker = self.seeker;
        let w = &scoring.weights;
        let neutral = scoring.config.neutral;
        let similarity = match seeker.challenge {
            None => neutral,
            Some(challenge) => {
                let known = group.challenge.nearest(challenge).map_or(0.0, |nearest| {
                    scoring.challenge_similarity(Some(challenge), Some(nearest))
                });
                if group.flags & UNKNOWN_CHALLENGE != 0 {
                    known.max(neutral)
                } else {
                    known
                }
            }
        };
        let size = match seeker.known_ln_pupils() {
            None => neutral,
            Some(ln) => {
                let known = group
                    .ln_pupils
                    .nearest(ln)
                    .map_or(0.0, |nearest| scoring.size_value(Some(ln), Some(nearest)));
                if group.flags & UNKNOWN_PUPILS != 0 {
                    known.max(neutral)
                } else {
                    known
                }
            }
        };
        let load = match scoring.mode {
            MatchMode::Support | MatchMode::Peer => group.max_free_share(),
            MatchMode::Lead => seeker.free_share(),
        };
        let stage_and_phase = if group.any_area_grades() {
            self.graded_term(&bucket_term, levels)
        } else {
            bucket_term.exact
        };
        // Without the family bonus: the seeker's family members are scored
        // before the search and skipped by it.
        let focus = w[Factor::Focus] * scoring.focus_bound(seeker, group, split);
        let others_but_phase = w[Factor::Context] * scoring.context_value(similarity, false)
            + focus
            + self.language[usize::from(group.languages.0)]
            + w[Factor::Size] * size
            + w[Factor::Load] * load
            + w[Factor::TrackRecord] * scoring.track_record_bound(seeker, group);
        GroupBound {
            tier: scoring.tier_bound(seeker, group, split),
            score: stage_and_phase + self.proximity_bound(chord) + others_but_phase,
            other_terms: bucket_term.phase_term + others_but_phase,
            focus,
        }
    }
}

/// A group's bounds: on its members' scores, and on their
/// [`ScoringContext::other_terms`] (every term but stage and proximity), so
/// the search can rule a member out from its exact stage term alone.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GroupBound {
    /// The highest focus tier a member could rank in.
    pub(crate) tier: u8,
    pub(crate) score: f64,
    pub(crate) other_terms: f64,
    /// Of which the focus term's bound, so a member whose focus term is
    /// known can be bounded by the rest plus its own.
    pub(crate) focus: f64,
}

/// What a search knows of how many of the seeker's areas (on the side it
/// split on) the members of a group have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SplitCoverage {
    /// Nothing: bound from the group's summary.
    Unknown,
    /// Every member has exactly this many.
    Exactly(u32),
}

fn needs_covered(needs: FocusSet, offers: FocusSet) -> u32 {
    needs.intersection(offers).len()
}

/// `value` as an `f32` no greater than it.
pub(crate) fn f32_down(value: f64) -> f32 {
    let near = value as f32;
    if f64::from(near) > value {
        near.next_down()
    } else {
        near
    }
}

/// `value` as an `f32` no smaller than it.
pub(crate) fn f32_up(value: f64) -> f32 {
    let near = value as f32;
    if f64::from(near) < value {
        near.next_up()
    } else {
        near
    }
}

/// A closed range of known values in `f32`, rounded outwards so it holds
/// every member's exact value; empty when no member's value is known.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Span {
    low: f32,
    high: f32,
}

impl Span {
    pub(crate) const EMPTY: Span = Span {
        low: f32::INFINITY,
        high: f32::NEG_INFINITY,
    };

    pub(crate) fn of(value: Option<f64>) -> Span {
        value.map_or(Span::EMPTY, |value| Span {
            low: f32_down(value),
            high: f32_up(value),
        })
    }

    pub(crate) fn union(self, other: Span) -> Span {
        Span {
            low: self.low.min(other.low),
            high: self.high.max(other.high),
        }
    }

    /// The value in the range nearest to `value`, if the range is not empty.
    pub(crate) fn nearest(self, value: f64) -> Option<f64> {
        (self.low <= self.high).then(|| value.clamp(f64::from(self.low), f64::from(self.high)))
    }
}

/// Which language media occur in a group (bit 5: unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct MediumSet(u8);

impl MediumSet {
    pub(super) fn bit(medium: Option<LanguageMedium>) -> u8 {
        match medium {
            Some(medium) => 1 << (medium as u8),
            None => 1 << 5,
        }
    }

    pub(crate) fn of(medium: Option<LanguageMedium>) -> MediumSet {
        MediumSet(Self::bit(medium))
    }

    pub(crate) fn union(self, other: MediumSet) -> MediumSet {
        MediumSet(self.0 | other.0)
    }
}

/// Sentinel for a group spanning several consortia or local authorities.
pub(crate) const MIXED_AREAS: u16 = u16::MAX;

const ANY_WITHOUT_NEEDS: u8 = 1;
const UNKNOWN_CHALLENGE: u8 = 2;
const UNKNOWN_PUPILS: u8 = 4;
const ANY_FREE_CAPACITY: u8 = 8;
const ANY_TRACK_RECORD: u8 = 16;
const ANY_AREA_GRADES: u8 = 32;

/// A bucket's stage and phase terms: exact for groups without area grades;
/// for groups with some, the stage part is bounded from the group's grade
/// range and the bucket's stage.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct BucketTerm {
    pub(crate) exact: f64,
    phase_term: f64,
    stage: Option<Stage>,
}

/// What the score bound needs to know about a group of schools: the union or
/// range of each attribute the components read. Packed (36 bytes) so an
/// index node fits one cache line: ranges in `f32` rounded outwards, free
/// share rounded up to 1/255ths, areas interned to 16 bits (larger ids count
/// as mixed, which only weakens pruning).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct GroupSummary {
    challenge: Span,
    ln_pupils: Span,
    pub strengths: FocusSet,
    pub needs: FocusSet,
    consortium: u16,
    local_authority: u16,
    /// The most strengths any member has.
    most_strengths: u8,
    /// Smallest non-zero needs count among members (0 if none has needs).
    fewest_needs: u8,
    languages: MediumSet,
    flags: u8,
    /// Most free share of capacity, in 255ths, rounded up.
    max_free_share: u8,
    /// Members (saturating at 255).
    members: u8,
}

impl GroupSummary {
    /// The summary of no school.
    pub(crate) const EMPTY: GroupSummary = GroupSummary {
        challenge: Span::EMPTY,
        ln_pupils: Span::EMPTY,
        strengths: FocusSet::EMPTY,
        needs: FocusSet::EMPTY,
        consortium: MIXED_AREAS,
        local_authority: MIXED_AREAS,
        most_strengths: 0,
        fewest_needs: 0,
        languages: MediumSet(0),
        flags: 0,
        max_free_share: 0,
        members: 0,
    };

    pub(crate) fn of(profile: &Profile) -> GroupSummary {
        let needs = profile.needs.len();
        let flag = |on: bool, bit: u8| if on { bit } else { 0 };
        let area = |id: u32| u16::try_from(id).unwrap_or(MIXED_AREAS);
        GroupSummary {
            challenge: Span::of(profile.challenge),
            ln_pupils: Span::of(profile.known_ln_pupils()),
            strengths: profile.strengths,
            needs: profile.needs,
            consortium: area(profile.consortium),
            local_authority: area(profile.local_authority),
            most_strengths: profile.strengths.len() as u8,
            fewest_needs: needs as u8,
            languages: MediumSet::of(profile.language),
            flags: flag(needs == 0, ANY_WITHOUT_NEEDS)
                | flag(profile.challenge.is_none(), UNKNOWN_CHALLENGE)
                | flag(profile.pupils.is_none(), UNKNOWN_PUPILS)
                | flag(profile.free_capacity() > 0, ANY_FREE_CAPACITY)
                | flag(!profile.track_record.is_empty(), ANY_TRACK_RECORD)
                | flag(!profile.area_grades.is_empty(), ANY_AREA_GRADES),
            max_free_share: (profile.free_share() * 255.0).ceil().min(255.0) as u8,
            members: 1,
        }
    }

    pub(crate) fn merge(self, other: &GroupSummary) -> GroupSummary {
        let same = |a: u16, b: u16| if a == b { a } else { MIXED_AREAS };
        let fewest = |a: u8, b: u8| match (a, b) {
            (0, n) | (n, 0) => n,
            (a, b) => a.min(b),
        };
        GroupSummary {
            challenge: self.challenge.union(other.challenge),
            ln_pupils: self.ln_pupils.union(other.ln_pupils),
            strengths: self.strengths.union(other.strengths),
            needs: self.needs.union(other.needs),
            consortium: same(self.consortium, other.consortium),
            local_authority: same(self.local_authority, other.local_authority),
            most_strengths: self.most_strengths.max(other.most_strengths),
            fewest_needs: fewest(self.fewest_needs, other.fewest_needs),
            languages: self.languages.union(other.languages),
            flags: self.flags | other.flags,
            max_free_share: self.max_free_share.max(other.max_free_share),
            members: self.members.saturating_add(other.members),
        }
    }

    pub(crate) fn members(&self) -> usize {
        usize::from(self.members)
    }

    pub(crate) fn any_without_needs(&self) -> bool {
        self.flags & ANY_WITHOUT_NEEDS != 0
    }

    pub(crate) fn any_area_grades(&self) -> bool {
        self.flags & ANY_AREA_GRADES != 0
    }

    pub(crate) fn any_free_capacity(&self) -> bool {
        self.flags & ANY_FREE_CAPACITY != 0
    }

    /// Whether some member could be in this (interned) consortium.
    pub(crate) fn may_be_in_consortium(&self, consortium: u32) -> bool {
        self.consortium == MIXED_AREAS || u32::from(self.consortium) == consortium
    }

    /// Whether some member could be in this (interned) local authority.
    pub(crate) fn may_be_in_local_authority(&self, local_authority: u32) -> bool {
        self.local_authority == MIXED_AREAS || u32::from(self.local_authority) == local_authority
    }

    pub(super) fn max_free_share(&self) -> f64 {
        f64::from(self.max_free_share) / 255.0
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::super::super::config::ScoringConfig;
    use super::super::factor::PerFactor;
    use super::super::profile::{NO_BODY, NO_FAMILY, TrackRecord};
    use super::*;
    use crate::domain::{FocusArea, GeoPoint, Grade, LanguageMedium, Phase, Stage};

    fn focus_set(bits: u32) -> FocusSet {
        FocusArea::ALL
            .into_iter()
            .enumerate()
            .filter(|(i, _)| bits & (1 << i) != 0)
            .map(|(_, area)| area)
            .collect()
    }

    prop_compose! {
        /// A school as scoring reads it, near Cardiff, in `phase` at `stage`.
        fn arb_profile(phase: Phase, stage: Option<Stage>)(
            north in -0.5f64..0.5, east in -0.5f64..0.5,
            language in prop::option::weighted(0.8, prop::sample::select(LanguageMedium::ALL.to_vec())),
            challenge in prop::option::weighted(0.7, 0.0f64..100.0),
            family in prop::option::weighted(0.5, 0u32..4),
            strengths in 0u32..(1 << 21), needs in 0u32..(1 << 21),
            sparse in any::<bool>(), no_needs in prop::bool::weighted(0.2),
            pupils in prop::option::weighted(0.8, 1u32..3000),
            capacity in 0u32..4, active in 0u32..3,
            green in 0u32..(1 << 21), yellow in 0u32..(1 << 21), record in prop::bool::weighted(0.3),
            consortium in 0u32..3, local_authority in 0u32..4,
            graded in prop::bool::weighted(0.4),
            grades in prop::collection::vec((0usize..21, 1usize..6), 0..8),
        ) -> Profile {
            let mask = if sparse { 0b1000_0100_0010_0001 } else { u32::MAX };
            Profile {
                unit: GeoPoint::new(51.48 + north, -3.18 + east).unit_vector(),
                phase,
                stage,
                language,
                challenge,
                family: family.unwrap_or(NO_FAMILY),
                strengths: focus_set(strengths & mask),
                needs: if no_needs { FocusSet::EMPTY } else { focus_set(needs & mask) },
                area_grades: if graded {
                    AreaGrades::from_grades(
                        grades.into_iter().map(|(area, grade)| (FocusArea::ALL[area], Grade::ALL[grade - 1])),
                    )
                } else {
                    AreaGrades::NONE
                },
                pupils,
                ln_pupils: f64::from(pupils.unwrap_or(1).max(1)).ln(),
                capacity,
                active_support: active.min(capacity),
                track_record: if record {
                    TrackRecord { green: focus_set(green & mask), yellow: focus_set(yellow & mask & !green) }
                } else {
                    TrackRecord::NONE
                },
                trust: NO_BODY,
                diocese: NO_BODY,
                consortium,
                local_authority,
                open: true,
                safeguarding_not_met: false,
            }
        }
    }

    fn arb_stage() -> impl Strategy<Value = Option<Stage>> {
        prop::option::weighted(0.85, prop::sample::select(Stage::ALL.to_vec()))
    }

    fn arb_phase() -> impl Strategy<Value = Phase> {
        prop::sample::select(vec![Phase::Primary, Phase::Secondary, Phase::Special])
    }

    /// A seeker, a group of members of one bucket (phase and stage), a
    /// request (mode, weights, scale, focus override) — everything a bound
    /// reads.
    fn arb_case() -> impl Strategy<
        Value = (
            Profile,
            Vec<Profile>,
            MatchMode,
            Vec<f64>,
            f64,
            Option<FocusSet>,
        ),
    > {
        (arb_phase(), arb_stage(), arb_phase(), arb_stage()).prop_flat_map(
            |(seeker_phase, seeker_stage, phase, stage)| {
                (
                    arb_profile(seeker_phase, seeker_stage),
                    prop::collection::vec(arb_profile(phase, stage), 1..40),
                    prop::sample::select(vec![
                        MatchMode::Support,
                        MatchMode::Lead,
                        MatchMode::Peer,
                    ]),
                    prop::collection::vec(prop_oneof![Just(0.0), 0.0f64..1.0, 0.0f64..10.0], 9),
                    1.0f64..100.0,
                    prop::option::weighted(0.3, (1u32..(1 << 21)).prop_map(focus_set)),
                )
            },
        )
    }

    proptest! {
        #![proptest_config(ProptestConfig { cases: 2000, ..ProptestConfig::default() })]

        /// The bound of a group is at least the exact score of every member
        /// outside the seeker's family, with the chord of the nearest
        /// member — the soundness the search's exactness rests on.
        #[test]
        fn a_groups_bound_is_at_least_each_members_score(
            (seeker, members, mode, drawn, scale_km, focus) in arb_case()
        ) {
            let config = ScoringConfig::default();
            let mut weights = PerFactor::from_fn(|_| 0.0);
            for (factor, weight) in Factor::ALL.into_iter().zip(&drawn) {
                weights[factor] = *weight;
            }
            let total: f64 = weights.values().sum();
            prop_assume!(total > 0.0);
            let weights = PerFactor::from_fn(|factor| weights[factor] / total);
            let scoring = ScoringContext::new(&config, mode, weights, scale_km, focus, &seeker);
            let bounder = GroupBounder::new(&scoring, &seeker);
            let outside: Vec<&Profile> = members
                .iter()
                .filter(|m| seeker.family == NO_FAMILY || m.family != seeker.family)
                .collect();
            prop_assume!(!outside.is_empty());
            let group = outside[1..]
                .iter()
                .fold(GroupSummary::of(outside[0]), |group, m| group.merge(&GroupSummary::of(m)));
            let chord = outside
                .iter()
                .map(|m| seeker.unit.chord_squared(m.unit).sqrt())
                .fold(f64::INFINITY, f64::min);
            let bucket = bounder.bucket_term(outside[0].stage, outside[0].phase);
            let levels_of = |members: &[&Profile]| {
                members.iter().fold(AreaLevels::default(), |levels, m| levels.union(AreaLevels::of(m.area_grades)))
            };
            let bound = bounder.bound(bucket, &group, levels_of(&outside), chord, SplitCoverage::Unknown);
            for member in &outside {
                let distance = seeker.unit.distance_km(member.unit);
                let score = scoring.score(scoring.partial_score(&seeker, member), distance);
                prop_assert!(
                    bound.score + 1e-9 >= score,
                    "bound {} below a member's score {score}", bound.score
                );
                let others = scoring.other_terms(&seeker, member);
                prop_assert!(
                    bound.other_terms + 1e-9 >= others,
                    "bound on the other terms {} below a member's {others}", bound.other_terms
                );
                let tier = scoring.focus_tier(&seeker, member.strengths, member.needs);
                prop_assert!(bound.tier >= tier, "tier bound {} below a member's {tier}", bound.tier);
                // The search swaps the focus bound for a member's own focus term.
                let focus = scoring.focus_term(&seeker, member.strengths, member.needs);
                prop_assert!(bound.focus + 1e-9 >= focus, "focus bound {} below {focus}", bound.focus);
                prop_assert!(
                    bound.other_terms - bound.focus + focus + 1e-9 >= others,
                    "the other terms but focus, plus its own focus, below a member's {others}"
                );
            }
            // Members that all cover exactly `count` of the seeker's areas
            // on the split side: the exact-coverage bound holds for them.
            if let Some((side, keys)) = scoring.split(&seeker) {
                for count in 0..=keys.len().min(3) {
                    let exact: Vec<&Profile> = outside
                        .iter()
                        .copied()
                        .filter(|m| keys.intersection(side.of(m)).len() == count)
                        .collect();
                    let Some((first, rest)) = exact.split_first() else { continue };
                    let group = rest.iter().fold(GroupSummary::of(first), |g, m| g.merge(&GroupSummary::of(m)));
                    let bound = bounder.bound(bucket, &group, levels_of(&exact), chord, SplitCoverage::Exactly(count));
                    for member in &exact {
                        let distance = seeker.unit.distance_km(member.unit);
                        let score = scoring.score(scoring.partial_score(&seeker, member), distance);
                        prop_assert!(bound.score + 1e-9 >= score, "exactly {count}: {} < {score}", bound.score);
                        let others = scoring.other_terms(&seeker, member);
                        prop_assert!(bound.other_terms + 1e-9 >= others, "exactly {count}: {} < {others}", bound.other_terms);
                        let focus = scoring.focus_term(&seeker, member.strengths, member.needs);
                        prop_assert!(bound.focus + 1e-9 >= focus, "exactly {count}: focus {} < {focus}", bound.focus);
                        let tier = scoring.focus_tier(&seeker, member.strengths, member.needs);
                        prop_assert!(bound.tier >= tier, "exactly {count}: tier {} < {tier}", bound.tier);
                    }
                }
            }
        }
    }
}
