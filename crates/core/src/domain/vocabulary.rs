//! Closed sets of values: phase, stage, language medium, match mode and phase
//! relation. Each has a stable lower-case name used in CSV files, reasons and
//! family ids.

use std::fmt;

/// Phase of education a school provides.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Phase {
    Nursery,
    Primary,
    /// All-age schools (3–16, 3–19, 4–19).
    Middle,
    Secondary,
    Special,
    /// Pupil referral unit.
    Pru,
}

impl Phase {
    pub const ALL: [Phase; 6] = [
        Phase::Nursery,
        Phase::Primary,
        Phase::Middle,
        Phase::Secondary,
        Phase::Special,
        Phase::Pru,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Phase::Nursery => "nursery",
            Phase::Primary => "primary",
            Phase::Middle => "middle",
            Phase::Secondary => "secondary",
            Phase::Special => "special",
            Phase::Pru => "pru",
        }
    }

    /// Parses the lower-case name (as in the Welsh schools CSV).
    pub fn parse(text: &str) -> Option<Phase> {
        Phase::ALL
            .into_iter()
            .find(|phase| phase.name().eq_ignore_ascii_case(text.trim()))
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Improvement stage: the Welsh support category. Ordered from most support
/// needed (`Red`) to able to lead others (`Green`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stage {
    Red = 1,
    Amber = 2,
    Yellow = 3,
    Green = 4,
}

impl Stage {
    pub const ALL: [Stage; 4] = [Stage::Red, Stage::Amber, Stage::Yellow, Stage::Green];

    /// 1 (red) to 4 (green).
    pub fn level(self) -> i32 {
        self as i32
    }

    pub fn name(self) -> &'static str {
        match self {
            Stage::Red => "red",
            Stage::Amber => "amber",
            Stage::Yellow => "yellow",
            Stage::Green => "green",
        }
    }

    /// Parses a colour name; also accepts Ofsted judgements for English data.
    pub fn parse(text: &str) -> Option<Stage> {
        let text = text.trim();
        if let Some(stage) = Stage::ALL
            .into_iter()
            .find(|stage| stage.name().eq_ignore_ascii_case(text))
        {
            return Some(stage);
        }
        match text.to_ascii_lowercase().as_str() {
            "inadequate" => Some(Stage::Red),
            "requires improvement" => Some(Stage::Amber),
            "good" => Some(Stage::Yellow),
            "outstanding" => Some(Stage::Green),
            _ => None,
        }
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

impl fmt::Display for Stage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Medium of instruction.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum LanguageMedium {
    English,
    Welsh,
    Bilingual,
    DualStream,
    Transitional,
}

impl LanguageMedium {
    pub const ALL: [LanguageMedium; 5] = [
        LanguageMedium::English,
        LanguageMedium::Welsh,
        LanguageMedium::Bilingual,
        LanguageMedium::DualStream,
        LanguageMedium::Transitional,
    ];

    pub fn name(self) -> &'static str {
        match self {
            LanguageMedium::English => "english",
            LanguageMedium::Welsh => "welsh",
            LanguageMedium::Bilingual => "bilingual",
            LanguageMedium::DualStream => "dual",
            LanguageMedium::Transitional => "transitional",
        }
    }

    /// Parses the names used in the Welsh schools CSV (`dual` for dual
    /// stream; `dual_stream` is accepted too).
    pub fn parse(text: &str) -> Option<LanguageMedium> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("dual_stream") || text.eq_ignore_ascii_case("dual stream") {
            return Some(LanguageMedium::DualStream);
        }
        LanguageMedium::ALL
            .into_iter()
            .find(|medium| medium.name().eq_ignore_ascii_case(text))
    }

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
}

impl fmt::Display for LanguageMedium {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What the seeker wants from a partnership.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum MatchMode {
    /// The seeker wants support from a partner ahead of it.
    Support,
    /// The seeker is strong and wants a school to support.
    Lead,
    /// Similar stages, mutual benefit.
    Peer,
}

impl MatchMode {
    pub fn name(self) -> &'static str {
        match self {
            MatchMode::Support => "support",
            MatchMode::Lead => "lead",
            MatchMode::Peer => "peer",
        }
    }
}

/// Which phases a partner may be in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum PhaseRelation {
    /// Horizontal: the same phase.
    #[default]
    SamePhase,
    /// Vertical: a different phase.
    CrossPhase,
    AnyPhase,
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
