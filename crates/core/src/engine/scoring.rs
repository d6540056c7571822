//! The scoring model (docs/matching.md, and issue 5's track record): nine components, each in [0, 1], combined
//! by a weighted mean. Each component is computed once, as a typed detail
//! that carries its inputs and value; the score is summed from those same
//! values and the reasons are rendered from them, so the score and its
//! explanation cannot disagree.

use std::fmt::Write as _;

use crate::domain::{FocusSet, LanguageMedium, MatchMode, Phase, Stage, UnitVector};

use super::config::ScoringConfig;
use super::index::Side;

/// The scoring components, in the order they are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Factor {
    Stage,
    Proximity,
    Context,
    Focus,
    Phase,
    Language,
    Size,
    Load,
    TrackRecord,
}

impl Factor {
    pub const ALL: [Factor; 9] = [
        Factor::Stage,
        Factor::Proximity,
        Factor::Context,
        Factor::Focus,
        Factor::Phase,
        Factor::Language,
        Factor::Size,
        Factor::Load,
        Factor::TrackRecord,
    ];
    pub const COUNT: usize = Factor::ALL.len();

    pub fn name(self) -> &'static str {
        match self {
            Factor::Stage => "stage",
            Factor::Proximity => "proximity",
            Factor::Context => "context",
            Factor::Focus => "focus",
            Factor::Phase => "phase",
            Factor::Language => "language",
            Factor::Size => "size",
            Factor::Load => "load",
            Factor::TrackRecord => "track_record",
        }
    }
}

/// Position of proximity in [`Factor::ALL`].
const PROXIMITY: usize = 1;

/// Focus areas in which a school completed partnerships whose impact was
/// rated GREEN, and those rated YELLOW at best (design: a database of
/// practice worthy of emulation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TrackRecord {
    pub green: FocusSet,
    /// Areas rated YELLOW and never GREEN.
    pub yellow: FocusSet,
}

impl TrackRecord {
    pub const NONE: TrackRecord = TrackRecord {
        green: FocusSet::EMPTY,
        yellow: FocusSet::EMPTY,
    };

    /// Adds a completed partnership's areas at its rating (GREEN or YELLOW).
    pub fn add(&mut self, focus: FocusSet, green: bool) {
        if green {
            self.green = self.green.union(focus);
            self.yellow = self.yellow.difference(focus);
        } else {
            self.yellow = self.yellow.union(focus.difference(self.green));
        }
    }

    pub fn is_empty(&self) -> bool {
        self.green.is_empty() && self.yellow.is_empty()
    }

    /// The same record restricted to `areas`.
    fn within(self, areas: FocusSet) -> TrackRecord {
        TrackRecord {
            green: self.green.intersection(areas),
            yellow: self.yellow.intersection(areas),
        }
    }
}

/// Sentinel for "no family" in [`Profile::family`].
pub(super) const NO_FAMILY: u32 = u32::MAX;

/// The fields of a school that filters and scoring read, packed together so
/// scoring one candidate touches one small record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Profile {
    pub unit: UnitVector,
    pub phase: Phase,
    pub stage: Option<Stage>,
    pub language: Option<LanguageMedium>,
    pub challenge: Option<f64>,
    /// Interned family id, or [`NO_FAMILY`].
    pub family: u32,
    pub strengths: FocusSet,
    pub needs: FocusSet,
    pub pupils: Option<u32>,
    /// Natural log of pupils (at least 1), precomputed for the size component.
    pub ln_pupils: f64,
    pub capacity: u32,
    /// Active partnerships in which this school gives support.
    pub active_support: u32,
    pub track_record: TrackRecord,
    /// Interned, case-folded consortium and local authority.
    pub consortium: u32,
    pub local_authority: u32,
    pub open: bool,
}

impl Profile {
    pub(crate) fn free_capacity(&self) -> u32 {
        self.capacity.saturating_sub(self.active_support)
    }

    /// Free share of capacity: the load component of a supporter.
    pub(crate) fn free_share(&self) -> f64 {
        if self.capacity == 0 {
            0.0
        } else {
            f64::from(self.free_capacity()) / f64::from(self.capacity)
        }
    }

    /// Log pupils when the number of pupils is known.
    pub(crate) fn known_ln_pupils(&self) -> Option<f64> {
        self.pupils.map(|_| self.ln_pupils)
    }
}

