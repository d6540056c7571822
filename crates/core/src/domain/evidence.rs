//! Improvement evidence as it stands in 2026 (docs/domain.md, "Evidence"):
//! inspection and local judgements by framework and area, on one ordered
//! five-point scale, from which a school's stage, strengths and needs are
//! derived when it does not give them.
//!
//! - Ofsted report cards (England, from November 2025): each evaluation area
//!   on five grades; safeguarding met or not met; categories of concern.
//! - Ofsted's judgements before them: outstanding … inadequate, overall and
//!   key judgements.
//! - Estyn (Wales): the five inspection areas — judgements until 2022, none
//!   since — and follow-up (special measures, significant improvement,
//!   Estyn review).
//! - Wales's national categories (green … red, 2014–2019).
//! - A local authority's own judgement, on the five-point scale.

use jiff::civil::Date;

use super::{FocusArea, FocusSet, Stage, TextKind, Violations};

/// Bounds on evaluations.
pub mod limits {
    /// Evaluations one school may carry.
    pub const MAX_EVALUATIONS: usize = 64;
    pub const SOURCE_MAX_CHARS: usize = 200;
    /// Dates an evaluation may have: before 1990 or after 2199 is a typing
    /// slip.
    pub const DATES: (jiff::civil::Date, jiff::civil::Date) = (
        jiff::civil::date(1990, 1, 1),
        jiff::civil::date(2199, 12, 31),
    );
}

crate::closed_set! {
    /// Who judged.
    pub enum EvaluationFramework {
        OfstedReportCard = "ofsted_report_card" | "report_card",
        OfstedLegacy = "ofsted_legacy",
        Estyn = "estyn",
        WalesCategory = "wales_category",
        Local = "local",
    }
}

crate::closed_set! {
    /// What was judged: an evaluation area of a framework.
    pub enum EvaluationArea {
        /// The school as a whole (legacy overall effectiveness, a Welsh
        /// category, a local overall judgement).
        Overall = "overall" | "overall_effectiveness",
        // Ofsted report cards.
        Inclusion = "inclusion",
        CurriculumAndTeaching = "curriculum_and_teaching",
        Achievement = "achievement",
        AttendanceAndBehaviour = "attendance_and_behaviour",
        PersonalDevelopmentAndWellbeing = "personal_development_and_wellbeing",
        LeadershipAndGovernance = "leadership_and_governance",
        EarlyYears = "early_years",
        SixthForm = "sixth_form",
        Safeguarding = "safeguarding",
        /// Ofsted: special measures or serious weaknesses.
        CategoryOfConcern = "category_of_concern",
        // Ofsted's key judgements before report cards.
        QualityOfEducation = "quality_of_education",
        BehaviourAndAttitudes = "behaviour_and_attitudes",
        PersonalDevelopment = "personal_development",
        /// Ofsted's (legacy) and Estyn's fifth area.
        LeadershipAndManagement = "leadership_and_management",
        // Estyn's inspection areas.
        Learning = "learning",
        WellbeingAndAttitudesToLearning = "wellbeing_and_attitudes_to_learning",
        TeachingAndLearningExperiences = "teaching_and_learning_experiences",
        CareSupportAndGuidance = "care_support_and_guidance",
        /// Estyn: special measures, significant improvement, Estyn review.
        FollowUp = "follow_up",
    }
}

crate::closed_set! {
    /// The one ordered scale every framework maps to, weakest first (the
    /// report card's five grades).
    pub enum Grade {
        UrgentImprovement = "urgent_improvement",
        NeedsAttention = "needs_attention",
        ExpectedStandard = "expected_standard",
        StrongStandard = "strong_standard",
        Exceptional = "exceptional",
    }
}

impl Grade {
    /// 1 (urgent improvement) to 5 (exceptional).
    pub fn level(self) -> i32 {
        self as i32 + 1
    }

    /// Plain words for reasons.
    pub fn label(self) -> &'static str {
        match self {
            Grade::UrgentImprovement => "urgent improvement",
            Grade::NeedsAttention => "needs attention",
            Grade::ExpectedStandard => "expected standard",
            Grade::StrongStandard => "strong standard",
            Grade::Exceptional => "exceptional",
        }
    }
}

crate::closed_set! {
    /// A judgement as a framework words it. Each maps to the one scale
    /// ([`Judgement::grade`]) except safeguarding's met / not met.
    pub enum Judgement {
        // Report cards and local judgements.
        Exceptional = "exceptional",
        StrongStandard = "strong_standard" | "strong",
        ExpectedStandard = "expected_standard" | "expected",
        NeedsAttention = "needs_attention",
        UrgentImprovement = "urgent_improvement",
        // Ofsted before report cards.
        Outstanding = "outstanding",
        Good = "good",
        RequiresImprovement = "requires_improvement",
        Inadequate = "inadequate",
        // Estyn until 2022 (2017–2022 wording as aliases).
        Excellent = "excellent",
        Adequate = "adequate" | "adequate_and_needs_improvement",
        Unsatisfactory = "unsatisfactory" | "unsatisfactory_and_needs_urgent_improvement",
        // Wales's national categories.
        Green = "green",
        Yellow = "yellow",
        Amber = "amber",
        Red = "red",
        // Categories of concern and follow-up.
        SpecialMeasures = "special_measures",
        SeriousWeaknesses = "serious_weaknesses",
        SignificantImprovement = "significant_improvement",
        EstynReview = "estyn_review",
        // Safeguarding.
        Met = "met",
        NotMet = "not_met",
    }
}

