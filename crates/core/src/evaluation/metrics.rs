//! The metrics of a placement (docs/evaluation.md): what the inspection
//! evidence says makes support work — similar stages, the school's
//! language, not too far, the right focus, supporters not overloaded — each
//! counted over the partners placed.

use std::collections::HashMap;

use crate::domain::{FocusSet, Grade, LanguageMedium, Stage, StoredSchool};
use crate::engine::Snapshot;

use super::System;

/// The partners one system placed for one seeker, best first (snapshot
/// indices).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    pub seeker: u32,
    pub partners: Vec<u32>,
}

/// What the metrics compare a placement with, per seeker.
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    pub seeker: u32,
    /// The nearest partners the engine's hard filters admit, nearest first.
    pub nearest_feasible: Vec<u32>,
    /// Welsh-medium seekers only: how many feasible Welsh-medium partners
    /// are within reach.
    pub welsh_medium_in_reach: Option<usize>,
    /// The distance of regular visits (the scoring configuration's
    /// `regular_visit_km`), for [`Metrics::beyond_regular_visits`]; `None`
    /// leaves it uncounted.
    pub regular_visit_km: Option<f64>,
}

/// `hits` out of `of`; no ratio when nothing was counted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Share {
    pub hits: u32,
    pub of: u32,
}

impl Share {
    pub fn ratio(self) -> Option<f64> {
        (self.of > 0).then(|| f64::from(self.hits) / f64::from(self.of))
    }

    fn count(&mut self, hit: bool) {
        self.of += 1;
        self.hits += u32::from(hit);
    }
}

/// One system's placement, measured.
#[derive(Debug, Clone, PartialEq)]
pub struct Metrics {
    pub system: System,
    /// Partners asked for per seeker.
    pub asked: usize,
    pub seekers: u32,
    /// Partners placed, over all seekers.
    pub partners: u32,
    /// Partners at the seeker's stage or one ahead, of the partners whose
    /// stage and seeker's stage are known.
    pub similar_stage: Share,
    /// The same by area, where the stage is compared by area: of the
    /// seeker's needs (or the request's focus) in which either school has a
    /// current grade, per partner, those where the partner's level (grade,
    /// else stage) is the seeker's or one ahead.
    pub similar_in_areas: Share,
    /// Welsh-medium partners, of the partners of Welsh-medium seekers that
    /// have at least as many feasible Welsh-medium partners within reach as
    /// partners asked for.
    pub language_fit: Share,
    /// Mean distance to a partner, km.
    pub mean_km: Option<f64>,
    /// Kilometres travelled over the kilometres to as many of the nearest
    /// feasible partners, summed over seekers (1 is the least travel
    /// possible under the hard filters).
    pub travel_ratio: Option<f64>,
    /// Partners covering at least one of the seeker's needs (or the
    /// request's focus), of the partners of seekers with needs.
    pub needs_covered: Share,
    /// First-ranked partners covering at least one need, of the seekers
    /// with needs that have a partner.
    pub first_covers_need: Share,
    /// Partners that need one of the seeker's needs (or the request's
    /// focus) themselves and cover none, of the partners of seekers with
    /// needs: support on the wrong focus (lower is better).
    pub partners_needing_it: Share,
    /// Partners placed whose latest safeguarding judgement, however old,
    /// is not met: must be 0.
    pub safeguarding_not_met: u32,
    /// Partners beyond the distance of regular visits although as many
    /// feasible partners as asked for were within it, of the partners
    /// placed (lower is better).
    pub beyond_regular_visits: Share,
    /// Most seekers one supporter was placed with.
    pub busiest_supporter: u32,
    /// Different supporters among all partners placed.
    pub distinct_supporters: u32,
    /// Seekers given fewer partners than asked for.
    pub short: u32,
}