/// Per-request inputs of the scoring functions.
#[derive(Debug, Clone)]
pub(super) struct ScoringContext<'a> {
    pub config: &'a ScoringConfig,
    pub mode: MatchMode,
    /// Weights normalised to sum to 1, in [`Factor::ALL`] order.
    pub weights: [f64; Factor::COUNT],
    pub proximity_scale_km: f64,
    /// Focus areas the match is about, overriding the seeker's record:
    /// needs in SUPPORT and PEER, strengths offered in LEAD.
    pub focus: Option<FocusSet>,
    /// `config.size_ratio_floor.ln()`, computed once.
    pub ln_size_ratio_floor: f64,
}

impl<'a> ScoringContext<'a> {
    pub(super) fn new(
        config: &'a ScoringConfig,
        mode: MatchMode,
        weights: [f64; Factor::COUNT],
        proximity_scale_km: f64,
        focus: Option<FocusSet>,
    ) -> ScoringContext<'a> {
        ScoringContext {
            config,
            mode,
            weights,
            proximity_scale_km,
            focus,
            ln_size_ratio_floor: config.size_ratio_floor.ln(),
        }
    }

    /// The side a search should split on, with the seeker's areas to look
    /// for there: the partners' strengths against the wants (SUPPORT, and
    /// PEER when it has wants), or the partners' needs against the offer
    /// (LEAD, and PEER without wants). `None` when there is nothing to look
    /// for.
    pub(super) fn split(&self, seeker: &Profile) -> Option<(Side, FocusSet)> {
        let wants = self.seeker_wants(seeker);
        let offers = self.seeker_offers(seeker);
        let (side, keys) = match self.mode {
            MatchMode::Support => (Side::Strengths, wants),
            MatchMode::Lead => (Side::Needs, offers),
            MatchMode::Peer if !wants.is_empty() => (Side::Strengths, wants),
            MatchMode::Peer => (Side::Needs, offers),
        };
        (!keys.is_empty()).then_some((side, keys))
    }

    fn split_side(&self, seeker: &Profile) -> Option<Side> {
        self.split(seeker).map(|(side, _)| side)
    }

    /// Focus areas the seeker wants covered (SUPPORT, PEER).
    pub(super) fn seeker_wants(&self, seeker: &Profile) -> FocusSet {
        self.focus.unwrap_or(seeker.needs)
    }

    /// Focus areas the seeker offers (LEAD uses the override, PEER the record).
    fn seeker_offers(&self, seeker: &Profile) -> FocusSet {
        match self.mode {
            MatchMode::Lead => self.focus.unwrap_or(seeker.strengths),
            MatchMode::Support | MatchMode::Peer => seeker.strengths,
        }
    }

    /// The score without its proximity term: every other component's
    /// weighted value, summed in factor order. Needs no distance and no
    /// transcendental function, so the search can rule a school out with it
    /// before paying for the distance.
    pub(super) fn partial_score(&self, seeker: &Profile, partner: &Profile) -> f64 {
        let w = &self.weights;
        let same_family = seeker.family != NO_FAMILY && seeker.family == partner.family;
        let (forward, backward) = self.coverages(seeker, partner);
        w[0] * self.stage_value(seeker.stage, partner.stage)
            + w[2]
                * self.context_value(
                    self.challenge_similarity(seeker.challenge, partner.challenge),
                    same_family,
                )
            + w[3]
                * self.focus_value(
                    forward.and_then(Coverage::share),
                    backward.and_then(Coverage::share),
                )
            + w[4] * phase_affinity(seeker.phase, partner.phase)
            + w[5] * self.language_value(seeker.language, partner.language)
            + w[6] * self.size_value(seeker.known_ln_pupils(), partner.known_ln_pupils())
            + w[7] * self.supporter(seeker, partner).1.free_share()
            + w[8] * self.track_record_value(seeker, partner)
    }

    /// The proximity component's weighted value at a distance.
    pub(super) fn proximity_term(&self, distance_km: f64) -> f64 {
        self.weights[PROXIMITY] * proximity_value(distance_km, self.proximity_scale_km)
    }

    /// The score: the partial score plus the proximity term. Both match
    /// paths rank by exactly this sum, so they agree to the last bit.
    pub(super) fn score(&self, partial: f64, distance_km: f64) -> f64 {
        partial + self.proximity_term(distance_km)
    }

    /// Every component for one pair.
    pub(super) fn components(
        &self,
        seeker: &Profile,
        partner: &Profile,
        distance_km: f64,
    ) -> [Component; Factor::COUNT] {
        [
            self.stage(seeker, partner),
            Component::new(Detail::Proximity {
                distance_km,
                scale_km: self.proximity_scale_km,
                value: proximity_value(distance_km, self.proximity_scale_km),
            }),
            self.context(seeker, partner),
            self.focus(seeker, partner),
            Component::new(Detail::Phase {
                seeker: seeker.phase,
                partner: partner.phase,
                value: phase_affinity(seeker.phase, partner.phase),
            }),
            Component::new(Detail::Language {
                seeker: seeker.language,
                partner: partner.language,
                value: self.language_value(seeker.language, partner.language),
            }),
            self.size(seeker, partner),
            self.load(seeker, partner),
            self.track_record(seeker, partner),
        ]
    }

    fn stage(&self, seeker: &Profile, partner: &Profile) -> Component {
        Component::new(Detail::Stage {
            mode: self.mode,
            seeker: seeker.stage,
            partner: partner.stage,
            value: self.stage_value(seeker.stage, partner.stage),
        })
    }

    /// The stage component for two stages in this mode.
    pub(super) fn stage_value(&self, seeker: Option<Stage>, partner: Option<Stage>) -> f64 {
        let (Some(s), Some(p)) = (seeker, partner) else {
            return self.config.neutral;
        };
        let curve_value = |curve: &[f64; 4], gap: i32| {
            usize::try_from(gap)
                .ok()
                .and_then(|gap| curve.get(gap).copied())
                .unwrap_or(0.0)
        };
        match self.mode {
            MatchMode::Support => {
                curve_value(&self.config.directed_stage_curve, p.level() - s.level())
            }
            MatchMode::Lead => {
                curve_value(&self.config.directed_stage_curve, s.level() - p.level())
            }
            MatchMode::Peer => {
                curve_value(&self.config.peer_stage_curve, (p.level() - s.level()).abs())
            }
        }
    }

    /// Similarity of two challenge indices, neutral if either is unknown.
    fn challenge_similarity(&self, seeker: Option<f64>, partner: Option<f64>) -> f64 {
        match (seeker, partner) {
            (Some(a), Some(b)) => (1.0 - (a - b).abs() / self.config.challenge_range).max(0.0),
            _ => self.config.neutral,
        }
    }

    fn context_value(&self, similarity: f64, same_family: bool) -> f64 {
        let bonus = self.config.same_family_bonus;
        (1.0 - bonus) * similarity + if same_family { bonus } else { 0.0 }
    }

    fn context(&self, seeker: &Profile, partner: &Profile) -> Component {
        let similarity = self.challenge_similarity(seeker.challenge, partner.challenge);
        let same_family = seeker.family != NO_FAMILY && seeker.family == partner.family;
        Component::new(Detail::Context {
            seeker: seeker.challenge,
            partner: partner.challenge,
            same_family,
            value: self.context_value(similarity, same_family),
        })
    }

    /// What the focus component compares in this mode: the seeker's wants
    /// against the partner's strengths (SUPPORT, PEER), the partner's needs
    /// against the seeker's offer (LEAD, PEER).
    fn coverages(
        &self,
        seeker: &Profile,
        partner: &Profile,
    ) -> (Option<Coverage>, Option<Coverage>) {
        let seeker_side = || Coverage::of(self.seeker_wants(seeker), partner.strengths);
        let partner_side = || Coverage::of(partner.needs, self.seeker_offers(seeker));
        match self.mode {
            MatchMode::Support => (Some(seeker_side()), None),
            MatchMode::Lead => (None, Some(partner_side())),
            MatchMode::Peer => (Some(seeker_side()), Some(partner_side())),
        }
    }

    /// The focus areas covered, in either direction.
    pub(super) fn covered_focus(&self, seeker: &Profile, partner: &Profile) -> FocusSet {
        let (forward, backward) = self.coverages(seeker, partner);
        [forward, backward]
            .into_iter()
            .flatten()
            .fold(FocusSet::EMPTY, |set, coverage| set.union(coverage.covered))
    }

    fn focus(&self, seeker: &Profile, partner: &Profile) -> Component {
        let (forward, backward) = self.coverages(seeker, partner);
        Component::new(Detail::Focus {
            mode: self.mode,
            forward,
            backward,
            value: self.focus_value(
                forward.and_then(Coverage::share),
                backward.and_then(Coverage::share),
            ),
        })
    }

    /// Mean of the directions in which something is wanted, neutral if none.
    fn focus_value(&self, forward: Option<f64>, backward: Option<f64>) -> f64 {
        match (forward, backward) {
            (Some(a), Some(b)) => (a + b) / 2.0,
            (Some(share), None) | (None, Some(share)) => share,
            (None, None) => self.config.neutral,
        }
    }

    /// Similarity of two school sizes (log pupils), neutral if either is
    /// unknown.
    fn size_value(&self, seeker_ln: Option<f64>, partner_ln: Option<f64>) -> f64 {
        match (seeker_ln, partner_ln) {
            (Some(a), Some(b)) => (1.0 - (a - b).abs() / self.ln_size_ratio_floor).max(0.0),
            _ => self.config.neutral,
        }
    }

    fn size(&self, seeker: &Profile, partner: &Profile) -> Component {
        Component::new(Detail::Size {
            seeker: seeker.pupils,
            partner: partner.pupils,
            value: self.size_value(seeker.known_ln_pupils(), partner.known_ln_pupils()),
        })
    }

    /// Who gives the support: the partner (SUPPORT, PEER) or the seeker
    /// (LEAD); true when it is the partner.
    fn supporter<'p>(&self, seeker: &'p Profile, partner: &'p Profile) -> (bool, &'p Profile) {
        match self.mode {
            MatchMode::Support | MatchMode::Peer => (true, partner),
            MatchMode::Lead => (false, seeker),
        }
    }

    fn load(&self, seeker: &Profile, partner: &Profile) -> Component {
        let (supporter_is_partner, supporter) = self.supporter(seeker, partner);
        Component::new(Detail::Load {
            supporter_is_partner,
            capacity: supporter.capacity,
            free: supporter.free_capacity(),
            value: supporter.free_share(),
        })
    }

    /// Whose track record counts, in which areas: the partner's in the
    /// seeker's wants (SUPPORT, PEER), or the seeker's own in the partner's
    /// needs (LEAD, where the seeker gives the support).
    fn track_record_inputs(&self, seeker: &Profile, partner: &Profile) -> (TrackRecord, FocusSet) {
        match self.mode {
            MatchMode::Support | MatchMode::Peer => {
                (partner.track_record, self.seeker_wants(seeker))
            }
            MatchMode::Lead => (seeker.track_record, partner.needs),
        }
    }

    /// The mean credit over the areas wanted (1 for GREEN, the configured
    /// share for YELLOW, 0 for none); with no areas wanted, the best credit
    /// anywhere.
    fn track_record_credit(&self, record: TrackRecord, wanted: FocusSet) -> f64 {
        let yellow = self.config.yellow_track_record;
        if wanted.is_empty() {
            return if !record.green.is_empty() {
                1.0
            } else if !record.yellow.is_empty() {
                yellow
            } else {
                0.0
            };
        }
        let within = record.within(wanted);
        (f64::from(within.green.len()) + yellow * f64::from(within.yellow.len()))
            / f64::from(wanted.len())
    }

    fn track_record_value(&self, seeker: &Profile, partner: &Profile) -> f64 {
        let (record, wanted) = self.track_record_inputs(seeker, partner);
        self.track_record_credit(record, wanted)
    }

    fn track_record(&self, seeker: &Profile, partner: &Profile) -> Component {
        let (record, wanted) = self.track_record_inputs(seeker, partner);
        let shown = if wanted.is_empty() {
            record
        } else {
            record.within(wanted)
        };
        Component::new(Detail::TrackRecord {
            supporter_is_partner: self.mode != MatchMode::Lead,
            wanted,
            proven: shown,
            value: self.track_record_credit(record, wanted),
        })
    }

    /// The best track-record value any member of `group` could have.
    fn track_record_bound(&self, seeker: &Profile, group: &GroupSummary) -> f64 {
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

    fn language_value(
        &self,
        seeker: Option<LanguageMedium>,
        partner: Option<LanguageMedium>,
    ) -> f64 {
        match (seeker, partner) {
            (Some(a), Some(b)) => language_affinity(a, b),
            _ => self.config.neutral,
        }
    }

    /// The best focus value any member of the group could have. `split`
    /// is what the search already knows about how many of the seeker's
    /// areas the members have on the side it split on (strengths against the
    /// wants in SUPPORT and PEER, needs against the offer in LEAD).
    fn focus_bound(&self, seeker: &Profile, group: &GroupSummary, split: SplitCoverage) -> f64 {
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
                    consider(None, None);
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
pub(super) struct GroupBounder<'a> {
    scoring: &'a ScoringContext<'a>,
    seeker: &'a Profile,
    /// Weighted language bound for each set of media (a [`MediumSet`]).
    language: [f64; 64],
    /// Earth radius over the proximity scale: chord length → exponent.
    exponent_per_chord: f64,
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
    pub(super) fn new(scoring: &'a ScoringContext<'a>, seeker: &'a Profile) -> GroupBounder<'a> {
        let neutral = scoring.config.neutral;
        let language = std::array::from_fn(|mask| {
            let media = MediumSet(mask as u8);
            let best = match seeker.language {
                None => neutral,
                Some(_) => LanguageMedium::ALL
                    .into_iter()
                    .filter(|medium| media.contains(Some(*medium)))
                    .map(|medium| scoring.language_value(seeker.language, Some(medium)))
                    .chain(media.contains(None).then_some(neutral))
                    .fold(0.0, f64::max),
            };
            scoring.weights[5] * best
        });
        GroupBounder {
            scoring,
            seeker,
            language,
            exponent_per_chord: crate::domain::EARTH_RADIUS_KM / scoring.proximity_scale_km,
        }
    }

    /// The weighted stage and phase terms, exact for a bucket.
    pub(super) fn bucket_term(&self, stage: Option<Stage>, phase: Phase) -> f64 {
        let w = &self.scoring.weights;
        w[0] * self.scoring.stage_value(self.seeker.stage, stage)
            + w[4] * phase_affinity(self.seeker.phase, phase)
    }

    /// The proximity term's bound for a point at least `chord` away (as a
    /// chord of the unit sphere): the great-circle distance is at least the
    /// chord times the Earth's radius, and the table is read at the floor.
    pub(super) fn proximity_bound(&self, chord: f64) -> f64 {
        let table = proximity_table();
        let step = (chord * self.exponent_per_chord * PROXIMITY_STEPS_PER_UNIT) as usize;
        self.scoring.weights[PROXIMITY] * table[step.min(PROXIMITY_TABLE_LEN - 1)]
    }

    /// Bound on the score of any member of `group` in a bucket with
    /// `bucket_term`, its nearest point `chord` away; `split` is what the
    /// search knows of the members' coverage of the seeker's areas.
    pub(super) fn bound(
        &self,
        bucket_term: f64,
        group: &GroupSummary,
        chord: f64,
        split: SplitCoverage,
    ) -> f64 {
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
        bucket_term
            + self.proximity_bound(chord)
            // Without the family bonus: the seeker's family members are
            // scored before the search and skipped by it.
            + w[2] * scoring.context_value(similarity, false)
            + w[3] * scoring.focus_bound(seeker, group, split)
            + self.language[usize::from(group.languages.0)]
            + w[6] * size
            + w[7] * load
            + w[8] * scoring.track_record_bound(seeker, group)
    }
}

/// What a search knows of how many of the seeker's areas (on the side it
/// split on) the members of a group have.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SplitCoverage {
    /// Nothing: bound from the group's summary.
    Unknown,
    /// Every member has exactly this many.
    Exactly(u32),
}

fn needs_covered(needs: FocusSet, offers: FocusSet) -> u32 {
    needs.intersection(offers).len()
}

/// `value` as an `f32` no greater than it.
pub(super) fn f32_down(value: f64) -> f32 {
    let near = value as f32;
    if f64::from(near) > value {
        near.next_down()
    } else {
        near
    }
}

/// `value` as an `f32` no smaller than it.
pub(super) fn f32_up(value: f64) -> f32 {
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
pub(super) struct Span {
    low: f32,
    high: f32,
}

impl Span {
    pub(super) const EMPTY: Span = Span {
        low: f32::INFINITY,
        high: f32::NEG_INFINITY,
    };

    pub(super) fn of(value: Option<f64>) -> Span {
        value.map_or(Span::EMPTY, |value| Span {
            low: f32_down(value),
            high: f32_up(value),
        })
    }

    pub(super) fn union(self, other: Span) -> Span {
        Span {
            low: self.low.min(other.low),
            high: self.high.max(other.high),
        }
    }

    /// The value in the range nearest to `value`, if the range is not empty.
    pub(super) fn nearest(self, value: f64) -> Option<f64> {
        (self.low <= self.high).then(|| value.clamp(f64::from(self.low), f64::from(self.high)))
    }
}

/// Which language media occur in a group (bit 5: unknown).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(super) struct MediumSet(u8);

impl MediumSet {
    fn bit(medium: Option<LanguageMedium>) -> u8 {
        match medium {
            Some(medium) => 1 << (medium as u8),
            None => 1 << 5,
        }
    }

    pub(super) fn of(medium: Option<LanguageMedium>) -> MediumSet {
        MediumSet(Self::bit(medium))
    }

    pub(super) fn contains(self, medium: Option<LanguageMedium>) -> bool {
        self.0 & Self::bit(medium) != 0
    }

    pub(super) fn union(self, other: MediumSet) -> MediumSet {
        MediumSet(self.0 | other.0)
    }
}

/// Sentinel for a group spanning several consortia or local authorities.
pub(super) const MIXED_AREAS: u16 = u16::MAX;

const ANY_WITHOUT_NEEDS: u8 = 1;
const UNKNOWN_CHALLENGE: u8 = 2;
const UNKNOWN_PUPILS: u8 = 4;
const ANY_FREE_CAPACITY: u8 = 8;
const ANY_TRACK_RECORD: u8 = 16;

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
                | flag(!profile.track_record.is_empty(), ANY_TRACK_RECORD),
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

    fn max_free_share(&self) -> f64 {
        f64::from(self.max_free_share) / 255.0
    }
}

/// `exp(-d / scale)`: 1 next door, 1/e at one scale length.
pub(super) fn proximity_value(distance_km: f64, scale_km: f64) -> f64 {
    (-distance_km / scale_km).exp()
}

/// How well two phases work together: 1 for the same phase; natural vertical
/// pairs (transition, all-age schools) high; pairs sharing little low.
pub(super) fn phase_affinity(a: Phase, b: Phase) -> f64 {
    use Phase::*;
    if a == b {
        return 1.0;
    }
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    match (a, b) {
        (Nursery, Primary) | (Primary, Secondary) => 0.9,
        (Primary, Middle) | (Middle, Secondary) => 0.8,
        (Nursery, Middle) => 0.6,
        (Secondary, Pru) | (Middle, Pru) => 0.6,
        (Special, _) | (_, Special) => 0.4,
        (Primary, Pru) => 0.3,
        _ => 0.2,
    }
}

/// How well two language media work together: Welsh-medium and
/// English-medium schools share least.
pub(super) fn language_affinity(a: LanguageMedium, b: LanguageMedium) -> f64 {
    use LanguageMedium::*;
    if a == b {
        return 1.0;
    }
    let (a, b) = if a <= b { (a, b) } else { (b, a) };
    match (a, b) {
        (Bilingual, DualStream) => 0.8,
        (Welsh, Bilingual) | (Bilingual, Transitional) | (DualStream, Transitional) => 0.7,
        (Welsh, DualStream) | (English, DualStream) | (English, Transitional) => 0.6,
        (Welsh, Transitional) => 0.5,
        (English, Bilingual) => 0.4,
        (English, Welsh) => 0.1,
        _ => 0.5,
    }
}

/// Which of the wanted focus areas the other school offers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coverage {
    pub wanted: FocusSet,
    pub covered: FocusSet,
}

