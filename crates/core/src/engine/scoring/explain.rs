//! Explanations: each component as a typed detail carrying its inputs and
//! value, and the plain-English sentence rendered from it. The details are
//! built from the same value functions the score sums, so a score and its
//! explanation cannot disagree.

use std::fmt::Write as _;

use crate::domain::{
    Derivation, FocusArea, FocusSet, Grade, LanguageMedium, MatchMode, Phase, Stage, StoredSchool,
};

use super::factor::{Factor, PerFactor};
use super::profile::{AreaGrades, NO_FAMILY, Profile, TrackRecord};
use super::values::{Coverage, ScoringContext, language_affinity, phase_affinity};

impl ScoringContext<'_> {
    /// Every component for one pair.
    pub(crate) fn components(
        &self,
        seeker: &Profile,
        partner: &Profile,
        distance_km: f64,
    ) -> PerFactor<Component> {
        PerFactor::from_fn(|factor| match factor {
            Factor::Stage => self.stage(seeker, partner),
            Factor::Proximity => Component::new(Detail::Proximity {
                distance_km,
                scale_km: self.proximity_scale_km,
                regular_km: self.config.regular_visit_km,
                value: self.proximity(distance_km),
            }),
            Factor::Context => self.context(seeker, partner),
            Factor::Focus => self.focus(seeker, partner),
            Factor::Phase => Component::new(Detail::Phase {
                seeker: seeker.phase,
                partner: partner.phase,
                value: phase_affinity(seeker.phase, partner.phase),
            }),
            Factor::Language => Component::new(Detail::Language {
                seeker: seeker.language,
                partner: partner.language,
                value: self.language_value(seeker.language, partner.language),
            }),
            Factor::Size => self.size(seeker, partner),
            Factor::Load => self.load(seeker, partner),
            Factor::TrackRecord => self.track_record(seeker, partner),
        })
    }

    pub(super) fn stage(&self, seeker: &Profile, partner: &Profile) -> Component {
        let by_area = !(seeker.area_grades.is_empty() && partner.area_grades.is_empty());
        Component::new(Detail::Stage {
            mode: self.mode,
            seeker: seeker.stage,
            partner: partner.stage,
            areas: if by_area {
                self.stage_areas(seeker)
            } else {
                FocusSet::EMPTY
            },
            seeker_grades: seeker.area_grades,
            partner_grades: partner.area_grades,
            value: self.stage_component(partner.stage, partner.area_grades),
        })
    }

    pub(super) fn context(&self, seeker: &Profile, partner: &Profile) -> Component {
        let similarity = self.challenge_similarity(seeker.challenge, partner.challenge);
        let same_family = seeker.family != NO_FAMILY && seeker.family == partner.family;
        Component::new(Detail::Context {
            seeker: seeker.challenge,
            partner: partner.challenge,
            same_family,
            value: self.context_value(similarity, same_family),
        })
    }

    pub(super) fn focus(&self, seeker: &Profile, partner: &Profile) -> Component {
        let (forward, backward) = self.coverages(seeker, partner);
        Component::new(Detail::Focus {
            mode: self.mode,
            forward,
            backward,
            value: self.focus_of(seeker, forward, backward),
        })
    }

    pub(super) fn size(&self, seeker: &Profile, partner: &Profile) -> Component {
        Component::new(Detail::Size {
            seeker: seeker.pupils,
            partner: partner.pupils,
            value: self.size_value(seeker.known_ln_pupils(), partner.known_ln_pupils()),
        })
    }

    pub(super) fn load(&self, seeker: &Profile, partner: &Profile) -> Component {
        let (supporter_is_partner, supporter) = self.supporter(seeker, partner);
        Component::new(Detail::Load {
            supporter_is_partner,
            capacity: supporter.capacity,
            free: supporter.free_capacity(),
            value: supporter.free_share(),
        })
    }

    pub(super) fn track_record(&self, seeker: &Profile, partner: &Profile) -> Component {
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
}

