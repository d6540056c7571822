//! The score functions: each component's value for a pair of schools, and
//! the score summed from them. Unknown inputs score the neutral value.

use crate::domain::{FocusArea, FocusSet, LanguageMedium, MatchMode, Phase, Stage};

use super::super::config::ScoringConfig;
use super::super::index::Side;
use super::factor::{Factor, PerFactor};
use super::profile::{AreaGrades, NO_FAMILY, Profile, TrackRecord};

/// Per-request inputs of the scoring functions.
#[derive(Debug, Clone)]
pub(crate) struct ScoringContext<'a> {
    pub config: &'a ScoringConfig,
    pub mode: MatchMode,
    /// Weights normalised to sum to 1.
    pub weights: PerFactor<f64>,
    pub proximity_scale_km: f64,
    /// Focus areas the match is about, overriding the seeker's record:
    /// needs in SUPPORT and PEER, strengths offered in LEAD.
    pub focus: Option<FocusSet>,
    /// `config.size_ratio_floor.ln()`, computed once.
    pub ln_size_ratio_floor: f64,
    /// The seeker's stage ladder, worked out once per match.
    pub(super) ladder: StageLadder,
    /// Whether focus ranks in tiers ([`ScoringContext::focus_tier`]).
    tiered: bool,
}

/// How many partner levels a ladder table holds: 0 for no evidence and no
/// stage, then levels 1–5 (stages 1–4 and grades 1–5 on one scale).
pub(super) const LEVELS: usize = 6;

/// One seeker's stage component as tables: for its overall stage and for
/// each area the match is about, the ladder value of every level a partner
/// could have (index 0: none). Scoring a partner is then a lookup per area
/// instead of a ladder per area, and the bounds read the same tables.
#[derive(Debug, Clone)]
pub(crate) struct StageLadder {
    /// By the partner's overall stage level: for matches about no areas,
    /// or where neither school has area grades.
    overall: [f64; LEVELS],
    /// Per area the match is about, in area order: by the partner's level
    /// there (its grade, else its stage).
    pub(super) by_area: Vec<(FocusArea, [f64; LEVELS])>,
    /// Whether the seeker has grades in any area.
    seeker_graded: bool,
}

impl StageLadder {
    /// The index of a partner level in a ladder table.
    pub(super) fn slot(level: Option<i32>) -> usize {
        level.map_or(0, |level| level as usize)
    }
}