impl Coverage {
    fn of(wanted: FocusSet, offered: FocusSet) -> Coverage {
        Coverage {
            wanted,
            covered: wanted.intersection(offered),
        }
    }

    /// Share covered, or `None` when nothing is wanted.
    pub fn share(self) -> Option<f64> {
        (!self.wanted.is_empty())
            .then(|| f64::from(self.covered.len()) / f64::from(self.wanted.len()))
    }
}

/// One component's inputs and value, produced while ranking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Detail {
    Stage {
        mode: MatchMode,
        seeker: Option<Stage>,
        partner: Option<Stage>,
        value: f64,
    },
    Proximity {
        distance_km: f64,
        scale_km: f64,
        value: f64,
    },
    Context {
        seeker: Option<f64>,
        partner: Option<f64>,
        same_family: bool,
        value: f64,
    },
    Focus {
        mode: MatchMode,
        /// The seeker's wants and what the partner covers (SUPPORT, PEER).
        forward: Option<Coverage>,
        /// The partner's needs and what the seeker covers (LEAD, PEER).
        backward: Option<Coverage>,
        value: f64,
    },
    Phase {
        seeker: Phase,
        partner: Phase,
        value: f64,
    },
    Language {
        seeker: Option<LanguageMedium>,
        partner: Option<LanguageMedium>,
        value: f64,
    },
    Size {
        seeker: Option<u32>,
        partner: Option<u32>,
        value: f64,
    },
    Load {
        /// The partner gives support (SUPPORT, PEER); otherwise the seeker.
        supporter_is_partner: bool,
        capacity: u32,
        free: u32,
        value: f64,
    },
    TrackRecord {
        /// The partner gives support (SUPPORT, PEER); otherwise the seeker.
        supporter_is_partner: bool,
        /// The areas the support is for (empty: none recorded).
        wanted: FocusSet,
        /// The supporter's record in those areas (or anywhere, when none
        /// are wanted).
        proven: TrackRecord,
        value: f64,
    },
}