impl Judgement {
    /// The report card's (and a local authority's) five words, weakest
    /// first: `FIVE_POINT[g.level() - 1]` words grade `g`.
    pub const FIVE_POINT: [Judgement; 5] = [
        Judgement::UrgentImprovement,
        Judgement::NeedsAttention,
        Judgement::ExpectedStandard,
        Judgement::StrongStandard,
        Judgement::Exceptional,
    ];

    /// The judgement on the one scale (docs/domain.md, the mapping table).
    /// Ofsted's and Estyn's old top grades map to strong standard, not
    /// exceptional: exceptional is the report card's new grade for practice
    /// others learn from, which no old grade singled out. Safeguarding has
    /// no grade.
    pub fn grade(self) -> Option<Grade> {
        use Judgement::*;
        Some(match self {
            Exceptional => Grade::Exceptional,
            StrongStandard | Outstanding | Excellent | Green => Grade::StrongStandard,
            ExpectedStandard | Good | Yellow => Grade::ExpectedStandard,
            NeedsAttention | RequiresImprovement | Adequate | Amber | EstynReview => {
                Grade::NeedsAttention
            }
            UrgentImprovement
            | Inadequate
            | Unsatisfactory
            | Red
            | SpecialMeasures
            | SeriousWeaknesses
            | SignificantImprovement => Grade::UrgentImprovement,
            Met | NotMet => return None,
        })
    }

    /// A category of concern or formal follow-up: the school is red whatever
    /// else is known.
    pub fn is_concern(self) -> bool {
        matches!(
            self,
            Judgement::SpecialMeasures
                | Judgement::SeriousWeaknesses
                | Judgement::SignificantImprovement
        )
    }
}

impl EvaluationFramework {
    /// The areas this framework judges.
    pub fn areas(self) -> &'static [EvaluationArea] {
        use EvaluationArea::*;
        match self {
            EvaluationFramework::OfstedReportCard => &[
                Inclusion,
                CurriculumAndTeaching,
                Achievement,
                AttendanceAndBehaviour,
                PersonalDevelopmentAndWellbeing,
                LeadershipAndGovernance,
                EarlyYears,
                SixthForm,
                Safeguarding,
                CategoryOfConcern,
            ],
            EvaluationFramework::OfstedLegacy => &[
                Overall,
                QualityOfEducation,
                BehaviourAndAttitudes,
                PersonalDevelopment,
                LeadershipAndManagement,
                EarlyYears,
                SixthForm,
                Safeguarding,
                CategoryOfConcern,
            ],
            EvaluationFramework::Estyn => &[
                Learning,
                WellbeingAndAttitudesToLearning,
                TeachingAndLearningExperiences,
                CareSupportAndGuidance,
                LeadershipAndManagement,
                FollowUp,
            ],
            EvaluationFramework::WalesCategory => &[Overall],
            EvaluationFramework::Local => &[
                Overall,
                Inclusion,
                CurriculumAndTeaching,
                Achievement,
                AttendanceAndBehaviour,
                PersonalDevelopmentAndWellbeing,
                LeadershipAndGovernance,
                EarlyYears,
                SixthForm,
            ],
        }
    }

    /// The judgements this framework gives in `area`.
    pub fn judgements(self, area: EvaluationArea) -> &'static [Judgement] {
        use Judgement::*;
        match (self, area) {
            (_, EvaluationArea::Safeguarding) => &[Met, NotMet],
            (_, EvaluationArea::CategoryOfConcern) => &[SpecialMeasures, SeriousWeaknesses],
            (_, EvaluationArea::FollowUp) => {
                &[SpecialMeasures, SignificantImprovement, EstynReview]
            }
            (EvaluationFramework::OfstedReportCard | EvaluationFramework::Local, _) => {
                &Judgement::FIVE_POINT
            }
            (EvaluationFramework::OfstedLegacy, _) => {
                &[Outstanding, Good, RequiresImprovement, Inadequate]
            }
            (EvaluationFramework::Estyn, _) => &[Excellent, Good, Adequate, Unsatisfactory],
            (EvaluationFramework::WalesCategory, _) => &[Green, Yellow, Amber, Red],
        }
    }
}