impl<'a> ScoringContext<'a> {
    pub(crate) fn new(
        config: &'a ScoringConfig,
        mode: MatchMode,
        weights: PerFactor<f64>,
        proximity_scale_km: f64,
        focus: Option<FocusSet>,
        seeker: &Profile,
    ) -> ScoringContext<'a> {
        let mut scoring = ScoringContext {
            config,
            mode,
            weights,
            proximity_scale_km,
            focus,
            ln_size_ratio_floor: config.size_ratio_floor.ln(),
            ladder: StageLadder {
                overall: [0.0; LEVELS],
                by_area: Vec::new(),
                seeker_graded: false,
            },
            tiered: true,
        };
        scoring.ladder = scoring.stage_ladder(seeker);
        scoring
    }

    /// The seeker's ladder tables (README "Evidence"): per area, the
    /// seeker's level is its grade there, else its overall stage.
    fn stage_ladder(&self, seeker: &Profile) -> StageLadder {
        let overall_level = seeker.stage.map(Stage::level);
        let table = |seeker_level: Option<i32>| -> [f64; LEVELS] {
            std::array::from_fn(|slot| {
                let partner = (slot > 0).then_some(slot as i32);
                self.level_value(seeker_level, partner)
            })
        };
        StageLadder {
            overall: table(overall_level),
            by_area: self
                .stage_areas(seeker)
                .iter()
                .map(|area| {
                    (
                        area,
                        table(seeker.area_grades.level(area).or(overall_level)),
                    )
                })
                .collect(),
            seeker_graded: !seeker.area_grades.is_empty(),
        }
    }

    /// The side a search should split on, with the seeker's areas to look
    /// for there: the partners' strengths against the wants (SUPPORT, and
    /// PEER when it has wants), or the partners' needs against the offer
    /// (LEAD, and PEER without wants). `None` when there is nothing to look
    /// for.
    pub(crate) fn split(&self, seeker: &Profile) -> Option<(Side, FocusSet)> {
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

    pub(super) fn split_side(&self, seeker: &Profile) -> Option<Side> {
        self.split(seeker).map(|(side, _)| side)
    }

    /// Focus areas the seeker wants covered (SUPPORT, PEER).
    pub(crate) fn seeker_wants(&self, seeker: &Profile) -> FocusSet {
        self.focus.unwrap_or(seeker.needs)
    }

    /// Focus areas the seeker offers (LEAD uses the override, PEER the record).
    pub(super) fn seeker_offers(&self, seeker: &Profile) -> FocusSet {
        match self.mode {
            MatchMode::Lead => self.focus.unwrap_or(seeker.strengths),
            MatchMode::Support | MatchMode::Peer => seeker.strengths,
        }
    }

    /// The score without its proximity term: every other component's
    /// weighted value. Needs no distance and no transcendental function, so
    /// the search can rule a school out with it before paying for the
    /// distance. The stage term is added to the others last, so the search
    /// can check it on its own first (it is what area grades move).
    pub(crate) fn partial_score(&self, seeker: &Profile, partner: &Profile) -> f64 {
        self.stage_term(partner) + self.other_terms(seeker, partner)
    }

    /// The stage component's weighted value.
    pub(crate) fn stage_term(&self, partner: &Profile) -> f64 {
        self.stage_term_of(partner.stage, partner.area_grades)
    }

    /// The stage component's weighted value for a partner's stage and
    /// grades.
    #[inline]
    pub(crate) fn stage_term_of(&self, stage: Option<Stage>, grades: AreaGrades) -> f64 {
        self.weights[Factor::Stage] * self.stage_component(stage, grades)
    }

    /// The weighted values of every component but stage and proximity,
    /// summed in factor order.
    pub(crate) fn other_terms(&self, seeker: &Profile, partner: &Profile) -> f64 {
        let same_family = seeker.family != NO_FAMILY && seeker.family == partner.family;
        self.other_terms_with(seeker, partner, same_family)
    }

    /// [`ScoringContext::other_terms`] with whether the two share a family
    /// known otherwise: the index's copies of profiles may hold a family
    /// cut since.
    pub(crate) fn other_terms_with(
        &self,
        seeker: &Profile,
        partner: &Profile,
        same_family: bool,
    ) -> f64 {
        let w = &self.weights;
        w[Factor::Context]
            * self.context_value(
                self.challenge_similarity(seeker.challenge, partner.challenge),
                same_family,
            )
            + self.focus_term(seeker, partner.strengths, partner.needs)
            + w[Factor::Phase] * phase_affinity(seeker.phase, partner.phase)
            + w[Factor::Language] * self.language_value(seeker.language, partner.language)
            + w[Factor::Size] * self.size_value(seeker.known_ln_pupils(), partner.known_ln_pupils())
            + w[Factor::Load] * self.supporter(seeker, partner).1.free_share()
            + w[Factor::TrackRecord] * self.track_record_value(seeker, partner)
    }

    /// The focus component's weighted value for a partner with these
    /// strengths and needs.
    #[inline]
    pub(crate) fn focus_term(&self, seeker: &Profile, strengths: FocusSet, needs: FocusSet) -> f64 {
        let (forward, backward) = self.coverages_of(seeker, strengths, needs);
        self.weights[Factor::Focus] * self.focus_of(seeker, forward, backward)
    }

    /// The focus component for these coverages: [`ScoringContext::focus_value`]
    /// of their shares, but in LEAD a partner with no needs recorded scores
    /// 0 when the seeker offers something, not the neutral value: leading a
    /// school with nothing recorded to improve meets no need.
    pub(super) fn focus_of(
        &self,
        seeker: &Profile,
        forward: Option<Coverage>,
        backward: Option<Coverage>,
    ) -> f64 {
        let backward = match backward {
            Some(coverage) if coverage.wanted.is_empty() => self.share_without_needs(seeker),
            other => other.and_then(Coverage::share),
        };
        self.focus_value(forward.and_then(Coverage::share), backward)
    }

    /// The backward share of a partner with no needs recorded: 0 in LEAD
    /// when the seeker offers something, else none (nothing wanted).
    pub(super) fn share_without_needs(&self, seeker: &Profile) -> Option<f64> {
        (self.mode == MatchMode::Lead && !self.seeker_offers(seeker).is_empty()).then_some(0.0)
    }

    /// This context with focus tiers on (a Match) or off (the score alone
    /// ranks: brokerage, groups).
    pub(crate) fn tiered(self, tiered: bool) -> Self {
        ScoringContext { tiered, ..self }
    }

    /// Whether focus orders the ranking in tiers: for a Match, with a
    /// positive focus weight (a request may weigh it 0, and then it decides
    /// nothing).
    pub(super) fn focus_tiers(&self) -> bool {
        self.tiered && self.weights[Factor::Focus] > 0.0
    }

    /// The tier a partner with these strengths and needs ranks in — higher
    /// tiers first, the score within a tier (docs/matching.md, "Focus
    /// decides"):
    /// - a request's focus in SUPPORT or PEER: 1 for a partner that covers
    ///   an asked area, 0 for one that covers none (one that needs an asked
    ///   area itself is not proposed at all);
    /// - the seeker's recorded needs: 0 for a partner that needs one of them
    ///   itself and covers none, 1 for any other;
    /// - LEAD: 1 for a partner with a need the seeker's offer meets, 0 for
    ///   one without.
    ///
    /// One tier for all when nothing is wanted or offered.
    #[inline]
    pub(crate) fn focus_tier(&self, seeker: &Profile, strengths: FocusSet, needs: FocusSet) -> u8 {
        if !self.focus_tiers() {
            return 0;
        }
        match self.mode {
            MatchMode::Support | MatchMode::Peer => {
                let wants = self.seeker_wants(seeker);
                let covers = !wants.intersection(strengths).is_empty();
                if self.focus.is_some() {
                    u8::from(covers)
                } else {
                    u8::from(covers || wants.intersection(needs).is_empty())
                }
            }
            MatchMode::Lead => {
                let offers = self.seeker_offers(seeker);
                u8::from(offers.is_empty() || !offers.intersection(needs).is_empty())
            }
        }
    }

    /// Whether a partner with these needs is left out because it needs an
    /// area the request's focus asks for (SUPPORT, PEER): it is not
    /// proposed to support in what it must improve itself.
    #[inline]
    pub(crate) fn needs_what_is_asked(&self, needs: FocusSet) -> bool {
        self.mode != MatchMode::Lead
            && self
                .focus
                .is_some_and(|asked| !asked.intersection(needs).is_empty())
    }

    /// The proximity component's weighted value at a distance.
    pub(crate) fn proximity_term(&self, distance_km: f64) -> f64 {
        self.weights[Factor::Proximity] * self.proximity(distance_km)
    }

    /// The proximity component at a distance.
    pub(crate) fn proximity(&self, distance_km: f64) -> f64 {
        proximity_value(
            distance_km,
            self.proximity_scale_km,
            RegularVisits::of(self.config),
        )
    }

    /// The score: the partial score plus the proximity term. Both match
    /// paths rank by exactly this sum, so they agree to the last bit.
    pub(crate) fn score(&self, partial: f64, distance_km: f64) -> f64 {
        partial + self.proximity_term(distance_km)
    }

    /// The focus areas the stage is compared in: the request's focus, else
    /// the seeker's needs (SUPPORT, PEER) or the strengths it offers (LEAD).
    pub(crate) fn stage_areas(&self, seeker: &Profile) -> FocusSet {
        match self.mode {
            MatchMode::Support | MatchMode::Peer => self.seeker_wants(seeker),
            MatchMode::Lead => self.seeker_offers(seeker),
        }
    }

    /// The stage component (README "Evidence") of a partner for the
    /// context's seeker: when either school has grades in the areas the
    /// match is about, the mean over those areas of the grade ladder (one
    /// step ahead best in SUPPORT, mirrored in LEAD, the same grade in
    /// PEER), each side falling back to its overall stage where an area has
    /// no evidence; otherwise the overall stages.
    pub(crate) fn stage_component(
        &self,
        partner_stage: Option<Stage>,
        partner_grades: AreaGrades,
    ) -> f64 {
        let ladder = &self.ladder;
        let stage_slot = StageLadder::slot(partner_stage.map(Stage::level));
        if ladder.by_area.is_empty() || (!ladder.seeker_graded && partner_grades.is_empty()) {
            return ladder.overall[stage_slot];
        }
        let total: f64 = ladder
            .by_area
            .iter()
            .map(|(area, values)| {
                values[partner_grades
                    .level(*area)
                    .map_or(stage_slot, |level| level as usize)]
            })
            .sum();
        total / ladder.by_area.len() as f64
    }

    /// The stage component for two stages in this mode.
    #[cfg(test)]
    pub(crate) fn stage_value(&self, seeker: Option<Stage>, partner: Option<Stage>) -> f64 {
        self.level_value(seeker.map(Stage::level), partner.map(Stage::level))
    }

    /// The ladder for two levels (stages 1–4, grades 1–5, on one scale:
    /// red is urgent improvement, green strong standard).
    pub(crate) fn level_value(&self, seeker: Option<i32>, partner: Option<i32>) -> f64 {
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
            MatchMode::Support => curve_value(&self.config.directed_stage_curve, p - s),
            MatchMode::Lead => curve_value(&self.config.directed_stage_curve, s - p),
            MatchMode::Peer => curve_value(&self.config.peer_stage_curve, (p - s).abs()),
        }
    }

    /// Similarity of two challenge indices, neutral if either is unknown.
    pub(super) fn challenge_similarity(&self, seeker: Option<f64>, partner: Option<f64>) -> f64 {
        match (seeker, partner) {
            (Some(a), Some(b)) => (1.0 - (a - b).abs() / self.config.challenge_range).max(0.0),
            _ => self.config.neutral,
        }
    }

    pub(super) fn context_value(&self, similarity: f64, same_family: bool) -> f64 {
        let bonus = self.config.same_family_bonus;
        (1.0 - bonus) * similarity + if same_family { bonus } else { 0.0 }
    }

    /// What the focus component compares in this mode: the seeker's wants
    /// against the partner's strengths (SUPPORT, PEER), the partner's needs
    /// against the seeker's offer (LEAD, PEER).
    pub(super) fn coverages(
        &self,
        seeker: &Profile,
        partner: &Profile,
    ) -> (Option<Coverage>, Option<Coverage>) {
        self.coverages_of(seeker, partner.strengths, partner.needs)
    }

    /// [`ScoringContext::coverages`] for a partner's strengths and needs.
    #[inline]
    fn coverages_of(
        &self,
        seeker: &Profile,
        strengths: FocusSet,
        needs: FocusSet,
    ) -> (Option<Coverage>, Option<Coverage>) {
        let seeker_side = || Coverage::of(self.seeker_wants(seeker), strengths);
        let partner_side = || Coverage::of(needs, self.seeker_offers(seeker));
        match self.mode {
            MatchMode::Support => (Some(seeker_side()), None),
            MatchMode::Lead => (None, Some(partner_side())),
            MatchMode::Peer => (Some(seeker_side()), Some(partner_side())),
        }
    }

    /// The focus areas covered, in either direction.
    pub(crate) fn covered_focus(&self, seeker: &Profile, partner: &Profile) -> FocusSet {
        let (forward, backward) = self.coverages(seeker, partner);
        [forward, backward]
            .into_iter()
            .flatten()
            .fold(FocusSet::EMPTY, |set, coverage| set.union(coverage.covered))
    }

    /// Mean of the directions in which something is wanted, neutral if none.
    pub(super) fn focus_value(&self, forward: Option<f64>, backward: Option<f64>) -> f64 {
        // Covering any wanted area earns the credit, the rest grows with
        // the share: monotone in each share, so bounds from the best share
        // stay bounds.
        let credit = self.config.focus_any_credit;
        let value = |share: f64| {
            if share > 0.0 {
                credit + (1.0 - credit) * share
            } else {
                0.0
            }
        };
        match (forward.map(value), backward.map(value)) {
            (Some(a), Some(b)) => (a + b) / 2.0,
            (Some(share), None) | (None, Some(share)) => share,
            (None, None) => self.config.neutral,
        }
    }

    /// Similarity of two school sizes (log pupils), neutral if either is
    /// unknown.
    pub(super) fn size_value(&self, seeker_ln: Option<f64>, partner_ln: Option<f64>) -> f64 {
        match (seeker_ln, partner_ln) {
            (Some(a), Some(b)) => (1.0 - (a - b).abs() / self.ln_size_ratio_floor).max(0.0),
            _ => self.config.neutral,
        }
    }

    /// Who gives the support: the partner (SUPPORT, PEER) or the seeker
    /// (LEAD); true when it is the partner.
    pub(super) fn supporter<'p>(
        &self,
        seeker: &'p Profile,
        partner: &'p Profile,
    ) -> (bool, &'p Profile) {
        match self.mode {
            MatchMode::Support | MatchMode::Peer => (true, partner),
            MatchMode::Lead => (false, seeker),
        }
    }

    /// Whose track record counts, in which areas: the partner's in the
    /// seeker's wants (SUPPORT, PEER), or the seeker's own in the partner's
    /// needs (LEAD, where the seeker gives the support).
    pub(super) fn track_record_inputs(
        &self,
        seeker: &Profile,
        partner: &Profile,
    ) -> (TrackRecord, FocusSet) {
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
    pub(super) fn track_record_credit(&self, record: TrackRecord, wanted: FocusSet) -> f64 {
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

    pub(super) fn track_record_value(&self, seeker: &Profile, partner: &Profile) -> f64 {
        let (record, wanted) = self.track_record_inputs(seeker, partner);
        self.track_record_credit(record, wanted)
    }

    pub(super) fn language_value(
        &self,
        seeker: Option<LanguageMedium>,
        partner: Option<LanguageMedium>,
    ) -> f64 {
        match (seeker, partner) {
            (Some(a), Some(b)) => language_affinity(a, b),
            _ => self.config.neutral,
        }
    }
}

/// `exp(-d / scale)`: 1 next door, 1/e at one scale length.
/// Proximity: `exp(-distance / scale)`, and beyond the distance of regular
/// visits falling faster, by `e` every `beyond_km` more: the product of
/// the two exponentials, so the bounds can take each from a table.
pub(crate) fn proximity_value(distance_km: f64, scale_km: f64, visits: RegularVisits) -> f64 {
    (-distance_km / scale_km).exp() * (-visits.excess(distance_km)).exp()
}

/// The distance of regular visits and how fast proximity falls beyond it
/// (the scoring configuration's `regular_visit_km` and
/// `beyond_regular_visits_km`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct RegularVisits {
    pub within_km: f64,
    pub beyond_km: f64,
}

