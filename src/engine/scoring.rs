//! The scoring model (design §3): eight components, each in [0, 1], combined
//! by a weighted mean. Each component is computed once, as a typed detail
//! that carries its inputs and value; the score is summed from those same
//! values and the reasons are rendered from them, so the score and its
//! explanation cannot disagree.

use std::fmt::Write as _;

use crate::domain::{FocusSet, LanguageMedium, MatchMode, Phase, Stage, UnitVector};

use super::config::ScoringConfig;

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
}

impl Factor {
    pub const ALL: [Factor; 8] = [
        Factor::Stage,
        Factor::Proximity,
        Factor::Context,
        Factor::Focus,
        Factor::Phase,
        Factor::Language,
        Factor::Size,
        Factor::Load,
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
        }
    }
}

/// Sentinel for "no family" in [`Profile::family`].
pub const NO_FAMILY: u32 = u32::MAX;

/// The fields of a school that filters and scoring read, packed together so
/// scoring one candidate touches one small record.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Profile {
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
    /// Interned, case-folded consortium and local authority.
    pub consortium: u32,
    pub local_authority: u32,
    pub open: bool,
}

impl Profile {
    pub fn free_capacity(&self) -> u32 {
        self.capacity.saturating_sub(self.active_support)
    }
}

/// Per-request inputs of the scoring functions.
#[derive(Debug, Clone)]
pub struct ScoringContext<'a> {
    pub config: &'a ScoringConfig,
    pub mode: MatchMode,
    /// Weights normalised to sum to 1, in [`Factor::ALL`] order.
    pub weights: [f64; Factor::COUNT],
    pub proximity_scale_km: f64,
    /// Focus areas the match is about, overriding the seeker's record:
    /// needs in SUPPORT and PEER, strengths offered in LEAD.
    pub focus: Option<FocusSet>,
}