impl EvaluationArea {
    /// The focus areas a grade in this area speaks for (docs/domain.md, the
    /// mapping table): a strong grade makes them strengths, a weak one
    /// needs.
    pub fn focus_areas(self) -> &'static [FocusArea] {
        use EvaluationArea::*;
        use FocusArea as F;
        match self {
            Inclusion => &[F::Aln, F::ClosingFsmGap],
            CurriculumAndTeaching | QualityOfEducation | TeachingAndLearningExperiences => {
                &[F::Curriculum, F::TeachingAndAssessment]
            }
            Achievement => &[F::Literacy, F::Numeracy, F::DataAndTracking],
            Learning => &[F::Literacy, F::Numeracy],
            AttendanceAndBehaviour | BehaviourAndAttitudes => &[F::Attendance, F::Behaviour],
            PersonalDevelopmentAndWellbeing | PersonalDevelopment => &[F::Wellbeing],
            WellbeingAndAttitudesToLearning => &[F::Wellbeing, F::Attendance, F::Behaviour],
            CareSupportAndGuidance => &[F::Aln, F::Wellbeing],
            LeadershipAndGovernance | LeadershipAndManagement => {
                &[F::SeniorLeadership, F::Governance, F::SelfEvaluation]
            }
            EarlyYears => &[F::FoundationPhase],
            SixthForm => &[F::FourteenToNineteen],
            Overall | Safeguarding | CategoryOfConcern | FollowUp => &[],
        }
    }

    /// Leadership, which the stage rule weighs first.
    pub fn is_leadership(self) -> bool {
        matches!(
            self,
            EvaluationArea::LeadershipAndGovernance | EvaluationArea::LeadershipAndManagement
        )
    }

    /// Plain words for reasons.
    pub fn label(self) -> String {
        self.name().replace('_', " ")
    }
}

/// One judgement of one area of a school, by one framework, on one date.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Evaluation {
    pub framework: EvaluationFramework,
    pub area: EvaluationArea,
    pub judgement: Judgement,
    /// When the judgement was made (the inspection's last day, the
    /// category's publication).
    pub date: Date,
    /// Where it comes from: a report's URL or reference, free text.
    pub source: String,
}

impl Evaluation {
    /// Whether the framework judges the area with that word, and the text
    /// rules; field paths under `prefix` (e.g. `evaluations[2]`).
    pub fn validate_into(&self, v: &mut Violations, prefix: &str) {
        if !self.framework.areas().contains(&self.area) {
            v.push(
                format!("{prefix}.area"),
                format!(
                    "{} does not judge {}; its areas: {}",
                    self.framework,
                    self.area,
                    names(self.framework.areas())
                ),
            );
        } else if !self
            .framework
            .judgements(self.area)
            .contains(&self.judgement)
        {
            v.push(
                format!("{prefix}.judgement"),
                format!(
                    "{} does not give {:?} in {}; it gives: {}",
                    self.framework,
                    self.judgement.name(),
                    self.area,
                    names(self.framework.judgements(self.area))
                ),
            );
        }
        v.check_date_range(&format!("{prefix}.date"), self.date, limits::DATES);
        v.check_text(
            &format!("{prefix}.source"),
            &self.source,
            0,
            limits::SOURCE_MAX_CHARS,
            TextKind::Line,
        );
    }

    /// Whether `other` is a judgement of the same framework, area and date
    /// (one of the two replaces the other).
    pub fn same_judging(&self, other: &Evaluation) -> bool {
        self.framework == other.framework && self.area == other.area && self.date == other.date
    }

    /// The judgement on the one scale.
    pub fn grade(&self) -> Option<Grade> {
        self.judgement.grade()
    }
}

/// The most recent graded evaluation of an area that speaks for `focus`
/// dated strictly after `after` and strictly before `before` (either bound
/// optional), current or not: evidence of impact, not used in scoring.
pub fn latest_grade_between(
    evaluations: &[Evaluation],
    focus: FocusArea,
    after: Option<Date>,
    before: Option<Date>,
) -> Option<&Evaluation> {
    evaluations
        .iter()
        .filter(|e| e.grade().is_some() && e.area.focus_areas().contains(&focus))
        .filter(|e| after.is_none_or(|after| e.date > after))
        .filter(|e| before.is_none_or(|before| e.date < before))
        .max_by(|a, b| a.date.cmp(&b.date).then_with(|| b.cmp(a)))
}

fn names<T: super::ClosedSet>(values: &[T]) -> String {
    values
        .iter()
        .map(|value| value.name())
        .collect::<Vec<_>>()
        .join(", ")
}

/// Every evaluation of a school, checked; field paths `evaluations[i]…`.
pub fn validate_evaluations(evaluations: &[Evaluation]) -> Violations {
    let mut v = Violations::new();
    v.check_count(
        "evaluations",
        "evaluations",
        evaluations.len(),
        limits::MAX_EVALUATIONS,
    );
    for (i, evaluation) in evaluations.iter().enumerate() {
        evaluation.validate_into(&mut v, &format!("evaluations[{i}]"));
        // One framework judges an area once on a date: two judgements
        // would leave which counts to the order they came in.
        if let Some(first) = evaluations[..i]
            .iter()
            .position(|e| e.same_judging(evaluation))
        {
            v.push(
                format!("evaluations[{i}]"),
                format!(
                    "repeats evaluations[{first}]: {} judges {} once on {}; give one judgement",
                    evaluation.framework, evaluation.area, evaluation.date
                ),
            );
        }
    }
    v
}