/// One component's inputs and value, produced while ranking.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Detail {
    Stage {
        mode: MatchMode,
        seeker: Option<Stage>,
        partner: Option<Stage>,
        /// The areas compared grade by grade (empty: the overall stages).
        areas: FocusSet,
        seeker_grades: AreaGrades,
        partner_grades: AreaGrades,
        value: f64,
    },
    Proximity {
        distance_km: f64,
        scale_km: f64,
        /// The distance of regular visits, beyond which proximity falls
        /// faster.
        regular_km: f64,
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
    pub(super) fn new(detail: Detail) -> Component {
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
    /// [`Component::reason`], with the bodies the two schools share in the
    /// context reason ("same trust (Severn Academies Trust)") and the dates
    /// of the evidence behind a stage compared area by area ("attendance: seeker ofsted_report_card
    /// 2026-01-20, partner overall stage").
    pub fn reason_between(&self, seeker: &StoredSchool, partner: &StoredSchool) -> String {
        let mut reason = self.reason();
        if let Detail::Context { .. } = self.detail {
            // The bodies they share, by name: informational, not scored.
            for shared in seeker
                .school
                .affiliations
                .shared_with(&partner.school.affiliations)
            {
                reason.push_str("; ");
                reason.push_str(&shared);
            }
            return reason;
        }
        let Detail::Stage {
            areas,
            seeker: seeker_stage,
            partner: partner_stage,
            ..
        } = self.detail
        else {
            return reason;
        };
        if areas.is_empty() {
            // Why an unknown stage is unknown: no evidence, or evidence
            // past the horizon (with its year).
            let why = |school: &StoredSchool, stage: Option<Stage>, whose: &str| match (
                &school.evidence.stage,
                stage,
            ) {
                (Derivation::Unknown(why), None) => Some(format!("{whose}: {why}")),
                _ => None,
            };
            let whys: Vec<String> = [
                why(seeker, seeker_stage, "seeker"),
                why(partner, partner_stage, "partner"),
            ]
            .into_iter()
            .flatten()
            .collect();
            if !whys.is_empty() {
                let _ = write!(reason, "; {}", whys.join("; "));
            }
            return reason;
        }
        let source = |school: &StoredSchool, area: FocusArea| {
            school
                .evidence
                .area_grades
                .iter()
                .find(|(graded, _, _)| *graded == area)
                .and_then(|&(_, _, position)| school.school.evaluations.get(position))
                .map_or_else(
                    || "overall stage".to_owned(),
                    |e| format!("{} {}", e.framework, e.date),
                )
        };
        let dates = areas
            .iter()
            .take(REASON_AREAS)
            .map(|area| {
                format!(
                    "{}: seeker {}, partner {}",
                    area.label(),
                    source(seeker, area),
                    source(partner, area)
                )
            })
            .collect::<Vec<_>>()
            .join("; ");
        format!("{reason}; evidence: {dates}")
    }

    pub fn reason(&self) -> String {
        match self.detail {
            Detail::Stage {
                mode,
                seeker,
                partner,
                areas,
                seeker_grades,
                partner_grades,
                ..
            } if !areas.is_empty() => area_stage_reason(
                mode,
                areas,
                (seeker, seeker_grades),
                (partner, partner_grades),
            ),
            Detail::Stage {
                mode,
                seeker,
                partner,
                ..
            } => stage_reason(mode, seeker, partner),
            Detail::Proximity {
                distance_km,
                scale_km,
                regular_km,
                ..
            } => {
                let verdict = if distance_km < 10.0 {
                    "close enough for regular visits"
                } else if distance_km < 30.0 {
                    "within reach for regular meetings"
                } else if distance_km <= regular_km {
                    "travel will limit regular joint work"
                } else {
                    "beyond the distance of regular visits, which will be rare"
                };
                if distance_km > regular_km {
                    format!(
                        "{distance_km:.1} km away (scale {scale_km} km, falling faster beyond {regular_km} km): {verdict}"
                    )
                } else {
                    format!("{distance_km:.1} km away (scale {scale_km} km): {verdict}")
                }
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

/// Per area: "literacy needs attention → strong standard"; a side without
/// evidence in the area shows its overall stage ("amber overall").
/// Areas a reason names one by one; the rest are counted, so a reason
/// stays a sentence (about 300 characters) however many areas a match is
/// about.
const REASON_AREAS: usize = 3;

/// "; and N more areas" for the areas past [`REASON_AREAS`], else nothing.
fn more_areas(areas: FocusSet) -> String {
    match (areas.len() as usize).saturating_sub(REASON_AREAS) {
        0 => String::new(),
        1 => "; and 1 more area".to_owned(),
        more => format!("; and {more} more areas"),
    }
}

fn area_stage_reason(
    mode: MatchMode,
    areas: FocusSet,
    seeker: (Option<Stage>, AreaGrades),
    partner: (Option<Stage>, AreaGrades),
) -> String {
    let side = |(stage, grades): (Option<Stage>, AreaGrades), area: FocusArea| match (
        grades.level(area),
        stage,
    ) {
        (Some(level), _) => Grade::ALL[(level - 1) as usize].label().to_owned(),
        (None, Some(stage)) => format!("{stage} overall"),
        (None, None) => "unknown".to_owned(),
    };
    let mut compared = areas
        .iter()
        .take(REASON_AREAS)
        .map(|area| {
            format!(
                "{} {} → {}",
                area.label(),
                side(seeker, area),
                side(partner, area)
            )
        })
        .collect::<Vec<_>>()
        .join("; ");
    compared.push_str(&more_areas(areas));
    let best = match mode {
        MatchMode::Support => "one step ahead in the area is best",
        MatchMode::Lead => "one step behind in the area is best",
        MatchMode::Peer => "the same grade in the area is best",
    };
    format!("by area, seeker → partner: {compared} ({best})")
}

fn stage_reason(mode: MatchMode, seeker: Option<Stage>, partner: Option<Stage>) -> String {
    let (s, p) = match (seeker, partner) {
        (Some(s), Some(p)) => (s, p),
        (None, Some(_)) => return "seeker's stage unknown: scored as neutral".to_owned(),
        (Some(_), None) => return "partner's stage unknown: scored as neutral".to_owned(),
        (None, None) => return "both stages unknown: scored as neutral".to_owned(),
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
    pub(super) fn describe(coverage: Coverage, wanted_owner: &str) -> String {
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
            MatchMode::Lead => "the partner has no needs recorded, so none the leader could meet: ranked below partners whose needs it meets".to_owned(),
            MatchMode::Support => {
                "the seeker has no needs recorded and no focus was given: scored as neutral"
                    .to_owned()
            }
            MatchMode::Peer => "neither school has needs recorded: scored as neutral".to_owned(),
        };
    }
    parts.join("; ")
}

#[cfg(test)]
mod tests {
    use super::*;

    /// However many areas a match is about, the stage reason names three
    /// and counts the rest: a sentence, not a page.
    #[test]
    fn an_area_by_area_reason_names_three_areas_and_counts_the_rest() {
        let areas: FocusSet = FocusArea::ALL.iter().copied().take(8).collect();
        let reason = area_stage_reason(
            MatchMode::Support,
            areas,
            (Some(Stage::Red), AreaGrades::default()),
            (Some(Stage::Amber), AreaGrades::default()),
        );
        assert!(reason.contains("; and 5 more areas"), "{reason}");
        assert!(
            reason.chars().count() < 300,
            "{} characters: {reason}",
            reason.chars().count()
        );
        let one: FocusSet = FocusArea::ALL.iter().copied().take(1).collect();
        let reason = area_stage_reason(
            MatchMode::Support,
            one,
            (Some(Stage::Red), AreaGrades::default()),
            (Some(Stage::Amber), AreaGrades::default()),
        );
        assert!(!reason.contains("more area"), "{reason}");
    }
}
