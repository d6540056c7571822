//! Focus areas (docs/domain.md) and a compact set of them.

use std::fmt;

/// An area of practice: a strength (practice worthy of emulation) or a need
/// (improvement priority).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum FocusArea {
    DataAndTracking,
    Literacy,
    Numeracy,
    SubjectSupport,
    SelfEvaluation,
    TeachingAndAssessment,
    Curriculum,
    MiddleLeadership,
    SeniorLeadership,
    Wellbeing,
    Eal,
    WelshLanguage,
    FourteenToNineteen,
    FoundationPhase,
    ClosingFsmGap,
    Attendance,
    Behaviour,
    Aln,
    Governance,
    BusinessManagement,
    Transition,
}

impl FocusArea {
    /// Every focus area, in declaration order (the order of the proto enum).
    pub const ALL: [FocusArea; 21] = [
        FocusArea::DataAndTracking,
        FocusArea::Literacy,
        FocusArea::Numeracy,
        FocusArea::SubjectSupport,
        FocusArea::SelfEvaluation,
        FocusArea::TeachingAndAssessment,
        FocusArea::Curriculum,
        FocusArea::MiddleLeadership,
        FocusArea::SeniorLeadership,
        FocusArea::Wellbeing,
        FocusArea::Eal,
        FocusArea::WelshLanguage,
        FocusArea::FourteenToNineteen,
        FocusArea::FoundationPhase,
        FocusArea::ClosingFsmGap,
        FocusArea::Attendance,
        FocusArea::Behaviour,
        FocusArea::Aln,
        FocusArea::Governance,
        FocusArea::BusinessManagement,
        FocusArea::Transition,
    ];

    /// Machine name, as used in CSV files (`data_and_tracking`).
    pub fn key(self) -> &'static str {
        match self {
            FocusArea::DataAndTracking => "data_and_tracking",
            FocusArea::Literacy => "literacy",
            FocusArea::Numeracy => "numeracy",
            FocusArea::SubjectSupport => "subject_support",
            FocusArea::SelfEvaluation => "self_evaluation",
            FocusArea::TeachingAndAssessment => "teaching_and_assessment",
            FocusArea::Curriculum => "curriculum",
            FocusArea::MiddleLeadership => "middle_leadership",
            FocusArea::SeniorLeadership => "senior_leadership",
            FocusArea::Wellbeing => "wellbeing",
            FocusArea::Eal => "eal",
            FocusArea::WelshLanguage => "welsh_language",
            FocusArea::FourteenToNineteen => "fourteen_to_nineteen",
            FocusArea::FoundationPhase => "foundation_phase",
            FocusArea::ClosingFsmGap => "closing_fsm_gap",
            FocusArea::Attendance => "attendance",
            FocusArea::Behaviour => "behaviour",
            FocusArea::Aln => "aln",
            FocusArea::Governance => "governance",
            FocusArea::BusinessManagement => "business_management",
            FocusArea::Transition => "transition",
        }
    }

    /// Plain-English label for reasons ("data & tracking").
    pub fn label(self) -> &'static str {
        match self {
            FocusArea::DataAndTracking => "data & tracking",
            FocusArea::Literacy => "literacy",
            FocusArea::Numeracy => "numeracy",
            FocusArea::SubjectSupport => "subject support",
            FocusArea::SelfEvaluation => "self-evaluation & QA",
            FocusArea::TeachingAndAssessment => "teaching & assessment",
            FocusArea::Curriculum => "curriculum",
            FocusArea::MiddleLeadership => "middle leadership",
            FocusArea::SeniorLeadership => "senior leadership",
            FocusArea::Wellbeing => "wellbeing",
            FocusArea::Eal => "EAL",
            FocusArea::WelshLanguage => "Welsh language",
            FocusArea::FourteenToNineteen => "14–19 options",
            FocusArea::FoundationPhase => "Foundation Phase",
            FocusArea::ClosingFsmGap => "closing the FSM gap",
            FocusArea::Attendance => "attendance",
            FocusArea::Behaviour => "behaviour",
            FocusArea::Aln => "ALN/SEN",
            FocusArea::Governance => "governance",
            FocusArea::BusinessManagement => "business management",
            FocusArea::Transition => "transition",
        }
    }

    /// Parses a machine name; case, spaces and hyphens are forgiven.
    pub fn parse(text: &str) -> Option<FocusArea> {
        let normalised: String = text
            .trim()
            .chars()
            .map(|c| match c {
                ' ' | '-' => '_',
                c => c.to_ascii_lowercase(),
            })
            .collect();
        FocusArea::ALL
            .into_iter()
            .find(|area| area.key() == normalised)
    }

    fn bit(self) -> u32 {
        1 << (self as u32)
    }
}