/// The latest date an evaluation may carry when evidence is judged at
/// `as_of`: the day after, for clocks in other time zones.
pub fn latest_evaluation_date(as_of: Date) -> Date {
    as_of.tomorrow().unwrap_or(as_of)
}

/// Evaluations dated after `latest` ([`latest_evaluation_date`]), as
/// violations of `evaluations[i].date`: a judgement from the future would
/// count as the latest evidence for ever.
pub fn future_evaluations(evaluations: &[Evaluation], latest: Date) -> Violations {
    let mut v = Violations::new();
    for (i, evaluation) in evaluations.iter().enumerate() {
        if evaluation.date > latest {
            v.push(
                format!("evaluations[{i}].date"),
                format!(
                    "{} is in the future: the latest date accepted is {latest}, the day after the server's evidence date",
                    evaluation.date
                ),
            );
        }
    }
    v
}

/// How evidence becomes a stage, strengths and needs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EvidenceRules {
    /// The date evidence is judged at (the server's start by default).
    pub as_of: Date,
    /// Evidence older than this counts as unknown.
    pub max_age_years: i16,
    /// The stage rule's bar for green by area grades: leadership strong or
    /// better and at least this share of the graded areas too.
    pub green_share: f64,
}

impl EvidenceRules {
    pub const DEFAULT_MAX_AGE_YEARS: i16 = 4;
    pub const DEFAULT_GREEN_SHARE: f64 = 0.5;

    /// Whether evidence of `date` is too old to count.
    pub fn is_stale(&self, date: Date) -> bool {
        self.as_of
            .checked_sub(jiff::Span::new().years(self.max_age_years))
            .is_ok_and(|limit| date < limit)
    }
}

/// Where a derived value comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Derivation<T> {
    /// The school gave it; evidence, if any, is not used.
    Given(T),
    /// Derived from evidence, with the reason.
    Derived(T, String),
    /// Unknown, with the reason (no evidence, or only stale evidence).
    Unknown(String),
}

impl<T: Copy> Derivation<T> {
    pub fn value(&self) -> Option<T> {
        match self {
            Derivation::Given(value) | Derivation::Derived(value, _) => Some(*value),
            Derivation::Unknown(_) => None,
        }
    }
}

/// What a school's evidence says, as of a date.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Evidence {
    pub stage: Derivation<Stage>,
    pub strengths: Derivation<FocusSet>,
    pub needs: Derivation<FocusSet>,
    /// The latest safeguarding judgement, however old, is "not met": never
    /// proposed to support or lead. It stands until a later judgement
    /// finds safeguarding met.
    pub safeguarding_not_met: bool,
    /// Which judgement that is, and its date (empty when met or unknown).
    pub safeguarding_reason: String,
    /// Each focus area's grade from the most recent current evaluation of an
    /// area that speaks for it, with that evaluation's position in the
    /// school's evaluations.
    pub area_grades: Vec<(FocusArea, Grade, usize)>,
    /// For each evaluation, in order: too old to be used.
    pub stale: Vec<bool>,
}

impl Evidence {
    /// The current grade of a focus area, if any evaluation speaks for it.
    pub fn grade(&self, focus: FocusArea) -> Option<Grade> {
        self.area_grades
            .iter()
            .find(|(area, _, _)| *area == focus)
            .map(|(_, grade, _)| *grade)
    }
}

