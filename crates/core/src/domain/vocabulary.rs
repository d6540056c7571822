//! Closed sets of values: phase, stage, language medium, match mode and phase
//! relation. Each has a stable lower-case name used in CSV files, reasons and
//! family ids, and parses by the one rule of [`crate::closed_set!`].

crate::closed_set! {
    /// Phase of education a school provides.
    pub enum Phase {
        Nursery = "nursery",
        Primary = "primary",
        /// All-age schools (3–16, 3–19, 4–19).
        Middle = "middle",
        Secondary = "secondary",
        Special = "special",
        /// Pupil referral unit.
        Pru = "pru",
    }
}

crate::closed_set! {
    /// Improvement stage: the Welsh support category. Ordered from most
    /// support needed (`Red`) to able to lead others (`Green`). Ofsted
    /// judgements are accepted as aliases for English data.
    pub enum Stage {
        Red = "red" | "inadequate",
        Amber = "amber" | "requires_improvement",
        Yellow = "yellow" | "good",
        Green = "green" | "outstanding",
    }
}

impl Stage {
    /// 1 (red) to 4 (green).
    pub fn level(self) -> i32 {
        self as i32 + 1
    }

    /// How many partnerships a school at this stage can support by default
    /// (docs/domain.md). Unknown stage: 1.
    pub fn default_capacity(stage: Option<Stage>) -> u32 {
        match stage {
            Some(Stage::Green) => 3,
            Some(Stage::Yellow) => 2,
            Some(Stage::Amber) => 1,
            Some(Stage::Red) => 0,
            None => 1,
        }
    }
}

crate::closed_set! {
    /// Medium of instruction. The Welsh schools CSV writes `dual` for dual
    /// stream.
    pub enum LanguageMedium {
        English = "english",
        Welsh = "welsh",
        Bilingual = "bilingual",
        DualStream = "dual" | "dual_stream",
        Transitional = "transitional",
    }
}

impl LanguageMedium {
    /// Families of schools split English-medium from Welsh-medium schools;
    /// every medium with substantial Welsh counts as Welsh here.
    pub fn family_group(medium: Option<LanguageMedium>) -> &'static str {
        match medium {
            Some(LanguageMedium::English) => "en",
            Some(
                LanguageMedium::Welsh
                | LanguageMedium::Bilingual
                | LanguageMedium::DualStream
                | LanguageMedium::Transitional,
            ) => "cy",
            None => "na",
        }
    }

    /// Whether two schools share a language group (English-medium, or
    /// Welsh-medium and bilingual); an unknown medium never excludes.
    pub fn same_group(a: Option<LanguageMedium>, b: Option<LanguageMedium>) -> bool {
        a.is_none()
            || b.is_none()
            || LanguageMedium::family_group(a) == LanguageMedium::family_group(b)
    }
}

crate::closed_set! {
    /// What the seeker wants from a partnership.
    pub enum MatchMode {
        /// The seeker wants support from a partner ahead of it.
        Support = "support",
        /// The seeker is strong and wants a school to support.
        Lead = "lead",
        /// Similar stages, mutual benefit.
        Peer = "peer",
    }
}

crate::closed_set! {
    /// Which phases a partner may be in.
    #[derive(Default)]
    pub enum PhaseRelation {
        /// Horizontal: the same phase.
        #[default]
        SamePhase = "same_phase" | "same",
        /// Vertical: a different phase.
        CrossPhase = "cross_phase" | "cross",
        AnyPhase = "any_phase" | "any",
    }
}

impl PhaseRelation {
    pub fn admits(self, seeker: Phase, partner: Phase) -> bool {
        match self {
            PhaseRelation::SamePhase => seeker == partner,
            PhaseRelation::CrossPhase => seeker != partner,
            PhaseRelation::AnyPhase => true,
        }
    }
}

crate::closed_set! {
    /// Which trusts a partner may be in, relative to the seeker's.
    #[derive(Default)]
    pub enum TrustRelation {
        /// In any trust or in none.
        #[default]
        Any = "any",
        /// Only schools in the seeker's trust.
        SameTrust = "same_trust" | "same",
        /// Only schools outside the seeker's trust (in another or in none).
        OtherTrusts = "other_trusts" | "other",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for phase in Phase::ALL {
            assert_eq!(Phase::parse(phase.name()), Some(phase));
        }
        for stage in Stage::ALL {
            assert_eq!(Stage::parse(&stage.name().to_uppercase()), Some(stage));
        }
        for medium in LanguageMedium::ALL {
            assert_eq!(LanguageMedium::parse(medium.name()), Some(medium));
        }
        assert_eq!(Phase::parse("college"), None);
        assert_eq!(Stage::parse("Requires improvement"), Some(Stage::Amber));
        assert_eq!(Stage::parse("purple"), None);
        assert_eq!(
            LanguageMedium::parse("Dual stream"),
            Some(LanguageMedium::DualStream)
        );
        assert_eq!(Stage::Red.level(), 1);
        assert_eq!(Stage::Green.level(), 4);
    }

    #[test]
    fn default_capacity_follows_stage() {
        assert_eq!(Stage::default_capacity(Some(Stage::Green)), 3);
        assert_eq!(Stage::default_capacity(Some(Stage::Yellow)), 2);
        assert_eq!(Stage::default_capacity(Some(Stage::Amber)), 1);
        assert_eq!(Stage::default_capacity(Some(Stage::Red)), 0);
        assert_eq!(Stage::default_capacity(None), 1);
    }

    #[test]
    fn phase_relation_admits() {
        use Phase::*;
        assert!(PhaseRelation::SamePhase.admits(Primary, Primary));
        assert!(!PhaseRelation::SamePhase.admits(Primary, Secondary));
        assert!(PhaseRelation::CrossPhase.admits(Primary, Secondary));
        assert!(!PhaseRelation::CrossPhase.admits(Special, Special));
        assert!(PhaseRelation::AnyPhase.admits(Nursery, Pru));
    }
}