impl fmt::Display for FocusArea {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// A set of focus areas as a bit mask: set operations in the scoring hot path
/// are single instructions and allocate nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FocusSet(u32);

impl FocusSet {
    pub const EMPTY: FocusSet = FocusSet(0);

    pub fn insert(&mut self, area: FocusArea) {
        self.0 |= area.bit();
    }

    pub fn contains(self, area: FocusArea) -> bool {
        self.0 & area.bit() != 0
    }

    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    pub fn len(self) -> u32 {
        self.0.count_ones()
    }

    pub fn intersection(self, other: FocusSet) -> FocusSet {
        FocusSet(self.0 & other.0)
    }

    pub fn union(self, other: FocusSet) -> FocusSet {
        FocusSet(self.0 | other.0)
    }

    /// The areas of `self` not in `other`.
    pub fn difference(self, other: FocusSet) -> FocusSet {
        FocusSet(self.0 & !other.0)
    }

    /// The first area in declaration order, if any.
    pub fn first(self) -> Option<FocusArea> {
        (self.0 != 0).then(|| FocusArea::ALL[self.0.trailing_zeros() as usize])
    }

    /// The areas in declaration order (one step per area present).
    pub fn iter(self) -> impl Iterator<Item = FocusArea> {
        let mut bits = self.0;
        std::iter::from_fn(move || {
            let area = FocusArea::ALL.get(bits.trailing_zeros() as usize)?;
            bits &= bits - 1;
            Some(*area)
        })
    }

    /// Comma-separated labels, for reasons.
    pub fn labels(self) -> String {
        self.iter()
            .map(FocusArea::label)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

impl FromIterator<FocusArea> for FocusSet {
    fn from_iter<I: IntoIterator<Item = FocusArea>>(iter: I) -> Self {
        let mut set = FocusSet::EMPTY;
        for area in iter {
            set.insert(area);
        }
        set
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_parse_back() {
        for area in FocusArea::ALL {
            assert_eq!(FocusArea::parse(area.key()), Some(area));
        }
        assert_eq!(
            FocusArea::parse(" Closing-FSM gap "),
            Some(FocusArea::ClosingFsmGap)
        );
        assert_eq!(FocusArea::parse("astrology"), None);
    }

    #[test]
    fn set_operations() {
        let a: FocusSet = [
            FocusArea::Literacy,
            FocusArea::Numeracy,
            FocusArea::Literacy,
        ]
        .into_iter()
        .collect();
        let b: FocusSet = [FocusArea::Numeracy, FocusArea::Wellbeing]
            .into_iter()
            .collect();
        assert_eq!(a.len(), 2);
        assert_eq!(
            a.intersection(b).iter().collect::<Vec<_>>(),
            [FocusArea::Numeracy]
        );
        assert_eq!(a.union(b).len(), 3);
        assert_eq!(b.first(), Some(FocusArea::Numeracy));
        assert_eq!(FocusSet::EMPTY.first(), None);
        assert_eq!(a.labels(), "literacy, numeracy");
        assert!(FocusSet::EMPTY.is_empty());
    }
}