/// Measures `placements` (one per seeker, in the order of `references`).
/// `focus` is the request's focus, which overrides each seeker's needs.
pub fn measure(
    snapshot: &Snapshot,
    system: System,
    asked: usize,
    placements: &[Placement],
    references: &[Reference],
    focus: Option<FocusSet>,
) -> Metrics {
    let school = |index: u32| snapshot.school(index);
    let distance = |a: u32, b: u32| {
        let location = |index: u32| school(index).school.location;
        location(a).distance_km(location(b))
    };
    let mut metrics = Metrics {
        system,
        asked,
        seekers: placements.len() as u32,
        partners: 0,
        similar_stage: Share::default(),
        similar_in_areas: Share::default(),
        language_fit: Share::default(),
        mean_km: None,
        travel_ratio: None,
        needs_covered: Share::default(),
        first_covers_need: Share::default(),
        partners_needing_it: Share::default(),
        safeguarding_not_met: 0,
        beyond_regular_visits: Share::default(),
        busiest_supporter: 0,
        distinct_supporters: 0,
        short: 0,
    };
    let mut appearances: HashMap<u32, u32> = HashMap::new();
    let (mut travelled, mut least) = (0.0, 0.0);
    for (placement, reference) in placements.iter().zip(references) {
        debug_assert_eq!(placement.seeker, reference.seeker);
        let seeker = school(placement.seeker);
        let needs = focus.unwrap_or(seeker.needs());
        let language_counted = reference
            .welsh_medium_in_reach
            .is_some_and(|within| within >= asked);
        metrics.short += u32::from(placement.partners.len() < asked);
        // Whether as many feasible partners as asked for were within
        // regular visits: then a partner beyond them was a choice.
        let regular = reference.regular_visit_km.filter(|&within| {
            reference.nearest_feasible.len() >= asked
                && reference.nearest_feasible[..asked]
                    .iter()
                    .all(|&partner| distance(placement.seeker, partner) <= within)
        });
        for (rank, &partner_index) in placement.partners.iter().enumerate() {
            let partner = school(partner_index);
            metrics.partners += 1;
            *appearances.entry(partner_index).or_default() += 1;
            if let (Some(s), Some(p)) = (seeker.stage(), partner.stage()) {
                metrics
                    .similar_stage
                    .count((0..=1).contains(&(p.level() - s.level())));
            }
            for area in needs.iter() {
                let (seeker_grade, partner_grade) =
                    (seeker.evidence.grade(area), partner.evidence.grade(area));
                if seeker_grade.is_none() && partner_grade.is_none() {
                    continue;
                }
                let level = |grade: Option<Grade>, school: &StoredSchool| {
                    grade.map(Grade::level).or(school.stage().map(Stage::level))
                };
                if let (Some(s), Some(p)) =
                    (level(seeker_grade, seeker), level(partner_grade, partner))
                {
                    metrics.similar_in_areas.count((0..=1).contains(&(p - s)));
                }
            }
            if language_counted {
                metrics
                    .language_fit
                    .count(partner.school.language_medium == Some(LanguageMedium::Welsh));
            }
            if !needs.is_empty() {
                let covers = !needs.intersection(partner.strengths()).is_empty();
                metrics.needs_covered.count(covers);
                if rank == 0 {
                    metrics.first_covers_need.count(covers);
                }
                let needs_it = !needs.intersection(partner.needs()).is_empty();
                metrics.partners_needing_it.count(needs_it && !covers);
            }
            metrics.safeguarding_not_met += u32::from(partner.evidence.safeguarding_not_met);
            if let Some(within) = regular {
                metrics
                    .beyond_regular_visits
                    .count(distance(placement.seeker, partner_index) > within);
            }
            travelled += distance(placement.seeker, partner_index);
        }
        // As many of the nearest feasible partners as were placed: what the
        // same number of partners would cost in travel at the least.
        least += reference
            .nearest_feasible
            .iter()
            .take(placement.partners.len())
            .map(|&partner| distance(placement.seeker, partner))
            .sum::<f64>();
    }
    if metrics.partners > 0 {
        metrics.mean_km = Some(travelled / f64::from(metrics.partners));
        metrics.travel_ratio = (least > 0.0).then(|| travelled / least);
    }
    metrics.busiest_supporter = appearances.values().copied().max().unwrap_or(0);
    metrics.distinct_supporters = appearances.len() as u32;
    metrics
}

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::domain::{FocusArea, GeoPoint, School};
    use crate::engine::{Engine, EngineConfig};

    /// A school `km` north of the seeker's spot.
    pub(in crate::evaluation) fn school_at(
        id: &str,
        km: f64,
        stage: Stage,
        medium: LanguageMedium,
        strengths: &[FocusArea],
    ) -> School {
        School {
            stage: Some(stage),
            language_medium: Some(medium),
            location: GeoPoint::new(51.5 + km / 111.195, -3.2),
            strengths: strengths.iter().copied().collect(),
            ..School::plain(id)
        }
    }

    /// An amber Welsh-medium seeker needing literacy and numeracy, partners
    /// 0.5–10 km north of it, and an amber English-medium school 50 km
    /// south.
    pub(in crate::evaluation) fn population() -> Engine {
        use FocusArea::*;
        use LanguageMedium::*;
        use Stage::*;
        let mut seeker = school_at("s", 0.0, Amber, Welsh, &[]);
        seeker.needs = [Literacy, Numeracy].into_iter().collect();
        let schools = vec![
            seeker,
            school_at("e", -50.0, Amber, English, &[]),
            school_at("p1", 1.0, Yellow, Welsh, &[Literacy]),
            school_at("p2", 2.0, Green, English, &[]),
            school_at("p3", 3.0, Amber, Welsh, &[Numeracy]),
            school_at("p4", 0.5, Red, Welsh, &[Literacy]),
            school_at("p5", 10.0, Yellow, Welsh, &[Governance]),
        ];
        Engine::with_schools(EngineConfig::default(), schools).expect("valid schools")
    }

    #[test]
    fn each_metric_counts_what_it_says() {
        let engine = population();
        let snapshot = engine.snapshot();
        let at = |id: &str| snapshot.index_of(id).expect("in the population");
        let placements = [
            Placement {
                seeker: at("s"),
                partners: vec![at("p1"), at("p2"), at("p5")],
            },
            Placement {
                seeker: at("e"),
                partners: vec![at("p1")],
            },
        ];
        let references = [
            Reference {
                seeker: at("s"),
                nearest_feasible: vec![at("p1"), at("p2"), at("p3")],
                welsh_medium_in_reach: Some(3),
                regular_visit_km: None,
            },
            Reference {
                seeker: at("e"),
                nearest_feasible: vec![at("p1"), at("p2"), at("p3")],
                welsh_medium_in_reach: None,
                regular_visit_km: None,
            },
        ];
        let m = measure(&snapshot, System::Match, 3, &placements, &references, None);
        assert_eq!((m.seekers, m.partners), (2, 4));
        // p1 and p5 are one ahead of amber, p2 two ahead.
        assert_eq!(m.similar_stage, Share { hits: 3, of: 4 });
        assert_eq!(m.similar_in_areas, Share::default(), "no grades anywhere");
        // Only the Welsh-medium seeker counts: p1 and p5 are Welsh-medium.
        assert_eq!(m.language_fit, Share { hits: 2, of: 3 });
        // Only s has needs: p1 covers literacy; p2 and p5 cover neither.
        assert_eq!(m.needs_covered, Share { hits: 1, of: 3 });
        assert_eq!(m.first_covers_need, Share { hits: 1, of: 1 });
        // s: 1 + 2 + 10 km against 1 + 2 + 3; e: 51 km against 51.
        let close = |a: f64, b: f64| (a - b).abs() < 1e-3;
        assert!(close(m.mean_km.unwrap(), 64.0 / 4.0), "{m:?}");
        assert!(close(m.travel_ratio.unwrap(), 64.0 / 57.0), "{m:?}");
        assert_eq!((m.busiest_supporter, m.distinct_supporters), (2, 3));
        assert_eq!(m.short, 1, "e has one partner of three");

        // Asking for four: s no longer has as many Welsh-medium partners
        // within reach, so language is not counted.
        let m = measure(&snapshot, System::Match, 4, &placements, &references, None);
        assert_eq!(m.language_fit, Share::default());
        assert_eq!(m.language_fit.ratio(), None);
        assert_eq!(m.short, 2);

        // The request's focus replaces the seekers' needs: governance is
        // covered by p5 only, and now e's partner counts too.
        let governance = Some([FocusArea::Governance].into_iter().collect());
        let m = measure(
            &snapshot,
            System::Match,
            3,
            &placements,
            &references,
            governance,
        );
        assert_eq!(m.needs_covered, Share { hits: 1, of: 4 });
        assert_eq!(m.first_covers_need, Share { hits: 0, of: 2 });
    }

    #[test]
    fn nothing_placed_measures_nothing() {
        let engine = population();
        let snapshot = engine.snapshot();
        let seeker = snapshot.index_of("s").expect("in the population");
        let m = measure(
            &snapshot,
            System::Broker,
            1,
            &[Placement {
                seeker,
                partners: vec![],
            }],
            &[Reference {
                seeker,
                nearest_feasible: vec![],
                welsh_medium_in_reach: Some(0),
                regular_visit_km: None,
            }],
            None,
        );
        assert_eq!((m.partners, m.short, m.busiest_supporter), (0, 1, 0));
        assert_eq!((m.mean_km, m.travel_ratio), (None, None));
        assert_eq!(m.similar_stage.ratio(), None);
    }

    #[test]
    fn similar_in_areas_compares_the_needs_either_school_has_grades_in() {
        use crate::domain::{Evaluation, EvaluationArea, EvaluationFramework, Judgement};
        use FocusArea::*;
        use LanguageMedium::English;
        use Stage::*;
        let achievement = |judgement| Evaluation {
            framework: EvaluationFramework::OfstedReportCard,
            area: EvaluationArea::Achievement,
            judgement,
            date: jiff::civil::date(2026, 6, 1),
            source: String::new(),
        };
        let mut seeker = school_at("s", 0.0, Amber, English, &[]);
        seeker.needs = [Literacy, Numeracy].into_iter().collect();
        seeker.evaluations = vec![achievement(Judgement::NeedsAttention)];
        let mut graded = school_at("graded", 1.0, Amber, English, &[Literacy]);
        graded.evaluations = vec![achievement(Judgement::ExpectedStandard)];
        let ungraded = school_at("ungraded", 2.0, Green, English, &[Literacy]);
        let config = EngineConfig {
            evidence: crate::engine::EvidenceConfig {
                as_of: Some(jiff::civil::date(2026, 11, 29)),
                ..Default::default()
            },
            ..EngineConfig::default()
        };
        let engine = Engine::with_schools(config, vec![seeker, graded, ungraded]).expect("valid");
        let snapshot = engine.snapshot();
        let at = |id: &str| snapshot.index_of(id).expect("in the population");
        let m = measure(
            &snapshot,
            System::Match,
            2,
            &[Placement {
                seeker: at("s"),
                partners: vec![at("graded"), at("ungraded")],
            }],
            &[Reference {
                seeker: at("s"),
                nearest_feasible: vec![at("graded"), at("ungraded")],
                welsh_medium_in_reach: None,
                regular_visit_km: None,
            }],
            None,
        );
        // Overall: amber and green are two apart; amber and amber similar.
        assert_eq!(m.similar_stage, Share { hits: 1, of: 2 });
        // By area: needs attention (2) against expected (3) in literacy and
        // numeracy, one ahead; against green (4) where only the seeker is
        // graded, two ahead.
        assert_eq!(m.similar_in_areas, Share { hits: 2, of: 4 });
    }
}