/// A component's value with the detail that produced it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Component {
    pub detail: Detail,
    pub value: f64,
}

impl Component {
    fn new(detail: Detail) -> Component {
        let value = match detail {
            Detail::Stage { value, .. }
            | Detail::Proximity { value, .. }
            | Detail::Context { value, .. }
            | Detail::Focus { value, .. }
            | Detail::Phase { value, .. }
            | Detail::Language { value, .. }
            | Detail::Size { value, .. }
            | Detail::Load { value, .. }
            | Detail::TrackRecord { value, .. } => value,
        };
        Component { detail, value }
    }

    pub fn factor(&self) -> Factor {
        match self.detail {
            Detail::Stage { .. } => Factor::Stage,
            Detail::Proximity { .. } => Factor::Proximity,
            Detail::Context { .. } => Factor::Context,
            Detail::Focus { .. } => Factor::Focus,
            Detail::Phase { .. } => Factor::Phase,
            Detail::Language { .. } => Factor::Language,
            Detail::Size { .. } => Factor::Size,
            Detail::Load { .. } => Factor::Load,
            Detail::TrackRecord { .. } => Factor::TrackRecord,
        }
    }

    /// One plain-English sentence saying why the component has its value.
    pub fn reason(&self) -> String {
        match self.detail {
            Detail::Stage {
                mode,
                seeker,
                partner,
                ..
            } => stage_reason(mode, seeker, partner),
            Detail::Proximity {
                distance_km,
                scale_km,
                ..
            } => {
                let verdict = if distance_km < 10.0 {
                    "close enough for regular visits"
                } else if distance_km < 30.0 {
                    "within reach for regular meetings"
                } else if distance_km < 60.0 {
                    "travel will limit regular joint work"
                } else {
                    "far away: visits will be rare"
                };
                format!("{distance_km:.1} km away (scale {scale_km} km): {verdict}")
            }
            Detail::Context {
                seeker,
                partner,
                same_family,
                ..
            } => {
                let mut text = match (seeker, partner) {
                    (Some(a), Some(b)) => format!(
                        "challenge index {a:.0} vs {b:.0} (difference {:.0})",
                        (a - b).abs()
                    ),
                    (None, Some(_)) => {
                        "challenge index unknown for the seeker: scored as neutral".to_owned()
                    }
                    (Some(_), None) => {
                        "challenge index unknown for the partner: scored as neutral".to_owned()
                    }
                    (None, None) => {
                        "challenge index unknown for both: scored as neutral".to_owned()
                    }
                };
                text.push_str(if same_family {
                    "; same family of schools"
                } else {
                    "; different family of schools"
                });
                text
            }
            Detail::Focus {
                mode,
                forward,
                backward,
                ..
            } => focus_reason(mode, forward, backward),
            Detail::Phase {
                seeker, partner, ..
            } => {
                if seeker == partner {
                    format!("same phase ({seeker}): horizontal partnership")
                } else {
                    let verdict = match phase_affinity(seeker, partner) {
                        v if v >= 0.8 => "a natural vertical pair",
                        v if v >= 0.5 => "a workable vertical pair",
                        _ => "these phases share little practice",
                    };
                    format!("{seeker} ↔ {partner}: {verdict}")
                }
            }
            Detail::Language {
                seeker, partner, ..
            } => match (seeker, partner) {
                (Some(a), Some(b)) if a == b => format!("same language medium ({a})"),
                (Some(a), Some(b)) => {
                    let verdict = match language_affinity(a, b) {
                        v if v >= 0.6 => "much of the medium is shared",
                        v if v >= 0.4 => "the medium is partly shared",
                        _ => "different media: joint work in class may be limited",
                    };
                    format!("{a} ↔ {b}: {verdict}")
                }
                (None, _) => "language medium unknown for the seeker: scored as neutral".to_owned(),
                (_, None) => {
                    "language medium unknown for the partner: scored as neutral".to_owned()
                }
            },
            Detail::Size {
                seeker, partner, ..
            } => match (seeker, partner) {
                (Some(a), Some(b)) => {
                    let ratio = f64::from(a.max(b).max(1)) / f64::from(a.min(b).max(1));
                    let verdict = if ratio <= 1.5 {
                        "similar size"
                    } else if ratio <= 3.0 {
                        "somewhat different size"
                    } else {
                        "very different size"
                    };
                    format!("{verdict} ({a} vs {b} pupils)")
                }
                (None, _) => "pupil numbers unknown for the seeker: scored as neutral".to_owned(),
                (_, None) => "pupil numbers unknown for the partner: scored as neutral".to_owned(),
            },
            Detail::TrackRecord {
                supporter_is_partner,
                wanted,
                proven,
                ..
            } => track_record_reason(supporter_is_partner, wanted, proven),
            Detail::Load {
                supporter_is_partner,
                capacity,
                free,
                ..
            } => {
                let who = if supporter_is_partner {
                    "partner"
                } else {
                    "seeker (as lead)"
                };
                if capacity == 0 {
                    format!("the {who} has no capacity to support others")
                } else if free == capacity && capacity == 1 {
                    format!("the {who} has its one support place free")
                } else if free == capacity {
                    format!("the {who} has all {capacity} support places free")
                } else {
                    format!(
                        "the {who} has {free} of {capacity} support places free: busy schools are asked less"
                    )
                }
            }
        }
    }
}