impl RegularVisits {
    pub(crate) fn of(config: &ScoringConfig) -> RegularVisits {
        RegularVisits {
            within_km: config.regular_visit_km,
            beyond_km: config.beyond_regular_visits_km,
        }
    }

    /// The extra exponent beyond the distance of regular visits.
    pub(crate) fn excess(self, distance_km: f64) -> f64 {
        (distance_km - self.within_km).max(0.0) / self.beyond_km
    }
}

/// How well two phases work together: 1 for the same phase; natural vertical
/// pairs (transition, all-age schools) high; pairs sharing little low.
pub(crate) fn phase_affinity(a: Phase, b: Phase) -> f64 {
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
pub(crate) fn language_affinity(a: LanguageMedium, b: LanguageMedium) -> f64 {
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
        (English, Welsh) => 0.0,
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
    pub(super) fn of(wanted: FocusSet, offered: FocusSet) -> Coverage {
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

#[cfg(test)]
mod tests {
    use super::super::profile::NO_BODY;
    use super::*;
    use crate::domain::{FocusArea, GeoPoint};

    fn context(mode: MatchMode) -> ScoringContext<'static> {
        context_for(mode, &profile())
    }

    fn context_for(mode: MatchMode, seeker: &Profile) -> ScoringContext<'static> {
        static CONFIG: std::sync::OnceLock<ScoringConfig> = std::sync::OnceLock::new();
        let config = CONFIG.get_or_init(ScoringConfig::default);
        ScoringContext::new(
            config,
            mode,
            config.weights.normalised(),
            15.0,
            None,
            seeker,
        )
    }

    fn areas(list: &[FocusArea]) -> FocusSet {
        list.iter().copied().collect()
    }

    fn profile() -> Profile {
        Profile {
            unit: GeoPoint::new(51.5, -3.2).unit_vector(),
            phase: Phase::Primary,
            stage: None,
            language: None,
            challenge: None,
            family: NO_FAMILY,
            strengths: FocusSet::EMPTY,
            needs: FocusSet::EMPTY,
            area_grades: AreaGrades::NONE,
            pupils: None,
            ln_pupils: 0.0,
            capacity: 2,
            active_support: 0,
            track_record: TrackRecord::NONE,
            trust: NO_BODY,
            diocese: NO_BODY,
            consortium: 0,
            local_authority: 0,
            open: true,
            safeguarding_not_met: false,
        }
    }

    const EPSILON: f64 = 1e-12;

    #[test]
    fn stage_values_follow_the_curves_of_each_mode() {
        use Stage::*;
        let support = context(MatchMode::Support);
        let value = |s: &ScoringContext, a, b| s.stage_value(Some(a), Some(b));
        assert_eq!(value(&support, Amber, Yellow), 1.0, "one ahead is best");
        assert_eq!(value(&support, Amber, Amber), 0.85);
        assert_eq!(value(&support, Red, Yellow), 0.3);
        assert_eq!(value(&support, Red, Green), 0.05);
        assert_eq!(
            value(&support, Yellow, Amber),
            0.0,
            "behind (filtered anyway)"
        );
        let lead = context(MatchMode::Lead);
        assert_eq!(value(&lead, Green, Yellow), 1.0, "LEAD mirrors SUPPORT");
        assert_eq!(value(&lead, Green, Red), 0.05);
        let peer = context(MatchMode::Peer);
        assert_eq!(value(&peer, Amber, Amber), 1.0);
        assert_eq!(value(&peer, Amber, Yellow), 0.6);
        assert_eq!(value(&peer, Yellow, Amber), 0.6, "PEER is symmetric");
        assert_eq!(value(&peer, Red, Yellow), 0.15);
        assert_eq!(value(&peer, Red, Green), 0.0);
        assert_eq!(
            support.stage_value(None, Some(Green)),
            0.5,
            "unknown is neutral"
        );
    }

    #[test]
    fn context_is_challenge_similarity_with_a_family_bonus() {
        let s = context(MatchMode::Support);
        assert_eq!(s.challenge_similarity(Some(40.0), Some(40.0)), 1.0);
        assert!((s.challenge_similarity(Some(40.0), Some(55.0)) - 0.5).abs() < EPSILON);
        assert_eq!(
            s.challenge_similarity(Some(10.0), Some(80.0)),
            0.0,
            "floored at 0"
        );
        assert_eq!(s.challenge_similarity(None, Some(80.0)), 0.5);
        assert!((s.context_value(1.0, false) - 0.75).abs() < EPSILON);
        assert!((s.context_value(1.0, true) - 1.0).abs() < EPSILON);
        assert!((s.context_value(0.0, true) - 0.25).abs() < EPSILON);
    }

    #[test]
    fn focus_credits_any_area_covered_then_the_share_and_peer_the_mean_of_both_ways() {
        use FocusArea::*;
        let mut seeker = profile();
        seeker.needs = areas(&[Literacy, Numeracy, Attendance, Behaviour]);
        seeker.strengths = areas(&[Wellbeing]);
        let mut partner = profile();
        partner.strengths = areas(&[Literacy, Attendance, Governance]);
        partner.needs = areas(&[Wellbeing, Curriculum]);
        let share = |mode| {
            let s = context(mode);
            let (forward, backward) = s.coverages(&seeker, &partner);
            s.focus_value(
                forward.and_then(Coverage::share),
                backward.and_then(Coverage::share),
            )
        };
        // Half for covering any area, the other half by the share covered.
        assert!(
            (share(MatchMode::Support) - 0.75).abs() < EPSILON,
            "2 of 4 needs"
        );
        assert!(
            (share(MatchMode::Lead) - 0.75).abs() < EPSILON,
            "1 of the partner's 2"
        );
        assert!((share(MatchMode::Peer) - 0.75).abs() < EPSILON);
        let s = context(MatchMode::Support);
        assert_eq!(s.focus_value(Some(0.0), None), 0.0, "nothing covered");
        assert!((s.focus_value(Some(0.25), None) - 0.625).abs() < EPSILON);
        assert_eq!(s.focus_value(Some(1.0), None), 1.0, "everything covered");
        assert_eq!(s.focus_value(None, None), 0.5, "nothing wanted: neutral");
        assert_eq!(
            s.covered_focus(&seeker, &partner),
            areas(&[Literacy, Attendance])
        );
    }

    #[test]
    fn size_similarity_falls_to_zero_at_ten_times_the_size() {
        let s = context(MatchMode::Support);
        let ln = |pupils: f64| Some(pupils.ln());
        assert_eq!(s.size_value(ln(200.0), ln(200.0)), 1.0);
        assert!((s.size_value(ln(100.0), ln(1000.0))).abs() < EPSILON);
        assert!((s.size_value(ln(100.0), ln(10_f64.sqrt() * 100.0)) - 0.5).abs() < 1e-9);
        assert_eq!(s.size_value(None, ln(100.0)), 0.5);
    }

    #[test]
    fn affinities_are_symmetric_and_rank_natural_pairs_first() {
        for a in Phase::ALL {
            for b in Phase::ALL {
                assert_eq!(phase_affinity(a, b), phase_affinity(b, a));
            }
            assert_eq!(phase_affinity(a, a), 1.0);
        }
        assert_eq!(phase_affinity(Phase::Primary, Phase::Secondary), 0.9);
        for a in LanguageMedium::ALL {
            for b in LanguageMedium::ALL {
                assert_eq!(language_affinity(a, b), language_affinity(b, a));
            }
        }
        assert_eq!(
            language_affinity(LanguageMedium::Welsh, LanguageMedium::English),
            0.0,
            "nothing shared in the language of teaching"
        );
        assert_eq!(
            language_affinity(LanguageMedium::Welsh, LanguageMedium::Bilingual),
            0.7
        );
        let visits = RegularVisits {
            within_km: 40.0,
            beyond_km: 15.0,
        };
        assert_eq!(proximity_value(0.0, 15.0, visits), 1.0);
        assert!((proximity_value(15.0, 15.0, visits) - (-1.0f64).exp()).abs() < EPSILON);
        // Beyond regular visits: e times lower again every 15 km.
        let beyond = proximity_value(70.0, 40.0, visits) / proximity_value(55.0, 40.0, visits);
        assert!((beyond - (-15.0f64 / 40.0 - 1.0).exp()).abs() < EPSILON);
    }

    #[test]
    fn track_record_credits_green_and_yellow_areas_wanted() {
        use FocusArea::*;
        let s = context(MatchMode::Support);
        let mut record = TrackRecord::NONE;
        record.add(areas(&[Literacy]), true);
        record.add(areas(&[Numeracy]), false);
        let credit = |wanted: &[FocusArea]| s.track_record_credit(record, areas(wanted));
        assert!(
            (credit(&[Literacy, Numeracy]) - 0.8).abs() < EPSILON,
            "(1 + 0.6) / 2"
        );
        assert_eq!(credit(&[Attendance]), 0.0);
        assert_eq!(credit(&[]), 1.0, "nothing wanted: the best anywhere");
        assert_eq!(
            s.track_record_credit(TrackRecord::NONE, FocusSet::EMPTY),
            0.0
        );
    }

    #[test]
    fn load_is_the_supporters_free_share() {
        let mut partner = profile();
        partner.capacity = 4;
        partner.active_support = 1;
        assert!((partner.free_share() - 0.75).abs() < EPSILON);
        partner.capacity = 0;
        assert_eq!(partner.free_share(), 0.0);
    }

    #[test]
    fn the_score_is_the_partial_score_plus_the_proximity_term_and_its_components_add_up() {
        use FocusArea::*;
        let mut seeker = profile();
        seeker.stage = Some(Stage::Amber);
        seeker.needs = areas(&[Literacy, Numeracy]);
        let mut partner = profile();
        partner.stage = Some(Stage::Yellow);
        partner.strengths = areas(&[Literacy]);
        partner.challenge = Some(30.0);
        for mode in [MatchMode::Support, MatchMode::Peer] {
            let s = context_for(mode, &seeker);
            let partial = s.partial_score(&seeker, &partner);
            let score = s.score(partial, 12.0);
            assert!((score - (partial + s.proximity_term(12.0))).abs() < EPSILON);
            let components = s.components(&seeker, &partner, 12.0);
            let summed: f64 = Factor::ALL
                .into_iter()
                .map(|factor| s.weights[factor] * components[factor].value)
                .sum();
            assert!((summed - score).abs() < 1e-12, "{summed} vs {score}");
            assert!((0.0..=1.0).contains(&score));
        }
    }

    #[test]
    fn the_stage_component_is_the_mean_ladder_over_the_areas_with_stage_fallbacks() {
        use crate::domain::Grade;
        use FocusArea::*;
        let mut seeker = profile();
        seeker.stage = Some(Stage::Amber);
        seeker.needs = areas(&[Attendance, Behaviour, Literacy]);
        seeker.area_grades = AreaGrades::from_grades([
            (Attendance, Grade::NeedsAttention),
            (Behaviour, Grade::UrgentImprovement),
        ]);
        let partner_grades = AreaGrades::from_grades([
            (Attendance, Grade::StrongStandard),
            (Literacy, Grade::ExpectedStandard),
        ]);
        for mode in [MatchMode::Support, MatchMode::Lead, MatchMode::Peer] {
            let s = context_for(mode, &seeker);
            let level = |grades: AreaGrades, area, stage: Option<Stage>| {
                grades.level(area).or(stage.map(Stage::level))
            };
            let direct = |partner_stage: Option<Stage>, grades: AreaGrades| {
                seeker
                    .needs
                    .iter()
                    .map(|area| {
                        s.level_value(
                            level(seeker.area_grades, area, seeker.stage),
                            level(grades, area, partner_stage),
                        )
                    })
                    .sum::<f64>()
                    / 3.0
            };
            if mode == MatchMode::Lead {
                // LEAD compares the areas the seeker offers: it offers none,
                // so the overall stages decide.
                assert_eq!(
                    s.stage_component(Some(Stage::Yellow), partner_grades),
                    s.stage_value(seeker.stage, Some(Stage::Yellow))
                );
                continue;
            }
            for stage in [None, Some(Stage::Yellow), Some(Stage::Green)] {
                assert_eq!(
                    s.stage_component(stage, partner_grades),
                    direct(stage, partner_grades),
                    "{mode:?}, partner at {stage:?}"
                );
                assert_eq!(
                    s.stage_component(stage, AreaGrades::NONE),
                    direct(stage, AreaGrades::NONE),
                    "{mode:?}, ungraded partner at {stage:?}: the seeker's grades still count"
                );
            }
        }
        // Neither school graded: the overall stages, whatever the areas.
        let mut ungraded = seeker;
        ungraded.area_grades = AreaGrades::NONE;
        let s = context_for(MatchMode::Support, &ungraded);
        assert_eq!(
            s.stage_component(Some(Stage::Yellow), AreaGrades::NONE),
            s.stage_value(Some(Stage::Amber), Some(Stage::Yellow))
        );
    }
}