/// Derives a school's stage, strengths and needs from its evaluations under
/// `rules`; a given stage, strengths or needs wins (docs/domain.md, the
/// stage rule).
pub fn derive(
    evaluations: &[Evaluation],
    given_stage: Option<Stage>,
    given_strengths: FocusSet,
    given_needs: FocusSet,
    rules: &EvidenceRules,
) -> Evidence {
    let stale: Vec<bool> = evaluations
        .iter()
        .map(|evaluation| rules.is_stale(evaluation.date))
        .collect();
    // Described only when a reason needs them: most writes never do.
    let stale_evidence = StaleEvidence {
        evaluations: evaluations
            .iter()
            .zip(&stale)
            .filter(|(_, stale)| **stale)
            .map(|(e, _)| e)
            .collect(),
        max_age_years: rules.max_age_years,
    };
    let mut positioned: Vec<(usize, &Evaluation)> = evaluations
        .iter()
        .enumerate()
        .filter(|(position, _)| !stale[*position])
        .collect();
    // Most recent first; on one date, the framework and area order.
    positioned.sort_by(|(_, a), (_, b)| b.date.cmp(&a.date).then_with(|| a.cmp(b)));
    let current: Vec<&Evaluation> = positioned.iter().map(|(_, e)| *e).collect();

    // Safeguarding not met stands until a later judgement says it is met,
    // however old: the age horizon is for grades, not for this.
    let latest_safeguarding = evaluations
        .iter()
        .enumerate()
        .filter(|(_, e)| e.area == EvaluationArea::Safeguarding)
        .max_by(|(_, a), (_, b)| a.date.cmp(&b.date).then_with(|| b.cmp(a)));
    let (safeguarding_not_met, safeguarding_reason) = match latest_safeguarding {
        Some((position, e)) if e.judgement == Judgement::NotMet => (
            true,
            format!(
                "{} safeguarding not_met {}: it stands until a later judgement finds safeguarding met{}",
                e.framework,
                e.date,
                if stale[position] {
                    format!(", though older than {} years", rules.max_age_years)
                } else {
                    String::new()
                }
            ),
        ),
        _ => (false, String::new()),
    };

    let mut area_grades: Vec<(FocusArea, Grade, usize)> = Vec::new();
    for &(position, evaluation) in &positioned {
        let Some(grade) = evaluation.grade() else {
            continue;
        };
        for &focus in evaluation.area.focus_areas() {
            if !area_grades.iter().any(|(area, _, _)| *area == focus) {
                area_grades.push((focus, grade, position));
            }
        }
    }
    area_grades.sort_by_key(|(area, _, _)| *area);

    let stage = match given_stage {
        Some(stage) => Derivation::Given(stage),
        None => derive_stage(&current, &stale_evidence, rules.green_share),
    };
    let collect = |wanted: fn(Grade) -> bool| {
        area_grades
            .iter()
            .filter(|(_, grade, _)| wanted(*grade))
            .map(|(area, _, _)| *area)
            .collect::<FocusSet>()
    };
    let by_grade = |given: FocusSet, set: FocusSet, what: &str| {
        if !given.is_empty() {
            Derivation::Given(given)
        } else if area_grades.is_empty() && current.is_empty() {
            Derivation::Unknown(stale_evidence.unknown_reason())
        } else if area_grades.is_empty() {
            Derivation::Unknown("no current grade of an area that speaks for focus areas".into())
        } else {
            Derivation::Derived(
                set,
                format!("areas graded {what} in the most recent current evidence"),
            )
        }
    };
    Evidence {
        strengths: by_grade(
            given_strengths,
            collect(|grade| grade >= Grade::StrongStandard),
            "strong standard or better",
        ),
        needs: by_grade(
            given_needs,
            collect(|grade| grade <= Grade::NeedsAttention),
            "needs attention or worse",
        ),
        stage,
        safeguarding_not_met,
        safeguarding_reason,
        area_grades,
        stale,
    }
}

/// A school's evaluations too old to count.
struct StaleEvidence<'a> {
    evaluations: Vec<&'a Evaluation>,
    max_age_years: i16,
}

impl StaleEvidence<'_> {
    /// Why a value is unknown: no evidence, or only evidence too old (the
    /// first named, with its date and the age limit).
    fn unknown_reason(&self) -> String {
        let Some(first) = self.evaluations.first() else {
            return "no evidence".to_owned();
        };
        let first = format!(
            "{} {} {} {}: older than {} years",
            first.framework, first.area, first.judgement, first.date, self.max_age_years
        );
        match self.evaluations.len() {
            1 => format!("no current evidence ({first})"),
            count => format!("no current evidence ({first}, and {} more)", count - 1),
        }
    }
}