fn track_record_reason(
    supporter_is_partner: bool,
    wanted: FocusSet,
    proven: TrackRecord,
) -> String {
    let who = if supporter_is_partner {
        "the partner"
    } else {
        "the seeker (as lead)"
    };
    let mut ratings = Vec::new();
    if !proven.green.is_empty() {
        ratings.push(format!("green in {}", proven.green.labels()));
    }
    if !proven.yellow.is_empty() {
        ratings.push(format!("yellow in {}", proven.yellow.labels()));
    }
    let areas = if supporter_is_partner {
        "areas the seeker wants"
    } else {
        "areas the partner needs"
    };
    if ratings.is_empty() {
        return if wanted.is_empty() {
            format!("{who} has no completed partnership rated green or yellow")
        } else {
            format!("{who} has no completed partnership rated green or yellow in the {areas}")
        };
    }
    let proven_count = proven.green.union(proven.yellow).len();
    let mut text = format!(
        "{who} completed partnerships rated {}",
        ratings.join(" and ")
    );
    if !wanted.is_empty() {
        let _ = write!(text, ", {proven_count} of the {} {areas}", wanted.len());
    }
    text.push_str(": a proven track record");
    text
}

fn stage_reason(mode: MatchMode, seeker: Option<Stage>, partner: Option<Stage>) -> String {
    let (s, p) = match (seeker, partner) {
        (Some(s), Some(p)) => (s, p),
        (None, Some(_)) => {
            return "seeker's stage unknown (no published category): scored as neutral".to_owned();
        }
        (Some(_), None) => {
            return "partner's stage unknown (no published category): scored as neutral".to_owned();
        }
        (None, None) => {
            return "both stages unknown (no published category): scored as neutral".to_owned();
        }
    };
    let gap = p.level() - s.level();
    let steps = |n: i32| match n.abs() {
        1 => "one stage",
        2 => "two stages",
        _ => "three stages",
    };
    match mode {
        MatchMode::Peer => match gap.abs() {
            0 => format!("same stage ({s}): peers at the same stage gain most from each other"),
            1 => format!("one stage apart ({s} / {p}): close enough for mutual benefit"),
            n => format!(
                "{} apart ({s} / {p}): mutual benefit is unlikely across so wide a gap",
                steps(n)
            ),
        },
        MatchMode::Support | MatchMode::Lead => {
            let (ahead_word, gap) = match mode {
                MatchMode::Lead => ("behind", -gap),
                _ => ("ahead", gap),
            };
            match gap {
                0 => format!(
                    "same stage ({s} → {p}): close in the improvement journey, though one stage {ahead_word} usually helps most"
                ),
                1 => format!(
                    "one stage {ahead_word} ({s} → {p}): partners at similar stages work best"
                ),
                n if n > 1 => format!(
                    "{} {ahead_word} ({s} → {p}): the gap may be too great for support to work",
                    steps(n)
                ),
                _ => format!("wrong direction ({s} → {p}) for {} mode", mode.name()),
            }
        }
    }
}