impl ScoringContext<'_> {
    /// Focus areas the seeker wants covered (SUPPORT, PEER).
    fn seeker_wants(&self, seeker: &Profile) -> FocusSet {
        self.focus.unwrap_or(seeker.needs)
    }

    /// Focus areas the seeker offers (LEAD uses the override, PEER the record).
    fn seeker_offers(&self, seeker: &Profile) -> FocusSet {
        match self.mode {
            MatchMode::Lead => self.focus.unwrap_or(seeker.strengths),
            MatchMode::Support | MatchMode::Peer => seeker.strengths,
        }
    }

    /// The largest proximity-free score any school could reach: each of the
    /// other components is at most 1. Used to stop the nearest-first search.
    pub fn max_score_without_proximity(&self) -> f64 {
        self.weights
            .iter()
            .zip(Factor::ALL)
            .filter(|(_, factor)| *factor != Factor::Proximity)
            .map(|(weight, _)| weight)
            .sum()
    }

    /// Upper bound on the score of any school at least `distance_km` away.
    pub fn score_bound(&self, distance_km: f64) -> f64 {
        self.max_score_without_proximity()
            + self.weights[1] * proximity_value(distance_km, self.proximity_scale_km)
    }

    /// Every component for one pair.
    pub fn components(
        &self,
        seeker: &Profile,
        partner: &Profile,
        distance_km: f64,
    ) -> [Component; Factor::COUNT] {
        let neutral = self.config.neutral;
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
                value: match (seeker.language, partner.language) {
                    (Some(a), Some(b)) => language_affinity(a, b),
                    _ => neutral,
                },
            }),
            self.size(seeker, partner),
            self.load(seeker, partner),
        ]
    }

    /// The weighted mean of the components, summed in factor order.
    pub fn score(&self, components: &[Component; Factor::COUNT]) -> f64 {
        components
            .iter()
            .zip(self.weights)
            .map(|(component, weight)| weight * component.value)
            .sum()
    }

    fn stage(&self, seeker: &Profile, partner: &Profile) -> Component {
        let value = match (seeker.stage, partner.stage) {
            (Some(s), Some(p)) => {
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
            _ => self.config.neutral,
        };
        Component::new(Detail::Stage {
            mode: self.mode,
            seeker: seeker.stage,
            partner: partner.stage,
            value,
        })
    }

    fn context(&self, seeker: &Profile, partner: &Profile) -> Component {
        let similarity = match (seeker.challenge, partner.challenge) {
            (Some(a), Some(b)) => (1.0 - (a - b).abs() / self.config.challenge_range).max(0.0),
            _ => self.config.neutral,
        };
        let same_family = seeker.family != NO_FAMILY && seeker.family == partner.family;
        let bonus = self.config.same_family_bonus;
        let value = (1.0 - bonus) * similarity + if same_family { bonus } else { 0.0 };
        Component::new(Detail::Context {
            seeker: seeker.challenge,
            partner: partner.challenge,
            same_family,
            value,
        })
    }

    fn focus(&self, seeker: &Profile, partner: &Profile) -> Component {
        let seeker_side = Coverage::of(self.seeker_wants(seeker), partner.strengths);
        let partner_side = Coverage::of(partner.needs, self.seeker_offers(seeker));
        let (forward, backward) = match self.mode {
            MatchMode::Support => (Some(seeker_side), None),
            MatchMode::Lead => (None, Some(partner_side)),
            MatchMode::Peer => (Some(seeker_side), Some(partner_side)),
        };
        // Mean of the directions in which something is wanted; no allocation,
        // this runs for every scored candidate.
        let (sum, count) = [forward, backward]
            .into_iter()
            .flatten()
            .filter_map(Coverage::share)
            .fold((0.0, 0u32), |(sum, count), share| (sum + share, count + 1));
        let value = if count == 0 {
            self.config.neutral
        } else {
            sum / f64::from(count)
        };
        Component::new(Detail::Focus {
            mode: self.mode,
            forward,
            backward,
            value,
        })
    }

    fn size(&self, seeker: &Profile, partner: &Profile) -> Component {
        let value = match (seeker.pupils, partner.pupils) {
            (Some(_), Some(_)) => (1.0
                - (seeker.ln_pupils - partner.ln_pupils).abs() / self.config.size_ratio_floor.ln())
            .max(0.0),
            _ => self.config.neutral,
        };
        Component::new(Detail::Size {
            seeker: seeker.pupils,
            partner: partner.pupils,
            value,
        })
    }

    fn load(&self, seeker: &Profile, partner: &Profile) -> Component {
        let (supporter_is_partner, supporter) = match self.mode {
            MatchMode::Support | MatchMode::Peer => (true, partner),
            MatchMode::Lead => (false, seeker),
        };
        let value = if supporter.capacity == 0 {
            0.0
        } else {
            f64::from(supporter.free_capacity()) / f64::from(supporter.capacity)
        };
        Component::new(Detail::Load {
            supporter_is_partner,
            capacity: supporter.capacity,
            free: supporter.free_capacity(),
            value,
        })
    }
}

/// `exp(-d / scale)`: 1 next door, 1/e at one scale length.
pub fn proximity_value(distance_km: f64, scale_km: f64) -> f64 {
    (-distance_km / scale_km).exp()
}

/// How well two phases work together: 1 for the same phase; natural vertical
/// pairs (transition, all-age schools) high; pairs sharing little low.
pub fn phase_affinity(a: Phase, b: Phase) -> f64 {
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
pub fn language_affinity(a: LanguageMedium, b: LanguageMedium) -> f64 {
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
            | Detail::Load { value, .. } => value,
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
        }
    }

    /// The focus areas covered, in either direction.
    pub fn covered_focus(&self) -> FocusSet {
        match self.detail {
            Detail::Focus {
                forward, backward, ..
            } => [forward, backward]
                .into_iter()
                .flatten()
                .fold(FocusSet::EMPTY, |set, coverage| set.union(coverage.covered)),
            _ => FocusSet::EMPTY,
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