/// The stage rule, on the most recent current evidence (every evaluation
/// of the latest date: one inspection; older ones are superseded):
/// 1. a category of concern or formal follow-up, or urgent improvement in
///    any area ⇒ red;
/// 2. otherwise an overall judgement maps by grade (strong or better green,
///    expected yellow, needs attention amber);
/// 3. otherwise the area grades: any needing attention ⇒ amber; leadership
///    strong or better and at least half the areas (`green_share`) strong or
///    better ⇒ green; else yellow.
fn derive_stage(
    current: &[&Evaluation],
    stale: &StaleEvidence<'_>,
    green_share: f64,
) -> Derivation<Stage> {
    let describe =
        |e: &Evaluation| format!("{} {} {} {}", e.framework, e.area, e.judgement, e.date);
    let Some(latest) = current.first() else {
        // A category of concern stands until a later inspection lifts it,
        // however old: the latest inspection of all decides that.
        let last = stale.evaluations.iter().map(|e| e.date).max();
        let concern = stale
            .evaluations
            .iter()
            .filter(|e| Some(e.date) == last)
            .find(|e| e.judgement.is_concern() || e.grade() == Some(Grade::UrgentImprovement));
        return match concern {
            Some(concern) => Derivation::Derived(
                Stage::Red,
                format!(
                    "{}: a cause for concern, which stands until a later inspection lifts it, though older than {} years",
                    describe(concern),
                    stale.max_age_years
                ),
            ),
            None => Derivation::Unknown(stale.unknown_reason()),
        };
    };
    let inspection: Vec<&&Evaluation> = current.iter().filter(|e| e.date == latest.date).collect();
    if let Some(concern) = inspection
        .iter()
        .find(|e| e.judgement.is_concern() || e.grade() == Some(Grade::UrgentImprovement))
    {
        return Derivation::Derived(
            Stage::Red,
            format!("{}: a cause for concern", describe(concern)),
        );
    }
    let stage_of = |grade: Grade| match grade {
        Grade::Exceptional | Grade::StrongStandard => Stage::Green,
        Grade::ExpectedStandard => Stage::Yellow,
        Grade::NeedsAttention => Stage::Amber,
        Grade::UrgentImprovement => Stage::Red,
    };
    if let Some(overall) = inspection
        .iter()
        .find(|e| e.area == EvaluationArea::Overall)
        .and_then(|e| e.grade().map(|grade| (e, grade)))
    {
        return Derivation::Derived(stage_of(overall.1), describe(overall.0));
    }
    let graded: Vec<(&Evaluation, Grade)> = inspection
        .iter()
        .filter_map(|e| e.grade().map(|grade| (**e, grade)))
        .collect();
    if graded.is_empty() {
        return Derivation::Unknown(format!(
            "{} {} {}: no graded area",
            latest.framework, latest.judgement, latest.date
        ));
    }
    let summary = format!(
        "{} {}: {} areas graded",
        latest.framework,
        latest.date,
        graded.len()
    );
    if let Some((weak, _)) = graded
        .iter()
        .find(|(_, grade)| *grade <= Grade::NeedsAttention)
    {
        return Derivation::Derived(
            Stage::Amber,
            format!("{summary}; {} needs attention", weak.area.label()),
        );
    }
    let strong = graded
        .iter()
        .filter(|(_, grade)| *grade >= Grade::StrongStandard)
        .count();
    let leadership_strong = graded
        .iter()
        .any(|(e, grade)| e.area.is_leadership() && *grade >= Grade::StrongStandard);
    if leadership_strong && strong as f64 >= green_share * graded.len() as f64 {
        Derivation::Derived(
            Stage::Green,
            format!("{summary}; leadership and {strong} areas strong or better"),
        )
    } else {
        Derivation::Derived(
            Stage::Yellow,
            format!("{summary}; all at the expected standard or better"),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use EvaluationArea as A;
    use EvaluationFramework as F;
    use Judgement as J;

    fn at(framework: F, area: A, judgement: J, date: Date) -> Evaluation {
        Evaluation {
            framework,
            area,
            judgement,
            date,
            source: String::new(),
        }
    }

    const AS_OF: Date = jiff::civil::date(2026, 11, 29);
    const RULES: EvidenceRules = EvidenceRules {
        as_of: AS_OF,
        max_age_years: 4,
        green_share: EvidenceRules::DEFAULT_GREEN_SHARE,
    };

    #[test]
    fn one_judgement_a_framework_area_and_date_and_none_from_the_future() {
        let date = jiff::civil::date(2024, 2, 2);
        let twice = [
            at(F::OfstedLegacy, A::Overall, J::Good, date),
            at(F::OfstedLegacy, A::Safeguarding, J::Met, date),
            at(F::OfstedLegacy, A::Overall, J::Inadequate, date),
        ];
        let v = validate_evaluations(&twice);
        let fields: Vec<&str> = v.iter().map(|v| v.field.as_str()).collect();
        assert_eq!(fields, ["evaluations[2]"]);
        assert!(v.to_string().contains("repeats evaluations[0]"), "{v}");
        let later = [at(
            F::OfstedLegacy,
            A::Overall,
            J::Good,
            date.tomorrow().unwrap(),
        )];
        assert!(validate_evaluations(&[twice[0].clone(), later[0].clone()]).is_empty());

        let latest = latest_evaluation_date(AS_OF);
        assert_eq!(
            latest,
            jiff::civil::date(2026, 11, 30),
            "a day for time zones"
        );
        let dated = |date| [at(F::OfstedLegacy, A::Overall, J::Good, date)];
        assert!(future_evaluations(&dated(latest), latest).is_empty());
        let v = future_evaluations(&dated(jiff::civil::date(2199, 12, 31)), latest);
        assert_eq!(v.iter().next().unwrap().field, "evaluations[0].date");
    }

    fn derive_plain(evaluations: &[Evaluation]) -> Evidence {
        derive(evaluations, None, FocusSet::EMPTY, FocusSet::EMPTY, &RULES)
    }

    fn areas(list: &[FocusArea]) -> FocusSet {
        list.iter().copied().collect()
    }

    #[test]
    fn every_judgement_a_framework_gives_maps_to_the_one_scale() {
        for framework in F::ALL {
            for &area in framework.areas() {
                for &judgement in framework.judgements(area) {
                    let graded = judgement.grade().is_some();
                    assert_eq!(
                        graded,
                        area != A::Safeguarding,
                        "{framework} {area} {judgement}"
                    );
                }
            }
        }
        assert_eq!(J::Outstanding.grade(), Some(Grade::StrongStandard));
        assert_eq!(J::Good.grade(), Some(Grade::ExpectedStandard));
        assert_eq!(J::RequiresImprovement.grade(), Some(Grade::NeedsAttention));
        assert_eq!(J::Inadequate.grade(), Some(Grade::UrgentImprovement));
        assert_eq!(J::Green.grade(), Some(Grade::StrongStandard));
        assert_eq!(J::Amber.grade(), Some(Grade::NeedsAttention));
        assert_eq!(J::EstynReview.grade(), Some(Grade::NeedsAttention));
        assert_eq!(
            J::parse("Requires improvement"),
            Some(J::RequiresImprovement)
        );
        assert_eq!(J::parse("strong"), Some(J::StrongStandard));
    }

    #[test]
    fn an_area_or_judgement_its_framework_does_not_give_is_refused_by_name() {
        let date = jiff::civil::date(2025, 12, 1);
        let v = validate_evaluations(&[
            at(F::OfstedReportCard, A::Inclusion, J::Exceptional, date),
            at(F::Estyn, A::Inclusion, J::Good, date),
            at(F::OfstedLegacy, A::Overall, J::StrongStandard, date),
            at(F::OfstedReportCard, A::Safeguarding, J::Good, date),
        ]);
        let text = v.to_string();
        assert_eq!(v.iter().count(), 3, "{text}");
        assert!(
            text.contains("evaluations[1].area: estyn does not judge inclusion"),
            "{text}"
        );
        assert!(
            text.contains("evaluations[2].judgement: ofsted_legacy does not give \"strong_standard\" in overall; it gives: outstanding, good, requires_improvement, inadequate"),
            "{text}"
        );
        assert!(text.contains("evaluations[3].judgement"), "{text}");
    }

    #[test]
    fn a_date_outside_1990_to_2199_is_refused_as_a_typing_slip() {
        let on = |year, month, day| {
            at(
                F::Local,
                A::Overall,
                J::ExpectedStandard,
                jiff::civil::date(year, month, day),
            )
        };
        let v = validate_evaluations(&[
            on(1989, 12, 31),
            on(1990, 1, 1),
            on(2199, 12, 31),
            on(2200, 1, 1),
        ]);
        let text = v.to_string();
        assert_eq!(v.iter().count(), 2, "{text}");
        assert!(
            text.contains(
                "evaluations[0].date: must be between 1990-01-01 and 2199-12-31, got 1989-12-31"
            ),
            "{text}"
        );
        assert!(text.contains("evaluations[3].date"), "{text}");
    }

    #[test]
    fn report_card_grades_give_the_stage_strengths_and_needs() {
        let date = jiff::civil::date(2026, 3, 10);
        let card = |grades: &[(A, J)]| -> Vec<Evaluation> {
            grades
                .iter()
                .map(|&(area, judgement)| at(F::OfstedReportCard, area, judgement, date))
                .collect()
        };
        let strong = derive_plain(&card(&[
            (A::LeadershipAndGovernance, J::StrongStandard),
            (A::AttendanceAndBehaviour, J::Exceptional),
            (A::Achievement, J::ExpectedStandard),
            (A::Safeguarding, J::Met),
        ]));
        assert_eq!(strong.stage.value(), Some(Stage::Green));
        assert_eq!(
            strong.strengths.value(),
            Some(areas(&[
                FocusArea::Attendance,
                FocusArea::Behaviour,
                FocusArea::SeniorLeadership,
                FocusArea::Governance,
                FocusArea::SelfEvaluation,
            ]))
        );
        assert_eq!(strong.needs.value(), Some(FocusSet::EMPTY));
        assert!(!strong.safeguarding_not_met);
        // A stricter bar for green: every graded area strong or better.
        let strict = EvidenceRules {
            green_share: 1.0,
            ..RULES
        };
        let stricter = derive(
            &card(&[
                (A::LeadershipAndGovernance, J::StrongStandard),
                (A::AttendanceAndBehaviour, J::Exceptional),
                (A::Achievement, J::ExpectedStandard),
            ]),
            None,
            FocusSet::EMPTY,
            FocusSet::EMPTY,
            &strict,
        );
        assert_eq!(stricter.stage.value(), Some(Stage::Yellow));

        let expected = derive_plain(&card(&[
            (A::LeadershipAndGovernance, J::ExpectedStandard),
            (A::Inclusion, J::StrongStandard),
        ]));
        assert_eq!(expected.stage.value(), Some(Stage::Yellow));

        let weak = derive_plain(&card(&[
            (A::LeadershipAndGovernance, J::StrongStandard),
            (A::Achievement, J::NeedsAttention),
        ]));
        assert_eq!(weak.stage.value(), Some(Stage::Amber));
        let Derivation::Derived(_, reason) = &weak.stage else {
            panic!("derived");
        };
        assert!(reason.contains("achievement needs attention"), "{reason}");
        assert_eq!(
            weak.needs.value(),
            Some(areas(&[
                FocusArea::DataAndTracking,
                FocusArea::Literacy,
                FocusArea::Numeracy
            ]))
        );

        let urgent = derive_plain(&card(&[
            (A::LeadershipAndGovernance, J::UrgentImprovement),
            (A::Safeguarding, J::NotMet),
        ]));
        assert_eq!(urgent.stage.value(), Some(Stage::Red));
        assert!(urgent.safeguarding_not_met);
    }

    #[test]
    fn a_concern_is_red_and_an_overall_judgement_decides_otherwise() {
        let legacy = at(
            F::OfstedLegacy,
            A::Overall,
            J::Good,
            jiff::civil::date(2024, 5, 14),
        );
        assert_eq!(
            derive_plain(std::slice::from_ref(&legacy)).stage.value(),
            Some(Stage::Yellow)
        );
        let concern = at(
            F::Estyn,
            A::FollowUp,
            J::SpecialMeasures,
            jiff::civil::date(2023, 6, 1),
        );
        let concern = Evaluation {
            date: jiff::civil::date(2025, 6, 1),
            ..concern
        };
        let evidence = derive_plain(&[legacy, concern]);
        assert_eq!(evidence.stage.value(), Some(Stage::Red));
    }

    /// Safeguarding not met and a category of concern are not forgotten
    /// with age: they stand until a later judgement of their kind.
    #[test]
    fn safeguarding_not_met_and_concerns_stand_until_a_later_judgement() {
        let old = jiff::civil::date(2022, 10, 12);
        let special_measures = [
            at(
                F::OfstedLegacy,
                A::CategoryOfConcern,
                J::SpecialMeasures,
                old,
            ),
            at(F::OfstedLegacy, A::Safeguarding, J::NotMet, old),
        ];
        let evidence = derive_plain(&special_measures);
        assert_eq!(evidence.stale, [true, true], "past the 4-year horizon");
        assert!(evidence.safeguarding_not_met);
        assert!(
            evidence.safeguarding_reason.contains("not_met 2022-10-12")
                && evidence.safeguarding_reason.contains("older than 4 years"),
            "{}",
            evidence.safeguarding_reason
        );
        assert_eq!(evidence.stage.value(), Some(Stage::Red));
        let Derivation::Derived(_, reason) = &evidence.stage else {
            panic!("{:?}", evidence.stage)
        };
        assert!(
            reason.contains("special_measures 2022-10-12")
                && reason.contains("until a later inspection lifts it"),
            "{reason}"
        );
        // A later inspection, itself past the horizon, lifts both.
        let later = jiff::civil::date(2022, 11, 1);
        let lifted = [
            special_measures[0].clone(),
            special_measures[1].clone(),
            at(F::OfstedLegacy, A::Overall, J::RequiresImprovement, later),
            at(F::OfstedLegacy, A::Safeguarding, J::Met, later),
        ];
        let evidence = derive_plain(&lifted);
        assert!(!evidence.safeguarding_not_met);
        assert_eq!(evidence.safeguarding_reason, "");
        assert_eq!(evidence.stage.value(), None, "unknown: only old grades");
        // Current evidence that says nothing of safeguarding leaves the
        // old judgement standing.
        let current = [
            special_measures[1].clone(),
            at(
                F::OfstedLegacy,
                A::Overall,
                J::Good,
                jiff::civil::date(2025, 3, 3),
            ),
        ];
        let evidence = derive_plain(&current);
        assert!(evidence.safeguarding_not_met);
        assert_eq!(evidence.stage.value(), Some(Stage::Yellow));
    }

    #[test]
    fn stale_evidence_is_unknown_and_says_why_and_given_values_win() {
        let category = at(
            F::WalesCategory,
            A::Overall,
            J::Amber,
            jiff::civil::date(2019, 1, 31),
        );
        let stale = derive_plain(std::slice::from_ref(&category));
        assert_eq!(stale.stale, [true]);
        let Derivation::Unknown(reason) = &stale.stage else {
            panic!("unknown: {:?}", stale.stage);
        };
        assert_eq!(
            reason,
            "no current evidence (wales_category overall amber 2019-01-31: older than 4 years)"
        );
        let longer = EvidenceRules {
            max_age_years: 10,
            ..RULES
        };
        let kept = derive(
            std::slice::from_ref(&category),
            None,
            FocusSet::EMPTY,
            FocusSet::EMPTY,
            &longer,
        );
        assert_eq!(kept.stage.value(), Some(Stage::Amber));
        assert_eq!(kept.stale, [false]);

        let given = derive(
            &[category],
            Some(Stage::Green),
            areas(&[FocusArea::Numeracy]),
            FocusSet::EMPTY,
            &longer,
        );
        assert_eq!(given.stage, Derivation::Given(Stage::Green));
        assert_eq!(
            given.strengths,
            Derivation::Given(areas(&[FocusArea::Numeracy]))
        );
    }

    #[test]
    fn the_most_recent_grade_of_an_area_counts() {
        let older = at(
            F::OfstedLegacy,
            A::BehaviourAndAttitudes,
            J::Inadequate,
            jiff::civil::date(2023, 1, 10),
        );
        let newer = at(
            F::OfstedReportCard,
            A::AttendanceAndBehaviour,
            J::StrongStandard,
            jiff::civil::date(2026, 2, 3),
        );
        let evidence = derive_plain(&[older, newer]);
        let attendance = evidence
            .area_grades
            .iter()
            .find(|(area, _, _)| *area == FocusArea::Attendance)
            .unwrap();
        assert_eq!(
            (attendance.1, attendance.2),
            (Grade::StrongStandard, 1),
            "the newer, second evaluation"
        );
        // The newer inspection supersedes the older one for the stage.
        assert_eq!(evidence.stage.value(), Some(Stage::Yellow));
    }
}