fn focus_reason(mode: MatchMode, forward: Option<Coverage>, backward: Option<Coverage>) -> String {
    fn describe(coverage: Coverage, wanted_owner: &str) -> String {
        let mut text = format!(
            "covers {} of {} of {wanted_owner}",
            coverage.covered.len(),
            coverage.wanted.len()
        );
        if !coverage.covered.is_empty() {
            let _ = write!(text, " ({})", coverage.covered.labels());
        }
        let missing = FocusSet::from_iter(
            coverage
                .wanted
                .iter()
                .filter(|area| !coverage.covered.contains(*area)),
        );
        if !missing.is_empty() {
            let _ = write!(text, "; not {}", missing.labels());
        }
        text
    }
    let parts: Vec<String> = [
        forward
            .filter(|c| !c.wanted.is_empty())
            .map(|c| format!("partner {}", describe(c, "the seeker's needs"))),
        backward
            .filter(|c| !c.wanted.is_empty())
            .map(|c| format!("seeker {}", describe(c, "the partner's needs"))),
    ]
    .into_iter()
    .flatten()
    .collect();
    if parts.is_empty() {
        return match mode {
            MatchMode::Lead => "the partner has no needs recorded: scored as neutral".to_owned(),
            MatchMode::Support => {
                "the seeker has no needs recorded and no focus was given: scored as neutral"
                    .to_owned()
            }
            MatchMode::Peer => "neither school has needs recorded: scored as neutral".to_owned(),
        };
    }
    parts.join("; ")
}
