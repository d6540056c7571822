//! Focus areas (docs/domain.md) and a compact set of them.

crate::closed_set! {
    /// An area of practice: a strength (practice worthy of emulation) or a
    /// need (improvement priority). Declaration order is the proto enum's.
    /// Names are the machine names of CSV files (`data_and_tracking`).
    pub enum FocusArea {
        DataAndTracking = "data_and_tracking",
        Literacy = "literacy",
        Numeracy = "numeracy",
        SubjectSupport = "subject_support",
        SelfEvaluation = "self_evaluation",
        TeachingAndAssessment = "teaching_and_assessment",
        Curriculum = "curriculum",
        MiddleLeadership = "middle_leadership",
        SeniorLeadership = "senior_leadership",
        Wellbeing = "wellbeing",
        Eal = "eal",
        WelshLanguage = "welsh_language",
        FourteenToNineteen = "fourteen_to_nineteen",
        FoundationPhase = "foundation_phase",
        ClosingFsmGap = "closing_fsm_gap",
        Attendance = "attendance",
        Behaviour = "behaviour",
        Aln = "aln",
        Governance = "governance",
        BusinessManagement = "business_management",
        Transition = "transition",
    }
}

impl FocusArea {
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

    fn bit(self) -> u32 {
        1 << (self as u32)
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
            assert_eq!(FocusArea::parse(area.name()), Some(area));
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
